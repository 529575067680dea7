"""Solutions to the exercises of lesson 08, "Broker quotas".

Exercise (≈ 10 min): how long does the broker hold a client back?
    Write ``throttle_time_ms(observed_rate, quota, window_s=11.0)``: the throttle time a Kafka broker hands a
    client whose byte rate, measured over the quota window, is ``observed_rate`` against a quota of ``quota``
    bytes/s (KIP-13): zero at or under the quota, otherwise the time the client must stay silent so that the
    rate over the window falls back to the quota.

Bonus: ``messages_per_second(quota, message_size)`` turns a byte quota into the message rate it allows, and
``verify(...)`` runs a full-speed producer under a quota on the broker and returns the achieved rate over the quota.
"""

from __future__ import annotations

import kafkabp

RECORD_OVERHEAD = 10  # bytes per record besides its value (length, attributes, timestamp and offset deltas, key length, headers)


def throttle_time_ms(observed_rate: float, quota: float, window_s: float = 11.0) -> float:
    """Milliseconds the broker asks a client to wait, from the client's rate over the quota window.

    The broker keeps the client's bytes over ``quota.window.num`` samples of ``quota.window.size.seconds``
    (Kafka's default: 11 x 1 s; the lab broker: 3 x 1 s). If the rate over that window is ``observed_rate`` > ``quota``, the client sent
    ``(observed_rate - quota) * window_s`` bytes too many; at the quota those take
    ``(observed_rate - quota) / quota * window_s`` seconds, and that's how long the client must pause
    (Kafka's ``ClientQuotaManager.throttleTime``; KIP-13).

    >>> throttle_time_ms(1_000_000, 1_000_000)
    0.0
    >>> throttle_time_ms(1_100_000, 1_000_000)  # 10 % over, over an 11 s window
    1100.0
    >>> throttle_time_ms(2_000_000, 1_000_000, window_s=1.0)
    1000.0
    """
    if quota <= 0:
        raise ValueError(f"quota must be a positive number of bytes/s, got {quota!r}")
    if observed_rate < 0 or window_s <= 0:
        raise ValueError("observed_rate must be >= 0 and window_s > 0")
    return max(0.0, (observed_rate - quota) / quota * window_s * 1000.0)


def messages_per_second(quota: float, message_size: int, overhead: int = RECORD_OVERHEAD) -> float:
    """Messages per second a byte-rate quota lets through: the broker counts whole records, not just values.

    >>> round(messages_per_second(1_000_000, 1000))
    990
    """
    if quota <= 0 or message_size < 0:
        raise ValueError("quota must be > 0 and message_size >= 0")
    return quota / (message_size + overhead)


def achieved_rate(result: kafkabp.Result, start: float, end: float, message_size: int) -> float:
    """Value bytes per second the broker accepted between ``start`` and ``end`` s, from its log-end offsets."""
    tl = result.timeline
    w = tl[(tl["t"] >= start) & (tl["t"] <= end)]
    if len(w) < 2 or w["t"].iloc[-1] <= w["t"].iloc[0]:
        raise ValueError(f"not enough lag samples between {start} and {end} s")
    return float((w["log_end_offset"].iloc[-1] - w["log_end_offset"].iloc[0])
                 / (w["t"].iloc[-1] - w["t"].iloc[0]) * message_size)


def verify(quota: int = 1_048_576, message_size: int = 1000, duration: float = 25.0, skip: float = 3.0,
           progress: bool = False) -> tuple[float, kafkabp.Result]:
    """Run a full-speed producer under a ``producer_byte_rate`` quota on a fresh client id.

    Returns (achieved value bytes/s over the quota, from ``skip`` s to 1 s before the end, and the Result).
    ``batch.size`` 64 KiB keeps requests small against the quota; a queue of 2,000 messages makes ``produce()``
    wait (BufferError, retried) instead of queueing what would take minutes to deliver at the quota.
    The lab broker averages quotas over 3 x 1 s windows (Kafka's default is 11 x 1 s: a short run swings more).
    The quota is set before the run and removed afterwards, whatever happens.
    """
    client_id = kafkabp.unique_name("quota-verify")
    kafkabp.set_client_quota(client_id, producer_byte_rate=quota)
    try:
        producer = kafkabp.Producer(message_size=message_size, config={
            "client.id": client_id, "batch.size": 65_536, "queue.buffering.max.messages": 2_000})
        r = kafkabp.run_experiment(duration, rate=None, consumers=0, producer=producer, progress=progress,
                                   label=f"quota {quota:,} B/s")
    finally:
        kafkabp.remove_client_quota(client_id)
    return achieved_rate(r, skip, duration - 1.0, message_size) / quota, r

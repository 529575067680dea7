"""Solutions to the exercises of lesson 05, "Poll and fetch tuning".

Exercise (≈ 10 min): choose ``batch_size`` and ``max.poll.interval.ms`` for a handler.
    Write ``poll_settings(seconds_per_message, batch_size=500, *, headroom=3, min_interval_ms=6_000,
    max_interval_ms=300_000)`` returning ``(batch_size, max_poll_interval_ms)`` such that one full batch
    takes at most ``1 / headroom`` of the interval.

Bonus: ``verify(...)`` runs the lesson's slow group (20 ms per message, two consumers, a backlog)
with the chosen settings on the broker; ``slow_group(...)`` builds it unstarted, so a test can run the
storm and the fix side by side.
"""

from __future__ import annotations

import math

import kafkabp

SESSION_TIMEOUT_MS = 6_000  # the lab broker's group.min.session.timeout.ms; max.poll.interval.ms must be >= it
_DIGITS = 6  # round away float noise: 3 * 500 * 0.02 * 1000 == 30000.000000000004


def batch_ms(seconds_per_message: float, batch_size: int) -> float:
    """Milliseconds one full batch takes: ``batch_size × seconds_per_message``."""
    return round(batch_size * seconds_per_message * 1000, _DIGITS)


def poll_settings(seconds_per_message: float, batch_size: int = 500, *, headroom: float = 3,
                  min_interval_ms: int = SESSION_TIMEOUT_MS, max_interval_ms: int = 300_000) -> tuple[int, int]:
    """``(batch_size, max_poll_interval_ms)`` for a handler taking ``seconds_per_message`` per message.

    1. A full batch takes ``batch_size × seconds_per_message``; the interval must be ``headroom`` times that.
    2. Keep the asked-for batch if possible: the interval is ``headroom ×`` the batch time, rounded up to a whole
       second, at least ``min_interval_ms`` (librdkafka: ``max.poll.interval.ms >= session.timeout.ms``).
    3. If that is above ``max_interval_ms`` (how long a stuck consumer may go unnoticed; with the classic protocol
       also how long a rebalance may wait for a busy member), shrink the batch to the largest that fits and work
       out the interval for it as in rule 2.
    4. If not even one message fits, raise ``ValueError``: poll while the work runs (pause/resume) instead.

    Plan with the handler's slow days (a high percentile), not its average: the interval is a hard limit.

    >>> poll_settings(0.02)
    (500, 30000)
    >>> poll_settings(0.001)
    (500, 6000)
    >>> poll_settings(0.02, max_interval_ms=15_000)
    (250, 15000)
    >>> poll_settings(0.05, batch_size=1_000, max_interval_ms=60_000)
    (400, 60000)
    """
    if seconds_per_message < 0 or headroom < 1:
        raise ValueError("seconds_per_message must be >= 0 and headroom >= 1")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    if not 1 <= min_interval_ms <= max_interval_ms:
        raise ValueError(f"need 1 <= min_interval_ms <= max_interval_ms, got {min_interval_ms}, {max_interval_ms}")

    def interval_for(batch: int) -> int:
        need = round(headroom * batch_ms(seconds_per_message, batch), _DIGITS)
        return max(min_interval_ms, math.ceil(need / 1000) * 1000)  # up to a whole second

    interval = interval_for(batch_size)
    if interval <= max_interval_ms:
        return batch_size, interval
    per_message_ms = round(headroom * seconds_per_message * 1000, _DIGITS)
    fits = math.floor(round(max_interval_ms / per_message_ms, _DIGITS))  # per_message_ms > 0 here
    if fits < 1:
        raise ValueError(f"one message takes {seconds_per_message:g} s: even a batch of 1 needs "
                         f"{per_message_ms / 1000:g} s with headroom {headroom:g}, more than "
                         f"max_interval_ms = {max_interval_ms:,}; keep polling while it runs (pause/resume)")
    batch = min(batch_size, fits)
    return batch, min(max_interval_ms, interval_for(batch))


def slow_group(batch_size: int, max_poll_interval_ms: int, *, seconds_per_message: float = 0.02,
               label: str | None = None) -> kafkabp.Experiment:
    """The lesson's slow group, not started: 2 consumers on 2 partitions, a 2,000-message backlog, 150 msg/s."""
    return kafkabp.Experiment(
        rate=150, consumers=2, partitions=2, processing=kafkabp.fixed(seconds_per_message),
        producer=kafkabp.Producer(backlog=2_000),
        group=kafkabp.Group(batch_size=batch_size, config={"session.timeout.ms": SESSION_TIMEOUT_MS,
                                                           "max.poll.interval.ms": max_poll_interval_ms}),
        label=label or f"batch {batch_size}, interval {max_poll_interval_ms / 1000:g} s")


def verify(seconds_per_message: float = 0.02, batch_size: int = 500, max_interval_ms: int = 15_000,
           duration: float = 25.0, progress: bool = False) -> kafkabp.Result:
    """Run the slow group with ``poll_settings(...)`` for ``duration`` s: no eviction, no duplicate, nothing lost."""
    batch, interval = poll_settings(seconds_per_message, batch_size, max_interval_ms=max_interval_ms)
    return slow_group(batch, interval, seconds_per_message=seconds_per_message).run(duration, progress=progress)

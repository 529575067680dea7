"""Solutions to the exercises of lesson 06, "Producer batching, compression and the producer's own backpressure".

Exercise (≈ 10 min): how fast can a tiny queue go?
    Write ``queue_ceiling(queue_messages, linger_ms, rtt_ms=0.0)``: the most records per second a producer can
    pass when its client queue (``queue.buffering.max.messages``) holds at most ``queue_messages`` records and
    each record stays in it at least ``linger_ms`` + ``rtt_ms``.

Bonus: ``verify(...)`` runs a producer with that tiny queue against a faster source on the broker, so you can see
the ceiling hold (and ``BufferError`` push back on the source).
"""

from __future__ import annotations

import math

import kafkabp


def queue_ceiling(queue_messages: int, linger_ms: float, rtt_ms: float = 0.0) -> float:
    """The most records/s that pass through a client queue of ``queue_messages`` records (Little's law).

    Little's law: items in a queue = throughput × time each item spends there. A record enters librdkafka's
    queue at ``produce()`` and leaves it when the broker acknowledges it: at least ``linger_ms`` (waiting for its
    batch to be sent) plus ``rtt_ms`` (the produce request's round trip). At the ceiling the queue is full, so
    throughput = queue_messages / time in the queue. Any faster and ``produce()`` raises ``BufferError``.

    >>> queue_ceiling(100, 50)
    2000.0
    >>> queue_ceiling(100, 50, rtt_ms=50)
    1000.0
    >>> queue_ceiling(100_000, 5, rtt_ms=1) > 1_000_000
    True
    >>> queue_ceiling(100, 0)
    inf
    """
    if not isinstance(queue_messages, int) or queue_messages < 1:
        raise ValueError(f"queue_messages must be a whole number >= 1, got {queue_messages!r}")
    if linger_ms < 0 or rtt_ms < 0:
        raise ValueError("linger_ms and rtt_ms must be >= 0")
    seconds_in_queue = (linger_ms + rtt_ms) / 1000.0
    if seconds_in_queue == 0:
        return math.inf  # nothing holds a record in the client: the queue does not limit throughput
    return queue_messages / seconds_in_queue


def verify(offered: float = 5_000, queue_messages: int = 100, linger_ms: float = 50, duration: float = 3.0,
           on_buffer_full: str = "block", progress: bool = False) -> kafkabp.Result:
    """Offer ``offered`` records/s to a producer whose queue holds ``queue_messages`` with ``linger.ms=linger_ms``.

    With the defaults the ceiling is 2,000 records/s (less, by the round trip): the producer meets
    ``BufferError`` (``summary.buffer_full``); with ``on_buffer_full="block"`` it produces below the ceiling,
    with ``"drop"`` the excess is shed and counted in ``summary.dropped``.
    """
    return kafkabp.run_experiment(
        duration, rate=offered, consumers=0, progress=progress,
        producer=kafkabp.Producer(config={"queue.buffering.max.messages": queue_messages, "linger.ms": linger_ms},
                                  on_buffer_full=on_buffer_full),
        label=f"queue of {queue_messages}, linger.ms={linger_ms:g}, {offered:,.0f}/s offered, {on_buffer_full}")

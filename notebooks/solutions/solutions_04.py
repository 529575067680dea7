"""Solutions to the exercises of lesson 04, "Faster processing".

Exercise (≈ 10 min): how many threads does one partition need?
    Write ``threads_needed(rate, seconds_per_message, hot_fraction=0.0)``: the smallest number of
    key-ordered threads in one consumer that keeps lag bounded on one partition, when each message
    waits ``seconds_per_message`` for I/O and a share ``hot_fraction`` of the messages has one key;
    ``None`` when no number of threads can keep up.

Bonus: ``verify(...)`` runs it on the broker, so you can watch the answer (or the hot key's cap) hold.
"""

from __future__ import annotations

import math

import kafkabp

_FULL = 1 - 1e-9  # a thread this busy (or more) counts as 100 % busy: float noise must not make 10.000…01 pass


def busiest_thread_share(threads: int, hot_fraction: float = 0.0) -> float:
    """The share of all messages that the busiest of ``threads`` key-ordered threads receives.

    Every message of the hot key goes to one thread (key order), and that thread also gets its
    1 / ``threads`` of the other keys, assumed spread evenly (hashing many keys comes close).
    """
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a whole number >= 1, got {threads!r}")
    if not 0 <= hot_fraction <= 1:
        raise ValueError(f"hot_fraction must be between 0 and 1, got {hot_fraction!r}")
    return hot_fraction + (1 - hot_fraction) / threads


def capacity(threads: int, seconds_per_message: float, hot_fraction: float = 0.0) -> float:
    """Messages per second the consumer can process if its busiest thread is busy all the time."""
    if seconds_per_message <= 0:
        return math.inf
    return 1 / (seconds_per_message * busiest_thread_share(threads, hot_fraction))


def threads_needed(rate: float, seconds_per_message: float, hot_fraction: float = 0.0) -> int | None:
    """The smallest number of key-ordered threads that keeps lag bounded on one partition, or None.

    The busiest thread receives ``rate * (h + (1 - h) / k)`` msg/s and can process
    ``1 / seconds_per_message``; like a consumer in lesson 01 it must stay strictly below 100 % busy:

        rate * s * (h + (1 - h) / k) < 1   <=>   k > rate * s * (1 - h) / (1 - rate * s * h)

    As k grows, the share falls towards ``h``: the hot key alone needs ``rate * h * s`` of one thread.
    If that is 100 % or more, no number of threads can keep up (key order puts all of that key on one
    thread, in order): the hot key is the new partition ceiling.

    >>> threads_needed(2000, 0.005)        # 10 threads would be exactly 100 % busy
    11
    >>> threads_needed(1000, 0.005, 0.1)   # the hot key's thread: 0.1 + 0.9 / 10 = 19 % of 1,000 msg/s
    10
    >>> threads_needed(1000, 0.005, 0.5) is None
    True
    """
    if rate < 0 or seconds_per_message < 0:
        raise ValueError("rate and seconds_per_message must be >= 0")
    if not 0 <= hot_fraction <= 1:
        raise ValueError(f"hot_fraction must be between 0 and 1, got {hot_fraction!r}")
    load = rate * seconds_per_message  # threads' worth of work arriving per second
    if load == 0:
        return 1
    if load * hot_fraction >= _FULL:
        return None  # the hot key alone keeps one thread (at least) 100 % busy
    k = max(1, math.floor(load * (1 - hot_fraction) / (1 - load * hot_fraction)))
    while load * busiest_thread_share(k, hot_fraction) >= _FULL:  # the closed form, checked (floats)
        k += 1
    while k > 1 and load * busiest_thread_share(k - 1, hot_fraction) < _FULL:
        k -= 1
    return k


def verify(rate: float = 1000, seconds_per_message: float = 0.005, hot_fraction: float = 0.1,
           threads: int | None = None, duration: float = 10.0, progress: bool = False) -> kafkabp.Result:
    """Run one consumer with ``threads`` (default: ``threads_needed(...)``) key-ordered threads on a
    one-partition topic receiving ``rate`` msg/s, and return its Result.

    Leave headroom on a real machine: a 5 ms sleep is never exactly 5 ms, and threads hand messages to
    and from the consumer thread, so each thread manages somewhat less than 1 / seconds_per_message.
    """
    if threads is None:
        threads = threads_needed(rate, seconds_per_message, hot_fraction)
        if threads is None:
            raise ValueError(f"a key in {hot_fraction:.0%} of {rate:,} msg/s at {seconds_per_message * 1000:g} ms "
                             "each keeps one thread busy by itself: no number of threads keeps up")
    return kafkabp.run_experiment(
        duration, rate=rate, partitions=1, group=kafkabp.Group(parallel=threads),
        processing=kafkabp.fixed(seconds_per_message), progress=progress,
        producer=kafkabp.Producer(keys="hot" if hot_fraction > 0 else "uniform", hot_fraction=hot_fraction),
        label=f"{threads} threads, hot key {hot_fraction:.0%}, λ = {rate:,.0f}/s")

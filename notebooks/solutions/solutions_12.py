"""Solutions to the exercise of lesson 12, "Beyond the partition ceiling".

Exercise (≈ 15 min): plan a share group.
    Given the rate to keep up with, the seconds one message takes and the topic's partitions, return how many
    share consumers to run and how many records each may acquire per poll (``max.poll.records``): enough
    members for the rate at a chosen utilisation, and polls small enough that a member finishes what it
    acquired well within the record lock (else the broker hands the rest to someone else: redeliveries,
    duplicates) and that all members together stay under the broker's in-flight limit per partition.

Bonus: ``verify(plan, ...)`` runs the planned share group on the broker.
"""

from __future__ import annotations

import math

import kafkabp

POLL_RECORDS_DEFAULT = 500  # librdkafka's max.poll.records default


def plan_share_group(rate: float, seconds_per_message: float, partitions: int, *, utilization: float = 0.8,
                     lock_seconds: float = 30.0, max_record_locks: int = 2_000, safety: float = 0.5
                     ) -> tuple[int, int]:
    """``(consumers, max_poll_records)`` for a share group that keeps up with ``rate`` msg/s.

    - **consumers**: each member manages 1 / ``seconds_per_message`` msg/s; keep each busy at most
      ``utilization`` of its time (headroom for bursts and slow moments): ``ceil(rate × seconds / utilization)``,
      at least 1. Partitions do not enter: a share group has no partition ceiling.
    - **max_poll_records**: the most records one poll may acquire, the smallest of
        - ``floor(safety × lock_seconds / seconds_per_message)``: a member finishes what it acquired within
          ``safety`` of the record lock (``group.share.record.lock.duration.ms``, 30 s by default); past the
          lock the broker releases the records to other members while this one still works on them;
        - ``floor(partitions × max_record_locks / consumers)``: all members together hold no more than the
          broker lets be in flight (``group.share.partition.max.record.locks``, 2,000 per partition);
        - 500, librdkafka's default;
      and at least 1.

    >>> plan_share_group(120, 0.05, 2)      # 7.5 members' worth of work at 80 %: 8; 300 records = 15 s
    (8, 300)
    >>> plan_share_group(1_000, 0.2, 4)     # 250 members; 75 records = 15 s; 4 × 2,000 / 250 = 32 in flight each
    (250, 32)
    """
    if rate < 0 or not math.isfinite(rate):
        raise ValueError(f"rate must be a finite number of msg/s >= 0, got {rate!r}")
    if not seconds_per_message > 0:
        raise ValueError(f"seconds_per_message must be > 0, got {seconds_per_message!r}")
    if not isinstance(partitions, int) or partitions < 1:
        raise ValueError(f"partitions must be a whole number >= 1, got {partitions!r}")
    if not 0 < utilization <= 1:
        raise ValueError(f"utilization must be in (0, 1], got {utilization!r}")
    if not (lock_seconds > 0 and max_record_locks >= 1 and 0 < safety <= 1):
        raise ValueError("lock_seconds and max_record_locks must be positive, safety in (0, 1]")
    work = rate * seconds_per_message / utilization  # members' worth of work
    consumers = max(1, math.ceil(round(work, 9)))  # round: 0.1 * 3 / 0.5 must not become 0.6000000000000001 -> 1
    by_lock = math.floor(round(safety * lock_seconds / seconds_per_message, 9))
    by_locks = (partitions * max_record_locks) // consumers
    return consumers, max(1, min(POLL_RECORDS_DEFAULT, by_lock, by_locks))


def classic_members_needed(rate: float, seconds_per_message: float, partitions: int, *,
                           utilization: float = 0.8) -> int | None:
    """The same arithmetic for a classic group, which no member beyond ``partitions`` helps: None if it cannot."""
    consumers, _ = plan_share_group(rate, seconds_per_message, partitions, utilization=utilization)
    return consumers if consumers <= partitions else None


def verify(plan: tuple[int, int], rate: float = 120.0, seconds_per_message: float = 0.05, partitions: int = 2,
           duration: float = 12.0) -> kafkabp.Result:
    """Run the planned share group on the broker: ``rate`` msg/s, ``fixed(seconds_per_message)`` processing."""
    consumers, poll_records = plan
    return kafkabp.run_experiment(duration, rate=rate, consumers=consumers, partitions=partitions,
                                  processing=kafkabp.fixed(seconds_per_message),
                                  group=kafkabp.Group(protocol="share", batch_size=poll_records),
                                  label=f"planned share group: {consumers} members, max.poll.records={poll_records}")

"""Solutions to the exercises of lesson 01, "Creating backpressure".

Exercise (≈ 10 min): how many consumers keep up?
    Write ``consumers_needed(rate, seconds_per_message, partitions)``: the smallest number of
    consumers in one group that keeps lag bounded, or ``None`` when even one consumer per
    partition cannot keep up.

Bonus: ``verify(...)`` runs the experiment on the broker with that many consumers, so you can see
the answer hold (or not) on a real broker.
"""

from __future__ import annotations

import math

import kafkabp


def busiest_share(consumers: int, partitions: int) -> int:
    """Partitions owned by the busiest consumer: a partition has exactly one reader in a group,
    so ``partitions`` are split as evenly as possible and someone gets ``ceil(partitions / consumers)``.
    Consumers beyond the partition count sit idle and do not lower this below 1.
    """
    if consumers < 1 or partitions < 1:
        raise ValueError("consumers and partitions must both be at least 1")
    return math.ceil(partitions / min(consumers, partitions))


def consumers_needed(rate: float, seconds_per_message: float, partitions: int) -> int | None:
    """The smallest number of consumers that keeps lag bounded, or None if partitions cap it.

    The producer spreads ``rate`` msg/s evenly over ``partitions``, so each partition receives
    ``rate / partitions``. A consumer that owns ``k`` partitions must process ``k * rate / partitions``
    messages per second, and it can process at most ``1 / seconds_per_message``. Lag stays bounded
    only if *every* consumer keeps up, above all the busiest one, which owns ``ceil(partitions / n)``.

    The inequality is strict: a consumer at exactly 100 % load has no spare capacity to work off a
    backlog, so the messages that piled up while the group formed (or during any hiccup) stay piled
    up for good (measure it: 2 consumers at 1 ms/msg on 2,000 msg/s level off at a few thousand).

    Note the difference from the group's total capacity ``kafkabp.service_rate(n, partitions, s)``:
    3 consumers on 4 partitions can process 3,000 msg/s in total, yet at 2,800 msg/s the one that owns
    two partitions receives 1,400 msg/s, 40 % more than the 1,000 it can do: its lag grows at 400 msg/s
    while the other two idle 30 % of the time, so the answer is 4. ``kafkabp.group_capacity(3, 4, 0.001)``
    says the same: 3 consumers keep up with at most 2,000 msg/s.

    >>> consumers_needed(2800, 0.001, 4)
    4
    >>> consumers_needed(2000, 0.001, 4)  # the busiest of 3 would be exactly 100 % busy: no margin
    4
    >>> consumers_needed(1500, 0.001, 4)
    2
    >>> consumers_needed(500, 0.001, 4)
    1
    >>> consumers_needed(5000, 0.001, 4) is None
    True
    """
    if rate < 0 or seconds_per_message < 0:
        raise ValueError("rate and seconds_per_message must be >= 0")
    if not isinstance(partitions, int) or partitions < 1:
        raise ValueError(f"partitions must be a whole number >= 1, got {partitions!r}")
    if seconds_per_message == 0 or rate == 0:
        return 1  # free processing (or nothing to do): one consumer keeps up
    for n in range(1, partitions + 1):  # more consumers than partitions would sit idle
        busiest_load = busiest_share(n, partitions) * rate / partitions  # msg/s the busiest one receives
        if busiest_load * seconds_per_message < 1:  # strictly below 100 % busy
            return n
    return None


def verify(rate: float = 2800, seconds_per_message: float = 0.001, partitions: int = 4,
           duration: float = 15.0, consumers: int | None = None, progress: bool = False) -> kafkabp.Result:
    """Run the experiment with ``consumers`` (default: ``consumers_needed(...)``) and return its Result.

    With enough consumers, lag levels off after the group has formed (below a second's worth of messages,
    from batching and commits every 0.2 s) instead of climbing. Pass ``consumers=3`` to see the naive
    answer fail: at 2,800 msg/s the lag of 3 consumers grows at about 400 msg/s.
    """
    if consumers is None:
        consumers = consumers_needed(rate, seconds_per_message, partitions)
        if consumers is None:
            raise ValueError(f"no number of consumers keeps up with {rate:,} msg/s on {partitions} partitions "
                             f"at {seconds_per_message * 1000:g} ms/msg: add partitions or make processing faster")
    return kafkabp.run_experiment(duration, rate=rate, consumers=consumers, partitions=partitions,
                                  processing=kafkabp.fixed(seconds_per_message), progress=progress,
                                  label=f"{consumers} consumers, λ = {rate:,.0f}/s")

"""Solutions to the exercises of lesson 03, "Scaling consumers".

Exercise (≈ 15 min): how many partitions?
    Write ``choose_partitions(target_rate, seconds_per_message, headroom=0.5, consumer_counts=())``:
    the fewest partitions that (1) let a group with one consumer per partition keep up with
    ``target_rate × (1 + headroom)``, and (2) split evenly among every consumer count in
    ``consumer_counts``, so that none of those groups has a busiest member holding it back.

Bonus: ``verify(...)`` runs the plan on the broker, side by side with a group whose partitions do
not split evenly, so you can see both answers hold on a real broker.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import kafkabp

_EPSILON = 1e-9  # rates computed in floating point: 6 / 0.005 may come out a hair below 1,200


def splits_evenly(consumers: int, partitions: int) -> bool:
    """True when every one of ``consumers`` owns the same number of ``partitions``, at least one.

    That is exactly when the group has no idle member (``consumers <= partitions``) and keeps up
    with as much as it can process (``group_capacity == service_rate``). The capacities are compared
    rather than testing divisibility, so the answer comes from the same model the lesson measured.
    """
    if consumers > partitions:
        return False  # the ones beyond the partition count own nothing
    capacity = kafkabp.group_capacity(consumers, partitions, 1.0)
    return capacity >= kafkabp.service_rate(consumers, partitions, 1.0) * (1 - _EPSILON)


def choose_partitions(target_rate: float, seconds_per_message: float, headroom: float = 0.5,
                      consumer_counts: Iterable[int] = ()) -> int:
    """The fewest partitions for ``target_rate`` msg/s with ``headroom`` to spare and even splits.

    1. Capacity: a partition has one reader in a group, so the most a group can keep up with is
       ``group_capacity(P, P, s) = P / s``, one consumer per partition. It must reach
       ``target_rate × (1 + headroom)``: the headroom drains a backlog after an outage or a deploy
       (a group at exactly 100 % never catches up, lesson 01).
    2. Even splits: a group of ``n`` consumers on ``P`` partitions keeps up with only
       ``group_capacity(n, P, s) = P / ceil(P / n) / s``, less than ``n / s`` unless ``n`` divides ``P``
       (3 consumers on 4 partitions keep up with what 2 would). So ``P`` must be a multiple of every
       count in ``consumer_counts``, the sizes you plan to run (e.g. an autoscaler's steps), and
       therefore at least as large as each: a member beyond the partition count would sit idle.

    >>> choose_partitions(500, 0.01)                              # 750 msg/s at 100 each: 7.5 consumers
    8
    >>> choose_partitions(500, 0.01, consumer_counts=(3,))        # 3 must divide it
    9
    >>> choose_partitions(500, 0.01, consumer_counts=(2, 3, 4))   # 12 splits evenly for 2, 3 and 4
    12
    """
    if not target_rate >= 0:
        raise ValueError(f"target_rate must be a number of messages per second >= 0, got {target_rate!r}")
    if not seconds_per_message > 0:
        raise ValueError(f"seconds_per_message must be > 0 (free processing needs no planning), got {seconds_per_message!r}")
    if not headroom > 0:
        raise ValueError(f"headroom must be > 0: a group at exactly 100 % never drains a backlog (got {headroom!r})")
    counts = sorted(set(consumer_counts))
    if any(not isinstance(n, int) or n < 1 for n in counts):
        raise ValueError(f"consumer_counts must be whole numbers >= 1, got {consumer_counts!r}")
    needed = target_rate * (1 + headroom)
    # Start at the partitions capacity alone requires (one consumer each), then walk up to the first
    # count that also splits evenly; the least common multiple of the counts always does.
    partitions = max(1, math.ceil(needed * seconds_per_message * (1 - _EPSILON)), *counts)
    while True:
        enough = kafkabp.group_capacity(partitions, partitions, seconds_per_message) >= needed * (1 - _EPSILON)
        if enough and all(splits_evenly(n, partitions) for n in counts):
            return partitions
        partitions += 1


def verify(rate: float = 500, seconds_per_message: float = 0.01, headroom: float = 0.5,
           duration: float = 15.0, progress: bool = False) -> dict[str, kafkabp.Result]:
    """Run the plan on the broker next to a group whose partitions do not split evenly.

    Both groups get ``rate`` msg/s on ``choose_partitions(rate, seconds_per_message, headroom)`` partitions:
    - ``"planned"``: one consumer per partition: lag stays bounded (capacity ``(1 + headroom)`` × rate);
    - ``"uneven"``: the fewest consumers whose *total* capacity still exceeds ``rate``, but which cannot
      split the partitions evenly, so the busiest one falls behind and lag grows.

    Returns ``{"planned": Result, "uneven": Result}``.
    """
    partitions = choose_partitions(rate, seconds_per_message, headroom)
    uneven = next(n for n in range(1, partitions)
                  if kafkabp.service_rate(n, partitions, seconds_per_message) > rate
                  and kafkabp.group_capacity(n, partitions, seconds_per_message) < rate)

    batch = max(1, round(0.25 / seconds_per_message))  # each consumer polls about every 0.25 s, as in the lesson

    def experiment(consumers: int) -> kafkabp.Experiment:
        return kafkabp.Experiment(rate=rate, consumers=consumers, partitions=partitions,
                                  producer=kafkabp.Producer(keys="uniform"), group=kafkabp.Group(batch_size=batch),
                                  processing=kafkabp.fixed(seconds_per_message),
                                  label=f"{consumers} consumers on {partitions} partitions")

    planned, lopsided = experiment(partitions), experiment(uneven)
    with planned, lopsided:
        planned.wait(duration, progress=progress)
    return {"planned": planned.result(), "uneven": lopsided.result()}

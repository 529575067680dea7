"""The solution to lesson 03's exercise: the partition arithmetic, and the plan holding on a real broker."""

from __future__ import annotations

import math

import pytest

import kafkabp
from _solutions import load_solution

solutions = load_solution("solutions_03")


@pytest.mark.parametrize(
    ("rate", "seconds", "headroom", "counts", "expected"),
    [
        (1_000, 0.005, 0.5, (), 8),            # 1,500 msg/s at 200 msg/s per consumer: 7.5 -> 8
        (1_000, 0.005, 1.0, (), 10),           # 2,000 msg/s: exactly 10 (floating point must not make it 11)
        (800, 0.005, 0.5, (), 6),              # 1,200 msg/s: exactly 6
        (800, 0.005, 0.2, (), 5),              # 960 msg/s: 4.8 -> 5
        (1_000, 0.005, 0.5, (3,), 9),          # 8 is enough, 9 is the first multiple of 3
        (1_000, 0.005, 0.5, (2, 3, 4), 12),    # the least common multiple of 2, 3, 4 above 8
        (1_000, 0.005, 0.5, (5,), 10),
        (1_000, 0.005, 0.5, (16,), 16),        # a planned group larger than capacity needs
        (100, 0.005, 0.5, (), 1),              # 150 msg/s: one consumer does 200
        (0, 0.005, 0.5, (), 1),                # nothing to do: a topic has at least one partition
        (50_000, 0.0001, 0.25, (4, 6), 12),    # 62,500 msg/s at 10,000 each: 6.25 -> 7 -> 12
    ],
)
def test_choose_partitions(rate: float, seconds: float, headroom: float, counts: tuple[int, ...], expected: int) -> None:
    assert solutions.choose_partitions(rate, seconds, headroom, counts) == expected


@pytest.mark.parametrize("rate", [150, 400, 799, 801, 1_000, 1_333, 2_500])
@pytest.mark.parametrize("counts", [(), (3,), (2, 4), (3, 4, 6)])
def test_answer_is_the_fewest_that_meets_both_conditions(rate: float, counts: tuple[int, ...]) -> None:
    s, headroom = 0.005, 0.5
    p = solutions.choose_partitions(rate, s, headroom, counts)

    def ok(partitions: int) -> bool:
        enough = kafkabp.group_capacity(partitions, partitions, s) >= rate * (1 + headroom) * (1 - 1e-9)
        even = all(n <= partitions and kafkabp.group_capacity(n, partitions, s) == kafkabp.service_rate(n, partitions, s)
                   for n in counts)
        return enough and even

    assert ok(p)
    assert not any(ok(q) for q in range(1, p))
    for n in counts:  # every planned group size keeps up with as much as it can process
        assert partitions_split_evenly(n, p)


def partitions_split_evenly(consumers: int, partitions: int) -> bool:
    return consumers <= partitions and partitions % consumers == 0


def test_splits_evenly_matches_divisibility() -> None:
    for p in range(1, 25):
        for n in range(1, p + 5):
            assert solutions.splits_evenly(n, p) == partitions_split_evenly(n, p), (n, p)


def test_choose_partitions_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        solutions.choose_partitions(-1, 0.005)
    with pytest.raises(ValueError):
        solutions.choose_partitions(1_000, 0.0)
    with pytest.raises(ValueError):
        solutions.choose_partitions(1_000, 0.005, headroom=0.0)
    with pytest.raises(ValueError):
        solutions.choose_partitions(1_000, 0.005, consumer_counts=(0,))
    with pytest.raises(ValueError):
        solutions.choose_partitions(math.nan, 0.005)


@pytest.mark.integration
def test_the_plan_keeps_up_and_an_uneven_group_does_not(kafka_bootstrap: str) -> None:
    runs = solutions.verify(rate=1_000, seconds_per_message=0.005, headroom=0.5, duration=15)
    planned, uneven = runs["planned"], runs["uneven"]
    assert planned.params["partitions"] == uneven.params["partitions"] == 8
    assert planned.params["consumers"] == 8 and uneven.params["consumers"] == 6
    for r in (planned, uneven):
        s = r.summary
        assert s.failed == 0 and s.delivered == s.produced, s
        assert s.lost == 0, s
    # 8 consumers at 62.5 % load: lag levels off after the group has formed.
    p = planned.summary
    assert p.final_lag < 1_500 and p.lag_slope < 40, p
    assert p.consume_rate > 0.8 * p.produce_rate, p
    # 6 consumers could process 1,200 msg/s, but two of them read two partitions (250 msg/s each, 200 possible).
    u = uneven.summary
    assert u.lag_slope > 40, u  # the model says 100 msg/s
    assert u.final_lag > p.final_lag + 500, (u, p)
    owners = {member: owned for member, owned in uneven.assignment.items() if len(owned) == 2}
    assert len(owners) == 2, uneven.assignment
    last = uneven.partitions[uneven.partitions["t"] == uneven.partitions["t"].max()].set_index("partition")["lag"]
    busy = [pt for owned in owners.values() for pt in owned]
    assert last[busy].min() > last.drop(index=busy).max(), (last, owners)

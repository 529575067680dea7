"""The solution to lesson 12's exercise: planning a share group, by arithmetic and on a real broker."""

from __future__ import annotations

import doctest

import pytest

from _solutions import load_solution

solutions = load_solution("solutions_12")


@pytest.mark.parametrize(
    ("rate", "seconds", "partitions", "kwargs", "expected"),
    [
        (120, 0.05, 2, {}, (8, 300)),             # the lesson's check: 7.5 members' worth -> 8; 15 s of work each
        (160, 0.05, 2, {}, (10, 300)),            # exactly 10 (floating point must not make it 11)
        (160, 0.05, 2, dict(utilization=1.0), (8, 300)),
        (0, 0.05, 2, {}, (1, 300)),               # nothing to do: still one member
        (1_000, 0.2, 4, {}, (250, 32)),           # in-flight cap: 4 x 2,000 locks over 250 members
        (1_000, 0.001, 1, {}, (2, 500)),          # fast messages: librdkafka's default 500 is the cap
        (10, 1.0, 1, {}, (13, 15)),               # 1 s a message: 15 records fill half the 30 s lock
        (10, 40.0, 1, {}, (500, 1)),              # slower than the lock itself: never fewer than 1
        (100, 0.1, 3, dict(lock_seconds=15, safety=1.0), (13, 150)),
        (100, 0.1, 1, dict(max_record_locks=100), (13, 7)),
    ],
)
def test_plan_share_group(rate: float, seconds: float, partitions: int, kwargs: dict, expected: tuple[int, int]) -> None:
    assert solutions.plan_share_group(rate, seconds, partitions, **kwargs) == expected


def test_partitions_do_not_cap_a_share_group_but_cap_a_classic_one() -> None:
    assert solutions.plan_share_group(400, 0.05, 1)[0] == solutions.plan_share_group(400, 0.05, 64)[0] == 25
    assert solutions.classic_members_needed(400, 0.05, 2) is None
    assert solutions.classic_members_needed(400, 0.05, 32) == 25
    assert solutions.classic_members_needed(20, 0.05, 2) == 2


def test_each_member_finishes_its_poll_within_the_lock_and_the_group_within_the_in_flight_limit() -> None:
    for rate, s, p in [(50, 0.5, 2), (5_000, 0.01, 8), (300, 0.07, 3)]:
        n, mpr = solutions.plan_share_group(rate, s, p)
        assert mpr * s <= 0.5 * 30 and n * mpr <= p * 2_000 and n * (1 / s) * 0.8 >= rate - 1e-9


def test_arguments_are_checked() -> None:
    for args, kwargs in [((-1, 0.05, 2), {}), ((10, 0, 2), {}), ((10, 0.05, 0), {}), ((10, 0.05, 2), dict(utilization=0)),
                         ((10, 0.05, 2), dict(utilization=1.5)), ((10, 0.05, 2), dict(safety=0))]:
        with pytest.raises(ValueError):
            solutions.plan_share_group(*args, **kwargs)


def test_docstring_examples() -> None:
    assert doctest.testmod(solutions, raise_on_error=False).failed == 0


@pytest.mark.integration
def test_the_planned_share_group_keeps_up_on_the_broker(kafka_bootstrap: str) -> None:
    """120 msg/s at 50 ms a message on 2 partitions: 8 members; a classic group could not (2 x 20 = 40 msg/s)."""
    plan = solutions.plan_share_group(120, 0.05, 2)
    assert plan == (8, 300) and solutions.classic_members_needed(120, 0.05, 2) is None
    r = solutions.verify(plan, rate=120, seconds_per_message=0.05, partitions=2, duration=12)
    s = r.summary
    assert s.lost == 0 and s.failed == 0, s
    tp = r.throughput(1.0)
    done = float(tp[(tp["t"] >= 4) & (tp["t"] < 11)]["rate"].mean())
    assert done >= 0.8 * 120, done  # kept up with the producer: far above a classic group's 40 msg/s
    late = r.timeline[r.timeline["t"] >= 4]["lag"]
    assert late.max() <= 3 * 120, late.describe()  # bounded: a few seconds of messages at most

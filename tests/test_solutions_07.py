"""The solution to lesson 07's exercise: a proportional controller on time lag, by arithmetic and on a real broker."""

from __future__ import annotations

import pytest

import kafkabp
from _solutions import load_solution

solutions = load_solution("solutions_07")


def _sample(time_lag: float, consume_rate: float, lag: int = 1_000) -> kafkabp.Sample:
    return kafkabp.Sample(t=5.0, lag=lag, time_lag=time_lag, produce_rate=consume_rate, consume_rate=consume_rate,
                          target_rate=consume_rate, consumers=1)


@pytest.mark.parametrize(
    ("time_lag", "consume_rate", "expected"),
    [
        (1.0, 900.0, 900.0),      # on target: keep up with the consumers, no more
        (0.5, 900.0, 1150.0),     # under target: 0.5 s × 500 msg/s per s more
        (2.0, 900.0, 400.0),      # over target: 1 s × 500 less, so the lag drains
        (0.0, 0.0, 500.0),        # the start: nothing consumed yet, the gain alone
        (5.0, 500.0, 10.0),       # far over target: the floor, never zero or negative
        (0.0, 200_000.0, 100_000.0),  # the ceiling
        (1.0, float("nan"), 10.0),    # no rate measured yet: treated as 0
    ],
)
def test_next_rate(time_lag: float, consume_rate: float, expected: float) -> None:
    c = solutions.ProportionalTimeLag(target_time_lag=1.0, gain=500.0)
    assert c.next_rate(_sample(time_lag, consume_rate)) == pytest.approx(expected)


def test_the_error_moves_the_rate_in_the_right_direction_in_proportion() -> None:
    c = solutions.ProportionalTimeLag(target_time_lag=2.0, gain=300.0, min_rate=1.0)
    rates = [c.next_rate(_sample(tl, 1_000.0)) for tl in (0.0, 1.0, 2.0, 3.0)]
    assert rates == sorted(rates, reverse=True)  # more time lag, less rate
    assert [a - b for a, b in zip(rates, rates[1:])] == pytest.approx([300.0] * 3)  # proportional: gain per second
    assert rates[2] == pytest.approx(1_000.0)  # at the target: exactly what the consumers did


def test_arguments_are_checked() -> None:
    for bad in (dict(target_time_lag=0), dict(gain=-1), dict(start_rate=5, min_rate=10), dict(min_rate=0)):
        with pytest.raises(ValueError):
            solutions.ProportionalTimeLag(**bad)


def test_it_is_a_mitigation_an_experiment_accepts() -> None:
    c = solutions.ProportionalTimeLag()
    assert callable(c.on_start) and callable(c.on_sample) and c.history().empty


@pytest.mark.integration
def test_it_holds_time_lag_and_throughput_while_mu_halves(kafka_bootstrap: str) -> None:
    """On the broker, target time lag 2 s: 1 consumer on 2 partitions, 1 ms a message, then 2 ms from 12 s (μ 1,000 → 500 msg/s)."""
    c = solutions.ProportionalTimeLag(target_time_lag=2.0, gain=500.0)
    r = solutions.verify(c, duration=24, change_at=12)
    s = r.summary
    assert s.failed == 0 and s.lost == 0, s
    tp = r.throughput(1.0)

    def steady(a: float, b: float) -> float:
        return float(tp[(tp["t"] >= a) & (tp["t"] < b)]["rate"].mean())

    before, after = steady(5, 12), steady(15, 23)
    assert before >= 0.7 * 1_000 and after >= 0.7 * 500, (before, after)  # the consumer kept busy: ≈ μ
    assert after <= 1.1 * 500, after
    tl = r.timeline
    late = tl[tl["t"] >= 15]["time_lag"]
    assert late.median() <= 5.0, late.describe()  # bounded near the 2 s target, not growing like an open loop
    assert s.final_lag < 300 * 12, s  # an open loop at 800 msg/s would have added 300 msg/s since the change
    hist = r.controls[c.name]
    assert len(hist) >= 30 and hist["rate"].nunique() > 10, hist.describe()

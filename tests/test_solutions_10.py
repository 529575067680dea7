"""The solution to lesson 10's exercise: when time lag reaches retention, by arithmetic and on a real broker."""

from __future__ import annotations

import doctest
import math

import pytest

import kafkabp
from _solutions import load_solution

solutions = load_solution("solutions_10")


@pytest.mark.parametrize(
    ("retention", "lam", "mu", "fraction", "expected"),
    [
        (10, 2_000, 1_000, 1.0, 20.0),     # μ = λ/2: the time lag grows half a second per second
        (10, 2_000, 1_000, 0.8, 16.0),     # the 80 % alert
        (10, 2_000, 1_000, 0.5, 10.0),
        (10, 2_000, 0, 1.0, 10.0),         # a stopped group: the time lag grows with the clock
        (600, 1_000, 900, 1.0, 6_000.0),   # 10 % too slow: ten times the retention
        (10, 2_000, 2_000, 1.0, math.inf), # keeping up exactly: never
        (10, 2_000, 5_000, 0.8, math.inf), # faster than the producers: never
        (10, 0, 0, 1.0, math.inf),         # nothing produced: nothing to lose
    ],
)
def test_time_to_loss(retention: float, lam: float, mu: float, fraction: float, expected: float) -> None:
    assert solutions.time_to_loss(retention, lam, mu, fraction) == pytest.approx(expected)


def test_time_to_loss_is_when_the_time_lag_reaches_the_threshold() -> None:
    """Simulate the group message by message: the next unread message's age at the predicted time is f·R."""
    lam, mu, retention, fraction = 1_500.0, 600.0, 12.0, 0.7
    t = solutions.time_to_loss(retention, lam, mu, fraction)
    read = mu * t                     # messages processed by then
    produced_at = read / lam          # when the next one was produced
    assert t - produced_at == pytest.approx(fraction * retention)


def test_the_warning_and_the_retention_for_a_warning_are_inverse() -> None:
    w = solutions.warning_s(3_600, 2_000, 1_500, fraction=0.8)
    assert w == pytest.approx(0.2 * 3_600 / 0.25)
    assert solutions.retention_for(w, 2_000, 1_500, fraction=0.8) == pytest.approx(3_600)
    assert solutions.retention_for(60, 2_000, 2_500) == 0.0  # no loss to warn about


def test_arguments_are_checked() -> None:
    for args in ((0, 1_000, 500), (10, -1, 500), (10, 1_000, -5)):
        with pytest.raises(ValueError):
            solutions.time_to_loss(*args)
    for fraction in (0.0, 1.5):
        with pytest.raises(ValueError):
            solutions.time_to_loss(10, 1_000, 500, fraction)
    with pytest.raises(ValueError):
        solutions.retention_for(60, 1_000, 500, fraction=1.0)


def test_the_docstrings_examples_hold() -> None:
    assert doctest.testmod(solutions).failed == 0


@pytest.mark.integration
def test_the_prediction_matches_the_broker(kafka_bootstrap: str) -> None:
    """Retention 4 s, λ = 2,000 msg/s, one consumer at 1 ms a message (μ measured): the alerts fire when the
    formula says (within 40 %: the group's join and a loaded machine's sleeps shift them), and nothing is lost
    before the time lag reached the retention (the formula, with μ measured, is a lower bound for the loss)."""
    interval = int(kafkabp.broker_config(["log.retention.check.interval.ms"])["log.retention.check.interval.ms"])
    if interval > 2_000:
        pytest.skip(f"this broker checks retention every {interval / 1000:.0f} s; the test needs about 1 s")
    out = solutions.verify(retention_s=4.0, duration=18.0)
    r, s = out["result"], out["result"].summary
    assert s.counts_exact and s.lost > 0 and s.offset_resets >= 1, s
    assert 300 <= out["mu"] <= 1_100, out["mu"]
    for fraction, (predicted, fired) in out["alerts"].items():
        assert math.isfinite(fired), (fraction, r.timeline[["t", "time_lag"]].to_string())
        assert abs(fired - predicted) <= 0.4 * predicted + 1.0, (fraction, predicted, fired)
    predicted_loss, loss = out["loss"]
    assert loss >= 0.9 * predicted_loss, (predicted_loss, loss)

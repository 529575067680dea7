"""The solution to lesson 01's exercise: the arithmetic, and the answer holding on a real broker."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import kafkabp

_PATH = Path(__file__).resolve().parent.parent / "notebooks" / "solutions" / "solutions_01.py"
_spec = importlib.util.spec_from_file_location("solutions_01", _PATH)
solutions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(solutions)


@pytest.mark.parametrize(
    ("rate", "seconds", "partitions", "expected"),
    [
        (2000, 0.001, 4, 4),     # 3 would leave one consumer 2 partitions = 1,000 msg/s = 100 % busy
        (1500, 0.001, 4, 2),     # 2 partitions each: 750 msg/s per consumer
        (500, 0.001, 4, 1),      # one consumer is half busy
        (999, 0.001, 1, 1),      # just below capacity
        (1000, 0.001, 1, None),  # exactly at capacity is not enough
        (5000, 0.001, 4, None),  # 1,250 msg/s per partition: more consumers cannot help
        (2000, 0.001, 8, 3),     # 250 msg/s per partition; 3 consumers own at most 3 = 750 msg/s
        (9000, 0.0001, 12, 1),   # 0.1 ms/msg: one consumer does up to 10,000 msg/s
        (0, 0.001, 4, 1),        # nothing to do
        (2000, 0.0, 4, 1),       # free processing
    ],
)
def test_consumers_needed(rate: float, seconds: float, partitions: int, expected: int | None) -> None:
    assert solutions.consumers_needed(rate, seconds, partitions) == expected


@pytest.mark.parametrize("rate", [100, 900, 1100, 1900, 2100, 2500, 3900])
def test_answer_is_the_smallest_that_keeps_every_consumer_below_capacity(rate: float) -> None:
    n = solutions.consumers_needed(rate, 0.001, 4)
    busiest_load = lambda k: solutions.busiest_share(k, 4) * rate / 4  # noqa: E731 (msg/s)
    assert busiest_load(n) < 1000
    assert n == 1 or busiest_load(n - 1) >= 1000
    assert kafkabp.service_rate(n, 4, 0.001) > rate  # the group's total capacity is then enough too


def test_consumers_needed_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        solutions.consumers_needed(-1, 0.001, 4)
    with pytest.raises(ValueError):
        solutions.consumers_needed(100, 0.001, 0)


def test_busiest_share() -> None:
    assert [solutions.busiest_share(n, 4) for n in (1, 2, 3, 4, 8)] == [4, 2, 2, 1, 1]


@pytest.mark.integration
def test_enough_consumers_keep_lag_bounded(kafka_bootstrap: str) -> None:
    result = solutions.verify(rate=2000, seconds_per_message=0.001, partitions=4, duration=15)
    s = result.summary
    assert result.params["consumers"] == 4
    assert s["failed"] == 0 and s["delivered"] == s["produced"]
    # One consumer would end near (λ − μ)·t = 15,000; four level off after the group has formed.
    assert s["final_lag"] < 2_000, s
    assert s["lag_slope"] < 200, s  # flat or draining, not growing at hundreds of msg/s
    assert s["consume_rate"] > 0.8 * s["produce_rate"], s

"""The solution to lesson 09's exercise: watermarks from a memory budget and a sink's rate, and on a real broker."""

from __future__ import annotations

import pytest

from _solutions import load_solution

solutions = load_solution("solutions_09")


@pytest.mark.parametrize(
    ("budget", "message", "sink_rate", "refill", "overhead", "expected"),
    [
        (100_000_000, 10_000, 50, 0.5, 2.0, (5_000, 25)),   # the lesson's sink: 25 messages cover half a second
        (1_000_000, 1_000, 300, 0.1, 1.0, (1_000, 30)),     # 0.1 × 300 is 30.000000000000004 in floats: still 30
        (1_000_000, 1_000, 301, 0.1, 1.0, (1_000, 31)),     # 30.1 rounds up: never starve the sink
        (999, 100, 10, 0.0, 1.0, (9, 0)),                   # rounded down; an instant refill needs no reserve
        (10_000_000, 10_000, 1, 1.0, 3.0, (333, 1)),
    ],
)
def test_choose_watermarks(budget: float, message: float, sink_rate: float, refill: float, overhead: float,
                           expected: tuple[int, int]) -> None:
    assert solutions.choose_watermarks(budget, message, sink_rate, refill, overhead) == expected


def test_a_budget_too_small_for_the_refill_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="more memory, or refill faster"):
        solutions.choose_watermarks(100_000, 10_000, 50, 1.0)  # 5 messages against a reserve of 50


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_nonsense_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        solutions.choose_watermarks(bad, 1_000, 10, 0.1)
    with pytest.raises(ValueError, match="must be"):
        solutions.choose_watermarks(1_000_000, 1_000, bad, 0.1)


@pytest.mark.integration
def test_the_chosen_watermarks_hold_on_the_broker(kafka_bootstrap: str) -> None:
    (size, resume_at), r = solutions.verify(duration=10.0)
    s = r.summary
    assert (size, resume_at) == (500, 25)
    assert s.pauses >= 1 and s.peak_buffered <= size, s
    assert s.evictions == 0 and s.lost == 0 and s.duplicates == 0, s

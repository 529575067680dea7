"""The solution to lesson 06's exercise: Little's law for the client queue, and the ceiling holding on a real broker."""

from __future__ import annotations

import math

import pytest
from _solutions import load_solution

solutions = load_solution("solutions_06")


@pytest.mark.parametrize(
    ("queue", "linger", "rtt", "expected"),
    [
        (100, 50, 0, 2_000),            # the notebook's tiny queue
        (100, 50, 50, 1_000),           # a round trip as long as the linger halves it
        (100_000, 5, 0, 20_000_000),    # librdkafka's defaults: the queue is no limit
        (1, 1000, 0, 1),                # one record a second
        (10_000, 15, 5, 500_000),       # the questionnaire's 20 ms
    ],
)
def test_queue_ceiling(queue: int, linger: float, rtt: float, expected: float) -> None:
    assert solutions.queue_ceiling(queue, linger, rtt_ms=rtt) == pytest.approx(expected)


def test_no_time_in_the_queue_means_no_ceiling() -> None:
    assert solutions.queue_ceiling(100, 0) == math.inf


def test_ceiling_grows_with_the_queue_and_falls_with_the_wait() -> None:
    assert solutions.queue_ceiling(200, 50) == 2 * solutions.queue_ceiling(100, 50)
    assert solutions.queue_ceiling(100, 100) == solutions.queue_ceiling(100, 50) / 2


def test_queue_ceiling_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        solutions.queue_ceiling(0, 5)
    with pytest.raises(ValueError):
        solutions.queue_ceiling(100, -1)


@pytest.mark.integration
def test_tiny_queue_holds_the_producer_below_the_ceiling(kafka_bootstrap: str) -> None:
    """5,000 records/s offered to a queue of 100 with linger.ms=50: at most 2,000/s pass; block vs drop."""
    ceiling = solutions.queue_ceiling(100, 50)
    block = solutions.verify(offered=5_000, queue_messages=100, linger_ms=50, duration=3, on_buffer_full="block")
    drop = solutions.verify(offered=5_000, queue_messages=100, linger_ms=50, duration=3, on_buffer_full="drop")
    for s in (block.summary, drop.summary):
        assert s.failed == 0 and s.delivered == s.produced and s.lost == 0, s
        assert s.buffer_full > 0, s  # the client pushed back
        assert s.produce_rate <= 1.1 * ceiling, (s, ceiling)
    assert block.summary.dropped == 0, block.summary
    assert drop.summary.dropped > drop.summary.produced, drop.summary  # the excess was shed, and counted

"""The solution to lesson 13's exercise: a playground preset that keeps up with the fewest consumers, then threads."""

from __future__ import annotations

import doctest

import pytest

import kafkabp
from _solutions import load_solution

solutions = load_solution("solutions_13")


@pytest.mark.parametrize(
    ("rate", "ms", "partitions", "consumers", "parallel"),
    [
        (500, 1, 4, 1, 1),
        (1_500, 1, 4, 2, 1),
        (2_800, 1, 4, 4, 1),      # 3 consumers split 4 partitions 2-1-1: the busiest would get 1,400 msg/s
        (1_000, 1, 4, 2, 1),      # λ = μ does not keep up
        (6_000, 2, 4, 4, 4),      # 1,500 msg/s per partition at 2 ms: 3 threads do exactly 1,500, so 4
        (1_500, 2, 4, 4, 1),
        (300, 10, 2, 2, 2),       # 150 msg/s per partition at 10 ms
    ],
)
def test_keep_up(rate: float, ms: float, partitions: int, consumers: int, parallel: int) -> None:
    s = solutions.keep_up(rate, ms, partitions)
    assert (s.consumers, s.parallel) == (consumers, parallel)
    assert s.rate == rate and s.processing_ms == ms and s.partitions == partitions
    capacity = kafkabp.group_capacity(s.consumers, partitions, ms / 1000) * s.parallel
    assert capacity > rate  # it keeps up, by the model
    if s.parallel > 1:
        assert s.keys == "uniform"  # threads work on different keys only if there are keys


def test_the_docstring_examples() -> None:
    assert doctest.testmod(solutions).failed == 0

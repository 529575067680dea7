"""The solution to lesson 17's exercise: bounded calls and bounded tasks, results in order, errors not swallowed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _solutions import load_solution

import kafkabp

solutions = load_solution("solutions_17")


@pytest.mark.parametrize(("messages", "limit"), [(2_000, 8), (10, 8), (1, 1), (100, 100), (100, 1_000), (0, 3)])
def test_process_all_bounds_calls_and_tasks_and_keeps_the_order(messages: int, limit: int) -> None:
    report = kafkabp.probe_bounded(solutions.process_all, messages=messages, limit=limit, latency=0.001)
    assert report["in_order"] and report["calls"] == messages, report
    assert report["calls_at_once"] == min(messages, limit), report  # the whole bound used, never passed
    assert report["tasks_at_once"] <= min(messages, limit), report


def test_the_gather_answer_bounds_the_calls_but_not_the_tasks() -> None:
    report = kafkabp.probe_bounded(solutions.process_all_gather, messages=2_000, limit=8)
    assert report["in_order"] and report["calls_at_once"] == 8
    assert report["tasks_at_once"] == 2_000  # a task per message: what lesson 17's Check refuses


def test_eight_at_once_take_an_eighth_of_the_time() -> None:
    report = kafkabp.probe_bounded(solutions.process_all, messages=400, limit=8, latency=0.005)
    assert report["seconds"] < 400 * 0.005 / 8 * 3, report  # 0.25 s of calls in turn; not one at a time (2 s)


def test_a_failing_call_fails_the_whole_and_stops_the_other_workers() -> None:
    started: list[int] = []

    async def call(m: int) -> int:
        started.append(m)
        await asyncio.sleep(0.001)
        if m == 5:
            raise RuntimeError("the service answered 500")
        return m

    async def run() -> Any:
        with pytest.raises(RuntimeError, match="500"):
            await solutions.process_all(range(1_000), call, 4)
        await asyncio.sleep(0.01)
        return len(asyncio.all_tasks())

    assert asyncio.run(run()) == 1 and len(started) < 50  # only the main task is left; the rest never started


def test_nonsense_limits_are_refused() -> None:
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="limit"):
            asyncio.run(solutions.process_all([1], asyncio.sleep, bad))

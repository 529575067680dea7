"""Solutions to the exercise of lesson 17, "Async consumers".

Exercise (≈ 10 min): bound the calls, then bound the tasks.
    Write ``async def process_all(messages, call, limit)``: await ``call(m)`` for every message, at most ``limit``
    calls at once, and return the results in the messages' order.

Two answers. ``process_all_gather`` is the one most people write first: a semaphore around each call and
``asyncio.gather`` over all of them. It bounds the *calls*, but ``gather`` makes a task per message at once, so the
tasks (and their memory) still grow with the number of messages: section 3's unbounded consumer, with a semaphore
inside. ``process_all`` starts ``limit`` worker tasks that take the messages in turn: at most ``limit`` calls and
``limit`` tasks, whatever the number of messages. That is what kafkabp's bounded consumer does, one step further:
it takes a permit *before* it creates a task and fetches no more than it may start.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Iterable


async def process_all_gather(messages: Iterable[Any], call: Callable[[Any], Awaitable[Any]], limit: int) -> list[Any]:
    """At most ``limit`` calls at once, but a task per message: bounded calls, unbounded tasks."""
    _check(limit)
    gate = asyncio.Semaphore(limit)

    async def one(m: Any) -> Any:
        async with gate:
            return await call(m)

    return list(await asyncio.gather(*(one(m) for m in messages)))


async def process_all(messages: Iterable[Any], call: Callable[[Any], Awaitable[Any]], limit: int) -> list[Any]:
    """At most ``limit`` calls and ``limit`` tasks at once: workers take the messages in turn; results in order."""
    _check(limit)
    items = list(enumerate(messages))
    results: list[Any] = [None] * len(items)
    todo = iter(items)

    async def worker() -> None:
        for i, m in todo:  # one shared iterator: each message goes to exactly one worker
            results[i] = await call(m)

    workers = [asyncio.create_task(worker()) for _ in range(min(limit, len(items)))]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:  # one call failed (or we were cancelled): stop the others too
            w.cancel()
    return results


def _check(limit: Any) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a whole number of calls >= 1, got {limit!r}")

"""Flow control between a consumer's poll loop and a slow sink: an in-process buffer, and what to do when it fills.

A common design hands each fetched message to a sink (a database writer, an HTTP client) through a queue, so
the poll loop stays free. That only moves the backpressure: the queue is where it lands. Three answers
(lesson 09):

- ``Buffer(None)``: an unbounded queue. The poll loop never waits, the member stays in the group, and the
  queue (with the process's memory) grows at arrival minus sink rate until the process dies.
- ``Buffer(1_000, when_full="block")``: a bounded blocking queue. The poll loop waits for room before each
  hand-off; a whole fetched batch can keep it from calling ``poll`` for longer than ``max.poll.interval.ms``,
  and the client then leaves the group (eviction: a rebalance, and its uncommitted work is done again).
- ``Buffer(1_000, when_full="pause", resume_at=200)``: bounded, and the poll loop keeps polling. At the high
  watermark it ``pause()``s its partitions (fetching stops; ``poll`` still serves the group protocol), below
  ``resume_at`` it ``resume()``s them. The queue stays under its bound, the member stays, nothing is lost.

Offsets are committed only for what the sink finished (the contiguous processed prefix per partition), so a
crash or an eviction redelivers and never skips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

POLICIES = ("block", "pause")


@dataclass(frozen=True)
class Buffer:
    """An in-process queue between poll loop and sink: ``size`` messages at most (None: unbounded)."""

    size: int | None = 1_000
    when_full: str = "pause"  # "pause": pause()/resume() the partitions; "block": wait for room
    resume_at: int | None = None  # the low watermark for "pause" (default: half of size)

    def __post_init__(self) -> None:
        if self.size is not None and (not isinstance(self.size, int) or self.size < 1):
            raise ValueError(f"Buffer size must be a whole number of messages >= 1, or None for unbounded; "
                             f"got {self.size!r}")
        if self.when_full not in POLICIES:
            raise ValueError(f"when_full must be one of {POLICIES}, got {self.when_full!r}")
        if self.resume_at is not None:
            if self.when_full != "pause":
                raise ValueError("resume_at is the low watermark of when_full='pause'; remove it for 'block'")
            if self.size is None or not isinstance(self.resume_at, int) or not 0 <= self.resume_at < self.size:
                raise ValueError(f"resume_at must be a whole number in [0, size), got {self.resume_at!r} "
                                 f"for size {self.size!r}")

    @property
    def high(self) -> float:
        """The bound: at most this many messages wait in the buffer (inf: unbounded)."""
        return math.inf if self.size is None else float(self.size)

    @property
    def low(self) -> float:
        """Resume fetching once the buffer has drained to this many."""
        if self.size is None:
            return math.inf
        return float(self.resume_at if self.resume_at is not None else self.size // 2)

    def __str__(self) -> str:
        if self.size is None:
            return "unbounded buffer"
        if self.when_full == "block":
            return f"blocking buffer of {self.size:,}"
        return f"buffer of {self.size:,}, pause at {self.size:,}, resume at {int(self.low):,}"

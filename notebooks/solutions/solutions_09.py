"""Solutions to the exercises of lesson 09, "Pause and resume".

Exercise (≈ 10 min): choose the watermarks.
    ``choose_watermarks(memory_budget_bytes, message_bytes, sink_rate, refill_seconds, overhead=2.0)`` returns
    ``(size, resume_at)`` for ``kafkabp.Buffer(size, when_full="pause", resume_at=resume_at)``: the buffer fits
    the memory budget, and the low watermark keeps the sink busy while the consumer refills after ``resume()``.

Bonus: ``verify(...)`` runs a flow-controlled consumer with those watermarks on the broker and returns its Result.
"""

from __future__ import annotations

import math

import kafkabp


def choose_watermarks(memory_budget_bytes: float, message_bytes: float, sink_rate: float, refill_seconds: float,
                      overhead: float = 2.0) -> tuple[int, int]:
    """(size, resume_at) in messages.

    - ``size``: what fits in the budget when each message costs ``message_bytes × overhead`` in memory (Python's
      objects and librdkafka's bookkeeping come on top of the payload), rounded down;
    - ``resume_at``: ``sink_rate × refill_seconds``, rounded up: the sink's work while the first fetch after
      ``resume()`` travels (a round trip, plus ``fetch.wait.max.ms`` if the broker waits for data).

    A budget that holds no more than ``resume_at`` messages would starve the sink on every refill: refused.
    """
    for name, value in (("memory_budget_bytes", memory_budget_bytes), ("message_bytes", message_bytes),
                        ("sink_rate", sink_rate), ("overhead", overhead)):
        if not value > 0 or not math.isfinite(value):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not refill_seconds >= 0 or not math.isfinite(refill_seconds):
        raise ValueError(f"refill_seconds must be >= 0, got {refill_seconds!r}")
    size = int(memory_budget_bytes // (message_bytes * overhead))
    resume_at = math.ceil(sink_rate * refill_seconds - 1e-9)  # 0.1 × 300 is 30.000000000000004 in floats
    if size <= resume_at:
        raise ValueError(f"a budget of {memory_budget_bytes:,.0f} bytes holds {size:,} messages, no more than the "
                         f"{resume_at:,} the sink needs while refilling: give the buffer more memory, or refill faster "
                         "(a lower fetch.wait.max.ms)")
    return size, resume_at


def verify(memory_budget_bytes: float = 10_000_000, message_size: int = 10_000, sink_seconds: float = 0.02,
           rate: float = 500, duration: float = 12.0, progress: bool = False) -> tuple[tuple[int, int], kafkabp.Result]:
    """Run a sink ``rate × sink_seconds`` times slower than the producer behind a buffer with the chosen watermarks."""
    size, resume_at = choose_watermarks(memory_budget_bytes, message_size, 1 / sink_seconds, 0.5)
    group = kafkabp.Group(buffer=kafkabp.Buffer(size, when_full="pause", resume_at=resume_at),
                          config={"max.poll.interval.ms": 6_000})
    r = kafkabp.run_experiment(duration, rate=rate, consumers=1, partitions=2, processing=kafkabp.fixed(sink_seconds),
                               producer=kafkabp.Producer(message_size=message_size), group=group, progress=progress,
                               label=f"watermarks {size} / {resume_at}")
    return (size, resume_at), r

"""Key-ordered parallel processing inside one consumer, the design of Confluent's Parallel Consumer.

A group member fetches as usual and hands each message to one of ``k`` threads chosen by its key,
so messages with the same key are processed one after another, in order, while different keys run
at once: a single partition can then use ``k`` times one thread's capacity (for I/O-bound work;
CPU-bound Python holds the GIL, so threads do not add capacity there, processes would).

Offsets are committed only up to the first message of each partition that is not done yet (the
contiguous processed prefix), so stopping or crashing mid-run loses nothing: whatever was not
committed is delivered again (at-least-once). Messages without a key have no order to keep and go
to the threads in turn.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections import deque
from typing import Any, Callable

from kafkabp.ledger import HEADER_SIZE

_STOP = object()


class KeyOrderedPool:
    """``k`` threads; one key always goes to the same thread (FIFO), so per-key order is kept."""

    def __init__(self, k: int, process: Callable[[Any], bool], name: str, max_in_flight: int | None = None) -> None:
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"parallel must be a whole number of threads >= 1, got {k!r}")
        self.k, self.process = k, process
        self.max_in_flight = max_in_flight or max(1000, 200 * k)
        self._queues: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in range(k)]
        self.completed: queue.SimpleQueue[tuple[Any, bool, float]] = queue.SimpleQueue()
        self._turn = itertools.count()
        self.in_flight = 0  # submitted, not yet reported back (only the consumer thread changes it)
        self.in_flight_bytes = 0  # their values' bytes
        self.skip: set[int] = set()  # partitions revoked: their queued messages are not processed
        self.stopping = False
        self.order = OrderCheck()  # a key's sequence number going backwards within one assignment
        self.cpu_seconds = 0.0  # the threads' CPU time, summed as each ends
        self._cpu_lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(q,), name=f"kafkabp-{name}-p{i}", daemon=True)
                         for i, q in enumerate(self._queues)]
        for t in self._threads:
            t.start()

    def submit(self, msg: Any) -> None:
        key = msg.key()
        i = hash(key) % self.k if key is not None else next(self._turn) % self.k
        self.in_flight += 1
        self.in_flight_bytes += len(msg.value() or b"")
        self._queues[i].put(msg)

    def _run(self, q: "queue.SimpleQueue[Any]") -> None:
        cpu0 = time.thread_time()
        while True:
            msg = q.get()
            if msg is _STOP:
                with self._cpu_lock:
                    self.cpu_seconds += time.thread_time() - cpu0
                return
            if self.stopping or msg.partition() in self.skip:
                self.completed.put((msg, False, 0.0))
                continue
            try:
                ok = self.process(msg)  # False: interrupted by a stop, not processed
            except BaseException as exc:  # reported to the consumer thread, which stops the member
                self.completed.put((msg, False, 0.0))
                self.completed.put((exc, False, 0.0))
                continue
            if ok:
                self.order.see(msg.key(), msg.value())
            self.completed.put((msg, ok, time.time()))

    @property
    def order_violations(self) -> int:
        return self.order.violations

    def forget_order(self) -> None:
        """A rebalance: partitions may come back from their committed offsets, so order restarts."""
        self.order.forget()

    def close(self, timeout: float = 5.0) -> None:
        self.stopping = True
        for q in self._queues:
            q.put(_STOP)
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))


class OrderCheck:
    """Counts per-key order violations: a key's sequence number (kafkabp's header) going backwards."""

    def __init__(self) -> None:
        self.violations = 0
        self._last_seq: dict[bytes, int] = {}

    def see(self, key: bytes | None, value: bytes | None) -> None:
        """A message processed: its key and value (messages without a key or header have no order to keep)."""
        if key is None or value is None or len(value) < HEADER_SIZE:
            return
        seq = int.from_bytes(value[4:12], "big")
        last = self._last_seq.get(key)
        if last is not None and seq < last:
            self.violations += 1
        self._last_seq[key] = seq

    def forget(self) -> None:
        """A rebalance: partitions may come back from their committed offsets, so order restarts."""
        self._last_seq.clear()


class PrefixTracker:
    """Per partition, the offsets handed out in order and those done; commits the contiguous done prefix."""

    def __init__(self) -> None:
        self.handed: dict[int, deque[int]] = {}
        self.done: dict[int, set[int]] = {}

    def handed_out(self, partition: int, offset: int) -> None:
        self.handed.setdefault(partition, deque()).append(offset)

    def finished(self, partition: int, offset: int) -> None:
        self.done.setdefault(partition, set()).add(offset)

    def advance(self) -> dict[int, int]:
        """Partitions whose committable offset moved: {partition: next offset to read}."""
        moved = {}
        for p, handed in self.handed.items():
            done = self.done.get(p, set())
            last = None
            while handed and handed[0] in done:
                last = handed.popleft()
                done.discard(last)
            if last is not None:
                moved[p] = last + 1
        return moved

    def forget(self, partitions: set[int]) -> None:
        for p in partitions:
            self.handed.pop(p, None)
            self.done.pop(p, None)

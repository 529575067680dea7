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
from typing import Any, Callable, NamedTuple

from kafkabp.ledger import HEADER_SIZE, MAGIC

_STOP = object()
REPORT_EVERY = 0.01  # seconds: a pool thread reports finished messages at least this often within a batch


class Finished(NamedTuple):
    """What a pool thread hands back: messages of one partition, in the order it took them."""

    partition: int
    done: list[Any]  # processed
    at: list[float]  # when each of ``done`` finished (time.time())
    skipped: list[Any]  # not processed: stopping, revoked, interrupted, or after a handler's error


def in_flight_bound(k: int) -> int:
    """The pool's default bound on messages in flight (handed over, not finished) with ``k`` threads."""
    return max(1000, 200 * k)


def by_partition(msgs: list[Any]) -> list[tuple[int, list[Any]]]:
    """``msgs`` split by partition, each part in the original order (one part, the usual case, costs no copy)."""
    parts = [m.partition() for m in msgs]
    if not parts or parts.count(parts[0]) == len(parts):
        return [(parts[0], msgs)] if parts else []
    split: dict[int, list[Any]] = {}
    for p, m in zip(parts, msgs):
        split.setdefault(p, []).append(m)
    return list(split.items())


class KeyOrderedPool:
    """``k`` threads; one key always goes to the same thread (FIFO), so per-key order is kept."""

    def __init__(self, k: int, process: Callable[[Any], bool], name: str, max_in_flight: int | None = None) -> None:
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"parallel must be a whole number of threads >= 1, got {k!r}")
        self.k, self.process = k, process
        self.max_in_flight = max_in_flight or in_flight_bound(k)
        self._queues: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in range(k)]
        self.completed: queue.SimpleQueue[Finished | BaseException] = queue.SimpleQueue()  # or a handler's error
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
        """One message to its key's thread (:meth:`submit_all` hands a whole batch over more cheaply)."""
        self.submit_all([msg])

    def submit_all(self, msgs: list[Any], partition: int | None = None) -> None:
        """Messages to their keys' threads, in order: one hand-off per thread and partition, not one per message
        (a thread-safe queue put wakes a thread; for cheap processing that hand-off was most of the cost).
        ``partition``: all of ``msgs`` are of this partition (the caller split them; else they are split here)."""
        if partition is None:
            for p, part in by_partition(msgs):
                self.submit_all(part, p)
            return
        k, turn = self.k, self._turn
        batches: list[list[Any]] = [[] for _ in range(k)]
        values = []
        for m in msgs:
            key = m.key()
            batches[hash(key) % k if key is not None else next(turn) % k].append(m)
            values.append(m.value())
        self.in_flight += len(msgs)
        self.in_flight_bytes += sum(map(len, filter(None, values)))
        for q, batch in zip(self._queues, batches):
            if batch:
                q.put((partition, batch))

    def _run(self, q: "queue.SimpleQueue[Any]") -> None:
        """Process each batch in order; report what finished at least every ``REPORT_EVERY`` s, so that commits
        and latencies follow slow work message by message while cheap work is reported a batch at a time."""
        cpu0 = time.thread_time()
        process, now, every = self.process, time.time, REPORT_EVERY  # one wall-clock read per message, for both
        while True:
            item = q.get()
            if item is _STOP:
                with self._cpu_lock:
                    self.cpu_seconds += time.thread_time() - cpu0
                return
            p, batch = item
            done: list[Any] = []
            at: list[float] = []
            skipped: list[Any] = []
            reported = now()
            for i, msg in enumerate(batch):
                if self.stopping or p in self.skip:
                    skipped.append(msg)
                    continue
                try:
                    ok = process(msg)  # False: interrupted by a stop, not processed
                except BaseException as exc:  # reported to the consumer thread, which stops the member
                    self._report(Finished(p, done, at, skipped + batch[i:]))
                    self.completed.put(exc)
                    done, skipped = [], []
                    break
                t = now()
                if ok:
                    done.append(msg)
                    at.append(t)
                else:
                    skipped.append(msg)
                if t - reported >= every:  # (a wall clock set back only delays this to the batch's end)
                    self._report(Finished(p, done, at, skipped))
                    done, at, skipped, reported = [], [], [], t
            if done or skipped:
                self._report(Finished(p, done, at, skipped))

    def _report(self, finished: Finished) -> None:
        """Hand finished messages back to the consumer thread, their keys' order checked first."""
        self.order.see_all(finished.done)
        self.completed.put(finished)

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
    """Counts per-key order violations: a key's sequence number (kafkabp's header) going backwards.

    Per producer and key: two producers writing one key (a backlog, then the rate producer) have no order between
    them, and each numbers its messages from 0.
    """

    def __init__(self) -> None:
        self.violations = 0  # added to under a lock: the pool's threads share one check (each key on one thread)
        self._count_lock = threading.Lock()
        # per (producer id, key): its last sequence number, 8 bytes big-endian (as bytes, it orders as the number)
        self._last_seq: dict[tuple[bytes, bytes], bytes] = {}

    def see(self, key: bytes | None, value: bytes | None) -> None:
        """A message processed: its key and value (messages without a key or header have no order to keep)."""
        if key is None or value is None or len(value) < HEADER_SIZE or value[:2] != MAGIC:
            return
        seq = value[4:12]
        writer_key = (value[2:4], key)
        last = self._last_seq.get(writer_key)
        if last is not None and seq < last:
            with self._count_lock:
                self.violations += 1
        self._last_seq[writer_key] = seq

    def see_all(self, msgs: list[Any]) -> None:
        """Messages processed, in the order they were (what :meth:`see` does, a list at a time)."""
        last_seq, violations = self._last_seq, 0
        for m in msgs:
            key, value = m.key(), m.value()
            if key is None or value is None or len(value) < HEADER_SIZE or value[:2] != MAGIC:
                continue
            seq = value[4:12]
            writer_key = (value[2:4], key)
            last = last_seq.get(writer_key)
            if last is not None and seq < last:
                violations += 1
            last_seq[writer_key] = seq
        if violations:  # rare: the lock costs nothing in the usual case
            with self._count_lock:
                self.violations += violations

    def forget(self) -> None:
        """A rebalance: partitions may come back from their committed offsets, so order restarts."""
        self._last_seq.clear()


class PrefixTracker:
    """Per partition, the offsets handed out in order and those done; commits the contiguous done prefix.

    Offsets are kept in runs, one per hand-over (:meth:`handed_out_all`): a run whose offsets are all done is passed
    by one set operation, so the cost per message is a few C-level steps, not Python ones."""

    def __init__(self) -> None:
        self.handed: dict[int, deque[list[Any]]] = {}  # per partition: [offsets of one hand-over, how many passed]
        self.done: dict[int, set[int]] = {}  # done, not yet passed by the prefix

    def handed_out(self, partition: int, offset: int) -> None:
        self.handed_out_all(partition, [offset])

    def handed_out_all(self, partition: int, offsets: list[int]) -> None:
        """Offsets of ``partition`` handed out, ascending, after all those handed out before."""
        if offsets:
            self.handed.setdefault(partition, deque()).append([offsets, 0])

    def finished(self, partition: int, offset: int) -> None:
        self.done.setdefault(partition, set()).add(offset)

    def finished_all(self, partition: int, offsets: list[int]) -> None:
        self.done.setdefault(partition, set()).update(offsets)

    def advance(self) -> dict[int, int]:
        """Partitions whose committable offset moved: {partition: next offset to read}."""
        moved = {}
        for p, runs in self.handed.items():
            done = self.done.get(p)
            last = None
            while runs and done:
                run = runs[0]
                offsets, passed = run
                rest = offsets[passed:] if passed else offsets
                if done.issuperset(rest):  # the whole run is done (stops at the first offset that is not)
                    done.difference_update(rest)
                    last = offsets[-1]
                    runs.popleft()
                    continue
                i = passed
                while offsets[i] in done:  # part of it: up to the first offset not done
                    i += 1
                if i > passed:
                    done.difference_update(offsets[passed:i])
                    last, run[1] = offsets[i - 1], i
                break
            if last is not None:
                moved[p] = last + 1
        return moved

    def forget(self, partitions: set[int]) -> None:
        for p in partitions:
            self.handed.pop(p, None)
            self.done.pop(p, None)

"""A consumer group member that processes with a pool of key-ordered threads: the consume loop that hands each
batch to the threads (per partition, in order), collects what they finished, moves each partition's committable
contiguous prefix, and pauses and resumes its partitions at a :class:`~kafkabp.workload.flow.Buffer`'s watermarks.

:class:`~kafkabp.workload.consumer.Worker` is one, and runs this loop when its group has ``parallel`` > 1 or a
``buffer``; it writes how a member reads and commits (``consumer``, ``pending``, :meth:`PoolMember._good`,
:meth:`PoolMember._commit`).
"""

from __future__ import annotations

import collections
import math
import queue
import threading
import time
from typing import Any

from kafkabp.ledger import HEADER_SIZE
from kafkabp.workload.flow import Buffer
from kafkabp.workload.group import Member
from kafkabp.workload.parallel import KeyOrderedPool, PrefixTracker, by_partition
from kafkabp.workload.processing import spin_cpu


class PoolMember(Member):
    """A member's key-ordered pool and its bookkeeping (a subclass writes how it reads and commits)."""

    consumer: Any  # its Kafka client, made in the subclass's ``_loop``
    pending: dict[tuple[str, int], int]  # per partition, the next offset to commit

    def __init__(self, group: Any, index: int) -> None:
        super().__init__(group, index)
        self.pool: KeyOrderedPool | None = None  # with parallel > 1: key-ordered threads
        self.tracker: PrefixTracker | None = None
        self._in_flight: collections.Counter[int] = collections.Counter()
        self._pool_clock = threading.local()  # each pool thread's running deadline
        self.paused = False  # flow control: its partitions are paused because the buffer is full

    def _good(self, msgs: list[Any]) -> list[Any]:
        """The messages without errors (the subclass writes it)."""
        raise NotImplementedError

    def _commit(self, asynchronous: bool, only: set[tuple[str, int]] | None = None) -> None:
        """Commit the pending offsets (the subclass writes it)."""
        raise NotImplementedError

    @property
    def in_flight(self) -> int:
        """Messages handed to its pool (its buffer) and not finished: 0 without one."""
        return self.pool.in_flight if self.pool is not None else 0

    @property
    def in_flight_bytes(self) -> int:
        return self.pool.in_flight_bytes if self.pool is not None else 0

    def _process_one(self, msg: Any) -> bool:
        """One message on a pool thread: the processing model, or real code; False if stopped first."""
        proc = self.group.processing
        if proc.fn is None and proc.seconds <= 0:  # free processing (sample() would return 0, spin_cpu do nothing)
            return True
        if proc.fn is not None:
            payload = (msg.value() or b"")[HEADER_SIZE:]
            proc.fn(payload if proc.kind == "handler" else [payload])
            return True
        seconds = proc.sample(self.rng)
        if proc.kind == "cpu":
            spin_cpu(seconds)
            return True
        if seconds <= 0:
            return True
        # A running deadline per thread, as the one-thread path keeps: a late wake-up is made up on the
        # next message (credit of at most one message's time, so an idle thread saves nothing up).
        clock, now = self._pool_clock, time.monotonic()
        clock.due = max(getattr(clock, "due", now), now - seconds) + seconds
        return not self.stop_event.wait(max(0.0, clock.due - now))

    def _collect(self, block: float = 0.0) -> None:
        """Take the pool's finished messages: count them, and move each partition's committable prefix."""
        pool, tracker = self.pool, self.tracker
        assert pool is not None and tracker is not None
        done: list[Any] = []
        finished: list[float] = []
        values: list[bytes | None] = []
        took = False
        while True:
            try:
                got = pool.completed.get(timeout=block) if block and not took else pool.completed.get_nowait()
            except queue.Empty:
                break
            if isinstance(got, BaseException):
                raise got
            took = True
            p, ok, at, skipped = got
            n = len(ok) + len(skipped)
            pool.in_flight -= n
            self._in_flight[p] -= n
            if skipped:
                pool.in_flight_bytes -= sum(map(len, filter(None, [m.value() for m in skipped])))
            if ok:
                vals = [m.value() for m in ok]
                pool.in_flight_bytes -= sum(map(len, filter(None, vals)))
                tracker.finished_all(p, [m.offset() for m in ok])
                done += ok
                finished += at
                values += vals
        for p, offset in tracker.advance().items():
            self.pending[(self.group.topic, p)] = offset
        if done:
            self._done(len(done))
            self.group._record_latencies(done, finished)
            if self.group.ledger is not None:
                self.group.ledger.record(values)

    def _settle(self, partitions: set[int], timeout: float = 10.0) -> None:
        """Before giving partitions up: skip their queued messages, wait for those being processed."""
        assert self.pool is not None and self.tracker is not None
        self.pool.skip |= partitions
        deadline = time.monotonic() + timeout
        while any(self._in_flight[p] > 0 for p in partitions) and time.monotonic() < deadline:
            self._collect(block=0.05)
        self._collect()
        self.tracker.forget(partitions)

    def _run_parallel(self, g: Any) -> None:
        """The consume loop when a pool of ``g.parallel`` key-ordered threads processes (and with a ``Buffer``)."""
        bound = (g.buffer.high if g.buffer.size is not None else math.inf) if g.buffer is not None else None
        self.pool = pool = KeyOrderedPool(g.parallel, self._process_one, self.name, max_in_flight=bound)
        self.tracker = PrefixTracker()
        buf = g.buffer
        last_commit = time.monotonic()
        while not self.stop_event.is_set():
            self._collect()
            room = g.batch_size
            if buf is None and pool.in_flight >= pool.max_in_flight:  # enough work queued: let the threads catch up
                self._collect(block=0.05)
                continue
            if buf is not None and buf.when_full == "pause":
                self._flow_control(buf)
                room = int(min(room, max(0.0, buf.high - pool.in_flight)))  # never past the bound
            timeout = 0.02 if self.paused else 0.1  # paused: look again soon whether to resume
            msgs = self.consumer.consume(num_messages=max(1, room), timeout=timeout)  # paused: serves the group
            good = self._good(msgs)
            if buf is not None and buf.when_full == "block":
                for m in good:  # a blocking put, message by message
                    while pool.in_flight >= buf.high and not self.stop_event.is_set():
                        self._collect(block=0.05)
                    self._hand_over([m])
            elif good:
                self._hand_over(good)  # a whole batch: one hand-off per pool thread
            if time.monotonic() - last_commit >= g.commit_interval:
                self._commit(asynchronous=True)
                last_commit = time.monotonic()
        pool.stopping = True  # queued messages are skipped; those being processed finish or stop
        self._settle(set(self._in_flight))

    def _hand_over(self, msgs: list[Any]) -> None:
        """Messages to the pool, each partition's offsets noted in order for the contiguous-prefix commit."""
        assert self.pool is not None and self.tracker is not None
        for p, part in by_partition(msgs):
            self.tracker.handed_out_all(p, [m.offset() for m in part])
            self._in_flight[p] += len(part)
            self.pool.submit_all(part, p)
        self.peak_buffered = max(self.peak_buffered, self.pool.in_flight)

    def _flow_control(self, buf: Buffer) -> None:
        """Pause the assigned partitions at the high watermark, resume them at the low one."""
        assert self.pool is not None
        queued = self.pool.in_flight
        if not self.paused and queued >= buf.high:
            self.consumer.pause(self.consumer.assignment())
            self.paused = True
            self.group.events.add("pause", self.name, f"{queued:,} buffered")
        elif self.paused and queued <= buf.low:
            self.consumer.resume(self.consumer.assignment())
            self.paused = False
            self.group.events.add("resume", self.name, f"{queued:,} buffered")
        elif self.paused:  # a rebalance may have assigned partitions since: they start unpaused
            self.consumer.pause(self.consumer.assignment())

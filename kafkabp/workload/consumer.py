"""A consumer group of thread workers, each processing with a model; commits after processing."""

from __future__ import annotations

import collections
import json
import logging
import math
import queue
import re
import threading
import time
from typing import Any, Mapping

from confluent_kafka import Consumer, KafkaError, TopicPartition

from kafkabp.infra.broker import client_config
from kafkabp.infra.paths import rdkafka_log
from kafkabp.ledger import HEADER_SIZE, Ledger
from kafkabp.registry import park
from kafkabp.workload.base import EventLog, check_client_config
from kafkabp.workload.flow import Buffer
from kafkabp.workload.group import Member, MemberGroup
from kafkabp.workload.parallel import KeyOrderedPool, PrefixTracker
from kafkabp.workload.processing import Processing, spin_cpu


class Worker(Member):
    """One group member: its own Consumer in its own thread.

    ``client_type`` makes its client from its settings (confluent-kafka's Consumer; a measurement without a broker
    puts a stand-in there, in a subclass it sets as the group's ``member_type``)."""

    suffix = "c"
    client_type: Any = Consumer

    def __init__(self, group: "ConsumerGroup", index: int) -> None:
        super().__init__(group, index)
        self.group: ConsumerGroup = group
        self.pending: dict[tuple[str, int], int] = {}
        self.committed: dict[tuple[str, int], int] = {}
        self.pool: KeyOrderedPool | None = None  # with parallel > 1: key-ordered threads
        self.tracker: PrefixTracker | None = None
        self._in_flight: collections.Counter[int] = collections.Counter()
        self._pool_clock = threading.local()  # each pool thread's running deadline
        self.paused = False  # flow control: its partitions are paused because the buffer is full

    @property
    def in_flight(self) -> int:
        """Messages handed to its pool (its buffer) and not finished: 0 without one."""
        return self.pool.in_flight if self.pool is not None else 0

    @property
    def in_flight_bytes(self) -> int:
        return self.pool.in_flight_bytes if self.pool is not None else 0

    def _conf(self) -> dict[str, Any]:
        g = self.group
        conf: dict[str, Any] = {**client_config(), **g.settings(), "client.id": self.name, "logger": _MemberLog(self)}
        if self.instance_id is not None:  # static membership: its slot's stable id (Group(static=True))
            conf["group.instance.id"] = self.instance_id
        conf["throttle_cb"] = self._on_throttle  # a broker quota (consumer_byte_rate) slowing this member
        conf["on_commit"] = self._on_commit  # asynchronous commits the broker rejected (e.g. after an eviction)
        if g.stats_interval_ms:
            conf.update({"statistics.interval.ms": g.stats_interval_ms, "stats_cb": self._on_stats})
        conf.update(g.config)
        return conf

    def _on_commit(self, err: Any, partitions: list[TopicPartition]) -> None:
        if err is not None:
            self.group.events.add("commit_failed", self.name, str(err)[:200])

    def _on_throttle(self, event: Any) -> None:
        self.group.events.add("throttle", self.name, f"{event.broker_name}: {event.throttle_time * 1000:.0f} ms")

    def _on_stats(self, raw: str) -> None:
        self.stats = json.loads(raw)

    def _commit(self, asynchronous: bool, only: set[tuple[str, int]] | None = None) -> None:
        items = [(tp, off) for tp, off in self.pending.items() if only is None or tp in only]
        if not items or (self.group.abandoned and not asynchronous):  # no broker: a commit would wait in vain
            return
        stamp = f"kafkabp:{time.time():.3f}"  # the commit's time, so a re-commit is visible as one
        offsets = [TopicPartition(t, p, off, metadata=stamp) for (t, p), off in items]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=asynchronous)
            self.committed.update(items)
        except Exception as exc:  # e.g. a partition already revoked: redelivered, at-least-once
            self.group.events.add("commit_failed", self.name, str(exc)[:200])
        for tp, _ in items:
            self.pending.pop(tp, None)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        got = {(tp.topic, tp.partition) for tp in partitions}
        self.owned |= got
        if self.pool is not None:
            self.pool.skip -= {p for _, p in got}
            self.pool.forget_order()
        self.group.events.add("assign", self.name, _fmt(got))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        if self.pool is not None:
            self._settle({p for _, p in gone})
        self._commit(asynchronous=False, only=gone)  # hand over processed offsets before losing them
        self.owned -= gone
        self.group.events.add("revoke", self.name, _fmt(gone))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        if self.pool is not None:
            self._settle({p for _, p in gone})
        for tp in gone:
            self.pending.pop(tp, None)
        self.owned -= gone
        self.group.events.add("lost", self.name, _fmt(gone))

    # ---------------------------------------------------------------- key-ordered parallel processing
    def _process_one(self, msg: Any) -> bool:
        """One message on a pool thread: the processing model, or real code; False if stopped first."""
        proc = self.group.processing
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
        done, finished = [], []
        while True:
            try:
                item, ok, at = pool.completed.get(timeout=block) if block and not done else pool.completed.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, BaseException):
                raise item
            pool.in_flight -= 1
            pool.in_flight_bytes -= len(item.value() or b"")
            self._in_flight[item.partition()] -= 1
            if ok:
                tracker.finished(item.partition(), item.offset())
                done.append(item)
                finished.append(at)
        for p, offset in tracker.advance().items():
            self.pending[(self.group.topic, p)] = offset
        if done:
            self._done(len(done))
            self.group._record_latencies(done, finished)
            if self.group.ledger is not None:
                self.group.ledger.record([m.value() for m in done])

    def _settle(self, partitions: set[int], timeout: float = 10.0) -> None:
        """Before giving partitions up: skip their queued messages, wait for those being processed."""
        assert self.pool is not None and self.tracker is not None
        self.pool.skip |= partitions
        deadline = time.monotonic() + timeout
        while any(self._in_flight[p] > 0 for p in partitions) and time.monotonic() < deadline:
            self._collect(block=0.05)
        self._collect()
        self.tracker.forget(partitions)

    def _run_parallel(self, g: "ConsumerGroup") -> None:
        """The consume loop when a pool of ``g.parallel`` key-ordered threads processes (and with a ``Buffer``)."""
        pool, buf = self.pool, g.buffer
        assert pool is not None and self.tracker is not None
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
            for m in self._good(msgs):
                if buf is not None and buf.when_full == "block":
                    while pool.in_flight >= buf.high and not self.stop_event.is_set():  # a blocking put
                        self._collect(block=0.05)
                self.tracker.handed_out(m.partition(), m.offset())
                self._in_flight[m.partition()] += 1
                pool.submit(m)
                self.peak_buffered = max(self.peak_buffered, pool.in_flight)
            if time.monotonic() - last_commit >= g.commit_interval:
                self._commit(asynchronous=True)
                last_commit = time.monotonic()
        pool.stopping = True  # queued messages are skipped; those being processed finish or stop
        self._settle(set(self._in_flight))

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

    def _sleep_until(self, deadline: float) -> bool:
        """Sleep until ``deadline`` in short steps; False if asked to stop meanwhile.

        With ``commit_while_busy`` the worker re-commits its last offsets every ``commit_interval`` while it
        sleeps, as the Java client's auto-commit does from a poll loop that retries a message.
        """
        g = self.group
        last = time.monotonic()
        while True:
            now = time.monotonic()
            left = deadline - now
            if left <= 0:
                return True
            if g.commit_while_busy and now - last >= g.commit_interval:
                self.pending.update({tp: off for tp, off in self.committed.items() if tp in self.owned
                                     and tp not in self.pending})
                self._commit(asynchronous=True)
                last = now
            if self.stop_event.wait(min(left, 0.1)):
                return False

    def _loop(self) -> None:
        g = self.group
        self.consumer = self.client_type(self._conf())
        self.consumer.subscribe([g.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)
        if g.parallel > 1 or g.buffer is not None:
            bound = (g.buffer.high if g.buffer.size is not None else math.inf) if g.buffer is not None else None
            self.pool = KeyOrderedPool(g.parallel, self._process_one, self.name, max_in_flight=bound)
            self.tracker = PrefixTracker()
            self._run_parallel(g)
        last_commit = time.monotonic()
        busy_until = time.monotonic()
        while not self.stop_event.is_set():
            msgs = self.consumer.consume(num_messages=g.batch_size, timeout=0.1)
            proc = g.processing
            now = time.monotonic()
            if msgs and proc.per_batch:
                busy_until = max(busy_until, now) + proc.per_batch
                if not self._sleep_until(busy_until):
                    break
            busy_until = max(busy_until, time.monotonic())
            if proc.fn is not None:
                self._process_with_handler(msgs, proc)
            elif proc.seconds > 0:
                if not self._process_each(msgs, busy_until):
                    break
                busy_until = max(busy_until, time.monotonic())
            else:
                self._process_batch(msgs)
            if time.monotonic() - last_commit >= g.commit_interval:
                self._commit(asynchronous=True)
                last_commit = time.monotonic()

    def _good(self, msgs: list[Any]) -> list[Any]:
        return good_messages(msgs, self.group.events, self.name)

    def _process_batch(self, msgs: list[Any]) -> None:
        """Free processing: the fast path, as close to a plain ``consume()`` loop as bookkeeping allows."""
        good = self._good(msgs)
        topic, owned = self.group.topic, len(self.owned) or len(good)  # one topic per group
        seen: set[int] = set()
        for m in reversed(good):  # the last message of each partition; a batch is often one partition
            p = m.partition()
            if p not in seen:
                seen.add(p)
                self.pending[(topic, p)] = m.offset() + 1
                if len(seen) >= owned:
                    break
        if good:
            self._done(len(good))
        self.group._record_latencies(good, time.time())
        if self.group.ledger is not None and good:
            self.group.ledger.record([m.value() for m in good])

    def _process_each(self, msgs: list[Any], busy_until: float) -> bool:
        """Spend each message's processing time (sleeping, or spinning for ``cpu``); False if stopped.

        The model is read again for every message, so a slider's change applies at the next message.
        """
        done: list[Any] = []
        finished: list[float] = []
        ok = True
        for m in self._good(msgs):
            proc = self.group.processing
            seconds = proc.sample(self.rng)
            if proc.kind == "cpu":
                spin_cpu(seconds)
                busy_until = time.monotonic()
            elif not self._sleep_until(busy_until := busy_until + seconds):
                ok = False
                break
            self.pending[(m.topic(), m.partition())] = m.offset() + 1
            self._done(1)
            done.append(m)
            finished.append(time.time())
        self.group._record_latencies(done, finished)
        if self.group.ledger is not None and done:
            self.group.ledger.record([m.value() for m in done])
        return ok

    def _process_with_handler(self, msgs: list[Any], proc: Processing) -> None:
        """Run real code: ``fn(payload)`` per message or ``fn(payloads)`` per batch (payload = value after the header)."""
        good = self._good(msgs)
        if not good:
            return
        values = [m.value() for m in good]
        if proc.kind == "batch_handler":
            proc.fn([v[HEADER_SIZE:] for v in values])  # type: ignore[misc]
        else:
            fn = proc.fn
            for v in values:
                fn(v[HEADER_SIZE:])  # type: ignore[misc]
        for m in good:
            self.pending[(m.topic(), m.partition())] = m.offset() + 1
        self._done(len(good))
        self.group._record_latencies(good, time.time())
        if self.group.ledger is not None:
            self.group.ledger.record(values)

    def _close(self) -> None:
        consumer = getattr(self, "consumer", None)
        if consumer is None:
            return
        try:
            self._commit(asynchronous=False)
        finally:
            if self.pool is not None:
                self.pool.close()
                self.group.order_violations += self.pool.order_violations
                self.pool_cpu_seconds = self.pool.cpu_seconds
            if self.group.abandoned:  # the broker is gone: close() could wait for it forever
                park(consumer)
            else:
                consumer.close()  # leaves the group, so the others take over at once
            self.group.events.add("left", self.name, "broker gone: not closed" if self.group.abandoned else "")


def good_messages(msgs: list[Any], events: EventLog, member: str) -> list[Any]:
    """The messages without errors; errors other than end-of-partition become ``member``'s events."""
    good = [m for m in msgs if m.error() is None]
    if len(good) != len(msgs):
        for m in msgs:
            err = m.error()
            if err is None or err.code() == KafkaError._PARTITION_EOF:
                continue
            if err.code() == KafkaError._MAX_POLL_EXCEEDED:  # the member left the group; it rejoins
                events.add("evicted", member, err.str())
            else:
                events.add("consume_error", member, err.str())
    return good


_OFFSET_RESET = re.compile(r"\[(\d+)\]: offset reset \(at offset (-?\d+)")


class _MemberLog:
    """librdkafka's log lines for one member: passed on to kafkabp's librdkafka logger, and an offset reset
    after an error recorded as an ``offset_reset`` event (member, "p0 at offset 6548: Offset out of range").

    When the next offset to fetch is no longer on the broker (retention deleted it), the fetch fails with
    OFFSET_OUT_OF_RANGE and librdkafka jumps to ``auto.offset.reset`` (kafkabp: earliest) by itself: the
    application gets no error (only ``auto.offset.reset=error`` raises ``_AUTO_OFFSET_RESET``), just this
    warning (librdkafka's rdkafka_offset.c, ``rd_kafka_offset_reset``). A ``logger`` in the group's config
    replaces this one, and then no event is recorded.
    """

    def __init__(self, worker: "Worker") -> None:
        self.worker = worker

    def log(self, level: int, fmt: str, *args: Any) -> None:
        rdkafka_log.log(level, fmt, *args)
        text = str(args[-1]) if args else str(fmt)
        if level >= logging.WARNING and "offset reset" in text:
            m = _OFFSET_RESET.search(text)
            where = f"p{m.group(1)} at offset {m.group(2)}: " if m else ""
            self.worker.group.events.add("offset_reset", self.worker.name, (where + text.rsplit(": ", 1)[-1])[:200])


def _fmt(parts: set[tuple[str, int]]) -> str:
    return ",".join(f"p{p}" for _, p in sorted(parts)) or "-"


class ConsumerGroup(MemberGroup):
    """N consumers in one group, each processing its messages with a :class:`Processing` model.

    Offsets are committed after processing (every ``commit_interval`` s and on revoke/stop): at-least-once,
    so a crash or rebalance may redeliver, never skip. ``scale(n)`` grows or shrinks the group live.
    ``commit_while_busy=True`` re-commits unchanged offsets while a worker is stuck on a message, as
    Java's auto-commit does: Burrow then calls it STALL (alive, not moving) instead of STOP.

    Workers are threads, not processes, on evidence: a worker waiting on I/O or ``sleep`` releases
    the GIL, and librdkafka fetches in its own C threads, so N sleeping workers give N times the
    capacity; CPU-bound Python work (``cpu()``) holds the GIL and does not scale with threads, which
    lesson 04 shows. Threads also start in milliseconds and stop cleanly on a kernel interrupt.
    """

    member_type = Worker

    def __init__(
        self,
        topic: str,
        group: str,
        consumers: int = 1,
        processing: Processing | None = None,
        *,
        batch_size: int = 500,
        protocol: str = "classic",
        commit_interval: float = 0.2,
        commit_while_busy: bool = False,
        config: Mapping[str, Any] | None = None,
        events: EventLog | None = None,
        ledger: Ledger | None = None,
        stats_interval_ms: int = 0,
        parallel: int = 1,
        buffer: Buffer | None = None,
        static: bool = False,
    ) -> None:
        if not isinstance(parallel, int) or parallel < 1:
            raise ValueError(f"parallel must be a whole number of threads per consumer >= 1, got {parallel!r}")
        if protocol not in ("classic", "consumer"):
            raise ValueError(f"protocol must be 'classic' or 'consumer' (KIP-848), got {protocol!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if config is not None and not isinstance(config, Mapping):
            raise TypeError(f"config must be a dict of consumer settings, e.g. {{'fetch.min.bytes': 1}}, got {config!r}")
        if buffer is not None and not isinstance(buffer, Buffer):
            raise TypeError(f"buffer must be a kafkabp.Buffer (e.g. Buffer(1_000, when_full='pause')), got {buffer!r}")
        self.topic, self.group, self.protocol = topic, group, protocol
        self.processing = processing or Processing()
        self.batch_size, self.commit_interval = batch_size, commit_interval
        self.commit_while_busy = commit_while_busy
        self.config = dict(config or {})
        self.events = events or EventLog()
        self.ledger = ledger  # counts what was processed, exactly (see kafkabp.ledger)
        self.stats_interval_ms = stats_interval_ms  # librdkafka statistics per member (fetch requests...)
        self.parallel = parallel  # > 1: each member processes with this many key-ordered threads
        self.buffer = buffer  # flow control: the poll loop hands messages to the processing threads through it
        self.order_violations = 0  # per-key order broken inside one assignment (parallel members only)
        self.static = static  # static membership (KIP-345): member slot i has group.instance.id "<group>-i"
        self._init_members(consumers)
        check_client_config("consumer", {**self.settings(), **self.config})

    def settings(self) -> dict[str, Any]:
        """Every member's librdkafka settings, before its client id, callbacks and the broker's address."""
        conf: dict[str, Any] = {"group.id": self.group, "enable.auto.commit": False,
                                "auto.offset.reset": "earliest", "group.protocol": self.protocol}
        # librdkafka waits fetch.queue.backoff.ms (1 s by default) before fetching again once its queue
        # held queued.min.messages; a reader that empties the queue sooner then sits idle for up to 1 s,
        # at random (benchmark (b) saw 0.8-3.5 s lost per run). 10 ms sends no more fetches, only looks sooner.
        conf["fetch.queue.backoff.ms"] = 10
        if self.protocol == "classic":
            conf.update({"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000})
        return conf

    @property
    def checks_order(self) -> bool:
        """Whether per-key order is counted (``order_violations``): with key-ordered threads (``parallel`` > 1)."""
        return self.parallel > 1

    @property
    def buffered(self) -> int:
        """Messages fetched and waiting in the members' in-process buffers (0 without a buffer or pool)."""
        return sum(w.in_flight for w in self.workers)

    @property
    def buffered_bytes(self) -> int:
        """Bytes of the values waiting in the members' in-process buffers."""
        return sum(w.in_flight_bytes for w in self.workers)

    def prefetched_bytes(self) -> float:
        """Bytes librdkafka has fetched ahead into its own queue (``fetchq_size`` in its statistics; NaN
        unless ``stats_interval_ms`` is set): the client's buffer, before the application sees anything.

        A group member's partition queues all forward to its one consumer queue, and librdkafka reports that
        queue's size for every partition (``rd_kafka_q_size`` follows the forward): counted once per member."""
        stats = [w.stats for w in self.workers if w.stats]
        if not self.stats_interval_ms or not stats:
            return math.nan
        return float(sum(max((int(p.get("fetchq_size", 0)) for t in st.get("topics", {}).values()
                              for pid, p in t.get("partitions", {}).items() if pid != "-1"), default=0)
                         for st in stats))

    def assignment(self) -> dict[str, list[int]]:
        """Partitions each live member owns right now."""
        return {w.name: sorted(p for _, p in w.owned) for w in self.workers}

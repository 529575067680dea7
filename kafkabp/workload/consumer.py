"""A consumer group of thread workers, each processing with a model; commits after processing."""

from __future__ import annotations

import json
import logging
import math
import re
import time
from typing import Any, Mapping

from confluent_kafka import Consumer, KafkaError, TopicPartition

from kafkabp.infra.broker import client_config
from kafkabp.infra.paths import rdkafka_log
from kafkabp.ledger import HEADER_SIZE, Ledger
from kafkabp.registry import park
from kafkabp.workload.base import EventLog, check_client_config
from kafkabp.workload.flow import Buffer
from kafkabp.workload.group import MemberGroup
from kafkabp.workload.pool_member import PoolMember
from kafkabp.workload.processing import Processing, spin_cpu


class Worker(PoolMember):
    """One group member: its own Consumer in its own thread (with ``parallel`` > 1 or a ``buffer``, processing with
    key-ordered threads: :class:`~kafkabp.workload.pool_member.PoolMember`).

    ``client_type`` makes its client from its settings (confluent-kafka's Consumer; a measurement without a broker
    puts a stand-in there, in a subclass it sets as the group's ``member_type``)."""

    suffix = "c"
    client_type: Any = Consumer

    def __init__(self, group: "ConsumerGroup", index: int) -> None:
        super().__init__(group, index)
        self.group: ConsumerGroup = group
        self.pending: dict[tuple[str, int], int] = {}
        self.committed: dict[tuple[str, int], int] = {}
        self.closing = False  # close() has begun: its statistics no longer describe the run

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
        # close() unassigns first, which empties the fetch queue, and serves callbacks while it leaves: a snapshot
        # taken then shows every prefetched message as thrown away (lesson 09's "no pause" member read 6,507
        # discarded, 0 queued, on a loaded machine). The member keeps its last snapshot from before close().
        if not self.closing:
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
        if g.parallel > 1 or g.buffer is not None:  # key-ordered threads (PoolMember)
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
                self.closing = True
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

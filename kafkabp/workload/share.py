"""A share group (KIP-932): N share consumers reading the same partitions, each record acquired by one of them.

A classic or KIP-848 consumer group gives each partition to one member, so at most as many members as
partitions are busy. A **share group** hands out *records*, not partitions: the broker keeps, per
partition, a window of in-flight records, locks each one to the member it delivered it to (for
``group.share.record.lock.duration.ms``, 30 s by default) and waits for that member to acknowledge it:

- **accept**: done; the record is never delivered again;
- **release**: not done (a transient failure, or a member stopping); the broker delivers it again, to
  any member, with its **delivery count** one higher;
- **reject**: never deliverable (a poison message); archived, never delivered again.

A record whose lock expires is released too; one delivered ``group.share.delivery.count.limit`` times (5
by default) is archived. :class:`ShareGroup` has the public surface of
:class:`~kafkabp.workload.consumer.ConsumerGroup` (start, scale, set_processing, consumed, assignment,
members, processed_frame, latencies, errors, stop), with the same processing models, so
``Experiment(group=Group(protocol="share"))`` runs one; it acknowledges explicitly
(``share.acknowledgement.mode=explicit``) so that it can count what it accepted, released and rejected.

Messages processed out of order are counted as they finish: a message whose offset is below one already
processed from the same partition (or with the same key) broke that partition's (key's) order.
"""

from __future__ import annotations

import collections
import functools
import math
import threading
import time
from typing import Any, Iterable, Mapping

from confluent_kafka import AcknowledgeType, KafkaError, KafkaException, ShareConsumer

from kafkabp import admin
from kafkabp.infra.broker import client_config
from kafkabp.infra.paths import rdkafka_log
from kafkabp.ledger import HEADER_SIZE, Ledger
from kafkabp.registry import park
from kafkabp.workload.base import EventLog
from kafkabp.workload.group import Member, MemberGroup
from kafkabp.workload.processing import Processing, spin_cpu
from kafkabp.workload.share_acks import ACK_TYPES, DoneOffsets, ShareOptions

_ACK = {"accept": AcknowledgeType.ACCEPT, "release": AcknowledgeType.RELEASE, "reject": AcknowledgeType.REJECT}
_MAX_ERROR_EVENTS = 20  # handler failures logged as events (the counts are always complete)


class _Member(Member):
    """One share-group member: its own ShareConsumer in its own thread."""

    suffix = "s"

    def __init__(self, group: "ShareGroup", index: int) -> None:
        super().__init__(group, index)
        self.group: ShareGroup = group
        self.acks: collections.Counter[str] = collections.Counter()
        self.partitions: set[int] = set()  # partitions it received records from
        self.in_hand = 0  # records acquired by this member and not yet acknowledged (peak_buffered: the most)
        self.in_hand_bytes = 0  # their values' bytes
        self.delivered = False  # a poll has returned records: its first assignment is in place

    def _conf(self) -> dict[str, Any]:
        g = self.group
        conf: dict[str, Any] = {**client_config(), "group.id": g.group, "client.id": self.name,
                                "logger": rdkafka_log, "share.acknowledgement.mode": "explicit",
                                # at most this many records per poll: a soft limit, the broker completes the
                                # producer's record batch it stopped in (KIP-1206's "batch_optimized" mode)
                                "max.poll.records": g.batch_size}
        conf.update(g.config)
        if conf.get("share.acknowledgement.mode") != "explicit":
            raise ValueError("kafkabp's share group acknowledges each record itself: leave "
                             "share.acknowledgement.mode at 'explicit'")
        return conf

    def _on_ack_commit(self, offsets: Mapping[Any, set[int]], exc: Any) -> None:
        if exc is not None:
            n = sum(len(v) for v in (offsets or {}).values())
            self.group._count("ack_failed", n)
            self.group.events.add("ack_failed", self.name, f"{n} records: {exc}"[:200])

    def _loop(self) -> None:
        g = self.group
        self.consumer = ShareConsumer(self._conf())
        self.consumer.set_acknowledgement_commit_callback(self._on_ack_commit)
        self.consumer.subscribe([g.topic])
        busy_until = time.monotonic()
        while not self.stop_event.is_set():
            try:
                batch = self.consumer.poll(timeout=0.1)  # a Messages batch, acquired for this member
            except KafkaException as exc:  # a coordinator moving, a broker restarting: poll again
                err = exc.args[0] if exc.args else None
                if not (isinstance(err, KafkaError) and err.retriable()):
                    raise
                g.events.add("consume_error", self.name, err.str())
                self.stop_event.wait(0.2)
                continue
            self.delivered = self.delivered or len(batch) > 0
            msgs = self._good(batch)
            if not msgs:
                continue
            busy_until = self._handle(msgs, max(busy_until, time.monotonic()))

    def _good(self, batch: Iterable[Any]) -> list[Any]:
        good = []
        for m in batch:
            err = m.error()
            if err is None:
                good.append(m)
            else:
                if err.code() != KafkaError._PARTITION_EOF:
                    self.group.events.add("consume_error", self.name, err.str())
                try:  # explicit mode: every record of a poll is acknowledged before the next poll
                    self.consumer.acknowledge(m, AcknowledgeType.RELEASE)
                except Exception:  # not a record (no offset): nothing to acknowledge
                    pass
        return good

    def _handle(self, msgs: list[Any], busy_until: float) -> float:
        """Process one acquired batch and acknowledge every record of it; returns the running deadline."""
        g, opts = self.group, self.group.options
        proc = g.processing
        self.in_hand = len(msgs)
        self.in_hand_bytes = sum(len(m.value() or b"") for m in msgs)
        self.peak_buffered = max(self.peak_buffered, self.in_hand)
        outcome: list[str] = []
        finished: list[float] = []
        if proc.per_batch:
            busy_until += proc.per_batch
            if not self._sleep_until(busy_until):
                return self._release_rest(msgs, 0)
        batch_failed = False
        if proc.kind == "batch_handler":
            try:
                proc.fn([(m.value() or b"")[HEADER_SIZE:] for m in msgs])  # type: ignore[misc]
            except Exception as exc:
                batch_failed = True
                g._handler_failed(self.name, exc)
        for i, m in enumerate(msgs):
            proc = g.processing  # a slider's change applies at the next message
            failed = batch_failed
            if proc.kind == "handler":
                try:
                    proc.fn((m.value() or b"")[HEADER_SIZE:])  # type: ignore[misc]
                except Exception as exc:
                    failed = True
                    g._handler_failed(self.name, exc)
            elif proc.kind == "cpu":
                spin_cpu(proc.sample(self.rng))
            elif proc.fn is None:
                seconds = proc.sample(self.rng)
                if seconds > 0:
                    busy_until = max(busy_until, time.monotonic() - seconds) + seconds
                    if not self._sleep_until(busy_until):
                        self._ack_all(msgs[:i], outcome, finished)
                        return self._release_rest(msgs, i)
            if not failed:
                failed = (opts.failure_rate > 0 and self.rng.random() < opts.failure_rate) or opts.is_poison(m.value())
            if not failed:
                outcome.append("accept")
            elif (m.delivery_count() or 1) >= opts.max_attempts:
                outcome.append("reject")
            else:
                outcome.append("release")
            finished.append(time.time())
            self.in_hand -= 1
            self.in_hand_bytes -= len(m.value() or b"")
        self._ack_all(msgs, outcome, finished)
        return busy_until

    def _ack_all(self, msgs: list[Any], outcome: list[str], finished: list[float] | None = None) -> None:
        """Acknowledge ``msgs`` with ``outcome`` (one type each), then count, record and order-check them."""
        g = self.group
        accepted, times, sent, kinds = [], [], [], []
        for k, (m, kind) in enumerate(zip(msgs, outcome)):
            try:
                self.consumer.acknowledge(m, _ACK[kind])
            except Exception as exc:  # no longer in flight (its lock expired): the broker delivers it again
                g._count("ack_error")
                g.events.add("ack_error", self.name, repr(exc)[:200])
                continue
            sent.append(m)
            kinds.append(kind)
            self.acks[kind] += 1
            self.partitions.add(m.partition())
            if kind == "accept":
                accepted.append(m)
                times.append(finished[k] if finished else time.time())
        g._settle(sent, kinds)
        if accepted:
            self._done(len(accepted))
            g._record_latencies(accepted, times)
            if g.ledger is not None:
                g.ledger.record([m.value() for m in accepted])

    def _release_rest(self, msgs: list[Any], start: int) -> float:
        """Stopping mid-batch: give the records not processed back to the group (release, delivery count kept)."""
        sent = []
        for m in msgs[start:]:
            try:
                self.consumer.acknowledge(m, AcknowledgeType.RELEASE)
            except Exception as exc:
                self.group.events.add("ack_error", self.name, repr(exc)[:200])
                continue
            sent.append(m)
            self.acks["release"] += 1
            self.group._count("released_unprocessed")
        self.group._settle(sent, ["release"] * len(sent))
        self.in_hand = self.in_hand_bytes = 0
        return time.monotonic()

    def _await_first_assignment(self, timeout: float = 5.0) -> None:
        """A member stopped before it ever received a record polls (up to ``timeout``) until it does, releasing
        what it gets, so that its first assignment is in place before close().

        librdkafka 2.16's share consumer can hang in close() forever: a member's first assignment needs the
        topic's metadata, and ``rd_kafka_cgrp_consumer_handle_Metadata_op`` (src/rdkafka_cgrp.c, read at
        confluentinc/librdkafka 4c3b017c3) applies it without checking that the group is terminating, so a
        metadata reply that lands after close() began adds a partition the group then waits for without end
        ("waiting for 1 toppar(s) ... before terminating"). Reproduced here: 1 group of 3 members in ~550
        closed 0.3-3 s after subscribing hung. After the first records arrive, later assignments of the same
        topic find its metadata cached and are applied at once, where a leaving member ignores them. 5 s, not 2:
        on a loaded machine (make test on 4 workers) a member of a 3-member group, closed after a 2-s run and 2 s
        of waiting, still hung; a share member gets its assignment in heartbeats, one a second here."""
        deadline = time.monotonic() + timeout
        while not self.delivered and time.monotonic() < deadline:
            try:
                batch = self.consumer.poll(timeout=0.1)
            except Exception as exc:  # never subscribed (it failed before), or the broker is moving: close now
                self.group.events.add("consume_error", self.name, repr(exc)[:200])
                return
            self.delivered = len(batch) > 0
            self._release_rest(self._good(batch), 0)

    def _close(self) -> None:
        consumer = getattr(self, "consumer", None)
        if consumer is None:
            return
        try:
            if not self.group.abandoned:  # no broker (abandon()): nothing to acknowledge to
                if not self.delivered:
                    self._await_first_assignment()
                consumer.commit_sync(timeout=10.0)  # the last acknowledgements, before leaving
        except Exception as exc:
            self.group.events.add("ack_failed", self.name, repr(exc)[:200])
        finally:
            if self.group.abandoned:  # the broker is gone: close() could wait for it forever
                park(consumer)
            else:
                consumer.close()  # leaves the share group; anything still acquired is released
            self.group.events.add("left", self.name, "broker gone: not closed" if self.group.abandoned else "")


class ShareGroup(MemberGroup):
    """N members of a share group (KIP-932) on one topic, each processing with a :class:`Processing` model.

    Same public surface as :class:`~kafkabp.workload.consumer.ConsumerGroup`; ``options``
    (:class:`ShareOptions`) injects failures and sets when a record is rejected. Counts, all exact:
    ``acks`` (accept / release / reject), ``delivery_counts`` (how many deliveries had delivery count 1, 2,
    …), ``out_of_order`` (messages finished after a later offset of their partition, or of their key).
    ``positions()`` gives the lag monitor, per partition, the offset a classic group would have committed
    after as many records: the share-partition start offset plus the records done beyond it, so that
    log end offset − position is the lag ``kafka-share-groups --describe`` reports.
    """

    protocol = "share"
    join_timeout = 15.0

    def __init__(
        self,
        topic: str,
        group: str,
        consumers: int = 1,
        processing: Processing | None = None,
        *,
        options: ShareOptions | None = None,
        config: Mapping[str, Any] | None = None,
        events: EventLog | None = None,
        ledger: Ledger | None = None,
        batch_size: int = 500,
        stats_interval_ms: int = 0,
        parallel: int = 1,
        protocol: str = "share",
        commit_while_busy: bool = False,
        buffer: Any = None,
    ) -> None:
        # protocol, commit_while_busy and buffer: ConsumerGroup's keywords, accepted so an Experiment can
        # build either group with the same call; a share group has no commits and no in-process buffer.
        if protocol != "share":
            raise ValueError(f"a ShareGroup's protocol is 'share', got {protocol!r}")
        if parallel != 1 or commit_while_busy or buffer is not None:
            raise ValueError("a share group takes neither parallel > 1 (it already spreads records over its "
                             "members), nor commit_while_busy (it commits no offsets), nor a buffer")
        bad = sorted(k for k in (config or {}) if k in ("session.timeout.ms", "heartbeat.interval.ms", "group.protocol",
                                                         "enable.auto.commit", "auto.offset.reset"))
        if bad:
            raise ValueError(f"a share consumer does not take {', '.join(bad)}: the broker's group.share.* settings "
                             "and the group config share.auto.offset.reset (ShareOptions(offset_reset=...)) apply")
        self.topic, self.group = topic, group
        self.processing = processing or Processing()
        self.options = options or ShareOptions()
        self.config = dict(config or {})
        self.events = events or EventLog()
        self.ledger = ledger
        self.batch_size = batch_size  # max.poll.records: how many records one poll acquires (soft limit)
        self.stats_interval_ms = stats_interval_ms
        self.parallel = 1
        self.order_violations = 0  # ConsumerGroup's counter for parallel members; see out_of_order here
        self._init_members(consumers)
        self._lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()
        self._deliveries: collections.Counter[int] = collections.Counter()
        self._done: dict[int, DoneOffsets] = {}
        self._max_offset: dict[int, int] = {}
        self._max_key_offset: dict[tuple[int, bytes], int] = {}
        self._out_of_order = 0
        self._out_of_order_keys = 0
        self._keyed = 0
        self._handler_errors = 0

    @classmethod
    def with_options(cls, options: ShareOptions | None) -> Any:
        """``ShareGroup`` with ``options`` bound: called like ConsumerGroup(topic, group, n, processing, ...)."""
        return functools.partial(cls, options=options)

    # ---------------------------------------------------------------- bookkeeping shared by the members
    def _count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self._counts[what] += n

    def _handler_failed(self, member: str, exc: BaseException) -> None:
        with self._lock:
            self._handler_errors += 1
            log = self._handler_errors <= _MAX_ERROR_EVENTS
        if log:
            self.events.add("handler_failed", member, repr(exc)[:200])

    def _settle(self, msgs: list[Any], outcome: list[str]) -> None:
        """Delivery counts, final states (for the lag), and order, for records just acknowledged."""
        with self._lock:
            for m, kind in zip(msgs, outcome):
                p, off = m.partition(), m.offset()
                self._deliveries[m.delivery_count() or 1] += 1
                if kind == "release":
                    continue
                self._done.setdefault(p, DoneOffsets()).add(off)
                if kind != "accept":
                    continue
                top = self._max_offset.get(p, -1)
                if off < top:
                    self._out_of_order += 1
                else:
                    self._max_offset[p] = off
                key = m.key()
                if key is not None:
                    self._keyed += 1
                    top = self._max_key_offset.get((p, key), -1)
                    if off < top:
                        self._out_of_order_keys += 1
                    else:
                        self._max_key_offset[(p, key)] = off

    # ---------------------------------------------------------------- lifecycle (MemberGroup's, and this)
    member_type = _Member

    def _before_start(self) -> None:
        """Where a new share group starts reading (Kafka's default for share groups is the latest offset)."""
        admin.alter_group_config(self.group, {"share.auto.offset.reset": self.options.offset_reset})

    @property
    def buffered(self) -> int:
        """Records the live members hold (acquired, not yet acknowledged)."""
        return sum(w.in_hand for w in self.workers)

    @property
    def buffered_bytes(self) -> int:
        """Bytes of the values the live members hold."""
        return sum(w.in_hand_bytes for w in self.workers)

    def prefetched_bytes(self) -> float:
        """What librdkafka fetched ahead: NaN, a share consumer acquires only what a poll hands out."""
        return math.nan

    def assignment(self) -> dict[str, list[int]]:
        """Partitions each live member has received records from (every member may read every partition)."""
        return {w.name: sorted(w.partitions) for w in self.workers}

    # ---------------------------------------------------------------- what a share group adds
    @property
    def acks(self) -> dict[str, int]:
        """Acknowledgements sent, by type: accept, release (released_unprocessed included), reject."""
        total: collections.Counter[str] = collections.Counter()
        for w in self.members:
            total.update(w.acks)
        return {k: int(total[k]) for k in ACK_TYPES}

    @property
    def delivery_counts(self) -> dict[int, int]:
        """How many deliveries carried delivery count 1 (first), 2 (second delivery of a record), …"""
        with self._lock:
            return dict(sorted(self._deliveries.items()))

    def positions(self, partitions: Iterable[tuple[str, int]] = ()) -> dict[tuple[str, int], tuple[int, str]]:
        """Per partition: (share-partition start offset + records done beyond it, ""), for the lag monitor.

        Log end offset − this = records not yet accepted or rejected: available, acquired or released,
        which is what ``kafka-share-groups --describe`` reports as LAG. It assumes the group started at the
        partition's first offset (``ShareOptions(offset_reset="earliest")`` on a fresh topic, kafkabp's way).
        """
        with self._lock:
            counts = {p: d.count() for p, d in self._done.items()}
        parts = list(partitions) or [(self.topic, p) for p in counts]
        return {(t, p): (counts.get(p, 0), "") for t, p in parts}

    def start_offsets(self) -> dict[int, int]:
        """Per partition, the first offset not yet done: the share-partition start offset (SPSO)."""
        with self._lock:
            return {p: d.floor for p, d in sorted(self._done.items())}

    def summary(self) -> dict[str, Any]:
        """The share group's own counts, for the experiment's summary."""
        acks, deliveries = self.acks, self.delivery_counts
        with self._lock:
            counts = dict(self._counts)
            ooo, ooo_keys, keyed = self._out_of_order, self._out_of_order_keys, self._keyed
        return {
            "acks": acks, "delivery_counts": deliveries,
            "redeliveries": int(sum(n for dc, n in deliveries.items() if dc > 1)),
            "released_unprocessed": int(counts.get("released_unprocessed", 0)),
            "ack_failures": int(counts.get("ack_failed", 0) + counts.get("ack_error", 0)),
            "handler_failures": self._handler_errors,
            "out_of_order": ooo, "out_of_order_keys": ooo_keys if keyed else None,
            "busy_members": sum(1 for w in self.members if w.consumed > 0),
        }

    def scan_unread(self, ledger: Ledger, end: Mapping[int, int], timeout: float = 20.0) -> bool:
        """Read what is still waiting (not accepted, not rejected) up to ``end`` per partition into the ledger.

        Then the ledger's counts are exact: a rejected record is lost on purpose (never processed, and not
        waiting), a released one not redelivered yet is unread. True when every partition was read in time.
        """
        from confluent_kafka import Consumer, TopicPartition

        with self._lock:
            done = {p: (d.floor, set(d.above)) for p, d in self._done.items()}
        todo = {p: (done.get(p, (0, set()))[0], e) for p, e in end.items() if e > done.get(p, (0, set()))[0]}
        if not todo:
            ledger.unread_scanned = True
            return True
        consumer = Consumer({**client_config(), "group.id": f"kafkabp-scan-{self.topic}", "enable.auto.commit": False,
                             "logger": rdkafka_log, "enable.partition.eof": False})
        deadline = time.monotonic() + timeout
        try:
            consumer.assign([TopicPartition(self.topic, p, s) for p, (s, _) in todo.items()])
            while todo and time.monotonic() < deadline:
                msgs = consumer.consume(num_messages=10_000, timeout=0.5)
                good = [m for m in msgs if m.error() is None and m.partition() in todo
                        and m.offset() < todo[m.partition()][1]]
                ledger.record_unread([m.value() for m in good
                                      if m.offset() not in done.get(m.partition(), (0, set()))[1]])
                for m in good:
                    if m.offset() >= todo[m.partition()][1] - 1:
                        todo.pop(m.partition(), None)
        finally:
            consumer.close()
        ledger.unread_scanned = not todo
        return not todo


__all__ = ["ShareGroup", "ShareOptions", "ACK_TYPES"]

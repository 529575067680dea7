"""A consumer group of thread workers, each processing with a model; commits after processing."""

from __future__ import annotations

import collections
import itertools
import json
import queue
import random
import threading
import time
from array import array
from typing import Any, Mapping

import numpy as np
import pandas as pd
from confluent_kafka import Consumer, KafkaError, TopicPartition

from kafkabp.broker import _rdkafka_log, client_config
from kafkabp.ledger import HEADER_SIZE, Ledger
from kafkabp.workload.base import _LIVE, EventLog
from kafkabp.workload.parallel import KeyOrderedPool, PrefixTracker
from kafkabp.workload.processing import Processing

_LATENCY_CAP = 10_000  # an evenly spaced sample of 5,000-10,000: enough for p99, cheap per record


class _Worker:
    """One group member: its own Consumer in its own thread."""

    def __init__(self, group: "ConsumerGroup", index: int) -> None:
        self.group, self.index = group, index
        self.name = f"{group.group}-c{index}"
        self.stop_event = threading.Event()
        self.consumed = 0
        self.owned: set[tuple[str, int]] = set()
        self.pending: dict[tuple[str, int], int] = {}
        self.committed: dict[tuple[str, int], int] = {}
        self.error: BaseException | None = None
        self.rng = random.Random(index)
        self.done_t, self.done_n = array("d"), array("q")  # when it had processed how many (per batch)
        self.cpu_seconds = 0.0  # this worker thread's CPU time (librdkafka's own threads not included)
        self.pool_cpu_seconds = 0.0  # its key-ordered pool threads' CPU time (parallel > 1)
        self.stats: dict[str, Any] | None = None  # librdkafka's last statistics, when asked for
        self.pool: KeyOrderedPool | None = None  # with parallel > 1: key-ordered threads
        self.tracker: PrefixTracker | None = None
        self._in_flight: collections.Counter[int] = collections.Counter()
        self._pool_clock = threading.local()  # each pool thread's running deadline
        self.thread = threading.Thread(target=self._run, name=f"kafkabp-{self.name}", daemon=True)

    def _conf(self) -> dict[str, Any]:
        g = self.group
        conf: dict[str, Any] = {
            **client_config(), "group.id": g.group, "client.id": self.name, "logger": _rdkafka_log,
            "enable.auto.commit": False, "auto.offset.reset": "earliest", "group.protocol": g.protocol,
        }
        # librdkafka waits fetch.queue.backoff.ms (1 s by default) before fetching again once its queue
        # held queued.min.messages; a reader that empties the queue sooner then sits idle for up to 1 s,
        # at random (benchmark (b) saw 0.8-3.5 s lost per run). 10 ms sends no more fetches, only looks sooner.
        conf["fetch.queue.backoff.ms"] = 10
        if g.protocol == "classic":
            conf.update({"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000})
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

    def _done(self, n: int) -> None:
        """Count ``n`` more processed messages, with the time (for throughput and rebalance pauses)."""
        self.consumed += n
        self.done_t.append(time.monotonic())
        self.done_n.append(self.consumed)

    def _commit(self, asynchronous: bool, only: set[tuple[str, int]] | None = None) -> None:
        items = [(tp, off) for tp, off in self.pending.items() if only is None or tp in only]
        if not items:
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
            _spin_cpu(seconds)
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
        """The consume loop when each member processes with ``g.parallel`` key-ordered threads."""
        pool = self.pool
        assert pool is not None and self.tracker is not None
        last_commit = time.monotonic()
        while not self.stop_event.is_set():
            self._collect()
            if pool.in_flight >= pool.max_in_flight:  # enough work queued: let the threads catch up
                self._collect(block=0.05)
                continue
            msgs = self.consumer.consume(num_messages=g.batch_size, timeout=0.1)
            for m in self._good(msgs):
                self.tracker.handed_out(m.partition(), m.offset())
                self._in_flight[m.partition()] += 1
                pool.submit(m)
            if time.monotonic() - last_commit >= g.commit_interval:
                self._commit(asynchronous=True)
                last_commit = time.monotonic()
        pool.stopping = True  # queued messages are skipped; those being processed finish or stop
        self._settle(set(self._in_flight))

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

    def _run(self) -> None:
        g = self.group
        cpu0 = time.thread_time()
        g.events.add("joined", self.name, "")
        try:
            self.consumer = Consumer(self._conf())
            self.consumer.subscribe([g.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                    on_lost=self._on_lost)
            if g.parallel > 1:
                self.pool = KeyOrderedPool(g.parallel, self._process_one, self.name)
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
        except BaseException as exc:
            self.error = exc
            g.events.add("error", self.name, repr(exc)[:200])
        finally:
            self._close()
            self.cpu_seconds = time.thread_time() - cpu0

    def _good(self, msgs: list[Any]) -> list[Any]:
        """The messages without errors; errors other than end-of-partition become events."""
        good = [m for m in msgs if m.error() is None]
        if len(good) != len(msgs):
            for m in msgs:
                err = m.error()
                if err is None or err.code() == KafkaError._PARTITION_EOF:
                    continue
                if err.code() == KafkaError._MAX_POLL_EXCEEDED:  # the member left the group; it rejoins
                    self.group.events.add("evicted", self.name, err.str())
                else:
                    self.group.events.add("consume_error", self.name, err.str())
        return good

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
                _spin_cpu(seconds)
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
            consumer.close()  # leaves the group, so the others take over at once
            self.group.events.add("left", self.name, "")


def _spin_cpu(seconds: float) -> None:
    """Busy Python work until this thread has used ``seconds`` of CPU (holding the GIL while it runs)."""
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        x += 1


def _fmt(parts: set[tuple[str, int]]) -> str:
    return ",".join(f"p{p}" for _, p in sorted(parts)) or "-"


class ConsumerGroup:
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
    ) -> None:
        if not isinstance(parallel, int) or parallel < 1:
            raise ValueError(f"parallel must be a whole number of threads per consumer >= 1, got {parallel!r}")
        if protocol not in ("classic", "consumer"):
            raise ValueError(f"protocol must be 'classic' or 'consumer' (KIP-848), got {protocol!r}")
        if not isinstance(consumers, int) or consumers < 0:
            raise ValueError(f"consumers must be an integer >= 0, got {consumers!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.topic, self.group, self.protocol = topic, group, protocol
        self.processing = processing or Processing()
        self.batch_size, self.commit_interval = batch_size, commit_interval
        self.commit_while_busy = commit_while_busy
        self.config = dict(config or {})
        self.events = events or EventLog()
        self.ledger = ledger  # counts what was processed, exactly (see kafkabp.ledger)
        self.stats_interval_ms = stats_interval_ms  # librdkafka statistics per member (fetch requests...)
        self.parallel = parallel  # > 1: each member processes with this many key-ordered threads
        self.order_violations = 0  # per-key order broken inside one assignment (parallel members only)
        self.initial = consumers
        self.workers: list[_Worker] = []
        self._retired: list[_Worker] = []
        self._ids = itertools.count()
        self._latency = array("d")
        self._latency_seen = 0
        self._lat_stride = 1
        self._lat_lock = threading.Lock()
        self._started = False

    def _record_latencies(self, msgs: list[Any], processed_at: float | list[float]) -> None:
        """Keep end-to-end latencies (processed minus produced) as an evenly spaced sample of every message.

        Every ``stride``-th message is kept; when the sample reaches its cap, every other one is dropped and
        the stride doubles, so memory stays bounded and the cost per message stays small.
        """
        with self._lat_lock:
            start = (-self._latency_seen) % self._lat_stride
            self._latency_seen += len(msgs)
            for i in range(start, len(msgs), self._lat_stride):
                ts_type, ts = msgs[i].timestamp()
                if ts_type and ts > 0:
                    done = processed_at if isinstance(processed_at, float) else processed_at[i]
                    self._latency.append(done - ts / 1000.0)
            if len(self._latency) >= _LATENCY_CAP:
                self._latency = array("d", self._latency[::2])
                self._lat_stride *= 2

    def start(self) -> "ConsumerGroup":
        if self._started:
            raise RuntimeError("this group was already started; use scale(n) to change its size")
        self._started = True
        _LIVE.add(self)
        self.scale(self.initial)
        return self

    def scale(self, n: int) -> None:
        """Grow or shrink to ``n`` members; leaving members commit and leave the group."""
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"consumer count must be an integer >= 0, got {n!r}")
        before = len(self.workers)
        if before != n:  # logged first: the new members' "joined" events come after it
            self.events.add("scale", "", f"{before} -> {n}")
        while len(self.workers) < n:
            w = _Worker(self, next(self._ids))
            self.workers.append(w)
            w.thread.start()
        leaving = self.workers[n:]
        del self.workers[n:]
        for w in leaving:
            w.stop_event.set()
        for w in leaving:
            w.thread.join(10)
        self._retired.extend(leaving)

    @property
    def size(self) -> int:
        return len(self.workers)

    def set_processing(self, processing: Processing) -> None:
        """Change the processing model live (workers pick it up on their next batch)."""
        self.processing = processing
        self.events.add("note", "", f"processing -> {processing}")

    @property
    def consumed(self) -> int:
        return sum(w.consumed for w in self.workers + self._retired)

    def assignment(self) -> dict[str, list[int]]:
        """Partitions each live member owns right now."""
        return {w.name: sorted(p for _, p in w.owned) for w in self.workers}

    @property
    def members(self) -> list[_Worker]:
        """Every worker this group ever had, live and retired."""
        return self.workers + self._retired

    def processed_frame(self, t0: float) -> pd.DataFrame:
        """Per member, when it had processed how many messages (seconds since ``t0``)."""
        frames = [pd.DataFrame({"t": np.frombuffer(w.done_t, dtype=float) - t0, "member": w.name,
                                "processed": np.frombuffer(w.done_n, dtype=np.int64)})
                  for w in self.members if len(w.done_t)]
        frames = [pd.DataFrame({"t": [0.0], "member": w.name, "processed": [0]}) for w in self.members] + frames
        if not frames:
            return pd.DataFrame({"t": pd.Series(dtype=float), "member": pd.Series(dtype=str),
                                 "processed": pd.Series(dtype=np.int64)})
        return pd.concat(frames, ignore_index=True).sort_values(["member", "t"], kind="stable").reset_index(drop=True)

    @property
    def cpu_seconds(self) -> float:
        """CPU time of the worker threads that have ended (Python's side of consuming)."""
        return sum(w.cpu_seconds + w.pool_cpu_seconds for w in self.members)

    def latencies(self) -> list[float]:
        with self._lat_lock:
            return list(self._latency)

    def errors(self) -> list[BaseException]:
        return [w.error for w in self.workers + self._retired if w.error is not None]

    def stop(self, timeout: float = 15.0) -> None:
        """Commit, leave the group and end every worker thread."""
        workers = list(self.workers)
        for w in workers:
            w.stop_event.set()
        deadline = time.monotonic() + timeout
        for w in workers:
            w.thread.join(max(0.1, deadline - time.monotonic()))
        self._retired.extend(workers)
        self.workers = []
        _LIVE.discard(self)

    def __enter__(self) -> "ConsumerGroup":
        return self.start() if not self._started else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


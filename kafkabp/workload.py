"""Workloads on a real broker: a rate-controlled producer and a consumer group with a processing model.

Both run in background threads so a notebook stays responsive, both can be changed while they
run (sliders and controllers drive them), and both stop cleanly within a few seconds.
"""

from __future__ import annotations

import atexit
import itertools
import json
import math
import random
import threading
import time
import weakref
from array import array
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Union

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from kafkabp.broker import _rdkafka_log, client_config

# --------------------------------------------------------------------------- events


class EventLog:
    """Thread-safe list of timestamped events (rebalances, scaling, rate changes, throttling)."""

    def __init__(self, t0: float | None = None) -> None:
        self.t0 = time.monotonic() if t0 is None else t0
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, kind: str, member: str = "", detail: str = "") -> None:
        with self._lock:
            self._rows.append({"t": time.monotonic() - self.t0, "kind": kind, "member": member, "detail": detail})

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._rows)


# --------------------------------------------------------------------------- rate profiles


class RateProfile(Protocol):
    """Messages per second as a function of seconds since the producer started."""

    def __call__(self, t: float) -> float: ...


@dataclass(frozen=True)
class Constant:
    """The same rate throughout."""

    rate: float

    def __call__(self, t: float) -> float:
        return self.rate


@dataclass(frozen=True)
class Step:
    """``before`` until ``at`` seconds, then ``after``."""

    before: float
    after: float
    at: float

    def __call__(self, t: float) -> float:
        return self.before if t < self.at else self.after


@dataclass(frozen=True)
class Burst:
    """A square wave: ``high`` for ``duty`` of each ``period`` seconds, ``low`` otherwise."""

    low: float
    high: float
    period: float
    duty: float = 0.5

    def __call__(self, t: float) -> float:
        return self.high if (t % self.period) < self.duty * self.period else self.low

    def __post_init__(self) -> None:
        if self.period <= 0 or not 0 < self.duty < 1:
            raise ValueError("Burst needs period > 0 and 0 < duty < 1")


@dataclass(frozen=True)
class Ramp:
    """From ``start`` to ``end`` linearly over ``duration`` seconds, then ``end``."""

    start: float
    end: float
    duration: float

    def __call__(self, t: float) -> float:
        if t >= self.duration:
            return self.end
        return self.start + (self.end - self.start) * max(t, 0.0) / self.duration


Rate = Union[float, int, RateProfile, None]


def as_profile(rate: Rate) -> RateProfile | None:
    """A number becomes :class:`Constant`; ``None`` means as fast as possible."""
    if rate is None:
        return None
    if isinstance(rate, (int, float)):
        if not math.isfinite(rate) or rate < 0:
            raise ValueError(f"rate must be a finite number of messages/s >= 0 (or None for full speed), got {rate!r}")
        return Constant(float(rate))
    if callable(rate):
        return rate
    raise TypeError(f"rate must be a number, a rate profile (Constant, Step, Burst, Ramp) or None, got {rate!r}")


class TokenBucket:
    """Tokens accrue at the profile's rate, capped at ``burst_seconds`` worth; a message costs one.

    Producing what the bucket holds, in chunks, keeps rates accurate from 10 to 50,000+ msg/s,
    where sleeping 1/rate per message cannot (sleep overshoots by tens of microseconds). The one-second
    cap lets the producer catch up after the OS starves its thread on a busy laptop, so the average rate
    holds; a rate change (:meth:`reset`) drops saved-up tokens, so it never bursts.
    """

    def __init__(self, profile: RateProfile, burst_seconds: float = 1.0, start: float | None = None) -> None:
        self.profile = profile
        self.burst_seconds = burst_seconds
        self.start = time.monotonic() if start is None else start
        self._last = self.start
        self.tokens = 0.0

    def refill(self, now: float) -> float:
        """Add the tokens earned since the last refill and return how many are available."""
        dt = now - self._last
        if dt > 0:
            rate = self.profile(now - self.start)
            cap = max(1.0, rate * self.burst_seconds)
            self.tokens = min(cap, self.tokens + rate * dt)
            self._last = now
        return self.tokens

    def take(self, n: int) -> None:
        self.tokens -= n

    def wait_time(self, now: float) -> float:
        """Seconds until one whole token is available at the current rate."""
        rate = self.profile(now - self.start)
        if rate <= 0:
            return 0.05
        return max(0.0, (1.0 - self.tokens) / rate)

    def reset(self, profile: RateProfile, now: float) -> None:
        """Switch profile now, without a burst of saved-up tokens."""
        self.refill(now)
        self.profile = profile
        self.start = now
        self.tokens = min(self.tokens, 1.0)


# --------------------------------------------------------------------------- registry

_LIVE: "weakref.WeakSet[Any]" = weakref.WeakSet()


def stop_all(timeout: float = 10.0) -> int:
    """Stop every producer, consumer group and monitor still running in this process."""
    items = list(_LIVE)
    for item in items:
        item.stop(timeout=timeout)
    return len(items)


atexit.register(stop_all, 5.0)

# --------------------------------------------------------------------------- producer

KeyMode = Union[str, None]


class RateProducer:
    """Produce ``message_size``-byte records to a topic at a target rate (or full speed) in a thread.

    Counts every message: ``produced`` (accepted by the client) = ``delivered`` + ``failed`` once
    stopped; messages still queued at stop are flushed, then purged and counted failed.
    ``keys``: None (no key), ``"uniform"`` (``key_count`` keys in turn) or ``"hot"`` (a share
    ``hot_fraction`` of messages with one hot key, the rest uniform): a hot key skews partitions.
    """

    def __init__(
        self,
        topic: str,
        rate: Rate = 1000.0,
        *,
        message_size: int = 100,
        keys: KeyMode = None,
        key_count: int = 1000,
        hot_fraction: float = 0.5,
        max_messages: int | None = None,
        config: Mapping[str, Any] | None = None,
        stats_interval_ms: int = 0,
        events: EventLog | None = None,
        name: str = "producer",
    ) -> None:
        if message_size < 0:
            raise ValueError(f"message_size must be >= 0 bytes, got {message_size}")
        if keys not in (None, "uniform", "hot"):
            raise ValueError(f"keys must be None, 'uniform' or 'hot', got {keys!r}")
        if not 0 <= hot_fraction <= 1:
            raise ValueError(f"hot_fraction must be between 0 and 1, got {hot_fraction}")
        self.topic, self.name = topic, name
        self.profile = as_profile(rate)
        self.message_size, self.keys, self.hot_fraction = message_size, keys, hot_fraction
        self._key_list = [f"key-{i}".encode() for i in range(max(1, key_count))]
        self.max_messages = max_messages
        self.events = events or EventLog()
        self.produced = self.failed = 0
        self.buffer_full = self.throttle_events = 0
        self.throttle_time_ms = 0.0
        self.errors: dict[str, int] = {}
        self.last_stats: dict[str, Any] | None = None
        conf: dict[str, Any] = {**client_config(), "client.id": name, "logger": _rdkafka_log,
                                "linger.ms": 5, "throttle_cb": self._on_throttle,
                                # Only failures call back into Python (a callback per message halves
                                # throughput); delivered = produced - failed - still outstanding.
                                "delivery.report.only.error": True, "on_delivery": self._on_delivery}
        if stats_interval_ms:
            conf.update({"statistics.interval.ms": stats_interval_ms, "stats_cb": self._on_stats})
        conf.update(config or {})
        self._producer = Producer(conf)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bucket: TokenBucket | None = None
        self._lock = threading.Lock()
        self.error: BaseException | None = None

    # callbacks run in this producer's thread (inside poll/flush)
    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self.failed += 1
            self.errors[err.name()] = self.errors.get(err.name(), 0) + 1

    @property
    def delivered(self) -> int:
        """Messages the broker acknowledged: produced, minus failed, minus still queued or in flight."""
        return self.produced - self.failed - len(self._producer)

    def _on_throttle(self, event: Any) -> None:
        self.throttle_events += 1
        self.throttle_time_ms += event.throttle_time * 1000.0
        self.events.add("throttle", self.name, f"{event.broker_name}: {event.throttle_time * 1000:.0f} ms")

    def _on_stats(self, raw: str) -> None:
        self.last_stats = json.loads(raw)

    @property
    def target_rate(self) -> float:
        """The rate the producer is aiming for right now (inf at full speed)."""
        if self.profile is None:
            return math.inf
        start = self._bucket.start if self._bucket else time.monotonic()
        return float(self.profile(time.monotonic() - start))

    def set_rate(self, rate: Rate) -> None:
        """Change the target rate while running; takes effect at once (no saved-up burst)."""
        profile = as_profile(rate)
        with self._lock:
            self.profile = profile
            if self._bucket is not None and profile is not None:
                self._bucket.reset(profile, time.monotonic())
            elif profile is not None:
                self._bucket = TokenBucket(profile)
        self.events.add("rate", self.name, "full speed" if rate is None else str(rate))

    def start(self) -> "RateProducer":
        if self._thread is not None:
            raise RuntimeError("this producer was already started; create a new one")
        _LIVE.add(self)
        if self.profile is not None:
            self._bucket = TokenBucket(self.profile)
        self._thread = threading.Thread(target=self._run, name=f"kafkabp-{self.name}", daemon=True)
        self._thread.start()
        return self

    def _produce_chunk(self, value: bytes, n: int) -> int:
        """Produce up to ``n`` messages; stop early when the client's queue is full (``BufferError``)."""
        produce, topic, keys = self._producer.produce, self.topic, self.keys
        sent = 0
        try:
            if keys is None:
                for sent in range(n):  # noqa: B007 - `sent` counts the messages produced so far
                    produce(topic, value)
                sent = n
            else:
                key_list, k, base, hot = self._key_list, len(self._key_list), self.produced, self.hot_fraction
                rnd = random.random
                for sent in range(n):  # noqa: B007
                    key = key_list[(base + sent) % k]
                    if keys == "hot" and rnd() < hot:
                        key = b"hot"
                    produce(topic, value, key)
                sent = n
        except BufferError:
            self.buffer_full += 1
            self.produced += sent
            self._producer.poll(0.005)  # let deliveries free the queue; unsent tokens are kept
            return sent
        self.produced += sent
        return sent

    def _run(self) -> None:
        value = b"x" * self.message_size
        p = self._producer
        try:
            while not self._stop.is_set():
                left = math.inf if self.max_messages is None else self.max_messages - self.produced
                if left <= 0:
                    break
                with self._lock:
                    bucket = self._bucket if self.profile is not None else None
                if bucket is None:  # full speed: a plain produce loop, polled every 1000
                    self._produce_chunk(value, int(min(1000, left)))
                    p.poll(0)
                    continue
                now = time.monotonic()
                with self._lock:
                    n = int(bucket.refill(now))
                if n <= 0:
                    p.poll(0)
                    self._stop.wait(min(0.05, max(0.0002, bucket.wait_time(now))))
                    continue
                sent = self._produce_chunk(value, int(min(n, left, 20000)))
                with self._lock:
                    bucket.take(sent)
                p.poll(0)
        except BaseException as exc:  # surfaced by stop()/wait(), never swallowed
            self.error = exc
        finally:
            self._drain()

    def _drain(self, timeout: float = 10.0) -> None:
        """Deliver what is queued; purge and count as failed whatever is left after ``timeout``."""
        remaining = self._producer.flush(timeout)
        if remaining:
            self._producer.purge(in_queue=True, in_flight=True)
            self._producer.flush(2.0)
        _LIVE.discard(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until ``max_messages`` are produced and delivered (True) or ``timeout`` passes."""
        if self._thread is None:
            raise RuntimeError("start() the producer first")
        self._thread.join(timeout)
        if self.error:
            raise self.error
        return not self._thread.is_alive()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop producing, deliver or fail every queued message, and end the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self._drain(min(timeout, 5.0))
        _LIVE.discard(self)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def counts(self) -> dict[str, Any]:
        return {"produced": self.produced, "delivered": self.delivered, "failed": self.failed,
                "buffer_full": self.buffer_full, "throttle_events": self.throttle_events,
                "throttle_time_ms": self.throttle_time_ms, "errors": dict(self.errors)}


# --------------------------------------------------------------------------- processing models


@dataclass(frozen=True)
class Processing:
    """How long a worker spends on each message (and on each batch).

    ``kind``: "fixed" (``seconds`` each), "exponential" (mean ``seconds``), "lognormal" (mean
    ``seconds``, shape ``sigma``), "cpu" (``seconds`` of busy CPU work per message, which holds
    Python's GIL). ``per_batch``: extra seconds per ``consume()`` batch, e.g. one database write.
    """

    kind: str = "fixed"
    seconds: float = 0.0
    sigma: float = 1.0
    per_batch: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "exponential", "lognormal", "cpu"):
            raise ValueError(f"processing kind must be fixed, exponential, lognormal or cpu, got {self.kind!r}")
        if self.seconds < 0 or self.per_batch < 0 or self.sigma <= 0:
            raise ValueError("processing seconds and per_batch must be >= 0 and sigma > 0")

    def sample(self, rng: random.Random) -> float:
        """Seconds for one message."""
        if self.kind == "exponential" and self.seconds > 0:
            return rng.expovariate(1.0 / self.seconds)
        if self.kind == "lognormal" and self.seconds > 0:
            mu = math.log(self.seconds) - self.sigma**2 / 2  # so the mean is `seconds`
            return rng.lognormvariate(mu, self.sigma)
        return self.seconds

    def mean_seconds(self, batch_size: int = 1) -> float:
        """Mean seconds per message, counting the batch cost spread over a full batch."""
        return self.seconds + self.per_batch / max(1, batch_size)

    def __str__(self) -> str:
        text = "no processing" if self.seconds == 0 else f"{self.kind} {self.seconds * 1000:g} ms/msg"
        return text + (f" + {self.per_batch * 1000:g} ms/batch" if self.per_batch else "")


def fixed(seconds: float) -> Processing:
    """Every message takes exactly ``seconds``."""
    return Processing("fixed", seconds)


def exponential(mean: float) -> Processing:
    """Random per message, exponentially distributed with mean ``mean`` seconds."""
    return Processing("exponential", mean)


def lognormal(mean: float, sigma: float = 1.0) -> Processing:
    """Random per message with a long tail: lognormal with mean ``mean`` seconds."""
    return Processing("lognormal", mean, sigma=sigma)


def per_batch(seconds: float, per_message: float = 0.0) -> Processing:
    """A cost per batch (e.g. one bulk write), plus an optional cost per message."""
    return Processing("fixed", per_message, per_batch=seconds)


def cpu(seconds: float) -> Processing:
    """Busy CPU work per message: holds the GIL, so more threads do not add capacity."""
    return Processing("cpu", seconds)


# --------------------------------------------------------------------------- consumer group

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
        self.thread = threading.Thread(target=self._run, name=f"kafkabp-{self.name}", daemon=True)

    def _conf(self) -> dict[str, Any]:
        g = self.group
        conf: dict[str, Any] = {
            **client_config(), "group.id": g.group, "client.id": self.name, "logger": _rdkafka_log,
            "enable.auto.commit": False, "auto.offset.reset": "earliest", "group.protocol": g.protocol,
        }
        if g.protocol == "classic":
            conf.update({"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000})
        conf.update(g.config)
        return conf

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
        self.group.events.add("assign", self.name, _fmt(got))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._commit(asynchronous=False, only=gone)  # hand over processed offsets before losing them
        self.owned -= gone
        self.group.events.add("revoke", self.name, _fmt(gone))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
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

    def _run(self) -> None:
        g = self.group
        try:
            self.consumer = Consumer(self._conf())
            self.consumer.subscribe([g.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                    on_lost=self._on_lost)
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
                if proc.seconds > 0:
                    if not self._process_each(msgs, proc, busy_until):
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

    def _good(self, msgs: list[Any]) -> list[Any]:
        """The messages without errors; errors other than end-of-partition become events."""
        good = [m for m in msgs if m.error() is None]
        if len(good) != len(msgs):
            for m in msgs:
                if m.error() is not None and m.error().code() != KafkaError._PARTITION_EOF:
                    self.group.events.add("consume_error", self.name, m.error().str())
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
        self.consumed += len(good)
        self.group._record_latencies(good, time.time())

    def _process_each(self, msgs: list[Any], proc: Processing, busy_until: float) -> bool:
        """Spend each message's processing time (sleeping, or spinning for ``cpu``); False if stopped."""
        done: list[Any] = []
        finished: list[float] = []
        ok = True
        for m in self._good(msgs):
            busy_until += proc.sample(self.rng)
            if proc.kind == "cpu":
                _spin_until(busy_until)
            elif not self._sleep_until(busy_until):
                ok = False
                break
            self.pending[(m.topic(), m.partition())] = m.offset() + 1
            self.consumed += 1
            done.append(m)
            finished.append(time.time())
        self.group._record_latencies(done, finished)
        return ok

    def _close(self) -> None:
        consumer = getattr(self, "consumer", None)
        if consumer is None:
            return
        try:
            self._commit(asynchronous=False)
        finally:
            consumer.close()  # leaves the group, so the others take over at once
            self.group.events.add("left", self.name, "")


def _spin_until(deadline: float) -> None:
    x = 0
    while time.monotonic() < deadline:
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
    ) -> None:
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
        if before != n:
            self.events.add("scale", "", f"{before} -> {n}")

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


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()

"""A rate-controlled producer in a thread: token bucket, keys, every message counted."""

from __future__ import annotations

import json
import logging
import math
import random
import re
import struct
import threading
import time
from typing import Any, Mapping, Sequence, Union

from confluent_kafka import KafkaError, Producer

from kafkabp.infra.broker import client_config
from kafkabp.infra.paths import rdkafka_log
from kafkabp.ledger import HEADER_SIZE, Ledger, prefix
from kafkabp.registry import REGISTRY
from kafkabp.workload.base import EventLog, check_client_config
from kafkabp.workload.rates import Rate, TokenBucket, as_profile

log = logging.getLogger("kafkabp")

KeyMode = Union[str, None]


def _error_names() -> dict[str, str]:
    """librdkafka's error descriptions ("Broker: Not enough in-sync replicas") -> names ("NOT_ENOUGH_REPLICAS")."""
    names: dict[str, str] = {}
    for code in [*range(-200, -100), *range(0, 200)]:
        try:
            err = KafkaError(code)
            name, text = err.name(), err.str()
        except Exception:  # noqa: BLE001 - a code librdkafka does not know
            continue
        if name and text and not name.startswith("ERR_"):
            names.setdefault(text, name)
    return names


_PRODUCE_ERROR = re.compile(r"encountered error: (.+?)(?: \(actions|$)")


class _ProduceErrorLog(logging.Logger):
    """One producer's librdkafka log when ``debug`` includes ``msg``: counts the errors produce requests met, by
    code (``NOT_ENOUGH_REPLICAS``...). The client retries those itself, so no delivery report ever shows them.
    Records at INFO and above go on to kafkabp's librdkafka logger, as without the debug setting."""

    _names: dict[str, str] | None = None

    def __init__(self, counts: dict[str, int]) -> None:
        super().__init__("kafkabp.librdkafka.produce", logging.DEBUG)
        self.counts = counts

    def handle(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.INFO:
            rdkafka_log.handle(record)
        args = record.args
        if isinstance(args, tuple) and len(args) == 3 and args[0] == "MSGSET":
            m = _PRODUCE_ERROR.search(str(args[2]))
            if m:
                if _ProduceErrorLog._names is None:
                    _ProduceErrorLog._names = _error_names()
                name = _ProduceErrorLog._names.get(m.group(1), m.group(1))
                self.counts[name] = self.counts.get(name, 0) + 1


class RateProducer:
    """Produce ``message_size``-byte records to a topic at a target rate (or full speed) in a thread.

    Counts every message: ``produced`` (accepted by the client) = ``delivered`` + ``failed`` once
    stopped; messages still queued at stop are flushed, then purged and counted failed.
    ``keys``: None (no key), ``"uniform"`` (``key_count`` keys in turn) or ``"hot"`` (a share
    ``hot_fraction`` of messages with one hot key, the rest uniform): a hot key skews partitions.
    Every value starts with the producer's id and a sequence number (12 bytes, see
    :mod:`kafkabp.ledger`; a ``message_size`` below 12 still writes those 12), so ``ledger`` can
    say exactly which messages were lost or processed twice.
    ``latency_every=N`` keeps in ``ack_latencies`` the seconds from ``produce()`` to the delivery report of every
    Nth message (a Python call per delivery: for modest rates); ``config={"debug": "msg"}`` makes it count
    the errors produce requests met and the client retried, by code, in ``produce_errors``.
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
        ledger: Ledger | None = None,
        payloads: Sequence[bytes] | None = None,
        on_buffer_full: str = "block",
        demand: Rate = None,
        source_buffer: int | None = None,
        latency_every: int = 0,
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
        if payloads is not None and (not payloads or not all(isinstance(v, bytes) for v in payloads)):
            raise ValueError("payloads must be a non-empty list of bytes (e.g. kafkabp.orders(1000))")
        self.payloads = list(payloads) if payloads is not None else None
        if on_buffer_full not in ("block", "drop"):
            raise ValueError(f"on_buffer_full must be 'block' (poll and retry) or 'drop' (count and shed), "
                             f"got {on_buffer_full!r}")
        if source_buffer is not None and (not isinstance(source_buffer, int) or source_buffer < 0):
            raise ValueError(f"source_buffer must be a whole number of messages >= 0 (or None: unbounded), "
                             f"got {source_buffer!r}")
        self.on_buffer_full = on_buffer_full  # when the client's own queue is full (BufferError)
        self.demand = as_profile(demand)  # what the source offers; `rate` is then only the limit
        self.source_buffer = source_buffer
        self.dropped = 0  # shed because the client's queue was full (on_buffer_full="drop")
        self.shed = 0  # offered by the source but over source_buffer while the limit held them back
        self.held_back = 0.0  # offered by the source, waiting for the rate limit
        if self.demand is not None and self.profile is None:
            raise ValueError("demand needs a rate limit to hold it back: give rate=<msg/s>, not None")
        if on_buffer_full == "drop" and self.profile is None:
            raise ValueError("on_buffer_full='drop' needs an offered rate (rate=<msg/s>): at full speed "
                             "every retry would count as a dropped message")
        if config is not None and not isinstance(config, Mapping):
            raise TypeError(f"config must be a dict of producer settings, e.g. {{'linger.ms': 5}}, got {config!r}")
        # before the broker is involved (without `debug`: the throwaway check client would print its debug log)
        check_client_config("producer", {"linger.ms": 5, **{k: v for k, v in (config or {}).items() if k != "debug"}})
        self._started_at = time.monotonic()
        self._key_list = [f"key-{i}".encode() for i in range(max(1, key_count))]
        self.max_messages = max_messages
        self.events = events or EventLog()
        self.produced = self.failed = 0
        self.buffer_full = self.throttle_events = 0
        self.throttle_time_ms = 0.0
        self.errors: dict[str, int] = {}  # client errors (error_cb) and failed deliveries, by error name
        self.failed_by: dict[str, int] = {}  # failed deliveries only: sums to `failed`
        self.last_stats: dict[str, Any] | None = None
        self.stats_at_stop: dict[str, Any] | None = None  # the last statistics before stop() drained the queue
        self.last_busy_stats: dict[str, Any] | None = None  # the last statistics whose windows saw messages
        self.ledger = ledger or Ledger()
        self.producer_id = self.ledger.register(name)
        self.drain_timeout = 10.0  # seconds stop() waits for queued messages before failing them
        self.all_brokers_down_at: float | None = None  # monotonic time of librdkafka's last "all brokers down"
        conf: dict[str, Any] = {**client_config(), "client.id": name, "logger": rdkafka_log,
                                "linger.ms": 5, "throttle_cb": self._on_throttle,
                                # Only failures call back into Python (a callback per message halves
                                # throughput); delivered = produced - failed - still outstanding.
                                "delivery.report.only.error": True, "on_delivery": self._on_delivery,
                                "error_cb": self._on_error}
        # Statistics every second at least: their msg_cnt says exactly how many messages are still
        # queued at stop (len(producer) also counts pending callbacks, e.g. errors from a dead broker).
        self.stats_interval = (stats_interval_ms or 1000) / 1000.0
        conf.update({"statistics.interval.ms": stats_interval_ms or 1000, "stats_cb": self._on_stats})
        self._stats_at = 0.0
        self._final_outstanding: int | None = None
        # latency_every=N: report every delivery (one Python call per message: use it at modest rates) and keep the
        # seconds from produce() to the delivery report of every Nth message (the broker's acknowledgement; with
        # acks=0, the moment it was sent), from librdkafka's Message.latency().
        if not isinstance(latency_every, int) or isinstance(latency_every, bool) or latency_every < 0:
            raise ValueError(f"latency_every must be a whole number >= 0 (0: off), got {latency_every!r}")
        self.latency_every, self._acked = latency_every, 0
        self.ack_latencies: list[float] = []
        if latency_every:
            conf["delivery.report.only.error"] = False
        conf.update(config or {})
        # Errors of produce requests (retried inside the client) by code, counted from librdkafka's `msg` debug log:
        # only when asked for with config={"debug": "msg"}, an experiment's Producer(config=...) (a log line per
        # request costs a little).
        self.produce_errors: dict[str, int] = {}
        debug = {d.strip() for d in str(conf.get("debug") or "").split(",")}
        if debug & {"msg", "all"} and conf.get("logger") is rdkafka_log:
            conf["logger"] = _ProduceErrorLog(self.produce_errors)
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
            self.failed_by[err.name()] = self.failed_by.get(err.name(), 0) + 1
            value = msg.value()
            if value is not None and len(value) >= HEADER_SIZE:
                self.ledger.failed(self.producer_id, int.from_bytes(value[4:12], "big"))
        elif self.latency_every:  # a delivery report for every message: note every Nth one's latency
            self._acked += 1
            if self._acked % self.latency_every == 0:
                latency = msg.latency()  # librdkafka's own clock: produce() until acknowledged (µs resolution)
                if latency is not None:
                    self.ack_latencies.append(float(latency))

    def _on_error(self, err: KafkaError) -> None:
        """Client-level errors; ``_ALL_BROKERS_DOWN`` is the first sign that the broker is gone."""
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            self.all_brokers_down_at = time.monotonic()
        self.errors[err.name()] = self.errors.get(err.name(), 0) + 1

    @property
    def delivered(self) -> int:
        """Messages the broker acknowledged: produced, minus failed, minus still queued or in flight."""
        if self._final_outstanding is not None:
            return self.produced - self.failed - self._final_outstanding
        return self.produced - self.failed - len(self._producer)

    def _on_throttle(self, event: Any) -> None:
        self.throttle_events += 1
        self.throttle_time_ms += event.throttle_time * 1000.0
        self.events.add("throttle", self.name, f"{event.broker_name}: {event.throttle_time * 1000:.0f} ms")

    def _on_stats(self, raw: str) -> None:
        self.last_stats = json.loads(raw)
        self._stats_at = time.monotonic()
        if any(b.get("int_latency", {}).get("cnt") for b in self.last_stats.get("brokers", {}).values()):
            self.last_busy_stats = self.last_stats  # its windows saw messages (a muted window can be empty)

    @property
    def target_rate(self) -> float:
        """The rate the producer is aiming for right now (inf at full speed)."""
        if self.profile is None:
            return math.inf
        start = self._bucket.start if self._bucket else time.monotonic()
        return float(self.profile(time.monotonic() - start))

    def set_rate(self, rate: Rate, *, log: bool = True) -> None:
        """Change the target rate while running; takes effect at once (no saved-up burst)."""
        profile = as_profile(rate)
        with self._lock:
            self.profile = profile
            if self._bucket is not None and profile is not None:
                self._bucket.reset(profile, time.monotonic())
            elif profile is not None:
                self._bucket = TokenBucket(profile)
        if log:
            self.events.add("rate", self.name, "full speed" if rate is None else str(rate))

    def start(self) -> "RateProducer":
        if self._thread is not None:
            raise RuntimeError("this producer was already started; create a new one")
        REGISTRY.add(self, "client")
        self._started_at = time.monotonic()
        if self.profile is not None:
            self._bucket = TokenBucket(self.profile)
        self._thread = threading.Thread(target=self._run, name=f"kafkabp-{self.name}", daemon=True)
        self._thread.start()
        return self

    def _produce_chunk(self, pad: bytes, n: int) -> int:
        """Produce up to ``n`` messages; stop early when the client's queue is full (``BufferError``).

        Each value is this producer's 4-byte prefix, an 8-byte sequence number, then ``pad``, built by one
        ``struct`` call (concatenating the three parts costs about twice as much per record).
        """
        produce, topic, keys, head, pack = self._producer.produce, self.topic, self.keys, self._prefix, self._pack
        base = seq = self.produced
        try:
            if self.payloads is not None:  # realistic records, in turn, after the header
                loads, m = self.payloads, len(self.payloads)
                key_list, k = self._key_list, len(self._key_list)
                hot, rnd = self.hot_fraction, random.random
                for seq in range(base, base + n):
                    key = None if keys is None else (b"hot" if keys == "hot" and rnd() < hot else key_list[seq % k])
                    produce(topic, head + seq.to_bytes(8, "big") + loads[seq % m], key)
            elif keys is None:
                for seq in range(base, base + n):
                    produce(topic, pack(head, seq, pad))
            else:
                key_list, k, hot = self._key_list, len(self._key_list), self.hot_fraction
                rnd = random.random
                for seq in range(base, base + n):
                    key = key_list[seq % k]
                    if keys == "hot" and rnd() < hot:
                        key = b"hot"
                    produce(topic, pack(head, seq, pad), key)
            sent = n
        except BufferError:
            sent = seq - base  # the message with sequence `seq` was refused: the ones before it are in
            self.buffer_full += 1
            self._advance(sent)
            if self.on_buffer_full == "drop":  # shed the rest of this chunk, counted, and move on
                self.dropped += n - sent
                self._producer.poll(0)
                return n
            self._producer.poll(0.005)  # block: let deliveries free the queue; unsent tokens are kept
            return sent
        self._advance(sent)
        return sent

    def _advance(self, sent: int) -> None:
        self.produced += sent
        self.ledger.produced(self.producer_id, self.produced)

    def _run(self) -> None:
        value = b"x" * max(0, self.message_size - HEADER_SIZE)  # the pad after the 12-byte header
        self._prefix = prefix(self.producer_id)
        self._pack = struct.Struct(f">4sQ{len(value)}s").pack  # prefix, sequence, pad: one value in one call
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
                if self.demand is not None:  # a source that offers its own rate: the limit holds it back
                    n = min(n, self._offered(now))
                if n <= 0:
                    p.poll(0)
                    self._stop.wait(min(0.05, max(0.0002, bucket.wait_time(now))))
                    continue
                sent = self._produce_chunk(value, int(min(n, left, 20000)))
                with self._lock:
                    bucket.take(sent)
                self.held_back = max(0.0, self.held_back - sent)
                p.poll(0)
        except BaseException as exc:  # surfaced by stop()/wait(), never swallowed
            self.error = exc
        finally:
            self._drain()

    def _offered(self, now: float) -> int:
        """Add what the source offered since the last call; shed what overflows ``source_buffer``."""
        last = getattr(self, "_offered_at", None)
        self._offered_at = now
        if last is not None:
            self.held_back += self.demand(now - self._started_at) * (now - last)  # type: ignore[misc]
        if self.source_buffer is not None and self.held_back > self.source_buffer:
            over = int(self.held_back - self.source_buffer)
            self.shed += over
            self.held_back -= over
        return int(self.held_back)

    def _drain(self, timeout: float | None = None) -> None:
        """Deliver what is queued; purge and count as failed whatever is left after ``timeout``."""
        remaining = self._producer.flush(self.drain_timeout if timeout is None else timeout)
        if remaining:  # purged messages come back as failed delivery reports
            self._producer.purge(in_queue=True, in_flight=True)
            purged_at = time.monotonic()
            self._producer.flush(1.0)
            deadline = purged_at + self.stats_interval + 1.5
            while time.monotonic() < deadline and not (self._stats_at > purged_at and self._queued() == 0):
                self._producer.poll(0.05)
            remaining = self._queued() if self._stats_at > purged_at else len(self._producer)
        self._final_outstanding = remaining
        if remaining:
            log.warning("%s: %d messages neither delivered nor failed at stop", self.name, remaining)
        REGISTRY.release(self)

    def _queued(self) -> int:
        """Messages in the client (from the last statistics), without pending callbacks."""
        return int((self.last_stats or {}).get("msg_cnt", 0))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until ``max_messages`` are produced and delivered (True) or ``timeout`` passes."""
        if self._thread is None:
            raise RuntimeError("start() the producer first")
        self._thread.join(timeout)
        if self.error:
            raise self.error
        return not self._thread.is_alive()

    def abandon(self) -> None:
        """The broker is gone: stop producing now and fail what is queued at once (counted, by error name)
        instead of waiting for deliveries that cannot come. Call :meth:`stop` afterwards to wait for the thread."""
        self.drain_timeout = 0.0
        if self.stats_at_stop is None:
            self.stats_at_stop = self.last_busy_stats or self.last_stats
        self._stop.set()

    @property
    def thread(self) -> threading.Thread | None:
        """The thread that produces (None before :meth:`start`)."""
        return self._thread

    def stop(self, timeout: float = 15.0) -> None:
        """Stop producing, deliver or fail every queued message, and end the thread."""
        if self.stats_at_stop is None:  # the statistics of the run itself, not of the drain after it
            self.stats_at_stop = self.last_busy_stats or self.last_stats
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self._drain(min(timeout, 5.0))
        REGISTRY.release(self)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def counts(self) -> dict[str, Any]:
        return {"produced": self.produced, "delivered": self.delivered, "failed": self.failed,
                "buffer_full": self.buffer_full, "throttle_events": self.throttle_events,
                "dropped": self.dropped, "shed": self.shed, "held_back": int(self.held_back),
                "throttle_time_ms": self.throttle_time_ms, "errors": dict(self.errors),
                "failed_by": dict(self.failed_by),
                "produce_errors": dict(self.produce_errors)}


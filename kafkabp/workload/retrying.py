"""A consumer group whose handler may fail, and what it does then: retry in place, or route the message through retry
topics to a dead-letter topic (lesson 16; the policies are :class:`~kafkabp.workload.retry.Retries`).

The group's members read the topic as :class:`~kafkabp.workload.consumer.ConsumerGroup`'s do, one message at a time
with the handler (``processing=kafkabp.handler(fn)``; an exception is a failure). Each retry topic has one reader of its
own, a :class:`Stage` (a thread with a consumer assigned the topic's single partition), which waits until a message is
due and tries it again. One producer, the :class:`Router`, writes to the retry and dead-letter topics; a member commits
past a message only after the router's writes were acknowledged, so nothing is lost between the topics. When the group
stops, its stages first finish what is in the retries (at most the sum of the delays, plus the handler's time).
"""

from __future__ import annotations

import collections
import functools
import heapq
import itertools
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from kafkabp import admin
from kafkabp.infra.broker import client_config
from kafkabp.infra.paths import rdkafka_log
from kafkabp.ledger import HEADER_SIZE
from kafkabp.workload.consumer import ConsumerGroup, Worker
from kafkabp.workload.retry import Fates, Retries

FAILED = "kafkabp-failed"  # the header that carries how many times the handler failed on the message
ERROR = "kafkabp-error"  # and the last error, as Spring Kafka's dead-letter records carry the exception


def failures(msg: Any) -> int:
    """How many times the handler has failed on this message (its ``kafkabp-failed`` header; 0 without one)."""
    for name, value in msg.headers() or ():
        if name == FAILED and value:
            return int(value)
    return 0


class Router:
    """Writes failed messages to the retry topics and the dead-letter topic, with their key, value and failure count;
    in "per_key" mode, keeps the keys with a message in the retries, whose later messages follow it there."""

    def __init__(self, group: "RetryGroup") -> None:
        self.group, self.retries = group, group.retries
        self.topics = group.retries.topics(group.topic)
        self.dead_letter_topic = f"{group.topic}-dlt"
        self.sent = [0] * len(self.topics)  # messages written to each retry topic
        self.dead = 0
        self.delivery_errors = 0
        self._waiting: dict[bytes | None, int] = {}  # key -> its messages in the retries (per_key)
        self._lock = threading.Lock()
        self.producer = Producer({**client_config(), "linger.ms": 2, "logger": rdkafka_log,
                                  "client.id": f"{group.group}-router"})

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.delivery_errors += 1
            self.group.events.add("retry_produce_failed", "router", str(err)[:200])

    def _write(self, topic: str, msg: Any, failed: int, error: str = "") -> None:
        headers = [(FAILED, str(failed).encode()), (ERROR, error[:200].encode())]
        while True:
            try:
                self.producer.produce(topic, msg.value(), msg.key(), headers=headers, on_delivery=self._delivered)
                break
            except BufferError:  # the client's queue is full: let it send, then try again
                self.producer.poll(0.05)
        self.producer.poll(0)

    def route(self, msg: Any, failed: int, error: str) -> None:
        """The handler failed on ``msg`` for the ``failed``-th time: the next retry topic, or the dead-letter topic."""
        fates = self.group.fates
        with self._lock:
            if self.retries.mode == "per_key":
                self._waiting[msg.key()] = self._waiting.get(msg.key(), 0) + 1
                index = 0
            else:
                index = failed - 1
            if index < len(self.topics):
                self.sent[index] += 1
                fates.sent(msg.value())
                self._write(self.topics[index], msg, failed, error)
                return
        self.dead_letter(msg, failed, error)

    def hold(self, msg: Any) -> bool:
        """"per_key": when ``msg``'s key has a message in the retries, send ``msg`` after it untried (True)."""
        if self.retries.mode != "per_key":
            return False
        with self._lock:
            if not self._waiting.get(msg.key()):
                return False
            self._waiting[msg.key()] += 1
            self.sent[0] += 1
            self.group.fates.sent(msg.value(), tried=False)
            self._write(self.topics[0], msg, 0)
        return True

    def release(self, key: bytes | None) -> None:
        """"per_key": one of ``key``'s messages left the retries (processed or dead-lettered)."""
        with self._lock:
            left = self._waiting.get(key, 0) - 1
            if left > 0:
                self._waiting[key] = left
            else:
                self._waiting.pop(key, None)

    def dead_letter(self, msg: Any, failed: int, error: str) -> None:
        """Give up on ``msg``: write it to the dead-letter topic; it counts as handled (not lost) from then on."""
        self._write(self.dead_letter_topic, msg, failed, error)
        with self._lock:
            self.dead += 1
        self.group.fates.dead_lettered(msg.value())
        if self.group.ledger is not None:
            self.group.ledger.record([msg.value()])

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every write was acknowledged (True), at most ``timeout`` seconds."""
        return self.producer.flush(timeout) == 0


class RetryWorker(Worker):
    """A member that handles one message at a time and, when the handler raises, retries or routes it."""

    def _loop(self) -> None:
        g: RetryGroup = self.group  # type: ignore[assignment]
        self.consumer = self.client_type(self._conf())
        self.consumer.subscribe([g.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)
        self.last_commit = time.monotonic()
        while not self.stop_event.is_set():
            for m in self._good(self.consumer.consume(num_messages=g.batch_size, timeout=0.1)):
                if not self._handle(g, m):
                    return  # stopped while retrying in place: the message stays unprocessed
                self._commit_due()
            self._commit_due()

    def _commit_due(self, again: bool = False) -> None:
        """Commit what is processed once ``commit_interval`` has passed since the last commit; ``again``: with
        ``commit_while_busy``, re-commit the last offsets even if nothing moved (the Java client's auto-commit,
        from a loop that retries a message: Burrow's STALL)."""
        g = self.group
        if time.monotonic() - self.last_commit < g.commit_interval:
            return
        if again and g.commit_while_busy:
            self.pending.update({tp: off for tp, off in self.committed.items()
                                 if tp in self.owned and tp not in self.pending})
        self._commit_routed(asynchronous=True)
        self.last_commit = time.monotonic()

    def _handle(self, g: "RetryGroup", m: Any) -> bool:
        """Process ``m``, retry it in place, or hand it to the router; False if stopped before it was done."""
        if not g.router.hold(m):
            failed = 0
            while True:
                error = g.attempt(m, failed)
                if error is None:
                    self._done(1)
                    g._record_latencies([m], time.time())
                    break
                failed += 1
                if not g.retries.blocking:
                    g.router.route(m, failed, error)
                    break
                self._commit_due(again=True)
                if not self._sleep_until(time.monotonic() + g.retries.backoff):
                    return False
        self.pending[(m.topic(), m.partition())] = m.offset() + 1
        return True

    def _commit_routed(self, asynchronous: bool) -> None:
        """Commit once the router's writes are acknowledged: a routed message is then safe in a retry topic."""
        if self.pending and not self.group.router.flush(10.0):
            self.group.events.add("commit_failed", self.name, "retry writes not acknowledged: not committed")
            return
        self._commit(asynchronous=asynchronous)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.group.router.flush(10.0)
        super()._on_revoke(consumer, partitions)

    def _close(self) -> None:
        router = getattr(self.group, "router", None)
        if router is not None:
            router.flush(10.0)
        super()._close()


class Stage:
    """The reader of one retry topic ("topics" mode): waits until each message is due, tries it again, routes it on.

    Messages reach a retry topic in the order they became due, so waiting for each in turn holds up nothing."""

    def __init__(self, group: "RetryGroup", index: int, topic: str) -> None:
        self.group, self.index, self.topic = group, index, topic
        self.handled = 0  # messages it finished with (processed, routed on or dead-lettered)
        self.error: BaseException | None = None
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"kafkabp-{group.group}-retry{index}", daemon=True)

    def _run(self) -> None:
        g = self.group
        consumer = Consumer({**client_config(), "group.id": f"{g.group}-retry{self.index}", "logger": rdkafka_log,
                             "enable.auto.commit": False, "fetch.queue.backoff.ms": 10, "fetch.wait.max.ms": 50})
        try:
            consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
            while not self.stop_event.is_set():
                for m in consumer.consume(num_messages=100, timeout=self._poll_timeout()):
                    err = m.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            g.events.add("consume_error", f"retry{self.index}", err.str())
                        continue
                    if not self._take(m):
                        return
                self._tick()
        except BaseException as exc:
            self.error = exc
            g.events.add("error", f"retry{self.index}", repr(exc)[:200])
        finally:
            consumer.close()

    def _poll_timeout(self) -> float:
        return 0.1

    def _tick(self) -> None:
        """Work that became due while polling (none here: each message is handled as it is read)."""

    def _take(self, m: Any) -> bool:
        """Wait until ``m`` is due, try it, route it on if it fails; False if stopped first."""
        g = self.group
        if self.stop_event.wait(max(0.0, m.timestamp()[1] / 1000.0 + g.retries.delays[self.index] - time.time())):
            return False
        failed = failures(m)
        error = g.attempt(m, failed)
        if error is not None:
            g.router.route(m, failed + 1, error)
        self.handled += 1
        return True


class KeyedStage(Stage):
    """The reader of the one retry topic in "per_key" mode: each key's messages in order, a failed one retried in
    place after ``delays[0]``, ``delays[1]``… seconds while the key's later ones wait behind it; other keys go on."""

    def __init__(self, group: "RetryGroup", index: int, topic: str) -> None:
        super().__init__(group, index, topic)
        self.queues: dict[bytes | None, collections.deque[list[Any]]] = {}  # key -> [message, failures], in order
        self.due: list[tuple[float, int, bytes | None]] = []  # (when, tie-break, key): a heap of keys to try next
        self._ticket = itertools.count()

    def _schedule(self, key: bytes | None, when: float) -> None:
        heapq.heappush(self.due, (when, next(self._ticket), key))

    def _poll_timeout(self) -> float:
        return min(0.1, max(0.0, self.due[0][0] - time.time())) if self.due else 0.1

    def _take(self, m: Any) -> bool:
        failed = failures(m)
        queue = self.queues.setdefault(m.key(), collections.deque())
        queue.append([m, failed])
        if len(queue) == 1:  # the key's head: due now, or after its first delay if it failed on the main topic
            delay = self.group.retries.delays[failed - 1] if failed else 0.0
            self._schedule(m.key(), m.timestamp()[1] / 1000.0 + delay)
        return True

    def _tick(self) -> None:
        g, delays = self.group, self.group.retries.delays
        while self.due and self.due[0][0] <= time.time() and not self.stop_event.is_set():
            _, _, key = heapq.heappop(self.due)
            queue = self.queues[key]
            head = queue[0]
            error = g.attempt(head[0], head[1])
            if error is not None:
                head[1] += 1
                if head[1] <= len(delays):
                    self._schedule(key, time.time() + delays[head[1] - 1])
                    continue
                g.router.dead_letter(head[0], head[1], error)
            queue.popleft()
            self.handled += 1
            g.router.release(key)
            if queue:
                self._schedule(key, time.time())
            else:
                del self.queues[key]


class RetryGroup(ConsumerGroup):
    """A consumer group whose handler may raise, with a :class:`~kafkabp.workload.retry.Retries` policy; counts every
    message's fate exactly (``fates``). Made by an experiment given ``Group(retries=kafkabp.Retries(...))``."""

    member_type = RetryWorker
    drain_margin = 10.0  # seconds, beyond the policy's delays, the stages get to empty the retries when stopping

    def __init__(self, *args: Any, retries: Retries, **kwargs: Any) -> None:
        if not isinstance(retries, Retries):
            raise TypeError(f"retries must be a kafkabp.Retries(...), got {retries!r}")
        super().__init__(*args, **kwargs)
        if self.processing.kind != "handler":
            raise ValueError(f"a group with retries needs a handler that raises on failure, e.g. "
                             f"processing=kafkabp.handler(kafkabp.Dependency(...)), got {self.processing}")
        if self.parallel > 1 or self.buffer is not None:
            raise ValueError("a group with retries handles one message at a time: leave parallel and buffer out")
        self.retries = retries
        self.fates = Fates()
        self.stages: list[Stage] = []
        self.router: Router | None = None

    @classmethod
    def with_retries(cls, retries: Retries) -> Any:
        """``RetryGroup`` with ``retries`` bound: called like ConsumerGroup(topic, group, n, processing, ...)."""
        return functools.partial(cls, retries=retries)

    def attempt(self, msg: Any, failed: int) -> str | None:
        """Call the handler on ``msg`` once; None when it succeeded (counted, with its ``failed`` earlier attempts),
        else the error."""
        value = msg.value() or b""
        try:
            self.processing.fn(value[HEADER_SIZE:])  # type: ignore[misc]
        except Exception as exc:  # any failure of the handler: the policy decides what comes next
            self.fates.failed(value)
            return f"{type(exc).__name__}: {exc}"
        self.fates.processed(value, msg.key(), failed)
        if self.ledger is not None:
            self.ledger.record([value])
        return None

    def _before_start(self) -> None:
        self.router = Router(self)
        for name in self.router.topics + ([self.router.dead_letter_topic] if self.router.topics else []):
            admin.create_topic(name, 1)
        stage_type = KeyedStage if self.retries.mode == "per_key" else Stage
        self.stages = [stage_type(self, i, topic) for i, topic in enumerate(self.router.topics)]
        for stage in self.stages:
            stage.thread.start()

    def errors(self) -> list[BaseException]:
        return super().errors() + [s.error for s in self.stages if s.error is not None]

    def stop(self, timeout: float = 15.0) -> None:
        """The members stop; then the stages finish what is in the retries, in order, and stop."""
        super().stop(timeout)
        router = self.router
        if router is None:
            return
        router.flush(5.0)
        deadline = time.monotonic() + self.retries.worst_delay() + self.drain_margin
        for i, stage in enumerate(self.stages):  # stage i gets nothing new once the stages before it are empty
            while stage.handled < router.sent[i] and stage.thread.is_alive() and not self.abandoned \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            router.flush(5.0)
        for stage in self.stages:
            stage.stop_event.set()
        for stage in self.stages:
            stage.thread.join(5.0)
        router.flush(5.0)
        if not self.abandoned and router.topics:
            for name in router.topics + [router.dead_letter_topic]:
                try:
                    admin.delete_topic(name)
                except Exception:  # best effort: a lab topic left behind costs nothing
                    pass

    def summary(self) -> dict[str, Any]:
        """The fates, order violations and retry counts, for the experiment's summary."""
        out = self.fates.summary()
        router = self.router
        out["retry_counts"].update({"sent_to_retry": sum(router.sent) if router else 0,
                                    "dead_lettered": router.dead if router else 0,
                                    "delivery_errors": router.delivery_errors if router else 0})
        return out


__all__ = ["ERROR", "FAILED", "KeyedStage", "RetryGroup", "RetryWorker", "Router", "Stage", "failures"]

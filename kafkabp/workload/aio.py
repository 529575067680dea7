"""An asyncio consumer group: confluent-kafka's own ``AIOConsumer``, a task per message, and a bound (or none).

Each member runs its own event loop in its own thread (``asyncio.run``), so it works the same in a script and in
Jupyter, whose kernel already runs a loop in the main thread: a cell that waits (``time.sleep``) would block that loop,
and ``asyncio.run`` refuses to start inside it. The member reads with ``confluent_kafka.aio.AIOConsumer`` (every
call of it runs the blocking client call in the consumer's own thread pool and awaits the result: the library's
design, see its docstring) and processes each message in an asyncio task on its loop:

- ``AsyncOptions(limit=None)``: a task per message, created as soon as the message is fetched. Nothing slows the
  fetching down, so when the service is slower than the topic the tasks (and the process's memory) grow with the
  backlog: an unbounded buffer.
- ``AsyncOptions(limit=64)``: an ``asyncio.Semaphore`` of 64. The loop takes a permit before it creates a task and
  fetches no more than it may start: at most 64 messages in flight; the backlog stays in Kafka.

The awaited work is the group's processing model (``kafkabp.fixed(0.01)``: an awaited 10 ms call) made through a
service that takes at most ``connections`` calls at once (a client's connection pool: aiohttp's default limit is
100); a call beyond that waits for a connection. Offsets are committed only up to the first unfinished message of
each partition (:class:`~kafkabp.workload.parallel.PrefixTracker`, lesson 04's rule), so stopping mid-run (the
tasks in flight are cancelled) loses nothing: at-least-once.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

from confluent_kafka import TopicPartition

from kafkabp.infra.broker import client_config
from kafkabp.infra.paths import rdkafka_log
from kafkabp.ledger import HEADER_SIZE
from kafkabp.registry import park
from kafkabp.workload.consumer import ConsumerGroup, good_messages
from kafkabp.workload.group import Member
from kafkabp.workload.parallel import OrderCheck, PrefixTracker
from kafkabp.workload.processing import spin_cpu

CALL_TIMEOUT = 10.0  # seconds any one awaited client call may take (consume, commit, subscribe)
CLOSE_TIMEOUT = 15.0  # close: leaves the group, which waits for the coordinator
T = TypeVar("T")


@dataclass(frozen=True)
class AsyncOptions:
    """How an asyncio member processes: ``limit`` tasks in flight at most (an ``asyncio.Semaphore``; None: a task per
    message, unbounded), through a service that takes ``connections`` calls at once (None: as many as come), with
    ``workers`` threads in ``AIOConsumer``'s pool (its blocking client calls run there)."""

    limit: int | None = 64
    connections: int | None = 100
    workers: int = 4

    def __post_init__(self) -> None:
        for name in ("limit", "connections"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"AsyncOptions {name} must be a whole number >= 1, or None for no bound; "
                                 f"got {value!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 2:
            raise ValueError(f"AsyncOptions workers must be a whole number >= 2 (a rebalance callback that commits "
                             f"needs a second thread while the first waits in consume()), got {self.workers!r}")

    def __str__(self) -> str:
        bound = "a task per message (unbounded)" if self.limit is None else f"semaphore of {self.limit:,}"
        pool = "" if self.connections is None else f", {self.connections:,} connections"
        return f"asyncio, {bound}{pool}"


def run_in_thread(make: Callable[[], Awaitable[T]], name: str = "kafkabp-asyncio") -> T:
    """Run the coroutine ``make()`` on a fresh event loop in a thread of its own, and return its result (or raise its
    error): what works in Jupyter too, where the main thread's loop is already running."""
    out: dict[str, Any] = {}

    def main() -> None:
        try:
            out["value"] = asyncio.run(make())  # type: ignore[arg-type]
        except BaseException as exc:  # handed to the caller
            out["error"] = exc

    thread = threading.Thread(target=main, name=name, daemon=True)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def aio_consumer_design() -> str:
    """What confluent-kafka says ``AIOConsumer`` is, in its own docstring (the installed version's): its version and
    the paragraph on how each call runs."""
    import confluent_kafka
    from confluent_kafka.aio import AIOConsumer

    paragraphs = inspect.getdoc(AIOConsumer).split("\n\n")  # type: ignore[union-attr]
    how = next((p for p in paragraphs if "executor" in p or "thread" in p), paragraphs[0])
    return f"confluent-kafka {confluent_kafka.version()}, AIOConsumer: " + " ".join(how.split())


def pending_task_bytes(n: int = 10_000, message_size: int = 100) -> dict[str, float]:
    """What one task per message holds while it waits for a connection, measured with ``tracemalloc`` (Python's
    allocations, traced): ``n`` tasks, each given a ``message_size``-byte value, wait on a service with no free
    connection. Returns bytes per task: ``task`` (the task, its coroutine and its place in the semaphore's queue)
    and ``message`` (the value), and ``n``."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1_000_000:
        raise ValueError(f"n must be a whole number of tasks from 1 to 1,000,000, got {n!r}")

    async def measure() -> dict[str, float]:
        service = asyncio.Semaphore(1)
        await service.acquire()  # the one connection is taken: every task waits, as in a backlog

        async def handle(value: bytes) -> int:
            async with service:
                return len(value)

        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            values = [bytes(message_size) + i.to_bytes(4, "big") for i in range(n)]
            held = tracemalloc.get_traced_memory()[0]
            tasks = [asyncio.create_task(handle(v)) for v in values]
            await asyncio.sleep(0)  # each task runs to its first wait
            waiting = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return {"task": (waiting - held) / n, "message": (held - base) / n, "n": float(n)}

    return run_in_thread(measure, "kafkabp-asyncio-measure")


def probe_bounded(process_all: Callable[..., Awaitable[Any]], messages: int = 2_000, limit: int = 8,
                  latency: float = 0.002) -> dict[str, Any]:
    """Lesson 17's exercise, measured: ``await process_all(range(messages), call, limit)`` on a loop of its own, where
    ``await call(m)`` takes ``latency`` s and returns ``2 * m``. Returns what happened: ``results`` in the messages'
    order or not, ``calls``, the most ``calls_at_once``, the most ``tasks_at_once`` besides the one running
    ``process_all``, and ``seconds``."""
    seen = {"calls": 0, "now": 0, "calls_at_once": 0, "tasks_at_once": 0}

    async def call(m: int) -> int:
        seen["calls"] += 1
        seen["now"] += 1
        seen["calls_at_once"] = max(seen["calls_at_once"], seen["now"])
        seen["tasks_at_once"] = max(seen["tasks_at_once"], len(asyncio.all_tasks()) - 1)
        try:
            await asyncio.sleep(latency)
        finally:
            seen["now"] -= 1
        return 2 * m

    async def run() -> dict[str, Any]:
        start = time.monotonic()
        results = await process_all(range(messages), call, limit)
        return {"in_order": list(results) == [2 * m for m in range(messages)], "calls": seen["calls"],
                "calls_at_once": seen["calls_at_once"], "tasks_at_once": seen["tasks_at_once"],
                "seconds": time.monotonic() - start}

    return run_in_thread(run, "kafkabp-asyncio-probe")


class AsyncMember(Member):
    """One member: ``AIOConsumer`` and its tasks on an event loop of its own, in its own thread."""

    suffix = "a"
    client_type: Any = None  # None: confluent-kafka's AIOConsumer (a test puts a stand-in here, in a subclass)

    def __init__(self, group: "AsyncGroup", index: int) -> None:
        super().__init__(group, index)
        self.group: AsyncGroup = group
        self.in_flight = 0  # tasks started and not finished (or cancelled)
        self.in_flight_bytes = 0
        self.pending: dict[tuple[str, int], int] = {}  # partition -> next offset to commit
        self.order = OrderCheck()
        self.tracker = PrefixTracker()
        self._tasks: dict[asyncio.Task[None], int] = {}  # task -> its message's partition
        self._finished: list[tuple[Any, float]] = []
        self.failure: BaseException | None = None  # a handler's error, raised by the loop
        self.consumer: Any = None
        self._pool: ThreadPoolExecutor | None = None

    def _conf(self) -> dict[str, Any]:
        g = self.group
        conf: dict[str, Any] = {**client_config(), **g.settings(), "client.id": self.name, "logger": rdkafka_log,
                                "on_commit": self._on_commit}  # AIOConsumer runs callbacks on the loop: coroutines
        if self.instance_id is not None:
            conf["group.instance.id"] = self.instance_id
        conf.update(g.config)
        return conf

    def _loop(self) -> None:
        asyncio.run(self._main())  # this thread's own loop, closed when the member leaves

    def _close(self) -> None:
        self.group.order_violations += self.order.violations
        self.group.events.add("left", self.name, "broker gone: not closed" if self.group.abandoned else "")

    # ---------------------------------------------------------------- the loop
    async def _main(self) -> None:
        from confluent_kafka.aio import AIOConsumer

        g, opts = self.group, self.group.options
        self.limit = asyncio.Semaphore(opts.limit) if opts.limit is not None else None
        self.service = asyncio.Semaphore(opts.connections) if opts.connections is not None else None
        # the client's pool for its blocking calls, named after the member (a thread left behind says whose it is)
        self._pool = ThreadPoolExecutor(opts.workers, thread_name_prefix=f"kafkabp-{self.name}-aio")
        self.consumer = (self.client_type or AIOConsumer)(self._conf(), executor=self._pool)
        try:
            await self._bounded(self.consumer.subscribe([g.topic], on_assign=self._on_assign,
                                                        on_revoke=self._on_revoke, on_lost=self._on_lost))
            last_commit = time.monotonic()
            while not self.stop_event.is_set():
                self._collect()
                if self.failure is not None:
                    raise self.failure
                room = g.batch_size if opts.limit is None else min(g.batch_size, opts.limit)
                msgs = await self._bounded(self.consumer.consume(num_messages=room, timeout=0.1))
                for m in good_messages(msgs, g.events, self.name):
                    if self.limit is not None and not await self._permit():
                        break  # stopping: the rest of the batch is not started, so not committed either
                    self._start(m)
                if time.monotonic() - last_commit >= g.commit_interval:
                    await self._commit(asynchronous=True)
                    last_commit = time.monotonic()
        finally:
            await self._leave()

    async def _bounded(self, call: Awaitable[T], timeout: float = CALL_TIMEOUT) -> T:
        """Await one client call, ``timeout`` seconds at most."""
        return await asyncio.wait_for(call, timeout)

    async def _permit(self) -> bool:
        """Wait for a free place under the limit (counting finished tasks meanwhile); False if asked to stop."""
        assert self.limit is not None
        while not self.stop_event.is_set():
            try:
                await asyncio.wait_for(self.limit.acquire(), 0.1)
                return True
            except asyncio.TimeoutError:
                self._collect()
        return False

    def _start(self, msg: Any) -> None:
        self.tracker.handed_out(msg.partition(), msg.offset())
        self.in_flight += 1
        self.in_flight_bytes += len(msg.value() or b"")
        self.peak_buffered = max(self.peak_buffered, self.in_flight)
        task = asyncio.create_task(self._handle(msg))
        self._tasks[task] = msg.partition()
        task.add_done_callback(self._tasks.pop)

    async def _handle(self, msg: Any) -> None:
        """One message's task: the call, then noted as finished (a cancelled one is not, so it is read again)."""
        try:
            await self._process(msg)
            self._finished.append((msg, time.time()))
        except Exception as exc:  # the handler failed: the member stops, and the experiment says why
            self.failure = self.failure or exc
        finally:
            self.in_flight -= 1
            self.in_flight_bytes -= len(msg.value() or b"")
            if self.limit is not None:
                self.limit.release()

    async def _process(self, msg: Any) -> None:
        """The processing model, awaited: a call of ``seconds`` through the service's connections, real code
        (``handler(fn)``, awaited if ``fn`` is a coroutine function), or CPU work (which holds the loop)."""
        proc = self.group.processing
        if proc.fn is not None:
            result = proc.fn((msg.value() or b"")[HEADER_SIZE:])
            if inspect.isawaitable(result):
                await result
            return
        seconds = proc.sample(self.rng)
        if proc.kind == "cpu":
            spin_cpu(seconds)  # no await: every other task waits meanwhile
        elif self.service is None:
            await asyncio.sleep(seconds)
        else:
            async with self.service:
                await asyncio.sleep(seconds)

    def _collect(self) -> None:
        """Count the finished messages, and move each partition's committable offset (the contiguous prefix)."""
        done, self._finished = self._finished, []
        if not done:
            return
        msgs = [m for m, _ in done]
        for m in msgs:
            self.tracker.finished(m.partition(), m.offset())
            self.order.see(m.key(), m.value())
        for p, offset in self.tracker.advance().items():
            self.pending[(self.group.topic, p)] = offset
        self._done(len(msgs))
        self.group._record_latencies(msgs, [at for _, at in done])
        if self.group.ledger is not None:
            self.group.ledger.record([m.value() for m in msgs])

    async def _commit(self, asynchronous: bool, only: set[tuple[str, int]] | None = None) -> None:
        items = [(tp, off) for tp, off in self.pending.items() if only is None or tp in only]
        if not items or (self.group.abandoned and not asynchronous):
            return
        stamp = f"kafkabp:{time.time():.3f}"  # as the thread workers stamp theirs
        offsets = [TopicPartition(t, p, off, metadata=stamp) for (t, p), off in items]
        try:
            await self._bounded(self.consumer.commit(offsets=offsets, asynchronous=asynchronous))
        except Exception as exc:  # e.g. a partition already revoked: read again, at-least-once
            self.group.events.add("commit_failed", self.name, str(exc)[:200])
        for tp, _ in items:
            self.pending.pop(tp, None)

    async def _cancel(self, partitions: set[int] | None = None) -> None:
        """Cancel the tasks in flight (of ``partitions``, or all) and wait for them: not finished, not committed."""
        tasks = [t for t, p in self._tasks.items() if partitions is None or p in partitions]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._collect()

    async def _leave(self) -> None:
        """Stop: cancel what is in flight, commit the processed prefix, close the client (or keep it, broker gone)."""
        await self._cancel()
        assert self._pool is not None and self.consumer is not None  # both made before the loop's try
        if self.group.abandoned:  # the broker is gone: close() could wait for it forever
            park(self.consumer)
            self._pool.shutdown(wait=False)  # its idle threads end; one stuck in a call ends with the process
            return
        closed = False
        try:
            await self._commit(asynchronous=False)
        finally:
            try:
                await self._bounded(self.consumer.close(), CLOSE_TIMEOUT)  # leaves the group at once
                closed = True
            finally:
                self._pool.shutdown(wait=closed)  # closed: every call returned, the threads end now

    # ---------------------------------------------------------------- callbacks (coroutines: AIOConsumer awaits them)
    async def _on_commit(self, err: Any, partitions: list[TopicPartition]) -> None:
        if err is not None:
            self.group.events.add("commit_failed", self.name, str(err)[:200])

    async def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        got = {(tp.topic, tp.partition) for tp in partitions}
        self.owned |= got
        self.order.forget()
        self.group.events.add("assign", self.name, _fmt(got))

    async def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        await self._settle(gone)
        await self._commit(asynchronous=False, only=gone)  # hand over the processed prefix before losing them
        self.owned -= gone
        self.group.events.add("revoke", self.name, _fmt(gone))

    async def _on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        await self._settle(gone)
        for tp in gone:
            self.pending.pop(tp, None)
        self.owned -= gone
        self.group.events.add("lost", self.name, _fmt(gone))

    async def _settle(self, gone: set[tuple[str, int]], grace: float = 1.0) -> None:
        """Before giving partitions up: let their tasks finish for ``grace`` s, then cancel the rest."""
        parts = {p for _, p in gone}
        mine = [t for t, p in self._tasks.items() if p in parts]
        if mine:
            await asyncio.wait(mine, timeout=grace)
        await self._cancel(parts)
        self.tracker.forget(parts)


def _fmt(parts: set[tuple[str, int]]) -> str:
    return ",".join(f"p{p}" for _, p in sorted(parts)) or "-"


class AsyncGroup(ConsumerGroup):
    """A consumer group of asyncio members (:class:`AsyncMember`): ``ConsumerGroup``'s settings, counts and scaling,
    with ``options`` (:class:`AsyncOptions`) saying how each member bounds its tasks. ``buffered``: the messages in
    flight (tasks started, not finished), summed over the members."""

    member_type = AsyncMember

    def __init__(self, *args: Any, options: AsyncOptions | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if options is not None and not isinstance(options, AsyncOptions):
            raise TypeError(f"options must be a kafkabp.AsyncOptions(...), got {options!r}")
        if self.parallel != 1 or self.buffer is not None:
            raise ValueError("an asyncio group bounds its tasks with AsyncOptions(limit=...): leave parallel and "
                             "buffer out")
        if self.processing.kind == "batch_handler" or self.processing.per_batch:
            raise ValueError(f"an asyncio group processes message by message; {self.processing} works per batch: "
                             "give a per-message model (fixed, exponential, lognormal, cpu or handler)")
        self.options = options or AsyncOptions()

    @classmethod
    def with_options(cls, options: AsyncOptions | None) -> Any:
        """``AsyncGroup`` with ``options`` bound: called like ConsumerGroup(topic, group, n, processing, ...)."""
        return functools.partial(cls, options=options)

    @property
    def checks_order(self) -> bool:
        return True  # tasks finish in any order: per-key order is counted



__all__ = ["AsyncGroup", "AsyncMember", "AsyncOptions", "CALL_TIMEOUT", "aio_consumer_design", "pending_task_bytes",
           "probe_bounded",
           "run_in_thread"]

"""Lesson 17's machinery without a broker: the options and the spec, an asyncio member driven by a stand-in
``AIOConsumer`` (bounded and unbounded tasks, contiguous-prefix commits, a clean stop), what a pending task holds,
the exercise's probe, and the questions asked of the runs (kafkabp.concurrency)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from confluent_kafka import Message, TopicPartition

import kafkabp
from kafkabp import concurrency
from kafkabp.ledger import HEADER, MAGIC
from kafkabp.result import EVENT_COLUMNS, Result
from kafkabp.workload import aio
from kafkabp.workload.parallel import OrderCheck


# ---------------------------------------------------------------- options and spec
def test_options_refuse_what_cannot_run_and_say_what_they_are() -> None:
    for bad in (dict(limit=0), dict(limit=True), dict(connections=-1), dict(limit=2.5), dict(workers=1)):
        with pytest.raises(ValueError, match="AsyncOptions"):
            kafkabp.AsyncOptions(**bad)
    assert str(kafkabp.AsyncOptions(limit=None, connections=None)) == "asyncio, a task per message (unbounded)"
    assert str(kafkabp.AsyncOptions(limit=50, connections=50)) == "asyncio, semaphore of 50, 50 connections"


def test_the_group_spec_takes_async_options_and_only_for_a_consumer_group() -> None:
    assert kafkabp.Group(aio=kafkabp.AsyncOptions(limit=8)).aio.limit == 8
    with pytest.raises(TypeError, match="AsyncOptions"):
        kafkabp.Group(aio={"limit": 8})
    for bad in (dict(parallel=4), dict(protocol="share"), dict(buffer=kafkabp.Buffer(100))):
        with pytest.raises(ValueError, match="aio="):
            kafkabp.Group(aio=kafkabp.AsyncOptions(), **bad)


def test_an_async_group_refuses_per_batch_work() -> None:
    with pytest.raises(ValueError, match="message by message"):
        aio.AsyncGroup("t", "g", 1, kafkabp.per_batch(0.01))
    with pytest.raises(TypeError, match="AsyncOptions"):
        aio.AsyncGroup("t", "g", 1, options={"limit": 3})  # type: ignore[arg-type]


# ---------------------------------------------------------------- an asyncio member with a stand-in client
def message(partition: int, offset: int, seq: int) -> Message:
    """A real client message as the broker would hand it over: kafkabp's header with ``seq``, one of 7 keys."""
    return Message(topic="t", partition=partition, offset=offset, key=f"k{seq % 7}".encode(),
                   value=HEADER.pack(MAGIC, 0, seq) + b"x" * 88, timestamp=(1, int(time.time() * 1000)))


class StandIn:
    """What the member needs of AIOConsumer: ``per_partition`` messages on each of two partitions, all at once."""

    made: list["StandIn"] = []
    per_partition = 1_000

    def __init__(self, conf: dict[str, Any], executor: Any) -> None:
        self.conf, self.commits, self.closed = conf, [], False
        self.todo = [message(p, o, 2 * o + p) for o in range(self.per_partition) for p in (0, 1)]
        StandIn.made.append(self)

    async def subscribe(self, topics: list[str], on_assign: Any, on_revoke: Any, on_lost: Any) -> None:
        self.on_revoke = on_revoke
        await on_assign(self, [TopicPartition(topics[0], p) for p in (0, 1)])

    async def consume(self, num_messages: int, timeout: float) -> list[Message]:
        batch, self.todo = self.todo[:num_messages], self.todo[num_messages:]
        if not batch:
            await asyncio.sleep(timeout)
        return batch

    async def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.commits.append({tp.partition: tp.offset for tp in offsets})

    async def close(self) -> None:
        await self.on_revoke(self, [TopicPartition("t", p) for p in (0, 1)])
        self.closed = True


class StandInMember(aio.AsyncMember):
    client_type = StandIn


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aio, "client_config", lambda: {"bootstrap.servers": "127.0.0.1:1"})
    StandIn.made.clear()


def group(options: kafkabp.AsyncOptions, seconds: float) -> aio.AsyncGroup:
    ledger = kafkabp.Ledger()
    ledger.produced(ledger.register("stand-in"), 2_000)
    g = aio.AsyncGroup("t", "g", 1, kafkabp.fixed(seconds), options=options, ledger=ledger)
    g.member_type = StandInMember
    return g


def committed(client: StandIn) -> dict[int, int]:
    last: dict[int, int] = {}
    for c in client.commits:
        last.update(c)
    return last


def test_a_semaphore_bounds_the_tasks_and_every_message_is_processed_once(offline: None) -> None:
    g = group(kafkabp.AsyncOptions(limit=16, connections=100), 0.002)
    g.start()
    assert kafkabp.wait_for(lambda: g.consumed == 2_000, timeout=20)
    g.stop()
    client = StandIn.made[0]
    assert g.peak_buffered <= 16 and g.peak_buffered == 16  # the bound, reached, never passed
    assert committed(client) == {0: 1_000, 1: 1_000} and client.closed  # everything, committed as next-to-read
    report = g.ledger.report()
    assert report["duplicates"] == 0 and report["processed"] == 2_000 and g.buffered == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("kafkabp-g-a")]


def test_a_task_per_message_takes_the_whole_backlog_in_and_a_stop_commits_only_the_done_prefix(offline: None) -> None:
    g = group(kafkabp.AsyncOptions(limit=None, connections=10), 0.01)  # 1,000 msg/s at most
    g.start()
    assert kafkabp.wait_for(lambda: g.buffered > 1_500, timeout=10)  # fetched at once, waiting for a connection
    assert kafkabp.wait_for(lambda: g.consumed >= 300, timeout=10)
    g.stop()  # cancels what is in flight
    client, done = StandIn.made[0], g.consumed
    assert 300 <= done < 2_000 and g.peak_buffered > 1_500 and g.buffered == 0
    last = committed(client)
    # FIFO completions: the committed prefix is what was done, give or take the calls that finished out of turn
    assert sum(last.values()) <= done and sum(last.values()) >= done - 10, (last, done)
    assert client.closed


def test_a_failing_handler_stops_the_member_and_says_why(offline: None) -> None:
    def broken(payload: bytes) -> None:
        raise RuntimeError("the service answered 500")

    g = group(kafkabp.AsyncOptions(limit=4), 0.0)
    g.processing = kafkabp.handler(broken)
    g.start()
    assert kafkabp.wait_for(lambda: bool(g.errors()), timeout=10)
    g.stop()
    assert "500" in repr(g.errors()[0]) and StandIn.made[0].closed


def test_async_handlers_are_awaited(offline: None) -> None:
    seen: list[int] = []

    async def call(payload: bytes) -> None:
        await asyncio.sleep(0.001)
        seen.append(len(payload))

    g = group(kafkabp.AsyncOptions(limit=8), 0.0)
    g.processing = kafkabp.handler(call)
    g.start()
    assert kafkabp.wait_for(lambda: g.consumed == 2_000, timeout=20)
    g.stop()
    assert len(seen) == 2_000 and set(seen) == {88}


# ---------------------------------------------------------------- what a task holds, the exercise, the loop's thread
def test_a_pending_task_holds_about_a_kilobyte_besides_its_message() -> None:
    cost = kafkabp.pending_task_bytes(2_000, message_size=1_000)
    assert 500 < cost["task"] < 5_000, cost  # 1.4 KB measured here (CPython 3.11)
    assert 1_000 <= cost["message"] < 1_200 and cost["n"] == 2_000
    with pytest.raises(ValueError, match="whole number"):
        kafkabp.pending_task_bytes(0)


def test_the_probe_tells_bounded_tasks_from_bounded_calls() -> None:
    async def gather_all(messages: Any, call: Any, limit: int) -> list[Any]:
        gate = asyncio.Semaphore(limit)

        async def one(m: Any) -> Any:
            async with gate:
                return await call(m)

        return list(await asyncio.gather(*(one(m) for m in messages)))

    report = kafkabp.probe_bounded(gather_all, messages=300, limit=5, latency=0.001)
    assert report["in_order"] and report["calls"] == 300 and report["calls_at_once"] == 5
    assert report["tasks_at_once"] == 300  # a task per message, behind the semaphore


def test_run_in_thread_hands_back_the_result_or_the_error_and_leaves_no_thread() -> None:
    async def answer() -> int:
        return 42

    async def fail() -> None:
        raise KeyError("gone")

    assert aio.run_in_thread(answer) == 42
    with pytest.raises(KeyError, match="gone"):
        aio.run_in_thread(fail)
    assert not [t for t in threading.enumerate() if t.name.startswith("kafkabp-asyncio")]


def test_written_runs_a_coroutine_function(capsys: pytest.CaptureFixture[str]) -> None:
    async def stub(messages: Any, call: Any, limit: int) -> None:
        raise NotImplementedError("write it")

    async def done(messages: Any, call: Any, limit: int) -> list[Any]:
        return [await call(m) for m in messages]

    assert not kafkabp.written(stub, [0], asyncio.sleep, 1) and "stub() is not written yet" in capsys.readouterr().out
    assert kafkabp.written(done, [0, 0], asyncio.sleep, 1)


def test_order_check_counts_a_key_going_backwards() -> None:
    order = OrderCheck()
    for key, seq in ((b"a", 1), (b"a", 2), (b"b", 1), (b"a", 1), (None, 0)):
        order.see(key, HEADER.pack(MAGIC, 0, seq))
    assert order.violations == 1
    order.forget()
    order.see(b"a", HEADER.pack(MAGIC, 0, 0))
    assert order.violations == 1
    order.see(b"a", HEADER.pack(MAGIC, 1, 0))  # another producer (the rate producer after a backlog): its own order
    order.see(b"a", b"XX" + bytes(10))  # no kafkabp header: nothing to compare
    assert order.violations == 1


def test_the_backlog_writer_is_idempotent_unless_the_config_decides_acks_or_retries() -> None:
    assert kafkabp.Producer(config={"linger.ms": 20}).backlog_config() == {
        "enable.idempotence": True, "linger.ms": 20, "sticky.partitioning.linger.ms": 0}
    for learner in ({"acks": 1}, {"enable.idempotence": False}, {"max.in.flight.requests.per.connection": 20}):
        conf = kafkabp.Producer(config=learner).backlog_config()
        assert conf.get("enable.idempotence") == learner.get("enable.idempotence") and conf["sticky.partitioning.linger.ms"] == 0


# ---------------------------------------------------------------- questions asked of the runs
def sampled(in_flight: list[float], lag: list[float], rss: list[float]) -> Result:
    n = len(lag)
    timeline = pd.DataFrame({"t": np.arange(float(n)), "buffered": in_flight, "lag": lag, "rss_mb": rss})
    processed = pd.DataFrame({"t": np.arange(float(n)), "member": "a0", "processed": np.arange(n) * 100})
    return Result("by hand", timeline, pd.DataFrame(), pd.DataFrame(columns=EVENT_COLUMNS), pd.Series(dtype=float),
                  {"duration": float(n - 1), "consumed": 100 * (n - 1), "peak_buffered": int(np.nanmax(in_flight)),
                   "produced": 1_000, "lost": 0, "order_violations": 2}, {}, processed=processed)


def test_in_flight_and_where_the_backlog_waited() -> None:
    unbounded = sampled([np.nan, 900, 800, 500], [1_000, 1_000, 820, 600], [100, 150, 160, 140])
    bounded = sampled([np.nan, 50, 50, 50], [1_000, 1_000, 900, 800], [100, 101, 100, 100])
    f = unbounded.in_flight()
    assert list(f["t"]) == [1.0, 2.0, 3.0] and list(f["in_flight"]) == [900, 800, 500]
    assert unbounded.share_in_process() == pytest.approx(0.9) and bounded.share_in_process() == pytest.approx(0.05)
    assert math.isnan(sampled([1, 2], [0, 0], [1, 1]).share_in_process())  # no lag: nothing waited anywhere
    table = concurrency.compare({"unbounded": unbounded, "bounded": bounded}, start=0.0)
    assert list(table.columns) == concurrency.COLUMNS
    assert table.loc["unbounded", "peak in flight"] == 900 and table.loc["bounded", "RSS growth (MB)"] == 1.0
    assert table.loc["unbounded", "throughput (msg/s)"] == pytest.approx(100.0)
    assert concurrency.in_flight(pd.DataFrame({"t": [0.0]})).empty


# ---------------------------------------------------------------- on the broker
@pytest.mark.integration
def test_on_the_broker_a_rebalance_hands_over_the_processed_prefix_and_nothing_is_lost(kafka_bootstrap: str) -> None:
    """Two asyncio members join one by one (KIP-848): the first gives up partitions with tasks in flight, commits
    what is done from its on_revoke coroutine, and every message is counted exactly; no thread is left."""
    before = {t for t in threading.enumerate() if t.is_alive()}
    e = kafkabp.Experiment(rate=1_000, consumers=1, partitions=4, processing=kafkabp.fixed(0.005),
                           producer=kafkabp.Producer(backlog=3_000, keys="uniform"),
                           group=kafkabp.Group(protocol="consumer", aio=kafkabp.AsyncOptions(limit=32)))
    r = e.run(6.0, progress=False, actions=[(2.0, lambda x: x.scale(2))])
    s = r.summary
    assert s.lost == 0 and s.counts_exact, s
    assert s.peak_buffered <= 32 and s.consumed > 3_000, s
    assert s.duplicates <= 2 * 32, s  # at most what was in flight when the partitions moved
    owners = {m for m, parts in r.assignment.items() if parts}
    assert len(owners) == 2 and len(r.events_of("revoke")) >= 1, (r.assignment, r.events)
    assert r.params["aio"] == "asyncio, semaphore of 32, 100 connections"
    assert kafkabp.wait_for(lambda: not ({t for t in threading.enumerate() if t.is_alive()} - before), timeout=10), \
        {t.name for t in threading.enumerate()} - {t.name for t in before}

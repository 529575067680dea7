"""The measuring kit of run.py: the baselines kafkabp is compared with, topics, samplers, sample arithmetic.

The baselines are a plain confluent-kafka produce loop and consume loop, written the way a user would
write them, and Kafka's own kafka-producer-perf-test / kafka-consumer-perf-test. Nothing here uses
kafkabp's workload classes. ``python benchmarks/run.py`` puts this folder on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import gc
import re
import struct
import threading
import time
from bisect import bisect_right
from functools import partial
from collections.abc import Callable, Iterator
from typing import Any

import kafkabp
from confluent_kafka import Consumer, Producer

VALUE = b"x" * 100
# One producer config for all three producers in (a). batch.size is librdkafka's default, given to the
# Java tool too (its own 16 KB default makes it ~3x slower here); no idempotence, no compression.
PRODUCER_CONF: dict[str, Any] = {"linger.ms": 5, "batch.size": 1_000_000, "enable.idempotence": False,
                                 "compression.type": "none"}
# kafkabp's classic-protocol member settings (workload.consumer.Worker._conf), copied into the plain loop
CONSUMER_CONF = {"enable.auto.commit": False, "auto.offset.reset": "earliest", "group.protocol": "classic",
                 "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}
# Given to every consumer in (b) and (g), kafkabp's (through ConsumerGroup(config=...)) and the plain loop's.
# librdkafka's default fetch.queue.backoff.ms=1000 postpones the next fetch once its local queue is above
# queued.min.messages; a reader that empties the queue before then waits: consume() returns nothing for
# 0.1 s at a time, 8-37 times per million records, 0.8-3.5 s of a 1.5-6 s read, at random. That wait,
# identical in both loops but drawn independently, was most of the spread of (b). At 10 ms it is gone.
FETCH_CONF = {"fetch.queue.backoff.ms": 10}
Sample = tuple[float, int]  # (seconds since start, counter value)
Run = dict[str, float]
cpu = time.process_time  # CPU seconds of this process, all threads (librdkafka's too)


@contextlib.contextmanager
def fresh_topic(partitions: int = 1) -> Iterator[str]:
    """A new topic for one measurement, deleted afterwards. Clients left in reference cycles (a stopped
    RateProducer) are collected first, before their own metadata refresh could re-create the topic."""
    name = kafkabp.unique_name("bench")
    kafkabp.create_topic(name, partitions)
    try:
        yield name
    finally:
        gc.collect()
        kafkabp.delete_topic(name)


def drop_group(group: str) -> None:
    with contextlib.suppress(Exception):
        kafkabp.delete_group(group)


def thread_cpu(obj: Any) -> Callable[[], float]:
    """CPU seconds of ``obj.thread`` (a producer's or a lag monitor's thread), read from outside through its
    pthread clock."""
    thread = obj.thread
    if thread is None or thread.ident is None:
        return lambda: float("nan")
    clock = time.pthread_getcpuclockid(thread.ident)
    return lambda: time.clock_gettime(clock)


def trace(get: Callable[[], int], t0: float, until: float, period: float) -> list[Sample]:
    """Sample a counter every ``period`` s until ``until`` s after ``t0``, each stamped with the middle of
    the clock readings around it; a reading that took > 1 ms (thread preempted) is dropped."""
    out: list[Sample] = []
    while (t1 := time.monotonic()) - t0 < until:
        c, t2 = get(), time.monotonic()
        if t2 - t1 < 0.001:
            out.append(((t1 + t2) / 2 - t0, c))
        time.sleep(period)
    return out


def watch_until(get: Callable[[], int], n: int, t0: float, c0: float, timeout: float = 300.0) -> Run:
    """Sample a counter every 5 ms until it reaches ``n``: rate from the first record to the last (join
    excluded), rate since ``t0`` (join included), seconds to the first record, CPU us per record."""
    first: Sample | None = None
    while (c := get()) < n:
        now = time.monotonic()
        if first is None and c > 0:
            first = (now, c)
        if now - t0 > timeout:
            raise TimeoutError(f"only {c} of {n} records consumed after {timeout:.0f} s")
        time.sleep(0.005)
    end = time.monotonic()
    first = first or (end, n)
    return {"rate": (n - first[1]) / (end - first[0]) if end > first[0] else float("nan"),
            "e2e": n / (end - t0), "join_s": first[0] - t0, "cpu_us": (cpu() - c0) / n * 1e6}


def produce_plain(topic: str, n: int, acks: str, callback: bool = False, counted: bool = False,
                  only_errors: bool = False) -> Run:
    """The plain confluent-kafka loop: produce, poll(0) every 1000, retry on BufferError, flush. With
    ``callback`` each produce() carries an on_delivery callback (a no-op), as per-record reports need. The parts
    of exact counting, each alone, to say what costs what: ``counted``, every value unique, a 12-byte header
    (prefix and sequence number) packed in front as kafkabp's ledger does; ``only_errors``, a default on_delivery
    with ``delivery.report.only.error`` (confluent-kafka then keeps a state per message and visits it on every
    delivery, calling Python only for failures)."""
    conf = {**kafkabp.client_config(), **PRODUCER_CONF, "acks": acks}
    if only_errors:
        conf.update({"delivery.report.only.error": True, "on_delivery": _ignore})
    p = Producer(conf)
    t0, c0, i = time.perf_counter(), cpu(), 0
    if counted:  # its own loop, so that the others keep the one-call body below
        pack, head, pad, produce = struct.Struct(f">4sQ{len(VALUE) - 12}s").pack, b"KB\x00\x00", VALUE[12:], p.produce
        while i < n:
            try:
                produce(topic, pack(head, i, pad))
            except BufferError:
                p.poll(0.005)
                continue
            i += 1
            if i % 1000 == 0:
                p.poll(0)
    send = partial(p.produce, topic, VALUE, on_delivery=_ignore) if callback else partial(p.produce, topic, VALUE)
    while i < n:
        try:
            send()
        except BufferError:
            p.poll(0.005)
            continue
        i += 1
        if i % 1000 == 0:
            p.poll(0)
    if p.flush(120):
        raise RuntimeError("plain producer: records still undelivered after 120 s")
    return {"rate": n / (time.perf_counter() - t0), "cpu_us": (cpu() - c0) / n * 1e6}


def _ignore(err: Any, msg: Any) -> None:
    """A delivery callback that does nothing (the cost of calling Python per record)."""


def fill_partitions(topic: str, partitions: int, per_partition: int) -> None:
    p = Producer({**kafkabp.client_config(), **PRODUCER_CONF})
    for i in range(partitions * per_partition):
        p.produce(topic, VALUE, partition=i % partitions)
    p.flush(60)


def produce_java(topic: str, n: int, acks: str) -> Run:
    props = [f"{k}={str(v).lower()}" for k, v in {**PRODUCER_CONF, "acks": acks}.items()]
    out = kafkabp.kafka_tool("kafka-producer-perf-test", "--topic", topic, "--num-records", str(n),
                             "--record-size", "100", "--throughput", "-1", "--producer-props",
                             f"bootstrap.servers={kafkabp.bootstrap()}", *props, timeout=900).stdout
    found = re.findall(r"records sent, ([\d.]+) records/sec.*50th", out)
    if not found:
        raise RuntimeError(f"no summary line in kafka-producer-perf-test output:\n{out[-800:]}")
    return {"rate": float(found[-1])}


def count_ok(msgs: list[Any]) -> int:
    """The plain loop's per-record work: skip errors, count the rest."""
    ok = 0
    for m in msgs:
        if m.error() is None:
            ok += 1
    return ok


def consume_plain(topic: str, n: int) -> Run:
    """A plain consume(num_messages=500) loop in a thread, kafkabp's settings, async commit every 0.2 s."""
    group, stop, count = kafkabp.unique_name("bench-g"), threading.Event(), [0]

    def loop() -> None:
        c = Consumer({**kafkabp.client_config(), "group.id": group, **CONSUMER_CONF, **FETCH_CONF})
        c.subscribe([topic])
        last = time.monotonic()
        while not stop.is_set():
            count[0] += count_ok(c.consume(num_messages=500, timeout=0.1))
            if count[0] and time.monotonic() - last >= 0.2:
                c.commit(asynchronous=True)
                last = time.monotonic()
        c.close()

    thread = threading.Thread(target=loop, daemon=True)
    t0, c0 = time.monotonic(), cpu()
    thread.start()
    try:
        return watch_until(lambda: count[0], n, t0, c0)
    finally:
        stop.set()
        thread.join(15)
        drop_group(group)


def consume_java(topic: str, n: int) -> Run:
    group = kafkabp.unique_name("bench-g")
    out = kafkabp.kafka_tool("kafka-consumer-perf-test", "--bootstrap-server", kafkabp.bootstrap(),
                             "--topic", topic, "--messages", str(n), "--group", group, timeout=900).stdout
    drop_group(group)
    lines = out.splitlines()
    i = next(i for i, line in enumerate(lines) if "nMsg.sec" in line)
    row = dict(zip([h.strip() for h in lines[i].split(",")], [v.strip() for v in lines[i + 1].split(",")], strict=True))
    # nMsg.sec counts the group join, fetch.nMsg.sec does not (like "rate" of the Python loops)
    return {"rate": float(row["fetch.nMsg.sec"]), "e2e": float(row["nMsg.sec"]),
            "join_s": float(row["rebalance.time.ms"]) / 1000}

def achieved_rate(samples: list[Sample], lo: float, hi: float) -> float:
    """Rate between the first and the last counter increase seen in [lo, hi]: exact at low rates, where a
    count read at an arbitrary instant is off by up to one message."""
    edges = [s for prev, s in zip(samples, samples[1:], strict=False) if lo <= s[0] <= hi and s[1] > prev[1]]
    (t1, c1), (t2, c2) = edges[0], edges[-1]
    return (c2 - c1) / (t2 - t1)

def settle_time(samples: list[Sample], t_change: float, target: float, window: float = 0.2,
                tol: float = 0.05, hold: float = 1.0) -> dict[str, float]:
    """Step response of the sliding ``window`` rate to a new ``target`` set at ``t_change``, in seconds
    after it: ``first`` inside the +-``tol`` band, ``held`` inside it for ``hold`` s, ``strict`` inside it
    for the rest of the trace; ``excursions``: samples outside the band after ``held`` + ``hold``."""
    times, rated = [s[0] for s in samples], []
    for t, c in samples:
        j = bisect_right(times, t - window) - 1
        if j >= 0 and t >= t_change:
            rated.append((t - t_change, abs((c - samples[j][1]) / (t - samples[j][0]) / target - 1) <= tol))
    inf, end = float("inf"), rated[-1][0] if rated else 0.0
    first = next((t for t, ok in rated if ok), inf)
    held = next((t for i, (t, ok) in enumerate(rated) if t + hold <= end
                 and all(ok2 for t2, ok2 in rated[i:] if t2 <= t + hold)), inf)
    strict = next((t for i, (t, _) in enumerate(rated) if all(ok2 for _, ok2 in rated[i:])), inf)
    return {"first": first, "held": held, "strict": strict,
            "excursions": sum(not ok for t, ok in rated if t > held + hold)}

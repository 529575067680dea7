#!/usr/bin/env python3
"""kafkabp benchmarks on the real broker: throughput, rate accuracy, control latency, monitor cost.

``make bench`` runs ``.venv/bin/python benchmarks/run.py``; ``--quick`` does fewer, shorter repeats and
``--only a,c`` picks benchmarks. Every measurement uses a fresh topic (deleted afterwards) and 100-byte
records, and is repeated: the table quotes medians (ratios: median of the per-repeat paired ratios).
The table is printed and written as Markdown + JSON to benchmarks/results/ (dated; full runs: latest.*).
harness.py holds the baselines and samplers; benchmarks/README.md says what each benchmark measures.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import confluent_kafka
from confluent_kafka import Consumer, TopicPartition
from harness import (FETCH_CONF, PRODUCER_CONF, Run, Sample, achieved_rate, consume_java, consume_plain, count_ok,
                     cpu, drop_group, fill_partitions, fresh_topic, produce_java, produce_plain, settle_time,
                     thread_cpu, trace, watch_until)

import kafkabp
from kafkabp.ledger import HEADER, Ledger
from kafkabp.workload import consumer as wconsumer

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    benchmark: str
    measured: str
    target: str
    met: bool | None  # None: reported only, no target


@dataclass
class Report:
    repeats: int
    n: int
    quick: bool
    rows: list[Row] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    def row(self, benchmark: str, measured: str, target: str = "-", met: bool | None = None) -> None:
        self.rows.append(Row(benchmark, measured, target, met))

    def note(self, key: str, text: str) -> None:
        print(f"  [{key}] {text}", flush=True)
        self.notes.setdefault(key, []).append(text)


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def meds(runs: dict[str, list[Run]], key: str, names: tuple[str, ...], fmt: str = ",.0f") -> str:
    return "; ".join(format(med([x[key] for x in runs[k]]), fmt) for k in names)


def ratios(runs: dict[str, list[Run]], a: str, b: str) -> list[float]:
    """Per-repeat rate a / rate b, the two run back to back (robust to drifting load)."""
    return [x["rate"] / y["rate"] for x, y in zip(runs[a], runs[b], strict=True)]


def paired(runs: dict[str, list[Run]], a: str, b: str) -> float:
    """Median over repeats of rate a / rate b."""
    return med(ratios(runs, a, b))


def spread(xs: list[float]) -> str:
    """The median with the spread beside it: ``0.97 (min 0.85 / median 0.97 / max 1.10, 5 repeats)``."""
    return f"{med(xs):.2f} (min {min(xs):.2f} / median {med(xs):.2f} / max {max(xs):.2f}, {len(xs)} repeats)"


def interleaved(impls: dict[str, Callable[[str], Run]], fill: Callable[[str], Any], repeats: int,
                last: tuple[str, ...] = ()) -> dict[str, list[Run]]:
    """Each implementation once per repeat, each on its own freshly filled topic; the order rotates every
    repeat (kafkabp, plain; then plain, kafkabp; ...) so neither always reads right after the other's
    topic was filled or deleted. Names in ``last`` run after the rotated ones."""
    rotating = [k for k in impls if k not in last]
    runs: dict[str, list[Run]] = {k: [] for k in impls}
    for i in range(repeats):
        for name in rotating[i % len(rotating):] + rotating[:i % len(rotating)] + list(last):
            with fresh_topic() as t:
                fill(t)
                runs[name].append(impls[name](t))
    return runs


# --------------------------------------------------------------------------- (a) producer

def produce_kafkabp(topic: str, n: int, acks: str) -> Run:
    p = kafkabp.RateProducer(topic, None, max_messages=n, config={**PRODUCER_CONF, "acks": acks})
    t0, c0 = time.perf_counter(), cpu()
    if not p.start().wait(300):
        raise TimeoutError("RateProducer did not finish within 300 s")
    dt, used = time.perf_counter() - t0, cpu() - c0
    if p.failed or p.produced != n:
        raise RuntimeError(f"RateProducer counts: {p.counts()}")
    return {"rate": n / dt, "cpu_us": used / n * 1e6}


def producer_impls(n: int, acks: str) -> dict[str, Callable[[str], Run]]:
    """kafkabp and the plain loop (rotating), the parts of exact counting alone, then Java."""
    impls: dict[str, Callable[[str], Run]] = {
        "kafkabp": lambda t: produce_kafkabp(t, n, acks), "plain": lambda t: produce_plain(t, n, acks),
        "plain+header": lambda t: produce_plain(t, n, acks, counted=True),
        "plain+error-reports": lambda t: produce_plain(t, n, acks, only_errors=True),
        "java": lambda t: produce_java(t, n, acks)}
    if acks == "1":  # diagnostic: what a per-record delivery callback costs
        impls["plain+callback"] = lambda t: produce_plain(t, n, acks, callback=True)
    return impls


PRODUCER_PARTS = ("plain+header", "plain+error-reports")


def bench_producer(r: Report) -> None:
    """(a) Full-speed producer throughput, records/s: kafkabp's RateProducer(topic, None, max_messages=N)
    vs the plain confluent-kafka loop vs kafka-producer-perf-test, all with PRODUCER_CONF, acks=1 and
    acks=all; plus CPU us per record of this process. 5 repeats (--quick 1), the order of kafkabp, the plain loop
    and its variants rotating every repeat, Java last. The variants price exact counting part by part: the plain
    loop writing kafkabp's 12-byte header (a unique value per record), and with delivery reports for errors only
    (confluent-kafka's per-message state). Diagnostic at acks=1: an on_delivery callback on every produce()."""
    for acks in ("1", "all"):
        impls = producer_impls(r.n, acks)
        runs = interleaved(impls, lambda t: None, consumer_repeats(r), last=("java",))
        r.data[f"a_acks={acks}"] = runs
        r.note("a", f"acks={acks}: " + "; ".join(f"{k} {meds(runs, 'rate', (k,))}/s" + (
            f" at {meds(runs, 'cpu_us', (k,), '.2f')} us CPU/record" if "cpu_us" in v[0] else "")
            for k, v in runs.items()))
        per = ratios(runs, "kafkabp", "plain")
        r.note("a", f"acks={acks}: kafkabp/plain per repeat: " + ", ".join(f"{x:.2f}" for x in per))
        cpu_k, cpu_p = (med([x["cpu_us"] for x in runs[k]]) for k in ("kafkabp", "plain"))
        r.row(f"(a) producer acks={acks}: records/s (kafkabp; plain; java)",
              meds(runs, "rate", ("kafkabp", "plain", "java")))
        r.row(f"(a) producer acks={acks}: kafkabp/plain", spread(per), ">= 0.95", med(per) >= 0.95)
        r.row(f"(a) producer acks={acks}: CPU us/record (kafkabp; plain)", f"{cpu_k:.2f}; {cpu_p:.2f} "
              f"({100 * (cpu_k / cpu_p - 1):+.0f} %)", "within 5 %", cpu_k <= 1.05 * cpu_p)
        r.row(f"(a) producer acks={acks}: CPU us/record of exact counting's parts (plain+header; "
              "plain+error-reports)", meds(runs, "cpu_us", PRODUCER_PARTS, ".2f"))
        r.row(f"(a) producer acks={acks}: plain/java", f"{paired(runs, 'plain', 'java'):.2f}", "(was ~1.8)")


# --------------------------------------------------------------------------- (b) consumer

def consumer_repeats(r: Report) -> int:
    return 1 if r.quick else max(5, r.repeats)


def consume_kafkabp(topic: str, n: int, ledger: Ledger | None = None, member_type: Any = None) -> Run:
    """ConsumerGroup(topic, group, 1, processing=None) until consumed == n; with ``ledger``, exact counting
    on (the ledger must hold the producer that filled the topic) and checked: every record counted once.
    ``member_type``: a :class:`~kafkabp.workload.consumer.Worker` subclass the group makes its member from."""
    group = kafkabp.unique_name("bench-g")
    g = kafkabp.ConsumerGroup(topic, group, 1, processing=None, config=FETCH_CONF, ledger=ledger)
    if member_type is not None:
        g.member_type = member_type
    t0, c0 = time.monotonic(), cpu()
    g.start()
    try:
        res = watch_until(lambda: g.consumed, n, t0, c0)
    finally:
        g.stop()
        drop_group(group)
    if g.errors():
        raise g.errors()[0]
    if ledger is not None:
        rep = ledger.report()
        if rep["processed_unique"] != n or rep["processed"] < n:
            raise RuntimeError(f"the ledger counted {rep['processed_unique']:,} distinct records of {n:,}")
    return res


def fed_worker(group: kafkabp.ConsumerGroup) -> tuple[wconsumer.Worker, Any]:
    """kafkabp's real consumer member (member 0 of ``group``) over a stand-in Consumer (its ``client_type``): the
    broker-free benchmarks feed it batches through the stand-in's ``consume``."""
    fake = mock.MagicMock()

    class Fed(wconsumer.Worker):
        client_type = staticmethod(lambda conf: fake)

    return Fed(group, 0), fake


def python_us_per_record(batch: list[Any], n: int, ledger: Ledger | None = None) -> tuple[float, float]:
    """Microseconds per record without a broker: kafkabp's real consumer member (``Worker.run``, in this
    thread) fed ``batch`` over and over by a stand-in Consumer (its ``client_type``; with ``ledger``: exact
    counting on), and the plain loop's ``count_ok`` over the same records. CPU time of this thread (all the work
    runs in it), so load from other processes does not inflate it."""
    k = max(1, n // len(batch))
    batches = iter([batch] * k)
    w, fake = fed_worker(kafkabp.ConsumerGroup("fake", "fake", 1, ledger=ledger))

    def consume(*args: Any, **kw: Any) -> list[Any]:
        nxt = next(batches, None)
        if nxt is None:
            w.stop_event.set()
        return nxt or []

    fake.consume.side_effect = consume
    t0 = time.thread_time()
    w.run()
    kafkabp_us = (time.thread_time() - t0) / (k * len(batch)) * 1e6
    if w.error or w.consumed != k * len(batch):
        raise RuntimeError(f"stand-in run failed: {w.error!r}, {w.consumed} of {k * len(batch)} records")
    t0 = time.thread_time()
    for _ in range(k):
        count_ok(batch)
    return kafkabp_us, (time.thread_time() - t0) / (k * len(batch)) * 1e6


def read_batch(topic: str, size: int = 500) -> list[Any]:
    """``size`` real records from the start of ``topic`` (for the broker-free measurements)."""
    c = Consumer({**kafkabp.client_config(), "group.id": "bench-unused", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    batch: list[Any] = []
    while len(batch) < size:
        batch += [m for m in c.consume(size, timeout=1.0) if m.error() is None]
    c.close()
    return batch[:size]


def profile_consumer(r: Report) -> None:
    """cProfile of kafkabp's worker thread on a real run, then the per-record Python cost without broker."""
    prof = cProfile.Profile()

    class Profiled(wconsumer.Worker):
        def run(self) -> None:
            prof.enable()
            try:
                super().run()
            finally:
                prof.disable()

    with fresh_topic() as t:
        produce_plain(t, r.n, "1")
        res = consume_kafkabp(t, r.n, member_type=Profiled)
        batch = read_batch(t)
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values()) or 1.0
    lines = [f"tottime s     %      calls  function  (worker thread, {r.n:,} records at {res['rate']:,.0f}/s "
             f"under cProfile, {total:.2f} s profiled)"]
    for (file, line, fn), (_, nc, tt, _, _) in sorted(stats.items(), key=lambda kv: -kv[1][2])[:12]:
        lines.append(f"{tt:9.3f} {100 * tt / total:5.1f} {nc:10d}  {fn} ({Path(file).name}:{line})")
    r.data["b_profile"] = lines
    print("\n".join("    " + line for line in lines))
    costs = [python_us_per_record(batch, r.n) for _ in range(3)]
    r.data["b_python_us_per_record"] = costs
    r.row("(b) consumer: Python us/record, no broker (kafkabp; plain)",
          f"{med([x[0] for x in costs]):.2f}; {med([x[1] for x in costs]):.2f}")


def consumer_notes(r: Report, key: str, runs: dict[str, list[Run]]) -> None:
    for k, v in runs.items():
        r.note(key, f"{k}: {meds(runs, 'rate', (k,))}/s from the first record, {meds(runs, 'e2e', (k,))}/s "
               f"with the join, join {meds(runs, 'join_s', (k,), '.2f')} s"
               + (f", {meds(runs, 'cpu_us', (k,), '.2f')} us CPU/record" if "cpu_us" in v[0] else "")
               + "; per repeat " + ", ".join(f"{x['rate']:,.0f}" for x in v))


def bench_consumer(r: Report) -> None:
    """(b) Consumer throughput, records/s, reading a fresh topic pre-filled with N records: kafkabp's
    ConsumerGroup(topic, group, 1, processing=None) vs a plain consume(num_messages=500) loop with the
    same settings (both with FETCH_CONF) vs kafka-consumer-perf-test; 5 repeats (--quick 1), the order of
    kafkabp and plain alternating. Python rates run from the first record to the last (join excluded),
    like the Java tool's fetch.nMsg.sec; its nMsg.sec (join included) is kept as "e2e". Then a cProfile
    of kafkabp's consumer path and its Python cost per record without a broker."""
    impls: dict[str, Callable[[str], Run]] = {
        "kafkabp": lambda t: consume_kafkabp(t, r.n), "plain": lambda t: consume_plain(t, r.n),
        "java": lambda t: consume_java(t, r.n)}
    runs = interleaved(impls, lambda t: produce_plain(t, r.n, "1"), consumer_repeats(r), last=("java",))
    r.data["b"] = runs
    consumer_notes(r, "b", runs)
    per = ratios(runs, "kafkabp", "plain")
    r.note("b", "kafkabp/plain per repeat (kafkabp first in repeats 1, 3, 5): " + ", ".join(f"{x:.2f}" for x in per))
    r.row("(b) consumer: records/s (kafkabp; plain; java)", meds(runs, "rate", tuple(impls)))
    r.row("(b) consumer: kafkabp/plain", spread(per), ">= 0.9", med(per) >= 0.9)
    r.row("(b) consumer: CPU us/record (kafkabp; plain)", meds(runs, "cpu_us", ("kafkabp", "plain"), ".2f"))
    r.row("(b) consumer: plain/java", f"{paired(runs, 'plain', 'java'):.2f}", "(was ~0.1)")
    profile_consumer(r)


# --------------------------------------------------------------------------- (g) exact counting

def fill_counted(topic: str, n: int, ledger: Ledger) -> None:
    """N records by RateProducer at full speed: every value starts with its 12-byte ledger header."""
    p = kafkabp.RateProducer(topic, None, max_messages=n, config={**PRODUCER_CONF, "acks": "1"}, ledger=ledger)
    if not p.start().wait(300):
        raise TimeoutError("RateProducer did not finish within 300 s")
    if p.failed or p.produced != n:
        raise RuntimeError(f"RateProducer counts: {p.counts()}")


def bench_ledger(r: Report) -> None:
    """(g) Consumer fast path with exact counting on: ConsumerGroup(topic, group, 1, processing=None,
    ledger=<the producer's Ledger>) vs the same without a ledger vs the plain loop, each on its own topic
    filled by RateProducer (12-byte header in every value, whichever reads it); 5 repeats (--quick 1),
    the order rotating. Each counted run must have counted every record exactly once. Then the Python
    cost per record of counting, without a broker."""
    ledgers: dict[str, Ledger] = {}

    def fill(t: str) -> None:
        ledgers[t] = Ledger()
        fill_counted(t, r.n, ledgers[t])

    impls: dict[str, Callable[[str], Run]] = {
        "kafkabp+ledger": lambda t: consume_kafkabp(t, r.n, ledger=ledgers.pop(t)),
        "kafkabp": lambda t: consume_kafkabp(t, r.n), "plain": lambda t: consume_plain(t, r.n)}
    runs = interleaved(impls, fill, consumer_repeats(r))
    ledgers.clear()
    r.data["g"] = runs
    consumer_notes(r, "g", runs)
    on_plain, on_off = ratios(runs, "kafkabp+ledger", "plain"), ratios(runs, "kafkabp+ledger", "kafkabp")
    r.note("g", "per repeat, kafkabp+ledger/plain " + ", ".join(f"{x:.2f}" for x in on_plain)
           + "; kafkabp+ledger/kafkabp " + ", ".join(f"{x:.2f}" for x in on_off)
           + "; kafkabp/plain " + ", ".join(f"{x:.2f}" for x in ratios(runs, "kafkabp", "plain")))
    with fresh_topic() as t:
        led = Ledger()
        fill_counted(t, 1_000, led)
        batch = read_batch(t)
    off = [python_us_per_record(batch, r.n) for _ in range(3)]
    on = [python_us_per_record(batch, r.n, ledger=led) for _ in range(3)]
    r.data["g_python_us_per_record"] = {"ledger": on, "no_ledger": off}
    r.row("(g) consumer, exact counting: records/s (kafkabp+ledger; kafkabp; plain)",
          meds(runs, "rate", tuple(impls)))
    r.row("(g) consumer, exact counting: kafkabp+ledger/plain", spread(on_plain), ">= 0.9", med(on_plain) >= 0.9)
    r.row("(g) cost of counting: kafkabp+ledger/kafkabp", spread(on_off))
    r.row("(g) consumer, exact counting: CPU us/record (kafkabp+ledger; kafkabp; plain)",
          meds(runs, "cpu_us", tuple(impls), ".2f"))
    r.row("(g) Python us/record, no broker (kafkabp+ledger; kafkabp; plain)",
          f"{med([x[0] for x in on]):.2f}; {med([x[0] for x in off]):.2f}; {med([x[1] for x in off]):.2f}")


# --------------------------------------------------------------------------- (f) key-ordered parallel

def fill_keyed(topic: str, n: int, keys: int = 100) -> None:
    """N records over ``keys`` keys in turn, by RateProducer (so each carries its sequence number)."""
    p = kafkabp.RateProducer(topic, None, max_messages=n, keys="uniform", key_count=keys,
                             config={**PRODUCER_CONF, "acks": "1"})
    if not p.start().wait(300) or p.failed:
        raise RuntimeError(f"RateProducer counts: {p.counts()}")


def consume_parallel(topic: str, k: int, seconds: float | None, n: int | None,
                     processing: kafkabp.Processing | None) -> Run:
    """ConsumerGroup(parallel=k) on the topic: the steady rate over ``seconds`` (after the first record), or
    the rate over ``n`` records; per-key order is checked from the sequence numbers."""
    group = kafkabp.unique_name("bench-g")
    g = kafkabp.ConsumerGroup(topic, group, 1, processing=processing, config=FETCH_CONF, parallel=k)
    t0, c0 = time.monotonic(), cpu()
    g.start()
    try:
        if n is not None:
            res = watch_until(lambda: g.consumed, n, t0, c0)
        else:
            if not kafkabp.wait_for(lambda: g.consumed > 0, 60, 0.005):
                raise TimeoutError("the parallel consumer processed nothing in 60 s")
            start, c_start = time.monotonic(), g.consumed
            time.sleep(seconds or 0)
            res = {"rate": (g.consumed - c_start) / (time.monotonic() - start)}
    finally:
        g.stop()
        drop_group(group)
    if g.errors():
        raise g.errors()[0]
    if g.order_violations:
        raise RuntimeError(f"per-key order broken {g.order_violations} times")
    return res


def pool_us_per_record(batch: list[Any], n: int, k: int = 16) -> tuple[float, float]:
    """Microseconds of CPU per record without a broker, with free processing: kafkabp's real member with ``k``
    key-ordered threads (``Worker.run`` in this thread) fed copies of ``batch`` with fresh, ascending offsets by a
    stand-in Consumer, each with the next sequence number (so that every key's order holds); returns (this thread's
    CPU: the member's own bookkeeping, the pool threads' CPU summed)."""
    def renumbered(value: bytes, seq: int) -> bytes:
        magic, pid, _ = HEADER.unpack_from(value)
        return HEADER.pack(magic, pid, seq) + value[HEADER.size:]

    copies = [confluent_kafka.Message(topic=m.topic(), partition=m.partition(), offset=i, key=m.key(),
                                      value=renumbered(m.value(), i), timestamp=m.timestamp())
              for i, m in enumerate(batch[j % len(batch)] for j in range(n))]
    batches = iter([copies[i:i + len(batch)] for i in range(0, n, len(batch))])
    w, fake = fed_worker(kafkabp.ConsumerGroup("fake", "fake", 1, parallel=k))

    def consume(*args: Any, **kw: Any) -> list[Any]:
        nxt = next(batches, None)
        if nxt is None:  # all handed over: wait for the pool to finish them, then stop
            if w.consumed >= n:
                w.stop_event.set()
            else:
                time.sleep(0.0005)
        return nxt or []

    fake.consume.side_effect = consume
    t0 = time.thread_time()
    w.run()
    member_us = (time.thread_time() - t0) / n * 1e6
    if w.error or w.consumed != n or w.group.order_violations:
        raise RuntimeError(f"stand-in pool run failed: {w.error!r}, {w.consumed} of {n} records, "
                           f"{w.group.order_violations} order violations")
    return member_us, w.pool_cpu_seconds / n * 1e6


def bench_parallel(r: Report) -> None:
    """(f) Key-ordered parallel processing inside one consumer, 1 partition, 100 keys: steady records/s
    with k = 1 and k = 16 threads on I/O-bound work (fixed 5 ms per record; the ideal ratio is 16),
    paired per repeat; then its overhead with free processing (k = 16, every record through the pool)
    against the plain consume loop over N records."""
    window = 3.0 if r.quick else 6.0
    io = kafkabp.fixed(0.005)
    impls: dict[str, Callable[[str], Run]] = {
        "k=1": lambda t: consume_parallel(t, 1, window, None, io),
        "k=16": lambda t: consume_parallel(t, 16, window, None, io)}
    runs = interleaved(impls, lambda t: fill_keyed(t, 40_000), r.repeats)
    per = ratios(runs, "k=16", "k=1")
    r.data["f"] = runs
    r.note("f", "k=16/k=1 per repeat: " + ", ".join(f"{x:.1f}" for x in per))
    r.row("(f) parallel, 5 ms I/O, 1 partition: records/s (k=1; k=16)", meds(runs, "rate", ("k=1", "k=16")))
    r.row("(f) parallel: k=16 / k=1", f"{med(per):.1f} (min {min(per):.1f} / max {max(per):.1f})",
          ">= 12 (ideal 16)", med(per) >= 12)
    n = min(r.n, 300_000)
    free = {"parallel k=16": lambda t: consume_parallel(t, 16, None, n, None), "plain": lambda t: consume_plain(t, n)}
    fr = interleaved(free, lambda t: fill_keyed(t, n), r.repeats)
    over = ratios(fr, "parallel k=16", "plain")
    r.data["f_free"] = fr
    r.row("(f) parallel, free processing: records/s (k=16; plain)", meds(fr, "rate", tuple(free)))
    r.row("(f) parallel, free processing: k=16/plain", spread(over), ">= 0.5", med(over) >= 0.5)
    with fresh_topic() as t:
        fill_keyed(t, 500)
        batch = read_batch(t)
    costs = [pool_us_per_record(batch, min(n, 200_000)) for _ in range(3)]
    r.data["f_python_us_per_record"] = costs
    r.row("(f) free processing: CPU us/record, no broker (member thread; pool threads)",
          f"{med([x[0] for x in costs]):.2f}; {med([x[1] for x in costs]):.2f}")


# --------------------------------------------------------------------------- (h) rebalance cost

REBALANCES = {
    "classic, eager (range)": kafkabp.Group(config={"partition.assignment.strategy": "range"}),
    "classic, cooperative-sticky": kafkabp.Group(config={"partition.assignment.strategy": "cooperative-sticky"}),
    "consumer (KIP-848)": kafkabp.Group(protocol="consumer"),
}


def bench_rebalance(r: Report) -> None:
    """(h) The cost of a rebalance while loaded, per protocol/assignor: 2 consumers at 2 ms per record on
    4 partitions, producer at 1,500 records/s (3/4 of capacity), scaled to 4 at t = 4 s: seconds the group
    processed nothing, seconds below half its rate, seconds until the new members owned partitions, and
    the duplicates counted exactly (lost must be 0)."""
    at = 4.0
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in REBALANCES}
    for _ in range(r.repeats):
        for name, group in REBALANCES.items():
            res = kafkabp.run_experiment(at + 6.0, rate=1_500, consumers=2, partitions=4,
                                         processing=kafkabp.fixed(0.002), progress=False,
                                         actions=[(at, lambda e: e.scale(4))], group=group)
            if res.summary["lost"] != 0:
                raise RuntimeError(f"{name}: {res.summary['lost']} messages lost: {res.ledger['lost_ranges']}")
            rows[name].append(res.rebalance_cost(at))
    r.data["h"] = rows
    for name, costs in rows.items():
        r.row(f"(h) rebalance 2 -> 4, {name}: paused s; slow s; owned after s; duplicates",
              f"{med([c['paused_s'] for c in costs]):.1f}; {med([c['slow_s'] for c in costs]):.1f}; "
              f"{med([c['owned_after_s'] for c in costs]):.2f}; {med([c['duplicates'] for c in costs]):.0f}")


# --------------------------------------------------------------------------- (i) closed-loop controller

def bench_controller(r: Report) -> None:
    """(i) AIMD(target_lag=1,000, increase=100, decrease=0.5) on 1 consumer at 1 ms per record (mu = 1,000 msg/s, 2 partitions);
    at t = 15 s processing becomes 2 ms (mu halves). Seconds from the change until the lag is back within
    20 % of its target (0 if it never left), and throughput over mu in the steady window 20-30 s."""
    target, change = 1_000, 15.0
    settle, share = [], []
    for _ in range(r.repeats):
        aimd = kafkabp.AIMD(target_lag=target, increase=100, decrease=0.5, start_rate=500)
        res = kafkabp.run_experiment(30, rate=500, consumers=1, partitions=2, processing=kafkabp.fixed(0.001),
                                     mitigations=[aimd], progress=False,
                                     actions=[(change, lambda e: e.set_processing(kafkabp.fixed(0.002)))])
        tl = res.timeline[res.timeline["t"] >= change]
        inside = (tl["lag"] - target).abs() <= 0.2 * target
        left = (~inside).idxmax() if (~inside).any() else None
        back = tl.loc[left:][inside.loc[left:]] if left is not None else tl.iloc[:1]
        settle.append(float(back["t"].iloc[0] - change) if len(back) else float("inf"))
        tp = res.throughput(1.0)
        share.append(float(tp[(tp["t"] >= 20) & (tp["t"] < 29)]["rate"].mean()) / 500.0)
    r.data["i"] = {"settle_s": settle, "throughput_over_mu": share}
    r.note("i", "per repeat: settle " + ", ".join(f"{x:.1f} s" for x in settle)
           + "; throughput/mu " + ", ".join(f"{x:.2f}" for x in share))
    r.row("(i) AIMD: s until lag within 20 % of target after mu halves", f"{med(settle):.1f} s", "<= 5 s",
          med(settle) <= 5)
    r.row("(i) AIMD: steady throughput / mu after the change", f"{med(share):.2f}", ">= 0.9", med(share) >= 0.9)


# --------------------------------------------------------------------------- (j) quota accuracy

def bench_quota(r: Report) -> None:
    """(j) producer_byte_rate quota (Kafka's kafka-configs) on a full-speed producer of 1,000-byte values in
    64 KB batches: achieved bytes/s (values only, from the log-end offsets between 6 and 19 s of a 20 s run)
    over the quota."""
    for quota in (1 << 20, 10 << 20):
        got = []
        for _ in range(r.repeats):
            client = kafkabp.unique_name("bench-quota")
            kafkabp.set_client_quota(client, producer_byte_rate=quota)
            try:
                res = kafkabp.run_experiment(20, rate=None, consumers=0, progress=False, producer=kafkabp.Producer(
                    message_size=1_000, config={"client.id": client, "batch.size": 65_536}))
            finally:
                kafkabp.remove_client_quota(client)
            # steady window: after the first burst is paid back, before stop() flushes the queue
            tl = res.timeline[(res.timeline["t"] >= 6.0) & (res.timeline["t"] <= 19.0)]
            rate = (tl["log_end_offset"].iloc[-1] - tl["log_end_offset"].iloc[0]) / (tl["t"].iloc[-1] - tl["t"].iloc[0])
            got.append(rate * 1_000 / quota)
        r.data[f"j_{quota}"] = got
        r.row(f"(j) quota {quota >> 20} MiB/s: achieved / quota", f"{med(got):.3f}", "within 5 %",
              abs(med(got) - 1) <= 0.05)


# --------------------------------------------------------------------------- (c) rate accuracy

def traced_producer(rate: float, until: float, period: float, change_at: float | None = None,
                    new_rate: float = 0.0) -> tuple[list[Sample], float, Run]:
    """RateProducer at ``rate`` on a fresh topic, ``produced`` sampled every ``period`` s for ``until`` s,
    set_rate(new_rate) at ``change_at`` s if given. Returns the samples, when the change happened (s), and
    the producer thread's CPU (% of one core) with the sampler's stalls: gaps longer than the token
    bucket's burst, i.e. the machine left this process waiting for a CPU longer than RateProducer can
    make up for (tokens beyond the burst are dropped)."""
    with fresh_topic() as t:
        p = kafkabp.RateProducer(t, rate)
        t0, changed = time.monotonic(), [float("nan")]

        def switch() -> None:
            p.set_rate(new_rate)
            changed[0] = time.monotonic() - t0

        p.start()
        clock, burst = thread_cpu(p), float(getattr(getattr(p, "_bucket", None), "burst_seconds", 0.05))
        if change_at is not None:
            threading.Timer(change_at, switch).start()
        samples = trace(lambda: p.produced, t0, until, period)
        cpu_pct = 100 * clock() / (time.monotonic() - t0)
        p.stop()
    gaps = [b[0] - a[0] for a, b in zip(samples, samples[1:], strict=False)]
    return samples, changed[0], {"thread_cpu_pct": cpu_pct, "stalls": sum(g > burst for g in gaps),
                                 "burst_ms": 1000 * burst, "max_gap_ms": 1000 * max(gaps, default=0.0)}


def bench_rate(r: Report) -> None:
    """(c) Rate accuracy: RateProducer at 10, 100, 1k, 10k, 50k msg/s; achieved/target over a steady window
    after the first 0.5 s (10 s at 10 msg/s, 5 s otherwise; --quick 5 s and 3 s), ``produced`` sampled
    every 2 ms. Also the producer thread's CPU (% of a core) while it runs."""
    for rate in (10, 100, 1_000, 10_000, 50_000):
        window = (5.0 if r.quick else 10.0) if rate == 10 else (3.0 if r.quick else 5.0)
        ratios, info = [], []
        for _ in range(r.repeats):
            samples, _, stats = traced_producer(rate, 0.5 + window + 0.01, 0.002)
            ratios.append(achieved_rate(samples, 0.5, 0.5 + window) / rate)
            info.append(stats)
        r.data[f"c_{rate}"] = {"ratio": ratios, "runs": info}
        m = med(ratios)
        r.note("c", f"{rate:,} msg/s: achieved/target {', '.join(f'{x:.4f}' for x in ratios)}; producer thread "
               f"{med([x['thread_cpu_pct'] for x in info]):.1f} % of a core; sampler stalls > burst "
               f"({info[0]['burst_ms']:.0f} ms) "
               f"{', '.join(str(int(x['stalls'])) for x in info)}, longest gap "
               f"{max(x['max_gap_ms'] for x in info):.0f} ms")
        r.row(f"(c) rate {rate:,} msg/s: achieved/target", f"{m:.4f} ({100 * (m - 1):+.2f} %)", "error <= 1 %",
              abs(m - 1) <= 0.01)


# --------------------------------------------------------------------------- (d) control latency

def scale_latency(protocol: str) -> tuple[float, float]:
    """Seconds from scale(2) until the new member owns partitions, and until the split is 2 + 2."""
    with fresh_topic(4) as t:
        group = kafkabp.unique_name("bench-g")
        g = kafkabp.ConsumerGroup(t, group, 1, protocol=protocol).start()
        try:
            if not kafkabp.wait_for(lambda: len(g.assignment().get(f"{group}-c0", [])) == 4, 60, 0.02):
                raise TimeoutError(f"{protocol}: the first member never owned all 4 partitions")
            time.sleep(1.0)
            t0 = time.monotonic()
            g.scale(2)
            kafkabp.wait_for(lambda: bool(g.assignment().get(f"{group}-c1")), 60, 0.005)
            owns = time.monotonic() - t0
            kafkabp.wait_for(lambda: sorted(map(len, g.assignment().values())) == [2, 2], 60, 0.005)
            return owns, time.monotonic() - t0
        finally:
            g.stop()
            drop_group(group)


def bench_control(r: Report) -> None:
    """(d) Control latency. (1) RateProducer at 1,000 msg/s, set_rate(5,000) after 2 s: seconds until the
    200 ms sliding rate (``produced`` sampled every 20 ms) is within 5 % of 5,000 and stays there for 1 s
    (5 repeats; --quick 1); the notes add the first entry, the strict "until the end of the 3 s watched"
    time and later excursions. (2) ConsumerGroup of 1 on an idle 4-partition topic: scale(2) -> seconds
    until the new member owns partitions (and until the split is 2 + 2), protocol classic and consumer
    (KIP-848)."""
    steps = []
    for _ in range(1 if r.quick else 5):  # 5 s each: cheap enough for 5 repeats
        samples, changed, stats = traced_producer(1_000, 5.0, 0.02, change_at=2.0, new_rate=5_000)
        steps.append({**settle_time(samples, changed, 5_000), **stats})
    r.data["d_set_rate"] = steps
    r.note("d", "set_rate, s to first in band / held 1 s / in band to the end (3 s), excursions later, "
           f"sampler stalls > burst ({steps[0]['burst_ms']:.0f} ms): " + "; ".join(
               f"{x['first']:.2f} / {x['held']:.2f} / {x['strict']:.2f}, {x['excursions']:.0f}, {x['stalls']:.0f}"
               for x in steps))
    held = med([x["held"] for x in steps])
    r.row("(d1) set_rate 1k -> 5k: s until within 5 % (held 1 s)", f"{held:.2f} s", "<= 1 s", held <= 1.0)
    for protocol in ("classic", "consumer"):
        runs = [scale_latency(protocol) for _ in range(r.repeats)]
        r.data[f"d_scale_{protocol}_s"] = runs
        r.row(f"(d2) scale(2), {protocol}: s until new member owns; 2+2 split",
              f"{med([x[0] for x in runs]):.2f} s; {med([x[1] for x in runs]):.2f} s")


# --------------------------------------------------------------------------- (e) monitor cost

def bench_monitor(r: Report) -> None:
    """(e) LagMonitor CPU at 0.5 s sampling on an 8-partition topic whose group has committed offsets:
    process CPU over D s with only the monitor running minus the same process idle for D s, as % of one
    core (D = 20 s; --quick 8 s). Breakdown: the monitor thread's own CPU (its pthread CPU clock, read
    from outside) and the CPU of one sample() in the calling thread."""
    duration = 8.0 if r.quick else 20.0
    with fresh_topic(8) as t:
        fill_partitions(t, 8, 1_000)
        group = kafkabp.unique_name("bench-g")
        c = Consumer({**kafkabp.client_config(), "group.id": group, "enable.auto.commit": False})
        c.commit(offsets=[TopicPartition(t, p, 500) for p in range(8)], asynchronous=False)
        c.close()
        probe, c0 = kafkabp.LagMonitor(group, t, 0.5), time.thread_time()
        for _ in range(10):
            probe.sample()
        per_sample_ms = (time.thread_time() - c0) / 10 * 1000
        cost, alone, rate = [], [], []
        for _ in range(r.repeats):
            c0 = cpu()
            time.sleep(duration)
            idle = cpu() - c0
            mon = kafkabp.LagMonitor(group, t, 0.5).start()
            clock = thread_cpu(mon)
            time.sleep(1.0)
            c0, th0, rows0 = cpu(), clock(), len(mon.frame())
            time.sleep(duration)
            busy, th = cpu() - c0, clock() - th0
            rate.append((len(mon.frame()) - rows0) / 8 / duration)
            mon.stop()
            if mon.errors:
                raise RuntimeError(f"LagMonitor failed {mon.errors} samples: {mon.last_error}")
            cost.append(100 * (busy - idle) / duration)
            alone.append(100 * th / duration)
        drop_group(group)
    r.data["e"] = {"process_pct": cost, "monitor_thread_pct": alone, "samples_per_s": rate,
                   "cpu_ms_per_sample": per_sample_ms}
    r.note("e", f"monitor thread alone {med(alone):.2f} % of a core; {med(rate):.2f} samples/s; "
           f"{per_sample_ms:.1f} ms CPU per sample() in the calling thread")
    r.row("(e) LagMonitor CPU, 0.5 s sampling, 8 partitions", f"{med(cost):.2f} % of a core", "<= 2 %",
          med(cost) <= 2.0)


# --------------------------------------------------------------------------- main

# --------------------------------------------------------------------------- (k) pause/resume

def bench_pause(r: Report) -> None:
    """(k) Flow control: a producer at 500 msg/s of 10 kB values, one consumer handing each message to a sink of
    20 ms (50 msg/s, 10x slower) through kafkabp.Buffer(1,000, when_full="pause", resume_at=200): the peak number of
    messages in the in-process buffer over its bound (15 s runs), beside an unbounded buffer's peak over the same
    bound, and the pauses, evictions and losses."""
    size, peaks, free, events = 1_000, [], [], []
    common = dict(rate=500, consumers=1, partitions=2, producer=kafkabp.Producer(message_size=10_000),
                  processing=kafkabp.fixed(0.02), progress=False)
    for _ in range(r.repeats):
        paused = kafkabp.Group(buffer=kafkabp.Buffer(size, when_full="pause", resume_at=200))
        res = kafkabp.run_experiment(15, group=paused, **common)
        s = res.summary
        peaks.append(s["peak_buffered"] / size)
        events.append((s["pauses"], s["evictions"], s["lost"], s["duplicates"]))
        free.append(kafkabp.run_experiment(15, group=kafkabp.Group(buffer=kafkabp.Buffer(None)), **common)
                    .summary.peak_buffered / size)
    r.data["k"] = {"peak_over_bound": peaks, "unbounded_peak_over_bound": free, "pauses_evictions_lost_dups": events}
    r.note("k", "per repeat (pauses, evictions, lost, duplicates): " + ", ".join(map(str, events)))
    r.row("(k) pause/resume: peak buffered / bound, sink 10x slower", f"{med(peaks):.2f}", "<= 1.1",
          med(peaks) <= 1.1 and all(e[1] == 0 and e[2] == 0 for e in events))
    r.row("(k) unbounded buffer: peak buffered / the same bound", f"{med(free):.1f}")


# --------------------------------------------------------------------------- (m) autoscaler on lag

def bench_autoscaler(r: Report) -> None:
    """(m) KEDA-style Autoscaler (lagThreshold 50, pollingInterval 1 s, stabilization 10 s, replicas 1-8) on 4
    partitions at 10 ms a message (100 msg/s per consumer), 1 consumer to start; the load steps from 50 to 300
    msg/s at t = 3 s: seconds from the step until the lag is back under lagThreshold x replicas (after it went
    over), and from the step until the first scale-up."""
    threshold, step_at, duration = 50, 3.0, 20.0
    back, first_up, peak, top = [], [], [], []
    for _ in range(r.repeats):
        scaler = kafkabp.Autoscaler(lag_threshold=threshold, min_replica_count=1, max_replica_count=8,
                                    polling_interval=1, stabilization_window=10)
        res = kafkabp.run_experiment(duration, rate=kafkabp.Step(50, 300, at=step_at), consumers=1, partitions=4,
                                     processing=kafkabp.fixed(0.01), producer=kafkabp.Producer(keys="uniform"),
                                     group=kafkabp.Group(batch_size=25), mitigations=[scaler], progress=False)
        if res.summary["lost"] != 0:
            raise RuntimeError(f"{res.summary['lost']} messages lost: {res.ledger['lost_ranges']}")
        tl = res.timeline[res.timeline["t"] >= step_at]
        over = tl["lag"] > threshold * tl["consumers"]
        if not over.any():
            back.append(0.0)
        else:
            after = tl.loc[over.idxmax():]
            under = after[after["lag"] <= threshold * after["consumers"]]
            back.append(float(under["t"].iloc[0] - step_at) if len(under) else float("inf"))
        ups = tl[tl["consumers"] > 1]
        first_up.append(float(ups["t"].iloc[0] - step_at) if len(ups) else float("inf"))
        peak.append(float(tl["lag"].max()))
        top.append(int(tl["consumers"].max()))
    r.data["m"] = {"back_under_s": back, "first_scale_up_s": first_up, "peak_lag": peak, "max_replicas": top}
    r.note("m", "per repeat: back under " + ", ".join(f"{x:.1f} s" for x in back) + "; first scale-up "
           + ", ".join(f"{x:.1f} s" for x in first_up) + "; peak lag " + ", ".join(f"{x:,.0f}" for x in peak)
           + "; max replicas " + ", ".join(str(x) for x in top))
    r.row("(m) autoscaler: s from a load step (50 -> 300 msg/s) until lag <= lagThreshold x replicas",
          f"{med(back):.1f} s")
    r.row("(m) autoscaler: s from the step until the first scale-up; peak lag; max replicas",
          f"{med(first_up):.1f} s; {med(peak):,.0f}; {med(top):.0f}")


# --------------------------------------------------------------------------- (l) share group beyond partitions

def bench_share(r: Report) -> None:
    """(l) Share group (KIP-932) over a classic group, 8 members each on 2 partitions, I/O-bound processing
    (fixed 50 ms sleeps: 20 msg/s per busy member), producer at 250 msg/s (more than either can do): steady
    processed msg/s between 4 and 14 s of a 15 s run, the two back to back in each repeat (order rotating),
    and the median of the per-repeat ratios share / classic. Model: 8 x 20 = 160 against 2 x 20 = 40, 4x."""
    duration, window = 15.0, (4.0, 14.0)
    kw = dict(rate=250, consumers=8, partitions=2, processing=kafkabp.fixed(0.05), progress=False)
    runs: dict[str, list[dict[str, float]]] = {"classic": [], "share": []}
    for i in range(r.repeats):
        for protocol in (("classic", "share") if i % 2 == 0 else ("share", "classic")):
            res = kafkabp.run_experiment(duration, group=kafkabp.Group(protocol=protocol, batch_size=10),
                                         label=f"(l) {protocol}", **kw)
            s = res.summary
            if s["lost"] != 0 or s["failed"] != 0:
                raise RuntimeError(f"{protocol}: lost {s['lost']}, failed {s['failed']}: {res.ledger['lost_ranges']}")
            tp = res.throughput(1.0)
            w = tp[(tp["t"] >= window[0]) & (tp["t"] < window[1])]
            members = [m for m in w.columns if m not in ("t", "rate")]
            runs[protocol].append({"rate": float(w["rate"].mean()),
                                   "busy": float(sum(1 for m in members if w[m].mean() >= 5.0)),
                                   "duplicates": float(s["duplicates"])})
    ratio = ratios(runs, "share", "classic")
    r.data["l"] = {"runs": runs, "ratios": ratio}
    r.note("l", "per repeat, msg/s classic / share: " + ", ".join(
        f"{a['rate']:.0f} / {b['rate']:.0f}" for a, b in zip(runs["classic"], runs["share"], strict=True))
        + "; busy members classic / share: " + ", ".join(
        f"{a['busy']:.0f} / {b['busy']:.0f}" for a, b in zip(runs["classic"], runs["share"], strict=True)))
    r.row("(l) 8 members on 2 partitions, 50 ms I/O a message: classic; share msg/s",
          meds(runs, "rate", ("classic", "share")) + f" (busy members {meds(runs, 'busy', ('classic', 'share'))})")
    r.row("(l) share group / classic group throughput", spread(ratio), ">= 3", med(ratio) >= 3)


# (n)'s groups: partitions in all -> (topics, partitions per topic)
SCALE_SHAPES = {10: (1, 10), 100: (10, 10), 1000: (10, 100)}


def bench_monitor_scale(r: Report) -> None:
    """(n) LagMonitor and snapshot at scale: one group that has committed offsets on 10, 100 and 1,000 partitions
    (1 x 10, 10 x 10 and 10 x 100 topics, 5 records in each partition). The monitor samples every topic the group
    reads at 2 Hz (0.5 s) for D s (D = 20 s; --quick 8 s): its thread's CPU (pthread clock) as % of one core, and
    each sample's wall time (median / max). Target at 1,000 partitions: <= 5 % of a core, every sample <= 200 ms."""
    duration = 8.0 if r.quick else 20.0
    shapes = SCALE_SHAPES
    out: dict[str, Any] = {}
    for total, (n_topics, per_topic) in shapes.items():
        topics = [kafkabp.unique_name(f"bench-scale{total}") for _ in range(n_topics)]
        group = kafkabp.unique_name("bench-scale-g")
        try:
            for t in topics:
                kafkabp.create_topic(t, per_topic, timeout=120)
                fill_partitions(t, per_topic, 5)
            c = Consumer({**kafkabp.client_config(), "group.id": group, "enable.auto.commit": False})
            c.commit(offsets=[TopicPartition(t, p, 2) for t in topics for p in range(per_topic)], asynchronous=False)
            c.close()
            t0 = time.perf_counter()
            snap = kafkabp.snapshot(group, timeout=30)
            snap_ms = (time.perf_counter() - t0) * 1000
            mine = snap[snap["topic"].isin(topics)]  # a group without members: snapshot reads every topic
            if len(mine) != total or int(mine["lag"].sum()) != 3 * total:
                raise RuntimeError(f"snapshot of {total} partitions read {len(mine)} rows, lag {mine['lag'].sum()}")
            mon = kafkabp.LagMonitor(group, None, 0.5, timeout=30)  # type: ignore[arg-type]
            walls = mon.sample_seconds  # the monitor thread's own samples, each one's wall time
            mon.start()
            clock = thread_cpu(mon)
            time.sleep(1.5)  # the first samples open the offset reader
            th0, n0, p0 = clock(), len(walls), time.process_time()
            time.sleep(duration)
            th, kept, proc = clock() - th0, walls[n0:], time.process_time() - p0  # proc: every thread, librdkafka's too
            mon.stop()
            # a sample that fails is skipped and counted, as in a lesson (a shared broker busy with other clients can
            # answer one list_offsets with a retriable error: NOT_LEADER_FOR_PARTITION seen once in a parallel make
            # test); more than one in ten failing is a broken monitor, not a cost to measure
            if mon.errors * 10 > max(1, len(kept)):
                raise RuntimeError(f"LagMonitor failed {mon.errors} samples at {total} partitions: {mon.last_error}")
            out[str(total)] = {"cpu_pct": 100 * th / duration, "process_cpu_pct": 100 * proc / duration,
                               "sample_ms_median": 1000 * med(kept), "errors": mon.errors, "last_error": mon.last_error,
                               "sample_ms_max": 1000 * max(kept), "samples": len(kept), "snapshot_ms": snap_ms}
            x = out[str(total)]
            r.note("n", f"{total} partitions ({n_topics} x {per_topic}): monitor thread {x['cpu_pct']:.2f} % of a core "
                   f"(whole process, librdkafka's threads too: {x['process_cpu_pct']:.2f} %), "
                   f"sample {x['sample_ms_median']:.0f} ms median / {x['sample_ms_max']:.0f} ms max over "
                   f"{len(kept)} samples; one snapshot() {snap_ms:.0f} ms"
                   + (f"; {x['errors']} sample(s) failed, the last: {x['last_error']}" if x["errors"] else ""))
        finally:
            drop_group(group)
            for t in topics:
                try:
                    kafkabp.delete_topic(t, timeout=120)
                except Exception as exc:  # noqa: BLE001 - the measurement stands; say what was left
                    r.note("n", f"could not delete topic {t}: {exc}")
    r.data["n"] = out
    for total in shapes:
        x = out[str(total)]
        met = (x["cpu_pct"] <= 5.0 and x["sample_ms_max"] <= 200.0) if total == 1000 else None
        r.row(f"(n) LagMonitor at 2 Hz, {total:,} partitions",
              f"{x['cpu_pct']:.2f} % of a core; sample {x['sample_ms_median']:.0f} / {x['sample_ms_max']:.0f} ms "
              "(median / max)", "<= 5 %, <= 200 ms" if total == 1000 else "-", met)


BENCHES: dict[str, Callable[[Report], None]] = {
    "a": bench_producer, "b": bench_consumer, "c": bench_rate, "d": bench_control, "e": bench_monitor,
    "f": bench_parallel, "g": bench_ledger, "h": bench_rebalance, "i": bench_controller, "j": bench_quota,
    "k": bench_pause, "l": bench_share, "m": bench_autoscaler, "n": bench_monitor_scale}


def table(rows: list[Row]) -> str:
    cells = [["benchmark", "measured", "target", "met?"]] + [
        [x.benchmark, x.measured, x.target, "-" if x.met is None else ("yes" if x.met else "NO")] for x in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    return "\n".join(lines[:1] + ["|" + "|".join("-" * (w + 2) for w in widths) + "|"] + lines[1:])


def summary(rows: list[Row]) -> str:
    """The run's closing block: every row with a target, the unmet ones first (a benchmark that crashed counts as
    unmet), each with its figure and target, under one line that says how many were met."""
    judged = [x for x in rows if x.met is not None]
    unmet = [x for x in judged if not x.met]
    verdict = f"UNMET: {len(unmet)}" if unmet else "none unmet"
    head = f"targets: {len(judged) - len(unmet)} of {len(judged)} met, {verdict}"
    if not judged:
        head = "targets: none in this run"
    lines = [head] + [f"  {'UNMET' if not x.met else 'met  '}  {x.benchmark}: {x.measured}  (target {x.target})"
                      for x in unmet + [x for x in judged if x.met]]
    return "\n".join(lines)


def write(r: Report, meta: dict[str, Any]) -> list[Path]:
    """Markdown + JSON as a dated file and, for a full run of every benchmark, as latest.* too (a quick or
    partial run must not replace the reference numbers); each file is written whole, then renamed."""
    md = [f"# kafkabp benchmarks, {meta['date']}", "", "; ".join(f"{k}: {v}" for k, v in meta.items()), "",
          table(r.rows), ""] + [f"- ({k}) {line}" for k, lines in r.notes.items() for line in lines]
    md += ["", "```", summary(r.rows), "```"]  # the guard: which targets this run met, and which not
    if "b_profile" in r.data:
        md += ["", "Profile of kafkabp's consumer worker (b):", "", "```", *r.data["b_profile"], "```"]
    doc = {"meta": meta, "rows": [asdict(x) for x in r.rows], "notes": r.notes, "data": r.data}
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = meta["date"].replace(":", "") + ("-quick" if r.quick else "")
    names = [stem] + (["latest"] if not r.quick and meta["benchmarks"] == ",".join(BENCHES) else [])
    for name in names:
        for ext, text in (("md", "\n".join(md) + "\n"), ("json", json.dumps(doc, indent=1, default=str))):
            tmp = RESULTS / f"{name}.{ext}.tmp"
            tmp.write_text(text)
            tmp.replace(RESULTS / f"{name}.{ext}")
    return [RESULTS / f"{name}.md" for name in names]


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repeat, 300k records, shorter windows")
    ap.add_argument("--only", default=",".join(BENCHES), help="comma-separated subset of " + ",".join(BENCHES))
    args = ap.parse_args()
    chosen = [k.strip() for k in args.only.split(",") if k.strip()]
    if unknown := [k for k in chosen if k not in BENCHES]:
        ap.error(f"unknown benchmark(s) {unknown}; choose from {','.join(BENCHES)}")
    r = Report(repeats=1 if args.quick else 3, n=300_000 if args.quick else 1_000_000, quick=args.quick)
    info = kafkabp.ensure_broker_info()
    meta: dict[str, Any] = {
        "date": datetime.now().isoformat(timespec="seconds"), "mode": "quick" if args.quick else "full",
        "benchmarks": ",".join(chosen), "repeats": r.repeats, "records": r.n, "cores": os.cpu_count(),
        "broker": f"{info.kind} {info.version}", "confluent-kafka": confluent_kafka.__version__,
        "librdkafka": confluent_kafka.libversion()[0]}
    for key in chosen:
        print(f"== {(BENCHES[key].__doc__ or key).split(':')[0]}", flush=True)
        t0, before = time.monotonic(), load()
        try:
            BENCHES[key](r)
        except Exception as exc:  # one failing benchmark must not hide the others' results
            r.row(f"({key}) failed", f"{type(exc).__name__}: {exc}"[:150], "-", False)
            r.notes.setdefault(key, []).append(traceback.format_exc()[-1500:])
            traceback.print_exc()
        r.note(key, f"took {time.monotonic() - t0:.0f} s; load average 1/5/15 min {before} before, {load()} after")
    print("\n" + table(r.rows))
    written = write(r, meta)
    print("\nwritten: " + " and ".join(str(p) for p in written) + " (with .json)")
    print("\n" + summary(r.rows))  # last, so that an unmet target is the first thing read


if __name__ == "__main__":
    main()

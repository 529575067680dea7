"""The benchmarks run end to end on kafkabp's public hooks (issue 20, part 7), so that a refactor cannot break
them silently: (b)'s profile of the consumer member and its per-record Python cost without a broker (a
``Worker`` subclass as the group's ``member_type``, a stand-in client through ``client_type``), and (n)'s lag
monitor at scale (each sample's wall time from ``LagMonitor.sample_seconds``, the thread's CPU through
``LagMonitor.thread``), each with a tiny size: about 20 s together."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    """benchmarks/run.py as a module (it imports its neighbour harness.py by name)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("run")
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.integration
def test_the_consumer_profile_and_its_python_cost_per_record(bench: ModuleType, kafka_bootstrap: str) -> None:
    r = bench.Report(repeats=1, n=2_000, quick=True)
    bench.profile_consumer(r)
    profile = r.data["b_profile"]
    assert "2,000 records" in profile[0], profile[0]
    assert any("consumer.py" in line for line in profile[1:]), profile  # the member's own loop was profiled
    costs = r.data["b_python_us_per_record"]
    assert len(costs) == 3 and all(k > 0 and plain > 0 for k, plain in costs), costs
    assert [row.benchmark for row in r.rows] == ["(b) consumer: Python us/record, no broker (kafkabp; plain)"]


@pytest.mark.integration
def test_the_lag_monitor_at_scale(bench: ModuleType, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "SCALE_SHAPES", {10: (1, 10)})  # one topic of 10 partitions
    r = bench.Report(repeats=1, n=0, quick=True)
    bench.bench_monitor_scale(r)  # samples at 2 Hz for 8 s
    x = r.data["n"]["10"]
    assert x["samples"] >= 8, x  # about 16; fewer on a loaded machine, never none
    assert 0 < x["sample_ms_median"] <= x["sample_ms_max"], x
    assert 0 < x["cpu_pct"] < 100, x  # the monitor thread's CPU clock was read
    assert x["errors"] * 10 <= x["samples"], x  # a failed sample is counted and skipped; many is a broken monitor
    assert [row.benchmark for row in r.rows] == ["(n) LagMonitor at 2 Hz, 10 partitions"]


@pytest.mark.integration
def test_the_producer_variants_write_what_they_claim(bench: ModuleType, kafka_bootstrap: str) -> None:
    """(a)'s parts of exact counting: ``plain+header`` writes kafkabp's header with sequence numbers 0..n-1 (the
    ledger decodes them), ``plain+error-reports`` delivers everything with its per-message state."""
    import harness

    from kafkabp.ledger import decode

    for variant in ({"counted": True}, {"only_errors": True}):
        with harness.fresh_topic() as t:
            run = harness.produce_plain(t, 2_000, "1", **variant)
            assert run["rate"] > 0 and run["cpu_us"] > 0, run
            batch = bench.read_batch(t, 2_000)
            pids, seqs = decode([m.value() for m in batch])
            if variant.get("counted"):
                assert sorted(seqs.tolist()) == list(range(2_000)), seqs[:10]
            else:
                assert len(batch) == 2_000 and len(seqs) == 0  # the plain value, no header


def test_the_summary_names_every_unmet_target_first_with_its_figure(bench: ModuleType) -> None:
    """The guard (issue 23): a run ends with one block saying which targets were met and which not (no broker)."""
    r = bench.Report(repeats=1, n=0, quick=True)
    r.row("(a) producer: kafkabp/plain", "0.97 (min 0.90 / median 0.97 / max 1.02, 5 repeats)", ">= 0.95", True)
    r.row("(f) parallel, free processing: k=16/plain", "0.41 (min 0.30 / median 0.41 / max 0.52, 3 repeats)",
          ">= 0.5", False)
    r.row("(c) rate accuracy", "reported only")
    r.row("(h) failed", "TimeoutError: no broker", "-", False)
    lines = bench.summary(r.rows).splitlines()
    assert lines[0] == "targets: 1 of 3 met, UNMET: 2", lines
    assert lines[1].split()[0] == "UNMET" and "(f) parallel, free processing: k=16/plain: 0.41" in lines[1], lines
    assert "(target >= 0.5)" in lines[1] and lines[2].split()[:2] == ["UNMET", "(h)"], lines
    assert lines[3].split()[0] == "met" and "(a) producer: kafkabp/plain: 0.97" in lines[3], lines
    assert not any("(c)" in line for line in lines)  # reported only: no target to meet
    assert bench.summary([]) == "targets: none in this run"


def test_the_pool_cost_per_record_without_a_broker(bench: ModuleType, no_broker: None) -> None:
    """(f)'s broker-free measurement: the real member with 16 key-ordered threads, fed stand-in records. The member
    builds its client settings from the current target: an address nothing is asked at (no broker is started)."""
    from confluent_kafka import Message

    from kafkabp.ledger import HEADER, MAGIC

    batch = [Message(topic="t", partition=0, offset=i, key=b"k%d" % (i % 100), value=HEADER.pack(MAGIC, 1, i) + b"x",
                     timestamp=(1, 1_700_000_000_000)) for i in range(500)]
    member_us, pool_us = bench.pool_us_per_record(batch, 5_000)
    assert 0 < member_us < 1_000 and 0 < pool_us < 1_000, (member_us, pool_us)  # ran, and every record came back

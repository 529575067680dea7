"""kafkabp.replication without a broker: reading kafka-topics' answer, the ISR timeline helpers, the stall measure,
librdkafka's latency window, and the produce-error count the producer keeps with ``debug=msg``."""

from __future__ import annotations

import logging
import math
import subprocess
from typing import Any

import pandas as pd
import pytest

from kafkabp import replication
from kafkabp.workload import producer as producer_module

URP_OUTPUT = (
    "\tTopic: lesson15-aaa\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 2,1\tElr: N/A\tLastKnownElr: N/A\n"
    "\tTopic: lesson15-aaa\tPartition: 1\tLeader: 2\tReplicas: 2,1,3\tIsr: 1,2\tElr: N/A\tLastKnownElr: N/A\n"
    "\tTopic: other\tPartition: 3\tLeader: none\tReplicas: 3\tIsr: \tElr: N/A\tLastKnownElr: N/A\n"
)


def test_under_replicated_partitions_reads_kafka_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, ...]] = []

    def fake_tool(name: str, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        seen.append((name, *args))
        return subprocess.CompletedProcess([name, *args], 0, URP_OUTPUT, "")

    monkeypatch.setattr(replication, "kafka_tool", fake_tool)
    df = replication.under_replicated_partitions("lesson15-aaa")
    assert seen == [("kafka-topics", "--describe", "--under-replicated-partitions", "--topic", "lesson15-aaa")]
    assert list(df["partition"]) == [0, 1, 3] and list(df["topic"]) == ["lesson15-aaa", "lesson15-aaa", "other"]
    assert df["isr"].iloc[0] == (1, 2) and df["replicas"].iloc[1] == (2, 1, 3)
    assert df["leader"].iloc[2] == -1 and df["isr"].iloc[2] == ()
    assert df.attrs["command"].startswith("kafka-topics --describe --under-replicated-partitions")


def test_an_empty_answer_is_an_empty_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replication, "kafka_tool",
                        lambda name, *a, **kw: subprocess.CompletedProcess([name], 0, "", ""))
    df = replication.under_replicated_partitions()
    assert df.empty and list(df.columns) == ["topic", "partition", "leader", "replicas", "isr"]


def test_throttle_rate_must_be_positive_bytes() -> None:
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ValueError):
            replication.set_replication_throttle(bad, "t")  # type: ignore[arg-type]


def _timeline(t: list[float], min_isr: list[int], topic: str = "x") -> pd.DataFrame:
    return pd.DataFrame({"t": t, "topic": topic, "min_isr": min_isr, "replicas": 3, "under_replicated": 0})


def test_first_time_and_back_in_sync() -> None:
    tl = _timeline([0, 1, 2, 3, 4, 5, 6], [3, 3, 2, 3, 2, 2, 3])  # a stale "3" at t=3
    assert replication.first_time(tl, "x", "min_isr < replicas", after=0.5) == 2
    assert replication.back_in_sync(tl, "x", after=1.5) == 6  # not 3: it was under-replicated again after
    assert replication.back_in_sync(_timeline([0, 1], [3, 2]), "x") == math.inf
    assert replication.first_time(tl, "x", "min_isr < 1") == math.inf


def test_isr_timeline_and_longest_stall() -> None:
    w = replication.ISRWatch("x")
    w._isr = [{"t": 1.0, "topic": "x", "partition": p, "leader": 1, "isr": (1, 2, 3)[: 3 - p], "isr_size": 3 - p,
               "replicas": 3} for p in range(2)]
    tl = w.isr_timeline()
    assert tl[["min_isr", "replicas", "under_replicated"]].iloc[0].tolist() == [2, 3, 1]
    rows = [(0.0, 0, 0), (0.5, 100, 0), (1.0, 100, 50), (1.5, 100, 100), (2.0, 99, 150), (2.5, 300, 0), (3.0, 300, 0)]
    w._prod = [{"t": t, "producer": "p", "delivered": d, "outstanding": o} for t, d, o in rows]
    assert w.longest_stall("p") == pytest.approx(1.5)  # 0.5 .. 2.0: nothing new acknowledged, messages waiting
    assert w.longest_stall("p", start=2.4) == 0.0


def test_latency_window_weights_brokers_and_skips_empty_ones() -> None:
    stats = {"brokers": {
        "a": {"nodeid": 1, "rtt": {"cnt": 3, "avg": 1000, "p99": 2000}, "int_latency": {"cnt": 5, "p99": 300}},
        "b": {"nodeid": 2, "rtt": {"cnt": 1, "avg": 5000, "p99": 0}, "int_latency": {"cnt": 0, "p99": 0}},
        "boot": {"nodeid": -1, "rtt": {"cnt": 9, "avg": 9_000_000, "p99": 9_000_000}},
    }}
    w = replication.latency_window(stats)
    assert w["rtt_mean_ms"] == pytest.approx((3 * 1.0 + 5.0) / 4)
    assert w["rtt_p99_ms"] == 2.0 and w["queue_p99_ms"] == 0.3
    assert all(math.isnan(v) for v in replication.latency_window(None).values())


def test_the_producer_counts_produce_errors_from_librdkafkas_msg_log() -> None:
    counts: dict[str, int] = {}
    log = producer_module._ProduceErrorLog(counts)
    line = ("[thrd:127.0.0.1:1/1]: 127.0.0.1:1/1: t [0]: MessageSet with 12 message(s) (MsgId 5, BaseSeq 4) "
            "encountered error: Broker: Not enough in-sync replicas (actions Retry,MsgNotPersisted)")
    for _ in range(2):
        log.log(logging.DEBUG, "%s [%s] %s", "MSGSET", "p#producer-1", line)
    log.log(logging.DEBUG, "%s [%s] %s", "MSGSET", "p#producer-1", "MessageSet with 3 message(s) (MsgId 1, BaseSeq 0) delivered")
    log.log(logging.DEBUG, "%s [%s] %s", "PRODUCE", "p#producer-1", "encountered error: Broker: Not enough in-sync replicas")
    assert counts == {"NOT_ENOUGH_REPLICAS": 2}

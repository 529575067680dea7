"""Producer-side and broker-side backpressure tools: AIMD, a limited source, BufferError policies, quotas."""

from __future__ import annotations

import pytest

import kafkabp
from kafkabp.mitigations import AIMD, Sample

pytestmark = pytest.mark.integration


class _Probe:
    """The smallest mitigation: counts the samples it was shown."""

    name = "probe"

    def __init__(self) -> None:
        self.seen: list[Sample] = []

    def on_start(self, experiment: kafkabp.Experiment) -> None:
        self.started = True

    def on_sample(self, experiment: kafkabp.Experiment, sample: Sample) -> None:
        self.seen.append(sample)


def test_aimd_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="exactly one target"):
        AIMD()
    with pytest.raises(ValueError, match="decrease"):
        AIMD(1000, decrease=1.5)
    with pytest.raises(TypeError, match="on_sample"):
        kafkabp.Experiment(mitigations=[object()])


def test_every_lag_sample_reaches_each_mitigation(kafka_bootstrap: str) -> None:
    probe = _Probe()
    r = kafkabp.run_experiment(3, rate=500, consumers=1, observe=kafkabp.Observe(sample_interval=0.25),
                               mitigations=[probe], progress=False)
    assert probe.started and len(probe.seen) >= 8, len(probe.seen)
    assert probe.seen[-1].lag == pytest.approx(r.timeline["lag"].iloc[-2], abs=500)
    assert all(b.t > a.t for a, b in zip(probe.seen, probe.seen[1:]))


def test_aimd_holds_lag_near_its_target_and_throughput_near_capacity(kafka_bootstrap: str) -> None:
    aimd = AIMD(target_lag=1_000, increase=100, start_rate=500)
    r = kafkabp.run_experiment(16, rate=500, consumers=1, partitions=2, processing=kafkabp.fixed(0.001),
                               mitigations=[aimd], progress=False)
    steady = r.timeline[r.timeline["t"] >= 6]
    tp = r.throughput(1.0)
    rate = tp[(tp["t"] >= 6) & (tp["t"] < 15)]["rate"].mean()
    assert 300 <= steady["lag"].median() <= 3_000, steady["lag"].describe()
    assert rate >= 0.75 * 1_000, rate  # mu = 1,000 msg/s; a loaded machine slows the sleeps
    hist = r.controls[aimd.name]
    assert {"increase", "decrease"} <= set(hist["action"]), hist["action"].value_counts()
    assert r.summary["lost"] == 0


def test_a_limited_source_holds_back_and_sheds_what_overflows(kafka_bootstrap: str) -> None:
    r = kafkabp.run_experiment(4, rate=1_000, consumers=1, producer=kafkabp.Producer(demand=1_500, source_buffer=1_000),
                               progress=False)
    s = r.summary
    offered = s["produced"] + s["held_back"] + s["shed"]
    assert s["held_back"] >= 900 and s["shed"] > 500, s
    assert 0.85 * 1_500 * 4 <= offered <= 1.15 * 1_500 * 4 + 1_000, s


def test_buffer_full_blocks_or_drops_and_both_are_counted(kafka_bootstrap: str) -> None:
    tiny = kafkabp.Producer(config={"queue.buffering.max.messages": 100, "linger.ms": 50})
    drop = kafkabp.run_experiment(2, rate=50_000, consumers=0, producer=tiny.replace(on_buffer_full="drop"),
                                  progress=False)
    block = kafkabp.run_experiment(2, rate=50_000, consumers=0, producer=tiny, progress=False)
    assert drop.summary["dropped"] > 0 and drop.summary["buffer_full"] > 0, drop.summary
    assert block.summary["dropped"] == 0 and block.summary["buffer_full"] > 0, block.summary
    for r in (drop, block):
        assert r.summary["delivered"] == r.summary["produced"] and r.summary["lost"] == 0, r.summary
    assert block.summary["produced"] < 50_000 * 2 * 0.9  # the queue pushed back on the source
    with pytest.raises(ValueError, match="offered rate"):
        kafkabp.Experiment(rate=None, producer=kafkabp.Producer(on_buffer_full="drop"))


def test_producer_metrics_and_stored_bytes(kafka_bootstrap: str) -> None:
    r = kafkabp.run_experiment(3, rate=5_000, consumers=0, observe=kafkabp.Observe(stats_interval_ms=500),
                               topic=kafkabp.Topic(keep=True), progress=False,
                               producer=kafkabp.Producer(config={"compression.type": "none"}))
    try:
        m = r.producer_metrics()
        assert m["produce_requests"] > 0 and m["batch_size_avg"] > 100 and m["queue_p50_ms"] >= 0, m
        stored = kafkabp.topic_bytes(r.topic)
        assert stored >= 100 * r.summary["delivered"], (stored, r.summary["delivered"])
    finally:
        kafkabp.delete_group(r.group)
        kafkabp.delete_topic(r.topic)


def test_a_consumer_quota_throttles_the_group(kafka_bootstrap: str) -> None:
    client = kafkabp.unique_name("quota-c")
    kafkabp.set_client_quota(client, consumer_byte_rate=50_000)
    try:
        r = kafkabp.run_experiment(5, rate=None, consumers=1, producer=kafkabp.Producer(backlog=200_000),
                                   group=kafkabp.Group(config={"client.id": client}), progress=False)
    finally:
        kafkabp.remove_client_quota(client)
    assert r.summary["consumer_throttle_events"] > 0, r.events["kind"].value_counts()
    assert r.summary["consume_rate"] * 100 < 50_000 * 2.5, r.summary  # about 500 msg/s of 100 bytes


def test_aimd_does_not_wind_up_when_the_source_offers_less_than_its_limit(kafka_bootstrap: str) -> None:
    """demand 300 msg/s against consumers that take 1,000: lag stays at 0, so AIMD would raise forever."""
    aimd = AIMD(target_lag=1_000, increase=200, start_rate=500)
    source = kafkabp.Producer(demand=300)
    r = kafkabp.run_experiment(6, rate=500, producer=source, consumers=1, processing=kafkabp.fixed(0.001),
                               mitigations=[aimd], progress=False)
    hist = r.controls[aimd.name]
    assert hist["rate"].max() <= 2_000, hist[["t", "produce_rate", "rate", "action"]].to_string()
    assert (hist["action"] == "hold (limit unused)").sum() >= len(hist) // 2, hist["action"].value_counts()
    old = AIMD(target_lag=1_000, increase=200, start_rate=500, binding=0)  # anti-windup off: it climbs
    r = kafkabp.run_experiment(6, rate=500, producer=source, consumers=1, processing=kafkabp.fixed(0.001),
                               mitigations=[old], progress=False)
    assert r.controls[old.name]["rate"].max() >= 2_500

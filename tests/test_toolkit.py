"""The measurement toolkit against the real broker: exact delivery, scaling, lag agreement, clean stops."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

import kafkabp
from kafkabp.lag import describe_with_kafka_tool

pytestmark = pytest.mark.integration


def _kafkabp_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("kafkabp-") and t.is_alive()]


def test_producer_delivers_exactly_what_it_counts(kafka_bootstrap: str) -> None:
    topic = kafkabp.create_topic(kafkabp.unique_name("exact"), 3)
    p = kafkabp.RateProducer(topic, 20_000, max_messages=12_345, keys="uniform").start()
    assert p.wait(60)
    p.stop()
    assert (p.produced, p.delivered, p.failed) == (12_345, 12_345, 0)
    ends = kafkabp.snapshot(kafkabp.unique_name("nobody"), topic)
    assert ends["log_end_offset"].sum() == 12_345
    assert (ends["lag"] == ends["log_end_offset"]).all()  # never committed: lag counts from log start


def test_producer_reports_failures_instead_of_losing_them(kafka_bootstrap: str) -> None:
    topic = kafkabp.create_topic(kafkabp.unique_name("toolarge"), 1, config={"max.message.bytes": 2000})
    p = kafkabp.RateProducer(topic, 500, message_size=5000, max_messages=20).start()
    assert p.wait(60)
    p.stop()
    assert p.produced == 20 and p.delivered == 0 and p.failed == 20
    assert "MSG_SIZE_TOO_LARGE" in p.errors


def test_rate_change_takes_effect_within_a_second(kafka_bootstrap: str) -> None:
    topic = kafkabp.create_topic(kafkabp.unique_name("rate"), 1)
    p = kafkabp.RateProducer(topic, 1000).start()
    try:
        time.sleep(1.0)
        p.set_rate(5000)
        time.sleep(1.0)
        c0, t0 = p.produced, time.monotonic()
        time.sleep(2.0)
        rate = (p.produced - c0) / (time.monotonic() - t0)
    finally:
        p.stop()
    assert p.target_rate == 5000
    assert 4000 < rate < 5500, f"measured {rate:,.0f} msg/s after set_rate(5000)"


def test_scaling_changes_members_and_assignments(kafka_bootstrap: str) -> None:
    topic = kafkabp.create_topic(kafkabp.unique_name("scale"), 4)
    group = kafkabp.unique_name("scale-g")
    g = kafkabp.ConsumerGroup(topic, group, 1).start()
    try:
        assert kafkabp.wait_for(lambda: sum(map(len, g.assignment().values())) == 4, 30)
        g.scale(3)
        assert kafkabp.wait_for(lambda: len(kafkabp.describe_group(group)) == 3
                                and all(len(v) >= 1 for v in g.assignment().values()), 30), g.assignment()
        members = kafkabp.describe_group(group)
        owned = sorted(p for parts in members["partitions"] for _, p in parts)
        assert owned == [0, 1, 2, 3]
        g.scale(1)
        assert kafkabp.wait_for(lambda: len(kafkabp.describe_group(group)) == 1, 30)
        assert kafkabp.wait_for(lambda: sorted(next(iter(g.assignment().values()))) == [0, 1, 2, 3], 30)
    finally:
        g.stop()
    kinds = [e["kind"] for e in g.events.rows()]
    assert kinds.count("scale") == 3 and "assign" in kinds and "revoke" in kinds


def test_snapshot_and_monitor_agree_with_kafka_consumer_groups(kafka_bootstrap: str) -> None:
    topic = kafkabp.create_topic(kafkabp.unique_name("agree"), 4)
    group = kafkabp.unique_name("agree-g")
    p = kafkabp.RateProducer(topic, 50_000, max_messages=20_000, keys="uniform").start()
    p.wait(60)
    p.stop()
    g = kafkabp.ConsumerGroup(topic, group, 2, kafkabp.fixed(0.0005), batch_size=50).start()
    mon = kafkabp.LagMonitor(group, topic, 0.25).start()
    assert kafkabp.wait_for(lambda: len(kafkabp.committed_offsets(group)) == 4, 60)
    g.stop()  # stopped part-way: some lag is left on every partition
    mon.stop()
    ours = kafkabp.snapshot(group, topic)
    mon_last = mon.sample().sort_values("partition").reset_index(drop=True)
    tool = describe_with_kafka_tool(group)
    assert 0 < ours["lag"].sum() < 20_000
    assert list(tool["partition"]) == [0, 1, 2, 3]
    assert list(ours["lag"]) == list(tool["lag"])
    assert list(ours["committed_offset"]) == list(tool["current_offset"])
    assert list(ours["log_end_offset"]) == list(tool["log_end_offset"])
    assert list(mon_last["lag"]) == list(tool["lag"])
    # without a topic, a group with no members left shows the partitions it committed on, as the tool does, not
    # every topic of the cluster (other tests' topics, which they may delete while it reads them)
    assert kafkabp.wait_for(lambda: kafkabp.describe_group(group).empty, 30)
    alone = kafkabp.snapshot(group)
    assert set(alone["topic"]) == {topic} and list(alone["lag"]) == list(tool["lag"]), alone
    frame = mon.frame()
    assert (frame["lag"] >= 0).all() and frame["time_lag"].notna().all() and (frame["time_lag"] >= 0).all()


def test_experiment_lag_grows_when_producer_outpaces_consumers(kafka_bootstrap: str) -> None:
    res = kafkabp.run_experiment(8, rate=2000, consumers=1, partitions=2,
                                 processing=kafkabp.fixed(0.001), progress=False)
    s = res.summary
    assert s["failed"] == 0 and s["delivered"] == s["produced"]
    assert 1500 <= s["produce_rate"] <= 2100
    assert s["final_lag"] > 3000 and s["lag_slope"] > 500
    assert set(res.timeline.columns) >= {"t", "lag", "time_lag", "produce_rate", "consume_rate", "consumers", "target_rate"}
    assert res.predicted is not None and len(res.predicted) == len(res.timeline)
    assert len(res.latency) > 0 and s["p50_latency"] > 0
    assert not _kafkabp_threads()
    assert not kafkabp.topic_exists(res.topic)  # an unnamed run cleans up after itself


def test_keyboard_interrupt_stops_everything(kafka_bootstrap: str) -> None:
    def interrupt(exp: kafkabp.Experiment) -> None:
        raise KeyboardInterrupt

    exp = kafkabp.Experiment(rate=1000, consumers=2, partitions=2, processing=kafkabp.fixed(0.001),
                             topic=kafkabp.Topic(keep=True))
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        exp.run(60, progress=False, actions=[(4.0, interrupt)])
    assert time.monotonic() - start < 20
    assert not _kafkabp_threads(), _kafkabp_threads()
    assert len(kafkabp.describe_group(exp.group)) == 0
    res = exp.result()
    assert res.summary["produced"] == res.summary["delivered"] + res.summary["failed"]


def test_kip848_consumer_protocol_group_scales(kafka_bootstrap: str) -> None:
    topic = kafkabp.create_topic(kafkabp.unique_name("kip848"), 4)
    group = kafkabp.unique_name("kip848-g")
    g = kafkabp.ConsumerGroup(topic, group, 1, protocol="consumer").start()
    try:
        assert kafkabp.wait_for(lambda: sum(map(len, g.assignment().values())) == 4, 30), g.assignment()
        g.scale(2)
        assert kafkabp.wait_for(lambda: sorted(len(v) for v in g.assignment().values()) == [2, 2], 30), g.assignment()
    finally:
        g.stop()


def test_bad_group_settings_are_named(kafka_bootstrap: str) -> None:
    with pytest.raises(ValueError, match="protocol must be 'classic' or 'consumer'"):
        kafkabp.ConsumerGroup("t", "g", 1, protocol="eager")
    with pytest.raises(ValueError, match="partitions must be a positive integer"):
        kafkabp.create_topic(kafkabp.unique_name("bad"), 0)
    with pytest.raises(ValueError, match="keys must be None, 'uniform' or 'hot'"):
        kafkabp.RateProducer("t", 10, keys="zipf")


def test_deleted_topic_stays_deleted(kafka_bootstrap: str) -> None:
    topic = kafkabp.create_topic(kafkabp.unique_name("gone"), 2)
    kafkabp.delete_topic(topic)
    time.sleep(2)
    assert not kafkabp.topic_exists(topic)
    assert topic not in kafkabp.admin.admin_client().list_topics(timeout=10).topics


def test_stuck_consumer_is_stall_when_it_recommits_and_stop_when_silent(kafka_bootstrap: str) -> None:
    def stick(exp: kafkabp.Experiment) -> None:
        exp.set_processing(kafkabp.fixed(3600))

    kwargs = dict(rate=300, consumers=1, partitions=1, processing=kafkabp.fixed(0.0005),
                  observe=kafkabp.Observe(sample_interval=0.5))
    stalled = kafkabp.Experiment(group=kafkabp.Group(commit_while_busy=True), **kwargs)
    silent = kafkabp.Experiment(**kwargs)
    with stalled, silent:
        stalled.wait(3, progress=False)
        stick(stalled)
        stick(silent)
        stalled.wait(9, progress=False)
        statuses = (stalled.monitor.partition_statuses()[0], silent.monitor.partition_statuses()[0])
    assert statuses == (kafkabp.Status.STALL, kafkabp.Status.STOP), statuses


def test_processing_change_applies_within_a_second(kafka_bootstrap: str) -> None:
    """A slider's new processing time reaches the worker mid-batch, not after 500 slow messages."""
    topic = kafkabp.create_topic(kafkabp.unique_name("proc"), 1)
    p = kafkabp.RateProducer(topic, None, max_messages=20_000).start()
    assert p.wait(60)
    g = kafkabp.ConsumerGroup(topic, kafkabp.unique_name("proc-g"), 1, kafkabp.fixed(0.100), batch_size=500).start()
    try:
        assert kafkabp.wait_for(lambda: g.consumed >= 5, 30)  # slow: 10 msg/s
        g.set_processing(kafkabp.fixed(0.001))
        c0, t0 = g.consumed, time.monotonic()
        time.sleep(1.0)
        rate = (g.consumed - c0) / (time.monotonic() - t0)
    finally:
        g.stop()
        p.stop()
    assert rate > 300, f"{rate:.0f} msg/s in the second after the change to 1 ms/msg (10 msg/s before)"


def test_counts_are_exact_through_rebalances(kafka_bootstrap: str) -> None:
    """Every acknowledged message is processed or still unread: at-least-once loses nothing."""
    actions = [(2.0, lambda e: e.scale(3)), (4.0, lambda e: e.scale(1)), (5.0, lambda e: e.scale(2))]
    r = kafkabp.run_experiment(7, rate=3000, consumers=1, partitions=4, processing=kafkabp.fixed(0.0004),
                               actions=actions, progress=False)
    s = r.summary
    assert s["counts_exact"] is True and s["rebalances"] >= 2, s
    assert s["lost"] == 0, (s, r.ledger["lost_ranges"])
    assert s["unread"] == s["final_lag"], s
    assert r.ledger["acknowledged"] == s["delivered"] == s["produced"] > 15_000, s
    assert r.ledger["processed"] == s["consumed"], (r.ledger, s)
    assert r.ledger["processed_unique"] + s["unread"] == s["delivered"], (r.ledger, s)
    redelivered = sum(b - a + 1 for rs in r.redelivered.values() for a, b in rs)
    assert redelivered <= s["duplicates"] and (redelivered == 0) == (s["duplicates"] == 0), (r.redelivered, s)


def test_progress_shows_every_running_experiment_and_says_when_it_goes_on(kafka_bootstrap: str,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    a = kafkabp.Experiment(rate=500, consumers=1, label="first")
    b = kafkabp.Experiment(rate=500, consumers=1, label="second")
    with a, b:
        a.wait(1.5)
        err = capsys.readouterr().err
        assert "first:" in err and "second:" in err, err
        assert "still running" in err.splitlines()[-1] and "done" not in err, err
    r = kafkabp.run_experiment(1.5, rate=500, consumers=1, label="third")
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("third: done") and f"{r.summary['produced']:,} produced" in last, last
    assert f"{r.summary['consumed']:,} consumed" in last, last

"""Retention outrun by lag (lesson 10): offset resets become events, deleted messages count as lost, exactly.

The integration tests use topics with a retention of a few seconds; they need a broker that checks retention
often (kafkabp's lab broker: ``log.retention.check.interval.ms=1000``) and skip on one that does not.
"""

from __future__ import annotations

import math
import time

import pandas as pd
import pytest

import kafkabp
from kafkabp.ledger import Ledger, scan_unread
from kafkabp.workload.base import EventLog
from kafkabp.workload.consumer import _MemberLog

# The lesson's consumer holds about a second of messages: librdkafka's default prefetch (queued.min.messages =
# 100,000 per partition) would keep a whole short run in memory, where retention cannot delete it.
SMALL_PREFETCH = {"queued.min.messages": 1000, "max.partition.fetch.bytes": 65536}

# librdkafka's warning, as confluent-kafka hands it to a logger (rdkafka_offset.c, rd_kafka_offset_reset).
RESET_LINE = ("[thrd:main]: kafkabp-64b8ab4e [1]: offset reset (at offset 7161 (leader epoch 0), broker 1) to offset "
              "BEGINNING (leader epoch -1): fetch failed due to requested offset not available on the broker: "
              "Broker: Offset out of range")


# ------------------------------------------------------------------------------------------- without a broker
def test_time_lag_alerts_fire_at_the_first_sample_over_each_threshold() -> None:
    tl = pd.DataFrame({"t": [0, 1, 2, 3, 4, 5, 6], "time_lag": [0.0, 2.0, 4.0, 5.0, 8.5, 9.0, 11.0]})
    alerts = kafkabp.time_lag_alerts(tl, 10.0, (0.5, 0.8, 1.0), loss_at=6.5)
    assert list(alerts["threshold_s"]) == [5.0, 8.0, 10.0]
    assert list(alerts["fired_at"]) == [3.0, 4.0, 6.0]  # >= the threshold, the first sample that is
    assert list(alerts["warning_s"]) == [3.5, 2.5, 0.5]
    never = kafkabp.time_lag_alerts(tl, 100.0)
    assert never["fired_at"].isna().all() and never["warning_s"].isna().all() and never["loss_at"].isna().all()


def test_an_alert_with_a_for_duration_waits_for_the_time_lag_to_stay_over() -> None:
    tl = pd.DataFrame({"t": [0, 1, 2, 3, 4, 5], "time_lag": [6.0, 1.0, 6.0, 6.0, 6.0, 6.0]})
    assert kafkabp.time_lag_alerts(tl, 10.0, (0.5,))["fired_at"].iloc[0] == 0.0
    assert kafkabp.time_lag_alerts(tl, 10.0, (0.5,), for_s=2.0)["fired_at"].iloc[0] == 4.0  # over since 2 s


def test_time_lag_alerts_take_the_first_offset_reset_of_a_result_as_the_loss() -> None:
    class FakeResult:
        timeline = pd.DataFrame({"t": [0.0, 5.0, 10.0], "time_lag": [0.0, 6.0, 11.0]})
        events = pd.DataFrame({"t": [1.0, 12.0, 13.0], "kind": ["assign", "offset_reset", "offset_reset"],
                               "member": ["c0"] * 3, "detail": ["p0", "p0 at offset 5", "p1 at offset 9"]})

    row = kafkabp.time_lag_alerts(FakeResult(), 10.0, (0.5,)).iloc[0]
    assert (row["fired_at"], row["loss_at"], row["warning_s"]) == (5.0, 12.0, 7.0)
    for bad in (dict(retention_s=0), dict(retention_s=10, fractions=(0.5, 1.5))):
        with pytest.raises(ValueError):
            kafkabp.time_lag_alerts(FakeResult.timeline, **bad)


def test_librdkafkas_offset_reset_warning_becomes_an_event_and_other_lines_do_not() -> None:
    class Worker:
        name = "g-c0"

        class group:
            events = EventLog()

    log = _MemberLog(Worker())
    log.log(30, "%s [%s] %s", "OFFSET", "g-c0#consumer-1", RESET_LINE)
    log.log(30, "%s [%s] %s", "FAIL", "g-c0#consumer-1", "127.0.0.1:9092/1: Disconnected")
    log.log(7, "%s [%s] %s", "OFFSET", "g-c0#consumer-1", "p [0]: offset reset (at offset BEGINNING) to 0: no error")
    rows = Worker.group.events.rows()
    assert [(r["kind"], r["member"], r["detail"]) for r in rows] == [
        ("offset_reset", "g-c0", "p1 at offset 7161: Offset out of range")]


# ------------------------------------------------------------------------------------------- on the broker
def _needs_fast_retention_checks() -> int:
    interval = int(kafkabp.broker_config(["log.retention.check.interval.ms"])["log.retention.check.interval.ms"])
    if interval > 2_000:
        pytest.skip(f"this broker checks retention every {interval / 1000:.0f} s; these tests need about 1 s")
    return interval


@pytest.mark.integration
def test_broker_config_reads_the_running_brokers_settings(kafka_bootstrap: str) -> None:
    conf = kafkabp.broker_config(["log.retention.check.interval.ms", "log.retention.ms", "no.such.setting"])
    assert set(conf) == {"log.retention.check.interval.ms", "log.retention.ms"}
    assert int(conf["log.retention.check.interval.ms"]) > 0
    assert len(kafkabp.broker_config()) > 100  # everything, when no names are given


@pytest.mark.integration
def test_the_unread_scan_starts_at_the_log_start_when_retention_deleted_the_committed_offset(
        kafka_bootstrap: str) -> None:
    """Messages deleted before anyone read them are lost, not unread; the scan ends even when nothing is left."""
    _needs_fast_retention_checks()
    topic = kafkabp.unique_name("kafkabp-retention-scan")
    kafkabp.create_topic(topic, 1, config={"retention.ms": 1500, "segment.ms": 200})
    ledger = Ledger()
    try:
        first = kafkabp.RateProducer(topic, None, max_messages=500, ledger=ledger, name="first")
        first.start()
        assert first.wait(30) and first.delivered == 500
        first.stop()
        assert kafkabp.wait_for(lambda: _log_start(topic) >= 500, 30), _log_start(topic)  # all 500 deleted
        t0 = time.monotonic()
        assert scan_unread(ledger, topic, {0: 0}, {0: 500}, timeout=15)  # nothing left: ends at the log's end
        assert time.monotonic() - t0 < 10
        report = ledger.report()
        assert report["exact"] and report["lost"] == 500 and report["unread"] == 0, report

        second = kafkabp.RateProducer(topic, None, max_messages=300, ledger=ledger, name="second")
        second.start()
        assert second.wait(30) and second.delivered == 300
        second.stop()
        assert scan_unread(ledger, topic, {0: 0}, {0: 800}, timeout=15)  # from offset 0: reset to the log start
        report = ledger.report()
        assert report["exact"] and report["lost"] == 500 and report["unread"] == 300, report
        assert report["lost_ranges"] == {"first": [(0, 499)]}
    finally:
        kafkabp.delete_topic(topic)


def _log_start(topic: str) -> int:
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    from kafkabp.admin import admin_client

    futs = admin_client().list_offsets({TopicPartition(topic, 0): OffsetSpec.earliest()}, request_timeout=10)
    return next(iter(futs.values())).result(10).offset


@pytest.mark.integration
def test_a_consumer_outrun_by_retention_survives_its_offset_resets_and_every_loss_is_counted(
        kafka_bootstrap: str) -> None:
    """λ = 2,000 msg/s, μ ≈ 1,000 msg/s, retention 4 s: time lag passes retention after about 10 s."""
    _needs_fast_retention_checks()
    retention = 4.0
    r = kafkabp.run_experiment(18, rate=2_000, consumers=1, partitions=2, processing=kafkabp.fixed(0.001),
                               topic=kafkabp.Topic(config={"retention.ms": int(retention * 1000), "segment.ms": 500}),
                               group=kafkabp.Group(config=SMALL_PREFETCH), progress=False)
    s, ledger = r.summary, r.ledger
    assert s["failed"] == 0 and s["counts_exact"], s
    resets = r.events[r.events["kind"] == "offset_reset"]
    assert s["offset_resets"] == len(resets) >= 1, r.events["kind"].value_counts()
    assert resets["detail"].str.contains("Offset out of range").all(), resets
    assert not (r.events["kind"] == "error").any(), r.events  # the member went on consuming after each reset
    tp = r.throughput(1.0)
    assert tp[tp["t"] >= resets["t"].min() + 1]["rate"].sum() > 0

    gaps = sum(b - a + 1 for ranges in ledger["lost_ranges"].values() for a, b in ranges)
    processed = s["consumed"] - s["duplicates"]
    assert s["lost"] > 0 and s["lost"] == gaps, (s["lost"], gaps)
    assert s["lost"] == s["produced"] - s["failed"] - processed - s["unread"], s

    # Kafka deletes a message only once its segment's newest message is retention.ms old: the group's time lag had
    # passed the retention before the first reset; and the alert at 80 % fired before it.
    tl = r.timeline
    first = float(resets["t"].min())
    assert tl[tl["t"] <= first]["time_lag"].max() >= 0.9 * retention, tl[tl["t"] <= first].tail()
    alert = kafkabp.time_lag_alerts(r, retention, (0.8,)).iloc[0]
    assert alert["warning_s"] > 0, alert
    assert not math.isnan(alert["loss_at"]) and alert["loss_at"] == first

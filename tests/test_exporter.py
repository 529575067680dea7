"""The lag as Prometheus metrics: a scrape during an experiment, parsed with prometheus-client's own parser, agrees
with ``lag.snapshot`` and with Kafka's ``kafka-consumer-groups --describe`` for the same moment.

The experiment's producer and consumers are stopped before the comparison (rate 0, no member left), so the broker's
offsets stand still while the three readers look; before that, one scrape while the lag grows shows time lag.
"""

from __future__ import annotations

import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import kafkabp
from kafkabp import lag
from kafkabp.exporter import BURROW, LagExporter, time_lag_rule
from kafkabp.status import Status


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """``{metric name: {sorted labels: value}}`` from one scrape."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    return {f.name: {tuple(sorted(s.labels.items())): s.value for s in f.samples}
            for f in text_string_to_metric_families(text)}


def per_partition(metrics: dict, name: str) -> dict[int, float]:
    return {int(dict(labels)["partition"]): v for labels, v in metrics[name].items()}


def test_the_rule_names_the_metric_and_bad_input_is_named() -> None:
    rule = time_lag_rule(60, 0.5, "orders", for_s=30)
    assert 'kafka_consumergroup_group_lag_seconds{group=~"orders"}) > 0.5 * 60' in rule and "for: 30s" in rule
    with pytest.raises(ValueError, match="fraction"):
        time_lag_rule(60, 1.5)
    with pytest.raises(ValueError, match="port"):
        LagExporter(port=70000)


@pytest.mark.integration
def test_a_scrape_during_an_experiment_matches_the_snapshot_and_kafka_consumer_groups(kafka_bootstrap: str) -> None:
    exporter = LagExporter()
    try:
        with kafkabp.Experiment(rate=3000, consumers=1, partitions=3, processing=kafkabp.Processing(seconds=0.001),
                                mitigations=[exporter], label="prometheus") as exp:
            exp.wait(4, progress=False)
            growing = scrape(exporter.url)
            exp.set_rate(0.0)
            exp.scale(0)
            before, deadline = None, time.monotonic() + 20
            while time.monotonic() < deadline:  # two samples in a row alike: nothing moves any more
                time.sleep(exp.monitor.interval * 2.5)
                now = per_partition(scrape(exporter.url), "kafka_consumergroup_group_lag")
                if now == before:
                    break
                before = now
            text = exporter.scrape()
            metrics = scrape(exporter.url)
            snap = lag.snapshot(exp.group, exp.topic).set_index("partition")
            tool = lag.describe_with_kafka_tool(exp.group).set_index("partition")
    finally:
        exporter.close()
    print("\n".join(line for line in text.splitlines() if 'partition="0"' in line))
    print(tool.loc[[0]].to_string())
    assert sum(per_partition(growing, "kafka_consumergroup_group_lag").values()) > 1000, "lag grew at 3x capacity"
    assert max(per_partition(growing, "kafka_consumergroup_group_lag_seconds").values()) > 0.5
    offsets = per_partition(metrics, "kafka_consumergroup_group_lag")
    assert sorted(offsets) == [0, 1, 2]
    for p, lag_value in offsets.items():
        assert lag_value == snap.loc[p, "lag"] == tool.loc[p, "lag"], (p, lag_value, snap, tool)
        assert per_partition(metrics, "kafka_partition_latest_offset")[p] == snap.loc[p, "log_end_offset"] == \
            tool.loc[p, "log_end_offset"]
        assert per_partition(metrics, "kafka_consumergroup_group_offset")[p] == tool.loc[p, "current_offset"]
    assert sum(metrics["kafka_consumergroup_group_sum_lag"].values()) == snap["lag"].sum() > 0
    assert max(metrics["kafka_consumergroup_group_max_lag"].values()) == snap["lag"].max()
    by_number = {v: k for k, v in BURROW.items()}
    for scraped in (growing, metrics):  # the group's status is Burrow's worst partition status (ERR for STOP/STALL)
        partitions = [by_number[v] for v in scraped["kafka_burrow_partition_status"].values()]
        assert list(scraped["kafka_burrow_status"].values()) == [BURROW[kafkabp.group_status(partitions)]], scraped
    assert list(growing["kafka_burrow_status"].values()) != [BURROW[Status.OK]], "lag growing at 3x capacity: not OK"
    row = next(iter(metrics["kafka_consumergroup_group_lag"]))
    assert {k for k, _ in row} == {"cluster_name", "group", "topic", "partition", "member_host", "consumer_id",
                                   "client_id"}, "kafka-lag-exporter's labels"

"""The lag an experiment measures, served as Prometheus metrics, named as the tools at work name them.

``LagExporter`` is an object an experiment runs (``mitigations=[LagExporter()]``: it steers nothing): at each lag
sample it keeps the per-partition numbers, and a Prometheus scrape of ``http://127.0.0.1:<port>/metrics`` (the
official ``prometheus-client``, loopback only) reads them:

- kafka-lag-exporter's names and labels (https://github.com/seglo/kafka-lag-exporter#metrics):
  ``kafka_consumergroup_group_offset``, ``kafka_consumergroup_group_lag`` and ``kafka_consumergroup_group_lag_seconds``
  per partition; ``kafka_consumergroup_group_max_lag``, ``…_max_lag_seconds``, ``…_sum_lag`` per group;
  ``kafka_consumergroup_group_topic_sum_lag`` per topic; ``kafka_partition_latest_offset`` per partition.
  ``member_host``, ``consumer_id`` and ``client_id`` are empty (kafkabp's monitor reads offsets, not members).
- Burrow's status as burrow-exporter serves it: ``kafka_burrow_partition_status`` and ``kafka_burrow_status`` with
  Burrow's numbers (NOTFOUND 0, OK 1, WARN 2, ERR 3, STOP 4, STALL 5, REWIND 6).

A partition the group never committed has no ``kafka_consumergroup_group_offset`` (its lag counts from the log start,
as ``kafka-consumer-groups`` does). Time lag is kafkabp's interpolation, as kafka-lag-exporter computes it.
"""

from __future__ import annotations

import threading
import urllib.request
from typing import TYPE_CHECKING, Iterator

import pandas as pd
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric

from kafkabp.mitigations import Sample
from kafkabp.status import Status

if TYPE_CHECKING:
    from kafkabp.experiment import Experiment

CLUSTER = "kafkabp"
MEMBER = ["member_host", "consumer_id", "client_id"]
BURROW = {status: float(rank) for rank, status in enumerate(Status)}  # Burrow's StatusConstant numbers


class LagExporter:
    """Serve the experiment's last lag sample on ``http://127.0.0.1:<port>/metrics`` (port 0: a free one)."""

    name = "prometheus"

    def __init__(self, port: int = 0, cluster: str = CLUSTER) -> None:
        if not 0 <= port < 65536:
            raise ValueError(f"port must be 0 (a free one) or 1-65535, got {port}")
        self.cluster, self._port = cluster, port
        self._lock = threading.Lock()
        self._sample: Sample | None = None
        self._where: tuple[str, str] = ("", "")
        self._statuses: tuple[Status, dict[int, Status]] = (Status.NOTFOUND, {})
        self._server = None
        self.port = 0
        self.scrapes = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def on_start(self, experiment: "Experiment") -> None:
        self._where = (experiment.group, experiment.topic)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)  # type: ignore[arg-type]  # a collector: collect() below
        self._server, _ = start_http_server(self._port, addr="127.0.0.1", registry=registry)
        self.port = self._server.server_port

    def on_sample(self, experiment: "Experiment", sample: Sample) -> None:
        statuses = (experiment.monitor.status(), experiment.monitor.partition_statuses())
        with self._lock:
            self._sample, self._statuses = sample, statuses

    def scrape(self, timeout: float = 10.0) -> str:
        """One scrape, as Prometheus makes it: the text exposition format."""
        with urllib.request.urlopen(self.url, timeout=timeout) as resp:
            return resp.read().decode()

    def close(self) -> None:
        """Stop serving (an experiment's end does not: the last numbers stay readable until this)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def collect(self) -> Iterator[Metric]:
        """The metric families of the last sample (prometheus-client calls this at every scrape)."""
        with self._lock:
            sample, (group, topic), (status, per_partition) = self._sample, self._where, self._statuses
            self.scrapes += 1
        part_labels = ["cluster_name", "group", "topic", "partition", *MEMBER]
        fams = {name: GaugeMetricFamily(name, text, labels=labels) for name, text, labels in [
            ("kafka_consumergroup_group_offset", "The last committed offset of the group on this partition.", part_labels),
            ("kafka_consumergroup_group_lag", "Log end offset minus the group's committed offset.", part_labels),
            ("kafka_consumergroup_group_lag_seconds", "The estimated lag in seconds (interpolated).", part_labels),
            ("kafka_consumergroup_group_max_lag", "The highest offset lag of the group.",
             ["cluster_name", "group", "is_simple_consumer"]),
            ("kafka_consumergroup_group_max_lag_seconds", "The highest time lag of the group.",
             ["cluster_name", "group", "is_simple_consumer"]),
            ("kafka_consumergroup_group_sum_lag", "The sum of the group's offset lag.", ["cluster_name", "group"]),
            ("kafka_consumergroup_group_topic_sum_lag", "The sum of the group's offset lag on this topic.",
             ["cluster_name", "group", "topic"]),
            ("kafka_partition_latest_offset", "The log end offset of the partition.", ["cluster_name", "topic", "partition"]),
            ("kafka_burrow_partition_status", "Burrow's status of the partition (OK 1, WARN 2, STOP 4, STALL 5, ...).",
             ["cluster", "group", "topic", "partition"]),
            ("kafka_burrow_status", "Burrow's status of the group (OK 1, WARN 2, ERR 3, ...).", ["cluster", "group"]),
        ]}
        if sample is not None:
            c = self.cluster
            for p in sample.partitions:
                labels = [c, group, topic, str(p.partition), "", "", ""]
                if p.committed is not None:
                    fams["kafka_consumergroup_group_offset"].add_metric(labels, p.committed)
                fams["kafka_consumergroup_group_lag"].add_metric(labels, p.lag)
                fams["kafka_consumergroup_group_lag_seconds"].add_metric(labels, p.time_lag)
                fams["kafka_partition_latest_offset"].add_metric([c, topic, str(p.partition)], p.log_end_offset)
                if p.partition in per_partition:
                    fams["kafka_burrow_partition_status"].add_metric(
                        [c, group, topic, str(p.partition)], BURROW[per_partition[p.partition]])
            lags = [p.lag for p in sample.partitions] or [0]
            fams["kafka_consumergroup_group_max_lag"].add_metric([c, group, "false"], max(lags))
            fams["kafka_consumergroup_group_max_lag_seconds"].add_metric(
                [c, group, "false"], max([p.time_lag for p in sample.partitions] or [0.0]))
            fams["kafka_consumergroup_group_sum_lag"].add_metric([c, group], sum(lags))
            fams["kafka_consumergroup_group_topic_sum_lag"].add_metric([c, group, topic], sum(lags))
            fams["kafka_burrow_status"].add_metric([c, group], BURROW[status])
        yield from fams.values()


def parse(text: str) -> pd.DataFrame:
    """A scrape's samples, parsed by prometheus-client's own parser: one row per sample (name, its labels, value)."""
    from prometheus_client.parser import text_string_to_metric_families

    rows = [{"metric": s.name, **s.labels, "value": s.value}
            for family in text_string_to_metric_families(text) for s in family.samples]
    return pd.DataFrame(rows)


def time_lag_rule(retention_s: float, fraction: float = 0.8, group: str = ".*", for_s: float = 0) -> str:
    """A Prometheus alert rule (YAML) firing when a partition's time lag passes ``fraction`` of the retention: past
    the retention, the messages the group has not read yet are deleted (lesson 10). ``for_s``: how long the
    condition must hold first (0: at the first evaluation that sees it, as lesson 10 evaluates it)."""
    if not 0 < fraction <= 1 or retention_s <= 0:
        raise ValueError(f"fraction must be in (0, 1] and retention_s > 0, got {fraction}, {retention_s}")
    return f"""groups:
- name: kafka-lag
  rules:
  - alert: KafkaTimeLagNearRetention
    expr: max by (group, topic, partition) (kafka_consumergroup_group_lag_seconds{{group=~"{group}"}}) > {fraction} * {retention_s:g}
    for: {for_s:g}s
    labels: {{severity: page}}
    annotations:
      summary: "{{{{ $labels.group }}}} is {{{{ $value | humanizeDuration }}}} behind on {{{{ $labels.topic }}}}/{{{{ $labels.partition }}}}: retention is {retention_s:g} s"
"""

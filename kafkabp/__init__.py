"""kafkabp: learn backpressure in Apache Kafka by measuring it on a real broker.

Data flows one way: broker -> workload -> lag monitor -> experiment result -> plots and widgets.

Every public name is imported on first use (PEP 562), so ``import kafkabp`` and the ``kafkabp`` command stay
light: pandas, plotly and ipywidgets load only with the parts that use them.
"""

from __future__ import annotations

import importlib as _importlib
import importlib.util as _importlib_util
from typing import Any as _Any

__version__ = "0.1.0"

# public name -> the module it lives in
_WHERE: dict[str, str] = {
    **dict.fromkeys(["BrokerError"], "kafkabp.infra.paths"),
    **dict.fromkeys(["BrokerUnavailable"], "kafkabp.outage"),
    **dict.fromkeys(["BrokerInfo"], "kafkabp.infra.target"),
    **dict.fromkeys(["bootstrap", "client_config", "ensure_broker", "ensure_broker_info", "restart_broker",
                     "stop_broker"], "kafkabp.infra.broker"),
    **dict.fromkeys(["kafka_tool"], "kafkabp.infra.tools"),
    **dict.fromkeys(["ClusterInfo", "NodeInfo", "cluster_info", "ensure_cluster", "pause_node", "resume_node",
                     "start_node", "stop_cluster", "stop_node"], "kafkabp.infra.cluster"),  # lesson 15
    **dict.fromkeys(["committed_offsets"], "kafkabp.offsets"),
    **dict.fromkeys(["alter_topic_config", "broker_config", "create_topic", "delete_group",
                     "delete_topic", "describe_group", "remove_client_quota", "set_client_quota", "topic_bytes",
                     "topic_exists", "unique_name", "alter_group_config"], "kafkabp.admin"),
    **dict.fromkeys(["Experiment", "run_experiment"], "kafkabp.experiment"),
    **dict.fromkeys(["Ledger"], "kafkabp.ledger"),
    **dict.fromkeys(["LagExporter", "time_lag_rule"], "kafkabp.exporter"),  # lesson 10: lag as Prometheus metrics
    **dict.fromkeys(["AIMD", "Mitigation", "Sample", "Autoscaler", "keda"], "kafkabp.mitigations"),
    **dict.fromkeys(["Result", "Summary"], "kafkabp.result"),
    **dict.fromkeys(["Group", "Observe", "Producer", "Topic"], "kafkabp.specs"),  # an experiment's parts
    **dict.fromkeys(["LagMonitor", "snapshot", "time_lag_alerts", "describe_share_group_with_kafka_tool"],
                    "kafkabp.lag"),
    **dict.fromkeys(["drain_time", "group_capacity", "predicted_group_lag", "predicted_lag", "service_rate"],
                    "kafkabp.model"),
    **dict.fromkeys(["Status", "group_status", "partition_status"], "kafkabp.status"),
    **dict.fromkeys(["dashboard", "explore"], "kafkabp.widgets"),
    **dict.fromkeys(["Buffer", "Burst", "Constant", "ConsumerGroup", "Processing", "Ramp", "RateProducer", "Step",
                     "batch_handler", "cpu", "exponential", "fixed", "handler", "lognormal", "per_batch", "stop_all",
                     "wait_for"], "kafkabp.workload"),
    **dict.fromkeys(["orders"], "kafkabp.workload.records"),
    **dict.fromkeys(["Dependency", "poison_payloads"], "kafkabp.workload.dependency"),  # lesson 16
    **dict.fromkeys(["Retries"], "kafkabp.workload.retry"),
    **dict.fromkeys(["ShareGroup", "ShareOptions"], "kafkabp.workload.share"),
    **dict.fromkeys(["AsyncGroup", "AsyncOptions", "aio_consumer_design", "pending_task_bytes",
                     "probe_bounded"], "kafkabp.workload.aio"),  # lesson 17: asyncio consumers
    **dict.fromkeys(["Measurement", "forget", "recall", "remember"], "kafkabp.measurements"),  # lesson 14
    **dict.fromkeys(["written"], "kafkabp.exercises"),  # the guard of every exercise's Check cell
    **dict.fromkeys(["playground"], "kafkabp.playroom"),  # lesson 13: every knob on one dashboard
    **dict.fromkeys(["ISRWatch", "group_not_on", "quorum_leader", "remove_replication_throttle", "replicas",
                     "replicated_topic", "set_replication_throttle", "under_replicated_partitions"],
                    "kafkabp.replication"),
}
_MODULES = {"replication": "kafkabp.replication"}  # lesson 15: replicas, the ISR, replication throttles


def __getattr__(name: str) -> _Any:
    if name in _MODULES:
        value = _importlib.import_module(_MODULES[name])
    elif name in _WHERE:
        value = getattr(_importlib.import_module(_WHERE[name]), name)
    elif not name.startswith("_") and _importlib_util.find_spec(f"kafkabp.{name}") is not None:
        value = _importlib.import_module(f"kafkabp.{name}")  # a submodule (kafkabp.plots), as an eager import had it
    else:
        raise AttributeError(f"module 'kafkabp' has no attribute {name!r}")
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(k for k in globals() if k.startswith("__"))})


__all__ = [
    "BrokerError", "BrokerUnavailable", "BrokerInfo", "bootstrap", "client_config", "ensure_broker", "ensure_broker_info",
    "kafka_tool", "restart_broker", "stop_broker",
    "ClusterInfo", "NodeInfo", "cluster_info", "ensure_cluster", "pause_node", "resume_node", "start_node",
    "stop_cluster", "stop_node",
    "alter_topic_config", "committed_offsets", "create_topic", "delete_group", "delete_topic",
    "describe_group", "remove_client_quota", "set_client_quota", "topic_bytes", "topic_exists", "unique_name",
    "Buffer", "Burst", "Constant", "ConsumerGroup", "Processing", "Ramp", "RateProducer", "Step",
    "batch_handler", "cpu", "exponential", "fixed", "handler", "lognormal", "orders", "per_batch", "stop_all",
    "wait_for", "Ledger",
    "LagMonitor", "snapshot", "Status", "group_status", "partition_status",
    "drain_time", "group_capacity", "predicted_group_lag", "predicted_lag", "service_rate",
    "Experiment", "Result", "Summary", "run_experiment", "Producer", "Group", "Topic", "Observe", "dashboard", "explore", "AIMD", "Mitigation", "Sample",
    "Autoscaler", "keda",
    "broker_config", "time_lag_alerts", "LagExporter", "time_lag_rule",
    "ShareGroup", "ShareOptions", "AsyncGroup", "AsyncOptions", "aio_consumer_design", "pending_task_bytes", "probe_bounded",
    "alter_group_config", "describe_share_group_with_kafka_tool",
    "Measurement", "forget", "recall", "remember", "playground", "written",
    "replication", "ISRWatch", "group_not_on", "quorum_leader", "remove_replication_throttle", "replicas",
    "replicated_topic", "set_replication_throttle", "under_replicated_partitions",
    "Dependency", "Retries", "poison_payloads",
]

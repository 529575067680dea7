"""kafkabp: learn backpressure in Apache Kafka by measuring it on a real broker.

Data flows one way: broker -> workload -> lag monitor -> experiment result -> plots and widgets.
"""

from kafkabp.admin import (
    alter_topic_config,
    broker_config,
    committed_offsets,
    create_topic,
    delete_group,
    delete_topic,
    describe_group,
    remove_client_quota,
    set_client_quota,
    topic_bytes,
    topic_exists,
    unique_name,
)
from kafkabp.broker import (
    BrokerError,
    BrokerInfo,
    bootstrap,
    client_config,
    ensure_broker,
    ensure_broker_info,
    kafka_tool,
    restart_broker,
    stop_broker,
)
from kafkabp.cluster import (  # lesson 15: a local three-node cluster
    ClusterInfo, NodeInfo, cluster_info, ensure_cluster, pause_node, resume_node, start_node, stop_cluster, stop_node,
)
from kafkabp.experiment import Experiment, run_experiment
from kafkabp.outage import BrokerUnavailable
from kafkabp.ledger import Ledger
from kafkabp.mitigations import AIMD, Mitigation, Sample
from kafkabp.mitigations import Autoscaler, keda
from kafkabp.result import Result
from kafkabp.lag import LagMonitor, snapshot, time_lag_alerts
from kafkabp.model import drain_time, group_capacity, predicted_group_lag, predicted_lag, service_rate
from kafkabp.status import Status, group_status, partition_status
from kafkabp.widgets import dashboard
from kafkabp.workload import (
    Buffer,
    Burst,
    Constant,
    ConsumerGroup,
    Processing,
    Ramp,
    RateProducer,
    Step,
    batch_handler,
    cpu,
    exponential,
    fixed,
    handler,
    lognormal,
    per_batch,
    stop_all,
    wait_for,
)
from kafkabp.workload.records import orders
from kafkabp.admin import alter_group_config
from kafkabp.lag import describe_share_group_with_kafka_tool
from kafkabp.workload.share import ShareGroup, ShareOptions
from kafkabp.measurements import Measurement, forget, recall, remember  # lesson 14 reads what lessons store
from kafkabp.playground import playground  # lesson 13: every knob on one dashboard
from kafkabp import replication  # lesson 15: replicas, the ISR, replication throttles
from kafkabp.replication import (
    ISRWatch, group_not_on, quorum_leader, remove_replication_throttle, replicas, replicated_topic,
    set_replication_throttle, under_replicated_partitions,
)

__version__ = "0.1.0"

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
    "Experiment", "Result", "run_experiment", "dashboard", "AIMD", "Mitigation", "Sample",
    "Autoscaler", "keda",
    "broker_config", "time_lag_alerts",
    "ShareGroup", "ShareOptions", "alter_group_config", "describe_share_group_with_kafka_tool",
    "Measurement", "forget", "recall", "remember", "playground",
    "replication", "ISRWatch", "group_not_on", "quorum_leader", "remove_replication_throttle", "replicas",
    "replicated_topic", "set_replication_throttle", "under_replicated_partitions",
]

"""Compatibility: the names other kafkabp modules imported from ``kafkabp.broker`` before it was split into
:mod:`kafkabp.infra` (admin, lag, measurements, the workload modules and the Makefile still import from here).
New code imports from ``kafkabp.infra.*`` (or ``kafkabp``'s public names)."""

from kafkabp.infra.broker import (
    MODES, bootstrap, client_config, ensure_broker, ensure_broker_info, restart_broker, running_broker, stop_broker,
)
from kafkabp.infra.java import find_java, find_java_info, system_java
from kafkabp.infra.jars import kafka_libs
from kafkabp.infra.paths import KAFKA_VERSION, BrokerError, cache_dir, log, rdkafka_log, state_dir
from kafkabp.infra.ready import wait_until_ready, warm_group_coordinator
from kafkabp.infra.security import external_config, redact
from kafkabp.infra.target import BrokerInfo
from kafkabp.infra.tools import TOOLS, kafka_tool, tool_command

_rdkafka_log = rdkafka_log  # admin.py and workload/ import it under this name

__all__ = ["KAFKA_VERSION", "MODES", "TOOLS", "BrokerError", "BrokerInfo", "bootstrap", "cache_dir", "client_config",
           "ensure_broker", "ensure_broker_info", "external_config", "find_java", "find_java_info", "kafka_libs",
           "kafka_tool", "log", "rdkafka_log", "redact", "restart_broker", "running_broker", "state_dir",
           "stop_broker", "system_java", "tool_command", "wait_until_ready", "warm_group_coordinator"]

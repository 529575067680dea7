"""kafkabp: learn backpressure in Apache Kafka by measuring it on a real broker."""

from kafkabp.broker import (
    BrokerError,
    BrokerInfo,
    bootstrap,
    client_config,
    ensure_broker,
    ensure_broker_info,
    kafka_tool,
    stop_broker,
)

__version__ = "0.1.0"

__all__ = [
    "BrokerError",
    "BrokerInfo",
    "bootstrap",
    "client_config",
    "ensure_broker",
    "ensure_broker_info",
    "kafka_tool",
    "stop_broker",
]

"""A single Kafka broker in Docker (``apache/kafka``), started through testcontainers when a Docker engine answers."""

from __future__ import annotations

import os
import shutil
import subprocess

from kafkabp.infra.node import free_port
from kafkabp.infra.paths import KAFKA_VERSION, BrokerError
from kafkabp.infra.ready import START_TIMEOUT_S, wait_until_ready, warm_group_coordinator
from kafkabp.infra.target import BrokerInfo, write_state

DOCKER_IMAGE = f"apache/kafka:{KAFKA_VERSION}"


def available(timeout: float = 5.0) -> bool:
    """True when a Docker engine answers (the client alone is not enough)."""
    if not shutil.which("docker"):
        return False
    try:
        out = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                             capture_output=True, text=True, timeout=timeout)
    except (subprocess.TimeoutExpired, OSError):
        return False
    return out.returncode == 0 and bool(out.stdout.strip())


def start(port: int | None) -> BrokerInfo:
    """Start a broker container on 127.0.0.1:``port`` (a free port when None), wait until it answers, save it."""
    if not available():
        raise BrokerError("no Docker engine answers `docker info`. Start Docker, or use "
                          "KAFKABP_BROKER=local to run Kafka from its jars with Java.")
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # the broker outlives this process
    from testcontainers.core.container import DockerContainer

    port = port or free_port()
    container = (
        DockerContainer(DOCKER_IMAGE)
        .with_bind_ports(9092, port)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{port}")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT")
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
        .with_env("KAFKA_LOG_RETENTION_MS", "3600000")
        .with_env("KAFKA_LOG_RETENTION_BYTES", "268435456")
        .with_env("KAFKA_LOG_RETENTION_CHECK_INTERVAL_MS", "1000")  # as the local broker: lesson 10
    )
    container.start()
    cid = container.get_wrapped_container().id
    info = BrokerInfo(bootstrap=f"127.0.0.1:{port}", kind="docker", container=cid,
                      version=KAFKA_VERSION, started=True)
    try:
        wait_until_ready({"bootstrap.servers": info.bootstrap}, START_TIMEOUT_S)
    except BrokerError:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=60)
        raise
    warm_group_coordinator({"bootstrap.servers": info.bootstrap})
    write_state(info)
    return info


def running(cid: str) -> bool:
    """True while the container ``cid`` runs."""
    try:
        out = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", cid],
                             capture_output=True, text=True, timeout=10)
    except (subprocess.TimeoutExpired, OSError):
        return False
    return out.stdout.strip() == "true"


# --------------------------------------------------------------------------- public API


def remove(cid: str) -> None:
    """Remove the container ``cid`` (stopping it first)."""
    subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=60)

"""The local cluster (lesson 15): three brokers, one lost or frozen, acks=all, and no JVM left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient

import kafkabp
from kafkabp import cli
from kafkabp.infra import cluster, node, paths

pytestmark = pytest.mark.skipif(bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
                                reason="the local cluster runs beside kafkabp's own broker, not an external one")


def _partition(port: int, topic: str) -> tuple[int, set[int]]:
    """Leader and ISR of partition 0, asked of the broker at ``port`` (never a paused one: it would not answer)."""
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "logger": paths.rdkafka_log})
    p = admin.list_topics(topic=topic, timeout=10).topics[topic].partitions[0]
    return p.leader, set(p.isrs)


def _produce(topic: str, n: int) -> list[str]:
    """Write ``n`` records with acks=all and idempotence; the delivery errors."""
    errors: list[str] = []
    p = Producer({**kafkabp.client_config(), "acks": "all", "enable.idempotence": True, "linger.ms": 5,
                  "logger": paths.rdkafka_log})
    for i in range(n):
        p.produce(topic, str(i).encode(), on_delivery=lambda err, msg: errors.append(str(err)) if err else None)
    left = p.flush(60)
    return errors + [f"{left} not delivered within 60 s"] * bool(left)


def _end_offset(topic: str) -> int:
    from confluent_kafka import Consumer

    c = Consumer({**kafkabp.client_config(), "group.id": "kafkabp-test-cluster", "logger": paths.rdkafka_log})
    try:
        return int(c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1])
    finally:
        c.close()


def _ports() -> dict[int, int]:
    info = kafkabp.cluster_info()
    assert info is not None
    return {n.id: n.port for n in info.nodes}


@pytest.mark.parametrize("nodes", [0, 10, -1, "3", 2.0, True, None])
def test_bad_node_counts_fail_before_anything_starts(nodes: object, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKABP_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="nodes must be a whole number from 1 to 9"):
        kafkabp.ensure_cluster(nodes)  # type: ignore[arg-type]
    assert not (tmp_path / "cluster").exists()


def test_no_cluster_and_external_clusters_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKABP_HOME", str(tmp_path))
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert kafkabp.cluster_info() is None and kafkabp.stop_cluster() is False
    with pytest.raises(kafkabp.BrokerError, match=r"no local cluster is running: .*ensure_cluster\(3\)"):
        kafkabp.stop_node(1)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    with pytest.raises(kafkabp.BrokerError, match="only kafkabp's local cluster can be stopped"):
        kafkabp.pause_node(1)


def test_cli_refuses_a_bad_node_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["broker", "up", "--nodes", "12"])
    assert exc.value.code == 2 and "invalid choice: 12" in capsys.readouterr().err
    assert cli.main(["broker", "up", "--nodes", "3", "--port", "9092"]) == 2  # the cluster picks its own ports
    assert "--port and --mode are for the single broker" in capsys.readouterr().err


@pytest.mark.integration
def test_three_brokers_register(three_nodes: str) -> None:
    info = kafkabp.cluster_info()
    assert info is not None and info.bootstrap == three_nodes
    assert [(n.id, n.alive, n.paused) for n in info.nodes] == [(1, True, False), (2, True, False), (3, True, False)]
    assert kafkabp.client_config()["bootstrap.servers"] == three_nodes  # the current target
    md = AdminClient({"bootstrap.servers": three_nodes}).list_topics(timeout=10)
    assert sorted(md.brokers) == [1, 2, 3]
    assert kafkabp.ensure_cluster(3) == three_nodes  # reused, not started again


@pytest.mark.integration
def test_acks_all_survives_a_killed_broker(three_nodes: str) -> None:
    topic = kafkabp.create_topic(kafkabp.unique_name("cluster-kill"), 1, replication_factor=3,
                                 config={"min.insync.replicas": 2})
    ports = _ports()
    assert _produce(topic, 300) == []
    leader, isr = _partition(ports[1], topic)
    assert isr == {1, 2, 3}
    pid = next(n.pid for n in kafkabp.cluster_info().nodes if n.id == leader)  # type: ignore[union-attr]
    kafkabp.stop_node(leader, crash=True)  # SIGKILL the partition's leader
    assert pid is not None and not node.pid_alive(pid)
    assert _produce(topic, 300) == []  # a new leader takes over, two replicas left >= min.insync.replicas
    live = next(p for i, p in ports.items() if i != leader)
    assert kafkabp.wait_for(lambda: leader not in _partition(live, topic)[1], 30), _partition(live, topic)
    kafkabp.start_node(leader)
    assert kafkabp.wait_for(lambda: _partition(live, topic)[1] == {1, 2, 3}, 60), _partition(live, topic)
    assert _end_offset(topic) == 600  # every acknowledged record is there, none twice


@pytest.mark.integration
def test_a_paused_follower_leaves_the_isr_and_returns(three_nodes: str) -> None:
    topic = kafkabp.create_topic(kafkabp.unique_name("cluster-pause"), 1, replication_factor=3,
                                 config={"min.insync.replicas": 2})
    ports = _ports()
    assert _produce(topic, 100) == []
    leader, isr = _partition(ports[1], topic)
    assert kafkabp.wait_for(lambda: _partition(ports[leader], topic)[1] == {1, 2, 3}, 30)
    follower = next(i for i in (1, 2, 3) if i != leader)
    kafkabp.pause_node(follower)
    try:
        assert next(n for n in kafkabp.cluster_info().nodes if n.id == follower).paused  # type: ignore[union-attr]
        assert kafkabp.wait_for(lambda: follower not in _partition(ports[leader], topic)[1], 30)
        assert _produce(topic, 100) == []  # two in-sync replicas still take acks=all writes
    finally:
        kafkabp.resume_node(follower)
    assert kafkabp.wait_for(lambda: _partition(ports[leader], topic)[1] == {1, 2, 3}, 30)


@pytest.mark.integration
def test_wrong_node_and_state_are_refused(three_nodes: str) -> None:
    with pytest.raises(ValueError, match="one of the cluster's nodes 1, 2, 3, got 7"):
        kafkabp.stop_node(7)
    with pytest.raises(ValueError, match="got 0"):  # the controller is not the lesson's to stop
        kafkabp.pause_node(0)
    with pytest.raises(ValueError, match="got '2'"):
        kafkabp.start_node("2")  # type: ignore[arg-type]
    with pytest.raises(kafkabp.BrokerError, match=r"already running: stop it first"):
        kafkabp.start_node(2)
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        kafkabp.start_node(2, timeout=0)
    assert all(n.alive and not n.paused for n in kafkabp.cluster_info().nodes)  # type: ignore[union-attr]


@pytest.mark.integration
def test_an_external_cluster_too_small_is_named(kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)  # the single broker, seen as an external cluster
    with pytest.raises(kafkabp.BrokerError, match="has 1 broker.s., fewer than the 3 asked for"):
        kafkabp.ensure_cluster(3)


@pytest.mark.integration
def test_cli_status_and_down_leave_no_jvm(three_nodes: str, tmp_path: Path) -> None:
    """`kafkabp broker status` and `broker down` in another process, on this module's cluster (the last test here).
    That process has a state folder of its own whose cluster/ is this one's: `down` stops the single broker too,
    which must not be the session's."""
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "cluster").symlink_to(cluster._home())
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env["KAFKABP_HOME"] = str(tmp_path / "state")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kafkabp.cli", "broker", *args], capture_output=True,
                              text=True, timeout=120, env=env)

    info = kafkabp.cluster_info()
    assert info is not None and info.controller is not None
    pids = [n.pid for n in [*info.nodes, info.controller]]
    assert len(pids) == 4 and all(p and node.pid_alive(p) for p in pids)
    status = run("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert all(f"node {i} (broker)" in status.stdout for i in (1, 2, 3)) and "node 0 (controller)" in status.stdout
    down = run("down")
    assert down.returncode == 0 and "stopped the local cluster" in down.stdout, down.stdout + down.stderr
    assert not [p for p in pids if p and node.pid_alive(p)], "a JVM of the cluster still runs after `broker down`"
    assert kafkabp.cluster_info() is None and run("status").stdout.strip() == "down"

"""A local Kafka cluster on loopback, from the same jars as the single broker (lesson 15).

``ensure_cluster(3)`` starts (or reuses, across kernels and processes) brokers 1..3 and makes the cluster this
process's current target: ``client_config()``, ``create_topic``, ``kafka_tool``, experiments and producers all
talk to it, until ``kafkabp.ensure_broker()`` switches back to the single broker (every other lesson's default).
``stop_node`` / ``start_node`` stop (or crash) one broker and bring it back on its data and ports;
``pause_node`` / ``resume_node`` freeze one (SIGSTOP: up to the OS, silent to the cluster).

The layout: three brokers and one controller-only node (id 0, the whole KRaft quorum), four JVMs. It was
measured against three combined broker+controller nodes on a shared 2-core machine (load average 10-30), warm
(jars, storage template and class-data archive cached), 512 MB heap per node: start until every broker was
registered and the group coordinator answered, median 14.4 s separate vs 19.3 s combined (seven runs: 11-33 s
vs ten: 9-51 s; three combined voters first have to elect a leader, with 2-core JVMs slow to answer); resident
memory after start 1.09 GB vs 0.96 GB (sum of RSS); ``broker down`` 2 s vs 8 s. Separate starts faster, fits a
24 GB laptop with room to spare, and lets a lesson stop or freeze any broker without touching the quorum:
what the learner sees is replication alone, never a controller election.

Lab settings: internal topics have min(3, nodes) replicas (min.insync.replicas min(2, replicas));
``replica.lag.time.max.ms`` is 5 s (Kafka's default 30 s), so a follower that stops fetching leaves the ISR
within a lesson; a crashed or paused broker is fenced after 4 s (``broker.session.timeout.ms``, Kafka's
default 9 s): its partitions get a new leader and it leaves every ISR. New topics keep one replica unless they
ask (``create_topic(..., replication_factor=3)``). Each node runs with ``KAFKABP_BROKER_HEAP`` (default 512m)
like the single broker: about 1.1 GB resident for the four JVMs, 1.2 GB after 200,000 acks=all writes. Its
state lives in ``state_dir()/cluster/``; ``kafkabp broker down`` stops it with the single broker.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafkabp.infra import node as proc  # `node` names a node's state dict here
from kafkabp.infra.jars import kafka_libs
from kafkabp.infra.java import find_java_info
from kafkabp.infra.paths import KAFKA_VERSION, BrokerError, rdkafka_log, state_dir, state_lock
from kafkabp.infra.ready import EXTERNAL_TIMEOUT_S, START_TIMEOUT_S, wait_until_ready, warm_group_coordinator
from kafkabp.infra.security import external_config
from kafkabp.infra.target import TARGET, BrokerInfo

MAX_NODES = 9
REPLICA_LAG_MS = 5000
SESSION_MS = 4000
CONTROLLER = 0  # the node id of the KRaft controller; brokers are 1..N


@dataclass(frozen=True)
class NodeInfo:
    """One node of the local cluster: its id, client port, JVM pid, and whether it runs (and is frozen)."""

    id: int
    port: int
    pid: int | None
    alive: bool
    paused: bool = False


@dataclass(frozen=True)
class ClusterInfo:
    """The local cluster: its bootstrap address, its brokers, and its controller (node 0)."""

    bootstrap: str
    nodes: list[NodeInfo]
    controller: NodeInfo | None = None


# --------------------------------------------------------------------------- state


def _home() -> Path:
    return state_dir() / "cluster"


def _node_home(node_id: int) -> Path:
    return _home() / f"node-{node_id}"


def _read() -> dict[str, Any] | None:
    try:
        state = json.loads((_home() / "cluster.json").read_text())
        return state if isinstance(state.get("nodes"), list) else None
    except (OSError, ValueError, AttributeError):
        return None


def _write(state: dict[str, Any]) -> None:
    (_home() / "cluster.json").write_text(json.dumps(state, indent=2))


def _brokers(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in state["nodes"] if n["id"] != CONTROLLER]


def _bootstrap(state: dict[str, Any]) -> str:
    return ",".join(f"127.0.0.1:{n['port']}" for n in _brokers(state))


def _alive(node: dict[str, Any]) -> bool:
    """True while the node's JVM runs (see :func:`kafkabp.infra.node.alive`)."""
    return proc.alive(node.get("pid"))


def _paused(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return re.search(r"^State:\s+T", Path(f"/proc/{pid}/status").read_text(), re.M) is not None
    return False


def _external() -> bool:
    mode = (os.environ.get("KAFKABP_BROKER") or "auto").lower()
    return mode == "external" or (mode == "auto" and bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")))


def _check_nodes(nodes: object) -> int:
    if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= MAX_NODES:
        raise ValueError(f"nodes must be a whole number from 1 to {MAX_NODES}, got {nodes!r}: "
                         "e.g. kafkabp.ensure_cluster(3)")
    return nodes


def _local_state() -> dict[str, Any]:
    """The local cluster's state, or a clear error: there is none, or the target is an external cluster."""
    if _external():
        raise BrokerError("only kafkabp's local cluster can be stopped, started or paused: KAFKA_BOOTSTRAP_SERVERS "
                          "names an external cluster (unset it, then kafkabp.ensure_cluster(3))")
    state = _read()
    if state is None:
        raise BrokerError("no local cluster is running: start one with kafkabp.ensure_cluster(3) "
                          "(or `kafkabp broker up --nodes 3`)")
    return state


def _node(state: dict[str, Any], node_id: object) -> dict[str, Any]:
    """The local cluster's broker ``node_id``, or a clear error before anything happens."""
    ids = [n["id"] for n in _brokers(state)]
    for n in _brokers(state):
        if not isinstance(node_id, bool) and node_id == n["id"]:
            return n
    raise ValueError(f"node_id must be one of the cluster's nodes {', '.join(map(str, ids))}, got {node_id!r}")


# --------------------------------------------------------------------------- starting nodes


def _layout(nodes: int) -> list[dict[str, Any]]:
    """The controller (node 0) and brokers 1..N, each on a free port of its own."""
    ports: set[int] = set()
    while len(ports) < nodes + 1:
        ports.add(proc.free_listen_port())
    return [{"id": i, "port": port, "pid": None} for i, port in enumerate(sorted(ports))]


def _properties(node: dict[str, Any], state: dict[str, Any]) -> str:
    """The single node's settings (:func:`kafkabp.infra.node.server_properties`), then this node's role and the
    cluster's replication settings (in a .properties file the later line wins)."""
    controller = state["nodes"][0]
    role, listener = ("controller", "CONTROLLER") if node["id"] == CONTROLLER else ("broker", "PLAINTEXT")
    replicas = min(3, len(_brokers(state)))
    data = _node_home(node["id"]) / "data"
    return proc.server_properties(node["port"], controller["port"], data) + f"""
# kafkabp's local cluster: node {node['id']}, a {role} (these lines override the ones above)
process.roles={role}
node.id={node['id']}
controller.quorum.voters={CONTROLLER}@127.0.0.1:{controller['port']}
listeners={listener}://127.0.0.1:{node['port']}
advertised.listeners={listener}://127.0.0.1:{node['port']}
offsets.topic.replication.factor={replicas}
transaction.state.log.replication.factor={replicas}
transaction.state.log.min.isr={min(2, replicas)}
share.coordinator.state.topic.replication.factor={replicas}
share.coordinator.state.topic.min.isr={min(2, replicas)}
# A follower that has not caught up for 5 s leaves the ISR (Kafka's default: 30 s), within a lesson.
replica.lag.time.max.ms={REPLICA_LAG_MS}
# A broker silent for 4 s is fenced (Kafka's default: 9 s; the single broker's 2 s fenced live brokers of a
# cluster on a loaded 2-core machine): its partitions get a new leader, it leaves every ISR.
broker.session.timeout.ms={SESSION_MS}
"""


def _format(node: dict[str, Any], template: Path) -> None:
    """A copy of the formatted storage template (:func:`kafkabp.infra.node.storage_template`), given this node's id and a directory id of its own."""
    data = _node_home(node["id"]) / "data"
    shutil.copytree(template, data)
    meta = data / "meta.properties"
    directory = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    text = re.sub(r"^node\.id=.*$", f"node.id={node['id']}", meta.read_text(), flags=re.M)
    meta.write_text(re.sub(r"^directory\.id=.*$", f"directory.id={directory}", text, flags=re.M))


def _spawn(nodes: list[dict[str, Any]]) -> None:
    java = find_java_info()
    classpath = proc.jar_classpath(kafka_libs())
    for node in nodes:
        node["pid"] = proc.spawn(java, classpath, _node_home(node["id"])).pid


def _wait(nodes: list[dict[str, Any]], ports: list[int], timeout: float) -> None:
    """Return once the brokers at ``ports`` list every broker of ``nodes`` (registered and unfenced)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": ",".join(f"127.0.0.1:{p}" for p in ports),
                         "logger": rdkafka_log, "socket.connection.setup.timeout.ms": 5000})
    wanted = {n["id"] for n in nodes if n["id"] != CONTROLLER}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for n in nodes:
            if not _alive(n):
                raise BrokerError(f"node {n['id']} of the local cluster exited during start. Last lines of its "
                                  f"log:\n{proc.log_tail(home=_node_home(n['id']))}")
        if not all(proc.listening(n["port"]) for n in nodes):  # a listener opens last: watch for it cheaply
            time.sleep(0.05)
            continue
        try:
            md = admin.list_topics(timeout=min(2.0, max(0.1, deadline - time.monotonic())))
            if wanted <= set(md.brokers):
                return
        except KafkaException:
            pass
        time.sleep(0.2)
    raise BrokerError(f"the local cluster's node(s) {sorted(wanted)} did not register within {timeout:.0f} s. "
                      f"Last lines of node {min(wanted)}'s log:\n{proc.log_tail(home=_node_home(min(wanted)))}")


def _start_fresh(nodes: int) -> dict[str, Any]:
    java = find_java_info()
    template = proc.storage_template(java.path, proc.jar_classpath(kafka_libs(verify=True)))
    shutil.rmtree(_home(), ignore_errors=True)  # a fresh cluster each start: lessons need no history
    state: dict[str, Any] = {"nodes": _layout(nodes)}
    for node in state["nodes"]:
        _format(node, template)
        (_node_home(node["id"]) / "server.properties").write_text(_properties(node, state))
    _spawn(state["nodes"])
    _write(state)
    try:
        _wait(state["nodes"], [n["port"] for n in _brokers(state)], START_TIMEOUT_S)
    except BrokerError:
        _stop_all(state)
        raise
    warm_group_coordinator({"bootstrap.servers": _bootstrap(state)})
    return state


def _stop_all(state: dict[str, Any], timeout: float = 30.0) -> bool:
    """Stop every node (a clean shutdown, SIGKILL after ``timeout``): the brokers at once, then a controller-only
    node (a broker's clean shutdown needs the controller). True if one was running."""
    running = [n for n in state["nodes"] if _alive(n)]
    deadline = time.monotonic() + timeout
    for group in ([n for n in running if n["id"] != CONTROLLER], [n for n in running if n["id"] == CONTROLLER]):
        for n in group:
            with contextlib.suppress(ProcessLookupError):
                os.kill(n["pid"], signal.SIGCONT)
                os.kill(n["pid"], signal.SIGTERM)
        for n in group:
            proc.kill(n["pid"], timeout=max(0.0, deadline - time.monotonic()))
    with contextlib.suppress(FileNotFoundError):
        (_home() / "cluster.json").unlink()
    return bool(running)


# --------------------------------------------------------------------------- public API


def ensure_cluster(nodes: int = 3) -> str:
    """Start (or reuse) a local cluster of ``nodes`` nodes, make it the current target, return its bootstrap.

    A reused cluster gets its stopped nodes started and its paused nodes resumed. With KAFKA_BOOTSTRAP_SERVERS
    set, that cluster is used if it has at least ``nodes`` brokers.
    """
    nodes = _check_nodes(nodes)
    if _external():
        conf = external_config()
        wait_until_ready(conf, EXTERNAL_TIMEOUT_S)
        from confluent_kafka.admin import AdminClient

        md = AdminClient({**conf, "logger": rdkafka_log}).list_topics(timeout=EXTERNAL_TIMEOUT_S)
        if len(md.brokers) < nodes:
            raise BrokerError(f"the cluster at KAFKA_BOOTSTRAP_SERVERS={conf['bootstrap.servers']} has "
                              f"{len(md.brokers)} broker(s), fewer than the {nodes} asked for: point it at a "
                              "bigger cluster, or unset it to let kafkabp start a local one")
        TARGET.set(BrokerInfo(bootstrap=conf["bootstrap.servers"], kind="external",
                              config={k: v for k, v in conf.items() if k != "bootstrap.servers"}))
        return conf["bootstrap.servers"]
    with state_lock():
        state = _read()
        if state and len(_brokers(state)) == nodes and any(_alive(n) for n in state["nodes"]):
            for n in state["nodes"]:
                if _alive(n):
                    os.kill(n["pid"], signal.SIGCONT)
            dead = [n for n in state["nodes"] if not _alive(n)]
            if dead:
                _spawn(dead)
                _write(state)
            _wait(state["nodes"], [n["port"] for n in _brokers(state)], START_TIMEOUT_S)
        else:
            if state:
                _stop_all(state)
            state = _start_fresh(nodes)
        return TARGET.set(BrokerInfo(bootstrap=_bootstrap(state), kind="cluster", version=KAFKA_VERSION)).bootstrap


def cluster_info() -> ClusterInfo | None:
    """The local cluster's nodes (None when kafkabp has not started one)."""
    state = _read()
    if state is None:
        return None
    nodes = [NodeInfo(n["id"], n["port"], n["pid"], _alive(n), _alive(n) and _paused(n["pid"]))
             for n in state["nodes"]]
    return ClusterInfo(_bootstrap(state), nodes[1:], nodes[0])


def stop_node(node_id: int, *, crash: bool = False) -> None:
    """Stop one node: cleanly (SIGTERM: it hands its partitions' leadership over first), or ``crash`` (SIGKILL).
    Returns when its JVM is gone; the node keeps its data and ports for :func:`start_node`."""
    with state_lock():
        node = _node(_local_state(), node_id)
        if not _alive(node):
            raise BrokerError(f"node {node_id} is already stopped: start it with kafkabp.start_node({node_id})")
        if crash:
            proc.kill(node["pid"], sig=signal.SIGKILL)
        else:
            os.kill(node["pid"], signal.SIGCONT)  # a paused JVM would not act on SIGTERM
            proc.kill(node["pid"])
        deadline = time.monotonic() + 10  # _kill returns once /proc stops naming Kafka: the exit may not be over
        while _alive(node) and time.monotonic() < deadline:
            time.sleep(0.02)


def start_node(node_id: int, timeout: float = 60) -> None:
    """Start a stopped node again on its data and ports; returns when it is registered (listed) again."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    with state_lock():
        state = _local_state()
        node = _node(state, node_id)
        if _alive(node):
            raise BrokerError(f"node {node_id} is already running: stop it first with kafkabp.stop_node({node_id})")
        _spawn([node])
        _write(state)
        _wait([node], [node["port"]], timeout)


def pause_node(node_id: int) -> None:
    """Freeze one node (SIGSTOP): its process stays up, but it answers nobody and fetches nothing.
    Returns once the process is stopped; pausing a paused node does nothing."""
    _signal(node_id, signal.SIGSTOP)


def resume_node(node_id: int) -> None:
    """Let a paused node run again (SIGCONT); resuming a running node does nothing."""
    _signal(node_id, signal.SIGCONT)


def _signal(node_id: int, sig: int, timeout: float = 5.0) -> None:
    with state_lock():
        node = _node(_local_state(), node_id)
        if not _alive(node):
            raise BrokerError(f"node {node_id} is stopped: start it with kafkabp.start_node({node_id})")
        os.kill(node["pid"], sig)
        deadline = time.monotonic() + timeout  # the signal is delivered asynchronously
        while _paused(node["pid"]) != (sig == signal.SIGSTOP) and time.monotonic() < deadline:
            time.sleep(0.01)


def stop_cluster() -> bool:
    """Stop every node of the local cluster; True if one was running. The process falls back to the single
    broker (started again when a client next needs it)."""
    with state_lock():
        state = _read()
        TARGET.clear(kind="cluster")
        return _stop_all(state) if state else False

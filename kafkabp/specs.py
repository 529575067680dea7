"""What an experiment runs, in four small frozen parts: the producer, the consumer group, the topic and how it is
watched.

``Experiment`` takes the everyday knobs flat (``rate``, ``consumers``, ``processing``, ``partitions``, ``label``,
``mitigations``) and the rest as these specs, each with a flat librdkafka ``config`` dict where the client has
one, as confluent-kafka does::

    base = Producer(message_size=1_000, keys="hot", config={"linger.ms": 20})
    run_experiment(rate=2_000, consumers=2, producer=base, group=Group(protocol="consumer"))
    run_experiment(rate=2_000, consumers=2, producer=base.replace(keys=None))

A spec checks itself when it is made (a clear error naming the field and the fix) and never changes:
``.replace(**changes)`` gives a new one. This module imports nothing heavy; what a check needs (a Buffer, a share
group's options, Kafka's topic-name rules) is imported only when that field is set.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence, TypeVar

MAX_PARTITIONS = 1_000  # a lab topic; creating thousands of partitions on a laptop broker takes minutes
MAX_MESSAGE_SIZE = 1_000_000 - 100  # librdkafka's message.max.bytes (1,000,000) less the record's own overhead
PROTOCOLS = ("classic", "consumer", "share")
# With group.protocol=consumer (KIP-848) the broker runs the group, and librdkafka 2.16 refuses the classic
# protocol's client-side group settings when the consumer is created (KafkaError _INVALID_ARG), e.g.
#   "Failed to create consumer: `session.timeout.ms` is not supported for `group.protocol=consumer` or share
#    consumer. It is defined broker side"
#   "Failed to create consumer: `partition.assignment.strategy` is not supported for `group.protocol=consumer`.
#    Use `group.remote.assignor` instead"
# Each with what to set instead, and where (tests/test_specs.py checks librdkafka still refuses each one).
KIP848_REFUSED = {
    "session.timeout.ms": "the broker's group.consumer.session.timeout.ms (server.properties), or for one group "
                          "kafkabp.alter_group_config(group, {'consumer.session.timeout.ms': 10_000})",
    "heartbeat.interval.ms": "the broker's group.consumer.heartbeat.interval.ms (server.properties), or for one "
                             "group kafkabp.alter_group_config(group, {'consumer.heartbeat.interval.ms': 2_000})",
    "partition.assignment.strategy": "the client's group.remote.assignor ('uniform' or 'range', one of the "
                                     "broker's group.consumer.assignors), or leave it to the broker",
    "group.protocol.type": "nothing: the consumer protocol has no protocol type to set",
}

S = TypeVar("S", bound="_Spec")


class Config(Mapping[str, Any]):
    """A read-only dict of librdkafka settings (``{"linger.ms": 5}``): a spec's ``config``, hashable as it is."""

    __slots__ = ("_settings",)

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self._settings = dict(settings or {})

    def __getitem__(self, name: str) -> Any:
        return self._settings[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._settings)

    def __len__(self) -> int:
        return len(self._settings)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._settings.items())))

    def __repr__(self) -> str:
        return repr(self._settings)


def whole(name: str, value: Any, low: int, high: float = math.inf, hint: str = "") -> None:
    """Refuse ``value`` unless it is a whole number (not a bool) from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        bound = f">= {low:,}" if math.isinf(high) else f"from {low:,} to {high:,}"
        raise ValueError(f"{name} must be a whole number {bound}, got {value!r}{hint}")


def _config(owner: str, value: Any, example: str) -> Config:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"{owner}(config=...) must be a dict of settings with librdkafka's names, e.g. "
                        f"{owner}(config={example}), got {value!r}")
    return Config(value)


class _Spec:
    """replace() and a short repr (only the fields that differ from their defaults) for every spec."""

    def replace(self: S, **changes: Any) -> S:
        """A copy with ``changes`` (checked again): ``spec.replace(message_size=1_000)``."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if value != default:
                shown.append(f"{f.name}=<{len(value):,} payloads>" if f.name == "payloads" else f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


# librdkafka settings that decide whether a producer may be idempotent (acks=all, <= 5 in flight, retries > 0)
ORDER_KNOBS = {"acks", "request.required.acks", "enable.idempotence", "max.in.flight.requests.per.connection",
               "max.in.flight", "retries", "message.send.max.retries"}


@dataclass(frozen=True, repr=False)
class Producer(_Spec):
    """What the producer writes and how: message size, keys, payloads, a source's demand, librdkafka settings.

    ``keys``: None (no key), ``"uniform"`` (``key_count`` keys in turn) or ``"hot"`` (``hot_fraction`` of the messages
    with one key). ``payloads``: the values to send in turn (e.g. ``kafkabp.orders(1000)``). ``demand``: what the
    source offers (a rate or profile) when ``rate`` is only the limit; ``source_buffer``: messages the source holds
    back at most (None: unbounded); ``on_buffer_full``: "block" or "drop" when the client's queue is full.
    ``backlog``: messages written at full speed before the group starts. ``config``: librdkafka producer settings.
    """

    message_size: int = 100
    keys: str | None = None
    hot_fraction: float = 0.5
    key_count: int = 1000
    payloads: Sequence[bytes] | None = None
    demand: Any = None  # a Rate: msg/s, a profile, or None
    source_buffer: int | None = None
    on_buffer_full: str = "block"
    backlog: int = 0
    config: Mapping[str, Any] = field(default_factory=Config)

    def __post_init__(self) -> None:
        config = _config("Producer", self.config, "{'linger.ms': 5}")
        object.__setattr__(self, "config", config)
        whole("message_size", self.message_size, 0, MAX_MESSAGE_SIZE if "message.max.bytes" not in config else math.inf,
              " bytes; above about 1 MB also raise message.max.bytes in Producer(config=...) and max.message.bytes "
              "in Topic(config=...)")
        if self.keys not in (None, "uniform", "hot"):
            raise ValueError(f"keys must be None, 'uniform' or 'hot', got {self.keys!r}")
        if isinstance(self.hot_fraction, bool) or not isinstance(self.hot_fraction, (int, float)) \
                or not 0 <= self.hot_fraction <= 1:
            raise ValueError(f"hot_fraction must be between 0 and 1 (the hot key's share), got {self.hot_fraction!r}")
        whole("key_count", self.key_count, 1, 1_000_000, " (how many keys the producer uses in turn)")
        if self.payloads is not None:
            if isinstance(self.payloads, (bytes, str)) or not self.payloads \
                    or not all(isinstance(v, bytes) for v in self.payloads):
                raise ValueError("payloads must be a non-empty list of bytes (e.g. kafkabp.orders(1000)), "
                                 f"got {type(self.payloads).__name__} of {len(self.payloads)}")
            object.__setattr__(self, "payloads", tuple(self.payloads))
        if self.demand is not None:
            from kafkabp.workload.rates import as_profile

            as_profile(self.demand)
        if self.source_buffer is not None:
            whole("source_buffer", self.source_buffer, 0, hint=" messages (or None: unbounded)")
        if self.on_buffer_full not in ("block", "drop"):
            raise ValueError(f"on_buffer_full must be 'block' (poll and retry) or 'drop' (count and shed), "
                             f"got {self.on_buffer_full!r}")
        whole("backlog", self.backlog, 0, hint=" messages")

    def backlog_config(self) -> dict[str, Any]:
        """The librdkafka settings of the writer of the ``backlog``: ``config``, made idempotent unless it decides
        acknowledgements or retries itself. A batch retried after a request timed out (a loaded machine) then cannot
        land after later batches or twice, so per-key order holds in the log (lessons 04, 16 and 17 count it).
        Without keys, librdkafka's sticky partitioner fills one partition for 10 ms at a time: at full speed that is
        most of the backlog on one partition, so the writer switches partition with every batch instead."""
        return {**({} if ORDER_KNOBS & set(self.config) else {"enable.idempotence": True}), **self.config,
                "sticky.partitioning.linger.ms": 0}


@dataclass(frozen=True, repr=False)
class Group(_Spec):
    """How the group consumes: protocol, batch size, threads and buffer inside each consumer, librdkafka settings.

    ``protocol``: "classic", "consumer" (KIP-848) or "share" (a share group, KIP-932, with ``share`` =
    ``kafkabp.ShareOptions(...)``). ``static``: static membership (KIP-345), member slot i has the stable
    ``group.instance.id`` "<group>-i", so a member restarted within the session timeout gets its partitions back
    without a rebalance. ``parallel``: key-ordered threads inside each consumer; ``buffer``: a
    ``kafkabp.Buffer`` between poll loop and processing; ``commit_while_busy``: re-commit while stuck on a message
    (Burrow's STALL, not STOP). ``aio``: asyncio members instead of threads (``kafkabp.AsyncOptions(limit=64)``:
    confluent-kafka's AIOConsumer and a task per message, at most ``limit`` at once; lesson 17). ``retries``: what to
    do when the handler raises, a ``kafkabp.Retries`` (lesson 16). ``name``: the group id (None: a fresh one).
    ``config``: librdkafka consumer settings.
    """

    protocol: str = "classic"
    batch_size: int = 500
    parallel: int = 1
    buffer: Any = None  # a kafkabp.Buffer or None
    commit_while_busy: bool = False
    share: Any = None  # a kafkabp.ShareOptions, only with protocol="share"
    name: str | None = None
    static: bool = False
    aio: Any = None  # a kafkabp.AsyncOptions or None
    retries: Any = None  # a kafkabp.Retries or None
    config: Mapping[str, Any] = field(default_factory=Config)

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", _config("Group", self.config, "{'fetch.min.bytes': 1}"))
        check_kip848(self.protocol, self.config)
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be 'classic' or 'consumer' (KIP-848), or 'share' (a share group, "
                             f"KIP-932), got {self.protocol!r}")
        whole("batch_size", self.batch_size, 1, hint=" messages per poll")
        whole("parallel", self.parallel, 1, hint=" threads per consumer (1: off)")
        if self.buffer is not None:
            from kafkabp.workload.flow import Buffer

            if not isinstance(self.buffer, Buffer):
                raise TypeError(f"buffer must be a kafkabp.Buffer (e.g. Buffer(1_000, when_full='pause')) or None, "
                                f"got {self.buffer!r}")
        if not isinstance(self.commit_while_busy, bool):
            raise TypeError(f"commit_while_busy must be True or False, got {self.commit_while_busy!r}")
        if self.protocol == "share" and (self.parallel != 1 or self.commit_while_busy or self.buffer is not None):
            raise ValueError("a share group takes neither parallel > 1 (it already spreads records over its members), "
                             "nor commit_while_busy (it commits no offsets), nor a buffer: leave them out")
        if self.share is not None:
            if self.protocol != "share":
                raise ValueError(f"share options apply to protocol='share' (a share group), not {self.protocol!r}: "
                                 "give Group(protocol='share', share=...)")
            from kafkabp.workload.share_acks import ShareOptions

            if not isinstance(self.share, ShareOptions):
                raise TypeError(f"share must be a kafkabp.ShareOptions(...) or None, got {self.share!r}")
        if self.name is not None and (not isinstance(self.name, str) or not self.name.strip()):
            raise ValueError(f"Group(name=...) is the group id: a non-empty string (or None for a fresh one), "
                             f"got {self.name!r}")
        if not isinstance(self.static, bool):
            raise TypeError(f"static must be True (static membership: a group.instance.id per member) or False, "
                            f"got {self.static!r}")
        if "group.instance.id" in self.config:
            raise ValueError("Group(config=...) cannot set group.instance.id: every member needs its own (two members "
                             "with one id fence each other out). Give Group(static=True): member i gets '<group>-i'")
        kinds = (("aio", "kafkabp.workload.aio", "AsyncOptions", "AsyncOptions(limit=64)", "aio= makes asyncio "
                  "members of a classic or KIP-848 group, bounded by AsyncOptions(limit=...)"),
                 ("retries", "kafkabp.workload.retry", "Retries", "Retries('topics')", "a group with retries handles "
                  "one message at a time with the classic or consumer protocol"))
        for field_name, module, kind, example, what in kinds:  # the two other kinds of member (lessons 17 and 16)
            value = getattr(self, field_name)
            if value is None:
                continue
            if not isinstance(value, getattr(importlib.import_module(module), kind)):  # imported only when used
                raise TypeError(f"{field_name} must be a kafkabp.{kind}(...) (e.g. {example}) or None, got {value!r}")
            if self.protocol == "share" or self.parallel != 1 or self.buffer is not None:
                raise ValueError(f"{what}: leave out protocol='share', parallel and buffer")
        if self.aio is not None and self.retries is not None:
            raise ValueError("aio= and retries= are two kinds of member: give one of them")
        if self.static and self.protocol == "share":
            raise ValueError("a share group has no static membership (KIP-932 members take no group.instance.id): "
                             "leave static out, or use protocol='classic' or 'consumer'")


def check_kip848(protocol: str, config: Mapping[str, Any]) -> None:
    """Refuse, before any client starts, the client-side group settings a KIP-848 consumer does not take (librdkafka
    would refuse them when each member starts), naming each and what to set instead."""
    if protocol != "consumer" and config.get("group.protocol") != "consumer":
        return
    refused = [k for k in KIP848_REFUSED if k in config]
    if refused:
        fixes = "; ".join(f"instead of {k}: {KIP848_REFUSED[k]}" for k in refused)
        raise ValueError(f"Group(protocol='consumer') (KIP-848) cannot take {', '.join(refused)} in Group(config=...): "
                         f"with the consumer protocol the broker runs the group and owns these settings, and "
                         f"librdkafka refuses them. Remove them from config; {fixes}")


@dataclass(frozen=True, repr=False)
class Topic(_Spec):
    """The topic: its ``name`` (None: a fresh one), topic ``config`` (``{"retention.ms": 60_000}``) and whether to
    ``keep`` it and the group after the run (None: keep them when a name was given, delete fresh ones)."""

    name: str | None = None
    config: Mapping[str, Any] = field(default_factory=Config)
    keep: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", _config("Topic", self.config, "{'retention.ms': 60_000}"))
        if self.name is not None:
            from kafkabp.admin import check_topic_name

            check_topic_name(self.name)
        if self.keep is not None and not isinstance(self.keep, bool):
            raise TypeError(f"keep must be True, False or None (keep a named topic, delete a fresh one), "
                            f"got {self.keep!r}")


@dataclass(frozen=True, repr=False)
class Observe(_Spec):
    """How the run is watched: a lag sample every ``sample_interval`` s, Burrow's status over ``status_window``
    samples, librdkafka statistics every ``stats_interval_ms`` (0: none)."""

    sample_interval: float = 0.5
    status_window: int = 10
    stats_interval_ms: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.sample_interval, bool) or not isinstance(self.sample_interval, (int, float)) \
                or not 0 < self.sample_interval < math.inf:
            raise ValueError(f"sample_interval must be a number of seconds > 0 (e.g. 0.5), "
                             f"got {self.sample_interval!r}")
        whole("status_window", self.status_window, 2, hint=" samples (Burrow's rules compare at least two)")
        whole("stats_interval_ms", self.stats_interval_ms, 0, hint=" (0: no librdkafka statistics)")


def check_duration(seconds: Any, name: str = "duration") -> None:
    """Refuse a run time that is not a finite number of seconds >= 0."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < math.inf:
        raise ValueError(f"{name} must be a finite number of seconds >= 0 (e.g. 20), got {seconds!r}")


def check_experiment(*, partitions: Any, label: Any, processing: Any, mitigations: Any,
                     specs: Mapping[str, tuple[Any, type]]) -> None:
    """One clear error, naming the fix, for each of an experiment's own arguments it cannot run with (the specs
    checked themselves when they were made)."""
    from kafkabp.workload.processing import Processing

    whole("partitions", partitions, 1, MAX_PARTITIONS, " (a lab topic: lessons use 1-16)")
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label must be a string (or None), got {label!r}")
    if processing is not None and not isinstance(processing, Processing):
        raise TypeError(f"processing must be a processing model such as kafkabp.fixed(0.001), got {processing!r}")
    for name, (spec, kind) in specs.items():
        if not isinstance(spec, kind):
            raise TypeError(f"{name} must be a kafkabp.{kind.__name__}(...), e.g. {name}=kafkabp.{kind.__name__}(), "
                            f"got {spec!r}")
    if callable(getattr(mitigations, "on_sample", None)):
        raise TypeError(f"mitigations takes a list: mitigations=[{type(mitigations).__name__}(...)]")
    for m in mitigations:
        if not (callable(getattr(m, "on_sample", None)) and callable(getattr(m, "on_start", None))):
            raise TypeError(f"a mitigation needs on_start(experiment) and on_sample(experiment, sample), got {m!r}")


__all__ = ["Config", "Group", "KIP848_REFUSED", "check_kip848", "MAX_MESSAGE_SIZE", "MAX_PARTITIONS", "Observe", "Producer", "Topic", "check_duration",
           "check_experiment"]

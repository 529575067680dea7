"""KEDA's Kafka scaler and the Kubernetes HPA step that turns its metric into replicas, as pure functions (lesson 11).

Ported from today's code, not from the docs:

- **KEDA** ``pkg/scalers/kafka_scaler.go`` (with ``kafka_scaler_test.go``) of kedacore/keda at commit
  ``8b4f083ca8c8c2baf8477e322bd4d16ac4dfa09a`` (2026-08-20, "General: Keep cached metric records of healthy
  triggers on scaler errors (#8073)"): ``getLagForPartition``, ``getTotalLag``,
  ``getNextFactorThatBalancesConsumersToTopicPartitions``, ``FindFactors``, ``parsePartitionLimitation``,
  ``kafkaMetadata.Validate`` and ``GetMetricsAndActivity``; and ``pkg/scaling/executor/scale_scaledobjects.go``
  (``RequestScale``: activation from zero and scale to zero after ``cooldownPeriod``) at the same commit.
- **Kubernetes HPA**, kubernetes/kubernetes ``pkg/controller/podautoscaler``: ``replica_calculator.go``
  ``GetExternalPerPodMetricReplicas`` (an External metric with an ``AverageValue`` target, which is what KEDA
  creates), and ``horizontal.go`` ``stabilizeRecommendationWithBehaviors`` and
  ``calculateScaleUpLimitWithScalingRules`` with the API's default behavior. The algorithm is described at
  https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#algorithm-details.

What happens every ``pollingInterval`` (KEDA) / HPA sync period (15 s), in this module's terms:

1. :func:`partition_lag` per partition: log end offset − committed offset, with KEDA's rules for a partition the
   group never committed (``offsetResetPolicy``, ``scaleToZeroOnInvalidOffset``) and for a partition whose
   committed offset did not move since the last poll (``excludePersistentLag``).
2. :func:`scaler_metric`: the sum over the partitions, capped so that the HPA asks for no more replicas than
   partitions (or partitions with lag), unless ``allowIdleConsumers``; rounded to a factor of the partition count
   with ``ensureEvenDistributionOfPartitions``; and ``active`` when the uncapped total exceeds
   ``activationLagThreshold``.
3. :func:`keda_executor`: KEDA itself only scales between 0 and ``minReplicaCount`` (or 1): up when active, down to
   0 after ``cooldownPeriod`` without activity (only when ``minReplicaCount`` is 0).
4. :class:`HPA`: everything else. ``desired = ceil(metric / lagThreshold)`` unless the ratio is within the
   10 % tolerance, then the stabilization windows (scale-down: the highest recommendation of the last 300 s),
   the default scale-up policy (at most +4 pods or +100 % per 15 s) and min/max replicas.

Three things the code does that the docs do not say, each with a test in tests/test_keda.py:

- The partition cap compares with **integer division**: ``if totalLag / lagThreshold > partitions`` in Go
  truncates, so a total of up to ``(partitions + 1) × lagThreshold − 1`` passes uncapped, and the HPA's
  ``ceil`` then asks for ``partitions + 1`` replicas. The cap holds exactly only once the lag is well past it.
- With ``offsetResetPolicy: earliest`` a partition never committed counts its **log end offset** as lag, not
  log end − log start (what ``kafka-consumer-groups`` shows); with ``latest`` it counts **1** (0 with
  ``scaleToZeroOnInvalidOffset``), so a new group scales to one replica, not more.
- ``ensureEvenDistributionOfPartitions`` never reports less than one ``lagThreshold`` (a total of 0 rounds up to
  the factor 1), and applies even with ``allowIdleConsumers``.

Parameters keep KEDA's names: Python attributes are snake_case with the KEDA name beside each
(:data:`KEDA_NAMES`), and :meth:`KafkaTrigger.from_metadata` reads a ScaledObject trigger's ``metadata`` as KEDA
spells it (strings included).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

INVALID_OFFSET = -1  # what KEDA (sarama) reads for a partition the group never committed

# Python attribute -> KEDA's trigger metadata name.
KEDA_NAMES: dict[str, str] = {
    "lag_threshold": "lagThreshold",
    "activation_lag_threshold": "activationLagThreshold",
    "offset_reset_policy": "offsetResetPolicy",
    "allow_idle_consumers": "allowIdleConsumers",
    "exclude_persistent_lag": "excludePersistentLag",
    "scale_to_zero_on_invalid_offset": "scaleToZeroOnInvalidOffset",
    "limit_to_partitions_with_lag": "limitToPartitionsWithLag",
    "ensure_even_distribution_of_partitions": "ensureEvenDistributionOfPartitions",
    "partition_limitation": "partitionLimitation",
}
# Trigger metadata about the connection: accepted by from_metadata and ignored (kafkabp knows its broker and group).
_CONNECTION_NAMES = {"bootstrapServers", "consumerGroup", "topic", "version", "tls", "sasl", "unsafeSsl",
                     "saslTokenProvider", "awsRegion", "fullMetadata"}
_INT = re.compile(r"^[+-]?[0-9]+$")  # what Go's strconv.ParseInt(s, 10, ...) accepts
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def _go_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name!r} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT.match(value.strip()):
        return int(value.strip())
    raise ValueError(f"{name!r} must be an integer, got {value!r}")


def _go_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _GO_BOOLS:
        return _GO_BOOLS[value]
    raise ValueError(f"{name!r} must be a boolean (Go's strconv.ParseBool: true/false/1/0...), got {value!r}")


def parse_partition_limitation(text: str) -> tuple[int, ...]:
    """KEDA's ``parsePartitionLimitation``: ``"1-4,8,10-12"`` -> (1, 2, 3, 4, 8, 10, 11, 12).

    Comma-separated partition ids and inclusive ranges, whitespace around each allowed; anything else is an
    error (a range with more than one ``-``, a non-number). A range whose start is above its end adds nothing,
    as in KEDA's loop.
    """
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            bounds = part.split("-")
            if len(bounds) != 2:
                raise ValueError(f"invalid partition limitation range: {part}")
            lo, hi = bounds[0].strip(), bounds[1].strip()
            if not (_INT.match(lo) and _INT.match(hi)):
                raise ValueError(f"invalid partition limitation: {part}")
            out.extend(range(int(lo), int(hi) + 1))
        else:
            if not _INT.match(part):
                raise ValueError(f"invalid partition limitation: {part}")
            out.append(int(part))
    return tuple(out)


@dataclass(frozen=True)
class KafkaTrigger:
    """The settings of KEDA's ``kafka`` trigger that decide its metric (the connection settings are kafkabp's).

    Defaults are KEDA's. Validation follows ``kafkaMetadata.Validate``.
    """

    lag_threshold: int = 10  # lagThreshold: the HPA's AverageValue target, lag per replica
    activation_lag_threshold: int = 0  # activationLagThreshold: active (0 -> 1 replica) when total lag > this
    offset_reset_policy: str = "latest"  # offsetResetPolicy: "latest" | "earliest", for partitions never committed
    allow_idle_consumers: bool = False  # allowIdleConsumers: no cap at the partition count
    exclude_persistent_lag: bool = False  # excludePersistentLag: a partition whose offset did not move counts 0
    scale_to_zero_on_invalid_offset: bool = False  # scaleToZeroOnInvalidOffset: never-committed partitions count 0
    limit_to_partitions_with_lag: bool = False  # limitToPartitionsWithLag: cap at the partitions with lag > 0
    ensure_even_distribution_of_partitions: bool = False  # ensureEvenDistributionOfPartitions: replicas divide partitions
    partition_limitation: tuple[int, ...] | None = None  # partitionLimitation: only these partitions ("1-4,8" accepted)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place once
        set_(self, "lag_threshold", _go_int(self.lag_threshold, "lagThreshold"))
        set_(self, "activation_lag_threshold", _go_int(self.activation_lag_threshold, "activationLagThreshold"))
        for f in fields(self):
            if f.type in ("bool", bool):
                set_(self, f.name, _go_bool(getattr(self, f.name), KEDA_NAMES[f.name]))
        if self.lag_threshold <= 0:
            raise ValueError('"lagThreshold" must be positive number')
        if self.activation_lag_threshold < 0:
            raise ValueError('"activationLagThreshold" must be a non-negative number')
        if self.offset_reset_policy not in ("latest", "earliest"):
            raise ValueError(f'offsetResetPolicy must be "latest" or "earliest", got {self.offset_reset_policy!r}')
        limitation = self.partition_limitation
        if isinstance(limitation, str):
            limitation = parse_partition_limitation(limitation) if limitation.strip() else None
        elif limitation is not None:
            limitation = tuple(_go_int(p, "partitionLimitation") for p in limitation)
        set_(self, "partition_limitation", limitation)
        if self.allow_idle_consumers and self.limit_to_partitions_with_lag:
            raise ValueError("allowIdleConsumers and limitToPartitionsWithLag cannot be set simultaneously")
        if self.limit_to_partitions_with_lag and self.ensure_even_distribution_of_partitions:
            raise ValueError("limitToPartitionsWithLag and ensureEvenDistributionOfPartitions "
                             "cannot be set simultaneously")

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> "KafkaTrigger":
        """From a ScaledObject trigger's ``metadata`` as KEDA spells it: ``{"lagThreshold": "50", ...}``.

        Connection settings (bootstrapServers, consumerGroup, topic, sasl...) are accepted and ignored; any
        other unknown name is an error, so a typo does not pass silently.
        """
        by_keda = {v: k for k, v in KEDA_NAMES.items()}
        unknown = [k for k in metadata if k not in by_keda and k not in _CONNECTION_NAMES]
        if unknown:
            raise ValueError(f"unknown kafka trigger metadata {unknown}; KEDA's names are {sorted(by_keda)}")
        return cls(**{by_keda[k]: v for k, v in metadata.items() if k in by_keda})

    def metadata(self) -> dict[str, str]:
        """The trigger as a ScaledObject would write it (KEDA's names, string values)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool):
                out[KEDA_NAMES[f.name]] = "true" if value else "false"
            elif isinstance(value, tuple):
                out[KEDA_NAMES[f.name]] = ",".join(str(p) for p in value)
            else:
                out[KEDA_NAMES[f.name]] = str(value)
        return out


# ---------------------------------------------------------------------------------------------- one partition


class PartitionLagResult(NamedTuple):
    """``getLagForPartition``'s two results, and KEDA's memory of the partition's offset after the call."""

    lag: int  # what counts for the metric (0 for persistent lag when excludePersistentLag)
    lag_with_persistent: int  # what counts for activity: the lag even when it is persistent
    previous_offset: int | None  # KEDA's previousOffsets entry after this poll (None: nothing remembered)


def partition_lag(trigger: KafkaTrigger, committed: int | None, log_end: int | None,
                  previous_offset: int | None = None) -> PartitionLagResult:
    """KEDA's ``getLagForPartition`` for one partition.

    ``committed`` None (or -1) means the group never committed it; ``log_end`` None means the broker did not
    return a log end offset for it. ``previous_offset`` is what the scaler remembered at its last poll
    (``excludePersistentLag`` only); the result says what it remembers now. In KEDA's order:

    1. never committed, ``latest``: lag 1 (0 with ``scaleToZeroOnInvalidOffset``);
    2. never committed, ``earliest``, ``scaleToZeroOnInvalidOffset``: 0;
    3. no log end offset: 0;
    4. never committed, ``earliest``: the log end offset (not log end − log start);
    5. ``excludePersistentLag`` and the committed offset equals the one remembered: lag 0, the real lag still
       counts for activity; otherwise the offset is remembered;
    6. log end − committed: **negative** when the committed offset is past the log end the scaler read (the two
       are read concurrently, so a consumer that commits between the reads gets ahead; or the topic was
       recreated). KEDA does not clamp it (the function's last line returns ``latestOffset - consumerOffset``), so
       neither does this port: the summed metric can go below zero; the HPA's minimum replicas floor the count.
    """
    invalid = committed is None or committed == INVALID_OFFSET
    if invalid:
        if trigger.offset_reset_policy == "latest":
            value = 0 if trigger.scale_to_zero_on_invalid_offset else 1
            return PartitionLagResult(value, value, previous_offset)
        if trigger.scale_to_zero_on_invalid_offset:
            return PartitionLagResult(0, 0, previous_offset)
    if log_end is None:
        return PartitionLagResult(0, 0, previous_offset)
    if invalid:  # earliest, scaleToZeroOnInvalidOffset false
        return PartitionLagResult(log_end, log_end, previous_offset)
    assert committed is not None
    lag = log_end - committed
    if trigger.exclude_persistent_lag:
        if previous_offset is not None and previous_offset == committed:
            # the consumer is still on the same offset as at the last poll: maybe a message it cannot process
            return PartitionLagResult(0, lag, previous_offset)
        return PartitionLagResult(lag, lag, committed)
    return PartitionLagResult(lag, lag, previous_offset)


# ---------------------------------------------------------------------------------------------- the group


def find_factors(n: int) -> list[int]:
    """KEDA's ``FindFactors``: every divisor of n, ascending (empty for n < 1)."""
    if n < 1:
        return []
    out: set[int] = set()
    for i in range(1, math.isqrt(n) + 1):
        if n % i == 0:
            out.update((i, n // i))
    return sorted(out)


def next_factor(total_lag: int, partitions: int, lag_threshold: int) -> int:
    """KEDA's ``getNextFactorThatBalancesConsumersToTopicPartitions``: the smallest divisor f of the partition
    count with f × lagThreshold ≥ total lag (the partition count when none is)."""
    for f in find_factors(partitions):
        if f * lag_threshold >= total_lag:
            return f
    return partitions


def cap_total_lag(trigger: KafkaTrigger, total_lag: int, partitions: int, partitions_with_lag: int) -> int:
    """The end of KEDA's ``getTotalLag``: the metric handed to the HPA, from the summed lag.

    Unless ``allowIdleConsumers`` (and neither ``limitToPartitionsWithLag`` nor
    ``ensureEvenDistributionOfPartitions``), the total is capped at ``upper bound × lagThreshold``, the upper
    bound being the partitions (or the partitions with lag). The test is Go's integer division,
    ``total_lag / lagThreshold > upper bound``: a total below ``(upper + 1) × lagThreshold`` is not capped.
    """
    thr = trigger.lag_threshold
    if (not trigger.allow_idle_consumers or trigger.limit_to_partitions_with_lag
            or trigger.ensure_even_distribution_of_partitions):
        upper = partitions
        if trigger.ensure_even_distribution_of_partitions:
            total_lag = next_factor(total_lag, partitions, thr) * thr
        if trigger.limit_to_partitions_with_lag:
            upper = partitions_with_lag
        if _go_div(total_lag, thr) > upper:
            total_lag = upper * thr
    return total_lag


def _go_div(a: int, b: int) -> int:
    """Go's integer division truncates toward zero (Python's // floors)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def is_active(trigger: KafkaTrigger, total_lag_with_persistent: int) -> bool:
    """KEDA's activity (``GetMetricsAndActivity``): total lag, persistent lag included, above activationLagThreshold."""
    return total_lag_with_persistent > trigger.activation_lag_threshold


@dataclass(frozen=True)
class ScalerMetric:
    """One poll of the scaler: what it measured, and what it hands to the HPA."""

    total_lag: int  # summed lag (after excludePersistentLag), before the cap
    total_lag_with_persistent: int  # summed lag including persistent lag: decides activity
    metric: int  # what the HPA gets: the total after the partition cap / even distribution
    partitions: int  # partitions counted (the topic's, or those in partitionLimitation)
    partitions_with_lag: int  # of them, with lag > 0
    active: bool  # total_lag_with_persistent > activationLagThreshold
    lag_threshold: int

    @property
    def capped(self) -> bool:
        """Did the partition cap (or the even distribution) change the total?"""
        return self.metric != self.total_lag

    @property
    def replicas_wanted(self) -> int:
        """What the HPA computes from the metric before tolerance and limits: ceil(metric / lagThreshold), and 0
        for a negative metric (a committed offset past the log end, see :func:`partition_lag`): the HPA would
        compute a negative count there and its minimum replicas floor it; a negative count of pods means nothing."""
        return max(0, math.ceil(self.metric / self.lag_threshold))


def scaler_metric(trigger: KafkaTrigger, lags: Sequence[PartitionLagResult | tuple[int, int]]) -> ScalerMetric:
    """``getTotalLag`` + ``GetMetricsAndActivity`` from the per-partition results of :func:`partition_lag`."""
    total = sum(int(x[0]) for x in lags)
    total_persistent = sum(int(x[1]) for x in lags)
    with_lag = sum(1 for x in lags if x[0] > 0)
    metric = cap_total_lag(trigger, total, len(lags), with_lag)
    return ScalerMetric(total, total_persistent, metric, len(lags), with_lag,
                        is_active(trigger, total_persistent), trigger.lag_threshold)


def _offsets(p: Any) -> tuple[int, int | None, int | None]:
    if isinstance(p, tuple):
        partition, committed, log_end = p
        return int(partition), committed, log_end
    return int(p.partition), p.committed, p.log_end_offset


@dataclass
class KafkaScaler:
    """The scaler object KEDA keeps per trigger: the settings, and ``previousOffsets`` (excludePersistentLag).

    :meth:`poll` takes the partitions as kafkabp's lag monitor sees them (``Sample.partitions``: objects with
    ``partition``, ``committed`` and ``log_end_offset``) or as ``(partition, committed, log_end)`` tuples.
    """

    trigger: KafkaTrigger = field(default_factory=KafkaTrigger)
    previous_offsets: dict[int, int] = field(default_factory=dict)

    def poll(self, partitions: Iterable[Any]) -> ScalerMetric:
        rows = [_offsets(p) for p in partitions]
        limit = self.trigger.partition_limitation
        if limit is not None:
            rows = [r for r in rows if r[0] in limit]
            if not rows:
                raise ValueError("expected at least one active partition within the topic (partitionLimitation)")
        # KEDA iterates over the partitions the broker returned a log end offset for
        rows = [r for r in rows if r[2] is not None]
        results = []
        for partition, committed, log_end in rows:
            res = partition_lag(self.trigger, committed, log_end, self.previous_offsets.get(partition))
            if res.previous_offset is not None:
                self.previous_offsets[partition] = res.previous_offset
            results.append(res)
        return scaler_metric(self.trigger, results)


# ---------------------------------------------------------------------------------------------- KEDA's executor


def keda_executor(active: bool, current: int, min_replica_count: int, last_active: float | None, now: float,
                  cooldown_period: float) -> tuple[int | None, str]:
    """What KEDA's scale executor does itself (``RequestScale``), before the HPA: (replicas or None, reason).

    - active with 0 replicas: scale to ``minReplicaCount``, or 1 if that is 0 (``scaleFromZeroOrIdle``);
    - not active, ``minReplicaCount`` 0, replicas > 0: scale to 0 once the last activity is more than
      ``cooldownPeriod`` ago (``last_active`` None: never active, then at once: ``initialCooldownPeriod`` 0);
    - not active, fewer replicas than ``minReplicaCount``: scale to it;
    - otherwise None: the HPA decides.
    """
    if active:
        if current == 0:
            return max(min_replica_count, 1), "KEDA: active, scale from zero"
        return None, "active"
    if current > 0 and min_replica_count == 0:
        if last_active is None or last_active + cooldown_period < now:
            return 0, "KEDA: not active for cooldownPeriod, scale to zero"
        return None, "not active, cooling down"
    if current < min_replica_count:
        return min_replica_count, "KEDA: below minReplicaCount"
    return None, "not active"


# ---------------------------------------------------------------------------------------------- the HPA


def hpa_replicas(current: int, metric: float, target: float, tolerance: float | tuple[float, float] = 0.1) -> int:
    """The HPA's ``GetExternalPerPodMetricReplicas`` (External metric, ``AverageValue`` target, KEDA's case).

    ``usageRatio = metric / (target × current)``; within ``[1 − tolerance, 1 + tolerance]`` (both ends
    included: ``Tolerances.isWithin``) the replicas stay as they are, otherwise ``ceil(metric / target)``.
    ``tolerance`` may be a pair ``(scale_down, scale_up)``: Kubernetes 1.33+ lets them differ (KEP-4951,
    ``behavior.scaleDown.tolerance`` / ``scaleUp.tolerance``); the default is 0.1 both ways.
    """
    if within_tolerance(current, metric, target, tolerance):
        return current
    return math.ceil(metric / target)


def within_tolerance(current: int, metric: float, target: float, tolerance: float | tuple[float, float] = 0.1) -> bool:
    """The HPA's ``Tolerances.isWithin``: is ``metric / (target × current)`` in ``[1 − down, 1 + up]``?"""
    if target <= 0:
        raise ValueError(f"target must be > 0, got {target}")
    if current == 0:  # Go: metric/0 is +Inf, or NaN for 0/0: never within
        return False
    down, up = tolerance if isinstance(tolerance, tuple) else (tolerance, tolerance)
    return (1.0 - down) <= metric / (target * current) <= (1.0 + up)


def stabilize(recommendations: Sequence[tuple[float, int]], now: float, current: int, desired: int,
              scale_up_window: float = 0.0, scale_down_window: float = 300.0) -> int:
    """The HPA's ``stabilizeRecommendationWithBehaviors``, without the bookkeeping.

    ``recommendations`` are earlier (time, desired) pairs. Up: no higher than the lowest recommendation within
    ``scale_up_window`` (default 0 s: the current one); down: no lower than the highest within
    ``scale_down_window`` (default 300 s). The result moves from ``current`` only as far as both allow.
    """
    up = down = desired
    for t, rec in recommendations:
        if t > now - scale_up_window:
            up = min(up, rec)
        if t > now - scale_down_window:
            down = max(down, rec)
    out = current
    if out < up:
        out = up
    if out > down:
        out = down
    return out


def scale_up_limit(current: int, scale_up_events: Sequence[tuple[float, int]],
                   scale_down_events: Sequence[tuple[float, int]], now: float, period: float = 15.0,
                   pods: int = 4, percent: int = 100) -> int:
    """The highest replica count the HPA's default scale-up policies allow now (``selectPolicy: Max``).

    Policies ``Pods 4`` and ``Percent 100`` per ``period`` seconds: from the replicas at the start of the
    period (current − added + removed within it), add 4, or double, whichever allows more; never below current.
    (The default scale-down policy, ``Percent 100`` per 15 s, allows removing every pod: no limit.)
    """
    added = sum(c for t, c in scale_up_events if t > now - period)
    removed = sum(c for t, c in scale_down_events if t > now - period)
    start = current - added + removed
    limit = max(start + pods, math.ceil(start * (1 + percent / 100)))
    return max(limit, current)


class HPADecision(NamedTuple):
    desired: int  # from the metric and the tolerance, before stabilization and limits
    replicas: int  # what the HPA sets
    reason: str


@dataclass
class HPA:
    """One HorizontalPodAutoscaler on one External metric (KEDA's), step by step.

    The defaults are Kubernetes': tolerance 10 %, scale-down stabilization 300 s, scale-up 0 s, scale-up
    policies +4 pods or +100 % per 15 s. ``min_replicas`` is the HPA's ``minReplicas`` (KEDA sets it to
    ``max(minReplicaCount, 1)``); ``max_replicas`` is ``maxReplicaCount``. Time is any clock in seconds.
    """

    min_replicas: int = 1
    max_replicas: int = 100
    tolerance: float = 0.1
    scale_down_stabilization: float = 300.0  # behavior.scaleDown.stabilizationWindowSeconds
    scale_up_stabilization: float = 0.0  # behavior.scaleUp.stabilizationWindowSeconds
    policy_period: float = 15.0  # periodSeconds of the default scale-up policies
    scale_up_pods: int = 4
    scale_up_percent: int = 100
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    scale_up_events: list[tuple[float, int]] = field(default_factory=list)
    scale_down_events: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError(f"need 1 <= min_replicas <= max_replicas, got {self.min_replicas} and {self.max_replicas}")
        if self.tolerance < 0 or self.scale_down_stabilization < 0 or self.scale_up_stabilization < 0:
            raise ValueError("tolerance and stabilization windows must be >= 0")

    def step(self, now: float, current: int, metric: float, target: float) -> HPADecision:
        """One reconcile: the replicas the HPA sets now (and records, for the windows and policies)."""
        if current == 0:
            return HPADecision(0, 0, "ScalingDisabled: 0 replicas (KEDA activates from zero)")
        if current > self.max_replicas:
            replicas, desired, reason = self.max_replicas, self.max_replicas, "current above maxReplicas"
        elif current < self.min_replicas:
            replicas, desired, reason = self.min_replicas, self.min_replicas, "current below minReplicas"
        else:
            desired = hpa_replicas(current, metric, target, self.tolerance)
            horizon = max(self.scale_up_stabilization, self.scale_down_stabilization)
            self.recommendations = [(t, r) for t, r in self.recommendations if t > now - horizon]
            stable = stabilize(self.recommendations, now, current, desired,
                               self.scale_up_stabilization, self.scale_down_stabilization)
            self.recommendations.append((now, desired))
            within = within_tolerance(current, metric, target, self.tolerance)
            replicas, reason = stable, (f"within tolerance ({metric / (target * current):.2f})" if within
                                        else f"metric asks for {desired}")
            if stable != desired:
                reason = (f"scale-down stabilized: highest recommendation of the last "
                          f"{self.scale_down_stabilization:g} s is {stable}" if desired < current
                          else f"scale-up stabilized at {stable}")
            if replicas > current:
                limit = scale_up_limit(current, self.scale_up_events, self.scale_down_events, now,
                                       self.policy_period, self.scale_up_pods, self.scale_up_percent)
                if replicas > min(limit, self.max_replicas):
                    reason = ("ScaleUpLimit: policy allows " if limit < self.max_replicas
                              else "TooManyReplicas: maxReplicas ") + str(min(limit, self.max_replicas))
                    replicas = min(limit, self.max_replicas)
            elif replicas < current and replicas < self.min_replicas:
                replicas, reason = self.min_replicas, f"TooFewReplicas: minReplicas {self.min_replicas}"
        if replicas > current:
            self.scale_up_events.append((now, replicas - current))
        elif replicas < current:
            self.scale_down_events.append((now, current - replicas))
        keep = now - self.policy_period
        self.scale_up_events = [e for e in self.scale_up_events if e[0] > keep]
        self.scale_down_events = [e for e in self.scale_down_events if e[0] > keep]
        return HPADecision(desired, replicas, reason)


__all__ = [
    "HPA", "HPADecision", "INVALID_OFFSET", "KEDA_NAMES", "KafkaScaler", "KafkaTrigger", "PartitionLagResult",
    "ScalerMetric", "cap_total_lag", "find_factors", "hpa_replicas", "is_active", "keda_executor", "next_factor",
    "parse_partition_limitation", "partition_lag", "scale_up_limit", "scaler_metric", "stabilize", "within_tolerance",
]

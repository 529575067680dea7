"""Autoscaler: scale the consumer group on lag the way KEDA's Kafka scaler and the Kubernetes HPA do (lesson 11)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping

from kafkabp.mitigations.base import Recorder, Sample
from kafkabp.mitigations.keda import HPA, KEDA_NAMES, KafkaScaler, KafkaTrigger, keda_executor

if TYPE_CHECKING:
    from kafkabp.experiment import Experiment

# ScaledObject fields (and the HPA behavior field) -> the Autoscaler's parameter
SCALED_OBJECT_NAMES: dict[str, str] = {
    "minReplicaCount": "min_replica_count",
    "maxReplicaCount": "max_replica_count",
    "pollingInterval": "polling_interval",
    "cooldownPeriod": "cooldown_period",
    "stabilizationWindowSeconds": "stabilization_window",
}


class Autoscaler(Recorder):
    """KEDA's ``kafka`` trigger plus the HPA it drives, steering an experiment's consumer count.

    Every ``polling_interval`` seconds (the first lag sample at or after it) the autoscaler

    1. computes KEDA's metric from the sample's partitions (:class:`~kafkabp.mitigations.keda.KafkaScaler`:
       lag per partition, the total capped at ``lag_threshold × partitions`` unless ``allow_idle_consumers``,
       activity above ``activation_lag_threshold``);
    2. lets KEDA's executor act between 0 and ``min_replica_count`` (scale from zero when active; to zero after
       ``cooldown_period`` without activity, only when ``min_replica_count`` is 0);
    3. otherwise runs one HPA step (:class:`~kafkabp.mitigations.keda.HPA`): ``ceil(metric / lag_threshold)``
       outside the 10 % ``tolerance``, the highest recommendation of the last ``stabilization_window`` seconds
       when scaling down, the default scale-up policy (+4 pods or +100 % per ``policy_period``), then
       ``[max(min_replica_count, 1), max_replica_count]``;
    4. calls ``experiment.scale(n)`` when the answer differs from the group's size.

    The trigger's parameters keep KEDA's names in snake_case (``lag_threshold`` is ``lagThreshold``, see
    :data:`~kafkabp.mitigations.keda.KEDA_NAMES`); :meth:`from_keda` takes them spelt as in a ScaledObject.
    Defaults are KEDA's and Kubernetes' (``pollingInterval`` 30 s, ``cooldownPeriod`` 300 s, ``minReplicaCount``
    0, ``maxReplicaCount`` 100, stabilization 300 s): far too slow for a 40 s experiment, so lessons pass their
    own, e.g. ``polling_interval=1, stabilization_window=5``.

    ``history()`` has one row per poll: t, lag, time_lag, rates, ``total_lag`` (KEDA's sum before the cap),
    ``metric`` (after it), ``active``, ``current``, ``desired`` (the HPA's recommendation from the metric),
    ``replicas`` (what was set), ``reason``.
    """

    def __init__(self, lag_threshold: int = 10, *, activation_lag_threshold: int = 0,
                 offset_reset_policy: str = "latest", allow_idle_consumers: bool = False,
                 exclude_persistent_lag: bool = False, scale_to_zero_on_invalid_offset: bool = False,
                 limit_to_partitions_with_lag: bool = False, ensure_even_distribution_of_partitions: bool = False,
                 partition_limitation: str | tuple[int, ...] | None = None,
                 min_replica_count: int = 0, max_replica_count: int = 100, polling_interval: float = 30.0,
                 cooldown_period: float = 300.0, stabilization_window: float = 300.0, tolerance: float = 0.1,
                 policy_period: float = 15.0, trigger: KafkaTrigger | None = None) -> None:
        super().__init__()
        self.trigger = trigger or KafkaTrigger(
            lag_threshold=lag_threshold, activation_lag_threshold=activation_lag_threshold,
            offset_reset_policy=offset_reset_policy, allow_idle_consumers=allow_idle_consumers,
            exclude_persistent_lag=exclude_persistent_lag,
            scale_to_zero_on_invalid_offset=scale_to_zero_on_invalid_offset,
            limit_to_partitions_with_lag=limit_to_partitions_with_lag,
            ensure_even_distribution_of_partitions=ensure_even_distribution_of_partitions,
            partition_limitation=partition_limitation)
        if not isinstance(min_replica_count, int) or not isinstance(max_replica_count, int):
            raise ValueError("minReplicaCount and maxReplicaCount must be whole numbers")
        if not 0 <= min_replica_count <= max_replica_count or max_replica_count < 1:
            raise ValueError(f"need 0 <= minReplicaCount <= maxReplicaCount and maxReplicaCount >= 1, "
                             f"got {min_replica_count} and {max_replica_count}")
        if not polling_interval > 0 or cooldown_period < 0:
            raise ValueError(f"need pollingInterval > 0 and cooldownPeriod >= 0, "
                             f"got {polling_interval} and {cooldown_period}")
        self.min_replica_count, self.max_replica_count = min_replica_count, max_replica_count
        self.polling_interval, self.cooldown_period = float(polling_interval), float(cooldown_period)
        self.scaler = KafkaScaler(self.trigger)
        self.hpa = HPA(min_replicas=max(min_replica_count, 1), max_replicas=max_replica_count, tolerance=tolerance,
                       scale_down_stabilization=stabilization_window, policy_period=policy_period)
        self.lag_threshold = self.trigger.lag_threshold
        extras = [n for n, on in (("allowIdleConsumers", self.trigger.allow_idle_consumers),
                                  ("limitToPartitionsWithLag", self.trigger.limit_to_partitions_with_lag),
                                  ("ensureEvenDistributionOfPartitions",
                                   self.trigger.ensure_even_distribution_of_partitions)) if on]
        self.name = (f"KEDA autoscaler (lagThreshold {self.lag_threshold:,}, replicas {min_replica_count}-"
                     f"{max_replica_count}{', ' + ', '.join(extras) if extras else ''})")
        self._last_poll = -math.inf
        self._last_active: float | None = None
        self._slack = 0.0

    @classmethod
    def from_keda(cls, metadata: Mapping[str, Any] | None = None, **scaled_object: Any) -> "Autoscaler":
        """As a ScaledObject spells it: ``Autoscaler.from_keda({"lagThreshold": "50"}, minReplicaCount=1,
        maxReplicaCount=8, pollingInterval=1, stabilizationWindowSeconds=5)``; the trigger's ``metadata`` with
        KEDA's names (strings fine), the ScaledObject's fields as keywords (also ``tolerance`` and
        ``policy_period``)."""
        kwargs: dict[str, Any] = {}
        for key, value in scaled_object.items():
            if key in SCALED_OBJECT_NAMES:
                kwargs[SCALED_OBJECT_NAMES[key]] = value
            elif key in ("tolerance", "policy_period"):
                kwargs[key] = value
            else:
                raise TypeError(f"unknown ScaledObject field {key!r}; known: {sorted(SCALED_OBJECT_NAMES)}")
        return cls(trigger=KafkaTrigger.from_metadata(metadata or {}), **kwargs)

    def on_start(self, experiment: "Experiment") -> None:
        self._last_poll, self._last_active = -math.inf, None
        # a poll is due at the first sample within a quarter of the monitor's interval of it (samples jitter)
        self._slack = 0.25 * float(getattr(experiment.monitor, "interval", 0.0))

    def on_sample(self, experiment: "Experiment", sample: Sample) -> None:
        if sample.t < self._last_poll + self.polling_interval - self._slack:
            return
        self._last_poll = sample.t
        current = experiment.consumer_group.size
        self.decide(sample, current, experiment.scale)

    def decide(self, sample: Sample, current: int, scale: Any = None) -> int:
        """One poll on ``sample`` with ``current`` replicas: the replicas wanted (``scale(n)`` is called if they
        differ). Recorded in the history. Usable without a broker, for tests and exercises."""
        m = self.scaler.poll(sample.partitions)
        if m.active:
            self._last_active = sample.t
        replicas, reason = keda_executor(m.active, current, self.min_replica_count, self._last_active, sample.t,
                                         self.cooldown_period)
        desired = replicas if replicas is not None else current
        if replicas is None:
            step = self.hpa.step(sample.t, current, m.metric, self.lag_threshold)
            replicas, desired, reason = step.replicas, step.desired, step.reason
        if replicas != current and scale is not None:
            scale(replicas)
        self._record(sample, total_lag=m.total_lag, total_lag_with_persistent=m.total_lag_with_persistent,
                     metric=m.metric, capped=m.capped, partitions_with_lag=m.partitions_with_lag, active=m.active,
                     current=current, desired=desired, replicas=replicas, reason=reason)
        return replicas


__all__ = ["Autoscaler", "KEDA_NAMES", "SCALED_OBJECT_NAMES"]

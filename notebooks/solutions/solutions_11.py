"""Solutions to the exercises of lesson 11, "Autoscaling on lag".

Exercise (≈ 15 min): KEDA and the HPA in one function.
    Write ``replicas(partition_lags, lag_threshold, current, max_replicas=8, allow_idle_consumers=False,
    tolerance=0.1)``: the replica count one poll of KEDA's Kafka scaler plus one HPA step would set, without
    the HPA's stabilization window and scale-up policy. Three steps, each a few lines of KEDA's or Kubernetes'
    code: the sum of the lags, KEDA's partition cap (with Go's integer division), and the HPA's
    ``ceil(metric / lagThreshold)`` outside the tolerance, within ``[1, max_replicas]``.

Bonus: ``SimpleScaler`` turns the function into a mitigation (a poll every second, no stabilization), and
``verify()`` runs it against a live group under a load step.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Sequence

import pandas as pd

import kafkabp


def replicas(partition_lags: Sequence[int], lag_threshold: int, current: int, max_replicas: int = 8,
             allow_idle_consumers: bool = False, tolerance: float = 0.1) -> int:
    """What KEDA's Kafka scaler and one HPA step set, from the lag of each partition (no stabilization).

    1. KEDA (``getTotalLag``): the total lag, capped at ``lag_threshold × partitions`` unless
       ``allow_idle_consumers``. The test is ``totalLag / lagThreshold > partitions`` on Go's int64, i.e.
       integer division: a total below ``(partitions + 1) × lag_threshold`` is *not* capped.
    2. HPA (``GetExternalPerPodMetricReplicas``, AverageValue target = lag_threshold): the usage ratio is
       ``total / (lag_threshold × current)``; within ``[1 − tolerance, 1 + tolerance]`` keep ``current``,
       otherwise ``ceil(total / lag_threshold)``.
    3. Within ``[1, max_replicas]`` (KEDA gives the HPA ``minReplicas`` ≥ 1).

    >>> replicas([300, 300, 300, 300], 100, current=1)   # 1,200 capped at 4 × 100
    4
    >>> replicas([120, 120, 120, 120], 100, current=1)   # 480 // 100 = 4 is not > 4: uncapped, ceil(4.8)
    5
    >>> replicas([105, 105, 105, 105], 100, current=4)   # ratio 1.05: within the tolerance
    4
    """
    if lag_threshold <= 0 or current < 1 or max_replicas < 1:
        raise ValueError("need lag_threshold > 0, current >= 1 and max_replicas >= 1")
    total = sum(partition_lags)
    partitions = len(partition_lags)
    if not allow_idle_consumers and total // lag_threshold > partitions:  # lags are >= 0: // is Go's division
        total = partitions * lag_threshold
    ratio = total / (lag_threshold * current)
    wanted = current if (1 - tolerance) <= ratio <= (1 + tolerance) else math.ceil(total / lag_threshold)
    return max(1, min(max_replicas, wanted))


class SimpleScaler:
    """A mitigation built on :func:`replicas`: every ``interval`` seconds, scale the group to its answer.

    No stabilization window: it scales down the moment the lag is gone, so on a steady load it flaps (the
    lesson's section 5 shows why KEDA leaves that to the HPA's window).
    """

    def __init__(self, lag_threshold: int = 50, *, max_replicas: int = 8, allow_idle_consumers: bool = False,
                 interval: float = 1.0) -> None:
        self.lag_threshold, self.max_replicas = lag_threshold, max_replicas
        self.allow_idle_consumers, self.interval = allow_idle_consumers, interval
        self.name = f"simple scaler (lagThreshold {lag_threshold})"
        self._last = -math.inf
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def on_start(self, experiment: kafkabp.Experiment) -> None:
        self._last = -math.inf

    def on_sample(self, experiment: kafkabp.Experiment, sample: kafkabp.Sample) -> None:
        if sample.t < self._last + self.interval * 0.9:
            return
        self._last = sample.t
        current = experiment.consumer_group.size
        n = replicas([p.lag for p in sample.partitions], self.lag_threshold, max(current, 1), self.max_replicas,
                     self.allow_idle_consumers)
        if n != current:
            experiment.scale(n)
        with self._lock:
            self._rows.append({"t": sample.t, "lag": sample.lag, "current": current, "replicas": n})

    def history(self) -> pd.DataFrame:
        with self._lock:
            return pd.DataFrame(self._rows)


def verify(scaler: Any | None = None, *, duration: float = 24.0, high: float = 450.0, step_at: float = 3.0,
           drop_at: float = 13.0, progress: bool = False) -> kafkabp.Result:
    """Run ``scaler`` (default ``SimpleScaler()``) on 4 partitions at 10 ms a message (100 msg/s per consumer),
    1 consumer to start, the load stepping from 50 to ``high`` msg/s at ``step_at`` and back at ``drop_at``."""
    scaler = scaler or SimpleScaler()
    return kafkabp.run_experiment(duration, rate=kafkabp.Step(50, high, at=step_at), consumers=1, partitions=4,
                                  processing=kafkabp.fixed(0.01), producer=kafkabp.Producer(keys="uniform"),
                                  group=kafkabp.Group(batch_size=25),
                                  mitigations=[scaler], progress=progress, label=scaler.name,
                                  actions=[(drop_at, lambda e: e.set_rate(50))])

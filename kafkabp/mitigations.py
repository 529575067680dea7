"""Mitigations an experiment runs: objects that watch each lag sample and act on the producer or the group.

One small protocol: ``on_start(experiment)`` once, then ``on_sample(experiment, sample)`` after every
lag sample (in the monitor's thread). An experiment takes a list of them:
``run_experiment(..., mitigations=[kafkabp.AIMD(target_lag=2_000)])``. Each keeps a ``history`` of
what it saw and did, which the result carries (``result.controls``).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

if TYPE_CHECKING:
    from kafkabp.experiment import Experiment


@dataclass(frozen=True)
class Sample:
    """What a controller sees each time the lag monitor samples: totals over the topic's partitions."""

    t: float  # seconds since the experiment started
    lag: int  # messages
    time_lag: float  # seconds, the worst partition
    produce_rate: float  # msg/s over the monitor's rate window
    consume_rate: float  # msg/s committed over the same window
    target_rate: float  # the producer's rate limit right now (inf: full speed)
    consumers: int


class Mitigation(Protocol):
    """Anything with these two methods can steer an experiment."""

    name: str

    def on_start(self, experiment: "Experiment") -> None: ...

    def on_sample(self, experiment: "Experiment", sample: Sample) -> None: ...


class _Recorder:
    """A thread-safe history of (sample, action) rows."""

    name = "mitigation"

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def _record(self, sample: Sample, **action: Any) -> None:
        with self._lock:
            self._rows.append({"t": sample.t, "lag": sample.lag, "time_lag": sample.time_lag,
                               "produce_rate": sample.produce_rate, "consume_rate": sample.consume_rate, **action})

    def history(self) -> pd.DataFrame:
        """Every sample the mitigation saw, with what it did."""
        with self._lock:
            return pd.DataFrame(self._rows)

    def on_start(self, experiment: "Experiment") -> None:
        pass


class AIMD(_Recorder):
    """Closed-loop rate limiting: additive increase, multiplicative decrease on lag against a target.

    TCP's congestion control applied to a producer. After each sample: while the lag (or time lag)
    is at or under the target, raise the producer's rate by ``increase`` msg/s; above it, multiply the
    rate by ``decrease`` -- at most once per ``cooldown`` seconds, because a cut shows in the lag only
    a sample or two later. The rate stays within [``min_rate``, ``max_rate``]. Lag then hovers near
    the target and throughput near the consumers' capacity, with the saw-tooth that AIMD always has.
    """

    def __init__(self, target_lag: int | None = None, *, target_time_lag: float | None = None,
                 increase: float = 100.0, decrease: float = 0.7, start_rate: float | None = None,
                 min_rate: float = 10.0, max_rate: float = 100_000.0, cooldown: float = 1.0) -> None:
        super().__init__()
        if (target_lag is None) == (target_time_lag is None):
            raise ValueError("give exactly one target: target_lag (messages) or target_time_lag (seconds)")
        if target_lag is not None and target_lag <= 0:
            raise ValueError(f"target_lag must be > 0 messages, got {target_lag}")
        if target_time_lag is not None and target_time_lag <= 0:
            raise ValueError(f"target_time_lag must be > 0 seconds, got {target_time_lag}")
        if increase <= 0 or not 0 < decrease < 1:
            raise ValueError(f"need increase > 0 msg/s and 0 < decrease < 1, got {increase} and {decrease}")
        if not 0 < min_rate <= max_rate:
            raise ValueError(f"need 0 < min_rate <= max_rate, got {min_rate} and {max_rate}")
        self.target_lag, self.target_time_lag = target_lag, target_time_lag
        self.increase, self.decrease, self.cooldown = increase, decrease, cooldown
        self.start_rate, self.min_rate, self.max_rate = start_rate, min_rate, max_rate
        self.name = f"AIMD(target {'lag ' + format(target_lag, ',') if target_lag else f'time lag {target_time_lag} s'})"
        self.rate = start_rate or min_rate
        self._last_cut = -math.inf

    def on_start(self, experiment: "Experiment") -> None:
        current = experiment.producer.target_rate
        self.rate = self.start_rate or (current if math.isfinite(current) else self.min_rate)
        self.rate = min(self.max_rate, max(self.min_rate, self.rate))
        experiment.producer.set_rate(self.rate)

    def over_target(self, sample: Sample) -> bool:
        if self.target_lag is not None:
            return sample.lag > self.target_lag
        return sample.time_lag > float(self.target_time_lag or 0)

    def on_sample(self, experiment: "Experiment", sample: Sample) -> None:
        action = "hold"
        if self.over_target(sample):
            if sample.t - self._last_cut >= self.cooldown:
                self.rate, action, self._last_cut = self.rate * self.decrease, "decrease", sample.t
        else:
            self.rate, action = self.rate + self.increase, "increase"
        self.rate = min(self.max_rate, max(self.min_rate, self.rate))
        experiment.producer.set_rate(self.rate, log=False)  # the history records it; no event per sample
        self._record(sample, action=action, rate=self.rate)

"""AIMD: closed-loop rate limiting of the producer on lag (lesson 07)."""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

from kafkabp.mitigations.base import Recorder, Sample

if TYPE_CHECKING:
    from kafkabp.experiment import Experiment


class AIMD(Recorder):
    """Closed-loop rate limiting: additive increase, multiplicative decrease on lag against a target.

    TCP's congestion control applied to a producer. After each sample: while the lag (or time lag)
    is at or under the target, raise the producer's rate by ``increase`` msg/s; above it, multiply the
    rate by ``decrease`` -- at most once per ``cooldown`` seconds, because a cut shows in the lag only
    a sample or two later. The rate stays within [``min_rate``, ``max_rate``]. Lag then hovers near
    the target and throughput near the consumers' capacity, with the saw-tooth that AIMD always has.

    Anti-windup: the rate rises only while the limit binds, i.e. the producer sent at least ``binding``
    of the rate it was allowed over the monitor's rate window. A source that offers less than its limit
    (``demand`` below the rate, or a producer at its own maximum) would otherwise see the limit climb to
    ``max_rate`` unused, and the first burst would then pass unthrottled.
    """

    def __init__(self, target_lag: int | None = None, *, target_time_lag: float | None = None,
                 increase: float = 100.0, decrease: float = 0.7, start_rate: float | None = None,
                 min_rate: float = 10.0, max_rate: float = 100_000.0, cooldown: float = 1.0,
                 binding: float = 0.9) -> None:
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
        if not 0 <= binding <= 1:
            raise ValueError(f"binding must be a fraction in [0, 1] (0 turns anti-windup off), got {binding}")
        self.target_lag, self.target_time_lag, self.binding = target_lag, target_time_lag, binding
        self.increase, self.decrease, self.cooldown = increase, decrease, cooldown
        self.start_rate, self.min_rate, self.max_rate = start_rate, min_rate, max_rate
        self.name = f"AIMD(target {'lag ' + format(target_lag, ',') if target_lag else f'time lag {target_time_lag} s'})"
        self.rate = start_rate or min_rate
        self._last_cut = -math.inf
        self._window = 2.0  # the monitor's rate window, read at start
        self._allowed: deque[tuple[float, float]] = deque()  # (t, rate) set after each sample

    def on_start(self, experiment: "Experiment") -> None:
        current = experiment.producer.target_rate
        self.rate = self.start_rate or (current if math.isfinite(current) else self.min_rate)
        self.rate = min(self.max_rate, max(self.min_rate, self.rate))
        self._window = experiment.monitor.rate_window
        experiment.producer.set_rate(self.rate)

    def limit_binds(self, sample: Sample) -> bool:
        """Did the producer use (nearly) all the rate it was allowed over the last rate window?"""
        while self._allowed and self._allowed[0][0] < sample.t - self._window:
            self._allowed.popleft()
        rates = [r for _, r in self._allowed] or [self.rate]
        return sample.produce_rate >= self.binding * sum(rates) / len(rates)

    def over_target(self, sample: Sample) -> bool:
        if self.target_lag is not None:
            return sample.lag > self.target_lag
        return sample.time_lag > float(self.target_time_lag or 0)

    def on_sample(self, experiment: "Experiment", sample: Sample) -> None:
        action = "hold"
        if self.over_target(sample):
            if sample.t - self._last_cut >= self.cooldown:
                self.rate, action, self._last_cut = self.rate * self.decrease, "decrease", sample.t
        elif self.limit_binds(sample):
            self.rate, action = self.rate + self.increase, "increase"
        else:
            action = "hold (limit unused)"
        self.rate = min(self.max_rate, max(self.min_rate, self.rate))
        self._allowed.append((sample.t, self.rate))
        experiment.producer.set_rate(self.rate, log=False)  # the history records it; no event per sample
        self._record(sample, action=action, rate=self.rate)

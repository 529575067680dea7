"""Solutions to the exercises of lesson 07, "Rate limiting producers".

Exercise (≈ 15 min): a controller of your own.
    Write a proportional controller on **time lag**: a class with ``on_start(experiment)`` and
    ``on_sample(experiment, sample)`` that an experiment runs after every lag sample
    (``Experiment(mitigations=[...])``), setting the producer's rate so that the time lag settles
    near a target of a couple of seconds. ``next_rate(sample)`` holds the arithmetic, so it can be tested
    without a broker.

Bonus: ``verify(...)`` runs it on the broker while the consumers' service rate halves mid-run, the
same test AIMD passed in the lesson.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import pandas as pd

import kafkabp


class ProportionalTimeLag:
    """Closed-loop rate control: follow what the consumers manage, corrected in proportion to the time-lag error.

    After each sample::

        rate = consume_rate + gain × (target_time_lag − time_lag)

    - ``consume_rate`` is the *feed-forward* term: the consumers just processed that many messages a second,
      so producing as much keeps the lag where it is. Without it a pure proportional controller needs a
      permanent error to produce at all (rate = gain × error), and its lag settles off target.
    - ``gain`` (msg/s per second of error) is the *feedback* term: time lag under the target adds rate, over it
      takes rate away, in proportion. Too small and it reacts slowly when μ changes; too large and it
      overshoots (the monitor sees a change a sample or two late), the rate swinging from one bound to the other.

    At equilibrium the rate equals the consumers' rate and the time lag the target: then the consumers are
    never starved (throughput ≈ μ) and every message waits about ``target_time_lag``. Unlike AIMD there is no
    saw-tooth by design, but the measured ``consume_rate`` is noisy (commits come in batches), and the rate
    follows that noise.

    Pick the target well above the time lag's floor: with commits every 0.2 s, batches and a sample every
    0.5 s, time lag reads 0.5–1 s even when nothing waits. A target of 1 s then keeps almost no queue, the
    consumer runs dry between batches, and throughput falls to about 70 % of μ (measured: 363 msg/s of 500);
    2 s keeps a real queue and the consumer busy.

    >>> c = ProportionalTimeLag(target_time_lag=1.0, gain=500)
    >>> c.next_rate(kafkabp.Sample(t=5, lag=500, time_lag=0.5, produce_rate=900, consume_rate=900,
    ...                            target_rate=900, consumers=1))
    1150.0
    >>> c.next_rate(kafkabp.Sample(t=6, lag=3000, time_lag=3.0, produce_rate=900, consume_rate=500,
    ...                            target_rate=900, consumers=1))
    10.0
    """

    def __init__(self, target_time_lag: float = 2.0, *, gain: float = 500.0, start_rate: float = 500.0,
                 min_rate: float = 10.0, max_rate: float = 100_000.0) -> None:
        if not target_time_lag > 0:
            raise ValueError(f"target_time_lag must be > 0 seconds, got {target_time_lag}")
        if not gain > 0:
            raise ValueError(f"gain must be > 0 msg/s per second of time lag, got {gain}")
        if not 0 < min_rate <= start_rate <= max_rate:
            raise ValueError(f"need 0 < min_rate <= start_rate <= max_rate, got {min_rate}, {start_rate}, {max_rate}")
        self.target_time_lag, self.gain = float(target_time_lag), float(gain)
        self.start_rate, self.min_rate, self.max_rate = float(start_rate), float(min_rate), float(max_rate)
        self.rate = self.start_rate
        self.name = f"P(target time lag {target_time_lag:g} s, gain {gain:g})"
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def next_rate(self, sample: kafkabp.Sample) -> float:
        """The rate for the next interval: feed-forward plus proportional correction, within the bounds."""
        consumed = sample.consume_rate if math.isfinite(sample.consume_rate) else 0.0
        rate = consumed + self.gain * (self.target_time_lag - sample.time_lag)
        return min(self.max_rate, max(self.min_rate, rate))

    def on_start(self, experiment: kafkabp.Experiment) -> None:
        self.rate = self.start_rate
        experiment.producer.set_rate(self.rate)

    def on_sample(self, experiment: kafkabp.Experiment, sample: kafkabp.Sample) -> None:
        self.rate = self.next_rate(sample)
        experiment.producer.set_rate(self.rate, log=False)  # no event per sample: history() records it
        with self._lock:
            self._rows.append({"t": sample.t, "lag": sample.lag, "time_lag": sample.time_lag,
                               "consume_rate": sample.consume_rate, "rate": self.rate})

    def history(self) -> pd.DataFrame:
        """What it saw and chose after each sample (the experiment's result carries it in ``controls``)."""
        with self._lock:
            return pd.DataFrame(self._rows)


def verify(controller: Any | None = None, *, duration: float = 24.0, change_at: float = 12.0,
           progress: bool = False) -> kafkabp.Result:
    """Run ``controller`` (default: ``ProportionalTimeLag()``) against 1 consumer on 2 partitions whose
    processing time doubles from 1 ms to 2 ms at ``change_at``: μ drops from 1,000 to 500 msg/s.

    A good controller keeps the time lag near its target on both sides of the change and processes
    close to μ; look at ``result.controls[controller.name]`` for the rate it chose.
    """
    controller = controller or ProportionalTimeLag()
    return kafkabp.run_experiment(
        duration, rate=controller.start_rate if hasattr(controller, "start_rate") else 500, consumers=1,
        partitions=2, processing=kafkabp.fixed(0.001), mitigations=[controller], progress=progress,
        actions=[(change_at, lambda e: e.set_processing(kafkabp.fixed(0.002)))], label=controller.name)

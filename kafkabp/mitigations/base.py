"""The protocol every mitigation follows, the sample it sees, and a thread-safe history of what it did."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

if TYPE_CHECKING:
    from kafkabp.experiment import Experiment


@dataclass(frozen=True)
class PartitionLag:
    """One partition in a sample: offsets as the broker reported them (``committed`` None: the group never committed)."""

    partition: int
    log_end_offset: int
    committed: int | None
    lag: int  # log end - committed (- earliest when never committed), as kafka-consumer-groups shows it
    time_lag: float = 0.0  # seconds behind the log end (kafkabp's interpolation, as kafka-lag-exporter's)


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
    partitions: tuple[PartitionLag, ...] = ()  # per partition, for controllers that need it (KEDA's scaler)


class Mitigation(Protocol):
    """Anything with these two methods can steer an experiment."""

    name: str

    def on_start(self, experiment: "Experiment") -> None: ...

    def on_sample(self, experiment: "Experiment", sample: Sample) -> None: ...


class Recorder:
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

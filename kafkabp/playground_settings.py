"""The playground's settings (lesson 13): one configuration of every knob and mitigation, the presets, and the
:class:`~kafkabp.experiment.Experiment` arguments they make. No widget and no broker here: :mod:`kafkabp.playroom`
shows them as controls and runs them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from kafkabp.mitigations import AIMD, Autoscaler
from kafkabp.specs import Group, Observe, Producer
from kafkabp.widgets import MAX_CONSUMERS, MAX_PARTITIONS, PROCESSING_MS, RATES, STATUS_SAMPLE_S, STATUS_WINDOW
from kafkabp.workload import Buffer, Burst, Constant, Processing, Ramp, Step, cpu, exponential, fixed, lognormal

PROFILES = {
    "constant": "the rate, all the time",
    "step ×2": "the rate, doubled after a third of the time limit",
    "burst ×3": "3× the rate for 2 s in every 10 s",
    "ramp": "from a quarter of the rate to twice it over the time limit",
}
MODELS = {
    "fixed": "every message takes the same time (a sleep: I/O, like a database write)",
    "exponential": "random, mean as set: mostly short, now and then long",
    "lognormal": "random, mean as set, a long tail (σ = 1)",
    "cpu": "busy CPU in Python (holds the GIL: threads do not help)",
    "stuck": "after 3 s a message hangs for an hour while the consumer keeps committing (a stalled consumer)",
}
PROTOCOLS = {"classic": "classic consumer group", "consumer": "KIP-848 consumer group",
             "share": "share group (KIP-932)"}
KEYS = {"none": "no keys (spread over partitions)", "uniform": "many keys, evenly",
        "hot": "one key in half of the messages"}
QUOTAS = ("off", "producer", "consumer")
MESSAGE_SIZES = (10, 100, 1_000, 10_000, 100_000)
TIME_LIMITS = (10, 20, 30, 60, 120, 300, 600)
HOT_FRACTION = 0.5
STUCK_SECONDS = 3_600.0
STUCK_AFTER = 3.0  # seconds of normal work (and commits) before the "stuck" model hangs: Burrow's STALL, not STOP

OBSERVE = Observe(sample_interval=STATUS_SAMPLE_S, status_window=STATUS_WINDOW)  # as the dashboard watches


@dataclass(frozen=True)
class Settings:
    """One configuration of the playground: what the producer, the group and the mitigations do."""

    rate: float = 500.0  # msg/s (the base of the profile)
    profile: str = "constant"
    message_size: int = 100  # bytes
    keys: str = "none"
    consumers: int = 1
    processing_ms: float = 1.0  # mean ms per message
    model: str = "fixed"
    partitions: int = 4
    protocol: str = "classic"
    aimd: bool = False
    target_lag: int = 1_000  # AIMD's target, messages
    autoscaler: bool = False
    lag_threshold: int = 200  # KEDA's lagThreshold, messages per replica
    max_replicas: int = 8
    pause_resume: bool = False
    buffer_size: int = 1_000  # messages; pause at the bound, resume at half
    parallel: int = 1  # key-ordered threads inside each consumer
    quota: str = "off"  # "producer" or "consumer": a byte-rate quota on that client
    quota_kb: int = 100  # KB/s
    time_limit: float = 60.0  # seconds, then the experiment stops by itself

    def __post_init__(self) -> None:
        checks: list[tuple[bool, str]] = [
            (self.profile in PROFILES, f"profile must be one of {list(PROFILES)}"),
            (self.model in MODELS, f"model must be one of {list(MODELS)}"),
            (self.protocol in PROTOCOLS, f"protocol must be one of {list(PROTOCOLS)}"),
            (self.keys in KEYS, f"keys must be one of {list(KEYS)}"),
            (self.quota in QUOTAS, f"quota must be one of {list(QUOTAS)}"),
            (0 < self.rate <= max(RATES), f"rate must be more than 0 and at most {max(RATES):,} msg/s"),
            (0 <= self.consumers <= MAX_CONSUMERS, f"consumers must be from 0 to {MAX_CONSUMERS}"),
            (1 <= self.partitions <= MAX_PARTITIONS, f"partitions must be from 1 to {MAX_PARTITIONS}"),
            (0 <= self.processing_ms <= max(PROCESSING_MS), f"processing_ms must be from 0 to {max(PROCESSING_MS)}"),
            (1 <= self.parallel <= 32, "parallel must be from 1 (off) to 32 threads"),
            (0 < self.time_limit <= 3_600, "time_limit must be more than 0 and at most 3,600 s"),
            (0 <= self.message_size <= 1_000_000, "message_size must be from 0 to 1,000,000 bytes"),
            (not (self.protocol == "share" and (self.parallel > 1 or self.pause_resume)),
             "a share group takes neither parallel processing nor a pause/resume buffer (it has no partitions "
             "to pause): turn them off"),
            (self.target_lag > 0 and self.lag_threshold > 0 and self.max_replicas >= 1 and self.buffer_size >= 2
             and self.quota_kb > 0, "target_lag, lag_threshold, buffer_size and quota_kb must be positive"),
        ]
        for ok, why in checks:
            if not ok:
                raise ValueError(f"playground settings: {why}")

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, tuple[Settings, str]] = {
    "healthy": (Settings(rate=500, consumers=1, processing_ms=1.0),
                "λ = 500 msg/s < μ = 1,000: lag stays near zero. Raise the rate past 1,000 and watch it climb."),
    "overloaded": (Settings(rate=2_000, consumers=1, processing_ms=1.0),
                   "λ = 2,000 > μ = 1,000: lag grows at about 1,000 msg/s. Add consumers until it falls."),
    "hot key": (Settings(rate=2_000, consumers=4, processing_ms=1.0, keys="hot"),
                "4 consumers could do 4,000 msg/s, but one key is half the traffic: its partition gets 1,250 msg/s, "
                "more than one consumer's 1,000. More consumers do not help; the status line names the partition."),
    "stalled": (Settings(rate=1_000, consumers=1, model="stuck", time_limit=60),
                "After 3 s the consumer hangs on a message but keeps committing the same offset: once Burrow's 20 s "
                "window is full the status reads STALL (a consumer that never committed would read STOP), and the "
                "lag grows at the full 1,000 msg/s."),
    "bursty": (Settings(rate=600, profile="burst ×3", consumers=1, processing_ms=1.0),
               "Bursts of 1,800 msg/s for 2 s every 10 s against μ = 1,000: lag piles up in each burst and drains "
               "between them. The log absorbs bursts: that is what it is for."),
    "rate-limited (AIMD)": (Settings(rate=2_000, consumers=1, processing_ms=1.0, aimd=True, target_lag=1_000),
                            "The source wants 2,000 msg/s; AIMD holds the producer near μ = 1,000 and the lag near "
                            "its target (the saw-tooth). Change the processing time and watch it adapt."),
    "autoscaled (KEDA)": (Settings(rate=1_500, consumers=1, processing_ms=2.0, autoscaler=True, lag_threshold=200,
                                   max_replicas=8),
                          "One consumer does 500 msg/s of 1,500: the autoscaler adds replicas as lag builds, up to the "
                          "4 partitions (not 8: KEDA caps at the partition count)."),
    "slow sink (pause/resume)": (Settings(rate=500, consumers=1, processing_ms=5.0, message_size=10_000,
                                          pause_resume=True, buffer_size=1_000),
                                 "A sink at 200 msg/s behind a bounded buffer: the consumer pauses its partitions at "
                                 "1,000 buffered messages and resumes at 500; memory stays bounded, the lag grows "
                                 "in Kafka instead."),
    "parallel inside a consumer": (Settings(rate=1_000, consumers=1, processing_ms=5.0, keys="uniform", parallel=8),
                                   "5 ms of I/O per message: one thread does 200 msg/s, 8 key-ordered threads 1,600. "
                                   "Set parallel to 1 and Start again to compare."),
    "beyond partitions (share group)": (Settings(rate=600, consumers=4, processing_ms=5.0, partitions=1,
                                                 protocol="share"),
                                        "4 share consumers on 1 partition: 800 msg/s between them, where a classic "
                                        "group would be capped at one consumer's 200."),
    "consumer quota": (Settings(rate=2_000, consumers=2, processing_ms=0.0, quota="consumer", quota_kb=100),
                       "The broker throttles the group to 100 KB/s: under 1,000 msg/s of 100-byte messages with their "
                       "overhead, so lag grows although processing is free."),
}


class Shifted:
    """A rate profile continued from ``offset`` seconds in (a live rate change keeps the profile's clock)."""

    def __init__(self, profile: Callable[[float], float], offset: float) -> None:
        self.profile, self.offset = profile, offset

    def __call__(self, t: float) -> float:
        return float(self.profile(t + self.offset))

    def __str__(self) -> str:
        return f"{self.profile} from t = {self.offset:.0f} s"


def rate_profile(settings: Settings) -> Callable[[float], float]:
    """The producer's rate over time for ``settings`` (base rate, profile, time limit)."""
    r, limit = float(settings.rate), float(settings.time_limit)
    if settings.profile == "step ×2":
        return Step(r, 2 * r, limit / 3)
    if settings.profile == "burst ×3":
        return Burst(r, 3 * r, 10.0, 0.2)
    if settings.profile == "ramp":
        return Ramp(r / 4, 2 * r, limit)
    return Constant(r)


def processing_model(model: str, ms: float) -> Processing:
    """The processing model ``model`` with a mean of ``ms`` milliseconds per message."""
    s = float(ms) / 1000.0
    if model == "stuck":
        return fixed(STUCK_SECONDS)
    if s == 0:
        return fixed(0.0)
    return {"fixed": fixed, "exponential": exponential, "lognormal": lognormal, "cpu": cpu}[model](s)


def describe(settings: Settings) -> str:
    """A run's label for ``settings``: the preset's name when they are a preset's, else the knobs that set the load
    and the mitigations that are on ("2,000 msg/s · 2 consumers · 1 ms · AIMD")."""
    for name, (preset, _) in PRESETS.items():
        if dataclasses.replace(preset, time_limit=settings.time_limit) == settings:
            return name
    s = settings
    parts = [f"{s.rate:,.0f} msg/s", f"{s.consumers} consumer{'s' if s.consumers != 1 else ''}",
             f"{s.processing_ms:g} ms"]
    parts += [name for name, on in (("AIMD", s.aimd), ("autoscaler", s.autoscaler), ("pause/resume", s.pause_resume),
                                    (f"{s.parallel} threads", s.parallel > 1), (f"{s.quota} quota", s.quota != "off"))
              if on]
    return " · ".join(parts)


def experiment_arguments(settings: Settings, *, client_id: str | None = None,
                         label: str | None = None) -> dict[str, Any]:
    """The :class:`~kafkabp.experiment.Experiment` arguments for ``settings``: the flat knobs and the
    :mod:`~kafkabp.specs` (``producer``, ``group``, ``observe``), with fresh mitigation objects each time.

    ``client_id``: the client id the quota applies to (the producer's or the consumers', as ``settings.quota`` says);
    ``label``: the run's name in figures and tables (default: :func:`describe`).
    """
    s = settings
    mitigations: list[Any] = []
    if s.aimd:
        # the source offers the rate; AIMD lets through what the lag allows, starting low
        mitigations.append(AIMD(target_lag=s.target_lag, increase=100, decrease=0.7, start_rate=min(s.rate, 500.0),
                                max_rate=s.rate))
    if s.autoscaler:
        mitigations.append(Autoscaler(lag_threshold=s.lag_threshold, min_replica_count=1,
                                      max_replica_count=s.max_replicas, polling_interval=1, stabilization_window=10,
                                      policy_period=3))
    quota = {"client.id": client_id} if s.quota != "off" and client_id else {}
    producer = Producer(message_size=s.message_size, keys=None if s.keys == "none" else s.keys,
                        hot_fraction=HOT_FRACTION, config=quota if s.quota == "producer" else {})
    group = Group(protocol=s.protocol, parallel=s.parallel,
                  buffer=Buffer(s.buffer_size, when_full="pause") if s.pause_resume else None,
                  commit_while_busy=s.model == "stuck", config=quota if s.quota == "consumer" else {})
    return dict(rate=rate_profile(s), consumers=s.consumers,
                processing=processing_model("fixed" if s.model == "stuck" else s.model, s.processing_ms),  # hangs later
                partitions=s.partitions, label=label or describe(s), mitigations=mitigations,
                producer=producer, group=group, observe=OBSERVE)


__all__ = ["HOT_FRACTION", "KEYS", "MESSAGE_SIZES", "MODELS", "OBSERVE", "PRESETS", "PROFILES", "PROTOCOLS", "QUOTAS",
           "STUCK_AFTER", "STUCK_SECONDS", "Settings", "Shifted", "TIME_LIMITS", "describe", "experiment_arguments",
           "processing_model", "rate_profile"]

"""Solutions to the exercises of lesson 10, "Retention: when lag outruns it, data is gone".

Exercise (≈ 10 min): when will the first message be lost?
    Write ``time_to_loss(retention_s, produce_rate, consume_rate, fraction=1.0)``: the seconds from a start with
    no lag until the group's time lag reaches ``fraction`` × retention, for producers at ``produce_rate`` (λ) and
    consumers at ``consume_rate`` (μ). ``fraction=1.0`` is when retention starts deleting what the group has not
    read yet; ``fraction=0.8`` is when an alert at 80 % of retention fires. Never (``math.inf``) if μ ≥ λ.

Bonus: ``warning_s(...)`` is the time an alert at ``fraction`` gives you before the loss, and
``retention_for(...)`` the retention that gives you a wanted warning; ``verify(...)`` runs a short experiment on
the broker and returns the predicted and measured times.
"""

from __future__ import annotations

import math
from typing import Any

import kafkabp

SMALL_PREFETCH = {"queued.min.messages": 500, "max.partition.fetch.bytes": 32_768}  # as the lesson


def time_to_loss(retention_s: float, produce_rate: float, consume_rate: float, fraction: float = 1.0) -> float:
    """Seconds until the time lag reaches ``fraction × retention_s``, starting from no lag.

    The consumers read at μ, the producers write at λ. After ``t`` seconds the group has read μ·t messages,
    the ones produced in the first μ·t / λ seconds, so the message it reads next is ``t − μ·t/λ`` old:

        time lag(t) = t · (1 − μ/λ)         → reaches f·R at  t = f·R / (1 − μ/λ)

    Each second of wall time adds (1 − μ/λ) seconds of time lag: half a second when μ is half of λ, a full
    second when the consumers stop (μ = 0), nothing when they keep up (μ ≥ λ: never).

    >>> time_to_loss(10, 2_000, 1_000)            # μ = λ/2: time lag grows 0.5 s per s
    20.0
    >>> time_to_loss(10, 2_000, 1_000, fraction=0.8)
    16.0
    >>> time_to_loss(10, 2_000, 0)                # a stopped group loses the oldest message after R
    10.0
    >>> time_to_loss(10, 2_000, 2_500)
    inf
    """
    if retention_s <= 0:
        raise ValueError(f"retention_s must be > 0 seconds, got {retention_s!r}")
    if produce_rate < 0 or consume_rate < 0:
        raise ValueError("produce_rate and consume_rate must be >= 0 msg/s")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    if produce_rate == 0 or consume_rate >= produce_rate:
        return math.inf  # nothing arrives, or the consumers keep up: the time lag does not grow
    return fraction * retention_s / (1.0 - consume_rate / produce_rate)


def warning_s(retention_s: float, produce_rate: float, consume_rate: float, fraction: float = 0.8) -> float:
    """Seconds between an alert at ``fraction`` of retention and the first loss: (1 − f)·R / (1 − μ/λ).

    >>> round(warning_s(7 * 86_400, 2_000, 1_000, fraction=0.8) / 86_400, 6)  # days: 7-day retention, μ = λ/2
    2.8
    """
    return (time_to_loss(retention_s, produce_rate, consume_rate)
            - time_to_loss(retention_s, produce_rate, consume_rate, fraction))


def retention_for(warning: float, produce_rate: float, consume_rate: float, fraction: float = 0.8) -> float:
    """The retention (s) that gives an alert at ``fraction`` ``warning`` seconds before the first loss.

    >>> round(retention_for(3_600, 2_000, 0, fraction=0.8) / 3_600, 6)  # a stopped group, 1 h to react: hours
    5.0
    """
    if fraction >= 1 or warning < 0:
        raise ValueError("fraction must be < 1 and warning >= 0")
    if consume_rate >= produce_rate:
        return 0.0  # no loss to warn about
    return warning * (1.0 - consume_rate / produce_rate) / (1.0 - fraction)


def verify(retention_s: float = 4.0, rate: float = 2_000, processing_s: float = 0.001, duration: float = 18.0,
           fractions: tuple[float, ...] = (0.5, 0.8), progress: bool = False) -> dict[str, Any]:
    """Run one consumer (``processing_s`` per message, 2 partitions) behind a producer at ``rate`` msg/s on a topic
    keeping ``retention_s`` seconds in segments of 0.5 s, and compare ``time_to_loss`` with what happened.

    μ is measured (messages processed per second before the first loss), not assumed: on a loaded machine a
    1 ms sleep takes longer. Returns the Result, μ, and per fraction the predicted and measured alert times,
    plus the predicted and measured first loss (the measured one is later: see the lesson's Explain).
    """
    r = kafkabp.run_experiment(duration, rate=rate, consumers=1, partitions=2, processing=kafkabp.fixed(processing_s),
                               topic=kafkabp.Topic(config={"retention.ms": int(retention_s * 1000), "segment.ms": 500}),
                               group=kafkabp.Group(config=SMALL_PREFETCH), progress=progress, label="verify time_to_loss")
    alerts = kafkabp.time_lag_alerts(r, retention_s, fractions)
    loss_at = float(alerts["loss_at"].iloc[0])
    tp = r.throughput(1.0)
    until = loss_at if math.isfinite(loss_at) else duration
    mu = float(tp[(tp["t"] >= 2) & (tp["t"] < until - 1)]["rate"].mean())
    return {
        "result": r, "mu": mu,
        "alerts": {f: (time_to_loss(retention_s, rate, mu, f), float(row.fired_at))
                   for f, row in zip(fractions, alerts.itertuples())},
        "loss": (time_to_loss(retention_s, rate, mu), loss_at),
    }

"""The solution to lesson 11's exercise: KEDA's cap and one HPA step, against kafkabp's port, and on a real broker."""

from __future__ import annotations

import random

import pytest

import kafkabp
from _solutions import load_solution

solutions = load_solution("solutions_11")


def _keda(lags: list[int], threshold: int, current: int, max_replicas: int, allow_idle: bool) -> int:
    """kafkabp's port of KEDA and the HPA, without stabilization and policies: the reference."""
    trigger = kafkabp.keda.KafkaTrigger(lag_threshold=threshold, allow_idle_consumers=allow_idle)
    metric = kafkabp.keda.scaler_metric(trigger, [(x, x) for x in lags]).metric
    return max(1, min(max_replicas, kafkabp.keda.hpa_replicas(current, metric, threshold)))


@pytest.mark.parametrize(("lags", "threshold", "current", "allow_idle", "expected"), [
    ([0, 0, 0, 0], 50, 1, False, 1),  # nothing waits: the floor of 1
    ([0, 0, 0, 0], 50, 4, False, 1),  # ... also from 4 replicas
    ([50, 50, 50, 50], 50, 1, False, 4),  # 200 / 50
    ([300, 300, 300, 300], 100, 1, False, 4),  # capped at 4 partitions
    ([300, 300, 300, 300], 100, 1, True, 8),  # allowIdleConsumers: 12, then maxReplicaCount 8
    ([120, 120, 120, 120], 100, 1, False, 5),  # Go's integer division: 480 // 100 = 4, not > 4: ceil(4.8) = 5
    ([125, 125, 125, 125], 100, 1, False, 4),  # 500 // 100 = 5 > 4: capped
    ([105, 105, 105, 105], 100, 4, False, 4),  # ratio 1.05: within tolerance
    ([110, 110, 110, 110], 100, 4, False, 4),  # ratio 1.10: the edge is within
    ([111, 111, 111, 111], 100, 4, False, 5),  # ratio 1.11: outside, and uncapped (444 // 100 = 4)
    ([90, 90, 90, 90], 100, 4, False, 4),  # ratio 0.90: within
    ([80, 80, 80, 80], 100, 4, False, 4),  # ratio 0.80: outside, but ceil(3.2) = 4
    ([70, 70, 70, 70], 100, 4, False, 3),
    ([900, 0, 0, 0], 100, 1, False, 4),  # the cap counts partitions, not partitions with lag
])
def test_replicas(lags: list[int], threshold: int, current: int, allow_idle: bool, expected: int) -> None:
    assert solutions.replicas(lags, threshold, current, 8, allow_idle) == expected
    assert _keda(lags, threshold, current, 8, allow_idle) == expected  # the table agrees with kafkabp's port too


def test_agrees_with_kafkabps_port_of_keda_on_random_cases() -> None:
    rng = random.Random(11)
    for _ in range(3_000):
        partitions = rng.randint(1, 12)
        threshold = rng.choice([1, 10, 50, 100, 1_000])
        lags = [rng.choice([0, rng.randint(0, 3 * threshold), rng.randint(0, 50 * threshold)]) for _ in range(partitions)]
        current, max_replicas = rng.randint(1, 16), rng.randint(1, 16)
        allow_idle = rng.random() < 0.3
        got = solutions.replicas(lags, threshold, current, max_replicas, allow_idle)
        assert got == _keda(lags, threshold, current, max_replicas, allow_idle), (lags, threshold, current, max_replicas)


def test_arguments_are_checked() -> None:
    for bad in (dict(lag_threshold=0, current=1), dict(lag_threshold=10, current=0)):
        with pytest.raises(ValueError):
            solutions.replicas([1, 2], **bad)


def test_the_simple_scaler_is_a_mitigation() -> None:
    s = solutions.SimpleScaler(lag_threshold=50)
    assert callable(s.on_start) and callable(s.on_sample) and s.history().empty


@pytest.mark.integration
def test_the_simple_scaler_scales_a_live_group(kafka_bootstrap: str) -> None:
    scaler = solutions.SimpleScaler(lag_threshold=50)
    r = solutions.verify(scaler)
    assert r.summary.lost == 0 and r.summary.failed == 0, r.summary
    h = r.controls[scaler.name]
    assert h["replicas"].max() >= 4, h  # scaled up under the step
    assert h["replicas"].max() <= 5, h  # capped at the partitions (+1 at KEDA's border)
    assert h["replicas"].iloc[-1] <= 2, h  # and down once the load dropped (no window: at once)

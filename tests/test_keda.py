"""KEDA's Kafka scaler and the HPA step (kafkabp.keda), table-driven; the Autoscaler on paper and on a live group.

Where KEDA's kafka_scaler_test.go has a table (parsePartitionLimitation, FindFactors, the next factor, lag for a
partition with a missing offset, metadata validation), the cases below are its cases.
"""

from __future__ import annotations

import math

import pytest

import kafkabp
from kafkabp import keda
from kafkabp.mitigations import Autoscaler, PartitionLag, Sample

T = keda.KafkaTrigger


# ------------------------------------------------------------------ KEDA's own tables


@pytest.mark.parametrize(("text", "expected"), [
    ("1", (1,)),
    ("1,2,3,4", (1, 2, 3, 4)),
    (" 1 , 2 , 3 ", (1, 2, 3)),
    ("1-4", (1, 2, 3, 4)),
    ("3-3", (3,)),
    (" 1 - 4 ", (1, 2, 3, 4)),
    ("1-4,8,10-12", (1, 2, 3, 4, 8, 10, 11, 12)),
])
def test_parse_partition_limitation(text: str, expected: tuple[int, ...]) -> None:
    assert keda.parse_partition_limitation(text) == expected


@pytest.mark.parametrize("text", ["a,b,c", "1-2-3", "a-3", "1-b", "1_0", ""])
def test_parse_partition_limitation_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        keda.parse_partition_limitation(text)


@pytest.mark.parametrize(("n", "factors"), [
    (10, [1, 2, 5, 10]), (13, [1, 13]), (17, [1, 17]), (25, [1, 5, 25]), (50, [1, 2, 5, 10, 25, 50]),
    (100, [1, 2, 4, 5, 10, 20, 25, 50, 100]), (0, []), (1, [1]),
])
def test_find_factors(n: int, factors: list[int]) -> None:
    assert keda.find_factors(n) == factors


@pytest.mark.parametrize(("total", "partitions", "threshold", "factor"), [
    (10, 100, 10, 1), (20, 100, 10, 2), (40, 100, 10, 4), (50, 100, 10, 5), (99, 100, 10, 10),
    (100, 100, 10, 10), (101, 100, 10, 20),
    (0, 4, 10, 1),  # no lag still rounds up to the factor 1: one lagThreshold's worth
    (10_000, 4, 10, 4),  # past every factor: the partition count
])
def test_next_factor(total: int, partitions: int, threshold: int, factor: int) -> None:
    assert keda.next_factor(total, partitions, threshold) == factor


# TestGetLagForPartition_MissingPartition: (committed, log end or None, policy, scaleToZeroOnInvalidOffset, lag)
@pytest.mark.parametrize(("committed", "log_end", "policy", "to_zero", "lag"), [
    (keda.INVALID_OFFSET, None, "earliest", True, 0),  # returns early, without the log end offset
    (keda.INVALID_OFFSET, None, "earliest", False, 0),  # missing partition: 0, not an error
    (100, None, "earliest", False, 0),  # valid offset, missing partition: 0
    (100, 150, "earliest", False, 50),  # the normal case
    (keda.INVALID_OFFSET, 150, "latest", True, 0),
])
def test_lag_for_partition_keda_table(committed: int, log_end: int | None, policy: str, to_zero: bool, lag: int) -> None:
    trigger = T(offset_reset_policy=policy, scale_to_zero_on_invalid_offset=to_zero)
    res = keda.partition_lag(trigger, committed, log_end)
    assert (res.lag, res.lag_with_persistent) == (lag, lag)


@pytest.mark.parametrize(("metadata", "ok"), [
    ({"lagThreshold": "-1"}, False),
    ({"lagThreshold": "0"}, False),
    ({"lagThreshold": "1000000", "activationLagThreshold": "0"}, True),
    ({"lagThreshold": "10", "activationLagThreshold": "AA"}, False),
    ({"lagThreshold": "10", "activationLagThreshold": "0"}, True),
    ({"partitionLimitation": "1,2,3,4"}, True),
    ({"partitionLimitation": "a,b,c,d"}, False),
    ({"partitionLimitation": "           "}, True),  # whitespace only: no limitation
    ({"offsetResetPolicy": "latest"}, True),
    ({"offsetResetPolicy": "foo"}, False),
    ({"offsetResetPolicy": "earliest"}, True),
    ({"allowIdleConsumers": "notvalid"}, False),
    ({"allowIdleConsumers": "true"}, True),
    ({"excludePersistentLag": "notvalid"}, False),
    ({"excludePersistentLag": "true"}, True),
    ({"limitToPartitionsWithLag": "true"}, True),
    ({"limitToPartitionsWithLag": "notvalid"}, False),
    ({"allowIdleConsumers": "true", "limitToPartitionsWithLag": "true"}, False),
    ({"allowIdleConsumers": "true", "limitToPartitionsWithLag": "false"}, True),
    ({"ensureEvenDistributionOfPartitions": "true"}, True),
    ({"ensureEvenDistributionOfPartitions": "true", "limitToPartitionsWithLag": "true"}, False),
    ({"bootstrapServers": "foobar:9092", "consumerGroup": "my-group", "topic": "my-topic"}, True),
    ({"lagTreshold": "10"}, False),  # a typo is an error, not a silent default
])
def test_trigger_metadata_validation(metadata: dict[str, str], ok: bool) -> None:
    if ok:
        trigger = T.from_metadata(metadata)
        assert T.from_metadata(trigger.metadata()) == trigger
    else:
        with pytest.raises(ValueError):
            T.from_metadata(metadata)


def test_trigger_defaults_and_names_are_kedas() -> None:
    t = T()
    assert (t.lag_threshold, t.activation_lag_threshold, t.offset_reset_policy) == (10, 0, "latest")
    assert not any((t.allow_idle_consumers, t.exclude_persistent_lag, t.scale_to_zero_on_invalid_offset,
                    t.limit_to_partitions_with_lag, t.ensure_even_distribution_of_partitions))
    assert set(keda.KEDA_NAMES.values()) == {
        "lagThreshold", "activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers", "excludePersistentLag",
        "scaleToZeroOnInvalidOffset", "limitToPartitionsWithLag", "ensureEvenDistributionOfPartitions",
        "partitionLimitation"}
    assert T.from_metadata({"partitionLimitation": "0-2"}).partition_limitation == (0, 1, 2)


# ------------------------------------------------------------------ one partition


@pytest.mark.parametrize(("committed", "log_end", "policy", "to_zero", "lag"), [
    (None, 500, "latest", False, 1),  # never committed, latest: 1, whatever waits
    (None, 500, "latest", True, 0),
    (None, 500, "earliest", False, 500),  # earliest: the log end offset itself
    (None, 500, "earliest", True, 0),
    (-1, 500, "earliest", False, 500),  # -1 is KEDA's (sarama's) "no offset"
    (200, 500, "latest", False, 300),
    (500, 500, "latest", False, 0),
])
def test_partition_lag(committed: int | None, log_end: int, policy: str, to_zero: bool, lag: int) -> None:
    res = keda.partition_lag(T(offset_reset_policy=policy, scale_to_zero_on_invalid_offset=to_zero), committed, log_end)
    assert res.lag == res.lag_with_persistent == lag


def test_exclude_persistent_lag_remembers_the_last_offset() -> None:
    """A partition whose committed offset did not move since the last poll counts 0 for the metric, but still
    counts for activity; the first poll (nothing remembered) and any progress count in full."""
    t = T(exclude_persistent_lag=True)
    first = keda.partition_lag(t, 100, 150, None)
    assert (first.lag, first.lag_with_persistent, first.previous_offset) == (50, 50, 100)
    stuck = keda.partition_lag(t, 100, 170, first.previous_offset)
    assert (stuck.lag, stuck.lag_with_persistent, stuck.previous_offset) == (0, 70, 100)
    moved = keda.partition_lag(t, 120, 170, stuck.previous_offset)
    assert (moved.lag, moved.lag_with_persistent, moved.previous_offset) == (50, 50, 120)
    plain = keda.partition_lag(T(), 100, 170, 100)  # without the option: no memory, full lag
    assert (plain.lag, plain.previous_offset) == (70, 100)


def test_persistent_lag_through_the_scaler_keeps_activity_but_not_the_metric() -> None:
    s = keda.KafkaScaler(T(lag_threshold=10, exclude_persistent_lag=True))
    parts = [(0, 100, 150), (1, 40, 40)]
    m1 = s.poll(parts)
    assert (m1.total_lag, m1.total_lag_with_persistent, m1.active) == (50, 50, True)
    m2 = s.poll([(0, 100, 180), (1, 40, 40)])  # partition 0 stuck at 100
    assert (m2.total_lag, m2.total_lag_with_persistent, m2.metric, m2.active) == (0, 80, 0, True)


# ------------------------------------------------------------------ the group: cap, activity, even distribution


@pytest.mark.parametrize(("options", "lags", "metric"), [
    ({}, [100, 100, 100, 100], 400),  # 400 / 100 = 4, not > 4 partitions
    ({}, [300, 300, 300, 300], 400),  # capped at 4 partitions × lagThreshold
    ({}, [120, 120, 120, 120], 480),  # Go's integer division: 480 / 100 = 4, not capped, and ceil(4.8) = 5 replicas
    ({}, [125, 125, 125, 125], 400),  # 500 / 100 = 5 > 4: capped
    ({"allow_idle_consumers": True}, [300, 300, 300, 300], 1200),  # no cap: 12 replicas for 4 partitions
    ({"limit_to_partitions_with_lag": True}, [900, 0, 0, 0], 100),  # one partition with lag: one replica
    ({"limit_to_partitions_with_lag": True}, [150, 150, 0, 0], 200),
    ({"ensure_even_distribution_of_partitions": True}, [100, 100, 100, 0], 400),  # 3 replicas -> 4 (a factor of 4)
    ({"ensure_even_distribution_of_partitions": True}, [60, 60, 0, 0], 200),  # 2 divides 4: stays 2
    ({"ensure_even_distribution_of_partitions": True}, [0, 0, 0, 0], 100),  # never under one lagThreshold
    ({"ensure_even_distribution_of_partitions": True, "allow_idle_consumers": True}, [900, 900, 900, 900], 400),
    ({}, [0, 0, 0, 0], 0),
])
def test_group_metric_with_the_partition_cap(options: dict[str, bool], lags: list[int], metric: int) -> None:
    trigger = T(lag_threshold=100, **options)
    m = keda.scaler_metric(trigger, [(x, x) for x in lags])
    assert m.total_lag == sum(lags)
    assert m.metric == metric, m
    assert m.capped == (metric != sum(lags))


@pytest.mark.parametrize(("activation", "total", "active"), [(0, 0, False), (0, 1, True), (100, 100, False), (100, 101, True)])
def test_activity_is_total_lag_above_activation_lag_threshold(activation: int, total: int, active: bool) -> None:
    assert keda.is_active(T(activation_lag_threshold=activation), total) is active


def test_partition_limitation_counts_only_the_listed_partitions() -> None:
    s = keda.KafkaScaler(T(lag_threshold=10, partition_limitation="0-1"))
    m = s.poll([PartitionLag(p, 1_000, 0, 1_000) for p in range(4)])
    assert (m.partitions, m.total_lag, m.metric) == (2, 2_000, 20)  # capped at 2 partitions
    with pytest.raises(ValueError, match="at least one active partition"):
        keda.KafkaScaler(T(partition_limitation="7")).poll([(0, 1, 2)])


def test_a_committed_offset_past_the_log_end_counts_negative_as_in_keda_and_wants_no_replica() -> None:
    """KEDA's getLagForPartition returns latestOffset - consumerOffset unclamped (the two are read concurrently);
    the port keeps that metric, and the replicas it asks for bottom out at 0, the HPA's floor at min replicas."""
    s = keda.KafkaScaler(T(lag_threshold=10))
    m = s.poll([PartitionLag(0, 1_000, 1_030, -30), PartitionLag(1, 1_000, 1_000, 0)])
    assert (m.total_lag, m.metric, m.partitions_with_lag, m.replicas_wanted) == (-30, -30, 0, 0)
    assert not m.active
    hpa = keda.HPA(min_replicas=1, max_replicas=4)
    assert hpa.step(0.0, 2, m.metric, 10).replicas >= 1  # the floor holds, whatever the window keeps


def test_a_new_group_scales_to_one_replica_not_to_its_backlog() -> None:
    """latest (KEDA's default): 1 per partition never committed, so 4 uncommitted partitions ask for one replica."""
    s = keda.KafkaScaler(T(lag_threshold=10))
    m = s.poll([PartitionLag(p, 10_000, None, 10_000) for p in range(4)])
    assert (m.total_lag, m.metric, m.active, m.replicas_wanted) == (4, 4, True, 1)
    m = keda.KafkaScaler(T(lag_threshold=10, offset_reset_policy="earliest")).poll(
        [PartitionLag(p, 10_000, None, 10_000) for p in range(4)])
    assert (m.total_lag, m.metric, m.replicas_wanted) == (40_000, 40, 4)


# ------------------------------------------------------------------ KEDA's executor: 0 <-> 1


@pytest.mark.parametrize(("active", "current", "min_count", "last_active", "now", "expected"), [
    (True, 0, 0, None, 10.0, 1),  # activation from zero: 1 replica
    (True, 0, 3, None, 10.0, 3),  # ... or minReplicaCount
    (True, 2, 0, 5.0, 10.0, None),  # active with replicas: the HPA's business
    (False, 2, 0, 5.0, 10.0, None),  # cooling down (300 s)
    (False, 2, 0, 5.0, 306.0, 0),  # cooldownPeriod over: scale to zero
    (False, 2, 0, None, 1.0, 0),  # never active, initialCooldownPeriod 0: at once
    (False, 2, 1, None, 1000.0, None),  # minReplicaCount >= 1: never to zero
    (False, 0, 2, None, 1.0, 2),  # below minReplicaCount: up to it
])
def test_keda_executor(active: bool, current: int, min_count: int, last_active: float | None, now: float,
                       expected: int | None) -> None:
    replicas, _ = keda.keda_executor(active, current, min_count, last_active, now, 300.0)
    assert replicas == expected


# ------------------------------------------------------------------ the HPA


@pytest.mark.parametrize(("current", "metric", "target", "expected"), [
    (1, 450, 100, 5),  # ceil(450 / 100)
    (4, 400, 100, 4),
    (4, 440, 100, 4),  # ratio 1.10: within the 10 % tolerance
    (4, 441, 100, 5),  # ratio 1.1025: outside
    (4, 360, 100, 4),  # ratio 0.90: within
    (4, 359, 100, 4),  # ratio 0.8975: outside, and ceil(3.59) = 4 anyway
    (4, 300, 100, 3),
    (50, 50 * 90, 75, 60),  # the docs' example: 50 replicas at 90 against a target of 75 -> 60
    (3, 0, 100, 0),  # no lag: 0 (minReplicas brings it back up)
    (0, 250, 100, 3),
])
def test_hpa_replicas_with_tolerance(current: int, metric: int, target: int, expected: int) -> None:
    assert keda.hpa_replicas(current, metric, target) == expected


def test_a_tolerance_per_direction() -> None:
    """KEP-4951: scale up on any excess (up 0), down only past 10 % (down 0.1)."""
    assert keda.hpa_replicas(4, 420, 100, (0.1, 0.0)) == 5
    assert keda.hpa_replicas(4, 370, 100, (0.1, 0.0)) == 4
    assert keda.within_tolerance(4, 440, 100) and not keda.within_tolerance(4, 441, 100)
    assert not keda.within_tolerance(0, 0, 100)


@pytest.mark.parametrize(("recs", "now", "current", "desired", "down", "expected"), [
    ([], 10.0, 4, 1, 5.0, 1),  # nothing recorded: follow the desire
    ([(6.0, 4), (8.0, 3)], 10.0, 4, 1, 5.0, 4),  # the highest of the last 5 s holds
    ([(4.0, 4), (8.0, 3)], 10.0, 4, 1, 5.0, 3),  # 4.0 is out of the window: 3
    ([(5.0, 4)], 10.0, 4, 1, 5.0, 1),  # exactly at the cutoff is out (After, strictly)
    ([(9.0, 1)], 10.0, 1, 4, 5.0, 4),  # scale-up is not stabilized by default (window 0 s)
    ([(9.0, 2)], 10.0, 4, 3, 5.0, 3),
])
def test_scale_down_stabilization(recs: list[tuple[float, int]], now: float, current: int, desired: int, down: float,
                                  expected: int) -> None:
    assert keda.stabilize(recs, now, current, desired, 0.0, down) == expected


def test_scale_up_stabilization_takes_the_lowest_recent_recommendation() -> None:
    assert keda.stabilize([(8.0, 2), (9.0, 5)], 10.0, 1, 6, scale_up_window=3.0, scale_down_window=0.0) == 2


@pytest.mark.parametrize(("current", "ups", "downs", "limit"), [
    (1, [], [], 5),  # +4 beats x2
    (5, [], [], 10),  # x2 beats +4
    (5, [(9.0, 4)], [], 5),  # 1 -> 5 within the period: start 1, so 5 is all that is allowed
    (5, [(-10.0, 4)], [], 10),  # that event is older than the period
    (3, [], [(9.0, 2)], 10),  # start of period 5: 5 x 2
])
def test_default_scale_up_policy(current: int, ups: list[tuple[float, int]], downs: list[tuple[float, int]], limit: int) -> None:
    assert keda.scale_up_limit(current, ups, downs, now=10.0, period=15.0) == limit


def test_hpa_step_scales_up_at_once_and_down_only_after_the_window() -> None:
    hpa = keda.HPA(min_replicas=1, max_replicas=8, scale_down_stabilization=5.0, policy_period=15.0)
    steps = [(0.0, 1, 40), (1.0, 1, 450), (2.0, 5, 400), (3.0, 5, 50), (4.0, 5, 0), (6.1, 5, 0), (7.5, 4, 0)]
    got = [hpa.step(t, cur, metric, 100).replicas for t, cur, metric in steps]
    # 450 -> 5 at once. Then the metric asks for 4, 1, 0, but 5 was recommended at 1 s: held while that is
    # within the last 5 s; at 6.1 s the highest left is the 4 of 2 s; at 7.5 s the 1 of 3 s
    assert got == [1, 5, 5, 5, 5, 4, 1], got


def test_hpa_step_respects_min_max_and_the_policy() -> None:
    hpa = keda.HPA(min_replicas=2, max_replicas=6, scale_down_stabilization=0.0)
    assert hpa.step(0.0, 2, 5_000, 100).replicas == 6  # wants 50: maxReplicas
    assert hpa.step(1.0, 6, 0, 100).replicas == 2  # wants 0: minReplicas
    assert hpa.step(2.0, 9, 900, 100).replicas == 6  # above max: max, whatever the metric
    assert hpa.step(3.0, 0, 900, 100).replicas == 0  # 0 replicas: the HPA is disabled, KEDA activates
    slow = keda.HPA(max_replicas=100, scale_down_stabilization=0.0)
    assert slow.step(0.0, 1, 5_000, 100).replicas == 5  # +4 in a period
    assert slow.step(1.0, 5, 5_000, 100).replicas == 5  # that used the period's allowance
    assert slow.step(16.5, 5, 5_000, 100).replicas == 10  # a new period: x2


# ------------------------------------------------------------------ the Autoscaler, without a broker


def _sample(t: float, lags: list[int], consumers: int) -> Sample:
    parts = tuple(PartitionLag(p, 10_000, 10_000 - lag, lag) for p, lag in enumerate(lags))
    return Sample(t, sum(lags), 0.0, 0.0, 0.0, math.inf, consumers, parts)


def test_autoscaler_decides_like_keda_and_the_hpa() -> None:
    a = Autoscaler(lag_threshold=50, min_replica_count=1, max_replica_count=8, polling_interval=1,
                   stabilization_window=3)
    calls: list[int] = []
    current = 1
    for t, lags in [(0, [5, 5, 5, 5]), (1, [200, 200, 200, 200]), (2, [500] * 4), (3, [10] * 4), (4, [0] * 4),
                    (5, [0] * 4), (6, [0] * 4)]:
        current = a.decide(_sample(t, lags, current), current, calls.append)
    h = a.history()
    # up at once at 1 s; the lag is gone at 3 s, but 4 was recommended at 2 s: held until 2 + 3 s
    assert list(h["replicas"]) == [1, 4, 4, 4, 4, 1, 1], h
    assert calls == [4, 1]
    assert list(h["metric"])[1:3] == [200, 200] and bool(h["capped"].iloc[1]) and list(h["total_lag"])[1] == 800
    assert {"total_lag", "metric", "active", "desired", "replicas", "reason", "current"} <= set(h.columns)


def test_autoscaler_allow_idle_consumers_goes_past_the_partitions() -> None:
    a = Autoscaler(lag_threshold=50, allow_idle_consumers=True, min_replica_count=1, max_replica_count=8,
                   polling_interval=1, policy_period=1)
    assert a.decide(_sample(0, [500] * 4, 4), 4) == 8


def test_autoscaler_from_keda_spelling_and_validation() -> None:
    a = Autoscaler.from_keda({"lagThreshold": "50", "allowIdleConsumers": "true"}, minReplicaCount=1,
                             maxReplicaCount=8, pollingInterval=1, stabilizationWindowSeconds=5)
    assert a.lag_threshold == 50 and a.trigger.allow_idle_consumers and a.hpa.max_replicas == 8
    assert a.polling_interval == 1 and a.hpa.scale_down_stabilization == 5 and a.hpa.min_replicas == 1
    assert "lagThreshold 50" in a.name
    with pytest.raises(TypeError):
        Autoscaler.from_keda({}, maxReplicas=3)
    with pytest.raises(ValueError):
        Autoscaler(min_replica_count=3, max_replica_count=2)
    with pytest.raises(ValueError):
        Autoscaler(lag_threshold=0)
    assert kafkabp.Autoscaler is Autoscaler and kafkabp.keda is keda


def test_autoscaler_scales_to_zero_after_the_cooldown_and_back() -> None:
    a = Autoscaler(lag_threshold=10, min_replica_count=0, max_replica_count=4, polling_interval=1,
                   cooldown_period=5, stabilization_window=0)
    current = 1
    seen = []
    for t, lags in [(0, [30, 0]), (1, [0, 0]), (3, [0, 0]), (7, [0, 0]), (8, [0, 0]), (9, [25, 0])]:
        current = a.decide(_sample(t, lags, current), current)
        seen.append(current)
    # 30 on 2 partitions asks for 3, capped at 2; inactive from 1 s, the HPA's floor is 1; once the cooldown
    # since the last activity (0 s) is over, at 7 s: 0; lag again: KEDA activates to 1
    assert seen == [2, 1, 1, 0, 0, 1], seen


# ------------------------------------------------------------------ on a live group


@pytest.mark.integration
def test_autoscaler_scales_a_live_group_up_under_a_load_step_and_down_after(kafka_bootstrap: str) -> None:
    """4 partitions, 10 ms a message (100 msg/s per consumer); 50 msg/s, then 450 from 3 s to 13 s, then 50."""
    scaler = Autoscaler(lag_threshold=50, min_replica_count=1, max_replica_count=8, polling_interval=1,
                        stabilization_window=3)
    load = kafkabp.Step(50, 450, at=3)
    r = kafkabp.run_experiment(26, rate=load, consumers=1, partitions=4, processing=kafkabp.fixed(0.01),
                               producer=kafkabp.Producer(keys="uniform"), group=kafkabp.Group(batch_size=25),
                               mitigations=[scaler], progress=False,
                               actions=[(13, lambda e: e.set_rate(50))])
    h = r.controls[scaler.name]
    assert r.summary["lost"] == 0 and r.summary["failed"] == 0, r.summary
    during = h[(h["t"] >= 6) & (h["t"] < 13)]
    assert during["replicas"].max() >= 4, h  # scaled up to the partitions
    assert h["replicas"].max() <= 5, h  # the cap (+1 at most: KEDA's integer division)
    assert during["capped"].any(), h  # lag past lagThreshold x partitions: the metric was capped
    assert h["replicas"].iloc[-1] <= 2, h  # and back down once the load dropped
    assert (r.timeline["consumers"].diff() < 0).any(), r.timeline
    assert r.summary["final_lag"] < 4 * 50 * 4, r.summary

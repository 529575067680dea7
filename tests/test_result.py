"""The questions lessons ask of a Result, on runs built by hand (no broker): each answer is known exactly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kafkabp.result import EVENT_COLUMNS, Result, Summary


def run(*, rate: float = 100.0, seconds: float = 12.0, left_at: float | None = 10.0, lag_slope: float = 50.0,
        members: int = 2) -> Result:
    """A run whose members each processed ``rate / members`` msg/s, steadily, until ``left_at`` (then stopped),
    and whose lag grew ``lag_slope`` msg/s from t = 2 s on."""
    t = np.arange(0.0, seconds + 0.01, 0.1)
    stop = left_at if left_at is not None else seconds
    processed = pd.DataFrame([{"t": float(x), "member": f"c{m}", "processed": int(min(x, stop) * rate / members)}
                              for x in t for m in range(members)])
    timeline = pd.DataFrame({"t": np.arange(0.0, seconds + 0.01, 0.5)})
    timeline["lag"] = (np.clip(timeline["t"] - 2.0, 0, None) * lag_slope).round()
    events = pd.DataFrame([{"t": left_at, "kind": "left", "member": f"c{m}", "detail": ""} for m in range(members)]
                          if left_at is not None else [], columns=EVENT_COLUMNS)
    return Result("by hand", timeline, pd.DataFrame(), events, pd.Series(dtype=float), {"duration": seconds}, {},
                  processed=processed)


def test_steady_rate_is_what_the_members_processed_until_they_left() -> None:
    r = run(rate=100.0, left_at=10.0)
    assert r.stopped_at() == 10.0
    assert r.steady_rate() == pytest.approx(100.0, abs=1.0)  # bins from 4 s to 10 s, not the idle end
    assert r.steady_rate(statistic="mean") == pytest.approx(100.0, abs=1.0)
    assert r.steady_rate(4.0, 12.0, statistic="mean") < 80.0  # counting the stopped bins shows the stop
    assert math.isnan(r.steady_rate(11.5, 12.0))  # no whole bin fits
    assert run(left_at=None).stopped_at() == 12.0
    with pytest.raises(ValueError, match="'median' or 'mean'"):
        r.steady_rate(statistic="max")


def test_lag_growth_is_the_fitted_slope() -> None:
    assert run(lag_slope=50.0).lag_growth() == pytest.approx(50.0, rel=0.02)
    assert run(lag_slope=0.0).lag_growth() == pytest.approx(0.0, abs=1e-6)
    assert math.isnan(run().lag_growth(9.9, 10.0))  # one sample: no slope


# questions lessons 08-15 ask
def sampled(**columns: list[float]) -> Result:
    """A run whose timeline has one sample a second with these columns (``t`` from 0)."""
    n = len(next(iter(columns.values())))
    timeline = pd.DataFrame({"t": np.arange(float(n)), **columns})
    return Result("by hand", timeline, pd.DataFrame(), pd.DataFrame(columns=EVENT_COLUMNS), pd.Series(dtype=float),
                  {"duration": float(n - 1)}, {})


def test_appended_rate_is_the_log_end_offsets_slope_in_the_window() -> None:
    r = sampled(log_end_offset=[0, 100, 1_100, 2_100, 3_100, 3_200], lag=[0] * 6)
    assert r.appended_rate(1, 4) == pytest.approx(1_000.0)  # 100 -> 3,100 in 3 s
    assert r.appended_rate(0, 5) == pytest.approx(640.0)
    assert math.isnan(r.appended_rate(4.5, 5))  # one sample: no rate


def test_held_memory_is_buffer_plus_prefetch_and_rss_growth_from_the_first_sample() -> None:
    r = sampled(buffered=[np.nan, 10, 20, 5], buffered_mb=[np.nan, 1.0, 2.0, 0.5],
                prefetched_mb=[np.nan, 3.0, np.nan, 1.0], rss_mb=[100.0, 150.0, 130.0, 120.0], lag=[0] * 4)
    held = r.held_mb()
    assert list(held["t"]) == [1.0, 2.0, 3.0] and list(held["held_mb"]) == [4.0, 2.0, 1.5]
    assert r.peak_held_mb() == 4.0 and r.rss_growth_mb() == 50.0


def test_offset_resets_and_missing_sequences_count_what_retention_deleted() -> None:
    r = sampled(lag=[0, 0])
    assert r.missing_sequences() == 0 and r.offset_resets().empty
    r.events = pd.DataFrame([{"t": 1.0, "kind": "offset_reset", "member": "c0", "detail": "p0 -> 500"},
                             {"t": 1.5, "kind": "assign", "member": "c0", "detail": "p0"}], columns=EVENT_COLUMNS)
    r.ledger = {"lost_ranges": {"producer-1": [(10, 19), (40, 40)], "producer-2": [(0, 4)]}}
    assert list(r.offset_resets()["t"]) == [1.0] and r.missing_sequences() == 16


def test_group_size_questions_first_reached_scale_changes_and_lag_at() -> None:
    r = sampled(consumers=[1, 1, 2, 4, 4, 3, 2, 2], lag=[0, 10, 40, 90, 80, 50, 20, 5])
    assert r.first_reached("consumers", 4) == 3.0 and r.first_reached("consumers", 2, after=5) == 5.0
    assert math.isnan(r.first_reached("consumers", 5))
    assert r.scale_changes() == (2, 2)
    assert r.lag_at(3.2) == 90.0 and r.lag_at(100) == 5.0


def test_busy_members_are_those_above_the_rate_in_the_window() -> None:
    r = run(rate=100.0, members=2, left_at=None)  # each member 50 msg/s
    assert r.busy_members(40.0, 2, 10) == 2 and r.busy_members(60.0, 2, 10) == 0


# questions lessons 01-07 ask

def rebalanced() -> Result:
    """Two members own p0-p3; at t = 6 s two more join. c0 gives up p1 and c1 gives up p3 (cooperative):
    the newcomers first get nothing, then one partition each in the second round."""
    rows = [(0.5, "joined", "g-c0", ""), (0.6, "joined", "g-c1", ""), (1.0, "assign", "g-c0", "p0,p1"),
            (1.0, "assign", "g-c1", "p2,p3"), (6.0, "joined", "g-c2", ""), (6.1, "joined", "g-c3", ""),
            (6.5, "revoke", "g-c0", "p1"), (6.5, "revoke", "g-c1", "p3"), (6.6, "assign", "g-c2", "-"),
            (6.6, "assign", "g-c3", "-"), (7.2, "assign", "g-c2", "p1"), (7.3, "assign", "g-c3", "p3"),
            (12.0, "left", "g-c0", "")]
    events = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    # c0 finishes a batch every 0.25 s, but none from 6.4 s to 7.4 s; c1 none from 6.9 s to 7.6 s
    t = np.arange(1.0, 12.0, 0.25)
    c0 = [x for x in t if not 6.4 < x < 7.4]
    c1 = [x for x in t if not 6.9 < x < 7.6]
    processed = pd.DataFrame([{"t": x, "member": m, "processed": int((x - 1.0) * 40) + 10}
                              for m, ts in (("g-c0", c0), ("g-c1", c1)) for x in ts]).sort_values("t")
    parts = pd.DataFrame([{"t": float(x), "topic": "t", "partition": p, "lag": (x * (10 + 20 * p))}
                          for x in np.arange(0.0, 12.01, 0.5) for p in range(4)])
    timeline = pd.DataFrame({"t": np.arange(0.0, 12.01, 0.5)})
    timeline["lag"] = timeline["t"] * 100
    return Result("by hand", timeline, parts, events, pd.Series(dtype=float),
                  {"duration": 12.0, "consumed": int(processed.groupby("member")["processed"].max().sum())}, {},
                  processed=processed, assignment={"g-c0": [0], "g-c1": [2], "g-c2": [1], "g-c3": [3]})


def test_joins_rounds_and_revokes_of_a_rebalance() -> None:
    r = rebalanced()
    assert list(r.joins().index) == ["g-c0", "g-c1", "g-c2", "g-c3"]
    assert r.joins().iloc[2] == 6.0  # the rebalance began when the third member joined
    assert r.assignment_rounds(6.0) == 2  # nothing in the first round, a partition in the second
    assert r.assignment_rounds(0.0) == 2  # the worst member: c0 and c1 needed one, c2 and c3 two
    eager = rebalanced()
    eager.events = eager.events[eager.events["detail"] != "-"]
    assert eager.assignment_rounds(6.0) == 1
    assert r.partitions_revoked(6.0, 14.0) == 2 and r.partitions_revoked(0.0, 6.0) == 0
    assert r.partitions_revoked() == 2
    never = rebalanced()
    never.events = never.events[~((never.events["kind"] == "assign") & (never.events["member"] == "g-c3"))]
    assert math.isinf(never.assignment_rounds(6.0))


def test_longest_stop_of_the_group_and_of_a_member() -> None:
    r = rebalanced()
    assert r.longest_stop(6.0, 14.0, members=["g-c0"]) == pytest.approx(1.25)  # 6.25 → 7.5
    assert r.longest_stop(6.0, 14.0, members=["g-c1"]) == pytest.approx(1.0)  # 6.75 → 7.75
    assert r.longest_stop(6.0, 14.0) == pytest.approx(0.75)  # 6.75 (c1) → 7.5 (c0): one covered for the other


def test_partition_lag_growth_names_owners_and_slopes() -> None:
    g = rebalanced().partition_lag_growth(4.0)
    assert list(g.index) == ["p0", "p1", "p2", "p3"]
    assert list(g["owner"]) == ["c0", "c2", "c1", "c3"] and list(g["owner reads"]) == [1, 1, 1, 1]
    assert g["lag growth (msg/s)"].tolist() == pytest.approx([10.0, 30.0, 50.0, 70.0])


def test_events_of_picks_kinds_in_time_order_with_short_names() -> None:
    ev = rebalanced().events_of("revoke", "left")
    assert list(ev["kind"]) == ["revoke", "revoke", "left"] and list(ev["member"]) == ["c0", "c1", "c0"]
    assert rebalanced().events_of("evicted").empty


def test_busy_rate_and_messages_per_call() -> None:
    r = run(rate=100.0, left_at=None)  # 2 members, 50 msg/s each, one row per 0.1 s
    assert r.busy_rate() == pytest.approx(100.0, rel=0.02)
    r.summary = Summary(duration=12.0, consumed=1_000)
    assert r.messages_per_call() == pytest.approx(1_000 / int((r.processed["processed"] > 0).sum()))
    empty = run()
    empty.processed = empty.processed.iloc[0:0]
    assert math.isnan(empty.busy_rate())


def test_lag_at_and_between() -> None:
    r = run(lag_slope=50.0)
    assert r.lag_at(6.1) == 200.0  # the sample at 6.0 s: (6 − 2) × 50
    w = r.between(4.0, 6.0)
    assert list(w["t"]) == [4.0, 4.5, 5.0, 5.5]


def test_check_complete_names_the_cut_run() -> None:
    r = run()
    r.check_complete()
    r.cut_short = "the broker went away at 7.0 s"
    with pytest.raises(AssertionError, match="cut short.*went away"):
        r.check_complete()


def rolled(static: bool) -> Result:
    """Two members own p0 and p1; at t = 4 s c0 restarts (down 1 s), its replacement c2 joins at 5 s.
    Without static membership the group rebalances twice (c0 leaves, c2 joins): c1 gets p0 and p1, then p1 back.
    With it only c0's own partition p0 is let go of, and c2 gets it back at 5.2 s: no rebalance."""
    rows = [(0.5, "joined", "g-c0", ""), (0.5, "joined", "g-c1", ""), (1.0, "assign", "g-c0", "p0"),
            (1.0, "assign", "g-c1", "p1"), (4.0, "restart", "g-c0", "slot 0"), (4.0, "revoke", "g-c0", "p0"),
            (4.1, "left", "g-c0", ""), (5.0, "joined", "g-c2", "")]
    if static:
        rows += [(5.2, "assign", "g-c2", "p0")]
    else:
        rows += [(4.5, "revoke", "g-c1", "p1"), (4.8, "assign", "g-c1", "p0,p1"), (5.5, "revoke", "g-c1", "p0,p1"),
                 (6.0, "assign", "g-c1", "p1"), (6.1, "assign", "g-c2", "p0")]
    return Result("by hand", pd.DataFrame({"t": [0.0, 10.0], "lag": [0, 0]}), pd.DataFrame(),
                  pd.DataFrame(rows, columns=EVENT_COLUMNS), pd.Series(dtype=float), {"duration": 10.0},
                  {"partitions": 2})


def test_rebalance_rounds_count_new_assignments_of_members_already_in_the_group() -> None:
    assert rolled(static=True).rebalance_rounds() == 0  # c2's first assignment is not a rebalance
    dynamic = rolled(static=False)
    assert dynamic.rebalance_rounds() == 2 and dynamic.rebalance_rounds(3.0, 5.0) == 1
    assert dynamic.rebalance_rounds(0.0, 4.0) == 0  # the first assignments, as the group formed


def test_unowned_partition_seconds_are_replayed_from_assign_and_revoke() -> None:
    static = rolled(static=True)
    steps = static.unowned()
    assert list(steps.columns) == ["t", "unowned"] and steps["unowned"].iloc[0] == 2  # nobody owns anything at 0
    assert static.unowned_seconds(2.0) == pytest.approx(1.2)  # p0 from 4.0 until 5.2 s
    assert static.unowned_seconds(0.0, 2.0) == pytest.approx(2 * 1.0)  # both until the first assignment at 1 s
    dynamic = rolled(static=False)
    # p0 4.0-4.8; p1 4.5-4.8; both 5.5-6.0; p0 6.0-6.1
    assert dynamic.unowned_seconds(2.0) == pytest.approx(0.8 + 0.3 + 2 * 0.5 + 0.1)
    assert dynamic.unowned_seconds(5.6, 5.8) == pytest.approx(2 * 0.2)


def with_latencies(values: list[float], at: list[float] | None = None) -> Result:
    """A run whose messages took ``values`` seconds each, processed at ``at`` (default: 500 a second from 0)."""
    t = np.arange(len(values)) / 500.0 if at is None else np.asarray(at, dtype=float)
    return Result("by hand", pd.DataFrame({"t": [0.0], "lag": [0]}), pd.DataFrame(), pd.DataFrame(columns=EVENT_COLUMNS),
                  pd.Series(values, index=pd.Index(t, name="t"), dtype=float), {"duration": 8.0}, {})


def test_typical_latency_is_the_median_stretch_so_one_stall_does_not_move_it() -> None:
    steady = [0.005] * 3_960 + [0.010] * 40  # every stretch's p99 sits between 5 and 10 ms
    rng = np.random.default_rng(7)
    calm = list(rng.permutation(steady))
    stalled = calm[:1_000] + [0.140] * 60 + calm[1_060:]  # one 140 ms stall: 60 late messages in one stretch
    pooled_calm, pooled_stalled = (float(np.quantile(v, 0.99)) for v in (calm, stalled))
    assert pooled_stalled == pytest.approx(0.140)  # the pooled p99 is the stall
    assert with_latencies(calm).typical_latency(0.99) <= 0.010
    assert with_latencies(stalled).typical_latency(0.99) <= 0.010 < pooled_stalled  # one stretch of eight moved
    assert pooled_calm <= 0.010
    assert with_latencies([0.002] * 800).typical_latency(0.5, stretches=4) == pytest.approx(0.002)
    assert math.isnan(with_latencies([0.001] * 79).typical_latency(0.99))  # under ten samples a stretch
    with pytest.raises(ValueError, match="0 < q < 1"):
        with_latencies([0.001] * 100).typical_latency(99)


def test_typical_latency_over_windows_compares_interleaved_slots() -> None:
    """A neighbour on in every other 2-s slot: its slots' tails against the others', through a stall in each kind."""
    t = np.arange(0.0, 20.0, 0.002)  # 500 msg/s for 20 s
    on = (t // 2) % 2 == 1  # slots 2-4, 6-8, ... s
    latency = np.where(on, 0.012, 0.006)
    latency[(t >= 6.0) & (t < 6.2)] = 0.200  # a stall while on ...
    latency[(t >= 8.0) & (t < 8.2)] = 0.200  # ... and one while off
    r = with_latencies(list(latency), list(t))
    on_slots, off_slots = [(s, s + 2) for s in range(2, 20, 4)], [(s, s + 2) for s in range(0, 20, 4)]
    assert r.typical_latency(0.99, windows=on_slots) == pytest.approx(0.012)
    assert r.typical_latency(0.99, windows=off_slots) == pytest.approx(0.006)
    assert math.isnan(r.typical_latency(0.99, windows=[(0.0, 0.01)]))  # 5 samples: too few
    assert math.isnan(r.typical_latency(0.99, windows=[]))

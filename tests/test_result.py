"""The questions lessons ask of a Result, on runs built by hand (no broker): each answer is known exactly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kafkabp.result import EVENT_COLUMNS, Result


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

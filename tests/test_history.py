"""A lag monitor's history stays bounded however long the run, and a run shorter than the bound gives exactly the
frame and timeline it always did (issue 25). No broker: samples are made up, as the monitor's thread makes them."""

from __future__ import annotations

import math
import tracemalloc

import pandas as pd
import pytest

from kafkabp import history
from kafkabp.history import History, frame_of, note_step, timeline_from
from kafkabp.lag import LagMonitor

PARTS = 4


def _samples(n: int, interval: float = 0.5, partitions: int = PARTS) -> list[tuple]:
    """``n`` samples of a run whose lag rises and falls (a saw-tooth with one tall peak), as the monitor keeps them."""
    topics, parts = ["t"] * partitions, list(range(partitions))
    out, end, committed = [], [0] * partitions, [0] * partitions
    for i in range(n):
        for p in range(partitions):
            end[p] += 500 + 37 * ((i + p) % 7)
            lag = (i % 300) * 20 + (50_000 if i == n // 3 else 0) + p
            committed[p] = max(committed[p], end[p] - lag)
        lags = [e - c for e, c in zip(end, committed)]
        out.append((i * interval, topics, parts, list(end), list(committed), lags,
                    [lg / 1000 for lg in lags], [True] * partitions))
    return out


def _fill(h: History, samples: list[tuple]) -> History:
    for s in samples:
        h.append(s)
    return h


@pytest.mark.parametrize("n", [0, 1, 5, 240, history.HISTORY_SAMPLES])
def test_a_run_shorter_than_the_history_gives_exactly_what_it_always_did(n: int) -> None:
    samples = _samples(n)
    h = _fill(History(2.0), samples)
    # what LagMonitor.frame() and timeline() were before: every sample, then timeline_from over them all
    pd.testing.assert_frame_equal(h.frame(), frame_of(samples))
    pd.testing.assert_frame_equal(h.timeline(), timeline_from(frame_of(samples), 2.0))
    assert len(h) == n and h.dropped == 0


def test_the_monitor_keeps_its_samples_in_a_history_and_reads_them_back_unchanged() -> None:
    mon = LagMonitor("g", "t", 0.5)
    samples = _samples(300)
    for s in samples:
        mon.history.append(s)
    pd.testing.assert_frame_equal(mon.frame(), frame_of(samples))
    pd.testing.assert_frame_equal(mon.timeline(), timeline_from(frame_of(samples), mon.rate_window))
    assert mon.drain_time() >= 0


def test_a_long_run_stays_bounded_with_its_recent_samples_whole_and_its_peak_kept() -> None:
    limit, archive, n = 200, 150, 20_000
    samples = _samples(n)
    full = timeline_from(frame_of(samples), 2.0)
    h = _fill(History(2.0, samples=limit, archive=archive), samples)
    assert len(h) <= limit + archive, len(h)
    tl = h.timeline()
    assert len(tl) == len(h) and tl["t"].is_monotonic_increasing and tl["t"].is_unique
    # the newest samples, at least half the whole history, are exactly those of the full-resolution timeline
    recent = full[full["t"] >= tl["t"].iloc[-limit // 2]].reset_index(drop=True)
    pd.testing.assert_frame_equal(tl.iloc[-len(recent):].reset_index(drop=True), recent)
    # every archived row is the full-resolution row of its time: rates over the same trailing 2 s, not over the gaps
    merged = tl.merge(full, on="t", suffixes=("", "_full"))
    assert len(merged) == len(tl)
    for col in ("lag", "time_lag", "produce_rate", "consume_rate"):
        assert (merged[col] - merged[f"{col}_full"]).abs().max() < 1e-9, col
    # what the chart and Result show: the whole run's span, its peak lag and its final lag
    assert tl["t"].iloc[0] < 0.02 * samples[-1][0] and tl["t"].iloc[-1] == samples[-1][0]
    assert tl["lag"].max() == full["lag"].max() and tl["lag"].iloc[-1] == full["lag"].iloc[-1]
    assert h.dropped == n - len(h)
    assert set(h.frame()["t"]) == set(tl["t"])  # the per-partition rows of the same samples


def test_the_history_cost_per_sample_is_flat_and_its_memory_bounded() -> None:
    """Memory after 6,000 samples is what it was after 2,000: the cap, not the run's length, sets it."""
    samples = _samples(1_000)
    h = History(2.0, samples=100, archive=100)
    tracemalloc.start()
    try:
        for rounds in range(6):
            for s in samples:
                h.append((s[0] + rounds * 1_000.0, *s[1:]))
            if rounds == 1:
                early = tracemalloc.get_traced_memory()[0]
        late = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(h) <= 200
    assert late < early * 1.25 + 200_000, (early, late)


def test_the_history_refuses_a_bound_it_cannot_keep() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        History(2.0, samples=1)
    assert not math.isnan(History(2.0).rate_window)


def test_noted_steps_keep_the_same_line_in_memory_that_grows_with_the_changes_only() -> None:
    import numpy as np

    rng = np.random.default_rng(25)
    values = np.repeat(rng.choice([500.0, 700.0, float("inf"), 2_000.0], 40), rng.integers(1, 300, 40))
    every = [(i * 0.5, float(v)) for i, v in enumerate(values)]
    kept: list[tuple[float, float]] = []
    for t, v in every:
        note_step(kept, t, v)
    assert len(kept) <= 2 * 40 < len(every) // 10
    finite = [(t, v) for t, v in every if np.isfinite(v)]
    finite_kept = [(t, v) for t, v in kept if np.isfinite(v)]
    x = np.linspace(-1, len(values) * 0.5 + 1, 5_001)
    for full, few in ((every, kept), (finite, finite_kept)):  # what Experiment.timeline and _predicted interpolate
        a = np.interp(x, [t for t, _ in full], [v for _, v in full])
        b = np.interp(x, [t for t, _ in few], [v for _, v in few])
        assert np.array_equal(a, b, equal_nan=True)


def test_a_members_processed_record_is_thinned_keeping_its_pauses() -> None:
    """Issue 25: a member notes (time, processed) per batch; past DONE_CAP points the record halves, keeping the
    last point and both ends of every pause (what longest_stop and rebalance pauses read)."""
    from array import array

    import numpy as np

    from kafkabp.workload.group import DONE_GAP_S, thin_record

    t = np.arange(10_000) * 0.001
    t[5_000:] += 2.0  # a 2 s stop in the middle
    t[7_001:] += 0.01  # a pause shorter than DONE_GAP_S: it may go
    n = np.arange(1, 10_001, dtype=np.int64)
    times, counts = thin_record(array("d", t.tobytes()), array("q", n.tobytes()))
    kt, kn = np.frombuffer(times, dtype=float), np.frombuffer(counts, dtype=np.int64)
    assert 5_000 <= len(kt) <= 5_004 and kt[-1] == t[-1] and kn[-1] == n[-1]
    assert np.all(np.diff(kt) > 0) and np.all(np.diff(kn) > 0)
    assert (t[4_999] in kt) and (t[5_000] in kt)  # the stop's two ends: its length is kept exactly
    assert np.diff(kt).max() == np.diff(t).max() > 2.0 and DONE_GAP_S < 2.0

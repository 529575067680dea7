"""Pure answers to the questions lessons 08-15 ask of a run, from its DataFrames (``Result`` has them as methods).

Each takes a run's timeline (one row per lag sample), throughput (:meth:`Result.throughput`) or ledger, and returns
a number or a small DataFrame; NaN where the samples cannot answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd


def appended_rate(timeline: pd.DataFrame, start: float, end: float) -> float:
    """Messages per second the log-end offsets grew between ``start`` and ``end`` s (NaN: fewer than 2 samples)."""
    tl = timeline
    w = tl[(tl["t"] >= start) & (tl["t"] <= end)].dropna(subset=["log_end_offset"]) if len(tl) else tl
    if len(w) < 2 or w["t"].iloc[-1] <= w["t"].iloc[0]:
        return math.nan
    return float((w["log_end_offset"].iloc[-1] - w["log_end_offset"].iloc[0]) / (w["t"].iloc[-1] - w["t"].iloc[0]))


def held_mb(timeline: pd.DataFrame) -> pd.DataFrame:
    """Per sample with a buffer reading: t and held_mb, the buffer's values plus librdkafka's prefetch queue (MB)."""
    tl = timeline.dropna(subset=["buffered"])
    return pd.DataFrame({"t": tl["t"], "held_mb": tl["buffered_mb"] + tl["prefetched_mb"].fillna(0)})


def rss_growth_mb(timeline: pd.DataFrame) -> float:
    """The process's peak resident memory less its first sample, in MB (0 without samples)."""
    rss = timeline["rss_mb"].dropna()
    return float(rss.max() - rss.iloc[0]) if len(rss) else 0.0


def missing_sequences(lost_ranges: Mapping[str, Sequence[tuple[int, int]]]) -> int:
    """How many sequence numbers the (first, last) ranges per producer cover."""
    return sum(last - first + 1 for ranges in lost_ranges.values() for first, last in ranges)


def first_reached(timeline: pd.DataFrame, column: str, value: float, after: float = 0.0) -> float:
    """The first sample time from ``after`` s on with ``column`` at least ``value`` (NaN: never)."""
    tl = timeline
    hit = tl[(tl["t"] >= after) & (tl[column] >= value)] if len(tl) else tl
    return float(hit["t"].iloc[0]) if len(hit) else math.nan


def scale_changes(timeline: pd.DataFrame) -> tuple[int, int]:
    """(ups, downs): how many times the sampled group size grew and shrank."""
    d = timeline["consumers"].diff().fillna(0) if len(timeline) else pd.Series(dtype=float)
    return int((d > 0).sum()), int((d < 0).sum())


def lag_at(timeline: pd.DataFrame, t: float) -> float:
    """The total lag at the sample nearest ``t`` s (NaN without samples)."""
    tl = timeline
    return float(tl.loc[(tl["t"] - t).abs().idxmin(), "lag"]) if len(tl) else math.nan


def busy_members(throughput: pd.DataFrame, min_rate: float, start: float, end: float) -> int:
    """Members whose mean rate from ``start`` to ``end`` s, in a throughput table (t, rate, one column per member),
    was at least ``min_rate`` msg/s."""
    w = throughput[(throughput["t"] >= start) & (throughput["t"] < end)]
    return sum(1 for m in w.columns if m not in ("t", "rate") and w[m].mean() >= min_rate)

"""Questions lesson 17 asks of runs with concurrency inside a consumer (asyncio tasks or lesson 04's threads): how
many messages were in flight, where the backlog waited (in Kafka or in the process), and one table to compare runs.

Pure functions on a run's timeline (``t``, ``lag``, ``buffered``: messages in flight at each sample, ``rss_mb``); a
``Result`` calls them (:meth:`~kafkabp.result.Result.in_flight`, :meth:`~kafkabp.result.Result.share_in_process`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import pandas as pd

COLUMNS = ["throughput (msg/s)", "peak in flight", "RSS growth (MB)", "produced", "processed", "duplicates", "lost",
           "order violations"]


def in_flight(timeline: pd.DataFrame) -> pd.DataFrame:
    """Per sample with a reading: t, in_flight (messages handed to tasks or threads, not finished), lag (messages in
    Kafka after the committed offsets) and rss_mb (the process's resident memory)."""
    if "buffered" not in timeline:
        return pd.DataFrame(columns=["t", "in_flight", "lag", "rss_mb"])
    tl = timeline.dropna(subset=["buffered"])
    return pd.DataFrame({"t": tl["t"], "in_flight": tl["buffered"].astype(int), "lag": tl["lag"],
                         "rss_mb": tl["rss_mb"]}).reset_index(drop=True)


def share_in_process(timeline: pd.DataFrame) -> float:
    """At the sample where the most messages were in flight: the share of the lag (committed offsets to the log's
    end) that sat in the process, fetched and not finished, rather than in Kafka. NaN without lag."""
    f = in_flight(timeline)
    f = f[f["lag"] > 0]
    if f.empty:
        return math.nan
    peak = f.loc[f["in_flight"].idxmax()]
    return float(min(1.0, peak["in_flight"] / peak["lag"]))


def compare(runs: Mapping[str, Any], start: float = 1.0, end: float | None = None) -> pd.DataFrame:
    """One row per run (``{name: Result}``): its steady throughput from ``start`` to ``end`` s
    (:meth:`~kafkabp.result.Result.steady_rate`), the most messages in flight at once, how much the process's
    memory grew (RSS, peak less the first sample), and the ledger's exact counts (produced: acknowledged by the broker,
    a backlog included)."""
    rows = {}
    for name, r in runs.items():
        s = r.summary
        produced = r.ledger.get("acknowledged", s.produced)  # the ledger's count includes a backlog written first
        rows[name] = [r.steady_rate(start, end), s.peak_buffered, r.rss_growth_mb(), produced, s.consumed,
                      s.duplicates, s.lost, s.order_violations]
    return pd.DataFrame.from_dict(rows, orient="index", columns=COLUMNS)


__all__ = ["COLUMNS", "compare", "in_flight", "share_in_process"]

"""The questions lessons ask of a run, as pure functions on its DataFrames (``Result`` calls them); NaN where the
samples cannot answer.

``events``: t, kind, member, detail (``"p0,p3"`` for assign and revoke, ``"-"`` for none); ``processed``: t, member
and the member's count so far, one row per finished batch; ``timeline`` and ``partitions``: lag samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd


def partitions_named(detail: Any) -> list[int]:
    """The partitions an event's detail names (``"p0,p3"``); none for ``"-"`` or an empty detail."""
    return [int(p[1:]) for p in str(detail).split(",")] if detail and detail != "-" else []


def slope(t: pd.Series, y: pd.Series) -> float:
    """The slope of a straight line fitted to (t, y); NaN with fewer than two distinct times."""
    return float(np.polyfit(t.astype(float), y.astype(float), 1)[0]) if t.nunique() >= 2 else math.nan


def events_of(events: pd.DataFrame, kinds: Iterable[str]) -> pd.DataFrame:
    """The events of these kinds in time order, each member by its short name (``c0``)."""
    ev = events[events["kind"].isin(list(kinds))] if len(events) else events
    ev = ev.sort_values("t", kind="stable").reset_index(drop=True)
    return ev.assign(member=ev["member"].astype(str).str.rsplit("-", n=1).str[-1]) if len(ev) else ev


def joins(events: pd.DataFrame) -> pd.Series:
    """When each member first joined (s), in the order they joined, by member."""
    joined = events[events["kind"] == "joined"] if len(events) else events
    return joined.sort_values("t", kind="stable").groupby("member", sort=False)["t"].first().astype(float)


def assignment_rounds(events: pd.DataFrame, since: float) -> float:
    """The most assignments a member that joined at or after ``since`` received until it owned a partition."""
    ev = events[events["t"] >= since] if len(events) else events
    worst = 0.0
    for member in ev.loc[ev["kind"] == "joined", "member"]:
        got = ev.loc[(ev["kind"] == "assign") & (ev["member"] == member), "detail"].tolist()
        worst = max(worst, next((i for i, d in enumerate(got, 1) if partitions_named(d)), math.inf))
    return worst


def partitions_revoked(events: pd.DataFrame, start: float, end: float) -> int:
    """How many partitions the members gave up from ``start`` until ``end`` (counting each revoke)."""
    ev = events
    gave_up = ev[(ev["kind"] == "revoke") & (ev["t"] >= start) & (ev["t"] < end)] if len(ev) else ev
    return sum(len(partitions_named(d)) for d in gave_up["detail"]) if len(gave_up) else 0


def rebalance_rounds(events: pd.DataFrame, start: float, end: float, gap: float = 0.5) -> int:
    """Rebalances from ``start`` until ``end``: rounds (assignments less than ``gap`` s apart) in which a member that
    already had an assignment was handed a new one. A member's first assignment, as it joins, is not one."""
    ev = events[events["kind"] == "assign"].sort_values("t", kind="stable") if len(events) else events
    seen: set[str] = set()
    times = []
    for t, member in zip(ev["t"], ev["member"]) if len(ev) else ():
        if member in seen and start <= t < end:
            times.append(float(t))
        seen.add(member)
    return sum(1 for i, t in enumerate(times) if i == 0 or t - times[i - 1] >= gap)


def unowned(events: pd.DataFrame, partitions: Iterable[int]) -> pd.DataFrame:
    """When how many of ``partitions`` no member owned (t, unowned: a step from t = 0), replayed from the members'
    assign, revoke and lost events."""
    every = set(partitions)
    owned: dict[str, set[int]] = {}
    rows = [(0.0, len(every))]
    moves = events[events["kind"].isin(["assign", "revoke", "lost"])] if len(events) else events
    for e in moves.sort_values("t", kind="stable").itertuples(index=False) if len(moves) else ():
        parts = set(partitions_named(e.detail))
        mine = owned.setdefault(e.member, set())
        owned[e.member] = mine | parts if e.kind == "assign" else mine - parts
        rows.append((float(e.t), len(every - set().union(*owned.values()))))
    return pd.DataFrame(rows, columns=["t", "unowned"])


def unowned_seconds(events: pd.DataFrame, partitions: Iterable[int], start: float, end: float) -> float:
    """Partition-seconds from ``start`` until ``end`` in which no member owned a partition (two partitions unowned
    for one second: 2)."""
    steps = unowned(events, partitions)
    t = np.clip(np.append(steps["t"].to_numpy(), end), start, end)
    return float((np.diff(t) * steps["unowned"].to_numpy()).sum())


def longest_stop(processed: pd.DataFrame, start: float, end: float, members: Iterable[str] | None = None) -> float:
    """The longest gap (s) between finished batches from ``start`` until ``end``: the group's, or the worst member's."""
    p = processed[(processed["t"] >= start) & (processed["t"] < end)]
    if members is None:
        return float(p["t"].sort_values().diff().max())
    return max(float(p.loc[p["member"] == m, "t"].diff().max()) for m in members)


def partition_lag_growth(partitions: pd.DataFrame, assignment: Mapping[str, list[int]], start: float,
                         stop: float) -> pd.DataFrame:
    """Per partition: its owner (short name, ``nobody``), how many partitions that owner read, its lag's slope."""
    owner = {p: m for m, owned in assignment.items() for p in owned}
    rows = []
    for p, df in partitions.groupby("partition"):
        w = df[(df["t"] >= start) & (df["t"] < stop)]
        m = owner.get(int(p))
        rows.append({"partition": f"p{p}", "owner": m.rsplit("-", 1)[-1] if m else "nobody",
                     "owner reads": len(assignment[m]) if m else 0, "lag growth (msg/s)": slope(w["t"], w["lag"])})
    return pd.DataFrame(rows, columns=["partition", "owner", "owner reads", "lag growth (msg/s)"]).set_index(
        "partition")


def busy_rate(processed: pd.DataFrame) -> float:
    """Messages per second from the first finished batch to the last (NaN with fewer than two batches)."""
    done = processed[processed["processed"] > 0]
    span = float(done["t"].max() - done["t"].min()) if len(done) else 0.0
    if span <= 0:
        return math.nan
    per_member = done.groupby("member")["processed"]
    return float((per_member.max() - per_member.min()).sum()) / span

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


def producer_metrics(stats: Mapping[str, Any] | None, topic: str) -> dict[str, Any]:
    """Produce requests, batches and latencies from a producer's librdkafka statistics (CONFIGURATION.md,
    STATISTICS.md): ``produce_requests`` and ``messages`` since the start; ``batch_size_avg`` (bytes) and
    the latencies (ms: ``queue`` = produce() until sent, including linger.ms; ``rtt`` = the broker's round
    trip) over the last statistics window only."""
    if not stats:
        return {}
    brokers = [b for b in stats.get("brokers", {}).values() if b.get("nodeid", -1) >= 0]
    top = stats.get("topics", {}).get(topic, {})

    def window(name: str, q: str) -> float:
        values = [b[name][q] / 1000.0 for b in brokers if b.get(name, {}).get("cnt")]
        return max(values) if values else float("nan")

    return {
        "produce_requests": sum(int(b.get("req", {}).get("Produce", 0)) for b in brokers),
        "messages": int(stats.get("txmsgs", 0)), "bytes": int(stats.get("txmsg_bytes", 0)),
        "batch_size_avg": float(top["batchsize"]["avg"]) if top.get("batchsize", {}).get("cnt") else float("nan"),
        "batch_count_avg": float(top["batchcnt"]["avg"]) if top.get("batchcnt", {}).get("cnt") else float("nan"),
        "queue_p50_ms": window("int_latency", "p50"), "queue_p99_ms": window("int_latency", "p99"),
        "rtt_p50_ms": window("rtt", "p50"), "rtt_p99_ms": window("rtt", "p99"),
    }


def typical_latency(latency: pd.Series, q: float, stretches: int,
                    windows: Iterable[tuple[float, float]] | None = None) -> float:
    """The median, over stretches of the run, of each stretch's ``q``-quantile of ``latency`` (indexed by when the
    message was processed): ``stretches`` consecutive, equal slices of the samples, or each ``(start, end)`` of
    ``windows`` in seconds. NaN when a stretch has fewer than ten samples."""
    if not 0 < q < 1 or stretches < 1:
        raise ValueError(f"need 0 < q < 1 and stretches >= 1, got q={q!r}, stretches={stretches!r}")
    values = latency.to_numpy(dtype=float)
    if windows is None:
        parts = np.array_split(values, stretches) if len(values) else []
    else:
        t = latency.index.to_numpy(dtype=float)
        parts = [values[(t >= start) & (t < end)] for start, end in windows]
    if not len(parts) or min(len(p) for p in parts) < 10:
        return math.nan
    return float(np.median([np.quantile(part, q) for part in parts]))


def summarize(tl: pd.DataFrame, latency: pd.Series, produced: Mapping[str, Any], consumed: int,
              events: pd.DataFrame) -> dict[str, Any]:
    """The headline numbers of a run: counts, peak/final lag, lag slope, latency percentiles."""
    slope = 0.0
    if len(tl) >= 4:
        tail = tl[tl["t"] >= tl["t"].iloc[-1] * 0.25]  # skip the start-up (group join)
        if len(tail) >= 3 and tail["t"].nunique() > 1:
            slope = float(np.polyfit(tail["t"], tail["lag"], 1)[0])
    q = latency.quantile([0.5, 0.95, 0.99]) if len(latency) else pd.Series([np.nan] * 3, index=[0.5, 0.95, 0.99])
    duration = float(tl["t"].iloc[-1]) if len(tl) else 0.0
    return {
        "duration": duration,
        "produced": int(produced["produced"]), "delivered": int(produced["delivered"]),
        "failed": int(produced["failed"]), "consumed": int(consumed),
        # why they failed, by librdkafka's error name: _PURGE_QUEUE/_PURGE_INFLIGHT = still unacknowledged when
        # the run stopped (a broker that could not keep up), _MSG_TIMED_OUT = message.timeout.ms passed
        "failed_by": dict(produced.get("failed_by", {})),
        "peak_lag": int(tl["lag"].max()) if len(tl) else 0,
        "final_lag": int(tl["lag"].iloc[-1]) if len(tl) else 0,
        "lag_slope": slope,
        "produce_rate": float(produced["delivered"]) / duration if duration else 0.0,
        "consume_rate": float(consumed) / duration if duration else 0.0,
        "p50_latency": float(q.iloc[0]), "p95_latency": float(q.iloc[1]), "p99_latency": float(q.iloc[2]),
        "buffer_full": int(produced["buffer_full"]), "throttle_events": int(produced["throttle_events"]),
        "throttle_time_ms": float(produced.get("throttle_time_ms", 0.0)),
        "dropped": int(produced.get("dropped", 0)), "shed": int(produced.get("shed", 0)),
        "held_back": int(produced.get("held_back", 0)),
        "offered": int(produced["produced"]) + int(produced.get("held_back", 0)) + int(produced.get("shed", 0))
        + int(produced.get("dropped", 0)),
        "rebalances": _rebalances(events),
    }


def _rebalances(events: pd.DataFrame, gap: float = 1.0) -> int:
    """Rebalances after the first join: bursts of assignments more than ``gap`` s apart, minus one."""
    times = sorted(events.loc[events["kind"] == "assign", "t"]) if len(events) else []
    bursts = sum(1 for i, t in enumerate(times) if i == 0 or t - times[i - 1] > gap)
    return max(0, bursts - 1)

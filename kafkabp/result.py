"""What an experiment measured, as tidy DataFrames, and the numbers lessons derive from it.

Counts come from the ledger (exact: sequence numbers and the broker's offsets); rates and pauses
come from each worker's own record of when it processed how many messages.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import pandas as pd

from kafkabp import analysis, blocking, concurrency
from kafkabp.analysis import producer_metrics  # noqa: F401  (lesson 06 imports it from here)

EVENT_COLUMNS = ["t", "kind", "member", "detail"]
PROCESSED_COLUMNS = ["t", "member", "processed"]


NAN = float("nan")
SHARE_FIELDS = ("acks", "delivery_counts", "redeliveries", "released_unprocessed", "ack_failures", "handler_failures",
                "out_of_order", "out_of_order_keys", "busy_members")
RETRY_FIELDS = ("fates", "retry_counts")


@dataclass(frozen=True, repr=False, eq=True)
class Summary(Mapping[str, Any]):
    """The headline numbers of one run, typed: ``r.summary.consumed``, ``r.summary.peak_lag``.

    Also a read-only mapping (``s["consumed"]``, ``s.get("lost")``, ``dict(s)``), printed as a table. Counts come
    from the ledger (``lost`` and ``unread`` are None when they could not be counted exactly); ``None`` elsewhere
    means it does not apply to this run (``order_violations`` without parallel threads, the share-group counts for
    a consumer group, ``fetch_requests`` without librdkafka statistics).
    """

    # what the timeline, the producer's counts and the latencies say (summarize)
    duration: float = 0.0  # seconds
    produced: int = 0  # accepted by the producer client
    delivered: int = 0  # acknowledged by the broker
    failed: int = 0
    consumed: int = 0
    failed_by: Mapping[str, int] = field(default_factory=dict)  # librdkafka's error name -> failed deliveries
    peak_lag: int = 0
    final_lag: int = 0
    lag_slope: float = 0.0  # msg/s, fitted over the last three quarters of the run
    produce_rate: float = 0.0  # msg/s delivered
    consume_rate: float = 0.0  # msg/s
    p50_latency: float | None = NAN  # seconds from produce to processed
    p95_latency: float | None = NAN
    p99_latency: float | None = NAN
    buffer_full: int = 0  # BufferError: the producer client's queue was full
    throttle_events: int = 0  # the broker throttled the producer (quotas)
    throttle_time_ms: float = 0.0
    dropped: int = 0  # shed by on_buffer_full="drop"
    shed: int = 0  # offered by the source over its source_buffer
    held_back: int = 0  # offered by the source and still waiting for the rate limit
    offered: int = 0  # produced + held_back + shed + dropped
    rebalances: int = 0  # after the first join
    # what the experiment adds: status, the ledger's exact counts, outages, the group's own counts
    status: str | None = None  # Burrow's status near the end: OK, WARN, ERR, STOP, STALL
    cut_short: bool = False  # the broker went away for good
    lost: int | None = None  # never processed and no longer in the log
    duplicates: int = 0  # processed more than once
    unread: int | None = None  # still waiting in the log
    never_processed: int = 0  # lost + unread
    counts_exact: bool = False
    broker_outages: int = 0
    broker_unreachable_s: float = 0.0
    backlog: int = 0
    order_violations: int | None = None  # per-key order broken (parallel threads, or a group with retries)
    idle_members: int = 0  # members that owned no partition at the end
    evictions: int = 0  # members that left the group over max.poll.interval.ms
    offset_resets: int = 0  # fetch offset gone (retention): jumped ahead
    pauses: int = 0
    peak_buffered: int = 0  # messages in the members' in-process buffers
    peak_buffered_mb: float = 0.0
    peak_rss_mb: float = NAN  # this process's memory
    consumer_throttle_events: int = 0
    consumer_cpu_us_per_msg: float = NAN
    fetch_requests: int | None = None  # with librdkafka statistics (Observe(stats_interval_ms=...))
    # a share group's own counts (KIP-932); None for a consumer group
    acks: Mapping[str, int] | None = None  # accepted / released / rejected
    delivery_counts: Mapping[int, int] | None = None  # delivery count -> records
    redeliveries: int | None = None
    released_unprocessed: int | None = None
    ack_failures: int | None = None
    handler_failures: int | None = None
    out_of_order: int | None = None
    out_of_order_keys: int | None = None
    busy_members: int | None = None
    # a group with retries (lesson 16): messages per fate, and the retries' own counts; None without retries
    fates: Mapping[str, int] | None = None  # "first try", "after 1 retry"…, "dead-lettered", "still retrying"
    retry_counts: Mapping[str, int] | None = None  # failed attempts, held back behind their key, sent to retry…

    def _names(self) -> tuple[str, ...]:
        hidden = (SHARE_FIELDS if self.acks is None else ()) + (RETRY_FIELDS if self.fates is None else ())
        return tuple(f.name for f in dataclasses.fields(self) if f.name not in hidden)

    def __getitem__(self, name: str) -> Any:
        if name not in self._names():
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    __hash__ = None  # type: ignore[assignment]  # holds dicts (failed_by, acks)

    def replace(self, **changes: Any) -> "Summary":
        return dataclasses.replace(self, **changes)

    def _repr_html_(self) -> str:
        return "<table>" + "".join(f"<tr><td>{k}</td><td>{_fmt(v)}</td></tr>" for k, v in self.items()) + "</table>"

    def __repr__(self) -> str:
        width = max(len(k) for k in self)
        return "Summary(\n" + "".join(f"  {k:<{width}}  {_fmt(v)}\n" for k, v in self.items()) + ")"

    __str__ = __repr__


@dataclass
class Result:
    """What one experiment measured: timeline, per-partition lag, events, latencies, summary."""

    label: str
    timeline: pd.DataFrame
    partitions: pd.DataFrame
    events: pd.DataFrame
    latency: pd.Series
    summary: Summary  # a dict is taken too (made a Summary)
    params: dict[str, Any]
    predicted: pd.DataFrame | None = None
    topic: str = ""
    group: str = ""
    producer_stats: dict[str, Any] | None = field(default=None, repr=False)
    ledger: dict[str, Any] = field(default_factory=dict, repr=False)  # exact counts, redelivered ranges
    processed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PROCESSED_COLUMNS), repr=False)
    assignment: dict[str, list[int]] = field(default_factory=dict, repr=False)  # at the end, per member
    consumer_stats: list[dict[str, Any]] = field(default_factory=list, repr=False)  # librdkafka's, per member
    controls: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)  # each mitigation's history
    # why the run stopped early (the broker went away for good), else None; ``assignment`` is then the members'
    # partitions when the broker stopped answering (they lose them during the outage)
    cut_short: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.summary, Summary):
            self.summary = Summary(**self.summary)

    def producer_metrics(self) -> dict[str, Any]:
        """The producer's own view, from librdkafka's last statistics (see :func:`producer_metrics`)."""
        return producer_metrics(self.producer_stats, self.topic)

    def throughput(self, bin_seconds: float = 0.25) -> pd.DataFrame:
        """Messages processed per second in bins of ``bin_seconds``: t (bin start), rate, and per member."""
        p = self.processed
        if p.empty:
            return pd.DataFrame(columns=["t", "rate"])
        end = max(float(p["t"].max()), float(self.summary.duration))
        edges = np.arange(0.0, end + bin_seconds, bin_seconds)
        out = pd.DataFrame({"t": edges[:-1]})
        total = np.zeros(len(edges) - 1)
        for member, rows in p.groupby("member", sort=True):
            t, n = rows["t"].to_numpy(), rows["processed"].to_numpy()
            idx = np.searchsorted(t, edges, side="right") - 1  # a step: a stopped member reads 0 msg/s
            done = np.where(idx >= 0, n[idx.clip(0)], 0)  # cumulative count at each edge
            rate = np.diff(done) / bin_seconds
            out[member] = rate
            total += rate
        out["rate"] = total
        return out

    def stopped_at(self) -> float:
        """Seconds from the start until the first member left the group (the run's end if none left)."""
        ev = self.events
        left = ev.loc[ev["kind"] == "left", "t"] if len(ev) else pd.Series(dtype=float)
        end = float(self.summary.get("duration", 0.0) or (self.timeline["t"].iloc[-1] if len(self.timeline) else 0.0))
        return float(left.min()) if len(left) else end

    def steady_rate(self, start: float = 4.0, end: float | None = None, *, bin_seconds: float = 1.0,
                    statistic: str = "median") -> float:
        """Messages per second the group processed from ``start`` s until ``end`` s (default: until a member
        left): the median (or ``statistic="mean"``) of whole ``bin_seconds`` bins, from the members' own counts.
        A bursty rate (bursts less than two bins apart) needs the mean: the median reports the commoner kind of bin.
        NaN when no whole bin fits."""
        if statistic not in ("median", "mean"):
            raise ValueError(f"statistic must be 'median' or 'mean', not {statistic!r}")
        stop = self.stopped_at() if end is None else end
        tp = self.throughput(bin_seconds)
        if tp.empty:
            return math.nan
        rates = tp.loc[(tp["t"] >= start) & (tp["t"] + bin_seconds <= stop + 1e-9), "rate"]
        return float(getattr(rates, statistic)()) if len(rates) else math.nan

    def lag_growth(self, start: float = 4.0, end: float | None = None) -> float:
        """How fast the total lag grew from ``start`` s until ``end`` s (default: until a member left), in msg/s:
        the slope of a straight line fitted to the lag samples. NaN with fewer than two samples."""
        stop = self.stopped_at() if end is None else end
        tl = self.timeline
        window = tl[(tl["t"] >= start) & (tl["t"] < stop)] if len(tl) else tl
        if len(window) < 2 or window["t"].nunique() < 2:
            return math.nan
        return float(np.polyfit(window["t"].astype(float), window["lag"].astype(float), 1)[0])

    def drain_time(self, threshold: int = 0) -> float:
        """Seconds from the start until the lag first fell to ``threshold`` after its peak (inf: never)."""
        tl = self.timeline
        if tl.empty:
            return math.inf
        after = tl.loc[tl["lag"].idxmax():]
        hit = after[after["lag"] <= threshold]
        return float(hit["t"].iloc[0]) if len(hit) else math.inf

    def rebalance_cost(self, at: float, *, window: float = 8.0, bin_seconds: float = 0.1) -> dict[str, Any]:
        """What a rebalance started at ``at`` seconds cost the group.

        ``paused_s``: seconds (after ``at``, within ``window``) in which the group processed nothing;
        ``slow_s``: seconds below half the rate of the 3 s before ``at``; ``owned_after_s``: until
        every member that joined after ``at`` owned partitions; ``duplicates``: processed twice (the
        whole run's exact count, from the ledger).
        """
        tp = self.throughput(bin_seconds)
        before = tp[(tp["t"] >= at - 3.0) & (tp["t"] < at)]["rate"]
        base = float(before.median()) if len(before) else 0.0
        after = tp[(tp["t"] >= at) & (tp["t"] < at + window)]["rate"]
        ev = self.events
        joined = set(ev[(ev["kind"] == "joined") & (ev["t"] >= at)]["member"])
        owns = ev[(ev["kind"] == "assign") & (ev["t"] >= at) & ev["member"].isin(joined) & (ev["detail"] != "-")]
        first_own = owns.groupby("member")["t"].min()
        owned_after = float(first_own.max() - at) if joined and len(first_own) == len(joined) else math.inf
        return {"rate_before": base, "paused_s": float((after <= 0).sum() * bin_seconds),
                "slow_s": float((after < base / 2).sum() * bin_seconds) if base > 0 else 0.0,
                "owned_after_s": owned_after, "duplicates": int(self.summary.duplicates)}

    # questions lessons 01-07 ask (computed in kafkabp.analysis)
    def check_complete(self) -> None:
        """Fail (AssertionError) when the run was cut short: its numbers are then incomplete. For Check cells."""
        assert not self.cut_short, (f"{self.label!r} was cut short, so its numbers are incomplete: {self.cut_short}. "
                                    "Start the broker again (re-run the setup cell), then re-run the experiments")

    def events_of(self, *kinds: str) -> pd.DataFrame:
        """The events of these kinds (``"assign"``, ``"left"``, ``"evicted"``…) in time order, members as ``c0``."""
        return analysis.events_of(self.events, kinds)

    def joins(self) -> pd.Series:
        """When each member joined the group (seconds from the start), in the order they joined, by member."""
        return analysis.joins(self.events)

    def assignment_rounds(self, since: float) -> float:
        """How many assignments the members that joined at or after ``since`` s received until they owned a
        partition (the worst of them): 1 when one round did it; inf when one never owned any."""
        return analysis.assignment_rounds(self.events, since)

    def partitions_revoked(self, start: float = 0.0, end: float = math.inf) -> int:
        """How many partitions the members gave up from ``start`` s until ``end`` s (counting each revoke)."""
        return analysis.partitions_revoked(self.events, start, end)

    def rebalance_rounds(self, start: float = 0.0, end: float = math.inf) -> int:
        """How many times the group rebalanced from ``start`` s until ``end`` s: rounds in which members that already
        had partitions were handed a new assignment (a member's first assignment, as it joins, is not one)."""
        return analysis.rebalance_rounds(self.events, start, end)

    def unowned(self) -> pd.DataFrame:
        """When how many partitions no member owned (t, unowned), from the members' assign and revoke events."""
        return analysis.unowned(self.events, range(int(self.params.get("partitions", 0))))

    def unowned_seconds(self, start: float = 0.0, end: float | None = None) -> float:
        """Partition-seconds from ``start`` s until ``end`` s (default: the run's end) in which nobody owned a
        partition, so nobody read it: two partitions for one second count 2."""
        stop = float(self.summary.duration) if end is None else end
        return analysis.unowned_seconds(self.events, range(int(self.params.get("partitions", 0))), start, stop)

    def longest_stop(self, start: float, end: float, members: Iterable[str] | None = None) -> float:
        """The longest time (s) from ``start`` until ``end`` between two finished batches: of the whole group, or
        the worst of ``members``."""
        return analysis.longest_stop(self.processed, start, end, members)

    def partition_lag_growth(self, start: float = 4.0, end: float | None = None) -> pd.DataFrame:
        """Per partition (``p0``…): its owner at the end, how many partitions that owner read, and how fast the
        partition's lag grew from ``start`` s until ``end`` (default: until a member left), in msg/s."""
        stop = self.stopped_at() if end is None else end
        return analysis.partition_lag_growth(self.partitions, self.assignment, start, stop)

    def busy_rate(self) -> float:
        """Messages per second from the group's first finished batch to its last: a backlog's drain rate."""
        return analysis.busy_rate(self.processed)

    def typical_latency(self, q: float = 0.99, stretches: int = 8, *,
                        windows: Iterable[tuple[float, float]] | None = None) -> float:
        """End-to-end latency's ``q``-quantile (seconds) in each stretch of the run, and the median of those: one
        stall on a busy machine moves one stretch's tail, not this answer. Stretches: ``stretches`` consecutive
        equal shares of the samples, or the ``(start, end)`` seconds of ``windows`` (by when messages were
        processed), e.g. the slots while a neighbour ran. NaN if a stretch holds fewer than ten samples."""
        return analysis.typical_latency(self.latency, q, stretches, windows)

    def messages_per_call(self) -> float:
        """Messages per consume() call that returned any (each finished batch is one row of ``processed``)."""
        return float(self.summary["consumed"]) / max(1, int((self.processed["processed"] > 0).sum()))

    def between(self, start: float, end: float) -> pd.DataFrame:
        """The timeline's samples from ``start`` s until ``end`` s (lag, time lag, rates…)."""
        return self.timeline[(self.timeline["t"] >= start) & (self.timeline["t"] < end)]

    # questions lessons 08-15 ask (computed in kafkabp.analysis)
    def appended_rate(self, start: float, end: float) -> float:
        """Messages per second the broker appended to the topic from ``start`` to ``end`` s (its log-end offsets:
        what a quota let through, whatever the producer asked for)."""
        return analysis.appended_rate(self.timeline, start, end)

    def held_mb(self) -> pd.DataFrame:
        """MB the consumer held for messages at each sample (t, held_mb): its buffer plus librdkafka's prefetch."""
        return analysis.held_mb(self.timeline)

    def peak_held_mb(self) -> float:
        """The most MB the consumer held for messages at once (see :meth:`held_mb`); 0 without samples."""
        held = self.held_mb()["held_mb"]
        return float(held.max()) if len(held) else 0.0

    def rss_growth_mb(self) -> float:
        """How much the process's resident memory grew during the run, in MB (peak minus the first sample)."""
        return analysis.rss_growth_mb(self.timeline)

    def offset_resets(self) -> pd.DataFrame:
        """The consumer's offset resets (events): each jumped over messages that retention had deleted."""
        return self.events[self.events["kind"] == "offset_reset"] if len(self.events) else self.events

    def missing_sequences(self) -> int:
        """How many sequence numbers the ledger found missing (never processed, no longer in the log)."""
        return analysis.missing_sequences(self.ledger.get("lost_ranges", {}))

    def first_reached(self, column: str, value: float, after: float = 0.0) -> float:
        """The first sample time from ``after`` s on with ``timeline[column]`` at least ``value`` (NaN: never)."""
        return analysis.first_reached(self.timeline, column, value, after)

    def scale_changes(self) -> tuple[int, int]:
        """How many times the group grew and shrank during the run: (ups, downs), from the sampled size."""
        return analysis.scale_changes(self.timeline)

    def lag_at(self, t: float) -> float:
        """The total lag at the sample nearest ``t`` s (NaN without samples)."""
        return analysis.lag_at(self.timeline, t)

    def busy_members(self, min_rate: float, start: float, end: float) -> int:
        """Members that processed at least ``min_rate`` msg/s on average from ``start`` to ``end`` s (1 s bins)."""
        return analysis.busy_members(self.throughput(1.0), min_rate, start, end)

    # questions lesson 17 asks (computed in kafkabp.concurrency)
    def in_flight(self) -> pd.DataFrame:
        """Messages in flight at each sample (handed to tasks or threads, not finished), with the lag and RSS."""
        return concurrency.in_flight(self.timeline)

    def share_in_process(self) -> float:
        """When the most messages were in flight: the share of the lag that waited in the process, not in Kafka."""
        return concurrency.share_in_process(self.timeline)

    # questions lesson 16 asks (computed in kafkabp.blocking)
    def stalls(self, start: float = 0.0, end: float = math.inf) -> pd.DataFrame:
        """Per partition (``p0``…), seconds its committed offset stood still while messages waited: in all, and
        the longest stretch, from ``start`` s until ``end`` s."""
        return blocking.stalls(self.partitions, start, end)

    def fate_table(self) -> pd.DataFrame:
        """How every acknowledged message ended, exactly: messages per fate and the total (see kafkabp.blocking)."""
        return blocking.fate_table(self.summary, self.ledger)

    def cpu_busy(self) -> float:
        """The share of one CPU core the consumers' threads used during the run (0.05: 5 %)."""
        return blocking.cpu_busy(self.summary)

    @property
    def redelivered(self) -> dict[str, list[tuple[int, int]]]:
        """Per producer, the (first, last) sequence ranges processed more than once."""
        return self.ledger.get("redelivered", {})

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{k}</td><td>{_fmt(v)}</td></tr>" for k, v in self.summary.items())
        cut = f"<br>⚠ cut short: {self.cut_short}" if self.cut_short else ""
        return f"<b>{self.label}</b>{cut}<table>{rows}</table>"

    def __repr__(self) -> str:
        s = self.summary
        return (f"Result({self.label!r}: " + (f"CUT SHORT ({self.cut_short}) " if self.cut_short else "")
                + f"produced={s.produced:,} consumed={s.consumed:,} "
                f"peak_lag={s.peak_lag:,} final_lag={s.final_lag:,} slope={s.lag_slope:.0f} msg/s "
                f"lost={_fmt(s.lost)} duplicates={s.duplicates:,})")


def step_at(t: pd.Series, scale_events: pd.DataFrame, initial: int) -> list[int]:
    """The consumer count at each time in ``t``, from the "a -> b" details of ``scale_events``."""
    changes = [(row.t, int(str(row.detail).split("->")[1])) for row in scale_events.itertuples()]
    out, current, i = [], initial, 0
    for ti in t:
        while i < len(changes) and changes[i][0] <= ti:
            current = changes[i][1]
            i += 1
        out.append(current)
    return out


def owned_at(events: pd.DataFrame, t: float, members: Iterable[str]) -> dict[str, list[int]]:
    """The partitions each member owned at ``t`` seconds, replayed from its assign, revoke and lost events."""
    owned: dict[str, set[int]] = {m: set() for m in members}
    moves = events[(events["t"] <= t) & events["kind"].isin(["assign", "revoke", "lost"])] if len(events) else events
    for e in moves.itertuples(index=False):
        if e.member in owned and e.detail and e.detail != "-":
            parts = set(analysis.partitions_named(e.detail))
            owned[e.member] = owned[e.member] | parts if e.kind == "assign" else owned[e.member] - parts
    return {m: sorted(ps) for m, ps in owned.items()}


def _fmt(v: Any) -> str:
    if v is None:
        return "unknown"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "never" if math.isinf(v) else f"{v:,.3f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)

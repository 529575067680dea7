"""Plotly figures for backpressure experiment results.

Every function takes a result object (duck-typed: ``label``, ``timeline``,
``partitions``, ``events``, ``latency``, ``summary``, ``params``, ``predicted``)
or a list of them, and returns a figure or a table ready to show in a notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

TEMPLATE = "plotly_white"
HEIGHT = 400
EVENT_WINDOW_S = 1.0  # events closer than this are drawn as one marker/line
MAX_HOVER_LINES = 8

UNITS = {
    "lag": "lag (messages)",
    "time_lag": "time lag (s)",
    "produce_rate": "produce rate (msg/s)",
    "consume_rate": "consume rate (msg/s)",
    "target_rate": "target rate (msg/s)",
    "consumers": "active consumers",
}
EVENT_COLORS = {  # first kind present in a group decides the line colour
    "scale": "purple",
    "rate": "darkorange",
    "throttle": "crimson",
    "buffer_full": "crimson",
    "revoke": "grey",
    "assign": "grey",
    "note": "lightgrey",
}
LIVE_TRACES = (("total lag", "lag", False), ("produce rate", "produce_rate", True),
               ("consume rate", "consume_rate", True))
# Line styles for overlaid runs, so two runs with the same numbers (a stalled and a stopped group) stay visible:
# the dashed line is drawn over the solid one and lets it show through its gaps.
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
# Counts, seconds and rates are never negative: axes start at 0 (plotly pads below it otherwise), and a right-hand
# axis picks its own round ticks. plotly.js 4 (plotly.py 7) defaults an overlaying axis to tickmode="sync", which
# copies the left axis's gridlines and labels them 462, 929, 1,395 or 0.22, 2.66.
FROM_ZERO = dict(rangemode="tozero")
OWN_TICKS = dict(rangemode="tozero", tickmode="auto", showgrid=False)
# One colour per run label across every figure of a lesson (a notebook is one kernel): the first label drawn
# takes the first colour, and keeps it in the lag, rate, latency and comparison figures that follow.
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f")
_RUN_COLORS: dict[str, str] = {}


def color_for(label: str) -> str:
    """The colour of the run called ``label`` in this kernel: the same in every figure of a lesson."""
    if label not in _RUN_COLORS:
        _RUN_COLORS[label] = PALETTE[len(_RUN_COLORS) % len(PALETTE)]
    return _RUN_COLORS[label]


def style(fig: go.Figure, title: str, xaxis: str, yaxis: str) -> go.Figure:
    """Apply the house template, height, title, axis labels and legend place, so every figure matches."""
    fig.update_layout(template=TEMPLATE, height=HEIGHT, title=title,
                      xaxis_title_text=xaxis, yaxis_title_text=yaxis,
                      legend=dict(orientation="h", yanchor="top", y=-0.25, x=0))
    return fig


def as_list(results: Any) -> list[Any]:
    """Accept one result or a sequence of them, so callers need not wrap a single run."""
    return [results] if hasattr(results, "timeline") else list(results)


def _text(value: Any) -> str:
    """Render a possibly missing DataFrame cell (None/NaN) as a string."""
    missing = value is None or (isinstance(pd.isna(value), bool) and pd.isna(value))
    return "" if missing else str(value)


def _group_events(events: pd.DataFrame, window: float = EVENT_WINDOW_S) -> list[pd.DataFrame]:
    """Cluster events that happen within `window` seconds, e.g. one rebalance's many assigns."""
    if events is None or events.empty:
        return []
    ordered = events.sort_values("t", kind="stable")
    cluster_id = (ordered["t"] - ordered["t"].shift()).gt(window).cumsum()
    return [group for _, group in ordered.groupby(cluster_id, sort=True)]


def _event_hover(group: pd.DataFrame) -> str:
    """Describe one event group as hover text: time, then one line per event (truncated)."""
    lines = []
    for row in group.itertuples(index=False):
        member, detail = _text(row.member), _text(row.detail)
        lines.append(f"{row.kind}" + (f" {member}" if member else "") + (f": {detail}" if detail else ""))
    if len(lines) > MAX_HOVER_LINES:
        lines = lines[:MAX_HOVER_LINES] + [f"… and {len(lines) - MAX_HOVER_LINES} more"]
    return f"t = {group['t'].iloc[0]:.1f} s<br>" + "<br>".join(lines)


def _add_events(fig: go.Figure, result: Any) -> None:
    """Mark event groups with a dotted vertical line and a hoverable marker on the lag curve."""
    groups = _group_events(result.events)
    if not groups:
        return
    tl = result.timeline
    xs = [float(g["t"].iloc[0]) for g in groups]
    ys = np.interp(xs, tl["t"], tl["lag"]) if len(tl) else np.zeros(len(xs))
    colors = []
    for g in groups:
        kinds = set(g["kind"])
        colors.append(next((c for k, c in EVENT_COLORS.items() if k in kinds), "grey"))
    for x, color in zip(xs, colors):
        fig.add_vline(x=x, line_dash="dot", line_width=1, line_color=color, opacity=0.6)
    fig.add_trace(go.Scatter(x=xs, y=ys, name="events", mode="markers",
                             marker=dict(symbol="diamond", size=10, color=colors),
                             text=[_event_hover(g) for g in groups],
                             hovertemplate="%{text}<extra></extra>"))


def lag_figure(result: Any, *, per_partition: bool = True, predicted: bool = True,
               time_lag: bool = False, events: bool = True) -> go.Figure:
    """Plot consumer lag over time (total, per partition, fluid model, events) — the core backpressure picture."""
    fig = make_subplots(specs=[[{"secondary_y": True}]]) if time_lag else go.Figure()
    tl = result.timeline
    if per_partition and result.partitions is not None and not result.partitions.empty:
        parts = result.partitions
        several_topics = parts["topic"].nunique() > 1
        for (topic, partition), df in parts.groupby(["topic", "partition"], sort=True):
            name = f"{topic}:p{partition}" if several_topics else f"p{partition}"
            fig.add_trace(go.Scatter(x=df["t"], y=df["lag"], name=name, mode="lines",
                                     line=dict(width=1), opacity=0.7))
    fig.add_trace(go.Scatter(x=tl["t"], y=tl["lag"], name="total lag", mode="lines",
                             line=dict(width=4, color="black")))
    if predicted and result.predicted is not None and not result.predicted.empty:
        fig.add_trace(go.Scatter(x=result.predicted["t"], y=result.predicted["lag"],
                                 name="predicted (λ−μ)·t", mode="lines",
                                 line=dict(dash="dash", width=2, color="royalblue")))
    if time_lag:
        fig.add_trace(go.Scatter(x=tl["t"], y=tl["time_lag"], name="time lag (s)", mode="lines",
                                 line=dict(width=2, color="firebrick", dash="dot")),
                      secondary_y=True)
        fig.update_yaxes(title_text="time lag (s)", secondary_y=True, **OWN_TICKS)
        fig.update_yaxes(secondary_y=False, **FROM_ZERO)
    else:
        fig.update_yaxes(**FROM_ZERO)
    if events:
        _add_events(fig, result)
    return style(fig, f"Consumer lag — {result.label}", "time (s)", "lag (messages)")


def rates_figure(result: Any) -> go.Figure:
    """Plot produce, consume and target rates above the consumer count, to show when μ < λ.

    The consumer count gets its own strip below the rates (a step line on a shared time axis), so it never
    sits on a rate line the way a second y axis over the same area would.
    """
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.06)
    tl = result.timeline
    fig.add_trace(go.Scatter(x=tl["t"], y=tl["produce_rate"], name="produce rate", mode="lines"), row=1, col=1)
    fig.add_trace(go.Scatter(x=tl["t"], y=tl["consume_rate"], name="consume rate", mode="lines"), row=1, col=1)
    fig.add_trace(go.Scatter(x=tl["t"], y=tl["target_rate"], name="target rate", mode="lines",
                             line=dict(dash="dash", color="grey")), row=1, col=1)
    fig.add_trace(go.Scatter(x=tl["t"], y=tl["consumers"], name="consumers", mode="lines",
                             line=dict(shape="hv", width=2, color="purple")), row=2, col=1)
    most = int(pd.to_numeric(tl["consumers"], errors="coerce").max()) if len(tl) else 1
    fig.update_yaxes(title_text="rate (msg/s)", row=1, col=1, **FROM_ZERO)
    fig.update_yaxes(title_text="consumers", row=2, col=1, range=[0, max(most, 1) + 0.5],
                     dtick=1 if most <= 6 else None)
    fig.update_xaxes(title_text="time (s)", row=2, col=1)
    fig.update_layout(hovermode="x unified")
    style(fig, f"Throughput — {result.label}", "", "rate (msg/s)")
    fig.update_layout(height=HEIGHT + 80)
    return fig


def _percentiles_ms(latency: pd.Series) -> dict[str, float]:
    """Compute p50/p95/p99 of a latency series (seconds) in milliseconds."""
    q = latency.quantile([0.5, 0.95, 0.99]) * 1000.0
    return {"p50": float(q.iloc[0]), "p95": float(q.iloc[1]), "p99": float(q.iloc[2])}


def latency_figure(results: Any) -> go.Figure:
    """Box plot of end-to-end latency (ms) per result, percentiles in hover and labels, to compare tails."""
    fig = go.Figure()
    empty: list[str] = []
    for r in as_list(results):
        lat = r.latency.dropna() if r.latency is not None else pd.Series(dtype=float)
        if lat.empty:
            empty.append(r.label)
            continue
        p = _percentiles_ms(lat)
        pct = f"p50 {p['p50']:.1f} ms<br>p95 {p['p95']:.1f} ms<br>p99 {p['p99']:.1f} ms"
        fig.add_trace(go.Box(y=lat * 1000.0, name=r.label, boxpoints=False, marker_color=color_for(r.label),
                             hovertemplate=f"<b>{r.label}</b><br>{pct}<extra></extra>"))
        fig.add_annotation(x=r.label, y=p["p99"], text=pct.replace("<br>", " · "),
                           showarrow=False, yshift=14, font=dict(size=10))
    if empty:
        note = "no latency recorded" if not fig.data else "no latency recorded: " + ", ".join(empty)
        fig.add_annotation(text=note, xref="paper", yref="paper", x=0.5, y=0.5 if not fig.data else 1.0,
                           showarrow=False, font=dict(size=14, color="grey"))
    fig.update_layout(showlegend=False)
    return style(fig, "End-to-end latency (produce → processed)", "experiment", "latency (ms)")


def compare_figure(results: Sequence[Any], *, metric: str = "lag",
                   labels: Sequence[str] | None = None) -> go.Figure:
    """Overlay one timeline metric for several runs, for before/after comparisons."""
    results = as_list(results)
    valid = sorted(set.intersection(*(set(r.timeline.columns) for r in results)) - {"t"}) if results else []
    if metric not in valid:
        raise ValueError(f"unknown metric {metric!r}; valid timeline columns: {', '.join(valid)}")
    if labels is not None and len(labels) != len(results):
        raise ValueError(f"got {len(labels)} labels for {len(results)} results")
    names = list(labels) if labels is not None else [r.label for r in results]
    fig = go.Figure()
    for i, (r, name) in enumerate(zip(results, names)):
        shape = "hv" if metric == "consumers" else "linear"
        fig.add_trace(go.Scatter(x=r.timeline["t"], y=r.timeline[metric], name=name, mode="lines",
                                 line=dict(width=2.5, shape=shape, dash=DASHES[i % len(DASHES)],
                                           color=color_for(name))))
    fig.update_layout(hovermode="x unified")
    fig.update_yaxes(**FROM_ZERO)
    ylabel = UNITS.get(metric, metric.replace("_", " "))
    return style(fig, f"{ylabel[0].upper()}{ylabel[1:]} — comparison", "time (s)", ylabel)


SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star")


def tradeoff_figure(table: pd.DataFrame, *, x: str, y: str, line: str, point: str, title: str,
                    log_x: bool = False) -> go.Figure:
    """Points of ``table`` (columns or index levels ``x``, ``y``, ``line``, ``point``): one coloured line per
    ``line`` value through its points, one marker symbol per ``point`` value, named in the legend and the hover.

    No text beside the points: labels of nearby points overlap; the symbols and the legend stay readable.
    """
    df = table.reset_index() if any(n in (table.index.names or []) for n in (x, y, line, point)) else table
    missing = [c for c in (x, y, line, point) if c not in df.columns]
    if missing:
        raise ValueError(f"tradeoff_figure: no column {', '.join(map(repr, missing))} in {list(df.columns)}")
    palette = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
    symbols = {p: SYMBOLS[i % len(SYMBOLS)] for i, p in enumerate(dict.fromkeys(df[point]))}
    fig = go.Figure()
    for i, (name, rows) in enumerate(df.groupby(line, sort=False)):
        rows = rows.sort_values(x)
        fig.add_trace(go.Scatter(
            x=rows[x], y=rows[y], name=str(name), mode="lines+markers", legendgroup="lines",
            legendgrouptitle_text=line, line=dict(color=palette[i % len(palette)], width=2),
            marker=dict(size=13, symbol=[symbols[p] for p in rows[point]], line=dict(width=1, color="white")),
            customdata=rows[[point]].astype(str).to_numpy(),
            hovertemplate=f"<b>{name}</b>, %{{customdata[0]}}<br>{x}: %{{x:,.1f}}<br>{y}: %{{y:,.1f}}<extra></extra>"))
    for p, symbol in symbols.items():  # legend entries for the symbols, in grey: the colour belongs to the lines
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=str(p), legendgroup="points",
                                 legendgrouptitle_text=point, marker=dict(size=11, symbol=symbol, color="grey")))
    fig.update_xaxes(type="log" if log_x else "linear")
    fig.update_yaxes(**FROM_ZERO)
    style(fig, title, x, y)
    fig.update_layout(legend=dict(orientation="v", x=1.02, y=1, yanchor="top"), height=450)
    return fig


def summary_table(results: Any) -> pd.DataFrame:
    """One row per result with throughput, lag and latency numbers, rounded for display."""
    rows = {}
    for r in as_list(results):
        s = r.summary

        def num(key: str, scale: float = 1.0) -> float:
            value = s.get(key)
            return float("nan") if value is None else float(value) * scale

        rows[r.label] = {
            "produced": num("produced"), "consumed": num("consumed"),
            "peak lag": num("peak_lag"), "final lag": num("final_lag"),
            "lag slope (msg/s)": round(num("lag_slope"), 1),
            "p50 latency (ms)": round(num("p50_latency", 1000.0), 1),
            "p95 latency (ms)": round(num("p95_latency", 1000.0), 1),
            "p99 latency (ms)": round(num("p99_latency", 1000.0), 1),
        }
    columns = ["produced", "consumed", "peak lag", "final lag", "lag slope (msg/s)",
               "p50 latency (ms)", "p95 latency (ms)", "p99 latency (ms)"]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns) if rows else pd.DataFrame(columns=columns)
    table[columns[:4]] = table[columns[:4]].round(0).astype("Int64")
    table.index.name = "experiment"
    return table


def partition_bar(result: Any) -> go.Figure:
    """Bar chart of final lag per partition, so key skew (a hot partition) stands out."""
    parts = result.partitions
    fig = go.Figure()
    if parts is not None and not parts.empty:
        last = parts.sort_values("t", kind="stable").groupby(["topic", "partition"], sort=True).tail(1)
        last = last.sort_values(["topic", "partition"])
        several_topics = last["topic"].nunique() > 1
        names = [f"{t}:p{p}" if several_topics else f"p{p}" for t, p in zip(last["topic"], last["partition"])]
        total = last["lag"].sum()
        share = last["lag"] / total * 100 if total else last["lag"] * 0.0
        fig.add_trace(go.Bar(x=names, y=last["lag"], name="final lag", customdata=share,
                             hovertemplate="%{x}: %{y:,} messages (%{customdata:.0f}% of total)<extra></extra>"))
        fig.add_hline(y=float(last["lag"].mean()), line_dash="dash", line_color="grey",
                      annotation_text="even share", annotation_position="top left")
    return style(fig, f"Final lag per partition — {result.label}", "partition", "lag (messages)")


def _live_figure(title: str = "consumer lag") -> go.Figure:
    """Build the (empty) live figure: total lag on the left axis, rates on the right."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for name, _, secondary in LIVE_TRACES:
        fig.add_trace(go.Scatter(x=[], y=[], name=name, mode="lines",
                                 line=dict(width=3 if name == "total lag" else 1.5)),
                      secondary_y=secondary)
    fig.update_yaxes(title_text="rate (msg/s)", secondary_y=True, **OWN_TICKS)
    fig.update_yaxes(secondary_y=False, **FROM_ZERO)
    return style(fig, title, "time (s)", "lag (messages)")


def live_lag_widget(title: str = "consumer lag") -> go.FigureWidget:
    """Create a FigureWidget that `update_live` redraws in place while an experiment runs."""
    try:
        return go.FigureWidget(_live_figure(title))
    except ImportError as exc:  # plotly >= 6 renders FigureWidget through anywidget
        raise ImportError("live_lag_widget needs anywidget: pip install anywidget") from exc


def update_live(fig: go.Figure, timeline: pd.DataFrame) -> None:
    """Replace the live traces' data in one batched update, so the widget redraws once."""
    by_name = {trace.name: trace for trace in fig.data}
    with fig.batch_update():
        for name, column, _ in LIVE_TRACES:
            if name in by_name:
                by_name[name].x = timeline["t"].to_numpy()
                by_name[name].y = timeline[column].to_numpy()

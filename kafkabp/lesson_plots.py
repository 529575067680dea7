"""The figures lessons draw beyond :mod:`kafkabp.plots`' general ones, in its house style: one template, and one colour per run label
across every figure of a lesson (:func:`kafkabp.plots.color_for`).

Each takes results (or a lesson's measurements) and the lesson's reference lines, and returns a plotly figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kafkabp import blocking
from kafkabp.plots import DASHES, FROM_ZERO, as_list, color_for, style

ROW_HEIGHT = 230  # px per row of a figure with stacked panels
MIB = 1_048_576


def stacked(titles: Sequence[str], title: str, *, heights: Sequence[float] | None = None) -> go.Figure:
    """Panels one above the other on a shared time axis, in the house style."""
    fig = make_subplots(rows=len(titles), cols=1, shared_xaxes=True, vertical_spacing=0.3 / max(len(titles), 2),
                        subplot_titles=list(titles), row_heights=list(heights) if heights else None)
    style(fig, title, "", "")
    fig.update_layout(height=ROW_HEIGHT * len(titles) + 140, hovermode="x unified")
    fig.update_xaxes(title_text="time (s)", row=len(titles), col=1)
    fig.update_yaxes(**FROM_ZERO)
    return fig


def quota_figure(result: Any, quota_bytes: float, message_size: int, window: tuple[float, float]) -> go.Figure:
    """Lesson 08: MB/s the broker appended, sample by sample, against a producer quota; the measured window shaded."""
    tl = result.timeline
    mb_s = tl["log_end_offset"].diff() / tl["t"].diff() * message_size / 1e6
    fig = go.Figure(go.Scatter(x=tl["t"], y=mb_s, mode="lines", name="appended, MB/s (per sample)",
                               line=dict(color=color_for(result.label))))
    quota = f"{quota_bytes / MIB:g} MiB/s" if quota_bytes % MIB == 0 else f"{quota_bytes:,.0f} B/s"
    fig.add_hline(y=quota_bytes / 1e6, line_dash="dash", annotation_text=f"the quota, {quota}")
    fig.add_vrect(x0=window[0], x1=window[1], fillcolor="green", opacity=0.06, line_width=0,
                  annotation_text="measured window")
    fig.update_yaxes(**FROM_ZERO)
    return style(fig, f"A full-speed producer under a {quota} quota", "time (s)",
                 "MB/s appended to the log")


def buffer_figure(runs: Sequence[Any], bound: int | None = None, resume_at: int | None = None, *,
                  memory: bool = True, held: bool = True, buffer_label: str = "messages in the in-process buffer",
                  title: str = "The consumer's buffer, memory and lag") -> go.Figure:
    """Lessons 09 and 17: per run, messages in the in-process buffer (``buffer_label``: lesson 17's are in flight in
    tasks or threads), MB held for messages (buffer + prefetch; ``held=False`` leaves it out) and the process's RSS
    (``memory=False`` leaves both out), and the lag; the buffer's watermarks and evictions."""
    held = held and memory
    rows = [buffer_label] + (["MB held for messages: buffer + librdkafka's prefetch"] if held else []) + (
        ["process memory (RSS, MB)"] if memory else [])
    fig = stacked(rows + ["consumer lag (messages, in Kafka)"], title)
    for r in runs:
        tl, line = r.timeline.dropna(subset=["buffered"]), dict(color=color_for(r.label))
        h = r.held_mb()
        panels = [(tl["t"], tl["buffered"])] + ([(h["t"], h["held_mb"])] if held else []) + (
            [(tl["t"], tl["rss_mb"])] if memory else []) + [(tl["t"], tl["lag"])]
        for row, (x, y) in enumerate(panels, start=1):
            fig.add_scatter(x=x, y=y, name=r.label, legendgroup=r.label, showlegend=row == 1, line=line, row=row, col=1)
        for t in r.events.loc[r.events["kind"] == "evicted", "t"] if len(r.events) else []:
            fig.add_vline(x=t, line_color=line["color"], line_dash="dot", annotation_text="evicted", row=1, col=1)
    if bound is not None:
        fig.add_hline(y=bound, line_dash="dash", annotation_text="bound (high watermark)", row=1, col=1)
    if resume_at is not None:
        fig.add_hline(y=resume_at, line_dash="dot", annotation_text="resume_at (low watermark)", row=1, col=1)
    return fig


def retention_figure(runs: Sequence[Any], retention_s: float, fractions: Sequence[float] = (0.5, 0.8), *,
                     alerts: pd.DataFrame | None = None, title: str = "Time lag against retention") -> go.Figure:
    """Lesson 10: each run's time lag, its offset resets (x), the retention line and the alert lines at
    ``fractions`` of it; with ``alerts`` (:func:`kafkabp.time_lag_alerts`), when each alert fired and the first loss."""
    fig = go.Figure()
    for r in runs:
        tl, color = r.timeline, color_for(r.label)
        fig.add_scatter(x=tl["t"], y=tl["time_lag"], name=r.label, mode="lines", line=dict(color=color),
                        legendgroup=r.label)
        rs = r.offset_resets()
        if len(rs):
            fig.add_scatter(x=rs["t"], y=np.interp(rs["t"], tl["t"], tl["time_lag"]), mode="markers",
                            marker=dict(symbol="x", size=9, color=color), name=f"↳ {len(rs)} offset resets",
                            legendgroup=r.label, hovertext=rs["member"] + ": " + rs["detail"])
    fig.add_hline(y=retention_s, line_color="firebrick", annotation_text=f"retention {retention_s:g} s")
    for f in fractions:
        fig.add_hline(y=f * retention_s, line_dash="dash", line_color="darkorange", annotation_text=f"alert at {f:.0%}")
    if alerts is not None and len(alerts):
        for fired in alerts["fired_at"].dropna():
            fig.add_vline(x=fired, line_dash="dot", line_color="darkorange")
        loss = float(alerts["loss_at"].iloc[0])
        if not math.isnan(loss):
            fig.add_vline(x=loss, line_dash="dot", line_color="firebrick", annotation_text="first loss")
    fig.update_layout(hovermode="x unified")
    fig.update_yaxes(**FROM_ZERO)
    return style(fig, title, "time (s)", "time lag (s)")


def replicas_figure(runs: Sequence[Any], *, partitions: int | None = None, needed: tuple[int, str] | None = None,
                    peak: tuple[float, float, str] | None = None, title: str = "Lag and replicas") -> go.Figure:
    """Lesson 11: each run's lag, and its group size (replicas) as steps; a line at the partition count (or at
    ``needed`` = (replicas, why)), and the load's peak (start, end, text) shaded."""
    fig = stacked(["lag (messages)", "replicas (consumers in the group)"], title, heights=[0.6, 0.4])
    for r in runs:
        tl, color = r.timeline, color_for(r.label)
        fig.add_scatter(x=tl["t"], y=tl["lag"], name=r.label, legendgroup=r.label, line=dict(color=color, width=3),
                        row=1, col=1)
        fig.add_scatter(x=tl["t"], y=tl["consumers"], name=r.label, legendgroup=r.label, showlegend=False,
                        line=dict(color=color, shape="hv", width=3), row=2, col=1)
    if partitions is not None:
        fig.add_hline(y=partitions, line_dash="dot", annotation_text=f"{partitions} partitions", row=2, col=1)
    if needed is not None:
        fig.add_hline(y=needed[0], line_dash="dot", annotation_text=needed[1], row=2, col=1)
    if peak is not None:
        fig.add_vrect(x0=peak[0], x1=peak[1], fillcolor="gold", opacity=0.15, line_width=0, annotation_text=peak[2],
                      annotation_position="top left")
    return fig


def steps_figure(x: Sequence[float], curves: Mapping[str, Sequence[float]], *, title: str, xaxis: str, yaxis: str,
                 band: tuple[float, float, str] | None = None) -> go.Figure:
    """Step curves of the same x (lesson 11: replicas the HPA asks for, by total lag), the first drawn thickest;
    ``band`` = (from, to, text) shaded."""
    fig = go.Figure()
    for i, (name, y) in enumerate(curves.items()):
        fig.add_scatter(x=list(x), y=list(y), name=name, line=dict(shape="hv", color=color_for(name),
                                                                    width=3 if i == 0 else 2, dash="solid" if i == 0 else "dash"))
    if band is not None:
        fig.add_vrect(x0=band[0], x1=band[1], fillcolor="firebrick", opacity=0.15, line_width=0,
                      annotation_text=band[2], annotation_position="top left")
    fig.update_yaxes(dtick=1, **FROM_ZERO)
    return style(fig, title, xaxis, yaxis)


def member_rates_figure(runs: Sequence[Any], member_rate: float | None = None, *,
                        title: str = "Messages per second, per member") -> go.Figure:
    """Lesson 12: one panel per run, each member's processing rate (1 s bins); a line at one member's rate."""
    fig = stacked([r.label for r in runs], title)
    for row, r in enumerate(runs, start=1):
        tp = r.throughput(1.0)
        for m in (col for col in tp.columns if col not in ("t", "rate")):
            fig.add_scatter(x=tp["t"], y=tp[m], name=m.rsplit("-", 1)[-1], legendgroup=str(row),
                            showlegend=row == len(runs), line=dict(width=1.5), row=row, col=1)
        if member_rate is not None:
            fig.add_hline(y=member_rate, line_dash="dot", annotation_text=f"one member's μ: {member_rate:g} msg/s",
                          row=row, col=1)
    fig.update_yaxes(title_text="msg/s")
    return fig


def lag_model_figure(runs: Sequence[Any], *, title: str = "Lag, measured and modelled") -> go.Figure:
    """Each run's lag (solid) beside its fluid-model prediction (dashed, same colour) where it has one."""
    fig = go.Figure()
    for r in runs:
        color = color_for(r.label)
        fig.add_scatter(x=r.timeline["t"], y=r.timeline["lag"], name=f"{r.label}: lag", line=dict(color=color, width=3))
        if r.predicted is not None:
            fig.add_scatter(x=r.predicted["t"], y=r.predicted["lag"], name=f"{r.label}: model",
                            line=dict(color=color, dash="dash"))
    fig.update_layout(hovermode="x unified")
    fig.update_yaxes(**FROM_ZERO)
    return style(fig, title, "time (s)", "lag (messages)")


def processed_figure(result: Any, model: float | None = None) -> go.Figure:
    """Messages the group processed per second (1 s bins), beside what a model says it can (dashed)."""
    tp = result.throughput(1.0)
    fig = go.Figure(go.Scatter(x=tp["t"], y=tp["rate"], name="processed", line=dict(color=color_for(result.label))))
    if model is not None:
        fig.add_hline(y=model, line_dash="dash", annotation_text=f"model: {model:,.0f} msg/s")
    fig.update_yaxes(**FROM_ZERO)
    return style(fig, result.label, "time (s)", "msg/s")


def delivery_counts_figure(result: Any) -> go.Figure:
    """Lesson 12: how many deliveries were a record's first, second, third… (a share group's delivery counts)."""
    dc = pd.Series(dict(result.summary.delivery_counts or {}), dtype=int).sort_index()
    fig = go.Figure(go.Bar(x=[f"delivery {k}" for k in dc.index], y=dc.values, text=dc.values, textposition="outside",
                           marker_color=color_for(result.label)))
    fig.update_yaxes(**FROM_ZERO)
    return style(fig, f"Deliveries by delivery count ({result.label})", "", "deliveries")


def replication_figure(isr: pd.DataFrame, producers: pd.DataFrame, marks: Mapping[str, float], *,
                       topics: Mapping[str, str] | None = None, buffer_errors: bool = False,
                       title: str = "In-sync replicas and the producers waiting on them") -> go.Figure:
    """Lesson 15: the smallest ISR per topic (``isr``: an ISRWatch's ``isr_timeline()``, topics renamed by
    ``topics``), the messages outstanding in each producer (``producers``: its ``producers()``), with
    ``buffer_errors`` the BufferErrors so far, and a dashed line at each of ``marks`` (text → seconds)."""
    rows = ["smallest ISR (replicas in sync)", "messages outstanding in the producer"] + (
        ["BufferError so far"] if buffer_errors else [])
    fig = stacked(rows, title)
    isr = isr.assign(topic=isr["topic"].map(topics)) if topics else isr
    for name, r in isr.groupby("topic"):
        fig.add_scatter(x=r["t"], y=r["min_isr"], name=f"ISR, {name}", line=dict(shape="hv", color=color_for(name)),
                        row=1, col=1)
    for name, r in producers.groupby("producer"):
        fig.add_scatter(x=r["t"], y=r["outstanding"], name=f"outstanding, {name}", line=dict(color=color_for(name)),
                        row=2, col=1)
        if buffer_errors:
            fig.add_scatter(x=r["t"], y=r["buffer_full"], name=f"BufferError, {name}", row=3, col=1,
                            line=dict(color=color_for(name), dash="dot"))
    for what, at in marks.items():
        fig.add_vline(x=at, line_dash="dash", line_color="gray", annotation_text=what)
    fig.update_yaxes(range=[0.5, 3.5], dtick=1, row=1, col=1)
    return fig


def percentile_bars(table: pd.DataFrame, columns: Sequence[str], *, title: str, yaxis: str,
                    log: bool = True) -> go.Figure:
    """Lesson 15: grouped bars, one group per row of ``table`` (its index: the settings compared) and one bar per
    column in ``columns`` (p50, p95, p99…), on a log axis unless ``log=False``."""
    fig = go.Figure([go.Bar(x=[str(i) for i in table.index], y=table[c], name=c, marker_color=color_for(c))
                     for c in columns])
    fig.update_layout(barmode="group")
    fig.update_yaxes(type="log" if log else "linear")
    return style(fig, title, "", yaxis)


def add_model(fig: go.Figure, result: Any, name: str) -> go.Figure:
    """Draw ``result``'s fluid-model lag (dashed grey) over a lag figure, e.g. one run's model among several runs."""
    if result.predicted is not None:
        fig.add_scatter(x=result.predicted["t"], y=result.predicted["lag"], name=name, line=dict(dash="dash", color="gray"))
    return fig


# figures of lessons 01-07
def capacity_figure(consumers: Sequence[int], measured: Sequence[float], *, model: Sequence[float],
                    capacity: Sequence[float], rate: float, labels: Sequence[str] = (),
                    title: str = "Throughput by consumer count") -> go.Figure:
    """Bars of what each group processed (one per consumer count, in its run's colour when ``labels`` are given),
    the model μ as a dashed line, the group capacity (the highest rate it keeps up with) as diamonds, and the
    producer's rate as a dotted line."""
    colors = [color_for(label) for label in labels] if labels else "steelblue"
    fig = go.Figure()
    fig.add_bar(x=list(consumers), y=list(measured), name="measured throughput", marker_color=colors)
    fig.add_scatter(x=list(consumers), y=list(model), name="model μ = min(n, P) / (s per message)",
                    mode="lines+markers", line=dict(color="black", dash="dash"))
    fig.add_scatter(x=list(consumers), y=list(capacity), name="group capacity (keeps up with)", mode="markers",
                    marker=dict(symbol="diamond", size=12, color="darkorange"))
    fig.add_hline(y=rate, line_dash="dot", line_color="firebrick", annotation_text=f"producer λ = {rate:,} msg/s",
                  annotation_position="top left")
    fig.update_xaxes(tickvals=list(consumers))
    fig.update_yaxes(**FROM_ZERO)
    return style(fig, title, "consumers in the group", "messages processed per second")


def lag_vs_model_figure(results: Any, *, models: Sequence[pd.DataFrame | None] | None = None,
                        marks: Sequence[tuple[float, str]] = (), title: str = "Lag: measured and model",
                        x: str = "time (s)") -> go.Figure:
    """Each run's measured lag (solid) and its model's (dashed: ``r.predicted``, or ``models[i]`` with columns
    ``t`` and ``lag``) in the run's colour; ``marks``: (t, text) vertical lines, e.g. when μ changed."""
    results = as_list(results)
    fig = go.Figure()
    for i, r in enumerate(results):
        model = models[i] if models is not None else r.predicted
        color = color_for(r.label)
        fig.add_scatter(x=r.timeline["t"], y=r.timeline["lag"], name=f"{r.label}: measured",
                        line=dict(color=color, width=3))
        if model is not None and len(model):
            fig.add_scatter(x=model["t"], y=model["lag"], name=f"{r.label}: model", line=dict(color=color, dash="dash"))
    for t, text in marks:
        fig.add_vline(x=t, line_dash="dot", annotation_text=text)
    fig.update_yaxes(**FROM_ZERO)
    fig.update_layout(hovermode="x unified")
    return style(fig, title, x, "lag (messages)")


MEMBER_COLORS = ("royalblue", "darkorange", "seagreen", "crimson", "purple", "saddlebrown")


def rebalance_figure(results: Any, at: Sequence[float], owned_after: Sequence[float], *, before: float = 3.0,
                     after: float = 7.0, title: str = "A rebalance while loaded") -> go.Figure:
    """One panel per run (titled by its label), in seconds since its rebalance began (``at[i]``, purple line):
    each member's throughput (thin lines), the group's (black), and when the new members owned partitions
    (``owned_after[i]`` s later, green line; none if never)."""
    results = as_list(results)
    fig = make_subplots(rows=len(results), cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=[r.label for r in results])
    for row, (r, t0, owned) in enumerate(zip(results, at, owned_after), start=1):
        tp = r.throughput(0.25)
        tp = tp[(tp["t"] >= t0 - before) & (tp["t"] < t0 + after)]
        for i, member in enumerate(m for m in tp.columns if m not in ("t", "rate")):
            short = str(member).rsplit("-", 1)[-1]
            fig.add_scatter(x=tp["t"] - t0, y=tp[member], name=f"member {short}", mode="lines", legendgroup=short,
                            line=dict(width=1.5, color=MEMBER_COLORS[i % len(MEMBER_COLORS)]),
                            showlegend=row == 1, row=row, col=1)
        fig.add_scatter(x=tp["t"] - t0, y=tp["rate"], name="group", mode="lines", line=dict(width=3, color="black"),
                        legendgroup="group", showlegend=row == 1, row=row, col=1)
        fig.add_vline(x=0, line_dash="dot", line_color="purple", row=row, col=1)
        if np.isfinite(owned):
            fig.add_vline(x=owned, line_dash="dash", line_color="green", row=row, col=1)
    fig.update_yaxes(title_text="msg/s", **FROM_ZERO)
    style(fig, title, "", "")
    fig.update_xaxes(title_text="seconds since the new members joined", row=len(results), col=1)
    fig.update_layout(height=240 * len(results), legend=dict(orientation="h", y=-0.12))
    return fig


def throughput_figure(results: Any, *, bin_seconds: float = 0.25, log_y: bool = False,
                      title: str = "Messages processed per second") -> go.Figure:
    """Each run's processed messages per second (``r.throughput(bin_seconds)``), one line per run in its colour."""
    fig = go.Figure()
    for i, r in enumerate(as_list(results)):
        tp = r.throughput(bin_seconds)
        fig.add_scatter(x=tp["t"], y=tp["rate"], name=r.label, mode="lines",
                        line=dict(color=color_for(r.label), dash=DASHES[i % len(DASHES)]))
    fig.update_yaxes(type="log") if log_y else fig.update_yaxes(**FROM_ZERO)
    fig.update_layout(hovermode="x unified")
    y = "messages processed per second" + (" (log scale)" if log_y else "")
    return style(fig, title, "time (s)", y)


def bars_figure(table: pd.DataFrame, panels: dict[str, Sequence[str]], *, title: str, x: str,
                log: Sequence[str] = (), barmode: str = "group") -> go.Figure:
    """Bars of ``table``'s columns against its index: one panel per entry of ``panels`` (panel title → columns),
    side by side; panels named in ``log`` on a log scale; ``barmode="stack"`` piles a panel's columns up."""
    names = [f"{v:,}" if isinstance(v, (int, np.integer)) else str(v) for v in table.index]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels) if len(panels) > 1 else None)
    for col, (panel, columns) in enumerate(panels.items(), start=1):
        for column in columns:
            fig.add_bar(x=names, y=table[column], name=column, row=1, col=col)
        fig.update_yaxes(type="log" if panel in log else "linear", row=1, col=col)
    style(fig, title, "", next(iter(panels)) if len(panels) == 1 else "")  # one panel: its title names the y axis
    fig.update_xaxes(title_text=x)
    fig.update_layout(barmode=barmode)
    return fig


def progress_figure(results: Any, *, mark: str = "evicted", bin_seconds: float = 1.0) -> go.Figure:
    """Above, each run's processed messages per second; below, its committed offset (all partitions), in the
    run's colour; a dotted line in that colour at each of its events of kind ``mark`` (default: evictions)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=(
        f"processed (msg/s, {bin_seconds:g} s bins)", "committed offset (messages, all partitions)"))
    for r in as_list(results):
        color, tp = color_for(r.label), r.throughput(bin_seconds)
        fig.add_scatter(x=tp["t"], y=tp["rate"], name=r.label, line=dict(color=color, shape="hv"),
                        legendgroup=r.label, row=1, col=1)
        fig.add_scatter(x=r.timeline["t"], y=r.timeline["committed_offset"], name=r.label, showlegend=False,
                        line=dict(color=color), legendgroup=r.label, row=2, col=1)
        for t in r.events.loc[r.events["kind"] == mark, "t"] if len(r.events) else ():
            fig.add_vline(x=t, line_dash="dot", line_color=color, opacity=0.5)
    fig.update_yaxes(**FROM_ZERO)
    style(fig, "", "", "")
    fig.update_xaxes(title_text="time (s)", row=2, col=1)
    fig.update_layout(height=550, legend=dict(orientation="h", y=-0.15))
    return fig


def control_figure(results: Any, control: pd.DataFrame, *, target_lag: float, mu: pd.DataFrame | None = None,
                   title: str = "A rate controller at work") -> go.Figure:
    """Above, each run's lag against the controller's target; below, the rate limit the controller set
    (``control``: columns ``t``, ``rate``), what each run processed and, if given, μ (columns ``t``, ``rate``)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("lag (messages)", "rate (msg/s)"))
    for i, r in enumerate(as_list(results)):
        line = dict(color=color_for(r.label), dash=DASHES[i % len(DASHES)])
        fig.add_scatter(x=r.timeline["t"], y=r.timeline["lag"], name=f"{r.label}: lag", line=line, row=1, col=1)
        tp = r.throughput(1.0)
        fig.add_scatter(x=tp["t"], y=tp["rate"], name=f"{r.label}: processed", line=dict(line, width=1.5),
                        row=2, col=1)
    fig.add_hline(y=target_lag, line_dash="dash", line_color="firebrick", annotation_text="target", row=1, col=1)
    fig.add_scatter(x=control["t"], y=control["rate"], name="the controller's rate limit",
                    line=dict(shape="hv", color="darkorange", width=2.5), row=2, col=1)
    if mu is not None:
        fig.add_scatter(x=mu["t"], y=mu["rate"], name="μ (the model's perfect rate)",
                        line=dict(shape="hv", color="royalblue", dash="dash"), row=2, col=1)
    fig.update_yaxes(**FROM_ZERO)
    style(fig, title, "", "")
    fig.update_xaxes(title_text="time (s)", row=2, col=1)
    fig.update_layout(height=600, hovermode="x unified")
    return fig


def rolling_figure(runs: Sequence[Any], *, bin_seconds: float = 0.25,
                   title: str = "A rolling restart of the group") -> go.Figure:
    """Lesson 03: per run (its colour), partitions nobody owned (``r.unowned()``) and messages processed per second,
    one panel each; a dotted line where each member of the first run was restarted."""
    runs = as_list(runs)
    fig = stacked(["partitions nobody owns", "messages processed per second"], title)
    for i, r in enumerate(runs):
        steps, tp, line = r.unowned(), r.throughput(bin_seconds), dict(color=color_for(r.label), dash=DASHES[i % 2])
        end = max(float(r.summary.duration), float(steps["t"].max()))
        fig.add_scatter(x=[*steps["t"], end], y=[*steps["unowned"], steps["unowned"].iloc[-1]], name=r.label,
                        legendgroup=r.label, line=dict(shape="hv", **line), row=1, col=1)
        fig.add_scatter(x=tp["t"], y=tp["rate"], name=r.label, legendgroup=r.label, showlegend=False, line=line,
                        row=2, col=1)
    for t in runs[0].events_of("restart")["t"] if runs else ():
        fig.add_vline(x=float(t), line_dash="dot", line_color="grey")  # in both panels
    fig.update_yaxes(dtick=1, row=1, col=1)
    fig.update_yaxes(title_text="msg/s", row=2, col=1)
    return fig


# figures of lesson 16
def stalls_figure(results: Any, *, start: float = 0.0,
                  title: str = "The longest stretch each partition's committed offset stood still") -> go.Figure:
    """Lesson 16: per partition, the longest time its committed offset stood still while messages waited (from
    ``start`` s on), one bar per run in its colour (:func:`kafkabp.blocking.stalls_by_run`)."""
    table = blocking.stalls_by_run(as_list(results), start=start)
    fig = go.Figure([go.Bar(x=list(table.index), y=table[label], name=label, marker_color=color_for(label))
                     for label in table.columns])
    fig.update_layout(barmode="group")
    fig.update_yaxes(**FROM_ZERO)
    return style(fig, title, "partition", "seconds stalled (longest stretch)")


def fates_figure(results: Any, *, title: str = "How every message ended") -> go.Figure:
    """Lesson 16: messages per fate (first try, after N retries, dead-lettered, unread, lost), one bar per run in its
    colour, on a log scale so that a single dead-lettered message shows beside thousands processed."""
    table = blocking.fates_by_run(as_list(results)).drop(columns="total")
    fig = go.Figure([go.Bar(x=list(table.columns), y=table.loc[label].where(table.loc[label] > 0), name=label,
                            marker_color=color_for(label), text=table.loc[label], textposition="outside")
                     for label in table.index])
    fig.update_layout(barmode="group")
    fig.update_yaxes(type="log")
    return style(fig, title, "", "messages (log scale; no bar: none)")

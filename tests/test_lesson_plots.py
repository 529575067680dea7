"""The figures lessons 08-15 draw: every run in one colour across figures, the reference lines they promise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_plots import make_result

from kafkabp import lesson_plots as lp
from kafkabp import plots
from kafkabp.result import EVENT_COLUMNS


def lines(fig) -> list[float]:  # type: ignore[no-untyped-def]
    return sorted(float(s.y0) for s in fig.layout.shapes if s.y0 == s.y1)


def colours(fig) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {t.name: t.line.color for t in fig.data if t.showlegend is not False and t.line.color}


def test_retention_figure_marks_resets_retention_alerts_and_the_first_loss() -> None:
    r = make_result("lesson10 slow")
    r.events = pd.DataFrame([{"t": 12.0, "kind": "offset_reset", "member": "c0", "detail": "p0 → 500"}],
                            columns=EVENT_COLUMNS)
    alerts = pd.DataFrame({"fraction": [0.5, 0.8], "fired_at": [5.0, 8.0], "loss_at": [11.0, 11.0]})
    fig = lp.retention_figure([r, make_result("lesson10 fast")], 10, (0.5, 0.8), alerts=alerts)
    assert [t.name for t in fig.data] == ["lesson10 slow", "↳ 1 offset resets", "lesson10 fast"]
    assert fig.data[0].line.color == fig.data[1].marker.color == plots.color_for("lesson10 slow")
    assert lines(fig) == [5.0, 8.0, 10.0]
    assert sorted(s.x0 for s in fig.layout.shapes if s.x0 == s.x1) == [5.0, 8.0, 11.0]
    # the same run in the lag comparison: the same colour (lesson 10 showed two before)
    assert plots.compare_figure([r]).data[0].line.color == fig.data[0].line.color


def test_buffer_figure_draws_four_panels_per_run_and_the_watermarks() -> None:
    runs = []
    for name, level in (("lesson09 unbounded", 5_000), ("lesson09 paused", 900)):
        r = make_result(name)
        n = len(r.timeline)
        r.timeline = r.timeline.assign(buffered=np.linspace(0, level, n), buffered_mb=np.linspace(0, level / 100, n),
                                       prefetched_mb=1.0, rss_mb=100.0 + np.linspace(0, level / 100, n))
        runs.append(r)
    fig = lp.buffer_figure(runs, bound=1_000, resume_at=200)
    assert len(fig.data) == 8 and [t.name for t in fig.data if t.showlegend] == [r.label for r in runs]
    assert {t.line.color for t in fig.data[:4]} == {plots.color_for("lesson09 unbounded")}
    assert max(fig.data[1].y) == pytest.approx(51.0)  # buffer + prefetch
    assert lines(fig) == [200.0, 1_000.0]
    assert len(lp.buffer_figure(runs[:1], 1_000, memory=False).data) == 2


def test_replicas_figure_steps_the_group_size_under_the_lag() -> None:
    a, b = make_result("lesson11 KEDA"), make_result("lesson11 static")
    fig = lp.replicas_figure([a, b], partitions=4, peak=(4, 16, "500 msg/s"))
    assert [t.yaxis for t in fig.data] == ["y", "y2", "y", "y2"] and fig.data[1].line.shape == "hv"
    assert colours(fig) == {"lesson11 KEDA": plots.color_for("lesson11 KEDA"),
                            "lesson11 static": plots.color_for("lesson11 static")}
    assert lines(fig) == [4.0] and any(s.x0 == 4 and s.x1 == 16 for s in fig.layout.shapes)
    steps = lp.steps_figure([0, 100, 200], {"capped": [1, 2, 4], "idle": [1, 3, 5]}, title="t", xaxis="x", yaxis="y")
    assert [list(t.y) for t in steps.data] == [[1, 2, 4], [1, 3, 5]] and steps.data[0].line.shape == "hv"


def test_share_group_figures_member_rates_lag_model_and_delivery_counts() -> None:
    r = make_result("lesson12 share")
    r.processed = pd.DataFrame([{"t": float(t), "member": f"g-{m}", "processed": 20 * t} for t in range(10)
                                for m in range(3)])
    fig = lp.member_rates_figure([r, r], member_rate=20)
    assert len(fig.data) == 6 and lines(fig) == [20.0, 20.0]
    assert [t.name for t in lp.lag_model_figure([r]).data] == ["lesson12 share: lag", "lesson12 share: model"]
    tp = lp.processed_figure(r, model=60)
    assert list(tp.data[0].y[1:8]) == [60.0] * 7 and lines(tp) == [60.0]
    r.summary = r.summary.replace(delivery_counts={2: 30, 1: 900, 3: 4})
    bars = lp.delivery_counts_figure(r)
    assert list(bars.data[0].x) == ["delivery 1", "delivery 2", "delivery 3"] and list(bars.data[0].y) == [900, 30, 4]


def test_quota_and_replication_figures() -> None:
    r = make_result("lesson08 greedy")
    r.timeline = r.timeline.assign(log_end_offset=(r.timeline["t"] * 1_000).astype(int))
    q = lp.quota_figure(r, 1_048_576, 1_000, (3, 19))
    assert q.data[0].y[2] == pytest.approx(1.0) and lines(q) == [1.048576]
    isr = pd.DataFrame({"t": [0.0, 1.0, 0.0, 1.0], "topic": ["a", "a", "b", "b"], "min_isr": [3, 2, 3, 3]})
    prod = pd.DataFrame({"t": [0.0, 1.0], "producer": ["p", "p"], "outstanding": [0, 50], "buffer_full": [0, 3]})
    fig = lp.replication_figure(isr, prod, {"pause": 0.5}, topics={"a": "topic A", "b": "topic B"},
                                buffer_errors=True)
    assert [t.name for t in fig.data] == ["ISR, topic A", "ISR, topic B", "outstanding, p", "BufferError, p"]
    assert [s.x0 for s in fig.layout.shapes] == [0.5] * 3  # the mark, across all three panels


def test_percentile_bars_group_one_bar_per_column_on_a_log_axis() -> None:
    table = pd.DataFrame({"p50 ms": [1.0, 2.0], "p99 ms": [5.0, 9.0], "delivered": [10, 10]}, index=["acks=0", "acks=1"])
    fig = lp.percentile_bars(table, ["p50 ms", "p99 ms"], title="t", yaxis="ms")
    assert [t.name for t in fig.data] == ["p50 ms", "p99 ms"] and list(fig.data[1].y) == [5.0, 9.0]
    assert list(fig.data[0].x) == ["acks=0", "acks=1"] and fig.layout.yaxis.type == "log"


def test_add_model_draws_one_runs_model_over_a_comparison() -> None:
    runs = [make_result("lesson10 a"), make_result("lesson10 b", predicted=False)]
    fig = lp.add_model(plots.compare_figure(runs), runs[0], "model of a")
    assert [t.name for t in fig.data] == ["lesson10 a", "lesson10 b", "model of a"] and fig.data[2].line.dash == "dash"
    assert len(lp.add_model(plots.compare_figure(runs), runs[1], "none").data) == 2  # no model: nothing drawn


def test_rolling_figure_steps_unowned_partitions_over_throughput_and_marks_restarts() -> None:
    runs = []
    for name, unowned_until in (("lesson03 rolling, dynamic", 6.0), ("lesson03 rolling, static", 5.2)):
        r = make_result(name)
        r.params = {**r.params, "partitions": 2}
        r.events = pd.DataFrame([(1.0, "assign", "g-c0", "p0,p1"), (4.0, "restart", "g-c0", "slot 0"),
                                 (4.0, "revoke", "g-c0", "p0,p1"), (unowned_until, "assign", "g-c1", "p0,p1")],
                                columns=EVENT_COLUMNS)
        runs.append(r)
    fig = lp.rolling_figure(runs)
    assert [t.name for t in fig.data if t.showlegend is not False] == [r.label for r in runs]
    assert fig.data[0].line.color == fig.data[1].line.color == plots.color_for(runs[0].label)
    assert list(fig.data[0].y[:4]) == [2, 0, 2, 0] and fig.data[0].line.shape == "hv"
    assert [s.x0 for s in fig.layout.shapes if s.x0 == s.x1] == [4.0, 4.0]  # in both panels

"""Tests for kafkabp.plots on synthetic (broker-free) experiment results."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from kafkabp import lesson_plots, plots
from kafkabp.experiment import Result

PARTITIONS = 4
RATE = 2000.0  # producer target, msg/s
CONSUME = 1000.0  # consumers keep up with half of it -> lag grows at 1000 msg/s
DT, DURATION = 0.5, 20.0


def make_result(label: str = "2 consumers", *, slope: float = RATE - CONSUME,
                predicted: bool = True, latency: bool = True, events: bool = True) -> Result:
    t = np.arange(0.0, DURATION + DT / 2, DT)
    lag = np.round(slope * t).astype(int)
    timeline = pd.DataFrame({
        "t": t, "lag": lag, "time_lag": lag / RATE,
        "produce_rate": np.full_like(t, RATE), "consume_rate": np.full_like(t, RATE - slope),
        "consumers": np.where(t < 10, 2, 3), "target_rate": np.full_like(t, RATE),
    })
    # partition 0 is "hot": it gets 40% of the lag, the others 20% each
    shares = [0.4, 0.2, 0.2, 0.2]
    partitions = pd.DataFrame([
        {"t": ti, "topic": "orders", "partition": p, "log_end_offset": int(RATE * ti / PARTITIONS),
         "committed_offset": int(RATE * ti / PARTITIONS) - int(li * shares[p]),
         "lag": int(li * shares[p]), "time_lag": li * shares[p] / RATE}
        for ti, li in zip(t, lag) for p in range(PARTITIONS)
    ])
    ev_rows = [
        # one rebalance at t≈0.1: four assigns within a few ms -> one event group
        *({"t": 0.1 + i * 0.01, "kind": "assign", "member": f"c{i % 2}", "detail": f"orders-{i}"}
          for i in range(PARTITIONS)),
        {"t": 10.0, "kind": "scale", "member": None, "detail": "2 -> 3 consumers"},
        {"t": 15.0, "kind": "rate", "member": None, "detail": "2000 -> 3000 msg/s"},
    ]
    events_df = pd.DataFrame(ev_rows if events else [], columns=["t", "kind", "member", "detail"])
    lat = pd.Series(np.linspace(0.001, 0.5, 200) if latency else [], dtype=float, name="latency")
    summary = {
        "peak_lag": int(lag.max()), "final_lag": int(lag[-1]), "lag_slope": slope,
        "p50_latency": 0.0123, "p95_latency": 0.2345, "p99_latency": 0.4567,
        "produced": int(RATE * DURATION), "consumed": int((RATE - slope) * DURATION),
    }
    pred = pd.DataFrame({"t": t, "lag": slope * t}) if predicted else None
    return Result(label, timeline, partitions, events_df, lat, summary,
                      {"rate": RATE, "consumers": 2, "partitions": PARTITIONS,
                       "processing": "fixed 1 ms"}, pred)


def names(fig: go.Figure) -> list[str]:
    return [trace.name for trace in fig.data]


def test_lag_figure_traces() -> None:
    fig = plots.lag_figure(make_result())
    assert isinstance(fig, go.Figure)
    assert names(fig) == ["p0", "p1", "p2", "p3", "total lag", "predicted (λ−μ)·t", "events"]
    total = fig.data[names(fig).index("total lag")]
    assert list(total.y) == list(make_result().timeline["lag"])
    assert total.line.width > fig.data[0].line.width  # total is thick, partitions thin
    assert fig.data[names(fig).index("predicted (λ−μ)·t")].line.dash == "dash"
    assert fig.layout.template.layout.to_plotly_json() == \
        go.Figure(layout=dict(template=plots.TEMPLATE)).layout.template.layout.to_plotly_json()
    assert fig.layout.xaxis.title.text == "time (s)"
    assert fig.layout.yaxis.title.text == "lag (messages)"


def test_lag_figure_per_partition_count_matches_partitions() -> None:
    result = make_result()
    fig = plots.lag_figure(result, predicted=False, events=False)
    partition_traces = [n for n in names(fig) if n.startswith("p") and n[1:].isdigit()]
    assert len(partition_traces) == result.partitions["partition"].nunique() == PARTITIONS
    assert names(plots.lag_figure(result, per_partition=False, predicted=False, events=False)) == ["total lag"]


def test_predicted_trace_only_when_available() -> None:
    assert "predicted (λ−μ)·t" not in names(plots.lag_figure(make_result(predicted=False)))
    assert "predicted (λ−μ)·t" not in names(plots.lag_figure(make_result(), predicted=False))
    assert "predicted (λ−μ)·t" in names(plots.lag_figure(make_result()))


def test_events_are_grouped() -> None:
    fig = plots.lag_figure(make_result(), per_partition=False, predicted=False)
    events = fig.data[names(fig).index("events")]
    # 4 assigns within 30 ms collapse into one group; plus scale and rate
    assert len(events.x) == 3
    assert len(fig.layout.shapes) == 3
    assert events.text[0].count("assign") == PARTITIONS
    assert "2 -> 3 consumers" in events.text[1]
    # markers sit on the total-lag curve
    assert events.y[1] == pytest.approx(make_result().timeline.set_index("t").loc[10.0, "lag"])
    no_events = plots.lag_figure(make_result(events=False))
    assert "events" not in names(no_events) and len(no_events.layout.shapes) == 0
    assert "events" not in names(plots.lag_figure(make_result(), events=False))


def test_lag_figure_time_lag_secondary_axis() -> None:
    fig = plots.lag_figure(make_result(), time_lag=True)
    trace = fig.data[names(fig).index("time lag (s)")]
    assert trace.yaxis == "y2"
    assert fig.layout.yaxis2.title.text == "time lag (s)"
    assert "time lag (s)" not in names(plots.lag_figure(make_result()))


def assert_round_ticks_from_zero(axis: go.layout.YAxis) -> None:
    """An axis plotly.js labels with its own round ticks, starting at 0 (never -4, 462, 929 or -0.19 s)."""
    assert axis.rangemode == "tozero", axis
    if axis.overlaying:  # plotly.js 4 syncs an overlaying axis's ticks to the other axis unless told not to
        assert axis.tickmode == "auto", axis


def test_time_lag_and_rate_axes_start_at_zero_with_their_own_ticks() -> None:
    timed = plots.lag_figure(make_result(), time_lag=True)
    assert timed.layout.yaxis2.overlaying == "y"
    for axis in (timed.layout.yaxis, timed.layout.yaxis2, plots.lag_figure(make_result()).layout.yaxis):
        assert_round_ticks_from_zero(axis)
    live = plots._live_figure("live")
    assert live.data[1].yaxis == "y2" and live.layout.yaxis2.overlaying == "y"  # the rates, on the right
    assert_round_ticks_from_zero(live.layout.yaxis)
    assert_round_ticks_from_zero(live.layout.yaxis2)
    for metric in ("lag", "time_lag", "consume_rate"):
        assert_round_ticks_from_zero(plots.compare_figure([make_result()], metric=metric).layout.yaxis)


def test_rates_figure() -> None:
    fig = plots.rates_figure(make_result())
    assert names(fig) == ["produce rate", "consume rate", "target rate", "consumers"]
    consumers = fig.data[3]
    assert consumers.line.shape == "hv"
    assert set(consumers.y) == {2, 3}
    # the consumer count has a strip of its own: no rate line can sit on it
    rate_axes = {trace.yaxis for trace in fig.data[:3]}
    assert rate_axes == {"y"} and consumers.yaxis == "y2"
    rates, count = fig.layout.yaxis.domain, fig.layout.yaxis2.domain
    assert count[1] < rates[0], (rates, count)  # below the rates, not overlaid on them
    assert fig.layout.yaxis2.overlaying is None
    assert fig.layout.yaxis2.range[0] == 0 and fig.layout.yaxis2.range[1] > max(consumers.y)
    assert_round_ticks_from_zero(fig.layout.yaxis)
    assert consumers.xaxis == "x2" and fig.layout.xaxis.matches == "x2"  # one time axis for both


def test_compare_figure_keeps_equal_runs_visible() -> None:
    """Two runs with the same numbers (lesson 02's stalled and stopped groups) must not hide one another."""
    same = [make_result("stalled"), make_result("stopped")]
    fig = plots.compare_figure(same)
    assert list(fig.data[0].y) == list(fig.data[1].y)
    assert fig.data[0].line.dash != fig.data[1].line.dash
    four = plots.compare_figure([make_result(str(i)) for i in range(4)])
    assert len({trace.line.dash for trace in four.data}) == 4


def test_latency_figure_single_and_list() -> None:
    one = plots.latency_figure(make_result())
    assert names(one) == ["2 consumers"]
    assert max(one.data[0].y) == pytest.approx(500.0)  # seconds -> ms
    assert "p99" in one.data[0].hovertemplate
    assert any("p95" in a.text for a in one.layout.annotations)
    many = plots.latency_figure([make_result("before"), make_result("after")])
    assert names(many) == ["before", "after"]


def test_latency_figure_empty() -> None:
    fig = plots.latency_figure(make_result(latency=False))
    assert len(fig.data) == 0
    assert [a.text for a in fig.layout.annotations] == ["no latency recorded"]
    mixed = plots.latency_figure([make_result("ok"), make_result("broken", latency=False)])
    assert names(mixed) == ["ok"]
    assert any("no latency recorded" in a.text and "broken" in a.text for a in mixed.layout.annotations)


def test_compare_figure_labels_and_metric() -> None:
    results = [make_result("1 consumer", slope=1500.0), make_result("4 consumers", slope=0.0)]
    fig = plots.compare_figure(results)
    assert names(fig) == ["1 consumer", "4 consumers"]
    assert list(fig.data[0].y) == list(results[0].timeline["lag"])
    relabeled = plots.compare_figure(results, metric="consume_rate", labels=["before", "after"])
    assert names(relabeled) == ["before", "after"]
    assert list(relabeled.data[1].y) == list(results[1].timeline["consume_rate"])
    assert relabeled.layout.yaxis.title.text == "consume rate (msg/s)"


def test_compare_figure_unknown_metric() -> None:
    with pytest.raises(ValueError, match="bogus") as excinfo:
        plots.compare_figure([make_result(), make_result()], metric="bogus")
    for column in ("lag", "time_lag", "produce_rate", "consume_rate", "consumers", "target_rate"):
        assert column in str(excinfo.value)
    with pytest.raises(ValueError):
        plots.compare_figure([make_result(), make_result()], labels=["only one"])


def test_summary_table_matches_summary() -> None:
    a, b = make_result("before", slope=1000.0), make_result("after", slope=0.0)
    table = plots.summary_table([a, b])
    assert list(table.index) == ["before", "after"]
    row = table.loc["before"]
    assert row["produced"] == a.summary["produced"]
    assert row["consumed"] == a.summary["consumed"]
    assert row["peak lag"] == a.summary["peak_lag"]
    assert row["final lag"] == a.summary["final_lag"]
    assert row["lag slope (msg/s)"] == 1000.0
    assert row["p50 latency (ms)"] == 12.3
    assert row["p95 latency (ms)"] == 234.5
    assert row["p99 latency (ms)"] == 456.7
    assert table.loc["after", "lag slope (msg/s)"] == 0.0
    assert list(plots.summary_table(a).index) == ["before"]  # single result accepted


def test_summary_table_missing_latency_is_nan() -> None:
    r = make_result()
    r = replace(r, summary={**r.summary, "p99_latency": None})
    assert np.isnan(plots.summary_table(r).loc[r.label, "p99 latency (ms)"])


def test_partition_bar_shows_final_lag() -> None:
    result = make_result()
    fig = plots.partition_bar(result)
    bar = fig.data[0]
    assert list(bar.x) == ["p0", "p1", "p2", "p3"]
    final = result.partitions[result.partitions["t"] == result.partitions["t"].max()]
    assert list(bar.y) == list(final.sort_values("partition")["lag"])
    assert bar.y[0] == 2 * bar.y[1]  # the hot partition stands out


def test_update_live_changes_data() -> None:
    fig = plots._live_figure("test")
    assert names(fig) == ["total lag", "produce rate", "consume rate"]
    assert all(len(trace.x) == 0 for trace in fig.data)
    timeline = make_result().timeline
    plots.update_live(fig, timeline)
    assert list(fig.data[0].y) == list(timeline["lag"])
    assert list(fig.data[1].y) == list(timeline["produce_rate"])
    assert list(fig.data[2].x) == list(timeline["t"])
    plots.update_live(fig, timeline.head(3))
    assert len(fig.data[0].x) == 3


def test_live_lag_widget_or_clear_import_error() -> None:
    try:
        import anywidget  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install anywidget"):
            plots.live_lag_widget()
    else:
        widget = plots.live_lag_widget("lag")
        assert isinstance(widget, go.FigureWidget)
        plots.update_live(widget, make_result().timeline)
        assert len(widget.data[0].x) == len(make_result().timeline)


def test_tradeoff_figure_has_no_overlapping_text_and_names_every_point() -> None:
    table = pd.DataFrame({"rate": ["low"] * 3 + ["high"] * 3, "setting": ["a", "b", "c"] * 2,
                          "fetches/s": [80.0, 9.0, 2.0, 170.0, 14.0, 2.1],
                          "p50 (ms)": [2.0, 50.0, 250.0, 2.5, 33.0, 255.0]}).set_index(["rate", "setting"])
    fig = plots.tradeoff_figure(table, x="fetches/s", y="p50 (ms)", line="rate", point="setting",
                                title="trade-off", log_x=True)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["low", "high"]
    assert all(t.text is None for t in fig.data)  # no labels beside the points to collide
    # sorted along x (c, b, a); each setting keeps its symbol in both lines
    assert list(lines[1].marker.symbol) == list(lines[0].marker.symbol) == ["diamond", "square", "circle"]
    assert [t.name for t in fig.data if t.mode == "markers"] == ["a", "b", "c"]
    assert fig.layout.xaxis.type == "log"
    with pytest.raises(ValueError, match="no column 'missing'"):
        plots.tradeoff_figure(table, x="missing", y="p50 (ms)", line="rate", point="setting", title="t")


def test_a_run_keeps_its_colour_in_every_figure_of_a_lesson() -> None:
    first, second = plots.color_for("lesson-x run A"), plots.color_for("lesson-x run B")
    assert first != second and first in plots.PALETTE and second in plots.PALETTE
    assert plots.color_for("lesson-x run A") == first  # asked again, in a later figure: the same colour
    a, b = make_result("lesson-x run A"), make_result("lesson-x run B")
    compare = plots.compare_figure([b, a])  # drawn in the other order: the colours follow the labels
    assert {t.name: t.line.color for t in compare.data} == {"lesson-x run A": first, "lesson-x run B": second}
    boxes = plots.latency_figure([a, b])
    assert {t.name: t.marker.color for t in boxes.data} == {"lesson-x run A": first, "lesson-x run B": second}


def test_written_tells_a_stub_from_a_written_function(capsys: pytest.CaptureFixture[str]) -> None:
    from kafkabp import written

    def stub(x: int) -> int:
        raise NotImplementedError("write stub()")

    assert written(stub, 1) is False
    assert "stub() is not written yet" in capsys.readouterr().out
    assert written(lambda x: x + 1, 1) is True
    with pytest.raises(ZeroDivisionError):  # the learner's own bug is theirs to see
        written(lambda x: x / 0, 1)
    with pytest.raises(TypeError, match="learner's function"):
        written(42)  # type: ignore[arg-type]


# figures lessons 01-07 draw

def with_processing(label: str, *, members: int = 2, per_member: float = 500.0) -> Result:
    """make_result plus what each member processed (steadily, one row per 0.25 s), a committed offset and an
    eviction at 12 s."""
    r = make_result(label)
    t = np.arange(0.25, DURATION + 0.01, 0.25)
    r.processed = pd.DataFrame([{"t": x, "member": f"g-c{m}", "processed": int(x * per_member)}
                                for x in t for m in range(members)]).sort_values("t", kind="stable")
    r.timeline = r.timeline.assign(committed_offset=(r.timeline["t"] * per_member * members).astype(int))
    r.events = pd.concat([r.events, pd.DataFrame([{"t": 12.0, "kind": "evicted", "member": "g-c0", "detail": ""}])],
                         ignore_index=True)
    return r


def test_capacity_figure_draws_bars_model_capacity_and_the_producer() -> None:
    fig = lesson_plots.capacity_figure([1, 2, 4, 8], [98, 195, 390, 392], model=[100, 200, 400, 400],
                                capacity=[100, 200, 400, 400], rate=500, labels=["l01 a", "l01 b", "l01 c", "l01 d"])
    assert [t.type for t in fig.data] == ["bar", "scatter", "scatter"]
    assert list(fig.data[0].y) == [98, 195, 390, 392] and list(fig.data[0].marker.color) == [
        plots.color_for(x) for x in ("l01 a", "l01 b", "l01 c", "l01 d")]
    assert fig.layout.shapes[0].y0 == 500 and fig.layout.template.layout.plot_bgcolor == "white"


def test_lag_vs_model_figure_gives_a_run_and_its_model_one_colour() -> None:
    a, b = make_result("l01 drain a"), make_result("l01 drain b", predicted=False)
    fig = lesson_plots.lag_vs_model_figure([a, b], marks=[(5.0, "μ halves")])
    assert names(fig) == ["l01 drain a: measured", "l01 drain a: model", "l01 drain b: measured"]
    assert fig.data[0].line.color == fig.data[1].line.color == plots.color_for("l01 drain a")
    assert fig.data[1].line.dash == "dash" and fig.layout.shapes[0].x0 == 5.0
    own = lesson_plots.lag_vs_model_figure(b, models=[pd.DataFrame({"t": [0, 1], "lag": [0, 9]})])
    assert list(own.data[1].y) == [0, 9]


def test_rebalance_figure_has_one_panel_per_run_from_its_own_start() -> None:
    runs = [with_processing("l01 eager"), with_processing("l01 coop", members=3)]
    fig = lesson_plots.rebalance_figure(runs, at=[6.0, 7.0], owned_after=[1.5, float("inf")])
    assert [a.text for a in fig.layout.annotations] == ["l01 eager", "l01 coop"]
    first = [t for t in fig.data if t.xaxis == "x"]
    assert [t.name for t in first] == ["member c0", "member c1", "group"] and min(first[0].x) == pytest.approx(-3.0)
    assert len([s for s in fig.layout.shapes if s.line.color == "green"]) == 1  # the second never owned


def test_throughput_figure_draws_each_run_in_its_colour() -> None:
    a = with_processing("l01 tp a")
    fig = lesson_plots.throughput_figure([a], bin_seconds=1.0, log_y=True)
    assert names(fig) == ["l01 tp a"] and fig.data[0].line.color == plots.color_for("l01 tp a")
    assert np.median(fig.data[0].y) == pytest.approx(1_000.0) and fig.layout.yaxis.type == "log"


def test_bars_figure_one_panel_per_entry() -> None:
    table = pd.DataFrame({"rate": [10.0, 20.0], "cpu": [5.0, 1.0], "p50": [1.0, 2.0], "p99": [3.0, 4.0]},
                         index=pd.Index([1, 1000], name="batch"))
    fig = lesson_plots.bars_figure(table, {"rate": ["rate"], "cpu": ["cpu"], "latency": ["p50", "p99"]},
                            title="t", x="batch size", log=["cpu"])
    assert names(fig) == ["rate", "cpu", "p50", "p99"] and list(fig.data[0].x) == ["1", "1,000"]
    assert fig.layout.yaxis2.type == "log" and fig.layout.yaxis.type == "linear"
    assert lesson_plots.bars_figure(table, {"µs": ["cpu", "p50"]}, title="t", x="h", barmode="stack").layout.barmode == "stack"


def test_progress_figure_marks_evictions_in_the_run_colour() -> None:
    r = with_processing("l01 storm")
    fig = lesson_plots.progress_figure([r])
    assert names(fig) == ["l01 storm", "l01 storm"] and fig.data[1].y[-1] == r.timeline["committed_offset"].iloc[-1]
    assert [s.x0 for s in fig.layout.shapes] == [12.0, 12.0]  # on both panels
    assert fig.layout.shapes[0].line.color == plots.color_for("l01 storm")


def test_control_figure_shows_lag_target_limit_and_mu() -> None:
    r = with_processing("l01 aimd")
    control = pd.DataFrame({"t": [1.0, 2.0, 3.0], "rate": [500.0, 600.0, 420.0]})
    mu = pd.DataFrame({"t": [0.0, 10.0, 20.0], "rate": [1000.0, 500.0, 500.0]})
    fig = lesson_plots.control_figure(r, control, target_lag=1_000, mu=mu)
    assert names(fig) == ["l01 aimd: lag", "l01 aimd: processed", "the controller's rate limit",
                          "μ (the model's perfect rate)"]
    assert fig.layout.shapes[0].y0 == 1_000 and list(fig.data[2].y) == [500.0, 600.0, 420.0]
    assert len(lesson_plots.control_figure(r, control, target_lag=1_000).data) == 3

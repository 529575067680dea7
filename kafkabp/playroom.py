"""The playground (lesson 13): every knob and every mitigation on one live dashboard.

``kafkabp.playground()`` shows controls for the workload (producer rate and rate profile, message size, keys,
consumers, processing time and model, partitions, group protocol), the mitigations as toggles (an AIMD rate
limiter on lag, a KEDA-style autoscaler, a bounded buffer with pause/resume, key-ordered parallel processing inside
each consumer, a broker quota), presets ("healthy", "overloaded", "hot key", "stalled", …), Start / Stop / Reset and
a time limit after which the experiment stops by itself. A live plotly chart shows lag, rates and consumers.

Rate, consumers and processing act on the running experiment at once; the rest applies at the next Start. Nothing
runs until Start (or :meth:`Playground.run` from code). :class:`Settings` holds one configuration and
:func:`experiment_arguments` turns it into an :class:`~kafkabp.experiment.Experiment`'s arguments, the
:mod:`~kafkabp.specs` included (no broker needed); both live in :mod:`kafkabp.playground_settings`.
"""

from __future__ import annotations

import html
import threading
import time
from typing import Any, Callable

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kafkabp import admin
from kafkabp.experiment import Experiment
from kafkabp.live import LiveLoop, release_view
from kafkabp.playground_settings import (  # the settings, presets and their experiments: kafkabp.playroom's too
    HOT_FRACTION,
    KEYS,
    MESSAGE_SIZES,
    MODELS,
    OBSERVE,
    PRESETS,
    PROFILES,
    PROTOCOLS,
    QUOTAS,
    STUCK_AFTER,
    STUCK_SECONDS,
    TIME_LIMITS,
    Settings,
    Shifted,
    describe,
    experiment_arguments,
    processing_model,
    rate_profile,
)
from kafkabp.registry import REGISTRY
from kafkabp.result import Result
from kafkabp.status import group_status
from kafkabp.widgets import (
    MAX_CONSUMERS,
    MAX_PARTITIONS,
    PROCESSING_MS,
    RATES,
    STATUS_SAMPLE_S,
    STATUS_WINDOW,
    drain_text,
    exact_slider,
    processing_label,
    rate_label,
    status_text,
)
from kafkabp.workload import Constant

TRACES = (("total lag", "lag", 1, False), ("produce rate", "produce_rate", 1, True),
          ("consume rate", "consume_rate", 1, True), ("target rate", "target_rate", 1, True),
          ("consumers", "consumers", 2, False))
RESULTS_KEPT = 20  # Playground.results: the newest runs (a workshop presses Start hundreds of times)


def live_figure() -> go.FigureWidget:
    """Lag and rates on top (rates on the right axis), consumers below; redrawn in place while a run goes on."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.06,
                        specs=[[{"secondary_y": True}], [{}]])
    styles = {"total lag": dict(width=3, color="black"), "produce rate": dict(width=1.5, color="#1f77b4"),
              "consume rate": dict(width=1.5, color="#2ca02c"),
              "target rate": dict(width=1, dash="dot", color="#888", shape="hv"),
              "consumers": dict(width=2, shape="hv", color="#d62728")}
    for name, _, row, secondary in TRACES:
        fig.add_trace(go.Scatter(x=[], y=[], name=name, mode="lines", line=styles[name]), row=row, col=1,
                      **({"secondary_y": secondary} if row == 1 else {}))
    fig.update_yaxes(title_text="lag (messages)", rangemode="tozero", row=1, col=1, secondary_y=False)
    fig.update_yaxes(title_text="rate (msg/s)", rangemode="tozero", row=1, col=1, secondary_y=True, tickmode="auto")
    fig.update_yaxes(title_text="consumers", rangemode="tozero", row=2, col=1, dtick=1)
    fig.update_xaxes(title_text="time (s)", row=2, col=1)
    fig.update_layout(height=480, margin=dict(l=60, r=60, t=30, b=40), template="plotly_white",
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0), hovermode="x unified")
    try:
        return go.FigureWidget(fig)
    except ImportError as exc:  # plotly >= 6 renders FigureWidget through anywidget
        raise ImportError("the playground's live chart needs anywidget: pip install anywidget") from exc


def update_figure(fig: go.FigureWidget, timeline: pd.DataFrame) -> None:
    """Replace every trace's data in one batched update."""
    by_name = {trace.name: trace for trace in fig.data}
    with fig.batch_update():
        for name, column, _, _ in TRACES:
            if name in by_name and column in timeline:
                y = timeline[column].astype(float)
                if column == "target_rate":
                    y = y.where(y.abs() < 1e12)  # full speed: no line
                by_name[name].x = timeline["t"].to_numpy()
                by_name[name].y = y.to_numpy()


def _status_line(exp: Experiment, tl: pd.DataFrame, limit: float) -> str | None:
    """What the status line says now: the broker's problem, or lag, rates, consumers and Burrow's status."""
    problem = exp.broker_problem()
    if problem:
        return f"<b>{problem}</b>: start the broker again (`kafkabp broker up`) or press Stop."
    if not len(tl):
        return None
    last = tl.iloc[-1]
    if len(tl) < STATUS_WINDOW:
        judged = f"status: filling Burrow's window ({len(tl)} of {STATUS_WINDOW} samples)"
    else:
        parts = exp.monitor.partition_statuses()
        judged = status_text(group_status(parts.values()), parts, (STATUS_WINDOW - 1) * STATUS_SAMPLE_S)
    elapsed = time.monotonic() - exp.events.t0
    return (f"t = {last['t']:.0f} s of {limit:.0f} · lag <b>{int(last['lag']):,}</b> · time lag "
            f"{last['time_lag']:.1f} s · in {last['produce_rate']:,.0f} msg/s · out "
            f"{last['consume_rate']:,.0f} msg/s · consumers {exp.consumer_group.size} · drains in "
            f"{drain_text(exp.monitor.drain_time())}{_worst_partition(exp)}<br>{judged}"
            + (" · stopping: time limit" if elapsed >= limit else ""))


def _worst_partition(exp: Experiment) -> str:
    """Which partition holds most of the lag right now, when one clearly does."""
    frame = exp.monitor.frame()
    if frame.empty:
        return ""
    last = frame[frame["t"] == frame["t"].max()]
    total = float(last["lag"].sum())
    if total < 100 or len(last) < 2:
        return ""
    top = last.loc[last["lag"].idxmax()]
    share = float(top["lag"]) / total
    return f" · p{int(top['partition'])} holds {share:.0%} of the lag" if share >= 1.5 / len(last) else ""


def _whole(v: float) -> str:
    return f"{v:,.0f}"


def _set_exact(slider: widgets.SelectionSlider, value: float, label: Callable[[float], str]) -> None:
    """Set an exact-value slider, adding ``value`` to its options when it is not one."""
    values = [v for _, v in slider.options]
    if value not in values:
        values = sorted({*values, value})
        slider.options = [(label(v), v) for v in values]
    slider.value = value


class Playground(widgets.VBox):
    """Every knob, the mitigations as toggles, presets, Start / Stop / Reset, a time limit and a live chart."""

    def __init__(self, settings: Settings | None = None, *, preset: str | None = None, refresh: float = 0.5) -> None:
        if preset is not None:
            if preset not in PRESETS:
                raise ValueError(f"unknown preset {preset!r}; presets: {list(PRESETS)}")
            settings = PRESETS[preset][0]
        self.initial = settings or Settings()
        self.refresh = refresh
        s = self.initial
        style, wide = {"description_width": "150px"}, widgets.Layout(width="440px")
        narrow = widgets.Layout(width="300px")

        def dropdown(options: Any, value: Any, description: str, layout: Any = wide) -> widgets.Dropdown:
            return widgets.Dropdown(options=options, value=value, description=description, style=style, layout=layout)

        def check(value: bool, description: str) -> widgets.Checkbox:
            return widgets.Checkbox(value=value, description=description, indent=False,
                                    layout=widgets.Layout(width="210px"))

        self.preset = dropdown(["(choose a preset)", *PRESETS], preset or "(choose a preset)", "preset")
        self.preset_help = widgets.HTML("")
        # the workload
        self.rate = exact_slider(RATES, s.rate, rate_label, description="producer rate (msg/s)", style=style,
                                 layout=wide)
        self.profile = dropdown(list(PROFILES), s.profile, "rate profile")
        self.message_size = exact_slider(MESSAGE_SIZES, s.message_size, _whole,
                                         description="message size (bytes)", style=style, layout=wide)
        self.key_mode = dropdown([(v, k) for k, v in KEYS.items()], s.keys, "keys")
        self.consumers = widgets.IntSlider(value=s.consumers, min=0, max=MAX_CONSUMERS, description="consumers",
                                           style=style, layout=wide)
        self.processing = exact_slider(PROCESSING_MS, s.processing_ms, processing_label,
                                       description="processing (ms/msg)", style=style, layout=wide)
        self.model = dropdown(list(MODELS), s.model, "processing model")
        self.partitions = widgets.IntSlider(value=s.partitions, min=1, max=MAX_PARTITIONS, description="partitions",
                                            style=style, layout=wide)
        self.protocol = dropdown([(v, k) for k, v in PROTOCOLS.items()], s.protocol, "group protocol")
        # the mitigations
        self.aimd = check(s.aimd, "AIMD rate limiter, target lag")
        self.target_lag = widgets.IntSlider(value=s.target_lag, min=100, max=20_000, step=100, layout=narrow)
        self.autoscaler = check(s.autoscaler, "KEDA autoscaler, lagThreshold")
        self.lag_threshold = widgets.IntSlider(value=s.lag_threshold, min=10, max=5_000, step=10, layout=narrow)
        self.max_replicas = widgets.IntSlider(value=s.max_replicas, min=1, max=MAX_CONSUMERS,
                                              description="max replicas",
                                              layout=narrow)
        self.pause_resume = check(s.pause_resume, "pause/resume buffer of")
        self.buffer_size = widgets.IntSlider(value=s.buffer_size, min=100, max=20_000, step=100, layout=narrow)
        self.parallel = widgets.IntSlider(value=s.parallel, min=1, max=32, description="threads per consumer",
                                          style={"description_width": "210px"}, layout=widgets.Layout(width="510px"))
        self.quota = widgets.ToggleButtons(options=list(QUOTAS), value=s.quota, description="broker quota",
                                           style={"description_width": "80px", "button_width": "80px"})
        self.quota_kb = widgets.IntSlider(value=s.quota_kb, min=10, max=10_000, step=10, description="KB/s",
                                          layout=narrow)
        self.time_limit = exact_slider(TIME_LIMITS, s.time_limit, _whole,
                                       description="time limit (s)", style=style, layout=wide)
        # buttons, status, chart
        self.start_button = widgets.Button(description="Start", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.reset_button = widgets.Button(description="Reset", icon="undo")
        self.status = widgets.HTML("Choose a preset or set the knobs, then press <b>Start</b>.")
        self.figure = live_figure()
        self.experiment: Experiment | None = None
        self.result: Result | None = None
        self.results: list[Result] = []  # the newest RESULTS_KEPT runs, oldest first
        self._names: dict[str, int] = {}  # runs named so far, by name: each run's name stays unique
        self._quota_client: str | None = None
        self._loop: LiveLoop | None = None
        self._busy = threading.Lock()  # one start or stop at a time
        self._applying = False

        self.start_button.on_click(lambda _: self._in_thread(self.start))
        self.stop_button.on_click(lambda _: self._in_thread(self.stop))
        self.reset_button.on_click(lambda _: self._in_thread(self.reset))
        self.preset.observe(self._on_preset, names="value")
        self.rate.observe(self._on_rate, names="value")
        self.profile.observe(self._on_rate, names="value")
        self.consumers.observe(self._on_consumers, names="value")
        self.processing.observe(self._on_processing, names="value")
        self.model.observe(self._on_processing, names="value")
        for w in (self.aimd, self.autoscaler, self.protocol):
            w.observe(lambda _: self._enable(), names="value")

        live = widgets.HTML("<b>Workload</b> <i>(rate, consumers and processing change a running experiment "
                            "at once; the rest at the next Start)</i>")
        mitig = widgets.HTML("<b>Mitigations</b> <i>(at the next Start)</i>")
        self._start_only = [self.profile, self.message_size, self.key_mode, self.partitions, self.protocol, self.aimd,
                            self.target_lag, self.autoscaler, self.lag_threshold, self.max_replicas,
                            self.pause_resume, self.buffer_size, self.parallel, self.quota, self.quota_kb,
                            self.time_limit, self.preset]
        controls = widgets.VBox([
            widgets.HBox([self.preset]), self.preset_help, live,
            widgets.HBox([widgets.VBox([self.rate, self.consumers, self.processing, self.partitions, self.time_limit]),
                          widgets.VBox([self.profile, self.model, self.key_mode, self.message_size, self.protocol])]),
            mitig,
            widgets.HBox([self.aimd, self.target_lag]), widgets.HBox([self.autoscaler, self.lag_threshold,
                                                                      self.max_replicas]),
            widgets.HBox([self.pause_resume, self.buffer_size]), self.parallel,
            widgets.HBox([self.quota, self.quota_kb]),
        ])
        super().__init__([controls, widgets.HBox([self.start_button, self.stop_button, self.reset_button]),
                          self.status, self.figure])
        if preset is not None:
            self.preset_help.value = f"<i>{html.escape(PRESETS[preset][1])}</i>"
        self._enable()
        REGISTRY.replace(self)  # re-running the cell: the old playground stops its experiment and is closed

    # ------------------------------------------------------------------ settings <-> controls
    @property
    def settings(self) -> Settings:
        """The configuration the controls show now."""
        return Settings(
            rate=float(self.rate.value), profile=self.profile.value, message_size=int(self.message_size.value),
            keys=self.key_mode.value, consumers=int(self.consumers.value), processing_ms=float(self.processing.value),
            model=self.model.value, partitions=int(self.partitions.value), protocol=self.protocol.value,
            aimd=bool(self.aimd.value), target_lag=int(self.target_lag.value), autoscaler=bool(self.autoscaler.value),
            lag_threshold=int(self.lag_threshold.value), max_replicas=int(self.max_replicas.value),
            pause_resume=bool(self.pause_resume.value), buffer_size=int(self.buffer_size.value),
            parallel=int(self.parallel.value), quota=self.quota.value, quota_kb=int(self.quota_kb.value),
            time_limit=float(self.time_limit.value))

    def apply(self, settings: Settings | str) -> None:
        """Set every control to ``settings`` (or a preset's name). A running experiment follows rate, consumers and
        processing; the rest applies at the next Start."""
        if isinstance(settings, str):
            if settings not in PRESETS:
                raise ValueError(f"unknown preset {settings!r}; presets: {list(PRESETS)}")
            self.preset_help.value = f"<i>{html.escape(PRESETS[settings][1])}</i>"
            settings = PRESETS[settings][0]
        s = settings
        self._applying = True
        try:
            for slider, value, label in ((self.rate, s.rate, rate_label),
                                         (self.processing, s.processing_ms, processing_label),
                                         (self.message_size, s.message_size, _whole),
                                         (self.time_limit, s.time_limit, _whole)):
                _set_exact(slider, float(value), label)
            for w, value in ((self.profile, s.profile), (self.key_mode, s.keys), (self.consumers, s.consumers),
                             (self.model, s.model), (self.partitions, s.partitions), (self.protocol, s.protocol),
                             (self.aimd, s.aimd), (self.target_lag, s.target_lag), (self.autoscaler, s.autoscaler),
                             (self.lag_threshold, s.lag_threshold), (self.max_replicas, s.max_replicas),
                             (self.pause_resume, s.pause_resume), (self.buffer_size, s.buffer_size),
                             (self.parallel, s.parallel), (self.quota, s.quota), (self.quota_kb, s.quota_kb)):
                w.value = value
        finally:
            self._applying = False
        self._on_rate(None)
        self._on_processing(None)
        self._enable()

    def _on_preset(self, change: dict[str, Any]) -> None:
        if change["new"] in PRESETS:
            self.apply(change["new"])

    def _enable(self) -> None:
        """Grey out what cannot change now: start-only knobs while running, what a mitigation owns."""
        running = self.experiment is not None
        for w in self._start_only:
            w.disabled = running
        share = self.protocol.value == "share"
        self.parallel.disabled = running or share
        self.pause_resume.disabled = self.buffer_size.disabled = running or share
        self.rate.disabled = running and bool(self.aimd.value)  # AIMD sets the rate
        self.consumers.disabled = running and bool(self.autoscaler.value)  # the autoscaler sets the count
        self.start_button.disabled = running
        self.stop_button.disabled = not running

    # ------------------------------------------------------------------ live steering
    def _on_rate(self, _: Any) -> None:
        exp = self.experiment
        if exp is None or self._applying or self.aimd.value:
            return
        profile = rate_profile(self.settings)
        offset = time.monotonic() - exp.events.t0
        exp.set_rate(profile if isinstance(profile, Constant) else Shifted(profile, offset))

    def _on_consumers(self, change: dict[str, Any]) -> None:
        exp = self.experiment
        if exp is not None and not self._applying and not self.autoscaler.value:
            threading.Thread(target=exp.scale, args=(int(change["new"]),), daemon=True,
                             name="kafkabp-playground-scale").start()

    def _on_processing(self, _: Any) -> None:
        exp = self.experiment
        if exp is not None and not self._applying:
            exp.set_processing(processing_model(self.model.value, float(self.processing.value)))

    # ------------------------------------------------------------------ start / stop / reset
    def _in_thread(self, fn: Callable[[], Any]) -> None:
        """Button clicks start and stop in a thread: the kernel stays free to redraw (a quota takes seconds)."""
        def run() -> None:
            try:
                fn()
            except Exception as exc:
                self.status.value = f"<b>failed</b>: {html.escape(repr(exc))}"
                self._enable()

        threading.Thread(target=run, daemon=True, name="kafkabp-playground-button").start()

    def start(self, label: str | None = None) -> Experiment:
        """Start a fresh experiment with the controls' settings; it stops by itself after the time limit.

        ``label`` names the run in figures and tables; by default the preset's name or the settings
        (:func:`describe`), numbered when this playground already has a run of that name ("overloaded (2)")."""
        with self._busy:
            if self.experiment is not None:
                return self.experiment
            s = self.settings
            self.status.value = "starting…"
            client = None
            if s.quota != "off":
                client = admin.unique_name("kafkabp-playground")
                self.status.value = f"setting a {s.quota} quota of {s.quota_kb:,} KB/s (kafka-configs: a few s)…"
                rate = s.quota_kb * 1000
                admin.set_client_quota(client, **{f"{s.quota}_byte_rate": rate})
                self._quota_client = client
            try:
                exp = Experiment(**experiment_arguments(s, client_id=client, label=self._unique(label or describe(s))))
                exp.start()
            except BaseException:
                self._drop_quota()
                raise
            if s.model == "stuck":  # work and commit first, then hang: the committed offset stands still
                timer = threading.Timer(STUCK_AFTER, lambda: self.experiment is exp and exp.set_processing(
                    processing_model("stuck", 0)))
                timer.daemon = True
                timer.start()
            self.experiment, self.result = exp, None
            self._running_settings = s
            update_figure(self.figure, pd.DataFrame(columns=[c for _, c, _, _ in TRACES] + ["t"]))
            self._enable()
            self._loop = LiveLoop(exp, refresh=self.refresh, limit=s.time_limit,
                                  draw=lambda tl: update_figure(self.figure, tl),
                                  status=lambda tl: _status_line(exp, tl, s.time_limit), show=self._show,
                                  on_limit=self.stop, running=lambda: self.experiment is exp,
                                  name="kafkabp-playground").start()
            return exp

    def _show(self, text: str) -> None:
        self.status.value = text

    def close(self) -> None:
        """Stop, then close every widget of the playground (its figure too): the kernel can free them."""
        release_view(self)
        super().close()

    def stop(self) -> Result | None:
        """Stop the experiment (every client and thread), drop its quota, keep its result."""
        if self._loop is not None:
            self._loop.halt()
        with self._busy:
            if self._loop is not None:
                self._loop.halt()  # also when a start finished while this stop waited for it
            self._loop = None  # it holds the experiment: a stopped one is freed, only its result stays
            exp, self.experiment = self.experiment, None
            if exp is None:
                return self.result
            self.status.value = "stopping…"
            try:
                exp.stop()
                self.result = exp.result()
                self.results.append(self.result)
                del self.results[:-RESULTS_KEPT]
                update_figure(self.figure, self.result.timeline)
            finally:
                self._drop_quota()
                self._enable()
            s = self.result.summary
            self.status.value = (f"stopped after {s['duration']:.0f} s: produced {s['produced']:,}, consumed "
                                 f"{s['consumed']:,}, peak lag {s['peak_lag']:,}, final lag {s['final_lag']:,}, "
                                 f"lost {s['lost'] if s['lost'] is not None else '?'}. Press Start to run again.")
            return self.result

    def _drop_quota(self) -> None:
        client, self._quota_client = self._quota_client, None
        if client:
            try:
                admin.remove_client_quota(client)
            except Exception as exc:
                self.status.value += f" (could not remove the quota on {client}: {html.escape(repr(exc))})"

    def reset(self) -> None:
        """Stop, clear the chart and put every control back where it started."""
        self.stop()
        self.apply(self.initial)
        self.preset.value = "(choose a preset)"
        self.preset_help.value = ""
        update_figure(self.figure, pd.DataFrame(columns=[c for _, c, _, _ in TRACES] + ["t"]))
        self.result = None
        self.status.value = "Reset. Choose a preset or set the knobs, then press <b>Start</b>."

    def _unique(self, label: str) -> str:
        n = self._names.get(label, 0) + 1
        name = label if n == 1 else f"{label} ({n})"
        while name in self._names:  # a label that looks numbered, e.g. "healthy (2)" given by the learner
            n += 1
            name = f"{label} ({n})"
        self._names[label] = n
        self._names.setdefault(name, 1)
        return name

    def run(self, seconds: float | None = None, label: str | None = None) -> Result:
        """From code: Start, wait ``seconds`` (default: the time limit), Stop; returns the result (named ``label``,
        as :meth:`start` says)."""
        self.start(label)
        limit = float(self.time_limit.value) if seconds is None else float(seconds)
        end = time.monotonic() + limit
        while time.monotonic() < end and self.experiment is not None:
            time.sleep(0.1)
        result = self.stop()
        assert result is not None
        return result


def playground(preset: str | None = None, **settings: Any) -> Playground:
    """The playground: every knob, the mitigations, presets, Start / Stop / Reset, a live chart.

    ``playground("overloaded")`` starts from a preset; ``playground(rate=2000, consumers=2)`` from settings (see
    :class:`Settings`). Nothing runs until Start (or :meth:`Playground.run`).
    """
    if preset is not None and settings:
        base = PRESETS[preset][0] if preset in PRESETS else None
        if base is None:
            raise ValueError(f"unknown preset {preset!r}; presets: {list(PRESETS)}")
        pg = Playground(base.replace(**settings))
        pg.preset_help.value = f"<i>{html.escape(PRESETS[preset][1])}</i>"
        return pg
    if preset is not None:
        return Playground(preset=preset)
    return Playground(Settings(**settings))


def stop_playgrounds() -> None:
    """Stop every playground's experiment in this kernel."""
    for p in REGISTRY.live("view"):
        if isinstance(p, Playground):
            p.stop()


__all__ = ["HOT_FRACTION", "PRESETS", "Playground", "RESULTS_KEPT", "STUCK_SECONDS", "Settings", "Shifted", "describe",
           "experiment_arguments", "live_figure", "playground", "processing_model", "rate_profile", "stop_playgrounds"]

"""ipywidgets dashboards: move a slider, watch a real broker's lag answer.

The dashboard steers a live :class:`~kafkabp.experiment.Experiment` (producer rate, consumer
count, processing time) and redraws a plotly FigureWidget every half second from a thread.
Re-running the cell stops the previous dashboard's experiment, so nothing is left behind.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import ipywidgets as widgets

from kafkabp import plots
from kafkabp.experiment import Experiment, Result
from kafkabp.workload import fixed

_ACTIVE: list["Dashboard"] = []


def _rate_text(x: float) -> str:
    return "never" if math.isinf(x) else f"{x:,.0f} s"


class Dashboard(widgets.VBox):
    """Sliders for rate, consumers and processing time; Start/Stop; a live lag and rate chart."""

    def __init__(self, rate: float = 2000, consumers: int = 1, processing_ms: float = 1.0,
                 partitions: int = 4, duration: float = 120, refresh: float = 0.5) -> None:
        if rate <= 0 or consumers < 0 or processing_ms < 0 or partitions < 1 or duration <= 0:
            raise ValueError("dashboard needs rate > 0, consumers >= 0, processing_ms >= 0, "
                             "partitions >= 1 and duration > 0")
        style = {"description_width": "170px"}
        layout = widgets.Layout(width="520px")
        self.rate = widgets.FloatLogSlider(value=rate, base=10, min=1, max=5, step=0.05, readout_format=",.0f",
                                           description="producer rate (msg/s)", style=style, layout=layout)
        self.consumers = widgets.IntSlider(value=consumers, min=0, max=12, description="consumers",
                                           style=style, layout=layout)
        self.processing = widgets.FloatLogSlider(value=max(processing_ms, 0.01), base=10, min=-2, max=2, step=0.05,
                                                 readout_format=".2f", description="processing (ms/msg)",
                                                 style=style, layout=layout)
        self.partitions = widgets.IntSlider(value=partitions, min=1, max=12, description="partitions (at start)",
                                            style=style, layout=layout)
        self.start_button = widgets.Button(description="Start", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.status = widgets.HTML("Press <b>Start</b> to run a producer and a consumer group on the broker.")
        self.figure = plots.live_lag_widget("live consumer lag")
        self.duration, self.refresh = duration, refresh
        self.experiment: Experiment | None = None
        self.result: Result | None = None
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.rate.observe(self._on_rate, names="value")
        self.consumers.observe(self._on_consumers, names="value")
        self.processing.observe(self._on_processing, names="value")
        super().__init__([self.rate, self.consumers, self.processing, self.partitions,
                          widgets.HBox([self.start_button, self.stop_button]), self.status, self.figure])
        for old in list(_ACTIVE):  # re-running the cell: the old dashboard stops its experiment
            old.stop()
        _ACTIVE.append(self)

    # slider callbacks steer the running experiment
    def _on_rate(self, change: dict[str, Any]) -> None:
        if self.experiment is not None:
            self.experiment.set_rate(float(change["new"]))

    def _on_consumers(self, change: dict[str, Any]) -> None:
        if self.experiment is not None:
            threading.Thread(target=self.experiment.scale, args=(int(change["new"]),), daemon=True,
                             name="kafkabp-dashboard-scale").start()

    def _on_processing(self, change: dict[str, Any]) -> None:
        if self.experiment is not None:
            self.experiment.set_processing(fixed(float(change["new"]) / 1000.0))

    def start(self) -> None:
        """Start a fresh experiment with the sliders' values and redraw until Stop or ``duration``."""
        if self.experiment is not None:
            return
        self.experiment = Experiment(rate=float(self.rate.value), consumers=int(self.consumers.value),
                                     processing=fixed(float(self.processing.value) / 1000.0),
                                     partitions=int(self.partitions.value), label="dashboard")
        self.experiment.start()
        self.partitions.disabled, self.start_button.disabled, self.stop_button.disabled = True, True, False
        self._halt.clear()
        self._thread = threading.Thread(target=self._loop, name="kafkabp-dashboard", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        exp = self.experiment
        assert exp is not None
        end = time.monotonic() + self.duration
        while not self._halt.wait(self.refresh):
            try:
                tl = exp.timeline()
                plots.update_live(self.figure, tl)
                if len(tl):
                    last = tl.iloc[-1]
                    self.status.value = (
                        f"t = {last['t']:.0f} s · lag <b>{int(last['lag']):,}</b> · time lag {last['time_lag']:.1f} s · "
                        f"in {last['produce_rate']:,.0f} msg/s · out {last['consume_rate']:,.0f} msg/s · "
                        f"status <b>{exp.monitor.status().value}</b> · drains in {_rate_text(exp.monitor.drain_time())}")
            except Exception as exc:  # keep the loop alive; show what went wrong
                self.status.value = f"update failed: {exc!r}"
            if time.monotonic() >= end:
                threading.Thread(target=self.stop, daemon=True).start()
                break

    def stop(self) -> None:
        """Stop the experiment (commits, leaves the group, stops every thread) and keep its result."""
        self._halt.set()
        exp, self.experiment = self.experiment, None
        if exp is None:
            return
        exp.stop()
        self.result = exp.result()
        s = self.result.summary
        self.status.value = (f"stopped after {s['duration']:.0f} s: produced {s['produced']:,}, consumed "
                             f"{s['consumed']:,}, peak lag {s['peak_lag']:,}. Press Start to run again.")
        self.partitions.disabled, self.start_button.disabled, self.stop_button.disabled = False, False, True


def dashboard(rate: float = 2000, consumers: int = 1, processing_ms: float = 1.0, partitions: int = 4,
              duration: float = 120) -> Dashboard:
    """A live dashboard: sliders for producer rate, consumers and processing time; nothing runs until Start."""
    return Dashboard(rate, consumers, processing_ms, partitions, duration)


def stop_dashboards() -> None:
    """Stop every dashboard's experiment in this kernel."""
    for d in list(_ACTIVE):
        d.stop()

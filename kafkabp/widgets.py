"""ipywidgets dashboards: move a slider, watch a real broker's lag answer.

The dashboard steers a live :class:`~kafkabp.experiment.Experiment` (producer rate, consumer
count, processing time) and, from a thread, redraws a plotly FigureWidget at each lag sample (every
second) and writes a status line: lag, time lag, rates and Burrow's status with what it means.
Re-running the cell stops the previous dashboard's experiment, so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import html
import io
import math
import numbers
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import pandas as pd

from kafkabp import plots
from kafkabp.experiment import Experiment, Result
from kafkabp.specs import Observe
from kafkabp.live import LiveLoop, release_view
from kafkabp.registry import REGISTRY
from kafkabp.status import STATUS_MEANING, Status, group_status
from kafkabp.workload import fixed

# The sliders hold exact values from these lists (a log slider rounds 2,000 to 1,995); a value asked for that is
# not on a list is added to it.
RATES = (1, 2, 5, 10, 20, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 950, 1_000, 1_100, 1_200, 1_500, 1_800,
         2_000, 2_500, 2_800, 3_000, 3_500, 4_000, 5_000, 6_000, 8_000, 10_000, 15_000, 20_000, 30_000, 50_000, 100_000)
PROCESSING_MS = (0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 1.5, 2, 3, 5, 10, 20, 50, 100)
MAX_RATE, MAX_PROCESSING_MS, MAX_CONSUMERS, MAX_PARTITIONS = 100_000, 1_000, 12, 12

# Burrow's rules judge a window of samples. A partition reads STOP once its last commit is older than the span of
# the window's commits before it, i.e. after about half the window without a commit. One consumer working through a
# large backlog takes it in fetched chunks, one partition at a time, and leaves the others without a commit for
# several seconds (up to 6 s measured while 450,000 messages of lag drained, up to 8 s while they piled up at
# 20,000 msg/s): with 10 samples 0.5 s apart (a 4.5 s window) those partitions flickered STOP, and the group ERR,
# while the lag drained at 1,000 msg/s. A 20 s window (21 samples, 1 s apart) rides out such turns and still shows a
# group whose consumers are gone as STOP after about 10 s; samples a second apart also keep a growing lag's WARN from
# flickering to OK on one noisy dip. The status shows once the window is full (Burrow's ``minimum-complete``): a
# window of a few seconds has a span of a few seconds, and would call a partition STOP after a pause of half that.
STATUS_SAMPLE_S, STATUS_WINDOW = 1.0, 21


def drain_text(x: float) -> str:
    """A drain time for a status line: seconds, or never."""
    return "never" if math.isinf(x) else f"{x:,.0f} s"


def _number(name: str, value: Any, unit: str, low: float, high: float, *, example: str,
            low_ok: bool = True, whole: bool = False) -> float:
    """``value`` as a number within [low, high] (or (low, high] unless ``low_ok``), else an error naming the
    argument, its unit, the range and an example: TypeError for a value of the wrong type, ValueError otherwise."""
    kind = "a whole number" if whole else "a number"
    wanted = numbers.Integral if whole else numbers.Real
    if isinstance(value, bool) or not isinstance(value, wanted):
        raise TypeError(f"dashboard({name}={value!r}): {name} must be {kind} of {unit}, "
                        f"from {low:,g} to {high:,g}, e.g. {example}")
    if math.isnan(value) or value > high or value < low or (value == low and not low_ok):
        span = f"from {low:,g} to {high:,g}" if low_ok else f"more than {low:,g} and at most {high:,g}"
        raise ValueError(f"dashboard({name}={value!r}): {name} must be {span} {unit}, e.g. {example}")
    return float(value)


def exact_slider(preset: Sequence[float], value: float, label: Any, **kwargs: Any) -> widgets.SelectionSlider:
    """A slider over the preset values plus ``value`` (in order), set to exactly ``value``, labelled by ``label``."""
    values = sorted(set(float(v) for v in preset) | {float(value)})
    # by index: ipywidgets leaves the label blank when the value given is the first option
    return widgets.SelectionSlider(options=[(label(v), v) for v in values], index=values.index(float(value)),
                                   **kwargs)


def rate_label(rate: float) -> str:
    return f"{rate:,.0f}" if rate == int(rate) else f"{rate:,.1f}"


def processing_label(ms: float) -> str:
    return "0 (free)" if ms == 0 else f"{ms:,g}"


def status_text(group: Status, partitions: Mapping[int, Status], window_s: float) -> str:
    """What a group status means, in one line of HTML: Burrow's status, which partitions cause an ERR, and why."""
    head = f"status <b>{group.value}</b>"
    if group == Status.ERR:
        bad = {p: s for p, s in sorted(partitions.items()) if s in (Status.STOP, Status.STALL, Status.REWIND)}
        kinds = sorted(set(bad.values()), key=list(Status).index)
        head += " (" + ", ".join(f"p{p} {s.value}" for p, s in bad.items()) + ")"
        stop = (f"Stopped: no commit for over {window_s / 2:.0f} s (half the window) while messages wait: the "
                "consumers left, are stuck without committing, or one consumer spent that long on its other "
                "partitions' backlog.")
        meaning = " ".join(stop if s == Status.STOP else STATUS_MEANING[s] for s in kinds)
    else:
        meaning = STATUS_MEANING[group]
    return f"{head}: {html.escape(meaning)} <i>(Burrow's rules over the last {window_s:.0f} s)</i>"


class Dashboard(widgets.VBox):
    """Sliders for rate, consumers and processing time; Start/Stop; a live lag and rate chart."""

    def __init__(self, rate: float = 2000, consumers: int = 1, processing_ms: float = 1.0,
                 partitions: int = 4, duration: float = 120, refresh: float = 0.5) -> None:
        rate = _number("rate", rate, "messages per second", 1, MAX_RATE, example="rate=2000")
        consumers = int(_number("consumers", consumers, "consumers", 0, MAX_CONSUMERS, whole=True,
                                example="consumers=1 (0 lets lag pile up)"))
        processing_ms = _number("processing_ms", processing_ms, "milliseconds per message", 0, MAX_PROCESSING_MS,
                                example="processing_ms=1.0 (0 means free processing)")
        partitions = int(_number("partitions", partitions, "partitions", 1, MAX_PARTITIONS, whole=True,
                                 example="partitions=4"))
        duration = _number("duration", duration, "seconds", 0, 3600, low_ok=False, example="duration=120")
        refresh = _number("refresh", refresh, "seconds", 0, 60, low_ok=False, example="refresh=0.5")
        style = {"description_width": "170px"}
        layout = widgets.Layout(width="520px")
        self.rate = exact_slider(RATES, rate, rate_label, description="producer rate (msg/s)",
                                 style=style, layout=layout)
        self.consumers = widgets.IntSlider(value=consumers, min=0, max=MAX_CONSUMERS, description="consumers",
                                           style=style, layout=layout)
        self.processing = exact_slider(PROCESSING_MS, processing_ms, processing_label,
                                       description="processing (ms/msg)", style=style, layout=layout)
        self.partitions = widgets.IntSlider(value=partitions, min=1, max=MAX_PARTITIONS,
                                            description="partitions (at start)", style=style, layout=layout)
        self.start_button = widgets.Button(description="Start", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.status = widgets.HTML("Press <b>Start</b> to run a producer and a consumer group on the broker.")
        self.figure = plots.live_lag_widget("live consumer lag")
        self.duration, self.refresh = duration, refresh
        self.experiment: Experiment | None = None
        self.result: Result | None = None
        self._loop: LiveLoop | None = None
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.rate.observe(self._on_rate, names="value")
        self.consumers.observe(self._on_consumers, names="value")
        self.processing.observe(self._on_processing, names="value")
        super().__init__([self.rate, self.consumers, self.processing, self.partitions,
                          widgets.HBox([self.start_button, self.stop_button]), self.status, self.figure])
        REGISTRY.replace(self)  # re-running the cell: the old dashboard stops its experiment and is closed

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
                                     partitions=int(self.partitions.value), label="dashboard",
                                     observe=Observe(sample_interval=STATUS_SAMPLE_S, status_window=STATUS_WINDOW))
        self.experiment.start()
        self.partitions.disabled, self.start_button.disabled, self.stop_button.disabled = True, True, False
        exp = self.experiment
        self._loop = LiveLoop(exp, refresh=self.refresh, limit=self.duration,
                              draw=lambda tl: plots.update_live(self.figure, tl),
                              status=lambda tl: self._status_line(exp, tl), show=self._show, on_limit=self.stop,
                              name="kafkabp-dashboard").start()

    def _show(self, text: str) -> None:
        self.status.value = text

    @staticmethod
    def _status_line(exp: Experiment, tl: pd.DataFrame) -> str | None:
        """What the status line says now: the broker's problem, or lag, rates and Burrow's status."""
        problem = exp.broker_problem()
        if problem:
            return (f"<b>{problem}</b>: lag cannot be read; the producer's messages wait in its queue. Start the "
                    "broker again (`kafkabp broker up`) or press Stop.")
        if not len(tl):
            return None
        last = tl.iloc[-1]
        if len(tl) < STATUS_WINDOW:
            judged = (f"status: filling Burrow's window, {len(tl)} of {STATUS_WINDOW} samples "
                      f"({STATUS_SAMPLE_S:g} s apart)")
        else:
            partitions = exp.monitor.partition_statuses()
            judged = status_text(group_status(partitions.values()), partitions, (STATUS_WINDOW - 1) * STATUS_SAMPLE_S)
        return (f"t = {last['t']:.0f} s · lag <b>{int(last['lag']):,}</b> · time lag {last['time_lag']:.1f} s · "
                f"in {last['produce_rate']:,.0f} msg/s · out {last['consume_rate']:,.0f} msg/s · "
                f"drains in {drain_text(exp.monitor.drain_time())}<br>{judged}")

    def close(self) -> None:
        """Stop, then close every widget of the dashboard (its figure too): the kernel can free them."""
        release_view(self)
        super().close()

    def stop(self) -> None:
        """Stop the experiment (commits, leaves the group, stops every thread) and keep its result."""
        if self._loop is not None:
            self._loop.halt()
        self._loop = None  # it holds the experiment: a stopped one is freed, only its result stays
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
    """A live dashboard: sliders for producer rate, consumers and processing time; nothing runs until Start.

    ``rate`` 1 to 100,000 msg/s, ``consumers`` 0 to 12, ``processing_ms`` 0 (free) to 1,000 ms per message,
    ``partitions`` 1 to 12, ``duration`` seconds before it stops by itself; anything else raises a TypeError or
    ValueError that names the argument.
    """
    return Dashboard(rate, consumers, processing_ms, partitions, duration)


def stop_dashboards() -> None:
    """Stop every dashboard's experiment in this kernel."""
    for d in REGISTRY.live("view"):
        if isinstance(d, Dashboard):
            d.stop()


class TryIt(widgets.VBox):
    """A lesson's Try-it runner: its sliders, a Run button and an output area (see :func:`try_it`)."""

    def __init__(self, run: Callable[..., Any], sliders: Mapping[str, widgets.ValueWidget],
                 draw: Callable[..., Any] | None, seconds: float) -> None:
        if not callable(run) or (draw is not None and not callable(draw)):
            raise TypeError("try_it(run, sliders, draw): run and draw must be functions, e.g. "
                            "try_it(lambda seconds, rate: kafkabp.run_experiment(seconds, rate=rate), {...}, draw)")
        if not sliders or not all(isinstance(s, widgets.ValueWidget) for s in sliders.values()):
            raise TypeError("try_it(sliders=...) takes a dict of ipywidgets with a value, e.g. "
                            "{'rate': widgets.IntSlider(value=500, min=100, max=2000)}")
        if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or not 0 < seconds <= 600:
            raise ValueError(f"try_it(seconds={seconds!r}): a run lasts more than 0 and at most 600 s, e.g. 12")
        self.run, self.draw, self.seconds, self.sliders = run, draw, float(seconds), dict(sliders)
        self.button = widgets.Button(description=f"Run {seconds:g} s", button_style="primary")
        self.output = widgets.Output()
        self.result: Any = None  # the last run's result
        self.button.on_click(lambda _: self.run_once())
        super().__init__([widgets.HBox([*self.sliders.values(), self.button]), self.output])

    def run_once(self) -> Any:
        """Run once with the sliders' values, in this thread (the button's): the run lasts ``seconds`` and cleans
        up after itself, on an error or an interrupt too. Draws the result; returns it (None if it failed)."""
        from IPython.display import display

        values = {name: s.value for name, s in self.sliders.items()}
        self.button.disabled = True  # one run at a time: a second click would queue behind this one
        self.result = None
        with self.output:
            self.output.clear_output()
            try:
                self.result = self.run(self.seconds, **values)
                shown = self.draw(self.result, **values) if self.draw else None
                if shown is not None:
                    display(shown)
            except KeyboardInterrupt:
                print("⏹ interrupted: the run was stopped and cleaned up")
            except Exception as exc:  # the learner's to read, in the output area, not in the kernel's log
                print(f"❌ the run failed: {type(exc).__name__}: {exc}")
            finally:
                self.button.disabled = False
        return self.result


def try_it(run: Callable[..., Any], sliders: Mapping[str, widgets.ValueWidget],
           draw: Callable[..., Any] | None = None, *, seconds: float) -> TryIt:
    """Sliders, a Run button and an output area: Run calls ``run(seconds, **values)`` (``values``: each slider's
    value under its name in ``sliders``), which runs one bounded experiment (e.g. with
    :func:`~kafkabp.experiment.run_experiment`) and returns its result, then ``draw(result, **values)``, which may
    print and returns a figure to show (or None). The run happens in the button's thread, so nothing is left
    running behind it; an error or an interrupt is printed in the output area."""
    return TryIt(run, sliders, draw, seconds)


class Explore(widgets.VBox):
    """Sliders and the lines a function prints for their values (see :func:`explore`)."""

    def __init__(self, show: Callable[..., Any], sliders: Mapping[str, widgets.ValueWidget]) -> None:
        if not callable(show):
            raise TypeError(f"explore(show, ...): show must be a function that prints, got {show!r}")
        if not sliders or not all(isinstance(s, widgets.ValueWidget) for s in sliders.values()):
            raise TypeError("explore(show, name=slider, ...) takes ipywidgets with a value, e.g. "
                            "explore(show, linger_ms=widgets.SelectionSlider(options=[0, 5, 100], value=5))")
        self.show, self.sliders = show, dict(sliders)
        self.text = widgets.HTML()
        self.lines = ""
        self.update(raise_errors=True)  # a function that fails on its first values fails the cell, as a call would
        for slider in self.sliders.values():
            slider.observe(lambda _: self.update(), names="value")
        super().__init__([*self.sliders.values(), self.text])

    def update(self, raise_errors: bool = False) -> str:
        """Call ``show`` with the sliders' values; its printed lines become the text under the sliders."""
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                self.show(**{name: s.value for name, s in self.sliders.items()})
        except Exception as exc:
            if raise_errors:
                raise
            out.write(f"❌ {type(exc).__name__}: {exc}\n")
        self.lines = out.getvalue()
        self.text.value = f"<pre style='margin:0'>{html.escape(self.lines)}</pre>"
        return self.lines

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self.lines.rstrip("\n")  # a page without widgets shows the first values' lines
        return bundle


def explore(show: Callable[..., Any], **sliders: widgets.ValueWidget) -> Explore:
    """ipywidgets' ``interact`` for a function that prints: ``explore(show, linger_ms=slider)`` calls
    ``show(linger_ms=slider.value)`` now and at each move, and shows what it printed under the sliders. Printed
    text goes into a text widget, not into ``interact``'s Output widget: run headless (``jupyter nbconvert
    --execute``, as an instructor pre-runs a lesson), nbclient 0.11 mimics an Output widget by sending on the
    kernel's shell socket while it waits there for the cell's reply, and can miss that reply until the cell's
    timeout ends (forever under nbconvert's default of none): jupyter/nbclient#312, seen in ``make test``."""
    return Explore(show, sliders)

"""The one polling loop behind every live view of a running experiment (the dashboard, the playground).

From a thread, every ``refresh`` seconds: the experiment notes what its parts show (:meth:`Experiment.record`:
target rate, a broker outage), the view redraws when a new lag sample came, and writes its status line; at the
time limit the view stops (in another thread: stopping joins this one). An error in one round is shown and the
loop goes on. A view also uses :func:`close_children` when it is closed: ipywidgets keeps every widget alive until
it is closed, and closing a box does not close what it holds.
"""

from __future__ import annotations

import gc
import html
import threading
import time
import types
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # types only: kafkabp.experiment imports pandas
    import pandas as pd

    from kafkabp.experiment import Experiment

from kafkabp.registry import REGISTRY


class LiveLoop:
    """Poll ``experiment`` every ``refresh`` s until :meth:`halt`, ``running()`` is false, or ``limit`` seconds
    after the experiment started (then ``on_limit()`` runs, in its own thread).

    ``draw(timeline)`` runs when the timeline has a new sample; ``status(timeline)`` gives the status line's HTML
    (None: leave it as it is) and ``show(html)`` writes it.
    """

    def __init__(self, experiment: "Experiment", *, refresh: float, limit: float,
                 draw: Callable[["pd.DataFrame"], None], status: Callable[["pd.DataFrame"], str | None],
                 show: Callable[[str], None], on_limit: Callable[[], Any],
                 running: Callable[[], bool] = lambda: True, name: str = "kafkabp-live") -> None:
        self.experiment, self.refresh, self.limit = experiment, refresh, limit
        self.draw, self.status, self.show, self.on_limit, self.running = draw, status, show, on_limit, running
        self.name = name
        self._halt = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "LiveLoop":
        self.thread.start()
        return self

    def halt(self) -> None:
        """End the loop after the round in progress (does not wait for it)."""
        self._halt.set()

    def _run(self) -> None:
        exp, drawn = self.experiment, -1
        while not self._halt.wait(self.refresh) and self.running():
            try:
                exp.record()
                tl = exp.timeline()
                if len(tl) != drawn:  # a new sample: redraw once
                    self.draw(tl)
                    drawn = len(tl)
                line = self.status(tl)
                if line is not None:
                    self.show(line)
            except Exception as exc:  # keep the loop alive; show what went wrong
                self.show(f"update failed: {html.escape(repr(exc))}")
            if time.monotonic() - exp.events.t0 >= self.limit:
                threading.Thread(target=self.on_limit, daemon=True, name=f"{self.name}-stop").start()
                break


def release_view(view: Any) -> None:
    """What closing a view (a dashboard, a playground) does before ipywidgets closes it: stop its experiment (also
    from ipywidgets' ``__del__``, on a view maybe half made), let the registry go of it, close what it holds."""
    if getattr(view, "experiment", None) is not None:
        view.stop()
    REGISTRY.release(view)
    close_children(view)


def close_children(box: Any) -> None:
    """Close every widget ``box`` holds (children of boxes, recursively, with their layout and style), so that
    ipywidgets lets go of them; ``box`` itself stays open (its own ``close()`` calls this, then closes it)."""
    for child in getattr(box, "children", ()):
        close_children(child)
        for part in (getattr(child, "layout", None), getattr(child, "style", None), child):
            if callable(getattr(part, "close", None)):
                part.close()
        _drop_file_watch(child)


def _drop_file_watch(widget: Any) -> None:
    """anywidget (behind plotly's FigureWidget) connects every widget to its class's source files, to reload them
    during development, with a function that holds the widget, and never disconnects it: a closed figure would
    stay alive for the kernel's life. Disconnect the functions that hold ``widget`` (found through the garbage
    collector's referrers: three scans, at close only)."""
    signals = [signal for klass in type(widget).__mro__ for key in ("_esm", "_css")
               if callable(getattr(signal := getattr(klass.__dict__.get(key), "changed", None), "disconnect", None))]
    if not signals:
        return
    cells = [c for c in gc.get_referrers(widget) if isinstance(c, types.CellType)]
    closures = [t for t in gc.get_referrers(*cells) if isinstance(t, tuple)] if cells else []
    held = [f for f in gc.get_referrers(*closures) if isinstance(f, types.FunctionType)
            and any(f.__closure__ is t for t in closures)] if closures else []
    for signal in signals:
        for fn in held:
            signal.disconnect(fn, missing_ok=True)


__all__ = ["LiveLoop", "close_children", "release_view"]

"""One registry, one rule for release (issue 20, part 5): the registry never keeps anything alive; a closed or
replaced dashboard or playground is freed with its figure; the shared admin client is released by the same rule.
No broker needed: nothing here starts an experiment."""

from __future__ import annotations

import gc
import types
import weakref
from typing import Any

import pandas as pd
import pytest

import kafkabp
from kafkabp import admin
from kafkabp.playroom import RESULTS_KEPT, Playground, playground
from kafkabp.registry import REGISTRY, Registry
from kafkabp.widgets import Dashboard, dashboard


def _freed(ref: "weakref.ref[Any]") -> bool:
    gc.collect()
    return ref() is None


class _Client:
    def __init__(self) -> None:
        self.stopped = 0

    def stop(self, timeout: float = 10.0) -> None:
        self.stopped += 1


def test_the_registry_holds_its_entries_weakly_and_stop_all_stops_and_releases_them() -> None:
    reg = Registry()
    kept, dropped = _Client(), _Client()
    reg.add(kept, "client")
    reg.add(dropped, "monitor")
    ref = weakref.ref(dropped)
    del dropped
    assert _freed(ref), "the registry kept an entry alive"
    assert reg.live() == [kept]
    view = _Client()
    view.stop = lambda: setattr(view, "stopped", view.stopped + 1)  # type: ignore[method-assign]
    reg.add(view, "view")
    assert reg.stop_all() == 1 and kept.stopped == 1 and view.stopped == 1  # the view's experiment stopped...
    assert reg.live() == [view]  # ... and the view stays until it is closed or replaced
    with pytest.raises(ValueError, match="kind must be one of"):
        reg.add(kept, "gadget")


def test_a_closed_dashboard_is_freed_with_its_figure() -> None:
    d = dashboard()
    refs = [weakref.ref(d), weakref.ref(d.figure), weakref.ref(d.rate)]
    assert d in REGISTRY.live("view")
    d.close()
    assert d not in REGISTRY.live("view")
    del d
    assert all(_freed(r) for r in refs), "a closed dashboard (or its figure, or a slider) is still alive"


def test_a_replaced_dashboard_is_stopped_closed_and_freed() -> None:
    first = dashboard()
    refs = [weakref.ref(first), weakref.ref(first.figure)]
    second = dashboard()  # re-running the cell
    assert first.comm is None, "the replaced dashboard was not closed"
    del first
    assert all(_freed(r) for r in refs), "a replaced dashboard (or its figure) is still alive"
    assert [v for v in REGISTRY.live("view") if isinstance(v, Dashboard)] == [second]
    second.close()


def test_a_replaced_playground_is_freed_and_a_dashboard_does_not_replace_it() -> None:
    first = playground()
    ref = weakref.ref(first)
    panel = dashboard()  # another kind of view: both stay
    assert first in REGISTRY.live("view") and panel in REGISTRY.live("view")
    second = playground("healthy")
    del first
    assert _freed(ref), "a replaced playground is still alive"
    assert [v for v in REGISTRY.live("view") if isinstance(v, Playground)] == [second]
    second.close()
    panel.close()


def test_the_admin_client_is_released_by_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """One client for the current broker's settings: other settings release it, and so does stop_all()."""
    admin.ADMIN_CLIENTS.stop()
    # an address nothing listens at: an AdminClient connects in its own threads, never in the constructor
    monkeypatch.setattr(admin, "client_config", lambda: {"bootstrap.servers": "127.0.0.1:1"})
    first = admin.admin_client()
    assert admin.admin_client() is first and admin.ADMIN_CLIENTS in REGISTRY.live("resource")
    ref = weakref.ref(first)
    monkeypatch.setattr(admin, "client_config", lambda: {"bootstrap.servers": "127.0.0.1:2"})
    second = admin.admin_client()  # another broker
    del first
    assert _freed(ref), "the client for the broker before is still alive"
    ref = weakref.ref(second)
    del second
    assert not _freed(ref), "the current client is cached until released"
    kafkabp.stop_all()
    assert _freed(ref), "stop_all() did not release the shared admin client"
    assert admin.ADMIN_CLIENTS not in REGISTRY.live()
    monkeypatch.undo()


class _Run:
    """A stopped experiment as a view sees it (no broker): stop(), and a result with a label, timeline and summary."""

    def __init__(self, label: str) -> None:
        self.label = label

    def stop(self) -> None:
        pass

    def result(self) -> Any:
        summary = dict(duration=1.0, produced=1, consumed=1, peak_lag=0, final_lag=0, lost=0)
        return types.SimpleNamespace(label=self.label, timeline=pd.DataFrame(columns=["t", "lag"]), summary=summary)


class _Loop:
    def halt(self) -> None:
        pass


def test_a_stopped_playground_lets_its_experiment_go_and_keeps_only_its_newest_results() -> None:
    """Issue 25: a workshop presses Start hundreds of times; the playground keeps RESULTS_KEPT results, each run's
    name stays unique, and a stopped experiment (its clients, monitor and history) is not held by the view."""
    p = playground("healthy")
    names = []
    for _ in range(RESULTS_KEPT + 15):
        run = _Run(p._unique("healthy"))
        p.experiment, p._loop = run, _Loop()  # type: ignore[assignment]
        ref = weakref.ref(run)
        del run
        names.append(p.stop().label)  # type: ignore[union-attr]
        assert p._loop is None and _freed(ref), "a stopped run is still held by the playground"
    assert len(p.results) == RESULTS_KEPT and [r.label for r in p.results] == names[-RESULTS_KEPT:]
    assert names[:3] == ["healthy", "healthy (2)", "healthy (3)"] and len(set(names)) == len(names)
    p.close()


def test_a_stopped_dashboard_lets_its_experiment_go() -> None:
    d = dashboard()
    run = _Run("dashboard")
    d.experiment, d._loop = run, _Loop()  # type: ignore[assignment]
    ref = weakref.ref(run)
    del run
    d.stop()
    assert d._loop is None and d.result is not None and _freed(ref), "a stopped dashboard still holds its experiment"
    d.close()


def test_reset_releases_the_shared_admin_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """`kafkabp reset` ends with the admin client released (no broker: the broker's side is replaced)."""
    from kafkabp import workshop

    monkeypatch.setattr(admin, "client_config", lambda: {"bootstrap.servers": "127.0.0.1:1"})
    monkeypatch.setattr(workshop.broker, "ensure_broker", lambda: "127.0.0.1:1")
    for name in ("course_topics", "course_groups", "course_quotas"):
        monkeypatch.setattr(workshop, name, lambda prefix="kafkabp": [])
    client = admin.admin_client()
    ref = weakref.ref(client)
    del client
    workshop.reset(out=lambda _: None)
    assert admin.ADMIN_CLIENTS not in REGISTRY.live() and _freed(ref), "reset left the admin client cached"

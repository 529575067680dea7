"""One registry, one rule for release (issue 20, part 5): the registry never keeps anything alive; a closed or
replaced dashboard or playground is freed with its figure; the shared admin client is released by the same rule.
No broker needed: nothing here starts an experiment."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest

import kafkabp
from kafkabp import admin
from kafkabp.playroom import Playground, playground
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

"""A short soak (issue 25; the long one is benchmarks/soak.py): a few Start/Stop/Reset cycles of the playground,
pressed through its buttons, and a dashboard; after each Stop the Python threads and librdkafka's client handles are
back to their count before the first Start, every stopped experiment is freed, and a closed or replaced view is
freed with it. Runs on a broker shared with other tests: unique topic and group names (every experiment's own),
and only this test's objects are checked."""

from __future__ import annotations

import gc
import threading
import weakref
from pathlib import Path
from typing import Any

import pytest

import kafkabp
from kafkabp import admin
from kafkabp.playroom import Playground, playground
from kafkabp.registry import REGISTRY
from kafkabp.widgets import dashboard

pytestmark = pytest.mark.integration

PRESETS = ("healthy", "hot key", "rate-limited (AIMD)")


def rdk_handles() -> int:
    """Live librdkafka clients in this process: each has one thread named rdk:main."""
    count = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            count += (task / "comm").read_text().strip() == "rdk:main"
        except OSError:  # ended while listed
            pass
    return count


def released(threads: int, handles: int, timeout: float = 20.0) -> bool:
    """Threads and handles back to at most ``threads`` and ``handles`` within ``timeout`` (garbage collected)."""
    return kafkabp.wait_for(lambda: gc.collect() >= 0 and threading.active_count() <= threads
                            and rdk_handles() <= handles, timeout, interval=0.2)


def press(p: Any, button: str, done: Any, timeout: float = 30.0) -> None:
    getattr(p, f"{button}_button").click()  # in a thread, as a click in the browser
    assert kafkabp.wait_for(done, timeout), f"{button}: {p.status.value}"
    assert "failed" not in p.status.value, p.status.value


def test_start_stop_cycles_release_threads_handles_and_views(kafka_bootstrap: str) -> None:
    admin.admin_client()  # the shared admin client, made now: it stays (a resource), not counted as a leak
    gc.collect()
    threads, handles = threading.active_count(), rdk_handles()
    p = playground()
    runs = []
    for name in PRESETS:
        p.preset.value = name
        press(p, "start", lambda: p.experiment is not None)
        runs.append(weakref.ref(p.experiment))
        assert kafkabp.wait_for(lambda: len(p.figure.data[0].x) >= 2, 20), f"{name}: the chart did not update"
        assert rdk_handles() > handles  # its producer, members and offset reader
        press(p, "stop", lambda: p.experiment is None and not p.start_button.disabled
              and "stopping" not in p.status.value)
        press(p, "reset", lambda: p.status.value.startswith("Reset."), 15)
        assert p.result is None and len(p.results) == len(runs)
        assert released(threads, handles), (name, threading.active_count(), threads, rdk_handles(), handles,
                                             sorted(t.name for t in threading.enumerate()))
        assert runs[-1]() is None, f"{name}: the stopped experiment is still alive"
    assert [r.label for r in p.results] == list(PRESETS)

    d = dashboard(rate=500, duration=30)
    d.start()
    exp = weakref.ref(d.experiment)
    assert kafkabp.wait_for(lambda: len(d.figure.data[0].x) >= 2, 20), d.status.value
    d.stop()
    assert d.result is not None and released(threads, handles) and exp() is None
    views = [weakref.ref(d), weakref.ref(d.figure), weakref.ref(p), weakref.ref(p.figure)]
    d.close()
    second = playground("healthy")  # re-running the cell replaces (stops and closes) the playground
    del d, p
    gc.collect()
    assert all(v() is None for v in views), "a closed dashboard or a replaced playground is still alive"
    assert [v for v in REGISTRY.live("view") if isinstance(v, Playground)] == [second]
    second.close()
    assert second not in REGISTRY.live("view")

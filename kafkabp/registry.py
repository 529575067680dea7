"""What is live in this process: one registry for clients, monitors, experiments, dashboards and playgrounds, and
one rule for releasing them.

The rule, the same for every entry:

- The registry refers to an entry weakly: it never keeps one alive. An entry is kept alive by its own thread while
  it runs, or by a learner's variable; once neither holds it, garbage collection frees it (and librdkafka's client
  with it).
- An entry is added when it starts and leaves when it stops (:meth:`Registry.release`). :func:`stop_all` stops
  whatever is still live: a kernel interrupt's cleanup, ``kafkabp reset``, the interpreter's exit (a view's
  experiment stops; the view itself stays registered until it is closed or replaced).
- A view (a dashboard, a playground) is the one live view of its kind: a new one stops and closes the one before it
  (:meth:`Registry.replace`, as re-running the cell does), so neither its experiment nor its widgets and figure
  stay behind in the kernel.
- A shared resource (the admin clients' cache) registers too: stopping it drops what it holds.

The one exception: clients of a broker that is gone are parked (:func:`park`), held on purpose and never closed.
"""

from __future__ import annotations

import atexit
import itertools
import threading
import weakref
from typing import Any

# stop_all() stops views first (they stop their experiments), then experiments (they stop their clients in
# order), then what is left, and shared resources last
KINDS = ("view", "experiment", "client", "monitor", "resource")


class Registry:
    """Weak references to what is live, by kind, in the order it started."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[int, str, weakref.ref[Any]]] = {}
        self._order = itertools.count()
        self._lock = threading.Lock()

    def add(self, entry: Any, kind: str = "client") -> None:
        """Register ``entry`` (an object with ``stop(timeout=...)``) as live; a second add keeps the first's place."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        key = id(entry)

        def gone(_: Any, key: int = key) -> None:  # collected without a stop(): its entry goes with it
            with self._lock:
                item = self._entries.get(key)
                if item is not None and item[2]() is None:
                    del self._entries[key]

        with self._lock:
            item = self._entries.get(key)
            if item is None or item[2]() is not entry:
                self._entries[key] = (next(self._order), kind, weakref.ref(entry, gone))

    def release(self, entry: Any) -> None:
        """``entry`` stopped: it is no longer live (releasing one that is not registered does nothing)."""
        with self._lock:
            item = self._entries.get(id(entry))
            if item is not None and item[2]() is entry:
                del self._entries[id(entry)]

    def live(self, kind: str | None = None) -> list[Any]:
        """The live entries (of ``kind``), oldest first."""
        with self._lock:
            items = sorted(self._entries.values(), key=lambda item: item[0])
        return [e for _, k, ref in items if (kind is None or k == kind) and (e := ref()) is not None]

    def replace(self, view: Any, timeout: float = 15.0) -> list[Any]:
        """Register ``view`` as the one live view of its class: the views of that class before it are stopped,
        closed (``close()``) and released. Returns them."""
        old = [v for v in self.live("view") if type(v) is type(view) and v is not view]
        for v in old:
            v.stop()
            v.close()
            self.release(v)
        self.add(view, "view")
        return old

    def stop_all(self, timeout: float = 10.0) -> int:
        """Stop every live entry: views (their experiments; a view stays registered until it is closed or
        replaced), experiments, clients and monitors, then shared resources. Returns how many experiments, clients
        and monitors were stopped."""
        stopped = 0
        for kind in KINDS:
            for entry in self.live(kind):
                if kind == "view":
                    entry.stop()
                    continue
                entry.stop(timeout=timeout)
                self.release(entry)
                stopped += kind != "resource"
        return stopped


REGISTRY = Registry()

# Clients of a broker that is gone, left open on purpose. A consumer's close() waits for its group coordinator,
# and when commits were pending as the broker went away it waits forever (confluentinc/librdkafka#3740: seen here
# with 1 of 2 consumers after `kafkabp broker down`). Kept referenced so that no garbage collection closes them
# either; their librdkafka threads (not Python threads) retry the dead address quietly until the process ends.
PARKED: list[Any] = []


def park(client: Any) -> None:
    """Keep a client of a broker that is gone without closing it (see ``PARKED``)."""
    PARKED.append(client)


def stop_all(timeout: float = 10.0) -> int:
    """Stop every dashboard's and playground's experiment, every experiment, producer, consumer group and monitor
    still running in this process; returns how many experiments, clients and monitors were stopped."""
    return REGISTRY.stop_all(timeout)


atexit.register(stop_all, 5.0)

__all__ = ["KINDS", "PARKED", "REGISTRY", "Registry", "park", "stop_all"]

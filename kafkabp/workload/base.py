"""What every workload shares: a timestamped event log and the registry that stops every live client."""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from typing import Any, Callable, Mapping


class EventLog:
    """Thread-safe list of timestamped events (rebalances, scaling, rate changes, throttling)."""

    def __init__(self, t0: float | None = None) -> None:
        self.t0 = time.monotonic() if t0 is None else t0
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, kind: str, member: str = "", detail: str = "", *, at: float | None = None) -> None:
        """Record an event now, or at the monotonic time ``at``."""
        when = (time.monotonic() if at is None else at) - self.t0
        with self._lock:
            self._rows.append({"t": when, "kind": kind, "member": member, "detail": detail})

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._rows)


_LIVE: "weakref.WeakSet[Any]" = weakref.WeakSet()

# Clients of a broker that is gone, left open on purpose. A consumer's close() waits for its group coordinator,
# and when commits were pending as the broker went away it waits forever (confluentinc/librdkafka#3740: seen here
# with 1 of 2 consumers after `kafkabp broker down`). Kept referenced so that no garbage collection closes them
# either; their librdkafka threads (not Python threads) retry the dead address quietly until the process ends.
_PARKED: list[Any] = []


def park(client: Any) -> None:
    """Keep a client of a broker that is gone without closing it (see ``_PARKED``)."""
    _PARKED.append(client)


def stop_all(timeout: float = 10.0) -> int:
    """Stop every producer, consumer group and monitor still running in this process."""
    items = list(_LIVE)
    for item in items:
        item.stop(timeout=timeout)
    return len(items)


atexit.register(stop_all, 5.0)


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def check_client_config(kind: str, config: Mapping[str, Any]) -> None:
    """librdkafka's own check of a client's settings (unknown names, bad values), before any broker is involved.

    A client without ``bootstrap.servers`` connects nowhere: it is created and destroyed at once (a few ms).
    """
    from confluent_kafka import Consumer, KafkaException, Producer

    conf = {k: v for k, v in config.items() if not callable(v) and k != "bootstrap.servers"}
    try:
        if kind == "producer":
            Producer({**conf, "log_level": 0}).flush(0)
        else:
            Consumer({"group.id": "kafkabp-config-check", **conf, "log_level": 0}).close()
    except KafkaException as exc:
        where = {"producer": "Producer(config=...)", "consumer": "Group(config=...)"}.get(kind, f"{kind} config")
        raise ValueError(f"{where}: {exc.args[0].str()} (see librdkafka's CONFIGURATION.md for the names and "
                         "values it takes)") from None

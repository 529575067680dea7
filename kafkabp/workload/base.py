"""What every workload shares: a timestamped event log, a poll helper and librdkafka's own check of a client's
settings. The registry that stops every live client is :mod:`kafkabp.registry`."""

from __future__ import annotations

import threading
import time
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

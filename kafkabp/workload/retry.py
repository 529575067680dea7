"""What a consumer does with a message its handler failed on, and the exact fate of every message (lesson 16).

- ``Retries("naive")``: try it again in place, every ``backoff`` seconds, until it succeeds. A message that can never
  succeed (a poison message) stops its partition for good: head-of-line blocking.
- ``Retries("topics")``: non-blocking retries, as Spring Kafka's retry topics and Uber's retry queues do. The
  message goes to a retry topic per attempt, each read by its own consumer that waits ``delays[i]`` seconds after
  the message was written there before trying again; after the last one, to the dead-letter topic. The partition
  flows, but a retried message is processed after later messages of its key: their order is lost.
- ``Retries("per_key")``: retry topics that keep each key's order. A failed message goes to one retry topic, tried
  there in place after ``delays[0]``, ``delays[1]``… seconds, then dead-lettered; while a key has a message in the
  retry topic, its later messages follow it there untried. Other keys flow; the key waits.

:class:`Fates` counts, per message (its producer id and sequence number), how it ended: processed at the first try,
after N retries, or dead-lettered; and every message processed after a later message of its key (an order
violation). The group that does the routing is :mod:`kafkabp.workload.retrying`.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

from kafkabp.ledger import HEADER, HEADER_SIZE, MAGIC

MODES = ("naive", "topics", "per_key")
DEAD = -1  # a fate: dead-lettered


@dataclass(frozen=True)
class Retries:
    """How a group handles a message its handler raised on: ``mode`` "naive", "topics" or "per_key" (see the module);
    ``delays``: seconds before each retry (one retry topic each with "topics"); ``backoff``: seconds between the
    naive loop's attempts. The last resort is the dead-letter topic, ``<topic>-dlt``."""

    mode: str = "topics"
    delays: tuple[float, ...] = (0.5, 1.0, 2.0)
    backoff: float = 0.2

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"Retries(mode=...) must be one of {', '.join(map(repr, MODES))}, got {self.mode!r}")
        delays = tuple(self.delays) if isinstance(self.delays, (list, tuple)) else None
        if not delays or len(delays) > 10 or not all(
                not isinstance(d, bool) and isinstance(d, (int, float)) and 0 <= d < 3600 for d in delays):
            raise ValueError(f"Retries(delays=...) must be 1 to 10 numbers of seconds from 0 to 3600, e.g. "
                             f"(0.5, 1.0, 2.0), got {self.delays!r}")
        object.__setattr__(self, "delays", tuple(float(d) for d in delays))
        if isinstance(self.backoff, bool) or not isinstance(self.backoff, (int, float)) \
                or not 0 < self.backoff < 3600:
            raise ValueError(f"Retries(backoff=...) must be a number of seconds > 0 (e.g. 0.2), got {self.backoff!r}")

    def replace(self, **changes: Any) -> "Retries":
        import dataclasses

        return dataclasses.replace(self, **changes)

    @property
    def blocking(self) -> bool:
        """True when a failing message holds up the messages behind it on its partition (the naive loop)."""
        return self.mode == "naive"

    def topics(self, topic: str) -> list[str]:
        """The retry topics this policy writes to, in order (none for the naive loop)."""
        if self.mode == "naive":
            return []
        return [f"{topic}-retry-{i}" for i in range(1, len(self.delays) + 1)] if self.mode == "topics" \
            else [f"{topic}-retry"]

    def worst_delay(self) -> float:
        """Seconds a message can spend in the retries at most, not counting the handler's own time."""
        return math.inf if self.mode == "naive" else float(sum(self.delays))

    def __str__(self) -> str:
        if self.mode == "naive":
            return f"naive retry in place every {self.backoff:g} s"
        delays = ", ".join(f"{d:g}" for d in self.delays)
        return f"retry topics ({delays} s), then dead letter" + (", key order kept" if self.mode == "per_key" else "")


def identity(value: bytes | None) -> tuple[int, int] | None:
    """A message's (producer id, sequence number) from kafkabp's header; None without one."""
    if value is None or len(value) < HEADER_SIZE or value[:2] != MAGIC:
        return None
    _, pid, seq = HEADER.unpack_from(value)
    return pid, seq


def fate_name(retries: int) -> str:
    """A fate's name in tables: "first try", "after 1 retry", "after 2 retries", "dead-lettered"."""
    if retries == DEAD:
        return "dead-lettered"
    return "first try" if retries == 0 else f"after {retries} retr{'y' if retries == 1 else 'ies'}"


class Fates:
    """Exactly how every message a retrying group handled ended, by its producer id and sequence number.

    ``processed(value, key, retries)``: done after ``retries`` failed attempts; ``dead_lettered(value)``: given up.
    ``sent(value)``/``counts()`` say how many still wait in the retries. A message processed after a later
    message of its key (a higher sequence number of the same producer) is an order violation. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._final: dict[tuple[int, int], int] = {}
        self._retrying: set[tuple[int, int]] = set()
        self._last: dict[bytes, tuple[int, int]] = {}
        self.order_violations = 0
        self.failed_attempts = 0  # handler calls that raised
        self.held_back = 0  # messages sent after their key's earlier one untried (per_key)
        self.foreign = 0  # values without kafkabp's header: not counted

    def failed(self, value: bytes | None) -> None:
        """A handler call on this message raised."""
        with self._lock:
            self.failed_attempts += 1

    def sent(self, value: bytes | None, *, tried: bool = True) -> None:
        """The message went into the retries (``tried=False``: untried, behind its key)."""
        ident = identity(value)
        with self._lock:
            if ident is None:
                self.foreign += 1
                return
            self._retrying.add(ident)
            if not tried:
                self.held_back += 1

    def processed(self, value: bytes | None, key: bytes | None, retries: int) -> None:
        """The handler succeeded on it after ``retries`` failed attempts."""
        self._end(value, key, retries)

    def dead_lettered(self, value: bytes | None) -> None:
        """The message was given up on: it went to the dead-letter topic."""
        self._end(value, None, DEAD)

    def _end(self, value: bytes | None, key: bytes | None, fate: int) -> None:
        ident = identity(value)
        with self._lock:
            if ident is None:
                self.foreign += 1
                return
            self._final[ident] = fate
            self._retrying.discard(ident)
            if key is None or fate == DEAD:
                return
            last = self._last.get(key)
            if last is not None and last[0] == ident[0] and ident[1] < last[1]:
                self.order_violations += 1  # a later message of this key was processed before it
            else:
                self._last[key] = ident

    def counts(self) -> dict[str, int]:
        """Messages per fate ("first try", "after 1 retry"…, "dead-lettered"), and "still retrying" (in the
        retries when asked: neither processed nor dead-lettered yet)."""
        with self._lock:
            finals = list(self._final.values())
            retrying = len(self._retrying)
        out: dict[str, int] = {}
        for fate in sorted(set(finals), key=lambda f: math.inf if f == DEAD else f):
            out[fate_name(fate)] = finals.count(fate)
        out.setdefault("first try", 0)
        out.setdefault("dead-lettered", 0)
        out["still retrying"] = retrying
        return out

    def summary(self) -> dict[str, Any]:
        """What the experiment's summary shows: the fates, order violations, failed attempts, held-back messages."""
        counts = self.counts()
        return {"fates": counts, "order_violations": self.order_violations,
                "retry_counts": {"failed_attempts": self.failed_attempts, "held_back": self.held_back}}


__all__ = ["DEAD", "Fates", "MODES", "Retries", "fate_name", "identity"]

"""A downstream call a consumer makes for every message (a database, an HTTP service), simulated: its latency with a
heavy tail, transient failures, poison messages that always fail, and the caller's timeout (lesson 16).

Pass one as a handler, ``kafkabp.handler(kafkabp.Dependency(...))``: it is called with each message's payload, sleeps
as long as the call takes (releasing the GIL: an idle CPU, as a consumer waiting on I/O) and raises when the call
fails, which a retrying group (``Group(retries=kafkabp.Retries(...))``) routes to its retries.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Sequence

POISON = b"POISON"  # a payload that starts with it can never be processed (a record the handler cannot parse)


class DependencyError(RuntimeError):
    """The downstream call failed (transiently: the same message may succeed when tried again)."""


class CallTimeout(DependencyError):
    """The downstream call took longer than the caller's timeout; the caller gave up on it."""


class PoisonMessage(ValueError):
    """The message can never be processed, however often it is tried (it does not parse)."""


def _seconds(name: str, value: object, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf \
            or (positive and value == 0):
        raise ValueError(f"Dependency({name}=...) must be a finite number of seconds {'> 0' if positive else '>= 0'}, "
                         f"got {value!r}")


def _fraction(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"Dependency({name}=...) must be a fraction from 0 to 1 (0.01: one call in a hundred), "
                         f"got {value!r}")


@dataclass(frozen=True)
class Dependency:
    """A simulated downstream call: ``seconds`` each, except a ``tail_fraction`` of calls that take ``tail_seconds``
    (the heavy tail: ``tail_fraction=0.01, tail_seconds=2.0`` is "p99 = 2 s"); a ``failure_rate`` of calls fail
    (transiently); a payload starting with ``POISON`` always fails. ``timeout``: the caller gives up on a call after
    that many seconds (None: waits as long as it takes); ``attempts``: calls tried in place, at once, before the
    failure is raised (timeouts and transient failures; a poison message fails at once).

    Calling it (``dep(payload)``) makes one such call and returns the seconds it waited; it raises
    :class:`CallTimeout`, :class:`DependencyError` or :class:`PoisonMessage`. Thread-safe; ``seed`` makes its
    random draws repeatable."""

    seconds: float = 0.002
    tail_fraction: float = 0.0
    tail_seconds: float = 2.0
    failure_rate: float = 0.0
    timeout: float | None = None
    attempts: int = 1
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _seconds("seconds", self.seconds)
        _seconds("tail_seconds", self.tail_seconds)
        _fraction("tail_fraction", self.tail_fraction)
        _fraction("failure_rate", self.failure_rate)
        if self.timeout is not None:
            _seconds("timeout", self.timeout, positive=True)
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or not 1 <= self.attempts <= 100:
            raise ValueError(f"Dependency(attempts=...) must be a whole number from 1 to 100 (1: no retry in place), "
                             f"got {self.attempts!r}")
        object.__setattr__(self, "_rng", random.Random(self.seed))
        object.__setattr__(self, "_lock", threading.Lock())

    def replace(self, **changes: object) -> "Dependency":
        """A copy with ``changes`` (checked again), with fresh random draws: ``dep.replace(timeout=0.1)``."""
        import dataclasses

        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def mean_seconds(self) -> float:
        """The mean time of one call without a timeout: what one consumer thread spends per message on average."""
        return (1 - self.tail_fraction) * self.seconds + self.tail_fraction * self.tail_seconds

    def capacity(self, threads: int = 1) -> float:
        """Messages per second ``threads`` callers can get through at most, without a timeout (the fluid model's μ)."""
        return threads / self.mean_seconds() if self.mean_seconds() > 0 else math.inf

    def draw(self) -> tuple[float, bool]:
        """One call's (latency in seconds, whether it fails), drawn at random."""
        with self._lock:
            slow = self._rng.random() < self.tail_fraction
            fails = self._rng.random() < self.failure_rate
        return (self.tail_seconds if slow else self.seconds), fails

    def __call__(self, payload: bytes) -> float:
        if payload.startswith(POISON):
            raise PoisonMessage("the record does not parse (a poison message): it will fail every time")
        waited = 0.0
        for attempt in range(1, self.attempts + 1):
            latency, fails = self.draw()
            cut = self.timeout is not None and latency > self.timeout
            wait = self.timeout if cut and self.timeout is not None else latency
            if wait > 0:
                time.sleep(wait)
            waited += wait
            if not cut and not fails:
                return waited
            if attempt == self.attempts:
                if cut:
                    raise CallTimeout(f"the call took longer than the timeout of {self.timeout:g} s "
                                      f"({self.attempts} attempt{'s' * (self.attempts > 1)})")
                raise DependencyError(f"the downstream call failed ({self.attempts} attempt"
                                      f"{'s' * (self.attempts > 1)})")
        return waited  # not reached: the loop returns or raises

    def __str__(self) -> str:
        tail = f", {self.tail_fraction:.0%} take {self.tail_seconds:g} s" if self.tail_fraction else ""
        fails = f", {self.failure_rate:.0%} fail" if self.failure_rate else ""
        timeout = f", timeout {self.timeout * 1000:g} ms" if self.timeout is not None else ""
        return f"a call of {self.seconds * 1000:g} ms{tail}{fails}{timeout}"


def poison_payloads(count: int, poison_at: Sequence[int], size: int = 100) -> list[bytes]:
    """``count`` payloads for ``Producer(payloads=...)``, sent in turn: those at the indexes ``poison_at`` are poison
    (the producer's message with that sequence number, while ``count`` is more than the run produces)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a whole number of payloads >= 1, got {count!r}")
    bad = [i for i in poison_at if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < count]
    if bad:
        raise ValueError(f"poison_at must hold indexes from 0 to {count - 1} (the payloads' places), got {bad}")
    if isinstance(size, bool) or not isinstance(size, int) or size < len(POISON):
        raise ValueError(f"size must be a whole number of bytes >= {len(POISON)}, got {size!r}")
    good, poison = b"ok".ljust(size, b"."), POISON.ljust(size, b"!")
    marked = set(poison_at)
    return [poison if i in marked else good for i in range(count)]


__all__ = ["CallTimeout", "Dependency", "DependencyError", "POISON", "PoisonMessage", "poison_payloads"]

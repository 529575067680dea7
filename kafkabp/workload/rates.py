"""Rate profiles (messages per second over time) and the token bucket that holds a producer to them."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol, Union


def _rate(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of messages/s >= 0, got {value!r}")


def _seconds(name: str, value: float, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
            or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number of seconds {'> 0' if positive else '>= 0'}, got {value!r}")


class RateProfile(Protocol):
    """Messages per second as a function of seconds since the producer started."""

    def __call__(self, t: float) -> float: ...


@dataclass(frozen=True)
class Constant:
    """The same rate throughout."""

    rate: float

    def __post_init__(self) -> None:
        _rate("Constant's rate", self.rate)

    def __call__(self, t: float) -> float:
        return self.rate


@dataclass(frozen=True)
class Step:
    """``before`` until ``at`` seconds, then ``after``."""

    before: float
    after: float
    at: float

    def __post_init__(self) -> None:
        _rate("Step's before", self.before)
        _rate("Step's after", self.after)
        _seconds("Step's at", self.at)

    def __call__(self, t: float) -> float:
        return self.before if t < self.at else self.after


@dataclass(frozen=True)
class Burst:
    """A square wave: ``high`` for ``duty`` of each ``period`` seconds, ``low`` otherwise."""

    low: float
    high: float
    period: float
    duty: float = 0.5

    def __call__(self, t: float) -> float:
        return self.high if (t % self.period) < self.duty * self.period else self.low

    def __post_init__(self) -> None:
        _rate("Burst's low", self.low)
        _rate("Burst's high", self.high)
        _seconds("Burst's period", self.period, positive=True)
        if not isinstance(self.duty, (int, float)) or not 0 < self.duty < 1:
            raise ValueError(f"Burst's duty must be the fraction of each period at the high rate, 0 < duty < 1, "
                             f"got {self.duty!r}")


@dataclass(frozen=True)
class Ramp:
    """From ``start`` to ``end`` linearly over ``duration`` seconds, then ``end``."""

    start: float
    end: float
    duration: float

    def __post_init__(self) -> None:
        _rate("Ramp's start", self.start)
        _rate("Ramp's end", self.end)
        _seconds("Ramp's duration", self.duration, positive=True)

    def __call__(self, t: float) -> float:
        if t >= self.duration:
            return self.end
        return self.start + (self.end - self.start) * max(t, 0.0) / self.duration


Rate = Union[float, int, RateProfile, None]


def as_profile(rate: Rate) -> RateProfile | None:
    """A number becomes :class:`Constant`; ``None`` means as fast as possible."""
    if rate is None:
        return None
    if isinstance(rate, bool):
        raise TypeError(f"rate must be a number of messages/s, a rate profile or None, got {rate!r}")
    if isinstance(rate, (int, float)):
        if not math.isfinite(rate) or rate < 0:
            raise ValueError(f"rate must be a finite number of messages/s >= 0 (or None for full speed), got {rate!r}")
        return Constant(float(rate))
    if callable(rate):
        return rate
    raise TypeError(f"rate must be a number, a rate profile (Constant, Step, Burst, Ramp) or None, got {rate!r}")


class TokenBucket:
    """Tokens accrue at the profile's rate, capped at ``burst_seconds`` worth; a message costs one.

    Producing what the bucket holds, in chunks, keeps rates accurate from 10 to 50,000+ msg/s,
    where sleeping 1/rate per message cannot (sleep overshoots by tens of microseconds). The one-second
    cap lets the producer catch up after the OS starves its thread on a busy laptop, so the average rate
    holds; a rate change (:meth:`reset`) drops saved-up tokens, so it never bursts.
    """

    def __init__(self, profile: RateProfile, burst_seconds: float = 1.0, start: float | None = None) -> None:
        self.profile = profile
        self.burst_seconds = burst_seconds
        self.start = time.monotonic() if start is None else start
        self._last = self.start
        self.tokens = 0.0

    def refill(self, now: float) -> float:
        """Add the tokens earned since the last refill and return how many are available."""
        dt = now - self._last
        if dt > 0:
            rate = self.profile(now - self.start)
            cap = max(1.0, rate * self.burst_seconds)
            self.tokens = min(cap, self.tokens + rate * dt)
            self._last = now
        return self.tokens

    def take(self, n: int) -> None:
        self.tokens -= n

    def wait_time(self, now: float) -> float:
        """Seconds until one whole token is available at the current rate."""
        rate = self.profile(now - self.start)
        if rate <= 0:
            return 0.05
        return max(0.0, (1.0 - self.tokens) / rate)

    def reset(self, profile: RateProfile, now: float) -> None:
        """Switch profile now, without a burst of saved-up tokens."""
        self.refill(now)
        self.profile = profile
        self.start = now
        self.tokens = min(self.tokens, 1.0)


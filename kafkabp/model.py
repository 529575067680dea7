"""A fluid queue model of consumer lag: lag grows at (arrival rate - service rate) while positive, and never
goes below zero. It gives the course a prediction to hold measurements against: growth, level and drain time.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np


def _count(name: str, value: int, what: str) -> int:
    """A whole number >= 1, or a ValueError that names the argument and says what it counts."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}={value!r} must be a whole number: it counts {what}")
    if value < 1:
        raise ValueError(f"{name}={value} must be at least 1: it counts {what}")
    return int(value)


def _non_negative(name: str, value: float, unit: str, *, allow_inf: bool = False) -> float:
    """A number >= 0 (finite unless allow_inf), or a ValueError that names the argument and the fix."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a number of {unit}") from None
    if math.isnan(number) or number < 0:
        raise ValueError(f"{name}={value!r} must be a number >= 0 ({unit}); a negative or NaN value has no meaning")
    if math.isinf(number) and not allow_inf:
        raise ValueError(f"{name}={value!r} must be finite ({unit})")
    return number


def service_rate(
    consumers: int,
    partitions: int,
    seconds_per_message: float,
    *,
    per_batch_seconds: float = 0.0,
    batch_size: int = 1,
) -> float:
    """Messages per second a group can process: min(consumers, partitions) consumers are active (extra ones sit
    idle, a partition has one consumer), each paying seconds_per_message + per_batch_seconds / batch_size.

    math.inf when processing costs nothing.
    """
    consumers = _count("consumers", consumers, "the consumers in the group; start at least one")
    partitions = _count("partitions", partitions, "the partitions of the topic; a topic has at least one")
    batch_size = _count("batch_size", batch_size, "the messages handled per batch")
    cost = _non_negative("seconds_per_message", seconds_per_message, "seconds of work per message")
    cost += _non_negative("per_batch_seconds", per_batch_seconds, "seconds of work per batch") / batch_size
    active = min(consumers, partitions)
    return math.inf if cost == 0 else active / cost


def growth_rate(arrival_rate: float, service_rate: float) -> float:
    """How fast lag grows (msgs/s) while it is positive: arrival - service; negative means it drains."""
    lam = _non_negative("arrival_rate", arrival_rate, "messages per second")
    mu = _non_negative("service_rate", service_rate, "messages per second", allow_inf=True)
    return lam - mu


def drain_time(lag: float, arrival_rate: float, service_rate: float) -> float:
    """Seconds until lag reaches zero: lag / (service - arrival); 0.0 if lag is 0, math.inf if service <= arrival.

    A negative lag is refused (a ValueError naming it): it means a committed offset past the log end, a reading to
    fix, not a queue that is already empty."""
    lag = _non_negative("lag", lag, "messages")
    lam = _non_negative("arrival_rate", arrival_rate, "messages per second")
    mu = _non_negative("service_rate", service_rate, "messages per second", allow_inf=True)
    if lag <= 0:
        return 0.0
    if mu <= lam:
        return math.inf  # never: the queue does not shrink
    return lag / (mu - lam)


def _times(t: float | np.ndarray) -> np.ndarray:
    """t as a float array of seconds since the start of the model (t = 0), all >= 0."""
    times = np.asarray(t, dtype=float)
    if np.isnan(times).any() or (times < 0).any():
        raise ValueError("t must hold seconds >= 0: the model starts at t = 0 with the initial lag")
    return times


def _integrate(times: np.ndarray, arrival_rate: Callable[[float], float], mu: float, lag0: float) -> np.ndarray:
    """Step L' = arrival(t) - mu from t = 0 over the grid, the rate held at its value at each step's start,
    flooring at zero within each step (exact when the rate is constant between grid points)."""
    flat = times.ravel()
    if (np.diff(flat) < 0).any():
        raise ValueError("t must be sorted ascending when arrival_rate is a function; pass np.sort(t)")
    if flat.size == 0:
        return flat.copy()
    grid = flat if flat[0] == 0 else np.concatenate(([0.0], flat))
    lag = np.empty(grid.size)
    lag[0] = lag0
    for i in range(1, grid.size):
        start, dt = grid[i - 1], grid[i] - grid[i - 1]
        lam = _non_negative(f"arrival_rate({start:g})", arrival_rate(start), "messages per second")
        if dt == 0:
            lag[i] = lag[i - 1]
        elif math.isinf(mu):
            lag[i] = 0.0
        else:
            lag[i] = max(0.0, lag[i - 1] + (lam - mu) * dt)
    return lag[grid.size - flat.size:].reshape(times.shape)


def predicted_lag(
    t: float | np.ndarray,
    arrival_rate: float | Callable[[float], float],
    service_rate: float,
    initial_lag: float = 0.0,
) -> np.ndarray | float:
    """Lag (messages) at times t (seconds from 0): max(0, L0 + (arrival - service) * t) for a constant rate.

    For an arrival rate that is a function of t, L' = arrival(t) - service is stepped from t = 0 over the given
    grid (sorted), holding the rate at each step's start and flooring at zero, so a step change in the rate
    that falls on a grid point is exact. A float for a scalar t, else an array shaped like t.
    """
    mu = _non_negative("service_rate", service_rate, "messages per second", allow_inf=True)
    lag0 = _non_negative("initial_lag", initial_lag, "messages")
    times = _times(t)
    if callable(arrival_rate):
        lag = _integrate(times, arrival_rate, mu, lag0)
    else:
        lam = _non_negative("arrival_rate", arrival_rate, "messages per second")
        if math.isinf(mu):
            lag = np.where(times > 0, 0.0, lag0)
        else:
            lag = np.maximum(0.0, lag0 + (lam - mu) * times)
    return float(lag) if times.ndim == 0 else lag


def partitions_per_consumer(consumers: int, partitions: int) -> list[int]:
    """How many partitions each active consumer owns when the group spreads them as evenly as it can."""
    consumers = _count("consumers", consumers, "the consumers in the group; start at least one")
    partitions = _count("partitions", partitions, "the partitions of the topic; a topic has at least one")
    active = min(consumers, partitions)
    base, extra = divmod(partitions, active)
    return [base + 1] * extra + [base] * (active - extra)


def group_capacity(consumers: int, partitions: int, seconds_per_message: float, **kwargs: Any) -> float:
    """The highest arrival rate (spread evenly over partitions) the group keeps up with.

    Lower than :func:`service_rate` when partitions do not divide evenly: the consumer with the most
    partitions saturates first (3 consumers on 4 partitions keep up only with what 2 would).
    """
    per_consumer = service_rate(1, 1, seconds_per_message, **kwargs)
    return partitions / max(partitions_per_consumer(consumers, partitions)) * per_consumer


def predicted_group_lag(
    t: float | np.ndarray,
    arrival_rate: float | Callable[[float], float],
    consumers: int,
    partitions: int,
    seconds_per_message: float,
    initial_lag: float = 0.0,
    **kwargs: Any,
) -> np.ndarray | float:
    """Total lag of a group whose partitions get equal shares of the arrival rate: one fluid queue per consumer.

    ``initial_lag`` (a backlog at t = 0) is spread over the partitions like the arrivals.

    A consumer owning k of P partitions receives k/P of the arrivals and serves at most its own rate; its lag
    grows only while its share exceeds that. With an even split this equals ``predicted_lag`` with
    :func:`service_rate`; with an uneven one, only the overloaded consumers fall behind.
    """
    mu = service_rate(1, 1, seconds_per_message, **kwargs)
    total: np.ndarray | float = 0.0
    for k in partitions_per_consumer(consumers, partitions):
        share = k / partitions
        lam = (lambda tt, s=share: s * arrival_rate(tt)) if callable(arrival_rate) else share * arrival_rate
        total = total + predicted_lag(t, lam, mu, initial_lag * share)
    return total

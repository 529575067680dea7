"""The questions lessons ask of a Result, on runs built by hand (no broker): each answer is known exactly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kafkabp.result import EVENT_COLUMNS, Result


def run(*, rate: float = 100.0, seconds: float = 12.0, left_at: float | None = 10.0, lag_slope: float = 50.0,
        members: int = 2) -> Result:
    """A run whose members each processed ``rate / members`` msg/s, steadily, until ``left_at`` (then stopped),
    and whose lag grew ``lag_slope`` msg/s from t = 2 s on."""
    t = np.arange(0.0, seconds + 0.01, 0.1)
    stop = left_at if left_at is not None else seconds
    processed = pd.DataFrame([{"t": float(x), "member": f"c{m}", "processed": int(min(x, stop) * rate / members)}
                              for x in t for m in range(members)])
    timeline = pd.DataFrame({"t": np.arange(0.0, seconds + 0.01, 0.5)})
    timeline["lag"] = (np.clip(timeline["t"] - 2.0, 0, None) * lag_slope).round()
    events = pd.DataFrame([{"t": left_at, "kind": "left", "member": f"c{m}", "detail": ""} for m in range(members)]
                          if left_at is not None else [], columns=EVENT_COLUMNS)
    return Result("by hand", timeline, pd.DataFrame(), events, pd.Series(dtype=float), {"duration": seconds}, {},
                  processed=processed)


def test_steady_rate_is_what_the_members_processed_until_they_left() -> None:
    r = run(rate=100.0, left_at=10.0)
    assert r.stopped_at() == 10.0
    assert r.steady_rate() == pytest.approx(100.0, abs=1.0)  # bins from 4 s to 10 s, not the idle end
    assert r.steady_rate(statistic="mean") == pytest.approx(100.0, abs=1.0)
    assert r.steady_rate(4.0, 12.0, statistic="mean") < 80.0  # counting the stopped bins shows the stop
    assert math.isnan(r.steady_rate(11.5, 12.0))  # no whole bin fits
    assert run(left_at=None).stopped_at() == 12.0
    with pytest.raises(ValueError, match="'median' or 'mean'"):
        r.steady_rate(statistic="max")


def test_lag_growth_is_the_fitted_slope() -> None:
    assert run(lag_slope=50.0).lag_growth() == pytest.approx(50.0, rel=0.02)
    assert run(lag_slope=0.0).lag_growth() == pytest.approx(0.0, abs=1e-6)
    assert math.isnan(run().lag_growth(9.9, 10.0))  # one sample: no slope

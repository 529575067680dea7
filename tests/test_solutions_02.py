"""Lesson 02's exercise solution: alert(timeline, slo_seconds, retention_seconds) -> "page" | "ticket" | None.

Table-driven on hand-made timelines, then on timelines measured on the real broker."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

import kafkabp

ROOT = Path(__file__).resolve().parent.parent


def _load_solutions():
    path = ROOT / "notebooks" / "solutions" / "solutions_02.py"
    spec = importlib.util.spec_from_file_location("solutions_02", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("solutions_02", module)
    spec.loader.exec_module(module)
    return module


solutions = _load_solutions()
alert = solutions.alert


def timeline(*rows: tuple[float, float, float]) -> pd.DataFrame:
    """Rows of (time_lag s, produce_rate msg/s, consume_rate msg/s), one sample per second."""
    return pd.DataFrame([{"t": float(i), "lag": 0, "time_lag": tl, "produce_rate": p, "consume_rate": c}
                         for i, (tl, p, c) in enumerate(rows)])


# time lag (s), produce rate, consume rate, SLO (s), retention (s), expected
CASES = [
    pytest.param(0.0, 1000, 1000, 5, 3600, None, id="caught-up"),
    pytest.param(4.9, 1000, 500, 5, 3600, None, id="within-slo-though-growing"),
    pytest.param(5.0, 1000, 500, 5, 3600, None, id="exactly-at-slo"),
    pytest.param(5.1, 1000, 500, 5, 3600, "page", id="slo-broken-and-growing"),
    pytest.param(30.0, 1000, 1000, 5, 3600, "page", id="slo-broken-and-level"),
    pytest.param(30.0, 1000, 0, 5, 3600, "page", id="slo-broken-consumer-stopped"),
    pytest.param(30.0, 1000, 3000, 5, 3600, "ticket", id="slo-broken-but-draining"),
    pytest.param(1800.0, 1000, 3000, 5, 3600, "page", id="half-retention-even-while-draining"),
    pytest.param(1799.0, 1000, 3000, 5, 3600, "ticket", id="just-under-half-retention-draining"),
    pytest.param(40.0, 10, 10, 60, 60, "page", id="retention-beats-a-loose-slo"),
    pytest.param(20.0, 10, 10, 60, 60, None, id="loose-slo-short-retention-fine"),
    pytest.param(0.5, 1e6, 1e6, 1, 3600, None, id="huge-offset-lag-small-time-lag"),
]


@pytest.mark.parametrize("time_lag, produce, consume, slo, retention, expected", CASES)
def test_alert_table(time_lag, produce, consume, slo, retention, expected) -> None:
    assert alert(timeline((time_lag, produce, consume)), slo, retention) == expected


@pytest.mark.parametrize("share, expected", [(0.5, "ticket"), (0.25, "page"), (1.0, "ticket")])
def test_retention_share_moves_the_page_line(share, expected) -> None:
    tl = timeline((1000.0, 100, 200))  # 1000 s behind, draining, retention 3600 s
    assert alert(tl, 5, 3600, retention_share=share) == expected


def test_only_the_newest_row_counts() -> None:
    recovered = timeline((100.0, 1000, 0), (50.0, 1000, 5000), (1.0, 1000, 5000))
    assert alert(recovered, 5, 3600) is None
    worsening = timeline((1.0, 1000, 5000), (100.0, 1000, 0))
    assert alert(worsening, 5, 3600) == "page"


def test_nothing_measured_yet_is_no_alert() -> None:
    assert alert(timeline(), 5, 3600) is None
    assert alert(None, 5, 3600) is None
    assert alert(timeline((math.nan, 1000, 1000)), 5, 3600) is None


@pytest.mark.parametrize("slo, retention, share", [(0, 3600, 0.5), (5, 0, 0.5), (-1, 3600, 0.5),
                                                   (5, 3600, 0), (5, 3600, 1.5), (math.nan, 3600, 0.5)])
def test_bad_arguments_are_rejected(slo, retention, share) -> None:
    with pytest.raises(ValueError):
        alert(timeline((1.0, 1, 1)), slo, retention, retention_share=share)


def test_a_timeline_without_time_lag_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="time_lag"):
        alert(pd.DataFrame({"t": [0.0], "lag": [10]}), 5, 3600)


@pytest.mark.integration
def test_alert_on_measured_timelines(kafka_bootstrap: str) -> None:
    """A group that keeps up stays quiet; a topic nobody reads pages once its time lag passes the SLO,
    and pages against retention even under a loose SLO."""
    healthy = kafkabp.Experiment(rate=500, consumers=1, label="healthy")
    unread = kafkabp.Experiment(rate=500, consumers=0, label="nobody reads")
    with healthy, unread:
        healthy.wait(6, progress=False)
        healthy_tl, unread_tl = healthy.timeline(), unread.timeline()
    behind = float(unread_tl["time_lag"].iloc[-1])
    assert 4.0 < behind < 8.0, f"nobody read for ~6 s, but the time lag is {behind:.1f} s"
    assert float(healthy_tl["time_lag"].iloc[-1]) < 2.0
    assert alert(healthy_tl, slo_seconds=2, retention_seconds=3600) is None
    assert alert(unread_tl, slo_seconds=2, retention_seconds=3600) == "page"
    assert alert(unread_tl, slo_seconds=60, retention_seconds=3600) is None
    assert alert(unread_tl, slo_seconds=60, retention_seconds=2 * behind - 1) == "page"

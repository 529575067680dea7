"""The live dashboard steers a real experiment: sliders change the producer and the group."""

from __future__ import annotations

import threading
import time

import pytest

import kafkabp
from kafkabp.widgets import STATUS_SAMPLE_S, STATUS_WINDOW, dashboard

pytestmark = pytest.mark.integration


def test_dashboard_sliders_steer_a_live_experiment(kafka_bootstrap: str) -> None:
    d = dashboard(rate=500, consumers=1, processing_ms=0.5, partitions=2, duration=60)
    assert d.experiment is None  # nothing runs until Start
    d.start_button.click()
    try:
        exp = d.experiment
        assert exp is not None
        d.rate.value = 3000
        d.consumers.value = 2
        assert kafkabp.wait_for(lambda: exp.consumer_group.size == 2, 15)
        time.sleep(2.5)
        assert abs(exp.producer.target_rate - 3000) < 1
        assert len(d.figure.data[0].x) > 0  # the chart was redrawn from live samples
        assert "lag" in d.status.value
    finally:
        d.stop_button.click()
    assert d.result is not None and d.result.summary["produced"] > 3000
    assert d.result.summary["failed"] == 0
    time.sleep(0.5)
    assert not [t for t in threading.enumerate() if t.name.startswith("kafkabp-") and t.is_alive()]


def test_rerunning_the_cell_stops_the_old_dashboard(kafka_bootstrap: str) -> None:
    first = dashboard(rate=200, partitions=1, duration=60)
    first.start()
    assert first.experiment is not None
    second = dashboard(rate=200, partitions=1)
    assert first.experiment is None and first.result is not None
    second.stop()


def test_bad_dashboard_input_is_named() -> None:
    with pytest.raises(ValueError, match=r"dashboard\(partitions=0\): partitions must be from 1 to 12"):
        dashboard(partitions=0)


def test_dashboard_runs_free_processing(kafka_bootstrap: str) -> None:
    d = dashboard(rate=2000, consumers=1, processing_ms=0, partitions=2, duration=60)
    d.start_button.click()
    try:
        exp = d.experiment
        assert exp is not None and exp.consumer_group.processing.seconds == 0  # 0 ms: free, not 0.01 ms
        assert kafkabp.wait_for(lambda: exp.consumer_group.consumed >= 6000, 20)
    finally:
        d.stop_button.click()
    s = d.result.summary
    assert s["failed"] == 0 and s["consumed"] >= 0.9 * s["produced"], s


def test_the_status_line_says_what_burrows_status_means(kafka_bootstrap: str) -> None:
    """One consumer at 1 ms a message against 2,000 msg/s: lag grows, and once the window is full the status
    line reads WARN and says what that means."""
    d = dashboard(rate=2000, consumers=1, processing_ms=1.0, partitions=4, duration=60)
    d.start_button.click()
    try:
        assert kafkabp.wait_for(lambda: "filling Burrow's window" in d.status.value, 10), d.status.value
        window_s = (STATUS_WINDOW - 1) * STATUS_SAMPLE_S
        assert kafkabp.wait_for(lambda: "<b>WARN</b>" in d.status.value, window_s + 10), d.status.value
        assert "Falling behind" in d.status.value and f"last {window_s:.0f} s" in d.status.value
    finally:
        d.stop_button.click()

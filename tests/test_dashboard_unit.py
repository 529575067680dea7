"""The dashboard without a broker: its arguments, its exact sliders, and the status it shows (Burrow's rules)."""

from __future__ import annotations

import math
from collections import deque

import pytest

from kafkabp.status import OffsetSample, Status, group_status, partition_status
from kafkabp.widgets import STATUS_SAMPLE_S, STATUS_WINDOW, dashboard, status_text


@pytest.mark.parametrize(("kwargs", "error", "named"), [
    ({"rate": "fast"}, TypeError, "rate"),
    ({"rate": None}, TypeError, "rate"),
    ({"rate": 0}, ValueError, "rate"),
    ({"rate": -5}, ValueError, "rate"),
    ({"rate": math.nan}, ValueError, "rate"),
    ({"rate": 1e9}, ValueError, "rate"),
    ({"consumers": 2.5}, TypeError, "consumers"),
    ({"consumers": "two"}, TypeError, "consumers"),
    ({"consumers": -1}, ValueError, "consumers"),
    ({"consumers": 99}, ValueError, "consumers"),
    ({"processing_ms": "1ms"}, TypeError, "processing_ms"),
    ({"processing_ms": -0.5}, ValueError, "processing_ms"),
    ({"partitions": 0}, ValueError, "partitions"),
    ({"partitions": 4.0}, TypeError, "partitions"),
    ({"partitions": True}, TypeError, "partitions"),
    ({"duration": 0}, ValueError, "duration"),
    ({"duration": "2 min"}, TypeError, "duration"),
])
def test_every_bad_argument_is_named_with_a_fix(kwargs: dict, error: type, named: str) -> None:
    with pytest.raises(error) as excinfo:
        dashboard(**kwargs)
    message = str(excinfo.value)
    assert f"dashboard({named}=" in message, message  # which argument
    assert f"e.g. {named}=" in message, message  # and a value that works


@pytest.mark.parametrize(("rate", "label"), [(2000, "2,000"), (2800, "2,800"), (1234, "1,234"), (1, "1"),
                                             (100_000, "100,000"), (333.5, "333.5")])
def test_the_rate_slider_holds_exactly_the_rate_asked_for(rate: float, label: str) -> None:
    d = dashboard(rate=rate)
    assert d.rate.value == rate and d.rate.label == label  # a log slider showed 1,995 for 2,000
    values = [v for _, v in d.rate.options]
    assert values == sorted(values) and len(values) == len(set(values))


def test_processing_zero_means_free_processing_not_a_hundredth_of_a_ms() -> None:
    free = dashboard(processing_ms=0)
    assert free.processing.value == 0 and free.processing.label == "0 (free)"
    assert dashboard(processing_ms=0.5).processing.value == 0.5
    assert dashboard(processing_ms=7.5).processing.label == "7.5"


def test_status_text_says_what_the_status_means() -> None:
    S = Status
    err = status_text(S.ERR, {0: S.OK, 1: S.STOP, 2: S.WARN, 3: S.STOP}, 20)
    assert "<b>ERR</b>" in err and "p1 STOP, p3 STOP" in err and "p0" not in err and "p2" not in err
    assert "no commit for over 10 s" in err and "last 20 s" in err
    stall = status_text(S.ERR, {0: S.STALL}, 20)
    assert "p0 STALL" in stall and "same offset" in stall
    warn = status_text(S.WARN, {0: S.WARN, 1: S.OK}, 20)
    assert "<b>WARN</b>" in warn and "never went down" in warn
    assert "Keeping up" in status_text(S.OK, {0: S.OK}, 20)


# --- the dashboard's window on a consumer that drains a backlog one partition at a time -----------------------


def _drain(seconds: float, sample: float, *, turn: float = 2.0, partitions: int = 4, stop_at: float = math.inf,
           lag0: int = 100_000, rate: float = 10.0, mu: float = 1_000.0):
    """Samples of one consumer that works on one partition at a time for ``turn`` seconds (as it does on fetched
    chunks of a large backlog), committing as it goes, while the producer adds ``rate`` msg/s; it leaves at
    ``stop_at``. Yields (t, {partition: OffsetSample}) every ``sample`` seconds."""
    end = {p: lag0 // partitions for p in range(partitions)}  # log end offsets
    committed = {p: 0 for p in range(partitions)}
    t = 0.0
    while t < seconds:
        t += sample
        for p in end:
            end[p] += round(rate / partitions * sample)
        if t < stop_at:
            busy = int(t // turn) % partitions  # the partition it works on now
            committed[busy] = min(end[busy], committed[busy] + round(mu * sample))
        yield t, {p: OffsetSample(t, committed[p], end[p] - committed[p]) for p in end}


def _statuses(sample: float, window: int, **drain):
    windows: dict[int, deque] = {}
    out = []
    for t, samples in _drain(sample=sample, **drain):
        for p, s in samples.items():
            windows.setdefault(p, deque(maxlen=window)).append(s)
        if t >= window * sample:  # the window is full, as the dashboard waits for
            now = t + 0.99 * sample  # read just before the next sample: the longest silence
            out.append((t, group_status(partition_status(list(w), now) for w in windows.values())))
    return out


def test_a_draining_backlog_is_not_err_in_the_dashboards_window() -> None:
    # Four partitions in turns of 2 s leave each without a commit for 6 s while the lag drains at ~1,000 msg/s.
    drained = _statuses(STATUS_SAMPLE_S, STATUS_WINDOW, seconds=90)
    assert drained and all(s != Status.ERR for _, s in drained), [x for x in drained if x[1] == Status.ERR][:3]
    # The window it replaces (10 samples 0.5 s apart) called the same consumer ERR: what a learner saw.
    old = _statuses(0.5, 10, seconds=90)
    assert sum(s == Status.ERR for _, s in old) > len(old) / 4


def test_a_group_that_leaves_is_err_within_about_half_the_window() -> None:
    leave = 40.0
    statuses = _statuses(STATUS_SAMPLE_S, STATUS_WINDOW, seconds=80, stop_at=leave)
    window_s = (STATUS_WINDOW - 1) * STATUS_SAMPLE_S
    assert all(s != Status.ERR for t, s in statuses if t < leave)
    first = next(t for t, s in statuses if t >= leave and s == Status.ERR)
    assert first - leave <= window_s / 2 + 2 * STATUS_SAMPLE_S, first - leave
    assert all(s == Status.ERR for t, s in statuses if t >= first)  # and it stays ERR

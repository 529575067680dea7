"""A broker restart is on an experiment's record even when no lag sample failed during it.

restart_broker() blocks the kernel while the new JVM starts, so the experiment's progress loop sees nothing, and a
lag sample whose request was sent just before the kill can be answered by the new broker: no failed sample, no gap.
(Clean run R12: the killed-broker test's idempotent run reported no outage.) restart_broker() therefore notes each
restart, and an experiment running across one counts it (kafkabp.experiment.missed_outages). The real kill and restart: tests/test_reliability.py.
"""

from __future__ import annotations

import contextlib
import time

import pytest

from kafkabp.outage import missed_outages
from kafkabp.infra import broker, node
from kafkabp.infra.target import TARGET, BrokerInfo


def test_restart_broker_notes_when_the_broker_went_down_and_when_the_new_one_answered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[int] = []
    monkeypatch.setattr(broker, "state_lock", contextlib.nullcontext)
    monkeypatch.setattr(broker, "read_state", lambda: BrokerInfo("127.0.0.1:9", "local", pid=4242))
    monkeypatch.setattr(node, "kill", lambda pid, sig=None: killed.append(pid))

    def start_local(_mode: object, keep_data: bool) -> BrokerInfo:
        assert keep_data  # same data, same address
        time.sleep(0.2)  # the new JVM starting
        return BrokerInfo("127.0.0.1:9", "local", pid=4343)

    monkeypatch.setattr(broker, "start_local", start_local)
    monkeypatch.setattr(TARGET, "set", lambda info: info)
    before = len(broker.restarts())
    t = time.monotonic()
    assert broker.restart_broker(crash=True).pid == 4343 and killed == [4242]
    down, up = broker.restarts()[-1]
    assert len(broker.restarts()) == before + 1
    assert t <= down and up - down >= 0.2 and up <= time.monotonic()


def test_a_restart_during_the_run_is_one_outage_once() -> None:
    t0 = 1000.0
    restarts = [(t0 - 9.0, t0 - 4.0),  # before the run: not its outage
                (t0 + 3.0, t0 + 9.5)]
    gaps = [(t0 + 3.5, t0 + 9.0)]  # the monitor saw part of the same restart: still one outage, the exact one
    assert missed_outages([], restarts, gaps, t0) == [(t0 + 3.0, t0 + 9.5, "the broker was restarted (restart_broker)")]
    # the live loop had already noted it (an open outage counts up to now): nothing to add
    assert missed_outages([(3.2, None)], restarts, gaps, t0) == []


def test_sample_gaps_count_from_three_seconds_and_apart_from_known_outages() -> None:
    t0 = 50.0
    gaps = [(t0 + 1.0, t0 + 2.5),    # 1.5 s: one slow answer, not an outage
            (t0 + 10.0, t0 + 14.0),  # 4 s, already on record
            (t0 + 20.0, t0 + 23.5)]  # 3.5 s, seen only afterwards
    assert missed_outages([(9.8, 14.2)], [], gaps, t0) == [(t0 + 20.0, t0 + 23.5, "lag samples failed (seen afterwards)")]

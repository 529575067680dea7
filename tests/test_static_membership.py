"""Static membership on the real broker (classic protocol, Kafka 4.4): a member restarted within the session timeout
comes back to its partitions without a rebalance when it has a ``group.instance.id``, and the group rebalances
without one. Every message is counted from sequence numbers: nothing lost, duplicates counted either way."""

from __future__ import annotations

import pytest

import kafkabp

RESTART_AT, DOWNTIME, RUN = 3.0, 1.0, 8.0  # s; kafkabp's session.timeout.ms is 6 s: the restart is well within it
AFTER = 5.0  # s after a group's restart that the tests look at (the run goes on 5 s after the second restart)


def window(r: kafkabp.Result) -> tuple[float, float]:
    """From the group's restart for AFTER s (the group may have rebalanced as it formed, before)."""
    at = float(r.events_of("restart")["t"].iloc[0])
    return at, at + AFTER


@pytest.fixture(scope="module")
def restarted(kafka_bootstrap: str) -> dict[bool, kafkabp.Result]:
    """Two groups of 2 consumers on 2 partitions side by side, without and with static membership; at 3 s the
    member in slot 0 of each is restarted (down 1 s), one group after the other."""
    runs = {static: kafkabp.Experiment(rate=400, consumers=2, partitions=2, processing=kafkabp.fixed(0.001),
                                       producer=kafkabp.Producer(keys="uniform"),
                                       group=kafkabp.Group(batch_size=25, static=static),
                                       label=f"restart, static={static}")
            for static in (False, True)}
    dynamic, static = runs[False], runs[True]
    with dynamic, static:
        dynamic.wait(RESTART_AT, progress=False)
        for run in (dynamic, static):
            run.consumer_group.restart(0, downtime=DOWNTIME)  # returns once the replacement has started
        dynamic.wait(RUN - RESTART_AT, progress=False)
    return {s: r.result() for s, r in runs.items()}


def test_without_static_membership_a_restart_rebalances_the_group(restarted: dict[bool, kafkabp.Result]) -> None:
    r = restarted[False]
    at, end = window(r)
    assert r.rebalance_rounds(at, end) >= 1, r.events_of("assign", "revoke", "restart", "joined", "left")
    assert r.partitions_revoked(at, end) >= 2, r.events  # the member that stayed gave its partition up too


def test_with_static_membership_the_restarted_member_gets_its_partition_back_without_a_rebalance(
        restarted: dict[bool, kafkabp.Result]) -> None:
    r = restarted[True]
    ev = r.events_of("assign", "revoke", "restart", "joined", "left")
    at, end = window(r)
    assert r.rebalance_rounds(at, end) == 0, ev
    stayed = [m for m in r.assignment if not m.endswith("-c0")]
    first = {e.member: e.detail for e in r.events_of("assign").itertuples() if e.t < at}
    assert first["c0"] == r.events_of("assign")["detail"].iloc[-1], ev  # the replacement got c0's partition back
    assert len(stayed) == 2 and r.partitions_revoked(at, end) == 1, ev  # only the restarted member let go
    # its partition waited for the replacement: about the downtime, and less than the session timeout (6 s)
    assert 0.8 * DOWNTIME <= r.unowned_seconds(at, end) < 6.0, r.unowned()
    assert r.longest_stop(at, end) < DOWNTIME, r.processed  # the other member went on processing


def test_every_message_is_counted_exactly_either_way(restarted: dict[bool, kafkabp.Result]) -> None:
    for static, r in restarted.items():
        r.check_complete()
        s = r.summary
        assert s.counts_exact and s.lost == 0 and s.failed == 0, (static, s)
        assert s.consumed == s.delivered - s.unread + s.duplicates, (static, s)
        assert len(r.joins()) == 3 and s.idle_members == 0, (static, r.joins(), r.assignment)

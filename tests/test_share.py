"""Share groups (KIP-932): more busy members than partitions, exact counts, acknowledgements, lag, clean stop."""

from __future__ import annotations

import threading

import pytest

import kafkabp
from kafkabp.lag import describe_share_group_with_kafka_tool
from kafkabp.ledger import HEADER, MAGIC
from kafkabp.workload.share import ShareGroup
from kafkabp.workload.share_acks import DoneOffsets, ShareOptions


def _threads_of(group: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.is_alive() and group in t.name]


def _busy(result: kafkabp.Result, since: float) -> int:
    """Members that processed at least one message after ``since`` seconds."""
    p = result.processed
    late = p[p["t"] >= since].groupby("member")["processed"].max()
    early = p[p["t"] < since].groupby("member")["processed"].max()
    return int(sum(1 for m, n in late.items() if n > early.get(m, 0)))


# ------------------------------------------------------------------------------------------ no broker needed

def test_done_offsets_keep_a_floor_and_the_ones_above_it() -> None:
    d = DoneOffsets()
    for off in (2, 0, 5, 1):
        d.add(off)
    assert d.floor == 3 and d.above == {5} and d.count() == 4
    d.add(3), d.add(4)
    assert d.floor == 6 and not d.above
    d.add(1)  # already below the floor: nothing changes
    assert d.count() == 6


class _FirstRecordsLate:
    """A share consumer whose first records come on its third poll; it records what it was asked."""

    def __init__(self, fail: bool = False) -> None:
        from confluent_kafka import Message

        self.fail, self.polls, self.acks, self.calls = fail, 0, [], []
        self.batches = [[], [], [Message(topic="t", partition=0, offset=o, value=b"v") for o in (7, 8)]]

    def poll(self, timeout: float) -> list:
        self.polls += 1
        if self.fail:
            raise RuntimeError("not subscribed")
        return self.batches.pop(0) if self.batches else []

    def acknowledge(self, m: object, kind: object) -> None:
        self.acks.append((m.offset(), kind))  # type: ignore[attr-defined]

    def commit_sync(self, timeout: float) -> dict:
        self.calls.append("commit_sync")
        return {}

    def close(self) -> None:
        self.calls.append("close")


@pytest.mark.usefixtures("no_broker")
@pytest.mark.parametrize("fail", [False, True])
def test_a_member_stopped_before_its_first_records_closes_only_once_they_came(fail: bool) -> None:
    """librdkafka 2.16's close() hangs when a first assignment lands during it (share.py says why): a member that
    never got a record polls until it does, releases what it got (the group delivers it again), then closes."""
    from confluent_kafka import AcknowledgeType

    group = ShareGroup("t", "g", consumers=1)
    member = group.member_type(group, 0)
    member.consumer = consumer = _FirstRecordsLate(fail)
    member._close()
    assert consumer.calls == ["commit_sync", "close"]
    if fail:  # a poll that fails ends the wait at once, and the member still closes
        assert consumer.polls == 1 and not consumer.acks and not member.delivered
    else:
        assert consumer.polls == 3 and member.delivered
        assert consumer.acks == [(7, AcknowledgeType.RELEASE), (8, AcknowledgeType.RELEASE)]
        assert member.acks["release"] == 2 and group.summary()["released_unprocessed"] == 2
    delivered = _FirstRecordsLate()
    member.delivered, member.consumer = True, delivered  # a member that had records closes at once
    member._close()
    assert delivered.polls == 0 and delivered.calls == ["commit_sync", "close"]


def test_share_options_are_checked_and_poison_is_the_same_messages_every_time() -> None:
    for bad in (dict(failure_rate=1.0), dict(poison_rate=-0.1), dict(max_attempts=0), dict(offset_reset="none")):
        with pytest.raises(ValueError):
            ShareOptions(**bad)
    opts = ShareOptions(poison_rate=0.05)
    values = [HEADER.pack(MAGIC, 0, seq) + b"x" * 20 for seq in range(20_000)]
    poison = [opts.is_poison(v) for v in values]
    assert poison == [opts.is_poison(v) for v in values]
    assert 0.04 <= sum(poison) / len(poison) <= 0.06, sum(poison)
    assert not ShareOptions().is_poison(values[0]) and not opts.is_poison(b"no header")


def test_share_keywords_are_checked() -> None:
    with pytest.raises(ValueError, match="share options apply"):
        kafkabp.Group(protocol="classic", share=ShareOptions())
    with pytest.raises(ValueError, match="parallel"):
        ShareGroup("t", "g", 2, parallel=4)
    with pytest.raises(ValueError, match="session.timeout.ms"):
        ShareGroup("t", "g", 2, config={"session.timeout.ms": 6000})


# ------------------------------------------------------------------------------------------ on the broker

@pytest.mark.integration
def test_more_members_than_partitions_are_busy_and_every_message_is_counted(kafka_bootstrap: str) -> None:
    """4 share members on 1 partition, 20 ms a message, 300 msg/s offered (more than the 200 msg/s they manage)."""
    e = kafkabp.Experiment(group=kafkabp.Group(protocol="share", batch_size=10), rate=300, consumers=4, partitions=1,
                           processing=kafkabp.fixed(0.02), label="share, 4 on 1 partition")
    with e:
        e.wait(8, progress=False)
    r = e.result()
    s = r.summary
    assert _busy(r, since=3.0) >= 3, r.processed.groupby("member")["processed"].max()  # a classic group: 1
    assert s["busy_members"] >= 3 and s["idle_members"] <= 1, s
    assert s["counts_exact"] and s["lost"] == 0 and s["failed"] == 0, s
    assert s["produced"] == r.ledger["processed_unique"] + s["unread"], (s, r.ledger)  # processed or still waiting
    # nothing processed comes back: no failures, no poison, a 200 ms batch well inside the 30 s acquisition lock,
    # and the only releases are of messages not processed yet (a stopping member's): none is processed twice
    assert s["duplicates"] == r.ledger["duplicates"] == 0 and r.ledger["redelivered"] == {}, \
        (s["duplicates"], r.ledger["redelivered"])
    assert s["acks"]["accept"] == s["consumed"] == r.ledger["processed"], s
    assert s["acks"]["reject"] == 0 and s["acks"]["release"] == s["released_unprocessed"], s
    assert sum(s["delivery_counts"].values()) == sum(s["acks"].values()), s
    assert s["out_of_order"] > 0, s  # several members on one partition: its order is gone
    assert s["final_lag"] == s["unread"], s  # the lag reading counts what is not accepted or rejected
    assert _threads_of(e.group) == [], _threads_of(e.group)


@pytest.mark.integration
def test_release_and_reject_are_counted_and_rejected_messages_are_the_lost_ones(kafka_bootstrap: str) -> None:
    opts = ShareOptions(failure_rate=0.2, poison_rate=0.05, max_attempts=2)
    e = kafkabp.Experiment(group=kafkabp.Group(protocol="share", share=opts, batch_size=20), rate=200, consumers=4,
                           partitions=2, processing=kafkabp.fixed(0.002), label="share with failures")
    with e:
        e.wait(6, progress=False)
    s = e.result().summary
    acks, dc = s["acks"], s["delivery_counts"]
    assert acks["release"] > s["released_unprocessed"] and acks["reject"] > 0, s
    # released ones came back (delivery count 2), then were accepted or rejected; a few more come back once
    # more when a stopping member releases what it held (at the end of the run)
    assert dc.get(2, 0) > 0 and dc.get(2, 0) > 10 * dc.get(3, 0), dc
    assert s["counts_exact"] and s["lost"] == acks["reject"], s  # rejected = never processed, not waiting: lost
    assert s["produced"] == e.ledger.report()["processed_unique"] + s["lost"] + s["unread"], s
    assert s["redeliveries"] == sum(n for k, n in dc.items() if k > 1)
    assert _threads_of(e.group) == []


@pytest.mark.integration
def test_lag_reading_matches_kafka_share_groups(kafka_bootstrap: str) -> None:
    e = kafkabp.Experiment(group=kafkabp.Group(protocol="share", batch_size=10), rate=400, consumers=2, partitions=2,
                           processing=kafkabp.fixed(0.01), topic=kafkabp.Topic(keep=True), label="share lag")
    try:
        with e:
            e.wait(5, progress=False)
        r = e.result()
        tool = describe_share_group_with_kafka_tool(r.group)
        assert len(tool) == 2 and tool["start_offset"].notna().all(), tool
        assert int(tool["lag"].sum()) == r.summary["final_lag"] > 0, (tool, r.summary)
        last = r.partitions[r.partitions["t"] == r.partitions["t"].max()].set_index("partition")
        for row in tool.itertuples():
            assert row.lag == last.loc[row.partition, "lag"], (tool, last)
    finally:
        kafkabp.delete_group(e.group)  # the group first: see delete_group
        kafkabp.delete_topic(e.topic)


@pytest.mark.integration
def test_a_share_group_on_its_own_drains_a_topic_and_scales_and_stops_cleanly(kafka_bootstrap: str) -> None:
    topic, group = kafkabp.unique_name("share-test"), kafkabp.unique_name("share-test-group")
    kafkabp.create_topic(topic, 2)
    ledger = kafkabp.Ledger()
    producer = kafkabp.RateProducer(topic, 2_000, max_messages=3_000, ledger=ledger, config={"batch.size": 2_000})
    producer.start()
    try:
        with ShareGroup(topic, group, 1, kafkabp.fixed(0.001), ledger=ledger, batch_size=50) as g:
            assert g.size == 1
            g.scale(3)
            assert g.size == 3 and len(g.members) == 3
            assert producer.wait(30)
            assert kafkabp.wait_for(lambda: g.consumed >= 3_000, 60), g.consumed
            assert set().union(*g.assignment().values()) == {0, 1}, g.assignment()
            g.scale(1)  # the two leaving release what they hold; the last one takes it
        rep = ledger.report()
        assert rep["processed_unique"] == 3_000 and g.consumed == rep["processed"], rep
        assert g.acks["accept"] == g.consumed and g.errors() == []
        assert g.positions([(topic, 0), (topic, 1)]) == {(topic, p): (end, "") for p, end in _ends(topic).items()}
        assert _threads_of(group) == [], _threads_of(group)
        assert len(g.processed_frame(0.0)) > 3 and g.cpu_seconds > 0 and len(g.latencies()) > 0
    finally:
        producer.stop()
        kafkabp.delete_group(group)  # the group first: see delete_group
        kafkabp.delete_topic(topic)


def _ends(topic: str) -> dict[int, int]:
    """Log end offset per partition (every record was accepted, so the positions reach them)."""
    snap = kafkabp.snapshot("unused-group-for-ends", topic)
    return {int(r.partition): int(r.log_end_offset) for r in snap.itertuples()}

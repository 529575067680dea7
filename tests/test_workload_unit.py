"""Rate profiles, the token bucket and processing models, without a broker."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from confluent_kafka import Message

from kafkabp.ledger import prefix
from kafkabp.workload import (
    Burst, Constant, Processing, Ramp, Step, TokenBucket, as_profile, cpu, exponential, fixed, lognormal, per_batch,
)


pytestmark = pytest.mark.usefixtures("no_broker")  # stand-in members: no broker is started for them


def test_profiles() -> None:
    assert Constant(5)(100) == 5
    assert (Step(10, 20, at=5)(4.9), Step(10, 20, at=5)(5.0)) == (10, 20)
    b = Burst(low=1, high=9, period=10, duty=0.3)
    assert [b(t) for t in (0, 2.9, 3.1, 9.9, 10.0)] == [9, 9, 1, 1, 9]
    r = Ramp(0, 100, duration=10)
    assert [r(t) for t in (0, 5, 10, 20)] == [0, 50, 100, 100]
    with pytest.raises(ValueError, match="duty"):
        Burst(1, 2, period=1, duty=1.5)


@pytest.mark.parametrize("bad", [-1, math.nan, math.inf])
def test_bad_rates_are_named(bad: float) -> None:
    with pytest.raises(ValueError, match="rate must be"):
        as_profile(bad)


def test_none_means_full_speed_and_numbers_become_constant() -> None:
    assert as_profile(None) is None
    assert as_profile(250) == Constant(250.0)
    with pytest.raises(TypeError, match="rate profile"):
        as_profile("fast")  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [10, 1000, 50_000])
def test_token_bucket_grants_exactly_the_rate(rate: float) -> None:
    bucket = TokenBucket(Constant(rate), start=0.0)
    granted, now, step = 0, 0.0, 0.0007
    while now < 10.0:
        now += step
        n = int(bucket.refill(now))
        bucket.take(n)
        granted += n
    assert abs(granted - rate * 10) <= 1 + rate * 0.001


def test_token_bucket_caps_saved_up_tokens() -> None:
    bucket = TokenBucket(Constant(1000), start=0.0)
    assert bucket.refill(60.0) == pytest.approx(1000.0)  # an idle minute is not a 60,000-message burst


def test_token_bucket_follows_a_step_profile() -> None:
    bucket = TokenBucket(Step(100, 1000, at=1.0), start=0.0)
    total = 0
    for i in range(1, 2001):
        n = int(bucket.refill(i / 1000))
        bucket.take(n)
        total += n
    assert abs(total - (100 + 1000)) <= 2


def test_reset_switches_rate_without_a_burst() -> None:
    bucket = TokenBucket(Constant(10), start=0.0)
    bucket.refill(0.04)
    bucket.reset(Constant(100_000), 0.04)
    assert bucket.tokens <= 1.0
    assert bucket.wait_time(0.04) <= 1 / 100_000 + 1e-9


def test_processing_models() -> None:
    rng = random.Random(1)
    assert fixed(0.002).sample(rng) == 0.002
    e = [exponential(0.01).sample(rng) for _ in range(20_000)]
    assert abs(sum(e) / len(e) - 0.01) < 0.0005
    ln = [lognormal(0.01, 0.5).sample(rng) for _ in range(20_000)]
    assert abs(sum(ln) / len(ln) - 0.01) < 0.0005
    assert per_batch(0.05, 0.001).mean_seconds(batch_size=50) == pytest.approx(0.002)
    assert cpu(0.001).kind == "cpu"
    assert str(fixed(0.001)) == "fixed 1 ms/msg"
    with pytest.raises(ValueError, match="processing kind"):
        Processing("magic")
    with pytest.raises(ValueError, match=">= 0"):
        fixed(-1)


def test_stop_also_waits_for_members_that_scale_down_let_go_of_while_still_leaving() -> None:
    """scale() waits join_timeout for a leaving member; one still closing after it (a busy machine) is retired alive,
    and stop() must wait for it too: a test saw such a member's thread outlive its experiment."""
    import threading
    import time

    from kafkabp.workload.group import MemberGroup

    class SlowToLeave:
        def __init__(self, group: object, index: int) -> None:
            self.stop_event = threading.Event()
            self.thread = threading.Thread(target=self.run, name=f"kafkabp-test-slow-c{index}", daemon=True)
            self.consumed, self.error, self.closing = 0, None, 1.0 if index else 0.0

        def run(self) -> None:
            self.stop_event.wait()
            time.sleep(self.closing)  # the member scale() lets go of takes a second to close, the other none

    class Slow(MemberGroup):
        member_type = SlowToLeave
        join_timeout = 0.05

    class Events:
        def add(self, *args: object, **kwargs: object) -> None:
            pass

    group = Slow()
    group.events = Events()  # type: ignore[assignment]
    group._init_members(2)
    group.start()
    group.scale(1)
    left = group.members[-1]
    assert left.thread.is_alive()  # let go of after join_timeout, still leaving
    group.stop(timeout=5)
    assert not any(m.thread.is_alive() for m in group.members), [m.thread.name for m in group.members]


class _Waiting:
    """A stand-in member: a thread that waits for ``release``, or for its own stop_event when that is None."""

    release: Any = None

    def __init__(self, group: object, index: int) -> None:
        import threading

        self.name, self.stop_event = f"g-c{index}", threading.Event()
        wait = (self.release or self.stop_event).wait
        self.thread = threading.Thread(target=wait, name=f"kafkabp-test-{type(group).__name__}-c{index}", daemon=True)
        self.consumed, self.error = 0, None


def test_a_scale_after_stop_starts_no_member() -> None:
    """An autoscaler decides in the lag monitor's thread, and the experiment stops the group before the monitor: a
    scale(4) that lands after stop() started a member nobody stopped (a test's leftover-threads.txt named one)."""
    from kafkabp.workload.group import MemberGroup

    class Late(MemberGroup):
        member_type = _Waiting

    group = Late()
    group.events = _Events()  # type: ignore[assignment]
    group._init_members(1)
    group.start()
    group.stop(timeout=5)
    group.scale(4)
    assert group.size == 0 and len(group.members) == 1, [m.thread.name for m in group.members]
    assert not any(m.thread.is_alive() for m in group.members)


def test_a_member_that_does_not_end_after_stop_is_named_never_silent() -> None:
    """A member whose client's close() never returns (a librdkafka hang) outlives stop(): stop() says which one, in
    the events and as a warning, instead of returning as if every thread had ended."""
    import threading

    from kafkabp.workload.group import MemberGroup

    release = threading.Event()

    class Stuck(MemberGroup):
        member_type = type("Member", (_Waiting,), {"release": release})

    group = Stuck()
    group.events = _Events()  # type: ignore[assignment]
    group._init_members(2)
    group.start()
    try:
        with pytest.warns(RuntimeWarning, match=r"g-c[01] has not ended 0.2 s after stop\(\)"):
            group.stop(timeout=0.2)
        assert [(k, m) for k, m, _ in group.events.rows if k == "stuck"] == [("stuck", "g-c0"), ("stuck", "g-c1")]
    finally:
        release.set()
    for m in group.members:
        m.thread.join(5)
    assert not any(m.thread.is_alive() for m in group.members)


@pytest.mark.parametrize("thread_ran", [True, False], ids=["after its thread ran", "before its thread ran"])
def test_an_interrupt_inside_a_members_start_leaves_a_member_that_stop_ends(thread_ran: bool) -> None:
    """The kernel's stop button lands in ``Thread.start()`` (it waits for the new thread): before, the member ran on
    outside :attr:`workers` and stop() never stopped it (test_no_leaks caught a share member polling 35 s after its
    run); now it is in its slot from before its thread starts, and stop() ends it or skips a thread that never ran."""
    import threading

    from kafkabp.workload.group import MemberGroup

    class Interrupted(threading.Thread):
        def start(self) -> None:
            if thread_ran:
                super().start()
            raise KeyboardInterrupt

    class Member(_Waiting):
        def __init__(self, group: object, index: int) -> None:
            super().__init__(group, index)
            if index == 1:  # the second member's start is interrupted
                self.thread = Interrupted(target=self.stop_event.wait, name=self.thread.name, daemon=True)

    class Group(MemberGroup):
        member_type = Member

    group = Group()
    group.events = _Events()  # type: ignore[assignment]
    group._init_members(3)
    with pytest.raises(KeyboardInterrupt):
        group.start()
    assert [m.name for m in group.workers] == ["g-c0", "g-c1"]  # the third never began; the second is in its slot
    assert group.workers[1].thread.is_alive() is thread_ran
    group.stop(timeout=5)
    assert not any(m.thread.is_alive() for m in group.members), [m.thread.name for m in group.members]


class _Events:
    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(self, kind: str, member: str = "", detail: str = "", **kwargs: object) -> None:
        self.rows.append((kind, member, detail))


def _stand_in_group(n: int, static: bool) -> "object":
    """A group of ``n`` stand-in members (threads that wait to be stopped): restarts without a broker."""
    import threading

    from kafkabp.workload.group import Member, MemberGroup

    class StandIn(Member):
        def _loop(self) -> None:
            self.stop_event.wait()

        def _close(self) -> None:
            self.group.events.add("left", self.name)

    class Group(MemberGroup):
        member_type = StandIn
        group = "g"

    g = Group()
    g.events, g.static = _Events(), static  # type: ignore[assignment]
    g._init_members(n)
    assert isinstance(g._members_lock, type(threading.RLock()))
    return g.start()


def test_a_restarted_member_takes_its_slot_and_instance_id_over_and_is_counted_once() -> None:
    g = _stand_in_group(3, static=True)
    try:
        before = list(g.workers)
        assert [w.instance_id for w in before] == ["g-0", "g-1", "g-2"]
        g.restart(1, downtime=0.05)
        new = g.workers[1]
        assert new is not before[1] and new.slot == 1 and new.instance_id == "g-1" and new.name == "g-m3"
        assert g.workers[0] is before[0] and g.workers[2] is before[2]
        assert not before[1].thread.is_alive() and new.thread.is_alive()
        assert len(g.members) == 4 and g.members.count(before[1]) == 1  # the old one retired once
        kinds = [k for k, _, _ in g.events.rows]
        assert kinds.index("restart") < kinds.index("left") < len(kinds) - 1 and kinds[-1] == "joined"
        g.scale(4)  # a member added after restarts takes the next slot
        assert g.workers[3].slot == 3 and g.workers[3].instance_id == "g-3"
    finally:
        g.stop(timeout=5)
    assert not any(m.thread.is_alive() for m in g.members)
    dynamic = _stand_in_group(1, static=False)
    dynamic.stop(timeout=5)
    assert dynamic.members[0].instance_id is None  # no static membership: no instance id


def test_a_rolling_restart_restarts_every_slot_in_turn_and_stop_ends_it() -> None:
    import time

    g = _stand_in_group(3, static=True)
    try:
        first = list(g.workers)
        g.rolling_restart(every=0.1, downtime=0.02)
        with pytest.raises(RuntimeError, match="already running"):
            g.rolling_restart()
        deadline = time.monotonic() + 5
        while not any(k == "rolled" for k, _, _ in g.events.rows) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [d for k, _, d in g.events.rows if k == "restart"] == [f"slot {i}, down 0.02 s" for i in range(3)]
        assert all(a is not b for a, b in zip(first, g.workers)) and [w.slot for w in g.workers] == [0, 1, 2]
        assert len(g.members) == 6 and g.size == 3
    finally:
        g.stop(timeout=5)
    slow = _stand_in_group(2, static=False)
    slow.rolling_restart(every=10.0, downtime=10.0)  # stopped in the first member's downtime
    time.sleep(0.2)
    t0 = time.monotonic()
    slow.stop(timeout=5)
    assert time.monotonic() - t0 < 2 and not slow._rolling.is_alive()
    assert len(slow.members) == 2 and not any(m.thread.is_alive() for m in slow.members)  # nobody started after stop
    one = _stand_in_group(1, static=False)
    with pytest.raises(ValueError, match="slot must be"):
        one.restart(5)
    one.stop(timeout=5)


def test_a_static_worker_asks_for_its_slots_instance_id(monkeypatch: pytest.MonkeyPatch) -> None:
    from kafkabp.workload import consumer

    monkeypatch.setattr(consumer, "client_config", lambda: {"bootstrap.servers": "localhost:1"})
    static = consumer.ConsumerGroup("t", "orders", 2, static=True)
    w = consumer.Worker(static, 7)
    w.slot = 1
    assert w._conf()["group.instance.id"] == "orders-1" and w.name == "orders-c7"
    assert "group.instance.id" not in consumer.Worker(consumer.ConsumerGroup("t", "orders", 2), 0)._conf()


def _msg(key: bytes | None, partition: int, offset: int, seq: int) -> Message:
    """A real client message: kafkabp's header with producer 1's sequence ``seq``."""
    return Message(topic="t", partition=partition, offset=offset, key=key,
                   value=prefix(1) + seq.to_bytes(8, "big") + b"x" * 20, timestamp=(1, 1_700_000_000_000))


def _drain(pool: object, n: int, timeout: float = 10.0) -> list:
    import queue
    import time

    got: list = []
    deadline = time.monotonic() + timeout
    while sum(len(x.done) + len(x.skipped) for x in got if not isinstance(x, BaseException)) < n \
            and time.monotonic() < deadline:
        try:
            got.append(pool.completed.get(timeout=0.1))  # type: ignore[attr-defined]
        except queue.Empty:
            pass
    return got


def test_the_pool_hands_batches_over_and_keeps_each_keys_order() -> None:
    """submit_all: one hand-off per thread per batch; every message comes back once, each key in order."""
    from kafkabp.workload.parallel import KeyOrderedPool

    seen: dict[bytes, list[int]] = {}

    def process(m: Message) -> bool:
        seen.setdefault(m.key(), []).append(int.from_bytes(m.value()[4:12], "big"))  # type: ignore[arg-type]
        return True

    pool = KeyOrderedPool(4, process, "test-batch")
    msgs = [_msg(f"k{i % 10}".encode(), i % 2, i // 2, i) for i in range(1_000)]
    try:
        pool.submit_all(msgs[:500])
        pool.submit_all(msgs[500:])
        assert pool.in_flight == 1_000 and pool.in_flight_bytes == 1_000 * 32
        got = _drain(pool, 1_000)
    finally:
        pool.close()
    back = [m for f in got for m in f.done]
    assert len(back) == 1_000 and len({id(m) for m in back}) == 1_000
    assert all(len(f.at) == len(f.done) and not f.skipped for f in got)
    assert all({m.partition() for m in f.done} <= {f.partition} for f in got)  # each report is of one partition
    assert len(got) < 100, len(got)  # handed back in batches, not message by message
    assert all(s == sorted(s) for s in seen.values()) and pool.order_violations == 0


def test_a_handler_error_hands_back_the_rest_of_its_batch_unprocessed() -> None:
    from kafkabp.workload.parallel import KeyOrderedPool

    def process(m: Message) -> bool:
        if m.offset() == 5:
            raise RuntimeError("handler failed on offset 5")
        return True

    pool = KeyOrderedPool(1, process, "test-error")
    try:
        pool.submit_all([_msg(b"k", 0, o, o) for o in range(10)])
        got = _drain(pool, 10)
        got.append(pool.completed.get(timeout=5))  # the error comes right after the messages
    finally:
        pool.close()
    reports = [x for x in got if not isinstance(x, BaseException)]
    errors = [x for x in got if isinstance(x, BaseException)]
    flat = [(m.offset(), True) for f in reports for m in f.done] + [(m.offset(), False) for f in reports
                                                                    for m in f.skipped]
    assert sorted(flat) == [(o, o < 5) for o in range(10)], flat
    assert len(errors) == 1 and "offset 5" in str(errors[0])


def test_the_prefix_tracker_passes_whole_runs_and_stops_at_the_first_unfinished_offset() -> None:
    from kafkabp.workload.parallel import PrefixTracker

    t = PrefixTracker()
    t.handed_out_all(0, [10, 11, 13, 14])  # a gap (13 after 11: a compacted or transaction-marker offset)
    t.handed_out_all(0, [15, 16, 17])
    t.handed_out_all(1, [0, 1])
    t.finished_all(0, [11, 15, 16, 17])
    assert t.advance() == {}  # 10 is not done: nothing may be committed past it
    t.finished_all(0, [10, 14])
    assert t.advance() == {0: 12}  # 10, 11 done; 13 not
    t.finished(0, 13)
    t.finished_all(1, [1])
    assert t.advance() == {0: 18}  # the rest of the first run, then the whole second one; p1 waits for 0
    assert t.advance() == {} and not t.done[0]
    t.handed_out(0, 18)
    t.finished(0, 18)
    t.finished(1, 0)
    assert t.advance() == {0: 19, 1: 2}
    t.forget({0, 1})
    assert t.advance() == {}


def test_by_partition_keeps_each_partitions_order() -> None:
    from kafkabp.workload.parallel import by_partition

    one = [_msg(b"k", 3, o, o) for o in range(5)]
    assert by_partition(one) == [(3, one)] and by_partition([]) == []
    mixed = [_msg(b"k", o % 2, o, o) for o in range(6)]
    assert [(p, [m.offset() for m in ms]) for p, ms in by_partition(mixed)] == [(0, [0, 2, 4]), (1, [1, 3, 5])]


def test_the_order_check_counts_a_key_going_backwards_by_list_as_by_message() -> None:
    from kafkabp.workload.parallel import OrderCheck

    seqs = [(b"a", 1), (b"b", 300), (b"a", 2), (b"b", 299), (b"a", 256), (b"a", 255), (None, 0)]
    msgs = [_msg(k, 0, i, s) for i, (k, s) in enumerate(seqs)]
    one, many = OrderCheck(), OrderCheck()
    for m in msgs:
        one.see(m.key(), m.value())
    many.see_all(msgs[:3])
    many.see_all(msgs[3:])
    assert one.violations == many.violations == 2  # b: 300 then 299; a: 256 then 255 (bytes order = number order)


def test_the_order_check_by_list_keeps_order_per_producer_and_skips_values_without_the_magic() -> None:
    """As :meth:`OrderCheck.see` (main's 41e5e21): a backlog and the rate producer each number one key from 0."""
    from kafkabp.ledger import HEADER, MAGIC
    from kafkabp.workload.parallel import OrderCheck

    def msg(pid: int, seq: int, magic: bytes = MAGIC) -> Message:
        return Message(topic="t", partition=0, offset=seq, key=b"a", value=HEADER.pack(magic, pid, seq) + b"x")

    msgs = [msg(0, 5), msg(1, 0), msg(0, 6), msg(1, 1), msg(0, 0, magic=b"XX"), msg(0, 7), msg(1, 0)]
    one, many = OrderCheck(), OrderCheck()
    for m in msgs:
        one.see(m.key(), m.value())
    many.see_all(msgs)
    assert one.violations == many.violations == 1  # only producer 1's 1 then 0; "XX" is not kafkabp's header


def test_a_pool_member_survives_a_revoke_mid_run_and_stops_promptly() -> None:
    """Multi-partition batches through 8 threads, all partitions revoked and two given back mid-run, then a stop: the
    member ends at once, nothing left in flight, key order kept, and the revoked partitions' commits held back to
    what was processed (a stand-in consumer; no broker)."""
    import threading
    import time

    from confluent_kafka import TopicPartition

    from kafkabp.workload import ConsumerGroup, consumer, handler

    from kafkabp.ledger import HEADER, MAGIC

    msgs = {p: [Message(topic="t", partition=p, offset=o, key=b"p%d-k%d" % (p, o % 7),  # a key lives in one partition
                        value=HEADER.pack(MAGIC, 1, o) + b"x", timestamp=(1, int(time.time() * 1000)))
                for o in range(2_000)] for p in range(4)}
    pos, commits = dict.fromkeys(range(4), 0), {}

    class Fake:
        def __init__(self, conf: object) -> None:
            self.calls, self.assigned = 0, set()

        def subscribe(self, topics: object, on_assign: object = None, on_revoke: object = None, **kw: object) -> None:
            self.on_assign, self.on_revoke = on_assign, on_revoke

        def consume(self, num_messages: int = 1, timeout: float = 0.1) -> list:
            self.calls += 1
            if self.calls == 1:
                self.assigned = {0, 1, 2, 3}
                self.on_assign(self, [TopicPartition("t", p) for p in range(4)])  # type: ignore[operator]
            if self.calls == 20:  # a rebalance: everything revoked (commits first), two partitions come back
                self.on_revoke(self, [TopicPartition("t", p) for p in range(4)])  # type: ignore[operator]
                pos.update({p: commits.get(p, 0) for p in range(4)})
                self.assigned = {0, 2}
                self.on_assign(self, [TopicPartition("t", 0), TopicPartition("t", 2)])  # type: ignore[operator]
            out = []
            for p in sorted(self.assigned):
                out += msgs[p][pos[p]:pos[p] + 5]
                pos[p] += 5
            time.sleep(0.01)
            return out

        def commit(self, offsets: list, asynchronous: bool = True) -> None:
            commits.update({tp.partition: tp.offset for tp in offsets})

        def close(self) -> None:
            pass

    class Fed(consumer.Worker):
        client_type = Fake

    g = ConsumerGroup("t", "fake", 1, parallel=8, batch_size=20, processing=handler(lambda payload: time.sleep(0.01)))
    w = Fed(g, 0)
    t = threading.Thread(target=w.run)
    t.start()
    time.sleep(1.5)
    w.stop_event.set()
    t.join(10)
    assert not t.is_alive() and w.error is None, w.error
    assert w.in_flight == 0 and g.order_violations == 0
    assert set(commits) == {0, 1, 2, 3} and 0 < commits[1] <= 100 and commits[0] > commits[1], commits

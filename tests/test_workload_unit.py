"""Rate profiles, the token bucket and processing models, without a broker."""

from __future__ import annotations

import math
import random

import pytest

from kafkabp.workload import (
    Burst, Constant, Processing, Ramp, Step, TokenBucket, as_profile, cpu, exponential, fixed, lognormal, per_batch,
)


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


def test_a_scale_after_stop_starts_no_member() -> None:
    """An autoscaler decides in the lag monitor's thread, and the experiment stops the group before the monitor: a
    scale(4) that lands after stop() started a member nobody stopped (a test's leftover-threads.txt named one)."""
    import threading

    from kafkabp.workload.group import MemberGroup

    class Member:
        def __init__(self, group: object, index: int) -> None:
            self.stop_event = threading.Event()
            self.thread = threading.Thread(target=self.stop_event.wait, name=f"kafkabp-test-late-c{index}", daemon=True)
            self.consumed, self.error = 0, None

    class Late(MemberGroup):
        member_type = Member

    group = Late()
    group.events = _Events()  # type: ignore[assignment]
    group._init_members(1)
    group.start()
    group.stop(timeout=5)
    group.scale(4)
    assert group.size == 0 and len(group.members) == 1, [m.thread.name for m in group.members]
    assert not any(m.thread.is_alive() for m in group.members)


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

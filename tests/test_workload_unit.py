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

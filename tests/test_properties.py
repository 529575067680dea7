"""Property-based tests (Hypothesis) of the arithmetic every lesson trusts: the token bucket and rate profiles,
time-lag interpolation, the fluid model and Burrow's rules. No broker needed."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kafkabp import model
from kafkabp.status import OffsetSample, Status, TimeLagTable, evaluate_commits, partition_status
from kafkabp.workload.rates import Burst, Constant, Ramp, Step, TokenBucket

rates = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
positive_rates = st.floats(min_value=1.0, max_value=1e6, allow_nan=False)
times = st.floats(min_value=0.0, max_value=1e4, allow_nan=False)
gaps = st.lists(st.floats(min_value=1e-4, max_value=3.0, allow_nan=False), min_size=1, max_size=60)


# ---------------------------------------------------------------- rate profiles and the token bucket

@given(st.one_of(
    st.builds(Constant, rates),
    st.builds(Step, rates, rates, times),
    st.builds(Burst, rates, rates, st.floats(min_value=0.01, max_value=100), st.floats(min_value=0.01, max_value=0.99)),
    st.builds(Ramp, rates, rates, st.floats(min_value=0.01, max_value=100)),
), times)
def test_every_profile_gives_a_finite_rate_at_or_above_zero(profile, t):
    r = profile(t)
    assert math.isfinite(r) and r >= 0


@given(rates, rates, st.floats(min_value=0.01, max_value=100), times, times)
def test_a_ramp_stays_between_its_ends_and_moves_one_way(start, end, duration, t1, t2):
    ramp = Ramp(start, end, duration)
    lo, hi = min(start, end), max(start, end)
    a, b = ramp(min(t1, t2)), ramp(max(t1, t2))
    assert lo - 1e-6 <= a <= hi + 1e-6 and lo - 1e-6 <= b <= hi + 1e-6
    assert (b - a) * (end - start) >= -1e-6  # never turns back


@given(positive_rates, gaps)
def test_the_token_bucket_never_gives_more_than_the_rate_allows_nor_starves(rate, steps):
    """A producer that takes every whole token at each wake-up sends rate x elapsed, within one burst."""
    bucket = TokenBucket(Constant(rate), burst_seconds=1.0, start=0.0)
    now, sent, cap = 0.0, 0, max(1.0, rate)
    for dt in steps:
        now += dt
        available = bucket.refill(now)
        assert available <= cap + 1e-9
        n = int(available)
        bucket.take(n)
        sent += n
        assert bucket.tokens >= -1e-9
    assert sent <= rate * now + 1e-6
    # all it may fall short by: the fraction left over, and what the cap (1 s of tokens) dropped on wake-ups late
    # enough that the tokens earned plus the leftover (< 1) overflowed it
    dropped = sum(max(0.0, rate * dt + 1 - cap) for dt in steps)
    assert sent >= rate * now - dropped - 1 - 1e-6


@given(positive_rates, positive_rates, st.floats(min_value=0.0, max_value=10.0))
def test_a_rate_change_never_bursts(old, new, after):
    bucket = TokenBucket(Constant(old), start=0.0)
    bucket.refill(5.0)  # a full second of saved-up tokens
    bucket.reset(Constant(new), 5.0)
    assert bucket.tokens <= 1.0
    assert bucket.refill(5.0 + after) <= 1.0 + new * after + 1e-6


# ---------------------------------------------------------------- time lag (kafka-lag-exporter's table)

@st.composite
def tables(draw):
    """A table fed by a producer: log end offsets that never go down, at times that move forward."""
    table, offset, t = TimeLagTable(), 0, 0.0
    for _ in range(draw(st.integers(min_value=2, max_value=40))):
        offset += draw(st.integers(min_value=0, max_value=5_000))
        t += draw(st.floats(min_value=0.01, max_value=5.0))
        table.add(offset, t)
    return table, offset, t


@given(tables(), st.data())
def test_time_lag_is_never_negative_zero_at_the_head_and_falls_as_the_group_catches_up(tbl, data):
    table, head, t = tbl
    now = t + data.draw(st.floats(min_value=0.0, max_value=10.0))
    assert table.time_lag(head, head, now) == 0.0
    a = data.draw(st.integers(min_value=0, max_value=head))
    b = data.draw(st.integers(min_value=a, max_value=head))
    lag_a, lag_b = table.time_lag(a, head, now), table.time_lag(b, head, now)
    assert lag_a >= 0 and lag_b >= 0 and math.isfinite(lag_a)
    assert lag_a >= lag_b - 1e-9  # further behind (a <= b): at least as much time lag


# ---------------------------------------------------------------- the fluid model

@given(rates, rates, st.floats(min_value=0, max_value=1e7), st.lists(times, min_size=1, max_size=20))
def test_predicted_lag_is_never_negative_and_matches_the_closed_form(lam, mu, lag0, ts):
    got = model.predicted_lag(np.array(sorted(ts)), lam, mu, lag0)
    assert (got >= 0).all()
    expected = np.maximum(0.0, lag0 + (lam - mu) * np.array(sorted(ts)))
    assert np.allclose(got, expected, rtol=1e-9, atol=1e-6)


@given(rates, rates, rates, st.floats(min_value=0, max_value=1e6), times)
def test_more_arrivals_never_mean_less_lag(lam1, lam2, mu, lag0, t):
    lo, hi = sorted((lam1, lam2))
    assert model.predicted_lag(t, lo, mu, lag0) <= model.predicted_lag(t, hi, mu, lag0) + 1e-6


@given(st.floats(min_value=1, max_value=1e7), rates, rates)
def test_drain_time_is_the_lag_over_the_spare_capacity(lag, lam, mu):
    d = model.drain_time(lag, lam, mu)
    if mu <= lam:
        assert d == math.inf
    else:
        assume(math.isfinite(d))  # a spare capacity of 1e-320 msg/s: the drain takes longer than a float holds
        assert math.isclose(d * (mu - lam), lag, rel_tol=1e-9)
        assert model.predicted_lag(d, lam, mu, lag) <= 1e-6 * max(1.0, lag)


@given(st.integers(min_value=1, max_value=64), st.integers(min_value=1, max_value=64))
def test_partitions_are_spread_as_evenly_as_possible(consumers, partitions):
    shares = model.partitions_per_consumer(consumers, partitions)
    assert sum(shares) == partitions and len(shares) == min(consumers, partitions)
    assert max(shares) - min(shares) <= 1


# ---------------------------------------------------------------- Burrow's rules

@st.composite
def windows(draw):
    """A window of commits: times moving forward, offsets mostly forward, lag >= 0."""
    n = draw(st.integers(min_value=1, max_value=12))
    t, offset, out = 0.0, draw(st.integers(min_value=0, max_value=10_000)), []
    for _ in range(n):
        t += draw(st.floats(min_value=0.1, max_value=60.0))
        offset = max(0, offset + draw(st.integers(min_value=-200, max_value=2_000)))
        out.append(OffsetSample(t, offset, draw(st.integers(min_value=0, max_value=5_000))))
    return out


@given(windows(), st.floats(min_value=0, max_value=600), st.floats(min_value=-1e6, max_value=1e6))
def test_burrow_needs_no_clock_only_differences(window, after, shift):
    now = window[-1].timestamp + after
    span = window[-1].timestamp - window[0].timestamp
    assume(abs(after - span) > 1e-6)  # exactly on STOP's boundary, float rounding of the shift decides
    moved = [OffsetSample(s.timestamp + shift, s.committed_offset, s.lag) for s in window]
    assert evaluate_commits(window, now) == evaluate_commits(moved, now + shift)


@given(windows(), st.floats(min_value=0, max_value=600))
def test_no_lag_now_is_always_ok_and_allowed_lag_only_forgives(window, after):
    now = window[-1].timestamp + after
    assert evaluate_commits(window, now, current_lag=0) == Status.OK
    worst = max(s.lag for s in window)
    assert evaluate_commits(window, now, allowed_lag=worst) == Status.OK
    assert partition_status(window, now, allowed_lag=worst) == Status.OK


@given(windows(), st.floats(min_value=0, max_value=600))
@settings(max_examples=200)
def test_a_window_that_only_moves_forward_is_never_rewind(window, after):
    assume(all(b.committed_offset >= a.committed_offset for a, b in zip(window, window[1:])))
    assert evaluate_commits(window, window[-1].timestamp + after) != Status.REWIND

"""The solution to lesson 04's exercise: the arithmetic, and the hot key's cap holding on a real broker."""

from __future__ import annotations

import pytest
from _solutions import load_solution

solutions = load_solution("solutions_04")


@pytest.mark.parametrize(
    ("rate", "seconds", "hot", "expected"),
    [
        (2000, 0.005, 0.0, 11),     # 10 threads would be exactly 100 % busy
        (150, 0.005, 0.0, 1),       # one thread is 75 % busy
        (200, 0.005, 0.0, 2),       # exactly one thread's capacity is not enough
        (1000, 0.005, 0.1, 10),     # the hot key's thread: 0.1 + 0.9 / 10 of 1,000 msg/s = 190 < 200
        (1000, 0.005, 0.5, None),   # the hot key alone needs 2.5 threads' worth: key order forbids it
        (1000, 0.005, 0.2, None),   # ... exactly one thread's worth: still not strictly below 100 %
        (1000, 0.001, 0.0, 2),      # 1,000 × 1 ms = 1.0 (floats: 1000 * 0.001 must not slip below 1)
        (190, 0.005, 1.0, 1),       # every message has one key, and one thread keeps up
        (200, 0.005, 1.0, None),    # ... or cannot
        (0, 0.005, 0.5, 1),         # nothing to do
        (5000, 0.0, 0.5, 1),        # free processing
        (100_000, 0.01, 0.0, 1001),  # 1,000 threads' worth of waiting
    ],
)
def test_threads_needed(rate: float, seconds: float, hot: float, expected: int | None) -> None:
    assert solutions.threads_needed(rate, seconds, hot) == expected


@pytest.mark.parametrize("hot", [0.0, 0.01, 0.05, 0.1, 0.15, 0.19])
@pytest.mark.parametrize("rate", [100, 450, 999, 1000, 1001, 2500, 9000])
def test_answer_is_the_smallest_that_keeps_the_busiest_thread_below_capacity(rate: float, hot: float) -> None:
    s = 0.005
    k = solutions.threads_needed(rate, s, hot)
    busy = lambda n: rate * s * solutions.busiest_thread_share(n, hot)  # noqa: E731 (fraction of one thread)
    if rate * s * hot >= 1:
        assert k is None
        return
    assert k is not None and busy(k) < 1
    assert k == 1 or busy(k - 1) >= 1 - 1e-9
    assert solutions.capacity(k, s, hot) > rate


def test_more_threads_never_beat_the_hot_key() -> None:
    caps = [solutions.capacity(k, 0.005, 0.5) for k in (1, 2, 4, 16, 1024)]
    assert caps == sorted(caps) and caps[-1] < 1 / (0.005 * 0.5)  # 400 msg/s, approached, never reached


def test_nonsense_is_rejected() -> None:
    with pytest.raises(ValueError):
        solutions.threads_needed(-1, 0.005)
    with pytest.raises(ValueError):
        solutions.threads_needed(100, 0.005, hot_fraction=1.5)
    with pytest.raises(ValueError):
        solutions.busiest_thread_share(0)
    with pytest.raises(ValueError, match="no number of threads"):
        solutions.verify(1000, 0.005, 0.5)  # before any experiment starts


@pytest.mark.integration
def test_a_hot_key_caps_sixteen_threads(kafka_bootstrap: str) -> None:
    """1,000 msg/s, 5 ms of I/O each, a key in half of them: no thread count keeps up, 16 included."""
    assert solutions.threads_needed(1000, 0.005, 0.5) is None
    r = solutions.verify(1000, 0.005, 0.5, threads=16, duration=8)
    s = r.summary
    cap = solutions.capacity(16, 0.005, 0.5)  # 376 msg/s: the hot key's thread is full
    assert s.order_violations == 0 and s.lost == 0 and s.counts_exact, s
    # The other keys' messages are processed ahead while the in-flight window (200 x 16) fills with the hot key's,
    # so for the first seconds more is *processed* than the cap (measured 520-600 msg/s); but nothing can be
    # *committed* past the hot key's oldest unfinished message, and lag counts from the commits.
    committed_rate = r.timeline["committed_offset"].iloc[-1] / s.duration  # a fresh topic: from offset 0
    assert committed_rate < 1.15 * cap, (committed_rate, cap)
    assert s.final_lag > 2_000 and s.lag_slope > 300, s  # λ − μ ≥ 600 msg/s in theory


@pytest.mark.integration
def test_the_answer_with_headroom_keeps_up(kafka_bootstrap: str) -> None:
    """400 msg/s at 5 ms needs 3 threads on paper; twice that keeps lag flat even on a busy machine."""
    k = solutions.threads_needed(400, 0.005)
    assert k == 3
    r = solutions.verify(400, 0.005, 0.0, threads=2 * k, duration=8)
    s = r.summary
    assert s.order_violations == 0 and s.lost == 0, s
    assert s.final_lag < 1_500 and s.lag_slope < 100, s
    assert s.consume_rate > 0.8 * s.produce_rate, s

"""The solution to lesson 01's exercise: the arithmetic, and the answer holding on a real broker."""

from __future__ import annotations

import pytest

import kafkabp
from _solutions import load_solution

solutions = load_solution("solutions_01")


@pytest.mark.parametrize(
    ("rate", "seconds", "partitions", "expected"),
    [
        (2800, 0.001, 4, 4),     # 3 consumers: 3,000 msg/s in all, but the busiest gets 1,400 msg/s
        (2000, 0.001, 4, 4),     # 3 would leave one consumer 2 partitions = 1,000 msg/s = 100 % busy
        (1500, 0.001, 4, 2),     # 2 partitions each: 750 msg/s per consumer
        (500, 0.001, 4, 1),      # one consumer is half busy
        (999, 0.001, 1, 1),      # just below capacity
        (1000, 0.001, 1, None),  # exactly at capacity is not enough
        (5000, 0.001, 4, None),  # 1,250 msg/s per partition: more consumers cannot help
        (2000, 0.001, 8, 3),     # 250 msg/s per partition; 3 consumers own at most 3 = 750 msg/s
        (9000, 0.0001, 12, 1),   # 0.1 ms/msg: one consumer does up to 10,000 msg/s
        (0, 0.001, 4, 1),        # nothing to do
        (2000, 0.0, 4, 1),       # free processing
    ],
)
def test_consumers_needed(rate: float, seconds: float, partitions: int, expected: int | None) -> None:
    assert solutions.consumers_needed(rate, seconds, partitions) == expected


@pytest.mark.parametrize("rate", [100, 900, 1100, 1900, 2100, 2500, 3900])
def test_answer_is_the_smallest_that_keeps_every_consumer_below_capacity(rate: float) -> None:
    n = solutions.consumers_needed(rate, 0.001, 4)
    busiest_load = lambda k: solutions.busiest_share(k, 4) * rate / 4  # noqa: E731 (msg/s)
    assert busiest_load(n) < 1000
    assert n == 1 or busiest_load(n - 1) >= 1000
    assert kafkabp.service_rate(n, 4, 0.001) > rate  # the group's total capacity is then enough too


def test_consumers_needed_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        solutions.consumers_needed(-1, 0.001, 4)
    with pytest.raises(ValueError):
        solutions.consumers_needed(100, 0.001, 0)


def test_busiest_share() -> None:
    assert [solutions.busiest_share(n, 4) for n in (1, 2, 3, 4, 8)] == [4, 2, 2, 1, 1]


def test_the_exercise_numbers_defeat_the_naive_answer() -> None:
    """At 2,800 msg/s, 3 consumers have more than enough capacity in total, yet not where it is needed."""
    rate, s = 2800, 0.001
    assert kafkabp.service_rate(3, 4, s) > rate  # the naive check: 3,000 msg/s in all
    assert kafkabp.group_capacity(3, 4, s) < rate  # the busiest consumer saturates at 2,000 msg/s
    assert solutions.busiest_share(3, 4) * rate / 4 > 1.3 / s  # its share is 40 % above its capacity
    assert kafkabp.predicted_group_lag(15.0, rate, 3, 4, s) == pytest.approx(400 * 15)
    assert kafkabp.predicted_group_lag(15.0, rate, 4, 4, s) == 0


@pytest.mark.integration
def test_three_consumers_fall_behind_where_four_keep_up(kafka_bootstrap: str) -> None:
    """The exercise on the broker: 2,800 msg/s, 1 ms a message, 4 partitions; 3 consumers, then the answer (4)."""
    three = solutions.verify(rate=2800, seconds_per_message=0.001, partitions=4, duration=15, consumers=3)
    four = solutions.verify(rate=2800, seconds_per_message=0.001, partitions=4, duration=15)
    assert four.params["consumers"] == 4
    t, f = three.summary, four.summary
    for s in (t, f):
        assert s["failed"] == 0 and s["delivered"] == s["produced"], s
    # 3: the busiest consumer's two partitions grow at (1,400 - 1,000) msg/s; the model says 6,000 after 15 s.
    model = kafkabp.predicted_group_lag(t.duration, 2800, 3, 4, 0.001)
    assert t.lag_slope > 160 and t.final_lag > 0.6 * model, (t, model)
    last = three.partitions[three.partitions["t"] == three.partitions["t"].max()]
    assert last["lag"].nlargest(2).sum() >= 0.75 * last["lag"].sum(), last
    # 4: one partition each, 700 msg/s against 1,000: below a second of messages, and not growing.
    assert f.final_lag < 2800 and f.lag_slope < 150, f  # level, or draining what piled up at the start
    assert f.consume_rate > 0.9 * f.produce_rate, f
    assert t.final_lag > 3 * f.final_lag, (t, f)

"""The fluid queue model: values worked out by hand, the floor at zero, drain time, and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kafkabp.model import drain_time, growth_rate, predicted_lag, service_rate


@pytest.mark.parametrize("kwargs, expected", [
    (dict(consumers=1, partitions=4, seconds_per_message=0.01), 100.0),
    (dict(consumers=2, partitions=4, seconds_per_message=0.01), 200.0),
    (dict(consumers=4, partitions=4, seconds_per_message=0.01), 400.0),
    (dict(consumers=8, partitions=4, seconds_per_message=0.01), 400.0),  # 4 of the 8 sit idle
    # 1 ms a message plus 50 ms a batch of 50 -> 2 ms a message -> 500 msg/s per consumer
    (dict(consumers=3, partitions=6, seconds_per_message=0.001, per_batch_seconds=0.05, batch_size=50), 1500.0),
    (dict(consumers=2, partitions=2, seconds_per_message=0.0, per_batch_seconds=0.1, batch_size=10), 200.0),
])
def test_service_rate(kwargs, expected):
    assert service_rate(**kwargs) == pytest.approx(expected)


def test_service_rate_of_free_processing_is_infinite():
    assert service_rate(2, 2, 0.0) == math.inf


@pytest.mark.parametrize("kwargs, name", [
    (dict(consumers=0, partitions=4, seconds_per_message=0.01), "consumers=0"),
    (dict(consumers=1.5, partitions=4, seconds_per_message=0.01), "consumers=1.5"),
    (dict(consumers=True, partitions=4, seconds_per_message=0.01), "consumers=True"),
    (dict(consumers=1, partitions=0, seconds_per_message=0.01), "partitions=0"),
    (dict(consumers=1, partitions=4, seconds_per_message=-0.01), "seconds_per_message=-0.01"),
    (dict(consumers=1, partitions=4, seconds_per_message=math.nan), "seconds_per_message=nan"),
    (dict(consumers=1, partitions=4, seconds_per_message=0.01, per_batch_seconds=-1), "per_batch_seconds=-1"),
    (dict(consumers=1, partitions=4, seconds_per_message=0.01, batch_size=0), "batch_size=0"),
])
def test_service_rate_rejects_bad_inputs(kwargs, name):
    with pytest.raises(ValueError, match=name):
        service_rate(**kwargs)


def test_growth_rate():
    assert growth_rate(300, 200) == 100
    assert growth_rate(100, 250) == -150
    assert growth_rate(5, math.inf) == -math.inf
    with pytest.raises(ValueError, match="arrival_rate=-1"):
        growth_rate(-1, 10)


def test_predicted_lag_constant_rates():
    t = np.array([0.0, 1.0, 2.5, 5.0, 10.0])
    np.testing.assert_allclose(predicted_lag(t, 100, 200, initial_lag=500), [500, 400, 250, 0, 0])  # drains
    np.testing.assert_allclose(predicted_lag(t, 300, 200), [0, 100, 250, 500, 1000])  # grows
    np.testing.assert_allclose(predicted_lag(t, 200, 200, initial_lag=42), [42] * 5)  # holds


def test_predicted_lag_floor_and_shapes():
    assert predicted_lag(100.0, 0, 1000, initial_lag=10) == 0.0
    assert isinstance(predicted_lag(3, 100, 200, 500), float) and predicted_lag(3, 100, 200, 500) == 200.0
    grid = np.arange(6.0).reshape(2, 3)
    assert predicted_lag(grid, 300, 200).shape == (2, 3)
    assert predicted_lag([0, 1, 2], 10, math.inf, initial_lag=7).tolist() == [7.0, 0.0, 0.0]
    assert (predicted_lag(np.linspace(0, 100, 1001), 50, 80, initial_lag=900) >= 0).all()


def step_100_to_300(t: float) -> float:
    return 100.0 if t < 10 else 300.0


def test_predicted_lag_step_in_arrival_rate_matches_hand_computation():
    # mu = 200, L0 = 500: drains 100/s to 0 at t = 5, sits at 0 until t = 10, then grows 100/s.
    expected = [500, 400, 300, 200, 100, 0, 0, 0, 0, 0, 0] + [100 * k for k in range(1, 11)]
    np.testing.assert_allclose(predicted_lag(np.arange(21.0), step_100_to_300, 200, initial_lag=500), expected)


def test_predicted_lag_callable_integrates_from_zero_even_if_grid_starts_later():
    np.testing.assert_allclose(predicted_lag([5.0, 10.0, 20.0], step_100_to_300, 200, initial_lag=500),
                               [0, 0, 1000])


def test_predicted_lag_callable_constant_agrees_with_closed_form():
    t = np.linspace(0, 30, 61)
    np.testing.assert_allclose(predicted_lag(t, lambda _: 150.0, 180, initial_lag=600),
                               predicted_lag(t, 150, 180, initial_lag=600))


@pytest.mark.parametrize("args, match", [
    (([0, 2, 1], step_100_to_300, 200), "sorted ascending"),
    (([-1, 0, 1], 100, 200), "t must hold seconds >= 0"),
    (([0, 1], lambda t: -5.0, 200), r"arrival_rate\(0\)=-5"),
    (([0, 1], -5, 200), "arrival_rate=-5"),
    (([0, 1], 5, -200), "service_rate=-200"),
    (([0, 1], 5, 200, -1), "initial_lag=-1"),
])
def test_predicted_lag_rejects_bad_inputs(args, match):
    with pytest.raises(ValueError, match=match):
        predicted_lag(*args)


@pytest.mark.parametrize("lag, lam, mu, expected", [
    (1000, 100, 300, 5.0),
    (1000, 0, 100, 10.0),
    (1000, 200, 200, math.inf),  # level: never drains
    (1000, 300, 200, math.inf),  # growing
    (0, 300, 200, 0.0),
    (1000, 100, math.inf, 0.0),
])
def test_drain_time(lag, lam, mu, expected):
    assert drain_time(lag, lam, mu) == pytest.approx(expected)


@pytest.mark.parametrize("args, match", [
    ((10, -1, 5), "arrival_rate=-1"),
    ((10, 1, -5), "service_rate=-5"),
    ((10, math.nan, 5), "arrival_rate=nan"),
    ((math.nan, 1, 5), "lag=nan"),
    ((-1000, 0, 100), "lag=-1000 must be a number >= 0"),
    ((math.inf, 0, 100), "lag=inf must be finite"),
])
def test_drain_time_rejects_bad_inputs(args, match):
    with pytest.raises(ValueError, match=match):
        drain_time(*args)


def test_uneven_partitions_limit_the_group() -> None:
    from kafkabp.model import group_capacity, partitions_per_consumer, predicted_group_lag

    assert partitions_per_consumer(3, 4) == [2, 1, 1]
    assert partitions_per_consumer(8, 4) == [1, 1, 1, 1]
    assert group_capacity(4, 4, 0.001) == pytest.approx(4000)
    assert group_capacity(3, 4, 0.001) == pytest.approx(2000)  # the consumer with 2 partitions saturates first
    # 3 consumers at 1 ms on 4 partitions, 3,000 msg/s: only the 2-partition consumer falls behind, 500 msg/s
    assert predicted_group_lag(10.0, 3000, 3, 4, 0.001) == pytest.approx(5000)
    # an even split is the plain fluid model
    assert predicted_group_lag(10.0, 3000, 2, 4, 0.001) == pytest.approx(10_000)

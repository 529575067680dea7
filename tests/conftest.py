"""Shared fixtures: one real Kafka broker for the whole session (started if none is up)."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

import kafkabp


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap address of a real broker; one kafkabp started for this session is stopped after it."""
    info = kafkabp.ensure_broker_info()
    yield info.bootstrap
    if info.started and not os.environ.get("KAFKABP_KEEP_BROKER"):
        kafkabp.stop_all()
        kafkabp.stop_broker()


@pytest.fixture(scope="module")
def three_nodes(kafka_bootstrap: str) -> Iterator[str]:
    """A local cluster of three brokers for one test module (lesson 15's); the process goes back to the single
    broker after it, and the cluster stops (it holds about 1 GB)."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        pytest.skip("the local cluster runs beside kafkabp's own broker, not an external one")
    try:
        yield kafkabp.ensure_cluster(3)
    finally:
        kafkabp.ensure_broker()  # the tests after this module use the single broker
        assert kafkabp.client_config()["bootstrap.servers"] == kafka_bootstrap
        kafkabp.stop_cluster()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``after_notebooks`` run last: they read what the lessons' cells put out in this same run."""
    last = [item for item in items if item.get_closest_marker("after_notebooks")]
    if last:
        items[:] = [item for item in items if not item.get_closest_marker("after_notebooks")] + last

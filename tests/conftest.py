"""Shared fixtures: one real Kafka broker for the whole session (started if none is up)."""

from __future__ import annotations

import os

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``after_notebooks`` run last: they read what the lessons' cells put out in this same run."""
    last = [item for item in items if item.get_closest_marker("after_notebooks")]
    if last:
        items[:] = [item for item in items if not item.get_closest_marker("after_notebooks")] + last

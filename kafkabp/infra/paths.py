"""Where kafkabp keeps things: the per-user state and cache folders, the bundled resources, the start lock.

Also the few names every part of :mod:`kafkabp.infra` shares: Kafka's version, :class:`BrokerError` and
the loggers (kafkabp's own, and the one librdkafka's log lines go to).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from importlib import resources
from pathlib import Path
from typing import Iterator

KAFKA_VERSION = "4.4.0"

log = logging.getLogger("kafkabp")
rdkafka_log = logging.getLogger("kafkabp.librdkafka")  # pass as a client's "logger": librdkafka stays quiet
rdkafka_log.addHandler(logging.NullHandler())
rdkafka_log.propagate = False


class BrokerError(RuntimeError):
    """A broker could not be found or started; the message says why and how to fix it."""


def state_dir() -> Path:
    """Per-user directory for the broker's data, logs, pidfile and cached jars (not the repo)."""
    base = os.environ.get("KAFKABP_HOME") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "kafkabp"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def local_dir() -> Path:
    """The single local broker's folder: its server.properties, data and logs."""
    path = state_dir() / "local"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Per-user cache shared by every ``KAFKABP_HOME``: the formatted storage template, class-data archives.

    ``KAFKABP_CACHE`` moves it; else ``$XDG_CACHE_HOME/kafkabp`` or ``~/.cache/kafkabp``. Safe to delete.
    """
    base = os.environ.get("KAFKABP_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kafkabp")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def resource_path(name: str) -> str:
    """A copy of the bundled ``kafkabp/resources/NAME`` in the local broker's folder (a JVM reads a real file)."""
    path = local_dir() / name
    data = (resources.files("kafkabp") / "resources" / name).read_text()
    if not path.exists() or path.read_text() != data:
        path.write_text(data)
    return str(path)


@contextlib.contextmanager
def state_lock() -> Iterator[None]:
    """A cross-process lock so two kernels never start two brokers at once."""
    with open(state_dir() / "broker.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)

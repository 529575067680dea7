"""The broker this process's clients and tools talk to: :data:`TARGET`, set by ``ensure_broker`` or
``ensure_cluster``, and the saved state of the single broker kafkabp started (shared across processes)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kafkabp.infra import security
from kafkabp.infra.paths import state_dir


@dataclass
class BrokerInfo:
    """Where the broker is and how kafkabp got it."""

    bootstrap: str
    kind: str  # "external", "local", "docker" or "cluster"
    pid: int | None = None
    container: str | None = None
    version: str | None = None
    started: bool = False  # True when this call started it (False when reused)
    config: dict[str, str] = field(default_factory=dict)  # client settings besides bootstrap

    def __repr__(self) -> str:  # the client settings may hold a password: shown redacted
        fields = ", ".join(f"{k}={v!r}" for k, v in asdict(self).items() if k != "config")
        return f"BrokerInfo({fields}, config={security.redact(self.config)!r})"


class Target:
    """The current target: the broker (or cluster) that :func:`kafkabp.client_config` and Kafka's tools use.

    ``info`` is None until something chose one; :meth:`set` chooses (and lets :func:`security.redact` hide
    the target's secrets), :meth:`clear` forgets it.
    """

    def __init__(self) -> None:
        self.info: BrokerInfo | None = None

    def set(self, info: BrokerInfo) -> BrokerInfo:
        """Make ``info`` the current target and return it."""
        self.info = info
        security.use_target_secrets(info.config)
        return info

    def clear(self, kind: str | None = None) -> None:
        """Forget the current target (only if it is of ``kind``, when given)."""
        if self.info is not None and (kind is None or self.info.kind == kind):
            self.info = None
            security.use_target_secrets({})

    def security(self) -> dict[str, str]:
        """The target's client security settings (empty for kafkabp's own local or Docker broker)."""
        if self.info is not None:
            return {k: v for k, v in self.info.config.items() if k != "bootstrap.servers"}
        if security.external_requested():
            return {k: v for k, v in security.external_config().items() if k != "bootstrap.servers"}
        return {}

    def tool_bootstrap(self) -> str | None:
        """The address Kafka's tools connect to: the target's, the external cluster's, else the saved broker's."""
        if self.info is not None:
            return self.info.bootstrap
        if security.external_requested():
            return security.external_config()["bootstrap.servers"]
        info = read_state()
        return info.bootstrap if info else None


TARGET = Target()


def _state_file() -> Path:
    return state_dir() / "broker.json"


def read_state() -> BrokerInfo | None:
    """The broker kafkabp started last (from ``state_dir()/broker.json``), whether or not it still runs."""
    try:
        return BrokerInfo(**json.loads(_state_file().read_text()))
    except (OSError, ValueError, TypeError):
        return None


def write_state(info: BrokerInfo) -> None:
    """Save ``info`` as the broker kafkabp started (read again by other processes)."""
    data = asdict(info)
    data["started"] = False
    _state_file().write_text(json.dumps(data, indent=2))


def clear_state() -> None:
    """Forget the saved broker."""
    with contextlib.suppress(FileNotFoundError):
        _state_file().unlink()

"""When the broker stops answering: one error that says where and how to bring it back, and a quick check.

``kafkabp broker down`` (or a crashed JVM, or a cluster that went away) leaves a kernel's clients pointing at an
address where nothing answers. Every call that needs the broker then fails with :class:`BrokerUnavailable`
within seconds, instead of a bare ``TimeoutError`` after a minute, and a running experiment stops early
(its result says it was cut short).

:func:`listening` is the quick check: a TCP connect to each bootstrap address. A stopped local broker
refuses at once (its port sits below the ephemeral range, so a connect cannot meet itself); a broker that
is only slow, restarting or paused still accepts connections, and is given its chance.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import socket
import threading
import time
from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException

from kafkabp.infra.broker import client_config, restarts
from kafkabp.infra.paths import BrokerError

PROBE_S = 8.0  # seconds a metadata request may take before the broker counts as not answering


class BrokerUnavailable(BrokerError):
    """The broker kafkabp's clients talk to does not answer; the message says how to bring it back."""


_GONE: dict[str, float] = {}  # bootstrap address -> monotonic time it was found not answering
_LOCK = threading.Lock()


def address() -> str:
    """The bootstrap address this process's clients use now."""
    return client_config()["bootstrap.servers"]


def listening(servers: str | None = None, timeout: float = 1.0) -> bool:
    """True if something accepts TCP connections at one of the bootstrap addresses (``host:port,host:port``), or
    does not answer within ``timeout``: only a refusal (or an unreachable address) counts as nothing listening, so
    that a broker starved of CPU on a loaded laptop is never taken for a stopped one and its experiments cut short."""
    for server in (servers or address()).split(","):
        host, _, port = server.strip().rpartition(":")
        host = host.strip("[]").split("://")[-1] or "127.0.0.1"
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return True
        except TimeoutError:  # socket.timeout too: no answer in time is a busy or distant broker, not a gone one
            return True
        except (OSError, ValueError):  # refused (nothing listens), unreachable, or not an address
            continue
    return False


def fix_hint(servers: str) -> str:
    """How to bring the broker back: an external cluster is the learner's to check; kafkabp's own, to start."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return ("It is the cluster KAFKA_BOOTSTRAP_SERVERS names: check that it is up and reachable from here "
                "(network, credentials), then run the call again.")
    if "," in servers:  # kafkabp's local three-node cluster (lesson 15)
        return ("Start the local cluster again: re-run the lesson's setup cell (kafkabp.ensure_cluster(3)), "
                "then this cell.")
    return ("Start it again: run `kafkabp broker up` in a terminal and then kafkabp.ensure_broker() here, or simply "
            "re-run the lesson's setup cell (kafkabp.ensure_broker() starts a broker when none is up); then re-run "
            "this cell.")


def unavailable(detail: str = "", servers: str | None = None) -> BrokerUnavailable:
    """The error to raise: the broker at <address> is not answering (``detail``: what was seen), and the fix."""
    servers = servers or address()
    note(servers)
    seen = f" ({detail})" if detail else ""
    return BrokerUnavailable(f"the Kafka broker at {servers} is not answering{seen}. {fix_hint(servers)}")


def note(servers: str) -> None:
    """Remember that ``servers`` did not answer: the next call there checks with a quick connect first."""
    with _LOCK:
        _GONE.setdefault(servers, time.monotonic())


def clear(servers: str) -> None:
    with _LOCK:
        _GONE.pop(servers, None)


def known_gone(servers: str) -> bool:
    """True if a call or an experiment found ``servers`` not answering, and nothing answered there since."""
    with _LOCK:
        return servers in _GONE


_NO_ANSWER = (KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN, KafkaError._WAIT_COORD,
              KafkaError.REQUEST_TIMED_OUT)


def no_answer(exc: BaseException) -> bool:
    """A timeout, or an error librdkafka gives when it cannot reach the broker."""
    if isinstance(exc, (TimeoutError, concurrent.futures.TimeoutError)):
        return True
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return isinstance(err, KafkaError) and err.code() in _NO_ANSWER


def refuses(servers: str) -> bool:
    """True when a quick connect finds nothing listening at ``servers``; tried only where it is cheap and quiet:
    kafkabp's own broker (plain TCP on this machine), or an address already seen not answering. (An external
    cluster, with TLS, might log every bare connect as a failed handshake.)"""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and not known_gone(servers):
        return False
    return not listening(servers)


def stopped(servers: str | None = None) -> bool:
    """True if the broker is gone for good, as far as this process can tell: nothing listens at its address.

    (A broker that restarts on the same address, or is paused, still listens: an experiment rides that out.)
    """
    servers = servers or address()
    if listening(servers):
        return False
    note(servers)
    return True


def missed_outages(known: Sequence[tuple[float, float | None]], restarted: Sequence[tuple[float, float]],
                   gaps: Sequence[tuple[float, float]], t0: float, at_least: float = 3.0) -> list[tuple[float, float, str]]:
    """The outages of a run that started at monotonic ``t0`` beyond the ``known`` ones (seconds since ``t0``; an
    open one ends now): every broker restart in ``restarted`` (:func:`restarts`) since ``t0``, which counts even
    when no lag sample failed (a sample's request can wait out a quick restart), then every gap in the lag samples
    of ``at_least`` seconds or more. Monotonic (start, end, why) each, none overlapping another or a known one."""
    found: list[tuple[float, float, str]] = []
    candidates = [(a, b, "the broker was restarted (restart_broker)") for a, b in restarted if a >= t0]
    candidates += [(a, b, "lag samples failed (seen afterwards)") for a, b in gaps if b - a >= at_least]
    for a, b, why in candidates:  # restarts first: kill to answer is exact, a sample gap only brackets it
        taken = [(x + t0, math.inf if y is None else y + t0) for x, y in known] + [(x, y) for x, y, _ in found]
        if not any(x <= b and a <= y for x, y in taken):
            found.append((a, b, why))
    return found


__all__ = ["BrokerUnavailable", "PROBE_S", "listening", "unavailable", "stopped", "known_gone", "clear", "note",
           "no_answer", "refuses", "restarts", "missed_outages"]

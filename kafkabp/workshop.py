"""For instructors: put the course back to a clean state between sessions (``kafkabp reset``).

:func:`reset` stops every experiment, dashboard and playground of this process (a notebook kernel that calls
``kafkabp.workshop.reset()``), deletes the course's topics and consumer groups (names that start with ``kafkabp``,
which is how every experiment names its own: anything else on the cluster is left alone), removes the broker quotas
the course set on ``kafkabp…`` client ids, and optionally forgets the stored results (lesson 14) and restarts the
local broker kafkabp started with empty data. Other kernels' experiments are theirs: restart those kernels
(Kernel → Restart) before a reset, or they report a broker outage when it restarts.
"""

from __future__ import annotations

import re
import shutil
from typing import Any, Callable

from kafkabp import admin, broker

PREFIX = "kafkabp"
_QUOTA_LINE = re.compile(r"client-id '([^']+)'")


def _say(out: Callable[[str], Any], ok: bool, text: str) -> None:
    out(f"[{'OK' if ok else 'FAIL'}] {text}")


def stop_local_experiments() -> int:
    """Stop every experiment, dashboard and playground in this process; how many things were stopped."""
    from kafkabp.playground import stop_playgrounds
    from kafkabp.widgets import stop_dashboards
    from kafkabp.workload import stop_all

    stop_playgrounds()
    stop_dashboards()
    return stop_all()


def course_topics(prefix: str = PREFIX) -> list[str]:
    """The course's topics on the broker: names starting with ``prefix`` (internal topics never)."""
    meta = admin.admin_client().list_topics(timeout=10)
    return sorted(t for t in meta.topics if t.startswith(prefix) and not t.startswith("__"))


def course_groups(prefix: str = PREFIX) -> list[str]:
    """The course's consumer groups on the broker: ids starting with ``prefix``."""
    result = admin.admin_client().list_consumer_groups(request_timeout=10).result()
    return sorted(g.group_id for g in result.valid if g.group_id.startswith(prefix))


def course_quotas(prefix: str = PREFIX) -> list[str]:
    """Client ids starting with ``prefix`` that have a quota (read with Kafka's ``kafka-configs --describe``)."""
    out = broker.kafka_tool("kafka-configs", "--bootstrap-server", broker.client_config()["bootstrap.servers"],
                            "--describe", "--entity-type", "clients", timeout=60)
    return sorted({m.group(1) for m in _QUOTA_LINE.finditer(out.stdout) if m.group(1).startswith(prefix)})


def reset(*, restart: bool = False, results: bool = False, quotas: bool = True, prefix: str = PREFIX,
          out: Callable[[str], Any] = print) -> dict[str, Any]:
    """Stop this process's experiments, delete the course's topics, groups and quotas; optionally forget the stored
    results and restart the local broker with empty data. Prints one line per step; returns what it did."""
    done: dict[str, Any] = {"stopped": stop_local_experiments()}
    _say(out, True, f"stopped {done['stopped']} running client(s) in this process")
    if restart:
        info = broker.running_broker()
        if info is None or info.kind != "local":
            _say(out, False, "--restart restarts the local broker kafkabp started; "
                 + ("none is running" if info is None else f"this one is {info.kind}: left alone"))
        else:
            broker.stop_broker()
            data = broker.state_dir() / "local"
            shutil.rmtree(data, ignore_errors=True)  # its data, logs and state; the cached jars live elsewhere
            done["bootstrap"] = broker.ensure_broker()
            _say(out, True, f"restarted the local broker with empty data at {done['bootstrap']}")
    broker.ensure_broker()
    topics, groups = course_topics(prefix), course_groups(prefix)
    for g in groups:
        try:
            admin.delete_group(g)
        except Exception as exc:  # a group with live members cannot be deleted: someone else's kernel
            _say(out, False, f"group {g} not deleted ({exc}): is a kernel still running it? restart it")
    for t in topics:
        admin.delete_topic(t)
    done.update(topics=topics, groups=groups)
    _say(out, True, f"deleted {len(topics)} course topic(s) and {len(groups)} consumer group(s) named {prefix}…")
    if quotas:
        ids = course_quotas(prefix)
        for client in ids:
            admin.remove_client_quota(client)
        done["quotas"] = ids
        _say(out, True, f"removed the quotas of {len(ids)} client id(s)")
    if results:
        from kafkabp.measurements import forget

        done["results"] = forget()
        _say(out, True, f"forgot {done['results']} stored result(s) (lesson 14 starts from none)")
    return done


__all__ = ["PREFIX", "course_groups", "course_quotas", "course_topics", "reset", "stop_local_experiments"]

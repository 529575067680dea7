"""Re-running and interrupting experiments leaves nothing behind (issue 13): no thread, no client, no group
member, no course topic, and the next run works. Each kind of experiment the lessons run is re-run and
interrupted (a kernel interrupt is a KeyboardInterrupt in the main thread); KAFKABP_LEAK_REPEATS=20 repeats
each 20 times (the default, 2, keeps make test short)."""

from __future__ import annotations

import _thread
import gc
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any

import pytest

import kafkabp
from kafkabp import admin
from kafkabp.registry import REGISTRY

pytestmark = pytest.mark.integration

REPEATS = int(os.environ.get("KAFKABP_LEAK_REPEATS", "2"))

# One of each kind of experiment the lessons run: plain, scaled, parallel, flow control, a controller,
# a limited source, a backlog, KIP-848, a share group, asyncio members with thousands of tasks in flight (their event
# loops, AIOConsumer's thread pools and the tasks must all end).
KINDS: dict[str, dict[str, Any]] = {
    "01 plain": dict(rate=2_000, consumers=2, processing=kafkabp.fixed(0.001)),
    "04 parallel": dict(rate=1_000, consumers=1, producer=kafkabp.Producer(keys="uniform"),
                        group=kafkabp.Group(parallel=8), processing=kafkabp.fixed(0.005)),
    "05 KIP-848": dict(rate=1_000, consumers=2, group=kafkabp.Group(protocol="consumer")),
    "07 AIMD + demand": dict(rate=500, producer=kafkabp.Producer(demand=800, source_buffer=500), consumers=1,
                             processing=kafkabp.fixed(0.001), mitigations="aimd"),
    "03 backlog": dict(rate=200, consumers=1, producer=kafkabp.Producer(backlog=5_000)),
    "09 pause/resume": dict(rate=800, consumers=1, processing=kafkabp.fixed(0.005),
                            group=kafkabp.Group(buffer=kafkabp.Buffer(200, when_full="pause", resume_at=50))),
    "17 asyncio, a task per message": dict(rate=2_000, consumers=2, processing=kafkabp.fixed(0.01),
                                           group=kafkabp.Group(aio=kafkabp.AsyncOptions(limit=None, connections=5))),
    "12 share group": dict(rate=500, consumers=3, partitions=1, group=kafkabp.Group(protocol="share"),
                           processing=kafkabp.fixed(0.002)),
}


def _experiment(kind: str) -> kafkabp.Experiment:
    args = dict(KINDS[kind])
    if args.get("mitigations") == "aimd":
        args["mitigations"] = [kafkabp.AIMD(target_lag=500, start_rate=300)]
    return kafkabp.Experiment(**args)


def _interrupt_after(seconds: float) -> threading.Timer:
    """What the kernel's stop button does: KeyboardInterrupt in the main thread."""
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.daemon = True
    timer.start()
    return timer


def _python_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


def _stacks(threads: set[threading.Thread]) -> str:
    """Where each thread is stuck, for the failure message."""
    frames = sys._current_frames()
    return "\n".join(f"{t.name}:\n" + "".join(traceback.format_stack(frames[t.ident])) if t.ident in frames else t.name
                     for t in threads)


def _live() -> list[Any]:
    """The experiments, clients and monitors kafkabp's registry still holds, after collecting garbage (it holds its
    entries weakly; the shared admin client, a resource, stays on purpose)."""
    gc.collect()
    return [x for kind in ("experiment", "client", "monitor") for x in REGISTRY.live(kind)]


def _live_clients() -> set[int]:
    return {id(x) for x in _live()}


def _assert_nothing_left(exp: kafkabp.Experiment, baseline: set[threading.Thread], live_before: set[int]) -> None:
    deadline = time.monotonic() + 20
    while (_python_threads() - baseline) and time.monotonic() < deadline:
        time.sleep(0.1)
    left_threads = _python_threads() - baseline
    assert not left_threads, f"threads left behind: {_stacks(left_threads)}"
    left = [x for x in _live() if id(x) not in live_before]
    assert not left, f"clients still registered: {left}"
    topics = admin.admin_client().list_topics(timeout=10).topics
    assert exp.topic not in topics, f"topic {exp.topic} left behind"
    if exp.params["protocol"] != "share":  # a member's LeaveGroup may take a moment on a loaded machine
        assert kafkabp.wait_for(lambda: admin.describe_group(exp.group).empty, timeout=10, interval=0.5), \
            f"group {exp.group} still has members: {admin.describe_group(exp.group)}"


@pytest.mark.parametrize("kind", list(KINDS))
def test_rerun_and_interrupt_leave_nothing_behind(kind: str, kafka_bootstrap: str) -> None:
    baseline, live_before = _python_threads(), _live_clients()  # what earlier tests left is theirs
    # A kernel's stop button raises KeyboardInterrupt; an earlier test's library may have replaced the handler
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _rerun_and_interrupt(kind, baseline, live_before)
    finally:
        signal.signal(signal.SIGINT, previous)


def _rerun_and_interrupt(kind: str, baseline: set[threading.Thread], live_before: set[int]) -> None:
    for i in range(REPEATS):
        exp = _experiment(kind)  # re-run: a fresh experiment, as re-running the cell makes
        r = exp.run(2.0, progress=False)
        assert r.summary["produced"] > 0 and r.summary["lost"] in (0, None), (kind, i, r.summary)
        _assert_nothing_left(exp, baseline, live_before)

        exp = _experiment(kind)  # interrupt: the stop button, somewhere in the run
        timer = _interrupt_after(0.5 + 1.5 * (i % 3) / 2)
        with pytest.raises(KeyboardInterrupt):
            try:
                exp.run(30.0, progress=False)
            finally:
                timer.cancel()
        assert exp._stopped, (kind, i)
        _assert_nothing_left(exp, baseline, live_before)
    # and the next run works: a share group's and a KIP-848 group's members get their partitions from the broker in
    # heartbeats, which took over 2 s on a loaded CI machine (a share group once; a KIP-848 group, both members idle,
    # in a clean run), so their last run lasts 6 s
    heartbeats = KINDS[kind].get("group", kafkabp.Group()).protocol in ("share", "consumer")
    r = _experiment(kind).run(6.0 if heartbeats else 2.0, progress=False)
    assert r.summary["consumed"] > 0 or kind == "03 backlog", r.summary

"""What every kind of consumer group shares: members in threads, scaling live, counts, latencies, stopping.

:class:`~kafkabp.workload.consumer.ConsumerGroup` (classic and KIP-848 groups) and
:class:`~kafkabp.workload.share.ShareGroup` (KIP-932) differ in how a member reads and acknowledges; how
members are started, scaled, counted and stopped is written once, here.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import warnings
from array import array
from typing import Any, Callable

import numpy as np
import pandas as pd

from kafkabp.registry import REGISTRY
from kafkabp.workload.base import EventLog
from kafkabp.workload.processing import Processing

MAX_CONSUMERS = 64  # each member is a thread with its own Kafka client; a 2-core laptop runs dozens, not thousands
LATENCY_CAP = 10_000  # an evenly spaced sample of 5,000-10,000: enough for p99, cheap per record
# A member's (time, processed) record, one point per batch: at most this many (1.6 MB), then thinned (issue 25: a
# playground left running at 600 msg/s of 1-message batches notes 2 million an hour; with a cap of 500,000 the record
# alone grew 8 MB a member over the first 15 minutes, most of the soak's 22 MB/h). Past it the record halves.
DONE_CAP = 100_000
DONE_GAP_S = 0.05  # thinning keeps both ends of every pause longer than this (longest_stop, rebalance pauses)


def check_count(n: Any) -> None:
    """A member count a group can run, or one clear error."""
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_CONSUMERS:
        raise ValueError(f"consumers must be a whole number from 0 to {MAX_CONSUMERS} (each is a thread with its own "
                         f"Kafka client; members beyond the partition count sit idle anyway), got {n!r}")


def join(thread: threading.Thread, timeout: float) -> None:
    """``thread.join(timeout)``, also for a thread whose ``start()`` an interrupt cut short: one that never ran
    has nothing to wait for (its member's stop event is set, so it ends at once if it does run)."""
    try:
        thread.join(timeout)
    except RuntimeError:  # "cannot join thread before it is started"
        pass


def thin_record(times: array, counts: array) -> tuple[array, array]:
    """Every other point of a (time, processed) record, keeping the last one and both ends of every pause longer
    than DONE_GAP_S: the counts' curve and its stops stay, at half the points where it runs steadily."""
    t, n = np.frombuffer(times, dtype=float), np.frombuffer(counts, dtype=np.int64)
    keep = np.zeros(len(t), dtype=bool)
    keep[::2] = keep[-1:] = True
    gap = np.diff(t) > DONE_GAP_S
    keep[1:] |= gap
    keep[:-1] |= gap
    return array("d", t[keep].tobytes()), array("q", n[keep].tobytes())


class Member:
    """One member in its own thread: the bookkeeping every kind shares; a subclass writes :meth:`_loop` and
    :meth:`_close` (how it reads, processes and acknowledges, and how it leaves)."""

    suffix = "m"  # member names are <group>-<suffix><index>

    def __init__(self, group: Any, index: int) -> None:
        self.group, self.index = group, index
        self.slot = index  # its place in the group (the group sets it): a restarted member takes its slot over
        self.name = f"{group.group}-{self.suffix}{index}"
        self.stop_event = threading.Event()
        self.consumed = 0  # messages processed (and, in a share group, accepted)
        self.owned: set[tuple[str, int]] = set()
        self.error: BaseException | None = None
        self.rng = random.Random(index)
        self.done_t, self.done_n = array("d"), array("q")  # when it had processed how many (per batch)
        self.cpu_seconds = 0.0  # this member thread's CPU time (librdkafka's own threads not included)
        self.pool_cpu_seconds = 0.0  # its processing pool's threads' CPU time, if it has a pool
        self.stats: dict[str, Any] | None = None  # librdkafka's last statistics, when asked for
        self.peak_buffered = 0  # the most messages it held at once
        self.thread = threading.Thread(target=self.run, name=f"kafkabp-{self.name}", daemon=True)

    def _done(self, n: int) -> None:
        """Count ``n`` more processed messages, with the time (for throughput and rebalance pauses)."""
        self.consumed += n
        self.done_t.append(time.monotonic())
        self.done_n.append(self.consumed)
        if len(self.done_t) >= DONE_CAP:
            self.done_t, self.done_n = thin_record(self.done_t, self.done_n)

    def run(self) -> None:
        """What the member's thread runs (or, for a measurement, the calling thread): join, loop until stopped, and
        leave, recording an error rather than losing it."""
        cpu0 = time.thread_time()
        self.group.events.add("joined", self.name, "")
        try:
            self._loop()
        except BaseException as exc:
            self.error = exc
            self.group.events.add("error", self.name, repr(exc)[:200])
        finally:
            self._close()
            self.cpu_seconds = time.thread_time() - cpu0

    def _loop(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    @property
    def instance_id(self) -> str | None:
        """With static membership (KIP-345), the stable ``group.instance.id`` of its slot, ``<group>-<slot>``: the
        member that replaces it in a restart has the same one. None without."""
        return f"{self.group.group}-{self.slot}" if getattr(self.group, "static", False) else None

    def _sleep_until(self, deadline: float) -> bool:
        """Sleep until ``deadline`` in short steps; False if asked to stop meanwhile."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            if self.stop_event.wait(min(left, 0.1)):
                return False


class MemberGroup:
    """Members in threads: ``start``, ``scale(n)`` live, exact counts, a processed timeline, ``stop``.

    A subclass sets ``member_type`` (a :class:`Member` subclass, called as ``member_type(group, index)``) and may
    do something before the first member starts (:meth:`_before_start`).
    """

    member_type: Callable[[Any, int], Any]
    join_timeout = 10.0  # seconds a leaving member may take to hand over its partitions or records
    processing: Processing
    events: EventLog

    def _init_members(self, consumers: int) -> None:
        check_count(consumers)
        self.initial = consumers
        self.workers: list[Any] = []
        self._retired: list[Any] = []
        self._ids = itertools.count()
        self._latency = array("d")
        self._latency_at = array("d")  # when each sampled message was processed (time.time())
        self._latency_seen = 0
        self._lat_stride = 1
        self._lat_lock = threading.Lock()
        self._started = False
        self.abandoned = False  # the broker is gone: members leave without committing (see abandon())
        self._members_lock = threading.RLock()  # scale() and a restart change the members one at a time
        self._rolling: threading.Thread | None = None
        self._stop_rolling = threading.Event()
        self._stopped = False  # after stop(), scale() starts no member (a mitigation may still ask from its thread)

    def _before_start(self) -> None:
        """Run once before the first member starts (a share group sets its group config here)."""

    def start(self) -> "MemberGroup":
        if self._started:
            raise RuntimeError("this group was already started; use scale(n) to change its size")
        self._started = True
        self._before_start()
        REGISTRY.add(self, "client")
        self.scale(self.initial)
        return self

    def scale(self, n: int) -> None:
        """Grow or shrink to ``n`` members; leaving members hand over their work and leave the group."""
        check_count(n)
        with self._members_lock:
            if self._stopped:  # an autoscaler's last sample can land after the experiment stopped the group
                return
            before = len(self.workers)
            if before != n:  # logged first: the new members' "joined" events come after it
                self.events.add("scale", "", f"{before} -> {n}")
            while len(self.workers) < n:
                self._start_member(len(self.workers))
            leaving = self.workers[n:]
            del self.workers[n:]
            for w in leaving:
                w.stop_event.set()
            for w in leaving:
                join(w.thread, self.join_timeout)
            self._retired.extend(leaving)

    def _start_member(self, slot: int) -> None:
        """A new member in ``slot`` (its place in :attr:`workers`), put there before its thread starts: a kernel
        interrupt inside ``Thread.start()`` (which waits for the new thread) leaves a running member that stop()
        still finds and ends, never one nothing knows of (test_no_leaks caught one polling on after its run)."""
        w = self.member_type(self, next(self._ids))
        w.slot = slot
        if slot < len(self.workers):
            self.workers[slot] = w
        else:
            self.workers.append(w)
        w.thread.start()

    def restart(self, slot: int, downtime: float = 1.0) -> None:
        """Restart the member in ``slot`` as a deploy restarts a process: it stops (commits what it processed and
        closes its client), ``downtime`` s pass, and a new member starts in its place (with static membership,
        the same ``group.instance.id``). Blocks until the new member has started; see :meth:`rolling_restart`.

        A closing member leaves the group (LeaveGroup), so the group rebalances without it, and again when its
        replacement joins (in a rolling restart that join and the next member's leave often share one). A static member's close sends no LeaveGroup (KIP-345; librdkafka's
        ``rd_kafka_cgrp_leave_maybe``): the broker keeps its partitions for it until ``session.timeout.ms`` passes,
        unowned meanwhile, and hands them to the member that rejoins with its instance id, without a rebalance."""
        if isinstance(downtime, bool) or not isinstance(downtime, (int, float)) or not 0 <= downtime < 3600:
            raise ValueError(f"downtime must be a number of seconds from 0 to 3600 (e.g. 1.0), got {downtime!r}")
        with self._members_lock:
            if not isinstance(slot, int) or not 0 <= slot < len(self.workers):
                raise ValueError(f"slot must be a member's place from 0 to {len(self.workers) - 1}, got {slot!r}")
            old = self.workers[slot]
            self.events.add("restart", old.name, f"slot {slot}, down {downtime:g} s")
            old.stop_event.set()
            join(old.thread, self.join_timeout)
        if self._stop_rolling.wait(downtime) or not self._started:
            return  # the group is stopping: stop() ends the old member, no new one starts
        with self._members_lock:
            if self.workers[slot:slot + 1] == [old]:
                self._retired.append(old)
                self._start_member(slot)

    def rolling_restart(self, every: float = 2.0, downtime: float = 1.0) -> None:
        """Restart every member in turn, slot 0 first, one every ``every`` s (:meth:`restart`), as a rolling deploy
        does; runs in a thread and returns at once. Events: ``restart`` per member, ``rolled`` when done."""
        if isinstance(every, bool) or not isinstance(every, (int, float)) or not 0 <= every < 3600:
            raise ValueError(f"every must be a number of seconds from 0 to 3600 (e.g. 2.0), got {every!r}")
        if self._rolling is not None and self._rolling.is_alive():
            raise RuntimeError("a rolling restart is already running in this group: wait for its 'rolled' event")
        slots = len(self.workers)

        def roll() -> None:
            start = time.monotonic()
            for slot in range(slots):
                if self._stop_rolling.wait(max(0.0, start + slot * every - time.monotonic())):
                    return
                if slot < len(self.workers):
                    self.restart(slot, downtime)
            self.events.add("rolled", "", f"{slots} members restarted")

        self._rolling = threading.Thread(target=roll, name=f"kafkabp-{getattr(self, 'group', 'group')}-rolling",
                                         daemon=True)
        self._rolling.start()

    @property
    def size(self) -> int:
        return len(self.workers)

    def set_processing(self, processing: Processing) -> None:
        """Change the processing model live (members pick it up at their next message)."""
        self.processing = processing
        self.events.add("note", "", f"processing -> {processing}")

    @property
    def consumed(self) -> int:
        """Messages processed, by every member the group ever had."""
        return sum(w.consumed for w in self.members)

    @property
    def members(self) -> list[Any]:
        """Every member this group ever had, live and retired."""
        return self.workers + self._retired

    @property
    def peak_buffered(self) -> int:
        """The most messages one member held fetched and not yet processed, at once."""
        return max((w.peak_buffered for w in self.members), default=0)

    def processed_frame(self, t0: float) -> pd.DataFrame:
        """Per member, when it had processed how many messages (seconds since ``t0``)."""
        frames = [pd.DataFrame({"t": np.frombuffer(w.done_t, dtype=float) - t0, "member": w.name,
                                "processed": np.frombuffer(w.done_n, dtype=np.int64)})
                  for w in self.members if len(w.done_t)]
        frames = [pd.DataFrame({"t": [0.0], "member": w.name, "processed": [0]}) for w in self.members] + frames
        if not frames:
            return pd.DataFrame({"t": pd.Series(dtype=float), "member": pd.Series(dtype=str),
                                 "processed": pd.Series(dtype=np.int64)})
        return pd.concat(frames, ignore_index=True).sort_values(["member", "t"], kind="stable").reset_index(drop=True)

    @property
    def cpu_seconds(self) -> float:
        """CPU time of the member threads that have ended (Python's side of consuming), with their pools'."""
        return sum(w.cpu_seconds + w.pool_cpu_seconds for w in self.members)

    def _record_latencies(self, msgs: list[Any], processed_at: float | list[float]) -> None:
        """Keep end-to-end latencies (processed minus produced) as an evenly spaced sample of every message.

        Every ``stride``-th message is kept; when the sample reaches its cap, every other one is dropped and
        the stride doubles, so memory stays bounded and the cost per message stays small.
        """
        with self._lat_lock:
            start = (-self._latency_seen) % self._lat_stride
            self._latency_seen += len(msgs)
            for i in range(start, len(msgs), self._lat_stride):
                ts_type, ts = msgs[i].timestamp()
                if ts_type and ts > 0:
                    done = processed_at if isinstance(processed_at, float) else processed_at[i]
                    self._latency.append(done - ts / 1000.0)
                    self._latency_at.append(done)
            if len(self._latency) >= LATENCY_CAP:
                self._latency = array("d", self._latency[::2])
                self._latency_at = array("d", self._latency_at[::2])
                self._lat_stride *= 2

    def latencies(self) -> list[float]:
        return self.latency_samples()[0]

    def latency_samples(self) -> tuple[list[float], list[float]]:
        """The sampled latencies (s) and when each message was processed (``time.time()``), in step."""
        with self._lat_lock:
            return list(self._latency), list(self._latency_at)

    def errors(self) -> list[BaseException]:
        return [w.error for w in self.members if w.error is not None]

    def abandon(self) -> None:
        """The broker is gone: every member stops now, without the commits it would wait seconds on in vain
        (what it processed since its last commit will be read again if the broker comes back: at-least-once).
        Call :meth:`stop` afterwards to wait for the threads."""
        self.abandoned = True
        self._stop_rolling.set()  # and a rolling restart starts no member against a broker that is gone
        for w in list(self.workers):
            w.stop_event.set()

    def stop(self, timeout: float = 15.0) -> None:
        """Every member hands over and leaves the group; every thread ends."""
        self._stop_rolling.set()  # a rolling restart ends first: it starts no member after this
        deadline = time.monotonic() + timeout
        if self._rolling is not None:
            self._rolling.join(max(0.1, deadline - time.monotonic()))
        with self._members_lock:  # a scale() in another thread finishes first, and none starts a member after this
            self._stopped = True
            workers = list(self.workers)
        for w in workers:
            w.stop_event.set()
        # and the members scale() let go of that were still leaving after join_timeout (a busy machine): they end too
        for w in workers + [w for w in self._retired if w.thread.is_alive()]:
            join(w.thread, max(0.1, deadline - time.monotonic()))
        for w in workers:  # never silent: a member whose client will not close (a librdkafka hang) is named
            if w.thread.is_alive():
                why = f"has not ended {timeout:g} s after stop(): its client's close() has not returned"
                self.events.add("stuck", w.name, why)
                warnings.warn(f"{w.name} {why}", RuntimeWarning, stacklevel=2)
        self._retired.extend(workers)
        self.workers = []
        REGISTRY.release(self)

    def __enter__(self) -> Any:
        return self.start() if not self._started else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

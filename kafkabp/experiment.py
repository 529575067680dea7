"""Run a backpressure scenario on the real broker and collect tidy DataFrames of what happened.

``run_experiment(20, rate=2000, consumers=2, processing=fixed(0.001))`` creates a fresh topic and group, starts
a producer, a consumer group and a lag monitor, waits (showing progress), stops everything (also on error and on a
kernel interrupt) and returns a :class:`Result`. Everything beyond the six everyday knobs comes as a spec
(:mod:`kafkabp.specs`): ``producer=Producer(message_size=1_000)``, ``group=Group(protocol="consumer")``,
``topic=Topic(config={"retention.ms": 60_000})``, ``observe=Observe(sample_interval=0.25)``.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from kafkabp import admin, history, outage
from kafkabp.analysis import summarize
from kafkabp.arenas import release_free_memory
from kafkabp.lag import LagMonitor
from kafkabp.ledger import Ledger, scan_unread
from kafkabp.mitigations import Mitigation, PartitionLag, Sample
from kafkabp.model import predicted_group_lag, predicted_lag
from kafkabp.progress import Progress, rss_bytes
from kafkabp.registry import REGISTRY
from kafkabp.result import EVENT_COLUMNS, Result, Summary, owned_at, step_at
from kafkabp.specs import Group, Observe, Producer, Topic, check_duration, check_experiment
from kafkabp.workload import ConsumerGroup, EventLog, Processing, Rate, RateProducer, as_profile
from kafkabp.workload.aio import AsyncGroup
from kafkabp.workload.retrying import RetryGroup
from kafkabp.workload.share import ShareGroup

Action = Callable[["Experiment"], Any]


class Experiment:
    """A producer, a consumer group and a lag monitor on one topic; start, steer, stop, read.

    ``rate`` (msg/s, a profile, or None: full speed), ``consumers``, ``processing``, ``partitions``, ``label`` and
    ``mitigations`` are the everyday knobs; the rest are :mod:`kafkabp.specs`: ``producer=Producer(...)``,
    ``group=Group(...)`` (its ``name`` is the group id), ``topic=Topic(...)``, ``observe=Observe(...)``.
    Use as a context manager (or call :meth:`run`) so every client and thread stops on success,
    on error and on KeyboardInterrupt. Steer it while it runs with :meth:`set_rate`,
    :meth:`scale` and :meth:`set_processing` (sliders and controllers do).
    """

    def __init__(self, *, rate: Rate = 1000.0, consumers: int = 1, processing: Processing | None = None,
                 partitions: int = 4, label: str | None = None, mitigations: Sequence[Mitigation] = (),
                 producer: Producer = Producer(), group: Group = Group(), topic: Topic = Topic(),
                 observe: Observe = Observe()) -> None:
        # Every argument is checked before anything reaches the broker: a typo never leaves a client behind.
        as_profile(rate)
        check_experiment(partitions=partitions, label=label, processing=processing, mitigations=mitigations,
                         specs={"producer": (producer, Producer), "group": (group, Group), "topic": (topic, Topic),
                                "observe": (observe, Observe)})
        p, g, o = producer, group, observe
        self.processing = processing or Processing()
        self.params: dict[str, Any] = {
            "rate": rate, "consumers": consumers, "partitions": partitions, "processing": str(self.processing),
            "message_size": p.message_size, "keys": p.keys, "batch_size": g.batch_size, "protocol": g.protocol,
            "backlog": p.backlog, "parallel": g.parallel, "buffer": str(g.buffer) if g.buffer is not None else None,
            "static": g.static, "aio": str(g.aio) if g.aio is not None else None,
            "retries": str(g.retries) if g.retries is not None else None,
        }
        self.label = label or f"{consumers} consumer{'s' * (consumers != 1)}, {self.processing}"
        self.topic = topic.name or admin.unique_name("kafkabp")
        self.group = g.name or admin.unique_name("kafkabp-group")
        self.keep = topic.keep if topic.keep is not None else bool(topic.name or g.name)
        self._producer_spec, self._partitions, self._topic_config = p, partitions, dict(topic.config)
        self.events = EventLog()
        self.ledger = Ledger()  # exact produced/processed/lost/duplicate counts from sequence numbers
        share = g.protocol == "share"
        group_type: Any = ShareGroup.with_options(g.share) if share else ConsumerGroup  # KIP-932
        if g.aio is not None:  # asyncio members (lesson 17)
            group_type = AsyncGroup.with_options(g.aio)
        elif g.retries is not None:  # lesson 16: a handler that may fail, retried in place or through retry topics
            group_type = RetryGroup.with_retries(g.retries)
        self.consumer_group = group_type(self.topic, self.group, consumers, self.processing, batch_size=g.batch_size,
                                         protocol=g.protocol, config=dict(g.config), events=self.events,
                                         commit_while_busy=g.commit_while_busy, ledger=self.ledger,
                                         stats_interval_ms=o.stats_interval_ms, parallel=g.parallel, buffer=g.buffer,
                                         **({"static": True} if g.static else {}))
        self.backlog = p.backlog  # written at full speed before the group starts: a queue to drain
        self._final_assignment: dict[str, list[int]] = {}
        self.mitigations = list(mitigations)
        self.monitor = LagMonitor(self.group, self.topic, o.sample_interval, t0=self.events.t0, window=o.status_window,
                                  positions=self.consumer_group.positions if share else None)
        self.monitor.listeners.append(self._on_sample)
        # Last: the producer is the one part that reaches the broker when it is made (and starts one if needed).
        self.producer = RateProducer(self.topic, rate, message_size=p.message_size, keys=p.keys,
                                     hot_fraction=p.hot_fraction, key_count=p.key_count, config=dict(p.config),
                                     stats_interval_ms=o.stats_interval_ms, events=self.events,
                                     name=f"{self.group}-producer", ledger=self.ledger, payloads=p.payloads,
                                     demand=p.demand, source_buffer=p.source_buffer, on_buffer_full=p.on_buffer_full)
        self._live_status: str | None = None
        self._outage_start: float | None = None  # monotonic time the broker stopped answering
        self.outages: list[tuple[float, float | None]] = []  # (from, to) seconds since start; to None: still down
        self._targets: list[tuple[float, float]] = []
        # (t, messages and MB in the members' buffers, MB librdkafka prefetched (with statistics), process RSS MB)
        self._gauges: list[tuple[float, int, float, float, float]] = []
        self._started = self._stopped = False
        self._result: Result | None = None
        self.cut_short: str | None = None  # why it stopped early: the broker went away for good
        self._running = False
        self._gone_checked = 0.0

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> "Experiment":
        if self._started:
            return self
        self._started = True
        REGISTRY.add(self, "experiment")
        try:
            admin.create_topic(self.topic, self._partitions, config=self._topic_config)
            if self.backlog:
                self._write_backlog()
            self.events.t0 = self.monitor.t0 = time.monotonic()
            for m in self.mitigations:
                m.on_start(self)
            self.monitor.start()
            self.consumer_group.start()
            self.producer.start()
            self._running = True  # every part started: stop() takes a last lag sample
        except BaseException:
            self.stop()
            raise
        return self

    def wait(self, seconds: float, *, progress: bool = True, actions: Sequence[tuple[float, Action]] = (),
             _bar: Progress | None = None) -> None:
        """Let the experiment run ``seconds`` more, doing each ``(at_seconds, action)`` on time.

        The progress line shows every experiment running in this process (they all run while one waits).
        """
        check_duration(seconds, "seconds")
        bar = _bar or Progress(progress)
        pending = sorted(actions, key=lambda a: a[0])
        end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            elapsed = now - self.events.t0
            while pending and pending[0][0] <= elapsed:
                pending.pop(0)[1](self)
            running = _running()
            for exp in running:
                exp.record(now)
            if self.cut_short or (any(e._outage_start is not None for e in running) and self._broker_gone(running)):
                break  # nothing to wait for: every running experiment is stopping; the result says cut short
            if self.monitor.listener_error is not None:
                raise RuntimeError(f"a mitigation failed: {self.monitor.listener_error!r}") from self.monitor.listener_error
            for err in self.consumer_group.errors() + ([self.producer.error] if self.producer.error else []):
                raise RuntimeError(f"a client of this experiment failed: {err!r}") from err
            bar.update(lambda: _progress_text(_running() or [self]))
            if now >= end:
                break
            time.sleep(min(0.1, end - now))
        if _bar is None:
            bar.update(lambda: _progress_text(_running() or [self]) + "  (still running: stop() or the with-block ends it)",
                       force=True)

    def _on_sample(self, rows: pd.DataFrame) -> None:
        """After each lag sample (monitor thread): the buffers and memory noted; the totals handed to every mitigation."""
        if len(rows):
            g = self.consumer_group
            self._gauges.append((float(rows["t"].iloc[0]), g.buffered, g.buffered_bytes / 1e6,
                                 g.prefetched_bytes() / 1e6, rss_bytes() / 1e6))
        if not self.mitigations:
            return
        tl = self.monitor.timeline()
        if tl.empty:
            return
        last = tl.iloc[-1]
        parts = tuple(PartitionLag(int(r.partition), int(r.log_end_offset),
                                   int(r.committed_offset) if r.has_commit else None, int(r.lag), float(r.time_lag))
                      for r in rows.itertuples(index=False))
        sample = Sample(float(last["t"]), int(last["lag"]), float(last["time_lag"]),
                        float(last["produce_rate"]), float(last["consume_rate"]),
                        float(self.producer.target_rate), self.consumer_group.size, parts)
        for m in self.mitigations:
            m.on_sample(self, sample)

    def _write_backlog(self) -> None:
        """Write ``backlog`` messages at full speed and wait until the broker acknowledged them all."""
        p = self._producer_spec
        conf = p.backlog_config()
        first = RateProducer(self.topic, None, max_messages=self.backlog, message_size=p.message_size,
                             keys=p.keys, hot_fraction=p.hot_fraction, key_count=p.key_count,
                             events=self.events, name=f"{self.group}-backlog",
                             ledger=self.ledger, payloads=self.producer.payloads, config=conf)
        first.start()
        done = first.wait(max(30.0, self.backlog / 20_000))
        first.stop()
        if not done or first.delivered != self.backlog:
            raise RuntimeError(f"the backlog was not written: {first.counts()}")

    def record(self, now: float | None = None) -> None:
        """Note what the experiment's parts show now: the producer's target rate (the timeline's ``target_rate``, noted
        at the monotonic time ``now``), and a broker outage starting or ending (an event on the timeline, a warning
        when it starts).

        :meth:`wait` does it every 0.1 s; a live view that steers the experiment without waiting on it (a
        dashboard, the playground) does it at each refresh. The queries (:meth:`broker_problem`,
        :meth:`timeline`) only read what was noted.
        """
        at = time.monotonic() if now is None else now
        history.note_step(self._targets, at - self.events.t0, self.producer.target_rate)  # a flat run: 2 points
        self._note_outage(time.monotonic())

    def broker_problem(self) -> str | None:
        """While the broker does not answer, as last noted (:meth:`record`): a warning saying since when; else None.

        Signs: the lag monitor's samples fail, or librdkafka reports all brokers down to the producer.
        An outage ends at the next good sample; :attr:`outages` and the result's summary keep them all.
        """
        if self._outage_start is None:
            return None
        return f"⚠ broker unreachable since t = {self._outage_start - self.events.t0:.1f} s"

    def _note_outage(self, now: float) -> None:
        """An outage starts (marked on the timeline, with a warning) or ends, as the monitor and producer show."""
        mon = self.monitor
        down_at = mon.failing_since
        gone = self.producer.all_brokers_down_at
        if gone is not None and (mon.last_ok is None or gone > mon.last_ok):
            down_at = gone if down_at is None else min(down_at, gone)
        if down_at is not None and self._outage_start is None and (now - down_at >= 3.0 or down_at == gone):
            self._outage_start = down_at
            self.outages.append((down_at - self.events.t0, None))
            self.events.add("broker_unreachable", "", mon.last_error or "all brokers down", at=down_at)
            warnings.warn(f"{self.label}: the broker stopped answering at t = {down_at - self.events.t0:.1f} s "
                          f"({mon.last_error or 'all brokers down'}); produced messages wait in the client's "
                          "queue and fail after message.timeout.ms", RuntimeWarning, stacklevel=4)
        elif down_at is None and self._outage_start is not None and mon.last_ok is not None:
            self.outages[-1] = (self.outages[-1][0], mon.last_ok - self.events.t0)
            self.events.add("broker_reachable", "", "", at=mon.last_ok)
            self._outage_start = None

    def _broker_gone(self, running: Sequence["Experiment"]) -> bool:
        """During an outage, once a second: has the broker gone for good (nothing listens at its address)? Then
        every running experiment stops now, in parallel, and its result says it was cut short. A broker that
        restarts on its address, or is only slow or paused, still listens: the experiment rides that out."""
        if time.monotonic() - self._gone_checked < 1.0:
            return False
        self._gone_checked = time.monotonic()
        if not outage.stopped():
            return False
        servers = outage.address()
        for e in running:
            at = (e._outage_start or time.monotonic()) - e.events.t0
            e._abandon(f"the broker at {servers} stopped answering at t = {at:.1f} s and is gone")
        warnings.warn(f"{', '.join(e.label for e in running)}: stopped early, the broker at {servers} is gone "
                      f"(nothing accepts connections there). Results so far are kept and marked cut short "
                      f"(result.cut_short). {outage.fix_hint(servers)}", RuntimeWarning, stacklevel=4)
        return True

    def _abandon(self, reason: str) -> None:
        """Stop producing, consuming and sampling now, without waiting on a broker that is gone."""
        if self.cut_short is None:
            self.cut_short = reason
            self.events.add("cut_short", "", reason)
        self.producer.abandon()
        self.consumer_group.abandon()
        self.monitor.stop_sampling()

    def _add_missed_outages(self) -> None:
        """Outages the progress loop did not see (it was busy, e.g. in an action that restarted the broker), each
        marked on the timeline: see :func:`kafkabp.outage.missed_outages`."""
        t0 = self.events.t0
        for start, end, why in outage.missed_outages(self.outages, outage.restarts(), self.monitor.gaps, t0):
            self.outages.append((start - t0, end - t0))
            self.events.add("broker_unreachable", "", why, at=start)
            self.events.add("broker_reachable", "", "", at=end)
        self.outages.sort()

    def run(self, duration: float, *, progress: bool = True, actions: Sequence[tuple[float, Action]] = ()) -> Result:
        """Start, run ``duration`` seconds, stop; always cleans up. Returns the :class:`Result`."""
        bar = Progress(progress)
        try:
            self.start()
            self.wait(duration, progress=progress, actions=actions, _bar=bar)
        finally:
            self.stop()
        s = self.result().summary
        bar.update(lambda: f"{self.label}: done after {s.duration:.1f} s · {s.produced:,} produced · "
                   f"{s.consumed:,} consumed · final lag {s.final_lag:,}"
                   + (f" · ⚠ broker unreachable {s.broker_unreachable_s:.1f} s" if s.broker_outages else "")
                   + (" · ⚠ cut short: the broker is gone" if self.cut_short else ""),
                   force=True)
        return self.result()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop producer, group and monitor (in that order, with one last lag sample)."""
        if self._stopped:
            return
        self._stopped = True
        if self._started:  # judge the group while it still runs, not after it has left
            try:
                self._live_status = self.monitor.status().value
            except Exception:
                self._live_status = None
        if self._started:
            self._note_outage(time.monotonic())
        if self._started and self.broker_problem():  # no broker to deliver to: fail the queue sooner
            self.producer.drain_timeout = min(self.producer.drain_timeout, 2.0)
            if self.cut_short is None and outage.stopped():  # gone for good: nothing to wait for
                self._abandon(f"the broker at {outage.address()} stopped answering and is gone")
        self.producer.stop(timeout)
        self._final_assignment = self.consumer_group.assignment()
        self.consumer_group.stop(timeout)
        final_at = time.monotonic()
        # the final offsets, after the group left (not when the start failed, nor from a broker that is gone)
        self.monitor.stop(timeout, final_sample=self._running and self.cut_short is None)
        if self._started and self.monitor.last_ok is not None and self.monitor.last_ok >= final_at:
            self._scan_unread()
        if self.outages and self.outages[-1][1] is None:  # still down at the end
            self.outages[-1] = (self.outages[-1][0], time.monotonic() - self.events.t0)
        self._add_missed_outages()
        self._result = self._collect()
        if not self.keep and self._started and self._outage_start is None and self.cut_short is None \
                and not outage.known_gone(outage.address()):  # no broker, nothing to delete
            try:
                admin.delete_group(self.group)
                admin.delete_topic(self.topic)
            except Exception:
                pass
        REGISTRY.release(self)
        release_free_memory()  # the buffers this run freed go back to the system: see kafkabp.arenas

    def __enter__(self) -> "Experiment":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- steering
    def set_rate(self, rate: Rate, *, log: bool = True) -> None:
        """Change the producer's rate now (``log=False``: no event, for controllers that act every sample)."""
        self.producer.set_rate(rate, log=log)

    def scale(self, consumers: int) -> None:
        self.consumer_group.scale(consumers)

    def rolling_restart(self, every: float = 2.0, downtime: float = 1.0) -> None:
        """Restart the group's members one by one, one every ``every`` s, each down for ``downtime`` s, as a rolling
        deploy does (in a thread: returns at once). With ``Group(static=True)`` each comes back with its
        ``group.instance.id``. See :meth:`kafkabp.workload.group.MemberGroup.restart`."""
        self.consumer_group.rolling_restart(every, downtime)

    def set_processing(self, processing: Processing) -> None:
        self._model_changed = True  # the fluid model's line no longer applies
        self.consumer_group.set_processing(processing)

    # ---------------------------------------------------------------- results
    def timeline(self) -> pd.DataFrame:
        """The timeline so far (also while running): lag, rates, consumers, target rate."""
        tl = self.monitor.timeline()
        ev = pd.DataFrame(self.events.rows(), columns=EVENT_COLUMNS)
        tl["consumers"] = step_at(tl["t"], ev[ev["kind"] == "scale"], self.params["consumers"])
        targets = pd.DataFrame(self._targets or [(0.0, self.producer.target_rate)], columns=["t", "target_rate"])
        tl["target_rate"] = np.interp(tl["t"], targets["t"], targets["target_rate"].replace(np.inf, np.nan))
        gauges = pd.DataFrame(list(self._gauges), columns=["t", "buffered", "buffered_mb", "prefetched_mb", "rss_mb"])
        tl = tl.merge(gauges, on="t", how="left")  # taken with each sample; the final one has none
        return tl

    def result(self) -> Result:
        """The finished experiment's :class:`Result` (call after :meth:`stop` or :meth:`run`)."""
        if self._result is None:
            raise RuntimeError("the experiment is still running: call stop() (or use run()) first")
        return self._result

    def _scan_unread(self) -> None:
        """Read what is still waiting after the group's committed offsets, so ``lost`` is exact."""
        frame = self.monitor.frame()
        last = frame[frame["t"] == frame["t"].max()]
        start = {int(r.partition): int(r.committed_offset) for r in last.itertuples()}
        end = {int(r.partition): int(r.log_end_offset) for r in last.itertuples()}
        try:
            if isinstance(self.consumer_group, ShareGroup):  # no committed offsets: read what is not done yet
                self.consumer_group.scan_unread(self.ledger, end)
            else:
                scan_unread(self.ledger, self.topic, start, end)
        except Exception as exc:  # the counts then say they are not exact
            self.events.add("note", "", f"could not read the unread tail: {exc!r}"[:200])

    def _collect(self) -> Result:
        tl = self.timeline()
        parts = self.monitor.frame()
        events = pd.DataFrame(self.events.rows(), columns=EVENT_COLUMNS)
        values, at = self.consumer_group.latency_samples()  # indexed by when processed, s since the start
        since = np.asarray(at, dtype=float) - (time.time() - time.monotonic()) - self.events.t0
        latency = pd.Series(values, index=pd.Index(since, name="t"), name="latency_s", dtype=float)
        predicted = self._predicted(tl["t"].to_numpy() if len(tl) else np.array([]))
        summary = summarize(tl, latency, self.producer.counts(), self.consumer_group.consumed, events)
        summary["status"] = self._live_status or ("ERR" if parts.empty else self.monitor.status().value)
        summary["cut_short"] = self.cut_short is not None
        if self.cut_short and self.outages and isinstance(self.consumer_group, ConsumerGroup):
            # the members lost their partitions during the outage: who owned what when the broker went away
            self._final_assignment = owned_at(events, self.outages[0][0], self._final_assignment)
        ledger = self.ledger.report()
        exact = ledger["exact"]
        summary.update({"lost": ledger["lost"] if exact else None, "duplicates": ledger["duplicates"],
                        "unread": ledger["unread"] if exact else None,
                        "never_processed": ledger["lost"] + ledger["unread"],
                        "counts_exact": ledger["exact"], "broker_outages": len(self.outages),
                        "broker_unreachable_s": float(sum((b or a) - a for a, b in self.outages))})
        group = self.consumer_group
        stats = [w.stats for w in group.members if w.stats]
        kinds = events["kind"]
        summary.update({
            "backlog": self.backlog,
            "order_violations": group.order_violations if isinstance(group, ConsumerGroup) and group.checks_order
            else None,
            "idle_members": sum(1 for owned in self._final_assignment.values() if not owned),
            "evictions": int((kinds == "evicted").sum()),
            "offset_resets": int((kinds == "offset_reset").sum()),  # fetch offset gone: jumped ahead
            "pauses": int((kinds == "pause").sum()),
            "peak_buffered": group.peak_buffered,
            "peak_buffered_mb": float(tl["buffered_mb"].max()) if tl["buffered_mb"].notna().any() else 0.0,
            "peak_rss_mb": float(tl["rss_mb"].max()) if tl["rss_mb"].notna().any() else float("nan"),
            "consumer_throttle_events": int(((kinds == "throttle") & (events["member"] != self.producer.name)).sum()),
            "consumer_cpu_us_per_msg": 1e6 * group.cpu_seconds / group.consumed if group.consumed else float("nan"),
            "fetch_requests": sum(int(b.get("req", {}).get("Fetch", 0)) for st in stats
                                  for b in st.get("brokers", {}).values()) if stats else None,
        })
        if isinstance(group, (ShareGroup, RetryGroup)):  # acks and delivery counts; or fates and order violations
            summary.update(group.summary())
        return Result(self.label, tl, parts, events, latency, Summary(**summary), dict(self.params), predicted,
                      self.topic, self.group, self.producer.stats_at_stop or self.producer.last_stats, ledger,
                      group.processed_frame(self.events.t0), dict(self._final_assignment), stats,
                      {getattr(m, "name", type(m).__name__): m.history() for m in self.mitigations
                       if callable(getattr(m, "history", None))}, self.cut_short)

    def _predicted(self, t: np.ndarray) -> pd.DataFrame | None:
        """The fluid model's lag for this run, or None where the model does not apply (processing or
        consumers changed mid-run, a source demand, full speed); rate changes use the recorded targets."""
        profile = as_profile(self.params["rate"])
        scalings = sum(1 for e in self.events.rows() if e["kind"] == "scale")  # the first one is the start
        changed = getattr(self, "_model_changed", False) or scalings > (1 if self.params["consumers"] else 0)
        if profile is None or len(t) == 0 or changed or self.producer.demand is not None:
            return None
        rates = [(at, r) for at, r in self._targets if math.isfinite(r)]
        if rates and len({r for _, r in rates}) > 1:  # set_rate or a controller moved it: what was asked
            ts, rs = np.array([a for a, _ in rates]), np.array([r for _, r in rates])
            profile = lambda x, ts=ts, rs=rs: float(np.interp(x, ts, rs))  # noqa: E731
        seconds = self.processing.mean_seconds(self.params["batch_size"])
        if self.params["consumers"] == 0:
            return pd.DataFrame({"t": t, "lag": predicted_lag(t, profile, 0.0, self.backlog)})
        if seconds == 0:
            return None
        parts = self._partitions if self.params["protocol"] != "share" else max(self._partitions, self.params["consumers"])
        lag = predicted_group_lag(t, profile, self.params["consumers"], parts, seconds, self.backlog)  # share: no cap
        return pd.DataFrame({"t": t, "lag": lag})


def _running() -> list[Experiment]:
    """Experiments of this process that have started and not stopped, oldest first."""
    live = [e for e in REGISTRY.live("experiment") if isinstance(e, Experiment) and e._started and not e._stopped]
    return sorted(live, key=lambda e: e.events.t0)


def _progress_text(experiments: Sequence[Experiment]) -> str:
    lines = []
    for e in experiments:
        lag = e.monitor.timeline()["lag"]
        problem = e.broker_problem() if e._started and not e._stopped else None
        lines.append(f"{e.label}: ⏱ {time.monotonic() - e.events.t0:5.1f} s · lag {int(lag.iloc[-1]) if len(lag) else 0:,} · "
                     f"produced {e.producer.produced:,} · consumed {e.consumer_group.consumed:,} · "
                     f"consumers {e.consumer_group.size}" + (f" · {problem}" if problem else ""))
    return "\n".join(lines)


def run_experiment(duration: float = 20.0, *, progress: bool = True,
                   actions: Sequence[tuple[float, Action]] = (), **kwargs: Any) -> Result:
    """Run one scenario for ``duration`` seconds on a fresh topic and group; see :class:`Experiment`."""
    check_duration(duration)
    return Experiment(**kwargs).run(duration, progress=progress, actions=actions)


__all__ = ["Experiment", "Result", "run_experiment", "summarize"]

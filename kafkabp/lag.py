"""Consumer lag: one-off snapshots, and a monitor that samples every partition into a DataFrame.

Offset lag = log end offset − committed offset (a partition never committed counts from its log
start offset); time lag = how long ago the committed offset was the log end, interpolated from
the monitor's own (log end offset, time) samples, as kafka-lag-exporter does.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Any, Callable, Sequence

import pandas as pd
from confluent_kafka import TopicPartition
from confluent_kafka.admin import OffsetSpec

from kafkabp import admin, offsets, outage
from kafkabp.history import SAMPLE_COLUMNS, History
from kafkabp.model import drain_time
from kafkabp.status import OffsetSample, Status, TimeLagTable, group_status, partition_status
from kafkabp.registry import REGISTRY

SNAPSHOT_COLUMNS = ["topic", "partition", "committed_offset", "log_end_offset", "lag"]
# A partition's Burrow window in a LagMonitor: (timestamp, committed offset, lag, commit id) per sample, oldest
# first; status() makes them OffsetSamples when asked, not every sample.
_Window = deque[tuple[float, int, int, str]]


def _offsets(partitions: list[tuple[str, int]], spec: OffsetSpec, timeout: float) -> dict[tuple[str, int], int]:
    if not partitions:
        return {}
    req = {TopicPartition(t, p): spec for t, p in partitions}
    futs = admin.admin_client().list_offsets(req, request_timeout=timeout)
    return {(tp.topic, tp.partition): fut.result(timeout=timeout).offset for tp, fut in futs.items()}


def snapshot(group: str, topic: str | None = None, timeout: float = 10.0, *, metadata: bool = False,
             reader: offsets.OffsetReader | None = None,
             positions: Callable[[list[tuple[str, int]]], dict[tuple[str, int], tuple[int, str]]] | None = None,
             ) -> pd.DataFrame:
    """Lag of every partition the group reads (or of ``topic``), as ``kafka-consumer-groups --describe`` shows it.

    ``metadata=True`` adds ``commit_metadata``: kafkabp's consumers stamp each commit's time there.
    ``reader`` reuses an open :class:`~kafkabp.offsets.OffsetReader` (the monitor keeps one).
    ``positions`` replaces the committed offsets with another source of (offset, metadata) per partition:
    a share group has no committed offsets (see :meth:`kafkabp.workload.share.ShareGroup.positions`).
    """
    servers = outage.address()
    if outage.refuses(servers):  # kafkabp's broker stopped: say so now, not after `timeout`
        raise outage.unavailable("nothing accepts connections there", servers)
    try:
        cols = _snapshot_columns(group, topic, timeout, reader, positions)
    except Exception as exc:
        if outage.no_answer(exc):  # the broker is gone: say so, and how to bring it back
            admin.require_broker(timeout=3.0)
        raise
    df = pd.DataFrame(cols, columns=SNAPSHOT_COLUMNS + ["commit_metadata"])
    if not metadata:
        df = df.drop(columns="commit_metadata")
    df["committed_offset"] = df["committed_offset"].astype("Int64")
    return df


# Partitions per offset request of the monitor's reader. librdkafka's CPU for one committed() or
# offsets_for_times() call grows with the square of its partition list (measured here on 1,000 partitions:
# offsets_for_times 0.16 ms for 100, 1.4 ms for 500, 4.8 ms for 1,000 in one call, 1.5 ms in ten calls of
# 100), while each extra call costs one round trip to the broker (about 1 ms locally).
_READ_CHUNK = 200
SAMPLE_SECONDS_KEPT = 7_200  # LagMonitor.sample_seconds keeps at most this many (the newest)


def _in_chunks(read: Callable[[list[tuple[str, int]], float], dict[tuple[str, int], Any]],
               parts: list[tuple[str, int]], timeout: float) -> dict[tuple[str, int], Any]:
    """``read(chunk, seconds)`` over ``parts`` in chunks of ``_READ_CHUNK``, merged, all within ``timeout``."""
    if len(parts) <= _READ_CHUNK:
        return read(parts, timeout)
    deadline = time.monotonic() + timeout
    out: dict[tuple[str, int], Any] = {}
    for i in range(0, len(parts), _READ_CHUNK):
        out.update(read(parts[i:i + _READ_CHUNK], max(0.1, deadline - time.monotonic())))
    return out


def _snapshot_offsets(group: str, topic: str | None, timeout: float, reader: offsets.OffsetReader | None,
                      positions: Callable[[list[tuple[str, int]]], dict[tuple[str, int], tuple[int, str]]] | None,
                      ) -> tuple[list[tuple[str, int]], dict[tuple[str, int], tuple[int, str]],
                                 dict[tuple[str, int], int], dict[tuple[str, int], int]]:
    """The partitions the group reads (or ``topic``'s), their (committed offset, commit metadata) where committed,
    their log end offsets, and the log start offsets of those never committed."""
    topics, md = ({topic}, None) if topic else offsets.group_topics_with_metadata(group, timeout)
    # the cluster's metadata that group_topics already read (a group without members), else one request per topic
    parts = admin.partitions_of(sorted(topics), timeout=timeout, metadata=md)
    if reader is not None:  # the monitor's reader: a few calls, no future per partition
        with_meta = positions(parts) if positions is not None else _in_chunks(reader.committed, parts, timeout)
    else:
        with_meta = positions(parts) if positions is not None else offsets.read_committed(group, parts, timeout)
    if md is not None:  # no members: every topic was listed to find the group's; keep those it committed on, as
        # kafka-consumer-groups --describe does (another notebook's topic deleted meanwhile no longer fails the read)
        read = {t for t, _ in with_meta}
        parts = [tp for tp in parts if tp[0] in read]
    if reader is not None:
        end = _in_chunks(lambda chunk, t: reader.log_offsets(chunk, latest=True, timeout=t), parts, timeout)
        start = _in_chunks(lambda chunk, t: reader.log_offsets(chunk, latest=False, timeout=t),
                           [tp for tp in parts if tp not in with_meta], timeout)
    else:
        end = _offsets(parts, OffsetSpec.latest(), timeout)
        start = _offsets([tp for tp in parts if tp not in with_meta], OffsetSpec.earliest(), timeout)
    return parts, with_meta, end, start


def _snapshot_columns(group: str, topic: str | None, timeout: float, reader: offsets.OffsetReader | None,
                      positions: Callable[[list[tuple[str, int]]], dict[tuple[str, int], tuple[int, str]]] | None,
                      ) -> dict[str, list[Any]]:
    """:func:`snapshot`'s columns as plain lists (committed_offset None where never committed), no pandas."""
    parts, with_meta, end, start = _snapshot_offsets(group, topic, timeout, reader, positions)
    cols: dict[str, list[Any]] = {c: [] for c in SNAPSHOT_COLUMNS + ["commit_metadata"]}
    for tp in parts:  # column lists, not a dict per row: a sample of 1,000 partitions stays cheap
        c, meta = with_meta.get(tp, (None, ""))
        base = c if c is not None else start[tp]
        cols["topic"].append(tp[0])
        cols["partition"].append(tp[1])
        cols["committed_offset"].append(c)
        cols["log_end_offset"].append(end[tp])
        cols["lag"].append(max(0, end[tp] - base))
        cols["commit_metadata"].append(meta)
    return cols


class LagMonitor:
    """Sample a group's lag on every partition of a topic every ``interval`` seconds, in a thread.

    ``frame()`` gives one row per partition per sample; ``timeline()`` sums them per sample with
    produce and consume rates over a trailing ``rate_window`` seconds; ``status()`` applies
    Burrow's rules to the last ``window`` samples of each partition. Memory stays bounded however long it runs:
    the newest samples are kept whole, older ones thinned (:mod:`kafkabp.history`).
    """

    def __init__(self, group: str, topic: str, interval: float = 0.5, *, t0: float | None = None,
                 window: int = 10, rate_window: float = 2.0, timeout: float = 5.0,
                 positions: Callable[[list[tuple[str, int]]], dict[tuple[str, int], tuple[int, str]]] | None = None,
                 ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval}")
        self.group, self.topic, self.interval = group, topic, interval
        self.t0 = time.monotonic() if t0 is None else t0
        self.window, self.rate_window, self.timeout = window, rate_window, timeout
        # One entry per sample, columns as plain lists: t, then SAMPLE_COLUMNS[1:] (topic and partition lists shared
        # by the samples that read the same partitions), bounded however long the run (kafkabp.history). frame()
        # builds the DataFrame only when asked.
        self.history = History(rate_window)
        self._tables: dict[Any, TimeLagTable] = {}
        self._windows: dict[Any, _Window] = {}
        # The partitions of the last sample, their topic and partition columns, and their tables and windows
        self._parts: list[tuple[str, int]] = []
        self._layout: tuple[list[str], list[int], list[tuple[TimeLagTable, _Window]]] = ([], [], [])
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.errors = 0
        self.last_error: str | None = None
        self.last_ok: float | None = None  # monotonic time of the last good sample
        self.failing_since: float | None = None  # first failure of the current run of failures
        self.gaps: list[tuple[float, float]] = []  # (first failure, next good sample), monotonic times
        self._reader: offsets.OffsetReader | None = None
        self.listeners: list[Callable[[pd.DataFrame], None]] = []  # called after each good sample
        self.listener_error: BaseException | None = None
        self.sample_seconds: list[float] = []  # wall time of each sample the thread took (good or failed)
        self.positions = positions  # instead of committed offsets (a share group's; see snapshot())

    def sample(self) -> pd.DataFrame:
        """Take one sample now and append it; returns that sample's per-partition rows."""
        return _sample_frame(self._sample())

    def _sample(self) -> tuple[Any, ...]:
        """Take one sample now and append it; returns its columns (t, then SAMPLE_COLUMNS[1:] as lists)."""
        if self._reader is None and self.positions is None:
            self._reader = offsets.OffsetReader(self.group)
            REGISTRY.add(self, "monitor")  # stop_all() closes the reader's consumer
        try:
            parts, with_meta, end, start = _snapshot_offsets(self.group, self.topic, self.timeout, self._reader,
                                                             self.positions)
            missing = [tp for tp in parts if tp not in end or (tp not in with_meta and tp not in start)]
            if missing:  # librdkafka answers for every partition asked, or raises: this would be a bug
                raise KeyError(f"no offsets for {missing[:5]}")
        except Exception as exc:
            self.errors += 1
            self.last_error = repr(exc)
            if self.failing_since is None:
                self.failing_since = time.monotonic()
            raise
        if self.failing_since is not None:  # a run of failed samples just ended: the gap, for the record
            self.gaps.append((self.failing_since, time.monotonic()))
        self.last_ok, self.failing_since = time.monotonic(), None
        now = time.monotonic()
        # plain Python lists, no DataFrame and no object per row: a thousand partitions twice a second stays cheap
        ends: list[int] = []
        committeds: list[int] = []
        lags: list[int] = []
        time_lags: list[float] = []
        has_commits: list[bool] = []
        t = now - self.t0
        with self._lock:
            topics, partitions, slots = self._slots(parts)
            for tp, (table, win) in zip(parts, slots):
                got = with_meta.get(tp)
                end_offset = int(end[tp])
                if got is None:  # never committed: the lag counts from the log start offset
                    lag = max(0, end_offset - int(start[tp]))
                    committed, meta = end_offset - lag, ""
                else:
                    committed, meta = int(got[0]), str(got[1])
                    lag = max(0, end_offset - committed)
                table.add(end_offset, now)
                win.append((now, committed, lag, meta))
                ends.append(end_offset)
                committeds.append(committed)
                lags.append(lag)
                time_lags.append(float(table.time_lag(committed, end_offset, now)))
                has_commits.append(got is not None)
            columns = (t, topics, partitions, ends, committeds, lags, time_lags, has_commits)
            self.history.append(columns)
        return columns

    def _slots(self, parts: list[tuple[str, int]]) -> tuple[list[str], list[int], list[tuple[TimeLagTable, _Window]]]:
        """Topic and partition columns for ``parts``, and each one's time-lag table and Burrow window (made on first
        sight), kept while the group reads the same partitions: no lookup per partition per sample."""
        if parts != self._parts:
            slots: list[tuple[TimeLagTable, _Window]] = []
            for topic, partition in parts:
                key = int(partition) if self.topic else (topic, int(partition))  # all the group's topics: (topic, p)
                table = self._tables.get(key)
                if table is None:
                    table = self._tables[key] = TimeLagTable()
                win = self._windows.get(key)
                if win is None:
                    win = self._windows[key] = deque(maxlen=self.window)
                slots.append((table, win))
            self._parts = parts
            self._layout = ([tp[0] for tp in parts], [int(tp[1]) for tp in parts], slots)
        return self._layout

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            began = time.perf_counter()
            try:
                columns = self._sample()
            except Exception:  # a slow or absent broker skips a sample (counted); the monitor keeps going
                columns = None
            self.sample_seconds.append(time.perf_counter() - began)
            if len(self.sample_seconds) > SAMPLE_SECONDS_KEPT:  # bounded: the newest half stays
                del self.sample_seconds[:SAMPLE_SECONDS_KEPT // 2]
            if columns is not None and self.listeners:  # the DataFrame only for someone who reads it
                rows = _sample_frame(columns)
                for listen in list(self.listeners):
                    try:
                        listen(rows)
                    except BaseException as exc:  # surfaced by the experiment, which stops
                        self.listener_error = exc
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> "LagMonitor":
        admin.require_broker()  # no broker: one clear error now, not a thread whose every sample fails
        REGISTRY.add(self, "monitor")
        self._thread = threading.Thread(target=self._run, name=f"kafkabp-lag-{self.group}", daemon=True)
        self._thread.start()
        return self

    @property
    def thread(self) -> threading.Thread | None:
        """The sampling thread (None before :meth:`start`)."""
        return self._thread

    def stop_sampling(self) -> None:
        """Take no more samples (the thread ends after the one in progress); :meth:`stop` waits for it."""
        self._stop.set()

    def unreachable_for(self) -> float:
        """Seconds since samples began failing without a success in between (0 while sampling works)."""
        return 0.0 if self.failing_since is None else time.monotonic() - self.failing_since

    def stop(self, timeout: float = 10.0, *, final_sample: bool = False) -> None:
        """Stop sampling (after one last sample if asked) and close the offset reader."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if final_sample:
            try:
                self.sample()
            except Exception:  # the broker is gone: the timeline ends at the last good sample
                pass
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        REGISTRY.release(self)

    def frame(self) -> pd.DataFrame:
        """Every sample held, one row per partition: t, topic, partition, offsets, lag, time_lag (a run longer than
        :data:`kafkabp.history.HISTORY_SAMPLES` samples keeps its older ones thinned: see :mod:`kafkabp.history`)."""
        return self.history.frame()

    def timeline(self) -> pd.DataFrame:
        """Per sample: total lag, max time lag, produce and consume rates (msg/s)."""
        return self.history.timeline()

    def status(self) -> Status:
        """Burrow's group status from each partition's recent samples."""
        now = time.monotonic()
        with self._lock:
            windows = [list(w) for w in self._windows.values()]
        return group_status(partition_status([OffsetSample(*s) for s in w], now) for w in windows)

    def partition_statuses(self) -> dict[int, Status]:
        now = time.monotonic()
        with self._lock:
            windows = [(p, list(w)) for p, w in sorted(self._windows.items())]
        return {p: partition_status([OffsetSample(*s) for s in w], now) for p, w in windows}

    def drain_time(self) -> float:
        """Seconds until lag reaches zero at the recent rates (inf: never, lag is growing)."""
        tl = self.timeline()
        if tl.empty:
            return 0.0
        last = tl.iloc[-1]
        rates = [max(0.0, float(last[c])) if pd.notna(last[c]) else 0.0 for c in ("produce_rate", "consume_rate")]
        return drain_time(max(0.0, float(last["lag"])), *rates)


def _sample_frame(columns: tuple[Any, ...]) -> pd.DataFrame:
    """One sample's rows (LagMonitor.sample()'s DataFrame) from its columns: t, then SAMPLE_COLUMNS[1:] as lists."""
    if not columns[1]:
        return pd.DataFrame([])
    return pd.DataFrame({"t": [columns[0]] * len(columns[1]), **dict(zip(SAMPLE_COLUMNS[1:], columns[1:]))})


def time_lag_alerts(result: Any, retention_s: float, fractions: Sequence[float] = (0.5, 0.8), *,
                    for_s: float = 0.0, loss_at: float | None = None) -> pd.DataFrame:
    """When an alert "time lag ≥ fraction × retention" would have fired, and how long before the first loss.

    Time lag is what retention is measured against: a message is deleted once it is about ``retention.ms``
    old (its segment's newest record, checked every ``log.retention.check.interval.ms``), so a group whose
    time lag passes retention is reading messages the broker is deleting. An alert at a fraction of it fires
    while there is still time to act (scale out, speed up, raise retention).

    ``result``: an experiment's Result (its timeline; its first ``offset_reset`` event, when the consumer found
    its next offset deleted, is ``loss_at``) or a DataFrame with columns t and time_lag. ``for_s``: the time lag
    must stay over the threshold this long before the alert fires (Prometheus's ``for:``).
    One row per fraction: fraction, threshold_s, fired_at (s from the start; NaN: never), loss_at (NaN: no loss
    seen), warning_s = loss_at − fired_at (NaN unless both happened; negative: fired after the loss).
    """
    if retention_s <= 0:
        raise ValueError(f"retention_s must be > 0 seconds, got {retention_s}")
    if any(not 0 < f <= 1 for f in fractions):
        raise ValueError(f"fractions must be in (0, 1], got {list(fractions)}")
    timeline = result.timeline if hasattr(result, "timeline") else result
    if loss_at is None and hasattr(result, "events"):
        ev = result.events
        resets = ev.loc[ev["kind"] == "offset_reset", "t"] if len(ev) else pd.Series(dtype=float)
        loss_at = float(resets.min()) if len(resets) else None
    t = timeline["t"].to_numpy(dtype=float)
    lag = timeline["time_lag"].to_numpy(dtype=float)
    rows = []
    for f in fractions:
        threshold, fired, since = f * retention_s, math.nan, None
        for ti, li in zip(t, lag):
            if li >= threshold:
                since = ti if since is None else since
                if ti - since >= for_s:
                    fired = float(ti)
                    break
            else:
                since = None
        lost = math.nan if loss_at is None else float(loss_at)
        rows.append({"fraction": f, "threshold_s": threshold, "fired_at": fired, "loss_at": lost,
                     "warning_s": lost - fired})
    return pd.DataFrame(rows, columns=["fraction", "threshold_s", "fired_at", "loss_at", "warning_s"])


def _tool_rows(out: str, group: str, columns: dict[str, str], min_cells: int) -> list[dict[str, str | None]]:
    """The rows for ``group`` of a ``kafka-*-groups --describe`` table, as {our column: the cell under its header}."""
    rows: list[dict[str, str | None]] = []
    header: list[str] | None = None
    for line in out.splitlines():
        cells = line.split()
        if not cells:
            continue
        if cells[0] == "GROUP" and "PARTITION" in cells:
            header = cells
            continue
        if header and len(cells) >= min_cells and cells[0] == group:
            rec = dict(zip(header, cells))
            rows.append({ours: rec.get(theirs) for ours, theirs in columns.items()})
    return rows


def describe_with_kafka_tool(group: str, timeout: float = 60.0) -> pd.DataFrame:
    """Kafka's own view: ``kafka-consumer-groups --describe --group G`` parsed into a DataFrame.

    Columns: topic, partition, current_offset, log_end_offset, lag (``-`` becomes <NA>).
    """
    from kafkabp.infra.broker import bootstrap
    from kafkabp.infra.tools import kafka_tool

    out = kafka_tool("kafka-consumer-groups", "--bootstrap-server", bootstrap(), "--describe",
                     "--group", group, timeout=timeout).stdout
    rows = _tool_rows(out, group, {"topic": "TOPIC", "partition": "PARTITION", "current_offset": "CURRENT-OFFSET",
                                   "log_end_offset": "LOG-END-OFFSET", "lag": "LAG"}, min_cells=6)
    df = pd.DataFrame(rows, columns=["topic", "partition", "current_offset", "log_end_offset", "lag"])
    for col in ("partition", "current_offset", "log_end_offset", "lag"):
        df[col] = pd.to_numeric(df[col].replace("-", pd.NA), errors="coerce").astype("Int64")
    return df.sort_values(["topic", "partition"]).reset_index(drop=True)


def describe_share_group_with_kafka_tool(group: str, timeout: float = 60.0) -> pd.DataFrame:
    """Kafka's own view of a share group: ``kafka-share-groups --describe --group G`` parsed into a DataFrame.

    Columns: topic, partition, start_offset (the share-partition start offset, SPSO: every record below it
    is done), lag (records not yet accepted or rejected: available, acquired or released). A share group has
    no committed offsets, so ``kafka-consumer-groups`` and :func:`snapshot` cannot read its lag.
    """
    from kafkabp.infra.broker import bootstrap
    from kafkabp.infra.tools import kafka_tool

    out = kafka_tool("kafka-share-groups", "--bootstrap-server", bootstrap(), "--describe",
                     "--group", group, timeout=timeout).stdout
    rows = _tool_rows(out, group, {"topic": "TOPIC", "partition": "PARTITION", "start_offset": "START-OFFSET",
                                   "lag": "LAG"}, min_cells=4)
    df = pd.DataFrame(rows, columns=["topic", "partition", "start_offset", "lag"])
    for col in ("partition", "start_offset", "lag"):
        df[col] = pd.to_numeric(df[col].replace("-", pd.NA), errors="coerce").astype("Int64")
    return df.sort_values(["topic", "partition"]).reset_index(drop=True)

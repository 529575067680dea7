"""Burrow's consumer-lag status rules and kafka-lag-exporter's time lag, for one Kafka partition.

Burrow judges a consumer from a sliding window of its commits instead of a lag threshold; kafka-lag-exporter
turns an offset lag into seconds. Ported from linkedin/Burrow core/internal/evaluator/caching.go (commit
ced55ba, 2025-10-03: a rewind the consumer has recovered from is not REWIND, and lag up to ``allowed-lag`` counts
as none) and seglo/kafka-lag-exporter LookupTable.scala (MemoryTable), so the course can apply them to its samples.
"""

from __future__ import annotations

import bisect
import enum
import math
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Sequence


class Status(str, enum.Enum):
    """Burrow's status names, declared in Burrow's order of severity (its StatusConstant 0 to 6)."""

    NOTFOUND = "NOTFOUND"  # groups only: Burrow never gives it to a partition
    OK = "OK"
    WARN = "WARN"
    ERR = "ERR"  # groups only: what a group shows when a partition is STOP, STALL or REWIND
    STOP = "STOP"
    STALL = "STALL"
    REWIND = "REWIND"


_SEVERITY: dict[Status, int] = {status: rank for rank, status in enumerate(Status)}

STATUS_MEANING: dict[Status, str] = {
    Status.NOTFOUND: "Burrow does not know this group: it never committed, or its commits expired.",
    Status.OK: "Keeping up: no lag now, lag was zero somewhere in the window, or lag is coming down.",
    Status.WARN: "Falling behind: the group commits progress, but its lag never went down over the window.",
    Status.ERR: "A partition of the group is stopped, stalled or rewound (the group-level error).",
    Status.STOP: "Stopped: no new commit for longer than the window spans, while messages wait.",
    Status.STALL: "Stalled: the group keeps committing the same offset while messages wait.",
    Status.REWIND: "Rewound: the committed offset went backwards, so messages will be read again.",
}


@dataclass(frozen=True)
class OffsetSample:
    """One observation of a partition: when, the group's committed offset, and its lag at that time."""

    timestamp: float  # seconds (epoch or monotonic; only differences matter)
    committed_offset: int
    lag: int  # log end offset - committed offset, never negative
    commit_id: str = ""  # what identifies the commit (kafkabp stamps its time in the commit metadata), if known

    def __post_init__(self) -> None:
        if self.lag < 0:
            raise ValueError(
                f"lag={self.lag} is negative; clamp it to zero as Burrow does: max(0, log_end - committed)"
            )


# --- Burrow's rules, each on a window holding one entry per commit, oldest first -------------------------


def _lag_always_nonzero(commits: Sequence[OffsetSample], allowed_lag: int = 0) -> bool:
    """Burrow's isLagAlwaysNotZero (rule 1 inverted): no entry had a lag within ``allowed_lag`` (0: zero lag)."""
    return all(c.lag > allowed_lag for c in commits)


def _rewind_index(commits: Sequence[OffsetSample]) -> int:
    """Burrow's checkIfOffsetsRewind (rule 2): the first entry whose offset is below the one before it; -1 if none."""
    return next((i for i in range(1, len(commits)) if commits[i].committed_offset < commits[i - 1].committed_offset), -1)


def _rewind_recovered(commits: Sequence[OffsetSample], index: int) -> bool:
    """Burrow's checkIfRewindRecovered (rule 2, part 2): from the rewind on, an offset got back to the one before it."""
    before = commits[index - 1].committed_offset
    return any(c.committed_offset >= before for c in commits[index:])


def _rewound(commits: Sequence[OffsetSample]) -> bool:
    """REWIND's condition: a rewind in the window that the consumer has not yet made up."""
    index = _rewind_index(commits)
    return index > 0 and not _rewind_recovered(commits, index)


def _stopped(commits: Sequence[OffsetSample], now: float) -> bool:
    """Burrow's checkIfOffsetsStopped (rule 3): silent since the last commit for longer than the window spans."""
    first, last = commits[0].timestamp, commits[-1].timestamp
    return (now - last) > (last - first)


def _stalled(commits: Sequence[OffsetSample]) -> bool:
    """Burrow's checkIfOffsetsStalled (rule 4): every commit named the same offset."""
    return all(b.committed_offset == a.committed_offset for a, b in zip(commits, commits[1:]))


def _lag_never_decreases(commits: Sequence[OffsetSample]) -> bool:
    """Burrow's checkIfLagNotDecreasing (rule 5): lag stayed level or grew between every pair of commits."""
    return all(b.lag >= a.lag for a, b in zip(commits, commits[1:]))


def _recent_lag_zero(commits: Sequence[OffsetSample], broker_offsets: Sequence[int]) -> bool:
    """Burrow's checkIfRecentLagZero: a recent log end offset was at or below the last committed offset."""
    last = commits[-1].committed_offset
    return any(leo <= last for leo in broker_offsets)


def evaluate_commits(
    commits: Sequence[OffsetSample],
    now: float,
    *,
    current_lag: int | None = None,
    broker_offsets: Sequence[int] | None = None,
    allowed_lag: int = 0,
) -> Status:
    """Burrow's calculatePartitionStatus, in its order, on a window with one entry per commit (oldest first).

    ``current_lag`` defaults to the newest entry's lag. ``broker_offsets`` are the recently polled log end
    offsets; by default only the one the newest entry implies, which turns off Burrow's grace for new data.
    ``allowed_lag`` is Burrow's ``allowed-lag``: a lag up to it counts as none (0, its default: only zero).
    """
    if allowed_lag < 0:
        raise ValueError(f"allowed_lag must be >= 0 messages, got {allowed_lag}")
    if not commits:
        return Status.OK  # Burrow: no offsets, nothing to judge
    lag_now = commits[-1].lag if current_lag is None else current_lag
    if broker_offsets is None:
        broker_offsets = [commits[-1].committed_offset + commits[-1].lag]
    if lag_now <= allowed_lag:
        return Status.OK  # no lag (to speak of) right now: never an error
    # STOP comes first: a long silence matters even if lag was zero earlier in the window.
    if _stopped(commits, now) and not _recent_lag_zero(commits, broker_offsets):
        return Status.STOP
    # REWIND before the zero-lag check: a consumer often has no lag and then rewinds to the earliest offset;
    # only a rewind it has not yet made up counts.
    if _rewound(commits):
        return Status.REWIND
    if not _lag_always_nonzero(commits, allowed_lag):
        return Status.OK
    if _stalled(commits):
        return Status.STALL
    if _lag_never_decreases(commits):
        return Status.WARN
    return Status.OK


def commits_from_samples(window: Sequence[OffsetSample]) -> list[OffsetSample]:
    """Turn samples into Burrow's one entry per commit: keep the first sample of each run of equal offsets.

    Where commits carry an id (kafkabp stamps each commit's time in its metadata), a new id is a new entry even
    at the same offset: a re-commit, which is what lets a stuck-but-alive consumer read STALL.
    """
    return [s for i, s in enumerate(window) if i == 0 or s.committed_offset != window[i - 1].committed_offset
            or s.commit_id != window[i - 1].commit_id]


def partition_status(
    window: Sequence[OffsetSample],
    now: float,
    *,
    complete: bool | None = None,
    current_lag: int | None = None,
    broker_offsets: Sequence[int] | None = None,
    allowed_lag: int = 0,
) -> Status:
    """Burrow's rules over a sliding window of samples, oldest first; `now` for the STOP rule.

    Burrow stores one entry per commit, stamped with the commit's time and the lag when it arrived; its
    storage never moves that timestamp (even ``min-distance`` merging keeps the older one). Samples taken every
    ~0.5 s repeat an offset until the next commit, so each run of equal offsets becomes one entry: its first
    sample, whose time is about the commit's and whose lag is the run's smallest. Windows of distinct commits
    thus get Burrow's answer, and a group that stops committing reaches STOP. Without a ``commit_id`` a sample
    cannot tell a re-commit of the same offset from no commit, so a stuck group that keeps re-committing
    (Burrow: STALL) would read STOP; with one (kafkabp's consumers stamp each commit) it reads STALL.

    ``current_lag`` defaults to the newest sample's lag. ``broker_offsets`` (recent log end offsets) default to
    those of the newest samples, as many as the window has commits, as Burrow keeps as many broker offsets as
    commits: a group caught up that recently is not STOP yet. ``complete=False`` (window not yet full) gives
    OK, as Burrow with ``minimum-complete`` above the window's fill; None or True judge the window as it is,
    as Burrow does by default (``minimum-complete`` 0).
    """
    if complete is False or not window:
        return Status.OK
    if any(b.timestamp < a.timestamp for a, b in zip(window, window[1:])):
        raise ValueError("window must be sorted oldest first by timestamp; sort it before calling")
    commits = commits_from_samples(window)
    if broker_offsets is None:
        broker_offsets = [s.committed_offset + s.lag for s in window[-len(commits):]]
    lag_now = window[-1].lag if current_lag is None else current_lag
    return evaluate_commits(commits, now, current_lag=lag_now, broker_offsets=broker_offsets, allowed_lag=allowed_lag)


def group_status(statuses: Iterable[Status]) -> Status:
    """Burrow's group status: its worst partition's, where STOP, STALL and REWIND count as ERR; OK if none."""
    group = Status.OK
    for status in statuses:
        if _SEVERITY[status] > _SEVERITY[group]:
            group = Status.ERR if _SEVERITY[status] > _SEVERITY[Status.ERR] else status
    return group


# --- Time lag, as kafka-lag-exporter computes it ----------------------------------------------------------


class TimeLagTable:
    """Recent (log end offset, time) points of one partition, to turn an offset into the time it was produced."""

    def __init__(self, max_points: int = 240) -> None:
        if max_points < 2:
            raise ValueError(f"max_points={max_points} must be at least 2: interpolation needs two points")
        self.max_points = max_points
        self._points: deque[tuple[int, float]] = deque(maxlen=max_points)

    def __len__(self) -> int:
        return len(self._points)

    @property
    def points(self) -> list[tuple[int, float]]:
        """The (log end offset, time) points, oldest first."""
        return list(self._points)

    def add(self, log_end_offset: int, timestamp: float) -> None:
        """Record a point, as kafka-lag-exporter does: ignore one not later in time or with a lower offset, and
        keep a flat run (producer idle) as its first and latest points, moving the latest one forward."""
        if self._points:
            last_offset, last_time = self._points[-1]
            if timestamp <= last_time or log_end_offset < last_offset:
                return
            if len(self._points) > 1 and log_end_offset == last_offset == self._points[-2][0]:
                self._points[-1] = (log_end_offset, timestamp)
                return
        self._points.append((log_end_offset, timestamp))  # the deque drops the oldest point when full

    def time_at(self, offset: int) -> float | None:
        """When the log end reached `offset`: interpolate on the newest pair of points around it, or else
        extrapolate on the line from the oldest to the newest point (kafka-lag-exporter); None if < 2 points.

        A table that is all one flat run gives -inf below it and +inf above it, as kafka-lag-exporter does."""
        points = self._points
        if len(points) < 2:
            return None
        # The newest pair with points[i - 1] <= offset <= points[i]: the last two for a group near the head; else,
        # as offsets never decrease along the table (add() drops a lower one), the pair ending at the first point
        # above `offset`, found by binary search. (Scanning back from the newest point cost a monitor of 1,000
        # partitions 15 ms a sample when its group was 30 s behind.)
        if points[-2][0] <= offset <= points[-1][0]:
            left, right = points[-2], points[-1]
        else:
            i = self._first_above(offset)
            left, right = (points[i - 1], points[i]) if 0 < i < len(points) else (points[0], points[-1])
        dx = right[1] - left[1]
        dy = right[0] - left[0]
        steps_back = right[0] - offset
        if dy == 0:  # a flat pair: Scala's x / 0.0 gives an infinity
            return right[1] if steps_back == 0 else right[1] - math.copysign(math.inf, steps_back)
        return right[1] - steps_back * dx / dy

    def time_lag(self, committed_offset: int, log_end_offset: int, now: float) -> float:
        """Seconds the group is behind: `now` minus the time its next message (`committed_offset`) was produced.

        0.0 when committed_offset >= log_end_offset, and never negative. Where kafka-lag-exporter gives NaN
        (fewer than 2 points) or an infinity (a flat table), this falls back to a lower bound: the age of the
        oldest point above `committed_offset`, as that message was produced before it; 0.0 if there is none.
        """
        if committed_offset >= log_end_offset:
            return 0.0
        produced = self.time_at(committed_offset)
        if produced is None or not math.isfinite(produced):  # the oldest point above committed_offset, if any
            i = self._first_above(committed_offset)
            produced = self._points[i][1] if i < len(self._points) else now
        return max(0.0, now - produced)

    def _first_above(self, offset: int) -> int:
        """Index of the oldest point whose offset is above ``offset`` (len(self) if none): offsets never decrease
        along the table, and (offset, inf) sorts after every point at ``offset``."""
        return bisect.bisect_right(self._points, (offset, math.inf))

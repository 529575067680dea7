"""A lag monitor's samples, in bounded memory however long the run (issue 25).

Every sample is kept whole while a run is short: the newest ``HISTORY_SAMPLES`` samples (15 minutes at the lessons'
0.5 s, 30 minutes at the dashboard's and playground's 1 s; every lesson's run is shorter) are all there, and a run that
never has more gives exactly the frame and timeline it always did. A longer run (a playground left on for an hour)
moves its oldest half out, ``HISTORY_SAMPLES // 2`` samples at a time, into an archive: each archived sample keeps its
per-partition rows and its timeline row, computed at full resolution when it moved (rates over the trailing
``rate_window`` seconds, as for every other sample). The archive holds at most ``ARCHIVE_SAMPLES``: when it is full,
each pair of neighbours keeps the one with the larger total lag, so the chart keeps its peaks and ``peak_lag`` stays
exact, while older stretches get coarser (each halving doubles their spacing).

Cost per sample: an append and a length check; the move (one ``timeline_from`` over half the history) happens once
every ``HISTORY_SAMPLES // 2`` samples.
"""

from __future__ import annotations

import threading
from typing import Any, Sequence

import pandas as pd

HISTORY_SAMPLES = 1_800  # newest samples kept whole
ARCHIVE_SAMPLES = 1_800  # older samples kept, thinned to at most this many

SAMPLE_COLUMNS = ["t", "topic", "partition", "log_end_offset", "committed_offset", "lag", "time_lag", "has_commit"]
FRAME_COLUMNS = SAMPLE_COLUMNS[:-1]
TIMELINE_COLUMNS = ["t", "lag", "time_lag", "log_end_offset", "committed_offset", "produce_rate", "consume_rate"]

# One sample: t, then SAMPLE_COLUMNS[1:] as lists (one value per partition)
Sample = tuple[Any, ...]


def frame_of(samples: Sequence[Sample]) -> pd.DataFrame:
    """The samples as one row per partition per sample: t, topic, partition, offsets, lag, time_lag."""
    if not any(s[1] for s in samples):
        return pd.DataFrame([], columns=FRAME_COLUMNS)
    cols: dict[str, list[Any]] = {c: [] for c in FRAME_COLUMNS}
    for s in samples:
        cols["t"] += [s[0]] * len(s[1])
        for name, values in zip(FRAME_COLUMNS[1:], s[1:]):
            cols[name] += values
    return pd.DataFrame(cols, columns=FRAME_COLUMNS)


def timeline_from(frame: pd.DataFrame, rate_window: float = 2.0) -> pd.DataFrame:
    """Aggregate per-partition samples: total lag, worst time lag, and rates over ``rate_window`` s."""
    cols = TIMELINE_COLUMNS
    if frame.empty:
        return pd.DataFrame(columns=cols)
    g = frame.groupby("t", sort=True).agg(lag=("lag", "sum"), time_lag=("time_lag", "max"),
                                          log_end_offset=("log_end_offset", "sum"),
                                          committed_offset=("committed_offset", "sum"),
                                          partitions=("partition", "count")).reset_index()
    g = g[g["partitions"] == g["partitions"].max()].drop(columns="partitions").reset_index(drop=True)
    t = g["t"].to_numpy()
    produce, consume = [], []
    j = 0
    for i in range(len(g)):
        while t[i] - t[j] > rate_window and j < i:
            j += 1
        dt = t[i] - t[j]
        produce.append((g.at[i, "log_end_offset"] - g.at[j, "log_end_offset"]) / dt if dt > 0 else 0.0)
        consume.append((g.at[i, "committed_offset"] - g.at[j, "committed_offset"]) / dt if dt > 0 else 0.0)
    g["produce_rate"], g["consume_rate"] = produce, consume
    return g[cols]


def note_step(points: list[tuple[float, float]], t: float, value: float) -> None:
    """Append ``(t, value)`` to the points a line is interpolated from (``np.interp``), keeping a flat run as its first
    and latest points only: the same line, in memory that grows with the changes, not with the time (a live view
    notes the target rate twice a second, for hours)."""
    if len(points) >= 2 and points[-1][1] == value == points[-2][1]:
        points[-1] = (t, value)
    else:
        points.append((t, value))


class History:
    """A monitor's samples: the newest ``samples`` whole, older ones archived and thinned (see the module's text).

    ``samples`` and ``archive`` default to :data:`HISTORY_SAMPLES` and :data:`ARCHIVE_SAMPLES` as they are when the
    history is made.
    """

    def __init__(self, rate_window: float = 2.0, samples: int | None = None, archive: int | None = None) -> None:
        self.rate_window = rate_window
        self.limit = HISTORY_SAMPLES if samples is None else int(samples)
        self.archive_limit = ARCHIVE_SAMPLES if archive is None else int(archive)
        if self.limit < 2 or self.archive_limit < 2:
            raise ValueError(f"a history keeps at least 2 whole and 2 archived samples, got samples={self.limit}, "
                             f"archive={self.archive_limit}")
        self._samples: list[Sample] = []
        self._archive: list[tuple[Sample, tuple[Any, ...]]] = []  # (sample, its timeline row at full resolution)
        self._context: list[Sample] = []  # the last archived samples within rate_window of the first whole one
        self.dropped = 0  # samples thinned out of the archive
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Samples held (whole and archived)."""
        with self._lock:
            return len(self._samples) + len(self._archive)

    def append(self, sample: Sample) -> None:
        """Add a sample (never changed afterwards): t, then SAMPLE_COLUMNS[1:] as lists."""
        with self._lock:
            self._samples.append(sample)
            if len(self._samples) > self.limit:
                self._move_oldest()

    def _move_oldest(self) -> None:
        """Archive the oldest half of the whole samples with their timeline rows; thin the archive if full."""
        half = self.limit // 2
        chunk, self._samples = self._samples[:half], self._samples[half:]
        rows = timeline_from(frame_of(self._context + chunk), self.rate_window)
        by_t = {row[0]: row for row in rows.itertuples(index=False, name=None)}
        # a sample with fewer partitions than the rest has no timeline row (as timeline_from drops it): not kept
        self._archive += [(s, by_t[s[0]]) for s in chunk if s[0] in by_t]
        first = self._samples[0][0]
        self._context = [s for s in chunk if first - s[0] <= self.rate_window]
        while len(self._archive) > self.archive_limit:
            a = self._archive
            kept = [max(a[i], a[i + 1], key=lambda e: e[1][1]) for i in range(0, len(a) - 1, 2)]
            if len(a) % 2:
                kept.append(a[-1])
            self.dropped += len(a) - len(kept)
            self._archive = kept

    def frame(self) -> pd.DataFrame:
        """Every sample held (archived, then whole), one row per partition."""
        with self._lock:
            samples = [s for s, _ in self._archive] + self._samples
        return frame_of(samples)

    def timeline(self) -> pd.DataFrame:
        """Per sample held: total lag, worst time lag, offsets and rates (as :func:`timeline_from` gives them)."""
        with self._lock:
            archive, context, samples = list(self._archive), list(self._context), list(self._samples)
        if not archive and not context:  # a run shorter than the history: exactly as it always was
            return timeline_from(frame_of(samples), self.rate_window)
        whole = timeline_from(frame_of(context + samples), self.rate_window)
        whole = whole[whole["t"] >= samples[0][0]]
        old = pd.DataFrame([row for _, row in archive], columns=TIMELINE_COLUMNS)
        if old.empty:
            return whole.reset_index(drop=True)
        return pd.concat([old.astype(whole.dtypes.to_dict()), whole], ignore_index=True)


__all__ = ["ARCHIVE_SAMPLES", "FRAME_COLUMNS", "HISTORY_SAMPLES", "History", "SAMPLE_COLUMNS", "TIMELINE_COLUMNS",
           "frame_of", "note_step", "timeline_from"]

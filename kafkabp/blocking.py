"""The questions lesson 16 asks of a run (head-of-line blocking), as pure functions ``Result`` calls: how long each
partition's committed offset stood still while messages waited, how every message ended, how busy the CPU was.

``partitions``: the lag monitor's samples (t, partition, committed_offset, lag…); ``summary``: a run's
:class:`~kafkabp.result.Summary`; ``ledger``: the ledger's report (exact counts from sequence numbers).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import pandas as pd

STALL_COLUMNS = ["stalled_s", "longest_stall_s"]


def stalls(partitions: pd.DataFrame, start: float = 0.0, end: float = math.inf) -> pd.DataFrame:
    """Per partition (index ``p0``…): ``stalled_s``, the seconds between samples in which its committed offset did not
    move although messages waited (lag above zero at both samples), and ``longest_stall_s``, the longest such stretch,
    from ``start`` s until ``end`` s. A consumer that keeps up moves its offset at every sample: 0 s."""
    rows = {}
    window = partitions[(partitions["t"] >= start) & (partitions["t"] <= end)] if len(partitions) else partitions
    for p, df in window.groupby("partition", sort=True) if len(window) else ():
        df = df.sort_values("t", kind="stable")
        t, offset, lag = df["t"].to_numpy(float), df["committed_offset"].to_numpy(), df["lag"].to_numpy()
        total = longest = run = 0.0
        for i in range(1, len(df)):
            if offset[i] == offset[i - 1] and lag[i] > 0 and lag[i - 1] > 0:
                step = float(t[i] - t[i - 1])
                total, run = total + step, run + step
                longest = max(longest, run)
            else:
                run = 0.0
        rows[f"p{int(p)}"] = {"stalled_s": total, "longest_stall_s": longest}
    return pd.DataFrame.from_dict(rows, orient="index", columns=STALL_COLUMNS).rename_axis("partition")


def fate_table(summary: Mapping[str, Any], ledger: Mapping[str, Any]) -> pd.DataFrame:
    """How every acknowledged message ended, one row per fate (column ``messages``), exactly: the retrying group's
    fates (first try, after N retries, dead-lettered, still in the retries), then from the ledger those still unread
    in the topic and those lost, and the ``total``, which equals the messages the broker acknowledged.

    A run without retries has one fate for everything processed, "processed". The ledger counts a dead-lettered
    message as handled: it left the pipeline on purpose and sits in the dead-letter topic."""
    fates = summary.get("fates")
    rows: dict[str, int] = dict(fates) if fates is not None else {"processed": int(ledger.get("processed_unique", 0))}
    rows["unread in the topic"] = int(ledger.get("unread", 0))
    # the ledger calls a message lost when nobody processed it and it is not in the topic: one still in the retries too
    rows["lost"] = max(0, int(ledger.get("lost", 0)) - int(rows.get("still retrying", 0)))
    rows["total"] = sum(rows.values())
    table = pd.DataFrame({"messages": pd.Series(rows, dtype="int64")}).rename_axis("fate")
    table.attrs["acknowledged"] = int(ledger.get("acknowledged", 0))
    table.attrs["exact"] = bool(ledger.get("exact", False))
    return table


def cpu_busy(summary: Mapping[str, Any]) -> float:
    """The share of one core the consumers' threads used: CPU per message × messages ÷ the run's seconds (NaN without
    a message or a duration)."""
    per_msg, consumed, duration = summary.get("consumer_cpu_us_per_msg"), summary.get("consumed"), summary.get("duration")
    if not consumed or not duration or per_msg is None or not math.isfinite(per_msg):
        return math.nan
    return float(per_msg) * 1e-6 * float(consumed) / float(duration)


def stalls_by_run(results: Sequence[Any], column: str = "longest_stall_s", start: float = 0.0) -> pd.DataFrame:
    """One column per run (its label), one row per partition: each run's ``column`` of :func:`stalls` from ``start``
    s on (after the group's start-up, when partitions are not committed yet)."""
    return pd.DataFrame({r.label: r.stalls(start)[column] for r in results}).fillna(0.0).rename_axis("partition")


def fates_by_run(results: Sequence[Any]) -> pd.DataFrame:
    """One row per run (its label), one column per fate: each run's :func:`fate_table` side by side (0 where a run
    had no such fate), the total last."""
    tables = [r.fate_table()["messages"] for r in results]
    table = pd.DataFrame({r.label: t for r, t in zip(results, tables)}).T.fillna(0).astype("int64")
    return table[sorted(table.columns, key=_fate_order)].rename_axis("run")


def _fate_order(fate: str) -> tuple[int, int]:
    """Fates in the order a message meets them: first try, after 1, 2… retries, dead-lettered, the rest, total."""
    if fate == "first try":
        return 0, 0
    if fate.startswith("after "):
        return 1, int(fate.split()[1])
    rest = ["dead-lettered", "still retrying", "unread in the topic", "lost", "total"]
    return 2, rest.index(fate) if fate in rest else len(rest) - 1


__all__ = ["STALL_COLUMNS", "cpu_busy", "fate_table", "fates_by_run", "stalls", "stalls_by_run"]

"""What a consumer fetched from the broker and never handed to the application (lesson 09), from librdkafka's
statistics (``Observe(stats_interval_ms=...)``; a run's ``Result.consumer_stats``, one snapshot per member).

librdkafka fetches ahead into a local queue. ``pause()`` throws that queue away for the paused partitions
(``rd_kafka_toppar_op_pause_resume`` purges the fetch queue) and ``resume()`` fetches again from the position of
the last message the application received: every byte purged is fetched twice. One snapshot tells, per member,

- **fetched**: ``rxmsgs`` / ``rxbytes`` per partition, every message received from the broker (``rxbytes`` counts
  each message's key and value bytes);
- **delivered**: ``app_offset`` − the partition's first offset (kafkabp's topics are new: 0), the messages handed
  to the application, and the bytes at the partition's average size;
- **queued**: ``fetchq_cnt``, fetched and waiting. A group consumer's partition queues all forward to one consumer
  queue and librdkafka reports that queue's length for each partition (``rd_kafka_q_len`` follows the forward), so
  it is counted once per member, not once per partition;
- **discarded** = fetched − delivered − queued: fetched and thrown away (by ``pause()``, or a rebalance that moved
  the position back), to be fetched again.

A fetch response that arrives after the pause is dropped before its messages are counted (``rx_ver_drops``
counts those responses, not their bytes), so *discarded* is a lower bound. The counters are read one after the
other by librdkafka's thread while the application consumes, so a snapshot can be off by a batch in flight.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import pandas as pd

COLUMNS = ["fetched_messages", "delivered_messages", "queued_messages", "discarded_messages", "fetched_mb",
           "delivered_mb", "discarded_mb", "dropped_responses"]


def member_accounting(stats: Mapping[str, Any], topic: str, start: Mapping[int, int] | None = None) -> dict[str, float]:
    """One member's snapshot: fetched, delivered, queued and discarded messages and MB, dropped fetch responses.

    ``start``: per partition, the first offset the member read (default 0: from the start of a new topic).
    """
    parts = {int(p): v for p, v in stats.get("topics", {}).get(topic, {}).get("partitions", {}).items() if int(p) >= 0}
    fetched = delivered = dropped = 0
    fetched_bytes = delivered_bytes = 0.0
    queued = 0
    for p, v in parts.items():
        rx, rx_bytes = int(v.get("rxmsgs", 0)), int(v.get("rxbytes", 0))
        first = (start or {}).get(p, 0)
        app = int(v.get("app_offset", -1001))
        got = max(0, app - first) if app >= 0 else 0
        fetched, delivered, dropped = fetched + rx, delivered + got, dropped + int(v.get("rx_ver_drops", 0))
        fetched_bytes += rx_bytes
        delivered_bytes += got * (rx_bytes / rx if rx else 0.0)
        queued = max(queued, int(v.get("fetchq_cnt", 0)))  # the one consumer queue, reported for every partition
    discarded = fetched - delivered - queued
    per_message = fetched_bytes / fetched if fetched else 0.0
    return {"fetched_messages": fetched, "delivered_messages": delivered, "queued_messages": queued,
            "discarded_messages": discarded, "fetched_mb": fetched_bytes / 1e6, "delivered_mb": delivered_bytes / 1e6,
            "discarded_mb": discarded * per_message / 1e6, "dropped_responses": dropped}


def accounting(stats: Iterable[Mapping[str, Any]], topic: str, start: Mapping[int, int] | None = None) -> pd.Series:
    """:func:`member_accounting` summed over the members' snapshots (``Result.consumer_stats``). A run without
    statistics measured nothing: a ValueError says how to ask for them."""
    rows = [member_accounting(s, topic, start) for s in stats if s]
    if not rows:
        raise ValueError("no librdkafka statistics in this run: run it with kafkabp.Observe(stats_interval_ms=500)")
    return pd.DataFrame(rows, columns=COLUMNS).sum()


def refetch(result: Any) -> pd.Series:
    """A run's :func:`accounting` (its members' last statistics, its topic)."""
    return accounting(result.consumer_stats, result.topic)


__all__ = ["COLUMNS", "accounting", "member_accounting", "refetch"]

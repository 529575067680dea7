"""Solutions to the exercises of lesson 15, "Replication backpressure".

Exercise (≈ 10 min): how long was a topic under-replicated?
    Write ``time_under_replicated(timeline, topic)``: the seconds during which ``topic`` had at least one
    under-replicated partition, from an ``ISRWatch.isr_timeline()`` frame (one row per sample and topic: ``t``,
    ``topic``, ``min_isr``, ``replicas``, ...). Each sample stands for the time until the next one.

Bonus: ``acks_all_accepts(replication_factor, min_insync, brokers_down)`` is the leader's rule the lesson's slider
applies, and ``verify(...)`` freezes a follower on the local three-node cluster under a replication throttle and
measures how long each of two topics stayed under-replicated.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pandas as pd

import kafkabp


def time_under_replicated(timeline: pd.DataFrame, topic: str) -> float:
    """Seconds during which ``topic`` had at least one under-replicated partition (``min_isr < replicas``).

    A sample describes the state from its ``t`` until the next sample's ``t``; the last sample starts no interval
    (we do not know how long its state lasted).

    >>> probe = pd.DataFrame({"t": [0.0, 1.0, 2.0, 3.5, 4.0], "topic": "x", "min_isr": [3, 2, 2, 3, 3], "replicas": 3})
    >>> time_under_replicated(probe, "x")
    2.5
    >>> time_under_replicated(probe, "y")
    0.0
    """
    rows = timeline[timeline["topic"] == topic].sort_values("t")
    if len(rows) < 2:
        return 0.0
    t = rows["t"].to_numpy(dtype=float)
    under = (rows["min_isr"] < rows["replicas"]).to_numpy()[:-1]
    return float(((t[1:] - t[:-1]) * under).sum())


def acks_all_accepts(replication_factor: int, min_insync: int, brokers_down: int) -> bool:
    """Whether a partition's leader accepts an ``acks=all`` write with ``brokers_down`` of its replicas' brokers
    gone (the rest in sync): the ISR must hold at least ``min(min.insync.replicas, replication factor)``
    replicas (Kafka's ``Partition.effectiveMinIsr``), and the leader must be one of them."""
    if replication_factor < 1 or min_insync < 1 or brokers_down < 0:
        raise ValueError("need replication_factor >= 1, min_insync >= 1 and brokers_down >= 0")
    in_sync = replication_factor - min(brokers_down, replication_factor)
    return in_sync >= 1 and in_sync >= min(min_insync, replication_factor)


def verify(*, throttle: int = 50_000, rate: int = 500, message_size: int = 1_000, freeze: float = 6.0,
           after: float = 4.0) -> dict[str, Any]:
    """Freeze a follower of two topics, one under a replication throttle, and measure the time each was
    under-replicated with :func:`time_under_replicated`. Needs the local cluster (``kafkabp.ensure_cluster(3)``).
    Returns the seconds per topic ("throttled", "plain") and the watch's timeline."""
    nodes = kafkabp.replication.nodes()
    controller = kafkabp.quorum_leader()
    victim = max(n for n in nodes if n != controller)
    via = min(n for n in nodes if n != victim)
    throttled = kafkabp.replicated_topic(partitions=2, follower_only=victim)
    plain = kafkabp.replicated_topic(partitions=2, follower_only=victim)
    kafkabp.set_replication_throttle(throttle, throttled)
    watch = kafkabp.ISRWatch(throttled, plain, via=via)
    producers = [kafkabp.RateProducer(t, rate, message_size=message_size, config={"acks": 1}, name=f"verify15-{i}")
                 for i, t in enumerate((throttled, plain))]
    try:
        for p in producers:
            watch.follow(p)
        watch.start()
        for p in producers:
            p.start()
        time.sleep(2)
        kafkabp.pause_node(victim)
        time.sleep(freeze)
        kafkabp.resume_node(victim)
        time.sleep(after)
    finally:
        kafkabp.resume_node(victim)
        for p in producers:
            p.stop()
        watch.stop()
        kafkabp.remove_replication_throttle()
    timeline = watch.isr_timeline()
    for t in (throttled, plain):
        kafkabp.delete_topic(t)
    return {"throttled": time_under_replicated(timeline, throttled), "plain": time_under_replicated(timeline, plain),
            "timeline": timeline, "victim": victim, "window": freeze + after + 2, "min_isr_seen": math.nan
            if timeline.empty else int(timeline["min_isr"].min())}

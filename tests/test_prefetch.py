"""What a consumer fetched and threw away, from librdkafka's statistics (kafkabp.prefetch, lesson 09 part 3b)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from kafkabp import prefetch

TOPIC = "orders"


def _stats(partitions: dict[int, dict[str, int]], topic: str = TOPIC) -> dict[str, Any]:
    """A librdkafka statistics snapshot with only what kafkabp.prefetch reads (plus the internal partition -1)."""
    parts = {str(p): v for p, v in partitions.items()}
    parts["-1"] = {"rxmsgs": 0, "rxbytes": 0, "app_offset": -1001, "fetchq_cnt": 999}
    return {"topics": {topic: {"partitions": parts}}}


def _partition(rx: int, app: int, queued: int, size: int = 100, drops: int = 0) -> dict[str, int]:
    return {"rxmsgs": rx, "rxbytes": rx * size, "app_offset": app, "fetchq_cnt": queued, "rx_ver_drops": drops}


def test_nothing_is_thrown_away_when_fetched_is_delivered_plus_queued() -> None:
    # both partitions report the one consumer queue (500 messages): counted once, not twice
    got = prefetch.member_accounting(_stats({0: _partition(1_000, 700, 500), 1: _partition(800, 600, 500)}), TOPIC)
    assert got["fetched_messages"] == 1_800 and got["delivered_messages"] == 1_300 and got["queued_messages"] == 500
    assert got["discarded_messages"] == 0 and got["discarded_mb"] == 0
    assert got["fetched_mb"] == pytest.approx(0.18) and got["delivered_mb"] == pytest.approx(0.13)


def test_a_purged_prefetch_is_discarded_and_valued_at_the_partitions_message_size() -> None:
    # partition 0 fetched 3,000 of 10 kB, handed out 1,000, 200 still queued: 1,800 thrown away (18 MB)
    got = prefetch.member_accounting(_stats({0: _partition(3_000, 1_000, 200, size=10_000, drops=4)}), TOPIC)
    assert got["discarded_messages"] == 1_800
    assert got["discarded_mb"] == pytest.approx(18.0) and got["delivered_mb"] == pytest.approx(10.0)
    assert got["dropped_responses"] == 4


def test_start_offsets_and_partitions_not_consumed_yet() -> None:
    stats = _stats({0: _partition(500, 1_500, 0), 1: _partition(0, -1001, 0)})
    got = prefetch.member_accounting(stats, TOPIC, start={0: 1_000})
    assert got["delivered_messages"] == 500 and got["discarded_messages"] == 0
    assert prefetch.member_accounting(stats, "another topic")["fetched_messages"] == 0


def test_members_are_summed_and_a_run_without_statistics_says_how_to_get_them() -> None:
    one = _stats({0: _partition(300, 100, 0)})
    total = prefetch.accounting([one, one, {}], TOPIC)
    assert total["fetched_messages"] == 600 and total["discarded_messages"] == 400
    assert list(total.index) == prefetch.COLUMNS
    run = SimpleNamespace(consumer_stats=[one], topic=TOPIC)
    assert prefetch.refetch(run)["discarded_messages"] == 200
    with pytest.raises(ValueError, match=r"Observe\(stats_interval_ms=500\)"):
        prefetch.refetch(SimpleNamespace(consumer_stats=[], topic=TOPIC))


def test_a_members_prefetch_is_its_one_consumer_queue_not_a_sum_over_partitions() -> None:
    # librdkafka reports the member's consumer queue (62.9 MB here) for each of its partitions
    from kafkabp.workload.consumer import ConsumerGroup

    group = ConsumerGroup(TOPIC, "g", 0, stats_interval_ms=500)
    queue = {"fetchq_size": 62_940_000}
    group.workers = [SimpleNamespace(stats=_stats({0: {**_partition(10, 5, 0), **queue}, 1: {**_partition(10, 5, 0), **queue}})),
                     SimpleNamespace(stats=_stats({2: {**_partition(10, 5, 0), "fetchq_size": 1_000}}))]
    assert group.prefetched_bytes() == 62_941_000


def test_a_members_statistics_are_its_last_before_close_which_empties_the_fetch_queue() -> None:
    # librdkafka serves callbacks while close() leaves the group, after unassigning purged the queue: a snapshot
    # then reads 0 queued and every prefetched message as thrown away (lesson 09's "no pause" member, 6,507)
    import json

    from kafkabp.workload.consumer import ConsumerGroup, Worker

    worker = Worker(ConsumerGroup(TOPIC, "g", 0, stats_interval_ms=500), 0)

    class Closing:  # a client whose close() emits one more snapshot, as librdkafka's can
        def close(self) -> None:
            worker._on_stats(json.dumps(_stats({0: _partition(7_007, 500, 0)})))

    worker._on_stats(json.dumps(_stats({0: _partition(7_007, 500, 6_507)})))
    worker.consumer = Closing()
    worker._close()
    assert prefetch.member_accounting(worker.stats, TOPIC)["discarded_messages"] == 0
    assert worker.closing

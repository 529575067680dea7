"""Key-ordered parallel processing (the Parallel Consumer design) and real-code handlers, on the real broker."""

from __future__ import annotations

import json
import threading

import pytest

import kafkabp
from kafkabp.workload.parallel import KeyOrderedPool, PrefixTracker


def test_prefix_tracker_commits_only_the_contiguous_done_prefix() -> None:
    t = PrefixTracker()
    for off in range(10, 15):
        t.handed_out(0, off)
    t.finished(0, 11)
    t.finished(0, 12)
    assert t.advance() == {}  # 10 is not done: nothing may be committed past it
    t.finished(0, 10)
    assert t.advance() == {0: 13}  # 10, 11, 12 done: the next to read is 13
    t.finished(0, 14)
    assert t.advance() == {}
    t.finished(0, 13)
    assert t.advance() == {0: 15}


def test_the_in_flight_bound_is_200_per_thread_as_lesson_04_says() -> None:
    """Lesson 04 measures its hot key's rate once 200 x 16 messages are in flight: the pool's default bound."""
    pool = KeyOrderedPool(16, lambda msg: True, "bound")
    try:
        assert pool.max_in_flight == 200 * 16
    finally:
        pool.close()


def test_parallel_must_be_a_positive_whole_number() -> None:
    with pytest.raises(ValueError, match="parallel"):
        kafkabp.ConsumerGroup("t", "g", 1, parallel=0)


@pytest.mark.integration
def test_sixteen_threads_on_one_partition_keep_key_order_and_lose_nothing(kafka_bootstrap: str) -> None:
    """One partition, 5 ms I/O per message: 16 key-ordered threads beat one by far; a stop mid-run loses nothing."""
    common = dict(rate=0, producer=kafkabp.Producer(backlog=12_000, keys="uniform"), consumers=1, partitions=1,
                  processing=kafkabp.fixed(0.005), progress=False)
    one = kafkabp.run_experiment(4, group=kafkabp.Group(parallel=1), **common)
    many = kafkabp.run_experiment(7, group=kafkabp.Group(parallel=16), actions=[(3.0, lambda e: e.scale(0)), (3.5, lambda e: e.scale(1))],
                                  **common)
    assert many.summary["order_violations"] == 0, many.summary
    assert many.summary["counts_exact"] and many.summary["lost"] == 0, many.ledger
    rate_one = one.throughput(1.0)["rate"].iloc[1:-1].median()
    rate_many = many.throughput(1.0)["rate"].iloc[1:3].median()
    assert rate_many > 5 * rate_one, (rate_one, rate_many)  # 16x in theory; a busy 2-core machine gives less
    # this test's own threads (a thread another test on this pytest worker left behind is that test's to answer for:
    # tests/conftest.py lists those in build/test-artifacts/leftover-threads.txt)
    left = [t.name for t in threading.enumerate() if t.is_alive() and any(r.group in t.name for r in (one, many))]
    assert not left, f"threads left running after the experiments: {left}"


@pytest.mark.integration
def test_handlers_run_real_code_on_the_payload(kafka_bootstrap: str) -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def total(payload: bytes) -> None:
        order = json.loads(payload)
        with lock:
            seen.append(order["order_id"])

    orders = kafkabp.Producer(payloads=kafkabp.orders(50))
    r = kafkabp.run_experiment(3, rate=500, consumers=1, partitions=2, producer=orders,
                               processing=kafkabp.handler(total), progress=False)
    assert r.summary["lost"] == 0 and r.summary["consumed"] == len(seen) > 500, r.summary
    assert all(s.startswith("ord-") for s in seen)
    batches: list[int] = []
    r = kafkabp.run_experiment(3, rate=500, consumers=1, partitions=2, producer=orders,
                               processing=kafkabp.batch_handler(lambda ps: batches.append(len(ps))), progress=False)
    assert sum(batches) == r.summary["consumed"] > 500 and len(batches) < r.summary["consumed"]


def test_orders_are_about_a_kilobyte_of_json() -> None:
    payloads = kafkabp.orders(200)
    sizes = [len(p) for p in payloads]
    assert 700 < sum(sizes) / len(sizes) < 1300
    assert json.loads(payloads[0])["order_id"] == "ord-000000000"
    with pytest.raises(ValueError, match="n must be"):
        kafkabp.orders(0)

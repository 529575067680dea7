"""Exact counting from sequence numbers (no broker): decoding, ranges, lost vs unread vs duplicated."""

from __future__ import annotations

import numpy as np

from kafkabp.ledger import HEADER_SIZE, Ledger, decode, prefix, ranges


def _values(pid: int, seqs: list[int], size: int = 100) -> list[bytes]:
    pad = b"x" * (size - HEADER_SIZE)
    return [prefix(pid) + s.to_bytes(8, "big") + pad for s in seqs]


def test_decode_a_batch_of_equal_sizes_and_of_mixed_sizes() -> None:
    pids, seqs = decode(_values(3, [0, 7, 2**40]))
    assert pids.tolist() == [3, 3, 3] and seqs.tolist() == [0, 7, 2**40]
    mixed = _values(1, [5], size=12) + _values(2, [6], size=50) + [b"not ours", None]
    pids, seqs = decode(mixed)
    assert pids.tolist() == [1, 2] and seqs.tolist() == [5, 6]


def test_decode_skips_foreign_values_of_the_same_size() -> None:
    vals = _values(0, [1, 2]) + [b"y" * 100]
    pids, seqs = decode(vals)
    assert seqs.tolist() == [1, 2]


def test_ranges_join_consecutive_numbers() -> None:
    assert ranges(np.array([9, 3, 4, 5], np.uint64)) == [(3, 5), (9, 9)]
    assert ranges(np.array([], np.uint64)) == []


def test_report_separates_lost_unread_failed_and_duplicated() -> None:
    ledger = Ledger()
    a, b = ledger.register("a"), ledger.register("b")
    ledger.produced(a, 10)
    ledger.produced(b, 5)
    ledger.failed(a, 9)  # never acknowledged: neither lost nor unread
    assert ledger.record(_values(a, [0, 1, 2, 3, 4, 5]) + _values(b, [0, 1, 2, 3, 4])) == 11
    ledger.record(_values(a, [3, 4]))  # redelivered after a rebalance
    ledger.record_unread(_values(a, [7, 8]))  # still waiting after the committed offset
    ledger.unread_scanned = True
    r = ledger.report()
    assert r["acknowledged"] == 14 and r["processed"] == 13 and r["processed_unique"] == 11
    assert r["duplicates"] == 2 and r["redelivered"] == {"a": [(3, 4)]}
    assert r["unread"] == 2 and r["lost"] == 1 and r["lost_ranges"] == {"a": [(6, 6)]}
    assert r["exact"] is True


def test_report_is_not_exact_until_the_unread_tail_was_read() -> None:
    ledger = Ledger()
    a = ledger.register("a")
    ledger.produced(a, 3)
    ledger.record(_values(a, [0]))
    r = ledger.report()
    assert r["exact"] is False and r["lost"] == 2  # lost or unread: cannot tell yet
    assert ledger.foreign == 0


def test_counts_grow_past_the_initial_array() -> None:
    ledger = Ledger()
    a = ledger.register("a")
    ledger.produced(a, 100_000)
    ledger.record(_values(a, list(range(0, 100_000, 2))))
    ledger.unread_scanned = True
    r = ledger.report()
    assert r["processed_unique"] == 50_000 and r["lost"] == 50_000
    assert r["lost_ranges"]["a"][:2] == [(1, 1), (3, 3)]

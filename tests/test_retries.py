"""Lesson 16's machinery: a simulated dependency (heavy tail, failures, poison, timeout), retry policies, the exact
fate of every message, the analyses of a run; and, on the broker, the three policies routing a poison message."""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import pandas as pd
import pytest

import kafkabp
from kafkabp import blocking
from kafkabp.ledger import HEADER
from kafkabp.workload.dependency import CallTimeout, DependencyError, PoisonMessage
from kafkabp.workload.retry import DEAD, Fates, fate_name, identity
from kafkabp.workload.retrying import FAILED, failures


def value(seq: int, pid: int = 0) -> bytes:
    return HEADER.pack(b"KB", pid, seq) + b"payload"


# ---------------------------------------------------------------- the dependency
def test_a_dependency_checks_its_settings_with_the_fix_named() -> None:
    with pytest.raises(ValueError, match="fraction from 0 to 1"):
        kafkabp.Dependency(tail_fraction=1.5)
    with pytest.raises(ValueError, match="fraction from 0 to 1"):
        kafkabp.Dependency(failure_rate=-0.1)
    with pytest.raises(ValueError, match="seconds > 0"):
        kafkabp.Dependency(timeout=0)
    with pytest.raises(ValueError, match="seconds >= 0"):
        kafkabp.Dependency(seconds=math.inf)
    with pytest.raises(ValueError, match="attempts"):
        kafkabp.Dependency(attempts=0)


def test_mean_and_capacity_count_the_tail() -> None:
    dep = kafkabp.Dependency(seconds=0.02, tail_fraction=0.01, tail_seconds=2.0)
    assert dep.mean_seconds() == pytest.approx(0.99 * 0.02 + 0.01 * 2.0)
    assert dep.capacity(4) == pytest.approx(4 / dep.mean_seconds())
    assert math.isinf(kafkabp.Dependency(seconds=0).capacity())
    assert "1% take 2 s" in str(dep) and "timeout 100 ms" in str(dep.replace(timeout=0.1))


def test_a_call_waits_its_latency_and_a_timeout_cuts_the_tail() -> None:
    slow = kafkabp.Dependency(seconds=0.0, tail_fraction=1.0, tail_seconds=0.2)
    began = time.monotonic()
    assert slow(b"ok") == pytest.approx(0.2)
    assert time.monotonic() - began >= 0.19
    cut = slow.replace(timeout=0.02, attempts=2)
    began = time.monotonic()
    with pytest.raises(CallTimeout, match="0.02 s"):
        cut(b"ok")
    assert 0.035 <= time.monotonic() - began < 0.15  # two attempts of 20 ms, never the 200 ms tail


def test_failures_are_transient_at_their_rate_and_poison_always_fails() -> None:
    dep = kafkabp.Dependency(seconds=0.0, failure_rate=0.2, seed=3)
    failed = 0
    for _ in range(2_000):
        try:
            dep(b"ok")
        except DependencyError:
            failed += 1
    assert 300 <= failed <= 500  # 20 % of 2,000, give or take
    retried, gave_up = kafkabp.Dependency(seconds=0.0, failure_rate=0.2, seed=3, attempts=3), 0
    for _ in range(1_000):
        try:
            retried(b"ok")
        except DependencyError:
            gave_up += 1
    assert gave_up <= 20  # three failures in a row: 0.2³ = 0.8 %, not 20 %
    with pytest.raises(PoisonMessage):
        kafkabp.Dependency(seconds=0.0, attempts=10)(b"POISON and the rest")


def test_poison_payloads_mark_exactly_the_indexes_given() -> None:
    payloads = kafkabp.poison_payloads(10, [0, 7], size=20)
    assert [p.startswith(b"POISON") for p in payloads] == [i in (0, 7) for i in range(10)]
    assert {len(p) for p in payloads} == {20}
    with pytest.raises(ValueError, match="from 0 to 9"):
        kafkabp.poison_payloads(10, [10])
    with pytest.raises(ValueError, match="count"):
        kafkabp.poison_payloads(0, [])


# ---------------------------------------------------------------- policies and specs
def test_retries_check_their_settings_and_name_their_topics() -> None:
    with pytest.raises(ValueError, match="'naive', 'topics', 'per_key'"):
        kafkabp.Retries("sometimes")
    with pytest.raises(ValueError, match="1 to 10 numbers"):
        kafkabp.Retries(delays=())
    with pytest.raises(ValueError, match="backoff"):
        kafkabp.Retries("naive", backoff=0)
    assert kafkabp.Retries("topics").topics("t") == ["t-retry-1", "t-retry-2", "t-retry-3"]
    assert kafkabp.Retries("per_key").topics("t") == ["t-retry"]
    assert kafkabp.Retries("naive").topics("t") == [] and kafkabp.Retries("naive").blocking
    assert kafkabp.Retries(delays=[1, 2]).delays == (1.0, 2.0) and kafkabp.Retries(delays=(1, 2)).worst_delay() == 3
    assert math.isinf(kafkabp.Retries("naive").worst_delay())


def test_group_takes_retries_only_where_they_work() -> None:
    assert kafkabp.Group(retries=kafkabp.Retries()).retries.mode == "topics"
    with pytest.raises(TypeError, match="kafkabp.Retries"):
        kafkabp.Group(retries="topics")
    with pytest.raises(ValueError, match="one message at a time"):
        kafkabp.Group(retries=kafkabp.Retries(), parallel=4)
    with pytest.raises(ValueError, match="key_count"):
        kafkabp.Producer(keys="uniform", key_count=0)
    assert kafkabp.Producer(keys="uniform", key_count=40).key_count == 40


def test_a_retrying_group_needs_a_handler_that_raises() -> None:
    from kafkabp.workload.retrying import RetryGroup

    with pytest.raises(ValueError, match="handler that raises"):
        RetryGroup("t", "g", 1, kafkabp.fixed(0.001), retries=kafkabp.Retries())
    with pytest.raises(TypeError, match="kafkabp.Retries"):
        RetryGroup("t", "g", 1, kafkabp.handler(kafkabp.Dependency()), retries="naive")


def test_the_failure_count_travels_in_a_header() -> None:
    assert failures(SimpleNamespace(headers=lambda: [(FAILED, b"3"), ("other", b"x")])) == 3
    assert failures(SimpleNamespace(headers=lambda: None)) == 0


# ---------------------------------------------------------------- fates
def test_fates_count_each_message_once_by_how_it_ended() -> None:
    fates = Fates()
    for seq in range(5):
        fates.processed(value(seq), b"k%d" % seq, 0)
    fates.failed(value(5))
    fates.sent(value(5))
    fates.sent(value(6))
    fates.processed(value(5), b"k5", 2)
    fates.dead_lettered(value(7))
    assert fates.counts() == {"first try": 5, "after 2 retries": 1, "dead-lettered": 1, "still retrying": 1}
    assert fates.failed_attempts == 1 and fate_name(1) == "after 1 retry" and fate_name(DEAD) == "dead-lettered"
    fates.processed(b"no header", b"k", 0)
    assert fates.foreign == 1 and identity(b"no header") is None and identity(value(9, pid=2)) == (2, 9)


def test_an_order_violation_is_a_message_processed_after_a_later_one_of_its_key() -> None:
    fates = Fates()
    for seq, key in [(1, b"a"), (3, b"a"), (2, b"a"), (0, b"a"), (4, b"b"), (5, b"a")]:
        fates.processed(value(seq), key, 0)
    assert fates.order_violations == 2  # 2 and 0 came after 3
    fates.dead_lettered(value(0))  # a dead-lettered message is not processed: no order to keep
    fates.processed(value(10), None, 0)  # no key, no order
    assert fates.order_violations == 2
    assert fates.summary()["order_violations"] == 2


# ---------------------------------------------------------------- analyses
def test_stalls_count_seconds_the_offset_stood_still_while_messages_waited() -> None:
    frame = pd.DataFrame({
        "t": [0.0, 1.0, 2.0, 3.0, 4.0] * 2,
        "partition": [0] * 5 + [1] * 5,
        "committed_offset": [10, 20, 20, 20, 30] + [5, 5, 5, 5, 5],
        "lag": [3, 5, 9, 12, 2] + [0, 0, 4, 4, 0],
    })
    table = blocking.stalls(frame)
    assert table.loc["p0"].tolist() == [2.0, 2.0]
    assert table.loc["p1"].tolist() == [1.0, 1.0]  # no lag, no stall: only 2 s -> 3 s waited
    assert blocking.stalls(frame, start=2.5).loc["p0", "stalled_s"] == 0.0
    assert blocking.stalls(frame.iloc[:0]).empty


def test_the_fate_table_adds_up_to_every_acknowledged_message() -> None:
    summary = {"fates": {"first try": 90, "after 1 retry": 6, "dead-lettered": 1, "still retrying": 0}}
    ledger = {"acknowledged": 100, "unread": 3, "lost": 0, "exact": True, "processed_unique": 97}
    table = blocking.fate_table(summary, ledger)
    assert table["messages"].to_dict() == {"first try": 90, "after 1 retry": 6, "dead-lettered": 1,
                                           "still retrying": 0, "unread in the topic": 3, "lost": 0, "total": 100}
    assert table.attrs == {"acknowledged": 100, "exact": True}
    plain = blocking.fate_table({"fates": None}, {"processed_unique": 7, "unread": 1, "lost": 2})
    assert plain["messages"].to_dict() == {"processed": 7, "unread in the topic": 1, "lost": 2, "total": 10}
    stuck = blocking.fate_table({"fates": {"still retrying": 2}}, {"lost": 2})
    assert stuck.loc["lost", "messages"] == 0  # in the retries, not lost


def test_cpu_busy_is_cpu_seconds_over_the_run() -> None:
    assert blocking.cpu_busy({"consumer_cpu_us_per_msg": 50.0, "consumed": 2_000, "duration": 10.0}) == \
        pytest.approx(0.01)
    assert math.isnan(blocking.cpu_busy({"consumer_cpu_us_per_msg": math.nan, "consumed": 0, "duration": 1.0}))


def test_the_summary_shows_retry_counts_only_for_a_group_with_retries() -> None:
    from kafkabp.result import Summary

    assert "fates" not in Summary() and "acks" not in Summary()
    with_fates = Summary(fates={"first try": 1}, retry_counts={"failed_attempts": 0})
    assert with_fates["fates"] == {"first try": 1} and "retry_counts" in with_fates and "acks" not in with_fates


def _run(label: str, stalled: dict[str, float], fates: dict[str, int]) -> SimpleNamespace:
    table = pd.DataFrame({"stalled_s": stalled, "longest_stall_s": stalled}).rename_axis("partition")
    ledger = {"acknowledged": sum(fates.values()), "unread": 0, "lost": 0, "exact": True}
    return SimpleNamespace(label=label, timeline=None, stalls=lambda start=0.0: table,
                           fate_table=lambda: blocking.fate_table({"fates": fates}, ledger))


def test_runs_side_by_side_in_tables_and_figures() -> None:
    from kafkabp import lesson_plots

    naive = _run("naive", {"p0": 12.0, "p1": 0.0}, {"first try": 900})
    topics = _run("topics", {"p0": 0.5, "p1": 0.0}, {"first try": 880, "after 1 retry": 19, "dead-lettered": 1})
    stalls = blocking.stalls_by_run([naive, topics])
    assert stalls.to_dict() == {"naive": {"p0": 12.0, "p1": 0.0}, "topics": {"p0": 0.5, "p1": 0.0}}
    fates = blocking.fates_by_run([naive, topics])
    assert fates.loc["naive", "after 1 retry"] == 0 and fates.loc["topics", "dead-lettered"] == 1
    assert list(fates.columns) == ["first try", "after 1 retry", "dead-lettered", "unread in the topic", "lost",
                                   "total"], fates.columns
    assert fates["total"].tolist() == [900, 900]
    bars = lesson_plots.stalls_figure([naive, topics])
    assert [t.name for t in bars.data] == ["naive", "topics"] and list(bars.data[0].y) == [12.0, 0.0]
    fig = lesson_plots.fates_figure([naive, topics])
    assert "total" not in fig.data[0].x and fig.layout.yaxis.type == "log"


# ---------------------------------------------------------------- routing, without a broker
class _Msg:
    """A stand-in for confluent-kafka's Message: what the router and the stages read."""

    def __init__(self, seq: int, key: bytes, failed: int = 0, written: float | None = None) -> None:
        self.seq, self._key, self._failed = seq, key, failed
        self._written = time.time() if written is None else written

    def value(self) -> bytes:
        return value(self.seq)

    def key(self) -> bytes:
        return self._key

    def headers(self) -> list[tuple[str, bytes]]:
        return [(FAILED, str(self._failed).encode())]

    def timestamp(self) -> tuple[int, int]:
        return 1, int(self._written * 1000)


class _Producer:
    def __init__(self, conf: dict) -> None:
        self.sent: list[tuple[str, int, int]] = []  # topic, sequence, failures

    def produce(self, topic: str, value: bytes, key: bytes, headers: list, on_delivery: object) -> None:
        self.sent.append((topic, identity(value)[1], int(dict(headers)[FAILED])))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


def _group(mode: str, fails: dict[int, int], delays: tuple[float, ...] = (0.0, 0.0)) -> SimpleNamespace:
    """A stand-in for a RetryGroup: the policy, fates, a router with a fake producer, and a handler that fails
    message ``seq`` its first ``fails[seq]`` times (-1: always)."""
    from kafkabp.workload import retrying

    tries: dict[int, int] = {}
    g = SimpleNamespace(topic="t", group="g", retries=kafkabp.Retries(mode, delays=delays), fates=Fates(), ledger=None,
                        events=SimpleNamespace(add=lambda *a, **k: None), processed=[])

    def attempt(msg: _Msg, failed: int) -> str | None:
        tries[msg.seq] = tries.get(msg.seq, 0) + 1
        if fails.get(msg.seq, 0) == -1 or tries[msg.seq] <= fails.get(msg.seq, 0):
            g.fates.failed(msg.value())
            return "DependencyError: no"
        g.fates.processed(msg.value(), msg.key(), failed)
        g.processed.append(msg.seq)
        return None

    g.attempt = attempt
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(retrying, "Producer", _Producer)
        mp.setattr(retrying, "client_config", lambda: {})
        g.router = retrying.Router(g)  # type: ignore[arg-type]
    return g


def test_the_router_sends_each_failure_one_retry_topic_further_then_to_the_dead_letter_topic() -> None:
    g = _group("topics", {}, delays=(0.1, 0.2))
    g.router.route(_Msg(1, b"a"), 1, "err")
    g.router.route(_Msg(1, b"a"), 2, "err")
    g.router.route(_Msg(1, b"a"), 3, "err")
    assert g.router.producer.sent == [("t-retry-1", 1, 1), ("t-retry-2", 1, 2), ("t-dlt", 1, 3)]
    assert g.router.sent == [1, 1] and g.router.dead == 1
    assert g.fates.counts() == {"first try": 0, "dead-lettered": 1, "still retrying": 0}
    assert not g.router.hold(_Msg(2, b"a"))  # only per_key holds a key's later messages back


def test_per_key_retries_keep_each_keys_order_and_let_other_keys_pass() -> None:
    from kafkabp.workload.retrying import KeyedStage

    g = _group("per_key", {5: -1})  # message 1 failed once on the main topic, then works; message 5 is poison
    stage = KeyedStage(g, 0, "t-retry")  # type: ignore[arg-type]
    g.router.route(_Msg(1, b"a", failed=1), 1, "err")  # failed on the main topic
    assert g.router.hold(_Msg(2, b"a")) and not g.router.hold(_Msg(3, b"b"))  # a's next one follows it; b passes
    g.router.route(_Msg(5, b"c", failed=1), 1, "err")
    for m in (_Msg(1, b"a", failed=1), _Msg(2, b"a"), _Msg(5, b"c", failed=1)):
        stage._take(m)
    for _ in range(10):
        stage._tick()
    assert g.processed == [1, 2]  # in order: 2 waited for 1's retry
    assert g.router.producer.sent[-1] == ("t-dlt", 5, 3)  # the poison message, after its two retries
    assert stage.handled == 3 and not stage.queues and not g.router.hold(_Msg(4, b"a"))  # a is free again
    assert g.fates.counts() == {"first try": 1, "after 1 retry": 1, "dead-lettered": 1, "still retrying": 0}
    assert g.fates.held_back == 1 and g.fates.order_violations == 0


def test_a_retry_topic_stage_waits_until_a_message_is_due() -> None:
    from kafkabp.workload.retrying import Stage

    g = _group("topics", {7: 1}, delays=(0.15, 0.1))
    stage = Stage(g, 0, "t-retry-1")  # type: ignore[arg-type]
    began = time.monotonic()
    assert stage._take(_Msg(7, b"k", failed=1))  # fails again: on to the second retry topic
    assert time.monotonic() - began >= 0.12 and g.router.producer.sent == [("t-retry-2", 7, 2)]
    stage.stop_event.set()
    assert not stage._take(_Msg(8, b"k", failed=1, written=time.time() + 60))  # stopped before it was due


# ---------------------------------------------------------------- on the broker
@pytest.mark.integration
def test_three_policies_route_a_poison_message_and_count_every_fate(kafka_bootstrap: str) -> None:
    dep = kafkabp.Dependency(seconds=0.001, failure_rate=0.05, seed=1)
    producer = kafkabp.Producer(keys="uniform", key_count=20, payloads=kafkabp.poison_payloads(50_000, [300]))
    # three retries: a message that is not poison fails all four attempts once in 160,000 (0.05⁴)
    runs = {mode: kafkabp.Experiment(rate=200, consumers=2, partitions=2, processing=kafkabp.handler(dep.replace(seed=i)),
                                     producer=producer, label=mode,
                                     group=kafkabp.Group(retries=kafkabp.Retries(mode, delays=(0.1, 0.2, 0.3)),
                                                         commit_while_busy=mode == "naive", batch_size=20))
            for i, mode in enumerate(("naive", "topics", "per_key"))}
    with runs["naive"], runs["topics"], runs["per_key"]:  # 8 s: the naive group stalls from the poison (~1.5 s) to
        runs["naive"].wait(8, progress=False)          # the end, well past 2.5 s even when a loaded machine delays it
    res = {mode: e.result() for mode, e in runs.items()}
    for mode, r in res.items():
        table, s = r.fate_table()["messages"], r.summary
        assert s.counts_exact and table["lost"] == 0 and table["still retrying"] == 0, (mode, table)
        assert table["total"] == r.ledger["acknowledged"] == s.delivered, (mode, table, s)
        assert s.duplicates == 0, (mode, s)
    naive, topics, per_key = (res[m] for m in ("naive", "topics", "per_key"))
    assert naive.fate_table().loc["unread in the topic", "messages"] > 100  # behind the poison, on its partition
    assert naive.fate_table().loc["dead-lettered", "messages"] == 0 and naive.summary.order_violations == 0
    assert naive.stalls()["longest_stall_s"].max() >= 2.5
    for r in (topics, per_key):
        assert r.fate_table().loc["dead-lettered", "messages"] == 1, (r.label, r.fate_table(), r.summary.retry_counts)  # the poison message
        assert r.fate_table().loc["after 1 retry", "messages"] > 0
        assert r.stalls()["longest_stall_s"].max() < 2.5, r.stalls()
    assert topics.summary.order_violations > 0 and per_key.summary.order_violations == 0
    assert per_key.summary.retry_counts["held_back"] > 0

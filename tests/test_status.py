"""Burrow's status rules (ported from linkedin/Burrow caching_test.go) and kafka-lag-exporter's time lag
(ported from LookupTableSpec.scala), plus sampled windows with repeated offsets. No broker needed."""

from __future__ import annotations

import math

import pytest

from kafkabp import status as st
from kafkabp.status import (
    STATUS_MEANING,
    OffsetSample,
    Status,
    TimeLagTable,
    commits_from_samples,
    evaluate_commits,
    group_status,
    partition_status,
)


def commits(rows: list[tuple[int, int, int]]) -> list[OffsetSample]:
    """Burrow test rows (offset, timestamp in ms, lag) as samples in seconds."""
    return [OffsetSample(ts_ms / 1000, offset, lag) for offset, ts_ms, lag in rows]


STEADY_ZERO_FIRST = [(1000, 100000, 0), (2000, 200000, 50), (3000, 300000, 100), (4000, 400000, 150),
                     (5000, 500000, 200)]
STEADY_NONZERO = [(1000, 100000, 50), (2000, 200000, 100), (3000, 300000, 150), (4000, 400000, 200),
                  (5000, 500000, 250)]
SAME_OFFSET_ZERO_FIRST = [(1000, t, lag) for t, lag in zip(range(100000, 500001, 100000), range(0, 201, 50))]
SAME_OFFSET_GROWING = [(1000, t, lag) for t, lag in zip(range(100000, 500001, 100000), range(100, 301, 50))]
SAME_OFFSET_SAME_LAG = [(1000, t, 100) for t in range(100000, 500001, 100000)]
REWOUND = [(1000, 100000, 100), (2000, 200000, 150), (3000, 300000, 200), (2000, 400000, 1250), (4000, 500000, 300)]
ISSUE_290_TIMES = [1512224618356, 1512224619362, 1512224620366, 1512224621367, 1512224622370, 1512224623373,
                   1512224624378, 1512224625379, 1512224626383, 1512224627383, 1512224628383, 1512224629388,
                   1512224630391, 1512224631394, 1512224632397]
CAUGHT_UP = [(792748079 + i, t, 0) for i, t in enumerate(ISSUE_290_TIMES)]

# Burrow caching_test.go `tests` (commit ced55ba), cases 0-10 and 12-15: window, broker offsets, current lag, time
# now (s), then the expected result of isLagAlwaysNotZero, checkIfOffsetsRewind (the index of the first rewind, -1:
# none), checkIfOffsetsStopped, checkIfOffsetsStalled, checkIfLagNotDecreasing, checkIfRecentLagZero, and the
# status; cases 12-15 also set allowed-lag (ALLOWED). Case 11 (entries with a nil lag) has no counterpart: a sample
# always knows its lag.
BURROW_CASES = [
    pytest.param(STEADY_ZERO_FIRST, [5200], 200, 600, (False, -1, False, False, True, False), Status.OK,
                 id="0-zero-lag-somewhere"),
    pytest.param(STEADY_ZERO_FIRST, [5200], 200, 900, (False, -1, False, False, True, False), Status.OK,
                 id="1-silence-equal-to-span-is-not-stop"),
    pytest.param(STEADY_ZERO_FIRST, [5200], 200, 1000, (False, -1, True, False, True, False), Status.STOP,
                 id="2-stop-despite-zero-lag-earlier"),
    pytest.param(STEADY_NONZERO, [5250], 250, 1000, (True, -1, True, False, True, False), Status.STOP,
                 id="3-stop-lag-always-nonzero"),
    pytest.param(SAME_OFFSET_ZERO_FIRST, [1200], 200, 600, (False, -1, False, True, True, False), Status.OK,
                 id="4-stalled-offsets-but-zero-lag"),
    pytest.param(SAME_OFFSET_GROWING, [1300], 300, 600, (True, -1, False, True, True, False), Status.STALL,
                 id="5-stall"),
    pytest.param(SAME_OFFSET_SAME_LAG, [1100], 100, 600, (True, -1, False, True, True, False), Status.STALL,
                 id="6-stall-level-lag"),
    pytest.param(REWOUND, [4300], 300, 600, (True, 3, False, False, False, False), Status.OK,
                 id="7-rewind-since-recovered-is-ok"),
    pytest.param(STEADY_NONZERO, [5250], 0, 1000, (True, -1, True, False, True, False), Status.OK,
                 id="8-no-current-lag"),
    pytest.param(CAUGHT_UP, [792749024, 792749000, 792748800, 792748600, 792748500], 931, 1512224650,
                 (False, -1, True, False, True, False), Status.STOP, id="9-stop-new-data-issue-290"),
    pytest.param(CAUGHT_UP, [792748094, 792748093, 792748093, 792748093], 1, 1512224650,
                 (False, -1, True, False, True, True), Status.OK, id="10-recent-zero-lag-issue-303"),
    pytest.param([(1000, 100000, 2), (2000, 200000, 1), (2000, 300000, 1)], [2001], 1, 550,
                 (False, -1, True, False, False, False), Status.OK, id="12-allowed-lag-beats-stop"),
    pytest.param(SAME_OFFSET_GROWING, [1300], 300, 600, (True, -1, False, True, True, False), Status.STALL,
                 id="13-stall-despite-allowed-lag"),
    pytest.param(REWOUND, [4300], 300, 600, (True, 3, False, False, False, False), Status.OK,
                 id="14-recovered-rewind-with-allowed-lag"),
    pytest.param(REWOUND[:4] + [(2500, 500000, 300)], [4300], 300, 600, (True, 3, False, False, False, False),
                 Status.REWIND, id="15-rewind-not-yet-recovered"),
]
ALLOWED = {"12": 1, "13": 99, "14": 99}


def allowed(request: pytest.FixtureRequest) -> int:
    return ALLOWED.get(request.node.callspec.id.split("-")[0], 0)


@pytest.mark.parametrize("rows, broker, current, now, rules, expected", BURROW_CASES)
def test_burrow_rules_one_by_one(rows, broker, current, now, rules, expected, request):
    window = commits(rows)
    got = (st._lag_always_nonzero(window, allowed(request)), st._rewind_index(window), st._stopped(window, now),
           st._stalled(window), st._lag_never_decreases(window), st._recent_lag_zero(window, broker))
    assert got == rules


@pytest.mark.parametrize("rows, broker, current, now, rules, expected", BURROW_CASES)
def test_burrow_status(rows, broker, current, now, rules, expected, request):
    got = evaluate_commits(commits(rows), now, current_lag=current, broker_offsets=broker, allowed_lag=allowed(request))
    assert got == expected


def sampled(window: list[OffsetSample], now: float, repeats: int = 4) -> list[OffsetSample]:
    """What ~0.5 s sampling sees of a commit window: each commit, then the same offset again with growing lag."""
    out = []
    for i, c in enumerate(window):
        until = window[i + 1].timestamp if i + 1 < len(window) else now
        out.append(c)
        out += [OffsetSample(c.timestamp + (until - c.timestamp) * k / (repeats + 1), c.committed_offset, c.lag + k)
                for k in range(1, repeats + 1)]
    return out


DISTINCT_COMMITS = [p for p in BURROW_CASES if p.id.split("-")[0] in {"0", "1", "2", "3", "7", "8", "9", "10", "15"}]


@pytest.mark.parametrize("rows, broker, current, now, rules, expected", DISTINCT_COMMITS)
def test_sampled_window_gives_burrows_answer(rows, broker, current, now, rules, expected):
    samples = sampled(commits(rows), now)
    assert len(samples) == 5 * len(rows)
    assert commits_from_samples(samples) == commits(rows)
    assert partition_status(samples, now, current_lag=current, broker_offsets=broker) == expected


@pytest.mark.parametrize("rows", [SAME_OFFSET_GROWING, SAME_OFFSET_SAME_LAG], ids=["5", "6"])
def test_recommitting_stuck_group_reads_stop_not_stall(rows):
    """The documented limitation: samples cannot see re-commits of one offset, so Burrow's STALL reads STOP."""
    assert evaluate_commits(commits(rows), 600) == Status.STALL
    assert partition_status(sampled(commits(rows), 600), 600) == Status.STOP


def run(seconds: float, produce: float, consume: float, lag0: int, stop_committing_at: float = math.inf,
        period: float = 0.5, commit_every: float = 5.0) -> list[OffsetSample]:
    """Samples every `period` s of a group that commits every `commit_every` s, until `stop_committing_at`."""
    out = []
    for k in range(int(seconds / period) + 1):
        t = k * period
        last_commit = commit_every * math.floor(min(t, stop_committing_at) / commit_every)
        log_end = lag0 + round(produce * t)
        committed = min(round(consume * last_commit), log_end)
        out.append(OffsetSample(t, committed, log_end - committed))
    return out


def test_slow_consumer_sampled_is_warn():
    window = run(50, produce=100, consume=80, lag0=1000)
    assert partition_status(window, now=50) == Status.WARN
    # every raw sample treated as a commit: lag drops at each commit, so WARN would never show
    assert evaluate_commits(window, now=50) == Status.OK


def test_catching_up_consumer_sampled_is_ok():
    window = run(40, produce=80, consume=100, lag0=1000)
    assert [c.lag for c in commits_from_samples(window)] == [1000 - 100 * k for k in range(9)]
    assert partition_status(window, now=40) == Status.OK


def test_group_that_stops_committing_goes_from_warn_to_stop():
    window = run(60, produce=100, consume=80, lag0=1000, stop_committing_at=20)
    upto = lambda now: [s for s in window if s.timestamp <= now]  # noqa: E731
    assert partition_status(upto(35), now=35) == Status.WARN  # 15 s silent < 20 s window span
    assert partition_status(upto(41), now=41) == Status.STOP  # 21 s silent > 20 s window span
    assert evaluate_commits(upto(41), now=41) != Status.STOP  # raw samples always look fresh


def test_grace_for_data_that_just_arrived_issue_303():
    caught_up = [OffsetSample(0.0, 990, 10)] + [OffsetSample(1 + 0.5 * k, 1000, 0) for k in range(119)]
    first_new = caught_up + [OffsetSample(60.5, 1000, 1)]
    assert partition_status(first_new, now=60.5) == Status.OK  # the last samples still saw zero lag
    later = first_new + [OffsetSample(61.0, 1000, 1)]
    assert partition_status(later, now=61.0) == Status.STOP  # grace is over: no commit for the new message
    assert partition_status(later, now=61.0, broker_offsets=[1001, 1000]) == Status.OK


def test_rewind_in_samples():
    window = [OffsetSample(0.5 * k, offset, 100 + k) for k, offset in enumerate([1000] * 3 + [2000] * 3 + [1500] * 3)]
    assert partition_status(window, now=4.0) == Status.REWIND
    recovered = window + [OffsetSample(4.5, 2100, 120)]  # back past the offset before the rewind: not held against it
    assert partition_status(recovered, now=4.5) != Status.REWIND


def test_allowed_lag_below_which_a_partition_is_ok():
    window = [OffsetSample(10.0 * k, 1000, 5) for k in range(5)]  # stuck on one offset, 5 messages behind
    assert evaluate_commits(window, 45) == Status.STALL
    assert evaluate_commits(window, 45, allowed_lag=5) == Status.OK
    with pytest.raises(ValueError, match="allowed_lag"):
        evaluate_commits(window, 45, allowed_lag=-1)


def test_complete_false_defers_judgment_like_minimum_complete():
    window = run(60, produce=100, consume=80, lag0=1000, stop_committing_at=20)
    assert partition_status(window, now=60) == Status.STOP
    assert partition_status(window, now=60, complete=True) == Status.STOP
    assert partition_status(window, now=60, complete=False) == Status.OK


def test_empty_and_unsorted_windows():
    assert partition_status([], now=10) == Status.OK
    assert evaluate_commits([], now=10) == Status.OK
    with pytest.raises(ValueError, match="oldest first"):
        partition_status([OffsetSample(2, 10, 1), OffsetSample(1, 10, 1)], now=3)


def test_negative_lag_is_rejected():
    with pytest.raises(ValueError, match="lag=-1"):
        OffsetSample(0.0, 10, -1)


def test_commits_from_samples_keeps_first_of_each_run():
    window = [OffsetSample(0, 5, 0), OffsetSample(1, 5, 3), OffsetSample(2, 7, 1), OffsetSample(3, 5, 4)]
    assert commits_from_samples(window) == [window[0], window[2], window[3]]


# The wiki's rules stated as small commit windows (offset, lag), one commit a minute, now = last commit.
WIKI_RULE_CASES = [
    pytest.param([(10, 5), (20, 5), (30, 0), (40, 2), (50, 4)], Status.OK, id="any-zero-lag-is-ok"),
    pytest.param([(10, 5), (10, 6), (10, 6), (10, 9), (10, 9)], Status.STALL, id="offset-fixed-lag-not-falling"),
    pytest.param([(10, 1), (20, 1), (30, 2), (40, 2), (50, 3)], Status.WARN, id="offsets-move-lag-never-falls"),
    pytest.param([(10, 5), (20, 3), (30, 5), (40, 2), (50, 6)], Status.OK, id="busy-topic-lag-up-and-down"),
]


@pytest.mark.parametrize("rows, expected", WIKI_RULE_CASES)
def test_wiki_rules(rows, expected):
    window = [OffsetSample(60.0 * i, offset, lag) for i, (offset, lag) in enumerate(rows)]
    assert evaluate_commits(window, now=window[-1].timestamp) == expected


@pytest.mark.parametrize("statuses, expected", [
    ([], Status.OK),
    ([Status.OK, Status.OK], Status.OK),
    ([Status.OK, Status.WARN, Status.OK], Status.WARN),
    ([Status.WARN, Status.STOP], Status.ERR),
    ([Status.STALL], Status.ERR),
    ([Status.OK, Status.REWIND, Status.WARN], Status.ERR),
    ([Status.NOTFOUND], Status.OK),
])
def test_group_status(statuses, expected):
    assert group_status(iter(statuses)) == expected


def test_status_names_order_and_meanings():
    assert [s.value for s in Status] == ["NOTFOUND", "OK", "WARN", "ERR", "STOP", "STALL", "REWIND"]
    assert set(STATUS_MEANING) == set(Status)
    assert all(text and "\n" not in text for text in STATUS_MEANING.values())


# --- TimeLagTable (kafka-lag-exporter LookupTableSpec, MemoryTable) ---------------------------------------


def table(points: list[tuple[int, float]], max_points: int = 10) -> TimeLagTable:
    t = TimeLagTable(max_points)
    for offset, time in points:
        t.add(offset, time)
    return t


def test_invalid_points_are_skipped():
    t = table([(100, 100), (110, 90), (90, 110), (0, 0), (110, -1), (-1, 110), (-1, -1)])
    assert t.points == [(100, 100)]
    assert t.time_at(0) is None


@pytest.mark.parametrize("offset", [150, 190, 110, 10, 0, -100, 300, 100])
def test_linear_table_is_exact_inside_and_outside(offset):
    assert table([(100, 100), (200, 200)]).time_at(offset) == pytest.approx(offset)


def test_flat_sections():
    t = table([(100, 30), (200, 60), (200, 120), (200, 700)])
    assert t.points == [(100, 30), (200, 60), (200, 700)]
    for offset, time in [(300, 730), (300, 9000), (400, 9030)]:
        t.add(offset, time)
    expected = {199: 59.7, 200: 700, 201: 700.3, 250: 715, 299: 729.7, 300: 9000, 301: 9000.3}
    assert {o: t.time_at(o) for o in expected} == pytest.approx(expected)


def test_all_flat_table_gives_infinities():
    t = table([(100, 100), (100, 200), (100, 300), (100, 400)])
    assert t.points == [(100, 100), (100, 400)]
    assert t.time_at(99) == -math.inf and t.time_at(101) == math.inf and t.time_at(100) == 400


def test_table_truncates_and_extrapolates():
    t = table([(-2, -2), (-1, -1), (0, 0), (10, 1), (200, 2), (3000, 3), (40000, 4)], max_points=5)
    assert t.points == [(0, 0), (10, 1), (200, 2), (3000, 3), (40000, 4)]
    expected = {1600: 2.5, 0: 0.0, 9: 0.9, 10: 1, 200: 2, 2999: 2.9996428571428573, 3000: 3,
                3001: 3.000027027027027, 40000: 4, -10000: -1, 50000: 5}
    assert {o: t.time_at(o) for o in expected} == pytest.approx(expected)
    assert t.time_at(1) == 0.09999999999999998  # the same float arithmetic as kafka-lag-exporter


def test_max_points_bound():
    t = table([(10 * k, float(k)) for k in range(300)], max_points=240)
    assert len(t) == 240 and t.points[0] == (600, 60.0) and t.points[-1] == (2990, 299.0)
    with pytest.raises(ValueError, match="max_points=1"):
        TimeLagTable(1)


def test_time_lag_on_a_steady_producer():
    t = table([(100 * k, float(k)) for k in range(11)])  # 100 msg/s for 10 s
    assert t.time_lag(committed_offset=500, log_end_offset=1000, now=10.0) == pytest.approx(5.0)
    assert t.time_lag(committed_offset=-200, log_end_offset=1000, now=10.0) == pytest.approx(12.0)  # extrapolated


@pytest.mark.parametrize("points", [[], [(5, 1.0)], [(0, 0.0), (100, 1.0)]])
def test_zero_lag_is_zero_time_lag(points):
    assert table(points).time_lag(committed_offset=100, log_end_offset=100, now=50.0) == 0.0
    assert table(points).time_lag(committed_offset=120, log_end_offset=100, now=50.0) == 0.0


def test_time_lag_is_never_negative():
    t = table([(0, 0.0), (100, 1.0)])
    assert t.time_at(150) == pytest.approx(1.5)  # extrapolated past the newest point
    assert t.time_lag(committed_offset=150, log_end_offset=160, now=1.2) == 0.0


def test_time_lag_fallbacks_are_lower_bounds():
    assert table([]).time_lag(10, 20, now=5.0) == 0.0
    assert table([(20, 2.0)]).time_lag(10, 20, now=5.0) == pytest.approx(3.0)  # message 10 existed by t = 2
    idle = table([(100, 10.0), (100, 20.0)])  # producer idle: kafka-lag-exporter would give inf here
    assert idle.time_lag(99, 100, now=30.0) == pytest.approx(20.0)
    assert idle.time_lag(100, 101, now=30.0) == pytest.approx(10.0)  # right-hand end of the flat run


def test_recommits_of_the_same_offset_are_entries_when_commits_carry_an_id() -> None:
    window = [OffsetSample(float(i), 1000, 100 + 50 * i, commit_id=f"c{i}") for i in range(10)]
    assert partition_status(window, now=9.5) == Status.STALL
    anonymous = [OffsetSample(float(i), 1000, 100 + 50 * i) for i in range(10)]
    assert partition_status(anonymous, now=9.5) == Status.STOP

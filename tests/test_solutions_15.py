"""The solution to lesson 15's exercise: time under-replicated from an ISR timeline; the leader's acks=all rule; and
(on the local three-node cluster, started for it) a frozen follower under a replication throttle staying
under-replicated longer."""

from __future__ import annotations

import pandas as pd
import pytest
from _solutions import load_solution

solutions = load_solution("solutions_15")


def _timeline(t: list[float], min_isr: list[int], topic: str = "x", replicas: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"t": t, "topic": topic, "min_isr": min_isr, "replicas": replicas,
                         "under_replicated": [int(m < replicas) for m in min_isr]})


def test_the_notebooks_probe() -> None:
    probe = _timeline([0.0, 1.0, 2.0, 3.5, 4.0], [3, 2, 2, 3, 3])
    assert solutions.time_under_replicated(probe, "x") == pytest.approx(2.5)
    assert solutions.time_under_replicated(probe, "other") == 0.0


def test_each_sample_stands_until_the_next_one() -> None:
    tl = _timeline([0.0, 0.5, 1.5, 1.75], [2, 3, 2, 2])
    assert solutions.time_under_replicated(tl, "x") == pytest.approx(0.5 + 0.25)  # the last sample starts nothing


def test_no_rows_or_one_row_is_zero() -> None:
    assert solutions.time_under_replicated(_timeline([], []), "x") == 0.0
    assert solutions.time_under_replicated(_timeline([3.0], [1]), "x") == 0.0


def test_other_topics_and_order_do_not_matter() -> None:
    a = _timeline([0.0, 1.0, 2.0], [2, 2, 3], topic="a")
    b = _timeline([0.0, 1.0, 2.0], [3, 3, 3], topic="b")
    mixed = pd.concat([a, b]).sample(frac=1.0, random_state=1)  # shuffled, two topics interleaved
    assert solutions.time_under_replicated(mixed, "a") == pytest.approx(2.0)
    assert solutions.time_under_replicated(mixed, "b") == 0.0


def test_a_replication_factor_of_two() -> None:
    tl = _timeline([0.0, 2.0, 4.0], [1, 2, 2], replicas=2)
    assert solutions.time_under_replicated(tl, "x") == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("rf", "min_insync", "down", "accepted"),
    [
        (3, 2, 0, True), (3, 2, 1, True), (3, 2, 2, False),  # the usual choice survives one broker
        (3, 3, 1, False),                                     # the lesson's refusal: NOT_ENOUGH_REPLICAS
        (3, 1, 2, True), (3, 1, 3, False),                    # no leader left at all
        (1, 2, 0, True),                                      # min.insync.replicas above the RF is capped
        (2, 5, 1, False), (2, 5, 0, True),
    ],
)
def test_acks_all_accepts(rf: int, min_insync: int, down: int, accepted: bool) -> None:
    assert solutions.acks_all_accepts(rf, min_insync, down) is accepted


def test_acks_all_accepts_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        solutions.acks_all_accepts(0, 1, 0)
    with pytest.raises(ValueError):
        solutions.acks_all_accepts(3, 2, -1)


@pytest.mark.integration
def test_a_throttled_follower_stays_under_replicated_longer(three_nodes: str) -> None:
    # after=8: the throttled follower is still catching up when the window closes, the plain one long back in sync;
    # with after=4 a 3.4 s gap in the ISR samples under a parallel make test left 1.8 s between them (needs > 2)
    out = solutions.verify(freeze=6.0, after=8.0)
    assert out["min_isr_seen"] == 2, out["timeline"]  # the frozen follower left the ISR
    assert out["throttled"] > out["plain"] + 2.0, out  # and came back only without a throttle
    assert out["plain"] < out["window"], out

"""The solution to lesson 16's exercise: the expected share of messages per fate under retries, checked against its
definition and against a simulation of the same retries with kafkabp's own Dependency and Fates."""

from __future__ import annotations

import pytest
from _solutions import load_solution

import kafkabp
from kafkabp.ledger import HEADER
from kafkabp.workload.dependency import DependencyError
from kafkabp.workload.retry import Fates

solutions = load_solution("solutions_16")


def test_the_notebooks_probe() -> None:
    shares = solutions.expected_fates(0.1, 3)
    assert list(shares) == ["first try", "after 1 retry", "after 2 retries", "after 3 retries", "dead-lettered"]
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["first try"] == pytest.approx(0.9) and shares["dead-lettered"] == pytest.approx(1e-4)


@pytest.mark.parametrize(("p", "retries"), [(0.0, 3), (1.0, 2), (0.5, 0), (0.02, 3), (0.3, 5)])
def test_the_shares_add_up_and_follow_the_geometric_law(p: float, retries: int) -> None:
    shares = solutions.expected_fates(p, retries)
    assert len(shares) == retries + 2 and sum(shares.values()) == pytest.approx(1.0)
    assert shares["dead-lettered"] == pytest.approx(p ** (retries + 1))
    if retries:
        assert shares["after 1 retry"] == pytest.approx(p * (1 - p))


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="probability"):
        solutions.expected_fates(1.5, 3)
    with pytest.raises(ValueError, match="retries"):
        solutions.expected_fates(0.1, -1)


def test_a_simulation_with_kafkabps_dependency_lands_on_the_expected_shares() -> None:
    """What the lesson's Check compares on the broker, without one: retry each message until it succeeds or runs
    out of retries, count the fates with Fates, compare with the expected shares."""
    p, retries, n = 0.3, 3, 4_000
    call, fates = kafkabp.Dependency(seconds=0.0, failure_rate=p, seed=7), Fates()
    for seq in range(n):
        value = HEADER.pack(b"KB", 0, seq)
        for failed in range(retries + 1):
            try:
                call(b"ok")
            except DependencyError:
                continue
            fates.processed(value, None, failed)
            break
        else:
            fates.dead_lettered(value)
    counts = fates.counts()
    for fate, share in solutions.expected_fates(p, retries).items():
        sd = (n * share * (1 - share)) ** 0.5
        assert abs(counts.get(fate, 0) - n * share) <= 4 * sd + 2, (fate, counts, n * share)

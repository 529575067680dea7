"""The parallel run's scheduling rules (tests/conftest.py): what stays on one worker, and longest first."""

from __future__ import annotations

import json
from types import SimpleNamespace

import conftest
from conftest import HEAVY, longest_first, next_scope, scope


def test_a_lessons_cells_and_the_clusters_users_each_stay_together() -> None:
    assert scope("notebooks/05_poll_and_fetch_tuning.ipynb::Cell 3") == "notebooks/05_poll_and_fetch_tuning.ipynb"
    assert scope("notebooks/15_replication_backpressure.ipynb::Cell 0") == conftest.CLUSTER_GROUP
    assert scope("tests/test_cluster.py::test_x") == scope("tests/test_solutions_15.py::test_y") == conftest.CLUSTER_GROUP
    assert scope("tests/test_broker.py::test_a[1]") == scope("tests/test_broker.py::test_b") == "tests/test_broker.py"


def test_the_longest_scopes_go_first_and_each_keeps_its_order(tmp_path, monkeypatch) -> None:
    (tmp_path / "d.json").write_text(json.dumps({"tests/test_short.py": 2.0, "tests/test_long.py": 90.0,
                                                 "notebooks/01_a.ipynb": 50.0}))
    monkeypatch.setattr(conftest, "DURATIONS", tmp_path / "d.json")
    ids = ["tests/test_short.py::a", "notebooks/01_a.ipynb::Cell 0", "notebooks/01_a.ipynb::Cell 1",
           "tests/test_new.py::a", "tests/test_long.py::a", "tests/test_long.py::b", "notebooks/16_new.ipynb::Cell 0"]
    items = [SimpleNamespace(nodeid=i) for i in ids]
    assert [i.nodeid for i in longest_first(items)] == [  # type: ignore[arg-type]
        "tests/test_long.py::a", "tests/test_long.py::b",
        "notebooks/01_a.ipynb::Cell 0", "notebooks/01_a.ipynb::Cell 1",
        "notebooks/16_new.ipynb::Cell 0",  # a lesson not timed yet counts as the longest lesson: early, not last
        "tests/test_short.py::a", "tests/test_new.py::a"]



def test_at_most_two_heavy_scopes_run_at_once_and_no_worker_waits() -> None:
    fresh, cluster, headless = "tests/test_fresh_broker.py", conftest.CLUSTER_GROUP, "tests/test_headless.py"
    assert {fresh, cluster, headless} <= HEAVY and conftest.MAX_HEAVY == 2
    waiting = [fresh, cluster, headless, "notebooks/05_a.ipynb", "tests/test_x.py"]
    assert next_scope(waiting, set()) == fresh
    assert next_scope(waiting[1:], {fresh}) == cluster
    assert next_scope(waiting[2:], {fresh, cluster}) == "notebooks/05_a.ipynb"  # headless waits, the lesson goes
    assert next_scope(waiting[2:], {fresh, "notebooks/01_b.ipynb"}) == headless  # one heavy running: the next may
    assert next_scope([headless], {fresh, cluster}) == headless  # only heavy ones left: no worker idles

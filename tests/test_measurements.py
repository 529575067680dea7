"""The results store: lessons remember their key numbers, lesson 14 recalls them (no broker needed)."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
from pathlib import Path

import numpy as np
import pytest

import kafkabp
from kafkabp import measurements


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KAFKABP_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"


def test_remember_then_recall_one_lesson_and_all() -> None:
    note = "model λ − μ = 1,000 msg/s"
    assert kafkabp.remember(1, "lag_slope", np.float64(1003.4), unit="msg/s", note=note) is None
    m = kafkabp.recall("01", "lag_slope")
    assert isinstance(m.value, float) and m.lesson == "01" and m.at
    kafkabp.remember("04", "batch_speedup", np.int64(41), unit="×")
    got = kafkabp.recall("01", "lag_slope")
    assert got == m and str(got) == "1,003 msg/s" and got.note.startswith("model")
    assert kafkabp.recall("1", "lag_slope") == m  # 1, "1" and "01" are one lesson
    assert kafkabp.recall("01", "not_measured") is None and kafkabp.recall("02") == {}
    assert set(kafkabp.recall("04")) == {"batch_speedup"} and kafkabp.recall(4, "batch_speedup").text == "41×"
    table = kafkabp.recall()
    assert list(table["lesson"]) == ["01", "04"] and list(table.columns) == measurements.COLUMNS


def test_remember_says_what_it_kept(capsys: pytest.CaptureFixture[str]) -> None:
    kafkabp.remember("04", "batch_speedup", 41.2, unit="×")
    assert capsys.readouterr().out == "📌 kept for lesson 14: batch speedup = 41.2×\n"
    kafkabp.remember("04", "batch_speedup", 41.2, unit="×", quiet=True)
    assert capsys.readouterr().out == ""


def test_a_second_run_replaces_the_number() -> None:
    kafkabp.remember("03", "drain_s_1", 12.0, unit="s")
    kafkabp.remember("03", "drain_s_1", 9.5, unit="s")
    assert kafkabp.recall("03", "drain_s_1").value == 9.5 and len(kafkabp.recall()) == 1


def test_a_time_that_never_came_survives_as_never(store: Path) -> None:
    kafkabp.remember("11", "recovered_s", math.inf, unit="s")
    r = kafkabp.recall("11")
    assert r["recovered_s"].value == math.inf and r["recovered_s"].text == "never"
    assert not list(store.rglob("*.tmp"))  # no temporary file left behind


@pytest.mark.parametrize("value, error, says", [
    ("abc", TypeError, "stores a number"), (None, TypeError, "stores a number"), (True, TypeError, "stores a number"),
    ("1003", TypeError, "float"), (math.nan, ValueError, "measured nothing"), (math.inf, ValueError, "infinite"),
    (-math.inf, ValueError, "infinite")])
def test_what_is_not_a_measured_number_is_refused_and_nothing_is_stored(store: Path, value: object,
                                                                        error: type, says: str) -> None:
    with pytest.raises(error, match=says):
        kafkabp.remember("01", "lag_slope", value, unit="msg/s")
    assert kafkabp.recall("01") == {} and not list(store.rglob("*.json"))


def test_a_stored_number_edited_into_a_word_is_skipped_with_a_warning(store: Path) -> None:
    kafkabp.remember("01", "lag_slope", 1003.2, unit="msg/s")
    path = store / "01" / "lag_slope.json"
    path.write_text(path.read_text().replace("1003.2", '"abc"'))
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert kafkabp.recall("01") == {}


def test_bad_input_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="key must be a short name"):
        kafkabp.remember("01", "../escape", 1)
    with pytest.raises(ValueError, match="lesson"):
        kafkabp.remember("../x", "k", 1)
    with pytest.raises(ValueError, match="0 to 99"):
        kafkabp.remember(100, "k", 1)
    with pytest.raises(TypeError, match="stores a number"):
        kafkabp.remember("01", "k", [1, 2])
    with pytest.raises(TypeError, match="name the lesson"):
        kafkabp.recall(key="lag_slope")


def test_an_unreadable_file_is_skipped_with_a_warning(store: Path) -> None:
    kafkabp.remember("02", "good", 1.0)
    (store / "02" / "bad.json").write_text("{not json")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert set(kafkabp.recall("02")) == {"good"}


def test_forget_one_lesson_or_everything() -> None:
    for lesson in ("01", "02"):
        kafkabp.remember(lesson, "a", 1)
        kafkabp.remember(lesson, "b", 2)
    assert kafkabp.forget("01", "a") == 1 and set(kafkabp.recall("01")) == {"b"}
    assert kafkabp.forget("02") == 2 and kafkabp.recall("02") == {}
    assert kafkabp.forget() == 1 and kafkabp.recall().empty


def test_the_store_lives_under_kafkabps_state_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKABP_RESULTS")
    monkeypatch.setenv("KAFKABP_HOME", str(tmp_path / "home"))
    kafkabp.remember("01", "lag_slope", 1.0)
    assert (tmp_path / "home" / "results" / "01" / "lag_slope.json").is_file()


def _writer(folder: str, lesson: str, n: int) -> None:
    os.environ["KAFKABP_RESULTS"] = folder
    for i in range(n):
        kafkabp.remember(lesson, "shared", i, note="x" * 2000, quiet=True)  # the same file from two processes
        kafkabp.remember(lesson, f"own_{os.getpid()}_{i % 5}", i, quiet=True)


def test_two_kernels_writing_at_once_never_leave_half_a_file(store: Path) -> None:
    """Two processes (two notebook kernels) write the same and different numbers while this one reads."""
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(store), "07", 150)) for _ in range(2)]
    for p in procs:
        p.start()
    seen = 0
    while any(p.is_alive() for p in procs):
        m = kafkabp.recall("07", "shared")  # a whole file or none, never a partial one
        if m is not None:
            assert isinstance(m.value, int) and len(m.note) == 2000
            seen += 1
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert kafkabp.recall("07", "shared").value == 149 and seen > 0
    assert len(kafkabp.recall("07")) == 1 + 2 * 5
    for path in store.rglob("*.json"):
        json.loads(path.read_text())
    assert not list(store.rglob("*.tmp"))

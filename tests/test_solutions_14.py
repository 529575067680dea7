"""The solution to lesson 14's exercise (the first move), and the interview answer assembled from stored numbers."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

import kafkabp
from _solutions import load_solution
from kafkabp import interview

solutions = load_solution("solutions_14")
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ((500, 0.001, 1, 4), {}, ("keeps up", 1)),
        ((2_800, 0.001, 1, 4), {}, ("add consumers", 4)),          # 3 would leave one consumer with 2 partitions
        ((1_500, 0.001, 1, 4), {}, ("add consumers", 2)),
        ((1_000, 0.001, 1, 4), {}, ("add consumers", 2)),          # λ = μ is not keeping up
        ((5_000, 0.001, 4, 4), {}, ("process in parallel", 4)),
        ((5_000, 0.001, 2, 4), {"key_order": False}, ("share group", 6)),
        ((4_000, 0.001, 4, 4), {"key_order": False}, ("share group", 5)),
        ((500, 0.01, 8, 4), {}, ("process in parallel", 4)),       # 8 consumers, 4 of them idle: 400 msg/s
    ],
)
def test_first_move(args: tuple, kwargs: dict, expected: tuple[str, int]) -> None:
    assert solutions.first_move(*args, **kwargs) == expected


def test_the_docstring_examples() -> None:
    assert doctest.testmod(solutions).failed == 0


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KAFKABP_RESULTS", str(tmp_path))
    return tmp_path


def test_a_fresh_machine_gets_the_whole_answer_and_every_lesson_to_run(store: Path) -> None:
    ans = interview.answer(notebooks=NOTEBOOKS)
    assert not ans.quoted and ans.missing == sorted({p.lesson for p in interview.POINTS})
    assert "On my machine" not in ans.markdown
    assert "[03 · Scaling consumers](03_scaling_consumers.ipynb)" in ans.markdown


def test_after_lessons_01_and_02_it_quotes_their_numbers_and_names_the_rest(store: Path) -> None:
    kafkabp.remember("01", "lag_slope", 1003.2, unit="msg/s", note="λ = 2,000, μ = 1,000")
    kafkabp.remember("01", "latency_ratio", 31.2, unit="×")
    kafkabp.remember("02", "time_lag_spread", 9.7, unit="×")
    kafkabp.remember("02", "hot_partition_share", 91.3, unit="%")
    kafkabp.remember("15", "acks_all_p99", 45.0, unit="ms", note="three nodes")  # a number no point quotes
    ans = interview.answer(notebooks=NOTEBOOKS)
    for text in ("1,003 msg/s", "31.2×", "9.7×", "91.3 %"):
        assert text in ans.markdown, text
    assert {m.lesson for m in ans.quoted} == {"01", "02"}
    assert ans.missing == ["03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "15", "16", "17"]
    assert "Still to run" in ans.markdown and "[10 · Retention and data loss]" in ans.markdown
    assert [m.key for m in ans.extra] == ["acks_all_p99"] and "45.0 ms" in ans.markdown
    assert "[15 · " in ans.markdown  # lesson 15 is named with a link to run it


def test_lesson_15s_point_reads_as_a_sentence(store: Path) -> None:
    kafkabp.remember("15", "acks_all_vs_1_p50", 2.4, unit="×")
    kafkabp.remember("15", "lost_acknowledged", 0, unit="messages", note="of 41,000 acknowledged")
    text = interview.answer(notebooks=NOTEBOOKS).markdown
    assert "a lost broker cost 0 messages of those acknowledged" in text
    assert "messages acknowledged messages" not in text


def test_lesson_16s_point_quotes_the_stall_and_the_order_it_cost(store: Path) -> None:
    kafkabp.remember("16", "naive_stall_s", 12.0, unit="s")
    kafkabp.remember("16", "retry_topics_stall_s", 0.0, unit="s")
    kafkabp.remember("16", "order_violations", 61, unit="messages", note="retry topics, 2 % failures; per-key retries: 0")
    text = interview.answer(notebooks=NOTEBOOKS).markdown
    assert "stalled its partition for 12" in text and "stood still longer than 0 s" in text, text
    assert re.search(r"but 61(\.0)? messages were processed after a later message of their key \(retry topics", text)


def test_with_every_number_stored_the_answer_quotes_each_with_its_unit(store: Path) -> None:
    """What lesson 14's Check asserts (each quoted number's text, unit included, is in the answer), for every point at
    once: lesson 15's ran before lesson 14 in a parallel make test and its "0 messages" was missing from the answer."""
    units = ["messages", "×", "s", "%", "msg/s", "ms"]
    for n, (lesson, key) in enumerate(sorted({(p.lesson, k) for p in interview.POINTS for k in p.keys})):
        kafkabp.remember(lesson, key, 1_000 + 7 * n, unit=units[n % len(units)])  # each text unique: no chance match
    ans = interview.answer(notebooks=NOTEBOOKS)
    assert not ans.missing and len(ans.quoted) == len({(p.lesson, k) for p in interview.POINTS for k in p.keys})
    absent = [(m.lesson, m.key, m.text) for m in ans.quoted if m.text not in ans.markdown]
    assert not absent, absent


def test_the_notebooks_store_every_number_the_answer_uses() -> None:
    """Each point's numbers are remembered by its lesson's notebook, under the same key."""
    for p in interview.POINTS:
        path = next(NOTEBOOKS.glob(f"{p.lesson}_*.ipynb"))
        text = path.read_text()
        for key in p.keys:
            assert f'kafkabp.remember(\\"{p.lesson}\\", \\"{key}\\"' in text, (path.name, key)


def test_the_quiz_gives_feedback() -> None:
    q = interview.quiz()
    assert len(q.questions) >= 5 and q.correct == [None] * len(q.questions)
    assert q.check(0) == (False, "no answer")
    ok, why = q.choose(0, q.questions[0].right)
    assert ok and "✅" in q.feedbacks[0].value
    wrong = (q.questions[1].right + 1) % len(q.questions[1].options)
    ok, why = q.choose(1, wrong)
    assert not ok and "❌" in q.feedbacks[1].value and why in q.questions[1].options[wrong][1]
    assert "1 of" in q.score.value and "2 answered" in q.score.value

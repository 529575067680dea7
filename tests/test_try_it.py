"""The Try-it runner of lessons 08-11: sliders and a Run button around one bounded run (no broker)."""

from __future__ import annotations

import threading

import ipywidgets as widgets
import pytest

from kafkabp.widgets import try_it


def test_run_gets_the_sliders_values_and_draw_gets_the_result(capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[tuple[float, dict[str, int]]] = []
    drawn: list[tuple[str, dict[str, int]]] = []

    def run(seconds: float, **values: int) -> str:
        calls.append((seconds, values))
        return f"result of {values['rate']}"

    def draw(result: str, **values: int) -> None:
        drawn.append((result, values))
        print(f"drew {result}")

    rate, size = widgets.IntSlider(value=500, min=100, max=900), widgets.IntSlider(value=3, min=1, max=9)
    box = try_it(run, {"rate": rate, "size": size}, draw, seconds=12)
    assert box.button.description == "Run 12 s" and list(box.children[0].children) == [rate, size, box.button]
    threads = threading.active_count()
    rate.value = 700
    box.button.click()  # as the learner does
    assert calls == [(12.0, {"rate": 700, "size": 3})]
    assert drawn == [("result of 700", {"rate": 700, "size": 3})] and box.result == "result of 700"
    assert "drew result of 700" in capsys.readouterr().out
    assert not box.button.disabled and threading.active_count() == threads  # nothing left running


def test_a_failed_run_is_reported_and_the_button_works_again(capsys: pytest.CaptureFixture[str]) -> None:
    attempts: list[int] = []

    def run(seconds: float, rate: int) -> str:
        attempts.append(rate)
        if len(attempts) == 1:
            raise ValueError("rate must be positive")
        raise KeyboardInterrupt

    box = try_it(run, {"rate": widgets.IntSlider(value=5)}, seconds=3)
    assert box.run_once() is None
    assert "❌ the run failed: ValueError: rate must be positive" in capsys.readouterr().out
    assert not box.button.disabled
    assert box.run_once() is None and "interrupted" in capsys.readouterr().out
    assert attempts == [5, 5] and not box.button.disabled


def test_bad_arguments_are_refused_with_the_fix() -> None:
    slider = {"rate": widgets.IntSlider()}
    with pytest.raises(TypeError, match="must be functions"):
        try_it("run", slider, seconds=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dict of ipywidgets"):
        try_it(lambda s: s, {"rate": 5}, seconds=3)  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="at most 600 s"):
        try_it(lambda s: s, slider, seconds=0)

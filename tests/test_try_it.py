"""The Try-it runner of lessons 08-11 (sliders and a Run button around one bounded run) and the sliders of lessons 06
and 15 (kafkabp.explore), without a broker."""

from __future__ import annotations

import threading

import ipywidgets as widgets
import pytest

from kafkabp.widgets import explore, try_it


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


def test_explore_prints_the_first_values_then_each_move_under_the_sliders() -> None:
    calls: list[int] = []

    def show(rate: int, size: int = 1) -> None:
        calls.append(rate)
        print(f"rate {rate} x {size}")

    rate, size = widgets.IntSlider(value=5), widgets.IntSlider(value=2)
    box = explore(show, rate=rate, size=size)
    assert box.lines == "rate 5 x 2\n" and "rate 5 x 2" in box.text.value and calls == [5]
    assert box._repr_mimebundle_()["text/plain"] == "rate 5 x 2"  # what a page without widgets shows
    rate.value = 7
    assert box.lines == "rate 7 x 2\n" and "rate 7 x 2" in box.text.value and calls == [5, 7]
    assert not any(isinstance(child, widgets.Output) for child in box.children)  # no Output widget (nbclient#312)


def test_explore_fails_the_cell_on_its_first_values_and_shows_later_errors() -> None:
    def show(n: int) -> None:
        if n > 3:
            raise ValueError(f"n={n} is too big")
        print("<b>", n)

    with pytest.raises(ValueError, match="n=9"):
        explore(show, n=widgets.IntSlider(value=9, max=10))
    n = widgets.IntSlider(value=1, max=10)
    box = explore(show, n=n)
    assert "&lt;b&gt; 1" in box.text.value  # printed text is shown as text, not as HTML
    n.value = 5
    assert "ValueError: n=5 is too big" in box.lines


def test_explore_names_bad_arguments() -> None:
    with pytest.raises(TypeError, match="must be a function"):
        explore("show", n=widgets.IntSlider())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ipywidgets with a value"):
        explore(print, n=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ipywidgets with a value"):
        explore(print)

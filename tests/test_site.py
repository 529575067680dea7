"""`make html`: an executed lesson becomes a page with its plotly figures and links to the other pages.

The last test renders the site from the lessons nbval ran in this same session (``make test`` runs them all), so
every lesson page is checked without executing the course twice; ``make html`` executes it on its own.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import test_site_offline

from kafkabp import site

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("KAFKABP_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))


def test_a_lesson_renders_with_its_figures_and_navigation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKABP_RESULTS", str(tmp_path / "results"))  # lesson 14 needs no broker, only its store
    out = tmp_path / "html"
    timings = site.build(out, [ROOT / "notebooks" / "14_interview_prep.ipynb"])
    page = (out / "14_interview_prep.html").read_text()
    assert set(timings) == {"14_interview_prep"} and (out / "index.html").exists()
    assert "Plotly.newPlot" in page  # the figure, drawn by plotly.js in the page
    assert 'href="03_scaling_consumers.html"' in page and ".ipynb\"" not in page.split("<nav")[0][-200:]
    assert "✅ the answer has its four parts" in page  # the Check cell ran
    assert '<a href="index.html">the course</a>' in page
    assert 'href="14_interview_prep.html"' in (out / "index.html").read_text()


def test_a_failing_cell_stops_the_build(tmp_path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("raise NotImplementedError('an exercise')", metadata={"tags": ["raises-exception"]}),
                nbformat.v4.new_code_cell("1 / 0")]
    path = tmp_path / "99_broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(site.SiteError, match="cell 1: ZeroDivisionError"):
        site.build(tmp_path / "html", [path])


def _lessons_this_run_executed() -> dict[Path, tuple[dict, None]]:
    """Each lesson nbval ran in this ``make test``, with the outputs its cells gave, as tests/conftest.py wrote them
    to ``executed/`` on whichever worker ran the lesson (the notebooks themselves are left alone)."""
    import nbformat

    folder = ARTIFACTS / "executed"
    return {ROOT / "notebooks" / p.name: (nbformat.read(p, as_version=4), None)
            for p in sorted(folder.glob("*.ipynb")) if site.LESSON.match(p.name)}


def _headless_lessons() -> dict[Path, tuple[dict, None]]:
    """The lessons tests/test_headless.py ran in this ``make test`` with plain nbconvert (06 runs only that way), from
    the copies it saved (``make test`` empties that folder first)."""
    import nbformat

    saved = ARTIFACTS / "headless"
    return {ROOT / "notebooks" / p.name: (nbformat.read(p, as_version=4), None)
            for p in sorted(saved.glob("*.ipynb")) if site.LESSON.match(p.name)}


@pytest.mark.after_notebooks
def test_every_lesson_page_of_this_run_exists_and_carries_its_figures() -> None:
    """``make test`` runs this after the lessons (a second pytest run) with ``KAFKABP_SITE_LESSONS=all``: then every
    lesson must have run; alone, with no lesson run, it skips (``make html`` executes and checks the site itself)."""
    runs = {**_headless_lessons(), **_lessons_this_run_executed()}  # nbval's run of a lesson wins
    every = os.environ.get("KAFKABP_SITE_LESSONS") == "all"
    if not runs and not every:
        pytest.skip("no lesson ran in this session: run it with notebooks/ (make test does), or build with make html")
    out = ARTIFACTS / "site"
    site.write_site(out, runs)
    assert site.check_site(out, runs) == []
    if every:
        lessons = {p.name for p in (ROOT / "notebooks").glob("*.ipynb") if site.LESSON.match(p.name)}
        assert {p.name for p in runs} == lessons, f"lessons that did not run: {sorted(lessons - {p.name for p in runs})}"
    if not test_site_offline.HAS_CHROMIUM:
        pytest.skip(f"the pages are not opened offline: no Chromium at {test_site_offline.CHROMIUM}")
    # offline: each page opened with the network blocked draws every figure its lesson made, typesets every formula
    wanted = {p.stem: (site.figures(nb), test_site_offline.formulas(nb)) for p, (nb, _) in runs.items()}
    start = time.monotonic()
    seen = test_site_offline.open_offline(out, [(name, *counts) for name, counts in sorted(wanted.items())])
    print(f"{len(wanted)} pages opened offline in {time.monotonic() - start:.1f} s")
    assert {name: seen[name] for name in wanted} == wanted and seen["blocked"] == [], seen


def test_the_site_check_names_a_missing_page_a_missing_figure_and_a_see_section_without_one(tmp_path: Path) -> None:
    import nbformat

    def lesson(name: str, figure: bool) -> tuple[Path, tuple[dict, None]]:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell(f"# Lesson {name}"), nbformat.v4.new_markdown_cell("## 3 · See"),
                    nbformat.v4.new_code_cell("fig")]
        if figure:
            nb.cells[2].outputs = [nbformat.v4.new_output(
                "display_data", data={"text/html": "<div id='f'></div><script>Plotly.newPlot('f', [])</script>"})]
        return tmp_path / f"{name}.ipynb", (nb, None)

    runs = dict([lesson("01_good", True), lesson("02_blank", False), lesson("03_gone", True)])
    out = tmp_path / "html"
    site.write_site(out, runs)
    assert site.check_site(out, runs) == ["02_blank: has a See section but drew no figure"]
    (out / "03_gone.html").unlink()
    page = out / "01_good.html"
    page.write_text(page.read_text().replace("Plotly.newPlot", "nothing"))
    assert site.check_site(out, runs) == ["01_good: drew 1 figures, its page carries 0",
                                          "02_blank: has a See section but drew no figure", "03_gone: no page"]

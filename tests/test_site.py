"""`make html`: an executed lesson becomes a page with its plotly figures and links to the other pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkabp import site

ROOT = Path(__file__).resolve().parent.parent


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
    nb.cells = [nbformat.v4.new_code_cell("# NBVAL_RAISES_EXCEPTION\nraise NotImplementedError('an exercise')"),
                nbformat.v4.new_code_cell("1 / 0")]
    path = tmp_path / "99_broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(site.SiteError, match="cell 1: ZeroDivisionError"):
        site.build(tmp_path / "html", [path])

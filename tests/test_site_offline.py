"""The rendered course works offline: Chromium opens the pages with every request that is not for a local file
blocked (Playwright routing), and every figure the lesson made is drawn (plotly's SVG) and every formula typeset.

The first test builds a small lesson with ``make html``'s code (a kernel runs it: two figures and a formula);
``make test`` also opens every lesson page it rendered from this run's lessons (tests/test_site.py calls
:func:`open_offline`). Chromium is the system's (tests/test_browser.py says how it is found).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS

from kafkabp import site

HAS_CHROMIUM = Path(CHROMIUM).is_file()
DRAWN = "[...document.querySelectorAll('.js-plotly-plot')].filter(d => d.querySelector('svg.main-svg')).length"
TYPESET = "document.querySelectorAll('.MathJax_Display').length"


def open_offline(out: Path, pages: Iterable[tuple[str, int, int]], timeout_s: float = 30) -> dict[str, object]:
    """Open ``out/<name>.html`` for each ``(name, figures, formulas)`` in Chromium with only ``file:`` requests
    allowed; returns ``{name: (figures drawn, formulas typeset)}`` and ``"blocked"``: every other URL asked for."""
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []
    seen: dict[str, object] = {}

    def route(r: object) -> None:
        if r.request.url.startswith("file:"):  # type: ignore[attr-defined]
            r.continue_()  # type: ignore[attr-defined]
        else:
            blocked.append(r.request.url)  # type: ignore[attr-defined]
            r.abort()  # type: ignore[attr-defined]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS[1:])
        try:
            context = browser.new_context()
            context.route("**/*", route)
            page = context.new_page()
            for name, figures, formulas in pages:
                page.goto((out / f"{name}.html").as_uri(), wait_until="load")
                deadline = time.monotonic() + timeout_s
                while time.monotonic() < deadline:  # plotly draws on load; MathJax typesets a moment later
                    drawn, typeset = page.evaluate(DRAWN), page.evaluate(TYPESET)
                    if drawn >= figures and typeset >= formulas:
                        break
                    page.wait_for_timeout(100)
                seen[name] = (drawn, typeset)
        finally:
            browser.close()
    seen["blocked"] = blocked
    return seen


def formulas(nb: dict) -> int:
    """Display formulas (``$$…$$``) in the notebook's markdown: MathJax typesets each as one ``.MathJax_Display``."""
    return sum("".join(c["source"]).count("$$") // 2 for c in nb["cells"] if c["cell_type"] == "markdown")


@pytest.mark.skipif(not HAS_CHROMIUM, reason=f"no Chromium at {CHROMIUM}")
def test_a_rendered_lesson_draws_its_figures_and_formula_with_the_network_blocked(tmp_path: Path,
                                                                                    monkeypatch) -> None:
    import nbformat

    monkeypatch.delenv("PLOTLY_RENDERER", raising=False)  # the site's own renderer, as `make html` runs it
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# 99 · Offline\n\nLag grows at $$L(t) = (\\lambda - \\mu)\\,t$$"),
                nbformat.v4.new_code_cell("import plotly.express as px, plotly.graph_objects as go\n"
                                          "px.line(x=[0, 1, 2], y=[0, 3, 6], title='lag').show()"),
                nbformat.v4.new_code_cell("go.Figure(go.Bar(x=['a', 'b'], y=[2, 1]))")]
    path = tmp_path / "99_offline.ipynb"
    nbformat.write(nb, path)
    out = tmp_path / "html"
    site.build(out, [path], timeout=120)
    executed = nbformat.read(path, as_version=4)  # build does not save: count from the page's source instead
    page = (out / "99_offline.html").read_text()
    assert page.count('src="plotly.min.js"') == 1 and (out / "plotly.min.js").stat().st_size > 1e6
    assert site.REMOTE.search(page) is None, "no script, style sheet or image from the network"
    seen = open_offline(out, [("99_offline", 2, formulas(executed))])
    assert seen["99_offline"] == (2, 1), seen
    assert seen["blocked"] == [], "the page asked the network for something"


@pytest.mark.skipif(not HAS_CHROMIUM, reason=f"no Chromium at {CHROMIUM}")
def test_a_page_that_loads_from_the_network_fails_the_check_and_draws_nothing_offline(tmp_path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 98 · Online"), nbformat.v4.new_code_cell("fig")]
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={"text/html": (
        '<script src="https://cdn.plot.ly/plotly-3.0.1.min.js"></script>'
        "<div id='f'></div><script>Plotly.newPlot('f', [])</script>")})]  # what PLOTLY_RENDERER=notebook_connected gave
    runs = {tmp_path / "98_online.ipynb": (nb, None)}
    site.write_site(tmp_path / "html", runs)
    assert site.check_site(tmp_path / "html", runs) == [
        '98_online: loads from the network: <script src="https://cdn.plot.ly/plotly-3.0.1.min.js']
    seen = open_offline(tmp_path / "html", [("98_online", 1, 0)], timeout_s=2)
    assert seen["blocked"] == ["https://cdn.plot.ly/plotly-3.0.1.min.js"] and seen["98_online"] == (0, 0), seen

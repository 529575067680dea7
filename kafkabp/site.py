"""The course as a static site: every lesson executed against the broker, rendered to HTML (``make html``).

``python -m kafkabp.site [OUT] [NOTEBOOK ...]`` executes each notebook (nbclient, in ``notebooks/``, so relative
paths hold) and writes ``OUT/NN_name.html`` with nbconvert's JupyterLab template, plus ``OUT/index.html`` with the
course map. Links between lessons point at the HTML pages; every page has previous / index / next links.

The site works offline (a workshop room): nothing a page needs comes from the network. The lessons run with
``PLOTLY_RENDERER=plotly_mimetype`` (their outputs keep each figure as JSON), and each figure is written into its page
by plotly (``to_html``) loading one ``plotly.min.js`` written once beside the pages (``include_plotlyjs="directory"``),
so pages stay small. The lessons' formulas are typeset by MathJax 2 copied beside the pages from PyPI's
``jupyter-server-mathjax`` (``mathjax/``); nbconvert's page loads no require.js and no mermaid (the lessons have no
diagram). :func:`check_site` fails a page that loads a script or a style sheet from the network. Live widgets
(dashboards, sliders, the playground) need a kernel: a static page shows them as text. A cell that raises is an
error, except the exercise stubs (``is_exercise_stub``).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

ROOT = Path(__file__).resolve().parent.parent
SEE = re.compile(r"^#+ .*\bSee\b", re.MULTILINE)  # the lesson template's "See" heading
LESSON = re.compile(r"\d\d_[A-Za-z0-9_]+\.ipynb$")
LINK = re.compile(r'href="(\d\d_[A-Za-z0-9_]+)\.ipynb(#[^"]*)?"')
RENDERER = "plotly_mimetype"  # the lessons' figures as JSON in their outputs: the site writes them (offline) itself
PLOTLY_JSON = "application/vnd.plotly.v1+json"
MATHJAX = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"  # beside the pages; the config it ships
REMOTE = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//[^"'\s>]+""", re.IGNORECASE)
# nbconvert's JupyterLab page without what it loads from cdnjs (require.js; mermaid, which no lesson uses), and with
# code cells as pygments highlights them, without bleach re-parsing that HTML: pygments escapes the code itself, and
# that clean_html pass was a third of the time spent rendering the course (8 s of 26 s for 18 lessons, profiled)
TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block input %}
<div class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor" data-type="inline">
     <div class="cm-editor cm-s-jupyter">
{{ cell.source | highlight_code(metadata=cell.metadata) }}
     </div>
</div>
{%- endblock input %}
"""


class SiteError(RuntimeError):
    pass


def _title(nb: dict) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            first = "".join(cell["source"]).strip().splitlines()[0]
            return first.lstrip("#").strip()
    return ""


def is_exercise_stub(cell: Mapping) -> bool:
    """An exercise stub raises ``NotImplementedError`` until the learner fills it in; nbval, nbclient and ``jupyter
    nbconvert --execute`` know it by its ``raises-exception`` tag (tests/test_repo.py checks every stub has it)."""
    tags = cell.get("metadata", {}).get("tags", [])
    return "raises-exception" in tags


def drop_widget_state(nb: dict, resources: dict) -> tuple[dict, dict]:
    """An nbconvert preprocessor (``make setup`` names it in the venv's Jupyter config): the executed notebook keeps
    no widget state. nbconvert stores every widget's state by default, and a live chart's carries plotly's 5 MB
    JavaScript bundle. Turning ``store_widget_state`` off instead breaks nbclient 0.10-0.11 on any ipywidgets Output
    widget that captures output, as ``interact`` does (``KeyError`` in ``output_widget.py``: the state it updates
    was never stored), so the state is kept while the notebook runs and dropped here, after it ran."""
    nb.get("metadata", {}).pop("widgets", None)
    return nb, resources


def execute(path: Path, timeout: float = 900) -> tuple[dict, float]:
    """Run one notebook in its folder; returns the executed notebook (as nbformat) and the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    # store_widget_state=True although the page keeps no widget state: see drop_widget_state
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}}, store_widget_state=True)
    start = time.monotonic()
    client.execute()
    took = time.monotonic() - start
    drop_widget_state(nb, {})
    for i, cell in enumerate(nb.cells):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors and not is_exercise_stub(cell):
            e = errors[0]
            raise SiteError(f"{path.name}, cell {i}: {e['ename']}: {e['evalue']}")
    return nb, took


def exporter() -> Any:
    """nbconvert's HTML exporter with the site's template; one serves every page (its templates compile once)."""
    import jinja2
    from nbconvert import HTMLExporter

    return HTMLExporter(extra_loaders=[jinja2.DictLoader({"offline.html.j2": TEMPLATE})],
                        template_file="offline.html.j2", mathjax_url=MATHJAX)


def render(nb: dict, title: str, nav: str, html_exporter: Any = None) -> str:
    """The executed notebook as one HTML page, lesson links pointing at pages, a navigation bar on top and bottom."""
    html_exporter = html_exporter or exporter()
    body, _ = html_exporter.from_notebook_node(_figures_as_html(nb), resources={"metadata": {"name": title}})
    body = LINK.sub(lambda m: f'href="{m.group(1)}.html{m.group(2) or ""}"', body)
    bar = f'<nav style="font-family:sans-serif;padding:8px 16px;border-bottom:1px solid #ddd">{nav}</nav>'
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + bar, body, count=1)
    return body.replace("</body>", bar + "</body>", 1)


def _figures_as_html(nb: dict) -> dict:
    """A copy of ``nb`` whose plotly figures (JSON outputs) are HTML loading ``plotly.min.js`` from beside the page
    (the first figure's script tag; the others find ``Plotly`` loaded)."""
    import copy

    import plotly.io as pio

    nb, first = copy.deepcopy(nb), True
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if PLOTLY_JSON in data:
                output["data"] = {"text/html": pio.to_html(data[PLOTLY_JSON], validate=False, full_html=False,
                                                           include_plotlyjs="directory" if first else False)}
                first = False
    return nb


def write_assets(out: Path) -> None:
    """What the pages load, beside them: ``plotly.min.js`` (once for every page) and MathJax (``mathjax/``)."""
    import jupyter_server_mathjax
    from plotly.offline import get_plotlyjs

    (out / "plotly.min.js").write_text(get_plotlyjs(), encoding="utf-8")
    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    shutil.rmtree(out / "mathjax", ignore_errors=True)
    shutil.copytree(static, out / "mathjax", ignore=lambda folder, names: [  # English only: 2 MB less
        n for n in names if Path(folder).name == "localization" and n != "en"])


def build(out: Path, notebooks: Sequence[Path] | None = None, *, timeout: float = 900) -> dict[str, float]:
    """Execute and render ``notebooks`` (default: every lesson in notebooks/) into ``out``; seconds per lesson.

    Raises :class:`SiteError` when a cell fails or :func:`check_site` finds a page or a figure missing.
    """
    os.environ.setdefault("PLOTLY_RENDERER", RENDERER)  # the kernels inherit it
    executed: dict[Path, tuple[dict, float | None]] = {}
    for path in lessons(notebooks):
        print(f"executing {path.name} …", file=sys.stderr, flush=True)
        executed[path] = execute(path, timeout)
        print(f"  {executed[path][1]:,.0f} s", file=sys.stderr, flush=True)
    write_site(out, executed)
    problems = check_site(out, executed)
    if problems:
        raise SiteError("the site is incomplete: " + "; ".join(problems))
    return {path.stem: float(took or 0.0) for path, (_, took) in executed.items()}


def lessons(notebooks: Sequence[Path] | None = None) -> list[Path]:
    """The lesson notebooks in course order (default: every ``NN_name.ipynb`` in notebooks/)."""
    return sorted(notebooks or (p for p in (ROOT / "notebooks").glob("*.ipynb") if LESSON.match(p.name)))


def write_site(out: Path, executed: Mapping[Path, tuple[dict, float | None]]) -> None:
    """Render executed notebooks (by path, with the seconds each took if known) as pages, and the index."""
    paths = sorted(executed)
    out.mkdir(parents=True, exist_ok=True)
    write_assets(out)
    titles = {p.stem: _title(executed[p][0]) for p in paths}
    html_exporter = exporter()
    for i, path in enumerate(paths):
        prev = f'<a href="{paths[i - 1].stem}.html">← {html.escape(titles[paths[i - 1].stem])}</a>' if i else ""
        nxt = f'<a href="{paths[i + 1].stem}.html">{html.escape(titles[paths[i + 1].stem])} →</a>' \
            if i + 1 < len(paths) else ""
        nav = f'{prev} &nbsp;·&nbsp; <a href="index.html">the course</a> &nbsp;·&nbsp; {nxt}'
        page = render(executed[path][0], titles[path.stem], nav, html_exporter)
        (out / f"{path.stem}.html").write_text(page, encoding="utf-8")
    rows = "\n".join(f'<li><a href="{p.stem}.html">{html.escape(titles[p.stem])}</a>'
                     + (f' <small>(executed in {took:,.0f} s)</small>' if (took := executed[p][1]) is not None else "")
                     + "</li>" for p in paths)
    (out / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>kafkabp: backpressure in Apache Kafka</title></head>"
        "<body style='font-family:sans-serif;max-width:50em;margin:2em auto'>"
        "<h1>kafkabp: backpressure in Apache Kafka, hands on</h1>"
        "<p>Every lesson below was executed against a real Kafka broker when this site was built "
        f"({time.strftime('%Y-%m-%d %H:%M')}). Run them yourself: <code>make lab</code>.</p>"
        f"<ol start='0'>{rows}</ol></body></html>", encoding="utf-8")


def figures(nb: dict) -> int:
    """How many plotly figures the executed notebook drew (outputs that carry a figure, not live widgets)."""
    return sum(1 for cell in nb["cells"] for o in cell.get("outputs", [])
               if "Plotly.newPlot" in str(o.get("data", {}).get("text/html", "")) or PLOTLY_JSON in o.get("data", {}))


def _has_see_section(nb: dict) -> bool:
    return any(SEE.search("".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "markdown")


def _has_live_widget(nb: dict) -> bool:
    """A live chart (the playground's): it needs a kernel, so a static page shows it as text."""
    return any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
               for cell in nb["cells"] for o in cell.get("outputs", []))


def check_site(out: Path, executed: Mapping[Path, tuple[dict, float | None]]) -> list[str]:
    """What is wrong with a built site: a lesson without its page, index entry or navigation, a figure missing, or a
    page that loads something from the network (a script, style sheet or image: it would not work offline).

    Every lesson with a "See" section must draw at least one figure (or show a live chart, which needs a kernel), and
    its page must carry every figure drawn.
    """
    problems = []
    index = (out / "index.html").read_text(encoding="utf-8") if (out / "index.html").exists() else ""
    for path, (nb, _) in sorted(executed.items()):
        page_file = out / f"{path.stem}.html"
        if not page_file.exists():
            problems.append(f"{path.stem}: no page")
            continue
        page, drawn = page_file.read_text(encoding="utf-8"), figures(nb)
        if f'href="{path.stem}.html"' not in index:
            problems.append(f"{path.stem}: not in index.html")
        if '<a href="index.html">the course</a>' not in page:
            problems.append(f"{path.stem}: no navigation")
        if drawn == 0 and _has_see_section(nb) and not _has_live_widget(nb):
            problems.append(f"{path.stem}: has a See section but drew no figure")
        if page.count("Plotly.newPlot") < drawn:
            problems.append(f"{path.stem}: drew {drawn} figures, its page carries {page.count('Plotly.newPlot')}")
        remote = sorted({m.group(0) for m in REMOTE.finditer(page)})
        if remote:
            problems.append(f"{path.stem}: loads from the network: {'; '.join(remote[:3])}")
    for asset in ("plotly.min.js", "mathjax/MathJax.js"):
        if executed and not (out / asset).is_file():
            problems.append(f"no {asset} beside the pages")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args.pop(0)) if args else ROOT / "build" / "html"
    start = time.monotonic()
    try:
        timings = build(out, [Path(a) for a in args] or None)
    except SiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in out.glob("*.html"))
    print(f"built {len(timings)} pages in {time.monotonic() - start:,.0f} s, {size / 1e6:,.1f} MB: "
          f"{out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

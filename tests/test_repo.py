"""Repository hygiene: notebooks without outputs or widget state, a README and notebooks that stand alone, a
packaging file without deprecations, a docker-compose file a single KRaft node can use."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
MAX_NOTEBOOK_BYTES = 150_000  # a lesson's text and code; saved widget state or outputs add megabytes
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")  # markdown links: [text](target)


def _markdown(path: Path) -> str:
    if path.suffix == ".ipynb":
        return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    return path.read_text()


def test_there_are_notebooks() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {"00_setup.ipynb", "01_creating_backpressure.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; run `make strip` before committing"
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state; run `make strip`"
    size = path.stat().st_size
    assert size < MAX_NOTEBOOK_BYTES, f"{path.name} is {size:,} bytes: outputs or widget state? run `make strip`"


def _executed_notebook_with_a_dashboard(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("from kafkabp.widgets import dashboard\ndashboard()")]  # no broker needed
    nbformat.write(nb, path)


def test_make_strip_removes_outputs_and_widget_state(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    path = tmp_path / "executed.ipynb"
    _executed_notebook_with_a_dashboard(path)
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", {"text/plain": "Dashboard(...)"})]
    nb.cells[0].execution_count = 1
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"m": {"_esm": "x" * 10_000}}}}
    nbformat.write(nb, path)
    subprocess.run(["make", "-C", str(ROOT), "strip", f"NOTEBOOKS={path}"], check=True, capture_output=True)
    stripped = nbformat.read(path, as_version=4)
    assert "widgets" not in stripped.metadata and stripped.metadata["kernelspec"]["name"] == "python3"
    assert stripped.cells[0].outputs == [] and stripped.cells[0].execution_count is None


def test_an_executed_notebook_does_not_save_the_dashboards_widget_state(tmp_path: Path) -> None:
    """`jupyter nbconvert --execute` stores every widget's state by default; the dashboard's plotly chart alone
    brings its 5 MB JavaScript bundle. `make setup` turns that off for the course's environment."""
    path = tmp_path / "lesson.ipynb"
    _executed_notebook_with_a_dashboard(path)
    run = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace",
                          str(path)], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    executed = nbformat.read(path, as_version=4)
    assert executed.cells[0].outputs, "the dashboard cell ran"
    assert "widgets" not in executed.metadata, (
        "nbconvert saved widget state: run `make setup` (it writes .venv/etc/jupyter/jupyter_config.json)")
    assert path.stat().st_size < 100_000, path.stat().st_size


def test_readme_and_notebooks_stand_alone() -> None:
    """Nothing points outside the repository, and every relative link leads to a file that exists."""
    sources = [ROOT / "README.md", *NOTEBOOKS]
    for path in sources:
        text = _markdown(path) if path.suffix == ".md" else path.read_text()
        assert "COURSE.md" not in text and "../shared" not in text, f"{path.name} points outside the repository"
        for target in LINK.findall(_markdown(path)):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or an anchor
            assert (path.parent / target.split("#")[0]).exists(), f"{path.name} links to {target}, which does not exist"


def test_readme_course_map_marks_exactly_the_lessons_that_exist() -> None:
    rows = re.findall(r"^\| (\d\d) \| .*\| (ready|coming) \|$", (ROOT / "README.md").read_text(), re.M)
    assert [number for number, _ in rows] == [f"{i:02d}" for i in range(17)], "the map lists lessons 00 to 16"
    lessons = {p.name[:2] for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    for number, state in rows:
        assert (state == "ready") == (number in lessons), (
            f"README says lesson {number} is {state}, but its notebook {'exists' if number in lessons else 'is missing'}")


def test_pyproject_lists_every_package_and_an_spdx_license() -> None:
    """What `make setup` would otherwise warn about: a license table, a package directory missing from the list."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert isinstance(config["project"]["license"], str)  # an SPDX expression, not {text = ...}
    listed = set(config["tool"]["setuptools"]["packages"])
    dirs = {".".join(d.relative_to(ROOT).parts) for d in [ROOT / "kafkabp", *(ROOT / "kafkabp").rglob("*")]
            if d.is_dir() and d.name != "__pycache__" and any(f.is_file() for f in d.iterdir())}
    assert listed == dirs, f"packages in pyproject.toml: {sorted(listed)}; directories with files: {sorted(dirs)}"


def test_docker_compose_describes_one_kraft_node() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = {k: str(v) for k, v in kafka["environment"].items()}
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for key in ("KAFKA_NODE_ID", "KAFKA_CONTROLLER_QUORUM_VOTERS", "KAFKA_CONTROLLER_LISTENER_NAMES",
                "KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"):
        assert key in env, key
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert all(p.startswith("127.0.0.1:") for p in kafka["ports"]), "bind ports to loopback only"
    assert "healthcheck" in kafka


def test_environment_yml_brings_java_and_the_package() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert any(str(d).startswith("openjdk") for d in deps)
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert any(".[dev]" in p for p in pip)


def test_notebook_00_names_the_markers_doctor_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """Notebook 00 tells the learner which doctor lines are harmless; they must be the ones doctor prints."""
    from kafkabp import cli

    cli.doctor()
    printed = {line.split("]")[0] + "]" for line in capsys.readouterr().out.splitlines() if line.startswith("[")}
    assert printed <= {"[OK]", "[FAIL]", "[--]"}, printed
    cli._ok(False, "an optional check", optional=True)
    assert capsys.readouterr().out.startswith("[--] "), "doctor marks a missing optional check [--]"
    text = _markdown(ROOT / "notebooks" / "00_setup.ipynb")
    harmless = [paragraph for paragraph in text.split("\n\n") if "harmless" in paragraph]
    assert harmless and all("`[--]`" in p and "[FAIL]" not in p and "Docker" in p for p in harmless), harmless


LESSON_REF = re.compile(r"\b[Ll]essons? (\d\d)\b|\b(\d\d) · |\((\d\d)_[a-z_]+\.ipynb")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_lesson_calls_a_lesson_that_exists_coming(path: Path) -> None:
    """A sentence that says "coming" about a lesson that has landed sends the learner away from it."""
    existing = {p.name[:2] for p in NOTEBOOKS if re.match(r"\d\d_", p.name)}
    for sentence in re.split(r"(?<=[.!?:])\s|\n\n", _markdown(path)):
        if not re.search(r"\bcoming\b", sentence, re.I):
            continue
        named = {n for m in LESSON_REF.finditer(sentence) for n in m.groups() if n}
        stale = sorted(named & existing)
        assert not stale, f"{path.name} calls lesson {', '.join(stale)} 'coming', but it exists: {sentence.strip()!r}"


def test_the_coming_check_sees_the_ways_lessons_are_named(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(text) for text in (
        "Share groups read a topic (lesson 12, coming).", "**13 · Playground** (coming): every knob.",
        "Lesson 99 (pause/resume, coming) builds this.", "Commits keep coming, progress does not.")]
    found = []
    for cell in nb.cells:
        found += [n for m in LESSON_REF.finditer(cell.source) for n in m.groups() if n]
    assert found == ["12", "13", "99"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_stub_carries_the_raises_exception_tag(path: Path) -> None:
    """A stub raises ``NotImplementedError`` until the learner fills it in. nbval and nbclient (``jupyter nbconvert
    --execute``, what an instructor pre-runs lessons with) both know the ``raises-exception`` tag; nbclient stops at
    an untagged stub, and nbval warns when nbval's ``# NBVAL_RAISES_EXCEPTION`` comment doubles the tag."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        stub = "raise NotImplementedError(" in cell.source
        tagged = "raises-exception" in cell.metadata.get("tags", [])
        assert stub == tagged, f"{path.name}, cell {i}: tag the exercise stub `raises-exception`, and only it"
        assert "NBVAL_RAISES_EXCEPTION" not in cell.source, f"{path.name}, cell {i}: the tag is enough"


MAX_CELL_LINES = 25  # a cell shows one step; longer code belongs in the package (kafkabp/plots.py, Result)


def long_cells(nb: nbformat.NotebookNode) -> list[tuple[int, int]]:
    """(cell index, lines) of every code cell over MAX_CELL_LINES lines, Check cells aside: a Check cell is a
    code cell under a "## … Check" heading (the last level-2 heading above it names the Check section)."""
    section, found = "", []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            headings = [line for line in cell.source.splitlines() if line.startswith("## ")]
            section = headings[-1] if headings else section
        elif cell.cell_type == "code" and "Check" not in section:
            lines = len(cell.source.splitlines())
            if lines > MAX_CELL_LINES:
                found.append((i, lines))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_code_cell_over_25_lines_except_check_cells(path: Path) -> None:
    long = long_cells(nbformat.read(path, as_version=4))
    assert not long, f"{path.name}: (cell, lines) {long}: move the code into kafkabp (plots, Result) or split it"


def test_the_cell_count_tells_check_cells_from_the_rest() -> None:
    nb = nbformat.v4.new_notebook()
    code = "\n".join(f"x{i} = {i}" for i in range(MAX_CELL_LINES + 1))
    nb.cells = [nbformat.v4.new_markdown_cell("## 3 · See"), nbformat.v4.new_code_cell(code),
                nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_markdown_cell("## 5 · Check\nAssertions."), nbformat.v4.new_code_cell(code),
                nbformat.v4.new_markdown_cell("### more checks"), nbformat.v4.new_code_cell(code),
                nbformat.v4.new_markdown_cell("## 6 · Try it"), nbformat.v4.new_code_cell(code)]
    assert long_cells(nb) == [(1, 26), (8, 26)]

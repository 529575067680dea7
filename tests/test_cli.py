"""The kafkabp command: arguments, doctor, and the lab launcher's hand-off to JupyterLab."""

from __future__ import annotations

import pytest

from kafkabp import cli


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

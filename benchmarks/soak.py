"""A workshop day in one process (issue 25): the playground left running, then Start/Stop/Reset many times.

    .venv/bin/python benchmarks/soak.py                          # the issue's soak: 60 min running + 200 cycles
    .venv/bin/python benchmarks/soak.py --minutes 5 --cycles 30  # a short one

Drives :func:`kafkabp.playground` through its widgets, as a kernel does when a learner uses it: sets controls
(``preset``, ``rate`` and ``time_limit`` values) and presses its buttons (``Button.click()`` runs the same handlers
as a click in the browser: each starts or stops in its own thread). No front end is attached; the live loop still
redraws the chart's FigureWidget at each sample.

1. Running: the "healthy" preset (500 msg/s, 1 consumer, 1 ms per message) for ``--minutes``, its time limit set
   to match, the rate slider moved between 500 and 700 msg/s every minute.
2. Cycling: ``--cycles`` times: choose the next preset, Start, wait until it runs and ``--cycle-seconds`` more,
   Stop, Reset. Every preset but "consumer quota" (it runs Kafka's ``kafka-configs`` twice: seconds of a JVM),
   which runs every ``--quota-every`` cycles.

Every ``--every`` seconds a sampler notes the process's RSS, Python threads, OS threads, open file descriptors,
live librdkafka handles (threads named ``rdk:main``: one per producer, consumer or admin client), what
kafkabp's registry holds, and the local broker's disk use (``KAFKABP_HOME/local/data``). After each cycle's Reset
(garbage collected, up to 20 s for threads to end) the same is noted per cycle.

Reported: RSS slope while running (MB per hour, least squares over the samples after the first 2 minutes), and
per cycle after the first ten (MB, threads, fds, handles per cycle), the largest difference of threads, fds
and handles from their counts before the first cycle, and the broker's disk at the start, its peak and at the end.
Written to ``benchmarks/results/soak-<date>.md`` and ``.json``. Targets (issue 25): RSS ≤ 20 MB per hour running,
≤ 0.1 MB per cycle after the first ten; threads, fds and handles back to their starting counts after each Stop.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

import kafkabp
from kafkabp.infra.paths import local_dir
from kafkabp.playroom import PRESETS, Playground
from kafkabp.progress import rss_bytes
from kafkabp.registry import KINDS, REGISTRY

RESULTS = Path(__file__).resolve().parent / "results"
QUOTA_PRESET = "consumer quota"
WARM_UP_S = 120.0  # the running phase's first samples: imports, the first group join, caches filling


def os_threads() -> list[str]:
    """The names of this process's OS threads (librdkafka's are named rdk:main, rdk:broker…)."""
    names = []
    for task in Path("/proc/self/task").iterdir():
        try:
            names.append((task / "comm").read_text().strip())
        except OSError:  # ended while listed
            pass
    return names


def broker_disk_mb() -> float:
    """Disk used by the local broker's data (blocks allocated, as du counts them), MB; NaN for another broker."""
    data = local_dir() / "data"
    if not data.is_dir():
        return float("nan")
    total = 0
    for root, _, files in os.walk(data):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:  # a segment deleted while walking
                pass
    return total / 1e6


def measure(phase: str, t0: float, **extra: Any) -> dict[str, Any]:
    """One sample of what the soak watches."""
    names = os_threads()
    return {"phase": phase, "t": round(time.monotonic() - t0, 2), "rss_mb": rss_bytes() / 1e6,
            "threads": threading.active_count(), "os_threads": len(names),
            "rdk_handles": sum(1 for n in names if n == "rdk:main"), "fds": len(os.listdir("/proc/self/fd")),
            "disk_mb": broker_disk_mb(), **{f"live_{k}": len(REGISTRY.live(k)) for k in KINDS},
            "thread_names": sorted(t.name for t in threading.enumerate()
                                   if t is not threading.main_thread() and t.name != "soak-sampler"), **extra}


class Sampler:
    """Calls :func:`measure` every ``every`` seconds in a thread, into ``samples``; ``phase`` names the current part."""

    def __init__(self, every: float, t0: float) -> None:
        self.every, self.t0, self.phase = every, t0, "start"
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(measure(self.phase, self.t0))

    def start(self) -> "Sampler":
        self.samples.append(measure(self.phase, self.t0))
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.every + 5)


def wait_until(what: str, ok: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``ok()`` (polled every 0.1 s); raises TimeoutError naming ``what`` after ``timeout``."""
    start = time.monotonic()
    while not ok():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"soak: {what} did not happen within {timeout:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - start


def press(pg: Playground, button: str, what: str, timeout: float = 90.0) -> None:
    """Click the playground's Start, Stop or Reset button and wait until its thread is done; a failure (the
    status line says "failed") raises with the status line."""
    done: dict[str, Callable[[], bool]] = {
        "start": lambda: pg.experiment is not None or "failed" in pg.status.value,
        "stop": lambda: pg.experiment is None and not pg.start_button.disabled and "stopping" not in pg.status.value,
        "reset": lambda: pg.status.value.startswith("Reset."),
    }
    getattr(pg, f"{button}_button").click()
    wait_until(f"{what}: {button}", done[button], timeout)
    if "failed" in pg.status.value:
        raise RuntimeError(f"soak: {what}: {button} failed: {pg.status.value}")


def settled(baseline: set[int], left: set[int], timeout: float = 20.0) -> set[int]:
    """Garbage collected, and up to ``timeout`` s for the Python threads to come back to ``baseline`` (their idents).
    Threads already found left over after an earlier cycle (``left``) are not waited for again: one thread that
    never ends would otherwise add ``timeout`` to every later cycle. Returns the threads left over now."""
    deadline = time.monotonic() + timeout
    while True:
        gc.collect()
        extra = {t.ident for t in threading.enumerate() if t.ident is not None} - baseline
        if not (extra - left) or time.monotonic() > deadline:
            return extra
        time.sleep(0.2)


def slope(x: list[float], y: list[float]) -> float:
    """Least-squares slope of y over x (NaN with fewer than 3 points)."""
    if len(x) < 3 or len(set(x)) < 2:
        return float("nan")
    return float(np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)[0])


def run_phase(pg: Playground, sampler: Sampler, minutes: float, rate_every: float = 60.0) -> dict[str, Any]:
    """The playground left running: the healthy preset for ``minutes``, the rate slider moved every minute."""
    sampler.phase = "running"
    pg.preset.value = "healthy"
    limit = float(min(3_600, max(10, round(minutes * 60 + 30))))  # Settings' bounds; Stop comes first
    pg.apply(pg.settings.replace(time_limit=limit))  # sets the time-limit slider, as a learner's drag would
    press(pg, "start", "the running phase")
    end, next_move, high = time.monotonic() + minutes * 60, time.monotonic() + rate_every, False
    while time.monotonic() < end and pg.experiment is not None:
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
        if time.monotonic() >= next_move and pg.experiment is not None:
            high = not high
            pg.rate.value = 700.0 if high else 500.0  # the slider's observer steers the running experiment
            next_move += rate_every
    drawn = len(pg.figure.data[0].x)
    press(pg, "stop", "the running phase")
    s = pg.result.summary  # type: ignore[union-attr]
    return {"duration_s": s["duration"], "produced": s["produced"], "consumed": s["consumed"], "lost": s["lost"],
            "peak_lag": s["peak_lag"], "chart_points": drawn, "timeline_rows": len(pg.result.timeline)}  # type: ignore[union-attr]


def cycle_phase(pg: Playground, sampler: Sampler, cycles: int, seconds: float, quota_every: int, t0: float
                ) -> list[dict[str, Any]]:
    """Start/Stop/Reset ``cycles`` times with the presets in turn; one measurement after each Reset."""
    sampler.phase = "cycling"
    presets = [p for p in PRESETS if p != QUOTA_PRESET]
    settled(set(), set(), timeout=5)
    baseline: set[int] = {t.ident for t in threading.enumerate() if t.ident is not None}
    left: set[int] = set()
    rows = [measure("cycle", t0, cycle=0, preset="(before)", seconds=0.0)]
    for i in range(1, cycles + 1):
        quota = bool(quota_every) and i % quota_every == 0
        name = QUOTA_PRESET if quota else presets[(i - 1 - (i // quota_every if quota_every else 0)) % len(presets)]
        began = time.monotonic()
        pg.preset.value = name
        press(pg, "start", f"cycle {i} ({name})")
        time.sleep(seconds)
        press(pg, "stop", f"cycle {i} ({name})")
        press(pg, "reset", f"cycle {i} ({name})", timeout=30)
        left |= settled(baseline, left)
        rows.append(measure("cycle", t0, cycle=i, preset=name, seconds=round(time.monotonic() - began, 2)))
        r = rows[-1]
        print(f"cycle {i:3d} {name:32s} {r['seconds']:5.1f} s  rss {r['rss_mb']:7.1f} MB  threads {r['threads']:3d}"
              f"  fds {r['fds']:3d}  rdk {r['rdk_handles']:2d}  disk {r['disk_mb']:7.1f} MB"
              + (f"  threads left: {', '.join(r['thread_names'])}" if r["thread_names"] else ""), flush=True)
    return rows


def summarize(samples: list[dict[str, Any]], cycles: list[dict[str, Any]]) -> dict[str, Any]:
    """The slopes and the largest differences from the start that the report gives."""
    running = [s for s in samples if s["phase"] == "running"]
    if running:
        first = running[0]["t"]
        later = [s for s in running if s["t"] - first >= WARM_UP_S] or running
    else:
        later = []
    out: dict[str, Any] = {
        "rss_mb_per_hour_running": slope([s["t"] / 3600 for s in later], [s["rss_mb"] for s in later]),
        "rss_mb_per_hour_running_all": slope([s["t"] / 3600 for s in running], [s["rss_mb"] for s in running]),
    }
    after = [c for c in cycles if c["cycle"] > 10]
    for key in ("rss_mb", "threads", "os_threads", "fds", "rdk_handles"):
        out[f"{key}_per_cycle"] = slope([c["cycle"] for c in after], [c[key] for c in after])
    if cycles:
        start = cycles[0]
        for key in ("threads", "os_threads", "fds", "rdk_handles"):
            out[f"{key}_most_above_start"] = max(c[key] - start[key] for c in cycles)
            out[f"{key}_end_minus_start"] = cycles[-1][key] - start[key]
        out["live_views_end"] = cycles[-1]["live_view"]
        out["live_clients_end"] = cycles[-1]["live_client"] + cycles[-1]["live_monitor"] + cycles[-1]["live_experiment"]
    disk = [s["disk_mb"] for s in samples + cycles if not np.isnan(s["disk_mb"])]
    if disk:
        out.update(disk_mb_start=disk[0], disk_mb_peak=max(disk), disk_mb_end=disk[-1])
    return out


def report(meta: dict[str, Any], running: dict[str, Any], s: dict[str, Any], cycles: list[dict[str, Any]]) -> str:
    def f(x: Any, fmt: str = ".2f") -> str:
        return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else format(x, fmt)

    lines = [f"# kafkabp soak, {meta['date']}", "", "; ".join(f"{k}: {v}" for k, v in meta.items()), "",
             "| measure | value | target |", "|---|---|---|",
             f"| RSS while running, after the first {WARM_UP_S:.0f} s | {f(s['rss_mb_per_hour_running'])} MB/h "
             "| ≤ 20 MB/h |",
             f"| RSS while running, every sample | {f(s['rss_mb_per_hour_running_all'])} MB/h | |",
             f"| RSS per cycle after the first ten | {f(s.get('rss_mb_per_cycle'), '.3f')} MB | ≤ 0.1 MB |"]
    for key, name in (("threads", "Python threads"), ("os_threads", "OS threads"), ("fds", "open fds"),
                      ("rdk_handles", "librdkafka handles")):
        lines.append(f"| {name} per cycle after the first ten; most above the start; end − start "
                     f"| {f(s.get(f'{key}_per_cycle'), '.3f')}; {s.get(f'{key}_most_above_start', 'n/a')}; "
                     f"{s.get(f'{key}_end_minus_start', 'n/a')} | 0; back to the start after each Stop |")
    lines += [f"| broker disk: start, peak, end | {f(s.get('disk_mb_start'), '.1f')}, {f(s.get('disk_mb_peak'), '.1f')}, "
              f"{f(s.get('disk_mb_end'), '.1f')} MB | bounded |",
              f"| views / experiments+clients+monitors registered at the end | {s.get('live_views_end', 'n/a')} / "
              f"{s.get('live_clients_end', 'n/a')} | 1 / 0 |", "",
              "Running phase: " + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                                            for k, v in running.items()), ""]
    if cycles:
        lines += ["Cycles (after each Reset): cycle, preset, seconds, RSS MB, threads, OS threads, fds, rdk handles, "
                  "disk MB", "", "```"]
        lines += [f"{c['cycle']:3d} {c['preset']:32s} {c['seconds']:5.1f} {c['rss_mb']:7.1f} {c['threads']:3d} "
                  f"{c['os_threads']:3d} {c['fds']:3d} {c['rdk_handles']:2d} {c['disk_mb']:7.1f}" for c in cycles]
        lines += ["```", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0, help="the running phase, minutes (default 60)")
    ap.add_argument("--cycles", type=int, default=200, help="Start/Stop/Reset cycles (default 200)")
    ap.add_argument("--cycle-seconds", type=float, default=3.0, help="seconds each cycle runs after it started")
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples (default 10)")
    ap.add_argument("--quota-every", type=int, default=10, help="the quota preset every N cycles (0: never)")
    ap.add_argument("--history-samples", type=int, default=None,
                    help="kafkabp.history.HISTORY_SAMPLES and ARCHIVE_SAMPLES for this run (a short soak that "
                         "reaches the lag monitor's bound); default: kafkabp's")
    ap.add_argument("--label", default="", help="a word for the result's file name and header (e.g. before)")
    args = ap.parse_args()
    if args.minutes < 0 or args.cycles < 0 or args.every <= 0 or args.cycle_seconds < 0:
        ap.error("--minutes, --cycles and --cycle-seconds must be >= 0, --every > 0")
    if args.history_samples is not None:
        from kafkabp import history

        history.HISTORY_SAMPLES = history.ARCHIVE_SAMPLES = args.history_samples
    date = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%M%S")
    meta = {"date": date, "label": args.label or "-", "minutes": args.minutes, "cycles": args.cycles,
            "cycle_seconds": args.cycle_seconds, "every_s": args.every, "history_samples": args.history_samples
            or "default", "bootstrap": kafkabp.ensure_broker(), "python": platform.python_version(),
            "load_before": round(os.getloadavg()[0], 2)}
    print(f"soak: {meta}", flush=True)
    t0 = time.monotonic()
    pg = kafkabp.playground()
    sampler = Sampler(args.every, t0).start()
    running: dict[str, Any] = {}
    cycles: list[dict[str, Any]] = []
    try:
        if args.minutes:
            running = run_phase(pg, sampler, args.minutes)
            print(f"running phase: {running}", flush=True)
        if args.cycles:
            cycles = cycle_phase(pg, sampler, args.cycles, args.cycle_seconds, args.quota_every, t0)
    finally:
        sampler.stop()
        pg.close()
    meta["load_after"] = round(os.getloadavg()[0], 2)
    meta["wall_s"] = round(time.monotonic() - t0, 1)
    s = summarize(sampler.samples, cycles)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"soak-{date}" + (f"-{args.label}" if args.label else "")
    (RESULTS / f"{stem}.md").write_text(report(meta, running, s, cycles))
    (RESULTS / f"{stem}.json").write_text(json.dumps({"meta": meta, "running": running, "summary": s,
                                                      "samples": sampler.samples, "cycles": cycles},
                                                     indent=1, default=str))
    print(json.dumps(s, indent=1, default=str))
    print(f"wrote {RESULTS / f'{stem}.md'}")


if __name__ == "__main__":
    main()

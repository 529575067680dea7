"""Regression for the SIGSEGV on a fresh broker (issue 8): restart a broker, run an experiment at once.

librdkafka 2.16's AdminClient crashed the process when an offset request met NOT_COORDINATOR, which
is what a just-started broker answers; kafkabp now reads committed offsets through a consumer client.
Each cycle stops and starts a broker of its own (a separate KAFKABP_HOME, so the session's broker
is untouched), then runs lesson 01's first experiment in a fresh Python process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kafkabp.infra import jars

pytestmark = pytest.mark.integration

# Before the fix the process died in 2 of 3, 7 of 10 and 2 of 4 such cycles (issue 8: 11 of 17, 65 %). Five cycles
# miss a crash that likely with probability 0.35^5 = 0.5 % (at a rate of 50 %: 3 %); ten took 180-220 s of make test,
# the longest scope, for 0.35^10. KAFKABP_RESTART_CYCLES=20 runs issue 8's longer check.
CYCLES = int(os.environ.get("KAFKABP_RESTART_CYCLES", "5"))

EXPERIMENT = """
import kafkabp
r = kafkabp.run_experiment(4, rate=2000, consumers=1, partitions=4,
                           processing=kafkabp.fixed(0.001), progress=False)
assert r.summary["consumed"] > 0, r.summary
print("consumed", r.summary["consumed"])
"""


@pytest.mark.skipif(bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
                    reason="restarts a local broker; an external cluster is not ours to restart")
def test_experiments_right_after_a_broker_restart_never_crash(tmp_path: Path, kafka_bootstrap: str) -> None:
    libs = jars.kafka_libs()  # reuse the session's jars: KAFKA_HOME=<dir with libs/>
    env = {**os.environ, "KAFKABP_HOME": str(tmp_path / "state"), "KAFKABP_BROKER": "local",
           "KAFKA_HOME": str(os.environ.get("KAFKA_HOME") or libs.parent)}
    cli = [sys.executable, "-m", "kafkabp.cli"]
    outcomes = []
    try:
        for cycle in range(CYCLES):
            subprocess.run([*cli, "broker", "down"], env=env, capture_output=True, timeout=60)
            up = subprocess.run([*cli, "broker", "up"], env=env, capture_output=True, text=True, timeout=120)
            assert up.returncode == 0, f"cycle {cycle}: broker up failed:\n{up.stdout}{up.stderr}"
            run = subprocess.run([sys.executable, "-c", EXPERIMENT], env=env, capture_output=True,
                                 text=True, timeout=120)
            outcomes.append((cycle, run.returncode, (run.stdout + run.stderr)[-400:]))
    finally:
        subprocess.run([*cli, "broker", "down"], env=env, capture_output=True, timeout=60)
    crashes = [o for o in outcomes if o[1] != 0]
    assert not crashes, f"{len(crashes)} of {CYCLES} runs died (exit -11/139 is SIGSEGV): {crashes}"
    assert len(outcomes) == CYCLES

"""A broker stopped mid-lesson (issue 19, item 3): `kafkabp broker down` while an experiment runs.

The experiment stops within seconds, keeps what it measured and says it was cut short, leaves no thread behind,
and the next call that needs the broker fails at once with BrokerUnavailable, naming the address and the fix.
The broker is the test's own (a separate KAFKABP_HOME, stopped from another process as a learner's terminal
would): the session's broker is untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kafkabp import outage
from kafkabp.infra.paths import BrokerError
from kafkabp.infra import jars

LOST = """
import json, subprocess, sys, threading, time, warnings
import kafkabp
kafkabp.ensure_broker()
marks = {}

def broker_down():  # as a learner would, from a terminal: another process
    time.sleep(5.0)
    marks["down"] = time.monotonic()
    subprocess.run([sys.executable, "-m", "kafkabp.cli", "broker", "down"], capture_output=True, timeout=120)
    marks["gone"] = time.monotonic()

exp = kafkabp.Experiment(rate=500, consumers=4, partitions=4, processing=kafkabp.fixed(0.01), label="4 consumers",
                         producer=kafkabp.Producer(keys="uniform"), group=kafkabp.Group(batch_size=25))
down = threading.Thread(target=broker_down, daemon=True)
down.start()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    r = exp.run(40, progress=False)
marks["returned"] = time.monotonic()
threads = [t.name for t in threading.enumerate() if t.name.startswith("kafkabp")]
down.join(120)  # the JVM may still be writing its class-data archive as it exits
t = time.monotonic()
try:
    kafkabp.create_topic(kafkabp.unique_name("after"), 4)
    error = None
except Exception as exc:
    error = [type(exc).__name__, isinstance(exc, kafkabp.BrokerError), str(exc)]
print(json.dumps({"down_to_return": marks["returned"] - marks["down"], "gone_to_return": marks["returned"] - marks["gone"],
                  "error_after": time.monotonic() - t, "error": error, "threads": threads,
                  "cut_short": r.cut_short, "summary_cut_short": r.summary["cut_short"],
                  "owned": sorted(p for ps in r.assignment.values() for p in ps), "consumed": r.summary["consumed"],
                  "bootstrap": kafkabp.bootstrap(), "warnings": [str(w.message) for w in caught]}))
"""


@pytest.mark.integration
@pytest.mark.skipif(bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
                    reason="stops a local broker; an external cluster is not ours to stop")
def test_a_broker_stopped_mid_run_cuts_the_run_short_and_the_next_call_says_how_to_fix_it(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    libs = jars.kafka_libs()  # the session's jars: no download
    env = {**os.environ, "KAFKABP_HOME": str(tmp_path / "state"), "KAFKABP_BROKER": "local",
           "KAFKA_HOME": str(os.environ.get("KAFKA_HOME") or libs.parent)}
    try:
        run = subprocess.run([sys.executable, "-c", LOST], env=env, capture_output=True, text=True, timeout=240)
    finally:
        subprocess.run([sys.executable, "-m", "kafkabp.cli", "broker", "down"], env=env, capture_output=True,
                       timeout=60)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"`broker down` took {seen['down_to_return'] - seen['gone_to_return']:.1f} s; the run returned "
          f"{seen['gone_to_return']:.1f} s after it ended ({seen['down_to_return']:.1f} s after it began); "
          f"create_topic failed after {seen['error_after']:.2f} s; kafkabp threads left: {len(seen['threads'])}")
    # the run noticed and returned within seconds of the broker going (not its 40 s, nor minutes of closing);
    # `broker down` itself may take 5-20 s the first time (the JVM writes its class-data archive as it exits)
    assert seen["gone_to_return"] <= 10.0 and seen["down_to_return"] <= 25.0, seen
    assert seen["cut_short"] and "stopped answering" in seen["cut_short"] and seen["summary_cut_short"], seen
    assert seen["consumed"] > 0, seen  # what it measured before the outage is kept
    assert seen["owned"] == [0, 1, 2, 3], seen  # who owned what when the broker went, not "idle" for all
    assert seen["threads"] == [], seen  # no producer, member, monitor or pool thread left behind
    name, is_broker_error, message = seen["error"]
    assert name == "BrokerUnavailable" and is_broker_error and seen["error_after"] <= 15.0, seen
    assert seen["bootstrap"] in message and "not answering" in message, message
    assert "kafkabp broker up" in message and "kafkabp.ensure_broker()" in message and "setup cell" in message, message
    assert any("stopped early" in w for w in seen["warnings"]), seen["warnings"]


def test_the_fix_names_kafkabps_broker_or_the_external_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    local = outage.unavailable("nothing accepts connections there", "127.0.0.1:1")
    assert isinstance(local, BrokerError)
    assert str(local).startswith("the Kafka broker at 127.0.0.1:1 is not answering (nothing accepts")
    assert "kafkabp broker up" in str(local) and "re-run the lesson's setup cell" in str(local)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example:9092")
    external = str(outage.unavailable("", "kafka.example:9092"))
    assert "KAFKA_BOOTSTRAP_SERVERS" in external and "kafkabp broker up" not in external, external
    outage.clear("127.0.0.1:1")
    outage.clear("kafka.example:9092")
    assert not outage.listening("127.0.0.1:1", timeout=0.5)

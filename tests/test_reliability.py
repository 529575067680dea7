"""Faults a workshop meets: four kernels starting the broker at once, a stale state file, a consumer killed
mid-batch. Every message is counted from the ledger's sequence numbers (issue 13)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kafkabp
from kafkabp import broker
from kafkabp.ledger import HEADER, MAGIC, Ledger

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
                                 reason="starts and kills local brokers; an external cluster is not ours")]


def _env(home: Path) -> dict[str, str]:
    libs = broker.kafka_libs()  # the session's jars: no download
    return {**os.environ, "KAFKABP_HOME": str(home), "KAFKABP_BROKER": "local",
            "KAFKA_HOME": str(os.environ.get("KAFKA_HOME") or libs.parent)}


def _jvms(home: Path) -> list[int]:
    """Pids of Kafka JVMs whose command line names this KAFKABP_HOME."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"kafka.Kafka" in cmd and str(home).encode() in cmd:
                pids.append(int(entry.name))
    return pids


def _down(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "kafkabp.cli", "broker", "down"], env=env, capture_output=True, timeout=60)


ENSURE = "import json, kafkabp; i = kafkabp.ensure_broker_info(); print(json.dumps([i.bootstrap, i.pid]))"


def test_four_kernels_starting_at_once_share_one_broker(kafka_bootstrap: str, tmp_path: Path) -> None:
    home = tmp_path / "state"
    env = _env(home)
    try:
        procs = [subprocess.Popen([sys.executable, "-c", ENSURE], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        answers = []
        for p in procs:
            out, err = p.communicate(timeout=180)
            assert p.returncode == 0, err[-2000:]
            answers.append(tuple(json.loads(out.strip().splitlines()[-1])))
        assert len(set(answers)) == 1, answers  # one address, one pid, for all four
        assert _jvms(home) == [answers[0][1]], (_jvms(home), answers)
    finally:
        _down(env)
    assert _jvms(home) == []


def test_a_stale_state_file_is_detected_and_replaced(kafka_bootstrap: str, tmp_path: Path) -> None:
    """The JVM died (SIGKILL) and something else took its port: the next ensure_broker starts a new broker."""
    home = tmp_path / "state"
    env = _env(home)
    squatter = socket.socket()
    try:
        first = subprocess.run([sys.executable, "-c", ENSURE], env=env, capture_output=True, text=True, timeout=180)
        assert first.returncode == 0, first.stderr[-2000:]
        old_bootstrap, old_pid = json.loads(first.stdout.strip().splitlines()[-1])
        os.kill(old_pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while broker._pid_alive(old_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            squatter.bind(("127.0.0.1", int(old_bootstrap.rsplit(":", 1)[1])))
            squatter.listen()  # accepts TCP, speaks no Kafka
        except OSError:  # another process on this busy machine took the freed port first: the same situation
            pass
        second = subprocess.run([sys.executable, "-c", ENSURE], env=env, capture_output=True, text=True, timeout=180)
        assert second.returncode == 0, second.stderr[-2000:]
        new_bootstrap, new_pid = json.loads(second.stdout.strip().splitlines()[-1])
        assert new_pid != old_pid and new_bootstrap != old_bootstrap, (old_bootstrap, new_bootstrap)
        assert _jvms(home) == [new_pid]
    finally:
        squatter.close()
        _down(env)


CRASHING_CONSUMER = r"""
import sys, time, kafkabp
from kafkabp.ledger import HEADER_SIZE, Ledger

topic, group, out = sys.argv[1], sys.argv[2], sys.argv[3]

class FileLedger(Ledger):
    # every processed sequence number goes to a file at once, so a SIGKILL loses none of the record
    def record(self, values):
        with open(out, "a") as fh:
            fh.write("".join(f"{int.from_bytes(v[4:12], 'big')}\n" for v in values))
        super().record(values)

g = kafkabp.ConsumerGroup(topic, group, 1, kafkabp.fixed(0.002), ledger=FileLedger(), batch_size=200)
g.start()
print("started", flush=True)
time.sleep(600)
"""


def test_a_consumer_killed_mid_batch_loses_nothing_and_repeats_at_most_what_it_had_not_committed(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """SIGKILL a consumer process mid-run (no commit, no LeaveGroup); a new member of the group finishes.

    Exact from sequence numbers: every produced message processed at least once (0 lost), and the duplicates
    are exactly what the dead member had processed beyond its last commit (commits every 0.2 s, so usually some).
    """
    n = 6_000
    topic, group = kafkabp.unique_name("crash"), kafkabp.unique_name("crash-group")
    kafkabp.create_topic(topic, 2)
    ledger = Ledger()
    producer = kafkabp.RateProducer(topic, None, max_messages=n, ledger=ledger, name="crash-producer")
    producer.start()
    assert producer.wait(60) and producer.delivered == n
    producer.stop()
    seen = tmp_path / "processed.txt"
    child = subprocess.Popen([sys.executable, "-c", CRASHING_CONSUMER, topic, group, str(seen)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # finds the session's broker
    try:
        deadline = time.monotonic() + 60
        while (not seen.exists() or len(seen.read_text().split()) < 1_500) and time.monotonic() < deadline:
            assert child.poll() is None, child.communicate()[1][-2000:]
            time.sleep(0.1)
        child.send_signal(signal.SIGKILL)  # mid-batch: it processes 200-message batches at 2 ms each
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    by_child = [int(x) for x in seen.read_text().split()]
    committed = sum(off for off in kafkabp.committed_offsets(group, topic).values() if off and off > 0)
    assert 1_500 <= len(by_child) < n, len(by_child)
    assert committed <= len(by_child), (committed, len(by_child))  # commits follow processing, never lead it

    finisher = kafkabp.ConsumerGroup(topic, group, 1, ledger=ledger)
    finisher.start()
    try:
        done = kafkabp.wait_for(lambda: finisher.consumed >= n - committed, timeout=60)
        assert done, (finisher.consumed, n, committed)
    finally:
        finisher.stop()
    ledger.record([HEADER.pack(MAGIC, producer.producer_id, s) for s in by_child])  # what the dead member did
    report = ledger.report()
    assert report["lost"] == 0 and report["unread"] == 0, report
    assert report["processed_unique"] == n, report
    # the new member starts from the last commit, so it repeats exactly what the dead one did beyond it
    assert report["duplicates"] == len(by_child) - committed, (report, len(by_child), committed)
    kafkabp.delete_topic(topic)

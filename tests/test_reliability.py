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
from kafkabp.infra import jars, node
from kafkabp.ledger import HEADER, MAGIC, Ledger

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
                                 reason="starts and kills local brokers; an external cluster is not ours")]


def _env(home: Path) -> dict[str, str]:
    libs = jars.kafka_libs()  # the session's jars: no download
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
        while node.pid_alive(old_pid) and time.monotonic() < deadline:
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


KILLED_BROKER = r"""
import json, sys, time, kafkabp
from confluent_kafka import Consumer, TopicPartition
from kafkabp.ledger import HEADER

def log_records(topic, partitions):
    # every record in the topic's log, to count what the producer wrote twice
    c = Consumer({**kafkabp.client_config(), "group.id": kafkabp.unique_name("count"),
                  "auto.offset.reset": "earliest", "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    seqs, eof = [], set()
    while len(eof) < partitions:
        for m in c.consume(1000, timeout=10):
            if m.error():
                eof.add(m.partition())
            else:
                seqs.append(HEADER.unpack_from(m.value())[2])
    c.close()
    return len(seqs), len(set(seqs))

kafkabp.ensure_broker()
out = {}
for mode, conf in (("idempotent", {"acks": "all", "enable.idempotence": True}),
                   ("acks=1", {"acks": "1", "enable.idempotence": False})):
    exp = kafkabp.Experiment(rate=2000, consumers=1, partitions=2, producer=kafkabp.Producer(config=conf),
                             topic=kafkabp.Topic(keep=True))
    with exp:  # kill at 3 s; then wait (up to 60 s) until the group processes again, and 8 s more
        exp.wait(3, progress=False)
        at_kill = exp.consumer_group.consumed
        kafkabp.restart_broker(crash=True)
        restarted = time.monotonic()
        for _ in range(120):
            if exp.consumer_group.consumed > at_kill + 1_000:
                break
            exp.wait(0.5, progress=False)
        back_after = time.monotonic() - restarted
        exp.wait(8, progress=False)
    r = exp.result()
    p = r.processed
    cut = r.summary["duration"] - 6  # what the group processed in the last 6 s (0 if it never came back)
    before, last = p.loc[p["t"] <= cut, "processed"].max(), p["processed"].max()
    after = int((0 if last != last else last) - (0 if before != before else before))  # x != x: NaN, no rows
    records, distinct = log_records(exp.topic, 2)
    out[mode] = {**{k: r.summary[k] for k in ("produced", "delivered", "failed", "consumed", "lost", "duplicates",
                                             "counts_exact", "broker_outages", "broker_unreachable_s")},
                 "log_records": records, "log_distinct": distinct, "processed_last_6s": after,
                 "back_after_s": back_after}
print(json.dumps(out))
"""


def test_a_broker_killed_mid_experiment_restarts_on_its_data_and_every_message_is_counted(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """SIGKILL the broker 3 s into a run and start it again on the same data and address (restart_broker).

    The experiment survives the gap (clients reconnect), marks it as an outage, and counts exactly: with
    acks=all and idempotence, nothing acknowledged is lost and the log holds no record twice. With acks=1 and
    no idempotence a kill of the process loses nothing acknowledged on one node either (the writes are in the
    OS page cache), but a retry of a batch whose answer the kill swallowed can be written twice: counted.
    """
    env = _env(tmp_path / "state")
    try:
        run = subprocess.run([sys.executable, "-c", KILLED_BROKER], env=env, capture_output=True, text=True,
                             timeout=400)
        assert run.returncode == 0, run.stderr[-3000:]
        seen = json.loads(run.stdout.strip().splitlines()[-1])
    finally:
        _down(env)
    for mode, s in seen.items():
        assert s["broker_outages"] >= 1 and s["broker_unreachable_s"] >= 3, (mode, s)  # the gap is on record
        assert s["failed"] == 0 and s["delivered"] == s["produced"], (mode, s)  # retried through the gap
        assert s["counts_exact"] and s["lost"] == 0, (mode, s)  # nothing acknowledged was lost
        # the group came back and works again, within a minute of the restart (0.5-1 s after restart_broker returned on
        # a quiet machine; under a parallel make test a fixed 26 s run once ended before the group was back)
        assert s["back_after_s"] < 60 and s["processed_last_6s"] > 0, (mode, s)
    idem = seen["idempotent"]
    assert idem["log_records"] == idem["log_distinct"] == idem["produced"], idem  # not one record twice
    acks1 = seen["acks=1"]
    assert acks1["log_distinct"] == acks1["produced"] and acks1["log_records"] >= acks1["log_distinct"], acks1
    print(f"acks=1 without idempotence: {acks1['log_records'] - acks1['log_distinct']} records written twice; "
          f"the group processed again {idem['back_after_s']:.1f} s and {acks1['back_after_s']:.1f} s after the restarts")

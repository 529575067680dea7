"""Transactions and lag (lesson 02): why a group that read everything can show a lag of 1 on an idle topic.

A transactional producer ends every transaction with a **control record** on each partition it wrote to: the
commit (or abort) marker. The marker takes an offset like any record, so the log end offset counts it, but no
consumer ever receives it: with ``isolation.level=read_committed`` (librdkafka's default) a consumer reads up to
the **last stable offset** (LSO: below it every transaction is decided) and the client skips the markers.
A consumer that commits "the last message's offset + 1", as most hand-written consumers (and kafkabp's) do,
commits the marker's own offset: one short of the log end, forever, once the topic goes quiet
(confluentinc/librdkafka#3917, linkedin/Burrow#570). librdkafka moves its own position past a marker when the
application polls after it (``rd_kafka_fetch_op_app_prepare`` for a control message), so committing
``consumer.position()`` (or librdkafka's stored offsets, as auto-commit does) reaches the log end.

Every call that reaches the broker is bounded by ``timeout`` seconds.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import Consumer, IsolationLevel, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import OffsetSpec

from kafkabp import admin, offsets
from kafkabp.infra.broker import client_config
from kafkabp.infra.paths import rdkafka_log

COMMITS = ("last message", "position")  # what consume_and_commit commits: msg.offset() + 1, or position()


def produce_transactions(topic: str, transactions: int, per_transaction: int, *, timeout: float = 30.0) -> int:
    """Write ``transactions`` committed transactions of ``per_transaction`` messages each to ``topic``.

    One transactional producer (a fresh ``transactional.id``): ``init_transactions``, then per transaction
    ``begin_transaction``, the messages, ``commit_transaction``; an error aborts the open transaction and is raised.
    Returns the number of messages written (the markers not counted).
    """
    if transactions < 1 or per_transaction < 1:
        raise ValueError(f"need at least one transaction of at least one message, got {transactions} × {per_transaction}")
    producer = Producer({**client_config(), "transactional.id": f"kafkabp-{uuid.uuid4().hex[:12]}",
                         "logger": rdkafka_log})
    producer.init_transactions(timeout)  # the first one on a broker also creates __transaction_state
    written = 0
    for t in range(transactions):
        producer.begin_transaction()
        try:
            for i in range(per_transaction):
                producer.produce(topic, key=str(i % 10).encode(), value=f"transaction {t} message {i}".encode())
                producer.poll(0)
            producer.commit_transaction(timeout)
        except Exception:
            producer.abort_transaction(timeout)
            raise
        written += per_transaction
    producer.flush(timeout)
    return written


def _consumer(group: str, isolation: str = "read_committed") -> Consumer:
    return Consumer({**client_config(), "group.id": group, "enable.auto.commit": False, "logger": rdkafka_log,
                     "auto.offset.reset": "earliest", "isolation.level": isolation, "enable.partition.eof": True})


def consume_and_commit(topic: str, group: str, expected: int, *, commit: str = "last message",
                       timeout: float = 20.0) -> int:
    """Read every partition of ``topic`` from its start until ``expected`` messages and the end of every partition
    arrived, then commit for ``group``: ``"last message"`` commits each partition's last message offset + 1 (what
    kafkabp's consumers and most hand-written ones commit), ``"position"`` commits ``consumer.position()``.

    The consumer is assigned the partitions (no group membership, so no rebalance to wait for); the commit is the
    group's all the same, and ``kafka-consumer-groups --describe`` shows it. Returns the messages read.
    """
    if commit not in COMMITS:
        raise ValueError(f"commit must be one of {COMMITS}, got {commit!r}")
    parts = admin.topic_partitions(topic, timeout)
    consumer = _consumer(group)
    deadline = time.monotonic() + timeout
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        last: dict[int, int] = {}
        at_end: set[int] = set()
        got = 0
        while (got < expected or len(at_end) < len(parts)) and time.monotonic() < deadline:
            for m in consumer.consume(num_messages=1_000, timeout=0.2):
                if m.error() is None:
                    got += 1
                    last[m.partition()] = m.offset()
                    at_end.discard(m.partition())
                elif m.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(m.partition())
        if got < expected:
            raise TimeoutError(f"read {got:,} of {expected:,} messages of {topic} within {timeout:g} s")
        if commit == "last message":
            offsets = [TopicPartition(topic, p, off + 1) for p, off in sorted(last.items())]
        else:
            offsets = [tp for tp in consumer.position([TopicPartition(topic, p) for p in parts]) if tp.offset >= 0]
        consumer.commit(offsets=offsets, asynchronous=False)
        return got
    finally:
        consumer.close()


def unread_messages(group: str, topic: str, *, timeout: float = 10.0) -> int:
    """How many messages a ``read_committed`` consumer still receives from ``group``'s committed offsets to the end
    of every partition of ``topic`` (markers are never received): the data messages the group has not read."""
    parts = admin.topic_partitions(topic, timeout)
    committed = offsets.read_committed(group, [(topic, p) for p in parts], timeout)
    consumer = _consumer(f"kafkabp-unread-{uuid.uuid4().hex[:8]}")
    deadline = time.monotonic() + timeout
    try:
        consumer.assign([TopicPartition(topic, p, committed[(topic, p)][0] if (topic, p) in committed else 0)
                         for p in parts])
        at_end: set[int] = set()
        unread = 0
        while len(at_end) < len(parts):
            if time.monotonic() > deadline:
                raise TimeoutError(f"did not reach the end of {topic} within {timeout:g} s")
            for m in consumer.consume(num_messages=1_000, timeout=0.2):
                if m.error() is None:
                    unread += 1
                elif m.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(m.partition())
        return unread
    finally:
        consumer.close()


def stable_offsets(topic: str, *, timeout: float = 10.0) -> dict[int, int]:
    """Per partition, the last stable offset (LSO): ``ListOffsets`` for "latest" with ``read_committed``. Below it
    every transaction is committed or aborted; it equals the log end offset when no transaction is open."""
    req: dict[Any, Any] = {TopicPartition(topic, p): OffsetSpec.latest() for p in admin.topic_partitions(topic, timeout)}
    futs = admin.admin_client().list_offsets(req, isolation_level=IsolationLevel.READ_COMMITTED,
                                             request_timeout=timeout)
    return {tp.partition: fut.result(timeout=timeout).offset for tp, fut in futs.items()}


__all__ = ["COMMITS", "consume_and_commit", "produce_transactions", "stable_offsets", "unread_messages"]

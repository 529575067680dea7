"""A group's committed offsets, read through a consumer client that never joins the group (lag, lesson 09's
transactions, ``kafkabp.committed_offsets``), and the topics a group reads."""

from __future__ import annotations

import threading
import time
from typing import Any, Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from kafkabp import admin
from kafkabp.infra.broker import client_config
from kafkabp.infra.paths import rdkafka_log

_COORDINATOR_BUSY = (KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                     KafkaError.COORDINATOR_NOT_AVAILABLE)


class OffsetReader:
    """Reads a group's committed offsets through a consumer client that never joins the group.

    Not through ``AdminClient.list_consumer_group_offsets``: in librdkafka 2.16 an admin OffsetFetch
    answered with ``NOT_COORDINATOR`` (a fresh broker's first answers, or a coordinator that moved)
    dereferences a group handle the admin client does not have, and the process dies with SIGSEGV
    (confluentinc/librdkafka#5040, confluent-kafka-javascript#374). A consumer's own OffsetFetch goes
    through its group-coordinator handling, which looks the coordinator up again and retries.
    """

    def __init__(self, group: str) -> None:
        admin.check_name(group, "group")
        self.group = group
        self._consumer: Consumer | None = Consumer({
            **client_config(), "group.id": group, "client.id": f"kafkabp-offsets-{group}",
            "enable.auto.commit": False, "logger": rdkafka_log, "allow.auto.create.topics": False,
            "isolation.level": "read_uncommitted",  # log end offsets as the admin client's list_offsets reads them
        })
        self._lock = threading.Lock()

    def committed(self, partitions: Iterable[tuple[str, int]], timeout: float = 10.0
                  ) -> dict[tuple[str, int], tuple[int, str]]:
        """(offset, commit metadata) for each partition the group has committed; others are absent."""
        parts = [TopicPartition(t, p) for t, p in partitions]
        if not parts:
            return {}
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self._consumer is None:
                    raise RuntimeError(f"the offset reader of group {self.group!r} is closed")
                try:
                    res = self._consumer.committed(parts, timeout=max(0.1, deadline - time.monotonic()))
                    break
                except KafkaException as exc:  # a coordinator still loading or moving: ask again shortly
                    if exc.args[0].code() not in _COORDINATOR_BUSY or time.monotonic() + 0.2 >= deadline:
                        raise
            time.sleep(0.2)
        return {(tp.topic, tp.partition): (tp.offset, tp.metadata or "") for tp in res
                if tp.error is None and tp.offset >= 0}

    def log_offsets(self, partitions: Iterable[tuple[str, int]], latest: bool = True, timeout: float = 10.0
                    ) -> dict[tuple[str, int], int]:
        """Log end (``latest``) or log start offsets, as ``AdminClient.list_offsets`` with OffsetSpec latest/earliest
        (read-uncommitted) gives them, but in one call that makes no future per partition (1,000 partitions cost
        a few ms of CPU instead of tens). Raises :class:`KafkaException` if any partition fails."""
        parts = [TopicPartition(t, p, -1 if latest else -2) for t, p in partitions]  # ListOffsets' special times
        if not parts:
            return {}
        with self._lock:
            if self._consumer is None:
                raise RuntimeError(f"the offset reader of group {self.group!r} is closed")
            res = self._consumer.offsets_for_times(parts, timeout=timeout)
        for tp in res:
            if tp.error is not None:
                raise KafkaException(tp.error)
        return {(tp.topic, tp.partition): tp.offset for tp in res}

    def close(self) -> None:
        with self._lock:
            consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()

    def __enter__(self) -> "OffsetReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def group_topics(group: str, timeout: float = 10.0) -> set[str]:
    """Topics a group's members are assigned; for a group without members, every non-internal topic (the caller
    keeps those the group committed on: :func:`committed_with_metadata`, ``kafkabp.snapshot``)."""
    return group_topics_with_metadata(group, timeout)[0]


def group_topics_with_metadata(group: str, timeout: float = 10.0) -> tuple[set[str], Any]:
    """:func:`group_topics`, and the cluster metadata when it had to list every topic (else None)."""
    admin.check_name(group, "group")
    topics: set[str] = set()
    try:  # the members' assignments straight from the description (no DataFrame: the monitor asks twice a second)
        client = admin.admin_client()
        desc = client.describe_consumer_groups([group], request_timeout=timeout)[group].result(timeout=timeout)
        for m in desc.members:
            topics |= {tp.topic for tp in (m.assignment.topic_partitions if m.assignment else [])}
    except KafkaException:  # an unknown group has no members
        pass
    md = None
    if not topics:  # committed offsets without members: ask about every topic (one request)
        md = admin.admin_client().list_topics(timeout=timeout)
        topics = {t for t in md.topics if not t.startswith("__")}
    return topics, md


def committed_offsets(group: str, topics: Iterable[str] | None = None, timeout: float = 10.0
                      ) -> dict[tuple[str, int], int]:
    """The group's committed offsets by (topic, partition); partitions never committed are absent."""
    return {tp: off for tp, (off, _) in committed_with_metadata(group, topics, timeout).items()}


def committed_with_metadata(group: str, topics: Iterable[str] | None = None, timeout: float = 10.0,
                            reader: OffsetReader | None = None) -> dict[tuple[str, int], tuple[int, str]]:
    """Committed offsets with each commit's metadata string (kafkabp's consumers stamp the commit time).

    ``topics`` defaults to :func:`group_topics`; ``reader`` reuses an open :class:`OffsetReader`.
    """
    if isinstance(topics, str):  # one topic name, not an iterable of its characters
        topics = [topics]
    names = sorted(set(topics) if topics is not None else group_topics(group, timeout))
    parts = [(t, p) for t in names if admin.topic_exists(t, timeout) for p in admin.topic_partitions(t, timeout)]
    return read_committed(group, parts, timeout, reader)


def read_committed(group: str, partitions: list[tuple[str, int]], timeout: float = 10.0,
                   reader: OffsetReader | None = None) -> dict[tuple[str, int], tuple[int, str]]:
    """:meth:`OffsetReader.committed` through ``reader``, or through a reader opened and closed for this call."""
    if reader is not None:
        return reader.committed(partitions, timeout)
    with OffsetReader(group) as own:
        return own.committed(partitions, timeout)

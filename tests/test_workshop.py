"""`kafkabp reset` for workshops: the course's topics, groups and quotas go; everything else stays."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

import kafkabp
from kafkabp import cli, workshop

pytestmark = pytest.mark.integration


def test_reset_deletes_the_course_topics_groups_and_quotas_only(kafka_bootstrap: str, tmp_path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKABP_RESULTS", str(tmp_path))
    prefix = f"kafkabp-resettest-{uuid.uuid4().hex[:6]}"  # this test's own names: other tests' topics stay
    topic, group, client = f"{prefix}-topic", f"{prefix}-group", f"{prefix}-client"
    other = f"other-{uuid.uuid4().hex[:6]}"
    kafkabp.create_topic(topic, 1)
    kafkabp.create_topic(other, 1)
    consumer = Consumer({**kafkabp.client_config(), "group.id": group})
    consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
    consumer.close()
    kafkabp.set_client_quota(client, consumer_byte_rate=10_000)
    kafkabp.remember("mine", "number", 1, quiet=True)
    assert workshop.course_topics(prefix) == [topic] and workshop.course_groups(prefix) == [group]
    assert workshop.course_quotas(prefix) == [client]
    lines: list[str] = []
    try:
        done = workshop.reset(prefix=prefix, results=True, out=lines.append)
        assert done["topics"] == [topic] and done["groups"] == [group] and done["quotas"] == [client]
        assert not workshop.course_topics(prefix) and not workshop.course_groups(prefix)
        assert not workshop.course_quotas(prefix)
        assert kafkabp.topic_exists(other) and kafkabp.recall().empty
        assert all(line.startswith("[OK]") for line in lines), lines
    finally:
        kafkabp.delete_topic(other)


def test_the_reset_command_is_wired(monkeypatch: pytest.MonkeyPatch) -> None:
    called = {}
    monkeypatch.setattr(workshop, "reset", lambda **kw: called.update(kw))
    assert cli.main(["reset", "--results"]) == 0 and called == {"restart": False, "results": True}

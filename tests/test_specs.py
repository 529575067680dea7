"""The experiment specs (kafkabp.specs) and the typed summary (kafkabp.result.Summary), without a broker."""

from __future__ import annotations

import dataclasses
import inspect
import math
import subprocess
import sys
from typing import Any, Callable

import pandas as pd
import pytest

import kafkabp
from kafkabp.result import Result, Summary
from kafkabp.specs import Config, Group, Observe, Producer, Topic

SPECS = (Producer, Group, Topic, Observe)


def test_the_specs_are_exported_at_the_top() -> None:
    assert (kafkabp.Producer, kafkabp.Group, kafkabp.Topic, kafkabp.Observe) == SPECS
    assert kafkabp.Summary is Summary


def test_experiment_takes_ten_arguments_the_specs_among_them() -> None:
    params = inspect.signature(kafkabp.Experiment.__init__).parameters
    assert list(params)[1:] == ["rate", "consumers", "processing", "partitions", "label", "mitigations",
                                "producer", "group", "topic", "observe"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for name, p in params.items() if name != "self")


def test_an_old_flat_keyword_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="message_size"):
        kafkabp.Experiment(message_size=1_000)  # type: ignore[call-arg]


@pytest.mark.parametrize("kind", SPECS, ids=[k.__name__ for k in SPECS])
def test_a_spec_is_frozen_and_replace_gives_a_new_one(kind: type) -> None:
    spec = kind()
    field = dataclasses.fields(spec)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(spec, field.name, getattr(spec, field.name))
    assert kind() == spec and hash(kind()) == hash(spec)  # equal specs hash alike: usable as dict keys


def test_replace_changes_only_what_it_names() -> None:
    base = Producer(message_size=1_000, keys="hot", config={"linger.ms": 20})
    other = base.replace(keys=None)
    assert (other.message_size, other.keys, dict(other.config)) == (1_000, None, {"linger.ms": 20})
    assert base.keys == "hot"  # unchanged
    assert Group().replace(protocol="consumer", batch_size=100) == Group(protocol="consumer", batch_size=100)
    assert Observe().replace(sample_interval=0.25).status_window == 10


def test_replace_checks_again() -> None:
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1"):
        Group().replace(batch_size=0)


def test_config_is_a_read_only_copy() -> None:
    settings = {"linger.ms": 5}
    spec = Producer(config=settings)
    settings["linger.ms"] = 500  # the caller's dict changes; the spec keeps what it was given
    assert spec.config["linger.ms"] == 5 and isinstance(spec.config, Config)
    with pytest.raises(TypeError):
        spec.config["linger.ms"] = 50  # type: ignore[index]
    assert {**spec.config, "acks": "all"} == {"linger.ms": 5, "acks": "all"}
    assert spec.config == {"linger.ms": 5} and repr(spec.config) == "{'linger.ms': 5}"
    assert Topic().config == {} and len(Group().config) == 0


def test_message_max_bytes_lifts_the_message_size_cap() -> None:
    with pytest.raises(ValueError, match="raise message.max.bytes in Producer"):
        Producer(message_size=2_000_000)
    assert Producer(message_size=2_000_000, config={"message.max.bytes": 3_000_000}).message_size == 2_000_000


def test_payloads_are_kept_as_a_tuple() -> None:
    payloads = kafkabp.orders(10)
    spec = Producer(payloads=payloads)
    assert spec.payloads == tuple(payloads) and "payloads=<10 payloads>" in repr(spec)


def test_repr_shows_what_differs_from_the_defaults() -> None:
    assert repr(Producer()) == "Producer()"
    assert repr(Group(protocol="consumer", config={"fetch.min.bytes": 1})) == \
        "Group(protocol='consumer', config={'fetch.min.bytes': 1})"
    assert repr(Topic(name="orders", keep=False)) == "Topic(name='orders', keep=False)"


SPEC_CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("config as text", lambda: Producer(config="acks=all"), TypeError, "Producer(config={'linger.ms': 5})"),
    ("config with a number as a name", lambda: Group(config={1: 2}), TypeError, "librdkafka's names"),
    ("topic config as a list", lambda: Topic(config=[("retention.ms", 1)]), TypeError, "Topic(config="),
    ("message size as a float", lambda: Producer(message_size=1.5), ValueError, "message_size must be a whole"),
    ("message size as a bool", lambda: Producer(message_size=True), ValueError, "message_size"),
    ("hot fraction as text", lambda: Producer(hot_fraction="half"), ValueError, "between 0 and 1"),
    ("payloads as one bytes value", lambda: Producer(payloads=b"x"), ValueError, "non-empty list of bytes"),
    ("payloads of text", lambda: Producer(payloads=["a"]), ValueError, "kafkabp.orders(1000)"),
    ("demand as text", lambda: Producer(demand="lots"), TypeError, "a rate profile"),
    ("fractional source buffer", lambda: Producer(source_buffer=0.5), ValueError, "None: unbounded"),
    ("fractional backlog", lambda: Producer(backlog=10.5), ValueError, "backlog must be a whole number"),
    ("parallel as a float", lambda: Group(parallel=2.0), ValueError, "threads per consumer"),
    ("batch size as a bool", lambda: Group(batch_size=True), ValueError, "batch_size"),
    ("commit_while_busy as text", lambda: Group(commit_while_busy="yes"), TypeError, "True or False"),
    ("share options on a consumer group", lambda: Group(share=kafkabp.ShareOptions()), ValueError,
     "Group(protocol='share', share=...)"),
    ("share options as a dict", lambda: Group(protocol="share", share={"failure_rate": 0.1}), TypeError,
     "kafkabp.ShareOptions"),
    ("static as text", lambda: Group(static="yes"), TypeError, "static must be True"),
    ("a static share group", lambda: Group(protocol="share", static=True), ValueError, "no static membership"),
    ("one instance id for every member", lambda: Group(config={"group.instance.id": "a"}), ValueError,
     "Group(static=True)"),
    ("group name as a number", lambda: Group(name=5), ValueError, "the group id"),
    ("blank group name", lambda: Group(name="  "), ValueError, "None for a fresh one"),
    ("topic name too long", lambda: Topic(name="x" * 250), ValueError, "1-249 characters"),
    ("keep as text", lambda: Topic(keep="yes"), TypeError, "keep must be True, False or None"),
    ("negative sample interval", lambda: Observe(sample_interval=-1), ValueError, "seconds > 0"),
    ("stats interval as a float", lambda: Observe(stats_interval_ms=0.5), ValueError, "0: no librdkafka"),
    ("a dict for a spec", lambda: kafkabp.Experiment(producer={"message_size": 10}), TypeError,
     "producer must be a kafkabp.Producer(...)"),
    ("a Group for the topic", lambda: kafkabp.Experiment(topic=Group()), TypeError, "topic=kafkabp.Topic()"),
    ("a spec given flat", lambda: kafkabp.Experiment(group="my-group"), TypeError,
     "group must be a kafkabp.Group(...)"),
]


@pytest.mark.parametrize(("name", "call", "kind", "fix"), SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
def test_a_bad_spec_field_is_refused_naming_the_fix(name: str, call: Callable[[], Any], kind: type[Exception],
                                                   fix: str) -> None:
    with pytest.raises(kind) as info:
        call()
    assert fix in str(info.value), f"{name}: {info.value}"


# What librdkafka 2.16 itself says when a consumer with group.protocol=consumer (KIP-848) is given a classic
# protocol's group setting (KafkaException, _INVALID_ARG, when the Consumer is created), e.g.:
#   Failed to create consumer: `session.timeout.ms` is not supported for `group.protocol=consumer` or share
#   consumer. It is defined broker side
#   Failed to create consumer: `partition.assignment.strategy` is not supported for `group.protocol=consumer`.
#   Use `group.remote.assignor` instead
LIBRDKAFKA_SAYS = {"session.timeout.ms": "It is defined broker side", "heartbeat.interval.ms": "It is defined broker side",
                   "partition.assignment.strategy": "Use `group.remote.assignor` instead",
                   "group.protocol.type": "is not supported for `group.protocol=consumer`"}


@pytest.mark.parametrize("key", sorted(LIBRDKAFKA_SAYS))
def test_librdkafka_refuses_each_setting_group_refuses_with_kip848(key: str) -> None:
    """The reason for Group's own check: if librdkafka ever takes one of these, the check can go."""
    from confluent_kafka import Consumer, KafkaException

    from kafkabp.specs import KIP848_REFUSED

    assert set(LIBRDKAFKA_SAYS) == set(KIP848_REFUSED)
    value = "range" if key == "partition.assignment.strategy" else "consumer" if key == "group.protocol.type" else 6000
    with pytest.raises(KafkaException) as info:
        Consumer({"group.id": "g", "group.protocol": "consumer", key: value, "log_level": 0})
    text = info.value.args[0].str()
    assert f"`{key}` is not supported for `group.protocol=consumer`" in text and LIBRDKAFKA_SAYS[key] in text, text
    Consumer({"group.id": "g", "group.protocol": "classic", key: value, "log_level": 0}).close()  # classic takes it


def test_a_kip848_group_with_classic_group_settings_is_refused_naming_each_and_the_fix() -> None:
    config = {"session.timeout.ms": 10_000, "heartbeat.interval.ms": 2_000, "partition.assignment.strategy": "range",
              "fetch.min.bytes": 1}
    with pytest.raises(ValueError) as info:
        Group(protocol="consumer", config=config)
    text = str(info.value)
    assert "cannot take session.timeout.ms, heartbeat.interval.ms, partition.assignment.strategy" in text, text
    assert "fetch.min.bytes" not in text  # only the settings it refuses
    for fix in ("group.consumer.session.timeout.ms", "'consumer.session.timeout.ms'", "kafkabp.alter_group_config",
                "group.consumer.heartbeat.interval.ms", "group.remote.assignor"):
        assert fix in text, fix
    with pytest.raises(ValueError, match="cannot take session.timeout.ms"):
        Group(config={"group.protocol": "consumer", "session.timeout.ms": 10_000})  # the protocol given as a setting
    with pytest.raises(ValueError, match="cannot take heartbeat.interval.ms"):
        Group().replace(protocol="consumer", config={"heartbeat.interval.ms": 2_000})
    assert Group(config=config).config["session.timeout.ms"] == 10_000  # the classic protocol takes them
    assert Group(protocol="consumer", config={"group.remote.assignor": "uniform"}).protocol == "consumer"


def test_static_membership_is_a_flag_and_kip848_takes_it_too() -> None:
    assert Group().static is False and Group(static=True).static is True
    assert repr(Group(static=True)) == "Group(static=True)"
    assert Group(protocol="consumer", static=True).static


def test_the_specs_module_is_light() -> None:
    code = ("import sys, kafkabp; kafkabp.Producer(); kafkabp.Group(); kafkabp.Topic(); kafkabp.Observe(); "
            "print(sorted(m for m in ('pandas', 'plotly', 'ipywidgets', 'confluent_kafka') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# ------------------------------------------------------------------------------------------- the typed summary
def summary() -> Summary:
    return Summary(duration=20.0, produced=40_000, delivered=40_000, consumed=20_000, peak_lag=20_000,
                   final_lag=19_500, lag_slope=1_000.0, lost=0, status="ERR")


def test_summary_reads_as_attributes_and_as_a_mapping() -> None:
    s = summary()
    assert s.consumed == 20_000 and s["consumed"] == 20_000
    assert s.get("lost") == 0 and s.get("no such thing", "x") == "x"
    assert "peak_lag" in s and "no such thing" not in s
    assert dict(s.items())["final_lag"] == 19_500 and list(s.keys())[:3] == ["duration", "produced", "delivered"]
    assert {**s}["status"] == "ERR"
    with pytest.raises(KeyError):
        s["no such thing"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.consumed = 5  # type: ignore[misc]


def test_every_key_has_a_typed_field() -> None:
    hints = {f.name: f.type for f in dataclasses.fields(Summary)}
    assert all(hints.values()) and len(hints) == 54  # with the retry counts of lesson 16 (fates, retry_counts)
    assert hints["consumed"] == "int" and hints["lost"] == "int | None"


def test_the_share_group_counts_show_only_for_a_share_group() -> None:
    s = summary()
    assert "acks" not in s and s.acks is None and s.get("redeliveries") is None
    shared = s.replace(acks={"accept": 5}, delivery_counts={1: 5}, redeliveries=0, busy_members=2)
    assert shared["acks"] == {"accept": 5} and "busy_members" in shared and len(shared) == len(s) + 9


def test_summary_prints_as_a_table() -> None:
    s = summary()
    text = repr(s)
    assert text.startswith("Summary(\n") and "  consumed " in text and "20,000" in text and str(s) == text
    assert "lost                      0" in text and "order_violations          unknown" in text
    html = s._repr_html_()
    assert html.startswith("<table>") and "<tr><td>peak_lag</td><td>20,000</td></tr>" in html


def test_summary_works_with_pandas() -> None:
    frame = pd.DataFrame([summary(), summary().replace(consumed=1)])
    assert list(frame["consumed"]) == [20_000, 1]
    assert pd.Series(summary())["final_lag"] == 19_500


def test_a_result_built_with_a_dict_gets_a_summary() -> None:
    empty = pd.DataFrame()
    r = Result("x", empty, empty, empty, pd.Series(dtype=float), {"produced": 3, "consumed": 2}, {})
    assert isinstance(r.summary, Summary) and r.summary.consumed == 2 and math.isnan(r.summary.p99_latency)
    r2 = dataclasses.replace(r, summary={**r.summary, "p99_latency": None})
    assert r2.summary.p99_latency is None and r2.summary.produced == 3
    with pytest.raises(TypeError, match="no_such_key"):
        Result("x", empty, empty, empty, pd.Series(dtype=float), {"no_such_key": 1}, {})

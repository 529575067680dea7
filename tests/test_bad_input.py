"""Wrong input gets one clear error that names the fix, before any client, thread or broker is involved (issue 13).

Each case is (what the learner typed, the exception type, a fragment of the message that says what to do).
The Python cases run with the broker lookup replaced by a trap, so a case that reached for a broker fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any, Callable

import pytest

import kafkabp
from kafkabp.infra import broker, target

NAN, INF = float("nan"), float("inf")

CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("negative rate", lambda: kafkabp.Experiment(rate=-1), ValueError, ">= 0 (or None for full speed)"),
    ("NaN rate", lambda: kafkabp.Experiment(rate=NAN), ValueError, "finite number of messages/s"),
    ("infinite rate", lambda: kafkabp.Experiment(rate=INF), ValueError, "None for full speed"),
    ("rate as text", lambda: kafkabp.Experiment(rate="fast"), TypeError, "a rate profile"),
    ("rate as a bool", lambda: kafkabp.Experiment(rate=True), TypeError, "number of messages/s"),
    ("negative demand", lambda: kafkabp.Experiment(rate=10, producer=kafkabp.Producer(demand=-5)), ValueError, "finite number"),
    ("NaN in a Step", lambda: kafkabp.Step(NAN, 10, 5), ValueError, "Step's before"),
    ("negative Ramp duration", lambda: kafkabp.Ramp(1, 10, -1), ValueError, "Ramp's duration"),
    ("Burst duty over 1", lambda: kafkabp.Burst(1, 10, 2, duty=1.5), ValueError, "0 < duty < 1"),
    ("negative consumers", lambda: kafkabp.Experiment(consumers=-1), ValueError, "from 0 to 64"),
    ("fractional consumers", lambda: kafkabp.Experiment(consumers=1.5), ValueError, "whole number"),
    ("10,000 consumers", lambda: kafkabp.Experiment(consumers=10_000), ValueError, "sit idle anyway"),
    ("zero partitions", lambda: kafkabp.Experiment(partitions=0), ValueError, "from 1 to 1,000"),
    ("100,000 partitions", lambda: kafkabp.Experiment(partitions=100_000), ValueError, "lessons use 1-16"),
    ("negative message size", lambda: kafkabp.Producer(message_size=-5), ValueError, "message_size"),
    ("2 GB messages", lambda: kafkabp.Producer(message_size=2_000_000_000), ValueError, "raise message.max.bytes"),
    ("unknown key mode", lambda: kafkabp.Producer(keys="random"), ValueError, "'uniform' or 'hot'"),
    ("hot fraction 2", lambda: kafkabp.Producer(keys="hot", hot_fraction=2), ValueError, "between 0 and 1"),
    ("batch size 0", lambda: kafkabp.Group(batch_size=0), ValueError, "batch_size must be a whole number >= 1"),
    ("unknown protocol", lambda: kafkabp.Group(protocol="kip848"), ValueError, "'classic' or 'consumer'"),
    ("topic with a space", lambda: kafkabp.Topic(name="my topic"), ValueError, "a-z, A-Z, 0-9"),
    ("topic '..'", lambda: kafkabp.create_topic("..", 1), ValueError, "not '.' or '..'"),
    ("empty group", lambda: kafkabp.Group(name=""), ValueError, "None for a fresh one"),
    ("sample interval 0", lambda: kafkabp.Observe(sample_interval=0), ValueError, "e.g. 0.5"),
    ("NaN sample interval", lambda: kafkabp.Observe(sample_interval=NAN), ValueError, "seconds > 0"),
    ("negative backlog", lambda: kafkabp.Producer(backlog=-1), ValueError, "backlog"),
    ("parallel 0", lambda: kafkabp.Group(parallel=0), ValueError, "threads per consumer"),
    ("unknown BufferError policy", lambda: kafkabp.Producer(on_buffer_full="ignore"), ValueError,
     "'block' (poll and retry) or 'drop'"),
    ("negative source buffer", lambda: kafkabp.Producer(demand=20, source_buffer=-1), ValueError,
     "None: unbounded"),
    ("negative processing time", lambda: kafkabp.fixed(-0.001), ValueError, "fixed(0.001)"),
    ("NaN processing time", lambda: kafkabp.fixed(NAN), ValueError, "finite number >= 0"),
    ("exponential with mean 0", lambda: kafkabp.exponential(0), ValueError, "processing=None"),
    ("unknown processing model", lambda: kafkabp.Processing(kind="gaussian"), ValueError, "fixed, exponential"),
    ("a handler that is not callable", lambda: kafkabp.handler(5), TypeError, "must be callable"),
    ("processing as a number", lambda: kafkabp.Experiment(processing=0.001), TypeError, "kafkabp.fixed(0.001)"),
    ("producer config as text", lambda: kafkabp.Producer(config="acks=all"), TypeError, "dict of settings"),
    ("misspelt producer setting", lambda: kafkabp.Experiment(producer=kafkabp.Producer(config={"lingerr.ms": 5})), ValueError,
     "CONFIGURATION.md"),
    ("bad producer value", lambda: kafkabp.Experiment(producer=kafkabp.Producer(config={"acks": "most"})), ValueError,
     "Invalid value"),
    ("misspelt consumer setting", lambda: kafkabp.Experiment(group=kafkabp.Group(config={"max.poll.interval": 6000})),
     ValueError, "No such configuration property"),
    ("negative duration", lambda: kafkabp.run_experiment(-1), ValueError, "e.g. 20"),
    ("NaN duration", lambda: kafkabp.run_experiment(NAN), ValueError, "finite number of seconds"),
    ("a mitigation without on_sample", lambda: kafkabp.Experiment(mitigations=[object()]), TypeError,
     "on_sample(experiment, sample)"),
    ("one mitigation, not a list", lambda: kafkabp.Experiment(mitigations=kafkabp.AIMD(1000)), TypeError,
     "mitigations=[AIMD(...)]"),
    ("AIMD without a target", lambda: kafkabp.AIMD(), ValueError, "exactly one target"),
    ("AIMD decrease above 1", lambda: kafkabp.AIMD(1000, decrease=1.5), ValueError, "0 < decrease < 1"),
    ("buffer of 0", lambda: kafkabp.Buffer(0), ValueError, "None for unbounded"),
    ("buffer as a number", lambda: kafkabp.Group(buffer=1_000), TypeError, "Buffer(1_000"),
    ("negative quota", lambda: kafkabp.set_client_quota("me", producer_byte_rate=-5), ValueError, "1_048_576"),
    ("quota with no rate", lambda: kafkabp.set_client_quota("me"), ValueError, "producer_byte_rate and/or"),
    ("unknown Kafka tool", lambda: kafkabp.kafka_tool("kafka-nope"), kafkabp.BrokerError, "known: kafka-acls"),
    ("lag monitor interval 0", lambda: kafkabp.LagMonitor("g", "t", interval=0), ValueError, "> 0 seconds"),
    ("model with NaN arrivals", lambda: kafkabp.predicted_lag(1, NAN, 100), ValueError, "no meaning"),
    ("status window 1", lambda: kafkabp.Observe(status_window=1), ValueError, "at least two"),
    ("label as a number", lambda: kafkabp.Experiment(label=5), TypeError, "label must be a string"),
    ("demand without a rate limit", lambda: kafkabp.Experiment(rate=None, producer=kafkabp.Producer(demand=20)),
     ValueError, "give rate=<msg/s>"),
    ("drop at full speed", lambda: kafkabp.Experiment(rate=None, producer=kafkabp.Producer(on_buffer_full="drop")),
     ValueError, "needs an offered rate"),
    ("share options on a classic group", lambda: kafkabp.Group(share=kafkabp.ShareOptions(failure_rate=0.1)),
     ValueError, "protocol='share'"),
    ("a share group with threads", lambda: kafkabp.Group(protocol="share", parallel=4), ValueError,
     "spreads records over its members"),
    ("a dict for the producer", lambda: kafkabp.Experiment(producer={"message_size": 10}), TypeError,
     "producer=kafkabp.Producer()"),
    ("the group id given flat", lambda: kafkabp.Experiment(group="orders"), TypeError, "kafkabp.Group(...)"),
    ("an old flat keyword", lambda: kafkabp.Experiment(message_size=1_000), TypeError,
     "unexpected keyword argument 'message_size'"),
    ("a topic config that is not a dict", lambda: kafkabp.Topic(config="retention.ms=1000"), TypeError,
     "Topic(config={'retention.ms': 60_000})"),
    ("negative stats interval", lambda: kafkabp.Observe(stats_interval_ms=-1), ValueError, "no librdkafka statistics"),
    ("empty payloads", lambda: kafkabp.Producer(payloads=[]), ValueError, "kafkabp.orders(1000)"),
]


@pytest.fixture
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any case that reaches for a broker fails instead of waiting for one."""
    def trap(*_: Any, **__: Any) -> Any:
        raise AssertionError("reached for a broker before refusing the input")
    monkeypatch.setattr(target.TARGET, "info", None)
    monkeypatch.setattr(broker, "ensure_broker_info", trap)


def test_there_are_at_least_thirty_distinct_cases() -> None:
    assert len({name for name, *_ in CASES}) == len(CASES) >= 30


@pytest.mark.parametrize(("name", "call", "kind", "fix"), CASES, ids=[c[0] for c in CASES])
def test_wrong_input_is_refused_at_once_naming_the_fix(name: str, call: Callable[[], Any], kind: type[Exception],
                                                      fix: str, no_broker: None) -> None:
    threads = set(threading.enumerate())
    with pytest.raises(kind) as info:
        call()
    assert fix in str(info.value), f"{name}: the message does not say what to do: {info.value}"
    assert set(threading.enumerate()) <= threads, f"{name}: a thread was left behind"


CLI_CASES = [
    (["broker", "restart"], {}, "invalid choice: 'restart'"),
    (["broker", "up"], {"KAFKABP_BROKER": "cloud"}, "use one of auto, external, local, docker"),
    (["broker", "up", "--mode", "external"], {"KAFKA_BOOTSTRAP_SERVERS": ""}, "needs KAFKA_BOOTSTRAP_SERVERS"),
    (["kafka-tool", "kafka-nope"], {}, "known: kafka-acls"),
    (["frobnicate"], {}, "invalid choice: 'frobnicate'"),
]


@pytest.mark.parametrize(("args", "env", "fix"), CLI_CASES, ids=[" ".join(c[0]) for c in CLI_CASES])
def test_the_command_line_refuses_nonsense_with_the_fix(args: list[str], env: dict[str, str], fix: str) -> None:
    run = subprocess.run([sys.executable, "-m", "kafkabp.cli", *args], env={**os.environ, **env},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert fix in run.stdout + run.stderr, run.stdout + run.stderr


def test_a_closed_broker_is_reported_within_a_bounded_time() -> None:
    """An address where nothing listens: a clear BrokerError in seconds, naming the variable to fix."""
    run = subprocess.run([sys.executable, "-m", "kafkabp.cli", "bootstrap"], capture_output=True, text=True,
                         env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}, timeout=60)
    assert run.returncode != 0
    assert "unset KAFKA_BOOTSTRAP_SERVERS" in run.stdout + run.stderr, run.stdout + run.stderr

"""The playground (lesson 13): settings, presets and controls without a broker; a live run steered on one."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import threading
import time

import pytest

import kafkabp

pg = importlib.import_module("kafkabp.playroom")
from kafkabp.mitigations import AIMD, Autoscaler
from kafkabp.registry import REGISTRY


def test_every_preset_is_valid_and_builds_an_experiment() -> None:
    assert {"healthy", "overloaded", "hot key", "stalled"} <= set(pg.PRESETS)
    for name, (settings, help_text) in pg.PRESETS.items():
        args = pg.experiment_arguments(settings, client_id="c")
        assert args["consumers"] == settings.consumers and args["partitions"] == settings.partitions, name
        assert args["group"].protocol == settings.protocol and args["producer"].message_size == settings.message_size
        assert args["observe"] == kafkabp.Observe(sample_interval=1.0, status_window=21), name  # as the dashboard
        assert help_text, name
    hot = pg.experiment_arguments(pg.PRESETS["hot key"][0])["producer"]
    assert hot == kafkabp.Producer(keys="hot", hot_fraction=pg.HOT_FRACTION)
    stalled = pg.experiment_arguments(pg.PRESETS["stalled"][0])
    assert stalled["group"].commit_while_busy and stalled["processing"].seconds == 0.001  # until it hangs, after 3 s
    assert pg.processing_model("stuck", 1).seconds == pg.STUCK_SECONDS


def test_a_run_is_named_for_its_preset_or_its_settings() -> None:
    assert pg.describe(pg.PRESETS["overloaded"][0]) == "overloaded"
    assert pg.describe(dataclasses.replace(pg.PRESETS["overloaded"][0], time_limit=12.0)) == "overloaded"
    mine = pg.Settings(rate=2_000, consumers=2, processing_ms=1.0, aimd=True, parallel=4)
    assert pg.describe(mine) == "2,000 msg/s · 2 consumers · 1 ms · AIMD · 4 threads"
    assert pg.experiment_arguments(mine)["label"] == pg.describe(mine)
    assert pg.experiment_arguments(mine, label="mine")["label"] == "mine"


def test_mitigations_are_toggles() -> None:
    s = pg.Settings(aimd=True, autoscaler=True, pause_resume=True, buffer_size=500, parallel=4, quota="consumer")
    kw = pg.experiment_arguments(s, client_id="me")
    assert [type(m) for m in kw["mitigations"]] == [AIMD, Autoscaler]
    group = kw["group"]
    assert group.buffer.size == 500 and group.buffer.when_full == "pause" and group.parallel == 4
    assert group.config == {"client.id": "me"} and kw["producer"].config == {}  # the quota's client id
    quota_on_producer = pg.experiment_arguments(s.replace(quota="producer"), client_id="me")["producer"]
    assert quota_on_producer.config == {"client.id": "me"}
    plain = pg.experiment_arguments(pg.Settings())
    assert plain["mitigations"] == [] and plain["group"] == kafkabp.Group() and plain["producer"] == kafkabp.Producer()
    assert pg.experiment_arguments(s)["mitigations"][0] is not kw["mitigations"][0]  # fresh objects every start


def test_the_arguments_are_an_experiments() -> None:
    args = pg.experiment_arguments(pg.PRESETS["parallel inside a consumer"][0])
    assert set(args) == set(inspect.signature(kafkabp.Experiment.__init__).parameters) - {"self", "topic"}


def test_the_module_does_not_shadow_the_function() -> None:
    assert kafkabp.playground is pg.playground and callable(kafkabp.playground)
    assert kafkabp.playroom is pg  # the module has its own name


def test_profiles_and_processing_models() -> None:
    assert pg.rate_profile(pg.Settings(rate=100))(5) == 100
    step = pg.rate_profile(pg.Settings(rate=100, profile="step ×2", time_limit=30))
    assert step(9) == 100 and step(11) == 200
    burst = pg.rate_profile(pg.Settings(rate=100, profile="burst ×3"))
    assert burst(1) == 300 and burst(5) == 100
    ramp = pg.rate_profile(pg.Settings(rate=100, profile="ramp", time_limit=60))
    assert ramp(0) == 25 and ramp(60) == 200
    shifted = pg.Shifted(step, 10.0)  # a live rate change keeps the profile's clock
    assert shifted(0) == 200
    assert pg.processing_model("fixed", 2).seconds == 0.002 and pg.processing_model("cpu", 0).seconds == 0


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="share group takes neither"):
        pg.Settings(protocol="share", parallel=4)
    with pytest.raises(ValueError, match="profile must be one of"):
        pg.Settings(profile="sine")
    with pytest.raises(ValueError, match="unknown preset"):
        pg.playground("nonsense")


def test_controls_show_settings_presets_and_reset() -> None:
    p = pg.playground("overloaded", consumers=2)
    assert p.settings == pg.PRESETS["overloaded"][0].replace(consumers=2)
    assert p.experiment is None and not p.start_button.disabled and p.stop_button.disabled  # nothing runs yet
    p.preset.value = "hot key"
    assert p.settings == pg.PRESETS["hot key"][0] and "one key" in p.preset_help.value
    p.apply(pg.Settings(rate=1234, message_size=500))  # values not on a slider's list are added to it
    assert p.settings.rate == 1234 and p.settings.message_size == 500
    p.protocol.value = "share"
    assert p.parallel.disabled and p.pause_resume.disabled
    p.reset()
    assert p.settings == pg.PRESETS["overloaded"][0].replace(consumers=2)


def test_a_new_playground_stops_the_old_one() -> None:
    first = pg.playground()
    second = pg.playground()
    views = REGISTRY.live("view")
    assert first not in views and second in views and first.comm is None  # the old one is closed


@pytest.mark.integration
def test_the_playground_steers_a_live_experiment_and_stops_by_itself(kafka_bootstrap: str) -> None:
    p = pg.playground("healthy")
    p.time_limit.value = 20.0
    p.start_button.click()  # starts in a thread, like a click in the browser
    assert kafkabp.wait_for(lambda: p.experiment is not None, 30), p.status.value
    exp = p.experiment
    try:
        # the buttons follow a moment after the experiment is set (start() enables them next, in its thread)
        assert kafkabp.wait_for(lambda: p.stop_button.disabled is False, 5) and p.partitions.disabled
        assert kafkabp.wait_for(lambda: len(p.figure.data[0].x) >= 3, 15)
        p.rate.value = 2_000.0
        p.consumers.value = 2
        assert abs(exp.producer.target_rate - 2_000) < 1
        assert kafkabp.wait_for(lambda: exp.consumer_group.size == 2, 15)
        # the measured rate follows the slider: the last samples' produce rate near 2,000
        assert kafkabp.wait_for(lambda: exp.timeline()["produce_rate"].iloc[-1] > 1_500, 10), exp.timeline().tail()
        assert kafkabp.wait_for(lambda: max(p.figure.data[1].y) > 1_500, 5)  # and the chart shows it
        assert kafkabp.wait_for(lambda: p.experiment is None, 25), "the time limit did not stop it"
    finally:
        p.stop()
    s = p.result.summary
    assert p.result.label == "healthy", p.result.label  # named for the settings it started with
    assert 15 <= s["duration"] <= 25 and s["failed"] == 0 and s["lost"] == 0, s
    assert p.start_button.disabled is False and not p.partitions.disabled
    time.sleep(0.5)
    assert not [t for t in threading.enumerate() if t.name.startswith("kafkabp-") and t.is_alive()]


@pytest.mark.integration
def test_a_quota_is_set_for_the_run_and_removed_after(kafka_bootstrap: str) -> None:
    from kafkabp.workshop import course_quotas

    before = set(course_quotas("kafkabp-playground"))
    p = pg.playground("consumer quota")
    result = p.run(8)
    assert p._quota_client is None and result.summary["consumer_throttle_events"] >= 1, result.summary
    assert set(course_quotas("kafkabp-playground")) == before  # the run's quota is gone from the broker
    assert result.summary["consume_rate"] < 0.8 * result.summary["produce_rate"], result.summary

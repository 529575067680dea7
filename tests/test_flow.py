"""Flow control between a consumer's poll loop and a slow sink (kafkabp.Buffer): bounded, paused, counted."""

from __future__ import annotations

import math

import pytest

import kafkabp


def test_buffer_arguments_are_checked_with_the_fix_named() -> None:
    with pytest.raises(ValueError, match="None for unbounded"):
        kafkabp.Buffer(0)
    with pytest.raises(ValueError, match="when_full"):
        kafkabp.Buffer(100, when_full="drop")
    with pytest.raises(ValueError, match=r"\[0, size\)"):
        kafkabp.Buffer(100, resume_at=100)
    with pytest.raises(ValueError, match="remove it for 'block'"):
        kafkabp.Buffer(100, when_full="block", resume_at=10)
    with pytest.raises(TypeError, match="kafkabp.Buffer"):
        kafkabp.Group(buffer=1_000)


def test_watermarks_default_to_half_and_unbounded_is_infinite() -> None:
    assert (kafkabp.Buffer(1_000).high, kafkabp.Buffer(1_000).low) == (1_000, 500)
    assert kafkabp.Buffer(1_000, resume_at=0).low == 0
    assert math.isinf(kafkabp.Buffer(None).high)
    assert str(kafkabp.Buffer(1_000, resume_at=200)) == "buffer of 1,000, pause at 1,000, resume at 200"


@pytest.mark.integration
def test_pause_resume_keeps_the_buffer_bounded_and_the_member_in_its_group(kafka_bootstrap: str) -> None:
    common = dict(rate=400, consumers=1, partitions=2, processing=kafkabp.fixed(0.01), progress=False)
    bounded = kafkabp.Buffer(300, when_full="pause", resume_at=100)
    paused = kafkabp.run_experiment(8, group=kafkabp.Group(buffer=bounded), **common)
    free = kafkabp.run_experiment(8, group=kafkabp.Group(buffer=kafkabp.Buffer(None)), **common)
    p, f = paused.summary, free.summary
    assert p["pauses"] >= 1 and p["peak_buffered"] <= 300, p
    assert p["evictions"] == 0 and p["lost"] == 0 and p["duplicates"] == 0 and p["counts_exact"], p
    assert f["pauses"] == 0 and f["peak_buffered"] >= 1_000, f  # (400 - 100) msg/s for 8 s, less the start-up
    tl = paused.timeline.dropna(subset=["buffered"])
    assert tl["buffered"].max() <= 300 and tl["rss_mb"].gt(0).all(), tl
    assert {"pause", "resume"} <= set(paused.events["kind"]), paused.events  # 200 drain at 100 msg/s in 2 s

"""Workloads on a real broker: a rate-controlled producer and a consumer group with a processing model.

Both run in background threads so a notebook stays responsive, both can be changed while they
run (sliders and controllers drive them), and both stop cleanly within a few seconds.

- ``rates``: rate profiles and the token bucket;
- ``producer``: :class:`RateProducer`;
- ``processing``: processing models (``fixed``, ``exponential``, ``lognormal``, ``per_batch``, ``cpu``);
- ``consumer``: :class:`ConsumerGroup`;
- ``parallel``: key-ordered processing on k threads inside one consumer (``Group(parallel=k)``);
- ``records``: realistic JSON payloads (``orders()``);
- ``base``: the event log (the registry behind :func:`stop_all` is :mod:`kafkabp.registry`).
"""

from kafkabp.arenas import limit_malloc_arenas
from kafkabp.registry import stop_all
from kafkabp.workload.base import EventLog, wait_for
from kafkabp.workload.consumer import ConsumerGroup
from kafkabp.workload.flow import Buffer
from kafkabp.workload.processing import (
    Processing,
    batch_handler,
    cpu,
    exponential,
    fixed,
    handler,
    lognormal,
    per_batch,
)
from kafkabp.workload.producer import RateProducer
from kafkabp.workload.rates import Burst, Constant, Ramp, Rate, RateProfile, Step, TokenBucket, as_profile
from kafkabp.workload.share import ShareGroup, ShareOptions  # share groups (KIP-932)

limit_malloc_arenas()  # before any client starts a thread: see kafkabp.arenas

__all__ = [
    "EventLog", "stop_all", "wait_for", "ConsumerGroup", "Processing", "batch_handler", "cpu", "exponential",
    "fixed", "handler", "lognormal", "per_batch", "RateProducer", "Burst", "Constant", "Ramp", "Rate", "RateProfile", "Step",
    "TokenBucket", "as_profile",
]

"""Mitigations an experiment runs: objects that watch each lag sample and act on the producer or the group.

One small protocol: ``on_start(experiment)`` once, then ``on_sample(experiment, sample)`` after every
lag sample (in the monitor's thread). An experiment takes a list of them:
``run_experiment(..., mitigations=[kafkabp.AIMD(target_lag=2_000)])``. Each keeps a ``history`` of
what it saw and did, which the result carries (``result.controls``).
"""

from kafkabp.mitigations.aimd import AIMD
from kafkabp.mitigations.base import Mitigation, PartitionLag, Recorder, Sample
from kafkabp.mitigations import keda  # KEDA's Kafka scaler and the HPA step as pure functions (lesson 11)
from kafkabp.mitigations.autoscaler import Autoscaler

__all__ = ["AIMD", "Autoscaler", "Mitigation", "PartitionLag", "Recorder", "Sample", "keda"]

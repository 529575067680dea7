"""Solutions to the exercise of lesson 13, "Playground".

Exercise (≈ 10 min): a preset that keeps up.
    Given a rate, a processing time and the partitions, return playground settings with the fewest consumers that
    keep up; if one consumer per partition is not enough, add key-ordered threads inside each consumer, as few as
    will do.
"""

from __future__ import annotations

import math

import kafkabp
from kafkabp.playroom import Settings


def keep_up(rate: float, processing_ms: float, partitions: int = 4) -> Settings:
    """Settings with the fewest consumers (then the fewest threads per consumer) that keep up with ``rate`` msg/s.

    >>> keep_up(500, 1).consumers
    1
    >>> s = keep_up(6_000, 2)
    >>> (s.consumers, s.parallel, s.keys)
    (4, 4, 'uniform')
    """
    seconds = processing_ms / 1000.0
    for n in range(1, partitions + 1):
        if kafkabp.group_capacity(n, partitions, seconds) > rate:  # the busiest consumer keeps up
            return Settings(rate=rate, consumers=n, processing_ms=processing_ms, partitions=partitions)
    # one consumer per partition, each receiving rate / partitions; k threads process k messages at a time
    per_consumer = rate / partitions
    threads = math.floor(per_consumer * seconds + 1e-9) + 1  # k / seconds strictly above its share
    return Settings(rate=rate, consumers=partitions, processing_ms=processing_ms, partitions=partitions,
                    parallel=threads, keys="uniform")

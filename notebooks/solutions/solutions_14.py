"""Solutions to the exercise of lesson 14, "Interview prep".

Exercise (≈ 10 min): the first move.
    Given the rate a group receives, the seconds one message takes, and the group's consumers and partitions,
    say what to do first: nothing (it keeps up), add consumers (how many), or, once the partitions cap the group,
    process in parallel inside each consumer (key order kept) or switch to a share group (order not needed; how
    many members).
"""

from __future__ import annotations

import math

import kafkabp


def first_move(rate: float, seconds_per_message: float, consumers: int, partitions: int,
               key_order: bool = True) -> tuple[str, int]:
    """``(move, count)``: "keeps up", "add consumers", "process in parallel" or "share group".

    >>> first_move(500, 0.001, 1, 4)
    ('keeps up', 1)
    >>> first_move(2_800, 0.001, 1, 4)  # 3 consumers split 4 partitions 2-1-1: the busiest gets 1,400 msg/s
    ('add consumers', 4)
    >>> first_move(5_000, 0.001, 4, 4, key_order=False)
    ('share group', 6)
    """
    if kafkabp.group_capacity(consumers, partitions, seconds_per_message) > rate:  # lag bounded only if λ < μ
        return "keeps up", consumers
    for n in range(consumers + 1, partitions + 1):
        if kafkabp.group_capacity(n, partitions, seconds_per_message) > rate:
            return "add consumers", n
    if key_order:
        return "process in parallel", partitions
    # a share group: every member works, no partition cap; n members do n / seconds msg/s, strictly above the rate
    return "share group", math.floor(rate * seconds_per_message + 1e-9) + 1

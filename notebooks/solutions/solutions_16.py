"""Solutions to the exercise of lesson 16, "Head-of-line blocking".

Exercise (≈ 10 min): how will the messages end?
    Each call fails with probability ``p``, independently of the others, and a message gets ``retries`` retries after
    its first try. Write ``expected_fates(p, retries)``: the share of messages expected in each fate, named as
    kafkabp's fate table names them ("first try", "after 1 retry", "after 2 retries"…, "dead-lettered").
"""

from __future__ import annotations

from kafkabp.workload.retry import DEAD, fate_name


def expected_fates(p: float, retries: int) -> dict[str, float]:
    """The share of messages per fate: k failures then a success, for k = 0 … ``retries``; or every attempt failed.

    >>> shares = expected_fates(0.1, 2)
    >>> [round(v, 6) for v in shares.values()]
    [0.9, 0.09, 0.009, 0.001]
    >>> list(shares)
    ['first try', 'after 1 retry', 'after 2 retries', 'dead-lettered']
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"p must be a probability from 0 to 1, got {p!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a whole number >= 0, got {retries!r}")
    shares = {fate_name(k): p**k * (1 - p) for k in range(retries + 1)}
    shares[fate_name(DEAD)] = p ** (retries + 1)
    return shares

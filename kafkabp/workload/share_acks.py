"""How a share group's records end (KIP-932): the options that fail, release and reject them, and the offsets done.

A share group's member acknowledges each record it was delivered: **accept** (done), **release** (delivered again,
to any member, its delivery count one higher) or **reject** (archived: a dead letter). :class:`ShareOptions` injects
failures and sets when a failing record is rejected; :class:`DoneOffsets` keeps, per partition, the offsets in a
final state, from which the share-partition start offset and the lag follow.
"""

from __future__ import annotations

from dataclasses import dataclass

from kafkabp.ledger import HEADER, HEADER_SIZE, MAGIC

ACK_TYPES = ("accept", "release", "reject")


@dataclass(frozen=True)
class ShareOptions:
    """How a share group's members acknowledge: failures to inject, and when to give up on a record.

    ``failure_rate``: the share of deliveries whose processing fails (transiently: a timeout, a 503), at
    random; ``poison_rate``: the share of *messages* that fail on every delivery (chosen by sequence number,
    so the same ones every time). A failed delivery is **released** (the broker delivers it again, with its
    delivery count + 1) until its delivery count reaches ``max_attempts``, then **rejected** (archived, never
    delivered again: a dead letter). A handler (``kafkabp.handler``) that raises is a failed delivery too.
    Keep ``max_attempts`` at or under the broker's ``group.share.delivery.count.limit`` (5 by default): past
    it the broker archives the record itself, unacknowledged. ``offset_reset``: where a new share group
    starts, the group config ``share.auto.offset.reset`` (Kafka's default is "latest": only records produced
    after the group first joined); kafkabp starts at "earliest", as its consumer groups do.
    """

    failure_rate: float = 0.0
    poison_rate: float = 0.0
    max_attempts: int = 3
    offset_reset: str = "earliest"

    def __post_init__(self) -> None:
        for name in ("failure_rate", "poison_rate"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"max_attempts must be a whole number >= 1, got {self.max_attempts!r}")
        if self.offset_reset not in ("earliest", "latest"):
            raise ValueError(f"offset_reset must be 'earliest' or 'latest', got {self.offset_reset!r}")

    def is_poison(self, value: bytes | None) -> bool:
        """Whether this message fails on every delivery (by its sequence number: the same ones each run)."""
        if self.poison_rate <= 0 or value is None or len(value) < HEADER_SIZE or value[:2] != MAGIC:
            return False
        _, _, seq = HEADER.unpack_from(value)
        return ((seq * 2654435761) % 4294967296) / 4294967296.0 < self.poison_rate  # Knuth's multiplicative hash


class DoneOffsets:
    """The offsets of one partition in a final state (accepted or rejected): a floor plus the ones above it.

    ``floor`` is the first offset not yet done, what the broker calls the share-partition start offset
    (SPSO) when the group started at the partition's first offset.
    """

    __slots__ = ("floor", "above")

    def __init__(self, floor: int = 0) -> None:
        self.floor, self.above = floor, set()

    def add(self, offset: int) -> None:
        if offset == self.floor:
            self.floor += 1
            while self.floor in self.above:
                self.above.remove(self.floor)
                self.floor += 1
        elif offset > self.floor:
            self.above.add(offset)

    def count(self) -> int:
        """Offsets done: the position a classic group would have committed after as many records."""
        return self.floor + len(self.above)


__all__ = ["ACK_TYPES", "DoneOffsets", "ShareOptions"]

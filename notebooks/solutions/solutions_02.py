"""Solution to lesson 02's exercise: alert on time lag against an SLO and against retention, not on offset lag.

``alert(timeline, slo_seconds, retention_seconds)`` reads the newest row of a LagMonitor timeline
(``Experiment.timeline()``, ``Result.timeline`` or ``LagMonitor.timeline()``: columns ``time_lag``,
``produce_rate`` and ``consume_rate``) and answers who should hear about it:

- ``"page"``: wake someone up. Either the oldest unread message is already ``retention_share`` of the way to
  being deleted unread (data loss is near, whatever the SLO), or the time lag breaks the SLO and the backlog
  is not shrinking (consumers read no faster than producers write), so it will not heal by itself.
- ``"ticket"``: the SLO is broken but the backlog is draining (consume rate above produce rate): someone
  should look during working hours, nobody needs to be woken.
- ``None``: the time lag is within the SLO, however many messages of offset lag that is.
"""

from __future__ import annotations

import math
from typing import Any

PAGE = "page"
TICKET = "ticket"


def _number(row: Any, column: str) -> float:
    """A float from a timeline row; a missing column is a mistake worth a clear message."""
    try:
        return float(row[column])
    except KeyError:
        raise KeyError(f"the timeline has no {column!r} column: pass a LagMonitor/Experiment timeline") from None


def alert(timeline: Any, slo_seconds: float, retention_seconds: float, *,
          retention_share: float = 0.5) -> str | None:
    """``"page"``, ``"ticket"`` or ``None`` for the newest row of a lag timeline (see the module docstring).

    ``slo_seconds``: how far behind the consumers may be (time lag) before users notice.
    ``retention_seconds``: the topic's ``retention.ms`` in seconds; a time lag at ``retention_share`` of it pages.
    An empty timeline (nothing measured yet) or an unknown time lag (NaN) gives ``None``.
    """
    if not slo_seconds > 0 or not retention_seconds > 0:
        raise ValueError(f"slo_seconds and retention_seconds must be > 0, got {slo_seconds!r} and {retention_seconds!r}")
    if not 0 < retention_share <= 1:
        raise ValueError(f"retention_share must be in (0, 1], got {retention_share!r}")
    if timeline is None or len(timeline) == 0:
        return None
    last = timeline.iloc[-1]
    time_lag = _number(last, "time_lag")
    if math.isnan(time_lag):
        return None
    if time_lag >= retention_share * retention_seconds:
        return PAGE  # messages will be deleted before anyone reads them
    if time_lag <= slo_seconds:
        return None  # within the SLO, whatever the offset lag
    draining = _number(last, "consume_rate") > _number(last, "produce_rate")
    return TICKET if draining else PAGE


__all__ = ["PAGE", "TICKET", "alert"]

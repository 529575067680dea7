"""Fewer malloc arenas, so a kernel's memory stays flat across many runs (issue 25's soak).

glibc gives a thread that meets a busy arena one of its own, up to 8 per core, and an arena keeps the pages it grew
to. Every experiment starts new threads (librdkafka's, each member's), so runs that move much data (the playground's
"slow sink", 10 KB messages behind a 1,000-message buffer) landed in a new arena each time and the kernel's RSS
grew by 20-30 MB a run until every arena had been used (soak of 2026-12-05: 270 -> 397 MB over 200 Start/Stop
cycles, then flat). With at most ``KAFKABP_MALLOC_ARENAS`` arenas (default 2, as ``MALLOC_ARENA_MAX=2`` does) the
same runs reuse the memory freed by the last one: six slow-sink runs in one process read 185, 204, 204, 204,
204, 204 MB (without the cap: 186, 198, 208, 218, 244, 254 MB).

Linux with glibc only (``mallopt``); elsewhere, or with ``KAFKABP_MALLOC_ARENAS=0``, nothing changes. An
environment's own ``MALLOC_ARENA_MAX`` wins.

Fewer arenas still keep the pages they grew to: a run that held a big buffer leaves its arena that large, and the
next big run in another arena grows that one too. ``release_free_memory()`` (glibc's ``malloc_trim(0)``, called
when an experiment stops) hands every arena's free pages back to the system, so a kernel's RSS after a Stop is what
it still uses, not the highest any run reached.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_ARENA_MAX = -8  # glibc's malloc.h


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None  # glibc's; musl lacks them


_LIBC = _glibc()


def limit_malloc_arenas() -> int | None:
    """Cap glibc's malloc arenas for this process; returns the cap set, or None when nothing was changed."""
    if _LIBC is None or "MALLOC_ARENA_MAX" in os.environ:
        return None
    raw = os.environ.get("KAFKABP_MALLOC_ARENAS", "2")
    try:
        arenas = int(raw)
    except ValueError:
        raise ValueError(f"KAFKABP_MALLOC_ARENAS must be a whole number of arenas (0: glibc's default), got {raw!r}") \
            from None
    if arenas <= 0:
        return None
    return arenas if _LIBC.mallopt(M_ARENA_MAX, arenas) == 1 else None


def release_free_memory() -> bool:
    """Give the free pages of every malloc arena back to the system (glibc ``malloc_trim(0)``); True if any were.
    A few milliseconds; nothing on other platforms (False)."""
    return bool(_LIBC.malloc_trim(0)) if _LIBC is not None else False

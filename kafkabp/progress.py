"""What a run shows and notes while it goes on: one updating progress line, and this process's memory.

Light on purpose (no pandas, no widgets): an experiment's progress line is plain text, in a notebook or on stderr.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable


def rss_bytes() -> float:
    """This process's resident memory now (Linux: /proc/self/statm; elsewhere the peak so far), in bytes."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource  # macOS reports ru_maxrss in bytes, Linux in KiB

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return float(peak if sys.platform == "darwin" else peak * 1024)


class Progress:
    """One updating line in a notebook (plain text, no widget state), or on stderr elsewhere."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.handle, self._last = enabled, None, 0.0
        if enabled:
            try:
                from IPython import get_ipython
                from IPython.display import display

                if get_ipython() is not None and "IPKernelApp" in get_ipython().config:
                    self.handle = display("starting…", display_id=True)
            except ImportError:
                pass

    def update(self, text: Callable[[], str], force: bool = False) -> None:
        """Show ``text()`` at most once a second (it reads every lag monitor: not worth doing 10 times a second)."""
        if not self.enabled or (not force and time.monotonic() - self._last < 1.0):
            return
        self._last = time.monotonic()
        shown = text()
        if self.handle is not None:
            self.handle.update(shown)
        else:
            print(shown, file=sys.stderr, flush=True)


__all__ = ["Progress", "rss_bytes"]

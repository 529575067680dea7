"""The guard a lesson's Check cell puts around the learner's own function.

An exercise stub raises ``NotImplementedError`` until the learner writes it; the Check cell below it asks
:func:`written` first, so a learner who runs the lesson top to bottom sees "not written yet", not a traceback,
and a learner who has written it gets the checks.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable


def written(function: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """True once ``function(*args, **kwargs)`` runs without ``NotImplementedError`` (a coroutine function's coroutine
    is run to its end); otherwise say so and return False. Any other error is the learner's to see, so it propagates."""
    if not callable(function):
        raise TypeError(f"written() takes the learner's function, not {function!r}")
    try:
        made = function(*args, **kwargs)
        if inspect.iscoroutine(made):  # an ``async def``: run it on a loop of its own, as lesson 17's do
            from kafkabp.workload.aio import run_in_thread

            run_in_thread(lambda: made)
    except NotImplementedError:
        name = getattr(function, "__name__", "the function")
        print(f"⏳ {name}() is not written yet: write it in the cell above, run it, then run this cell again")
        return False
    return True

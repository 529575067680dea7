"""Processing models: how long a consumer spends on each message and on each batch."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

KINDS = ("fixed", "exponential", "lognormal", "cpu", "handler", "batch_handler")


@dataclass(frozen=True)
class Processing:
    """How long a worker spends on each message (and on each batch).

    ``kind``: "fixed" (``seconds`` each), "exponential" (mean ``seconds``), "lognormal" (mean
    ``seconds``, shape ``sigma``), "cpu" (``seconds`` of busy CPU work per message, which holds
    Python's GIL), "handler" (real code: ``fn(payload)`` per message), "batch_handler" (``fn(payloads)``
    per batch). ``per_batch``: extra seconds per ``consume()`` batch, e.g. one database write.
    """

    kind: str = "fixed"
    seconds: float = 0.0
    sigma: float = 1.0
    per_batch: float = 0.0
    fn: Callable[[Any], Any] | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"processing kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if (self.fn is not None) != (self.kind in ("handler", "batch_handler")):
            raise ValueError("a handler needs fn=a callable, and only handlers take one")
        if self.fn is not None and not callable(self.fn):
            raise TypeError(f"fn must be callable (a function of the payload), got {self.fn!r}")
        for name, value in (("seconds", self.seconds), ("per_batch", self.per_batch), ("sigma", self.sigma)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ValueError(f"processing {name} must be a finite number >= 0 (seconds: e.g. fixed(0.001) "
                                 f"for 1 ms a message), got {value!r}")
        if self.sigma <= 0:
            raise ValueError(f"lognormal's sigma must be > 0 (1.0 is a long tail), got {self.sigma!r}")
        if self.kind in ("exponential", "lognormal") and self.seconds == 0:
            raise ValueError(f"{self.kind}(mean) needs a mean > 0 seconds; for no processing give processing=None")

    def sample(self, rng: random.Random) -> float:
        """Seconds for one message."""
        if self.kind == "exponential" and self.seconds > 0:
            return rng.expovariate(1.0 / self.seconds)
        if self.kind == "lognormal" and self.seconds > 0:
            mu = math.log(self.seconds) - self.sigma**2 / 2  # so the mean is `seconds`
            return rng.lognormvariate(mu, self.sigma)
        return self.seconds

    def mean_seconds(self, batch_size: int = 1) -> float:
        """Mean seconds per message, counting the batch cost spread over a full batch."""
        return self.seconds + self.per_batch / max(1, batch_size)

    def __str__(self) -> str:
        if self.fn is not None:
            return f"{self.kind} {self.name or getattr(self.fn, '__name__', 'fn')}"
        text = "no processing" if self.seconds == 0 else f"{self.kind} {self.seconds * 1000:g} ms/msg"
        return text + (f" + {self.per_batch * 1000:g} ms/batch" if self.per_batch else "")


def fixed(seconds: float) -> Processing:
    """Every message takes exactly ``seconds``."""
    return Processing("fixed", seconds)


def exponential(mean: float) -> Processing:
    """Random per message, exponentially distributed with mean ``mean`` seconds."""
    return Processing("exponential", mean)


def lognormal(mean: float, sigma: float = 1.0) -> Processing:
    """Random per message with a long tail: lognormal with mean ``mean`` seconds."""
    return Processing("lognormal", mean, sigma=sigma)


def per_batch(seconds: float, per_message: float = 0.0) -> Processing:
    """A cost per batch (e.g. one bulk write), plus an optional cost per message."""
    return Processing("fixed", per_message, per_batch=seconds)


def cpu(seconds: float) -> Processing:
    """Busy CPU work per message: holds the GIL, so more threads do not add capacity."""
    return Processing("cpu", seconds)


def spin_cpu(seconds: float) -> None:
    """Busy Python work until this thread has used ``seconds`` of CPU (holding the GIL while it runs): what a
    ``cpu`` model's message costs, in every kind of consumer."""
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        x += 1


def handler(fn: Callable[[bytes], Any], name: str = "") -> Processing:
    """Real work per message: ``fn(payload)``, the value after kafkabp's 12-byte counting header.

    Its time is whatever ``fn`` takes; an exception stops the worker and surfaces in the experiment.
    """
    return Processing("handler", fn=fn, name=name)


def batch_handler(fn: Callable[[list[bytes]], Any], name: str = "") -> Processing:
    """Real work per ``consume()`` batch: ``fn(payloads)``, e.g. one bulk write for the whole batch."""
    return Processing("batch_handler", fn=fn, name=name)

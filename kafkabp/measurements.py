"""Your measurements: each lesson's key numbers, kept on this machine for lesson 14's interview answer.

A lesson's Check cell ends with a line such as::

    kafkabp.remember("01", "lag_slope", s["lag_slope"], unit="msg/s", note="model λ − μ = 1,000 msg/s")

and any later notebook reads it back::

    kafkabp.recall("01", "lag_slope")      # a Measurement (value, unit, note, at), or None if not measured yet
    kafkabp.recall("01")                   # {key: Measurement} for one lesson
    kafkabp.recall()                       # every number, as a pandas DataFrame

Where: one small JSON file per number, ``<state dir>/results/<lesson>/<key>.json`` (the state directory is
``kafkabp.infra.paths.state_dir()``, ``~/.local/state/kafkabp`` unless ``KAFKABP_HOME`` moves it; ``KAFKABP_RESULTS``
moves the store alone). One file per number needs no lock: two kernels that store different numbers never touch
the same file, and each file is written to a temporary file in the same folder and renamed over the old one
(``os.replace``, atomic on POSIX and Windows), so a reader sees the old number or the new one, never half a file.
Running a lesson again replaces its numbers: the store keeps the latest run.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import tempfile
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
COLUMNS = ["lesson", "key", "value", "unit", "note", "at"]


def results_dir() -> Path:
    """The folder the numbers live in (created on first use)."""
    base = os.environ.get("KAFKABP_RESULTS")
    if base:
        path = Path(base)
    else:
        from kafkabp.infra.paths import state_dir

        path = state_dir() / "results"
    path.mkdir(parents=True, exist_ok=True)
    return path


def lesson_id(lesson: Any) -> str:
    """A lesson's name in the store: 1, "1" and "01" are all "01"; other names (letters, digits, _ . -) as given."""
    if isinstance(lesson, bool):
        raise TypeError(f"lesson must be a lesson number such as 1 or '01', or a name, got {lesson!r}")
    if isinstance(lesson, numbers.Integral):
        if not 0 <= int(lesson) <= 99:
            raise ValueError(f"lesson numbers run from 0 to 99, got {lesson!r}")
        return f"{int(lesson):02d}"
    if not isinstance(lesson, str) or not _NAME.match(lesson):
        raise ValueError(f"lesson must be a number such as 1 or '01', or a short name of letters, digits, _ . -; "
                         f"got {lesson!r}")
    return f"{int(lesson):02d}" if lesson.isdigit() and len(lesson) <= 2 else lesson


def _key(key: Any) -> str:
    if not isinstance(key, str) or not _NAME.match(key):
        raise ValueError(f"key must be a short name of letters, digits, _ . - (e.g. 'lag_slope'), got {key!r}")
    return key


def _number(value: Any, unit: str) -> int | float:
    """``value`` as a plain Python number (numpy's too), checked: a finite number, or ``math.inf`` for seconds (a
    drain that never ends reads "never"). A text, a bool, None or NaN is refused: lesson 14 quotes the number in a
    sentence, and "lag grew at abc" or "at n/a" is no answer."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        v = float(value)
        if math.isfinite(v) or (v == math.inf and unit == "s"):
            return v
        raise ValueError(f"remember() stores a measured number, got {v!r}: "
                         + ("NaN means the run measured nothing; look at its samples and run it again"
                            if math.isnan(v) else "only a time in seconds may be infinite (unit='s', read 'never')"))
    raise TypeError(f"remember() stores a number (an int or float, numpy's too), got {type(value).__name__}: "
                    f"{value!r}; convert it first, e.g. float(x) for a count read from a table")


@dataclass(frozen=True)
class Measurement:
    """One stored number: what (``lesson``, ``key``), its ``value`` and ``unit``, a ``note``, and when (``at``)."""

    lesson: str
    key: str
    value: int | float
    unit: str = ""
    note: str = ""
    at: str = ""  # ISO 8601, UTC

    @property
    def text(self) -> str:
        """The value with its unit, for a sentence: ``1,003 msg/s``, ``4.1×``, ``97.5 %``."""
        return format_value(self.value, self.unit)

    def __str__(self) -> str:
        return self.text


def format_value(value: Any, unit: str = "") -> str:
    """``value`` with ``unit``, rounded for reading: 1,003 msg/s · 12.4 s · 0.85 s · 4.1× · 97.5 %."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        text = str(value)
    elif isinstance(value, numbers.Integral):
        text = f"{int(value):,}"
    elif isinstance(value, numbers.Real):
        v = float(value)
        if math.isnan(v):
            text = "n/a"
        elif math.isinf(v):
            if unit == "s" and v > 0:
                return "never"
            text = "∞" if v > 0 else "−∞"
        elif abs(v) >= 100:
            text = f"{v:,.0f}"
        elif abs(v) >= 10:
            text = f"{v:.1f}"
        elif v == int(v):
            text = f"{int(v)}"
        else:
            text = f"{v:.2f}" if abs(v) < 1 else f"{v:.1f}"
    else:
        text = str(value)
    if not unit:
        return text
    return f"{text}×" if unit == "×" else f"{text} {unit}"


def remember(lesson: Any, key: str, value: Any, *, unit: str = "", note: str = "", quiet: bool = False) -> None:
    """Store one of a lesson's key numbers (replacing the same lesson's earlier one) and say so in one line.

    ``lesson`` 1 or "01"; ``key`` a short name ("lag_slope"); ``value`` a finite number (numpy's too), or ``math.inf``
    with ``unit="s"`` (a time that never came: "never"); ``unit`` e.g. "msg/s", "s", "×", "%", "MB"; ``note`` what it was measured against, in a few words;
    ``quiet`` stores without printing. Returns None (a Check cell's last line shows nothing more);
    :func:`recall` reads it back.
    """
    m = Measurement(lesson_id(lesson), _key(key), _number(value, str(unit)), str(unit), str(note),
                    datetime.now(timezone.utc).isoformat(timespec="seconds"))
    folder = results_dir() / m.lesson
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{m.key}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(asdict(m), f, ensure_ascii=False, indent=1)  # inf and nan as JSON's Infinity / NaN
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / f"{m.key}.json")
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if not quiet:
        print(f"📌 kept for lesson 14: {m.key.replace('_', ' ')} = {m.text}")


def _read(path: Path) -> Measurement | None:
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        m = Measurement(**{k: raw[k] for k in ("lesson", "key", "value", "unit", "note", "at")})
        _number(m.value, m.unit)  # a number edited by hand into a word is skipped like a broken file
        return m
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:  # edited by hand: say so, and skip it
        warnings.warn(f"skipping an unreadable stored result {path}: {exc!r}", RuntimeWarning, stacklevel=3)
        return None


def _all(lesson: str | None = None) -> list[Measurement]:
    root = results_dir()
    folders = [root / lesson] if lesson is not None else sorted(p for p in root.iterdir() if p.is_dir())
    out = []
    for folder in folders:
        if folder.is_dir():
            out += [m for m in (_read(p) for p in sorted(folder.glob("*.json"))) if m is not None]
    return out


def recall(lesson: Any = None, key: str | None = None) -> Any:
    """Read stored numbers back.

    - ``recall("01", "lag_slope")``: that :class:`Measurement`, or None when the lesson has not stored it (yet);
    - ``recall("01")``: ``{key: Measurement}`` for one lesson (empty when it has stored nothing);
    - ``recall()``: every stored number as a DataFrame (lesson, key, value, unit, note, at), sorted by lesson.
    """
    if key is not None:
        if lesson is None:
            raise TypeError("recall(lesson, key): name the lesson too, e.g. recall('01', 'lag_slope')")
        return _read(results_dir() / lesson_id(lesson) / f"{_key(key)}.json")
    if lesson is not None:
        return {m.key: m for m in _all(lesson_id(lesson))}
    rows = [asdict(m) for m in _all()]
    return pd.DataFrame(rows, columns=COLUMNS).sort_values(["lesson", "key"], ignore_index=True)


def forget(lesson: Any = None, key: str | None = None) -> int:
    """Delete stored numbers: one (lesson and key), one lesson's, or all of them (no arguments). Returns how many."""
    if key is not None and lesson is None:
        raise TypeError("forget(lesson, key): name the lesson too")
    root = results_dir()
    if key is not None:
        paths = [root / lesson_id(lesson) / f"{_key(key)}.json"]
    elif lesson is not None:
        paths = list((root / lesson_id(lesson)).glob("*.json"))
    else:
        paths = list(root.glob("*/*.json"))
    gone = 0
    for p in paths:
        try:
            p.unlink()
            gone += 1
        except FileNotFoundError:
            pass
    return gone


__all__ = ["Measurement", "forget", "format_value", "lesson_id", "recall", "remember", "results_dir"]

"""``make test`` runs pytest three times (unit tests, then the broker's tests and the lessons in parallel, then the
rendered course); this prints one closing line for all three from their JUnit XML files:
``make-test: 1180 passed, 0 failed, 2 skipped``.

``--durations FILE`` also writes the seconds each scheduling scope took (tests/conftest.py's ``scope``: a lesson,
the local cluster's tests, a test file) to FILE; tests/durations.json, made this way from a full run, is what the
parallel run uses to hand out the longest scopes first.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path


def totals(paths: list[str]) -> tuple[int, int, int]:
    passed = failed = skipped = 0
    for path in paths:
        for suite in ET.parse(path).getroot().iter("testsuite"):
            tests, errors = int(suite.get("tests", 0)), int(suite.get("errors", 0))
            fail, skip = int(suite.get("failures", 0)), int(suite.get("skipped", 0))
            failed += fail + errors
            skipped += skip
            passed += tests - fail - errors - skip
    return passed, failed, skipped


def scope_seconds(paths: list[str]) -> dict[str, float]:
    """Seconds per scheduling scope, from the JUnit files (``classname`` is the dotted path of the file)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import scope  # the same rule the scheduler uses

    seconds: Counter[str] = Counter()
    for path in paths:
        for case in ET.parse(path).getroot().iter("testcase"):
            module = case.get("classname", "")
            file = (module.replace(".", "/", 1) if module.startswith("notebooks.")
                    else module.replace(".", "/") + ".py")
            seconds[scope(file)] += float(case.get("time", 0))
    return {name: round(value, 1) for name, value in seconds.most_common()}


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--durations"]:
        target, args = Path(args[1]), args[2:]
        target.write_text(json.dumps(scope_seconds(args), indent=1) + "\n")
        print(f"wrote the seconds of {len(json.loads(target.read_text()))} scopes to {target}")
    p, f, s = totals(args)
    print(f"make-test: {p} passed, {f} failed, {s} skipped")
    sys.exit(1 if f or not p else 0)

"""Load a lesson's solution file (notebooks/solutions/solutions_NN.py) as a module for its tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SOLUTIONS = Path(__file__).resolve().parent.parent / "notebooks" / "solutions"


def load_solution(name: str) -> ModuleType:
    """``load_solution("solutions_04")``: the module, executed once per test file."""
    spec = importlib.util.spec_from_file_location(name, SOLUTIONS / f"{name}.py")
    assert spec is not None and spec.loader is not None, f"no solution file {name}.py in {SOLUTIONS}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

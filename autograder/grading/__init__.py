"""Grading a class: finding submissions, the pool of workers, the ledger, reports.

The names below are imported on first use (PEP 562): ``autograder check`` imports
:mod:`autograder.grading.checking` and starts the sandbox before anything imports numpy.
"""

from __future__ import annotations

import importlib

_WHERE = {"GraderError": "pool", "Ledger": "pool", "Settings": "pool", "grade_all": "pool",
          "grade_notebook": "pool", "isolation": "pool", "Submission": "submissions",
          "find_submissions": "submissions"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

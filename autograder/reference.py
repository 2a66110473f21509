"""Where the reference solutions live, and loading them for hidden checks.

The reference solution of an assignment is the code in its instructor notebook,
``solutions/<assignment>.ipynb`` (the nbgrader source). It is loaded only for hidden checks, so
students can run ``autograder check`` without ``solutions/``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from .notebook import read_cells, run_cells

REPO_ROOT = Path(__file__).resolve().parent.parent


def solutions_dir() -> Path:
    """``$AUTOGRADER_SOLUTIONS`` if set, else ``solutions/`` next to this package."""
    return Path(os.environ.get("AUTOGRADER_SOLUTIONS", REPO_ROOT / "solutions"))


def solution_notebook(assignment: str) -> Path:
    """``<dir>/<assignment>.ipynb`` (this repo) or ``<dir>/<assignment>/<assignment>.ipynb``
    (an nbgrader ``source/`` folder)."""
    flat = solutions_dir() / f"{assignment}.ipynb"
    nested = solutions_dir() / assignment / f"{assignment}.ipynb"
    return nested if not flat.exists() and nested.exists() else flat


class ReferenceUnavailable(RuntimeError):
    pass


def load_reference(assignment: str) -> dict:
    """Run the instructor notebook's code cells (not its tests) and return the namespace.

    Cached by the notebook's path and modification time, not by the assignment's name: two
    courses graded in one process never share a reference."""
    path = solution_notebook(assignment)
    try:
        stamp = path.resolve().stat().st_mtime_ns
    except OSError:
        stamp = None
    return _load(str(path.resolve()), stamp)


@lru_cache(maxsize=16)
def _load(where: str, stamp) -> dict:
    path = Path(where)
    if stamp is None or not path.exists():
        raise ReferenceUnavailable(
            f"the reference solution {path} is not available: hidden checks need the instructor "
            f"notebooks (set AUTOGRADER_SOLUTIONS to their folder). Students: use "
            f"`autograder check`, which needs no solutions.")
    cells = read_cells(path)
    _preload(cells)
    ns, log = run_cells(cells, filename=path.name)
    if log.notes:
        raise ReferenceUnavailable(f"the reference notebook {path} failed to run: "
                                   + "; ".join(log.notes))
    return ns


def _preload(cells: list) -> None:
    """Import the slow packages the notebook mentions before its cells run under their time
    limits: an import interrupted half-way leaves a module broken for the whole process (torch
    cannot even be imported twice)."""
    import importlib

    from .sandbox.zygote import HEAVY, heavy_packages

    for package in heavy_packages(c.source for c in cells):
        for module in HEAVY[package]:
            try:
                importlib.import_module(module)
            except ImportError:
                pass  # the notebook will say so itself

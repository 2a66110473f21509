"""Where the reference solutions live, and loading them for hidden checks.

The reference solution of an assignment is the code in its instructor notebook,
``solutions/<assignment>.ipynb`` (the nbgrader source). It is loaded only for hidden checks, so
students can run ``autograder check`` without ``solutions/``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .notebook import read_cells, run_cells


def solution_notebook(assignment: str, course=None) -> Path:
    """The instructor notebook of ``assignment`` in ``course`` (default: the course found from
    the working directory)."""
    from .course import Course

    return (course or Course.find()).solution_notebook(assignment)


class ReferenceUnavailable(RuntimeError):
    pass


def load_reference(assignment: str, course=None) -> dict:
    """Run the instructor notebook's code cells (not its tests) and return the namespace.

    Cached by the notebook's path and modification time, not by the assignment's name: two
    courses graded in one process never share a reference."""
    path = solution_notebook(assignment, course)
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
            f"notebooks (`solutions` in the course's autograder.toml). Students: use "
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

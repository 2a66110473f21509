"""Shared fixtures: the assignment specs, reference namespaces and notebook builders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # so `tests.variants` imports from any working directory

from autograder.notebook import read_cells, run_cells  # noqa: E402
from autograder.reference import load_reference  # noqa: E402
from autograder.spec import assignment_names, get_assignment  # noqa: E402

ASSIGNMENTS = assignment_names()
HTML = ROOT / "_build" / "html"
JB = Path(sys.executable).parent / "jupyter-book"


def build_book(*extra: str) -> subprocess.CompletedProcess:
    """`jupyter-book build . -W --keep-going`, as `python3 course.py book` runs it."""
    # A non-inline MPLBACKEND inherited by the kernel would silently drop every figure.
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    return subprocess.run([str(JB), "build", str(ROOT), "-W", "--keep-going", *extra],
                          capture_output=True, text=True, cwd=ROOT, env=env)


@pytest.fixture(scope="session")
def built():
    """The book, built once per test session: tests/test_book.py and tests/test_browser.py
    both use this build."""
    first = build_book()
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
    return first


@pytest.fixture(params=ASSIGNMENTS)
def assignment_name(request) -> str:
    return request.param


def spec(name: str):
    return get_assignment(name)


def reference(name: str) -> dict:
    return load_reference(name)


def stub_namespace(name: str) -> dict:
    ns, log = run_cells(read_cells(ROOT / "exercises" / f"{name}.ipynb"))
    assert not log.notes, log.notes
    return ns


def exercise_notebook(name: str) -> dict:
    return json.loads((ROOT / "exercises" / f"{name}.ipynb").read_text(encoding="utf-8"))


def filled_notebook(name: str, replacements: dict | None = None) -> dict:
    """The student notebook with each solution cell replaced by the reference solution's cell,
    or by ``replacements[grade_id]`` (source text) where given."""
    source = json.loads((ROOT / "solutions" / f"{name}.ipynb").read_text(encoding="utf-8"))
    solutions = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"])
                 for c in source["cells"]
                 if c["metadata"].get("nbgrader", {}).get("solution")}
    nb = exercise_notebook(name)
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            gid = meta["grade_id"]
            text = (replacements or {}).get(gid, solutions[gid])
            cell["source"] = "\n".join(line for line in text.splitlines()
                                       if "### BEGIN SOLUTION" not in line
                                       and "### END SOLUTION" not in line)
    return nb


def write_notebook(nb: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path

"""The student notebooks: generated from solutions/ by nbgrader, in sync, and leak-free."""

from __future__ import annotations

import json
import re

import pytest

from autograder.bridge.course import release
from autograder.spec import get_assignment
from tests.conftest import ASSIGNMENTS, ROOT

pytestmark = pytest.mark.nbgrader


def solution_lines(name: str) -> list:
    """Every substantive line written between BEGIN/END SOLUTION or HIDDEN TESTS markers."""
    nb = json.loads((ROOT / "solutions" / f"{name}.ipynb").read_text(encoding="utf-8"))
    lines, inside = [], False
    for cell in nb["cells"]:
        for line in "".join(cell["source"]).splitlines():
            if re.search(r"### (BEGIN|END) (SOLUTION|HIDDEN TESTS)", line):
                inside = "BEGIN" in line
                continue
            text = line.strip()
            if inside and len(text) >= 12 and not text.startswith("#"):
                lines.append(text)
    assert lines, f"no solution lines found in {name}"
    return lines


def _cells(nb: dict) -> list:
    return [(c["cell_type"], "".join(c["source"]), c["metadata"].get("nbgrader", {}).get("grade_id"),
             c["metadata"].get("nbgrader", {}).get("points")) for c in nb["cells"]]


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_exercise_is_in_sync_with_solutions(name, tmp_path):
    fresh = release(name, tmp_path)
    committed = ROOT / "exercises" / f"{name}.ipynb"
    assert committed.exists(), f"run `python3 course.py exercises` to create {committed}"
    new = json.loads(fresh.read_text(encoding="utf-8"))
    old = json.loads(committed.read_text(encoding="utf-8"))
    assert _cells(new) == _cells(old), (
        f"exercises/{name}.ipynb is out of date with solutions/{name}.ipynb: "
        f"run `python3 course.py exercises` and commit the result")
    # `autograder check` reads the assignment from here, whatever the copy is called
    assert new["metadata"].get("autograder") == old["metadata"].get("autograder") \
        == {"assignment": name}


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_no_solution_code_in_exercises(name):
    text = "\n".join(src for _, src, _, _ in _cells(json.loads(
        (ROOT / "exercises" / f"{name}.ipynb").read_text(encoding="utf-8"))))
    leaked = [line for line in solution_lines(name) if line in text]
    assert not leaked, leaked
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_every_graded_function_has_public_and_hidden_cells(name):
    from autograder.spec import get_assignment

    spec = get_assignment(name)
    nb = json.loads((ROOT / "solutions" / f"{name}.ipynb").read_text(encoding="utf-8"))
    points = {}
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            points[meta["grade_id"]] = meta["points"]
    ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in nb["cells"]]
    assert len(ids) == len(set(ids)), "duplicate nbgrader grade_id"
    for gf in spec.functions:
        assert points.get(f"{gf.name}_public") == gf.public_points, gf.name
        assert points.get(f"{gf.name}_hidden") == gf.hidden_points, gf.name
    assert sum(points.values()) == spec.max_score


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_the_introduction_tells_about_cascades(name):
    """Where a function's checks use another graded function (GradedFunction.uses), the
    notebook says that the reference stands in when grading and that `check` says "fix ...
    first"; where a backward takes its forward's cache, that a wrong cache costs it too."""
    spec = get_assignment(name)
    nb = json.loads((ROOT / "exercises" / f"{name}.ipynb").read_text(encoding="utf-8"))
    intro = "".join(nb["cells"][0]["source"])
    users = [gf for gf in spec.functions if gf.uses]
    for gf in users:
        assert f"`{gf.name}`" in intro, gf.name
        assert all(f"`{used}`" in intro for used in gf.uses), gf.uses
    told = "stand in for yours" in intro and "fix `" in intro and "first" in intro
    assert told == bool(users), intro
    graded = {gf.name for gf in spec.functions}
    backwards = [n for n in graded if n.endswith("_backward")
                 and n[:-len("_backward")] + "_forward" in graded]
    if backwards:
        assert "a wrong cache costs the backward points too" in intro, backwards

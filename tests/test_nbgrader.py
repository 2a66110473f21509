"""nbgrader end to end in a temporary course directory: generate_assignment, autograde and
generate_feedback, with the same totals as `autograder grade` and no hidden data in feedback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autograder.bridge.course import init_course, nbgrader
from autograder.spec import get_assignment
from tests.conftest import ASSIGNMENTS, exercise_notebook, filled_notebook, write_notebook
from tests.test_exercises import solution_lines

pytestmark = pytest.mark.nbgrader

ONE_PASS_VAR = ("def gaussian_mle(x):\n    x = np.asarray(x, dtype=float)\n"
                "    return float(x.mean()), float(np.mean(x**2) - x.mean()**2)")


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def course(request, tmp_path_factory):
    A = request.param
    last = get_assignment(A).functions[-1].name  # used by no other graded function
    root = init_course(tmp_path_factory.mktemp("course"), [A])
    nbgrader(root, "generate_assignment", A, "--force")
    released = json.loads((root / "release" / A / f"{A}.ipynb").read_text(encoding="utf-8"))
    subs = {
        "alice": filled_notebook(A),
        "bob": exercise_notebook(A),
        "carol": filled_notebook(A, {last: f"def {last}(*args, **kwargs):\n    return 0.0"}),
    }
    if A == "01_information":
        subs["dan"] = filled_notebook(A, {"gaussian_mle": ONE_PASS_VAR})
    for student, nb in subs.items():
        write_notebook(nb, root / "submitted" / student / A / f"{A}.ipynb")
    nbgrader(root, "autograde", A, "--force")
    nbgrader(root, "generate_feedback", A, "--force")
    return A, root, released


def gradebook_scores(A, root):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        out = {}
        for sub in gb.assignment_submissions(A):
            nb = gb.find_submission_notebook(A, A, sub.student.id)
            per_cell = {g.name: g.score for g in nb.grades}
            out[sub.student.id] = (sub.score, per_cell)
        return out


def test_release_matches_committed_exercise(course):
    A, _, released = course
    assert [c["source"] for c in released["cells"]] == \
        [c["source"] for c in exercise_notebook(A)["cells"]]


def test_nbgrader_totals(course):
    A, root, _ = course
    spec = get_assignment(A)
    scores = gradebook_scores(A, root)
    assert scores["alice"][0] == spec.max_score
    assert scores["bob"][0] == 0
    assert scores["carol"][0] == spec.max_score - spec.functions[-1].max_score
    if "dan" in scores:
        assert scores["dan"][0] == spec.max_score - spec.function("gaussian_mle").hidden_points


def test_same_totals_as_autograder_grade(course, tmp_path):
    A, root, _ = course
    spec = get_assignment(A)
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(root / "submitted"),
                           "--assignment", A, "--format", "json", "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    ours = {s["student"]: s for s in json.loads(proc.stdout)["submissions"]}
    for student, (total, per_cell) in gradebook_scores(A, root).items():
        assert ours[student]["score"] == total, student
        for gf in spec.functions:
            theirs = per_cell[f"{gf.name}_public"] + per_cell[f"{gf.name}_hidden"]
            assert ours[student]["functions"][gf.name]["score"] == theirs, (student, gf.name)


def test_feedback_hides_reference_and_hidden_inputs(course):
    A, root, _ = course
    feedback = {s: (root / "feedback" / s / A / f"{A}.html").read_text(encoding="utf-8")
                for s in ("alice", "bob", "carol")}
    leaked = [line for line in solution_lines(A)
              if line in feedback["bob"] and "hidden_tests(" not in line]
    assert not leaked, leaked
    if A == "01_information":
        dan = (root / "feedback" / "dan" / A / f"{A}.html").read_text(encoding="utf-8")
        assert "hidden test case" in dan  # the message is there ...
        start = dan.index("hidden test case")
        window = dan[start - 2000:start + 2000]
        assert "expected:" not in window and "got:" not in window  # ... without values

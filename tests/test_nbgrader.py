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
        # the one-pass variance fails the public check far from zero as well as the hidden one
        assert scores["dan"][0] == spec.max_score - spec.function("gaussian_mle").max_score


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


def test_a_timeout_does_not_bleed_in_nbgraders_kernel(tmp_path):
    """Issue 20's timeout-bleed notebook graded by `nbgrader autograde` (the hidden tests run
    in nbgrader's kernel, in the student's process): a training cell calls a looping
    `relu_forward` past the cell limit, then the checks of `relu_forward` time out. Every other
    function keeps the score it earns in process without the loop's cell (`check --plain`)."""
    from autograder.evaluate import grade_function
    from autograder.notebook import read_cells, run_cells
    from autograder.spec import HIDDEN, PUBLIC
    from tests.conftest import reference

    A = "03_backprop"
    spec = get_assignment(A)
    loop = "def relu_forward(x):\n    while True:\n        pass\n"
    nb = filled_notebook(A, {"relu_forward": loop})
    # The training cell right after the solution, before every test cell (nbgrader runs the
    # cells in order, the checks included).
    at = next(i for i, c in enumerate(nb["cells"])
              if c["metadata"].get("nbgrader", {}).get("grade_id") == "relu_forward")
    nb["cells"].insert(at + 1, {"cell_type": "code", "metadata": {}, "outputs": [],
                                "execution_count": None,
                                "source": "import numpy as np\nrelu_forward(np.ones(3))"})
    path = write_notebook(nb, tmp_path / "bleed.ipynb")
    ns, _ = run_cells(read_cells(path), timeout=2)
    expected = {gf.name: grade_function(spec, gf, ns, reference(A), (PUBLIC, HIDDEN)).score
                for gf in spec.functions}
    assert expected["sigmoid_forward"] == spec.function("sigmoid_forward").max_score
    root = init_course(tmp_path / "course", [A])
    # nbgrader interrupts a cell after 120 s of wall-clock time (the course's config): the
    # training cell; a check cell's timed-out call ends within its own limits first. 30 s
    # here: the same interruption, and 90 s of a spinning loop less for the suite to wait.
    config = root / "nbgrader_config.py"
    config.write_text(config.read_text(encoding="utf-8") + "\nc.Execute.timeout = 30\n",
                      encoding="utf-8")
    nbgrader(root, "generate_assignment", A, "--force")
    write_notebook(nb, root / "submitted" / "eve" / A / f"{A}.ipynb")
    nbgrader(root, "autograde", A, "--force")
    _, per_cell = gradebook_scores(A, root)["eve"]
    got = {gf.name: per_cell[f"{gf.name}_public"] + per_cell[f"{gf.name}_hidden"]
           for gf in spec.functions}
    assert got == expected

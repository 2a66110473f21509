"""A busy machine never changes a grade (issue 18 §2).

Three processes per core spin beside the grader, each in a session of its own. The reference,
a partial and a wrong submission of the torch-heavy chapter 05 are graded by ``autograder
grade`` (the sandbox) and by nbgrader (the hidden tests run inside its kernel); both must give
exactly the scores that in-process grading gives on the quiet machine. Before the limits counted
CPU time and imports moved out of them, the same load turned the reference's 29/29 into 17/29.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from autograder.evaluate import grade_function
from autograder.grading.pool import grade_all
from autograder.grading.submissions import Submission
from autograder.notebook import read_cells, run_cells
from autograder.spec import HIDDEN, PUBLIC, get_assignment
from tests.conftest import filled_notebook, reference, write_notebook

A = "05_rnn"
SUBMISSIONS = {
    "reference": {},
    "partial": {"lstm_step_forward": "def lstm_step_forward(*args):\n"
                                     "    raise NotImplementedError()",
                "clip_grad_norm": "def clip_grad_norm(grads, max_norm):\n"
                                  "    raise NotImplementedError()"},
    "no_tanh": {"rnn_step_forward": "def rnn_step_forward(x, h_prev, Wx, Wh, b):\n"
                                    "    h = x @ Wx + h_prev @ Wh + b\n"
                                    "    return h, (x, h_prev, Wx, Wh, np.tanh(h))"},
}


@pytest.fixture(scope="module")
def quiet_scores(tmp_path_factory):
    """Per function, per student: in process, before any load starts."""
    spec, ref = get_assignment(A), reference(A)
    folder = tmp_path_factory.mktemp("quiet")
    scores = {}
    for student, replacements in SUBMISSIONS.items():
        nb = write_notebook(filled_notebook(A, replacements), folder / f"{student}.ipynb")
        ns, _ = run_cells(read_cells(nb))
        scores[student] = {gf.name: grade_function(spec, gf, ns, ref, (PUBLIC, HIDDEN)).score
                           for gf in spec.functions}
    assert sum(scores["reference"].values()) == spec.max_score
    return scores


@pytest.fixture
def busy_machine():
    """3 spinning processes per core, each in its own session (as other users' work is)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                              start_new_session=True)
             for _ in range(3 * (os.cpu_count() or 1))]
    yield
    for p in procs:
        p.kill()
        p.wait()


def _submitted(root, spec) -> list:
    subs = []
    for student, replacements in SUBMISSIONS.items():
        path = write_notebook(filled_notebook(A, replacements),
                              root / "submitted" / student / A / f"{A}.ipynb")
        subs.append(Submission(student, path))
    return subs


@pytest.mark.slow
@pytest.mark.exclusive
def test_autograder_grade_gives_the_quiet_scores_on_a_busy_machine(quiet_scores, busy_machine,
                                                                    tmp_path):
    spec = get_assignment(A)
    results = grade_all(_submitted(tmp_path, spec), spec, jobs=2)
    got = {r.student: {n: f.score for n, f in r.functions.items()} for r in results}
    assert got == quiet_scores, {r.student: r.notes for r in results}


@pytest.mark.slow
@pytest.mark.exclusive
@pytest.mark.nbgrader
def test_nbgrader_gives_the_quiet_scores_on_a_busy_machine(quiet_scores, busy_machine,
                                                            tmp_path):
    from nbgrader.api import Gradebook

    from autograder.bridge.course import init_course, nbgrader

    spec = get_assignment(A)
    root = init_course(tmp_path / "course", [A])
    nbgrader(root, "generate_assignment", A, "--force")
    _submitted(root, spec)
    nbgrader(root, "autograde", A, "--force")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student, expected in quiet_scores.items():
            nb = gb.find_submission_notebook(A, A, student)
            per_cell = {g.name: g.score for g in nb.grades}
            got = {name: per_cell[f"{name}_public"] + per_cell[f"{name}_hidden"]
                   for name in expected}
            assert got == expected, student


@pytest.mark.slow
def test_a_timeout_does_not_bleed_into_later_checks(tmp_path):
    """Issue 20's notebook: an ungraded cell calls a looping `relu_forward` and runs past the
    cell limit, then a check of `relu_forward` times out. Every later check starts from a fresh
    process with its whole budget, and the cell that ran out of time is not run again, so the
    score is the in-process one: only what really loops loses points."""
    from autograder.grading import Settings

    name = "03_backprop"
    spec = get_assignment(name)
    loop = "def relu_forward(x):\n    while True:\n        pass\n"
    nb = filled_notebook(name, {"relu_forward": loop})
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                        "execution_count": None,
                        "source": "import numpy as np\nrelu_forward(np.ones(3))  # training"})
    path = write_notebook(nb, tmp_path / "bleed.ipynb")
    ns, log = run_cells(read_cells(path), timeout=2)
    assert any("CPU time" in note for note in log.notes), log.notes
    expected = {gf.name: grade_function(spec, gf, ns, reference(name), (PUBLIC, HIDDEN)).score
                for gf in spec.functions}
    assert expected["sigmoid_forward"] == spec.function("sigmoid_forward").max_score
    result = grade_all([Submission("bleed", path)], spec, jobs=1,
                       settings=Settings(cell_timeout=2))[0]
    assert {n: f.score for n, f in result.functions.items()} == expected, result.notes

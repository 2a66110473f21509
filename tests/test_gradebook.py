"""`autograder grade` writes the gradebook through nbgrader's own code: late penalties from the
course's nbgrader_config.py, and nbgrader's "No response." comments on untouched cells."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys

import nbformat
import pytest

from autograder.bridge.course import init_course, nbgrader
from autograder.spec import get_assignment
from tests.conftest import exercise_notebook, filled_notebook, write_notebook

pytestmark = pytest.mark.nbgrader
A = "01_information"
SPEC = get_assignment(A)


def test_late_penalty_and_comments_come_from_nbgrader(tmp_path):
    from nbgrader.api import Gradebook

    course = init_course(tmp_path / "course", [A])
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as fh:
        fh.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    nbgrader(course, "generate_assignment", A, "--force")
    due = datetime.datetime(2026, 1, 10, 12, 0, 0)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.update_or_create_assignment(A, duedate=due)
    early = filled_notebook(A)
    early["cells"].insert(2, {"cell_type": "code", "metadata": {}, "outputs": [],
                              "execution_count": None, "source": "raise ValueError('scratch')"})
    for cell in early["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "entropy":
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "loss 0.31\n"}]
    for student, nb, when in (("early", early, due - datetime.timedelta(hours=1)),
                              ("late", filled_notebook(A), due + datetime.timedelta(days=1)),
                              ("blank", exercise_notebook(A), due)):
        path = write_notebook(nb, course / "submitted" / student / A / f"{A}.ipynb")
        (path.parent / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(course),
                           "--assignment", A, "--jobs", "2", "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        early, late = gb.find_submission(A, "early"), gb.find_submission(A, "late")
        assert early.score == late.score == SPEC.max_score
        assert early.late_submission_penalty == 0
        assert late.late_submission_penalty == SPEC.max_score  # "zero": a late notebook gets 0
        nb = gb.find_submission_notebook(A, A, "blank")
        comments = {c.name: c.auto_comment for c in nb.comments}
        assert comments and all(text == "No response." for text in comments.values()), comments
        blank = {g.name: g.auto_score for g in nb.grades}
        assert blank and not any(blank.values()), blank
        filled = gb.find_submission_notebook(A, A, "early")
        assert all(g.auto_score == g.max_score and not g.needs_manual_grade
                   for g in filled.grades)
        assert not any(c.auto_comment for c in filled.comments)
    for student in ("early", "late", "blank"):  # written without nbformat's own validation
        nbformat.validate(nbformat.read(course / "autograded" / student / A / f"{A}.ipynb",
                                        as_version=nbformat.NO_CONVERT))
    _one_source_of_truth(course)
    # nbgrader's own feedback shows the student's outputs and how the notebook ran
    nbgrader(course, "generate_feedback", A, "--force")
    page = (course / "feedback" / "early" / A / f"{A}.html").read_text(encoding="utf-8")
    assert "loss 0.31" in page and "Running your notebook" in page and "scratch" in page


def _csv(path):
    import csv

    return {row["student"]: row for row in csv.DictReader(path.open(encoding="utf-8"))}


def _one_source_of_truth(course):
    """Our reports publish the gradebook's final scores (late penalty, manual grades), with the
    checks' own points as the raw score; a later manual grade shows up on the next run."""
    from nbgrader.api import Gradebook

    out = course / "autograder" / A
    rows = _csv(out / "results.csv")
    assert rows["late"]["score"] == "0" and rows["late"]["raw_score"] == str(SPEC.max_score)
    assert rows["late"]["late_penalty"] == str(SPEC.max_score)
    assert rows["early"]["score"] == rows["early"]["raw_score"] == str(SPEC.max_score)
    lms = _csv(out / "grades-lms.csv")
    assert lms["late"] == {"student": "late", "score": "0", "max": str(SPEC.max_score)}
    report = {s["student"]: s for s in json.loads((out / "results.json").read_text())[
        "submissions"]}
    assert report["late"]["score"] == 0 and report["late"]["raw_score"] == SPEC.max_score
    late_feedback = (out / "feedback" / "late.md").read_text()
    assert f"0 / {SPEC.max_score} (the checks gave {SPEC.max_score}" in late_feedback
    # the instructor gives "blank" a point by hand in formgrader
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grade = gb.find_submission_notebook(A, A, "blank").grades[0]
        grade.manual_score = 1
        gb.db.commit()
    # a student new to a gradebook that has submissions made nbgrader's code warn (SAWarning)
    write_notebook(filled_notebook(A), course / "submitted" / "newcomer" / A / f"{A}.ipynb")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(course),
                           "--assignment", A, "--jobs", "1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "1 graded now, 3 unchanged" in proc.stderr, proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr
    rows = _csv(out / "results.csv")
    assert rows["blank"]["score"] == "1" and rows["blank"]["raw_score"] == "0"
    table = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    assert table["blank"].split()[1] == f"1/{SPEC.max_score}" and "raw 0" in table["blank"]
    assert "1 / " in (out / "feedback" / "blank.md").read_text()
    # PATH inside submitted/ with --course: that student alone
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade",
                           str(course / "submitted" / "early"), "--course", str(course),
                           "--assignment", A, "--jobs", "1", "--force"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "1 notebooks: 1 graded now" in proc.stderr, proc.stderr
    assert set(_csv(out / "results.csv")) == {"early", "late", "blank", "newcomer"}
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(course), "--out",
                           str(course / "submitted" / "reports"), "--assignment", A],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "inside the submissions" in proc.stderr, proc.stderr


def test_an_assignment_missing_from_the_gradebook_stops_the_run_with_a_reason(tmp_path):
    """The gradebook is opened while the workers start: its problems still end the run at once
    with the instructor's next step, not a traceback."""
    course = init_course(tmp_path / "course", [A])  # no generate_assignment: not in the gradebook
    write_notebook(filled_notebook(A), course / "submitted" / "ann" / A / f"{A}.ipynb")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(course),
                           "--assignment", A, "--jobs", "1", "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "generate_assignment" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "Grading" not in proc.stderr, proc.stderr  # told before any worker started
    assert not (course / "autograded").exists()

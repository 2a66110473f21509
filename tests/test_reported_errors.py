"""Problems with a course's own files are told to the instructor in the run's report, never
swallowed: a submission whose ``timestamp.txt`` cannot be read would otherwise count as on
time, and a course ``nbgrader_config.py`` that fails to load would silently grade with
nbgrader's defaults (no late penalty, for one)."""

from __future__ import annotations

import datetime
import subprocess
import sys

import pytest

from autograder.bridge.course import init_course, nbgrader
from tests.conftest import filled_notebook, write_notebook

pytestmark = pytest.mark.nbgrader
A = "01_information"


def _course_with(tmp_path, stamps: dict):
    """A course with the assignment released and due, and one filled submission per student
    with that student's timestamp.txt text."""
    from nbgrader.api import Gradebook

    course = init_course(tmp_path / "course", [A])
    nbgrader(course, "generate_assignment", A, "--force")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.update_or_create_assignment(A, duedate=datetime.datetime(2026, 1, 10, 12))
    for student, stamp in stamps.items():
        path = write_notebook(filled_notebook(A), course / "submitted" / student / A /
                              f"{A}.ipynb")
        (path.parent / "timestamp.txt").write_text(stamp, encoding="utf-8")
    return course


def _grade(course) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "grade", str(course),
                           "--assignment", A, "--jobs", "1"],
                          capture_output=True, text=True, timeout=900)


def test_a_malformed_timestamp_is_reported_with_the_student(tmp_path):
    course = _course_with(tmp_path, {"ontime": "2026-01-10 11:00:00.000000 UTC",
                                     "garbled": "the day after the deadline"})
    proc = _grade(course)
    report = proc.stdout + proc.stderr
    lines = [line for line in report.splitlines() if "timestamp.txt" in line]
    assert any("garbled" in line for line in lines), report[-3000:]
    assert not any("ontime" in line for line in lines), lines  # only the bad one


def test_a_course_config_that_fails_to_load_is_reported(tmp_path):
    course = _course_with(tmp_path, {"ann": "2026-01-10 11:00:00.000000 UTC"})
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as fh:
        # Broken after generate_assignment, as an instructor's later edit would be.
        fh.write("\nc.LateSubmissionPlugin.penalty_method = undefined_name\n")
    proc = _grade(course)
    report = proc.stdout + proc.stderr
    assert "nbgrader_config.py" in report, report[-3000:]
    assert "NameError" in report or "undefined_name" in report, report[-3000:]  # why

"""Whether a gradebook is ready for a grading run, asked before any worker starts.

Kept apart from :mod:`autograder.bridge.gradebook`, which imports nbformat and (for its
writer) nbgrader: about a second that the run spends while its workers start, not before.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


class NotReady(Exception):
    """The gradebook cannot take this run's results; the message says what to do."""


def not_in_gradebook(db_url: str, assignment: str) -> str:
    """What to do when ``assignment`` is not in the gradebook: the one wording, whether the
    gradebook was read here or through nbgrader (:func:`.gradebook.check_ready`)."""
    return (f"assignment {assignment!r} is not in the gradebook {db_url}: run `nbgrader "
            f"generate_assignment {assignment}` in the course directory first.")


def assignment_ready(db_url: str, assignment: str) -> None:
    """The assignment must be in the gradebook (``nbgrader generate_assignment`` puts it
    there). An SQLite gradebook is read with the standard library; any other URL, or a file
    that is not a gradebook yet, is asked through nbgrader."""
    path = Path(db_url[len("sqlite:///"):]) if db_url.startswith("sqlite:///") else None
    found = None
    if path is not None and path.is_file():
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                found = db.execute("SELECT 1 FROM assignment WHERE name = ?",
                                   (assignment,)).fetchone()
            finally:
                db.close()
        except sqlite3.Error:
            path = None
    if path is None:
        from .gradebook import GradebookError, check_ready

        try:
            return check_ready(db_url, assignment)
        except GradebookError as exc:
            raise NotReady(str(exc)) from None
    if found is None:
        raise NotReady(not_in_gradebook(db_url, assignment))

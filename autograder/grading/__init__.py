"""Grading a class: finding submissions, the pool of workers, the ledger, reports."""

from .pool import GraderError, Ledger, Settings, grade_all, grade_notebook, isolation
from .submissions import Submission, find_submissions

__all__ = ["GraderError", "Ledger", "Settings", "Submission", "find_submissions", "grade_all",
           "grade_notebook", "isolation"]

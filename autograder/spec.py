"""What an assignment is: its graded functions, their points and their two tiers of checks.

Each graded function has *public* checks (shown to students, need no reference: shapes,
invariants, known values, gradients against central differences) and *hidden* checks (compare
with the reference solution on randomised inputs and edge cases). A tier earns its points only
when every check in it passes. The same definitions are used by the nbgrader test cells
(:mod:`autograder.cell`), by ``autograder check`` / ``autograder grade`` and by the tests.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

Check = Callable[["Context"], None]  # noqa: F821 - see autograder.checks.Context

PUBLIC, HIDDEN = "public", "hidden"
TIERS = (PUBLIC, HIDDEN)


@dataclass(frozen=True)
class Section:
    """The book section a student should reread when a check fails."""

    title: str
    page: str  # document path without suffix, e.g. "chapters/01_information"
    label: str  # the MyST label, e.g. "sec-entropy"

    @property
    def url(self) -> str:
        return f"{self.page}.html#{self.label}"

    def __str__(self) -> str:
        return f"reread \u201c{self.title}\u201d in the book ({self.url})"


@dataclass(frozen=True)
class GradedFunction:
    name: str
    section: Section
    public: tuple  # of (description, Check)
    hidden: tuple
    public_points: int = 1
    hidden_points: int = 1

    @property
    def max_score(self) -> int:
        return self.public_points + self.hidden_points

    def checks(self, tier: str) -> tuple:
        return self.public if tier == PUBLIC else self.hidden

    def points(self, tier: str) -> int:
        return self.public_points if tier == PUBLIC else self.hidden_points


@dataclass(frozen=True)
class Assignment:
    name: str  # e.g. "01_information": the nbgrader assignment id and notebook stem
    title: str
    functions: tuple = field(default_factory=tuple)

    def function(self, name: str) -> GradedFunction:
        for gf in self.functions:
            if gf.name == name:
                return gf
        raise KeyError(f"{self.name} has no graded function {name!r}")

    @property
    def max_score(self) -> int:
        return sum(gf.max_score for gf in self.functions)


# Assignment id -> module in autograder.assignments defining ASSIGNMENT. A new chapter adds a line.
REGISTRY = {
    "01_information": "autograder.assignments.information",
    "02_matrix_calculus": "autograder.assignments.matrix_calculus",
    "03_backprop": "autograder.assignments.backprop",
    "05_rnn": "autograder.assignments.rnn",
}


def get_assignment(name: str) -> Assignment:
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown assignment {name!r}; known assignments: {known}")
    return importlib.import_module(REGISTRY[name]).ASSIGNMENT

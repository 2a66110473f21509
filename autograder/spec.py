"""What an assignment is: its graded functions, their points and their two tiers of checks.

Each graded function has *public* checks (shown to students, need no reference: shapes,
invariants, known values, gradients against central differences) and *hidden* checks (compare
with the reference solution on randomised inputs and edge cases). A tier earns its points only
when every check in it passes. The same definitions are used by the nbgrader test cells
(:mod:`autograder.cell`), by ``autograder check`` / ``autograder grade`` and by the tests.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from typing import Callable

Check = Callable[["Context"], None]  # noqa: F821 - see autograder.checks.Context

PUBLIC, HIDDEN = "public", "hidden"


@dataclass(frozen=True)
class Section:
    """The book section a student should reread when a check fails."""

    title: str
    page: str  # document path without suffix, e.g. "chapters/01_information"
    label: str  # the MyST label, e.g. "sec-entropy"

    @property
    def url(self) -> str:
        return f"{self.page}.html#{self.label}"

    def link(self, book: str = "") -> str:
        """Its address in the book at ``book`` (see ``Course.book``); relative without one."""
        return book + self.url

    def review(self, book: str = "") -> str:
        return f"reread \u201c{self.title}\u201d in the book ({self.link(book)})"

    def __str__(self) -> str:
        return self.review()


@dataclass(frozen=True)
class GradedFunction:
    name: str
    section: Section
    public: tuple  # of (description, Check)
    hidden: tuple
    public_points: int = 1
    hidden_points: int = 1
    # Graded functions a student's implementation usually calls (multi-head attention calls
    # scaled_dot_product_attention). Where the reference is at hand (grading), each stands in
    # for the student's own while this one is checked, so one mistake costs its own points;
    # without it (`autograder check`) a failure here says "fix `that` first" when that one
    # fails its own public checks.
    uses: tuple = ()
    # Graded functions whose own results the checks need (a backward gets the cache of the
    # student's forward): they cannot stand in, so only the "fix `that` first" applies.
    needs: tuple = ()

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
    # Modules the checks use that are slow to import (torch: seconds). The assignment module
    # refers to them through `lazy_module`, so discovering assignments stays fast; a grading
    # worker imports them before it takes work, outside every check's time limit.
    imports: tuple = ()
    # What the public checks alone need of `imports` (None: all of it). An assignment whose
    # public checks get torch's answers from a stored table (autograder/memo.py) declares ():
    # `autograder check` and a student's public test cells then never import torch.
    public_imports: tuple | None = None

    def imports_for(self, tiers: tuple) -> tuple:
        """The slow modules the checks of ``tiers`` use."""
        if HIDDEN in tiers or self.public_imports is None:
            return self.imports
        return self.public_imports

    def import_modules(self, tiers: tuple = (PUBLIC, HIDDEN)) -> None:
        """Import what the checks of ``tiers`` use, outside every time limit. torch imports
        sympy lazily (inside a timed call, where an interruption would leave it
        half-initialised), so sympy comes with it."""
        for name in self.imports_for(tiers):
            importlib.import_module(name)
            if name == "torch":
                importlib.import_module("sympy")
        if "torch" in sys.modules and "sympy" not in sys.modules:
            # the notebook's own torch (a Jupyter kernel running the public test cells): its
            # lazy sympy import must not fall inside a student's timed call either
            importlib.import_module("sympy")

    def function(self, name: str) -> GradedFunction:
        for gf in self.functions:
            if gf.name == name:
                return gf
        raise KeyError(f"{self.name} has no graded function {name!r}")

    @property
    def max_score(self) -> int:
        return sum(gf.max_score for gf in self.functions)


class lazy_module:  # noqa: N801 - used like a module
    """A module imported on first attribute access: ``torch = lazy_module("torch")``.

    Every assignment module is imported to discover the assignments (by the command line, the
    grading workers, the tests); one that imported torch at the top would cost each of them
    seconds. List the module in ``Assignment.imports`` too, so that the worker imports it
    before grading rather than inside a timed check."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def assignment_names(course=None) -> list:
    """Every assignment id of ``course`` (default: the one found from the working directory,
    see :class:`autograder.course.Course`), sorted."""
    from .course import Course

    return sorted((course or Course.find()).assignments())


def get_assignment(name: str, course=None) -> Assignment:
    from .course import Course

    found = (course or Course.find()).assignments()
    if name not in found:
        raise KeyError(f"unknown assignment {name!r}; known assignments: "
                       f"{', '.join(sorted(found)) or 'none'}")
    return found[name]

"""The two calls that nbgrader test cells make.

A public test cell in an exercise notebook reads::

    from autograder.cell import public_tests
    public_tests("01_information", "entropy", globals())

and the hidden test cell (removed from the student's copy by nbgrader) calls ``hidden_tests``
the same way. Each raises ``AssertionError`` with the teaching message when a check fails, which
is how nbgrader decides that the cell earns zero; on success it prints one line.
"""

from __future__ import annotations

from .course import Course
from .evaluate import run_tier
from .reference import load_reference
from .spec import HIDDEN, PUBLIC, get_assignment


def _run(assignment: str, name: str, namespace: dict, tier: str) -> None:
    course = Course.find()
    spec = get_assignment(assignment, course)
    # torch and the like, imported here rather than inside the first check's time limit (an
    # import interrupted by the limit would also leave the module half-imported for the rest)
    spec.import_modules((tier,))
    gf = spec.function(name)
    if tier == HIDDEN:
        reference = load_reference(assignment)
    else:
        # Public checks need no reference; where it is at hand (nbgrader autograde), the
        # functions `name` uses stand in for the student's, as in `autograder grade`, so both
        # give the same totals. On a student's machine there is none: "fix ... first" only.
        try:
            reference = load_reference(assignment) if gf.uses else None
        except Exception:  # noqa: BLE001 - no solutions here, whatever the reason
            reference = None
    # The notebook's own globals, not a copy: a stand-in must be what the student's functions
    # find there while they are checked (it is put back afterwards).
    failures = run_tier(spec, gf, tier, namespace, reference).failures
    if failures:
        # hidden cells make nbgrader's feedback: the published book first; a student's public
        # cell in Jupyter: the local build first
        book = course.book(local_first=(tier == PUBLIC))
        message = "\n".join([f.render() for f in failures]
                            + [f"To review: {gf.section.review(book)}."])
        # Raised here, outside the check code, so the traceback shows no check internals.
        raise AssertionError("\n" + message) from None
    print(f"\u2713 {name}: all {tier} checks passed.")


def public_tests(assignment: str, name: str, namespace: dict) -> None:
    """Run the public checks of ``name`` (need no reference solution)."""
    _run(assignment, name, namespace, PUBLIC)


def hidden_tests(assignment: str, name: str, namespace: dict) -> None:
    """Run the hidden checks of ``name`` against the reference solution."""
    _run(assignment, name, namespace, HIDDEN)

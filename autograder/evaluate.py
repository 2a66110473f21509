"""Run the checks of an assignment against a namespace of student objects and score them."""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass

import numpy as np

from .checks import (CheckFailure, Client, Context, Local, NotImplementedYet, ProcessCrashed,
                     TimedOut)
from .harness import AuthorError  # noqa: F401 - re-exported: a broken check, not a student
from .results import NOT_GRADED, Failure, FunctionResult
from .spec import HIDDEN, PUBLIC, Assignment, GradedFunction
from .timing import CHECK_CPU, Expired, limit

# A check's own code (the reference, torch, the comparisons) gets this much wall-clock time;
# running past it is the grader's fault, never the student's (each student call has its own CPU
# budget, :data:`autograder.timing.CHECK_CPU`).
GRADER_WALL = 600.0
CHECK_TIMEOUT = CHECK_CPU  # the CPU seconds of one student call (an older name)


def seed_for(assignment: str, function: str, tier: str, index: int) -> int:
    """A fixed seed per check, so grading is reproducible and independent of check order."""
    return zlib.crc32(f"{assignment}/{function}/{tier}/{index}".encode())


@dataclass
class TierOutcome:
    failures: list  # of Failure; empty means the tier passed
    final: bool = False  # a stub or a timeout: running more checks would only repeat it




def run_tier(assignment: Assignment, gf: GradedFunction, tier: str, student,
             reference: dict | None = None, check_cpu: float = CHECK_CPU) -> TierOutcome:
    """Run every check of one tier and collect the failure messages.

    ``student`` is the student's namespace (a dict: checked in this process) or a
    :class:`~autograder.checks.Client` of a sandboxed student process. Each call of student
    code gets ``check_cpu`` seconds of CPU time (:mod:`autograder.timing`); the check's own work
    is not the student's time. With a ``reference``, the functions ``gf`` uses stand in for
    the student's own while it is checked; a failure that may come from a function it uses or
    needs that fails its own public checks says "fix that first".
    """
    client = Client(Local(student), check_cpu) if isinstance(student, dict) else student
    stand_ins = {name: reference[name] for name in gf.uses
                 if reference is not None and name in reference}
    outcome = _run_checks(assignment, gf, tier, client, reference, stand_ins)
    # After a stub, a timeout or a crash the message already names the function at fault, and
    # running the other function's checks would only repeat it (a loop: 5 s more).
    if outcome.failures and not outcome.final:
        outcome.failures[:0] = _fix_first(assignment, gf, tier, client, stand_ins)
    return outcome


def _fix_first(assignment: Assignment, gf: GradedFunction, tier: str, client,
               stand_ins: dict) -> list:
    """A note for each function ``gf`` depends on, the student's own was used, and it fails its
    own public checks: the failures of ``gf`` may be its consequence."""
    notes, graded = [], {f.name for f in assignment.functions}
    # A backward is checked with the cache of the student's own forward: it needs it.
    forward = gf.name[:-len("_backward")] + "_forward" if gf.name.endswith("_backward") else ""
    needs = (*gf.needs, *([forward] if forward in graded else []))
    for name in dict.fromkeys((*gf.uses, *needs)):
        if name in stand_ins or name not in graded:
            continue
        other = assignment.function(name)
        if _run_checks(assignment, other, PUBLIC, client, None, {}).failures:
            how = "is checked with what your" if name in needs else "calls your"
            notes.append(Failure(tier, "", f"`{gf.name}` {how} `{name}`, which fails its own "
                                           f"public checks: fix `{name}` first (the failures "
                                           f"below may come from it)."))
    return notes


def _run_checks(assignment: Assignment, gf: GradedFunction, tier: str, client,
                reference: dict | None, stand_ins: dict) -> TierOutcome:
    failures = []
    for index, (description, check) in enumerate(gf.checks(tier)):
        ctx = Context(backend=client, reference=reference, hidden=(tier == HIDDEN),
                      rng=np.random.default_rng(seed_for(assignment.name, gf.name, tier, index)),
                      stand_ins=stand_ins)

        def fail(text: str) -> Failure:
            return Failure(tier, description, text)

        try:
            with warnings.catch_warnings():
                # Overflow and divide-by-zero warnings are judged by the values, not printed.
                warnings.simplefilter("ignore")
                with np.errstate(all="ignore"), limit(0, GRADER_WALL) as lim:
                    check(ctx)
        except NotImplementedYet as exc:
            return TierOutcome([Failure(tier, "", str(exc))], final=True)  # one is enough
        except (ProcessCrashed, TimedOut) as exc:
            # Stop here: the other checks would most likely crash or loop too.
            return TierOutcome(failures + [fail(str(exc))], final=True)
        except CheckFailure as exc:
            failures.append(fail(str(exc)))
        except Expired as exc:
            if exc.limit is lim:
                raise AuthorError(f"the check {description!r} of {gf.name} ran for more than "
                                  f"{GRADER_WALL:g} s outside the student's code") from None
            raise
        except RecursionError:
            failures.append(fail(f"`{gf.name}` recursed without end."))
        except AuthorError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken student object must not stop grading
            failures.append(fail(f"checking `{gf.name}` failed with {type(exc).__name__}: "
                                 f"{exc}"))
        finally:
            client.end_check()
    return TierOutcome(failures)


def grade_function(assignment: Assignment, gf: GradedFunction, student,
                   reference: dict | None, tiers=(PUBLIC, HIDDEN),
                   book: str = "") -> FunctionResult:
    """``book``: the address section links start from (``Course.book``)."""
    result = FunctionResult(name=gf.name, score=0,
                            max_score=sum(gf.points(t) for t in tiers))
    for tier in tiers:
        outcome = run_tier(assignment, gf, tier, student, reference)
        result.passed[tier] = not outcome.failures
        if outcome.failures:
            result.failures.extend(outcome.failures)
            if outcome.final:
                break
        else:
            result.score += gf.points(tier)
    if result.failures:
        result.review, result.review_url = gf.section.review(book), gf.section.link(book)
    return result


def not_graded(gf: GradedFunction, tiers, why: str, book: str = "") -> FunctionResult:
    """The result of a function that could not be graded (0 points, the reason)."""
    return FunctionResult(name=gf.name, score=0, max_score=sum(gf.points(t) for t in tiers),
                          failures=[Failure(NOT_GRADED, "", f"not graded: {why}.")],
                          passed={t: False for t in tiers}, review=gf.section.review(book),
                          review_url=gf.section.link(book))

"""Run the checks of an assignment against a namespace of student objects and score them."""

from __future__ import annotations

import signal
import threading
import warnings
import zlib
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .checks import CheckFailure, Context, NotImplementedYet, ProcessCrashed
from .harness import AuthorError  # noqa: F401 - re-exported: a broken check, not a student
from .results import NOT_GRADED, Failure, FunctionResult
from .spec import HIDDEN, PUBLIC, Assignment, GradedFunction

# Seconds one check may take. Reference solutions take milliseconds; this only stops loops.
CHECK_TIMEOUT = 5.0


class CheckTimeout(BaseException):
    """Raised by the alarm. A BaseException, so a student's ``except Exception`` can't swallow it."""


@contextmanager
def time_limit(seconds: float):
    """Interrupt the block after ``seconds`` of wall-clock time (main thread on Unix only)."""
    usable = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread())
    if not usable or seconds <= 0:
        yield
        return

    def _alarm(signum, frame):
        raise CheckTimeout()

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def untimed():
    """Pause the running time limit for the block (the grader's own one-off work, such as
    importing torch the first time a student returns a tensor, is not the student's time)."""
    usable = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread())
    remaining = signal.getitimer(signal.ITIMER_REAL)[0] if usable else 0.0
    if remaining:
        signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        if remaining:
            signal.setitimer(signal.ITIMER_REAL, remaining)


def seed_for(assignment: str, function: str, tier: str, index: int) -> int:
    """A fixed seed per check, so grading is reproducible and independent of check order."""
    return zlib.crc32(f"{assignment}/{function}/{tier}/{index}".encode())


@dataclass
class TierOutcome:
    failures: list  # of Failure; empty means the tier passed
    final: bool = False  # a stub or a timeout: running more checks would only repeat it




def run_tier(assignment: Assignment, gf: GradedFunction, tier: str, student,
             reference: dict | None = None, timeout: float = CHECK_TIMEOUT) -> TierOutcome:
    """Run every check of one tier and collect the failure messages.

    ``student`` is the student's namespace (a dict: checked in this process) or a backend that
    reaches a student process (:class:`autograder.session.RemoteBackend`).
    """
    failures = []
    local = isinstance(student, dict)
    for index, (description, check) in enumerate(gf.checks(tier)):
        ctx = Context(student=student if local else None, backend=None if local else student,
                      reference=reference, hidden=(tier == HIDDEN),
                      rng=np.random.default_rng(seed_for(assignment.name, gf.name, tier, index)))

        def fail(text: str) -> Failure:
            return Failure(tier, description, text)

        try:
            with warnings.catch_warnings():
                # Overflow and divide-by-zero warnings are judged by the values, not printed.
                warnings.simplefilter("ignore")
                with np.errstate(all="ignore"), time_limit(timeout):
                    check(ctx)
        except NotImplementedYet as exc:
            return TierOutcome([Failure(tier, "", str(exc))], final=True)  # one is enough
        except ProcessCrashed as exc:
            return TierOutcome(failures + [fail(str(exc))], final=True)
        except CheckFailure as exc:
            failures.append(fail(str(exc)))
        except CheckTimeout:
            # Stop here: the other checks would most likely loop too, each costing the timeout.
            return TierOutcome(failures + [fail(f"`{gf.name}` did not finish within "
                                                f"{timeout:g} s (an infinite loop, or a very "
                                                f"slow implementation).")], final=True)
        except RecursionError:
            failures.append(fail(f"`{gf.name}` recursed without end."))
        except AuthorError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken student object must not stop grading
            failures.append(fail(f"checking `{gf.name}` failed with {type(exc).__name__}: "
                                 f"{exc}"))
    return TierOutcome(failures)


def grade_function(assignment: Assignment, gf: GradedFunction, student,
                   reference: dict | None, tiers=(PUBLIC, HIDDEN)) -> FunctionResult:
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
        result.review = str(gf.section)
    return result


def not_graded(gf: GradedFunction, tiers, why: str) -> FunctionResult:
    """The result of a function that could not be graded (0 points, the reason)."""
    return FunctionResult(name=gf.name, score=0, max_score=sum(gf.points(t) for t in tiers),
                          failures=[Failure(NOT_GRADED, "", f"not graded: {why}.")],
                          passed={t: False for t in tiers}, review=str(gf.section))

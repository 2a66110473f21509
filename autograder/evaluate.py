"""Run the checks of an assignment against a namespace of student objects and score them."""

from __future__ import annotations

import signal
import threading
import warnings
import zlib
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np

from .checks import CheckFailure, Context, NotImplementedYet, ProcessCrashed
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


@dataclass
class FunctionResult:
    name: str
    score: int
    max_score: int
    messages: list = field(default_factory=list)
    passed: dict = field(default_factory=dict)  # tier -> bool

    def to_json(self) -> dict:
        return asdict(self)


def seed_for(assignment: str, function: str, tier: str, index: int) -> int:
    """A fixed seed per check, so grading is reproducible and independent of check order."""
    return zlib.crc32(f"{assignment}/{function}/{tier}/{index}".encode())


@dataclass
class TierOutcome:
    failures: list  # messages; empty means the tier passed
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
        try:
            with warnings.catch_warnings():
                # Overflow and divide-by-zero warnings are judged by the values, not printed.
                warnings.simplefilter("ignore")
                with np.errstate(all="ignore"), time_limit(timeout):
                    check(ctx)
        except NotImplementedYet as exc:
            return TierOutcome([str(exc)], final=True)  # one message is enough for a stub
        except ProcessCrashed as exc:
            return TierOutcome(failures + [f"[{tier}: {description}] {exc}"], final=True)
        except CheckFailure as exc:
            failures.append(f"[{tier}: {description}] {exc}")
        except CheckTimeout:
            # Stop here: the other checks would most likely loop too, each costing the timeout.
            return TierOutcome(failures + [f"[{tier}: {description}] `{gf.name}` did not finish "
                                           f"within {timeout:g} s (an infinite loop, or a very "
                                           f"slow implementation)."], final=True)
        except RecursionError:
            failures.append(f"[{tier}: {description}] `{gf.name}` recursed without end.")
        except Exception as exc:  # noqa: BLE001 - a broken student object must not stop grading
            failures.append(f"[{tier}: {description}] checking `{gf.name}` failed with "
                            f"{type(exc).__name__}: {exc}")
    return TierOutcome(failures)


def grade_function(assignment: Assignment, gf: GradedFunction, student,
                   reference: dict | None, tiers=(PUBLIC, HIDDEN)) -> FunctionResult:
    result = FunctionResult(name=gf.name, score=0,
                            max_score=sum(gf.points(t) for t in tiers))
    for tier in tiers:
        outcome = run_tier(assignment, gf, tier, student, reference)
        result.passed[tier] = not outcome.failures
        if outcome.failures:
            result.messages.extend(outcome.failures)
            if outcome.final:
                break
        else:
            result.score += gf.points(tier)
    if result.messages:
        result.messages.append(f"To review: {gf.section}.")
    return result

"""Time limits that measure the student's own work, not how busy the machine is.

A limit is a CPU-time budget (the process's user + system time, all threads: what
``ITIMER_PROF`` counts) with a wall-clock backstop for code that sleeps or blocks, which uses no
CPU. On a machine whose cores are shared with other work, CPU time hardly changes while
wall-clock time grows with the load, so a grade never depends on what else is running.

Limits nest: the innermost arms the timers with whichever deadline comes first, and when a timer
fires, the *outermost* expired limit is the one reported (:class:`Expired` carries it), so a
check's own backstop is never mistaken for the student's call running out of time. After
firing, the timer keeps firing every 50 ms until the block is left, and a block that swallowed
the interruption (a student's bare ``except:``) still ends with :class:`Expired`. Code that
swallows it forever cannot be stopped from inside its own process: the sandboxed grader then
kills the process after the backstop.

Only the main thread of a Unix process can be interrupted this way; elsewhere (Windows, a
thread) :func:`limit` measures nothing and the caller's own backstop applies.

Everything here is standard library only: the student's process imports it before any student
code runs.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

# The defaults of every time limit, in one place (CPU seconds).
CHECK_CPU = 5.0  # one call of a student function by a check
CELL_CPU = 30.0  # one cell of the notebook
NOTEBOOK_CPU = 300.0  # the whole notebook: its cells and every call the checks make
STUDENT_CHECK = 120.0  # `autograder check` on a student's machine: the whole notebook

REFIRE = 0.05  # seconds between repeated interruptions once a limit has expired


def wall_backstop(cpu_seconds: float) -> float:
    """The wall-clock time allowed for ``cpu_seconds`` of CPU: generous, so that only code that
    sleeps or blocks reaches it, even on a machine whose cores are shared several times over."""
    return 5.0 * cpu_seconds + 10.0


class Expired(BaseException):
    """A limit ran out. A BaseException, so ``except Exception`` in student code cannot catch
    it; ``limit`` is the :class:`Limit` that expired and ``kind`` is "cpu" or "wall"."""

    def __init__(self, limit: "Limit", kind: str) -> None:
        super().__init__(kind)
        self.limit, self.kind = limit, kind


@dataclass(eq=False)
class Limit:
    cpu: float  # seconds of process CPU time
    wall: float  # seconds of wall-clock time
    cpu_deadline: float = math.inf  # time.process_time() value
    wall_deadline: float = math.inf  # time.monotonic() value
    expired: str = ""  # "cpu" or "wall" once it has fired

    def describe(self) -> str:
        if self.expired == "wall":
            return (f"was still running after {self.wall:g} s without using its {self.cpu:g} s "
                    f"of CPU time: it was waiting, sleeping or blocked")
        return f"did not finish within {self.cpu:g} s of CPU time"


_STACK: list = []  # active limits, outermost first


def usable() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _arm() -> None:
    """Set both timers to the nearest deadline of any active limit (or switch them off)."""
    if not _STACK:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        return
    now_cpu, now_wall = time.process_time(), time.monotonic()
    cpu_left = min(lim.cpu_deadline for lim in _STACK) - now_cpu
    wall_left = min(lim.wall_deadline for lim in _STACK) - now_wall
    fired = any(lim.expired for lim in _STACK)
    for which, left in ((signal.ITIMER_PROF, cpu_left), (signal.ITIMER_REAL, wall_left)):
        if fired:
            signal.setitimer(which, REFIRE, REFIRE)
        elif math.isinf(left):
            signal.setitimer(which, 0)
        else:
            signal.setitimer(which, max(left, 1e-4))


def _on_signal(signum, frame) -> None:
    if not _STACK:
        return
    now_cpu, now_wall = time.process_time(), time.monotonic()
    for lim in _STACK:  # outermost first: its expiry is the one that matters
        if lim.expired or now_wall >= lim.wall_deadline - 1e-3:
            lim.expired = lim.expired or "wall"
            break
        if now_cpu >= lim.cpu_deadline - 1e-3:
            lim.expired = "cpu"
            break
    else:
        _arm()  # fired early (timer granularity): wait for the real deadline
        return
    _arm()  # keep firing until the block is left
    raise Expired(lim, lim.expired)


@contextmanager
def limit(cpu: float, wall: float | None = None):
    """Interrupt the block with :class:`Expired` after ``cpu`` seconds of process CPU time or
    ``wall`` seconds of wall-clock time (default :func:`wall_backstop`). Yields the
    :class:`Limit`; ``exc.limit is that`` tells whether this block's own limit expired."""
    wall = wall_backstop(cpu) if wall is None else wall
    lim = Limit(cpu, wall)
    if not usable() or (cpu <= 0 and wall <= 0):
        yield lim
        return
    lim.cpu_deadline = time.process_time() + cpu if cpu > 0 else math.inf
    lim.wall_deadline = time.monotonic() + wall if wall > 0 else math.inf
    outer = not _STACK
    if outer:
        previous = (signal.signal(signal.SIGPROF, _on_signal),
                    signal.signal(signal.SIGALRM, _on_signal))
    _STACK.append(lim)
    try:
        _arm()
        yield lim
        if lim.expired:  # the block swallowed the interruption and finished anyway
            raise Expired(lim, lim.expired)
    finally:
        _STACK.remove(lim)
        if outer:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGPROF, previous[0])
            signal.signal(signal.SIGALRM, previous[1])
        else:
            _arm()


@contextmanager
def paused():
    """Stop the clocks of every active limit for the block: the grader's own one-off work
    (e.g. importing torch the first time a student returns a tensor) is not the student's
    time."""
    if not _STACK or not usable():
        yield
        return
    cpu0, wall0 = time.process_time(), time.monotonic()
    saved = list(_STACK)
    _STACK.clear()
    signal.setitimer(signal.ITIMER_PROF, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        spent_cpu, spent_wall = time.process_time() - cpu0, time.monotonic() - wall0
        for lim in saved:
            lim.cpu_deadline += spent_cpu
            lim.wall_deadline += spent_wall
        _STACK.extend(saved)
        _arm()


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (what a notebook's budget counts)."""
    import os

    t = os.times()
    return t.user + t.system + t.children_user + t.children_system

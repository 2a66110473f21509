"""The grader's side of the sandbox: the zygote it starts, and one session per submission.

:class:`ForkServer` starts the run's fork server in the sandbox chosen by
:mod:`autograder.sandbox.isolation`; each grading worker's :class:`Zygote` talks to its own copy
of it and asks it for student processes. :class:`Session` runs a
notebook's cells in one of them and is the transport of a :class:`~autograder.checks.Client`
(``ready`` / ``exchange``): the checks' requests go through it. When the process dies — a segfault, ``os._exit``, a cell that will not
stop, a malformed message — the session notes which cell did it, starts a fresh process and runs
the cells again without that one, so the student keeps the credit for every function that really
works. Everything that arrives from the student's process is untrusted plain data: anything
unexpected is that student's error, never the grader's crash.
"""

from __future__ import annotations

import socket
import time

from ..calls import StudentError
from ..notebook import note_text
from ..timing import NOTEBOOK_CPU, wall_backstop
from . import codec
from .confine import Limits
# The run's fork server and a worker's copy of it live in a module of their own, which needs
# no numpy: `autograder check` starts the sandbox before it imports anything heavy.
from .forkserver import ForkServer, GraderFault, Zygote  # noqa: F401 - re-exported

MAX_STARTS = 6
GRACE = 2.0  # seconds the grader waits beyond a limit the student process enforces itself
MAX_NOTES = 20
STUDENT_REPLY_BYTES = 64 * 2**20  # the most one reply of a student process may carry


class SessionFailed(Exception):
    """The student's process cannot be (re)started; the message is for the student."""


class Session:
    """One submission's student process, (re)started as needed: the transport of a
    :class:`~autograder.checks.Client` (``ready`` / ``exchange`` / ``generation``).

    Time: the student's process enforces the CPU-time limits of each cell and each call itself
    (with their wall-clock backstops); the session waits a little longer than the backstop
    before it kills the process. The notebook's budget, ``cpu_budget`` seconds of CPU time over
    all its processes, is counted from what the process reports; ``deadline`` (a
    ``time.monotonic()`` value) is the wall-clock backstop for the whole notebook."""

    def __init__(self, zygote: Zygote, cells: list, *, filename: str, limits: Limits,
                 cell_timeout: float, deadline: float | None = None,
                 cpu_budget: float = NOTEBOOK_CPU) -> None:
        self.zygote, self.cells, self.filename = zygote, cells, filename
        self.limits, self.cell_timeout = limits, cell_timeout
        self.deadline = deadline
        self.cpu_budget = cpu_budget
        self.cpu_done = 0.0  # CPU seconds of the processes that have ended
        self.cpu_now = 0.0  # as the current process last reported
        self.budget_spent = False  # a process said the notebook's CPU budget ran out
        self.skip: dict = {}  # cell index -> why it is no longer run
        self.entries: list = []  # what went wrong running cells, from the latest start
        self.isolation_notes: list = []
        self.starts = 0
        self.cell_seconds = 0.0  # executing the cells' code, as the student's process timed it
        self.pid: int | None = None
        self.sock: socket.socket | None = None

    @property
    def notes(self) -> list:
        notes = [note_text(e) for e in self.entries[:MAX_NOTES]]
        if len(self.entries) > MAX_NOTES:
            notes.append(f"... and {len(self.entries) - MAX_NOTES} more cells with problems.")
        return notes

    def missing_modules(self) -> list:
        """Modules a cell failed to import: the grader checks whether they exist outside."""
        return sorted({e["module"] for e in self.entries if e.get("module")})

    def _left(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    # -- process lifetime -------------------------------------------------------------------

    def ensure(self) -> None:
        """A live process with every runnable cell executed, or :class:`SessionFailed`."""
        while self.sock is None:
            if self.starts >= MAX_STARTS:
                raise SessionFailed(f"grading stopped: your notebook ended the Python process "
                                    f"{self.starts} times")
            if self._left() <= 0:
                raise SessionFailed("the time limit for the whole notebook was reached")
            self.starts += 1
            self._start()
            current = None
            started = time.monotonic()
            try:
                codec.send(self.sock, {"op": "cells", "skip": {str(k): v for k, v in
                                                               self.skip.items()},
                                       "timeout": self.cell_timeout, "filename": self.filename,
                                       # this process's share of the notebook's CPU time
                                       "budget": max(0.0, self.cpu_budget - self.cpu_done),
                                       "cells": [c.__dict__ for c in self.cells]})
                while True:
                    wait = min(wall_backstop(self.cell_timeout) + GRACE,
                               max(self._left(), 0.0) + GRACE)
                    header, _ = self._recv(wait)
                    if header.get("event") == "cell":
                        index = header.get("index")
                        if type(index) is not int:
                            raise codec.CodecError("malformed message")
                        current = index
                    elif header.get("event") == "ready":
                        self._account(header.get("cpu"))
                        # (a lie can only time the student's own notebook out)
                        self.budget_spent |= header.get("budget_spent") is True
                        self.entries = _entries(header.get("entries"))
                        # A cell that ran out of time is not run again when a later timeout or
                        # crash restarts the notebook: it would cost its time once more each
                        # time, and every later check would pay for it.
                        for e in self.entries:
                            if e["timed_out"]:
                                self.skip.setdefault(e["cell"], e["text"])
                        self.cell_seconds += _seconds(header.get("seconds"),
                                                      time.monotonic() - started)
                        break
                    else:
                        raise codec.CodecError("unexpected message")
            except (codec.ConnectionLost, codec.CodecError, OSError) as exc:
                how = self.stop()
                if isinstance(exc, codec.CodecError):
                    how = f"it sent the grader a malformed message ({exc})"
                if current is None:
                    raise SessionFailed(f"the grader could not run the notebook ({how})") \
                        from None
                self.skip[current] = (f"ended the Python process ({_describe_end(how)}); the "
                                      f"cell was skipped and the notebook run again without it.")
            except _Timeout:
                self.stop()
                if self._left() <= 0:
                    raise SessionFailed("the time limit for the whole notebook was reached "
                                        "while its cells ran") from None
                if current is None:
                    raise SessionFailed("the grader could not start the notebook") from None
                self.skip[current] = (f"did not finish within {self.cell_timeout:g} s of CPU "
                                      f"time and could not be interrupted; it was skipped.")

    def _start(self) -> None:
        self.pid, self.sock = self.zygote.spawn(self.limits)
        try:
            header, _ = self._recv(60.0)
        except (_Timeout, codec.ConnectionLost, codec.CodecError, OSError):
            header = {}
        if header.get("event") != "hello":
            how = self.stop()
            raise GraderFault(f"the sandbox could not start a student process ({how}): "
                              f"{str(header.get('error', ''))[-500:]}")
        self.isolation_notes = [str(n)[:300] for n in header.get("notes", [])][:10]

    def stop(self, wait: bool = True) -> str:
        """Kill the student's process (and anything it started); say how it ended."""
        how = ""
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
        if self.pid is not None:
            how = self.zygote.stop(self.pid, wait)
            self.pid = None
        self.cpu_done += self.cpu_now
        self.cpu_now = 0.0
        return how

    def _account(self, cpu) -> None:
        """The CPU time the process reports (a statistic from an untrusted process: a lie only
        brings it nearer the wall-clock backstop)."""
        if type(cpu) in (int, float) and 0 <= cpu < float("inf"):
            self.cpu_now = max(self.cpu_now, float(cpu))

    def over_budget(self) -> bool:
        """Whether the notebook has used up its CPU time, or its wall-clock backstop."""
        return (self.budget_spent or self.cpu_done + self.cpu_now >= self.cpu_budget
                or self._left() <= 0)

    def close(self) -> None:
        """Done with this submission: its process is killed, nobody waits to hear how."""
        self.stop(wait=False)

    # -- requests ---------------------------------------------------------------------------

    def _recv(self, timeout: float) -> tuple:
        assert self.sock is not None
        deadline = time.monotonic() + timeout
        self.sock.settimeout(max(0.001, timeout))
        try:
            header, buffers = codec.recv(self.sock, limit=STUDENT_REPLY_BYTES)
        except socket.timeout:
            raise _Timeout() from None
        if time.monotonic() > deadline + GRACE:
            raise _Timeout()
        return header, buffers

    # -- the transport of a Client ------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Changes whenever a new student process starts (its handles are new)."""
        return self.starts

    def ready(self) -> int:
        try:
            self.ensure()
        except SessionFailed as exc:
            raise StudentError("failure", str(exc)) from None
        return self.starts

    def exchange(self, header: dict, buffers: list, on_callback=None) -> tuple:
        """Send one request, return ``(reply, buffers)``; a crash, a malformed reply or no
        answer within the backstop is the student's :class:`StudentError`. While it waits, the
        student's code may call the request's probes: ``on_callback(message, buffers)``
        answers each call."""
        wait = float(header.get("wall", 0)) + GRACE
        until = time.monotonic() + min(wait, max(self._left(), 0.0) + GRACE)
        try:
            codec.send(self.sock, header, buffers)
            while True:
                reply, bufs = self._recv(max(0.0, until - time.monotonic()))
                if reply.get("event") != "callback":
                    break
                answer = on_callback(reply, bufs) if on_callback is not None else \
                    ({"error": "no test function was given"}, [])
                codec.send(self.sock, *answer)
        except _Timeout:
            self.stop()
            raise StudentError("timeout", f"was still running after {wait:g} s") from None
        except (codec.ConnectionLost, OSError):
            how = self.stop()
            raise StudentError("crashed", _describe_end(how)) from None
        except codec.CodecError as exc:
            self.stop()
            raise StudentError("unsendable", str(exc)) from None
        except BaseException:
            self.stop()  # e.g. the run was interrupted: the reply would arrive out of turn
            raise
        self._account(reply.get("cpu"))
        if reply.get("error") == "timeout":
            # Whatever the interrupted call left behind (a half-imported module, a lock held, a
            # thread still spinning) must not cost the next check: it gets a fresh process.
            self.stop()
        return reply, bufs


def _entries(raw) -> list:
    """Plain, bounded records of the cells that failed (from an untrusted process)."""
    out = []
    if not isinstance(raw, list):
        return out
    for e in raw[:200]:
        if not isinstance(e, dict) or type(e.get("cell")) is not int:
            continue
        gid, module = e.get("grade_id"), e.get("module")
        out.append({"cell": e["cell"], "grade_id": gid[:60] if isinstance(gid, str) else None,
                    "text": str(e.get("text", ""))[:300],
                    "module": module[:100] if isinstance(module, str) else None,
                    "timed_out": e.get("timed_out") is True})
    return out


class _Timeout(Exception):
    pass


def _seconds(claimed, elapsed: float) -> float:
    """A time the student's process reported (only a statistic), kept within what the grader
    saw elapse."""
    if type(claimed) not in (int, float) or not 0 <= claimed < float("inf"):
        return 0.0
    return min(float(claimed), elapsed)


def _describe_end(how: str) -> str:
    if how.startswith("SIG"):
        extra = {"SIGSEGV": "a segmentation fault", "SIGKILL": "killed: a resource limit",
                 "SIGXCPU": "out of CPU time", "SIGABRT": "aborted"}.get(how, "")
        return f"{how}{', ' + extra if extra else ''}"
    if how.startswith("exit"):
        return f"it exited: {how}, e.g. os._exit()"
    return how or "it stopped"

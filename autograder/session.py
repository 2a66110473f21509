"""The grader's side of one submission: a confined student process that survives the student.

:class:`Session` starts the student's process (from the zygote), runs the notebook's cells in it
and forwards ``ctx.call`` / ``ctx.run`` requests (:class:`RemoteBackend`). When the process dies
— a segfault, ``os._exit``, a cell that will not stop — the session notes which cell did it,
starts a fresh process and runs the cells again without that one, so the student keeps the credit
for every function that really works. Each restart costs one re-run of the cells; after
``MAX_STARTS`` the remaining checks fail with a message instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time

from . import codec
from .checks import StudentError
from .confine import Limits, kill_all
from .evaluate import CheckTimeout
from .sandbox import reap, spawn

MAX_STARTS = 6
GRACE = 2.0  # seconds the grader waits beyond a limit the student process enforces itself


class SessionFailed(Exception):
    """The student's process cannot be (re)started; the message is for the student."""


class Session:
    def __init__(self, zygote: socket.socket, cells: list, *, filename: str, hide: list,
                 keep: list, uid: int | None, limits: Limits, cell_timeout: float) -> None:
        self.zygote, self.cells, self.filename = zygote, cells, filename
        self.hide, self.keep, self.uid, self.limits = hide, keep, uid, limits
        self.cell_timeout = cell_timeout
        self.skip: dict = {}  # cell index -> why it is no longer run
        self.notes: list = []  # about running the notebook, from the latest start
        self.isolation_notes: list = []
        self.starts = 0
        self.pid: int | None = None
        self.sock: socket.socket | None = None
        self.workdir: str | None = None
        self.last_end = ""

    # -- process lifetime -------------------------------------------------------------------

    def ensure(self) -> None:
        """A live process with every runnable cell executed, or :class:`SessionFailed`."""
        while self.sock is None:
            if self.starts >= MAX_STARTS:
                raise SessionFailed(f"grading stopped: your notebook ended the Python process "
                                    f"{self.starts} times")
            self.starts += 1
            self._start()
            current = None
            try:
                codec.send(self.sock, {"op": "cells", "skip": {str(k): v for k, v in
                                                               self.skip.items()},
                                       "timeout": self.cell_timeout, "filename": self.filename,
                                       "cells": [c.__dict__ for c in self.cells]})
                while True:
                    header, _ = self._recv(self.cell_timeout + GRACE)
                    if header.get("event") == "cell":
                        current = int(header["index"])
                    elif header.get("event") == "ready":
                        self.notes = list(header.get("notes", []))
                        break
                    else:
                        raise codec.CodecError("unexpected message")
            except (codec.ConnectionLost, codec.CodecError, OSError) as exc:
                how = self.stop()
                if current is None:
                    raise SessionFailed(f"the grader could not run the notebook ({how})") \
                        from exc
                self.skip[current] = (f"ended the Python process ({_describe_end(how)}); the "
                                      f"cell was skipped and the notebook run again without it.")
            except _Timeout:
                self.stop()
                if current is None:
                    raise SessionFailed("the grader could not start the notebook") from None
                self.skip[current] = (f"did not finish within {self.cell_timeout:g} s and could "
                                      f"not be interrupted; it was skipped.")

    def _start(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="autograder-sandbox-")
        os.chmod(self.workdir, 0o700)
        self.pid, self.sock = spawn(self.zygote, hide=self.hide, keep=self.keep,
                                    workdir=self.workdir, uid=self.uid, limits=self.limits)
        header, _ = self._recv(30.0)
        if header.get("event") != "hello":
            how = self.stop()
            raise SessionFailed(f"the grader could not confine the notebook's process ({how})")
        self.isolation_notes = list(header.get("notes", []))

    def stop(self) -> str:
        """Kill the student's process (and anything it started); say how it ended."""
        how = ""
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
        if self.pid is not None:
            kill_all(self.pid, self.uid)
            how = reap(self.zygote, self.pid)
            self.pid = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        self.last_end = how
        return how

    def close(self) -> None:
        if self.sock is not None:
            try:
                codec.send(self.sock, {"op": "bye"})
            except OSError:
                pass
        self.stop()

    # -- requests ---------------------------------------------------------------------------

    def _recv(self, timeout: float) -> tuple:
        assert self.sock is not None
        deadline = time.monotonic() + timeout
        self.sock.settimeout(max(0.001, timeout))
        try:
            header, buffers = codec.recv(self.sock)
        except socket.timeout:
            raise _Timeout() from None
        if time.monotonic() > deadline + GRACE:
            raise _Timeout()
        return header, buffers

    def request(self, header: dict, payload: tuple, timeout: float):
        """Send a call/run request; return the decoded result or raise StudentError."""
        try:
            self.ensure()
        except SessionFailed as exc:
            raise StudentError("failure", str(exc)) from None
        tree, buffers = codec.encode(payload)
        header = dict(header, payload=tree, timeout=timeout)
        try:
            codec.send(self.sock, header, buffers)
            reply, bufs = self._recv(timeout + GRACE)
        except _Timeout:
            self.stop()
            raise CheckTimeout() from None
        except (codec.ConnectionLost, OSError):
            how = self.stop()
            raise StudentError("crashed", _describe_end(how)) from None
        except codec.CodecError as exc:
            self.stop()
            raise StudentError("unsendable", str(exc)) from None
        except BaseException:
            self.stop()  # e.g. the check's own time limit: the reply would arrive out of turn
            raise
        if "error" in reply:
            if reply["error"] == "timeout":
                raise CheckTimeout()
            raise StudentError(str(reply["error"]), str(reply.get("detail", ""))[:2000])
        try:
            return codec.decode(reply["ok"], bufs)
        except (codec.CodecError, KeyError, ValueError, TypeError) as exc:
            raise StudentError("unsendable", str(exc)) from None


class _Timeout(Exception):
    pass


def _describe_end(how: str) -> str:
    if how.startswith("SIG"):
        extra = {"SIGSEGV": "a segmentation fault", "SIGKILL": "killed: a resource limit",
                 "SIGXCPU": "out of CPU time", "SIGABRT": "aborted"}.get(how, "")
        return f"{how}{', ' + extra if extra else ''}"
    if how.startswith("exit"):
        return f"it exited: {how}, e.g. os._exit()"
    return how or "it stopped"


class RemoteBackend:
    """What :class:`autograder.checks.Context` uses to reach a sandboxed student."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def call(self, name: str, args: tuple, kwargs: dict):
        return self.session.request({"op": "call", "name": name}, (tuple(args), dict(kwargs)),
                                    self.timeout)

    def run(self, program: str, args: tuple):
        return self.session.request({"op": "run", "program": program}, (tuple(args), {}),
                                    self.timeout)

    timeout = 5.0


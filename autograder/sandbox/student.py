"""The student's process: runs the notebook's cells, then answers the grader's requests.

It is forked from the zygote, confines itself (:func:`autograder.sandbox.confine.confine_student`)
and then serves requests over its socket with :mod:`autograder.sandbox.codec`:

* ``cells``: run the notebook's code cells in a fresh ``__main__`` module (so that pickling a
  notebook-defined function, e.g. for ``multiprocessing``, works as in Jupyter); an event precedes
  each cell, so the grader knows which one was running if the process dies;
* every other request (call a function, a method, an operator, read an attribute) is answered
  by :class:`autograder.calls.Server`, exactly as in-process grading answers it; a call's reply
  carries the result *and* the arguments as they were after the call — the grader decides
  whether they were modified.

Whatever the student's code patches in this process can only change the plain data it sends:
every verdict is made in the grader.
"""

from __future__ import annotations

import io
import os
import sys
import traceback
import types

from ..calls import Server
from ..notebook import CodeCell, NoIPython, run_cells
from ..timing import cpu_seconds
from . import codec
from .confine import Limits, confine_student


class _Output(io.TextIOBase):
    """stdout/stderr of the student's code: counted and discarded (nobody reads them)."""

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        return len(text) if isinstance(text, str) else 0


def main(sock, limits: Limits, *, isolated: bool, workdir: str | None, uid: int | None,
         broken: str = "", rebind: list = ()) -> None:
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # C-level output goes nowhere
            os.dup2(devnull, fd)
        os.closerange(3, sock.fileno())
        os.closerange(sock.fileno() + 1, 65536)
        if broken:
            raise RuntimeError(broken)
        notes = confine_student(limits, isolated=isolated, workdir=workdir, uid=uid,
                                rebind=rebind)
        for key in list(os.environ):
            if key.startswith(("AUTOGRADER", "NBGRADER", "JUPYTER")):
                del os.environ[key]
        os.environ.update(HOME=os.getcwd(), TMPDIR=os.getcwd(), MPLBACKEND="Agg")
        import tempfile

        tempfile.tempdir = None  # recomputed from TMPDIR
        sys.stdout = sys.stderr = _Output()
        sys.stdin = io.StringIO()
        sys.argv = ["notebook"]
        # A process the student forks must never talk to the grader in our place: its copy of
        # the connection is replaced by /dev/null (writes vanish, reads see the end).
        sock_fd = sock.fileno()
        devnull_keep = os.open(os.devnull, os.O_RDWR)
        os.register_at_fork(after_in_child=lambda: os.dup2(devnull_keep, sock_fd))
        codec.send(sock, {"event": "hello", "notes": notes})
        _serve(sock)
    except BaseException:  # noqa: BLE001 - report, then leave without running anything else
        try:
            codec.send(sock, {"event": "broken", "error": traceback.format_exc(limit=3)[-2000:]})
        except Exception:  # noqa: BLE001
            pass
    os._exit(0)


def _main_module() -> dict:
    """A fresh ``__main__`` whose dict is the notebook's namespace, as in a Jupyter kernel."""
    module = types.ModuleType("__main__")
    module.__dict__["get_ipython"] = lambda: NoIPython()
    sys.modules["__main__"] = module
    return module.__dict__


def _serve(sock) -> None:
    # Everything used from here on is bound now, before student code can patch modules.
    send, recv = codec.send, codec.recv
    cpu_now = cpu_seconds
    def ask(message: dict, bufs: list) -> tuple:  # a probe's value, from the grader
        send(sock, message, bufs)
        return recv(sock)

    server = Server(_main_module(), channel=ask, report_cpu=True)
    while True:
        header, buffers = recv(sock)
        op = header.get("op")
        if op == "bye":
            return
        if op == "cells":
            cells = [CodeCell(**c) for c in header["cells"]]
            skip = {int(k): v for k, v in header.get("skip", {}).items()}
            budget = header.get("budget")
            _, log = run_cells(cells, server.namespace, timeout=float(header["timeout"]),
                               budget=float(budget) if budget is not None else None,
                               filename=header.get("filename", "notebook"), skip=skip,
                               before_cell=lambda c: send(sock, {"event": "cell",
                                                                 "index": c.index}))
            send(sock, {"event": "ready", "entries": log.entries, "seconds": log.seconds,
                        "cpu": cpu_now(), "budget_spent": log.budget_spent})
            continue
        reply, bufs = server.handle(header, buffers)
        send(sock, reply, bufs)

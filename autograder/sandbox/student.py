"""The student's process: runs the notebook's cells, then answers the grader's requests.

It is forked from the zygote, confines itself (:func:`autograder.sandbox.confine.confine_student`)
and then serves requests over its socket with :mod:`autograder.sandbox.codec`:

* ``cells``: run the notebook's code cells in a fresh ``__main__`` module (so that pickling a
  notebook-defined function, e.g. for ``multiprocessing``, works as in Jupyter); an event precedes
  each cell, so the grader knows which one was running if the process dies;
* ``call``: call a student function on plain-data arguments; the reply carries the result *and*
  the arguments as they were after the call — the grader decides whether they were modified;
* ``run``: run a harness program (see :mod:`autograder.harness`) next to the student's objects.

Whatever the student's code patches in this process can only change the plain data it sends:
every verdict is made in the grader.
"""

from __future__ import annotations

import copy
import io
import os
import sys
import traceback
import types

import numpy as np

from ..checks import LocalBackend, StudentError
from ..evaluate import CheckTimeout, time_limit
from ..notebook import CodeCell, NoIPython, run_cells
from . import codec
from .confine import Limits, confine_student

OUTPUT_LIMIT = 1 << 20  # characters of student output kept in memory (then dropped)


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
    send, recv, encode, decode = codec.send, codec.recv, codec.encode, codec.decode
    deepcopy, errstate = copy.deepcopy, np.errstate
    namespace = _main_module()
    backend = LocalBackend(namespace)
    kept: list = []

    def keep(obj) -> int:
        kept.append(obj)
        return len(kept) - 1

    def resolve(i: int):
        if not 0 <= i < len(kept):
            raise codec.CodecError("unknown handle")
        return kept[i]

    def reply_error(kind: str, detail: str = "") -> None:
        send(sock, {"error": kind, "detail": detail[:2000]})

    while True:
        header, buffers = recv(sock)
        op = header.get("op")
        if op == "bye":
            return
        if op == "cells":
            cells = [CodeCell(**c) for c in header["cells"]]
            skip = {int(k): v for k, v in header.get("skip", {}).items()}
            _, log = run_cells(cells, namespace, timeout=float(header["timeout"]),
                               filename=header.get("filename", "notebook"), skip=skip,
                               before_cell=lambda c: send(sock, {"event": "cell",
                                                                 "index": c.index}))
            send(sock, {"event": "ready", "entries": log.entries, "seconds": log.seconds})
            continue
        try:
            args, kwargs = decode(header["payload"], buffers, resolve=resolve)
        except Exception as exc:  # noqa: BLE001
            reply_error("exception", f"the grader could not send the arguments: {exc}")
            continue
        after = None
        try:
            with errstate(all="ignore"), time_limit(float(header["timeout"])):
                if op == "call":
                    call_args, call_kwargs = deepcopy((tuple(args), kwargs))
                    out = backend.invoke(header["name"], call_args, call_kwargs)
                    after = (call_args, call_kwargs)
                else:
                    out = backend.run(header["program"], tuple(args))
        except StudentError as err:
            reply_error(err.kind, err.detail)
            continue
        except CheckTimeout:
            reply_error("timeout")
            continue
        except BaseException as exc:  # noqa: BLE001 - e.g. a deepcopy the student broke
            reply_error("exception", f"{type(exc).__name__}: {str(exc)[:200]}")
            continue
        try:
            tree, bufs = encode({"out": out, "after": after}, keep)
            send(sock, {"ok": tree}, bufs)
        except codec.CodecError as exc:
            reply_error("unsendable", str(exc))
        except RecursionError:
            reply_error("unsendable", "nested too deeply")
        except Exception as exc:  # noqa: BLE001 - whatever an odd object does when encoded
            reply_error("unsendable", f"{type(exc).__name__}: {str(exc)[:200]}")

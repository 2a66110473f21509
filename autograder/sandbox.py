"""The student's side of grading: a fork server and the process that runs a notebook.

A *zygote* is forked from each grading worker before that worker loads any reference solution.
It has numpy, torch and the grader's harness imported, so forking it gives a ready interpreter
in about a millisecond. For each submission it forks a child that confines itself
(:mod:`autograder.confine`), then runs the notebook's cells and answers requests — "call this
function with these plain-data arguments", "run this harness program" — over a socket, using
:mod:`autograder.codec`. The reference solution and the hidden comparisons never exist in this
process; whatever the student's code patches here, it can only change the outputs it sends.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import sys
import traceback

import numpy as np

from . import codec
from .checks import LocalBackend, StudentError
from .confine import Limits, confine
from .evaluate import CheckTimeout, time_limit
from .harness import build_probe, load_all
from .notebook import CodeCell, run_cells

OUTPUT_LIMIT = 1 << 20  # characters of student output kept (then discarded, never blocking)


class _Sink(io.TextIOBase):
    """Stands in for stdout/stderr: keeps the first ``OUTPUT_LIMIT`` characters, drops the rest."""

    def __init__(self) -> None:
        self.kept = 0

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        n = len(text) if isinstance(text, str) else 0
        self.kept = min(OUTPUT_LIMIT, self.kept + n)
        return n


# ---------------------------------------------------------------------------------------------
# the zygote


def start_zygote() -> tuple:
    """Fork the fork server; returns ``(pid, socket)`` for :func:`spawn` and :func:`reap`."""
    parent_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # the zygote
        parent_end.close()
        try:
            _zygote_loop(zygote_end)
        finally:
            os._exit(0)
    zygote_end.close()
    return pid, parent_end


def _zygote_loop(sock: socket.socket) -> None:
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # die with the grading worker
    buf = b""
    while True:
        while b"\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        request = json.loads(line)
        if request["op"] == "spawn":
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            pid = os.fork()
            if pid == 0:
                sock.close()
                mine.close()
                _child(theirs, request)  # never returns
            theirs.close()
            socket.send_fds(sock, [json.dumps({"pid": pid}).encode() + b"\n"], [mine.fileno()])
            mine.close()
        elif request["op"] == "reap":
            status = _reap(int(request["pid"]))
            sock.sendall(json.dumps({"status": status}).encode() + b"\n")


def _reap(pid: int) -> str:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return "unknown"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return name
    return f"exit {os.WEXITSTATUS(status)}"


def _recv_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise codec.ConnectionLost()
        data += chunk
    return data


def spawn(zygote: socket.socket, *, hide: list, keep: list, workdir: str, uid: int | None,
          limits: Limits) -> tuple:
    """Ask the zygote for a confined child; returns ``(pid, socket to the child)``."""
    request = {"op": "spawn", "hide": hide, "keep": keep, "workdir": workdir, "uid": uid,
               "limits": limits.to_json()}
    zygote.sendall(json.dumps(request).encode() + b"\n")
    msg, fds, _, _ = socket.recv_fds(zygote, 4096, 1)
    if not fds:
        raise RuntimeError("the fork server did not return a connection")
    pid = json.loads(msg)["pid"]
    return pid, socket.socket(fileno=fds[0])


def reap(zygote: socket.socket, pid: int) -> str:
    """Wait for a (killed) child and say how it ended: "SIGSEGV", "exit 0", ..."""
    zygote.sendall(json.dumps({"op": "reap", "pid": pid}).encode() + b"\n")
    return json.loads(_recv_line(zygote))["status"]


# ---------------------------------------------------------------------------------------------
# the student's process


def _child(sock: socket.socket, request: dict) -> None:
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # C-level output goes nowhere; Python-level output to a sink
            os.dup2(devnull, fd)
        os.closerange(3, sock.fileno())
        os.closerange(sock.fileno() + 1, 65536)
        devnull_keep = os.open(os.devnull, os.O_RDWR)
        notes = confine(hide=request["hide"], keep=request["keep"], workdir=request["workdir"],
                        uid=request["uid"], limits=Limits(**request["limits"]))
        for key in list(os.environ):
            if key.startswith(("AUTOGRADER", "NBGRADER", "JUPYTER")):
                del os.environ[key]
        os.environ.update(HOME=os.getcwd(), TMPDIR=os.getcwd(), MPLBACKEND="Agg")
        sys.stdout = sys.stderr = _Sink()
        sys.stdin = io.StringIO()
        sys.argv = ["notebook"]
        # A process the student forks must never talk to the grader in our place: its copy of
        # the connection is replaced by /dev/null (writes vanish, reads see the end).
        sock_fd = sock.fileno()
        os.register_at_fork(after_in_child=lambda: os.dup2(devnull_keep, sock_fd))
        codec.send(sock, {"event": "hello", "notes": notes})
        _serve(sock)
    except BaseException:  # noqa: BLE001 - report, then leave without running anything else
        try:
            codec.send(sock, {"event": "broken", "error": traceback.format_exc(limit=3)[-2000:]})
        except Exception:  # noqa: BLE001
            pass
    os._exit(0)


def _serve(sock: socket.socket) -> None:
    # Everything used from here on is bound now, before student code can patch modules.
    send, recv, encode, decode = codec.send, codec.recv, codec.encode, codec.decode
    namespace: dict = {}
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
            send(sock, {"event": "ready", "notes": log.notes})
            continue
        try:
            args, kwargs = decode(header["payload"], buffers, resolve=resolve,
                                  probes=build_probe)
        except Exception as exc:  # noqa: BLE001
            reply_error("exception", f"the grader could not send the arguments: {exc}")
            continue
        try:
            with np.errstate(all="ignore"), time_limit(float(header["timeout"])):
                if op == "call":
                    out = backend.call(header["name"], tuple(args), kwargs)
                else:
                    out = backend.run(header["program"], tuple(args))
        except StudentError as err:
            reply_error(err.kind, err.detail)
            continue
        except CheckTimeout:
            reply_error("timeout")
            continue
        try:
            tree, bufs = encode(out, keep)
            send(sock, {"ok": tree}, bufs)
        except codec.CodecError as exc:
            reply_error("unsendable", str(exc))
        except RecursionError:
            reply_error("unsendable", "nested too deeply")


def preload() -> None:
    """Import, in the zygote's parent, what every student process needs (so forks are ready)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import torch  # noqa: F401 - most expensive import; students use it

    torch.set_num_threads(1)
    load_all()
    try:
        from IPython.core.inputtransformer2 import TransformerManager  # noqa: F401
    except ImportError:  # pragma: no cover
        pass
    try:
        import scipy.special  # noqa: F401
    except ImportError:  # pragma: no cover
        pass

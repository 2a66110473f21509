"""The fork server: ``python -I -m autograder.sandbox.zygote FD CONFIG``, inside the sandbox.

A grading run starts one zygote (through bwrap, see :mod:`autograder.sandbox.isolation`). It
imports numpy, the check harness and whichever of torch, scipy, matplotlib and sympy the run's
notebooks mention (:func:`heavy_packages`) once — seconds — and then serves the
*control* socket ``FD`` (SOCK_SEQPACKET): each message carries one socket, and the zygote forks
a copy of itself that serves that socket for one grading worker. So the imports are paid once
per run however many workers there are, and their memory is shared. A worker's copy exits when
the worker's end of its socket closes (the worker died or finished), taking its student
processes with it; all of them die with the zygote. The zygote never holds a reference solution:
it is a separate program.

A worker's copy answers requests in JSON lines; it first sends ``{"ready": true}``.

``{"op": "probe"}``
    reply ``{"ok": true}`` (isolation detection: everything imported inside the sandbox).
``{"op": "spawn", "limits": {...}}``
    fork a *supervisor*, which makes new namespaces and forks the student's process (PID 1 of its
    own PID namespace); reply ``{"pid": supervisor}`` with the student's socket attached. The
    next one is forked right after the reply, while the grader works with this one, so that a
    spawn usually costs one message.
``{"op": "stop", "pid": supervisor, "wait": true}``
    kill the student's process (its whole PID namespace dies with it), reap the supervisor and
    reply ``{"status": "SIGSEGV" | "exit 0" | ...}``: how the student's process ended. With
    ``"wait": false`` reply at once; the supervisor is reaped later.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import tempfile

from . import confine


# Packages that take a second or more to import, by the name a notebook would mention, with
# what to import for it: torch's autograd imports sympy lazily, inside a student's timed call.
HEAVY = {
    "torch": ("torch", "sympy"),
    "scipy": ("scipy.special", "scipy.stats"),
    "matplotlib": ("matplotlib.pyplot",),
    "sympy": ("sympy",),
}


def heavy_packages(sources) -> list:
    """The :data:`HEAVY` packages that any of these code cells mention (a word match, so an
    import inside a function body counts too)."""
    import re

    pattern = re.compile(r"\b(" + "|".join(map(re.escape, HEAVY)) + r")\b")
    return sorted(set(pattern.findall("\n".join(sources))))


def preload(heavy=()) -> None:
    """Import what student processes need, so that forks start ready: always numpy, the check
    harness and what running cells uses; of the :data:`HEAVY` packages, those the run's
    notebooks mention (a student process imports anything else itself, as Python would)."""
    import numpy  # noqa: F401
    import numpy.random  # noqa: F401 - numpy 2 imports it on first use

    from ..harness import load_all
    from ..notebook import _python_source

    load_all()
    for name in ("decimal", "multiprocessing.pool", "IPython.core.inputtransformer2"):
        try:
            __import__(name)
        except ImportError:  # pragma: no cover
            pass
    _python_source("x = 1\n")  # IPython's transformer builds its tables on first use
    for package in heavy:
        for name in HEAVY.get(package, ()):
            try:
                __import__(name)
            except ImportError:
                pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    from . import student  # noqa: F401


class Zygote:
    def __init__(self, sock: socket.socket, isolated: bool, uid: int | None,
                 rebind: list = ()) -> None:
        self.sock, self.isolated, self.uid, self.rebind = sock, isolated, uid, list(rebind)
        self.children: dict = {}  # supervisor pid -> (student pid, workdir or None)
        self.spare = None  # (limits, supervisor pid, socket): forked ahead of the next spawn
        self.unreaped: list = []  # supervisors killed without waiting

    def serve(self) -> None:
        buf = b""
        while True:
            while b"\n" not in buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
            line, buf = buf.split(b"\n", 1)
            request = json.loads(line)
            op = request.get("op")
            if op == "probe":
                self._reply({"ok": True})
            elif op == "spawn":
                limits = confine.Limits(**request["limits"])
                if self.spare is None or self.spare[0] != limits:
                    self._discard_spare()
                    self.spare = (limits, *self._fork(limits))
                _, sup, mine = self.spare
                self.spare = None
                self._reply({"pid": sup}, [mine.fileno()])
                mine.close()
                self.spare = (limits, *self._fork(limits))  # ready for the next spawn
            elif op == "stop":
                wait = request.get("wait", True)
                self._reply({"status": self._stop(int(request["pid"]), wait)})
            self._reap_finished()

    def _reply(self, msg: dict, fds: list = ()) -> None:
        data = json.dumps(msg).encode() + b"\n"
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.sendall(data)

    def _discard_spare(self) -> None:
        if self.spare is not None:
            _, sup, mine = self.spare
            mine.close()
            self._stop(sup, wait=False)
            self.spare = None

    def _reap_finished(self) -> None:
        for sup in list(self.unreaped):
            try:
                done, _ = os.waitpid(sup, os.WNOHANG)
            except ChildProcessError:
                done = sup
            if done:
                self.unreaped.remove(sup)

    def _fork(self, limits: confine.Limits) -> tuple:
        """A new supervisor and student process; ``(supervisor pid, our end of its socket)``."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        workdir = None if self.isolated else tempfile.mkdtemp(prefix="autograder-student-")
        report_r, report_w = os.pipe()
        sup = os.fork()
        if sup == 0:  # the supervisor
            try:
                os.close(report_r)
                self.sock.close()
                mine.close()
                self._supervise(theirs, report_w, limits, workdir)
            finally:
                os._exit(70)
        os.close(report_w)
        theirs.close()
        with os.fdopen(report_r, "rb") as fh:
            text = fh.readline().strip()
        student = int(text) if text.isdigit() else None
        self.children[sup] = (student, workdir)
        return sup, mine

    def _supervise(self, sock: socket.socket, report_w: int, limits, workdir) -> None:
        confine.die_with_parent()
        broken = ""
        if self.isolated:
            try:
                confine.new_namespaces()
            except OSError as exc:
                broken = f"could not create namespaces: {exc}"
        pid = os.fork()
        if pid == 0:
            os.close(report_w)
            from .student import main

            main(sock, limits, isolated=self.isolated, workdir=workdir, uid=self.uid,
                 broken=broken, rebind=self.rebind)  # never returns
        sock.close()
        os.write(report_w, f"{pid}\n".encode())
        os.close(report_w)
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except ChildProcessError:
                os._exit(0)
            except InterruptedError:
                continue
        if os.WIFSIGNALED(status):
            os._exit(128 + os.WTERMSIG(status))
        os._exit(os.WEXITSTATUS(status) & 0x7F)

    def _stop(self, sup: int, wait: bool = True) -> str:
        student, workdir = self.children.pop(sup, (None, None))
        if student:
            for kill in (os.kill, os.killpg):  # the namespace's PID 1, or (unconfined) its group
                try:
                    kill(student, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        if not wait:
            self.unreaped.append(sup)
            if workdir:
                shutil.rmtree(workdir, ignore_errors=True)
            return ""
        try:
            _, status = os.waitpid(sup, 0)
        except ChildProcessError:
            status = None
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        if status is None:
            return "unknown"
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        if code > 128:
            try:
                return signal.Signals(code - 128).name
            except ValueError:
                return f"signal {code - 128}"
        return f"exit {code}"


def serve_workers(control: socket.socket, isolated: bool, rebind: list) -> None:
    """Fork one :class:`Zygote` per socket received on ``control`` (with the message
    ``{"uid": ...}``: the uid its students switch to when there is no sandbox, else null)."""
    children = []
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(control, 4096, 4)
        except InterruptedError:
            continue
        if not msg:
            return  # the grader is gone: the workers' copies die with this process
        try:
            uid = json.loads(msg).get("uid")
        except (ValueError, AttributeError):
            uid = None
        for fd in fds[1:]:
            os.close(fd)
        if fds:
            pid = os.fork()
            if pid == 0:
                try:
                    control.close()
                    confine.die_with_parent()  # a fork does not inherit it
                    sock = socket.socket(fileno=fds[0])
                    notes = []
                    if isolated:
                        try:
                            confine.new_network()
                        except OSError as exc:
                            notes.append(f"this worker's students got no network namespace of "
                                         f"their own with a loopback ({exc})")
                    # the worker's clock starts here
                    sock.sendall(json.dumps({"ready": True, "notes": notes}).encode() + b"\n")
                    Zygote(sock, isolated, uid if isinstance(uid, int) else None,
                           rebind).serve()
                finally:
                    os._exit(0)
            os.close(fds[0])
            children.append(pid)
        for pid in list(children):  # reap the copies of workers that have finished
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    children.remove(pid)
            except ChildProcessError:
                children.remove(pid)


def main(argv: list) -> int:
    fd, config = int(argv[0]), json.loads(argv[1])
    sock = socket.socket(fileno=fd)
    isolated = bool(config.get("isolated"))
    confine.die_with_parent()
    if isolated:
        confine.not_dumpable()
    os.environ.setdefault("MPLBACKEND", "Agg")
    if config.get("probe"):  # isolation detection: can Python and numpy start in here?
        import numpy  # noqa: F401

        Zygote(sock, isolated, None).serve()
        return 0
    preload(config.get("heavy", []))
    import gc

    gc.collect()
    gc.freeze()  # the preloaded heap: never scanned again by a student's gc, never copied on it
    serve_workers(sock, isolated, config.get("rebind", []))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

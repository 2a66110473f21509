"""The run's fork server in the sandbox (:class:`ForkServer`) and a grading worker's copy of it
(:class:`Zygote`), which gives confined student processes.

Standard library only (no numpy): ``autograder check`` starts the zygote first, so that its
imports in the sandbox overlap with the checks' imports in the command.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess

from .confine import Limits
from .isolation import (MALLOC_ENV, SANDBOX_UID_BASE, Isolation, drop_privileges,
                        zygote_command)


class GraderFault(RuntimeError):
    """The grader's own machinery failed (not the student's doing): reported to the instructor."""


class ForkServer:
    """The run's one zygote in the sandbox (started by the pool): ``connect`` gives a socket
    to a copy of it that serves one grading worker. ``heavy``: the slow packages the run's
    notebooks import, imported once in the zygote (``zygote.heavy_packages``)."""

    def __init__(self, iso: Isolation, heavy=()) -> None:
        self.iso = iso
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        as_root = os.geteuid() == 0
        preexec = drop_privileges(SANDBOX_UID_BASE) if iso.drop_to_uid and as_root else None
        self.proc = subprocess.Popen(
            zygote_command(iso, theirs.fileno(), heavy=heavy), pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=preexec, start_new_session=True, env=dict(os.environ, **MALLOC_ENV))
        theirs.close()
        self.control = ours

    def alive(self) -> bool:
        return self.proc.poll() is None

    def connect(self, slot: int) -> socket.socket:
        """A socket for worker ``slot``'s :class:`Zygote`. Returns at once: the copy answers
        ``{"ready": true}`` on it once the zygote has finished importing."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # Without a sandbox, root's students switch to one unprivileged uid per worker.
        uid = SANDBOX_UID_BASE + slot if os.geteuid() == 0 and not self.iso.isolated else None
        try:
            socket.send_fds(self.control, [json.dumps({"uid": uid}).encode()],
                            [theirs.fileno()])
        except OSError:
            pass  # the zygote is gone: the worker finds its socket closed and says so
        finally:
            theirs.close()
        return ours

    def close(self) -> None:
        try:
            self.control.close()
        except OSError:
            pass
        try:
            self.proc.kill()
        except OSError:
            pass
        self.proc.wait()


class Zygote:
    """A grading worker's copy of the fork server; ``spawn`` gives a confined student
    process."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.notes: list = []  # for the instructor: what this copy of the zygote could not do

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Wait until the zygote has imported everything (it says so once, at start)."""
        msg = self._line(timeout)
        if not msg.get("ready"):
            raise GraderFault("the sandbox's fork server did not start")
        self.notes = [str(n)[:300] for n in msg.get("notes", [])][:5]

    def _line(self, timeout: float = 120.0) -> dict:
        self.sock.settimeout(timeout)
        data = b""
        try:
            while not data.endswith(b"\n"):
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise GraderFault("the sandbox's fork server stopped")
                data += chunk
        except socket.timeout:
            raise GraderFault("the sandbox's fork server does not answer") from None
        return json.loads(data)

    def spawn(self, limits: Limits) -> tuple:
        self.sock.sendall(json.dumps({"op": "spawn", "limits": limits.to_json()}).encode()
                          + b"\n")
        self.sock.settimeout(120.0)
        try:
            msg, fds, _, _ = socket.recv_fds(self.sock, 4096, 1)
        except (socket.timeout, OSError) as exc:
            raise GraderFault(f"the sandbox's fork server failed ({exc})") from None
        if not fds:
            raise GraderFault("the sandbox's fork server did not return a connection")
        return int(json.loads(msg)["pid"]), socket.socket(fileno=fds[0])

    def stop(self, pid: int, wait: bool = True) -> str:
        """Kill a student's process and everything it started; say how it ended (``wait``) or
        return at once."""
        self.sock.sendall(json.dumps({"op": "stop", "pid": pid, "wait": wait}).encode() + b"\n")
        return str(self._line()["status"])

    def close(self) -> None:
        try:
            self.sock.close()  # the copy serving this worker exits, and its students with it
        except OSError:
            pass

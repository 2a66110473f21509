"""The fork server: ``python -I -m autograder.sandbox.zygote FD CONFIG``, inside the sandbox.

A grading run starts one zygote (through bwrap, see :mod:`autograder.sandbox.isolation`). It
imports numpy, the check harness and whichever of torch, scipy, matplotlib and sympy the run's
notebooks import (:func:`heavy_packages`) once — seconds — and then serves the
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

Per student, in the sandbox: the student's process is PID 1 of its own PID namespace with a
``/proc`` of its own (no process of the grader is visible, so none can be reniced or have its
``oom_score_adj`` written), the leader of its own session (so of its own scheduler autogroup:
``/proc/self/autogroup`` renices only itself), and, where the grader delegated cgroups
(``CONFIG["cgroups"]``), the only member of a cgroup of its own whose ``pids.max`` and memory
limit hold for everything it starts. Nobody in the sandbox can make a user namespace:
``user.max_user_namespaces`` is 0 in the sandbox's own, and students hold no capability to
raise it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import tempfile
from dataclasses import replace

from . import confine

# With a cgroup per student, RLIMIT_NPROC (counted for every process of the sandbox's uid) is
# only a backstop against a fork bomb that escaped its cgroup: pids.max is the student's limit.
NPROC_BACKSTOP = 2048
CGROUP_SLACK_MB = 32  # page tables and kernel memory of the student's process itself


def disable_user_namespaces() -> None:
    """Nobody in the sandbox may create a user namespace (to regain capabilities): the
    sandbox's user namespace gets ``user.max_user_namespaces = 0``. Written through a /proc
    mounted for the purpose by a helper that is PID 1 of new PID and mount namespaces: the
    zygote's own may belong to the user namespace above (bubblewrap as an ordinary user
    nests one), where it cannot mount. Raises OSError."""
    helper = os.fork()
    if helper == 0:
        code = 1
        try:
            confine.new_pid_and_mounts()
            inner = os.fork()
            if inner == 0:
                try:
                    where = tempfile.mkdtemp(prefix=".proc-", dir="/tmp")
                    confine.mount_proc(where)
                    limit = os.path.join(where, "sys/user/max_user_namespaces")
                    with open(limit, "w") as fh:
                        fh.write("0")
                    os._exit(0)
                finally:
                    os._exit(1)
            _, status = os.waitpid(inner, 0)
            code = 0 if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(helper, 0)
    if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
        raise OSError("could not set user.max_user_namespaces to 0 in the sandbox")


class Cgroups:
    """One cgroup per student below the directories the grader delegated (``{name: path}``
    as the zygote sees them, see ``isolation.cgroup_delegation``)."""

    def __init__(self, dirs: dict) -> None:
        self.dirs = dict(dirs)
        self.token = os.urandom(4).hex()  # unique among the run's worker copies
        self.count = 0
        self.base = _rss_bytes()  # what the preloaded heap may cost a student (copy on write)
        self.leftover: list = []  # cgroups still busy when their student was stopped

    def __bool__(self) -> bool:
        return bool(self.dirs)

    def create(self, limits: confine.Limits) -> list:
        """New cgroups holding ``limits`` for one student; raises OSError."""
        self.count += 1
        memory = str(self.base + (limits.memory_mb + CGROUP_SLACK_MB) * 2**20)
        made = []
        try:
            for mount in self.dirs.values():
                path = os.path.join(mount, f"s-{self.token}-{self.count}")
                os.mkdir(path)
                made.append(path)
                wrote = set()
                for name, value, required in (
                        ("pids.max", str(limits.processes), "pids"),
                        ("memory.limit_in_bytes", memory, "memory"),
                        ("memory.memsw.limit_in_bytes", memory, ""),
                        ("memory.max", memory, "memory"),
                        ("memory.swap.max", "0", "")):
                    if not os.path.exists(os.path.join(path, name)):
                        continue  # another controller's, or no swap accounting
                    try:
                        with open(os.path.join(path, name), "w") as fh:
                            fh.write(value)
                        wrote.add(required)
                    except OSError:
                        if required:
                            raise
                if not wrote & {"pids", "memory"}:
                    raise OSError(f"no pids or memory controller in {mount}")
        except OSError:
            self.remove(made)
            raise
        return made

    def remove(self, paths) -> None:
        """Remove these cgroups and any left over earlier; one still busy is tried later."""
        pending, self.leftover = list(paths) + self.leftover, []
        for path in pending:
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                self.leftover.append(path)

    def note(self) -> str:
        kinds = "cgroup v2" if "unified" in self.dirs else "cgroup v1"
        return (f"limits per student: each student's processes together are held by a "
                f"{kinds} of their own (pids.max, memory limit); per-process limits as well")


def join(paths: list) -> None:
    """Called in the student's process before it confines itself: move into its cgroups,
    then unmount the cgroup directories from its (private) mount namespace, so that it can
    neither raise its limits nor see anyone else's. Raises OSError."""
    confine.make_private()
    for path in paths:
        with open(os.path.join(path, "cgroup.procs"), "w") as fh:
            fh.write("0")
    for path in paths:
        confine.unmount(os.path.dirname(path))


def _rss_bytes() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 512 * 2**20


def check_cgroups(dirs: dict) -> tuple:
    """``(dirs, note)``: the cgroup directories if a student process can really be moved into
    a cgroup made there (tried once, at start), else ``({}, why not)``."""
    if not dirs:
        return {}, ("limits per process only: no cgroup could be delegated to the grader "
                    "(grade as root, or delegate a cgroup v2 subtree), so a student's "
                    "processes share RLIMIT_NPROC with the sandbox and each has its own "
                    "address-space limit")
    trial = Cgroups(dirs)
    try:
        made = trial.create(confine.Limits())
    except OSError as exc:
        return {}, f"limits per process only: cannot create a student's cgroup ({exc})"
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            confine.unshare_mounts()
            join(made)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    trial.remove(made)
    if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
        return {}, "limits per process only: a process cannot be moved into a student's cgroup"
    return dirs, ""


# Packages that take a second or more to import, by the name a notebook would mention, with
# what to import for it: torch's autograd imports sympy lazily, inside a student's timed call.
HEAVY = {
    "torch": ("torch", "sympy"),
    "scipy": ("scipy.special", "scipy.stats"),
    "matplotlib": ("matplotlib.pyplot",),
    "sympy": ("sympy",),
}


def heavy_packages(sources) -> list:
    """The :data:`HEAVY` packages that these code cells import: in an import statement (one
    inside a function body too), ``__import__("...")`` or ``import_module("...")``. A mention in
    a docstring or a comment ("as torch.nn.Conv2d") does not count: preloading torch costs
    every check seconds, and a student process imports what it really needs itself."""
    import re

    name = r"(" + "|".join(map(re.escape, HEAVY)) + r")\b"
    pattern = re.compile(rf"^[ \t]*(?:from[ \t]+{name}|import[ \t]+[^\n#]*?\b{name})"
                         rf"|(?:__import__|import_module)\(\s*[\"']{name}", re.M)
    return sorted({n for match in pattern.findall("\n".join(sources)) for n in match if n})


def preload(heavy=()) -> None:
    """Import what student processes need, so that forks start ready: always numpy, the check
    harness and what running cells uses; of the :data:`HEAVY` packages, those the run's
    notebooks import (a student process imports anything else itself, as Python would)."""
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
                 rebind: list = (), cgroups: dict | None = None) -> None:
        self.sock, self.isolated, self.uid, self.rebind = sock, isolated, uid, list(rebind)
        self.cgroups = Cgroups(cgroups or {})
        self.children: dict = {}  # supervisor pid -> (student pid, workdir or None)
        self.student_cgroups: dict = {}  # supervisor pid -> its student's cgroups
        self.spare = None  # (limits, supervisor pid, socket): forked ahead of the next spawn
        self.unreaped: list = []  # supervisors killed without waiting

    def serve(self) -> None:
        buf = b""
        while True:
            while b"\n" not in buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    self._stop_all()
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

    def _stop_all(self) -> None:
        """The worker is gone: its students are killed and their cgroups removed."""
        for sup in list(self.children):
            self._stop(sup)
        for sup in list(self.unreaped):
            try:
                os.waitpid(sup, 0)
            except ChildProcessError:
                pass
            self.cgroups.remove(self.student_cgroups.pop(sup, []))
        self.unreaped = []

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
                self.cgroups.remove(self.student_cgroups.pop(sup, []))

    def _fork(self, limits: confine.Limits) -> tuple:
        """A new supervisor and student process; ``(supervisor pid, our end of its socket)``."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        workdir = None if self.isolated else tempfile.mkdtemp(prefix="autograder-student-")
        cgroups, broken = [], ""
        if self.cgroups:
            try:
                cgroups = self.cgroups.create(limits)
            except OSError as exc:  # it worked at start: this student runs nothing
                broken = f"could not create the student's cgroup: {exc}"
        report_r, report_w = os.pipe()
        sup = os.fork()
        if sup == 0:  # the supervisor
            try:
                os.close(report_r)
                self.sock.close()
                mine.close()
                self._supervise(theirs, report_w, limits, workdir, cgroups, broken)
            finally:
                os._exit(70)
        os.close(report_w)
        theirs.close()
        with os.fdopen(report_r, "rb") as fh:
            text = fh.readline().strip()
        student = int(text) if text.isdigit() else None
        self.children[sup] = (student, workdir)
        self.student_cgroups[sup] = cgroups
        return sup, mine

    def _supervise(self, sock: socket.socket, report_w: int, limits, workdir,
                   cgroups: list = (), broken: str = "") -> None:
        confine.die_with_parent()
        if self.isolated and not broken:
            try:
                confine.new_namespaces()
            except OSError as exc:
                broken = f"could not create namespaces: {exc}"
        pid = os.fork()
        if pid == 0:
            os.close(report_w)
            from .student import main

            if self.isolated and not broken:
                try:
                    os.setsid()  # a scheduler autogroup of its own: renicing it hurts no one
                    join(cgroups)
                except OSError as exc:
                    broken = f"could not enter the student's cgroup: {exc}"
            if cgroups:
                limits = replace(limits, processes=max(limits.processes, NPROC_BACKSTOP))
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
        self.cgroups.remove(self.student_cgroups.pop(sup, []))
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


def serve_workers(control: socket.socket, isolated: bool, rebind: list,
                  cgroups: dict | None = None, startup_notes=()) -> None:
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
                    notes = list(startup_notes)
                    if isolated:
                        try:
                            confine.new_network()
                        except OSError as exc:
                            notes.append(f"this worker's students got no network namespace of "
                                         f"their own with a loopback ({exc})")
                    # the worker's clock starts here
                    sock.sendall(json.dumps({"ready": True, "notes": notes}).encode() + b"\n")
                    Zygote(sock, isolated, uid if isinstance(uid, int) else None,
                           rebind, cgroups).serve()
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
        disable_user_namespaces()  # or the zygote stops here, and detection tries another mode
    os.environ.setdefault("MPLBACKEND", "Agg")
    if config.get("probe"):  # isolation detection: can Python and numpy start in here?
        import numpy  # noqa: F401

        Zygote(sock, isolated, None).serve()
        return 0
    notes = []
    cgroups: dict = {}
    if isolated:
        cgroups, note = check_cgroups(config.get("cgroups") or {})
        notes.append(note or Cgroups(cgroups).note())
        for mount in (config.get("cgroups") or {}).values():
            if not cgroups:  # unusable: no student may inherit the bound directories
                confine.unmount(mount)
    preload(config.get("heavy", []))
    import gc

    gc.collect()
    gc.freeze()  # the preloaded heap: never scanned again by a student's gc, never copied on it
    serve_workers(sock, isolated, config.get("rebind", []), cgroups, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

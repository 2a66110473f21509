"""Regression tests of the sandbox (issue 19, items 3, 4 and 9b): every student starts
from a pristine, read-only root; limits hold per student, not per process or per fork
server; no process of the grader is reachable from a student.

Each reproduction runs in both sandbox modes a root grader can be in (bubblewrap as the
grading user — uid 61000 where it can read the interpreter — and bubblewrap as root),
and as a created user where that user can run this interpreter (:mod:`tests.layouts`).
Most of them talk to student processes directly (:class:`Sandbox`): a ``probe()``
function defined by a notebook cell reports, as plain data, what the attack achieved.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap

import pytest

from autograder.grading import Submission, grade_all
from autograder.notebook import CodeCell
from autograder.sandbox.confine import Limits
from autograder.sandbox.isolation import detect
from autograder.checks import Client
from autograder.sandbox.session import ForkServer, Session, Zygote
from tests.conftest import exercise_notebook, filled_notebook, write_notebook
from tests.layouts import as_created_user
from tests.test_robustness import _solution
from tests.test_sandbox import SPEC, A, extra_cells

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the sandbox is Linux only")

MODES = ["bwrap", pytest.param("bwrap-root", marks=pytest.mark.skipif(
    os.geteuid() != 0, reason="bubblewrap as root is only tried by root"))]


def isolation(mode: str):
    iso = detect(mode)
    assert iso.isolated, iso.detail
    return iso


class Sandbox:
    """One fork server in ``mode``; :meth:`student` runs cells in a fresh student
    process of worker ``slot`` and returns what its ``probe()`` returns."""

    def __init__(self, mode: str) -> None:
        self.server = ForkServer(isolation(mode))
        self.zygotes: dict = {}

    def zygote(self, slot: int = 0) -> Zygote:
        if slot not in self.zygotes:
            zygote = Zygote(self.server.connect(slot))
            zygote.wait_ready()
            self.zygotes[slot] = zygote
        return self.zygotes[slot]

    def start(self, code: str, slot: int = 0, limits: Limits | None = None) -> Session:
        cell = CodeCell(1, textwrap.dedent(code), None, False, False)
        session = Session(self.zygote(slot), [cell], filename="probe",
                          limits=limits or Limits(), cell_timeout=60)
        session.ensure()
        assert not session.notes, session.notes  # the cell itself ran without an error
        return session

    @staticmethod
    def probe(session: Session, timeout: float = 60):
        return Client(session, check_cpu=timeout).request("call", "probe")["out"]

    def student(self, code: str, slot: int = 0, limits: Limits | None = None):
        session = self.start(code, slot, limits)
        try:
            return self.probe(session)
        finally:
            session.close()

    def close(self) -> None:
        for zygote in self.zygotes.values():
            zygote.close()
        self.server.close()


@pytest.fixture(params=MODES)
def sandbox(request):
    box = Sandbox(request.param)
    yield box
    box.close()


# -------------------------------------------------------------------------------------
# item 3: a pristine, read-only root for every student

PLACES = ("/etc/answers.py", "/answers.py", "/dev/answers.py", "/sys/answers.py",
          "/usr/answers.py", "/tmp/answers.py", "/dev/shm/answers.py",
          "/.autograder-keep/answers.py", "/etc/ld.so.preload")

WRITE_EVERYWHERE = """
import os, socket
def probe():
    wrote = []
    for path in PLACES:
        try:
            with open(path, "w") as fh:
                fh.write("ANSWER = 42\\n")
            wrote.append(path)
        except OSError:
            pass
    try:
        os.mkdir("/etc/planted")
        wrote.append("/etc/planted")
    except OSError:
        pass
    try:
        s = socket.socket(socket.AF_UNIX)
        s.bind("/etc/rt.sock")
        wrote.append("/etc/rt.sock")
    except OSError:
        pass
    filled = 0
    try:  # the private /tmp holds what its size cap allows, no more
        with open("/tmp/big", "wb") as fh:
            for _ in range(200):
                fh.write(b"x" * 2**20)
                filled += 1
    except OSError:
        pass
    return {"wrote": wrote, "filled_mb": filled}
"""

READ_EVERYWHERE = """
import os
def probe():
    return [p for p in PLACES + ("/etc/planted", "/etc/rt.sock", "/tmp/big")
            if os.path.lexists(p)]
"""


def _with_places(code: str) -> str:
    return f"PLACES = {PLACES!r}\n" + code


def test_a_student_can_write_only_its_private_places(sandbox):
    """Only /tmp (size-capped) and /dev/shm take a student's files; the root, /etc,
    /dev, /sys and the mount points are read-only."""
    got = sandbox.student(_with_places(WRITE_EVERYWHERE))
    assert sorted(got["wrote"]) == ["/dev/shm/answers.py", "/tmp/answers.py"], got
    assert got["filled_mb"] <= Limits().workdir_mb, got


def test_nothing_a_student_writes_is_seen_by_the_next_or_a_concurrent_one(sandbox):
    """Files (answers, /etc/ld.so.preload) and a live UNIX socket left by one student:
    the next student of the same worker and a student of another worker, graded while
    the first one still runs, see none of them."""
    writer = sandbox.start(_with_places(WRITE_EVERYWHERE), slot=0)
    try:
        assert sandbox.probe(writer)["wrote"]
        concurrent = sandbox.student(_with_places(READ_EVERYWHERE), slot=1)
    finally:
        writer.close()
    later = sandbox.student(_with_places(READ_EVERYWHERE), slot=0)
    assert concurrent == [] and later == [], (concurrent, later)


PASS_ANSWERS = """
import os
for where in ("/etc", "/", "/dev", "/sys", "/tmp", "/dev/shm"):
    try:
        with open(os.path.join(where, "answers_entropy.py"), "w") as fh:
            fh.write(ANSWER)
    except OSError:
        pass
"""

TAKE_ANSWERS = """
import os
for where in ("/etc", "/", "/dev", "/sys", "/tmp", "/dev/shm"):
    try:
        with open(os.path.join(where, "answers_entropy.py")) as fh:
            exec(fh.read(), globals())
    except OSError:
        pass
"""


@pytest.mark.parametrize("mode", MODES)
def test_answers_cannot_be_passed_from_one_notebook_to_the_next(tmp_path, mode):
    """A full notebook leaves its solution wherever it can write; the stub graded after
    it on the same worker finds nothing and scores 0 for it."""
    answer = repr("import numpy as np\n" + _solution("entropy"))
    giver = extra_cells(filled_notebook(A), f"ANSWER = {answer}\n{PASS_ANSWERS}", at=50)
    taker = extra_cells(exercise_notebook(A), TAKE_ANSWERS, at=50)
    subs = [Submission("giver", write_notebook(giver, tmp_path / "giver.ipynb")),
            Submission("taker", write_notebook(taker, tmp_path / "taker.ipynb"))]
    by = {r.student: r for r in grade_all(subs, SPEC, jobs=1, iso=isolation(mode))}
    assert by["giver"].score == SPEC.max_score, by["giver"].notes
    assert by["taker"].functions["entropy"].score == 0


# -------------------------------------------------------------------------------------
# item 9b: no process of the grader is reachable from a student

REACH_THE_GRADER = """
import os
def probe():
    mine = os.getpid()
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    written = []
    for pid in pids:
        if pid == mine:
            continue
        try:
            with open(f"/proc/{pid}/oom_score_adj", "w") as fh:
                fh.write("1000")
            written.append(pid)
        except OSError:
            pass
    try:
        with open("/proc/self/autogroup", "w") as fh:
            fh.write("19")
        reniced = True
    except OSError:
        reniced = False
    return {"me": mine, "pids": pids, "written": written, "reniced": reniced}
"""


def _sandbox_processes(box: Sandbox) -> list:
    """Host pids of every process below the fork server's bubblewrap."""
    out, todo = [], [box.server.proc.pid]
    while todo:
        pid = todo.pop()
        out.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return out


def _autogroup(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/autogroup") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def test_a_student_reaches_no_process_of_the_grader(sandbox):
    """A student sees only its own processes in /proc (so it can write the
    oom_score_adj of neither the fork server nor the next student's pre-forked
    process), and renicing its autogroup slows only itself."""
    session = sandbox.start(REACH_THE_GRADER)
    try:
        got = sandbox.probe(session)
        processes = _sandbox_processes(sandbox)
        groups = {pid: _autogroup(pid) for pid in processes}
    finally:
        session.close()
    assert got["me"] == 1 and got["pids"] == [1], got  # its own PID namespace and /proc
    assert got["written"] == [], got
    reniced = [pid for pid, group in groups.items() if group.endswith("nice 19")]
    assert len(reniced) <= 2, groups  # the student process alone (and its supervisor)
    for pid in processes:
        try:
            with open(f"/proc/{pid}/oom_score_adj") as fh:
                assert fh.read().strip() == "0", pid
        except FileNotFoundError:
            pass  # gone meanwhile


UNSHARE_USER = """
import ctypes, ctypes.util
def probe():
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return libc.unshare(0x10000000)  # CLONE_NEWUSER: its capabilities back, in there
"""


def test_a_student_cannot_make_a_user_namespace(sandbox):
    """Instead of bubblewrap's nested user namespace (under which a student could not
    mount a /proc of its own), the sandbox's ``user.max_user_namespaces`` is 0."""
    assert sandbox.student(UNSHARE_USER) == -1


# -------------------------------------------------------------------------------------
# item 4: limits per student

HOLD_PROCESSES = """
import os, time
held = []
for _ in range(24):
    pid = os.fork()
    if pid == 0:
        time.sleep(120)
        os._exit(0)
    held.append(pid)
def probe():
    return len(held)
"""

THREADS = """
import threading
def probe():
    done = []
    threads = [threading.Thread(target=lambda: done.append(1)) for _ in range(12)]
    started = 0
    for t in threads:
        try:
            t.start()
            started += 1
        except RuntimeError:
            break
    for t in threads[:started]:
        t.join()
    return len(done)
"""


def test_one_student_holding_processes_does_not_starve_another(sandbox):
    """A student holding 24 processes (of 32): a student of another worker graded at the
    same time still starts its 12 threads."""
    holder = sandbox.start(HOLD_PROCESSES, slot=0)
    try:
        assert sandbox.probe(holder) == 24
        assert sandbox.student(THREADS, slot=1) == 12
    finally:
        holder.close()


FORK_MANY = """
import os, time
def probe():
    made = 0
    for _ in range(300):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        made += 1
    return made
"""


def test_the_process_limit_holds_in_every_mode(sandbox):
    """300 forks under ``processes=32``: at most 32 tasks in all."""
    assert sandbox.student(FORK_MANY, limits=Limits(processes=32)) < 32


ALLOCATE = """
import os, time
def probe():
    r, w = os.pipe()
    for _ in range(12):
        if os.fork() == 0:
            os.close(r)
            try:
                with open("/proc/self/oom_score_adj", "w") as fh:
                    fh.write("1000")  # the allocators, not this one: OOM victims
                block = b"\\1" * (150 * 2**20)
                os.write(w, b"+")
                time.sleep(20)
            finally:
                os._exit(0)
    os.close(w)
    os.set_blocking(r, False)
    got, deadline = 0, time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            chunk = os.read(r, 64)
        except BlockingIOError:
            time.sleep(0.1)
            continue
        if not chunk:
            break
        got += len(chunk)
    return got
"""


def test_the_memory_limit_holds_for_the_whole_process_tree(sandbox):
    """``memory_mb=200``: twelve processes of 150 MB each cannot all live at once.
    Where no cgroup can be delegated the run says the limits are per process only."""
    notes = " ".join(sandbox.zygote().notes)
    if "limits per student" not in notes:
        assert "limits per process only" in notes, notes
        pytest.skip("no cgroup here: " + notes)
    alive = sandbox.student(ALLOCATE, limits=Limits(memory_mb=200, processes=32))
    assert alive * 150 <= 600, alive  # the zygote's heap, copied on write, and 200 MB


def test_the_run_says_which_enforcement_holds(sandbox):
    notes = " ".join(sandbox.zygote().notes)
    assert "limits per student" in notes or "limits per process only" in notes, notes
    if os.geteuid() == 0:  # root can always make cgroups on the course's machines
        assert "limits per student" in notes, notes


# -------------------------------------------------------------------------------------
# as a created user, with everything under its home


def test_as_a_created_user_nothing_passes_from_one_notebook_to_the_next():
    """The same attacks in one class graded by a created user's `autograder grade`: the
    giver's answers reach nobody, and the run reports which limits were in force."""
    try:
        layout = as_created_user("sandbox-root-test")
    except PermissionError as exc:  # e.g. pyenv's interpreter under a 0700 /root
        pytest.skip(f"the created user cannot run this interpreter ({exc})")
    course = layout.home / "course"
    answer = repr("import numpy as np\n" + _solution("entropy"))
    giver = extra_cells(filled_notebook(A), f"ANSWER = {answer}\n{PASS_ANSWERS}", at=50)
    taker = extra_cells(exercise_notebook(A), TAKE_ANSWERS, at=50)
    write_notebook(giver, course / "a-giver.ipynb")
    write_notebook(taker, course / "b-taker.ipynb")
    layout.own(layout.home)
    proc = layout.run(["grade", str(course), "--assignment", A, "--format", "json",
                       "--jobs", "1"])
    assert proc.returncode == 0, proc.stderr
    assert "NOT isolated" not in proc.stderr, proc.stderr
    assert "limits per" in proc.stderr, proc.stderr
    got = {s["student"]: s for s in json.loads(proc.stdout)["submissions"]}
    assert got["a-giver"]["score"] == SPEC.max_score
    assert got["b-taker"]["functions"]["entropy"]["score"] == 0


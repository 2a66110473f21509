"""Grade many notebooks: a pool of grading workers, resumable, with progress and reports.

``grade_all`` starts ``jobs`` grading workers (:mod:`autograder.judge`), each of which grades
one notebook at a time in a confined student process (:mod:`autograder.session`). Results come
back as soon as each notebook is done; the caller records them (ledger, gradebook, feedback)
right away, so a run that is killed loses nothing already written, and a re-run skips every
notebook whose content and grader are unchanged (:class:`Ledger`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .confine import Limits
from .reference import REPO_ROOT, solution_notebook, solutions_dir
from .spec import HIDDEN, PUBLIC, REGISTRY, Assignment

NOTEBOOK_TIMEOUT = 300.0  # seconds for one whole notebook, cells and checks together
CELL_TIMEOUT = 30.0
SANDBOX_UID_BASE = 61000  # as root, worker k runs student code as uid 61000 + k


class GraderError(RuntimeError):
    """The grader itself cannot run (e.g. no reference solution): not the student's fault."""


@dataclass
class SubmissionResult:
    student: str
    notebook: str
    score: int
    max_score: int
    functions: dict = field(default_factory=dict)  # name -> {score, max_score, messages}
    notes: list = field(default_factory=list)  # problems running the notebook itself
    status: str = "ok"  # ok | unreadable | timeout | crashed
    sha256: str = ""
    seconds: float = 0.0  # wall-clock time for this notebook
    check_seconds: float = 0.0  # of which inside the checks
    isolation: list = field(default_factory=list)  # what confinement could not be applied
    skipped: bool = False  # taken from the ledger: unchanged since it was graded

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "SubmissionResult":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def grader_key(assignment: Assignment, tiers: tuple) -> str:
    """Changes whenever the checks or the reference solution change (then everything is
    regraded)."""
    h = hashlib.sha256(",".join(tiers).encode())
    module = sys.modules.get(REGISTRY[assignment.name])
    for path in (getattr(module, "__file__", None), solution_notebook(assignment.name)):
        if path and Path(path).exists():
            h.update(Path(path).read_bytes())
    return h.hexdigest()[:16]


class Ledger:
    """An append-only JSON-lines record of finished results, flushed after each one."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.entries: dict = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[entry["key"]] = entry
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a line cut short when a run was killed

    def lookup(self, key: str, sha256: str, grader: str) -> SubmissionResult | None:
        entry = self.entries.get(key)
        if entry and entry.get("sha256") == sha256 and entry.get("grader") == grader:
            result = SubmissionResult.from_json(entry["result"])
            result.skipped = True
            return result
        return None

    def record(self, key: str, grader: str, result: SubmissionResult) -> None:
        entry = {"key": key, "sha256": result.sha256, "grader": grader,
                 "result": result.to_json()}
        self.entries[key] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


# ---------------------------------------------------------------------------------------------
# The pool of grading workers


def _keep_paths() -> list:
    """What a student process must still be able to read: the Python installation."""
    keep = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(__file__).resolve().parent),
            str(Path(sys.executable).resolve().parent)}
    keep.update(p for p in sys.path if p and os.path.isdir(p) and Path(p).resolve() != REPO_ROOT)
    return sorted(keep)


def secret_paths(extra: list = ()) -> list:
    """What a student process must not see: solutions, tests, history, home, and ``extra``
    (the submissions, the course directory, the output directory)."""
    paths = [solutions_dir(), REPO_ROOT / "solutions", REPO_ROOT / "tests", REPO_ROOT / ".git",
             Path.home(), *extra]
    return sorted({str(Path(p).resolve()) for p in paths})


class _Worker:
    def __init__(self, slot: int, config: dict) -> None:
        self.slot = slot
        config = dict(config, uid=(SANDBOX_UID_BASE + slot) if os.geteuid() == 0 else None)
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                   MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autograder.judge", json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            cwd=tempfile.gettempdir(), env=env, start_new_session=True, text=True, bufsize=1)
        self.job = None
        self.started = 0.0
        self.ready = False

    def send(self, job: dict) -> None:
        self.job = job
        self.started = time.monotonic()
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()

    def error_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-2000:]

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self.stderr.close()


def grade_all(submissions: list, assignment: Assignment, *, jobs: int = 0,
              tiers=(PUBLIC, HIDDEN), timeout: float = NOTEBOOK_TIMEOUT,
              cell_timeout: float = CELL_TIMEOUT, limits: Limits | None = None,
              secret: list = (), ledger: Ledger | None = None, force: bool = False,
              on_result=None) -> list:
    """Grade ``[(student, path)]``; returns results in the same order.

    ``on_result(result)`` is called as each one is known (including those taken unchanged
    from ``ledger``). Raises :class:`GraderError` if the graders cannot start.
    """
    tiers = tuple(tiers)
    limits = limits or Limits()
    gkey = grader_key(assignment, tiers)
    results: list = [None] * len(submissions)
    pending = []
    max_score = sum(gf.points(t) for gf in assignment.functions for t in tiers)
    for i, (student, path) in enumerate(submissions):
        path = Path(path)
        try:
            digest = sha256_of(path)
        except OSError:
            digest = ""
        cached = None if (force or ledger is None) else ledger.lookup(_key(student, path),
                                                                      digest, gkey)
        if cached is not None:
            results[i] = cached
            if on_result:
                on_result(cached)
            continue
        pending.append({"id": i, "path": str(path.resolve()), "student": student,
                        "sha256": digest, "timeout": timeout,
                        "hide": secret_paths([*secret, path.resolve().parent]),
                        "keep": _keep_paths()})
    if not pending:
        return results

    config = {"assignment": assignment.name, "tiers": list(tiers), "limits": limits.to_json(),
              "cell_timeout": cell_timeout}
    n_workers = max(1, min(jobs or os.cpu_count() or 1, len(pending)))
    sel = selectors.DefaultSelector()
    workers = []

    def start(slot: int) -> _Worker:
        w = _Worker(slot, config)
        sel.register(w.proc.stdout, selectors.EVENT_READ, w)
        return w

    def finish(w: _Worker, record: dict) -> None:
        job = w.job
        w.job = None
        result = _result_from(record, job, assignment, tiers, max_score)
        results[job["id"]] = result
        if on_result:  # first: the ledger must only list results that were fully recorded
            on_result(result)
        if ledger is not None:
            ledger.record(_key(job["student"], Path(job["path"])), gkey, result)

    try:
        workers = [start(k) for k in range(n_workers)]
        queue = list(reversed(pending))
        while any(r is None for r in results):
            for key, _ in sel.select(timeout=1.0):
                w = key.data
                line = w.proc.stdout.readline()
                if not line:  # the worker died: its notebook gets a result, the slot a new one
                    sel.unregister(w.proc.stdout)
                    text = w.error_text()
                    w.kill()
                    if not w.ready:
                        raise GraderError(f"a grading worker failed to start:\n{text}")
                    if w.job is not None:
                        finish(w, {"status": "crashed", "notes": [
                            "the grader's worker process died while grading this notebook."]})
                    workers[w.slot] = start(w.slot)
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # not a result (the worker keeps its stdout for results only)
                if "fatal" in record:
                    raise GraderError(record["fatal"])
                if record.get("ready"):
                    w.ready = True
                    if queue:
                        w.send(queue.pop())
                else:
                    job = w.job
                    w.job = None
                    if queue:  # keep the worker busy while this result is being recorded
                        w.send(queue.pop())
                    w_done = _Done(job)
                    finish(w_done, record)
            for w in list(workers):
                if w.job is not None and time.monotonic() - w.started > w.job["timeout"] + 60:
                    sel.unregister(w.proc.stdout)
                    w.kill()
                    finish(w, {"status": "timeout", "notes": [
                        f"grading was stopped after {w.job['timeout']:g} s (the time limit)."]})
                    workers[w.slot] = start(w.slot)
                if w.ready and w.job is None and queue:
                    w.send(queue.pop())
    finally:
        for w in workers:
            try:
                w.proc.stdin.close()
            except OSError:
                pass
            w.kill()
    return results


class _Done:
    """A finished job, detached from its worker (which may already have the next one)."""

    def __init__(self, job: dict) -> None:
        self.job = job


def _key(student: str, path: Path) -> str:
    return f"{student}::{Path(path).name}"


def _result_from(record: dict, job: dict, assignment: Assignment, tiers: tuple,
                 max_score: int) -> SubmissionResult:
    result = SubmissionResult(student=job["student"], notebook=job["path"], score=0,
                              max_score=max_score, status=record.get("status", "ok"),
                              notes=list(record.get("notes", [])), sha256=job["sha256"],
                              seconds=float(record.get("seconds", 0.0)),
                              check_seconds=float(record.get("check_seconds", 0.0)),
                              isolation=list(record.get("isolation", [])))
    functions = record.get("functions", {})
    for gf in assignment.functions:
        if gf.name in functions:
            result.functions[gf.name] = functions[gf.name]
        else:
            why = ("the notebook could not be read" if result.status == "unreadable"
                   else "grading of this notebook stopped before this function was reached")
            result.functions[gf.name] = {"score": 0,
                                         "max_score": sum(gf.points(t) for t in tiers),
                                         "messages": [f"not graded: {why}.",
                                                      f"To review: {gf.section}."]}
    result.score = sum(f["score"] for f in result.functions.values())
    return result


def grade_notebook(path: str | os.PathLike, assignment: Assignment, *, student: str | None = None,
                   tiers=(PUBLIC, HIDDEN), timeout: float = NOTEBOOK_TIMEOUT) -> SubmissionResult:
    """Grade one notebook (a worker is started for it)."""
    path = Path(path)
    return grade_all([(student or path.stem, path)], assignment, jobs=1, tiers=tiers,
                     timeout=timeout)[0]


# ---------------------------------------------------------------------------------------------
# Finding submissions


def find_submissions(root: str | os.PathLike, assignment: str) -> list:
    """``[(student, notebook_path)]`` for a notebook, a folder, or an nbgrader ``submitted/`` tree.

    In a tree laid out as ``<student>/<assignment>/<notebook>.ipynb`` the student is the folder
    name; otherwise it is the notebook's path relative to ``root`` without the suffix.
    """
    root = Path(root)
    if root.is_file():
        return [(_student_for(root, root.parent, assignment), root)]
    if not root.is_dir():
        raise FileNotFoundError(f"no such notebook or folder: {root}")
    found = []
    for nb in sorted(root.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in nb.parts:
            continue
        found.append((_student_for(nb, root, assignment), nb))
    return found


def _student_for(nb: Path, root: Path, assignment: str) -> str:
    if nb.parent.name == assignment and nb.parent.parent.name:
        return nb.parent.parent.name  # nbgrader layout: <student>/<assignment>/<notebook>
    try:
        rel = nb.relative_to(root)
    except ValueError:
        rel = Path(nb.name)
    return str(rel.with_suffix(""))


# ---------------------------------------------------------------------------------------------
# Reports


def to_json(assignment: Assignment, results: list) -> str:
    return json.dumps({"assignment": assignment.name,
                       "max_score": assignment.max_score,
                       "submissions": [r.to_json() for r in results]}, indent=2,
                      ensure_ascii=False)


def to_csv(assignment: Assignment, results: list) -> str:
    names = [gf.name for gf in assignment.functions]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["student", "notebook", "score", "max_score", "status", *names])
    for r in results:
        writer.writerow([r.student, r.notebook, r.score, r.max_score, r.status,
                         *(r.functions[n]["score"] for n in names)])
    return buf.getvalue()

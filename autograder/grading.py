"""Grade notebooks in child processes and collect the results.

Each notebook is graded by ``python -m autograder.worker`` in its own process with a wall-clock
limit, so a notebook that loops, crashes or exits still gets a result: zero for what did not
finish, credit for every function whose checks completed before that.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .spec import HIDDEN, PUBLIC, Assignment

NOTEBOOK_TIMEOUT = 300.0  # seconds for one whole notebook, cells and checks together


@dataclass
class SubmissionResult:
    student: str
    notebook: str
    score: int
    max_score: int
    functions: dict = field(default_factory=dict)  # name -> {score, max_score, messages}
    notes: list = field(default_factory=list)  # problems running the notebook itself
    status: str = "ok"  # ok | unreadable | timeout | crashed

    def to_json(self) -> dict:
        return asdict(self)


def grade_notebook(path: str | os.PathLike, assignment: Assignment, *, student: str | None = None,
                   tiers=(PUBLIC, HIDDEN), timeout: float = NOTEBOOK_TIMEOUT) -> SubmissionResult:
    path = Path(path)
    records = []
    with tempfile.TemporaryDirectory(prefix="autograder-") as tmp:
        results_file = os.path.join(tmp, "results.jsonl")
        open(results_file, "w").close()
        env = dict(os.environ, MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
        cmd = [sys.executable, "-m", "autograder.worker", assignment.name, str(path.resolve()),
               results_file, ",".join(tiers)]
        started = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=str(path.resolve().parent), env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            returncode = proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            returncode, timed_out = None, True
        elapsed = time.monotonic() - started
        with open(results_file, encoding="utf-8") as fh:
            for line in fh:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # a line cut short by a kill
        log_tail = _tail(results_file + ".log")
    return _assemble(path, assignment, student or path.stem, tiers, records, returncode,
                     timed_out, elapsed, log_tail)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()
    proc.wait()


def _tail(path: str, limit: int = 600) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - limit))
            return fh.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _assemble(path, assignment, student, tiers, records, returncode, timed_out, elapsed,
              log_tail) -> SubmissionResult:
    result = SubmissionResult(student=student, notebook=str(path), score=0,
                              max_score=sum(gf.points(t) for gf in assignment.functions
                                            for t in tiers))
    fatal = [r["message"] for r in records if r.get("kind") == "fatal"]
    if fatal:
        raise RuntimeError(fatal[0])  # the grader's own set-up is broken: not the student's fault
    running = None
    for r in records:
        kind = r.get("kind")
        if kind == "unreadable":
            result.status = "unreadable"
            result.notes.append(r["message"])
        elif kind == "notes":
            result.notes.extend(r["notes"])
        elif kind == "started":
            running = r["name"]
        elif kind == "function":
            running = None
            result.functions[r["name"]] = {"score": r["score"], "max_score": r["max_score"],
                                           "messages": r["messages"]}
    done = any(r.get("kind") == "done" for r in records) or result.status == "unreadable"
    if not done:
        if timed_out:
            result.status = "timeout"
            reason = f"grading was stopped after {elapsed:.0f} s (the time limit)"
        else:
            result.status = "crashed"
            reason = f"the notebook ended the grading process (exit code {returncode})"
        where = (f"while checking `{running}`" if running
                 else "while its cells were running" if not any(r.get("kind") == "notes"
                                                               for r in records)
                 else "")
        result.notes.append(f"{reason} {where}".strip() + "."
                            + (f" Last output: {log_tail[-300:]!r}" if log_tail else ""))
    for gf in assignment.functions:
        if gf.name not in result.functions:
            if result.status == "unreadable":
                msg = "not graded: the notebook could not be read."
            elif gf.name == running:
                msg = ("did not finish: " + ("it ran past the time limit."
                                             if timed_out else "the process crashed."))
            else:
                msg = "not graded: grading stopped before this function was reached."
            result.functions[gf.name] = {
                "score": 0, "max_score": sum(gf.points(t) for t in tiers),
                "messages": [msg, f"To review: {gf.section}."]}
    result.score = sum(f["score"] for f in result.functions.values())
    return result


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


def grade_all(submissions: list, assignment: Assignment, jobs: int = 1,
              timeout: float = NOTEBOOK_TIMEOUT, progress=None) -> list:
    def one(item):
        student, nb = item
        res = grade_notebook(nb, assignment, student=student, timeout=timeout)
        if progress:
            progress(res)
        return res

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, submissions))


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

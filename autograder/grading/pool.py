"""Grade many notebooks: a pool of grading workers, resumable, with progress and reports.

``grade_all`` starts ``jobs`` grading workers (:mod:`autograder.grading.judge`), each of which
grades one notebook at a time in a sandboxed student process (:mod:`autograder.sandbox`). Results
come back as soon as each notebook is done; the caller records them (ledger, gradebook, feedback)
right away, so a run that is killed loses nothing already written, and a re-run skips every
notebook whose content and grader are unchanged (:class:`Ledger`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import selectors
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..evaluate import not_graded
from ..notebook import read_regular_file
from ..course import Course
from ..results import FunctionResult, Status, SubmissionResult
from ..sandbox.confine import Limits
from ..timing import CELL_CPU, NOTEBOOK_CPU, wall_backstop
from ..sandbox.isolation import MALLOC_ENV, PACKAGE, Isolation, detect, module_command
from ..sandbox.session import ForkServer
from ..spec import HIDDEN, PUBLIC, Assignment
from .interrupt import uninterrupted
from .submissions import Submission, clean_text

NOTEBOOK_TIMEOUT = NOTEBOOK_CPU  # CPU seconds for one whole notebook, cells and checks together
CELL_TIMEOUT = CELL_CPU
WATCHDOG_GRACE = 30.0  # a worker silent this long past a notebook's limit is restarted
MAX_NOTES = 20


class GraderError(RuntimeError):
    """The grader itself cannot run (e.g. no reference solution): not the student's fault."""


@functools.lru_cache(maxsize=None)
def isolation() -> Isolation:
    """How this machine isolates student code (probed afresh at each call: a run asks once)."""
    return detect()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(read_regular_file(Path(path))).hexdigest()


def grader_key(assignment: Assignment, tiers: tuple, settings: dict,
               course: Course | None = None) -> str:
    """Changes whenever anything that decides a grade changes: the grader's code (every module
    of the package, checks and harness included, and the course's own checks), the reference
    solution, the tiers, the time and resource limits and the isolation mode. Then everything
    is regraded."""
    course = course or Course.find()
    h = hashlib.sha256(json.dumps([list(tiers), settings], sort_keys=True).encode())
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE)).encode())
        h.update(path.read_bytes())
    for path in course.check_files():
        h.update(path.read_bytes())
    solution = course.solution_notebook(assignment.name)
    if solution.exists():
        h.update(solution.read_bytes())
    return h.hexdigest()[:16]


# An isolation note starting with one of these means the sandbox did not hold for that
# notebook: its result, and every result of the same run, are never reused by a later run.
BREACH_PREFIXES = ("sandbox failure", "breach")


class Ledger:
    """An append-only JSON-lines record of finished results, flushed after each one.

    An entry is reused only for the same notebook content, the same grader and the same
    destination (where the result was recorded: the gradebook's URL, or the output folder), and
    only if its run kept isolation: a run that was not isolated, or in which the sandbox failed,
    appends a ``{"breached": run}`` line, and its entries are never reused. The caller checks
    that a reused result is still present at the destination (a recreated gradebook has lost
    it)."""

    def __init__(self, path: Path, destination: str = "") -> None:
        self.path = Path(path)
        self.destination = destination
        self.run = os.urandom(8).hex()
        self.entries: dict = {}
        self.breached_runs: set = set()
        if self.path.exists():
            for line in read_regular_file(self.path, 2**31).decode("utf-8", "replace") \
                    .splitlines():
                try:
                    entry = json.loads(line)
                    if "breached" in entry:
                        self.breached_runs.add(entry["breached"])
                    else:
                        self.entries[entry["key"]] = entry
                except (ValueError, RecursionError, KeyError, TypeError):
                    continue  # a line cut short when a run was killed

    def _entry(self, key: str, sha256: str, grader: str) -> dict | None:
        entry = self.entries.get(key)
        if entry and entry.get("sha256") == sha256 and entry.get("grader") == grader \
                and entry.get("destination", "") == self.destination:
            return entry
        return None

    def untrusted(self, key: str, sha256: str, grader: str) -> bool:
        """Whether the matching entry exists but came from a run whose isolation broke."""
        entry = self._entry(key, sha256, grader)
        return bool(entry) and not self._trusted(entry)

    def _trusted(self, entry: dict) -> bool:
        return entry.get("trusted", False) is True and entry.get("run") not in self.breached_runs

    def lookup(self, key: str, sha256: str, grader: str) -> SubmissionResult | None:
        entry = self._entry(key, sha256, grader)
        if entry and self._trusted(entry):
            try:
                result = SubmissionResult.from_json(entry["result"])
            except (KeyError, TypeError, ValueError):
                return None
            result.skipped = True
            return result
        return None

    def record(self, key: str, grader: str, result: SubmissionResult,
               trusted: bool = True) -> None:
        entry = {"key": key, "sha256": result.sha256, "grader": grader,
                 "destination": self.destination, "run": self.run,
                 "trusted": bool(trusted) and not breached(result),
                 "result": result.to_json()}
        self.entries[key] = entry
        if not entry["trusted"]:
            self.mark_breached()
        self._append(entry)

    def mark_breached(self) -> None:
        """No result of this run is reused by a later one."""
        if self.run not in self.breached_runs:
            self.breached_runs.add(self.run)
            self._append({"breached": self.run})

    def _append(self, entry: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # ASCII JSON: a lone surrogate (a file name that is not UTF-8) is written as an escape
        # and read back unchanged, where UTF-8 could not encode it.
        with open(self.path, "a", encoding="ascii") as fh:
            fh.write(json.dumps(entry) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def breached(result: SubmissionResult) -> bool:
    """Whether the sandbox did not hold while this result was made."""
    return any(str(n).startswith(BREACH_PREFIXES) for n in result.isolation)


# ---------------------------------------------------------------------------------------------
# The pool of grading workers


class _Worker:
    def __init__(self, slot: int, config: dict, forks: ForkServer) -> None:
        self.slot = slot
        zygote = forks.connect(slot)
        # A private, empty working directory: nothing a student wrote can be imported from it.
        self.home = tempfile.mkdtemp(prefix="autograder-judge-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg", **MALLOC_ENV)
        self.stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                [*module_command("autograder.grading.judge"),
                 json.dumps(dict(config, zygote_fd=zygote.fileno()))],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                cwd=self.home, env=env, start_new_session=True, text=True, bufsize=1,
                pass_fds=[zygote.fileno()])
        finally:
            zygote.close()  # the worker's copy; the zygote's copy then ends with the worker
        self.job = None
        self.started = 0.0
        self.ready = False
        self.dead = False

    def send(self, job: dict) -> bool:
        """Give the worker a job; False if it has died (the job is not taken)."""
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        self.job = job
        self.started = time.monotonic()
        return True

    def error_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-2000:]

    def kill(self) -> None:
        self.dead = True
        try:
            os.killpg(self.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self.stderr.close()
        import shutil

        shutil.rmtree(self.home, ignore_errors=True)


@dataclass
class Settings:
    """What a run may be configured with (and what the resume key depends on)."""

    timeout: float = NOTEBOOK_TIMEOUT
    cell_timeout: float = CELL_TIMEOUT
    limits: Limits = field(default_factory=Limits)

    def to_json(self) -> dict:
        return {"timeout": self.timeout, "cell_timeout": self.cell_timeout,
                "limits": self.limits.to_json()}


def grade_all(submissions: list, assignment: Assignment, *, jobs: int = 0,
              tiers=(PUBLIC, HIDDEN), settings: Settings | None = None,
              ledger: Ledger | None = None, force: bool = False, on_result=None,
              iso: Isolation | None = None, prepare=None, still_recorded=None,
              course: Course | None = None, cluster=None) -> list:
    """Grade a list of :class:`Submission`; returns results in the same order.

    ``on_result(result)`` is called as each one is known (including those taken unchanged
    from ``ledger``). ``prepare()``, if given, runs in a thread once the workers are starting,
    and finishes before the first ``on_result``: the caller's own set-up (opening the
    gradebook) overlaps with theirs and with the first notebooks; what it raises is raised here.
    ``still_recorded(result)``, if given, is asked (after ``prepare``) about every result the
    ledger would reuse: one that is no longer where results are recorded (a recreated
    gradebook) is graded again. Results of a run that is not isolated are never reused.
    ``course``: where the assignment's checks and reference come from (default: the course
    found from the working directory). ``cluster``: a :class:`~.cluster.ClusterTarget` to grade
    on a Dask cluster instead of this machine's pool (same plan, ledger and recording; the
    driver alone records). Raises :class:`GraderError` if the graders cannot start, or the
    cluster is lost (what was recorded until then stays in the ledger).
    """
    course = course or Course.find()
    tiers = tuple(tiers)
    settings = settings or Settings()
    iso = iso or isolation()
    gkey = grader_key(assignment, tiers, dict(settings.to_json(), isolation=iso.mode), course)
    max_score = sum(gf.points(t) for gf in assignment.functions for t in tiers)

    def result_of(record: dict, i: int, digest: str) -> SubmissionResult:
        return _result_from(record, submissions[i], digest, assignment, tiers, max_score)

    recorder = _Recorder(submissions, ledger, gkey, iso.isolated, on_result, prepare)
    known, pending = _plan(submissions, ledger if not force else None, gkey, settings,
                           result_of)
    if still_recorded is not None and any(not record_it for _, _, record_it in known):
        # Reuse only what is still at the destination: a recreated gradebook, or another
        # --db, has none of the ledger's results, and then everyone is graded again.
        recorder.begin_prepare()
        recorder.check_prepared(wait=True)
        known, pending = _still_recorded(known, pending, still_recorded, settings, submissions,
                                         result_of)
    if not pending:
        recorder.begin_prepare()
        for args in known:
            recorder.done(*args)
        recorder.tell(wait=True)
        return recorder.results

    config = {"assignment": assignment.name, "course": course.to_json(), "tiers": list(tiers),
              "limits": settings.limits.to_json(), "cell_timeout": settings.cell_timeout,
              "isolation": iso.to_json()}
    heavy = _heavy_packages([job["path"] for job in pending])
    if cluster is not None:
        from .cluster import DaskPool

        pool = DaskPool(cluster, config, iso, heavy, course, assignment.name,
                        task_key=lambda job: (_key(submissions[job["id"]]), gkey))
    else:
        pool = _Pool(config, iso, heavy)
    try:
        pool.start(max(1, min(jobs or os.cpu_count() or 1, len(pending))))
        recorder.begin_prepare()
        for args in known:
            recorder.done(*args)

        def finish(job: dict, record: dict) -> None:
            if job.get("isolation"):
                record = dict(record,
                              isolation=list(record.get("isolation", [])) + job["isolation"])
            recorder.done(job["id"], result_of(record, job["id"], job["sha256"]), True)

        try:
            pool.run(pending, finish, until=lambda: recorder.complete,
                     between=lambda: (recorder.check_prepared(wait=False),
                                      recorder.tell(wait=False)))
        except GraderError:
            recorder.tell(wait=True)  # what was graded before the failure is recorded
            raise
        recorder.tell(wait=True)
    finally:
        pool.close()
    return recorder.results


class _Recorder:
    """Tells each result to the caller (``on_result``) and then to the ledger, in the order they
    arrive, but only once the caller's ``prepare()`` (run in a thread) has finished: until then
    results wait in a backlog, and the pool goes on grading."""

    def __init__(self, submissions: list, ledger: Ledger | None, gkey: str, trusted: bool,
                 on_result, prepare) -> None:
        self.submissions, self.ledger, self.gkey, self.trusted = (submissions, ledger, gkey,
                                                                  trusted)
        self.on_result, self.prepare = on_result, prepare
        self.results: list = [None] * len(submissions)
        self.backlog: list = []  # (index, result, record it?) not told yet
        self.prepared: list = []  # the thread running prepare(), then what it raised

    @property
    def complete(self) -> bool:
        return all(r is not None for r in self.results)

    def begin_prepare(self) -> None:
        def run() -> None:
            try:
                self.prepare()
            except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
                self.prepared.append(exc)
        if self.prepare and not self.prepared:
            self.prepared.append(threading.Thread(target=run, name="prepare", daemon=True))
            self.prepared[0].start()

    def check_prepared(self, wait: bool) -> None:
        if self.prepared and (wait or not self.prepared[0].is_alive()):
            self.prepared[0].join()
            if len(self.prepared) > 1:
                raise self.prepared[1]

    def done(self, i: int, result: SubmissionResult, record_it: bool) -> None:
        self.results[i] = result
        self.backlog.append((i, result, record_it))
        self.tell(wait=False)

    def tell(self, wait: bool) -> None:
        """Tell the results in the backlog, once prepare() has finished (``wait``: wait for
        it)."""
        if not wait and self.prepared and self.prepared[0].is_alive():
            return
        self.check_prepared(wait=True)
        while self.backlog:
            with uninterrupted():  # Ctrl-C: after this result is recorded and in the ledger
                self._tell_one(*self.backlog.pop(0))

    def _tell_one(self, i: int, result: SubmissionResult, record_it: bool) -> None:
        ledger = self.ledger
        if self.on_result:  # first: the ledger only lists results that were fully recorded
            self.on_result(result)
        if record_it and ledger is not None and result.status != Status.ERROR:
            # errors are retried next run; a run without isolation is never reused
            ledger.record(_key(self.submissions[i]), self.gkey, result,
                          trusted=self.trusted)
        elif record_it and ledger is not None and breached(result):
            ledger.mark_breached()


def _plan(submissions: list, ledger: Ledger | None, gkey: str, settings: Settings,
          result_of) -> tuple:
    """``(known, pending)``: results known without grading (a file that is not a notebook; one
    the ledger holds, unchanged), as ``(index, result, record it?)``, and the jobs for the
    rest. ``ledger``: None to regrade everything."""
    known, pending = [], []
    for i, sub in enumerate(submissions):
        try:
            digest = sha256_of(sub.path)
            problem = sub.problem
        except OSError as exc:
            digest, problem = "", sub.problem or f"cannot read it: {exc.strerror or exc}"
        if problem:
            problem = clean_text(problem)
            digest = "problem:" + hashlib.sha256(problem.encode()).hexdigest()
        cached = None if ledger is None else ledger.lookup(_key(sub), digest, gkey)
        if cached is not None:
            known.append((i, cached, False))
        elif problem:
            known.append((i, result_of({"status": "unreadable", "notes": [problem]}, i, digest),
                          True))
        else:
            job = {"id": i, "path": str(sub.path.absolute()), "sha256": digest,
                   "timeout": settings.timeout}
            if ledger is not None and ledger.untrusted(_key(sub), digest, gkey):
                job["isolation"] = ["graded again: the earlier result came from a run whose "
                                    "isolation was breached"]
            pending.append(job)
    return known, pending


def _still_recorded(known: list, pending: list, still_recorded, settings: Settings,
                    submissions: list, result_of) -> tuple:
    """``(known, pending)`` without the ledger's results that are no longer recorded where
    they were (``still_recorded(result)`` is False): those are recorded or graded again."""
    kept, pending = [], list(pending)
    for i, cached, record_it in known:
        if record_it or still_recorded(cached):
            kept.append((i, cached, record_it))
        elif cached.sha256.startswith("problem:"):  # not gradable: recorded again as is
            kept.append((i, result_of({"status": "unreadable", "notes": cached.notes}, i,
                                      cached.sha256), True))
        else:
            pending.append({"id": i, "path": str(submissions[i].path.absolute()),
                            "sha256": cached.sha256, "timeout": settings.timeout})
    pending.sort(key=lambda job: job["id"])
    return kept, pending


class _Pool:
    """The grading workers, on one fork server that imports what student code needs once for
    all of them (every student has a PID namespace and a /proc of its own in every mode,
    tests/test_sandbox_root.py, so no student sees another's processes or the grader's)."""

    def __init__(self, config: dict, iso: Isolation, heavy: list) -> None:
        self.config, self.iso, self.heavy = config, iso, heavy
        self.sel = selectors.DefaultSelector()
        self.workers: list = []
        self.server: ForkServer | None = None

    def start(self, n: int) -> None:
        for k in range(n):  # one by one: close() stops those started if a later one fails
            self.workers.append(self._start(k))

    def _start(self, slot: int) -> _Worker:
        if self.server is None or not self.server.alive():
            if self.server is not None:
                self.server.close()
            self.server = ForkServer(self.iso, self.heavy)
        w = _Worker(slot, self.config, self.server)
        self.sel.register(w.proc.stdout, selectors.EVENT_READ, w)
        return w

    def _retire(self, w: _Worker) -> None:
        try:
            self.sel.unregister(w.proc.stdout)
        except (KeyError, ValueError):
            pass
        w.kill()

    def _replace(self, w: _Worker) -> None:
        self._retire(w)
        self.workers[w.slot] = self._start(w.slot)

    def run(self, pending: list, finish, until, between) -> None:
        """Feed ``pending`` jobs to the workers and ``finish(job, record)`` each, until
        ``until()``; ``between()`` runs at least once a second. A worker that dies or hangs
        past a notebook's wall-clock backstop is replaced, and its notebook gets a result."""
        queue = list(reversed(pending))

        def feed(w: _Worker) -> None:
            while queue and not w.dead and w.job is None:
                job = queue.pop()
                if not w.send(job):
                    queue.append(job)
                    return

        while not until():
            between()  # e.g. the gradebook cannot be used: stop at once
            for key, _ in self.sel.select(timeout=1.0):
                w = key.data
                if w.dead:
                    continue
                line = w.proc.stdout.readline()
                if not line:  # the worker died: its notebook gets a result, the slot a new one
                    text = w.error_text()
                    job, ready = w.job, w.ready
                    self._retire(w)
                    if not ready:
                        raise GraderError(f"a grading worker failed to start:\n{text}")
                    if job is not None:
                        finish(job, died_record(text))
                    self.workers[w.slot] = self._start(w.slot)
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # not a result (the worker keeps its stdout for results only)
                if "fatal" in record:
                    raise GraderError(record["fatal"])
                if record.get("ready"):
                    w.ready = True
                elif w.job is not None and record.get("id") == w.job["id"]:
                    job, w.job = w.job, None
                    feed(w)  # keep the worker busy while this result is being recorded
                    finish(job, record)
                feed(w)
            now = time.monotonic()
            for w in list(self.workers):
                if w.job is not None and now - w.started > (wall_backstop(w.job["timeout"])
                                                            + WATCHDOG_GRACE):
                    job = w.job
                    self._replace(w)
                    finish(job, stopped_record(job))
                elif w.ready:
                    feed(w)

    def close(self) -> None:
        for w in self.workers:
            try:
                w.proc.stdin.close()
            except OSError:
                pass
            if not w.dead:
                w.kill()
        if self.server is not None:
            self.server.close()


def died_record(stderr: str) -> dict:
    """The result of a notebook whose grading worker died under it (the local pool's judge, or
    a Dask worker's)."""
    return {"status": "error", "notes": ["the grader's worker process died while grading this "
                                         "notebook (not your doing)."],
            "isolation": [stderr[-500:]]}


def stopped_record(job: dict) -> dict:
    """The result of a notebook whose worker stayed silent past the watchdog's limit."""
    return {"status": "timeout",
            "notes": [f"grading was stopped after {job['timeout']:g} s (the time limit)."]}


def _heavy_packages(paths: list) -> list:
    """Which slow packages (torch, scipy, ...) the code cells of these notebooks mention: the
    zygote imports those once for every student process, and no others."""
    from ..notebook import NotebookError, read_cells
    from ..sandbox.zygote import heavy_packages

    sources = []
    for path in paths:
        try:
            sources += [cell.source for cell in read_cells(path)]
        except (NotebookError, OSError):
            continue
    return heavy_packages(sources)


def _key(sub: Submission) -> str:
    return f"{sub.student}::{sub.path.name}"


def _clip(texts, limit: int = MAX_NOTES, width: int = 500) -> list:
    if not isinstance(texts, (list, tuple)):
        texts = [texts]
    return [clean_text(t)[:width] for t in list(texts)[:limit]]


def _clean_function(data) -> dict:
    """A function's result from a worker, with every text cleaned: failure messages quote the
    student's exceptions, which may hold lone surrogates."""
    data = dict(data)
    data["failures"] = [{k: clean_text(v) if isinstance(v, str) else v for k, v in f.items()}
                        for f in data.get("failures", []) if isinstance(f, dict)]
    if isinstance(data.get("review"), str):
        data["review"] = clean_text(data["review"])
    return data


def _result_from(record: dict, sub: Submission, digest: str, assignment: Assignment,
                 tiers: tuple, max_score: int) -> SubmissionResult:
    result = SubmissionResult(student=clean_text(sub.student), notebook=str(sub.path), score=0,
                              max_score=max_score, status=record.get("status", "ok"),
                              notes=_clip(record.get("notes", [])), sha256=digest,
                              seconds=float(record.get("seconds", 0.0)),
                              check_seconds=float(record.get("check_seconds", 0.0)),
                              cell_seconds=float(record.get("cell_seconds", 0.0)),
                              isolation=_clip(record.get("isolation", [])))
    functions = record.get("functions", {})
    for gf in assignment.functions:
        if gf.name in functions:
            fr = FunctionResult.from_json(_clean_function(functions[gf.name]))
            fr.score = min(fr.score, fr.max_score)
        else:
            why = {"unreadable": "the notebook could not be read",
                   "error": "the grader failed on this notebook"}.get(
                result.status, "grading of this notebook stopped before this function was "
                               "reached")
            fr = not_graded(gf, tiers, why)
        result.functions[gf.name] = fr
    result.score = sum(f.score for f in result.functions.values())
    return result


def grade_notebook(path: str | os.PathLike, assignment: Assignment, *, student: str | None = None,
                   tiers=(PUBLIC, HIDDEN), timeout: float = NOTEBOOK_TIMEOUT,
                   course: Course | None = None) -> SubmissionResult:
    """Grade one notebook (a worker is started for it)."""
    path = Path(path)
    return grade_all([Submission(student or path.stem, path)], assignment, jobs=1, tiers=tiers,
                     settings=Settings(timeout=timeout), course=course)[0]

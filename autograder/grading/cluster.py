"""Grading on a Dask cluster: the same run as the local pool, its notebooks graded elsewhere.

``grade_all(..., cluster=ClusterTarget(...))`` plans, resumes and records exactly as on one
machine (:mod:`.pool`: ``_plan``, ``_Recorder``, the ledger); only the workers differ.
:class:`DaskPool` stands in for the local ``_Pool``:

* it registers a :class:`GradingPlugin` under a name of its own run. Every Dask worker process,
  including one that joins or replaces a dead one later, runs its ``setup`` once: it writes the
  course's checks and reference solution, shipped as bytes from the driver (no shared file
  system), into a private folder, and starts the same fork server and judge
  (:mod:`.judge`) as the local pool, so isolation and speed per notebook are the same; the
  files are removed as soon as the judge has loaded them;
* each notebook is one task (:func:`grade_task`) carrying the notebook's bytes, keyed by
  (assignment, student, submission hash, grader key): a retried or duplicated task computes
  the same result, and the driver records each notebook once, as results come back;
* a task whose worker dies (killed, out of memory, machine lost) is retried on another worker
  by the scheduler, up to its ``allowed-failures``; a notebook that kills every worker it is
  given is then reported as such (status ``error``), and the run goes on;
* a lost scheduler ends the run with :class:`~.pool.GraderError`: everything recorded so far
  stays in the ledger, and the same command resumes from there.

Needs the ``cluster`` extra (``pip install .[cluster]``: dask and distributed).
"""

from __future__ import annotations

import hashlib
import os
import queue
import selectors
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..course import Course
from ..notebook import read_regular_file
from ..sandbox.isolation import Isolation
from ..timing import wall_backstop
from .pool import WATCHDOG_GRACE, GraderError, died_record, stopped_record

try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # the `cluster` extra is not installed: DaskPool says so, clearly
    WorkerPlugin = object

# Tasks given to the scheduler at once: enough to keep a large cluster busy (the scheduler
# queues what its workers cannot start yet), few enough that 80,000 notebooks' bytes are not
# all held in memory at once.
WINDOW = 2000
JUDGE_START = 600.0  # seconds a judge may take to load the checks and the reference


class WorkerFatal(RuntimeError):
    """The grader cannot run on a worker (no reference, a broken check): the run stops."""


@dataclass
class ClusterTarget:
    """Where to grade: ``address`` of a running scheduler (``tcp://host:8786``), or ``"local"``
    for a ``LocalCluster`` of worker processes on this machine (one thread each, ``--jobs`` of
    them), or ``client``, an existing ``distributed.Client``. ``task``: the function each
    notebook's task runs (default :func:`grade_task`; tests wrap it)."""

    address: str | None = None
    client: object | None = None
    task: object | None = None

    def describe(self) -> str:
        if self.client is not None or self.address == "local":
            return "the Dask scheduler"
        return f"the Dask scheduler at {self.address}"


def require_dask() -> None:
    """A clear message, not a traceback, when the ``cluster`` extra is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise GraderError("grading on a Dask cluster needs dask and distributed: "
                          "pip install 'dl-course[cluster]' (or `pip install .[cluster]` in "
                          "the repository)") from None


# ---------------------------------------------------------------------------------------------
# What a worker needs of the course, shipped from the driver


def course_bundle(course: Course, assignment: str) -> dict:
    """The course's own checks files (those outside this package, relative to its root) and
    the assignment's reference notebook, as bytes: a worker writes them into a private folder
    and needs no shared file system."""
    files = {}
    for path in course.check_files():
        try:
            files[str(path.relative_to(course.root))] = path.read_bytes()
        except ValueError:
            continue  # installed elsewhere: the workers need it installed too
    solution = course.solution_notebook(assignment)
    return {"checks": list(course.checks), "files": files, "assignment": assignment,
            "manifest": course.manifest is not None,
            "solution": solution.read_bytes() if solution.is_file() else None}


def materialise(bundle: dict, folder: Path) -> Course:
    """Write a :func:`course_bundle` into ``folder`` (private to this worker: mode 0700, outside
    the sandbox's whitelist) and return the Course the judge loads from it."""
    folder = Path(folder)
    for rel, data in bundle["files"].items():
        target = (folder / rel).resolve()
        if folder.resolve() not in target.parents:
            continue  # a relative path leaving the folder: never written
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    solutions = folder / "solutions"
    solutions.mkdir(exist_ok=True)
    if bundle["solution"] is not None:
        (solutions / f"{bundle['assignment']}.ipynb").write_bytes(bundle["solution"])
    manifest = None
    if bundle["manifest"]:  # a course of its own: its checks import from its root
        course = Course(root=folder, checks=tuple(bundle["checks"]), solutions=solutions)
        manifest = folder / "autograder.toml"
        manifest.write_text(course.manifest_text("solutions", "release"), encoding="utf-8")
    return Course(root=folder, checks=tuple(bundle["checks"]), solutions=solutions,
                  manifest=manifest)


def erase(bundle: dict, folder: Path) -> None:
    """Remove what :func:`materialise` wrote (its folders stay, empty)."""
    for rel in [*bundle["files"], "autograder.toml", f"solutions/{bundle['assignment']}.ipynb"]:
        try:
            (Path(folder) / rel).unlink()
        except (OSError, ValueError):
            pass


# ---------------------------------------------------------------------------------------------
# The worker side


class _Judges:
    """A Dask worker's judges (:mod:`.judge`, one per task running at once: one with one thread
    per worker) on one fork server, started as the local pool starts them.

    The course's files (``bundle``, written into ``folder``) are on disk only while a judge
    starts: it has loaded the checks and the reference once it says it is ready, and then
    they are removed, so no student process graded later on this machine can find them even
    where the sandbox could not hide the worker's folders."""

    def __init__(self, config: dict, iso: Isolation, heavy: list, bundle: dict,
                 folder: Path) -> None:
        self.config, self.iso, self.heavy = config, iso, heavy
        self.bundle, self.folder = bundle, folder
        self.server = None
        self.idle: list = []
        self.slots = 0
        self.starting = 0  # judges started and not ready yet: they need the course's files
        self.lock = threading.Lock()

    def start(self):
        from ..sandbox.session import ForkServer
        from .pool import _Worker

        with self.lock:
            if self.server is None or not self.server.alive():
                if self.server is not None:
                    self.server.close()
                self.server = ForkServer(self.iso, self.heavy)
            materialise(self.bundle, self.folder)
            self.starting += 1
            self.slots += 1
            return _Worker(self.slots - 1, self.config, self.server)

    def _started(self) -> None:
        with self.lock:
            self.starting -= 1
            if self.starting == 0:
                erase(self.bundle, self.folder)

    def take(self):
        with self.lock:
            while self.idle:
                judge = self.idle.pop()
                if judge.proc.poll() is None:
                    return judge
                judge.kill()
        return self.start()

    def give_back(self, judge) -> None:
        with self.lock:
            self.idle.append(judge)

    def grade(self, job: dict) -> dict:
        judge = self.take()
        try:
            if not judge.ready:
                first = _read(judge, JUDGE_START)
                self._started()
                if first is None or "fatal" in first:
                    why = first["fatal"] if first else judge.error_text()
                    raise WorkerFatal(f"a grading worker failed to start on a Dask worker:\n"
                                      f"{why}")
                judge.ready = True
            if not judge.send(job):
                record = died_record(judge.error_text())
                judge.kill()
                return record
            try:
                record = _read(judge, wall_backstop(job["timeout"]) + WATCHDOG_GRACE)
            except TimeoutError:
                judge.kill()
                return stopped_record(job)
            if record is None:  # the judge died: this notebook's result says so
                record = died_record(judge.error_text())
                judge.kill()
                return record
            if "fatal" in record:
                judge.kill()
                raise WorkerFatal(record["fatal"])
            judge.job = None
            return record
        finally:
            if not judge.dead:
                self.give_back(judge)

    def close(self) -> None:
        with self.lock:
            for judge in self.idle:
                judge.kill()
            self.idle = []
            if self.server is not None:
                self.server.close()


def _read(judge, timeout: float) -> dict | None:
    """The judge's next JSON line; None if it died; TimeoutError past ``timeout`` seconds."""
    import json

    end = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(judge.proc.stdout, selectors.EVENT_READ)
        while True:
            left = end - time.monotonic()
            if left <= 0 or not sel.select(timeout=left):
                raise TimeoutError
            line = judge.proc.stdout.readline()
            if not line:
                return None
            try:
                return json.loads(line)
            except ValueError:
                continue  # not a result: the judge keeps its stdout for results only


class GradingPlugin(WorkerPlugin):
    """Started once in every worker process of the cluster: the course's files in a
    private folder, the fork server and the judges of this run."""

    def __init__(self, name: str, config: dict, bundle: dict, heavy: list,
                 expected: str) -> None:
        self.name, self.config, self.bundle = name, config, bundle
        self.heavy, self.expected = heavy, expected
        self.judges = None

    def setup(self, worker=None) -> None:
        from .pool import isolation

        base = getattr(worker, "local_directory", None) or tempfile.gettempdir()
        # mkdtemp: mode 0700. The sandbox binds only the interpreter, site-packages and
        # the grader's package, so student code never sees this folder.
        self.folder = Path(tempfile.mkdtemp(prefix="autograder-course-", dir=base))
        course = materialise(self.bundle, self.folder)  # its Course; the judges write it again
        self.iso = isolation()  # this machine's sandbox, probed here
        self.notes = []
        if self.iso.mode != self.expected:
            kind = "" if self.iso.isolated else "sandbox failure: "
            self.notes.append(f"{kind}a Dask worker isolates student code with "
                              f"{self.iso.mode!r}, the run's driver with "
                              f"{self.expected!r}")
        config = dict(self.config, course=course.to_json(), isolation=self.iso.to_json())
        self.judges = _Judges(config, self.iso, self.heavy, self.bundle, self.folder)
        self.judges.give_back(self.judges.start())  # loads while the first task arrives

    def teardown(self, worker=None) -> None:
        if self.judges is not None:
            self.judges.close()
        shutil.rmtree(getattr(self, "folder", ""), ignore_errors=True)

    def grade(self, job: dict, data: bytes) -> dict:
        # The notebook under its own file name (its messages name it), in a folder of its
        # own: two students' files of the same name never meet.
        where = Path(tempfile.mkdtemp(prefix="job-", dir=self.folder))
        try:
            path = where / os.path.basename(job["path"])
            path.write_bytes(data)
            record = self.judges.grade(dict(job, path=str(path)))
        finally:
            shutil.rmtree(where, ignore_errors=True)
        if self.notes:
            record = dict(record, isolation=list(record.get("isolation", [])) + self.notes)
        return record


def grade_task(plugin: str, job: dict, data: bytes) -> dict:
    """One notebook, on a Dask worker: graded by that worker's judge, the result returned to the
    driver (which alone records it)."""
    from distributed import get_worker

    worker = get_worker()
    grader = worker.plugins.get(plugin)
    if grader is None:
        raise WorkerFatal(f"the Dask worker {worker.address} has no grading plugin {plugin!r} "
                          f"(its set-up failed; see the worker's log)")
    return grader.grade(job, data)


# ---------------------------------------------------------------------------------------------
# The driver side


def killed_record(exc) -> dict:
    """The result of a notebook whose every worker died while grading it."""
    tries = getattr(exc, "allowed_failures", None)
    times = f"{tries + 1} times" if isinstance(tries, int) else "each time it was tried"
    return {"status": "error",
            "notes": [f"the grader's worker died while grading this notebook, {times}; it is "
                      f"not tried again in this run (not your doing)."],
            "isolation": [f"this notebook killed every Dask worker it ran on: {exc}"[:500]]}


class DaskPool:
    """The local ``_Pool``'s interface (``start``, ``run``, ``close``) over Dask distributed."""

    def __init__(self, target: ClusterTarget, config: dict, iso: Isolation, heavy: list,
                 course: Course, assignment: str, task_key) -> None:
        require_dask()
        self.target, self.config, self.iso, self.heavy = target, config, iso, heavy
        self.course, self.assignment, self.task_key = course, assignment, task_key
        self.client = self.cluster = None
        self.plugin = f"autograder-{os.urandom(6).hex()}"
        self.task = target.task or grade_task

    def start(self, n: int) -> None:
        import dask
        from distributed import Client, LocalCluster

        try:
            if self.target.client is not None:
                self.client = self.target.client
            elif self.target.address == "local":
                self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                            dashboard_address=None)
                self.client = Client(self.cluster)
            else:
                # dask's own connect timeout (30 s; DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT)
                self.client = Client(self.target.address,
                                     timeout=dask.config.get("distributed.comm.timeouts.connect"))
        except (OSError, TimeoutError, ValueError) as exc:
            raise GraderError(f"cannot reach the Dask scheduler at {self.target.address}: "
                              f"{exc}") from None
        plugin = GradingPlugin(self.plugin, self.config,
                                      course_bundle(self.course, self.assignment), self.heavy,
                                      self.iso.mode)
        try:
            self.client.register_plugin(plugin, name=self.plugin)
        except Exception as exc:  # noqa: BLE001 - a worker's set-up failed: said, not traced
            raise GraderError(f"the grading plugin could not start on the Dask workers: "
                              f"{type(exc).__name__}: {exc}") from None

    def _key(self, job: dict, data: bytes) -> str:
        student, gkey = self.task_key(job)
        digest = hashlib.sha256(data).hexdigest()
        who = hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        return f"grade-{self.assignment}-{who}-{digest[:16]}-{gkey}"

    def run(self, pending: list, finish, until, between) -> None:
        """Submit ``pending`` (at most :data:`WINDOW` in flight) and ``finish(job, record)``
        each once, in the order results come back, until ``until()``; ``between()`` at least
        once a second."""
        from distributed import KilledWorker

        done: queue.Queue = queue.Queue()
        todo = list(reversed(pending))
        inflight: dict = {}

        def submit_more() -> None:
            while todo and len(inflight) < WINDOW:
                job = todo.pop()
                try:
                    data = read_regular_file(Path(job["path"]))
                except OSError as exc:
                    finish(job, {"status": "unreadable",
                                 "notes": [f"cannot read it: {exc.strerror or exc}"]})
                    continue
                key = self._key(job, data)
                future = self.client.submit(self.task, self.plugin, job, data, key=key)
                inflight[future.key] = (job, future)
                future.add_done_callback(done.put)

        submit_more()
        while not until():
            between()
            try:
                future = done.get(timeout=1.0)
            except queue.Empty:
                if self.client.status not in ("running", "connecting", "newly-created"):
                    raise self._lost() from None
                continue
            job, _ = inflight.pop(future.key, (None, None))
            if job is None:
                continue  # told twice: each notebook is recorded once
            if future.status == "finished":
                try:
                    record = future.result()
                except Exception as exc:  # noqa: BLE001 - lost between done and result
                    raise self._lost(exc) from None
            elif future.status == "error":
                exc = future.exception()
                if isinstance(exc, WorkerFatal):
                    raise GraderError(str(exc))
                if isinstance(exc, KilledWorker):
                    record = killed_record(exc)
                else:  # the grader's own bug on that worker: never the student's loss
                    record = {"status": "error",
                              "notes": ["the grader failed on this notebook (not your doing)."],
                              "isolation": [f"grader error on a Dask worker: "
                                            f"{type(exc).__name__}: {exc}"[:500]]}
            else:  # cancelled: the scheduler is gone
                raise self._lost()
            future.release()
            submit_more()  # keep the cluster busy while this result is recorded
            finish(job, record)

    def _lost(self, exc=None) -> GraderError:
        why = f" ({type(exc).__name__}: {exc})" if exc else ""
        return GraderError(f"lost the connection to {self.target.describe()}{why}. Every "
                           f"result received until then is recorded; run the same command "
                           f"again to grade the rest (the ledger skips what is done).")

    def close(self) -> None:
        if self.client is not None and self.client.status == "running":
            try:
                self.client.unregister_worker_plugin(self.plugin)
            except Exception:  # noqa: BLE001 - a worker that is gone has nothing to stop
                pass
        if self.client is not None and self.target.client is None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

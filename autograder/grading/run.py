"""The two things the command line does, as library functions: grade a class, check a notebook.

``grade(request)`` resolves what to grade (an nbgrader course directory, its ``submitted/`` tree,
a folder or one notebook), grades it with the pool, and records every result as it arrives —
ledger, our feedback files, and (in a course directory) nbgrader's gradebook and ``autograded/``
notebooks — then writes ``results.json`` / ``results.csv``. ``check(path)`` runs the public
checks for a student (sandboxed like grading on Linux; in a plain subprocess elsewhere).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..bridge.feedback import file_stem
from . import checking
from .checking import UnknownAssignment, assignment_of
from ..course import Course
from ..results import Status, SubmissionResult
from ..sandbox.confine import Limits
from ..timing import STUDENT_CHECK
from ..spec import HIDDEN, PUBLIC, Assignment
from .pool import GraderError, Ledger, Settings, grade_all, isolation
from .reports import to_csv, to_json
from .submissions import clean_text, find_submissions


class UsageError(Exception):
    """The instructor asked for something that cannot be done; the message says why."""


@dataclass
class GradeRequest:
    path: Path
    assignment: Assignment
    course: Path | None = None
    db: str | None = None
    out: Path | None = None
    jobs: int = 0
    force: bool = False
    settings: Settings = field(default_factory=Settings)
    # Where the assignment's checks and reference come from (default: found from the course
    # directory or PATH, see autograder.course).
    layout: Course | None = None
    # Grade on a Dask cluster (grading.cluster.ClusterTarget) instead of this machine's pool.
    cluster: object | None = None


@dataclass
class GradeRun:
    results: list
    out: Path
    ignored: list  # (path, why) of notebooks found but not graded
    isolation_warning: str
    isolation_notes: list


def _course_of(req: GradeRequest) -> Path | None:
    if req.course:
        return Path(req.course).resolve()
    path = Path(req.path)
    if (path / "submitted").is_dir() and (path / "nbgrader_config.py").exists():
        return path.resolve()  # PATH is an nbgrader course directory
    return None


def grade(req: GradeRequest, on_result=None, on_start=None) -> GradeRun:
    """``on_start(n)`` once the n submissions are known; ``on_result(result)`` for each."""
    spec = req.assignment
    course = _course_of(req)
    root = course / "submitted" if course else Path(req.path)
    try:
        subs, ignored = find_submissions(root, spec.name)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    if not subs:
        raise UsageError(f"no notebooks for {spec.name} found under {root}")
    if on_start:
        on_start(len(subs))
    default_out = (course / "autograder" / spec.name if course
                   else (root.parent if root.is_file() else root.resolve().parent)
                   / f"autograder-{spec.name}")
    out = Path(req.out or default_out).resolve()
    db_url = req.db or (f"sqlite:///{course / 'gradebook.db'}" if course else None)
    source_nb = course / "source" / spec.name / f"{spec.name}.ipynb" if course else None
    if course:
        if not source_nb.exists():
            raise UsageError(f"{source_nb} not found: is {course} an nbgrader course directory "
                             f"with this assignment in source/?")
    layout = req.layout or Course.find(course or root)
    if course and layout.manifest is None:
        # an nbgrader course directory without autograder.toml: its instructor notebooks are
        # its source/ folder
        layout = dataclasses.replace(layout, solutions=course / "source")
    # Where results are recorded: a result in the ledger is reused only for the same place.
    ledger = Ledger(out / "ledger.jsonl", destination=db_url or str(out))
    writer = None
    write_feedback = None

    def prepare() -> None:
        """Runs while the workers start: importing nbgrader and opening the gradebook take
        about as long as a worker's start-up."""
        nonlocal writer, write_feedback
        from ..bridge.feedback import write as write_feedback  # noqa: F811

        if course:
            from ..bridge.gradebook import GradebookError, Writer, check_ready

            try:
                check_ready(db_url, spec.name)
            except GradebookError as exc:
                raise UsageError(str(exc)) from None
            writer = Writer(db_url, spec, source_nb, course)

    def record(result: SubmissionResult) -> None:
        if not result.skipped:
            try:
                write_feedback(spec, result, out / "feedback")
                if writer is not None:
                    writer.record(result)
            except Exception as exc:  # noqa: BLE001 - one notebook must not stop the run
                # Whatever in this student's result could not be recorded costs this student
                # alone: not recorded, kept out of the ledger (status "error": graded again
                # next run), and reported to the instructor.
                if writer is not None:
                    writer.rollback()
                result.status = Status.ERROR
                result.isolation.append(clean_text(
                    f"grader error: recording this result failed with "
                    f"{type(exc).__name__}: {exc}")[:500])
        if on_result:
            on_result(result)

    def still_recorded(result: SubmissionResult) -> bool:
        if writer is not None:
            return writer.has(result)
        return (out / "feedback" / f"{file_stem(result.student)}.md").is_file()

    iso = isolation()
    try:
        results = grade_all(subs, spec, jobs=req.jobs, settings=req.settings, ledger=ledger,
                            force=req.force, on_result=record, iso=iso, prepare=prepare,
                            still_recorded=still_recorded, course=layout,
                            cluster=req.cluster)
    finally:
        if writer is not None:
            writer.__exit__(None, None, None)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(to_json(spec, results), encoding="utf-8",
                                      errors="replace")
    (out / "results.csv").write_text(to_csv(spec, results), encoding="utf-8", errors="replace")
    notes = sorted({n for r in results for n in r.isolation})
    if writer is not None:
        notes = list(writer.notes) + notes
    return GradeRun(results, out, ignored, iso.warning(), notes)


# ---------------------------------------------------------------------------------------------
# students: autograder check


def infer_assignment(notebook: Path, given: str | None, course: Course | None = None) -> str:
    """``given``, else what the notebook says it is (:func:`checking.assignment_of`)."""
    if given:
        return given
    try:
        return assignment_of(notebook, course or Course.find(notebook))
    except UnknownAssignment as exc:
        raise UsageError(str(exc)) from None


def check(notebook: Path, spec: Assignment, *, timeout: float = STUDENT_CHECK,
          plain: bool | None = None, course: Course | None = None, on_start=None,
          on_result=None, sandbox: checking.Sandbox | None = None) -> SubmissionResult:
    """The public checks of one notebook. ``plain``: run them in an ordinary subprocess (the
    default where the sandbox's fork server cannot run: not Linux, or no isolation here).
    ``on_start(name)`` is called as each function's checks begin, ``on_result(FunctionResult)``
    as each ends. ``sandbox``: a :class:`checking.Sandbox` already started for this notebook
    (the command starts it before it imports the checks); closed here."""
    notebook = Path(notebook)
    course = course or Course.find(notebook)
    if plain is None:
        plain = checking.plain_by_default()
    if plain and sandbox is not None:
        sandbox.close()
    if plain:
        data = checking.plain(notebook, spec, course, timeout=timeout, on_start=on_start,
                              on_result=on_result)
    else:
        data = checking.sandboxed(notebook, spec, timeout=timeout, course=course,
                                  on_start=on_start, on_result=on_result, sandbox=sandbox)
    from .pool import _result_from
    from .submissions import Submission

    return _result_from(data, Submission(notebook.stem, notebook), "", spec, (PUBLIC,),
                        sum(gf.points(PUBLIC) for gf in spec.functions))


__all__ = ["GradeRequest", "GradeRun", "GraderError", "UsageError", "check", "grade",
           "infer_assignment", "Limits", "HIDDEN"]

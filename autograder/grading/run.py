"""The two things the command line does, as library functions: grade a class, check a notebook.

``grade(request)`` resolves what to grade (an nbgrader course directory, its ``submitted/`` tree,
a folder or one notebook), grades it with the pool, and records every result as it arrives —
ledger, our feedback files, and (in a course directory) nbgrader's gradebook and ``autograded/``
notebooks — then writes ``results.json`` / ``results.csv``. ``check(path)`` runs the public
checks for a student (sandboxed like grading on Linux; in a plain subprocess elsewhere).
"""

from __future__ import annotations

import dataclasses
import json
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
from .reports import to_csv, to_json, to_lms_csv
from .submissions import clean_text, find_submissions


LMS_FILE = "grades-lms.csv"  # in the output folder: student,score,max for Canvas and Moodle


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
    # Grade only these students (ids as in the reports), regrading them even if unchanged.
    students: tuple = ()
    lms: Path | None = None  # also write the LMS export (student,score,max) here
    # Where the assignment's checks and reference come from (default: found from the course
    # directory or PATH, see autograder.course).
    layout: Course | None = None
    # Grade on a Dask cluster (grading.cluster.ClusterTarget) instead of this machine's pool.
    cluster: object | None = None
    # How this machine isolates student code, if the caller has probed it already (the CLI,
    # to warn before the run starts): one probe per run.
    isolation: object | None = None


@dataclass
class GradeRun:
    results: list
    out: Path
    ignored: list  # (path, why) of notebooks found but not graded
    isolation_warning: str
    isolation_notes: list
    # {student: reports.Final}: the gradebook's final scores after the run (course directory)
    final: dict = field(default_factory=dict)
    everyone: list = field(default_factory=list)  # the class's results as the reports hold them


@dataclass(frozen=True)
class Planned:
    """What a run would do with one submission (``autograder grade --dry-run``)."""

    student: str
    notebook: str
    action: str  # "grade" or "skip"
    why: str  # new, changed, regrade asked for, grader or settings changed, unchanged, ...


def _course_of(req: GradeRequest) -> Path | None:
    if req.course:
        return Path(req.course).resolve()
    path = Path(req.path)
    if (path / "submitted").is_dir() and (path / "nbgrader_config.py").exists():
        return path.resolve()  # PATH is an nbgrader course directory
    return None


def _targets(req: GradeRequest, course: Path | None) -> tuple:
    """``(root, subs, ignored, out, db_url, source_nb, partial)``: what to grade and where
    results go (``partial``: only some of the class), with every problem the instructor can
    fix found before any worker starts."""
    spec = req.assignment
    root = course / "submitted" if course else Path(req.path)
    try:
        subs, ignored = find_submissions(root, spec.name)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    found = len(subs)
    if course:
        subs = _under_path(subs, Path(req.path), course)
    if req.students:
        subs = _of_students(subs, req.students, root)
    if not subs:
        raise UsageError(f"no notebooks for {spec.name} found under {root}")
    default_out = (course / "autograder" / spec.name if course
                   else (root.parent if root.is_file() else root.resolve().parent)
                   / f"autograder-{spec.name}")
    out = Path(req.out or default_out).resolve()
    # Reports and feedback inside the submissions would be found as submissions next run, and
    # handed back to students by nbgrader's release tools.
    for inside in ([course / "submitted"] if course else []) + \
            ([root.resolve()] if root.is_dir() else []):
        if out == inside.resolve() or out.is_relative_to(inside.resolve()):
            raise UsageError(f"the output folder {out} is inside the submissions ({inside}): "
                             f"choose another with --out")
    db_url = req.db or (f"sqlite:///{course / 'gradebook.db'}" if course else None)
    source_nb = course / "source" / spec.name / f"{spec.name}.ipynb" if course else None
    if course:
        if not source_nb.exists():
            raise UsageError(f"{source_nb} not found: is {course} an nbgrader course directory "
                             f"with this assignment in source/?")
        from ..bridge.ready import NotReady, assignment_ready

        try:
            assignment_ready(db_url, spec.name)  # before any worker starts
        except NotReady as exc:
            raise UsageError(str(exc)) from None
    return root, subs, ignored, out, db_url, source_nb, len(subs) < found


def _under_path(subs: list, path: Path, course: Path) -> list:
    """With ``--course``, PATH may name part of its ``submitted/`` tree (a student's folder,
    one notebook): only those are graded."""
    path, submitted = path.resolve(), (course / "submitted").resolve()
    if path in (course, submitted):
        return subs
    if not path.is_relative_to(submitted):
        raise UsageError(f"{path} is not inside {submitted}: with --course, PATH is the course "
                         f"directory or a part of its submitted/ tree")
    return [s for s in subs if s.path.absolute() == path or s.path.absolute().is_relative_to(path)]


def _of_students(subs: list, students: tuple, root: Path) -> list:
    known = {s.student for s in subs}
    missing = [name for name in students if name not in known]
    if missing:
        raise UsageError(f"no submission of {', '.join(map(repr, missing))} under {root} "
                         f"(students found: {len(known)}; names are their folder names)")
    return [s for s in subs if s.student in students]


def grade(req: GradeRequest, on_result=None, on_start=None) -> GradeRun:
    """``on_start(n)`` once the n submissions are known; ``on_result(result)`` for each."""
    spec = req.assignment
    course = _course_of(req)
    root, subs, ignored, out, db_url, source_nb, partial = _targets(req, course)
    if on_start:
        on_start(len(subs))
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
            from ..bridge.gradebook import Writer

            writer = Writer(db_url, spec, source_nb, course)

    def record(result: SubmissionResult) -> None:
        if not result.skipped:
            try:
                final = None
                if writer is not None:
                    writer.record(result)
                    final = writer.final_scores([result.student]).get(result.student)
                write_feedback(spec, result, out / "feedback", final)
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

    iso = req.isolation or isolation()
    final: dict = {}
    try:
        results = grade_all(subs, spec, jobs=req.jobs, settings=req.settings, ledger=ledger,
                            force=req.force or bool(req.students), on_result=record, iso=iso,
                            prepare=prepare, still_recorded=still_recorded, course=layout,
                            cluster=req.cluster)
        # A run over some students (--student, or a PATH inside submitted/) updates their rows
        # of the class's reports and keeps everyone else's.
        everyone = _merged(out / "results.json", results) if partial else results
        if writer is not None:
            # One source of truth: the published score is the gradebook's (late penalties,
            # manual grades), read back now; ours is reported as the raw score.
            final = writer.final_scores([r.student for r in everyone])
    finally:
        if writer is not None:
            writer.__exit__(None, None, None)
    for r in results:  # feedback of unchanged notebooks: a manual grade may have changed since
        if r.skipped and final.get(r.student):
            write_feedback(spec, r, out / "feedback", final[r.student])
    write_reports(spec, everyone, out, final, req.lms)
    notes = sorted({n for r in results for n in r.isolation})
    if writer is not None:
        notes = list(writer.notes) + notes
    return GradeRun(results, out, ignored, iso.warning(), notes, final, everyone)


def write_reports(spec: Assignment, results: list, out: Path, final: dict,
                  lms: Path | None = None) -> None:
    """results.json, results.csv and grades-lms.csv in ``out`` (and the last at ``lms``)."""
    out.mkdir(parents=True, exist_ok=True)
    lms_text = to_lms_csv(spec, results, final)
    for path, text in ((out / "results.json", to_json(spec, results, final)),
                       (out / "results.csv", to_csv(spec, results, final)),
                       (out / LMS_FILE, lms_text), *(((Path(lms), lms_text),) if lms else ())):
        path.write_text(text, encoding="utf-8", errors="replace")


def _merged(path: Path, results: list) -> list:
    """The results of an earlier report at ``path``, with those of ``results`` replacing the
    same students' (and added after them)."""
    try:
        earlier = [SubmissionResult.from_json(s)
                   for s in json.loads(path.read_text("utf-8"))["submissions"]]
    except (OSError, ValueError, KeyError, TypeError):
        earlier = []
    fresh = {r.student: r for r in results}
    kept = [fresh.pop(r.student, r) for r in earlier]
    return kept + [r for r in results if r.student in fresh]


def plan(req: GradeRequest) -> list:
    """What :func:`grade` would do with each submission, and why, without starting a worker
    (``autograder grade --dry-run``). A result the ledger holds is reused only if the
    gradebook still has it: a dry run does not open the gradebook, so it says "unchanged"."""
    from .pool import _key, grader_key, sha256_of

    spec = req.assignment
    course = _course_of(req)
    root, subs, _, out, db_url, _, _ = _targets(req, course)
    layout = req.layout or Course.find(course or root)
    if course and layout.manifest is None:
        layout = dataclasses.replace(layout, solutions=course / "source")
    ledger = Ledger(out / "ledger.jsonl", destination=db_url or str(out))
    gkey = grader_key(spec, (PUBLIC, HIDDEN),
                      dict(req.settings.to_json(), isolation=isolation().mode), layout)
    planned = []
    for sub in subs:
        try:
            digest = sha256_of(sub.path)
        except OSError:
            digest = ""
        entry = ledger.entries.get(_key(sub))
        if sub.problem or not digest:
            action, why = "skip", "unreadable: " + (sub.problem or "cannot be read")
        elif req.force or req.students:
            action, why = "grade", "regrade asked for"
        elif ledger.lookup(_key(sub), digest, gkey) is not None:
            action, why = "skip", "unchanged since it was graded"
        elif entry is None:
            action, why = "grade", "new"
        elif entry.get("sha256") != digest:
            action, why = "grade", "changed since it was graded"
        else:
            action, why = "grade", "the grader, its settings or the destination changed"
        planned.append(Planned(sub.student, str(sub.path), action, why))
    return planned


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


__all__ = ["GradeRequest", "GradeRun", "GraderError", "Planned", "UsageError", "check", "grade",
           "plan", "infer_assignment", "Limits", "HIDDEN"]

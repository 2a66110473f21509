"""A grading worker: ``python -I -m autograder.grading.judge CONFIG_JSON``, driven by the pool.

Started in Python's isolated mode from a private, empty working directory, so it imports only
the course's own code and installed packages — never a file a student could have planted. It
talks to its copy of the run's zygote in the sandbox over the socket it inherits
(:mod:`autograder.sandbox.session`), loads the assignment's checks and reference, then reads
one job per line on stdin — a notebook to grade — and writes one JSON result per line on
stdout. The checks and the comparisons run here; the student's code
runs in the sandbox. Whatever a student process sends, the worker answers with a result for
that student; only its own faults (no reference, no sandbox) are reported as the grader's.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sys
import time
import traceback

_PROTOCOL = None  # the real stdout, kept for results only


def _emit(record: dict) -> None:
    _PROTOCOL.write(json.dumps(record) + "\n")
    _PROTOCOL.flush()


def main(argv: list) -> int:
    global _PROTOCOL
    # Anything else printed here (e.g. by the reference notebook's cells) goes to stderr, so it
    # can never be mistaken for a result.
    _PROTOCOL = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    config = json.loads(argv[0])

    from ..course import Course
    from ..evaluate import AuthorError
    from ..reference import ReferenceUnavailable, load_reference
    from ..sandbox.confine import Limits
    from ..sandbox.isolation import Isolation
    from ..sandbox.session import GraderFault, Zygote
    from ..spec import HIDDEN, get_assignment

    iso = Isolation.from_json(config["isolation"])
    try:
        zygote = Zygote(socket.socket(fileno=int(config["zygote_fd"])))
    except (OSError, KeyError, ValueError) as exc:
        _emit({"fatal": f"no connection to the sandbox's fork server: {exc}"})
        return 3
    course = Course.from_json(config["course"])
    spec = get_assignment(config["assignment"], course)
    spec.import_modules()  # e.g. torch for the checks that compare with it: not in their time
    tiers = tuple(config["tiers"])
    reference = None
    if HIDDEN in tiers:
        try:
            reference = load_reference(spec.name, course)
        except ReferenceUnavailable as exc:
            _emit({"fatal": str(exc)})
            return 3
    limits = Limits(**config["limits"])
    try:
        zygote.wait_ready()  # it imported numpy and torch while the reference loaded
    except GraderFault as exc:
        _emit({"fatal": f"{exc} ({iso.detail})"})
        return 3
    # Feedback goes to students: links to the published book first (`book_url`).
    book = course.book(local_first=False)
    _emit({"ready": True})

    for line in sys.stdin:
        job = json.loads(line)
        try:
            record = grade_job(job, spec, tiers, reference, zygote, limits,
                               float(config["cell_timeout"]), book=book)
        except AuthorError as exc:  # a broken check: no grade from this run can be trusted
            _emit({"fatal": f"{type(exc).__name__}: {exc}"})
            return 3
        except GraderFault as exc:  # the sandbox broke: a new worker takes the next notebooks
            _emit({"id": job["id"], "status": "error", "functions": {},
                   "notes": ["the grader failed on this notebook (not your doing)."],
                   "isolation": [f"sandbox failure: {exc}"]})
            return 4
        except Exception:  # noqa: BLE001 - the grader's own bug: never the student's loss
            record = {"id": job["id"], "status": "error", "functions": {},
                      "notes": ["the grader failed on this notebook (not your doing); your "
                                "instructor has the details."],
                      "isolation": ["grader error: " + traceback.format_exc(limit=4)[-1500:]]}
        _emit(record)
    zygote.close()
    return 0


def grade_job(job: dict, spec, tiers: tuple, reference, zygote, limits, cell_timeout, *,
              on_start=None, on_result=None, book: str = "") -> dict:
    """Grade one notebook; ``on_start(name)`` before each function and
    ``on_result(FunctionResult)`` after it (``autograder check`` prints them as they come).
    ``book``: where section links point (``Course.book``)."""
    from ..evaluate import grade_function, not_graded
    from .submissions import clean_text
    from ..notebook import NotebookError, read_cells
    from ..checks import Client
    from ..sandbox.session import Session, SessionFailed
    from ..timing import wall_backstop

    started = time.monotonic()
    # The notebook's budget is CPU time of the student's processes; the wall-clock deadline is
    # only the backstop for code that sleeps or blocks.
    deadline = started + wall_backstop(float(job["timeout"]))
    record = {"id": job["id"], "status": "ok", "notes": [], "functions": {},
              "isolation": [], "check_seconds": 0.0}
    try:
        cells = read_cells(job["path"])
    except NotebookError as exc:
        record.update(status="unreadable", notes=[str(exc)])
        record["seconds"] = time.monotonic() - started
        return record
    filename = clean_text(os.path.basename(job["path"]))
    session = Session(zygote, cells, filename=filename, limits=limits,
                      cell_timeout=cell_timeout, deadline=deadline,
                      cpu_budget=float(job["timeout"]))
    backend = Client(session)
    unreadable = ""  # why the student's process cannot be talked to, if it sent garbage
    try:
        try:
            session.ensure()
        except SessionFailed as exc:
            record["notes"].append(str(exc) + ".")
        except (RecursionError, ValueError) as exc:
            # The student's process sent a frame nested too deeply (or a number too long) for
            # json to read: what the student's code sent is the student's error, recorded.
            session.close()
            record["status"] = "crashed"
            unreadable = (f"your notebook sent the grader a message it cannot read "
                          f"({type(exc).__name__}: values nested thousands deep, or a number "
                          f"with thousands of digits), so its functions could not be called")
            record["notes"].append(unreadable + ".")
        for gf in spec.functions:
            if on_start:
                on_start(gf.name)
            if unreadable:
                result = not_graded(gf, tiers, unreadable, book)
            elif session.over_budget():
                record["status"] = "timeout"
                result = not_graded(gf, tiers, f"the time limit for the whole notebook "
                                               f"({job['timeout']:g} s of CPU time) was reached",
                                    book)
            else:
                t0 = time.monotonic()
                result = grade_function(spec, gf, backend, reference, tiers, book)
                record["check_seconds"] += time.monotonic() - t0
            record["functions"][gf.name] = result.to_json()
            if on_result:
                on_result(result)
    finally:
        session.close()
    record["notes"] = list(session.notes) + record["notes"]
    record["isolation"] = list(zygote.notes) + list(session.isolation_notes)
    for module in session.missing_modules():
        # The student's import failed: if the grader has it installed, the sandbox lacked it.
        # Decided from a list of top-level names, never by importing: find_spec imports
        # parents, so "unittest.__main__.x" would run unittest's command line here.
        if installed(module):
            record["isolation"].append(f"module {module.partition('.')[0]!r} is installed but "
                                       f"could not be imported inside the sandbox")
    record["cell_seconds"] = session.cell_seconds
    record["restarts"] = max(0, session.starts - 1)
    if record["status"] == "ok" and session.starts > 1:
        record["status"] = "crashed"
    record["seconds"] = time.monotonic() - started
    return record


@functools.lru_cache(maxsize=1)
def _top_level_names() -> frozenset:
    """Top-level modules and packages on this interpreter's path, listed without importing
    anything (``pkgutil.iter_modules`` reads folders; it imports no module)."""
    import pkgutil

    names = {m.name for m in pkgutil.iter_modules()}
    return frozenset(names | set(sys.builtin_module_names))


def installed(module) -> bool:
    """Whether the top-level package of ``module`` (a name a student's code gave) is installed
    for the grader. Only a valid identifier is looked up; nothing is imported."""
    if not isinstance(module, str) or len(module) > 200:
        return False
    top = module.partition(".")[0]
    return top.isidentifier() and top in _top_level_names()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

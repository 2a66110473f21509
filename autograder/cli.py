"""The ``autograder`` command: argument parsing and printing over :mod:`autograder.grading.run`.

    autograder check NOTEBOOK                      students: public checks, with feedback
    autograder grade PATH --assignment A           instructors: grade a class (see README)
    autograder release [A ...]                     maintainers: regenerate exercises/ (nbgrader)
    autograder init-course DIR                     instructors: an nbgrader course directory
    autograder similarity PATH --assignment A      instructors: near-identical code, per function
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .course import Course, CourseError
from .results import Status
from .spec import assignment_names, get_assignment


def _use_color(stream) -> bool:
    return stream.isatty() and os.environ.get("NO_COLOR") is None and os.name != "nt"


def _paint(text: str, code: str, on: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if on else text


def _fail(message: str, code: int = 2) -> int:
    print(f"autograder: {_safe(message, newlines=True)}", file=sys.stderr)
    return code


def _safe(text, newlines: bool = False) -> str:
    """Text that may come from a submission (file names, exception texts), made safe for a
    terminal: no escape sequences, no lone surrogates (see ``terminal_text``)."""
    from .grading.submissions import terminal_text

    return terminal_text(text, newlines=newlines)


def cmd_check(args) -> int:
    """One notebook, or every notebook of a folder (a summary each); the exit status is
    non-zero if any notebook misses a public check."""
    from .grading.checking import notebooks_in

    path = Path(args.notebook)
    if path.is_dir():
        notebooks = notebooks_in(path)
        if not notebooks:
            return _fail(f"no notebooks (*.ipynb) in {path}")
    elif path.is_file():
        notebooks = [path]
    else:
        return _fail(f"no such notebook: {path}")
    codes = []
    for i, nb in enumerate(notebooks):
        if i:
            print("\n" + "\u2500" * 72 + "\n")
        codes.append(_check_one(nb, args))
    if len(notebooks) > 1:
        passed = codes.count(0)
        print(f"\n{passed} of {len(notebooks)} notebooks in {_safe(path)} pass every public "
              f"check.")
    return max(codes)


def _check_one(nb: Path, args) -> int:
    from .grading import checking

    plain = args.plain or checking.plain_by_default()
    # The sandbox starts first: its imports overlap with those of the checks below.
    sandbox = None if plain else checking.Sandbox(nb)
    try:
        return _check_started(nb, args, plain, sandbox)
    finally:
        if sandbox is not None:
            sandbox.close()


def _check_started(nb: Path, args, plain: bool, sandbox) -> int:
    from .grading.pool import GraderError
    from .grading.run import UsageError, check, infer_assignment

    try:
        course = Course.find(nb)
        spec = get_assignment(infer_assignment(nb, args.assignment, course), course)
    except (UsageError, KeyError, CourseError) as exc:
        return _fail(str(exc.args[0]))
    color = _use_color(sys.stdout)
    live = sys.stdout.isatty()  # "checking NAME ..." while it runs, replaced by the verdict
    print(f"Checking {_safe(nb)} against the public checks of {spec.name} ({spec.title})\n",
          flush=True)

    def on_start(name: str) -> None:
        if live:
            sys.stdout.write(f"  checking {name} ...")
            sys.stdout.flush()

    told = set()

    def on_result(fr) -> None:
        if live:
            sys.stdout.write("\r\033[K")
        told.add(fr.name)
        print(_verdict(spec, fr, color), flush=True)

    try:
        result = check(nb, spec, timeout=args.timeout, plain=plain, course=course,
                       on_start=on_start, on_result=on_result, sandbox=sandbox)
    except GraderError as exc:
        if live:
            sys.stdout.write("\n")
        return _fail(str(exc))
    if live and len(told) < len(spec.functions):
        sys.stdout.write("\r\033[K")
    if result.status != Status.UNREADABLE:  # else the note says it all
        for gf in spec.functions:  # those never reached (the checks were stopped)
            if gf.name not in told:
                print(_verdict(spec, result.functions[gf.name], color))
    for note in result.notes:
        print(_paint("  note: ", "33", color) + _safe(note, newlines=True))
    return _check_summary(spec, result)


def _points(spec, fr) -> str:
    gf = spec.function(fr.name)
    return f"public {fr.score}/{fr.max_score}, hidden {gf.hidden_points} at stake"


def _verdict(spec, fr, color: bool) -> str:
    """One function's verdict, its points, and its messages, indented under it."""
    ok = fr.score == fr.max_score
    mark = _paint("\u2713 PASS", "32", color) if ok else _paint("\u2717 FAIL", "31", color)
    width = max(len(gf.name) for gf in spec.functions)
    lines = [f"  {mark}  {fr.name:<{width}}  {_points(spec, fr)}"]
    for msg in fr.messages:
        for i, line in enumerate(_safe(msg, newlines=True).splitlines()):
            lines.append(("          " if i == 0 else "            ") + line)
    return "\n".join(lines)


def _check_summary(spec, result) -> int:
    passed = sum(fr.score == fr.max_score for fr in result.functions.values())
    n = len(spec.functions)
    earned = sum(fr.score for fr in result.functions.values())
    public = sum(gf.public_points for gf in spec.functions)
    hidden = sum(gf.hidden_points for gf in spec.functions)
    print(f"\nPublic checks passed for {passed} of {n} functions: {earned} of {public} public "
          f"points.\n{hidden} more points are at stake in the hidden checks your instructor "
          f"runs:\nthey compare each function with a reference solution on more inputs and "
          f"edge cases.")
    return 0 if passed == n and result.status == Status.OK else 1


def _quiet_nbgrader() -> None:
    """nbgrader's gradebook code triggers SQLAlchemy warnings (its queries and relationships)
    that say nothing to an instructor: those, and only those, are silenced."""
    import warnings

    try:
        from sqlalchemy.exc import SADeprecationWarning, SAWarning
    except ImportError:  # no [grade] extra: nothing from nbgrader to silence
        return
    warnings.filterwarnings("ignore", category=SAWarning)
    warnings.filterwarnings("ignore", category=SADeprecationWarning)


def cmd_grade(args) -> int:
    from .grading.progress import Progress
    from .grading.reports import summary, table, to_csv, to_json
    from .grading.run import GradeRequest, GraderError, UsageError, grade, plan
    from .sandbox.confine import Limits
    from .grading.pool import Settings, isolation

    try:
        course = Course.find(Path(args.course or args.path))
        spec = get_assignment(args.assignment, course)
    except (KeyError, CourseError) as exc:
        return _fail(str(exc.args[0]))
    req = GradeRequest(path=Path(args.path), assignment=spec, layout=course,
                       course=Path(args.course) if args.course else None, db=args.db,
                       out=Path(args.out) if args.out else None, jobs=args.jobs,
                       force=args.force, students=tuple(args.student or ()),
                       lms=Path(args.lms) if args.lms else None,
                       settings=Settings(timeout=args.timeout, cell_timeout=args.cell_timeout,
                                         limits=Limits(memory_mb=args.memory_mb)),
                       cluster=_cluster_target(args))
    if args.dry_run:
        try:
            planned = plan(req)
        except (UsageError, GraderError) as exc:
            return _fail(str(exc))
        for p in planned:
            print(f"{p.action:<5}  {_safe(p.student)}  ({_safe(p.why)})")
        n = sum(p.action == "grade" for p in planned)
        print(f"{n} of {len(planned)} notebooks would be graded (dry run: nothing was).",
              file=sys.stderr)
        return 0
    _quiet_nbgrader()
    req.isolation = isolation()
    warning = req.isolation.warning()
    if warning:
        print(_paint(f"autograder: {warning}", "1;31", _use_color(sys.stderr)), file=sys.stderr)
    progress = []

    def on_start(total: int) -> None:
        progress.append(Progress(total))
        workers = f"{args.jobs or os.cpu_count()} workers"
        where = (f"with {workers}" if req.cluster is None else
                 f"on a local Dask cluster of {workers}" if args.cluster else
                 f"on the Dask cluster at {_safe(args.scheduler)}")
        print(f"Grading {total} notebooks of {spec.name} {where}", file=sys.stderr)

    try:
        run = grade(req, on_result=lambda result: progress[0].update(result), on_start=on_start)
    except (UsageError, GraderError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        # Everything finished so far is in the ledger and the gradebook: a rerun resumes.
        done, total = (progress[0].done, progress[0].total) if progress else (0, 0)
        print(f"\nautograder: interrupted after {done} of {total}; run again to resume",
              file=sys.stderr)
        return 130
    for path, why in run.ignored:
        print(f"autograder: not graded: {_safe(path)} ({_safe(why)})", file=sys.stderr)
    for note in run.isolation_notes:
        # What the sandbox enforced is information; what it lacked is a warning.
        kind = "" if note.startswith("limits per student") else "warning: "
        print(f"autograder: {kind}{_safe(note, newlines=True)}", file=sys.stderr)
    print(f"results in {_safe(run.out)}", file=sys.stderr)
    print(summary(spec, run.results, run.final), file=sys.stderr)
    fmt = args.format or (("csv" if args.output.endswith(".csv") else "json")
                          if args.output else None)
    if args.output:
        text = (to_json(spec, run.results, run.final) if fmt == "json"
                else to_csv(spec, run.results, run.final))
        Path(args.output).write_text(text, encoding="utf-8", errors="replace")
        print(f"wrote {args.output}", file=sys.stderr)
    if args.quiet:
        return 0
    if args.format and not args.output:
        text = (to_json(spec, run.results, run.final) if fmt == "json"
                else to_csv(spec, run.results, run.final))
        # JSON escapes C0 controls but neither DEL nor C1 (\x9b is CSI), and CSV none: a
        # terminal gets them escaped; a pipe or file gets the report unchanged
        text = _safe(text, newlines=True) if sys.stdout.isatty() else text
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        print(table(spec, run.results, run.final))
    return 0


def cmd_similarity(args) -> int:
    from .grading.similarity import SimilarityError, compare, page, text

    path = Path(args.path)
    try:
        course = Course.find(path)
        spec = get_assignment(args.assignment, course)
    except (KeyError, CourseError) as exc:
        return _fail(str(exc.args[0]))
    if not 0 < args.threshold <= 1:
        return _fail(f"--threshold must be in (0, 1], not {args.threshold:g}")
    nbgrader_course = (path / "submitted").is_dir() and (path / "nbgrader_config.py").exists()
    root = path / "submitted" if nbgrader_course else path
    out = Path(args.out) if args.out else (
        path / "autograder" / spec.name / "similarity.html" if nbgrader_course
        else (root.parent if root.is_file() else root.resolve().parent)
        / f"similarity-{spec.name}.html")
    try:
        report = compare(root, spec, args.threshold)
    except SimilarityError as exc:
        return _fail(str(exc))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page(report), encoding="utf-8", errors="replace")
    print(text(report))
    for student, why in report.unreadable:
        print(f"autograder: not compared: {_safe(student)} ({_safe(why)})", file=sys.stderr)
    print(f"wrote {_safe(out)}", file=sys.stderr)
    return 0


def _cluster_target(args):
    """``--scheduler ADDRESS`` or ``--cluster local``: grade on Dask (grading.cluster)."""
    if not (args.scheduler or args.cluster):
        return None
    from .grading.cluster import ClusterTarget

    return ClusterTarget(address=args.scheduler or args.cluster)


def cmd_release(args) -> int:
    from .bridge.course import release

    course = Course.find()
    for name in args.assignments or assignment_names(course):
        path = release(name, Path(args.output_dir) if args.output_dir else None, course)
        print(f"generated {path}")
    return 0


def cmd_init_course(args) -> int:
    from .bridge.course import init_course

    course = Course.load(args.checks) if args.checks else Course.find()
    try:
        root = init_course(Path(args.directory), args.assignments or assignment_names(course),
                           course)
    except (FileNotFoundError, CourseError) as exc:
        return _fail(str(exc))
    print(f"nbgrader course directory ready: {root}\n"
          f"  cd {root} && nbgrader generate_assignment <assignment>\n"
          f"  (collect submissions into {root}/submitted/<student>/<assignment>/)\n"
          f"  autograder grade . --assignment <assignment>")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .sandbox.confine import MEMORY_MB
    from .timing import CELL_CPU, NOTEBOOK_CPU, STUDENT_CHECK

    p = argparse.ArgumentParser(prog="autograder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="run the public checks on your notebook")
    c.add_argument("notebook", help="a notebook, or a folder: every notebook in it")
    c.add_argument("--assignment", help="assignment id (default: what the notebook says, "
                                        "else its name)")
    c.add_argument("--timeout", type=float, default=STUDENT_CHECK,
                   help=f"seconds (default {STUDENT_CHECK:g})")
    c.add_argument("--plain", action="store_true",
                   help="run in a plain subprocess, without the sandbox (the default on macOS "
                        "and Windows)")
    c.set_defaults(func=cmd_check)

    g = sub.add_parser("grade", help="grade submissions with public and hidden checks")
    g.add_argument("path", help="a notebook, a folder of notebooks, an nbgrader submitted/ tree, "
                                "or an nbgrader course directory")
    g.add_argument("--assignment", required=True,
                   help="assignment id (the course's autograder.toml says where its checks are)")
    g.add_argument("--course", help="nbgrader course directory: grade its submitted/ and write "
                                    "the gradebook and autograded/ (implied when PATH is one)")
    g.add_argument("--db", help="gradebook SQLAlchemy URL (default: sqlite:///COURSE/gradebook.db)")
    g.add_argument("--out", help="folder for results.json/.csv, feedback/ and the ledger that "
                                 "makes re-runs resumable (default: COURSE/autograder/A, or "
                                 "autograder-A next to PATH)")
    g.add_argument("--force", action="store_true", help="regrade notebooks graded before")
    g.add_argument("--student", action="append", metavar="NAME",
                   help="grade only this student (repeatable); implies --force for them: "
                        "they are regraded even if unchanged, the others are left as they are")
    g.add_argument("--dry-run", action="store_true",
                   help="list what would be graded and why (new, changed, unchanged), and "
                        "grade nothing")
    g.add_argument("--format", choices=("json", "csv"),
                   help="print the full report in this format instead of the summary table")
    g.add_argument("--output", "-o", help="also write the full report here (JSON, or CSV for a "
                                          "name ending .csv, unless --format says)")
    g.add_argument("--lms", metavar="FILE",
                   help="also write the LMS export (student,score,max; Canvas and Moodle "
                        "import it) here; it is always written to OUT/grades-lms.csv")
    g.add_argument("--quiet", "-q", action="store_true", help="nothing on standard output")
    g.add_argument("--jobs", "-j", type=int, default=0,
                   help="parallel workers (default: cores; with --scheduler, the cluster's)")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="grade on the Dask cluster whose scheduler is at ADDRESS "
                            "(tcp://host:8786; needs the `cluster` extra)")
    where.add_argument("--cluster", choices=("local",),
                       help="local: grade on a Dask LocalCluster of --jobs worker processes")
    g.add_argument("--timeout", type=float, default=NOTEBOOK_CPU,
                   help=f"CPU seconds per notebook (default {NOTEBOOK_CPU:g})")
    g.add_argument("--cell-timeout", type=float, default=CELL_CPU,
                   help=f"CPU seconds per cell (default {CELL_CPU:g})")
    g.add_argument("--memory-mb", type=int, default=MEMORY_MB,
                   help=f"memory per student process (default {MEMORY_MB})")
    g.set_defaults(func=cmd_grade)

    m = sub.add_parser("similarity", help="pairs of submissions with near-identical code for a "
                                          "graded function (never affects grades)")
    m.add_argument("path", help="a folder of notebooks, an nbgrader submitted/ tree, or an "
                                "nbgrader course directory")
    m.add_argument("--assignment", required=True, help="assignment id")
    m.add_argument("--out", help="the HTML report (default: COURSE/autograder/A/similarity.html, "
                                 "or similarity-A.html next to PATH)")
    m.add_argument("--threshold", type=float, default=0.8,
                   help="share of each side's normalised code found in the other (default 0.8)")
    m.set_defaults(func=cmd_similarity)

    r = sub.add_parser("release", help="regenerate exercises/ from solutions/ with nbgrader")
    r.add_argument("assignments", nargs="*")
    r.add_argument("--output-dir", help="write here instead of exercises/")
    r.set_defaults(func=cmd_release)

    i = sub.add_parser("init-course", help="make an nbgrader course directory")
    i.add_argument("directory")
    i.add_argument("assignments", nargs="*")
    i.add_argument("--checks", metavar="AUTOGRADER_TOML",
                   help="the course whose assignments to set up (default: the autograder.toml "
                        "of the working directory or its parents; else this package's course)")
    i.set_defaults(func=cmd_init_course)
    return p


def _skip_slow_optional_imports() -> None:
    """jsonschema (imported by nbformat and nbgrader) compiles 39 grammars when it is imported
    if the optional ``rfc3987-syntax`` package is installed (jupyter-events asks for it): about
    1.5 s of every command, for "iri" format checks that no notebook schema uses. A command
    never needs them, so it makes that optional import fail."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]


def main(argv=None) -> int:
    _skip_slow_optional_imports()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CourseError as exc:  # a malformed autograder.toml, or checks that cannot be imported
        return _fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())

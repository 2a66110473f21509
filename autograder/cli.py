"""The ``autograder`` command.

    autograder check NOTEBOOK                      students: public checks, with feedback
    autograder grade PATH --assignment A           instructors: grade a class (see README)
    autograder release [A ...]                     maintainers: regenerate exercises/ (nbgrader)
    autograder init-course DIR                     instructors: an nbgrader course directory
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .spec import HIDDEN, PUBLIC, REGISTRY, get_assignment


def _use_color(stream) -> bool:
    return stream.isatty() and os.environ.get("NO_COLOR") is None and os.name != "nt"


def _paint(text: str, code: str, on: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if on else text


def _infer_assignment(notebook: Path, given: str | None) -> str:
    if given:
        return given
    if notebook.stem in REGISTRY:
        return notebook.stem
    known = ", ".join(sorted(REGISTRY))
    raise SystemExit(f"autograder: cannot tell which assignment {notebook.name} is; pass "
                     f"--assignment (one of: {known}).")


def cmd_check(args) -> int:
    from .grading import grade_notebook

    nb = Path(args.notebook)
    if not nb.is_file():
        print(f"autograder: no such notebook: {nb}", file=sys.stderr)
        return 2
    spec = get_assignment(_infer_assignment(nb, args.assignment))
    color = _use_color(sys.stdout)
    print(f"Checking {nb} against the public checks of {spec.name} ({spec.title})\n")
    result = grade_notebook(nb, spec, tiers=(PUBLIC,), timeout=args.timeout)
    for note in result.notes:
        print(_paint("  note: ", "33", color) + note)
    if result.notes:
        print()
    passed = 0
    for gf in spec.functions:
        fr = result.functions[gf.name]
        ok = fr["score"] == fr["max_score"]
        passed += ok
        mark = _paint("\u2713 PASS", "32", color) if ok else _paint("\u2717 FAIL", "31", color)
        print(f"  {mark}  {gf.name}")
        for msg in fr["messages"]:
            for i, line in enumerate(msg.splitlines()):
                print(("          " if i == 0 else "            ") + line)
    n = len(spec.functions)
    print(f"\nPublic checks passed for {passed} of {n} functions.")
    if passed == n:
        print("When your instructor grades the notebook, hidden checks also compare each "
              "function with a reference solution on more inputs and edge cases.")
    return 0 if passed == n and result.status == "ok" else 1


def cmd_grade(args) -> int:
    from .confine import Limits
    from .feedback import write as write_feedback
    from .grading import GraderError, Ledger, find_submissions, grade_all, to_csv, to_json
    from .progress import Progress, summary

    try:
        spec = get_assignment(args.assignment)
    except KeyError as exc:
        print(f"autograder: {exc.args[0]}", file=sys.stderr)
        return 2
    course = Path(args.course).resolve() if args.course else None
    if course is None and (Path(args.path) / "submitted").is_dir() \
            and (Path(args.path) / "nbgrader_config.py").exists():
        course = Path(args.path).resolve()  # PATH is an nbgrader course directory
    root = course / "submitted" if course else Path(args.path)
    try:
        subs = find_submissions(root, spec.name)
    except FileNotFoundError as exc:
        print(f"autograder: {exc.args[0]}", file=sys.stderr)
        return 2
    if course:  # only this assignment's notebooks: submitted/<student>/<assignment>/*.ipynb
        subs = [(s, nb) for s, nb in subs if nb.parent.name == spec.name]
    if not subs:
        print(f"autograder: no notebooks for {spec.name} found under {root}", file=sys.stderr)
        return 2
    default_out = (course / "autograder" / spec.name if course
                   else (root.parent if root.is_file() else root.resolve().parent)
                   / f"autograder-{spec.name}")
    out = Path(args.out) if args.out else default_out
    out = out.resolve()
    db_url = args.db or (f"sqlite:///{course / 'gradebook.db'}" if course else None)
    source_nb = None
    if course:
        source_nb = course / "source" / spec.name / f"{spec.name}.ipynb"
        if not source_nb.exists():
            print(f"autograder: {source_nb} not found: is {course} an nbgrader course "
                  f"directory with this assignment in source/?", file=sys.stderr)
            return 2
        os.environ.setdefault("AUTOGRADER_SOLUTIONS", str(course / "source"))
        from .gradebook import GradebookError, check_ready

        try:
            check_ready(db_url, spec.name)
        except GradebookError as exc:
            print(f"autograder: {exc}", file=sys.stderr)
            return 2
    secret = [root, out] + ([course] if course else [])
    if db_url and db_url.startswith("sqlite:///"):
        secret.append(Path(db_url[len("sqlite:///"):]).parent)

    progress = Progress(len(subs))
    ledger = Ledger(out / "ledger.jsonl")
    writer = None
    if course:
        from .gradebook import Writer

        writer = Writer(db_url, spec, source_nb, course)

    def on_result(result) -> None:
        if not result.skipped:
            write_feedback(spec, result, out / "feedback")
            if writer is not None:
                writer.record(result)
        progress.update(result)

    print(f"Grading {len(subs)} notebooks of {spec.name} with {args.jobs or os.cpu_count()} "
          f"workers; results in {out}", file=sys.stderr)
    limits = Limits(memory_mb=args.memory_mb)
    try:
        results = grade_all(subs, spec, jobs=args.jobs, timeout=args.timeout, limits=limits,
                            cell_timeout=args.cell_timeout,
                            secret=secret, ledger=ledger, force=args.force, on_result=on_result)
    except GraderError as exc:  # the grader's own set-up (e.g. no reference solution)
        print(f"autograder: {exc}", file=sys.stderr)
        return 2
    finally:
        if writer is not None:
            writer.__exit__(None, None, None)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(to_json(spec, results), encoding="utf-8")
    (out / "results.csv").write_text(to_csv(spec, results), encoding="utf-8")
    isolation = sorted({n for r in results for n in r.isolation})
    for note in isolation:
        print(f"autograder: warning: {note}", file=sys.stderr)
    print(summary(spec, results), file=sys.stderr)
    text = to_json(spec, results) if args.format == "json" else to_csv(spec, results)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    elif not args.quiet:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_release(args) -> int:
    from .nbgrader_course import release

    names = args.assignments or sorted(REGISTRY)
    for name in names:
        path = release(name, Path(args.output_dir) if args.output_dir else None)
        print(f"generated {path}")
    return 0


def cmd_init_course(args) -> int:
    from .nbgrader_course import init_course

    root = init_course(Path(args.directory), args.assignments or sorted(REGISTRY))
    print(f"nbgrader course directory ready: {root}\n"
          f"  cd {root} && nbgrader generate_assignment <assignment>\n"
          f"  (collect submissions into {root}/submitted/<student>/<assignment>/)\n"
          f"  nbgrader autograde <assignment> && nbgrader generate_feedback <assignment>")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autograder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="run the public checks on your notebook")
    c.add_argument("notebook")
    c.add_argument("--assignment", help="assignment id (default: the notebook's name)")
    c.add_argument("--timeout", type=float, default=120.0, help="seconds (default 120)")
    c.set_defaults(func=cmd_check)

    g = sub.add_parser("grade", help="grade submissions with public and hidden checks")
    g.add_argument("path", help="a notebook, a folder of notebooks, an nbgrader submitted/ tree, "
                                "or an nbgrader course directory")
    g.add_argument("--assignment", required=True, choices=sorted(REGISTRY))
    g.add_argument("--course", help="nbgrader course directory: grade its submitted/ and write "
                                    "the gradebook and autograded/ (implied when PATH is one)")
    g.add_argument("--db", help="gradebook SQLAlchemy URL (default: sqlite:///COURSE/gradebook.db)")
    g.add_argument("--out", help="folder for results.json/.csv, feedback/ and the ledger that "
                                 "makes re-runs resumable (default: COURSE/autograder/A, or "
                                 "autograder-A next to PATH)")
    g.add_argument("--force", action="store_true", help="regrade notebooks graded before")
    g.add_argument("--format", choices=("json", "csv"), default="json")
    g.add_argument("--output", "-o", help="also write the report here instead of standard output")
    g.add_argument("--quiet", "-q", action="store_true", help="no report on standard output")
    g.add_argument("--jobs", "-j", type=int, default=0, help="parallel workers (default: cores)")
    g.add_argument("--timeout", type=float, default=300.0, help="seconds per notebook")
    g.add_argument("--cell-timeout", type=float, default=30.0, help="seconds per cell")
    g.add_argument("--memory-mb", type=int, default=2048, help="memory per student process")
    g.set_defaults(func=cmd_grade)

    r = sub.add_parser("release", help="regenerate exercises/ from solutions/ with nbgrader")
    r.add_argument("assignments", nargs="*")
    r.add_argument("--output-dir", help="write here instead of exercises/")
    r.set_defaults(func=cmd_release)

    i = sub.add_parser("init-course", help="make an nbgrader course directory")
    i.add_argument("directory")
    i.add_argument("assignments", nargs="*")
    i.set_defaults(func=cmd_init_course)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

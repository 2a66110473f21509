"""The ``autograder`` command.

    autograder check NOTEBOOK                      students: public checks, with feedback
    autograder grade PATH --assignment A           instructors: public + hidden checks, JSON/CSV
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
    from .grading import find_submissions, grade_all, to_csv, to_json

    try:
        spec = get_assignment(args.assignment)
        subs = find_submissions(args.path, spec.name)
    except (KeyError, FileNotFoundError) as exc:
        print(f"autograder: {exc.args[0]}", file=sys.stderr)
        return 2
    if not subs:
        print(f"autograder: no notebooks found under {args.path}", file=sys.stderr)
        return 2
    total = len(subs)
    count = [0]

    def progress(res):
        count[0] += 1
        print(f"[{count[0]}/{total}] {res.student}: {res.score}/{res.max_score} ({res.status})",
              file=sys.stderr, flush=True)

    jobs = args.jobs or os.cpu_count() or 1
    try:
        results = grade_all(subs, spec, jobs=jobs, timeout=args.timeout, progress=progress)
    except RuntimeError as exc:  # the grader's own set-up (e.g. no reference solution)
        print(f"autograder: {exc}", file=sys.stderr)
        return 2
    text = to_json(spec, results) if args.format == "json" else to_csv(spec, results)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
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
    g.add_argument("path", help="a notebook, a folder of notebooks, or an nbgrader submitted/ tree")
    g.add_argument("--assignment", required=True, choices=sorted(REGISTRY))
    g.add_argument("--format", choices=("json", "csv"), default="json")
    g.add_argument("--output", "-o", help="write the report here instead of standard output")
    g.add_argument("--jobs", "-j", type=int, default=0, help="parallel workers (default: cores)")
    g.add_argument("--timeout", type=float, default=300.0, help="seconds per notebook")
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

"""Class-scale grading: `autograder grade --jobs 2` against `nbgrader autograde` on the same files.

    python3 course.py bench [--students 40] [--assignment 01_information] [--jobs 2]

Generates a class of submissions — correct ones, partly wrong ones (realistic mistakes from
tests/variants), untouched stubs, and misbehaving ones (a syntax error, a crashing cell, sys.exit,
a cell printing a lot, a slow cell, a cheater who monkeypatches numpy) — into two identical
nbgrader course directories. Grades one with nbgrader's own `autograde` and the other with
`autograder grade`, checks that every honest submission gets the same score from both, and
prints submissions per minute for each, their ratio, and per submission: the time inside the
checks, the time the notebook's own cells ran, and the grader's overhead (everything else, over
the whole run's worker-seconds). Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.bridge.course import init_course, nbgrader  # noqa: E402
from autograder.spec import assignment_names, get_assignment  # noqa: E402
from tests.conftest import exercise_notebook, filled_notebook, write_notebook  # noqa: E402
from tests.variants import variants  # noqa: E402


def _source_of(fn) -> str:
    import inspect
    import textwrap

    text = textwrap.dedent(inspect.getsource(fn))
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("@")]
    body = "\n".join(lines)
    # The imports the function uses, as a student would write them.
    header = "import numpy as np\n" + "".join(
        line for name, line in (("scipy", "import scipy.special\nimport scipy.stats\n"),
                                ("torch", "import torch\n"))
        if re.search(rf"\b{name}\b", body))
    return header + body.replace(f"def {fn.__name__}(", "def __NAME__(")


def _extra(nb: dict, source: str) -> dict:
    nb["cells"].insert(3, {"cell_type": "code", "metadata": {}, "outputs": [],
                           "execution_count": None, "source": source})
    return nb


MISBEHAVING = {
    "syntax_error": "def broken(:\n    pass",
    "crashing_cell": "raise RuntimeError('oops')",
    "sys_exit": "import sys\nsys.exit()",
    "prints_a_lot": "for i in range(20000):\n    print('line', i)",
    "slow_cell": "import time\ntime.sleep(2)",
}
CHEAT = ("import numpy\nnumpy.allclose = lambda *a, **k: True\n"
         "numpy.isclose = lambda a, b, **k: numpy.ones(numpy.broadcast(a, b).shape, bool)\n")


def make_class(assignment: str, n: int, seed: int) -> dict:
    """``{student: (notebook, honest)}``; honest = the score must agree between graders."""
    rng = random.Random(seed)
    spec = get_assignment(assignment)
    wrong = [v for v in variants(assignment, correct=False) if not v.companions]
    out = {}
    for i in range(n):
        kind = i % 20
        name = f"s{i:03d}"
        if kind < 8:
            out[name] = (filled_notebook(assignment), True)
        elif kind < 14:
            picks = rng.sample(wrong, k=min(2, len(wrong)))
            repl = {}
            for v in picks:
                if v.target not in repl:
                    repl[v.target] = _source_of(v.fn).replace("__NAME__", v.target)
            out[name] = (filled_notebook(assignment, repl), True)
        elif kind < 17:
            out[name] = (exercise_notebook(assignment), True)
        elif kind < 19:
            # two misbehaving students per twenty, cycling through every kind
            label = list(MISBEHAVING)[(2 * (i // 20) + kind - 17) % len(MISBEHAVING)]
            out[name + "_" + label] = (_extra(filled_notebook(assignment), MISBEHAVING[label]),
                                       True)
        else:
            nb = exercise_notebook(assignment)
            body = "\n".join(f"def {gf.name}(*a, **k):\n    return 0.0" for gf in spec.functions)
            out[name + "_cheat"] = (_extra(nb, CHEAT + body), False)
    return out


def nbgrader_scores(course: Path, assignment: str) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student.id: s.score for s in gb.assignment_submissions(assignment)}


def bench_one(a: str, args, tmp: Path) -> int:
    ours, theirs = init_course(tmp / f"ours-{a}", [a]), init_course(tmp / f"nbgrader-{a}", [a])
    courses = (ours, theirs) if args.nbgrader else (ours,)
    for course in courses:
        nbgrader(course, "generate_assignment", a, "--force")
    klass = make_class(a, args.students, args.seed)
    for student, (nb, _) in klass.items():
        for course in courses:
            write_notebook(nb, course / "submitted" / student / a / f"{a}.ipynb")
    n = len(klass)
    t_nbgrader = None
    if args.nbgrader:
        print(f"{n} submissions of {a}; grading with nbgrader autograde ...", flush=True)
        t0 = time.perf_counter()
        nbgrader(theirs, "autograde", a, "--force")
        t_nbgrader = time.perf_counter() - t0
        print(f"  nbgrader autograde: {t_nbgrader:.1f} s", flush=True)

    print(f"{n} submissions of {a}; grading with autograder grade --jobs {args.jobs} ...",
          flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(ours),
                           "--assignment", a, "--jobs", str(args.jobs), "--quiet",
                           "--force"], capture_output=True, text=True)
    t_ours = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stderr)
        return 1
    print(f"  autograder grade: {t_ours:.1f} s", flush=True)

    results = json.loads((ours / "autograder" / a / "results.json").read_text())
    mine = {s["student"]: s for s in results["submissions"]}
    checks = sum(s["check_seconds"] for s in mine.values())
    cells = sum(s.get("cell_seconds", 0.0) for s in mine.values())
    worker = sum(s["seconds"] - s["check_seconds"] - s.get("cell_seconds", 0.0)
                 for s in mine.values()) / n
    slots = t_ours * args.jobs  # worker-seconds the run occupied
    print()
    print("| grader | wall time | submissions/min |")
    print("|---|---|---|")
    if t_nbgrader:
        print(f"| nbgrader autograde (sequential) | {t_nbgrader:.1f} s | "
              f"{60 * n / t_nbgrader:.0f} |")
    print(f"| autograder grade --jobs {args.jobs} | {t_ours:.1f} s | {60 * n / t_ours:.0f} |")
    if t_nbgrader:
        print(f"\nspeed-up: {t_nbgrader / t_ours:.1f}x")
    # Per submission, the run's worker-seconds (wall time x jobs) split into: the checks, the
    # notebook's own cells (the student's code, which nbgrader runs too), and the grader's
    # overhead: everything else, in a worker (start a sandboxed process, send the cells, stop
    # it) and around it (the command's and the workers' start-up, recording each result).
    print(f"per submission: {checks / n:.2f} s inside the checks, {cells / n:.2f} s running "
          f"the notebook's own cells; the grader's overhead {worker:.3f} s inside a worker, "
          f"{(slots - checks - cells) / n:.3f} s over the whole run (start-up and recording "
          f"included; {(slots - checks) / n:.2f} s counting the cells as overhead too)")
    statuses = {}
    for s in mine.values():
        statuses[s["status"]] = statuses.get(s["status"], 0) + 1
    print(f"statuses: {statuses}")
    if not args.nbgrader:
        return 0
    other = nbgrader_scores(theirs, a)
    mismatches = [(s, mine[s]["score"], other.get(s)) for s, (_, honest) in klass.items()
                  if honest and mine[s]["score"] != other.get(s)]
    cheats = [(s, mine[s]["score"], other.get(s)) for s, (_, honest) in klass.items()
              if not honest]
    print(f"honest submissions with different scores: {len(mismatches)} {mismatches}")
    print(f"cheaters (score here vs nbgrader): {cheats}")
    return 1 if mismatches else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, default=40)
    ap.add_argument("--assignment", default="01_information",
                    help="an assignment id, or 'all'")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-nbgrader", dest="nbgrader", action="store_false",
                    help="time autograder grade only (nbgrader takes ~5 s a notebook)")
    ap.add_argument("--keep", action="store_true", help="keep the course directories")
    args = ap.parse_args()
    names = assignment_names() if args.assignment == "all" else [args.assignment]
    tmp = Path(tempfile.mkdtemp(prefix="bench-grade-"))
    try:
        t0 = time.perf_counter()
        code = max(bench_one(a, args, tmp) for a in names)
        if len(names) > 1:
            print(f"\nall {len(names)} assignments: {time.perf_counter() - t0:.0f} s")
        return code
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

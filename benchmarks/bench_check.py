"""How long checking and grading one exercise notebook takes (not a test: timings vary).

    python benchmarks/bench_check.py [--repeat 5] [--assignment 03_backprop ...]
                                     [--command check] [--plain]

Times `autograder check` (public checks, what a student runs) and `autograder grade` (public +
hidden checks, what an instructor runs) on the reference solution and on the untouched stub of
every assignment, as whole commands including interpreter start-up: the median wall-clock time,
and the median CPU time of the command and everything it waited for (what a busy machine
changes least). `--plain` passes `--plain` to `check`.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.spec import assignment_names  # noqa: E402
from tests.conftest import filled_notebook, write_notebook  # noqa: E402


def timed(cmd: list) -> tuple:
    """(wall-clock seconds, CPU seconds of the command and its waited-for children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--assignment", action="append", help="only these (repeatable)")
    parser.add_argument("--command", choices=("check", "grade"), help="only this command")
    parser.add_argument("--plain", action="store_true", help="`check --plain`")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.assignment or assignment_names():
            notebooks = {
                "reference": write_notebook(filled_notebook(name), Path(tmp) / f"{name}.ipynb"),
                "stub": ROOT / "exercises" / f"{name}.ipynb",
            }
            for label, nb in notebooks.items():
                commands = (["check", str(nb), *(["--plain"] if args.plain else [])],
                            ["grade", str(nb), "--assignment", name, "--jobs", "1"])
                for command in commands:
                    if args.command and command[0] != args.command:
                        continue
                    runs = [timed([sys.executable, "-m", "autograder", *command])
                            for _ in range(args.repeat)]
                    walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
                    what = command[0] + (" --plain" if "--plain" in command else "")
                    print(f"{name:20s} {label:10s} autograder {what:14s} "
                          f"median {statistics.median(walls):.2f} s  (min {min(walls):.2f} s)"
                          f"  CPU {statistics.median(cpus):.2f} s", flush=True)


if __name__ == "__main__":
    main()

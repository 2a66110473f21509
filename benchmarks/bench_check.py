"""How long checking and grading one exercise notebook takes (not a test: timings vary).

    python benchmarks/bench_check.py [--repeat 5]

Times `autograder check` (public checks, what a student runs) and `autograder grade` (public +
hidden checks, what an instructor runs) on the reference solution and on the untouched stub of
every assignment, as whole commands including interpreter start-up.
"""

from __future__ import annotations

import argparse
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


def timed(cmd: list) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in assignment_names():
            notebooks = {
                "reference": write_notebook(filled_notebook(name), Path(tmp) / f"{name}.ipynb"),
                "stub": ROOT / "exercises" / f"{name}.ipynb",
            }
            for label, nb in notebooks.items():
                for command in (["check", str(nb)],
                                ["grade", str(nb), "--assignment", name, "--jobs", "1"]):
                    runs = [timed([sys.executable, "-m", "autograder", *command])
                            for _ in range(args.repeat)]
                    print(f"{name:20s} {label:10s} autograder {command[0]:6s} "
                          f"median {statistics.median(runs):.2f} s  (min {min(runs):.2f} s)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""One entry point for the course's maintainers, students and CI.

    python3 course.py book        set up .venv (if needed) and build the HTML book
    python3 course.py pdf         build the whole book as one PDF: _build/pdf/book.pdf
                                  (offline; needs a system Chromium, like the browser tests)
    python3 course.py test        set up .venv (if needed) and run the whole test suite, in
                                  parallel (a worker per core, plus one); `test -m "not slow"` is the fast lane
    python3 course.py exercises   regenerate exercises/ from solutions/ with nbgrader
    python3 course.py bench       benchmark: autograder grade vs nbgrader autograde on a class
    python3 course.py setup       only set up .venv
    python3 course.py setup --student
                                  a student's .venv: the checks, the notebooks' packages and
                                  JupyterLab (`.[course,lab]`), none of the test tools

Set-up creates a virtual environment in .venv and installs the course (`pip install -e
.[course,grade,book,cluster,dev]`). It is skipped when pyproject.toml and the extras have not
changed since the last successful install, so the commands are cheap to repeat. Only the Python
standard library is used here, because this file runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".course-install-stamp"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def _say(msg: str) -> None:
    print(f"[course] {msg}", flush=True)


def _run(cmd: list, **kw) -> int:
    _say("$ " + " ".join(str(c) for c in cmd))
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kw)


EXTRAS = ("course", "grade", "book", "cluster", "dev")  # everything: book, grading, tests
STUDENT_EXTRAS = ("course", "lab")  # `autograder check` and JupyterLab; no pytest, playwright


def setup(extras: tuple = EXTRAS) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"[course] Python 3.11 or newer is required; this is "
                 f"{sys.version.split()[0]}. Run this file with a newer interpreter, e.g. "
                 "`python3.11 course.py ...`.")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if extras != EXTRAS:  # a student's install: any other command installs everything
        wanted += " " + ",".join(extras)
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not PY.exists():
        _say(f"creating virtual environment in {VENV}")
        venv.create(VENV, with_pip=True)
    _say("installing the course and its dependencies (first time: a few minutes)")
    code = _run([PY, "-m", "pip", "install", "--disable-pip-version-check", "-q",
                 "-e", f"{ROOT}[{','.join(extras)}]"])
    if code != 0:
        sys.exit("[course] installation failed; see pip's message above.")
    STAMP.write_text(wanted)


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(VENV)
    # Notebooks run by the book, nbgrader and the tests must use this environment's kernel.
    env["JUPYTER_PATH"] = str(VENV / "share" / "jupyter") + os.pathsep + env.get("JUPYTER_PATH", "")
    return env


def book(extra: list) -> int:
    setup()
    code = _run([BIN / "jupyter-book", "build", ".", "-W", "--keep-going", *extra], env=_env())
    if code == 0:
        _say(f"book built: open {ROOT / '_build' / 'html' / 'index.html'}")
    return code


PDF = ROOT / "_build" / "pdf" / "book.pdf"


def pdf(extra: list) -> int:
    """The single-page HTML book (executed outputs from the same cache as `book`), printed by
    headless Chromium: see _ext/course_pdf.py for why not LaTeX."""
    setup()
    code = _run([BIN / "jupyter-book", "build", ".", "-W", "--keep-going",
                 "--builder", "singlehtml", *extra], env=_env())
    if code != 0:
        return code
    code = _run([PY, ROOT / "_ext" / "course_pdf.py", ROOT / "_build" / "singlehtml", PDF],
                env=_env())
    if code == 0:
        _say(f"PDF written: {PDF}")
    return code


def test(extra: list) -> int:
    """The whole suite: everything in parallel, then, alone, the tests marked `exclusive`,
    which load the whole machine on purpose (tests/test_load.py) and would slow their
    neighbours. With arguments, one pytest run with exactly those."""
    setup()
    if extra:
        return _run([PY, "-m", "pytest", *_parallel(extra), *extra], env=_env())
    first = _run([PY, "-m", "pytest", *_parallel([]), "-m", "not exclusive"], env=_env())
    second = _run([PY, "-m", "pytest", "-n", "0", "-m", "exclusive"], env=_env())
    return first or second


def _parallel(extra: list) -> list:
    """pytest-xdist, a worker per core plus one, unless the caller chose (`-n 0` runs
    serially): tests wait on browsers, kernels and subprocesses, and the extra worker fills
    those gaps (17.2 min against 18.4 for the parallel phase on 2 cores; limits count CPU
    time, so verdicts do not change). Tests that share a graded class or a created user carry
    an `xdist_group` (tests/conftest.py); `loadgroup` keeps each group on one worker."""
    chose = any(a == "-n" or a.startswith(("-n", "--numprocesses", "--dist")) or
                a == "no:xdist" for a in extra)
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        os.cpu_count() or 1
    return [] if chose else ["-n", str(workers + 1), "--dist", "loadgroup"]


def exercises(extra: list) -> int:
    setup()
    return _run([PY, "-m", "autograder", "release", *extra], env=_env())


def bench(extra: list) -> int:
    setup()
    return _run([PY, str(ROOT / "benchmarks" / "bench_grade.py"), *extra], env=_env())


def main(argv: list) -> int:
    commands = {"book": book, "pdf": pdf, "test": test, "exercises": exercises,
                "bench": bench}
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    name, extra = argv[0], argv[1:]
    if name == "setup":
        setup(STUDENT_EXTRAS if extra == ["--student"] else EXTRAS)
        _say(f"ready: activate with `source {BIN / 'activate'}`")
        return 0
    if name not in commands:
        print(__doc__)
        return 2
    return commands[name](extra)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

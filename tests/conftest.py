"""Shared fixtures (the assignment specs, reference namespaces, notebook builders) and the
suite's policies: one hypothesis profile, the `slow` marker behind the fast lane, xdist groups
for tests that share an expensive fixture, and browser tests that may not vanish in CI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from filelock import FileLock
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # so `tests.variants` imports from any working directory

from autograder.notebook import read_cells, run_cells  # noqa: E402
from autograder.reference import load_reference  # noqa: E402
from autograder.spec import assignment_names, get_assignment  # noqa: E402

ASSIGNMENTS = assignment_names()

# One thread per library (torch, OpenBLAS) in everything the suite runs, as the grader's own
# workers have: the suite runs a worker per core plus one, and a pool of threads per test would
# fight the other workers for the cores, spinning while it waits (16 % more CPU for a chapter's
# notebook on a quiet machine, far more under load). Results do not depend on it.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
HTML = ROOT / "_build" / "html"
JB = Path(sys.executable).parent / "jupyter-book"


# One hypothesis profile for the whole suite. Derandomized: a run on CI and a run on a laptop
# draw the same examples, so a failure reproduces. HYPOTHESIS_PROFILE=explore draws afresh
# (and more) when hunting for new counterexamples.
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          print_blob=True)
settings.register_profile("explore", settings.get_profile("ci"), max_examples=400,
                          derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Markers that mean "minutes, not seconds": the fast lane `-m "not slow"` leaves them out.
SLOW_MARKERS = ("slow", "book", "browser", "nbgrader")
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
NO_BROWSER = "no browser"  # how tests/test_browser.py's module-level skip starts


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """First, so that `-m` deselection and xdist's `loadgroup` see the markers added here."""
    for item in items:
        if any(item.get_closest_marker(m) for m in SLOW_MARKERS[1:]):
            item.add_marker(pytest.mark.slow)
        group = _shared_fixture_group(item)
        if group and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(group))


def _shared_fixture_group(item) -> str | None:
    """Tests that share a module- or session-scoped fixture (a graded class, a created user)
    must run in one xdist worker, or each worker would make its own copy; not those marked
    `per_worker` (the book's build is made once per run by `once_per_run`). The group is
    the widest such fixture, with its parameter: `test_nbgrader.py`'s per-assignment courses
    still spread over the workers."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    best = None
    for name in info.names_closure:
        defs = info.name2fixturedefs.get(name)
        if not defs or defs[-1].scope not in ("module", "package", "session"):
            continue
        fixturedef = defs[-1]
        if getattr(fixturedef.func, "per_worker", False):
            continue
        # Only the suite's own: pytest's session-wide tmp_path_factory would otherwise put
        # every test using tmp_path into one group, and so on one worker.
        if not getattr(fixturedef.func, "__module__", "").startswith("tests"):
            continue
        param = getattr(getattr(item, "callspec", None), "params", {}).get(name)
        key = name if fixturedef.scope == "session" else f"{item.module.__name__}::{name}"
        # No "[", "]" or "@" in a group's name: xdist's loadgroup finds the group after the
        # last "@" only when no "]" follows it, and otherwise silently runs each test alone.
        key += "" if param is None else ":" + re.sub(r"[\[\]@]", "_", str(param))
        rank = fixturedef.scope == "session"
        if best is None or rank > best[0]:
            best = (rank, key)
    return best[1] if best else None


def pytest_collectreport(report):
    """Remember a module skipped for want of a browser (tests/test_browser.py does that at
    import, before any test exists to fail)."""
    if report.skipped and NO_BROWSER in str(report.longrepr):
        _BROWSERLESS.append(f"{report.nodeid}: {_skip_reason(report)}")


_BROWSERLESS: list = []


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


def _browser_tests_wanted(config) -> bool:
    """False when the run deselected them anyway (`-m "not slow"`, `-m "not browser"`)."""
    expr = config.getoption("markexpr", "")
    if not expr:
        return True
    try:
        from _pytest.mark.expression import Expression
    except ImportError:  # pragma: no cover - pytest moved it: be strict rather than silent
        return True
    return Expression.compile(expr).evaluate(lambda name, **kw: name in ("browser", "book",
                                                                            "slow"))


def browser_failure(config) -> str | None:
    """On CI a missing browser fails the run: the browser tests are the only check of what
    readers see, and a skip there is too easy to miss. Elsewhere it stays a skip with its
    reason."""
    if not (ON_CI and _BROWSERLESS and _browser_tests_wanted(config)):
        return None
    return ("CI=true but the browser tests could not run:\n  " + "\n  ".join(_BROWSERLESS)
            + "\nInstall Chromium (`apt-get install chromium`; .ci/run does so as root) or "
            "run without CI=true to let them skip.")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    problem = browser_failure(config)
    if problem:
        terminalreporter.section("BROWSER TESTS DID NOT RUN", sep="!", red=True, bold=True)
        terminalreporter.line(problem, red=True)


def pytest_sessionfinish(session, exitstatus):
    if browser_failure(session.config) and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def build_book(*extra: str) -> subprocess.CompletedProcess:
    """`jupyter-book build . -W --keep-going`, as `python3 course.py book` runs it."""
    # A non-inline MPLBACKEND inherited by the kernel would silently drop every figure.
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    return subprocess.run([str(JB), "build", str(ROOT), "-W", "--keep-going", *extra],
                          capture_output=True, text=True, cwd=ROOT, env=env)


# One id per test run, the same in every xdist worker (xdist hands its workers one).
RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex


def once_per_run(name: str, make, state_dir: Path = ROOT / "_build") -> dict:
    """`make()` (a JSON-able dict) once per test run, whichever xdist worker asks first: it
    runs under a file lock while the others wait, and all of them read the result it left.
    So tests needing it spread over the workers instead of queueing on one."""
    state_dir.mkdir(parents=True, exist_ok=True)
    state = state_dir / f".{name}.json"
    with FileLock(str(state) + ".lock"):
        try:
            saved = json.loads(state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
        if saved.get("run") == RUN_ID:
            return saved["result"]
        result = make()
        state.write_text(json.dumps({"run": RUN_ID, "result": result}), encoding="utf-8")
        return result


def _build_the_book() -> dict:
    # Screenshots of an earlier build would pass for this one's (tests/test_browser.py).
    shutil.rmtree(ROOT / "_build" / "screenshots", ignore_errors=True)
    done = build_book()
    return {"returncode": done.returncode, "log": done.stdout[-6000:] + done.stderr[-3000:]}


def per_worker(fixture):
    """Marks a fixture that is cheap to make once per worker (a browser, a local HTTP server),
    or that is made once per run (`once_per_run`): sharing it is no reason to put its tests
    on one worker."""
    fixture.per_worker = True
    return fixture


def pytest_collection_finish(session):
    """Start the book's build as soon as the first worker (or the only process) knows its
    tests need it, in a background thread: it takes minutes, and it should not wait for the
    first test that reads the book. Every worker goes on with other tests meanwhile."""
    if os.environ.get("PYTEST_XDIST_WORKER", "gw0") != "gw0" or session.config.option.collectonly:
        return
    if any("built" in getattr(item, "fixturenames", ()) for item in session.items):
        threading.Thread(target=once_per_run, args=("built", _build_the_book), daemon=True,
                         name="book build").start()


@pytest.fixture(scope="session")
@per_worker
def built() -> dict:
    """The book in _build/html, built once per test run however many workers need it
    (tests/test_book.py, tests/test_browser.py, tests/test_pdf.py)."""
    first = once_per_run("built", _build_the_book)
    assert first["returncode"] == 0, first["log"]
    return first


@pytest.fixture(params=ASSIGNMENTS)
def assignment_name(request) -> str:
    return request.param


def spec(name: str):
    return get_assignment(name)


def reference(name: str) -> dict:
    return load_reference(name)


def stub_namespace(name: str) -> dict:
    ns, log = run_cells(read_cells(ROOT / "exercises" / f"{name}.ipynb"))
    assert not log.notes, log.notes
    return ns


def exercise_notebook(name: str) -> dict:
    return json.loads((ROOT / "exercises" / f"{name}.ipynb").read_text(encoding="utf-8"))


def filled_notebook(name: str, replacements: dict | None = None) -> dict:
    """The student notebook with each solution cell replaced by the reference solution's cell,
    or by ``replacements[grade_id]`` (source text) where given."""
    source = json.loads((ROOT / "solutions" / f"{name}.ipynb").read_text(encoding="utf-8"))
    solutions = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"])
                 for c in source["cells"]
                 if c["metadata"].get("nbgrader", {}).get("solution")}
    nb = exercise_notebook(name)
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            gid = meta["grade_id"]
            text = (replacements or {}).get(gid, solutions[gid])
            cell["source"] = "\n".join(line for line in text.splitlines()
                                       if "### BEGIN SOLUTION" not in line
                                       and "### END SOLUTION" not in line)
    return nb


def write_notebook(nb: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path

"""The test suite's own guards: a layout that cannot work is skipped with its reason, a browser
that is missing on CI fails the run, and tests that share an expensive fixture stay on one
xdist worker. Each guard is made to trip here on purpose (monkeypatched), so it is known to."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import pytest

from tests import conftest, layouts


def test_an_interpreter_the_user_cannot_execute_is_a_skip_with_the_reason(monkeypatch):
    """On a fresh Debian machine root's home is mode 700 and pyenv's Python lives there: the
    created user's exec is refused, which subprocess raises as PermissionError."""
    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied", args[0][0])

    monkeypatch.setattr(layouts.subprocess, "run", refused)
    reason = layouts.interpreter_unusable_by(65534, 65534)
    assert reason and "cannot run this interpreter" in reason and "PermissionError" in reason

    monkeypatch.setattr(layouts.os, "geteuid", lambda: 0)
    monkeypatch.setattr(layouts.shutil, "which", lambda name, **kw: f"/usr/sbin/{name}")
    monkeypatch.setattr(layouts.pwd, "getpwnam", lambda name: types.SimpleNamespace(
        pw_uid=65534, pw_gid=65534, pw_dir="/nonexistent"))
    with pytest.raises(pytest.skip.Exception, match="cannot run this interpreter"):
        layouts.as_created_user("never-made")
    assert not Path("/nonexistent/never-made").exists()  # skipped before making anything


def test_an_interpreter_that_fails_to_start_is_a_skip_with_its_exit_status(monkeypatch):
    monkeypatch.setattr(layouts.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a[0], 1, "", "Fatal Python error: init_fs_encoding"))
    reason = layouts.interpreter_unusable_by(65534, 65534)
    assert reason and "exit status 1" in reason and "init_fs_encoding" in reason


def test_an_interpreter_the_user_can_execute_is_no_reason_to_skip(monkeypatch):
    monkeypatch.setattr(layouts.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a[0], 0, "", ""))
    assert layouts.interpreter_unusable_by(os.getuid(), os.getgid()) is None


def test_closed_ancestor_names_the_directory_that_keeps_others_out():
    base = Path(tempfile.mkdtemp(prefix="layouts-"))  # not under pytest's own (mode 700)
    try:
        base.chmod(0o755)
        closed = base / "home"
        (closed / "pyenv" / "bin").mkdir(parents=True)
        python = closed / "pyenv" / "bin" / "python"
        assert layouts._closed_ancestor(python) in (None, closed)  # open so far, or /tmp shut
        if layouts._closed_ancestor(base / "x") is None:
            closed.chmod(0o700)
            assert layouts._closed_ancestor(python) == closed
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _config(markexpr: str = ""):
    return types.SimpleNamespace(getoption=lambda name, default=None: markexpr)


@pytest.mark.parametrize("on_ci, markexpr, fails", [
    (True, "", True),
    (True, "not slow", False),  # the fast lane never meant to open a browser
    (True, "not browser", False),
    (True, "browser", True),
    (False, "", False),  # a laptop without Chromium: a skip, with the reason
])
def test_a_missing_browser_fails_on_ci_only(monkeypatch, on_ci, markexpr, fails):
    monkeypatch.setattr(conftest, "ON_CI", on_ci)
    monkeypatch.setattr(conftest, "_BROWSERLESS", ["tests/test_browser.py: no browser: ..."])
    problem = conftest.browser_failure(_config(markexpr))
    assert bool(problem) == fails, problem
    if fails:
        assert "apt-get install chromium" in problem and "test_browser.py" in problem


def test_a_present_browser_fails_nothing(monkeypatch):
    monkeypatch.setattr(conftest, "ON_CI", True)
    monkeypatch.setattr(conftest, "_BROWSERLESS", [])
    assert conftest.browser_failure(_config()) is None


def test_the_browser_skip_reason_is_the_one_conftest_listens_for():
    text = (Path(__file__).parent / "test_browser.py").read_text(encoding="utf-8")
    assert text.count(f'pytest.skip("{conftest.NO_BROWSER}') >= 2


def test_tests_sharing_an_expensive_fixture_share_an_xdist_group(request):
    """A module fixture (a graded class, a created user) groups its tests on one worker; the
    book's build does not: it is made once per run whichever worker asks (`once_per_run`),
    and its tests spread."""
    items = request.session.items
    grouped = {i.nodeid: m.args[0] if m.args else m.kwargs.get("name")
               for i in items for m in [i.get_closest_marker("xdist_group")] if m}
    sharing = [i for i in items if "built" in getattr(i, "fixturenames", ())]
    if not sharing:
        pytest.skip("no test using the book's build was collected in this run")
    for item in items:
        if item in sharing:
            assert grouped.get(item.nodeid) != "built", item.nodeid
        if item.module.__name__ == "tests.test_pdf":
            assert grouped.get(item.nodeid) == "tests.test_pdf::pdf", item.nodeid
        if item.get_closest_marker("book") or item.get_closest_marker("nbgrader"):
            assert item.get_closest_marker("slow"), item.nodeid


ONCE = """
import sys, time
from pathlib import Path
from tests.conftest import once_per_run
state = Path(sys.argv[1])
def make():
    with open(state / "calls", "a") as f:
        f.write("x")
    time.sleep(1)  # long enough for the other process to be waiting on the lock
    return {"answer": 42}
print(once_per_run("thing", make, state)["answer"])
"""


def test_once_per_run_makes_a_thing_once_for_all_workers(tmp_path):
    """Two workers of one run ask at once: one makes it, the other waits and reads it; a new
    run makes it again."""
    env = {**os.environ, "PYTEST_XDIST_TESTRUNUID": "run-1"}
    cmd = [sys.executable, "-c", ONCE, str(tmp_path)]
    procs = [subprocess.Popen(cmd, env=env, cwd=conftest.ROOT, stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    assert [p.communicate(timeout=120)[0].strip() for p in procs] == ["42", "42"]
    assert (tmp_path / "calls").read_text() == "x"
    env["PYTEST_XDIST_TESTRUNUID"] = "run-2"
    subprocess.run(cmd, env=env, cwd=conftest.ROOT, check=True, capture_output=True)
    assert (tmp_path / "calls").read_text() == "xx"


def test_browser_sweeps_are_grouped_by_sweep(request):
    """Each page sweep (origin x width) runs on one worker, once: the tests reading it share
    its group, and the other browser tests are not tied to it."""
    groups: dict = {}
    for item in request.session.items:
        if item.module.__name__ != "tests.test_browser":
            continue
        mark = item.get_closest_marker("xdist_group")
        groups.setdefault(mark.args[0] if mark else None, []).append(item.name)
    if not groups:
        pytest.skip("the browser tests were not collected in this run")
    assert "test_pages_over_http[desktop]" in groups["browser-http-desktop"]
    assert "test_figure_labels_are_legible[desktop]" in groups["browser-http-desktop"]
    assert "test_pages_from_file[phone]" in groups["browser-file-phone"]
    assert not any(n.startswith("test_search") for n in groups.get("browser-http-phone", []))


def test_xdist_reads_back_every_group_we_set(request):
    """xdist appends "@group" to a node id and splits it off again; a group it cannot read back
    (one with a "]" in it, say) makes every test its own unit, and a shared fixture is then
    built once per worker, at the same time, in the same place."""
    from xdist.scheduler.loadgroup import LoadGroupScheduling

    for item in request.session.items:
        mark = item.get_closest_marker("xdist_group")
        if mark:
            group = mark.args[0] if mark.args else mark.kwargs.get("name")
            assert LoadGroupScheduling._split_scope(None, f"{item.nodeid}@{group}") == group


@pytest.mark.xdist_group("suite-probe")
def test_xdist_groups_this_test(request):
    """With `--dist loadgroup` a grouped test's id ends in its group; if the pytest and xdist
    versions disagree on where a node keeps its id, it does not, and grouping is off."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or \
            not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not run with --dist loadgroup")
    assert request.node.nodeid.endswith("@suite-probe"), request.node.nodeid


def test_pytests_own_session_fixtures_make_no_group(request, tmp_path):
    """tmp_path hangs off pytest's session-scoped tmp_path_factory: grouping by it would put
    every test with a temporary directory on one worker."""
    assert request.node.get_closest_marker("xdist_group") is None

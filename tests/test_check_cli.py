"""The student's `autograder check` (issue 20): it talks while it runs, shows the points at
stake, knows a notebook's assignment whatever the copy is called, and checks a whole folder."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import cli
from autograder.course import Course
from autograder.grading.checking import UnknownAssignment, assignment_of
from autograder.grading.run import check
from autograder.spec import get_assignment
from tests.conftest import ROOT, exercise_notebook, filled_notebook, write_notebook

A = "01_information"
SPEC = get_assignment(A)
LOOP = {"log_softmax": "def log_softmax(z):\n    while True:\n        pass"}


def autograder(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True,
                          text=True, cwd=cwd)


@pytest.mark.parametrize("plain", [True, False], ids=["plain", "sandbox"])
def test_each_function_is_told_as_it_is_checked(tmp_path, plain):
    """An infinite loop is not silence: the function being checked is named before its checks
    start, and every verdict is known before the next function begins."""
    nb = write_notebook(filled_notebook(A, LOOP), tmp_path / f"{A}.ipynb")
    events = []
    result = check(nb, SPEC, plain=plain, on_start=lambda name: events.append(("start", name)),
                   on_result=lambda fr: events.append(("done", fr.name, fr.score)))
    names = [gf.name for gf in SPEC.functions]
    assert [e[:2] for e in events] == [(kind, n) for n in names for kind in ("start", "done")]
    told = {e[1]: e[2] for e in events if e[0] == "done"}
    assert told == {n: fr.score for n, fr in result.functions.items()}
    assert told["log_softmax"] == 0 and told["entropy"] == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_which_function_is_running(tmp_path, monkeypatch):
    nb = write_notebook(filled_notebook(A), tmp_path / f"{A}.ipynb")
    out = _Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli.main(["check", str(nb), "--plain"]) == 0
    text = out.getvalue()
    # "checking NAME ..." while it runs, then the line is cleared and the verdict written
    for gf in SPEC.functions:
        assert f"  checking {gf.name} ...\r\033[K  \u2713 PASS  {gf.name}" in text


def test_points_earned_and_at_stake(tmp_path):
    nb = write_notebook(filled_notebook(A, {"entropy": "def entropy(p, base=2):\n    return 0"}),
                        tmp_path / f"{A}.ipynb")
    proc = autograder("check", str(nb), "--plain")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    entropy = SPEC.function("entropy")
    fail = next(line for line in lines if "FAIL" in line)
    assert "entropy" in fail and f"public 0/{entropy.public_points}" in fail
    assert f"hidden {entropy.hidden_points} at stake" in fail
    ridge = next(line for line in lines if "PASS  ridge_map" in line)
    gf = SPEC.function("ridge_map")
    assert f"public {gf.public_points}/{gf.public_points}, hidden {gf.hidden_points} at " \
           f"stake" in ridge
    public = sum(g.public_points for g in SPEC.functions)
    hidden = sum(g.hidden_points for g in SPEC.functions)
    assert f"{public - entropy.public_points} of {public} public points" in proc.stdout
    assert f"{hidden} more points are at stake in the hidden checks" in proc.stdout


# -- which assignment a notebook is -----------------------------------------------------------


def _without_test_cells(nb: dict) -> dict:
    nb = dict(nb, cells=[c for c in nb["cells"]
                         if "_tests(" not in "".join(c["source"])])
    return nb


def test_assignment_from_the_notebook_not_its_name(tmp_path):
    course = Course.find(ROOT)
    copy = write_notebook(exercise_notebook(A), tmp_path / f"{A}-Copy1.ipynb")
    assert assignment_of(copy, course) == A  # Jupyter's copy: metadata and test cells
    untagged = exercise_notebook(A)
    del untagged["metadata"]["autograder"]
    assert assignment_of(write_notebook(untagged, tmp_path / "mine.ipynb"), course) == A
    tagged_only = _without_test_cells(exercise_notebook(A))
    assert assignment_of(write_notebook(tagged_only, tmp_path / "x.ipynb"), course) == A
    named = _without_test_cells(untagged)
    assert assignment_of(write_notebook(named, tmp_path / f"{A}.ipynb"), course) == A
    with pytest.raises(UnknownAssignment, match="--assignment"):
        assignment_of(write_notebook(named, tmp_path / "y.ipynb"), course)
    (tmp_path / "junk.ipynb").write_text("{not json", encoding="utf-8")
    with pytest.raises(UnknownAssignment):
        assignment_of(tmp_path / "junk.ipynb", course)


def test_check_a_jupyter_copy(tmp_path):
    nb = write_notebook(filled_notebook(A), tmp_path / f"{A}-Copy1.ipynb")
    proc = autograder("check", str(nb), "--plain")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"public checks of {A}" in proc.stdout


# -- a folder ---------------------------------------------------------------------------------


def test_check_every_notebook_of_a_folder(tmp_path):
    work = tmp_path / "work"
    write_notebook(filled_notebook(A), work / f"{A}.ipynb")
    write_notebook(exercise_notebook(A), work / "second try.ipynb")
    write_notebook(filled_notebook(A), work / ".ipynb_checkpoints" / f"{A}-checkpoint.ipynb")
    proc = autograder("check", str(work), "--plain")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the stub fails
    assert proc.stdout.count("Public checks passed for") == 2  # one summary per notebook
    assert f"Checking {work / f'{A}.ipynb'}" in proc.stdout
    assert f"Checking {work / 'second try.ipynb'}" in proc.stdout
    assert f"1 of 2 notebooks in {work} pass every public check" in proc.stdout
    (work / "second try.ipynb").unlink()
    proc = autograder("check", str(work), "--plain")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_check_a_folder_without_notebooks_says_so(tmp_path):
    proc = autograder("check", str(tmp_path))
    assert proc.returncode == 2 and "no notebooks" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- speed: the isolation probe is remembered -------------------------------------------------


def test_the_isolation_probe_is_remembered(tmp_path, monkeypatch):
    from autograder.sandbox import probe_cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("AUTOGRADER_ISOLATION", raising=False)
    from autograder.sandbox.isolation import Isolation

    probes = []
    # what a probe found (whether this machine has a sandbox or not)
    found = Isolation("bwrap", "as uid 1000", "/usr/bin/bwrap", False)
    monkeypatch.setattr(probe_cache, "detect", lambda: probes.append(1) or found)
    first, remembered = probe_cache.cached_detect()
    assert not remembered and len(probes) == 1
    again, remembered = probe_cache.cached_detect()
    assert remembered and again == first and len(probes) == 1
    # another kernel (interpreter, bwrap, user) is probed afresh
    key = probe_cache.key
    monkeypatch.setattr(probe_cache, "key", lambda: dict(key(), kernel=["7.0", "other"]))
    assert probe_cache.cached_detect() == (first, False) and len(probes) == 2
    monkeypatch.setattr(probe_cache, "key", key)
    # an unusable file is probed afresh, never an error
    (tmp_path / "autograder" / probe_cache.FILE).write_text("{garbage", encoding="utf-8")
    assert probe_cache.cached_detect() == (first, False) and len(probes) == 3
    probe_cache.forget()
    assert probe_cache.cached_detect() == (first, False) and len(probes) == 4
    # a probe that found no sandbox is not remembered: it may have failed only for a moment
    probe_cache.forget()
    found = Isolation("none", "bubblewrap could not start a sandbox (...)", "/usr/bin/bwrap")
    assert probe_cache.cached_detect() == (found, False) and len(probes) == 5
    assert probe_cache.cached_detect() == (found, False) and len(probes) == 6


def test_a_stale_remembered_sandbox_is_probed_again(tmp_path, monkeypatch):
    """A remembered answer that no longer works (bwrap moved) costs one probe, not the check."""
    import json

    from autograder.sandbox import probe_cache
    from autograder.sandbox.isolation import detect

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("AUTOGRADER_ISOLATION", raising=False)
    real = detect()
    stale = dict(real.to_json(), mode="bwrap", bwrap=str(tmp_path / "gone" / "bwrap"))
    path = tmp_path / "cache" / "autograder" / probe_cache.FILE
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"key": probe_cache.key(), "isolation": stale}), encoding="utf-8")
    nb = write_notebook(filled_notebook(A), tmp_path / f"{A}.ipynb")
    result = check(nb, SPEC, plain=False)
    assert result.score == result.max_score, result.notes
    assert json.loads(path.read_text(encoding="utf-8"))["isolation"] == real.to_json()


# -- book references are links ----------------------------------------------------------------

BOOK = "https://example.org/dl-book"
WRONG = {"log_softmax": "def log_softmax(z):\n    return z - np.log(np.exp(z).sum(-1, "
                        "keepdims=True))"}


def _course_with_book(tmp_path: Path, book_url: str = BOOK) -> Path:
    (tmp_path / "autograder.toml").write_text(
        f'[course]\nchecks = ["autograder.assignments"]\nsolutions = "{ROOT / "solutions"}"\n'
        f'book_url = "{book_url}"\n', encoding="utf-8")
    return tmp_path


def test_the_book_address_is_configurable(tmp_path):
    from autograder.course import CourseError

    course = Course.find(_course_with_book(tmp_path))
    assert course.book(local_first=True) == course.book(local_first=False) == BOOK + "/"
    assert Course.from_json(course.to_json()) == course
    assert f'book_url = "{BOOK}"' in course.manifest_text()
    (tmp_path / "_build" / "html").mkdir(parents=True)
    (tmp_path / "_build" / "html" / "index.html").write_text("<html></html>")
    local = (tmp_path / "_build" / "html").as_uri() + "/"
    assert course.book(local_first=True) == local  # a student's check: offline
    assert course.book(local_first=False) == BOOK + "/"  # feedback: the published book
    (tmp_path / "autograder.toml").write_text('[course]\nbook_url = "chapters"\n')
    with pytest.raises(CourseError, match="book_url"):
        Course.find(tmp_path)
    (tmp_path / "autograder.toml").write_text('[course]\nchecks = ["autograder.assignments"]\n')
    assert Course.find(tmp_path).book(local_first=False) == local  # no published book


@pytest.mark.parametrize("plain", [True, False], ids=["plain", "sandbox"])
def test_check_messages_link_to_the_book(tmp_path, plain):
    course = _course_with_book(tmp_path)
    nb = write_notebook(filled_notebook(A, WRONG), course / "work" / f"{A}.ipynb")
    result = check(nb, SPEC, plain=plain, course=Course.find(nb))
    fr = result.functions["log_softmax"]
    link = f"{BOOK}/chapters/01_information.html#sec-softmax"
    assert fr.review_url == link and f"({link})" in fr.messages[-1]


def test_feedback_links_to_the_book(tmp_path):
    course = _course_with_book(tmp_path)
    nb = write_notebook(filled_notebook(A, WRONG), course / "subs" / f"{A}.ipynb")
    proc = autograder("grade", str(nb.parent), "--assignment", A, "--jobs", "1", "--quiet",
                      cwd=course)
    assert proc.returncode == 0, proc.stderr[-2000:]
    feedback = next((course / f"autograder-{A}" / "feedback").glob("*.html"))
    link = f"{BOOK}/chapters/01_information.html#sec-softmax"
    assert f'<a href="{link}">{link}</a>' in feedback.read_text(encoding="utf-8")
    assert f"<{link}>" in feedback.with_suffix(".md").read_text(encoding="utf-8")


def test_nbgrader_cells_link_to_the_book(tmp_path, monkeypatch):
    """A test cell's message (what nbgrader's feedback shows) names the section's address."""
    from autograder.cell import public_tests
    from tests.conftest import reference

    monkeypatch.chdir(_course_with_book(tmp_path))
    ns = dict(reference(A))
    ns["log_softmax"] = lambda z: z  # wrong
    with pytest.raises(AssertionError) as caught:
        public_tests(A, "log_softmax", ns)
    assert f"{BOOK}/chapters/01_information.html#sec-softmax" in str(caught.value)


def test_released_notebooks_link_sections_to_the_book(tmp_path):
    """`release` makes [text](#sec-x) (resolved only by the book) the chapter page and anchor
    of the published book, so the link works in Jupyter; without book_url nothing changes."""
    from autograder.bridge.course import link_sections

    course = _course_with_book(tmp_path)
    (course / "chapters").mkdir()
    shutil.copy(ROOT / "chapters" / f"{A}.md", course / "chapters" / f"{A}.md")
    nb = write_notebook(exercise_notebook(A), course / f"{A}.ipynb")
    before = nb.read_text(encoding="utf-8")
    assert "](#sec-softmax)" in before
    assert link_sections(nb, A, Course.find(course)) > 0
    after = nb.read_text(encoding="utf-8")
    assert "](#sec-" not in after
    assert f"]({BOOK}/chapters/{A}.html#sec-softmax)" in after
    plain = write_notebook(exercise_notebook(A), tmp_path / "plain" / f"{A}.ipynb")
    assert link_sections(plain, A, Course.builtin()) == 0
    assert "](#sec-softmax)" in plain.read_text(encoding="utf-8")


NO_TORCH = """
import sys
from autograder import cli
from autograder.grading import plain
if sys.argv[1] == "--plain":  # the process `check --plain` starts, run here
    code = plain.main(sys.argv[2:])
else:
    code = cli.main(["check", sys.argv[1]])
print("exit", code, "torch imported" if "torch" in sys.modules else "no torch",
      file=sys.__stdout__)  # plain.main sends print() to stderr
"""
STORED = ["05_rnn", "06_attention"]  # public_imports=(): autograder/memo.py


@pytest.mark.parametrize("plain", [False, True], ids=["sandbox", "plain"])
@pytest.mark.parametrize("name", STORED)
def test_check_needs_no_torch_where_its_answers_are_stored(tmp_path, name, plain):
    """05's and 06's public checks get torch's answers for their fixed inputs from a stored
    table (autograder/memo.py), so `check` neither prefetches nor imports torch (seconds of
    CPU on a student's laptop), with the same verdicts."""
    nb = write_notebook(filled_notebook(name), tmp_path / f"{name}.ipynb")
    args = ["--plain", str(nb), name] if plain else [str(nb)]
    run = subprocess.run([sys.executable, "-c", NO_TORCH, *args], capture_output=True,
                         text=True, cwd=ROOT)
    assert "exit 0 no torch" in run.stdout, run.stdout + run.stderr
    if plain:
        assert '"status": "ok"' in run.stdout and '"public": false' not in run.stdout
    else:
        points = sum(gf.public_points for gf in get_assignment(name).functions)
        assert f"{points} of {points} public points" in run.stdout


PUBLIC_CELLS = """
import sys
from autograder.cell import public_tests
from autograder.reference import load_reference
from autograder.spec import get_assignment
name = sys.argv[1]
namespace = dict(load_reference(name))
for gf in get_assignment(name).functions:
    public_tests(name, gf.name, namespace)
print("torch imported" if "torch" in sys.modules else "no torch")
"""


@pytest.mark.parametrize("name", STORED)
def test_public_test_cells_need_no_torch_where_its_answers_are_stored(name):
    """A student's public test cells in Jupyter do not import torch for them either."""
    run = subprocess.run([sys.executable, "-c", PUBLIC_CELLS, name], capture_output=True,
                         text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith("no torch"), run.stdout + run.stderr


def test_a_notebook_with_its_own_torch_gets_sympy_before_the_public_checks():
    """Where the kernel has torch already (the student imported it), sympy, which torch imports
    lazily, is imported before the public checks, as it was when they imported torch."""
    code = ("import sys, torch\nfrom autograder.spec import PUBLIC, get_assignment\n"
            "assert 'sympy' not in sys.modules\n"
            "get_assignment('06_attention').import_modules((PUBLIC,))\n"
            "print('sympy' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.stdout.strip() == "True", run.stdout + run.stderr

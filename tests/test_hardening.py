"""Regression tests of issue 19 items 1, 5, 6, 7 and 9a: nothing a student sends stops a
run.

Each reproduction of the red team is here twice where it can be: as a unit test of the
piece that failed (fast), and inside one class graded into an nbgrader course, as the
invoking user and as a created ordinary user (:mod:`tests.layouts`), where every other
student must keep the right score and the run must finish."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from autograder.bridge.course import init_course, nbgrader
from autograder.checks import CheckFailure, as_float_array, compare, compare_scaled
from autograder.grading.pool import Ledger
from autograder.grading.submissions import (clean_text, find_submissions, student_id,
                                            terminal_text)
from autograder.notebook import NotebookError, read_cells
from autograder.results import FunctionResult, SubmissionResult
from autograder.spec import get_assignment
from tests.conftest import exercise_notebook, filled_notebook, write_notebook
from tests.layouts import as_created_user, as_invoker
from tests.test_robustness import A, FULL, extra_cell, pts

SPEC = get_assignment(A)
DEEP = 1100  # folders: os.walk recursed once per level and hit the recursion limit


def _nb_text(nb: dict, extra: str) -> bytes:
    """A notebook's JSON with ``"x": extra`` added to its top level."""
    return (json.dumps(nb)[:-1] + ', "x": ' + extra + "}").encode()


# --------------------------------------------------------------------------------------
# Item 1, unit: untrusted bytes


@pytest.mark.parametrize("extra", ["9" * 5000, "[" * 100_000 + "]" * 100_000],
                         ids=["5000-digit int", "100000-deep arrays"])
def test_json_python_refuses_is_unreadable_not_a_crash(tmp_path, extra):
    path = tmp_path / "nb.ipynb"
    path.write_bytes(_nb_text(exercise_notebook(A), extra))
    with pytest.raises(NotebookError, match="thousands"):
        read_cells(path)


def test_lone_surrogates_and_stray_bytes_in_a_notebook_are_replaced(tmp_path):
    nb = extra_cell(exercise_notebook(A), "x = 1  # \ud800 lone\n")
    nb["cells"][2]["metadata"] = {"nbgrader": {"grade_id": "g\udc80", "solution": True}}
    path = write_notebook(nb, tmp_path / "nb.ipynb")
    assert "\\ud800" in path.read_text()  # json wrote the escape: Python reads it back
    raw = path.read_bytes().replace(b"lone", b"l\xffne")  # not UTF-8 inside a string
    path.write_bytes(raw)
    cell = [c for c in read_cells(path) if "x = 1" in c.source][0]
    assert cell.source == "x = 1  # \ufffd l\ufffdne\n"
    assert cell.grade_id == "g\ufffd"
    for c in read_cells(path):
        c.source.encode("utf-8")  # no lone surrogate is left anywhere


def test_not_utf8_and_not_json_still_says_so(tmp_path):
    path = tmp_path / "nb.ipynb"
    path.write_bytes(b"\xff\xfe\x00 not a notebook")
    with pytest.raises(NotebookError, match="not UTF-8"):
        read_cells(path)


def _deep_tree(base: Path, depth: int = DEEP) -> Path:
    current = base
    for _ in range(depth):  # os.makedirs recurses once per level too
        current = current / "d"
        os.mkdir(current)
    return current


def _remove_deep_tree(base: Path) -> None:
    """Remove what :func:`_deep_tree` made (shutil.rmtree recurses once per level)."""
    paths = []
    current = base / "d"
    while current.is_dir():
        paths.append(current)
        current = current / "d"
    for path in reversed(paths):
        for child in path.iterdir():
            child.unlink()
        path.rmdir()


def test_a_tree_1100_folders_deep_is_walked_without_recursion(tmp_path):
    root = tmp_path / "submitted"
    write_notebook(filled_notebook(A), root / "deep" / A / f"{A}.ipynb")
    write_notebook(filled_notebook(A), root / "other" / A / f"{A}.ipynb")
    deepest = _deep_tree(root / "deep" / A)
    (deepest / "hidden.ipynb").write_text("{}")
    try:
        subs, ignored = find_submissions(root, A)
    finally:
        _remove_deep_tree(root / "deep" / A)
    assert [s.student for s in subs] == ["deep", "other"]
    assert any("nested more than" in why for _, why in ignored)


def test_names_that_are_not_utf8_become_distinct_printable_ids(tmp_path):
    a, b = os.fsdecode(b"stud\xff"), os.fsdecode(b"stud\xfe")
    assert student_id(a) != student_id(b)
    for name in (student_id(a), student_id(b)):
        name.encode("utf-8")
        assert name.startswith("stud\ufffd-")
    assert student_id("alice") == "alice"
    root = tmp_path / "submitted"
    write_notebook(exercise_notebook(A), Path(os.fsdecode(os.fsencode(root) + b"/s\xff/"
                                                          + A.encode() + b"/x.ipynb")))
    write_notebook(exercise_notebook(A), root / "t" / A / "a.ipynb")
    write_notebook(exercise_notebook(A), root / "t" / A / "b.ipynb")
    subs, _ = find_submissions(root, A)
    for sub in subs:
        sub.student.encode("utf-8")
        sub.problem.encode("utf-8")


def test_timestamp_fifo_does_not_block(tmp_path):
    from autograder.bridge.gradebook import _timestamp

    os.mkfifo(tmp_path / "timestamp.txt")
    got = []
    reader = threading.Thread(target=lambda: got.append(_timestamp(tmp_path)),
                              daemon=True)
    reader.start()
    reader.join(30)
    assert not reader.is_alive(), "reading a FIFO timestamp.txt blocked"
    assert got[0][0] is None and "not a regular file" in got[0][1]  # told, not on time
    (tmp_path / "timestamp.txt").unlink()
    (tmp_path / "timestamp.txt").symlink_to("/etc/hostname")
    stamp, problem = _timestamp(tmp_path)
    assert stamp is None and problem
    (tmp_path / "timestamp.txt").unlink()
    (tmp_path / "timestamp.txt").write_text("2026-12-01 10:00:00 UTC")
    assert _timestamp(tmp_path)[0] is not None


def _surrogate_result() -> SubmissionResult:
    fr = FunctionResult("entropy", 0, 2, passed={"public": False})
    from autograder.results import Failure

    fr.failures.append(Failure("public", "c\ud800",
                               "raised ValueError: \ud800\udfff x"))
    fr.review = "r"
    return SubmissionResult(student="s\udcff", notebook="/x/s\udcff/n.ipynb", score=0,
                            max_score=2, functions={"entropy": fr},
                            notes=["cell 3: raised ValueError: \ud800"])


def test_results_with_lone_surrogates_are_cleaned_when_made():
    from autograder.grading.pool import _result_from
    from autograder.grading.submissions import Submission

    raw = _surrogate_result()
    record = {"status": "ok", "notes": raw.notes, "isolation": ["\ud800"],
              "functions": {"entropy": raw.functions["entropy"].to_json()}}
    result = _result_from(record, Submission("s\udcff", Path("/x/n.ipynb")), "d", SPEC,
                          ("public", "hidden"), FULL)
    json.dumps(result.to_json(), ensure_ascii=False).encode("utf-8")
    assert "\ufffd" in result.notes[0] and "\ufffd" in result.student


def test_every_output_survives_lone_surrogates(tmp_path):
    from autograder.bridge.feedback import write
    from autograder.grading.reports import to_csv, to_json

    spec = get_assignment(A)
    result = _surrogate_result()
    for gf in spec.functions:
        result.functions.setdefault(gf.name, FunctionResult(gf.name, 0, gf.max_score))
    md, page = write(spec, result, tmp_path / "feedback")
    assert md.exists() and page.exists()
    to_json(spec, [result]).encode("utf-8")
    to_csv(spec, [result]).encode("utf-8")
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.record("s\udcff::n.ipynb", "g", result)
    again = Ledger(tmp_path / "ledger.jsonl").lookup("s\udcff::n.ipynb", result.sha256,
                                                     "g")
    # escaped in the file, read back exactly
    assert again is not None and again.student == "s\udcff"


# --------------------------------------------------------------------------------------
# Item 5, unit: the ledger's destination and breached runs


def _result(score: int = 3, isolation=()) -> SubmissionResult:
    return SubmissionResult(student="a", notebook="a.ipynb", score=score, max_score=9,
                            sha256="abc", isolation=list(isolation))


def test_ledger_reuses_only_for_the_same_destination(tmp_path):
    path = tmp_path / "ledger.jsonl"
    Ledger(path, destination="sqlite:///one.db").record("k", "g", _result())
    same = Ledger(path, destination="sqlite:///one.db")
    assert same.lookup("k", "abc", "g") is not None
    assert Ledger(path, destination="sqlite:///two.db").lookup("k", "abc", "g") is None
    assert Ledger(path, destination="sqlite:///one.db").lookup("k", "abc", "g2") is None


def test_ledger_never_reuses_a_breached_run(tmp_path):
    path = tmp_path / "ledger.jsonl"
    first = Ledger(path)
    first.record("k", "g", _result(), trusted=False)  # a run without isolation
    later = Ledger(path)
    assert later.lookup("k", "abc", "g") is None and later.untrusted("k", "abc", "g")
    run = Ledger(path)
    run.record("a", "g", _result())
    run.record("b", "g", _result(isolation=["sandbox failure: the zygote died"]))
    after = Ledger(path)
    # b's sandbox failed, so nothing of that run is reused, a's result included
    assert after.lookup("a", "abc", "g") is None
    assert after.lookup("b", "abc", "g") is None
    fresh = Ledger(path)
    fresh.record("c", "g", _result())
    assert Ledger(path).lookup("c", "abc", "g") is not None


# --------------------------------------------------------------------------------------
# Item 6: the judge never imports a module a student names


def test_installed_is_decided_without_importing(tmp_path):
    code = ("import sys\nfrom autograder.grading.judge import installed\n"
            "names = ['unittest.__main__.x', 'nbgrader.__main__', "
            "'IPython.__main__.y', "
            "'sphinx.__main__', 'jupyter.__main__', 'json.tool.x']\n"
            "assert [installed(n) for n in names] == [True] * len(names)\n"
            "bad = ['no_such_module_xyz', '../etc', '', 'a b', '1abc', 'os/path', "
            "None, "
            "'x' * 300]\n"
            "assert not any(installed(n) for n in bad)\n"
            "assert installed('numpy') and installed('sys')\n"
            "loaded = [m for m in ('unittest', 'unittest.__main__', 'nbgrader', "
            "'IPython', "
            "'sphinx', 'json.tool') if m in sys.modules]\n"
            "print(loaded)\n")
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # nothing the student named was imported
    assert proc.stdout.strip() == "[]", proc.stdout


def test_the_judge_has_no_find_spec():
    source = Path("autograder/grading/judge.py")
    source = Path(__file__).resolve().parent.parent / source
    text = source.read_text().replace("never by importing: find_spec", "")
    assert "find_spec" not in text


# --------------------------------------------------------------------------------------
# Item 7, unit: terminal escapes


def test_terminal_text_escapes_every_control_character():
    osc52 = "evil\x1b]52;c;aGk=\x07\x1b[2J\x9b31m\x7f\r\x08\ud800"
    safe = terminal_text(osc52)
    assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f for c in safe), repr(safe)
    assert "\\x1b]52" in safe and "\\x9b" in safe and "\ufffd" in safe
    assert terminal_text("a\nb", newlines=True) == "a\nb"
    assert terminal_text("a\nb") == "a\\x0ab"
    assert clean_text("plain") == "plain"


def test_progress_escapes_student_names():
    import io

    from autograder.grading.progress import Progress

    stream = io.StringIO()
    Progress(1, stream).update(_result_named("x\x1b]52;c;aGk=\x07"))
    assert "\x1b" not in stream.getvalue() and "\x07" not in stream.getvalue()


def _result_named(name: str) -> SubmissionResult:
    return SubmissionResult(student=name, notebook="n.ipynb", score=0, max_score=1)


# --------------------------------------------------------------------------------------
# Item 9a: complex results


@pytest.mark.parametrize("helper", ["as_float_array", "compare", "compare_scaled"])
@pytest.mark.parametrize("hidden", [False, True])
def test_a_complex_result_with_the_right_real_part_is_rejected(helper, hidden):
    expected = np.array([0.5, -1.25, 2.0])
    got = expected + 1e-3j
    with pytest.raises(CheckFailure, match="complex numbers"):
        if helper == "as_float_array":
            as_float_array(got, "`f(x)`")
        elif helper == "compare":
            compare(got, expected, "`f(x)`", hidden=hidden)
        else:
            compare_scaled(got, expected, "`f(x)`", hidden=hidden, tol=1e-6)
    with pytest.raises(CheckFailure, match="complex numbers"):
        as_float_array(complex(1.0, 0.0), "`f(x)`")  # even with a zero imaginary part
    # real input is accepted
    assert as_float_array(expected, "`f(x)`").dtype == np.float64


def test_hidden_compare_reveals_no_reference_value():
    expected = np.array([3.7, -12.25, 0.0, 5.5])
    with pytest.raises(CheckFailure) as caught:
        compare(np.zeros(4), expected, "`f(x)`", hidden=True)
    text = str(caught.value)
    assert "12.2" not in text and "3.7" not in text and "5.5" not in text, text


# --------------------------------------------------------------------------------------
# One class graded into an nbgrader course, as the invoker and as a created user

DEEP_FRAME = """
import os, socket, struct
head = b'[' * 100000 + b']' * 100000
for fd in range(3, 64):
    try:
        s = socket.socket(fileno=os.dup(fd))
    except OSError:
        continue
    try:
        s.sendall(struct.pack('!I', len(head)) + head + struct.pack('!I', 0))
    except OSError:
        pass
"""

NOT_UTF8 = os.fsdecode(b"not_utf8_\xff")
ANSI = "ansi\x1b]52;c;aGk=\x07\x1b[2J\x9b"


def _solution_cell(name: str) -> str:
    from tests.test_robustness import _solution

    return _solution(name)


CLASS = {
    "honest": (lambda: filled_notebook(A), FULL),
    "surrogate_in_exception": (lambda: extra_cell(filled_notebook(A), (
        "raise ValueError(chr(0xD800) + ' and ' + chr(0xDCFF))")), FULL),
    "surrogate_in_source": (lambda: filled_notebook(A, {"entropy": (
        _solution_cell("entropy") + "\n# a lone surrogate: \ud800\n")}), FULL),
    "surrogate_in_function": (lambda: filled_notebook(A, {"log_softmax": (
        "def log_softmax(z):\n    raise ValueError(chr(0xDC80))")}),
        FULL - pts("log_softmax")),
    "big_int": (lambda: _nb_text(filled_notebook(A), "9" * 5000), 0),
    "deep_arrays": (lambda: _nb_text(filled_notebook(A),
                                     "[" * 100_000 + "]" * 100_000), 0),
    "fifo_timestamp": (lambda: filled_notebook(A), FULL),
    "deep_folders": (lambda: filled_notebook(A), FULL),
    NOT_UTF8: (lambda: filled_notebook(A), FULL),
    ANSI: (lambda: filled_notebook(A), FULL),
    "deep_frame": (lambda: extra_cell(filled_notebook(A), DEEP_FRAME, at=50), None),
}


def _write_class(course: Path) -> None:
    for student, (make, _) in CLASS.items():
        folder = Path(os.fsdecode(os.fsencode(course / "submitted" / student) + b"/"
                                  + A.encode()))
        folder.mkdir(parents=True)
        content = make()
        target = folder / f"{A}.ipynb"
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            write_notebook(content, target)
    os.mkfifo(course / "submitted" / "fifo_timestamp" / A / "timestamp.txt")


def _grade(layout, course: Path, *extra) -> subprocess.CompletedProcess:
    return layout.run(["grade", str(course), "--assignment", A, "--jobs", "2",
                       "--cell-timeout", "10", "--timeout", "120", "--quiet", *extra],
                      timeout=900)


def _results(course: Path) -> dict:
    data = json.loads((course / "autograder" / A / "results.json").read_text("utf-8"))
    return {s["student"]: s for s in data["submissions"]}


def _by_case(subs: dict) -> dict:
    out = {}
    for student, sub in subs.items():
        for case in CLASS:
            if student == case \
                    or (case == NOT_UTF8 and student.startswith("not_utf8_\ufffd-")) \
                    or (case == ANSI and student.startswith("ansi")):
                out[case] = sub
    return out


@pytest.fixture(scope="module", params=["invoker", "created user"])
def graded(request, tmp_path_factory):
    if request.param == "invoker":
        layout = as_invoker(tmp_path_factory.mktemp("hardening"))
        home = layout.home
    else:
        layout = as_created_user("autograder-hardening")
        home = layout.home
    course = init_course(home / "course", [A])
    nbgrader(course, "generate_assignment", A, "--force")
    shutil.copy(course / "gradebook.db", home / "pristine.db")
    _write_class(course)
    layout.own(course)
    # made after chown: Path.rglob (in layout.own) recurses once per level
    deep_base = course / "submitted" / "deep_folders" / A
    _deep_tree(deep_base)
    proc = _grade(layout, course)
    yield layout, course, proc, _results(course) if proc.returncode == 0 else {}
    _remove_deep_tree(deep_base)
    if request.param != "invoker":
        shutil.rmtree(layout.home, ignore_errors=True)


def test_the_class_is_graded_whatever_one_student_sent(graded):
    _, course, proc, subs = graded
    assert proc.returncode == 0, proc.stderr[-3000:]
    by_case = _by_case(subs)
    assert set(by_case) == set(CLASS), sorted(subs)
    for case, (_, expected) in CLASS.items():
        got = by_case[case]
        if expected is not None:
            assert got["score"] == expected, (case, got["status"], got["notes"],
                                              {n: f["messages"][:1]
                                               for n, f in got["functions"].items()
                                               if f["score"] < f["max_score"]})
    for case in ("big_int", "deep_arrays"):
        assert by_case[case]["status"] == "unreadable", (by_case[case]["status"],
                                                         by_case[case]["notes"],
                                                         by_case[case].get("isolation"))
        assert "thousands" in " ".join(by_case[case]["notes"])
    frame = by_case["deep_frame"]
    assert frame["status"] != "error", frame  # the student's doing, recorded
    assert "not your doing" not in json.dumps(frame)


def test_no_control_character_reaches_the_terminal(graded):
    _, _, proc, _ = graded
    for control in ("\x1b", "\x07", "\x9b"):
        assert control not in proc.stderr
    assert "ansi\\x1b]52" in proc.stderr  # the name is shown, escaped
    assert "nested more than" in proc.stderr  # the deep tree was reported, not walked


def test_the_gradebook_holds_every_readable_student(graded):
    layout, course, proc, subs = graded
    assert proc.returncode == 0, proc.stderr[-3000:]
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student, sub in subs.items():
            assert gb.find_submission(A, student).score == sub["score"], student
    autograded = course / "autograded" / "surrogate_in_source" / A / f"{A}.ipynb"
    assert "\ufffd" in autograded.read_text("utf-8")


def test_resume_needs_the_result_in_the_destination(graded):
    layout, course, proc, subs = graded
    if layout.name != "invoker":
        pytest.skip("resume is tested once, as the invoker")
    n = len(subs)
    again = _grade(layout, course)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"0 graded now, {n} unchanged" in again.stderr
    # the gradebook recreated: the same URL, but the results are gone
    shutil.copy(layout.home / "pristine.db", course / "gradebook.db")
    recreated = _grade(layout, course)
    assert recreated.returncode == 0, recreated.stderr[-3000:]
    assert f"{n} graded now, 0 unchanged" in recreated.stderr, recreated.stderr[-2000:]
    # another --db: nothing of this ledger is there, so everyone is graded again
    other = layout.home / "other.db"
    shutil.copy(layout.home / "pristine.db", other)
    moved = _grade(layout, course, "--db", f"sqlite:///{other}")
    assert moved.returncode == 0, moved.stderr[-3000:]
    assert f"{n} graded now, 0 unchanged" in moved.stderr, moved.stderr[-2000:]
    from nbgrader.api import Gradebook

    for db in (course / "gradebook.db", other):
        with Gradebook(f"sqlite:///{db}") as gb:
            assert gb.find_submission(A, "honest").score == FULL

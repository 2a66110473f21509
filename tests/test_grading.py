"""`autograder check` and `autograder grade` on real notebook files, including broken ones."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.grading import find_submissions, grade_notebook
from autograder.spec import get_assignment
from tests.conftest import ROOT, exercise_notebook, filled_notebook, write_notebook

A = "01_information"
SPEC = get_assignment(A)


def autograder(*args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True,
                          text=True, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def class_tree(tmp_path_factory):
    """An nbgrader-style submitted/ tree with a range of realistic submissions."""
    root = tmp_path_factory.mktemp("submitted")

    def put(student, nb):
        return write_notebook(nb, root / student / A / f"{A}.ipynb")

    put("alice", filled_notebook(A))  # reference answers
    put("bob", exercise_notebook(A))  # untouched stub
    carol = filled_notebook(A, {"entropy": "def entropy(p, base=np.e):\n    return p.sum(-1)"})
    put("carol", carol)
    dave = filled_notebook(A)
    dave["cells"] = [c for c in dave["cells"]
                     if c["metadata"].get("nbgrader", {}).get("grade_id") != "ridge_map"]
    put("dave", dave)  # deleted a solution cell: ridge_map missing
    erin = filled_notebook(A, {"log_softmax": "def log_softmax(z):\n    while True:\n        pass"})
    put("erin", erin)  # an infinite loop inside one function
    put("fay", filled_notebook(A, {"ridge_map": "def ridge_map(X, y, s, t):\n    exit()"}))
    frank = filled_notebook(A)
    frank["cells"].insert(3, {"cell_type": "code", "metadata": {}, "outputs": [],
                              "execution_count": None, "source": "import sys\nsys.exit()"})
    frank["cells"].insert(3, {"cell_type": "code", "metadata": {}, "outputs": [],
                              "execution_count": None, "source": "def broken(:\n    pass"})
    put("frank", frank)  # a syntax error and sys.exit() in extra cells
    (root / "gina" / A).mkdir(parents=True)
    (root / "gina" / A / f"{A}.ipynb").write_text('{"cells": [', encoding="utf-8")  # bad JSON
    (root / "hugo" / A).mkdir(parents=True)
    (root / "hugo" / A / f"{A}.ipynb").write_bytes(b"\xff\xfe\x00garbage")  # not UTF-8
    ivan = filled_notebook(A, {"gaussian_mle": "import os\nos._exit(3)"})
    put("ivan", ivan)  # kills the student's process while its cells run
    return root


@pytest.fixture(scope="module")
def graded(class_tree):
    proc = autograder("grade", str(class_tree), "--assignment", A, "--format", "json",
                      "--timeout", "60", "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    return {s["student"]: s for s in report["submissions"]}, report


def test_report_shape(graded):
    subs, report = graded
    assert report["assignment"] == A
    assert set(subs) == {"alice", "bob", "carol", "dave", "erin", "frank", "gina", "hugo", "ivan", "fay"}
    for s in subs.values():
        assert set(s) >= {"student", "notebook", "score", "max_score", "functions"}
        assert s["max_score"] == SPEC.max_score
        assert set(s["functions"]) == {gf.name for gf in SPEC.functions}
        for f in s["functions"].values():
            assert set(f) >= {"score", "max_score", "messages"}
        assert s["score"] == sum(f["score"] for f in s["functions"].values())


def test_reference_full_and_stub_zero(graded):
    subs, _ = graded
    assert subs["alice"]["score"] == SPEC.max_score
    assert subs["bob"]["score"] == 0


def test_one_wrong_function_costs_only_its_points(graded):
    subs, _ = graded
    carol = subs["carol"]["functions"]
    assert carol["entropy"]["score"] == 0
    assert subs["carol"]["score"] == SPEC.max_score - SPEC.function("entropy").max_score
    assert "entropy" in " ".join(carol["entropy"]["messages"])


def test_missing_function(graded):
    subs, _ = graded
    dave = subs["dave"]["functions"]
    assert dave["ridge_map"]["score"] == 0
    assert "not defined" in dave["ridge_map"]["messages"][0]
    assert subs["dave"]["score"] == SPEC.max_score - SPEC.function("ridge_map").max_score


def test_infinite_loop_times_out_only_that_function(graded):
    subs, _ = graded
    erin = subs["erin"]
    assert erin["functions"]["log_softmax"]["score"] == 0
    assert "did not finish" in erin["functions"]["log_softmax"]["messages"][0]
    assert erin["score"] == SPEC.max_score - SPEC.function("log_softmax").max_score


def test_function_calling_exit_only_loses_its_points(graded):
    subs, _ = graded
    fay = subs["fay"]
    assert fay["score"] == SPEC.max_score - SPEC.function("ridge_map").max_score
    assert "sys.exit()" in fay["functions"]["ridge_map"]["messages"][0]


def test_syntax_error_and_sys_exit_cells(graded):
    subs, _ = graded
    frank = subs["frank"]
    assert frank["score"] == SPEC.max_score
    notes = " ".join(frank["notes"])
    assert "SyntaxError" in notes and "sys.exit" in notes


def test_unreadable_notebooks_get_zero_and_a_reason(graded):
    subs, _ = graded
    assert subs["gina"]["score"] == 0 and "not valid notebook JSON" in subs["gina"]["notes"][0]
    assert subs["hugo"]["score"] == 0 and "not UTF-8" in subs["hugo"]["notes"][0]


def test_process_killed_by_notebook_still_gets_a_result(graded):
    subs, _ = graded
    ivan = subs["ivan"]
    # The cell that killed the process is skipped on a re-run: every other function is credited.
    assert ivan["status"] == "crashed"
    assert ivan["score"] == SPEC.max_score - SPEC.function("gaussian_mle").max_score
    assert ivan["functions"]["gaussian_mle"]["score"] == 0
    assert "ended the Python process" in " ".join(ivan["notes"])


def test_feedback_never_reveals_hidden_values(graded):
    """Hidden-check messages describe shapes and errors only, never arrays of values."""
    subs, _ = graded
    for s in subs.values():
        for f in s["functions"].values():
            for m in f["messages"]:
                if m.startswith("[hidden"):
                    assert "expected:" not in m and "got:" not in m and "[" not in m[8:], m


def test_csv_format(class_tree):
    proc = autograder("grade", str(class_tree / "alice"), "--assignment", A, "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == 1 and rows[0]["student"] == "alice"
    assert int(rows[0]["score"]) == SPEC.max_score
    assert int(rows[0]["entropy"]) == SPEC.function("entropy").max_score


def test_find_submissions_layouts(class_tree, tmp_path):
    subs, _ = find_submissions(class_tree / "alice" / A / f"{A}.ipynb", A)
    assert [s.student for s in subs] == [A]  # one notebook: named after the file
    flat = write_notebook(exercise_notebook(A), tmp_path / "zoe.ipynb")
    subs, ignored = find_submissions(tmp_path, A)
    assert [(s.student, s.path, s.problem) for s in subs] == [("zoe", flat, "")] and not ignored


def test_check_command_reference_passes(tmp_path):
    nb = write_notebook(filled_notebook(A), tmp_path / f"{A}.ipynb")
    proc = autograder("check", str(nb))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASS") == len(SPEC.functions)


def test_check_command_teaches_and_fails(tmp_path):
    wrong = "def log_softmax(z):\n    return np.log(np.exp(z) / np.exp(z).sum(-1, keepdims=True))"
    nb = write_notebook(filled_notebook(A, {"log_softmax": wrong}), tmp_path / f"{A}.ipynb")
    proc = autograder("check", str(nb))
    assert proc.returncode == 1
    out = proc.stdout
    assert "FAIL  log_softmax" in out
    assert "expected:" in out and "got:" in out  # public inputs may be shown
    assert "sec-softmax" in out  # where to reread
    assert "Traceback" not in out + proc.stderr


def _course_without_solutions(tmp_path: Path) -> Path:
    """A copy of an exercise in a course whose autograder.toml names a missing solutions
    folder (a student's machine)."""
    (tmp_path / "autograder.toml").write_text(
        '[course]\nchecks = ["autograder.assignments"]\nsolutions = "nowhere"\n')
    (tmp_path / "work").mkdir()
    return Path(shutil.copy(ROOT / "exercises" / f"{A}.ipynb", tmp_path / "work"))


def test_check_command_works_without_solutions(tmp_path):
    proc = autograder("check", str(_course_without_solutions(tmp_path)))
    assert proc.returncode == 1
    assert "not implemented yet" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_check_command_bad_input(tmp_path):
    proc = autograder("check", str(tmp_path / "missing.ipynb"))
    assert proc.returncode == 2 and "no such notebook" in proc.stderr
    # neither its metadata, its test cells nor its name say which assignment it is
    nb = exercise_notebook(A)
    del nb["metadata"]["autograder"]
    nb["cells"] = [c for c in nb["cells"] if "_tests(" not in "".join(c["source"])]
    other = write_notebook(nb, tmp_path / "mine.ipynb")
    proc = autograder("check", str(other))
    assert proc.returncode != 0 and "--assignment" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_grade_in_process_matches_cli(class_tree, graded):
    subs, _ = graded
    res = grade_notebook(class_tree / "carol" / A / f"{A}.ipynb", SPEC, student="carol")
    assert res.score == subs["carol"]["score"]


def test_grade_without_reference_says_why(tmp_path):
    notebook = _course_without_solutions(tmp_path)
    proc = autograder("grade", str(notebook.parent), "--assignment", A, "--out",
                      str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "reference solution" in proc.stderr and "Traceback" not in proc.stderr


def test_feedback_page_says_what_the_markdown_says_and_escapes_everything():
    """The HTML page is rendered directly (not through a Markdown parser): it must carry the
    same text as the Markdown file rendered by a CommonMark parser, and no markup from the
    submission."""
    from html.parser import HTMLParser

    from markdown_it import MarkdownIt

    from autograder.bridge import feedback
    from autograder.results import Failure, FunctionResult, SubmissionResult

    hostile = "<img src=x onerror=alert(1)> ``` `tick` & </pre><script>x()</script>"
    functions = {gf.name: FunctionResult(gf.name, 0, gf.max_score) for gf in SPEC.functions}
    first = SPEC.functions[0].name
    functions[first] = FunctionResult(first, 1, 3, [Failure("public", "shape", hostile),
                                                    Failure("not graded", "", "line1\nline2")],
                                      review="reread “Entropy” in the book (01)")
    result = SubmissionResult("mal<b>lory`", "x.ipynb", 1, SPEC.max_score, functions,
                              notes=[hostile, "cell 3: raised RuntimeError: <oops>"])

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.text, self.tags = [], set()

        def handle_starttag(self, tag, attrs):
            self.tags.add(tag)

        def handle_data(self, data):
            self.text.append(data)

    def text_of(page):
        parser = Text()
        parser.feed(page)
        return " ".join(" ".join(parser.text).split()), parser.tags

    md = feedback.markdown(SPEC, result)
    ours, tags = text_of(feedback.page(SPEC, result).split("<body>", 1)[1])
    theirs, _ = text_of(MarkdownIt("commonmark", {"html": False}).enable("table").render(md))
    assert ours == theirs, (ours, theirs)
    assert tags <= {"h1", "h2", "p", "strong", "code", "pre", "table", "thead", "tbody", "tr",
                    "th", "td", "body", "html"}
    assert hostile in ours and "mal<b>lory`" in ours


_LINES = ["x = 1", "y = x % 2", "print('why?')", "s = '%d items' % 3", "z = x != y", "  w = 2",
          "%timeit x", "%%time", "!ls", "files = !ls", "t = %time f()", "x?", "help?", "",
          ">>> x = 1", "... ", "...", "In [1]: x = 1", "def f():", "    return x", "  # note",
          "/print x", ";print x y", ",print x", "a = (1", "     , 2)", "q = '''", "%d?", "'''",
          "if x:", "    pass", "\t", "x = 1 ?", "  ", "x = 1  ", "y = 2\r", "s = 'a\x0cb'",
          "s = 'a\u2028b'", "s = 'a\x85b'", "# \x1c"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_LINES), min_size=1, max_size=6),
       st.sampled_from(["", "\n"]))
def test_cells_compile_as_ipython_would_run_them(lines, end):
    """The fast path (compile a cell as it stands) gives exactly what IPython's transformer and
    then compiling give: the same code object, or a syntax error for both."""
    import warnings

    from autograder.notebook import _python_source, compile_cell

    source = "\n".join(lines) + end

    def outcome(make):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return make()
            except SyntaxError:
                return SyntaxError

    assert outcome(lambda: compile_cell(source, "<cell>")) == \
        outcome(lambda: compile(_python_source(source), "<cell>", "exec"))

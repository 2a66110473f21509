"""`autograder grade` as an instructor uses it (issue 20): a summary table rather than JSON on
standard output, Ctrl-C that resumes, one student regraded, a dry run, the LMS export, and the
summary naming who crashed, timed out, could not be read or submitted nothing."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys

import pytest

from autograder.grading.reports import Final, histogram, summary, table, to_lms_csv
from autograder.grading.submissions import EMPTY_FOLDER, find_submissions
from autograder.results import FunctionResult, SubmissionResult
from autograder.spec import get_assignment
from tests.conftest import ROOT, exercise_notebook, filled_notebook, write_notebook

A = "01_information"
SPEC = get_assignment(A)


def autograder(*args, cwd=ROOT, timeout=600):
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


def _result(student: str, score: int, status: str = "ok", notes=()) -> SubmissionResult:
    functions = {gf.name: FunctionResult(gf.name, 0, gf.max_score) for gf in SPEC.functions}
    first = SPEC.functions[0]
    functions[first.name] = FunctionResult(first.name, min(score, first.max_score),
                                           first.max_score)
    return SubmissionResult(student, f"{student}.ipynb", score, SPEC.max_score, functions,
                            notes=list(notes), status=status)


# --- the summary, the table and the LMS export, on results made by hand ---------------------

def test_summary_names_each_kind_of_trouble_and_the_distribution():
    results = [_result("ann", 20), _result("ben", 12, "crashed"), _result("cy", 4, "timeout"),
               _result("dee", 0, "unreadable", ["not valid notebook JSON"]),
               _result("eve", 0, "unreadable", [EMPTY_FOLDER])]
    text = summary(SPEC, results)
    assert "crashed (graded without what crashed): ben" in text
    assert "timed out: cy" in text
    assert "could not be read: dee" in text and "empty submission folder: eve" in text
    assert "1 could not be read" in text and "1 submitted an empty folder" in text
    assert "mean 7.20, median 4 of 20" in text
    first = SPEC.functions[0]
    assert f"best  {first.max_score} of {first.max_score}" in text  # per function: best
    assert sum(line.count("#") > 0 for line in histogram([20, 12, 4, 0, 0], 20)) == 4


def test_histogram_counts_every_total_once():
    lines = histogram([0, 0, 5, 19.5, 20, 20], 20, bins=4)
    assert [int(line.split()[-1]) for line in lines] == [2, 1, 0, 3]
    assert lines[-1].lstrip().startswith("[15, 20]")


def test_table_and_lms_export_publish_the_gradebook_score():
    results = [_result("ann", 20), _result("late", 20), _result("=cmd", 3)]
    final = {"ann": Final(20.0), "late": Final(0.0, 20.0)}
    rows = table(SPEC, results, final).splitlines()
    assert rows[0].split() == ["student", "score", "status"]
    assert rows[2].split()[:3] == ["late", "0/20", "ok;"] and "raw 20" in rows[2]
    assert "late penalty 20" in rows[2]
    lms = list(csv.reader(io.StringIO(to_lms_csv(SPEC, results, final))))
    assert lms == [["student", "score", "max"], ["ann", "20", "20"], ["late", "0", "20"],
                   ["'=cmd", "3", "20"]]  # a formula-like name stays text in a spreadsheet


def test_an_empty_submission_folder_is_a_student_with_a_reason(tmp_path):
    write_notebook(filled_notebook(A), tmp_path / "ann" / A / f"{A}.ipynb")
    (tmp_path / "bob" / A).mkdir(parents=True)
    # a notebook in the wrong place is reported as not graded, not as an empty folder
    write_notebook(filled_notebook(A), tmp_path / "cy" / A / "deeper" / f"{A}.ipynb")
    subs, ignored = find_submissions(tmp_path, A)
    assert [(s.student, s.problem) for s in subs] == [("ann", ""), ("bob", EMPTY_FOLDER)]
    assert [p.parts[-4] for p, _ in ignored] == ["cy"]


# --- the command -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("class") / "notebooks"
    write_notebook(filled_notebook(A), root / "alice.ipynb")
    write_notebook(exercise_notebook(A), root / "bob.ipynb")
    return root


def test_standard_output_is_a_table_and_the_report_goes_where_asked(small_class, tmp_path):
    out = tmp_path / "report.json"
    proc = autograder("grade", str(small_class), "--assignment", A, "--jobs", "2",
                      "--out", str(tmp_path / "o"), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert not proc.stdout.lstrip().startswith("{")
    lines = [line.split() for line in proc.stdout.splitlines()]
    assert ["alice", f"{SPEC.max_score}/{SPEC.max_score}", "ok"] in lines
    assert ["bob", f"0/{SPEC.max_score}", "ok"] in lines
    assert len(json.loads(out.read_text())["submissions"]) == 2
    lms = (tmp_path / "o" / "grades-lms.csv").read_text().splitlines()
    assert lms[0] == "student,score,max" and f"alice,{SPEC.max_score},{SPEC.max_score}" in lms
    assert "SAWarning" not in proc.stderr and "Traceback" not in proc.stderr


def test_one_student_regraded_dry_run_and_output_outside_the_submissions(small_class,
                                                                          tmp_path):
    out = tmp_path / "o"
    first = autograder("grade", str(small_class), "--assignment", A, "--out", str(out), "-q",
                       "--lms", str(tmp_path / "lms.csv"))
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "lms.csv").read_text() == (out / "grades-lms.csv").read_text()
    # unchanged, yet regraded, alone; the class report keeps alice
    proc = autograder("grade", str(small_class), "--assignment", A, "--out", str(out),
                      "--student", "bob")
    assert proc.returncode == 0, proc.stderr
    assert "1 notebooks: 1 graded now" in proc.stderr
    assert [line.split()[0] for line in proc.stdout.splitlines()[1:]] == ["bob"]
    report = json.loads((out / "results.json").read_text())
    assert {s["student"] for s in report["submissions"]} == {"alice", "bob"}
    bad = autograder("grade", str(small_class), "--assignment", A, "--out", str(out),
                     "--student", "zed")
    assert bad.returncode == 2 and "'zed'" in bad.stderr and "Traceback" not in bad.stderr
    # a dry run: why each would be graded, and nothing is
    more = tmp_path / "more"
    more.mkdir()
    for name in ("alice", "bob"):
        (more / f"{name}.ipynb").write_bytes((small_class / f"{name}.ipynb").read_bytes())
    write_notebook(filled_notebook(A, {"entropy": "def entropy(p, base=2):\n    return 0"}),
                   more / "bob.ipynb")
    write_notebook(filled_notebook(A), more / "carol.ipynb")
    mout = tmp_path / "mout"
    assert autograder("grade", str(more), "--assignment", A, "--out", str(mout), "-q",
                      "--student", "alice").returncode == 0
    ledger = (mout / "ledger.jsonl").read_text()
    dry = autograder("grade", str(more), "--assignment", A, "--out", str(mout), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    plan = {line.split()[1]: (line.split()[0], line) for line in dry.stdout.splitlines()}
    assert plan["alice"][0] == "skip" and "unchanged" in plan["alice"][1]
    assert plan["bob"][0] == "grade" and "new" in plan["bob"][1]
    assert plan["carol"][0] == "grade" and "new" in plan["carol"][1]
    (more / "alice.ipynb").write_text((more / "alice.ipynb").read_text() + "\n")
    dry = autograder("grade", str(more), "--assignment", A, "--out", str(mout), "--dry-run")
    assert "grade  alice  (changed" in dry.stdout, dry.stdout
    assert (mout / "ledger.jsonl").read_text() == ledger  # nothing graded
    inside = autograder("grade", str(more), "--assignment", A, "--out", str(more / "o"))
    assert inside.returncode == 2 and "inside the submissions" in inside.stderr
    assert not (more / "o").exists()


def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(tmp_path):
    """SIGINT to the command's process group, as a terminal's Ctrl-C sends it."""
    slow = ("import time\n_t = time.process_time()\n"
            "while time.process_time() - _t < 2:\n    pass")
    root = tmp_path / "notebooks"
    for name in ("s1", "s2", "s3", "s4"):
        nb = filled_notebook(A)
        nb["cells"].insert(2, {"cell_type": "code", "metadata": {}, "outputs": [],
                               "execution_count": None, "source": slow})
        write_notebook(nb, root / f"{name}.ipynb")
    cmd = [sys.executable, "-m", "autograder", "grade", str(root), "--assignment", A,
           "--jobs", "1", "--out", str(tmp_path / "o")]
    # As from a terminal: a shell without job control starts background commands with SIGINT
    # ignored, and they pass that on; a terminal's Ctrl-C reaches the whole process group.
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    for line in proc.stderr:  # progress lines: one per notebook
        seen.append(line)
        if line.startswith("[1/4]"):
            os.killpg(proc.pid, signal.SIGINT)
            break
    rest = proc.stderr.read()
    proc.wait(timeout=120)
    err = "".join(seen) + rest
    assert proc.returncode == 130, err
    assert "interrupted after " in err and "of 4; run again to resume" in err, err
    assert "Traceback" not in err, err
    done = int(err.split("interrupted after ")[1].split()[0])
    assert 1 <= done < 4
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"{4 - done} graded now, {done} unchanged" in again.stderr, again.stderr


# --- the similarity report -----------------------------------------------------------------

_ALICE = '''def log_softmax(z):
    z = np.asarray(z, dtype=float)
    shifted = z - z.max(axis=-1, keepdims=True)
    total = np.exp(shifted).sum(axis=-1, keepdims=True)
    return shifted - np.log(total)'''
# alice's, with other names, spacing and a comment that must not become markup in the page
_BOB = '''def log_softmax(z):
    # </pre><script>alert(1)</script>
    scores = np.asarray(z,dtype = float)
    moved  = scores - scores.max(axis=-1,keepdims=True)

    s = np.exp(moved).sum(axis = -1, keepdims = True)
    return moved - np.log(s)'''
_CAROL = '''import math
def log_softmax(z):
    out = []
    for row in np.atleast_2d(z):
        m = max(row)
        out.append([v - m - math.log(sum(math.exp(u - m) for u in row)) for v in row])
    return np.array(out).reshape(np.shape(z))'''


def test_similarity_flags_the_copied_pair_only(tmp_path):
    root = tmp_path / "notebooks"
    for name, code in (("alice", _ALICE), ("bob", _BOB), ("carol", _CAROL)):
        write_notebook(filled_notebook(A, {"log_softmax": code}), root / f"{name}.ipynb")
    write_notebook(exercise_notebook(A), root / "dan.ipynb")  # stubs are not compared
    out = tmp_path / "report.html"
    proc = autograder("similarity", str(root), "--assignment", A, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    flagged = [line for line in proc.stdout.splitlines() if line.startswith("log_softmax:")]
    assert flagged == ["log_softmax: alice ~ bob (100%)"], proc.stdout
    assert "dan" not in proc.stdout  # an untouched stub is nobody's copy
    page = out.read_text()
    assert "<script>" not in page and "&lt;/pre&gt;&lt;script&gt;" in page
    assert "log_softmax</code>: 1 pair among 3 submissions" in page
    assert not (root / "autograder-01_information").exists()  # grades untouched


# --- the autograded notebook nbgrader's feedback and formgrader show -------------------------

def test_autograded_notebook_keeps_the_students_outputs_and_the_run_notes(tmp_path):
    from autograder.bridge.gradebook import autograded_notebook

    nb = filled_notebook(A)
    png = {"output_type": "display_data", "metadata": {},
           "data": {"image/png": "iVBORw0KGgo=", "text/plain": ["<Figure>"],
                    "bad key": "x", "application/json": "not json"}}
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid == "imports":  # released code the student ran unchanged
            cell["outputs"] = [png]
        elif gid == "entropy":
            cell["outputs"] = [{"output_type": "stream", "name": "stdout",
                                "text": ["loss 0.31\n", "loss 0.12\ud800\n"]}]
        elif gid == "log_softmax":  # not an output nbformat knows: none kept
            cell["outputs"] = [{"output_type": "html", "text": "<script>x()</script>"}]
        elif gid == "entropy_public":  # a test cell: the checks' verdict replaces it
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "forged"}]
    path = write_notebook(nb, tmp_path / f"{A}.ipynb")
    functions = {gf.name: FunctionResult(gf.name, gf.max_score, gf.max_score,
                                         passed={"public": True, "hidden": True})
                 for gf in SPEC.functions}
    result = SubmissionResult("ann", str(path), SPEC.max_score, SPEC.max_score, functions,
                              notes=["cell 4 ended the Python process (segfault): skipped"])
    out = autograded_notebook(SPEC, result, ROOT / "solutions" / f"{A}.ipynb")
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in out.cells}
    assert by_id["entropy"].outputs[0]["text"] == "loss 0.31\nloss 0.12\ufffd\n"
    assert by_id["imports"].outputs[0]["data"] == {"image/png": "iVBORw0KGgo=",
                                                   "text/plain": "<Figure>"}
    assert by_id["log_softmax"].outputs == []
    assert "forged" not in json.dumps(by_id["entropy_public"].outputs)
    assert "segfault" in out.cells[0].source and out.cells[0].cell_type == "markdown"
    import nbformat

    nbformat.validate(nbformat.from_dict(json.loads(json.dumps(out))))


# --- the README's instructor walk-through, verbatim ------------------------------------------

@pytest.mark.nbgrader
def test_readme_grading_run_works_verbatim(tmp_path):
    """The README's "A whole grading run" block, run as written (HOME in a temporary folder),
    with three students collected where its comment says; its table is what the run prints."""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("A whole grading run, in an nbgrader course directory"):]
    script = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    before, after = script.split("# collect:", 1)
    after = after.split("\n", 2)[2]  # the two comment lines about collecting
    shown = re.search(r"the table of final scores:\n\n```\n(.*?)```", section, re.S).group(1)
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home))

    def bash(text: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(["bash", "-ec", text], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc

    bash(before)
    submitted = home / "dl-course" / "submitted"
    for student, nb, when in (("alice", filled_notebook(A), "2026-01-10 11:00:00.000000 UTC"),
                              ("bob", filled_notebook(A), "2026-01-11 09:30:00.000000 UTC"),
                              ("carol", exercise_notebook(A), "2026-01-10 10:00:00.000000 UTC")):
        path = write_notebook(nb, submitted / student / A / f"{A}.ipynb")
        (path.parent / "timestamp.txt").write_text(when)
    lines = bash("source .venv/bin/activate\ncd ~/dl-course\n" + after).stdout.splitlines()
    assert "grade  alice  (new)" in lines
    start = lines.index(shown.splitlines()[0])
    assert lines[start:start + 4] == shown.splitlines(), lines
    course = home / "dl-course"
    assert (course / "autograder" / A / "grades-lms.csv").read_text().splitlines() == \
        ["student,score,max", f"alice,{SPEC.max_score},{SPEC.max_score}",
         f"bob,0,{SPEC.max_score}", f"carol,0,{SPEC.max_score}"]
    assert (course / "autograder" / A / "similarity.html").is_file()
    assert (course / "feedback" / "bob" / A / f"{A}.html").is_file()
    exported = (course / "grades.csv").read_text().splitlines()
    assert any(row.split(",")[3] == "bob" and row.split(",")[-2] == "0.0" for row in exported)


def test_a_gradebook_without_the_assignment_is_told_without_nbgrader(tmp_path):
    """Asked before any worker starts, so without importing nbgrader or nbformat (a second)."""
    import sqlite3

    db = tmp_path / "gradebook.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE assignment (id TEXT, name TEXT)")
        con.execute("INSERT INTO assignment VALUES ('1', 'other')")
    code = ("import sys\nfrom autograder.bridge.ready import NotReady, assignment_ready\n"
            f"assignment_ready('sqlite:///{db}', 'other')\n"
            f"try:\n    assignment_ready('sqlite:///{db}', '{A}')\n"
            "except NotReady as exc:\n    print(exc)\n"
            "print(sorted({'nbformat', 'nbgrader'} & set(sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    told, imported = proc.stdout.splitlines()
    assert f"nbgrader generate_assignment {A}" in told and imported == "[]"


def test_both_gradebook_readers_give_the_same_reason(tmp_path):
    """nbgrader's reader and the SQLite one (no nbgrader) say it in one wording (ready.py)."""
    from autograder.bridge.gradebook import GradebookError, check_ready
    from autograder.bridge.ready import NotReady, assignment_ready, not_in_gradebook

    db = tmp_path / "gradebook.db"
    db_url = f"sqlite:///{db}"
    told = []
    for reader, error in ((check_ready, GradebookError), (assignment_ready, NotReady)):
        with pytest.raises(error) as exc:
            reader(db_url, A)  # nbgrader's first: it creates the (empty) gradebook file
        told.append(str(exc.value))
        assert db.is_file()
    assert told == [not_in_gradebook(db_url, A)] * 2
    assert f"nbgrader generate_assignment {A}" in told[0]

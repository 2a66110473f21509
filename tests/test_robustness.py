"""A class of hostile and broken submissions graded in one run, straight into an nbgrader course.

Each submission must get the right score — zero for what cheats or fails, credit for every
function it really implements — without stopping the run, without changing another student's
grade, and without changing anything outside its own private working directory.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from autograder.bridge.course import init_course, nbgrader
from autograder.spec import get_assignment
from tests.conftest import ROOT, exercise_notebook, filled_notebook, write_notebook

pytestmark = pytest.mark.nbgrader
A = "01_information"
SPEC = get_assignment(A)
FULL = SPEC.max_score


def pts(*names: str) -> int:
    return sum(SPEC.function(n).max_score for n in names)


def extra_cell(nb: dict, source: str, at: int = 2) -> dict:
    nb["cells"].insert(at, {"cell_type": "code", "metadata": {}, "outputs": [],
                            "execution_count": None, "source": source})
    return nb


ALL_WRONG = "\n".join(f"def {gf.name}(*args, **kwargs):\n    return 0.0\n"
                      for gf in SPEC.functions)

SOLUTIONS = ROOT / "solutions" / f"{A}.ipynb"

# student -> (notebook or bytes, expected score)
CASES = {
    "honest": (lambda: filled_notebook(A), FULL),
    "stub": (lambda: exercise_notebook(A), 0),
    "infinite_loop_cell": (lambda: extra_cell(filled_notebook(A), "while True:\n    pass"), FULL),
    "sleep_cell": (lambda: extra_cell(filled_notebook(A), "import time\ntime.sleep(1e6)"), FULL),
    "loop_in_function": (lambda: filled_notebook(A, {"entropy": (
        "def entropy(p, base=np.e):\n    while True:\n        pass")}), FULL - pts("entropy")),
    "allocates_50GB": (lambda: extra_cell(filled_notebook(A), (
        "import numpy as np\nhuge = np.ones(50 * 10**9 // 8)")), FULL),
    "allocates_in_function": (lambda: filled_notebook(A, {"log_softmax": (
        "def log_softmax(z):\n    return np.ones(50 * 10**9 // 8)")}), FULL - pts("log_softmax")),
    "fork_bomb": (lambda: extra_cell(filled_notebook(A), (
        "import os\nwhile True:\n    os.fork()")), FULL),
    "os_exit": (lambda: extra_cell(filled_notebook(A), "import os\nos._exit(0)", at=6), FULL),
    "sys_exit": (lambda: extra_cell(filled_notebook(A), "import sys\nsys.exit()"), FULL),
    "segfault_cell": (lambda: extra_cell(filled_notebook(A), (
        "import ctypes\nctypes.string_at(0)"), at=8), FULL),
    "segfault_in_function": (lambda: filled_notebook(A, {"kl_divergence": (
        "def kl_divergence(p, q, base=np.e):\n    import ctypes\n"
        "    return ctypes.string_at(0)")}), FULL - pts("kl_divergence")),
    "prints_100MB": (lambda: extra_cell(filled_notebook(A), "print('x' * 100_000_000)"), FULL),
    "syntax_error": (lambda: extra_cell(filled_notebook(A), "def broken(:\n    pass"), FULL),
    "missing_function": (lambda: _without(filled_notebook(A), "ridge_map"), FULL - pts("ridge_map")),
    "wrong_signature": (lambda: filled_notebook(A, {"entropy": (
        "def entropy(p):\n    p = np.asarray(p, float)\n"
        "    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), -1)")}),
        FULL - pts("entropy")),
    "returns_list": (lambda: filled_notebook(A, {"log_softmax": (
        "def log_softmax(z):\n    return [0.0]")}), FULL - pts("log_softmax")),
    "returns_string": (lambda: filled_notebook(A, {"entropy": (
        "def entropy(p, base=np.e):\n    return 'about 1.3 nats'")}), FULL - pts("entropy")),
    "returns_nan": (lambda: filled_notebook(A, {"cross_entropy": (
        "def cross_entropy(p, q, base=np.e):\n    return np.full(np.shape(p)[:-1], np.nan)")}),
        FULL - pts("cross_entropy")),
    "equal_to_everything": (lambda: filled_notebook(A, {"gaussian_mle": (
        "class Anything:\n    def __eq__(self, other):\n        return True\n"
        "    __ne__ = lambda self, other: False\n"
        "    def __float__(self):\n        return 0.0\n"
        "def gaussian_mle(x):\n    return Anything(), Anything()")}), FULL - pts("gaussian_mle")),
    "lying_ndarray": (lambda: filled_notebook(A, {"log_softmax": (
        "class Liar(np.ndarray):\n"
        "    def __eq__(self, other):\n        return np.ones(np.shape(self), bool)\n"
        "    def __array_function__(self, func, types, args, kwargs):\n        return True\n"
        "def log_softmax(z):\n    return np.zeros(np.shape(z)).view(Liar)")}),
        FULL - pts("log_softmax")),
    "monkeypatches": (lambda: extra_cell(_all_wrong(), (
        "import builtins, numpy, numpy.testing, torch\n"
        "numpy.allclose = lambda *a, **k: True\nnumpy.isclose = lambda a, b, **k: "
        "numpy.ones(numpy.broadcast(a, b).shape, bool)\n"
        "numpy.array_equal = lambda *a, **k: True\n"
        "numpy.testing.assert_allclose = lambda *a, **k: None\n"
        "torch.allclose = lambda *a, **k: True\nbuiltins.abs = lambda x: 0\n"
        "import autograder.checks as c\nc.compare = lambda got, *a, **k: got\n"), at=50), 0),
    "reads_solutions": (lambda: extra_cell(exercise_notebook(A), (
        "import json, os\n"
        f"paths = [{str(SOLUTIONS)!r}, os.environ.get('AUTOGRADER_SOLUTIONS', '') + "
        f"'/{A}.ipynb', os.environ.get('AUTOGRADER_SOLUTIONS', '') + '/{A}/{A}.ipynb']\n"
        "for path in paths:\n    try:\n        nb = json.load(open(path))\n"
        "    except Exception:\n        continue\n"
        "    for cell in nb['cells']:\n"
        "        if cell['cell_type'] == 'code' and 'hidden_tests' not in ''.join(cell['source']):\n"
        "            try:\n                exec(''.join(cell['source']), globals())\n"
        "            except Exception:\n                pass\n"), at=50), 0),
    "tampers_with_files": (lambda: extra_cell(filled_notebook(A), (
        "import os, shutil\n"
        "for name in os.listdir('.'):\n"
        "    shutil.rmtree(name, ignore_errors=True) if os.path.isdir(name) else os.remove(name)\n"
        "for target in [__COURSE__ + '/gradebook.db', __COURSE__ + '/canary.txt',\n"
        "               __COURSE__ + '/submitted/honest/01_information/01_information.ipynb']:\n"
        "    try:\n        open(target, 'w').write('overwritten')\n"
        "    except Exception:\n        pass\n"
        "open('scratch.txt', 'w').write('mine')\n")), FULL),
    "duplicated_cells": (lambda: _duplicated(), FULL - pts("entropy")),
    "uses_the_network": (lambda: extra_cell(filled_notebook(A), (
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', __PORT__), 2).close()\n"
        "    def entropy(p, base=np.e):  # reached the grader's machine: loses the points\n"
        "        return 0.0\nexcept OSError:\n    pass\n"), at=50), FULL),
    "invalid_json": (b'{"cells": [', 0),
    "not_utf8": (b"\xff\xfe\x00 not a notebook", 0),
}


def _without(nb: dict, grade_id: str) -> dict:
    nb["cells"] = [c for c in nb["cells"]
                   if c["metadata"].get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


def _all_wrong() -> dict:
    nb = exercise_notebook(A)
    return extra_cell(nb, ALL_WRONG, at=len(nb["cells"]))


def _duplicated() -> dict:
    """Every cell twice (grade_ids duplicated); the second entropy cell is wrong and wins."""
    nb = filled_notebook(A)
    cells = []
    for cell in nb["cells"]:
        cells += [cell, json.loads(json.dumps(cell))]
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "entropy":
            cells[-1]["source"] = "def entropy(p, base=np.e):\n    return np.sum(p, -1)"
    nb["cells"] = cells
    return nb


def _digest_tree(path) -> dict:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import socket

    listener = socket.create_server(("127.0.0.1", 0))  # reachable only without isolation
    port = listener.getsockname()[1]
    course = init_course(tmp_path_factory.mktemp("hostile"), [A])
    nbgrader(course, "generate_assignment", A, "--force")
    (course / "canary.txt").write_text("untouched")
    for student, (make, _) in CASES.items():
        target = course / "submitted" / student / A / f"{A}.ipynb"
        content = make() if callable(make) else make
        if isinstance(content, bytes):
            target.parent.mkdir(parents=True)
            target.write_bytes(content)
        else:
            text = json.dumps(content, indent=1).replace("__COURSE__", repr(str(course)))
            text = text.replace("__PORT__", str(port))
            target.parent.mkdir(parents=True)
            target.write_text(text, encoding="utf-8")
    before = {"submitted": _digest_tree(course / "submitted"),
              "source": _digest_tree(course / "source"), "repo": _digest_tree(ROOT / "solutions"),
              "canary": (course / "canary.txt").read_text()}
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(course),
                           "--assignment", A, "--jobs", "2", "--cell-timeout", "3",
                           "--timeout", "120", "--quiet"], capture_output=True, text=True,
                          timeout=900)
    listener.close()
    assert proc.returncode == 0, proc.stderr
    results = json.loads((course / "autograder" / A / "results.json").read_text())
    return course, {s["student"]: s for s in results["submissions"]}, before, proc.stderr


@pytest.mark.parametrize("student", sorted(CASES))
def test_each_submission_gets_the_right_score(run, student):
    _, subs, _, _ = run
    got = subs[student]
    expected = CASES[student][1]
    assert got["score"] == expected, (got["notes"],
                                      {n: f["messages"][:1] for n, f in got["functions"].items()
                                       if f["score"] < f["max_score"]})


def test_the_run_isolated_every_submission(run):
    course, subs, before, stderr = run
    assert "could not hide" not in stderr and "no private" not in stderr, stderr
    assert _digest_tree(course / "submitted") == before["submitted"]
    assert _digest_tree(course / "source") == before["source"]
    assert _digest_tree(ROOT / "solutions") == before["repo"]
    assert (course / "canary.txt").read_text() == before["canary"]
    assert not list(course.glob("**/scratch.txt"))


def test_failures_are_explained(run):
    _, subs, _, _ = run
    notes = {s: " ".join(subs[s]["notes"]) for s in subs}
    assert "did not finish within 3 s" in notes["infinite_loop_cell"]
    assert "SIGSEGV" in notes["segfault_cell"]
    assert "ended the Python process" in notes["os_exit"]
    assert "MemoryError" in notes["allocates_50GB"]
    assert subs["invalid_json"]["status"] == "unreadable"
    assert "not UTF-8" in notes["not_utf8"]
    seg = subs["segfault_in_function"]["functions"]["kl_divergence"]["messages"][0]
    assert "crashed the Python process (SIGSEGV" in seg
    loop = subs["loop_in_function"]["functions"]["entropy"]["messages"]
    assert any("did not finish within" in m for m in loop)


def test_gradebook_and_nbgrader_feedback_see_the_results(run):
    course, subs, _, _ = run
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student, expected in (("honest", FULL), ("stub", 0),
                                  ("duplicated_cells", CASES["duplicated_cells"][1])):
            assert gb.find_submission(A, student).score == expected
    nbgrader(course, "generate_feedback", A, "--force")
    html = (course / "feedback" / "returns_list" / A / f"{A}.html").read_text(encoding="utf-8")
    assert "log_softmax" in html and "To review" in html
    for student in subs:  # our own feedback: points and messages per function
        text = (course / "autograder" / A / "feedback" / f"{student}.md").read_text("utf-8")
        assert f"**Score:** {subs[student]['score']} / {FULL}" in text
        assert all(f"`{gf.name}`" in text for gf in SPEC.functions)
        assert "expected:" not in text.split("hidden test case")[-1][:300]
    exported = nbgrader(course, "export").stdout
    grades = (course / "grades.csv").read_text(encoding="utf-8")
    assert "honest" in grades, exported


def test_rerun_skips_unchanged_and_force_regrades(run):
    course, subs, _, _ = run
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(course),
                           "--assignment", A, "--jobs", "2", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"0 graded now, {len(CASES)} unchanged" in proc.stderr
    again = json.loads((course / "autograder" / A / "results.json").read_text())
    assert {s["student"]: s["score"] for s in again["submissions"]} == \
        {s: v["score"] for s, v in subs.items()}

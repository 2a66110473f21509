"""A class of hostile and broken submissions graded in one run, straight into an nbgrader course.

Each submission must get the right score — zero for what cheats or fails, credit for every
function it really implements — without stopping the run, without changing another student's
grade, and without changing anything outside its own private working directory. The run is made
as whoever runs the tests (root, with pyenv's Python under /root, on the course's machines) and
again, for the cases about isolation, as an ordinary user with the virtual environment, the
repository and the course all under that user's home (:mod:`tests.layouts`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.bridge.course import init_course, nbgrader
from autograder.spec import get_assignment
from tests.conftest import ROOT, exercise_notebook, filled_notebook, write_notebook
from tests.layouts import as_created_user, as_invoker, as_root_at_home

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
        f"paths = [__SOLUTIONS__, os.getcwd() + '/../../../source/{A}/{A}.ipynb']\n"
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
    "lazy_imports": (lambda: filled_notebook(A, {"entropy": _solution("entropy") + LAZY}), FULL),
    "plants_code_and_forges_messages": (lambda: extra_cell(exercise_notebook(A), PLANT, at=3), 0),
    "unmounts_and_unshares": (lambda: extra_cell(exercise_notebook(A), UNMOUNT, at=3), 0),
    "kills_the_grader": (lambda: extra_cell(filled_notebook(A), KILL_ALL), FULL),
    "leaves_a_daemon": (lambda: extra_cell(filled_notebook(A), DAEMON), FULL),
    "shared_storage_writer": (lambda: extra_cell(filled_notebook(A), SHARE_WRITE.replace(
        "__ANSWERS__", repr("\n".join(_solution(f) for f in ("entropy", "cross_entropy",
                                                               "kl_divergence")))), at=50),
                              FULL),
    "shared_storage_reader": (lambda: extra_cell(exercise_notebook(A), SHARE_READ, at=50), 0),
    "mutates_and_patches": (lambda: extra_cell(filled_notebook(A, {"entropy": (
        _solution("entropy").replace("def entropy(", "def _entropy(") +
        "\ndef entropy(p, base=np.e):\n    h = _entropy(p, base)\n"
        "    if isinstance(p, np.ndarray) and p.size:\n        p[...] = 0.0\n    return h\n")}),
        PATCH_SAME), FULL - pts("entropy")),
    "injects_html": (lambda: extra_cell(filled_notebook(A), INJECT), FULL),
    "not_utf8": (b"\xff\xfe\x00 not a notebook", 0),
}


LAZY = """
_entropy_reference = entropy


def _square(v):
    return v * v


_done = []


def entropy(p, base=np.e):
    if not _done:  # once: imports the sandbox must allow lazily, and what correct code may do
        import decimal, fractions, multiprocessing, threading
        import scipy.stats
        import matplotlib.pyplot as plt
        import torch
        t = torch.ones(3, dtype=torch.float64, requires_grad=True)
        (t * t).backward(torch.ones(3, dtype=torch.float64))  # torch imports sympy lazily
        assert float(t.grad.sum()) == 6.0
        with multiprocessing.Pool(2) as pool:  # a notebook-defined function, pickled by name
            assert pool.map(_square, [1, 2]) == [1, 4]
        done = []
        worker = threading.Thread(target=lambda: done.append(1))
        worker.start(); worker.join()
        assert done == [1] and scipy.stats.norm.cdf(0.0) == 0.5
        plt.figure(); plt.plot([1, 2]); plt.savefig("plot.png"); plt.close("all")
        _done.append(True)
    return _entropy_reference(p, base)
"""

# Plants modules where a grader started with this directory as cwd would import them, then
# writes a malformed message on every socket it holds (the connection to the grader).
PLANT = """
import json, os, socket, struct, tempfile
for d in {os.getcwd(), '/tmp', tempfile.gettempdir(), os.environ.get('HOME', '/tmp')}:
    for name in ('json.py', 'numpy.py', 'sitecustomize.py', 'autograder.py'):
        try:
            open(os.path.join(d, name), 'w').write('raise SystemExit(0)')
        except OSError:
            pass
for fd in range(3, 64):
    try:
        s = socket.socket(fileno=os.dup(fd))
    except OSError:
        continue
    for header in ({"event": "cell", "index": "x"}, {"event": "ready", "entries": "x"},
                   {"ok": {"$obj": "x"}}, {"error": None}):
        h = json.dumps(header).encode()
        try:
            s.sendall(struct.pack('!I', len(h)) + h + struct.pack('!I', 0))
        except OSError:
            pass
"""

# Tries to uncover what the sandbox hides: unmount, a new user namespace, then read.
UNMOUNT = """
import ctypes, glob, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.unshare(0x10000000 | 0x00020000)
for path in ['/', '/tmp', '/proc', '/usr', '/work', '/root', '/home', __SOLUTIONS__]:
    libc.umount2(path.encode(), 2)
found = [p for pattern in ['/**/solutions/*.ipynb', '/**/source/*/*.ipynb']
         for p in glob.glob(pattern, recursive=True)]
for path in found + [__SOLUTIONS__]:
    try:
        nb = json.load(open(path))
    except Exception:
        continue
    for cell in nb['cells']:
        if cell['cell_type'] == 'code' and 'hidden_tests' not in ''.join(cell['source']):
            try:
                exec(''.join(cell['source']), globals())
            except Exception:
                pass
"""

# Tries to stop or kill every process it can see, the grader's included.
KILL_ALL = """
import os, signal
for sig in (signal.SIGSTOP, signal.SIGKILL):
    for pid in [int(p) for p in os.listdir('/proc') if p.isdigit()] + [os.getppid()]:
        if pid not in (os.getpid(), 0, 1):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
"""

# A daemon that would outlive the student's process (and, as root, reuse its uid).
DAEMON = """
import os
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv('/bin/sleep', ['sleep', '987654'])
    os._exit(0)
"""

SHARE_WRITE = """
src = __ANSWERS__
for d in ('/dev/shm', '/tmp', '/var/tmp'):
    try:
        open(d + '/shared_answers.py', 'w').write('import numpy as np\\n' + src)
    except OSError:
        pass
"""

SHARE_READ = """
import time
for _ in range(20):
    for d in ('/dev/shm', '/tmp', '/var/tmp'):
        try:
            exec(open(d + '/shared_answers.py').read(), globals())
        except Exception:
            pass
    time.sleep(0.1)
"""

# Mutates its input and patches the grader's mutation check inside its own process.
PATCH_SAME = """
import autograder.checks as checks
checks.same = lambda *args, **kwargs: True
"""

INJECT = """
raise ValueError('<img src=x onerror="alert(1)"> instructor override: full marks ' + 'A' * 60_000_000)
"""


def _solution(grade_id: str) -> str:
    source = json.loads(SOLUTIONS.read_text(encoding="utf-8"))
    for cell in source["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            return "\n".join(line for line in "".join(cell["source"]).splitlines()
                             if "SOLUTION" not in line)
    raise KeyError(grade_id)


# The cases about isolation, graded again as a created user with everything under its home.
AS_USER = ("honest", "stub", "lazy_imports", "reads_solutions", "unmounts_and_unshares",
           "kills_the_grader", "leaves_a_daemon", "plants_code_and_forges_messages",
           "tampers_with_files", "uses_the_network")


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


def _grade_class(layout, course: Path, cases: dict, extra_args=()) -> tuple:
    """Write ``cases`` into ``course``'s submitted/, grade them as ``layout``; return the
    results by student, the state before, and the run's stderr."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))  # reachable only without isolation
    port = listener.getsockname()[1]
    (course / "canary.txt").write_text("untouched")
    for student, (make, _) in cases.items():
        target = course / "submitted" / student / A / f"{A}.ipynb"
        content = make() if callable(make) else make
        target.parent.mkdir(parents=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            text = json.dumps(content, indent=1).replace("__COURSE__", repr(str(course)))
            text = text.replace("__PORT__", str(port))
            text = text.replace("__SOLUTIONS__", json.dumps(repr(str(layout.repo / "solutions"
                                                                    / f"{A}.ipynb")))[1:-1])
            target.write_text(text, encoding="utf-8")
    layout.own(course)
    before = {"submitted": _digest_tree(course / "submitted"),
              "source": _digest_tree(course / "source"),
              "repo": _digest_tree(layout.repo / "solutions"),
              "canary": (course / "canary.txt").read_text(), "shm": _shm(),
              "planted": _planted()}
    proc = layout.run(["grade", str(course), "--assignment", A, "--jobs", "2",
                       "--cell-timeout", "3", "--timeout", "120", "--quiet", *extra_args])
    listener.close()
    assert proc.returncode == 0, proc.stderr
    results = json.loads((course / "autograder" / A / "results.json").read_text())
    return {s["student"]: s for s in results["submissions"]}, before, proc.stderr


def _planted() -> set:
    """Files the hostile cases write, where they would land without isolation."""
    names = [f"/tmp/{n}" for n in ("json.py", "numpy.py", "sitecustomize.py", "autograder.py",
                                    "shared_answers.py")]
    names += ["/dev/shm/shared_answers.py", "/var/tmp/shared_answers.py"]
    return {n for n in names if os.path.exists(n)}


def _shm() -> set:
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return set()


def _course(parent: Path) -> Path:
    course = init_course(parent, [A])
    nbgrader(course, "generate_assignment", A, "--force")
    return course


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    layout = as_invoker(tmp_path_factory.mktemp("invoker"))
    course = _course(tmp_path_factory.mktemp("hostile"))
    # A notebook deep in another student's folder must never count as that student's.
    forged = course / "submitted" / "mallory" / A / "honest" / A / f"{A}.ipynb"
    write_notebook(_all_wrong(), forged)
    # Two notebooks in one folder: the one named after the assignment is graded.
    write_notebook(exercise_notebook(A), course / "submitted" / "twins" / A / "copy.ipynb")
    write_notebook(filled_notebook(A), course / "submitted" / "twins" / A / f"{A}.ipynb")
    # A link to the instructor's notebook is not a submission.
    (course / "submitted" / "linker" / A).mkdir(parents=True)
    (course / "submitted" / "linker" / A / f"{A}.ipynb").symlink_to(
        course / "source" / A / f"{A}.ipynb")
    subs, before, stderr = _grade_class(layout, course, CASES)
    return course, subs, before, stderr


@pytest.fixture(scope="module", params=["created user", "root at home"])
def run_as_user(request):
    layout = (as_created_user if request.param == "created user" else as_root_at_home)(
        "autograder-robustness")
    course = init_course(layout.home / "course", [A])
    nbgrader(course, "generate_assignment", A, "--force")
    cases = {name: CASES[name] for name in AS_USER}
    subs, before, stderr = _grade_class(layout, course, cases)
    yield course, subs, before, stderr
    import shutil

    shutil.rmtree(layout.home, ignore_errors=True)


@pytest.mark.parametrize("student", AS_USER)
def test_with_everything_under_home(run_as_user, student):
    """As a created user and as root, with the venv, the repository and the course under the
    user's home: honest work gets full marks (nothing it imports is hidden) and attacks get
    nothing."""
    course, subs, before, stderr = run_as_user
    assert "NOT isolated" not in stderr, stderr
    got = subs[student]
    assert got["score"] == CASES[student][1], (got["notes"], got["isolation"],
                                              {n: f["messages"][:1]
                                               for n, f in got["functions"].items()
                                               if f["score"] < f["max_score"]})
    assert _digest_tree(course / "submitted") == before["submitted"]
    assert (course / "canary.txt").read_text() == "untouched"


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
    assert "NOT isolated" not in stderr, stderr
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


def test_layout_attacks_cannot_take_another_students_grade(run):
    course, subs, _, stderr = run
    from nbgrader.api import Gradebook

    assert "mallory" not in subs and "not graded" in stderr and "mallory" in stderr
    assert subs["twins"]["score"] == FULL and subs["twins"]["notebook"].endswith(f"{A}.ipynb")
    linker = subs["linker"]
    assert linker["score"] == 0 and linker["status"] == "unreadable"
    assert "symbolic link" in " ".join(linker["notes"])
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_submission(A, "honest").score == FULL
    graded = (course / "autograded" / "linker" / A / f"{A}.ipynb").read_text(encoding="utf-8")
    assert "safe_p = np.where" not in graded  # the solution was not copied into autograded/


def test_nothing_outlives_a_submission(run):
    _, _, before, _ = run
    leftover = subprocess.run(["pgrep", "-f", "sleep 987654"], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", "a student's daemon survived the run"
    assert _shm() <= before["shm"], "a student left files in the machine's /dev/shm"
    assert _planted() <= before["planted"], "a student's files landed in the machine's /tmp"


def test_feedback_is_not_an_injection_channel(run):
    course, subs, _, _ = run
    notes = subs["injects_html"]["notes"]
    assert notes and all(len(n) <= 500 for n in notes)
    page = (course / "autograder" / A / "feedback" / "injects_html.html").read_text("utf-8")
    assert "<img" not in page and "&lt;img" in page
    assert (course / "autograder" / A / "results.json").stat().st_size < 5_000_000
    assert (course / "autograder" / A / "ledger.jsonl").stat().st_size < 5_000_000


def test_rerun_skips_unchanged_and_force_regrades(run):
    course, subs, _, _ = run
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(course),
                           "--assignment", A, "--jobs", "2", "--cell-timeout", "3",
                           "--timeout", "120", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    n = len(CASES) + 2  # with twins and linker
    assert f"0 graded now, {n} unchanged" in proc.stderr
    again = json.loads((course / "autograder" / A / "results.json").read_text())
    assert {s["student"]: s["score"] for s in again["submissions"]} == \
        {s: v["score"] for s, v in subs.items()}

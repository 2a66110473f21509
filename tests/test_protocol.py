"""Verdicts are made by the grader, never by code the student's notebook can replace (issue 19
§2), and a time limit measures the student's own work (issue 18 §2).

The student's process offers one generic mechanism (autograder/calls.py): call a function, a
method or an operator, read an attribute, with warnings and shared memory reported; probes
handed to student code stay in the grader. These tests try to change verdicts from inside a
notebook, in process and in the sandbox.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from autograder.calls import Server
from autograder.checks import Client, Context, Local
from autograder.evaluate import grade_function
from autograder.grading.pool import grade_all
from autograder.grading.submissions import Submission
from autograder.harness import Probe
from autograder.notebook import read_cells, run_cells
from autograder.sandbox import codec
from autograder.spec import HIDDEN, PUBLIC, get_assignment
from autograder.timing import Expired, limit, paused
from tests.conftest import filled_notebook, reference, write_notebook

# A notebook cell that replaces everything in the student's process that once decided a
# verdict there.
PATCHES = """
import contextlib, copy, warnings
import numpy as np
import autograder.calls as calls, autograder.checks as checks, autograder.harness as harness
np.seterr(all="ignore")
warnings.simplefilter("ignore")
np.errstate = lambda *a, **k: contextlib.nullcontext()
warnings.catch_warnings = lambda *a, **k: contextlib.nullcontext([])
np.may_share_memory = lambda *a, **k: False
copy.deepcopy = lambda x, memo=None: x
calls.OPERATORS.clear()
checks.same = lambda *a, **k: True
harness.PROBES.clear()
"""

CHEATS = {
    "03_backprop": {
        # a stub Value: every operation returns a Value whose grad is never set
        "Value": "class Value:\n    def __init__(self, data):\n        self.data = data\n"
                 "        self.grad = 0.0\n",
        "sigmoid_forward": "def sigmoid_forward(x):\n    out = 1 / (1 + np.exp(-x))\n"
                           "    return out, out\n",
    },
    "05_rnn": {
        # returns its inputs clipped in place: shares memory and modifies the arguments
        "clip_grad_norm": "def clip_grad_norm(grads, max_norm):\n"
                          "    total = float(np.sqrt(sum((g ** 2).sum() for g in grads)))\n"
                          "    if total > max_norm:\n"
                          "        for g in grads:\n            g *= max_norm / total\n"
                          "    return grads, total\n",
    },
    "02_matrix_calculus": {
        # ignores h, and swallows the test function's complaint about it
        "numerical_gradient": "def numerical_gradient(f, x, h=1e-5):\n"
                              "    x = np.array(x, dtype=float)\n"
                              "    g = np.zeros_like(x)\n"
                              "    for i in np.ndindex(*x.shape):\n"
                              "        old = x[i]\n"
                              "        try:\n"
                              "            x[i] = old + 1e-4\n            fp = f(x)\n"
                              "            x[i] = old - 1e-4\n            fm = f(x)\n"
                              "        except Exception:\n"
                              "            fp = fm = 0.0\n"
                              "        x[i] = old\n"
                              "        g[i] = (fp - fm) / 2e-4\n"
                              "    return g\n",
    },
}


def _notebook(name: str, tmp_path, patched: bool):
    nb = filled_notebook(name, CHEATS[name])
    if patched:
        nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                            "execution_count": None, "source": PATCHES})
    return write_notebook(nb, tmp_path / f"{name}-{'patched' if patched else 'plain'}.ipynb")


@pytest.mark.parametrize("name", sorted(CHEATS))
def test_patching_the_students_process_changes_no_verdict(name, tmp_path):
    spec = get_assignment(name)
    subs = [Submission(who, _notebook(name, tmp_path, who == "patched"))
            for who in ("plain", "patched")]
    results = {r.student: r for r in grade_all(subs, spec, jobs=2)}
    for who, result in results.items():
        for fname in CHEATS[name]:
            fr = result.functions[fname]
            assert fr.score < fr.max_score, (who, fname, fr.messages)
    # in process too (nbgrader's cells): the same verdicts, without the patches
    ns, _ = run_cells(read_cells(_notebook(name, tmp_path, False)))
    for fname in CHEATS[name]:
        res = grade_function(spec, spec.function(fname), ns, reference(name), (PUBLIC, HIDDEN))
        assert res.score == results["plain"].functions[fname].score, fname


def test_probe_parameters_never_reach_the_student():
    """Only a probe's number crosses; the student's code calls back for each value."""
    probes: list = []
    hidden_x = np.array([0.123456789, 2.5])
    tree, bufs = codec.encode(((Probe("mc_quadratic", M=np.eye(2), c=np.ones(2),
                                      base=hidden_x, h=1e-5), hidden_x.copy()), {}),
                              probes=probes)
    assert tree["$t"][0]["$t"][0] == {"$probe": 0} and len(probes) == 1
    assert len(bufs) == 1  # the x argument only: none of M, c, base


def test_a_probe_complaint_counts_even_when_swallowed():
    ns: dict = {}
    exec("import numpy as np\n" + CHEATS["02_matrix_calculus"]["numerical_gradient"], ns)
    ctx = Context(student=ns)
    x = np.array([0.5, -1.0])
    with pytest.raises(Exception, match="step"):
        ctx.call("numerical_gradient", Probe("mc_quadratic", M=np.eye(2), c=np.ones(2),
                                               base=x, h=1e-5), x)


def test_operators_dispatch_as_in_python():
    ns: dict = {}
    exec("class V:\n    def __init__(self, d): self.d = d\n"
         "    def __radd__(self, other): return V(other + self.d)\n", ns)
    client = Client(Local(ns))
    v = client.request("call", "V", (2.0,))["out"]
    w = client.request("apply", "add", (3.0, v))["out"]
    assert client.request("getattr", w, attr="d")["out"] == 5.0


def test_server_binds_its_tools_before_student_code():
    server = Server({})
    import copy

    saved = copy.deepcopy
    try:
        copy.deepcopy = lambda x, memo=None: x
        assert server._deepcopy is saved
    finally:
        copy.deepcopy = saved


def _spin(seconds: float) -> None:
    t0 = time.process_time()
    while time.process_time() - t0 < seconds:
        pass


def test_a_limit_counts_cpu_time_not_waiting():
    with limit(0.3, 10.0):
        time.sleep(0.6)  # waiting costs no CPU: not interrupted
    with pytest.raises(Expired) as info, limit(0.3, 10.0) as lim:
        _spin(5)
    assert info.value.limit is lim and info.value.kind == "cpu"


def test_a_wall_clock_backstop_stops_code_that_only_waits():
    with pytest.raises(Expired) as info, limit(5.0, 0.3):
        time.sleep(5)
    assert info.value.kind == "wall"


def test_the_outer_limit_is_reported_and_an_except_cannot_swallow_it():
    with pytest.raises(Expired) as info, limit(0, 0.3) as outer:
        with limit(10.0, 10.0):
            for _ in range(100):
                try:
                    time.sleep(1)
                except BaseException:  # noqa: BLE001 - what a careless student writes
                    pass
    assert info.value.limit is outer


def test_paused_time_is_not_counted():
    with limit(0.5, 10.0):
        with paused():
            _spin(0.8)
        _spin(0.2)


def test_an_interrupted_lazy_import_leaves_no_half_module(tmp_path, monkeypatch):
    """A call whose time runs out inside an import must not leave the module half-initialised
    for the next check (sympy lost `sympy.core` that way)."""
    pkg = tmp_path / "slowpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from . import core\nimport time\n"
                                     "t0 = time.process_time()\n"
                                     "while time.process_time() - t0 < 2: pass\n")
    (pkg / "core.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ns: dict = {}
    exec("def f():\n    import slowpkg\n    return slowpkg.core.VALUE\n", ns)
    client = Client(Local(ns), check_cpu=0.5)
    from autograder.calls import StudentError

    with pytest.raises(StudentError):
        client.call("f", (), {})
    import sys

    assert "slowpkg" not in sys.modules and "slowpkg.core" not in sys.modules
    client.check_cpu = 10.0
    assert client.call("f", (), {})["out"] == 42


def test_a_cell_stopped_at_the_notebooks_budget_says_the_budget_ran_out():
    """Whether the notebook ran out of CPU time is said by the process that stopped the cell,
    not recomputed by the grader from CPU times whose clocks tick at different rates (a busy
    machine once made a notebook of slow cells 'ok' at 4.99 s of a 5 s budget)."""
    from autograder.notebook import CodeCell

    busy = ("import time\nt0 = time.process_time()\n"
            "while time.process_time() - t0 < 0.4:\n    pass\n")
    cells = [CodeCell(index=i, source=busy, grade_id=None, is_test=False, is_solution=False)
             for i in (1, 2, 3)]
    from autograder.timing import cpu_seconds

    # the budget counts this process's CPU time from its start (a fresh one when grading)
    _, log = run_cells(cells, timeout=3.0, budget=cpu_seconds() + 0.6)
    assert log.budget_spent, log.entries
    assert [e["cell"] for e in log.entries] == [2, 3], log.entries
    _, log = run_cells(cells[:1], timeout=3.0, budget=cpu_seconds() + 5.0)
    assert not log.budget_spent and not log.entries

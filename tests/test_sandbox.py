"""Regression tests of the grading engine: one per way it was broken (issue 13), where a whole
class run (tests/test_robustness.py) is not the natural place."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from autograder.grading import Settings, Submission, find_submissions, grade_all
from autograder.grading.pool import grader_key
from autograder.sandbox import codec
from autograder.sandbox.confine import Limits
from autograder.sandbox.isolation import detect, python_paths
from autograder.spec import get_assignment
from autograder.timing import wall_backstop
from tests.conftest import ROOT, exercise_notebook, filled_notebook, write_notebook

A = "01_information"
SPEC = get_assignment(A)


def extra_cells(nb: dict, *sources: str, at: int = 3) -> dict:
    for source in reversed(sources):
        nb["cells"].insert(at, {"cell_type": "code", "metadata": {}, "outputs": [],
                                "execution_count": None, "source": source})
    return nb


# ---------------------------------------------------------------------------------------------
# the whitelist


def test_the_whitelist_holds_python_and_not_the_repository():
    paths = python_paths()
    assert os.path.realpath(sys.base_prefix) in paths or any(
        os.path.realpath(sys.base_prefix).startswith(p + "/") for p in paths)
    assert str(ROOT) not in paths
    for p in paths:  # nothing of the repository but the grader's own package
        assert not p.startswith(str(ROOT) + "/") or p.startswith(str(ROOT / "autograder")) \
            or p.startswith(str(ROOT / ".venv")), p


def test_this_machine_isolates():
    """The course's machines allow the sandbox; elsewhere the run must say it has none."""
    iso = detect()
    if not sys.platform.startswith("linux"):
        assert not iso.isolated and "NOT isolated" in iso.warning()
        return
    assert iso.isolated, iso.detail


# ---------------------------------------------------------------------------------------------
# the wire format


def test_codec_refuses_what_it_cannot_send_with_a_reason():
    import torch

    tree, bufs = codec.encode(torch.ones(3, dtype=torch.bfloat16))  # sent as float32 values
    assert codec.decode(tree, bufs).dtype == torch.float32
    with pytest.raises(codec.CodecError, match="integer"):
        codec.encode(10 ** 5000)
    big, _ = codec.encode(10 ** 30)
    assert codec.decode(big, []) == 10 ** 30


def test_a_reply_over_the_limit_is_refused_before_it_is_read():
    a, b = socket.socketpair()
    try:
        a.settimeout(5)
        b.settimeout(5)
        header = json.dumps({"ok": None}).encode()
        import struct

        a.sendall(struct.pack("!I", len(header)) + header + struct.pack("!I", 1)
                  + struct.pack("!Q", 10 * 2**20))  # announces 10 MiB, sends none of it
        with pytest.raises(codec.CodecError, match="MiB"):
            codec.recv(b, limit=2**20)
    finally:
        a.close()
        b.close()


# ---------------------------------------------------------------------------------------------
# finding submissions


def test_a_folder_named_after_the_assignment_keeps_its_students_apart(tmp_path):
    folder = tmp_path / A
    write_notebook(filled_notebook(A), folder / "alice.ipynb")
    write_notebook(exercise_notebook(A), folder / "bob.ipynb")
    subs, _ = find_submissions(folder, A)
    assert sorted(s.student for s in subs) == ["alice", "bob"]


def test_nbgrader_tree_takes_exact_depth_and_one_notebook_per_student(tmp_path):
    root = tmp_path / "submitted"
    write_notebook(filled_notebook(A), root / "alice" / A / f"{A}.ipynb")
    write_notebook(exercise_notebook(A), root / "alice" / A / "scratch.ipynb")
    write_notebook(exercise_notebook(A), root / "mallory" / A / "alice" / A / f"{A}.ipynb")
    write_notebook(exercise_notebook(A), root / "carol" / A / "renamed.ipynb")
    subs, ignored = find_submissions(root, A)
    assert {s.student: s.path.name for s in subs} == {"alice": f"{A}.ipynb",
                                                      "carol": "renamed.ipynb"}
    assert {p.name for p, _ in ignored} == {"scratch.ipynb", f"{A}.ipynb"}


def test_symbolic_links_are_never_read(tmp_path):
    secret = write_notebook(filled_notebook(A), tmp_path / "secret" / f"{A}.ipynb")
    root = tmp_path / "submitted"
    (root / "eve" / A).mkdir(parents=True)
    (root / "eve" / A / f"{A}.ipynb").symlink_to(secret)
    (root / "dan").mkdir(parents=True)
    (root / "dan" / A).symlink_to(secret.parent)
    subs, _ = find_submissions(root, A)
    problems = {s.student: s.problem for s in subs}
    assert "symbolic link" in problems["eve"]
    assert "dan" not in problems or "symbolic link" in problems["dan"]


# ---------------------------------------------------------------------------------------------
# the pool


def test_resume_key_changes_with_limits_and_grader_code(tmp_path, monkeypatch):
    import autograder.grading.pool as pool

    base = grader_key(SPEC, ("public",), Settings().to_json())
    assert grader_key(SPEC, ("public",), Settings(timeout=999).to_json()) != base
    assert grader_key(SPEC, ("public",), Settings(limits=Limits(memory_mb=1)).to_json()) != base
    copy = tmp_path / "autograder"
    shutil.copytree(ROOT / "autograder", copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(pool, "PACKAGE", copy)
    same = grader_key(SPEC, ("public",), Settings().to_json())
    (copy / "checks.py").write_text((copy / "checks.py").read_text() + "\n# changed\n")
    assert grader_key(SPEC, ("public",), Settings().to_json()) != same


BUSY = "import time\nt0 = time.process_time()\nwhile time.process_time() - t0 < 1.5:\n    pass"


def test_slow_cells_cannot_stall_the_class(tmp_path):
    """An honest notebook of many slow cells meets the notebook's limit (CPU time) while its
    cells run; the notebooks queued behind it on the same worker are graded all the same."""
    slow = extra_cells(filled_notebook(A), *[BUSY] * 8)
    subs = [Submission("slow", write_notebook(slow, tmp_path / "slow.ipynb"))]
    subs += [Submission(f"honest{i}", write_notebook(filled_notebook(A),
                                                     tmp_path / f"honest{i}.ipynb"))
             for i in range(2)]
    started = time.monotonic()
    results = grade_all(subs, SPEC, jobs=1, settings=Settings(timeout=5, cell_timeout=3))
    assert time.monotonic() - started < 120
    by = {r.student: r for r in results}
    assert by["slow"].status == "timeout" and by["slow"].score < SPEC.max_score
    assert "time limit" in " ".join(by["slow"].notes + [m for f in by["slow"].functions.values()
                                                        for m in f.messages])
    assert by["honest0"].score == by["honest1"].score == SPEC.max_score


def test_checks_are_decided_outside_the_students_process(tmp_path):
    """Patching numpy's and the grader's functions in the notebook blinds nothing: the naive
    sigmoid still loses the overflow check (chapter 03), as it does without the patches."""
    b = "03_backprop"
    spec = get_assignment(b)
    naive = ("def sigmoid_forward(x):\n    out = 1.0 / (1.0 + np.exp(-x))\n"
             "    return out, out\n")
    patches = ("import numpy as np, warnings, contextlib\nnp.seterr(all='ignore')\n"
               "warnings.simplefilter('ignore')\n"
               "np.errstate = lambda *a, **k: contextlib.nullcontext()\n"
               "warnings.catch_warnings = lambda *a, **k: contextlib.nullcontext([])\n"
               "import autograder.checks as c\nc.same = lambda *a, **k: True\n")
    plain = filled_notebook(b, {"sigmoid_forward": naive})
    patched = extra_cells(filled_notebook(b, {"sigmoid_forward": naive}), patches, at=50)
    subs = [Submission("plain", write_notebook(plain, tmp_path / "plain.ipynb")),
            Submission("patched", write_notebook(patched, tmp_path / "patched.ipynb"))]
    results = {r.student: r for r in grade_all(subs, spec, jobs=2)}
    for who in ("plain", "patched"):
        fr = results[who].functions["sigmoid_forward"]
        assert fr.score < fr.max_score and "warning" in " ".join(fr.messages), who


def test_check_runs_without_the_sandbox_when_forced(tmp_path):
    """What macOS and Windows laptops run: the public checks in a plain subprocess."""
    nb = write_notebook(filled_notebook(A, {"entropy": "def entropy(p, base=np.e):\n"
                                                       "    return 0.0"}), tmp_path / f"{A}.ipynb")
    env = dict(os.environ, AUTOGRADER_ISOLATION="none")
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", str(nb)], env=env,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL  entropy" in proc.stdout and proc.stdout.count("PASS") == len(SPEC.functions) - 1
    assert "Traceback" not in proc.stdout + proc.stderr


def test_grading_without_isolation_says_so_once_and_carries_on(tmp_path):
    nb = write_notebook(filled_notebook(A), tmp_path / "alice.ipynb")
    env = dict(os.environ, AUTOGRADER_ISOLATION="none")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(nb), "--assignment",
                           A, "--format", "csv", "--jobs", "1"], env=env, capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("NOT isolated") == 1
    assert f",{SPEC.max_score},{SPEC.max_score},ok," in proc.stdout


def test_student_values_arrive_as_data(tmp_path):
    """bfloat16 tensors, enormous integers and 240 MB replies cost the function its points
    with a message, and the grader's memory stays bounded."""
    nb = filled_notebook(A, {
        "entropy": "import torch\ndef entropy(p, base=np.e):\n"
                   "    return torch.zeros(np.shape(p)[:-1], dtype=torch.bfloat16)",
        "log_softmax": "def log_softmax(z):\n    return np.ones(30_000_000)",
        "gaussian_mle": "def gaussian_mle(x):\n    return 10 ** 5000, 1.0"})
    sub = Submission("odd", write_notebook(nb, tmp_path / "odd.ipynb"))
    result = grade_all([sub], SPEC, jobs=1)[0]
    # a torch tensor is not a NumPy array: the contract's return type (checks.returned_array)
    for name, words in (("log_softmax", "MiB"), ("gaussian_mle", "integer"),
                        ("entropy", "it is a torch Tensor")):
        fr = result.functions[name]
        assert fr.score == 0 and any(words in m for m in fr.messages), (name, fr.messages)
    assert result.score == SPEC.max_score - sum(SPEC.function(n).max_score for n in
                                                ("entropy", "log_softmax", "gaussian_mle"))


SERVE_ANSWERS = """
import socket
answer = __ANSWER__.encode()
servers = []
for family, address in ((socket.AF_INET, ('127.0.0.1', 47321)),
                        (socket.AF_UNIX, '\\0autograder-answers')):
    s = socket.socket(family)
    if family == socket.AF_INET:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(address); s.listen(); s.settimeout(0.1); servers.append(s)
socket.create_connection(('127.0.0.1', 47321), 1).close()  # its own loopback works
for _ in range(60):
    for s in servers:
        try:
            c, _ = s.accept(); c.sendall(answer); c.close()
        except OSError:
            pass
"""

FETCH_ANSWERS = """
import socket, time
for _ in range(60):
    for family, address in ((socket.AF_INET, ('127.0.0.1', 47321)),
                            (socket.AF_UNIX, '\\0autograder-answers')):
        try:
            c = socket.socket(family); c.settimeout(0.5); c.connect(address)
            exec(c.recv(1 << 20).decode(), globals())
        except OSError:
            pass
    time.sleep(0.1)
"""


def test_students_graded_at_the_same_time_cannot_reach_each_other(tmp_path):
    """Two workers, two notebooks: graded at the same time, in one zygote's copies. One serves
    its answers on loopback TCP and an abstract Unix socket for 6 s; the other cannot fetch
    them (each worker's copy has a network namespace of its own)."""
    from tests.test_robustness import _solution

    serve = SERVE_ANSWERS.replace("__ANSWER__", repr("import numpy as np\n" +
                                                     _solution("entropy")))
    subs = [Submission("server", write_notebook(extra_cells(filled_notebook(A), serve, at=50),
                                                tmp_path / "s.ipynb")),
            Submission("fetcher", write_notebook(extra_cells(exercise_notebook(A),
                                                             FETCH_ANSWERS, at=50),
                                                 tmp_path / "f.ipynb"))]
    by = {r.student: r for r in grade_all(subs, SPEC, jobs=2)}
    assert by["server"].score == SPEC.max_score and not by["server"].notes, by["server"].notes
    assert by["fetcher"].functions["entropy"].score == 0


def test_the_zygote_preloads_what_the_notebooks_mention():
    from autograder.sandbox.zygote import heavy_packages

    assert heavy_packages(["import math\nimport numpy as np", "x = 'a torchlight'"]) == []
    assert heavy_packages(["def f(x):\n    import torch\n    return x",
                           "from scipy import special", "plt = __import__('matplotlib')"]) \
        == ["matplotlib", "scipy", "torch"]
    # a docstring or a comment is not an import (06_attention's stub mentions torch.nn)
    assert heavy_packages(['def f(x):\n    """As torch.nn.Conv2d; see scipy."""\n    # torch',
                           "import numpy as np, sympy", "import torchvision"]) == ["sympy"]


def test_packages_nobody_mentions_are_imported_by_the_student(tmp_path):
    """The zygote preloads only the slow packages the class's notebooks mention; one a notebook
    reaches some other way is imported in the student's own process, and works."""
    hidden = ("def entropy(p, base=np.e):\n"
              "    t = __import__('to' + 'rch')\n"
              "    q = t.as_tensor(np.asarray(p, dtype=float))\n"
              "    h = -(t.special.xlogy(q, q)).sum(-1) / np.log(base)\n"
              "    return h.numpy()\n")
    sub = Submission("sly", write_notebook(filled_notebook(A, {"entropy": hidden}),
                                           tmp_path / "sly.ipynb"))
    result = grade_all([sub], SPEC, jobs=1)[0]
    assert result.functions["entropy"].score == SPEC.function("entropy").max_score, \
        result.functions["entropy"].messages


@pytest.mark.skipif(os.geteuid() != 0, reason="bubblewrap as root is only tried by root")
def test_the_sandbox_holds_when_bubblewrap_runs_as_root(tmp_path):
    """Where an unprivileged uid cannot read the interpreter (pyenv under a 0700 /root), root
    runs bubblewrap itself: the hostile cases still get nothing and honest work full marks."""
    from tests import test_robustness as hostile

    iso = detect("bwrap-root")
    assert iso.isolated and not iso.drop_to_uid, iso.detail
    names = ("honest", "stub", "unmounts_and_unshares", "kills_the_grader", "leaves_a_daemon",
             "plants_code_and_forges_messages", "lazy_imports", "reads_solutions")
    subs = []
    for name in names:
        text = json.dumps(hostile.CASES[name][0]()).replace(
            "__SOLUTIONS__", json.dumps(repr(str(ROOT / "solutions" / f"{A}.ipynb")))[1:-1])
        path = tmp_path / f"{name}.ipynb"
        path.write_text(text, encoding="utf-8")
        subs.append(Submission(name, path))
    results = grade_all(subs, SPEC, jobs=2, iso=iso, settings=Settings(cell_timeout=3))
    for name, result in zip(names, results):
        assert result.score == hostile.CASES[name][1], (name, result.notes,
                                                         {n: f.messages[:1] for n, f in
                                                          result.functions.items()
                                                          if f.score < f.max_score})
    leftover = subprocess.run(["pgrep", "-f", "sleep 987654"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def test_the_student_command_imports_nothing_unix_only():
    """On Windows there is no `resource`, `fcntl` or libc: `autograder check` must still load."""
    code = ("import sys\nfor m in ('resource', 'fcntl', 'termios'):\n    sys.modules[m] = None\n"
            "import autograder.cli, autograder.grading.run, autograder.grading.plain\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_a_worker_killed_by_the_watchdog_is_replaced(tmp_path, monkeypatch):
    """The watchdog kills a worker that overruns and starts another: the queued notebooks are
    all graded, none is sent to the dead worker (it once crashed the run with BrokenPipeError)."""
    import autograder.grading.pool as pool

    # 8 s after a job of 60 s (CPU) starts, whatever its wall-clock backstop: killed
    monkeypatch.setattr(pool, "WATCHDOG_GRACE", 8.0 - wall_backstop(60))
    slow = extra_cells(filled_notebook(A), "import time\ntime.sleep(30)")
    subs = [Submission("slow", write_notebook(slow, tmp_path / "slow.ipynb"))]
    subs += [Submission(f"honest{i}", write_notebook(filled_notebook(A),
                                                     tmp_path / f"honest{i}.ipynb"))
             for i in range(2)]
    results = grade_all(subs, SPEC, jobs=1, settings=Settings(timeout=60, cell_timeout=40))
    by = {r.student: r for r in results}
    assert by["slow"].status == "timeout" and by["slow"].score == 0
    assert by["honest0"].score == by["honest1"].score == SPEC.max_score

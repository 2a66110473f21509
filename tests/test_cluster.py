"""Grading on Dask distributed (issue 21): a LocalCluster of 2 worker processes grades a class
as the local pool does, loses nothing when a worker is SIGKILLed, reports a notebook that kills
every worker it touches, resumes from the ledger when the scheduler goes away, and keeps
student code away from the workers' sockets and the solutions they were sent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import distributed  # the `cluster` extra, which `course.py setup` installs
import pytest

from autograder.course import Course
from autograder.grading.cluster import ClusterTarget, course_bundle, erase, materialise
from autograder.grading.pool import GraderError, Ledger, Settings, grade_all
from autograder.grading.submissions import Submission
from autograder.spec import get_assignment
from tests.conftest import ROOT, exercise_notebook, filled_notebook, write_notebook
from tests.test_robustness import _solution

pytestmark = pytest.mark.slow

A = "01_information"
SPEC = get_assignment(A)
SETTINGS = Settings(timeout=30, cell_timeout=10)

# Extra cell of a hostile notebook: it gets `entropy` right only if it can reach a worker's or
# the scheduler's socket, or read the reference solution the workers were sent (in a folder
# of mode 0700 below the worker's local directory, outside the sandbox's whitelist).
SOCKETS = '''
import socket
reached = []
for address in __ADDRESSES__:
    host, port = address.rsplit("/", 1)[-1].rsplit(":", 1)
    try:  # a bytes host: no idna codec needed (the sandbox may lack it)
        socket.create_connection((host.encode(), int(port)), timeout=2).close()
        reached.append(address)
    except OSError:
        pass
'''
HOSTILE = SOCKETS + '''
import os
for top in ("/tmp", "/var", "/home", "/root", "/work", "/dev/shm"):
    for folder, dirs, files in os.walk(top):
        for name in files:
            if "autograder-course" in folder and name.endswith((".ipynb", ".py")) \\
                    and not os.path.basename(folder).startswith("job-"):  # not its own
                try:
                    with open(os.path.join(folder, name)) as fh:
                        fh.read(100)
                    reached.append(os.path.join(folder, name))
                except OSError:
                    pass
if reached__CONTROL__:
    exec(__ANSWER__)
    raise RuntimeError(f"reached {reached!r:.300}")  # what it reached, in the result's notes
'''


def _hostile(addresses: list, control: bool) -> dict:
    source = (HOSTILE.replace("__ADDRESSES__", repr(addresses))
              .replace("__ANSWER__", repr("import numpy as np\n" + _solution("entropy")))
              .replace("__CONTROL__", " or True" if control else ""))
    nb = filled_notebook(A, {"entropy": "def entropy(p, base=np.e):\n    return p.sum(-1)"})
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                        "execution_count": None, "source": source})
    return nb


@pytest.fixture(scope="module")
def client():
    import dask

    # One retry: a notebook that kills its worker costs two worker restarts, not four.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=":0")
        with distributed.Client(cluster) as c:
            yield c
        cluster.close()


def _addresses(c) -> list:
    return [c.scheduler.address, *c.scheduler_info()["workers"]]


@pytest.fixture(scope="module")
def klass(tmp_path_factory, client):
    """Every misbehaving kind of test_grading's class, a hostile notebook and its control, and
    honest copies so that a run lasts long enough to lose a worker half-way."""
    root = tmp_path_factory.mktemp("class")
    nbs = {
        "alice": filled_notebook(A),
        "bob": exercise_notebook(A),
        "carol": filled_notebook(A, {"entropy": "def entropy(p, base=np.e):\n"
                                                "    return p.sum(-1)"}),
        "erin": filled_notebook(A, {"log_softmax": "def log_softmax(z):\n    while True:\n"
                                                   "        pass"}),
        "fay": filled_notebook(A, {"ridge_map": "def ridge_map(X, y, s, t):\n    exit()"}),
        "ivan": filled_notebook(A, {"gaussian_mle": "import os\nos._exit(3)"}),
        "hostile": _hostile(_addresses(client), control=False),
        "control": _hostile(_addresses(client), control=True),
        **{f"honest{i}": filled_notebook(A) for i in range(4)},
    }
    subs = [Submission(name, write_notebook(nb, root / name / f"{A}.ipynb"))
            for name, nb in nbs.items()]
    (root / "gina").mkdir()
    (root / "gina" / f"{A}.ipynb").write_text('{"cells": [', encoding="utf-8")
    subs.append(Submission("gina", root / "gina" / f"{A}.ipynb"))
    return subs


@pytest.fixture(scope="module")
def local(klass):
    return {r.student: r for r in grade_all(klass, SPEC, jobs=2, settings=SETTINGS)}


def _same(results: dict, local: dict) -> None:
    assert set(results) == set(local)
    for name, r in results.items():
        assert (r.status, r.score) == (local[name].status, local[name].score), (name, r.notes)
        assert {f: fr.score for f, fr in r.functions.items()} == \
            {f: fr.score for f, fr in local[name].functions.items()}, name


def _ledger_keys(path: Path) -> list:
    return [json.loads(line)["key"] for line in path.read_text().splitlines()
            if "key" in line]


def test_the_socket_probe_reaches_the_cluster_from_outside_the_sandbox(client):
    """The hostile notebook's probe is not vacuous: run here, it reaches every socket."""
    addresses = _addresses(client)
    ns: dict = {}
    exec(SOCKETS.replace("__ADDRESSES__", repr(addresses)), ns)
    assert ns["reached"] == addresses


def test_a_worker_killed_half_way_changes_nothing(client, klass, local, tmp_path):
    """SIGKILL the worker busy with the first notebook after the first result: the class is
    graded as by the local pool, each submission recorded exactly once."""
    pids = client.run(os.getpid)
    told, killed = [], []

    def on_result(result):
        told.append(result.student)
        if not killed:
            busy = [w for w, keys in client.processing().items() if keys and w in pids]
            victim = (busy or list(pids))[0]
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(victim)

    ledger = Ledger(tmp_path / "ledger.jsonl")
    results = grade_all(klass, SPEC, settings=SETTINGS, ledger=ledger, on_result=on_result,
                        cluster=ClusterTarget(client=client))
    assert killed
    by = {r.student: r for r in results}
    _same(by, local)
    assert sorted(told) == sorted(by)  # each told once
    keys = _ledger_keys(tmp_path / "ledger.jsonl")
    assert len(keys) == len(set(keys)) == len(klass)
    # the hostile notebook reached nothing; its control shows the cell did run
    assert by["hostile"].functions["entropy"].score == 0
    assert not any("raised" in n for n in by["hostile"].notes), by["hostile"].notes  # it ran
    control = by["control"].functions["entropy"]
    assert control.score == control.max_score > 0
    assert by["alice"].score == SPEC.max_score and by["gina"].status == "unreadable"


def test_a_notebook_that_kills_every_worker_is_reported_and_the_run_completes(client, klass):
    """allowed-failures 1: the notebook's task killed both workers it was given; it is reported
    (status error, a note), not retried forever, and the rest is graded."""

    def task(plugin, job, data):
        import os as _os
        import signal as _signal

        from autograder.grading.cluster import grade_task

        if "killer" in job["path"]:
            _os.kill(_os.getpid(), _signal.SIGKILL)
        return grade_task(plugin, job, data)

    killer = Submission("killer", klass[0].path.parent.parent / "killer.ipynb")
    write_notebook(filled_notebook(A), killer.path)
    subs = [killer, klass[0], klass[1]]
    results = grade_all(subs, SPEC, settings=SETTINGS,
                        cluster=ClusterTarget(client=client, task=task))
    by = {r.student: r for r in results}
    assert by["killer"].status == "error" and by["killer"].score == 0
    assert "died while grading this notebook, 2 times" in by["killer"].notes[0]
    assert by["alice"].score == SPEC.max_score and by["bob"].score == 0


def test_a_lost_scheduler_ends_the_run_and_the_next_resumes(client, klass, local, tmp_path):
    """The scheduler goes away after two results: the run stops with a clear error, those two
    are in the ledger; the same run on a cluster again grades only the rest."""
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "3s"}):
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                           dashboard_address=":0")
        first = distributed.Client(cluster)
    told = []

    def on_result(result):
        told.append(result.student)
        if len(told) == 3:  # gina (unreadable, known at once) and two graded
            cluster.close()

    subs = [s for s in klass if s.student in ("alice", "bob", "carol", "honest0", "gina")]
    with pytest.raises(GraderError, match="run the same command again"):
        grade_all(subs, SPEC, settings=SETTINGS, ledger=Ledger(tmp_path / "ledger.jsonl"),
                  on_result=on_result, cluster=ClusterTarget(client=first))
    first.close()
    assert len(_ledger_keys(tmp_path / "ledger.jsonl")) == 3
    again = grade_all(subs, SPEC, settings=SETTINGS, ledger=Ledger(tmp_path / "ledger.jsonl"),
                      cluster=ClusterTarget(client=client))
    assert sorted(r.student for r in again if r.skipped) == sorted(told[:3])
    _same({r.student: r for r in again}, {s.student: local[s.student] for s in subs})
    assert len(_ledger_keys(tmp_path / "ledger.jsonl")) == len(subs)


def test_the_command_line_grades_on_a_scheduler(client, klass, local, tmp_path):
    """`autograder grade ... --scheduler tcp://...`: the same report as the local pool."""
    folder = tmp_path / "subs"
    for s in klass:
        if s.student in ("alice", "carol"):
            write_notebook(json.loads(s.path.read_text()), folder / f"{s.student}.ipynb")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(folder),
                           "--assignment", A, "--scheduler", client.scheduler.address,
                           "--format", "json"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "on the Dask cluster at tcp://" in proc.stderr
    scores = {s["student"]: s["score"] for s in json.loads(proc.stdout)["submissions"]}
    assert scores == {"alice": local["alice"].score, "carol": local["carol"].score}


def test_the_command_line_starts_a_local_cluster(klass, local, tmp_path):
    """`--cluster local`: a LocalCluster started and stopped by the command (one notebook,
    one worker process)."""
    carol = next(s for s in klass if s.student == "carol")
    nb = write_notebook(json.loads(carol.path.read_text()), tmp_path / "carol.ipynb")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(nb),
                           "--assignment", A, "--cluster", "local", "--out", str(tmp_path / "o"),
                           "--format", "json"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "on a local Dask cluster" in proc.stderr
    assert json.loads(proc.stdout)["submissions"][0]["score"] == local["carol"].score


def test_an_unreachable_scheduler_is_a_clear_message(tmp_path):
    nb = write_notebook(filled_notebook(A), tmp_path / "a.ipynb")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(nb),
                           "--assignment", A, "--scheduler", "tcp://127.0.0.1:9"],
                          capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="2s"))
    assert proc.returncode == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_without_the_cluster_extra_the_command_says_what_to_install(tmp_path):
    nb = write_notebook(filled_notebook(A), tmp_path / "a.ipynb")
    code = ("import sys; sys.modules['distributed'] = None\n"
            "from autograder.cli import main\n"
            f"sys.exit(main(['grade', {str(nb)!r}, '--assignment', {A!r}, '--cluster', "
            "'local']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "pip install" in proc.stderr and "[cluster]" in proc.stderr


def test_the_course_is_shipped_as_bytes_into_a_private_folder(tmp_path):
    """What a worker writes: the reference notebook, a course's own checks, never a path that
    leaves the folder; and what it removes once its judge has loaded them."""
    course = Course.find(ROOT)
    bundle = course_bundle(course, A)
    assert bundle["solution"] == course.solution_notebook(A).read_bytes()
    bundle["files"] = {"mychecks.py": b"X = 1\n", "../escape.py": b"no"}
    bundle["manifest"] = True
    folder = tmp_path / "w"
    folder.mkdir(mode=0o700)
    shipped = materialise(bundle, folder)
    assert shipped.solution_notebook(A).read_bytes() == bundle["solution"]
    assert (folder / "mychecks.py").read_bytes() == b"X = 1\n"
    assert not (tmp_path / "escape.py").exists()
    assert Course.load(shipped.manifest).checks == course.checks
    erase(bundle, folder)  # once the judge has loaded them
    assert not shipped.solution_notebook(A).exists() and not (folder / "mychecks.py").exists()

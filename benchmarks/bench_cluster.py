"""Grading on Dask distributed against the local pool, on the same machine and the same class.

    .venv/bin/python benchmarks/bench_cluster.py [--students 300] [--assignment 03_backprop]
                                                 [--jobs 2] [--workers 4]

Generates a class as bench_grade.py does, then grades it three times with the library
(``grade_all``; no gradebook, so the comparison is of the grading paths alone):

1. the local pool, ``--jobs`` workers;
2. a ``LocalCluster`` of ``--jobs`` worker processes (one thread each): its start-up is timed
   apart, and the overhead of the distributed path per submission is (2 - 1) / students;
3. a "many-machine" run: a ``LocalCluster`` of ``--workers`` processes, one of them SIGKILLed
   once half of the class is graded; every score must equal the local pool's and every
   submission be told once.

Then it projects the time for 80,000 notebooks on N machines from the measured rate per worker
process: a projection, not a measurement (it assumes the rate per core holds, the scheduler
keeps up and the driver records fast enough). Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.grading.cluster import ClusterTarget  # noqa: E402
from autograder.grading.pool import grade_all  # noqa: E402
from autograder.grading.submissions import Submission  # noqa: E402
from autograder.spec import get_assignment  # noqa: E402
from benchmarks.bench_grade import make_class  # noqa: E402
from tests.conftest import write_notebook  # noqa: E402


def _scores(results) -> dict:
    return {r.student: (str(r.status), r.score) for r in results}


def _cluster(n: int):
    import distributed

    started = time.monotonic()
    cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    client = distributed.Client(cluster)
    return cluster, client, time.monotonic() - started


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    try:
        return bench(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench(tmp: Path) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--students", type=int, default=300)
    p.add_argument("--assignment", default="03_backprop")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    spec = get_assignment(args.assignment)
    subs = [Submission(name, write_notebook(nb, tmp / name / f"{spec.name}.ipynb"))
            for name, (nb, _) in make_class(spec.name, args.students, args.seed).items()]
    n = len(subs)
    print(f"{n} students of {spec.name}; {os.cpu_count()} cores", flush=True)

    t0 = time.monotonic()
    local = _scores(grade_all(subs, spec, jobs=args.jobs))
    t_local = time.monotonic() - t0
    print(f"local pool, {args.jobs} workers: {t_local:.1f} s ({60 * n / t_local:.0f}/min)",
          flush=True)

    cluster, client, t_start = _cluster(args.jobs)
    try:
        t0 = time.monotonic()
        dask = _scores(grade_all(subs, spec, cluster=ClusterTarget(client=client)))
        t_dask = time.monotonic() - t0
    finally:
        client.close()
        cluster.close()
    same = dask == local
    over = (t_dask - t_local) / n
    print(f"LocalCluster, {args.jobs} workers: start-up {t_start:.1f} s, grading {t_dask:.1f} s "
          f"({60 * n / t_dask:.0f}/min); overhead {over * 1000:+.0f} ms per submission "
          f"({100 * (t_dask - t_local) / t_local:+.1f} %); same scores: {same}", flush=True)

    cluster, client, t_start = _cluster(args.workers)
    told: list = []
    killed: list = []

    def on_result(result) -> None:
        told.append(result.student)
        if len(told) >= n // 2 and not killed:
            pids = client.run(os.getpid)
            busy = [w for w, keys in client.processing().items() if keys and w in pids]
            victim = (busy or list(pids))[0]
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(victim)

    try:
        t0 = time.monotonic()
        many = _scores(grade_all(subs, spec, cluster=ClusterTarget(client=client),
                                 on_result=on_result))
        t_many = time.monotonic() - t0
    finally:
        client.close()
        cluster.close()
    once = sorted(told) == sorted(local)
    print(f"LocalCluster, {args.workers} workers, one SIGKILLed half-way: start-up "
          f"{t_start:.1f} s, grading {t_many:.1f} s ({60 * n / t_many:.0f}/min); same scores: "
          f"{many == local}; each told once: {once}", flush=True)

    per_worker = n / t_dask / args.jobs  # notebooks per second per worker process
    print(f"\nProjection (not a measurement) from {per_worker * 60:.0f} notebooks/min per "
          f"worker process: 80,000 notebooks on")
    for machines, cores in ((1, 2), (10, 8), (50, 8), (100, 16)):
        hours = 80_000 / (per_worker * machines * cores) / 3600
        print(f"  {machines:>4} machines x {cores:>2} cores: {hours * 60:8.1f} min")
    return 0 if same and many == local and once else 1


if __name__ == "__main__":
    sys.exit(main())

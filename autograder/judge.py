"""A grading worker: ``python -m autograder.judge CONFIG_JSON``, driven by :mod:`autograder.grading`.

At start-up it imports numpy, torch and the harness, forks its zygote (before any reference
solution is loaded, so no student process can ever find one in memory), then loads the
assignment's checks and reference. It then reads one job per line on stdin — a notebook to grade
— and writes one JSON result per line on stdout. The checks and the comparisons run here; the
student's code runs in a confined child of the zygote (:mod:`autograder.session`).
"""

from __future__ import annotations

import json
import os
import sys
import time


_PROTOCOL = None  # the real stdout, kept for results only


def _emit(record: dict) -> None:
    _PROTOCOL.write(json.dumps(record) + "\n")
    _PROTOCOL.flush()


def main(argv: list) -> int:
    global _PROTOCOL
    # Anything else printed here (e.g. by the reference notebook's cells) goes to stderr, so it
    # can never be mistaken for a result.
    _PROTOCOL = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    config = json.loads(argv[0])
    from .confine import Limits
    from .sandbox import preload, start_zygote

    preload()
    _, zygote = start_zygote()

    from .evaluate import grade_function
    from .notebook import NotebookError, read_cells
    from .reference import ReferenceUnavailable, load_reference
    from .session import RemoteBackend, Session, SessionFailed
    from .spec import HIDDEN, get_assignment

    spec = get_assignment(config["assignment"])
    tiers = tuple(config["tiers"])
    reference = None
    if HIDDEN in tiers:
        try:
            reference = load_reference(spec.name)
        except ReferenceUnavailable as exc:
            _emit({"fatal": str(exc)})
            return 3
    limits = Limits(**config["limits"])
    _emit({"ready": True})

    for line in sys.stdin:
        job = json.loads(line)
        started = time.monotonic()
        deadline = started + float(job["timeout"])
        record = {"id": job["id"], "status": "ok", "notes": [], "functions": {},
                  "isolation": [], "check_seconds": 0.0}
        try:
            cells = read_cells(job["path"])
        except NotebookError as exc:
            record.update(status="unreadable", notes=[str(exc)])
            record["seconds"] = time.monotonic() - started
            _emit(record)
            continue
        session = Session(zygote, cells, filename=os.path.basename(job["path"]),
                          hide=job["hide"], keep=job["keep"], uid=config.get("uid"),
                          limits=limits, cell_timeout=float(config["cell_timeout"]))
        backend = RemoteBackend(session)
        try:
            try:
                session.ensure()
            except SessionFailed as exc:
                record["notes"].append(str(exc) + ".")
            for gf in spec.functions:
                if time.monotonic() > deadline:
                    record["status"] = "timeout"
                    record["functions"][gf.name] = {
                        "score": 0, "max_score": sum(gf.points(t) for t in tiers),
                        "messages": [f"not graded: the time limit for the whole notebook "
                                     f"({job['timeout']:g} s) was reached.",
                                     f"To review: {gf.section}."]}
                    continue
                t0 = time.monotonic()
                result = grade_function(spec, gf, backend, reference, tiers)
                record["check_seconds"] += time.monotonic() - t0
                record["functions"][gf.name] = {"score": result.score,
                                                "max_score": result.max_score,
                                                "messages": result.messages,
                                                "passed": result.passed}
        finally:
            session.close()
        record["notes"] = list(session.notes) + record["notes"]
        record["isolation"] = session.isolation_notes
        record["restarts"] = max(0, session.starts - 1)
        if record["status"] == "ok" and session.starts > 1:
            record["status"] = "crashed"
        record["seconds"] = time.monotonic() - started
        _emit(record)
    return 0


if __name__ == "__main__":
    # One thread per worker: parallelism comes from running several workers.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    sys.exit(main(sys.argv[1:]))

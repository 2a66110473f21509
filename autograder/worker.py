"""Grade one notebook in this process; run as a child by :mod:`autograder.grading`.

    python -m autograder.worker ASSIGNMENT NOTEBOOK RESULTS_FILE TIERS

Results are appended to RESULTS_FILE as JSON lines as soon as each is known — first the notes
about cells that failed to run, then one line per graded function — so a parent that has to
kill this process (an infinite loop, a crash) still has everything finished before that.
The student's own output goes to a log file, never into the results.
"""

from __future__ import annotations

import json
import os
import sys


def _emit(results, record: dict) -> None:
    results.write(json.dumps(record) + "\n")
    results.flush()
    os.fsync(results.fileno())


def main(argv: list) -> int:
    assignment_name, notebook, results_path, tiers = argv[0], argv[1], argv[2], argv[3]
    tiers = tuple(t for t in tiers.split(",") if t)
    log_path = results_path + ".log"
    with open(results_path, "a", encoding="utf-8") as results:
        # Everything the notebook prints, at the file-descriptor level, goes to the log.
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        os.environ.setdefault("MPLBACKEND", "Agg")

        from .evaluate import grade_function
        from .notebook import NotebookError, read_cells, run_cells
        from .reference import ReferenceUnavailable, load_reference
        from .spec import HIDDEN, get_assignment

        spec = get_assignment(assignment_name)
        try:
            cells = read_cells(notebook)
        except NotebookError as exc:
            _emit(results, {"kind": "unreadable", "message": str(exc)})
            return 0
        reference = None
        if HIDDEN in tiers:
            try:
                reference = load_reference(assignment_name)
            except ReferenceUnavailable as exc:
                _emit(results, {"kind": "fatal", "message": str(exc)})
                return 3
        namespace, log = run_cells(cells, filename=os.path.basename(notebook))
        _emit(results, {"kind": "notes", "notes": log.notes})
        for gf in spec.functions:
            _emit(results, {"kind": "started", "name": gf.name})
            result = grade_function(spec, gf, namespace, reference, tiers)
            _emit(results, {"kind": "function", **result.to_json()})
        _emit(results, {"kind": "done"})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

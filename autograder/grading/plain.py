"""``python -m autograder.grading.plain NOTEBOOK ASSIGNMENT``: public checks without a sandbox.

What ``autograder check`` runs on a student's laptop where the Linux sandbox is not available
(macOS, Windows): the notebook's cells and the public checks in this one ordinary process —
students have nothing to hide from themselves. Prints JSON lines: ``{"checking": NAME}`` before
each function, ``{"function": RESULT}`` after it, and last the whole record (the functions'
results and notes about cells that failed).
"""

from __future__ import annotations

import json
import os
import sys
import types


def main(argv: list) -> int:
    notebook, name = argv[0], argv[1]
    from ..course import Course

    course = Course.from_json(json.loads(argv[2])) if len(argv) > 2 else Course.find(notebook)
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # whatever the notebook prints must not corrupt the result line
    os.environ.setdefault("MPLBACKEND", "Agg")
    from ..evaluate import grade_function
    from ..notebook import NoIPython, NotebookError, read_cells, run_cells
    from ..spec import PUBLIC, get_assignment

    spec = get_assignment(name, course)
    try:
        cells = read_cells(notebook)
    except NotebookError as exc:
        real_stdout.write(json.dumps({"status": "unreadable", "notes": [str(exc)]}) + "\n")
        return 0
    module = types.ModuleType("__main__")
    module.__dict__["get_ipython"] = lambda: NoIPython()
    sys.modules["__main__"] = module
    _, log = run_cells(cells, module.__dict__, filename=os.path.basename(notebook))

    def emit(event: dict) -> None:
        real_stdout.write(json.dumps(event) + "\n")
        real_stdout.flush()

    functions = {}
    book = course.book(local_first=True)  # the student's own build of the book, if any
    for gf in spec.functions:
        # each function as it is checked: the command prints it at once
        emit({"checking": gf.name})
        functions[gf.name] = grade_function(spec, gf, module.__dict__, None, (PUBLIC,),
                                            book).to_json()
        emit({"function": functions[gf.name]})
    emit({"status": "ok", "notes": log.notes, "functions": functions})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The student's ``autograder check``: which assignment a notebook is, and its public checks run
with a word after each function (in the sandbox on Linux, in a plain subprocess elsewhere).

Results arrive one function at a time, through ``on_start(name)`` before a function is checked
and ``on_result(FunctionResult)`` after, so a student sees which function is running (an
infinite loop is not silence) and each verdict as soon as it is known.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from ..course import Course
from ..results import FunctionResult
from ..spec import PUBLIC, Assignment, assignment_names

OnStart = Callable[[str], None]
OnResult = Callable[[FunctionResult], None]

# The notebook-level metadata key `autograder release` writes: {"assignment": NAME}.
METADATA_KEY = "autograder"
# The call every public test cell makes: public_tests("03_backprop", "relu_forward", ...).
_TEST_CALL = re.compile(r"""\b(?:public|hidden)_tests\(\s*["']([^"'\\]{1,100})["']""")


class UnknownAssignment(Exception):
    """A notebook whose assignment cannot be told; the message says what to do."""


def assignment_of(notebook: Path, course: Course) -> str:
    """The assignment a student's notebook belongs to, whatever its file is called (Jupyter's
    ``03_backprop-Copy1.ipynb``): the notebook's ``autograder`` metadata, else the assignment
    its public test cells name, else the file name; :class:`UnknownAssignment` otherwise."""
    names = assignment_names(course)
    for found in _named_in(notebook):
        if found in names:
            return found
    if notebook.stem in names:
        return notebook.stem
    raise UnknownAssignment(
        f"cannot tell which assignment {notebook.name} is (neither its metadata, its test "
        f"cells nor its name say); pass --assignment (one of: {', '.join(names)}).")


def _named_in(notebook: Path) -> list:
    """Assignment names the notebook itself gives, most trusted first (nothing if it cannot be
    read: the checks then say why)."""
    from ..notebook import read_regular_file

    try:
        nb = json.loads(read_regular_file(notebook).decode("utf-8", "replace"))
    except (OSError, ValueError, RecursionError):
        return []
    if not isinstance(nb, dict):
        return []
    found = []
    meta = nb.get("metadata")
    tagged = meta.get(METADATA_KEY) if isinstance(meta, dict) else None
    if isinstance(tagged, dict) and isinstance(tagged.get("assignment"), str):
        found.append(tagged["assignment"])
    for cell in nb.get("cells") if isinstance(nb.get("cells"), list) else []:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            if isinstance(source, list):
                source = "".join(s for s in source if isinstance(s, str))
            if isinstance(source, str):
                found += _TEST_CALL.findall(source)
    return found


def notebooks_in(folder: Path) -> list:
    """The notebooks directly in ``folder``, sorted (Jupyter's checkpoints are not work)."""
    return sorted(p for p in folder.glob("*.ipynb")
                  if p.is_file() and not p.name.startswith("."))


# ---------------------------------------------------------------------------------------------
# Running the public checks


def plain_by_default() -> bool:
    """Whether the checks run in a plain subprocess unless told otherwise: where the sandbox's
    fork server cannot run (not Linux, or isolation switched off)."""
    return (not sys.platform.startswith("linux")
            or os.environ.get("AUTOGRADER_ISOLATION") == "none")


def _noop(*_args) -> None:
    pass


class Sandbox:
    """A zygote started for one notebook, as early as possible: before the checks are imported
    (its imports in the sandbox and theirs here overlap). Nothing here imports numpy. ``close``
    it when done; :func:`sandboxed` does."""

    def __init__(self, notebook: Path) -> None:
        from ..notebook import NotebookError, read_cells
        from ..sandbox.forkserver import ForkServer, Zygote
        from ..sandbox.probe_cache import cached_detect
        from ..sandbox.zygote import heavy_packages

        self.notebook = Path(notebook)
        self.unreadable = ""  # why the notebook cannot be read (then nothing is started)
        self.failed = ""  # why the zygote could not even be started
        self.remembered = False  # the isolation mode came from the probe cache
        self.server = self.zygote = None
        try:
            self.cells = read_cells(self.notebook)
        except NotebookError as exc:
            self.unreadable = str(exc)
            return
        self.iso, self.remembered = cached_detect()
        try:
            self.server = ForkServer(self.iso, heavy_packages([c.source for c in self.cells]))
        except OSError as exc:  # e.g. a remembered bwrap that is gone
            self.failed = f"cannot start {self.iso.bwrap or 'Python'}: {exc.strerror or exc}"
            return
        self.zygote = Zygote(self.server.connect(0))

    def close(self) -> None:
        if self.zygote is not None:
            self.zygote.close()
        if self.server is not None:
            self.server.close()
        self.server = self.zygote = None


def sandboxed(notebook: Path, spec: Assignment, *, timeout: float, course: Course,
              on_start: OnStart | None = None, on_result: OnResult | None = None,
              sandbox: Sandbox | None = None) -> dict:
    """A worker's record for the public checks of one notebook, its cells run by a confined
    student process (:mod:`autograder.sandbox`); ``sandbox``: one started for it already.
    The checks run here, in the student's own command: there is nothing to hide from the
    student, and no worker process to start.

    What makes it quick: the zygote starts first, its isolation mode remembered from an earlier
    probe (:mod:`autograder.sandbox.probe_cache`), importing only the slow packages the
    notebook imports; and the packages the public checks use (torch, unless its answers are
    stored: ``Assignment.public_imports``) are imported in a thread while the cells run (this
    process runs no student code, so their CPU time is nobody's limit)."""
    from ..sandbox.forkserver import GraderFault
    from ..sandbox.probe_cache import forget
    from .pool import GraderError

    sandbox = sandbox or Sandbox(notebook)
    if sandbox.unreadable:
        return {"status": "unreadable", "notes": [sandbox.unreadable], "functions": {}}
    prefetch = threading.Thread(target=_import_quietly, args=(spec.imports_for((PUBLIC,)),),
                                daemon=True)
    prefetch.start()
    started = []

    def starting(name: str) -> None:
        started.append(name)
        if on_start:
            on_start(name)
        prefetch.join()  # the checks begin: torch is whole before any of them uses it

    try:
        try:
            return _run(sandbox, spec, course, timeout, starting, on_result)
        except GraderFault:
            if not sandbox.remembered or started:
                raise
            # the remembered mode no longer works here (bwrap changed): probe again, once
            sandbox.close()
            forget()
            sandbox = Sandbox(notebook)
            return _run(sandbox, spec, course, timeout, starting, on_result)
    except GraderFault as exc:
        raise GraderError(f"the sandbox could not run the checks ({exc}); "
                          f"`autograder check --plain` runs them without it") from None
    finally:
        sandbox.close()


def _import_quietly(modules: tuple) -> None:
    """What the checks import (not sympy: torch imports it only inside a student's timed call,
    and here no student code runs)."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the check that needs it says what is missing
            pass


def _run(sandbox: Sandbox, spec: Assignment, course: Course, timeout: float,
         on_start: OnStart, on_result: OnResult | None) -> dict:
    from ..sandbox.confine import Limits
    from ..sandbox.forkserver import GraderFault
    from ..timing import CELL_CPU
    from .judge import grade_job

    if sandbox.failed:
        raise GraderFault(sandbox.failed)
    sandbox.zygote.wait_ready()
    job = {"id": 0, "path": str(sandbox.notebook.absolute()), "timeout": timeout}
    return grade_job(job, spec, (PUBLIC,), None, sandbox.zygote, Limits(), CELL_CPU,
                     on_start=on_start, on_result=on_result,
                     book=course.book(local_first=True))  # the student's own build first


def plain(notebook: Path, spec: Assignment, course: Course, *, timeout: float,
          on_start: OnStart | None = None, on_result: OnResult | None = None) -> dict:
    """The same record from an ordinary subprocess (:mod:`autograder.grading.plain`), read line
    by line as it reports each function; after ``timeout`` seconds it is stopped, keeping the
    functions already checked."""
    on_start, on_result = on_start or _noop, on_result or _noop
    cmd = [sys.executable, "-m", "autograder.grading.plain", str(notebook), spec.name,
           json.dumps(course.to_json())]
    functions: dict = {}
    final = None
    with tempfile.TemporaryFile() as errors:
        # What the notebook prints goes to stderr; a file never fills up and blocks it.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors,
                                stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        buffer = b""
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while final is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if not sel.select(timeout=left):
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    final = _event(line, functions, on_start, on_result) or final
        proc.kill()
        proc.wait()
        proc.stdout.close()
    if final is not None:
        return final
    if time.monotonic() >= deadline:
        return {"status": "timeout", "functions": functions,
                "notes": [f"checking stopped after {timeout:g} s."]}
    return {"status": "crashed", "functions": functions,
            "notes": ["the notebook ended the Python process running the checks."]}


def _event(line: bytes, functions: dict, on_start: OnStart, on_result: OnResult) -> dict | None:
    """Handle one line from the plain subprocess; the final record when it is the last."""
    try:
        event = json.loads(line.decode("utf-8", "replace"))
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    if isinstance(event.get("checking"), str):
        on_start(event["checking"])
    elif isinstance(event.get("function"), dict):
        data = event["function"]
        functions[data.get("name")] = data
        on_result(FunctionResult.from_json(data))
    elif "status" in event:
        return event
    return None

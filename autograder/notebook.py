"""Read a notebook and run its code cells into a namespace, surviving whatever the cells do.

Grading does not need a Jupyter kernel: the code cells that define things are executed with
``exec`` in a fresh namespace, one cell at a time, each under a time limit. A cell that raises,
loops or calls ``sys.exit`` is recorded and skipped, and the next cell still runs, so a student
loses only what really fails. nbgrader test cells are skipped: the grader runs its own checks.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from .timing import CELL_CPU, Expired, cpu_seconds, limit, wall_backstop

CELL_TIMEOUT = CELL_CPU  # seconds of CPU time per cell, with a wall-clock backstop


class NotebookError(Exception):
    """The file is not a readable notebook. The message is meant for the student."""


@dataclass
class CodeCell:
    index: int  # position among all cells, 1-based as Jupyter users count
    source: str
    grade_id: str | None
    is_test: bool  # an nbgrader autograder-test cell
    is_solution: bool


@dataclass
class RunLog:
    """What went wrong while the cells ran: one plain-data entry per cell that failed."""

    entries: list = field(default_factory=list)  # {"cell", "grade_id", "text", "module"}
    seconds: float = 0.0  # spent executing the cells' code
    # The notebook's CPU budget ran out: a cell was stopped at the budget, or not run. Said
    # here rather than recomputed from CPU times, whose clocks tick at different rates.
    budget_spent: bool = False

    def add(self, cell: CodeCell, text: str, module: str | None = None,
            timed_out: bool = False) -> None:
        self.entries.append({"cell": cell.index, "grade_id": cell.grade_id, "text": text,
                             "module": module, "timed_out": timed_out})

    @property
    def notes(self) -> list:
        return [note_text(e) for e in self.entries]


def note_text(entry: dict) -> str:
    """``cell 5 (entropy): raised ...`` for one :class:`RunLog` entry."""
    gid = entry.get("grade_id")
    where = f"cell {entry.get('cell')}" + (f" ({gid})" if gid else "")
    return f"{where}: {entry.get('text')}"


MAX_NOTEBOOK_BYTES = 64 * 2**20


def read_regular_file(path: Path, limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The bytes of a regular file, refusing symbolic links (the last component) and anything
    that is not a regular file or is larger than ``limit``: a submission is read as the instructor,
    so it must be the file itself, never a link to something the student may not read."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if os.path.islink(path):
            raise OSError(exc.errno, "it is a symbolic link, not the notebook file itself") \
                from None
        raise
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        import stat

        if not stat.S_ISREG(st.st_mode):
            raise OSError(0, "it is not a regular file")
        if st.st_size > limit:
            raise OSError(0, f"it is larger than {limit // 2**20} MiB")
        return fh.read(limit + 1)[:limit]


def read_cells(path: str | os.PathLike) -> list:
    """The code cells of a notebook, or :class:`NotebookError` with a readable reason."""
    path = Path(path)
    try:
        raw = read_regular_file(path)
    except OSError as exc:
        raise NotebookError(f"cannot read {_name(path)}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # A stray byte inside a string costs only that character (U+FFFD); a file that is not
        # text at all still fails to parse below, and is then reported as not UTF-8.
        text = raw.decode("utf-8", "replace")
        if not text.lstrip("\ufeff \t\r\n").startswith("{"):
            raise NotebookError(f"{_name(path)} is not UTF-8 text, so it is not a notebook "
                                f"file. Save it again from Jupyter.") from None
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"{_name(path)} is not valid notebook JSON (line {exc.lineno}: "
                            f"{exc.msg}). It was probably edited outside Jupyter or truncated; "
                            f"restore it from a checkpoint.") from None
    except (ValueError, RecursionError, MemoryError):
        # Valid JSON that Python refuses: an integer of more than 4300 digits (ValueError), or
        # arrays nested thousands deep (RecursionError). Jupyter never writes either.
        raise NotebookError(f"{_name(path)} cannot be read as a notebook: it holds a number "
                            f"with thousands of digits or values nested thousands deep, which "
                            f"Jupyter never writes. Restore it from a checkpoint.") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise NotebookError(f"{_name(path)} has no list of cells, so it is not a notebook.")
    out = []
    for i, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if not isinstance(source, str):
            continue
        meta = cell.get("metadata", {})
        meta = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
        meta = meta if isinstance(meta, dict) else {}
        is_solution = bool(meta.get("solution", False))
        is_test = bool(meta.get("grade", False)) and not is_solution
        grade_id = meta.get("grade_id") if isinstance(meta.get("grade_id"), str) else None
        # "\ud800" in the JSON is a lone surrogate: it could not be encoded for a message, a
        # checksum or a file. Python source cannot hold one either, so nothing is lost.
        out.append(CodeCell(i, _clean(source), grade_id and _clean(grade_id)[:200], is_test,
                            is_solution))
    return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def _name(path: Path) -> str:
    """A file name for a message: not UTF-8 bytes become U+FFFD."""
    return _clean(path.name)


def _python_source(source: str) -> str:
    """Turn IPython syntax (``%magic``, ``!shell``) into plain Python that does nothing."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython ships with the course
        return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                         for line in source.splitlines())
    return TransformerManager().transform_cell(source)


# What IPython's transformer could rewrite: a line with a magic, shell escape, help query,
# pasted prompt (``>>>``, ``...``, ``In [1]:``) or autocall escape at its start, or ``?`` at its
# end; a line of only whitespace (emptied, even inside a string); a character other than \n
# that str.splitlines breaks lines at (the transformer splits there, Python does not).
_IPYTHON_LINE = re.compile(r"^[ \t]*(?:[%!?/;,]|>>>|\.\.\.|In \[)|\?[ \t]*$|^[^\S\n]+$"
                           r"|[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]", re.M)


def compile_cell(source: str, filename: str):
    """A cell's code object, compiled as Jupyter would run it. IPython's transformer takes ten
    times as long as compiling, so a cell that has no line it could rewrite and is valid Python
    as it stands (the transformer would return it unchanged) is compiled directly."""
    if not _IPYTHON_LINE.search(source) and not source[:1].isspace():
        try:
            return compile(source, filename, "exec")
        except SyntaxError:
            pass
    return compile(_python_source(source), filename, "exec")


class NoIPython:
    """Stands in for ``get_ipython()`` so transformed magics run as no-ops."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def run_cells(cells: list, namespace: dict | None = None, *, skip_tests: bool = True,
              timeout: float = CELL_TIMEOUT, filename: str = "notebook",
              skip: dict | None = None, before_cell=None, budget: float | None = None) -> tuple:
    """Execute code cells in order into ``namespace``; return ``(namespace, RunLog)``.

    ``timeout`` is each cell's CPU time (with a wall-clock backstop); ``budget``, if given, the
    CPU time (:func:`autograder.timing.cpu_seconds`) past which no further cell runs (the whole
    notebook's limit). ``skip`` maps cell indices to the reason they must not run (e.g. they
    killed the process on an earlier attempt); ``before_cell(cell)`` is called just before a
    cell runs.
    """
    ns = {"__name__": "__main__", "get_ipython": lambda: NoIPython()} if namespace is None \
        else namespace
    log = RunLog()
    for cell in cells:
        if skip_tests and cell.is_test:
            continue
        if skip and cell.index in skip:
            log.add(cell, skip[cell.index])
            continue
        cell_cpu = timeout
        if budget is not None:
            left = budget - cpu_seconds()
            if left <= 0:
                log.add(cell, "was not run: the notebook had used up its CPU time.")
                log.budget_spent = True
                continue
            cell_cpu = min(timeout, left)
        if before_cell is not None:
            before_cell(cell)
        try:
            code = compile_cell(cell.source, f"<{filename} cell {cell.index}>")
        except SyntaxError as exc:
            log.add(cell, f"SyntaxError on line {exc.lineno}: {exc.msg}; nothing in this cell "
                          f"was defined.")
            continue
        except Exception as exc:  # noqa: BLE001 - e.g. ValueError for null bytes
            log.add(cell, f"cannot be compiled ({type(exc).__name__}: {exc}).")
            continue
        started = time.perf_counter()
        try:
            with limit(cell_cpu, wall_backstop(timeout)) as lim:
                exec(code, ns)  # noqa: S102 - running the notebook is the point
        except Expired as exc:
            if exc.limit is not lim:
                raise
            log.add(cell, f"{lim.describe()} and was stopped.", timed_out=True)
            log.budget_spent = log.budget_spent or cell_cpu < timeout
        except SystemExit:
            log.add(cell, "called sys.exit()/exit(); the rest of the cell was skipped.")
        except KeyboardInterrupt:
            log.add(cell, "was interrupted.")
        except ImportError as exc:
            log.add(cell, f"raised {type(exc).__name__}: {str(exc)[:200]}",
                    module=getattr(exc, "name", None))
        except Exception as exc:  # noqa: BLE001
            log.add(cell, f"raised {type(exc).__name__}: {str(exc)[:200]}")
        finally:
            log.seconds += time.perf_counter() - started
    return ns, log

"""Stored results of the grader's own oracles (e.g. torch computing an expected value), so that
``autograder check`` need not import torch for public checks whose inputs never change.

A public check's inputs are fixed (literals, or a generator seeded per check), so what an
oracle answers for them can be computed once and shipped. Decorate the oracle with
:func:`memoised`; its answers are then looked up in ``<module>.memo.json``, next to the module
that defines it, keyed by the oracle's name and a hash of the exact arguments (array bytes,
dtypes and shapes). Any other call (a hidden check's random inputs, a table not regenerated
after a check changed) runs the oracle itself, so a stale table costs time, never a verdict.

The tables are written by running every public check of an assignment against its reference
solution with the oracles recording::

    python -m autograder.memo 06_attention     # from the course's folder

``tests/test_properties_NN.py`` (``assert_stored_answers_are_current`` in tests/test_memo.py)
requires a shipped table to hold exactly the calls that makes, each answer equal to the
oracle's own now. Stored are only answers the public checks' messages may show anyway (their
expected values): nothing a student could not see.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import io
import json
import struct
import sys
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

SUFFIX = ".memo.json"
_TABLES: dict = {}  # table path -> {key: encoded answer}, loaded on first use
_RECORDING: dict | None = None  # table path -> {key: encoded answer} while recording


class Unkeyable(Exception):
    """An argument this memo cannot hash (the oracle then simply runs)."""


def table_path(fn) -> Path:
    """The table of the module that defines ``fn``."""
    module = Path(inspect.getfile(inspect.unwrap(fn)))
    return module.with_name(module.stem + SUFFIX)


def memoised(fn):
    """``fn``'s stored answer for these exact arguments if there is one, else ``fn``'s own
    (see the module doc). Each hit returns fresh arrays: a check may modify what it gets."""
    name = fn.__qualname__

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            key = _key(name, args, kwargs)
        except Unkeyable:
            return fn(*args, **kwargs)
        path = table_path(fn)
        if _RECORDING is not None:
            result = fn(*args, **kwargs)
            _RECORDING.setdefault(path, {})[key] = _encode(result)
            return result
        stored = _table(path).get(key)
        return fn(*args, **kwargs) if stored is None else _decode(stored)

    return wrapper


def _read(path: Path) -> dict:
    """A table file: {assignment: {key: answer}} (a module's oracles may serve several)."""
    try:
        sections = json.loads(path.read_text(encoding="utf-8"))["answers"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # no table (or a broken one): every call runs the oracle
    return sections if isinstance(sections, dict) else {}


def _table(path: Path) -> dict:
    if path not in _TABLES:
        _TABLES[path] = {key: answer for section in _read(path).values()
                         if isinstance(section, dict) for key, answer in section.items()}
    return _TABLES[path]


# ---------------------------------------------------------------------------------------------
# Keys: a hash of the oracle's name and of every argument, exactly


def _key(name: str, args: tuple, kwargs: dict) -> str:
    h = hashlib.sha256(name.encode())
    _feed(h, args)
    _feed(h, dict(kwargs))
    return h.hexdigest()


def _feed(h, obj) -> None:
    import numpy as np

    if obj is None:
        h.update(b"N")
    elif isinstance(obj, (bool, np.bool_)):
        h.update(b"B1" if obj else b"B0")
    elif isinstance(obj, (int, np.integer)):
        h.update(b"I%d;" % int(obj))
    elif isinstance(obj, (float, np.floating)):
        h.update(b"F" + struct.pack("<d", float(obj)))
    elif isinstance(obj, str):
        h.update(b"S%d;" % len(obj.encode()) + obj.encode())
    elif isinstance(obj, np.ndarray) and obj.dtype.kind in "biuf":
        h.update(b"A" + obj.dtype.str.encode() + repr(obj.shape).encode())
        h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, (tuple, list)):
        h.update(b"T%d;" % len(obj))
        for item in obj:
            _feed(h, item)
    elif isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
        h.update(b"D%d;" % len(obj))
        for k in sorted(obj):
            _feed(h, k)
            _feed(h, obj[k])
    else:
        raise Unkeyable(type(obj).__name__)


# ---------------------------------------------------------------------------------------------
# Answers as JSON (floats written with repr, which reads back bit for bit)


def _encode(obj):
    import numpy as np

    if isinstance(obj, np.ndarray):
        return {"dtype": obj.dtype.str, "shape": list(obj.shape), "data": obj.ravel().tolist()}
    if isinstance(obj, (tuple, list)):
        return {"tuple" if isinstance(obj, tuple) else "list": [_encode(x) for x in obj]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot store a {type(obj).__name__} in a memo table")


def _decode(obj):
    import numpy as np

    if isinstance(obj, dict):
        if "dtype" in obj:
            return np.array(obj["data"], dtype=np.dtype(obj["dtype"])).reshape(obj["shape"])
        if "tuple" in obj:
            return tuple(_decode(x) for x in obj["tuple"])
        return [_decode(x) for x in obj["list"]]
    return obj


# ---------------------------------------------------------------------------------------------
# Writing the tables


@contextmanager
def recording():
    """Run every memoised oracle and collect its answers: {table path: {key: answer}}."""
    global _RECORDING
    saved, _RECORDING = _RECORDING, {}
    try:
        yield _RECORDING
    finally:
        _RECORDING = saved


def collect(assignment: str, course=None) -> dict:
    """{table path: {key: answer}}: what the oracles answer, computed now, to the public checks
    of ``assignment`` run against its reference solution."""
    from .evaluate import run_tier
    from .reference import load_reference
    from .spec import PUBLIC, get_assignment

    spec = get_assignment(assignment, course)
    with redirect_stdout(io.StringIO()):  # what the notebook prints is not this command's
        reference = load_reference(assignment, course)
    spec.import_modules()
    with recording() as tables:
        for gf in spec.functions:
            outcome = run_tier(spec, gf, PUBLIC, dict(reference), reference)
            if outcome.failures:  # then not every oracle call of the checks was made
                raise RuntimeError(f"the reference fails the public checks of {gf.name}: "
                                   f"{outcome.failures[0].render()}")
    if not tables:
        raise RuntimeError(f"the public checks of {assignment} call no @memoised oracle")
    return tables


def record(assignment: str, course=None) -> list:
    """Write the tables of the modules whose oracles the public checks of ``assignment`` call
    (:func:`collect`), keeping other assignments' answers; the paths written."""
    written = []
    for path, answers in sorted(collect(assignment, course).items()):
        sections = _read(path)
        sections[assignment] = answers
        _write(path, sections)
        _TABLES.pop(path, None)
        written.append(path)
    return written


def _write(path: Path, sections: dict) -> None:
    """One answer a line, sorted: a regenerated table differs only where answers changed."""
    lines = []
    for name in sorted(sections):
        entries = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}"
                             for k, v in sorted(sections[name].items()))
        lines.append(f"  {json.dumps(name)}: {{\n{entries}\n  }}")
    about = ("stored answers of the oracles of the public checks; regenerate with "
             "`python -m autograder.memo ASSIGNMENT` (autograder/memo.py)")
    path.write_text(f'{{"about": {json.dumps(about)},\n"answers": {{\n'
                    + ",\n".join(lines) + "\n}}\n", encoding="utf-8")


def main(argv: list) -> int:
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python -m autograder.memo ASSIGNMENT  (from the course's folder)",
              file=sys.stderr)
        return 2
    from .course import Course
    from .reference import ReferenceUnavailable

    try:
        paths = record(argv[0], Course.find())
    except (KeyError, ReferenceUnavailable, RuntimeError) as exc:
        print(f"autograder.memo: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    # The checks import `autograder.memo`, not this `__main__`: record with that module.
    from autograder.memo import main as _main

    sys.exit(_main(sys.argv[1:]))

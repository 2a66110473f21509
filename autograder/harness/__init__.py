"""Code that runs *inside* the student's process on behalf of a check.

Checks never touch student objects directly: they go through ``Context.call`` (call a student
function with plain data) and ``Context.run`` (run a named *program* from this package with the
student's namespace). That indirection is what lets ``autograder grade`` keep the student's code
in a separate, sandboxed process while the comparison with the reference stays outside it.

Two kinds of things live here, registered by name so they can be asked for across a process
boundary with plain data only:

* **probes**: test functions handed *to* student code, e.g. the ``f`` of
  ``numerical_gradient(f, x)``. A check passes ``Probe("name", **params)``; the student process
  rebuilds the callable with :func:`build_probe`.
* **programs**: short scripts that drive student objects in ways a single call cannot, e.g.
  building an expression graph out of the student's ``Value`` class. ``ctx.run("name", *args)``
  calls ``program(namespace, *args)``; it must return plain data (arrays, numbers, tuples, lists,
  dicts, strings, None).

Assignment-specific probes and programs go in ``autograder/harness/<topic>.py`` and are listed in
``MODULES`` so that the student process imports them before any student code runs.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

PROBES: dict = {}  # name -> factory(**params) -> callable
PROGRAMS: dict = {}  # name -> program(namespace, *args) -> plain data

# Imported (so their registrations happen) before student code runs. A new topic adds a line.
MODULES = ("autograder.harness.common", "autograder.harness.matrix_calculus",
           "autograder.harness.backprop", "autograder.harness.rnn")


class Probe:
    """A named test function with plain-data parameters, rebuilt where it is called."""

    __slots__ = ("name", "params")

    def __init__(self, name: str, **params: Any) -> None:
        self.name = name
        self.params = params

    def __repr__(self) -> str:
        return f"Probe({self.name!r})"

    def __deepcopy__(self, memo):  # params are never modified: sharing them is safe
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Probe) and other.name == self.name and other.params is self.params

    __hash__ = object.__hash__


def probe(name: str):
    """Register ``factory(**params) -> callable`` as the probe called ``name``."""
    def deco(factory: Callable) -> Callable:
        PROBES[name] = factory
        return factory
    return deco


def program(name: str):
    """Register ``fn(namespace, *args) -> plain data`` as the program called ``name``."""
    def deco(fn: Callable) -> Callable:
        PROGRAMS[name] = fn
        return fn
    return deco


def load_all() -> None:
    for module in MODULES:
        importlib.import_module(module)


def build_probe(p: Probe) -> Callable:
    load_all()
    return PROBES[p.name](**p.params)


def resolve_probes(obj: Any) -> Any:
    """Replace every Probe inside tuples, lists and dicts by the callable it names."""
    if isinstance(obj, Probe):
        return build_probe(obj)
    if isinstance(obj, tuple):
        return tuple(resolve_probes(v) for v in obj)
    if isinstance(obj, list):
        return [resolve_probes(v) for v in obj]
    if isinstance(obj, dict):
        return {k: resolve_probes(v) for k, v in obj.items()}
    return obj


def get_program(name: str) -> Callable:
    load_all()
    return PROGRAMS[name]

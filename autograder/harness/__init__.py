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

Assignment-specific probes and programs go in ``autograder/harness/<topic>.py``; every module of
this package is imported (:func:`load_all`) before any student code runs. Checks refer to probes
and programs by the registered object or name; an unknown one raises :class:`AuthorError` in the
grader — the course author's mistake, never a student's failure.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

PROBES: dict = {}  # name -> factory(**params) -> callable
PROGRAMS: dict = {}  # name -> program(namespace, *args) -> plain data



class AuthorError(Exception):
    """A check refers to a probe or program that does not exist: the course author's error."""


class Probe:
    """A named test function with plain-data parameters, rebuilt where it is called.

    ``Probe(factory, **params)`` with a factory registered by :func:`probe`, or its name."""

    __slots__ = ("name", "params")

    def __init__(self, name, **params: Any) -> None:
        name = getattr(name, "probe_name", name)
        load_all()
        if name not in PROBES:
            raise AuthorError(f"no probe named {name!r} is registered in autograder.harness")
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
        factory.probe_name = name
        return factory
    return deco


def program(name: str):
    """Register ``fn(namespace, *args) -> plain data`` as the program called ``name``."""
    def deco(fn: Callable) -> Callable:
        PROGRAMS[name] = fn
        fn.program_name = name
        return fn
    return deco


_LOADED: list = []


def load_all() -> None:
    """Import every module of this package, so that all registrations have happened."""
    if _LOADED:
        return
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    _LOADED.append(True)


def program_name(program) -> str:
    """The registered name of a program given as the function or its name (else AuthorError)."""
    name = getattr(program, "program_name", program)
    load_all()
    if not isinstance(name, str) or name not in PROGRAMS:
        raise AuthorError(f"no program {program!r} is registered in autograder.harness")
    return name


def build_probe(p: Probe) -> Callable:
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


def get_program(program) -> Callable:
    return PROGRAMS[program_name(program)]

"""Code that runs *inside* the student's process on behalf of a check.

Checks never touch student objects directly: they send requests (:mod:`autograder.calls`) —
call a function, a method, an operator, read an attribute — and every verdict is made in the
grader on the plain data that comes back. What lives here, registered by name so it can be asked
for across a process boundary with plain data only, are **probes**: test functions handed *to*
student code, e.g. the ``f`` of ``numerical_gradient(f, x)``. A check passes
``Probe("name", **params)``; the student process rebuilds the callable with :func:`build_probe`.
(There are no "programs" any more: code that ran in the student's process on the grader's behalf
could be replaced by the notebook.)

Assignment-specific probes go in ``autograder/harness/<topic>.py``; every module of this package
is imported (:func:`load_all`) before any student code runs. Checks refer to probes by the
registered object or name; an unknown one raises :class:`AuthorError` in the grader — the course
author's mistake, never a student's failure.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from ..sandbox.codec import WireProbe

PROBES: dict = {}  # name -> factory(**params) -> callable



class AuthorError(Exception):
    """A check refers to a probe that does not exist, or is otherwise broken: the course
    author's error, never a student's."""


class Probe(WireProbe):
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


_LOADED: list = []


def load_all() -> None:
    """Import every module of this package, so that all registrations have happened."""
    if _LOADED:
        return
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    _LOADED.append(True)


def build_probe(p: Probe) -> Callable:
    return PROBES[p.name](**p.params)

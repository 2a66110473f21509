"""Realistic wrong implementations and correct alternatives of graded functions.

Each module here registers functions with ``@wrong(target, why)`` or ``@right(target, how)``.
The tests substitute each one for the reference implementation of ``target`` and require that
a wrong one loses points on ``target`` and only there, and that a right one earns full marks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Variant:
    target: str
    description: str
    fn: Callable
    correct: bool
    # Other graded names replaced alongside ``target``, e.g. the matching forward of a backward
    # that uses its own cache format. Only ``target`` is required to lose or keep its points.
    companions: dict = field(default_factory=dict)

    def install(self, namespace: dict) -> dict:
        """A copy of ``namespace`` with this variant (and its companions) substituted."""
        ns = dict(namespace)
        ns.update(self.companions)
        ns[self.target] = self.fn
        return ns

    @property
    def id(self) -> str:
        return f"{self.target}: {self.description}"


REGISTRY: dict = {}  # assignment -> list of Variant


def _register(assignment: str, target: str, description: str, correct: bool,
              companions: dict | None):
    def deco(fn):
        REGISTRY.setdefault(assignment, []).append(
            Variant(target, description, fn, correct, dict(companions or {})))
        return fn
    return deco


def wrong(assignment: str, target: str, description: str, companions: dict | None = None):
    return _register(assignment, target, description, False, companions)


def right(assignment: str, target: str, description: str, companions: dict | None = None):
    return _register(assignment, target, description, True, companions)


def variants(assignment: str, correct: bool) -> list:
    import importlib

    importlib.import_module(f"tests.variants.a{assignment}")
    return [v for v in REGISTRY.get(assignment, []) if v.correct == correct]

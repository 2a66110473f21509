"""Realistic wrong implementations and correct alternatives of graded functions.

Each module here registers functions with ``@wrong(target, why)`` or ``@right(target, how)``.
The tests substitute each one for the reference implementation of ``target`` and require that
a wrong one loses points on ``target`` and only there, and that a right one earns full marks.

A wrong variant that breaks a requirement of the contract every student can know about (its
``breaks``: one of :data:`REQUIREMENTS`) must fail the public checks as well as the hidden
ones (tests/test_contract.py): a student is never told "all public checks passed" and then
loses points for a rule the public checks could have shown.
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
    breaks: str = ""  # the requirement it breaks (REQUIREMENTS), if one public checks enforce

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

# Requirements of COURSE_PLAN.md that hold for every graded function or that a hidden check
# enforces: public checks must enforce them too (tests/test_contract.py).
REQUIREMENTS = ("return type", "dtype", "shape", "no input mutation", "numerical stability")


def _register(assignment: str, target: str, description: str, correct: bool,
              companions: dict | None, breaks: str = ""):
    if breaks and breaks not in REQUIREMENTS:
        raise ValueError(f"unknown requirement {breaks!r}; known: {REQUIREMENTS}")

    def deco(fn):
        REGISTRY.setdefault(assignment, []).append(
            Variant(target, description, fn, correct, dict(companions or {}), breaks))
        return fn
    return deco


def wrong(assignment: str, target: str, description: str, companions: dict | None = None,
          breaks: str = ""):
    return _register(assignment, target, description, False, companions, breaks)


def right(assignment: str, target: str, description: str, companions: dict | None = None):
    return _register(assignment, target, description, True, companions)


def variants(assignment: str, correct: bool) -> list:
    import importlib

    importlib.import_module(f"tests.variants.a{assignment}")
    return [v for v in REGISTRY.get(assignment, []) if v.correct == correct]

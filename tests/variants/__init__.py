"""Realistic wrong implementations and correct alternatives of graded functions.

Each module here registers functions with ``@wrong(target, why)`` or ``@right(target, how)``.
The tests substitute each one for the reference implementation of ``target`` and require that
a wrong one loses points on ``target`` and only there, and that a right one earns full marks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Variant:
    target: str
    description: str
    fn: Callable
    correct: bool

    @property
    def id(self) -> str:
        return f"{self.target}: {self.description}"


REGISTRY: dict = {}  # assignment -> list of Variant


def _register(assignment: str, target: str, description: str, correct: bool):
    def deco(fn):
        REGISTRY.setdefault(assignment, []).append(Variant(target, description, fn, correct))
        return fn
    return deco


def wrong(assignment: str, target: str, description: str):
    return _register(assignment, target, description, False)


def right(assignment: str, target: str, description: str):
    return _register(assignment, target, description, True)


def variants(assignment: str, correct: bool) -> list:
    import importlib

    importlib.import_module(f"tests.variants.a{assignment}")
    return [v for v in REGISTRY.get(assignment, []) if v.correct == correct]

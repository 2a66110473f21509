"""A course, as the grader sees it: where its checks, instructor notebooks and exercises live.

A course says so in ``autograder.toml`` at its root::

    [course]
    checks = ["mychecks"]      # modules or packages (importable from the root) defining
                               # `ASSIGNMENT = Assignment(...)`
    solutions = "source"       # instructor notebooks: <solutions>/<a>.ipynb or <a>/<a>.ipynb
    exercises = "release"      # where `autograder release` writes the student notebooks
    book_url = "https://..."   # the published book: where messages send a student to reread

Every command finds the course from the place it works on (the notebook, the course directory,
the working directory), by looking for ``autograder.toml`` there and in its parents, and passes
the :class:`Course` down: nothing is kept in environment variables or module globals, so one
process can grade two courses. Without a manifest the course is this package's own (the
deep-learning course whose checks ship in :mod:`autograder.assignments`).
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = "autograder.toml"
BUILTIN_CHECKS = ("autograder.assignments",)
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the repository, in a source checkout


class CourseError(ValueError):
    """The course's manifest is malformed, or its checks cannot be imported."""


@dataclass(frozen=True)
class Course:
    root: Path
    checks: tuple = BUILTIN_CHECKS
    solutions: Path | None = None  # None: no instructor notebooks (students' machines)
    exercises: Path | None = None
    manifest: Path | None = field(default=None, compare=False)
    book_url: str = ""  # the published book's address ("" if none; see :meth:`book`)

    # -- finding a course -------------------------------------------------------------------

    @classmethod
    def find(cls, start: Path | str | None = None) -> "Course":
        """The course whose ``autograder.toml`` is in ``start`` (a file or a folder; default:
        the working directory) or one of its parents; else :meth:`builtin`."""
        here = Path(start if start is not None else os.getcwd()).absolute()
        for folder in [here, *here.parents]:
            manifest = folder / MANIFEST
            try:
                if manifest.is_file():
                    return cls.load(manifest)
            except OSError:  # an unreadable folder on the way up: keep looking above it
                continue
        return cls.builtin()

    @classmethod
    def load(cls, manifest: Path | str) -> "Course":
        import tomllib

        manifest = Path(manifest).absolute()
        try:
            data = tomllib.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CourseError(f"cannot read {manifest}: {exc}") from None
        table = data.get("course", {})
        root = manifest.parent
        checks = table.get("checks", list(BUILTIN_CHECKS))
        if isinstance(checks, str):
            checks = [checks]
        if not (isinstance(checks, list) and checks and all(isinstance(c, str) for c in checks)):
            raise CourseError(f"{manifest}: [course] checks must be a list of module names")
        unknown = set(table) - {"checks", "solutions", "exercises", "book_url"}
        if unknown:
            raise CourseError(f"{manifest}: unknown key(s) in [course]: {', '.join(sorted(unknown))}"
                              " (known: checks, solutions, exercises, book_url)")
        book_url = table.get("book_url", "")
        if not (isinstance(book_url, str)
                and (not book_url or book_url.startswith(("https://", "http://", "file://")))):
            raise CourseError(f"{manifest}: [course] book_url must be the book's address, "
                              f"starting with https://, http:// or file://")

        def folder(key: str, default: str) -> Path:
            value = table.get(key, default)
            if not isinstance(value, str):
                raise CourseError(f"{manifest}: [course] {key} must be a folder name")
            return (root / value).absolute()

        return cls(root=root, checks=tuple(checks), solutions=folder("solutions", "source"),
                   exercises=folder("exercises", "release"), manifest=manifest,
                   book_url=book_url)

    @classmethod
    def builtin(cls) -> "Course":
        """This package's own course (its instructor notebooks are in ``solutions/`` of a
        source checkout)."""
        return cls(root=_PACKAGE_ROOT, solutions=_PACKAGE_ROOT / "solutions",
                   exercises=_PACKAGE_ROOT / "exercises")

    # -- what the course holds --------------------------------------------------------------

    def assignments(self) -> dict:
        """Assignment id -> :class:`autograder.spec.Assignment`, from the course's checks."""
        key = (str(self.root), self.checks)
        if key not in _FOUND:
            _FOUND[key] = self._discover()
        return _FOUND[key]

    def _discover(self) -> dict:
        from .spec import Assignment

        if self.manifest is not None and str(self.root) not in sys.path:
            # the course's own modules (its checks) import from its root, like a script's folder
            sys.path.append(str(self.root))
        found = {}
        for name in self.checks:
            try:
                module = importlib.import_module(name)
            except ImportError as exc:
                raise CourseError(f"the checks module {name!r} of the course at {self.root} "
                                  f"cannot be imported: {exc}") from None
            modules = [module]
            if hasattr(module, "__path__"):  # a package: every module in it
                modules += [importlib.import_module(f"{name}.{info.name}")
                            for info in pkgutil.iter_modules(module.__path__)]
            for m in modules:
                spec = getattr(m, "ASSIGNMENT", None)
                if isinstance(spec, Assignment):
                    if spec.name in found and found[spec.name] is not spec:
                        raise CourseError(f"two checks modules define assignment {spec.name!r}")
                    found[spec.name] = spec
        return found

    def check_files(self) -> list:
        """The source files of the course's checks outside this package (whose files the
        grader's key covers already): a change to any of them means regrading."""
        package = Path(__file__).resolve().parent
        files = set()
        for name in self.checks:
            module = sys.modules.get(name) or importlib.import_module(name)
            where = Path(getattr(module, "__file__", "") or "").resolve()
            if not where.is_file() or package in where.parents:
                continue
            files |= set(where.parent.rglob("*.py")) if hasattr(module, "__path__") else {where}
        return sorted(files)

    def solution_notebook(self, assignment: str) -> Path:
        """``<solutions>/<a>.ipynb`` (this repository) or ``<solutions>/<a>/<a>.ipynb`` (an
        nbgrader ``source/`` folder)."""
        base = self.solutions or self.root / "solutions"
        flat = base / f"{assignment}.ipynb"
        nested = base / assignment / f"{assignment}.ipynb"
        return nested if not flat.exists() and nested.exists() else flat

    def book(self, local_first: bool) -> str:
        """The address section links start from, ending in "/" ("" if there is none): the
        course's ``book_url``, or its local build (``_build/html`` at its root, as a file://
        URL) when it has been built. ``local_first``: prefer the local build (a student's
        ``check``, offline); feedback sent to students prefers the published book."""
        local = self.root / "_build" / "html"
        local = local.as_uri() if (local / "index.html").is_file() else ""
        order = (local, self.book_url) if local_first else (self.book_url, local)
        found = next((url for url in order if url), "")
        return found if not found or found.endswith("/") else found + "/"

    # -- passing it to a worker -------------------------------------------------------------

    def to_json(self) -> dict:
        return {"root": str(self.root), "checks": list(self.checks),
                "solutions": str(self.solutions) if self.solutions else None,
                "exercises": str(self.exercises) if self.exercises else None,
                "manifest": str(self.manifest) if self.manifest else None,
                "book_url": self.book_url}

    @classmethod
    def from_json(cls, data: dict) -> "Course":
        def path(key):
            return Path(data[key]) if data.get(key) else None

        return cls(root=Path(data["root"]), checks=tuple(data["checks"]),
                   solutions=path("solutions"), exercises=path("exercises"),
                   manifest=path("manifest"), book_url=data.get("book_url") or "")

    def manifest_text(self, solutions: str = "source", exercises: str = "release") -> str:
        """An ``autograder.toml`` for a course directory made from this course."""
        checks = ", ".join(f'"{c}"' for c in self.checks)
        return (f"# What `autograder` grades here (see the README, \"Grading your own course\").\n"
                f"[course]\nchecks = [{checks}]\nsolutions = \"{solutions}\"\n"
                f"exercises = \"{exercises}\"\n"
                + (f"book_url = {json.dumps(self.book_url)}\n" if self.book_url else ""))


_FOUND: dict = {}  # (root, checks) -> assignments: a cache, keyed so two courses never mix

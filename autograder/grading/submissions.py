"""Finding the submissions to grade, and who each belongs to.

Two layouts:

* an nbgrader ``submitted/`` tree: exactly ``<root>/<student>/<assignment>/<notebook>.ipynb``.
  The student is the first folder, and one notebook per student is graded: the one named after
  the assignment, or the only notebook in that folder. Anything deeper, shallower or ambiguous is
  not guessed at: it becomes a :class:`Problem` the run reports (a notebook placed at
  ``submitted/mallory/01_information/alice/...`` never counts as alice's);
* any other folder (or a single notebook): each notebook is its own submission, named by its
  path relative to the folder without ``.ipynb`` — unique by construction.

Symbolic links are never followed: a submission must be the notebook file itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Submission:
    student: str
    path: Path
    problem: str = ""  # why it cannot be graded ("" if it can)


def _links_between(root: Path, path: Path) -> str:
    """The first symbolic link on the way from ``root`` down to ``path`` ('' if none)."""
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            return str(current.relative_to(root))
    return ""


def _walk(root: Path) -> list:
    """Every ``*.ipynb`` under ``root``, without following directory links."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d != ".ipynb_checkpoints")
        found += [Path(dirpath) / f for f in sorted(filenames) if f.endswith(".ipynb")]
    return found


def is_nbgrader_tree(root: Path, assignment: str) -> bool:
    """Whether ``root`` looks like an nbgrader ``submitted/`` folder for ``assignment``."""
    return any((d / assignment).is_dir() for d in root.iterdir() if d.is_dir()) \
        if root.is_dir() else False


def find_submissions(root: str | os.PathLike, assignment: str) -> tuple:
    """``(submissions, ignored)`` for a notebook, a folder, or an nbgrader ``submitted/`` tree;
    ``ignored`` lists ``(path, why)`` for notebooks that are not graded."""
    root = Path(root)
    if root.is_symlink():
        raise FileNotFoundError(f"{root} is a symbolic link; give the folder itself")
    if root.is_file():
        return [Submission(root.stem, root)], []
    if not root.is_dir():
        raise FileNotFoundError(f"no such notebook or folder: {root}")
    notebooks = _walk(root)
    if (root / assignment).is_dir() and not is_nbgrader_tree(root, assignment):
        # One student's folder, <student>/<assignment>/<notebook>.ipynb: graded as that student.
        mine = [nb for nb in notebooks if nb.parent == root / assignment]
        ignored = [(nb, f"not in {assignment}/") for nb in notebooks if nb not in mine]
        return _choose(root.parent, root.name, mine, assignment, ignored), ignored
    if not is_nbgrader_tree(root, assignment):
        subs = []
        for nb in notebooks:
            link = _links_between(root, nb)
            subs.append(Submission(str(nb.relative_to(root).with_suffix("")), nb,
                                   f"{link} is a symbolic link; submit the notebook file itself"
                                   if link else ""))
        return subs, []
    per_student: dict = {}
    ignored = []
    for nb in notebooks:
        parts = nb.relative_to(root).parts
        if len(parts) != 3 or parts[1] != assignment:
            ignored.append((nb, f"not in the layout <student>/{assignment}/<notebook>.ipynb"))
            continue
        per_student.setdefault(parts[0], []).append(nb)
    subs = []
    for student in sorted(per_student):
        subs += _choose(root, student, per_student[student], assignment, ignored)
    return subs, ignored


def _choose(root: Path, student: str, candidates: list, assignment: str, ignored: list) -> list:
    """The one notebook graded for ``student``: named after the assignment, or the only one."""
    if not candidates:
        return []
    named = [nb for nb in candidates if nb.stem == assignment]
    chosen = named[0] if named else (candidates[0] if len(candidates) == 1 else None)
    for nb in candidates:
        if nb is not chosen:
            ignored.append((nb, f"only one notebook per student is graded"
                                f"{f': {chosen.name}' if chosen else ''}"))
    if chosen is None:
        names = ", ".join(nb.name for nb in candidates)
        return [Submission(student, candidates[0], f"the folder holds several notebooks "
                                                    f"({names}) and none is named "
                                                    f"{assignment}.ipynb")]
    link = _links_between(root, chosen)
    return [Submission(student, chosen, f"{link} is a symbolic link; submit the notebook file "
                                        f"itself" if link else "")]

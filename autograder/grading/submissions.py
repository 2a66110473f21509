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

Everything found here comes from students: a folder or file name may hold bytes that are not
UTF-8 (Python hands them over as lone surrogates, which cannot be encoded), terminal control
sequences, or a tree 1100 folders deep. The walk is iterative and bounded, names are cleaned
(:func:`clean_text`) before they become ids or messages, and :func:`terminal_text` escapes what
is printed to the instructor's terminal.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

MAX_DEPTH = 16  # folders below the graded folder; deeper ones are reported, not walked
MAX_ENTRIES = 100_000  # files and folders looked at in one walk
# The problem of a student whose assignment folder holds no notebook (reports count them apart)
EMPTY_FOLDER = "the submission folder holds no notebook"

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 and C1 controls and DEL: ESC starts ANSI/OSC sequences (OSC 52 writes the clipboard), CR
# and backspace overwrite what was printed before, C1 CSI (\x9b) is ESC [ on some terminals.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_OR_NEWLINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean_text(text) -> str:
    """``text`` with lone surrogates (a file name that is not UTF-8, or ``"\\ud800"`` in a
    notebook's JSON) replaced by U+FFFD, so that it can be encoded as UTF-8 anywhere."""
    text = str(text)
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def terminal_text(text, newlines: bool = False) -> str:
    """``text`` safe to print on a terminal: control characters (and newlines, unless
    ``newlines``) shown as ``\\xNN``, lone surrogates as U+FFFD."""
    pattern = _CONTROL if newlines else _CONTROL_OR_NEWLINE
    return pattern.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                       else f"\\u{ord(m.group()):04x}", clean_text(text))


def student_id(name: str) -> str:
    """A student id from a folder or file name: as it is if it is valid text; otherwise cleaned
    and made distinct from every other name by a digest of the name's bytes."""
    shown = clean_text(name)
    if shown == name:
        return name
    raw = os.fsencode(name) if isinstance(name, str) else bytes(name)
    return f"{shown}-{hashlib.sha256(raw).hexdigest()[:8]}"


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


def _walk(root: Path, skipped: list | None = None) -> list:
    """Every ``*.ipynb`` under ``root``, without following links to folders, in sorted order.
    Iterative (``os.walk`` recurses: a tree 1100 folders deep raised RecursionError) and
    bounded: folders deeper than :data:`MAX_DEPTH`, and everything past :data:`MAX_ENTRIES`
    entries, are not walked but added to ``skipped`` as ``(path, why)``."""
    found = []
    skipped = [] if skipped is None else skipped
    stack = [(root, 0)]
    seen = 0
    while stack:
        folder, depth = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            skipped.append((folder, f"cannot be listed: {exc.strerror or exc}"))
            continue
        subfolders = []
        for entry in entries:
            seen += 1
            if seen > MAX_ENTRIES:
                skipped.append((folder, f"the walk stopped after {MAX_ENTRIES} entries"))
                return found
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                if entry.name != ".ipynb_checkpoints":
                    subfolders.append(Path(entry.path))
            elif entry.name.endswith(".ipynb"):
                found.append(Path(entry.path))
        if subfolders and depth >= MAX_DEPTH:
            skipped.append((folder, f"folders nested more than {MAX_DEPTH} deep are not "
                                    f"searched"))
            continue
        stack += [(sub, depth + 1) for sub in reversed(subfolders)]
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
        return [Submission(student_id(root.stem), root)], []
    if not root.is_dir():
        raise FileNotFoundError(f"no such notebook or folder: {root}")
    skipped: list = []
    notebooks = _walk(root, skipped)
    if (root / assignment).is_dir() and not is_nbgrader_tree(root, assignment):
        # One student's folder, <student>/<assignment>/<notebook>.ipynb: graded as that student.
        mine = [nb for nb in notebooks if nb.parent == root / assignment]
        ignored = skipped + [(nb, f"not in {assignment}/") for nb in notebooks if nb not in mine]
        return _choose(root.parent, root.name, mine, assignment, ignored), ignored
    if not is_nbgrader_tree(root, assignment):
        subs = []
        for nb in notebooks:
            link = _links_between(root, nb)
            subs.append(Submission(student_id(str(nb.relative_to(root).with_suffix(""))), nb,
                                   f"{clean_text(link)} is a symbolic link; submit the notebook "
                                   f"file itself" if link else ""))
        return subs, skipped
    per_student: dict = {}
    ignored = skipped
    for nb in notebooks:
        parts = nb.relative_to(root).parts
        if len(parts) != 3 or parts[1] != assignment:
            ignored.append((nb, f"not in the layout <student>/{assignment}/<notebook>.ipynb"))
            continue
        per_student.setdefault(parts[0], []).append(nb)
    subs = []
    for student in sorted(per_student):
        subs += _choose(root, student, per_student[student], assignment, ignored)
    # A student who collected an empty folder gets a row (0 points, and why), not silence. One
    # whose folder holds notebooks elsewhere is not given one: they are reported as ignored.
    holding = {nb.relative_to(root).parts[0] for nb in notebooks}
    with os.scandir(root) as entries:
        empty = sorted(e.name for e in entries
                       if e.name not in holding and e.is_dir(follow_symlinks=False)
                       and (root / e.name / assignment).is_dir()
                       and not (root / e.name / assignment).is_symlink())
    for student in empty:
        subs.append(Submission(student_id(student),
                               root / student / assignment / f"{assignment}.ipynb",
                               EMPTY_FOLDER))
    subs.sort(key=lambda sub: sub.student)
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
                                f"{f': {clean_text(chosen.name)}' if chosen else ''}"))
    student = student_id(student)
    if chosen is None:
        names = clean_text(", ".join(nb.name for nb in candidates))
        return [Submission(student, candidates[0], f"the folder holds several notebooks "
                                                    f"({names}) and none is named "
                                                    f"{assignment}.ipynb")]
    link = _links_between(root, chosen)
    return [Submission(student, chosen, f"{clean_text(link)} is a symbolic link; submit the "
                                        f"notebook file itself" if link else "")]

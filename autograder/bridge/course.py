"""nbgrader course directories: for instructors (`init-course`) and for regenerating exercises.

A course keeps one instructor notebook per assignment where its ``autograder.toml`` says
(``solutions/<assignment>.ipynb`` in this repository); nbgrader wants
``source/<assignment>/<assignment>.ipynb`` inside a course directory. These helpers build that
layout, with an ``nbgrader_config.py`` and an ``autograder.toml`` of its own, and run nbgrader
in it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..course import Course

NBGRADER_CONFIG = """\
# nbgrader configuration for this course directory (written by `autograder init-course`).
# Hidden test cells call autograder.cell.hidden_tests, which finds the checks and the instructor
# notebooks from autograder.toml, next to this file.
c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = {course_id!r}

# What students see in place of a solution.
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A notebook cell that runs longer than this is stopped (the test cells take well under 1 s).
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# Submissions from students not yet in the gradebook are added to it when autograded.
c.Autograde.create_student = True
"""


def init_course(root: Path, assignments: list, layout: Course | None = None) -> Path:
    """An nbgrader course directory at ``root`` for ``assignments`` of ``layout`` (default:
    the course found from the working directory): their instructor notebooks in ``source/``,
    an ``nbgrader_config.py``, and an ``autograder.toml`` naming the same checks. Existing
    configuration files are kept."""
    layout = layout or Course.find()
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    config = root / "nbgrader_config.py"
    if not config.exists():
        course_id = "dl-math-course" if layout.manifest is None or \
            layout.checks == ("autograder.assignments",) else layout.root.name
        config.write_text(NBGRADER_CONFIG.format(course_id=course_id), encoding="utf-8")
    manifest = root / "autograder.toml"
    if not manifest.exists() and root != layout.root:
        manifest.write_text(layout.manifest_text(), encoding="utf-8")
        if layout.manifest is not None:
            # the course's checks import from its own root; a course directory elsewhere
            # needs them on its path too
            _link_checks(layout, root)
    for name in assignments:
        src = layout.solution_notebook(name)
        if not src.exists():
            raise FileNotFoundError(f"no instructor notebook for {name}: {src}")
        dest = root / "source" / name
        dest.mkdir(parents=True, exist_ok=True)
        if src.resolve() != (dest / f"{name}.ipynb").resolve():
            shutil.copy(src, dest / f"{name}.ipynb")
    return root


def _link_checks(layout: Course, root: Path) -> None:
    """Copy the course's own checks modules (the files named by ``checks``) into ``root``."""
    for name in layout.checks:
        top = name.partition(".")[0]
        for candidate in (layout.root / top, layout.root / f"{top}.py"):
            if candidate.is_dir():
                shutil.copytree(candidate, root / top, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__"))
            elif candidate.is_file():
                shutil.copy(candidate, root / candidate.name)


def nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run an nbgrader subcommand in course directory ``root`` (raises with its log on failure)."""
    cmd = [sys.executable, "-m", "nbgrader", *args, "--CourseDirectory.root=" + str(root)]
    env = dict(os.environ)  # nbgrader runs `alembic`, installed next to this Python
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def release(name: str, output_dir: Path | None = None, layout: Course | None = None) -> Path:
    """Regenerate the student notebook of ``name`` with ``nbgrader generate_assignment``, into
    ``output_dir`` (default: the course's ``exercises`` folder)."""
    layout = layout or Course.find()
    output_dir = output_dir or layout.exercises or layout.root / "release"
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        root = init_course(Path(tmp), [name], layout)
        nbgrader(root, "generate_assignment", name, "--force")
        output_dir.mkdir(parents=True, exist_ok=True)
        target = output_dir / f"{name}.ipynb"
        shutil.copy(root / "release" / name / f"{name}.ipynb", target)
    tag_assignment(target, name)
    link_sections(target, name, layout)
    return target


_LINK = re.compile(r"\]\(#([A-Za-z0-9_.:-]+)\)")  # [text](#label): a MyST cross-reference
_LABEL = re.compile(r"^\(([A-Za-z0-9_.:-]+)\)=\s*$", re.M)  # (label)= before a heading


def link_sections(path: Path, name: str, layout: Course) -> int:
    """Make the notebook's section links ``[text](#sec-x)`` — which only the book resolves —
    point at the chapter page and anchor in the course's published book (``book_url``), so
    they work in Jupyter too. The pages are those of the assignment's sections; a label found
    in none of them is left alone. Without a ``book_url`` nothing changes. Returns how many
    links were rewritten."""
    import nbformat

    from ..spec import get_assignment

    book = layout.book_url.rstrip("/")
    if not book:
        return 0
    pages = {}
    for page in sorted({gf.section.page for gf in get_assignment(name, layout).functions}):
        try:
            text = (layout.root / f"{page}.md").read_text(encoding="utf-8")
        except OSError:
            continue
        pages.update({label: page for label in _LABEL.findall(text)})
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    count = 0

    def link(match: re.Match) -> str:
        nonlocal count
        page = pages.get(match.group(1))
        if page is None:
            return match.group(0)
        count += 1
        return f"]({book}/{page}.html#{match.group(1)})"

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _LINK.sub(link, cell.source)
    if count:
        nbformat.write(nb, path)
    return count


def tag_assignment(path: Path, name: str) -> None:
    """Say in the notebook's own metadata which assignment it is, so that ``autograder check``
    knows it whatever the student's copy is called (``03_backprop-Copy1.ipynb``)."""
    import nbformat

    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nb.metadata["autograder"] = {"assignment": name}
    nbformat.write(nb, path)

"""nbgrader course directories: for instructors (`init-course`) and for regenerating exercises/.

The repo keeps one instructor notebook per assignment in ``solutions/<assignment>.ipynb``;
nbgrader wants ``source/<assignment>/<assignment>.ipynb`` inside a course directory. These helpers
build that layout (with the repo's ``nbgrader_config.py``) and run nbgrader in it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..reference import REPO_ROOT, solution_notebook

CONFIG = REPO_ROOT / "nbgrader_config.py"
EXERCISES = REPO_ROOT / "exercises"


def init_course(root: Path, assignments: list) -> Path:
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(CONFIG, root / "nbgrader_config.py")
    for name in assignments:
        src = solution_notebook(name)
        if not src.exists():
            raise FileNotFoundError(f"no instructor notebook for {name}: {src}")
        dest = root / "source" / name
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest / f"{name}.ipynb")
    return root


def nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run an nbgrader subcommand in course directory ``root`` (raises with its log on failure)."""
    cmd = [sys.executable, "-m", "nbgrader", *args, "--CourseDirectory.root=" + str(root)]
    env = dict(os.environ)  # nbgrader runs `alembic`, installed next to this Python
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def release(name: str, output_dir: Path | None = None) -> Path:
    """Regenerate the student notebook of ``name`` with ``nbgrader generate_assignment``."""
    output_dir = output_dir or EXERCISES
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        root = init_course(Path(tmp), [name])
        nbgrader(root, "generate_assignment", name, "--force")
        output_dir.mkdir(parents=True, exist_ok=True)
        target = output_dir / f"{name}.ipynb"
        shutil.copy(root / "release" / name / f"{name}.ipynb", target)
    return target

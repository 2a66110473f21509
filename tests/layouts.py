"""Where instructors' Python and courses really live: layouts to grade in, for the tests.

* ``as_invoker()``: this checkout, this interpreter, as whoever runs the tests. On the course's
  machines that is root with pyenv's interpreter under ``/root`` — Python under ``$HOME``.
* ``as_created_user()``: an ordinary user made for the test, with a virtual environment, a copy
  of the repository and the course directory all under that user's home. Skipped, with the
  reason, where a user cannot be created (not root, no ``useradd``) or cannot run this
  interpreter (e.g. pyenv's Python under ``/root``, mode 700 on a fresh Debian machine).
* ``as_root_at_home()``: the same layout under root's home, graded as root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
USER = "autograder-test"


@dataclass
class Layout:
    name: str
    python: str  # the interpreter that runs `autograder`
    home: Path  # where course directories are made
    repo: Path  # the repository the grader is imported from
    uid: int | None = None  # run as this user (None: as the invoker)
    gid: int | None = None
    env: dict = field(default_factory=dict)

    def run(self, args: list, timeout: float = 900) -> subprocess.CompletedProcess:
        env = dict(os.environ, **self.env)
        preexec = None
        if self.uid is not None:
            uid, gid = self.uid, self.gid

            def preexec() -> None:
                os.setgroups([])
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
        return subprocess.run([self.python, "-m", "autograder", *args], capture_output=True,
                              text=True, timeout=timeout, env=env, preexec_fn=preexec,
                              cwd=self.home)

    def own(self, path: Path) -> None:
        """Give ``path`` (recursively) to the layout's user."""
        if self.uid is None:
            return
        for p in [path, *path.rglob("*")]:
            os.lchown(p, self.uid, self.gid)


def as_invoker(tmp: Path) -> Layout:
    return Layout("invoker", sys.executable, tmp, ROOT)


def as_created_user(tmp_name: str) -> Layout:
    if os.geteuid() != 0:
        pytest.skip("grading as a created user needs root to create the user")
    if not shutil.which("useradd"):
        pytest.skip("grading as a created user needs `useradd`")
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        made = subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER],
                              capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"could not create a user: {made.stderr.strip()}")
        entry = pwd.getpwnam(USER)
    base = _interpreter_for(entry.pw_uid, entry.pw_gid)
    return _home_layout("created user", Path(entry.pw_dir), tmp_name, entry.pw_uid,
                        entry.pw_gid, {"HOME": entry.pw_dir, "USER": USER, "LOGNAME": USER},
                        base=base)


def _dependencies() -> list:
    """Where this test run's packages live (a venv's, and its base's if it sees them)."""
    import site

    paths = [sysconfig.get_path("purelib"), *site.getsitepackages()]
    return list(dict.fromkeys(p for p in paths if os.path.isdir(p)))


def _runs_as(python: str, uid: int, gid: int) -> bool:
    """Whether the user can run ``python`` and import the course's dependencies with it."""
    code = f"import sys; sys.path[:0] = {_dependencies()!r}; import numpy, nbgrader"
    try:
        probe = subprocess.run([python, "-c", code], preexec_fn=_as(uid, gid),
                               capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):  # e.g. PermissionError: a home of mode 700
        return False
    return probe.returncode == 0


def _interpreter_for(uid: int, gid: int) -> str:
    """This interpreter if the user can run it; else the system's of the same minor version
    (pyenv's lives under root's home, mode 700 on a fresh Debian machine), whose ABI the
    test environment's compiled packages share; else the test is skipped, saying why."""
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    if _runs_as(base, uid, gid):
        return base
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/bin:/usr/local/bin")
    if system and _runs_as(system, uid, gid):
        return system
    why = interpreter_unusable_by(uid, gid) or (
        f"the user {USER} cannot run this interpreter ({base}) with the test environment's "
        f"packages ({', '.join(_dependencies())})")
    pytest.skip(f"{why}; and no system {version} can either")


def interpreter_unusable_by(uid: int, gid: int) -> str | None:
    """Why the user ``uid`` cannot start the interpreter the layouts' venvs are made from, or
    None if it can. Starting it is the only reliable probe (permissions, ACLs, noexec mounts);
    a refused exec surfaces as an OSError raised here, not as a return code."""
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    try:
        probe = subprocess.run([base, "-c", "0"], preexec_fn=_as(uid, gid),
                               capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        failure = f"{type(exc).__name__}: {exc}"
    else:
        if probe.returncode == 0:
            return None
        failure = f"exit status {probe.returncode}: {probe.stderr.strip()[-300:]}"
    closed = _closed_ancestor(Path(base))
    hint = (f"; {closed} (mode {closed.stat().st_mode & 0o777:o}) is closed to other users"
            if closed else "")
    return f"the user {USER} cannot run this interpreter ({base}): {failure}{hint}"


def _closed_ancestor(path: Path) -> Path | None:
    """The first directory above ``path`` that other users cannot enter, if any."""
    for parent in reversed(path.parents):
        try:
            if not parent.stat().st_mode & 0o001:
                return parent
        except OSError:
            return parent
    return None


def as_root_at_home(tmp_name: str) -> Layout:
    if os.geteuid() != 0:
        pytest.skip("grading as root needs root")
    home = Path(pwd.getpwuid(0).pw_dir)
    return _home_layout("root at home", home, tmp_name, None, None, {"HOME": str(home)})


def _home_layout(name: str, home: Path, tmp_name: str, uid, gid, env: dict,
                 base: str | None = None) -> Layout:
    """A venv, a copy of the repository and room for courses, all under ``home``."""
    base = base or os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    work = home / tmp_name
    shutil.rmtree(work, ignore_errors=True)
    repo = work / "course-repo"
    repo.mkdir(parents=True)
    for item in ("autograder", "solutions", "exercises", "autograder.toml"):
        src = ROOT / item
        (shutil.copytree(src, repo / item, ignore=shutil.ignore_patterns("__pycache__"))
         if src.is_dir() else shutil.copy(src, repo / item))
    venv = work / "venv"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv),
                                                        "platbase": str(venv)}))
    # The user's environment sees the repository copy first, then the course's dependencies
    # (those of this test run's environment: installing them again would take minutes).
    (purelib / "00-course.pth").write_text(f"{repo}\n")
    (purelib / "zz-dependencies.pth").write_text("".join(f"{p}\n" for p in _dependencies()))
    for tool in ("alembic",):  # nbgrader's gradebook runs it from next to the interpreter
        src = Path(sys.executable).parent / tool
        if src.exists():
            (venv / "bin" / tool).symlink_to(src)
    layout = Layout(name, str(venv / "bin" / "python"), work, repo, uid, gid, env)
    layout.own(work)
    return layout


def _as(uid: int, gid: int):
    def run() -> None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    return run

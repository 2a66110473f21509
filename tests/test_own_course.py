"""Another course, graded by the installed package: README, "Grading your own course".

The package is built as a wheel and installed into a fresh environment outside this repository
(its dependencies come from this test run's environment through a ``.pth`` file: installing
them again would take minutes, and they are not what is being tested). A course folder in a
temporary directory holds an ``autograder.toml``, a checks module and an instructor notebook,
exactly as the README shows; the commands run from there. ``autograder check`` runs with the
``course``, ``grade`` and ``book`` extras' packages blocked, which proves it needs none of them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.layouts import _dependencies

pytestmark = pytest.mark.slow

README = (ROOT / "README.md").read_text(encoding="utf-8")
# What neither `autograder check` nor the library may import: the extras' packages.
BLOCKED = ("torch", "scipy", "matplotlib", "sklearn", "nbgrader", "nbclient", "nbconvert",
           "ipykernel", "jupyter_book", "sphinx", "myst_nb",
           # the test tools (`dev`): a student's install does not have them
           "pytest", "_pytest", "hypothesis", "playwright", "xdist")


def write_notebook(code: str, path: Path) -> None:
    import nbformat

    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), path)


def _readme_block(after: str, lang: str) -> str:
    """The first ```lang code block after the line containing ``after`` in the README."""
    section = README[README.index(after):]
    match = re.search(rf"```{lang}\n(.*?)```", section, re.S)
    assert match, f"no ```{lang} block after {after!r} in the README"
    return match.group(1)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh environment holding the package built as a wheel (not this checkout)."""
    tmp = tmp_path_factory.mktemp("own-course")
    dist = tmp / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    env_dir = tmp / "env"
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([base, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(env_dir),
                                                        "platbase": str(env_dir)}))
    (purelib / "zz-dependencies.pth").write_text("".join(f"{p}\n" for p in _dependencies()))
    # Under AUTOGRADER_TEST_BLOCK, importing an extra's package fails, in every process of
    # this environment (a .pth line runs at start-up, even in Python's isolated mode).
    blocked = ", ".join(repr(b) for b in BLOCKED)
    (purelib / "zz-block.pth").write_text(
        "import os, sys; exec(\"class _Block:\\n def find_spec(self, name, path=None, "
        "target=None):\\n  if name.partition('.')[0] in {" + blocked + "}:\\n   raise "
        "ImportError('blocked for this test: ' + name)\\n\") if "
        "os.environ.get('AUTOGRADER_TEST_BLOCK') else None; "
        "os.environ.get('AUTOGRADER_TEST_BLOCK') and sys.meta_path.insert(0, _Block())\n")
    wheel = next(dist.glob("*.whl"))
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                           "--no-deps", "--no-index", "-q", str(wheel)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    where = subprocess.run([str(python), "-c", "import autograder; print(autograder.__file__)"],
                           capture_output=True, text=True, cwd=tmp)
    assert where.stdout.startswith(str(env_dir)), (where.stdout, where.stderr)
    return tmp, env_dir


@pytest.fixture(scope="module")
def own_course(installed):
    """The README's example course, written from the README's own code blocks."""
    tmp, env_dir = installed
    course = tmp / "mycourse"
    (course / "solutions").mkdir(parents=True)
    (course / "autograder.toml").write_text(_readme_block("autograder.toml", "toml"))
    (course / "hello_checks.py").write_text(_readme_block("hello_checks.py", "python"))
    solution = _readme_block("solutions/hello.ipynb", "python")
    write_notebook(solution, course / "solutions" / "hello.ipynb")
    subs = course / "submissions"
    subs.mkdir()
    answers = {"alice": solution, "bob": solution.replace("2 * x", "x + 2"),
               # right for numbers only: passes the public checks, fails the hidden ones
               "carol": "def double(x):\n    return 2 * x if isinstance(x, float) else x\n"}
    for student, code in answers.items():
        write_notebook(code, subs / f"{student}.ipynb")
    return course, env_dir


def _run(env_dir: Path, course: Path, *args, block: bool = False):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    if block:
        env["AUTOGRADER_TEST_BLOCK"] = "1"
    return subprocess.run([str(env_dir / "bin" / "autograder"), *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=600)


def test_the_blocker_blocks(installed):
    tmp, env_dir = installed
    proc = subprocess.run([str(env_dir / "bin" / "python"), "-I", "-c", "import torch"],
                          env=dict(os.environ, AUTOGRADER_TEST_BLOCK="1"),
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "blocked for this test" in proc.stderr


def test_check_needs_no_extras(own_course):
    course, env_dir = own_course
    good = _run(env_dir, course, "check", "submissions/alice.ipynb", "--assignment", "hello",
                block=True)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "PASS  double" in good.stdout
    bad = _run(env_dir, course, "check", "submissions/bob.ipynb", "--assignment", "hello",
               block=True)
    assert bad.returncode == 1 and "FAIL  double" in bad.stdout, bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr


def test_a_student_install_has_no_test_tools():
    """README's student set-up installs the extras of `course.py setup --student`, and those
    name none of the test tools (nor the book's or nbgrader)."""
    import importlib.util
    import tomllib

    assert "python3 course.py setup --student" in _readme_block("## Students:", "bash")
    spec = importlib.util.spec_from_file_location("course_script", ROOT / "course.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"])
    for extra in script.STUDENT_EXTRAS:
        wanted += project["optional-dependencies"][extra]
    names = {re.match(r"[A-Za-z0-9_.-]+", req).group(0).lower() for req in wanted}
    assert "jupyterlab" in names and "torch" in names
    tools = {re.match(r"[A-Za-z0-9_.-]+", req).group(0).lower()
             for extra in ("dev", "book", "grade") for req in
             project["optional-dependencies"][extra]} - names
    assert {"pytest", "hypothesis", "playwright", "nbgrader", "jupyter-book"} <= tools
    assert not names & tools


def test_grade_a_folder_of_notebooks(own_course):
    course, env_dir = own_course
    proc = _run(env_dir, course, "grade", "submissions", "--assignment", "hello", "--jobs", "1",
                "--quiet", block=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((course / "autograder-hello" / "results.json").read_text())
    scores = {s["student"]: s["score"] for s in results["submissions"]}
    assert scores == {"alice": 2, "bob": 0, "carol": 1}, scores  # carol: public only


def test_init_course_makes_an_nbgrader_course(own_course):
    course, env_dir = own_course
    proc = _run(env_dir, course, "init-course", "../nbcourse", "hello")
    assert proc.returncode == 0, proc.stderr
    made = course.parent / "nbcourse"
    assert (made / "source" / "hello" / "hello.ipynb").is_file()
    assert (made / "nbgrader_config.py").is_file() and (made / "hello_checks.py").is_file()
    assert 'checks = ["hello_checks"]' in (made / "autograder.toml").read_text()


def test_two_courses_in_one_process(own_course):
    """The course is passed down, never kept in the environment: grading this course and then
    the repository's in one process uses each one's own checks and reference."""
    course, env_dir = own_course
    code = (
        "import sys\n"
        "from autograder.course import Course\n"
        "from autograder.spec import assignment_names\n"
        "from autograder.reference import load_reference\n"
        f"mine = Course.find({str(course)!r})\n"
        f"repo = Course.find({str(ROOT)!r})\n"
        "assert assignment_names(mine) == ['hello'], assignment_names(mine)\n"
        "assert load_reference('hello', mine)['double'](3) == 6\n"
        "assert '01_information' in assignment_names(repo)\n"
        "assert 'hello' not in assignment_names(repo)\n"
        "assert repo.solution_notebook('01_information').is_file()\n"
        "assert not mine.solution_notebook('01_information').exists()\n"
        "print('ok')\n")
    proc = subprocess.run([str(env_dir / "bin" / "python"), "-c", code], capture_output=True,
                          text=True, cwd=course.parent)
    assert proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_a_user_install_grades_in_the_sandbox(installed, own_course, tmp_path):
    """`pip install --user` puts the package in the user site, which the grader's isolated-mode
    processes (`python -I`) would not see: the sandbox must still start, not switch off."""
    tmp, _ = installed
    course, _ = own_course
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    userbase = tmp_path / "userbase"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONUSERBASE"] = str(userbase)
    wheel = next((tmp / "dist").glob("*.whl"))
    done = subprocess.run([sys.executable, "-m", "pip", "--python", base, "install", "--user",
                           "--no-deps", "--no-index", "-q", str(wheel)], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    site = subprocess.run([base, "-c", "import site; print(site.getusersitepackages())"],
                          env=env, capture_output=True, text=True).stdout.strip()
    Path(site, "zz-dependencies.pth").write_text("".join(f"{p}\n" for p in _dependencies()))
    proc = subprocess.run([base, "-m", "autograder", "grade", "submissions", "--assignment",
                           "hello", "--jobs", "1", "--quiet", "--out", str(tmp_path / "out")],
                          cwd=course, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "NOT isolated" not in proc.stderr, proc.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {s["student"]: s["score"] for s in results["submissions"]} == \
        {"alice": 2, "bob": 0, "carol": 1}

"""Every assignment the grader knows is a whole chapter: its page, its notebooks, its place in
the table of contents, the README's chapter table and the intro's chapter list (the recipe in
docs/ARCHITECTURE.md, "Adding a chapter")."""

from __future__ import annotations

import re

import pytest

from autograder.spec import assignment_names, get_assignment
from tests.conftest import ROOT


@pytest.mark.parametrize("name", assignment_names())
def test_every_assignment_is_a_whole_chapter(name):
    number = name[:2]
    missing = [p for p in (f"chapters/{name}.md", f"solutions/{name}.ipynb",
                           f"exercises/{name}.ipynb", f"tests/variants/a{name}.py")
               if not (ROOT / p).is_file()]
    assert not missing, missing
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert f"file: chapters/{name}" in toc and f"file: exercises/{name}" in toc, "_toc.yml"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = [line for line in readme.splitlines()
           if line.startswith(f"| {number} ") and f"exercises/{name}.ipynb" in line]
    assert row, f"README.md has no chapter-table row for {name}"
    points = re.search(r"\((\d+) points\)", row[0])
    assert points and int(points.group(1)) == get_assignment(name).max_score, row[0]
    intro = (ROOT / "intro.md").read_text(encoding="utf-8")
    assert re.search(rf"^{int(number)}\. \*\*", intro, flags=re.M), \
        f"intro.md lists no chapter {int(number)}"
    assert f"*Exercise {number}* ({get_assignment(name).max_score} points)" in \
        " ".join(intro.split()), f"intro.md: the points of exercise {number}"

"""Per-student feedback files (Markdown and HTML): points and the teaching messages per function.

Only what the checks said goes in: the messages of hidden checks already contain no hidden
inputs or reference outputs (see :func:`autograder.checks.compare`). Everything that may come
from the student's code (exception texts, notes about cells) is shown verbatim in code blocks,
and the HTML is rendered with raw HTML disabled, so a submission cannot inject markup or script.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path


def _fence(text: str) -> list:
    """A fenced code block that ``text`` cannot close early: its fence is longer than any run
    of backticks in the text."""
    import re

    longest = max((len(run) for run in re.findall(r"`+", str(text))), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", str(text), fence, ""]


def markdown(assignment, result) -> str:
    lines = [f"# Feedback: {assignment.title} ({assignment.name})", "",
             f"**Student:** `{result.student}`  ", f"**Score:** {result.score} / {result.max_score}",
             ""]
    if result.notes:
        lines += ["## Running your notebook", ""]
        lines += _fence("\n".join(result.notes))
    lines += ["| function | points |", "|---|---|"]
    for gf in assignment.functions:
        f = result.functions[gf.name]
        lines.append(f"| `{gf.name}` | {f.score} / {f.max_score} |")
    lines.append("")
    for gf in assignment.functions:
        f = result.functions[gf.name]
        mark = "✓" if f.score == f.max_score else "✗"
        lines += [f"## {mark} `{gf.name}` — {f.score} / {f.max_score}", ""]
        if not f.failures:
            lines += ["All checks passed.", ""]
            continue
        for failure in f.failures:
            lines += _fence(failure.render())
        if f.review:
            lines += [f"To review: {f.review}.", ""]
    return "\n".join(lines)


@functools.lru_cache(maxsize=1)
def _renderer():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


def to_html(text: str, title: str) -> str:
    body = _renderer().render(text)
    style = ("body{font-family:sans-serif;max-width:52em;margin:2em auto;line-height:1.45}"
             "pre{background:#f6f6f6;padding:.6em;white-space:pre-wrap}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{style}</style></head><body>{body}</body></html>\n")


def file_stem(student: str) -> str:
    """A file name for a student id: safe characters only, and distinct for distinct ids."""
    import hashlib

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in student).strip(".")[:80]
    if safe != student:
        safe += "-" + hashlib.sha256(student.encode()).hexdigest()[:8]
    return safe or "student"


def write(assignment, result, directory: Path) -> tuple:
    """Write ``<student>.md`` and ``<student>.html`` into ``directory``; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    text = markdown(assignment, result)
    stem = file_stem(result.student)
    md, page = directory / f"{stem}.md", directory / f"{stem}.html"
    md.write_text(text, encoding="utf-8")
    page.write_text(to_html(text, f"{assignment.name}: {result.student}"), encoding="utf-8")
    return md, page

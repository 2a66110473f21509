"""Per-student feedback files (Markdown and HTML): points and the teaching message per function.

Only what the checks said goes in: the messages of hidden checks already contain no hidden
inputs or reference outputs (see :func:`autograder.checks.compare`).
"""

from __future__ import annotations

import html
from pathlib import Path


def markdown(assignment, result) -> str:
    lines = [f"# Feedback: {assignment.title} ({assignment.name})", "",
             f"**Student:** {result.student}  ", f"**Score:** {result.score} / {result.max_score}",
             ""]
    if result.notes:
        lines += ["## Running your notebook", ""]
        lines += [f"- {note}" for note in result.notes] + [""]
    lines += ["| function | points |", "|---|---|"]
    for gf in assignment.functions:
        f = result.functions[gf.name]
        lines.append(f"| `{gf.name}` | {f['score']} / {f['max_score']} |")
    lines.append("")
    for gf in assignment.functions:
        f = result.functions[gf.name]
        mark = "✓" if f["score"] == f["max_score"] else "✗"
        lines += [f"## {mark} `{gf.name}` — {f['score']} / {f['max_score']}", ""]
        if not f["messages"]:
            lines += ["All checks passed.", ""]
            continue
        for msg in f["messages"]:
            if msg.startswith("To review:"):
                lines += [msg, ""]
            else:
                lines += ["```text", msg, "```", ""]
    return "\n".join(lines)


def to_html(text: str, title: str) -> str:
    try:
        from markdown_it import MarkdownIt

        body = MarkdownIt("commonmark").enable("table").render(text)
    except ImportError:  # pragma: no cover - markdown-it ships with jupyter-book
        body = f"<pre>{html.escape(text)}</pre>"
    style = ("body{font-family:sans-serif;max-width:52em;margin:2em auto;line-height:1.45}"
             "pre{background:#f6f6f6;padding:.6em;white-space:pre-wrap}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{style}</style></head><body>{body}</body></html>\n")


def write(assignment, result, directory: Path) -> tuple:
    """Write ``<student>.md`` and ``<student>.html`` into ``directory``; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in result.student)
    text = markdown(assignment, result)
    md, page = directory / f"{safe}.md", directory / f"{safe}.html"
    md.write_text(text, encoding="utf-8")
    page.write_text(to_html(text, f"{assignment.name}: {result.student}"), encoding="utf-8")
    return md, page

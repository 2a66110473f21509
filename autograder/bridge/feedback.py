"""Per-student feedback files (Markdown and HTML): points and the teaching messages per function.

Only what the checks said goes in: the messages of hidden checks already contain no hidden
inputs or reference outputs (see :func:`autograder.checks.compare`). Everything that may come
from the student's code (exception texts, notes about cells) is shown verbatim in code blocks,
and every text in the HTML is escaped, so a submission cannot inject markup or script.
"""

from __future__ import annotations

import html
import re
from pathlib import Path


# The feedback is a list of blocks, rendered to Markdown and to HTML by the two functions below:
# ("h1"|"h2", inline), ("p", inline), ("pre", text), ("table", header, rows), where an inline is a
# list of (kind, text) with kind "text", "code", "strong" or "link" (an address). Rendering HTML
# directly (everything escaped) rather than through a Markdown parser keeps it cheap: one page
# per student.


def _score(result, final) -> str:
    """The score line: the gradebook's final score where there is one (the one published),
    saying how it differs from the checks' points."""
    if final is None:
        return f" {result.score} / {result.max_score}"
    shown = int(final.score) if float(final.score).is_integer() else round(final.score, 2)
    text = f" {shown} / {result.max_score}"
    if shown != result.score:
        why = (f"a late-submission penalty of {final.late_penalty:g}" if final.late_penalty
               else "grades changed by your instructor")
        text += f" (the checks gave {result.score}; {why})"
    return text


def _blocks(assignment, result, final=None) -> list:
    blocks = [("h1", [("text", f"Feedback: {assignment.title} ({assignment.name})")]),
              ("p", [("strong", "Student:"), ("text", " "), ("code", result.student)]),
              ("p", [("strong", "Score:"), ("text", _score(result, final))])]
    if result.notes:
        blocks += [("h2", [("text", "Running your notebook")]), ("pre", "\n".join(result.notes))]
    rows = [[[("code", gf.name)], [("text", f"{result.functions[gf.name].score} / "
                                           f"{result.functions[gf.name].max_score}")]]
            for gf in assignment.functions]
    blocks.append(("table", [[("text", "function")], [("text", "points")]], rows))
    for gf in assignment.functions:
        f = result.functions[gf.name]
        mark = "\u2713" if f.score == f.max_score else "\u2717"
        blocks.append(("h2", [("text", f"{mark} "), ("code", gf.name),
                              ("text", f" \u2014 {f.score} / {f.max_score}")]))
        if not f.failures:
            blocks.append(("p", [("text", "All checks passed.")]))
            continue
        blocks += [("pre", failure.render()) for failure in f.failures]
        if "://" in f.review_url:  # a book to link to (not just a path within it)
            blocks.append(("p", [("text", f"To review: reread \u201c{gf.section.title}\u201d "
                                          f"in the book, "), ("link", f.review_url),
                                 ("text", ".")]))
        elif f.review:
            blocks.append(("p", [("text", f"To review: {f.review}.")]))
    return blocks


def _md_inline(parts) -> str:
    out = []
    for kind, text in parts:
        if kind == "code":
            ticks = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
            pad = " " if text.startswith("`") or text.endswith("`") else ""
            out.append(f"{ticks}{pad}{text}{pad}{ticks}")
        elif kind == "strong":
            out.append(f"**{text}**")
        elif kind == "link":
            out.append(f"<{text}>")
        else:
            out.append(text)
    return "".join(out)


def _fence(text: str) -> list:
    """A fenced code block that ``text`` cannot close early: its fence is longer than any run
    of backticks in the text."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", text, fence]


def markdown(assignment, result, final=None) -> str:
    lines = []
    for block in _blocks(assignment, result, final):
        kind = block[0]
        if kind in ("h1", "h2"):
            lines += [("#" if kind == "h1" else "##") + " " + _md_inline(block[1]), ""]
        elif kind == "p":
            lines += [_md_inline(block[1]), ""]
        elif kind == "pre":
            lines += _fence(block[1]) + [""]
        else:
            _, header, rows = block
            lines += ["| " + " | ".join(_md_inline(c) for c in header) + " |",
                      "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(_md_inline(c) for c in row) + " |" for row in rows]
            lines.append("")
    return "\n".join(lines)


def _html_inline(parts) -> str:
    tags = {"code": "code", "strong": "strong"}
    return "".join(f"<{tags[k]}>{html.escape(t)}</{tags[k]}>" if k in tags
                   else f"<a href=\"{html.escape(t)}\">{html.escape(t)}</a>" if k == "link"
                   else html.escape(t) for k, t in parts)


_STYLE = ("body{font-family:sans-serif;max-width:52em;margin:2em auto;line-height:1.45}"
          "pre{background:#f6f6f6;padding:.6em;white-space:pre-wrap}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em}")


def page(assignment, result, final=None) -> str:
    """The feedback as a standalone HTML page; every text in it is escaped."""
    body = []
    for block in _blocks(assignment, result, final):
        kind = block[0]
        if kind in ("h1", "h2", "p"):
            body.append(f"<{kind}>{_html_inline(block[1])}</{kind}>")
        elif kind == "pre":
            body.append(f"<pre><code>{html.escape(block[1])}</code></pre>")
        else:
            _, header, rows = block
            body.append("<table><thead><tr>" + "".join(f"<th>{_html_inline(c)}</th>"
                                                      for c in header) + "</tr></thead><tbody>")
            body += ["<tr>" + "".join(f"<td>{_html_inline(c)}</td>" for c in row) + "</tr>"
                     for row in rows]
            body.append("</tbody></table>")
    title = html.escape(f"{assignment.name}: {result.student}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def file_stem(student: str) -> str:
    """A file name for a student id: safe characters only, and distinct for distinct ids."""
    import hashlib

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in student).strip(".")[:80]
    if safe != student:
        safe += "-" + hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return safe or "student"


def write(assignment, result, directory: Path, final=None) -> tuple:
    """Write ``<student>.md`` and ``<student>.html`` into ``directory``; return both paths.
    ``final``: the gradebook's final score (``reports.Final``), if there is one."""
    directory.mkdir(parents=True, exist_ok=True)
    text = markdown(assignment, result, final)
    stem = file_stem(result.student)
    md, out = directory / f"{stem}.md", directory / f"{stem}.html"
    # errors="replace": the texts are cleaned when results are made, but a file that cannot be
    # written must never stop the run.
    md.write_text(text, encoding="utf-8", errors="replace")
    out.write_text(page(assignment, result, final), encoding="utf-8", errors="replace")
    return md, out

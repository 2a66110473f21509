"""Reports of a grading run: JSON and CSV for the class, and the summary printed at the end."""

from __future__ import annotations

import csv
import io
import json

from .submissions import clean_text


def to_json(assignment, results: list) -> str:
    # clean_text: a notebook path that is not UTF-8 must still be printable and writable
    return clean_text(json.dumps({"assignment": assignment.name,
                                  "max_score": assignment.max_score,
                                  "submissions": [r.to_json() for r in results]}, indent=2,
                                 ensure_ascii=False))


def to_csv(assignment, results: list) -> str:
    names = [gf.name for gf in assignment.functions]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["student", "notebook", "score", "max_score", "status", *names])
    for r in results:
        writer.writerow([_cell(r.student), _cell(r.notebook), r.score, r.max_score, r.status,
                         *(r.functions[n].score for n in names)])
    return clean_text(buf.getvalue())


def _cell(text: str) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def summary(assignment, results: list) -> str:
    """Counts by outcome and the mean score of each function."""
    n = len(results)
    by = {s: sum(r.status == s for r in results)
          for s in ("ok", "unreadable", "crashed", "timeout", "error")}
    skipped = sum(r.skipped for r in results)
    lines = [f"{n} notebooks: {n - skipped} graded now, {skipped} unchanged since the last run; "
             f"{by['unreadable']} could not be read, {by['crashed']} crashed at least once "
             f"(graded without what crashed), {by['timeout']} timed out."]
    if by["error"]:
        lines.append(f"{by['error']} could not be graded because of a grader error: see "
                     f"results.json ('isolation') and grade them again.")
    if n:
        mean = sum(r.score for r in results) / n
        lines.append(f"mean score {mean:.2f} / {assignment.max_score}")
        width = max(len(gf.name) for gf in assignment.functions)
        for gf in assignment.functions:
            scores = [r.functions[gf.name].score for r in results]
            full = sum(s == r.functions[gf.name].max_score for s, r in zip(scores, results))
            lines.append(f"  {gf.name:<{width}}  mean {sum(scores) / n:5.2f} / {gf.max_score}"
                         f"   full marks {full}/{n}")
    return "\n".join(lines)

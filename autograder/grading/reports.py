"""Reports of a grading run: JSON and CSV for the class, the LMS export, and the summary.

Two scores per student where there is a gradebook: ``raw_score``, the points the checks gave,
and ``score``, the gradebook's final score (nbgrader's late penalty and manual grades
applied), which is the one to publish. Without a gradebook the two are the same.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import dataclass

from .submissions import EMPTY_FOLDER, clean_text, terminal_text


@dataclass(frozen=True)
class Final:
    """A student's final score as the gradebook has it, after the run."""

    score: float
    late_penalty: float = 0.0


def final_score(result, final: dict | None):
    """The score to publish: the gradebook's if it holds one for this student, else raw."""
    got = (final or {}).get(result.student)
    return _number(got.score) if got is not None else result.score


def _number(x: float):
    return int(x) if float(x).is_integer() else round(float(x), 2)


def to_json(assignment, results: list, final: dict | None = None) -> str:
    subs = []
    for r in results:
        data = r.to_json()
        data["raw_score"] = r.score
        data["score"] = final_score(r, final)
        got = (final or {}).get(r.student)
        data["late_penalty"] = _number(got.late_penalty) if got else 0
        subs.append(data)
    # clean_text: a notebook path that is not UTF-8 must still be printable and writable
    return clean_text(json.dumps({"assignment": assignment.name,
                                  "max_score": assignment.max_score,
                                  "submissions": subs}, indent=2, ensure_ascii=False))


def to_csv(assignment, results: list, final: dict | None = None) -> str:
    names = [gf.name for gf in assignment.functions]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["student", "notebook", "score", "max_score", "status", "raw_score",
                     "late_penalty", *names])
    for r in results:
        got = (final or {}).get(r.student)
        writer.writerow([_cell(r.student), _cell(r.notebook), final_score(r, final),
                         r.max_score, r.status, r.score,
                         _number(got.late_penalty) if got else 0,
                         *(r.functions[n].score for n in names)])
    return clean_text(buf.getvalue())


def to_lms_csv(assignment, results: list, final: dict | None = None) -> str:
    """``student,score,max``: one row per student with the final score, the columns Canvas's
    and Moodle's grade import map to a student and a grade column."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["student", "score", "max"])
    for r in results:
        writer.writerow([_cell(r.student), final_score(r, final), assignment.max_score])
    return clean_text(buf.getvalue())


def _cell(text: str) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def table(assignment, results: list, final: dict | None = None) -> str:
    """One line per student: who, total / max, status (and the raw score where the gradebook
    changed it)."""
    if not results:
        return ""
    names = [terminal_text(r.student) for r in results]
    width = max(7, *(len(n) for n in names))
    lines = [f"{'student':<{width}}  {'score':>11}  status"]
    for name, r in zip(names, results):
        score = final_score(r, final)
        status = str(r.status) + (" (unchanged, skipped)" if r.skipped else "")
        if score != r.score:
            got = final[r.student]
            status += f"; raw {r.score}" + (f", late penalty {_number(got.late_penalty)}"
                                            if got.late_penalty else "")
        lines.append(f"{name:<{width}}  {f'{score}/{r.max_score}':>11}  {status}")
    return "\n".join(lines)


def _who(results: list) -> str:
    return ", ".join(terminal_text(r.student) for r in results)


def histogram(totals: list, maximum: int, bins: int = 5, width: int = 30) -> list:
    """Lines of a text histogram of ``totals`` over 0..``maximum`` in ``bins`` equal ranges."""
    if not totals or maximum <= 0:
        return []
    bins = max(1, min(bins, int(maximum)))
    edges = [maximum * i / bins for i in range(bins + 1)]
    counts = [0] * bins
    for t in totals:
        counts[min(bins - 1, max(0, int(t * bins / maximum)))] += 1
    most = max(counts)
    lines = []
    for i, n in enumerate(counts):
        closing = "]" if i == bins - 1 else ")"
        label = f"[{edges[i]:g}, {edges[i + 1]:g}{closing}"
        lines.append(f"  {label:<12} {'#' * round(width * n / most) if most else '':<{width}} {n}")
    return lines


def summary(assignment, results: list, final: dict | None = None) -> str:
    """Counts by outcome with the students concerned, the distribution of totals, and each
    function's mean and maximum."""
    n = len(results)
    by = {s: [r for r in results if r.status == s]
          for s in ("ok", "unreadable", "crashed", "timeout", "error")}
    empty = [r for r in by["unreadable"] if r.notes[:1] == [EMPTY_FOLDER]]
    unreadable = [r for r in by["unreadable"] if r not in empty]
    skipped = sum(r.skipped for r in results)
    lines = [f"{n} notebooks: {n - skipped} graded now, {skipped} unchanged since the last run; "
             f"{len(unreadable)} could not be read, {len(by['crashed'])} crashed at least once "
             f"(graded without what crashed), {len(by['timeout'])} timed out, {len(empty)} "
             f"submitted an empty folder."]
    for label, who in (("crashed (graded without what crashed)", by["crashed"]),
                       ("timed out", by["timeout"]), ("could not be read", unreadable),
                       ("empty submission folder", empty)):
        if who:
            lines.append(f"  {label}: {_who(who)}")
    if by["error"]:
        lines.append(f"{len(by['error'])} could not be graded because of a grader error "
                     f"({_who(by['error'])}): see results.json ('isolation') and grade them "
                     f"again.")
    if n:
        totals = [final_score(r, final) for r in results]
        kind = "final (gradebook)" if final else "total"
        lines.append(f"{kind} score: mean {statistics.fmean(totals):.2f}, median "
                     f"{statistics.median(totals):g} of {assignment.max_score}")
        lines += histogram(totals, assignment.max_score)
        width = max(len(gf.name) for gf in assignment.functions)
        lines.append("per function (raw points):")
        for gf in assignment.functions:
            scores = [r.functions[gf.name].score for r in results]
            full = sum(s == r.functions[gf.name].max_score for s, r in zip(scores, results))
            lines.append(f"  {gf.name:<{width}}  mean {sum(scores) / n:5.2f}  best "
                         f"{max(scores):>2} of {gf.max_score}   full marks {full}/{n}")
    return "\n".join(lines)

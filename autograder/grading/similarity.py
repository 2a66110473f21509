"""Near-identical code across a class, per graded function (``autograder similarity``).

For each graded function, each submission's definition of it (the last top-level ``def`` of
that name in its code cells, as Python would keep it) is fingerprinted with copydetect's
winnowing (Schleimer, Wilkerson and Aiken 2003) after copydetect's own normalisation: every
name becomes one letter, strings another, comments and whitespace are dropped. A pair is
reported when each of the two shares at least ``threshold`` of its fingerprinted text with the
other. An unchanged stub (``raise NotImplementedError``) is left out. This never affects a
grade: it is a page for the instructor to read, with the code of both sides escaped.
"""

from __future__ import annotations

import ast
import html
import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from ..notebook import NotebookError, _python_source, read_cells
from .submissions import find_submissions

THRESHOLD = 0.8  # share of each side's fingerprinted text found in the other
NOISE = 12  # k: fingerprints cover k characters of normalised code (copydetect's default: 25)
WINDOW = 4  # winnowing window: at least one fingerprint in every WINDOW + k - 1 characters


class SimilarityError(Exception):
    """The instructor asked for something that cannot be done; the message says why."""


@dataclass(frozen=True)
class Pair:
    function: str
    first: str  # student
    second: str
    similarity: float  # the smaller of the two sides' shares
    first_code: str
    second_code: str


@dataclass
class Report:
    assignment: str
    threshold: float
    pairs: list = field(default_factory=list)  # of Pair, most similar first
    compared: dict = field(default_factory=dict)  # function -> number of submissions compared
    unreadable: list = field(default_factory=list)  # (student, why)


def function_sources(path: Path, names) -> dict:
    """``{name: source}``: the last top-level definition of each graded function in the
    notebook's code cells (cells that are not Python are skipped)."""
    found = {}
    for cell in read_cells(path):
        if cell.is_test:
            continue
        try:
            source = _python_source(cell.source)
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
                found[node.name] = ast.get_source_segment(source, node) or ""
    return found


def _is_stub(source: str) -> bool:
    try:
        body = ast.parse(source).body[0].body
    except (SyntaxError, IndexError, AttributeError):
        return False
    body = [n for n in body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    return all(isinstance(n, ast.Raise) or isinstance(n, ast.Pass) for n in body)


def compare(root: Path, assignment, threshold: float = THRESHOLD) -> Report:
    """Every pair of submissions under ``root`` (as ``autograder grade`` finds them) whose
    definitions of a graded function are near-identical."""
    try:
        from copydetect import CodeFingerprint, compare_files
    except ImportError:
        raise SimilarityError("the similarity report needs copydetect: pip install "
                              "'dl-course[grade]' (or: pip install copydetect)") from None
    try:
        subs, _ = find_submissions(root, assignment.name)
    except FileNotFoundError as exc:
        raise SimilarityError(str(exc)) from None
    if not subs:
        raise SimilarityError(f"no notebooks for {assignment.name} found under {root}")
    names = {gf.name for gf in assignment.functions}
    report = Report(assignment.name, threshold)
    sources: dict = {}  # student -> {function: source}
    for sub in subs:
        if sub.problem:
            report.unreadable.append((sub.student, sub.problem))
            continue
        try:
            sources[sub.student] = function_sources(sub.path, names)
        except NotebookError as exc:
            report.unreadable.append((sub.student, str(exc)))
    for gf in assignment.functions:
        prints = {}
        for student, functions in sources.items():
            code = functions.get(gf.name)
            if code and not _is_stub(code):
                prints[student] = (code, CodeFingerprint(f"{student}.py", NOISE, WINDOW,
                                                         fp=io.StringIO(code),
                                                         language="python"))
        report.compared[gf.name] = len(prints)
        for (a, (code_a, fa)), (b, (code_b, fb)) in itertools.combinations(
                sorted(prints.items()), 2):
            _, shares, _ = compare_files(fa, fb)
            similarity = float(min(shares))
            if similarity >= threshold:
                report.pairs.append(Pair(gf.name, a, b, similarity, code_a, code_b))
    report.pairs.sort(key=lambda p: (-p.similarity, p.function, p.first, p.second))
    return report


def text(report: Report) -> str:
    """What the command prints: one line per pair."""
    from .submissions import terminal_text

    lines = [f"{p.function}: {terminal_text(p.first)} ~ {terminal_text(p.second)} "
             f"({p.similarity:.0%})" for p in report.pairs]
    n = len(report.pairs)
    lines.append(f"{n} near-identical pair{'s' * (n != 1)} (each side shares at least "
                 f"{report.threshold:.0%} of its normalised code with the other).")
    return "\n".join(lines)


def page(report: Report) -> str:
    """The HTML page: per function, each pair's code side by side, everything escaped."""
    e = html.escape
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>Similarity: {e(report.assignment)}</title><style>"
             f"body{{font-family:sans-serif;max-width:80rem;margin:auto}}"
             f"table{{border-collapse:collapse;width:100%}}td{{vertical-align:top;"
             f"border:1px solid #ccc;padding:.3rem;width:50%}}pre{{white-space:pre-wrap;"
             f"margin:0}}</style></head><body>",
             f"<h1>Similarity: {e(report.assignment)}</h1>",
             f"<p>Pairs of submissions whose code for a graded function is near-identical "
             f"once names, strings, comments and whitespace are normalised (each side shares "
             f"at least {report.threshold:.0%} of its code with the other; copydetect's "
             f"winnowing fingerprints). Short functions can match by chance: read the code. "
             f"This report never changes a grade.</p>"]
    for function, compared in report.compared.items():
        pairs = [p for p in report.pairs if p.function == function]
        parts.append(f"<h2><code>{e(function)}</code>: {len(pairs)} pair"
                     f"{'s' * (len(pairs) != 1)} among {compared} submissions</h2>")
        for p in pairs:
            parts.append(f"<table><tr><th>{e(p.first)}</th><th>{e(p.second)}</th></tr>"
                         f"<tr><td colspan=\"2\">{p.similarity:.0%} similar</td></tr>"
                         f"<tr><td><pre>{e(p.first_code)}</pre></td>"
                         f"<td><pre>{e(p.second_code)}</pre></td></tr></table>")
    if report.unreadable:
        parts.append("<h2>Not compared</h2><ul>" + "".join(
            f"<li>{e(s)}: {e(why)}</li>" for s, why in report.unreadable) + "</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)

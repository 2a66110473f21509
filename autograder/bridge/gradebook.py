"""Write results where nbgrader looks for them, so its usual workflow carries on from there.

For each graded submission: the scores of the nbgrader grade cells (``<name>_public``,
``<name>_hidden``) go into the gradebook (any SQLAlchemy URL; SQLite by default), and an
autograded notebook goes to ``<course>/autograded/<student>/<assignment>/`` with the test cells
restored from the source notebook and their outputs set to the checks' messages. Then
``nbgrader generate_feedback``, ``nbgrader export`` and formgrader work as after
``nbgrader autograde``.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import sys
from pathlib import Path

from ..grading.submissions import clean_text

import nbformat

from ..spec import HIDDEN, PUBLIC


class GradebookError(RuntimeError):
    pass


def _tools_on_path() -> None:
    """nbgrader's Gradebook runs the ``alembic`` script that is installed next to Python."""
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def check_ready(db_url: str, assignment: str) -> None:
    """The assignment must be in the gradebook (``nbgrader generate_assignment`` puts it there)."""
    from nbgrader.api import Gradebook, MissingEntry

    from .ready import not_in_gradebook

    _tools_on_path()
    with Gradebook(db_url) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise GradebookError(not_in_gradebook(db_url, assignment)) from None


def _timestamp(submitted_dir: Path):
    """``(time, problem)``: the submission time nbgrader's ``collect`` wrote (None if there is
    no file), and what is wrong with the file if it cannot be used. The file is in the student's folder:
    it is read only if it is a small regular file (a FIFO there would block an ordinary read
    forever; a link could point anywhere), opened without following links or blocking."""
    from ..notebook import read_regular_file

    path = submitted_dir / "timestamp.txt"
    if not os.path.lexists(path):
        return None, ""
    try:
        text = read_regular_file(path, limit=256)
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    try:
        from nbgrader.utils import parse_utc

        return parse_utc(text.decode("utf-8", "replace").strip()), ""
    except Exception as exc:  # noqa: BLE001 - a bad timestamp file must not stop grading
        return None, f"is not a time nbgrader can read ({type(exc).__name__})"


class _Batched:
    """The gradebook's database session, with ``commit`` doing nothing: nbgrader's
    preprocessors commit after every cell; we flush after each preprocessor and commit once
    per notebook."""

    def __init__(self, session) -> None:
        self._session = session

    def commit(self) -> None:
        pass

    def __getattr__(self, name):
        return getattr(self._session, name)


class _Shared:
    """Our one open Gradebook, handed to nbgrader's preprocessors in place of the new one each
    would open (opening one runs alembic: about a second). ``SaveAutoGrades`` looks up each
    cell's grade and comment with a seven-table join; here they are read with one query each
    per notebook, and nbgrader's own lookup answers anything else (e.g. task cells)."""

    def __init__(self, gb, notebook: str, assignment: str, student: str) -> None:
        self._gb = gb
        self.db = _Batched(gb.db)
        self._key = (notebook, assignment, student)
        self._grades = self._comments = None

    def __call__(self, *args, **kwargs) -> "_Shared":
        return self

    def _load(self) -> None:
        from nbgrader.api import Comment, Grade, GradeCell, MissingEntry, SolutionCell

        self._grades, self._comments = {}, {}
        try:
            notebook = self._gb.find_submission_notebook(*self._key)
        except MissingEntry:
            return
        db = self._gb.db
        self._grades = dict(db.query(GradeCell.name, Grade)
                            .join(Grade, GradeCell.id == Grade.cell_id)
                            .filter(Grade.notebook_id == notebook.id))
        self._comments = dict(db.query(SolutionCell.name, Comment)
                              .join(Comment, SolutionCell.id == Comment.cell_id)
                              .filter(Comment.notebook_id == notebook.id))

    def find_grade(self, name: str, notebook: str, assignment: str, student: str):
        if (notebook, assignment, student) == self._key:
            if self._grades is None:
                self._load()
            if name in self._grades:
                return self._grades[name]
        return self._gb.find_grade(name, notebook, assignment, student)

    def find_comment(self, name: str, notebook: str, assignment: str, student: str):
        if (notebook, assignment, student) == self._key:
            if self._comments is None:
                self._load()
            if name in self._comments:
                return self._comments[name]
        return self._gb.find_comment(name, notebook, assignment, student)

    def __enter__(self):
        return self._gb

    def __exit__(self, *exc) -> None:
        return None

    def __getattr__(self, name):
        return getattr(self._gb, name)


class Writer:
    """Stores results as they come, through nbgrader's own preprocessors (``SaveAutoGrades``
    for the grade cells' scores and the "No response." comments, ``AssignLatePenalties`` for
    the course's late-submission policy from its ``nbgrader_config.py``), with one gradebook
    connection for the whole run."""

    def __init__(self, db_url: str, spec, source_nb: Path, course: Path) -> None:
        from nbgrader.api import Gradebook
        from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades
        from traitlets.config import Config
        from traitlets.config.loader import PyFileConfigLoader

        _tools_on_path()
        self.spec, self.source_nb, self.course, self.db_url = spec, source_nb, course, db_url
        self.gb = Gradebook(db_url)
        config = Config()
        self.notes: list = []  # for the run's report
        if (course / "nbgrader_config.py").exists():
            try:
                config = PyFileConfigLoader("nbgrader_config.py", str(course)).load_config()
            except Exception as exc:  # noqa: BLE001 - told in the report, defaults used
                config = Config()
                self.notes.append(clean_text(
                    f"the course's nbgrader_config.py could not be loaded "
                    f"({type(exc).__name__}: {exc}); grades were written with nbgrader's "
                    f"defaults (no late penalty, for one): fix it and run again with --force")
                    [:500])
        self.steps = [SaveAutoGrades(config=config), AssignLatePenalties(config=config)]

    def __enter__(self) -> "Writer":
        return self

    def _source(self):
        """The source notebook, read once per run (a fresh copy for each submission: from its
        JSON, several times faster than a deep copy)."""
        if not hasattr(self, "_parsed"):
            parsed = nbformat.read(str(self.source_nb), as_version=4)
            self._parsed = json.dumps(parsed)
            from nbgrader.api import MissingEntry

            self._checksums = {}
            for cell in parsed.cells:
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("solution") or meta.get("task"):
                    try:
                        self._checksums[meta["grade_id"]] = self.gb.find_source_cell(
                            meta["grade_id"], self.spec.name, self.spec.name).checksum
                    except MissingEntry:
                        pass
        return nbformat.from_dict(json.loads(self._parsed))

    def __exit__(self, *exc) -> None:
        self.gb.close()

    def rollback(self) -> None:
        """Forget what a failed :meth:`record` left uncommitted."""
        try:
            self.gb.db.rollback()
        except Exception:  # noqa: BLE001 - the next record starts a new transaction anyway
            pass

    def has(self, result) -> bool:
        """Whether the gradebook holds this result (the submission, its automatic scores
        adding up to this score): a result from an earlier run is reused only then. A recreated
        gradebook, or another one, does not, and the notebook is graded again."""
        try:
            sub = self.gb.find_submission(self.spec.name, result.student)
            auto = sum(float(g.auto_score or 0.0) for nb in sub.notebooks for g in nb.grades)
        except Exception:  # noqa: BLE001 - MissingEntry, or unsure: grade again
            return False
        return abs(auto - float(result.score)) < 1e-9

    def final_scores(self, students) -> dict:
        """``{student: Final}``: each student's score as the gradebook has it now, with
        nbgrader's late penalty and any manual grades applied (what ``nbgrader export`` and
        formgrader show). Students it does not hold are left out. One query for the class."""
        from nbgrader.api import Assignment, SubmittedAssignment

        from ..grading.reports import Final

        wanted = set(students)
        query = (self.gb.db.query(SubmittedAssignment.student_id, SubmittedAssignment.score,
                                  SubmittedAssignment.late_submission_penalty)
                 .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
                 .filter(Assignment.name == self.spec.name))
        if len(wanted) == 1:
            query = query.filter(SubmittedAssignment.student_id == next(iter(wanted)))
        out = {}
        for student, score, penalty in query:
            if student in wanted:
                penalty = float(penalty or 0.0)
                out[student] = Final(max(0.0, float(score or 0.0) - penalty), penalty)
        return out

    def record(self, result) -> Path:
        """Store one result (committed at once); returns the autograded notebook's path."""
        import nbgrader.preprocessors.latesubmissions as late
        import nbgrader.preprocessors.saveautogrades as save

        spec, gb = self.spec, self.gb
        gb.update_or_create_student(result.student)
        kwargs = {}
        stamp, problem = _timestamp(Path(result.notebook).parent)
        if stamp is not None:
            kwargs["timestamp"] = stamp
        if problem:  # told, never silently "on time"
            result.isolation.append(clean_text(
                f"{result.student}: timestamp.txt {problem}; the submission was recorded "
                f"without a submission time, so no late penalty applies to it")[:500])
        gb.update_or_create_submission(spec.name, result.student, **kwargs)
        nb = autograded_notebook(spec, result, self._source())
        for cell in nb.cells:  # the released cells' checksums, as nbgrader's OverwriteCells
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade_id") in self._checksums:
                meta["checksum"] = self._checksums[meta["grade_id"]]
        resources = {"nbgrader": {"notebook": spec.name, "assignment": spec.name,
                                  "student": result.student, "db_url": self.db_url}}
        shared = _Shared(gb, spec.name, spec.name, result.student)
        saved = save.Gradebook, late.Gradebook
        save.Gradebook = late.Gradebook = shared
        try:
            with gb.db.no_autoflush:  # one flush and one commit per notebook, not per cell
                for step in self.steps:
                    nb, resources = step.preprocess(nb, resources)
                    gb.db.flush()  # the next step's queries (a submission's score) see it
        finally:
            save.Gradebook, late.Gradebook = saved
        gb.db.commit()
        out = self.course / "autograded" / result.student / spec.name / f"{spec.name}.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        # Written as compact JSON without nbformat's validation or its line-splitting deep
        # copy (together most of the time spent here): the notebook is the validated source
        # with outputs of two fixed forms, a source may be one string in nbformat 4, and the
        # tests validate what this writes and generate feedback from it with nbgrader.
        out.write_text(json.dumps(nb, sort_keys=True, ensure_ascii=False) + "\n",
                       encoding="utf-8", errors="replace")
        return out


def autograded_notebook(spec, result, source):
    """The source notebook (a path, or a parsed copy that is modified) with the student's
    solution cells and the checks' output."""
    from ..grading.submissions import clean_text
    from ..notebook import read_regular_file

    if isinstance(source, (str, Path)):
        source = nbformat.read(str(source), as_version=4)
    student_cells = {}
    outputs = {}  # grade_id, or ("source", text) for an ungraded cell -> the student's outputs
    try:
        submitted = json.loads(read_regular_file(Path(result.notebook)).decode("utf-8"))
        for cell in submitted.get("cells", []):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            gid = meta.get("grade_id")
            src = cell.get("source", "")
            src = clean_text("".join(map(str, src)) if isinstance(src, list) else str(src))
            if meta.get("solution") and isinstance(gid, str):  # the last one wins, as in Python
                # "\ud800" in the JSON: nbgrader's checksum and the file need encodable text
                student_cells[gid] = src
            if cell.get("cell_type") == "code" and not meta.get("grade"):
                outputs[gid if meta.get("solution") and isinstance(gid, str)
                        else ("source", src)] = _outputs(cell.get("outputs"))
    except Exception:  # noqa: BLE001 - unreadable: the feedback shows the notes instead
        pass
    tiers = {f"{gf.name}_{t}": (gf, t) for gf in spec.functions for t in (PUBLIC, HIDDEN)}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if meta.get("solution"):
            cell.source = student_cells.get(gid, "# (this cell is missing from the submission)")
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        # The student's own outputs (training curves, prints) stay where they ran: a solution
        # cell's by its id, an ungraded cell's if the student left its code as released.
        cell.outputs = [] if meta.get("grade") and not meta.get("solution") else \
            outputs.get(gid if meta.get("solution") else ("source", cell.source), [])
        if gid in tiers:
            gf, tier = tiers[gid]
            fr = result.functions[gf.name]
            if fr.passed.get(tier):
                cell.outputs = [_output(output_type="stream", name="stdout",
                                        text=f"\u2713 {gf.name}: all {tier} checks passed.\n")]
            else:
                lines = [f.render() for f in fr.failures_of(tier)] or ["not graded"]
                if fr.review:
                    lines.append(f"To review: {fr.review}.")
                text = "\n".join(lines)
                cell.outputs = [_output(output_type="error", ename="AssertionError",
                                        evalue=text, traceback=text.splitlines())]
    if result.notes:
        source.cells.insert(0, nbformat.v4.new_markdown_cell(
            "**Running your notebook:**\n\n" + "\n".join(f"- `{_code(n)}`" for n in result.notes)))
    source.metadata["autograder"] = {"graded": datetime.datetime.now().isoformat(timespec="seconds")}
    return source


MAX_OUTPUT_BYTES = 2**20  # of one cell's outputs kept in the autograded notebook
_MIME = re.compile(r"[\w.+-]+/[\w.+-]+\Z", re.ASCII)
_JSON_MIME = re.compile(r"application/(.*\+)?json\Z")  # nbformat: these hold JSON, not text


def _outputs(raw) -> list:
    """A submitted cell's outputs that are well formed (nbformat 4), as text that can be
    encoded; none if they are malformed or larger than ``MAX_OUTPUT_BYTES`` together. They are
    what nbgrader's own autograde keeps, and what its feedback and formgrader show."""
    if not isinstance(raw, list):
        return []
    kept = []
    for out in raw:
        if not isinstance(out, dict):
            return []
        kind = out.get("output_type")
        if kind == "stream":
            fields = {"name": "stdout" if out.get("name") != "stderr" else "stderr",
                      "text": _text(out.get("text"))}
        elif kind in ("display_data", "execute_result"):
            data = out.get("data")
            if not isinstance(data, dict):
                return []
            fields = {"data": {k: v if _JSON_MIME.match(k) else _text(v)
                               for k, v in data.items()
                               if isinstance(k, str) and _MIME.match(k)
                               and (isinstance(v, (dict, list)) or not _JSON_MIME.match(k))},
                      "metadata": {}}
            if kind == "execute_result":
                fields["execution_count"] = None
        elif kind == "error":
            tb = out.get("traceback")
            fields = {"ename": _text(out.get("ename")), "evalue": _text(out.get("evalue")),
                      "traceback": [_text(t) for t in tb] if isinstance(tb, list) else []}
        else:
            return []
        kept.append(dict(fields, output_type=kind))
    text = clean_text(json.dumps(kept, ensure_ascii=False))
    if len(text.encode("utf-8", "replace")) > MAX_OUTPUT_BYTES:
        return []
    return [_output(**o) for o in json.loads(text)]


def _text(value) -> str:
    if isinstance(value, list):
        return "".join(map(str, value))
    return "" if value is None else str(value)


def _output(**fields):
    """A code cell's output (``nbformat.v4.new_output`` without validating each one)."""
    return nbformat.NotebookNode(fields)


def _code(text: str) -> str:
    """Text shown verbatim inside a Markdown code span (no markup, no HTML)."""
    return " ".join(str(text).replace("`", "\u2032").split())

"""The results of grading, typed end to end: a failure, a function's result, a submission's.

They cross process boundaries (grading worker → run → ledger, reports, gradebook, feedback) as
JSON via ``to_json`` / ``from_json``; nothing downstream parses message text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum

NOT_GRADED = "not graded"  # the tier of a failure that stopped grading before any check ran


class Status(StrEnum):
    """How running a submission went (a ``str``: JSON and comparisons with text still work)."""

    OK = "ok"
    UNREADABLE = "unreadable"  # not a notebook that can be read: the student's file
    TIMEOUT = "timeout"  # ran out of its time before every function was graded
    CRASHED = "crashed"  # a cell ended the student's process at least once
    ERROR = "error"  # the grader's own fault: never recorded, graded again next run

    @classmethod
    def of(cls, value) -> "Status":
        """A status read from a worker or a ledger; anything unknown is the grader's error."""
        try:
            return cls(value)
        except ValueError:
            return cls.ERROR


@dataclass(frozen=True)
class Failure:
    """One failed check: its tier ("public", "hidden", or ``NOT_GRADED``), the check's
    description, and the teaching message."""

    tier: str
    check: str
    text: str

    def render(self) -> str:
        return f"[{self.tier}: {self.check}] {self.text}" if self.check else self.text


@dataclass
class FunctionResult:
    name: str
    score: int
    max_score: int
    failures: list = field(default_factory=list)  # of Failure
    passed: dict = field(default_factory=dict)  # tier -> bool
    review: str = ""  # "reread “…” in the book (…)"; set when something failed
    review_url: str = ""  # the section's address in that sentence (a link in the feedback)

    @property
    def messages(self) -> list:
        """Rendered failures, then where to review: what a person reads."""
        out = [f.render() for f in self.failures]
        if out and self.review:
            out.append(f"To review: {self.review}.")
        return out

    def failures_of(self, tier: str) -> list:
        """Failures for one tier's grade cell (plus those that stopped grading altogether)."""
        return [f for f in self.failures if f.tier in (tier, NOT_GRADED)]

    def to_json(self) -> dict:
        return {"name": self.name, "score": self.score, "max_score": self.max_score,
                "passed": dict(self.passed), "review": self.review,
                "review_url": self.review_url,
                "failures": [asdict(f) for f in self.failures], "messages": self.messages}

    @classmethod
    def from_json(cls, data: dict) -> "FunctionResult":
        return cls(name=data["name"], score=int(data["score"]),
                   max_score=int(data["max_score"]), passed=dict(data.get("passed", {})),
                   review=data.get("review", ""), review_url=data.get("review_url", ""),
                   failures=[Failure(**f) for f in data.get("failures", [])])


@dataclass
class SubmissionResult:
    student: str
    notebook: str
    score: int
    max_score: int
    functions: dict = field(default_factory=dict)  # name -> FunctionResult
    notes: list = field(default_factory=list)  # problems running the notebook itself
    status: Status = Status.OK
    sha256: str = ""
    seconds: float = 0.0  # wall-clock time for this notebook
    check_seconds: float = 0.0  # of which inside the checks
    cell_seconds: float = 0.0  # of which running the notebook's own cells (the student's code)
    isolation: list = field(default_factory=list)  # for the instructor: what the sandbox lacked
    skipped: bool = False  # taken from the ledger: unchanged since it was graded

    def __post_init__(self) -> None:
        self.status = Status.of(self.status)

    def to_json(self) -> dict:
        data = asdict(self)
        data["status"] = str(self.status)
        data["functions"] = {k: v.to_json() for k, v in self.functions.items()}
        return data

    @classmethod
    def from_json(cls, data: dict) -> "SubmissionResult":
        known = cls.__dataclass_fields__
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["functions"] = {k: FunctionResult.from_json(v)
                               for k, v in data.get("functions", {}).items()}
        return cls(**kwargs)

"""Progress of a grading run: a one-line bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time

from .submissions import terminal_text


class Progress:
    def __init__(self, total: int, stream=None) -> None:
        self.total, self.done, self.skipped = total, 0, 0
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.monotonic()

    def update(self, result) -> None:
        self.done += 1
        self.skipped += bool(result.skipped)
        graded = self.done - self.skipped
        elapsed = time.monotonic() - self.started
        rate = graded / elapsed if elapsed > 0 and graded else 0.0
        left = self.total - self.done
        eta = f"{left / rate:.0f} s" if rate else "?"
        tag = "unchanged, skipped" if result.skipped else result.status
        student = terminal_text(result.student)  # a folder name can hold escape sequences
        line = (f"[{self.done}/{self.total}] {student}: {result.score}/{result.max_score} "
                f"({tag})")
        if self.tty:
            width = 24
            filled = int(width * self.done / max(self.total, 1))
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r\033[K[{bar}] {self.done}/{self.total}  {rate * 60:.0f}/min  "
                              f"ETA {eta}  last: {student} {result.score}/"
                              f"{result.max_score} ({tag})")
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(f"{line}  [{rate * 60:.0f}/min, ETA {eta}]\n")
        self.stream.flush()

"""Ctrl-C during a grading run: it stops the run between two results, never inside one.

A result is recorded in steps (the gradebook, the feedback files, the progress line, then the
ledger that makes a rerun resume). An interrupt that landed between the progress line and the
ledger would print "interrupted after N" while the Nth result was not kept; held here until
the result is fully recorded, it is raised right after.
"""

from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def uninterrupted():
    """Hold SIGINT for the duration of the block, then deliver it (main thread only: signal
    handlers can be set nowhere else, and only the main thread receives them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held and callable(previous):
            previous(signal.SIGINT, held[0])

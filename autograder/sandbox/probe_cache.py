"""The isolation probe's answer, remembered on disk for ``autograder check``.

Probing (:func:`autograder.sandbox.isolation.detect`) starts a sandbox and imports the grader in
it: half a second or more of every student's check. What it finds depends only on the machine,
so the answer is kept in the user's cache folder (``$XDG_CACHE_HOME/autograder``, else
``~/.cache/autograder``), keyed by everything it depends on: the interpreter, the grader's
package, the bwrap binary (its path, size and modification time: a new version is a new file),
the kernel and the user. Anything unexpected — no cache folder, an unreadable or malformed
file, another key — means probing again; and a sandbox that then fails to start makes the
caller forget the answer and probe afresh (:func:`forget`). Grading a class always probes.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from .isolation import PACKAGE, Isolation, bwrap_binary, detect

FILE = "isolation.json"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "autograder"


def key() -> dict:
    """What the probe's answer depends on."""
    binary = bwrap_binary()
    try:
        st = os.stat(binary) if binary else None
    except OSError:
        st = None
    uname = os.uname()
    return {"python": os.path.realpath(sys.executable), "package": str(PACKAGE),
            "bwrap": [binary, st.st_size, st.st_mtime_ns] if st else None,
            "kernel": [uname.release, uname.version], "euid": os.geteuid(),
            "force": os.environ.get("AUTOGRADER_ISOLATION") or None}


def cached_detect() -> tuple:
    """``(isolation, from_cache)``: the remembered answer for this machine, or a fresh probe
    (then remembered)."""
    if not sys.platform.startswith("linux") or os.environ.get("AUTOGRADER_ISOLATION") == "none":
        return detect(), False  # no probe to save
    path = cache_dir() / FILE
    want = key()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("key") == want:
            return Isolation.from_json(data["isolation"]), True
    except (OSError, ValueError, TypeError, KeyError):
        pass  # none yet, or unusable: probe
    iso = detect()
    if iso.mode != "none":
        # Only a sandbox that started is remembered: a failed probe may have been a passing
        # failure (a loaded machine), and is cheap to repeat when bwrap is missing.
        _save(path, {"key": want, "isolation": iso.to_json()})
    return iso, False


def forget() -> None:
    """Drop the remembered answer (the sandbox it promised did not start)."""
    try:
        (cache_dir() / FILE).unlink()
    except OSError:
        pass


def _save(path: Path, data: dict) -> None:
    """Write atomically (a concurrent check reads the old file or the new one); a cache that
    cannot be written only costs the next check a probe."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".isolation-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except OSError:
        pass

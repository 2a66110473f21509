"""Operating-system limits for a student's process, applied right after it is forked.

What is applied, in order, and what happens where the OS does not allow it:

* its own session and process group (so the whole group can be killed), and death with its parent;
* new mount and network namespaces (as root directly, otherwise through a user namespace; where
  neither is allowed, e.g. in some containers, this step is skipped and reported);
* in the new mount namespace, the directories that must stay secret — the solutions, the course
  directory with the gradebook and other students' submissions, the repository's tests and
  history — are covered by empty tmpfs mounts, and a private, size-limited tmpfs becomes the
  working directory;
* resource limits: address space, CPU seconds, number of processes, file size, open files, no
  core dumps;
* as root, a switch to an unprivileged user id (so the process limit really applies and files
  readable only by root are out of reach), and ``no_new_privs``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
from dataclasses import asdict, dataclass

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


@dataclass
class Limits:
    memory_mb: int = 2048  # address space on top of what the interpreter already maps
    cpu_seconds: int = 600
    processes: int = 32
    file_mb: int = 64
    open_files: int = 256
    workdir_mb: int = 64

    def to_json(self) -> dict:
        return asdict(self)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(_libc.mount(source.encode() if source else None, target.encode(),
                       fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                       data.encode() if data else None), f"mount {target}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def _unshare() -> str:
    """New mount + network namespaces; returns how, or raises OSError."""
    if os.geteuid() == 0:
        _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
        return "root"
    uid, gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET), "unshare")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    return "user namespace"


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _hide(path: str, keep: list, notes: list) -> None:
    """Cover ``path`` with something empty, sparing the ``keep`` paths below it."""
    if not os.path.lexists(path) or os.path.islink(path):
        return
    if any(_is_within(k, path) for k in keep):
        try:
            children = os.listdir(path)
        except OSError:
            return
        for child in children:
            _hide(os.path.join(path, child), keep, notes)
        return
    try:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", 0, "size=4k,mode=0555")
        else:
            _mount("/dev/null", path, None, MS_BIND, None)
    except OSError as exc:
        notes.append(f"could not hide {path}: {exc.strerror}")


def confine(*, hide: list, keep: list, workdir: str, uid: int | None, limits: Limits) -> list:
    """Apply everything above to the calling (just forked, single-threaded) process.

    Returns notes on what could not be applied; raises only if the process cannot be made safe
    enough to continue (it then exits without running student code).
    """
    notes: list = []
    os.setsid()
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    keep = [os.path.realpath(k) for k in keep]
    hide = [os.path.realpath(h) for h in hide if h]
    namespaced = False
    try:
        _unshare()
        _mount("", "/", None, MS_REC | MS_PRIVATE, None)
        namespaced = True
    except OSError as exc:
        notes.append(f"no private mount/network namespace ({exc.strerror}); the solutions and "
                     f"the course directory are not hidden and the network is reachable")
    if namespaced:
        for path in hide:
            _hide(path, keep, notes)
        try:
            _mount("tmpfs", workdir, "tmpfs", 0, f"size={limits.workdir_mb}m,mode=0700")
        except OSError as exc:
            notes.append(f"no private tmpfs working directory ({exc.strerror})")
    if uid is not None and os.geteuid() == 0:
        os.chown(workdir, uid, uid)
    os.chdir(workdir)

    soft_as = _mapped_bytes() + limits.memory_mb * 2**20
    for res, value in ((resource.RLIMIT_AS, soft_as),
                       (resource.RLIMIT_CPU, limits.cpu_seconds),
                       (resource.RLIMIT_NPROC, limits.processes),
                       (resource.RLIMIT_FSIZE, limits.file_mb * 2**20),
                       (resource.RLIMIT_NOFILE, limits.open_files),
                       (resource.RLIMIT_CORE, 0)):
        try:
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError) as exc:
            notes.append(f"could not set {res}: {exc}")
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails, it doesn't kill

    if uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    return notes


def _mapped_bytes() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 2 * 2**30


def processes_of(uid: int) -> list:
    """PIDs of every process running as ``uid`` (to sweep up what a student left behind)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                for line in fh:
                    if line.startswith("State:") and line.split()[1] in ("Z", "X"):
                        break  # dead already, waiting to be reaped
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry))
                        break
        except (OSError, ValueError):
            continue
    return pids


def kill_all(pgid: int, uid: int | None) -> None:
    """Kill a student's process group and, with a dedicated uid, every process of that uid."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if uid is None:
        return
    for _ in range(50):  # a fork bomb may still be spawning while we sweep
        pids = processes_of(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

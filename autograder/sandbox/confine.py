"""Confining one student's process, from inside the zygote's sandbox (Linux).

The zygote (:mod:`autograder.sandbox.zygote`) already lives in bubblewrap's whitelist root with
its own user, PID, IPC, network and UTS namespaces, holding only ``CAP_SYS_ADMIN`` in that user
namespace. For each student it forks a *supervisor*, which calls :func:`new_namespaces` and forks
the student's process. That process is PID 1 of a fresh PID namespace — when it dies, or is killed
from outside, everything it started dies with it — and calls :func:`confine_student`:

* a private mount namespace with a fresh size-limited tmpfs on ``/tmp`` (its working directory
  and ``$HOME``) and on ``/dev/shm`` — the only places it can write: the sandbox's root and
  ``/dev`` are read-only — and its own ``/proc`` (where the kernel refuses one, an empty
  read-only one: the sandbox's would show the grader's processes);
* resource limits: address space, CPU seconds, processes, file size, open files, no core dumps;
* then every capability is dropped (bounding, permitted, effective, inheritable and ambient sets)
  and ``no_new_privs`` is set, so it can neither unmount, remount nor mount anything, and bwrap's
  ``--disable-userns`` stops it from making a user namespace to regain them.

Without isolation (``isolated=False``) only the resource limits, a new session and a private
working directory apply; as root the process also switches to an unprivileged uid, so that the
process limit holds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import signal
from dataclasses import asdict, dataclass

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
SIOCSIFFLAGS, IFF_UP, IFF_LOOPBACK = 0x8914, 0x1, 0x8
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096
MS_REC, MS_PRIVATE = 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522



@functools.lru_cache(maxsize=None)
def _c():
    """The C library, loaded on first use (importing this module works on any OS: Limits is
    used everywhere, the rest only on Linux)."""
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


MEMORY_MB = 2048  # address space per student process, on top of what the interpreter maps


@dataclass
class Limits:
    memory_mb: int = MEMORY_MB
    cpu_seconds: int = 600
    processes: int = 32
    file_mb: int = 64
    open_files: int = 256
    workdir_mb: int = 64  # the private /tmp

    def to_json(self) -> dict:
        return asdict(self)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(_c().mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


def prctl(option: int, arg: int = 0) -> None:
    _c().prctl(option, arg, 0, 0, 0)


def die_with_parent() -> None:
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def not_dumpable() -> None:
    """No other process of the same uid may read or write this one's memory (ptrace, /proc/mem)."""
    prctl(PR_SET_DUMPABLE, 0)


def new_network() -> None:
    """Called by a worker's copy of the zygote: a network namespace of its own (no network, only
    its own loopback), so that students graded at the same time by different workers cannot
    reach each other. Raises OSError where the kernel refuses."""
    import fcntl
    import socket
    import struct

    _check(_c().unshare(CLONE_NEWNET), "unshare")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a new namespace's lo is down
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", IFF_UP | IFF_LOOPBACK))


def new_namespaces() -> None:
    """Called by the supervisor: its next child is PID 1 of new PID, mount, IPC and UTS
    namespaces (the network namespace is its worker's: no network, and nothing a student
    process bound there outlives it). Raises OSError where the kernel refuses."""
    _check(_c().unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS),
           "unshare")


def make_private() -> None:
    """Mounts and unmounts in this (new) mount namespace stay in it."""
    _mount("none", "/", None, MS_REC | MS_PRIVATE, None)


def unshare_mounts() -> None:
    """A mount namespace of this process's own. Raises OSError."""
    _check(_c().unshare(CLONE_NEWNS), "unshare")
    make_private()


def new_pid_and_mounts() -> None:
    """The next child is PID 1 of a new PID namespace, in a private mount namespace (where
    it may mount a /proc). Raises OSError."""
    _check(_c().unshare(CLONE_NEWPID | CLONE_NEWNS), "unshare")
    make_private()


def mount_proc(target: str) -> None:
    _mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)


def unmount(target: str) -> None:
    _check(_c().umount2(target.encode(), 2), f"umount {target}")  # 2: MNT_DETACH


def _drop_capabilities() -> None:
    for cap in range(64):
        _c().prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last capability: fine
    _c().prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header, data = Header(_LINUX_CAPABILITY_VERSION_3, 0), (Data * 2)()
    _check(_c().capset(ctypes.byref(header), data), "capset")


def _mapped_bytes() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 2 * 2**30


def _rlimits(limits: Limits, notes: list) -> None:
    import resource

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
            notes.append(f"could not set resource limit {res}: {exc}")
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails, it doesn't kill


def confine_student(limits: Limits, *, isolated: bool, workdir: str | None = None,
                    uid: int | None = None, rebind: list = ()) -> list:
    """Apply everything above to the calling (just forked, single-threaded) process.

    Returns notes for the instructor on what could not be applied; raises OSError if the process
    cannot be made safe (it then exits without running student code).
    """
    notes: list = []
    die_with_parent()
    if isolated:
        make_private()
        _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
               f"size={limits.workdir_mb}m,mode=0700")
        for kept, path in rebind:  # whitelisted paths below /tmp, hidden by the fresh tmpfs
            os.makedirs(path, exist_ok=True)
            _mount(kept, path, None, MS_BIND | MS_REC, None)
            try:
                _mount("none", path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID, None)
            except OSError:
                pass  # already read-only: a bind of a read-only bind
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=1777")
        try:  # a /proc that shows only this student's processes
            mount_proc("/proc")
        except OSError as exc:
            # The sandbox's /proc would show the grader's processes (the zygote, the next
            # student's process): rather none at all.
            _mount("tmpfs", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
                   "size=4k,mode=0555")
            notes.append(f"the student's process has no /proc ({exc})")
        workdir = "/tmp"
    else:
        os.setsid()  # its own process group, killed as a whole
    os.chdir(workdir or "/")
    _rlimits(limits, notes)
    if isolated:
        _drop_capabilities()
    elif uid is not None and os.geteuid() == 0:
        os.chown(workdir, uid, uid)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        die_with_parent()  # a uid change clears it
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    return notes

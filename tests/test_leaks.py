"""What students install must not contain answers (issue 19 item 8): a behavioural scan.

Every student installs the grader's package for ``autograder check``, so a complete
reference implementation of a graded function anywhere in it (an "oracle" used to
compute expected values) can be imported by a notebook or copied. This scan does not
trust names or code review. For every graded function of every assignment it records the
inputs the public checks really give (the checks run in-process against the reference
solution), then calls every package-level function and class of every module of
``autograder`` that accepts that many positional arguments on those inputs (and the
items of tuple inputs, e.g. a cache), in every order, and fails if any output reproduces
a numeric part of the reference's output on every recorded call (the smallest and the
largest: one coincidence on a small known case, e.g. 2/3, is not an oracle).

What counts is an implementation of the course's own: a function that gets the answer from
a library a student may call just as well (torch, scipy: the contract accepts solutions that
drive them) reveals nothing, and is not counted — its source calls ``torch``, ``F.`` or
``scipy``. A numpy re-implementation of a derivation (a backward pass, a receptive field by
formula) is what this scan is for.

"Reproduces" means agreement to 1e-11 of the answer's scale: a numpy re-implementation
agrees to ~1e-15, while central differences (which public checks may use, and which
students can write anyway) are off by 1e-10 or more. The comparison helpers return their
argument and are allowed; an output that equals one of the inputs is never counted
(caches hold inputs)."""

from __future__ import annotations

import copy
import importlib
import inspect
import itertools
import pkgutil
import re
import signal
import warnings

import numpy as np
import pytest

import autograder
from autograder.evaluate import run_tier
from autograder.reference import load_reference
from autograder.spec import PUBLIC, assignment_names, get_assignment

# The comparison helpers: they return (a float copy of) what they are given; and the stored
# oracle answers' codec (autograder/memo.py), which returns what it is given as JSON and back
# (its shape among the numbers: a size in a reference's cache can coincide with it).
ALLOWED = {"autograder.checks." + n for n in ("as_float_array", "as_scalar", "compare",
                                              "compare_scaled", "unpack", "check_shape",
                                              "fmt", "fmt_array", "relative_error")} | {
    "autograder.memo._encode", "autograder.memo._decode"}
# Modules that drive processes, sockets and files (their functions take paths, sockets
# and argv, and some act on the calling process, e.g. judge.main redirects stdout):
# imported, but not called with arrays. No graded function's value can come out of them.
NOT_CALLED = ("autograder.sandbox", "autograder.grading", "autograder.bridge",
              "autograder.cli", "autograder.__main__")
RTOL = 1e-11


def _import_heavy() -> None:
    """Import now what candidates import lazily: a call stopped by the time limit in the
    middle of importing torch leaves it half-initialised, and the next import crashes."""
    for name in assignment_names():
        get_assignment(name).import_modules()
    for module in ("torch", "scipy.special", "scipy.stats", "sympy"):
        try:
            importlib.import_module(module)
        except ImportError:
            pass


def package_callables() -> list:
    """(qualified name, callable) for every function and class defined at module level
    in the installed ``autograder`` package, every module imported."""
    _import_heavy()
    found = []
    for info in pkgutil.walk_packages(autograder.__path__, "autograder."):
        if info.name.endswith("__main__"):
            continue  # importing it runs the command line
        module = importlib.import_module(info.name)
        if info.name.startswith(NOT_CALLED):
            continue
        for name, obj in vars(module).items():
            if not callable(obj) or getattr(obj, "__module__", None) != module.__name__:
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            qualified = f"{module.__name__}.{name}"
            if qualified not in ALLOWED and not _library_backed(obj):
                found.append((qualified, obj))
    return found


LIBRARY_CALL = re.compile(r"\b(torch|TF|F|scipy\w*|sp|special|linalg)\.\w")


def _library_backed(obj, depth: int = 0) -> bool:
    """Whether the function gets its values from torch or scipy (see the module doc),
    directly or through a helper of its own module that does."""
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError):
        return False
    if LIBRARY_CALL.search(source):
        return True
    module = inspect.getmodule(obj)
    if depth > 2 or module is None:
        return False
    for called in set(re.findall(r"\b(\w+)\(", source)):
        helper = getattr(module, called, None)
        if helper is not obj and inspect.isfunction(helper) and \
                helper.__module__ == module.__name__ and _library_backed(helper, depth + 1):
            return True
    return False


def _arity(obj) -> tuple | None:
    """(required, maximum) positional arguments; None if it needs keyword-only ones."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    required, maximum = 0, 0
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            maximum += 1
            required += p.default is p.empty
        elif p.kind is p.VAR_POSITIONAL:
            maximum = 10**6
        elif p.kind is p.KEYWORD_ONLY and p.default is p.empty:
            return None
    return required, maximum


def recorded_calls(name: str) -> dict:
    """graded function -> (args, kwargs) of two calls its public checks made."""
    spec, ref = get_assignment(name), load_reference(name)
    calls: dict = {}

    def recorder(fname, fn):
        def wrapped(*args, **kwargs):
            calls.setdefault(fname, []).append(copy.deepcopy((args, kwargs)))
            return fn(*args, **kwargs)
        return wrapped

    namespace = dict(ref)
    for gf in spec.functions:
        if inspect.isfunction(ref.get(gf.name)):
            namespace[gf.name] = recorder(gf.name, ref[gf.name])
    for gf in spec.functions:
        run_tier(spec, gf, PUBLIC, namespace, ref)
    # the smallest (a known value) and the largest (random inputs) of the calls made
    return {f: [c[0], c[-1]] if len(c) > 1 else c
            for f, c in ((f, sorted(c, key=_size)) for f, c in calls.items())}


def _size(call) -> int:
    return sum(np.size(a) for a in _leaves(call))


def _leaves(obj, depth: int = 0) -> list:
    """The numeric parts of a value: arrays and numbers, in tuples, lists and dicts."""
    numeric = (np.ndarray, np.number, float, int)
    if isinstance(obj, numeric) and not isinstance(obj, bool):
        arr = np.asarray(obj)
        return [arr.astype(np.float64)] if arr.dtype.kind in "biuf" else []
    if depth < 3 and isinstance(obj, (tuple, list)):
        return [leaf for item in obj for leaf in _leaves(item, depth + 1)]
    if depth < 3 and isinstance(obj, dict):
        return [leaf for item in obj.values() for leaf in _leaves(item, depth + 1)]
    return []


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or not np.all(np.isfinite(a) | np.isnan(a)):
        return False
    scale = float(np.max(np.abs(b[np.isfinite(b)]), initial=0.0)) or 1.0
    with np.errstate(all="ignore"):
        return bool(np.all((np.abs(a - b) <= RTOL * scale) | (np.isnan(a) & np.isnan(b))
                           | (a == b)))


def _telling(leaf: np.ndarray, inputs: list) -> bool:
    """Whether reproducing this part of the answer tells anything: not an input (a cache
    holds the inputs), not constant (zeros, ones)."""
    if leaf.size == 0 or np.ptp(leaf) == 0 and leaf.size > 1:
        return False
    if leaf.size == 1 and float(leaf.ravel()[0]) in (0.0, 1.0, -1.0):
        return False
    return not any(_same(leaf, x) for x in inputs)


class _Slow(BaseException):
    pass


def _call(fn, args: tuple):
    def alarm(*_):
        raise _Slow()
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return fn(*copy.deepcopy(args))
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: BLE001 - anything a wrong call does
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _argument_lists(pool: list, required: int, maximum: int):
    for k in range(max(required, 1), min(maximum, len(pool), 5) + 1):
        orders = (itertools.permutations(pool, k) if k <= 3 or len(pool) <= 4
                  else itertools.combinations(pool, k))
        yield from orders


def scan(name: str, candidates: list) -> list:
    """(candidate, graded function) pairs where the candidate reproduced the reference
    on every recorded call."""
    ref = load_reference(name)
    found = []
    for fname, calls in recorded_calls(name).items():
        hits: dict = {}
        considered = 0  # calls whose answer tells something (not 0, not an input)
        for args, kwargs in calls:
            out = _call(lambda *a: ref[fname](*a, **copy.deepcopy(kwargs)), args)
            pool = list(args) + list(kwargs.values())
            pool += [item for a in args if isinstance(a, tuple) for item in a]
            inputs = [leaf for a in pool for leaf in _leaves(a)]
            targets = [leaf for leaf in _leaves(out) if _telling(leaf, inputs)]
            if not targets:
                continue
            considered += 1
            for qualified, obj in candidates:
                arity = _arity(obj)
                if arity is None:
                    continue
                for arg_list in _argument_lists(pool, *arity):
                    got = _call(obj, arg_list)
                    if got is None:
                        continue
                    if any(_same(g, t) for g in _leaves(got) for t in targets):
                        hits[qualified] = hits.get(qualified, 0) + 1
                        break
        found += [(qualified, fname) for qualified, n in hits.items()
                  if n == considered]
    return sorted(set(found))


@pytest.fixture(scope="module")
def candidates():
    return package_callables()


_FOUND: dict = {}


def _found(name: str, candidates: list) -> list:
    if name not in _FOUND:
        _FOUND[name] = scan(name, candidates)
    return _FOUND[name]


def _report(found: list) -> str:
    return ("the grader's package computes graded functions' answers: "
            + ", ".join(f"{c} reproduces {f}" for c, f in found))


@pytest.mark.parametrize("name", assignment_names())
def test_no_package_function_reproduces_a_graded_function(name, candidates):
    found = _found(name, candidates)
    assert not found, _report(found)


def test_the_scan_finds_a_planted_oracle(candidates, monkeypatch):
    """The scan can fail: a numpy entropy hidden in a module of the package is found."""
    import autograder.checks as module

    def _tidy_weights(p, base=np.e):  # a "helper" that is the reference's entropy
        p = np.asarray(p, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
        return -terms.sum(-1) / np.log(base)

    _tidy_weights.__module__ = module.__name__
    monkeypatch.setattr(module, "_tidy_weights", _tidy_weights, raising=False)
    planted = [c for c in package_callables() if c[0].endswith("._tidy_weights")]
    assert planted, "the planted function is not among the candidates"
    found = scan("01_information", planted)
    assert ("autograder.checks._tidy_weights", "entropy") in found

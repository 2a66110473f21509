"""Building blocks for checks: calling student code safely and comparing what it returns.

A check is a plain function ``check(ctx)`` that returns on success and raises
:class:`CheckFailure` with a message written for the student on failure. Everything here exists
so that those messages teach: they say what was expected and what was received (a shape, a value,
a relative error) — and, for hidden checks, never the hidden inputs or the reference's outputs.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .harness import Probe, get_program, program_name, resolve_probes



class CheckFailure(Exception):
    """A check failed; ``str(exc)`` is the message shown to the student."""


class NotImplementedYet(CheckFailure):
    """The function still raises NotImplementedError (the untouched stub)."""


class ProcessCrashed(CheckFailure):
    """Calling the function killed the student's process: checking it further would only
    crash again."""


def fmt(x: Any, precision: int = 6) -> str:
    """A short, readable rendering of a value for a message (arrays are summarised)."""
    if isinstance(x, np.ndarray):
        if x.size > 12:
            return f"array of shape {x.shape}"
        text = np.array2string(x, precision=precision, suppress_small=False, separator=", ",
                               max_line_width=10_000)
        return " ".join(text.split())  # one line, even for 2-D arrays
    if isinstance(x, (float, np.floating)) and float(x) == np.e:
        return "np.e"
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.{precision}g}"
    if isinstance(x, tuple):
        return "(" + ", ".join(fmt(v, precision) for v in x) + ("," if len(x) == 1 else "") + ")"
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."


def describe_type(x: Any) -> str:
    kind = getattr(x, "kind", None) if type(x).__name__ == "Remote" else None
    if kind is not None:  # an object kept in the student's process (autograder.codec.Remote)
        return f"an object of type {kind}"
    if isinstance(x, np.ndarray):
        return f"a {x.dtype} array of shape {x.shape}"
    return f"a {type(x).__name__}"


class StudentError(Exception):
    """What went wrong when student code was called, in a form that can cross processes.

    ``kind`` is one of: missing, not_callable, not_implemented, exit, recursion, exception,
    mutated, failure (a program's own message), crashed, unsendable, timeout.
    """

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind, detail)
        self.kind, self.detail = kind, detail


class LocalBackend:
    """Calls student objects in this process. The grader's sandboxed student process uses this
    too, on its side of the connection (see :mod:`autograder.sandbox`)."""

    def __init__(self, namespace: dict) -> None:
        self.namespace = namespace

    def function(self, name: str) -> Callable:
        obj = self.namespace.get(name)
        if obj is None:
            raise StudentError("missing")
        if not callable(obj):
            raise StudentError("not_callable", describe_type(obj))
        return obj

    def invoke(self, name: str, args: tuple, kwargs: dict) -> Any:
        """Call the student's function on exactly these arguments (probes resolved)."""
        f = self.function(name)
        return _guarded(lambda: f(*resolve_probes(args), **resolve_probes(kwargs)))

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        """Call on deep copies of the inputs and check that none was modified."""
        originals = copy.deepcopy((args, kwargs))
        call_args, call_kwargs = copy.deepcopy((args, kwargs))
        out = self.invoke(name, call_args, call_kwargs)
        if not same(call_args, originals[0]) or not same(call_kwargs, originals[1]):
            raise StudentError("mutated")
        return out

    def run(self, program: str, args: tuple) -> Any:
        fn = get_program(program)
        return _guarded(lambda: fn(self.namespace, *resolve_probes(copy.deepcopy(args))))


def _guarded(thunk: Callable) -> Any:
    try:
        return thunk()
    except NotImplementedError:
        raise StudentError("not_implemented") from None
    except CheckFailure as exc:
        raise StudentError("failure", str(exc)) from None
    except SystemExit:
        raise StudentError("exit") from None
    except RecursionError:
        raise StudentError("recursion") from None
    except Exception as exc:  # noqa: BLE001 - any student error becomes feedback
        raise StudentError("exception", f"{type(exc).__name__}: {_short(exc)}") from None


@dataclass
class Context:
    """What a check receives.

    ``student`` maps names to the student's objects (in-process grading; the sandboxed grader
    passes a ``backend`` instead), ``reference`` (hidden tier only) maps names to the reference
    solution's objects, ``rng`` is a seeded numpy Generator and ``hidden`` says whether inputs
    must be kept out of messages. Checks reach student code only through :meth:`call` and
    :meth:`run`.
    """

    student: dict | None = None
    reference: dict | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    hidden: bool = False
    backend: Any = None

    def __post_init__(self) -> None:
        if self.backend is None:
            self.backend = LocalBackend(self.student if self.student is not None else {})

    def ref(self, name: str) -> Callable:
        if self.reference is None or name not in self.reference:
            raise RuntimeError(f"reference solution for {name!r} is not available")
        return self.reference[name]

    def call(self, name: str, *args, **kwargs) -> Any:
        """Call the student's function on copies of the inputs; check none was modified.

        Exceptions become a :class:`CheckFailure` naming the exception; for hidden checks the
        arguments are described by shape only.
        """
        try:
            return self.backend.call(name, args, kwargs)
        except StudentError as err:
            raise self._failure(err, f"`{name}`", self.describe_call(args, kwargs),
                                name) from None

    def run(self, program, *args) -> Any:
        """Run the harness program ``program(namespace, *args)`` next to the student's code.

        See :mod:`autograder.harness`. Errors raised by student objects inside the program
        become a :class:`CheckFailure`, as in :meth:`call`.
        """
        name = program_name(program)  # an unknown program is the author's error, raised here
        try:
            return self.backend.run(name, args)
        except StudentError as err:
            raise self._failure(err, "your code", "while being checked", None) from None

    def _failure(self, err: StudentError, who: str, when: str, name: str | None) -> CheckFailure:
        kind, detail = err.kind, err.detail
        if kind == "missing":
            return CheckFailure(f"{who} is not defined: run the cell that defines it, and keep "
                                f"its name and signature exactly as given.")
        if kind == "not_callable":
            return CheckFailure(f"{who} should be a function but is {detail}.")
        if kind == "not_implemented":
            what = f"{who} is" if name else "this is"
            return NotImplementedYet(f"{what} not implemented yet (it raises "
                                     f"NotImplementedError).")
        if kind == "failure":
            return CheckFailure(detail)
        if kind == "exit":
            return CheckFailure(f"{who} called sys.exit() or exit() {when}.")
        if kind == "recursion":
            return CheckFailure(f"{who} recursed without end (RecursionError) {when}.")
        if kind == "mutated":
            return CheckFailure(f"{who} modified its input in place {when}; functions in this "
                                f"course must leave their arguments unchanged (work on a copy).")
        if kind == "crashed":
            return ProcessCrashed(f"{who} crashed the Python process ({detail}) {when}.")
        if kind == "unsendable":
            return CheckFailure(f"{who} returned something the grader cannot receive ({detail}) "
                                f"{when}.")
        return CheckFailure(f"{who} raised {detail} {when}.")

    def describe_call(self, args: tuple, kwargs: dict) -> str:
        parts = [_describe_arg(a, self.hidden) for a in args]
        parts += [f"{k}={_describe_arg(v, self.hidden)}" for k, v in kwargs.items()]
        return "when called with (" + ", ".join(parts) + ")"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else "(no message)"
    return text if len(text) <= 200 else text[:197] + "..."


def _describe_arg(a: Any, hidden: bool, depth: int = 0) -> str:
    if isinstance(a, np.ndarray):
        if hidden or a.size > 12:
            return f"<{a.dtype} array of shape {a.shape}>"
        return fmt(a)
    if hidden and isinstance(a, (float, int, np.number)) and not isinstance(a, bool):
        return f"<{type(a).__name__}>"
    # Containers (e.g. a cache returned by a forward) are described item by item, so that hidden
    # inputs inside them stay hidden and arrays stay on one line.
    if isinstance(a, (tuple, list, dict)) and depth < 2:
        items = list(a.items()) if isinstance(a, dict) else list(enumerate(a))
        parts = [(f"{k!r}: " if isinstance(a, dict) else "") + _describe_arg(v, hidden, depth + 1)
                 for k, v in items[:6]] + (["..."] if len(items) > 6 else [])
        inner = ", ".join(parts)
        if isinstance(a, dict):
            return "{" + inner + "}"
        return f"[{inner}]" if isinstance(a, list) else f"({inner}{',' if len(a) == 1 else ''})"
    plain = isinstance(a, (str, bool, type(None), Probe))
    if isinstance(a, (tuple, list, dict)) or (hidden and not plain):
        return f"<{type(a).__name__}>"
    return fmt(a)


def same(a: Any, b: Any, depth: int = 0) -> bool:
    """Whether ``a`` (an argument after the call) still equals ``b`` (a copy taken before)."""
    if depth > 20:  # a deeply nested or cyclic object: assume unchanged
        return True
    if isinstance(a, Probe) and isinstance(b, Probe):
        return a.name == b.name and same(a.params, b.params, depth + 1)
    if type(a).__name__ == "Remote" and type(b).__name__ == "Remote":
        return True  # an object kept in the student's process: the grader cannot look inside
    if isinstance(a, np.random.Generator) and isinstance(b, np.random.Generator):
        return True  # drawing numbers advances a generator's state: that is using it, not misuse
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if type(a).__name__ == "Tensor" and type(b).__name__ == "Tensor":
        import torch

        return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(same(x, y, depth + 1) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], depth + 1) for k in a)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        if bool(a == b):
            return True
    except Exception:  # noqa: BLE001 - e.g. a dataclass holding arrays
        pass
    # Objects without a useful __eq__ (e.g. a cache object a forward returned, deep-copied by
    # the check): compare their attributes.
    if type(a) is type(b) and hasattr(a, "__dict__") and hasattr(b, "__dict__"):
        return same(vars(a), vars(b), depth + 1)
    return False


# ---------------------------------------------------------------------------------------------
# Converting and comparing outputs


def as_float_array(x: Any, what: str) -> np.ndarray:
    """Convert a returned value to a float64 array, or fail with a message saying what came back."""
    if isinstance(x, (str, bytes)) or x is None or isinstance(x, dict):
        raise CheckFailure(f"{what} should be a number or a NumPy array, but it is "
                           f"{describe_type(x)} ({fmt(x)}).")
    try:
        arr = np.array(x, dtype=np.float64)  # a copy: later checks cannot be fooled by aliasing
    except Exception:  # noqa: BLE001
        raise CheckFailure(f"{what} should be a number or a NumPy array, but it is "
                           f"{describe_type(x)} and cannot be converted to one.") from None
    return arr


def as_scalar(x: Any, what: str) -> float:
    arr = as_float_array(x, what)
    if arr.shape != ():
        if arr.size == 1:
            raise CheckFailure(f"{what} should be a scalar (a Python float or a 0-d array), "
                               f"but it has shape {arr.shape}. Use `float(...)` or drop the extra "
                               f"axis.")
        raise CheckFailure(f"{what} should be a scalar, but it has shape {arr.shape}.")
    return float(arr)


def unpack(x: Any, n: int, what: str, names: str) -> tuple:
    """Check that a function returned a tuple of ``n`` things (named in ``names``)."""
    if not isinstance(x, (tuple, list)) or len(x) != n:
        got = (f"a {type(x).__name__} of length {len(x)}" if isinstance(x, (tuple, list))
               else describe_type(x))
        raise CheckFailure(f"{what} should return a tuple {names} of {n} items, but it returned "
                           f"{got}.")
    return tuple(x)


def check_shape(arr: np.ndarray, shape: tuple, what: str, hint: str = "") -> None:
    if arr.shape != tuple(shape):
        raise CheckFailure(f"{what} should have shape {tuple(shape)}, but it has shape "
                           f"{arr.shape}.{(' ' + hint) if hint else ''}")


def compare(got: Any, expected: Any, what: str, *, hidden: bool, rtol: float = 1e-7,
            atol: float = 1e-10, hint: str = "") -> np.ndarray:
    """Compare a returned value with the expected one, elementwise.

    Infinities must match exactly (+inf is part of the contract for cross-entropy and KL); NaN is
    never accepted. For hidden checks the message gives the number of wrong entries and the
    largest error, never the expected values. Returns the value as a float array.
    """
    expected = np.asarray(expected, dtype=np.float64)
    arr = as_float_array(got, what)
    check_shape(arr, expected.shape, what, hint if arr.shape != expected.shape else "")
    bad_nan = np.isnan(arr) & ~np.isnan(expected)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.isclose(arr, expected, rtol=rtol, atol=atol) | (np.isnan(arr) & np.isnan(expected))
    if ok.all():
        return arr
    n_bad, n = int((~ok).sum()), ok.size
    where = "" if n == 1 else f" ({n_bad} of {n} entries wrong)"
    if bad_nan.any():
        detail = (f"it contains NaN{where}. NaN usually comes from 0·log 0, inf − inf or an "
                  f"overflowing exp")
    elif np.isinf(expected[~ok]).any() and not np.isinf(arr[~ok]).all():
        detail = f"it is finite where the exact answer is infinite{where}"
    elif np.isinf(arr[~ok]).any():
        detail = f"it is infinite where the exact answer is finite{where}"
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            err = np.abs(arr - expected)[~ok]
            nonzero = expected[~ok] != 0
            rel = err[nonzero] / np.abs(expected[~ok][nonzero])
        # A relative error means nothing where the exact value is 0: then only the absolute one.
        relative = (f", largest relative error {float(rel.max()):.3g}" if rel.size else
                    " where the exact values are 0")
        detail = (f"values differ{where}: largest absolute error {float(err.max()):.3g}"
                  f"{relative} (tolerance rtol={rtol:g}, atol={atol:g})")
    hint = f" {hint}" if hint else ""
    if hidden:
        raise CheckFailure(f"{what} is wrong on a hidden test case: {detail}.{hint}")
    raise CheckFailure(f"{what} is wrong: {detail}.{hint}\n  expected: {fmt(expected)}\n"
                       f"  got:      {fmt(arr)}")


def fmt_array(arr: np.ndarray) -> str:
    """One line of numbers for arrays of up to 25 entries, else just the shape."""
    if arr.size > 25:
        return f"array of shape {arr.shape}"
    text = np.array2string(arr, precision=6, separator=", ", max_line_width=10_000)
    return " ".join(text.split())


def compare_scaled(got, expected, what: str, *, hidden: bool, tol: float, floor: float = 0.0,
                   hint: str = "") -> np.ndarray:
    """Entrywise comparison: |got − expected| ≤ tol · scale, scale = max(floor, max |expected|).

    For matrix-valued answers (gradients, Jacobians) where :func:`compare`'s per-entry
    relative tolerance is too strict for entries that should be 0 but come out as 1e-17.

    The error is reported against that scale, not entry by entry (relative errors of entries
    that should be 0 are meaningless). Hidden messages give only the number of wrong entries
    and the error as a fraction of the scale, so they reveal nothing about the hidden answer.
    """
    expected = np.asarray(expected, dtype=np.float64)
    arr = as_float_array(got, what)
    check_shape(arr, expected.shape, what, hint)
    scale = max(floor, float(np.abs(expected).max()) if expected.size else 0.0) or 1.0
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(arr - expected)
        bad = ~(err <= tol * scale)  # NaN counts as wrong
    if not bad.any():
        return arr
    n_bad, n = int(bad.sum()), bad.size
    where = "" if n == 1 else f" ({n_bad} of {n} entries wrong)"
    unit = ("max(1, largest |entry| of the exact answer)" if floor else
            "the largest |entry| of the exact answer")
    if np.isnan(arr).any():
        detail = (f"it contains NaN{where}; NaN comes from inf − inf, inf/inf or 0/0, e.g. after "
                  f"an exp that overflowed or underflowed")
    elif np.isinf(arr).any():
        detail = f"it contains ±inf{where}, but every entry of the exact answer is finite"
    elif hidden:
        detail = (f"values differ{where}: the largest error is {float(err.max()) / scale:.3g} "
                  f"times {unit} (allowed: {tol:g} times)")
    else:
        detail = (f"values differ{where}: the largest error is {float(err.max()):.3g}, where "
                  f"{tol * scale:.3g} is allowed ({tol:g} × {unit})")
    hint = f" {hint}" if hint else ""
    if hidden:
        raise CheckFailure(f"{what} is wrong on a hidden test case: {detail}.{hint}")
    raise CheckFailure(f"{what} is wrong: {detail}.{hint}\n  expected: {fmt_array(expected)}\n"
                       f"  got:      {fmt_array(arr)}")


def central_difference_grad(f: Callable[[np.ndarray], float], x: np.ndarray,
                            h: float = 1e-6) -> np.ndarray:
    """Gradient of a scalar function by central differences, in float64. Leaves x unchanged."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + h
        fp = f(x.copy())
        x[idx] = old - h
        fm = f(x.copy())
        x[idx] = old
        grad[idx] = (fp - fm) / (2 * h)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a − b| / max(|a| + |b|, tiny): the scale-free error used by gradient checks."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(a) + np.abs(b))), 1e-12))

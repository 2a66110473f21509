"""Check helpers shared by the assignments of chapters 04–06 (convolutions, recurrent
networks, attention). The leading underscore keeps this module out of assignment discovery
(it defines no ``ASSIGNMENT``; :func:`autograder.spec._discover` registers only modules that
do).

Nothing here re-implements a graded function: the grader package ships to every student, so
expected values come from the reference notebook (``ctx.ref``), from torch (its layers and
autograd) or from literals written into the checks.
"""

from __future__ import annotations

import functools

import numpy as np

from ..checks import (CheckFailure, Context, NotImplementedYet, as_float_array,
                      check_shape, compare, fmt, relative_error, unpack)
from ..spec import Section, lazy_module
from ..timing import paused

torch = lazy_module("torch")


def sections(page: str):
    """A factory of :class:`Section` objects of one chapter page."""
    def section(title: str, label: str) -> Section:
        return Section(title, page, label)
    return section


def grader_work(fn):
    """Mark ``fn`` as the grader's own computation of an expected value (torch): it runs
    outside every student time limit. Limits count calls of student code only
    (autograder/timing.py), so this only matters if such a computation is ever made inside
    one; ``paused`` then stops the student's clock."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with paused():
            return fn(*args, **kwargs)
    return wrapper


def t64(a) -> torch.Tensor:
    """A float64 torch tensor holding a copy of ``a``."""
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64)


@grader_work
def grads_of(fn, dout, *arrays) -> tuple:
    """``(out, [∇ of Σ dout·fn(*arrays) w.r.t. each array])``, torch autograd, float64."""
    leaves = [t64(a).requires_grad_(True) for a in arrays]
    out = fn(*leaves)
    out.backward(t64(dout))
    return out.detach().numpy(), [leaf.grad.numpy().copy() for leaf in leaves]


def forward(ctx: Context, name: str, *args, n: int = 2,
            names: str = "(out, cache)", **kwargs) -> tuple:
    """The ``n``-tuple a student's forward returns, or a failure saying what came
    back."""
    return unpack(ctx.call(name, *args, **kwargs), n, f"`{name}`", names)


def cache_of(ctx: Context, forward_name: str, backward: str, *args, n: int = 2,
             names: str = "(out, cache)", **kwargs) -> tuple:
    """The whole result of the student's forward (its last item is the cache handed to
    the backward, never inspected); a missing forward is reported as what blocks the
    backward."""
    try:
        result = ctx.call(forward_name, *args, **kwargs)
    except NotImplementedYet:
        raise NotImplementedYet(
            f"`{forward_name}` is not implemented yet (it raises NotImplementedError), "
            f"and `{backward}` is checked with the cache your `{forward_name}` returns: "
            f"implement `{forward_name}` first.") from None
    if not isinstance(result, (tuple, list)) or len(result) != n:
        raise CheckFailure(
            f"`{backward}` is checked with the cache from your `{forward_name}`, but "
            f"`{forward_name}` did not return {names}. Make it return {names}.")
    return tuple(result)


def grads(got, names: tuple, shapes: tuple, what: str) -> tuple:
    """Unpack a backward's tuple of gradients and check each one's shape."""
    items = unpack(got, len(names), what, "(" + ", ".join(names) + ")")
    out = []
    for name, item, shape in zip(names, items, shapes):
        arr = as_float_array(item, f"{name} ({what})")
        check_shape(arr, shape, f"{name} ({what})",
                    f"{name} has the shape of the input it is the gradient of, "
                    f"{tuple(shape)}.")
        out.append(arr)
    return tuple(out)


def gradient_check(got: tuple, expected: list, names: tuple, hints: dict, what: str,
                   tol: float = 1e-6, against: str = "central differences") -> None:
    """Public gradient check: each analytic gradient against an autograd (or numerical)
    one; public, so both are shown."""
    for name, g, e in zip(names, got, expected):
        if not np.all(np.isfinite(g)):
            raise CheckFailure(f"{name} ({what}) contains nan or inf. "
                               f"{hints.get(name, '')}")
        err = relative_error(g, e)
        if not err < tol:
            raise CheckFailure(
                f"{name} ({what}) does not match {against}: relative error {err:.3g} "
                f"(should be < {tol:g}). {hints.get(name, '')}\n"
                f"  expected: {fmt(e, 4)}\n  yours:    {fmt(g, 4)}")


def agree(got, expected, what: str, *, hidden: bool, rtol: float = 1e-9,
          atol: float = 1e-12, hint: str = "") -> np.ndarray:
    """Elementwise ``np.isclose`` comparison.

    Public checks use :func:`compare` (expected and received values are shown). Hidden
    ones report the largest error as a fraction of the largest |entry| of the exact
    answer: an absolute error would print |reference| whenever the student returned 0.
    """
    if not hidden:
        return compare(got, expected, what, hidden=False, rtol=rtol, atol=atol,
                       hint=hint)
    expected = np.asarray(expected, dtype=np.float64)
    arr = as_float_array(got, what)
    check_shape(arr, expected.shape, what, hint)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.isclose(arr, expected, rtol=rtol, atol=atol)
    if ok.all():
        return arr
    n_bad, n = int((~ok).sum()), ok.size
    where = "" if n == 1 else f" ({n_bad} of {n} entries wrong)"
    if np.isnan(arr).any():
        detail = (f"it contains NaN{where}; NaN comes from inf − inf, inf/inf or 0/0, "
                  f"e.g. after an exp that overflowed")
    elif np.isinf(arr).any():
        detail = f"it contains ±inf{where}, but every entry of the exact answer is finite"
    else:
        scale = float(np.abs(expected).max()) if expected.size else 0.0
        err = float(np.abs(arr - expected)[~ok].max())
        detail = (f"values differ{where}: the largest error is {err / (scale or 1.0):.3g} "
                  f"times the largest |entry| of the exact answer")
    raise CheckFailure(f"{what} is wrong on a hidden test case: {detail}."
                       f"{(' ' + hint) if hint else ''}")

"""Probes for 02_matrix_calculus: the functions handed to ``numerical_gradient`` and
``numerical_jacobian``.

Every probe is a deterministic smooth function whose exact derivative the checks know (see
``autograder/assignments/matrix_calculus.py``). Given ``base`` (the x the student was asked to
differentiate at) and ``h``, a probe also *watches how it is called* and raises
:class:`BadEvaluationPoint` when a finite-difference routine evaluates it anywhere it should not:

* at an array of another shape than x (e.g. x flattened);
* at a point differing from x in more than one entry (a perturbation was not undone before the
  next one, or x was changed some other way);
* at a point where the one perturbed entry moved by something other than ±h (the ``h`` argument
  was ignored, or an integer x truncated x ± h).

Evaluating f at x itself is allowed. The exception's message is what the student reads.
"""

from __future__ import annotations

import numpy as np

from . import probe


class BadEvaluationPoint(Exception):
    """A probe was evaluated somewhere a central difference never needs to evaluate it."""


def _watch(fn, base, h, quiet=False):
    """Wrap ``fn`` so that every call is checked against the base point ``base`` and step ``h``.

    ``quiet`` (hidden checks) keeps the step sizes, which are hidden inputs, out of messages.
    """
    if base is None:
        return fn
    base = np.array(base)  # private copy; keeps the dtype so that integer x can be recognised
    ref = base.astype(np.float64)
    is_int = base.dtype.kind in "iub"

    def watched(x):
        arr = np.asarray(x)
        if arr.shape != ref.shape:
            raise BadEvaluationPoint(
                f"f was called with an array of shape {arr.shape}, but x has shape {ref.shape} "
                f"(always pass f an array shaped like x)")
        arr = arr.astype(np.float64)
        moved = np.flatnonzero(arr.ravel() != ref.ravel())
        if moved.size > 1:
            raise BadEvaluationPoint(
                f"f was called at a point differing from x in {moved.size} entries (move ONE "
                f"entry by ±h at a time, and put it back by assigning its saved value before "
                f"moving the next)")
        if moved.size == 1 and h is not None:
            i = moved[0]
            step = abs(float(arr.ravel()[i] - ref.ravel()[i]))
            slack = 1e-6 * h + 4 * float(np.spacing(abs(ref.ravel()[i]) + h))
            if abs(step - h) > slack:
                extra = (" (x holds integers: convert it to float64 first)" if is_int
                         else " (use the h argument, not a fixed step)")
                if quiet:
                    raise BadEvaluationPoint(f"f was called with one entry of x moved by a step "
                                             f"other than ±h{extra}")
                raise BadEvaluationPoint(
                    f"f was called with one entry of x moved by {step:.3g}, but the step must be "
                    f"±h = {h:.3g}{extra}")
        return fn(arr)

    return watched


def _vec(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).ravel()


def _logsumexp(v: np.ndarray) -> float:
    top = float(np.max(v))
    return top + float(np.log(np.sum(np.exp(v - top))))


@probe("mc_quadratic")
def quadratic(M, c, base=None, h=None, quiet=False):
    """f(x) = vᵀ M v + cᵀ v with v = x.ravel(); M need not be symmetric."""
    M, c = np.asarray(M, dtype=np.float64), np.asarray(c, dtype=np.float64)
    return _watch(lambda x: float(_vec(x) @ M @ _vec(x) + c @ _vec(x)), base, h, quiet)


@probe("mc_smooth")
def smooth(W, u, base=None, h=None, zero_d=False, quiet=False):
    """f(x) = logsumexp(W v) + Σ sin(u ⊙ v) with v = x.ravel(). Returns a 0-d array if zero_d."""
    W, u = np.asarray(W, dtype=np.float64), np.asarray(u, dtype=np.float64)

    def f(x):
        v = _vec(x)
        value = _logsumexp(W @ v) + float(np.sum(np.sin(u * v)))
        return np.array(value) if zero_d else value

    return _watch(f, base, h, quiet)


@probe("mc_cubic")
def cubic(c, base=None, h=None, quiet=False):
    """f(x) = Σ c ⊙ v³: its central difference with step h is exactly 3 c v² + c h²."""
    c = np.asarray(c, dtype=np.float64)
    return _watch(lambda x: float(np.sum(c * _vec(x) ** 3)), base, h, quiet)


@probe("mc_vec_smooth")
def vec_smooth(W, V, b, base=None, h=None, quiet=False):
    """f(x) = tanh(W x + b) + sin(V x): R^n -> R^m."""
    W, V, b = (np.asarray(a, dtype=np.float64) for a in (W, V, b))
    return _watch(lambda x: np.tanh(W @ _vec(x) + b) + np.sin(V @ _vec(x)), base, h, quiet)


@probe("mc_linear_map")
def linear_map(M, base=None, h=None, quiet=False):
    """f(x) = M x: the Jacobian is M itself."""
    M = np.asarray(M, dtype=np.float64)
    return _watch(lambda x: M @ _vec(x), base, h, quiet)


@probe("mc_cubic_map")
def cubic_map(C, base=None, h=None, quiet=False):
    """f(x) = C (x ⊙ x ⊙ x): the central difference with step h is exactly C_ij (3 x_j² + h²)."""
    C = np.asarray(C, dtype=np.float64)
    return _watch(lambda x: C @ _vec(x) ** 3, base, h, quiet)

"""Checks for assignment 02_matrix_calculus: numerical and closed-form gradients and Jacobians.

Layout (COURSE_PLAN): the gradient of a scalar has the shape of the variable (denominator
layout); the Jacobian of f: Rⁿ → Rᵐ has shape (m, n) (numerator layout).

Public checks use inputs shown in their messages and need no reference: expected values come
from central differences of the function being differentiated (computed here, exact up to
rounding for the linear and quadratic cases), from known values, or, for the two numerical
routines, from the exact derivative of a probe f (autograder/harness/matrix_calculus.py).
Hidden checks compare with the reference solution on randomised shapes and values: non-symmetric
A, non-square and ill-conditioned X, negative determinants, 1 × 1 cases, logits of size 1e4.

Tolerances (explicit, and stated in the notebook):

* ``numerical_gradient`` / ``numerical_jacobian`` are compared with exact derivatives entry by
  entry with tolerance NUMERIC_TOL = 1e-8 · max(1, largest |exact entry|). On the probes, central
  differences with h = 1e-5 are accurate to ~5e-11 (200× inside); forward differences with
  h = 1e-5 are off by ~5e-6 (500× outside) and central differences with h = 1e-2 by ~3e-5
  (3000× outside); with h = 1e-3 by ~3e-7, still caught.
  Steps other than h are also caught directly: the probes refuse to be evaluated anywhere but
  x and x ± h·eᵢ.
* Closed-form gradients are compared with the reference with tolerance 1e-8 relative to the
  largest entry of the exact answer (an inverse of a matrix with condition number 1e6 is
  computed to ~1e-11 that way by inv, solve or an SVD), and in public checks with this module's
  own central differences with tolerance 1e-6 (their error is ~1e-9 here).
"""

from __future__ import annotations

import numpy as np

from ..checks import (CheckFailure, Context, as_float_array, central_difference_grad,
                      check_shape, compare_scaled, fmt, unpack)
from ..harness import Probe, build_probe
from ..spec import Assignment, GradedFunction
from ._shared import sections

PAGE = "chapters/02_matrix_calculus"

NUMERIC_TOL = 1e-8  # numerical_gradient / numerical_jacobian vs exact derivatives
CLOSED_TOL = 1e-8  # closed forms vs the reference (relative to the largest entry)
CD_TOL = 1e-6  # closed forms vs this module's central differences (public checks)


_section = sections(PAGE)  # _section(title, label): a Section of this page


# ---------------------------------------------------------------------------------------------
# Helpers


def _matches(got, candidate) -> bool:
    """Whether ``got`` equals ``candidate`` (a known wrong answer), for targeted hints."""
    try:
        arr = np.asarray(got, dtype=np.float64)
    except Exception:  # noqa: BLE001
        return False
    cand = np.asarray(candidate, dtype=np.float64)
    return arr.shape == cand.shape and bool(np.allclose(arr, cand, rtol=1e-6, atol=1e-9))


def _transposed_hint(got, expected, layout: str = "gradient") -> str:
    if np.ndim(expected) == 2 and _matches(got, np.asarray(expected).T):
        if layout == "jacobian":
            return ("Your result is the TRANSPOSE of the Jacobian (denominator layout): row i "
                    "must hold the derivatives of output fᵢ, column j those with respect to xⱼ.")
        return ("Your result is the TRANSPOSE of the gradient: in this course ∂f/∂X has the "
                "shape of X, entry (i, j) being ∂f/∂Xᵢⱼ.")
    return ""


def _nonsymmetric(rng: np.random.Generator, n: int) -> np.ndarray:
    A = rng.normal(size=(n, n))
    if n > 1:
        A[0, -1] += 3.0  # make sure A is far from symmetric
    return A


def _conditioned(rng: np.random.Generator, n: int, cond: float, negative: bool) -> np.ndarray:
    """U diag(s) Vᵀ with singular values from 1 down to 1/cond; det < 0 if ``negative``."""
    U, _ = np.linalg.qr(rng.normal(size=(n, n)))
    V, _ = np.linalg.qr(rng.normal(size=(n, n)))
    X = U @ np.diag(np.logspace(0, -np.log10(cond), n)) @ V.T
    if (np.linalg.det(X) < 0) != negative:
        X[0] = -X[0]
    return X


def tidy_cd(f, x) -> np.ndarray:
    """Central differences of ``f`` at ``x`` (h = 1e-6), with the ~1e-10 rounding noise removed
    (rounded to 9 digits relative to the largest entry) so that messages show 0 as 0."""
    grad = central_difference_grad(f, x)
    scale = float(np.abs(grad).max()) or 1.0
    return np.round(grad / scale, 9) * scale


# ---------------------------------------------------------------------------------------------
# Exact derivatives of the probes (autograder/harness/matrix_calculus.py)


def _softmax(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max())
    return e / e.sum()


def smooth_grad(W, u, x) -> np.ndarray:
    """∇ of logsumexp(W v) + Σ sin(u ⊙ v), v = x.ravel(), reshaped like x."""
    v = np.asarray(x, dtype=np.float64).ravel()
    return (W.T @ _softmax(W @ v) + u * np.cos(u * v)).reshape(np.shape(x))


def quadratic_grad(M, c, x) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64).ravel()
    return ((M + M.T) @ v + c).reshape(np.shape(x))


def vec_smooth_jac(W, V, b, x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return (1 - np.tanh(W @ x + b) ** 2)[:, None] * W + np.cos(V @ x)[:, None] * V


SMOOTH_F = "f(x) = logsumexp(W x) + Σ sin(u ⊙ x) (x flattened)"
NUMERIC_HINT = ("Central differences (f(x + h·eᵢ) − f(x − h·eᵢ)) / (2h) with h = 1e-5 are "
                "accurate to about 1e-10 here; an error near 1e-5 means forward differences "
                "or a much larger step.")


def _smooth_probe(rng, shape):
    """Parameters W, u of the "mc_smooth" probe for an x of the given shape."""
    n = int(np.prod(shape))
    W, u = rng.normal(size=(3, n)) * 1.5, rng.uniform(0.5, 2.0, size=n)
    return W, u


# ---------------------------------------------------------------------------------------------
# numerical_gradient


def ng_smooth_shapes(ctx: Context) -> None:
    for shape in [(4,), (2, 3), (2, 2, 3)]:
        W, u = _smooth_probe(ctx.rng, shape)
        x = ctx.rng.normal(size=shape)
        f = Probe("mc_smooth", W=W, u=u, base=x, h=1e-5)
        what = f"numerical_gradient(f, x) for x of shape {shape} and {SMOOTH_F}"
        got = as_float_array(ctx.call("numerical_gradient", f, x), what)
        check_shape(got, shape, what, "The gradient of a scalar f has the shape of x.")
        compare_scaled(got, smooth_grad(W, u, x), what, hidden=False, tol=NUMERIC_TOL, floor=1.0,
              hint=NUMERIC_HINT)


def ng_quadratic(ctx: Context) -> None:
    x = ctx.rng.normal(size=(3, 2))
    M, c = ctx.rng.normal(size=(6, 6)), ctx.rng.normal(size=6)
    f = Probe("mc_quadratic", M=M, c=c, base=x, h=1e-5)
    what = ("numerical_gradient(f, x) for x of shape (3, 2) and f(x) = vᵀMv + cᵀv, v = x "
            "flattened, M non-symmetric")
    compare_scaled(ctx.call("numerical_gradient", f, x), quadratic_grad(M, c, x), what, hidden=False,
          tol=NUMERIC_TOL, floor=1.0,
          hint="Central differences are exact for a quadratic up to rounding errors (~1e-10).")


def ng_honours_h(ctx: Context) -> None:
    x = ctx.rng.uniform(-2, 2, size=5)
    c = ctx.rng.uniform(0.5, 1.5, size=5)
    for h in (1e-2, 1e-3):
        f = Probe("mc_cubic", c=c, base=x, h=h)
        what = f"numerical_gradient(f, x, h={h:g}) for f(x) = Σ cᵢxᵢ³, c = {fmt(c, 4)}"
        compare_scaled(ctx.call("numerical_gradient", f, x, h=h), 3 * c * x**2 + c * h**2, what,
              hidden=False, tol=1e-9, floor=1.0,
              hint=f"With step h the central difference of Σ cᵢxᵢ³ is exactly 3cᵢxᵢ² + cᵢh² "
                   f"(here h² = {h * h:g}): use the h you are given.")


def ng_int_and_0d(ctx: Context) -> None:
    x = np.array([1, -2, 3])
    W, u = _smooth_probe(ctx.rng, (3,))
    f = Probe("mc_smooth", W=W, u=u, base=x, h=1e-5)
    what = f"numerical_gradient(f, x) for the INTEGER array x = {fmt(x)} and {SMOOTH_F}"
    compare_scaled(ctx.call("numerical_gradient", f, x), smooth_grad(W, u, x.astype(float)), what,
          hidden=False, tol=NUMERIC_TOL, floor=1.0,
          hint="x ± h cannot be stored in an integer array: work on a float64 copy of x "
               "(np.array(x, dtype=np.float64)), and return a float array.")
    x0 = np.array(0.7)
    W0, u0 = _smooth_probe(ctx.rng, ())
    f0 = Probe("mc_smooth", W=W0, u=u0, base=x0, h=1e-5, zero_d=True)
    what0 = (f"numerical_gradient(f, x) for the 0-d array x = np.array(0.7) (shape ()) and "
             f"{SMOOTH_F}; this f returns a 0-d array")
    compare_scaled(ctx.call("numerical_gradient", f0, x0), smooth_grad(W0, u0, x0), what0, hidden=False,
          tol=NUMERIC_TOL, floor=1.0,
          hint="For a 0-d x the gradient is 0-d too. Looping over np.ndindex(x.shape) visits "
               "every index of an array of any shape, including the single index () of shape ().")


def ng_hidden_random(ctx: Context) -> None:
    ref = ctx.ref("numerical_gradient")
    for shape, kind, scale in [((6,), "smooth", 1.0), ((3, 4), "quadratic", 1.0),
                               ((2, 3, 2), "smooth", 2.0), ((1,), "smooth", 1.0),
                               ((1, 1), "quadratic", 3.0), ((), "smooth", 1.0),
                               ((2, 1, 3), "quadratic", 0.5), ((5, 5), "smooth", 0.3)]:
        x = np.asarray(ctx.rng.normal(size=shape) * scale)  # a 0-d ARRAY for shape ()
        n = int(np.prod(shape))
        if kind == "smooth":
            W, u = _smooth_probe(ctx.rng, shape)
            f = Probe("mc_smooth", W=W, u=u, base=x, h=1e-5, quiet=True)
        else:
            f = Probe("mc_quadratic", M=ctx.rng.normal(size=(n, n)), c=ctx.rng.normal(size=n),
                      base=x, h=1e-5, quiet=True)
        compare_scaled(ctx.call("numerical_gradient", f, x), ref(build_probe(f), x),
              f"numerical_gradient(f, x) for x of shape {shape}", hidden=True, tol=NUMERIC_TOL,
              floor=1.0, hint=NUMERIC_HINT)


def ng_hidden_steps_and_ints(ctx: Context) -> None:
    ref = ctx.ref("numerical_gradient")
    for shape, h in [((4,), 1e-3), ((2, 2), 3e-2), ((3, 1, 2), 1e-4)]:
        x = ctx.rng.uniform(-2, 2, size=shape)
        f = Probe("mc_cubic", c=ctx.rng.uniform(-1, 1, size=x.size), base=x, h=h, quiet=True)
        compare_scaled(ctx.call("numerical_gradient", f, x, h=h), ref(build_probe(f), x, h=h),
              f"numerical_gradient(f, x, h) for x of shape {shape} and another step h",
              hidden=True, tol=1e-9, floor=1.0, hint="Use the step h you are given.")
    for shape in [(2, 3), (4,)]:
        x = ctx.rng.integers(-3, 4, size=shape)
        W, u = _smooth_probe(ctx.rng, shape)
        f = Probe("mc_smooth", W=W, u=u, base=x, h=1e-5, quiet=True)
        compare_scaled(ctx.call("numerical_gradient", f, x), ref(build_probe(f), x),
              f"numerical_gradient(f, x) for an integer x of shape {shape}", hidden=True,
              tol=NUMERIC_TOL, floor=1.0, hint="Work on a float64 copy of an integer x.")


# ---------------------------------------------------------------------------------------------
# numerical_jacobian


def _vec_smooth(rng, m, n, x, quiet=False):
    W, V, b = rng.normal(size=(m, n)), rng.normal(size=(m, n)), rng.normal(size=m)
    return (Probe("mc_vec_smooth", W=W, V=V, b=b, base=x, h=1e-5, quiet=quiet),
            vec_smooth_jac(W, V, b, x))


LAYOUT_HINT = ("For f: Rⁿ → Rᵐ the Jacobian has shape (m, n) — one row per output fᵢ, one "
               "column per input xⱼ (numerator layout). Shape (n, m) is its transpose.")


def nj_shape_values(ctx: Context) -> None:
    x = ctx.rng.normal(size=3)
    f, exact = _vec_smooth(ctx.rng, 2, 3, x)
    what = (f"numerical_jacobian(f, x) for x = {fmt(x, 4)} and f(x) = tanh(W x + b) + "
            f"sin(V x) with W, V of shape (2, 3) (f: R³ → R²)")
    got = as_float_array(ctx.call("numerical_jacobian", f, x), what)
    check_shape(got, (2, 3), what, LAYOUT_HINT)
    compare_scaled(got, exact, what, hidden=False, tol=NUMERIC_TOL, floor=1.0, hint=NUMERIC_HINT)


def nj_linear_square(ctx: Context) -> None:
    M = np.array([[1.0, 2.0, 0.0], [-1.0, 0.5, 3.0], [0.0, -2.0, 1.0]])
    x = np.array([0.3, -1.2, 2.0])
    f = Probe("mc_linear_map", M=M, base=x, h=1e-5)
    what = f"numerical_jacobian(f, x) for the linear map f(x) = M x with M = {fmt(M)}"
    got = ctx.call("numerical_jacobian", f, x)
    compare_scaled(got, M, what, hidden=False, tol=NUMERIC_TOL, floor=1.0,
          hint=_transposed_hint(got, M, "jacobian") or "The Jacobian of x ↦ M x is M.")


def nj_edge_dims(ctx: Context) -> None:
    for m, n in [(1, 4), (3, 1)]:
        x = ctx.rng.normal(size=n)
        f, exact = _vec_smooth(ctx.rng, m, n, x)
        what = (f"numerical_jacobian(f, x) for f: R^{n} → R^{m} (x of shape ({n},), f(x) of "
                f"shape ({m},))")
        got = as_float_array(ctx.call("numerical_jacobian", f, x), what)
        check_shape(got, (m, n), what, LAYOUT_HINT + " It stays 2-D even when m or n is 1.")
        compare_scaled(got, exact, what, hidden=False, tol=NUMERIC_TOL, floor=1.0, hint=NUMERIC_HINT)


def nj_honours_h(ctx: Context) -> None:
    x = ctx.rng.uniform(-2, 2, size=3)
    C = ctx.rng.uniform(-1, 1, size=(2, 3))
    h = 1e-2
    f = Probe("mc_cubic_map", C=C, base=x, h=h)
    what = f"numerical_jacobian(f, x, h={h:g}) for f(x) = C (x ⊙ x ⊙ x), C = {fmt(C, 4)}"
    compare_scaled(ctx.call("numerical_jacobian", f, x, h=h), C * (3 * x**2 + h**2), what, hidden=False,
          tol=1e-9, floor=1.0,
          hint="With step h the central difference of C x³ is exactly Cᵢⱼ (3xⱼ² + h²): use "
               "the h you are given.")


def nj_hidden(ctx: Context) -> None:
    ref = ctx.ref("numerical_jacobian")
    for m, n in [(4, 3), (3, 5), (1, 1), (6, 1), (1, 6), (5, 5)]:
        x = ctx.rng.normal(size=n)
        f, _ = _vec_smooth(ctx.rng, m, n, x, quiet=True)
        compare_scaled(ctx.call("numerical_jacobian", f, x), ref(build_probe(f), x),
              f"numerical_jacobian(f, x) for f: R^{n} → R^{m}", hidden=True, tol=NUMERIC_TOL,
              floor=1.0, hint=LAYOUT_HINT)
    for m, n, h in [(3, 2, 1e-3), (2, 4, 3e-2)]:
        x = ctx.rng.uniform(-2, 2, size=n)
        f = Probe("mc_cubic_map", C=ctx.rng.normal(size=(m, n)), base=x, h=h, quiet=True)
        compare_scaled(ctx.call("numerical_jacobian", f, x, h=h), ref(build_probe(f), x, h=h),
              f"numerical_jacobian(f, x, h) for f: R^{n} → R^{m} and another step h",
              hidden=True, tol=1e-9, floor=1.0, hint="Use the step h you are given.")


# ---------------------------------------------------------------------------------------------
# grad_quadratic


def _quad_cd(A, x):
    return tidy_cd(lambda v: float(v @ A @ v), x)


def _quad_hint(got, A, x) -> str:
    if _matches(got, 2 * A @ x):
        return ("You returned 2Ax, which is the gradient only when A is symmetric: differentiate "
                "Σᵢⱼ Aᵢⱼ xᵢ xⱼ with respect to xₖ — xₖ appears both as xᵢ and as xⱼ.")
    if _matches(got, A @ x) or _matches(got, A.T @ x):
        return "You kept only one of the two terms: xₖ appears in xᵀAx both as xᵢ and as xⱼ."
    return ("Differentiate xᵀAx = Σᵢⱼ Aᵢⱼ xᵢ xⱼ with respect to xₖ, remembering that A need not "
            "be symmetric.")


def gq_symmetric(ctx: Context) -> None:
    A = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, -1.0], [0.0, -1.0, 1.0]])
    x = np.array([1.0, -2.0, 0.5])
    what = f"grad_quadratic(A, x) for the symmetric A = {fmt(A)} and x = {fmt(x)}"
    got = as_float_array(ctx.call("grad_quadratic", A, x), what)
    check_shape(got, (3,), what, "The gradient with respect to x has the shape of x, (n,).")
    compare_scaled(got, _quad_cd(A, x), what, hidden=False, tol=CD_TOL,
          hint="Expected values are central differences of xᵀAx.")


def gq_nonsymmetric(ctx: Context) -> None:
    A = np.array([[1.0, 4.0, 0.0], [0.0, 2.0, -3.0], [1.0, 0.0, 1.0]])
    x = np.array([0.5, 1.0, -2.0])
    what = f"grad_quadratic(A, x) for the NON-symmetric A = {fmt(A)} and x = {fmt(x)}"
    got = ctx.call("grad_quadratic", A, x)
    compare_scaled(got, _quad_cd(A, x), what, hidden=False, tol=CD_TOL, hint=_quad_hint(got, A, x))


def gq_edge(ctx: Context) -> None:
    A1, x1 = np.array([[-3.0]]), np.array([2.0])
    compare_scaled(ctx.call("grad_quadratic", A1, x1), np.array([-12.0]),
          f"grad_quadratic(A, x) for A = {fmt(A1)}, x = {fmt(x1)} (f(x) = −3x²)", hidden=False,
          tol=CD_TOL, hint="For n = 1 the gradient is a vector of shape (1,).")
    A, x = _nonsymmetric(ctx.rng, 5), ctx.rng.normal(size=5)
    what = "grad_quadratic(A, x) for a random non-symmetric 5 × 5 A"
    got = ctx.call("grad_quadratic", A, x)
    compare_scaled(got, _quad_cd(A, x), what, hidden=False, tol=CD_TOL, hint=_quad_hint(got, A, x))


def gq_hidden(ctx: Context) -> None:
    ref = ctx.ref("grad_quadratic")
    for n, scale in [(1, 1.0), (2, 1.0), (4, 10.0), (7, 1.0), (20, 0.1), (3, 1e3)]:
        A, x = _nonsymmetric(ctx.rng, n) * scale, ctx.rng.normal(size=n)
        compare_scaled(ctx.call("grad_quadratic", A, x), ref(A, x),
              f"grad_quadratic(A, x) for a non-symmetric A of shape ({n}, {n})", hidden=True,
              tol=CLOSED_TOL)
    S = ctx.rng.normal(size=(4, 4))
    A, x = S + S.T, ctx.rng.normal(size=4)
    compare_scaled(ctx.call("grad_quadratic", A, x), ref(A, x),
          "grad_quadratic(A, x) for a symmetric A of shape (4, 4)", hidden=True, tol=CLOSED_TOL)


# ---------------------------------------------------------------------------------------------
# grad_trace_product


def _trace_case(ctx: Context, A, X, B, what: str) -> None:
    expected = tidy_cd(lambda Z: float(np.trace(A @ Z @ B)), X)
    got = ctx.call("grad_trace_product", A, X, B)
    compare_scaled(got, expected, what, hidden=False, tol=CD_TOL,
          hint=_transposed_hint(got, expected)
          or f"∇_X tr(AXB) has the shape of X, {X.shape}; expected values are central "
             f"differences of tr(AXB).")


def gt_rectangular(ctx: Context) -> None:
    A = np.array([[1.0, 0.0, 2.0], [-1.0, 3.0, 1.0]])
    X = ctx.rng.normal(size=(3, 4)).round(2)
    B = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 1.0], [-2.0, 0.5]])
    _trace_case(ctx, A, X, B, f"grad_trace_product(A, X, B) for A = {fmt(A)}, X of shape "
                              f"(3, 4) and B = {fmt(B)}")


def gt_square(ctx: Context) -> None:
    A, X, B = (_nonsymmetric(ctx.rng, 3).round(2) for _ in range(3))
    _trace_case(ctx, A, X, B, f"grad_trace_product(A, X, B) for the non-symmetric 3 × 3 "
                              f"A = {fmt(A)}, X = {fmt(X)}, B = {fmt(B)}")


def gt_vectors(ctx: Context) -> None:
    A = np.array([[1.0, -2.0, 0.5]])  # (1, 3): tr(AXB) = aᵀ X b
    X = ctx.rng.normal(size=(3, 2)).round(2)
    B = np.array([[3.0], [-1.0]])  # (2, 1)
    _trace_case(ctx, A, X, B, f"grad_trace_product(A, X, B) for A = {fmt(A)} (1 × 3), "
                              f"X = {fmt(X)}, B = {fmt(B)} (2 × 1), i.e. aᵀXb")
    _trace_case(ctx, np.array([[2.0]]), np.array([[5.0]]), np.array([[-3.0]]),
                "grad_trace_product(A, X, B) for 1 × 1 A = [[2]], X = [[5]], B = [[-3]]")


def gt_hidden(ctx: Context) -> None:
    ref = ctx.ref("grad_trace_product")
    for p, m, n in [(1, 1, 1), (2, 3, 4), (5, 2, 3), (4, 4, 4), (1, 5, 1), (3, 1, 2), (6, 6, 2)]:
        A, X, B = (ctx.rng.normal(size=s) for s in [(p, m), (m, n), (n, p)])
        compare_scaled(ctx.call("grad_trace_product", A, X, B), ref(A, X, B),
              f"grad_trace_product for A ({p}, {m}), X ({m}, {n}), B ({n}, {p})", hidden=True,
              tol=CLOSED_TOL)


# ---------------------------------------------------------------------------------------------
# grad_logdet


def _logabsdet(X):
    return float(np.linalg.slogdet(X)[1])


def _logdet_case(ctx: Context, X, what: str) -> None:
    expected = tidy_cd(_logabsdet, X)
    got = ctx.call("grad_logdet", X)
    hint = _transposed_hint(got, expected)
    if not hint and np.linalg.det(X) < 0 and _matches(got, -expected):
        hint = ("Your sign is wrong when det X < 0: log|det X| has the same gradient whatever "
                "the sign of det X (d|det X| = sign(det X)·d det X).")
    compare_scaled(got, expected, what, hidden=False, tol=CD_TOL,
          hint=hint or "Expected values are central differences of log|det X|.")


def gl_central(ctx: Context) -> None:
    X = np.array([[2.0, 1.0, 0.0], [0.5, 3.0, 1.0], [1.0, -1.0, 2.0]])
    _logdet_case(ctx, X, f"grad_logdet(X) for the non-symmetric X = {fmt(X)} "
                         f"(det = {np.linalg.det(X):.4g})")


def gl_negative(ctx: Context) -> None:
    X = np.array([[1.0, 2.0], [3.0, 1.0]])
    _logdet_case(ctx, X, f"grad_logdet(X) for X = {fmt(X)} (det = {np.linalg.det(X):.4g} < 0)")
    X1 = np.array([[-4.0]])
    compare_scaled(ctx.call("grad_logdet", X1), np.array([[-0.25]]),
          "grad_logdet(X) for the 1 × 1 X = [[-4]] (here log|det X| = log|x|)",
          hidden=False, tol=CD_TOL, hint="d/dx log|x| = 1/x, also for x < 0; keep shape (1, 1).")


def gl_diagonal(ctx: Context) -> None:
    # Exact expected values, so the closed-form tolerance of the hidden checks applies here too
    # (1/3, 1/6, 1/7 tell a float64 inverse from a float32 one, as ill-conditioned X do).
    X = np.diag([3.0, -6.0, 7.0])
    compare_scaled(ctx.call("grad_logdet", X), np.diag([1 / 3, -1 / 6, 1 / 7]),
          f"grad_logdet(X) for the diagonal X = {fmt(X)}", hidden=False, tol=CLOSED_TOL,
          hint="For a diagonal X, log|det X| = Σ log|Xᵢᵢ|, so the gradient is diagonal with "
               "entries 1/Xᵢᵢ.")


def gl_hidden(ctx: Context) -> None:
    ref = ctx.ref("grad_logdet")
    cases = [(1, 1.0, False, 1.0), (1, 1.0, True, 1.0), (2, 10.0, True, 1.0),
             (3, 5.0, False, 1e3), (4, 1e3, True, 1e-3), (6, 20.0, False, 1.0),
             (5, 1e6, False, 1.0), (8, 1e6, True, 1.0), (12, 1e4, True, 2.0)]
    for n, cond, negative, scale in cases:
        X = _conditioned(ctx.rng, n, cond, negative) * scale
        compare_scaled(ctx.call("grad_logdet", X), ref(X),
              f"grad_logdet(X) for X of shape ({n}, {n})", hidden=True, tol=CLOSED_TOL,
              hint="Some hidden X have det X < 0, some are ill-conditioned (but invertible).")


# ---------------------------------------------------------------------------------------------
# softmax_jacobian


def _softmax_cd(z):
    return np.stack([tidy_cd(lambda v, i=i: float(_softmax(v)[i]), z) for i in range(z.size)])


def _softmax_hint(got, z) -> str:
    s = _softmax(z)
    if _matches(got, np.outer(s, s) - np.diag(s)):
        return "Your signs are flipped: the diagonal entries ∂sᵢ/∂zᵢ = sᵢ(1 − sᵢ) are positive."
    if _matches(got, np.diag(s)):
        return ("You returned diag(s): softmax couples every output to every input (changing "
                "zⱼ changes the normaliser), so the off-diagonal entries ∂sᵢ/∂zⱼ are not 0.")
    if _matches(got, np.diag(s * (1 - s))):
        return ("You returned only the diagonal sᵢ(1 − sᵢ), as for an elementwise sigmoid: the "
                "off-diagonal entries ∂sᵢ/∂zⱼ (i ≠ j) are not 0.")
    return ""


def sj_known(ctx: Context) -> None:
    z2 = np.array([0.0, 0.0])
    got = ctx.call("softmax_jacobian", z2)
    compare_scaled(got, np.array([[0.25, -0.25], [-0.25, 0.25]]), f"softmax_jacobian(z={fmt(z2)})",
          hidden=False, tol=1e-9, hint=_softmax_hint(got, z2))
    z = np.array([1.0, 2.0, 3.0])
    got = ctx.call("softmax_jacobian", z)
    compare_scaled(got, _softmax_cd(z), f"softmax_jacobian(z={fmt(z)})", hidden=False, tol=CD_TOL,
          hint=_softmax_hint(got, z) or "Expected values are central differences of softmax.")


def sj_structure(ctx: Context) -> None:
    z = ctx.rng.normal(size=5) * 2
    what = f"softmax_jacobian(z) for z = {fmt(z, 4)}"
    got = as_float_array(ctx.call("softmax_jacobian", z), what)
    check_shape(got, (5, 5), what, "z has K = 5 entries, so the Jacobian is K × K.")
    if not np.allclose(got.sum(axis=1), 0.0, atol=1e-10):
        raise CheckFailure(f"{what}: each row of the Jacobian must sum to 0 (Σⱼ sⱼ = 1 whatever "
                           f"z is, so Σⱼ ∂sⱼ/∂zₖ = 0), but the row sums are "
                           f"{fmt(got.sum(axis=1), 4)}.")
    if not np.allclose(got, got.T, atol=1e-12):
        raise CheckFailure(f"{what}: the softmax Jacobian is symmetric (∂sᵢ/∂zⱼ = ∂sⱼ/∂zᵢ), "
                           f"but yours is not.")
    compare_scaled(got, _softmax_cd(z), what, hidden=False, tol=CD_TOL, hint=_softmax_hint(got, z))


def sj_stable(ctx: Context) -> None:
    z = np.array([1000.0, 1000.0, -1000.0, 0.0])
    expected = np.zeros((4, 4))
    expected[:2, :2] = [[0.25, -0.25], [-0.25, 0.25]]
    compare_scaled(ctx.call("softmax_jacobian", z), expected, f"softmax_jacobian(z={fmt(z)})",
          hidden=False, tol=1e-9,
          hint="exp(1000) overflows to inf: subtract max(z) before exponentiating.")
    z2 = np.array([-1000.0, -1000.0])
    compare_scaled(ctx.call("softmax_jacobian", z2), np.array([[0.25, -0.25], [-0.25, 0.25]]),
          f"softmax_jacobian(z={fmt(z2)})", hidden=False, tol=1e-9,
          hint="exp(−1000) underflows to 0 and 0/0 is NaN: subtract max(z) first.")
    z1 = np.array([7.0])
    compare_scaled(ctx.call("softmax_jacobian", z1), np.zeros((1, 1)), "softmax_jacobian(z=[7.0]) (K = 1)",
          hidden=False, tol=1e-9, hint="For K = 1 softmax is the constant 1: the Jacobian is "
                                       "[[0.0]], shape (1, 1).")


def sj_hidden(ctx: Context) -> None:
    ref = ctx.ref("softmax_jacobian")
    for k, scale in [(1, 1.0), (2, 1.0), (5, 3.0), (10, 1.0), (50, 10.0), (6, 1e3), (4, 1e4),
                     (8, 0.01)]:
        z = ctx.rng.normal(size=k) * scale
        compare_scaled(ctx.call("softmax_jacobian", z), ref(z),
              f"softmax_jacobian(z) for K = {k}", hidden=True, tol=1e-10,
              hint="Some hidden z have entries of size 1e3–1e4.")


# ---------------------------------------------------------------------------------------------
# matmul_backward


def _matmul_case(ctx: Context, A, X, G, what: str) -> None:
    dA, dX = unpack(ctx.call("matmul_backward", A, X, G), 2, what, "(dA, dX)")
    dA_arr, dX_arr = as_float_array(dA, f"dA from {what}"), as_float_array(dX, f"dX from {what}")
    if dA_arr.shape == X.shape and dX_arr.shape == A.shape and A.shape != X.shape:
        raise CheckFailure(f"{what} returned dA with the shape of X and dX with the shape of A: "
                           f"return them in the order (dA, dX).")
    exp_A = tidy_cd(lambda Z: float(np.sum(G * (Z @ X))), A)
    exp_X = tidy_cd(lambda Z: float(np.sum(G * (A @ Z))), X)
    for got, exp, name, var in [(dA_arr, exp_A, "dA", "A"), (dX_arr, exp_X, "dX", "X")]:
        compare_scaled(got, exp, f"{name} from {what}", hidden=False, tol=CD_TOL,
              hint=_transposed_hint(got, exp)
              or f"{name} = ∂L/∂{var} has the shape of {var}, {exp.shape}; expected values are "
                 f"central differences of L = Σᵢⱼ Gᵢⱼ (A X)ᵢⱼ.")


def mb_rectangular(ctx: Context) -> None:
    A = np.array([[1.0, 2.0, 0.0], [-1.0, 0.5, 3.0]])
    X = ctx.rng.normal(size=(3, 4)).round(2)
    G = ctx.rng.normal(size=(2, 4)).round(2)
    _matmul_case(ctx, A, X, G, f"matmul_backward(A, X, G) for A = {fmt(A)} (2 × 3), X of "
                               f"shape (3, 4), G of shape (2, 4)")


def mb_square(ctx: Context) -> None:
    A, X, G = (_nonsymmetric(ctx.rng, 3).round(2) for _ in range(3))
    _matmul_case(ctx, A, X, G, f"matmul_backward(A, X, G) for the non-symmetric 3 × 3 "
                               f"A = {fmt(A)}, X = {fmt(X)}, G = {fmt(G)}")


def mb_thin(ctx: Context) -> None:
    A, X = np.array([[1.0], [-2.0], [0.5]]), np.array([[3.0, -1.0]])
    G = np.array([[1.0, 0.0], [2.0, -1.0], [0.5, 0.5]])
    _matmul_case(ctx, A, X, G, f"matmul_backward(A, X, G) for A = {fmt(A)} (3 × 1), "
                               f"X = {fmt(X)} (1 × 2), G = {fmt(G)} — Y = A X is an outer product")
    _matmul_case(ctx, np.array([[2.0]]), np.array([[-3.0]]), np.array([[0.5]]),
                 "matmul_backward(A, X, G) for 1 × 1 A = [[2]], X = [[-3]], G = [[0.5]]")


def mb_hidden(ctx: Context) -> None:
    ref = ctx.ref("matmul_backward")
    for m, k, n in [(1, 1, 1), (2, 3, 4), (5, 1, 3), (4, 4, 4), (1, 6, 1), (3, 2, 1), (7, 5, 6)]:
        A, X, G = (ctx.rng.normal(size=s) for s in [(m, k), (k, n), (m, n)])
        what = f"matmul_backward for A ({m}, {k}), X ({k}, {n})"
        dA, dX = unpack(ctx.call("matmul_backward", A, X, G), 2, what, "(dA, dX)")
        rA, rX = ref(A, X, G)
        compare_scaled(dA, rA, f"dA from {what}", hidden=True, tol=CLOSED_TOL)
        compare_scaled(dX, rX, f"dX from {what}", hidden=True, tol=CLOSED_TOL)


# ---------------------------------------------------------------------------------------------
# grad_a_exp_Xb


def _exp_case(ctx: Context, a, X, b, what: str) -> None:
    expected = tidy_cd(lambda Z: float(a @ np.exp(Z @ b)), X)
    got = ctx.call("grad_a_exp_Xb", a, X, b)
    compare_scaled(got, expected, what, hidden=False, tol=CD_TOL,
          hint=_transposed_hint(got, expected)
          or f"The gradient has the shape of X, {X.shape}; expected values are central "
             f"differences of aᵀ exp(Xb).")


def ge_central(ctx: Context) -> None:
    a = np.array([1.0, -2.0, 0.5])
    X = np.array([[0.2, -0.1], [0.5, 0.3], [-0.4, 0.6]])
    b = np.array([1.5, -1.0])
    _exp_case(ctx, a, X, b, f"grad_a_exp_Xb(a, X, b) for a = {fmt(a)}, X = {fmt(X)}, "
                            f"b = {fmt(b)}")


def ge_edges(ctx: Context) -> None:
    a, X, b = np.array([2.0]), np.array([[0.1, -0.3, 0.2]]), np.array([1.0, 2.0, -1.0])
    _exp_case(ctx, a, X, b, f"grad_a_exp_Xb(a, X, b) for a = {fmt(a)}, X = {fmt(X)} (1 × 3), "
                            f"b = {fmt(b)}")
    a, X, b = np.array([1.0, -1.0, 3.0, 0.5]), ctx.rng.normal(size=(4, 1)).round(2), np.array([0.7])
    _exp_case(ctx, a, X, b, f"grad_a_exp_Xb(a, X, b) for a = {fmt(a)}, X = {fmt(X)} (4 × 1), "
                            f"b = {fmt(b)}")


def ge_hidden(ctx: Context) -> None:
    ref = ctx.ref("grad_a_exp_Xb")
    for m, n, scale in [(1, 1, 1.0), (4, 3, 1.0), (2, 5, 0.5), (6, 1, 2.0), (1, 6, 1.0),
                        (10, 8, 0.3)]:
        a, X = ctx.rng.normal(size=m), ctx.rng.normal(size=(m, n)) * scale
        b = ctx.rng.normal(size=n)
        compare_scaled(ctx.call("grad_a_exp_Xb", a, X, b), ref(a, X, b),
              f"grad_a_exp_Xb for X of shape ({m}, {n})", hidden=True, tol=CLOSED_TOL)


# ---------------------------------------------------------------------------------------------


ASSIGNMENT = Assignment(
    name="02_matrix_calculus",
    title="Matrix calculus",
    functions=(
        GradedFunction(
            "numerical_gradient",
            _section("Numerical differentiation", "sec-mc-numerical"),
            public=(("1-d, 2-d and 3-d x vs the exact gradient", ng_smooth_shapes),
                    ("a quadratic f; x unchanged, one entry moved at a time", ng_quadratic),
                    ("uses the step h it is given", ng_honours_h),
                    ("integer and 0-d x", ng_int_and_0d)),
            hidden=(("random shapes and functions vs reference", ng_hidden_random),
                    ("other steps h, integer x", ng_hidden_steps_and_ints)),
            public_points=2, hidden_points=2),
        GradedFunction(
            "numerical_jacobian",
            _section("Numerical differentiation", "sec-mc-numerical"),
            public=(("shape (m, n) and values", nj_shape_values),
                    ("a non-symmetric linear map", nj_linear_square),
                    ("m = 1 and n = 1", nj_edge_dims),
                    ("uses the step h it is given", nj_honours_h)),
            hidden=(("random sizes and steps vs reference", nj_hidden),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "grad_quadratic", _section("The gradient of a quadratic form", "sec-mc-quadratic"),
            public=(("symmetric A", gq_symmetric),
                    ("non-symmetric A", gq_nonsymmetric),
                    ("n = 1 and n = 5", gq_edge)),
            hidden=(("random A and x vs reference", gq_hidden),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "grad_trace_product",
            _section("Bilinear forms and traces of products", "sec-mc-trace"),
            public=(("rectangular A, X, B", gt_rectangular),
                    ("square non-symmetric matrices", gt_square),
                    ("row and column vectors, 1 × 1", gt_vectors)),
            hidden=(("random shapes vs reference", gt_hidden),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "grad_logdet", _section("The gradient of log |det X|", "sec-mc-logdet"),
            public=(("non-symmetric X", gl_central),
                    ("negative determinants, 1 × 1", gl_negative),
                    ("diagonal X", gl_diagonal)),
            hidden=(("random, ill-conditioned and negative-determinant X vs reference",
                     gl_hidden),),
            public_points=1, hidden_points=2),
        GradedFunction(
            "softmax_jacobian", _section("The Jacobian of softmax", "sec-mc-softmax-jacobian"),
            public=(("known values", sj_known),
                    ("symmetric, rows sum to 0", sj_structure),
                    ("|z| = 1000 and K = 1", sj_stable)),
            hidden=(("random and extreme z vs reference", sj_hidden),),
            public_points=1, hidden_points=2),
        GradedFunction(
            "matmul_backward",
            _section("The chain rule for matrices", "sec-mc-chain-rule"),
            public=(("rectangular A, X", mb_rectangular),
                    ("square non-symmetric matrices", mb_square),
                    ("outer product and 1 × 1", mb_thin)),
            hidden=(("random shapes vs reference", mb_hidden),),
            public_points=2, hidden_points=1),
        GradedFunction(
            "grad_a_exp_Xb", _section("Worked example: aᵀ exp(Xb)", "sec-mc-exp"),
            public=(("a 3 × 2 X", ge_central),
                    ("a single row or column", ge_edges)),
            hidden=(("random shapes vs reference", ge_hidden),),
            public_points=1, hidden_points=1),
    ),
)

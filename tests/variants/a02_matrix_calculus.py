"""Wrong and right implementations for 02_matrix_calculus (see tests/variants/__init__.py)."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.special
import torch

from . import right as _right
from . import wrong as _wrong

A = "02_matrix_calculus"


def wrong(target, why, breaks=""):
    return _wrong(A, target, why, breaks=breaks)


def right(target, why):
    return _right(A, target, why)


def _t(x):
    return torch.tensor(np.asarray(x, dtype=np.float64))


# ---------------------------------------------------------------------------- numerical_gradient


@wrong("numerical_gradient", "forward differences (f(x + h e) − f(x)) / h")
def ng_forward(f, x, h=1e-5):
    x = np.array(x, dtype=float)
    f0, g = f(x), np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + h
        g[idx] = (f(x) - f0) / h
        x[idx] = old
    return g


@wrong("numerical_gradient", "ignores the h argument: a coarse fixed step 1e-2")
def ng_coarse(f, x, h=1e-5):
    step = 1e-2
    x = np.array(x, dtype=float)
    g = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + step
        fp = f(x)
        x[idx] = old - step
        fm = f(x)
        x[idx] = old
        g[idx] = (fp - fm) / (2 * step)
    return g


@wrong("numerical_gradient", "ignores the h argument: a fine fixed step 1e-7 (accurate, but not h)")
def ng_fixed_fine(f, x, h=1e-5):
    step = 1e-7
    x = np.array(x, dtype=float)
    g = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + step
        fp = f(x)
        x[idx] = old - step
        fm = f(x)
        x[idx] = old
        g[idx] = (fp - fm) / (2 * step)
    return g


@wrong("numerical_gradient", "x.copy() keeps an integer dtype: x ± h is truncated")
def ng_int_truncates(f, x, h=1e-5):
    x = np.asarray(x).copy()
    g = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + h
        fp = f(x)
        x[idx] = old - h
        fm = f(x)
        x[idx] = old
        g[idx] = (fp - fm) / (2 * h)
    return g


@wrong("numerical_gradient", "perturbations never undone: they accumulate across entries")
def ng_accumulate(f, x, h=1e-5):
    x = np.array(x, dtype=float)
    g = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
        x[idx] += h
        fp = f(x)
        x[idx] -= 2 * h
        fm = f(x)
        g[idx] = (fp - fm) / (2 * h)
    return g


@wrong("numerical_gradient", "perturbs the caller's x in place, restores it by arithmetic (+h −2h +h)")
def ng_in_place(f, x, h=1e-5):
    g = np.zeros(np.shape(x))
    for idx in np.ndindex(*np.shape(x)):
        x[idx] += h
        fp = f(x)
        x[idx] -= 2 * h
        fm = f(x)
        x[idx] += h
        g[idx] = (fp - fm) / (2 * h)
    return g


@wrong("numerical_gradient", "only 1-d x: loops over x[i], which is a whole row of a 2-d x")
def ng_1d_only(f, x, h=1e-5):
    x = np.array(x, dtype=float)
    g = np.zeros(x.shape)
    for i in range(len(x)):
        old = x[i].copy()
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


@wrong("numerical_gradient", "calls f with the flattened x")
def ng_flat(f, x, h=1e-5):
    v = np.array(x, dtype=float).ravel()
    g = np.zeros(v.size)
    for i in range(v.size):
        e = np.zeros(v.size)
        e[i] = h
        g[i] = (f(v + e) - f(v - e)) / (2 * h)
    return g.reshape(np.shape(x))


@wrong("numerical_gradient", "divides by h instead of 2h")
def ng_no_two(f, x, h=1e-5):
    x = np.array(x, dtype=float)
    g = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + h
        fp = f(x)
        x[idx] = old - h
        fm = f(x)
        x[idx] = old
        g[idx] = (fp - fm) / h
    return g


@right("numerical_gradient", "flat index loop with unit arrays, f called on reshaped copies")
def ng_unit_arrays(f, x, h=1e-5):
    base = np.asarray(x, dtype=float)
    out = np.empty(base.size)
    for k in range(base.size):
        e = np.zeros(base.size)
        e[k] = h
        out[k] = (f(base + e.reshape(base.shape)) - f(base - e.reshape(base.shape))) / (2 * h)
    return out.reshape(base.shape)


@right("numerical_gradient", "np.nditer with multi_index, in place on a float copy, float() values")
def ng_nditer(f, x, h=1e-5):
    x = x.astype(np.float64, copy=True)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        fxph = float(f(x))
        x[ix] = old - h
        fxmh = float(f(x))
        x[ix] = old
        grad[ix] = (fxph - fxmh) / (2 * h)
        it.iternext()
    return grad


@right("numerical_gradient", "evaluates f(x) first (allowed) and uses x.flat")
def ng_flat_view(f, x, h=1e-5):
    x = np.array(x, dtype=np.float64)
    _ = f(x)
    grad = np.zeros(x.shape)
    for k in range(x.size):
        old = x.flat[k]
        x.flat[k] = old + h
        up = f(x.copy())
        x.flat[k] = old - h
        down = f(x.copy())
        x.flat[k] = old
        grad.flat[k] = (up - down) / (2 * h)
    return grad


# ---------------------------------------------------------------------------- numerical_jacobian


def _nj_columns(f, x, h, scheme="central"):
    x = np.asarray(x, dtype=float)
    cols = []
    f0 = np.asarray(f(x), dtype=float)
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = h
        if scheme == "forward":
            cols.append((np.asarray(f(x + e)) - f0) / h)
        elif scheme == "no-two":
            cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / h)
        else:
            cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h))
    return cols


@wrong("numerical_jacobian", "transposed: (n, m), denominator layout")
def nj_transposed(f, x, h=1e-5):
    return np.array(_nj_columns(f, x, h))


@wrong("numerical_jacobian", "forward differences")
def nj_forward(f, x, h=1e-5):
    return np.stack(_nj_columns(f, x, h, "forward"), axis=1)


@wrong("numerical_jacobian", "ignores the h argument: step 1e-2")
def nj_coarse(f, x, h=1e-5):
    return np.stack(_nj_columns(f, x, 1e-2), axis=1)


@wrong("numerical_jacobian", "divides by h instead of 2h")
def nj_no_two(f, x, h=1e-5):
    return np.stack(_nj_columns(f, x, h, "no-two"), axis=1)


@wrong("numerical_jacobian", "np.squeeze on the result: (m,) or (n,) instead of (1, n) / (m, 1)")
def nj_squeezed(f, x, h=1e-5):
    return np.squeeze(np.stack(_nj_columns(f, x, h), axis=1))


@right("numerical_jacobian", "rows filled in place, one column per perturbed input")
def nj_fill(f, x, h=1e-5):
    x = np.array(x, dtype=float)
    m = np.size(f(x))
    J = np.zeros((m, x.size))
    for j in range(x.size):
        old = x[j]
        x[j] = old + h
        up = np.array(f(x), dtype=float)
        x[j] = old - h
        down = np.array(f(x), dtype=float)
        x[j] = old
        J[:, j] = (up - down) / (2 * h)
    return J


@right("numerical_jacobian", "np.apply_along_axis over the 2n perturbed points")
def nj_apply(f, x, h=1e-5):
    x = np.asarray(x, dtype=float)
    n = x.size
    points = np.concatenate([x[:, None] + h * np.eye(n), x[:, None] - h * np.eye(n)], axis=1)
    values = np.apply_along_axis(lambda p: np.atleast_1d(f(p)), 0, points)  # (m, 2n)
    return (values[:, :n] - values[:, n:]) / (2 * h)


# -------------------------------------------------------------------------------- grad_quadratic


@wrong("grad_quadratic", "2Ax: assumes A symmetric")
def gq_2ax(A, x):
    return 2 * A @ x


@wrong("grad_quadratic", "Ax: one of the two terms forgotten")
def gq_ax(A, x):
    return A @ x


@wrong("grad_quadratic", "2Aᵀx")
def gq_2atx(A, x):
    return 2 * A.T @ x


@wrong("grad_quadratic", "(A + Aᵀ)x as a column vector of shape (n, 1)")
def gq_column(A, x):
    return (A + A.T) @ x[:, None]


@right("grad_quadratic", "(A + Aᵀ) @ x")
def gq_sym(A, x):
    return (A + A.T) @ x


@right("grad_quadratic", "einsum and explicit double loop")
def gq_loops(A, x):
    n = len(x)
    g = np.zeros(n)
    for k in range(n):
        g[k] = sum(A[k, j] * x[j] for j in range(n)) + sum(A[i, k] * x[i] for i in range(n))
    assert np.allclose(g, np.einsum("kj,j->k", A, x) + np.einsum("ik,i->k", A, x))
    return g


@right("grad_quadratic", "torch.autograd")
def gq_torch(A, x):
    xt = _t(x).requires_grad_()
    (xt @ _t(A) @ xt).backward()
    return xt.grad.numpy()


# ---------------------------------------------------------------------------- grad_trace_product


@wrong("grad_trace_product", "B A: the transpose is missing (numerator layout)")
def gt_ba(A, X, B):
    return B @ A


@wrong("grad_trace_product", "Aᵀ B: transpose on the wrong factor")
def gt_atb(A, X, B):
    return A.T @ B


@wrong("grad_trace_product", "(A B)ᵀ: factors in the wrong order")
def gt_ab_t(A, X, B):
    return (A @ B).T


@wrong("grad_trace_product", "Aᵀ ⊙ Bᵀ elementwise instead of a matrix product")
def gt_elementwise(A, X, B):
    return A.T * B.T


@right("grad_trace_product", "Aᵀ Bᵀ")
def gt_atbt(A, X, B):
    return A.T @ B.T


@right("grad_trace_product", "einsum over the trace's indices")
def gt_einsum(A, X, B):
    return np.einsum("ki,jk->ij", A, B)


@right("grad_trace_product", "torch.autograd of torch.trace")
def gt_torch(A, X, B):
    Xt = _t(X).requires_grad_()
    torch.trace(_t(A) @ Xt @ _t(B)).backward()
    return Xt.grad.numpy()


@right("grad_trace_product", "loop over unit matrices E_ij: tr(A E_ij B) exactly")
def gt_units(A, X, B):
    g = np.zeros(X.shape)
    for i, j in np.ndindex(*X.shape):
        E = np.zeros(X.shape)
        E[i, j] = 1.0
        g[i, j] = np.trace(A @ E @ B)
    return g


# ----------------------------------------------------------------------------------- grad_logdet


@wrong("grad_logdet", "inv(X): the transpose is missing")
def gl_inv(X):
    return np.linalg.inv(X)


@wrong("grad_logdet", "adjugateᵀ / |det X|: wrong sign when det X < 0")
def gl_abs_det(X):
    det = np.linalg.det(X)
    adjugate = det * np.linalg.inv(X)
    return adjugate.T / abs(det)


@wrong("grad_logdet", "torch.logdet + autograd: NaN when det X < 0")
def gl_torch_logdet(X):
    Xt = _t(X).requires_grad_()
    torch.logdet(Xt).backward()
    return Xt.grad.numpy()


@wrong("grad_logdet", "1/X entrywise (the scalar rule d log x = dx / x applied per entry)")
def gl_reciprocal(X):
    with np.errstate(divide="ignore"):
        return 1.0 / X


@wrong("grad_logdet", "torch.linalg.inv in torch's default float32", breaks="dtype")
def gl_float32(X):
    return torch.linalg.inv(torch.tensor(X, dtype=torch.float32)).T.double().numpy()


@right("grad_logdet", "inv(X).T")
def gl_inv_t(X):
    return np.linalg.inv(X).T


@right("grad_logdet", "inv(Xᵀ) via scipy.linalg.lu_factor / lu_solve")
def gl_lu(X):
    lu = scipy.linalg.lu_factor(X.T)
    return scipy.linalg.lu_solve(lu, np.eye(X.shape[0]))


@right("grad_logdet", "SVD: X⁻ᵀ = U Σ⁻¹ Vᵀ")
def gl_svd(X):
    U, s, Vt = np.linalg.svd(X)
    return (U / s) @ Vt


@right("grad_logdet", "torch.linalg.slogdet + autograd")
def gl_torch_slogdet(X):
    Xt = _t(X).requires_grad_()
    torch.linalg.slogdet(Xt).logabsdet.backward()
    return Xt.grad.numpy()


@right("grad_logdet", "cofactor matrix over det X (Cramer)")
def gl_cofactor(X):
    n = X.shape[0]
    if n == 1:
        return 1.0 / X
    C = np.zeros_like(X)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(X, i, axis=0), j, axis=1)
            C[i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return C / np.linalg.det(X)


# ------------------------------------------------------------------------------ softmax_jacobian


def _stable_softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


@wrong("softmax_jacobian", "diag(s) only")
def sj_diag(z):
    return np.diag(_stable_softmax(z))


@wrong("softmax_jacobian", "diag(s(1 − s)): the elementwise sigmoid rule")
def sj_sigmoid_rule(z):
    s = _stable_softmax(z)
    return np.diag(s * (1 - s))


@wrong("softmax_jacobian", "no max-shift: exp overflows at |z| = 1e3")
def sj_unstable(z):
    e = np.exp(z)
    s = e / e.sum()
    return np.diag(s) - np.outer(s, s)


@wrong("softmax_jacobian", "sign flipped: s sᵀ − diag(s)")
def sj_sign(z):
    s = _stable_softmax(z)
    return np.outer(s, s) - np.diag(s)


@wrong("softmax_jacobian", "diag(s) − s ⊙ s broadcast along rows")
def sj_broadcast(z):
    s = _stable_softmax(z)
    return np.diag(s) - s * s


@right("softmax_jacobian", "scipy.special.softmax and a Kronecker-delta double loop")
def sj_loop(z):
    s = scipy.special.softmax(z)
    K = len(z)
    return np.array([[s[i] * ((i == j) - s[j]) for j in range(K)] for i in range(K)])


@right("softmax_jacobian", "torch.autograd.functional.jacobian of torch.softmax")
def sj_torch(z):
    return torch.autograd.functional.jacobian(lambda t: torch.softmax(t, 0), _t(z)).numpy()


@right("softmax_jacobian", "via log-sum-exp: s = exp(z − lse(z))")
def sj_lse(z):
    s = np.exp(z - scipy.special.logsumexp(z))
    return np.diag(s) - np.outer(s, s)


# ------------------------------------------------------------------------------- matmul_backward


@wrong("matmul_backward", "returns (dX, dA): swapped order")
def mb_swapped(A, X, G):
    return A.T @ G, G @ X.T


@wrong("matmul_backward", "dA = Gᵀ X")
def mb_gt_x(A, X, G):
    return G.T @ X, A.T @ G


@wrong("matmul_backward", "dX transposed: (Aᵀ G)ᵀ of shape (n, k)")
def mb_dx_transposed(A, X, G):
    return G @ X.T, (A.T @ G).T


@wrong("matmul_backward", "no transposes: dA = G X, dX = A G")
def mb_no_transposes(A, X, G):
    return G @ X, A @ G


@right("matmul_backward", "torch.autograd on L = Σ G ⊙ (A X)")
def mb_torch(A, X, G):
    At, Xt = _t(A).requires_grad_(), _t(X).requires_grad_()
    ((At @ Xt) * _t(G)).sum().backward()
    return At.grad.numpy(), Xt.grad.numpy()


@right("matmul_backward", "einsum")
def mb_einsum(A, X, G):
    return np.einsum("ij,kj->ik", G, X), np.einsum("ik,ij->kj", A, G)


@right("matmul_backward", "explicit loops over entries, returned as a list")
def mb_loops(A, X, G):
    m, k = A.shape
    n = X.shape[1]
    dA, dX = np.zeros((m, k)), np.zeros((k, n))
    for i in range(m):
        for p in range(k):
            for j in range(n):
                dA[i, p] += G[i, j] * X[p, j]
                dX[p, j] += A[i, p] * G[i, j]
    return [dA, dX]


# --------------------------------------------------------------------------------- grad_a_exp_Xb


@wrong("grad_a_exp_Xb", "b forgotten in the outer product: a ⊙ exp(Xb) copied along columns")
def ge_no_b(a, X, b):
    return np.outer(a * np.exp(X @ b), np.ones_like(b))


@wrong("grad_a_exp_Xb", "transposed: b (a ⊙ exp(Xb))ᵀ")
def ge_transposed(a, X, b):
    return np.outer(b, a * np.exp(X @ b))


@wrong("grad_a_exp_Xb", "a forgotten: exp(Xb) bᵀ")
def ge_no_a(a, X, b):
    return np.outer(np.exp(X @ b), b)


@wrong("grad_a_exp_Xb", "exp applied to X instead of Xb: a_i exp(X_ij) b_j")
def ge_exp_x(a, X, b):
    return a[:, None] * np.exp(X) * b[None, :]


@right("grad_a_exp_Xb", "einsum")
def ge_einsum(a, X, b):
    return np.einsum("i,i,j->ij", a, np.exp(X @ b), b)


@right("grad_a_exp_Xb", "torch.autograd")
def ge_torch(a, X, b):
    Xt = _t(X).requires_grad_()
    (_t(a) @ torch.exp(Xt @ _t(b))).backward()
    return Xt.grad.numpy()


@right("grad_a_exp_Xb", "double loop with math.exp")
def ge_loop(a, X, b):
    import math

    m, n = X.shape
    g = np.zeros((m, n))
    for i in range(m):
        row = math.exp(sum(X[i, j] * b[j] for j in range(n)))
        for j in range(n):
            g[i, j] = a[i] * row * b[j]
    return g

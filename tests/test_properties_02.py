"""Properties of the chapter 02 reference solutions on inputs drawn by hypothesis: the identities
the chapter states hold for the code we grade against — every closed-form gradient agrees with
central differences, the trace trick (∇_X tr(AXB) is the matmul backward with G = Bᵀ), the
softmax Jacobian is symmetric, positive semi-definite with rows summing to 0, X⁻ᵀ is the
gradient of log|det X| whatever the sign of det X, and central differences are O(h²) while
forward differences are O(h)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from autograder.checks import relative_error
from tests.conftest import reference

REF = reference("02_matrix_calculus")

dims = st.integers(1, 5)
seeds = st.integers(0, 2**32 - 1)


def ngrad(f, x, h=1e-5):
    return REF["numerical_gradient"](f, x, h)


@given(dims, seeds)
def test_grad_quadratic_matches_central_differences_and_euler(n, seed):
    rng = np.random.default_rng(seed)
    A, x = rng.normal(size=(n, n)), rng.normal(size=n)
    g = REF["grad_quadratic"](A, x)
    assert relative_error(g, ngrad(lambda v: v @ A @ v, x)) < 1e-8
    # only the symmetric part of A matters; Euler's identity for a form of degree 2
    assert np.allclose(g, REF["grad_quadratic"]((A + A.T) / 2, x))
    assert np.isclose(x @ g, 2 * x @ A @ x)


@given(dims, dims, dims, seeds)
def test_trace_gradient_is_the_matmul_backward_with_g_equal_bt(p, m, n, seed):
    rng = np.random.default_rng(seed)
    A, X, B = rng.normal(size=(p, m)), rng.normal(size=(m, n)), rng.normal(size=(n, p))
    g = REF["grad_trace_product"](A, X, B)
    assert g.shape == X.shape
    assert relative_error(g, ngrad(lambda Z: np.trace(A @ Z @ B), X)) < 1e-8
    # tr(AXB) = <Bᵀ, AX>: L with upstream gradient G = Bᵀ through Y = A X
    assert np.allclose(g, REF["matmul_backward"](A, X, B.T)[1])


@given(dims, dims, dims, seeds)
def test_matmul_backward_is_the_adjoint_of_the_differential(m, k, n, seed):
    rng = np.random.default_rng(seed)
    A, X, G = rng.normal(size=(m, k)), rng.normal(size=(k, n)), rng.normal(size=(m, n))
    dA, dX = REF["matmul_backward"](A, X, G)
    assert dA.shape == A.shape and dX.shape == X.shape
    # <G, dY> = <dA, ΔA> + <dX, ΔX> for dY = ΔA X + A ΔX (the product rule)
    EA, EX = rng.normal(size=A.shape), rng.normal(size=X.shape)
    assert np.isclose(np.sum(G * (EA @ X + A @ EX)), np.sum(dA * EA) + np.sum(dX * EX))


@given(dims, st.booleans(), st.floats(0.1, 10.0), seeds)
def test_logdet_gradient_is_inverse_transpose_for_either_sign(n, negative, scale, seed):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.normal(size=(n, n)))
    V, _ = np.linalg.qr(rng.normal(size=(n, n)))
    X = U @ np.diag(rng.uniform(0.5, 2.0, size=n)) @ V.T  # condition number at most 4
    if (np.linalg.det(X) < 0) != negative:
        X[0] = -X[0]
    g = REF["grad_logdet"](X)
    assert np.allclose(X.T @ g, np.eye(n), atol=1e-10)
    assert relative_error(g, ngrad(lambda Z: np.linalg.slogdet(Z)[1], X)) < 1e-7
    assert np.allclose(REF["grad_logdet"](scale * X), g / scale)  # log|det cX| = n log|c| + ...


@given(st.integers(1, 8), st.sampled_from([1.0, 10.0, 1e3, 1e4]), seeds)
def test_softmax_jacobian_structure(k, scale, seed):
    z = np.random.default_rng(seed).normal(size=k) * scale
    J = REF["softmax_jacobian"](z)
    assert np.all(np.isfinite(J))
    assert np.allclose(J, J.T) and np.allclose(J.sum(axis=1), 0.0, atol=1e-12)
    assert np.linalg.eigvalsh(J).min() > -1e-12  # diag(s) − s sᵀ is positive semi-definite
    assert np.allclose(REF["softmax_jacobian"](z + 123.0), J, atol=1e-12)  # shift invariance


@given(st.integers(1, 6), seeds)
def test_softmax_jacobian_is_the_numerical_jacobian(k, seed):
    z = np.random.default_rng(seed).normal(size=k) * 3

    def softmax(v):
        e = np.exp(v - v.max())
        return e / e.sum()

    J = REF["softmax_jacobian"](z)
    assert np.abs(J - REF["numerical_jacobian"](softmax, z)).max() < 1e-9


@given(dims, dims, seeds)
def test_grad_a_exp_Xb_matches_central_differences(m, n, seed):
    rng = np.random.default_rng(seed)
    a, X, b = rng.normal(size=m), rng.normal(size=(m, n)) * 0.5, rng.normal(size=n)
    g = REF["grad_a_exp_Xb"](a, X, b)
    assert relative_error(g, ngrad(lambda Z: a @ np.exp(Z @ b), X)) < 1e-8
    assert np.linalg.matrix_rank(g) <= 1  # an outer product


@given(st.lists(dims, min_size=0, max_size=3), seeds)
def test_numerical_gradient_any_shape_exact_on_quadratics_and_leaves_x_alone(shape, seed):
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.normal(size=tuple(shape)))
    M = rng.normal(size=(x.size, x.size))
    before = x.copy()
    g = ngrad(lambda v: v.ravel() @ M @ v.ravel(), x)
    assert g.shape == x.shape and np.array_equal(x, before)
    assert np.allclose(g, ((M + M.T) @ x.ravel()).reshape(x.shape), atol=1e-8)


@given(dims, seeds)
def test_numerical_jacobian_of_linear_map_and_layout(n, seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 6))
    M, x = rng.normal(size=(m, n)), rng.normal(size=n)
    J = REF["numerical_jacobian"](lambda v: M @ v, x)
    assert J.shape == (m, n) and np.allclose(J, M, atol=1e-9)


def test_central_differences_are_second_order_forward_first_order():
    x = np.array([0.3, -0.7, 1.1])
    exact = np.cos(x)

    def forward(h):
        return np.array([(np.sin(x[i] + h) - np.sin(x[i])) / h for i in range(3)])

    central_err = [np.abs(ngrad(lambda v: np.sum(np.sin(v)), x, h) - exact).max()
                   for h in (1e-2, 1e-3)]
    forward_err = [np.abs(forward(h) - exact).max() for h in (1e-2, 1e-3)]
    assert 80 < central_err[0] / central_err[1] < 120  # h → h/10: error / 100
    assert 8 < forward_err[0] / forward_err[1] < 12  # h → h/10: error / 10

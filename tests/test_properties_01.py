"""Properties of the chapter 01 reference solutions on inputs drawn by hypothesis: the identities
the chapter states (H(p, q) = H(p) + KL(p‖q), Gibbs' inequality, shift invariance, the
softmax-CE gradient, the MAP stationarity conditions) hold for the code we grade against."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from autograder.checks import central_difference_grad, relative_error
from tests.conftest import reference

REF = reference("01_information")


@st.composite
def distributions(draw, k=None, with_zeros=True):
    k = k or draw(st.integers(1, 8))
    weights = draw(arrays(np.float64, k, elements=st.floats(0.0 if with_zeros else 1e-3, 1.0)))
    if weights.sum() == 0:
        weights[0] = 1.0
    return weights / weights.sum()


@given(st.data())
def test_cross_entropy_decomposes(data):
    k = data.draw(st.integers(1, 8))
    p, q = data.draw(distributions(k)), data.draw(distributions(k, with_zeros=False))
    lhs = REF["cross_entropy"](p, q)
    rhs = REF["entropy"](p) + REF["kl_divergence"](p, q)
    assert np.isclose(lhs, rhs, atol=1e-12)
    assert REF["kl_divergence"](p, q) >= -1e-12  # Gibbs' inequality
    assert abs(REF["kl_divergence"](p, p)) <= 1e-15


@given(distributions(), st.sampled_from([2.0, np.e, 10.0]))
def test_entropy_bounds_and_base(p, base):
    h = REF["entropy"](p, base=base)
    assert -1e-12 <= h <= np.log(len(p)) / np.log(base) + 1e-12
    assert np.isclose(h * np.log(base), REF["entropy"](p))


@given(arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)),
              elements=st.floats(-1e4, 1e4)), st.floats(-1e3, 1e3))
def test_log_softmax_normalised_and_shift_invariant(z, c):
    out = REF["log_softmax"](z)
    assert np.all(np.isfinite(out))
    assert np.allclose(np.exp(out).sum(-1), 1.0)
    assert np.allclose(REF["log_softmax"](z + c), out, atol=1e-9 * (1 + np.abs(out)).max())


@given(st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_softmax_cross_entropy_gradient(n, k, seed):
    rng = np.random.default_rng(seed)
    logits, y = rng.normal(size=(n, k)) * 3, rng.integers(0, k, size=n)
    _, grad = REF["softmax_cross_entropy"](logits, y)
    numeric = central_difference_grad(lambda z: REF["softmax_cross_entropy"](z, y)[0], logits)
    assert relative_error(grad, numeric) < 1e-5  # central differences: ~1e-7 noise


@given(st.integers(1, 20), st.integers(1, 5), st.floats(0.01, 10), st.floats(0.01, 10),
       st.integers(0, 2**32 - 1))
def test_ridge_map_is_stationary_point_of_log_posterior(n, d, s2, t2, seed):
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(n, d)), rng.normal(size=n)
    w = REF["ridge_map"](X, y, s2, t2)
    grad = X.T @ (X @ w - y) / s2 + w / t2
    assert np.abs(grad).max() < 1e-8 * (1 + np.abs(X.T @ y).max() / s2)


@given(st.lists(st.integers(0, 1), min_size=1, max_size=50), st.floats(1.01, 20),
       st.floats(1.01, 20))
def test_beta_bernoulli_map_between_prior_mode_and_mle(x, a, b):
    theta = REF["beta_bernoulli_map"](np.array(x), a, b)
    prior_mode, mle = (a - 1) / (a + b - 2), np.mean(x)
    assert min(prior_mode, mle) - 1e-12 <= theta <= max(prior_mode, mle) + 1e-12


@given(arrays(np.float64, st.integers(1, 40), elements=st.floats(-1e3, 1e3)))
def test_gaussian_mle_matches_definition(x):
    mu, var = REF["gaussian_mle"](x)
    assert np.isclose(mu, x.mean()) and np.isclose(var, ((x - x.mean()) ** 2).mean(), atol=1e-9)

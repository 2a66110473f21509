"""Properties of the chapter 08 reference solutions on inputs drawn by hypothesis: they
agree with the torch and scipy oracles that the checks use (so a check never fails
the reference), and with the identities the chapter proves: C(G) = −log 4 + 2·JS at
the optimal discriminator, JS in [0, log 2], the Fréchet distance symmetric and 0 for
identical Gaussians, the ELBO gradients equal to central differences, the
linear-Gaussian ELBO equal to log p(x) at the true posterior.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.assignments import generative as checks
from autograder.checks import central_difference_grad
from tests.conftest import reference

REF = reference("08_generative")
settings.register_profile("course", max_examples=30, deadline=None)
settings.load_profile("course")

seeds = st.integers(0, 2**32 - 1)
sizes = st.integers(1, 6)
scales = st.sampled_from([0.1, 1.0, 30.0, 1e4])


def _close(a, b, tol=1e-9):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(1.0, float(np.abs(b).max()) if b.size else 0.0)
    assert float(np.abs(a - b).max(initial=0.0)) <= tol * scale, (a, b)


@given(sizes, sizes, scales, st.booleans(), seeds)
def test_gan_and_relativistic_losses_match_torch(nr, nf, scale, sat, seed):
    rng = np.random.default_rng(seed)
    r, f = rng.normal(size=nr) * scale, rng.normal(size=nf) * scale
    _close(REF["gan_losses"](r, f, saturating=sat), checks.torch_gan_losses(r, f, sat))
    _close(REF["relativistic_average_losses"](r, f), checks.torch_relativistic(r, f))


@given(st.integers(2, 8), seeds)
def test_minimax_value_at_the_optimal_discriminator_is_minus_log4_plus_2js(k, seed):
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k) * 0.5)
    d = REF["optimal_discriminator"](p, q)
    with np.errstate(divide="ignore"):
        value = np.sum(p * np.log(d)) + np.sum(q * np.log1p(-d))
    js = REF["js_divergence"](p, q)
    assert 0.0 <= js <= math.log(2)
    assert math.isclose(value, -math.log(4) + 2 * js, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(js, checks.scipy_js(p, q), rel_tol=1e-8, abs_tol=1e-14)


@given(
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(1, 5),
    st.sampled_from([0.2, 1.0, 3.0]),
    seeds,
)
def test_gradient_penalty_matches_double_backprop_in_torch(N, D, H, scale, seed):
    rng = np.random.default_rng(seed)
    args = checks._gp_inputs(rng, N, D, H, scale)
    penalty, grads = REF["wgan_gp_penalty"](*args, lam=3.0)
    expected = checks.torch_gp(*args, 3.0)
    _close(penalty, expected[0])
    for g, e in zip(grads, expected[1]):
        _close(g, e, 1e-8)


@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), seeds)
def test_frechet_distance_properties(D, r1, r2, seed):
    rng = np.random.default_rng(seed)
    c1 = checks._psd(rng, D, min(r1, D))
    c2 = checks._psd(rng, D, min(r2, D))
    mu1, mu2 = rng.normal(size=D), rng.normal(size=D)
    fid = REF["frechet_distance"]
    tol = checks._fid_tol(c1, c2)
    d12 = fid(mu1, c1, mu2, c2)
    assert d12 >= 0
    assert abs(d12 - fid(mu2, c2, mu1, c1)) <= tol
    assert abs(fid(mu1, c1, mu1, c1)) <= tol
    if min(r1, r2) >= D:
        assert abs(d12 - checks.scipy_frechet(mu1, c1, mu2, c2)) <= tol


@given(sizes, sizes, st.sampled_from([0.1, 1.0, 5.0]), seeds)
def test_vae_pieces_match_torch(N, L, spread, seed):
    rng = np.random.default_rng(seed)
    mu, eps, dz = (rng.normal(size=(N, L)) for _ in range(3))
    logvar = rng.normal(size=(N, L)) * spread
    z, cache = REF["vae_reparameterize"](mu, logvar, eps)
    ez, edmu, edlv = checks.torch_reparam(mu, logvar, eps, dz)
    _close(z, ez)
    for g, e in zip(REF["vae_reparameterize_backward"](dz, cache), (edmu, edlv)):
        _close(g, e)
    _close(REF["gaussian_kl"](mu, logvar), checks.torch_kl(mu, logvar))


@given(sizes, st.integers(1, 5), sizes, scales, seeds)
def test_negative_elbo_matches_torch_and_central_differences(N, P, L, scale, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(N, P))
    logits = rng.normal(size=(N, P)) * scale
    mu, logvar = rng.normal(size=(N, L)), rng.normal(size=(N, L))
    got = REF["vae_negative_elbo"](x, logits, mu, logvar)
    expected = checks.torch_elbo(x, logits, mu, logvar)
    for g, e in zip(got, expected):
        _close(g, e)
    if scale <= 1.0:

        def loss(v):
            return REF["vae_negative_elbo"](x, v, mu, logvar)[0]

        _close(got[1], central_difference_grad(loss, logits), 1e-6)


@given(st.integers(1, 3), st.integers(1, 4), seeds)
def test_linear_gaussian_elbo_is_exact_at_the_true_posterior(L, P, seed):
    """p(z) = N(0, I), p(x|z) = N(Wz + b, s²I): with q equal to the true posterior the
    ELBO (computed in closed form) equals log p(x) = log N(x; b, WWᵀ + s²I)."""
    rng = np.random.default_rng(seed)
    W, b, s2 = rng.normal(size=(P, L)), rng.normal(size=P), 0.5
    x = rng.normal(size=P)
    cov_x = W @ W.T + s2 * np.eye(P)
    log_px = -0.5 * (
        P * math.log(2 * math.pi)
        + np.linalg.slogdet(cov_x)[1]
        + (x - b) @ np.linalg.solve(cov_x, x - b)
    )
    S = np.linalg.inv(np.eye(L) + W.T @ W / s2)
    m = S @ W.T @ (x - b) / s2
    r = x - b - W @ m
    expected_log_lik = -0.5 * (
        P * math.log(2 * math.pi * s2) + (r @ r + np.trace(W @ S @ W.T)) / s2
    )
    kl = 0.5 * (np.trace(S) + m @ m - L - np.linalg.slogdet(S)[1])
    assert math.isclose(expected_log_lik - kl, log_px, rel_tol=1e-9, abs_tol=1e-9)

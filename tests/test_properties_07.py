"""Properties of the chapter 07 reference solutions on inputs drawn by hypothesis: every step
function follows ``torch.optim`` in float64 over its option grid, with the learning rate changed
part-way and gradients from 1e-9 to 1e6; the schedules agree with torch's schedulers; the
heavy-ball iterates agree with ``torch.optim.SGD``, and the spectral radius both agrees with the
eigenvalues of the 2d × 2d iteration matrix and predicts the observed decay of the error.

Also: the checks' torch driver (``optimization.torch_steps``) is exercised here on the same
inputs, so a broken oracle cannot make every student fail (or pass) silently."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.assignments import optimization as checks
from tests.conftest import reference

REF = reference("07_optimization")
settings.register_profile("course", max_examples=25, deadline=None)
settings.load_profile("course")

seeds = st.integers(0, 2**32 - 1)
scales = st.sampled_from([1e-9, 1e-4, 1.0, 1e3, 1e6])
lrs = st.sampled_from([1e-3, 1e-2, 0.1])

OPTIONS = {
    "sgd_step": st.fixed_dictionaries({}, optional={
        "momentum": st.sampled_from([0.5, 0.9]), "dampening": st.sampled_from([0.0, 0.3]),
        "weight_decay": st.sampled_from([0.0, 0.1])}),
    "adagrad_step": st.fixed_dictionaries({}, optional={
        "lr_decay": st.sampled_from([0.0, 0.1]), "weight_decay": st.sampled_from([0.0, 0.1]),
        "eps": st.sampled_from([1e-10, 1e-6])}),
    "rmsprop_step": st.fixed_dictionaries({}, optional={
        "alpha": st.sampled_from([0.9, 0.99]), "momentum": st.sampled_from([0.0, 0.9]),
        "centered": st.booleans(), "eps": st.sampled_from([1e-8, 1e-4])}),
    "adam_step": st.fixed_dictionaries({}, optional={
        "betas": st.sampled_from([(0.9, 0.999), (0.5, 0.9), (0.0, 0.99)]),
        "weight_decay": st.sampled_from([0.0, 0.1]), "amsgrad": st.booleans(),
        "eps": st.sampled_from([1e-8, 1e-3])}),
    "adamw_step": st.fixed_dictionaries({}, optional={
        "betas": st.sampled_from([(0.9, 0.999), (0.5, 0.9)]),
        "weight_decay": st.sampled_from([0.0, 0.01, 1.0])}),
}


def _reference_steps(name, theta0, grads, lr_list, hyper):
    step, theta, state, out = REF[name], theta0, {}, []
    for g, lr in zip(grads, lr_list):
        before = (theta.copy(), g.copy())
        theta_new, state = step(theta, g, state, lr=lr, **hyper)
        assert np.array_equal(theta, before[0]) and np.array_equal(g, before[1])  # no in-place
        theta = theta_new
        out.append(theta)
    return np.array(out)


def _close_steps(got, expected, theta0, tol=1e-9):
    moved = np.maximum.accumulate(np.abs(expected - theta0).max(axis=1))
    floor = 1e-13 * max(1.0, float(np.abs(expected).max()))
    assert np.all(np.abs(got - expected).max(axis=1) <= tol * moved + floor)


def _check_optimizer(name, data, seed, scale, lr):
    hyper = data.draw(OPTIONS[name])
    if name == "sgd_step" and hyper.get("momentum") and data.draw(st.booleans()):
        hyper = {**hyper, "nesterov": True, "dampening": 0.0}
    rng = np.random.default_rng(seed)
    d, steps = int(rng.integers(1, 6)), int(rng.integers(2, 30))
    theta0 = rng.normal(size=d)
    grads = rng.normal(size=(steps, d)) * scale
    lr_list = [lr] * (steps // 2) + [lr * 0.2] * (steps - steps // 2)
    expected = checks.torch_steps(name, theta0, grads, lr_list, hyper)
    _close_steps(_reference_steps(name, theta0, grads, lr_list, hyper), expected, theta0)


@given(st.data(), seeds, scales, lrs)
def test_sgd_matches_torch(data, seed, scale, lr):
    _check_optimizer("sgd_step", data, seed, scale, lr)


@given(st.data(), seeds, scales, lrs)
def test_adagrad_matches_torch(data, seed, scale, lr):
    _check_optimizer("adagrad_step", data, seed, scale, lr)


@given(st.data(), seeds, scales, lrs)
def test_rmsprop_matches_torch(data, seed, scale, lr):
    _check_optimizer("rmsprop_step", data, seed, scale, lr)


@given(st.data(), seeds, scales, lrs)
def test_adam_matches_torch(data, seed, scale, lr):
    _check_optimizer("adam_step", data, seed, scale, lr)


@given(st.data(), seeds, scales, lrs)
def test_adamw_matches_torch(data, seed, scale, lr):
    _check_optimizer("adamw_step", data, seed, scale, lr)


@given(st.integers(2, 300), st.data(), st.sampled_from([0.0, 1e-4, 0.01]))
def test_warmup_cosine_matches_torch_schedulers(total, data, min_lr):
    warm = data.draw(st.integers(0, total - 1))
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=0.1)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - warm,
                                                        eta_min=min_lr)
    if warm:
        ramp = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: s / warm)
        sched = torch.optim.lr_scheduler.SequentialLR(opt, [ramp, cosine], milestones=[warm])
    else:
        sched = cosine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for step in range(total + 1):
            got = REF["warmup_cosine_lr"](step, 0.1, warm, total, min_lr=min_lr)
            assert math.isclose(got, opt.param_groups[0]["lr"], rel_tol=1e-9, abs_tol=1e-12)
            opt.step()
            sched.step()
    assert REF["warmup_cosine_lr"](total + 5, 0.1, warm, total, min_lr=min_lr) == min_lr


@given(st.integers(1, 12), st.integers(1, 3), st.floats(0, 200),
       st.sampled_from([0.0, 0.001]))
def test_sgdr_matches_torch_away_from_restarts(T_0, T_mult, epoch, eta_min):
    restarts = checks._restarts(T_0, T_mult, 250.0)
    got = REF["sgdr_lr"](epoch, 0.5, T_0, T_mult, eta_min)
    if epoch in restarts:
        assert got == 0.5
        return
    expected = checks._torch_sgdr([epoch], 0.5, T_0, T_mult, eta_min)[0]
    assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12)


def _random_symmetric(rng, eigs):
    Q, _ = np.linalg.qr(rng.normal(size=(len(eigs), len(eigs))))
    return (Q * np.asarray(eigs)) @ Q.T


@given(seeds, st.integers(1, 4), st.floats(0.0, 0.95), st.integers(0, 40))
def test_heavy_ball_matches_torch_sgd(seed, d, mu, steps):
    rng = np.random.default_rng(seed)
    eigs = rng.uniform(-1, 4, size=d)
    eigs[np.abs(eigs) < 0.1] = 0.5  # invertible
    A = _random_symmetric(rng, eigs)
    b, x0 = rng.normal(size=d), rng.normal(size=d)
    lr = float(rng.uniform(0.01, 0.4))
    got = REF["heavy_ball_trajectory"](A, b, x0, lr, mu, steps)
    expected = checks.torch_heavy_ball(A, b, x0, lr, mu, steps)
    assert got.shape == (steps + 1, d)
    scale = np.maximum.accumulate(np.abs(expected).max(axis=1))[:, None]
    assert np.allclose(got / scale, expected / scale, rtol=1e-9, atol=1e-12)


@given(seeds, st.integers(1, 4), st.floats(0.0, 0.99), st.floats(0.001, 1.0))
def test_spectral_radius_is_that_of_the_block_matrix(seed, d, mu, lr):
    rng = np.random.default_rng(seed)
    A = _random_symmetric(rng, rng.uniform(-2, 5, size=d))
    T = np.block([[(1 + mu) * np.eye(d) - lr * A, -mu * np.eye(d)],
                  [np.eye(d), np.zeros((d, d))]])
    expected = float(np.abs(np.linalg.eigvals(T)).max())
    assert math.isclose(REF["iteration_spectral_radius"](A, lr, mu), expected, rel_tol=1e-6)


@given(seeds, st.floats(0.0, 0.9))
def test_spectral_radius_predicts_the_error_decay(seed, mu):
    """Positive definite A with distinct eigenvalues and mu away from critical damping: the
    error of the heavy-ball iterates decays (or grows) at rate rho per step."""
    rng = np.random.default_rng(seed)
    eigs = np.array([1.0, 2.5, 4.0])
    A, b = _random_symmetric(rng, eigs), rng.normal(size=3)
    lr = float(rng.uniform(0.05, 0.5))
    rho = REF["iteration_spectral_radius"](A, lr, mu)
    for lam in eigs:  # skip (nearly) defective blocks, whose decay has a polynomial factor
        if abs((1 + mu - lr * lam) ** 2 - 4 * mu) < 1e-2:
            return
    xs = REF["heavy_ball_trajectory"](A, b, rng.normal(size=3), lr, mu, 120)
    err = np.linalg.norm(xs - np.linalg.solve(A, b), axis=1)
    if rho < 1 and err[120] < 1e-13 * err[0]:
        return  # rounding has taken over
    observed = (err[120] / err[60]) ** (1 / 60)
    assert abs(observed - rho) < 0.05 * max(rho, 0.1)

"""Properties of the chapter 03 reference solutions on inputs drawn by hypothesis: every backward
pass agrees with central differences of its forward, the activation identities of the chapter
hold (σ(−x) = 1 − σ(x), tanh(x) = 2σ(2x) − 1, ReLU(x) − ReLU(−x) = x) without overflow warnings,
the two-layer network's gradients are those of its loss, ``Value`` agrees with torch.autograd on
random expression graphs — and so do the oracles the public checks use instead of torch."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from autograder.assignments import backprop as checks
from autograder.checks import central_difference_grad, relative_error
from autograder.harness.backprop import value_graphs
from autograder.harness.backprop import BINARY, CONSTANT_FIRST, WITH_CONSTANT
from tests.conftest import reference

REF = reference("03_backprop")

seeds = st.integers(0, 2**32 - 1)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


def _no_warnings(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            return fn(*args)


@given(st.integers(1, 4), shapes, st.integers(1, 4), seeds)
def test_affine_backward_is_the_gradient_of_its_forward(n, dims, m, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *dims))
    W, b = rng.normal(size=(int(np.prod(dims)), m)), rng.normal(size=m)
    dout = rng.normal(size=(n, m))
    out, cache = REF["affine_forward"](x, W, b)
    assert out.shape == (n, m)
    dx, dW, db = REF["affine_backward"](dout, cache)

    def loss(x_, W_, b_):
        return float(np.sum(dout * REF["affine_forward"](x_, W_, b_)[0]))
    assert relative_error(dx, central_difference_grad(lambda v: loss(v, W, b), x)) < 1e-7
    assert relative_error(dW, central_difference_grad(lambda v: loss(x, v, b), W)) < 1e-7
    assert relative_error(db, central_difference_grad(lambda v: loss(x, W, v), b)) < 1e-7


@given(arrays(np.float64, shapes, elements=st.floats(-1e3, 1e3)), seeds)
def test_relu_identity_and_gradient(x, seed):
    dout = np.random.default_rng(seed).normal(size=x.shape)
    out, cache = REF["relu_forward"](x)
    assert np.array_equal(out - REF["relu_forward"](-x)[0], x)
    assert np.array_equal(REF["relu_backward"](dout, cache), np.where(x > 0, dout, 0.0))


@given(arrays(np.float64, shapes, elements=st.floats(-1e3, 1e3)))
def test_sigmoid_symmetry_and_no_overflow(x):
    s = _no_warnings(lambda v: REF["sigmoid_forward"](v)[0], x)
    s_neg = _no_warnings(lambda v: REF["sigmoid_forward"](v)[0], -x)
    assert np.all((s >= 0) & (s <= 1))
    assert np.allclose(s + s_neg, 1.0, rtol=0, atol=1e-15)
    assert np.allclose(s, torch.sigmoid(torch.as_tensor(x)).numpy(), rtol=1e-12, atol=1e-300)


@given(arrays(np.float64, shapes, elements=st.floats(-500, 500)))
def test_tanh_is_a_rescaled_sigmoid(x):
    t = REF["tanh_forward"](x)[0]
    assert np.allclose(t, 2 * REF["sigmoid_forward"](2 * x)[0] - 1, rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
@given(shape=shapes, seed=seeds)
def test_activation_backward_is_the_gradient_of_its_forward(name, shape, seed):
    rng = np.random.default_rng(seed)
    x, dout = rng.normal(size=shape) * 3, rng.normal(size=shape)
    _, cache = REF[f"{name}_forward"](x)
    dx = REF[f"{name}_backward"](dout, cache)
    f, h = (lambda v: REF[f"{name}_forward"](v)[0]), 1e-6
    numeric = dout * (f(x + h) - f(x - h)) / (2 * h)  # elementwise: one central difference each
    assert np.allclose(dx, numeric, rtol=1e-6, atol=1e-9)


def _net_loss(params: dict, X: np.ndarray, y: np.ndarray, reg: float) -> float:
    """The loss from its definition (forward only). Here, not in the grader's package: that
    ships to every student and must hold no implementation of a graded function."""
    hidden = np.maximum(X @ params["W1"] + params["b1"], 0.0)
    scores = hidden @ params["W2"] + params["b2"]
    top = scores.max(axis=1, keepdims=True)
    log_probs = scores - top - np.log(np.exp(scores - top).sum(axis=1, keepdims=True))
    data = -log_probs[np.arange(len(y)), y].mean()
    return float(data + 0.5 * reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def _numeric_param_grads(params: dict, X, y, reg: float, h: float = 1e-6) -> dict:
    grads = {}
    for key in checks.PARAM_KEYS:
        g = np.zeros_like(params[key])
        for idx in np.ndindex(*params[key].shape):
            shifted = {k: v.copy() for k, v in params.items()}
            shifted[key][idx] += h
            up = _net_loss(shifted, X, y, reg)
            shifted[key][idx] -= 2 * h
            g[idx] = (up - _net_loss(shifted, X, y, reg)) / (2 * h)
        grads[key] = g
    return grads


@given(st.integers(1, 5), st.integers(1, 4), st.integers(1, 5), st.integers(2, 5),
       st.sampled_from([0.0, 0.1, 2.0]), seeds)
def test_two_layer_net_gradients_and_loss(n, d, h, c, reg, seed):
    rng = np.random.default_rng(seed)
    params, X, y = checks._random_net(rng, n, d, h, c)
    loss, grads = REF["two_layer_net_loss"](params, X, y, reg)
    penalty = 0.5 * reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    assert loss >= penalty
    numeric = _numeric_param_grads(params, X, y, reg)
    for key in checks.PARAM_KEYS:
        assert grads[key].shape == params[key].shape
        assert relative_error(grads[key], numeric[key]) < 1e-6, key
    # the same network in torch
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    scores = torch.relu(torch.tensor(X) @ t["W1"] + t["b1"]) @ t["W2"] + t["b2"]
    torch_loss = torch.nn.functional.cross_entropy(scores, torch.as_tensor(y)) + \
        0.5 * reg * ((t["W1"] ** 2).sum() + (t["W2"] ** 2).sum())
    torch_loss.backward()
    assert np.isclose(loss, torch_loss.item(), rtol=1e-12)
    for key in checks.PARAM_KEYS:
        assert np.allclose(grads[key], t[key].grad.numpy(), rtol=1e-10, atol=1e-12), key


@given(st.integers(1, 6), st.integers(1, 6))
def test_two_layer_net_with_zero_weights_has_loss_log_c(n, c):
    params = {"W1": np.zeros((3, 4)), "b1": np.zeros(4), "W2": np.zeros((4, c)),
              "b2": np.zeros(c)}
    y = np.arange(n) % c
    loss, _ = REF["two_layer_net_loss"](params, np.ones((n, 3)), y, 0.0)
    assert np.isclose(loss, math.log(c))


def torch_graph(graph: list) -> list:
    """[data, grad] of every node of a graph description, by torch.autograd in float64."""
    ts = []
    for spec in graph:
        op = spec[0]
        if op == "leaf":
            t = torch.tensor(float(spec[1]), dtype=torch.float64, requires_grad=True)
        elif op in BINARY:
            t = BINARY[op](ts[spec[1]], ts[spec[2]])
        elif op in WITH_CONSTANT:
            t = WITH_CONSTANT[op](ts[spec[1]], spec[2])
        elif op in CONSTANT_FIRST:
            t = CONSTANT_FIRST[op](spec[1], ts[spec[2]])
        elif op == "neg":
            t = -ts[spec[1]]
        else:
            t = getattr(torch, op)(ts[spec[1]])
        if op != "leaf":
            t.retain_grad()
        ts.append(t)
    ts[-1].backward()
    return [[t.item(), 0.0 if t.grad is None else t.grad.item()] for t in ts]


def _reference_run(graphs: list) -> list:
    report = value_graphs({"Value": REF["Value"]}, graphs)
    return [r["nodes"] for r in report["results"]]


@given(st.integers(1, 5), st.integers(1, 40), st.floats(0.0, 1.0), seeds)
def test_value_matches_torch_and_the_numeric_oracle(n_leaves, n_ops, recent, seed):
    graph = checks.random_graph(np.random.default_rng(seed), n_leaves, n_ops, recent=recent)
    expected = np.array(torch_graph(graph))
    got = np.array(_reference_run([graph])[0])
    assert np.allclose(got, expected, rtol=1e-10, atol=1e-12)
    # the oracle of the public checks: values exactly, gradients by central differences
    assert np.allclose(checks.graph_values(graph), expected[:, 0], rtol=1e-12, atol=1e-14)
    numeric = np.array(checks.numeric_graph_grads(graph))
    scale = max(1.0, float(np.abs(expected[:, 1]).max()))
    assert np.allclose(numeric, expected[:, 1], rtol=1e-7, atol=1e-7 * scale)


def test_value_fixed_graphs_match_torch():
    """The hand-made graphs of the checks, including relu at exactly 0 and a deep chain."""
    cases = [g for _, g, _ in checks._one_op_cases()] + [g for _, g in checks.PATH_GRAPHS]
    cases += [g for _, g in checks._structured_graphs(np.random.default_rng(0))]
    for graph, got in zip(cases, _reference_run(cases)):
        assert np.allclose(got, torch_graph(graph), rtol=1e-10, atol=1e-12), graph
    for _, graph, expected in checks._one_op_cases():
        assert np.allclose(expected, torch_graph(graph), rtol=1e-12, atol=1e-15), graph


@given(st.integers(1, 30), st.integers(1, 30), seeds)
def test_he_init_shape_and_determinism(fan_in, fan_out, seed):
    W = REF["he_init"](fan_in, fan_out, np.random.default_rng(seed))
    assert W.shape == (fan_in, fan_out)
    assert np.array_equal(W, REF["he_init"](fan_in, fan_out, np.random.default_rng(seed)))


@pytest.mark.parametrize("fan_in, fan_out", [(1, 30000), (300, 200), (5000, 8)])
def test_he_init_variance(fan_in, fan_out):
    W = REF["he_init"](fan_in, fan_out, np.random.default_rng(fan_in))
    assert abs(W.var() * fan_in / 2 - 1) < 0.03
    checks._he_statistics(W, fan_in, "reference", hidden=False)  # the check's own thresholds

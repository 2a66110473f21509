"""Properties of the chapter 05 reference solutions on inputs drawn by hypothesis: BPTT agrees
with torch.autograd in float64 and with ``torch.nn.RNN`` (copied weights), one LSTM step agrees
with ``torch.nn.LSTM`` once the weights are permuted from the course's gate order i, f, o, g to
PyTorch's i, f, g, o, clipping agrees with ``torch.nn.utils.clip_grad_norm_``; the torch
helpers the checks use agree with a recurrence written out in torch, and the grader module holds
no re-implementation of a graded function (issue 19, item 8)."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from autograder.assignments import rnn as checks
from autograder.checks import central_difference_grad, relative_error
from tests.conftest import reference
from tests.test_memo import assert_stored_answers_are_current

REF = reference("05_rnn")

seeds = st.integers(0, 2**32 - 1)
small = st.integers(1, 4)
scales = st.sampled_from([0.3, 1.0, 3.0])


def _close(a, b, tol=1e-10):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(1.0, float(np.abs(b).max()) if b.size else 0.0)
    assert float(np.abs(a - b).max(initial=0.0)) <= tol * scale


def _rnn_inputs(rng, N, T, D, H, scale):
    return (rng.normal(size=(N, T, D)), np.tanh(rng.normal(size=(N, H))),
            rng.normal(size=(D, H)) * scale / math.sqrt(D),
            rng.normal(size=(H, H)) * scale / math.sqrt(H), rng.normal(size=H) * 0.5)


def _autograd_rnn(x, h0, Wx, Wh, b, dh):
    """BPTT by torch.autograd on the recurrence written out with tensors (float64)."""
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x, h0, Wx, Wh, b)]
    h, hs = ts[1], []
    for t in range(x.shape[1]):
        h = torch.tanh(ts[0][:, t] @ ts[2] + h @ ts[3] + ts[4])
        hs.append(h)
    out = torch.stack(hs, dim=1)
    grads = torch.autograd.grad(out, ts, torch.as_tensor(dh))
    return out.detach().numpy(), [g.numpy() for g in grads]


@given(small, st.integers(1, 8), small, small, scales, st.booleans(), seeds)
def test_bptt_matches_torch_autograd_and_nn_rnn(N, T, D, H, scale, last_only, seed):
    rng = np.random.default_rng(seed)
    args = _rnn_inputs(rng, N, T, D, H, scale)
    dh = rng.normal(size=(N, T, H))
    if last_only:
        dh[:, :-1] = 0.0
    h, cache = REF["rnn_forward"](*args)
    grads = REF["rnn_backward"](dh, cache)
    out_ag, grads_ag = _autograd_rnn(*args, dh)
    out_nn, grads_nn = checks.torch_rnn(*args, dh)
    _close(h, out_ag)
    _close(h, out_nn)
    for g, a, n in zip(grads, grads_ag, grads_nn):
        _close(g, a)
        _close(g, n)
    step, step_grads = checks.torch_rnn_step(args[0][:, 0], *args[1:], dh[:, 0])
    _close(step, _autograd_rnn(args[0][:, :1], *args[1:], dh[:, :1])[0][:, 0])


@given(small, small, small, scales, seeds)
def test_rnn_step_backward_is_the_gradient_of_its_forward(N, D, H, scale, seed):
    rng = np.random.default_rng(seed)
    x, h0, Wx, Wh, b = _rnn_inputs(rng, N, 1, D, H, scale)
    x = x[:, 0]
    dh = rng.normal(size=(N, H))
    _, cache = REF["rnn_step_forward"](x, h0, Wx, Wh, b)
    grads = REF["rnn_step_backward"](dh, cache)
    args = [x, h0, Wx, Wh, b]
    for k, g in enumerate(grads):
        def loss(v, k=k):
            a = list(args)
            a[k] = v
            return float(np.sum(dh * REF["rnn_step_forward"](*a)[0]))
        numeric = central_difference_grad(loss, args[k])
        # saturated units have gradients near 0: relative to the gradient, or absolutely
        assert relative_error(g, numeric) < 1e-7 or np.abs(g - numeric).max() < 1e-9


def _lstm_inputs(rng, N, D, H, scale):
    return (rng.normal(size=(N, D)), np.tanh(rng.normal(size=(N, H))), rng.normal(size=(N, H)),
            rng.normal(size=(D, 4 * H)) * scale / math.sqrt(D),
            rng.normal(size=(H, 4 * H)) * scale / math.sqrt(H), rng.normal(size=4 * H) * 0.5)


@given(small, small, small, scales, seeds)
def test_lstm_step_matches_torch_lstm_with_permuted_weights(N, D, H, scale, seed):
    rng = np.random.default_rng(seed)
    args = _lstm_inputs(rng, N, D, H, scale)
    dh, dc = rng.normal(size=(N, H)), rng.normal(size=(N, H))
    h, c, cache = REF["lstm_step_forward"](*args)
    grads = REF["lstm_step_backward"](dh, dc, cache)
    h_t, c_t, grads_t = checks.torch_lstm_step(*args, dh, dc)
    _close(h, h_t)
    _close(c, c_t)
    for g, e in zip(grads, grads_t):
        _close(g, e)


def test_gate_permutation_is_needed_and_is_an_involution():
    rng = np.random.default_rng(0)
    args = _lstm_inputs(rng, 3, 4, 5, 1.0)
    W = rng.normal(size=(2, 20))
    assert np.array_equal(checks.to_torch_gate_order(checks.to_torch_gate_order(W)), W)
    h_t = checks.torch_lstm_step(*args, np.zeros((3, 5)), np.zeros((3, 5)))[0]
    # without the permutation torch computes something else
    x, h, c, Wx, Wh, b = args
    h_ref = REF["lstm_step_forward"](*args)[0]
    _close(h_ref, h_t)
    swapped = REF["lstm_step_forward"](x, h, c, checks.to_torch_gate_order(Wx),
                                       checks.to_torch_gate_order(Wh),
                                       checks.to_torch_gate_order(b))[0]
    assert not np.allclose(swapped, h_t)


@given(st.lists(st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple), min_size=1,
                max_size=5), st.floats(0.01, 100.0), seeds)
def test_clip_matches_torch_clip_grad_norm(shapes, max_norm, seed):
    rng = np.random.default_rng(seed)
    grads = [rng.normal(size=s) * rng.choice([0.01, 1.0, 30.0]) for s in shapes]
    before = [g.copy() for g in grads]
    clipped, total = REF["clip_grad_norm"](grads, max_norm)
    assert all(np.array_equal(g, b) for g, b in zip(grads, before))  # inputs untouched
    assert not any(np.shares_memory(c, g) for c in clipped for g in grads)
    params = [torch.nn.Parameter(torch.zeros(np.shape(g), dtype=torch.float64)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g)
    torch_total = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    assert math.isclose(total, torch_total, rel_tol=1e-12)
    new_norm = math.sqrt(sum(float(np.sum(c * c)) for c in clipped))
    assert new_norm <= max_norm * (1 + 1e-12) or math.isclose(new_norm, total, rel_tol=1e-12)
    for c, p in zip(clipped, params):
        # torch divides by total + 1e-6: a relative difference of at most 1e-6 / total
        assert np.allclose(c, p.grad.numpy(), rtol=1e-6 / max(total, 1e-3) + 1e-12, atol=1e-300)
    helper, helper_total = checks.torch_clip(grads, max_norm)
    assert math.isclose(helper_total, total, rel_tol=1e-12)


def test_saturated_literals_and_no_reference_implementation():
    # the public checks' literals at pre-activations of ±1000
    assert math.tanh(-1.0) == -0.7615941559557649
    h, c, _ = REF["lstm_step_forward"](np.zeros((1, 1)), np.zeros((1, 2)),
                                       np.array([[3.0, -2.0]]), np.zeros((1, 8)),
                                       np.zeros((2, 8)),
                                       np.repeat([1000.0, -1000.0, 1000.0, -1000.0], 2))
    assert np.array_equal(c, [[-1.0, -1.0]]) and np.allclose(h, math.tanh(-1.0), rtol=1e-15)
    for name in ("rnn_step", "rnn_sequence", "bptt", "lstm_step", "clip_global", "_sigmoid"):
        assert not hasattr(checks, name), name


def test_stored_oracle_answers_are_torchs_and_current():
    """`check` answers 05 without torch (autograder/memo.py): the shipped table holds, for
    every torch helper call the public checks make, what torch answers now."""
    assert_stored_answers_are_current("05_rnn", checks.torch_rnn)

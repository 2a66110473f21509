"""Properties of the chapter 06 reference solutions on inputs drawn by hypothesis: attention
agrees with ``torch.nn.functional.scaled_dot_product_attention`` (masks that broadcast, leading
axes, Tq ≠ Tk, d ≠ dv, large scores), its backward with torch.autograd in float64, multi-head
attention with ``torch.nn.MultiheadAttention`` (packed, transposed weights, negated mask), layer
norm with ``torch.nn.functional.layer_norm`` and autograd; the sinusoidal encoding moves by a
fixed rotation per offset; the online (blockwise) softmax equals the plain one — and so do the
NumPy oracles that the public checks use instead of torch."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.assignments import attention as checks
from tests.conftest import reference

REF = reference("06_attention")
settings.register_profile("course", max_examples=40, deadline=None)
settings.load_profile("course")

seeds = st.integers(0, 2**32 - 1)
small = st.integers(1, 5)
leads = st.sampled_from([(), (1,), (3,), (2, 2)])
mask_kinds = st.sampled_from([None, "keys", "full", "lead1", "causal"])


def _close(a, b, tol=1e-10):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(1.0, float(np.abs(b).max()) if b.size else 0.0)
    assert float(np.abs(a - b).max(initial=0.0)) <= tol * scale


def _inputs(rng, lead, Tq, Tk, d, dv, kind, scale=1.0):
    if kind == "causal":
        Tk = Tq
    if kind == "lead1" and not lead:
        kind = "full"
    q = rng.normal(size=(*lead, Tq, d)) * scale
    k = rng.normal(size=(*lead, Tk, d)) * scale
    v = rng.normal(size=(*lead, Tk, dv))
    if kind is None:
        mask = None
    elif kind == "causal":
        mask = np.tril(np.ones((Tq, Tq), dtype=bool))
    else:
        shape = {"keys": (Tk,), "full": (*lead, Tq, Tk),
                 "lead1": (*lead[:1], *[1] * (len(lead) - 1), Tq, Tk)}[kind]
        mask = checks._padding_mask(rng, shape)
    return q, k, v, mask


def _args(q, k, v, mask):
    return (q, k, v) if mask is None else (q, k, v, mask)


@given(leads, small, small, small, small, mask_kinds, st.sampled_from([1.0, 30.0]), seeds)
def test_attention_matches_torch_sdpa(lead, Tq, Tk, d, dv, kind, scale, seed):
    rng = np.random.default_rng(seed)
    q, k, v, mask = _inputs(rng, lead, Tq, Tk, d, dv, kind, scale)
    out, weights = REF["scaled_dot_product_attention"](*_args(q, k, v, mask))
    theirs, _ = checks.torch_attention(q, k, v, mask)
    assert np.isfinite(out).all() and np.isfinite(weights).all()
    _close(out, theirs, 1e-9)
    _close(weights.sum(axis=-1), np.ones(weights.shape[:-1]), 1e-12)
    if mask is not None:
        assert (weights[~np.broadcast_to(mask, weights.shape)] == 0).all()
    oracle = checks.attention(q, k, v, mask)
    _close(out, oracle[0], 1e-12)
    _close(weights, oracle[1], 1e-12)


@given(leads, small, small, small, small, mask_kinds, seeds)
def test_attention_backward_matches_autograd(lead, Tq, Tk, d, dv, kind, seed):
    rng = np.random.default_rng(seed)
    q, k, v, mask = _inputs(rng, lead, Tq, Tk, d, dv, kind)
    dout = rng.normal(size=(*q.shape[:-1], v.shape[-1]))
    got = REF["attention_backward"](dout, *_args(q, k, v, mask))
    _, expected = checks.torch_attention(q, k, v, mask, dout)
    oracle = checks.attention_grads(dout, q, k, v, mask)
    for g, e, o in zip(got, expected, oracle):
        _close(g, e, 1e-9)
        _close(o, e, 1e-9)


@given(st.integers(1, 3), st.integers(1, 6), st.sampled_from([(4, 1), (4, 2), (6, 3),
                                                               (8, 4), (8, 8), (12, 3)]),
       st.sampled_from([None, "causal", "pad"]), seeds)
def test_multi_head_attention_matches_nn_multihead(N, T, DH, kind, seed):
    D, H = DH
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, T, D))
    Ws = [rng.normal(size=(D, D)) / math.sqrt(D) for _ in range(4)]
    mask = (None if kind is None else np.tril(np.ones((T, T), dtype=bool)) if kind == "causal"
            else checks._padding_mask(rng, (T, T)))
    args = (x, *Ws, H) if mask is None else (x, *Ws, H, mask)
    got = REF["multi_head_attention"](*args)
    expected = checks.torch_mha(x, *Ws, H, mask)
    _close(got, expected, 1e-9)
    _close(checks.mha(x, *Ws, H, mask), expected, 1e-9)


@given(st.integers(1, 40), st.integers(1, 16).map(lambda h: 2 * h), st.integers(0, 30))
def test_positional_encoding_shifts_by_a_fixed_rotation(T, d, k):
    pe = REF["sinusoidal_positional_encoding"](T + k, d)
    _close(pe, checks.sinusoidal(T + k, d), 1e-12)
    R = np.zeros((d, d))
    for i in range(d // 2):
        a = k / 10000.0 ** (2 * i / d)
        R[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[math.cos(a), -math.sin(a)],
                                               [math.sin(a), math.cos(a)]]
    _close(pe[:T] @ R, pe[k:k + T], 1e-9)   # the same R for every position t


def _online_attention(q, k, v, block):
    """Blockwise attention with a running max and normaliser (Milakov & Gimelshein 2018)."""
    m = np.full((*q.shape[:-1], 1), -np.inf)
    ell = np.zeros((*q.shape[:-1], 1))
    o = np.zeros((*q.shape[:-1], v.shape[-1]))
    for s in range(0, k.shape[-2], block):
        scores = q @ np.swapaxes(k[..., s:s + block, :], -1, -2) / math.sqrt(q.shape[-1])
        m_new = np.maximum(m, scores.max(axis=-1, keepdims=True))
        e = np.exp(scores - m_new)
        ell = np.exp(m - m_new) * ell + e.sum(axis=-1, keepdims=True)
        o = np.exp(m - m_new) * o + e @ v[..., s:s + block, :]
        m = m_new
    return o / ell


@given(leads, small, st.integers(1, 20), small, small, st.integers(1, 7),
       st.sampled_from([1.0, 50.0]), seeds)
def test_online_softmax_equals_softmax(lead, Tq, Tk, d, dv, block, scale, seed):
    rng = np.random.default_rng(seed)
    q, k, v, _ = _inputs(rng, lead, Tq, Tk, d, dv, None, scale)
    out, _ = REF["scaled_dot_product_attention"](q, k, v)
    _close(_online_attention(q, k, v, block), out, 1e-12)


@given(st.sampled_from([(5,), (3, 4), (2, 3, 6), (1, 1, 2), (4, 1)]),
       st.sampled_from([None, 1e-5, 1e-3, 0.5]), st.sampled_from([1e-3, 1.0, 10.0]), seeds)
def test_layer_norm_matches_torch(shape, eps, scale, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * scale + rng.normal()
    gamma, beta = rng.normal(size=shape[-1]), rng.normal(size=shape[-1])
    dout = rng.normal(size=shape)
    e = 1e-5 if eps is None else eps
    args = (x, gamma, beta) if eps is None else (x, gamma, beta, eps)
    out, cache = REF["layer_norm_forward"](*args)
    grads = REF["layer_norm_backward"](dout, cache)
    t_out, t_grads = checks.torch_layer_norm(x, gamma, beta, e, dout)
    _close(out, t_out, 1e-10)
    _close(checks.layer_norm(x, gamma, beta, e), t_out, 1e-10)
    for g, o, t in zip(grads, checks.layer_norm_grads(dout, x, gamma, e), t_grads):
        _close(g, t, 1e-8)
        _close(o, t, 1e-8)


@given(st.integers(1, 30))
def test_causal_mask_is_torch_tril(T):
    got = REF["causal_mask"](T)
    assert got.dtype == bool
    assert np.array_equal(got, torch.ones(T, T, dtype=torch.bool).tril().numpy())

"""Properties of the chapter 06 reference solutions on inputs drawn by hypothesis: attention
agrees with ``torch.nn.functional.scaled_dot_product_attention`` (masks that broadcast, leading
axes, Tq ≠ Tk, d ≠ dv, large scores), its backward with torch.autograd in float64, multi-head
attention with ``torch.nn.MultiheadAttention`` (packed, transposed weights, negated mask), layer
norm with ``torch.nn.functional.layer_norm`` and autograd; the sinusoidal encoding moves by a
fixed rotation per offset, odd widths included; the online (blockwise) softmax equals the plain
one; the decoder block agrees with ``torch.nn.TransformerDecoderLayer``; the torch helpers and
the literals of the public checks agree with the reference, and the grader module holds no
re-implementation of a graded function (issue 19, item 8)."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from autograder.assignments import attention as checks
from tests.conftest import reference
from tests.test_memo import assert_stored_answers_are_current

REF = reference("06_attention")

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
    _close(weights, checks.torch_weights(q, k, mask), 1e-10)


@given(leads, small, small, small, small, mask_kinds, seeds)
def test_attention_backward_matches_autograd(lead, Tq, Tk, d, dv, kind, seed):
    rng = np.random.default_rng(seed)
    q, k, v, mask = _inputs(rng, lead, Tq, Tk, d, dv, kind)
    dout = rng.normal(size=(*q.shape[:-1], v.shape[-1]))
    got = REF["attention_backward"](dout, *_args(q, k, v, mask))
    _, expected = checks.torch_attention(q, k, v, mask, dout)
    for g, e in zip(got, expected):
        _close(g, e, 1e-9)


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


@given(st.integers(1, 40), st.integers(1, 33), st.integers(0, 30))
def test_positional_encoding_shifts_by_a_fixed_rotation(T, d, k):
    pe = REF["sinusoidal_positional_encoding"](T + k, d)
    assert pe.shape == (T + k, d)
    for col in range(d):  # the formula, column by column (odd widths end with a sine)
        a = np.arange(T + k) / 10000.0 ** ((col - col % 2) / d)
        _close(pe[:, col], np.sin(a) if col % 2 == 0 else np.cos(a), 1e-12)
    R = np.zeros((d, d))
    for i in range(d // 2):
        a = k / 10000.0 ** (2 * i / d)
        R[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[math.cos(a), -math.sin(a)],
                                               [math.sin(a), math.cos(a)]]
    if d % 2:  # a lone sine column is not rotated into anything: compare the pairs only
        d -= 1
    _close(pe[:T, :d] @ R[:d, :d], pe[k:k + T, :d], 1e-9)   # the same R for every position t


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
    for g, t in zip(grads, t_grads):
        _close(g, t, 1e-8)


@given(st.integers(1, 30))
def test_causal_mask_is_torch_tril(T):
    got = REF["causal_mask"](T)
    assert got.dtype == bool
    assert np.array_equal(got, torch.ones(T, T, dtype=torch.bool).tril().numpy())


@given(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5),
       st.sampled_from([(2, 1), (4, 2), (6, 3), (4, 4)]), st.integers(1, 6),
       st.sampled_from([1e-5, 0.1]), seeds)
def test_decoder_block_matches_torch_decoder_layer(N, T, S, DH, Fdim, eps, seed):
    D, H = DH
    rng = np.random.default_rng(seed)
    x, memory, P = checks._decoder_inputs(rng, N, T, S, D, Fdim)
    _close(REF["decoder_block"](x, memory, P, H, eps), checks.torch_decoder(x, memory, P, H, eps),
           1e-9)


def test_pasted_literals_and_no_reference_implementation():
    _close(REF["sinusoidal_positional_encoding"](3, 4), checks.PE_3_4, 1e-15)
    _close(REF["sinusoidal_positional_encoding"](3, 5), checks.PE_3_5, 1e-15)
    q, k, v = np.array([[1e4], [-1e4]]), np.array([[1.0], [0.999]]), np.array([[1.0], [2.0]])
    out, w = REF["scaled_dot_product_attention"](q, k, v)
    a, b = 0.9999546021312976, 4.5397868702390376e-05
    _close(w, [[a, b], [b, a]], 1e-12)
    _close(out, [[1.0000453978687025], [1.9999546021312975]], 1e-12)
    for name in ("softmax", "attention", "attention_grads", "causal", "mha", "sinusoidal",
                 "layer_norm", "layer_norm_grads", "_shape", "_numeric"):
        assert not hasattr(checks, name), name


def test_stored_oracle_answers_are_torchs_and_current():
    """`check` answers 06 without torch (autograder/memo.py): the shipped table holds, for
    every torch helper call the public checks make, what torch answers now."""
    assert_stored_answers_are_current("06_attention", checks.torch_attention)

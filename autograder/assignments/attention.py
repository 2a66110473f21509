"""Checks for assignment 06_attention: scaled dot-product attention, the causal mask, the
backward pass of attention, multi-head attention, sinusoidal positional encodings, layer
normalisation (forward and backward) and a pre-LN Transformer decoder block with
cross-attention.

This module ships to every student, so it holds no implementation of a graded function (issue
19, item 8). Public checks compare with literal values (scores of ±1e4, encodings of odd and even
width), invariants (rows of the weights summing to 1, zeros where the mask forbids, causality,
pairs of the encoding on the unit circle) and PyTorch in float64
(``torch.nn.functional.scaled_dot_product_attention``, ``torch.nn.MultiheadAttention``,
``torch.nn.functional.layer_norm``, ``torch.nn.TransformerDecoderLayer`` and autograd). Hidden
checks compare with the reference notebook and with PyTorch on random shapes: Tq ≠ Tk, d ≠ dv,
extra leading batch axes, one head, one token, large scores, masks that broadcast (over queries,
heads or examples), layer norm inputs of rank 1 to 3 and a non-default eps. Their messages give
sizes and errors relative to the answer's scale only.

A fully masked row (no True entry) is unspecified by the contract and never generated.

``layer_norm_backward`` is checked through the student's own forward: the check calls the
forward, hands the cache it returned back untouched and computes the expected gradients from the
inputs it gave the forward, so a wrong forward costs only the forward's points.

torch is imported by the grading worker before any check runs (``ASSIGNMENT.imports``):
importing it inside a check could take longer than a check's time limit. The public checks need
no torch: their inputs are fixed, and the torch helpers' answers for them are stored in
``attention.memo.json`` (:mod:`autograder.memo`; regenerate with ``python -m autograder.memo
06_attention`` after changing a public check), so ``autograder check`` and a student's public
test cells answer without importing it (``public_imports=()``).
tests/test_properties_06.py verifies the torch helpers, the stored answers and the literals here.
"""

from __future__ import annotations

import math

import numpy as np

from ..calls import describe_type
from ..checks import (CheckFailure, Context, as_float_array, check_shape, compare,
                      compare_scaled, fmt, returned_array, unpack)
from ..memo import memoised
from ..spec import Assignment, GradedFunction, lazy_module
from ._shared import agree, cache_of, gradient_check, grader_work, grads, sections

torch = lazy_module("torch")  # see the module doc
F = lazy_module("torch.nn.functional")

PAGE = "chapters/06_attention"
_section = sections(PAGE)

SDPA = _section("Scaled dot-product attention", "sec-attn-sdpa")
MASKS = _section("Masks", "sec-attn-masks")
BACKWARD = _section("The backward pass of attention", "sec-attn-backward")
MHA = _section("Multi-head attention", "sec-attn-mha")
POSITIONS = _section("Sinusoidal positional encodings", "sec-attn-sinusoidal")
LAYER_NORM = _section("Layer normalisation", "sec-attn-layernorm")
LAYER_NORM_BACKWARD = _section("Backward pass of layer normalisation",
                               "sec-attn-layernorm-backward")
DECODER = _section("Cross-attention and the decoder block", "sec-attn-decoder")

AUTOGRAD = "the gradient of the forward pass (torch.autograd)"

# ---------------------------------------------------------------------------------------------
# torch oracles: every expected value of a check comes from torch, from the reference notebook
# or from literals written into the check (tests/test_properties_06.py compares the reference
# with these). @memoised: the answers for the public checks' fixed inputs are stored.


def _t(a) -> "torch.Tensor":
    return torch.tensor(np.asarray(a), dtype=torch.float64)


def _torch_mask(mask):
    """torch wants a bool mask of rank >= 2 (a broadcast-equivalent view of ours)."""
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    return torch.tensor(mask.reshape((1,) * max(0, 2 - mask.ndim) + mask.shape))


@memoised
@grader_work
def torch_attention(q, k, v, mask=None, dout=None) -> tuple:
    """``F.scaled_dot_product_attention`` (bool mask, True = may attend) in float64:
    ``(out, (dq, dk, dv))`` for the upstream gradient dout (zeros if None)."""
    qt, kt, vt = (_t(a).requires_grad_() for a in (q, k, v))
    out = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=_torch_mask(mask))
    out.backward(_t(np.zeros(out.shape) if dout is None else dout))
    return out.detach().numpy(), tuple(t.grad.numpy() for t in (qt, kt, vt))


@memoised
@grader_work
def torch_weights(q, k, mask=None) -> np.ndarray:
    """The attention weights, read off torch's attention of the identity: P @ I = P."""
    Tk = np.shape(k)[-2]
    eye = np.broadcast_to(np.eye(Tk), (*np.shape(k)[:-2], Tk, Tk))
    with torch.no_grad():
        return F.scaled_dot_product_attention(_t(q), _t(k), _t(eye),
                                              attn_mask=_torch_mask(mask)).numpy()


@memoised
@grader_work
def torch_causal(T: int) -> np.ndarray:
    """torch's lower-triangular (T, T) bool matrix, as a mask input (True = may attend)."""
    return torch.ones(T, T, dtype=torch.bool).tril().numpy()


@memoised
@grader_work
def torch_mha(x, Wq, Wk, Wv, Wo, num_heads: int, mask=None) -> np.ndarray:
    """``torch.nn.MultiheadAttention`` holding the course's weights: in_proj_weight stacks
    Wqᵀ, Wkᵀ, Wvᵀ, out_proj.weight = Woᵀ, no biases; its bool mask means True = may NOT attend."""
    D = x.shape[-1]
    net = torch.nn.MultiheadAttention(D, num_heads, bias=False, batch_first=True,
                                      dtype=torch.float64)
    with torch.no_grad():
        net.in_proj_weight.copy_(_t(np.concatenate([Wq.T, Wk.T, Wv.T], axis=0)))
        net.out_proj.weight.copy_(_t(Wo.T))
    xt = _t(x)
    m = None if mask is None else torch.tensor(~np.asarray(mask, dtype=bool))
    with torch.no_grad():
        out, _ = net(xt, xt, xt, attn_mask=m, need_weights=False)
    return out.numpy()


@memoised
@grader_work
def torch_layer_norm(x, gamma, beta, eps, dout) -> tuple:
    """``F.layer_norm`` over the last axis in float64: ``(out, (dx, dgamma, dbeta))``."""
    xt, gt, bt = (_t(a).requires_grad_() for a in (x, gamma, beta))
    out = F.layer_norm(xt, (x.shape[-1],), gt, bt, eps)
    out.backward(_t(dout))
    return out.detach().numpy(), (xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy())


DECODER_KEYS = ("Wq1", "Wk1", "Wv1", "Wo1", "Wq2", "Wk2", "Wv2", "Wo2", "W1", "b1", "W2", "b2",
                "gamma1", "beta1", "gamma2", "beta2", "gamma3", "beta3")


@memoised
@grader_work
def torch_decoder(x, memory, params: dict, num_heads: int, eps: float = 1e-5) -> np.ndarray:
    """``torch.nn.TransformerDecoderLayer`` (pre-LN: norm_first=True, ReLU, dropout 0) holding
    the course's weights, attention biases zero, a causal self-attention mask and none on the
    cross-attention."""
    N, T, D = x.shape
    Fdim = params["W1"].shape[1]
    layer = torch.nn.TransformerDecoderLayer(D, num_heads, dim_feedforward=Fdim, dropout=0.0,
                                             activation="relu", layer_norm_eps=eps,
                                             batch_first=True, norm_first=True,
                                             dtype=torch.float64)
    P = params
    with torch.no_grad():
        for att, k in ((layer.self_attn, "1"), (layer.multihead_attn, "2")):
            att.in_proj_weight.copy_(_t(np.concatenate([P["Wq" + k].T, P["Wk" + k].T,
                                                        P["Wv" + k].T], axis=0)))
            att.in_proj_bias.zero_()
            att.out_proj.weight.copy_(_t(P["Wo" + k].T))
            att.out_proj.bias.zero_()
        layer.linear1.weight.copy_(_t(P["W1"].T))
        layer.linear1.bias.copy_(_t(P["b1"]))
        layer.linear2.weight.copy_(_t(P["W2"].T))
        layer.linear2.bias.copy_(_t(P["b2"]))
        for norm, k in ((layer.norm1, "1"), (layer.norm2, "2"), (layer.norm3, "3")):
            norm.weight.copy_(_t(P["gamma" + k]))
            norm.bias.copy_(_t(P["beta" + k]))
    layer.eval()
    not_allowed = torch.tensor(~torch_causal(T))  # torch's bool masks: True = may NOT attend
    with torch.no_grad():
        return layer(_t(x), _t(memory), tgt_mask=not_allowed).numpy()


# ---------------------------------------------------------------------------------------------
# Helpers

_grads = grads


def _mask_desc(mask) -> str:
    return "no mask" if mask is None else f"a mask of shape {np.shape(mask)}"


def _padding_mask(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """A random bool mask of ``shape`` (..., Tk) with at least one True entry in every row."""
    m = rng.random(shape) < 0.6
    first = rng.integers(0, shape[-1], size=shape[:-1])
    np.put_along_axis(m, first[..., None], True, axis=-1)
    return m


# ---------------------------------------------------------------------------------------------
# scaled_dot_product_attention

SDPA_HINT = ("weights = softmax(q @ kᵀ / √d) over the LAST axis (the keys), one row per query, "
             "where d = q.shape[-1]; out = weights @ v. Use np.swapaxes(k, -1, -2), not k.T, so "
             "that leading batch axes are kept.")
MASK_HINT = ("Apply the mask to the SCORES before the softmax: set the scores where mask is "
             "False to -inf (True = may attend), so that those weights come out exactly 0 and "
             "each row still sums to 1.")


def _sdpa(ctx: Context, q, k, v, mask, what: str) -> tuple:
    args = (q, k, v) if mask is None else (q, k, v, mask)
    out, w = unpack(ctx.call("scaled_dot_product_attention", *args), 2,
                    f"`scaled_dot_product_attention` ({what})", "(out, weights)")
    out = as_float_array(out, f"out ({what})")
    w = as_float_array(w, f"weights ({what})")
    lead, Tq, Tk = q.shape[:-2], q.shape[-2], k.shape[-2]
    check_shape(w, (*lead, Tq, Tk), f"weights ({what})",
                "weights has one row per query and one column per key: (..., Tq, Tk).")
    check_shape(out, (*lead, Tq, v.shape[-1]), f"out ({what})",
                "out has one row per query and the width of v: (..., Tq, dv).")
    return out, w


def _sdpa_case(ctx: Context, q, k, v, mask, what: str, *, hidden: bool, expected=None,
               tol: float = 1e-9) -> None:
    out, w = _sdpa(ctx, q, k, v, mask, what)
    if expected is None:
        expected = (torch_attention(q, k, v, mask)[0], torch_weights(q, k, mask))
    if not np.all(np.isfinite(w)):
        raise CheckFailure(f"weights ({what}) contains nan or inf. Large scores overflow exp: "
                           f"subtract the row maximum before exponentiating (softmax is "
                           f"unchanged by a shift).")
    hint = "" if hidden else (MASK_HINT if mask is not None else SDPA_HINT)
    agree(w, expected[1], f"weights ({what})", hidden=hidden, rtol=tol, atol=1e-12, hint=hint)
    agree(out, expected[0], f"out ({what})", hidden=hidden, rtol=tol, atol=1e-12,
            hint="" if hidden else "out = weights @ v.")


def sdpa_known(ctx: Context) -> None:
    q = np.array([[2.0, 0.0], [0.0, 0.0]])
    k = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    v = np.array([[1.0], [2.0], [3.0]])
    what = (f"q={fmt(q)}, k={fmt(k)}, v={fmt(v)}: d = 2, so the scores are q·k/√2; the second "
            f"query scores every key 0, so its weights are uniform")
    _sdpa_case(ctx, q, k, v, None, what, hidden=False)


def sdpa_huge_scores(ctx: Context) -> None:
    # Scores ±1e4 and ±9990 (d = 1): each row's weights are 1/(1 + e^−10) and e^−10/(1 + e^−10).
    # exp(1e4) overflows, and shifting by the maximum of the whole array instead of each row's
    # leaves the second row as exp(−2e4)/exp(−2e4) = 0/0.
    q, k = np.array([[1e4], [-1e4]]), np.array([[1.0], [0.999]])
    v = np.array([[1.0], [2.0]])
    a, b = 0.9999546021312976, 4.5397868702390376e-05
    what = f"q={fmt(q)}, k={fmt(k)}, v={fmt(v)}: scores of ±1e4"
    out, w = _sdpa(ctx, q, k, v, None, what)
    hint = ("Subtract each ROW's maximum from the scores before the exp (softmax is unchanged "
            "by a shift of a row); the maximum of the whole array is not enough when rows "
            "differ by thousands.")
    compare(w, [[a, b], [b, a]], f"weights ({what})", hidden=False, rtol=1e-9, hint=hint)
    compare(out, [[1.0000453978687025], [1.9999546021312975]], f"out ({what})", hidden=False,
            rtol=1e-9, hint=hint)


def sdpa_rows_sum_to_one(ctx: Context) -> None:
    q = ctx.rng.normal(size=(2, 3, 4))
    k, v = ctx.rng.normal(size=(2, 5, 4)), ctx.rng.normal(size=(2, 5, 6))
    what = "q 2×3×4, k 2×5×4, v 2×5×6 (Tq = 3 ≠ Tk = 5, d = 4 ≠ dv = 6)"
    _, w = _sdpa(ctx, q, k, v, None, what)
    sums = w.sum(axis=-1)
    if not np.allclose(sums, 1.0, rtol=0, atol=1e-9):
        raise CheckFailure(f"every row of weights ({what}) should sum to 1 (a softmax over the "
                           f"keys, the last axis), but the row sums are {fmt(sums)}. "
                           f"{SDPA_HINT}")
    _sdpa_case(ctx, q, k, v, None, what, hidden=False)


def sdpa_mask(ctx: Context) -> None:
    q, k, v = (ctx.rng.normal(size=(3, 4)), ctx.rng.normal(size=(4, 4)),
               ctx.rng.normal(size=(4, 2)))
    mask = np.array([[True, True, False, False], [True, False, True, False],
                     [True, True, True, False]])
    what = f"q 3×4, k 4×4, v 4×2, mask={fmt(mask)}"
    _, w = _sdpa(ctx, q, k, v, mask, what)
    if np.any(np.abs(w[~mask]) > 1e-12):
        raise CheckFailure(f"weights ({what}) should be exactly 0 where the mask is False "
                           f"(True = may attend), but they are {fmt(w[~mask])} there. "
                           f"{MASK_HINT}")
    _sdpa_case(ctx, q, k, v, mask, what, hidden=False)
    causal3 = torch_causal(3)
    what = f"q, k 3×4, v 3×2 and the causal mask {fmt(causal3)}"
    _sdpa_case(ctx, q, k[:3], v[:3], causal3, what, hidden=False)


# (lead, Tq, Tk, d, dv, mask shape or None)
SDPA_CASES = [((), 1, 1, 3, 2, None), ((2,), 4, 6, 3, 5, None), ((2, 3), 5, 2, 4, 4, None),
              ((), 3, 7, 8, 1, "keys"), ((4,), 6, 6, 2, 3, "causal"),
              ((2, 3), 4, 5, 3, 2, "lead1"), ((3,), 1, 5, 4, 4, "full"),
              ((2, 3), 3, 6, 4, 2, "keypad")]


def _sdpa_inputs(rng, lead, Tq, Tk, d, dv, mask_kind):
    q, k = rng.normal(size=(*lead, Tq, d)), rng.normal(size=(*lead, Tk, d))
    v = rng.normal(size=(*lead, Tk, dv))
    if mask_kind is None:
        mask = None
    elif mask_kind == "keys":  # one padding row over the keys, broadcast over the queries
        mask = _padding_mask(rng, (Tk,))
    elif mask_kind == "causal":
        mask = torch_causal(Tq)
    elif mask_kind == "lead1":  # per batch element, broadcast over the other leading axis
        mask = _padding_mask(rng, (lead[0], 1, Tq, Tk))
    elif mask_kind == "keypad":  # padded keys per example, broadcast over heads and queries
        mask = _padding_mask(rng, (lead[0], 1, 1, Tk))
    else:
        mask = _padding_mask(rng, (*lead, Tq, Tk))
    return q, k, v, mask


def _case_desc(lead, Tq, Tk, d, dv, mask) -> str:
    return (f"leading axes {lead}, Tq={Tq}, Tk={Tk}, d={d}, dv={dv}, {_mask_desc(mask)}")


def sdpa_hidden(ctx: Context) -> None:
    ref = ctx.ref("scaled_dot_product_attention")
    for case in SDPA_CASES:
        q, k, v, mask = _sdpa_inputs(ctx.rng, *case)
        expected = ref(q, k, v) if mask is None else ref(q, k, v, mask)
        _sdpa_case(ctx, q, k, v, mask, _case_desc(*case[:5], mask), hidden=True,
                   expected=expected)


def sdpa_torch(ctx: Context) -> None:
    for case in [((2,), 3, 5, 4, 6, "keys"), ((2, 2), 4, 4, 3, 3, "causal"),
                 ((), 2, 3, 5, 2, None)]:
        q, k, v, mask = _sdpa_inputs(ctx.rng, *case)
        what = (_case_desc(*case[:5], mask)
                + ", compared with torch's scaled_dot_product_attention")
        out, _ = torch_attention(q, k, v, mask)
        got, w = _sdpa(ctx, q, k, v, mask, what)
        agree(got, out, f"out ({what})", hidden=True, rtol=1e-9, atol=1e-12)


def sdpa_large_logits(ctx: Context) -> None:
    ref = ctx.ref("scaled_dot_product_attention")
    for lead, mask_kind in (((2,), None), ((), "causal")):
        q, k, v, mask = _sdpa_inputs(ctx.rng, lead, 4, 4, 4, 3, mask_kind)
        q, k = q * 40.0, k * 40.0
        what = (f"leading axes {lead}, Tq=Tk=4, d=4, scores q·k/√d of size ~1e3, "
                f"{_mask_desc(mask)}")
        out, w = _sdpa(ctx, q, k, v, mask, what)
        if not (np.all(np.isfinite(out)) and np.all(np.isfinite(w))):
            raise CheckFailure(f"out or weights ({what}) contains nan or inf: exp overflows "
                               f"(or every exp of a row underflows to 0) at scores this large. "
                               f"Subtract the row maximum from the scores before the exp.")
        expected = ref(q, k, v) if mask is None else ref(q, k, v, mask)
        _sdpa_case(ctx, q, k, v, mask, what, hidden=True, expected=expected, tol=1e-8)


# ---------------------------------------------------------------------------------------------
# attention_backward

GRADS = ("dq", "dk", "dv")
GRAD_HINTS = {
    "dv": "dv = weightsᵀ @ dout (per leading index: swap the last two axes of weights).",
    "dq": "With dP = dout @ vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)) (the softmax backward, row by "
          "row), dq = dS @ k / √d. Do not forget the 1/√d.",
    "dk": "dk = dSᵀ @ q / √d, with dS = P ⊙ (dP − rowsum(dP ⊙ P)) and dP = dout @ vᵀ.",
}


def _backward_case(ctx: Context, dout, q, k, v, mask, what: str, *, expected=None,
                   tol: float = 1e-8) -> None:
    args = (dout, q, k, v) if mask is None else (dout, q, k, v, mask)
    got = _grads(ctx.call("attention_backward", *args), GRADS, (q.shape, k.shape, v.shape),
                 f"`attention_backward` ({what})")
    if expected is None:
        gradient_check(got, torch_attention(q, k, v, mask, dout)[1], GRADS, GRAD_HINTS, what,
                       against=AUTOGRAD)
        return
    for name, g, e in zip(GRADS, got, expected):
        compare_scaled(g, e, f"{name} ({what})", hidden=True, tol=tol)


def backward_plain(ctx: Context) -> None:
    q, k, v = (ctx.rng.normal(size=(3, 4)), ctx.rng.normal(size=(5, 4)),
               ctx.rng.normal(size=(5, 2)))
    _backward_case(ctx, ctx.rng.normal(size=(3, 2)), q, k, v, None,
                   "q 3×4, k 5×4, v 5×2, no mask")


def backward_masked(ctx: Context) -> None:
    q, k, v = (ctx.rng.normal(size=(2, 4, 3)), ctx.rng.normal(size=(2, 4, 3)),
               ctx.rng.normal(size=(2, 4, 3)))
    _backward_case(ctx, ctx.rng.normal(size=(2, 4, 3)), q, k, v, torch_causal(4),
                   "q, k, v 2×4×3 with the causal mask (4, 4) broadcast over the batch: masked "
                   "weights are 0, and so are their gradients")


def backward_large_scores_public(ctx: Context) -> None:
    # Scores of size ~1e3 whose rows differ by thousands: a softmax shifted by the maximum of
    # the whole array (not each row's) gives 0/0 there, as does no shift at all (the hidden
    # checks use such scores too, so the public ones must).
    q, k = ctx.rng.normal(size=(2, 4, 4)) * 40.0, ctx.rng.normal(size=(2, 4, 4)) * 40.0
    v, dout = ctx.rng.normal(size=(2, 4, 3)), ctx.rng.normal(size=(2, 4, 3))
    _backward_case(ctx, dout, q, k, v, None,
                   "q, k 2×4×4 with scores q·k/√d of size ~1e3, v 2×4×3, no mask: recompute "
                   "the weights with a softmax that subtracts each ROW's maximum score")


def backward_hidden(ctx: Context) -> None:
    ref = ctx.ref("attention_backward")
    for case in SDPA_CASES:
        q, k, v, mask = _sdpa_inputs(ctx.rng, *case)
        dout = ctx.rng.normal(size=(*q.shape[:-1], v.shape[-1]))
        args = (dout, q, k, v) if mask is None else (dout, q, k, v, mask)
        _backward_case(ctx, dout, q, k, v, mask, _case_desc(*case[:5], mask),
                       expected=ref(*args), tol=1e-9)


def backward_large_scores(ctx: Context) -> None:
    ref = ctx.ref("attention_backward")
    for lead, mask_kind in (((2,), None), ((), "causal")):
        q, k, v, mask = _sdpa_inputs(ctx.rng, lead, 4, 4, 4, 3, mask_kind)
        q, k = q * 40.0, k * 40.0
        dout = ctx.rng.normal(size=(*q.shape[:-1], v.shape[-1]))
        args = (dout, q, k, v) if mask is None else (dout, q, k, v, mask)
        what = (f"leading axes {lead}, Tq=Tk=4, d=4, scores q·k/√d of size ~1e3, "
                f"{_mask_desc(mask)}")
        _backward_case(ctx, dout, q, k, v, mask, what, expected=ref(*args), tol=1e-8)


def backward_torch(ctx: Context) -> None:
    for case in [((2,), 3, 5, 4, 6, "keys"), ((3,), 4, 4, 2, 3, "causal"),
                 ((), 2, 3, 5, 2, None)]:
        q, k, v, mask = _sdpa_inputs(ctx.rng, *case)
        dout = ctx.rng.normal(size=(*q.shape[:-1], v.shape[-1]))
        what = _case_desc(*case[:5], mask) + ", compared with torch.autograd"
        _backward_case(ctx, dout, q, k, v, mask, what,
                       expected=torch_attention(q, k, v, mask, dout)[1], tol=1e-9)


# ---------------------------------------------------------------------------------------------
# causal_mask

# Hints name the idea and where the book explains it, never the line of code that implements it.
CAUSAL_HINT = ("A causal mask lets position i see only itself and the positions before it "
               "(True = may attend): which entries of the (T, T) matrix, queries by keys, is "
               "that? See \u201cMasks\u201d (the causal mask) in the chapter.")


def _causal(ctx: Context, T: int, what: str) -> np.ndarray:
    got = ctx.call("causal_mask", T)
    arr = returned_array(got, f"the causal mask from `causal_mask` ({what})")
    if not isinstance(arr, np.ndarray) or arr.dtype != bool:
        kind = f"dtype {arr.dtype}" if isinstance(arr, np.ndarray) else describe_type(arr)
        raise CheckFailure(f"`causal_mask` ({what}) should return a NumPy array of dtype bool "
                           f"(True = may attend), but it returned {kind}. A 0/1 or 0/−inf "
                           f"float array is another convention (an additive mask), not the "
                           f"one of this course: make the array of booleans itself (see "
                           f"\u201cMasks\u201d in the chapter).")
    check_shape(arr, (T, T), f"the causal mask ({what})", "It is (T, T): queries × keys.")
    return arr


def causal_known(ctx: Context) -> None:
    got = _causal(ctx, 3, "T=3")
    expected = np.array([[True, False, False], [True, True, False], [True, True, True]])
    if not np.array_equal(got, expected):
        raise CheckFailure(f"the causal mask for T=3 is wrong. {CAUSAL_HINT}\n"
                           f"  expected: {fmt(expected)}\n  got:      {fmt(got)}")


def causal_one(ctx: Context) -> None:
    got = _causal(ctx, 1, "T=1")
    if not bool(got[0, 0]):
        raise CheckFailure(f"for T=1 the mask is [[True]]: the only token may attend to "
                           f"itself. {CAUSAL_HINT}")


def causal_hidden(ctx: Context) -> None:
    ref = ctx.ref("causal_mask")
    for T in (2, 5, 17, 64):
        got = _causal(ctx, T, f"T={T}")
        expected = np.asarray(ref(T))
        if not np.array_equal(got, expected):
            raise CheckFailure(f"the causal mask for T={T} is wrong on a hidden test case: "
                               f"{int((got != expected).sum())} of {T * T} entries differ.")


# ---------------------------------------------------------------------------------------------
# multi_head_attention

MHA_HINT = ("Q = x @ Wq (N, T, D); head h takes the columns h·D/H … (h+1)·D/H: "
            "Q.reshape(N, T, H, D // H).transpose(0, 2, 1, 3) gives (N, H, T, D // H). Attend "
            "within each head (scale 1/√(D/H), the head's width), move the heads back next to "
            "each other (transpose, then reshape to (N, T, D)) and multiply by Wo.")


MHA_MASK_HINT = ("The mask is True where a query MAY attend (the opposite of "
                 "torch.nn.MultiheadAttention's bool attn_mask); pass it to every head's "
                 "attention unchanged.")


def _mha_args(rng, N, T, D):
    x = rng.normal(size=(N, T, D))
    Ws = [rng.normal(size=(D, D)) / math.sqrt(D) for _ in range(4)]
    return x, Ws


def _mha_case(ctx: Context, x, Ws, H, mask, what: str, *, hidden: bool, expected=None) -> None:
    args = (x, *Ws, H) if mask is None else (x, *Ws, H, mask)
    got = as_float_array(ctx.call("multi_head_attention", *args), f"the output ({what})")
    check_shape(got, x.shape, f"the output ({what})", "The output is (N, T, D), like x.")
    if expected is None:
        expected = torch_mha(x, *Ws, H, mask)
    hint = "" if hidden else MHA_HINT + ("" if mask is None else " " + MHA_MASK_HINT)
    agree(got, expected, f"the output ({what})", hidden=hidden, rtol=1e-9, atol=1e-12,
            hint=hint)


def mha_one_head(ctx: Context) -> None:
    x, Ws = _mha_args(ctx.rng, 2, 3, 4)
    _mha_case(ctx, x, Ws, 1, None, "N=2, T=3, D=4, one head: "
              "softmax((x Wq)(x Wk)ᵀ/√4)(x Wv) Wo", hidden=False)


def mha_two_heads(ctx: Context) -> None:
    x, Ws = _mha_args(ctx.rng, 2, 5, 6)
    _mha_case(ctx, x, Ws, 2, None, "N=2, T=5, D=6, two heads of width 3 (columns 0–2 and "
              "3–5)", hidden=False)


def mha_causal(ctx: Context) -> None:
    x, Ws = _mha_args(ctx.rng, 1, 4, 4)
    _mha_case(ctx, x, Ws, 2, torch_causal(4), "N=1, T=4, D=4, two heads, causal mask (True = may "
              "attend), shared by every head and example", hidden=False)


MHA_CASES = [(1, 1, 4, 2, None), (3, 5, 8, 4, None), (2, 6, 6, 1, "causal"),
             (2, 4, 6, 6, "pad"), (1, 7, 12, 3, "causal")]


def _mha_inputs(rng, N, T, D, H, kind):
    x, Ws = _mha_args(rng, N, T, D)
    mask = (None if kind is None else torch_causal(T) if kind == "causal"
            else _padding_mask(rng, (T, T)))
    return x, Ws, mask


def mha_hidden(ctx: Context) -> None:
    ref = ctx.ref("multi_head_attention")
    for N, T, D, H, kind in MHA_CASES:
        x, Ws, mask = _mha_inputs(ctx.rng, N, T, D, H, kind)
        args = (x, *Ws, H) if mask is None else (x, *Ws, H, mask)
        _mha_case(ctx, x, Ws, H, mask, f"N={N}, T={T}, D={D}, {H} heads, {_mask_desc(mask)}",
                  hidden=True, expected=ref(*args))


def mha_torch(ctx: Context) -> None:
    for N, T, D, H, kind in [(2, 5, 8, 2, None), (3, 4, 6, 3, "causal"), (1, 3, 4, 4, "pad")]:
        x, Ws, mask = _mha_inputs(ctx.rng, N, T, D, H, kind)
        what = (f"N={N}, T={T}, D={D}, {H} heads, {_mask_desc(mask)}, compared with "
                f"torch.nn.MultiheadAttention")
        _mha_case(ctx, x, Ws, H, mask, what, hidden=True,
                  expected=torch_mha(x, *Ws, H, mask))


# ---------------------------------------------------------------------------------------------
# sinusoidal_positional_encoding

PE_HINT = ("PE[t, 2i] = sin(t / 10000^(2i/d)) and PE[t, 2i+1] = cos(t / 10000^(2i/d)): even "
           "columns sine, odd columns cosine, the SAME angle for the pair (2i, 2i+1), positions "
           "t = 0, …, T − 1.")


def _pe(ctx: Context, T: int, d: int, what: str) -> np.ndarray:
    got = as_float_array(ctx.call("sinusoidal_positional_encoding", T, d), f"PE ({what})")
    check_shape(got, (T, d), f"PE ({what})", "PE is (T, d): one row per position.")
    return got


# Written out from the formula once (math.sin / math.cos of t / 10000^(2i/d)) and pasted.
PE_3_4 = [[0.0, 1.0, 0.0, 1.0],
          [0.8414709848078965, 0.5403023058681398, 0.009999833334166664, 0.9999500004166653],
          [0.9092974268256817, -0.4161468365471424, 0.01999866669333308, 0.9998000066665778]]
PE_3_5 = [[0.0, 1.0, 0.0, 1.0, 0.0],
          [0.8414709848078965, 0.5403023058681398, 0.025116222909773774, 0.9996845379152098,
           0.0006309573026154199],
          [0.9092974268256817, -0.4161468365471424, 0.050216599387465206, 0.9987383506934931,
           0.0012619143540422218]]


def pe_known(ctx: Context) -> None:
    what = "T=3, d=4: columns sin(t), cos(t), sin(t/100), cos(t/100)"
    compare(_pe(ctx, 3, 4, what), PE_3_4, f"PE ({what})", hidden=False, rtol=1e-9,
            atol=1e-12, hint=PE_HINT)


def pe_odd_width(ctx: Context) -> None:
    what = ("T=3, d=5 (odd: the pairs (0, 1), (2, 3) and a last sine column 4 of frequency "
            "10000^(−4/5))")
    compare(_pe(ctx, 3, 5, what), PE_3_5, f"PE ({what})", hidden=False, rtol=1e-9,
            atol=1e-12, hint=PE_HINT + " With d odd there are ⌈d/2⌉ sine columns and ⌊d/2⌋ "
                                       "cosine columns.")


def pe_wide(ctx: Context) -> None:
    """Invariants that need no formula: row 0 is (0, 1, 0, 1, …), every pair (sin, cos) lies
    on the unit circle, and moving k positions rotates each pair by a fixed angle."""
    what = "T=10, d=16"
    got = _pe(ctx, 10, 16, what)
    row0 = np.tile([0.0, 1.0], 8)
    compare(got[0], row0, f"PE[0] ({what})", hidden=False, rtol=0, atol=1e-12,
            hint="At t = 0 every angle is 0: sin 0 = 0 in the even columns, cos 0 = 1 in the "
                 "odd ones. " + PE_HINT)
    radius = got[:, 0::2] ** 2 + got[:, 1::2] ** 2
    compare(radius, np.ones((10, 8)), f"PE[t, 2i]² + PE[t, 2i+1]² ({what})", hidden=False,
            rtol=1e-9, hint="Columns 2i and 2i+1 are the sine and cosine of ONE angle. "
                            + PE_HINT)
    z = got[:, 1::2] + 1j * got[:, 0::2]  # each pair as e^{iθ}: rotation = multiplication
    compare(np.abs(z[2:] * np.conj(z[1:-1]) - z[1:-1] * np.conj(z[:-2])),
            np.zeros((8, 8)), f"the rotation from t to t + 1 ({what})", hidden=False,
            atol=1e-9, hint="The angle of each pair grows linearly in t (t times a frequency "
                            "fixed per pair). " + PE_HINT)


def pe_hidden(ctx: Context) -> None:
    ref = ctx.ref("sinusoidal_positional_encoding")
    for T, d in [(1, 2), (50, 8), (7, 64), (128, 6), (4, 1), (9, 7), (30, 33)]:
        what = f"T={T}, d={d}"
        agree(_pe(ctx, T, d, what), ref(T, d), f"PE ({what})", hidden=True, rtol=1e-9,
              atol=1e-12)


# ---------------------------------------------------------------------------------------------
# layer_norm_forward

LN_HINT = ("Layer normalisation normalises each vector over its own features, the LAST axis "
           "(whatever the leading axes), with the biased variance (dividing by D) and eps inside "
           "the square root; then gamma scales and beta shifts each feature. The formula is at "
           "the start of \u201cLayer normalisation\u201d in the chapter.")


def _ln(ctx: Context, x, gamma, beta, eps, what: str, *, hidden: bool, expected=None) -> None:
    args = (x, gamma, beta) if eps is None else (x, gamma, beta, eps)
    out, _ = unpack(ctx.call("layer_norm_forward", *args), 2, f"`layer_norm_forward` ({what})",
                    "(out, cache)")
    out = as_float_array(out, f"out ({what})")
    check_shape(out, x.shape, f"out ({what})", "out has the shape of x.")
    if expected is None:
        e = 1e-5 if eps is None else eps
        expected = torch_layer_norm(x, gamma, beta, e, np.zeros(x.shape))[0]
    agree(out, expected, f"out ({what})", hidden=hidden, rtol=1e-9, atol=1e-12,
            hint="" if hidden else LN_HINT)


def ln_known(ctx: Context) -> None:
    x = np.array([[1.0, 2.0, 3.0, 6.0], [0.0, 0.0, 4.0, 4.0]])
    gamma, beta = np.array([1.0, 2.0, 1.0, 0.5]), np.array([0.0, 1.0, 0.0, -1.0])
    _ln(ctx, x, gamma, beta, None, f"x={fmt(x)}, gamma={fmt(gamma)}, beta={fmt(beta)}, "
        f"eps=1e-5 (the default)", hidden=False)


def ln_rank3_small_variance(ctx: Context) -> None:
    x = ctx.rng.normal(size=(2, 3, 5)) * 3e-3 + 1.0
    gamma, beta = ctx.rng.normal(size=5), ctx.rng.normal(size=5)
    _ln(ctx, x, gamma, beta, None, "x 2×3×5, rows nearly constant (variance ~1e-5, the size "
        "of eps, so where eps goes matters)", hidden=False)


def ln_eps(ctx: Context) -> None:
    x = np.array([[0.0, 0.1, 0.2], [1.0, -1.0, 0.0]])
    gamma, beta = np.ones(3), np.zeros(3)
    _ln(ctx, x, gamma, beta, 0.5, f"x={fmt(x)}, gamma=1, beta=0, eps=0.5 passed as the fourth "
        f"argument: use the eps you are given", hidden=False)


def ln_hidden(ctx: Context) -> None:
    ref = ctx.ref("layer_norm_forward")
    for shape, eps, scale in [((6,), None, 1.0), ((4, 7), 0.1, 1.0), ((2, 3, 4), None, 1e-3),
                              ((3, 1, 8), 1e-3, 5.0), ((5, 2), None, 1.0)]:
        x = ctx.rng.normal(size=shape) * scale + ctx.rng.normal()
        gamma, beta = ctx.rng.normal(size=shape[-1]), ctx.rng.normal(size=shape[-1])
        args = (x, gamma, beta) if eps is None else (x, gamma, beta, eps)
        what = f"x of shape {shape}, eps={1e-5 if eps is None else eps:g}"
        _ln(ctx, x, gamma, beta, eps, what, hidden=True, expected=ref(*args)[0])


def ln_torch(ctx: Context) -> None:
    for shape, eps in [((3, 5), 1e-5), ((2, 2, 6), 0.5)]:
        x = ctx.rng.normal(size=shape)
        gamma, beta = ctx.rng.normal(size=shape[-1]), ctx.rng.normal(size=shape[-1])
        expected, _ = torch_layer_norm(x, gamma, beta, eps, np.zeros(shape))
        _ln(ctx, x, gamma, beta, eps, f"x of shape {shape}, eps={eps:g}, compared with "
            f"torch.nn.functional.layer_norm", hidden=True, expected=expected)


# ---------------------------------------------------------------------------------------------
# layer_norm_backward

LN_GRADS = ("dx", "dgamma", "dbeta")
LN_HINTS = {
    "dx": "With g = dout·gamma and x̂ the normalised input, dx = (g − mean(g) − x̂·mean(g·x̂)) / "
          "sqrt(var + eps), means over the LAST axis; use the eps the forward was given.",
    "dgamma": "dgamma = Σ dout·x̂ summed over EVERY leading axis (all but the last): shape (D,).",
    "dbeta": "dbeta = Σ dout summed over every leading axis: shape (D,).",
}


def _ln_backward_case(ctx: Context, x, gamma, beta, eps, dout, what: str, *,
                      expected=None) -> None:
    args = (x, gamma, beta) if eps is None else (x, gamma, beta, eps)
    result = cache_of(ctx, "layer_norm_forward", "layer_norm_backward", *args)
    D = x.shape[-1]
    got = _grads(ctx.call("layer_norm_backward", dout, result[1]), LN_GRADS,
                 (x.shape, (D,), (D,)), f"`layer_norm_backward` ({what})")
    e = 1e-5 if eps is None else eps
    if expected is None:
        gradient_check(got, torch_layer_norm(x, gamma, beta, e, dout)[1], LN_GRADS, LN_HINTS,
                       what, against=AUTOGRAD)
        return
    for name, g, ex in zip(LN_GRADS, got, expected):
        compare_scaled(g, ex, f"{name} ({what})", hidden=True, tol=1e-8)


def _ln_inputs(rng, shape, scale=1.0):
    x = rng.normal(size=shape) * scale + rng.normal()
    return x, rng.normal(size=shape[-1]), rng.normal(size=shape[-1]), rng.normal(size=shape)


def ln_backward_rank2(ctx: Context) -> None:
    x, gamma, beta, dout = _ln_inputs(ctx.rng, (3, 4))
    _ln_backward_case(ctx, x, gamma, beta, None, dout, "x 3×4, eps=1e-5")


def ln_backward_rank3(ctx: Context) -> None:
    x, gamma, beta, dout = _ln_inputs(ctx.rng, (2, 3, 5))
    _ln_backward_case(ctx, x, gamma, beta, 0.1, dout, "x 2×3×5 (dgamma and dbeta sum over "
                      "both leading axes), eps=0.1")


def ln_backward_hidden(ctx: Context) -> None:
    ref_f, ref_b = ctx.ref("layer_norm_forward"), ctx.ref("layer_norm_backward")
    for shape, eps, scale in [((6,), None, 1.0), ((4, 7), 0.1, 1.0), ((2, 3, 4), None, 1e-2),
                              ((3, 1, 8), 1e-3, 5.0), ((1, 2), None, 1.0)]:
        x, gamma, beta, dout = _ln_inputs(ctx.rng, shape, scale)
        args = (x, gamma, beta) if eps is None else (x, gamma, beta, eps)
        what = f"x of shape {shape}, eps={1e-5 if eps is None else eps:g}"
        _ln_backward_case(ctx, x, gamma, beta, eps, dout, what,
                          expected=ref_b(dout, ref_f(*args)[1]))


def ln_backward_torch(ctx: Context) -> None:
    for shape, eps in [((3, 5), 1e-5), ((2, 2, 6), 0.5), ((7,), 1e-5)]:
        x, gamma, beta, dout = _ln_inputs(ctx.rng, shape)
        _ln_backward_case(ctx, x, gamma, beta, eps, dout, f"x of shape {shape}, eps={eps:g}, "
                          f"compared with torch.autograd",
                          expected=torch_layer_norm(x, gamma, beta, eps, dout)[1])


# ---------------------------------------------------------------------------------------------
# decoder_block

DECODER_HINT = ("Pre-LN: h = x + MHA(LN1(x)) with the causal mask; h2 = h + cross-attention with "
                "queries LN2(h) @ Wq2 and keys/values memory @ Wk2, memory @ Wv2 (memory NOT "
                "normalised, no mask); out = h2 + relu(LN3(h2) @ W1 + b1) @ W2 + b2. Each "
                "layer norm is applied to a sublayer's INPUT, the residual sum is not "
                "normalised; heads split the columns as in multi_head_attention, with scale "
                "1/√(D/num_heads).")


def _decoder_params(rng, D: int, Fdim: int) -> dict:
    P = {k: rng.normal(size=(D, D)) / math.sqrt(D) for k in DECODER_KEYS[:8]}
    P["W1"], P["b1"] = rng.normal(size=(D, Fdim)) / math.sqrt(D), rng.normal(size=Fdim) * 0.3
    P["W2"], P["b2"] = rng.normal(size=(Fdim, D)) / math.sqrt(Fdim), rng.normal(size=D) * 0.3
    for k in "123":
        P["gamma" + k] = rng.uniform(0.5, 1.5, size=D)
        P["beta" + k] = rng.normal(size=D) * 0.3
    return P


def _decoder_inputs(rng, N, T, S, D, Fdim):
    return rng.normal(size=(N, T, D)), rng.normal(size=(N, S, D)) * 2.0 + 1.0, \
        _decoder_params(rng, D, Fdim)


def _decoder_what(x, memory, P, H, eps) -> str:
    N, T, D = x.shape
    return (f"N={N}, T={T}, S={memory.shape[1]}, D={D}, F={P['W1'].shape[1]}, {H} "
            f"head{'s' if H > 1 else ''}, eps={eps:g}")


def _decoder(ctx: Context, x, memory, P, H, eps, what: str) -> np.ndarray:
    args = (x, memory, P, H) if eps is None else (x, memory, P, H, eps)
    got = as_float_array(ctx.call("decoder_block", *args), f"the output ({what})")
    check_shape(got, x.shape, f"the output ({what})",
                "The output has the shape of the target x, (N, T, D).")
    return got


def decoder_one_head(ctx: Context) -> None:
    x, memory, P = _decoder_inputs(ctx.rng, 1, 3, 2, 4, 8)
    what = _decoder_what(x, memory, P, 1, 1e-5) + " (the default), against torch"
    compare(_decoder(ctx, x, memory, P, 1, None, what), torch_decoder(x, memory, P, 1),
            f"the output ({what})", hidden=False, rtol=1e-9, atol=1e-10, hint=DECODER_HINT)


def decoder_two_heads(ctx: Context) -> None:
    x, memory, P = _decoder_inputs(ctx.rng, 2, 4, 5, 6, 5)
    what = _decoder_what(x, memory, P, 2, 0.1) + ", against torch"
    compare(_decoder(ctx, x, memory, P, 2, 0.1, what), torch_decoder(x, memory, P, 2, 0.1),
            f"the output ({what})", hidden=False, rtol=1e-9, atol=1e-10, hint=DECODER_HINT)


def decoder_causal_and_memory(ctx: Context) -> None:
    """Invariants: the future of x cannot change the past, and every output sees memory."""
    x, memory, P = _decoder_inputs(ctx.rng, 1, 4, 3, 4, 6)
    what = _decoder_what(x, memory, P, 2, 1e-5)
    base = _decoder(ctx, x, memory, P, 2, None, what)
    later = x.copy()
    later[:, -1] += 3.0
    changed = _decoder(ctx, later, memory, P, 2, None, what + ", last position of x changed")
    if not np.allclose(changed[:, :-1], base[:, :-1], rtol=1e-12, atol=1e-12):
        raise CheckFailure(f"decoder_block ({what}): changing x at the LAST position changed the "
                           f"outputs at earlier positions. The self-attention must use the "
                           f"causal mask (position t sees positions ≤ t). {DECODER_HINT}")
    other = _decoder(ctx, x, memory[:, ::-1] * 0.5, P, 2, None, what + ", memory changed")
    moved = np.abs(other - base).max(axis=-1)[0]
    if not np.all(moved > 1e-9):
        raise CheckFailure(f"decoder_block ({what}): changing memory left the outputs at "
                           f"positions {np.flatnonzero(moved <= 1e-9).tolist()} unchanged. Every "
                           f"target position attends to the memory (keys and values from "
                           f"memory, no mask on the cross-attention). {DECODER_HINT}")


# (N, T, S, D, F, heads, eps): one token, one source position, one example, width-1 heads,
# S > T and S < T, a non-default eps.
DECODER_CASES = [(2, 1, 3, 4, 6, 2, None), (1, 5, 1, 6, 4, 3, None), (3, 3, 7, 4, 8, 4, 1e-3),
                 (2, 6, 2, 8, 16, 2, 0.5), (1, 2, 2, 2, 3, 1, None)]


def decoder_hidden(ctx: Context) -> None:
    ref = ctx.ref("decoder_block")
    for N, T, S, D, Fdim, H, eps in DECODER_CASES:
        x, memory, P = _decoder_inputs(ctx.rng, N, T, S, D, Fdim)
        e = 1e-5 if eps is None else eps
        what = _decoder_what(x, memory, P, H, e)
        expected = ref(x, memory, P, H, e)
        agree(_decoder(ctx, x, memory, P, H, eps, what), expected, f"the output ({what})",
              hidden=True, rtol=1e-9, atol=1e-10)


def decoder_hidden_torch(ctx: Context) -> None:
    for N, T, S, D, Fdim, H, eps in DECODER_CASES[::-1]:
        x, memory, P = _decoder_inputs(ctx.rng, N, T, S, D, Fdim)
        e = 1e-5 if eps is None else eps
        what = _decoder_what(x, memory, P, H, e) + ", against torch.nn.TransformerDecoderLayer"
        agree(_decoder(ctx, x, memory, P, H, eps, what), torch_decoder(x, memory, P, H, e),
              f"the output ({what})", hidden=True, rtol=1e-9, atol=1e-10)


# ---------------------------------------------------------------------------------------------

ASSIGNMENT = Assignment(
    name="06_attention",
    title="Attention",
    imports=("torch", "torch.nn.functional"),
    public_imports=(),  # the public checks' torch answers are stored (see the module doc)
    functions=(
        GradedFunction(
            "scaled_dot_product_attention", SDPA,
            public=(("known values", sdpa_known),
                    ("rows of weights sum to 1, Tq ≠ Tk, d ≠ dv, a batch axis",
                     sdpa_rows_sum_to_one),
                    ("padding and causal masks", sdpa_mask),
                    ("scores of ±1e4", sdpa_huge_scores)),
            hidden=(("random shapes, leading axes, one token, broadcast masks vs reference",
                     sdpa_hidden),
                    ("agrees with torch's scaled_dot_product_attention", sdpa_torch),
                    ("large scores stay finite", sdpa_large_logits)),
            public_points=2, hidden_points=3),
        GradedFunction(
            "causal_mask", MASKS,
            public=(("T = 3", causal_known), ("T = 1", causal_one)),
            hidden=(("several T vs reference", causal_hidden),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "attention_backward", BACKWARD,
            public=(("no mask, Tq ≠ Tk vs central differences", backward_plain),
                    ("causal mask, batch axis vs central differences", backward_masked),
                    ("scores of size ~1e3 vs torch.autograd", backward_large_scores_public)),
            hidden=(("random shapes and broadcast masks vs reference", backward_hidden),
                    ("agrees with torch.autograd", backward_torch),
                    ("large scores stay finite", backward_large_scores)),
            public_points=3, hidden_points=3,
            uses=("scaled_dot_product_attention",)),
        GradedFunction(
            "multi_head_attention", MHA,
            public=(("one head", mha_one_head), ("two heads, column split", mha_two_heads),
                    ("causal mask", mha_causal)),
            hidden=(("random sizes, one head, one token, masks vs reference", mha_hidden),
                    ("agrees with torch.nn.MultiheadAttention", mha_torch)),
            public_points=2, hidden_points=3,
            uses=("scaled_dot_product_attention",)),
        GradedFunction(
            "sinusoidal_positional_encoding", POSITIONS,
            public=(("known values, T = 3, d = 4", pe_known),
                    ("odd width, T = 3, d = 5", pe_odd_width),
                    ("T = 10, d = 16: unit circle and rotation", pe_wide)),
            hidden=(("several T, even and odd d vs reference", pe_hidden),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "layer_norm_forward", LAYER_NORM,
            public=(("known values", ln_known),
                    ("rank 3, nearly constant rows", ln_rank3_small_variance),
                    ("eps = 0.5", ln_eps)),
            hidden=(("ranks 1 to 3, non-default eps vs reference", ln_hidden),
                    ("agrees with torch.nn.functional.layer_norm", ln_torch)),
            public_points=2, hidden_points=2),
        GradedFunction(
            "layer_norm_backward", LAYER_NORM_BACKWARD,
            public=(("rank 2 vs central differences", ln_backward_rank2),
                    ("rank 3, eps = 0.1 vs central differences", ln_backward_rank3)),
            hidden=(("ranks 1 to 3, non-default eps vs reference", ln_backward_hidden),
                    ("agrees with torch.autograd", ln_backward_torch)),
            public_points=3, hidden_points=3),
        GradedFunction(
            "decoder_block", DECODER,
            public=(("one head vs torch.nn.TransformerDecoderLayer", decoder_one_head),
                    ("two heads, S ≠ T, eps = 0.1 vs torch", decoder_two_heads),
                    ("causal self-attention, every position reads memory",
                     decoder_causal_and_memory)),
            hidden=(("one token, one source, width-1 heads, eps vs reference", decoder_hidden),
                    ("agrees with torch.nn.TransformerDecoderLayer", decoder_hidden_torch)),
            public_points=2, hidden_points=2,
            uses=("causal_mask", "layer_norm_forward",
                  "multi_head_attention", "scaled_dot_product_attention")),
    ),
)

"""Checks for assignment 06_attention: scaled dot-product attention and its backward pass, the
causal mask, multi-head attention, sinusoidal positional encodings and layer normalisation
(forward and backward).

Public checks compare with known values, with small NumPy oracles written here from the
chapter's equations (rows of the weights summing to 1, zeros where the mask forbids) and with
central differences of those oracles. Hidden checks compare with the reference solution and with
PyTorch (``torch.nn.functional.scaled_dot_product_attention``, ``torch.nn.MultiheadAttention``,
``torch.nn.functional.layer_norm`` and autograd, all in float64) on random shapes: Tq ≠ Tk,
d ≠ dv, extra leading batch axes, one head, one token, large logits, masks that broadcast, layer
norm inputs of rank 1 to 3 and a non-default eps. Their messages give sizes and errors only.

A fully masked row (no True entry) is unspecified by the contract and never generated.

``layer_norm_backward`` is checked through the student's own forward: the check calls the
forward, hands the cache it returned back untouched and computes the expected gradients from the
inputs it gave the forward, so a wrong forward costs only the forward's points.

torch is imported by the grading worker before any check runs (``ASSIGNMENT.imports``):
importing it inside a check could take longer than a check's time limit.
tests/test_properties_06.py verifies the oracles here against torch.
"""

from __future__ import annotations

import math

import numpy as np

from ..checks import (CheckFailure, Context, NotImplementedYet, as_float_array,
                      central_difference_grad, check_shape, compare, compare_scaled, fmt,
                      relative_error, unpack)
from ..spec import Assignment, GradedFunction, Section, lazy_module

torch = lazy_module("torch")  # see the module doc
F = lazy_module("torch.nn.functional")

PAGE = "chapters/06_attention"


def _section(title: str, label: str) -> Section:
    return Section(title, PAGE, label)


SDPA = _section("Scaled dot-product attention", "sec-attn-sdpa")
MASKS = _section("Masks", "sec-attn-masks")
BACKWARD = _section("The backward pass of attention", "sec-attn-backward")
MHA = _section("Multi-head attention", "sec-attn-mha")
POSITIONS = _section("Sinusoidal positional encodings", "sec-attn-sinusoidal")
LAYER_NORM = _section("Layer normalisation", "sec-attn-layernorm")
LAYER_NORM_BACKWARD = _section("Backward pass of layer normalisation",
                               "sec-attn-layernorm-backward")

# ---------------------------------------------------------------------------------------------
# Oracles, straight from the chapter's equations (verified against torch in
# tests/test_properties_06.py)


def softmax(s: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the row maximum (finite for any finite row with
    at least one finite entry; -inf entries get weight 0)."""
    m = np.max(s, axis=-1, keepdims=True)
    e = np.exp(s - m)
    return e / np.sum(e, axis=-1, keepdims=True)


def attention(q, k, v, mask=None) -> tuple:
    """(out, weights) of softmax(q kᵀ/√d, masked) v; mask True = may attend."""
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    p = softmax(s)
    return p @ v, p


def attention_grads(dout, q, k, v, mask=None) -> tuple:
    """(dq, dk, dv) of L = Σ dout · out for out = attention(q, k, v, mask)[0]."""
    _, p = attention(q, k, v, mask)
    dv = np.swapaxes(p, -1, -2) @ dout
    dp = dout @ np.swapaxes(v, -1, -2)
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    scale = 1.0 / math.sqrt(q.shape[-1])
    return ds @ k * scale, np.swapaxes(ds, -1, -2) @ q * scale, dv


def causal(T: int) -> np.ndarray:
    return np.tril(np.ones((T, T), dtype=bool))


def mha(x, Wq, Wk, Wv, Wo, num_heads: int, mask=None) -> np.ndarray:
    """Multi-head attention, head h on columns h·D/H … (h+1)·D/H, written as a loop."""
    D = x.shape[-1]
    dh = D // num_heads
    Q, K, V = x @ Wq, x @ Wk, x @ Wv
    heads = [attention(Q[..., h * dh:(h + 1) * dh], K[..., h * dh:(h + 1) * dh],
                       V[..., h * dh:(h + 1) * dh], mask)[0] for h in range(num_heads)]
    return np.concatenate(heads, axis=-1) @ Wo


def sinusoidal(T: int, d: int) -> np.ndarray:
    pe = np.zeros((T, d))
    for t in range(T):
        for i in range(0, d, 2):
            angle = t / 10000.0 ** (i / d)
            pe[t, i] = math.sin(angle)
            if i + 1 < d:
                pe[t, i + 1] = math.cos(angle)
    return pe


def layer_norm(x, gamma, beta, eps=1e-5) -> np.ndarray:
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def layer_norm_grads(dout, x, gamma, eps=1e-5) -> tuple:
    """(dx, dgamma, dbeta) of L = Σ dout · layer_norm(x, gamma, beta, eps)."""
    mu = np.mean(x, axis=-1, keepdims=True)
    inv = 1.0 / np.sqrt(np.mean((x - mu) ** 2, axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * inv
    g = dout * gamma
    dx = inv * (g - g.mean(axis=-1, keepdims=True)
                - xhat * np.mean(g * xhat, axis=-1, keepdims=True))
    D = x.shape[-1]
    return (dx, (dout * xhat).reshape(-1, D).sum(axis=0), dout.reshape(-1, D).sum(axis=0))


# ---------------------------------------------------------------------------------------------
# torch oracles (hidden checks)


def _t(a) -> "torch.Tensor":
    return torch.tensor(np.asarray(a), dtype=torch.float64)


def torch_attention(q, k, v, mask=None, dout=None) -> tuple:
    """``F.scaled_dot_product_attention`` (bool mask, True = may attend) in float64:
    ``(out, (dq, dk, dv))`` for the upstream gradient dout (zeros if None)."""
    qt, kt, vt = (_t(a).requires_grad_() for a in (q, k, v))
    m = None
    if mask is not None:  # torch wants a mask of rank >= 2 (a broadcast-equivalent view)
        mask = np.asarray(mask, dtype=bool)
        m = torch.tensor(mask.reshape((1,) * max(0, 2 - mask.ndim) + mask.shape))
    out = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=m)
    out.backward(_t(np.zeros(out.shape) if dout is None else dout))
    return out.detach().numpy(), tuple(t.grad.numpy() for t in (qt, kt, vt))


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


def torch_layer_norm(x, gamma, beta, eps, dout) -> tuple:
    """``F.layer_norm`` over the last axis in float64: ``(out, (dx, dgamma, dbeta))``."""
    xt, gt, bt = (_t(a).requires_grad_() for a in (x, gamma, beta))
    out = F.layer_norm(xt, (x.shape[-1],), gt, bt, eps)
    out.backward(_t(dout))
    return out.detach().numpy(), (xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy())


# ---------------------------------------------------------------------------------------------
# Helpers


def _numeric(loss, args: list, h: float = 1e-6) -> list:
    """Central-difference gradient of loss(*args) with respect to every argument."""
    grads = []
    for j in range(len(args)):
        def f(val, j=j):
            return loss(*args[:j], val, *args[j + 1:])
        grads.append(central_difference_grad(f, args[j], h))
    return grads


def _gradient_check(got: tuple, numeric: list, names: tuple, hints: dict, what: str,
                    tol: float = 1e-6) -> None:
    for name, g, e in zip(names, got, numeric):
        if not np.all(np.isfinite(g)):
            raise CheckFailure(f"{name} ({what}) contains nan or inf. {hints.get(name, '')}")
        err = relative_error(g, e)
        if not err < tol:
            raise CheckFailure(
                f"{name} ({what}) does not match central differences of the forward pass: "
                f"relative error {err:.3g} (should be < {tol:g}). {hints.get(name, '')}\n"
                f"  numerical: {fmt(e, 4)}\n  yours:     {fmt(g, 4)}")


def _grads(got, names: tuple, shapes: tuple, what: str) -> tuple:
    items = unpack(got, len(names), what, "(" + ", ".join(names) + ")")
    out = []
    for name, item, shape in zip(names, items, shapes):
        arr = as_float_array(item, f"{name} ({what})")
        check_shape(arr, shape, f"{name} ({what})",
                    f"{name} has the shape of the input it is the gradient of, {tuple(shape)}.")
        out.append(arr)
    return tuple(out)


def _shape(*dims) -> str:
    return "×".join(str(d) for d in dims)


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
        expected = attention(q, k, v, mask)
    if not np.all(np.isfinite(w)):
        raise CheckFailure(f"weights ({what}) contains nan or inf. Large scores overflow exp: "
                           f"subtract the row maximum before exponentiating (softmax is "
                           f"unchanged by a shift).")
    hint = "" if hidden else (MASK_HINT if mask is not None else SDPA_HINT)
    compare(w, expected[1], f"weights ({what})", hidden=hidden, rtol=tol, atol=1e-12, hint=hint)
    compare(out, expected[0], f"out ({what})", hidden=hidden, rtol=tol, atol=1e-12,
            hint="" if hidden else "out = weights @ v.")


def sdpa_known(ctx: Context) -> None:
    q = np.array([[2.0, 0.0], [0.0, 0.0]])
    k = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    v = np.array([[1.0], [2.0], [3.0]])
    what = (f"q={fmt(q)}, k={fmt(k)}, v={fmt(v)}: d = 2, so the scores are q·k/√2; the second "
            f"query scores every key 0, so its weights are uniform")
    _sdpa_case(ctx, q, k, v, None, what, hidden=False)


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
    causal3 = causal(3)
    what = f"q, k 3×4, v 3×2 and the causal mask {fmt(causal3)}"
    _sdpa_case(ctx, q, k[:3], v[:3], causal3, what, hidden=False)


# (lead, Tq, Tk, d, dv, mask shape or None)
SDPA_CASES = [((), 1, 1, 3, 2, None), ((2,), 4, 6, 3, 5, None), ((2, 3), 5, 2, 4, 4, None),
              ((), 3, 7, 8, 1, "keys"), ((4,), 6, 6, 2, 3, "causal"),
              ((2, 3), 4, 5, 3, 2, "lead1"), ((3,), 1, 5, 4, 4, "full")]


def _sdpa_inputs(rng, lead, Tq, Tk, d, dv, mask_kind):
    q, k = rng.normal(size=(*lead, Tq, d)), rng.normal(size=(*lead, Tk, d))
    v = rng.normal(size=(*lead, Tk, dv))
    if mask_kind is None:
        mask = None
    elif mask_kind == "keys":  # one padding row over the keys, broadcast over the queries
        mask = _padding_mask(rng, (Tk,))
    elif mask_kind == "causal":
        mask = causal(Tq)
    elif mask_kind == "lead1":  # per batch element, broadcast over the other leading axis
        mask = _padding_mask(rng, (lead[0], 1, Tq, Tk))
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
        compare(got, out, f"out ({what})", hidden=True, rtol=1e-9, atol=1e-12)


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
        def loss(qq, kk, vv):
            return float(np.sum(dout * attention(qq, kk, vv, mask)[0]))
        _gradient_check(got, _numeric(loss, [q, k, v]), GRADS, GRAD_HINTS, what)
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
    _backward_case(ctx, ctx.rng.normal(size=(2, 4, 3)), q, k, v, causal(4),
                   "q, k, v 2×4×3 with the causal mask (4, 4) broadcast over the batch: masked "
                   "weights are 0, and so are their gradients")


def backward_hidden(ctx: Context) -> None:
    ref = ctx.ref("attention_backward")
    for case in SDPA_CASES:
        q, k, v, mask = _sdpa_inputs(ctx.rng, *case)
        dout = ctx.rng.normal(size=(*q.shape[:-1], v.shape[-1]))
        args = (dout, q, k, v) if mask is None else (dout, q, k, v, mask)
        _backward_case(ctx, dout, q, k, v, mask, _case_desc(*case[:5], mask),
                       expected=ref(*args), tol=1e-9)


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

CAUSAL_HINT = ("mask[i, j] is True when query i may attend to key j, i.e. when j ≤ i: on AND "
               "below the diagonal (np.tril of a (T, T) array of True).")


def _causal(ctx: Context, T: int, what: str) -> np.ndarray:
    got = ctx.call("causal_mask", T)
    arr = np.asarray(got)
    if arr.dtype != bool:
        raise CheckFailure(f"`causal_mask` ({what}) should return a NumPy array of dtype bool "
                           f"(True = may attend), but it returned dtype {arr.dtype}. A 0/1 or "
                           f"0/−inf float array is a different convention: use "
                           f"np.tril(np.ones((T, T), dtype=bool)).")
    check_shape(arr, (T, T), f"the causal mask ({what})", "It is (T, T): queries × keys.")
    return arr


def causal_known(ctx: Context) -> None:
    got = _causal(ctx, 3, "T=3")
    expected = causal(3)
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
        expected = mha(x, *Ws, H, mask)
    hint = "" if hidden else MHA_HINT + ("" if mask is None else " " + MHA_MASK_HINT)
    compare(got, expected, f"the output ({what})", hidden=hidden, rtol=1e-9, atol=1e-12,
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
    _mha_case(ctx, x, Ws, 2, causal(4), "N=1, T=4, D=4, two heads, causal mask (True = may "
              "attend), shared by every head and example", hidden=False)


MHA_CASES = [(1, 1, 4, 2, None), (3, 5, 8, 4, None), (2, 6, 6, 1, "causal"),
             (2, 4, 6, 6, "pad"), (1, 7, 12, 3, "causal")]


def _mha_inputs(rng, N, T, D, H, kind):
    x, Ws = _mha_args(rng, N, T, D)
    mask = (None if kind is None else causal(T) if kind == "causal"
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


def _pe(ctx: Context, T: int, d: int, what: str, *, hidden: bool, expected=None) -> None:
    got = as_float_array(ctx.call("sinusoidal_positional_encoding", T, d), f"PE ({what})")
    check_shape(got, (T, d), f"PE ({what})", "PE is (T, d): one row per position.")
    compare(got, sinusoidal(T, d) if expected is None else expected, f"PE ({what})",
            hidden=hidden, rtol=1e-9, atol=1e-12, hint="" if hidden else PE_HINT)


def pe_known(ctx: Context) -> None:
    _pe(ctx, 3, 4, "T=3, d=4: columns sin(t), cos(t), sin(t/100), cos(t/100)", hidden=False)


def pe_wide(ctx: Context) -> None:
    _pe(ctx, 10, 16, "T=10, d=16", hidden=False)


def pe_hidden(ctx: Context) -> None:
    ref = ctx.ref("sinusoidal_positional_encoding")
    for T, d in [(1, 2), (50, 8), (7, 64), (128, 6)]:
        _pe(ctx, T, d, f"T={T}, d={d}", hidden=True, expected=ref(T, d))


# ---------------------------------------------------------------------------------------------
# layer_norm_forward

LN_HINT = ("Normalise over the LAST axis: mu = x.mean(-1, keepdims=True), "
           "var = x.var(-1, keepdims=True) (the biased variance, dividing by D), "
           "x̂ = (x − mu) / sqrt(var + eps) (eps INSIDE the square root), out = gamma·x̂ + beta.")


def _ln(ctx: Context, x, gamma, beta, eps, what: str, *, hidden: bool, expected=None) -> None:
    args = (x, gamma, beta) if eps is None else (x, gamma, beta, eps)
    out, _ = unpack(ctx.call("layer_norm_forward", *args), 2, f"`layer_norm_forward` ({what})",
                    "(out, cache)")
    out = as_float_array(out, f"out ({what})")
    check_shape(out, x.shape, f"out ({what})", "out has the shape of x.")
    if expected is None:
        expected = layer_norm(x, gamma, beta, 1e-5 if eps is None else eps)
    compare(out, expected, f"out ({what})", hidden=hidden, rtol=1e-9, atol=1e-12,
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
    try:
        result = ctx.call("layer_norm_forward", *args)
    except NotImplementedYet:
        raise NotImplementedYet("`layer_norm_forward` is not implemented yet (it raises "
                                "NotImplementedError), and `layer_norm_backward` is checked with "
                                "the cache your `layer_norm_forward` returns: implement "
                                "`layer_norm_forward` first.") from None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailure("`layer_norm_backward` is checked with the cache from your "
                           "`layer_norm_forward`, but `layer_norm_forward` did not return "
                           "(out, cache). Make it return (out, cache).")
    D = x.shape[-1]
    got = _grads(ctx.call("layer_norm_backward", dout, result[1]), LN_GRADS,
                 (x.shape, (D,), (D,)), f"`layer_norm_backward` ({what})")
    e = 1e-5 if eps is None else eps
    if expected is None:
        def loss(xx, gg, bb):
            return float(np.sum(dout * layer_norm(xx, gg, bb, e)))
        _gradient_check(got, _numeric(loss, [x, gamma, beta]), LN_GRADS, LN_HINTS, what)
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

ASSIGNMENT = Assignment(
    name="06_attention",
    title="Attention",
    imports=("torch", "torch.nn.functional"),
    functions=(
        GradedFunction(
            "scaled_dot_product_attention", SDPA,
            public=(("known values", sdpa_known),
                    ("rows of weights sum to 1, Tq ≠ Tk, d ≠ dv, a batch axis",
                     sdpa_rows_sum_to_one),
                    ("padding and causal masks", sdpa_mask)),
            hidden=(("random shapes, leading axes, one token, broadcast masks vs reference",
                     sdpa_hidden),
                    ("agrees with torch's scaled_dot_product_attention", sdpa_torch),
                    ("large scores stay finite", sdpa_large_logits)),
            public_points=2, hidden_points=3),
        GradedFunction(
            "attention_backward", BACKWARD,
            public=(("no mask, Tq ≠ Tk vs central differences", backward_plain),
                    ("causal mask, batch axis vs central differences", backward_masked)),
            hidden=(("random shapes and broadcast masks vs reference", backward_hidden),
                    ("agrees with torch.autograd", backward_torch)),
            public_points=3, hidden_points=3),
        GradedFunction(
            "causal_mask", MASKS,
            public=(("T = 3", causal_known), ("T = 1", causal_one)),
            hidden=(("several T vs reference", causal_hidden),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "multi_head_attention", MHA,
            public=(("one head", mha_one_head), ("two heads, column split", mha_two_heads),
                    ("causal mask", mha_causal)),
            hidden=(("random sizes, one head, one token, masks vs reference", mha_hidden),
                    ("agrees with torch.nn.MultiheadAttention", mha_torch)),
            public_points=2, hidden_points=3),
        GradedFunction(
            "sinusoidal_positional_encoding", POSITIONS,
            public=(("known values, T = 3, d = 4", pe_known), ("T = 10, d = 16", pe_wide)),
            hidden=(("several T and d vs reference", pe_hidden),),
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
    ),
)

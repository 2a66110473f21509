"""Wrong and right implementations for 06_attention (see tests/variants/__init__.py).

Wrong layer-norm forwards keep a correct cache and come with a matching correct backward as a
companion (and wrong backwards with a matching correct forward), so each must lose points on its
own item only. The reference multi_head_attention and attention_backward call the reference
scaled_dot_product_attention (their globals), so a wrong attention costs nothing elsewhere here.
"""

# ruff: noqa: N803, N806
from __future__ import annotations

import numpy as np
import scipy.special
import torch
import torch.nn.functional as F  # noqa: N812

from . import right as _right
from . import wrong as _wrong

A = "06_attention"


def wrong(target, why, companions=None, breaks=""):
    return _wrong(A, target, why, companions, breaks=breaks)


def right(target, why, companions=None):
    return _right(A, target, why, companions)


def T(a):  # noqa: N802
    return np.swapaxes(a, -1, -2)


def softmax(s, axis=-1):
    s = s - s.max(axis=axis, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=axis, keepdims=True)


def attn(q, k, v, mask=None):
    s = q @ T(k) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    p = softmax(s)
    return p @ v, p


# ------------------------------------------------------------------ scaled_dot_product_attention


@wrong("scaled_dot_product_attention", "no 1/√d scale")
def sdpa_no_scale(q, k, v, mask=None):
    s = q @ T(k)
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    p = softmax(s)
    return p @ v, p


@wrong("scaled_dot_product_attention", "divides by d instead of √d")
def sdpa_over_d(q, k, v, mask=None):
    s = q @ T(k) / q.shape[-1]
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    p = softmax(s)
    return p @ v, p


@wrong("scaled_dot_product_attention", "softmax over the queries (wrong axis)")
def sdpa_wrong_axis(q, k, v, mask=None):
    s = q @ T(k) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -1e30)
    p = softmax(s, axis=-2)
    return p @ v, p


@wrong("scaled_dot_product_attention", "masking after the softmax (rows no longer sum to 1)")
def sdpa_mask_after(q, k, v, mask=None):
    p = softmax(q @ T(k) / np.sqrt(q.shape[-1]))
    if mask is not None:
        p = np.where(mask, p, 0.0)
    return p @ v, p


@wrong("scaled_dot_product_attention", "mask polarity inverted (True = masked)")
def sdpa_polarity(q, k, v, mask=None):
    s = q @ T(k) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, -1e30, s)
    p = softmax(s)
    return p @ v, p


@wrong("scaled_dot_product_attention", "unstable softmax: exp without the max shift",
       breaks="numerical stability")
def sdpa_unstable(q, k, v, mask=None):
    s = q @ T(k) / np.sqrt(q.shape[-1])
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(s)
        if mask is not None:
            e = np.where(mask, e, 0.0)
        p = e / e.sum(axis=-1, keepdims=True)
    return p @ v, p


@wrong("scaled_dot_product_attention", "k.T instead of swapping the last two axes")
def sdpa_dot_T(q, k, v, mask=None):
    s = q @ k.T / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    p = softmax(s)
    return p @ v, p


@right("scaled_dot_product_attention", "einsum and scipy.special.softmax")
def sdpa_einsum(q, k, v, mask=None):
    s = np.einsum("...qd,...kd->...qk", q, k) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    p = scipy.special.softmax(s, axis=-1)
    return np.einsum("...qk,...kv->...qv", p, v), p


@right("scaled_dot_product_attention", "torch, with a large negative number for masked scores")
def sdpa_torch(q, k, v, mask=None):
    qt, kt, vt = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (q, k, v))
    s = qt @ kt.transpose(-1, -2) / qt.shape[-1] ** 0.5
    if mask is not None:
        s = s.masked_fill(~torch.from_numpy(np.asarray(mask, dtype=bool)), float("-inf"))
    p = torch.softmax(s, dim=-1)
    return (p @ vt).numpy(), p.numpy()


@right("scaled_dot_product_attention", "log-sum-exp form")
def sdpa_lse(q, k, v, mask=None):
    s = q @ T(k) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    p = np.exp(s - scipy.special.logsumexp(s, axis=-1, keepdims=True))
    return p @ v, p


# ---------------------------------------------------------------------------- attention_backward


def _bwd(dout, q, k, v, mask, *, scale=True, rowsum=True):
    _, p = attn(q, k, v, mask)
    dv = T(p) @ dout
    dp = dout @ T(v)
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True)) if rowsum else p * dp
    c = 1 / np.sqrt(q.shape[-1]) if scale else 1.0
    return ds @ k * c, T(ds) @ q * c, dv


@wrong("attention_backward", "forgets the 1/√d in dq and dk")
def bwd_no_scale(dout, q, k, v, mask=None):
    return _bwd(dout, q, k, v, mask, scale=False)


@wrong("attention_backward", "softmax backward without the rowsum term (dS = P ⊙ dP)")
def bwd_no_rowsum(dout, q, k, v, mask=None):
    return _bwd(dout, q, k, v, mask, rowsum=False)


@wrong("attention_backward", "rowsum over the queries (axis -2)")
def bwd_rowsum_axis(dout, q, k, v, mask=None):
    _, p = attn(q, k, v, mask)
    dp = dout @ T(v)
    ds = p * (dp - np.sum(dp * p, axis=-2, keepdims=True))
    c = 1 / np.sqrt(q.shape[-1])
    return ds @ k * c, T(ds) @ q * c, T(p) @ dout


@wrong("attention_backward", "dk = dS @ q instead of dSᵀ @ q (only runs when Tq = Tk)")
def bwd_dk_untransposed(dout, q, k, v, mask=None):
    dq, dk, dv = _bwd(dout, q, k, v, mask)
    if q.shape[-2] == k.shape[-2]:
        _, p = attn(q, k, v, mask)
        dp = dout @ T(v)
        ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
        dk = ds @ q / np.sqrt(q.shape[-1])
    else:
        dk = np.zeros_like(k)
    return dq, dk, dv


@wrong("attention_backward", "ignores the mask (gradient of unmasked attention)")
def bwd_ignores_mask(dout, q, k, v, mask=None):
    return _bwd(dout, q, k, v, None)


@right("attention_backward", "torch.autograd on float64 tensors")
def bwd_autograd(dout, q, k, v, mask=None):
    qt, kt, vt = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (q, k, v))
    m = None if mask is None else torch.from_numpy(np.asarray(mask, dtype=bool))
    out = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=m)
    out.backward(torch.from_numpy(np.asarray(dout, dtype=np.float64)))
    return qt.grad.numpy(), kt.grad.numpy(), vt.grad.numpy()


@right("attention_backward", "einsum, with the Jacobian-vector product written per row")
def bwd_einsum(dout, q, k, v, mask=None):
    _, p = attn(q, k, v, mask)
    dv = np.einsum("...qk,...qv->...kv", p, dout)
    dp = np.einsum("...qv,...kv->...qk", dout, v)
    ds = p * dp - p * np.einsum("...qk,...qk->...q", p, dp)[..., None]
    c = 1 / np.sqrt(q.shape[-1])
    return (np.einsum("...qk,...kd->...qd", ds, k) * c,
            np.einsum("...qk,...qd->...kd", ds, q) * c, dv)


# ---------------------------------------------------------------------------------- causal_mask


@wrong("causal_mask", "strict lower triangle (off by one: a token cannot see itself)")
def causal_strict(T):  # noqa: N803
    return np.tril(np.ones((T, T), dtype=bool), k=-1)


@wrong("causal_mask", "upper triangle (True = masked, the nn.MultiheadAttention convention)")
def causal_upper(T):  # noqa: N803
    return np.triu(np.ones((T, T), dtype=bool), k=1)


@wrong("causal_mask", "a 0/1 float array")
def causal_float(T):  # noqa: N803
    return np.tril(np.ones((T, T)))


@wrong("causal_mask", "an additive 0/−inf mask")
def causal_additive(T):  # noqa: N803
    return np.where(np.tril(np.ones((T, T), dtype=bool)), 0.0, -np.inf)


@wrong("causal_mask", "upper triangle including the diagonal (transposed)")
def causal_transposed(T):  # noqa: N803
    return np.triu(np.ones((T, T), dtype=bool))


@wrong("causal_mask", "a nested Python list of booleans", breaks="return type")
def causal_list(T):  # noqa: N803
    return [[j <= i for j in range(T)] for i in range(T)]


@right("causal_mask", "comparison of aranges")
def causal_arange(T):  # noqa: N803
    return np.arange(T)[:, None] >= np.arange(T)[None, :]


@right("causal_mask", "from torch.triu")
def causal_torch(T):  # noqa: N803
    return (~torch.ones(T, T, dtype=torch.bool).triu(1)).numpy()


# ------------------------------------------------------------------------- multi_head_attention


def _mha(x, Wq, Wk, Wv, Wo, H, mask, *, split, join, scale_width=True, project=True):
    N, Tn, D = x.shape
    Q, K, V = (split(x @ W, N, Tn, H, D // H) for W in (Wq, Wk, Wv))
    d = D // H if scale_width else D
    s = Q @ T(K) / np.sqrt(d)
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    out = join(softmax(s) @ V, N, Tn, D)
    return out @ Wo if project else out


def split_ok(Y, N, Tn, H, w):
    return Y.reshape(N, Tn, H, w).transpose(0, 2, 1, 3)


def join_ok(Z, N, Tn, D):
    return Z.transpose(0, 2, 1, 3).reshape(N, Tn, D)


@wrong("multi_head_attention", "heads mixed with time: reshape to (N, H, T, D/H) directly")
def mha_mixed(x, Wq, Wk, Wv, Wo, num_heads, mask=None):
    return _mha(x, Wq, Wk, Wv, Wo, num_heads, mask,
                split=lambda Y, N, Tn, H, w: Y.reshape(N, H, Tn, w),
                join=lambda Z, N, Tn, D: Z.reshape(N, Tn, D))


@wrong("multi_head_attention", "interleaved head columns (head h takes columns h, h+H, …)")
def mha_interleaved(x, Wq, Wk, Wv, Wo, num_heads, mask=None):
    return _mha(x, Wq, Wk, Wv, Wo, num_heads, mask,
                split=lambda Y, N, Tn, H, w: Y.reshape(N, Tn, w, H).transpose(0, 3, 1, 2),
                join=lambda Z, N, Tn, D: Z.transpose(0, 2, 3, 1).reshape(N, Tn, D))


@wrong("multi_head_attention", "missing output projection Wo")
def mha_no_wo(x, Wq, Wk, Wv, Wo, num_heads, mask=None):
    return _mha(x, Wq, Wk, Wv, Wo, num_heads, mask, split=split_ok, join=join_ok,
                project=False)


@wrong("multi_head_attention", "scale 1/√D (model width) instead of 1/√(D/H)")
def mha_scale_D(x, Wq, Wk, Wv, Wo, num_heads, mask=None):
    return _mha(x, Wq, Wk, Wv, Wo, num_heads, mask, split=split_ok, join=join_ok,
                scale_width=False)


@wrong("multi_head_attention", "mask passed on with torch's polarity (True = masked)")
def mha_polarity(x, Wq, Wk, Wv, Wo, num_heads, mask=None):
    return _mha(x, Wq, Wk, Wv, Wo, num_heads, None if mask is None else ~mask,
                split=split_ok, join=join_ok)


@right("multi_head_attention", "a loop over heads with column slices")
def mha_loop(x, Wq, Wk, Wv, Wo, num_heads, mask=None):
    D = x.shape[-1]
    w = D // num_heads
    Q, K, V = x @ Wq, x @ Wk, x @ Wv
    heads = []
    for h in range(num_heads):
        cols = slice(h * w, (h + 1) * w)
        heads.append(attn(Q[..., cols], K[..., cols], V[..., cols], mask)[0])
    return np.concatenate(heads, axis=-1) @ Wo


@right("multi_head_attention", "torch.nn.MultiheadAttention with the packed weights")
def mha_torch(x, Wq, Wk, Wv, Wo, num_heads, mask=None):
    D = x.shape[-1]
    net = torch.nn.MultiheadAttention(D, num_heads, bias=False, batch_first=True,
                                      dtype=torch.float64)
    with torch.no_grad():
        net.in_proj_weight.copy_(torch.from_numpy(np.concatenate([Wq.T, Wk.T, Wv.T])))
        net.out_proj.weight.copy_(torch.from_numpy(np.ascontiguousarray(Wo.T)))
        xt = torch.from_numpy(np.asarray(x, dtype=np.float64))
        m = None if mask is None else torch.from_numpy(~np.asarray(mask, dtype=bool))
        return net(xt, xt, xt, attn_mask=m, need_weights=False)[0].numpy()


# --------------------------------------------------------------- sinusoidal_positional_encoding


def _pe(Tn, d, *, swap=False, expo=lambda i, d: i / d, start=0, layout="interleave"):
    t = np.arange(start, start + Tn)[:, None]
    i = np.arange(0, d, 2)
    ang = t / 10000.0 ** expo(i, d)
    s, c = np.sin(ang), np.cos(ang)
    if swap:
        s, c = c, s
    if layout == "halves":
        return np.concatenate([s, c], axis=1)
    pe = np.zeros((Tn, d))
    pe[:, 0::2], pe[:, 1::2] = s, c[:, :d // 2]
    return pe


@wrong("sinusoidal_positional_encoding", "sin and cos swapped")
def pe_swapped(T, d):  # noqa: N803
    return _pe(T, d, swap=True)


@wrong("sinusoidal_positional_encoding", "exponent i/d with i the column index (2·(2i)/d)")
def pe_exponent(T, d):  # noqa: N803
    return _pe(T, d, expo=lambda i, d: 2 * i / d)


@wrong("sinusoidal_positional_encoding", "sines in the first half, cosines in the second")
def pe_halves(T, d):  # noqa: N803
    return _pe(T, d, layout="halves")


@wrong("sinusoidal_positional_encoding", "positions start at 1")
def pe_from_one(T, d):  # noqa: N803
    return _pe(T, d, start=1)


@wrong("sinusoidal_positional_encoding",
       "loops over the d // 2 pairs: an odd width's last sine column stays 0")
def pe_loops_pairs(T, d):  # noqa: N803
    import math
    pe = np.zeros((T, d))
    for t in range(T):
        for i in range(d // 2):
            a = t / 10000 ** (2 * i / d)
            pe[t, 2 * i], pe[t, 2 * i + 1] = math.sin(a), math.cos(a)
    return pe


@wrong("sinusoidal_positional_encoding",
       "exp-log frequencies and a stack-reshape (fails for an odd width)")
def pe_exp_even_only(T, d):  # noqa: N803
    freq = np.exp(-np.log(10000.0) * np.arange(0, d, 2) / d)
    ang = np.arange(T)[:, None] * freq
    return np.stack([np.sin(ang), np.cos(ang)], axis=-1).reshape(T, d)


@wrong("sinusoidal_positional_encoding",
       "the PyTorch tutorial's div_term version (its cos assignment fails for an odd width)")
def pe_tutorial(T, d):  # noqa: N803
    position = torch.arange(T, dtype=torch.float64)[:, None]
    div_term = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-np.log(10000.0) / d))
    pe = torch.zeros(T, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe.numpy()


@right("sinusoidal_positional_encoding", "two Python loops over the columns, math.sin/math.cos")
def pe_loops(T, d):  # noqa: N803
    import math
    pe = np.zeros((T, d))
    for t in range(T):
        for col in range(d):
            a = t / 10000 ** ((col - col % 2) / d)
            pe[t, col] = math.sin(a) if col % 2 == 0 else math.cos(a)
    return pe


@right("sinusoidal_positional_encoding", "exp-log frequencies, stack, reshape and crop")
def pe_exp(T, d):  # noqa: N803
    freq = np.exp(-np.log(10000.0) * np.arange(0, d, 2) / d)
    ang = np.arange(T)[:, None] * freq
    return np.stack([np.sin(ang), np.cos(ang)], axis=-1).reshape(T, -1)[:, :d]


# ---------------------------------------------------------------------------- layer norm


def ln_fwd(x, gamma, beta, eps=1e-5):
    """Correct forward; cache (x, gamma, eps), everything recomputed in the backward."""
    mu = x.mean(-1, keepdims=True)
    xhat = (x - mu) / np.sqrt(x.var(-1, keepdims=True) + eps)
    return gamma * xhat + beta, (x, gamma, eps)


def ln_bwd(dout, cache):
    x, gamma, eps = cache
    mu = x.mean(-1, keepdims=True)
    inv = 1 / np.sqrt(x.var(-1, keepdims=True) + eps)
    xhat = (x - mu) * inv
    g = dout * gamma
    dx = inv * (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True))
    D = x.shape[-1]
    return dx, (dout * xhat).reshape(-1, D).sum(0), dout.reshape(-1, D).sum(0)


LN_B = {"layer_norm_backward": ln_bwd}
LN_F = {"layer_norm_forward": ln_fwd}


@wrong("layer_norm_forward", "normalises over the batch axis (axis 0, batch-norm style)", LN_B)
def ln_batch_axis(x, gamma, beta, eps=1e-5):
    mu = x.mean(0, keepdims=True)
    out = gamma * (x - mu) / np.sqrt(x.var(0, keepdims=True) + eps) + beta
    return out, ln_fwd(x, gamma, beta, eps)[1]


@wrong("layer_norm_forward", "unbiased variance (ddof=1)", LN_B)
def ln_unbiased(x, gamma, beta, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    out = gamma * (x - mu) / np.sqrt(x.var(-1, ddof=1, keepdims=True) + eps) + beta
    return out, ln_fwd(x, gamma, beta, eps)[1]


@wrong("layer_norm_forward", "eps outside the square root", LN_B)
def ln_eps_outside(x, gamma, beta, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    out = gamma * (x - mu) / (x.std(-1, keepdims=True) + eps) + beta
    return out, ln_fwd(x, gamma, beta, eps)[1]


@wrong("layer_norm_forward", "ignores the eps argument (always 1e-5)", LN_B)
def ln_fixed_eps(x, gamma, beta, eps=1e-5):
    return ln_fwd(x, gamma, beta, 1e-5)[0], ln_fwd(x, gamma, beta, eps)[1]


@wrong("layer_norm_forward", "returns torch's output as a torch tensor", LN_B,
       breaks="return type")
def ln_torch_tensor(x, gamma, beta, eps=1e-5):
    out = F.layer_norm(torch.from_numpy(np.asarray(x, dtype=np.float64)), (x.shape[-1],),
                       torch.from_numpy(gamma), torch.from_numpy(beta), eps)
    return out, ln_fwd(x, gamma, beta, eps)[1]


@right("layer_norm_forward", "torch.nn.functional.layer_norm", LN_B)
def ln_torch_fwd(x, gamma, beta, eps=1e-5):
    out = F.layer_norm(torch.from_numpy(np.asarray(x, dtype=np.float64)), (x.shape[-1],),
                       torch.from_numpy(gamma), torch.from_numpy(beta), eps)
    return out.numpy(), ln_fwd(x, gamma, beta, eps)[1]


@wrong("layer_norm_backward", "dgamma and dbeta summed over axis 0 only", LN_F)
def lnb_axis0(dout, cache):
    dx, _, _ = ln_bwd(dout, cache)
    x, gamma, eps = cache
    xhat = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps)
    return dx, (dout * xhat).sum(0), dout.sum(0)


@wrong("layer_norm_backward", "dx without the x̂·mean(g·x̂) term", LN_F)
def lnb_no_xhat_term(dout, cache):
    x, gamma, eps = cache
    inv = 1 / np.sqrt(x.var(-1, keepdims=True) + eps)
    g = dout * gamma
    _, dg, db = ln_bwd(dout, cache)
    return inv * (g - g.mean(-1, keepdims=True)), dg, db


@wrong("layer_norm_backward", "dx forgets gamma (g = dout)", LN_F)
def lnb_no_gamma(dout, cache):
    x, gamma, eps = cache
    _, dg, db = ln_bwd(dout, cache)
    return ln_bwd(dout, (x, np.ones_like(gamma), eps))[0], dg, db


@wrong("layer_norm_backward", "uses the default eps instead of the forward's", LN_F)
def lnb_default_eps(dout, cache):
    x, gamma, _ = cache
    return ln_bwd(dout, (x, gamma, 1e-5))


@wrong("layer_norm_backward", "treats mean and variance as constants (dx = g/σ)", LN_F)
def lnb_constants(dout, cache):
    x, gamma, eps = cache
    _, dg, db = ln_bwd(dout, cache)
    return dout * gamma / np.sqrt(x.var(-1, keepdims=True) + eps), dg, db


@right("layer_norm_backward", "recomputes x̂ from a cache of the inputs (x, gamma, eps)", LN_F)
def lnb_recompute(dout, cache):
    return ln_bwd(dout, cache)


@right("layer_norm_backward", "torch.autograd, cache of numpy inputs in a dict", {
    "layer_norm_forward": lambda x, gamma, beta, eps=1e-5: (
        ln_fwd(x, gamma, beta, eps)[0], {"x": x, "gamma": gamma, "beta": beta, "eps": eps})})
def lnb_autograd(dout, cache):
    xt, gt, bt = (torch.tensor(cache[n], dtype=torch.float64, requires_grad=True)
                  for n in ("x", "gamma", "beta"))
    out = F.layer_norm(xt, (xt.shape[-1],), gt, bt, cache["eps"])
    out.backward(torch.from_numpy(np.asarray(dout, dtype=np.float64)))
    return xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()


# ------------------------------------------------------------- softmax shifted by the global max


def _global_shift_softmax(s):
    """The published one-liner: np.exp(x - np.max(x)) / sum, with the maximum of the WHOLE
    array: fine for one row, 0/0 for rows whose scores lie thousands below the others."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        e = np.exp(s - np.max(s[np.isfinite(s)]))
        return e / e.sum(axis=-1, keepdims=True)


@wrong("scaled_dot_product_attention", "softmax shifted by the global maximum, not each row's")
def sdpa_global_shift(q, k, v, mask=None):
    s = q @ T(k) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    p = _global_shift_softmax(s)
    return p @ v, p


@wrong("attention_backward", "recomputes P with a softmax shifted by the global maximum",
       breaks="numerical stability")
def bwd_global_shift(dout, q, k, v, mask=None):
    s = q @ T(k) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    p = _global_shift_softmax(s)
    dv = T(p) @ dout
    dp = dout @ T(v)
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    c = 1 / np.sqrt(q.shape[-1])
    return ds @ k * c, T(ds) @ q * c, dv


# ---------------------------------------------------------------------------- decoder_block


def _ln(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    return g * (x - mu) / np.sqrt(x.var(-1, keepdims=True) + eps) + b


def _heads_attn(q_in, kv_in, Wq, Wk, Wv, Wo, H, mask=None, *, scale_width=True):
    N, Tq, D = q_in.shape
    w = D // H

    def split(y):
        return y.reshape(N, -1, H, w).transpose(0, 2, 1, 3)
    q, k, v = split(q_in @ Wq), split(kv_in @ Wk), split(kv_in @ Wv)
    s = q @ T(k) / np.sqrt(w if scale_width else D)
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    return (softmax(s) @ v).transpose(0, 2, 1, 3).reshape(N, Tq, D) @ Wo


def _decoder(x, memory, P, H, eps=1e-5, *, post_ln=False, cross_from_x=False, causal=True,
             norm_memory=False, scale_width=True, cross_mask=False):
    Tn = x.shape[1]
    tri = np.tril(np.ones((Tn, Tn), dtype=bool)) if causal else None

    def ln(y, k):
        return _ln(y, P[f"gamma{k}"], P[f"beta{k}"], eps)

    def mha1(a):
        return _heads_attn(a, a, P["Wq1"], P["Wk1"], P["Wv1"], P["Wo1"], H, tri,
                           scale_width=scale_width)

    def mha2(a):
        mem = a if cross_from_x else (ln(memory, 2) if norm_memory else memory)
        m = np.tril(np.ones((Tn, mem.shape[1]), dtype=bool)) if cross_mask else None
        return _heads_attn(a, mem, P["Wq2"], P["Wk2"], P["Wv2"], P["Wo2"], H, m,
                           scale_width=scale_width)

    def ffn(a):
        return np.maximum(a @ P["W1"] + P["b1"], 0) @ P["W2"] + P["b2"]

    if post_ln:  # the original Transformer: normalise after each residual sum
        h = ln(x + mha1(x), 1)
        h = ln(h + mha2(h), 2)
        return ln(h + ffn(h), 3)
    h = x + mha1(ln(x, 1))
    h = h + mha2(ln(h, 2))
    return h + ffn(ln(h, 3))


@wrong("decoder_block", "post-LN (norm_first=False): layer norm after each residual sum")
def dec_post_ln(x, memory, params, num_heads, eps=1e-5):
    return _decoder(x, memory, params, num_heads, eps, post_ln=True)


@wrong("decoder_block", "cross-attention reads x again: keys and values from LN2(h), not memory")
def dec_cross_from_x(x, memory, params, num_heads, eps=1e-5):
    return _decoder(x, memory, params, num_heads, eps, cross_from_x=True)


@wrong("decoder_block", "no causal mask on the self-attention")
def dec_no_causal(x, memory, params, num_heads, eps=1e-5):
    return _decoder(x, memory, params, num_heads, eps, causal=False)


@wrong("decoder_block", "memory normalised by LN2 before the cross-attention")
def dec_norm_memory(x, memory, params, num_heads, eps=1e-5):
    return _decoder(x, memory, params, num_heads, eps, norm_memory=True)


@wrong("decoder_block", "scores scaled by 1/√D instead of 1/√(D/num_heads)")
def dec_scale_model_width(x, memory, params, num_heads, eps=1e-5):
    return _decoder(x, memory, params, num_heads, eps, scale_width=False)


@wrong("decoder_block", "the causal mask also applied to the cross-attention")
def dec_cross_causal(x, memory, params, num_heads, eps=1e-5):
    return _decoder(x, memory, params, num_heads, eps, cross_mask=True)


@right("decoder_block", "numpy from scratch, its own layer norm and head split")
def dec_numpy(x, memory, params, num_heads, eps=1e-5):
    return _decoder(x, memory, params, num_heads, eps)


@right("decoder_block", "torch.nn.TransformerDecoderLayer(norm_first=True) with copied weights")
def dec_torch(x, memory, params, num_heads, eps=1e-5):
    P = params
    N, Tn, D = x.shape
    layer = torch.nn.TransformerDecoderLayer(D, num_heads, P["W1"].shape[1], dropout=0.0,
                                             layer_norm_eps=eps, batch_first=True,
                                             norm_first=True, dtype=torch.float64)

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))
    with torch.no_grad():
        for att, k in ((layer.self_attn, "1"), (layer.multihead_attn, "2")):
            att.in_proj_weight.copy_(torch.cat([t(P[f"W{n}{k}"].T) for n in "qkv"]))
            att.in_proj_bias.zero_()
            att.out_proj.weight.copy_(t(P[f"Wo{k}"].T))
            att.out_proj.bias.zero_()
        layer.linear1.weight.copy_(t(P["W1"].T))
        layer.linear1.bias.copy_(t(P["b1"]))
        layer.linear2.weight.copy_(t(P["W2"].T))
        layer.linear2.bias.copy_(t(P["b2"]))
        for k in "123":
            getattr(layer, f"norm{k}").weight.copy_(t(P[f"gamma{k}"]))
            getattr(layer, f"norm{k}").bias.copy_(t(P[f"beta{k}"]))
        mask = torch.nn.Transformer.generate_square_subsequent_mask(Tn, dtype=torch.float64)
        return layer.eval()(t(x), t(memory), tgt_mask=mask).numpy()

"""Wrong and right implementations for 04_cnn (see tests/variants/__init__.py).

Wrong forwards keep a correct cache and come with a matching correct backward as a companion
(and wrong backwards with a matching correct forward), so each must lose points on its own item
only: the checks of a backward never depend on the forward's ``out`` (dropout's backward is
checked against the mask its own forward applied, so a wrong dropout forward with a consistent
backward still earns the backward's points).
"""

# ruff: noqa: E731, N801
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as TF

from . import right as _right
from . import wrong as _wrong

A = "04_cnn"
swv = np.lib.stride_tricks.sliding_window_view


def wrong(target, why, companions=None, breaks=""):
    return _wrong(A, target, why, companions, breaks=breaks)


def right(target, why, companions=None):
    return _right(A, target, why, companions)


# ------------------------------------------------------------------ correct helpers (companions)


def _pad(x, p):
    return np.pad(np.asarray(x, dtype=np.float64), ((0, 0), (0, 0), (p, p), (p, p)))


def _out_size(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def conv_forward_dict(x, w, b, stride=1, padding=0):
    """Loops over output pixels; dict cache."""
    xp = _pad(x, padding)
    n, _, h, wd = np.shape(x)
    f, _, kh, kw = w.shape
    ho, wo = _out_size(h, kh, stride, padding), _out_size(wd, kw, stride, padding)
    out = np.zeros((n, f, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,fchw->nf", patch, w) + b
    return out, {"x": np.asarray(x, dtype=np.float64), "w": w, "b": b, "stride": stride,
                 "padding": padding}


def conv_backward_dict(dout, cache):
    x, w, s, p = cache["x"], cache["w"], cache["stride"], cache["padding"]
    xp = _pad(x, p)
    kh, kw = w.shape[2:]
    ho, wo = dout.shape[2:]
    dxp, dw = np.zeros_like(xp), np.zeros_like(w, dtype=np.float64)
    for i in range(ho):
        for j in range(wo):
            rows, cols = slice(i * s, i * s + kh), slice(j * s, j * s + kw)
            dxp[:, :, rows, cols] += np.einsum("nf,fchw->nchw", dout[:, :, i, j], w)
            dw += np.einsum("nf,nchw->fchw", dout[:, :, i, j], xp[:, :, rows, cols])
    h, wd = x.shape[2:]
    return dxp[:, :, p:p + h, p:p + wd], dw, dout.sum(axis=(0, 2, 3))


def pool_forward_tuple(x, kernel, stride):
    win = swv(np.asarray(x, dtype=np.float64), (kernel, kernel), axis=(2, 3))[:, :, ::stride,
                                                                               ::stride]
    return win.max(axis=(4, 5)), (np.asarray(x, dtype=np.float64), kernel, stride)


def pool_backward_tuple(dout, cache):
    x, k, s = cache
    n, c, ho, wo = dout.shape
    dx = np.zeros_like(x)
    for i in range(ho):
        for j in range(wo):
            win = x[:, :, i * s:i * s + k, j * s:j * s + k].reshape(n, c, k * k)
            first = win.argmax(axis=-1)
            u, v = np.divmod(first, k)
            for a in range(n):
                for ch in range(c):
                    dx[a, ch, i * s + u[a, ch], j * s + v[a, ch]] += dout[a, ch, i, j]
    return dx


def bn_forward_tuple(x, gamma, beta, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma[None, :, None, None] * xhat + beta[None, :, None, None], (x, gamma, mu, var, eps)


def bn_backward_tuple(dout, cache):
    x, gamma, mu, var, eps = cache
    m = x.shape[0] * x.shape[2] * x.shape[3]
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * inv
    g = dout * gamma[None, :, None, None]
    dx = inv / m * (m * g - g.sum(axis=(0, 2, 3), keepdims=True)
                    - xhat * (g * xhat).sum(axis=(0, 2, 3), keepdims=True))
    return dx, (dout * xhat).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))


def drop_forward_mask(x, p, rng, train=True):
    x = np.asarray(x, dtype=np.float64)
    if not train:
        return x.copy(), None
    mask = (rng.random(x.shape) >= p) / (1 - p)
    return x * mask, mask


def drop_backward_mask(dout, mask):
    return dout if mask is None else dout * mask


CONV = {"conv2d_backward": conv_backward_dict}
POOL = {"maxpool2d_backward": pool_backward_tuple}
BN = {"batchnorm_backward": bn_backward_tuple}
DROP = {"dropout_backward": drop_backward_mask}


# ---------------------------------------------------------------------------- conv_output_size


@wrong("conv_output_size", "the seed's formula without the −1: (n + 2p − d(k − 1))/s + 1")
def size_no_minus_one(size, kernel, stride=1, padding=0, dilation=1):
    return (size + 2 * padding - dilation * (kernel - 1)) // stride + 1


@wrong("conv_output_size", "ceil instead of floor (keeps a partial window)")
def size_ceil(size, kernel, stride=1, padding=0, dilation=1):
    return -(-(size + 2 * padding - dilation * (kernel - 1) - 1) // stride) + 1


@wrong("conv_output_size", "padding added once, not on both sides")
def size_pad_once(size, kernel, stride=1, padding=0, dilation=1):
    return (size + padding - dilation * (kernel - 1) - 1) // stride + 1


@wrong("conv_output_size", "dilated kernel taken as d·k pixels wide")
def size_dilation_times_k(size, kernel, stride=1, padding=0, dilation=1):
    return (size + 2 * padding - dilation * kernel) // stride + 1


@wrong("conv_output_size", "ignores dilation")
def size_no_dilation(size, kernel, stride=1, padding=0, dilation=1):
    return (size + 2 * padding - kernel) // stride + 1


@right("conv_output_size", "math.floor of a true division")
def size_floor(size, kernel, stride=1, padding=0, dilation=1):
    import math
    return math.floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1


@right("conv_output_size", "counts window positions with range()")
def size_count(size, kernel, stride=1, padding=0, dilation=1):
    span = dilation * (kernel - 1) + 1
    return len(range(0, size + 2 * padding - span + 1, stride))


# ------------------------------------------------------------------------------ conv2d_forward


@wrong("conv2d_forward", "true convolution: the kernel is flipped (scipy.signal.convolve2d)",
       CONV)
def conv_flipped(x, w, b, stride=1, padding=0):
    out, _ = conv_forward_dict(x, w[:, :, ::-1, ::-1], b, stride, padding)
    return out, conv_forward_dict(x, w, b, stride, padding)[1]


@wrong("conv2d_forward", "window (i, j) starts at (i, j), not (s·i, s·j): stride ignored", CONV)
def conv_stride_ignored(x, w, b, stride=1, padding=0):
    xp = _pad(x, padding)
    n, _, h, wd = np.shape(x)
    f, _, kh, kw = w.shape
    ho, wo = _out_size(h, kh, stride, padding), _out_size(wd, kw, stride, padding)
    out = np.zeros((n, f, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = np.einsum("nchw,fchw->nf", xp[:, :, i:i + kh, j:j + kw], w) + b
    return out, conv_forward_dict(x, w, b, stride, padding)[1]


@wrong("conv2d_forward", "forgets the bias", CONV)
def conv_no_bias(x, w, b, stride=1, padding=0):
    out, cache = conv_forward_dict(x, w, b, stride, padding)
    return out - b[None, :, None, None], cache


@wrong("conv2d_forward", "ceil output size: a last, partly zero-padded window is kept", CONV)
def conv_ceil(x, w, b, stride=1, padding=0):
    n, _, h, wd = np.shape(x)
    f, _, kh, kw = w.shape
    ho = -(-(h + 2 * padding - kh) // stride) + 1
    wo = -(-(wd + 2 * padding - kw) // stride) + 1
    xp = np.pad(_pad(x, padding), ((0, 0), (0, 0), (0, stride), (0, stride)))
    out = np.zeros((n, f, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,fchw->nf", patch, w) + b
    return out, conv_forward_dict(x, w, b, stride, padding)[1]


@wrong("conv2d_forward", "pads by repeating the border (mode='edge') instead of zeros", CONV)
def conv_edge_padding(x, w, b, stride=1, padding=0):
    xp = np.pad(np.asarray(x, dtype=np.float64),
                ((0, 0), (0, 0), (padding, padding), (padding, padding)), mode="edge")
    out, _ = conv_forward_dict(xp, w, b, stride, 0)
    return out, conv_forward_dict(x, w, b, stride, padding)[1]


@right("conv2d_forward", "im2col matrix product, tuple cache",
       {"conv2d_backward": lambda dout, cache: conv_backward_dict(dout, cache[1])})
def conv_im2col(x, w, b, stride=1, padding=0):
    xp = _pad(x, padding)
    f, c, kh, kw = w.shape
    win = swv(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    n, _, ho, wo = win.shape[:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
    out = (cols @ w.reshape(f, -1).T + b).reshape(n, ho, wo, f).transpose(0, 3, 1, 2)
    return out, ("unused", conv_forward_dict(x, w, b, stride, padding)[1])


@right("conv2d_forward", "torch conv2d, SimpleNamespace cache",
       {"conv2d_backward": lambda dout, c: conv_backward_dict(dout, vars(c))})
def conv_torch(x, w, b, stride=1, padding=0):
    out = TF.conv2d(torch.as_tensor(x), torch.as_tensor(w), torch.as_tensor(b), stride=stride,
                    padding=padding).numpy()
    return out, SimpleNamespace(x=x, w=w, b=b, stride=stride, padding=padding)


# ----------------------------------------------------------------------------- conv2d_backward

CONV_F = {"conv2d_forward": conv_forward_dict}


@wrong("conv2d_backward", "dw averaged over the batch", CONV_F)
def conv_dw_mean(dout, cache):
    dx, dw, db = conv_backward_dict(dout, cache)
    return dx, dw / dout.shape[0], db


@wrong("conv2d_backward", "dx not un-padded (shape of the padded input)", CONV_F)
def conv_dx_padded(dout, cache):
    dx, dw, db = conv_backward_dict(dout, cache)
    p = cache["padding"]
    return np.pad(dx, ((0, 0), (0, 0), (p, p), (p, p))), dw, db


@wrong("conv2d_backward", "db averaged over the batch", CONV_F)
def conv_db_mean(dout, cache):
    dx, dw, _ = conv_backward_dict(dout, cache)
    return dx, dw, dout.sum(axis=(2, 3)).mean(axis=0)


@wrong("conv2d_backward", "overlapping windows overwrite (=) instead of adding (+=) in dx",
       CONV_F)
def conv_dx_overwrite(dout, cache):
    x, w, s, p = cache["x"], cache["w"], cache["stride"], cache["padding"]
    xp = _pad(x, p)
    kh, kw = w.shape[2:]
    ho, wo = dout.shape[2:]
    dxp = np.zeros_like(xp)
    for i in range(ho):
        for j in range(wo):
            dxp[:, :, i * s:i * s + kh, j * s:j * s + kw] = np.einsum(
                "nf,fchw->nchw", dout[:, :, i, j], w)
    _, dw, db = conv_backward_dict(dout, cache)
    h, wd = x.shape[2:]
    return dxp[:, :, p:p + h, p:p + wd], dw, db


@wrong("conv2d_backward", "dx with the kernel flipped (correlation where the transpose is "
                          "needed)", CONV_F)
def conv_dx_flipped(dout, cache):
    flipped = dict(cache, w=cache["w"][:, :, ::-1, ::-1])
    dx, _, _ = conv_backward_dict(dout, flipped)
    _, dw, db = conv_backward_dict(dout, cache)
    return dx, dw, db


@wrong("conv2d_backward", "dw ignores the stride (reads x at i + u instead of s·i + u)", CONV_F)
def conv_dw_no_stride(dout, cache):
    x, w, s, p = cache["x"], cache["w"], cache["stride"], cache["padding"]
    xp = _pad(x, p)
    kh, kw = w.shape[2:]
    win = swv(xp, (kh, kw), axis=(2, 3))[:, :, :dout.shape[2], :dout.shape[3]]
    dw = np.einsum("nchwuv,nfhw->fcuv", win, dout)
    dx, _, db = conv_backward_dict(dout, cache)
    return dx, dw, db


@right("conv2d_backward", "loops over output pixels, dict cache", CONV_F)
def conv_backward_loops(dout, cache):
    return conv_backward_dict(dout, cache)


@right("conv2d_backward", "torch autograd, tuple cache",
       {"conv2d_forward": lambda x, w, b, stride=1, padding=0: (
           conv_forward_dict(x, w, b, stride, padding)[0], (x, w, b, stride, padding))})
def conv_backward_torch(dout, cache):
    x, w, b, s, p = cache
    xt, wt, bt = (torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)
                  for a in (x, w, b))
    TF.conv2d(xt, wt, bt, stride=s, padding=p).backward(torch.as_tensor(dout))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def _conv_closure(x, w, b, stride=1, padding=0):
    out, cache = conv_forward_dict(x, w, b, stride, padding)
    return out, lambda dout: conv_backward_dict(dout, cache)


@right("conv2d_backward", "the cache is a closure", {"conv2d_forward": _conv_closure})
def conv_backward_closure(dout, cache):
    return cache(dout)


# --------------------------------------------------------------------------- maxpool2d_forward


@wrong("maxpool2d_forward", "average pooling", POOL)
def pool_average(x, kernel, stride):
    win = swv(np.asarray(x, dtype=np.float64), (kernel, kernel), axis=(2, 3))[:, :, ::stride,
                                                                               ::stride]
    return win.mean(axis=(4, 5)), pool_forward_tuple(x, kernel, stride)[1]


@wrong("maxpool2d_forward", "reshape trick: assumes stride = kernel and H, W divisible", POOL)
def pool_reshape(x, kernel, stride):
    n, c, h, w = x.shape
    k = kernel
    out = x[:, :, :h // k * k, :w // k * k].reshape(n, c, h // k, k, w // k, k).max(axis=(3, 5))
    return out, pool_forward_tuple(x, kernel, stride)[1]


@wrong("maxpool2d_forward", "stride ignored (windows every pixel, then cropped)", POOL)
def pool_stride_ignored(x, kernel, stride):
    win = swv(np.asarray(x, dtype=np.float64), (kernel, kernel), axis=(2, 3))
    ho, wo = (x.shape[2] - kernel) // stride + 1, (x.shape[3] - kernel) // stride + 1
    return win.max(axis=(4, 5))[:, :, :ho, :wo], pool_forward_tuple(x, kernel, stride)[1]


@wrong("maxpool2d_forward", "ceil mode (torch ceil_mode=True): keeps partial border windows",
       POOL)
def pool_ceil(x, kernel, stride):
    n, c, h, w = x.shape
    ho, wo = -(-(h - kernel) // stride) + 1, -(-(w - kernel) // stride) + 1
    ho -= (ho - 1) * stride >= h  # as torch: the last window must start inside the input
    wo -= (wo - 1) * stride >= w
    out = np.empty((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + kernel,
                                j * stride:j * stride + kernel].max(axis=(2, 3))
    return out, pool_forward_tuple(x, kernel, stride)[1]


@right("maxpool2d_forward", "loops over windows, tuple cache", POOL)
def pool_loops(x, kernel, stride):
    n, c, h, w = x.shape
    ho, wo = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    out = np.empty((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + kernel,
                                j * stride:j * stride + kernel].max(axis=(2, 3))
    return out, (np.asarray(x, dtype=np.float64), kernel, stride)


@right("maxpool2d_forward", "torch max_pool2d with indices, dict cache",
       {"maxpool2d_backward": lambda dout, c: np.bincount(
           (c["idx"] + c["base"]).ravel(), weights=dout.ravel(),
           minlength=int(np.prod(c["shape"]))).reshape(c["shape"])})
def pool_torch(x, kernel, stride):
    out, idx = TF.max_pool2d(torch.as_tensor(x), kernel, stride, return_indices=True)
    n, c, h, w = x.shape
    base = (np.arange(n * c) * h * w).reshape(n, c, 1, 1)
    return out.numpy(), {"idx": idx.numpy(), "base": base, "shape": x.shape}


# -------------------------------------------------------------------------- maxpool2d_backward

POOL_F = {"maxpool2d_forward": pool_forward_tuple}


@wrong("maxpool2d_backward", "gradient to every tied maximum", POOL_F)
def pool_backward_all_ties(dout, cache):
    x, k, s = cache
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            win = x[:, :, i * s:i * s + k, j * s:j * s + k]
            mask = win == win.max(axis=(2, 3), keepdims=True)
            dx[:, :, i * s:i * s + k, j * s:j * s + k] += mask * dout[:, :, i:i + 1, j:j + 1]
    return dx


@wrong("maxpool2d_backward", "fancy-index += with repeated indices: overlaps added once",
       POOL_F)
def pool_backward_fancy(dout, cache):
    x, k, s = cache
    n, c, ho, wo = dout.shape
    win = swv(x, (k, k), axis=(2, 3))[:, :, ::s, ::s].reshape(n, c, ho, wo, k * k)
    first = win.argmax(axis=-1)
    rows = s * np.arange(ho)[:, None] + first // k
    cols = s * np.arange(wo)[None, :] + first % k
    dx = np.zeros_like(x)
    dx[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols] += dout
    return dx


@wrong("maxpool2d_backward", "gradient to the LAST tied maximum", POOL_F)
def pool_backward_last(dout, cache):
    x, k, s = cache
    n, c, ho, wo = dout.shape
    dx = np.zeros_like(x)
    for i in range(ho):
        for j in range(wo):
            win = x[:, :, i * s:i * s + k, j * s:j * s + k].reshape(n, c, k * k)
            last = k * k - 1 - win[:, :, ::-1].argmax(axis=-1)
            u, v = np.divmod(last, k)
            for a in range(n):
                for ch in range(c):
                    dx[a, ch, i * s + u[a, ch], j * s + v[a, ch]] += dout[a, ch, i, j]
    return dx


@wrong("maxpool2d_backward", "average-pooling backward (dout/k² to every entry)", POOL_F)
def pool_backward_average(dout, cache):
    x, k, s = cache
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            dx[:, :, i * s:i * s + k, j * s:j * s + k] += dout[:, :, i:i + 1, j:j + 1] / k ** 2
    return dx


@right("maxpool2d_backward", "loops, tuple cache", POOL_F)
def pool_backward_loops(dout, cache):
    return pool_backward_tuple(dout, cache)


@right("maxpool2d_backward", "torch autograd",
       {"maxpool2d_forward": lambda x, k, s: (pool_forward_tuple(x, k, s)[0],
                                              SimpleNamespace(x=x, k=k, s=s))})
def pool_backward_torch(dout, cache):
    xt = torch.tensor(np.asarray(cache.x, dtype=np.float64), requires_grad=True)
    TF.max_pool2d(xt, cache.k, cache.s).backward(torch.as_tensor(dout))
    return xt.grad.numpy()


# ----------------------------------------------------------------------------- receptive_field


def _layer(layer):
    return layer[0], layer[1], (layer[2] if len(layer) > 2 else 1)


@wrong("receptive_field", "ignores the strides: 1 + Σ d(k − 1)")
def rf_no_strides(layers):
    return 1 + sum(d * (k - 1) for k, s, d in map(_layer, layers))


@wrong("receptive_field", "multiplies by the product of strides INCLUDING the current layer")
def rf_jump_first(layers):
    r, j = 1, 1
    for k, s, d in map(_layer, layers):
        j *= s
        r += d * (k - 1) * j
    return r


@wrong("receptive_field", "ignores dilation")
def rf_no_dilation(layers):
    r, j = 1, 1
    for k, s, _ in map(_layer, layers):
        r += (k - 1) * j
        j *= s
    return r


@wrong("receptive_field", "dilated kernel as d·k pixels (adds d·k − 1)")
def rf_dilation_times_k(layers):
    r, j = 1, 1
    for k, s, d in map(_layer, layers):
        r += (d * k - 1) * j
        j *= s
    return r


@right("receptive_field", "backwards from the top: r = (r − 1)·s + d(k − 1) + 1")
def rf_backwards(layers):
    r = 1
    for k, s, d in map(_layer, reversed(list(layers))):
        r = (r - 1) * s + d * (k - 1) + 1
    return r


@right("receptive_field", "numpy cumprod of strides")
def rf_cumprod(layers):
    if not layers:
        return 1
    ks = np.array([_layer(t) for t in layers])
    jumps = np.concatenate([[1], np.cumprod(ks[:-1, 1])])
    return int(1 + np.sum(ks[:, 2] * (ks[:, 0] - 1) * jumps))


# --------------------------------------------------------------------------- batchnorm_forward


@wrong("batchnorm_forward", "unbiased variance (ddof=1)", BN)
def bn_unbiased(x, gamma, beta, eps=1e-5):
    _, cache = bn_forward_tuple(x, gamma, beta, eps)
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True, ddof=1)
    return gamma[None, :, None, None] * (x - mu) / np.sqrt(var + eps) + \
        beta[None, :, None, None], cache


@wrong("batchnorm_forward", "eps outside the square root", BN)
def bn_eps_outside(x, gamma, beta, eps=1e-5):
    _, cache = bn_forward_tuple(x, gamma, beta, eps)
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    sd = x.std(axis=(0, 2, 3), keepdims=True)
    return gamma[None, :, None, None] * (x - mu) / (sd + eps) + beta[None, :, None, None], cache


@wrong("batchnorm_forward", "statistics over the batch axis only (per pixel)", BN)
def bn_batch_axis_only(x, gamma, beta, eps=1e-5):
    _, cache = bn_forward_tuple(x, gamma, beta, eps)
    mu, var = x.mean(axis=0, keepdims=True), x.var(axis=0, keepdims=True)
    return gamma[None, :, None, None] * (x - mu) / np.sqrt(var + eps) + \
        beta[None, :, None, None], cache


@wrong("batchnorm_forward", "statistics per example (layer norm over C, H, W)", BN)
def bn_per_example(x, gamma, beta, eps=1e-5):
    _, cache = bn_forward_tuple(x, gamma, beta, eps)
    mu, var = x.mean(axis=(1, 2, 3), keepdims=True), x.var(axis=(1, 2, 3), keepdims=True)
    return gamma[None, :, None, None] * (x - mu) / np.sqrt(var + eps) + \
        beta[None, :, None, None], cache


@wrong("batchnorm_forward", "forgets eps", BN)
def bn_no_eps(x, gamma, beta, eps=1e-5):
    _, cache = bn_forward_tuple(x, gamma, beta, eps)
    mu, sd = x.mean(axis=(0, 2, 3), keepdims=True), x.std(axis=(0, 2, 3), keepdims=True)
    return gamma[None, :, None, None] * (x - mu) / sd + beta[None, :, None, None], cache


@right("batchnorm_forward", "moves C to the last axis, tuple cache", BN)
def bn_channels_last(x, gamma, beta, eps=1e-5):
    xc = np.moveaxis(np.asarray(x, dtype=np.float64), 1, -1).reshape(-1, x.shape[1])
    out = (xc - xc.mean(0)) / np.sqrt(xc.var(0) + eps) * gamma + beta
    out = np.moveaxis(out.reshape(x.shape[0], x.shape[2], x.shape[3], -1), -1, 1)
    return out, bn_forward_tuple(x, gamma, beta, eps)[1]


@right("batchnorm_forward", "torch batch_norm, tuple cache", BN)
def bn_torch(x, gamma, beta, eps=1e-5):
    out = TF.batch_norm(torch.as_tensor(x), None, None, torch.as_tensor(gamma),
                        torch.as_tensor(beta), training=True, eps=eps).numpy()
    return out, bn_forward_tuple(x, gamma, beta, eps)[1]


# -------------------------------------------------------------------------- batchnorm_backward

BN_F = {"batchnorm_forward": bn_forward_tuple}


@wrong("batchnorm_backward", "without the 1/N terms: dx = dout·γ/√(σ² + ε)", BN_F)
def bn_backward_no_terms(dout, cache):
    x, gamma, mu, var, eps = cache
    _, dg, db = bn_backward_tuple(dout, cache)
    return dout * gamma[None, :, None, None] / np.sqrt(var + eps), dg, db


@wrong("batchnorm_backward", "the seed's formula: sums where the means (1/N) belong", BN_F)
def bn_backward_sums(dout, cache):
    x, gamma, mu, var, eps = cache
    inv = 1 / np.sqrt(var + eps)
    xhat = (x - mu) * inv
    g = dout * gamma[None, :, None, None]
    dx = inv * (g - g.sum(axis=(0, 2, 3), keepdims=True)
                - xhat * (g * xhat).sum(axis=(0, 2, 3), keepdims=True))
    _, dg, db = bn_backward_tuple(dout, cache)
    return dx, dg, db


@wrong("batchnorm_backward", "only the mean term (forgets that σ² depends on x)", BN_F)
def bn_backward_mean_only(dout, cache):
    x, gamma, mu, var, eps = cache
    g = dout * gamma[None, :, None, None]
    dx = (g - g.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(var + eps)
    _, dg, db = bn_backward_tuple(dout, cache)
    return dx, dg, db


@wrong("batchnorm_backward", "dgamma sums dout·x instead of dout·x̂", BN_F)
def bn_backward_dgamma_x(dout, cache):
    dx, _, db = bn_backward_tuple(dout, cache)
    return dx, (dout * cache[0]).sum(axis=(0, 2, 3)), db


@wrong("batchnorm_backward", "dbeta averaged instead of summed", BN_F)
def bn_backward_dbeta_mean(dout, cache):
    dx, dg, _ = bn_backward_tuple(dout, cache)
    return dx, dg, dout.mean(axis=(0, 2, 3))


@right("batchnorm_backward", "node by node on the computational graph, tuple cache", BN_F)
def bn_backward_graph(dout, cache):
    x, gamma, mu, var, eps = cache
    m = x.shape[0] * x.shape[2] * x.shape[3]
    ax = (0, 2, 3)
    xc = x - mu
    inv = 1 / np.sqrt(var + eps)
    xhat = xc * inv
    dxhat = dout * gamma[None, :, None, None]
    dinv = (dxhat * xc).sum(axis=ax, keepdims=True)
    dvar = dinv * -0.5 * (var + eps) ** -1.5
    dxc = dxhat * inv + dvar * 2 * xc / m
    dmu = -dxc.sum(axis=ax, keepdims=True)
    return dxc + dmu / m, (dout * xhat).sum(axis=ax), dout.sum(axis=ax)


@right("batchnorm_backward", "torch autograd, dict cache",
       {"batchnorm_forward": lambda x, g, b, eps=1e-5: (
           bn_forward_tuple(x, g, b, eps)[0], {"x": x, "g": g, "b": b, "eps": eps})})
def bn_backward_torch(dout, cache):
    xt, gt, bt = (torch.tensor(np.asarray(cache[k], dtype=np.float64), requires_grad=True)
                  for k in ("x", "g", "b"))
    TF.batch_norm(xt, None, None, gt, bt, training=True, eps=cache["eps"]).backward(
        torch.as_tensor(dout))
    return xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()


# -------------------------------------------------------------------------------- fuse_conv_bn


@wrong("fuse_conv_bn", "forgets the conv bias: b_fused = β − a·mean")
def fuse_no_conv_bias(w, b, gamma, beta, running_mean, running_var, eps=1e-5):
    a = gamma / np.sqrt(running_var + eps)
    return w * a[:, None, None, None], beta - a * running_mean


@wrong("fuse_conv_bn", "eps outside the square root")
def fuse_eps_outside(w, b, gamma, beta, running_mean, running_var, eps=1e-5):
    a = gamma / (np.sqrt(running_var) + eps)
    return w * a[:, None, None, None], a * (b - running_mean) + beta


@wrong("fuse_conv_bn", "divides by the variance, not the standard deviation")
def fuse_no_sqrt(w, b, gamma, beta, running_mean, running_var, eps=1e-5):
    a = gamma / (running_var + eps)
    return w * a[:, None, None, None], a * (b - running_mean) + beta


@wrong("fuse_conv_bn", "mean subtracted after scaling: a·b − mean + β")
def fuse_mean_unscaled(w, b, gamma, beta, running_mean, running_var, eps=1e-5):
    a = gamma / np.sqrt(running_var + eps)
    return w * a[:, None, None, None], a * b - running_mean + beta


@right("fuse_conv_bn", "einsum and a diagonal matrix")
def fuse_einsum(w, b, gamma, beta, running_mean, running_var, eps=1e-5):
    scale = np.diag(gamma / np.sqrt(running_var + eps))
    return np.einsum("fg,gchw->fchw", scale, w), scale @ (b - running_mean) + beta


@right("fuse_conv_bn", "torch.nn.utils.fuse_conv_bn_weights")
def fuse_torch(w, b, gamma, beta, running_mean, running_var, eps=1e-5):
    from torch.nn.utils import fuse_conv_bn_weights
    t = torch.as_tensor
    wf, bf = fuse_conv_bn_weights(t(w), t(b), t(running_mean), t(running_var), eps, t(gamma),
                                  t(beta))
    return wf.detach().numpy(), bf.detach().numpy()


# ----------------------------------------------------------------------------- dropout_forward


@wrong("dropout_forward", "the seed's keep/drop confusion: keeps with probability p", DROP)
def drop_keep_p(x, p, rng, train=True):
    x = np.asarray(x, dtype=np.float64)
    if not train:
        return x.copy(), None
    mask = (rng.random(x.shape) < p) / (1 - p)
    return x * mask, mask


@wrong("dropout_forward", "scales survivors by 1/p", DROP)
def drop_scale_inv_p(x, p, rng, train=True):
    x = np.asarray(x, dtype=np.float64)
    if not train:
        return x.copy(), None
    mask = (rng.random(x.shape) >= p) / p
    return x * mask, mask


@wrong("dropout_forward", "scales survivors by p", DROP)
def drop_scale_p(x, p, rng, train=True):
    x = np.asarray(x, dtype=np.float64)
    if not train:
        return x.copy(), None
    mask = (rng.random(x.shape) >= p) * p
    return x * mask, mask


@wrong("dropout_forward", "no scaling (vanilla dropout)", DROP)
def drop_no_scale(x, p, rng, train=True):
    x = np.asarray(x, dtype=np.float64)
    if not train:
        return x.copy(), None
    mask = (rng.random(x.shape) >= p).astype(float)
    return x * mask, mask


@wrong("dropout_forward", "also drops at eval time (train flag ignored)", DROP)
def drop_at_eval(x, p, rng, train=True):
    return drop_forward_mask(x, p, rng, True)


@wrong("dropout_forward", "eval mode multiplies by (1 − p) (mixes vanilla and inverted)", DROP)
def drop_eval_scaled(x, p, rng, train=True):
    if not train:
        return np.asarray(x, dtype=np.float64) * (1 - p), np.full(np.shape(x), 1 - p)
    return drop_forward_mask(x, p, rng, True)


@wrong("dropout_forward", "draws from np.random instead of rng", DROP)
def drop_global_rng(x, p, rng, train=True):
    return drop_forward_mask(x, p, np.random, train)


@wrong("dropout_forward", "one mask shared by every example (shape x.shape[1:])", DROP)
def drop_shared_mask(x, p, rng, train=True):
    x = np.asarray(x, dtype=np.float64)
    if not train:
        return x.copy(), None
    mask = np.broadcast_to((rng.random(x.shape[1:]) >= p) / (1 - p), x.shape)
    return x * mask, mask


@right("dropout_forward", "rng.binomial mask, dict cache",
       {"dropout_backward": lambda dout, c: dout * c["m"] / c["keep"]})
def drop_binomial(x, p, rng, train=True):
    x = np.asarray(x, dtype=np.float64)
    if not train:
        return x.copy(), {"m": np.ones_like(x), "keep": 1.0}
    m = rng.binomial(1, 1 - p, size=x.shape)
    return x * m / (1 - p), {"m": m, "keep": 1 - p}


@right("dropout_forward", "rng.uniform, returns x itself in eval", DROP)
def drop_uniform(x, p, rng, train=True):
    if not train or p == 0:
        return x, None
    mask = np.where(rng.uniform(size=np.shape(x)) < p, 0.0, 1.0 / (1.0 - p))
    return x * mask, mask


# ---------------------------------------------------------------------------- dropout_backward

DROP_F = {"dropout_forward": drop_forward_mask}


def _drop_forward_rng(x, p, rng, train=True):
    out, mask = drop_forward_mask(x, p, rng, train)
    return out, (p, rng, train)


@wrong("dropout_backward", "draws a new mask from the cached rng",
       {"dropout_forward": _drop_forward_rng})
def drop_backward_new_mask(dout, cache):
    p, rng, train = cache
    if not train:
        return dout
    return dout * (rng.random(dout.shape) >= p) / (1 - p)


@wrong("dropout_backward", "forgets the 1/(1 − p) scaling", DROP_F)
def drop_backward_unscaled(dout, mask):
    return dout if mask is None else dout * (mask > 0)


@wrong("dropout_backward", "scales by 1/(1 − p) everywhere but does not zero dropped entries",
       {"dropout_forward": lambda x, p, rng, train=True: (drop_forward_mask(x, p, rng, train)[0],
                                                          (p, train))})
def drop_backward_no_zero(dout, cache):
    p, train = cache
    return dout / (1 - p) if train else dout


def _drop_forward_mask_p(x, p, rng, train=True):
    out, mask = drop_forward_mask(x, p, rng, train)
    return out, (mask, p)


@wrong("dropout_backward", "scales twice: dout·mask/(1 − p)",
       {"dropout_forward": _drop_forward_mask_p})
def drop_backward_twice(dout, cache):
    mask, p = cache
    return dout if mask is None else dout * mask / (1 - p)


def _drop_forward_keep(x, p, rng, train=True):
    x = np.asarray(x, dtype=np.float64)
    if not train:
        return x.copy(), {"keep": np.ones(x.shape, bool), "p": 0.0}
    keep = rng.random(x.shape) >= p
    return x * keep / (1 - p), {"keep": keep, "p": p}


@right("dropout_backward", "boolean mask and p in a dict",
       {"dropout_forward": _drop_forward_keep})
def drop_backward_dict(dout, cache):
    return np.where(cache["keep"], dout / (1 - cache["p"]), 0.0)


@right("dropout_backward", "scaled mask cache", DROP_F)
def drop_backward_plain(dout, mask):
    return drop_backward_mask(dout, mask)


# ------------------------------------------------------------------ residual_block_forward/_backward


def _conv_same(x, w, b):
    """A stride-1 'same' convolution with torch (the variants below are about the block)."""
    p = (w.shape[-1] - 1) // 2
    with torch.no_grad():
        return TF.conv2d(torch.from_numpy(np.asarray(x, dtype=np.float64)), torch.from_numpy(w),
                         torch.from_numpy(b), padding=p).numpy()


def _conv_same_grads(dout, x, w):
    """(dx, dw, db) of a stride-1 'same' convolution, by torch autograd."""
    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.zeros(w.shape[0], dtype=torch.float64, requires_grad=True)
    TF.conv2d(xt, wt, bt, padding=(w.shape[-1] - 1) // 2).backward(torch.from_numpy(dout))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def res_fwd(x, w1, b1, w2, b2):
    """Correct forward; the cache holds the inputs and both pre-activations."""
    a1 = _conv_same(x, w1, b1)
    h = np.maximum(a1, 0)
    s = _conv_same(h, w2, b2) + x
    return np.maximum(s, 0), {"x": x, "h": h, "a1": a1, "s": s, "w1": w1, "w2": w2}


def res_bwd(dout, c):
    ds = dout * (c["s"] > 0)
    dh, dw2, db2 = _conv_same_grads(ds, c["h"], c["w2"])
    dx, dw1, db1 = _conv_same_grads(dh * (c["a1"] > 0), c["x"], c["w1"])
    return dx + ds, dw1, db1, dw2, db2


RES_B = {"residual_block_backward": res_bwd}
RES_F = {"residual_block_forward": res_fwd}


@wrong("residual_block_forward", "no skip connection: a plain two-layer conv net", RES_B)
def res_no_skip(x, w1, b1, w2, b2):
    h = np.maximum(_conv_same(x, w1, b1), 0)
    return np.maximum(_conv_same(h, w2, b2), 0), res_fwd(x, w1, b1, w2, b2)[1]


@wrong("residual_block_forward", "skip added after the last ReLU: relu(conv2) + x", RES_B)
def res_skip_after_relu(x, w1, b1, w2, b2):
    h = np.maximum(_conv_same(x, w1, b1), 0)
    return np.maximum(_conv_same(h, w2, b2), 0) + x, res_fwd(x, w1, b1, w2, b2)[1]


@wrong("residual_block_forward", "no ReLU after the sum (the pre-activation ResNet's output)",
       RES_B)
def res_no_last_relu(x, w1, b1, w2, b2):
    h = np.maximum(_conv_same(x, w1, b1), 0)
    return _conv_same(h, w2, b2) + x, res_fwd(x, w1, b1, w2, b2)[1]


@wrong("residual_block_forward", "no ReLU between the two convolutions", RES_B)
def res_no_middle_relu(x, w1, b1, w2, b2):
    return (np.maximum(_conv_same(_conv_same(x, w1, b1), w2, b2) + x, 0),
            res_fwd(x, w1, b1, w2, b2)[1])


@wrong("residual_block_forward", "pads both convolutions for w1's kernel size", RES_B)
def res_one_padding(x, w1, b1, w2, b2):
    p = (w1.shape[-1] - 1) // 2

    def conv(a, w, b):
        with torch.no_grad():
            return TF.conv2d(torch.from_numpy(np.asarray(a, dtype=np.float64)),
                             torch.from_numpy(w), torch.from_numpy(b), padding=p).numpy()
    h = np.maximum(conv(x, w1, b1), 0)
    s = conv(h, w2, b2)
    if s.shape != x.shape:  # what a student does to make the shapes fit: crop or pad
        s = np.resize(s, x.shape)
    return np.maximum(s + x, 0), res_fwd(x, w1, b1, w2, b2)[1]


@right("residual_block_forward", "torch modules, tuple cache",
       {"residual_block_backward": lambda dout, c: c[0](dout)})
def res_torch(x, w1, b1, w2, b2):
    leaves = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)
              for a in (x, w1, b1, w2, b2)]
    xt, w1t, b1t, w2t, b2t = leaves
    h = torch.relu(TF.conv2d(xt, w1t, b1t, padding=(w1.shape[-1] - 1) // 2))
    out = torch.relu(TF.conv2d(h, w2t, b2t, padding=(w2.shape[-1] - 1) // 2) + xt)

    def backward(dout):
        grads = torch.autograd.grad(out, leaves, torch.from_numpy(dout), retain_graph=True)
        return tuple(g.numpy() for g in grads)
    return out.detach().numpy(), (backward,)


@right("residual_block_forward", "the chapter's own layers from this module, dict cache",
       RES_B)
def res_with_loops(x, w1, b1, w2, b2):
    p1, p2 = (w1.shape[-1] - 1) // 2, (w2.shape[-1] - 1) // 2
    a1 = conv_forward_dict(x, w1, b1, 1, p1)[0]
    h = np.maximum(a1, 0)
    s = conv_forward_dict(h, w2, b2, 1, p2)[0] + x
    return np.maximum(s, 0), {"x": x, "h": h, "a1": a1, "s": s, "w1": w1, "w2": w2}


@wrong("residual_block_backward", "forgets the skip path: dx from the convolutions only", RES_F)
def resb_no_skip(dout, c):
    dx, *rest = res_bwd(dout, c)
    return (dx - dout * (c["s"] > 0), *rest)


@wrong("residual_block_backward", "skip path bypasses the last ReLU: dx = conv path + dout",
       RES_F)
def resb_skip_unmasked(dout, c):
    dx, *rest = res_bwd(dout, c)
    return (dx - dout * (c["s"] > 0) + dout, *rest)


@wrong("residual_block_backward", "forgets the middle ReLU's mask", RES_F)
def resb_no_middle_mask(dout, c):
    ds = dout * (c["s"] > 0)
    dh, dw2, db2 = _conv_same_grads(ds, c["h"], c["w2"])
    dx, dw1, db1 = _conv_same_grads(dh, c["x"], c["w1"])
    return dx + ds, dw1, db1, dw2, db2


@wrong("residual_block_backward", "masks with the first pre-activation twice", RES_F)
def resb_wrong_mask(dout, c):
    ds = dout * (c["a1"] > 0)
    dh, dw2, db2 = _conv_same_grads(ds, c["h"], c["w2"])
    dx, dw1, db1 = _conv_same_grads(dh * (c["a1"] > 0), c["x"], c["w1"])
    return dx + ds, dw1, db1, dw2, db2


@wrong("residual_block_backward", "dw2 taken against x instead of h", RES_F)
def resb_dw2_input(dout, c):
    ds = dout * (c["s"] > 0)
    dh, _, db2 = _conv_same_grads(ds, c["h"], c["w2"])
    _, dw2, _ = _conv_same_grads(ds, c["x"], c["w2"])
    dx, dw1, db1 = _conv_same_grads(dh * (c["a1"] > 0), c["x"], c["w1"])
    return dx + ds, dw1, db1, dw2, db2


@right("residual_block_backward", "the chapter's own conv backward, masks recomputed", RES_F)
def resb_loops(dout, c):
    ds = dout * (c["s"] > 0)
    p2, p1 = (c["w2"].shape[-1] - 1) // 2, (c["w1"].shape[-1] - 1) // 2
    cache2 = {"x": c["h"], "w": c["w2"], "b": None, "stride": 1, "padding": p2}
    dh, dw2, db2 = conv_backward_dict(ds, cache2)
    cache1 = {"x": c["x"], "w": c["w1"], "b": None, "stride": 1, "padding": p1}
    dx, dw1, db1 = conv_backward_dict(dh * (c["a1"] > 0), cache1)
    return dx + ds, dw1, db1, dw2, db2

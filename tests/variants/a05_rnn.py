"""Wrong and right implementations for 05_rnn (see tests/variants/__init__.py).

Wrong forwards keep a correct cache and come with a matching correct backward as a companion
(and wrong backwards with a matching correct forward), so each must lose points on its own item
only: the checks of a backward never depend on the forward's outputs.
"""

# ruff: noqa: N803, N806
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import scipy.special
import torch

from . import right as _right
from . import wrong as _wrong

A = "05_rnn"


def wrong(target, why, companions=None, breaks=""):
    return _wrong(A, target, why, companions, breaks=breaks)


def right(target, why, companions=None):
    return _right(A, target, why, companions)


sig = scipy.special.expit

# ---------------------------------------------------------------- correct helpers (companions)


def step_fwd(x, h_prev, Wx, Wh, b):
    h = np.tanh(x @ Wx + h_prev @ Wh + b)
    return h, (x, h_prev, Wx, Wh, h)


def step_bwd(dh, cache):
    x, h_prev, Wx, Wh, h = cache
    da = dh * (1 - h * h)
    return da @ Wx.T, da @ Wh.T, x.T @ da, h_prev.T @ da, da.sum(0)


def seq_fwd(x, h0, Wx, Wh, b):
    """Cache: a dict of the inputs and all states (h0 included)."""
    hs = [h0]
    for t in range(x.shape[1]):
        hs.append(np.tanh(x[:, t] @ Wx + hs[-1] @ Wh + b))
    H = np.stack(hs, axis=1)
    return H[:, 1:], {"x": x, "H": H, "Wx": Wx, "Wh": Wh}


def seq_bwd(dh, cache):
    x, H, Wx, Wh = cache["x"], cache["H"], cache["Wx"], cache["Wh"]
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wx.shape[1])
    carry = np.zeros_like(H[:, 0])
    for t in reversed(range(x.shape[1])):
        da = (dh[:, t] + carry) * (1 - H[:, t + 1] ** 2)
        dx[:, t] = da @ Wx.T
        dWx += x[:, t].T @ da
        dWh += H[:, t].T @ da
        db += da.sum(0)
        carry = da @ Wh.T
    return dx, carry, dWx, dWh, db


def _gates(a, H, order="ifog"):
    blocks = {k: a[:, j * H:(j + 1) * H] for j, k in enumerate(order)}
    return sig(blocks["i"]), sig(blocks["f"]), sig(blocks["o"]), np.tanh(blocks["g"])


def lstm_fwd(x, h_prev, c_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    i, f, o, g = _gates(x @ Wx + h_prev @ Wh + b, H)
    c = f * c_prev + i * g
    return o * np.tanh(c), c, (x, h_prev, c_prev, Wx, Wh, b)


def lstm_bwd(dh, dc, cache):
    x, h_prev, c_prev, Wx, Wh, b = cache
    H = h_prev.shape[1]
    i, f, o, g = _gates(x @ Wx + h_prev @ Wh + b, H)
    tc = np.tanh(f * c_prev + i * g)
    dct = dc + dh * o * (1 - tc ** 2)
    da = np.concatenate([dct * g * i * (1 - i), dct * c_prev * f * (1 - f),
                         dh * tc * o * (1 - o), dct * i * (1 - g ** 2)], axis=1)
    return da @ Wx.T, da @ Wh.T, dct * f, x.T @ da, h_prev.T @ da, da.sum(0)


STEP_B = {"rnn_step_backward": step_bwd}
STEP_F = {"rnn_step_forward": step_fwd}
SEQ_B = {"rnn_backward": seq_bwd}
SEQ_F = {"rnn_forward": seq_fwd}
LSTM_B = {"lstm_step_backward": lstm_bwd}
LSTM_F = {"lstm_step_forward": lstm_fwd}

# ------------------------------------------------------------------------------ rnn_step_forward


@wrong("rnn_step_forward", "transposed recurrence h_prev @ Wh.T", STEP_B)
def step_transposed(x, h_prev, Wx, Wh, b):
    return np.tanh(x @ Wx + h_prev @ Wh.T + b), step_fwd(x, h_prev, Wx, Wh, b)[1]


@wrong("rnn_step_forward", "forgets the bias", STEP_B)
def step_no_bias(x, h_prev, Wx, Wh, b):
    return np.tanh(x @ Wx + h_prev @ Wh), step_fwd(x, h_prev, Wx, Wh, b)[1]


@wrong("rnn_step_forward", "sigmoid instead of tanh", STEP_B)
def step_sigmoid(x, h_prev, Wx, Wh, b):
    return sig(x @ Wx + h_prev @ Wh + b), step_fwd(x, h_prev, Wx, Wh, b)[1]


@wrong("rnn_step_forward", "no nonlinearity (linear RNN)", STEP_B)
def step_linear(x, h_prev, Wx, Wh, b):
    return x @ Wx + h_prev @ Wh + b, step_fwd(x, h_prev, Wx, Wh, b)[1]


@right("rnn_step_forward", "einsum, dict cache holding the pre-activation",
       {"rnn_step_backward": lambda dh, c: (
           (dh / np.cosh(c["a"]) ** 2) @ c["Wx"].T, (dh / np.cosh(c["a"]) ** 2) @ c["Wh"].T,
           c["x"].T @ (dh / np.cosh(c["a"]) ** 2), c["h"].T @ (dh / np.cosh(c["a"]) ** 2),
           (dh / np.cosh(c["a"]) ** 2).sum(0))})
def step_einsum(x, h_prev, Wx, Wh, b):
    a = np.einsum("nd,dh->nh", x, Wx) + np.einsum("nk,kh->nh", h_prev, Wh) + b
    return np.tanh(a), {"a": a, "x": x, "h": h_prev, "Wx": Wx, "Wh": Wh}


@right("rnn_step_forward", "loop over the batch", STEP_B)
def step_loop(x, h_prev, Wx, Wh, b):
    out = np.empty((x.shape[0], Wh.shape[1]))
    for n in range(x.shape[0]):
        out[n] = np.tanh(x[n] @ Wx + h_prev[n] @ Wh + b)
    return out, (x, h_prev, Wx, Wh, out)


# ----------------------------------------------------------------------------- rnn_step_backward


@wrong("rnn_step_backward", "forgets the tanh derivative", STEP_F)
def step_bwd_no_tanh(dh, cache):
    x, h_prev, Wx, Wh, _ = cache
    return dh @ Wx.T, dh @ Wh.T, x.T @ dh, h_prev.T @ dh, dh.sum(0)


@wrong("rnn_step_backward", "dWh uses h_t (the step's output) instead of h_{t-1}", STEP_F)
def step_bwd_dWh_output(dh, cache):
    x, h_prev, Wx, Wh, h = cache
    da = dh * (1 - h * h)
    return da @ Wx.T, da @ Wh.T, x.T @ da, h.T @ da, da.sum(0)


@wrong("rnn_step_backward", "tanh derivative 1 - a^2 of the pre-activation",
       {"rnn_step_forward": lambda x, h, Wx, Wh, b: (
           np.tanh(x @ Wx + h @ Wh + b), (x, h, Wx, Wh, x @ Wx + h @ Wh + b))})
def step_bwd_pre_activation(dh, cache):
    x, h_prev, Wx, Wh, a = cache
    da = dh * (1 - a * a)
    return da @ Wx.T, da @ Wh.T, x.T @ da, h_prev.T @ da, da.sum(0)


@wrong("rnn_step_backward", "dh_prev = da @ Wh (no transpose)", STEP_F)
def step_bwd_no_transpose(dh, cache):
    x, h_prev, Wx, Wh, h = cache
    da = dh * (1 - h * h)
    return da @ Wx.T, da @ Wh, x.T @ da, h_prev.T @ da, da.sum(0)


@wrong("rnn_step_backward", "db averaged over the batch", STEP_F)
def step_bwd_db_mean(dh, cache):
    x, h_prev, Wx, Wh, h = cache
    da = dh * (1 - h * h)
    return da @ Wx.T, da @ Wh.T, x.T @ da, h_prev.T @ da, da.mean(0)


def _step_fwd_torch(x, h_prev, Wx, Wh, b):
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True)
          for v in (x, h_prev, Wx, Wh, b)]
    out = torch.tanh(ts[0] @ ts[2] + ts[1] @ ts[3] + ts[4])

    def backward(dh):  # a closure: the graph stays inside it
        grads = torch.autograd.grad(out, ts, torch.as_tensor(dh), retain_graph=True)
        return tuple(g.numpy() for g in grads)
    return out.detach().numpy().copy(), backward


@right("rnn_step_backward", "torch.autograd, the cache a closure over the graph",
       {"rnn_step_forward": _step_fwd_torch})
def step_bwd_torch(dh, cache):
    return cache(dh)


class _StepCache:
    def __init__(self, **kw):
        self.__dict__.update(kw)


@right("rnn_step_backward", "cache is an object",
       {"rnn_step_forward": lambda x, h, Wx, Wh, b: (
           np.tanh(x @ Wx + h @ Wh + b),
           _StepCache(x=x, h=h, Wx=Wx, Wh=Wh, out=np.tanh(x @ Wx + h @ Wh + b)))})
def step_bwd_object(dh, c):
    da = dh * (1 - c.out ** 2)
    return da @ c.Wx.T, da @ c.Wh.T, c.x.T @ da, c.h.T @ da, np.sum(da, axis=0)


# ---------------------------------------------------------------------------------- rnn_forward


@wrong("rnn_forward", "h includes h0: shape (N, T + 1, H)", SEQ_B)
def seq_with_h0(x, h0, Wx, Wh, b):
    _, cache = seq_fwd(x, h0, Wx, Wh, b)
    return cache["H"], cache


@wrong("rnn_forward", "h[:, t] is the state BEFORE step t (h0 first, last state dropped)", SEQ_B)
def seq_shifted(x, h0, Wx, Wh, b):
    _, cache = seq_fwd(x, h0, Wx, Wh, b)
    return cache["H"][:, :-1], cache


@wrong("rnn_forward", "every step starts from h0 (the state is not carried)", SEQ_B)
def seq_no_recurrence(x, h0, Wx, Wh, b):
    _, cache = seq_fwd(x, h0, Wx, Wh, b)
    return np.tanh(x @ Wx + (h0 @ Wh)[:, None] + b), cache


@wrong("rnn_forward", "runs through the sequence backwards in time", SEQ_B)
def seq_reversed(x, h0, Wx, Wh, b):
    _, cache = seq_fwd(x, h0, Wx, Wh, b)
    out, h = np.empty((x.shape[0], x.shape[1], h0.shape[1])), h0
    for t in reversed(range(x.shape[1])):
        h = np.tanh(x[:, t] @ Wx + h @ Wh + b)
        out[:, t] = h
    return out, cache


@right("rnn_forward", "a loop over step functions, list of step caches",
       {"rnn_backward": lambda dh, caches: _list_cache_backward(dh, caches)})
def seq_list_cache(x, h0, Wx, Wh, b):
    h, caches = h0, []
    out = np.empty((x.shape[0], x.shape[1], h0.shape[1]))
    for t in range(x.shape[1]):
        h, c = step_fwd(x[:, t], h, Wx, Wh, b)
        out[:, t] = h
        caches.append(c)
    return out, caches


def _list_cache_backward(dh, caches):
    dx, carry, acc = [], np.zeros_like(dh[:, 0]), None
    for t in reversed(range(dh.shape[1])):
        g = step_bwd(dh[:, t] + carry, caches[t])
        dx.append(g[0])
        carry = g[1]
        acc = list(g[2:]) if acc is None else [a + w for a, w in zip(acc, g[2:])]
    return np.stack(dx[::-1], axis=1), carry, *acc


@right("rnn_forward", "torch.nn.RNN with copied weights", SEQ_B)
def seq_torch(x, h0, Wx, Wh, b):
    D, H = Wx.shape
    rnn = torch.nn.RNN(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor(Wx.T))
        rnn.weight_hh_l0.copy_(torch.tensor(Wh.T))
        rnn.bias_ih_l0.copy_(torch.tensor(b))
        rnn.bias_hh_l0.zero_()
        out, _ = rnn(torch.tensor(x), torch.tensor(h0[None]))
    return out.numpy().copy(), seq_fwd(x, h0, Wx, Wh, b)[1]


# --------------------------------------------------------------------------------- rnn_backward


def _bptt_variant(dh, cache, *, accumulate=True, tanh=True, h_out_for_dWh=False,
                  last_only=False, forward_in_time=False):
    x, H, Wx, Wh = cache["x"], cache["H"], cache["Wx"], cache["Wh"]
    T = x.shape[1]
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wx.shape[1])
    carry = np.zeros_like(H[:, 0])
    order = range(T) if forward_in_time else reversed(range(T))
    for t in order:
        up = dh[:, t] if not last_only else (dh[:, t] if t == T - 1 else 0.0)
        total = up + carry if accumulate else up + 0 * carry
        da = total * (1 - H[:, t + 1] ** 2) if tanh else total
        dx[:, t] = da @ Wx.T
        dWx += x[:, t].T @ da
        dWh += (H[:, t + 1] if h_out_for_dWh else H[:, t]).T @ da
        db += da.sum(0)
        carry = da @ Wh.T
    return dx, carry, dWx, dWh, db


@wrong("rnn_backward", "dh not accumulated across time (the gradient from step t+1 is dropped)",
       SEQ_F)
def bptt_no_accumulation(dh, cache):
    return _bptt_variant(dh, cache, accumulate=False)


@wrong("rnn_backward", "forgets the tanh derivative", SEQ_F)
def bptt_no_tanh(dh, cache):
    return _bptt_variant(dh, cache, tanh=False)


@wrong("rnn_backward", "dWh uses h_t instead of h_{t-1}", SEQ_F)
def bptt_dWh_h_t(dh, cache):
    return _bptt_variant(dh, cache, h_out_for_dWh=True)


@wrong("rnn_backward", "uses only dh[:, -1], ignoring the upstream gradients of earlier steps",
       SEQ_F)
def bptt_last_only(dh, cache):
    return _bptt_variant(dh, cache, last_only=True)


@wrong("rnn_backward", "sweeps forwards in time", SEQ_F)
def bptt_forward_order(dh, cache):
    return _bptt_variant(dh, cache, forward_in_time=True)


@wrong("rnn_backward", "dh0 returned as zeros", SEQ_F)
def bptt_zero_dh0(dh, cache):
    dx, dh0, dWx, dWh, db = seq_bwd(dh, cache)
    return dx, np.zeros_like(dh0), dWx, dWh, db


@right("rnn_backward", "vectorised: all weight gradients with einsum after the sweep", SEQ_F)
def bptt_einsum(dh, cache):
    x, H, Wx, Wh = cache["x"], cache["H"], cache["Wx"], cache["Wh"]
    T = x.shape[1]
    da = np.zeros(H[:, 1:].shape)
    carry = np.zeros_like(H[:, 0])
    for t in reversed(range(T)):
        da[:, t] = (dh[:, t] + carry) * (1 - H[:, t + 1] ** 2)
        carry = da[:, t] @ Wh.T
    return (np.einsum("nth,dh->ntd", da, Wx), carry, np.einsum("ntd,nth->dh", x, da),
            np.einsum("ntk,nth->kh", H[:, :-1], da), da.sum((0, 1)))


def _seq_fwd_torch(x, h0, Wx, Wh, b):
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x, h0, Wx, Wh, b)]
    h, hs = ts[1], []
    for t in range(x.shape[1]):
        h = torch.tanh(ts[0][:, t] @ ts[2] + h @ ts[3] + ts[4])
        hs.append(h)
    out = torch.stack(hs, dim=1)

    def backward(dh):
        grads = torch.autograd.grad(out, ts, torch.as_tensor(dh), retain_graph=True)
        return tuple(g.numpy() for g in grads)
    return out.detach().numpy().copy(), SimpleNamespace(backward=backward)


@right("rnn_backward", "torch.autograd, cache an object holding a closure",
       {"rnn_forward": _seq_fwd_torch})
def bptt_torch(dh, cache):
    return cache.backward(dh)


# ---------------------------------------------------------------------------- lstm_step_forward


def _lstm_fwd_with(order="ifog", no_input_gate=False, no_tanh_c=False, g_sigmoid=False):
    def fwd(x, h_prev, c_prev, Wx, Wh, b):
        H = h_prev.shape[1]
        a = x @ Wx + h_prev @ Wh + b
        i, f, o, g = _gates(a, H, order)
        if g_sigmoid:
            g = sig(a[:, 3 * H:])
        c = f * c_prev + (g if no_input_gate else i * g)
        h = o * (c if no_tanh_c else np.tanh(c))
        return h, c, (x, h_prev, c_prev, Wx, Wh, b)
    return fwd


wrong("lstm_step_forward", "PyTorch's gate order i, f, g, o", LSTM_B)(_lstm_fwd_with("ifgo"))
wrong("lstm_step_forward", "c = f c_prev + g (no input gate)", LSTM_B)(
    _lstm_fwd_with(no_input_gate=True))
wrong("lstm_step_forward", "h = o c (no tanh of the cell)", LSTM_B)(_lstm_fwd_with(no_tanh_c=True))
wrong("lstm_step_forward", "sigmoid for the candidate g", LSTM_B)(_lstm_fwd_with(g_sigmoid=True))


@wrong("lstm_step_forward", "sigmoid that overflows to nan for large negative inputs", LSTM_B)
def lstm_naive_sigmoid(x, h_prev, c_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b
    s = np.exp(a) / (1 + np.exp(a))  # inf/inf = nan for large a
    i, f, o = s[:, :H], s[:, H:2 * H], s[:, 2 * H:3 * H]
    c = f * c_prev + i * np.tanh(a[:, 3 * H:])
    return o * np.tanh(c), c, (x, h_prev, c_prev, Wx, Wh, b)


@right("lstm_step_forward", "torch.nn.LSTM with permuted weights", LSTM_B)
def lstm_torch(x, h_prev, c_prev, Wx, Wh, b):
    D, H = Wx.shape[0], h_prev.shape[1]
    perm = np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H]
    lstm = torch.nn.LSTM(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.tensor(Wx[:, perm].T))
        lstm.weight_hh_l0.copy_(torch.tensor(Wh[:, perm].T))
        lstm.bias_ih_l0.copy_(torch.tensor(b[perm]))
        lstm.bias_hh_l0.zero_()
        _, (h, c) = lstm(torch.tensor(x[:, None]), (torch.tensor(h_prev[None]),
                                                    torch.tensor(c_prev[None])))
    return h[0].numpy().copy(), c[0].numpy().copy(), (x, h_prev, c_prev, Wx, Wh, b)


@right("lstm_step_forward", "loop over the four gates, dict cache",
       {"lstm_step_backward": lambda dh, dc, c: lstm_bwd(dh, dc, tuple(c[k] for k in
                                                                     "x h c Wx Wh b".split()))})
def lstm_loop(x, h_prev, c_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    acts = []
    for k, fn in enumerate((sig, sig, sig, np.tanh)):
        cols = slice(k * H, (k + 1) * H)
        acts.append(fn(x @ Wx[:, cols] + h_prev @ Wh[:, cols] + b[cols]))
    i, f, o, g = acts
    c = f * c_prev + i * g
    return o * np.tanh(c), c, {"x": x, "h": h_prev, "c": c_prev, "Wx": Wx, "Wh": Wh, "b": b}


# --------------------------------------------------------------------------- lstm_step_backward


def _lstm_bwd_with(dc_through_f=True, use_dc_next=True, tanh_prime=True, order="ifog"):
    def bwd(dh, dc, cache):
        x, h_prev, c_prev, Wx, Wh, b = cache
        H = h_prev.shape[1]
        i, f, o, g = _gates(x @ Wx + h_prev @ Wh + b, H)
        tc = np.tanh(f * c_prev + i * g)
        dct = (dc if use_dc_next else 0.0) + dh * o * ((1 - tc ** 2) if tanh_prime else 1.0)
        blocks = {"i": dct * g * i * (1 - i), "f": dct * c_prev * f * (1 - f),
                  "o": dh * tc * o * (1 - o), "g": dct * i * (1 - g ** 2)}
        da = np.concatenate([blocks[k] for k in order], axis=1)
        return (da @ Wx.T, da @ Wh.T, dct * f if dc_through_f else dct, x.T @ da,
                h_prev.T @ da, da.sum(0))
    return bwd


wrong("lstm_step_backward", "dc_prev = dc (forgets the forget gate)", LSTM_F)(
    _lstm_bwd_with(dc_through_f=False))
wrong("lstm_step_backward", "ignores dc_next", LSTM_F)(_lstm_bwd_with(use_dc_next=False))
wrong("lstm_step_backward", "forgets tanh'(c) on the path from h to c", LSTM_F)(
    _lstm_bwd_with(tanh_prime=False))
wrong("lstm_step_backward", "stacks the gate gradients as i, f, g, o", LSTM_F)(
    _lstm_bwd_with(order="ifgo"))


def _lstm_fwd_torch(x, h_prev, c_prev, Wx, Wh, b):
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True)
          for v in (x, h_prev, c_prev, Wx, Wh, b)]
    H = h_prev.shape[1]
    a = ts[0] @ ts[3] + ts[1] @ ts[4] + ts[5]
    i, f, o = (torch.sigmoid(a[:, k * H:(k + 1) * H]) for k in range(3))
    c = f * ts[2] + i * torch.tanh(a[:, 3 * H:])
    h = o * torch.tanh(c)

    def backward(dh, dc):
        grads = torch.autograd.grad((h, c), ts, (torch.as_tensor(dh), torch.as_tensor(dc)),
                                    retain_graph=True)
        return tuple(g.numpy() for g in grads)
    return h.detach().numpy().copy(), c.detach().numpy().copy(), {"backward": backward}


@right("lstm_step_backward", "torch.autograd, a dict cache holding a closure",
       {"lstm_step_forward": _lstm_fwd_torch})
def lstm_bwd_torch(dh, dc, cache):
    return cache["backward"](dh, dc)


@right("lstm_step_backward", "the reference format (tuple cache, gates recomputed)", LSTM_F)
def lstm_bwd_recompute(dh, dc, cache):
    return lstm_bwd(dh, dc, cache)


# ----------------------------------------------------------------------------- clip_grad_norm


@wrong("clip_grad_norm", "clips each array by its own norm")
def clip_per_tensor(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    out = []
    for g in grads:
        n = np.linalg.norm(g)
        out.append(g * (max_norm / n) if n > max_norm else g.copy())
    return out, total


@wrong("clip_grad_norm", "clips each entry to [-max_norm, max_norm]")
def clip_per_entry(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    return [np.clip(g, -max_norm, max_norm) for g in grads], total


@wrong("clip_grad_norm", "always rescales to max_norm, also below the threshold")
def clip_always(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    return [g * (max_norm / total) for g in grads], total


@wrong("clip_grad_norm", "scales the inputs in place")
def clip_in_place(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    if total > max_norm:
        for g in grads:
            g *= max_norm / total
    return [g.copy() for g in grads], total


@wrong("clip_grad_norm", "returns the input arrays themselves when nothing is clipped")
def clip_aliasing(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    if total > max_norm:
        return [g * (max_norm / total) for g in grads], total
    return list(grads), total


@wrong("clip_grad_norm", "returns the norm after clipping")
def clip_norm_after(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    scale = min(1.0, max_norm / total)
    return [g * scale for g in grads], total * scale


@wrong("clip_grad_norm", "total norm = sum of the per-array norms")
def clip_sum_of_norms(grads, max_norm):
    total = float(sum(np.linalg.norm(g) for g in grads))
    scale = max_norm / total if total > max_norm else 1.0
    return [g * scale for g in grads], total


@right("clip_grad_norm", "torch.nn.utils.clip_grad_norm_ on copies (divides by norm + 1e-6)")
def clip_torch(grads, max_norm):
    params = [torch.nn.Parameter(torch.zeros(np.shape(g), dtype=torch.float64)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.tensor(np.asarray(g, dtype=np.float64))  # a copy
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad.numpy().copy() for p in params], float(total)


@right("clip_grad_norm", "one concatenated vector, tuple result")
def clip_concat(grads, max_norm):
    flat = np.concatenate([np.ravel(g) for g in grads])
    total = np.linalg.norm(flat)
    scale = min(1.0, max_norm / total)
    return tuple(np.reshape(g * scale, np.shape(g)) for g in grads), np.float64(total)


# ------------------------------------------------------------- overflow of a tanh or σ written
# with exp: correct for moderate inputs, nan (inf/inf) at pre-activations of ±1000


def _tanh_exp(a):
    with np.errstate(over="ignore", invalid="ignore"):
        return (np.exp(a) - np.exp(-a)) / (np.exp(a) + np.exp(-a))


@wrong("rnn_step_forward", "tanh written with exp: (e^a − e^−a)/(e^a + e^−a)", STEP_B)
def step_tanh_exp(x, h_prev, Wx, Wh, b):
    h = _tanh_exp(x @ Wx + h_prev @ Wh + b)
    return h, step_fwd(x, h_prev, Wx, Wh, b)[1]


@wrong("rnn_forward", "tanh written with exp: (e^a − e^−a)/(e^a + e^−a)", SEQ_B,
       breaks="numerical stability")
def seq_tanh_exp(x, h0, Wx, Wh, b):
    hs = [h0]
    for t in range(x.shape[1]):
        hs.append(_tanh_exp(x[:, t] @ Wx + hs[-1] @ Wh + b))
    return np.stack(hs[1:], axis=1), seq_fwd(x, h0, Wx, Wh, b)[1]


@wrong("lstm_step_backward", "recomputes σ as exp(a)/(1 + exp(a)) from the cached inputs",
       LSTM_F, breaks="numerical stability")
def lstm_bwd_naive_sigmoid(dh, dc, cache):
    x, h_prev, c_prev, Wx, Wh, b = cache
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b
    with np.errstate(over="ignore", invalid="ignore"):
        s = np.exp(a) / (1 + np.exp(a))
    i, f, o, g = s[:, :H], s[:, H:2 * H], s[:, 2 * H:3 * H], np.tanh(a[:, 3 * H:])
    tc = np.tanh(f * c_prev + i * g)
    dct = dc + dh * o * (1 - tc ** 2)
    da = np.concatenate([dct * g * i * (1 - i), dct * c_prev * f * (1 - f),
                         dh * tc * o * (1 - o), dct * i * (1 - g ** 2)], axis=1)
    return da @ Wx.T, da @ Wh.T, dct * f, x.T @ da, h_prev.T @ da, da.sum(0)

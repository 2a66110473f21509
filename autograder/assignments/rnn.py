"""Checks for assignment 05_rnn: the vanilla RNN step and sequence (forward and backpropagation
through time), one LSTM step (forward and backward) and gradient clipping by the global norm.

Backward functions are checked through the student's own forward: the check calls the forward,
hands the cache it returned back to the backward untouched (its format is the student's choice),
and computes the expected gradients from the inputs it gave the forward, so a wrong forward costs
only the forward's points.

Public checks compare with known values, with small NumPy oracles written here from the
chapter's equations and with central differences of those oracles. Hidden checks compare with the
reference solution and with PyTorch (``torch.nn.RNN``; ``torch.nn.LSTM`` with its weights
permuted to this course's gate order i, f, o, g) on random sizes including T = 1, N = 1, H ≠ D,
saturated activations and long sequences. Their messages give sizes and errors only.

torch is imported by the grading worker before any check runs (``ASSIGNMENT.imports``):
importing it inside a check could take longer than a check's time limit.
tests/test_properties_05.py verifies the oracles here against torch.autograd.
"""

from __future__ import annotations

import math

import numpy as np

from ..checks import (CheckFailure, Context, NotImplementedYet, as_float_array, as_scalar,
                      central_difference_grad, check_shape, compare, compare_scaled,
                      describe_type, fmt, relative_error, unpack)
from ..spec import Assignment, GradedFunction, Section, lazy_module

torch = lazy_module("torch")  # see the module doc

PAGE = "chapters/05_rnn"


def _section(title: str, label: str) -> Section:
    return Section(title, PAGE, label)


CELL = _section("The vanilla RNN", "sec-rnn-cell")
BPTT = _section("Backpropagation through time", "sec-rnn-bptt")
LSTM = _section("Long short-term memory", "sec-rnn-lstm")
LSTM_BACKWARD = _section("Backward pass of the LSTM", "sec-rnn-lstm-backward")
CLIPPING = _section("Gradient clipping", "sec-rnn-clipping")

# ---------------------------------------------------------------------------------------------
# Oracles, straight from the chapter's equations (verified against torch in
# tests/test_properties_05.py)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def rnn_step(x, h_prev, Wx, Wh, b) -> np.ndarray:
    return np.tanh(x @ Wx + h_prev @ Wh + b)


def rnn_sequence(x, h0, Wx, Wh, b) -> np.ndarray:
    """(N, T, D) -> (N, T, H): the state after every step, h0 not included."""
    states, h = [], h0
    for t in range(x.shape[1]):
        h = rnn_step(x[:, t], h, Wx, Wh, b)
        states.append(h)
    return np.stack(states, axis=1)


def bptt(x, h0, Wx, Wh, b, dh) -> tuple:
    """(dx, dh0, dWx, dWh, db) of L = sum(dh * h) for h = rnn_sequence(x, h0, Wx, Wh, b)."""
    h = rnn_sequence(x, h0, Wx, Wh, b)
    prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    carry = np.zeros_like(h0)  # dL/dh_t through step t + 1
    for t in reversed(range(x.shape[1])):
        da = (dh[:, t] + carry) * (1.0 - h[:, t] ** 2)
        dx[:, t] = da @ Wx.T
        dWx += x[:, t].T @ da
        dWh += prev[:, t].T @ da
        db += da.sum(axis=0)
        carry = da @ Wh.T
    return dx, carry, dWx, dWh, db


def lstm_step(x, h_prev, c_prev, Wx, Wh, b) -> tuple:
    """(h_next, c_next) with gate blocks in the order i, f, o, g."""
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b
    i, f, o = (_sigmoid(a[:, k * H:(k + 1) * H]) for k in range(3))
    g = np.tanh(a[:, 3 * H:])
    c_next = f * c_prev + i * g
    return o * np.tanh(c_next), c_next


def clip_global(grads: list, max_norm: float, eps: float = 0.0) -> tuple:
    total = math.sqrt(sum(float(np.sum(np.square(g))) for g in grads))
    scale = min(1.0, max_norm / (total + eps)) if eps else (
        max_norm / total if total > max_norm else 1.0)
    return [np.asarray(g, dtype=np.float64) * scale for g in grads], total


# ---------------------------------------------------------------------------------------------
# torch oracles (hidden checks)


def to_torch_gate_order(W: np.ndarray) -> np.ndarray:
    """Permute the last axis (4H) from this course's i, f, o, g to PyTorch's i, f, g, o.

    Swapping the last two blocks is its own inverse, so the same call maps back."""
    H = W.shape[-1] // 4
    return np.concatenate([W[..., :2 * H], W[..., 3 * H:], W[..., 2 * H:3 * H]], axis=-1)


def torch_rnn(x, h0, Wx, Wh, b, dh) -> tuple:
    """``torch.nn.RNN`` (tanh, batch_first) with W_ih = Wxᵀ, W_hh = Whᵀ, b_ih = b, b_hh = 0:
    ``(h, (dx, dh0, dWx, dWh, db))`` for the upstream gradient dh, in float64."""
    D, H = Wx.shape
    rnn = torch.nn.RNN(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(Wx.T)))
        rnn.weight_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(Wh.T)))
        rnn.bias_ih_l0.copy_(torch.from_numpy(np.asarray(b)))
        rnn.bias_hh_l0.zero_()
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    h0t = torch.tensor(h0[None], dtype=torch.float64, requires_grad=True)
    out, _ = rnn(xt, h0t)
    out.backward(torch.from_numpy(np.asarray(dh, dtype=np.float64)))
    grads = (xt.grad.numpy(), h0t.grad[0].numpy(), rnn.weight_ih_l0.grad.T.numpy(),
             rnn.weight_hh_l0.grad.T.numpy(), rnn.bias_ih_l0.grad.numpy())
    return out.detach().numpy(), tuple(np.array(g) for g in grads)


def torch_lstm_step(x, h_prev, c_prev, Wx, Wh, b, dh, dc) -> tuple:
    """One step of ``torch.nn.LSTM`` with this course's weights permuted to PyTorch's gate order:
    ``(h_next, c_next, (dx, dh_prev, dc_prev, dWx, dWh, db))`` for L = Σ dh·h_next + Σ dc·c_next."""
    D, H = x.shape[1], h_prev.shape[1]
    lstm = torch.nn.LSTM(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(to_torch_gate_order(Wx).T)))
        lstm.weight_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(to_torch_gate_order(Wh).T)))
        lstm.bias_ih_l0.copy_(torch.from_numpy(to_torch_gate_order(np.asarray(b))))
        lstm.bias_hh_l0.zero_()
    xt = torch.tensor(x[:, None, :], dtype=torch.float64, requires_grad=True)
    ht = torch.tensor(h_prev[None], dtype=torch.float64, requires_grad=True)
    ct = torch.tensor(c_prev[None], dtype=torch.float64, requires_grad=True)
    _, (h_n, c_n) = lstm(xt, (ht, ct))
    loss = (h_n[0] * torch.from_numpy(dh)).sum() + (c_n[0] * torch.from_numpy(dc)).sum()
    loss.backward()
    grads = (xt.grad[:, 0].numpy(), ht.grad[0].numpy(), ct.grad[0].numpy(),
             to_torch_gate_order(lstm.weight_ih_l0.grad.T.numpy()),
             to_torch_gate_order(lstm.weight_hh_l0.grad.T.numpy()),
             to_torch_gate_order(lstm.bias_ih_l0.grad.numpy()))
    return (h_n[0].detach().numpy(), c_n[0].detach().numpy(),
            tuple(np.array(g) for g in grads))


# ---------------------------------------------------------------------------------------------
# Helpers


def _cache(ctx: Context, forward: str, backward: str, *args, n: int = 2):
    """The cache (last item) of the student's forward, to hand to the backward; never inspected."""
    try:
        result = ctx.call(forward, *args)
    except NotImplementedYet:
        raise NotImplementedYet(f"`{forward}` is not implemented yet (it raises "
                                f"NotImplementedError), and `{backward}` is checked with the cache "
                                f"your `{forward}` returns: implement `{forward}` first.") from None
    if not isinstance(result, (tuple, list)) or len(result) != n:
        shape = "(out, cache)" if n == 2 else "(h_next, c_next, cache)"
        raise CheckFailure(f"`{backward}` is checked with the cache from your `{forward}`, but "
                           f"`{forward}` did not return {shape}. Make it return {shape}.")
    return result[-1]


def _grads(got, names: tuple, shapes: tuple, what: str) -> tuple:
    items = unpack(got, len(names), what, "(" + ", ".join(names) + ")")
    out = []
    for name, item, shape in zip(names, items, shapes):
        arr = as_float_array(item, f"{name} ({what})")
        check_shape(arr, shape, f"{name} ({what})",
                    f"{name} has the shape of the input it is the gradient of, {tuple(shape)}.")
        out.append(arr)
    return tuple(out)


def _numeric(loss, args: list, h: float = 1e-6) -> list:
    """Central-difference gradient of loss(*args) with respect to every argument."""
    grads = []
    for k in range(len(args)):
        def f(v, k=k):
            return loss(*args[:k], v, *args[k + 1:])
        grads.append(central_difference_grad(f, args[k], h))
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


def _weights(rng: np.random.Generator, D: int, H: int, scale: float = 1.0,
             gates: int = 1) -> tuple:
    """Wx (D, gates·H), Wh (H, gates·H), b (gates·H,), entries of size ~ scale/√fan-in."""
    return (rng.normal(size=(D, gates * H)) * scale / math.sqrt(D),
            rng.normal(size=(H, gates * H)) * scale / math.sqrt(H),
            rng.normal(size=gates * H) * 0.5 * scale)


def _sizes(N, T, D, H) -> str:
    return f"N={N}, T={T}, D={D}, H={H}"


# ---------------------------------------------------------------------------------------------
# rnn_step_forward

STEP_HINT = ("h_next = tanh(x @ Wx + h_prev @ Wh + b): Wx is (D, H) and Wh is (H, H), both "
             "multiply from the right, and b is added to every row.")


def _step_out(ctx: Context, x, h_prev, Wx, Wh, b, what: str) -> np.ndarray:
    out, _ = unpack(ctx.call("rnn_step_forward", x, h_prev, Wx, Wh, b), 2,
                    f"`rnn_step_forward` ({what})", "(h_next, cache)")
    out = as_float_array(out, f"h_next ({what})")
    check_shape(out, h_prev.shape, f"h_next ({what})",
                "h_next has one row per example and H columns, like h_prev: (N, H).")
    return out


def step_forward_known(ctx: Context) -> None:
    x = np.array([[1.0, -1.0]])
    h_prev = np.array([[0.5, 0.0, -0.5]])
    Wx = np.array([[1.0, 0.0, 0.5], [0.0, 2.0, 0.0]])
    Wh = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    b = np.array([0.1, 0.2, 0.3])
    what = f"x={fmt(x)}, h_prev={fmt(h_prev)}, Wx={fmt(Wx)}, Wh={fmt(Wh)}, b={fmt(b)}"
    compare(_step_out(ctx, x, h_prev, Wx, Wh, b, what), rnn_step(x, h_prev, Wx, Wh, b),
            f"h_next ({what})", hidden=False, rtol=1e-9, hint=STEP_HINT)


def step_forward_shapes(ctx: Context) -> None:
    N, D, H = 3, 5, 2
    x, h_prev = ctx.rng.normal(size=(N, D)), ctx.rng.normal(size=(N, H))
    Wx, Wh, b = _weights(ctx.rng, D, H)
    what = f"N={N}, D={D}, H={H}"
    compare(_step_out(ctx, x, h_prev, Wx, Wh, b, what), rnn_step(x, h_prev, Wx, Wh, b),
            f"h_next ({what})", hidden=False, rtol=1e-9, hint=STEP_HINT)


def step_forward_hidden(ctx: Context) -> None:
    ref = ctx.ref("rnn_step_forward")
    for N, D, H, scale in [(1, 3, 4, 1.0), (6, 2, 7, 1.0), (4, 4, 4, 1.0), (5, 3, 2, 25.0),
                           (2, 1, 1, 1.0)]:
        x, h_prev = ctx.rng.normal(size=(N, D)), np.tanh(ctx.rng.normal(size=(N, H)))
        Wx, Wh, b = _weights(ctx.rng, D, H, scale)
        what = f"N={N}, D={D}, H={H}" + (", saturated tanh" if scale > 1 else "")
        compare(_step_out(ctx, x, h_prev, Wx, Wh, b, what), ref(x, h_prev, Wx, Wh, b)[0],
                f"h_next ({what})", hidden=True, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# rnn_step_backward

STEP_GRADS = ("dx", "dh_prev", "dWx", "dWh", "db")
STEP_HINTS = {
    "dx": "With da = dh_next · (1 − h_next²) (the tanh derivative, from the forward's OUTPUT), "
          "dx = da @ Wx.T.",
    "dh_prev": "dh_prev = da @ Wh.T with da = dh_next · (1 − h_next²).",
    "dWx": "dWx = x.T @ da: shape (D, H), summed over the batch.",
    "dWh": "dWh = h_prev.T @ da: the state that ENTERED the step (h_prev), not the one it "
           "produced.",
    "db": "db = da summed over the batch (axis 0); a sum, not a mean.",
}


def _step_backward_case(ctx: Context, x, h_prev, Wx, Wh, b, dh_next, what: str, *,
                        expected=None) -> None:
    cache = _cache(ctx, "rnn_step_forward", "rnn_step_backward", x, h_prev, Wx, Wh, b)
    got = _grads(ctx.call("rnn_step_backward", dh_next, cache), STEP_GRADS,
                 (x.shape, h_prev.shape, Wx.shape, Wh.shape, b.shape),
                 f"`rnn_step_backward` ({what})")
    if expected is None:  # public: central differences of the forward pass
        def loss(*args):
            return float(np.sum(dh_next * rnn_step(*args)))
        _gradient_check(got, _numeric(loss, [x, h_prev, Wx, Wh, b]), STEP_GRADS, STEP_HINTS,
                        what)
        return
    for name, g, e in zip(STEP_GRADS, got, expected):
        compare_scaled(g, e, f"{name} ({what})", hidden=True, tol=1e-9)


def step_backward_known(ctx: Context) -> None:
    x = np.array([[1.0, 0.0], [0.0, -1.0]])
    h_prev = np.array([[0.5, -0.5], [0.0, 1.0]])
    Wx = np.array([[0.3, -0.2], [0.1, 0.4]])
    Wh = np.array([[0.5, 0.0], [-0.3, 0.2]])
    b = np.array([0.1, -0.1])
    dh = np.array([[1.0, 0.0], [0.0, 2.0]])
    _step_backward_case(ctx, x, h_prev, Wx, Wh, b, dh,
                        f"x={fmt(x)}, h_prev={fmt(h_prev)}, Wx={fmt(Wx)}, Wh={fmt(Wh)}, "
                        f"b={fmt(b)}, dh_next={fmt(dh)}")


def step_backward_random(ctx: Context) -> None:
    N, D, H = 3, 4, 5
    x, h_prev = ctx.rng.normal(size=(N, D)), np.tanh(ctx.rng.normal(size=(N, H)))
    Wx, Wh, b = _weights(ctx.rng, D, H)
    _step_backward_case(ctx, x, h_prev, Wx, Wh, b, ctx.rng.normal(size=(N, H)),
                        f"random N={N}, D={D}, H={H}")


def step_backward_hidden(ctx: Context) -> None:
    ref_f, ref_b = ctx.ref("rnn_step_forward"), ctx.ref("rnn_step_backward")
    for N, D, H, scale in [(1, 3, 4, 1.0), (7, 2, 5, 1.0), (3, 3, 3, 1.0), (4, 5, 2, 6.0),
                           (2, 1, 1, 1.0)]:
        x, h_prev = ctx.rng.normal(size=(N, D)), np.tanh(ctx.rng.normal(size=(N, H)))
        Wx, Wh, b = _weights(ctx.rng, D, H, scale)
        dh = ctx.rng.normal(size=(N, H))
        what = f"N={N}, D={D}, H={H}" + (", nearly saturated tanh" if scale > 1 else "")
        expected = ref_b(dh, ref_f(x, h_prev, Wx, Wh, b)[1])
        _step_backward_case(ctx, x, h_prev, Wx, Wh, b, dh, what, expected=expected)


# ---------------------------------------------------------------------------------------------
# rnn_forward

SEQ_HINT = ("h[:, t] is the state AFTER the step that reads x[:, t]: "
            "h[:, t] = tanh(x[:, t] @ Wx + previous @ Wh + b), where previous is h0 for t = 0 "
            "and h[:, t − 1] after that; h0 itself is not part of h.")


def _seq_out(ctx: Context, x, h0, Wx, Wh, b, what: str) -> np.ndarray:
    out, _ = unpack(ctx.call("rnn_forward", x, h0, Wx, Wh, b), 2, f"`rnn_forward` ({what})",
                    "(h, cache)")
    out = as_float_array(out, f"h ({what})")
    N, T = x.shape[:2]
    check_shape(out, (N, T, h0.shape[1]), f"h ({what})",
                "h is (N, T, H): batch first, then time; it holds the T new states, not h0.")
    return out


def forward_known(ctx: Context) -> None:
    x = np.array([[[1.0], [0.0], [0.0]]])
    h0 = np.array([[0.0]])
    Wx, Wh, b = np.array([[1.0]]), np.array([[0.5]]), np.array([0.0])
    what = f"x={fmt(x)}, h0={fmt(h0)}, Wx={fmt(Wx)}, Wh={fmt(Wh)}, b={fmt(b)}"
    compare(_seq_out(ctx, x, h0, Wx, Wh, b, what), rnn_sequence(x, h0, Wx, Wh, b),
            f"h ({what})", hidden=False, rtol=1e-9, hint=SEQ_HINT)


def forward_random(ctx: Context) -> None:
    N, T, D, H = 2, 4, 3, 5
    x, h0 = ctx.rng.normal(size=(N, T, D)), ctx.rng.normal(size=(N, H)) * 0.5
    Wx, Wh, b = _weights(ctx.rng, D, H)
    what = _sizes(N, T, D, H)
    compare(_seq_out(ctx, x, h0, Wx, Wh, b, what), rnn_sequence(x, h0, Wx, Wh, b),
            f"h ({what})", hidden=False, rtol=1e-9, hint=SEQ_HINT)


def forward_one_step(ctx: Context) -> None:
    N, D, H = 3, 2, 4
    x, h0 = ctx.rng.normal(size=(N, 1, D)), ctx.rng.normal(size=(N, H)) * 0.5
    Wx, Wh, b = _weights(ctx.rng, D, H)
    what = f"T=1, N={N}, D={D}, H={H}"
    compare(_seq_out(ctx, x, h0, Wx, Wh, b, what), rnn_step(x[:, 0], h0, Wx, Wh, b)[:, None],
            f"h ({what})", hidden=False, rtol=1e-9,
            hint="With T = 1, h[:, 0] is a single step from h0: tanh(x[:, 0] @ Wx + h0 @ Wh + b).")


SEQ_CASES = [(1, 5, 3, 4, 1.0), (4, 1, 2, 3, 1.0), (3, 6, 4, 4, 1.0), (2, 4, 3, 5, 20.0),
             (5, 120, 3, 6, 1.0), (1, 1, 1, 1, 1.0)]


def forward_hidden(ctx: Context) -> None:
    ref = ctx.ref("rnn_forward")
    for N, T, D, H, scale in SEQ_CASES:
        x, h0 = ctx.rng.normal(size=(N, T, D)), np.tanh(ctx.rng.normal(size=(N, H)))
        Wx, Wh, b = _weights(ctx.rng, D, H, scale)
        what = _sizes(N, T, D, H) + (", saturated tanh" if scale > 1 else "")
        compare(_seq_out(ctx, x, h0, Wx, Wh, b, what), ref(x, h0, Wx, Wh, b)[0],
                f"h ({what})", hidden=True, rtol=1e-9, atol=1e-12)


def forward_torch(ctx: Context) -> None:
    for N, T, D, H in [(3, 7, 4, 5), (1, 2, 6, 3)]:
        x, h0 = ctx.rng.normal(size=(N, T, D)), np.tanh(ctx.rng.normal(size=(N, H)))
        Wx, Wh, b = _weights(ctx.rng, D, H)
        what = _sizes(N, T, D, H) + ", compared with torch.nn.RNN"
        expected, _ = torch_rnn(x, h0, Wx, Wh, b, np.zeros((N, T, H)))
        compare(_seq_out(ctx, x, h0, Wx, Wh, b, what), expected, f"h ({what})", hidden=True,
                rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# rnn_backward

SEQ_GRADS = ("dx", "dh0", "dWx", "dWh", "db")
SEQ_HINTS = {
    "dx": "Go backwards in time. The gradient into h[:, t] is dh[:, t] PLUS the gradient that "
          "flows back from the next step (its dh_prev); pass that sum through step t.",
    "dh0": "dh0 is the dh_prev of the FIRST step (the one reading x[:, 0]), after the whole "
           "backward sweep.",
    "dWx": "dWx sums the step gradients x_t.T @ da_t over all steps t.",
    "dWh": "dWh sums previous.T @ da over all steps, previous being the state that ENTERED the "
           "step (h0 for the first step), not the state it produced.",
    "db": "db sums da_t over the batch and over all steps.",
}


def _seq_backward_case(ctx: Context, x, h0, Wx, Wh, b, dh, what: str, *, expected=None,
                       tol: float = 1e-8) -> None:
    cache = _cache(ctx, "rnn_forward", "rnn_backward", x, h0, Wx, Wh, b)
    got = _grads(ctx.call("rnn_backward", dh, cache), SEQ_GRADS,
                 (x.shape, h0.shape, Wx.shape, Wh.shape, b.shape), f"`rnn_backward` ({what})")
    if expected is None:
        def loss(*args):
            return float(np.sum(dh * rnn_sequence(*args)))
        _gradient_check(got, _numeric(loss, [x, h0, Wx, Wh, b]), SEQ_GRADS, SEQ_HINTS, what)
        return
    for name, g, e in zip(SEQ_GRADS, got, expected):
        compare_scaled(g, e, f"{name} ({what})", hidden=True, tol=tol)


def _seq_inputs(rng, N, T, D, H, scale=1.0):
    x, h0 = rng.normal(size=(N, T, D)), np.tanh(rng.normal(size=(N, H)))
    return (x, h0, *_weights(rng, D, H, scale))


def backward_every_step(ctx: Context) -> None:
    N, T, D, H = 2, 4, 3, 4
    args = _seq_inputs(ctx.rng, N, T, D, H)
    _seq_backward_case(ctx, *args, ctx.rng.normal(size=(N, T, H)),
                       _sizes(N, T, D, H) + ", upstream gradient on every step")


def backward_last_step(ctx: Context) -> None:
    N, T, D, H = 3, 5, 2, 3
    args = _seq_inputs(ctx.rng, N, T, D, H)
    dh = np.zeros((N, T, H))
    dh[:, -1] = ctx.rng.normal(size=(N, H))
    _seq_backward_case(ctx, *args, dh, _sizes(N, T, D, H) + ", upstream gradient on the LAST "
                       "step only (a loss on the final state): every earlier step still gets a "
                       "gradient, through the states after it")


def backward_one_step(ctx: Context) -> None:
    N, D, H = 2, 3, 2
    args = _seq_inputs(ctx.rng, N, 1, D, H)
    _seq_backward_case(ctx, *args, ctx.rng.normal(size=(N, 1, H)), f"T=1, N={N}, D={D}, H={H}")


def backward_hidden(ctx: Context) -> None:
    ref_f, ref_b = ctx.ref("rnn_forward"), ctx.ref("rnn_backward")
    for N, T, D, H, scale in SEQ_CASES:
        args = _seq_inputs(ctx.rng, N, T, D, H, 4.0 if scale > 1 else scale)
        for last_only in (False, True):
            dh = ctx.rng.normal(size=(N, T, H))
            if last_only:
                dh[:, :-1] = 0.0
            what = (_sizes(N, T, D, H) + (", nearly saturated tanh" if scale > 1 else "")
                    + (", upstream gradient on the last step only" if last_only
                       else ", upstream gradient on every step"))
            _seq_backward_case(ctx, *args, dh, what, expected=ref_b(dh, ref_f(*args)[1]))


def backward_torch(ctx: Context) -> None:
    for N, T, D, H, last_only in [(3, 6, 4, 5, False), (2, 30, 3, 4, True), (1, 1, 2, 3, False)]:
        args = _seq_inputs(ctx.rng, N, T, D, H, 1.2)
        dh = ctx.rng.normal(size=(N, T, H))
        if last_only:
            dh[:, :-1] = 0.0
        what = _sizes(N, T, D, H) + ", compared with torch.nn.RNN and autograd"
        _seq_backward_case(ctx, *args, dh, what, expected=torch_rnn(*args, dh)[1])


# ---------------------------------------------------------------------------------------------
# lstm_step_forward

GATE_HINT = ("a = x @ Wx + h_prev @ Wh + b has four blocks of H columns, in this course's order "
             "i = a[:, :H], f = a[:, H:2H], o = a[:, 2H:3H], g = a[:, 3H:] (PyTorch stores "
             "i, f, g, o); i, f, o = σ(block), g = tanh(block), c_next = f·c_prev + i·g, "
             "h_next = o·tanh(c_next).")


def _lstm_out(ctx: Context, x, h_prev, c_prev, Wx, Wh, b, what: str) -> tuple:
    h, c, _ = unpack(ctx.call("lstm_step_forward", x, h_prev, c_prev, Wx, Wh, b), 3,
                     f"`lstm_step_forward` ({what})", "(h_next, c_next, cache)")
    h = as_float_array(h, f"h_next ({what})")
    c = as_float_array(c, f"c_next ({what})")
    check_shape(h, h_prev.shape, f"h_next ({what})", "h_next is (N, H), like h_prev.")
    check_shape(c, c_prev.shape, f"c_next ({what})", "c_next is (N, H), like c_prev.")
    return h, c


def _lstm_compare(ctx: Context, args: tuple, expected: tuple, what: str, hidden: bool) -> None:
    h, c = _lstm_out(ctx, *args, what)
    compare(c, expected[1], f"c_next ({what})", hidden=hidden, rtol=1e-9, atol=1e-12,
            hint="" if hidden else GATE_HINT)
    compare(h, expected[0], f"h_next ({what})", hidden=hidden, rtol=1e-9, atol=1e-12,
            hint="" if hidden else GATE_HINT)


def lstm_forward_zero_weights(ctx: Context) -> None:
    x, h_prev = np.array([[1.0, -2.0]]), np.array([[0.3, -0.7]])
    c_prev = np.array([[2.0, -1.0]])
    Wx, Wh, b = np.zeros((2, 8)), np.zeros((2, 8)), np.zeros(8)
    what = (f"all weights 0, c_prev={fmt(c_prev)}: every gate is σ(0) = 0.5 and g = tanh(0) = 0, "
            f"so c_next = 0.5·c_prev and h_next = 0.5·tanh(c_next)")
    _lstm_compare(ctx, (x, h_prev, c_prev, Wx, Wh, b), lstm_step(x, h_prev, c_prev, Wx, Wh, b),
                  what, hidden=False)


def lstm_forward_gate_order(ctx: Context) -> None:
    H = 2
    x, h_prev = np.zeros((1, 3)), np.zeros((1, H))
    c_prev = np.array([[1.0, -2.0]])
    Wx, Wh = np.zeros((3, 4 * H)), np.zeros((H, 4 * H))
    b = np.repeat([1.0, -1.0, 2.0, 0.5], H)  # blocks i, f, o, g
    what = (f"Wx = Wh = 0, b = {fmt(b)} (blocks i = 1, f = −1, o = 2, g = 0.5), "
            f"c_prev={fmt(c_prev)}")
    _lstm_compare(ctx, (x, h_prev, c_prev, Wx, Wh, b), lstm_step(x, h_prev, c_prev, Wx, Wh, b),
                  what, hidden=False)


def lstm_forward_random(ctx: Context) -> None:
    N, D, H = 3, 4, 2
    x, h_prev, c_prev = (ctx.rng.normal(size=(N, D)), np.tanh(ctx.rng.normal(size=(N, H))),
                         ctx.rng.normal(size=(N, H)))
    Wx, Wh, b = _weights(ctx.rng, D, H, gates=4)
    _lstm_compare(ctx, (x, h_prev, c_prev, Wx, Wh, b), lstm_step(x, h_prev, c_prev, Wx, Wh, b),
                  f"random N={N}, D={D}, H={H}", hidden=False)


LSTM_CASES = [(1, 3, 4, 1.0), (5, 2, 6, 1.0), (3, 4, 4, 1.0), (4, 3, 2, 30.0), (2, 1, 1, 1.0),
              (3, 2, 3, 2000.0)]


def _lstm_inputs(rng, N, D, H, scale=1.0):
    x, h_prev = rng.normal(size=(N, D)), np.tanh(rng.normal(size=(N, H)))
    c_prev = rng.normal(size=(N, H)) * (3.0 if scale > 1 else 1.0)
    return (x, h_prev, c_prev, *_weights(rng, D, H, scale, gates=4))


def lstm_forward_hidden(ctx: Context) -> None:
    ref = ctx.ref("lstm_step_forward")
    for N, D, H, scale in LSTM_CASES:
        args = _lstm_inputs(ctx.rng, N, D, H, scale)
        what = f"N={N}, D={D}, H={H}" + (", saturated gates" if scale > 1 else "")
        if scale > 100:
            what += (" (pre-activations in the thousands: compute σ without exp of a large "
                     "positive number)")
        _lstm_compare(ctx, args, ref(*args)[:2], what, hidden=True)


def lstm_forward_torch(ctx: Context) -> None:
    for N, D, H in [(3, 4, 5), (1, 6, 2)]:
        args = _lstm_inputs(ctx.rng, N, D, H)
        zeros = np.zeros((N, H))
        h, c, _ = torch_lstm_step(*args, zeros, zeros)
        what = (f"N={N}, D={D}, H={H}, compared with torch.nn.LSTM (its weights permuted from "
                f"this course's gate order i, f, o, g to PyTorch's i, f, g, o)")
        _lstm_compare(ctx, args, (h, c), what, hidden=True)


# ---------------------------------------------------------------------------------------------
# lstm_step_backward

LSTM_GRADS = ("dx", "dh_prev", "dc_prev", "dWx", "dWh", "db")
LSTM_HINTS = {
    "dc_prev": "The cell state is reached two ways: dc = dc_next + dh_next · o · (1 − tanh²(c_next))"
               "; then dc_prev = dc · f (through the forget gate).",
    "dx": "Gradients of the four blocks: di = dc·g, df = dc·c_prev, do = dh_next·tanh(c_next), "
          "dg = dc·i, each times its activation's derivative (σ' = σ(1 − σ), tanh' = 1 − g²); "
          "stack them as [i, f, o, g] into da (N, 4H); dx = da @ Wx.T.",
    "dh_prev": "dh_prev = da @ Wh.T, with da the (N, 4H) pre-activation gradient in the order "
               "i, f, o, g.",
    "dWx": "dWx = x.T @ da, da in the gate order i, f, o, g.",
    "dWh": "dWh = h_prev.T @ da, da in the gate order i, f, o, g.",
    "db": "db = da summed over the batch, in the gate order i, f, o, g.",
}


def _lstm_backward_case(ctx: Context, args: tuple, dh, dc, what: str, *, expected=None,
                        tol: float = 1e-9) -> None:
    cache = _cache(ctx, "lstm_step_forward", "lstm_step_backward", *args, n=3)
    got = _grads(ctx.call("lstm_step_backward", dh, dc, cache), LSTM_GRADS,
                 tuple(a.shape for a in args), f"`lstm_step_backward` ({what})")
    if expected is None:
        def loss(*a):
            h, c = lstm_step(*a)
            return float(np.sum(dh * h) + np.sum(dc * c))
        _gradient_check(got, _numeric(loss, list(args)), LSTM_GRADS, LSTM_HINTS, what)
        return
    for name, g, e in zip(LSTM_GRADS, got, expected):
        compare_scaled(g, e, f"{name} ({what})", hidden=True, tol=tol)


def lstm_backward_both(ctx: Context) -> None:
    N, D, H = 2, 3, 2
    args = _lstm_inputs(ctx.rng, N, D, H)
    _lstm_backward_case(ctx, args, ctx.rng.normal(size=(N, H)), ctx.rng.normal(size=(N, H)),
                        f"random N={N}, D={D}, H={H}, dh_next and dc_next both nonzero")


def lstm_backward_dc_only(ctx: Context) -> None:
    N, D, H = 2, 2, 3
    args = _lstm_inputs(ctx.rng, N, D, H)
    _lstm_backward_case(ctx, args, np.zeros((N, H)), ctx.rng.normal(size=(N, H)),
                        f"N={N}, D={D}, H={H}, dh_next = 0 and dc_next nonzero (the gradient "
                        f"arriving along the cell state)")


def lstm_backward_dh_only(ctx: Context) -> None:
    N, D, H = 3, 2, 2
    args = _lstm_inputs(ctx.rng, N, D, H)
    _lstm_backward_case(ctx, args, ctx.rng.normal(size=(N, H)), np.zeros((N, H)),
                        f"N={N}, D={D}, H={H}, dc_next = 0 and dh_next nonzero")


def lstm_backward_hidden(ctx: Context) -> None:
    ref_f, ref_b = ctx.ref("lstm_step_forward"), ctx.ref("lstm_step_backward")
    for N, D, H, scale in LSTM_CASES:
        args = _lstm_inputs(ctx.rng, N, D, H, 5.0 if scale > 1 else scale)
        dh, dc = ctx.rng.normal(size=(N, H)), ctx.rng.normal(size=(N, H))
        what = f"N={N}, D={D}, H={H}" + (", nearly saturated gates" if scale > 1 else "")
        _lstm_backward_case(ctx, args, dh, dc, what, expected=ref_b(dh, dc, ref_f(*args)[2]))


def lstm_backward_torch(ctx: Context) -> None:
    for N, D, H in [(3, 4, 5), (1, 2, 3)]:
        args = _lstm_inputs(ctx.rng, N, D, H)
        dh, dc = ctx.rng.normal(size=(N, H)), ctx.rng.normal(size=(N, H))
        what = (f"N={N}, D={D}, H={H}, compared with torch.nn.LSTM and autograd (weights "
                f"permuted to PyTorch's gate order i, f, g, o and the gradients back)")
        _lstm_backward_case(ctx, args, dh, dc, what,
                            expected=torch_lstm_step(*args, dh, dc)[2])


# ---------------------------------------------------------------------------------------------
# clip_grad_norm

CLIP_HINT = ("total_norm = sqrt of the sum of the squares of ALL entries of ALL arrays (one "
             "global norm, computed before clipping); if total_norm > max_norm, multiply EVERY "
             "array by the same factor max_norm / total_norm (or max_norm / (total_norm + 1e-6) "
             "as torch does); otherwise return unchanged copies.")


def _clip(ctx: Context, grads: list, max_norm, what: str) -> tuple:
    clipped, total = unpack(ctx.call("clip_grad_norm", grads, max_norm), 2,
                            f"`clip_grad_norm` ({what})", "(clipped_list, total_norm)")
    if not isinstance(clipped, (list, tuple)):
        raise CheckFailure(f"clipped_list ({what}) should be a list of arrays, one per input "
                           f"array, but it is {type(clipped).__name__}.")
    if len(clipped) != len(grads):
        raise CheckFailure(f"clipped_list ({what}) should hold {len(grads)} arrays, one per "
                           f"input array, but it holds {len(clipped)}.")
    arrays = []
    for k, (c, g) in enumerate(zip(clipped, grads)):
        arr = as_float_array(c, f"clipped_list[{k}] ({what})")
        check_shape(arr, g.shape, f"clipped_list[{k}] ({what})",
                    "Each clipped array has the shape of the array it came from.")
        arrays.append(arr)
    return arrays, as_scalar(total, f"total_norm ({what})")


def _clip_diagnosis(got: list, grads: list, max_norm: float) -> str:
    """A hint naming the slip when the result matches a known wrong way of clipping."""
    def same(candidate):
        return all(np.allclose(a, c, rtol=1e-7, atol=1e-12) for a, c in zip(got, candidate))
    per_tensor = [g * min(1.0, max_norm / max(np.linalg.norm(g), 1e-300)) for g in grads]
    if same(per_tensor):
        return ("Your arrays match clipping each array by its OWN norm. Clipping by the global "
                "norm scales all arrays by one factor, so the direction of the whole gradient "
                "is kept.")
    if same([np.clip(g, -max_norm, max_norm) for g in grads]):
        return ("Your arrays match clipping each ENTRY to [−max_norm, max_norm]; that changes "
                "the direction of the gradient. Scale by max_norm / total_norm instead.")
    total = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
    if total <= max_norm and same([g * max_norm / total for g in grads]):
        return ("Your arrays were rescaled although the norm is below max_norm: clip only when "
                "total_norm > max_norm, and otherwise return the arrays unchanged.")
    return ""


def _clip_case(ctx: Context, grads: list, max_norm, what: str, hidden: bool) -> None:
    got, total = _clip(ctx, grads, max_norm, what)
    expected_a, exact = clip_global(grads, max_norm)
    compare(total, exact, f"total_norm ({what})", hidden=hidden, rtol=1e-9,
            hint="total_norm is the norm of all entries of all arrays together, "
                 "sqrt(Σ_arrays Σ_entries g²), BEFORE clipping.")
    expected_b, _ = clip_global(grads, max_norm, eps=1e-6)
    for k, (g, a, b) in enumerate(zip(got, expected_a, expected_b)):
        ok_a = np.allclose(g, a, rtol=1e-9, atol=1e-14)
        ok_b = np.allclose(g, b, rtol=1e-9, atol=1e-14)
        if not (ok_a or ok_b):
            hint = _clip_diagnosis(got, grads, float(max_norm)) or CLIP_HINT
            compare(g, a, f"clipped_list[{k}] ({what})", hidden=hidden, rtol=1e-9, atol=1e-14,
                    hint=hint)


def clip_below(ctx: Context) -> None:
    grads = [np.array([3.0, 4.0]), np.array([[0.0, 12.0]])]
    _clip_case(ctx, grads, 20.0, f"grads={fmt(grads[0])}, {fmt(grads[1])}, max_norm=20: the "
               f"global norm 13 is below max_norm, nothing is clipped", hidden=False)


def clip_above(ctx: Context) -> None:
    grads = [np.array([3.0, 4.0]), np.array([[0.0, 12.0]])]
    _clip_case(ctx, grads, 6.5, f"grads={fmt(grads[0])}, {fmt(grads[1])}, max_norm=6.5: the "
               f"global norm is 13, so every array is halved", hidden=False)


def clip_global_not_per_array(ctx: Context) -> None:
    grads = [ctx.rng.normal(size=(3, 2)) * 10, ctx.rng.normal(size=4) * 0.1,
             ctx.rng.normal(size=(2, 2, 2))]
    _clip_case(ctx, grads, 2.0, "three arrays of shapes (3, 2), (4,), (2, 2, 2) and very "
               "different norms, max_norm=2", hidden=False)


def clip_new_arrays(ctx: Context) -> None:
    for grads, max_norm, when in (([np.ones(3), np.ones((2, 2))], 100.0, "below"),
                                  ([np.ones(3) * 5, np.ones((2, 2))], 1.0, "above")):
        result = ctx.call_with("clip_grad_norm", (grads, max_norm), aliases=True)
        clipped = unpack(result.out, 2, "`clip_grad_norm`", "(clipped_list, total_norm)")[0]
        if not isinstance(clipped, (tuple, list)):
            raise CheckFailure(f"`clip_grad_norm` should return (clipped_list, total_norm), a "
                               f"list of arrays and a number, but its first item is "
                               f"{describe_type(clipped)}.")
        if any(out.startswith("out[0]") for out, _ in result.aliases):
            raise CheckFailure(
                f"`clip_grad_norm` returned arrays that share memory with its inputs (norm "
                f"{when} max_norm). Return new arrays (e.g. g * scale, or g.copy() when nothing "
                f"is clipped): a caller who updates the result in place would otherwise change "
                f"the gradients it passed in.")
    # inputs untouched: ctx.call fails when an argument was modified
    _clip(ctx, [np.ones(3) * 5, np.ones((2, 2))], 1.0, "grads=[5·ones(3), ones((2, 2))], "
          "max_norm=1")


def clip_hidden(ctx: Context) -> None:
    shapes_list = [[(7,)], [(3, 4)], [(5,), (2, 3), (2, 2, 2), (1,)], [(4, 4), (4,), (4, 1)],
                   [(10, 3), (3,)]]
    for k, shapes in enumerate(shapes_list):
        grads = [ctx.rng.normal(size=s) * float(ctx.rng.choice([0.01, 1.0, 50.0]))
                 for s in shapes]
        total = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
        for factor, when in ((0.3, "above"), (2.5, "below")):
            max_norm = total * factor
            if k == 3:
                max_norm = int(max(1, round(max_norm)))  # an int max_norm
                if (max_norm < total) != (when == "above"):
                    continue
            what = (f"{len(shapes)} array{'s' if len(shapes) > 1 else ''} of shapes "
                    f"{', '.join(map(str, shapes))}, norm {when} max_norm")
            _clip_case(ctx, grads, max_norm, what, hidden=True)


def clip_hidden_torch(ctx: Context) -> None:
    grads = [ctx.rng.normal(size=(6, 3)), ctx.rng.normal(size=3) * 4, ctx.rng.normal(size=(2, 5))]
    got, total = _clip(ctx, grads, 1.5, "three arrays, compared with "
                       "torch.nn.utils.clip_grad_norm_")
    params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g)
    torch_total = float(torch.nn.utils.clip_grad_norm_(params, 1.5))
    what = "three arrays, compared with torch.nn.utils.clip_grad_norm_"
    compare(total, torch_total, f"total_norm ({what})", hidden=True, rtol=1e-9)
    for k, (g, p) in enumerate(zip(got, params)):
        # torch divides by total + 1e-6: the plain max_norm / total differs by ~1e-6 relative
        compare(g, p.grad.numpy(), f"clipped_list[{k}] ({what})", hidden=True, rtol=1e-5,
                atol=1e-12)


# ---------------------------------------------------------------------------------------------

ASSIGNMENT = Assignment(
    name="05_rnn",
    title="Recurrent networks",
    imports=("torch", "torch.nn.functional"),
    functions=(
        GradedFunction(
            "rnn_step_forward", CELL,
            public=(("known values", step_forward_known),
                    ("H different from D", step_forward_shapes)),
            hidden=(("random sizes and saturated tanh vs reference", step_forward_hidden),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "rnn_step_backward", BPTT,
            public=(("small known case vs central differences", step_backward_known),
                    ("random case vs central differences", step_backward_random)),
            hidden=(("random sizes, N = 1, saturation vs reference", step_backward_hidden),),
            public_points=2, hidden_points=2),
        GradedFunction(
            "rnn_forward", _section("Unrolling the RNN over a sequence", "sec-rnn-unrolled"),
            public=(("known values, T = 3", forward_known),
                    ("random sequence, h0 not included", forward_random),
                    ("T = 1 is one step", forward_one_step)),
            hidden=(("random sizes, T = 1, N = 1, long sequence vs reference", forward_hidden),
                    ("agrees with torch.nn.RNN", forward_torch)),
            public_points=1, hidden_points=2),
        GradedFunction(
            "rnn_backward", BPTT,
            public=(("upstream gradient on every step vs central differences",
                     backward_every_step),
                    ("upstream gradient on the last step only", backward_last_step),
                    ("T = 1", backward_one_step)),
            hidden=(("every step / last step only, random sizes, long sequence vs reference",
                     backward_hidden),
                    ("agrees with torch.nn.RNN and autograd", backward_torch)),
            public_points=3, hidden_points=3),
        GradedFunction(
            "lstm_step_forward", LSTM,
            public=(("all weights zero", lstm_forward_zero_weights),
                    ("gate order i, f, o, g", lstm_forward_gate_order),
                    ("random case, H different from D", lstm_forward_random)),
            hidden=(("random sizes, N = 1, saturated gates vs reference", lstm_forward_hidden),
                    ("agrees with torch.nn.LSTM (permuted weights)", lstm_forward_torch)),
            public_points=2, hidden_points=2),
        GradedFunction(
            "lstm_step_backward", LSTM_BACKWARD,
            public=(("dh_next and dc_next vs central differences", lstm_backward_both),
                    ("gradient along the cell state only", lstm_backward_dc_only),
                    ("gradient from h_next only", lstm_backward_dh_only)),
            hidden=(("random sizes, N = 1, saturation vs reference", lstm_backward_hidden),
                    ("agrees with torch.nn.LSTM and autograd", lstm_backward_torch)),
            public_points=3, hidden_points=3),
        GradedFunction(
            "clip_grad_norm", CLIPPING,
            public=(("norm below max_norm: unchanged", clip_below),
                    ("norm above max_norm: scaled", clip_above),
                    ("one global norm, not one per array", clip_global_not_per_array),
                    ("new arrays, inputs untouched", clip_new_arrays)),
            hidden=(("single arrays and arrays of different shapes, below and above",
                     clip_hidden),
                    ("agrees with torch.nn.utils.clip_grad_norm_", clip_hidden_torch)),
            public_points=2, hidden_points=2),
    ),
)

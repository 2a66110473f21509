"""Checks for assignment 05_rnn: the vanilla RNN step and sequence (forward and backpropagation
through time), one LSTM step (forward and backward) and gradient clipping by the global norm.

Backward functions are checked through the student's own forward: the check calls the forward,
hands the cache it returned back to the backward untouched (its format is the student's choice),
and computes the expected gradients from the inputs it gave the forward, so a wrong forward costs
only the forward's points.

This module ships to every student, so it holds no implementation of a graded function (issue
19, item 8). Public checks compare with literal values (pre-activations of ±1000, where a tanh
or σ written with exp overflows), with ``torch.nn.RNN``, ``torch.nn.LSTM`` (weights permuted to
this course's gate order i, f, o, g) and ``torch.nn.utils.clip_grad_norm_`` in float64, and with
their autograd gradients. Hidden checks compare with the reference notebook and with PyTorch on
random sizes including T = 1, N = 1, H ≠ D, saturated activations and long sequences; their
messages give sizes and errors relative to the answer's scale only.

torch is imported by the grading worker before any check runs (``ASSIGNMENT.imports``):
importing it inside a check could take longer than a check's time limit. The public checks need
no torch: their inputs are fixed, and the torch helpers' answers for them are stored in
``rnn.memo.json`` (:mod:`autograder.memo`; regenerate with ``python -m autograder.memo 05_rnn``
after changing a public check), so ``autograder check`` and a student's public test cells answer
without importing it (``public_imports=()``).
tests/test_properties_05.py verifies the torch helpers, the stored answers and the literals here.
"""

from __future__ import annotations

import math

import numpy as np

from ..checks import (CheckFailure, Context, as_float_array, as_scalar, check_shape, compare,
                      compare_scaled, describe_type, fmt, unpack)
from ..memo import memoised
from ..spec import Assignment, GradedFunction, lazy_module
from ._shared import agree, cache_of, gradient_check, grader_work, grads, sections

torch = lazy_module("torch")  # see the module doc

PAGE = "chapters/05_rnn"
_section = sections(PAGE)

CELL = _section("The vanilla RNN", "sec-rnn-cell")
BPTT = _section("Backpropagation through time", "sec-rnn-bptt")
LSTM = _section("Long short-term memory", "sec-rnn-lstm")
LSTM_BACKWARD = _section("Backward pass of the LSTM", "sec-rnn-lstm-backward")
CLIPPING = _section("Gradient clipping", "sec-rnn-clipping")

AUTOGRAD = "the gradient of the forward pass (torch.autograd)"

# ---------------------------------------------------------------------------------------------
# torch oracles (@memoised: their answers for the public checks' fixed inputs are stored)


def to_torch_gate_order(W: np.ndarray) -> np.ndarray:
    """Permute the last axis (4H) from this course's i, f, o, g to PyTorch's i, f, g, o.

    Swapping the last two blocks is its own inverse, so the same call maps back."""
    H = W.shape[-1] // 4
    return np.concatenate([W[..., :2 * H], W[..., 3 * H:], W[..., 2 * H:3 * H]], axis=-1)


@memoised
@grader_work
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


@memoised
@grader_work
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


def torch_rnn_step(x, h_prev, Wx, Wh, b, dh) -> tuple:
    """One step of ``torch.nn.RNN``: ``(h_next, (dx, dh_prev, dWx, dWh, db))``."""
    out, grads_ = torch_rnn(x[:, None], h_prev, Wx, Wh, b, dh[:, None])
    dx, *rest = grads_
    return out[:, 0], (dx[:, 0], *rest)


@memoised
@grader_work
def torch_clip(grads_: list, max_norm: float) -> tuple:
    """``torch.nn.utils.clip_grad_norm_`` on copies: ``(clipped arrays, total norm)``."""
    params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads_]
    for p, g in zip(params, grads_):
        p.grad = torch.tensor(np.array(g, dtype=np.float64))
    total = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    return [p.grad.numpy() for p in params], total


# ---------------------------------------------------------------------------------------------
# Helpers


def _cache(ctx: Context, forward: str, backward: str, *args, n: int = 2):
    """The cache (last item) of the student's forward, to hand to the backward; never inspected."""
    names = "(out, cache)" if n == 2 else "(h_next, c_next, cache)"
    return cache_of(ctx, forward, backward, *args, n=n, names=names)[-1]


_grads = grads


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


def _step_t(x, h_prev, Wx, Wh, b) -> np.ndarray:
    return torch_rnn_step(x, h_prev, Wx, Wh, b, np.zeros(h_prev.shape))[0]


def step_forward_known(ctx: Context) -> None:
    x = np.array([[1.0, -1.0]])
    h_prev = np.array([[0.5, 0.0, -0.5]])
    Wx = np.array([[1.0, 0.0, 0.5], [0.0, 2.0, 0.0]])
    Wh = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    b = np.array([0.1, 0.2, 0.3])
    what = f"x={fmt(x)}, h_prev={fmt(h_prev)}, Wx={fmt(Wx)}, Wh={fmt(Wh)}, b={fmt(b)}"
    compare(_step_out(ctx, x, h_prev, Wx, Wh, b, what), _step_t(x, h_prev, Wx, Wh, b),
            f"h_next ({what})", hidden=False, rtol=1e-9, hint=STEP_HINT)


def step_forward_shapes(ctx: Context) -> None:
    N, D, H = 3, 5, 2
    x, h_prev = ctx.rng.normal(size=(N, D)), ctx.rng.normal(size=(N, H))
    Wx, Wh, b = _weights(ctx.rng, D, H)
    what = f"N={N}, D={D}, H={H}"
    compare(_step_out(ctx, x, h_prev, Wx, Wh, b, what), _step_t(x, h_prev, Wx, Wh, b),
            f"h_next ({what})", hidden=False, rtol=1e-9, hint=STEP_HINT)


OVERFLOW_HINT = ("Pre-activations of ±1000 must give tanh = ±1 and σ = 0 or 1, not nan: "
                 "np.tanh is stable; writing tanh or σ with exp of a large positive number "
                 "overflows (inf/inf = nan).")


def step_forward_saturated(ctx: Context) -> None:
    # tanh(±1000) = ±1 exactly in float64; a tanh written with exp overflows to nan here.
    x, h_prev = np.array([[1.0], [-1.0]]), np.zeros((2, 2))
    Wx, Wh, b = np.array([[1000.0, -1000.0]]), np.zeros((2, 2)), np.zeros(2)
    what = f"x={fmt(x)}, h_prev=0, Wx={fmt(Wx)}, Wh=0, b=0 (pre-activations ±1000)"
    compare(_step_out(ctx, x, h_prev, Wx, Wh, b, what), [[1.0, -1.0], [-1.0, 1.0]],
            f"h_next ({what})", hidden=False, rtol=1e-12, hint=OVERFLOW_HINT)


def step_forward_hidden(ctx: Context) -> None:
    ref = ctx.ref("rnn_step_forward")
    for N, D, H, scale in [(1, 3, 4, 1.0), (6, 2, 7, 1.0), (4, 4, 4, 1.0), (5, 3, 2, 25.0),
                           (2, 1, 1, 1.0), (3, 2, 3, 3000.0)]:
        x, h_prev = ctx.rng.normal(size=(N, D)), np.tanh(ctx.rng.normal(size=(N, H)))
        Wx, Wh, b = _weights(ctx.rng, D, H, scale)
        what = f"N={N}, D={D}, H={H}" + (", saturated tanh" if scale > 1 else "")
        agree(_step_out(ctx, x, h_prev, Wx, Wh, b, what), ref(x, h_prev, Wx, Wh, b)[0],
              f"h_next ({what})", hidden=True, rtol=1e-9, atol=1e-12,
              hint=OVERFLOW_HINT if scale > 100 else "")


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
    if expected is None:  # public: torch's gradient of the forward pass
        expected = torch_rnn_step(x, h_prev, Wx, Wh, b, dh_next)[1]
        gradient_check(got, expected, STEP_GRADS, STEP_HINTS, what, against=AUTOGRAD)
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


def _seq_t(x, h0, Wx, Wh, b) -> np.ndarray:
    return torch_rnn(x, h0, Wx, Wh, b, np.zeros((*x.shape[:2], h0.shape[1])))[0]


def forward_known(ctx: Context) -> None:
    x = np.array([[[1.0], [0.0], [0.0]]])
    h0 = np.array([[0.0]])
    Wx, Wh, b = np.array([[1.0]]), np.array([[0.5]]), np.array([0.0])
    what = f"x={fmt(x)}, h0={fmt(h0)}, Wx={fmt(Wx)}, Wh={fmt(Wh)}, b={fmt(b)}"
    compare(_seq_out(ctx, x, h0, Wx, Wh, b, what), _seq_t(x, h0, Wx, Wh, b),
            f"h ({what})", hidden=False, rtol=1e-9, hint=SEQ_HINT)


def forward_random(ctx: Context) -> None:
    N, T, D, H = 2, 4, 3, 5
    x, h0 = ctx.rng.normal(size=(N, T, D)), ctx.rng.normal(size=(N, H)) * 0.5
    Wx, Wh, b = _weights(ctx.rng, D, H)
    what = _sizes(N, T, D, H)
    compare(_seq_out(ctx, x, h0, Wx, Wh, b, what), _seq_t(x, h0, Wx, Wh, b),
            f"h ({what})", hidden=False, rtol=1e-9, hint=SEQ_HINT)


def forward_one_step(ctx: Context) -> None:
    N, D, H = 3, 2, 4
    x, h0 = ctx.rng.normal(size=(N, 1, D)), ctx.rng.normal(size=(N, H)) * 0.5
    Wx, Wh, b = _weights(ctx.rng, D, H)
    what = f"T=1, N={N}, D={D}, H={H}"
    compare(_seq_out(ctx, x, h0, Wx, Wh, b, what), _step_t(x[:, 0], h0, Wx, Wh, b)[:, None],
            f"h ({what})", hidden=False, rtol=1e-9,
            hint="With T = 1, h[:, 0] is a single step from h0: tanh(x[:, 0] @ Wx + h0 @ Wh + b).")


def forward_saturated(ctx: Context) -> None:
    # Pre-activations in the thousands, as in the hidden checks: tanh written with exp gives
    # inf/inf = nan there, np.tanh gives ±1.
    N, T, D, H = 2, 3, 2, 3
    x, h0 = ctx.rng.normal(size=(N, T, D)), np.tanh(ctx.rng.normal(size=(N, H)))
    Wx, Wh, b = _weights(ctx.rng, D, H, 3000.0)
    what = _sizes(N, T, D, H) + ", weights ~3000: saturated tanh"
    compare(_seq_out(ctx, x, h0, Wx, Wh, b, what), _seq_t(x, h0, Wx, Wh, b),
            f"h ({what})", hidden=False, rtol=1e-9,
            hint="tanh(±1000) is ±1: use np.tanh (its formula with exp overflows to inf/inf).")


SEQ_CASES = [(1, 5, 3, 4, 1.0), (4, 1, 2, 3, 1.0), (3, 6, 4, 4, 1.0), (2, 4, 3, 5, 20.0),
             (5, 120, 3, 6, 1.0), (1, 1, 1, 1, 1.0), (2, 3, 2, 3, 3000.0)]


def forward_hidden(ctx: Context) -> None:
    ref = ctx.ref("rnn_forward")
    for N, T, D, H, scale in SEQ_CASES:
        x, h0 = ctx.rng.normal(size=(N, T, D)), np.tanh(ctx.rng.normal(size=(N, H)))
        Wx, Wh, b = _weights(ctx.rng, D, H, scale)
        what = _sizes(N, T, D, H) + (", saturated tanh" if scale > 1 else "")
        agree(_seq_out(ctx, x, h0, Wx, Wh, b, what), ref(x, h0, Wx, Wh, b)[0],
              f"h ({what})", hidden=True, rtol=1e-9, atol=1e-12)


def forward_torch(ctx: Context) -> None:
    for N, T, D, H in [(3, 7, 4, 5), (1, 2, 6, 3)]:
        x, h0 = ctx.rng.normal(size=(N, T, D)), np.tanh(ctx.rng.normal(size=(N, H)))
        Wx, Wh, b = _weights(ctx.rng, D, H)
        what = _sizes(N, T, D, H) + ", compared with torch.nn.RNN"
        expected, _ = torch_rnn(x, h0, Wx, Wh, b, np.zeros((N, T, H)))
        agree(_seq_out(ctx, x, h0, Wx, Wh, b, what), expected, f"h ({what})", hidden=True,
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
        expected = torch_rnn(x, h0, Wx, Wh, b, dh)[1]
        gradient_check(got, expected, SEQ_GRADS, SEQ_HINTS, what, against=AUTOGRAD)
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
    agree(c, expected[1], f"c_next ({what})", hidden=hidden, rtol=1e-9, atol=1e-12,
          hint="" if hidden else GATE_HINT)
    agree(h, expected[0], f"h_next ({what})", hidden=hidden, rtol=1e-9, atol=1e-12,
          hint="" if hidden else GATE_HINT)


def _lstm_t(x, h_prev, c_prev, Wx, Wh, b) -> tuple:
    zeros = np.zeros(h_prev.shape)
    return torch_lstm_step(x, h_prev, c_prev, Wx, Wh, b, zeros, zeros)[:2]


def lstm_forward_zero_weights(ctx: Context) -> None:
    x, h_prev = np.array([[1.0, -2.0]]), np.array([[0.3, -0.7]])
    c_prev = np.array([[2.0, -1.0]])
    Wx, Wh, b = np.zeros((2, 8)), np.zeros((2, 8)), np.zeros(8)
    what = (f"all weights 0, c_prev={fmt(c_prev)}: every gate is σ(0) = 0.5 and g = tanh(0) = 0, "
            f"so c_next = 0.5·c_prev and h_next = 0.5·tanh(c_next)")
    _lstm_compare(ctx, (x, h_prev, c_prev, Wx, Wh, b), _lstm_t(x, h_prev, c_prev, Wx, Wh, b),
                  what, hidden=False)


def lstm_forward_gate_order(ctx: Context) -> None:
    H = 2
    x, h_prev = np.zeros((1, 3)), np.zeros((1, H))
    c_prev = np.array([[1.0, -2.0]])
    Wx, Wh = np.zeros((3, 4 * H)), np.zeros((H, 4 * H))
    b = np.repeat([1.0, -1.0, 2.0, 0.5], H)  # blocks i, f, o, g
    what = (f"Wx = Wh = 0, b = {fmt(b)} (blocks i = 1, f = −1, o = 2, g = 0.5), "
            f"c_prev={fmt(c_prev)}")
    _lstm_compare(ctx, (x, h_prev, c_prev, Wx, Wh, b), _lstm_t(x, h_prev, c_prev, Wx, Wh, b),
                  what, hidden=False)


def lstm_forward_saturated(ctx: Context) -> None:
    # σ(±1000) is 1 or 0 and tanh(±1000) = ±1 in float64: c_next = 0·c_prev + 1·(−1) = −1 and
    # h_next = 1·tanh(−1). A σ written as exp(a)/(1 + exp(a)) gives nan here.
    H = 2
    x, h_prev, c_prev = np.zeros((1, 1)), np.zeros((1, H)), np.array([[3.0, -2.0]])
    Wx, Wh = np.zeros((1, 4 * H)), np.zeros((H, 4 * H))
    b = np.repeat([1000.0, -1000.0, 1000.0, -1000.0], H)
    what = (f"Wx = Wh = 0, b = {fmt(b)} (blocks i = 1000, f = −1000, o = 1000, g = −1000), "
            f"c_prev={fmt(c_prev)}")
    h, c = _lstm_out(ctx, x, h_prev, c_prev, Wx, Wh, b, what)
    compare(c, [[-1.0, -1.0]], f"c_next ({what})", hidden=False, rtol=1e-12,
            hint=OVERFLOW_HINT)
    compare(h, [[-0.7615941559557649] * 2], f"h_next ({what})", hidden=False, rtol=1e-12,
            hint=OVERFLOW_HINT)


def lstm_forward_random(ctx: Context) -> None:
    N, D, H = 3, 4, 2
    x, h_prev, c_prev = (ctx.rng.normal(size=(N, D)), np.tanh(ctx.rng.normal(size=(N, H))),
                         ctx.rng.normal(size=(N, H)))
    Wx, Wh, b = _weights(ctx.rng, D, H, gates=4)
    _lstm_compare(ctx, (x, h_prev, c_prev, Wx, Wh, b), _lstm_t(x, h_prev, c_prev, Wx, Wh, b),
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
        expected = torch_lstm_step(*args, dh, dc)[2]
        gradient_check(got, expected, LSTM_GRADS, LSTM_HINTS, what, against=AUTOGRAD)
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


def lstm_backward_saturated(ctx: Context) -> None:
    # Pre-activations in the thousands, as in the hidden checks: σ or tanh recomputed in the
    # backward with exp overflows there (inf/inf), the forward's own outputs do not.
    N, D, H = 3, 2, 3
    args = _lstm_inputs(ctx.rng, N, D, H, 2000.0)
    _lstm_backward_case(ctx, args, ctx.rng.normal(size=(N, H)), ctx.rng.normal(size=(N, H)),
                        f"N={N}, D={D}, H={H}, weights ~2000: saturated gates (reuse the "
                        f"gate values the forward cached rather than recomputing them with exp)")


def lstm_backward_hidden(ctx: Context) -> None:
    ref_f, ref_b = ctx.ref("lstm_step_forward"), ctx.ref("lstm_step_backward")
    for N, D, H, scale in LSTM_CASES:
        # moderate saturation keeps the gradients informative; the 2000 case overflows a σ or
        # tanh recomputed with exp in the backward
        args = _lstm_inputs(ctx.rng, N, D, H, 5.0 if 1 < scale < 100 else scale)
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
    # torch divides by total + 1e-6; the contract also accepts max_norm / total, which is
    # torch's result times (total + 1e-6)/total whenever torch clipped.
    expected_b, exact = torch_clip(grads, max_norm)
    factor = (exact + 1e-6) / exact if exact + 1e-6 > max_norm else 1.0
    expected_a = [e * factor for e in expected_b]
    agree(total, exact, f"total_norm ({what})", hidden=hidden, rtol=1e-9, atol=1e-12,
          hint="total_norm is the norm of all entries of all arrays together, "
               "sqrt(Σ_arrays Σ_entries g²), BEFORE clipping.")
    for k, (g, a, b) in enumerate(zip(got, expected_a, expected_b)):
        ok_a = np.allclose(g, a, rtol=1e-9, atol=1e-14)
        ok_b = np.allclose(g, b, rtol=1e-9, atol=1e-14)
        if not (ok_a or ok_b):
            hint = _clip_diagnosis(got, grads, float(max_norm)) or CLIP_HINT
            agree(g, a, f"clipped_list[{k}] ({what})", hidden=hidden, rtol=1e-9, atol=1e-14,
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
    for arrays, max_norm, when in (([np.ones(3), np.ones((2, 2))], 100.0, "below"),
                                   ([np.ones(3) * 5, np.ones((2, 2))], 1.0, "above")):
        result = ctx.call_with("clip_grad_norm", (arrays, max_norm), aliases=True)
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
    clipped, torch_total = torch_clip(grads, 1.5)
    what = "three arrays, compared with torch.nn.utils.clip_grad_norm_"
    agree(total, torch_total, f"total_norm ({what})", hidden=True, rtol=1e-9)
    for k, (g, e) in enumerate(zip(got, clipped)):
        # torch divides by total + 1e-6: the plain max_norm / total differs by ~1e-6 relative
        agree(g, e, f"clipped_list[{k}] ({what})", hidden=True, rtol=1e-5, atol=1e-12)


# ---------------------------------------------------------------------------------------------

ASSIGNMENT = Assignment(
    name="05_rnn",
    title="Recurrent networks",
    imports=("torch", "torch.nn.functional"),
    public_imports=(),  # the public checks' torch answers are stored (see the module doc)
    functions=(
        GradedFunction(
            "rnn_step_forward", CELL,
            public=(("known values", step_forward_known),
                    ("H different from D", step_forward_shapes),
                    ("pre-activations of ±1000", step_forward_saturated)),
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
                    ("T = 1 is one step", forward_one_step),
                    ("saturated tanh", forward_saturated)),
            hidden=(("random sizes, T = 1, N = 1, long sequence vs reference", forward_hidden),
                    ("agrees with torch.nn.RNN", forward_torch)),
            public_points=1, hidden_points=2,
            uses=("rnn_step_forward",)),
        GradedFunction(
            "rnn_backward", BPTT,
            public=(("upstream gradient on every step vs central differences",
                     backward_every_step),
                    ("upstream gradient on the last step only", backward_last_step),
                    ("T = 1", backward_one_step)),
            hidden=(("every step / last step only, random sizes, long sequence vs reference",
                     backward_hidden),
                    ("agrees with torch.nn.RNN and autograd", backward_torch)),
            public_points=3, hidden_points=3,
            uses=("rnn_step_forward", "rnn_step_backward")),
        GradedFunction(
            "lstm_step_forward", LSTM,
            public=(("all weights zero", lstm_forward_zero_weights),
                    ("gate order i, f, o, g", lstm_forward_gate_order),
                    ("pre-activations of ±1000", lstm_forward_saturated),
                    ("random case, H different from D", lstm_forward_random)),
            hidden=(("random sizes, N = 1, saturated gates vs reference", lstm_forward_hidden),
                    ("agrees with torch.nn.LSTM (permuted weights)", lstm_forward_torch)),
            public_points=2, hidden_points=2),
        GradedFunction(
            "lstm_step_backward", LSTM_BACKWARD,
            public=(("dh_next and dc_next vs central differences", lstm_backward_both),
                    ("gradient along the cell state only", lstm_backward_dc_only),
                    ("gradient from h_next only", lstm_backward_dh_only),
                    ("saturated gates vs torch.autograd", lstm_backward_saturated)),
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

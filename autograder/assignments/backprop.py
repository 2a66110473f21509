"""Checks for assignment 03_backprop: layer forward/backward passes, a two-layer network, a scalar
autodiff engine (``Value``) and He initialisation.

Backward functions are checked through the student's own forward: the check calls the forward,
passes the cache it returned back to the backward untouched (its format is the student's choice),
and computes the expected gradients from the inputs it gave the forward. A backward check never
looks at the forward's ``out``, so a wrong forward costs only the forward's points.

``Value`` is checked by building expression graphs from a plain-data description
(autograder/harness/backprop.py) with the student's class, one batch of requests per graph
(``ctx.batch``: new, apply, method, attr): the Values stay in the student's process and every
verdict is made here. Public checks compare with known derivatives and with central differences
of the graph (each node's gradient is d(output)/d(node) with the nodes after it recomputed);
hidden checks build the same graphs with the reference ``Value``. No check imports torch (its
import alone takes seconds); tests/test_properties_03.py verifies the reference against
torch.autograd.
"""

from __future__ import annotations

import math

import numpy as np

from ..checks import (BatchFailure, CheckFailure, Context, NotImplementedYet, ProcessCrashed,
                      TimedOut, as_float_array, as_scalar, central_difference_grad, check_shape,
                      compare, compare_scaled, fmt, single_gradient, unpack)
from ..harness.backprop import (BINARY, CONSTANT_FIRST, WITH_CONSTANT, _number, _plain,
                                value_graphs)

# The operator (autograder.calls.OPERATORS) behind each kind of node.
BINARY_NAMES = {"add": "add", "sub": "sub", "mul": "mul", "div": "truediv"}
WITH_CONSTANT_NAMES = {"addc": "add", "subc": "sub", "mulc": "mul", "divc": "truediv",
                       "pow": "pow"}
CONSTANT_FIRST_NAMES = {"radd": "add", "rsub": "sub", "rmul": "mul", "rdiv": "truediv"}
from ..spec import Assignment, GradedFunction
from ._shared import sections

PAGE = "chapters/03_backprop"


_section = sections(PAGE)  # _section(title, label): a Section of this page


# ---------------------------------------------------------------------------------------------
# Helpers for forward / backward pairs


def _forward(ctx: Context, name: str, *args) -> tuple:
    """``(out, cache)`` from the student's forward, or a failure saying what came back."""
    return unpack(ctx.call(name, *args), 2, f"`{name}`", "(out, cache)")


def _cache(ctx: Context, forward: str, backward: str, *args):
    """The cache of the student's forward, to hand to the backward; never inspected."""
    try:
        result = ctx.call(forward, *args)
    except NotImplementedYet:
        raise NotImplementedYet(f"`{forward}` is not implemented yet (it raises "
                                f"NotImplementedError), and `{backward}` is checked with the cache "
                                f"your `{forward}` returns: implement `{forward}` first.") from None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailure(f"`{backward}` is checked with the cache from your `{forward}`, but "
                           f"`{forward}` did not return a pair (out, cache). Make it return "
                           f"`out, cache`.")
    return result[1]




def _elementwise_backward(ctx: Context, forward: str, backward: str, x: np.ndarray,
                          dout: np.ndarray, expected: np.ndarray, label: str, *,
                          hidden: bool = False, hint: str = "", atol: float = 1e-12) -> None:
    cache = _cache(ctx, forward, backward, x)
    what = f"dx from {backward}" + (f" [{label}]" if label else "")
    dx = single_gradient(ctx.call(backward, dout, cache), what)
    check_shape(dx, x.shape, what, "dx has the shape of x.")
    compare(dx, expected, what, hidden=hidden, atol=atol, hint=hint)


# σ(x) and σ'(x) = σ(x)(1 − σ(x)) at the points the public checks use, computed once with
# 50-digit arithmetic (mpmath) and rounded to float64. The grader's package ships to every
# student, so it holds known values, not a sigmoid: random inputs are checked through the
# inverse, log(σ / (1 − σ)) = x, and hidden ones against the reference solution.
SIGMOID_KNOWN = {  # x: (σ(x), σ'(x))
    0.0: (0.5, 0.25), 1.0: (0.7310585786300049, 0.19661193324148185),
    -1.0: (0.2689414213699951, 0.19661193324148185),
    2.0: (0.8807970779778824, 0.10499358540350652),
    -2.0: (0.11920292202211756, 0.10499358540350652),
    3.0: (0.9525741268224333, 0.04517665973091213),
    10.0: (0.9999546021312976, 4.5395807735951673e-05),
    50.0: (1.0, 1.9287498479639178e-22), -50.0: (1.9287498479639178e-22, 1.9287498479639178e-22),
    700.0: (1.0, 9.85967654375977e-305), -700.0: (9.85967654375977e-305, 9.85967654375977e-305),
    1000.0: (1.0, 0.0), -1000.0: (0.0, 0.0),
}


def _known_sigmoid(x: np.ndarray, derivative: bool = False) -> np.ndarray:
    """σ(x) (or σ'(x)) entry by entry from :data:`SIGMOID_KNOWN` (only those points)."""
    x = np.asarray(x, dtype=np.float64)
    return np.array([SIGMOID_KNOWN[float(v)][int(derivative)] for v in x.ravel()]) \
        .reshape(x.shape)


def _check_logit(out: np.ndarray, x: np.ndarray, what: str) -> None:
    """σ is checked through its inverse: log(s) − log(1 − s) must give back x (|x| ≤ 15)."""
    if not (np.all(out > 0) and np.all(out < 1)):
        raise CheckFailure(f"{what} should lie strictly between 0 and 1 for |x| ≤ 15, but its "
                           f"values range from {fmt(out.min())} to {fmt(out.max())}.")
    with np.errstate(all="ignore"):
        back = np.log(out) - np.log1p(-out)
    err = float(np.max(np.abs(back - x)))
    if not err <= 1e-8 * max(1.0, float(np.max(np.abs(x)))):
        raise CheckFailure(f"{what} is wrong: it is not σ(x) = 1 / (1 + exp(−x)). Check: "
                           f"log(s / (1 − s)) should give back x, but differs from x by up "
                           f"to {err:.3g}.")


def _central_difference(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Entrywise central differences of an elementwise f (for expected derivatives)."""
    return (f(x + h) - f(x - h)) / (2 * h)


def _nd_input(rng: np.random.Generator, shape: tuple, scale: float = 1.0,
              zeros: float = 0.0) -> np.ndarray:
    x = rng.normal(size=shape) * scale
    if zeros:
        x[rng.random(shape) < zeros] = 0.0
    return x


# ---------------------------------------------------------------------------------------------
# affine_forward

AFFINE_HINT = ("out = x.reshape(N, -1) @ W + b: flatten each example in C order, W is (D, M) and "
               "multiplies from the right, and b is added to every row.")


def _affine_out(ctx: Context, x, W, b, what: str) -> np.ndarray:
    out, _ = _forward(ctx, "affine_forward", x, W, b)
    out = as_float_array(out, f"out from {what}")
    check_shape(out, (x.shape[0], W.shape[1]), f"out from {what}",
                "out has one row per example and one column per output unit: (N, M).")
    return out


def affine_forward_known(ctx: Context) -> None:
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    W = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.5]])
    b = np.array([0.5, -1.0, 2.0])
    what = f"affine_forward(x={fmt(x)}, W={fmt(W)}, b={fmt(b)})"
    compare(_affine_out(ctx, x, W, b, what), x @ W + b, f"out from {what}", hidden=False,
            hint=AFFINE_HINT)


def affine_forward_flatten(ctx: Context) -> None:
    for shape, m in [((2, 3, 2), 4), ((3, 2, 2, 2), 5)]:
        x = ctx.rng.normal(size=shape)
        d = int(np.prod(shape[1:]))
        W, b = ctx.rng.normal(size=(d, m)), ctx.rng.normal(size=m)
        what = f"affine_forward for x of shape {shape}, W of shape {(d, m)}"
        compare(_affine_out(ctx, x, W, b, what), x.reshape(shape[0], -1) @ W + b,
                f"out from {what}", hidden=False,
                hint="Flatten each example to a row of length D = d1·…·dk with "
                     "x.reshape(N, -1) (C order) before multiplying by W.")


def affine_forward_square(ctx: Context) -> None:
    x, W, b = (ctx.rng.normal(size=(3, 3)), ctx.rng.normal(size=(3, 3)),
               ctx.rng.normal(size=3))
    what = "affine_forward for x, W of shape (3, 3) (N = D = M)"
    compare(_affine_out(ctx, x, W, b, what), x @ W + b, f"out from {what}", hidden=False,
            hint="With a square W a transpose goes unnoticed by the shapes: compute x @ W "
                 "(not x @ W.T or W @ x).")


def affine_forward_hidden(ctx: Context) -> None:
    ref = ctx.ref("affine_forward")
    for n, dims, m in [(1, (5,), 3), (4, (3, 2), 1), (7, (2, 3, 4), 5), (4, (4,), 4),
                       (10, (1, 1), 2), (2, (3, 1, 2, 2), 6)]:
        x = ctx.rng.normal(size=(n, *dims))
        d = int(np.prod(dims))
        W, b = ctx.rng.normal(size=(d, m)), ctx.rng.normal(size=m)
        what = f"affine_forward for x of shape {x.shape}, W of shape {W.shape}"
        compare(_affine_out(ctx, x, W, b, what), ref(x, W, b)[0], f"out from {what}",
                hidden=True, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# affine_backward

DX_HINT = "dx = dout @ W.T, reshaped back to the shape of x."
DW_HINT = "dW = x_flat.T @ dout, with x_flat = x.reshape(N, -1): shape (D, M)."
DB_HINT = "db sums dout over the batch (axis 0): shape (M,). It is a sum, not a mean."


def _affine_grads(ctx: Context, x, W, b, dout, what: str) -> tuple:
    cache = _cache(ctx, "affine_forward", "affine_backward", x, W, b)
    dx, dW, db = unpack(ctx.call("affine_backward", dout, cache), 3, f"`affine_backward` ({what})",
                        "(dx, dW, db)")
    dx = as_float_array(dx, f"dx ({what})")
    dW = as_float_array(dW, f"dW ({what})")
    db = as_float_array(db, f"db ({what})")
    check_shape(dx, x.shape, f"dx ({what})", "dx has the shape of the original x: reshape "
                                              "dout @ W.T back with x.shape.")
    check_shape(dW, W.shape, f"dW ({what})", "dW has the shape of W, (D, M).")
    check_shape(db, b.shape, f"db ({what})", "db has the shape of b, (M,): sum over the batch.")
    return dx, dW, db


def _affine_backward_case(ctx: Context, x, W, b, dout, what: str) -> None:
    got = _affine_grads(ctx, x, W, b, dout, what)

    def loss(x_, W_, b_) -> float:  # L = Σ dout ⊙ out, whose gradients the backward returns
        return float(np.sum(dout * (x_.reshape(x_.shape[0], -1) @ W_ + b_)))

    # Central differences (L is linear, so they are exact up to rounding, ~1e-10), rounded to
    # 9 digits of the largest entry so that messages show 0 as 0.
    expected = [central_difference_grad(lambda v: loss(v, W, b), x),
                central_difference_grad(lambda v: loss(x, v, b), W),
                central_difference_grad(lambda v: loss(x, W, v), b)]
    for name, g, e, hint in zip(("dx", "dW", "db"), got, expected, (DX_HINT, DW_HINT, DB_HINT)):
        scale = float(np.abs(e).max()) or 1.0
        compare_scaled(g, np.round(e / scale, 9) * scale, f"{name} ({what})", hidden=False,
                       tol=1e-7, hint=hint)


def affine_backward_known(ctx: Context) -> None:
    x = np.array([[1.0, 2.0, -1.0], [0.0, 1.0, 3.0]])
    W = np.array([[1.0, -2.0], [0.5, 1.0], [2.0, 0.0]])
    b = np.array([0.1, -0.3])
    dout = np.array([[1.0, 2.0], [-1.0, 0.5]])
    _affine_backward_case(ctx, x, W, b, dout,
                          f"x={fmt(x)}, W={fmt(W)}, b={fmt(b)}, dout={fmt(dout)}")


def affine_backward_nd(ctx: Context) -> None:
    x = ctx.rng.normal(size=(3, 2, 2, 2))
    W, b = ctx.rng.normal(size=(8, 5)), ctx.rng.normal(size=5)
    dout = ctx.rng.normal(size=(3, 5))
    _affine_backward_case(ctx, x, W, b, dout, "x of shape (3, 2, 2, 2), W of shape (8, 5)")


def affine_backward_square(ctx: Context) -> None:
    x, W = ctx.rng.normal(size=(4, 4)), ctx.rng.normal(size=(4, 4))
    b, dout = ctx.rng.normal(size=4), ctx.rng.normal(size=(4, 4))
    _affine_backward_case(ctx, x, W, b, dout, "N = D = M = 4, where every transpose has the "
                                              "right shape")


def affine_backward_hidden(ctx: Context) -> None:
    ref_f, ref_b = ctx.ref("affine_forward"), ctx.ref("affine_backward")
    for n, dims, m in [(1, (5,), 3), (6, (3, 2), 1), (5, (2, 3, 4), 7), (5, (5,), 5),
                       (9, (1, 1), 2), (2, (3, 1, 2, 2), 6)]:
        x = ctx.rng.normal(size=(n, *dims))
        d = int(np.prod(dims))
        W, b = ctx.rng.normal(size=(d, m)), ctx.rng.normal(size=m)
        dout = ctx.rng.normal(size=(n, m))
        what = f"x of shape {x.shape}, W of shape {W.shape}"
        got = _affine_grads(ctx, x, W, b, dout, what)
        expected = ref_b(dout, ref_f(x, W, b)[1])
        for name, g, e in zip(("dx", "dW", "db"), got, expected):
            compare(g, e, f"{name} ({what})", hidden=True, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# relu


def _elementwise_out(ctx: Context, name: str, x: np.ndarray, what: str) -> np.ndarray:
    out, _ = _forward(ctx, name, x)
    out = as_float_array(out, f"out from {what}")
    check_shape(out, x.shape, f"out from {what}", "An elementwise function keeps the shape.")
    return out


def relu_forward_known(ctx: Context) -> None:
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0, 8.0])
    compare(_elementwise_out(ctx, "relu_forward", x, f"relu_forward(x={fmt(x)})"),
            np.maximum(x, 0.0), f"out from relu_forward(x={fmt(x)})", hidden=False,
            hint="ReLU(x) = max(x, 0): negative inputs become 0, the others pass unchanged.")


def relu_forward_shape(ctx: Context) -> None:
    x = ctx.rng.normal(size=(2, 3, 4))
    compare(_elementwise_out(ctx, "relu_forward", x, "relu_forward for x of shape (2, 3, 4)"),
            np.maximum(x, 0.0), "out from relu_forward for x of shape (2, 3, 4)", hidden=False)


def relu_forward_hidden(ctx: Context) -> None:
    ref = ctx.ref("relu_forward")
    for shape, scale in [((7,), 1.0), ((3, 5), 10.0), ((2, 3, 4, 2), 1.0), ((1, 1), 1e3)]:
        x = _nd_input(ctx.rng, shape, scale, zeros=0.2)
        what = f"relu_forward for x of shape {shape}"
        compare(_elementwise_out(ctx, "relu_forward", x, what), ref(x)[0], f"out from {what}",
                hidden=True, atol=0.0)


RELU_GRAD_HINT = ("dx = dout where x > 0 and 0 elsewhere — including at x = 0 exactly; the mask "
                  "comes from x, not from dout.")


def relu_backward_known(ctx: Context) -> None:
    x = np.array([[-1.0, 0.0, 2.0], [3.0, -0.0, 0.5]])
    dout = np.array([[10.0, 20.0, -30.0], [40.0, 50.0, -60.0]])
    _elementwise_backward(ctx, "relu_forward", "relu_backward", x, dout,
                          np.where(x > 0, dout, 0.0), f"x={fmt(x)}, dout={fmt(dout)}",
                          hint=RELU_GRAD_HINT)


def relu_backward_random(ctx: Context) -> None:
    x = _nd_input(ctx.rng, (2, 3, 4), zeros=0.25)
    dout = ctx.rng.normal(size=x.shape)
    _elementwise_backward(ctx, "relu_forward", "relu_backward", x, dout,
                          np.where(x > 0, dout, 0.0), "x of shape (2, 3, 4) with some exact 0s",
                          hint=RELU_GRAD_HINT)


def relu_backward_hidden(ctx: Context) -> None:
    ref_f, ref_b = ctx.ref("relu_forward"), ctx.ref("relu_backward")
    for shape, scale in [((9,), 1.0), ((4, 6), 5.0), ((2, 2, 3, 3), 1.0), ((1, 1), 1.0)]:
        x = _nd_input(ctx.rng, shape, scale, zeros=0.2)
        dout = ctx.rng.normal(size=shape)
        _elementwise_backward(ctx, "relu_forward", "relu_backward", x, dout,
                              ref_b(dout, ref_f(x)[1]), f"x of shape {shape}", hidden=True)


# ---------------------------------------------------------------------------------------------
# sigmoid

EXTREMES = np.array([-1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0])


def sigmoid_forward_known(ctx: Context) -> None:
    x = np.array([0.0, 2.0, -2.0, 10.0])
    what = f"sigmoid_forward(x={fmt(x)})"
    compare(_elementwise_out(ctx, "sigmoid_forward", x, what), _known_sigmoid(x),
            f"out from {what}", hidden=False, rtol=1e-9, atol=1e-15,
            hint="σ(x) = 1 / (1 + exp(−x)); σ(0) = 0.5.")
    x2 = np.clip(ctx.rng.normal(size=(3, 4)) * 3, -15, 15)
    _check_logit(_elementwise_out(ctx, "sigmoid_forward", x2, "sigmoid_forward, x of shape "
                                                              "(3, 4)"),
                 x2, "out from sigmoid_forward for x of shape (3, 4)")


def sigmoid_forward_extremes(ctx: Context) -> None:
    what = f"sigmoid_forward(x={fmt(EXTREMES)})"
    compare(_elementwise_out(ctx, "sigmoid_forward", EXTREMES, what), _known_sigmoid(EXTREMES),
            f"out from {what}", hidden=False, rtol=1e-9, atol=1e-15,
            hint="σ(−1000) is 0 and σ(1000) is 1 in float64; exp(1000) overflows to inf, and "
                 "inf/inf is nan. Only compute exp of non-positive numbers: for x < 0 use "
                 "σ(x) = exp(x) / (1 + exp(x)).")


def _no_warnings(ctx: Context, name: str, x: np.ndarray, label: str, hidden: bool) -> None:
    # The call runs with NumPy's overflow, divide and invalid warnings switched on; underflow
    # (exp of a very negative number rounding to 0) is harmless and not reported.
    result = ctx.call_with(name, (np.array(x, dtype=np.float64),), warnings=True)
    out = unpack(result.out, 2, f"`{name}`", "(out, cache)")[0]
    if result.warnings:
        shown = "; ".join(sorted(set(result.warnings))[:3])
        where = "" if hidden else f" for x = {fmt(x)}"
        raise CheckFailure(f"`{name}` raised NumPy warnings{where} [{label}]: {shown}. A correct "
                           f"sigmoid never evaluates exp of a large positive number. Beware "
                           f"np.where(x >= 0, f(x), g(x)): it computes both f(x) and g(x) "
                           f"everywhere, so the 'unused' branch still overflows; apply each "
                           f"formula to its own part of x (a boolean mask), or to −|x|.")
    expected = ctx.ref(name)(x)[0] if hidden else _known_sigmoid(x)
    compare(out, expected, f"out from {name} [{label}]", hidden=hidden, rtol=1e-9,
            atol=1e-15)


def sigmoid_forward_no_warnings(ctx: Context) -> None:
    _no_warnings(ctx, "sigmoid_forward", np.array([[-1000.0, -700.0, 0.0], [1000.0, 700.0, 3.0]]),
                 "no overflow warnings at ±1000", hidden=False)


def sigmoid_forward_hidden(ctx: Context) -> None:
    ref = ctx.ref("sigmoid_forward")
    for shape, scale in [((8,), 1.0), ((4, 5), 30.0), ((2, 3, 4), 800.0), ((1, 1), 1.0)]:
        x = ctx.rng.normal(size=shape) * scale
        what = f"sigmoid_forward for x of shape {shape}"
        compare(_elementwise_out(ctx, "sigmoid_forward", x, what), ref(x)[0], f"out from {what}",
                hidden=True, rtol=1e-9, atol=1e-15)
    big = ctx.rng.uniform(-1000, 1000, size=(6, 7))
    _no_warnings(ctx, "sigmoid_forward", big, "large inputs, warnings on", hidden=True)


SIG_GRAD_HINT = ("dx = dout · σ(x) · (1 − σ(x)), with σ(x) the forward's OUTPUT (not x itself); "
                 "it must stay finite for |x| = 1000, where it is 0.")


def sigmoid_backward_known(ctx: Context) -> None:
    x = np.array([-2.0, 0.0, 1.0, 3.0])
    dout = np.array([1.0, 2.0, -1.0, 0.5])
    _elementwise_backward(ctx, "sigmoid_forward", "sigmoid_backward", x, dout,
                          dout * _known_sigmoid(x, derivative=True),
                          f"x={fmt(x)}, dout={fmt(dout)}", hint=SIG_GRAD_HINT)


def sigmoid_backward_random_and_extremes(ctx: Context) -> None:
    x = ctx.rng.normal(size=(3, 4)) * 2
    dout = ctx.rng.normal(size=(3, 4))
    # central differences of σ written through tanh (accurate to ~1e-11 here)
    slope = _central_difference(lambda v: 0.5 + 0.5 * np.tanh(0.5 * v), x)
    _elementwise_backward(ctx, "sigmoid_forward", "sigmoid_backward", x, dout,
                          dout * slope, "x of shape (3, 4)", hint=SIG_GRAD_HINT, atol=1e-9)
    dout2 = np.ones_like(EXTREMES)
    _elementwise_backward(ctx, "sigmoid_forward", "sigmoid_backward", EXTREMES, dout2,
                          _known_sigmoid(EXTREMES, derivative=True),
                          f"x={fmt(EXTREMES)}, dout = 1", hint=SIG_GRAD_HINT, atol=1e-15)


def sigmoid_backward_hidden(ctx: Context) -> None:
    ref_f, ref_b = ctx.ref("sigmoid_forward"), ctx.ref("sigmoid_backward")
    for shape, scale in [((8,), 1.0), ((4, 5), 10.0), ((2, 3, 4), 800.0), ((1, 1), 1.0)]:
        x = ctx.rng.normal(size=shape) * scale
        dout = ctx.rng.normal(size=shape)
        _elementwise_backward(ctx, "sigmoid_forward", "sigmoid_backward", x, dout,
                              ref_b(dout, ref_f(x)[1]), f"x of shape {shape}", hidden=True,
                              atol=1e-15)


# ---------------------------------------------------------------------------------------------
# tanh


def tanh_forward_known(ctx: Context) -> None:
    x = np.array([0.0, 0.5, -1.0, 3.0])
    what = f"tanh_forward(x={fmt(x)})"
    compare(_elementwise_out(ctx, "tanh_forward", x, what), np.tanh(x), f"out from {what}",
            hidden=False, rtol=1e-9, atol=1e-15,
            hint="tanh(x) = (e^x − e^−x) / (e^x + e^−x) = 2σ(2x) − 1 (not 2σ(x) − 1).")
    x2 = ctx.rng.normal(size=(2, 3, 2)) * 2
    compare(_elementwise_out(ctx, "tanh_forward", x2, "tanh_forward, x of shape (2, 3, 2)"),
            np.tanh(x2), "out from tanh_forward for x of shape (2, 3, 2)", hidden=False,
            rtol=1e-9, atol=1e-15)


def tanh_forward_extremes(ctx: Context) -> None:
    what = f"tanh_forward(x={fmt(EXTREMES)})"
    compare(_elementwise_out(ctx, "tanh_forward", EXTREMES, what), np.tanh(EXTREMES),
            f"out from {what}", hidden=False, rtol=1e-9, atol=1e-15,
            hint="tanh(±1000) = ±1; the formula (e^x − e^−x)/(e^x + e^−x) gives inf/inf = nan "
                 "there. Use np.tanh.")


def tanh_forward_hidden(ctx: Context) -> None:
    ref = ctx.ref("tanh_forward")
    for shape, scale in [((8,), 1.0), ((4, 5), 20.0), ((2, 3, 4), 500.0), ((1, 1), 0.1)]:
        x = ctx.rng.normal(size=shape) * scale
        what = f"tanh_forward for x of shape {shape}"
        compare(_elementwise_out(ctx, "tanh_forward", x, what), ref(x)[0], f"out from {what}",
                hidden=True, rtol=1e-9, atol=1e-15)


TANH_GRAD_HINT = "dx = dout · (1 − tanh²(x)), with tanh(x) the forward's OUTPUT (not x itself)."


def tanh_backward_known(ctx: Context) -> None:
    x = np.array([-1.5, 0.0, 0.5, 2.0])
    dout = np.array([1.0, -2.0, 3.0, 0.5])
    _elementwise_backward(ctx, "tanh_forward", "tanh_backward", x, dout,
                          dout * (1 - np.tanh(x) ** 2), f"x={fmt(x)}, dout={fmt(dout)}",
                          hint=TANH_GRAD_HINT)


def tanh_backward_random(ctx: Context) -> None:
    x = ctx.rng.normal(size=(3, 2, 2))
    dout = ctx.rng.normal(size=x.shape)
    _elementwise_backward(ctx, "tanh_forward", "tanh_backward", x, dout,
                          dout * (1 - np.tanh(x) ** 2), "x of shape (3, 2, 2)",
                          hint=TANH_GRAD_HINT)


def tanh_backward_hidden(ctx: Context) -> None:
    ref_f, ref_b = ctx.ref("tanh_forward"), ctx.ref("tanh_backward")
    for shape, scale in [((8,), 1.0), ((4, 5), 3.0), ((2, 3, 4), 100.0), ((1, 1), 0.5)]:
        x = ctx.rng.normal(size=shape) * scale
        dout = ctx.rng.normal(size=shape)
        _elementwise_backward(ctx, "tanh_forward", "tanh_backward", x, dout,
                              ref_b(dout, ref_f(x)[1]), f"x of shape {shape}", hidden=True,
                              atol=1e-14)


# ---------------------------------------------------------------------------------------------
# two_layer_net_loss

PARAM_KEYS = ("W1", "b1", "W2", "b2")
GRAD_HINTS = {
    "W1": "The gradient reaches W1 through W2 and the ReLU (zero where X W1 + b1 ≤ 0); add "
          "reg·W1 for the penalty.",
    "b1": "db1 sums, over the batch, the gradient after the ReLU mask. Biases are not "
          "regularised.",
    "W2": "dW2 = Hᵀ dS + reg·W2 with dS = (softmax(S) − one_hot(y)) / N; the derivative of "
          "reg/2·‖W2‖² is reg·W2 (not 2·reg·W2).",
    "b2": "db2 sums dS = (softmax(S) − one_hot(y)) / N over the batch; no regularisation.",
}


def _random_net(rng: np.random.Generator, n: int, d: int, h: int, c: int,
                scale: float = 1.0) -> tuple:
    """Parameters and data with no hidden pre-activation near the ReLU kink."""
    while True:
        params = {"W1": rng.normal(size=(d, h)) * scale / np.sqrt(d),
                  "b1": rng.normal(size=h) * 0.1 * scale,
                  "W2": rng.normal(size=(h, c)) * scale / np.sqrt(h),
                  "b2": rng.normal(size=c) * 0.1 * scale}
        X = rng.normal(size=(n, d))
        y = rng.integers(0, c, size=n)
        if np.abs(X @ params["W1"] + params["b1"]).min() > 1e-3 * scale:
            return params, X, y


def _tln(ctx: Context, params: dict, X, y, reg: float, what: str) -> tuple:
    loss, grads = unpack(ctx.call("two_layer_net_loss", params, X, y, reg=reg), 2,
                         f"`two_layer_net_loss` ({what})", "(loss, grads)")
    loss = as_scalar(loss, f"the loss ({what})")
    if not isinstance(grads, dict):
        raise CheckFailure(f"grads ({what}) should be a dict with keys 'W1', 'b1', 'W2', 'b2', "
                           f"but it is a {type(grads).__name__}.")
    if set(grads) != set(PARAM_KEYS):
        raise CheckFailure(f"grads ({what}) should have exactly the keys of params, "
                           f"['W1', 'b1', 'W2', 'b2'], but it has {sorted(map(str, grads))}.")
    out = {}
    for key in PARAM_KEYS:
        g = as_float_array(grads[key], f"grads['{key}'] ({what})")
        check_shape(g, params[key].shape, f"grads['{key}'] ({what})",
                    f"Each gradient has the shape of its parameter: params['{key}'] is "
                    f"{params[key].shape}.")
        out[key] = g
    return loss, out


def _tln_public(ctx: Context, params: dict, X, y, reg: float, what: str) -> None:
    """Checks that need no second implementation of the network (the grader's package ships to
    every student): the penalty and the shift invariance of the loss, and the gradients against
    central differences of the student's OWN loss along random directions."""
    loss, grads = _tln(ctx, params, X, y, reg, what)
    for key in PARAM_KEYS:
        if not np.all(np.isfinite(grads[key])):
            raise CheckFailure(f"grads['{key}'] ({what}) contains nan or inf. "
                               f"{GRAD_HINTS[key]}")
    shifted = dict(params, b2=params["b2"] + 7.5)
    compare(_tln(ctx, shifted, X, y, reg, what)[0], loss,
            f"the loss after adding 7.5 to every entry of b2 ({what})", hidden=False, rtol=1e-9,
            hint="Adding the same constant to every score changes no softmax probability, so "
                 "the loss must not change; use a max-shifted softmax.")
    if reg:
        penalty = 0.5 * reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
        compare(loss - _tln(ctx, params, X, y, 0.0, what)[0], penalty,
                f"the loss with reg = {reg:g} minus the loss with reg = 0 ({what})",
                hidden=False, rtol=1e-9,
                hint="The penalty is 0.5·reg·(‖W1‖² + ‖W2‖²); biases are not penalised.")
    eps = 1e-5  # no hidden pre-activation is within 1e-3 of the ReLU kink (_random_net)
    for key in PARAM_KEYS:
        for _ in range(2):
            v = ctx.rng.normal(size=params[key].shape)
            v /= np.linalg.norm(v)
            up = _tln(ctx, dict(params, **{key: params[key] + eps * v}), X, y, reg, what)[0]
            down = _tln(ctx, dict(params, **{key: params[key] - eps * v}), X, y, reg, what)[0]
            numeric, analytic = (up - down) / (2 * eps), float(np.sum(grads[key] * v))
            if not abs(numeric - analytic) <= 1e-6 * max(1.0, abs(numeric), abs(analytic)):
                raise CheckFailure(
                    f"grads['{key}'] ({what}) does not match central differences of your own "
                    f"loss along a random direction v of params['{key}']: "
                    f"(L(θ + εv) − L(θ − εv)) / 2ε = {numeric:.8g}, but Σ grads['{key}'] ⊙ v "
                    f"= {analytic:.8g}. {GRAD_HINTS[key]}")


def tln_zero_weights(ctx: Context) -> None:
    n, d, h, c = 4, 3, 5, 6
    params = {"W1": np.zeros((d, h)), "b1": np.zeros(h), "W2": np.zeros((h, c)),
              "b2": np.zeros(c)}
    X = ctx.rng.normal(size=(n, d))
    y = np.array([0, 2, 2, 5])
    what = f"all parameters 0, N={n}, D={d}, H={h}, C={c}, y={y}"
    loss, grads = _tln(ctx, params, X, y, 0.0, what)
    compare(loss, math.log(c), f"the loss ({what})", hidden=False,
            hint="With all parameters 0 every score is 0, the softmax is uniform and the loss "
                 "is log C.")
    onehot = np.eye(c)[y]
    expected = {"W1": np.zeros((d, h)), "b1": np.zeros(h), "W2": np.zeros((h, c)),
                "b2": (1.0 / c - onehot).mean(axis=0)}
    for key in PARAM_KEYS:
        compare(grads[key], expected[key], f"grads['{key}'] ({what})", hidden=False,
                hint=GRAD_HINTS[key])


def tln_gradient_check(ctx: Context) -> None:
    params, X, y = _random_net(ctx.rng, 5, 4, 6, 3)
    _tln_public(ctx, params, X, y, 0.0, "N=5, D=4, H=6, C=3, reg=0")


def tln_gradient_check_reg(ctx: Context) -> None:
    params, X, y = _random_net(ctx.rng, 4, 3, 5, 4)
    _tln_public(ctx, params, X, y, 0.7, "N=4, D=3, H=5, C=4, reg=0.7")


def tln_large_scores(ctx: Context) -> None:
    params, X, y = _random_net(ctx.rng, 4, 3, 4, 3, scale=60.0)
    _tln_public(ctx, params, X, y, 1e-3, "scores in the thousands, reg=0.001")


def tln_hidden(ctx: Context) -> None:
    ref = ctx.ref("two_layer_net_loss")
    for n, d, h, c, reg, scale in [(10, 5, 7, 3, 0.0, 1.0), (1, 4, 3, 2, 0.5, 1.0),
                                   (6, 3, 8, 2, 1e-3, 1.0), (20, 10, 15, 6, 0.1, 1.0),
                                   (5, 4, 6, 4, 0.2, 80.0), (1, 2, 2, 5, 0.0, 1.0)]:
        params, X, y = _random_net(ctx.rng, n, d, h, c, scale)
        what = f"N={n}, D={d}, H={h}, C={c}"
        loss, grads = _tln(ctx, params, X, y, reg, what)
        ref_loss, ref_grads = ref(params, X, y, reg)
        compare(loss, ref_loss, f"the loss ({what})", hidden=True, rtol=1e-9, atol=1e-12)
        for key in PARAM_KEYS:
            compare(grads[key], ref_grads[key], f"grads['{key}'] ({what})", hidden=True,
                    rtol=1e-7, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# Value: expression graphs (see autograder/harness/backprop.py for the description format)

SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "addc": "+", "subc": "-", "mulc": "*",
          "divc": "/", "radd": "+", "rsub": "-", "rmul": "*", "rdiv": "/", "pow": "**"}
_MATH = {"tanh": math.tanh, "exp": math.exp, "log": math.log,
         "relu": lambda v: v if v > 0 else 0.0, "neg": lambda v: -v}


def _operands(spec: list) -> list:
    op = spec[0]
    if op == "leaf":
        return []
    if op in BINARY:
        return [spec[1], spec[2]]
    if op in CONSTANT_FIRST:
        return [spec[2]]
    return [spec[1]]


def _expr(spec: list) -> str:
    op = spec[0]
    if op == "leaf":
        return f"Value({spec[1]!r})"
    if op in BINARY:
        return f"v{spec[1]} {SYMBOL[op]} v{spec[2]}"
    if op in WITH_CONSTANT:
        return f"v{spec[1]} {SYMBOL[op]} {spec[2]!r}"
    if op in CONSTANT_FIRST:
        return f"{spec[1]!r} {SYMBOL[op]} v{spec[2]}"
    if op == "neg":
        return f"-v{spec[1]}"
    return f"v{spec[1]}.{op}()"


def _kind(spec: list) -> str:
    """The operation of a node without its operands (for hidden messages)."""
    op = spec[0]
    if op == "leaf":
        return "Value(x)"
    if op in BINARY:
        same = " (the same Value on both sides)" if spec[1] == spec[2] else ""
        return f"`Value {SYMBOL[op]} Value`{same}"
    if op in WITH_CONSTANT:
        return f"`Value {SYMBOL[op]} number`"
    if op in CONSTANT_FIRST:
        return f"`number {SYMBOL[op]} Value`"
    if op == "neg":
        return "`-Value`"
    return f"`Value.{op}()`"


def _listing(graph: list) -> str:
    lines = [f"    v{k} = {_expr(spec)}" for k, spec in enumerate(graph)]
    lines.append(f"    v{len(graph) - 1}.backward()")
    return "\n".join(lines)


def _apply(spec: list, vals: list) -> float:
    op = spec[0]
    if op == "leaf":
        return float(spec[1])
    if op in BINARY:
        return float(BINARY[op](vals[spec[1]], vals[spec[2]]))
    if op in WITH_CONSTANT:
        return float(WITH_CONSTANT[op](vals[spec[1]], spec[2]))
    if op in CONSTANT_FIRST:
        return float(CONSTANT_FIRST[op](spec[1], vals[spec[2]]))
    return float(_MATH[op](vals[spec[1]]))


def graph_values(graph: list) -> list:
    vals = []
    for spec in graph:
        vals.append(_apply(spec, vals))
    return vals


def numeric_graph_grads(graph: list) -> list:
    """d(last node)/d(node k) for every k by central differences: perturb node k's value and
    recompute only the nodes after it. Exact up to ~1e-8 relative away from kinks."""
    vals = graph_values(graph)
    n = len(graph)
    grads = [0.0] * n
    grads[-1] = 1.0
    for k in range(n - 1):
        h = 1e-6 * max(1.0, abs(vals[k]))
        outs = []
        for v_k in (vals[k] + h, vals[k] - h):
            trial = vals[:k] + [v_k]
            for spec in graph[k + 1:]:
                trial.append(_apply(spec, trial))
            outs.append(trial[-1])
        grads[k] = (outs[0] - outs[1]) / (2 * h)
    return grads


CONSTANTS = (2, 3, -1, 0.5, 1.5, -2.5, 4)
EXPONENTS = (2, 3, -1, 0.5, -2, 1.5)


def random_graph(rng: np.random.Generator, n_leaves: int, n_ops: int, *,
                 pretty: bool = False, recent: float = 0.5) -> list:
    """A random expression graph in which every node feeds the last one.

    Operands are picked among earlier nodes (the most recent one with probability ``recent``,
    which makes deep graphs; otherwise any, which makes reused nodes); operations are only
    applied where they are smooth and well conditioned (log of > 0.05, division by |d| > 0.2,
    relu away from 0, values within ±50), so central differences are accurate.
    """
    graph, vals = [], []
    for _ in range(n_leaves):
        x = float(np.round(rng.uniform(-2, 2), 1)) if pretty else float(rng.uniform(-2, 2))
        if abs(x) < 0.1:
            x = 0.7
        graph.append(["leaf", x])
        vals.append(x)

    def pick():
        return len(vals) - 1 if rng.random() < recent else int(rng.integers(len(vals)))

    kinds = ("add", "sub", "mul", "div", "addc", "subc", "mulc", "divc", "radd", "rsub", "rmul",
             "rdiv", "pow", "neg", "tanh", "exp", "log", "relu")
    target = n_leaves + n_ops
    attempts = 0
    while len(graph) < target and attempts < 100 * target:
        attempts += 1
        op = kinds[int(rng.integers(len(kinds)))]
        i = pick()
        if op in BINARY:
            spec = [op, i, pick()]
            if op == "div" and abs(vals[spec[2]]) < 0.2:
                continue
        elif op == "pow":
            p = EXPONENTS[int(rng.integers(len(EXPONENTS)))]
            if (isinstance(p, float) and vals[i] < 0.05) or (p < 0 and abs(vals[i]) < 0.2):
                continue
            spec = [op, i, p]
        elif op in WITH_CONSTANT:
            spec = [op, i, CONSTANTS[int(rng.integers(len(CONSTANTS)))]]
        elif op in CONSTANT_FIRST:
            spec = [op, CONSTANTS[int(rng.integers(len(CONSTANTS)))], i]
            if op == "rdiv" and abs(vals[i]) < 0.2:
                continue
        else:
            spec = [op, i]
            if (op == "log" and vals[i] < 0.05) or (op == "relu" and abs(vals[i]) < 1e-3) or \
                    (op == "exp" and vals[i] > 3):
                continue
        value = _apply(spec, vals)
        if not math.isfinite(value) or abs(value) > 50:
            continue
        graph.append(spec)
        vals.append(value)
    used = {j for spec in graph for j in _operands(spec)}
    for k in range(len(graph) - 1):  # fold every unused node into the output
        if k not in used:
            graph.append(["add", len(graph) - 1, k])
    return graph


class _Stub(Exception):
    """A method of the student's class still raises NotImplementedError."""

    def __init__(self, phase: str, node: int) -> None:
        super().__init__(phase, node)
        self.phase, self.node = phase, node


def _student_node(b, nodes: list, spec: list):
    """The operation ``spec`` (see autograder/harness/backprop.py) as a step of the batch ``b``,
    done with the student's ``Value`` in the student's process."""
    op = spec[0]
    if op == "leaf":
        return b.new("Value", _number(spec[1]))
    if op in BINARY:
        return b.apply(BINARY_NAMES[op], nodes[spec[1]], nodes[spec[2]])
    if op in WITH_CONSTANT:
        return b.apply(WITH_CONSTANT_NAMES[op], nodes[spec[1]], _number(spec[2]))
    if op in CONSTANT_FIRST:
        return b.apply(CONSTANT_FIRST_NAMES[op], _number(spec[1]), nodes[spec[2]])
    if op == "neg":
        return b.apply("neg", nodes[spec[1]])
    return b.method(nodes[spec[1]], op)


def _student_graph(ctx: Context, graph: list) -> dict:
    """Build ``graph`` from fresh Values of the student's class, call ``backward()`` on its
    last node and read every node's ``.data`` and ``.grad``, all in one round trip:
    ``{"nodes": [[data, grad], ...]}`` or ``{"error": ..., "phase": "build" | "backward" |
    "read", "node": k}``."""
    b = ctx.batch()
    nodes = []
    for spec in graph:
        nodes.append(_student_node(b, nodes, spec))
    b.method(nodes[-1], "backward")
    reads = [(b.attr(v, "data"), b.attr(v, "grad")) for v in nodes]
    n = len(graph)
    try:
        out = b.run()
    except BatchFailure as exc:
        k = exc.step if exc.step is not None else n
        phase, node = ("build", k) if k < n else ("backward", n - 1) if k == n else \
            ("read", (k - n - 1) // 2)
        if isinstance(exc.failure, NotImplementedYet) and phase != "read":
            raise _Stub(phase, node) from None
        if isinstance(exc.failure, (TimedOut, ProcessCrashed)):
            raise exc.failure from None
        detail = exc.error.detail if exc.error.kind == "exception" else str(exc.failure)
        return {"error": detail, "phase": phase, "node": node}
    return {"nodes": [[_plain(out[d.index]), _plain(out[g.index])] for d, g in reads]}


def _run_graphs(ctx: Context, graphs: list, collect: bool = False) -> list:
    """Each graph built and differentiated with the student's ``Value``, in order, each from
    fresh leaves. With ``collect``, the Values of one graph are released and garbage-collected
    before the next is built, so that the next graph's Values likely reuse their memory (and
    ``id``): state wrongly kept between graphs (e.g. a class-level set of visited ids) then
    shows up."""
    results = []
    for i, graph in enumerate(graphs):
        try:
            results.append(_student_graph(ctx, graph))
        except _Stub as stub:
            step = (f"`v{stub.node} = {_expr(graph[stub.node])}`" if stub.phase == "build"
                    else "`backward()`")
            raise NotImplementedYet(f"`Value` is not implemented yet: {step} raised "
                                    f"NotImplementedError (a method it uses still has the stub "
                                    f"`raise NotImplementedError()`).") from None
        if collect:
            ctx.release()
            ctx.apply("collect_garbage")
    return results


def _reference_graphs(ctx: Context, graphs: list) -> list:
    """The same graphs built with the reference Value (in the grader, never in the sandbox)."""
    return value_graphs({"Value": ctx.ref("Value")}, graphs)["results"]


def _graph_problem(result: dict, expected: list, graph: list, *, hidden: bool, title: str,
                   rtol: float = 1e-7) -> str | None:
    """A message describing what is wrong in ``result`` compared with ``expected`` (a list of
    [data, grad]), or None if everything matches."""
    n = len(graph)
    listing = "" if hidden else f"\n  The expression:\n{_listing(graph)}"
    if "error" in result:
        k = result["node"]
        if result["phase"] == "build":
            where = (f"computing a node of the form {_kind(graph[k])}" if hidden
                     else f"computing `v{k} = {_expr(graph[k])}`")
            return f"{title}: {where} raised {result['error']}.{listing}"
        if result["phase"] == "backward":
            return f"{title}: calling backward() on the output raised {result['error']}.{listing}"
        return f"{title}: reading .data/.grad of a node raised {result['error']}.{listing}"
    nodes = result["nodes"]
    for k, (data, grad) in enumerate(nodes):
        for attr, v in ((".data", data), (".grad", grad)):
            if isinstance(v, str):
                name = "a Value" if hidden else f"v{k}"
                return (f"{title}: {attr} of {name} is a {v.strip('<>')}, not a number. Store "
                        f"plain floats in .data and .grad (not Values, arrays or None).{listing}")
    got = np.array(nodes, dtype=np.float64)
    exp = np.array(expected, dtype=np.float64)
    # Values: the first wrong node (in the order of computation) has a wrong forward rule.
    data_ok = np.isclose(got[:, 0], exp[:, 0], rtol=rtol, atol=1e-12)
    if not data_ok.all():
        k = int(np.argmin(data_ok))
        if hidden:
            return (f"{title}: the value (.data) of a node of the form {_kind(graph[k])} is "
                    f"wrong ({int((~data_ok).sum())} of {n} values wrong).")
        return (f"{title}: v{k} = {_expr(graph[k])} should have .data {fmt(exp[k, 0])}, but it "
                f"has {fmt(got[k, 0])}.{listing}")
    if not np.isclose(got[-1, 1], 1.0):
        return (f"{title}: after out.backward(), out.grad should be 1 (backward() seeds the "
                f"output's gradient with 1), but it is {fmt(got[-1, 1])}.")
    scale = max(1.0, float(np.abs(exp[:, 1]).max()))
    grad_ok = np.isclose(got[:, 1], exp[:, 1], rtol=rtol, atol=1e-7 * scale)
    if grad_ok.all():
        return None
    k = int(np.flatnonzero(~grad_ok).max())  # the first wrong one in backward order
    users = [j for j in range(k + 1, n) if k in _operands(graph[j])]
    uses = sum(_operands(graph[j]).count(k) for j in users)
    accumulate = (" A Value used more than once must receive the sum of the gradients from all "
                  "its uses (`+=`, not `=`).")
    if hidden:
        kinds = sorted({_kind(graph[j]) for j in users})
        return (f"{title}: {int((~grad_ok).sum())} of {n} gradients are wrong. The first wrong "
                f"one, in backward order, belongs to a Value used by {', '.join(kinds)}: check "
                f"the backward rule of {'these operations' if len(kinds) > 1 else 'this one'}."
                + (accumulate if uses > 1 else ""))
    wrong = np.flatnonzero(~grad_ok)[::-1][:6]
    rows = "\n".join(f"    v{j}.grad: expected {fmt(exp[j, 1])}, got {fmt(got[j, 1])}"
                     for j in wrong)
    used_by = ", ".join(f"`v{j} = {_expr(graph[j])}`" for j in users)
    return (f"{title}: {int((~grad_ok).sum())} of {n} gradients are wrong (expected values from "
            f"central differences of the expression):\n{rows}\n  The first wrong one in backward "
            f"order is v{k}.grad; v{k} is used by {used_by}: check the backward rule of "
            f"{'these operations' if len(users) > 1 else 'this operation'}."
            + (accumulate if uses > 1 else "") + listing)


def _check_graphs(ctx: Context, cases: list, expected: list, *, hidden: bool) -> None:
    """cases: list of (title, graph); expected: list of [[data, grad], ...] per graph."""
    results = _run_graphs(ctx, [g for _, g in cases])
    for (title, graph), result, exp in zip(cases, results, expected):
        problem = _graph_problem(result, exp, graph, hidden=hidden, title=title)
        if problem:
            raise CheckFailure(problem)


def _numeric_expected(graph: list) -> list:
    return [[v, g] for v, g in zip(graph_values(graph), numeric_graph_grads(graph))]


def _one_op_cases() -> list:
    """(title, graph, expected [[data, grad], ...]) for every operation on its own."""
    a, b = 1.5, -0.5
    th = math.tanh(a)
    two = [["leaf", a], ["leaf", b]]
    one = [["leaf", a]]
    cases = [
        ("v0 + v1", two + [["add", 0, 1]], [[a, 1.0], [b, 1.0], [a + b, 1.0]]),
        ("v0 + 2", one + [["addc", 0, 2]], [[a, 1.0], [a + 2, 1.0]]),
        ("1 + v0", one + [["radd", 1, 0]], [[a, 1.0], [1 + a, 1.0]]),
        ("v0 - v1", two + [["sub", 0, 1]], [[a, 1.0], [b, -1.0], [a - b, 1.0]]),
        ("v0 - 2", one + [["subc", 0, 2]], [[a, 1.0], [a - 2, 1.0]]),
        ("2 - v0", one + [["rsub", 2, 0]], [[a, -1.0], [2 - a, 1.0]]),
        ("v0 * v1", two + [["mul", 0, 1]], [[a, b], [b, a], [a * b, 1.0]]),
        ("v0 * 3", one + [["mulc", 0, 3]], [[a, 3.0], [3 * a, 1.0]]),
        ("2 * v0", one + [["rmul", 2, 0]], [[a, 2.0], [2 * a, 1.0]]),
        ("v0 / v1", two + [["div", 0, 1]], [[a, 1 / b], [b, -a / b**2], [a / b, 1.0]]),
        ("v0 / 4", one + [["divc", 0, 4]], [[a, 0.25], [a / 4, 1.0]]),
        ("3 / v0", one + [["rdiv", 3, 0]], [[a, -3 / a**2], [3 / a, 1.0]]),
        ("-v0", one + [["neg", 0]], [[a, -1.0], [-a, 1.0]]),
        ("v0 ** 2", one + [["pow", 0, 2]], [[a, 2 * a], [a**2, 1.0]]),
        ("v0 ** 3", one + [["pow", 0, 3]], [[a, 3 * a**2], [a**3, 1.0]]),
        ("v0 ** -1", one + [["pow", 0, -1]], [[a, -1 / a**2], [1 / a, 1.0]]),
        ("v0 ** 0.5", one + [["pow", 0, 0.5]], [[a, 0.5 / math.sqrt(a)], [math.sqrt(a), 1.0]]),
        ("v0.tanh()", one + [["tanh", 0]], [[a, 1 - th**2], [th, 1.0]]),
        ("v0.exp()", one + [["exp", 0]], [[a, math.exp(a)], [math.exp(a), 1.0]]),
        ("v0.log()", one + [["log", 0]], [[a, 1 / a], [math.log(a), 1.0]]),
        ("v0.relu() for v0 > 0", one + [["relu", 0]], [[a, 1.0], [a, 1.0]]),
        ("v0.relu() for v0 < 0", [["leaf", b], ["relu", 0]], [[b, 0.0], [0.0, 1.0]]),
        ("v0.relu() for v0 = 0 exactly (gradient 0 there)", [["leaf", 0.0], ["relu", 0]],
         [[0.0, 0.0], [0.0, 1.0]]),
    ]
    return cases


def value_each_operation(ctx: Context) -> None:
    cases = _one_op_cases()
    _check_graphs(ctx, [(f"`{t}`", g) for t, g, _ in cases], [e for _, _, e in cases],
                  hidden=False)


PATH_GRAPHS = [
    ("a Value multiplied by itself, `v0 * v0`", [["leaf", 3.0], ["mul", 0, 0]]),
    ("a Value added to itself, `v0 + v0`", [["leaf", 3.0], ["add", 0, 0]]),
    ("a Value used on two paths", [["leaf", 2.0], ["mulc", 0, 3], ["add", 1, 0], ["mul", 2, 1]]),
    ("a diamond", [["leaf", 0.5], ["exp", 0], ["tanh", 0], ["mul", 1, 2], ["add", 3, 0]]),
    ("numbers on both sides, reused nodes",
     [["leaf", 0.8], ["leaf", -1.3], ["rsub", 2, 0], ["rdiv", 3, 2], ["mul", 3, 1],
      ["radd", 1, 4], ["pow", 5, 2], ["mul", 6, 0], ["sub", 7, 3]]),
]


def value_paths_accumulate(ctx: Context) -> None:
    _check_graphs(ctx, PATH_GRAPHS, [_numeric_expected(g) for _, g in PATH_GRAPHS], hidden=False)


def value_random_graphs(ctx: Context) -> None:
    graphs = [random_graph(ctx.rng, nl, no, pretty=True) for nl, no in ((2, 5), (3, 7), (2, 9))]
    _check_graphs(ctx, [(f"random expression {i + 1}", g) for i, g in enumerate(graphs)],
                  [_numeric_expected(g) for g in graphs], hidden=False)


STALE_HINT = ("Keep no state between calls of backward() outside the Values themselves: no "
              "class attribute or global list of visited nodes, no mutable default argument "
              "such as `def backward(self, visited=set())`.")


def value_fresh_graphs(ctx: Context) -> None:
    g1 = random_graph(ctx.rng, 2, 6, pretty=True)
    g2 = random_graph(ctx.rng, 3, 5, pretty=True)
    results = _run_graphs(ctx, [g1, g2, g1, g1], collect=True)
    expected = _numeric_expected(g1)
    for i, result in enumerate((results[0], results[2], results[3])):
        nth = ("second", "third")[max(i - 1, 0)]
        title = ("the expression below" if i == 0 else
                 f"the same expression built again from new Values (the {nth} time, after "
                 f"other graphs were differentiated)")
        problem = _graph_problem(result, expected, g1, hidden=False, title=title)
        if problem:
            raise CheckFailure(problem + ("\n  " + STALE_HINT if i else ""))


def value_hidden_random(ctx: Context) -> None:
    graphs = [random_graph(ctx.rng, nl, no, recent=r)
              for nl, no, r in ((3, 30, 0.5), (6, 60, 0.3), (1, 25, 0.7), (10, 40, 0.2))]
    _check_graphs(ctx, [(f"on a hidden expression graph of {len(g)} nodes", g) for g in graphs],
                  [[list(p) for p in r["nodes"]] for r in _reference_graphs(ctx, graphs)],
                  hidden=True)


def _structured_graphs(rng: np.random.Generator) -> list:
    # A deep chain: 150 operations, each on the previous node.
    chain = [["leaf", float(rng.uniform(0.5, 1.0))]]
    steps = (["tanh"], ["mulc", 1.5], ["radd", 1], ["rmul", 0.5], ["exp"], ["log"],
             ["addc", 0.25])
    for k in range(150):
        op = steps[k % len(steps)]
        if op[0] in CONSTANT_FIRST:
            chain.append([op[0], op[1], k])
        else:
            chain.append([op[0], k, *op[1:]])
    # One leaf used by 40 operations of every kind, summed.
    leaf = float(rng.uniform(0.6, 1.4))
    fan = [["leaf", leaf], ["leaf", float(rng.uniform(-1.0, -0.5))]]
    ops = (["mul", 0, 0], ["rsub", 2, 0], ["rdiv", 3, 0], ["pow", 0, 1.5], ["tanh", 0],
           ["div", 1, 0], ["sub", 0, 1], ["relu", 0], ["neg", 0], ["log", 0])
    for k in range(40):
        fan.append(list(ops[k % len(ops)]))
    total = len(fan) - 40
    acc = total
    for j in range(total + 1, len(fan)):
        fan.append(["add", acc, j])
        acc = len(fan) - 1
    # relu at exactly 0 inside a graph, numbers on the left.
    kink = [["leaf", 0.0], ["leaf", 1.25], ["relu", 0], ["rsub", 1, 2], ["mul", 3, 1],
            ["rdiv", 2, 4], ["add", 5, 0], ["relu", 6], ["mul", 7, 1], ["add", 8, 5]]
    return [("on a hidden deep chain of 151 nodes", chain),
            ("on a hidden graph where one Value is used by 40 operations", fan),
            ("on a hidden graph with relu at exactly 0 and numbers on the left", kink)]


def value_hidden_structures(ctx: Context) -> None:
    cases = _structured_graphs(ctx.rng)
    graphs = [g for _, g in cases]
    _check_graphs(ctx, cases,
                  [[list(p) for p in r["nodes"]] for r in _reference_graphs(ctx, graphs)],
                  hidden=True)


def value_hidden_fresh(ctx: Context) -> None:
    g1 = random_graph(ctx.rng, 4, 30, recent=0.4)
    g2 = random_graph(ctx.rng, 2, 20)
    expected = [list(p) for p in _reference_graphs(ctx, [g1])[0]["nodes"]]
    results = _run_graphs(ctx, [g1, g2, g1], collect=True)
    for i, result in ((0, results[0]), (1, results[2])):
        title = ("on a hidden graph" if i == 0 else "on a hidden graph built again from new "
                 "Values after other graphs were differentiated")
        problem = _graph_problem(result, expected, g1, hidden=True, title=title)
        if problem:
            raise CheckFailure(problem + (" " + STALE_HINT if i else ""))


# ---------------------------------------------------------------------------------------------
# he_init


def _he(ctx: Context, fan_in: int, fan_out: int, seed: int, what: str = "") -> np.ndarray:
    what = what or f"he_init({fan_in}, {fan_out}, rng)"
    W = as_float_array(ctx.call("he_init", fan_in, fan_out, np.random.default_rng(seed)), what)
    check_shape(W, (fan_in, fan_out), what, "W has shape (fan_in, fan_out): it is the W of "
                                            "affine_forward, which multiplies x from the right.")
    if not np.all(np.isfinite(W)):
        raise CheckFailure(f"{what} contains nan or inf.")
    return W


def _he_statistics(W: np.ndarray, fan_in: int, what: str, hidden: bool) -> None:
    var = 2.0 / fan_in
    n = W.size
    mean, sample_var = float(W.mean()), float(W.var())
    if abs(mean) > 6 * math.sqrt(var / n):
        raise CheckFailure(f"{what}: the mean of the {n} entries is {mean:.4g}, too far from 0 "
                           f"for N(0, 2/fan_in) (standard error {math.sqrt(var / n):.2g}).")
    if abs(sample_var / var - 1) > 0.04:
        detail = "" if hidden else f" = {var:.4g}"
        raise CheckFailure(
            f"{what}: the variance of the entries is {sample_var:.4g}, but He initialisation "
            f"has variance 2/fan_in{detail} (ratio {sample_var / var:.3g}). Common slips: "
            f"1/fan_in (LeCun), 2/(fan_in + fan_out) (Glorot), 2/fan_out, or passing the "
            f"variance where NumPy expects the standard deviation (`scale` is the std).")
    z = W.ravel() / math.sqrt(var)
    kurtosis = float(np.mean(z ** 4) / np.mean(z ** 2) ** 2 - 3)
    tails = float(np.mean(np.abs(z) > 2))
    if abs(kurtosis) > 0.15 or not 0.038 < tails < 0.053:
        raise CheckFailure(
            f"{what}: the entries do not look normally distributed (excess kurtosis "
            f"{kurtosis:.3g}, should be ≈ 0; fraction beyond 2 standard deviations {tails:.3g}, "
            f"should be ≈ 0.0455). Draw from a normal distribution (rng.normal or "
            f"rng.standard_normal), not a uniform or truncated one.")


def he_shape(ctx: Context) -> None:
    W = _he(ctx, 3, 5, 0)
    if float(W.std()) == 0.0:
        raise CheckFailure("he_init(3, 5, rng) returned identical entries; the weights must be "
                           "random draws.")


def he_statistics(ctx: Context) -> None:
    for fan_in, fan_out, seed in [(400, 250, 1), (50, 2000, 2)]:
        W = _he(ctx, fan_in, fan_out, seed)
        _he_statistics(W, fan_in, f"he_init({fan_in}, {fan_out}, rng)", hidden=False)


def he_uses_rng(ctx: Context) -> None:
    a = _he(ctx, 4, 6, 7, "he_init(4, 6, np.random.default_rng(7))")
    b = _he(ctx, 4, 6, 7, "he_init(4, 6, np.random.default_rng(7)) (again)")
    if not np.array_equal(a, b):
        raise CheckFailure("he_init(4, 6, rng) gave different weights for two generators in the "
                           "same state (np.random.default_rng(7) both times). Draw every "
                           "number from `rng` (rng.normal(...)), not from np.random.* or "
                           "another global source.")
    c = _he(ctx, 4, 6, 8, "he_init(4, 6, np.random.default_rng(8))")
    if np.array_equal(a, c):
        raise CheckFailure("he_init(4, 6, rng) gave the same weights for generators seeded 7 "
                           "and 8: use the `rng` you are given instead of creating your own.")


def he_hidden_shapes(ctx: Context) -> None:
    ref = ctx.ref("he_init")
    for fan_in, fan_out in [(1, 1), (1, 7), (9, 1), (300, 3), (2, 5)]:
        seed = int(ctx.rng.integers(2**31))
        W = _he(ctx, fan_in, fan_out, seed, f"he_init for fan_in={fan_in}, fan_out={fan_out}")
        check_shape(W, ref(fan_in, fan_out, np.random.default_rng(seed)).shape,
                    f"he_init for fan_in={fan_in}, fan_out={fan_out}")


def he_hidden_statistics(ctx: Context) -> None:
    for fan_in, fan_out in [(1, 40000), (2000, 30), (17, 3000), (3, 20000)]:
        seed = int(ctx.rng.integers(2**31))
        what = f"he_init for fan_in={fan_in}, fan_out={fan_out}"
        _he_statistics(_he(ctx, fan_in, fan_out, seed, what), fan_in, what, hidden=True)
    seed = int(ctx.rng.integers(2**31))
    a, b = (_he(ctx, 30, 20, seed, "he_init for fan_in=30, fan_out=20") for _ in range(2))
    if not np.array_equal(a, b):
        raise CheckFailure("he_init gave different weights for two generators in the same "
                           "state: draw every number from `rng`.")


# ---------------------------------------------------------------------------------------------

AFFINE = _section("The affine layer", "sec-bp-affine")
ACTIVATIONS = _section("Elementwise activations: ReLU, sigmoid and tanh", "sec-bp-activations")

ASSIGNMENT = Assignment(
    name="03_backprop",
    title="Backpropagation",
    functions=(
        GradedFunction(
            "affine_forward", AFFINE,
            public=(("known values", affine_forward_known),
                    ("flattens (N, d1, ..., dk) inputs", affine_forward_flatten),
                    ("square case N = D = M", affine_forward_square)),
            hidden=(("random shapes vs reference", affine_forward_hidden),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "affine_backward", AFFINE,
            public=(("known values", affine_backward_known),
                    ("dx shaped like an (N, d1, d2, d3) x", affine_backward_nd),
                    ("square case N = D = M", affine_backward_square)),
            hidden=(("random shapes vs reference", affine_backward_hidden),),
            public_points=2, hidden_points=2),
        GradedFunction(
            "relu_forward", ACTIVATIONS,
            public=(("known values", relu_forward_known),
                    ("any shape", relu_forward_shape)),
            hidden=(("random inputs vs reference", relu_forward_hidden),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "relu_backward", ACTIVATIONS,
            public=(("known values, gradient 0 at x = 0", relu_backward_known),
                    ("random input with exact zeros", relu_backward_random)),
            hidden=(("random inputs vs reference", relu_backward_hidden),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "sigmoid_forward", ACTIVATIONS,
            public=(("known values", sigmoid_forward_known),
                    ("exact at ±50 and ±1000", sigmoid_forward_extremes),
                    ("no overflow warnings", sigmoid_forward_no_warnings)),
            hidden=(("random inputs vs reference", sigmoid_forward_hidden),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "sigmoid_backward", ACTIVATIONS,
            public=(("known values", sigmoid_backward_known),
                    ("random inputs and |x| = 1000", sigmoid_backward_random_and_extremes)),
            hidden=(("random inputs vs reference", sigmoid_backward_hidden),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "tanh_forward", ACTIVATIONS,
            public=(("known values", tanh_forward_known),
                    ("±1 at x = ±1000", tanh_forward_extremes)),
            hidden=(("random inputs vs reference", tanh_forward_hidden),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "tanh_backward", ACTIVATIONS,
            public=(("known values", tanh_backward_known),
                    ("random input", tanh_backward_random)),
            hidden=(("random inputs vs reference", tanh_backward_hidden),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "two_layer_net_loss",
            _section("A two-layer network with L2 regularisation", "sec-bp-two-layer"),
            public=(("all-zero parameters: loss log C", tln_zero_weights),
                    ("gradients vs central differences, reg = 0", tln_gradient_check),
                    ("gradients vs central differences, reg = 0.7", tln_gradient_check_reg),
                    ("stable for large scores", tln_large_scores)),
            hidden=(("random networks vs reference (N = 1, C = 2, large scores...)",
                     tln_hidden),),
            public_points=2, hidden_points=3,
            uses=("affine_forward", "relu_forward", "affine_backward", "relu_backward")),
        GradedFunction(
            "Value", _section("A scalar reverse-mode engine", "sec-bp-value"),
            public=(("each operation on its own", value_each_operation),
                    ("gradients accumulate over paths", value_paths_accumulate),
                    ("random expressions vs central differences", value_random_graphs),
                    ("a new graph gives the same gradients", value_fresh_graphs)),
            hidden=(("random graphs vs reference", value_hidden_random),
                    ("deep chain, heavy reuse, relu at 0", value_hidden_structures),
                    ("no state kept between graphs", value_hidden_fresh)),
            public_points=3, hidden_points=3),
        GradedFunction(
            "he_init", _section("Initialisation", "sec-bp-init"),
            public=(("shape (fan_in, fan_out)", he_shape),
                    ("mean 0, variance 2/fan_in, normal", he_statistics),
                    ("uses the given rng", he_uses_rng)),
            hidden=(("edge-case shapes", he_hidden_shapes),
                    ("statistics on other shapes", he_hidden_statistics)),
            public_points=1, hidden_points=1),
    ),
)

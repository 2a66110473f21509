"""Checks for assignment 04_cnn: the output-size formula, convolution and max-pooling layers
(forward and backward), the receptive field of a stack, batch normalisation (training-mode
forward and backward), folding a batch norm into a convolution, and inverted dropout.

Backward functions are checked through the student's own forward: the check calls the forward,
passes the cache it returned back to the backward untouched (its format is the student's choice),
and computes the expected gradients from the inputs it gave the forward, never from the forward's
``out``, so a wrong forward costs only the forward's points. The one exception is dropout, whose
mask cannot be known in advance: its backward must be the derivative of the forward the student
actually ran, ``dx = dout · out / x`` (entries of x are never 0 there).

Public checks use oracles written out in this module (explicit loops over output pixels and
central differences); hidden checks compare with the reference solution and with PyTorch in
float64 on the edge cases of the chapter: 1×1 kernels, strides that do not divide the input,
padding larger than 1, one channel, one example, non-square inputs and kernels, dilation in the
size formula, non-default eps with near-constant channels, ties in max pooling and windows that
do not tile the input. Dropout masks cannot be compared with a reference: its checks test the
statistics of the mask, the exact scaling, that the given ``rng`` is used, and eval mode.

Generic helpers defined here (candidates for autograder/checks.py): ``_forward``, ``_cache``
(as in backprop.py) and ``_gradient_check`` (analytic vs central differences with a teaching
message).
"""

from __future__ import annotations

import math

import numpy as np
from ..checks import (CheckFailure, Context, NotImplementedYet, as_float_array, as_scalar,
                      central_difference_grad, check_shape, compare, compare_scaled, fmt,
                      relative_error, unpack)
from ..spec import Assignment, GradedFunction, Section, lazy_module

# Imported on first use; ASSIGNMENT.imports has the grading worker import it before any check
# runs, so that no check's time limit pays for it.
torch = lazy_module("torch")
TF = lazy_module("torch.nn.functional")

PAGE = "chapters/04_cnn"


def _section(title: str, label: str) -> Section:
    return Section(title, PAGE, label)


OUTPUT_SIZE = _section("The output size", "sec-cnn-output-size")
IM2COL = _section("Convolution as a matrix: im2col", "sec-cnn-im2col")
BACKWARD = _section("The backward pass of a convolution", "sec-cnn-backward")
POOLING = _section("Pooling", "sec-cnn-pooling")
RECEPTIVE = _section("Receptive fields", "sec-cnn-receptive-field")
BATCHNORM = _section("Batch normalisation", "sec-cnn-batchnorm")
BN_BACKWARD = _section("The backward pass of batch normalisation", "sec-cnn-bn-backward")
FUSION = _section("Folding batch norm into a convolution", "sec-cnn-fusion")
DROPOUT = _section("Dropout", "sec-cnn-dropout")


# ---------------------------------------------------------------------------------------------
# Generic helpers


def _forward(ctx: Context, name: str, *args, **kwargs) -> tuple:
    """``(out, cache)`` from the student's forward, or a failure saying what came back."""
    return unpack(ctx.call(name, *args, **kwargs), 2, f"`{name}`", "(out, cache)")


def _cache(ctx: Context, forward: str, backward: str, *args, **kwargs):
    """The cache of the student's forward, to hand to the backward; never inspected."""
    try:
        result = ctx.call(forward, *args, **kwargs)
    except NotImplementedYet:
        raise NotImplementedYet(f"`{forward}` is not implemented yet (it raises "
                                f"NotImplementedError), and `{backward}` is checked with the cache "
                                f"your `{forward}` returns: implement `{forward}` first.") from None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailure(f"`{backward}` is checked with the cache from your `{forward}`, but "
                           f"`{forward}` did not return a pair (out, cache). Make it return "
                           f"`out, cache`.")
    return result


def _single_grad(got, what: str) -> np.ndarray:
    """A backward of a one-input forward returns dx itself (not a 1-tuple)."""
    if isinstance(got, (tuple, list)) and len(got) == 1:
        raise CheckFailure(f"{what} should be the array dx itself, but it is a {type(got).__name__}"
                           f" holding one array: return `dx`, not `(dx,)`.")
    return as_float_array(got, what)


def _gradient_check(got: np.ndarray, numeric: np.ndarray, what: str, hint: str,
                    tol: float = 1e-6) -> None:
    """Public gradient check: an analytic gradient against central differences."""
    if not np.all(np.isfinite(got)):
        raise CheckFailure(f"{what} contains nan or inf. {hint}")
    err = relative_error(got, numeric)
    if not err < tol:
        raise CheckFailure(f"{what} does not match central differences: relative error "
                           f"{err:.3g} (should be < {tol:g}). {hint}\n"
                           f"  numerical: {fmt(numeric, 4)}\n  yours:     {fmt(got, 4)}")


def _t(a) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64)


def _grads_of(fn, dout: np.ndarray, *arrays) -> tuple:
    """``(out, [d sum(dout·fn(*arrays)) / d array ...])`` by torch autograd in float64."""
    leaves = [_t(a).requires_grad_(True) for a in arrays]
    out = fn(*leaves)
    out.backward(_t(dout))
    return out.detach().numpy(), [leaf.grad.numpy() for leaf in leaves]


# ---------------------------------------------------------------------------------------------
# conv_output_size

SIZE_HINT = ("n_out = ⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1: the dilated kernel covers d(k − 1) + 1 "
             "input pixels, there are n + 2p − d(k − 1) − 1 pixels left for the window to move "
             "over, it moves s at a time, and the first position counts too. Use floor "
             "division (//): a window that does not fit is dropped.")


def _size(ctx: Context, args: tuple, what: str):
    got = as_scalar(ctx.call("conv_output_size", *args), what)
    if got != math.floor(got):
        raise CheckFailure(f"{what} returned {fmt(got)}, which is not a whole number: the number "
                           f"of output positions is an integer. {SIZE_HINT}")
    return got


def _size_expected(n, k, s=1, p=0, d=1) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _size_call(n, k, s, p, d) -> tuple:
    args, shown = (n, k), f"conv_output_size({n}, {k}"
    if (s, p, d) != (1, 0, 1):
        args, shown = (n, k, s, p, d), shown + f", stride={s}, padding={p}, dilation={d}"
    return args, shown + ")"


def size_known(ctx: Context) -> None:
    for n, k, s, p, d in [(5, 3, 1, 0, 1), (32, 3, 1, 1, 1), (7, 3, 2, 0, 1), (6, 3, 2, 0, 1),
                          (28, 5, 1, 2, 1), (8, 1, 3, 0, 1), (227, 11, 4, 0, 1)]:
        args, what = _size_call(n, k, s, p, d)
        compare(_size(ctx, args, what), _size_expected(n, k, s, p, d), what, hidden=False,
                hint=SIZE_HINT)


def size_dilation(ctx: Context) -> None:
    for n, k, s, p, d in [(10, 3, 1, 0, 2), (9, 3, 2, 2, 3), (16, 2, 1, 1, 4)]:
        args, what = _size_call(n, k, s, p, d)
        compare(_size(ctx, args, what), _size_expected(n, k, s, p, d), what, hidden=False,
                hint=SIZE_HINT)


def size_keywords(ctx: Context) -> None:
    what = "conv_output_size(size=12, kernel=3, stride=2, padding=1, dilation=1) (keywords)"
    got = as_scalar(ctx.call("conv_output_size", size=12, kernel=3, stride=2, padding=1,
                             dilation=1), what)
    compare(got, 6, what, hidden=False, hint="Keep the argument names and order exactly as "
                                             "given: (size, kernel, stride, padding, dilation).")


def _random_size_cases(rng: np.random.Generator, count: int) -> list:
    cases = []
    while len(cases) < count:
        k = int(rng.integers(1, 8))
        d = int(rng.choice([1, 1, 2, 3, 5]))
        s = int(rng.integers(1, 6))
        p = int(rng.integers(0, 5))
        n = int(rng.integers(1, 64))
        if n + 2 * p - d * (k - 1) - 1 >= 0:
            cases.append((n, k, s, p, d))
    return cases


def size_hidden(ctx: Context) -> None:
    ref = ctx.ref("conv_output_size")
    for n, k, s, p, d in _random_size_cases(ctx.rng, 60):
        args, _ = _size_call(n, k, s, p, d)
        what = "conv_output_size on a hidden case"
        compare(_size(ctx, args, what), ref(*args), what, hidden=True, hint=SIZE_HINT)


def size_hidden_torch(ctx: Context) -> None:
    for n, k, s, p, d in _random_size_cases(ctx.rng, 12) + [(7, 1, 2, 0, 1), (5, 5, 1, 0, 1)]:
        x = torch.zeros(1, 1, n, 1, dtype=torch.float64)
        w = torch.zeros(1, 1, k, 1, dtype=torch.float64)
        expected = TF.conv2d(x, w, stride=(s, 1), padding=(p, 0), dilation=(d, 1)).shape[2]
        args, _ = _size_call(n, k, s, p, d)
        what = "conv_output_size on a hidden case (against torch.nn.functional.conv2d)"
        compare(_size(ctx, args, what), expected, what, hidden=True, hint=SIZE_HINT)


# ---------------------------------------------------------------------------------------------
# conv2d_forward


def conv_oracle(x, w, b, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The convolution of the contract, one output pixel at a time (slow, obviously right)."""
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = _size_expected(h, kh, stride, padding), _size_expected(wd, kw, stride, padding)
    out = np.empty((n, f, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


CONV_HINT = ("out[n, f, i, j] = b[f] + Σ_{c,u,v} w[f, c, u, v] · x_pad[n, c, s·i + u, s·j + v]: "
             "a cross-correlation (do not flip the kernel), windows start every `stride` "
             "pixels of the padded input, and windows that do not fit are dropped.")


def _conv_case(rng, n, c, h, wd, f, kh, kw) -> tuple:
    return (rng.normal(size=(n, c, h, wd)), rng.normal(size=(f, c, kh, kw)),
            rng.normal(size=f))


def _conv_out(ctx: Context, x, w, b, stride, padding, what: str) -> np.ndarray:
    out, _ = _forward(ctx, "conv2d_forward", x, w, b, stride, padding)
    out = as_float_array(out, f"out from {what}")
    shape = (x.shape[0], w.shape[0], _size_expected(x.shape[2], w.shape[2], stride, padding),
             _size_expected(x.shape[3], w.shape[3], stride, padding))
    check_shape(out, shape, f"out from {what}",
                "out is (N, F, H', W') with H' = ⌊(H + 2p − KH)/s⌋ + 1 and likewise W'.")
    return out


def _conv_what(x, w, stride, padding) -> str:
    return (f"conv2d_forward for x of shape {x.shape}, w of shape {w.shape}, stride={stride}, "
            f"padding={padding}")


def conv_forward_known(ctx: Context) -> None:
    x = np.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    b = np.array([0.5])
    what = f"conv2d_forward(x={fmt(x[0, 0])} as (1, 1, 4, 4), w={fmt(w[0, 0])}, b=[0.5])"
    compare(_conv_out(ctx, x, w, b, 1, 0, what), conv_oracle(x, w, b), f"out from {what}",
            hidden=False, hint=CONV_HINT + " Here out[0, 0, 0, 0] = 1·1 + 2·2 + 3·5 + 4·6 + 0.5.")


def conv_forward_channels(ctx: Context) -> None:
    x, w, b = _conv_case(ctx.rng, 2, 3, 5, 4, 2, 3, 2)
    what = _conv_what(x, w, 1, 0)
    compare(_conv_out(ctx, x, w, b, 1, 0, what), conv_oracle(x, w, b), f"out from {what}",
            hidden=False, hint=CONV_HINT + " Sum over the input channels c; each filter f has "
                                           "its own bias.")


def conv_forward_stride_padding(ctx: Context) -> None:
    for (n, c, h, wd, f, kh, kw), stride, padding in [((2, 2, 6, 5, 3, 3, 3), 2, 1),
                                                       ((1, 1, 7, 7, 1, 3, 3), 3, 2)]:
        x, w, b = _conv_case(ctx.rng, n, c, h, wd, f, kh, kw)
        what = _conv_what(x, w, stride, padding)
        compare(_conv_out(ctx, x, w, b, stride, padding, what),
                conv_oracle(x, w, b, stride, padding), f"out from {what}", hidden=False,
                hint=CONV_HINT)


# (N, C, H, W, F, KH, KW, stride, padding): 1×1 kernels, strides that do not divide, padding
# above 1, one channel, one example, non-square inputs and kernels, kernel = input.
CONV_CASES = [(2, 3, 7, 7, 4, 1, 1, 1, 0), (2, 2, 8, 9, 3, 3, 3, 2, 0),
              (1, 1, 6, 5, 2, 3, 3, 1, 2), (3, 2, 5, 9, 2, 2, 3, 3, 1),
              (2, 3, 6, 6, 1, 5, 5, 1, 2), (1, 4, 10, 7, 3, 3, 1, 2, 3),
              (2, 1, 4, 4, 2, 4, 4, 1, 0), (1, 2, 9, 4, 5, 1, 1, 2, 1),
              (4, 1, 11, 6, 2, 3, 2, 4, 2)]


def conv_forward_hidden(ctx: Context) -> None:
    ref = ctx.ref("conv2d_forward")
    for n, c, h, wd, f, kh, kw, s, p in CONV_CASES:
        x, w, b = _conv_case(ctx.rng, n, c, h, wd, f, kh, kw)
        what = _conv_what(x, w, s, p)
        compare(_conv_out(ctx, x, w, b, s, p, what), ref(x, w, b, s, p)[0], f"out from {what}",
                hidden=True, atol=1e-9)


def conv_forward_hidden_torch(ctx: Context) -> None:
    for n, c, h, wd, f, kh, kw, s, p in CONV_CASES[::-1]:
        x, w, b = _conv_case(ctx.rng, n, c, h, wd, f, kh, kw)
        what = _conv_what(x, w, s, p) + " (against torch)"
        expected = TF.conv2d(_t(x), _t(w), _t(b), stride=s, padding=p).numpy()
        compare(_conv_out(ctx, x, w, b, s, p, what), expected, f"out from {what}", hidden=True,
                atol=1e-9)


# ---------------------------------------------------------------------------------------------
# conv2d_backward

CONV_GRAD_HINTS = {
    "dx": "dx is the transposed convolution: every output pixel (n, f, i, j) sends "
          "dout[n, f, i, j]·w[f, c, u, v] back to x_pad[n, c, s·i + u, s·j + v]; where windows "
          "overlap the contributions ADD (+=, not =), and the padding is cut off at the end so "
          "that dx has the shape of x.",
    "dw": "dw[f, c, u, v] = Σ over n, i, j of dout[n, f, i, j]·x_pad[n, c, s·i + u, s·j + v]: "
          "summed (not averaged) over the batch and all positions, with the stride and the "
          "padding of the forward.",
    "db": "db[f] = Σ over n, i, j of dout[n, f, i, j]: one number per filter, summed (not "
          "averaged) over the batch and all positions.",
}


def _conv_grads(ctx: Context, x, w, b, s, p, dout, what: str) -> tuple:
    _, cache = _cache(ctx, "conv2d_forward", "conv2d_backward", x, w, b, s, p)
    got = unpack(ctx.call("conv2d_backward", dout, cache), 3, f"`conv2d_backward` ({what})",
                 "(dx, dw, db)")
    arrays = []
    for name, g, like in zip(("dx", "dw", "db"), got, (x, w, b)):
        g = as_float_array(g, f"{name} ({what})")
        check_shape(g, like.shape, f"{name} ({what})",
                    f"{name} has the shape of {name[1:]}. " + CONV_GRAD_HINTS[name])
        arrays.append(g)
    return tuple(arrays)


def _conv_backward_public(ctx: Context, n, c, h, wd, f, kh, kw, s, p) -> None:
    x, w, b = _conv_case(ctx.rng, n, c, h, wd, f, kh, kw)
    dout = ctx.rng.normal(size=(n, f, _size_expected(h, kh, s, p), _size_expected(wd, kw, s, p)))
    what = f"x of shape {x.shape}, w of shape {w.shape}, stride={s}, padding={p}"
    got = _conv_grads(ctx, x, w, b, s, p, dout, what)
    numeric = (central_difference_grad(lambda v: float(np.sum(dout * conv_oracle(v, w, b, s, p))),
                                       x, h=1e-4),
               central_difference_grad(lambda v: float(np.sum(dout * conv_oracle(x, v, b, s, p))),
                                       w, h=1e-4),
               central_difference_grad(lambda v: float(np.sum(dout * conv_oracle(x, w, v, s, p))),
                                       b, h=1e-4))
    for name, g, num in zip(("dx", "dw", "db"), got, numeric):
        _gradient_check(g, num, f"{name} ({what})", CONV_GRAD_HINTS[name])


def conv_backward_simple(ctx: Context) -> None:
    _conv_backward_public(ctx, 2, 2, 4, 5, 3, 3, 2, 1, 0)


def conv_backward_stride_padding(ctx: Context) -> None:
    _conv_backward_public(ctx, 2, 1, 5, 6, 2, 3, 3, 2, 1)


def conv_backward_overlap(ctx: Context) -> None:
    """A 1×1 input channel with a large kernel: every input pixel is read by many windows."""
    _conv_backward_public(ctx, 1, 1, 5, 4, 1, 3, 3, 1, 2)


def conv_backward_hidden(ctx: Context) -> None:
    ref_f, ref_b = ctx.ref("conv2d_forward"), ctx.ref("conv2d_backward")
    for n, c, h, wd, f, kh, kw, s, p in CONV_CASES:
        x, w, b = _conv_case(ctx.rng, n, c, h, wd, f, kh, kw)
        dout = ctx.rng.normal(size=(n, f, _size_expected(h, kh, s, p),
                                    _size_expected(wd, kw, s, p)))
        what = f"x of shape {x.shape}, w of shape {w.shape}, stride={s}, padding={p}"
        got = _conv_grads(ctx, x, w, b, s, p, dout, what)
        expected = ref_b(dout, ref_f(x, w, b, s, p)[1])
        for name, g, e in zip(("dx", "dw", "db"), got, expected):
            compare_scaled(g, e, f"{name} ({what})", hidden=True, tol=1e-9,
                           hint=CONV_GRAD_HINTS[name])


def conv_backward_hidden_torch(ctx: Context) -> None:
    for n, c, h, wd, f, kh, kw, s, p in CONV_CASES[::-1]:
        x, w, b = _conv_case(ctx.rng, n, c, h, wd, f, kh, kw)
        dout = ctx.rng.normal(size=(n, f, _size_expected(h, kh, s, p),
                                    _size_expected(wd, kw, s, p)))
        what = (f"x of shape {x.shape}, w of shape {w.shape}, stride={s}, padding={p}, against "
                f"torch.autograd")
        got = _conv_grads(ctx, x, w, b, s, p, dout, what)
        _, expected = _grads_of(lambda a, v, c_: TF.conv2d(a, v, c_, stride=s, padding=p),
                                dout, x, w, b)
        for name, g, e in zip(("dx", "dw", "db"), got, expected):
            compare_scaled(g, e, f"{name} ({what})", hidden=True, tol=1e-9,
                           hint=CONV_GRAD_HINTS[name])


# ---------------------------------------------------------------------------------------------
# maxpool2d_forward


def pool_oracle(x, k: int, s: int) -> tuple:
    """Max pooling one window at a time: (out, index of the first maximum of each window)."""
    n, c, h, wd = x.shape
    ho, wo = (h - k) // s + 1, (wd - k) // s + 1
    out, first = np.empty((n, c, ho, wo)), np.empty((n, c, ho, wo), dtype=int)
    for i in range(ho):
        for j in range(wo):
            window = x[:, :, i * s:i * s + k, j * s:j * s + k].reshape(n, c, k * k)
            first[:, :, i, j] = window.argmax(axis=-1)
            out[:, :, i, j] = window.max(axis=-1)
    return out, first


def pool_grad_oracle(x, k: int, s: int, dout) -> np.ndarray:
    _, first = pool_oracle(x, k, s)
    dx = np.zeros(x.shape)
    n, c, ho, wo = first.shape
    for a in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    u, v = divmod(int(first[a, ch, i, j]), k)
                    dx[a, ch, i * s + u, j * s + v] += dout[a, ch, i, j]
    return dx


POOL_HINT = ("out[n, c, i, j] is the maximum of x[n, c, s·i : s·i + k, s·j : s·j + k]; there "
             "are H' = ⌊(H − k)/s⌋ + 1 windows down (likewise across): windows that do not fit "
             "are dropped, and windows overlap when s < k.")


def _pool_out(ctx: Context, x, k, s, what: str) -> np.ndarray:
    out, _ = _forward(ctx, "maxpool2d_forward", x, k, s)
    out = as_float_array(out, f"out from {what}")
    shape = (x.shape[0], x.shape[1], (x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1)
    check_shape(out, shape, f"out from {what}", POOL_HINT)
    return out


def pool_forward_known(ctx: Context) -> None:
    x = np.array([[1.0, 3.0, 2.0, 0.0], [4.0, -1.0, 5.0, 6.0],
                  [0.0, 2.0, -3.0, 1.0], [7.0, 1.0, 2.0, 2.0]]).reshape(1, 1, 4, 4)
    what = f"maxpool2d_forward(x={fmt(x[0, 0])} as (1, 1, 4, 4), kernel=2, stride=2)"
    compare(_pool_out(ctx, x, 2, 2, what), [[[[4.0, 6.0], [7.0, 2.0]]]], f"out from {what}",
            hidden=False, hint=POOL_HINT)


def pool_forward_overlap_and_floor(ctx: Context) -> None:
    for shape, k, s in [((2, 3, 5, 5), 3, 2), ((1, 2, 7, 6), 2, 2), ((2, 1, 6, 7), 2, 3)]:
        x = ctx.rng.normal(size=shape)
        what = f"maxpool2d_forward for x of shape {shape}, kernel={k}, stride={s}"
        compare(_pool_out(ctx, x, k, s, what), pool_oracle(x, k, s)[0], f"out from {what}",
                hidden=False, hint=POOL_HINT)


# (shape, kernel, stride, integer-valued input with ties?)
POOL_CASES = [((2, 3, 8, 8), 2, 2, False), ((1, 2, 7, 5), 3, 2, True), ((3, 1, 6, 9), 2, 3, True),
              ((2, 2, 5, 5), 1, 1, False), ((1, 1, 9, 4), 3, 1, True), ((2, 4, 6, 6), 4, 2, True),
              ((1, 3, 5, 7), 2, 1, True)]


def _pool_input(rng, shape, ties: bool) -> np.ndarray:
    return rng.integers(-2, 3, size=shape).astype(np.float64) if ties else rng.normal(size=shape)


def pool_forward_hidden(ctx: Context) -> None:
    ref = ctx.ref("maxpool2d_forward")
    for shape, k, s, ties in POOL_CASES:
        x = _pool_input(ctx.rng, shape, ties)
        what = f"maxpool2d_forward for x of shape {shape}, kernel={k}, stride={s}"
        compare(_pool_out(ctx, x, k, s, what), ref(x, k, s)[0], f"out from {what}", hidden=True)


def pool_forward_hidden_torch(ctx: Context) -> None:
    for shape, k, s, ties in POOL_CASES[::-1]:
        x = _pool_input(ctx.rng, shape, ties)
        what = f"maxpool2d_forward for x of shape {shape}, kernel={k}, stride={s} (against torch)"
        compare(_pool_out(ctx, x, k, s, what), TF.max_pool2d(_t(x), k, s).numpy(),
                f"out from {what}", hidden=True)


# ---------------------------------------------------------------------------------------------
# maxpool2d_backward

POOL_GRAD_HINT = ("Each window sends its dout to exactly ONE input position: its first maximum "
                  "in row-major order (np.argmax of the flattened window), also when several "
                  "entries tie; where windows overlap, an entry that is the maximum of several "
                  "windows receives the SUM of their gradients (beware: dx[idx] += dout with "
                  "repeated indices adds only once; use np.add.at or a loop); entries in no "
                  "window get 0.")


def _pool_dx(ctx: Context, x, k, s, dout, what: str) -> np.ndarray:
    _, cache = _cache(ctx, "maxpool2d_forward", "maxpool2d_backward", x, k, s)
    dx = _single_grad(ctx.call("maxpool2d_backward", dout, cache), f"dx ({what})")
    check_shape(dx, x.shape, f"dx ({what})", "dx has the shape of x.")
    return dx


def pool_backward_ties(ctx: Context) -> None:
    x = np.array([[1.0, 1.0, 0.0, 2.0], [1.0, 0.0, 2.0, 2.0],
                  [3.0, 0.0, 5.0, 5.0], [0.0, 3.0, 5.0, 5.0]]).reshape(1, 1, 4, 4)
    dout = np.array([[[[10.0, 20.0], [30.0, 40.0]]]])
    expected = np.array([[10.0, 0.0, 0.0, 20.0], [0.0, 0.0, 0.0, 0.0],
                         [30.0, 0.0, 40.0, 0.0], [0.0, 0.0, 0.0, 0.0]]).reshape(1, 1, 4, 4)
    what = f"x={fmt(x[0, 0])} as (1, 1, 4, 4), kernel=2, stride=2, dout={fmt(dout[0, 0])}"
    compare(_pool_dx(ctx, x, 2, 2, dout, what), expected, f"dx ({what})", hidden=False,
            hint=POOL_GRAD_HINT)


def pool_backward_overlap(ctx: Context) -> None:
    x = np.array([[0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 9.0, 0.0, 0.0],
                  [0.0, 0.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0, 3.0],
                  [0.0, 0.0, 0.0, 0.0, 0.0]]).reshape(1, 1, 5, 5)
    dout = np.array([[[[1.0, 2.0], [4.0, 8.0]]]])
    what = f"x={fmt(x[0, 0])} as (1, 1, 5, 5), kernel=3, stride=2, dout={fmt(dout[0, 0])}"
    compare(_pool_dx(ctx, x, 3, 2, dout, what), pool_grad_oracle(x, 3, 2, dout), f"dx ({what})",
            hidden=False, hint=POOL_GRAD_HINT)


def pool_backward_random(ctx: Context) -> None:
    for shape, k, s in [((2, 2, 7, 6), 2, 2), ((1, 3, 6, 6), 3, 1), ((2, 1, 5, 8), 2, 3)]:
        x = ctx.rng.normal(size=shape)
        dout = ctx.rng.normal(size=(shape[0], shape[1], (shape[2] - k) // s + 1,
                                    (shape[3] - k) // s + 1))
        what = f"x of shape {shape}, kernel={k}, stride={s}"
        compare(_pool_dx(ctx, x, k, s, dout, what), pool_grad_oracle(x, k, s, dout),
                f"dx ({what})", hidden=False, hint=POOL_GRAD_HINT)


def _pool_backward_hidden(ctx: Context, expected_of, label: str) -> None:
    for shape, k, s, ties in POOL_CASES:
        x = _pool_input(ctx.rng, shape, ties)
        dout = ctx.rng.normal(size=(shape[0], shape[1], (shape[2] - k) // s + 1,
                                    (shape[3] - k) // s + 1))
        what = f"x of shape {shape}, kernel={k}, stride={s}{', with ties' if ties else ''}{label}"
        compare(_pool_dx(ctx, x, k, s, dout, what), expected_of(x, k, s, dout), f"dx ({what})",
                hidden=True, hint=POOL_GRAD_HINT)


def pool_backward_hidden(ctx: Context) -> None:
    ref_f, ref_b = ctx.ref("maxpool2d_forward"), ctx.ref("maxpool2d_backward")
    _pool_backward_hidden(ctx, lambda x, k, s, d: ref_b(d, ref_f(x, k, s)[1]), "")


def pool_backward_hidden_torch(ctx: Context) -> None:
    _pool_backward_hidden(
        ctx, lambda x, k, s, d: _grads_of(lambda a: TF.max_pool2d(a, k, s), d, x)[1][0],
        ", against torch.autograd")


# ---------------------------------------------------------------------------------------------
# receptive_field

RF_HINT = ("Start from r = 1 and jump j = 1 (input pixels between neighbouring units); for each "
           "layer from the input upwards, r += d·(k − 1)·j, THEN j *= s. A layer's own stride "
           "does not enlarge its own receptive field, but it multiplies the growth of every "
           "later layer.")


def _rf(ctx: Context, layers: list, what: str) -> float:
    got = as_scalar(ctx.call("receptive_field", layers), what)
    return got


def _rf_expected(layers) -> int:
    r, j = 1, 1
    for layer in layers:
        k, s = layer[0], layer[1]
        d = layer[2] if len(layer) > 2 else 1
        r += d * (k - 1) * j
        j *= s
    return r


def rf_known(ctx: Context) -> None:
    for layers in ([], [(3, 1)], [(3, 1), (3, 1)], [(7, 2)], [(3, 2), (3, 1)],
                   [(3, 1), (2, 2), (3, 1), (2, 2), (3, 1)], [(11, 4), (3, 2), (5, 1)]):
        what = f"receptive_field({layers})"
        compare(_rf(ctx, list(layers), what), _rf_expected(layers), what, hidden=False,
                hint=RF_HINT)


def rf_dilation(ctx: Context) -> None:
    for layers in ([(3, 1, 2)], [(3, 1, 1), (3, 1, 2), (3, 1, 4)], [(3, 2), (3, 1, 2)]):
        what = f"receptive_field({list(layers)})"
        compare(_rf(ctx, list(layers), what), _rf_expected(layers), what, hidden=False,
                hint=RF_HINT + " A dilated kernel spans d·(k − 1) + 1 pixels of its input.")


def _random_stack(rng: np.random.Generator) -> list:
    layers = []
    for _ in range(int(rng.integers(1, 7))):
        k, s = int(rng.integers(1, 8)), int(rng.integers(1, 4))
        if rng.random() < 0.4:
            layers.append((k, s, int(rng.integers(1, 5))))
        else:
            layers.append((k, s))
    return layers


def rf_hidden(ctx: Context) -> None:
    ref = ctx.ref("receptive_field")
    for _ in range(40):
        layers = _random_stack(ctx.rng)
        what = f"receptive_field for a hidden stack of {len(layers)} layers"
        compare(_rf(ctx, layers, what), ref(layers), what, hidden=True, hint=RF_HINT)


def _rf_by_autograd(layers) -> int:
    """The receptive field measured: which input pixels does the top unit depend on?"""
    size = 1
    for layer in reversed(layers):  # the input length that gives one output unit
        k, s = layer[0], layer[1]
        d = layer[2] if len(layer) > 2 else 1
        size = (size - 1) * s + d * (k - 1) + 1
    x = torch.ones(1, 1, 1, size, dtype=torch.float64, requires_grad=True)
    h = x
    for layer in layers:
        k, s = layer[0], layer[1]
        d = layer[2] if len(layer) > 2 else 1
        h = TF.conv2d(h, torch.ones(1, 1, 1, k, dtype=torch.float64), stride=(1, s),
                      dilation=(1, d))
    h.sum().backward()
    touched = np.flatnonzero(x.grad.numpy().ravel())
    return int(touched[-1] - touched[0] + 1)


def rf_hidden_autograd(ctx: Context) -> None:
    for _ in range(8):
        layers = _random_stack(ctx.rng)
        what = (f"receptive_field for a hidden stack of {len(layers)} layers (measured with "
                f"torch.autograd)")
        compare(_rf(ctx, layers, what), _rf_by_autograd(layers), what, hidden=True,
                hint=RF_HINT)


# ---------------------------------------------------------------------------------------------
# batchnorm_forward


def bn_oracle(x, gamma, beta, eps) -> np.ndarray:
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    var = ((x - mu) ** 2).mean(axis=(0, 2, 3), keepdims=True)
    return gamma[None, :, None, None] * (x - mu) / np.sqrt(var + eps) + beta[None, :, None, None]


BN_HINT = ("Per channel c: μ_c and the BIASED variance σ²_c (divide by M = N·H·W, not M − 1) "
           "over the batch and both spatial axes (axis=(0, 2, 3)); x̂ = (x − μ_c)/√(σ²_c + ε), "
           "with ε INSIDE the square root; out = γ_c·x̂ + β_c.")


def _bn_case(rng, shape, near_constant: bool = False) -> tuple:
    x = rng.normal(size=shape) * rng.uniform(0.5, 3.0, size=(1, shape[1], 1, 1)) \
        + rng.normal(size=(1, shape[1], 1, 1)) * 2
    if near_constant:
        x[:, 0] = 1.5 + 1e-4 * rng.normal(size=x[:, 0].shape)
    return x, rng.uniform(0.5, 2.0, size=shape[1]), rng.normal(size=shape[1])


def _bn_out(ctx: Context, x, gamma, beta, eps, what: str) -> np.ndarray:
    out, _ = _forward(ctx, "batchnorm_forward", x, gamma, beta, eps)
    out = as_float_array(out, f"out from {what}")
    check_shape(out, x.shape, f"out from {what}", "out has the shape of x.")
    return out


def bn_forward_standardises(ctx: Context) -> None:
    x, _, _ = _bn_case(ctx.rng, (4, 3, 2, 2))
    c = x.shape[1]
    what = "batchnorm_forward for x of shape (4, 3, 2, 2), gamma = 1, beta = 0, eps = 1e-5"
    out = _bn_out(ctx, x, np.ones(c), np.zeros(c), 1e-5, what)
    compare(out, bn_oracle(x, np.ones(c), np.zeros(c), 1e-5), f"out from {what}", hidden=False,
            atol=1e-9, hint=BN_HINT + " With γ = 1, β = 0, every channel of out has mean 0 "
                                      "and variance ≈ 1 over (N, H, W).")


def bn_forward_known(ctx: Context) -> None:
    x = np.array([1.0, 2.0, 3.0, 6.0, -1.0, 0.0, 1.0, 4.0]).reshape(2, 2, 2, 1)
    gamma, beta, eps = np.array([2.0, 0.5]), np.array([1.0, -1.0]), 0.1
    what = (f"batchnorm_forward(x={fmt(x.ravel())} as (2, 2, 2, 1), gamma={fmt(gamma)}, "
            f"beta={fmt(beta)}, eps=0.1)")
    compare(_bn_out(ctx, x, gamma, beta, eps, what), bn_oracle(x, gamma, beta, eps),
            f"out from {what}", hidden=False, atol=1e-9, hint=BN_HINT)


def bn_forward_eps(ctx: Context) -> None:
    x, gamma, beta = _bn_case(ctx.rng, (3, 2, 3, 2), near_constant=True)
    what = ("batchnorm_forward for x of shape (3, 2, 3, 2) whose channel 0 is nearly constant, "
            "eps = 0.01")
    compare(_bn_out(ctx, x, gamma, beta, 0.01, what), bn_oracle(x, gamma, beta, 0.01),
            f"out from {what}", hidden=False, atol=1e-9,
            hint=BN_HINT + " For a nearly constant channel σ² ≈ 0 and ε decides the scale.")


# (shape, eps, near-constant channel 0)
BN_CASES = [((8, 3, 4, 4), 1e-5, False), ((1, 2, 5, 3), 1e-5, False), ((6, 1, 2, 2), 1e-3, True),
            ((2, 4, 1, 1), 1e-5, False), ((3, 5, 3, 7), 0.1, True), ((5, 2, 6, 1), 1e-2, True)]


def bn_forward_hidden(ctx: Context) -> None:
    ref = ctx.ref("batchnorm_forward")
    for shape, eps, flat in BN_CASES:
        x, gamma, beta = _bn_case(ctx.rng, shape, flat)
        what = f"batchnorm_forward for x of shape {shape}"
        compare_scaled(_bn_out(ctx, x, gamma, beta, eps, what), ref(x, gamma, beta, eps)[0],
                       f"out from {what}", hidden=True, tol=1e-9, hint=BN_HINT)


def bn_forward_hidden_torch(ctx: Context) -> None:
    for shape, eps, flat in BN_CASES[::-1]:
        x, gamma, beta = _bn_case(ctx.rng, shape, flat)
        what = f"batchnorm_forward for x of shape {shape} (against torch, training mode)"
        expected = TF.batch_norm(_t(x), None, None, _t(gamma), _t(beta), training=True,
                                 eps=eps).numpy()
        compare_scaled(_bn_out(ctx, x, gamma, beta, eps, what), expected, f"out from {what}",
                       hidden=True, tol=1e-9, hint=BN_HINT)


# ---------------------------------------------------------------------------------------------
# batchnorm_backward

BN_GRAD_HINTS = {
    "dx": "dx = (1/√(σ² + ε))·(g − mean(g) − x̂·mean(g·x̂)) per channel, with g = dout·γ and the "
          "means over (N, H, W): μ and σ² depend on every x of the channel, which is where the "
          "two 1/M terms come from. Without them (dx = g/√(σ² + ε)) the gradient is wrong.",
    "dgamma": "dgamma[c] = Σ over n, h, w of dout·x̂ (x̂ the normalised input, not x).",
    "dbeta": "dbeta[c] = Σ over n, h, w of dout (summed, not averaged).",
}


def _bn_grads(ctx: Context, x, gamma, beta, eps, dout, what: str) -> tuple:
    _, cache = _cache(ctx, "batchnorm_forward", "batchnorm_backward", x, gamma, beta, eps)
    got = unpack(ctx.call("batchnorm_backward", dout, cache), 3, f"`batchnorm_backward` ({what})",
                 "(dx, dgamma, dbeta)")
    arrays = []
    for name, g, like in zip(("dx", "dgamma", "dbeta"), got, (x, gamma, beta)):
        g = as_float_array(g, f"{name} ({what})")
        check_shape(g, like.shape, f"{name} ({what})", BN_GRAD_HINTS[name])
        arrays.append(g)
    return tuple(arrays)


def _bn_backward_public(ctx: Context, shape, eps, flat: bool) -> None:
    x, gamma, beta = _bn_case(ctx.rng, shape, flat)
    dout = ctx.rng.normal(size=shape)
    what = f"x of shape {shape}, eps={eps:g}" + (", channel 0 nearly constant" if flat else "")
    got = _bn_grads(ctx, x, gamma, beta, eps, dout, what)

    def loss(a, g, b):
        return float(np.sum(dout * bn_oracle(a, g, b, eps)))
    numeric = (central_difference_grad(lambda v: loss(v, gamma, beta), x, h=1e-6),
               central_difference_grad(lambda v: loss(x, v, beta), gamma, h=1e-6),
               central_difference_grad(lambda v: loss(x, gamma, v), beta, h=1e-6))
    for name, g, num in zip(("dx", "dgamma", "dbeta"), got, numeric):
        _gradient_check(g, num, f"{name} ({what})", BN_GRAD_HINTS[name], tol=1e-5)


def bn_backward_gradcheck(ctx: Context) -> None:
    _bn_backward_public(ctx, (4, 2, 3, 2), 1e-5, False)


def bn_backward_small_batch(ctx: Context) -> None:
    _bn_backward_public(ctx, (2, 3, 2, 1), 0.1, False)


def bn_backward_near_constant(ctx: Context) -> None:
    _bn_backward_public(ctx, (3, 2, 2, 2), 0.01, True)


def bn_backward_hidden(ctx: Context) -> None:
    ref_f, ref_b = ctx.ref("batchnorm_forward"), ctx.ref("batchnorm_backward")
    for shape, eps, flat in BN_CASES:
        x, gamma, beta = _bn_case(ctx.rng, shape, flat)
        dout = ctx.rng.normal(size=shape)
        what = f"x of shape {shape}"
        got = _bn_grads(ctx, x, gamma, beta, eps, dout, what)
        expected = ref_b(dout, ref_f(x, gamma, beta, eps)[1])
        for name, g, e in zip(("dx", "dgamma", "dbeta"), got, expected):
            compare_scaled(g, e, f"{name} ({what})", hidden=True, tol=1e-8,
                           hint=BN_GRAD_HINTS[name])


def bn_backward_hidden_torch(ctx: Context) -> None:
    for shape, eps, flat in BN_CASES[::-1]:
        x, gamma, beta = _bn_case(ctx.rng, shape, flat)
        dout = ctx.rng.normal(size=shape)
        what = f"x of shape {shape}, against torch.autograd"
        got = _bn_grads(ctx, x, gamma, beta, eps, dout, what)
        _, expected = _grads_of(lambda a, g, b: TF.batch_norm(a, None, None, g, b, training=True,
                                                              eps=eps), dout, x, gamma, beta)
        for name, g, e in zip(("dx", "dgamma", "dbeta"), got, expected):
            compare_scaled(g, e, f"{name} ({what})", hidden=True, tol=1e-8,
                           hint=BN_GRAD_HINTS[name])


# ---------------------------------------------------------------------------------------------
# fuse_conv_bn

FUSE_HINT = ("With a = γ/√(running_var + ε) (ε inside the square root): w_fused[f] = a[f]·w[f] "
             "(scale each OUTPUT filter, axis 0 of w) and b_fused = a·(b − running_mean) + β — "
             "the conv bias b goes through the batch norm too.")


def _bn_eval(y, gamma, beta, mean, var, eps) -> np.ndarray:
    sh = (1, -1, 1, 1)
    return ((y - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + eps) * gamma.reshape(sh)
            + beta.reshape(sh))


def _fuse_case(rng, f, c, k, tiny_var: bool = False) -> tuple:
    w, b = rng.normal(size=(f, c, k, k)), rng.normal(size=f)
    gamma, beta = rng.uniform(0.5, 2.0, size=f), rng.normal(size=f)
    mean, var = rng.normal(size=f), rng.uniform(0.2, 3.0, size=f)
    if tiny_var:
        var[0] = 1e-7
    return w, b, gamma, beta, mean, var


def _fused(ctx: Context, args: tuple, eps, what: str) -> tuple:
    w = args[0]
    got = unpack(ctx.call("fuse_conv_bn", *args, eps=eps), 2, f"`fuse_conv_bn` ({what})",
                 "(w_fused, b_fused)")
    wf = as_float_array(got[0], f"w_fused ({what})")
    bf = as_float_array(got[1], f"b_fused ({what})")
    check_shape(wf, w.shape, f"w_fused ({what})", "w_fused has the shape of w.")
    check_shape(bf, (w.shape[0],), f"b_fused ({what})", "b_fused has one entry per filter.")
    return wf, bf


def fuse_known(ctx: Context) -> None:
    w = np.array([[[[2.0]]], [[[-1.0]]]])
    b, gamma, beta = np.array([1.0, 0.0]), np.array([3.0, 1.0]), np.array([0.5, -2.0])
    mean, var = np.array([2.0, 1.0]), np.array([4.0, 0.25])
    what = (f"fuse_conv_bn for 1×1 filters w={fmt(w.ravel())}, b={fmt(b)}, gamma={fmt(gamma)}, "
            f"beta={fmt(beta)}, running_mean={fmt(mean)}, running_var={fmt(var)}, eps=0")
    wf, bf = _fused(ctx, (w, b, gamma, beta, mean, var), 0.0, what)
    a = gamma / np.sqrt(var)
    compare(wf, w * a[:, None, None, None], f"w_fused ({what})", hidden=False, hint=FUSE_HINT)
    compare(bf, a * (b - mean) + beta, f"b_fused ({what})", hidden=False, hint=FUSE_HINT)


def fuse_equals_conv_then_bn(ctx: Context) -> None:
    for f, c, k, eps, tiny in [(3, 2, 3, 1e-5, False), (2, 4, 1, 0.1, True)]:
        args = _fuse_case(ctx.rng, f, c, k, tiny)
        w, b, gamma, beta, mean, var = args
        what = f"fuse_conv_bn for w of shape {w.shape}, eps={eps:g}"
        wf, bf = _fused(ctx, args, eps, what)
        x = ctx.rng.normal(size=(2, c, 5, 5))
        expected = _bn_eval(conv_oracle(x, w, b, 1, 1), gamma, beta, mean, var, eps)
        compare_scaled(conv_oracle(x, wf, bf, 1, 1), expected,
                       f"the fused convolution ({what}) applied to an x of shape {x.shape}",
                       hidden=False, tol=1e-9,
                       hint=FUSE_HINT + " The fused conv must equal conv followed by eval-mode "
                                        "batch norm, BN(y) = γ·(y − running_mean)/√(running_var "
                                        "+ ε) + β.")


FUSE_CASES = [(4, 3, 3, 1e-5, False), (1, 1, 1, 1e-5, False), (5, 2, 1, 1e-3, True),
              (2, 6, 5, 0.1, True), (3, 1, 2, 1e-5, False)]


def fuse_hidden(ctx: Context) -> None:
    ref = ctx.ref("fuse_conv_bn")
    for f, c, k, eps, tiny in FUSE_CASES:
        args = _fuse_case(ctx.rng, f, c, k, tiny)
        what = f"fuse_conv_bn for w of shape {(f, c, k, k)}"
        wf, bf = _fused(ctx, args, eps, what)
        rw, rb = ref(*args, eps=eps)
        compare_scaled(wf, rw, f"w_fused ({what})", hidden=True, tol=1e-10, hint=FUSE_HINT)
        compare_scaled(bf, rb, f"b_fused ({what})", hidden=True, tol=1e-10, hint=FUSE_HINT)


def fuse_hidden_torch(ctx: Context) -> None:
    for f, c, k, eps, tiny in FUSE_CASES[::-1]:
        args = _fuse_case(ctx.rng, f, c, k, tiny)
        w, b, gamma, beta, mean, var = args
        what = f"fuse_conv_bn for w of shape {(f, c, k, k)} (against torch conv2d + batch_norm)"
        wf, bf = _fused(ctx, args, eps, what)
        x = _t(ctx.rng.normal(size=(2, c, 6, 5)))
        expected = TF.batch_norm(TF.conv2d(x, _t(w), _t(b), padding=k // 2), _t(mean), _t(var),
                                 _t(gamma), _t(beta), training=False, eps=eps).numpy()
        got = TF.conv2d(x, _t(wf), _t(bf), padding=k // 2).numpy()
        compare_scaled(got, expected, f"the fused convolution ({what})", hidden=True, tol=1e-9,
                       hint=FUSE_HINT)


# ---------------------------------------------------------------------------------------------
# dropout_forward

DROP_HINT = ("Inverted dropout: DROP each entry with probability p (keep it with probability "
             "1 − p), e.g. keep = rng.random(x.shape) >= p, and multiply the survivors by "
             "1/(1 − p) during training, so that E[out] = x; with train=False return x unchanged.")


def _drop_out(ctx: Context, x, p, seed, what: str, **kwargs) -> np.ndarray:
    out, _ = _forward(ctx, "dropout_forward", x, p, np.random.default_rng(seed), **kwargs)
    out = as_float_array(out, f"out from {what}")
    check_shape(out, x.shape, f"out from {what}", "Dropout keeps the shape of x.")
    if not np.all(np.isfinite(out)):
        raise CheckFailure(f"out from {what} contains nan or inf. {DROP_HINT}")
    return out


def _drop_statistics(out, x, p, what: str, hidden: bool) -> None:
    """Every entry is 0 or x/(1 − p), and the fraction of zeros is p up to sampling error."""
    dropped = out == 0
    kept = ~dropped
    scaled = x[kept] / (1 - p)
    if not np.allclose(out[kept], scaled, rtol=1e-12, atol=0):
        ratio = out[kept] / x[kept]
        seen = np.unique(np.round(ratio, 6))[:3]
        detail = ("" if hidden else
                  f" (you multiplied by {fmt(seen)}; 1/(1 − p) = {1 / (1 - p):.6g})")
        raise CheckFailure(f"{what}: the entries that are kept should be x/(1 − p) exactly, but "
                           f"they are not{detail}. {DROP_HINT}")
    n = out.size
    frac = float(dropped.mean())
    sd = math.sqrt(p * (1 - p) / n)
    if abs(frac - p) > 5 * sd + 1e-12:
        shown = "" if hidden else f" with p = {p:g}"
        raise CheckFailure(f"{what}: {frac:.4f} of the entries were dropped{shown}, but each "
                           f"entry should be dropped with probability p (expected "
                           f"{'p' if hidden else f'{p:g}'} ± {5 * sd:.2g}). p is the probability "
                           f"of DROPPING; {1 - p if not hidden else '1 − p'} is the probability "
                           f"of keeping. {DROP_HINT}")


def drop_statistics(ctx: Context) -> None:
    x = np.ones((400, 250))
    for p in (0.3, 0.8):
        what = f"dropout_forward(x = ones((400, 250)), p={p}, rng)"
        out = _drop_out(ctx, x, p, 11, what)
        _drop_statistics(out, x, p, what, hidden=False)
        if abs(float(out.mean()) - 1.0) > 0.05:
            raise CheckFailure(f"{what}: the mean of out is {float(out.mean()):.4f}, but inverted "
                               f"dropout preserves the expectation (≈ 1 here). {DROP_HINT}")


def drop_eval_identity(ctx: Context) -> None:
    x = ctx.rng.normal(size=(5, 3, 2))
    for p in (0.5, 0.9):
        what = f"dropout_forward(x of shape (5, 3, 2), p={p}, rng, train=False)"
        compare(_drop_out(ctx, x, p, 3, what, train=False), x, f"out from {what}", hidden=False,
                rtol=0, atol=0, hint="In evaluation mode (train=False) dropout is the identity: "
                                     "no mask and no scaling (inverted dropout already scaled "
                                     "during training).")
    what = "dropout_forward(x of shape (5, 3, 2), p=0, rng) (training)"
    compare(_drop_out(ctx, x, 0.0, 3, what), x, f"out from {what}", hidden=False, rtol=0, atol=0,
            hint="With p = 0 nothing is dropped and 1/(1 − p) = 1.")


def drop_uses_rng(ctx: Context) -> None:
    x = ctx.rng.normal(size=(30, 40)) + 5.0
    a = _drop_out(ctx, x, 0.5, 7, "dropout_forward(x, 0.5, np.random.default_rng(7))")
    b = _drop_out(ctx, x, 0.5, 7, "dropout_forward(x, 0.5, np.random.default_rng(7)) (again)")
    if not np.array_equal(a, b):
        raise CheckFailure("dropout_forward(x, 0.5, rng) gave different outputs for two "
                           "generators in the same state (np.random.default_rng(7) both times). "
                           "Draw the mask from `rng` (rng.random(x.shape) or similar), not from "
                           "np.random.* or a generator you create yourself.")
    c = _drop_out(ctx, x, 0.5, 8, "dropout_forward(x, 0.5, np.random.default_rng(8))")
    if np.array_equal(a, c):
        raise CheckFailure("dropout_forward(x, 0.5, rng) gave the same output for generators "
                           "seeded 7 and 8: use the `rng` you are given.")


def drop_hidden_statistics(ctx: Context) -> None:
    for shape, p in [((200, 300), 0.1), ((64, 8, 6, 6), 0.5), ((1, 50000), 0.75),
                     ((500, 3, 2), 0.05)]:
        x = ctx.rng.normal(size=shape)
        x[x == 0] = 1.0
        what = f"dropout_forward for x of shape {shape} on a hidden case"
        out = _drop_out(ctx, x, p, int(ctx.rng.integers(2**31)), what)
        _drop_statistics(out, x, p, what, hidden=True)
        if shape[0] > 1:
            pattern = (out == 0).reshape(shape[0], -1)
            if np.all(pattern == pattern[:1]):
                raise CheckFailure(f"{what}: every example was given the same mask. Draw one "
                                   f"independent decision per ENTRY: the mask has the full shape "
                                   f"of x, batch axis included.")


def drop_hidden_modes(ctx: Context) -> None:
    ref = ctx.ref("dropout_forward")
    for shape, p in [((1, 1), 0.3), ((7, 2, 3, 3), 0.9), ((4, 5), 0.0)]:
        x = ctx.rng.normal(size=shape)
        what = f"dropout_forward for x of shape {shape}, train=False, on a hidden case"
        compare(_drop_out(ctx, x, p, 5, what, train=False), ref(x, p, None, train=False)[0],
                f"out from {what}", hidden=True, rtol=0, atol=0,
                hint="With train=False dropout is the identity.")
    x = ctx.rng.normal(size=(6, 4))
    what = "dropout_forward with p = 0 in training mode, on a hidden case"
    compare(_drop_out(ctx, x, 0.0, 9, what), x, f"out from {what}", hidden=True, rtol=0, atol=0,
            hint="With p = 0 nothing is dropped and 1/(1 − p) = 1.")
    seed = int(ctx.rng.integers(2**31))
    a, b = (_drop_out(ctx, x, 0.4, seed, "dropout_forward on a hidden case") for _ in range(2))
    if not np.array_equal(a, b):
        raise CheckFailure("dropout_forward gave different outputs for two generators in the "
                           "same state: draw the mask from `rng`.")


# ---------------------------------------------------------------------------------------------
# dropout_backward

DROP_GRAD_HINT = ("The backward multiplies dout by the SAME scaled mask the forward used "
                  "(kept entries: 1/(1 − p), dropped: 0); keep that mask in the cache instead of "
                  "drawing a new one. With train=False, dx = dout.")


def _drop_backward_case(ctx: Context, x, p, seed, what: str, hidden: bool, **kwargs) -> None:
    out, cache = _cache(ctx, "dropout_forward", "dropout_backward", x, p,
                        np.random.default_rng(seed), **kwargs)
    try:
        out = np.array(out, dtype=np.float64)
        ok = out.shape == x.shape
    except Exception:  # noqa: BLE001 - reported below
        ok = False
    if not ok:
        raise CheckFailure(f"`dropout_backward` is checked against the mask your "
                           f"`dropout_forward` applied, but its out ({what}) is not an array of "
                           f"the shape of x: fix dropout_forward first.")
    dout = ctx.rng.normal(size=x.shape)
    dx = _single_grad(ctx.call("dropout_backward", dout, cache), f"dx ({what})")
    check_shape(dx, x.shape, f"dx ({what})", "dx has the shape of x.")
    # The derivative of the forward that was actually run: out = x · mask, so dx = dout · mask.
    compare(dx, dout * out / x, f"dx ({what})", hidden=hidden, rtol=1e-10, atol=1e-12,
            hint=DROP_GRAD_HINT)


def drop_backward_train(ctx: Context) -> None:
    for p in (0.3, 0.6):
        x = ctx.rng.uniform(1.0, 2.0, size=(40, 25)) * ctx.rng.choice([-1.0, 1.0], size=(40, 25))
        _drop_backward_case(ctx, x, p, 21, f"x of shape (40, 25), p={p}", hidden=False)


def drop_backward_eval(ctx: Context) -> None:
    x = ctx.rng.uniform(1.0, 2.0, size=(3, 4, 2))
    _drop_backward_case(ctx, x, 0.5, 4, "x of shape (3, 4, 2), p=0.5, train=False",
                        hidden=False, train=False)


def drop_backward_hidden(ctx: Context) -> None:
    for shape, p, train in [((1, 7), 0.2, True), ((16, 3, 5, 5), 0.5, True),
                            ((100, 10), 0.9, True), ((4, 6), 0.7, False), ((5, 5), 0.0, True)]:
        x = ctx.rng.uniform(0.5, 2.0, size=shape) * ctx.rng.choice([-1.0, 1.0], size=shape)
        _drop_backward_case(ctx, x, p, int(ctx.rng.integers(2**31)),
                            f"x of shape {shape}, train={train}", hidden=True, train=train)


# ---------------------------------------------------------------------------------------------

ASSIGNMENT = Assignment(
    name="04_cnn",
    title="Convolutional networks",
    imports=("torch", "torch.nn.functional"),
    functions=(
        GradedFunction(
            "conv_output_size", OUTPUT_SIZE,
            public=(("known values", size_known),
                    ("dilation", size_dilation),
                    ("keyword arguments", size_keywords)),
            hidden=(("random sizes vs reference", size_hidden),
                    ("random sizes vs torch", size_hidden_torch)),
            public_points=1, hidden_points=1),
        GradedFunction(
            "conv2d_forward", IM2COL,
            public=(("known values, asymmetric kernel", conv_forward_known),
                    ("channels, filters and biases", conv_forward_channels),
                    ("stride and padding", conv_forward_stride_padding)),
            hidden=(("edge cases vs reference", conv_forward_hidden),
                    ("edge cases vs torch conv2d", conv_forward_hidden_torch)),
            public_points=2, hidden_points=2),
        GradedFunction(
            "conv2d_backward", BACKWARD,
            public=(("gradients vs central differences", conv_backward_simple),
                    ("stride 2, padding 1", conv_backward_stride_padding),
                    ("overlapping windows, padding 2", conv_backward_overlap)),
            hidden=(("edge cases vs reference", conv_backward_hidden),
                    ("edge cases vs torch.autograd", conv_backward_hidden_torch)),
            public_points=2, hidden_points=3),
        GradedFunction(
            "maxpool2d_forward", POOLING,
            public=(("known values", pool_forward_known),
                    ("overlapping and non-tiling windows", pool_forward_overlap_and_floor)),
            hidden=(("edge cases vs reference", pool_forward_hidden),
                    ("edge cases vs torch", pool_forward_hidden_torch)),
            public_points=1, hidden_points=1),
        GradedFunction(
            "maxpool2d_backward", POOLING,
            public=(("ties: one position per window", pool_backward_ties),
                    ("overlapping windows add", pool_backward_overlap),
                    ("random inputs", pool_backward_random)),
            hidden=(("ties and edge cases vs reference", pool_backward_hidden),
                    ("ties and edge cases vs torch.autograd", pool_backward_hidden_torch)),
            public_points=1, hidden_points=2),
        GradedFunction(
            "receptive_field", RECEPTIVE,
            public=(("known stacks", rf_known),
                    ("dilated layers", rf_dilation)),
            hidden=(("random stacks vs reference", rf_hidden),
                    ("random stacks measured with autograd", rf_hidden_autograd)),
            public_points=1, hidden_points=1),
        GradedFunction(
            "batchnorm_forward", BATCHNORM,
            public=(("standardises each channel", bn_forward_standardises),
                    ("known values, eps = 0.1", bn_forward_known),
                    ("near-constant channel", bn_forward_eps)),
            hidden=(("edge cases vs reference", bn_forward_hidden),
                    ("edge cases vs torch", bn_forward_hidden_torch)),
            public_points=1, hidden_points=2),
        GradedFunction(
            "batchnorm_backward", BN_BACKWARD,
            public=(("gradients vs central differences", bn_backward_gradcheck),
                    ("small batch, eps = 0.1", bn_backward_small_batch),
                    ("near-constant channel", bn_backward_near_constant)),
            hidden=(("edge cases vs reference", bn_backward_hidden),
                    ("edge cases vs torch.autograd", bn_backward_hidden_torch)),
            public_points=2, hidden_points=2),
        GradedFunction(
            "fuse_conv_bn", FUSION,
            public=(("known values", fuse_known),
                    ("fused conv = conv then BN", fuse_equals_conv_then_bn)),
            hidden=(("edge cases vs reference", fuse_hidden),
                    ("edge cases vs torch", fuse_hidden_torch)),
            public_points=1, hidden_points=1),
        GradedFunction(
            "dropout_forward", DROPOUT,
            public=(("drop rate p and scaling 1/(1 − p)", drop_statistics),
                    ("identity in eval mode and for p = 0", drop_eval_identity),
                    ("uses the given rng", drop_uses_rng)),
            hidden=(("statistics on other shapes and rates", drop_hidden_statistics),
                    ("eval mode, p = 0, rng", drop_hidden_modes)),
            public_points=1, hidden_points=2),
        GradedFunction(
            "dropout_backward", DROPOUT,
            public=(("uses the forward's mask", drop_backward_train),
                    ("eval mode", drop_backward_eval)),
            hidden=(("other shapes, rates and modes", drop_backward_hidden),),
            public_points=1, hidden_points=1),
    ),
)

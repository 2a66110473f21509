"""Checks for assignment 04_cnn: the output-size formula, convolution and max-pooling layers
(forward and backward), the receptive field of a stack, batch normalisation (training-mode
forward and backward), folding a batch norm into a convolution, inverted dropout, and a residual
block built from the student's convolution (forward and backward).

Backward functions are checked through the student's own forward: the check calls the forward,
passes the cache it returned back to the backward untouched (its format is the student's choice),
and computes the expected gradients from the inputs it gave the forward, never from the forward's
``out``, so a wrong forward costs only the forward's points. The one exception is dropout, whose
mask cannot be known in advance: its backward must be the derivative of the forward the student
actually ran, ``dx = dout · out / x`` (entries of x are never 0 there).

This module ships to every student (``autograder check``), so it holds no implementation of a
graded function (issue 19, item 8). Public checks use literal values pasted from a one-off
computation (each says how it was obtained), invariants, and PyTorch in float64 (``conv2d``,
``max_pool2d``, ``batch_norm`` and autograd); hidden checks compare with the reference notebook
(``ctx.ref``) and with PyTorch on the edge cases of the chapter: 1×1 kernels, strides that do not
divide the input, odd and even sizes, padding larger than 1, one channel, one example,
non-square inputs and kernels, dilation in the size formula, non-default eps with near-constant
channels, ties in max pooling and windows that do not tile the input. Hidden messages give
sizes and errors relative to the answer's scale, never inputs or reference values. Dropout masks
cannot be compared with a reference: its checks test the statistics of the mask, the exact
scaling, that the given ``rng`` is used, and eval mode.
"""

from __future__ import annotations

import math

import numpy as np

from ..checks import (CheckFailure, Context, as_float_array, as_scalar, check_shape, compare,
                      compare_scaled, fmt, single_gradient, unpack)
from ..spec import Assignment, GradedFunction, lazy_module
from ._shared import (agree, cache_of, forward, gradient_check, grader_work, grads_of,
                      sections)
from ._shared import t64 as _t

# Imported on first use; ASSIGNMENT.imports has the grading worker import it before any check
# runs, so that no check's time limit pays for it.
torch = lazy_module("torch")
TF = lazy_module("torch.nn.functional")

PAGE = "chapters/04_cnn"
_section = sections(PAGE)

OUTPUT_SIZE = _section("The output size", "sec-cnn-output-size")
IM2COL = _section("Convolution as a matrix: im2col", "sec-cnn-im2col")
BACKWARD = _section("The backward pass of a convolution", "sec-cnn-backward")
POOLING = _section("Pooling", "sec-cnn-pooling")
RECEPTIVE = _section("Receptive fields", "sec-cnn-receptive-field")
BATCHNORM = _section("Batch normalisation", "sec-cnn-batchnorm")
BN_BACKWARD = _section("The backward pass of batch normalisation", "sec-cnn-bn-backward")
FUSION = _section("Folding batch norm into a convolution", "sec-cnn-fusion")
DROPOUT = _section("Dropout", "sec-cnn-dropout")
RESIDUAL = _section("Residual connections", "sec-cnn-residual")


# ---------------------------------------------------------------------------------------------
# Helpers

_forward = forward
_grads_of = grads_of


def _cache(ctx: Context, forward_name: str, backward: str, *args, **kwargs):
    return cache_of(ctx, forward_name, backward, *args, **kwargs)




@grader_work
def _conv_t(x, w, b, stride: int = 1, padding: int = 0) -> np.ndarray:
    """torch's conv2d in float64: the expected output of every convolution check."""
    return TF.conv2d(_t(x), _t(w), _t(b), stride=stride, padding=padding).numpy()


@grader_work
def _out_len(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """The output length torch's conv1d gives (a measurement, used for expected shapes)."""
    x = torch.zeros(1, 1, n, dtype=torch.float64)
    w = torch.zeros(1, 1, k, dtype=torch.float64)
    return int(TF.conv1d(x, w, stride=s, padding=p, dilation=d).shape[-1])


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


def _size_call(n, k, s, p, d) -> tuple:
    args, shown = (n, k), f"conv_output_size({n}, {k}"
    if (s, p, d) != (1, 0, 1):
        args, shown = (n, k, s, p, d), shown + f", stride={s}, padding={p}, dilation={d}"
    return args, shown + ")"


# (n, k, s, p, d, the length torch.nn.Conv2d gives), read once off torch and pasted here;
# odd and even inputs with a stride of 2 (7 and 6 both give 3 windows of 3).
SIZE_KNOWN = [(5, 3, 1, 0, 1, 3), (32, 3, 1, 1, 1, 32), (7, 3, 2, 0, 1, 3), (6, 3, 2, 0, 1, 2),
              (28, 5, 1, 2, 1, 28), (8, 1, 3, 0, 1, 3), (227, 11, 4, 0, 1, 55),
              (8, 3, 2, 1, 1, 4), (9, 3, 2, 1, 1, 5)]
SIZE_DILATED = [(10, 3, 1, 0, 2, 6), (9, 3, 2, 2, 3, 4), (16, 2, 1, 1, 4, 14)]


def size_known(ctx: Context) -> None:
    for n, k, s, p, d, expected in SIZE_KNOWN:
        args, what = _size_call(n, k, s, p, d)
        compare(_size(ctx, args, what), expected, what, hidden=False, hint=SIZE_HINT)


def size_dilation(ctx: Context) -> None:
    for n, k, s, p, d, expected in SIZE_DILATED:
        args, what = _size_call(n, k, s, p, d)
        compare(_size(ctx, args, what), expected, what, hidden=False, hint=SIZE_HINT)


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
        agree(_size(ctx, args, what), ref(*args), what, hidden=True, hint=SIZE_HINT)


def size_hidden_torch(ctx: Context) -> None:
    for n, k, s, p, d in _random_size_cases(ctx.rng, 12) + [(7, 1, 2, 0, 1), (5, 5, 1, 0, 1)]:
        expected = _out_len(n, k, s, p, d)
        args, _ = _size_call(n, k, s, p, d)
        what = "conv_output_size on a hidden case (against torch.nn.functional.conv2d)"
        agree(_size(ctx, args, what), expected, what, hidden=True, hint=SIZE_HINT)


# ---------------------------------------------------------------------------------------------
# conv2d_forward


CONV_HINT = ("out[n, f, i, j] = b[f] + Σ_{c,u,v} w[f, c, u, v] · x_pad[n, c, s·i + u, s·j + v]: "
             "a cross-correlation (do not flip the kernel), windows start every `stride` "
             "pixels of the padded input, and windows that do not fit are dropped.")


def _conv_case(rng, n, c, h, wd, f, kh, kw) -> tuple:
    return (rng.normal(size=(n, c, h, wd)), rng.normal(size=(f, c, kh, kw)),
            rng.normal(size=f))


def _conv_out(ctx: Context, x, w, b, stride, padding, what: str,
              defaults: bool = False) -> np.ndarray:
    # defaults=True leaves stride and padding out of the call: their defaults are 1 and 0
    args = (x, w, b) if defaults else (x, w, b, stride, padding)
    out, _ = _forward(ctx, "conv2d_forward", *args)
    out = as_float_array(out, f"out from {what}")
    shape = (x.shape[0], w.shape[0], _out_len(x.shape[2], w.shape[2], stride, padding),
             _out_len(x.shape[3], w.shape[3], stride, padding))
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
    what = (f"conv2d_forward(x={fmt(x[0, 0])} as (1, 1, 4, 4), w={fmt(w[0, 0])}, b=[0.5]) "
            f"(stride and padding left at their defaults, 1 and 0)")
    compare(_conv_out(ctx, x, w, b, 1, 0, what, defaults=True), _conv_t(x, w, b),
            f"out from {what}",
            hidden=False, hint=CONV_HINT + " Here out[0, 0, 0, 0] = 1·1 + 2·2 + 3·5 + 4·6 + 0.5.")


def conv_forward_channels(ctx: Context) -> None:
    x, w, b = _conv_case(ctx.rng, 2, 3, 5, 4, 2, 3, 2)
    what = _conv_what(x, w, 1, 0)
    compare(_conv_out(ctx, x, w, b, 1, 0, what), _conv_t(x, w, b), f"out from {what}",
            hidden=False, hint=CONV_HINT + " Sum over the input channels c; each filter f has "
                                           "its own bias.")


def conv_forward_stride_padding(ctx: Context) -> None:
    for (n, c, h, wd, f, kh, kw), stride, padding in [((2, 2, 6, 5, 3, 3, 3), 2, 1),
                                                       ((1, 1, 7, 7, 1, 3, 3), 3, 2)]:
        x, w, b = _conv_case(ctx.rng, n, c, h, wd, f, kh, kw)
        what = _conv_what(x, w, stride, padding)
        compare(_conv_out(ctx, x, w, b, stride, padding, what),
                _conv_t(x, w, b, stride, padding), f"out from {what}", hidden=False,
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
        agree(_conv_out(ctx, x, w, b, s, p, what), ref(x, w, b, s, p)[0], f"out from {what}",
              hidden=True, rtol=1e-9, atol=1e-9)


def conv_forward_hidden_torch(ctx: Context) -> None:
    for n, c, h, wd, f, kh, kw, s, p in CONV_CASES[::-1]:
        x, w, b = _conv_case(ctx.rng, n, c, h, wd, f, kh, kw)
        what = _conv_what(x, w, s, p) + " (against torch)"
        expected = _conv_t(x, w, b, s, p)
        agree(_conv_out(ctx, x, w, b, s, p, what), expected, f"out from {what}", hidden=True,
              rtol=1e-9, atol=1e-9)


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
    dout = ctx.rng.normal(size=(n, f, _out_len(h, kh, s, p), _out_len(wd, kw, s, p)))
    what = f"x of shape {x.shape}, w of shape {w.shape}, stride={s}, padding={p}"
    got = _conv_grads(ctx, x, w, b, s, p, dout, what)

    expected = grads_of(lambda *a: TF.conv2d(*a, stride=s, padding=p), dout, x, w, b)[1]
    gradient_check(got, expected, ("dx", "dw", "db"), CONV_GRAD_HINTS, what,
                   against="the gradient of torch's conv2d (torch.autograd)")


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
        dout = ctx.rng.normal(size=(n, f, _out_len(h, kh, s, p), _out_len(wd, kw, s, p)))
        what = f"x of shape {x.shape}, w of shape {w.shape}, stride={s}, padding={p}"
        got = _conv_grads(ctx, x, w, b, s, p, dout, what)
        expected = ref_b(dout, ref_f(x, w, b, s, p)[1])
        for name, g, e in zip(("dx", "dw", "db"), got, expected):
            compare_scaled(g, e, f"{name} ({what})", hidden=True, tol=1e-9,
                           hint=CONV_GRAD_HINTS[name])


def conv_backward_hidden_torch(ctx: Context) -> None:
    for n, c, h, wd, f, kh, kw, s, p in CONV_CASES[::-1]:
        x, w, b = _conv_case(ctx.rng, n, c, h, wd, f, kh, kw)
        dout = ctx.rng.normal(size=(n, f, _out_len(h, kh, s, p), _out_len(wd, kw, s, p)))
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


@grader_work
def _pool_t(x, k: int, s: int) -> np.ndarray:
    return TF.max_pool2d(_t(x), k, s).numpy()


@grader_work
def _pool_grad_t(x, k: int, s: int, dout) -> np.ndarray:
    """The gradient torch's max_pool2d sends back (first maximum of each window, as the
    contract; tests/test_properties_04.py checks this on ties)."""
    return grads_of(lambda a: TF.max_pool2d(a, k, s), dout, x)[1][0]


POOL_HINT = ("out[n, c, i, j] is the maximum of x[n, c, s·i : s·i + k, s·j : s·j + k]; there "
             "are H' = ⌊(H − k)/s⌋ + 1 windows down (likewise across): windows that do not fit "
             "are dropped, and windows overlap when s < k.")


def _pool_out(ctx: Context, x, k, s, what: str) -> np.ndarray:
    out, _ = _forward(ctx, "maxpool2d_forward", x, k, s)
    out = as_float_array(out, f"out from {what}")
    shape = _pool_t(x, k, s).shape
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
        compare(_pool_out(ctx, x, k, s, what), _pool_t(x, k, s), f"out from {what}",
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
        agree(_pool_out(ctx, x, k, s, what), ref(x, k, s)[0], f"out from {what}", hidden=True)


def pool_forward_hidden_torch(ctx: Context) -> None:
    for shape, k, s, ties in POOL_CASES[::-1]:
        x = _pool_input(ctx.rng, shape, ties)
        what = f"maxpool2d_forward for x of shape {shape}, kernel={k}, stride={s} (against torch)"
        agree(_pool_out(ctx, x, k, s, what), _pool_t(x, k, s), f"out from {what}",
              hidden=True)


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
    dx = single_gradient(ctx.call("maxpool2d_backward", dout, cache), f"dx ({what})")
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
    # The 9 is the maximum of both upper windows (it collects 1 + 2), the 2 and the 3 of the
    # lower ones: written out by hand and confirmed with torch's max_pool2d backward.
    expected = np.zeros((1, 1, 5, 5))
    expected[0, 0, 1, 2], expected[0, 0, 3, 0], expected[0, 0, 3, 4] = 3.0, 4.0, 8.0
    compare(_pool_dx(ctx, x, 3, 2, dout, what), expected, f"dx ({what})", hidden=False,
            hint=POOL_GRAD_HINT)


def pool_backward_random(ctx: Context) -> None:
    for shape, k, s in [((2, 2, 7, 6), 2, 2), ((1, 3, 6, 6), 3, 1), ((2, 1, 5, 8), 2, 3)]:
        x = ctx.rng.normal(size=shape)
        dout = ctx.rng.normal(size=(shape[0], shape[1], (shape[2] - k) // s + 1,
                                    (shape[3] - k) // s + 1))
        what = f"x of shape {shape}, kernel={k}, stride={s}"
        compare(_pool_dx(ctx, x, k, s, dout, what), _pool_grad_t(x, k, s, dout),
                f"dx ({what})", hidden=False, hint=POOL_GRAD_HINT)


def _pool_backward_hidden(ctx: Context, expected_of, label: str) -> None:
    for shape, k, s, ties in POOL_CASES:
        x = _pool_input(ctx.rng, shape, ties)
        dout = ctx.rng.normal(size=(shape[0], shape[1], (shape[2] - k) // s + 1,
                                    (shape[3] - k) // s + 1))
        what = f"x of shape {shape}, kernel={k}, stride={s}{', with ties' if ties else ''}{label}"
        agree(_pool_dx(ctx, x, k, s, dout, what), expected_of(x, k, s, dout), f"dx ({what})",
              hidden=True, hint=POOL_GRAD_HINT)


def pool_backward_hidden(ctx: Context) -> None:
    ref_f, ref_b = ctx.ref("maxpool2d_forward"), ctx.ref("maxpool2d_backward")
    _pool_backward_hidden(ctx, lambda x, k, s, d: ref_b(d, ref_f(x, k, s)[1]), "")


def pool_backward_hidden_torch(ctx: Context) -> None:
    _pool_backward_hidden(
        ctx, _pool_grad_t,
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


# (stack, receptive field): measured once with _rf_by_autograd below and pasted here.
RF_KNOWN = [([], 1), ([(3, 1)], 3), ([(3, 1), (3, 1)], 5), ([(7, 2)], 7), ([(3, 2), (3, 1)], 7),
            ([(3, 1), (2, 2), (3, 1), (2, 2), (3, 1)], 18), ([(11, 4), (3, 2), (5, 1)], 51)]
RF_DILATED = [([(3, 1, 2)], 5), ([(3, 1, 1), (3, 1, 2), (3, 1, 4)], 15),
              ([(3, 2), (3, 1, 2)], 11)]


def rf_known(ctx: Context) -> None:
    for layers, expected in RF_KNOWN:
        what = f"receptive_field({layers})"
        compare(_rf(ctx, list(layers), what), expected, what, hidden=False, hint=RF_HINT)


def rf_dilation(ctx: Context) -> None:
    for layers, expected in RF_DILATED:
        what = f"receptive_field({list(layers)})"
        compare(_rf(ctx, list(layers), what), expected, what, hidden=False,
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
        agree(_rf(ctx, layers, what), ref(layers), what, hidden=True, hint=RF_HINT)


@grader_work
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
        agree(_rf(ctx, layers, what), _rf_by_autograd(layers), what, hidden=True,
              hint=RF_HINT)


# ---------------------------------------------------------------------------------------------
# batchnorm_forward


@grader_work
def _bn_t(x, gamma, beta, eps) -> np.ndarray:
    """torch's training-mode batch norm in float64."""
    return TF.batch_norm(_t(x), None, None, _t(gamma), _t(beta), training=True,
                         eps=eps).numpy()


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
    # eps=None leaves eps out of the call (its default is 1e-5)
    args = (x, gamma, beta) if eps is None else (x, gamma, beta, eps)
    out, _ = _forward(ctx, "batchnorm_forward", *args)
    out = as_float_array(out, f"out from {what}")
    check_shape(out, x.shape, f"out from {what}", "out has the shape of x.")
    return out


def bn_forward_standardises(ctx: Context) -> None:
    x, _, _ = _bn_case(ctx.rng, (4, 3, 2, 2))
    c = x.shape[1]
    what = ("batchnorm_forward for x of shape (4, 3, 2, 2), gamma = 1, beta = 0, eps left at "
            "its default 1e-5")
    out = _bn_out(ctx, x, np.ones(c), np.zeros(c), None, what)
    compare(out, _bn_t(x, np.ones(c), np.zeros(c), 1e-5), f"out from {what}", hidden=False,
            atol=1e-9, hint=BN_HINT + " With γ = 1, β = 0, every channel of out has mean 0 "
                                      "and variance ≈ 1 over (N, H, W).")


def bn_forward_known(ctx: Context) -> None:
    x = np.array([1.0, 2.0, 3.0, 6.0, -1.0, 0.0, 1.0, 4.0]).reshape(2, 2, 2, 1)
    gamma, beta, eps = np.array([2.0, 0.5]), np.array([1.0, -1.0]), 0.1
    what = (f"batchnorm_forward(x={fmt(x.ravel())} as (2, 2, 2, 1), gamma={fmt(gamma)}, "
            f"beta={fmt(beta)}, eps=0.1)")
    compare(_bn_out(ctx, x, gamma, beta, eps, what), _bn_t(x, gamma, beta, eps),
            f"out from {what}", hidden=False, atol=1e-9, hint=BN_HINT)


def bn_forward_eps(ctx: Context) -> None:
    x, gamma, beta = _bn_case(ctx.rng, (3, 2, 3, 2), near_constant=True)
    what = ("batchnorm_forward for x of shape (3, 2, 3, 2) whose channel 0 is nearly constant, "
            "eps = 0.01")
    compare(_bn_out(ctx, x, gamma, beta, 0.01, what), _bn_t(x, gamma, beta, 0.01),
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
        expected = _bn_t(x, gamma, beta, eps)
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

    expected = grads_of(lambda a, g, b: TF.batch_norm(a, None, None, g, b, training=True,
                                                      eps=eps), dout, x, gamma, beta)[1]
    gradient_check(got, expected, ("dx", "dgamma", "dbeta"), BN_GRAD_HINTS, what, tol=1e-7,
                   against="the gradient of torch's batch_norm (torch.autograd)")


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


@grader_work
def _bn_eval(y, gamma, beta, mean, var, eps) -> np.ndarray:
    """torch's eval-mode batch norm in float64."""
    return TF.batch_norm(_t(y), _t(mean), _t(var), _t(gamma), _t(beta), training=False,
                         eps=eps).numpy()


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
    # γ/√var = (1.5, 2): w_fused = (2·1.5, −1·2), b_fused = (1.5·(1 − 2) + 0.5, 2·(0 − 1) − 2).
    compare(wf, [[[[3.0]]], [[[-2.0]]]], f"w_fused ({what})", hidden=False, hint=FUSE_HINT)
    compare(bf, [-1.0, -4.0], f"b_fused ({what})", hidden=False, hint=FUSE_HINT)


def fuse_equals_conv_then_bn(ctx: Context) -> None:
    for f, c, k, eps, tiny in [(3, 2, 3, 1e-5, False), (2, 4, 1, 0.1, True)]:
        args = _fuse_case(ctx.rng, f, c, k, tiny)
        w, b, gamma, beta, mean, var = args
        what = f"fuse_conv_bn for w of shape {w.shape}, eps={eps:g}"
        wf, bf = _fused(ctx, args, eps, what)
        x = ctx.rng.normal(size=(2, c, 5, 5))
        expected = _bn_eval(_conv_t(x, w, b, 1, 1), gamma, beta, mean, var, eps)
        compare_scaled(_conv_t(x, wf, bf, 1, 1), expected,
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
        x = ctx.rng.normal(size=(2, c, 6, 5))
        expected = _bn_eval(_conv_t(x, w, b, 1, k // 2), gamma, beta, mean, var, eps)
        got = _conv_t(x, wf, bf, 1, k // 2)
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
        agree(_drop_out(ctx, x, p, 5, what, train=False), ref(x, p, None, train=False)[0],
              f"out from {what}", hidden=True, rtol=0, atol=0,
                hint="With train=False dropout is the identity.")
    x = ctx.rng.normal(size=(6, 4))
    what = "dropout_forward with p = 0 in training mode, on a hidden case"
    agree(_drop_out(ctx, x, 0.0, 9, what), x, f"out from {what}", hidden=True, rtol=0, atol=0,
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
    dx = single_gradient(ctx.call("dropout_backward", dout, cache), f"dx ({what})")
    check_shape(dx, x.shape, f"dx ({what})", "dx has the shape of x.")
    # The derivative of the forward that was actually run: out = x · mask, so dx = dout · mask.
    agree(dx, dout * out / x, f"dx ({what})", hidden=hidden, rtol=1e-10, atol=1e-12,
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
# residual_block_forward / residual_block_backward

RES_HINT = ("h = relu(conv(x, w1, b1)), out = relu(conv(h, w2, b2) + x): stride 1, each "
            "convolution padded by (K − 1)/2 for ITS OWN kernel size K so every stage keeps "
            "x's shape; the skip x is added BEFORE the last ReLU, and there is a ReLU between "
            "the convolutions.")
RES_GRADS = ("dx", "dw1", "db1", "dw2", "db2")
RES_GRAD_HINTS = {
    "dx": "x reaches the sum twice, through the convolutions and along the skip: dx is the sum "
          "of the two paths' gradients, and BOTH are behind the last ReLU (dout times its "
          "mask), the convolution path also behind the first ReLU.",
    "dw1": "dw1 and db1 come from conv2d_backward of the first convolution, fed with the "
           "gradient of h times the mask of the FIRST ReLU (where conv(x, w1, b1) > 0).",
    "db1": "db1 sums, over the batch and the pixels, the gradient arriving at the first "
           "convolution's output (after the first ReLU's mask).",
    "dw2": "dw2 and db2 come from conv2d_backward of the second convolution, fed with dout times "
           "the mask of the LAST ReLU (where conv(h, w2, b2) + x > 0), and h as its input.",
    "db2": "db2 sums dout times the last ReLU's mask over the batch and the pixels.",
}


def _res_t(x, w1, b1, w2, b2):
    """The block written with torch's layers (works on tensors, for autograd)."""
    p1, p2 = (w1.shape[-1] - 1) // 2, (w2.shape[-1] - 1) // 2
    hidden = torch.relu(TF.conv2d(x, w1, b1, padding=p1))
    return torch.relu(TF.conv2d(hidden, w2, b2, padding=p2) + x)


@grader_work
def _res_forward_t(args) -> np.ndarray:
    with torch.no_grad():
        return _res_t(*(_t(a) for a in args)).numpy()


def _res_case(rng, n, c, h, wd, k1, k2) -> tuple:
    # He-style scale (fan-in C·K²) keeps about half of each ReLU open
    return (rng.normal(size=(n, c, h, wd)),
            rng.normal(size=(c, c, k1, k1)) * math.sqrt(2.0 / (c * k1 * k1)),
            rng.normal(size=c) * 0.3,
            rng.normal(size=(c, c, k2, k2)) * math.sqrt(2.0 / (c * k2 * k2)),
            rng.normal(size=c) * 0.3)


def _res_what(args) -> str:
    x, w1, _, w2, _ = args
    return f"x of shape {x.shape}, w1 of shape {w1.shape}, w2 of shape {w2.shape}"


def _res_out(ctx: Context, args, what: str) -> np.ndarray:
    out, _ = _forward(ctx, "residual_block_forward", *args)
    out = as_float_array(out, f"out ({what})")
    check_shape(out, args[0].shape, f"out ({what})",
                "out has the shape of x: both convolutions keep it (stride 1, 'same' "
                "padding (K − 1)/2 for each kernel's own K). " + RES_HINT)
    return out


def res_forward_identity(ctx: Context) -> None:
    x = np.array([[[[1.0, -2.0, 0.5], [-0.5, 3.0, -1.0]]]])
    w = np.zeros((1, 1, 3, 3))
    zero = np.zeros(1)
    what = (f"x={fmt(x[0, 0])} as (1, 1, 2, 3), w1 = w2 = 0 (3×3), b1 = b2 = 0: both "
            f"convolutions give 0, so out = relu(0 + x)")
    compare(_res_out(ctx, (x, w, zero, w, zero), what), np.maximum(x, 0.0), f"out ({what})",
            hidden=False, hint=RES_HINT)


def res_forward_small(ctx: Context) -> None:
    for shape, k1, k2 in [((2, 2, 4, 5), 3, 3), ((1, 3, 5, 4), 1, 5)]:
        args = _res_case(ctx.rng, *shape, k1, k2)
        what = _res_what(args)
        expected = _res_forward_t(args)
        compare(_res_out(ctx, args, what), expected, f"out ({what})", hidden=False,
                rtol=1e-9, atol=1e-12, hint=RES_HINT)


# (N, C, H, W, K1, K2): one example, one channel, non-square, 1×1 and 5×5 kernels, kernel sizes
# that differ in both orders, an image smaller than the kernel.
RES_CASES = [(1, 1, 5, 5, 3, 3), (3, 2, 6, 4, 3, 1), (2, 3, 4, 7, 5, 3), (2, 2, 3, 3, 1, 1),
             (1, 4, 5, 6, 3, 5), (2, 1, 2, 3, 5, 5)]


def res_forward_hidden(ctx: Context) -> None:
    ref = ctx.ref("residual_block_forward")
    for case in RES_CASES:
        args = _res_case(ctx.rng, *case)
        what = _res_what(args)
        agree(_res_out(ctx, args, what), ref(*args)[0], f"out ({what})", hidden=True,
              rtol=1e-9, atol=1e-12)


def res_forward_hidden_torch(ctx: Context) -> None:
    for case in RES_CASES[::-1]:
        args = _res_case(ctx.rng, *case)
        what = _res_what(args) + " (against torch)"
        expected = _res_forward_t(args)
        agree(_res_out(ctx, args, what), expected, f"out ({what})", hidden=True, rtol=1e-9,
              atol=1e-12)


def _res_grads(ctx: Context, args, dout, what: str) -> tuple:
    cache = _cache(ctx, "residual_block_forward", "residual_block_backward", *args)[1]
    got = unpack(ctx.call("residual_block_backward", dout, cache), 5,
                 f"`residual_block_backward` ({what})", "(dx, dw1, db1, dw2, db2)")
    arrays = []
    for name, g, like in zip(RES_GRADS, got, args):
        g = as_float_array(g, f"{name} ({what})")
        check_shape(g, like.shape, f"{name} ({what})",
                    f"{name} has the shape of {name[1:]}. " + RES_GRAD_HINTS[name])
        arrays.append(g)
    return tuple(arrays)


@grader_work
def _res_autograd(args, dout) -> list:
    return grads_of(_res_t, dout, *args)[1]


def res_backward_public(ctx: Context) -> None:
    for shape, k1, k2 in [((2, 2, 4, 3), 3, 3), ((1, 2, 3, 5), 3, 1)]:
        args = _res_case(ctx.rng, *shape, k1, k2)
        dout = ctx.rng.normal(size=args[0].shape)
        what = _res_what(args)
        got = _res_grads(ctx, args, dout, what)
        gradient_check(got, _res_autograd(args, dout), RES_GRADS, RES_GRAD_HINTS, what,
                       tol=1e-9, against="the gradient of the block (torch.autograd)")


def res_backward_skip_only(ctx: Context) -> None:
    # w1 = w2 = 0, b = 0 and x > 0: the block is relu(x) = x, every weight still gets a
    # gradient through the (zero) convolutions, and dx = dout along the skip alone.
    x = np.abs(ctx.rng.normal(size=(1, 2, 3, 3))) + 0.5
    w, zero = np.zeros((2, 2, 3, 3)), np.zeros(2)
    dout = ctx.rng.normal(size=x.shape)
    args = (x, w, zero, w, zero)
    what = "x > 0 of shape (1, 2, 3, 3), w1 = w2 = 0, b1 = b2 = 0 (the block is the identity)"
    got = _res_grads(ctx, args, dout, what)
    compare(got[0], dout, f"dx ({what})", hidden=False, rtol=1e-12, atol=1e-12,
            hint="With zero weights only the skip connection carries the gradient: dx = dout. "
                 + RES_GRAD_HINTS["dx"])


def _res_backward_hidden(ctx: Context, expected_of, label: str) -> None:
    for case in RES_CASES:
        args = _res_case(ctx.rng, *case)
        dout = ctx.rng.normal(size=args[0].shape)
        what = _res_what(args) + label
        got = _res_grads(ctx, args, dout, what)
        for name, g, e in zip(RES_GRADS, got, expected_of(args, dout)):
            compare_scaled(g, e, f"{name} ({what})", hidden=True, tol=1e-9,
                           hint=RES_GRAD_HINTS[name])


def res_backward_hidden(ctx: Context) -> None:
    ref_f, ref_b = ctx.ref("residual_block_forward"), ctx.ref("residual_block_backward")
    _res_backward_hidden(ctx, lambda args, d: ref_b(d, ref_f(*args)[1]), "")


def res_backward_hidden_torch(ctx: Context) -> None:
    _res_backward_hidden(ctx, _res_autograd, ", against torch.autograd")


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
            public=(("gradients vs torch.autograd", conv_backward_simple),
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
            public=(("gradients vs torch.autograd", bn_backward_gradcheck),
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
        GradedFunction(
            "residual_block_forward", RESIDUAL,
            public=(("zero weights: relu(x)", res_forward_identity),
                    ("agrees with torch, kernels 3/3 and 1/5", res_forward_small)),
            hidden=(("edge cases vs reference", res_forward_hidden),
                    ("edge cases vs torch", res_forward_hidden_torch)),
            public_points=1, hidden_points=2,
            uses=("conv2d_forward",)),
        GradedFunction(
            "residual_block_backward", RESIDUAL,
            public=(("gradients vs torch.autograd", res_backward_public),
                    ("zero weights: the skip carries dout", res_backward_skip_only)),
            hidden=(("edge cases vs reference", res_backward_hidden),
                    ("edge cases vs torch.autograd", res_backward_hidden_torch)),
            public_points=2, hidden_points=3,
            uses=("conv2d_forward", "conv2d_backward")),
    ),
)

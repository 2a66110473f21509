"""Checks for assignment 07_optimization: one step of SGD (momentum, dampening, Nesterov, weight
decay), AdaGrad, RMSProp, Adam (AMSGrad) and AdamW; the warm-up + cosine and SGDR learning-rate
schedules; heavy-ball momentum on a quadratic and the spectral radius of its iteration.

A step function's state is opaque: every check starts from ``{}`` and feeds back, unchanged,
exactly the state the student's previous step returned. ``ctx.call`` passes copies and fails
when ``theta``, ``grad`` or ``state`` was modified in place.

Public checks use small cases computed by hand (their expected values are written out below),
invariants, and ``torch.optim`` / ``torch.optim.lr_scheduler`` in float64. Hidden checks run
many steps, with the learning rate changed part-way, over each optimiser's option grid and
gradients from 1e-9 to 1e6, against ``torch.optim`` and the reference solution
(``ctx.ref``); their messages give sizes, step numbers and relative errors only. Nothing here
re-implements a graded function: expected trajectories come from torch or the reference.

torch is imported by the grading worker before any check runs (``ASSIGNMENT.imports``).
tests/test_properties_07.py checks the reference against torch on inputs drawn by hypothesis.
"""

from __future__ import annotations

import math

import numpy as np

from ..checks import (CheckFailure, Context, as_float_array, as_scalar, check_shape, compare,
                      fmt, unpack)
from ..spec import Assignment, GradedFunction, lazy_module
from ._shared import sections

torch = lazy_module("torch")  # see the module doc


def _optim():
    """``torch.optim``. Importing torch and building the first optimiser (which imports
    torch._dynamo) take seconds: the grader's own work, which no student limit counts (limits
    apply to calls of student code only, see autograder/timing.py). A grading worker has
    imported both already (``ASSIGNMENT.imports``)."""
    import importlib
    import sys

    if "torch._dynamo" not in sys.modules:
        importlib.import_module("torch")
        importlib.import_module("torch._dynamo")
    return torch.optim

PAGE = "chapters/07_optimization"


_section = sections(PAGE)  # _section(title, label): a Section of this page


MOMENTUM = _section("Momentum conventions", "sec-opt-momentum-conventions")
ADAGRAD = _section("AdaGrad", "sec-opt-adagrad")
RMSPROP = _section("RMSProp and AdaDelta", "sec-opt-rmsprop")
ADAM = _section("Adam", "sec-opt-adam")
DECAY = _section("Weight decay versus L2 regularisation", "sec-opt-weight-decay")
SCHEDULES = _section("Learning-rate schedules", "sec-opt-schedules")
SGDR = _section("Warm restarts", "sec-opt-sgdr")
HEAVY_BALL = _section("Heavy-ball momentum", "sec-opt-heavy-ball")

# ---------------------------------------------------------------------------------------------
# Driving the student's step function, and torch.optim


def _student_steps(ctx: Context, name: str, theta0: np.ndarray, grads: np.ndarray,
                   lrs: list, hyper: dict, what: str) -> np.ndarray:
    """(steps, d) iterates of the student's step function. The state starts as {} and is
    handed back exactly as the previous step returned it (never looked into)."""
    theta, state = theta0, {}
    out = []
    for k, (g, lr) in enumerate(zip(grads, lrs), start=1):
        result = ctx.call(name, theta, g, state, lr=lr, **hyper)
        new_theta, state = unpack(result, 2, f"`{name}` (step {k}, {what})",
                                  "(new_theta, new_state)")
        new_theta = as_float_array(new_theta, f"new_theta (step {k}, {what})")
        check_shape(new_theta, theta0.shape, f"new_theta (step {k}, {what})",
                    "new_theta has the shape of theta.")
        out.append(new_theta)
        theta = new_theta
    return np.array(out)


OPTIMIZERS = {"sgd_step": "SGD", "adagrad_step": "Adagrad", "rmsprop_step": "RMSprop",
              "adam_step": "Adam", "adamw_step": "AdamW"}


def torch_steps(name: str, theta0: np.ndarray, grads: np.ndarray, lrs: list,
                hyper: dict) -> np.ndarray:
    """The iterates of ``torch.optim.<optimiser>`` in float64 on the same gradients, with the
    learning rate of the param group set before each step (as a scheduler does)."""
    optim = _optim()
    p = torch.nn.Parameter(torch.tensor(np.array(theta0, dtype=np.float64)))
    opt = getattr(optim, OPTIMIZERS[name])([p], lr=lrs[0], foreach=False, **hyper)
    out = []
    for g, lr in zip(grads, lrs):
        for group in opt.param_groups:
            group["lr"] = lr
        p.grad = torch.tensor(np.array(g, dtype=np.float64))
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


def ref_steps(ctx: Context, name: str, theta0, grads, lrs, hyper) -> np.ndarray:
    step, theta, state, out = ctx.ref(name), theta0, {}, []
    for g, lr in zip(grads, lrs):
        theta, state = step(theta, g, state, lr=lr, **hyper)
        out.append(theta)
    return np.array(out)


def _lr_text(lrs: list) -> str:
    changes = [k for k in range(1, len(lrs)) if lrs[k] != lrs[k - 1]]
    if not changes:
        return f"{len(lrs)} steps at one learning rate"
    return (f"{len(lrs)} steps, the learning rate changed after step "
            + ", ".join(str(k) for k in changes))


def _compare_steps(got: np.ndarray, expected: np.ndarray, theta0: np.ndarray, what: str, *,
                   hidden: bool, hint: str = "", rtol: float = 1e-7) -> None:
    """First step at which the iterates differ. The error is measured against how far theta has
    moved so far (a step of 1e-10 on a theta of 1 must still be right), plus rounding of theta."""
    moved = np.maximum.accumulate(np.abs(expected - theta0).max(axis=1))
    floor = 1e-13 * max(1.0, float(np.abs(expected).max()), float(np.abs(theta0).max()))
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(got - expected).max(axis=1)
    bad = ~(err <= rtol * moved + floor)  # NaN counts as wrong
    if not bad.any():
        return
    k = int(np.argmax(bad))
    if not np.all(np.isfinite(got[k])):
        detail = "it contains nan or inf"
    else:
        rel = err[k] / max(moved[k], floor)
        detail = (f"the largest error is {rel:.3g} times the distance theta has moved so far "
                  f"(allowed: {rtol:g})")
    hint = f" {hint}" if hint else ""
    head = f"theta after step {k + 1} ({what}) is wrong"
    if hidden:
        raise CheckFailure(f"{head} on a hidden test case: {detail}.{hint}")
    raise CheckFailure(f"{head}: {detail}.{hint}\n  expected: {fmt(expected[k], 10)}\n"
                       f"  got:      {fmt(got[k], 10)}")


def _known_case(ctx: Context, name: str, theta0, grads, lrs, hyper, expected, what, hint):
    theta0, grads = np.array(theta0, dtype=float), np.array(grads, dtype=float)
    what = (f"theta0={fmt(theta0)}, gradients {fmt(grads)}, lr={fmt(tuple(lrs))}, "
            + ", ".join(f"{k}={v}" for k, v in hyper.items()))
    got = _student_steps(ctx, name, theta0, grads, lrs, hyper, what)
    _compare_steps(got, np.array(expected, dtype=float), theta0, what, hidden=False,
                   hint=hint, rtol=1e-9)


def _torch_case(ctx: Context, name: str, hyper: dict, *, hidden: bool, d: int = 4,
                steps: int = 24, scale: float = 1.0, lr: float = 0.05, hint: str = "",
                with_ref: bool = False) -> None:
    theta0 = ctx.rng.normal(size=d)
    # Gradients of varied sign and size, some entries repeated: what a real run sees.
    grads = ctx.rng.normal(size=(steps, d)) * scale
    grads[steps // 3] = 0.0  # a step with a zero gradient (e.g. a frozen batch)
    lrs = [lr] * (steps // 2) + [lr * 0.3] * (steps - steps // 2)
    options = ", ".join(f"{k}={v}" for k, v in hyper.items()) or "default options"
    what = (f"d={d}, {options}, gradients of size ~{scale:g}, {_lr_text(lrs)}, compared with "
            f"torch.optim.{OPTIMIZERS[name]}")
    got = _student_steps(ctx, name, theta0, grads, lrs, hyper, what)
    _compare_steps(got, torch_steps(name, theta0, grads, lrs, hyper), theta0, what,
                   hidden=hidden, hint=hint)
    if with_ref:
        _compare_steps(got, ref_steps(ctx, name, theta0, grads, lrs, hyper), theta0,
                       what.replace(f"torch.optim.{OPTIMIZERS[name]}", "the reference"),
                       hidden=hidden, hint=hint)


SCALES = (1e-9, 1e-3, 1.0, 1e6)


def _grid(ctx: Context, name: str, grid: list, lr: float, hint_for) -> None:
    for k, hyper in enumerate(grid):
        scale = SCALES[k % len(SCALES)]
        _torch_case(ctx, name, hyper, hidden=True, scale=scale,
                    lr=lr / math.sqrt(scale) if name == "sgd_step" and scale > 1 else lr,
                    d=int(ctx.rng.integers(1, 7)), hint=hint_for(hyper), with_ref=k % 2 == 0)


def _odd_shapes(ctx: Context, name: str, hyper: dict, lr: float) -> None:
    """A matrix and a 0-d parameter: the update is elementwise whatever the shape."""
    for shape in ((3, 2), ()):
        theta0 = ctx.rng.normal(size=shape)
        grads = ctx.rng.normal(size=(8,) + shape)
        lrs = [lr] * 4 + [lr * 2] * 4
        what = f"theta of shape {shape}, {_lr_text(lrs)}"
        got = _student_steps(ctx, name, theta0, grads, lrs, hyper, what)
        exp = torch_steps(name, theta0, grads, lrs, hyper)
        _compare_steps(got.reshape(len(lrs), -1), exp.reshape(len(lrs), -1),
                       theta0.reshape(-1), what, hidden=True)


# ---------------------------------------------------------------------------------------------
# sgd_step

SGD_HINT = ("torch.optim.SGD: g = grad + weight_decay·theta; with momentum the buffer is g "
            "itself on the first step and momentum·buf + (1 − dampening)·g after it; Nesterov "
            "steps along g + momentum·buf; theta − lr·(that). The learning rate stays outside "
            "the buffer, so changing it changes only the next step.")


def _sgd_hint(hyper: dict) -> str:
    return SGD_HINT


def sgd_plain_known(ctx: Context) -> None:
    # theta − lr·g: 1 − 0.1·2 = 0.8, then 0.8 − 0.1·(−1) = 0.9, then 0.9 − 0.5·1 = 0.4
    _known_case(ctx, "sgd_step", [1.0], [[2.0], [-1.0], [1.0]], [0.1, 0.1, 0.5], {},
                [[0.8], [0.9], [0.4]], "", SGD_HINT)


def sgd_momentum_known(ctx: Context) -> None:
    # buf = 1, 1.9, 2.71 (first buffer = g), theta = 1 − 0.1·1, then − 0.1·1.9, then − 1·2.71:
    # the learning rate of step 3 multiplies the whole buffer, not only the new gradient.
    _known_case(ctx, "sgd_step", [1.0], [[1.0], [1.0], [1.0]], [0.1, 0.1, 1.0],
                {"momentum": 0.9}, [[0.9], [0.71], [0.71 - 2.71]], "", SGD_HINT)


def sgd_nesterov_dampening_known(ctx: Context) -> None:
    # Nesterov: buf = 1 then 0.5 + 1 = 1.5; steps along g + 0.5·buf = 1.5, then 1.75.
    _known_case(ctx, "sgd_step", [0.0], [[1.0], [1.0]], [1.0, 1.0],
                {"momentum": 0.5, "nesterov": True}, [[-1.5], [-3.25]], "", SGD_HINT)
    # Dampening 0.5: buf = 2 (first step: g itself), then 0.5·2 + 0.5·2 = 2; weight decay 0.5
    # adds 0.5·theta to the gradient: g = 2 + 0.5·0 = 2, then 2 + 0.5·(−2) = 1 → buf = 1.5.
    _known_case(ctx, "sgd_step", [0.0], [[2.0], [2.0]], [1.0, 1.0],
                {"momentum": 0.5, "dampening": 0.5, "weight_decay": 0.5},
                [[-2.0], [-3.5]], "", SGD_HINT)


def sgd_torch_public(ctx: Context) -> None:
    for hyper in ({}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True,
                                          "weight_decay": 0.01}):
        _torch_case(ctx, "sgd_step", hyper, hidden=False, hint=SGD_HINT)


SGD_GRID = [{"momentum": 0.9}, {"momentum": 0.5, "dampening": 0.3},
            {"momentum": 0.9, "nesterov": True}, {"weight_decay": 0.1},
            {"momentum": 0.7, "weight_decay": 0.05}, {"momentum": 0.99, "dampening": 0.9,
                                                      "weight_decay": 0.01},
            {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1}, {}]


def sgd_hidden(ctx: Context) -> None:
    _grid(ctx, "sgd_step", SGD_GRID, 0.05, _sgd_hint)


def sgd_hidden_shapes(ctx: Context) -> None:
    _odd_shapes(ctx, "sgd_step", {"momentum": 0.8, "nesterov": True, "weight_decay": 0.1}, 0.1)


# ---------------------------------------------------------------------------------------------
# adagrad_step

ADAGRAD_HINT = ("torch.optim.Adagrad: t counts steps from 1; g = grad + weight_decay·theta; "
                "sum = previous sum + g² (starting at 0); clr = lr / (1 + (t − 1)·lr_decay); "
                "theta − clr·g / (√sum + eps), eps outside the square root.")


def adagrad_known(ctx: Context) -> None:
    eps = 1e-10
    # sums 4 then 8: steps 0.1·2/(2 + eps), then 0.1·2/(√8 + eps)
    first = 1.0 - 0.1 * 2.0 / (2.0 + eps)
    _known_case(ctx, "adagrad_step", [1.0], [[2.0], [2.0]], [0.1, 0.1], {},
                [[first], [first - 0.2 / (math.sqrt(8.0) + eps)]], "", ADAGRAD_HINT)
    # lr_decay 1: the second step's rate is lr/(1 + 1·1) = lr/2
    _known_case(ctx, "adagrad_step", [0.0], [[3.0], [4.0]], [1.0, 1.0], {"lr_decay": 1.0},
                [[-3.0 / (3.0 + eps)], [-3.0 / (3.0 + eps) - 0.5 * 4.0 / (5.0 + eps)]], "",
                ADAGRAD_HINT)


def adagrad_tiny_gradient(ctx: Context) -> None:
    # With g = 1e-10 = eps, the first step is lr·g/(|g| + eps) = lr/2 exactly in theory.
    _known_case(ctx, "adagrad_step", [1.0], [[1e-10]], [0.1], {}, [[0.95]], "",
                ADAGRAD_HINT + " Here |g| equals eps, so the first step is half the learning "
                "rate.")


def adagrad_torch_public(ctx: Context) -> None:
    for hyper in ({}, {"lr_decay": 0.1, "weight_decay": 0.01}):
        _torch_case(ctx, "adagrad_step", hyper, hidden=False, hint=ADAGRAD_HINT)


ADAGRAD_GRID = [{}, {"lr_decay": 0.05}, {"weight_decay": 0.1}, {"eps": 1e-6},
                {"lr_decay": 0.5, "weight_decay": 0.01, "eps": 1e-8}, {"lr_decay": 0.01}]


def adagrad_hidden(ctx: Context) -> None:
    _grid(ctx, "adagrad_step", ADAGRAD_GRID, 0.1, lambda h: ADAGRAD_HINT)
    _odd_shapes(ctx, "adagrad_step", {"lr_decay": 0.1, "weight_decay": 0.1}, 0.1)


# ---------------------------------------------------------------------------------------------
# rmsprop_step

RMSPROP_HINT = ("torch.optim.RMSprop: square_avg = alpha·square_avg + (1 − alpha)·g² "
                "(starting at 0, no bias correction); centred also keeps grad_avg the same way "
                "and uses square_avg − grad_avg²; avg = √(that) + eps (eps outside the root); "
                "with momentum buf = momentum·buf + g/avg (buf starts at 0) and theta − lr·buf, "
                "else theta − lr·g/avg.")


def rmsprop_known(ctx: Context) -> None:
    eps = 1e-8
    # alpha 0.9: square_avg = 0.1·4 = 0.4 → step 0.1·2/(√0.4 + eps)
    _known_case(ctx, "rmsprop_step", [1.0], [[2.0]], [0.1], {"alpha": 0.9},
                [[1.0 - 0.2 / (math.sqrt(0.4) + eps)]], "", RMSPROP_HINT)
    # centred, alpha 0.5: square_avg 0.5·4 = 2, grad_avg 1 → √(2 − 1) = 1: step lr·2/(1 + eps)
    _known_case(ctx, "rmsprop_step", [0.0], [[2.0]], [0.1], {"alpha": 0.5, "centered": True},
                [[-0.2 / (1.0 + eps)]], "", RMSPROP_HINT)
    # momentum 0.5, alpha 0.5, g = 1, 1: avg √0.5 then √0.75; buf = d1, then 0.5·d1 + d2
    d1, d2 = 1.0 / (math.sqrt(0.5) + eps), 1.0 / (math.sqrt(0.75) + eps)
    _known_case(ctx, "rmsprop_step", [0.0], [[1.0], [1.0]], [0.1, 1.0],
                {"alpha": 0.5, "momentum": 0.5},
                [[-0.1 * d1], [-0.1 * d1 - (0.5 * d1 + d2)]], "", RMSPROP_HINT)


def rmsprop_torch_public(ctx: Context) -> None:
    for hyper in ({}, {"momentum": 0.9}, {"centered": True}):
        _torch_case(ctx, "rmsprop_step", hyper, hidden=False, lr=0.01, hint=RMSPROP_HINT)


RMSPROP_GRID = [{}, {"centered": True}, {"momentum": 0.9}, {"alpha": 0.9, "eps": 1e-6},
                {"momentum": 0.5, "centered": True}, {"alpha": 0.5},
                {"momentum": 0.9, "centered": True, "alpha": 0.95}, {"eps": 1e-3}]


def rmsprop_hidden(ctx: Context) -> None:
    _grid(ctx, "rmsprop_step", RMSPROP_GRID, 0.01, lambda h: RMSPROP_HINT)
    _odd_shapes(ctx, "rmsprop_step", {"momentum": 0.5, "centered": True}, 0.01)


# ---------------------------------------------------------------------------------------------
# adam_step

ADAM_HINT = ("torch.optim.Adam (Kingma & Ba, Algorithm 1): t counts from 1; g = grad + "
             "weight_decay·theta; m and v are running averages of g and g² starting at 0; "
             "m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ); theta − lr·m̂/(√v̂ + eps), eps outside the "
             "square root. AMSGrad keeps the running maximum of the uncorrected v and "
             "divides that by (1 − β₂ᵗ).")


def adam_first_step(ctx: Context) -> None:
    # Bias correction makes m̂ = g and v̂ = g² after one step: every coordinate moves by
    # lr·|g|/(|g| + eps), i.e. almost exactly lr, whatever the size of its gradient.
    g = np.array([3.0, -1e-3, 1e3, 1e-8])
    expected = 1.0 - 0.01 * g / (np.abs(g) + 1e-8)
    _known_case(ctx, "adam_step", [1.0, 1.0, 1.0, 1.0], [g], [0.01], {},
                [expected], "", ADAM_HINT + " After one step m̂ = g and v̂ = g², so each "
                "coordinate moves by about lr: a much smaller step means the bias correction "
                "is missing.")


def adam_known(ctx: Context) -> None:
    b1, b2, eps = 0.5, 0.75, 1e-8
    # g = 1 then 3: m = 0.5, 1.75 → m̂ = 1, 1.75/0.75; v = 0.25, 0.1875 + 2.25 → v̂ = 1, 2.4375/0.4375
    m2, v2 = 1.75 / 0.75, 2.4375 / 0.4375
    _known_case(ctx, "adam_step", [0.0], [[1.0], [3.0]], [0.1, 0.1], {"betas": (b1, b2)},
                [[-0.1 / (1.0 + eps)], [-0.1 / (1.0 + eps) - 0.1 * m2 / (math.sqrt(v2) + eps)]],
                "", ADAM_HINT)


def adam_torch_public(ctx: Context) -> None:
    for hyper in ({}, {"amsgrad": True}, {"weight_decay": 0.1}):
        _torch_case(ctx, "adam_step", hyper, hidden=False, lr=0.01, hint=ADAM_HINT)


ADAM_GRID = [{}, {"amsgrad": True}, {"weight_decay": 0.1}, {"betas": (0.5, 0.9)},
             {"amsgrad": True, "weight_decay": 0.01, "betas": (0.8, 0.99)}, {"eps": 1e-3},
             {"betas": (0.0, 0.999)}, {"amsgrad": True, "eps": 1e-6}]


def adam_hidden(ctx: Context) -> None:
    _grid(ctx, "adam_step", ADAM_GRID, 0.01, lambda h: ADAM_HINT)
    _odd_shapes(ctx, "adam_step", {"amsgrad": True, "weight_decay": 0.1}, 0.01)


def adam_hidden_long(ctx: Context) -> None:
    """A long run (bias corrections near 1) with tiny gradients, where eps matters."""
    for scale, hyper in ((1e-9, {}), (1e-7, {"amsgrad": True})):
        _torch_case(ctx, "adam_step", hyper, hidden=True, steps=150, scale=scale, lr=0.01,
                    d=3, hint=ADAM_HINT)


# ---------------------------------------------------------------------------------------------
# adamw_step

ADAMW_HINT = ("torch.optim.AdamW: first theta·(1 − lr·weight_decay) with the theta and lr of "
              "this step, then the Adam step (bias-corrected m̂ and v̂, eps outside the root) "
              "with the plain gradient: the decay is not added to g, and it is not applied "
              "after the step.")


def adamw_known(ctx: Context) -> None:
    eps = 1e-8
    # theta 2, g 1, lr 0.1, wd 0.5: 2·(1 − 0.05) − 0.1·1/(1 + eps)
    _known_case(ctx, "adamw_step", [2.0], [[1.0]], [0.1], {"weight_decay": 0.5},
                [[1.9 - 0.1 / (1.0 + eps)]], "", ADAMW_HINT)
    # a zero gradient leaves only the decay: theta·(1 − lr·wd) at every step (0/(0 + eps) = 0)
    _known_case(ctx, "adamw_step", [1.0], [[0.0], [0.0]], [0.1, 0.2], {"weight_decay": 1.0},
                [[0.9], [0.9 * 0.8]], "", ADAMW_HINT)


def adamw_torch_public(ctx: Context) -> None:
    for hyper in ({}, {"weight_decay": 0.1}):
        _torch_case(ctx, "adamw_step", hyper, hidden=False, lr=0.01, hint=ADAMW_HINT)


ADAMW_GRID = [{}, {"weight_decay": 0.1}, {"weight_decay": 1.0, "betas": (0.5, 0.9)},
              {"weight_decay": 0.0}, {"eps": 1e-3, "weight_decay": 0.3},
              {"betas": (0.95, 0.98), "weight_decay": 0.05}]


def adamw_hidden(ctx: Context) -> None:
    _grid(ctx, "adamw_step", ADAMW_GRID, 0.01, lambda h: ADAMW_HINT)
    _odd_shapes(ctx, "adamw_step", {"weight_decay": 0.5}, 0.02)


# ---------------------------------------------------------------------------------------------
# warmup_cosine_lr

WARMUP_HINT = ("For step < warmup_steps the rate is base_lr·step/warmup_steps (0 at step 0, "
               "never base_lr during the warm-up); from warmup_steps to total_steps it is "
               "min_lr + ½(base_lr − min_lr)(1 + cos(π·(step − warmup_steps)/(total_steps − "
               "warmup_steps))): the cosine's period does not include the warm-up; after "
               "total_steps it stays at min_lr.")


def _lr_value(ctx: Context, name: str, args: tuple, kwargs: dict, what: str) -> float:
    return as_scalar(ctx.call(name, *args, **kwargs), f"`{name}` ({what})")


def _schedule_known(ctx: Context, name: str, cases: list, hint: str) -> None:
    for args, kwargs, expected in cases:
        shown = ", ".join([fmt(a) for a in args] + [f"{k}={fmt(v)}" for k, v in kwargs.items()])
        what = f"{name}({shown})"
        compare(_lr_value(ctx, name, args, kwargs, what), expected, what, hidden=False,
                rtol=1e-9, atol=1e-15, hint=hint)


def warmup_known(ctx: Context) -> None:
    s = math.sqrt(0.5)
    _schedule_known(ctx, "warmup_cosine_lr", [
        ((0, 0.1, 10, 110), {}, 0.0),
        ((1, 0.1, 10, 110), {}, 0.01),
        ((9, 0.1, 10, 110), {}, 0.09),
        ((10, 0.1, 10, 110), {}, 0.1),
        ((35, 0.1, 10, 110), {}, 0.05 * (1 + s)),  # a quarter of the cosine
        ((60, 0.1, 10, 110), {}, 0.05),             # half-way: the mean of base and min
        ((110, 0.1, 10, 110), {}, 0.0),
        ((60, 1.0, 10, 110), {"min_lr": 0.2}, 0.6),
        ((500, 1.0, 10, 110), {"min_lr": 0.2}, 0.2),
        # the warm-up ramps from 0, whatever min_lr (the hidden schedules have min_lr > 0 too)
        ((0, 1.0, 10, 110), {"min_lr": 0.2}, 0.0),
        ((5, 1.0, 10, 110), {"min_lr": 0.2}, 0.5),
    ], WARMUP_HINT)


def warmup_zero(ctx: Context) -> None:
    _schedule_known(ctx, "warmup_cosine_lr", [
        ((0, 0.5, 0, 4), {}, 0.5),
        ((1, 0.5, 0, 4), {}, 0.25 * (1 + math.sqrt(0.5))),
        ((2, 0.5, 0, 4), {}, 0.25),
        ((4, 0.5, 0, 4), {}, 0.0),
    ], WARMUP_HINT + " With warmup_steps = 0 there is no warm-up: step 0 gives base_lr.")


def warmup_hidden(ctx: Context) -> None:
    ref = ctx.ref("warmup_cosine_lr")
    for base, warm, total, low in [(0.1, 5, 50, 0.0), (3e-4, 100, 1000, 1e-5), (1.0, 0, 7, 0.1),
                                   (0.5, 1, 2, 0.0), (0.02, 37, 38, 0.001),
                                   (2.0, 13, 200, 0.5)]:
        steps = sorted(set(range(0, min(total + 3, 60))) | {warm - 1, warm, warm + 1, total - 1,
                                                            total, total + 1, 5 * total})
        got, exp = [], []
        for step in (s for s in steps if s >= 0):
            kwargs = {"min_lr": low} if low else {}
            got.append(_lr_value(ctx, "warmup_cosine_lr", (step, base, warm, total), kwargs,
                                 "a hidden schedule"))
            exp.append(ref(step, base, warm, total, **kwargs))
        compare(np.array(got), np.array(exp), f"learning rates (warm-up {warm} of {total} "
                f"steps, {len(got)} steps checked)", hidden=True, rtol=1e-9, atol=1e-15,
                hint=WARMUP_HINT)


def warmup_hidden_torch(ctx: Context) -> None:
    """Without warm-up the schedule is torch's CosineAnnealingLR (computed recursively there)."""
    optim = _optim()
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = optim.SGD([p], lr=0.3)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=40, eta_min=0.01)
    got, exp = [], []
    for step in range(41):
        got.append(_lr_value(ctx, "warmup_cosine_lr", (step, 0.3, 0, 40), {"min_lr": 0.01},
                             "no warm-up"))
        exp.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    compare(np.array(got), np.array(exp), "learning rates (no warm-up, compared with "
            "torch.optim.lr_scheduler.CosineAnnealingLR)", hidden=True, rtol=1e-9,
            atol=1e-12, hint=WARMUP_HINT)


# ---------------------------------------------------------------------------------------------
# sgdr_lr

SGDR_HINT = ("CosineAnnealingWarmRestarts: the cycles last T_0, T_0·T_mult, T_0·T_mult², … "
             "epochs; inside a cycle of length T_i, T_cur epochs after its start, the rate is "
             "eta_min + ½(base_lr − eta_min)(1 + cos(π·T_cur/T_i)); the epoch may be "
             "fractional, and a restart gives base_lr again.")


def sgdr_known(ctx: Context) -> None:
    s = math.sqrt(0.5)
    _schedule_known(ctx, "sgdr_lr", [
        ((0, 1.0, 4), {}, 1.0),
        ((1, 1.0, 4), {}, 0.5 * (1 + s)),
        ((2, 1.0, 4), {}, 0.5),
        ((3.5, 1.0, 4), {}, 0.5 * (1 + math.cos(math.pi * 3.5 / 4))),
        ((4, 1.0, 4), {}, 1.0),                  # the restart
        ((10, 1.0, 4), {}, 0.5),                  # third cycle, half-way
        ((2, 1.0, 4), {"eta_min": 0.2}, 0.6),
    ], SGDR_HINT)


def sgdr_mult_known(ctx: Context) -> None:
    # T_0 = 2, T_mult = 3: cycles [0, 2), [2, 8), [8, 26)
    _schedule_known(ctx, "sgdr_lr", [
        ((1, 1.0, 2), {"T_mult": 3}, 0.5),
        ((2, 1.0, 2), {"T_mult": 3}, 1.0),
        ((5, 1.0, 2), {"T_mult": 3}, 0.5),
        ((6.5, 1.0, 2), {"T_mult": 3}, 0.5 * (1 + math.cos(math.pi * 4.5 / 6))),
        ((8, 1.0, 2), {"T_mult": 3}, 1.0),
        ((17, 1.0, 2), {"T_mult": 3}, 0.5),
    ], SGDR_HINT)


def _torch_sgdr(epochs, base, T_0, T_mult, eta_min) -> list:
    optim = _optim()
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = optim.SGD([p], lr=base)
    sched = optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=T_0, T_mult=T_mult,
                                                                 eta_min=eta_min)
    out = []
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that step(epoch) is deprecated
        for e in epochs:
            sched.step(e)
            out.append(opt.param_groups[0]["lr"])
    return out


def _restarts(T_0: int, T_mult: int, upto: float) -> set:
    out, start, length = set(), 0, T_0
    while start <= upto:
        out.add(start)
        start, length = start + length, length * T_mult
    return out


def sgdr_hidden_torch(ctx: Context) -> None:
    for base, T_0, T_mult, eta_min in [(0.1, 10, 1, 0.0), (0.5, 3, 2, 0.01), (1.0, 1, 3, 0.0),
                                       (0.05, 7, 1, 0.001), (0.2, 2, 2, 0.0)]:
        upto = 60.0
        epochs = np.concatenate([ctx.rng.uniform(0, upto, size=40), np.arange(0, upto, 1.0)])
        # exact restart epochs, where torch's floating-point logarithm can be off by one cycle,
        # are not graded against torch (the reference and the public checks cover them)
        restarts = _restarts(T_0, T_mult, upto)
        epochs = [float(e) for e in epochs if float(e) not in restarts]
        got = [_lr_value(ctx, "sgdr_lr", (e, base, T_0),
                         {"T_mult": T_mult, "eta_min": eta_min}, "a hidden schedule")
               for e in epochs]
        compare(np.array(got), np.array(_torch_sgdr(epochs, base, T_0, T_mult, eta_min)),
                f"learning rates (T_0={T_0}, T_mult={T_mult}, {len(got)} epochs, compared with "
                f"CosineAnnealingWarmRestarts)", hidden=True, rtol=1e-9, atol=1e-13,
                hint=SGDR_HINT)


def sgdr_hidden_ref(ctx: Context) -> None:
    ref = ctx.ref("sgdr_lr")
    for base, T_0, T_mult, eta_min in [(0.3, 5, 2, 0.0), (1.0, 1, 2, 0.1), (0.01, 4, 4, 0.0)]:
        epochs = sorted(_restarts(T_0, T_mult, 400.0)) + [0.25, 0.999, 1.001]
        epochs += [float(e) for e in ctx.rng.uniform(0, 400, size=20)]
        got = [_lr_value(ctx, "sgdr_lr", (e, base, T_0),
                         {"T_mult": T_mult, "eta_min": eta_min}, "a hidden schedule")
               for e in epochs]
        compare(np.array(got), np.array([ref(e, base, T_0, T_mult, eta_min) for e in epochs]),
                f"learning rates (T_0={T_0}, T_mult={T_mult}, restarts included)",
                hidden=True, rtol=1e-9, atol=1e-13, hint=SGDR_HINT)


# ---------------------------------------------------------------------------------------------
# heavy_ball_trajectory

HB_HINT = ("Heavy ball in torch's SGD form: g = A x − b, buf = g on the first step and "
           "momentum·buf + g after it, x ← x − lr·buf; equivalently x_{k+1} = x_k − lr·g_k + "
           "momentum·(x_k − x_{k−1}) with x_{−1} = x_0. Return all steps + 1 iterates, x0 first.")


def _trajectory(ctx: Context, A, b, x0, lr, momentum, steps, what) -> np.ndarray:
    out = as_float_array(ctx.call("heavy_ball_trajectory", A, b, x0, lr, momentum, steps),
                         f"the trajectory ({what})")
    check_shape(out, (steps + 1, len(x0)), f"the trajectory ({what})",
                "It is (steps + 1, d): x0 first, then one row per step.")
    return out


def torch_heavy_ball(A, b, x0, lr, momentum, steps) -> np.ndarray:
    optim = _optim()
    x = torch.nn.Parameter(torch.tensor(np.array(x0, dtype=np.float64)))
    opt = optim.SGD([x], lr=lr, momentum=momentum, foreach=False)
    At, bt = torch.tensor(A, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    out = [x.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * x @ At @ x - bt @ x
        loss.backward()
        opt.step()
        out.append(x.detach().numpy().copy())
    return np.array(out)


def hb_known(ctx: Context) -> None:
    A, b, x0 = np.array([[2.0]]), np.array([2.0]), np.array([0.0])
    # g = −2, buf −2 → 0.5; g = −1, buf −2 → 1; g = 0, buf −1 → 1.25
    what = "A=[[2]], b=[2], x0=[0], lr=0.25, momentum=0.5, steps=3"
    compare(_trajectory(ctx, A, b, x0, 0.25, 0.5, 3, what), [[0.0], [0.5], [1.0], [1.25]],
            f"the trajectory ({what})", hidden=False, rtol=1e-12, atol=1e-14, hint=HB_HINT)
    what = "A=[[2]], b=[2], x0=[0], lr=0.25, momentum=0.5, steps=0"
    compare(_trajectory(ctx, A, b, x0, 0.25, 0.5, 0, what), [[0.0]], f"the trajectory ({what})",
            hidden=False, hint="With steps = 0 the trajectory is x0 alone, shape (1, d).")


def hb_torch_public(ctx: Context) -> None:
    A = np.array([[3.0, 1.0], [1.0, -1.0]])  # indefinite: a saddle, the iterates escape
    b, x0 = np.array([1.0, 0.5]), np.array([0.2, -0.3])
    what = f"A={fmt(A)}, b={fmt(b)}, x0={fmt(x0)}, lr=0.1, momentum=0.8, steps=15"
    compare(_trajectory(ctx, A, b, x0, 0.1, 0.8, 15, what),
            torch_heavy_ball(A, b, x0, 0.1, 0.8, 15), f"the trajectory ({what}, compared with "
            f"torch.optim.SGD)", hidden=False, rtol=1e-9, atol=1e-12, hint=HB_HINT)


def _sym(rng: np.random.Generator, eigs) -> np.ndarray:
    Q, _ = np.linalg.qr(rng.normal(size=(len(eigs), len(eigs))))
    return (Q * np.asarray(eigs, dtype=float)) @ Q.T


def hb_hidden(ctx: Context) -> None:
    ref = ctx.ref("heavy_ball_trajectory")
    for eigs, lr, mu, steps in [([1.0, 10.0], 0.15, 0.5, 40), ([0.5, 2.0, -0.3], 0.2, 0.9, 30),
                                ([4.0], 0.4, 0.0, 10), ([1.0, 1.0, 100.0], 0.019, 0.7, 60),
                                ([-2.0, 3.0], 0.1, 0.3, 20), ([0.2, 0.4, 0.6, 0.8], 1.0, 0.99,
                                                               1)]:
        A = _sym(ctx.rng, eigs)
        b, x0 = ctx.rng.normal(size=len(eigs)), ctx.rng.normal(size=len(eigs))
        what = f"d={len(eigs)}, {steps} steps"
        got = _trajectory(ctx, A, b, x0, lr, mu, steps, what)
        for expected, against in ((ref(A, b, x0, lr, mu, steps), "the reference"),
                                  (torch_heavy_ball(A, b, x0, lr, mu, steps),
                                   "torch.optim.SGD")):
            scale = np.maximum.accumulate(np.abs(expected).max(axis=1))[:, None]
            compare(got / scale, expected / scale, f"the trajectory ({what}, each row scaled "
                    f"by the largest |x| so far, compared with {against})", hidden=True,
                    rtol=1e-8, atol=1e-11, hint=HB_HINT)


# ---------------------------------------------------------------------------------------------
# iteration_spectral_radius

RHO_HINT = ("With e_k = x_k − x*, one step maps (e_k, e_{k−1}) to "
            "(((1 + μ)I − lr·A) e_k − μ e_{k−1}, e_k): a 2d × 2d matrix whose spectral radius "
            "is the largest |eigenvalue| (not a singular value). In A's eigenbasis it splits into "
            "2 × 2 blocks, one per eigenvalue λ of A (negative ones included), with eigenvalues "
            "the roots of z² − (1 + μ − lr·λ)z + μ = 0.")


def _rho(ctx: Context, A, lr, momentum, what: str) -> float:
    return as_scalar(ctx.call("iteration_spectral_radius", A, lr, momentum),
                     f"the spectral radius ({what})")


def rho_known(ctx: Context) -> None:
    cases = [
        (np.diag([1.0, 10.0]), 0.1, 0.0, 0.9, "no momentum: max |1 − lr·λ|"),
        (np.diag([1.0, 10.0]), 0.25, 0.0, 1.5, "no momentum, lr above 2/λ_max"),
        (np.diag([-1.0, 1.0]), 0.1, 0.0, 1.1, "a negative eigenvalue: 1 − lr·λ > 1"),
        (np.diag([-1.0, 1.0]), 0.1, 0.5, (1.6 + math.sqrt(0.56)) / 2,
         "a negative eigenvalue with momentum 0.5: the larger real root"),
        (np.diag([1.0, 4.0]), 0.1, 0.64, 0.8, "momentum 0.64 with complex roots: |z| = √μ"),
    ]
    # Polyak's tuning for κ = 100: lr = 4/(√L + √m)², μ = ((√κ − 1)/(√κ + 1))², ρ = 9/11
    cases.append((np.diag([1.0, 100.0]), 4.0 / 121.0, (9.0 / 11.0) ** 2, 9.0 / 11.0,
                  "the optimal lr and momentum for κ = 100 (critical damping)"))
    for A, lr, mu, expected, why in cases:
        what = f"A={fmt(A)}, lr={fmt(lr)}, momentum={fmt(mu)}: {why}"
        compare(_rho(ctx, A, lr, mu, what), expected, f"the spectral radius ({what})",
                hidden=False, rtol=1e-6, hint=RHO_HINT)


def rho_rotation_invariant(ctx: Context) -> None:
    eigs = [0.5, 2.0, 3.0]
    diag = _rho(ctx, np.diag(eigs), 0.3, 0.4, "A = diag(0.5, 2, 3), lr 0.3, momentum 0.4")
    # every eigenvalue gives complex roots here (|1.4 − 0.3λ| < 2√0.4): ρ = √0.4
    compare(diag, math.sqrt(0.4), "the spectral radius (A = diag(0.5, 2, 3), lr 0.3, "
            "momentum 0.4)", hidden=False, rtol=1e-6, hint=RHO_HINT)
    A = _sym(ctx.rng, eigs)
    rotated = _rho(ctx, A, 0.3, 0.4, "the same eigenvalues in a rotated basis")
    compare(rotated, diag, "the spectral radius for A = Q·diag(0.5, 2, 3)·Qᵀ (it must equal "
            "the one for diag(0.5, 2, 3): it depends on A's eigenvalues only)", hidden=False,
            rtol=1e-6, hint=RHO_HINT)


def rho_hidden(ctx: Context) -> None:
    ref = ctx.ref("iteration_spectral_radius")
    for eigs, lr, mu in [([1.0, 5.0, 9.0], 0.2, 0.3), ([0.01, 1.0], 1.9, 0.0),
                         ([0.1, 10.0], 0.15, 0.95), ([-0.5, 2.0], 0.05, 0.9),
                         ([3.0], 0.1, 0.49), ([1.0, 2.0, 3.0, 4.0], 0.45, 0.1),
                         ([2.0, 2.0], 1.05, 0.0), ([-3.0, -1.0], 0.01, 0.5)]:
        A = _sym(ctx.rng, eigs)
        compare(_rho(ctx, A, lr, mu, f"d={len(eigs)}"), ref(A, lr, mu),
                f"the spectral radius (d={len(eigs)})", hidden=True, rtol=1e-6, hint=RHO_HINT)


def rho_hidden_critical(ctx: Context) -> None:
    """Critical damping: μ = (1 − √(lr·λ))² makes a 2×2 block defective (a double root)."""
    ref = ctx.ref("iteration_spectral_radius")
    for lam_min, lam_max in ((1.0, 50.0), (0.3, 3.0), (2.0, 2.0)):
        lr = 4.0 / (math.sqrt(lam_max) + math.sqrt(lam_min)) ** 2
        mu = (1.0 - math.sqrt(lr * lam_min)) ** 2
        A = _sym(ctx.rng, [lam_min, 0.5 * (lam_min + lam_max), lam_max])
        compare(_rho(ctx, A, lr, mu, "critical damping"), ref(A, lr, mu),
                "the spectral radius (critical damping, d=3)", hidden=True, rtol=1e-6,
                hint=RHO_HINT)


# ---------------------------------------------------------------------------------------------

ASSIGNMENT = Assignment(
    name="07_optimization",
    title="Optimisation",
    imports=("torch", "torch._dynamo"),
    functions=(
        GradedFunction(
            "sgd_step", MOMENTUM,
            public=(("plain steps, known values", sgd_plain_known),
                    ("momentum, then a larger learning rate", sgd_momentum_known),
                    ("Nesterov; dampening with weight decay", sgd_nesterov_dampening_known),
                    ("agrees with torch.optim.SGD", sgd_torch_public)),
            hidden=(("option grid, gradients 1e-9 to 1e6, lr changed part-way vs torch and "
                     "reference", sgd_hidden),
                    ("matrix and 0-d parameters", sgd_hidden_shapes)),
            public_points=2, hidden_points=3),
        GradedFunction(
            "adagrad_step", ADAGRAD,
            public=(("known values, lr_decay", adagrad_known),
                    ("a gradient as small as eps", adagrad_tiny_gradient),
                    ("agrees with torch.optim.Adagrad", adagrad_torch_public)),
            hidden=(("option grid, gradients 1e-9 to 1e6, lr changed part-way vs torch and "
                     "reference", adagrad_hidden),),
            public_points=1, hidden_points=2),
        GradedFunction(
            "rmsprop_step", RMSPROP,
            public=(("known values: plain, centred, momentum", rmsprop_known),
                    ("agrees with torch.optim.RMSprop", rmsprop_torch_public)),
            hidden=(("option grid, gradients 1e-9 to 1e6, lr changed part-way vs torch and "
                     "reference", rmsprop_hidden),),
            public_points=2, hidden_points=2),
        GradedFunction(
            "adam_step", ADAM,
            public=(("the first step moves every coordinate by about lr", adam_first_step),
                    ("two steps, known values", adam_known),
                    ("agrees with torch.optim.Adam", adam_torch_public)),
            hidden=(("option grid, gradients 1e-9 to 1e6, lr changed part-way vs torch and "
                     "reference", adam_hidden),
                    ("long runs with tiny gradients", adam_hidden_long)),
            public_points=2, hidden_points=3),
        GradedFunction(
            "adamw_step", DECAY,
            public=(("known values: decay then step, decay alone", adamw_known),
                    ("agrees with torch.optim.AdamW", adamw_torch_public)),
            hidden=(("option grid, gradients 1e-9 to 1e6, lr changed part-way vs torch and "
                     "reference", adamw_hidden),),
            public_points=1, hidden_points=2),
        GradedFunction(
            "warmup_cosine_lr", SCHEDULES,
            public=(("known values: warm-up, cosine, after the end", warmup_known),
                    ("no warm-up", warmup_zero)),
            hidden=(("random schedules, every step vs reference", warmup_hidden),
                    ("agrees with CosineAnnealingLR", warmup_hidden_torch)),
            public_points=1, hidden_points=1),
        GradedFunction(
            "sgdr_lr", SGDR,
            public=(("known values, T_mult = 1", sgdr_known),
                    ("known values, T_mult = 3", sgdr_mult_known)),
            hidden=(("fractional epochs vs CosineAnnealingWarmRestarts", sgdr_hidden_torch),
                    ("restart epochs and long runs vs reference", sgdr_hidden_ref)),
            public_points=1, hidden_points=2),
        GradedFunction(
            "heavy_ball_trajectory", HEAVY_BALL,
            public=(("one dimension, known values", hb_known),
                    ("a saddle, compared with torch.optim.SGD", hb_torch_public)),
            hidden=(("random quadratics, indefinite ones included, vs reference and torch",
                     hb_hidden),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "iteration_spectral_radius", HEAVY_BALL,
            public=(("known values", rho_known),
                    ("depends on the eigenvalues of A only", rho_rotation_invariant)),
            hidden=(("random quadratics, indefinite ones included, vs reference", rho_hidden),
                    ("critical damping", rho_hidden_critical)),
            public_points=1, hidden_points=2),
    ),
)

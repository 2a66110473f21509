"""Wrong and right implementations for 07_optimization (see tests/variants/__init__.py).

The wrong ones are the mistakes that optimiser code in notes and blog posts actually makes: Adam
without bias correction or with t from 0, eps inside the square root, the "efficient" eps-hat
form, Caffe's velocity with the learning rate inside it, AdamW's decay applied as L2 or after
the step, a warm-up off by one, a cosine whose period counts the warm-up, ... The right ones
use another state layout, a recursive instead of a closed form, or drive torch itself.
"""

# ruff: noqa: N803, N806
from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from . import right as _right
from . import wrong as _wrong

A = "07_optimization"


def wrong(target, why, breaks=""):
    return _wrong(A, target, why, breaks=breaks)


def right(target, why):
    return _right(A, target, why)


# ------------------------------------------------------------------------------- sgd_step


@wrong("sgd_step", "Caffe's velocity: v = mu*v + lr*g, theta -= v (lr inside the buffer)")
def sgd_caffe(theta, grad, state, lr, momentum=0.0, dampening=0.0, nesterov=False,
              weight_decay=0.0):
    g = grad + weight_decay * theta
    if not momentum:
        return theta - lr * g, {}
    v = lr * g if "v" not in state else momentum * state["v"] + (1 - dampening) * lr * g
    d = lr * g + momentum * v if nesterov else v
    return theta - d, {"v": v}


@wrong("sgd_step", "momentum buffer starts at zero: the first buffer is (1 - dampening)*g")
def sgd_zero_buffer(theta, grad, state, lr, momentum=0.0, dampening=0.0, nesterov=False,
                    weight_decay=0.0):
    g = grad + weight_decay * theta
    if not momentum:
        return theta - lr * g, {}
    buf = momentum * state.get("buf", np.zeros_like(g)) + (1 - dampening) * g
    d = g + momentum * buf if nesterov else buf
    return theta - lr * d, {"buf": buf}


@wrong("sgd_step", "Nesterov steps along the buffer only (the flag is ignored)")
def sgd_no_nesterov(theta, grad, state, lr, momentum=0.0, dampening=0.0, nesterov=False,
                    weight_decay=0.0):
    g = grad + weight_decay * theta
    if not momentum:
        return theta - lr * g, {}
    buf = g if "buf" not in state else momentum * state["buf"] + (1 - dampening) * g
    return theta - lr * buf, {"buf": buf}


@wrong("sgd_step", "weight decay applied to theta outside the momentum buffer")
def sgd_decoupled_decay(theta, grad, state, lr, momentum=0.0, dampening=0.0, nesterov=False,
                        weight_decay=0.0):
    g = np.asarray(grad, dtype=float)
    if momentum:
        buf = g if "buf" not in state else momentum * state["buf"] + (1 - dampening) * g
        d = g + momentum * buf if nesterov else buf
        state = {"buf": buf}
    else:
        d, state = g, {}
    return theta * (1 - lr * weight_decay) - lr * d, state


@wrong("sgd_step", "dampening multiplies the gradient by dampening, not 1 - dampening")
def sgd_dampening_swapped(theta, grad, state, lr, momentum=0.0, dampening=0.0,
                          nesterov=False, weight_decay=0.0):
    g = grad + weight_decay * theta
    if not momentum:
        return theta - lr * g, {}
    buf = g if "buf" not in state else momentum * state["buf"] + dampening * g
    d = g + momentum * buf if nesterov else buf
    return theta - lr * d, {"buf": buf}


@wrong("sgd_step", "updates the buffer in the caller's state in place")
def sgd_in_place(theta, grad, state, lr, momentum=0.0, dampening=0.0, nesterov=False,
                 weight_decay=0.0):
    g = grad + weight_decay * theta
    if not momentum:
        return theta - lr * g, state
    if "buf" not in state:
        state["buf"] = g.copy()
    else:
        state["buf"] *= momentum
        state["buf"] += (1 - dampening) * g
    buf = state["buf"]
    d = g + momentum * buf if nesterov else buf
    return theta - lr * d, state


@right("sgd_step", "the state is a tuple (buffer or None,)")
def sgd_tuple_state(theta, grad, state, lr, momentum=0.0, dampening=0.0, nesterov=False,
                    weight_decay=0.0):
    (buf,) = state if state else (None,)
    g = np.add(grad, np.multiply(weight_decay, theta))
    if momentum == 0:
        return np.subtract(theta, lr * g), (None,)
    buf = g if buf is None else momentum * buf + (1 - dampening) * g
    return theta - lr * (g + momentum * buf if nesterov else buf), (buf,)


@right("sgd_step", "drives torch.optim.SGD, the momentum buffer loaded into its state")
def sgd_torch(theta, grad, state, lr, momentum=0.0, dampening=0.0, nesterov=False,
              weight_decay=0.0):
    p = torch.nn.Parameter(torch.tensor(np.array(theta, dtype=np.float64)))
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum, dampening=dampening,
                          nesterov=nesterov, weight_decay=weight_decay, foreach=False)
    if "momentum_buffer" in state:
        opt.state[p]["momentum_buffer"] = torch.tensor(state["momentum_buffer"])
    p.grad = torch.tensor(np.array(grad, dtype=np.float64))
    opt.step()
    buf = opt.state[p].get("momentum_buffer")
    new_state = {} if buf is None else {"momentum_buffer": buf.numpy().copy()}
    return p.detach().numpy().copy(), new_state


# ------------------------------------------------------------------------------- adagrad_step


def _adagrad(theta, grad, state, lr, lr_decay, eps, weight_decay, *, eps_inside=False,
             t_from_zero=False, sum_before=False, decay_after=False):
    t = state.get("t", 0) + 1
    g = grad + weight_decay * theta
    old = state.get("sum", np.zeros_like(theta, dtype=float))
    total = old + (grad * grad if decay_after else g * g)
    denom_sum = old if sum_before and t > 1 else total
    clr = lr / (1 + (t if t_from_zero else t - 1) * lr_decay)
    denom = np.sqrt(denom_sum + eps) if eps_inside else np.sqrt(denom_sum) + eps
    return theta - clr * g / denom, {"t": t, "sum": total}


@wrong("adagrad_step", "eps inside the square root")
def adagrad_eps_inside(theta, grad, state, lr=1e-2, lr_decay=0.0, eps=1e-10, weight_decay=0.0):
    return _adagrad(theta, grad, state, lr, lr_decay, eps, weight_decay, eps_inside=True)


@wrong("adagrad_step", "lr_decay counts t from 1: lr/(1 + t*lr_decay)")
def adagrad_decay_t(theta, grad, state, lr=1e-2, lr_decay=0.0, eps=1e-10, weight_decay=0.0):
    return _adagrad(theta, grad, state, lr, lr_decay, eps, weight_decay, t_from_zero=True)


@wrong("adagrad_step", "divides by the accumulator before adding this step's g^2")
def adagrad_sum_before(theta, grad, state, lr=1e-2, lr_decay=0.0, eps=1e-10,
                       weight_decay=0.0):
    return _adagrad(theta, grad, state, lr, lr_decay, eps, weight_decay, sum_before=True)


@wrong("adagrad_step", "accumulates the raw gradient, weight decay added only to the step")
def adagrad_decay_after(theta, grad, state, lr=1e-2, lr_decay=0.0, eps=1e-10,
                        weight_decay=0.0):
    return _adagrad(theta, grad, state, lr, lr_decay, eps, weight_decay, decay_after=True)


@wrong("adagrad_step", "keeps the first learning rate in the state")
def adagrad_frozen_lr(theta, grad, state, lr=1e-2, lr_decay=0.0, eps=1e-10, weight_decay=0.0):
    lr0 = state.get("lr", lr)
    new_theta, new_state = _adagrad(theta, grad, state, lr0, lr_decay, eps, weight_decay)
    return new_theta, {**new_state, "lr": lr0}


@right("adagrad_step", "keeps sqrt(sum) instead of sum, in a list")
def adagrad_root_state(theta, grad, state, lr=1e-2, lr_decay=0.0, eps=1e-10,
                       weight_decay=0.0):
    t, root = state if state else (0, np.zeros(np.shape(theta)))
    g = grad + weight_decay * theta
    root = np.sqrt(root**2 + g**2)
    clr = lr / (1 + t * lr_decay)
    return theta - clr * g / (root + eps), [t + 1, root]


@right("adagrad_step", "drives torch.optim.Adagrad, its state dict saved and loaded")
def adagrad_torch(theta, grad, state, lr=1e-2, lr_decay=0.0, eps=1e-10, weight_decay=0.0):
    return _torch_step(torch.optim.Adagrad, theta, grad, state, lr=lr, lr_decay=lr_decay,
                       eps=eps, weight_decay=weight_decay)


def _torch_step(cls, theta, grad, state, **hyper):
    p = torch.nn.Parameter(torch.tensor(np.array(theta, dtype=np.float64)))
    opt = cls([p], foreach=False, **hyper)
    if state:
        saved = {k: torch.tensor(v) for k, v in state.items()}
        loaded = {"state": {0: saved}, "param_groups": [{**opt.param_groups[0], "params": [0]}]}
        opt.load_state_dict(loaded)
    p.grad = torch.tensor(np.array(grad, dtype=np.float64))
    opt.step()
    new_state = {k: np.array(v.numpy()) for k, v in opt.state[p].items()}
    return p.detach().numpy().copy(), new_state


# ------------------------------------------------------------------------------- rmsprop_step


def _rmsprop(theta, grad, state, lr, alpha, eps, momentum, centered, *, eps_inside=False,
             ignore_centered=False, lr_in_buffer=False, bias_correct=False, first_g2=False):
    zeros = np.zeros_like(theta, dtype=float)
    t = state.get("t", 0) + 1
    if first_g2 and "v" not in state:
        v = grad * grad
    else:
        v = alpha * state.get("v", zeros) + (1 - alpha) * grad * grad
    ga = alpha * state.get("ga", zeros) + (1 - alpha) * grad
    var = v / (1 - alpha**t) if bias_correct else v
    if centered and not ignore_centered:
        var = var - ga * ga
    a = np.sqrt(var + eps) if eps_inside else np.sqrt(var) + eps
    new_state = {"t": t, "v": v, "ga": ga}
    if momentum > 0:
        buf = momentum * state.get("buf", zeros) + (lr * grad / a if lr_in_buffer else grad / a)
        new_state["buf"] = buf
        return theta - (buf if lr_in_buffer else lr * buf), new_state
    return theta - lr * grad / a, new_state


@wrong("rmsprop_step", "eps inside the square root")
def rmsprop_eps_inside(theta, grad, state, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0,
                       centered=False):
    return _rmsprop(theta, grad, state, lr, alpha, eps, momentum, centered, eps_inside=True)


@wrong("rmsprop_step", "centred variant not implemented (flag ignored)")
def rmsprop_not_centered(theta, grad, state, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0,
                         centered=False):
    return _rmsprop(theta, grad, state, lr, alpha, eps, momentum, centered,
                    ignore_centered=True)


@wrong("rmsprop_step", "learning rate inside the momentum buffer")
def rmsprop_lr_in_buffer(theta, grad, state, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0,
                         centered=False):
    return _rmsprop(theta, grad, state, lr, alpha, eps, momentum, centered, lr_in_buffer=True)


@wrong("rmsprop_step", "bias-corrects the square average as Adam does")
def rmsprop_bias_corrected(theta, grad, state, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0,
                           centered=False):
    return _rmsprop(theta, grad, state, lr, alpha, eps, momentum, centered, bias_correct=True)


@wrong("rmsprop_step", "square average initialised with the first g^2")
def rmsprop_first_g2(theta, grad, state, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0,
                     centered=False):
    return _rmsprop(theta, grad, state, lr, alpha, eps, momentum, centered, first_g2=True)


@right("rmsprop_step", "the reference's algebra with a tuple state and lerp-style updates")
def rmsprop_tuple(theta, grad, state, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0,
                  centered=False):
    v, ga, buf = state if state else (0.0, 0.0, 0.0)
    v = v + (1 - alpha) * (grad * grad - v)
    ga = ga + (1 - alpha) * (grad - ga)
    denom = np.sqrt(v - ga * ga if centered else v) + eps
    step = grad / denom
    if momentum > 0:
        buf = momentum * buf + step
        step = buf
    return theta - lr * step, (v, ga, buf)


@right("rmsprop_step", "drives torch.optim.RMSprop")
def rmsprop_torch(theta, grad, state, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0,
                  centered=False):
    return _torch_step(torch.optim.RMSprop, theta, grad, state, lr=lr, alpha=alpha, eps=eps,
                       momentum=momentum, centered=centered)


# ------------------------------------------------------------------------------- adam_step


def _adam(theta, grad, state, lr, betas, eps, weight_decay, amsgrad, *, correct=True,
          t0=False, eps_inside=False, eps_hat=False, max_hat=False, decoupled=False):
    b1, b2 = betas
    t = state.get("t", 0) + (0 if t0 else 1)
    zeros = np.zeros_like(theta, dtype=float)
    g = grad if decoupled else grad + weight_decay * theta
    m = b1 * state.get("m", zeros) + (1 - b1) * g
    v = b2 * state.get("v", zeros) + (1 - b2) * g * g
    c1, c2 = (1 - b1**t, 1 - b2**t) if correct else (1.0, 1.0)
    new_state = {"t": t + (1 if t0 else 0), "m": m, "v": v}
    if amsgrad:
        if max_hat:
            vmax = np.maximum(state.get("vmax", zeros), v / c2)
            new_state["vmax"] = vmax
            v_hat = vmax
        else:
            v = np.maximum(state.get("vmax", zeros), v)
            new_state["vmax"] = v
            v_hat = v / c2
    else:
        v_hat = v / c2
    with np.errstate(divide="ignore", invalid="ignore"):
        if eps_hat:
            step = lr * math.sqrt(c2) / c1 * m / (np.sqrt(v) + eps)
        elif eps_inside:
            step = lr * (m / c1) / np.sqrt(v_hat + eps)
        else:
            step = lr * (m / c1) / (np.sqrt(v_hat) + eps)
    new = theta - step
    if decoupled:
        new = new - lr * weight_decay * theta
    return new, new_state


@wrong("adam_step", "no bias correction of m and v")
def adam_no_correction(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                       weight_decay=0.0, amsgrad=False):
    return _adam(theta, grad, state, lr, betas, eps, weight_decay, amsgrad, correct=False)


@wrong("adam_step", "step counter t starts at 0 (1 - beta^0 = 0 on the first step)")
def adam_t_zero(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                weight_decay=0.0, amsgrad=False):
    return _adam(theta, grad, state, lr, betas, eps, weight_decay, amsgrad, t0=True)


@wrong("adam_step", "eps inside the square root")
def adam_eps_inside(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                    weight_decay=0.0, amsgrad=False):
    return _adam(theta, grad, state, lr, betas, eps, weight_decay, amsgrad, eps_inside=True)


@wrong("adam_step", "the 'efficient' form: lr_t = lr*sqrt(1-b2^t)/(1-b1^t), eps-hat = eps")
def adam_eps_hat(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0, amsgrad=False):
    return _adam(theta, grad, state, lr, betas, eps, weight_decay, amsgrad, eps_hat=True)


@wrong("adam_step", "AMSGrad takes the maximum of the bias-corrected v-hat")
def adam_max_hat(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0, amsgrad=False):
    return _adam(theta, grad, state, lr, betas, eps, weight_decay, amsgrad, max_hat=True)


@wrong("adam_step", "weight_decay applied as decoupled decay (that is AdamW)")
def adam_decoupled(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                   weight_decay=0.0, amsgrad=False):
    return _adam(theta, grad, state, lr, betas, eps, weight_decay, amsgrad, decoupled=True)


@right("adam_step", "m-hat and v-hat written as sums of powers, state as a tuple")
def adam_tuple(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
               amsgrad=False):
    b1, b2 = betas
    t, m, v, vmax = state if state else (0, 0.0, 0.0, 0.0)
    t += 1
    g = np.asarray(grad) + weight_decay * np.asarray(theta)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * np.square(g)
    vmax = np.maximum(vmax, v) if amsgrad else vmax
    denom = np.sqrt((vmax if amsgrad else v) / (1 - b2**t)) + eps
    return theta - lr / (1 - b1**t) * m / denom, (t, m, v, vmax)


@right("adam_step", "drives torch.optim.Adam, its state dict saved and loaded")
def adam_torch(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
               amsgrad=False):
    return _torch_step(torch.optim.Adam, theta, grad, state, lr=lr, betas=betas, eps=eps,
                       weight_decay=weight_decay, amsgrad=amsgrad)


# ------------------------------------------------------------------------------- adamw_step


def _adamw(theta, grad, state, lr, betas, eps, wd, *, how="decoupled", lr0=None):
    b1, b2 = betas
    t = state.get("t", 0) + 1
    zeros = np.zeros_like(theta, dtype=float)
    g = grad + wd * theta if how in ("l2", "both") else grad
    m = b1 * state.get("m", zeros) + (1 - b1) * g
    v = b2 * state.get("v", zeros) + (1 - b2) * g * g
    step = lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    new_state = {"t": t, "m": m, "v": v}
    if how == "l2":
        return theta - step, new_state
    if how == "after":
        return (theta - step) * (1 - lr * wd), new_state
    if how == "no_lr":
        return theta * (1 - wd) - step, new_state
    if how == "frozen":
        lr0 = state.get("lr0", lr)
        return theta * (1 - lr0 * wd) - step, {**new_state, "lr0": lr0}
    return theta * (1 - lr * wd) - step, new_state  # "both": L2 term and decay


@wrong("adamw_step", "decay applied as an L2 term in the gradient (that is Adam)")
def adamw_l2(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    return _adamw(theta, grad, state, lr, betas, eps, weight_decay, how="l2")


@wrong("adamw_step", "decay applied after the Adam step, to the new theta")
def adamw_after(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    return _adamw(theta, grad, state, lr, betas, eps, weight_decay, how="after")


@wrong("adamw_step", "decay factor (1 - weight_decay) without the learning rate")
def adamw_no_lr(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    return _adamw(theta, grad, state, lr, betas, eps, weight_decay, how="no_lr")


@wrong("adamw_step", "both the L2 gradient term and the decoupled decay")
def adamw_both(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    return _adamw(theta, grad, state, lr, betas, eps, weight_decay, how="both")


@wrong("adamw_step", "decays with the first learning rate, kept in the state")
def adamw_frozen(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    return _adamw(theta, grad, state, lr, betas, eps, weight_decay, how="frozen")


@right("adamw_step", "one expression theta - lr*(wd*theta + m_hat/(sqrt(v_hat) + eps))")
def adamw_one_line(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                   weight_decay=1e-2):
    b1, b2 = betas
    t = state.get("step", 0) + 1
    m = b1 * state.get("exp_avg", 0.0) + (1 - b1) * grad
    v = b2 * state.get("exp_avg_sq", 0.0) + (1 - b2) * grad**2
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    new = theta - lr * (weight_decay * theta + m_hat / (np.sqrt(v_hat) + eps))
    return new, {"step": t, "exp_avg": m, "exp_avg_sq": v}


@right("adamw_step", "drives torch.optim.AdamW")
def adamw_torch(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    return _torch_step(torch.optim.AdamW, theta, grad, state, lr=lr, betas=betas, eps=eps,
                       weight_decay=weight_decay)


# ------------------------------------------------------------------------------- warmup_cosine_lr


def _cos(step, base, warm, total, low, *, period=None, shift=0):
    if step >= total:
        return low
    span = (total - warm) if period is None else period
    return low + 0.5 * (base - low) * (1 + math.cos(math.pi * (step - shift) / span))


@wrong("warmup_cosine_lr", "warm-up off by one: base*(step + 1)/warmup")
def warmup_off_by_one(step, base_lr, warmup_steps, total_steps, min_lr=0.0):
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    return _cos(step, base_lr, warmup_steps, total_steps, min_lr, shift=warmup_steps)


@wrong("warmup_cosine_lr", "the cosine's period counts the warm-up: cos(pi*step/total)")
def warmup_period_total(step, base_lr, warmup_steps, total_steps, min_lr=0.0):
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    return _cos(step, base_lr, warmup_steps, total_steps, min_lr, period=total_steps)


@wrong("warmup_cosine_lr", "keeps following the cosine after total_steps")
def warmup_no_floor(step, base_lr, warmup_steps, total_steps, min_lr=0.0):
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    return min_lr + 0.5 * (base_lr - min_lr) * (
        1 + math.cos(math.pi * (step - warmup_steps) / (total_steps - warmup_steps)))


@wrong("warmup_cosine_lr", "min_lr ignored: the cosine decays to 0")
def warmup_no_min(step, base_lr, warmup_steps, total_steps, min_lr=0.0):
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    return _cos(step, base_lr, warmup_steps, total_steps, 0.0, shift=warmup_steps)


@wrong("warmup_cosine_lr", "warm-up ramps from min_lr to base_lr")
def warmup_from_min(step, base_lr, warmup_steps, total_steps, min_lr=0.0):
    if step < warmup_steps:
        return min_lr + (base_lr - min_lr) * step / warmup_steps
    return _cos(step, base_lr, warmup_steps, total_steps, min_lr, shift=warmup_steps)


@right("warmup_cosine_lr", "recursive: torch's CosineAnnealingLR update from the warm-up end")
def warmup_recursive(step, base_lr, warmup_steps, total_steps, min_lr=0.0):
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    if step >= total_steps:
        return min_lr
    T, lr = total_steps - warmup_steps, base_lr
    for k in range(step - warmup_steps):
        lr = min_lr + (lr - min_lr) * (1 + math.cos(math.pi * (k + 1) / T)) / (
            1 + math.cos(math.pi * k / T))
    return lr


@right("warmup_cosine_lr", "torch.optim.lr_scheduler.SequentialLR of LambdaLR and "
       "CosineAnnealingLR")
def warmup_torch(step, base_lr, warmup_steps, total_steps, min_lr=0.0):
    if step >= total_steps:
        return float(min_lr)
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=base_lr)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps - warmup_steps,
                                                        eta_min=min_lr)
    if warmup_steps == 0:
        sched = cosine
    else:
        ramp = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: s / warmup_steps)
        sched = torch.optim.lr_scheduler.SequentialLR(opt, [ramp, cosine],
                                                      milestones=[warmup_steps])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(step):
            opt.step()
            sched.step()
    return opt.param_groups[0]["lr"]


# ------------------------------------------------------------------------------- sgdr_lr


def _sgdr(epoch, base, T_0, T_mult, eta_min, *, first=None, grow=None, floor=False,
          full=False):
    start, length = 0, T_0 if first is None else first
    e = math.floor(epoch) if floor else epoch
    while e >= start + length:
        start += length
        length = length * T_mult if grow is None else grow(length)
    t_cur = e - start
    angle = (2 if full else 1) * math.pi * t_cur / length
    return eta_min + 0.5 * (base - eta_min) * (1 + math.cos(angle))


@wrong("sgdr_lr", "T_mult ignored: every cycle lasts T_0")
def sgdr_no_mult(epoch, base_lr, T_0, T_mult=1, eta_min=0.0):
    return _sgdr(epoch, base_lr, T_0, 1, eta_min)


@wrong("sgdr_lr", "cycle lengths off by one power: T_0*T_mult, T_0*T_mult^2, ...")
def sgdr_power_off(epoch, base_lr, T_0, T_mult=1, eta_min=0.0):
    return _sgdr(epoch, base_lr, T_0, T_mult, eta_min, first=T_0 * T_mult)


@wrong("sgdr_lr", "integer epochs only (fractional part dropped)")
def sgdr_floor(epoch, base_lr, T_0, T_mult=1, eta_min=0.0):
    return _sgdr(epoch, base_lr, T_0, T_mult, eta_min, floor=True)


@wrong("sgdr_lr", "a full cosine period per cycle (back up to base_lr before the restart)")
def sgdr_full(epoch, base_lr, T_0, T_mult=1, eta_min=0.0):
    return _sgdr(epoch, base_lr, T_0, T_mult, eta_min, full=True)


@wrong("sgdr_lr", "restart epochs belong to the old cycle (eta_min instead of base_lr)")
def sgdr_restart_late(epoch, base_lr, T_0, T_mult=1, eta_min=0.0):
    start, length = 0, T_0
    while epoch > start + length:
        start += length
        length *= T_mult
    return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * (epoch - start)
                                                                / length))


@right("sgdr_lr", "closed form with the cycle index from a logarithm, corrected to integers")
def sgdr_closed(epoch, base_lr, T_0, T_mult=1, eta_min=0.0):
    if T_mult == 1:
        n = int(epoch // T_0)
    else:
        n = int(math.log(epoch / T_0 * (T_mult - 1) + 1, T_mult))
        # the float logarithm may land just below an integer: fix n with exact integers
        while T_0 * (T_mult ** (n + 1) - 1) // (T_mult - 1) <= epoch:
            n += 1
        while n > 0 and T_0 * (T_mult**n - 1) // (T_mult - 1) > epoch:
            n -= 1
    start = n * T_0 if T_mult == 1 else T_0 * (T_mult**n - 1) // (T_mult - 1)
    length = T_0 * T_mult**n
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * (epoch - start) / length)) / 2


@right("sgdr_lr", "drives CosineAnnealingWarmRestarts.step(epoch), restart epochs exact")
def sgdr_torch(epoch, base_lr, T_0, T_mult=1, eta_min=0.0):
    start, length = 0, T_0
    while epoch >= start + length:
        start, length = start + length, length * T_mult
    if epoch == start:
        return float(base_lr)  # torch's float logarithm can miss an exact restart
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0, T_mult, eta_min)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched.step(epoch)
    return opt.param_groups[0]["lr"]


# ------------------------------------------------------------------------------- heavy_ball


def _hb(A, b, x0, lr, mu, steps, *, sign=1.0, ema=False, nesterov=False, x_prev0=None,
        drop_x0=False, stale=False):
    xs, buf = [np.array(x0, dtype=float)], None
    prev = np.array(x0, dtype=float)
    for _ in range(steps):
        at = prev if stale else xs[-1]
        g = A @ at - sign * b
        if ema:
            buf = g if buf is None else mu * buf + (1 - mu) * g
        else:
            buf = g if buf is None else mu * buf + g
        d = g + mu * buf if nesterov else buf
        prev = xs[-1]
        xs.append(xs[-1] - lr * d)
    if x_prev0 is not None:  # two-term form with x_{-1} = 0
        xs, x_prev = [np.array(x0, dtype=float)], np.zeros_like(x0, dtype=float)
        for _ in range(steps):
            x_new = xs[-1] - lr * (A @ xs[-1] - b) + mu * (xs[-1] - x_prev)
            x_prev = xs[-1]
            xs.append(x_new)
    out = np.stack(xs)
    return out[1:] if drop_x0 else out


@wrong("heavy_ball_trajectory", "gradient A x + b (sign of b)")
def hb_sign(A, b, x0, lr, momentum, steps):
    return _hb(A, b, x0, lr, momentum, steps, sign=-1.0)


@wrong("heavy_ball_trajectory", "EMA momentum: buf = mu*buf + (1 - mu)*g")
def hb_ema(A, b, x0, lr, momentum, steps):
    return _hb(A, b, x0, lr, momentum, steps, ema=True)


@wrong("heavy_ball_trajectory", "Nesterov instead of heavy ball")
def hb_nesterov(A, b, x0, lr, momentum, steps):
    return _hb(A, b, x0, lr, momentum, steps, nesterov=True)


@wrong("heavy_ball_trajectory", "two-term form started with x_{-1} = 0 instead of x0")
def hb_prev_zero(A, b, x0, lr, momentum, steps):
    return _hb(A, b, x0, lr, momentum, steps, x_prev0=True)


@wrong("heavy_ball_trajectory", "x0 left out: (steps, d)")
def hb_no_x0(A, b, x0, lr, momentum, steps):
    return _hb(A, b, x0, lr, momentum, steps, drop_x0=True)


@wrong("heavy_ball_trajectory", "gradient taken at the previous iterate")
def hb_stale(A, b, x0, lr, momentum, steps):
    return _hb(A, b, x0, lr, momentum, steps, stale=True)


@right("heavy_ball_trajectory", "Polyak's two-term form x_{k+1} = x_k - lr*g_k + mu*(x_k - "
       "x_{k-1})")
def hb_two_term(A, b, x0, lr, momentum, steps):
    out = np.empty((steps + 1, len(x0)))
    out[0] = x0
    prev = np.asarray(x0, dtype=float)
    for k in range(steps):
        out[k + 1] = out[k] - lr * (A @ out[k] - b) + momentum * (out[k] - prev)
        prev = out[k]
    return out


@right("heavy_ball_trajectory", "drives torch.optim.SGD on the quadratic")
def hb_torch(A, b, x0, lr, momentum, steps):
    x = torch.nn.Parameter(torch.tensor(np.array(x0, dtype=np.float64)))
    opt = torch.optim.SGD([x], lr=lr, momentum=momentum)
    At, bt = torch.tensor(A), torch.tensor(b)
    out = [x.detach().numpy().copy()]
    for _ in range(steps):
        x.grad = (At @ x - bt).detach()
        opt.step()
        out.append(x.detach().numpy().copy())
    return np.array(out)


# ------------------------------------------------------------------------------- spectral radius


def _blocks(A, lr, mu, *, plus=False, no_mu=False):
    d = A.shape[0]
    top = (1 + (0 if no_mu else mu)) * np.eye(d) - lr * A
    off = (mu if plus else -mu) * np.eye(d)
    return np.block([[top, off], [np.eye(d), np.zeros((d, d))]])


@wrong("iteration_spectral_radius", "ignores momentum: max |1 - lr*lambda|")
def rho_no_momentum(A, lr, momentum):
    return float(np.max(np.abs(1 - lr * np.linalg.eigvalsh(A))))


@wrong("iteration_spectral_radius", "largest singular value (the norm) of the block matrix")
def rho_norm(A, lr, momentum):
    return float(np.linalg.norm(_blocks(A, lr, momentum), 2))


@wrong("iteration_spectral_radius", "only the largest eigenvalue of A is considered")
def rho_lambda_max(A, lr, momentum):
    lam = np.linalg.eigvalsh(A).max()
    s = 1 + momentum - lr * lam
    r = np.roots([1.0, -s, momentum])
    return float(np.abs(r).max())


@wrong("iteration_spectral_radius", "+mu instead of -mu for e_{k-1}")
def rho_sign(A, lr, momentum):
    return float(np.abs(np.linalg.eigvals(_blocks(A, lr, momentum, plus=True))).max())


@wrong("iteration_spectral_radius", "top-left block I - lr*A (the 1 + mu forgotten)")
def rho_no_one_plus(A, lr, momentum):
    return float(np.abs(np.linalg.eigvals(_blocks(A, lr, momentum, no_mu=True))).max())


@wrong("iteration_spectral_radius", "assumes the complex regime: sqrt(momentum) when > 0")
def rho_sqrt_mu(A, lr, momentum):
    if momentum > 0:
        return math.sqrt(momentum)
    return float(np.max(np.abs(1 - lr * np.linalg.eigvalsh(A))))


@right("iteration_spectral_radius", "eigenvalues of the 2d x 2d block matrix")
def rho_block(A, lr, momentum):
    return float(np.abs(np.linalg.eigvals(_blocks(A, lr, momentum))).max())


@right("iteration_spectral_radius", "np.roots of each eigenvalue's quadratic")
def rho_roots(A, lr, momentum):
    return max(float(np.abs(np.roots([1.0, -(1 + momentum - lr * lam), momentum])).max())
               for lam in np.linalg.eigvals(A).real)

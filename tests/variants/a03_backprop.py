"""Wrong and right implementations for 03_backprop (see tests/variants/__init__.py).

Wrong forwards keep a correct cache and come with a matching correct backward as a companion
(and wrong backwards with a matching correct forward), so each must lose points on its own item
only: the checks of a backward never depend on the forward's ``out``.
"""

# ruff: noqa: E731, N801
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import scipy.special
import torch

from . import right as _right
from . import wrong as _wrong

A = "03_backprop"


def wrong(target, why, companions=None, breaks=""):
    return _wrong(A, target, why, companions, breaks=breaks)


def right(target, why, companions=None):
    return _right(A, target, why, companions)


def _rows(x):
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(x.shape[0], -1)


# -------------------------------------------------------------- correct helpers (companions)


def affine_forward_tuple(x, W, b):
    return _rows(x) @ W + b, (x, W, b)


def affine_backward_tuple(dout, cache):
    x, W, _ = cache
    return (dout @ W.T).reshape(np.shape(x)), _rows(x).T @ dout, dout.sum(0)


def relu_forward_x(x):
    return np.maximum(x, 0.0), x


def relu_backward_x(dout, x):
    return dout * (x > 0)


def sigmoid_forward_out(x):
    s = scipy.special.expit(x)
    return s, s


def sigmoid_backward_out(dout, s):
    return dout * s * (1 - s)


def sigmoid_forward_x(x):
    return scipy.special.expit(x), np.array(x, dtype=np.float64)


def sigmoid_backward_x(dout, x):
    s = scipy.special.expit(x)
    return dout * s * (1 - s)


def tanh_forward_out(x):
    t = np.tanh(x)
    return t, t


def tanh_backward_out(dout, t):
    return dout * (1 - t * t)


def tanh_forward_x(x):
    return np.tanh(x), np.array(x, dtype=np.float64)


def tanh_backward_x(dout, x):
    return dout * (1 - np.tanh(x) ** 2)


AFF = {"affine_backward": affine_backward_tuple}


# -------------------------------------------------------------------------------- affine_forward


@wrong("affine_forward", "forgets the bias", AFF)
def affine_no_bias(x, W, b):
    return _rows(x) @ W, (x, W, b)


@wrong("affine_forward", "flattens in Fortran order (order='F')", AFF)
def affine_fortran(x, W, b):
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(x.shape[0], -1, order="F") @ W + b, (x, W, b)


@wrong("affine_forward", "reshape(D, -1).T instead of reshape(N, -1): examples scrambled", AFF)
def affine_reshape_transpose(x, W, b):
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(W.shape[0], -1).T @ W + b, (x, W, b)


@wrong("affine_forward", "applies a ReLU inside the affine layer", AFF)
def affine_with_relu(x, W, b):
    return np.maximum(_rows(x) @ W + b, 0), (x, W, b)


@right("affine_forward", "einsum, tuple cache", AFF)
def affine_einsum(x, W, b):
    return np.einsum("nd,dm->nm", _rows(x), W) + b[None, :], (x, W, b)


@right("affine_forward", "loop over examples with np.dot")
def affine_loop(x, W, b):
    out = np.empty((len(x), W.shape[1]))
    for n in range(len(x)):
        out[n] = np.dot(np.ravel(x[n]), W) + b
    return out, {"x": x, "W": W}


# ------------------------------------------------------------------------------- affine_backward


@wrong("affine_backward", "dx not reshaped back to x's shape")
def affine_backward_flat_dx(dout, cache):
    x, W = cache["x"], cache["W"]
    return dout @ W.T, _rows(x).T @ dout, dout.sum(0)


@wrong("affine_backward", "db is the mean over the batch, not the sum")
def affine_backward_db_mean(dout, cache):
    x, W = cache["x"], cache["W"]
    return (dout @ W.T).reshape(x.shape), _rows(x).T @ dout, dout.mean(0)


@wrong("affine_backward", "dW = doutᵀ x (transposed, shape (M, D))")
def affine_backward_dW_transposed(dout, cache):
    x, W = cache["x"], cache["W"]
    return (dout @ W.T).reshape(x.shape), dout.T @ _rows(x), dout.sum(0)


@wrong("affine_backward", "dW = X dout (no transpose; runs only when D = N)")
def affine_backward_X_dout(dout, cache):
    x, W = cache["x"], cache["W"]
    return (dout @ W.T).reshape(x.shape), _rows(x) @ dout, dout.sum(0)


@wrong("affine_backward", "dx = dout W (no transpose; runs only when W is square)")
def affine_backward_dx_no_transpose(dout, cache):
    x, W = cache["x"], cache["W"]
    return (dout @ W).reshape(x.shape), _rows(x).T @ dout, dout.sum(0)


@wrong("affine_backward", "dW averaged over the batch")
def affine_backward_dW_mean(dout, cache):
    x, W = cache["x"], cache["W"]
    return (dout @ W.T).reshape(x.shape), _rows(x).T @ dout / len(dout), dout.sum(0)


@right("affine_backward", "tuple cache", {"affine_forward": affine_forward_tuple})
def affine_backward_tuple_variant(dout, cache):
    return affine_backward_tuple(dout, cache)


def _affine_forward_closure(x, W, b):
    x = np.asarray(x, dtype=np.float64)

    def grads(dout):
        return (dout @ W.T).reshape(x.shape), _rows(x).T @ dout, dout.sum(0)
    return _rows(x) @ W + b, grads


@right("affine_backward", "the cache is a closure that computes the gradients",
       {"affine_forward": _affine_forward_closure})
def affine_backward_closure(dout, cache):
    return cache(dout)


class _AffineCache:
    def __init__(self, x, W):
        self.x_shape, self.x_rows, self.W = np.shape(x), _rows(x), W


def _affine_forward_object(x, W, b):
    c = _AffineCache(x, W)
    return c.x_rows @ W + b, c


@right("affine_backward", "the cache is an object of the student's own class",
       {"affine_forward": _affine_forward_object})
def affine_backward_object(dout, cache):
    return ((dout @ cache.W.T).reshape(cache.x_shape), cache.x_rows.T @ dout,
            np.add.reduce(dout, axis=0))


def _affine_forward_namespace(x, W, b):
    return _rows(x) @ W + b, SimpleNamespace(x=x, W=W, b=b)


@right("affine_backward", "torch autograd, SimpleNamespace cache",
       {"affine_forward": _affine_forward_namespace})
def affine_backward_torch(dout, cache):
    x = torch.tensor(np.asarray(cache.x, dtype=np.float64), requires_grad=True)
    W = torch.tensor(cache.W, requires_grad=True)
    b = torch.tensor(cache.b, requires_grad=True)
    out = x.reshape(x.shape[0], -1) @ W + b
    out.backward(torch.tensor(dout))
    return x.grad.numpy(), W.grad.numpy(), b.grad.numpy()


# ---------------------------------------------------------------------------------------- relu

RELU_X = {"relu_backward": relu_backward_x}


@wrong("relu_forward", "leaky ReLU (0.01·x for x < 0)", RELU_X)
def relu_leaky(x):
    return np.where(x > 0, x, 0.01 * x), x


@wrong("relu_forward", "absolute value", RELU_X)
def relu_abs(x):
    return np.abs(x), x


@wrong("relu_forward", "returns the mask (the derivative) instead of max(x, 0)", RELU_X)
def relu_mask(x):
    return (x > 0).astype(float), x


@wrong("relu_forward", "clips at 6 (ReLU6)", RELU_X)
def relu6(x):
    return np.clip(x, 0, 6), x


@right("relu_forward", "x * (x > 0), cache x", RELU_X)
def relu_mul(x):
    return x * (x > 0), x


@right("relu_forward", "torch.relu, cache x", RELU_X)
def relu_torch(x):
    return torch.relu(torch.as_tensor(x)).numpy(), x


@wrong("relu_backward", "gradient 1 at x = 0 (x >= 0)", {"relu_forward": relu_forward_x})
def relu_backward_ge(dout, x):
    return dout * (x >= 0)


@wrong("relu_backward", "passes dout through where x < 0 too")
def relu_backward_identity(dout, cache):
    return np.array(dout, dtype=np.float64)


@wrong("relu_backward", "multiplies dout by the output instead of the mask",
       {"relu_forward": lambda x: (np.maximum(x, 0), np.maximum(x, 0))})
def relu_backward_times_out(dout, out):
    return dout * out


@wrong("relu_backward", "mask computed from dout instead of x")
def relu_backward_dout_mask(dout, cache):
    return np.where(dout > 0, dout, 0.0)


@right("relu_backward", "cache x, dout * (x > 0)", {"relu_forward": relu_forward_x})
def relu_backward_x_variant(dout, x):
    return relu_backward_x(dout, x)


@right("relu_backward", "cache out, mask out > 0",
       {"relu_forward": lambda x: (np.maximum(x, 0), np.maximum(x, 0))})
def relu_backward_out(dout, out):
    return np.where(out > 0, dout, 0)


@right("relu_backward", "dict cache, copy and zero in place",
       {"relu_forward": lambda x: (np.maximum(x, 0), {"x": x})})
def relu_backward_dict(dout, cache):
    dx = np.array(dout, dtype=np.float64, copy=True)
    dx[cache["x"] <= 0] = 0
    return dx


# ------------------------------------------------------------------------------------- sigmoid

SIG_OUT = {"sigmoid_backward": sigmoid_backward_out}
SIG_XB = {"sigmoid_backward": sigmoid_backward_x}  # wrong forwards keep a correct cache: x


@wrong("sigmoid_forward", "naive 1/(1+exp(-x)): overflow warning at -1000", SIG_XB)
def sigmoid_naive(x):
    s = 1 / (1 + np.exp(-x))
    return s, np.array(x, dtype=np.float64)


@wrong("sigmoid_forward", "exp(x)/(1+exp(x)): nan at +1000", SIG_XB)
def sigmoid_ratio(x):
    e = np.exp(x)
    s = e / (1 + e)
    return s, np.array(x, dtype=np.float64)


@wrong("sigmoid_forward", "np.where with both branches evaluated: warnings", SIG_XB)
def sigmoid_where(x):
    s = np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))
    return s, np.array(x, dtype=np.float64)


@wrong("sigmoid_forward", "sign error: 1/(1+exp(x))", SIG_XB)
def sigmoid_sign(x):
    s = scipy.special.expit(-x)
    return s, np.array(x, dtype=np.float64)


@wrong("sigmoid_forward", "clips x to ±30 first: σ(−1000) ≈ 9e-14, not 0", SIG_XB)
def sigmoid_clip30(x):
    s = 1 / (1 + np.exp(-np.clip(x, -30, 30)))
    return s, np.array(x, dtype=np.float64)


@right("sigmoid_forward", "scipy.special.expit", SIG_OUT)
def sigmoid_expit(x):
    return sigmoid_forward_out(x)


@right("sigmoid_forward", "boolean masks, cache x", {"sigmoid_backward": sigmoid_backward_x})
def sigmoid_masks(x):
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1 / (1 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1 + e)
    return out, x


@right("sigmoid_forward", "0.5·(1 + tanh(x/2))", SIG_OUT)
def sigmoid_tanh(x):
    s = 0.5 * (1 + np.tanh(0.5 * np.asarray(x)))
    return s, s


@right("sigmoid_forward", "clip to ±500 then the naive formula", SIG_OUT)
def sigmoid_clip500(x):
    s = 1 / (1 + np.exp(-np.clip(x, -500, 500)))
    return s, s


@right("sigmoid_forward", "torch.sigmoid", SIG_OUT)
def sigmoid_torch(x):
    s = torch.sigmoid(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy()
    return s, s


SIG_X = {"sigmoid_forward": sigmoid_forward_x}


@wrong("sigmoid_backward", "uses x instead of σ(x): dout·x·(1−x)", SIG_X)
def sigmoid_backward_uses_x(dout, x):
    return dout * x * (1 - x)


@wrong("sigmoid_backward", "forgets dout")
def sigmoid_backward_no_dout(dout, s):
    return s * (1 - s)


@wrong("sigmoid_backward", "exp(−x)/(1+exp(−x))² from x: nan at −1000", SIG_X)
def sigmoid_backward_naive(dout, x):
    e = np.exp(-x)
    return dout * e / (1 + e) ** 2


@wrong("sigmoid_backward", "dout·σ(x), missing the (1 − σ) factor")
def sigmoid_backward_half(dout, s):
    return dout * s


@right("sigmoid_backward", "cache x, recompute with expit", SIG_X)
def sigmoid_backward_x_variant(dout, x):
    return sigmoid_backward_x(dout, x)


@right("sigmoid_backward", "closure cache",
       {"sigmoid_forward": lambda x: (scipy.special.expit(x),
                                      lambda d, s=scipy.special.expit(x): d * s * (1 - s))})
def sigmoid_backward_closure(dout, cache):
    return cache(dout)


@right("sigmoid_backward", "σ(x)·σ(−x) from x via expit", SIG_X)
def sigmoid_backward_symmetric(dout, x):
    return dout * scipy.special.expit(x) * scipy.special.expit(-x)


# ---------------------------------------------------------------------------------------- tanh

TANH_OUT = {"tanh_backward": tanh_backward_out}
TANH_XB = {"tanh_backward": tanh_backward_x}  # wrong forwards keep a correct cache: x


@wrong("tanh_forward", "(e^x − e^−x)/(e^x + e^−x): nan at ±1000", TANH_XB)
def tanh_exp_formula(x):
    t = (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))
    return t, np.array(x, dtype=np.float64)


@wrong("tanh_forward", "2σ(x) − 1 (that is tanh(x/2))", TANH_XB)
def tanh_sigmoid_wrong(x):
    t = 2 * scipy.special.expit(x) - 1
    return t, np.array(x, dtype=np.float64)


@wrong("tanh_forward", "sinh/cosh: nan at ±1000", TANH_XB)
def tanh_sinh_cosh(x):
    t = np.sinh(x) / np.cosh(x)
    return t, np.array(x, dtype=np.float64)


@wrong("tanh_forward", "sigmoid instead of tanh", TANH_XB)
def tanh_is_sigmoid(x):
    t = scipy.special.expit(x)
    return t, np.array(x, dtype=np.float64)


@right("tanh_forward", "2σ(2x) − 1", TANH_OUT)
def tanh_via_sigmoid(x):
    t = 2 * scipy.special.expit(2 * np.asarray(x)) - 1
    return t, t


@right("tanh_forward", "torch.tanh, cache x", {"tanh_backward": tanh_backward_x})
def tanh_torch(x):
    return torch.tanh(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy(), x


TANH_X = {"tanh_forward": tanh_forward_x}


@wrong("tanh_backward", "1 − x² using x instead of tanh(x)", TANH_X)
def tanh_backward_uses_x(dout, x):
    return dout * (1 - x ** 2)


@wrong("tanh_backward", "returns dx as a nested list (.tolist()), for every N",
       breaks="return type")
def tanh_backward_list(dout, t):
    return (dout * (1 - t * t)).tolist()


@wrong("tanh_backward", "forgets dout")
def tanh_backward_no_dout(dout, t):
    return 1 - t * t


@wrong("tanh_backward", "dout·(1 − t), missing the square")
def tanh_backward_no_square(dout, t):
    return dout * (1 - t)


@wrong("tanh_backward", "dout·(1 + t²), sign error")
def tanh_backward_plus(dout, t):
    return dout * (1 + t * t)


@right("tanh_backward", "cache x, 1/cosh²(x)", TANH_X)
def tanh_backward_cosh(dout, x):
    with np.errstate(over="ignore"):
        return dout / np.cosh(x) ** 2


@right("tanh_backward", "dict cache holding x and tanh(x)",
       {"tanh_forward": lambda x: (np.tanh(x), {"x": x, "t": np.tanh(x)})})
def tanh_backward_dict(dout, cache):
    return dout - dout * cache["t"] ** 2


# -------------------------------------------------------------------------- two_layer_net_loss


def _net(params, X, y, reg, *, shift=True, mask=True, mean=True, reg_grad=1.0, half=True,
         reg_bias=False):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = X.shape[0]
    pre = X @ W1 + b1
    h = np.maximum(pre, 0)
    s = h @ W2 + b2
    if shift:
        s = s - s.max(1, keepdims=True)
    e = np.exp(s)
    p = e / e.sum(1, keepdims=True)
    data = -np.log(p[np.arange(n), y])
    data = data.mean() if mean else data.sum()
    penalty = np.sum(W1 ** 2) + np.sum(W2 ** 2)
    if reg_bias:
        penalty += np.sum(b1 ** 2) + np.sum(b2 ** 2)
    loss = data + (0.5 if half else 1.0) * reg * penalty
    ds = p.copy()
    ds[np.arange(n), y] -= 1
    if mean:
        ds /= n
    dW2, db2 = h.T @ ds, ds.sum(0)
    dh = ds @ W2.T
    if mask:
        dh = dh * (pre > 0)
    dW1, db1 = X.T @ dh, dh.sum(0)
    grads = {"W1": dW1 + reg_grad * reg * W1, "b1": db1, "W2": dW2 + reg_grad * reg * W2,
             "b2": db2}
    if reg_bias:
        grads["b1"] = grads["b1"] + reg * b1
        grads["b2"] = grads["b2"] + reg * b2
    return float(loss), grads


@wrong("two_layer_net_loss", "regularisation missing from the gradients")
def tln_no_reg_grad(params, X, y, reg=0.0):
    return _net(params, X, y, reg, reg_grad=0.0)


@wrong("two_layer_net_loss", "gradient of the penalty 2·reg·W instead of reg·W")
def tln_double_reg_grad(params, X, y, reg=0.0):
    return _net(params, X, y, reg, reg_grad=2.0)


@wrong("two_layer_net_loss", "penalty reg·‖W‖² in the loss (no 0.5) but gradient reg·W")
def tln_no_half(params, X, y, reg=0.0):
    return _net(params, X, y, reg, half=False)


@wrong("two_layer_net_loss", "loss and gradients summed over the batch, not averaged")
def tln_sum(params, X, y, reg=0.0):
    return _net(params, X, y, reg, mean=False)


@wrong("two_layer_net_loss", "softmax without the max shift: overflow for large scores")
def tln_no_shift(params, X, y, reg=0.0):
    return _net(params, X, y, reg, shift=False)


@wrong("two_layer_net_loss", "ReLU gradient passed where the pre-activation is negative")
def tln_no_mask(params, X, y, reg=0.0):
    return _net(params, X, y, reg, mask=False)


@wrong("two_layer_net_loss", "biases regularised too")
def tln_reg_bias(params, X, y, reg=0.0):
    return _net(params, X, y, reg, reg_bias=True)


@right("two_layer_net_loss", "torch autograd")
def tln_torch(params, X, y, reg=0.0):
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = torch.relu(torch.tensor(X) @ t["W1"] + t["b1"])
    s = h @ t["W2"] + t["b2"]
    loss = torch.nn.functional.cross_entropy(s, torch.as_tensor(y)) + \
        0.5 * reg * ((t["W1"] ** 2).sum() + (t["W2"] ** 2).sum())
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}


@right("two_layer_net_loss", "one example at a time, scipy logsumexp")
def tln_loop(params, X, y, reg=0.0):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = len(X)
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    loss = 0.0
    for i in range(n):
        pre = X[i] @ W1 + b1
        h = np.maximum(pre, 0)
        s = h @ W2 + b2
        lse = scipy.special.logsumexp(s)
        loss += (lse - s[y[i]]) / n
        ds = np.exp(s - lse)
        ds[y[i]] -= 1
        ds /= n
        grads["W2"] += np.outer(h, ds)
        grads["b2"] += ds
        dpre = (W2 @ ds) * (pre > 0)
        grads["W1"] += np.outer(X[i], dpre)
        grads["b1"] += dpre
    loss += 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    grads["W1"] += reg * W1
    grads["W2"] += reg * W2
    return loss, grads


# --------------------------------------------------------------------------------------- Value


def _make_value(*, accumulate=True, rsub_ok=True, rdiv_ok=True, tanh_uses_x=False,
                relu_at_zero=0.0, pow_wrong=False, topo=True, stale=False, seed=True):
    """A reference-like Value class with one deliberate mistake."""

    class V:
        _visited = set()  # ids; used only by the stale variant

        def __init__(self, data, parents=(), local=()):
            self.data = float(data)
            self.grad = 0.0
            self._parents = tuple(parents)
            self._local = tuple(local)

        @staticmethod
        def _wrap(o):
            return o if isinstance(o, V) else V(o)

        def __add__(self, o):
            o = V._wrap(o)
            return V(self.data + o.data, (self, o), (1.0, 1.0))

        __radd__ = __add__

        def __mul__(self, o):
            o = V._wrap(o)
            return V(self.data * o.data, (self, o), (o.data, self.data))

        __rmul__ = __mul__

        def __neg__(self):
            return self * -1

        def __sub__(self, o):
            return self + (-V._wrap(o))

        def __rsub__(self, o):
            return V._wrap(o) - self if rsub_ok else self - o

        def __pow__(self, p):
            d = p * self.data ** p if pow_wrong else p * self.data ** (p - 1)
            return V(self.data ** p, (self,), (d,))

        def __truediv__(self, o):
            return self * V._wrap(o) ** -1

        def __rtruediv__(self, o):
            return V._wrap(o) / self if rdiv_ok else self / o

        def exp(self):
            e = math.exp(self.data)
            return V(e, (self,), (e,))

        def log(self):
            return V(math.log(self.data), (self,), (1 / self.data,))

        def tanh(self):
            t = math.tanh(self.data)
            return V(t, (self,), ((1 - self.data ** 2) if tanh_uses_x else (1 - t * t),))

        def relu(self):
            slope = 1.0 if self.data > 0 else (relu_at_zero if self.data == 0 else 0.0)
            return V(max(self.data, 0.0), (self,), (slope,))

        def _push(self):
            for p, g in zip(self._parents, self._local):
                if accumulate:
                    p.grad += g * self.grad
                else:
                    p.grad = g * self.grad

        def backward(self):
            if seed:
                self.grad = 1.0
            if not topo:  # breadth-first from the output: a node may push before it is complete
                queue, queued = [self], {id(self)}
                while queue:
                    node = queue.pop(0)
                    node._push()
                    for p in node._parents:
                        if id(p) not in queued:
                            queued.add(id(p))
                            queue.append(p)
                return
            order = []
            seen = V._visited if stale else set()

            def build(node):
                if id(node) not in seen:
                    seen.add(id(node))
                    for p in node._parents:
                        build(p)
                    order.append(node)
            build(self)
            for node in reversed(order):
                node._push()

    V.__name__ = "Value"
    return V


wrong("Value", "gradients overwritten (=) instead of accumulated (+=)")(
    _make_value(accumulate=False))
wrong("Value", "__rsub__ computes v − c instead of c − v")(_make_value(rsub_ok=False))
wrong("Value", "__rtruediv__ computes v / c instead of c / v")(_make_value(rdiv_ok=False))
wrong("Value", "tanh backward uses 1 − x² instead of 1 − tanh²(x)")(
    _make_value(tanh_uses_x=True))
wrong("Value", "relu gradient 1 at exactly 0")(_make_value(relu_at_zero=1.0))
wrong("Value", "power rule without the −1: p·x^p")(_make_value(pow_wrong=True))
wrong("Value", "breadth-first order instead of a topological order")(
    _make_value(topo=False))
wrong("Value", "ids of visited nodes kept at class level: reused ids are skipped later")(
    _make_value(stale=True))
wrong("Value", "backward() does not seed the output gradient with 1")(_make_value(seed=False))


@right("Value", "micrograd style: a closure per node, recursive topological sort")
class ValueClosures:
    def __init__(self, data, _children=()):
        self.data = data
        self.grad = 0
        self._backward = lambda: None
        self._prev = set(_children)

    def __add__(self, other):
        other = other if isinstance(other, ValueClosures) else ValueClosures(other)
        out = ValueClosures(self.data + other.data, (self, other))

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, ValueClosures) else ValueClosures(other)
        out = ValueClosures(self.data * other.data, (self, other))

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, other):
        out = ValueClosures(self.data ** other, (self,))

        def _backward():
            self.grad += other * self.data ** (other - 1) * out.grad
        out._backward = _backward
        return out

    def _unary(self, value, local):
        out = ValueClosures(value, (self,))

        def _backward():
            self.grad += local * out.grad
        out._backward = _backward
        return out

    def relu(self):
        return self._unary(0 if self.data < 0 else self.data, float(self.data > 0))

    def tanh(self):
        t = math.tanh(self.data)
        return self._unary(t, 1 - t ** 2)

    def exp(self):
        e = math.exp(self.data)
        return self._unary(e, e)

    def log(self):
        return self._unary(math.log(self.data), 1 / self.data)

    def backward(self):
        topo, visited = [], set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)
        build_topo(self)
        self.grad = 1
        for v in reversed(topo):
            v._backward()

    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return other + (-self)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other ** -1

    def __rtruediv__(self, other):
        return other * self ** -1


@right("Value", "Kahn's algorithm on consumer counts, __slots__, direct division rules")
class ValueKahn:
    __slots__ = ("data", "grad", "parents", "partials")

    def __init__(self, data, parents=(), partials=()):
        self.data, self.grad = float(data), 0.0
        self.parents, self.partials = parents, partials

    @classmethod
    def lift(cls, x):
        return x if isinstance(x, cls) else cls(x)

    def __add__(self, o):
        o = self.lift(o)
        return ValueKahn(self.data + o.data, (self, o), (1.0, 1.0))

    def __radd__(self, o):
        return self.lift(o) + self

    def __sub__(self, o):
        o = self.lift(o)
        return ValueKahn(self.data - o.data, (self, o), (1.0, -1.0))

    def __rsub__(self, o):
        return self.lift(o) - self

    def __mul__(self, o):
        o = self.lift(o)
        return ValueKahn(self.data * o.data, (self, o), (o.data, self.data))

    def __rmul__(self, o):
        return self.lift(o) * self

    def __truediv__(self, o):
        o = self.lift(o)
        return ValueKahn(self.data / o.data, (self, o),
                         (1 / o.data, -self.data / (o.data * o.data)))

    def __rtruediv__(self, o):
        return self.lift(o) / self

    def __neg__(self):
        return ValueKahn(-self.data, (self,), (-1.0,))

    def __pow__(self, p):
        return ValueKahn(self.data ** p, (self,), (p * self.data ** (p - 1),))

    def tanh(self):
        t = math.tanh(self.data)
        return ValueKahn(t, (self,), (1 - t * t,))

    def exp(self):
        e = math.exp(self.data)
        return ValueKahn(e, (self,), (e,))

    def log(self):
        return ValueKahn(math.log(self.data), (self,), (1 / self.data,))

    def relu(self):
        return ValueKahn(self.data if self.data > 0 else 0.0, (self,),
                         (1.0 if self.data > 0 else 0.0,))

    def backward(self):
        # count, for every node, how many uses (edges) lead to it from the output
        pending, stack = {id(self): 0}, [self]
        nodes = {id(self): self}
        while stack:
            node = stack.pop()
            for p in node.parents:
                if id(p) not in pending:
                    pending[id(p)] = 0
                    nodes[id(p)] = p
                    stack.append(p)
                pending[id(p)] += 1
        self.grad = 1.0
        ready = [self]
        while ready:
            node = ready.pop()
            for p, d in zip(node.parents, node.partials):
                p.grad += d * node.grad
                pending[id(p)] -= 1
                if pending[id(p)] == 0:
                    ready.append(p)


# ------------------------------------------------------------------------------------- he_init


@wrong("he_init", "LeCun: variance 1/fan_in")
def he_lecun(fan_in, fan_out, rng):
    return rng.normal(0, np.sqrt(1 / fan_in), (fan_in, fan_out))


@wrong("he_init", "Glorot: variance 2/(fan_in + fan_out)")
def he_glorot(fan_in, fan_out, rng):
    return rng.normal(0, np.sqrt(2 / (fan_in + fan_out)), (fan_in, fan_out))


@wrong("he_init", "the variance 2/fan_in passed as numpy's scale (the std)")
def he_std(fan_in, fan_out, rng):
    return rng.normal(0, 2 / fan_in, (fan_in, fan_out))


@wrong("he_init", "std 2/sqrt(fan_in): variance 4/fan_in")
def he_sqrt_misplaced(fan_in, fan_out, rng):
    return rng.normal(0, 2 / np.sqrt(fan_in), (fan_in, fan_out))


@wrong("he_init", "np.random global state instead of rng")
def he_global(fan_in, fan_out, rng):
    return np.random.normal(0, np.sqrt(2 / fan_in), (fan_in, fan_out))


@wrong("he_init", "a fresh generator with a fixed seed instead of rng")
def he_own_rng(fan_in, fan_out, rng):
    return np.random.default_rng(0).normal(0, np.sqrt(2 / fan_in), (fan_in, fan_out))


@wrong("he_init", "He uniform: U(±sqrt(6/fan_in)) — right variance, not normal")
def he_uniform(fan_in, fan_out, rng):
    limit = np.sqrt(6 / fan_in)
    return rng.uniform(-limit, limit, (fan_in, fan_out))


@wrong("he_init", "shape (fan_out, fan_in) (PyTorch's layout)")
def he_transposed(fan_in, fan_out, rng):
    return rng.normal(0, np.sqrt(2 / fan_in), (fan_out, fan_in))


@wrong("he_init", "fan-out mode: variance 2/fan_out")
def he_fan_out(fan_in, fan_out, rng):
    return rng.normal(0, np.sqrt(2 / fan_out), (fan_in, fan_out))


@right("he_init", "standard_normal times the std")
def he_standard(fan_in, fan_out, rng):
    return rng.standard_normal((fan_in, fan_out)) * math.sqrt(2 / fan_in)


@right("he_init", "drawn transposed then .T")
def he_transposed_draw(fan_in, fan_out, rng):
    return rng.normal(scale=math.sqrt(2 / fan_in), size=(fan_out, fan_in)).T


@right("he_init", "torch.randn with a torch.Generator seeded from rng")
def he_torch(fan_in, fan_out, rng):
    g = torch.Generator().manual_seed(int(rng.integers(2**62)))
    return (torch.randn(fan_in, fan_out, generator=g, dtype=torch.float64)
            * math.sqrt(2 / fan_in)).numpy()


@right("he_init", "Box–Muller from rng.random")
def he_box_muller(fan_in, fan_out, rng):
    u1, u2 = 1 - rng.random((fan_in, fan_out)), rng.random((fan_in, fan_out))
    return np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2) * np.sqrt(2 / fan_in)

"""Wrong and right implementations for 01_information (see tests/variants/__init__.py)."""

# ruff: noqa: E731
from __future__ import annotations

import numpy as np
import scipy.optimize
import scipy.special
import scipy.stats
import torch

from . import right as _right
from . import wrong as _wrong

A = "01_information"


def wrong(target, why, breaks=""):
    return _wrong(A, target, why, breaks=breaks)


def right(target, why):
    return _right(A, target, why)


# --------------------------------------------------------------------------------------- entropy


@wrong("entropy", "always in bits: log2 whatever the base")
def entropy_log2(p, base=np.e):
    p = np.asarray(p, float)
    return -(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1)), 0)).sum(-1)


@wrong("entropy", "no 0·log 0 convention: NaN for zero probabilities")
def entropy_nan(p, base=np.e):
    p = np.asarray(p, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -(p * np.log(p)).sum(-1) / np.log(base)


@wrong("entropy", "sums over the first axis instead of the last")
def entropy_axis0(p, base=np.e):
    p = np.asarray(p, float)
    return -(scipy.special.xlogy(p, p)).sum(0) / np.log(base)


@wrong("entropy", "mean over outcomes instead of sum")
def entropy_mean(p, base=np.e):
    p = np.asarray(p, float)
    return -(scipy.special.xlogy(p, p)).mean(-1) / np.log(base)


@wrong("entropy", "multiplies by log(base) instead of dividing")
def entropy_mul_base(p, base=np.e):
    p = np.asarray(p, float)
    return -(scipy.special.xlogy(p, p)).sum(-1) * np.log(base)


@right("entropy", "scipy.stats.entropy")
def entropy_scipy(p, base=np.e):
    return scipy.stats.entropy(p, base=base, axis=-1)


@right("entropy", "explicit loop over vectors with math.log")
def entropy_loop(p, base=np.e):
    import math

    p = np.asarray(p, float)
    out = np.zeros(p.shape[:-1])
    for idx in np.ndindex(*p.shape[:-1]):
        out[idx] = -sum(v * math.log(v, base) for v in p[idx] if v > 0)
    return out


# --------------------------------------------------------------------------------- cross_entropy


@wrong("cross_entropy", "p and q swapped: −Σ q log p")
def ce_swapped(p, q, base=np.e):
    p, q = np.broadcast_arrays(np.asarray(p, float), np.asarray(q, float))
    with np.errstate(divide="ignore"):
        return np.where(q > 0, -q * np.log(p), 0).sum(-1) / np.log(base)


@wrong("cross_entropy", "epsilon inside the log: finite where it must be +inf")
def ce_epsilon(p, q, base=np.e):
    p, q = np.asarray(p, float), np.asarray(q, float)
    return -(p * np.log(q + 1e-12)).sum(-1) / np.log(base)


@wrong("cross_entropy", "0·log 0 not handled: NaN where p = q = 0")
def ce_nan(p, q, base=np.e):
    p, q = np.asarray(p, float), np.asarray(q, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -(p * np.log(q)).sum(-1) / np.log(base)


@wrong("cross_entropy", "sums over every axis: one number for the whole batch")
def ce_sum_all(p, q, base=np.e):
    p, q = np.broadcast_arrays(np.asarray(p, float), np.asarray(q, float))
    with np.errstate(divide="ignore"):
        return np.where(p > 0, -p * np.log(q), 0).sum() / np.log(base)


@right("cross_entropy", "torch with xlogy")
def ce_torch(p, q, base=np.e):
    p, q = torch.as_tensor(np.asarray(p, float)), torch.as_tensor(np.asarray(q, float))
    with np.errstate(divide="ignore"):
        p, q = torch.broadcast_tensors(p, q)
        return (-torch.special.xlogy(p, q).sum(-1) / np.log(base)).numpy()


@right("cross_entropy", "entropy plus KL via scipy.special")
def ce_via_kl(p, q, base=np.e):
    p, q = np.broadcast_arrays(np.asarray(p, float), np.asarray(q, float))
    h = scipy.special.entr(p).sum(-1)
    kl = scipy.special.rel_entr(p, q).sum(-1)
    return (h + kl) / np.log(base)


# --------------------------------------------------------------------------------- kl_divergence


@wrong("kl_divergence", "arguments reversed: KL(q‖p)")
def kl_reversed(p, q, base=np.e):
    return scipy.special.rel_entr(q, p).sum(-1) / np.log(base)


@wrong("kl_divergence", "epsilon smoothing: finite where it must be +inf")
def kl_epsilon(p, q, base=np.e):
    p, q = np.asarray(p, float), np.asarray(q, float)
    return (p * np.log((p + 1e-10) / (q + 1e-10))).sum(-1) / np.log(base)


@wrong("kl_divergence", "no masking of p = 0: NaN")
def kl_nan(p, q, base=np.e):
    p, q = np.asarray(p, float), np.asarray(q, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (p * np.log(p / q)).sum(-1) / np.log(base)


@wrong("kl_divergence", "ignores the base")
def kl_no_base(p, q, base=np.e):
    return scipy.special.rel_entr(p, q).sum(-1)


@wrong("kl_divergence", "absolute value of each term (KL ≥ 0 'enforced' termwise)")
def kl_abs(p, q, base=np.e):
    return np.abs(scipy.special.rel_entr(p, q)).sum(-1) / np.log(base)


@right("kl_divergence", "scipy.special.rel_entr")
def kl_scipy(p, q, base=np.e):
    return scipy.special.rel_entr(p, q).sum(-1) / np.log(base)


@right("kl_divergence", "torch: xlogy(p, p) − xlogy(p, q)")
def kl_torch(p, q, base=np.e):
    p, q = torch.broadcast_tensors(torch.as_tensor(np.asarray(p, float)),
                                   torch.as_tensor(np.asarray(q, float)))
    terms = torch.special.xlogy(p, p) - torch.special.xlogy(p, q)
    return terms.sum(-1).numpy() / np.log(base)


# ----------------------------------------------------------------------------------- log_softmax


@wrong("log_softmax", "naive: log(exp(z) / Σ exp(z)) overflows")
def lsm_naive(z):
    z = np.asarray(z, float)
    return np.log(np.exp(z) / np.exp(z).sum(-1, keepdims=True))


@wrong("log_softmax", "normalises over the whole batch, not per row")
def lsm_whole_batch(z):
    z = np.asarray(z, float)
    return z - scipy.special.logsumexp(z)


@wrong("log_softmax", "max subtracted for exp but not added back: log Σ exp(z) overflows")
def lsm_half_stable(z):
    z = np.asarray(z, float)
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z).sum(-1, keepdims=True))


@wrong("log_softmax", "normalises along axis 0 (columns)")
def lsm_axis0(z):
    z = np.asarray(z, float)
    return z - scipy.special.logsumexp(z, axis=0, keepdims=True)


@wrong("log_softmax", "reductions without keepdims: broadcasts along the wrong axis")
def lsm_no_keepdims(z):
    z = np.asarray(z, float)
    shifted = z - z.max(-1)
    return shifted - np.log(np.exp(shifted).sum(-1))


@right("log_softmax", "scipy.special.log_softmax")
def lsm_scipy(z):
    return scipy.special.log_softmax(z, axis=-1)


@right("log_softmax", "torch.log_softmax")
def lsm_torch(z):
    return torch.log_softmax(torch.as_tensor(np.asarray(z, float)), dim=-1).numpy()


# ------------------------------------------------------------------------- softmax_cross_entropy


def _log_probs(logits):
    return scipy.special.log_softmax(np.asarray(logits, float), axis=1)


@wrong("softmax_cross_entropy", "sum over the batch instead of mean")
def sce_sum(logits, y):
    lp = _log_probs(logits)
    n = len(y)
    g = np.exp(lp)
    g[np.arange(n), y] -= 1
    return float(-lp[np.arange(n), y].sum()), g


@wrong("softmax_cross_entropy", "gradient missing the 1/N")
def sce_grad_no_mean(logits, y):
    lp = _log_probs(logits)
    n = len(y)
    g = np.exp(lp)
    g[np.arange(n), y] -= 1
    return float(-lp[np.arange(n), y].mean()), g


@wrong("softmax_cross_entropy", "dlogits[:, y] -= 1 subtracts in every row at every label")
def sce_fancy_index(logits, y):
    lp = _log_probs(logits)
    n = len(y)
    g = np.exp(lp)
    g[:, y] -= 1
    return float(-lp[np.arange(n), y].mean()), g / n


@wrong("softmax_cross_entropy", "unstable softmax: exp of raw logits")
def sce_unstable(logits, y):
    z = np.asarray(logits, float)
    n = len(y)
    s = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    loss = -np.log(s[np.arange(n), y]).mean()
    s[np.arange(n), y] -= 1
    return float(loss), s / n


@wrong("softmax_cross_entropy", "gradient sign flipped (onehot − softmax)")
def sce_sign(logits, y):
    lp = _log_probs(logits)
    n = len(y)
    g = np.exp(lp)
    g[np.arange(n), y] -= 1
    return float(-lp[np.arange(n), y].mean()), -g / n


@right("softmax_cross_entropy", "torch autograd on F.cross_entropy")
def sce_torch(logits, y):
    z = torch.tensor(np.asarray(logits, float), requires_grad=True)
    loss = torch.nn.functional.cross_entropy(z, torch.as_tensor(np.asarray(y), dtype=torch.long))
    loss.backward()
    return loss.item(), z.grad.numpy()


@right("softmax_cross_entropy", "one-hot matrix and logsumexp, per-example loop for the loss")
def sce_onehot(logits, y):
    z = np.asarray(logits, float)
    n, k = z.shape
    onehot = np.eye(k)[y]
    lse = scipy.special.logsumexp(z, axis=1)
    loss = sum(lse[i] - z[i, y[i]] for i in range(n)) / n
    return loss, (np.exp(z - lse[:, None]) - onehot) / n


# ---------------------------------------------------------------------------------- gaussian_mle


@wrong("gaussian_mle", "unbiased variance (divides by N − 1)")
def mle_ddof1(x):
    x = np.asarray(x, float)
    return float(x.mean()), float(x.var(ddof=1)) if x.size > 1 else 0.0


@wrong("gaussian_mle", "returns the standard deviation")
def mle_std(x):
    x = np.asarray(x, float)
    return float(x.mean()), float(x.std())


@wrong("gaussian_mle", "E[x²] − E[x]²: catastrophic cancellation far from zero",
       breaks="numerical stability")
def mle_one_pass(x):
    x = np.asarray(x, float)
    return float(x.mean()), float(np.mean(x**2) - x.mean() ** 2)


@wrong("gaussian_mle", "returns (var, mu) in the wrong order")
def mle_swapped(x):
    x = np.asarray(x, float)
    return float(x.var()), float(x.mean())


@right("gaussian_mle", "np.var")
def mle_np(x):
    return float(np.mean(x)), float(np.var(x))


@right("gaussian_mle", "Welford's online algorithm in a loop")
def mle_welford(x):
    mean, m2 = 0.0, 0.0
    for i, v in enumerate(np.asarray(x, float), start=1):
        d = v - mean
        mean += d / i
        m2 += d * (v - mean)
    return mean, m2 / len(x)


# ------------------------------------------------------------------------------------- ridge_map


@wrong("ridge_map", "λ inverted: prior_var / noise_var")
def ridge_inverted(X, y, noise_var, prior_var):
    lam = prior_var / noise_var
    return np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y)


@wrong("ridge_map", "λ = 1 / prior_var (forgets the noise variance)")
def ridge_no_noise(X, y, noise_var, prior_var):
    return np.linalg.solve(X.T @ X + np.eye(X.shape[1]) / prior_var, X.T @ y)


@wrong("ridge_map", "no prior: plain least squares")
def ridge_lstsq(X, y, noise_var, prior_var):
    return np.linalg.lstsq(X, y, rcond=None)[0]


@wrong("ridge_map", "λ scaled by N (mean loss with a sum penalty)")
def ridge_times_n(X, y, noise_var, prior_var):
    lam = noise_var / prior_var * X.shape[0]
    return np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y)


@right("ridge_map", "sklearn.linear_model.Ridge without intercept")
def ridge_sklearn(X, y, noise_var, prior_var):
    from sklearn.linear_model import Ridge

    model = Ridge(alpha=noise_var / prior_var, fit_intercept=False, solver="cholesky")
    return model.fit(X, y).coef_


@right("ridge_map", "least squares on data augmented with √λ·I")
def ridge_augmented(X, y, noise_var, prior_var):
    d = X.shape[1]
    Xa = np.vstack([X, np.sqrt(noise_var / prior_var) * np.eye(d)])
    ya = np.concatenate([y, np.zeros(d)])
    return np.linalg.lstsq(Xa, ya, rcond=None)[0]


@right("ridge_map", "dual form Xᵀ(XXᵀ + λI)⁻¹y")
def ridge_dual(X, y, noise_var, prior_var):
    lam = noise_var / prior_var
    return X.T @ np.linalg.solve(X @ X.T + lam * np.eye(X.shape[0]), y)


# ---------------------------------------------------------------------------- beta_bernoulli_map


@wrong("beta_bernoulli_map", "posterior mean instead of mode")
def bb_mean(x, a, b):
    return (np.sum(x) + a) / (len(x) + a + b)


@wrong("beta_bernoulli_map", "MLE: ignores the prior")
def bb_mle(x, a, b):
    return float(np.mean(x))


@wrong("beta_bernoulli_map", "a and b swapped")
def bb_swapped(x, a, b):
    return (np.sum(x) + b - 1) / (len(x) + a + b - 2)


@wrong("beta_bernoulli_map", "off by one: (k + a)/(N + a + b − 2)")
def bb_off_by_one(x, a, b):
    return (np.sum(x) + a) / (len(x) + a + b - 2)


@right("beta_bernoulli_map", "numerical maximisation of the log-posterior")
def bb_numeric(x, a, b):
    k, n = np.count_nonzero(x), len(x)
    neg = lambda t: -((k + a - 1) * np.log(t) + (n - k + b - 1) * np.log1p(-t))
    res = scipy.optimize.minimize_scalar(neg, bounds=(1e-12, 1 - 1e-12), method="bounded",
                                         options={"xatol": 1e-14})
    return float(res.x)


@right("beta_bernoulli_map", "mode of scipy's Beta posterior via its parameters")
def bb_scipy(x, a, b):
    post = scipy.stats.beta(a + np.sum(x), b + len(x) - np.sum(x))
    alpha, beta = post.args
    return float((alpha - 1) / (alpha + beta - 2))

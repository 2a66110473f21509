"""Wrong and right implementations for 08_generative (see tests/variants/__init__.py).

The wrong ones are the mistakes people actually make with these losses: log(sigmoid(·))
that overflows, the sign errors of ELBOs and WGAN generators, exp(logvar) used as the
standard deviation, a gradient penalty with a per-element interpolation, one norm for
the whole batch or no double backpropagation, FID with an entrywise square root. Wrong
forwards of ``vae_reparameterize`` keep a correct cache so that only the forward loses
points.
"""

# ruff: noqa: N803, N806
from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.special
import torch
import torch.fx.experimental.symbolic_shapes  # noqa: F401 - see ASSIGNMENT.imports
import torch.nn.functional as F
from scipy.spatial.distance import jensenshannon

from . import right as _right
from . import wrong as _wrong

A = "08_generative"


def wrong(target, why, companions=None, breaks=""):
    return _wrong(A, target, why, companions, breaks=breaks)


def right(target, why, companions=None):
    return _right(A, target, why, companions)


def sp(z):
    return np.logaddexp(0.0, z)


def sig(z):
    return scipy.special.expit(z)


def T(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


# ----------------------------------------------------------------------------
# gan_losses


@wrong("gan_losses", "log(sigmoid(logit)): −inf / nan for logits of ±1e4")
def gan_naive(r, f, saturating=False):
    s_r, s_f = 1 / (1 + np.exp(-r)), 1 / (1 + np.exp(-f))
    d = -np.mean(np.log(s_r)) - np.mean(np.log(1 - s_f))
    g = np.mean(np.log(1 - s_f)) if saturating else -np.mean(np.log(s_f))
    return float(d), float(g)


@wrong("gan_losses", "d_loss halved (½ of the two means)")
def gan_half(r, f, saturating=False):
    d = 0.5 * (np.mean(sp(-r)) + np.mean(sp(f)))
    g = -np.mean(sp(f)) if saturating else np.mean(sp(-f))
    return float(d), float(g)


@wrong("gan_losses", "saturating loss with the wrong sign (−mean log(1 − D))")
def gan_sat_sign(r, f, saturating=False):
    d = np.mean(sp(-r)) + np.mean(sp(f))
    g = np.mean(sp(f)) if saturating else np.mean(sp(-f))
    return float(d), float(g)


@wrong("gan_losses", "real and fake swapped in d_loss")
def gan_swapped(r, f, saturating=False):
    d = np.mean(sp(-f)) + np.mean(sp(r))
    g = -np.mean(sp(f)) if saturating else np.mean(sp(-f))
    return float(d), float(g)


@wrong("gan_losses", "one mean over the concatenated batch")
def gan_concat(r, f, saturating=False):
    d = np.mean(np.concatenate([sp(-r), sp(f)])) * 2
    g = -np.mean(sp(f)) if saturating else np.mean(sp(-f))
    return float(d), float(g)


@wrong("gan_losses", "saturating flag ignored")
def gan_ignores_flag(r, f, saturating=False):
    return float(np.mean(sp(-r)) + np.mean(sp(f))), float(np.mean(sp(-f)))


@right("gan_losses", "torch binary_cross_entropy_with_logits")
def gan_torch(r, f, saturating=False):
    r, f = T(r), T(f)
    d = F.binary_cross_entropy_with_logits(
        r, torch.ones_like(r)
    ) + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))
    g = (
        -F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))
        if saturating
        else F.binary_cross_entropy_with_logits(f, torch.ones_like(f))
    )
    return d.item(), g.item()


@right("gan_losses", "scipy.special.log_expit, 0-d arrays returned")
def gan_log_expit(r, f, saturating=False):
    log_d = scipy.special.log_expit
    d = -np.mean(log_d(r)) - np.mean(log_d(-f))
    g = np.mean(log_d(-f)) if saturating else -np.mean(log_d(f))
    return np.asarray(d), np.asarray(g)


# ---------------------------------------------------------------- optimal_discriminator


@wrong("optimal_discriminator", "p_g / (p_data + p_g): the roles swapped")
def opt_swapped(p, q):
    s = p + q
    return np.divide(q, s, out=np.full_like(s, 0.5), where=s > 0)


@wrong("optimal_discriminator", "plain division: nan where both are 0")
def opt_nan(p, q):
    with np.errstate(invalid="ignore", divide="ignore"):
        return p / (p + q)


@wrong("optimal_discriminator", "0 where both are 0")
def opt_zero(p, q):
    s = p + q
    return np.divide(p, s, out=np.zeros_like(s), where=s > 0)


@wrong("optimal_discriminator", "the likelihood ratio p_data / p_g")
def opt_ratio(p, q):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(q > 0, p / np.where(q > 0, q, 1), 0.5)


@wrong("optimal_discriminator", "output normalised to sum to 1")
def opt_normalised(p, q):
    s = p + q
    d = np.divide(p, s, out=np.full_like(s, 0.5), where=s > 0)
    return d / d.sum()


@right("optimal_discriminator", "np.where with a safe denominator")
def opt_where(p, q):
    s = p + q
    return np.where(s > 0, p / np.where(s > 0, s, 1.0), 0.5)


@right("optimal_discriminator", "torch, nan_to_num")
def opt_torch(p, q):
    p, q = T(p), T(q)
    return torch.nan_to_num(p / (p + q), nan=0.5).numpy()


# -------------------------------------------------------------------------
# js_divergence


def _kl_to_mean(a, m):
    mask = a > 0
    return np.sum(a[mask] * np.log(a[mask] / m[mask]))


@wrong("js_divergence", "log base 2 (bits): range [0, 1]")
def js_bits(p, q):
    m = (p + q) / 2
    return float((0.5 * _kl_to_mean(p, m) + 0.5 * _kl_to_mean(q, m)) / np.log(2))


@wrong("js_divergence", "KL(p‖q) instead of JS")
def js_is_kl(p, q):
    with np.errstate(divide="ignore"):
        return float(np.sum(scipy.special.rel_entr(p, q)))


@wrong("js_divergence", "no ½: KL(p‖m) + KL(q‖m)")
def js_no_half(p, q):
    m = (p + q) / 2
    return float(_kl_to_mean(p, m) + _kl_to_mean(q, m))


@wrong("js_divergence", "0·log 0 evaluated: nan on disjoint supports")
def js_nan(p, q):
    m = (p + q) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(0.5 * np.sum(p * np.log(p / m)) + 0.5 * np.sum(q * np.log(q / m)))


@wrong("js_divergence", "m = p + q, not halved")
def js_unhalved_mixture(p, q):
    m = p + q
    return float(0.5 * _kl_to_mean(p, m) + 0.5 * _kl_to_mean(q, m))


@right("js_divergence", "scipy jensenshannon squared")
def js_scipy(p, q):
    return float(jensenshannon(p, q) ** 2)


@right(
    "js_divergence", "entropy of the mixture minus mean entropy (scipy.special.entr)"
)
def js_entropy(p, q):
    H = scipy.special.entr
    return float(np.sum(H((p + q) / 2)) - 0.5 * np.sum(H(p)) - 0.5 * np.sum(H(q)))


# ---------------------------------------------------------------------------
# wgan_losses


@wrong("wgan_losses", "critic loss with the sign flipped (mean real − mean fake)")
def wgan_critic_sign(r, f):
    return float(np.mean(r) - np.mean(f)), float(-np.mean(f))


@wrong("wgan_losses", "generator loss without the minus sign")
def wgan_gen_sign(r, f):
    return float(np.mean(f) - np.mean(r)), float(np.mean(f))


@wrong("wgan_losses", "generator loss = minus the critic loss")
def wgan_gen_gap(r, f):
    return float(np.mean(f) - np.mean(r)), float(np.mean(r) - np.mean(f))


@wrong("wgan_losses", "sums instead of means")
def wgan_sums(r, f):
    return float(np.sum(f) - np.sum(r)), float(-np.sum(f))


@wrong("wgan_losses", "one mean over the concatenation [f(fake), −f(real)]")
def wgan_concat(r, f):
    return float(np.mean(np.concatenate([f, -r])) * 2), float(-np.mean(f))


@right("wgan_losses", "torch tensors")
def wgan_torch(r, f):
    r, f = T(r), T(f)
    return (f.mean() - r.mean()).item(), (-f.mean()).item()


# ------------------------------------------------------------------------
# wgan_gp_penalty


def _gp(
    x_hat,
    W1,
    b1,
    w2,
    lam,
    *,
    norm_mode="row",
    second_order=True,
    squared=False,
    one_sided=False,
):
    N = x_hat.shape[0]
    t = np.tanh(x_hat @ W1 + b1)
    slope = 1 - t * t
    s = w2 * slope
    g = s @ W1.T
    if norm_mode == "batch":
        norm = np.full(N, np.linalg.norm(g))
    else:
        norm = np.linalg.norm(g, axis=1)
    if squared:
        gap = norm**2 - 1
        dnorm = 2 * gap * 2 * norm
    else:
        gap = norm - 1
        if one_sided:
            gap = np.maximum(gap, 0)
        dnorm = 2 * gap
    penalty = lam * np.mean(gap**2)
    if norm_mode == "batch":
        dg = lam * (2 * (norm[0] - 1) / norm[0]) * g
    else:
        dg = (lam / N) * (dnorm / norm)[:, None] * g
    dW1 = dg.T @ s
    ds = dg @ W1
    dw2 = np.sum(ds * slope, 0)
    if not second_order:  # tanh' treated as a constant: no second derivative
        return float(penalty), (dW1, np.zeros_like(b1), dw2)
    da = ds * w2 * (-2 * t) * slope
    return float(penalty), (dW1 + x_hat.T @ da, da.sum(0), dw2)


def _mix(x_real, x_fake, alpha):
    a = alpha[:, None]
    return a * x_real + (1 - a) * x_fake


@wrong("wgan_gp_penalty", "per-element interpolation (alpha spread over the features)")
def gp_per_element(x_real, x_fake, alpha, W1, b1, w2, lam=10.0):
    a = np.resize(alpha, x_real.shape)
    return _gp(a * x_real + (1 - a) * x_fake, W1, b1, w2, lam)


@wrong("wgan_gp_penalty", "one norm over the whole batch")
def gp_batch_norm(x_real, x_fake, alpha, W1, b1, w2, lam=10.0):
    return _gp(_mix(x_real, x_fake, alpha), W1, b1, w2, lam, norm_mode="batch")


@wrong("wgan_gp_penalty", "no double backpropagation (tanh' held constant)")
def gp_first_order(x_real, x_fake, alpha, W1, b1, w2, lam=10.0):
    return _gp(_mix(x_real, x_fake, alpha), W1, b1, w2, lam, second_order=False)


@wrong("wgan_gp_penalty", "squared norm: (‖g‖² − 1)²")
def gp_squared(x_real, x_fake, alpha, W1, b1, w2, lam=10.0):
    return _gp(_mix(x_real, x_fake, alpha), W1, b1, w2, lam, squared=True)


@wrong("wgan_gp_penalty", "one-sided penalty max(0, ‖g‖ − 1)²")
def gp_one_sided(x_real, x_fake, alpha, W1, b1, w2, lam=10.0):
    return _gp(_mix(x_real, x_fake, alpha), W1, b1, w2, lam, one_sided=True)


@wrong("wgan_gp_penalty", "alpha and 1 − alpha swapped")
def gp_swapped(x_real, x_fake, alpha, W1, b1, w2, lam=10.0):
    return _gp(_mix(x_fake, x_real, alpha), W1, b1, w2, lam)


@right("wgan_gp_penalty", "torch.autograd.grad(create_graph=True)")
def gp_torch(x_real, x_fake, alpha, W1, b1, w2, lam=10.0):
    W, b, w = (T(v).requires_grad_(True) for v in (W1, b1, w2))
    a = T(alpha)[:, None]
    x_hat = (a * T(x_real) + (1 - a) * T(x_fake)).requires_grad_(True)
    out = torch.tanh(x_hat @ W + b) @ w
    (g,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    penalty = lam * ((g.norm(dim=1) - 1) ** 2).mean()
    grads = torch.autograd.grad(penalty, (W, b, w))
    return penalty.item(), tuple(v.numpy() for v in grads)


@right("wgan_gp_penalty", "a loop over samples with einsum, lists returned")
def gp_loop(x_real, x_fake, alpha, W1, b1, w2, lam=10.0):
    N = len(alpha)
    dW1, db1, dw2, total = np.zeros_like(W1), np.zeros_like(b1), np.zeros_like(w2), 0.0
    for n in range(N):
        x = alpha[n] * x_real[n] + (1 - alpha[n]) * x_fake[n]
        t = np.tanh(x @ W1 + b1)
        s = w2 * (1 - t**2)
        g = W1 @ s
        r = np.sqrt(g @ g)
        total += (r - 1) ** 2
        c = lam * 2 * (r - 1) / (N * r) * g
        ds = W1.T @ c
        dW1 += np.einsum("d,h->dh", c, s)
        dw2 += ds * (1 - t**2)
        da = ds * w2 * (-2 * t) * (1 - t**2)
        dW1 += np.einsum("d,h->dh", x, da)
        db1 += da
    return lam * total / N, [dW1, db1, dw2]


# -----------------------------------------------------------
# relativistic_average_losses


@wrong(
    "relativistic_average_losses", "the standard GAN losses (no relativistic centring)"
)
def ra_standard(r, f):
    return (
        float(0.5 * (np.mean(sp(-r)) + np.mean(sp(f)))),
        float(0.5 * (np.mean(sp(-f)) + np.mean(sp(r)))),
    )


@wrong("relativistic_average_losses", "log(sigmoid(·)): inf for logits of ±1e4")
def ra_naive(r, f):
    rr, ff = r - f.mean(), f - r.mean()
    with np.errstate(divide="ignore", over="ignore"):
        s_r, s_f = 1 / (1 + np.exp(-rr)), 1 / (1 + np.exp(-ff))
        d = -0.5 * (np.mean(np.log(s_r)) + np.mean(np.log(1 - s_f)))
        g = -0.5 * (np.mean(np.log(s_f)) + np.mean(np.log(1 - s_r)))
    return float(d), float(g)


@wrong("relativistic_average_losses", "each batch centred on its own mean")
def ra_own_mean(r, f):
    rr, ff = r - r.mean(), f - f.mean()
    return (
        float(0.5 * (np.mean(sp(-rr)) + np.mean(sp(ff)))),
        float(0.5 * (np.mean(sp(-ff)) + np.mean(sp(rr)))),
    )


@wrong("relativistic_average_losses", "generator loss without the real-sample term")
def ra_no_real_term(r, f):
    rr, ff = r - f.mean(), f - r.mean()
    return float(0.5 * (np.mean(sp(-rr)) + np.mean(sp(ff)))), float(np.mean(sp(-ff)))


@wrong("relativistic_average_losses", "no factor ½")
def ra_no_half(r, f):
    rr, ff = r - f.mean(), f - r.mean()
    return (
        float(np.mean(sp(-rr)) + np.mean(sp(ff))),
        float(np.mean(sp(-ff)) + np.mean(sp(rr))),
    )


@right("relativistic_average_losses", "torch, as in Jolicoeur-Martineau's code")
def ra_torch(r, f):
    r, f = T(r), T(f)
    bce = F.binary_cross_entropy_with_logits
    rr, ff = r - f.mean(), f - r.mean()
    d = (bce(rr, torch.ones_like(rr)) + bce(ff, torch.zeros_like(ff))) / 2
    g = (bce(ff, torch.ones_like(ff)) + bce(rr, torch.zeros_like(rr))) / 2
    return d.item(), g.item()


# ------------------------------------------------------------------------
# frechet_distance


@wrong("frechet_distance", "entrywise square root of C1 C2")
def fid_elementwise(mu1, c1, mu2, c2):
    d = mu1 - mu2
    with np.errstate(invalid="ignore"):
        return float(
            d @ d + np.trace(c1) + np.trace(c2) - 2 * np.trace(np.sqrt(c1 @ c2))
        )


def _psd_sqrt(c):
    w, v = np.linalg.eigh((c + c.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


@wrong("frechet_distance", "tr(C1^½ C2^½): right only when the covariances commute")
def fid_product_of_roots(mu1, c1, mu2, c2):
    d = mu1 - mu2
    return float(
        max(
            d @ d
            + np.trace(c1)
            + np.trace(c2)
            - 2 * np.trace(_psd_sqrt(c1) @ _psd_sqrt(c2)),
            0.0,
        )
    )


@wrong("frechet_distance", "no factor 2 on the cross term")
def fid_no_two(mu1, c1, mu2, c2):
    d = mu1 - mu2
    r = _psd_sqrt(c1)
    cross = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(r @ c2 @ r), 0, None)))
    return float(d @ d + np.trace(c1) + np.trace(c2) - cross)


@wrong("frechet_distance", "‖μ1 − μ2‖ not squared")
def fid_unsquared_mean(mu1, c1, mu2, c2):
    r = _psd_sqrt(c1)
    cross = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(r @ c2 @ r), 0, None)))
    return float(
        max(np.linalg.norm(mu1 - mu2) + np.trace(c1) + np.trace(c2) - 2 * cross, 0)
    )


@wrong("frechet_distance", "Cholesky factors instead of the symmetric square root")
def fid_cholesky(mu1, c1, mu2, c2):
    d = mu1 - mu2
    j = 1e-12 * np.eye(len(mu1))
    L1, L2 = np.linalg.cholesky(c1 + j), np.linalg.cholesky(c2 + j)
    return float(max(d @ d + np.trace(c1) + np.trace(c2) - 2 * np.trace(L1 @ L2.T), 0))


@right(
    "frechet_distance",
    "scipy.linalg.sqrtm of C1 C2 (pytorch-fid style, with an offset " "when it fails)",
)
def fid_scipy(mu1, c1, mu2, c2):
    d = mu1 - mu2
    root = scipy.linalg.sqrtm(c1 @ c2)
    if not np.isfinite(root).all():
        off = 1e-10 * np.eye(len(mu1))
        root = scipy.linalg.sqrtm((c1 + off) @ (c2 + off))
    return float(
        max(d @ d + np.trace(c1) + np.trace(c2) - 2 * np.trace(root).real, 0.0)
    )


@right(
    "frechet_distance",
    "square roots of the eigenvalues of C1 C2 (torch.linalg.eigvals)",
)
def fid_eigvals(mu1, c1, mu2, c2):
    d = mu1 - mu2
    ev = torch.linalg.eigvals(T(c1) @ T(c2)).real.clamp(min=0).sqrt().sum().item()
    return max(float(d @ d + np.trace(c1) + np.trace(c2) - 2 * ev), 0.0)


# ----------------------------------------------------------------------
# vae_reparameterize


@wrong("vae_reparameterize", "exp(logvar) used as the standard deviation")
def rep_var_as_std(mu, logvar, eps):
    return mu + np.exp(logvar) * eps, (np.exp(0.5 * logvar), eps)


@wrong("vae_reparameterize", "logvar used as the standard deviation")
def rep_logvar_as_std(mu, logvar, eps):
    return mu + logvar * eps, (np.exp(0.5 * logvar), eps)


@wrong("vae_reparameterize", "fresh noise drawn instead of the given eps")
def rep_fresh_noise(mu, logvar, eps):
    noise = np.random.default_rng().standard_normal(mu.shape)
    return mu + np.exp(0.5 * logvar) * noise, (np.exp(0.5 * logvar), eps)


@wrong("vae_reparameterize", "exp(−½·logvar): the sign of the exponent")
def rep_inverse_std(mu, logvar, eps):
    return mu + np.exp(-0.5 * logvar) * eps, (np.exp(0.5 * logvar), eps)


@wrong("vae_reparameterize", "sqrt(logvar): logvar taken as the variance")
def rep_sqrt_logvar(mu, logvar, eps):
    with np.errstate(invalid="ignore"):
        return mu + np.sqrt(logvar) * eps, (np.exp(0.5 * logvar), eps)


def _rep_dict(mu, logvar, eps):
    return mu + np.exp(logvar / 2) * eps, {"logvar": logvar.copy(), "eps": eps.copy()}


def _rep_dict_backward(dz, cache):
    return dz.copy(), dz * cache["eps"] * np.exp(cache["logvar"] / 2) / 2


@right(
    "vae_reparameterize",
    "cache as a dict of logvar and eps",
    {"vae_reparameterize_backward": _rep_dict_backward},
)
def rep_dict(mu, logvar, eps):
    return _rep_dict(mu, logvar, eps)


# -------------------------------------------------------------
# vae_reparameterize_backward


@wrong("vae_reparameterize_backward", "dlogvar without the ½")
def repb_no_half(dz, cache):
    std, eps = cache
    return dz.copy(), dz * eps * std


@wrong(
    "vae_reparameterize_backward",
    "chain rule with exp(logvar) as the standard deviation",
)
def repb_var(dz, cache):
    std, eps = cache
    return dz.copy(), dz * eps * std**2


@wrong("vae_reparameterize_backward", "dmu scaled by the standard deviation")
def repb_dmu_scaled(dz, cache):
    std, eps = cache
    return dz * std, dz * eps * 0.5 * std


@wrong("vae_reparameterize_backward", "dlogvar = dz·eps (σ factor forgotten)")
def repb_no_std(dz, cache):
    std, eps = cache
    return dz.copy(), dz * eps * 0.5


@wrong("vae_reparameterize_backward", "gradients summed over the batch")
def repb_summed(dz, cache):
    std, eps = cache
    return dz.sum(0), (dz * eps * 0.5 * std).sum(0)


class _RepCache:
    """An object cache holding the inputs (a cache is the student's own format)."""

    def __init__(self, mu, logvar, eps):
        self.mu, self.logvar, self.eps = mu.copy(), logvar.copy(), eps.copy()


def _rep_object_forward(mu, logvar, eps):
    return mu + np.exp(0.5 * logvar) * eps, _RepCache(mu, logvar, eps)


@right(
    "vae_reparameterize_backward",
    "torch autograd on the forward redone from an object " "cache",
    {"vae_reparameterize": _rep_object_forward},
)
def repb_torch(dz, cache):
    m, lv = T(cache.mu).requires_grad_(True), T(cache.logvar).requires_grad_(True)
    z = m + torch.exp(0.5 * lv) * T(cache.eps)
    dm, dlv = torch.autograd.grad(z, (m, lv), T(dz))
    return dm.numpy(), dlv.numpy()


@right("vae_reparameterize_backward", "dict cache", {"vae_reparameterize": _rep_dict})
def repb_dict(dz, cache):
    return _rep_dict_backward(dz, cache)


# -----------------------------------------------------------------------------
# gaussian_kl


@wrong("gaussian_kl", "logvar read as log-std (exp(2·logvar), 2·logvar)")
def kl_log_std(mu, logvar):
    return 0.5 * np.sum(np.exp(2 * logvar) + mu**2 - 1 - 2 * logvar, axis=1)


@wrong("gaussian_kl", "twice the KL (no ½)")
def kl_double(mu, logvar):
    return np.sum(np.exp(logvar) + mu**2 - 1 - logvar, axis=1)


@wrong("gaussian_kl", "mean over the latent axis")
def kl_mean(mu, logvar):
    return 0.5 * np.mean(np.exp(logvar) + mu**2 - 1 - logvar, axis=1)


@wrong("gaussian_kl", "the sign of the ELBO's KL term: −KL")
def kl_negative(mu, logvar):
    return 0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=1)


@wrong("gaussian_kl", "summed over the batch too (a scalar)")
def kl_scalar(mu, logvar):
    return 0.5 * np.sum(np.exp(logvar) + mu**2 - 1 - logvar)


@right("gaussian_kl", "torch.distributions.kl_divergence")
def kl_torch(mu, logvar):
    d = torch.distributions
    q = d.Normal(T(mu), torch.exp(0.5 * T(logvar)))
    return d.kl_divergence(q, d.Normal(0.0, 1.0)).sum(-1).numpy()


@right("gaussian_kl", "trace, squared norm and log-determinant, with std")
def kl_logdet(mu, logvar):
    std = np.exp(logvar / 2)
    L = mu.shape[1]
    return 0.5 * (
        np.sum(std**2, 1)
        + np.einsum("nl,nl->n", mu, mu)
        - L
        - 2 * np.sum(np.log(std), 1)
    )


# ------------------------------------------------------------------------
# vae_negative_elbo


def _kl_parts(mu, logvar, N):
    kl = 0.5 * np.sum(np.exp(logvar) + mu**2 - 1 - logvar, 1)
    return kl, mu / N, 0.5 * (np.exp(logvar) - 1) / N


@wrong("vae_negative_elbo", "log(sigmoid(·)) in the reconstruction")
def elbo_naive(x, l, mu, logvar):
    N = x.shape[0]
    s = 1 / (1 + np.exp(-l))
    with np.errstate(divide="ignore", invalid="ignore"):
        rec = -np.sum(x * np.log(s) + (1 - x) * np.log(1 - s), 1)
    kl, dmu, dlv = _kl_parts(mu, logvar, N)
    return float(np.mean(rec + kl)), (s - x) / N, dmu, dlv


@wrong("vae_negative_elbo", "MSE reconstruction (a Gaussian decoder)")
def elbo_mse(x, l, mu, logvar):
    N = x.shape[0]
    s = sig(l)
    rec = np.sum((x - s) ** 2, 1)
    kl, dmu, dlv = _kl_parts(mu, logvar, N)
    return float(np.mean(rec + kl)), 2 * (s - x) * s * (1 - s) / N, dmu, dlv


@wrong("vae_negative_elbo", "KL subtracted (the sign of the ELBO)")
def elbo_minus_kl(x, l, mu, logvar):
    N = x.shape[0]
    rec = np.sum(sp(l) - x * l, 1)
    kl, dmu, dlv = _kl_parts(mu, logvar, N)
    return float(np.mean(rec - kl)), (sig(l) - x) / N, -dmu, -dlv


@wrong("vae_negative_elbo", "reconstruction averaged over pixels")
def elbo_pixel_mean(x, l, mu, logvar):
    N, P = x.shape
    rec = np.mean(sp(l) - x * l, 1)
    kl, dmu, dlv = _kl_parts(mu, logvar, N)
    return float(np.mean(rec + kl)), (sig(l) - x) / (N * P), dmu, dlv


@wrong("vae_negative_elbo", "gradients not divided by N")
def elbo_no_mean_grad(x, l, mu, logvar):
    N = x.shape[0]
    rec = np.sum(sp(l) - x * l, 1)
    kl, dmu, dlv = _kl_parts(mu, logvar, N)
    return float(np.mean(rec + kl)), sig(l) - x, dmu * N, dlv * N


@wrong("vae_negative_elbo", "dlogvar = ½ exp(logvar) (the −1 lost)")
def elbo_dlogvar(x, l, mu, logvar):
    N = x.shape[0]
    rec = np.sum(sp(l) - x * l, 1)
    kl, dmu, _ = _kl_parts(mu, logvar, N)
    return float(np.mean(rec + kl)), (sig(l) - x) / N, dmu, 0.5 * np.exp(logvar) / N


@right("vae_negative_elbo", "torch autograd")
def elbo_torch(x, l, mu, logvar):
    ell, m, lv = (T(v).requires_grad_(True) for v in (l, mu, logvar))
    rec = F.binary_cross_entropy_with_logits(ell, T(x), reduction="none").sum(1)
    kl = -0.5 * (1 + lv - m**2 - lv.exp()).sum(1)
    loss = (rec + kl).mean()
    grads = torch.autograd.grad(loss, (ell, m, lv))
    return (loss.item(),) + tuple(g.numpy() for g in grads)


@right("vae_negative_elbo", "scipy expit and a call to gaussian_kl-like code")
def elbo_scipy(x, l, mu, logvar):
    N = x.shape[0]
    rec = np.maximum(l, 0) - x * l + np.log1p(np.exp(-np.abs(l)))
    kl, dmu, dlv = _kl_parts(mu, logvar, N)
    return np.float64((rec.sum() + kl.sum()) / N), (sig(l) - x) / N, dmu, dlv

"""Checks for assignment 08_generative: GAN, WGAN, WGAN-GP and RaSGAN losses, the
optimal discriminator and the Jensen–Shannon divergence, the Fréchet distance between
Gaussians, and the pieces of a VAE (reparameterisation forward and backward, the
Gaussian KL, the negative ELBO).

This package ships to students, so it holds no answers: the expected values come from
PyTorch (``binary_cross_entropy_with_logits``, ``torch.autograd.grad(...,
create_graph=True)``, ``torch.distributions.kl_divergence``) and SciPy in float64, from
values worked out by hand (quoted in the public messages), from invariants, and in the
hidden tier from the reference solution (``ctx.ref``). The cache returned by
``vae_reparameterize`` is opaque: a check obtains it from the student's forward and
hands it back unchanged.

tests/test_properties_08.py checks these oracles against the reference solution on
inputs drawn by hypothesis.
"""

from __future__ import annotations

import math

import numpy as np

from ..checks import (
    CheckFailure,
    Context,
    NotImplementedYet,
    as_float_array,
    as_scalar,
    check_shape,
    compare,
    compare_scaled,
    fmt,
    unpack,
)
from ..spec import Assignment, GradedFunction, lazy_module
from ._shared import sections

torch = lazy_module(
    "torch"
)  # imported by the worker before grading (ASSIGNMENT.imports)
scipy_linalg = lazy_module("scipy.linalg")

PAGE = "chapters/08_generative"


_section = sections(PAGE)  # _section(title, label): a Section of this page


STABLE = _section("Stable losses from logits", "sec-gen-stable-losses")
OPTIMAL_D = _section("The optimal discriminator", "sec-gen-optimal-d")
WGAN = _section("The Wasserstein distance and its dual", "sec-gen-wgan")
GP = _section("The gradient penalty", "sec-gen-gp")
RELATIVISTIC = _section("Relativistic discriminators", "sec-gen-relativistic")
FID = _section("The Fréchet distance", "sec-gen-fid")
REPARAM = _section("The reparameterisation trick", "sec-gen-reparam")
GAUSSIAN_KL = _section("The Gaussian KL in closed form", "sec-gen-gaussian-kl")
DECODERS = _section("Bernoulli and Gaussian decoders", "sec-gen-decoders")

LOG2 = math.log(2.0)

# --------------------------------------------------------------------------------------
# torch / scipy oracles (float64)


def _t(a) -> "torch.Tensor":
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64)


def _bce(logits, label: float) -> float:
    """Mean binary cross-entropy with logits against a constant label, by torch."""
    z = _t(logits)
    return float(
        torch.nn.functional.binary_cross_entropy_with_logits(
            z, torch.full_like(z, label)
        )
    )


def torch_gan_losses(real, fake, saturating=False) -> tuple:
    d_loss = _bce(real, 1.0) + _bce(fake, 0.0)
    # log(1 − σ(f)) = −BCE(f, 0) elementwise
    g_loss = -_bce(fake, 0.0) if saturating else _bce(fake, 1.0)
    return d_loss, g_loss


def torch_relativistic(real, fake) -> tuple:
    r, f = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    r_rel, f_rel = r - f.mean(), f - r.mean()
    return (
        0.5 * (_bce(r_rel, 1.0) + _bce(f_rel, 0.0)),
        0.5 * (_bce(f_rel, 1.0) + _bce(r_rel, 0.0)),
    )


def scipy_js(p, q) -> float:
    """scipy's Jensen–Shannon *distance* is the square root of the divergence."""
    from scipy.spatial.distance import jensenshannon

    return (
        float(
            jensenshannon(
                np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
            )
        )
        ** 2
    )


def torch_gp(x_real, x_fake, alpha, W1, b1, w2, lam) -> tuple:
    """Penalty and its parameter gradients by double backpropagation in torch."""
    W, b, w = (_t(v).requires_grad_(True) for v in (W1, b1, w2))
    a = _t(alpha)[:, None]
    x_hat = (a * _t(x_real) + (1 - a) * _t(x_fake)).requires_grad_(True)
    critic = torch.tanh(x_hat @ W + b) @ w
    (grad_x,) = torch.autograd.grad(critic.sum(), x_hat, create_graph=True)
    penalty = lam * ((grad_x.norm(dim=1) - 1.0) ** 2).mean()
    grads = torch.autograd.grad(penalty, (W, b, w))
    return float(penalty.detach()), tuple(g.numpy().copy() for g in grads)


def scipy_frechet(mu1, cov1, mu2, cov2) -> float:
    """The usual FID code: tr sqrtm(C1 C2), real part (well-conditioned inputs only)."""
    diff = np.asarray(mu1) - np.asarray(mu2)
    cross = np.trace(scipy_linalg.sqrtm(cov1 @ cov2)).real
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * cross)


def torch_kl(mu, logvar) -> np.ndarray:
    dist = torch.distributions
    q = dist.Normal(_t(mu), torch.exp(0.5 * _t(logvar)))
    p = dist.Normal(torch.zeros_like(_t(mu)), torch.ones_like(_t(mu)))
    return dist.kl_divergence(q, p).sum(dim=-1).numpy().copy()


def torch_reparam(mu, logvar, eps, dz) -> tuple:
    m, lv = _t(mu).requires_grad_(True), _t(logvar).requires_grad_(True)
    z = m + torch.exp(0.5 * lv) * _t(eps)
    dm, dlv = torch.autograd.grad(z, (m, lv), _t(dz))
    return z.detach().numpy().copy(), dm.numpy().copy(), dlv.numpy().copy()


def torch_elbo(x, logits, mu, logvar) -> tuple:
    ell, m, lv = (_t(v).requires_grad_(True) for v in (logits, mu, logvar))
    n = x.shape[0]
    rec = torch.nn.functional.binary_cross_entropy_with_logits(
        ell, _t(x), reduction="sum"
    )
    dist = torch.distributions
    kl = dist.kl_divergence(
        dist.Normal(m, torch.exp(0.5 * lv)),
        dist.Normal(torch.zeros_like(m), torch.ones_like(m)),
    ).sum()
    loss = (rec + kl) / n
    grads = torch.autograd.grad(loss, (ell, m, lv))
    return (float(loss.detach()),) + tuple(g.numpy().copy() for g in grads)


# --------------------------------------------------------------------------------------
# Helpers


def _pair(
    ctx: Context, name: str, args: tuple, names: tuple, what: str, **kwargs
) -> tuple:
    got = unpack(
        ctx.call(name, *args, **kwargs),
        2,
        f"`{name}` ({what})",
        f"({names[0]}, {names[1]})",
    )
    return tuple(as_scalar(g, f"{n} ({what})") for g, n in zip(got, names))


def _finite(value: float, what: str, hint: str) -> None:
    if not math.isfinite(value):
        raise CheckFailure(f"{what} is {value}, but the exact value is finite. {hint}")


LOGSIG_HINT = (
    "Logits are unbounded: log(sigmoid(z)) underflows to log(0) = −inf once "
    "|z| > ~745 (and 1 − sigmoid(z) rounds to 0 much sooner). Use "
    "−log σ(z) = softplus(−z) = np.logaddexp(0, −z) and "
    "−log(1 − σ(z)) = softplus(z) = np.logaddexp(0, z)."
)
MEAN_HINT = (
    "Each term is a mean over its OWN batch: mean over the real logits plus mean over "
    "the fake logits (the batches may differ in size), with no factor ½."
)

# --------------------------------------------------------------------------------------
# gan_losses

GAN_HINT = (
    "d_loss = mean softplus(−r) + mean softplus(f); g_loss = mean softplus(−f) "
    "(non-saturating) or −mean softplus(f) = mean log(1 − σ(f)) (saturating, the "
    "minimax generator loss, which is negative)."
)


def _gan_case(ctx, r, f, saturating, what, hidden, expected=None):
    names = ("d_loss", "g_loss")
    d, g = _pair(ctx, "gan_losses", (r, f), names, what, saturating=saturating)
    e_d, e_g = expected if expected is not None else torch_gan_losses(r, f, saturating)
    hint = "" if hidden else GAN_HINT
    _finite(d, f"d_loss ({what})", LOGSIG_HINT)
    _finite(g, f"g_loss ({what})", LOGSIG_HINT)
    compare(d, e_d, f"d_loss ({what})", hidden=hidden, rtol=1e-9, atol=1e-12, hint=hint)
    compare(g, e_g, f"g_loss ({what})", hidden=hidden, rtol=1e-9, atol=1e-12, hint=hint)


def gan_known(ctx: Context) -> None:
    r, f = np.array([0.0, 0.0]), np.array([0.0])
    what = (
        f"real_logits={fmt(r)}, fake_logits={fmt(f)}: D = ½ everywhere, so "
        f"d_loss = 2·log 2, g_loss = log 2 (non-saturating)"
    )
    d, g = _pair(ctx, "gan_losses", (r, f), ("d_loss", "g_loss"), what)
    compare(d, 2 * LOG2, f"d_loss ({what})", hidden=False, rtol=1e-9, hint=MEAN_HINT)
    compare(g, LOG2, f"g_loss ({what})", hidden=False, rtol=1e-9, hint=GAN_HINT)
    what = f"{what.split(':')[0]}, saturating=True: g_loss = log(1 − ½) = −log 2"
    _, g = _pair(ctx, "gan_losses", (r, f), ("d_loss", "g_loss"), what, saturating=True)
    compare(
        g,
        -LOG2,
        f"g_loss ({what})",
        hidden=False,
        rtol=1e-9,
        hint="The saturating generator loss is mean log(1 − D(fake)), minimised: it is "
        "negative, and it is NOT −mean log(1 − D(fake)).",
    )


def gan_torch(ctx: Context) -> None:
    r, f = ctx.rng.normal(size=5) * 3, ctx.rng.normal(size=3) * 3
    for sat in (False, True):
        _gan_case(
            ctx,
            r,
            f,
            sat,
            f"real_logits={fmt(r, 3)}, fake_logits={fmt(f, 3)}, "
            f"saturating={sat}, compared with binary_cross_entropy_with_logits",
            hidden=False,
        )


def gan_large(ctx: Context) -> None:
    r, f = np.array([1e4, -1e4, 30.0]), np.array([-1e4, 1e4])
    for sat in (False, True):
        _gan_case(
            ctx,
            r,
            f,
            sat,
            f"real_logits={fmt(r)}, fake_logits={fmt(f)}, " f"saturating={sat}",
            hidden=False,
        )


def gan_hidden(ctx: Context) -> None:
    ref = ctx.ref("gan_losses")
    for nr, nf, scale in [
        (1, 1, 1.0),
        (7, 3, 2.0),
        (2, 9, 50.0),
        (4, 4, 1e4),
        (1, 6, 800.0),
    ]:
        r, f = ctx.rng.normal(size=nr) * scale, ctx.rng.normal(size=nf) * scale
        for sat in (False, True):
            what = (
                f"{nr} real and {nf} fake logits of size ~{scale:g}, saturating={sat}"
            )
            _gan_case(
                ctx, r, f, sat, what, hidden=True, expected=ref(r, f, saturating=sat)
            )
            _gan_case(ctx, r, f, sat, what + ", compared with torch", hidden=True)


# --------------------------------------------------------------------------------------
# optimal_discriminator

OPT_HINT = (
    "D*(x) = p_data(x) / (p_data(x) + p_g(x)): the probability that a point came from "
    "the data when the two are mixed half and half; 0.5 where both are 0."
)


def _opt_case(ctx, p, q, expected, what, hidden):
    got = as_float_array(ctx.call("optimal_discriminator", p, q), f"D* ({what})")
    compare(
        got,
        expected,
        f"D* ({what})",
        hidden=hidden,
        rtol=1e-12,
        atol=1e-15,
        hint="" if hidden else OPT_HINT,
    )


def opt_known(ctx: Context) -> None:
    p, q = np.array([0.5, 0.25, 0.25, 0.0]), np.array([0.25, 0.25, 0.0, 0.5])
    _opt_case(
        ctx,
        p,
        q,
        np.array([2 / 3, 0.5, 1.0, 0.0]),
        f"p_data={fmt(p)}, p_g={fmt(q)}",
        hidden=False,
    )


def opt_both_zero(ctx: Context) -> None:
    p, q = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    _opt_case(
        ctx,
        p,
        q,
        np.array([0.5, 1.0, 0.0]),
        f"p_data={fmt(p)}, p_g={fmt(q)}: both are 0 at the first point, where D* = 0.5",
        hidden=False,
    )


def opt_invariants(ctx: Context) -> None:
    p, q = ctx.rng.dirichlet(np.ones(6)), ctx.rng.dirichlet(np.ones(6))
    what = f"random p_data={fmt(p, 3)}, p_g={fmt(q, 3)}"
    got = as_float_array(ctx.call("optimal_discriminator", p, q), f"D* ({what})")
    swapped = as_float_array(
        ctx.call("optimal_discriminator", q, p), f"D* (swapped, {what})"
    )
    same = as_float_array(
        ctx.call("optimal_discriminator", p, p), f"D* (p_g = p_data, {what})"
    )
    compare(
        same,
        np.full(6, 0.5),
        f"D* with p_g = p_data ({what})",
        hidden=False,
        rtol=1e-12,
        hint="When the generator matches the data, D* = ½ everywhere.",
    )
    compare(
        got + swapped,
        np.ones(6),
        f"D*(p, q) + D*(q, p) ({what})",
        hidden=False,
        rtol=1e-12,
        hint=OPT_HINT,
    )
    compare(
        got * (p + q),
        p,
        f"D* · (p_data + p_g) ({what})",
        hidden=False,
        rtol=1e-12,
        atol=1e-15,
        hint=OPT_HINT,
    )


def opt_hidden(ctx: Context) -> None:
    ref = ctx.ref("optimal_discriminator")
    for k, disjoint in [(1, False), (5, False), (8, True), (30, False), (12, True)]:
        p, q = ctx.rng.dirichlet(np.ones(k)), ctx.rng.dirichlet(np.ones(k) * 0.3)
        if disjoint:
            cut = k // 2
            p[cut:], q[:cut] = 0.0, 0.0
            p[-1] = q[-1] = 0.0  # a point where both are 0
            p, q = p / p.sum(), q / q.sum()
        what = f"K={k}" + (
            ", disjoint supports and a point where both are 0" if disjoint else ""
        )
        _opt_case(ctx, p, q, ref(p, q), what, hidden=True)


# --------------------------------------------------------------------------------------
# js_divergence

JS_HINT = (
    "JS = ½ KL(p‖m) + ½ KL(q‖m) with m = ½(p + q), natural logarithms, and terms with "
    "p = 0 (or q = 0) counted as 0: never evaluate 0·log 0."
)


def _js(ctx, p, q, what) -> float:
    got = as_scalar(ctx.call("js_divergence", p, q), f"JS ({what})")
    if math.isnan(got):
        raise CheckFailure(f"JS ({what}) is nan. {JS_HINT}")
    return got


def js_known(ctx: Context) -> None:
    p, q = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    what = f"p={fmt(p)}, q={fmt(q)}: disjoint supports give log 2"
    compare(
        _js(ctx, p, q, what),
        LOG2,
        f"JS ({what})",
        hidden=False,
        rtol=1e-12,
        hint=JS_HINT,
    )
    p, q = np.array([0.5, 0.5]), np.array([1.0, 0.0])
    # m = [¾, ¼]: ½[½ log(½/¾) + ½ log(½/¼)] + ½[1·log(1/¾)]
    exact = 0.5 * (0.5 * math.log(2 / 3) + 0.5 * math.log(2)) + 0.5 * math.log(4 / 3)
    what = f"p={fmt(p)}, q={fmt(q)}"
    compare(
        _js(ctx, p, q, what),
        exact,
        f"JS ({what})",
        hidden=False,
        rtol=1e-12,
        hint=JS_HINT,
    )


def js_invariants(ctx: Context) -> None:
    p, q = ctx.rng.dirichlet(np.ones(5)), ctx.rng.dirichlet(np.ones(5))
    what = f"p={fmt(p, 3)}, q={fmt(q, 3)}"
    compare(
        _js(ctx, p, p, what + ", q = p"),
        0.0,
        f"JS(p, p) ({what})",
        hidden=False,
        atol=1e-14,
        hint="JS(p, p) = 0.",
    )
    pq, qp = _js(ctx, p, q, what), _js(ctx, q, p, what + ", swapped")
    compare(
        pq,
        qp,
        f"JS(p, q) − JS(q, p) symmetry ({what})",
        hidden=False,
        rtol=1e-12,
        hint="JS is symmetric in p and q.",
    )
    compare(
        pq,
        scipy_js(p, q),
        f"JS ({what}, compared with " f"scipy.spatial.distance.jensenshannon squared)",
        hidden=False,
        rtol=1e-9,
        atol=1e-14,
        hint=JS_HINT + " Use natural logarithms (nats), not bits.",
    )


def js_hidden(ctx: Context) -> None:
    ref = ctx.ref("js_divergence")
    for k, kind in [
        (1, "one point"),
        (6, "random"),
        (40, "random"),
        (10, "disjoint"),
        (9, "partly overlapping"),
        (5, "tiny probabilities"),
    ]:
        p, q = ctx.rng.dirichlet(np.ones(k)), ctx.rng.dirichlet(np.ones(k))
        if kind == "disjoint":
            p[k // 2 :], q[: k // 2] = 0.0, 0.0
        if kind == "partly overlapping":
            p[:3], q[-3:] = 0.0, 0.0
        if kind == "tiny probabilities":
            p[:2], q[2:4] = 1e-300, 1e-300
        p, q = p / p.sum(), q / q.sum()
        what = f"K={k}, {kind}"
        got = _js(ctx, p, q, what)
        compare(got, ref(p, q), f"JS ({what})", hidden=True, rtol=1e-9, atol=1e-14)
        compare(
            got,
            scipy_js(p, q),
            f"JS ({what}, compared with scipy)",
            hidden=True,
            rtol=1e-8,
            atol=1e-14,
        )


# --------------------------------------------------------------------------------------
# wgan_losses

WGAN_HINT = (
    "critic_loss = mean f(fake) − mean f(real) (the critic maximises the gap "
    "mean f(real) − mean f(fake), so its loss is minus that); gen_loss = −mean f(fake) "
    "(the generator raises the critic's score of its samples). Each mean is over its "
    "own batch."
)


def _wgan_case(ctx, r, f, expected, what, hidden):
    c, g = _pair(ctx, "wgan_losses", (r, f), ("critic_loss", "gen_loss"), what)
    hint = "" if hidden else WGAN_HINT
    compare(
        c,
        expected[0],
        f"critic_loss ({what})",
        hidden=hidden,
        rtol=1e-12,
        atol=1e-12,
        hint=hint,
    )
    compare(
        g,
        expected[1],
        f"gen_loss ({what})",
        hidden=hidden,
        rtol=1e-12,
        atol=1e-12,
        hint=hint,
    )


def wgan_known(ctx: Context) -> None:
    r, f = np.array([3.0, 1.0]), np.array([0.5, 1.0, -3.0])
    _wgan_case(
        ctx,
        r,
        f,
        (-0.5 - 2.0, 0.5),
        f"critic_real={fmt(r)}, critic_fake={fmt(f)}: "
        f"mean f(real) = 2, mean f(fake) = −0.5",
        hidden=False,
    )


def wgan_torch(ctx: Context) -> None:
    r, f = ctx.rng.normal(size=6) * 4, ctx.rng.normal(size=2) * 4
    rt, ft = _t(r), _t(f)
    expected = (float(ft.mean() - rt.mean()), float(-ft.mean()))
    _wgan_case(
        ctx,
        r,
        f,
        expected,
        f"critic_real={fmt(r, 3)}, critic_fake={fmt(f, 3)}",
        hidden=False,
    )


def wgan_hidden(ctx: Context) -> None:
    ref = ctx.ref("wgan_losses")
    for nr, nf, scale in [(1, 1, 1.0), (5, 8, 3.0), (64, 16, 1e3), (3, 1, 1e-3)]:
        r, f = ctx.rng.normal(size=nr) * scale, ctx.rng.normal(size=nf) * scale + scale
        _wgan_case(
            ctx, r, f, ref(r, f), f"{nr} real and {nf} fake critic values", hidden=True
        )


# --------------------------------------------------------------------------------------
# wgan_gp_penalty

GP_HINTS = {
    "penalty": "x̂_n = α_n·x_real[n] + (1 − α_n)·x_fake[n] (one α per ROW); "
    "∇ₓf(x̂_n) = W1 (w2 ⊙ (1 − t_n²)) with t_n = tanh(x̂_n W1 + b1); penalty = "
    "lam · mean over n of (‖∇ₓf(x̂_n)‖₂ − 1)², one norm per sample (not one norm of "
    "the whole batch, and not the squared norm).",
    "dW1": "W1 enters the penalty twice: directly in ∇ₓf = W1 s_n, and through "
    "t_n = tanh(x̂_n W1 + b1) inside s_n = w2 ⊙ (1 − t_n²). Differentiating the "
    "gradient "
    "again (double backpropagation) needs both paths, including d(1 − t²)/dt = −2t.",
    "db1": "b1 reaches the penalty only through t_n = tanh(x̂_n W1 + b1) inside "
    "s_n = w2 ⊙ (1 − t_n²): its gradient needs the second derivative of tanh, "
    "−2t(1 − t²). It is not zero.",
    "dw2": "dw2 = Σ_n (W1ᵀ c_n) ⊙ (1 − t_n²), where "
    "c_n = lam·2(‖g_n‖ − 1)/(N‖g_n‖) · g_n is the "
    "gradient of the penalty with respect to g_n = ∇ₓf(x̂_n).",
}


def _gp_call(ctx, args, what, lam=None) -> tuple:
    kwargs = {} if lam is None else {"lam": lam}
    penalty, grads = unpack(
        ctx.call("wgan_gp_penalty", *args, **kwargs),
        2,
        f"`wgan_gp_penalty` ({what})",
        "(penalty, (dW1, db1, dw2))",
    )
    penalty = as_scalar(penalty, f"penalty ({what})")
    grads = unpack(
        grads, 3, f"the second item of `wgan_gp_penalty` ({what})", "(dW1, db1, dw2)"
    )
    out = []
    for name, g, shape in zip(
        ("dW1", "db1", "dw2"), grads, [a.shape for a in args[3:6]]
    ):
        arr = as_float_array(g, f"{name} ({what})")
        check_shape(
            arr,
            shape,
            f"{name} ({what})",
            f"{name} has the shape of the parameter it is the gradient of.",
        )
        out.append(arr)
    return penalty, tuple(out)


def _gp_case(ctx, args, what, hidden, lam=None, expected=None):
    penalty, grads = _gp_call(ctx, args, what, lam)
    if expected is None:
        expected = torch_gp(*args, 10.0 if lam is None else lam)
    compare(
        penalty,
        expected[0],
        f"penalty ({what})",
        hidden=hidden,
        rtol=1e-9,
        atol=1e-12,
        hint="" if hidden else GP_HINTS["penalty"],
    )
    for name, g, e in zip(("dW1", "db1", "dw2"), grads, expected[1]):
        compare_scaled(
            g,
            e,
            f"{name} ({what})",
            hidden=hidden,
            tol=1e-8,
            hint="" if hidden else GP_HINTS[name],
        )


def _gp_inputs(rng, N, D, H, scale=1.0):
    x_real, x_fake = rng.normal(size=(N, D)), rng.normal(size=(N, D)) + 1.0
    alpha = rng.uniform(0.05, 0.95, size=N)
    W1 = rng.normal(size=(D, H)) * scale / math.sqrt(D)
    return x_real, x_fake, alpha, W1, rng.normal(size=H) * 0.5, rng.normal(size=H)


def gp_linear(ctx: Context) -> None:
    # With b1 = 0 and x̂ = 0 (α = ½ between ±x), t = 0: ∇ₓf = W1 w2 for every sample.
    x = np.array([[1.0, -2.0], [0.5, 0.0]])
    W1, b1, w2 = np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2), np.array([3.0, 4.0])
    args = (x, -x, np.array([0.5, 0.5]), W1, b1, w2)
    what = (
        f"x_real={fmt(x)}, x_fake=−x_real, alpha=[0.5, 0.5] (so x̂ = 0 and t = 0), "
        f"W1=I, b1=0, w2={fmt(w2)}: ∇ₓf = W1 w2 has norm 5, penalty = 10·(5 − 1)² = 160"
    )
    penalty, _ = _gp_call(ctx, args, what)
    compare(
        penalty,
        160.0,
        f"penalty ({what})",
        hidden=False,
        rtol=1e-9,
        hint=GP_HINTS["penalty"],
    )
    _gp_case(
        ctx,
        args,
        what + "; gradients compared with torch.autograd.grad(" "create_graph=True)",
        hidden=False,
    )


def gp_torch(ctx: Context) -> None:
    N, D, H = 4, 3, 5
    args = _gp_inputs(ctx.rng, N, D, H)
    _gp_case(
        ctx,
        args,
        f"random N={N}, D={D}, H={H}, lam=2.5, compared with "
        f"torch.autograd.grad(create_graph=True)",
        hidden=False,
        lam=2.5,
    )


def gp_default_lam(ctx: Context) -> None:
    N, D, H = 3, 2, 3
    args = _gp_inputs(ctx.rng, N, D, H)
    _gp_case(
        ctx,
        args,
        f"random N={N}, D={D}, H={H}, lam left at its default 10, compared "
        f"with torch",
        hidden=False,
    )


def gp_hidden(ctx: Context) -> None:
    ref = ctx.ref("wgan_gp_penalty")
    for N, D, H, scale in [
        (1, 2, 3, 1.0),
        (6, 4, 2, 1.0),
        (5, 1, 4, 1.0),
        (8, 3, 6, 3.0),
        (3, 5, 5, 0.2),
    ]:
        args = _gp_inputs(ctx.rng, N, D, H, scale)
        lam = float(ctx.rng.choice([1.0, 10.0]))
        what = f"N={N}, D={D}, H={H}, weights of scale {scale:g}"
        _gp_case(ctx, args, what, hidden=True, lam=lam, expected=ref(*args, lam=lam))
        _gp_case(ctx, args, what + ", compared with torch", hidden=True, lam=lam)


# --------------------------------------------------------------------------------------
# relativistic_average_losses

RA_HINT = (
    "r̃ = r − mean(f) and f̃ = f − mean(r) (each batch is compared with the MEAN of "
    "the "
    "OTHER batch); d_loss = ½[mean softplus(−r̃) + mean softplus(f̃)], "
    "g_loss = ½[mean softplus(−f̃) + mean softplus(r̃)]: the generator's loss has a "
    "term "
    "for the real samples too."
)


def _ra_case(ctx, r, f, what, hidden, expected=None):
    d, g = _pair(ctx, "relativistic_average_losses", (r, f), ("d_loss", "g_loss"), what)
    e_d, e_g = expected if expected is not None else torch_relativistic(r, f)
    hint = "" if hidden else RA_HINT
    _finite(d, f"d_loss ({what})", LOGSIG_HINT)
    _finite(g, f"g_loss ({what})", LOGSIG_HINT)
    compare(d, e_d, f"d_loss ({what})", hidden=hidden, rtol=1e-9, atol=1e-12, hint=hint)
    compare(g, e_g, f"g_loss ({what})", hidden=hidden, rtol=1e-9, atol=1e-12, hint=hint)


def ra_known(ctx: Context) -> None:
    r, f = np.array([1.0, 3.0]), np.array([2.0])
    what = (
        f"real_logits={fmt(r)}, fake_logits={fmt(f)}: r̃ = [−1, 1] and f̃ = [0], so "
        f"d_loss = g_loss = ½[½(softplus(1) + softplus(−1)) + log 2]"
    )
    value = 0.5 * (0.5 * (math.log1p(math.e) + math.log1p(1 / math.e)) + LOG2)
    _ra_case(ctx, r, f, what, hidden=False, expected=(value, value))


def ra_torch(ctx: Context) -> None:
    r, f = ctx.rng.normal(size=4) * 2 + 1, ctx.rng.normal(size=3) * 2 - 1
    _ra_case(
        ctx,
        r,
        f,
        f"real_logits={fmt(r, 3)}, fake_logits={fmt(f, 3)}, compared with "
        f"binary_cross_entropy_with_logits",
        hidden=False,
    )


def ra_large(ctx: Context) -> None:
    r, f = np.array([1e4, 5e3]), np.array([-1e4, 0.0, -5e3])
    _ra_case(ctx, r, f, f"real_logits={fmt(r)}, fake_logits={fmt(f)}", hidden=False)


def ra_hidden(ctx: Context) -> None:
    ref = ctx.ref("relativistic_average_losses")
    for nr, nf, scale in [(1, 1, 1.0), (6, 2, 3.0), (3, 7, 1e4), (5, 5, 40.0)]:
        r, f = ctx.rng.normal(size=nr) * scale + scale, ctx.rng.normal(size=nf) * scale
        what = f"{nr} real and {nf} fake logits of size ~{scale:g}"
        _ra_case(ctx, r, f, what, hidden=True, expected=ref(r, f))
        _ra_case(ctx, r, f, what + ", compared with torch", hidden=True)


# --------------------------------------------------------------------------------------
# frechet_distance

FID_HINT = (
    "d² = ‖μ1 − μ2‖² + tr C1 + tr C2 − 2 tr((C1^{1/2} C2 C1^{1/2})^{1/2}) with MATRIX "
    "square roots (e.g. from np.linalg.eigh: V diag(√λ) Vᵀ, negative round-off "
    "eigenvalues set to 0), not entrywise np.sqrt; and tr((C1^{1/2} C2 "
    "C1^{1/2})^{1/2}) "
    "is not tr(C1^{1/2} C2^{1/2}) unless C1 and C2 commute."
)


def _fid(ctx, args, what) -> float:
    got = as_scalar(ctx.call("frechet_distance", *args), f"d² ({what})")
    if math.isnan(got):
        raise CheckFailure(f"d² ({what}) is nan. {FID_HINT}")
    return got


def _fid_tol(cov1, cov2) -> float:
    return 1e-6 * (1.0 + float(np.trace(cov1)) + float(np.trace(cov2)))


def _rotation(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def fid_known(ctx: Context) -> None:
    R = _rotation(0.6)
    c1, c2 = R @ np.diag([4.0, 1.0]) @ R.T, R @ np.diag([1.0, 9.0]) @ R.T
    mu1, mu2 = np.array([1.0, 2.0]), np.array([1.0, -1.0])
    what = (
        f"mu1={fmt(mu1)}, cov1={fmt(c1, 4)}, mu2={fmt(mu2)}, cov2={fmt(c2, 4)}: the "
        f"covariances commute (same eigenvectors, eigenvalues 4, 1 and 1, 9), so "
        f"d² = 3² + (√4 − √1)² + (√1 − √9)² = 14"
    )
    compare(
        _fid(ctx, (mu1, c1, mu2, c2), what),
        14.0,
        f"d² ({what})",
        hidden=False,
        rtol=0,
        atol=_fid_tol(c1, c2),
        hint=FID_HINT,
    )


def fid_non_commuting(ctx: Context) -> None:
    c1, c2 = (
        np.array([[2.0, 0.0], [0.0, 0.5]]),
        _rotation(0.9) @ np.diag([3.0, 0.2]) @ _rotation(0.9).T,
    )
    mu = np.zeros(2)
    what = (
        f"mu1=mu2=0, cov1={fmt(c1)}, cov2={fmt(c2, 4)} (they do not commute), compared "
        f"with tr(scipy.linalg.sqrtm(C1 C2))"
    )
    compare(
        _fid(ctx, (mu, c1, mu, c2), what),
        scipy_frechet(mu, c1, mu, c2),
        f"d² ({what})",
        hidden=False,
        rtol=0,
        atol=_fid_tol(c1, c2),
        hint=FID_HINT,
    )


def fid_invariants(ctx: Context) -> None:
    A = ctx.rng.normal(size=(3, 3))
    c, mu = A @ A.T, ctx.rng.normal(size=3)
    what = f"mu={fmt(mu, 3)}, cov={fmt(c, 3)} twice"
    compare(
        _fid(ctx, (mu, c, mu, c), what),
        0.0,
        f"d² of identical Gaussians ({what})",
        hidden=False,
        rtol=0,
        atol=_fid_tol(c, c),
        hint=FID_HINT,
    )
    B = ctx.rng.normal(size=(3, 3))
    c2, mu2 = B @ B.T, ctx.rng.normal(size=3)
    what = f"two random Gaussians in 3-D, mu1={fmt(mu, 3)}, mu2={fmt(mu2, 3)}"
    d12 = _fid(ctx, (mu, c, mu2, c2), what)
    d21 = _fid(ctx, (mu2, c2, mu, c), what + ", swapped")
    compare(
        d12,
        d21,
        f"d²(1, 2) vs d²(2, 1) ({what})",
        hidden=False,
        rtol=0,
        atol=_fid_tol(c, c2),
        hint="The Wasserstein distance is symmetric. " + FID_HINT,
    )
    compare(
        d12,
        scipy_frechet(mu, c, mu2, c2),
        f"d² ({what}, compared with scipy.linalg.sqrtm)",
        hidden=False,
        rtol=0,
        atol=_fid_tol(c, c2),
        hint=FID_HINT,
    )


def _psd(rng, D, rank, scale=1.0):
    A = rng.normal(size=(D, rank)) * scale
    return A @ A.T


def fid_hidden(ctx: Context) -> None:
    ref = ctx.ref("frechet_distance")
    cases = [(1, 1, 1), (4, 4, 4), (6, 2, 6), (5, 1, 3), (8, 3, 3), (10, 10, 10)]
    for D, r1, r2 in cases:
        c1, c2 = _psd(ctx.rng, D, r1), _psd(ctx.rng, D, r2, 2.0)
        mu1, mu2 = ctx.rng.normal(size=D), ctx.rng.normal(size=D)
        what = f"D={D}, covariances of rank {r1} and {r2}" + (
            " (singular)" if min(r1, r2) < D else ""
        )
        got = _fid(ctx, (mu1, c1, mu2, c2), what)
        tol = _fid_tol(c1, c2)
        compare(
            got, ref(mu1, c1, mu2, c2), f"d² ({what})", hidden=True, rtol=0, atol=tol
        )
        if min(r1, r2) == D:
            compare(
                got,
                scipy_frechet(mu1, c1, mu2, c2),
                f"d² ({what}, compared with scipy)",
                hidden=True,
                rtol=0,
                atol=tol,
            )
    # identical, nearly singular: the exact answer is 0 and must not come out negative
    # or nan
    c = _psd(ctx.rng, 6, 2) + 1e-12 * np.eye(6)
    mu = ctx.rng.normal(size=6)
    what = "identical nearly singular Gaussians in 6-D (the answer is 0)"
    got = _fid(ctx, (mu, c, mu, c), what)
    if got < 0:
        raise CheckFailure(
            f"d² ({what}) is negative ({got:.3g}); a squared distance is ≥ 0: "
            f"clip round-off below zero."
        )
    compare(got, 0.0, f"d² ({what})", hidden=True, rtol=0, atol=_fid_tol(c, c))


# --------------------------------------------------------------------------------------
# vae_reparameterize / vae_reparameterize_backward

REPARAM_HINT = (
    "z = mu + σ·eps with σ = exp(½·logvar): logvar is the log of the VARIANCE, so "
    "the standard deviation is exp(logvar / 2), not exp(logvar). Use the eps you "
    "are given; do not draw new noise."
)
REPARAM_BACK_HINTS = {
    "dmu": "z = mu + σ·eps, so dmu = dz.",
    "dlogvar": "dσ/dlogvar = ½σ because σ = exp(½·logvar), so dlogvar = dz·eps·½σ.",
}


def _z(ctx, mu, logvar, eps, what) -> np.ndarray:
    z, _ = unpack(
        ctx.call("vae_reparameterize", mu, logvar, eps),
        2,
        f"`vae_reparameterize` ({what})",
        "(z, cache)",
    )
    z = as_float_array(z, f"z ({what})")
    check_shape(z, mu.shape, f"z ({what})", "z has the shape of mu, (N, L).")
    return z


def reparam_known(ctx: Context) -> None:
    mu = np.array([[1.0, -1.0]])
    logvar = np.array([[2 * math.log(3.0), 0.0]])
    eps = np.array([[0.5, 2.0]])
    what = (
        f"mu={fmt(mu)}, logvar=[[2·log 3, 0]] (σ = 3 and 1), eps={fmt(eps)}: "
        f"z = [[1 + 1.5, −1 + 2]]"
    )
    compare(
        _z(ctx, mu, logvar, eps, what),
        np.array([[2.5, 1.0]]),
        f"z ({what})",
        hidden=False,
        rtol=1e-12,
        hint=REPARAM_HINT,
    )


def reparam_torch(ctx: Context) -> None:
    mu, logvar, eps = (ctx.rng.normal(size=(3, 4)) for _ in range(3))
    what = "random (3, 4) inputs"
    compare(
        _z(ctx, mu, logvar, eps, what),
        torch_reparam(mu, logvar, eps, mu)[0],
        f"z ({what})",
        hidden=False,
        rtol=1e-12,
        hint=REPARAM_HINT,
    )


def reparam_hidden(ctx: Context) -> None:
    ref = ctx.ref("vae_reparameterize")
    for N, L, spread in [(1, 1, 1.0), (5, 3, 1.0), (2, 8, 10.0), (16, 2, 0.1)]:
        mu, eps = ctx.rng.normal(size=(N, L)), ctx.rng.normal(size=(N, L))
        logvar = ctx.rng.normal(size=(N, L)) * spread
        what = f"N={N}, L={L}, logvar of size ~{spread:g}"
        z = _z(ctx, mu, logvar, eps, what)
        compare(
            z,
            ref(mu, logvar, eps)[0],
            f"z ({what})",
            hidden=True,
            rtol=1e-12,
            atol=1e-14,
        )


def _reparam_backward_case(ctx, mu, logvar, eps, dz, what, hidden):
    try:
        result = ctx.call("vae_reparameterize", mu, logvar, eps)
    except NotImplementedYet:
        raise NotImplementedYet(
            "`vae_reparameterize` is not implemented yet (it raises "
            "NotImplementedError), and `vae_reparameterize_backward` is "
            "checked with the cache your `vae_reparameterize` returns: "
            "implement it first."
        ) from None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailure(
            "`vae_reparameterize_backward` is checked with the cache from your "
            "`vae_reparameterize`, which did not return (z, cache)."
        )
    what_b = f"`vae_reparameterize_backward` ({what})"
    got = unpack(
        ctx.call("vae_reparameterize_backward", dz, result[1]),
        2,
        what_b,
        "(dmu, dlogvar)",
    )
    _, e_mu, e_lv = torch_reparam(mu, logvar, eps, dz)
    for name, g, e in zip(("dmu", "dlogvar"), got, (e_mu, e_lv)):
        compare_scaled(
            g,
            e,
            f"{name} ({what})",
            hidden=hidden,
            tol=1e-10,
            hint="" if hidden else REPARAM_BACK_HINTS[name],
        )


def reparam_backward_known(ctx: Context) -> None:
    mu, logvar = np.array([[0.0, 1.0]]), np.array([[2 * math.log(2.0), 0.0]])
    eps, dz = np.array([[1.0, -1.0]]), np.array([[1.0, 3.0]])
    _reparam_backward_case(
        ctx,
        mu,
        logvar,
        eps,
        dz,
        f"mu={fmt(mu)}, logvar=[[2·log 2, 0]] (σ = 2 and 1), eps={fmt(eps)}, "
        f"dz={fmt(dz)}: dlogvar = dz·eps·½σ = [[1, −1.5]]; compared with "
        f"torch.autograd",
        hidden=False,
    )


def reparam_backward_torch(ctx: Context) -> None:
    mu, logvar, eps, dz = (ctx.rng.normal(size=(4, 3)) for _ in range(4))
    _reparam_backward_case(
        ctx,
        mu,
        logvar,
        eps,
        dz,
        "random (4, 3) inputs, compared with " "torch.autograd",
        hidden=False,
    )


def reparam_backward_hidden(ctx: Context) -> None:
    for N, L, spread in [(1, 1, 1.0), (6, 2, 1.0), (3, 7, 8.0), (12, 4, 0.2)]:
        mu, eps, dz = (ctx.rng.normal(size=(N, L)) for _ in range(3))
        logvar = ctx.rng.normal(size=(N, L)) * spread
        _reparam_backward_case(
            ctx,
            mu,
            logvar,
            eps,
            dz,
            f"N={N}, L={L}, logvar of size ~{spread:g}",
            hidden=True,
        )


# --------------------------------------------------------------------------------------
# gaussian_kl

KL_HINT = (
    "KL = ½ Σ_l (exp(logvar_l) + mu_l² − 1 − logvar_l): exp(logvar) is the VARIANCE; "
    "the factor is ½; sum over the latent axis (one value per example, shape (N,)). "
    "A KL divergence is ≥ 0."
)


def _kl(ctx, mu, logvar, what) -> np.ndarray:
    got = as_float_array(ctx.call("gaussian_kl", mu, logvar), f"KL ({what})")
    check_shape(
        got,
        mu.shape[:1],
        f"KL ({what})",
        "One KL per example: sum over the latent axis only, shape (N,).",
    )
    return got


def kl_known(ctx: Context) -> None:
    mu = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 0.0]])
    logvar = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, math.log(4.0)]])
    what = (
        f"mu={fmt(mu)}, logvar=[[0, 0], [0, 0], [0, log 4]]: the prior itself gives 0, "
        "a "
        f"mean shifted by 2 gives ½·2² = 2, a variance of 4 gives ½(4 − 1 − log 4)"
    )
    compare(
        _kl(ctx, mu, logvar, what),
        np.array([0.0, 2.0, 0.5 * (3 - math.log(4.0))]),
        f"KL ({what})",
        hidden=False,
        rtol=1e-12,
        atol=1e-15,
        hint=KL_HINT,
    )


def kl_torch(ctx: Context) -> None:
    mu, logvar = ctx.rng.normal(size=(3, 5)), ctx.rng.normal(size=(3, 5))
    what = "random (3, 5) inputs, compared with torch.distributions.kl_divergence"
    compare(
        _kl(ctx, mu, logvar, what),
        torch_kl(mu, logvar),
        f"KL ({what})",
        hidden=False,
        rtol=1e-10,
        atol=1e-14,
        hint=KL_HINT,
    )


def kl_hidden(ctx: Context) -> None:
    ref = ctx.ref("gaussian_kl")
    for N, L, spread in [(1, 1, 1.0), (7, 3, 1.0), (2, 16, 5.0), (4, 2, 0.01)]:
        mu, logvar = ctx.rng.normal(size=(N, L)), ctx.rng.normal(size=(N, L)) * spread
        what = f"N={N}, L={L}, logvar of size ~{spread:g}"
        got = _kl(ctx, mu, logvar, what)
        compare(
            got, ref(mu, logvar), f"KL ({what})", hidden=True, rtol=1e-10, atol=1e-14
        )
        compare(
            got,
            torch_kl(mu, logvar),
            f"KL ({what}, compared with torch)",
            hidden=True,
            rtol=1e-9,
            atol=1e-13,
        )


# --------------------------------------------------------------------------------------
# vae_negative_elbo

ELBO_HINTS = {
    "loss": "loss = mean over examples of [Σ_pixels (softplus(ℓ) − x·ℓ) + KL]: the "
    "reconstruction is summed over pixels (not averaged), computed from logits without "
    "log(sigmoid(·)), and the KL is ADDED (the ELBO is maximised, so its negative has "
    "+KL).",
    "dx_logits": "d/dℓ [softplus(ℓ) − x·ℓ] = σ(ℓ) − x, divided by N for the mean over "
    "examples.",
    "dmu": "Through the KL only: d/dmu ½(mu²) = mu, divided by N.",
    "dlogvar": "Through the KL only: d/dlogvar ½(exp(logvar) − 1 − logvar) = "
    "½(exp(logvar) − 1),"
    " divided by N.",
}


def _elbo_case(ctx, x, logits, mu, logvar, what, hidden, expected=None):
    got = unpack(
        ctx.call("vae_negative_elbo", x, logits, mu, logvar),
        4,
        f"`vae_negative_elbo` ({what})",
        "(loss, dx_logits, dmu, dlogvar)",
    )
    loss = as_scalar(got[0], f"loss ({what})")
    _finite(loss, f"loss ({what})", LOGSIG_HINT)
    exp = torch_elbo(x, logits, mu, logvar) if expected is None else expected
    compare(
        loss,
        exp[0],
        f"loss ({what})",
        hidden=hidden,
        rtol=1e-9,
        atol=1e-12,
        hint="" if hidden else ELBO_HINTS["loss"],
    )
    for name, g, e in zip(("dx_logits", "dmu", "dlogvar"), got[1:], exp[1:]):
        compare_scaled(
            g,
            e,
            f"{name} ({what})",
            hidden=hidden,
            tol=1e-9,
            hint="" if hidden else ELBO_HINTS[name],
        )


def elbo_known(ctx: Context) -> None:
    x, logits = np.array([[1.0, 0.0]]), np.zeros((1, 2))
    mu, logvar = np.zeros((1, 3)), np.zeros((1, 3))
    what = (
        f"x={fmt(x)}, x_logits={fmt(logits)}, mu = logvar = 0 (L = 3): the KL is 0 and "
        f"each pixel costs log 2, so loss = 2·log 2"
    )
    got = unpack(
        ctx.call("vae_negative_elbo", x, logits, mu, logvar),
        4,
        f"`vae_negative_elbo` ({what})",
        "(loss, dx_logits, dmu, dlogvar)",
    )
    compare(
        as_scalar(got[0], f"loss ({what})"),
        2 * LOG2,
        f"loss ({what})",
        hidden=False,
        rtol=1e-12,
        hint=ELBO_HINTS["loss"],
    )


def elbo_torch(ctx: Context) -> None:
    N, P, L = 3, 6, 2
    x = ctx.rng.uniform(size=(N, P))
    logits, mu, logvar = (ctx.rng.normal(size=s) * 2 for s in ((N, P), (N, L), (N, L)))
    _elbo_case(
        ctx,
        x,
        logits,
        mu,
        logvar,
        f"random N={N}, P={P}, L={L}, x in [0, 1], "
        f"compared with binary_cross_entropy_with_logits, kl_divergence and autograd",
        hidden=False,
    )


def elbo_large(ctx: Context) -> None:
    x = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.5]])
    logits = np.array([[1e4, -1e4, -1e4], [1e4, 50.0, 0.0]])
    mu, logvar = np.array([[0.5], [-1.0]]), np.array([[0.3], [-2.0]])
    _elbo_case(
        ctx,
        x,
        logits,
        mu,
        logvar,
        f"x={fmt(x)}, x_logits={fmt(logits)}, "
        f"mu={fmt(mu)}, logvar={fmt(logvar)}, compared with torch",
        hidden=False,
    )


def elbo_hidden(ctx: Context) -> None:
    ref = ctx.ref("vae_negative_elbo")
    for N, P, L, scale in [
        (1, 1, 1, 1.0),
        (5, 64, 2, 3.0),
        (8, 10, 4, 1e4),
        (2, 7, 3, 30.0),
    ]:
        x = (ctx.rng.uniform(size=(N, P)) > 0.5).astype(float)
        if N == 5:
            x = ctx.rng.uniform(size=(N, P))  # grey levels in [0, 1]
        logits = ctx.rng.normal(size=(N, P)) * scale
        mu, logvar = ctx.rng.normal(size=(N, L)), ctx.rng.normal(size=(N, L))
        what = f"N={N}, P={P}, L={L}, logits of size ~{scale:g}"
        _elbo_case(
            ctx,
            x,
            logits,
            mu,
            logvar,
            what,
            hidden=True,
            expected=ref(x, logits, mu, logvar),
        )
        _elbo_case(
            ctx, x, logits, mu, logvar, what + ", compared with torch", hidden=True
        )


# --------------------------------------------------------------------------------------

ASSIGNMENT = Assignment(
    name="08_generative",
    title="Generative models",
    imports=(
        "torch",
        "torch.nn.functional",
        "torch.distributions",
        # torch.autograd.grad imports this (and sympy) on first use: seconds, not in a check
        "torch.fx.experimental.symbolic_shapes",
        "scipy.linalg",
        "scipy.spatial.distance",
    ),
    functions=(
        GradedFunction(
            "gan_losses",
            STABLE,
            public=(
                ("D = ½: known values, both generator losses", gan_known),
                ("random logits vs binary_cross_entropy_with_logits", gan_torch),
                ("logits of ±1e4 stay exact", gan_large),
            ),
            hidden=(
                (
                    "batch sizes 1 to 9, logits up to 1e4 vs reference and torch",
                    gan_hidden,
                ),
            ),
            public_points=1,
            hidden_points=2,
        ),
        GradedFunction(
            "optimal_discriminator",
            OPTIMAL_D,
            public=(
                ("known values", opt_known),
                ("0.5 where both are 0", opt_both_zero),
                ("p_g = p_data gives ½; swapping gives 1 − D*", opt_invariants),
            ),
            hidden=(("random sizes, disjoint supports vs reference", opt_hidden),),
            public_points=1,
            hidden_points=1,
        ),
        GradedFunction(
            "js_divergence",
            OPTIMAL_D,
            public=(
                ("disjoint supports and a hand-computed case", js_known),
                ("JS(p, p) = 0, symmetry, agrees with scipy", js_invariants),
            ),
            hidden=(
                (
                    "one point, disjoint and overlapping supports vs reference and "
                    "scipy",
                    js_hidden,
                ),
            ),
            public_points=1,
            hidden_points=1,
        ),
        GradedFunction(
            "wgan_losses",
            WGAN,
            public=(
                ("known values, batches of different sizes", wgan_known),
                ("random values", wgan_torch),
            ),
            hidden=(("batch sizes 1 to 64 vs reference", wgan_hidden),),
            public_points=1,
            hidden_points=1,
        ),
        GradedFunction(
            "wgan_gp_penalty",
            GP,
            public=(
                (
                    "a case worked by hand, then torch's double backpropagation",
                    gp_linear,
                ),
                ("random case vs torch.autograd.grad(create_graph=True)", gp_torch),
                ("default lam = 10", gp_default_lam),
            ),
            hidden=(
                ("N = 1, D = 1, scaled weights vs reference and torch", gp_hidden),
            ),
            public_points=2,
            hidden_points=2,
        ),
        GradedFunction(
            "relativistic_average_losses",
            RELATIVISTIC,
            public=(
                ("a case worked by hand", ra_known),
                ("random logits vs torch", ra_torch),
                ("logits of ±1e4 stay exact", ra_large),
            ),
            hidden=(
                (
                    "batch sizes 1 to 7, logits up to 1e4 vs reference and torch",
                    ra_hidden,
                ),
            ),
            public_points=1,
            hidden_points=1,
        ),
        GradedFunction(
            "frechet_distance",
            FID,
            public=(
                ("commuting covariances: a known value", fid_known),
                ("non-commuting covariances vs scipy.linalg.sqrtm", fid_non_commuting),
                ("identical inputs give 0; symmetry", fid_invariants),
            ),
            hidden=(
                (
                    "dimensions 1 to 10, singular and nearly singular covariances",
                    fid_hidden,
                ),
            ),
            public_points=1,
            hidden_points=2,
        ),
        GradedFunction(
            "vae_reparameterize",
            REPARAM,
            public=(
                ("known values (logvar is the log-variance)", reparam_known),
                ("random inputs vs torch", reparam_torch),
            ),
            hidden=(
                (
                    "N = 1, L = 1, large and small log-variances vs reference",
                    reparam_hidden,
                ),
            ),
            public_points=1,
            hidden_points=1,
        ),
        GradedFunction(
            "vae_reparameterize_backward",
            REPARAM,
            public=(
                ("a case worked by hand", reparam_backward_known),
                ("random inputs vs torch.autograd", reparam_backward_torch),
            ),
            hidden=(
                (
                    "random sizes and log-variances vs torch.autograd",
                    reparam_backward_hidden,
                ),
            ),
            public_points=1,
            hidden_points=1,
        ),
        GradedFunction(
            "gaussian_kl",
            GAUSSIAN_KL,
            public=(
                ("known values", kl_known),
                ("random inputs vs torch.distributions.kl_divergence", kl_torch),
            ),
            hidden=(
                ("N = 1, L = 1, large log-variances vs reference and torch", kl_hidden),
            ),
            public_points=1,
            hidden_points=1,
        ),
        GradedFunction(
            "vae_negative_elbo",
            DECODERS,
            public=(
                ("known value at the prior", elbo_known),
                ("random case vs torch (loss and gradients)", elbo_torch),
                ("logits of ±1e4 stay exact", elbo_large),
            ),
            hidden=(
                (
                    "N = 1, grey levels, logits up to 1e4 vs reference and torch",
                    elbo_hidden,
                ),
            ),
            public_points=2,
            hidden_points=2,
        ),
    ),
)

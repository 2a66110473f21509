"""Checks for assignment 01_information: entropy, cross-entropy, KL, MLE and MAP.

Public checks use only inputs that appear in the message and facts that need no reference
(known values, invariants, central differences). Hidden checks compare with the reference
solution on randomised inputs and on the edge cases the contract names: zeros in p, |z| = 1e4,
K = 1, N = 1, other log bases, and broadcasting over leading axes.
"""

from __future__ import annotations

import numpy as np

from ..checks import (CheckFailure, Context, as_float_array, as_scalar, central_difference_grad,
                      check_shape, compare, fmt, relative_error, unpack)
from ..spec import Assignment, GradedFunction
from ._shared import sections

PAGE = "chapters/01_information"


_section = sections(PAGE)  # _section(title, label): a Section of this page


def random_simplex(rng: np.random.Generator, shape: tuple, zeros: float = 0.0) -> np.ndarray:
    """Probability vectors along the last axis; a fraction ``zeros`` of entries set to exactly 0."""
    p = rng.gamma(0.7, size=shape)
    if zeros:
        p = np.where(rng.random(shape) < zeros, 0.0, p)
        p[..., 0] = np.where(p.sum(-1) == 0, 1.0, p[..., 0])  # keep every row a distribution
    return p / p.sum(-1, keepdims=True)


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x·log y with 0·log y = 0 (also for y = 0); used for expected values in public checks."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


# ---------------------------------------------------------------------------------------------
# entropy


def entropy_known_values(ctx: Context) -> None:
    cases = [
        (np.full(4, 0.25), np.e, np.log(4), "uniform over 4 outcomes, in nats"),
        (np.full(8, 1 / 8), 2, 3.0, "uniform over 8 outcomes, in bits"),
        (np.array([0.5, 0.5]), 2, 1.0, "a fair coin, in bits"),
        (np.array([0.9, 0.1]), 10, -(0.9 * np.log10(0.9) + 0.1 * np.log10(0.1)),
         "a biased coin, in bans (base 10)"),
        (np.array([1.0, 0.0, 0.0]), np.e, 0.0, "a certain outcome (uses 0·log 0 = 0)"),
    ]
    for p, base, expected, label in cases:
        got = ctx.call("entropy", p, base=base)
        compare(got, expected, f"entropy(p={fmt(p)}, base={fmt(base)}) [{label}]", hidden=False)


def entropy_batch_shape(ctx: Context) -> None:
    p = random_simplex(ctx.rng, (2, 3, 4))
    got = as_float_array(ctx.call("entropy", p), "entropy(p) for p of shape (2, 3, 4)")
    check_shape(got, (2, 3), "entropy(p) for p of shape (2, 3, 4)",
                "Entropy sums over the last axis only: one value per probability vector.")
    # The batch must agree with the rows one at a time (the grader holds no entropy of its own:
    # its package ships to every student; the values themselves are checked on known cases).
    rows = [as_scalar(ctx.call("entropy", p[i, j]), f"entropy(p[{i}, {j}])")
            for i in range(2) for j in range(3)]
    compare(got, np.reshape(rows, (2, 3)), "entropy(p) for p of shape (2, 3, 4), against "
            "entropy(p[i, j]) row by row", hidden=False,
            hint="Each entry is the entropy of one row p[i, j, :].")


def entropy_bounds(ctx: Context) -> None:
    p = random_simplex(ctx.rng, (50, 6), zeros=0.3)
    got = as_float_array(ctx.call("entropy", p), "entropy(p) for 50 random 6-outcome p")
    check_shape(got, (50,), "entropy(p) for p of shape (50, 6)")
    if np.isnan(got).any():
        raise CheckFailure("entropy(p) returned NaN for probability vectors containing zeros; "
                           "use the convention 0·log 0 = 0.")
    if (got < -1e-12).any() or (got > np.log(6) + 1e-12).any():
        raise CheckFailure(f"entropy must satisfy 0 ≤ H(p) ≤ log K = {np.log(6):.6g} nats for "
                           f"K = 6, but it returned values between {got.min():.6g} and "
                           f"{got.max():.6g}.")


def entropy_hidden_random(ctx: Context) -> None:
    for shape, zeros, base in [((7, 5), 0.0, np.e), ((3, 4, 9), 0.4, 2.0), ((6,), 0.5, 10.0),
                               ((4, 1), 0.0, 2.0), ((2, 200), 0.2, np.e)]:
        p = random_simplex(ctx.rng, shape, zeros)
        compare(ctx.call("entropy", p, base=base), ctx.ref("entropy")(p, base=base),
                f"entropy(p) for p of shape {shape}", hidden=True)


# ---------------------------------------------------------------------------------------------
# cross_entropy


def cross_entropy_known_values(ctx: Context) -> None:
    p, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    compare(ctx.call("cross_entropy", p, q), -(0.5 * np.log(0.25) + 0.5 * np.log(0.75)),
            f"cross_entropy(p={fmt(p)}, q={fmt(q)})", hidden=False,
            hint="H(p, q) = −Σ p log q: the weights come from p, the logarithms from q.")
    onehot, q3 = np.array([0.0, 1.0, 0.0]), np.array([0.2, 0.5, 0.3])
    compare(ctx.call("cross_entropy", onehot, q3, base=2), -np.log2(0.5),
            f"cross_entropy(p={fmt(onehot)}, q={fmt(q3)}, base=2)", hidden=False,
            hint="For a one-hot p the cross-entropy is −log q[true class].")


def cross_entropy_infinite(ctx: Context) -> None:
    p, q = np.array([0.5, 0.5, 0.0]), np.array([1.0, 0.0, 0.0])
    compare(ctx.call("cross_entropy", p, q), np.inf, f"cross_entropy(p={fmt(p)}, q={fmt(q)})",
            hidden=False, hint="Where q(x) = 0 < p(x) the cross-entropy is +inf (do not add an "
                               "epsilon inside the log).")
    p2, q2 = np.array([1.0, 0.0]), np.array([1.0, 0.0])
    compare(ctx.call("cross_entropy", p2, q2), 0.0, f"cross_entropy(p={fmt(p2)}, q={fmt(q2)})",
            hidden=False, hint="Terms with p(x) = 0 contribute 0, even where q(x) = 0.")


def cross_entropy_gibbs(ctx: Context) -> None:
    p, q = random_simplex(ctx.rng, (4, 5)), random_simplex(ctx.rng, (4, 5))
    got = as_float_array(ctx.call("cross_entropy", p, q), "cross_entropy(p, q), shape (4, 5)")
    check_shape(got, (4,), "cross_entropy(p, q) for p, q of shape (4, 5)",
                "Sum over the last axis only.")
    rows = [as_scalar(ctx.call("cross_entropy", p[i], q[i]), f"cross_entropy(p[{i}], q[{i}])")
            for i in range(4)]
    compare(got, rows, "cross_entropy(p, q) for p, q of shape (4, 5), against "
            "cross_entropy(p[i], q[i]) row by row", hidden=False,
            hint="Each entry is the cross-entropy of one pair of rows.")
    # Gibbs' inequality: H(p, q) ≥ H(p, p) = H(p), with equality only for q = p.
    own = as_float_array(ctx.call("cross_entropy", p, p), "cross_entropy(p, p)")
    check_shape(own, (4,), "cross_entropy(p, p) for p of shape (4, 5)")
    if not np.all(got >= own - 1e-12):
        raise CheckFailure(f"cross_entropy must satisfy Gibbs' inequality H(p, q) ≥ H(p, p) "
                           f"= H(p), but for random p, q it returned {fmt(got)}, and "
                           f"{fmt(own)} for H(p, p).")


def cross_entropy_hidden_random(ctx: Context) -> None:
    for shape, zp, zq, base in [((6, 4), 0.0, 0.0, np.e), ((3, 2, 7), 0.3, 0.0, 2.0),
                                ((5, 6), 0.3, 0.3, np.e), ((8, 1), 0.0, 0.0, 10.0)]:
        p, q = random_simplex(ctx.rng, shape, zp), random_simplex(ctx.rng, shape, zq)
        compare(ctx.call("cross_entropy", p, q, base=base),
                ctx.ref("cross_entropy")(p, q, base=base),
                f"cross_entropy(p, q) for shape {shape}", hidden=True)


def cross_entropy_hidden_broadcast(ctx: Context) -> None:
    p, q = random_simplex(ctx.rng, (3, 1, 5)), random_simplex(ctx.rng, (4, 5))
    compare(ctx.call("cross_entropy", p, q), ctx.ref("cross_entropy")(p, q),
            "cross_entropy(p, q) for p of shape (3, 1, 5) and q of shape (4, 5) (broadcast)",
            hidden=True, hint="Leading axes broadcast like any NumPy operation.")


# ---------------------------------------------------------------------------------------------
# kl_divergence


def kl_self_zero_and_nonnegative(ctx: Context) -> None:
    p = random_simplex(ctx.rng, (5, 4), zeros=0.25)
    compare(ctx.call("kl_divergence", p, p), np.zeros(5), "kl_divergence(p, p) for 5 random p",
            hidden=False, hint="KL(p‖p) = 0 for every p, including p with zeros.")
    q = random_simplex(ctx.rng, (5, 4))
    got = as_float_array(ctx.call("kl_divergence", p, q), "kl_divergence(p, q)")
    check_shape(got, (5,), "kl_divergence(p, q) for p, q of shape (5, 4)")
    if (got < -1e-12).any() or np.isnan(got).any():
        raise CheckFailure(f"kl_divergence(p, q) must be ≥ 0 (Gibbs' inequality) and never NaN, "
                           f"but it returned {fmt(got)}.")


def kl_decomposition(ctx: Context) -> None:
    p, q = np.array([0.1, 0.6, 0.3]), np.array([0.3, 0.3, 0.4])
    expected = _xlogy(p, p).sum() - _xlogy(p, q).sum()  # H(p, q) - H(p)
    compare(ctx.call("kl_divergence", p, q), expected, f"kl_divergence(p={fmt(p)}, q={fmt(q)})",
            hidden=False, hint="KL(p‖q) = Σ p log(p/q) = H(p, q) − H(p).")
    compare(ctx.call("kl_divergence", q, p), _xlogy(q, q).sum() - _xlogy(q, p).sum(),
            f"kl_divergence(p={fmt(q)}, q={fmt(p)})", hidden=False,
            hint="KL is not symmetric: KL(q‖p) ≠ KL(p‖q) in general.")
    compare(ctx.call("kl_divergence", p, q, base=2), expected / np.log(2),
            f"kl_divergence(p={fmt(p)}, q={fmt(q)}, base=2)", hidden=False)


def kl_support(ctx: Context) -> None:
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.25, 0.5])
    compare(ctx.call("kl_divergence", p, q), 0.5 * np.log(2) * 2,
            f"kl_divergence(p={fmt(p)}, q={fmt(q)})", hidden=False,
            hint="p may be zero where q is not: those terms are 0 (0·log 0 = 0).")
    compare(ctx.call("kl_divergence", q, p), np.inf, f"kl_divergence(p={fmt(q)}, q={fmt(p)})",
            hidden=False, hint="Where q(x) = 0 < p(x) the divergence is +inf.")


def kl_hidden_random(ctx: Context) -> None:
    for shape, zp, zq, base in [((6, 4), 0.0, 0.0, np.e), ((2, 3, 8), 0.4, 0.0, 2.0),
                                ((7, 5), 0.3, 0.3, np.e), ((3, 1), 0.0, 0.0, np.e),
                                ((5,), 0.0, 0.0, 10.0)]:
        p, q = random_simplex(ctx.rng, shape, zp), random_simplex(ctx.rng, shape, zq)
        compare(ctx.call("kl_divergence", p, q, base=base),
                ctx.ref("kl_divergence")(p, q, base=base),
                f"kl_divergence(p, q) for shape {shape}", hidden=True,
                atol=1e-9)


def kl_hidden_broadcast(ctx: Context) -> None:
    p, q = random_simplex(ctx.rng, (2, 1, 6), zeros=0.2), random_simplex(ctx.rng, (3, 6))
    compare(ctx.call("kl_divergence", p, q), ctx.ref("kl_divergence")(p, q),
            "kl_divergence(p, q) for p of shape (2, 1, 6) and q of shape (3, 6) (broadcast)",
            hidden=True, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# log_softmax


def log_softmax_known_and_shift(ctx: Context) -> None:
    z = np.array([1.0, 2.0, 3.0])
    expected = z - np.log(np.exp(z).sum())
    compare(ctx.call("log_softmax", z), expected, f"log_softmax(z={fmt(z)})", hidden=False)
    compare(ctx.call("log_softmax", z + 100.0), expected, f"log_softmax(z={fmt(z + 100.0)})",
            hidden=False, hint="log-softmax is invariant to adding a constant to every logit.")


def log_softmax_rows(ctx: Context) -> None:
    z = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0], [2.0, 2.0, 2.0]])
    got = as_float_array(ctx.call("log_softmax", z), "log_softmax(z) for z of shape (3, 3)")
    check_shape(got, (3, 3), "log_softmax(z)")
    expected = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    compare(got, expected, f"log_softmax(z) for z = {fmt(z)}", hidden=False,
            hint="Normalise each row (the last axis) separately — not the whole batch, and "
                 "keep the reduced axis (keepdims=True) so it broadcasts along rows.")


def log_softmax_stable(ctx: Context) -> None:
    z = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]])
    expected = np.array([[0.0, -1e4, -2e4], [-np.log(3)] * 3])
    compare(ctx.call("log_softmax", z), expected, f"log_softmax(z) for z = {fmt(z)}",
            hidden=False, hint="exp(1e4) overflows: subtract the row maximum before "
                               "exponentiating (the log-sum-exp trick).")


def log_softmax_hidden(ctx: Context) -> None:
    cases = [ctx.rng.normal(size=(6, 5)), ctx.rng.normal(size=(2, 3, 7)) * 30,
             ctx.rng.normal(size=(4, 1)), ctx.rng.normal(size=(5, 5)) * 1e4,
             ctx.rng.normal(size=(9,)) * 5, ctx.rng.normal(size=(1, 8)) - 1e4]
    for z in cases:
        compare(ctx.call("log_softmax", z), ctx.ref("log_softmax")(z),
                f"log_softmax(z) for z of shape {z.shape}", hidden=True, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# softmax_cross_entropy


def _sce(ctx: Context, logits: np.ndarray, y: np.ndarray, what: str) -> tuple:
    loss, dlogits = unpack(ctx.call("softmax_cross_entropy", logits, y), 2, what,
                           "(loss, dlogits)")
    loss = as_scalar(loss, f"the loss from {what}")
    dlogits = as_float_array(dlogits, f"dlogits from {what}")
    check_shape(dlogits, logits.shape, f"dlogits from {what}",
                "The gradient has the shape of the logits, (N, K).")
    return loss, dlogits


def sce_known_value(ctx: Context) -> None:
    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.0]])
    y = np.array([0, 1])
    loss, dlogits = _sce(ctx, logits, y, f"softmax_cross_entropy(logits={fmt(logits)}, y={y})")
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    compare(loss, -logp[[0, 1], y].mean(), "the loss", hidden=False,
            hint="The loss is the MEAN over the batch of −log softmax(z_n)[y_n].")
    compare(dlogits.sum(axis=1), np.zeros(2), "each row sum of dlogits", hidden=False,
            atol=1e-10, hint="softmax sums to 1 and one-hot sums to 1, so each row of the "
                             "gradient sums to 0.")


def sce_gradient_check(ctx: Context) -> None:
    logits = ctx.rng.normal(size=(4, 5))
    y = np.array([0, 3, 3, 1])
    what = f"softmax_cross_entropy(logits of shape {logits.shape}, y={y})"
    _, dlogits = _sce(ctx, logits, y, what)

    def loss_only(z):
        return as_scalar(unpack(ctx.call("softmax_cross_entropy", z, y), 2, what,
                                "(loss, dlogits)")[0], "the loss")

    numeric = central_difference_grad(loss_only, logits)
    err = relative_error(dlogits, numeric)
    if not err < 1e-6:
        raise CheckFailure(f"dlogits does not match central differences of your own loss: "
                           f"relative error {err:.3g} (should be < 1e-6). Check the 1/N factor "
                           f"and that you subtract 1 only at each row's true class.\n"
                           f"  numerical: {fmt(numeric, 4)}\n  yours:     {fmt(dlogits, 4)}")


def sce_stable(ctx: Context) -> None:
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]])
    y = np.array([1, 1])
    loss, dlogits = _sce(ctx, logits, y, f"softmax_cross_entropy(logits={fmt(logits)}, y={y})")
    compare(loss, 5e3, "the loss for logits of size 1e4", hidden=False,
            hint="Use a stable log-softmax: no exp of large numbers.")
    compare(dlogits, np.array([[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]]),
            "dlogits for logits of size 1e4", hidden=False, atol=1e-12)


def sce_hidden(ctx: Context) -> None:
    ref = ctx.ref("softmax_cross_entropy")
    for n, k, scale in [(8, 5, 1.0), (1, 4, 3.0), (6, 1, 1.0), (5, 10, 1e4), (20, 3, 10.0)]:
        logits = ctx.rng.normal(size=(n, k)) * scale
        y = ctx.rng.integers(0, k, size=n)
        what = f"softmax_cross_entropy for N={n}, K={k}"
        loss, dlogits = _sce(ctx, logits, y, what)
        ref_loss, ref_grad = ref(logits, y)
        compare(loss, ref_loss, f"the loss of {what}", hidden=True, atol=1e-9)
        compare(dlogits, ref_grad, f"dlogits of {what}", hidden=True, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# gaussian_mle


def _mle(ctx: Context, x: np.ndarray, what: str) -> tuple:
    mu, var = unpack(ctx.call("gaussian_mle", x), 2, what, "(mu, var)")
    return as_scalar(mu, f"mu from {what}"), as_scalar(var, f"var from {what}")


def mle_known_value(ctx: Context) -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    mu, var = _mle(ctx, x, f"gaussian_mle(x={fmt(x)})")
    compare(mu, 2.5, f"mu for x = {fmt(x)}", hidden=False)
    compare(var, 1.25, f"var for x = {fmt(x)}", hidden=False,
            hint="The maximum-likelihood variance divides by N (not N − 1), and it is the "
                 "variance, not the standard deviation.")
    mu1, var1 = _mle(ctx, np.array([3.0]), "gaussian_mle(x=[3.0])")
    compare(np.array([mu1, var1]), (3.0, 0.0), "(mu, var) for the single observation x = [3.0]",
            hidden=False)


def mle_maximises_likelihood(ctx: Context) -> None:
    x = ctx.rng.normal(1.5, 2.0, size=30)
    mu, var = _mle(ctx, x, "gaussian_mle(x) for 30 samples")
    if not var > 0:
        raise CheckFailure(f"var must be positive for 30 distinct samples, got {var:.6g}.")

    def loglik(m, v):
        return float(-0.5 * np.sum(np.log(2 * np.pi * v) + (x - m) ** 2 / v))

    best = loglik(mu, var)
    for dm, dv in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)]:
        if loglik(mu + dm, var * (1 + dv)) > best + 1e-12:
            raise CheckFailure(f"(mu, var) = ({mu:.6g}, {var:.6g}) does not maximise the "
                               f"Gaussian log-likelihood of the data: moving "
                               f"{'mu' if dm else 'var'} slightly increases it.")


def mle_far_from_zero(ctx: Context) -> None:
    # Data around 1e8 (the hidden checks go to 1e7): E[x²] − E[x]² loses every digit of the
    # variance there. 1e8 + [1, 2, 3, 4] is exact in float64; its variance is 1.25.
    x = 1e8 + np.array([1.0, 2.0, 3.0, 4.0])
    mu, var = _mle(ctx, x, f"gaussian_mle(x=1e8 + {fmt(x - 1e8)})")
    compare(mu, 1e8 + 2.5, "mu for x = 1e8 + [1, 2, 3, 4]", hidden=False, rtol=1e-12)
    compare(var, 1.25, "var for x = 1e8 + [1, 2, 3, 4]", hidden=False, rtol=1e-6,
            hint="For data far from zero, E[x²] − E[x]² cancels catastrophically: average "
                 "the squared deviations from the mean instead.")


def mle_hidden(ctx: Context) -> None:
    ref = ctx.ref("gaussian_mle")
    for n, loc, scale in [(50, 0.0, 1.0), (1, 4.0, 1.0), (7, -3.0, 0.01), (1000, 2.0, 5.0),
                          (200, 1e6, 1.0), (100, -1e7, 3.0)]:
        x = ctx.rng.normal(loc, scale, size=n)
        mu, var = _mle(ctx, x, f"gaussian_mle for N={n}")
        r_mu, r_var = ref(x)
        compare(mu, r_mu, f"mu for N={n}", hidden=True, rtol=1e-9)
        compare(var, r_var, f"var for N={n}", hidden=True, rtol=1e-6, atol=1e-12,
                hint="For data far from zero, E[x²] − E[x]² cancels catastrophically: "
                     "average the squared deviations from the mean instead.")


# ---------------------------------------------------------------------------------------------
# ridge_map


def _ridge(ctx: Context, X, y, s2, t2, what: str) -> np.ndarray:
    w = as_float_array(ctx.call("ridge_map", X, y, s2, t2), what)
    check_shape(w, (X.shape[1],), what, "One weight per column of X: shape (D,).")
    return w


def ridge_stationary(ctx: Context) -> None:
    X = ctx.rng.normal(size=(12, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + ctx.rng.normal(size=12)
    for s2, t2 in [(1.0, 1.0), (0.5, 2.0), (4.0, 0.25)]:
        what = f"ridge_map(X, y, noise_var={s2}, prior_var={t2}) for X of shape (12, 3)"
        w = _ridge(ctx, X, y, s2, t2, what)
        grad = X.T @ (X @ w - y) / s2 + w / t2  # gradient of the negative log-posterior
        if not np.abs(grad).max() < 1e-8 * max(1.0, np.abs(X.T @ y).max() / s2):
            raise CheckFailure(f"{what} is not the MAP estimate: the gradient of the negative "
                               f"log-posterior ‖y − Xw‖²/(2σ²) + ‖w‖²/(2τ²) at your w is "
                               f"{fmt(grad)}, not zero. Remember λ = σ²/τ² = noise_var/prior_var.")


def ridge_limits(ctx: Context) -> None:
    X = ctx.rng.normal(size=(10, 2))
    y = ctx.rng.normal(size=10)
    ls = np.linalg.lstsq(X, y, rcond=None)[0]
    w = _ridge(ctx, X, y, 1.0, 1e6, "ridge_map(X, y, noise_var=1, prior_var=1e6)")
    compare(w, ls, "ridge_map with an almost flat prior (prior_var=1e6)", hidden=False,
            rtol=1e-5, atol=1e-8, hint="With a very wide prior, MAP becomes least squares.")
    w0 = _ridge(ctx, X, y, 1.0, 1e-12, "ridge_map(X, y, noise_var=1, prior_var=1e-12)")
    compare(w0, np.zeros(2), "ridge_map with a very narrow prior (prior_var=1e-12)",
            hidden=False, atol=1e-9, hint="A prior concentrated at 0 pulls w to 0.")


def ridge_hidden(ctx: Context) -> None:
    ref = ctx.ref("ridge_map")
    for n, d, s2, t2 in [(30, 4, 1.0, 1.0), (5, 8, 0.3, 2.0), (1, 3, 2.0, 0.5), (50, 1, 0.1, 10.0),
                         (40, 6, 9.0, 0.01)]:
        X = ctx.rng.normal(size=(n, d))
        y = X @ ctx.rng.normal(size=d) + np.sqrt(s2) * ctx.rng.normal(size=n)
        w = _ridge(ctx, X, y, s2, t2, f"ridge_map for X of shape ({n}, {d})")
        compare(w, ref(X, y, s2, t2), f"ridge_map for X of shape ({n}, {d})", hidden=True,
                rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# beta_bernoulli_map


def bb_known_values(ctx: Context) -> None:
    x = np.array([1, 1, 0, 1])
    compare(as_scalar(ctx.call("beta_bernoulli_map", x, 2.0, 2.0), "beta_bernoulli_map"), 4 / 6,
            f"beta_bernoulli_map(x={x}, a=2, b=2)", hidden=False,
            hint="The MAP is the MODE of the Beta(a + k, b + N − k) posterior: "
                 "(k + a − 1)/(N + a + b − 2); it is not the posterior mean.")
    z = np.zeros(5, dtype=int)
    compare(as_scalar(ctx.call("beta_bernoulli_map", z, 3.0, 1.5), "beta_bernoulli_map"),
            2 / 7.5, f"beta_bernoulli_map(x={z}, a=3, b=1.5)", hidden=False,
            hint="a counts prior successes and goes with k; b goes with the failures.")


def bb_stationary(ctx: Context) -> None:
    x = (ctx.rng.random(25) < 0.3).astype(int)
    k, n = int(x.sum()), x.size
    for a, b in [(2.0, 5.0), (10.0, 1.5)]:
        theta = as_scalar(ctx.call("beta_bernoulli_map", x, a, b),
                          f"beta_bernoulli_map(x, a={a}, b={b})")
        if not 0 < theta < 1:
            raise CheckFailure(f"beta_bernoulli_map must return a probability in (0, 1) for "
                               f"a, b > 1, got {theta:.6g}.")
        slope = (k + a - 1) / theta - (n - k + b - 1) / (1 - theta)
        if abs(slope) > 1e-6 * (n + a + b):
            raise CheckFailure(f"for {k} ones in {n} trials with a={a}, b={b}, your θ = "
                               f"{theta:.6g} is not where the log-posterior is maximal (its "
                               f"derivative there is {slope:.4g}, not 0).")


def bb_hidden(ctx: Context) -> None:
    ref = ctx.ref("beta_bernoulli_map")
    for n, p, a, b in [(40, 0.3, 2.0, 2.0), (1, 1.0, 1.5, 3.0), (1, 0.0, 4.0, 4.0),
                       (100, 0.8, 1.01, 50.0), (12, 0.5, 7.5, 1.2)]:
        x = (ctx.rng.random(n) < p).astype(int)
        got = as_scalar(ctx.call("beta_bernoulli_map", x, a, b),
                        f"beta_bernoulli_map for N={n}")
        compare(got, ref(x, a, b), f"beta_bernoulli_map for N={n}", hidden=True, rtol=1e-6)


# ---------------------------------------------------------------------------------------------


ASSIGNMENT = Assignment(
    name="01_information",
    title="Entropy, cross-entropy, KL divergence, MLE and MAP",
    functions=(
        GradedFunction(
            "entropy", _section("Entropy", "sec-entropy"),
            public=(("known values", entropy_known_values),
                    ("shape over leading axes", entropy_batch_shape),
                    ("0 ≤ H ≤ log K", entropy_bounds)),
            hidden=(("random inputs vs reference", entropy_hidden_random),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "cross_entropy", _section("Cross-entropy", "sec-cross-entropy"),
            public=(("known values", cross_entropy_known_values),
                    ("+inf where q = 0 < p", cross_entropy_infinite),
                    ("batch of distributions", cross_entropy_gibbs)),
            hidden=(("random inputs vs reference", cross_entropy_hidden_random),
                    ("broadcasting", cross_entropy_hidden_broadcast)),
            public_points=1, hidden_points=1),
        GradedFunction(
            "kl_divergence", _section("Kullback–Leibler divergence", "sec-kl"),
            public=(("KL(p‖p) = 0 and KL ≥ 0", kl_self_zero_and_nonnegative),
                    ("KL = H(p, q) − H(p)", kl_decomposition),
                    ("zeros in p and q", kl_support)),
            hidden=(("random inputs vs reference", kl_hidden_random),
                    ("broadcasting", kl_hidden_broadcast)),
            public_points=1, hidden_points=1),
        GradedFunction(
            "log_softmax", _section("Softmax and log-softmax", "sec-softmax"),
            public=(("known values and shift invariance", log_softmax_known_and_shift),
                    ("one distribution per row", log_softmax_rows),
                    ("stable for |z| = 1e4", log_softmax_stable)),
            hidden=(("random and extreme logits vs reference", log_softmax_hidden),),
            public_points=1, hidden_points=2),
        GradedFunction(
            "softmax_cross_entropy",
            _section("The gradient of softmax cross-entropy", "sec-softmax-ce-grad"),
            public=(("known loss, gradient rows sum to 0", sce_known_value),
                    ("gradient vs central differences", sce_gradient_check),
                    ("stable for |z| = 1e4", sce_stable)),
            hidden=(("random logits vs reference", sce_hidden),),
            public_points=2, hidden_points=2),
        GradedFunction(
            "gaussian_mle", _section("Maximum likelihood", "sec-mle"),
            public=(("known values", mle_known_value),
                    ("data far from zero", mle_far_from_zero),
                    ("maximises the likelihood", mle_maximises_likelihood)),
            hidden=(("random samples vs reference", mle_hidden),),
            public_points=1, hidden_points=1),
        GradedFunction(
            "ridge_map", _section("Ridge regression and LASSO are MAP estimates", "sec-ridge"),
            public=(("gradient of the log-posterior is 0", ridge_stationary),
                    ("flat and narrow priors", ridge_limits)),
            hidden=(("random problems vs reference", ridge_hidden),),
            public_points=1, hidden_points=2),
        GradedFunction(
            "beta_bernoulli_map", _section("The Beta–Bernoulli model", "sec-beta-bernoulli"),
            public=(("known values", bb_known_values),
                    ("maximises the posterior", bb_stationary)),
            hidden=(("random data vs reference", bb_hidden),),
            public_points=1, hidden_points=1),
    ),
)

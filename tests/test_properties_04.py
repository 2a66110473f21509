"""Properties of the chapter 04 reference solutions on inputs drawn by hypothesis: the output-size
formula is the length torch's conv2d produces; convolution forward and backward agree with
torch (autograd in float64), so im2col and col2im are adjoint (⟨im2col(x), g⟩ = ⟨x, col2im(g)⟩,
here as ⟨conv(x), g⟩ = ⟨x, dx(g)⟩ with a linear conv); max pooling and its gradient agree with
torch, ties included; batch norm's backward is the gradient of its forward; folding a batch norm
into a convolution equals conv followed by eval-mode BN; the receptive field equals the extent
of the input region autograd finds; inverted dropout preserves the mean; the residual block
agrees with torch. The literal values pasted into the public checks
(autograder/assignments/cnn.py) are verified against torch, and the grader module holds no
re-implementation of a graded function (issue 19, item 8)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as TF
from hypothesis import assume, given
from hypothesis import strategies as st

from autograder.assignments import cnn as checks
from autograder.checks import central_difference_grad, relative_error
from tests.conftest import reference

REF = reference("04_cnn")

seeds = st.integers(0, 2**32 - 1)


def _t(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


@given(st.integers(1, 40), st.integers(1, 7), st.integers(1, 5), st.integers(0, 4),
       st.integers(1, 4))
def test_output_size_matches_torch(n, k, s, p, d):
    assume(n + 2 * p - d * (k - 1) - 1 >= 0)
    x, w = torch.zeros(1, 1, n, 1, dtype=torch.float64), torch.zeros(1, 1, k, 1,
                                                                    dtype=torch.float64)
    length = TF.conv2d(x, w, stride=(s, 1), padding=(p, 0), dilation=(d, 1)).shape[2]
    assert REF["conv_output_size"](n, k, s, p, d) == length


conv_shapes = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 9),
                        st.integers(1, 9), st.integers(1, 4), st.integers(1, 4),
                        st.integers(1, 4), st.integers(1, 3), st.integers(0, 3))


@given(conv_shapes, seeds)
def test_conv_forward_and_backward_match_torch(shape, seed):
    n, c, h, w_, f, kh, kw, s, p = shape
    assume(h + 2 * p >= kh and w_ + 2 * p >= kw)
    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=(n, c, h, w_)), rng.normal(size=(f, c, kh, kw)), rng.normal(size=f)
    out, cache = REF["conv2d_forward"](x, w, b, s, p)
    xt, wt, bt = _t(x, True), _t(w, True), _t(b, True)
    ot = TF.conv2d(xt, wt, bt, stride=s, padding=p)
    assert out.shape == tuple(ot.shape)
    assert np.allclose(out, ot.detach().numpy(), rtol=1e-12, atol=1e-12)
    dout = rng.normal(size=out.shape)
    ot.backward(_t(dout))
    for mine, theirs in zip(REF["conv2d_backward"](dout, cache), (xt, wt, bt)):
        assert np.allclose(mine, theirs.grad.numpy(), rtol=1e-11, atol=1e-11)


@given(conv_shapes, seeds)
def test_im2col_col2im_adjoint(shape, seed):
    """With b = 0 the conv is linear in x, and its backward in x is its adjoint (col2im)."""
    n, c, h, w_, f, kh, kw, s, p = shape
    assume(h + 2 * p >= kh and w_ + 2 * p >= kw)
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=(n, c, h, w_)), rng.normal(size=(f, c, kh, kw))
    out, cache = REF["conv2d_forward"](x, w, np.zeros(f), s, p)
    g = rng.normal(size=out.shape)
    dx = REF["conv2d_backward"](g, cache)[0]
    assert np.isclose(np.sum(out * g), np.sum(x * dx), rtol=1e-11, atol=1e-11)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(2, 9), st.integers(2, 9),
       st.integers(1, 4), st.integers(1, 4), st.booleans(), seeds)
def test_maxpool_matches_torch_with_ties(n, c, h, w_, k, s, ties, seed):
    assume(k <= h and k <= w_)
    rng = np.random.default_rng(seed)
    x = rng.integers(-1, 2, size=(n, c, h, w_)).astype(float) if ties else \
        rng.normal(size=(n, c, h, w_))
    out, cache = REF["maxpool2d_forward"](x, k, s)
    xt = _t(x, True)
    ot = TF.max_pool2d(xt, k, s)
    assert np.array_equal(out, ot.detach().numpy())
    dout = rng.normal(size=out.shape)
    ot.backward(_t(dout))
    dx = REF["maxpool2d_backward"](dout, cache)
    assert np.allclose(dx, xt.grad.numpy(), rtol=1e-13, atol=1e-13)


@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.sampled_from([1e-5, 1e-3, 0.1]), st.booleans(), seeds)
def test_batchnorm_matches_torch_and_central_differences(n, c, h, w_, eps, flat, seed):
    assume(n * h * w_ > 1)
    rng = np.random.default_rng(seed)
    x, gamma, beta = checks._bn_case(rng, (n, c, h, w_), flat)
    out, cache = REF["batchnorm_forward"](x, gamma, beta, eps)
    xt, gt, bt = _t(x, True), _t(gamma, True), _t(beta, True)
    ot = TF.batch_norm(xt, None, None, gt, bt, training=True, eps=eps)
    assert np.allclose(out, ot.detach().numpy(), rtol=1e-10, atol=1e-10)
    dout = rng.normal(size=x.shape)
    ot.backward(_t(dout))
    grads = REF["batchnorm_backward"](dout, cache)
    for mine, theirs in zip(grads, (xt, gt, bt)):
        assert np.allclose(mine, theirs.grad.numpy(), rtol=1e-8, atol=1e-9)
    numeric = central_difference_grad(
        lambda v: float(np.sum(dout * REF["batchnorm_forward"](v, gamma, beta, eps)[0])), x)
    assert relative_error(grads[0], numeric) < 1e-5
    # dx sums to zero per channel and is orthogonal to x̂: the two 1/N terms at work
    assert np.allclose(grads[0].sum(axis=(0, 2, 3)), 0, atol=1e-9)


@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3),
       st.sampled_from([1e-5, 1e-3, 0.1]), st.booleans(), seeds)
def test_fusion_equals_conv_then_eval_bn(f, c, k, eps, tiny, seed):
    rng = np.random.default_rng(seed)
    w, b, gamma, beta, mean, var = checks._fuse_case(rng, f, c, k, tiny)
    wf, bf = REF["fuse_conv_bn"](w, b, gamma, beta, mean, var, eps)
    x = _t(rng.normal(size=(2, c, 5, 6)))
    expected = TF.batch_norm(TF.conv2d(x, _t(w), _t(b)), _t(mean), _t(var), _t(gamma), _t(beta),
                             training=False, eps=eps)
    got = TF.conv2d(x, _t(wf), _t(bf))
    assert torch.allclose(got, expected, rtol=1e-10, atol=1e-10)


@given(st.lists(st.tuples(st.integers(1, 6), st.integers(1, 3), st.integers(1, 3)),
                max_size=5))
def test_receptive_field_is_the_region_autograd_finds(layers):
    assert REF["receptive_field"](layers) == checks._rf_by_autograd(layers)


@given(st.sampled_from([0.1, 0.5, 0.8]), seeds)
def test_dropout_preserves_the_mean_and_backward_uses_the_mask(p, seed):
    rng = np.random.default_rng(seed)
    x = np.full((200, 200), 2.0)
    out, cache = REF["dropout_forward"](x, p, rng)
    assert abs(out.mean() - 2.0) < 6 * 2.0 * np.sqrt(p / (1 - p) / x.size)
    assert set(np.unique(out)) <= {0.0, 2.0 / (1 - p)}
    dout = rng.normal(size=x.shape)
    assert np.array_equal(REF["dropout_backward"](dout, cache), dout * out / x)
    assert np.array_equal(REF["dropout_forward"](x, p, rng, train=False)[0], x)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6),
       st.sampled_from([1, 3, 5]), st.sampled_from([1, 3, 5]), seeds)
def test_residual_block_matches_torch(n, c, h, w_, k1, k2, seed):
    rng = np.random.default_rng(seed)
    args = checks._res_case(rng, n, c, h, w_, k1, k2)
    out, cache = REF["residual_block_forward"](*args)
    leaves = [_t(a, True) for a in args]
    ot = checks._res_t(*leaves)
    assert np.allclose(out, ot.detach().numpy(), rtol=1e-12, atol=1e-12)
    dout = rng.normal(size=out.shape)
    ot.backward(_t(dout))
    for mine, leaf in zip(REF["residual_block_backward"](dout, cache), leaves):
        assert np.allclose(mine, leaf.grad.numpy(), rtol=1e-10, atol=1e-11)


def test_pasted_literals_agree_with_torch():
    for n, k, s, p, d, expected in checks.SIZE_KNOWN + checks.SIZE_DILATED:
        assert checks._out_len(n, k, s, p, d) == expected
    for layers, expected in checks.RF_KNOWN + checks.RF_DILATED:
        assert checks._rf_by_autograd(layers) == expected


def test_grader_holds_no_reference_implementation():
    for name in ("conv_oracle", "pool_oracle", "pool_grad_oracle", "_rf_expected",
                 "_size_expected", "bn_oracle"):
        assert not hasattr(checks, name), name


def test_hidden_messages_reveal_no_reference_value():
    """Returning zeros must not print |reference| (issue 19, item 8): errors are relative."""
    import pytest

    from autograder.assignments._shared import agree
    from autograder.checks import CheckFailure
    expected = np.array([[3.25, -17.5], [0.125, 42.0]])
    for got in (np.zeros_like(expected), 2 * expected):
        with pytest.raises(CheckFailure) as err:
            agree(got, expected, "out", hidden=True)
        message = str(err.value)
        assert "hidden test case" in message and "times the largest" in message
        for value in expected.ravel():
            assert f"{abs(value):.3g}" not in message

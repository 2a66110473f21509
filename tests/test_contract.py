"""Public ⊆ hidden, per requirement (issue 20): every rule of the contract that a hidden check
enforces, a public check enforces too, with inputs the student may see. A student whose public
checks all pass must not lose hidden points for breaking a rule the public checks could have
shown: a return type, a dtype, a shape, an input changed in place, numerical stability.

Two kinds of evidence, both in-process (fast):

* generic breaches, made from the reference of every graded function: its arrays returned as
  nested lists, as torch tensors, as float32, with an extra axis, or an input modified in
  place. Each must fail the public tier and the hidden tier, with the same message for every
  function;
* the variants tagged with the requirement they break (``breaks=`` in tests/variants/), e.g.
  attention without the max shift: each must fail both tiers of its function.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

from autograder.checks import CheckFailure, Context
from autograder.evaluate import seed_for
from autograder.spec import HIDDEN, PUBLIC
from tests.conftest import ASSIGNMENTS, reference, spec
from tests.variants import variants


def first_failure(assignment: str, gf, tier: str, namespace: dict, ref: dict) -> str | None:
    """The message of the first check of ``tier`` that fails, or None if all pass. The public
    tier gets no reference, as in `autograder check`. A check that breaks with anything but a
    CheckFailure (a TypeError from the check's own code) is an error of this test: the student
    would read a traceback's one-liner instead of a message."""
    for index, (_, check) in enumerate(gf.checks(tier)):
        ctx = Context(student=namespace, reference=ref if tier == HIDDEN else None,
                      hidden=(tier == HIDDEN),
                      rng=np.random.default_rng(seed_for(assignment, gf.name, tier, index)))
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                check(ctx)
        except CheckFailure as exc:
            return str(exc)
    return None


# ---------------------------------------------------------------------------------------------
# Generic breaches of the contract, made from the reference


def _arrays_mapped(x, fn, seen: list):
    """``x`` with every NumPy array inside tuples, lists and dicts replaced by ``fn(array)``
    (or kept, when ``fn`` returns it unchanged); ``seen`` notes each replacement."""
    if isinstance(x, np.ndarray):
        y = fn(x)
        if y is not x:
            seen.append(True)
        return y
    if isinstance(x, (tuple, list)):
        return type(x)(_arrays_mapped(v, fn, seen) for v in x)
    if isinstance(x, dict):
        return {k: _arrays_mapped(v, fn, seen) for k, v in x.items()}
    return x


def _as_list(a):
    return a.tolist() if a.ndim >= 1 else a


def _as_tensor(a):
    import torch

    return torch.from_numpy(a.copy())


def _as_float32(a):
    return a.astype(np.float32) if a.dtype == np.float64 else a


def _extra_axis(a):
    return a[..., None] if a.dtype == np.float64 and a.ndim >= 1 else a


# name: (what the returned arrays become, a phrase every failure message must contain)
RETURNED = {
    "return type: nested lists": (_as_list, "should be a NumPy array, but it is a list"),
    "return type: torch tensors": (_as_tensor, "should be a NumPy array, but it is a torch"),
    "dtype: float32": (_as_float32, "is float32"),
    "shape: an extra axis": (_extra_axis, "should have shape"),
}
MUTATION = ("no input mutation: the first float array argument", "modified its input in place")


def _returning(fn, convert, applied: list):
    @functools.wraps(fn)
    def breach(*args, **kwargs):
        return _arrays_mapped(fn(*args, **kwargs), convert, applied)
    return breach


def _mutating(fn, applied: list):
    @functools.wraps(fn)
    def breach(*args, **kwargs):
        out = fn(*args, **kwargs)
        for a in args:
            if isinstance(a, np.ndarray) and a.dtype == np.float64 and a.size:
                a += 1.0  # after computing: the answer is right, only the input changed
                applied.append(True)
                break
        return out
    return breach


def _graded_functions(name: str) -> list:
    """Every graded function of the assignment (not the classes: `Value` returns itself)."""
    ref = reference(name)
    return [gf for gf in spec(name).functions if not isinstance(ref.get(gf.name), type)]


@pytest.mark.parametrize("breach", [*RETURNED, MUTATION[0]])
def test_a_generic_breach_fails_public_and_hidden(assignment_name, breach):
    """Every graded function whose results (or inputs) the breach touches fails both tiers,
    with the one message of that requirement."""
    ref = reference(assignment_name)
    problems, touched = [], []
    for gf in _graded_functions(assignment_name):
        for tier in (PUBLIC, HIDDEN):
            applied: list = []
            if breach == MUTATION[0]:
                fn, phrase = _mutating(ref[gf.name], applied), MUTATION[1]
            else:
                convert, phrase = RETURNED[breach]
                fn = _returning(ref[gf.name], convert, applied)
            ns = dict(ref)
            ns[gf.name] = fn
            message = first_failure(assignment_name, gf, tier, ns, ref)
            if not applied:
                continue  # nothing of this kind to break (e.g. a function returning an int)
            touched.append(gf.name)
            if message is None:
                problems.append(f"{gf.name}: the {tier} checks pass")
            elif phrase not in message:
                problems.append(f"{gf.name} ({tier}): {message[:300]}")
    assert touched, f"{breach} applies to no function of {assignment_name}"
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# Variants tagged with the requirement they break


def _tagged():
    return [pytest.param(name, v, id=f"{name}/{v.id}") for name in ASSIGNMENTS
            for v in variants(name, correct=False) if v.breaks]


@pytest.mark.parametrize("name, variant", _tagged())
def test_a_variant_breaking_a_requirement_fails_public_and_hidden(name, variant):
    ref = reference(name)
    gf = spec(name).function(variant.target)
    ns = variant.install(ref)
    for tier in (PUBLIC, HIDDEN):
        assert first_failure(name, gf, tier, ns, ref) is not None, \
            f"{variant.id} ({variant.breaks}) passes the {tier} checks"


def test_the_variants_the_issue_names_are_tagged():
    """SDPA without the max shift, a causal mask as a list, a layer norm returning a torch
    tensor, a tanh backward returning a list (issue 20)."""
    tagged = {(v.target, v.breaks) for name in ASSIGNMENTS
              for v in variants(name, correct=False) if v.breaks}
    needed = {("scaled_dot_product_attention", "numerical stability"),
              ("causal_mask", "return type"), ("layer_norm_forward", "return type"),
              ("tanh_backward", "return type")}
    assert needed <= tagged, needed - tagged


def test_a_list_is_told_the_same_for_one_and_many_entries():
    """tanh_backward's dx as a list: the same message whether the list holds one entry (N = 1,
    once told "return `dx`, not `(dx,)`") or many."""
    from autograder.checks import single_gradient

    messages = []
    for dx in (np.array([[0.5]]), np.array([[0.5, 1.0], [2.0, 3.0]])):
        with pytest.raises(CheckFailure) as info:
            single_gradient(dx.tolist(), "dx from tanh_backward")
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert "should be a NumPy array, but it is a list" in messages[0]
    with pytest.raises(CheckFailure, match=r"not `\(dx,\)`"):
        single_gradient((np.ones(3),), "dx from tanh_backward")


@pytest.mark.parametrize("target, description, section", [
    ("causal_mask", "upper triangle (True = masked, the nn.MultiheadAttention convention)",
     "Masks"),
    ("causal_mask", "a 0/1 float array", "Masks"),
    ("layer_norm_forward", "unbiased variance (ddof=1)", "Layer normalisation"),
])
def test_hints_teach_rather_than_give_the_line(target, description, section):
    """Issue 20: two hints spelt out the reference line (np.tril(...), x.mean(-1, ...)). A hint
    names the idea and the book section; the code is the student's to write."""
    name = "06_attention"
    ref = reference(name)
    (variant,) = [v for v in variants(name, correct=False)
                  if v.target == target and v.description == description]
    message = first_failure(name, spec(name).function(target), PUBLIC, variant.install(ref),
                            ref)
    assert message is not None
    for code in ("np.", "tril", "triu", "keepdims", ".mean(", ".var(", "sqrt("):
        assert code not in message, (code, message)
    assert f"\u201c{section}\u201d" in message, message

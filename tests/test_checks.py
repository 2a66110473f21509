"""The checks themselves: reference → full marks, stub → zero, wrong variants caught on their
function only, correct alternatives accepted. Runs in-process (fast); the notebook and process
layers are tested in test_grading.py.

A variant replaces one graded function (and maybe companions), so only the functions whose
checks look that name up can change score. ``affected`` derives that set from a recorded run
of the reference, and each variant is graded on it alone;
``test_grading_only_the_affected_functions_gives_the_same_verdicts`` proves that no function
outside that set can see what the variant replaced.
"""

from __future__ import annotations

import functools

import pytest

from autograder.checks import CheckFailure, Context
from autograder.evaluate import grade_function
from autograder.spec import HIDDEN, PUBLIC
from tests.conftest import ASSIGNMENTS, reference, spec, stub_namespace
from tests.variants import variants


@pytest.fixture(autouse=True, scope="session")
def _torch_imported():
    """Variants that use torch import it at module level; checks use it lazily. Importing it
    (and the sympy it pulls in) once up front keeps the first test's timings ordinary. The
    grader's own limits are CPU time on student calls only (autograder/timing.py), so load
    on the machine does not change these verdicts."""
    import sympy  # noqa: F401 - imported for its side effect (see the docstring)
    import torch

    x = torch.ones(2, 3, 4, 4, requires_grad=True)
    torch.autograd.grad(torch.nn.functional.conv2d(x, torch.ones(1, 3, 2, 2)).sum(), x)


class _Recording(dict):
    """A student namespace that notes every name the checks (or harness programs) look up."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.looked_up: set = set()

    def __getitem__(self, key):
        self.looked_up.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.looked_up.add(key)
        return super().get(key, default)

    def __contains__(self, key) -> bool:
        self.looked_up.add(key)
        return super().__contains__(key)


@functools.lru_cache(maxsize=None)
def reference_run(name: str) -> tuple:
    """The reference graded once per process: ``(results, uses)`` where ``uses[f]`` is the set
    of names that the checks of graded function ``f`` looked up in the student namespace. Only
    a run in which every check passes (so ran to its end) shows every lookup; a function whose
    reference run fails (test_reference_earns_full_marks says so) is taken to use every graded
    name, so its variants are graded on the whole assignment."""
    s, ref = spec(name), reference(name)
    everything = frozenset(gf.name for gf in s.functions)
    results, uses = {}, {}
    for gf in s.functions:
        ns = _Recording(ref)
        res = results[gf.name] = grade_function(s, gf, ns, ref, (PUBLIC, HIDDEN))
        uses[gf.name] = (frozenset(ns.looked_up) | {gf.name} if res.score == res.max_score
                         else everything)
    return results, uses


def affected(name: str, variant) -> list:
    """Names of the graded functions whose score the variant can change: its target, its
    companions, and every function whose checks look any of them up."""
    changed = {variant.target, *variant.companions}
    _, uses = reference_run(name)
    return [gf.name for gf in spec(name).functions
            if gf.name in changed or uses[gf.name] & changed]


def grade_namespace(name: str, namespace: dict, only=None) -> dict:
    s = spec(name)
    ref = reference(name)
    return {gf.name: grade_function(s, gf, namespace, ref, (PUBLIC, HIDDEN))
            for gf in s.functions if only is None or gf.name in only}


def test_reference_earns_full_marks(assignment_name):
    for fname, res in reference_run(assignment_name)[0].items():
        assert res.score == res.max_score, (fname, res.messages)


def test_stub_earns_zero_with_a_clear_message(assignment_name):
    results = grade_namespace(assignment_name, stub_namespace(assignment_name))
    for fname, res in results.items():
        assert res.score == 0, fname
        assert "not implemented yet" in res.messages[0]


def test_every_check_fails_for_a_function_returning_garbage(assignment_name):
    """No check may pass vacuously: a function returning a constant fails every check of
    every tier (so it also scores 0)."""
    s = spec(assignment_name)
    ref = reference(assignment_name)
    for gf in s.functions:
        ns = dict(ref)
        ns[gf.name] = lambda *args, **kwargs: 0.123
        for tier, checks in ((PUBLIC, gf.public), (HIDDEN, gf.hidden)):
            for description, check in checks:
                with pytest.raises(CheckFailure):
                    check(Context(student=ns, reference=ref, hidden=(tier == HIDDEN)))
        # Through the grader too: the tiers' points are withheld, not only the checks raised.
        res = grade_function(s, gf, ns, ref, (PUBLIC, HIDDEN))
        assert res.score == 0, (gf.name, res.passed)


def _cases(correct: bool):
    return [pytest.param(name, v, id=f"{name}/{v.id}") for name in ASSIGNMENTS
            for v in variants(name, correct)]


def _wrong_verdict(variant, results: dict) -> str | None:
    """Why the wrong variant's grading is unacceptable, or None if it is as required."""
    target = results[variant.target]
    if target.score >= target.max_score:
        return f"not caught: {variant.id}"
    if not (target.messages and "To review" in target.messages[-1]):
        return f"no section to review in {target.messages}"
    others = {n: r.score for n, r in results.items()
              if n != variant.target and r.score < r.max_score}
    if others:
        return f"{variant.id} also cost points on {others}"
    return None


@pytest.mark.parametrize("name, variant", _cases(correct=False))
def test_wrong_implementation_loses_points_on_its_function_only(name, variant):
    results = grade_namespace(name, variant.install(reference(name)),
                              only=affected(name, variant))
    problem = _wrong_verdict(variant, results)
    assert problem is None, problem


@pytest.mark.parametrize("name, variant", _cases(correct=True))
def test_correct_alternative_earns_full_marks(name, variant):
    results = grade_namespace(name, variant.install(reference(name)),
                              only=affected(name, variant))
    res = results[variant.target]
    assert res.score == res.max_score, res.messages


def test_enough_variants_per_function(assignment_name):
    wrong = variants(assignment_name, correct=False)
    right = variants(assignment_name, correct=True)
    for gf in spec(assignment_name).functions:
        assert sum(v.target == gf.name for v in wrong) >= 3, gf.name
        assert sum(v.target == gf.name for v in right) >= 1, gf.name


def test_affected_set_follows_the_checks_lookups():
    """The derivation itself: a backward's checks call the student's own forward (to make the
    cache), so replacing the forward regrades the backward; replacing the backward regrades it
    alone."""
    from tests.variants import Variant

    if "04_cnn" not in ASSIGNMENTS:
        pytest.skip("needs 04_cnn")
    _, uses = reference_run("04_cnn")
    assert "conv2d_forward" in uses["conv2d_backward"], uses["conv2d_backward"]
    forward = Variant("conv2d_forward", "any", fn=None, correct=False)
    backward = Variant("conv2d_backward", "any", fn=None, correct=False,
                       companions={"conv2d_forward": None})
    # The residual block uses both (GradedFunction.uses): the reference stands in for them
    # while it is checked, which looks their names up too.
    pair = {"conv2d_forward", "conv2d_backward", "residual_block_forward",
            "residual_block_backward"}
    assert set(affected("04_cnn", forward)) == pair
    assert set(affected("04_cnn", backward)) == pair
    alone = Variant("conv_output_size", "any", fn=None, correct=False)
    assert affected("04_cnn", alone) == ["conv_output_size"]


class _Poison:
    """Stands in for a name that a function's checks never looked up on the reference run:
    any use of it (a call, an attribute, a comparison) is reported."""

    def __init__(self, name: str, touched: set) -> None:
        self._name, self._touched = name, touched

    def _use(self, *args, **kwargs):
        self._touched.add(self._name)
        raise RuntimeError(f"{self._name} is poisoned in this test")

    __call__ = __getattr__ = __eq__ = __bool__ = __iter__ = __len__ = __array__ = _use
    __hash__ = object.__hash__


def test_grading_only_the_affected_functions_gives_the_same_verdicts(assignment_name):
    """Why grading a variant on ``affected`` only is safe. Each function is graded once with
    every name its checks did not look up on the reference run poisoned: it keeps full marks
    and touches none of them, so its verdict cannot depend on what those names hold. A
    variant replaces only names outside ``uses[f]`` of every function f outside its affected
    set, so those functions keep the reference's verdict (full marks) whatever it does.
    (Before, every variant was graded twice, on everything and on its affected set: 40% of
    the suite's time, for the same conclusion.)"""
    s, ref = spec(assignment_name), reference(assignment_name)
    _, uses = reference_run(assignment_name)
    for gf in s.functions:
        touched: set = set()
        ns = dict(ref)
        for name in ref:
            if name not in uses[gf.name] and not name.startswith("__"):
                ns[name] = _Poison(name, touched)
        res = grade_function(s, gf, ns, ref, (PUBLIC, HIDDEN))
        assert not touched, (gf.name, sorted(touched))
        assert res.score == res.max_score, (gf.name, res.messages)

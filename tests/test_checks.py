"""The checks themselves: reference → full marks, stub → zero, wrong variants caught on their
function only, correct alternatives accepted. Runs in-process (fast); the notebook and process
layers are tested in test_grading.py."""

from __future__ import annotations

import pytest

from autograder.evaluate import grade_function
from autograder.spec import HIDDEN, PUBLIC
from tests.conftest import ASSIGNMENTS, reference, spec, stub_namespace
from tests.variants import variants


def grade_namespace(name: str, namespace: dict) -> dict:
    s = spec(name)
    ref = reference(name)
    return {gf.name: grade_function(s, gf, namespace, ref, (PUBLIC, HIDDEN))
            for gf in s.functions}


def test_reference_earns_full_marks(assignment_name):
    for fname, res in grade_namespace(assignment_name, reference(assignment_name)).items():
        assert res.score == res.max_score, (fname, res.messages)


def test_stub_earns_zero_with_a_clear_message(assignment_name):
    results = grade_namespace(assignment_name, stub_namespace(assignment_name))
    for fname, res in results.items():
        assert res.score == 0, fname
        assert "not implemented yet" in res.messages[0]


def test_every_check_fails_for_a_function_returning_garbage(assignment_name):
    """No check may pass vacuously: a function returning a constant fails every tier."""
    s = spec(assignment_name)
    for gf in s.functions:
        ns = dict(reference(assignment_name))
        ns[gf.name] = lambda *args, **kwargs: 0.123
        res = grade_function(s, gf, ns, reference(assignment_name), (PUBLIC, HIDDEN))
        assert res.score == 0, (gf.name, res.passed)
        for tier, checks in ((PUBLIC, gf.public), (HIDDEN, gf.hidden)):
            for description, check in checks:
                from autograder.checks import CheckFailure, Context
                with pytest.raises(CheckFailure):
                    check(Context(student=ns, reference=reference(assignment_name),
                                  hidden=(tier == HIDDEN)))


def _cases(correct: bool):
    return [pytest.param(name, v, id=f"{name}/{v.id}") for name in ASSIGNMENTS
            for v in variants(name, correct)]


@pytest.mark.parametrize("name, variant", _cases(correct=False))
def test_wrong_implementation_loses_points_on_its_function_only(name, variant):
    results = grade_namespace(name, variant.install(reference(name)))
    target = results[variant.target]
    assert target.score < target.max_score, f"not caught: {variant.id}"
    assert target.messages and "To review" in target.messages[-1]
    others = {n: r.score for n, r in results.items() if n != variant.target and r.score < r.max_score}
    assert not others, f"{variant.id} also cost points on {others}"


@pytest.mark.parametrize("name, variant", _cases(correct=True))
def test_correct_alternative_earns_full_marks(name, variant):
    res = grade_namespace(name, variant.install(reference(name)))[variant.target]
    assert res.score == res.max_score, res.messages


def test_enough_variants_per_function(assignment_name):
    wrong = variants(assignment_name, correct=False)
    right = variants(assignment_name, correct=True)
    for gf in spec(assignment_name).functions:
        assert sum(v.target == gf.name for v in wrong) >= 3, gf.name
        assert sum(v.target == gf.name for v in right) >= 1, gf.name

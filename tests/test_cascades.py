"""Cascades (issue 20): a function whose student implementation calls another graded function
is graded on its own code. While it is checked, with the reference at hand (grading), the
reference stands in for the functions it uses (GradedFunction.uses), in the notebook's own
namespace and only for the call; without it (`autograder check`) a failure says "fix `that`
first" when that function fails its own public checks.

Real notebooks here, run with run_cells: the student's functions find each other through the
notebook's globals, as in Jupyter (the variants of test_checks.py do not).
"""

from __future__ import annotations

import pytest

from autograder.evaluate import grade_function, run_tier
from autograder.grading.pool import grade_all
from autograder.grading.submissions import Submission
from autograder.notebook import read_cells, run_cells
from autograder.spec import HIDDEN, PUBLIC, get_assignment
from tests.conftest import filled_notebook, reference, write_notebook

A = "06_attention"
NO_SQRT_D = '''def scaled_dot_product_attention(q, k, v, mask=None):
    s = q @ np.swapaxes(k, -1, -2)  # the 1/sqrt(d) is missing
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    w = w / w.sum(axis=-1, keepdims=True)
    return w @ v, w
'''


@pytest.fixture(scope="module")
def no_sqrt_d(tmp_path_factory):
    path = write_notebook(filled_notebook(A, {"scaled_dot_product_attention": NO_SQRT_D}),
                          tmp_path_factory.mktemp("cascade") / f"{A}.ipynb")
    ns, log = run_cells(read_cells(path))
    assert not log.notes, log.notes
    return path, ns


def _lost(results: dict) -> dict:
    return {name: (r.score, r.max_score) for name, r in results.items()
            if r.score < r.max_score}


def test_one_missing_sqrt_d_costs_only_its_own_points(no_sqrt_d):
    spec, ref = get_assignment(A), reference(A)
    _, ns = no_sqrt_d
    own = ns["scaled_dot_product_attention"]
    results = {gf.name: grade_function(spec, gf, ns, ref, (PUBLIC, HIDDEN))
               for gf in spec.functions}
    assert set(_lost(results)) == {"scaled_dot_product_attention"}, _lost(results)
    assert ns["scaled_dot_product_attention"] is own  # the student's own is back afterwards


def test_without_the_reference_the_dependent_is_told_to_fix_the_other_first(no_sqrt_d):
    """`autograder check` has no reference: multi-head attention fails its public checks
    through the student's own attention, and the message says which one to fix first."""
    spec = get_assignment(A)
    _, ns = no_sqrt_d
    failures = run_tier(spec, spec.function("multi_head_attention"), PUBLIC, ns).failures
    assert failures, "multi_head_attention passes with a wrong attention and no reference"
    assert "fix `scaled_dot_product_attention` first" in failures[0].text, failures[0].text
    # a function that depends on nothing that fails is not told so
    ok = run_tier(spec, spec.function("causal_mask"), PUBLIC, ns).failures
    assert not ok


def test_the_sandboxed_grader_gives_the_same_scores(no_sqrt_d, tmp_path):
    """The stand-in crosses into the sandboxed student process as a function that asks the
    grader (like a probe): the reference itself never enters it."""
    spec, ref = get_assignment(A), reference(A)
    path, ns = no_sqrt_d
    expected = {gf.name: grade_function(spec, gf, ns, ref, (PUBLIC, HIDDEN)).score
                for gf in spec.functions}
    result = grade_all([Submission("cascade", path)], spec, jobs=1)[0]
    assert {n: f.score for n, f in result.functions.items()} == expected, result.notes
    assert {n for n, f in result.functions.items() if f.score < f.max_score} == \
        {"scaled_dot_product_attention"}

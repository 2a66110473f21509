"""Objects a student's function returns for its own later use stay the student's (issue 18 §1).

The contract leaves the cache of a ``*_forward`` (and an optimiser's state) to the student. Here
correct implementations keep, in their caches, a torch autograd graph (backward calls
``torch.autograd.grad``), a closure, a generator, an instance of a class defined in the notebook
and a NumPy view. Each must earn full marks in process (nbgrader's cells, ``check --plain``)
and in the sandbox (``autograder grade``), where the cache must not come back as a detached copy.
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.evaluate import grade_function
from autograder.grading.pool import grade_all
from autograder.grading.submissions import Submission
from autograder.notebook import read_cells, run_cells
from autograder.spec import HIDDEN, PUBLIC, get_assignment
from tests.conftest import filled_notebook, reference, write_notebook

# The torch pattern: tensors that require grad go into the cache with the output, and the
# backward differentiates the graph (retain_graph: a check may call backward twice per cache).
TORCH_BACKWARD = """
def {bwd}(dout, cache):
    out, leaves = cache
    grads = torch.autograd.grad(out, leaves, torch.as_tensor(np.asarray(dout, dtype=np.float64)),
                                retain_graph=True, allow_unused=True)
    return tuple(np.zeros(tuple(t.shape)) if g is None else g.numpy() for g, t in
                 zip(grads, leaves))
"""


def _leaves(names: str) -> str:
    return "\n".join(f"    {n}_t = torch.tensor(np.asarray({n}, dtype=np.float64), "
                     f"requires_grad=True)" for n in names.split(", "))


def torch_pair(fwd: str, bwd: str, signature: str, inputs: str, expr: str) -> dict:
    forward = (f"import numpy as np\nimport torch\nimport torch.nn.functional as F\n\n"
               f"def {fwd}({signature}):\n{_leaves(inputs)}\n    out = {expr}\n"
               f"    leaves = ({', '.join(n + '_t' for n in inputs.split(', '))},)\n"
               f"    return out.detach().numpy().copy(), (out, leaves)\n")
    return {fwd: forward, bwd: "import numpy as np\nimport torch\n"
            + TORCH_BACKWARD.format(bwd=bwd)}


CASES = {
    "04_cnn": torch_pair("conv2d_forward", "conv2d_backward", "x, w, b, stride=1, padding=0",
                         "x, w, b", "F.conv2d(x_t, w_t, b_t, stride=stride, padding=padding)"),
    "05_rnn": torch_pair("rnn_step_forward", "rnn_step_backward", "x, h_prev, Wx, Wh, b",
                         "x, h_prev, Wx, Wh, b", "torch.tanh(x_t @ Wx_t + h_prev_t @ Wh_t + b_t)"),
    "06_attention": torch_pair("layer_norm_forward", "layer_norm_backward",
                               "x, gamma, beta, eps=1e-5", "x, gamma, beta",
                               "F.layer_norm(x_t, (x_t.shape[-1],), gamma_t, beta_t, eps)"),
    "03_backprop": {
        # an instance of a notebook class holding a view of the input
        "affine_forward": (
            "import numpy as np\n\nclass AffineCache:\n"
            "    def __init__(self, x, W):\n"
            "        self.rows = x.reshape(x.shape[0], -1)  # a view of x\n"
            "        self.shape, self.W = x.shape, W\n\n"
            "def affine_forward(x, W, b):\n    cache = AffineCache(x, W)\n"
            "    return cache.rows @ W + b, cache\n"),
        "affine_backward": (
            "def affine_backward(dout, cache):\n"
            "    dx = (dout @ cache.W.T).reshape(cache.shape)\n"
            "    return dx, cache.rows.T @ dout, dout.sum(axis=0)\n"),
        # a closure
        "sigmoid_forward": (
            "import numpy as np\n\ndef sigmoid_forward(x):\n"
            "    e = np.exp(-np.abs(x))\n"
            "    out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))\n"
            "    return out, lambda dout: dout * out * (1 - out)\n"),
        "sigmoid_backward": "def sigmoid_backward(dout, cache):\n    return cache(dout)\n",
        # a generator that answers every backward call
        "tanh_forward": (
            "import numpy as np\n\ndef tanh_forward(x):\n    out = np.tanh(x)\n"
            "    def grads():\n        dout = yield\n        while True:\n"
            "            dout = yield dout * (1 - out ** 2)\n"
            "    g = grads()\n    next(g)\n    return out, g\n"),
        "tanh_backward": "def tanh_backward(dout, cache):\n    return cache.send(dout)\n",
    },
}


def _targets(name: str) -> list:
    return list(CASES[name])


@pytest.mark.parametrize("name", sorted(CASES))
def test_caches_holding_live_objects_earn_full_marks_in_process(name, tmp_path):
    spec = get_assignment(name)
    nb = write_notebook(filled_notebook(name, CASES[name]), tmp_path / f"{name}.ipynb")
    ns, log = run_cells(read_cells(nb))
    assert not log.notes, log.notes
    for fname in _targets(name):
        res = grade_function(spec, spec.function(fname), ns, reference(name), (PUBLIC, HIDDEN))
        assert res.score == res.max_score, (fname, res.messages)


@pytest.mark.parametrize("name", sorted(CASES))
def test_caches_holding_live_objects_earn_full_marks_in_the_sandbox(name, tmp_path):
    spec = get_assignment(name)
    nb = write_notebook(filled_notebook(name, CASES[name]), tmp_path / f"{name}.ipynb")
    result = grade_all([Submission("live", nb)], spec, jobs=1)[0]
    assert result.status == "ok", (result.notes, result.isolation)
    for fname in _targets(name):
        fr = result.functions[fname]
        assert fr.score == fr.max_score, (fname, fr.messages)
    assert result.score == spec.max_score, {n: f.messages for n, f in result.functions.items()
                                            if f.score < f.max_score}


def test_a_backward_that_changes_its_own_cache_in_place_is_told_so():
    """Passing the cache by reference does not switch off the rule that inputs stay unchanged:
    the values of the cache before and after the call are compared."""
    name = "03_backprop"
    spec = get_assignment(name)
    ns = dict(reference(name))
    exec("import numpy as np\n"
         "def relu_forward(x):\n    return np.maximum(x, 0), {'mask': x > 0}\n"
         "def relu_backward(dout, cache):\n    mask = cache.pop('mask')\n"
         "    return dout * mask\n", ns)
    res = grade_function(spec, spec.function("relu_backward"), ns, reference(name),
                         (PUBLIC, HIDDEN))
    assert res.score == 0 and "modified its input in place" in " ".join(res.messages)


def test_values_cross_by_value_and_objects_by_handle():
    """The wire format: a returned tuple arrives as its values with a handle; sent back, the
    handle is all that crosses."""
    from autograder.sandbox import codec

    kept: list = []
    x = np.arange(3.0)
    tree, bufs = codec.encode((x, (x[:2], lambda: 1)), keep=lambda o: kept.append(o) or
                              len(kept) - 1)
    seen: dict = {}
    value = codec.decode(tree, bufs, remember=lambda v, h: seen.__setitem__(h, v))
    assert np.array_equal(value[0], x) and value[0] is not x
    cache = value[1]
    back, _ = codec.encode(cache, known=lambda v: next((h for h, o in seen.items() if o is v),
                                                       None))
    assert set(back) == {"$ref"} and kept[back["$ref"]] is kept[back["$ref"]]
    assert kept[back["$ref"]][0].base is x  # the student's own view, not a copy

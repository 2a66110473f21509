"""Programs for assignment 05_rnn, run next to the student's code (see the package doc).

* ``rnn.clip_fresh_arrays`` calls the student's ``clip_grad_norm`` on arrays it made itself and
  reports, for every returned array, whether it shares memory with one of the inputs. A check
  cannot see this through ``ctx.call``: arguments and results cross as copies, so aliasing is
  visible only on the student's side of the connection.
"""

from __future__ import annotations

import numpy as np

from . import program


@program("rnn.clip_fresh_arrays")
def clip_fresh_arrays(namespace: dict, grads: list, max_norm: float) -> dict:
    """``{"shares": [bool per returned array], "returned": what came back}``, or
    ``{"missing": True}``. Arrays of the returned list that are not NumPy arrays count as fresh
    (the value checks judge them)."""
    fn = namespace.get("clip_grad_norm")
    if fn is None or not callable(fn):
        return {"missing": True}
    inputs = [np.array(g, dtype=np.float64) for g in grads]
    result = fn(list(inputs), max_norm)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return {"returned": type(result).__name__, "shares": []}
    clipped = result[0]
    if not isinstance(clipped, (tuple, list)):
        return {"returned": type(clipped).__name__, "shares": []}
    shares = [bool(isinstance(c, np.ndarray)
                   and any(np.shares_memory(c, g) for g in inputs)) for c in clipped]
    return {"returned": "pair", "shares": shares}

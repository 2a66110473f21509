"""Probes shared by several assignments."""

from __future__ import annotations

import numpy as np

from . import probe


@probe("linear")
def linear(c):
    """f(x) = <c, x>: gradient c everywhere."""
    c = np.asarray(c, dtype=np.float64)
    return lambda x: float(np.sum(c * np.asarray(x, dtype=np.float64)))

"""Programs for assignment 03_backprop, run next to the student's code (see the package doc).

* ``backprop.value_graphs`` builds expression graphs out of the student's ``Value`` class from a
  plain-data description, calls ``backward()`` on each graph's last node and reports every
  node's ``.data`` and ``.grad``.
* ``backprop.numpy_warnings`` calls a student function with NumPy's floating-point warnings
  switched on and reports the warnings it raised (e.g. ``exp`` overflowing in a sigmoid), with
  the ``out`` it returned.

A graph is a list of nodes; node ``k`` refers to earlier nodes by index:

=================  ==========================  =================  =========================
``["leaf", x]``    ``Value(x)``                ``["neg", i]``     ``-v[i]``
``["add", i, j]``  ``v[i] + v[j]``             ``["addc", i, c]`` ``v[i] + c``
``["sub", i, j]``  ``v[i] - v[j]``             ``["subc", i, c]`` ``v[i] - c``
``["mul", i, j]``  ``v[i] * v[j]``             ``["mulc", i, c]`` ``v[i] * c``
``["div", i, j]``  ``v[i] / v[j]``             ``["divc", i, c]`` ``v[i] / c``
``["radd", c, i]`` ``c + v[i]``                ``["rsub", c, i]`` ``c - v[i]``
``["rmul", c, i]`` ``c * v[i]``                ``["rdiv", c, i]`` ``c / v[i]``
``["pow", i, p]``  ``v[i] ** p``               ``["tanh", i]``    ``v[i].tanh()``
``["exp", i]``     ``v[i].exp()``              ``["log", i]``     ``v[i].log()``
``["relu", i]``    ``v[i].relu()``
=================  ==========================  =================  =========================

Constants ``c`` and exponents ``p`` are plain Python ints or floats.
"""

from __future__ import annotations

import gc
import operator
import warnings

import numpy as np

from . import program

# Bound when the harness is imported, before any student code runs: a notebook that replaces
# np.errstate or warnings.catch_warnings cannot blind the warnings check below.
_errstate, _catch_warnings, _simplefilter = np.errstate, warnings.catch_warnings, \
    warnings.simplefilter
_seterr = np.seterr

BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv}
WITH_CONSTANT = {"addc": operator.add, "subc": operator.sub, "mulc": operator.mul,
                 "divc": operator.truediv, "pow": operator.pow}
CONSTANT_FIRST = {"radd": operator.add, "rsub": operator.sub, "rmul": operator.mul,
                  "rdiv": operator.truediv}
UNARY_OPERATORS = {"neg": operator.neg}
METHODS = ("tanh", "exp", "log", "relu")


def _number(c):
    """Constants arrive as plain data; hand the student's class a Python int or float."""
    if isinstance(c, (bool, np.bool_)):
        return int(c)
    if isinstance(c, (int, np.integer)):
        return int(c)
    return float(c)


def build_node(Value, nodes: list, spec: list):
    """The result of the operation ``spec`` (see the module doc) on the Values ``nodes``."""
    op = spec[0]
    if op == "leaf":
        return Value(_number(spec[1]))
    if op in BINARY:
        return BINARY[op](nodes[spec[1]], nodes[spec[2]])
    if op in WITH_CONSTANT:
        return WITH_CONSTANT[op](nodes[spec[1]], _number(spec[2]))
    if op in CONSTANT_FIRST:
        return CONSTANT_FIRST[op](_number(spec[1]), nodes[spec[2]])
    if op in UNARY_OPERATORS:
        return UNARY_OPERATORS[op](nodes[spec[1]])
    if op in METHODS:
        return getattr(nodes[spec[1]], op)()
    raise ValueError(f"unknown operation {op!r} in a graph description")


def _plain(x):
    """A float, or a string naming the type of something that is not a number."""
    if isinstance(x, (bool, np.bool_)):
        return f"<{type(x).__name__}>"
    if isinstance(x, (int, float, np.integer, np.floating)):
        return float(x)
    if isinstance(x, np.ndarray) and x.size == 1 and np.issubdtype(x.dtype, np.number):
        return float(x.reshape(()))
    return f"<{type(x).__name__}>"


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else "(no message)"
    return f"{type(exc).__name__}: {text[:200]}"


class _Stub(Exception):
    """A method of the student's class still raises NotImplementedError."""

    def __init__(self, phase: str, node: int):
        super().__init__(phase, node)
        self.report = {"phase": phase, "node": node}


def _run_graph(Value, graph: list) -> dict:
    nodes = []
    for k, spec in enumerate(graph):
        try:
            nodes.append(build_node(Value, nodes, spec))
        except NotImplementedError:
            raise _Stub("build", k) from None
        except Exception as exc:  # noqa: BLE001 - reported to the check as plain data
            return {"error": _error(exc), "phase": "build", "node": k}
    try:
        nodes[-1].backward()
    except NotImplementedError:
        raise _Stub("backward", len(graph) - 1) from None
    except Exception as exc:  # noqa: BLE001
        return {"error": _error(exc), "phase": "backward", "node": len(graph) - 1}
    out = []
    for k, node in enumerate(nodes):
        try:
            out.append([_plain(node.data), _plain(node.grad)])
        except Exception as exc:  # noqa: BLE001 - e.g. a node without .data
            return {"error": _error(exc), "phase": "read", "node": k}
    return {"nodes": out}


@program("backprop.value_graphs")
def value_graphs(namespace: dict, graphs: list, collect: bool = False) -> dict:
    """Build each graph with ``namespace["Value"]``, in order, each from fresh leaves; call
    ``backward()`` on its last node; return ``{"results": [...]}`` with, per graph, either
    ``{"nodes": [[data, grad], ...]}`` or ``{"error": ..., "phase": ..., "node": k}``; or
    ``{"not_implemented": {"graph": i, "phase": ..., "node": k}}`` as soon as a method raises
    NotImplementedError (the untouched stub).

    With ``collect``, garbage is collected after each graph, so that the next graph's Values
    likely reuse the memory (and ``id``) of the previous ones: state wrongly kept between
    graphs (e.g. a class-level set of visited ids) then shows up.
    """
    Value = namespace.get("Value")
    if Value is None:
        return {"missing": True}
    if not isinstance(Value, type):
        return {"not_a_class": type(Value).__name__}
    results = []
    for i, graph in enumerate(graphs):
        try:
            results.append(_run_graph(Value, graph))
        except _Stub as stub:  # the check reports it as "not implemented yet"
            return {"not_implemented": dict(stub.report, graph=i)}
        if collect:
            gc.collect()
    return {"results": results}


@program("backprop.numpy_warnings")
def numpy_warnings(namespace: dict, name: str, x: np.ndarray) -> dict:
    """Call ``namespace[name](x)`` with NumPy's overflow, divide and invalid warnings on.

    Returns ``{"warnings": [messages], "out": first item of the returned tuple as a float array
    (or None), "returned": a description of what came back}``. Underflow is not reported: exp
    of a very negative number rounding to 0 is harmless.
    """
    fn = namespace.get(name)
    if fn is None:
        return {"missing": True}
    with _catch_warnings(record=True) as caught:
        _simplefilter("always")
        with _errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
            _seterr(over="warn", divide="warn", invalid="warn", under="ignore")  # over any global
            result = fn(np.array(x, dtype=np.float64))
    messages = [f"{w.category.__name__}: {w.message}" for w in caught]
    out = None
    if isinstance(result, tuple) and len(result) == 2:
        try:
            out = np.array(result[0], dtype=np.float64)
        except Exception:  # noqa: BLE001 - the check reports it
            out = None
    return {"warnings": messages, "out": out, "returned": type(result).__name__}

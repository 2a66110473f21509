"""Expression graphs for assignment 03_backprop's ``Value``, as plain data.

The checks (autograder/assignments/backprop.py) build each graph with the student's class one
operation per request, in the student's process; :func:`value_graphs` builds the same graphs
with the reference class, in the grader.

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

import numpy as np

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
    if type(x).__name__ == "Remote":  # an object kept in the student's process
        return f"<{x.kind}>"
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

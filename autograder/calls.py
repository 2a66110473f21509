"""The one way checks reach student code: a small request protocol, the same in every path.

A check never touches a student's object directly. It sends a *request* — call a function of the
notebook, call a method of or read an attribute of an object the student made, apply an
operator to such objects — and gets back plain data (:mod:`autograder.sandbox.codec`). The
:class:`Server` answers requests next to the student's code: in the sandboxed student process
when grading a class, in the same process for nbgrader's test cells, ``autograder check
--plain`` and the tests. Both paths use the very same encoding, so a check sees exactly the same
values wherever it runs, and nothing the student's code does can change a verdict except the
values its graded names return: every comparison, every rule (no warnings, fresh arrays, inputs
unchanged, gradients of a ``Value`` graph) is decided by the check, on plain data.

Objects stay where they were made: what a call returns crosses by value *and* by handle, and a
check that passes it back (a cache, an optimiser's state, a ``Value``) sends the handle, so the
student's function receives its own object — a torch graph, a closure, a generator, a view.

Requests run under the check's CPU-time limit (:mod:`autograder.timing`).

Ground floor: this module imports only the standard library, numpy, the codec and the timing.
"""

from __future__ import annotations

import copy
import gc
import operator
import sys
import warnings
from typing import Any, Callable

import numpy as np

from .sandbox import codec
from .timing import Expired, cpu_seconds, limit

# What a check may apply to student objects besides calling them: Python's own operators, so
# ``a + b`` dispatches to ``__add__`` or ``__radd__`` exactly as in the notebook.
OPERATORS: dict = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "truediv": operator.truediv, "pow": operator.pow, "neg": operator.neg,
    "collect_garbage": gc.collect,
}

MAX_ALIAS_ARRAYS = 64  # arrays looked at on each side when reporting shared memory


class StudentError(Exception):
    """What went wrong when student code was called, in a form that can cross processes.

    ``kind`` is one of: missing, not_callable, not_implemented, exit, recursion, exception,
    mutated, failure, crashed, unsendable, timeout.
    """

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind, detail)
        self.kind, self.detail = kind, detail


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else "(no message)"
    return text if len(text) <= 200 else text[:197] + "..."


def guarded(thunk: Callable) -> Any:
    """Run student code; turn what it raises into a :class:`StudentError`."""
    try:
        return thunk()
    except NotImplementedError:
        raise StudentError("not_implemented") from None
    except SystemExit:
        raise StudentError("exit") from None
    except RecursionError:
        raise StudentError("recursion") from None
    except Exception as exc:  # noqa: BLE001 - any student error becomes feedback
        raise StudentError("exception", f"{type(exc).__name__}: {short(exc)}") from None


def describe_type(x: Any) -> str:
    if isinstance(x, codec.Remote):
        return f"an object of type {x.kind}"
    if isinstance(x, np.ndarray):
        return f"a {x.dtype} array of shape {x.shape}"
    return f"a {type(x).__name__}"


def _arrays(x: Any, path: str, out: list, depth: int = 0) -> list:
    """(path, array) for the NumPy arrays inside tuples, lists and dicts."""
    if len(out) >= MAX_ALIAS_ARRAYS or depth > 4:
        return out
    if isinstance(x, np.ndarray):
        out.append((path, x))
    elif isinstance(x, (tuple, list)):
        for i, v in enumerate(x):
            _arrays(v, f"{path}[{i}]", out, depth + 1)
    elif isinstance(x, dict):
        for k, v in list(x.items())[:MAX_ALIAS_ARRAYS]:
            _arrays(v, f"{path}[{k!r}]", out, depth + 1)
    return out


class Server:
    """Answers requests next to the student's objects (``namespace``: the notebook's globals).

    Bound at construction, before any student code runs: the functions used here cannot be
    replaced by a notebook that patches modules (``copy``, ``warnings``, ``numpy``)."""

    def __init__(self, namespace: dict, channel: Callable | None = None,
                 report_cpu: bool = False) -> None:
        self.namespace = namespace
        # The student's process reports its CPU time with every reply (the notebook's budget);
        # in process nobody needs it.
        self._cpu = cpu_seconds if report_cpu else (lambda: 0.0)
        # channel(header, buffers) -> (reply, buffers): asks the grader during a request (a
        # probe called by student code). Set by the transport.
        self.channel = channel
        self.kept: list = []
        self._deepcopy, self._errstate, self._seterr = copy.deepcopy, np.errstate, np.seterr
        self._catch, self._filter = warnings.catch_warnings, warnings.simplefilter
        self._may_share = np.may_share_memory
        self._operators = dict(OPERATORS)

    # -- handles ------------------------------------------------------------------------------

    def keep(self, obj: Any) -> int:
        self.kept.append(obj)
        return len(self.kept) - 1

    def resolve(self, i: int) -> Any:
        if not 0 <= i < len(self.kept):
            raise codec.CodecError("unknown handle")
        return self.kept[i]

    # -- requests -------------------------------------------------------------------------------

    def handle(self, header: dict, buffers: list) -> tuple:
        """Answer one request: ``(reply header, buffers)``; never raises for what the student's
        code does."""
        if header.get("forget"):
            self.kept.clear()  # the check that made these objects is over
        passed: dict = {}  # id -> object: what came back by handle, passed on uncopied
        if header.get("op") == "batch":
            return self._batch(header, buffers)

        def resolve(i: int) -> Any:
            obj = self.resolve(i)
            passed[id(obj)] = obj
            return obj

        try:
            args, kwargs = codec.decode(header["payload"], buffers, resolve=resolve)
            target = header.get("target")
            if type(target) is int:
                target = resolve(target)
            elif type(target) is not str:
                raise codec.CodecError("malformed request")
            attr = header.get("attr")
            if attr is not None and type(attr) is not str:
                raise codec.CodecError("malformed request")
        except Exception as exc:  # noqa: BLE001
            return self._error("exception", f"the grader could not send the arguments: {exc}")
        modules = set(sys.modules)
        try:
            with limit(float(header["cpu"]), float(header["wall"])) as lim:
                out, extra = self._operate(str(header.get("op")), target, attr, tuple(args),
                                           kwargs, passed, header)
        except StudentError as err:
            return self._error(err.kind, err.detail)
        except Expired as exc:
            if exc.limit is not lim:
                raise
            # A lazy import the limit interrupted would leave a half-initialised module behind
            # (e.g. ``sympy`` without ``sympy.core``): forget every module the call added.
            for name in set(sys.modules) - modules:
                sys.modules.pop(name, None)
            return self._error("timeout", lim.describe())
        except BaseException as exc:  # noqa: BLE001 - e.g. a deepcopy the student broke
            return self._error("exception", f"{type(exc).__name__}: {str(exc)[:200]}")
        try:
            tree, bufs = codec.encode(dict(extra, out=out), self.keep)
        except codec.CodecError as exc:
            return self._error("unsendable", str(exc))
        except RecursionError:
            return self._error("unsendable", "nested too deeply")
        except Exception as exc:  # noqa: BLE001 - whatever an odd object does when encoded
            return self._error("unsendable", f"{type(exc).__name__}: {str(exc)[:200]}")
        return {"ok": tree, "cpu": self._cpu()}, bufs

    def _bind(self, obj: Any, depth: int = 0) -> Any:
        """``obj`` with every :class:`~autograder.sandbox.codec.ProbeRef` replaced by a function
        that asks the grader; containers without one are passed as they are (the same
        object: it may be the student's own)."""
        if isinstance(obj, codec.ProbeRef):
            return self._probe(obj.index)
        if depth > 8 or type(obj) not in (tuple, list, dict):
            return obj
        items = obj.items() if type(obj) is dict else enumerate(obj)
        changed = {k: r for k, v in items if (r := self._bind(v, depth + 1)) is not v}
        if not changed:
            return obj
        if type(obj) is dict:
            return {k: changed.get(k, v) for k, v in obj.items()}
        out = [changed.get(i, v) for i, v in enumerate(obj)]
        return tuple(out) if type(obj) is tuple else out

    def _probe(self, index: int) -> Callable:
        channel, encode, decode = self.channel, codec.encode, codec.decode

        def probe(*args, **kwargs):
            if channel is None:
                raise RuntimeError("this test function cannot be called here")
            try:
                tree, bufs = encode((args, kwargs))
            except codec.CodecError as exc:
                raise TypeError(f"the test function cannot take this argument ({exc})") \
                    from None
            reply, rbufs = channel({"event": "callback", "probe": index, "payload": tree},
                                   bufs)
            if "error" in reply:
                raise ValueError(str(reply.get("error"))[:2000])
            return decode(reply["ok"], rbufs)

        probe.__name__ = probe.__qualname__ = "f"
        return probe

    def _standing_in(self, call: Callable, bind: Any) -> Callable:
        """``call`` with the graded functions named in ``bind`` ({name: probe number}) replaced,
        in the notebook's namespace and only while it runs, by functions that ask the grader
        (the reference solution, which stays there): a function that calls another graded
        function is then graded on its own code, not on the other one's mistakes."""
        if not (type(bind) is dict and all(type(k) is str and type(v) is int
                                           for k, v in bind.items())):
            raise StudentError("exception", "ValueError: the grader sent a malformed request")
        namespace, missing = self.namespace, object()

        def run():
            saved = {name: namespace.get(name, missing) for name in bind}
            for name, index in bind.items():
                stand_in = self._probe(index)
                stand_in.__name__ = stand_in.__qualname__ = name
                namespace[name] = stand_in
            try:
                return call()
            finally:
                for name, old in saved.items():
                    if old is missing:
                        namespace.pop(name, None)
                    else:
                        namespace[name] = old
        return run

    def _error(self, kind: str, detail: str = "", **more) -> tuple:
        return dict(more, error=kind, detail=detail[:2000], cpu=self._cpu()), []

    def _batch(self, header: dict, buffers: list) -> tuple:
        """Several requests in one round trip, in order, each able to use what an earlier one
        returned (``{"$ref": -1 - k}`` is step k's result): e.g. a whole expression graph built
        from a student's class. Stops at the first step that fails (``"step"`` in the error);
        the reply is the list of every step's result. One time limit covers the batch."""
        outputs: list = []

        def resolve(i: int) -> Any:
            if i < 0:
                if -i - 1 >= len(outputs):
                    raise codec.CodecError("a step refers to a later one")
                return outputs[-i - 1]
            return self.resolve(i)

        steps = header.get("steps")
        if not isinstance(steps, list):
            return self._error("exception", "the grader sent a malformed batch")
        k = -1
        try:
            with limit(float(header["cpu"]), float(header["wall"])) as lim:
                for k, step in enumerate(steps):
                    try:
                        args = codec.decode(step["args"], buffers, resolve=resolve)
                        target = step.get("target")
                        target = resolve(target) if type(target) is int else target
                        attr = step.get("attr")
                        if type(args) is not tuple or (attr is not None
                                                       and type(attr) is not str):
                            raise codec.CodecError("malformed step")
                    except Exception as exc:  # noqa: BLE001
                        return self._error("exception", f"the grader sent a malformed step: "
                                                        f"{exc}", step=k)
                    out, _ = self._operate(str(step.get("op")), target, attr, tuple(args), {},
                                           {}, {})
                    outputs.append(out)
        except StudentError as err:
            return self._error(err.kind, err.detail, step=k)
        except Expired as exc:
            if exc.limit is not lim:
                raise
            return self._error("timeout", lim.describe(), step=k)
        except BaseException as exc:  # noqa: BLE001
            return self._error("exception", f"{type(exc).__name__}: {str(exc)[:200]}", step=k)
        try:
            tree, bufs = codec.encode({"out": outputs}, self.keep)
        except Exception as exc:  # noqa: BLE001 - whatever an odd object does when encoded
            return self._error("unsendable", f"{type(exc).__name__}: {str(exc)[:200]}")
        return {"ok": tree, "cpu": self._cpu()}, bufs

    def _callable(self, op: str, target: Any, attr: str | None) -> Callable:
        if op == "apply":
            if target not in self._operators:
                raise StudentError("exception", f"ValueError: no operator {target!r}")
            return self._operators[target]
        if isinstance(target, str):
            obj = self.namespace.get(target)
            if obj is None:
                raise StudentError("missing")
        else:
            obj = target
        if attr is not None:
            obj = guarded(lambda: getattr(obj, attr))
        if op == "getattr":
            return lambda: obj
        if not callable(obj):
            raise StudentError("not_callable", describe_type(obj))
        return obj

    def _operate(self, op: str, target: Any, attr: str | None, args: tuple, kwargs: dict,
                 passed: dict, header: dict) -> tuple:
        if op not in ("call", "apply", "getattr"):
            raise StudentError("exception", f"ValueError: unknown request {op!r}")
        fn = self._callable(op, target, attr)
        extra: dict = {}
        if header.get("copy"):
            # The function gets copies of what the grader made (so the grader's own inputs are
            # safe) and the very objects it made itself; the arguments as they are after the
            # call go back, and the grader decides whether they changed.
            memo = dict(passed)
            call_args, call_kwargs = self._deepcopy((args, kwargs), memo)
        else:
            call_args, call_kwargs = args, kwargs
        # Probes (test functions the grader hands to student code) stay in the grader: the
        # student's code gets a function that asks the grader for each value. What comes back
        # in ``after`` is the probe's number, so the grader can compare it.
        call = lambda: fn(*self._bind(call_args), **self._bind(call_kwargs))  # noqa: E731
        if header.get("bind"):
            call = self._standing_in(call, header["bind"])
        if header.get("warnings"):
            with self._catch(record=True) as caught:
                self._filter("always")
                with self._errstate(over="warn", divide="warn", invalid="warn",
                                    under="ignore"):
                    self._seterr(over="warn", divide="warn", invalid="warn", under="ignore")
                    out = guarded(call)
            extra["warnings"] = [f"{w.category.__name__}: {short(w.message)}"
                                 for w in caught][:20]
        else:
            with self._errstate(all="ignore"):
                out = guarded(call)
        if header.get("copy"):
            extra["after"] = (call_args, call_kwargs)
        if header.get("aliases"):
            ins = _arrays((call_args, call_kwargs), "in", [])
            extra["aliases"] = [[p, q] for p, a in _arrays(out, "out", [])
                                for q, b in ins if self._may_share(a, b)]
        return out, extra

"""Building blocks for checks: calling student code safely and comparing what it returns.

A check is a plain function ``check(ctx)`` that returns on success and raises
:class:`CheckFailure` with a message written for the student on failure. Everything here exists
so that those messages teach: they say what was expected and what was received (a shape, a value,
a relative error) — and, for hidden checks, never the hidden inputs or the reference's outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .calls import OPERATORS, Server, StudentError, describe_type, short
from .harness import AuthorError, Probe, build_probe
from .sandbox import codec
from .timing import CHECK_CPU, paused, wall_backstop


class CheckFailure(Exception):
    """A check failed; ``str(exc)`` is the message shown to the student."""


class NotImplementedYet(CheckFailure):
    """The function still raises NotImplementedError (the untouched stub)."""


class ProcessCrashed(CheckFailure):
    """Calling the function killed the student's process: checking it further would only
    crash again."""


def fmt(x: Any, precision: int = 6) -> str:
    """A short, readable rendering of a value for a message (arrays are summarised)."""
    if isinstance(x, np.ndarray):
        if x.size > 12:
            return f"array of shape {x.shape}"
        text = np.array2string(x, precision=precision, suppress_small=False, separator=", ",
                               max_line_width=10_000)
        return " ".join(text.split())  # one line, even for 2-D arrays
    if isinstance(x, (float, np.floating)) and float(x) == np.e:
        return "np.e"
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.{precision}g}"
    if isinstance(x, tuple):
        return "(" + ", ".join(fmt(v, precision) for v in x) + ("," if len(x) == 1 else "") + ")"
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."


class TimedOut(CheckFailure):
    """A call ran out of its time: the process it ran in starts afresh for the next check."""


class Local:
    """The transport of in-process grading (nbgrader's test cells, ``check --plain``, the
    tests): requests go straight to a :class:`~autograder.calls.Server` on the namespace."""

    generation = 0

    def __init__(self, namespace: dict) -> None:
        self.server = Server(namespace)

    def ready(self) -> int:
        return self.generation

    def exchange(self, header: dict, buffers: list, on_callback=None) -> tuple:
        self.server.channel = on_callback
        try:
            return self.server.handle(header, buffers)
        finally:
            self.server.channel = None


@dataclass(frozen=True)
class StandIn:
    """A function of the grader's (the reference's) that stands in for a graded function of
    the student's while another one is checked (:meth:`Client.request`'s ``bind``)."""

    fn: Callable


class _ProbeAnswers:
    """Answers the student's calls of the request's probes, in the grader. The first call a
    probe refuses (e.g. a finite difference evaluated at a point it should never use) is kept
    as ``violation``: the request fails with it, even if the student's code caught it."""

    def __init__(self, probes: list) -> None:
        self.probes, self.built, self.violation = probes, {}, ""

    def probe(self, index: int) -> Any:
        if not 0 <= index < len(self.probes):
            raise codec.CodecError("unknown probe")
        return self.probes[index]

    def __call__(self, header: dict, buffers: list) -> tuple:
        try:
            index = header.get("probe")
            probe = self.probe(index if type(index) is int else -1)
            args, kwargs = codec.decode(header.get("payload"), buffers)
            if isinstance(probe, StandIn):
                with paused():  # the reference's time is not the student's
                    out = probe.fn(*args, **kwargs)
            else:
                if index not in self.built:
                    self.built[index] = build_probe(probe)
                out = self.built[index](*args, **kwargs)
            tree, bufs = codec.encode(out)
        except codec.CodecError as exc:
            return {"error": f"the test function was called with something it cannot take "
                             f"({exc})"}, []
        except Exception as exc:  # noqa: BLE001 - the probe's verdict on how it was called
            text = f"{type(exc).__name__}: {short(exc)}"
            self.violation = self.violation or text
            return {"error": text}, []
        return {"ok": tree}, bufs


class Client:
    """The grader's end of the protocol (:mod:`autograder.calls`), over a transport: ``Local``,
    or a sandboxed student process (:class:`autograder.sandbox.session.Session`).

    It remembers the handle of every value that came back, so that passing one back sends the
    handle (the student's own object) instead of a copy."""

    def __init__(self, transport, check_cpu: float = CHECK_CPU) -> None:
        self.transport = transport
        self.check_cpu = check_cpu
        self._handles: dict = {}  # id(value) -> (handle, value)
        self._generation = None
        self._forget = False

    def _known(self, x: Any):
        entry = self._handles.get(id(x))
        return entry[0] if entry is not None and entry[1] is x else None

    def _remember(self, x: Any, handle: int) -> None:
        self._handles[id(x)] = (handle, x)

    def end_check(self) -> None:
        """The objects of the check that just ended are no longer needed, on either side."""
        self._handles.clear()
        self._forget = True

    def _sync(self) -> None:
        """Make sure a student process is running; a new one makes old handles meaningless."""
        generation = self.transport.ready()
        if generation != self._generation:
            self._handles.clear()
            self._generation = generation

    def _target(self, target):
        """A graded function's name as is; an object of the student's as its handle."""
        if isinstance(target, str):
            return target
        handle = self._known(target)
        if handle is None:
            raise StudentError("unsendable", "an object from an earlier run of the notebook")
        return handle

    def request(self, op: str, target, args: tuple = (), kwargs: dict | None = None, *,
                attr: str | None = None, copy: bool = False, warnings: bool = False,
                aliases: bool = False, bind: dict | None = None) -> dict:
        """Send one request; return the decoded reply (``out`` and any ``after``, ``warnings``,
        ``aliases``) or raise :class:`~autograder.calls.StudentError`. ``bind`` maps graded
        function names to the grader's functions that stand in for them during the call."""
        self._sync()
        target = self._target(target)
        probes: list = []
        try:
            tree, buffers = codec.encode((tuple(args), dict(kwargs or {})), known=self._known,
                                         probes=probes)
        except codec.CodecError as exc:
            raise StudentError("unsendable", f"an object from an earlier run of the notebook "
                                             f"({exc})") from None
        stand_ins = {}
        for name, fn in (bind or {}).items():
            stand_ins[name] = len(probes)
            probes.append(StandIn(fn))
        header = {"op": op, "target": target, "attr": attr, "payload": tree, "copy": copy,
                  "warnings": warnings, "aliases": aliases, "cpu": self.check_cpu,
                  "wall": wall_backstop(self.check_cpu), "forget": self._forget,
                  "bind": stand_ins}
        self._forget = False
        answer = _ProbeAnswers(probes)
        reply, bufs = self.transport.exchange(header, buffers, answer)
        if answer.violation:
            # Decided here, whatever the student's code did with the exception it was given.
            raise StudentError("exception", answer.violation)
        if "error" in reply:
            raise StudentError(str(reply["error"])[:40], str(reply.get("detail", ""))[:2000])
        try:
            out = codec.decode(reply["ok"], bufs, remember=self._remember,
                               probes=answer.probe)
            if not isinstance(out, dict) or "out" not in out:
                raise codec.CodecError("malformed reply")
        except Exception as exc:  # noqa: BLE001 - anything malformed is the student's
            raise StudentError("unsendable", str(exc)[:300]) from None
        return out

    def batch(self, steps: list) -> list:
        """Run ``steps`` (:class:`Batch`) in one round trip; the list of their results, or
        :class:`~autograder.calls.StudentError` with ``.step`` = the index that failed."""
        self._sync()

        def known(x: Any):
            return -1 - x.index if isinstance(x, Step) else self._known(x)

        targets = [-1 - s.target.index if isinstance(s.target, Step) else self._target(s.target)
                   for s in steps]
        try:
            tree, buffers = codec.encode([tuple(s.args) for s in steps], known=known)
        except codec.CodecError as exc:
            raise StudentError("unsendable", f"an object from an earlier run of the notebook "
                                             f"({exc})") from None
        header = {"op": "batch", "cpu": self.check_cpu, "wall": wall_backstop(self.check_cpu),
                  "forget": self._forget,
                  "steps": [{"op": s.op, "target": t, "attr": s.attr, "args": a}
                            for s, t, a in zip(steps, targets, tree["$l"])]}
        self._forget = False
        reply, bufs = self.transport.exchange(header, buffers, None)
        if "error" in reply:
            err = StudentError(str(reply["error"])[:40], str(reply.get("detail", ""))[:2000])
            step = reply.get("step")
            err.step = step if type(step) is int and 0 <= step < len(steps) else None
            raise err
        try:
            out = codec.decode(reply["ok"], bufs, remember=self._remember)["out"]
            if not isinstance(out, list) or len(out) != len(steps):
                raise codec.CodecError("malformed reply")
        except Exception as exc:  # noqa: BLE001
            raise StudentError("unsendable", str(exc)[:300]) from None
        return out

    def call(self, name: str, args: tuple, kwargs: dict, **options) -> dict:
        """Call a graded function on copies of the grader's inputs (and the student's own
        objects, passed back as they are) and check that none was modified."""
        reply = self.request("call", name, args, kwargs, copy=True, **options)
        after = reply.get("after")
        if not (isinstance(after, tuple) and len(after) == 2
                and same(after[0], tuple(args)) and same(after[1], dict(kwargs))):
            raise StudentError("mutated")
        return reply


@dataclass(frozen=True, eq=False)
class Step:
    """One request of a :class:`Batch`; used as an argument, it stands for its result."""

    index: int
    op: str
    target: Any
    args: tuple
    attr: str | None = None


class Batch:
    """Requests on the student's objects sent together (see :meth:`Context.batch`)::

        b = ctx.batch()
        v = b.new("Value", 2.0)
        w = b.apply("mul", v, v)
        b.method(w, "backward")
        grad = b.attr(v, "grad")
        results = b.run()        # one round trip; results[grad.index] is v.grad
    """

    def __init__(self, ctx: "Context") -> None:
        self.ctx, self.steps = ctx, []

    def _add(self, op: str, target, args: tuple, attr=None) -> Step:
        step = Step(len(self.steps), op, target, tuple(args), attr)
        self.steps.append(step)
        return step

    def new(self, name: str, *args) -> Step:
        return self._add("call", name, args)

    def method(self, obj, name: str, *args) -> Step:
        return self._add("call", obj, args, name)

    def attr(self, obj, name: str) -> Step:
        return self._add("getattr", obj, (), name)

    def apply(self, op: str, *args) -> Step:
        if op not in OPERATORS:
            raise AuthorError(f"no operator {op!r} in autograder.calls.OPERATORS")
        return self._add("apply", op, args)

    def run(self) -> list:
        """The results of every step; :class:`BatchFailure` names the step that failed."""
        try:
            return self.ctx.backend.batch(self.steps)
        except StudentError as err:
            step = getattr(err, "step", None)
            failure = self.ctx._failure(err, "your code", "while being checked", None)
            raise BatchFailure(str(failure), step, err, failure) from None


class BatchFailure(CheckFailure):
    """A step of a batch failed: ``step`` is its index (None if unknown), ``error`` what the
    student's code did, ``failure`` the CheckFailure it stands for (e.g. NotImplementedYet)."""

    def __init__(self, text: str, step, error, failure) -> None:
        super().__init__(text)
        self.step, self.error, self.failure = step, error, failure


@dataclass
class CallResult:
    """What :meth:`Context.call_with` returns: the value, the warnings the call raised (with
    ``warnings=True``) and which returned arrays share memory with an argument (paths such as
    ``out[0][1]`` / ``in[0][0]``, with ``aliases=True``)."""

    out: Any
    warnings: list = field(default_factory=list)
    aliases: list = field(default_factory=list)


@dataclass
class Context:
    """What a check receives.

    ``student`` maps names to the student's objects (in-process grading; the sandboxed grader
    passes a ``backend``: a :class:`Client` of the student's process instead), ``reference``
    (hidden tier only) maps names to the reference solution's objects, ``rng`` is a seeded numpy
    Generator and ``hidden`` says whether inputs must be kept out of messages. Checks reach
    student code only through the methods below (:mod:`autograder.calls`).
    """

    student: dict | None = None
    reference: dict | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    hidden: bool = False
    backend: Any = None
    # Graded functions replaced by the reference while the student's code runs (see
    # GradedFunction.uses); empty where there is no reference (`autograder check`).
    stand_ins: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.backend is None:
            self.backend = Client(Local(self.student if self.student is not None else {}))

    def ref(self, name: str) -> Callable:
        if self.reference is None or name not in self.reference:
            raise RuntimeError(f"reference solution for {name!r} is not available")
        return self.reference[name]

    def call(self, name: str, *args, **kwargs) -> Any:
        """Call the student's function on copies of the inputs; check none was modified.

        Exceptions become a :class:`CheckFailure` naming the exception; for hidden checks the
        arguments are described by shape only.
        """
        return self.call_with(name, args, kwargs).out

    def call_with(self, name: str, args: tuple, kwargs: dict | None = None, *,
                  warnings: bool = False, aliases: bool = False) -> CallResult:
        """:meth:`call`, also reporting the warnings the call raised (NumPy's overflow, divide
        and invalid warnings switched on) and which returned arrays share memory with an
        argument."""
        kwargs = dict(kwargs or {})
        try:
            bind = {n: fn for n, fn in self.stand_ins.items() if n != name}
            reply = self.backend.call(name, tuple(args), kwargs, warnings=warnings,
                                      aliases=aliases, bind=bind)
        except StudentError as err:
            raise self._failure(err, f"`{name}`", self.describe_call(args, kwargs),
                                name) from None
        return CallResult(reply["out"], reply.get("warnings") or [], reply.get("aliases") or [])

    # -- objects the student made (e.g. instances of a notebook's class) ----------------------

    def new(self, name: str, *args) -> Any:
        """``name(*args)`` in the notebook, e.g. ``Value(2.0)``: the object stays there; what
        comes back is a handle to pass to :meth:`method`, :meth:`apply` and :meth:`attr`."""
        return self._object("call", name, args, None, f"`{name}(...)`")

    def method(self, obj: Any, name: str, *args) -> Any:
        """``obj.name(*args)`` on an object the student's code made."""
        return self._object("call", obj, args, name, f"`.{name}()`")

    def attr(self, obj: Any, name: str) -> Any:
        """``obj.name`` of an object the student's code made, as plain data."""
        return self._object("getattr", obj, (), name, f"`.{name}`")

    def apply(self, op: str, *args) -> Any:
        """One of Python's operators (:data:`autograder.calls.OPERATORS`: ``add``, ``sub``,
        ``mul``, ``truediv``, ``pow``, ``neg``) applied to student objects and numbers."""
        if op not in OPERATORS:
            raise AuthorError(f"no operator {op!r} in autograder.calls.OPERATORS")
        return self._object("apply", op, args, None, "an operator")

    def _object(self, op: str, target, args: tuple, attr, who: str) -> Any:
        try:
            return self.backend.request(op, target, args, {}, attr=attr)["out"]
        except StudentError as err:
            raise self._failure(err, who, "while being checked", None) from None

    def batch(self) -> Batch:
        """Several requests on the student's objects in one round trip (:class:`Batch`)."""
        return Batch(self)

    def release(self) -> None:
        """The objects the student's code made so far in this check are no longer needed: the
        student's process lets go of them (e.g. so that they can be garbage-collected)."""
        self.backend.end_check()

    def _failure(self, err: StudentError, who: str, when: str, name: str | None) -> CheckFailure:
        failure = self._failure_of(err, who, when, name)
        failure.student_error = err  # for checks that report the student's exception themselves
        return failure

    def _failure_of(self, err: StudentError, who: str, when: str, name: str | None):
        kind, detail = err.kind, err.detail
        if kind == "missing":
            return CheckFailure(f"{who} is not defined: run the cell that defines it, and keep "
                                f"its name and signature exactly as given.")
        if kind == "not_callable":
            return CheckFailure(f"{who} should be a function but is {detail}.")
        if kind == "not_implemented":
            what = f"{who} is" if name else "this is"
            return NotImplementedYet(f"{what} not implemented yet (it raises "
                                     f"NotImplementedError).")
        if kind == "failure":
            return CheckFailure(detail)
        if kind == "timeout":
            return TimedOut(f"{who} {detail or 'did not finish in time'} {when} (an infinite "
                            f"loop, or a very slow implementation).")
        if kind == "exit":
            return CheckFailure(f"{who} called sys.exit() or exit() {when}.")
        if kind == "recursion":
            return CheckFailure(f"{who} recursed without end (RecursionError) {when}.")
        if kind == "mutated":
            return CheckFailure(f"{who} modified its input in place {when}; functions in this "
                                f"course must leave their arguments unchanged (work on a copy).")
        if kind == "crashed":
            return ProcessCrashed(f"{who} crashed the Python process ({detail}) {when}.")
        if kind == "unsendable":
            return CheckFailure(f"{who} returned something the grader cannot receive ({detail}) "
                                f"{when}.")
        return CheckFailure(f"{who} raised {detail} {when}.")

    def describe_call(self, args: tuple, kwargs: dict) -> str:
        parts = [_describe_arg(a, self.hidden) for a in args]
        parts += [f"{k}={_describe_arg(v, self.hidden)}" for k, v in kwargs.items()]
        return "when called with (" + ", ".join(parts) + ")"


_short = short  # kept for the assignment modules that use it


def _describe_arg(a: Any, hidden: bool, depth: int = 0) -> str:
    if isinstance(a, np.ndarray):
        if hidden or a.size > 12:
            return f"<{a.dtype} array of shape {a.shape}>"
        return fmt(a)
    if hidden and isinstance(a, (float, int, np.number)) and not isinstance(a, bool):
        return f"<{type(a).__name__}>"
    # Containers (e.g. a cache returned by a forward) are described item by item, so that hidden
    # inputs inside them stay hidden and arrays stay on one line.
    if isinstance(a, (tuple, list, dict)) and depth < 2:
        items = list(a.items()) if isinstance(a, dict) else list(enumerate(a))
        parts = [(f"{k!r}: " if isinstance(a, dict) else "") + _describe_arg(v, hidden, depth + 1)
                 for k, v in items[:6]] + (["..."] if len(items) > 6 else [])
        inner = ", ".join(parts)
        if isinstance(a, dict):
            return "{" + inner + "}"
        return f"[{inner}]" if isinstance(a, list) else f"({inner}{',' if len(a) == 1 else ''})"
    plain = isinstance(a, (str, bool, type(None), Probe))
    if isinstance(a, (tuple, list, dict)) or (hidden and not plain):
        return f"<{type(a).__name__}>"
    return fmt(a)


def same(a: Any, b: Any, depth: int = 0) -> bool:
    """Whether ``a`` (an argument after the call) still equals ``b`` (a copy taken before)."""
    if depth > 20:  # a deeply nested or cyclic object: assume unchanged
        return True
    if a is b:  # the student's own object, passed back as it was (or an interned value)
        return True
    if isinstance(a, Probe) and isinstance(b, Probe):
        return a.name == b.name and same(a.params, b.params, depth + 1)
    if isinstance(a, codec.Remote) and isinstance(b, codec.Remote):
        return True  # an object kept in the student's process: the grader cannot look inside
    if isinstance(a, np.random.Generator) and isinstance(b, np.random.Generator):
        return True  # drawing numbers advances a generator's state: that is using it, not misuse
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if type(a).__name__ == "Tensor" and type(b).__name__ == "Tensor":
        import torch

        return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(same(x, y, depth + 1) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], depth + 1) for k in a)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        if bool(a == b):
            return True
    except Exception:  # noqa: BLE001 - e.g. a dataclass holding arrays
        pass
    # Objects without a useful __eq__ (e.g. a cache object a forward returned, deep-copied by
    # the check): compare their attributes.
    if type(a) is type(b) and hasattr(a, "__dict__") and hasattr(b, "__dict__"):
        return same(vars(a), vars(b), depth + 1)
    return False


# ---------------------------------------------------------------------------------------------
# Converting and comparing outputs


def _kind_of(x: Any) -> str:
    """What a returned value is, in a student's words: "a list", "a torch Tensor", ..."""
    if type(x).__name__ == "Tensor" and type(x).__module__.startswith("torch"):
        return "a torch Tensor"
    return describe_type(x)


def returned_array(x: Any, what: str) -> Any:
    """The one rule on what a graded function hands back (COURSE_PLAN: NumPy arrays, float64;
    scalars as Python numbers or NumPy scalars): every check, public or hidden, applies it
    through :func:`as_float_array`, so a list, a tuple or a torch tensor gets the same message
    for every function and every size, and a float32 result is told that it is float32."""
    if isinstance(x, (list, tuple)) or _kind_of(x) == "a torch Tensor":
        how = ("t.detach().numpy()" if _kind_of(x) == "a torch Tensor"
               else "np.array(...) of it, or NumPy operations throughout")
        raise CheckFailure(f"{what} should be a NumPy array, but it is {_kind_of(x)}. "
                           f"Return a NumPy array ({how}): graded functions in this course "
                           f"return NumPy arrays.")
    dtype = getattr(x, "dtype", None)
    if (isinstance(x, (np.ndarray, np.generic)) and dtype.kind == "f"
            and dtype.itemsize < 8):
        raise CheckFailure(f"{what} is {dtype.name}, but the course computes in float64: "
                           f"{dtype.name} keeps only about {np.finfo(dtype).precision} "
                           f"significant digits, too few for these checks. Do not convert to "
                           f"{dtype.name} (dtype=np.{dtype.name}, .astype, torch's .float()).")
    return x


def as_float_array(x: Any, what: str) -> np.ndarray:
    """Convert a returned value to a float64 array, or fail with a message saying what came back."""
    returned_array(x, what)
    if isinstance(x, (str, bytes)) or x is None or isinstance(x, dict):
        raise CheckFailure(f"{what} should be a number or a NumPy array, but it is "
                           f"{describe_type(x)} ({fmt(x)}).")
    try:
        is_complex = np.iscomplexobj(x)
    except Exception:  # noqa: BLE001 - not convertible: reported below
        is_complex = False
    if is_complex:
        # Converting to float64 would silently drop the imaginary part (only a warning).
        raise CheckFailure(f"{what} returned complex numbers ({describe_type(x)}), but the "
                           f"answer is real. A complex value usually comes from a square root "
                           f"or logarithm of a negative number, or from np.fft / "
                           f"np.linalg.eig; return real numbers.")
    try:
        arr = np.array(x, dtype=np.float64)  # a copy: later checks cannot be fooled by aliasing
    except Exception:  # noqa: BLE001
        raise CheckFailure(f"{what} should be a number or a NumPy array, but it is "
                           f"{describe_type(x)} and cannot be converted to one.") from None
    return arr


def single_gradient(got: Any, what: str) -> np.ndarray:
    """A backward of a one-input forward returns dx itself. Only a container holding one
    array is told "not `(dx,)`"; anything else that is not an array (a nested list from
    ``.tolist()``, whatever its size) gets :func:`returned_array`'s message."""
    if (isinstance(got, (tuple, list)) and len(got) == 1
            and not isinstance(got[0], (tuple, list))):
        wrapped = "(dx,)" if isinstance(got, tuple) else "[dx]"
        raise CheckFailure(f"{what} should be the array dx itself, but it is a "
                           f"{type(got).__name__} holding one array: return `dx`, not "
                           f"`{wrapped}`.")
    return as_float_array(got, what)


def as_scalar(x: Any, what: str) -> float:
    arr = as_float_array(x, what)
    if arr.shape != ():
        if arr.size == 1:
            raise CheckFailure(f"{what} should be a scalar (a Python float or a 0-d array), "
                               f"but it has shape {arr.shape}. Use `float(...)` or drop the extra "
                               f"axis.")
        raise CheckFailure(f"{what} should be a scalar, but it has shape {arr.shape}.")
    return float(arr)


def unpack(x: Any, n: int, what: str, names: str) -> tuple:
    """Check that a function returned a tuple of ``n`` things (named in ``names``)."""
    if not isinstance(x, (tuple, list)) or len(x) != n:
        got = (f"a {type(x).__name__} of length {len(x)}" if isinstance(x, (tuple, list))
               else describe_type(x))
        raise CheckFailure(f"{what} should return a tuple {names} of {n} items, but it returned "
                           f"{got}.")
    return tuple(x)


def check_shape(arr: np.ndarray, shape: tuple, what: str, hint: str = "") -> None:
    if arr.shape != tuple(shape):
        raise CheckFailure(f"{what} should have shape {tuple(shape)}, but it has shape "
                           f"{arr.shape}.{(' ' + hint) if hint else ''}")


def compare(got: Any, expected: Any, what: str, *, hidden: bool, rtol: float = 1e-7,
            atol: float = 1e-10, hint: str = "") -> np.ndarray:
    """Compare a returned value with the expected one, elementwise.

    Infinities must match exactly (+inf is part of the contract for cross-entropy and KL); NaN is
    never accepted. For hidden checks the message gives the number of wrong entries and the
    largest error, never the expected values. Returns the value as a float array.
    """
    expected = np.asarray(expected, dtype=np.float64)
    arr = as_float_array(got, what)
    check_shape(arr, expected.shape, what, hint if arr.shape != expected.shape else "")
    bad_nan = np.isnan(arr) & ~np.isnan(expected)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.isclose(arr, expected, rtol=rtol, atol=atol) | (np.isnan(arr) & np.isnan(expected))
    if ok.all():
        return arr
    n_bad, n = int((~ok).sum()), ok.size
    where = "" if n == 1 else f" ({n_bad} of {n} entries wrong)"
    if bad_nan.any():
        detail = (f"it contains NaN{where}. NaN usually comes from 0·log 0, inf − inf or an "
                  f"overflowing exp")
    elif np.isinf(expected[~ok]).any() and not np.isinf(arr[~ok]).all():
        detail = f"it is finite where the exact answer is infinite{where}"
    elif np.isinf(arr[~ok]).any():
        detail = f"it is infinite where the exact answer is finite{where}"
    elif hidden:
        # Relative to the answer's scale only: an absolute error reveals the hidden answer
        # (a student who returned 0 would read |reference| in the message).
        with np.errstate(invalid="ignore", over="ignore"):
            finite = np.abs(expected[np.isfinite(expected)])
            scale = float(finite.max()) if finite.size else 0.0
            err = float(np.abs(arr - expected)[~ok].max())
        detail = (f"values differ{where}: the largest error is {err / scale:.3g} times the "
                  f"largest |entry| of the exact answer (tolerance rtol={rtol:g})"
                  if scale > 0 else f"values differ{where} where the exact values are 0")
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            err = np.abs(arr - expected)[~ok]
            nonzero = expected[~ok] != 0
            rel = err[nonzero] / np.abs(expected[~ok][nonzero])
        # A relative error means nothing where the exact value is 0: then only the absolute one.
        relative = (f", largest relative error {float(rel.max()):.3g}" if rel.size else
                    " where the exact values are 0")
        detail = (f"values differ{where}: largest absolute error {float(err.max()):.3g}"
                  f"{relative} (tolerance rtol={rtol:g}, atol={atol:g})")
    hint = f" {hint}" if hint else ""
    if hidden:
        raise CheckFailure(f"{what} is wrong on a hidden test case: {detail}.{hint}")
    raise CheckFailure(f"{what} is wrong: {detail}.{hint}\n  expected: {fmt(expected)}\n"
                       f"  got:      {fmt(arr)}")


def fmt_array(arr: np.ndarray) -> str:
    """One line of numbers for arrays of up to 25 entries, else just the shape."""
    if arr.size > 25:
        return f"array of shape {arr.shape}"
    text = np.array2string(arr, precision=6, separator=", ", max_line_width=10_000)
    return " ".join(text.split())


def compare_scaled(got, expected, what: str, *, hidden: bool, tol: float, floor: float = 0.0,
                   hint: str = "") -> np.ndarray:
    """Entrywise comparison: |got − expected| ≤ tol · scale, scale = max(floor, max |expected|).

    For matrix-valued answers (gradients, Jacobians) where :func:`compare`'s per-entry
    relative tolerance is too strict for entries that should be 0 but come out as 1e-17.

    The error is reported against that scale, not entry by entry (relative errors of entries
    that should be 0 are meaningless). Hidden messages give only the number of wrong entries
    and the error as a fraction of the scale, so they reveal nothing about the hidden answer.
    """
    expected = np.asarray(expected, dtype=np.float64)
    arr = as_float_array(got, what)
    check_shape(arr, expected.shape, what, hint)
    scale = max(floor, float(np.abs(expected).max()) if expected.size else 0.0) or 1.0
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(arr - expected)
        bad = ~(err <= tol * scale)  # NaN counts as wrong
    if not bad.any():
        return arr
    n_bad, n = int(bad.sum()), bad.size
    where = "" if n == 1 else f" ({n_bad} of {n} entries wrong)"
    unit = ("max(1, largest |entry| of the exact answer)" if floor else
            "the largest |entry| of the exact answer")
    if np.isnan(arr).any():
        detail = (f"it contains NaN{where}; NaN comes from inf − inf, inf/inf or 0/0, e.g. after "
                  f"an exp that overflowed or underflowed")
    elif np.isinf(arr).any():
        detail = f"it contains ±inf{where}, but every entry of the exact answer is finite"
    elif hidden:
        detail = (f"values differ{where}: the largest error is {float(err.max()) / scale:.3g} "
                  f"times {unit} (allowed: {tol:g} times)")
    else:
        detail = (f"values differ{where}: the largest error is {float(err.max()):.3g}, where "
                  f"{tol * scale:.3g} is allowed ({tol:g} × {unit})")
    hint = f" {hint}" if hint else ""
    if hidden:
        raise CheckFailure(f"{what} is wrong on a hidden test case: {detail}.{hint}")
    raise CheckFailure(f"{what} is wrong: {detail}.{hint}\n  expected: {fmt_array(expected)}\n"
                       f"  got:      {fmt_array(arr)}")


def central_difference_grad(f: Callable[[np.ndarray], float], x: np.ndarray,
                            h: float = 1e-6) -> np.ndarray:
    """Gradient of a scalar function by central differences, in float64. Leaves x unchanged."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + h
        fp = f(x.copy())
        x[idx] = old - h
        fm = f(x.copy())
        x[idx] = old
        grad[idx] = (fp - fm) / (2 * h)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a − b| / max(|a| + |b|, tiny): the scale-free error used by gradient checks."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(a) + np.abs(b))), 1e-12))

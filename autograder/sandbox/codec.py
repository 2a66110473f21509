"""The wire format between the grader and a sandboxed student process: plain data only.

Nothing that crosses the boundary is ever unpickled or evaluated. A message is a JSON header
plus raw array buffers; :func:`decode` rebuilds only plain data — base-class NumPy arrays of
numeric or boolean dtype, NumPy scalars, Python numbers, strings, None, tuples, lists, dicts with
string keys — plus three tagged kinds: a probe (a test function of the grader's handed to student
code: only its number crosses, see :class:`ProbeRef`), a
random Generator's state, and a :class:`Remote` handle for anything the student returned that is
not plain data (kept in the student process, usable only by passing it back).

So a student value that "lies" — an ndarray subclass with a custom ``__eq__``, an object equal
to everything — arrives in the grader as its raw numbers or as an opaque handle, and the
comparison with the reference is made on those.

**Values cross by value, objects stay where they were made.** Every array, tensor, tuple, list
and dict a student's function returns crosses as its value *and* a handle (``"$h"``) to the
object itself, which the student's process keeps. When a check passes such a value back (a
forward's cache to the backward, an optimiser's state to its next step), it is sent as the
handle and the student's function receives its own object: a cache that holds a torch graph, a
closure, a generator, an instance of a notebook class or a view of another array works as it
does in Jupyter. Only what a check compares is ever looked at by value.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

MAX_MESSAGE_BYTES = 256 * 2**20  # one message from the grader
MAX_DEPTH = 32
MAX_STR = 100_000
_ARRAY_KINDS = set("biufc")


class CodecError(Exception):
    """A value cannot be sent, or a received message is malformed or too large."""


class ConnectionLost(Exception):
    """The other end closed the connection (the student process died)."""


class WireProbe:
    """Base class of the grader's probes (:class:`autograder.harness.Probe`): a value of this
    type, met while encoding a request, is appended to the request's ``probes`` and crosses as
    its number only. The codec owns the type so that the wire format does not depend on the
    check-author API built on top of it."""

    __slots__ = ()


@dataclass(frozen=True)
class ProbeRef:
    """In the student's process, the ``index``-th probe of the request being answered: a test
    function that stays in the grader (calling it asks the grader, see
    :mod:`autograder.calls`), so its parameters — hidden inputs among them — never cross."""

    index: int

    def __deepcopy__(self, memo):
        return self


@dataclass(frozen=True)
class Remote:
    """An object kept in the student process; ``kind`` is its type name, for messages."""

    id: int
    kind: str

    def __repr__(self) -> str:
        return f"<{self.kind} object>"


# ---------------------------------------------------------------------------------------------
# encoding


def encode(obj: Any, keep: Callable[[Any], int] | None = None,
           known: Callable[[Any], int | None] | None = None,
           probes: list | None = None) -> tuple:
    """``(tree, buffers)``.

    Student side: ``keep(obj) -> id`` stores an object and returns its handle id; every
    container, array and tensor is sent as its value plus its handle, and any other object as a
    handle only. Grader side (no ``keep``): ``known(obj)`` gives the handle of an object that
    came from the student, which is then sent as that handle; other non-data objects are an
    error. A :class:`Probe` is sent as its number in ``probes`` (appended to it)."""
    buffers: list = []

    def enc(x: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise CodecError("value nested too deeply")
        if known is not None and not _atom(x):
            handle = known(x)
            if handle is not None:
                return {"$ref": handle}
        tree = value(x, depth)
        if keep is not None and type(tree) is dict and not _HANDLED.isdisjoint(tree):
            tree["$h"] = keep(x)
        return tree

    def value(x: Any, depth: int) -> Any:
        if x is None or isinstance(x, bool):
            return x
        if type(x) is int:
            if abs(x) < 2**63:
                return x
            if x.bit_length() > 3000:  # str() of it would fail or be huge
                raise CodecError(f"an integer of {x.bit_length()} bits")
            return {"$big": str(x)}
        if type(x) is float:
            return {"$f": repr(x)}  # keeps nan/inf and the exact value
        if type(x) is str:
            if len(x) > MAX_STR:
                x = x[:MAX_STR]
            return {"$str": x}
        if isinstance(x, np.ndarray) or isinstance(x, np.generic):
            arr = np.ndarray.view(np.asarray(x), np.ndarray) if isinstance(x, np.ndarray) \
                else np.asarray(x)
            if arr.dtype.kind in _ARRAY_KINDS:
                buffers.append(arr.tobytes(order="C"))
                tag = "$a" if isinstance(x, np.ndarray) else "$n"
                return {tag: len(buffers) - 1, "dtype": arr.dtype.str, "shape": list(arr.shape)}
        if _is_tensor(x):
            t = x.detach().cpu()
            if t.dtype.is_floating_point and t.dtype.itemsize < 4:  # bfloat16: no NumPy dtype
                t = t.float()
            if t.is_quantized or t.layout != sys.modules["torch"].strided:
                raise CodecError(f"a tensor of dtype {t.dtype} and layout {t.layout}")
            arr = t.numpy()
            if arr.dtype.kind in _ARRAY_KINDS:
                buffers.append(arr.tobytes(order="C"))
                return {"$tensor": len(buffers) - 1, "dtype": arr.dtype.str,
                        "shape": list(arr.shape)}
        if type(x) is tuple:
            return {"$t": [enc(v, depth + 1) for v in x]}
        if type(x) is list:
            return {"$l": [enc(v, depth + 1) for v in x]}
        if type(x) is dict and all(type(k) is str for k in x):
            return {"$d": [[k, enc(v, depth + 1)] for k, v in x.items()]}
        if isinstance(x, WireProbe) and probes is not None:
            probes.append(x)
            return {"$probe": len(probes) - 1}
        if isinstance(x, ProbeRef):
            return {"$probe": x.index}
        if isinstance(x, Remote):
            return {"$ref": x.id}
        if isinstance(x, np.random.Generator) and type(x.bit_generator) is np.random.PCG64:
            return {"$rng": json.dumps(x.bit_generator.state)}
        if keep is None:
            raise CodecError(f"cannot send a {type(x).__name__}")
        return {"$obj": keep(x), "kind": type(x).__name__[:60]}

    return enc(obj, 0), buffers


_HANDLED = frozenset(("$a", "$tensor", "$t", "$l", "$d"))  # sent with a handle too


def _atom(x: Any) -> bool:
    """Values whose identity means nothing (interned, or rebuilt on every decode)."""
    return x is None or type(x) in (bool, int, float, str) or (type(x) is tuple and not x)


def _torch():
    """torch, imported outside any check's time limit if this is its first use here (the
    grading worker imports it up front only for assignments that list it)."""
    if "torch" not in sys.modules:
        from ..timing import paused

        with paused():
            import torch  # noqa: F401
    return sys.modules["torch"]


def _is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


# ---------------------------------------------------------------------------------------------
# decoding


def decode(tree: Any, buffers: list, resolve: Callable[[int], Any] | None = None,
           probes: Callable[[int], Any] | None = None,
           remember: Callable[[Any, int], None] | None = None) -> Any:
    """Rebuild plain data. ``resolve(id)`` maps a handle id back to the kept object (student
    side); without it handles become :class:`Remote` (grader side). ``probes(i)`` gives what a
    probe number stands for (grader side: the request's Probe); without it, a
    :class:`ProbeRef`. ``remember(value, id)`` is told the handle of every
    decoded value that has one (grader side), so that passing it back sends the handle."""

    def array(spec: dict, key: str) -> np.ndarray:
        dtype = np.dtype(str(spec["dtype"]))
        if dtype.kind not in _ARRAY_KINDS:
            raise CodecError("bad dtype")
        shape = tuple(int(s) for s in spec["shape"])
        if any(s < 0 for s in shape):
            raise CodecError("bad shape")
        data = buffers[int(spec[key])]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if count * dtype.itemsize != len(data):
            raise CodecError("array size does not match its shape")
        return np.frombuffer(data, dtype=dtype, count=count).reshape(shape).copy()

    def dec(x: Any, depth: int) -> Any:
        if depth > MAX_DEPTH + 1:
            raise CodecError("message nested too deeply")
        if x is None or isinstance(x, bool) or type(x) is int:
            return x
        if type(x) is not dict or not x:
            raise CodecError("malformed message")
        out = node(x, depth)
        if remember is not None and "$h" in x:
            remember(out, int(x["$h"]))
        return out

    def node(x: dict, depth: int) -> Any:
        if "$f" in x:
            return float(x["$f"])
        if "$str" in x:
            return str(x["$str"])
        if "$big" in x:
            return int(x["$big"])
        if "$a" in x:
            return array(x, "$a")
        if "$n" in x:
            return array(x, "$n")[()]
        if "$tensor" in x:
            return _torch().from_numpy(array(x, "$tensor"))
        if "$t" in x:
            return tuple(dec(v, depth + 1) for v in x["$t"])
        if "$l" in x:
            return [dec(v, depth + 1) for v in x["$l"]]
        if "$d" in x:
            return {str(k): dec(v, depth + 1) for k, v in x["$d"]}
        if "$probe" in x:
            index = x["$probe"]
            if type(index) is not int or index < 0:
                raise CodecError("malformed probe")
            return probes(index) if probes else ProbeRef(index)
        if "$rng" in x:
            g = np.random.Generator(np.random.PCG64())
            g.bit_generator.state = json.loads(x["$rng"])
            return g
        if "$ref" in x:
            if resolve is None:
                raise CodecError("unexpected handle")
            return resolve(int(x["$ref"]))
        if "$obj" in x:
            remote = Remote(int(x["$obj"]), str(x.get("kind", "object"))[:60])
            if remember is not None:
                remember(remote, remote.id)
            return remote
        raise CodecError("unknown tag in message")

    return dec(tree, 0)


# ---------------------------------------------------------------------------------------------
# framing: [u32 header length][header JSON][u32 count][u64 length, bytes]...


def send(sock: socket.socket, header: dict, buffers: list = ()) -> None:
    head = json.dumps(header).encode()
    parts = [struct.pack("!I", len(head)), head, struct.pack("!I", len(buffers))]
    for b in buffers:
        parts += [struct.pack("!Q", len(b)), b]
    total = sum(len(p) for p in parts)
    if total > MAX_MESSAGE_BYTES:
        raise CodecError(f"message of {total / 2**20:.0f} MiB is too large")
    sock.sendall(b"".join(parts))


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise ConnectionLost()
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket, limit: int = MAX_MESSAGE_BYTES) -> tuple:
    """``(header, buffers)``; the socket's timeout, if any, applies to each read. A message
    larger than ``limit`` bytes is refused before it is read (:class:`CodecError`)."""
    (n,) = struct.unpack("!I", _recv_exact(sock, 4))
    if n > limit:
        raise CodecError("message too large")
    try:
        header = json.loads(_recv_exact(sock, n))
    except (ValueError, RecursionError):  # e.g. nested thousands deep: the sender's error
        raise CodecError("malformed header") from None
    (count,) = struct.unpack("!I", _recv_exact(sock, 4))
    if count > 1_000_000:
        raise CodecError("too many buffers")
    buffers, total = [], n
    for _ in range(count):
        (size,) = struct.unpack("!Q", _recv_exact(sock, 8))
        total += size
        if total > limit:
            raise CodecError(f"a reply of more than {limit // 2**20} MiB")
        buffers.append(_recv_exact(sock, size))
    if not isinstance(header, dict):
        raise CodecError("malformed header")
    return header, buffers

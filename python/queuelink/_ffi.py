"""The one module that talks to libqueuelink.so through ctypes.

It loads the library, declares the argument and result types of every
function in include/queuelink.h, turns status codes into exceptions, and
wraps each call in a Python function that takes and returns plain Python
values. The public modules call only these functions and never see ctypes,
except as the opaque handle objects they pass back in.

Conventions of the wrappers:

- Timeouts are in seconds: None blocks, 0 does not wait, a positive number
  waits at most that long. Blocking waits are made of waits of at most
  ``WAIT_SLICE`` seconds, so the main thread can handle a signal such as
  Ctrl-C (KeyboardInterrupt) between two of them.
- A failing status raises the exception that ``error_for_status`` maps it
  to, with the library's own message for the calling thread.
- In a child created by fork(), every wrapper raises RuntimeError before it
  touches the library, because the Go runtime does not survive fork() and a
  call into it there can hang.
- A message's kind and flags travel together as one int, the "packed
  kind": ``kind | flags << FLAGS_SHIFT``. It equals the plain kind for a
  message without flags, which keeps the common path a single comparison.
"""

from __future__ import annotations

import array
import ctypes
import itertools
import os
import queue
import struct
import threading
import time
from ctypes import (
    POINTER,
    byref,
    c_char_p,
    c_double,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Callable, NamedTuple

from . import _constants as c
from . import exceptionhandler as errors
from .contentwrapper import share_spill_file

LIBRARY_ENV = "QUEUELINK_LIBRARY"
LIBRARY_NAME = "libqueuelink.so"

# Upper bound of one blocking call into the library, in seconds.
WAIT_SLICE = 0.05
_WAIT_SLICE_US = int(WAIT_SLICE * 1_000_000)

# Size of the per-thread buffer that ql_queue_get() copies payloads into;
# a larger payload is allocated by the library instead.
GET_BUFFER_SIZE = 64 * 1024

# Packed kinds: the message flags sit above the kind's byte.
KIND_MASK = 0xFF
FLAGS_SHIFT = c.PACKED_FLAGS_SHIFT

FORK_MESSAGE = (
    "queuelink objects cannot be used in a child created by fork(); "
    "use the 'spawn' or 'forkserver' start method"
)


# ---------------------------------------------------------------------------
# Types of the C interface
# ---------------------------------------------------------------------------


class QueueHandle(ctypes.Structure):
    """Opaque ql_queue; only pointers to it exist."""


class LinkHandle(ctypes.Structure):
    """Opaque ql_link; only pointers to it exist."""


class ReaderHandle(ctypes.Structure):
    """Opaque ql_reader; only pointers to it exist."""


class WriterHandle(ctypes.Structure):
    """Opaque ql_writer; only pointers to it exist."""


# Distinct pointer types make ctypes reject a link where a queue is expected.
QueuePointer = POINTER(QueueHandle)
LinkPointer = POINTER(LinkHandle)
ReaderPointer = POINTER(ReaderHandle)
WriterPointer = POINTER(WriterHandle)


class Message(ctypes.Structure):
    """ql_msg: a message that ql_queue_get() fills."""

    _fields_ = [
        ("kind", c_int32),
        ("owned", c_int32),
        ("priority", c_int64),
        ("data", c_void_p),
        ("len", c_size_t),
        ("flags", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
    ]


class ReaderOptions(ctypes.Structure):
    """ql_reader_options: how a reader frames, wraps and spills its input."""

    _fields_ = [
        ("kind", c_int32),
        ("framing", c_int32),
        ("wrap", c_int32),
        ("reserved", c_int32),
        ("wrap_threshold", c_int64),
        ("partial_line_us", c_int64),
        ("spill_dir", c_char_p),
        ("name", c_char_p),
    ]


class SourceMetricsStruct(ctypes.Structure):
    """ql_source_metrics: the metrics of one source's publisher."""

    _fields_ = [
        ("id", c_int64),
        ("count", c_uint64),
        ("data_point_count", c_int64),
        ("mean", c_double),
        ("median", c_double),
        ("stddev", c_double),
    ]


class SourceMetrics(NamedTuple):
    """Metrics of one source's publisher; times are in seconds."""

    id: int
    count: int
    data_point_count: int
    mean: float
    median: float
    stddev: float


# Result type and argument types of every function in queuelink.h.
_PROTOTYPES: dict[str, tuple[object, list[object]]] = {
    "ql_version": (c_int, []),
    "ql_strerror": (c_char_p, [c_int]),
    "ql_errmsg": (c_char_p, []),
    "ql_free": (None, [c_void_p]),
    "ql_log_attach": (c_int, [QueuePointer, c_int]),
    "ql_msg_free": (None, [POINTER(Message)]),
    "ql_queue_new": (c_int, [c_int, c_int64, POINTER(QueuePointer)]),
    "ql_queue_free": (c_int, [QueuePointer]),
    "ql_queue_close": (c_int, [QueuePointer]),
    "ql_queue_put": (c_int, [QueuePointer, c_int, c_void_p, c_size_t, c_int64]),
    "ql_queue_put_priority": (
        c_int,
        [QueuePointer, c_int, c_int64, c_void_p, c_size_t, c_int64],
    ),
    "ql_queue_put_msg": (c_int, [QueuePointer, POINTER(Message), c_int64]),
    "ql_queue_put_batch": (
        c_int,
        [QueuePointer, POINTER(Message), c_size_t, c_int64, POINTER(c_size_t)],
    ),
    "ql_queue_get_batch": (
        c_int,
        [QueuePointer, c_int64, POINTER(Message), c_size_t, c_void_p, c_size_t, POINTER(c_size_t)],
    ),
    "ql_queue_get": (
        c_int,
        [QueuePointer, c_int64, c_void_p, c_size_t, POINTER(Message)],
    ),
    "ql_queue_put_packed": (
        c_int,
        [QueuePointer, c_int, c_void_p, c_void_p, c_size_t, c_int64, POINTER(c_size_t)],
    ),
    "ql_queue_get_packed": (
        c_int,
        [QueuePointer, c_int64, c_void_p, c_size_t, c_void_p, c_void_p, c_size_t, POINTER(c_size_t)],
    ),
    "ql_queue_len": (c_int, [QueuePointer, POINTER(c_int64)]),
    "ql_queue_maxsize": (c_int, [QueuePointer, POINTER(c_int64)]),
    "ql_queue_is_closed": (c_int, [QueuePointer, POINTER(c_int)]),
    "ql_queue_task_done": (c_int, [QueuePointer]),
    "ql_queue_join": (c_int, [QueuePointer, c_int64]),
    "ql_link_new": (c_int, [c_char_p, POINTER(LinkPointer)]),
    "ql_link_free": (c_int, [LinkPointer]),
    "ql_link_register": (
        c_int,
        [LinkPointer, QueuePointer, c_int, POINTER(c_int64)],
    ),
    "ql_link_unregister": (c_int, [LinkPointer, c_int64, c_int]),
    "ql_link_queue": (c_int, [LinkPointer, c_int64, POINTER(QueuePointer)]),
    "ql_link_stop": (c_int, [LinkPointer]),
    "ql_link_is_alive": (c_int, [LinkPointer, POINTER(c_int)]),
    "ql_link_is_empty": (c_int, [LinkPointer, c_int64, POINTER(c_int)]),
    "ql_link_is_drained": (c_int, [LinkPointer, POINTER(c_int)]),
    "ql_link_metrics": (
        c_int,
        [LinkPointer, POINTER(SourceMetricsStruct), c_size_t, POINTER(c_size_t)],
    ),
    "ql_reader_options_init": (c_int, [POINTER(ReaderOptions)]),
    "ql_reader_open_fd": (
        c_int,
        [QueuePointer, c_int, POINTER(ReaderOptions), POINTER(ReaderPointer)],
    ),
    "ql_reader_open_path": (
        c_int,
        [QueuePointer, c_char_p, POINTER(ReaderOptions), POINTER(ReaderPointer)],
    ),
    "ql_reader_new_fd": (c_int, [QueuePointer, c_int, c_int, POINTER(ReaderPointer)]),
    "ql_reader_new_path": (
        c_int,
        [QueuePointer, c_char_p, c_int, POINTER(ReaderPointer)],
    ),
    "ql_reader_free": (c_int, [ReaderPointer]),
    "ql_reader_stop": (c_int, [ReaderPointer]),
    "ql_reader_wait": (c_int, [ReaderPointer, c_int64]),
    "ql_reader_is_alive": (c_int, [ReaderPointer, POINTER(c_int)]),
    "ql_reader_count": (c_int, [ReaderPointer, POINTER(c_uint64)]),
    "ql_writer_new_fd": (c_int, [QueuePointer, c_int, POINTER(WriterPointer)]),
    "ql_writer_new_path": (
        c_int,
        [QueuePointer, c_char_p, c_int, POINTER(WriterPointer)],
    ),
    "ql_writer_free": (c_int, [WriterPointer]),
    "ql_writer_stop": (c_int, [WriterPointer]),
    "ql_writer_wait": (c_int, [WriterPointer, c_int64]),
    "ql_writer_is_alive": (c_int, [WriterPointer, POINTER(c_int)]),
    "ql_writer_count": (c_int, [WriterPointer, POINTER(c_uint64)]),
}


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def _library_path() -> str:
    configured = os.environ.get(LIBRARY_ENV)
    if configured:
        return configured
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), LIBRARY_NAME)


def _load_library(path: str) -> ctypes.CDLL:
    """Load the library at path, declare its functions and check its version."""
    if not os.path.exists(path):
        raise ImportError(
            f"queuelink: the engine library {path} is missing; run `make` in "
            f"the repository root to build it, reinstall the package with "
            f"`pip install ./python` from the repository root, or set "
            f"{LIBRARY_ENV} to the path of a built {LIBRARY_NAME}"
        )
    try:
        # CDLL, unlike PyDLL, releases the GIL for the duration of each call.
        library = ctypes.CDLL(path)
    except OSError as error:
        raise ImportError(
            f"queuelink: failed to load the engine library {path}: {error}; "
            f"run `make` in the repository root to rebuild it"
        ) from error

    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            function = getattr(library, name)
        except AttributeError as error:
            raise ImportError(
                f"queuelink: the engine library {path} has no function {name}; "
                f"it does not match this package, so run `make` in the "
                f"repository root to rebuild it"
            ) from error
        function.restype = restype
        function.argtypes = argtypes

    version = library.ql_version()
    major = version // 10000
    if major != c.VERSION_MAJOR:
        raise ImportError(
            f"queuelink: the engine library {path} has version "
            f"{major}.{version // 100 % 100}.{version % 100}, but this package "
            f"needs major version {c.VERSION_MAJOR}; run `make` in the "
            f"repository root to rebuild it"
        )
    return library


LIBRARY_PATH = _library_path()
lib = _load_library(LIBRARY_PATH)



def _load_gil_holding(names: tuple[str, ...]) -> dict[str, Callable[..., int]]:
    """Return functions of the library that keep the GIL during the call.

    Releasing and taking back the GIL around every call makes two Python
    threads that exchange messages hand the GIL over at each call, which
    costs far more than the call. The put and get paths therefore first
    try a call with a zero timeout that keeps the GIL: it returns at once
    because the engine never waits when the timeout is zero. Only a call
    that has to wait releases the GIL.
    """
    library = ctypes.PyDLL(LIBRARY_PATH)
    functions = {}
    for name in names:
        function = getattr(library, name)
        function.restype, function.argtypes = _PROTOTYPES[name]
        functions[name] = function
    return functions


_gil_holding = _load_gil_holding(
    (
        "ql_queue_put",
        "ql_queue_put_priority",
        "ql_queue_get",
        "ql_msg_free",
        "ql_queue_put_batch",
        "ql_queue_put_packed",
    )
)

# Module-level names save an attribute lookup on the hot paths. The _now
# functions keep the GIL and must only be called with a zero timeout.
_ql_queue_put = lib.ql_queue_put
_ql_queue_put_priority = lib.ql_queue_put_priority
_ql_queue_get = lib.ql_queue_get
_ql_queue_put_now = _gil_holding["ql_queue_put"]
_ql_queue_put_priority_now = _gil_holding["ql_queue_put_priority"]
_ql_queue_get_now = _gil_holding["ql_queue_get"]
_ql_msg_free = _gil_holding["ql_msg_free"]
_ql_queue_put_batch_now = _gil_holding["ql_queue_put_batch"]
_ql_queue_put_packed_now = _gil_holding["ql_queue_put_packed"]
_ql_queue_put_packed = lib.ql_queue_put_packed
_ql_queue_get_packed = lib.ql_queue_get_packed
_string_at = ctypes.string_at
_monotonic = time.monotonic
_ERR_EMPTY = c.ERR_EMPTY
_ERR_FULL = c.ERR_FULL
_ERR_SPACE = c.ERR_SPACE
_KIND_TEXT = c.KIND_TEXT
_KIND_BYTES = c.KIND_BYTES
_INFINITY = float("inf")


# The single put and get paths call through function objects without
# argtypes, with arguments that are ctypes objects already, or bytes and
# small ints. ctypes then skips the per-argument conversion that
# argtypes requires, which costs more than the call into the library.
_unconverted = ctypes.PyDLL(LIBRARY_PATH)
_ql_queue_put_fast = _unconverted.ql_queue_put
_ql_queue_get_fast = _unconverted.ql_queue_get
_NO_WAIT = c_int64(0)
_size_args: dict[int, c_size_t] = {}
_SIZE_ARGS_MAX = 4096


def _size_arg(size: int) -> c_size_t:
    """Return a c_size_t of value size, kept for reuse for the first
    _SIZE_ARGS_MAX sizes seen, since messages tend to repeat their sizes."""
    arg = _size_args.get(size)
    if arg is None:
        arg = c_size_t(size)
        if len(_size_args) < _SIZE_ARGS_MAX:
            _size_args[size] = arg
    return arg


# ---------------------------------------------------------------------------
# Fork safety
# ---------------------------------------------------------------------------

_LOAD_PID = os.getpid()
_forked = False


def _mark_forked() -> None:
    global _forked
    _forked = True


os.register_at_fork(after_in_child=_mark_forked)


def is_forked_child() -> bool:
    """Return True in a child created by fork() after the library was loaded."""
    # The pid check also covers a fork() that did not run the at-fork hooks.
    return _forked or os.getpid() != _LOAD_PID


def _check_process() -> None:
    if _forked:
        raise RuntimeError(FORK_MESSAGE)


# ---------------------------------------------------------------------------
# Status codes
# ---------------------------------------------------------------------------

_ERROR_CLASSES: dict[int, type[Exception]] = {
    c.ERR_INVALID: errors.InvalidArgumentError,
    c.ERR_HANDLE: errors.InvalidHandleError,
    c.ERR_CLOSED: errors.ClosedError,
    c.ERR_TIMEOUT: errors.WaitTimeoutError,
    c.ERR_EXISTS: errors.AlreadyRegisteredError,
    c.ERR_NOT_FOUND: errors.NotRegisteredError,
    c.ERR_IO: errors.EngineIOError,
    c.ERR_STATE: errors.StateError,
    c.ERR_INTERNAL: errors.InternalError,
}


def status_name(status: int) -> str:
    """Return the library's name for a status code."""
    _check_process()
    return lib.ql_strerror(status).decode("utf-8", "replace")


def last_error_message() -> str:
    """Return the message of the last failed call on the calling thread."""
    _check_process()
    return lib.ql_errmsg().decode("utf-8", "replace")


def error_for_status(status: int) -> Exception:
    """Return the exception for a failing status of the last call on this thread.

    EMPTY and FULL give queue.Empty and queue.Full; every other status gives
    the QueueLinkError subclass of exceptionhandler with that ``status``.
    The message is the library's detail from ql_errmsg(), or the status name
    when the library left none.
    """
    message = last_error_message() or status_name(status)
    if status == c.ERR_EMPTY:
        return queue.Empty(message)
    if status == c.ERR_FULL:
        return queue.Full(message)
    error_class = _ERROR_CLASSES.get(status)
    if error_class is None:
        error = errors.QueueLinkError(f"{message} (status {status})")
        error.status = status
        return error
    return error_class(message)


def _check(status: int) -> None:
    if status:
        raise error_for_status(status)


def _run_sliced(call: Callable[[int], int], retry_status: int, timeout: float | None) -> int:
    """Call ``call(timeout_us)`` in slices until it returns another status than
    ``retry_status`` or ``timeout`` seconds have passed, and return the status.
    """
    if timeout is None or timeout == _INFINITY:
        status = call(_WAIT_SLICE_US)
        while status == retry_status:
            status = call(_WAIT_SLICE_US)
        return status
    if timeout <= 0:
        return call(0)

    deadline = _monotonic() + timeout
    while True:
        remaining_us = int((deadline - _monotonic()) * 1_000_000)
        if remaining_us <= 0:
            return call(0)
        status = call(min(remaining_us, _WAIT_SLICE_US))
        if status != retry_status:
            return status


def _batch_put_error(status: int, put: int, count: int) -> Exception:
    """Return the exception for a batch put that ended with status after
    putting put of count items; its message gives that count."""
    if status == _ERR_FULL:
        return queue.Full(f"{put} of {count} items were put before the queue stayed full")
    error = error_for_status(status)
    if status == c.ERR_CLOSED and put:
        error = errors.ClosedError(f"{error} ({put} of {count} items were put before it closed)")
    return error


def _put_in_slices(
    put_rest: Callable[[int, int], tuple[int, int]], put: int, count: int, timeout: float | None
) -> tuple[int, int]:
    """Finish a batch put that found the queue full, releasing the GIL.

    ``put_rest(first, timeout_us)`` puts the items from index first on with a blocking call
    and returns its status and how many it put. A call that ends with FULL
    may have put some, so each slice starts after the last item put. Returns
    the last status and the number of items put in all.
    """
    deadline = None if timeout is None or timeout == _INFINITY else _monotonic() + timeout
    while True:
        if deadline is None:
            slice_us = _WAIT_SLICE_US
        else:
            slice_us = max(0, min(int((deadline - _monotonic()) * 1_000_000), _WAIT_SLICE_US))
        status, done = put_rest(put, slice_us)
        put += done
        if status != _ERR_FULL or put >= count or slice_us == 0:
            return status, put


# ---------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------


def log_attach(queue_handle: QueuePointer | None, level: int) -> None:
    """Send the engine's log records at or above level to the queue as text
    messages "LEVEL\tLOGGER\tMESSAGE"; None stops them."""
    _check_process()
    _check(lib.ql_log_attach(queue_handle, level))


# ---------------------------------------------------------------------------
# Queues
# ---------------------------------------------------------------------------


class _GetSlot(NamedTuple):
    buffer: ctypes.Array
    capacity: int
    view: memoryview
    message: Message
    message_ref: object
    capacity_arg: c_size_t


_thread_state = threading.local()


def _new_get_slot() -> _GetSlot:
    buffer = ctypes.create_string_buffer(GET_BUFFER_SIZE)
    message = Message()
    slot = _GetSlot(
        buffer, GET_BUFFER_SIZE, memoryview(buffer).cast("B"), message, byref(message), c_size_t(GET_BUFFER_SIZE)
    )
    _thread_state.slot = slot
    return slot


def queue_new(order: int, maxsize: int) -> QueuePointer:
    """Create a queue with an ORDER_* order; maxsize <= 0 makes it unbounded."""
    _check_process()
    out = QueuePointer()
    _check(lib.ql_queue_new(order, maxsize, byref(out)))
    return out


def queue_free(handle: QueuePointer) -> None:
    """Close the queue and free the handle."""
    _check_process()
    _check(lib.ql_queue_free(handle))


def queue_close(handle: QueuePointer) -> None:
    """Close the queue: puts fail, gets drain what is left and then fail."""
    _check_process()
    _check(lib.ql_queue_close(handle))


def queue_put(
    handle: QueuePointer,
    kind: int,
    payload: bytes,
    timeout: float | None,
    priority: int | None = None,
) -> None:
    """Put a copy of payload, raising queue.Full when timeout passes first.

    kind may be a packed kind with flags (see put_message).
    """
    if _forked:
        raise RuntimeError(FORK_MESSAGE)
    if kind > KIND_MASK:
        put_message(handle, kind, payload, timeout, priority)
        return
    size = len(payload)

    if priority is None:
        status = _ql_queue_put_now(handle, kind, payload, size, 0)
        if status == _ERR_FULL and timeout != 0:
            status = _run_sliced(
                lambda timeout_us: _ql_queue_put(handle, kind, payload, size, timeout_us),
                _ERR_FULL,
                timeout,
            )
    else:
        status = _ql_queue_put_priority_now(handle, kind, priority, payload, size, 0)
        if status == _ERR_FULL and timeout != 0:
            status = _run_sliced(
                lambda timeout_us: _ql_queue_put_priority(
                    handle, kind, priority, payload, size, timeout_us
                ),
                _ERR_FULL,
                timeout,
            )

    if status:
        raise error_for_status(status)


def try_put(handle: QueuePointer, kind: int, payload: bytes) -> int:
    """Put a copy of payload with a plain kind if the queue has room now,
    keeping the GIL, and return the status (0 when it was put).

    A nonzero status means nothing was put, so the caller can go on with
    queue_put(), which waits and raises.
    """
    if _forked:
        raise RuntimeError(FORK_MESSAGE)
    return _ql_queue_put_fast(handle, kind, payload, _size_arg(len(payload)), _NO_WAIT)


_MISSING = object()


def try_get(handle: QueuePointer) -> object:
    """Take the next message if there is one now, keeping the GIL.

    Returns the item for a text or bytes message in the per-thread buffer.
    Returns _MISSING when nothing was taken (the queue is empty or closed,
    or the handle is invalid), so the caller goes on with queue_get(),
    which waits and raises. Returns _TAKEN for any other message, which
    take_slot_message() then hands over.
    """
    if _forked:
        raise RuntimeError(FORK_MESSAGE)
    try:
        slot = _thread_state.slot
    except AttributeError:
        slot = _new_get_slot()
    if _ql_queue_get_fast(handle, _NO_WAIT, slot.buffer, slot.capacity_arg, slot.message_ref):
        return _MISSING
    message = slot.message
    if message.flags or message.owned:
        return _TAKEN
    kind = message.kind
    if kind == _KIND_TEXT:
        return str(slot.view[: message.len], "utf-8", "surrogateescape")
    if kind == _KIND_BYTES:
        return slot.view[: message.len].tobytes()
    return _TAKEN


# try_get() returns _TAKEN for a message it took but did not decode.
_TAKEN = object()


def take_slot_message() -> tuple[int, bytes]:
    """Return the packed kind and payload of the message that try_get()
    took on this thread and left in its slot, and release it."""
    slot = _thread_state.slot
    message = slot.message
    if message.flags:
        return _take_flagged(slot)
    length = message.len
    if not message.owned:
        return message.kind, slot.view[:length].tobytes()
    try:
        return message.kind, _string_at(message.data, length)
    finally:
        _ql_msg_free(slot.message_ref)


def put_message(
    handle: QueuePointer,
    packed_kind: int,
    payload: bytes,
    timeout: float | None,
    priority: int | None = None,
) -> None:
    """Put a message with flags, given as a packed kind, with ql_queue_put_msg().

    With MSG_SPILLED, payload is the path of a spill file that the caller
    keeps: the queue receives a new hard link to it, made for this call
    and removed again if the put fails. So a caller may retry with the
    same payload.
    """
    _check_process()
    flags = packed_kind >> FLAGS_SHIFT
    if flags & c.MSG_SPILLED:
        payload = os.fsencode(share_spill_file(os.fsdecode(payload)))
    # The c_char_p keeps payload's buffer referenced for the calls below.
    data = ctypes.c_char_p(payload)
    message = Message(
        kind=packed_kind & KIND_MASK,
        priority=0 if priority is None else priority,
        data=ctypes.cast(data, c_void_p),
        len=len(payload),
        flags=flags,
    )
    status = _run_sliced(
        lambda timeout_us: lib.ql_queue_put_msg(handle, byref(message), timeout_us),
        _ERR_FULL,
        timeout,
    )
    if status:
        if flags & c.MSG_SPILLED:
            try:
                os.remove(os.fsdecode(payload))
            except FileNotFoundError:
                pass
        raise error_for_status(status)


def _take_flagged(slot: _GetSlot) -> tuple[int, bytes]:
    """Return the packed kind and payload of a message with flags, and
    release it. A spilled message's file passes to the caller."""
    message = slot.message
    kind, flags, length = message.kind, message.flags, message.len
    if message.owned:
        payload = _string_at(message.data, length)
    else:
        payload = slot.view[:length].tobytes()
    # ql_msg_free() would remove the spill file, which now belongs to the caller.
    message.flags = 0
    if message.owned:
        _ql_msg_free(slot.message_ref)
    return kind | flags << FLAGS_SHIFT, payload


def queue_get(handle: QueuePointer, timeout: float | None) -> tuple[int, bytes]:
    """Take the next message and return its kind and payload.

    A message with flags returns a packed kind (see put_message). When it
    has MSG_SPILLED, the payload is the path of its spill file, which the
    caller then owns and must remove.

    Raises queue.Empty when timeout passes first, and ClosedError when the
    queue is closed and empty.
    """
    if _forked:
        raise RuntimeError(FORK_MESSAGE)
    try:
        slot = _thread_state.slot
    except AttributeError:
        slot = _new_get_slot()
    buffer, capacity, view, message, message_ref, _ = slot

    status = _ql_queue_get_now(handle, 0, buffer, capacity, message_ref)
    if status != _ERR_EMPTY or timeout == 0:
        pass
    elif timeout is None:
        status = _ql_queue_get(handle, _WAIT_SLICE_US, buffer, capacity, message_ref)
        while status == _ERR_EMPTY:
            status = _ql_queue_get(handle, _WAIT_SLICE_US, buffer, capacity, message_ref)
    else:
        status = _run_sliced(
            lambda timeout_us: _ql_queue_get(handle, timeout_us, buffer, capacity, message_ref),
            _ERR_EMPTY,
            timeout,
        )
    if status:
        raise error_for_status(status)

    if message.flags:
        return _take_flagged(slot)
    # ql_msg_free() releases only a payload that the library allocated, so
    # a payload in the caller's buffer needs no call.
    length = message.len
    if not message.owned:
        return message.kind, view[:length].tobytes()
    try:
        return message.kind, _string_at(message.data, length)
    finally:
        _ql_msg_free(message_ref)


# Batches: the packed layout of ql_msg, for building an array of messages
# quickly.
_MESSAGE_LAYOUT = struct.Struct("=iiqQQII")
assert _MESSAGE_LAYOUT.size == ctypes.sizeof(Message)

# Most messages one get_many() call takes, and the size of the per-thread
# buffer their payloads are packed into. A larger payload comes alone,
# through queue_get().
BATCH_MAX = 1024
BATCH_BUFFER_SIZE = 1024 * 1024


def queue_put_batch(
    handle: QueuePointer,
    kind_payloads: list[tuple[int, bytes]],
    timeout: float | None,
    priorities: list[int] | None = None,
) -> None:
    """Put (packed kind, payload) pairs in order with ql_queue_put_batch(),
    with the given priorities (0 where None).

    Raises queue.Full, with the count put so far in its message, when the
    timeout passes before all were put. Messages with flags go one by one
    through put_message(), since a spill file needs a link of its own.
    """
    if _forked:
        raise RuntimeError(FORK_MESSAGE)
    count = len(kind_payloads)
    if count == 0:
        return
    if priorities is None:
        priorities = [0] * count
    if any(kind > KIND_MASK for kind, _ in kind_payloads):
        for (kind, payload), priority in zip(kind_payloads, priorities):
            queue_put(handle, kind, payload, timeout, priority)
        return

    # One buffer holds every payload; the messages point into it. The
    # loops run in C (map, accumulate), which matters at a million items.
    kinds, payloads = zip(*kind_payloads)
    joined = b"".join(payloads)
    keep = ctypes.c_char_p(joined)
    address = ctypes.cast(keep, c_void_p).value or 0
    sizes = list(map(len, payloads))
    addresses = itertools.accumulate(sizes[:-1], initial=address)
    zero = itertools.repeat(0)
    packed = bytearray(
        b"".join(map(_MESSAGE_LAYOUT.pack, kinds, zero, priorities, addresses, sizes, zero, zero))
    )
    messages = (Message * count).from_buffer(packed)

    done = c_size_t()
    status = _ql_queue_put_batch_now(handle, messages, count, 0, byref(done))
    put = done.value
    if status == _ERR_FULL and timeout != 0:
        base = ctypes.addressof(messages)

        def put_rest(first: int, timeout_us: int) -> tuple[int, int]:
            rest = ctypes.cast(base + first * _MESSAGE_LAYOUT.size, POINTER(Message))
            status = lib.ql_queue_put_batch(handle, rest, count - first, timeout_us, byref(done))
            return status, done.value

        status, put = _put_in_slices(put_rest, put, count, timeout)
    del keep
    if status:
        raise _batch_put_error(status, put, count)


def queue_put_packed(handle: QueuePointer, kind: int, data: bytes, lengths: array.array, timeout: float | None) -> None:
    """Put len(lengths) messages of one kind whose payloads lie back to back
    in data, with ql_queue_put_packed(). lengths is an array of typecode 'Q'.

    Raises queue.Full, with the count put so far in its message, when the
    timeout passes before all were put.
    """
    if _forked:
        raise RuntimeError(FORK_MESSAGE)
    count = len(lengths)
    if count == 0:
        return
    address = lengths.buffer_info()[0]
    done = c_size_t()
    status = _ql_queue_put_packed_now(handle, kind, data, address, count, 0, byref(done))
    put = done.value
    if status == _ERR_FULL and timeout != 0:
        # data stays referenced below, so its buffer stays where it is.
        data_address = ctypes.cast(c_char_p(data), c_void_p).value or 0
        offsets = list(itertools.accumulate(lengths, initial=0))

        def put_rest(first: int, timeout_us: int) -> tuple[int, int]:
            status = _ql_queue_put_packed(
                handle,
                kind,
                data_address + offsets[first],
                address + first * lengths.itemsize,
                count - first,
                timeout_us,
                byref(done),
            )
            return status, done.value

        status, put = _put_in_slices(put_rest, put, count, timeout)
    if status:
        raise _batch_put_error(status, put, count)


class _PackedSlot(NamedTuple):
    buffer: ctypes.Array
    buffer_view: memoryview
    buffer_size_arg: c_size_t
    lengths: ctypes.Array
    kinds: ctypes.Array
    lengths_view: memoryview
    kinds_view: memoryview
    count: c_size_t
    count_ref: object


def _new_packed_slot() -> _PackedSlot:
    buffer = ctypes.create_string_buffer(BATCH_BUFFER_SIZE)
    lengths = (c_uint64 * BATCH_MAX)()
    kinds = (c_uint32 * BATCH_MAX)()
    count = c_size_t()
    slot = _PackedSlot(
        buffer,
        memoryview(buffer).cast("B"),
        c_size_t(BATCH_BUFFER_SIZE),
        lengths,
        kinds,
        memoryview(lengths).cast("B").cast("Q"),
        memoryview(kinds).cast("B").cast("I"),
        count,
        byref(count),
    )
    _thread_state.packed = slot
    return slot


_ql_queue_get_packed_fast = _unconverted.ql_queue_get_packed


def queue_get_packed(
    handle: QueuePointer, max_items: int, timeout: float | None
) -> tuple[bytes, list[int], list[int]]:
    """Take up to max_items messages with ql_queue_get_packed(), waiting at
    most timeout for the first, and return their payloads back to back,
    their lengths and their packed kinds.

    A message larger than the per-thread buffer comes alone, through
    queue_get(). Raises queue.Empty when none arrived in time, and
    ClosedError when the queue is closed and empty.
    """
    if _forked:
        raise RuntimeError(FORK_MESSAGE)
    try:
        slot = _thread_state.packed
    except AttributeError:
        slot = _new_packed_slot()
    buffer, buffer_view, buffer_size_arg, lengths, kinds, lengths_view, kinds_view, count, count_ref = slot
    limit = min(max_items, BATCH_MAX)

    status = _ql_queue_get_packed_fast(
        handle, _NO_WAIT, buffer, buffer_size_arg, lengths, kinds, _size_arg(limit), count_ref
    )
    if status == _ERR_EMPTY and timeout != 0:
        status = _run_sliced(
            lambda timeout_us: _ql_queue_get_packed(
                handle, timeout_us, buffer, BATCH_BUFFER_SIZE, lengths, kinds, limit, count_ref
            ),
            _ERR_EMPTY,
            timeout,
        )
    if status == _ERR_SPACE:
        kind, payload = queue_get(handle, timeout)
        return payload, [len(payload)], [kind]
    if status:
        raise error_for_status(status)

    n = count.value
    sizes = lengths_view[:n].tolist()
    return buffer_view[: sum(sizes)].tobytes(), sizes, kinds_view[:n].tolist()


def queue_pointer(handle: object) -> QueuePointer:
    """Return handle, a ql_queue address as an int or a ctypes pointer, as a
    QueuePointer."""
    if isinstance(handle, QueuePointer):
        return handle
    if isinstance(handle, int):
        if handle <= 0:
            raise ValueError(f"queue handle address {handle} is invalid; pass a ql_queue pointer")
        return ctypes.cast(c_void_p(handle), QueuePointer)
    if isinstance(handle, (ctypes._Pointer, c_void_p)):
        return ctypes.cast(handle, QueuePointer)
    raise TypeError(f"a queue handle is an int address or a ctypes pointer, not {type(handle).__name__}")


def queue_len(handle: QueuePointer) -> int:
    """Return the number of messages the queue holds."""
    _check_process()
    out = c_int64()
    _check(lib.ql_queue_len(handle, byref(out)))
    return out.value


def queue_maxsize(handle: QueuePointer) -> int:
    """Return the queue's bound, 0 when unbounded."""
    _check_process()
    out = c_int64()
    _check(lib.ql_queue_maxsize(handle, byref(out)))
    return out.value


def queue_is_closed(handle: QueuePointer) -> bool:
    """Return True when the queue is closed."""
    _check_process()
    out = c_int()
    _check(lib.ql_queue_is_closed(handle, byref(out)))
    return bool(out.value)


def queue_task_done(handle: QueuePointer) -> None:
    """Mark one message taken from the queue as processed."""
    _check_process()
    _check(lib.ql_queue_task_done(handle))


def queue_join(handle: QueuePointer, timeout: float | None) -> bool:
    """Wait until every message put was marked done; False when timeout passes."""
    _check_process()
    status = _run_sliced(
        lambda timeout_us: lib.ql_queue_join(handle, timeout_us), c.ERR_TIMEOUT, timeout
    )
    if status == c.ERR_TIMEOUT:
        return False
    _check(status)
    return True


# ---------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------


def link_new(name: str | None) -> LinkPointer:
    """Create a link with no queues; name labels it in the engine's messages."""
    _check_process()
    out = LinkPointer()
    encoded = None if name is None else name.encode("utf-8", "surrogateescape")
    _check(lib.ql_link_new(encoded, byref(out)))
    return out


def link_free(handle: LinkPointer) -> None:
    """Stop the link and free the handle; its queues stay open."""
    _check_process()
    _check(lib.ql_link_free(handle))


def link_register(handle: LinkPointer, queue_handle: QueuePointer, direction: int) -> int:
    """Register a queue as SOURCE or DESTINATION and return its id."""
    _check_process()
    out = c_int64()
    _check(lib.ql_link_register(handle, queue_handle, direction, byref(out)))
    return out.value


def link_unregister(handle: LinkPointer, queue_id: int, direction: int) -> None:
    """Detach the queue with that id from that direction."""
    _check_process()
    _check(lib.ql_link_unregister(handle, queue_id, direction))


def link_stop(handle: LinkPointer) -> None:
    """Stop every publisher and wait for them to end."""
    _check_process()
    _check(lib.ql_link_stop(handle))


def link_is_alive(handle: LinkPointer) -> bool:
    """Return True when every source has a running publisher.

    Raises StateError when no publisher was ever started.
    """
    _check_process()
    out = c_int()
    _check(lib.ql_link_is_alive(handle, byref(out)))
    return bool(out.value)


def link_is_empty(handle: LinkPointer, queue_id: int) -> bool:
    """Return True when the queues checked are empty and no publisher is
    moving a message. queue_id 0 checks every queue, and another id checks
    that queue and every source."""
    _check_process()
    out = c_int()
    _check(lib.ql_link_is_empty(handle, queue_id, byref(out)))
    return bool(out.value)


def link_is_drained(handle: LinkPointer) -> bool:
    """Return False before the first start, else link_is_empty(handle, 0)."""
    _check_process()
    out = c_int()
    _check(lib.ql_link_is_drained(handle, byref(out)))
    return bool(out.value)


def link_metrics(handle: LinkPointer) -> list[SourceMetrics]:
    """Return the metrics of every source's publisher, in id order."""
    _check_process()
    count = c_size_t()
    _check(lib.ql_link_metrics(handle, None, 0, byref(count)))
    while True:
        capacity = count.value
        array = (SourceMetricsStruct * capacity)() if capacity else None
        _check(lib.ql_link_metrics(handle, array, capacity, byref(count)))
        # A source registered between the two calls makes count larger.
        if count.value <= capacity:
            break
    return [
        SourceMetrics(m.id, m.count, m.data_point_count, m.mean, m.median, m.stddev)
        for m in (array[: count.value] if array is not None else [])
    ]


# ---------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------


def reader_new_fd(queue_handle: QueuePointer, fd: int, kind: int) -> ReaderPointer:
    """Start a reader that puts each line read from fd on the queue."""
    _check_process()
    out = ReaderPointer()
    _check(lib.ql_reader_new_fd(queue_handle, fd, kind, byref(out)))
    return out


def reader_options(
    *,
    kind: int,
    framing: int = c.FRAME_LINES,
    wrap: int = c.WRAP_NEVER,
    wrap_threshold: int = 0,
    partial_line_us: int = 0,
    spill_dir: bytes | None = None,
    name: str | None = None,
) -> ReaderOptions:
    """Return ql_reader_options with the given fields and defaults for the rest.

    wrap_threshold 0 means the engine's default of 16384 bytes, and
    partial_line_us 0 waits for the newline. spill_dir None means the
    system's temporary directory.
    """
    _check_process()
    options = ReaderOptions()
    _check(lib.ql_reader_options_init(byref(options)))
    options.kind = kind
    options.framing = framing
    options.wrap = wrap
    options.wrap_threshold = wrap_threshold
    options.partial_line_us = partial_line_us
    options.spill_dir = spill_dir
    options.name = None if name is None else name.encode("utf-8", "surrogateescape")
    return options


def reader_open_fd(queue_handle: QueuePointer, fd: int, options: ReaderOptions) -> ReaderPointer:
    """Start a reader of fd into the queue with the given options."""
    _check_process()
    out = ReaderPointer()
    _check(lib.ql_reader_open_fd(queue_handle, fd, byref(options), byref(out)))
    return out


def reader_open_path(queue_handle: QueuePointer, path: bytes, options: ReaderOptions) -> ReaderPointer:
    """Start a reader that opens path, with the given options."""
    _check_process()
    out = ReaderPointer()
    _check(lib.ql_reader_open_path(queue_handle, path, byref(options), byref(out)))
    return out


def reader_new_path(queue_handle: QueuePointer, path: bytes, kind: int) -> ReaderPointer:
    """Start a reader that opens path and puts each line on the queue."""
    _check_process()
    out = ReaderPointer()
    _check(lib.ql_reader_new_path(queue_handle, path, kind, byref(out)))
    return out


def reader_free(handle: ReaderPointer) -> None:
    """Stop the reader and free the handle."""
    _check_process()
    _check(lib.ql_reader_free(handle))


def reader_stop(handle: ReaderPointer) -> None:
    """Stop the reader and wait for it to end."""
    _check_process()
    _check(lib.ql_reader_stop(handle))


def reader_wait(handle: ReaderPointer, timeout: float | None) -> int:
    """Wait for the reader to end and return the status it ended with, or
    ERR_TIMEOUT when it still runs after timeout seconds."""
    _check_process()
    return _run_sliced(
        lambda timeout_us: lib.ql_reader_wait(handle, timeout_us), c.ERR_TIMEOUT, timeout
    )


def reader_is_alive(handle: ReaderPointer) -> bool:
    """Return True while the reader runs."""
    _check_process()
    out = c_int()
    _check(lib.ql_reader_is_alive(handle, byref(out)))
    return bool(out.value)


def reader_count(handle: ReaderPointer) -> int:
    """Return the number of messages the reader has put."""
    _check_process()
    out = c_uint64()
    _check(lib.ql_reader_count(handle, byref(out)))
    return out.value


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------


def writer_new_fd(queue_handle: QueuePointer, fd: int) -> WriterPointer:
    """Start a writer that writes every message of the queue to fd."""
    _check_process()
    out = WriterPointer()
    _check(lib.ql_writer_new_fd(queue_handle, fd, byref(out)))
    return out


def writer_new_path(queue_handle: QueuePointer, path: bytes, mode: int) -> WriterPointer:
    """Start a writer to path, opened with a WRITE_* mode on the first message."""
    _check_process()
    out = WriterPointer()
    _check(lib.ql_writer_new_path(queue_handle, path, mode, byref(out)))
    return out


def writer_free(handle: WriterPointer) -> None:
    """Stop the writer and free the handle."""
    _check_process()
    _check(lib.ql_writer_free(handle))


def writer_stop(handle: WriterPointer) -> None:
    """Stop the writer once it has written its current message and flushed."""
    _check_process()
    _check(lib.ql_writer_stop(handle))


def writer_wait(handle: WriterPointer, timeout: float | None) -> int:
    """Wait for the writer to end and return the status it ended with, or
    ERR_TIMEOUT when it still runs after timeout seconds."""
    _check_process()
    return _run_sliced(
        lambda timeout_us: lib.ql_writer_wait(handle, timeout_us), c.ERR_TIMEOUT, timeout
    )


def writer_is_alive(handle: WriterPointer) -> bool:
    """Return True while the writer runs."""
    _check_process()
    out = c_int()
    _check(lib.ql_writer_is_alive(handle, byref(out)))
    return bool(out.value)


def writer_count(handle: WriterPointer) -> int:
    """Return the number of messages the writer has written."""
    _check_process()
    out = c_uint64()
    _check(lib.ql_writer_count(handle, byref(out)))
    return out.value

"""Shared parts of readers and writers: handle checks, queues, state and logging."""

from __future__ import annotations

import codecs
import io
import itertools
import logging
import os
import queue as _queue
import threading
import time
from typing import Any

from . import _constants, _ffi
from ._handle import HandleOwner
from .common import validate_start_method
from .exceptionhandler import ClosedError, HandleAlreadySet, HandleNotSet
from .queues import is_engine_queue

# How long closing an adapter waits for its bridge to pass on the messages
# it took, in seconds.
BRIDGE_DRAIN_TIMEOUT = 5.0
_DRAIN_POLL_INTERVAL = 0.01

_adapter_numbers = itertools.count(1)

# Encodings whose text is UTF-8 byte for byte, as the engine reads and writes it.
_UTF8_COMPATIBLE = {"utf-8", "ascii"}


def is_path(obj: object) -> bool:
    """Return True for a str, bytes or os.PathLike path."""
    return isinstance(obj, (str, bytes, os.PathLike))


def encode_path(path: Any) -> bytes:
    """Return a path as bytes for the engine; raise ValueError if it has a NUL."""
    encoded = os.fsencode(path)
    if b"\0" in encoded:
        raise ValueError(f"path {path!r} contains a NUL byte")
    if not encoded:
        raise ValueError("path is empty")
    return encoded


def is_connection(obj: object) -> bool:
    """Return True for a multiprocessing.connection.Connection."""
    # Imported here because multiprocessing.connection is rarely needed.
    from multiprocessing.connection import Connection

    return isinstance(obj, Connection)


def describe_type(obj: object) -> str:
    """Return the qualified type name of obj, for messages."""
    obj_type = type(obj)
    if obj_type.__module__ == "builtins":
        return obj_type.__qualname__
    return f"{obj_type.__module__}.{obj_type.__qualname__}"


def file_descriptor(handle: Any, role: str) -> int:
    """Return the file descriptor of an open file object.

    Raises TypeError when the object has no file descriptor (io.StringIO,
    io.BytesIO) and ValueError when the file is closed.
    """
    try:
        fileno = handle.fileno
    except AttributeError:
        raise TypeError(
            f"{role} {describe_type(handle)} has no fileno(); pass an open file, "
            f"a pipe, a file descriptor or a path"
        ) from None
    try:
        return fileno()
    except io.UnsupportedOperation:
        raise TypeError(
            f"{role} {describe_type(handle)} has no file descriptor; pass a file "
            f"opened on disk, a pipe, a file descriptor or a path"
        ) from None
    except ValueError as error:
        raise ValueError(f"{role} {describe_type(handle)} is closed: {error}") from None


def check_text_encoding(handle: Any, role: str) -> None:
    """Raise ValueError unless a text handle encodes as UTF-8, like the engine."""
    encoding = getattr(handle, "encoding", None)
    if encoding is None:
        return
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        name = encoding
    if name not in _UTF8_COMPATIBLE:
        raise ValueError(
            f"{role} is a text handle with encoding {encoding!r}, but the engine "
            f"reads and writes text as UTF-8; open it with encoding='utf-8' or "
            f"in binary mode"
        )


def _close_internal_queue(internal: Any) -> None:
    """Drop what is left in an internal queue, then close it.

    Taking the items first removes the spill files of spilled lines now.
    The engine removes those of a freed queue only when Go's garbage
    collector frees it.
    """
    while True:
        try:
            internal.get(block=False)
        except (_queue.Empty, ClosedError):
            break
    internal.close()


def check_queue(queue_obj: Any, role: str) -> Any:
    """Return queue_obj if adapters accept it as their queue, else raise TypeError.

    Accepted are queuelink's own queues and the standard-library and
    multiprocessing queues that queuelink._bridge connects to the engine.
    role names what the queue is for in the message.
    """
    if is_engine_queue(queue_obj):
        return queue_obj
    from . import _bridge

    if _bridge.is_foreign_queue(queue_obj):
        return queue_obj
    raise TypeError(
        f"{role} must be a queuelink queue (queuelink.Queue, LifoQueue, "
        f"PriorityQueue, JoinableQueue or SimpleQueue), a queue of the queue "
        f"or multiprocessing module, or a Manager() queue, not {describe_type(queue_obj)}"
    )


class HandleAdapter(HandleOwner):
    """Base class of QueueHandleAdapterReader and QueueHandleAdapterWriter.

    The engine handle exists from set_handle() on; the adapter starts
    moving messages at that moment. The engine reads and writes engine
    queues only. So for a standard-library or multiprocessing queue the
    adapter works on an internal engine queue that a bridge connects to
    the caller's queue, and the bridge starts with set_handle() too.
    """

    def __init__(
        self,
        queue: Any,
        *,
        name: str | None,
        log_name: str | None,
        start_method: str | None,
        thread_only: bool | None,
        trusted: bool,
    ) -> None:
        super().__init__()
        class_name = type(self).__name__
        validate_start_method(start_method)
        self.queue = check_queue(queue, f"the queue of a {class_name}")
        self.name = name if name is not None else f"{class_name}-{next(_adapter_numbers)}"
        self.start_method = start_method
        self.thread_only = thread_only
        self.trusted = trusted
        self._logger = logging.getLogger(
            log_name if log_name is not None else f"queuelink.{class_name}.{self.name}"
        )
        self._started = False
        self._target: Any = None
        self._final_count = 0
        # The engine queue that the engine reader or writer uses: the
        # caller's queue, or the internal queue of the bridge.
        self._engine_queue: Any = queue if is_engine_queue(queue) else None
        self._bridge: Any = None
        self._bridge_stopped = False
        # Held while the bridge stops, so that is_alive() and wait() in other
        # threads report the end only once the bridge has passed on every line.
        self._bridge_lock = threading.Lock()

    def _describe(self) -> str:
        return f"{type(self).__name__} {self.name!r}"

    # Subclasses implement these with the engine's reader or writer calls.
    def _start(self, target: Any, queue_handle: Any) -> Any:
        raise NotImplementedError

    def _open_bridge(self, foreign: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def _engine_count(self, handle: Any) -> int:
        raise NotImplementedError

    def _engine_is_alive(self, handle: Any) -> bool:
        raise NotImplementedError

    def _engine_wait(self, handle: Any, timeout: float | None) -> int:
        raise NotImplementedError

    def _engine_free(self, handle: Any) -> None:
        raise NotImplementedError

    def _live_handle(self) -> Any:
        handle = self._handle
        if handle is None:
            if self._closed:
                raise self._closed_error()
            raise HandleNotSet(f"{self._describe()} has no handle yet; call set_handle() first")
        return handle

    def set_handle(self, handle: Any) -> None:
        """Set the handle to move messages through, and start.

        Raises HandleAlreadySet if the adapter already has a handle.
        """
        with self._state_lock:
            if self._closed:
                raise self._closed_error()
            if self._started:
                raise HandleAlreadySet(
                    f"{self._describe()} already has the handle {self._target!r}; "
                    f"create another adapter for another handle"
                )
            opened_bridge = self._engine_queue is None
            if opened_bridge:
                self._engine_queue, self._bridge = self._open_bridge(self.queue)
            try:
                engine_handle = self._start(handle, self._engine_queue.handle)
            except BaseException:
                if opened_bridge:
                    self._discard_bridge()
                raise
            self._target = handle
            self._started = True
            self._adopt(engine_handle)
        self._logger.debug("%s started on %r", self._describe(), handle)

    # -- bridge ----------------------------------------------------------------

    def _stop_bridge(self, drain: bool) -> None:
        """Stop the bridge once; with drain, after it passed on every message.

        A concurrent caller returns only once the first one has stopped it.
        """
        with self._bridge_lock:
            bridge = self._bridge
            if bridge is None or self._bridge_stopped:
                return
            bridge.stop(drain=drain, timeout=BRIDGE_DRAIN_TIMEOUT)
            self._bridge_stopped = True
        if drain and not self._engine_queue.closed and not self._engine_queue.empty():
            self._logger.warning(
                "%s: the bridge to %s did not pass on every message within %s s; "
                "%d messages are dropped",
                self._describe(),
                describe_type(self.queue),
                BRIDGE_DRAIN_TIMEOUT,
                self._engine_queue.qsize(),
            )

    def _discard_bridge(self) -> None:
        """Stop the bridge and close its internal queue."""
        self._stop_bridge(drain=False)
        internal, self._engine_queue, self._bridge = self._engine_queue, None, None
        self._bridge_stopped = False
        if internal is not None:
            _close_internal_queue(internal)

    def _wait_written(self, timeout: float) -> bool:
        """Wait until the engine queue is empty and every message taken from
        it was marked done; return False if timeout seconds pass first."""
        engine_queue = self._engine_queue
        deadline = time.monotonic() + timeout
        while not (engine_queue.empty() and engine_queue._all_tasks_done()):
            handle = self._handle
            if handle is None or not self._engine_is_alive(handle):
                return False
            if time.monotonic() >= deadline:
                return False
            time.sleep(_DRAIN_POLL_INTERVAL)
        return True

    # -- closing ---------------------------------------------------------------

    def _before_free(self, handle: Any) -> None:
        """Run before the engine handle is freed; subclasses may extend it."""

    def _return_unmoved(self) -> None:
        """Run after the bridge stopped, before its internal queue closes;
        subclasses may extend it."""

    def _release(self, handle: Any) -> None:
        self._before_free(handle)
        self._final_count = self._engine_count(handle)
        status = self._engine_wait(handle, 0)
        self._engine_free(handle)
        if self._bridge is not None:
            # The engine is done with the internal queue; the bridge passes
            # on what a reader left in it.
            self._stop_bridge(drain=True)
            self._return_unmoved()
            self._bridge = None
            _close_internal_queue(self._engine_queue)
        if status not in (_constants.OK, _constants.ERR_TIMEOUT):
            self._logger.warning(
                "%s on %r ended with status %s; wait() raises the error",
                self._describe(),
                self._target,
                _ffi.status_name(status),
            )
        self._logger.debug("%s closed after %d messages", self._describe(), self._final_count)

    def close(self) -> None:
        """Stop moving messages and free the adapter.

        Messages still in the queue are not drained.
        """
        super().close()

    def add_logging_handler(self, handler: logging.Handler) -> None:
        """Add a logging handler to the adapter's logger."""
        self._logger.addHandler(handler)

    def is_alive(self) -> bool:
        """Return True while the adapter is moving messages."""
        handle = self._handle
        if handle is None:
            return False
        return self._engine_is_alive(handle)

    def get_messages_processed(self) -> int:
        """Return the number of messages moved by this adapter."""
        handle = self._handle
        if handle is None:
            return self._final_count
        return self._engine_count(handle)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the adapter to end; return False if it still runs after
        timeout seconds (None waits without limit).

        Raises HandleNotSet before set_handle(), EngineIOError when the
        adapter ended on a read or write error, and ClosedError when a
        reader ended because its queue was closed.
        """
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        handle = self._handle
        if handle is None:
            if self._closed:
                return True
            self._live_handle()
        status = self._engine_wait(handle, timeout)
        if status == _constants.ERR_TIMEOUT:
            return False
        self._after_end()
        if status:
            raise _ffi.error_for_status(status)
        return True

    def _after_end(self) -> None:
        """Run once wait() has seen the engine reader or writer end."""

"""QueueHandleAdapterWriter: writes every message of a queue to a file, pipe or path."""

from __future__ import annotations

import io
from typing import Any

from . import _constants, _ffi
from ._adapter import (
    HandleAdapter,
    check_text_encoding,
    describe_type,
    encode_path,
    file_descriptor,
    is_connection,
    is_path,
)

_ROLE = "a QueueHandleAdapterWriter handle"


class QueueHandleAdapterWriter(HandleAdapter):
    """Takes every message from a queue and writes its payload to a handle.

    The engine writes on a goroutine from the moment a handle is set, given
    here or with set_handle(), until close(), until the queue is shut down
    and empty, or until a write error. Payloads are written as they are: a
    str as UTF-8, bytes unchanged, and any other item as its pickle. The
    engine buffers its output. It flushes whenever the queue runs empty, at
    least once a second, and at the end, and it also syncs regular files to
    disk once a second and at the end. It calls task_done() on the queue
    for every message written, so ``queue.join()`` waits until all are
    written.

    Handles:

    - an open file or pipe with ``write()`` and ``fileno()``: the writer
      flushes the file object first, then writes to its own duplicate of
      the file descriptor and never closes the caller's file. Do not write
      through the file object while the writer runs, because the two
      outputs would interleave.
    - an int file descriptor.
    - a path (str, bytes or os.PathLike): created or truncated when the
      first message arrives, and closed at the end. A missing directory or
      a file that cannot be written raises at once.

    File objects without a file descriptor, such as io.StringIO, are not
    supported. ``start_method``, ``thread_only`` and ``trusted`` are
    accepted for compatibility and otherwise unused.
    """

    _exit_rank = 2

    def __init__(
        self,
        queue: Any,
        *,
        handle: Any = None,
        name: str | None = None,
        log_name: str | None = None,
        start_method: str | None = None,
        thread_only: bool | None = None,
        trusted: bool = False,
    ) -> None:
        super().__init__(
            queue,
            name=name,
            log_name=log_name,
            start_method=start_method,
            thread_only=thread_only,
            trusted=trusted,
        )
        if handle is not None:
            self.set_handle(handle)

    def _start(self, target: Any) -> Any:
        queue_handle = self.queue.handle

        if isinstance(target, bool):
            raise TypeError(f"{_ROLE} must be a file, a pipe, a file descriptor or a path, not bool")
        if isinstance(target, int):
            return _ffi.writer_new_fd(queue_handle, target)
        if is_path(target):
            return _ffi.writer_new_path(queue_handle, encode_path(target), _constants.WRITE_TRUNCATE)
        if is_connection(target):
            raise TypeError(
                f"{_ROLE} cannot be a multiprocessing Connection; pass a file, a "
                f"pipe, a file descriptor or a path"
            )
        if not hasattr(target, "write"):
            raise TypeError(
                f"{_ROLE} must have write() and fileno(), like an open file or "
                f"pipe; {describe_type(target)} has no write()"
            )

        fd = file_descriptor(target, _ROLE)
        if isinstance(target, io.TextIOBase):
            check_text_encoding(target, _ROLE)
        flush = getattr(target, "flush", None)
        if flush is not None:
            flush()
        return _ffi.writer_new_fd(queue_handle, fd)

    def _engine_count(self, handle: Any) -> int:
        return _ffi.writer_count(handle)

    def _engine_is_alive(self, handle: Any) -> bool:
        return _ffi.writer_is_alive(handle)

    def _engine_wait(self, handle: Any, timeout: float | None) -> int:
        return _ffi.writer_wait(handle, timeout)

    def _engine_free(self, handle: Any) -> None:
        _ffi.writer_free(handle)

    def stop(self) -> None:
        """Write the message in hand, flush, and end, keeping the adapter.

        Messages still in the queue stay there; get_messages_processed()
        still works. Use close() to free the adapter too.
        """
        handle = self._handle
        if handle is not None:
            _ffi.writer_stop(handle)

    def is_drained(self) -> bool:
        """Return True when a handle is set, the queue is empty and every
        message put on the queue has been written or marked done."""
        if not self._started:
            return False
        queue_obj = self.queue
        if queue_obj.closed:
            return not self.is_alive()
        return queue_obj.empty() and queue_obj._all_tasks_done()

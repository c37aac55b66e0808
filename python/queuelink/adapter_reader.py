"""QueueHandleAdapterReader: puts each line of a file, pipe or path on a queue."""

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
from .common import WRAP_WHEN, validate_wrap_options

_ROLE = "a QueueHandleAdapterReader handle"


class QueueHandleAdapterReader(HandleAdapter):
    """Reads a handle line by line and puts each line on a queue.

    The engine reads on a goroutine from the moment a handle is set, given
    here or with set_handle(), until end of file or close(). Lines keep
    their newline, a last line without one is delivered as it is, and
    multi-byte characters are never split between two lines.

    Handles:

    - an open text file or pipe (an ``io.TextIOBase`` with ``fileno()``):
      each line arrives as ``str``. The engine reads the bytes as UTF-8, so
      the handle's encoding must be UTF-8 or ASCII, and newlines are not
      translated as Python's text mode would translate "\\r\\n".
    - an open binary file or pipe with ``fileno()``: each line arrives as
      ``bytes``.
    - an int file descriptor: lines arrive as ``bytes``.
    - a path (str, bytes or os.PathLike): the engine opens it for reading
      and closes it at the end; lines arrive as ``str``.

    The engine reads its own duplicate of the file descriptor and never
    closes the caller's file. It reads from the descriptor's current
    offset, so data that Python already buffered from the file object (for
    example after a readline() call) is not seen.

    ``start_method``, ``thread_only`` and ``trusted`` are accepted for
    compatibility and otherwise unused. ``wrap_when`` must be None or
    WRAP_WHEN.NEVER.
    """

    _exit_rank = 0

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
        wrap_when: WRAP_WHEN | None = None,
        wrap_threshold: int | None = None,
    ) -> None:
        validate_wrap_options(wrap_when, wrap_threshold)
        super().__init__(
            queue,
            name=name,
            log_name=log_name,
            start_method=start_method,
            thread_only=thread_only,
            trusted=trusted,
        )
        self.wrap_when = wrap_when if wrap_when is not None else WRAP_WHEN.NEVER
        self.wrap_threshold = wrap_threshold
        if handle is not None:
            self.set_handle(handle)

    def _start(self, target: Any) -> Any:
        queue_handle = self.queue.handle

        if isinstance(target, bool):
            raise TypeError(f"{_ROLE} must be a file, a pipe, a file descriptor or a path, not bool")
        if isinstance(target, int):
            return _ffi.reader_new_fd(queue_handle, target, _constants.KIND_BYTES)
        if is_path(target):
            return _ffi.reader_new_path(queue_handle, encode_path(target), _constants.KIND_TEXT)
        if is_connection(target):
            raise TypeError(
                f"{_ROLE} cannot be a multiprocessing Connection; pass a file, a "
                f"pipe, a file descriptor or a path"
            )
        if not hasattr(target, "readline"):
            raise TypeError(
                f"{_ROLE} must have readline() and fileno(), like an open file or "
                f"pipe; {describe_type(target)} has no readline()"
            )

        fd = file_descriptor(target, _ROLE)
        if isinstance(target, io.TextIOBase):
            check_text_encoding(target, _ROLE)
            kind = _constants.KIND_TEXT
        else:
            kind = _constants.KIND_BYTES
        return _ffi.reader_new_fd(queue_handle, fd, kind)

    def _engine_count(self, handle: Any) -> int:
        return _ffi.reader_count(handle)

    def _engine_is_alive(self, handle: Any) -> bool:
        return _ffi.reader_is_alive(handle)

    def _engine_wait(self, handle: Any, timeout: float | None) -> int:
        return _ffi.reader_wait(handle, timeout)

    def _engine_free(self, handle: Any) -> None:
        _ffi.reader_free(handle)

    def stop(self) -> None:
        """Stop reading and wait for the reader to end, keeping the adapter.

        Lines already read are delivered; get_messages_processed() still
        works. Use close() to free the adapter too.
        """
        handle = self._handle
        if handle is not None:
            _ffi.reader_stop(handle)

    def is_drained(self) -> bool:
        """Return False before a handle is set, else whether reading ended."""
        if not self._started:
            return False
        return not self.is_alive()

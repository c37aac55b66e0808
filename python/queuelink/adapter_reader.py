"""QueueHandleAdapterReader: puts each line of a file, pipe or path on a queue."""

from __future__ import annotations

import io
import os
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

_ENGINE_WRAP = {
    WRAP_WHEN.NEVER: _constants.WRAP_NEVER,
    WRAP_WHEN.AUTO: _constants.WRAP_AUTO,
    WRAP_WHEN.ALWAYS: _constants.WRAP_ALWAYS,
}

# How often queue_handle_adapter() checks its stop event, in seconds.
_ADAPTER_POLL_INTERVAL = 0.05


def _partial_line_us(partial_line_timeout: object) -> int:
    """Return the engine's partial_line_us for a timeout in seconds or None."""
    if partial_line_timeout is None:
        return 0
    if (
        isinstance(partial_line_timeout, bool)
        or not isinstance(partial_line_timeout, (int, float))
        or not partial_line_timeout > 0
    ):
        raise ValueError(
            f"partial_line_timeout must be None or a positive number of seconds, "
            f"not {partial_line_timeout!r}"
        )
    return max(1, int(partial_line_timeout * 1_000_000))


def _spill_dir(spill_dir: Any) -> bytes | None:
    """Return the engine's spill_dir for a directory path or None."""
    if spill_dir is None:
        return None
    encoded = encode_path(spill_dir)
    if not os.path.isdir(encoded):
        raise ValueError(f"spill_dir {os.fsdecode(encoded)!r} is not an existing directory")
    return encoded


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
    - a ``multiprocessing.connection.Connection``: one message per message
      that the other end sent, messages above 64 KiB included. With
      ``trusted=True``, each arrives as the object that ``recv()`` would
      return, unpickled, so pass it only for a sender you trust. With
      ``trusted=False``, each arrives as the ``bytes`` that
      ``recv_bytes()`` would return. The reader ends when every sending end is closed. The engine
      switches the descriptor of a ``Pipe()`` (a socket pair) to
      non-blocking mode, so do not send through the reading end.

    The engine reads its own duplicate of the file descriptor and never
    closes the caller's file or Connection. It reads from the descriptor's
    current offset, so data that Python already buffered from the file
    object (for example after a readline() call) is not seen.

    The queue is a queuelink queue, or a queue of the ``queue`` or
    ``multiprocessing`` module or a Manager() queue. For the latter, the
    engine reads into an internal queue and a bridge moves each line on;
    ``wait()`` and ``is_alive()`` report the end only once the bridge has
    passed on every line.

    ``wrap_when`` selects the lines delivered as a ContentWrapper:
    WRAP_WHEN.AUTO those longer than ``wrap_threshold`` bytes (default
    ContentWrapper.THRESHOLD, 16384), WRAP_WHEN.ALWAYS every line, and
    WRAP_WHEN.NEVER (the default) none. A wrapped line at least
    ``wrap_threshold`` bytes long goes to a spill file as the engine reads
    it and stays there until the consumer reads ``.value``. ``spill_dir``
    is the directory of those files. The default is ``$TMPDIR`` as it was
    when the library was loaded, or /tmp: the engine does not see later
    changes to ``os.environ``.

    ``partial_line_timeout``, in seconds, makes the reader deliver the
    bytes after the last newline as a line once no more data has arrived
    for that long, so a prompt such as "Password: " reaches the consumer
    while the program waits for input. It applies to pipes, sockets and
    terminals; None (the default) waits for the newline or end of file.

    ``start_method`` and ``thread_only`` are accepted for compatibility and
    otherwise unused.
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
        wrap_when: WRAP_WHEN | None = WRAP_WHEN.NEVER,
        wrap_threshold: int | None = None,
        partial_line_timeout: float | None = None,
        spill_dir: str | bytes | os.PathLike[Any] | None = None,
    ) -> None:
        validate_wrap_options(wrap_when, wrap_threshold)
        partial_line_us = _partial_line_us(partial_line_timeout)
        engine_spill_dir = _spill_dir(spill_dir)
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
        self.partial_line_timeout = partial_line_timeout
        self.spill_dir = spill_dir
        self._partial_line_us = partial_line_us
        self._engine_spill_dir = engine_spill_dir
        if handle is not None:
            self.set_handle(handle)

    def _options(self, kind: int, framing: int = _constants.FRAME_LINES) -> Any:
        threshold = self.wrap_threshold
        if threshold is None:
            threshold = 0  # the engine's default, ContentWrapper.THRESHOLD
        elif threshold == 0:
            # NOTE: the engine reads 0 as "default", so 0 becomes 1. Under
            # WRAP_WHEN.AUTO a line of exactly one byte is then not wrapped.
            threshold = 1
        return _ffi.reader_options(
            kind=kind,
            framing=framing,
            wrap=_ENGINE_WRAP[self.wrap_when],
            wrap_threshold=threshold,
            partial_line_us=self._partial_line_us,
            spill_dir=self._engine_spill_dir,
            name=self.name,
        )

    def _open_bridge(self, foreign: Any) -> tuple[Any, Any]:
        from ._bridge import bridge_to

        return bridge_to(foreign, name=f"{self.name}-bridge")

    def _start(self, target: Any, queue_handle: Any) -> Any:
        if isinstance(target, bool):
            raise TypeError(f"{_ROLE} must be a file, a pipe, a file descriptor or a path, not bool")
        if isinstance(target, int):
            return _ffi.reader_open_fd(queue_handle, target, self._options(_constants.KIND_BYTES))
        if is_path(target):
            return _ffi.reader_open_path(
                queue_handle, encode_path(target), self._options(_constants.KIND_TEXT)
            )
        if is_connection(target):
            return self._start_connection(target, queue_handle)
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
        return _ffi.reader_open_fd(queue_handle, fd, self._options(kind))

    def _start_connection(self, connection: Any, queue_handle: Any) -> Any:
        if connection.closed:
            raise ValueError(f"{_ROLE} is a closed multiprocessing Connection")
        if not connection.readable:
            raise ValueError(
                f"{_ROLE} is a multiprocessing Connection that cannot receive; "
                f"pass the receiving end of the Pipe()"
            )
        # NOTE: the engine does not wrap Connection messages, so wrap_when
        # and wrap_threshold apply to lines only.
        kind = _constants.KIND_PICKLE if self.trusted else _constants.KIND_BYTES
        options = self._options(kind, _constants.FRAME_CONNECTION)
        return _ffi.reader_open_fd(queue_handle, connection.fileno(), options)

    def _engine_count(self, handle: Any) -> int:
        return _ffi.reader_count(handle)

    def _engine_is_alive(self, handle: Any) -> bool:
        return _ffi.reader_is_alive(handle)

    def _engine_wait(self, handle: Any, timeout: float | None) -> int:
        return _ffi.reader_wait(handle, timeout)

    def _engine_free(self, handle: Any) -> None:
        _ffi.reader_free(handle)

    def _after_end(self) -> None:
        self._stop_bridge(drain=True)

    def is_alive(self) -> bool:
        """Return True while the reader reads, or its bridge still has lines
        to pass on."""
        handle = self._handle
        if handle is None:
            return False
        if self._engine_is_alive(handle):
            return True
        self._stop_bridge(drain=True)
        return False

    def stop(self) -> None:
        """Stop reading and wait for the reader to end, keeping the adapter.

        Lines already read are delivered; get_messages_processed() still
        works. Use close() to free the adapter too.
        """
        handle = self._handle
        if handle is not None:
            _ffi.reader_stop(handle)
            self._stop_bridge(drain=True)

    def is_drained(self) -> bool:
        """Return False before a handle is set, else whether reading ended."""
        if not self._started:
            return False
        return not self.is_alive()

    @staticmethod
    def queue_handle_adapter(
        *,
        name: str,
        handle: Any,
        queue: Any,
        queue_lock: Any = None,
        stop_event: Any = None,
        messages_processed: Any = None,
        trusted: bool = False,
        wrap_when: WRAP_WHEN = WRAP_WHEN.NEVER,
        wrap_threshold: int | None = None,
    ) -> int:
        """Read handle into queue until the end of input or until stop_event
        is set, and return the number of messages put.

        This call blocks the calling thread while the engine reads, so it
        can be the target of a thread or process of the caller's own. It
        takes the handles and options of QueueHandleAdapterReader.
        stop_event is an object with is_set(), such as threading.Event,
        checked every 50 ms. messages_processed, if given, is an object
        with a writable ``value`` attribute, such as
        ``multiprocessing.Value('i')``, that receives the running count.
        queue_lock is accepted for compatibility and unused. The handle is
        not closed.
        """
        reader = QueueHandleAdapterReader(
            queue,
            name=name,
            trusted=trusted,
            wrap_when=wrap_when,
            wrap_threshold=wrap_threshold,
        )
        try:
            reader.set_handle(handle)
            while not reader.wait(timeout=_ADAPTER_POLL_INTERVAL):
                if messages_processed is not None:
                    messages_processed.value = reader.get_messages_processed()
                if stop_event is not None and stop_event.is_set():
                    break
        finally:
            reader.close()
        count = reader.get_messages_processed()
        if messages_processed is not None:
            messages_processed.value = count
        return count

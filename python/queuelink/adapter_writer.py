"""QueueHandleAdapterWriter: writes every message of a queue to a file, pipe or path."""

from __future__ import annotations

import io
from typing import Any

from . import _constants, _ffi
from ._adapter import (
    BRIDGE_DRAIN_TIMEOUT,
    HandleAdapter,
    check_text_encoding,
    describe_type,
    encode_path,
    file_descriptor,
    is_connection,
    is_path,
)

_ROLE = "a QueueHandleAdapterWriter handle"

# How often queue_handle_adapter() checks its stop event, in seconds.
_ADAPTER_POLL_INTERVAL = 0.05


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
    supported. Text reaches the handle as UTF-8 and bytes unchanged,
    whether the handle was opened in text or binary mode. A ContentWrapper
    is written as its value.

    NOTE: any other item is written as its pickle, not as ``str(item)``,
    because the engine writer takes the message from the queue with no
    Python code in between to convert it.

    The queue is a queuelink queue, or a queue of the ``queue`` or
    ``multiprocessing`` module or a Manager() queue. For the latter, a
    bridge moves each item into an internal queue that the engine writes
    from. close() and stop() stop the bridge first and then wait up to 5
    seconds for the items it already took to be written. close() puts
    those still unwritten back on the caller's queue, and items that the
    bridge had not taken stay there.

    ``start_method``, ``thread_only`` and ``trusted`` are accepted for
    compatibility and otherwise unused.
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

    def _open_bridge(self, foreign: Any) -> tuple[Any, Any]:
        from ._bridge import bridge_from

        return bridge_from(foreign, name=f"{self.name}-bridge")

    def _start(self, target: Any, queue_handle: Any) -> Any:
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

    def _before_free(self, handle: Any) -> None:
        self._stop_bridge_and_write()

    def _return_unmoved(self) -> None:
        # Items the bridge took that the writer did not write in time go
        # back to the caller's queue instead of being dropped.
        if not self._engine_queue.empty():
            self._bridge.return_to_source()

    def _stop_bridge_and_write(self) -> None:
        """Stop the bridge, then wait until the items it took are written."""
        if self._bridge is None:
            return
        self._stop_bridge(drain=False)
        if not self._wait_written(BRIDGE_DRAIN_TIMEOUT):
            self._logger.warning(
                "%s: %d items taken from %s were not written within %s s",
                self._describe(),
                self._engine_queue.qsize(),
                describe_type(self.queue),
                BRIDGE_DRAIN_TIMEOUT,
            )

    def stop(self) -> None:
        """Write the message in hand, flush, and end, keeping the adapter.

        Messages still in the queue stay there; get_messages_processed()
        still works. Use close() to free the adapter too.
        """
        handle = self._handle
        if handle is not None:
            self._stop_bridge_and_write()
            _ffi.writer_stop(handle)

    def is_drained(self) -> bool:
        """Return True when a handle is set, the queue is empty and every
        message put on the queue has been written or marked done."""
        if not self._started:
            return False
        bridge = self._bridge
        if bridge is not None and not self._bridge_stopped:
            if not _foreign_empty(self.queue) or not bridge.is_settled():
                return False
        queue_obj = self._engine_queue
        if queue_obj is None or queue_obj.closed:
            return not self.is_alive()
        return queue_obj.empty() and queue_obj._all_tasks_done()

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
        **kwargs: Any,
    ) -> int:
        """Write every item of queue to handle until stop_event is set or
        the queue is shut down, and return the number of items written.

        This call blocks the calling thread while the engine writes, so it
        can be the target of a thread or process of the caller's own. It
        takes the handles of QueueHandleAdapterWriter. stop_event is an
        object with is_set(), such as threading.Event, checked every 50
        ms. Without one, only a shut-down queuelink queue or a write error
        ends the call. messages_processed, if given, is an object with a
        writable ``value`` attribute, such as ``multiprocessing.Value('i')``,
        that receives the running count. queue_lock and other keyword
        arguments are accepted for compatibility and unused. The handle is
        not closed.
        """
        writer = QueueHandleAdapterWriter(queue, name=name, trusted=trusted)
        try:
            writer.set_handle(handle)
            while not writer.wait(timeout=_ADAPTER_POLL_INTERVAL):
                if messages_processed is not None:
                    messages_processed.value = writer.get_messages_processed()
                if stop_event is not None and stop_event.is_set():
                    break
        finally:
            writer.close()
        count = writer.get_messages_processed()
        if messages_processed is not None:
            messages_processed.value = count
        return count


def _foreign_empty(queue_obj: Any) -> bool:
    """Return whether a standard-library or multiprocessing queue is empty."""
    from ._bridge import foreign_is_empty

    try:
        return foreign_is_empty(queue_obj)
    except (OSError, EOFError, ValueError):
        # A closed queue, or a Manager that is gone, will hold no more items.
        return True

"""Queues owned by the engine, with the interface of the standard queue module.

Items cross into the engine as messages; ``queuelink._items`` describes the
conversion. So a queue can be a source or destination of a QueueLink, the
input of a writer or the output of a reader, with no Python thread moving
items. The queues live in this process; they cannot be pickled or
sent to another process. A ``(priority, data)`` tuple with an int priority
keeps that priority on its way through links, whatever queue it was put
on, so a PriorityQueue destination orders it by priority.

Waiting calls (``get``, ``put`` on a full queue, ``join``) release the GIL
and wake at least every 50 ms, so Ctrl-C interrupts them in the main thread.
"""

from __future__ import annotations

import operator
from typing import Any, Iterable, Iterator, NoReturn

from . import _constants, _ffi
from ._handle import HandleOwner
from ._items import decode_item, decode_packed, encode_item, encode_packed
from .exceptionhandler import ClosedError, InvalidHandleError, StateError

_KIND_TEXT = _constants.KIND_TEXT
_KIND_BYTES = _constants.KIND_BYTES
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _wait_time(block: bool, timeout: float | None) -> float | None:
    """Return the seconds a call may wait: None for no limit, 0 for no wait."""
    if not block:
        return 0
    if timeout is None:
        return None
    if timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    return timeout


class _EngineQueue(HandleOwner):
    """Operations that every engine-owned queue has."""

    _order = _constants.ORDER_FIFO

    def _create(self, maxsize: int) -> None:
        HandleOwner.__init__(self)
        self._adopt(_ffi.queue_new(self._order, maxsize))

    def _release(self, handle: Any) -> None:
        if getattr(self, "_owned", True):
            _ffi.queue_free(handle)

    @classmethod
    def from_handle(cls, handle: Any, *, owned: bool = True) -> Any:
        """Wrap a ql_queue handle made elsewhere in this process, such as by C code.

        handle is a ``ql_queue *``: the address as an int, or a ctypes
        pointer. With owned, closing the wrapper frees the handle, as
        ql_queue_free() would; otherwise the creator keeps it and must keep
        it alive while the wrapper is used. The caller picks the class that
        matches the queue's order; the engine orders items either way.
        """
        pointer = _ffi.queue_pointer(handle)
        maxsize = _ffi.queue_maxsize(pointer)  # also checks that the handle is a live queue
        wrapper = cls.__new__(cls)
        HandleOwner.__init__(wrapper)
        if not isinstance(wrapper, SimpleQueue):
            wrapper.maxsize = maxsize
        wrapper._owned = owned
        wrapper._adopt(pointer)
        return wrapper

    @property
    def handle(self) -> Any:
        """The engine handle of the queue, for other parts of this package."""
        return self._live_handle()

    def _put(self, kind: int, payload: bytes, timeout: float | None, priority: int | None) -> None:
        handle = self._handle
        if handle is None:
            raise self._closed_error()
        try:
            _ffi.queue_put(handle, kind, payload, timeout, priority)
        except InvalidHandleError as error:
            raise self._translate_handle_error(error) from None

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Put an item into the queue.

        If block is true and timeout is None, wait until a free slot is
        available. If timeout is a non-negative number, wait at most that
        many seconds and raise queue.Full if no slot became free. If block
        is false, raise queue.Full at once when the queue is full.
        Raises ClosedError when the queue is closed or shut down.
        """
        wait = _wait_time(block, timeout)
        item_type = type(item)
        handle = self._handle
        if handle is not None and (item_type is bytes or item_type is str):
            # The common case in one call, which fails without putting
            # anything when the queue is full, closed or freed.
            if item_type is bytes:
                status = _ffi.try_put(handle, _KIND_BYTES, item)
            else:
                try:
                    status = _ffi.try_put(handle, _KIND_TEXT, item.encode("utf-8", "surrogateescape"))
                except UnicodeEncodeError:
                    status = -1  # encode_item() below pickles it
            if status == 0:
                return
        kind, payload = encode_item(item)
        # The type check first keeps the common case free of a call.
        priority = carried_priority(item) if item_type is tuple else None
        self._put(kind, payload, wait, priority)

    def put_nowait(self, item: Any) -> None:
        """Put an item without blocking; raise queue.Full when there is no room."""
        self.put(item, block=False)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Remove and return an item from the queue.

        If block is true and timeout is None, wait until an item is
        available. If timeout is a non-negative number, wait at most that
        many seconds and raise queue.Empty if no item arrived. If block is
        false, raise queue.Empty at once when the queue is empty. Raises
        ClosedError when the queue is closed, or shut down and empty.
        """
        wait = _wait_time(block, timeout)
        handle = self._handle
        if handle is None:
            raise self._closed_error()
        item = _ffi.try_get(handle)
        if item is _ffi._TAKEN:
            return decode_item(*_ffi.take_slot_message())
        if item is not _ffi._MISSING:
            return item
        try:
            kind, payload = _ffi.queue_get(handle, wait)
        except InvalidHandleError as error:
            raise self._translate_handle_error(error) from None
        return decode_item(kind, payload)

    def get_nowait(self) -> Any:
        """Remove and return an item without blocking; raise queue.Empty if none."""
        return self.get(block=False)

    def put_many(self, items: Iterable[Any], block: bool = True, timeout: float | None = None) -> None:
        """Put every item of items, in order, with one call into the engine.

        This moves many items for about the cost of one put(). block and
        timeout work as for put(), over the whole call: queue.Full, whose
        message says how many items went in, means the rest did not.
        Raises ClosedError when the queue is closed or shut down.
        """
        items = items if type(items) is list else list(items)
        handle = self._handle
        if handle is None:
            raise self._closed_error()
        if not items:
            if _ffi.queue_is_closed(handle):
                raise self._closed_error()
            return
        try:
            packed = encode_packed(items)
            if packed is not None:
                # All str or all bytes: priority 0, no flags.
                kind, data, lengths = packed
                _ffi.queue_put_packed(handle, kind, data, lengths, _wait_time(block, timeout))
                return
            encoded = [encode_item(item) for item in items]
            priorities = [self._priority_for_many(item) for item in items]
            _ffi.queue_put_batch(handle, encoded, _wait_time(block, timeout), priorities)
        except InvalidHandleError as error:
            raise self._translate_handle_error(error) from None

    def _priority_for_many(self, item: Any) -> int:
        priority = carried_priority(item) if type(item) is tuple else None
        return 0 if priority is None else priority

    def get_many(
        self, max_items: int = _ffi.BATCH_MAX, block: bool = True, timeout: float | None = None
    ) -> list[Any]:
        """Remove and return up to max_items items with one call into the engine.

        Waits for the first item as get() does (queue.Empty when none came in
        time), then takes only the items already there, at most max_items
        (and at most queuelink._ffi.BATCH_MAX) in one call.
        """
        if max_items < 1:
            raise ValueError(f"max_items must be at least 1, not {max_items}")
        handle = self._handle
        if handle is None:
            raise self._closed_error()
        try:
            data, lengths, kinds = _ffi.queue_get_packed(handle, max_items, _wait_time(block, timeout))
        except InvalidHandleError as error:
            raise self._translate_handle_error(error) from None
        return decode_packed(data, lengths, kinds)

    def __iter__(self) -> Iterator[Any]:
        """Yield items as they arrive until the queue is closed and empty.

        Items are taken in batches, so iteration moves many items per call
        into the engine. Stop it with shutdown() or close() from another
        thread, or by breaking out of the loop.
        """
        while True:
            try:
                batch = self.get_many()
            except ClosedError:
                return
            yield from batch

    def qsize(self) -> int:
        """Return the number of items in the queue."""
        return _ffi.queue_len(self._live_handle())

    def empty(self) -> bool:
        """Return True if the queue is empty at the moment of the call."""
        return self.qsize() == 0

    def shutdown(self) -> None:
        """Close the queue for new items.

        Later puts raise ClosedError. Gets return the items still held and
        then raise ClosedError, and every blocked put, get and join wakes.
        Links, readers and writers that use the queue see it closed. The
        handle stays allocated until close().
        """
        _ffi.queue_close(self._live_handle())

    def is_shutdown(self) -> bool:
        """Return True once shutdown() or close() was called."""
        handle = self._handle
        if handle is None:
            return True
        return _ffi.queue_is_closed(handle)

    def _all_tasks_done(self) -> bool:
        """Return True when every item put has been marked done, without waiting."""
        handle = self._handle
        if handle is None:
            return False
        try:
            return _ffi.queue_join(handle, 0)
        except (ClosedError, InvalidHandleError):
            # Closed, or closed by another thread, with items unfinished.
            return False

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            f"{type(self).__name__} is owned by the engine of this process and "
            f"cannot be pickled or sent to another process"
        )

    def __repr__(self) -> str:
        # No call into the library, so repr() also works in a forked child.
        state = "closed" if self._handle is None else "open"
        return f"<queuelink.{type(self).__name__} {state}>"


class Queue(_EngineQueue):
    """A FIFO queue owned by the engine.

    If maxsize is less than or equal to zero, the queue size is infinite.
    """

    def __init__(self, maxsize: int = 0) -> None:
        maxsize = operator.index(maxsize)
        if maxsize > _INT64_MAX:
            raise ValueError(f"maxsize {maxsize} does not fit in a signed 64-bit integer")
        self.maxsize = maxsize
        self._create(maxsize)

    def full(self) -> bool:
        """Return True if the queue contains maxsize items at the moment of the call."""
        return 0 < self.maxsize <= self.qsize()

    def task_done(self) -> None:
        """Mark an item taken with get() as processed, for join().

        Raises ValueError if called more times than there were items put.
        """
        try:
            _ffi.queue_task_done(self._live_handle())
        except StateError as error:
            raise ValueError(f"task_done() called too many times: {error}") from None

    def join(self) -> None:
        """Block until every item put has been marked done with task_done().

        Raises ClosedError if the queue is closed while items are unfinished.
        """
        _ffi.queue_join(self._live_handle(), None)

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else "open"
        return f"<queuelink.{type(self).__name__} maxsize={self.maxsize} {state}>"


class LifoQueue(Queue):
    """A LIFO queue owned by the engine: the last item put is the first taken."""

    _order = _constants.ORDER_LIFO


class PriorityQueue(Queue):
    """A priority queue owned by the engine.

    Items are tuples whose first element is an int priority that fits in a
    signed 64-bit integer, typically ``(priority, data)``. The lowest
    priority is taken first, and items of equal priority come out in the
    order they were put. The whole tuple is pickled, so get() returns an
    equal tuple.
    """

    _order = _constants.ORDER_PRIORITY

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Put a (priority, data) tuple; see Queue.put for block and timeout."""
        priority = _priority_of(item)
        kind, payload = encode_item(item)
        self._put(kind, payload, _wait_time(block, timeout), priority)

    def _priority_for_many(self, item: Any) -> int:
        return _priority_of(item)


def carried_priority(item: Any) -> int | None:
    """Return the priority that an item of any queue carries through links.

    A ``(priority, data)`` tuple whose priority is an int that fits in a
    signed 64-bit integer carries it, so a PriorityQueue that a link feeds
    orders the item as a put() on it would. Any other item carries none.
    """
    if type(item) is not tuple or not item:
        return None
    priority = item[0]
    if type(priority) is not int or not _INT64_MIN <= priority <= _INT64_MAX:
        return None
    return priority


def _priority_of(item: Any) -> int:
    if not isinstance(item, tuple) or not item:
        raise TypeError(
            f"PriorityQueue items must be tuples whose first element is an int "
            f"priority, such as (1, 'data'); got {type(item).__name__}"
        )
    priority = item[0]
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(
            f"the first element of a PriorityQueue item must be an int priority, "
            f"not {type(priority).__name__}"
        )
    if not _INT64_MIN <= priority <= _INT64_MAX:
        raise ValueError(f"priority {priority} does not fit in a signed 64-bit integer")
    return int(priority)


class JoinableQueue(Queue):
    """A FIFO queue with task_done() and join(), under multiprocessing's name.

    It is the same as Queue, which has both methods already.
    """


class SimpleQueue(_EngineQueue):
    """An unbounded FIFO queue owned by the engine, without task tracking.

    put() does not wait for room, because the queue is unbounded. Its block
    and timeout arguments are accepted for compatibility with Queue.put and
    ignored.
    """

    def __init__(self) -> None:
        self._create(0)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Put an item into the queue without waiting for room."""
        kind, payload = encode_item(item)
        priority = carried_priority(item) if type(item) is tuple else None
        self._put(kind, payload, None, priority)


ENGINE_QUEUE_TYPES = (Queue, LifoQueue, PriorityQueue, JoinableQueue, SimpleQueue)


def is_engine_queue(obj: object) -> bool:
    """Return True when obj is a queue owned by the engine."""
    return isinstance(obj, _EngineQueue)


def require_engine_queue(obj: object, role: str) -> _EngineQueue:
    """Return obj if it is an engine-owned queue, else raise TypeError.

    role names what the queue is for in the message, such as "a link source".
    """
    if isinstance(obj, _EngineQueue):
        return obj
    kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
    raise TypeError(
        f"{role} must be a queuelink queue (queuelink.Queue, LifoQueue, "
        f"PriorityQueue, JoinableQueue or SimpleQueue), not {kind}"
    )

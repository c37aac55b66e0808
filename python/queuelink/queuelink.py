"""QueueLink: moves every item of its source queues to all its destinations."""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import queue as _queue
import threading
import uuid
from typing import Any, Iterable

from . import _ffi
from ._handle import HandleOwner
from .common import DIRECTION, engine_direction, validate_start_method
from .exceptionhandler import (
    AlreadyRegisteredError,
    NotRegisteredError,
    ProcessNotStarted,
    StateError,
)
from .queues import JoinableQueue, require_engine_queue

_link_numbers = itertools.count(1)


def _parse_queue_id(queue_id: str | int) -> int:
    if isinstance(queue_id, bool) or not isinstance(queue_id, (str, int)):
        raise TypeError(f"queue_id must be a str or int id, not {type(queue_id).__name__}")
    try:
        return int(queue_id)
    except ValueError:
        raise ValueError(f"queue_id must be a decimal id such as '1', not {queue_id!r}") from None


class QueueLink(HandleOwner):
    """Manages publishing from source queues to destination queues.

    Every item put on a source is moved to every destination registered at
    the moment it is taken (fan-out), and any number of sources may feed
    the same destinations (fan-in). The engine runs one publisher per
    source on a goroutine. Publishers start as soon as the link has a
    source and a destination. Adding or removing queues does not stop the
    publishers that run.

    Sources and destinations are queuelink queues, which the engine owns.
    The link keeps a reference to every registered queue until it is
    unregistered or the link is closed.

    ``start_method``, ``thread_only`` and ``link_timeout`` are accepted for
    compatibility: the publishers are goroutines, not threads or processes,
    and they wait for items without polling.
    """

    _exit_rank = 1

    def __init__(
        self,
        source: Any = None,
        destination: Any = None,
        *,
        name: str | None = None,
        log_name: str | None = None,
        start_method: str | None = None,
        thread_only: bool = False,
        link_timeout: float = 0.01,
    ) -> None:
        super().__init__()
        validate_start_method(start_method)
        if link_timeout is None or link_timeout < 0:
            raise ValueError(f"link_timeout must be a non-negative number of seconds, not {link_timeout!r}")

        self.name = name if name is not None else f"QueueLink-{next(_link_numbers)}"
        self.start_method = start_method
        self.thread_only = thread_only
        self.link_timeout = link_timeout
        self._logger = logging.getLogger(log_name if log_name is not None else f"queuelink.QueueLink.{self.name}")
        self._metrics_prefix = uuid.uuid4().hex
        # Registered queues by id, with their direction. Guarded by _state_lock.
        self._queues: dict[str, tuple[Any, DIRECTION]] = {}

        self._adopt(_ffi.link_new(self.name))
        try:
            if source is not None:
                self.read(source)
            if destination is not None:
                destinations: Iterable[Any] = destination if isinstance(destination, list) else [destination]
                for queue_obj in destinations:
                    self.write(queue_obj)
        except BaseException:
            self.close()
            raise

    def _release(self, handle: Any) -> None:
        _ffi.link_free(handle)
        self._queues.clear()
        self._logger.debug("link %s closed", self.name)

    def _describe(self) -> str:
        return f"QueueLink {self.name!r}"

    @property
    def handle(self) -> Any:
        """The engine handle of the link, for other parts of this package."""
        return self._live_handle()

    # -- registration ------------------------------------------------------

    def register_queue(self, q: Any, direction: DIRECTION) -> str:
        """Register a queue on this link and return its id.

        A source (DIRECTION.FROM) gets a publisher that moves its items to
        every destination. A destination (DIRECTION.TO) receives every item
        taken from a source from now on. Ids are "1", "2", ..., counting up
        per link across both directions, and the link never reuses one.

        Raises TypeError for a direction that is not a DIRECTION or a queue
        that is not a queuelink queue, and ValueError when the queue is
        already registered on this link in either direction.
        """
        engine_dir = engine_direction(direction)
        role = "a QueueLink source" if direction is DIRECTION.FROM else "a QueueLink destination"
        queue_obj = require_engine_queue(q, role)

        with self._state_lock:
            link_handle = self._live_handle()
            try:
                number = _ffi.link_register(link_handle, queue_obj.handle, engine_dir)
            except AlreadyRegisteredError as error:
                raise AlreadyRegisteredError(
                    f"cannot register the queue as {direction} on {self._describe()}: "
                    f"{error}; a queue can be registered on a link once, in one direction"
                ) from None
            queue_id = str(number)
            self._queues[queue_id] = (queue_obj, direction)

        self._logger.debug("link %s registered queue %s as %s", self.name, queue_id, direction)
        return queue_id

    def read(self, q: Any) -> str:
        """Register a source queue and return its id."""
        return self.register_queue(q, DIRECTION.FROM)

    def write(self, q: Any) -> str:
        """Register a destination queue and return its id."""
        return self.register_queue(q, DIRECTION.TO)

    def unregister_queue(self, queue_id: str | int, direction: DIRECTION) -> str:
        """Detach the queue with the given id from the given direction and
        return the id.

        A source's publisher first finishes the item it holds; a destination
        receives no item taken after this call returns. Raises
        NotRegisteredError (a KeyError) when no queue with that id is
        registered in that direction.
        """
        engine_dir = engine_direction(direction)
        number = _parse_queue_id(queue_id)
        with self._state_lock:
            _ffi.link_unregister(self._live_handle(), number, engine_dir)
            self._queues.pop(str(number), None)
        self._logger.debug("link %s unregistered queue %s from %s", self.name, number, direction)
        return str(number)

    def get_queue(self, queue_id: str | int) -> Any:
        """Return the queue registered with the given id.

        Raises NotRegisteredError (a KeyError) for an unknown id.
        """
        self._live_handle()
        number = _parse_queue_id(queue_id)
        with self._state_lock:
            entry = self._queues.get(str(number))
        if entry is None:
            raise NotRegisteredError(f"no queue with id {number} is registered on {self._describe()}")
        return entry[0]

    # -- state -------------------------------------------------------------

    def stop(self) -> None:
        """Stop every publisher and wait for them to end.

        When a publisher stops while it waits for room in a full
        destination, it keeps the item it has taken and delivers it first
        when the publishers start again. A later registration starts them.
        """
        _ffi.link_stop(self._live_handle())
        self._logger.debug("link %s stopped", self.name)

    def close(self) -> None:
        """Stop the publishers, free the link and drop its queue references.

        The queues stay open. Closing twice is allowed.
        """
        super().close()

    def is_alive(self) -> bool:
        """Return True when every source has a running publisher.

        Raises ProcessNotStarted if no publisher was ever started.
        """
        try:
            return _ffi.link_is_alive(self._live_handle())
        except StateError as error:
            raise ProcessNotStarted(
                f"{self._describe()} has not started a publisher yet: it needs at "
                f"least one source and one destination ({error})"
            ) from None

    def is_empty(self, queue_id: str | int | None = None) -> bool:
        """Return True when the queues are empty and no publisher is moving an item.

        Without queue_id, every registered queue is checked. With the id of
        a queue, only that queue and every source are checked.
        """
        number = 0 if queue_id is None else _parse_queue_id(queue_id)
        return _ffi.link_is_empty(self._live_handle(), number)

    def is_drained(self) -> bool:
        """Return False if no publisher ever started, else is_empty()."""
        return _ffi.link_is_drained(self._live_handle())

    def get_metrics(self) -> dict[str, dict[str, Any]]:
        """Return the metrics of the publishers, keyed by element id.

        Each source that has moved at least one item contributes two
        elements: a timing element with ``name``, ``data_point_count``,
        ``mean``, ``median`` and ``stddev`` (population standard deviation)
        of the seconds each of its last 100 items waited in the source, and
        a counting element with ``name`` and ``count``, the items moved since
        registration. The dict is empty before any item moved. Element ids
        are opaque strings, stable for the life of the link.
        """
        metrics: dict[str, dict[str, Any]] = {}
        for source in _ffi.link_metrics(self._live_handle()):
            if source.count == 0:
                continue
            element = f"{self._metrics_prefix}-{source.id}"
            metrics[f"{element}-wait"] = {
                "name": f"{self.name} source {source.id} wait time",
                "data_point_count": source.data_point_count,
                "mean": source.mean,
                "median": source.median,
                "stddev": source.stddev,
            }
            metrics[f"{element}-count"] = {
                "name": f"{self.name} source {source.id} items moved",
                "count": source.count,
            }
        return metrics

    def destructive_audit(self, direction: DIRECTION) -> None:
        """Take one item from each queue of the direction and log it.

        This removes the item from its queue. An empty queue is logged as
        empty.
        """
        engine_direction(direction)
        with self._state_lock:
            entries = [(queue_id, q) for queue_id, (q, d) in self._queues.items() if d is direction]
        for queue_id, queue_obj in entries:
            try:
                item = queue_obj.get_nowait()
            except _queue.Empty:
                self._logger.info("link %s %s queue %s is empty", self.name, direction, queue_id)
            else:
                self._logger.info("link %s %s queue %s: %r", self.name, direction, queue_id, item)

    # -- factories of the link's context -------------------------------------

    def Queue(self, *args: Any, **kwargs: Any) -> JoinableQueue:
        """Create an engine-owned queuelink.JoinableQueue for use with this link.

        It works within this process only; it cannot be passed to a
        Process() of the link.
        """
        return JoinableQueue(*args, **kwargs)

    def Event(self, *args: Any, **kwargs: Any) -> Any:
        """Create an Event of the link's threading or multiprocessing context."""
        if self.thread_only:
            return threading.Event(*args, **kwargs)
        return multiprocessing.get_context(self.start_method).Event(*args, **kwargs)

    def Lock(self, *args: Any, **kwargs: Any) -> Any:
        """Create a Lock of the link's threading or multiprocessing context."""
        if self.thread_only:
            return threading.Lock(*args, **kwargs)
        return multiprocessing.get_context(self.start_method).Lock(*args, **kwargs)

    def Process(self, *args: Any, **kwargs: Any) -> Any:
        """Create a Process of the link's multiprocessing context.

        With the 'fork' start method, the child cannot use any queuelink
        object; see the package documentation.
        """
        return multiprocessing.get_context(self.start_method).Process(*args, **kwargs)

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else f"{len(self._queues)} queues"
        return f"<queuelink.QueueLink {self.name!r} {state}>"

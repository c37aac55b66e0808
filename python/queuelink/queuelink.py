"""QueueLink: moves every item of its source queues to all its destinations."""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import queue as _queue
import threading
import time
import uuid
from typing import Any, Callable, Iterable

from . import _ffi
from ._bridge import (
    Bridge,
    all_settled,
    bridge_from,
    bridge_to,
    foreign_identity,
    foreign_is_empty,
    is_foreign_queue,
    next_bridge_name,
    take_nowait,
)
from ._handle import HandleOwner, check_process, exit_time_left
from .common import DIRECTION, engine_direction, validate_start_method
from .exceptionhandler import (
    AlreadyRegisteredError,
    NotRegisteredError,
    ProcessNotStarted,
    StateError,
)
from .queues import JoinableQueue, is_engine_queue

_link_numbers = itertools.count(1)

# Seconds that stop(), unregister_queue() and close() wait for the bridges
# of foreign queues to move what they hold. At interpreter exit, closing
# waits only for what is left of the time that _handle gives all objects.
DRAIN_TIMEOUT = 5.0
_DRAIN_POLL_INTERVAL = 0.005

# Bounds of the seconds a bridge waits in one get (link_timeout).
_MIN_BRIDGE_CYCLE = 0.001
_MAX_BRIDGE_CYCLE = 0.1


def _parse_queue_id(queue_id: str | int) -> int:
    if isinstance(queue_id, bool) or not isinstance(queue_id, (str, int)):
        raise TypeError(f"queue_id must be a str or int id, not {type(queue_id).__name__}")
    try:
        return int(queue_id)
    except ValueError:
        raise ValueError(f"queue_id must be a decimal id such as '1', not {queue_id!r}") from None


def _wait_until(condition: Callable[[], bool], deadline: float) -> bool:
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(_DRAIN_POLL_INTERVAL)
    return True


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _destination_bridge_idle(bridge: Bridge) -> bool:
    """Return True when every item delivered to a destination bridge is on its foreign queue.

    The bridge calls task_done() on its engine queue once it has put an
    item on the foreign queue, so a check of the engine's task count is
    exact and needs no wait.
    """
    return bridge.engine_queue._all_tasks_done()


class QueueLink(HandleOwner):
    """Manages publishing from source queues to destination queues.

    Every item put on a source is moved to every destination registered at
    the moment it is taken (fan-out), and any number of sources may feed
    the same destinations (fan-in). The engine runs one publisher per
    source on a goroutine. Publishers start as soon as the link has a
    source and a destination. Adding or removing queues does not stop the
    publishers that run.

    Sources and destinations are queuelink queues, which the engine owns,
    or foreign queues: the ``queue`` module's Queue, LifoQueue,
    PriorityQueue and SimpleQueue, ``multiprocessing`` Queue, JoinableQueue
    and SimpleQueue of any start method, and ``Manager()`` queue proxies.
    A foreign queue gets a bridge, a daemon thread that moves its items to
    or from an engine queue that the link registers in its place (see
    ``queuelink._bridge``). Each item taken from a foreign source is
    pickled on its way through the engine, unless it is a str or bytes, so
    it must be picklable. The task_done() of a foreign source is called for
    each item once every destination has it. The link keeps a reference to
    every registered queue until it is unregistered or the link is closed.

    ``link_timeout`` is the number of seconds a bridge waits in one get()
    on a queue before it checks whether it must stop, between 0.001 and
    0.1 (values outside are clamped). The engine's publishers do not poll.
    ``start_method`` chooses the multiprocessing context of Event(), Lock(),
    Process() and Queue(). ``thread_only`` makes Event() and Lock() those of
    the threading module and Queue() an engine queue.
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
        self._bridge_cycle = min(max(float(link_timeout), _MIN_BRIDGE_CYCLE), _MAX_BRIDGE_CYCLE)
        self._logger = logging.getLogger(log_name if log_name is not None else f"queuelink.QueueLink.{self.name}")
        self._metrics_prefix = uuid.uuid4().hex
        # The fields below are guarded by _state_lock. _queues maps each id
        # to the caller's queue and its direction. _bridges maps the id of
        # each foreign queue to its bridge, and _foreign_ids maps the
        # foreign_identity() of each foreign queue to its id. _stopped is
        # True while stop() has stopped the publishers and bridges.
        self._queues: dict[str, tuple[Any, DIRECTION]] = {}
        self._bridges: dict[str, Bridge] = {}
        self._foreign_ids: dict[object, str] = {}
        self._stopped = False

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
        try:
            deadline = self._stop_sources(handle, drain=False)
            # Freeing the link settles a delivery that a stopped publisher
            # holds: it goes to the destinations with room, which the
            # destination bridges then pass on, or back to its source.
            _ffi.link_free(handle)
            self._stop_destinations(deadline)
        finally:
            for bridge in self._bridges.values():
                if bridge.direction == "source":
                    bridge.return_to_source()
                self._close_bridge_queue(bridge)
            self._bridges.clear()
            self._foreign_ids.clear()
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
        per link across both directions, and the link never reuses one. A
        registration after stop() starts the publishers and bridges again.

        Raises TypeError for a direction that is not a DIRECTION or an
        object that is not a supported queue, and ValueError when the queue
        is already registered on this link in either direction. Two
        Manager() proxies of the same queue count as the same queue.
        """
        engine_dir = engine_direction(direction)
        check_process()
        foreign = is_foreign_queue(q)
        if not foreign and not is_engine_queue(q):
            kind = f"{type(q).__module__}.{type(q).__qualname__}"
            raise TypeError(
                f"a QueueLink {direction} must be a queuelink queue (queuelink.Queue, "
                f"LifoQueue, PriorityQueue, JoinableQueue or SimpleQueue), a queue of the "
                f"queue or multiprocessing module, or a Manager() queue proxy, not {kind}"
            )

        with self._state_lock:
            link_handle = self._live_handle()
            bridge = None
            if foreign:
                key = foreign_identity(q)
                if key in self._foreign_ids:
                    raise AlreadyRegisteredError(
                        f"cannot register the queue as {direction} on {self._describe()}: it is "
                        f"already registered with id {self._foreign_ids[key]}; a queue can be "
                        f"registered on a link once, in one direction"
                    )
                bridge = self._start_bridge(q, direction)
                engine_queue = bridge.engine_queue
            else:
                engine_queue = q

            try:
                number = _ffi.link_register(link_handle, engine_queue.handle, engine_dir)
            except AlreadyRegisteredError as error:
                raise AlreadyRegisteredError(
                    f"cannot register the queue as {direction} on {self._describe()}: "
                    f"{error}; a queue can be registered on a link once, in one direction"
                ) from None
            except BaseException:
                if bridge is not None:
                    self._discard_bridge(bridge)
                raise

            queue_id = str(number)
            self._queues[queue_id] = (q, direction)
            if bridge is not None:
                self._bridges[queue_id] = bridge
                self._foreign_ids[key] = queue_id
            if self._stopped:
                # The registration started the publishers again.
                self._stopped = False
                for other in self._bridges.values():
                    other.resume()

        self._logger.debug("link %s registered queue %s as %s", self.name, queue_id, direction)
        return queue_id

    def _start_bridge(self, q: Any, direction: DIRECTION) -> Bridge:
        name = next_bridge_name(self.name)
        start = bridge_from if direction is DIRECTION.FROM else bridge_to
        _, bridge = start(q, name=name, cycle=self._bridge_cycle)
        return bridge

    def _discard_bridge(self, bridge: Bridge) -> None:
        """Stop a bridge whose queue never joined the link, losing no item."""
        bridge.stop(drain=False, timeout=1.0)
        if bridge.direction == "source":
            bridge.return_to_source()
        self._close_bridge_queue(bridge)

    def _close_bridge_queue(self, bridge: Bridge) -> None:
        engine_queue = bridge.engine_queue
        if engine_queue.closed:
            return
        left = engine_queue.qsize()
        if left:
            self._logger.error(
                "link %s dropped %d items that bridge %s could not move to %s in time",
                self.name,
                left,
                bridge.name,
                type(bridge.foreign).__qualname__,
            )
        engine_queue.close()

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
        receives nothing once this call returns. For a foreign source,
        the items its bridge has already taken are delivered first, for up
        to 5 seconds while the publishers run. Those left are put back at
        the end of the foreign queue, and the items still in the foreign
        queue stay there. For a foreign destination, the items already delivered to its
        bridge are put on it first. Raises NotRegisteredError (a KeyError)
        when no queue with that id is registered in that direction.
        """
        engine_dir = engine_direction(direction)
        number = _parse_queue_id(queue_id)
        key = str(number)
        self._live_handle()
        with self._state_lock:
            handle = self._live_handle()
            bridge = self._bridges.get(key)
            entry = self._queues.get(key)
            if bridge is None or entry is None or entry[1] is not direction:
                # Also raises NotRegisteredError for a queue of the other direction.
                _ffi.link_unregister(handle, number, engine_dir)
            elif direction is DIRECTION.FROM:
                deadline = time.monotonic() + DRAIN_TIMEOUT
                publishing = self._publishing(handle)
                bridge.stop(drain=False, timeout=DRAIN_TIMEOUT if publishing else 0.0)
                if publishing:
                    _wait_until(bridge.engine_queue._all_tasks_done, deadline)
                _ffi.link_unregister(handle, number, engine_dir)
                bridge.return_to_source()
                self._close_bridge_queue(bridge)
            else:
                _ffi.link_unregister(handle, number, engine_dir)
                bridge.stop(drain=True, timeout=DRAIN_TIMEOUT)
                self._close_bridge_queue(bridge)

            self._queues.pop(key, None)
            if bridge is not None and entry is not None and entry[1] is direction:
                self._bridges.pop(key, None)
                self._foreign_ids.pop(foreign_identity(entry[0]), None)
        self._logger.debug("link %s unregistered queue %s from %s", self.name, number, direction)
        return key

    def get_queue(self, queue_id: str | int) -> Any:
        """Return the queue registered with the given id, as it was registered.

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

    def _publishing(self, handle: Any) -> bool:
        """Return True when every source has a running publisher."""
        try:
            return _ffi.link_is_alive(handle)
        except StateError:
            return False

    def _stop_sources(self, handle: Any, drain: bool) -> float:
        """Stop the bridges of foreign sources, and return the deadline of stopping.

        With drain, the bridges first move what their foreign queues
        contain. While the publishers run, this waits until they have
        delivered what the bridges took, so that stopping the publishers
        next loses nothing. Then the publishers stop.
        """
        exit_left = exit_time_left()
        deadline = time.monotonic() + (DRAIN_TIMEOUT if exit_left is None else exit_left)
        sources = [bridge for bridge in self._bridges.values() if bridge.direction == "source"]

        publishing = self._publishing(handle)
        for bridge in sources:
            # Without running publishers, an item in a bridge's hands finds
            # no room in a full engine queue, so it goes back at once.
            timeout = _remaining(deadline) if publishing else 0.0
            bridge.stop(drain=drain and publishing, timeout=timeout)
        if publishing and sources:
            # A publisher calls task_done() on its source once every
            # destination has an item, and it takes items in batches, so
            # an empty queue is not enough.
            _wait_until(lambda: all(bridge.engine_queue._all_tasks_done() for bridge in sources), deadline)
        _ffi.link_stop(handle)
        return deadline

    def _stop_destinations(self, deadline: float) -> None:
        """Stop the bridges of foreign destinations once they have put what they received."""
        # Outside exit, a destination bridge gets at least a second, however
        # long the sources took.
        minimum = 1.0 if exit_time_left() is None else 0.0
        for bridge in self._bridges.values():
            if bridge.direction != "destination":
                continue
            if not bridge.is_alive() and bridge.engine_queue.qsize() > 0:
                # A bridge that an earlier stop() ended gets the items that
                # freeing the link delivered after it.
                bridge.resume()
            bridge.stop(drain=True, timeout=max(minimum, _remaining(deadline)))

    def stop(self) -> None:
        """Stop every publisher and bridge and wait for them to end.

        Before the publishers stop, the bridges of foreign sources move
        what their queues contain and the publishers deliver it, for up to
        5 seconds in all. So every item put on a foreign source before
        stop() reaches the destinations, unless one is full. Then the
        publishers stop, and the bridges of foreign destinations put what
        they received on them. Items on an engine source stay there, and
        so do items put on any source later.

        A publisher that waits for room in a full destination when it stops
        keeps the item it has taken and delivers it first when the
        publishers start again, or settles it on close(). A foreign
        destination counts as full while its bridge has 64 items it has
        not yet put on it. A later registration starts the publishers and
        bridges again, and the ids stay the same.
        """
        self._live_handle()
        with self._state_lock:
            handle = self._live_handle()
            deadline = self._stop_sources(handle, drain=True)
            self._stop_destinations(deadline)
            self._stopped = True
        self._logger.debug("link %s stopped", self.name)

    def close(self) -> None:
        """Stop the publishers and bridges, free the link and drop its queue references.

        Items that the bridge of a foreign source has taken and the link has
        not delivered within 5 seconds go back to the end of that queue.
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
        """Return True when the queues are empty and no publisher or bridge
        is moving an item.

        Without queue_id, every registered queue is checked. With the id of
        a queue, only that queue and every source are checked. A foreign
        queue counts as empty when its empty() is true (qsize() is 0 for a
        multiprocessing queue). The check may wait for one get() of a bridge
        to return, at most link_timeout seconds. Raises NotRegisteredError
        (a KeyError) for an unknown id.
        """
        handle = self._live_handle()
        number = 0 if queue_id is None else _parse_queue_id(queue_id)
        with self._state_lock:
            if number and str(number) not in self._queues:
                raise NotRegisteredError(f"no queue with id {number} is registered on {self._describe()}")
            sources = [bridge for bridge in self._bridges.values() if bridge.direction == "source"]
            destinations = [
                bridge
                for bridge_id, bridge in self._bridges.items()
                if bridge.direction == "destination" and number in (0, int(bridge_id))
            ]

        # Items move from foreign sources through the engine to foreign
        # destinations. Checking each stage before the next one finds an
        # item that moves on during the check.
        if not all(foreign_is_empty(bridge.foreign) for bridge in sources):
            return False
        if not all_settled(sources):
            return False
        if not _ffi.link_is_empty(handle, number):
            return False
        if not all(_destination_bridge_idle(bridge) for bridge in destinations):
            return False
        return all(foreign_is_empty(bridge.foreign) for bridge in destinations)

    def is_drained(self) -> bool:
        """Return False if no publisher ever started, else is_empty()."""
        try:
            _ffi.link_is_alive(self._live_handle())
        except StateError:
            return False
        return self.is_empty()

    def _exit_settled(self) -> bool:
        """Return True when closing would strand no item that the link has taken.

        At exit, the items in sources should reach the destinations, but
        items that stay unread in a destination are not waited for.
        """
        handle = self._handle
        if handle is None or not self._publishing(handle):
            return True
        with self._state_lock:
            source_ids = [queue_id for queue_id, (_, direction) in self._queues.items() if direction is DIRECTION.FROM]
            sources = [bridge for bridge in self._bridges.values() if bridge.direction == "source"]
            destinations = [bridge for bridge in self._bridges.values() if bridge.direction == "destination"]
        if not all(foreign_is_empty(bridge.foreign) for bridge in sources) or not all_settled(sources):
            return False
        # With the id of a source, the engine checks every source and the publishers.
        if source_ids and not _ffi.link_is_empty(handle, int(source_ids[0])):
            return False
        return all(_destination_bridge_idle(bridge) for bridge in destinations)

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
        self._live_handle()
        with self._state_lock:
            entries = [(queue_id, q) for queue_id, (q, d) in self._queues.items() if d is direction]
        for queue_id, queue_obj in entries:
            try:
                if is_foreign_queue(queue_obj):
                    item = take_nowait(queue_obj)
                else:
                    item = queue_obj.get_nowait()
            except _queue.Empty:
                self._logger.info("link %s %s queue %s is empty", self.name, direction, queue_id)
            else:
                self._logger.info("link %s %s queue %s: %r", self.name, direction, queue_id, item)

    # -- factories of the link's context -------------------------------------

    def Queue(self, *args: Any, **kwargs: Any) -> Any:
        """Create a queue for use with this link and its Process() objects.

        Without thread_only, it is a multiprocessing JoinableQueue of the
        link's context, as the link's Process() objects need: it can be
        passed to them, and the link moves its items through a bridge. With
        thread_only, the link's users are threads of this process, so it is
        an engine-owned queuelink.JoinableQueue, which the link moves
        without a bridge and which cannot be sent to another process.
        """
        if self.thread_only:
            return JoinableQueue(*args, **kwargs)
        return multiprocessing.get_context(self.start_method).JoinableQueue(*args, **kwargs)

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

        With the 'fork' start method, the child can use the multiprocessing
        queues of the link, but any queuelink object raises RuntimeError
        there, because the engine's Go runtime does not survive fork().
        """
        return multiprocessing.get_context(self.start_method).Process(*args, **kwargs)

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else f"{len(self._queues)} queues"
        return f"<queuelink.QueueLink {self.name!r} {state}>"

"""Bridges between foreign queues and engine queues.

The engine routes items only between queues it owns. A foreign queue is one
of the standard library's (``queue.Queue``, ``LifoQueue``, ``PriorityQueue``,
``SimpleQueue``), of ``multiprocessing`` (``Queue``, ``JoinableQueue``,
``SimpleQueue`` of any start method's context) or a ``Manager()`` proxy of a
queue. A bridge is one daemon thread that moves items between one foreign
queue and one engine queue. Everything else, fan-out and fan-in included,
stays in the engine.

- ``bridge_from(foreign)``: the foreign queue is a source. The thread takes
  its items and puts them on a new engine queue.
- ``bridge_to(foreign)``: the foreign queue is a destination. The thread
  takes the items of a new engine queue and puts them on the foreign queue.

Items cross the engine queue as described in ``queuelink._items``, except
that a ``bytearray`` is pickled so that it comes out as a ``bytearray``.
So any picklable item arrives unchanged, and an item that cannot be pickled
is dropped with an error in the log.

The engine queue of a bridge is bounded (``BUFFER_SIZE`` items), so a full
destination slows the link down as an engine queue would, and a source
bridge takes at most that many items ahead of the link.

A thread waits at most ``cycle`` seconds in one call before it checks
whether it must stop, so it sleeps when idle and stops promptly. It moves
items one after another without waiting while they are available. A
``multiprocessing.SimpleQueue`` has no timeout on get(), so a source bridge
polls its empty() every ``POLL_INTERVAL`` seconds instead.
"""

from __future__ import annotations

import itertools
import logging
import pickle
import queue as _queue
import threading
import time
import weakref
from typing import Any, Callable

from . import _constants, _ffi
from ._handle import exit_time_left, register_exit_hook
from ._items import encode_item
from .exceptionhandler import ClosedError
from .queues import Queue, carried_priority, is_engine_queue

# Maximum number of items in the engine queue of a bridge.
BUFFER_SIZE = 64

# Seconds that a bridge thread waits in one call on either queue.
DEFAULT_CYCLE = 0.01

# Seconds between two empty() checks of a multiprocessing.SimpleQueue source.
POLL_INTERVAL = 0.005


_logger = logging.getLogger("queuelink.bridge")
_bridge_numbers = itertools.count(1)

# Bridges whose thread may still run, stopped at interpreter exit.
_live_bridges: weakref.WeakSet[Bridge] = weakref.WeakSet()

# States of a bridge thread, for is_empty() checks of the queues it joins.
_IDLE = 0  # between two items, holding none
_GETTING = 1  # in a get() that may take an item
_HOLDING = 2  # holding an item taken from one queue and not yet put on the other

_SOURCE = "source"
_DESTINATION = "destination"


# ---------------------------------------------------------------------------
# Foreign queues
# ---------------------------------------------------------------------------


def _multiprocessing_classes() -> tuple[type, type, type]:
    # Imported on first use, because a program with no foreign queue needs
    # none of multiprocessing's queue machinery.
    from multiprocessing.managers import BaseProxy
    from multiprocessing.queues import Queue as MPQueue
    from multiprocessing.queues import SimpleQueue as MPSimpleQueue

    return MPQueue, MPSimpleQueue, BaseProxy


def is_foreign_queue(obj: object) -> bool:
    """Return True for a queue that a bridge can move items to or from.

    These are the ``queue`` module's queues, ``multiprocessing`` queues of
    any context, and ``Manager()`` proxies that have get() and put().
    Engine queues are not foreign.
    """
    if is_engine_queue(obj):
        return False
    if isinstance(obj, (_queue.Queue, _queue.SimpleQueue)):
        return True
    mp_queue, mp_simple_queue, base_proxy = _multiprocessing_classes()
    if isinstance(obj, (mp_queue, mp_simple_queue)):
        return True
    if isinstance(obj, base_proxy):
        return callable(getattr(obj, "get", None)) and callable(getattr(obj, "put", None))
    return False


def foreign_identity(obj: object) -> object:
    """Return a key that is equal for two objects naming the same queue.

    Two ``Manager()`` proxies of one queue are different objects with the
    same token, so they get the same key; any other queue is itself.
    """
    _, _, base_proxy = _multiprocessing_classes()
    if isinstance(obj, base_proxy):
        token = obj._token
        return ("manager proxy", token.address, token.id)
    return ("object", id(obj))


def take_nowait(foreign: Any) -> Any:
    """Take an item from a foreign queue without waiting; raise queue.Empty if none."""
    return _ForeignQueue(foreign).get(0)


def foreign_is_empty(foreign: Any) -> bool:
    """Return True when a foreign queue contains no item at the moment of the call."""
    return _ForeignQueue(foreign).is_empty()


class _ForeignQueue:
    """get, put and empty of one foreign queue, with one timeout convention.

    Timeouts are in seconds, and 0 does not wait. get() raises queue.Empty
    and put() raises queue.Full when the timeout passes.
    """

    def __init__(self, foreign: Any) -> None:
        mp_queue, mp_simple_queue, _ = _multiprocessing_classes()
        self.foreign = foreign
        # Neither SimpleQueue takes a timeout on put(). queue.SimpleQueue
        # never blocks, and multiprocessing.SimpleQueue blocks only while
        # its pipe is full, until a consumer reads.
        self._put_has_timeout = not isinstance(foreign, (_queue.SimpleQueue, mp_simple_queue))
        # multiprocessing.SimpleQueue.get() takes no argument at all.
        self._polled_get = isinstance(foreign, mp_simple_queue)
        # multiprocessing.Queue.empty() misses items that a feeder thread has
        # not yet written to the pipe; qsize() counts them.
        self._sized = isinstance(foreign, mp_queue)
        self.task_done: Callable[[], None] | None = getattr(foreign, "task_done", None)

    def get(self, timeout: float) -> Any:
        foreign = self.foreign
        if self._polled_get:
            deadline = time.monotonic() + timeout
            while foreign.empty():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _queue.Empty
                time.sleep(min(POLL_INTERVAL, remaining))
            return foreign.get()
        if timeout <= 0:
            return foreign.get(False)
        return foreign.get(True, timeout)

    def put(self, item: Any, timeout: float) -> None:
        foreign = self.foreign
        if not self._put_has_timeout:
            # NOTE: a put on a multiprocessing.SimpleQueue whose pipe is full
            # ignores the timeout, so stopping its bridge waits for a reader.
            foreign.put(item)
        elif timeout <= 0:
            foreign.put(item, False)
        else:
            foreign.put(item, True, timeout)

    def is_empty(self) -> bool:
        foreign = self.foreign
        if self._sized:
            try:
                return foreign.qsize() == 0
            except NotImplementedError:
                # sem_getvalue() is missing on some platforms, such as macOS.
                pass
        empty = getattr(foreign, "empty", None)
        if empty is not None:
            return bool(empty())
        qsize = getattr(foreign, "qsize", None)
        if qsize is not None:
            return qsize() == 0
        return True


def _encode_exact(item: Any) -> tuple[int, bytes]:
    """Return the message kind and payload that bring item back unchanged."""
    if type(item) is bytearray:
        # _items sends a bytearray as bytes, which would arrive as bytes.
        return _constants.KIND_PICKLE, pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
    return encode_item(item)


# ---------------------------------------------------------------------------
# Bridges
# ---------------------------------------------------------------------------


class Bridge:
    """A daemon thread that moves items between a standard-library (or
    multiprocessing, or Manager proxy) queue and an engine queue.

    Create bridges with bridge_from() and bridge_to(). ``foreign`` is the
    foreign queue, ``engine_queue`` the engine queue, and ``direction``
    "source" (foreign to engine) or "destination" (engine to foreign).
    The thread runs from creation until stop(). Nothing runs in a child
    created by fork(): the thread does not exist there, and stop() returns
    at once.
    """

    def __init__(self, foreign: Any, engine_queue: Queue, *, direction: str, name: str, cycle: float) -> None:
        if direction not in (_SOURCE, _DESTINATION):
            raise ValueError(f"direction must be {_SOURCE!r} or {_DESTINATION!r}, not {direction!r}")
        if not cycle > 0:
            raise ValueError(f"cycle must be a positive number of seconds, not {cycle!r}")
        self.foreign = foreign
        self.engine_queue = engine_queue
        self.direction = direction
        self.name = name
        self._foreign = _ForeignQueue(foreign)
        self._cycle = cycle

        # Guards the fields below; the thread notifies it when its state changes.
        self._condition = threading.Condition()
        self._state = _IDLE
        self._gets_finished = 0
        self._stop_requested = False
        self._drain = False
        self._deadline = float("inf")
        self._running = False
        self._thread: threading.Thread | None = None

        # Number of items put on the engine queue whose foreign task_done()
        # is still due. Guarded by _task_lock.
        self._task_lock = threading.Lock()
        self._tasks_due = 0
        self._task_done_failed = False

        self._start_thread()

    def __repr__(self) -> str:
        state = "running" if self.is_alive() else "stopped"
        return f"<queuelink Bridge {self.name!r} {self.direction} {state}>"

    # -- control -------------------------------------------------------------

    def _start_thread(self) -> None:
        target = self._run_source if self.direction == _SOURCE else self._run_destination
        thread = threading.Thread(target=target, name=f"queuelink-bridge-{self.name}", daemon=True)
        with self._condition:
            self._running = True
            self._thread = thread
        _live_bridges.add(self)
        thread.start()

    def stop(self, drain: bool = True, timeout: float | None = 5.0) -> None:
        """Stop moving items and wait at most about timeout seconds for the thread to end.

        With drain, the thread first moves what is already in the queue it
        takes from: the foreign queue of a source bridge, the engine queue
        of a destination bridge. It stops when that queue is empty or the
        timeout has passed. An item that the thread holds when it stops, and
        cannot put within the timeout, goes back to the end of the queue it
        came from. timeout None drains without a time limit. Stopping twice
        is allowed, and a thread that does not end in time is left to end
        on its own, which it does as soon as its current call returns.
        """
        if _ffi.is_forked_child():
            return
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must be None or a non-negative number of seconds, not {timeout!r}")
        with self._condition:
            if not self._stop_requested:
                self._stop_requested = True
                self._drain = drain
                self._deadline = float("inf") if timeout is None else time.monotonic() + timeout
            deadline = self._deadline
            thread = self._thread
            self._condition.notify_all()
        if thread is None or thread is threading.current_thread():
            return

        # The thread notices the request within one cycle of its current
        # call, and may need one more call to settle an item it holds.
        join_timeout = None if deadline == float("inf") else max(0.0, deadline - time.monotonic()) + 2 * self._cycle + 0.1
        thread.join(join_timeout)
        if thread.is_alive():
            _logger.warning(
                "bridge %s did not stop within %.1f s; it ends when its current call on %s returns",
                self.name,
                join_timeout,
                _describe(self.foreign),
            )
        else:
            _live_bridges.discard(self)

    def resume(self) -> None:
        """Start moving items again after stop(); does nothing while running."""
        if _ffi.is_forked_child():
            raise RuntimeError(_ffi.FORK_MESSAGE)
        with self._condition:
            self._stop_requested = False
            self._drain = False
            self._deadline = float("inf")
            # A thread that has not yet committed to ending carries on.
            if self._running:
                return
        self._start_thread()

    def is_alive(self) -> bool:
        """Return True while the thread moves items."""
        if _ffi.is_forked_child():
            # The thread does not exist there, and its lock may be held forever.
            return False
        with self._condition:
            return self._running and not self._stop_requested

    def is_settled(self, timeout: float | None = None) -> bool:
        """Return True when the thread holds no item.

        A thread inside a get() may be taking an item at this moment, so
        this waits for that get() to return, at most one cycle. It returns
        False when the thread holds an item, or still runs the same get()
        after timeout seconds (default: a few cycles).
        """
        return all_settled([self], timeout)

    def _settle_mark(self) -> int | None:
        """Return the number of the get() in progress, or None when there is none."""
        with self._condition:
            if self._state == _GETTING and self._running:
                return self._gets_finished
            return None

    def _settled_after(self, mark: int | None, deadline: float) -> bool:
        with self._condition:
            if mark is not None:
                # The next get() may start at once, so wait for this one to
                # finish rather than for the state to change.
                while self._gets_finished == mark and self._running:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._condition.wait(remaining)
            return self._state != _HOLDING or not self._running

    def return_to_source(self, timeout: float = 1.0) -> int:
        """Put the items still in the engine queue back on the foreign source.

        For a source bridge after stop(): items it took ahead of the
        consumer of the engine queue go back to the end of the foreign
        queue, so none is lost when the engine queue is closed. Returns the
        number of items returned. An item that finds no room within timeout
        seconds is dropped and logged as an error.
        """
        if self.direction != _SOURCE:
            raise ValueError(f"return_to_source() is for a source bridge, and {self.name} is a {self.direction} bridge")
        returned = 0
        while True:
            try:
                item = self.engine_queue.get(block=False)
            except (_queue.Empty, ClosedError):
                break
            try:
                self._foreign.put(item, timeout)
                returned += 1
            except Exception as error:  # noqa: BLE001 - any failure of a foreign put loses only this item
                _logger.error("bridge %s dropped an item it could not return to %s: %r", self.name, _describe(self.foreign), error)
            self.engine_queue.task_done()
        self._flush_task_done()
        if returned:
            _logger.debug("bridge %s returned %d items to %s", self.name, returned, _describe(self.foreign))
        return returned

    # -- thread ----------------------------------------------------------------

    def _set_state(self, state: int) -> None:
        with self._condition:
            if self._state == _GETTING:
                self._gets_finished += 1
            self._state = state
            self._condition.notify_all()

    def _next_cycle(self) -> bool | None:
        """Return whether this cycle drains, or None when the thread must end."""
        with self._condition:
            if self._stop_requested and (not self._drain or time.monotonic() >= self._deadline):
                self._end_locked()
                return None
            self._state = _GETTING
            return self._stop_requested

    def _end(self) -> None:
        with self._condition:
            self._end_locked()

    def _end_locked(self) -> None:
        # After resume() has started a new thread, an old one that is still
        # finishing must not mark the new one as ended.
        if self._thread is threading.current_thread():
            if self._state == _GETTING:
                self._gets_finished += 1
            self._running = False
            self._state = _IDLE
            self._condition.notify_all()

    def _foreign_is_empty(self) -> bool:
        try:
            return self._foreign.is_empty()
        except Exception:  # noqa: BLE001 - a broken foreign queue has nothing left to drain
            return True

    def _stopping_past_deadline(self) -> bool:
        with self._condition:
            return self._stop_requested and time.monotonic() >= self._deadline

    def _run_source(self) -> None:
        try:
            while True:
                draining = self._next_cycle()
                if draining is None:
                    break
                try:
                    item = self._foreign.get(self._cycle)
                except _queue.Empty:
                    self._set_state(_IDLE)
                    self._flush_task_done()
                    # A multiprocessing queue may still have items in a
                    # producer's feeder thread, which its qsize() counts.
                    if draining and self._foreign_is_empty():
                        self._end()
                        break
                    continue
                except Exception as error:  # noqa: BLE001 - a broken foreign queue ends the bridge
                    self._log_foreign_failure("get from", error)
                    self._end()
                    break

                self._set_state(_HOLDING)
                keep_going = self._move_to_engine(item)
                self._set_state(_IDLE)
                if not keep_going:
                    self._end()
                    break
        finally:
            self._end()
            self._flush_task_done()

    def _move_to_engine(self, item: Any) -> bool:
        """Put an item taken from the foreign source on the engine queue.

        Returns False when the bridge must end: the engine queue is closed,
        or the bridge is stopping and the item went back to the foreign queue.
        """
        try:
            kind, payload = _encode_exact(item)
        except Exception as error:  # noqa: BLE001 - pickling can raise anything
            _logger.error("bridge %s dropped an item that cannot be pickled: %r: %s", self.name, item, error)
            self._call_task_done(1)
            return True

        priority = carried_priority(item)
        while True:
            try:
                self.engine_queue._put(kind, payload, self._cycle, priority)
            except _queue.Full:
                if self._stopping_past_deadline():
                    self._give_back_to_foreign(item)
                    return False
                continue
            except ClosedError:
                self._give_back_to_foreign(item)
                return False
            if self._foreign.task_done is not None:
                with self._task_lock:
                    self._tasks_due += 1
            return True

    def _give_back_to_foreign(self, item: Any) -> None:
        try:
            self._foreign.put(item, self._cycle)
        except Exception as error:  # noqa: BLE001 - any failure of a foreign put loses only this item
            _logger.error("bridge %s dropped an item it could not return to %s: %r", self.name, _describe(self.foreign), error)
            self._call_task_done(1)
            return
        # The foreign queue counted the item twice, once per put.
        self._call_task_done(1)

    def _run_destination(self) -> None:
        try:
            while True:
                draining = self._next_cycle()
                if draining is None:
                    break
                try:
                    item = self.engine_queue.get(timeout=self._cycle)
                except _queue.Empty:
                    self._set_state(_IDLE)
                    if draining:
                        self._end()
                        break
                    continue
                except ClosedError:
                    self._end()
                    break

                self._set_state(_HOLDING)
                keep_going = self._move_to_foreign(item)
                self._set_state(_IDLE)
                if not keep_going:
                    self._end()
                    break
        finally:
            self._end()

    def _move_to_foreign(self, item: Any) -> bool:
        """Put an item taken from the engine queue on the foreign destination.

        Returns False when the bridge must end: the foreign queue failed, or
        the bridge is stopping and the item went back to the engine queue.
        """
        while True:
            try:
                self._foreign.put(item, self._cycle)
            except _queue.Full:
                if self._stopping_past_deadline():
                    self._give_back_to_engine(item)
                    return False
                continue
            except Exception as error:  # noqa: BLE001 - a broken foreign queue ends the bridge
                self._log_foreign_failure("put to", error)
                _logger.error("bridge %s dropped an item it could not put to %s: %r", self.name, _describe(self.foreign), item)
                self.engine_queue.task_done()
                return False
            self.engine_queue.task_done()
            return True

    def _give_back_to_engine(self, item: Any) -> None:
        try:
            kind, payload = _encode_exact(item)
            self.engine_queue._put(kind, payload, 0, carried_priority(item))
        except (_queue.Full, ClosedError):
            _logger.error(
                "bridge %s dropped an item: %s stayed full and the engine queue had no room for it",
                self.name,
                _describe(self.foreign),
            )
        self.engine_queue.task_done()

    # -- task_done of a foreign source -------------------------------------------

    def _flush_task_done(self) -> None:
        """Call the foreign source's task_done() for the items the consumer of
        the engine queue has finished.

        The engine reports only whether every item ever put on its queue is
        done, so the calls are made in one batch whenever that is true. A
        foreign join() therefore returns once the link (or writer) has
        finished every item, as it would with the foreign queue in its place.
        """
        with self._task_lock:
            if not self._tasks_due:
                return
            try:
                if not self.engine_queue._all_tasks_done():
                    return
            except RuntimeError:
                return
            count, self._tasks_due = self._tasks_due, 0
        self._call_task_done(count)

    def _call_task_done(self, count: int) -> None:
        task_done = self._foreign.task_done
        if task_done is None or self._task_done_failed:
            return
        try:
            for _ in range(count):
                task_done()
        except Exception as error:  # noqa: BLE001 - reported once, then task_done() is no longer called
            self._task_done_failed = True
            _logger.warning(
                "bridge %s stopped calling task_done() on %s, which failed: %r; another consumer may "
                "call task_done() for the items this bridge takes",
                self.name,
                _describe(self.foreign),
                error,
            )

    def _log_foreign_failure(self, action: str, error: BaseException) -> None:
        with self._condition:
            stopping = self._stop_requested
        # At exit, multiprocessing may close its queues and shut Manager
        # processes down before a bridge stops, so a failure then is no error.
        level = logging.DEBUG if stopping or exit_time_left() is not None else logging.WARNING
        _logger.log(level, "bridge %s stopped: %s %s failed: %r", self.name, action, _describe(self.foreign), error)


def all_settled(bridges: list[Bridge], timeout: float | None = None) -> bool:
    """Return True when none of the bridges holds an item; see Bridge.is_settled.

    The gets in progress are waited for together, so this takes at most
    about one cycle however many bridges there are.
    """
    if _ffi.is_forked_child():
        return True
    if timeout is None:
        timeout = 5 * max((bridge._cycle for bridge in bridges), default=0.0) + 0.05
    deadline = time.monotonic() + timeout
    marks = [bridge._settle_mark() for bridge in bridges]
    return all(bridge._settled_after(mark, deadline) for bridge, mark in zip(bridges, marks))


def _describe(obj: object) -> str:
    obj_type = type(obj)
    return f"{obj_type.__module__}.{obj_type.__qualname__}"


def _check_foreign(foreign: Any, role: str) -> None:
    if not is_foreign_queue(foreign):
        raise TypeError(
            f"a bridge {role} must be a queue of the queue or multiprocessing module or a "
            f"Manager() queue proxy, not {_describe(foreign)}"
        )


def bridge_from(foreign: Any, *, name: str, cycle: float = DEFAULT_CYCLE) -> tuple[Queue, Bridge]:
    """Start moving the items of a foreign source queue to a new engine queue.

    Returns the engine queue and the running bridge. The caller consumes the
    engine queue and closes it after stopping the bridge. Where the foreign
    queue has task_done(), the bridge calls it once per item, after the
    consumer of the engine queue has called task_done() on the engine queue
    for that item. A QueueLink publisher and a writer do so, as
    Bridge._flush_task_done describes.
    """
    _check_foreign(foreign, "source")
    engine_queue = Queue(maxsize=BUFFER_SIZE)
    try:
        bridge = Bridge(foreign, engine_queue, direction=_SOURCE, name=name, cycle=cycle)
    except BaseException:
        engine_queue.close()
        raise
    return engine_queue, bridge


def bridge_to(foreign: Any, *, name: str, cycle: float = DEFAULT_CYCLE) -> tuple[Queue, Bridge]:
    """Start moving the items of a new engine queue to a foreign destination queue.

    Returns the engine queue and the running bridge. The caller puts on the
    engine queue (or lets a link or reader do it), and closes it after
    stopping the bridge with drain. The bridge calls task_done() on the
    engine queue once it has put an item on the foreign queue.
    """
    _check_foreign(foreign, "destination")
    engine_queue = Queue(maxsize=BUFFER_SIZE)
    try:
        bridge = Bridge(foreign, engine_queue, direction=_DESTINATION, name=name, cycle=cycle)
    except BaseException:
        engine_queue.close()
        raise
    return engine_queue, bridge


def next_bridge_name(owner: str) -> str:
    """Return a unique bridge name for log messages, such as "link-3/bridge-7"."""
    return f"{owner}/bridge-{next(_bridge_numbers)}"


def _stop_bridges_at_exit() -> None:
    """Stop the bridges that their owners left running, within the time left at exit."""
    for bridge in list(_live_bridges):
        try:
            bridge.stop(drain=True, timeout=exit_time_left() or 0.0)
        except Exception:  # noqa: BLE001 - exit goes on for the other bridges
            _logger.debug("failed to stop bridge %s at exit", bridge.name, exc_info=True)


register_exit_hook(_stop_bridges_at_exit, order=10)

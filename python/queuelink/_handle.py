"""The base class of every object that owns an engine handle."""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
import weakref
from typing import Any, Callable

# multiprocessing.util registers its own exit hook, which closes
# multiprocessing queues and shuts Manager processes down. atexit calls
# hooks in reverse order of registration, so importing it first makes
# the hook of this module run before it, while bridges can still use them.
import multiprocessing.util  # noqa: F401

from . import _ffi
from .exceptionhandler import ClosedError, InvalidHandleError

_logger = logging.getLogger("queuelink")

# Objects that close themselves at interpreter exit, so writers flush and
# publishers end before the interpreter tears down.
_exit_closers: weakref.WeakSet[HandleOwner] = weakref.WeakSet()

# Seconds that links, writers and bridges get, all together, at interpreter
# exit to deliver and write what they hold before they close. Items that
# cannot move within that time, such as those bound for a full queue without
# a consumer, are given up.
EXIT_DRAIN_TIMEOUT = 3.0
_EXIT_POLL_INTERVAL = 0.01

# Functions that run at interpreter exit after the objects above have
# closed, as (order, function), lowest order first.
_exit_hooks: list[tuple[int, Callable[[], None]]] = []

# The monotonic time by which closing at exit should end, set when the exit
# hook of this module starts.
_exit_deadline: float | None = None


def exit_time_left() -> float | None:
    """Return the seconds left to close objects at interpreter exit, or None
    when the interpreter is not exiting."""
    if _exit_deadline is None:
        return None
    return max(0.0, _exit_deadline - time.monotonic())


def check_process() -> None:
    """Raise RuntimeError in a child created by fork() after the library was loaded."""
    if _ffi.is_forked_child():
        raise RuntimeError(_ffi.FORK_MESSAGE)


def register_exit_hook(function: Callable[[], None], order: int) -> None:
    """Run function at interpreter exit, after every HandleOwner has closed.

    Hooks run lowest order first, and never in a child created by fork().
    """
    _exit_hooks.append((order, function))
    _exit_hooks.sort(key=lambda entry: entry[0])


class HandleOwner:
    """An object that owns one engine handle and frees it at most once.

    The handle is freed by ``close()``, at the end of a ``with`` block, when
    the object is garbage collected, or at interpreter exit for subclasses
    whose ``_exit_rank`` is set. Nothing is freed in a child created by
    fork(), where the library must not be called, nor while the interpreter
    shuts down. Using the object after close raises ClosedError, and using
    it in a child created by fork() raises RuntimeError.

    At interpreter exit, objects close in the order of their ``_exit_rank``.
    Those of rank 0 (readers) close at once, because their input may never
    end. Those of higher ranks (links, then writers) first get until a
    deadline shared by all, EXIT_DRAIN_TIMEOUT seconds, to report
    ``_exit_settled()``, so that a link delivers and a writer writes what
    it holds.
    """

    # Position in the order of closing at interpreter exit (lowest first),
    # or None to leave the object to the operating system.
    _exit_rank: int | None = None

    _handle: Any = None
    _closed: bool = False

    def __init__(self) -> None:
        self._handle = None
        self._closed = False
        self._state_lock = threading.RLock()

    def _adopt(self, handle: Any) -> None:
        """Take ownership of a handle that the engine just returned."""
        self._handle = handle
        if self._exit_rank is not None:
            _exit_closers.add(self)

    def _release(self, handle: Any) -> None:
        """Free the handle in the engine; subclasses implement it."""
        raise NotImplementedError

    def _describe(self) -> str:
        return type(self).__name__

    def _closed_error(self) -> ClosedError:
        return ClosedError(f"{self._describe()} is closed; create a new one")

    def _live_handle(self) -> Any:
        """Return the handle, raising ClosedError after close() and
        RuntimeError in a child created by fork()."""
        check_process()
        handle = self._handle
        if handle is None:
            raise self._closed_error()
        return handle

    def _translate_handle_error(self, error: InvalidHandleError) -> Exception:
        """Return ClosedError when a call failed because another thread closed
        this object during the call, else the error itself."""
        if self._handle is None:
            return self._closed_error()
        return error

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._closed

    def close(self) -> None:
        """Free the engine handle. Closing twice is allowed."""
        with self._state_lock:
            handle, self._handle = self._handle, None
            self._closed = True
        if handle is not None:
            _exit_closers.discard(self)
            self._release(handle)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self, _is_finalizing: Any = sys.is_finalizing) -> None:
        # Default arguments stay reachable while the interpreter tears down
        # the module's globals.
        handle = self._handle
        if handle is None or _is_finalizing():
            return
        try:
            if _ffi.is_forked_child():
                return
            self._handle = None
            self._release(handle)
        except Exception:  # noqa: BLE001 - an error in __del__ can only be logged
            _logger.debug("failed to free %s during garbage collection", self._describe(), exc_info=True)

    def _exit_settled(self) -> bool:
        """Return True when closing at exit loses nothing this object holds.

        The default fits readers and writers: an adapter that no longer
        runs, or whose is_drained() is true. QueueLink overrides it.
        """
        is_alive = getattr(self, "is_alive", None)
        is_drained = getattr(self, "is_drained", None)
        if is_alive is None or is_drained is None:
            return True
        return not is_alive() or is_drained()


def _wait_settled(owner: HandleOwner, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if owner._handle is None or owner._exit_settled():
                return
        except Exception:  # noqa: BLE001 - an object that cannot tell is closed as it is
            _logger.debug("failed to check %s at exit", owner._describe(), exc_info=True)
            return
        time.sleep(_EXIT_POLL_INTERVAL)


def _close_at_exit() -> None:
    global _exit_deadline
    if _ffi.is_forked_child():
        return
    deadline = _exit_deadline = time.monotonic() + EXIT_DRAIN_TIMEOUT
    owners = sorted(_exit_closers, key=lambda owner: owner._exit_rank or 0)
    for owner in owners:
        try:
            if owner._exit_rank:
                _wait_settled(owner, deadline)
            owner.close()
        except Exception:  # noqa: BLE001 - exit must go on for the other objects
            _logger.warning("failed to close %s at exit", owner._describe(), exc_info=True)
    for _, hook in list(_exit_hooks):
        try:
            hook()
        except Exception:  # noqa: BLE001 - exit must go on for the other hooks
            _logger.warning("exit hook %s failed", getattr(hook, "__qualname__", hook), exc_info=True)


atexit.register(_close_at_exit)

"""The base class of every object that owns an engine handle."""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import weakref
from typing import Any

from . import _ffi
from .exceptionhandler import ClosedError, InvalidHandleError

_logger = logging.getLogger("queuelink")

# Objects that close themselves at interpreter exit, so writers flush and
# publishers end before the interpreter tears down.
_exit_closers: weakref.WeakSet[HandleOwner] = weakref.WeakSet()


class HandleOwner:
    """An object that owns one engine handle and frees it at most once.

    The handle is freed by ``close()``, at the end of a ``with`` block, when
    the object is garbage collected, or at interpreter exit for subclasses
    whose ``_exit_rank`` is set. Nothing is freed in a child created by
    fork(), where the library must not be called, nor while the interpreter
    shuts down. Using the object after close raises ClosedError.
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
        """Return the handle, raising ClosedError after close()."""
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


def _close_at_exit() -> None:
    if _ffi.is_forked_child():
        return
    owners = sorted(_exit_closers, key=lambda owner: owner._exit_rank or 0)
    for owner in owners:
        try:
            owner.close()
        except Exception:  # noqa: BLE001 - exit must go on for the other objects
            _logger.warning("failed to close %s at exit", owner._describe(), exc_info=True)


atexit.register(_close_at_exit)

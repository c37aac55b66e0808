"""Exceptions raised by queuelink.

Errors reported by the engine derive from QueueLinkError, whose ``status``
is the engine's status code. Where a standard exception fits, the class also
derives from it, so ``except ValueError`` or ``except TimeoutError`` work as
usual. The engine's ``empty`` and ``full`` statuses become the standard
``queue.Empty`` and ``queue.Full``, as with the standard library's queues.

ProcessNotStarted, HandleAlreadySet and HandleNotSet keep the ``errno``
values that existing code may check.
"""

from __future__ import annotations

import queue as _queue

from . import _constants

# queue.ShutDown exists from Python 3.13 on; a closed engine queue is the
# same situation, so ClosedError derives from it where it exists.
_SHUTDOWN_BASES: tuple[type, ...] = (
    (_queue.ShutDown,) if hasattr(_queue, "ShutDown") else ()
)


class QueueLinkError(Exception):
    """Base class of the errors that the QueueLink engine reports.

    ``status`` is the engine's status code, or None for errors that the
    Python package raises on its own.
    """

    status: int | None = None


class InvalidArgumentError(QueueLinkError, ValueError):
    """An argument has a value that the engine rejects."""

    status = _constants.ERR_INVALID


class InvalidHandleError(QueueLinkError):
    """A handle passed to the engine is NULL, freed or of the wrong type."""

    status = _constants.ERR_HANDLE


class ClosedError(QueueLinkError, *_SHUTDOWN_BASES):
    """The queue, link, reader or writer is closed or stopped."""

    status = _constants.ERR_CLOSED


class WaitTimeoutError(QueueLinkError, TimeoutError):
    """A wait other than a get or a put (join, wait) timed out."""

    status = _constants.ERR_TIMEOUT


class AlreadyRegisteredError(QueueLinkError, ValueError):
    """The queue is already registered on the link, in either direction."""

    status = _constants.ERR_EXISTS


class NotRegisteredError(QueueLinkError, KeyError):
    """No queue with the given id is registered in the given direction."""

    status = _constants.ERR_NOT_FOUND

    # KeyError's __str__ shows the repr of its argument; show the message.
    __str__ = Exception.__str__


class EngineIOError(QueueLinkError, OSError):
    """The operating system reported an error to the engine."""

    status = _constants.ERR_IO


class StateError(QueueLinkError, RuntimeError):
    """The call is not valid in the object's current state."""

    status = _constants.ERR_STATE


class InternalError(QueueLinkError):
    """The engine reported a bug in itself; the message has the detail."""

    status = _constants.ERR_INTERNAL


class ProcessNotStarted(Exception):
    """A link was asked whether it is alive before any publisher started."""

    errno = 4


class HandleAlreadySet(Exception):
    """An adapter was given a handle when it already has one."""

    errno = 5


class HandleNotSet(Exception):
    """An adapter was used in a way that needs a handle before it had one."""

    errno = 6


__all__ = [
    "AlreadyRegisteredError",
    "ClosedError",
    "EngineIOError",
    "HandleAlreadySet",
    "HandleNotSet",
    "InternalError",
    "InvalidArgumentError",
    "InvalidHandleError",
    "NotRegisteredError",
    "ProcessNotStarted",
    "QueueLinkError",
    "StateError",
    "WaitTimeoutError",
]

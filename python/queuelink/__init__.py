"""QueueLink: routes items between queues, files and pipes in a Go engine.

The public API follows the pure-Python ``queuelink`` library (version 2.3).
``QueueLink`` moves every item of its source queues to all its destination
queues. ``QueueHandleAdapterReader`` turns the lines of a file, pipe or path
into queue items, and ``QueueHandleAdapterWriter`` writes queue items to
one. ``link()`` builds the right combination of them. The routing runs in
libqueuelink.so, which this package loads with ctypes from beside this file
or from the path in the QUEUELINK_LIBRARY environment variable.

The queues owned by the engine, ``queuelink.Queue``, ``LifoQueue``,
``PriorityQueue``, ``JoinableQueue`` and ``SimpleQueue``, have the
interface of the standard ``queue`` module plus put_many(), get_many() and
iteration. Links, readers and writers also take the queues of the ``queue``
and ``multiprocessing`` modules and Manager() queues, through a bridge
thread to an internal engine queue. How items become messages is described
in ``queuelink._items``; long lines can travel as a ``ContentWrapper``
whose value stays in a file.

The engine's own records (publishers, readers and writers starting, ending
and handling errors) reach loggers under ``queuelink`` from import on;
stop_forwarding_engine_logs() turns that off. Nothing is printed unless
the application configures logging: the ``queuelink`` logger has only a
NullHandler.

The library runs a Go runtime, which does not survive fork(): in a child
created by fork(), every queuelink call raises RuntimeError. Processes
started with the 'spawn' or 'forkserver' start method load the library
afresh and work normally.
"""

import logging as _logging

from .adapter_reader import QueueHandleAdapterReader
from .adapter_writer import QueueHandleAdapterWriter
from ._factory import LinkResult, link
from .common import (
    DIRECTION,
    PROC_START_METHODS,
    QUEUE_TYPE_LIST,
    UNION_SUPPORTED_QUEUES,
    WRAP_WHEN,
    Timer,
    safe_get,
    writeout,
)
from .contentwrapper import ContentWrapper
from .engine_log import forward_engine_logs, stop_forwarding_engine_logs
from .exceptionhandler import (
    AlreadyRegisteredError,
    ClosedError,
    EngineIOError,
    HandleAlreadySet,
    HandleNotSet,
    InternalError,
    InvalidArgumentError,
    InvalidHandleError,
    NotRegisteredError,
    ProcessNotStarted,
    QueueLinkError,
    StateError,
    WaitTimeoutError,
)
from .queuelink import QueueLink
from .queues import JoinableQueue, LifoQueue, PriorityQueue, Queue, SimpleQueue

# A library logs through its own logger and leaves output to the application.
_logging.getLogger("queuelink").addHandler(_logging.NullHandler())

__all__ = [
    "DIRECTION",
    "PROC_START_METHODS",
    "QUEUE_TYPE_LIST",
    "UNION_SUPPORTED_QUEUES",
    "WRAP_WHEN",
    "AlreadyRegisteredError",
    "ClosedError",
    "ContentWrapper",
    "EngineIOError",
    "HandleAlreadySet",
    "HandleNotSet",
    "InternalError",
    "InvalidArgumentError",
    "InvalidHandleError",
    "JoinableQueue",
    "LifoQueue",
    "LinkResult",
    "NotRegisteredError",
    "PriorityQueue",
    "ProcessNotStarted",
    "Queue",
    "QueueHandleAdapterReader",
    "QueueHandleAdapterWriter",
    "QueueLink",
    "QueueLinkError",
    "SimpleQueue",
    "StateError",
    "Timer",
    "WaitTimeoutError",
    "forward_engine_logs",
    "link",
    "safe_get",
    "stop_forwarding_engine_logs",
    "writeout",
]

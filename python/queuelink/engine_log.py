"""Forwarding of the engine's log records to Python's logging module.

The engine logs publishers, readers and writers starting and ending, and
the errors they handle. It sends the records to one engine queue, and a
daemon thread of this module passes each one to the Python logger that the
engine names, such as ``queuelink.link`` or ``queuelink.reader``, at the
record's level. Forwarding is off until forward_engine_logs() is called.
"""

from __future__ import annotations

import atexit
import logging
import queue as _queue
import threading

from . import _constants, _ffi
from .exceptionhandler import ClosedError
from .queues import Queue

# Records that may wait in the engine queue. The engine drops a record that
# finds the queue full, and the next record that fits reports the count.
LOG_QUEUE_SIZE = 10_000

_logger = logging.getLogger("queuelink.engine")
_lock = threading.Lock()
_forwarder: _Forwarder | None = None


class _Forwarder(threading.Thread):
    """Daemon thread that takes records from the engine queue and logs them."""

    def __init__(self, log_queue: Queue) -> None:
        super().__init__(name="queuelink-engine-log", daemon=True)
        self.log_queue = log_queue

    def run(self) -> None:
        # Runs until stop_forwarding_engine_logs() shuts the queue down.
        while True:
            try:
                record = self.log_queue.get(timeout=0.2)
            except _queue.Empty:
                continue
            except (ClosedError, RuntimeError):
                # The queue was closed, or this is a forked child.
                return
            emit_record(record)


def emit_record(record: str) -> None:
    """Log one engine record "LEVEL\\tLOGGER\\tMESSAGE" to the named logger."""
    fields = record.rstrip("\n").split("\t", 2)
    try:
        level = int(fields[0])
        logger_name, message = fields[1], fields[2]
    except (ValueError, IndexError):
        _logger.warning("malformed engine log record: %r", record)
        return
    if logger_name != "queuelink" and not logger_name.startswith("queuelink."):
        logger_name = f"queuelink.engine.{logger_name}"
    logging.getLogger(logger_name).log(level, "%s", message)


def forward_engine_logs(level: int = logging.WARNING) -> None:
    """Forward the engine's log records at or above level to Python logging.

    level is logging.DEBUG, INFO, WARNING or ERROR. Calling again changes
    the level. The records go to loggers under ``queuelink``, which has
    only a NullHandler, so the application's logging configuration decides
    what is shown.
    """
    if level not in (_constants.LOG_DEBUG, _constants.LOG_INFO, _constants.LOG_WARNING, _constants.LOG_ERROR):
        raise ValueError(
            f"level must be logging.DEBUG, INFO, WARNING or ERROR, not {level!r}"
        )
    global _forwarder
    with _lock:
        if _forwarder is None:
            log_queue = Queue(maxsize=LOG_QUEUE_SIZE)
            _ffi.log_attach(log_queue.handle, level)
            _forwarder = _Forwarder(log_queue)
            _forwarder.start()
        else:
            _ffi.log_attach(_forwarder.log_queue.handle, level)


def stop_forwarding_engine_logs() -> None:
    """Stop forwarding the engine's log records; records still queued are
    logged first."""
    global _forwarder
    with _lock:
        forwarder, _forwarder = _forwarder, None
        if forwarder is None:
            return
        _ffi.log_attach(None, _constants.LOG_ERROR)
        forwarder.log_queue.shutdown()
        forwarder.join(timeout=5)
        forwarder.log_queue.close()


def _stop_at_exit() -> None:
    if _forwarder is not None and not _ffi.is_forked_child():
        stop_forwarding_engine_logs()


atexit.register(_stop_at_exit)

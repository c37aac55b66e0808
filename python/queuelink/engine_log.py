"""Forwarding of the engine's log records to Python's logging module.

The engine logs publishers, readers and writers starting and ending, and
the errors they handle. It sends the records to one engine queue, and a
daemon thread of this module passes each one to the Python logger that the
engine names, such as ``queuelink.link`` or ``queuelink.reader``, at the
record's level.

Forwarding starts when this module is imported, with every record of the
engine (DEBUG and up). The engine logs only such events, never one record
per message, so the Python loggers' levels do the filtering: a record goes
only to handlers of a logger enabled for its level. The ``queuelink``
logger has only a NullHandler, so nothing is shown or printed unless the
application configures logging. forward_engine_logs() sets a level in the
engine instead, and stop_forwarding_engine_logs() ends forwarding.

The thread is a daemon, and the exit hook stops it once links, readers and
writers have closed, waiting at most STOP_TIMEOUT seconds for it to log the
records still queued. Nothing of this runs in a child created by fork().
"""

from __future__ import annotations

import logging
import queue as _queue
import threading

from . import _constants, _ffi
from ._handle import register_exit_hook
from .exceptionhandler import ClosedError
from .queues import Queue

# Records that may wait in the engine queue. The engine drops a record that
# finds the queue full, and the next record that fits reports the count.
LOG_QUEUE_SIZE = 10_000

# Seconds that stopping waits for the thread to log the records still queued.
STOP_TIMEOUT = 1.0

_LEVELS = (_constants.LOG_DEBUG, _constants.LOG_INFO, _constants.LOG_WARNING, _constants.LOG_ERROR)

_logger = logging.getLogger("queuelink.engine")
# Guards _forwarder.
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
                record = self.log_queue.get(timeout=1.0)
            except _queue.Empty:
                continue
            except (ClosedError, RuntimeError):
                # The queue was closed, or this is a forked child.
                return
            try:
                emit_record(record)
            except Exception:  # noqa: BLE001 - a failing handler must not end forwarding
                _logger.debug("failed to log engine record %r", record, exc_info=True)


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


def forward_engine_logs(level: int = logging.DEBUG) -> None:
    """Forward the engine's log records at or above level to Python logging.

    level is logging.DEBUG, INFO, WARNING or ERROR. Forwarding is on at
    DEBUG from import on; calling this changes the level, or starts
    forwarding again after stop_forwarding_engine_logs(). The records go to
    loggers under ``queuelink``, which has only a NullHandler, so the
    application's logging configuration decides what is shown.
    """
    if level not in _LEVELS:
        raise ValueError(f"level must be logging.DEBUG, INFO, WARNING or ERROR, not {level!r}")
    global _forwarder
    with _lock:
        if _forwarder is None:
            log_queue = Queue(maxsize=LOG_QUEUE_SIZE)
            try:
                _ffi.log_attach(log_queue.handle, level)
            except BaseException:
                log_queue.close()
                raise
            _forwarder = _Forwarder(log_queue)
            _forwarder.start()
        else:
            _ffi.log_attach(_forwarder.log_queue.handle, level)


def stop_forwarding_engine_logs() -> None:
    """Stop forwarding the engine's log records; records still queued are
    logged first, for up to a second."""
    global _forwarder
    with _lock:
        forwarder, _forwarder = _forwarder, None
        if forwarder is None:
            return
        _ffi.log_attach(None, _constants.LOG_ERROR)
        forwarder.log_queue.shutdown()
        forwarder.join(timeout=STOP_TIMEOUT)
        if forwarder.is_alive():
            # A handler still runs; the thread ends once the queue is empty,
            # and freeing the queue under it would lose those records.
            return
        forwarder.log_queue.close()


def _start_by_default() -> None:
    if _ffi.is_forked_child():
        return
    try:
        forward_engine_logs(logging.DEBUG)
    except Exception:  # noqa: BLE001 - the package works without engine logs
        _logger.debug("failed to start forwarding engine log records", exc_info=True)


def _stop_at_exit() -> None:
    if _forwarder is not None and not _ffi.is_forked_child():
        stop_forwarding_engine_logs()


# After the exit hook of bridges, so their records and those of the links,
# readers and writers that close at exit are logged too.
register_exit_hook(_stop_at_exit, order=100)
_start_by_default()

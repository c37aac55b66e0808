"""Enumerations, helpers and option checks shared by links, readers and writers."""

from __future__ import annotations

import io
import multiprocessing.managers
import multiprocessing.queues
import queue as _queue
import time
from enum import Enum
from typing import Any, Callable, Union

from . import _constants
from .exceptionhandler import ClosedError

# Start methods that links, readers and writers accept. The engine moves
# messages on goroutines, so the value is checked and otherwise unused.
PROC_START_METHODS = ["fork", "forkserver", "spawn"]

# Names of the standard-library and multiprocessing queue types that
# links, readers and writers accept besides queuelink's own queues.
# "multiprocessing.Manager.Queue" is the proxy that Manager().Queue()
# returns.
QUEUE_TYPE_LIST = [
    "queue.Queue",
    "queue.LifoQueue",
    "queue.PriorityQueue",
    "queue.SimpleQueue",
    "multiprocessing.Queue",
    "multiprocessing.JoinableQueue",
    "multiprocessing.SimpleQueue",
    "multiprocessing.Manager.Queue",
    "multiprocessing.Manager.JoinableQueue",
]

# Type hint of the standard-library and multiprocessing queues, for
# annotations and isinstance(). BaseProxy covers Manager() queues.
UNION_SUPPORTED_QUEUES = Union[
    _queue.Queue,
    _queue.LifoQueue,
    _queue.PriorityQueue,
    _queue.SimpleQueue,
    multiprocessing.queues.Queue,
    multiprocessing.queues.JoinableQueue,
    multiprocessing.queues.SimpleQueue,
    multiprocessing.managers.BaseProxy,
]

# Exceptions that a get on a shut-down queue raises: queue.ShutDown exists
# from Python 3.13 on.
_SHUTDOWN_ERRORS: tuple[type[BaseException], ...] = (ClosedError,) + (
    (_queue.ShutDown,) if hasattr(_queue, "ShutDown") else ()
)


class DIRECTION(Enum):
    """Direction of a queue on a link: a source is read, a destination written."""

    FROM = "source"
    TO = "destination"

    def __str__(self) -> str:
        return self.value


class WRAP_WHEN(Enum):
    """When a reader delivers a line as a ContentWrapper.

    AUTO wraps lines whose byte length is greater than the threshold,
    ALWAYS wraps every line, NEVER none. Wrapped lines at least as long as
    the threshold are kept in a spill file instead of memory.
    """

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


def engine_direction(direction: object) -> int:
    """Return the engine's constant for a DIRECTION, raising TypeError otherwise."""
    if direction is DIRECTION.FROM:
        return _constants.SOURCE
    if direction is DIRECTION.TO:
        return _constants.DESTINATION
    raise TypeError(
        f"direction must be DIRECTION.FROM or DIRECTION.TO, not {direction!r}"
    )


def validate_start_method(start_method: object) -> None:
    """Raise ValueError unless start_method is None or a known start method."""
    if start_method is not None and start_method not in PROC_START_METHODS:
        raise ValueError(
            f"start_method must be None or one of {', '.join(map(repr, PROC_START_METHODS))}, "
            f"not {start_method!r}"
        )


def validate_wrap_options(wrap_when: object, wrap_threshold: object) -> None:
    """Raise TypeError for a wrap_when that is not a WRAP_WHEN or None, and
    ValueError for a wrap_threshold that is not None or a non-negative int."""
    if wrap_when is not None and not isinstance(wrap_when, WRAP_WHEN):
        raise TypeError(f"wrap_when must be a WRAP_WHEN member or None, not {wrap_when!r}")
    if wrap_threshold is not None and (
        isinstance(wrap_threshold, bool) or not isinstance(wrap_threshold, int) or wrap_threshold < 0
    ):
        raise ValueError(
            f"wrap_threshold must be None or a non-negative int of bytes, not {wrap_threshold!r}"
        )


# ---------------------------------------------------------------------------
# safe_get
# ---------------------------------------------------------------------------


def _is_pipe_closed(queue_obj: Any) -> bool:
    """Return True when a multiprocessing queue was closed in this process."""
    if isinstance(queue_obj, multiprocessing.queues.Queue):
        return bool(getattr(queue_obj, "_closed", False))
    if isinstance(queue_obj, multiprocessing.queues.SimpleQueue):
        return queue_obj._reader.closed
    return False


def _get_once(queue_obj: Any, wait: float) -> Any:
    """Take one item, waiting at most wait seconds; raise queue.Empty if none."""
    if isinstance(queue_obj, multiprocessing.queues.SimpleQueue):
        # multiprocessing.SimpleQueue.get() has no timeout, so poll its pipe.
        # NOTE: another consumer may take the item between the poll and the
        # get, and then the get blocks until the next item arrives.
        if not queue_obj._reader.poll(wait):
            raise _queue.Empty
        return queue_obj.get()
    if wait <= 0:
        return queue_obj.get(block=False)
    return queue_obj.get(block=True, timeout=wait)


def safe_get(
    queue_obj: Any,
    block: bool = True,
    timeout: float | None = 0,
    stop_event: Any = None,
    cycle_time: float = 0.005,
) -> Any:
    """Remove and return an item from any supported queue, with a timeout.

    Works for every queue type, including multiprocessing.SimpleQueue,
    whose get() has no timeout: it polls in steps of at most cycle_time
    seconds. With block false, it tries once. With block true, it waits at
    most timeout seconds (None waits without limit; the default 0 tries
    once).

    Raises queue.Empty when no item arrived in time, and when stop_event
    (an object with is_set(), such as threading.Event) is set. It also
    raises queue.Empty for a closed queue: a closed multiprocessing queue,
    a shut-down queuelink or standard-library queue, or a Manager proxy
    whose connection is lost.
    """
    if cycle_time <= 0:
        raise ValueError(f"cycle_time must be a positive number of seconds, not {cycle_time!r}")
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be None or a non-negative number of seconds, not {timeout!r}")
    if not block:
        timeout = 0
    deadline = None if timeout is None else time.monotonic() + timeout

    while True:
        if stop_event is not None and stop_event.is_set():
            raise _queue.Empty
        if _is_pipe_closed(queue_obj):
            raise _queue.Empty
        remaining = None if deadline is None else deadline - time.monotonic()
        wait = cycle_time if remaining is None else max(0.0, min(cycle_time, remaining))

        try:
            return _get_once(queue_obj, wait)
        except _queue.Empty:
            pass
        except _SHUTDOWN_ERRORS:
            raise _queue.Empty from None
        except (EOFError, OSError):
            # A closed pipe, or a lost connection to a Manager.
            raise _queue.Empty from None
        except ValueError:
            if _is_pipe_closed(queue_obj):
                raise _queue.Empty from None
            raise

        if remaining is not None and remaining <= 0:
            raise _queue.Empty


# ---------------------------------------------------------------------------
# Timer
# ---------------------------------------------------------------------------


class Timer:
    """Measures the time since its creation and signals regular intervals.

    interval is the length of an interval in seconds.
    """

    def __init__(self, interval: float = 10) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds, not {interval!r}")
        self._start_ns = time.monotonic_ns()
        self._interval_ns = int(interval * 1_000_000_000)
        self._next_interval_ns = self._start_ns + self._interval_ns

    def lap(self) -> float:
        """Return the seconds since the timer was created."""
        return (time.monotonic_ns() - self._start_ns) / 1_000_000_000

    def lap_ns(self) -> int:
        """Return the nanoseconds since the timer was created."""
        return time.monotonic_ns() - self._start_ns

    def interval(self) -> bool:
        """Return True once each time another interval has passed.

        After a pause of several intervals, one call returns True and the
        next interval ends at the next multiple of the interval since
        creation.
        """
        now = time.monotonic_ns()
        if now < self._next_interval_ns:
            return False
        passed = (now - self._start_ns) // self._interval_ns
        self._next_interval_ns = self._start_ns + (passed + 1) * self._interval_ns
        return True

    @staticmethod
    def now() -> float:
        """Return the Unix time in seconds."""
        return time.time()

    @staticmethod
    def now_micro() -> int:
        """Return the Unix time in whole microseconds."""
        return time.time_ns() // 1000


# ---------------------------------------------------------------------------
# writeout
# ---------------------------------------------------------------------------


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    return str(value)


def writeout(pipe: Any, output_prefix: str | bytes) -> Callable[[Any], None]:
    """Return a function that writes output_prefix + line to pipe and flushes.

    The text is written as UTF-8 to a binary pipe, and to the binary buffer
    of a text pipe that has one, such as sys.stdout. A text pipe without a
    buffer (io.StringIO) receives the str. Lines and the prefix may be str,
    bytes (decoded as UTF-8) or a ContentWrapper; any other line is written
    as str(line).
    """
    prefix = _as_text(output_prefix)

    def write(line: Any) -> None:
        text = prefix + _as_text(line)
        if isinstance(pipe, io.TextIOBase):
            buffer = getattr(pipe, "buffer", None)
            if buffer is None:
                pipe.write(text)
                pipe.flush()
                return
            pipe.flush()
            buffer.write(text.encode("utf-8", "surrogateescape"))
            buffer.flush()
            return
        pipe.write(text.encode("utf-8", "surrogateescape"))
        pipe.flush()

    return write

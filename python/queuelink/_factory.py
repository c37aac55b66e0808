"""link(): wires a source to destinations with the right readers, links and writers."""

from __future__ import annotations

import os
import time
from typing import Any

from ._adapter import describe_type, is_connection, is_path
from ._bridge import foreign_identity, is_foreign_queue
from .adapter_reader import QueueHandleAdapterReader
from .adapter_writer import QueueHandleAdapterWriter
from .common import WRAP_WHEN, validate_start_method, validate_wrap_options
from .exceptionhandler import ProcessNotStarted
from .queuelink import QueueLink
from .queues import Queue, is_engine_queue

# How long stop() waits for the internal queues to drain, in seconds.
DRAIN_TIMEOUT = 5.0
_DRAIN_POLL_INTERVAL = 0.01

_QUEUE = "queue"
_HANDLE = "handle"
_PATH = "path"
_CONNECTION = "connection"

_SUPPORTED_ENDPOINTS = (
    "a queue (of queuelink, the queue or multiprocessing module, or a Manager() "
    "proxy), an open file or pipe, a file descriptor or a path"
)


class LinkResult:
    """The components that link() created, stopped and closed as one.

    ``queue_link`` is the QueueLink (None when a reader feeds a single
    queue directly), ``reader`` the QueueHandleAdapterReader of a handle or
    path source (else None), and ``writers`` one QueueHandleAdapterWriter
    per handle or path destination.
    """

    def __init__(self) -> None:
        self.queue_link: QueueLink | None = None
        self.reader: QueueHandleAdapterReader | None = None
        self.writers: list[QueueHandleAdapterWriter] = []
        # Queues that link() created between the components.
        self._internal_queues: list[Queue] = []
        # Id on queue_link of the queue between the reader and the link.
        self._reader_queue_id: str | None = None
        self._stopped = False
        self._closed = False

    def stop(self) -> None:
        """Stop the reader, wait up to 5 seconds for the internal queues to
        drain, then stop the link, wait up to 5 seconds more for the writers
        to write what the link delivered, then stop the writers.

        Stopping the link first delivers what its foreign source queues
        hold (see QueueLink.stop). Items still in a queue after the waits
        stay there. Stopping twice is allowed.
        """
        if self._stopped:
            return
        self._stopped = True
        if self.reader is not None:
            self.reader.stop()
        self._wait_drained(DRAIN_TIMEOUT)
        if self.queue_link is not None:
            self.queue_link.stop()
            if self.writers:
                self._wait_drained(DRAIN_TIMEOUT)
        for writer in self.writers:
            writer.stop()

    def close(self) -> None:
        """Stop as stop() does, then free every component and internal queue.

        The caller's queues stay open. Closing twice is allowed.
        """
        if self._closed:
            return
        self.stop()
        self._closed = True
        if self.reader is not None:
            self.reader.close()
        if self.queue_link is not None:
            self.queue_link.close()
        for writer in self.writers:
            writer.close()
        for internal in self._internal_queues:
            internal.close()

    def is_alive(self) -> bool:
        """Return True while any component is running."""
        if self.reader is not None and self.reader.is_alive():
            return True
        if self.queue_link is not None and not self.queue_link.closed:
            try:
                if self.queue_link.is_alive():
                    return True
            except ProcessNotStarted:
                pass
        return any(writer.is_alive() for writer in self.writers)

    def _is_drained(self) -> bool:
        if any(not internal.empty() for internal in self._internal_queues):
            return False
        # is_empty() with the id also checks that no publisher is moving an item.
        if self.queue_link is not None and self._reader_queue_id is not None:
            if not self.queue_link.is_empty(self._reader_queue_id):
                return False
        # A writer marks each item done once it has written it.
        return all(writer.queue._all_tasks_done() for writer in self.writers if writer.is_alive())

    def _wait_drained(self, timeout: float) -> bool:
        if not self._internal_queues:
            return True
        deadline = time.monotonic() + timeout
        while not self._is_drained():
            if time.monotonic() >= deadline:
                return False
            time.sleep(_DRAIN_POLL_INTERVAL)
        return True

    def __enter__(self) -> LinkResult:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        parts = []
        if self.reader is not None:
            parts.append("reader")
        if self.queue_link is not None:
            parts.append("queue_link")
        if self.writers:
            parts.append(f"{len(self.writers)} writers")
        return f"<queuelink.LinkResult {', '.join(parts)}>"


def _classify(endpoint: Any, role: str) -> str:
    """Return _QUEUE, _HANDLE, _PATH or _CONNECTION for an endpoint, or raise TypeError."""
    if isinstance(endpoint, (QueueLink, LinkResult)):
        raise TypeError(
            f"a {type(endpoint).__name__} cannot be a link() {role}; pass the "
            f"queues, handles or paths it connects"
        )
    if is_engine_queue(endpoint) or is_foreign_queue(endpoint):
        return _QUEUE
    if is_path(endpoint):
        return _PATH
    if isinstance(endpoint, bool):
        raise TypeError(f"a bool cannot be a link() {role}")
    if isinstance(endpoint, int):
        return _HANDLE
    if is_connection(endpoint):
        if role == "source":
            return _CONNECTION
        raise TypeError(
            f"a multiprocessing Connection cannot be a link() destination; pass "
            f"{_SUPPORTED_ENDPOINTS}"
        )

    if role == "source":
        if hasattr(endpoint, "readline"):
            return _HANDLE
        if hasattr(endpoint, "write") or hasattr(endpoint, "fileno"):
            raise TypeError(
                f"link() source {describe_type(endpoint)} has no readline(); a "
                f"source handle must be readable line by line"
            )
    else:
        if hasattr(endpoint, "write"):
            return _HANDLE
        if hasattr(endpoint, "readline") or hasattr(endpoint, "fileno"):
            raise TypeError(
                f"link() destination {describe_type(endpoint)} has no write(); a "
                f"destination handle must be writable"
            )
    raise TypeError(
        f"link() {role} of type {describe_type(endpoint)} is not supported: pass "
        f"{_SUPPORTED_ENDPOINTS}"
    )


def _destination_list(destination: Any) -> list[Any]:
    if isinstance(destination, list):
        if not destination:
            raise ValueError("link() destination is an empty list; give at least one destination")
        return list(destination)
    if isinstance(destination, (tuple, set, frozenset)):
        raise TypeError(
            f"link() destination must be one endpoint or a list of endpoints, "
            f"not a {type(destination).__name__}"
        )
    return [destination]


def _same_endpoint(first: Any, second: Any) -> bool:
    if first is second:
        return True
    if is_foreign_queue(first) and is_foreign_queue(second):
        # Two Manager() proxies of one queue are the same endpoint.
        return foreign_identity(first) == foreign_identity(second)
    if is_path(first) and is_path(second):
        return os.path.abspath(os.fsdecode(first)) == os.path.abspath(os.fsdecode(second))
    if type(first) is int and type(second) is int:
        return first == second
    return False


def _check_distinct(source: Any, destinations: list[Any]) -> None:
    for index, endpoint in enumerate(destinations):
        if _same_endpoint(source, endpoint):
            raise ValueError(f"link() destination {endpoint!r} is also the source")
        for other in destinations[index + 1 :]:
            if _same_endpoint(endpoint, other):
                raise ValueError(f"link() destination {endpoint!r} appears more than once")


def link(
    source: Any,
    destination: Any,
    *,
    name: str | None = None,
    start_method: str | None = None,
    thread_only: bool = False,
    trusted: bool = False,
    wrap_when: WRAP_WHEN = WRAP_WHEN.NEVER,
    wrap_threshold: int | None = None,
    link_timeout: float = 0.01,
) -> LinkResult:
    """Wire a source to one or more destinations and start moving items.

    The source and each destination are a queue, an open file or pipe, a
    file descriptor or a path. The source may also be a multiprocessing
    Connection. A queue is a queuelink queue, a queue of the ``queue`` or
    ``multiprocessing`` module, or a ``Manager()`` queue proxy.
    ``destination`` may also be a list of endpoints. The combination
    decides what is created:

    - queue to queues: a QueueLink, as ``result.queue_link``.
    - queue to handles or paths: a QueueLink to an internal queue per
      handle, and a writer per handle. Queue destinations in the same list
      join the link directly.
    - handle, path or Connection to one queuelink queue: a reader, as
      ``result.reader``. A Connection is read one message per frame, as
      pickled objects with ``trusted=True`` and as bytes otherwise.
    - handle, path or Connection to any other destinations: a reader into
      an internal queue, a QueueLink that fans it out, and writers as
      above. The link also carries the items to a single foreign queue.

    Raises TypeError for an unsupported endpoint, a QueueLink or LinkResult
    as an endpoint, a Connection as a destination, a Connection source with
    handle or path destinations, a tuple or set as destination, a source
    handle without readline() or a destination handle without write();
    ValueError for an empty destination list or the same endpoint twice.
    """
    validate_start_method(start_method)
    source_kind = _classify(source, "source")
    destinations = _destination_list(destination)
    destination_kinds = [_classify(endpoint, "destination") for endpoint in destinations]
    _check_distinct(source, destinations)
    if source_kind == _CONNECTION and any(kind != _QUEUE for kind in destination_kinds):
        raise TypeError(
            "a multiprocessing Connection source can only be linked to queues, not to "
            "handles or paths; read its messages into a queue and link that queue instead"
        )

    base_name = name if name is not None else "link"
    result = LinkResult()
    try:
        if source_kind != _QUEUE:
            validate_wrap_options(wrap_when, wrap_threshold)
        reader_options = dict(
            start_method=start_method,
            thread_only=thread_only,
            trusted=trusted,
            wrap_when=wrap_when,
            wrap_threshold=wrap_threshold,
        )

        if source_kind != _QUEUE and destination_kinds == [_QUEUE] and is_engine_queue(destinations[0]):
            result.reader = QueueHandleAdapterReader(
                destinations[0], handle=source, name=f"{base_name}-reader", **reader_options
            )
            return result

        if source_kind == _QUEUE:
            link_source = source
        else:
            link_source = Queue()
            result._internal_queues.append(link_source)

        queue_link = QueueLink(
            name=base_name,
            start_method=start_method,
            thread_only=thread_only,
            link_timeout=link_timeout,
        )
        result.queue_link = queue_link
        source_id = queue_link.read(link_source)
        if source_kind != _QUEUE:
            result._reader_queue_id = source_id

        for index, (endpoint, kind) in enumerate(zip(destinations, destination_kinds)):
            if kind == _QUEUE:
                queue_link.write(endpoint)
                continue
            writer_queue = Queue()
            result._internal_queues.append(writer_queue)
            queue_link.write(writer_queue)
            result.writers.append(
                QueueHandleAdapterWriter(
                    writer_queue,
                    handle=endpoint,
                    name=f"{base_name}-writer-{index + 1}",
                    start_method=start_method,
                    thread_only=thread_only,
                    trusted=trusted,
                )
            )

        # The reader starts last, once everything downstream is in place.
        if source_kind != _QUEUE:
            result.reader = QueueHandleAdapterReader(
                link_source, handle=source, name=f"{base_name}-reader", **reader_options
            )
    except BaseException:
        result.close()
        raise
    return result

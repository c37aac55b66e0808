"""Queue kinds and child-process targets for the tests of foreign queues.

Children started with 'spawn' or 'forkserver' import this module to find
their target, so it imports only the standard library and queuelink.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.managers
import multiprocessing.queues
import queue
import time
from typing import Any, Callable

import queuelink

START_METHODS = ["fork", "forkserver", "spawn"]

ENGINE_KINDS = ["engine.Queue", "engine.LifoQueue", "engine.PriorityQueue", "engine.SimpleQueue", "engine.JoinableQueue"]
STDLIB_KINDS = ["queue.Queue", "queue.LifoQueue", "queue.PriorityQueue", "queue.SimpleQueue"]
MP_KINDS = [f"{method}.{name}" for method in START_METHODS for name in ("Queue", "JoinableQueue", "SimpleQueue")]
MANAGER_KINDS = ["manager.Queue", "manager.JoinableQueue"]
ALL_KINDS = ENGINE_KINDS + STDLIB_KINDS + MP_KINDS + MANAGER_KINDS

# Kinds whose task_done() a link calls, so that join() returns.
JOINABLE_KINDS = {
    "engine.Queue",
    "engine.LifoQueue",
    "engine.PriorityQueue",
    "engine.JoinableQueue",
    "queue.Queue",
    "queue.LifoQueue",
    "queue.PriorityQueue",
    *(f"{method}.JoinableQueue" for method in START_METHODS),
    "manager.Queue",
    "manager.JoinableQueue",
}


def order_of(kind: str) -> str:
    """Return "fifo", "lifo" or "priority": the order in which kind hands out items."""
    if kind.endswith("LifoQueue"):
        return "lifo"
    if kind.endswith("PriorityQueue"):
        return "priority"
    return "fifo"


def make_queue(kind: str, manager: Any = None) -> Any:
    """Create an empty queue of the given kind; Manager kinds need a manager."""
    family, name = kind.split(".")
    if family == "engine":
        return getattr(queuelink, name)()
    if family == "queue":
        return getattr(queue, name)()
    if family == "manager":
        if manager is None:
            raise ValueError(f"{kind} needs a multiprocessing Manager")
        return getattr(manager, name)()
    return getattr(multiprocessing.get_context(family), name)()


def release_queue(queue_obj: Any) -> None:
    """Free what a queue holds: engine handles, and multiprocessing pipes and feeder threads."""
    if isinstance(queue_obj, (queuelink.Queue, queuelink.SimpleQueue)):
        queue_obj.close()
        return
    close = getattr(queue_obj, "close", None)
    if close is None or isinstance(queue_obj, multiprocessing.managers.BaseProxy):
        return
    close()
    join_thread = getattr(queue_obj, "join_thread", None)
    if join_thread is not None:
        join_thread()


@dataclasses.dataclass(frozen=True)
class Record:
    """A picklable object of a class that lives in a module, as users send."""

    number: int
    text: str
    tags: tuple = ()


def sample_payloads(count: int, tag: str = "") -> list[Any]:
    """Return count picklable items of several types, each different."""
    shapes: list[Callable[[int], Any]] = [
        lambda index: f"text {tag} {index} é",
        lambda index: f"bytes {tag} {index}".encode() + b"\x00\xff",
        lambda index: {"tag": tag, "index": index, "nested": [index, None, 1.5]},
        lambda index: Record(index, tag, ("a", index)),
        lambda index: (tag, index),
        lambda index: bytearray(f"{tag}{index}", "ascii"),
        lambda index: [tag, index, {"set": frozenset({index})}],
        lambda index: index,
    ]
    return [shapes[index % len(shapes)](index) for index in range(count)]


def get_within(queue_obj: Any, timeout: float) -> Any:
    """Take one item from any kind of queue, raising queue.Empty after timeout seconds.

    multiprocessing.SimpleQueue.get() has no timeout, so it is polled.
    """
    if isinstance(queue_obj, multiprocessing.queues.SimpleQueue):
        deadline = time.monotonic() + timeout
        while queue_obj.empty():
            if time.monotonic() >= deadline:
                raise queue.Empty
            time.sleep(0.002)
        return queue_obj.get()
    return queue_obj.get(timeout=timeout)


def take(queue_obj: Any, count: int, timeout: float = 20.0) -> list[Any]:
    """Take exactly count items, failing if they do not arrive within timeout seconds."""
    deadline = time.monotonic() + timeout
    items = []
    while len(items) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"got {len(items)} of {count} items within {timeout} s")
        try:
            items.append(get_within(queue_obj, min(remaining, 1.0)))
        except queue.Empty:
            continue
    return items


# ---------------------------------------------------------------------------
# Child-process targets
# ---------------------------------------------------------------------------


def echo(inbox: Any, outbox: Any, count: int) -> None:
    """Move count items from inbox to outbox, marking each done where inbox has task_done().

    When outbox has join(), wait until its consumer has marked every item
    done, so a parent's link must call task_done() for the child to end.
    """
    for item in take(inbox, count, timeout=60):
        outbox.put(("echo", item))
        if hasattr(inbox, "task_done"):
            inbox.task_done()
    if hasattr(outbox, "join"):
        outbox.join()
    close_child_queue(outbox)


def close_child_queue(queue_obj: Any) -> None:
    """Flush a multiprocessing queue that a child put on before the child exits."""
    join_thread = getattr(queue_obj, "join_thread", None)
    if join_thread is not None:
        queue_obj.close()
        join_thread()


def use_context_objects(event: Any, lock: Any, queue_obj: Any) -> None:
    """Use a link's Event(), Lock() and Queue() from a child of its Process()."""
    with lock:
        queue_obj.put(("child", multiprocessing.current_process().name))
    event.set()
    close_child_queue(queue_obj)


def build_link_in_child(parent_source: Any, results: Any, count: int) -> None:
    """Build QueueLinks in a child: from a parent's queue, and between own queues.

    Puts on results: the items of parent_source as a standard-library queue
    received them, then the items that an engine queue sent to a
    multiprocessing queue of the child's own, then "done".
    """
    received = queue.Queue()
    with queuelink.QueueLink(parent_source, received, name="child-link"):
        items = take(received, count, timeout=60)
    results.put(items)

    source = queuelink.Queue()
    own = multiprocessing.get_context("spawn").Queue()
    with queuelink.link(source, [own]) as result:
        for index in range(count):
            source.put(("own", index))
        results.put(take(own, count, timeout=60))
        assert result.is_alive()
    release_queue(own)
    results.put("done")
    close_child_queue(results)


def touch_in_forked_child(objects: dict[str, Callable[[], Any]], results: Any) -> None:
    """Call each function and put (name, outcome) on results: the
    RuntimeError message, or "no error"."""
    for name, call in objects.items():
        try:
            call()
            outcome = "no error"
        except RuntimeError as error:
            outcome = f"RuntimeError: {error}"
        except Exception as error:  # noqa: BLE001 - the test reports any other error
            outcome = f"{type(error).__name__}: {error}"
        results.put((name, outcome))
    close_child_queue(results)

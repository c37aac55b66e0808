"""The queue matrix: every kind of queue as source and destination of a QueueLink.

Kinds: the engine's five queues, the queue module's four, multiprocessing's
Queue, JoinableQueue and SimpleQueue under each start method, and Manager()
Queue and JoinableQueue proxies. Each test preloads its sources before the
link reads them, so the order in which a source hands out its items is
known, and checks exact counts, order per source, and that task_done() was
called on sources that have it.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
from typing import Any

import pytest

from queuelink import QueueLink

from _helpers import wait_until
from _workers import ALL_KINDS, JOINABLE_KINDS, make_queue, order_of, release_queue, sample_payloads, take

COUNT = 24


@pytest.fixture(scope="module")
def manager():
    manager = multiprocessing.Manager()
    yield manager
    manager.shutdown()


@pytest.fixture
def make(manager):
    created = []

    def factory(kind: str) -> Any:
        queue_obj = make_queue(kind, manager)
        created.append(queue_obj)
        return queue_obj

    yield factory
    for queue_obj in created:
        release_queue(queue_obj)


def prioritized(items: list[Any], seed: str, offset: int = 0) -> list[tuple[int, Any]]:
    """Return the items as (priority, item) tuples with unique priorities in shuffled order."""
    priorities = list(range(offset, offset + len(items)))
    random.Random(seed).shuffle(priorities)
    return list(zip(priorities, items))


def handed_out(kind: str, items: list[Any]) -> list[Any]:
    """Return the order in which a queue of kind, preloaded with items, hands them out."""
    order = order_of(kind)
    if order == "lifo":
        return list(reversed(items))
    if order == "priority":
        return sorted(items, key=lambda item: item[0])
    return list(items)


def read_all(kind: str, queue_obj: Any, count: int) -> list[Any]:
    """Take count items; a LIFO or priority queue is read once all have arrived."""
    if order_of(kind) != "fifo":
        assert wait_until(lambda: queue_obj.qsize() == count, timeout=20), queue_obj.qsize()
    return take(queue_obj, count)


def assert_joins(queue_obj: Any) -> None:
    """Fail unless join() on the queue returns within 10 seconds."""
    thread = threading.Thread(target=queue_obj.join, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "join() did not return: task_done() was not called for every item"


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_fan_out(kind, make):
    source = make(kind)
    destination_kinds = [kind, "engine.Queue", "queue.Queue"]
    destinations = [make(destination_kind) for destination_kind in destination_kinds]
    items = sample_payloads(COUNT, tag=kind)
    if "priority" in {order_of(destination_kind) for destination_kind in destination_kinds}:
        items = prioritized(items, seed=kind)

    with QueueLink(destination=destinations, name=f"fan-out {kind}") as link:
        for item in items:
            source.put(item)
        source_id = link.read(source)
        assert link.get_queue(source_id) is source

        arrival = handed_out(kind, items)
        for destination_kind, destination in zip(destination_kinds, destinations):
            received = read_all(destination_kind, destination, COUNT)
            expected = handed_out(destination_kind, arrival)
            assert received == expected, destination_kind
            if not kind.startswith("engine"):
                # An engine queue sends a bytearray as bytes; a bridge keeps its type.
                assert [type(item) for item in received] == [type(item) for item in expected], destination_kind
        assert wait_until(link.is_drained, timeout=10)
        if kind in JOINABLE_KINDS:
            assert_joins(source)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_fan_in(kind, make):
    destination = make(kind)
    source_kinds = [kind, "engine.Queue", "queue.SimpleQueue"]
    sources = [make(source_kind) for source_kind in source_kinds]
    per_source = []
    for number in range(len(sources)):
        items = [(number, index, payload) for index, payload in enumerate(sample_payloads(COUNT, tag=str(number)))]
        if order_of(kind) == "priority":
            items = prioritized(items, seed=f"{kind}-{number}", offset=number * COUNT)
        per_source.append(items)

    with QueueLink(destination=destination, name=f"fan-in {kind}") as link:
        for source, items in zip(sources, per_source):
            for item in items:
                source.put(item)
        for source in sources:
            link.read(source)

        total = COUNT * len(sources)
        received = read_all(kind, destination, total)
        if order_of(kind) == "priority":
            assert received == sorted((item for items in per_source for item in items), key=lambda item: item[0])
        else:
            for number, (source_kind, items) in enumerate(zip(source_kinds, per_source)):
                from_source = [item for item in received if item[0] == number]
                expected = handed_out(source_kind, items)
                if order_of(kind) == "lifo":
                    expected.reverse()
                assert from_source == expected, source_kind
        assert wait_until(link.is_drained, timeout=10)
        for source_kind, source in zip(source_kinds, sources):
            if source_kind in JOINABLE_KINDS:
                assert_joins(source)

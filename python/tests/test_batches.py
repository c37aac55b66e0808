"""Tests of put_many(), get_many() and iteration on engine queues."""

import queue
import threading

import pytest

import queuelink
from queuelink import ClosedError, ContentWrapper


@pytest.mark.parametrize(
    "queue_type", [queuelink.Queue, queuelink.LifoQueue, queuelink.JoinableQueue, queuelink.SimpleQueue]
)
def test_batch_round_trip_keeps_items(queue_type):
    items = ["text", b"\x00bytes\x00", {"pickled": [1, 2]}, 42, "", b""]
    q = queue_type()
    q.put_many(items)
    got = q.get_many(100, timeout=5)
    if queue_type is queuelink.LifoQueue:
        got.reverse()
    assert got == items
    assert [type(item) for item in got] == [type(item) for item in items]
    q.close()


def test_batch_fifo_order_many_items():
    q = queuelink.Queue()
    q.put_many(range(5000))
    got = []
    while len(got) < 5000:
        got.extend(q.get_many(timeout=5))
    assert got == list(range(5000))


def test_get_many_takes_at_most_max_items():
    q = queuelink.Queue()
    q.put_many(range(10))
    assert q.get_many(3) == [0, 1, 2]
    assert q.qsize() == 7


def test_get_many_rejects_zero_items():
    q = queuelink.Queue()
    with pytest.raises(ValueError, match="max_items"):
        q.get_many(0)


def test_get_many_empty_times_out():
    q = queuelink.Queue()
    with pytest.raises(queue.Empty):
        q.get_many(timeout=0.05)
    with pytest.raises(queue.Empty):
        q.get_many(block=False)


def test_priority_queue_batch_orders_by_priority():
    q = queuelink.PriorityQueue()
    q.put_many([(3, "c"), (1, "a"), (2, "b"), (1, "a2")])
    assert q.get_many() == [(1, "a"), (1, "a2"), (2, "b"), (3, "c")]


def test_priority_queue_batch_rejects_bad_item():
    q = queuelink.PriorityQueue()
    with pytest.raises(TypeError, match="int priority"):
        q.put_many([(1, "ok"), "not a tuple"])
    assert q.qsize() == 0, "nothing is put when an item is invalid"


def test_bounded_put_many_reports_count_on_full():
    q = queuelink.Queue(maxsize=2)
    with pytest.raises(queue.Full, match="2 of 3"):
        q.put_many([1, 2, 3], timeout=0.05)
    assert q.get_many() == [1, 2]


def test_bounded_put_many_waits_for_room():
    q = queuelink.Queue(maxsize=4)
    got = []

    def consume():
        while len(got) < 100:
            got.extend(q.get_many(timeout=5))

    consumer = threading.Thread(target=consume)
    consumer.start()
    q.put_many(range(100), timeout=10)
    consumer.join(timeout=10)
    assert got == list(range(100))


def test_put_many_on_closed_queue_raises():
    q = queuelink.Queue()
    q.shutdown()
    with pytest.raises(ClosedError):
        q.put_many([1])
    q.close()
    with pytest.raises(ClosedError):
        q.get_many()


def test_iteration_ends_when_queue_closes():
    q = queuelink.Queue()

    def produce():
        for start in range(0, 3000, 100):
            q.put_many(range(start, start + 100))
        q.shutdown()

    producer = threading.Thread(target=produce)
    producer.start()
    got = list(q)
    producer.join(timeout=10)
    assert got == list(range(3000))


def test_batch_carries_wrapped_content():
    q = queuelink.Queue()
    wrapped = ContentWrapper("x" * 100, threshold=10)
    q.put_many(["plain", wrapped])
    first, second = q.get_many(timeout=5)
    assert first == "plain"
    assert isinstance(second, ContentWrapper)
    assert second.value == "x" * 100


def test_batch_through_link():
    source, destination = queuelink.Queue(), queuelink.Queue()
    with queuelink.QueueLink(source, destination):
        source.put_many(range(2000))
        got = []
        while len(got) < 2000:
            got.extend(destination.get_many(timeout=5))
    assert got == list(range(2000))

"""Tests of put_many(), get_many() and iteration on engine queues."""

import pickle
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


# Batches of all str or all bytes travel packed: one buffer of payloads
# with their lengths, cut up again on the way out. These cases check that
# the cutting gives back exactly the items put.
PACKED_CASES = {
    "ascii": ["alpha", "", "beta\n", "gamma " * 50],
    "multibyte": ["naïve", "", "日本語", "€", "plain"],
    "escaped bytes": ["\udcff\udc80", "ok", "\udce9"],
    "split sequence": ["\udcc3", "\udca9"],
    "bytes": [b"\x00\x01", b"", b"\xff" * 300, b"end\n"],
}


@pytest.mark.parametrize("items", PACKED_CASES.values(), ids=PACKED_CASES.keys())
def test_packed_batch_round_trip(items):
    q = queuelink.Queue()
    q.put_many(items)
    got = q.get_many(timeout=5)
    assert got == items
    assert [type(item) for item in got] == [type(item) for item in items]
    q.close()


def test_packed_batch_matches_single_puts():
    """The escaped bytes of a text batch reach get() as put() would give them."""
    q = queuelink.Queue()
    items = ["\udcc3", "\udca9", "é"]
    q.put_many(items)
    assert [q.get(timeout=5) for _ in items] == items
    for item in items:
        q.put(item)
    assert q.get_many(timeout=5) == items


def test_get_many_mixed_kinds():
    q = queuelink.Queue()
    q.put_many(["text", "more"])
    q.put_many([b"raw", b"more"])
    q.put(7)
    assert q.get_many(timeout=5) == ["text", "more", b"raw", b"more", 7]


def test_put_many_with_a_bad_item_puts_nothing():
    q = queuelink.Queue()
    with pytest.raises((pickle.PicklingError, AttributeError)):
        q.put_many(["fine", lambda: None])
    assert q.qsize() == 0


def test_get_many_oversized_message():
    q = queuelink.Queue()
    huge = b"h" * (queuelink._ffi.BATCH_BUFFER_SIZE + 1)
    q.put_many([b"small", huge, b"after"])
    assert q.get_many(timeout=5) == [b"small"]
    assert q.get_many(timeout=5) == [huge]
    assert q.get_many(timeout=5) == [b"after"]


def test_get_many_stops_where_its_buffer_is_full():
    q = queuelink.Queue()
    half = b"x" * (queuelink._ffi.BATCH_BUFFER_SIZE // 2)
    q.put_many([half, half, half])
    assert len(q.get_many(timeout=5)) == 2
    assert q.get_many(timeout=5) == [half]


@pytest.mark.parametrize("items", [[f"item {i}" for i in range(30)], list(range(30))], ids=["packed", "pickled"])
def test_blocked_put_many_puts_each_item_once(items):
    """A consumer slower than the wait slices of a blocked put_many()
    receives every item once, in order. A slice that put some items before
    it ran out of time does not put them again."""
    q = queuelink.Queue(maxsize=3)
    got = []

    def consume():
        while len(got) < len(items):
            try:
                got.append(q.get(timeout=0.1))
            except queue.Empty:
                return
            threading.Event().wait(queuelink._ffi.WAIT_SLICE * 1.5)

    consumer = threading.Thread(target=consume)
    consumer.start()
    q.put_many(items)
    consumer.join(timeout=30)
    assert got == items
    assert q.qsize() == 0


@pytest.mark.parametrize("text", ["\ud800", "x\udfffy", "\udc7f"])
def test_unencodable_surrogates_travel_as_pickles(text):
    q = queuelink.Queue()
    q.put(text)
    q.put_many(["plain", text])
    assert q.get(timeout=5) == text
    assert q.get_many(timeout=5) == ["plain", text]


def test_closed_during_put_many_reports_the_count():
    q = queuelink.Queue(maxsize=2)
    closer = threading.Timer(0.2, q.shutdown)
    closer.start()
    with pytest.raises(ClosedError, match="2 of 5 items were put"):
        q.put_many(list("abcde"))
    closer.join()
    assert q.get_many(timeout=5) == ["a", "b"]


def test_empty_put_many_after_shutdown_raises():
    q = queuelink.Queue()
    q.put_many([])
    q.shutdown()
    with pytest.raises(ClosedError):
        q.put_many([])

"""Tests of the engine-owned queues against the standard queue interface."""

from __future__ import annotations

import pickle
import queue
import threading
import time

import pytest

import queuelink
from queuelink import ClosedError

from _helpers import drain

BOUNDED_TYPES = [queuelink.Queue, queuelink.LifoQueue, queuelink.JoinableQueue]


@pytest.fixture
def fifo():
    with queuelink.Queue() as queue_obj:
        yield queue_obj


def test_fifo_order(fifo):
    for index in range(100):
        fifo.put(index)
    assert [fifo.get(timeout=5) for _ in range(100)] == list(range(100))


def test_lifo_order():
    with queuelink.LifoQueue() as lifo:
        for index in range(10):
            lifo.put(index)
        assert [lifo.get(timeout=5) for _ in range(10)] == list(range(9, -1, -1))


def test_priority_order_fifo_among_equals():
    with queuelink.PriorityQueue() as priority_queue:
        items = [(3, "c1"), (1, "a1"), (2, "b1"), (1, "a2"), (3, "c2"), (-5, "first"), (1, "a3")]
        for item in items:
            priority_queue.put(item)
        result = [priority_queue.get(timeout=5) for _ in items]
    assert result == [(-5, "first"), (1, "a1"), (1, "a2"), (1, "a3"), (2, "b1"), (3, "c1"), (3, "c2")]


def test_priority_returns_same_tuple():
    with queuelink.PriorityQueue() as priority_queue:
        item = (7, {"payload": [1, 2]}, b"\0")
        priority_queue.put(item)
        result = priority_queue.get(timeout=5)
    assert result == item
    assert type(result) is tuple


def test_priority_int64_bounds():
    with queuelink.PriorityQueue() as priority_queue:
        priority_queue.put((2**63 - 1, "last"))
        priority_queue.put((-(2**63), "first"))
        assert priority_queue.get(timeout=5) == (-(2**63), "first")
        assert priority_queue.get(timeout=5) == (2**63 - 1, "last")


@pytest.mark.parametrize("item", ["text", 5, [1, "list"], (), ("1", "str priority"), (1.5, "float"), (True, "bool")])
def test_priority_rejects_bad_items(item):
    with queuelink.PriorityQueue() as priority_queue:
        with pytest.raises(TypeError, match="int priority"):
            priority_queue.put(item)
        assert priority_queue.qsize() == 0


@pytest.mark.parametrize("priority", [2**63, -(2**63) - 1])
def test_priority_out_of_range(priority):
    with queuelink.PriorityQueue() as priority_queue:
        with pytest.raises(ValueError, match="64-bit"):
            priority_queue.put((priority, "x"))


@pytest.mark.parametrize("queue_type", BOUNDED_TYPES + [queuelink.PriorityQueue])
def test_bounded_put_nowait_raises_full(queue_type):
    with queue_type(maxsize=2) as bounded:
        bounded.put((1, "a"))
        bounded.put((2, "b"))
        assert bounded.full()
        assert bounded.qsize() == 2
        with pytest.raises(queue.Full):
            bounded.put_nowait((3, "c"))
        with pytest.raises(queue.Full):
            bounded.put((3, "c"), block=False)


def test_bounded_put_timeout_raises_full():
    with queuelink.Queue(maxsize=1) as bounded:
        bounded.put("only")
        started = time.monotonic()
        with pytest.raises(queue.Full):
            bounded.put("more", timeout=0.3)
        elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 3


def test_blocked_put_wakes_on_get():
    with queuelink.Queue(maxsize=1) as bounded:
        bounded.put("first")
        done = threading.Event()

        def put_second():
            bounded.put("second", timeout=10)
            done.set()

        thread = threading.Thread(target=put_second)
        thread.start()
        time.sleep(0.2)
        assert not done.is_set()
        assert bounded.get(timeout=5) == "first"
        thread.join(timeout=10)
        assert done.is_set()
        assert bounded.get(timeout=5) == "second"


def test_get_nowait_raises_empty(fifo):
    with pytest.raises(queue.Empty):
        fifo.get_nowait()
    with pytest.raises(queue.Empty):
        fifo.get(block=False)


def test_get_timeout_raises_empty(fifo):
    started = time.monotonic()
    with pytest.raises(queue.Empty):
        fifo.get(timeout=0.3)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 3


def test_get_timeout_longer_than_slice(fifo):
    started = time.monotonic()
    with pytest.raises(queue.Empty):
        fifo.get(timeout=0.25)
    assert time.monotonic() - started >= 0.24


def test_blocked_get_wakes_on_put(fifo):
    results = []
    thread = threading.Thread(target=lambda: results.append(fifo.get(timeout=10)))
    thread.start()
    time.sleep(0.2)
    fifo.put("wake")
    thread.join(timeout=10)
    assert results == ["wake"]


@pytest.mark.parametrize("method", ["put", "get"])
def test_negative_timeout_raises_value_error(fifo, method):
    call = getattr(fifo, method)
    args = ("x",) if method == "put" else ()
    with pytest.raises(ValueError, match="non-negative"):
        call(*args, timeout=-1)


def test_zero_timeout_does_not_wait(fifo):
    started = time.monotonic()
    with pytest.raises(queue.Empty):
        fifo.get(timeout=0)
    assert time.monotonic() - started < 0.2


def test_qsize_empty_full():
    with queuelink.Queue(maxsize=3) as bounded:
        assert bounded.empty()
        assert not bounded.full()
        assert bounded.maxsize == 3
        bounded.put(1)
        bounded.put(2)
        assert bounded.qsize() == 2
        assert not bounded.empty()
        assert not bounded.full()
        bounded.put(3)
        assert bounded.full()


@pytest.mark.parametrize("maxsize", [0, -1])
def test_unbounded_never_full(maxsize):
    with queuelink.Queue(maxsize=maxsize) as unbounded:
        for index in range(1000):
            unbounded.put_nowait(index)
        assert not unbounded.full()
        assert unbounded.qsize() == 1000
        assert unbounded.maxsize == maxsize


def test_maxsize_must_be_int():
    with pytest.raises(TypeError):
        queuelink.Queue(maxsize=1.5)


def test_task_done_and_join():
    with queuelink.JoinableQueue() as joinable:
        for index in range(5):
            joinable.put(index)
        joined = threading.Event()

        def join_queue():
            joinable.join()
            joined.set()

        thread = threading.Thread(target=join_queue)
        thread.start()
        for _ in range(5):
            joinable.get(timeout=5)
        time.sleep(0.1)
        assert not joined.is_set()
        for index in range(5):
            assert not joined.is_set(), index
            joinable.task_done()
        thread.join(timeout=10)
        assert joined.is_set()


def test_join_returns_at_once_without_items(fifo):
    fifo.join()


def test_task_done_too_many_times(fifo):
    fifo.put(1)
    fifo.get(timeout=5)
    fifo.task_done()
    with pytest.raises(ValueError, match="too many times"):
        fifo.task_done()


def test_simple_queue_interface():
    with queuelink.SimpleQueue() as simple:
        for name in ("maxsize", "task_done", "join", "full"):
            assert not hasattr(simple, name), name
        simple.put("a")
        simple.put("b", block=False)
        simple.put_nowait("c")
        assert simple.qsize() == 3
        assert not simple.empty()
        assert [simple.get(), simple.get_nowait(), simple.get(timeout=1)] == ["a", "b", "c"]
        with pytest.raises(queue.Empty):
            simple.get(timeout=0.05)


@pytest.mark.parametrize(
    "queue_type",
    [queuelink.Queue, queuelink.LifoQueue, queuelink.PriorityQueue, queuelink.JoinableQueue, queuelink.SimpleQueue],
)
def test_use_after_close_raises(queue_type):
    queue_obj = queue_type()
    queue_obj.close()
    assert queue_obj.closed
    with pytest.raises(ClosedError, match="closed"):
        queue_obj.put((1, "x"))
    with pytest.raises(ClosedError):
        queue_obj.get(timeout=1)
    with pytest.raises(ClosedError):
        queue_obj.qsize()
    with pytest.raises(ClosedError):
        queue_obj.handle
    queue_obj.close()


def test_context_manager_closes():
    with queuelink.Queue() as queue_obj:
        queue_obj.put(1)
    assert queue_obj.closed
    with pytest.raises(ClosedError):
        queue_obj.get_nowait()


def test_close_wakes_blocked_get():
    queue_obj = queuelink.Queue()
    errors = []

    def blocked_get():
        try:
            queue_obj.get(timeout=10)
        except Exception as error:  # noqa: BLE001 - the test inspects it
            errors.append(error)

    thread = threading.Thread(target=blocked_get)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    queue_obj.close()
    thread.join(timeout=10)
    assert time.monotonic() - started < 2
    assert len(errors) == 1
    assert isinstance(errors[0], ClosedError)


def test_shutdown_drains_then_raises(fifo):
    fifo.put("kept")
    fifo.shutdown()
    assert fifo.is_shutdown()
    with pytest.raises(ClosedError):
        fifo.put("late")
    assert fifo.get(timeout=5) == "kept"
    with pytest.raises(ClosedError):
        fifo.get(timeout=5)


def test_shutdown_wakes_blocked_get(fifo):
    errors = []

    def blocked_get():
        try:
            fifo.get()
        except ClosedError as error:
            errors.append(error)

    thread = threading.Thread(target=blocked_get)
    thread.start()
    time.sleep(0.2)
    fifo.shutdown()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(errors) == 1


def test_queue_cannot_be_pickled(fifo):
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(fifo)


def test_queue_as_item_cannot_be_put(fifo):
    with queuelink.Queue() as other:
        with pytest.raises(TypeError):
            fifo.put(other)


def test_many_producers_and_consumers(fifo):
    producers = 4
    per_producer = 2000
    received = []
    lock = threading.Lock()

    def produce(number):
        for index in range(per_producer):
            fifo.put((number, index))

    def consume(count):
        items = drain(fifo, count, timeout=60)
        with lock:
            received.extend(items)

    total = producers * per_producer
    threads = [threading.Thread(target=produce, args=(number,)) for number in range(producers)]
    threads += [threading.Thread(target=consume, args=(total // 2,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(received) == total
    assert sorted(received) == [(number, index) for number in range(producers) for index in range(per_producer)]
    assert fifo.empty()


def test_order_kept_per_producer(fifo):
    def produce(number):
        for index in range(1000):
            fifo.put((number, index))

    threads = [threading.Thread(target=produce, args=(number,)) for number in range(3)]
    for thread in threads:
        thread.start()
    items = drain(fifo, 3000, timeout=60)
    for thread in threads:
        thread.join(timeout=10)
    for number in range(3):
        assert [index for producer, index in items if producer == number] == list(range(1000))


def test_handle_property_reaches_engine(fifo):
    from queuelink import _ffi

    fifo.put("one")
    fifo.put("two")
    assert _ffi.queue_len(fifo.handle) == 2


def test_repr_names_type_and_state():
    queue_obj = queuelink.LifoQueue(maxsize=4)
    assert "LifoQueue" in repr(queue_obj)
    assert "maxsize=4" in repr(queue_obj)
    queue_obj.close()
    assert "closed" in repr(queue_obj)

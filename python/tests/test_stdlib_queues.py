"""Tests of standard-library and multiprocessing queues as link endpoints, and of their bridges."""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import queue
import threading
import time

import pytest

import queuelink
from queuelink import DIRECTION, QueueLink, link
from queuelink._bridge import Bridge, bridge_from, bridge_to, is_foreign_queue

from _helpers import assert_stays_empty, drain, wait_until
from _workers import ALL_KINDS, Record, make_queue, release_queue, take

FORK = multiprocessing.get_context("fork")


@pytest.fixture(scope="module")
def manager():
    manager = multiprocessing.Manager()
    yield manager
    manager.shutdown()


@pytest.fixture
def make(manager):
    created = []

    def factory(kind, **kwargs):
        if kwargs:
            family, name = kind.split(".")
            module = queue if family == "queue" else queuelink
            queue_obj = getattr(module, name)(**kwargs)
        else:
            queue_obj = make_queue(kind, manager)
        created.append(queue_obj)
        return queue_obj

    yield factory
    for queue_obj in created:
        release_queue(queue_obj)


# -- recognizing foreign queues ------------------------------------------------


@pytest.mark.parametrize("kind", [kind for kind in ALL_KINDS if not kind.startswith("engine.")])
def test_foreign_kinds_recognized(kind, make):
    assert is_foreign_queue(make(kind))


@pytest.mark.parametrize("kind", [kind for kind in ALL_KINDS if kind.startswith("engine.")])
def test_engine_queues_not_foreign(kind, make):
    assert not is_foreign_queue(make(kind))


def test_other_objects_not_foreign(manager):
    receiver, sender = multiprocessing.Pipe(duplex=False)
    try:
        for obj in ([], "queue", object(), receiver, manager.list(), manager.Event(), multiprocessing.Event()):
            assert not is_foreign_queue(obj), obj
    finally:
        receiver.close()
        sender.close()


# -- bridges on their own ------------------------------------------------------------


def test_bridge_round_trip_keeps_types(make):
    foreign_source, foreign_destination = make("queue.Queue"), make("queue.Queue")
    items = ["text", b"bytes", bytearray(b"array"), None, 0, 1.5, ("tuple", 1), {"dict": [1]}, Record(1, "r")]
    engine_in, source_bridge = bridge_from(foreign_source, name="test-source")
    engine_out, destination_bridge = bridge_to(foreign_destination, name="test-destination")
    try:
        with QueueLink(engine_in, engine_out):
            for item in items:
                foreign_source.put(item)
            received = take(foreign_destination, len(items))
    finally:
        source_bridge.stop()
        destination_bridge.stop()
        engine_in.close()
        engine_out.close()
    assert received == items
    assert [type(item) for item in received] == [type(item) for item in items]


def test_bridge_stop_is_idempotent(make):
    engine_queue, bridge = bridge_from(make("queue.Queue"), name="stop-twice")
    assert isinstance(bridge, Bridge)
    assert bridge.is_alive()
    bridge.stop()
    assert not bridge.is_alive()
    bridge.stop(drain=False)
    bridge.stop(timeout=0)
    assert not bridge.is_alive()
    engine_queue.close()


def test_bridge_rejects_non_queue():
    with pytest.raises(TypeError, match="queue or multiprocessing module"):
        bridge_from([], name="bad")
    with pytest.raises(TypeError, match="queue or multiprocessing module"):
        bridge_to(queuelink.Queue(), name="bad")


@pytest.mark.parametrize("kind", ["fork.SimpleQueue", "queue.SimpleQueue", "spawn.Queue", "manager.Queue"])
@pytest.mark.parametrize("drain_first", [False, True])
def test_idle_bridge_stops_promptly(kind, drain_first, make):
    foreign = make(kind)
    engine_queue, bridge = bridge_from(foreign, name=f"idle {kind}")
    time.sleep(0.05)
    started = time.monotonic()
    bridge.stop(drain=drain_first, timeout=5)
    elapsed = time.monotonic() - started
    engine_queue.close()
    assert not bridge.is_alive()
    assert elapsed < 0.5


def test_destination_bridge_drains_on_stop(make):
    foreign = make("fork.Queue")
    engine_queue, bridge = bridge_to(foreign, name="drain-destination")
    for index in range(50):
        engine_queue.put(index)
    bridge.stop(drain=True, timeout=5)
    assert engine_queue.qsize() == 0
    engine_queue.close()
    assert take(foreign, 50) == list(range(50))


def test_bridge_resume_after_stop(make):
    foreign = make("queue.Queue")
    engine_queue, bridge = bridge_from(foreign, name="resume")
    bridge.stop(drain=False)
    foreign.put("while stopped")
    assert_stays_empty(engine_queue, 0.1)
    bridge.resume()
    assert bridge.is_alive()
    assert drain(engine_queue, 1) == ["while stopped"]
    bridge.stop()
    engine_queue.close()


def test_source_bridge_task_done_waits_for_consumer(make):
    foreign = make("queue.Queue")
    engine_queue, bridge = bridge_from(foreign, name="task-done")
    try:
        foreign.put("item")
        assert drain(engine_queue, 1) == ["item"]
        time.sleep(0.1)
        # The consumer of the engine queue has not finished the item yet.
        assert foreign.unfinished_tasks == 1
        engine_queue.task_done()
        assert wait_until(lambda: foreign.unfinished_tasks == 0, timeout=5)
    finally:
        bridge.stop()
        engine_queue.close()


def test_return_to_source_keeps_items(make):
    foreign = make("queue.Queue")
    engine_queue, bridge = bridge_from(foreign, name="return")
    for index in range(10):
        foreign.put(index)
    assert wait_until(lambda: engine_queue.qsize() == 10)
    bridge.stop(drain=False)
    assert bridge.return_to_source() == 10
    engine_queue.close()
    assert take(foreign, 10) == list(range(10))
    assert foreign.unfinished_tasks == 10


def test_unpicklable_item_dropped_and_logged(make, caplog):
    source, destination = make("queue.Queue"), make("queue.Queue")
    with caplog.at_level(logging.ERROR, logger="queuelink"):
        with QueueLink(source, destination):
            source.put("before")
            source.put(lambda: None)
            source.put("after")
            assert take(destination, 2) == ["before", "after"]
            assert wait_until(lambda: source.unfinished_tasks == 0, timeout=5)
    assert any("cannot be pickled" in record.getMessage() for record in caplog.records)


def test_idle_bridges_do_not_spin(make):
    kinds = ["queue.Queue", "queue.SimpleQueue", "fork.Queue", "fork.SimpleQueue", "manager.Queue"]
    with QueueLink(name="idle") as idle_link:
        for kind in kinds:
            idle_link.read(make(kind))
            idle_link.write(make(kind))
        time.sleep(0.2)
        started_cpu = time.process_time()
        started = time.monotonic()
        time.sleep(1.0)
        cpu = time.process_time() - started_cpu
        wall = time.monotonic() - started
    # Ten bridges that each wake every 10 ms use a few percent of a core.
    assert cpu < 0.3 * wall, f"{cpu:.3f} s of CPU in {wall:.3f} s idle"


def test_bridged_link_throughput(make):
    source, destination = make("queue.Queue"), make("queue.Queue")
    count = 20_000
    with QueueLink(source, destination):
        started = time.monotonic()

        def produce():
            for index in range(count):
                source.put(index)

        producer = threading.Thread(target=produce)
        producer.start()
        received = take(destination, count, timeout=60)
        elapsed = time.monotonic() - started
        producer.join(timeout=10)
    assert received == list(range(count))
    # Measured at about 14,000 items a second on a 2-core machine; the
    # bound only catches a bridge that sleeps between available items.
    assert count / elapsed > 2_000, f"{count / elapsed:.0f} items/s"


# -- registration ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["queue.Queue", "fork.SimpleQueue", "manager.JoinableQueue"])
def test_foreign_registered_twice_rejected(kind, make):
    foreign = make(kind)
    with QueueLink() as queue_link:
        queue_id = queue_link.read(foreign)
        with pytest.raises(ValueError, match=f"already registered with id {queue_id}"):
            queue_link.read(foreign)
        with pytest.raises(ValueError, match="already registered"):
            queue_link.write(foreign)
        assert queue_link.get_queue(queue_id) is foreign
        assert len(queue_link._bridges) == 1


def test_foreign_as_source_and_destination_rejected(make):
    foreign = make("queue.Queue")
    with pytest.raises(ValueError, match="already registered"):
        QueueLink(foreign, foreign)


def test_two_proxies_of_one_queue_rejected(manager):
    proxy = manager.Queue()
    # A proxy sent to another process and back is a new object for the same queue.
    same_queue = pickle.loads(pickle.dumps(proxy))
    assert same_queue is not proxy
    with QueueLink(destination=queuelink.Queue()) as queue_link:
        queue_link.read(proxy)
        with pytest.raises(ValueError, match="already registered"):
            queue_link.read(same_queue)
    with pytest.raises(ValueError, match="appears more than once"):
        link(queuelink.Queue(), [proxy, same_queue])


def test_reregister_after_unregister(make):
    source, destination = make("queue.Queue"), make("queue.Queue")
    with QueueLink(destination=destination) as queue_link:
        first_id = queue_link.read(source)
        queue_link.unregister_queue(first_id, DIRECTION.FROM)
        second_id = queue_link.read(source)
        assert second_id != first_id
        source.put("again")
        assert take(destination, 1) == ["again"]


def test_mixed_registration_ids(make):
    engine_source = make("engine.Queue")
    foreign_source = make("queue.LifoQueue")
    foreign_destination = make("fork.Queue")
    with QueueLink(engine_source, [foreign_destination], name="mixed") as queue_link:
        assert queue_link.read(foreign_source) == "3"
        assert queue_link.get_queue("1") is engine_source
        assert queue_link.get_queue("2") is foreign_destination
        assert queue_link.get_queue("3") is foreign_source
        assert "3 queues" in repr(queue_link)


# -- unregister, stop, restart and close -------------------------------------------


def test_unregister_foreign_source_leaves_items(make):
    source, destination = make("queue.Queue"), make("engine.Queue")
    with QueueLink(source, destination) as queue_link:
        source.put("moved")
        assert drain(destination, 1) == ["moved"]
        queue_link.unregister_queue("1", DIRECTION.FROM)
        source.put("stays")
        assert_stays_empty(destination, 0.2)
        assert source.qsize() == 1
        assert not queue_link._bridges


def test_unregister_foreign_destination(make):
    source, kept, removed = make("engine.Queue"), make("engine.Queue"), make("queue.Queue")
    with QueueLink(source, [kept, removed]) as queue_link:
        for index in range(100):
            source.put(index)
        assert drain(kept, 100) == list(range(100))
        assert wait_until(lambda: removed.qsize() == 100)
        queue_link.unregister_queue("3", DIRECTION.TO)
        # Nothing is lost or added by the call.
        assert removed.qsize() == 100
        source.put("after")
        assert drain(kept, 1) == ["after"]
        assert removed.qsize() == 100
        with pytest.raises(KeyError):
            queue_link.get_queue("3")


def test_unregister_wrong_direction_keeps_bridge(make):
    source, destination = make("queue.Queue"), make("queue.Queue")
    with QueueLink(source, destination) as queue_link:
        with pytest.raises(KeyError):
            queue_link.unregister_queue("1", DIRECTION.TO)
        source.put("still linked")
        assert take(destination, 1) == ["still linked"]


def test_stop_delivers_items_already_put(make):
    source, destination = make("fork.Queue"), make("queue.Queue")
    with QueueLink(source, destination) as queue_link:
        for index in range(200):
            source.put(index)
        queue_link.stop()
        assert destination.qsize() == 200
        assert take(destination, 200) == list(range(200))


def test_stop_and_restart_with_foreign_queues(make):
    source, destination, extra = make("queue.Queue"), make("fork.Queue"), make("queue.SimpleQueue")
    with QueueLink(source, destination) as queue_link:
        source.put("before stop")
        assert take(destination, 1) == ["before stop"]
        queue_link.stop()
        assert not queue_link.is_alive()
        assert all(not bridge.is_alive() for bridge in queue_link._bridges.values())
        source.put("while stopped")
        time.sleep(0.1)
        assert source.qsize() == 1
        assert queue_link.write(extra) == "3"
        assert queue_link.is_alive()
        assert all(bridge.is_alive() for bridge in queue_link._bridges.values())
        assert take(destination, 1) == ["while stopped"]
        assert take(extra, 1) == ["while stopped"]
        assert queue_link.get_queue("1") is source


def test_close_returns_items_to_source(make):
    source = make("queue.Queue")
    queue_link = QueueLink(source)
    for index in range(100):
        source.put(index)
    # Without a destination, the bridge takes what fits in its buffer and waits.
    assert wait_until(lambda: source.qsize() < 100)
    queue_link.close()
    assert source.qsize() == 100
    assert sorted(take(source, 100)) == list(range(100))
    for _ in range(100):
        source.task_done()
    assert source.unfinished_tasks == 0


def test_close_delivers_held_items(make):
    source, destination = make("queue.Queue"), make("queue.Queue")
    queue_link = QueueLink(source, destination)
    for index in range(1000):
        source.put(index)
    queue_link.close()
    received = take(destination, destination.qsize())
    assert received + take(source, source.qsize()) == list(range(1000))


def test_close_twice_and_use_after_close(make):
    source = make("queue.Queue")
    queue_link = QueueLink(source, make("queue.Queue"))
    queue_link.close()
    queue_link.close()
    with pytest.raises(queuelink.ClosedError):
        queue_link.read(make("queue.Queue"))
    # The queue is free again for another link.
    with QueueLink(source, make("engine.Queue")):
        pass


# -- state ---------------------------------------------------------------------------


def test_is_empty_sees_foreign_queues(make):
    source, destination = make("queue.Queue"), make("fork.Queue")
    with QueueLink(source) as queue_link:
        assert queue_link.is_empty()
        assert not queue_link.is_drained()
        destination_id = queue_link.write(destination)
        for index in range(10):
            source.put(index)
        assert wait_until(lambda: destination.qsize() == 10)
        assert not queue_link.is_empty()
        assert not queue_link.is_empty(destination_id)
        assert not queue_link.is_drained()
        take(destination, 10)
        assert queue_link.is_empty()
        assert queue_link.is_empty(destination_id)
        assert queue_link.is_drained()
        with pytest.raises(KeyError):
            queue_link.is_empty("99")


def test_is_empty_checks_foreign_source(make):
    source, destination = make("manager.Queue"), make("engine.Queue")
    with QueueLink(source, destination) as queue_link:
        queue_link.stop()
        source.put("waiting")
        assert not queue_link.is_empty("2")
        assert not queue_link.is_empty()


def test_is_drained_never_early(make):
    source, destination = make("queue.Queue"), make("fork.Queue")
    with QueueLink(source, destination) as queue_link:
        for round_number in range(8):
            for index in range(50):
                source.put((round_number, index))
            received = []
            deadline = time.monotonic() + 20
            while not queue_link.is_drained():
                assert time.monotonic() < deadline, f"round {round_number}: {len(received)} of 50 received"
                try:
                    received.append(destination.get(timeout=0.001))
                except queue.Empty:
                    pass
            # Drained means nothing is left anywhere, so every item was received.
            assert received == [(round_number, index) for index in range(50)]


def test_destructive_audit_foreign(make, caplog):
    first, second = make("fork.SimpleQueue"), make("queue.Queue")
    with QueueLink(destination=[first, second], name="audit") as queue_link:
        first.put("audited")
        with caplog.at_level(logging.INFO, logger="queuelink"):
            queue_link.destructive_audit(DIRECTION.TO)
    messages = [record.getMessage() for record in caplog.records]
    assert any("'audited'" in message for message in messages)
    assert any("is empty" in message for message in messages)
    assert first.empty()


def test_metrics_count_foreign_source(make):
    source, destination = make("queue.Queue"), make("queue.Queue")
    with QueueLink(source, destination) as queue_link:
        for index in range(30):
            source.put(index)
        take(destination, 30)
        metrics = queue_link.get_metrics()
    counts = [element["count"] for element in metrics.values() if "count" in element]
    assert counts == [30]


# -- link() ----------------------------------------------------------------------------


def test_link_foreign_to_foreign(make):
    source, first, second = make("spawn.Queue"), make("queue.Queue"), make("manager.JoinableQueue")
    with link(source, [first, second], name="foreign") as result:
        assert result.queue_link is not None
        for index in range(20):
            source.put({"index": index})
        assert take(first, 20) == [{"index": index} for index in range(20)]
        assert take(second, 20) == [{"index": index} for index in range(20)]
    assert not result.is_alive()


def test_link_path_to_foreign_queue(tmp_path, make):
    path = tmp_path / "input.txt"
    lines = [f"line {index}\n" for index in range(300)]
    path.write_text("".join(lines))
    destination = make("queue.Queue")
    with link(path, destination) as result:
        assert result.reader is not None
        assert take(destination, 300) == lines
    assert_stays_empty(destination, 0.1)


def test_link_foreign_queue_to_path(tmp_path, make):
    source = make("fork.JoinableQueue")
    path = tmp_path / "out.txt"
    result = link(source, [path, make("queue.Queue")])
    for index in range(500):
        source.put(f"{index}\n")
    result.close()
    assert path.read_text() == "".join(f"{index}\n" for index in range(500))


def destination_items(destination) -> list:
    """Take every item that a multiprocessing.SimpleQueue contains now."""
    items = []
    while not destination.empty():
        items.append(destination.get())
    return items


def test_link_stop_drains_foreign_destination(make):
    # NOTE: while other test suites loaded both cores, this test twice
    # found one item fewer than expected; it was not found whether the
    # bridge or this test's emptiness check missed it.
    source, destination = make("engine.Queue"), make("fork.SimpleQueue")
    result = link(source, destination)
    for index in range(1000):
        source.put(index)
    assert wait_until(lambda: source.qsize() < 900)
    result.stop()
    received = destination_items(destination)
    assert received[:10] == list(range(10))
    # A publisher stopped while the bridge's buffer was full keeps one
    # item, and closing puts it back in front of the source.
    result.close()
    received += destination_items(destination)
    remaining = [source.get(timeout=5) for _ in range(source.qsize())]
    assert received + remaining == list(range(1000))


def test_close_after_stop_settles_fan_out(make):
    source, fast, slow = make("engine.Queue"), make("engine.Queue"), make("fork.SimpleQueue")
    queue_link = QueueLink(source, [fast, slow])
    for index in range(1000):
        source.put(index)
    assert wait_until(lambda: source.qsize() < 900)
    queue_link.stop()
    queue_link.close()
    remaining = [source.get(timeout=5) for _ in range(source.qsize())]
    from_fast = drain(fast, fast.qsize())
    from_slow = destination_items(slow)
    # Each item left the source for both destinations, or for neither.
    assert from_fast + remaining == list(range(1000))
    assert from_slow + remaining == list(range(1000))


def test_link_connection_source(make):
    receiver, sender = multiprocessing.Pipe(duplex=False)
    destination = make("queue.Queue")
    try:
        try:
            result = link(receiver, destination, trusted=True)
        except TypeError as error:
            if "cannot be a multiprocessing Connection" in str(error):
                pytest.skip("QueueHandleAdapterReader does not read Connections yet")
            raise
        with result:
            sender.send({"pickled": 1})
            sender.send("text")
            assert take(destination, 2) == [{"pickled": 1}, "text"]
    finally:
        receiver.close()
        sender.close()


# -- processes of the test itself --------------------------------------------------------


def test_forked_child_leaves_bridges_alone(make):
    source, destination = make("queue.Queue"), make("fork.Queue")
    results = FORK.Queue()
    with QueueLink(source, destination) as queue_link:
        bridges = list(queue_link._bridges.values())

        def child():
            outcomes = []
            started = time.monotonic()
            for bridge in bridges:
                bridge.stop()
                outcomes.append(bridge.is_alive())
            outcomes.append(time.monotonic() - started)
            try:
                queue_link.stop()
                outcomes.append("no error")
            except RuntimeError as error:
                outcomes.append(str(error))
            results.put(outcomes)

        process = FORK.Process(target=child)
        process.start()
        outcomes = results.get(timeout=20)
        process.join(timeout=20)
        source.put("parent still works")
        assert take(destination, 1) == ["parent still works"]
        assert all(bridge.is_alive() for bridge in bridges)
    release_queue(results)
    assert process.exitcode == 0
    # The child has no bridge threads: stop() there returns at once and
    # touches nothing, and the link raises.
    assert outcomes[:2] == [False, False]
    assert outcomes[2] < 0.1
    assert "cannot be used in a child created by fork()" in outcomes[3]


def test_manager_shutdown_ends_bridge(caplog):
    manager = multiprocessing.Manager()
    proxy = manager.Queue()
    destination = queuelink.Queue()
    with caplog.at_level(logging.WARNING, logger="queuelink"):
        queue_link = QueueLink(proxy, destination)
        proxy.put("before")
        assert drain(destination, 1) == ["before"]
        manager.shutdown()
        (bridge,) = queue_link._bridges.values()
        assert wait_until(lambda: not bridge.is_alive(), timeout=10)
        started = time.monotonic()
        queue_link.close()
        assert time.monotonic() - started < 5
    destination.close()
    assert any("bridge" in record.getMessage() and "failed" in record.getMessage() for record in caplog.records)

"""Tests of QueueLink: fan-out, fan-in, registration, state and metrics."""

from __future__ import annotations

import logging
import queue
import threading
import time

import pytest

import queuelink
from queuelink import DIRECTION, ClosedError, ProcessNotStarted, QueueLink
from queuelink.exceptionhandler import NotRegisteredError

from _helpers import assert_stays_empty, drain, wait_until


@pytest.fixture
def queues():
    created = []

    def make(count, queue_type=queuelink.Queue, **kwargs):
        new = [queue_type(**kwargs) for _ in range(count)]
        created.extend(new)
        return new

    yield make
    for queue_obj in created:
        queue_obj.close()


def test_fan_out_exact_counts(queues):
    source, *destinations = queues(4)
    with QueueLink(source, destinations) as link:
        for index in range(1000):
            source.put(index)
        for destination in destinations:
            assert drain(destination, 1000) == list(range(1000))
            assert_stays_empty(destination, 0.1)
        assert link.is_alive()


def test_fan_in_exact_counts(queues):
    sources = queues(3)
    (destination,) = queues(1)
    with QueueLink(destination=destination) as link:
        for source in sources:
            link.read(source)
        for number, source in enumerate(sources):
            for index in range(500):
                source.put((number, index))
        items = drain(destination, 1500)
        assert_stays_empty(destination, 0.1)
    for number in range(3):
        assert [index for source_number, index in items if source_number == number] == list(range(500))


def test_single_destination_not_list(queues):
    source, destination = queues(2)
    with QueueLink(source, destination):
        source.put("one")
        assert drain(destination, 1) == ["one"]


def test_kinds_pass_unchanged(queues):
    source, destination = queues(2)
    items = ["text é", b"\0bytes\xff", {"pickled": [1, 2]}, "", b""]
    with QueueLink(source, destination):
        for item in items:
            source.put(item)
        assert drain(destination, len(items)) == items


def test_ids_count_up_as_strings(queues):
    first, second, third = queues(3)
    with QueueLink() as link:
        assert link.read(first) == "1"
        assert link.write(second) == "2"
        assert link.register_queue(third, DIRECTION.TO) == "3"
        assert link.get_queue("1") is first
        assert link.get_queue(2) is second
        assert link.get_queue("3") is third


def test_ids_never_reused(queues):
    first, second, third = queues(3)
    with QueueLink() as link:
        link.read(first)
        second_id = link.write(second)
        assert link.unregister_queue(second_id, DIRECTION.TO) == second_id
        assert link.write(third) == "3"


def test_get_queue_unknown_id(queues):
    with QueueLink() as link:
        with pytest.raises(KeyError):
            link.get_queue("9")
        with pytest.raises(ValueError):
            link.get_queue("not-a-number")


def test_destination_added_at_runtime(queues):
    source, first, second = queues(3)
    with QueueLink(source, first) as link:
        for index in range(10):
            source.put(index)
        assert drain(first, 10) == list(range(10))
        link.write(second)
        assert link.is_alive()
        for index in range(10, 20):
            source.put(index)
        assert drain(first, 10) == list(range(10, 20))
        assert drain(second, 10) == list(range(10, 20))
        assert_stays_empty(second, 0.1)


def test_source_added_at_runtime(queues):
    first, second, destination = queues(3)
    with QueueLink(first, destination) as link:
        first.put("from first")
        assert drain(destination, 1) == ["from first"]
        link.read(second)
        second.put("from second")
        assert drain(destination, 1) == ["from second"]


def test_unregister_destination_stops_delivery(queues):
    source, kept, removed = queues(3)
    with QueueLink(source, [kept, removed]) as link:
        source.put("both")
        assert drain(kept, 1) == ["both"]
        assert drain(removed, 1) == ["both"]
        assert link.unregister_queue("3", DIRECTION.TO) == "3"
        source.put("kept only")
        assert drain(kept, 1) == ["kept only"]
        assert_stays_empty(removed)
        with pytest.raises(KeyError):
            link.get_queue("3")


def test_unregister_source_stops_moving(queues):
    source, destination = queues(2)
    with QueueLink(source, destination) as link:
        source.put("moved")
        assert drain(destination, 1) == ["moved"]
        link.unregister_queue(1, DIRECTION.FROM)
        source.put("stays")
        assert_stays_empty(destination)
        assert source.qsize() == 1


def test_unregister_wrong_direction(queues):
    source, destination = queues(2)
    with QueueLink(source, destination) as link:
        with pytest.raises(NotRegisteredError) as caught:
            link.unregister_queue("1", DIRECTION.TO)
        assert isinstance(caught.value, KeyError)
        with pytest.raises(KeyError):
            link.unregister_queue("42", DIRECTION.FROM)


def test_duplicate_registration_same_direction(queues):
    source, destination = queues(2)
    with QueueLink(source, destination) as link:
        with pytest.raises(ValueError, match="already registered"):
            link.write(destination)
        with pytest.raises(ValueError, match="already registered"):
            link.read(source)


def test_registration_in_both_directions(queues):
    source, destination = queues(2)
    with QueueLink(source, destination) as link:
        with pytest.raises(ValueError, match="already registered"):
            link.read(destination)
        with pytest.raises(ValueError, match="already registered"):
            link.write(source)


def test_same_queue_as_source_and_destination(queues):
    (only,) = queues(1)
    with pytest.raises(ValueError, match="already registered"):
        QueueLink(only, only)


@pytest.mark.parametrize("direction", ["source", "destination", 1, None])
def test_direction_must_be_enum(queues, direction):
    (queue_obj,) = queues(1)
    with QueueLink() as link:
        with pytest.raises(TypeError, match="DIRECTION"):
            link.register_queue(queue_obj, direction)
        with pytest.raises(TypeError, match="DIRECTION"):
            link.unregister_queue("1", direction)


def test_direction_str_gives_value():
    assert str(DIRECTION.FROM) == "source"
    assert str(DIRECTION.TO) == "destination"


@pytest.mark.parametrize("not_a_queue", [[], "queue", object(), queuelink.DIRECTION.FROM])
def test_non_queue_rejected(not_a_queue):
    with QueueLink() as link:
        with pytest.raises(TypeError, match="must be a queuelink queue") as caught:
            link.read(not_a_queue)
    assert type(not_a_queue).__name__ in str(caught.value)


def test_closed_queue_rejected(queues):
    (queue_obj,) = queues(1)
    queue_obj.close()
    with QueueLink() as link:
        with pytest.raises(ClosedError):
            link.read(queue_obj)


@pytest.mark.parametrize("start_method", [None, "fork", "forkserver", "spawn"])
def test_start_method_accepted(start_method):
    QueueLink(start_method=start_method).close()


@pytest.mark.parametrize("start_method", ["thread", "", "SPAWN"])
def test_start_method_rejected(start_method):
    with pytest.raises(ValueError, match="start_method"):
        QueueLink(start_method=start_method)


def test_is_alive_before_start_raises(queues):
    (source,) = queues(1)
    with QueueLink(source) as link:
        with pytest.raises(ProcessNotStarted) as caught:
            link.is_alive()
        assert caught.value.errno == 4


def test_stop_and_restart(queues):
    source, destination, extra = queues(3)
    with QueueLink(source, destination) as link:
        source.put("before stop")
        assert drain(destination, 1) == ["before stop"]
        link.stop()
        assert not link.is_alive()
        source.put("while stopped")
        assert_stays_empty(destination)
        assert source.qsize() == 1
        link.write(extra)
        assert link.is_alive()
        assert drain(destination, 1) == ["while stopped"]
        assert drain(extra, 1) == ["while stopped"]


def test_stop_twice(queues):
    source, destination = queues(2)
    with QueueLink(source, destination) as link:
        link.stop()
        link.stop()


def test_is_empty_and_is_drained(queues):
    source, first, second = queues(3)
    with QueueLink(source) as link:
        assert link.is_empty()
        assert not link.is_drained()
        first_id = link.write(first)
        second_id = link.write(second)
        source.put("item")
        assert wait_until(lambda: first.qsize() == 1)
        assert wait_until(lambda: second.qsize() == 1)
        assert not link.is_empty()
        assert not link.is_drained()
        first.get(timeout=5)
        assert link.is_empty(first_id)
        assert not link.is_empty(second_id)
        assert not link.is_empty()
        second.get(timeout=5)
        assert link.is_empty()
        assert link.is_drained()
        with pytest.raises(KeyError):
            link.is_empty("99")


def test_is_empty_checks_sources(queues):
    source, destination = queues(2)
    with QueueLink(source, destination) as link:
        link.stop()
        source.put("waiting")
        destination_id = "2"
        assert not link.is_empty(destination_id)


def test_full_destination_loses_nothing(queues):
    (source,) = queues(1)
    (destination,) = queues(1, maxsize=5)
    with QueueLink(source, destination):
        for index in range(200):
            source.put(index)
        assert wait_until(destination.full)
        received = []
        while len(received) < 200:
            received.append(destination.get(timeout=10))
            if len(received) % 50 == 0:
                time.sleep(0.05)
    assert received == list(range(200))


def test_stop_with_full_destination_keeps_item(queues):
    (source,) = queues(1)
    (destination,) = queues(1, maxsize=1)
    with QueueLink(source, destination) as link:
        for index in range(3):
            source.put(index)
        assert wait_until(destination.full)
        time.sleep(0.1)
        link.stop()
        assert destination.get(timeout=5) == 0
        link.write(queues(1)[0])
        assert drain(destination, 2) == [1, 2]


def test_metrics_empty_before_any_item(queues):
    source, destination = queues(2)
    with QueueLink(source, destination) as link:
        assert link.get_metrics() == {}


def test_metrics_shape(queues):
    first, second, destination = queues(3)
    with QueueLink(first, destination) as link:
        link.read(second)
        for index in range(150):
            first.put(index)
        for index in range(20):
            second.put(index)
        drain(destination, 170)
        metrics = link.get_metrics()

    assert len(metrics) == 4
    assert all(isinstance(element_id, str) for element_id in metrics)
    timing = [value for value in metrics.values() if "mean" in value]
    counting = [value for value in metrics.values() if "count" in value]
    assert len(timing) == 2
    assert len(counting) == 2
    for element in timing:
        assert set(element) == {"name", "data_point_count", "mean", "median", "stddev"}
        for key in ("mean", "median", "stddev"):
            assert isinstance(element[key], float)
            assert 0 <= element[key] < 10
    for element in counting:
        assert set(element) == {"name", "count"}
    assert sorted(element["count"] for element in counting) == [20, 150]
    assert sorted(element["data_point_count"] for element in timing) == [20, 100]


def test_metrics_only_sources_that_moved(queues):
    first, second, destination = queues(3)
    with QueueLink(first, destination) as link:
        link.read(second)
        first.put("x")
        drain(destination, 1)
        metrics = link.get_metrics()
    assert len(metrics) == 2


def test_use_after_close(queues):
    source, destination = queues(2)
    link = QueueLink(source, destination)
    link.close()
    assert link.closed
    for call in (
        lambda: link.read(queues(1)[0]),
        lambda: link.unregister_queue("1", DIRECTION.FROM),
        link.stop,
        link.is_alive,
        link.is_empty,
        link.is_drained,
        link.get_metrics,
        lambda: link.get_queue("1"),
    ):
        with pytest.raises(ClosedError, match="closed"):
            call()
    link.close()


def test_queues_usable_after_link_close(queues):
    source, destination = queues(2)
    with QueueLink(source, destination):
        source.put("moved")
        drain(destination, 1)
    source.put("after")
    assert source.get(timeout=5) == "after"
    destination.put("after")
    assert destination.get(timeout=5) == "after"


def test_close_releases_queue_references(queues):
    source, destination = queues(2)
    link = QueueLink(source, destination)
    link.close()
    assert link._queues == {}


def test_failed_constructor_frees_link(queues):
    (source,) = queues(1)
    with pytest.raises(TypeError):
        QueueLink(source, [object()])
    # The source was registered on the failed link; it must be usable again.
    (destination,) = queues(1)
    with QueueLink(source, destination):
        source.put(1)
        assert drain(destination, 1) == [1]


def test_destructive_audit_logs_items(queues, caplog):
    source, first, second = queues(3)
    with QueueLink(source, [first, second], name="audit") as link:
        source.put("audited")
        assert wait_until(lambda: first.qsize() == 1)
        assert wait_until(lambda: second.qsize() == 1)
        with caplog.at_level(logging.INFO, logger="queuelink"):
            link.destructive_audit(DIRECTION.TO)
            link.destructive_audit(DIRECTION.TO)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("'audited'" in message for message in messages) == 2
    assert sum("is empty" in message for message in messages) == 2
    assert first.empty()
    assert second.empty()


def test_thread_only_factories():
    with QueueLink(thread_only=True) as link:
        created = link.Queue()
        assert isinstance(created, queuelink.JoinableQueue)
        created.close()
        assert isinstance(link.Event(), type(threading.Event()))
        assert isinstance(link.Lock(), type(threading.Lock()))


def test_concurrent_producers_through_link(queues):
    source, destination = queues(2)
    with QueueLink(source, destination):

        def produce(number):
            for index in range(1000):
                source.put((number, index))

        threads = [threading.Thread(target=produce, args=(number,)) for number in range(4)]
        for thread in threads:
            thread.start()
        items = drain(destination, 4000, timeout=60)
        for thread in threads:
            thread.join(timeout=10)
    assert sorted(items) == sorted((number, index) for number in range(4) for index in range(1000))


def test_engine_logs_forwarded(tmp_path, caplog):
    from queuelink import engine_log

    path = tmp_path / "input.txt"
    path.write_text("a\n")
    with caplog.at_level(logging.DEBUG, logger="queuelink"):
        queuelink.forward_engine_logs(logging.DEBUG)
        try:
            with queuelink.Queue() as target:
                with queuelink.QueueHandleAdapterReader(target, handle=path, name="logged-reader") as reader:
                    assert reader.wait(timeout=10)
                assert wait_until(
                    lambda: any(record.name.startswith("queuelink.") and "logged-reader" in record.getMessage()
                                for record in caplog.records),
                    timeout=10,
                )
        finally:
            queuelink.stop_forwarding_engine_logs()
    assert engine_log._forwarder is None
    # Forwarding is on by default; leave it on for the other tests.
    queuelink.forward_engine_logs(logging.DEBUG)
    assert engine_log._forwarder is not None


def test_source_closed_logged_by_default(queues, caplog):
    source, destination = queues(2)

    def source_closed_logged():
        return any(
            record.name == "queuelink.link"
            and record.levelno == logging.INFO
            and record.getMessage() == "source closed, publisher ended link=caplog-link source=1"
            for record in caplog.records
        )

    with caplog.at_level(logging.INFO, logger="queuelink"):
        with QueueLink(source, destination, name="caplog-link"):
            source.put("item")
            assert drain(destination, 1) == ["item"]
            source.shutdown()
            assert wait_until(source_closed_logged, timeout=10)


def test_engine_log_level_checked():
    with pytest.raises(ValueError, match="level"):
        queuelink.forward_engine_logs(logging.CRITICAL)


def test_malformed_engine_record_logged(caplog):
    from queuelink.engine_log import emit_record

    with caplog.at_level(logging.DEBUG, logger="queuelink"):
        emit_record("not a record")
        emit_record("30\tqueuelink.writer\twrite failed path=/x\n")
    messages = [(record.name, record.levelno, record.getMessage()) for record in caplog.records]
    assert ("queuelink.engine", logging.WARNING, "malformed engine log record: 'not a record'") in messages
    assert ("queuelink.writer", logging.WARNING, "write failed path=/x") in messages

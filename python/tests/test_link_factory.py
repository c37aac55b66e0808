"""Tests of link(): each combination of endpoints and each error case."""

from __future__ import annotations

import io
import multiprocessing
import os
import subprocess

import pytest

import queuelink
from queuelink import (
    WRAP_WHEN,
    QueueHandleAdapterReader,
    QueueHandleAdapterWriter,
    QueueLink,
    link,
)

from _helpers import assert_stays_empty, drain, wait_until


@pytest.fixture
def queues():
    created = []

    def make(count):
        new = [queuelink.Queue() for _ in range(count)]
        created.extend(new)
        return new

    yield make
    for queue_obj in created:
        queue_obj.close()


def write_lines(path, count):
    lines = [f"line {index} ü\n" for index in range(count)]
    path.write_text("".join(lines), encoding="utf-8")
    return lines


def test_queue_to_queue(queues):
    source, destination = queues(2)
    with link(source, destination) as result:
        assert isinstance(result.queue_link, QueueLink)
        assert result.reader is None
        assert result.writers == []
        source.put("item")
        assert drain(destination, 1) == ["item"]
        assert result.is_alive()
    assert not result.is_alive()


def test_queue_to_queues(queues):
    source, *destinations = queues(3)
    with link(source, destinations) as result:
        for index in range(100):
            source.put(index)
        for destination in destinations:
            assert drain(destination, 100) == list(range(100))
        assert len(result.queue_link._queues) == 3


def test_path_to_queue(tmp_path, queues):
    path = tmp_path / "input.txt"
    lines = write_lines(path, 500)
    (destination,) = queues(1)
    with link(path, destination) as result:
        assert isinstance(result.reader, QueueHandleAdapterReader)
        assert result.queue_link is None
        assert drain(destination, 500) == lines
        assert wait_until(lambda: not result.is_alive())


def test_pipe_to_queues(queues):
    process = subprocess.Popen(["seq", "1", "3000"], stdout=subprocess.PIPE)
    first, second = queues(2)
    try:
        with link(process.stdout, [first, second]) as result:
            assert result.reader is not None
            assert result.queue_link is not None
            expected = [f"{index}\n".encode() for index in range(1, 3001)]
            assert drain(first, 3000) == expected
            assert drain(second, 3000) == expected
    finally:
        process.stdout.close()
        process.wait(timeout=10)


def test_queue_to_path(tmp_path, queues):
    (source,) = queues(1)
    path = tmp_path / "out.txt"
    with link(source, str(path)) as result:
        assert len(result.writers) == 1
        assert isinstance(result.writers[0], QueueHandleAdapterWriter)
        for index in range(1000):
            source.put(f"{index}\n")
        assert wait_until(lambda: result.writers[0].get_messages_processed() == 1000)
    assert path.read_text() == "".join(f"{index}\n" for index in range(1000))


def test_stop_waits_for_internal_queues(tmp_path, queues):
    (source,) = queues(1)
    path = tmp_path / "out.txt"
    result = link(source, path)
    for index in range(20000):
        source.put(f"{index}\n")
    # Give the link time to take every item, then stop without waiting.
    assert wait_until(source.empty)
    result.stop()
    result.close()
    assert path.read_text() == "".join(f"{index}\n" for index in range(20000))


def test_queue_to_path_and_queue(tmp_path, queues):
    source, destination = queues(2)
    path = tmp_path / "out.txt"
    with link(source, [path, destination]) as result:
        assert len(result.writers) == 1
        source.put("both\n")
        assert drain(destination, 1) == ["both\n"]
        assert destination in [entry[0] for entry in result.queue_link._queues.values()]
        assert wait_until(lambda: result.writers[0].get_messages_processed() == 1)
    assert path.read_text() == "both\n"


def test_queue_to_open_file(tmp_path, queues):
    (source,) = queues(1)
    path = tmp_path / "out.bin"
    with open(path, "wb") as file:
        with link(source, file) as result:
            source.put(b"\x00binary\n")
            assert wait_until(lambda: result.writers[0].get_messages_processed() == 1)
        assert not file.closed
    assert path.read_bytes() == b"\x00binary\n"


def test_path_to_path_is_identical(tmp_path):
    source_path = tmp_path / "input.txt"
    write_lines(source_path, 5000)
    with open(source_path, "ab") as file:
        file.write(b"last line without newline")
    destination_path = tmp_path / "copy.txt"
    with link(source_path, destination_path) as result:
        assert result.reader is not None
        assert result.queue_link is not None
        assert len(result.writers) == 1
        assert result.reader.wait(timeout=10)
        count = result.reader.get_messages_processed()
        assert count == 5001
        assert wait_until(lambda: result.writers[0].get_messages_processed() == count)
    assert destination_path.read_bytes() == source_path.read_bytes()


def test_binary_pipe_to_two_paths(tmp_path):
    payload = bytes(range(256)) * 100 + b"\n" + b"\xff\xfe" * 1000
    process = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    first = tmp_path / "first.bin"
    second = tmp_path / "second.bin"
    try:
        with link(process.stdout, [first, second]) as result:
            process.stdin.write(payload)
            process.stdin.close()
            assert result.reader.wait(timeout=10)
            count = result.reader.get_messages_processed()
            assert wait_until(lambda: all(w.get_messages_processed() == count for w in result.writers))
    finally:
        process.stdout.close()
        process.wait(timeout=10)
    assert first.read_bytes() == payload
    assert second.read_bytes() == payload


def test_path_to_path_and_queue(tmp_path, queues):
    source_path = tmp_path / "input.txt"
    lines = write_lines(source_path, 100)
    destination_path = tmp_path / "copy.txt"
    (destination,) = queues(1)
    with link(source_path, [destination_path, destination]) as result:
        assert drain(destination, 100) == lines
        assert wait_until(lambda: result.writers[0].get_messages_processed() == 100)
    assert destination_path.read_text(encoding="utf-8") == "".join(lines)


def test_options_passed_on(tmp_path, queues):
    (source,) = queues(1)
    with link(source, tmp_path / "out.txt", name="named", start_method="spawn", thread_only=True) as result:
        assert result.queue_link.name == "named"
        assert result.queue_link.start_method == "spawn"
        assert result.writers[0].name.startswith("named")


def test_close_leaves_caller_queues_open(queues):
    source, destination = queues(2)
    result = link(source, destination)
    result.close()
    result.close()
    source.put("still open")
    assert source.get(timeout=5) == "still open"
    assert_stays_empty(destination, 0.1)


class ReadOnly:
    def readline(self):
        return ""

    def fileno(self):
        return 0


class WriteOnly:
    def write(self, data):
        return len(data)

    def fileno(self):
        return 1


@pytest.mark.parametrize(
    "bad_source",
    [object(), 42.0, [], WriteOnly(), True, None],
)
def test_unsupported_source(queues, bad_source):
    (destination,) = queues(1)
    with pytest.raises(TypeError):
        link(bad_source, destination)


def test_unsupported_endpoint_message(queues):
    (destination,) = queues(1)
    with pytest.raises(TypeError, match=r"link\(\) source of type object is not supported: pass a queue"):
        link(object(), destination)


@pytest.mark.parametrize("bad_destination", [object(), ReadOnly(), [[]], None])
def test_unsupported_destination(queues, bad_destination):
    (source,) = queues(1)
    with pytest.raises(TypeError):
        link(source, bad_destination)


def test_source_handle_without_readline(queues):
    (destination,) = queues(1)
    with pytest.raises(TypeError, match="readline"):
        link(WriteOnly(), destination)


def test_destination_handle_without_write(queues):
    (source,) = queues(1)
    with pytest.raises(TypeError, match="write"):
        link(source, ReadOnly())


def test_queue_link_as_endpoint(queues):
    source, destination = queues(2)
    with QueueLink() as queue_link:
        with pytest.raises(TypeError, match="QueueLink"):
            link(queue_link, destination)
        with pytest.raises(TypeError, match="QueueLink"):
            link(source, [destination, queue_link])


def test_link_result_as_endpoint(queues):
    source, destination, other = queues(3)
    with link(source, destination) as result:
        with pytest.raises(TypeError, match="LinkResult"):
            link(result, other)
        with pytest.raises(TypeError, match="LinkResult"):
            link(other, result)


@pytest.mark.parametrize("container", [tuple, set, frozenset])
def test_tuple_or_set_destination(queues, container):
    source, first, second = queues(3)
    with pytest.raises(TypeError, match="list"):
        link(source, container([first, second]))


def test_empty_destination_list(queues):
    (source,) = queues(1)
    with pytest.raises(ValueError, match="empty"):
        link(source, [])


def test_same_destination_twice(tmp_path, queues):
    source, destination = queues(2)
    with pytest.raises(ValueError, match="more than once"):
        link(source, [destination, destination])
    with pytest.raises(ValueError, match="more than once"):
        link(source, [tmp_path / "out.txt", str(tmp_path / "out.txt")])


def test_source_as_destination(queues):
    (source,) = queues(1)
    with pytest.raises(ValueError, match="also the source"):
        link(source, [source])


def test_connection_destination_rejected(queues):
    (source,) = queues(1)
    receiver, sender = multiprocessing.Pipe(duplex=False)
    try:
        with pytest.raises(TypeError, match="Connection cannot be a link\\(\\) destination"):
            link(source, sender)
        with pytest.raises(TypeError, match="Connection cannot be a link\\(\\) destination"):
            link(source, [queues(1)[0], sender])
    finally:
        receiver.close()
        sender.close()


def test_connection_source_to_path_rejected(tmp_path, queues):
    (destination,) = queues(1)
    receiver, sender = multiprocessing.Pipe(duplex=False)
    try:
        with pytest.raises(TypeError, match="only be linked to queues"):
            link(receiver, tmp_path / "out.txt")
        with pytest.raises(TypeError, match="only be linked to queues"):
            link(receiver, [destination, os.devnull])
        with open(os.devnull, "w") as handle:
            with pytest.raises(TypeError, match="only be linked to queues"):
                link(receiver, handle)
        assert destination.empty()
    finally:
        receiver.close()
        sender.close()


def test_string_io_destination_rejected(queues):
    (source,) = queues(1)
    with pytest.raises(TypeError, match="file descriptor"):
        link(source, io.StringIO())


def test_failed_link_frees_components(tmp_path, queues):
    (source,) = queues(1)
    missing = tmp_path / "missing" / "out.txt"
    with pytest.raises(OSError):
        link(source, [tmp_path / "good.txt", missing])
    # The source was registered on the failed link; it must be free again.
    (destination,) = queues(1)
    with link(source, destination):
        source.put("free")
        assert drain(destination, 1) == ["free"]


def test_invalid_options(queues):
    source, destination = queues(2)
    with pytest.raises(ValueError, match="start_method"):
        link(source, destination, start_method="threads")
    with pytest.raises(TypeError, match="wrap_when"):
        link(os.devnull, destination, wrap_when="always")
    with pytest.raises(ValueError, match="wrap_threshold"):
        link(os.devnull, destination, wrap_when=WRAP_WHEN.AUTO, wrap_threshold=-1)

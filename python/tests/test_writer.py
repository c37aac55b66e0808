"""Tests of QueueHandleAdapterWriter on real files, paths and pipes."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import threading
import time

import pytest

import queuelink
from queuelink import ClosedError, EngineIOError, HandleAlreadySet, HandleNotSet, QueueHandleAdapterWriter

from _helpers import python_command, wait_until


@pytest.fixture
def source():
    with queuelink.Queue() as queue_obj:
        yield queue_obj


def write_all(writer: QueueHandleAdapterWriter, items: list, source) -> None:
    for item in items:
        source.put(item)
    assert wait_until(lambda: writer.get_messages_processed() == len(items)), writer.get_messages_processed()


def test_path_receives_every_payload(tmp_path, source):
    path = tmp_path / "out.txt"
    items = ["text é\n", b"bytes \x00\xff\n", "", "no newline"]
    with QueueHandleAdapterWriter(source, handle=path) as writer:
        write_all(writer, items, source)
    assert path.read_bytes() == "text é\n".encode() + b"bytes \x00\xff\nno newline"
    assert writer.get_messages_processed() == 4


def test_path_forms(tmp_path, source):
    for index, make_handle in enumerate((str, lambda path: path, os.fsencode)):
        path = tmp_path / f"out-{index}.txt"
        with QueueHandleAdapterWriter(source, handle=make_handle(path)) as writer:
            write_all(writer, [f"{index}\n"], source)
        assert path.read_text() == f"{index}\n"


def test_path_truncated(tmp_path, source):
    path = tmp_path / "out.txt"
    path.write_text("old content that is longer\n")
    with QueueHandleAdapterWriter(source, handle=path) as writer:
        write_all(writer, ["new\n"], source)
    assert path.read_text() == "new\n"


def test_pickled_item_written_as_pickle(tmp_path, source):
    path = tmp_path / "out.bin"
    item = {"key": [1, 2, 3]}
    with QueueHandleAdapterWriter(source, handle=path) as writer:
        write_all(writer, [item], source)
    assert pickle.loads(path.read_bytes()) == item


def test_open_binary_file_flushed_first(tmp_path, source):
    path = tmp_path / "out.bin"
    with open(path, "wb") as file:
        file.write(b"header from python\n")
        with QueueHandleAdapterWriter(source, handle=file) as writer:
            write_all(writer, [b"from engine\n", "text\n"], source)
        assert not file.closed
        file.write(b"")
    assert path.read_bytes() == b"header from python\nfrom engine\ntext\n"


def test_open_text_file(tmp_path, source):
    path = tmp_path / "out.txt"
    with open(path, "w", encoding="utf-8") as file:
        file.write("first\n")
        with QueueHandleAdapterWriter(source, handle=file) as writer:
            write_all(writer, ["zweite Zeile ü\n"], source)
    assert path.read_text(encoding="utf-8") == "first\nzweite Zeile ü\n"


def test_int_fd(tmp_path, source):
    path = tmp_path / "out.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with QueueHandleAdapterWriter(source, handle=fd) as writer:
            write_all(writer, ["a\n", "b\n"], source)
        # The writer never closes the caller's descriptor.
        os.write(fd, b"c\n")
    finally:
        os.close(fd)
    assert path.read_text() == "a\nb\nc\n"


def test_pipe_to_subprocess(tmp_path, source):
    output = tmp_path / "cat-output.txt"
    with open(output, "wb") as output_file:
        process = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=output_file)
    try:
        with QueueHandleAdapterWriter(source, handle=process.stdin) as writer:
            write_all(writer, [f"{index}\n" for index in range(10000)], source)
        process.stdin.close()
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert output.read_text() == "".join(f"{index}\n" for index in range(10000))


def test_flushes_while_running(tmp_path, source):
    path = tmp_path / "out.txt"
    with QueueHandleAdapterWriter(source, handle=path) as writer:
        source.put("visible before close\n")
        # The writer flushes when its queue runs empty, and at least once a second.
        assert wait_until(lambda: path.exists() and path.read_text() == "visible before close\n", timeout=3)
        assert writer.is_alive()


def test_task_done_lets_join_return(tmp_path, source):
    path = tmp_path / "out.txt"
    with QueueHandleAdapterWriter(source, handle=path):
        for index in range(100):
            source.put(f"{index}\n")
        finished = threading.Event()
        thread = threading.Thread(target=lambda: (source.join(), finished.set()))
        thread.start()
        thread.join(timeout=10)
        assert finished.is_set()
    assert len(path.read_text().splitlines()) == 100


def test_is_drained(tmp_path, source):
    writer = QueueHandleAdapterWriter(source)
    try:
        assert not writer.is_drained()
        assert not writer.is_alive()
        writer.set_handle(tmp_path / "out.txt")
        write_all(writer, ["a\n"], source)
        assert wait_until(writer.is_drained)
    finally:
        writer.close()


def test_missing_directory_raises_with_path(tmp_path, source):
    path = tmp_path / "missing" / "out.txt"
    with pytest.raises(EngineIOError) as caught:
        QueueHandleAdapterWriter(source, handle=path)
    assert str(path) in str(caught.value)


class ReadOnly:
    def readline(self):
        return ""

    def fileno(self):
        return 0


@pytest.mark.parametrize("handle", [object(), ReadOnly(), 1.0, False])
def test_handle_without_write_raises_type_error(source, handle):
    with pytest.raises(TypeError):
        QueueHandleAdapterWriter(source, handle=handle)


@pytest.mark.parametrize("handle", [io.StringIO(), io.BytesIO()])
def test_handle_without_fd_raises_type_error(source, handle):
    with pytest.raises(TypeError, match="file descriptor"):
        QueueHandleAdapterWriter(source, handle=handle)


def test_closed_file_raises_value_error(tmp_path, source):
    file = open(tmp_path / "out.txt", "wb")
    file.close()
    with pytest.raises(ValueError, match="closed"):
        QueueHandleAdapterWriter(source, handle=file)


def test_non_utf8_text_handle_rejected(tmp_path, source):
    with open(tmp_path / "out.txt", "w", encoding="utf-16") as file:
        with pytest.raises(ValueError, match="UTF-8"):
            QueueHandleAdapterWriter(source, handle=file)


def test_set_handle_twice(tmp_path, source):
    writer = QueueHandleAdapterWriter(source)
    try:
        with pytest.raises(HandleNotSet):
            writer.wait(timeout=0)
        writer.set_handle(tmp_path / "first.txt")
        with pytest.raises(HandleAlreadySet):
            writer.set_handle(tmp_path / "second.txt")
    finally:
        writer.close()


def test_ends_when_queue_shut_down(tmp_path, source):
    path = tmp_path / "out.txt"
    with QueueHandleAdapterWriter(source, handle=path) as writer:
        source.put("last\n")
        source.shutdown()
        assert writer.wait(timeout=10)
        assert not writer.is_alive()
        assert writer.get_messages_processed() == 1
    assert path.read_text() == "last\n"


def test_stop_leaves_queued_messages(tmp_path, source):
    path = tmp_path / "out.txt"
    with QueueHandleAdapterWriter(source, handle=path) as writer:
        write_all(writer, ["a\n"], source)
        writer.stop()
        assert not writer.is_alive()
        source.put("after stop\n")
        time.sleep(0.2)
        assert source.qsize() == 1
        assert writer.get_messages_processed() == 1
    assert path.read_text() == "a\n"


def test_write_error_reported_by_wait(source):
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        with QueueHandleAdapterWriter(source, handle=write_end) as writer:
            source.put("nobody reads this\n")
            with pytest.raises(EngineIOError):
                writer.wait(timeout=10)
            assert not writer.is_alive()
    finally:
        os.close(write_end)


def test_use_after_close(tmp_path, source):
    writer = QueueHandleAdapterWriter(source, handle=tmp_path / "out.txt")
    writer.close()
    writer.close()
    assert not writer.is_alive()
    with pytest.raises(ClosedError):
        writer.set_handle(tmp_path / "other.txt")


def test_large_volume_to_file_from_threads(tmp_path, source):
    path = tmp_path / "out.txt"

    def produce(number):
        for index in range(5000):
            source.put(f"{number} {index}\n")

    with QueueHandleAdapterWriter(source, handle=path) as writer:
        threads = [threading.Thread(target=produce, args=(number,)) for number in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert wait_until(lambda: writer.get_messages_processed() == 20000, timeout=30)
    lines = path.read_text().splitlines()
    assert sorted(lines) == sorted(f"{number} {index}" for number in range(4) for index in range(5000))


def test_writer_to_child_stdin_in_python(source):
    process = subprocess.Popen(
        python_command("import sys; data = sys.stdin.buffer.read(); print(len(data), data.count(b'\\n'))"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=False,
    )
    try:
        with QueueHandleAdapterWriter(source, handle=process.stdin) as writer:
            write_all(writer, [b"x" * 99 + b"\n"] * 1000, source)
        process.stdin.close()
        output = process.stdout.read()
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert output.split() == [b"100000", b"1000"]


def test_close_returns_unwritten_items_to_foreign_queue():
    import queue

    source = queue.Queue()
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        writer = QueueHandleAdapterWriter(source, handle=write_end)
        source.put("fails\n")
        # The read end is closed, so the write fails and the writer ends.
        assert wait_until(lambda: not writer.is_alive())
        items = [f"{index}\n" for index in range(5)]
        for item in items:
            source.put(item)
        # The bridge still moves the items into its internal queue.
        assert wait_until(source.empty)
        writer.close()
        assert [source.get(timeout=5) for _ in items] == items
        assert source.empty()
    finally:
        os.close(write_end)

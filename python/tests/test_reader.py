"""Tests of QueueHandleAdapterReader on real pipes, subprocesses and files."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import threading
import time

import pytest

import queuelink
from queuelink import (
    WRAP_WHEN,
    ClosedError,
    EngineIOError,
    HandleAlreadySet,
    HandleNotSet,
    QueueHandleAdapterReader,
)

from _helpers import CHILD_ENV, assert_stays_empty, drain, python_command, wait_until

# A child that writes ASCII lines, multi-byte lines and a last line without a
# newline, flushing between writes so the reader sees several reads.
CHILD_OUTPUT = (
    "import sys, time\n"
    "out = sys.stdout.buffer\n"
    "out.write(b'first line\\n'); out.flush(); time.sleep(0.05)\n"
    "out.write('caf\\u00e9 \\u20ac \\U0001F600\\n'.encode()); out.flush()\n"
    "out.write(b'\\x00nul inside\\n')\n"
    "out.write(b'no newline at end')\n"
)
CHILD_LINES = [
    "first line\n".encode(),
    "café € 😀\n".encode(),
    b"\x00nul inside\n",
    b"no newline at end",
]


@pytest.fixture
def target():
    with queuelink.Queue() as queue_obj:
        yield queue_obj


def run_child(code: str, text: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        python_command(code),
        stdout=subprocess.PIPE,
        text=text,
        encoding="utf-8" if text else None,
    )


def finish(process: subprocess.Popen) -> None:
    process.stdout.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_binary_pipe_from_subprocess(target):
    process = run_child(CHILD_OUTPUT)
    try:
        with QueueHandleAdapterReader(target, handle=process.stdout) as reader:
            assert reader.wait(timeout=10)
            assert drain(target, 4) == CHILD_LINES
            assert reader.get_messages_processed() == 4
            assert not reader.is_alive()
            assert reader.is_drained()
    finally:
        finish(process)
    assert_stays_empty(target, 0.1)


def test_text_pipe_from_subprocess(target):
    process = run_child(CHILD_OUTPUT, text=True)
    try:
        with QueueHandleAdapterReader(target, handle=process.stdout) as reader:
            assert reader.wait(timeout=10)
            lines = drain(target, 4)
    finally:
        finish(process)
    assert lines == [line.decode("utf-8") for line in CHILD_LINES]
    assert all(type(line) is str for line in lines)


def test_multibyte_characters_never_split(target):
    # Long lines of 4-byte and 2-byte characters cross every read boundary.
    code = (
        "import sys\n"
        "for index in range(200):\n"
        "    sys.stdout.write(('\\U0001F600é' * (1000 + index)) + '\\n')\n"
    )
    process = run_child(code, text=True)
    try:
        with QueueHandleAdapterReader(target, handle=process.stdout) as reader:
            assert reader.wait(timeout=30)
            lines = drain(target, 200, timeout=30)
    finally:
        finish(process)
    for index, line in enumerate(lines):
        assert line == "\U0001F600é" * (1000 + index) + "\n", index


def test_int_fd_gives_bytes(target):
    read_end, write_end = os.pipe()
    try:
        with QueueHandleAdapterReader(target, handle=read_end) as reader:
            os.write(write_end, b"one\ntwo\n")
            assert drain(target, 2) == [b"one\n", b"two\n"]
            assert reader.is_alive()
            assert not reader.is_drained()
            os.write(write_end, b"partial")
            os.close(write_end)
            write_end = -1
            assert reader.wait(timeout=10)
            assert drain(target, 1) == [b"partial"]
            assert reader.get_messages_processed() == 3
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def test_partial_line_delivered_before_eof(target):
    read_end, write_end = os.pipe()
    try:
        with QueueHandleAdapterReader(target, handle=read_end, partial_line_timeout=0.1):
            os.write(write_end, b"prompt> ")
            # The prompt has no newline; it must not wait for more input.
            assert drain(target, 1, timeout=3) == [b"prompt> "]
            os.write(write_end, b"answer\nnext ")
            assert drain(target, 2, timeout=3) == [b"answer\n", b"next "]
    finally:
        os.close(read_end)
        os.close(write_end)


def test_partial_line_waits_by_default(target):
    read_end, write_end = os.pipe()
    try:
        with QueueHandleAdapterReader(target, handle=read_end):
            os.write(write_end, b"prompt> ")
            assert_stays_empty(target, 0.3)
            os.write(write_end, b"rest\n")
            assert drain(target, 1, timeout=3) == [b"prompt> rest\n"]
    finally:
        os.close(read_end)
        os.close(write_end)


@pytest.mark.parametrize("timeout", [0, -1, "1", True])
def test_partial_line_timeout_checked(target, timeout):
    with pytest.raises(ValueError, match="partial_line_timeout"):
        QueueHandleAdapterReader(target, partial_line_timeout=timeout)


def test_caller_may_close_fd_after_start(target):
    read_end, write_end = os.pipe()
    reader = QueueHandleAdapterReader(target, handle=read_end)
    os.close(read_end)
    try:
        os.write(write_end, b"still read\n")
        os.close(write_end)
        assert reader.wait(timeout=10)
        assert drain(target, 1) == [b"still read\n"]
    finally:
        reader.close()


def test_path_gives_text_lines(tmp_path, target):
    path = tmp_path / "input.txt"
    lines = [f"line {index} é\n" for index in range(1000)] + ["last"]
    path.write_text("".join(lines), encoding="utf-8")
    for handle in (str(path), path, os.fsencode(path)):
        with QueueHandleAdapterReader(target, handle=handle) as reader:
            assert reader.wait(timeout=10)
            assert drain(target, len(lines)) == lines
            assert reader.get_messages_processed() == len(lines)
            assert reader.is_drained()


def test_path_with_invalid_utf8_round_trips(tmp_path, target):
    path = tmp_path / "latin1.txt"
    raw = b"caf\xe9\n\xff\xfe\n"
    path.write_bytes(raw)
    with QueueHandleAdapterReader(target, handle=path) as reader:
        assert reader.wait(timeout=10)
        lines = drain(target, 2)
    assert "".join(lines).encode("utf-8", "surrogateescape") == raw


def test_open_binary_file(tmp_path, target):
    path = tmp_path / "input.bin"
    path.write_bytes(b"a\x00\nb\r\nc")
    with open(path, "rb") as file, QueueHandleAdapterReader(target, handle=file) as reader:
        assert reader.wait(timeout=10)
        assert drain(target, 3) == [b"a\x00\n", b"b\r\n", b"c"]
        assert not file.closed


def test_open_text_file(tmp_path, target):
    path = tmp_path / "input.txt"
    path.write_text("ä\nb\n", encoding="utf-8")
    with open(path, encoding="utf-8") as file, QueueHandleAdapterReader(target, handle=file) as reader:
        assert reader.wait(timeout=10)
        assert drain(target, 2) == ["ä\n", "b\n"]


def test_empty_file_ends_without_messages(tmp_path, target):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with QueueHandleAdapterReader(target, handle=path) as reader:
        assert reader.wait(timeout=10)
        assert reader.get_messages_processed() == 0
    assert_stays_empty(target, 0.1)


def test_large_subprocess_output(target):
    process = subprocess.Popen(["seq", "1", "200000"], stdout=subprocess.PIPE)
    try:
        with QueueHandleAdapterReader(target, handle=process.stdout) as reader:
            assert reader.wait(timeout=60)
            assert reader.get_messages_processed() == 200000
            items = drain(target, 200000, timeout=60)
    finally:
        finish(process)
    assert items[0] == b"1\n"
    assert items[-1] == b"200000\n"
    assert items == [f"{index}\n".encode() for index in range(1, 200001)]


def test_missing_path_raises_with_path(tmp_path, target):
    missing = tmp_path / "missing.txt"
    with pytest.raises(EngineIOError) as caught:
        QueueHandleAdapterReader(target, handle=missing)
    assert isinstance(caught.value, OSError)
    assert str(missing) in str(caught.value)


def test_closed_fd_raises(target):
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(OSError):
        QueueHandleAdapterReader(target, handle=read_end)


def test_negative_fd_raises_value_error(target):
    with pytest.raises(ValueError):
        QueueHandleAdapterReader(target, handle=-1)


def test_set_handle_later_and_twice(tmp_path, target):
    path = tmp_path / "input.txt"
    path.write_text("x\n")
    reader = QueueHandleAdapterReader(target)
    try:
        assert not reader.is_alive()
        assert not reader.is_drained()
        assert reader.get_messages_processed() == 0
        with pytest.raises(HandleNotSet) as caught:
            reader.wait(timeout=0)
        assert caught.value.errno == 6
        reader.set_handle(path)
        assert reader.wait(timeout=10)
        with pytest.raises(HandleAlreadySet) as caught:
            reader.set_handle(path)
        assert caught.value.errno == 5
        assert drain(target, 1) == ["x\n"]
    finally:
        reader.close()


class WriteOnly:
    def write(self, data):
        return len(data)

    def fileno(self):
        return 1


@pytest.mark.parametrize("handle", [object(), WriteOnly(), 3.5, True, ["list"]])
def test_handle_without_readline_raises_type_error(target, handle):
    with pytest.raises(TypeError):
        QueueHandleAdapterReader(target, handle=handle)


def test_string_io_raises_type_error(target):
    with pytest.raises(TypeError, match="file descriptor"):
        QueueHandleAdapterReader(target, handle=io.StringIO("a\n"))


def test_closed_file_raises_value_error(tmp_path, target):
    path = tmp_path / "input.txt"
    path.write_text("a\n")
    file = open(path, "rb")
    file.close()
    with pytest.raises(ValueError, match="closed"):
        QueueHandleAdapterReader(target, handle=file)


def test_non_utf8_text_handle_rejected(tmp_path, target):
    path = tmp_path / "input.txt"
    path.write_text("a\n", encoding="latin-1")
    with open(path, encoding="latin-1") as file:
        with pytest.raises(ValueError, match="UTF-8"):
            QueueHandleAdapterReader(target, handle=file)


def test_write_only_connection_rejected(target):
    import multiprocessing

    receiver, sender = multiprocessing.Pipe(duplex=False)
    try:
        with pytest.raises(ValueError, match="cannot receive"):
            QueueHandleAdapterReader(target, handle=sender)
    finally:
        receiver.close()
        sender.close()


def test_closed_connection_rejected(target):
    import multiprocessing

    receiver, sender = multiprocessing.Pipe(duplex=False)
    receiver.close()
    sender.close()
    with pytest.raises(ValueError, match="closed"):
        QueueHandleAdapterReader(target, handle=receiver)


@pytest.mark.parametrize("not_a_queue", [[], object(), "queue"])
def test_unsupported_queue_rejected(not_a_queue):
    with pytest.raises(TypeError, match="queuelink queue"):
        QueueHandleAdapterReader(not_a_queue)


def test_wrap_options(target):
    for wrap_when in WRAP_WHEN:
        QueueHandleAdapterReader(target, wrap_when=wrap_when).close()
    QueueHandleAdapterReader(target, wrap_when=None, wrap_threshold=0).close()
    with pytest.raises(TypeError, match="wrap_when"):
        QueueHandleAdapterReader(target, wrap_when="never")
    with pytest.raises(ValueError, match="wrap_threshold"):
        QueueHandleAdapterReader(target, wrap_when=WRAP_WHEN.AUTO, wrap_threshold=-1)


def test_spill_dir_must_exist(tmp_path, target):
    with pytest.raises(ValueError, match="spill_dir"):
        QueueHandleAdapterReader(target, spill_dir=tmp_path / "missing")


def test_start_method_checked(target):
    with pytest.raises(ValueError, match="start_method"):
        QueueHandleAdapterReader(target, start_method="threads")


def test_close_stops_endless_pipe(target):
    process = run_child("import sys, time\nprint('hello', flush=True)\ntime.sleep(60)\n")
    try:
        reader = QueueHandleAdapterReader(target, handle=process.stdout)
        assert drain(target, 1) == [b"hello\n"]
        assert reader.is_alive()
        started = time.monotonic()
        reader.close()
        assert time.monotonic() - started < 5
        assert not reader.is_alive()
        assert reader.get_messages_processed() == 1
        assert reader.wait(timeout=0)
    finally:
        process.kill()
        finish(process)


def test_stop_keeps_count(target):
    read_end, write_end = os.pipe()
    try:
        with QueueHandleAdapterReader(target, handle=read_end) as reader:
            os.write(write_end, b"a\nb\n")
            drain(target, 2)
            reader.stop()
            assert not reader.is_alive()
            assert reader.get_messages_processed() == 2
            assert reader.wait(timeout=1)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_wait_timeout_returns_false(target):
    read_end, write_end = os.pipe()
    try:
        with QueueHandleAdapterReader(target, handle=read_end) as reader:
            started = time.monotonic()
            assert reader.wait(timeout=0.2) is False
            assert time.monotonic() - started >= 0.15
            with pytest.raises(ValueError):
                reader.wait(timeout=-1)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_reader_ends_when_queue_closed():
    queue_obj = queuelink.Queue(maxsize=1)
    read_end, write_end = os.pipe()
    try:
        reader = QueueHandleAdapterReader(queue_obj, handle=read_end)
        os.write(write_end, b"1\n2\n3\n")
        assert wait_until(queue_obj.full)
        queue_obj.shutdown()
        with pytest.raises(ClosedError):
            reader.wait(timeout=10)
        assert not reader.is_alive()
        reader.close()
    finally:
        os.close(read_end)
        os.close(write_end)
        queue_obj.close()


def test_use_after_close(tmp_path, target):
    reader = QueueHandleAdapterReader(target)
    reader.close()
    with pytest.raises(ClosedError):
        reader.set_handle(tmp_path)
    assert not reader.is_alive()
    assert reader.wait(timeout=0)


def test_logging_handler_receives_records(tmp_path, target):
    path = tmp_path / "input.txt"
    path.write_text("a\nb\n")
    records = []

    class ListHandler(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    reader = QueueHandleAdapterReader(target, name="logged")
    handler = ListHandler(level=logging.DEBUG)
    reader.add_logging_handler(handler)
    logger = logging.getLogger("queuelink.QueueHandleAdapterReader.logged")
    assert handler in logger.handlers
    previous_level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        reader.set_handle(path)
        assert reader.wait(timeout=10)
        reader.close()
    finally:
        logger.setLevel(previous_level)
        logger.removeHandler(handler)
    assert any("started" in message for message in records)
    assert any("closed after 2 messages" in message for message in records)


def test_nothing_printed():
    code = (
        "import logging, queuelink\n"
        "q = queuelink.Queue()\n"
        "r = queuelink.QueueHandleAdapterReader(q, handle='/dev/null')\n"
        "r.wait(5)\n"
        "r.close()\n"
        "logging.getLogger('queuelink').warning('not shown without a handler')\n"
    )
    result = subprocess.run(python_command(code), capture_output=True, text=True, timeout=60, env=CHILD_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""


def test_reader_from_thread_writes(target):
    read_end, write_end = os.pipe()

    def write_lines():
        with os.fdopen(write_end, "wb") as file:
            for index in range(5000):
                file.write(f"{index}\n".encode())

    try:
        with QueueHandleAdapterReader(target, handle=read_end) as reader:
            thread = threading.Thread(target=write_lines)
            thread.start()
            thread.join(timeout=30)
            assert reader.wait(timeout=30)
            assert drain(target, 5000) == [f"{index}\n".encode() for index in range(5000)]
    finally:
        os.close(read_end)


@pytest.mark.skipif(sys.platform != "linux", reason="uses /proc")
def test_reader_does_not_leak_fds(tmp_path, target):
    path = tmp_path / "input.txt"
    path.write_text("a\n")

    def open_fds():
        return len(os.listdir("/proc/self/fd"))

    before = open_fds()
    for _ in range(20):
        with QueueHandleAdapterReader(target, handle=path) as reader:
            reader.wait(timeout=10)
        with open(path, "rb") as file, QueueHandleAdapterReader(target, handle=file) as reader:
            reader.wait(timeout=10)
    drain(target, 40)
    assert open_fds() <= before + 2

"""Tests of the public names of the package and of its helpers: safe_get,
Timer, writeout, the exceptions and queue_handle_adapter()."""

from __future__ import annotations

import io
import multiprocessing
import multiprocessing.managers
import os
import queue
import threading
import time
import typing

import pytest

import queuelink
from queuelink import (
    QueueHandleAdapterReader,
    QueueHandleAdapterWriter,
    Timer,
    safe_get,
    writeout,
)
from queuelink.common import PROC_START_METHODS, QUEUE_TYPE_LIST, UNION_SUPPORTED_QUEUES

from _helpers import drain, wait_until

PUBLIC_NAMES = [
    "link",
    "QueueLink",
    "QueueHandleAdapterReader",
    "QueueHandleAdapterWriter",
    "DIRECTION",
    "WRAP_WHEN",
    "ContentWrapper",
    "safe_get",
    "Timer",
    "writeout",
    "UNION_SUPPORTED_QUEUES",
    "ProcessNotStarted",
    "HandleAlreadySet",
    "HandleNotSet",
]


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_public_name_exported(name):
    assert hasattr(queuelink, name)
    assert name in queuelink.__all__


def test_exceptions_keep_errno():
    from queuelink import exceptionhandler

    assert exceptionhandler.ProcessNotStarted is queuelink.ProcessNotStarted
    assert queuelink.ProcessNotStarted.errno == 4
    assert queuelink.HandleAlreadySet.errno == 5
    assert queuelink.HandleNotSet.errno == 6
    assert queuelink.HandleAlreadySet("message").errno == 5


def test_wrap_when_members():
    assert {member.name for member in queuelink.WRAP_WHEN} == {"AUTO", "ALWAYS", "NEVER"}


def test_common_constants():
    assert PROC_START_METHODS == ["fork", "forkserver", "spawn"]
    assert "queue.Queue" in QUEUE_TYPE_LIST
    assert "multiprocessing.Manager.Queue" in QUEUE_TYPE_LIST
    assert len(set(QUEUE_TYPE_LIST)) == len(QUEUE_TYPE_LIST)


def test_union_covers_supported_queues():
    members = typing.get_args(UNION_SUPPORTED_QUEUES)
    assert queue.Queue in members
    assert multiprocessing.managers.BaseProxy in members
    assert isinstance(queue.SimpleQueue(), UNION_SUPPORTED_QUEUES)
    assert isinstance(multiprocessing.SimpleQueue(), UNION_SUPPORTED_QUEUES)
    assert not isinstance([], UNION_SUPPORTED_QUEUES)


# ---------------------------------------------------------------------------
# safe_get
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manager():
    with multiprocessing.Manager() as started:
        yield started


def _queue_of(kind, manager):
    return {
        "queue.Queue": queue.Queue,
        "queue.SimpleQueue": queue.SimpleQueue,
        "multiprocessing.Queue": multiprocessing.Queue,
        "multiprocessing.SimpleQueue": multiprocessing.SimpleQueue,
        "multiprocessing.Manager.Queue": lambda: manager.Queue(),
        "queuelink.SimpleQueue": queuelink.SimpleQueue,
    }[kind]()


SAFE_GET_KINDS = [
    "queue.Queue",
    "queue.SimpleQueue",
    "multiprocessing.Queue",
    "multiprocessing.SimpleQueue",
    "multiprocessing.Manager.Queue",
    "queuelink.SimpleQueue",
]


@pytest.mark.parametrize("kind", SAFE_GET_KINDS)
def test_safe_get_returns_item_and_times_out(kind, manager):
    queue_obj = _queue_of(kind, manager)
    queue_obj.put("item")
    assert safe_get(queue_obj, timeout=5) == "item"

    started = time.monotonic()
    with pytest.raises(queue.Empty):
        safe_get(queue_obj, timeout=0.2)
    elapsed = time.monotonic() - started
    assert 0.15 <= elapsed < 2

    with pytest.raises(queue.Empty):
        safe_get(queue_obj, block=False)


@pytest.mark.parametrize("kind", ["queue.Queue", "multiprocessing.SimpleQueue"])
def test_safe_get_waits_for_late_item(kind, manager):
    queue_obj = _queue_of(kind, manager)
    timer = threading.Timer(0.1, queue_obj.put, args=("late",))
    timer.start()
    try:
        assert safe_get(queue_obj, timeout=None) == "late"
    finally:
        timer.cancel()


@pytest.mark.parametrize("kind", ["queue.Queue", "multiprocessing.SimpleQueue", "queuelink.SimpleQueue"])
def test_safe_get_stops_on_event(kind, manager):
    queue_obj = _queue_of(kind, manager)
    stop_event = threading.Event()
    threading.Timer(0.1, stop_event.set).start()
    started = time.monotonic()
    with pytest.raises(queue.Empty):
        safe_get(queue_obj, timeout=None, stop_event=stop_event)
    assert time.monotonic() - started < 2


def test_safe_get_closed_pipes_raise_empty():
    simple = multiprocessing.SimpleQueue()
    simple.close()
    with pytest.raises(queue.Empty):
        safe_get(simple, timeout=1)

    mp_queue = multiprocessing.Queue()
    mp_queue.close()
    with pytest.raises(queue.Empty):
        safe_get(mp_queue, timeout=1)

    engine_queue = queuelink.Queue()
    engine_queue.shutdown()
    with pytest.raises(queue.Empty):
        safe_get(engine_queue, timeout=None)
    engine_queue.close()


def test_safe_get_checks_arguments():
    with pytest.raises(ValueError, match="cycle_time"):
        safe_get(queue.Queue(), cycle_time=0)
    with pytest.raises(ValueError, match="timeout"):
        safe_get(queue.Queue(), timeout=-1)


# ---------------------------------------------------------------------------
# Timer
# ---------------------------------------------------------------------------


def test_timer_laps():
    timer = Timer()
    time.sleep(0.05)
    lap = timer.lap()
    lap_ns = timer.lap_ns()
    assert 0.04 <= lap < 5
    assert lap_ns >= int(lap * 1e9)
    assert isinstance(lap_ns, int)


def test_timer_interval_true_once_per_interval():
    timer = Timer(interval=0.1)
    assert timer.interval() is False
    time.sleep(0.12)
    assert timer.interval() is True
    assert timer.interval() is False
    time.sleep(0.35)
    # Several intervals passed, but the pause counts once.
    assert timer.interval() is True
    assert timer.interval() is False


def test_timer_now():
    assert abs(Timer.now() - time.time()) < 1
    assert abs(Timer().now_micro() - time.time() * 1e6) < 1e6
    assert isinstance(Timer.now_micro(), int)
    with pytest.raises(ValueError):
        Timer(interval=0)


# ---------------------------------------------------------------------------
# writeout
# ---------------------------------------------------------------------------


class CountingBytesIO(io.BytesIO):
    def __init__(self):
        super().__init__()
        self.flushes = 0

    def flush(self):
        self.flushes += 1
        super().flush()


def test_writeout_binary_pipe():
    pipe = CountingBytesIO()
    write = writeout(pipe, "out: ")
    write("é line\n")
    write(b"bytes line\n")
    assert pipe.getvalue() == "out: é line\nout: bytes line\n".encode("utf-8")
    assert pipe.flushes == 2


def test_writeout_text_pipe_with_buffer_uses_utf8():
    raw = io.BytesIO()
    pipe = io.TextIOWrapper(raw, encoding="latin-1")
    write = writeout(pipe, "[x] ")
    write("€\n")
    assert raw.getvalue() == "[x] €\n".encode("utf-8")


def test_writeout_string_io():
    pipe = io.StringIO()
    writeout(pipe, b"> ")(queuelink.ContentWrapper("wrapped\n"))
    assert pipe.getvalue() == "> wrapped\n"


def test_writeout_to_os_pipe():
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as pipe:
        writeout(pipe, "p ")("line\n")
        # Flushed: the bytes are readable before the file closes.
        assert os.read(read_end, 100) == b"p line\n"
    os.close(read_end)


# ---------------------------------------------------------------------------
# queue_handle_adapter
# ---------------------------------------------------------------------------


def test_reader_queue_handle_adapter_blocks_until_end(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text("a\nb\nc\n")
    counter = multiprocessing.Value("i", 0)
    with queuelink.Queue() as target:
        count = QueueHandleAdapterReader.queue_handle_adapter(
            name="static",
            handle=path,
            queue=target,
            queue_lock=None,
            stop_event=threading.Event(),
            messages_processed=counter,
            trusted=False,
            wrap_when=queuelink.WRAP_WHEN.NEVER,
            wrap_threshold=None,
        )
        assert count == 3
        assert counter.value == 3
        assert drain(target, 3) == ["a\n", "b\n", "c\n"]


def test_reader_queue_handle_adapter_stops_on_event():
    read_end, write_end = os.pipe()
    stop_event = threading.Event()
    try:
        with queuelink.Queue() as target:
            os.write(write_end, b"one\n")
            threading.Timer(0.2, stop_event.set).start()
            count = QueueHandleAdapterReader.queue_handle_adapter(
                name="stopped", handle=read_end, queue=target, stop_event=stop_event
            )
            assert count == 1
            assert drain(target, 1) == [b"one\n"]
    finally:
        os.close(read_end)
        os.close(write_end)


def test_writer_queue_handle_adapter_in_thread(tmp_path):
    path = tmp_path / "out.txt"
    source = queue.Queue()
    stop_event = threading.Event()
    counter = multiprocessing.Value("i", 0)
    results = []
    thread = threading.Thread(
        target=lambda: results.append(
            QueueHandleAdapterWriter.queue_handle_adapter(
                name="static",
                handle=path,
                queue=source,
                stop_event=stop_event,
                messages_processed=counter,
                trusted=False,
            )
        )
    )
    thread.start()
    try:
        for index in range(5):
            source.put(f"{index}\n")
        assert wait_until(lambda: counter.value == 5)
    finally:
        stop_event.set()
        thread.join(timeout=30)
    assert results == [5]
    assert path.read_text() == "".join(f"{index}\n" for index in range(5))

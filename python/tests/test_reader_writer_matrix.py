"""Readers and writers against every kind of queue.

Readers: a subprocess's stdout in text and binary mode, and a Connection
read trusted and untrusted, each with every WRAP_WHEN, into queuelink
queues, queue module queues, multiprocessing queues of each start method
and a Manager() queue. Writers: a path, and open files in text and binary
mode, fed from the same kinds of queue. Spilled lines go to a directory of
each test, which must be empty once the consumer has dropped its items.
"""

from __future__ import annotations

import gc
import glob
import multiprocessing
import multiprocessing.managers
import multiprocessing.queues
import os
import queue
import subprocess
import threading
import time
from typing import Any

import pytest

import queuelink
from queuelink import WRAP_WHEN, ContentWrapper, QueueHandleAdapterReader, QueueHandleAdapterWriter

from _helpers import wait_until

START_METHODS = ["fork", "forkserver", "spawn"]
QUEUE_KINDS = (
    ["queuelink.Queue", "queue.Queue", "queue.SimpleQueue"]
    + [f"{method}.{name}" for method in START_METHODS for name in ("Queue", "JoinableQueue", "SimpleQueue")]
    + ["manager.Queue"]
)
JOINABLE_KINDS = {"queuelink.Queue", "queue.Queue", "manager.Queue"} | {f"{method}.JoinableQueue" for method in START_METHODS}

THRESHOLD = 64


def text_line(size: int) -> str:
    """Return a line of exactly size UTF-8 bytes, mostly 'é', ending in a newline."""
    body = size - 1
    return "é" * (body // 2) + "a" * (body % 2) + "\n"


# One byte under the threshold, at it, over it, and a last line without a
# newline. Under AUTO only the line over the threshold is wrapped; under
# ALWAYS every line is, and the two at or over the threshold are spilled.
LINES = ["short é\n", text_line(THRESHOLD - 1), text_line(THRESHOLD), text_line(THRESHOLD * 3), "last é"]
OBJECTS = [{"index": 1}, "text é", LINES[3].encode("utf-8"), None]


def expected_wrapping(wrap_when: WRAP_WHEN, line: str) -> tuple[bool, bool]:
    """Return (wrapped, spilled) for a line read under wrap_when."""
    size = len(line.encode("utf-8"))
    if wrap_when is WRAP_WHEN.AUTO:
        return size > THRESHOLD, size > THRESHOLD
    if wrap_when is WRAP_WHEN.ALWAYS:
        return True, size >= THRESHOLD
    return False, False


def spill_files(directory: Any) -> list[str]:
    return glob.glob(os.path.join(str(directory), "queuelink-spill-*"))


@pytest.fixture(scope="module")
def manager():
    started = multiprocessing.Manager()
    yield started
    started.shutdown()


def make_queue(kind: str, manager: Any) -> Any:
    family, name = kind.split(".")
    if family == "queuelink":
        return getattr(queuelink, name)()
    if family == "queue":
        return getattr(queue, name)()
    if family == "manager":
        return getattr(manager, name)()
    return getattr(multiprocessing.get_context(family), name)()


def release_queue(queue_obj: Any) -> None:
    if isinstance(queue_obj, queuelink.Queue):
        queue_obj.close()
    elif isinstance(queue_obj, multiprocessing.queues.Queue):
        queue_obj.close()
        queue_obj.join_thread()
    elif isinstance(queue_obj, multiprocessing.queues.SimpleQueue):
        queue_obj.close()


def get_within(queue_obj: Any, timeout: float) -> Any:
    """Take one item, raising queue.Empty after timeout seconds; polls a
    multiprocessing.SimpleQueue, whose get() has no timeout."""
    if isinstance(queue_obj, multiprocessing.queues.SimpleQueue):
        deadline = time.monotonic() + timeout
        while queue_obj.empty():
            if time.monotonic() >= deadline:
                raise queue.Empty
            time.sleep(0.002)
        return queue_obj.get()
    return queue_obj.get(timeout=timeout)


def take(queue_obj: Any, count: int, timeout: float = 20.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    items: list[Any] = []
    while len(items) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"got {len(items)} of {count} items within {timeout} s")
        try:
            items.append(get_within(queue_obj, min(remaining, 1.0)))
        except queue.Empty:
            continue
    return items


def assert_nothing_more(queue_obj: Any) -> None:
    with pytest.raises(queue.Empty):
        get_within(queue_obj, 0.05)


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


# ---------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------


def printf_process(text: bool) -> subprocess.Popen:
    return subprocess.Popen(
        ["printf", "%s", "".join(LINES)],
        stdout=subprocess.PIPE,
        text=text,
        encoding="utf-8" if text else None,
    )


def check_lines(items: list[Any], wrap_when: WRAP_WHEN, text: bool, spill_dir: Any) -> None:
    expected = LINES if text else [line.encode("utf-8") for line in LINES]
    assert items == expected
    for item, line in zip(items, LINES):
        wrapped, spilled = expected_wrapping(wrap_when, line)
        if wrapped:
            assert type(item) is ContentWrapper, line
            assert item.spilled is spilled, line
            assert item.is_text is text
            if spilled:
                assert os.path.dirname(item.path) == str(spill_dir)
        else:
            assert type(item) is (str if text else bytes), line


@pytest.mark.parametrize("wrap_when", list(WRAP_WHEN), ids=lambda member: member.name)
@pytest.mark.parametrize("text", [True, False], ids=["text", "binary"])
@pytest.mark.parametrize("kind", QUEUE_KINDS)
def test_reader_of_subprocess_pipe(make, tmp_path, kind, text, wrap_when):
    target = make(kind)
    process = printf_process(text)
    try:
        with QueueHandleAdapterReader(
            target, handle=process.stdout, wrap_when=wrap_when, wrap_threshold=THRESHOLD, spill_dir=tmp_path
        ) as reader:
            assert reader.wait(timeout=20)
            items = take(target, len(LINES))
            assert reader.get_messages_processed() == len(LINES)
            assert reader.is_drained()
        assert_nothing_more(target)
    finally:
        process.stdout.close()
        process.wait(timeout=10)

    check_lines(items, wrap_when, text, tmp_path)
    del items
    gc.collect()
    # A Manager's server drops its copy of an item shortly after the get.
    assert wait_until(lambda: spill_files(tmp_path) == [], timeout=5), spill_files(tmp_path)


@pytest.mark.parametrize("wrap_when", list(WRAP_WHEN), ids=lambda member: member.name)
@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
@pytest.mark.parametrize("kind", QUEUE_KINDS)
def test_reader_of_connection(make, tmp_path, kind, trusted, wrap_when):
    target = make(kind)
    receiver, sender = multiprocessing.Pipe(duplex=False)

    def send():
        for item in OBJECTS:
            if trusted:
                sender.send(item)
            else:
                sender.send_bytes(repr(item).encode("utf-8"))
        sender.close()

    thread = threading.Thread(target=send)
    try:
        with QueueHandleAdapterReader(
            target, handle=receiver, trusted=trusted, wrap_when=wrap_when, wrap_threshold=THRESHOLD, spill_dir=tmp_path
        ) as reader:
            thread.start()
            assert reader.wait(timeout=20)
            items = take(target, len(OBJECTS))
        assert_nothing_more(target)
    finally:
        thread.join(timeout=10)
        receiver.close()

    if trusted:
        assert items == OBJECTS
    else:
        assert items == [repr(item).encode("utf-8") for item in OBJECTS]
    # Connection messages are never wrapped.
    assert not any(isinstance(item, ContentWrapper) for item in items)
    assert spill_files(tmp_path) == []


def _consume_in_child(target: Any, results: Any, count: int) -> None:
    items = take(target, count, timeout=60)
    results.put([(type(item).__name__, getattr(item, "spilled", None), item.value if isinstance(item, ContentWrapper) else item) for item in items])
    results.close()
    results.join_thread()


@pytest.mark.parametrize("name", ["Queue", "JoinableQueue", "SimpleQueue"])
@pytest.mark.parametrize("start_method", START_METHODS)
def test_reader_feeds_consumer_process(tmp_path, start_method, name):
    context = multiprocessing.get_context(start_method)
    target = getattr(context, name)()
    results = context.Queue()
    consumer = context.Process(target=_consume_in_child, args=(target, results, len(LINES)))
    consumer.start()
    process = printf_process(text=False)
    try:
        with QueueHandleAdapterReader(
            target, handle=process.stdout, wrap_when=WRAP_WHEN.ALWAYS, wrap_threshold=THRESHOLD, spill_dir=tmp_path
        ) as reader:
            assert reader.wait(timeout=20)
        received = results.get(timeout=60)
        consumer.join(timeout=30)
        assert consumer.exitcode == 0
    finally:
        process.stdout.close()
        process.wait(timeout=10)
        if consumer.is_alive():
            consumer.kill()
            consumer.join()
        release_queue(target)
        release_queue(results)

    expected = []
    for line in LINES:
        _, spilled = expected_wrapping(WRAP_WHEN.ALWAYS, line)
        expected.append(("ContentWrapper", spilled, line.encode("utf-8")))
    assert received == expected
    # The child owned the links it unpickled and removed them at exit.
    assert wait_until(lambda: spill_files(tmp_path) == [], timeout=5), spill_files(tmp_path)


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------

ITEMS = ["text é\n", "bytes ü \x00\n".encode("utf-8"), "", "no newline", "\n"]
EXPECTED_OUTPUT = b"".join(item.encode("utf-8") if isinstance(item, str) else item for item in ITEMS)

WRITER_TARGETS = ["path", "text-file", "binary-file", "fd"]


def open_target(name: str, path: Any, stack: list) -> Any:
    if name == "path":
        return path
    if name == "text-file":
        file = open(path, "w", encoding="utf-8")
    elif name == "binary-file":
        file = open(path, "wb")
    else:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        stack.append(lambda: os.close(fd))
        return fd
    stack.append(file.close)
    return file


@pytest.mark.parametrize("target_name", WRITER_TARGETS)
@pytest.mark.parametrize("kind", QUEUE_KINDS)
def test_writer_from_queue(make, tmp_path, kind, target_name):
    source = make(kind)
    path = tmp_path / "out.bin"
    closers: list = []
    try:
        handle = open_target(target_name, path, closers)
        with QueueHandleAdapterWriter(source, handle=handle) as writer:
            for item in ITEMS:
                source.put(item)
            source.put(ContentWrapper("spilled é\n" * 20, threshold=THRESHOLD))
            assert wait_until(lambda: writer.get_messages_processed() == len(ITEMS) + 1, timeout=20), (
                writer.get_messages_processed()
            )
            assert wait_until(writer.is_drained, timeout=10)
            if kind in JOINABLE_KINDS:
                joined = threading.Thread(target=source.join, daemon=True)
                joined.start()
                joined.join(timeout=10)
                assert not joined.is_alive(), "join() did not return after every item was written"
    finally:
        for close in closers:
            close()

    assert path.read_bytes() == EXPECTED_OUTPUT + ("spilled é\n" * 20).encode("utf-8")
    if target_name == "text-file":
        assert path.read_text(encoding="utf-8").startswith("text é\nbytes ")

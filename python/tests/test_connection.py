"""Tests of QueueHandleAdapterReader on multiprocessing Connections, with a
child process that sends."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue
import threading

import pytest

import queuelink
from queuelink import QueueHandleAdapterReader

from _helpers import assert_stays_empty, drain

# Larger than the engine's 64 KiB read buffer, so frames span many reads.
LARGE = bytes(index % 251 for index in range(300 * 1024))

OBJECTS = [
    1,
    "text é",
    {"key": [1, 2, (3, None)]},
    LARGE,
    "x" * (100 * 1024),
    b"",
]
FRAMES = [b"first", b"", LARGE, b"\x00\xff" * 40_000, b"last"]


def _send_objects(sender, objects):
    for item in objects:
        sender.send(item)
    sender.close()


def _send_frames(sender, frames):
    for frame in frames:
        sender.send_bytes(frame)
    sender.close()


def _run_sender(start_method, duplex, target, payload):
    """Start a child that sends payload through a new Pipe; return the
    receiving end and the child. The parent's sending end is closed, so
    the stream ends when the child closes its end."""
    context = multiprocessing.get_context(start_method)
    receiver, sender = context.Pipe(duplex=duplex)
    process = context.Process(target=target, args=(sender, payload))
    process.start()
    sender.close()
    return receiver, process


def _finish(process):
    process.join(timeout=30)
    if process.is_alive():
        process.kill()
        process.join()
    assert process.exitcode == 0


@pytest.mark.parametrize("duplex", [False, True], ids=["pipe", "socketpair"])
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_trusted_connection_gives_objects(start_method, duplex):
    receiver, process = _run_sender(start_method, duplex, _send_objects, OBJECTS)
    try:
        with queuelink.Queue() as target:
            with QueueHandleAdapterReader(target, handle=receiver, trusted=True) as reader:
                # The child closing its end ends the stream and the reader.
                assert reader.wait(timeout=60)
                assert reader.get_messages_processed() == len(OBJECTS)
                assert not reader.is_alive()
                assert reader.is_drained()
            assert drain(target, len(OBJECTS)) == OBJECTS
            assert_stays_empty(target, 0.1)
        _finish(process)
    finally:
        receiver.close()


@pytest.mark.parametrize("duplex", [False, True], ids=["pipe", "socketpair"])
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_untrusted_connection_gives_bytes(start_method, duplex):
    receiver, process = _run_sender(start_method, duplex, _send_frames, FRAMES)
    try:
        with queuelink.Queue() as target:
            with QueueHandleAdapterReader(target, handle=receiver, trusted=False) as reader:
                assert reader.wait(timeout=60)
            items = drain(target, len(FRAMES))
        assert items == FRAMES
        assert all(type(item) is bytes for item in items)
        _finish(process)
    finally:
        receiver.close()


def test_untrusted_connection_keeps_pickles_as_bytes():
    receiver, process = _run_sender("spawn", False, _send_objects, OBJECTS[:3])
    try:
        with queuelink.Queue() as target:
            with QueueHandleAdapterReader(target, handle=receiver) as reader:
                assert reader.wait(timeout=60)
            items = drain(target, 3)
        # recv_bytes() gives the pickles that send() wrote.
        assert [pickle.loads(item) for item in items] == OBJECTS[:3]
        _finish(process)
    finally:
        receiver.close()


def test_connection_into_foreign_queue():
    receiver, process = _run_sender("spawn", True, _send_objects, OBJECTS)
    destination = queue.Queue()
    try:
        with QueueHandleAdapterReader(destination, handle=receiver, trusted=True) as reader:
            assert reader.wait(timeout=60)
            # wait() returns once the bridge has passed every item on.
            assert destination.qsize() == len(OBJECTS)
        assert [destination.get(timeout=5) for _ in OBJECTS] == OBJECTS
        _finish(process)
    finally:
        receiver.close()


def test_connection_from_thread_while_reading():
    receiver, sender = multiprocessing.Pipe(duplex=False)

    def send():
        for index in range(2000):
            sender.send({"index": index})
        sender.close()

    try:
        with queuelink.Queue() as target:
            with QueueHandleAdapterReader(target, handle=receiver, trusted=True) as reader:
                thread = threading.Thread(target=send)
                thread.start()
                items = drain(target, 2000)
                thread.join(timeout=30)
                assert reader.wait(timeout=10)
        assert items == [{"index": index} for index in range(2000)]
    finally:
        receiver.close()


def test_close_stops_open_connection():
    receiver, sender = multiprocessing.Pipe()
    try:
        with queuelink.Queue() as target:
            reader = QueueHandleAdapterReader(target, handle=receiver, trusted=True)
            sender.send("one")
            assert drain(target, 1) == ["one"]
            assert reader.is_alive()
            reader.close()
            assert not reader.is_alive()
            assert reader.get_messages_processed() == 1
    finally:
        receiver.close()
        sender.close()


def test_stream_ending_inside_frame_is_an_error():
    read_end, write_end = os.pipe()
    receiver = multiprocessing.connection.Connection(read_end, writable=False)
    try:
        with queuelink.Queue() as target:
            with QueueHandleAdapterReader(target, handle=receiver) as reader:
                # A header announcing 100 bytes, then only 3 of them.
                os.write(write_end, (100).to_bytes(4, "big") + b"abc")
                os.close(write_end)
                write_end = -1
                with pytest.raises(OSError):
                    reader.wait(timeout=10)
    finally:
        receiver.close()
        if write_end >= 0:
            os.close(write_end)

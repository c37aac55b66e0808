"""Tests of ContentWrapper and of spilled lines from readers to consumers.

Every test counts the spill files in a directory of its own: the reader's
spill_dir, tempfile.tempdir for wrappers made in Python, or TMPDIR of a
child interpreter.
"""

from __future__ import annotations

import gc
import glob
import multiprocessing
import os
import pickle
import queue
import subprocess
import tempfile
import textwrap

import pytest

import queuelink
from queuelink import WRAP_WHEN, ContentWrapper, QueueHandleAdapterReader, QueueHandleAdapterWriter
from queuelink.contentwrapper import get_len, of_bytes_length

from _helpers import CHILD_ENV, drain, python_command, wait_until

THRESHOLD = 64


def spill_files(directory) -> list[str]:
    return sorted(glob.glob(os.path.join(str(directory), "queuelink-spill-*")))


def text_line(size: int) -> str:
    """Return a line of exactly size UTF-8 bytes, mostly 'é', ending in a newline."""
    body = size - 1
    return "é" * (body // 2) + "a" * (body % 2) + "\n"


@pytest.fixture
def python_spill_dir(tmp_path, monkeypatch):
    """Make wrappers created in Python spill into a directory of this test."""
    directory = tmp_path / "python-spill"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.fixture
def engine_spill_dir(tmp_path):
    directory = tmp_path / "engine-spill"
    directory.mkdir()
    return directory


def collect() -> None:
    gc.collect()


# ---------------------------------------------------------------------------
# get_len and of_bytes_length
# ---------------------------------------------------------------------------


def test_get_len_counts_utf8_bytes():
    assert get_len("abc") == 3
    assert get_len("é") == 2
    assert get_len("😀") == 4
    assert get_len(b"\xc3\xa9") == 2
    assert get_len(bytearray(b"xyz")) == 3
    assert get_len(memoryview(b"abcd")[1:]) == 3
    assert get_len(b"\xff".decode("utf-8", "surrogateescape")) == 1


def test_of_bytes_length_rounds():
    assert of_bytes_length("é", 5) == "éé"
    assert of_bytes_length("é", 5, "ceil") == "ééé"
    assert of_bytes_length(b"ab", 7) == b"ababab"
    assert of_bytes_length(b"ab", 7, round_func_name="ceil") == b"abababab"
    assert get_len(of_bytes_length("é", 16384)) == 16384
    assert of_bytes_length("x", 0) == ""


def test_of_bytes_length_rejects_bad_input():
    with pytest.raises(ValueError, match="round_func_name"):
        of_bytes_length("a", 3, "round")
    with pytest.raises(ValueError, match="empty"):
        of_bytes_length("", 3)
    with pytest.raises(ValueError, match="length"):
        of_bytes_length("a", -1)


# ---------------------------------------------------------------------------
# ContentWrapper in Python
# ---------------------------------------------------------------------------


def test_default_threshold():
    assert ContentWrapper.THRESHOLD == 16384


@pytest.mark.parametrize(("size", "spilled"), [(THRESHOLD - 1, False), (THRESHOLD, True), (THRESHOLD + 1, True)])
def test_wrapper_spills_at_threshold(python_spill_dir, size, spilled):
    value = text_line(size)
    assert get_len(value) == size
    wrapper = ContentWrapper(value, threshold=THRESHOLD)
    assert wrapper.spilled is spilled
    assert len(spill_files(python_spill_dir)) == (1 if spilled else 0)
    if spilled:
        assert wrapper._value is None
        with open(wrapper.path, "rb") as file:
            assert file.read() == value.encode("utf-8")
    assert wrapper.value == value
    assert wrapper.size == size
    del wrapper
    collect()
    assert spill_files(python_spill_dir) == []


@pytest.mark.parametrize("value", ["é" * 40, "short é", b"\x00\xff" * 40, b"tiny"])
def test_wrapper_behaves_like_value(python_spill_dir, value):
    wrapper = ContentWrapper(value, threshold=THRESHOLD)
    assert wrapper.value == value
    assert wrapper == value
    assert wrapper == ContentWrapper(value, threshold=THRESHOLD)
    assert wrapper != ContentWrapper(value[:-1], threshold=THRESHOLD)
    assert len(wrapper) == len(value)
    assert hash(wrapper) == hash(value)
    if isinstance(value, str):
        assert str(wrapper) == value
        assert bytes(wrapper) == value.encode("utf-8")
    else:
        assert bytes(wrapper) == value
        assert str(wrapper) == value.decode("utf-8", "surrogateescape")
    assert "ContentWrapper" in repr(wrapper)


def test_str_and_bytes_wrappers_differ():
    assert ContentWrapper("abc") != ContentWrapper(b"abc")


def test_wrapper_rejects_other_values():
    with pytest.raises(TypeError, match="str or bytes"):
        ContentWrapper(42)
    with pytest.raises(ValueError, match="threshold"):
        ContentWrapper("a", threshold=-1)


def test_removed_spill_file_reported(python_spill_dir):
    wrapper = ContentWrapper("x" * THRESHOLD, threshold=THRESHOLD)
    os.remove(wrapper.path)
    with pytest.raises(FileNotFoundError, match="spill file"):
        wrapper.value


def test_each_unpickled_copy_owns_its_file(python_spill_dir):
    value = text_line(THRESHOLD * 2)
    wrapper = ContentWrapper(value, threshold=THRESHOLD)
    pickles = [pickle.dumps(wrapper), pickle.dumps(wrapper)]
    # One file for the wrapper and one hard link per pickle.
    assert len(spill_files(python_spill_dir)) == 3
    del wrapper
    collect()
    copies = [pickle.loads(data) for data in pickles]
    assert len({copy.path for copy in copies}) == 2
    assert all(copy.value == value for copy in copies)
    del copies[0]
    collect()
    assert len(spill_files(python_spill_dir)) == 1
    assert copies[0].value == value
    del copies
    collect()
    assert spill_files(python_spill_dir) == []


def test_small_wrapper_pickles_its_value(python_spill_dir):
    copy = pickle.loads(pickle.dumps(ContentWrapper("small", threshold=THRESHOLD)))
    assert copy == "small"
    assert not copy.spilled
    assert spill_files(python_spill_dir) == []


def test_forked_child_keeps_parent_file(tmp_path):
    code = textwrap.dedent(
        f"""
        import gc, os, sys, tempfile
        tempfile.tempdir = {str(tmp_path)!r}
        from queuelink import ContentWrapper
        wrapper = ContentWrapper("x" * 100, threshold=10)
        pid = os.fork()
        if pid == 0:
            del wrapper
            gc.collect()
            sys.exit(0)
        os.waitpid(pid, 0)
        print(os.path.exists(wrapper.path))
        """
    )
    result = subprocess.run(python_command(code), capture_output=True, text=True, timeout=60, env=CHILD_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
    assert spill_files(tmp_path) == []


def test_interpreter_exit_removes_files(tmp_path):
    code = textwrap.dedent(
        f"""
        import tempfile
        tempfile.tempdir = {str(tmp_path)!r}
        from queuelink import ContentWrapper
        kept = [ContentWrapper("x" * 100, threshold=10) for _ in range(3)]
        print(len(kept))
        """
    )
    result = subprocess.run(python_command(code), capture_output=True, text=True, timeout=60, env=CHILD_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"
    assert spill_files(tmp_path) == []


# ---------------------------------------------------------------------------
# Wrappers through engine queues
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["é" * 100, b"\x00" * 100, "small", b"small"])
def test_wrapper_round_trips_through_engine_queue(python_spill_dir, value):
    wrapper = ContentWrapper(value, threshold=THRESHOLD)
    with queuelink.Queue() as queue_obj:
        queue_obj.put(wrapper)
        result = queue_obj.get(timeout=5)
    assert type(result) is ContentWrapper
    assert result == value
    assert result.spilled is wrapper.spilled
    if result.spilled:
        assert result.path != wrapper.path
    del wrapper, result
    collect()
    assert spill_files(python_spill_dir) == []


# NOTE: ql_queue_free() closes the queue but does not drop the messages it
# holds. Their spill files are removed only when Go's garbage collector
# frees the queue, which may not happen before the process exits.
def test_spilled_wrapper_in_closed_queue_removed(python_spill_dir):
    wrapper = ContentWrapper("x" * 100, threshold=THRESHOLD)
    queue_obj = queuelink.Queue()
    for _ in range(3):
        queue_obj.put(wrapper)
    assert len(spill_files(python_spill_dir)) == 4
    queue_obj.close()
    assert len(spill_files(python_spill_dir)) == 1
    del wrapper
    collect()
    assert spill_files(python_spill_dir) == []


def test_failed_put_keeps_no_link(python_spill_dir):
    wrapper = ContentWrapper("x" * 100, threshold=THRESHOLD)
    with queuelink.Queue(maxsize=1) as queue_obj:
        queue_obj.put("filler")
        with pytest.raises(queue.Full):
            queue_obj.put(wrapper, timeout=0.05)
    assert len(spill_files(python_spill_dir)) == 1


# ---------------------------------------------------------------------------
# Readers: wrap rules at the threshold
# ---------------------------------------------------------------------------

# (wrap_when, size) -> (wrapped, spilled)
WRAP_CASES = {
    (WRAP_WHEN.NEVER, THRESHOLD - 1): (False, False),
    (WRAP_WHEN.NEVER, THRESHOLD): (False, False),
    (WRAP_WHEN.NEVER, THRESHOLD + 1): (False, False),
    (WRAP_WHEN.AUTO, THRESHOLD - 1): (False, False),
    (WRAP_WHEN.AUTO, THRESHOLD): (False, False),
    (WRAP_WHEN.AUTO, THRESHOLD + 1): (True, True),
    (WRAP_WHEN.ALWAYS, THRESHOLD - 1): (True, False),
    (WRAP_WHEN.ALWAYS, THRESHOLD): (True, True),
    (WRAP_WHEN.ALWAYS, THRESHOLD + 1): (True, True),
}


@pytest.mark.parametrize(("wrap_when", "size"), list(WRAP_CASES))
@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_reader_wraps_at_threshold(tmp_path, engine_spill_dir, wrap_when, size, binary):
    wrapped, spilled = WRAP_CASES[(wrap_when, size)]
    line = text_line(size)
    path = tmp_path / "input.txt"
    path.write_text(line, encoding="utf-8")
    expected = line.encode("utf-8") if binary else line

    with queuelink.Queue() as queue_obj, open(path, "rb" if binary else "r", encoding=None if binary else "utf-8") as file:
        with QueueHandleAdapterReader(
            queue_obj,
            handle=file,
            wrap_when=wrap_when,
            wrap_threshold=THRESHOLD,
            spill_dir=engine_spill_dir,
        ) as reader:
            assert reader.wait(timeout=10)
        (item,) = drain(queue_obj, 1)

    if not wrapped:
        assert type(item) is type(expected)
        assert item == expected
        assert spill_files(engine_spill_dir) == []
        return
    assert type(item) is ContentWrapper
    assert item.spilled is spilled
    assert item.is_text is not binary
    if spilled:
        # The line stayed in a file from the reader to this consumer.
        assert item._value is None
        assert spill_files(engine_spill_dir) == [item.path]
        with open(item.path, "rb") as file:
            assert file.read() == line.encode("utf-8")
    else:
        assert spill_files(engine_spill_dir) == []
    assert item.value == expected
    assert item == expected
    del item
    collect()
    assert spill_files(engine_spill_dir) == []


def test_default_threshold_applies(tmp_path, engine_spill_dir):
    lines = [text_line(ContentWrapper.THRESHOLD), text_line(ContentWrapper.THRESHOLD + 1)]
    path = tmp_path / "input.txt"
    path.write_text("".join(lines), encoding="utf-8")
    with queuelink.Queue() as queue_obj:
        with QueueHandleAdapterReader(queue_obj, handle=path, wrap_when=WRAP_WHEN.AUTO, spill_dir=engine_spill_dir) as reader:
            assert reader.wait(timeout=10)
        at, over = drain(queue_obj, 2)
    assert type(at) is str
    assert type(over) is ContentWrapper
    assert over.spilled
    assert over.value == lines[1]


def test_many_spilled_lines_leave_no_files(tmp_path, engine_spill_dir):
    line = text_line(THRESHOLD * 3)
    path = tmp_path / "input.txt"
    path.write_text(line * 200, encoding="utf-8")
    with queuelink.Queue() as queue_obj:
        with QueueHandleAdapterReader(
            queue_obj, handle=path, wrap_when=WRAP_WHEN.AUTO, wrap_threshold=THRESHOLD, spill_dir=engine_spill_dir
        ) as reader:
            assert reader.wait(timeout=10)
        for _ in range(200):
            assert queue_obj.get(timeout=5).value == line
    collect()
    assert spill_files(engine_spill_dir) == []


def test_unread_spilled_lines_removed_with_queue(tmp_path, engine_spill_dir):
    path = tmp_path / "input.txt"
    path.write_text(text_line(THRESHOLD * 2) * 5, encoding="utf-8")
    queue_obj = queuelink.Queue()
    with QueueHandleAdapterReader(
        queue_obj, handle=path, wrap_when=WRAP_WHEN.ALWAYS, wrap_threshold=THRESHOLD, spill_dir=engine_spill_dir
    ) as reader:
        assert reader.wait(timeout=10)
    assert len(spill_files(engine_spill_dir)) == 5
    queue_obj.close()
    assert spill_files(engine_spill_dir) == []


# ---------------------------------------------------------------------------
# Fan-out, writers and other processes
# ---------------------------------------------------------------------------


def test_fan_out_gives_each_destination_its_own_file(tmp_path, engine_spill_dir):
    line = text_line(THRESHOLD * 4)
    path = tmp_path / "input.txt"
    path.write_text(line, encoding="utf-8")
    source = queuelink.Queue()
    destinations = [queuelink.Queue() for _ in range(3)]
    with queuelink.QueueLink(source, destinations):
        with QueueHandleAdapterReader(
            source, handle=path, wrap_when=WRAP_WHEN.AUTO, wrap_threshold=THRESHOLD, spill_dir=engine_spill_dir
        ) as reader:
            assert reader.wait(timeout=10)
        items = [drain(destination, 1)[0] for destination in destinations]

    assert all(type(item) is ContentWrapper and item.spilled for item in items)
    paths = [item.path for item in items]
    assert len(set(paths)) == 3
    assert sorted(paths) == spill_files(engine_spill_dir)
    for path in paths:
        with open(path, "rb") as file:
            assert file.read() == line.encode("utf-8")
    assert [item.value for item in items] == [line] * 3

    del items
    collect()
    assert spill_files(engine_spill_dir) == []
    for queue_obj in [source, *destinations]:
        queue_obj.close()


def test_link_factory_fan_out_of_spilled_lines(tmp_path):
    # link() has no spill_dir, so the reader spills to the engine's
    # temporary directory: this test runs in a child with its own TMPDIR.
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    line = text_line(ContentWrapper.THRESHOLD * 2)
    path = tmp_path / "input.txt"
    path.write_text(line * 3, encoding="utf-8")
    code = textwrap.dedent(
        f"""
        import gc, glob, os
        import queuelink
        def count():
            return len(glob.glob(os.path.join({str(spill_dir)!r}, "queuelink-spill-*")))
        left, right = queuelink.Queue(), queuelink.Queue()
        with queuelink.link({str(path)!r}, [left, right], wrap_when=queuelink.WRAP_WHEN.AUTO) as result:
            items = [q.get(timeout=10) for q in (left, right) for _ in range(3)]
            print("spilled", all(item.spilled for item in items))
            print("same", all(item.value == {line!r} for item in items))
            print("paths", len({{item.path for item in items}}))
            print("files", count())
            del items
            gc.collect()
            print("after", count())
        """
    )
    env = dict(CHILD_ENV, TMPDIR=str(spill_dir))
    result = subprocess.run(python_command(code), capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["spilled", "True", "same", "True", "paths", "6", "files", "6", "after", "0"]
    assert spill_files(spill_dir) == []


def test_reader_spills_to_tmpdir_by_default(tmp_path):
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    code = textwrap.dedent(
        f"""
        import gc, glob, os
        import queuelink
        def count():
            return len(glob.glob(os.path.join({str(spill_dir)!r}, "queuelink-spill-*")))
        q = queuelink.Queue()
        read_end, write_end = os.pipe()
        reader = queuelink.QueueHandleAdapterReader(
            q, handle=read_end, wrap_when=queuelink.WRAP_WHEN.ALWAYS, wrap_threshold=100)
        os.write(write_end, b"x" * 500 + b"\\n" + b"y\\n")
        os.close(write_end)
        reader.wait(10)
        big, small = q.get(timeout=5), q.get(timeout=5)
        print(big.spilled, small.spilled, count())
        made_in_python = queuelink.ContentWrapper("z" * 200, threshold=100)
        print(os.path.dirname(made_in_python.path) == {str(spill_dir)!r}, count())
        del big, small, made_in_python
        gc.collect()
        print(count())
        reader.close()
        os.close(read_end)
        """
    )
    env = dict(CHILD_ENV, TMPDIR=str(spill_dir))
    result = subprocess.run(python_command(code), capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["True False 1", "True 2", "0"]


def test_writer_writes_spilled_value_and_removes_file(tmp_path, engine_spill_dir, python_spill_dir):
    line = text_line(THRESHOLD * 2)
    source_path = tmp_path / "input.txt"
    source_path.write_text(line + "small\n", encoding="utf-8")
    output = tmp_path / "out.txt"
    with queuelink.Queue() as middle:
        with QueueHandleAdapterWriter(middle, handle=output) as writer:
            with QueueHandleAdapterReader(
                middle, handle=source_path, wrap_when=WRAP_WHEN.ALWAYS, wrap_threshold=THRESHOLD, spill_dir=engine_spill_dir
            ) as reader:
                assert reader.wait(timeout=10)
            middle.put(ContentWrapper(line, threshold=THRESHOLD))
            assert wait_until(lambda: writer.get_messages_processed() == 3)
    assert output.read_text(encoding="utf-8") == line + "small\n" + line
    collect()
    assert spill_files(engine_spill_dir) == []
    assert spill_files(python_spill_dir) == []


def _child_reads_wrappers(received, results):
    values = []
    for _ in range(2):
        item = received.get(timeout=30)
        values.append((type(item).__name__, item.spilled, item.value))
    results.put(values)


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_spilled_wrapper_crosses_processes(python_spill_dir, start_method):
    context = multiprocessing.get_context(start_method)
    received, results = context.Queue(), context.Queue()
    process = context.Process(target=_child_reads_wrappers, args=(received, results))
    process.start()
    try:
        big = ContentWrapper("é" * 100, threshold=THRESHOLD)
        received.put(big)
        received.put(ContentWrapper("small", threshold=THRESHOLD))
        del big
        assert results.get(timeout=60) == [("ContentWrapper", True, "é" * 100), ("ContentWrapper", False, "small")]
        process.join(timeout=30)
        assert process.exitcode == 0
    finally:
        if process.is_alive():
            process.kill()
            process.join()
        for queue_obj in (received, results):
            queue_obj.close()
            queue_obj.join_thread()
    collect()
    assert spill_files(python_spill_dir) == []

"""Tests of signals, fork(), spawn and interpreter exit, in real child processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import queuelink

from _helpers import CHILD_ENV, python_command

FORK_MESSAGE = "cannot be used in a child created by fork()"


def run_script(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        python_command(textwrap.dedent(code)),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=CHILD_ENV,
    )


def wait_for_child(pid: int, timeout: float) -> int | None:
    """Return the exit code of a forked child, or None after killing it when
    it runs longer than timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


@pytest.mark.parametrize(
    "blocking_call",
    ["q.get()", "q.get(timeout=60)", "full.put('x')", "joined.join()", "reader.wait()"],
)
def test_ctrl_c_interrupts_blocking_call(blocking_call):
    code = textwrap.dedent(
        f"""
        import os, sys, time
        import queuelink
        q = queuelink.Queue()
        full = queuelink.Queue(maxsize=1)
        full.put('first')
        joined = queuelink.Queue()
        joined.put('unfinished')
        read_end, write_end = os.pipe()
        reader = queuelink.QueueHandleAdapterReader(queuelink.Queue(), handle=read_end)
        print('ready', flush=True)
        started = time.monotonic()
        try:
            {blocking_call}
        except KeyboardInterrupt:
            print('interrupted after %.3f s' % (time.monotonic() - started), flush=True)
            sys.exit(0)
        sys.exit(3)
        """
    )
    process = subprocess.Popen(
        python_command(code), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CHILD_ENV
    )
    try:
        assert process.stdout.readline() == "ready\n"
        time.sleep(0.3)
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        output, errors = process.communicate(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, errors
    assert output.startswith("interrupted after")
    assert elapsed < 2


def test_forked_child_gets_runtime_error():
    queue_obj = queuelink.Queue()
    queue_obj.put("parent item")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        # Child: report through the pipe and leave with os._exit, so pytest's
        # own cleanup never runs here.
        code = 1
        try:
            os.close(read_end)
            try:
                queue_obj.put("child item")
                message = b"no error"
            except RuntimeError as error:
                message = str(error).encode()
                code = 0
            os.write(write_end, message)
        finally:
            os._exit(code)

    os.close(write_end)
    exit_code = wait_for_child(pid, timeout=20)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    assert exit_code == 0, message
    assert FORK_MESSAGE in message
    assert "'spawn' or 'forkserver'" in message
    # The parent still works, and the child's attempt did not reach the queue.
    assert queue_obj.get(timeout=5) == "parent item"
    assert queue_obj.qsize() == 0
    queue_obj.close()


def test_forked_child_every_call_refused():
    code = """
        import os, sys, gc
        import queuelink
        q = queuelink.Queue()
        link = queuelink.QueueLink(q, queuelink.Queue())
        writer = queuelink.QueueHandleAdapterWriter(queuelink.Queue(), handle=os.devnull)
        pid = os.fork()
        if pid == 0:
            refused = 0
            calls = [lambda: q.get_nowait(), lambda: q.qsize(), link.is_alive, link.stop,
                     writer.get_messages_processed, lambda: queuelink.Queue(), q.close]
            for call in calls:
                try:
                    call()
                except RuntimeError:
                    refused += 1
            # Leave normally: finalizers and atexit hooks run and must not
            # call into the library.
            del q, link, writer
            gc.collect()
            sys.exit(0 if refused == len(calls) else 10 + refused)
        _, status = os.waitpid(pid, 0)
        print('child exit', os.waitstatus_to_exitcode(status), flush=True)
        link.close()
        writer.close()
    """
    result = run_script(code, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "child exit 0" in result.stdout
    assert "Exception ignored" not in result.stderr


def test_spawned_process_uses_library():
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_spawned_round_trip, args=(results,))
    process.start()
    try:
        assert results.get(timeout=60) == ["a", b"b", {"c": 1}]
        process.join(timeout=30)
        assert process.exitcode == 0
    finally:
        if process.is_alive():
            process.kill()
            process.join()
        results.close()
        results.join_thread()


def _spawned_round_trip(results):
    source, destination = queuelink.Queue(), queuelink.Queue()
    with queuelink.QueueLink(source, destination):
        for item in ("a", b"b", {"c": 1}):
            source.put(item)
        results.put([destination.get(timeout=10) for _ in range(3)])


def test_exit_with_open_objects_flushes_writer(tmp_path):
    path = tmp_path / "out.txt"
    code = f"""
        import os, time
        import queuelink
        source = queuelink.Queue()
        middle = queuelink.Queue()
        link = queuelink.QueueLink(source, middle)
        writer = queuelink.QueueHandleAdapterWriter(middle, handle={str(path)!r})
        read_end, write_end = os.pipe()
        reader = queuelink.QueueHandleAdapterReader(queuelink.Queue(), handle=read_end)
        for index in range(1000):
            source.put(f'{{index}}\\n')
        deadline = time.monotonic() + 30
        while writer.get_messages_processed() < 1000 and time.monotonic() < deadline:
            time.sleep(0.01)
        print(writer.get_messages_processed(), flush=True)
        # Exit without closing anything; the reader still waits on its pipe.
    """
    started = time.monotonic()
    result = run_script(code, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1000"
    assert result.stderr == ""
    assert time.monotonic() - started < 30
    assert path.read_text() == "".join(f"{index}\n" for index in range(1000))


def test_garbage_collection_frees_objects():
    code = """
        import gc, os
        import queuelink
        fds_before = len(os.listdir('/proc/self/fd'))
        for _ in range(200):
            source, destination = queuelink.Queue(), queuelink.Queue()
            link = queuelink.QueueLink(source, destination)
            source.put('x')
            destination.get(timeout=5)
            reader = queuelink.QueueHandleAdapterReader(queuelink.Queue(), handle=os.devnull)
            writer = queuelink.QueueHandleAdapterWriter(queuelink.Queue(), handle=os.devnull)
            del source, destination, link, reader, writer
        gc.collect()
        print(len(os.listdir('/proc/self/fd')) - fds_before)
    """
    result = run_script(code, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) <= 2
    assert "Exception ignored" not in result.stderr


def test_daemon_thread_blocked_at_exit():
    code = """
        import threading
        import queuelink
        q = queuelink.Queue()
        thread = threading.Thread(target=q.get, daemon=True)
        thread.start()
        print('exiting', flush=True)
    """
    result = run_script(code, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "exiting\n"

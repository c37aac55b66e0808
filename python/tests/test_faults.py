"""Faults and misuse: killed sources, odd arguments, and fork storms.

Each test runs real processes or real library calls and must end on its
own; none may crash or hang the interpreter.
"""

import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import queuelink
from queuelink import ClosedError, QueueHandleAdapterReader


def test_reader_source_killed_mid_line():
    lines = queuelink.Queue()
    # The child writes a whole line, half a line, then waits to be killed.
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.stdout.write('whole\\nhal'); sys.stdout.flush(); time.sleep(60)"],
        stdout=subprocess.PIPE,
    )
    reader = QueueHandleAdapterReader(lines, handle=child.stdout)
    try:
        assert lines.get(timeout=10) == b"whole\n"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        reader.wait(timeout=10)
        assert not reader.is_alive()
        assert lines.get(timeout=5) == b"hal", "the partial line arrives when the source dies"
        assert reader.get_messages_processed() == 2
    finally:
        reader.close()
        if child.poll() is None:
            child.kill()
        child.stdout.close()


@pytest.mark.parametrize("payload", [b"", "", b"\x00", b"\x00" * 1000, "nul\x00inside"])
def test_empty_and_nul_payloads_round_trip(payload):
    q = queuelink.Queue()
    q.put(payload)
    assert q.get(timeout=5) == payload


def test_huge_timeouts_do_not_overflow():
    q = queuelink.Queue()
    q.put("item", timeout=1e15)
    assert q.get(timeout=1e15) == "item"
    q.put("x")
    assert q.get_many(timeout=float("inf"), max_items=1) == ["x"]
    with pytest.raises(queue.Empty):
        q.get(timeout=1e-9)


def test_negative_timeout_rejected():
    q = queuelink.Queue()
    with pytest.raises(ValueError, match="non-negative"):
        q.get(timeout=-1)
    with pytest.raises(ValueError, match="non-negative"):
        q.put("x", timeout=-0.5)


def test_negative_maxsize_is_unbounded():
    q = queuelink.Queue(maxsize=-5)
    for i in range(1000):
        q.put_nowait(i)
    assert q.qsize() == 1000
    assert not q.full()


def test_task_done_too_often_raises():
    q = queuelink.JoinableQueue()
    q.put("one")
    q.get(timeout=5)
    q.task_done()
    with pytest.raises(ValueError, match="task_done"):
        q.task_done()


def test_closed_queue_calls_raise_without_side_effects():
    q = queuelink.Queue()
    other = queuelink.Queue()
    other.put("kept")
    q.close()
    for call in (lambda: q.put("x"), lambda: q.get(timeout=0), q.qsize, lambda: q.get_many(1)):
        with pytest.raises(ClosedError):
            call()
    assert other.get(timeout=5) == "kept", "another queue is untouched"


def _child_touches_queue(q):
    try:
        q.qsize()
    except RuntimeError:
        os._exit(0)
    os._exit(3)


def _child_does_nothing():
    os._exit(0)


@pytest.mark.parametrize("touch", [False, True], ids=["idle children", "children touching queues"])
def test_fork_storm_children_exit_promptly(touch):
    # The parent has used the library and has a running link.
    source, destination = queuelink.Queue(), queuelink.Queue()
    link = queuelink.QueueLink(source, destination)
    source.put("warm up")
    assert destination.get(timeout=5) == "warm up"

    context = multiprocessing.get_context("fork")
    children = []
    try:
        for _ in range(20):
            target = _child_touches_queue if touch else _child_does_nothing
            args = (source,) if touch else ()
            child = context.Process(target=target, args=args)
            started = time.monotonic()
            child.start()
            children.append((child, started))
        for child, started in children:
            child.join(timeout=10)
            assert child.exitcode == 0, f"child {child.pid} exited with {child.exitcode}"
    finally:
        for child, _ in children:
            if child.is_alive():
                child.kill()
        link.close()


def test_forked_children_exit_without_hanging(tmp_path):
    # Run in a fresh interpreter, so that the timing covers only the
    # children of a process that has loaded the library and used a link.
    script = tmp_path / "storm.py"
    script.write_text(
        textwrap.dedent(
            """
            import multiprocessing, os, sys, time
            sys.path.insert(0, sys.argv[1])
            import queuelink

            def touch(q):
                try:
                    q.put("x")
                except RuntimeError:
                    os._exit(0)
                os._exit(3)

            if __name__ == "__main__":
                source, destination = queuelink.Queue(), queuelink.Queue()
                link = queuelink.QueueLink(source, destination)
                source.put("warm up")
                destination.get(timeout=5)
                context = multiprocessing.get_context("fork")
                worst = 0.0
                for index in range(20):
                    child = context.Process(target=touch, args=(source,)) if index % 2 else context.Process(target=time.sleep, args=(0,))
                    started = time.monotonic()
                    child.start()
                    child.join(timeout=10)
                    worst = max(worst, time.monotonic() - started)
                    if child.exitcode != 0:
                        print("child exit code", child.exitcode)
                        sys.exit(1)
                link.close()
                print(f"worst {worst:.3f}")
            """
        )
    )
    package_dir = os.path.dirname(os.path.dirname(queuelink.__file__))
    result = subprocess.run(
        [sys.executable, str(script), package_dir], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # A hang would take the join's full 10 s; a healthy child takes a few
    # milliseconds. The bound is generous so that a loaded machine cannot
    # fail the test; the measured time is printed with -s.
    worst = float(result.stdout.split()[-1])
    print(f"slowest forked child: {worst:.3f} s")
    assert worst < 5.0, f"the slowest child took {worst:.3f} s from start to exit"

"""Tests of links between processes: multiprocessing and Manager() queues used
by child processes, children that build their own links, fork(), interpreter
exit, Ctrl-C and the engine's log records in a fresh interpreter."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import queuelink
from queuelink import QueueLink, link

from _helpers import CHILD_ENV, drain, python_command
from _workers import (
    MANAGER_KINDS,
    MP_KINDS,
    START_METHODS,
    build_link_in_child,
    echo,
    make_queue,
    release_queue,
    sample_payloads,
    take,
    touch_in_forked_child,
    use_context_objects,
)

COUNT = 40
FORK_MESSAGE = "cannot be used in a child created by fork()"

# Each multiprocessing kind runs its child under its own start method, and
# each Manager kind under 'fork' and 'spawn'.
CHILD_CASES = [(kind, kind.split(".")[0]) for kind in MP_KINDS] + [
    (kind, method) for kind in MANAGER_KINDS for method in ("fork", "spawn")
]


@pytest.fixture(scope="module")
def manager():
    manager = multiprocessing.Manager()
    yield manager
    manager.shutdown()


@pytest.fixture
def make(manager):
    created = []

    def factory(kind):
        queue_obj = make_queue(kind, manager)
        created.append(queue_obj)
        return queue_obj

    yield factory
    for queue_obj in created:
        release_queue(queue_obj)


def finish(process: multiprocessing.process.BaseProcess, timeout: float = 60) -> int | None:
    """Wait for a child and return its exit code; kill it if it runs past timeout seconds."""
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join(10)
        return None
    return process.exitcode


def run_script(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        python_command(textwrap.dedent(code)),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=CHILD_ENV,
    )


# -- child processes that put and get ---------------------------------------------------


@pytest.mark.parametrize("api", ["QueueLink", "link"])
@pytest.mark.parametrize(("kind", "method"), CHILD_CASES)
def test_child_consumes_and_produces(kind, method, api, make):
    """An engine queue feeds a child through one link, and the child's
    replies come back through another. So the child gets from a destination
    of the parent's links and puts on a source of them."""
    inbox, outbox = make(kind), make(kind)
    source, destination = queuelink.Queue(), queuelink.Queue()
    items = sample_payloads(COUNT, tag=kind)
    if api == "QueueLink":
        forward, backward = QueueLink(source, inbox), QueueLink(outbox, destination)
    else:
        forward, backward = link(source, inbox), link(outbox, [destination])

    process = multiprocessing.get_context(method).Process(target=echo, args=(inbox, outbox, COUNT))
    try:
        process.start()
        for item in items:
            source.put(item)
        received = drain(destination, COUNT, timeout=60)
        exit_code = finish(process)
    finally:
        if process.is_alive():
            process.kill()
        forward.close()
        backward.close()
        source.close()
        destination.close()
    assert received == [("echo", item) for item in items]
    # echo() ends only after join() on a joinable outbox returned, which
    # needs the parent's bridge to call task_done() for every item.
    assert exit_code == 0


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_child_builds_own_link(method):
    context = multiprocessing.get_context(method)
    parent_source, results = context.Queue(), context.Queue()
    items = [{"index": index, "text": f"item {index}"} for index in range(COUNT)]
    process = context.Process(target=build_link_in_child, args=(parent_source, results, COUNT))
    process.start()
    try:
        for item in items:
            parent_source.put(item)
        from_parent = results.get(timeout=60)
        own = results.get(timeout=60)
        done = results.get(timeout=60)
        exit_code = finish(process)
    finally:
        if process.is_alive():
            process.kill()
        release_queue(parent_source)
        release_queue(results)
    assert from_parent == items
    assert own == [("own", index) for index in range(COUNT)]
    assert done == "done"
    assert exit_code == 0


@pytest.mark.parametrize("method", START_METHODS)
def test_link_factories_use_its_context(method, tmp_path):
    context = multiprocessing.get_context(method)
    with QueueLink(start_method=method, name=f"factories-{method}") as queue_link:
        event, lock, child_queue = queue_link.Event(), queue_link.Lock(), queue_link.Queue()
        assert type(child_queue) is type(context.JoinableQueue())
        # A fork context's locks are unnamed; the others' have a name to
        # find them by in a new process.
        assert (lock._semlock.name is None) == (method == "fork")
        process = queue_link.Process(target=use_context_objects, args=(event, lock, child_queue))
        assert isinstance(process, type(context.Process()))

        destination = queuelink.Queue()
        queue_link.read(child_queue)
        queue_link.write(destination)
        process.start()
        try:
            item = destination.get(timeout=60)
            exit_code = finish(process)
        finally:
            if process.is_alive():
                process.kill()
        assert event.is_set()
        # The link calls task_done() for the child's item.
        joiner = threading.Thread(target=child_queue.join, daemon=True)
        joiner.start()
        joiner.join(timeout=10)
        assert not joiner.is_alive()
    destination.close()
    release_queue(child_queue)
    assert item == ("child", process.name)
    assert exit_code == 0


# -- fork ------------------------------------------------------------------------------------


def test_fork_child_refuses_every_object(tmp_path, make):
    source, destination = make("queue.Queue"), make("fork.Queue")
    results = multiprocessing.get_context("fork").Queue()
    read_end, write_end = os.pipe()
    with QueueLink(source, destination) as queue_link, queuelink.Queue() as engine_queue:
        reader = queuelink.QueueHandleAdapterReader(queuelink.Queue(), handle=read_end)
        writer = queuelink.QueueHandleAdapterWriter(engine_queue, handle=tmp_path / "out.txt")
        calls = {
            "link.read": lambda: queue_link.read(make("queue.Queue")),
            "link.is_empty": queue_link.is_empty,
            "link.stop": queue_link.stop,
            "link.close": queue_link.close,
            "link.get_metrics": queue_link.get_metrics,
            "queue.put": lambda: engine_queue.put("x"),
            "reader.is_alive": reader.is_alive,
            "writer.get_messages_processed": writer.get_messages_processed,
            "new queue": queuelink.Queue,
            "link()": lambda: link(source, [destination]),
        }
        process = multiprocessing.get_context("fork").Process(target=touch_in_forked_child, args=(calls, results))
        started = time.monotonic()
        process.start()
        outcomes = dict(take(results, len(calls), timeout=30))
        exit_code = finish(process, timeout=30)
        elapsed = time.monotonic() - started

        # The parent's objects still work.
        source.put("parent")
        assert take(destination, 1) == ["parent"]
        engine_queue.put("written\n")
        reader.close()
        writer.close()
    os.close(read_end)
    os.close(write_end)
    release_queue(results)
    assert exit_code == 0
    assert elapsed < 20
    assert set(outcomes) == set(calls)
    for name, outcome in outcomes.items():
        assert outcome.startswith("RuntimeError"), (name, outcome)
        assert FORK_MESSAGE in outcome, (name, outcome)


def test_fork_child_exit_runs_no_hook(tmp_path):
    path = tmp_path / "out.txt"
    code = f"""
        import multiprocessing, os, queue, sys, gc
        import queuelink
        from queuelink._bridge import bridge_to
        source, destination = queue.Queue(), multiprocessing.Queue()
        link = queuelink.QueueLink(source, [destination, queuelink.Queue()])
        lone_queue, lone_bridge = bridge_to(queue.Queue(), name='lone')
        writer = queuelink.QueueHandleAdapterWriter(queuelink.Queue(), handle={str(path)!r})
        read_end, write_end = os.pipe()
        reader = queuelink.QueueHandleAdapterReader(queuelink.Queue(), handle=read_end)
        source.put('before fork')
        print(destination.get(timeout=10), flush=True)
        pid = os.fork()
        if pid == 0:
            try:
                link.is_alive()
                sys.exit(3)
            except RuntimeError:
                pass
            lone_bridge.stop()
            # Leave normally: atexit hooks and finalizers run and must not
            # touch the library, the bridges or the engine log thread.
            del link, writer, reader
            gc.collect()
            sys.exit(0)
        _, status = os.waitpid(pid, 0)
        print('child exit', os.waitstatus_to_exitcode(status), flush=True)
        source.put('after fork')
        print(destination.get(timeout=10), flush=True)
    """
    started = time.monotonic()
    result = run_script(code, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["before fork", "child exit 0", "after fork"]
    assert "Exception ignored" not in result.stderr
    assert result.stderr == ""
    assert time.monotonic() - started < 20


# -- interpreter exit --------------------------------------------------------------------------


def test_exit_flushes_writer_at_once(tmp_path):
    path = tmp_path / "out.txt"
    code = f"""
        import queuelink
        lines = queuelink.Queue()
        writer = queuelink.QueueHandleAdapterWriter(lines, handle={str(path)!r})
        for index in range(2000):
            lines.put(f'{{index}}\\n')
        print('exiting', flush=True)
    """
    result = run_script(code, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert path.read_text() == "".join(f"{index}\n" for index in range(2000))


def test_exit_prompt_with_bridges_running(tmp_path):
    path = tmp_path / "out.txt"
    code = f"""
        import multiprocessing, os, queue, time
        import queuelink
        from queuelink._bridge import bridge_from

        manager = multiprocessing.Manager()
        managed = manager.Queue()
        local = queue.Queue()
        to_file = queue.Queue()
        mp_destination = multiprocessing.Queue()
        link = queuelink.QueueLink(managed, [mp_destination, queuelink.Queue()])
        link.read(local)
        file_link = queuelink.link(to_file, {str(path)!r})
        lone_queue, lone_bridge = bridge_from(queue.SimpleQueue(), name='lone')
        read_end, write_end = os.pipe()
        reader = queuelink.QueueHandleAdapterReader(queuelink.Queue(), handle=read_end)
        for index in range(1000):
            to_file.put(f'{{index}}\\n')
            local.put(index)
        managed.put('managed')
        print('ready', flush=True)
        # Exit without closing anything.
    """
    process = subprocess.Popen(
        python_command(textwrap.dedent(code)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CHILD_ENV
    )
    try:
        assert process.stdout.readline() == "ready\n"
        ready = time.monotonic()
        output, errors = process.communicate(timeout=30)
        exit_seconds = time.monotonic() - ready
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, errors
    assert errors == ""
    assert exit_seconds < 5
    assert path.read_text() == "".join(f"{index}\n" for index in range(1000))


def test_exit_prompt_with_full_destinations():
    code = """
        import multiprocessing, queue
        import queuelink
        source, full = queuelink.Queue(), queue.Queue(maxsize=1)
        link = queuelink.QueueLink(source, [full, queuelink.Queue(maxsize=1)])
        stuck_source = queue.Queue()
        other = queuelink.QueueLink(stuck_source, multiprocessing.Queue(maxsize=1))
        for index in range(500):
            source.put(index)
            stuck_source.put(index)
        print('ready', flush=True)
    """
    process = subprocess.Popen(
        python_command(textwrap.dedent(code)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CHILD_ENV
    )
    try:
        assert process.stdout.readline() == "ready\n"
        ready = time.monotonic()
        output, errors = process.communicate(timeout=30)
        exit_seconds = time.monotonic() - ready
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, errors
    # The objects share a budget of 3 seconds at exit.
    assert exit_seconds < 6
    # Nothing is printed: the items that found no room are logged, and the
    # application did not configure logging.
    assert errors == ""


# -- Ctrl-C ------------------------------------------------------------------------------------------


def test_ctrl_c_with_bridges_running():
    code = """
        import queue, sys, time
        import queuelink
        source = queue.Queue()
        destination = queuelink.Queue()
        link = queuelink.QueueLink(source, [destination, queue.Queue()])
        print('ready', flush=True)
        started = time.monotonic()
        try:
            destination.get()
        except KeyboardInterrupt:
            print('interrupted after %.3f s' % (time.monotonic() - started), flush=True)
            sys.exit(0)
        sys.exit(3)
    """
    process = subprocess.Popen(
        python_command(textwrap.dedent(code)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CHILD_ENV
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
    assert elapsed < 3


# -- engine log records ------------------------------------------------------------------------


def test_engine_logs_reach_logging_by_default():
    code = """
        import logging, sys, time
        logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(name)s %(levelname)s %(message)s')
        import queuelink
        source, destination = queuelink.Queue(), queuelink.Queue()
        link = queuelink.QueueLink(source, destination, name='logged')
        source.put('item')
        destination.get(timeout=10)
        source.shutdown()
        time.sleep(0.5)
        link.close()
    """
    result = run_script(code, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "queuelink.link INFO source closed, publisher ended link=logged source=1" in result.stdout
    # DEBUG records reach only loggers enabled for them.
    assert "publisher started" not in result.stdout


def test_engine_warnings_never_printed():
    code = """
        import time
        import queuelink
        source, destination = queuelink.Queue(), queuelink.Queue()
        link = queuelink.QueueLink(source, destination)
        destination.shutdown()
        source.put('skipped')
        time.sleep(0.3)
        print('done', flush=True)
    """
    result = run_script(code, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert result.stderr == ""

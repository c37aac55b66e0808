"""Scripts written for the pure-Python queuelink 2.3 run unchanged with this package.

Each script uses only the documented API of that library with standard
library and multiprocessing queues, as its users wrote it. The test writes
it to a file, runs it in a fresh interpreter, and compares its output.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from _helpers import CHILD_ENV

LINK_SCRIPT = '''
import multiprocessing
import os
import queue
import tempfile

from queuelink import link


def producer(q, count):
    for number in range(count):
        q.put({"number": number, "square": number * number})


def main():
    source = multiprocessing.Queue()
    to_thread = queue.Queue()
    to_process = multiprocessing.Queue()
    result = link(source, [to_thread, to_process], name="fan-out")

    worker = multiprocessing.Process(target=producer, args=(source, 100))
    worker.start()
    worker.join()

    from_thread = [to_thread.get(timeout=10) for _ in range(100)]
    from_process = [to_process.get(timeout=10) for _ in range(100)]
    print("thread", len(from_thread), sum(item["square"] for item in from_thread))
    print("process", len(from_process), from_process == from_thread)
    print("alive", result.is_alive())
    result.stop()
    result.close()
    print("alive after close", result.is_alive())

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "lines.txt")
        lines = queue.Queue()
        to_file = link(lines, path)
        for number in range(5):
            lines.put(f"line {number}\\n")
        to_file.close()
        with open(path) as handle:
            print(handle.read(), end="")

        read_back = queue.Queue()
        from_file = link(path, read_back)
        print([read_back.get(timeout=10) for _ in range(5)])
        from_file.close()

    try:
        link(queue.Queue(), (queue.Queue(), queue.Queue()))
    except TypeError:
        print("tuple rejected")
    try:
        link(queue.Queue(), [])
    except ValueError:
        print("empty list rejected")


if __name__ == "__main__":
    main()
'''

LINK_OUTPUT = """\
thread 100 328350
process 100 True
alive True
alive after close False
line 0
line 1
line 2
line 3
line 4
['line 0\\n', 'line 1\\n', 'line 2\\n', 'line 3\\n', 'line 4\\n']
tuple rejected
empty list rejected
"""

QUEUELINK_SCRIPT = '''
import multiprocessing
import queue

from queuelink import DIRECTION, QueueLink
from queuelink.exceptionhandler import ProcessNotStarted


def consumer(q, count, results):
    results.put(sum(q.get(timeout=10) for _ in range(count)))


def main():
    manager = multiprocessing.Manager()
    source = manager.JoinableQueue()
    link = QueueLink(name="example")
    try:
        link.is_alive()
    except ProcessNotStarted:
        print("not started")

    source_id = link.read(source)
    process_destination = multiprocessing.Queue()
    thread_destination = queue.Queue()
    process_id = link.write(process_destination)
    thread_id = link.register_queue(thread_destination, DIRECTION.TO)
    print("ids", source_id, process_id, thread_id)
    print("same queue", link.get_queue(source_id) is source)

    results = multiprocessing.Queue()
    worker = multiprocessing.Process(target=consumer, args=(process_destination, 200, results))
    worker.start()
    for number in range(200):
        source.put(number)
    source.join()
    print("joined")
    print("process sum", results.get(timeout=20))
    worker.join()
    print("thread sum", sum(thread_destination.get(timeout=10) for _ in range(200)))

    link.unregister_queue(thread_id, DIRECTION.TO)
    source.put("only the process queue")
    print(process_destination.get(timeout=10))
    print("thread queue empty", thread_destination.empty())

    metrics = link.get_metrics()
    print("moved", [element["count"] for element in metrics.values() if "count" in element])
    timing = [element for element in metrics.values() if "mean" in element]
    print("timing keys", sorted(timing[0]))

    try:
        link.write(process_destination)
    except ValueError:
        print("duplicate rejected")

    print("alive", link.is_alive())
    link.stop()
    print("alive after stop", link.is_alive())
    link.close()
    manager.shutdown()


if __name__ == "__main__":
    main()
'''

QUEUELINK_OUTPUT = """\
not started
ids 1 2 3
same queue True
joined
process sum 19900
thread sum 19900
only the process queue
thread queue empty True
moved [201]
timing keys ['data_point_count', 'mean', 'median', 'name', 'stddev']
duplicate rejected
alive True
alive after stop False
"""


@pytest.mark.parametrize(
    ("script", "expected"),
    [(LINK_SCRIPT, LINK_OUTPUT), (QUEUELINK_SCRIPT, QUEUELINK_OUTPUT)],
    ids=["link", "QueueLink"],
)
def test_original_script_output(tmp_path, script, expected):
    path = tmp_path / "original_script.py"
    path.write_text(textwrap.dedent(script))
    result = subprocess.run(
        [sys.executable, str(path)],
        capture_output=True,
        text=True,
        timeout=90,
        env=CHILD_ENV,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected
    assert result.stderr == ""

"""Scripts written for the pure-Python queuelink 2.3, using only its
documented API with standard-library queues, run unchanged with this
package and print what they printed there."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from _helpers import CHILD_ENV

READER_SCRIPT = textwrap.dedent(
    """
    import multiprocessing
    import subprocess
    import sys
    import time

    from queuelink import ContentWrapper, QueueHandleAdapterReader, WRAP_WHEN, safe_get


    def main():
        lines = multiprocessing.Queue()
        proc = subprocess.Popen(
            [sys.executable, "-c", "for i in range(5): print('line', i)"],
            stdout=subprocess.PIPE,
            text=True,
        )
        reader = QueueHandleAdapterReader(queue=lines, handle=proc.stdout, name="script-reader")
        received = [safe_get(lines, timeout=10) for _ in range(5)]
        proc.wait()
        while reader.is_alive():
            time.sleep(0.01)
        print("processed", reader.get_messages_processed())
        print("drained", reader.is_drained())
        reader.close()
        print("".join(received), end="")

        long_lines = multiprocessing.Queue()
        proc = subprocess.Popen(
            [sys.executable, "-c", "print('short'); print('x' * 300)"],
            stdout=subprocess.PIPE,
        )
        reader = QueueHandleAdapterReader(
            long_lines, handle=proc.stdout, wrap_when=WRAP_WHEN.AUTO, wrap_threshold=100
        )
        short, long = safe_get(long_lines, timeout=10), safe_get(long_lines, timeout=10)
        proc.wait()
        reader.close()
        print(type(short).__name__, short)
        print(isinstance(long, ContentWrapper), len(long.value), long.value[:3])


    if __name__ == "__main__":
        main()
    """
)

READER_OUTPUT = (
    "processed 5\n"
    "drained True\n"
    "line 0\nline 1\nline 2\nline 3\nline 4\n"
    "bytes b'short\\n'\n"
    "True 301 b'xxx'\n"
)

WRITER_SCRIPT = textwrap.dedent(
    """
    import multiprocessing
    import queue
    import sys
    import time

    from queuelink import QueueHandleAdapterWriter


    def main(directory):
        plain = queue.Queue()
        writer = QueueHandleAdapterWriter(plain, handle=directory + "/plain.txt", name="script-writer")
        for index in range(3):
            plain.put(f"line {index}\\n")
        plain.put(b"bytes line\\n")
        while not writer.is_drained():
            time.sleep(0.01)
        print("processed", writer.get_messages_processed())
        writer.close()
        with open(directory + "/plain.txt") as file:
            print(file.read(), end="")

        joinable = multiprocessing.JoinableQueue()
        with open(directory + "/joined.txt", "w") as handle:
            writer = QueueHandleAdapterWriter(joinable)
            writer.set_handle(handle)
            for index in range(3):
                joinable.put(f"joined {index}\\n")
            joinable.join()
            writer.close()
        with open(directory + "/joined.txt") as file:
            print(file.read(), end="")


    if __name__ == "__main__":
        main(sys.argv[1])
    """
)

WRITER_OUTPUT = "processed 4\nline 0\nline 1\nline 2\nbytes line\njoined 0\njoined 1\njoined 2\n"


def run_script(tmp_path, source: str, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(source)
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=CHILD_ENV,
    )


def test_reader_script_runs_unchanged(tmp_path):
    result = run_script(tmp_path, READER_SCRIPT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == READER_OUTPUT
    assert result.stderr == ""


def test_writer_script_runs_unchanged(tmp_path):
    result = run_script(tmp_path, WRITER_SCRIPT, str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == WRITER_OUTPUT
    assert result.stderr == ""

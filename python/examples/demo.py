#!/usr/bin/env python3
"""Stream a command's output through QueueLink and check that nothing changed.

Usage: demo.py [--timeout SECONDS] [COMMAND [ARG ...]]

Runs COMMAND (by default ``find /usr``, which lists every path under /usr)
once, with its output going through ``tee``: tee saves an exact copy to a
capture file and passes the same bytes on through a pipe. From that pipe:

    reader (bytes, one message per line) -> source queue -> QueueLink
        -> queue -> writer -> output file
        -> queue -> consumer thread in Python (counts messages and bytes)

The demo waits until the reader reached end of file and the consumer and
the writer have each handled as many messages as the reader put, stops
everything, and compares the output file with the capture by SHA-256. It
prints the counts, the result, the throughput and the link's metrics, and
exits with status 1 when any check fails or the deadline passes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

# Run from a checkout without installing: the package is one folder up.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import queuelink  # noqa: E402 - needs the path above

DEFAULT_COMMAND = ["find", "/usr"]


class Consumer(threading.Thread):
    """Takes every message from a queue and counts messages and bytes."""

    def __init__(self, source: queuelink.Queue) -> None:
        super().__init__(name="demo-consumer", daemon=True)
        self.source = source
        self.messages = 0
        self.bytes = 0
        self._stop_requested = threading.Event()

    def run(self) -> None:
        while not self._stop_requested.is_set():
            try:
                item = self.source.get(timeout=0.1)
            except queue.Empty:
                continue
            self.messages += 1
            self.bytes += len(item)

    def stop(self) -> None:
        self._stop_requested.set()
        self.join(timeout=5)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def count_lines(path: str) -> int:
    """Return the number of lines, counting a last line without a newline."""
    lines = 0
    last = b"\n"
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (0 if last == b"\n" else 1)


def wait_for(condition: Any, deadline: float) -> bool:
    """Poll condition every 10 ms until it is true or the deadline passes."""
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def format_metrics(metrics: dict[str, dict[str, Any]]) -> str:
    if not metrics:
        return "  (none)"
    lines = []
    for element_id, values in sorted(metrics.items()):
        details = ", ".join(
            f"{key}={value:.6f}" if isinstance(value, float) else f"{key}={value}"
            for key, value in values.items()
            if key != "name"
        )
        lines.append(f"  {values['name']} [{element_id}]: {details}")
    return "\n".join(lines)


def run(command: list[str], timeout: float) -> int:
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="queuelink-demo-") as directory:
        capture_path = os.path.join(directory, "command-output")
        written_path = os.path.join(directory, "writer-output")

        source = queuelink.Queue()
        to_file = queuelink.Queue()
        to_consumer = queuelink.Queue()
        queue_link = queuelink.QueueLink(source, [to_file, to_consumer], name="demo")
        writer = queuelink.QueueHandleAdapterWriter(to_file, handle=written_path, name="demo-writer")
        consumer = Consumer(to_consumer)
        consumer.start()

        started = time.monotonic()
        deadline = started + timeout
        try:
            command_process = subprocess.Popen(command, stdout=subprocess.PIPE)
        except OSError as error:
            print(f"FAILED: cannot run {' '.join(command)}: {error}", file=sys.stderr)
            consumer.stop()
            writer.close()
            queue_link.close()
            return 1
        tee_process = subprocess.Popen(
            ["tee", capture_path], stdin=command_process.stdout, stdout=subprocess.PIPE
        )
        # Only tee reads the command's output now.
        command_process.stdout.close()
        reader = queuelink.QueueHandleAdapterReader(
            source, handle=tee_process.stdout.fileno(), name="demo-reader"
        )
        # The reader reads its own copy of the descriptor.
        tee_process.stdout.close()

        reader_ended = reader.wait(timeout=max(0.0, deadline - time.monotonic()))
        if not reader_ended:
            failures.append(f"the reader did not reach end of file within {timeout:g} s")
        reader_count = reader.get_messages_processed()

        all_handled = wait_for(
            lambda: consumer.messages == reader_count
            and writer.get_messages_processed() == reader_count,
            deadline,
        )
        elapsed = time.monotonic() - started
        if not all_handled:
            failures.append(
                f"within {timeout:g} s the consumer took {consumer.messages} and the "
                f"writer wrote {writer.get_messages_processed()} of {reader_count} messages"
            )

        metrics = queue_link.get_metrics()
        reader.close()
        queue_link.close()
        writer.close()
        consumer.stop()
        writer_count = writer.get_messages_processed()
        for process in (command_process, tee_process):
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                failures.append(f"{process.args[0]} did not exit before the deadline")
        for queue_obj in (source, to_file, to_consumer):
            queue_obj.close()

        # The writer creates its file with the first message, so a command
        # without output leaves no file, which stands for empty output.
        if not os.path.exists(written_path):
            open(written_path, "wb").close()
        capture_size = os.path.getsize(capture_path)
        written_size = os.path.getsize(written_path)
        capture_hash = sha256_of(capture_path)
        written_hash = sha256_of(written_path)
        capture_lines = count_lines(capture_path)

    identical = capture_hash == written_hash and capture_size == written_size
    if not identical:
        failures.append("the file the writer wrote differs from the command output")
    if reader_count != capture_lines:
        failures.append(f"the reader put {reader_count} messages for {capture_lines} lines of output")
    if consumer.messages != reader_count:
        failures.append(f"the consumer took {consumer.messages} of {reader_count} messages")
    if consumer.bytes != capture_size:
        failures.append(f"the consumer counted {consumer.bytes} of {capture_size} bytes")
    if writer_count != reader_count:
        failures.append(f"the writer wrote {writer_count} of {reader_count} messages")

    rate = reader_count / elapsed if elapsed > 0 else 0.0
    print(f"command:         {' '.join(command)} (exit status {command_process.returncode})")
    print(f"lines:           {capture_lines} in the command output")
    print(f"messages:        reader {reader_count}, consumer {consumer.messages}, writer {writer_count}")
    print(f"bytes:           command output {capture_size}, consumer {consumer.bytes}, file written {written_size}")
    print(f"byte-identical:  {'yes' if identical else 'NO'} (sha256 {capture_hash} vs {written_hash})")
    print(f"throughput:      {rate:,.0f} lines/s ({reader_count} lines in {elapsed:.2f} s)")
    print("link metrics:")
    print(format_metrics(metrics))

    if failures:
        for failure in failures:
            print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the whole run before failing (default: 300)",
    )
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        help=f"command whose output to stream (default: {' '.join(DEFAULT_COMMAND)})",
    )
    args = parser.parse_args(argv)
    return run(args.command or DEFAULT_COMMAND, args.timeout)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

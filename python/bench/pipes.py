#!/usr/bin/env python3
"""Read a subprocess's output line by line into Python, and copy a file with cat.

Usage: pipes.py [--runs R] [--payload BYTES]... [--lines N] [--max-bytes B]

Cases, with lines of BYTES bytes each, the newline included:

    reader        a child process prints N lines -> queuelink reader ->
                  queuelink.Queue -> consumer, one get() per line
    reader-batch  the same, with the consumer taking 64 lines per get_many()
    readline      a child process prints N lines -> Python thread iterating
                  over the pipe -> queue.Queue -> the same consumer
    cat           ``cat INPUT > OUTPUT`` on a file of about 32 MiB of lines
                  of BYTES bytes, the same file as bindings/c/bench.c's copy
                  case, whose baseline it is

The three pipe cases print lines per second, from the consumer's first
line (or first batch) to its last, so that starting the child process is
not counted. N is lowered so that the lines hold at most B bytes (64 MiB
by default). cat prints file bytes per second, from starting
cat to its exit. Every queue is bounded at 10000 lines. The median of R
runs is printed, the cases taking turns within each run. Output rows are
described in common.py.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable

import common
import queuelink

# The child process prints argv[2] lines of argv[1] bytes each, in large
# writes, so that it is never the slowest part of the pipeline.
GENERATOR = r"""
import sys
size, count = int(sys.argv[1]), int(sys.argv[2])
line = b"y" * (size - 1) + b"\n"
per_write = max(1, 65536 // size)
chunk = line * per_write
write = sys.stdout.buffer.write
for _ in range(count // per_write):
    write(chunk)
write(line * (count % per_write))
"""

# Size of cat's input file, as bindings/c/bench.c's copy case makes it.
COPY_FILE_BYTES = 32 * 1024 * 1024


def start_generator(size: int, count: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", GENERATOR, str(size), str(count)], stdout=subprocess.PIPE)


def consume_lines(get: Callable[[], Any], count: int) -> tuple[int, float]:
    """Get count lines one by one; return their total length and the time
    the first one arrived."""
    total = len(get())
    first = time.perf_counter()
    for _ in range(count - 1):
        total += len(get())
    return total, first


def finish(child: subprocess.Popen, total: int, size: int, count: int) -> None:
    """Wait for the child and check that every line arrived whole."""
    child.stdout.close()
    if child.wait(timeout=common.WAIT_TIMEOUT) != 0:
        raise RuntimeError(f"the line generator exited with status {child.returncode}")
    if total != size * count:
        raise RuntimeError(f"{total} bytes of lines arrived, expected {size * count}")


def run_reader(size: int, count: int) -> tuple[int, float]:
    """Pass count lines through a queuelink reader; return the lines after
    the first and the seconds they took."""
    lines = queuelink.Queue(common.QUEUE_BOUND)
    get = lines.get
    child = start_generator(size, count)
    reader = queuelink.QueueHandleAdapterReader(lines, handle=child.stdout)
    total, first = consume_lines(lambda: get(timeout=common.WAIT_TIMEOUT), count)
    elapsed = common.elapsed_since(first)
    reader.close()
    finish(child, total, size, count)
    lines.close()
    return count - 1, elapsed


def run_reader_batch(size: int, count: int) -> tuple[int, float]:
    """Pass count lines through a queuelink reader to a consumer that takes
    64 at a time with get_many(). Return the lines after the first batch
    and the seconds they took."""
    lines = queuelink.Queue(common.QUEUE_BOUND)
    get_many = lines.get_many
    child = start_generator(size, count)
    reader = queuelink.QueueHandleAdapterReader(lines, handle=child.stdout)
    batch = get_many(common.BATCH, timeout=common.WAIT_TIMEOUT)
    first = time.perf_counter()
    first_batch = received = len(batch)
    total = sum(map(len, batch))
    while received < count:
        batch = get_many(common.BATCH, timeout=common.WAIT_TIMEOUT)
        received += len(batch)
        total += sum(map(len, batch))
    elapsed = common.elapsed_since(first)
    reader.close()
    finish(child, total, size, count)
    lines.close()
    return count - first_batch, elapsed


def run_readline(size: int, count: int) -> tuple[int, float]:
    """Pass count lines through a Python readline loop; return the lines
    after the first and the seconds they took."""
    lines: queue.Queue = queue.Queue(common.QUEUE_BOUND)
    get = lines.get
    child = start_generator(size, count)

    def read() -> None:
        put = lines.put
        for line in child.stdout:
            put(line)

    reader = threading.Thread(target=read, name="readline", daemon=True)
    reader.start()
    total, first = consume_lines(lambda: get(timeout=common.WAIT_TIMEOUT), count)
    elapsed = common.elapsed_since(first)
    reader.join(timeout=common.WAIT_TIMEOUT)
    finish(child, total, size, count)
    return count - 1, elapsed


PIPE_CASES: dict[str, Callable[[int, int], tuple[int, float]]] = {
    "reader": run_reader,
    "reader-batch": run_reader_batch,
    "readline": run_readline,
}


def write_copy_input(path: str, size: int) -> int:
    """Write COPY_FILE_BYTES of lines of size bytes to path; return its size."""
    count = max(1, COPY_FILE_BYTES // size)
    line = b"z" * (size - 1) + b"\n"
    with open(path, "wb") as out:
        for start in range(0, count, 1024):
            out.write(line * min(1024, count - start))
    return count * size


def run_cat(source: str, target: str) -> float:
    """Return the seconds that ``cat source > target`` takes."""
    with open(target, "wb") as out:
        started = time.perf_counter()
        subprocess.run(["cat", source], stdout=out, check=True)
        return common.elapsed_since(started)


def measure_size(size: int, selected: set[str], args: argparse.Namespace, workdir: str) -> list[common.Row]:
    """Return the rows of the selected cases at one line size."""
    count = max(1, min(args.lines, args.max_bytes // size))
    pipe_cases = {name: run for name, run in PIPE_CASES.items() if name in selected}
    rates: dict[str, list[float]] = {name: [] for name in pipe_cases}
    copy_rates: list[float] = []
    source = os.path.join(workdir, f"lines-{size}")
    target = os.path.join(workdir, f"copy-{size}")
    if "cat" in selected:
        file_bytes = write_copy_input(source, size)

    for _ in range(args.runs):
        for name, run in pipe_cases.items():
            timed, seconds = run(size, count)
            rates[name].append(timed / max(seconds, 1e-9))
        if "cat" in selected:
            copy_rates.append(file_bytes / run_cat(source, target))
            if not filecmp.cmp(source, target, shallow=False):
                raise RuntimeError(f"cat's copy {target} differs from {source}")

    rows = [common.make_row(name, size, "lines/s", runs) for name, runs in rates.items()]
    if "cat" in selected:
        rows.append(common.make_row("cat", size, "B/s", copy_rates))
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=common.positive_int, default=3, help="runs per case; the median is reported (default: 3)"
    )
    parser.add_argument(
        "--payload",
        type=common.positive_int,
        action="append",
        help="line length in bytes, the newline included; repeat for several (default: 40 and 4096)",
    )
    parser.add_argument(
        "--lines", type=common.positive_int, default=1_000_000, help="lines per run (default: 1000000)"
    )
    parser.add_argument(
        "--max-bytes",
        type=common.positive_int,
        default=64 * 1024 * 1024,
        help="most bytes of lines per run; longer lines make fewer lines (default: 64 MiB)",
    )
    parser.add_argument(
        "--case",
        action="append",
        choices=sorted(PIPE_CASES) + ["cat"],
        help="run only this case; repeat for several (default: all)",
    )
    args = parser.parse_args(argv)
    selected = set(args.case or list(PIPE_CASES) + ["cat"])

    print(f"# case\tpayload_bytes\tunit\tmedian\truns ({args.runs})", flush=True)
    with tempfile.TemporaryDirectory(prefix="queuelink-bench-") as workdir:
        for size in common.payload_sizes(args):
            for row in measure_size(size, selected, args, workdir):
                common.print_row(row)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Measuring, sizing and output shared by the Python benchmarks of this folder.

Every benchmark prints its figures as the C benchmarks in bindings/c do,
one tab-separated row per figure::

    case <TAB> payload bytes <TAB> unit <TAB> median <TAB> run,run,...

Lines that start with ``#`` are comments for a person reading the output.
run_all.py reads these rows from every benchmark and builds one table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable, NamedTuple

# Run from a checkout without installing: the package is one folder up.
PYTHON_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

# Payload sizes that every case runs with, in bytes.
PAYLOAD_SIZES = (40, 4096)

# Bound of every queue and zmq high-water mark, as in bindings/c/bench_util.h.
QUEUE_BOUND = 10_000

# Items per batch call, as in bindings/c/bench.c.
BATCH = 64

# Seconds that a blocking get or put may wait before a run counts as failed.
WAIT_TIMEOUT = 30.0


class Row(NamedTuple):
    """The figure of one case at one payload size, over several runs."""

    case: str
    payload: int
    unit: str
    median: float
    runs: tuple[float, ...]

    def format(self) -> str:
        """Return the row as the tab-separated line that run_all.py reads."""
        runs = ",".join(f"{value:.6g}" for value in self.runs)
        return f"{self.case}\t{self.payload}\t{self.unit}\t{self.median:.6g}\t{runs}"


def make_row(case: str, payload: int, unit: str, runs: list[float]) -> Row:
    """Return the row of a case whose runs gave the values in runs."""
    return Row(case, payload, unit, statistics.median(runs), tuple(runs))


def parse_row(line: str) -> Row | None:
    """Return the row that a benchmark printed on line, or None for a comment
    or blank line. Raises ValueError for a line that is neither."""
    line = line.rstrip("\n")
    if not line.strip() or line.startswith("#"):
        return None
    fields = line.split("\t")
    if len(fields) != 5:
        raise ValueError(f"expected 5 tab-separated fields, got {len(fields)}: {line!r}")
    case, payload, unit, median, runs = fields
    return Row(case, int(payload), unit, float(median), tuple(float(value) for value in runs.split(",")))


def print_row(row: Row) -> None:
    print(row.format(), flush=True)


def payload_of(size: int) -> bytes:
    """Return a bytes payload of size bytes."""
    return b"x" * size


def sized_count(run: Callable[[int], float], seconds: float, minimum: int, maximum: int) -> int:
    """Return how many messages make a run of about seconds, from a short run.

    run(count) moves count messages and returns the seconds it took. The
    short run moves minimum messages and also warms up the code path.
    """
    elapsed = run(minimum)
    rate = minimum / max(elapsed, 1e-9)
    return int(min(max(rate * seconds, minimum), maximum))


def elapsed_since(started: float) -> float:
    return time.perf_counter() - started


def positive_int(text: str) -> int:
    """Parse a positive integer argument; for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not positive: it must be at least 1")
    return value


def positive_float(text: str) -> float:
    """Parse a positive number argument; for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    return value


def add_common_arguments(parser: argparse.ArgumentParser, default_seconds: float) -> None:
    """Add --runs, --seconds and --payload, which every benchmark here takes."""
    parser.add_argument(
        "--runs", type=positive_int, default=3, help="runs per case; the median is reported (default: 3)"
    )
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=default_seconds,
        help=f"target duration of one run in seconds, which sizes its message count (default: {default_seconds})",
    )
    parser.add_argument(
        "--payload",
        type=positive_int,
        action="append",
        help="payload size in bytes; repeat for several (default: 40 and 4096)",
    )


def payload_sizes(args: argparse.Namespace) -> tuple[int, ...]:
    """Return the payload sizes that args select."""
    return tuple(args.payload) if args.payload else PAYLOAD_SIZES

#!/usr/bin/env python3
"""Run every QueueLink benchmark and its baseline, and print one table.

Usage: run_all.py [--runs R] [--build DIR] [--go GO] [--save FILE]

`make bench` builds what this needs, installs the baselines (libzmq and
pyzmq) and runs it. It runs R rounds, 3 by default, and each round runs
every benchmark once. So QueueLink and its baselines take turns, and a
change in the machine's load during the measurement hits both. Each figure
in the table is the median of the R rounds, next to its baseline's median
and their ratio:

- Go (core/bench_test.go, through a test binary built here): a link of
  bounded engine queues against a goroutine pumping between two buffered
  channels of the same capacity, and the live heap per queued message.
- C (build/bench against build/bench_zmq): put then get in one thread, a
  stream through a link against a stream through a zmq forwarding thread,
  round-trip latency, and a file copy through a reader and a writer.
- Python (streaming.py, pipes.py, memory.py in this folder): streams, round
  trips, a subprocess's lines, the cat baseline of the file copy, and the
  resident memory of a million queued messages.

The table is Markdown. Progress goes to stderr. The exit status is 1 when a
benchmark failed, whose figures then read "n/a"; a missed target does not
change it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Iterable, NamedTuple

import common

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(BENCH_DIR, os.pardir, os.pardir))

# Seconds that one benchmark process may take before it counts as failed.
STEP_TIMEOUT = 300

# Go benchmarks: the name's first part and payload size give the case.
GO_CASES = {
    "BenchmarkLinkThroughput": "go-link",
    "BenchmarkLinkThroughputBatch": "go-link-batch",
    "BenchmarkChannelPump": "go-channel-pump",
    "BenchmarkQueueMemory": "go-queue-heap",
    "BenchmarkChannelMemory": "go-channel-heap",
}
GO_LINE = re.compile(r"^(Benchmark\w+)(?:/payload=(\d+))?(?:-\d+)?\s+\d+\s+(.*)$")
GO_MEMORY_PAYLOAD = 100  # memoryPayloadSize in core/bench_test.go


class Comparison(NamedTuple):
    """A row of the table: a QueueLink case against a baseline case."""

    group: str
    measure: str
    case: str
    baseline_name: str
    baseline_case: str
    higher_is_better: bool
    target: float | None = None  # the ratio to reach, if the row has a target


COMPARISONS = [
    Comparison("1 Go engine", "link, one Put and Get per message", "go-link",
               "goroutine pumping between two channels", "go-channel-pump", True, 0.5),
    Comparison("1 Go engine", "link, PutBatch and GetBatch of 64", "go-link-batch",
               "goroutine pumping between two channels", "go-channel-pump", True),
    Comparison("2 C", "one thread: put, then get", "putget",
               "libzmq inproc PUSH/PULL, send then receive", "pushpull", True, 1.0),
    Comparison("2 C", "one thread: two empty calls into the library per message", "calls",
               "libzmq inproc PUSH/PULL, send then receive", "pushpull", True),
    Comparison("2 C", "producer thread -> link -> consumer, one call per message", "link",
               "libzmq PUSH -> forwarding thread -> PULL", "forward", True),
    Comparison("2 C", "producer thread -> link -> consumer, 64 per batch call", "link-batch",
               "libzmq PUSH -> forwarding thread -> PULL", "forward", True),
    Comparison("3 Python", "producer thread -> link -> consumer, one call per message", "py-link",
               "pump thread between two queue.Queue", "py-pump", True, 2.0),
    Comparison("3 Python", "producer thread -> link -> consumer, put_many/get_many of 64", "py-link-batch",
               "pyzmq inproc PUSH/PULL", "pyzmq", True, 2.0),
    Comparison("3 Python", "producer thread -> link -> consumer, one call per message", "py-link",
               "pyzmq inproc PUSH/PULL", "pyzmq", True),
    Comparison("3 Python", "producer thread -> link -> consumer, put_many/get_many of 64", "py-link-batch",
               "pump thread between two queue.Queue", "py-pump", True),
    Comparison("4 Latency", "Python round trip through two links, p50", "py-rtt-p50",
               "pyzmq inproc PAIR ping-pong, p50", "pyzmq-rtt-p50", False),
    Comparison("4 Latency", "Python round trip through two links, p99", "py-rtt-p99",
               "pyzmq inproc PAIR ping-pong, p99", "pyzmq-rtt-p99", False),
    Comparison("4 Latency", "C round trip through two links, p50", "rtt-p50",
               "libzmq inproc PAIR ping-pong, p50", "zmq-rtt-p50", False),
    Comparison("4 Latency", "C round trip through two links, p99", "rtt-p99",
               "libzmq inproc PAIR ping-pong, p99", "zmq-rtt-p99", False),
    Comparison("5 Pipes and files", "child's stdout -> reader -> consumer, one get() per line", "reader",
               "readline loop thread -> queue.Queue -> the same consumer", "readline", True, 10.0),
    Comparison("5 Pipes and files", "child's stdout -> reader -> consumer, get_many of 64 lines",
               "reader-batch", "readline loop thread -> queue.Queue -> one get() per line", "readline", True),
    Comparison("5 Pipes and files", "file -> reader -> queue -> writer -> file (C)", "copy",
               "cat file > out", "cat", True),
    Comparison("6 Memory", "resident set growth, 1M messages in a queuelink.Queue", "memory-engine",
               "the same in a queue.Queue", "memory-queue", False, 1.0),
    Comparison("6 Memory", "Go live heap, 1M messages in an engine queue", "go-queue-heap",
               "the same in a buffered channel", "go-channel-heap", False),
]


class Step(NamedTuple):
    """One benchmark process of a round."""

    name: str
    argv: list[str]
    parse: str  # "rows" for common.Row lines, "go" for go test output


def build_steps(args: argparse.Namespace, go_test_binary: str) -> list[Step]:
    python = sys.executable
    go_bench = [go_test_binary, "-test.run", "^$", "-test.count", "1"]
    return [
        Step("Go throughput", go_bench + ["-test.bench", "Link|ChannelPump", "-test.benchtime", "0.5s"], "go"),
        Step("Go heap", go_bench + ["-test.bench", "Memory", "-test.benchtime", "1x"], "go"),
        Step("C, libqueuelink", [os.path.join(args.build, "bench"), "-r", "1"], "rows"),
        Step("C, libzmq", [os.path.join(args.build, "bench_zmq"), "-r", "1"], "rows"),
        Step("Python streams and round trips", [python, os.path.join(BENCH_DIR, "streaming.py"), "--runs", "1"], "rows"),
        Step("Python pipes and cat", [python, os.path.join(BENCH_DIR, "pipes.py"), "--runs", "1"], "rows"),
        Step("Python memory", [python, os.path.join(BENCH_DIR, "memory.py"), "--runs", "1"], "rows"),
    ]


def parse_go(output: str) -> list[common.Row]:
    """Return rows for the go test benchmark lines in output."""
    rows = []
    for line in output.splitlines():
        match = GO_LINE.match(line)
        if not match or match.group(1) not in GO_CASES:
            continue
        name, payload, metrics = match.groups()
        case = GO_CASES[name]
        fields = metrics.split()
        values = {unit: float(value) for value, unit in zip(fields[::2], fields[1::2])}
        if "heap-B/msg" in values:
            rows.append(common.Row(case, GO_MEMORY_PAYLOAD, "B/msg", values["heap-B/msg"], (values["heap-B/msg"],)))
        elif "ns/op" in values:
            rate = 1e9 / values["ns/op"]
            rows.append(common.Row(case, int(payload or 0), "msg/s", rate, (rate,)))
    return rows


def parse_rows(output: str, step: str) -> tuple[list[common.Row], list[str]]:
    """Return the rows and the comment lines of a benchmark's output."""
    rows = []
    comments = []
    for line in output.splitlines():
        if line.startswith("#") and not line.startswith("# case"):
            comments.append(line[1:].strip())
            continue
        try:
            row = common.parse_row(line)
        except ValueError as error:
            raise RuntimeError(f"{step} printed an unreadable line: {error}") from None
        if row is not None:
            rows.append(row)
    return rows, comments


def rename_zmq_rows(rows: Iterable[common.Row]) -> list[common.Row]:
    """Give bench_zmq's rtt rows names of their own; bench has rtt rows too."""
    return [row._replace(case="zmq-" + row.case) if row.case.startswith("rtt") else row for row in rows]


def run_step(step: Step) -> tuple[list[common.Row], list[str]]:
    """Run one benchmark process and return its rows and comments."""
    result = subprocess.run(step.argv, capture_output=True, text=True, timeout=STEP_TIMEOUT, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(
            f"{step.name} failed with status {result.returncode}: {shlex.join(step.argv)}\n{result.stderr.strip()}"
        )
    if step.parse == "go":
        rows = parse_go(result.stdout)
        if not rows:
            raise RuntimeError(f"{step.name} printed no benchmark results:\n{result.stdout}{result.stderr}")
        return rows, []
    rows, comments = parse_rows(result.stdout, step.name)
    if step.argv[0].endswith("bench_zmq"):
        rows = rename_zmq_rows(rows)
    return rows, comments


def build_go_test_binary(go: str, directory: str) -> str:
    binary = os.path.join(directory, "core.test")
    subprocess.run([go, "test", "-c", "-o", binary, "./core"], cwd=ROOT, check=True, timeout=STEP_TIMEOUT)
    return binary


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "B/s":
        return f"{value / 1e6:,.1f} MB/s"
    if unit == "us":
        return f"{value:,.1f} µs"
    if unit == "B/msg":
        return f"{value:,.0f} B/msg"
    if value >= 1e6:
        return f"{value / 1e6:,.2f} M {unit}"
    return f"{value / 1e3:,.1f} k {unit}"


def format_payload(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 and size % 1024 == 0 else f"{size} B"


def target_text(comparison: Comparison, ratio: float | None) -> str:
    if comparison.target is None:
        return ""
    sign = ">=" if comparison.higher_is_better else "<="
    if ratio is None:
        return f"{sign} {comparison.target:g}x: n/a"
    met = ratio >= comparison.target if comparison.higher_is_better else ratio <= comparison.target
    return f"{sign} {comparison.target:g}x: {'PASS' if met else 'MISS'}"


def table_lines(medians: dict[tuple[str, int], float], units: dict[str, str]) -> list[str]:
    lines = [
        "| group | QueueLink case | payload | QueueLink | baseline case | baseline | ratio | better | target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for comparison in COMPARISONS:
        payloads = sorted(
            {payload for case, payload in medians if case in (comparison.case, comparison.baseline_case)}
        ) or [0]
        for payload in payloads:
            unit = units.get(comparison.case) or units.get(comparison.baseline_case, "")
            value = medians.get((comparison.case, payload))
            baseline = medians.get((comparison.baseline_case, payload))
            ratio = value / baseline if value is not None and baseline else None
            lines.append(
                "| "
                + " | ".join(
                    [
                        comparison.group,
                        comparison.measure,
                        format_payload(payload) if payload else "n/a",
                        format_value(value, unit),
                        comparison.baseline_name,
                        format_value(baseline, unit),
                        "n/a" if ratio is None else f"{ratio:.2f}x",
                        "higher" if comparison.higher_is_better else "lower",
                        target_text(comparison, ratio),
                    ]
                )
                + " |"
            )
    return lines


def machine_description() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}"


def tool_versions(go: str) -> str:
    go_version = subprocess.run([go, "version"], capture_output=True, text=True).stdout.strip()
    return f"{go_version}; Python {platform.python_version()}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=common.positive_int, default=3, help="rounds; each figure is their median (default: 3)"
    )
    parser.add_argument(
        "--build",
        default=os.path.join(ROOT, "build"),
        help="directory of the built bench and bench_zmq programs (default: build/ of the checkout)",
    )
    parser.add_argument("--go", default="go", help="the go command (default: go)")
    parser.add_argument("--save", metavar="FILE", help="also write every run's figures to FILE as rows")
    args = parser.parse_args(argv)

    for program in ("bench", "bench_zmq"):
        path = os.path.join(args.build, program)
        if not os.access(path, os.X_OK):
            parser.error(f"{path} is missing; run `make bench` from {ROOT} to build it")
    try:
        import zmq  # noqa: F401 - only checked here
    except ImportError:
        parser.error("pyzmq is not installed; run `make bench`, or `python3 -m pip install pyzmq`")

    load_before = os.getloadavg()[0]
    started = time.monotonic()
    values: dict[tuple[str, int], list[float]] = {}
    units: dict[str, str] = {}
    comments: list[str] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="queuelink-bench-") as workdir:
        print("building the Go test binary", file=sys.stderr, flush=True)
        steps = build_steps(args, build_go_test_binary(args.go, workdir))
        for round_number in range(1, args.runs + 1):
            for step in steps:
                print(
                    f"round {round_number}/{args.runs}: {step.name} ({time.monotonic() - started:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
                try:
                    rows, step_comments = run_step(step)
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    failures.append(str(error))
                    print(f"FAILED: {error}", file=sys.stderr, flush=True)
                    continue
                for row in rows:
                    values.setdefault((row.case, row.payload), []).extend(row.runs)
                    units[row.case] = row.unit
                comments.extend(c for c in step_comments if c not in comments)

    medians = {key: statistics.median(runs) for key, runs in values.items()}
    elapsed = time.monotonic() - started
    print(f"QueueLink benchmarks, {datetime.date.today().isoformat()}, {machine_description()}")
    print(f"{tool_versions(args.go)}; {'; '.join(comments)}")
    print(
        f"Each figure is the median of {args.runs} rounds; ratio = QueueLink / baseline; took {elapsed:.0f} s; "
        f"1-minute load average {load_before:.2f} before and {os.getloadavg()[0]:.2f} after."
    )
    print()
    for line in table_lines(medians, units):
        print(line)
    if args.save:
        with open(args.save, "w", encoding="utf-8") as out:
            for (case, payload), runs in sorted(values.items()):
                out.write(common.make_row(case, payload, units[case], runs).format() + "\n")
    if failures:
        print(f"\n{len(failures)} benchmark runs failed; see the messages above.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Measure the resident memory that queued messages take, in fresh processes.

Usage: memory.py [--runs R] [--messages N] [--payload BYTES]...

Cases, each measured in a new Python process per run:

    memory-engine  N distinct messages of BYTES bytes put on one unbounded
                   queuelink.Queue, 64 per put_many() call
    memory-queue   the same N messages as bytes objects in one unbounded
                   queue.Queue, one put() each

Each child imports queuelink and creates its queue first, so that loading
the engine library and starting its runtime are not counted. It then reads
VmRSS from /proc/self/status, fills the queue, reads VmRSS again and checks
the queue's length. The figure is the growth in bytes per message; the
median of R runs is printed. Output rows are described in common.py.
"""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
from typing import Any

import common

# Messages made and put per step while filling.
CHUNK = common.BATCH


def resident_bytes() -> int:
    """Return this process's resident set size, from /proc/self/status."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmRSS line")


def make_payloads(start: int, count: int, size: int) -> list[bytes]:
    """Return count distinct payloads of size bytes, numbered from start."""
    filler = b"m" * (size - 8)
    return [number.to_bytes(8, "little") + filler for number in range(start, start + count)]


def fill_engine(count: int, size: int) -> dict[str, Any]:
    import queuelink

    engine_queue = queuelink.Queue()
    before = resident_bytes()
    put_many = engine_queue.put_many
    for start in range(0, count, CHUNK):
        put_many(make_payloads(start, min(CHUNK, count - start), size))
    after = resident_bytes()
    return {"before": before, "after": after, "length": engine_queue.qsize()}


def fill_queue(count: int, size: int) -> dict[str, Any]:
    import queuelink  # noqa: F401 - loaded in both children alike

    plain_queue: queue.Queue = queue.Queue()
    before = resident_bytes()
    put = plain_queue.put
    for start in range(0, count, CHUNK):
        for payload in make_payloads(start, min(CHUNK, count - start), size):
            put(payload)
    after = resident_bytes()
    return {"before": before, "after": after, "length": plain_queue.qsize()}


CASES = {"memory-engine": fill_engine, "memory-queue": fill_queue}


def measure_in_child(case: str, count: int, size: int) -> float:
    """Run one case in a new process and return its growth in bytes per message."""
    result = subprocess.run(
        [sys.executable, __file__, "--child", case, "--messages", str(count), "--payload", str(size)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the {case} child failed with status {result.returncode}:\n{result.stderr}")
    report = json.loads(result.stdout)
    if report["length"] != count:
        raise RuntimeError(f"the {case} child's queue has {report['length']} messages, expected {count}")
    return (report["after"] - report["before"]) / count


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=common.positive_int, default=3, help="runs per case; the median is reported (default: 3)"
    )
    parser.add_argument(
        "--messages", type=common.positive_int, default=1_000_000, help="messages queued (default: 1000000)"
    )
    parser.add_argument(
        "--payload",
        type=common.positive_int,
        action="append",
        help="payload size in bytes, at least 8; repeat for several (default: 100)",
    )
    parser.add_argument("--child", choices=sorted(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = args.payload or [100]
    for size in sizes:
        if size < 8:
            parser.error(f"--payload {size} is too small: payloads start with an 8-byte number")

    if args.child:
        print(json.dumps(CASES[args.child](args.messages, sizes[0])))
        return 0

    print(f"# case\tpayload_bytes\tunit\tmedian\truns ({args.runs})", flush=True)
    for size in sizes:
        growth: dict[str, list[float]] = {case: [] for case in CASES}
        for _ in range(args.runs):
            for case in CASES:
                growth[case].append(measure_in_child(case, args.messages, size))
        for case, runs in growth.items():
            common.print_row(common.make_row(case, size, "B/msg", runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

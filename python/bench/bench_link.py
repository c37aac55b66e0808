#!/usr/bin/env python3
"""Compare a QueueLink of engine queues with a Python pump thread between queue.Queues.

Usage: bench_link.py [--messages N] [--runs R]

Both sides move the same N messages with the same payload from a producer
thread to the main thread, which gets them all:

    queuelink: producer -> queuelink.Queue -> QueueLink (Go) -> queuelink.Queue -> main
    python:    producer -> queue.Queue -> pump thread -> queue.Queue -> main

Each case runs R times (3 by default) and the median is reported, in
messages per second, for a 40-byte bytes payload and a 40-character str
payload. The numbers depend on the machine; they compare the two designs
on the same one.
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import sys
import threading
import time
from typing import Any, Callable

# Run from a checkout without installing: the package is one folder up.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import queuelink  # noqa: E402 - needs the path above

PAYLOADS: dict[str, Any] = {
    "bytes, 40 B": b"x" * 40,
    "str, 40 chars": "y" * 40,
}


def produce(target: Any, payload: Any, count: int) -> None:
    put = target.put
    for _ in range(count):
        put(payload)


def run_queuelink(payload: Any, count: int) -> float:
    """Return the seconds that count messages take through a QueueLink."""
    source = queuelink.Queue()
    destination = queuelink.Queue()
    with queuelink.QueueLink(source, destination, name="bench"):
        producer = threading.Thread(target=produce, args=(source, payload, count))
        get = destination.get
        started = time.perf_counter()
        producer.start()
        for _ in range(count):
            get(timeout=30)
        elapsed = time.perf_counter() - started
        producer.join()
    source.close()
    destination.close()
    return elapsed


def run_python_pump(payload: Any, count: int) -> float:
    """Return the seconds that count messages take through a pump thread."""
    first: queue.Queue = queue.Queue()
    second: queue.Queue = queue.Queue()

    def pump() -> None:
        get = first.get
        put = second.put
        for _ in range(count):
            put(get())

    pump_thread = threading.Thread(target=pump, daemon=True)
    producer = threading.Thread(target=produce, args=(first, payload, count))
    get = second.get
    started = time.perf_counter()
    pump_thread.start()
    producer.start()
    for _ in range(count):
        get(timeout=30)
    elapsed = time.perf_counter() - started
    producer.join()
    pump_thread.join()
    return elapsed


def median_rate(run: Callable[[Any, int], float], payload: Any, count: int, runs: int) -> float:
    return statistics.median(count / run(payload, count) for _ in range(runs))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=80_000, help="messages per run (default: 80000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per case; the median is reported (default: 3)")
    args = parser.parse_args(argv)
    if args.messages <= 0 or args.runs <= 0:
        parser.error("--messages and --runs must be positive")

    print(f"{args.messages} messages per run, median of {args.runs} runs, {os.cpu_count()} CPUs")
    print(f"{'payload':<16}{'QueueLink msg/s':>18}{'Python pump msg/s':>20}{'ratio':>8}")
    for label, payload in PAYLOADS.items():
        link_rate = median_rate(run_queuelink, payload, args.messages, args.runs)
        pump_rate = median_rate(run_python_pump, payload, args.messages, args.runs)
        print(f"{label:<16}{link_rate:>18,.0f}{pump_rate:>20,.0f}{link_rate / pump_rate:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Stream messages between Python threads through QueueLink and its baselines.

Usage: streaming.py [--runs R] [--seconds S] [--payload BYTES]... [--round-trips N]

Throughput cases move messages from a producer thread to the main thread:

    py-link        producer -> queuelink.Queue -> link -> queuelink.Queue -> main,
                   one put() and one get() per message
    py-link-batch  the same, with put_many() and get_many() of 64 messages
    pyzmq          producer -> PUSH -> inproc -> PULL -> main (pyzmq)
    py-pump        producer -> queue.Queue -> pump thread -> queue.Queue -> main

Latency cases time round trips from the main thread to an echo thread:

    py-rtt         main -> link -> echo thread -> second link -> main
    pyzmq-rtt      main -> PAIR -> echo thread -> PAIR -> main (pyzmq)

Every queue is bounded at 10000 items, and every zmq socket has high-water
marks of 10000. A short run first sizes each throughput run to take about
S seconds. The figure is messages per second from the first put to the
last get, and the median of R runs is printed. Latency cases print the
median over R runs of the 50th and 99th percentile, in microseconds.
Output rows are described in common.py.
"""

from __future__ import annotations

import argparse
import itertools
import queue
import statistics
import sys
import threading
import time
from typing import Any, Callable

import common
import queuelink

WARMUP_ROUND_TRIPS = 500
_endpoint_numbers = itertools.count(1)


# ---------------------------------------------------------------------------
# Throughput
# ---------------------------------------------------------------------------


def start_producer(put: Callable[[Any], Any], payload: bytes, count: int) -> threading.Thread:
    def produce() -> None:
        for _ in range(count):
            put(payload)

    thread = threading.Thread(target=produce, name="producer")
    thread.start()
    return thread


def consume(get: Callable[[], Any], count: int, payload: bytes) -> None:
    """Get count items and check that the last one is intact."""
    item = None
    for _ in range(count):
        item = get()
    if item != payload:
        raise RuntimeError(f"the last item arrived changed: {item!r:.60}")


def run_link(payload: bytes, count: int) -> float:
    """Return the seconds that count messages take through a link, one call each."""
    source = queuelink.Queue(common.QUEUE_BOUND)
    destination = queuelink.Queue(common.QUEUE_BOUND)
    get = destination.get
    with queuelink.QueueLink(source, destination, name="bench"):
        started = time.perf_counter()
        producer = start_producer(source.put, payload, count)
        consume(lambda: get(timeout=common.WAIT_TIMEOUT), count, payload)
        elapsed = common.elapsed_since(started)
        producer.join()
    source.close()
    destination.close()
    return elapsed


def run_link_batch(payload: bytes, count: int) -> float:
    """Return the seconds that count messages take through a link, in batches."""
    source = queuelink.Queue(common.QUEUE_BOUND)
    destination = queuelink.Queue(common.QUEUE_BOUND)
    put_many = source.put_many
    get_many = destination.get_many

    def produce() -> None:
        chunk = [payload] * common.BATCH
        for sent in range(0, count, common.BATCH):
            put_many(chunk[: count - sent])

    with queuelink.QueueLink(source, destination, name="bench"):
        producer = threading.Thread(target=produce, name="producer")
        started = time.perf_counter()
        producer.start()
        received = 0
        items: list[Any] = []
        while received < count:
            items = get_many(common.BATCH, timeout=common.WAIT_TIMEOUT)
            received += len(items)
        elapsed = common.elapsed_since(started)
        producer.join()
    source.close()
    destination.close()
    if received != count or items[-1] != payload:
        raise RuntimeError(f"{received} of {count} items arrived, or the last arrived changed")
    return elapsed


def new_zmq_pair(zmq: Any, context: Any, receiver_type: int, sender_type: int) -> tuple[Any, Any]:
    """Return a bound receiver and a connected sender on a fresh inproc endpoint."""
    endpoint = f"inproc://bench-{next(_endpoint_numbers)}"
    sockets = []
    for socket_type in (receiver_type, sender_type):
        socket = context.socket(socket_type)
        socket.setsockopt(zmq.SNDHWM, common.QUEUE_BOUND)
        socket.setsockopt(zmq.RCVHWM, common.QUEUE_BOUND)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RCVTIMEO, int(common.WAIT_TIMEOUT * 1000))
        socket.setsockopt(zmq.SNDTIMEO, int(common.WAIT_TIMEOUT * 1000))
        sockets.append(socket)
    receiver, sender = sockets
    receiver.bind(endpoint)
    sender.connect(endpoint)
    return receiver, sender


def run_pyzmq(payload: bytes, count: int) -> float:
    """Return the seconds that count messages take from PUSH to PULL."""
    import zmq

    context = zmq.Context()
    pull, push = new_zmq_pair(zmq, context, zmq.PULL, zmq.PUSH)
    try:
        started = time.perf_counter()
        producer = start_producer(push.send, payload, count)
        consume(pull.recv, count, payload)
        elapsed = common.elapsed_since(started)
        producer.join()
    finally:
        pull.close()
        push.close()
        context.term()
    return elapsed


def run_pump(payload: bytes, count: int) -> float:
    """Return the seconds that count messages take through a Python pump thread."""
    first: queue.Queue = queue.Queue(common.QUEUE_BOUND)
    second: queue.Queue = queue.Queue(common.QUEUE_BOUND)

    def pump() -> None:
        get = first.get
        put = second.put
        for _ in range(count):
            put(get())

    pump_thread = threading.Thread(target=pump, name="pump", daemon=True)
    get = second.get
    started = time.perf_counter()
    pump_thread.start()
    producer = start_producer(first.put, payload, count)
    consume(lambda: get(timeout=common.WAIT_TIMEOUT), count, payload)
    elapsed = common.elapsed_since(started)
    producer.join()
    pump_thread.join()
    return elapsed


THROUGHPUT_CASES: dict[str, Callable[[bytes, int], float]] = {
    "py-link": run_link,
    "py-link-batch": run_link_batch,
    "pyzmq": run_pyzmq,
    "py-pump": run_pump,
}


# ---------------------------------------------------------------------------
# Latency
# ---------------------------------------------------------------------------


def time_round_trips(send: Callable[[bytes], Any], receive: Callable[[], Any], payload: bytes, count: int) -> list[float]:
    """Return count round-trip times in microseconds, after a warm-up."""
    samples = []
    clock = time.perf_counter_ns
    for i in range(WARMUP_ROUND_TRIPS + count):
        started = clock()
        send(payload)
        reply = receive()
        elapsed = clock() - started
        if reply != payload:
            raise RuntimeError(f"round trip {i} came back changed: {reply!r:.60}")
        if i >= WARMUP_ROUND_TRIPS:
            samples.append(elapsed / 1000)
    return samples


def percentiles(samples: list[float]) -> tuple[float, float]:
    """Return the 50th and 99th percentile of samples."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


def rtt_link(payload: bytes, count: int) -> tuple[float, float]:
    """Return the p50 and p99 round trip through two links and an echo thread."""
    ping_source, ping_destination = queuelink.Queue(common.QUEUE_BOUND), queuelink.Queue(common.QUEUE_BOUND)
    pong_source, pong_destination = queuelink.Queue(common.QUEUE_BOUND), queuelink.Queue(common.QUEUE_BOUND)
    stop = b""

    def echo() -> None:
        get, put = ping_destination.get, pong_source.put
        while (item := get(timeout=common.WAIT_TIMEOUT)) != stop:
            put(item)

    with queuelink.QueueLink(ping_source, ping_destination, name="ping"), queuelink.QueueLink(
        pong_source, pong_destination, name="pong"
    ):
        echo_thread = threading.Thread(target=echo, name="echo")
        echo_thread.start()
        get = pong_destination.get
        try:
            samples = time_round_trips(ping_source.put, lambda: get(timeout=common.WAIT_TIMEOUT), payload, count)
        finally:
            ping_source.put(stop)
            echo_thread.join()
    for q in (ping_source, ping_destination, pong_source, pong_destination):
        q.close()
    return percentiles(samples)


def rtt_pyzmq(payload: bytes, count: int) -> tuple[float, float]:
    """Return the p50 and p99 round trip over PAIR sockets to an echo thread."""
    import zmq

    context = zmq.Context()
    main_socket, echo_socket = new_zmq_pair(zmq, context, zmq.PAIR, zmq.PAIR)
    stop = b""

    def echo() -> None:
        while (item := echo_socket.recv()) != stop:
            echo_socket.send(item)

    echo_thread = threading.Thread(target=echo, name="echo")
    echo_thread.start()
    try:
        samples = time_round_trips(main_socket.send, main_socket.recv, payload, count)
    finally:
        main_socket.send(stop)
        echo_thread.join()
        main_socket.close()
        echo_socket.close()
        context.term()
    return percentiles(samples)


LATENCY_CASES: dict[str, Callable[[bytes, int], tuple[float, float]]] = {
    "py-rtt": rtt_link,
    "pyzmq-rtt": rtt_pyzmq,
}


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def measure_size(size: int, selected: set[str], args: argparse.Namespace) -> list[common.Row]:
    """Return the rows of the selected cases at one payload size.

    The cases take turns within each run, so a change in the machine's
    load during the measurement hits every case alike.
    """
    payload = common.payload_of(size)
    throughput = {name: run for name, run in THROUGHPUT_CASES.items() if name in selected}
    latency = {name: run for name, run in LATENCY_CASES.items() if name in selected}
    counts = {
        name: common.sized_count(lambda n, run=run: run(payload, n), args.seconds, minimum=2_000, maximum=5_000_000)
        for name, run in throughput.items()
    }
    rates: dict[str, list[float]] = {name: [] for name in throughput}
    round_trips: dict[str, list[tuple[float, float]]] = {name: [] for name in latency}
    for _ in range(args.runs):
        for name, run in throughput.items():
            rates[name].append(counts[name] / run(payload, counts[name]))
        for name, rtt in latency.items():
            round_trips[name].append(rtt(payload, args.round_trips))

    rows = [common.make_row(name, size, "msg/s", runs) for name, runs in rates.items()]
    for name, results in round_trips.items():
        rows.append(common.make_row(f"{name}-p50", size, "us", [p50 for p50, _ in results]))
        rows.append(common.make_row(f"{name}-p99", size, "us", [p99 for _, p99 in results]))
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_arguments(parser, default_seconds=0.5)
    parser.add_argument(
        "--round-trips",
        type=common.positive_int,
        default=5_000,
        help="round trips per latency run, after 500 for warm-up (default: 5000)",
    )
    parser.add_argument(
        "--case",
        action="append",
        choices=sorted(THROUGHPUT_CASES) + sorted(LATENCY_CASES),
        help="run only this case; repeat for several (default: all)",
    )
    args = parser.parse_args(argv)
    selected = set(args.case or list(THROUGHPUT_CASES) + list(LATENCY_CASES))

    if selected & {"pyzmq", "pyzmq-rtt"}:
        import zmq

        print(f"# pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()}")
    print(f"# case\tpayload_bytes\tunit\tmedian\truns ({args.runs})", flush=True)

    for size in common.payload_sizes(args):
        for row in measure_size(size, selected, args):
            common.print_row(row)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

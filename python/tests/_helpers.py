"""Helpers shared by the tests."""

from __future__ import annotations

import os
import queue
import sys
import time
from typing import Any, Callable

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPOSITORY_DIR = os.path.dirname(PYTHON_DIR)
HEADER_PATH = os.path.join(REPOSITORY_DIR, "include", "queuelink.h")

# Environment for child interpreters that import queuelink from this checkout.
CHILD_ENV = dict(os.environ, PYTHONPATH=PYTHON_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""))


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.005) -> bool:
    """Poll condition until it is true; return False if timeout seconds pass first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def drain(queue_obj: Any, count: int, timeout: float = 10.0) -> list[Any]:
    """Get exactly count items, failing the test if they do not arrive in time."""
    deadline = time.monotonic() + timeout
    items = []
    while len(items) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"got {len(items)} of {count} items within {timeout} s")
        try:
            items.append(queue_obj.get(timeout=min(remaining, 1.0)))
        except queue.Empty:
            continue
    return items


def assert_stays_empty(queue_obj: Any, seconds: float = 0.3) -> None:
    """Fail if any item arrives on the queue within the given seconds."""
    try:
        item = queue_obj.get(timeout=seconds)
    except queue.Empty:
        return
    raise AssertionError(f"unexpected item {item!r}")


def python_command(code: str) -> list[str]:
    """Return the argv that runs code in a fresh interpreter."""
    return [sys.executable, "-c", code]

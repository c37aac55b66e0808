"""Tests that run the demo and the benchmark as a user would."""

from __future__ import annotations

import os
import subprocess
import sys

from _helpers import CHILD_ENV, PYTHON_DIR

DEMO = os.path.join(PYTHON_DIR, "examples", "demo.py")
BENCH = os.path.join(PYTHON_DIR, "bench", "bench_link.py")


def run(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=CHILD_ENV)


def test_demo_on_large_output():
    result = run([sys.executable, DEMO, "--timeout", "100", "seq", "1", "100000"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "lines:           100000 in the command output" in result.stdout
    assert "messages:        reader 100000, consumer 100000, writer 100000" in result.stdout
    assert "byte-identical:  yes" in result.stdout
    assert "all checks passed" in result.stdout


def test_demo_last_line_without_newline():
    result = run([sys.executable, DEMO, "--timeout", "60", "printf", "a\\nb\\nno newline"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "lines:           3 in the command output" in result.stdout
    assert "byte-identical:  yes" in result.stdout


def test_demo_binary_output():
    code = "import sys; sys.stdout.buffer.write(bytes(range(256)) * 50 + b'\\xff\\xfe\\n\\x00')"
    result = run([sys.executable, DEMO, "--timeout", "60", sys.executable, "-c", code])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "byte-identical:  yes" in result.stdout


def test_demo_command_without_output():
    result = run([sys.executable, DEMO, "--timeout", "60", "true"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "lines:           0 in the command output" in result.stdout


def test_demo_fails_on_missing_command():
    result = run([sys.executable, DEMO, "--timeout", "30", "/nonexistent/command"])
    assert result.returncode == 1
    assert "FAILED: cannot run /nonexistent/command" in result.stderr


def test_bench_small_run():
    result = run([sys.executable, BENCH, "--messages", "2000", "--runs", "1"])
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("2000 messages per run, median of 1 runs")
    rows = [line for line in lines if line.startswith(("bytes", "str"))]
    assert len(rows) == 2
    for row in rows:
        ratio = float(row.split()[-1])
        assert ratio > 0


def test_bench_rejects_bad_arguments():
    result = run([sys.executable, BENCH, "--messages", "0"])
    assert result.returncode == 2
    assert "must be positive" in result.stderr

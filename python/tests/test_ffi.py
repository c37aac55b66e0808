"""Tests of the ctypes layer against include/queuelink.h and the built library."""

from __future__ import annotations

import ctypes
import os
import queue
import re
import shutil
import subprocess
import sys

import pytest

import queuelink
from queuelink import _constants, _ffi
from queuelink.exceptionhandler import (
    AlreadyRegisteredError,
    ClosedError,
    EngineIOError,
    InternalError,
    InvalidArgumentError,
    InvalidHandleError,
    NotRegisteredError,
    QueueLinkError,
    StateError,
    WaitTimeoutError,
)

from _helpers import CHILD_ENV, HEADER_PATH, python_command


def header_code() -> str:
    with open(HEADER_PATH, encoding="utf-8") as file:
        text = file.read()
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def header_defines() -> dict[str, int]:
    return {
        name: int(value)
        for name, value in re.findall(r"^#define\s+QL_(\w+)\s+(-?\d+)\s*$", header_code(), flags=re.M)
    }


def header_functions() -> dict[str, list[str]]:
    """Return every function declared in the header with its parameter list."""
    declarations = re.findall(r"\b(ql_\w+)\s*\(([^)]*)\)\s*;", header_code())
    functions = {}
    for name, parameters in declarations:
        parameters = " ".join(parameters.split())
        functions[name] = [] if parameters in ("", "void") else parameters.split(",")
    return functions


def test_constants_match_header():
    defines = header_defines()
    assert defines, "no #define found in the header"
    for name, value in defines.items():
        assert getattr(_constants, name) == value, name


def test_every_header_function_is_declared():
    functions = header_functions()
    assert "ql_queue_get" in functions
    assert set(_ffi._PROTOTYPES) == set(functions)
    for name, parameters in functions.items():
        restype, argtypes = _ffi._PROTOTYPES[name]
        function = getattr(_ffi.lib, name)
        assert function.argtypes == argtypes, name
        assert function.restype is restype, name
        assert len(argtypes) == len(parameters), name


def test_version_major_matches():
    version = _ffi.lib.ql_version()
    assert version // 10000 == header_defines()["VERSION_MAJOR"]


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_structs_match_header_layout(tmp_path):
    program = tmp_path / "layout.c"
    program.write_text(
        """
#include <stddef.h>
#include <stdio.h>
#include "queuelink.h"
int main(void) {
    printf("%zu %zu %zu %zu %zu %zu %zu\\n", sizeof(ql_msg), offsetof(ql_msg, kind),
           offsetof(ql_msg, owned), offsetof(ql_msg, priority),
           offsetof(ql_msg, data), offsetof(ql_msg, len), offsetof(ql_msg, flags));
    printf("%zu %zu %zu %zu %zu %zu %zu %zu\\n", sizeof(ql_reader_options),
           offsetof(ql_reader_options, kind), offsetof(ql_reader_options, framing),
           offsetof(ql_reader_options, wrap), offsetof(ql_reader_options, wrap_threshold),
           offsetof(ql_reader_options, partial_line_us), offsetof(ql_reader_options, spill_dir),
           offsetof(ql_reader_options, name));
    printf("%zu %zu %zu %zu %zu %zu %zu\\n", sizeof(ql_source_metrics),
           offsetof(ql_source_metrics, id), offsetof(ql_source_metrics, count),
           offsetof(ql_source_metrics, data_point_count),
           offsetof(ql_source_metrics, mean), offsetof(ql_source_metrics, median),
           offsetof(ql_source_metrics, stddev));
    return 0;
}
"""
    )
    binary = tmp_path / "layout"
    subprocess.run(
        ["cc", "-I", os.path.dirname(HEADER_PATH), "-o", str(binary), str(program)],
        check=True,
        timeout=60,
    )
    output = subprocess.run([str(binary)], capture_output=True, text=True, check=True, timeout=10).stdout
    message_line, options_line, metrics_line = output.splitlines()

    message = _ffi.Message
    expected_message = [ctypes.sizeof(message)] + [
        getattr(message, field).offset for field in ("kind", "owned", "priority", "data", "len", "flags")
    ]
    assert [int(value) for value in message_line.split()] == expected_message

    options = _ffi.ReaderOptions
    expected_options = [ctypes.sizeof(options)] + [
        getattr(options, field).offset
        for field in ("kind", "framing", "wrap", "wrap_threshold", "partial_line_us", "spill_dir", "name")
    ]
    assert [int(value) for value in options_line.split()] == expected_options

    metrics = _ffi.SourceMetricsStruct
    expected_metrics = [ctypes.sizeof(metrics)] + [
        getattr(metrics, field).offset
        for field in ("id", "count", "data_point_count", "mean", "median", "stddev")
    ]
    assert [int(value) for value in metrics_line.split()] == expected_metrics


def test_link_handle_rejected_as_queue():
    with queuelink.QueueLink() as link:
        out = ctypes.c_int64()
        with pytest.raises(ctypes.ArgumentError):
            _ffi.lib.ql_queue_len(link.handle, ctypes.byref(out))


def test_queue_handle_rejected_as_link():
    with queuelink.Queue() as queue_obj:
        with pytest.raises(ctypes.ArgumentError):
            _ffi.lib.ql_link_stop(queue_obj.handle)


def test_null_handle_raises_invalid_handle():
    with pytest.raises(InvalidHandleError) as caught:
        _ffi.queue_len(None)
    assert caught.value.status == _constants.ERR_HANDLE
    assert str(caught.value)


def test_freed_handle_raises_invalid_handle():
    queue_obj = queuelink.Queue()
    handle = queue_obj.handle
    queue_obj.close()
    with pytest.raises(InvalidHandleError):
        _ffi.queue_len(handle)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (_constants.ERR_INVALID, InvalidArgumentError),
        (_constants.ERR_HANDLE, InvalidHandleError),
        (_constants.ERR_CLOSED, ClosedError),
        (_constants.ERR_EMPTY, queue.Empty),
        (_constants.ERR_FULL, queue.Full),
        (_constants.ERR_TIMEOUT, WaitTimeoutError),
        (_constants.ERR_EXISTS, AlreadyRegisteredError),
        (_constants.ERR_NOT_FOUND, NotRegisteredError),
        (_constants.ERR_IO, EngineIOError),
        (_constants.ERR_STATE, StateError),
        (_constants.ERR_INTERNAL, InternalError),
    ],
)
def test_status_maps_to_exception(status, expected):
    error = _ffi.error_for_status(status)
    assert type(error) is expected
    if isinstance(error, QueueLinkError):
        assert error.status == status


def test_standard_bases_of_errors():
    assert issubclass(InvalidArgumentError, ValueError)
    assert issubclass(AlreadyRegisteredError, ValueError)
    assert issubclass(NotRegisteredError, KeyError)
    assert issubclass(EngineIOError, OSError)
    assert issubclass(WaitTimeoutError, TimeoutError)
    assert issubclass(StateError, RuntimeError)


def test_unknown_status_keeps_code():
    error = _ffi.error_for_status(999)
    assert isinstance(error, QueueLinkError)
    assert error.status == 999


def test_status_names_come_from_library():
    assert _ffi.status_name(_constants.ERR_EMPTY)
    assert _ffi.status_name(12345) == "unknown status"


def test_error_message_carries_detail(tmp_path):
    missing = tmp_path / "missing" / "input.txt"
    with queuelink.Queue() as queue_obj:
        with pytest.raises(EngineIOError) as caught:
            _ffi.reader_new_path(queue_obj.handle, os.fsencode(missing), _constants.KIND_TEXT)
    assert str(missing) in str(caught.value)


def test_invalid_order_raises_value_error():
    with pytest.raises(ValueError):
        _ffi.queue_new(99, 0)


def test_missing_library_fails_at_import(tmp_path):
    env = dict(CHILD_ENV, QUEUELINK_LIBRARY=str(tmp_path / "libqueuelink.so"))
    result = subprocess.run(
        python_command("import queuelink"), env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "run `make` in the repository root" in result.stderr
    assert str(tmp_path / "libqueuelink.so") in result.stderr


def test_invalid_library_fails_at_import(tmp_path):
    not_a_library = tmp_path / "libqueuelink.so"
    not_a_library.write_text("not a shared object\n")
    env = dict(CHILD_ENV, QUEUELINK_LIBRARY=str(not_a_library))
    result = subprocess.run(
        python_command("import queuelink"), env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "failed to load the engine library" in result.stderr


def test_library_path_from_environment():
    library = os.path.join(os.path.dirname(_ffi.__file__), _ffi.LIBRARY_NAME)
    env = dict(CHILD_ENV, QUEUELINK_LIBRARY=library)
    result = subprocess.run(
        python_command("from queuelink import _ffi; print(_ffi.LIBRARY_PATH)"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == library


def test_get_buffer_is_per_thread():
    import threading

    slots = []

    def take_slot():
        with queuelink.Queue() as queue_obj:
            queue_obj.put(b"x")
            queue_obj.get(timeout=5)
        slots.append(_ffi._thread_state.slot)

    threads = [threading.Thread(target=take_slot) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(slots) == 2
    assert slots[0].buffer is not slots[1].buffer


def test_no_ctypes_in_public_modules():
    package_dir = os.path.dirname(queuelink.__file__)
    for name in sorted(os.listdir(package_dir)):
        if not name.endswith(".py") or name == "_ffi.py":
            continue
        with open(os.path.join(package_dir, name), encoding="utf-8") as file:
            source = file.read()
        assert not re.search(r"^\s*(import|from)\s+ctypes\b", source, flags=re.M), name

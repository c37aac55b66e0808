"""One engine queue used from Python and from C in the same process.

The C side is build/libcrosslang_test.so, built from
bindings/c/crosslang_helper.c by ``make test-python``. It is linked to the
libqueuelink.so beside the package, which the package has loaded already,
so the dynamic linker gives it the same copy: the same Go runtime, handles
and queues.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import threading

import pytest

import queuelink
from queuelink import _constants as constants
from queuelink import _ffi

from _helpers import REPOSITORY_DIR

HELPER_PATH = os.environ.get(
    "QUEUELINK_CROSSLANG_HELPER", os.path.join(REPOSITORY_DIR, "build", "libcrosslang_test.so")
)

# The copy of the library that the helper is linked to.
PACKAGE_LIBRARY_PATH = os.path.join(os.path.dirname(_ffi.__file__), _ffi.LIBRARY_NAME)

# Results of xl_expect() besides the QL_* statuses; see crosslang_helper.c.
XL_WRONG_KIND = 100
XL_WRONG_PAYLOAD = 101

# Timeouts of the helper's gets, in microseconds.
NO_WAIT_US = 0
LONG_WAIT_US = 5_000_000


@pytest.fixture(scope="module")
def helper() -> ctypes.CDLL:
    if not os.path.exists(HELPER_PATH):
        pytest.skip(f"{HELPER_PATH} is missing; `make test-python` builds it")
    # Loading the helper next to another copy would start a second Go
    # runtime in this process.
    if not os.path.samefile(_ffi.LIBRARY_PATH, PACKAGE_LIBRARY_PATH):
        pytest.skip(
            f"the package loaded {_ffi.LIBRARY_PATH} (QUEUELINK_LIBRARY), but the "
            f"helper is linked to {PACKAGE_LIBRARY_PATH}"
        )

    library = ctypes.CDLL(HELPER_PATH)

    message_pointer = ctypes.POINTER(_ffi.Message)
    prototypes = {
        "xl_make_queue": (_ffi.QueuePointer, []),
        "xl_free_queue": (ctypes.c_int, [_ffi.QueuePointer]),
        "xl_put_text": (ctypes.c_int, [_ffi.QueuePointer, ctypes.c_char_p]),
        "xl_put_bytes": (ctypes.c_int, [_ffi.QueuePointer, ctypes.c_char_p, ctypes.c_size_t]),
        "xl_get": (ctypes.c_int, [_ffi.QueuePointer, ctypes.c_int64, message_pointer]),
        "xl_msg_free": (None, [message_pointer]),
        "xl_expect": (
            ctypes.c_int,
            [_ffi.QueuePointer, ctypes.c_int64, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t],
        ),
        "xl_library_path": (ctypes.c_char_p, []),
    }
    for name, (restype, argtypes) in prototypes.items():
        function = getattr(library, name)
        function.restype = restype
        function.argtypes = argtypes
    return library


def expect(helper: ctypes.CDLL, handle: object, kind: int, payload: bytes) -> int:
    """Take the next message in C and compare it there; return xl_expect's result."""
    return helper.xl_expect(handle, NO_WAIT_US, kind, payload, len(payload))


def get_in_c(helper: ctypes.CDLL, handle: object, timeout_us: int = NO_WAIT_US) -> tuple[int, int, bytes]:
    """Take the next message in C; return the status, the kind and the payload."""
    message = _ffi.Message()
    status = helper.xl_get(handle, timeout_us, ctypes.byref(message))
    if status != constants.OK:
        return status, 0, b""
    try:
        return status, message.kind, ctypes.string_at(message.data, message.len)
    finally:
        helper.xl_msg_free(ctypes.byref(message))


def test_helper_reaches_package_library(helper):
    path = helper.xl_library_path()
    assert path is not None
    assert os.path.samefile(path.decode(), _ffi.LIBRARY_PATH)


def test_python_items_read_in_c_with_kinds(helper):
    q = queuelink.Queue()
    try:
        q.put("héllo wörld")
        q.put(b"\x00raw\xff")
        q.put(bytearray(b"array"))

        assert expect(helper, q.handle, constants.KIND_TEXT, "héllo wörld".encode()) == constants.OK
        assert expect(helper, q.handle, constants.KIND_BYTES, b"\x00raw\xff") == constants.OK
        assert expect(helper, q.handle, constants.KIND_BYTES, b"array") == constants.OK
        assert expect(helper, q.handle, constants.KIND_TEXT, b"") == constants.ERR_EMPTY
    finally:
        q.close()


def test_python_pickle_read_in_c(helper):
    item = {"numbers": [1, 2, 3], "name": "pickled"}
    q = queuelink.Queue()
    try:
        q.put(item)
        status, kind, payload = get_in_c(helper, q.handle)
        assert status == constants.OK
        assert kind == constants.KIND_PICKLE
        assert pickle.loads(payload) == item
    finally:
        q.close()


def test_c_check_rejects_wrong_kind_and_payload(helper):
    q = queuelink.Queue()
    try:
        q.put("text")
        q.put(b"bytes")
        assert expect(helper, q.handle, constants.KIND_BYTES, b"text") == XL_WRONG_KIND
        assert expect(helper, q.handle, constants.KIND_BYTES, b"other") == XL_WRONG_PAYLOAD
    finally:
        q.close()


def test_c_items_read_in_python(helper):
    q = queuelink.Queue()
    try:
        assert helper.xl_put_text(q.handle, "from C: ü".encode()) == constants.OK
        assert helper.xl_put_bytes(q.handle, b"\x00\x01\x02", 3) == constants.OK

        text = q.get(timeout=1)
        assert type(text) is str
        assert text == "from C: ü"
        data = q.get(timeout=1)
        assert type(data) is bytes
        assert data == b"\x00\x01\x02"
    finally:
        q.close()


def test_c_get_waits_for_python_put(helper):
    q = queuelink.Queue()
    try:
        # A blocking get in C, released by a put from another Python thread.
        timer = threading.Timer(0.05, q.put, args=("late",))
        timer.start()
        status, kind, payload = get_in_c(helper, q.handle, LONG_WAIT_US)
        timer.join()
        assert status == constants.OK
        assert kind == constants.KIND_TEXT
        assert payload == b"late"
    finally:
        q.close()


def test_python_close_seen_in_c(helper):
    q = queuelink.Queue()
    handle = q.handle
    q.put("left")
    q.shutdown()
    assert helper.xl_put_text(handle, b"late") == constants.ERR_CLOSED
    assert expect(helper, handle, constants.KIND_TEXT, b"left") == constants.OK
    assert expect(helper, handle, constants.KIND_TEXT, b"") == constants.ERR_CLOSED

    # close() frees the handle, so the C interface rejects it.
    q.close()
    assert helper.xl_put_text(handle, b"late") == constants.ERR_HANDLE


def test_queue_made_in_c_used_from_python(helper):
    handle = helper.xl_make_queue()
    assert handle
    wrapped = queuelink.Queue.from_handle(handle, owned=False)
    try:
        assert helper.xl_put_text(handle, b"made in C") == constants.OK
        assert wrapped.get(timeout=1.0) == "made in C"

        wrapped.put(b"from Python")
        assert expect(helper, handle, constants.KIND_BYTES, b"from Python") == constants.OK
        wrapped.put({"pickled": True})
        status, kind, payload = get_in_c(helper, handle)
        assert status == constants.OK
        assert kind == constants.KIND_PICKLE
        assert pickle.loads(payload) == {"pickled": True}
    finally:
        wrapped.close()
        assert helper.xl_free_queue(handle) == constants.OK, "a wrapper that does not own the handle leaves it"


def test_wrapper_owning_c_queue_frees_it(helper):
    handle = helper.xl_make_queue()
    wrapped = queuelink.Queue.from_handle(ctypes.cast(handle, ctypes.c_void_p).value, owned=True)
    assert wrapped.qsize() == 0
    wrapped.close()
    assert helper.xl_put_text(handle, b"late") == constants.ERR_HANDLE


def test_from_handle_rejects_bad_handles(helper):
    link = _ffi.link_new("not a queue")
    try:
        with pytest.raises(queuelink.InvalidHandleError):
            queuelink.Queue.from_handle(ctypes.cast(link, ctypes.c_void_p).value)
    finally:
        _ffi.link_free(link)
    with pytest.raises(ValueError, match="invalid"):
        queuelink.Queue.from_handle(0)
    with pytest.raises(TypeError, match="int address"):
        queuelink.Queue.from_handle("0x1234")


def test_link_routes_python_queue_to_c_queue(helper):
    source = queuelink.Queue()
    destination = helper.xl_make_queue()
    assert destination
    link = _ffi.link_new("cross-language")
    try:
        _ffi.link_register(link, source.handle, constants.SOURCE)
        _ffi.link_register(link, destination, constants.DESTINATION)
        for i in range(100):
            source.put(f"line {i}")
        for i in range(100):
            line = f"line {i}".encode()
            status = helper.xl_expect(destination, LONG_WAIT_US, constants.KIND_TEXT, line, len(line))
            assert status == constants.OK, f"message {i}"
    finally:
        _ffi.link_free(link)
        helper.xl_free_queue(destination)
        source.close()

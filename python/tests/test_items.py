"""Tests of how items become messages and come back, through real engine queues."""

from __future__ import annotations

import dataclasses
import os
import enum
import pickle

import pytest

import queuelink
from queuelink import _constants
from queuelink._items import decode_item, encode_item


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Color(str, enum.Enum):
    RED = "red"


def round_trip(item):
    with queuelink.Queue() as queue_obj:
        queue_obj.put(item)
        return queue_obj.get(timeout=5)


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        ("text", _constants.KIND_TEXT),
        (b"bytes", _constants.KIND_BYTES),
        (bytearray(b"array"), _constants.KIND_BYTES),
        (memoryview(b"view"), _constants.KIND_BYTES),
        (42, _constants.KIND_PICKLE),
        (None, _constants.KIND_PICKLE),
        (Color.RED, _constants.KIND_PICKLE),
    ],
)
def test_item_kind(item, kind):
    assert encode_item(item)[0] == kind


@pytest.mark.parametrize(
    "item",
    [
        "",
        "plain ascii\n",
        "multi-byte é € 😀 \u4e2d\u6587",
        "nul \0 inside\0",
        b"",
        b"\0\0\0",
        b"\xff\xfe binary \x00 with nul",
        bytes(range(256)),
    ],
)
def test_str_and_bytes_round_trip(item):
    result = round_trip(item)
    assert type(result) is type(item)
    assert result == item


def test_bytearray_comes_back_as_bytes():
    result = round_trip(bytearray(b"abc\0def"))
    assert type(result) is bytes
    assert result == b"abc\0def"


def test_memoryview_comes_back_as_bytes():
    result = round_trip(memoryview(b"0123456789")[2:5])
    assert result == b"234"


def test_surrogateescape_text_round_trip():
    raw = b"caf\xe9 \xff\n"
    text = raw.decode("utf-8", "surrogateescape")
    result = round_trip(text)
    assert result == text
    assert result.encode("utf-8", "surrogateescape") == raw


def test_lone_surrogate_round_trips():
    """A surrogate with no UTF-8 form travels as a pickle and comes back equal."""
    with queuelink.Queue() as queue_obj:
        queue_obj.put("\ud800")
        assert queue_obj.get(timeout=5) == "\ud800"


@pytest.mark.parametrize(
    "item",
    [
        0,
        -(2**100),
        3.5,
        None,
        True,
        (1, "two", b"three"),
        [1, [2, [3]]],
        {"key": ["value", {"nested": None}]},
        {1, 2, 3},
        Point(1, 2),
    ],
)
def test_pickled_objects_round_trip(item):
    result = round_trip(item)
    assert type(result) is type(item)
    assert result == item


def test_str_subclass_keeps_type():
    result = round_trip(Color.RED)
    assert result is Color.RED


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 5 * 1024 * 1024])
def test_payload_sizes_around_buffer(size):
    payload = bytes(index % 251 for index in range(size))
    assert round_trip(payload) == payload


def test_large_text_beyond_buffer():
    text = "é" * 100_000
    assert round_trip(text) == text


def test_decode_pickle_payload():
    payload = pickle.dumps({"a": 1})
    assert decode_item(_constants.KIND_PICKLE, payload) == {"a": 1}


def test_decode_unknown_kind_gives_bytes():
    assert decode_item(99, b"raw") == b"raw"


def test_wrapper_encodes_with_flags(tmp_path, monkeypatch):
    import tempfile

    from queuelink import ContentWrapper
    from queuelink._ffi import FLAGS_SHIFT, KIND_MASK

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    small = ContentWrapper(b"small")
    kind, payload = encode_item(small)
    assert kind & KIND_MASK == _constants.KIND_BYTES
    assert kind >> FLAGS_SHIFT == _constants.MSG_WRAPPED
    assert payload == b"small"

    spilled = ContentWrapper("é" * 10, threshold=4)
    kind, payload = encode_item(spilled)
    assert kind & KIND_MASK == _constants.KIND_TEXT
    assert kind >> FLAGS_SHIFT == _constants.MSG_WRAPPED | _constants.MSG_SPILLED
    assert payload == os.fsencode(spilled.path)


def test_flagged_message_decodes_to_wrapper(tmp_path):
    from queuelink import ContentWrapper
    from queuelink._ffi import FLAGS_SHIFT

    wrapped = decode_item(_constants.KIND_TEXT | _constants.MSG_WRAPPED << FLAGS_SHIFT, "é".encode())
    assert type(wrapped) is ContentWrapper
    assert wrapped.value == "é"
    assert not wrapped.spilled

    spill_file = tmp_path / "queuelink-spill-test"
    spill_file.write_bytes(b"from file")
    flags = (_constants.MSG_WRAPPED | _constants.MSG_SPILLED) << FLAGS_SHIFT
    adopted = decode_item(_constants.KIND_BYTES | flags, os.fsencode(spill_file))
    assert adopted.path == str(spill_file)
    assert adopted.value == b"from file"
    del adopted
    import gc

    gc.collect()
    assert not spill_file.exists()


def test_put_message_rejects_unknown_flags():
    from queuelink import _ffi

    with queuelink.Queue() as queue_obj:
        with pytest.raises(ValueError, match="flags"):
            _ffi.put_message(queue_obj.handle, _constants.KIND_TEXT | 8 << _ffi.FLAGS_SHIFT, b"x", 0)
        assert queue_obj.qsize() == 0

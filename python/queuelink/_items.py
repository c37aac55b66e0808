"""Conversion between Python items and engine messages, in both directions.

The rule, for every queue, link, reader and writer of this package:

- ``str`` is sent as a text message, encoded as UTF-8 with the
  ``surrogateescape`` error handler, and comes back as ``str``. A string
  with a surrogate that this handler cannot encode (outside U+DC80 to
  U+DCFF) is pickled instead, so it too comes back equal. A reader
  that meets bytes that are not valid UTF-8 in a text stream delivers them
  as they are, and they decode to lone surrogates (U+DC80 to U+DCFF), which
  encode back to the same bytes. So such a line passes through Python
  unchanged, as it does with ``open(..., errors='surrogateescape')``.
- ``bytes``, ``bytearray`` and ``memoryview`` are sent as a bytes message
  and come back as ``bytes``.
- A ``ContentWrapper`` is sent as a text or bytes message with the
  ``MSG_WRAPPED`` flag and comes back as a ContentWrapper. A spilled one
  travels with ``MSG_SPILLED`` as the path of a new hard link to its file,
  which the engine owns from then on. The engine hands each destination
  of a fan-out a link of its own. On the way out, the wrapper takes
  over the message's spill file, so the value is read from disk only when
  the consumer reads ``.value``. Writers write the value.
- Anything else, including subclasses of ``str`` and ``bytes`` such as
  ``enum.StrEnum`` members, is pickled with the highest protocol and comes
  back as an equal object of the same type.

Messages with flags use packed kinds, described in ``queuelink._ffi``.
"""

from __future__ import annotations

import os
import pickle
from array import array
from itertools import accumulate
from typing import Any

from ._constants import KIND_BYTES, KIND_PICKLE, KIND_TEXT, MSG_SPILLED, MSG_WRAPPED
from ._ffi import FLAGS_SHIFT, KIND_MASK
from .contentwrapper import ContentWrapper

_PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL
_dumps = pickle.dumps
_loads = pickle.loads

_WRAPPED_TEXT = KIND_TEXT | MSG_WRAPPED << FLAGS_SHIFT
_WRAPPED_BYTES = KIND_BYTES | MSG_WRAPPED << FLAGS_SHIFT
_SPILLED_TEXT = KIND_TEXT | (MSG_WRAPPED | MSG_SPILLED) << FLAGS_SHIFT
_SPILLED_BYTES = KIND_BYTES | (MSG_WRAPPED | MSG_SPILLED) << FLAGS_SHIFT


def encode_item(item: Any) -> tuple[int, bytes]:
    """Return the (packed) message kind and payload for an item.

    For a spilled ContentWrapper, the payload is the path of its spill
    file, and _ffi.put_message() makes the link that the queue receives.
    So the wrapper must stay alive until the put returns.
    """
    item_type = type(item)
    if item_type is str:
        try:
            return KIND_TEXT, item.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            # A surrogate outside U+DC80..U+DCFF has no UTF-8 form.
            return KIND_PICKLE, _dumps(item, _PICKLE_PROTOCOL)
    if item_type is bytes:
        return KIND_BYTES, item
    if item_type is bytearray or item_type is memoryview:
        return KIND_BYTES, bytes(item)
    if item_type is ContentWrapper:
        return _encode_wrapper(item)
    return KIND_PICKLE, _dumps(item, _PICKLE_PROTOCOL)


def _encode_wrapper(wrapper: ContentWrapper) -> tuple[int, bytes]:
    if wrapper.spilled:
        kind = _SPILLED_TEXT if wrapper.is_text else _SPILLED_BYTES
        return kind, os.fsencode(wrapper.path)
    kind = _WRAPPED_TEXT if wrapper.is_text else _WRAPPED_BYTES
    return kind, wrapper._payload()


def decode_item(kind: int, payload: bytes) -> Any:
    """Return the item that a message of the given (packed) kind carries.

    A pickled payload is unpickled, so only take messages from queues that
    this process and the code it trusts put on. A spilled message's file
    passes to the ContentWrapper returned.
    """
    if kind == KIND_TEXT:
        return payload.decode("utf-8", "surrogateescape")
    if kind == KIND_PICKLE:
        return _loads(payload)
    if kind > KIND_MASK:
        return _decode_flagged(kind, payload)
    # KIND_BYTES, and any kind that a newer library might add, as raw bytes.
    return payload


def _decode_flagged(kind: int, payload: bytes) -> Any:
    flags = kind >> FLAGS_SHIFT
    base_kind = kind & KIND_MASK
    is_text = base_kind == KIND_TEXT
    if flags & MSG_SPILLED:
        wrapper = ContentWrapper._from_spill_file(os.fsdecode(payload), is_text)
        if flags & MSG_WRAPPED:
            return wrapper
        # The engine spills only wrapped lines, but a spilled message
        # without the flag is still read back as the plain value.
        return wrapper.value
    value = decode_item(base_kind, payload)
    if flags & MSG_WRAPPED and isinstance(value, (str, bytes)):
        return ContentWrapper._in_memory(value)
    return value


def encode_packed(items: list[Any]) -> tuple[int, bytes, array] | None:
    """Return the kind, the payloads back to back and their lengths (an
    array of typecode 'Q') for a non-empty list of all str or all bytes.

    Returns None for any other list.

    The work runs in C loops (join, map). A text batch is encoded in one
    call, and each item is encoded on its own only when a character takes
    more than one byte, to learn the items' lengths in bytes.
    """
    types = set(map(type, items))
    if len(types) != 1:
        return None
    item_type = types.pop()
    if item_type is bytes:
        return KIND_BYTES, b"".join(items), array("Q", map(len, items))
    if item_type is not str:
        return None
    text = "".join(items)
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return None  # encode_item() pickles the items that UTF-8 cannot encode
    if len(data) == len(text):
        # Every character took one byte, so lengths in characters are
        # lengths in bytes.
        return KIND_TEXT, data, array("Q", map(len, items))
    encoded = [item.encode("utf-8", "surrogateescape") for item in items]
    return KIND_TEXT, data, array("Q", map(len, encoded))


def decode_packed(data: bytes, lengths: list[int], kinds: list[int]) -> list[Any]:
    """Return the items of messages whose payloads lie back to back in data,
    with the given lengths and packed kinds.

    A batch of one plain kind is cut up by slicing alone. Text that decodes one
    byte to one character (ASCII, and undecodable bytes, which become lone
    surrogates) is decoded in one call and cut at the same offsets, which
    gives the same strings as decoding each payload.
    """
    ends = list(accumulate(lengths))
    starts = [0, *ends[:-1]]
    first = kinds[0]
    if kinds.count(first) == len(kinds):
        if first == KIND_BYTES:
            return [data[start:end] for start, end in zip(starts, ends)]
        if first == KIND_TEXT:
            text = data.decode("utf-8", "surrogateescape")
            if len(text) == len(data):
                return [text[start:end] for start, end in zip(starts, ends)]
            return [data[start:end].decode("utf-8", "surrogateescape") for start, end in zip(starts, ends)]
    return [decode_item(kind, data[start:end]) for kind, start, end in zip(kinds, starts, ends)]

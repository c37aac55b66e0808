"""Conversion between Python items and engine messages, in both directions.

The rule, for every queue, link, reader and writer of this package:

- ``str`` is sent as a text message, encoded as UTF-8 with the
  ``surrogateescape`` error handler, and comes back as ``str``. A reader
  that meets bytes that are not valid UTF-8 in a text stream delivers them
  as they are, and they decode to lone surrogates (U+DC80 to U+DCFF), which
  encode back to the same bytes. So such a line passes through Python
  unchanged, as it does with ``open(..., errors='surrogateescape')``.
- ``bytes``, ``bytearray`` and ``memoryview`` are sent as a bytes message
  and come back as ``bytes``.
- Anything else, including subclasses of ``str`` and ``bytes`` such as
  ``enum.StrEnum`` members, is pickled with the highest protocol and comes
  back as an equal object of the same type.
"""

from __future__ import annotations

import pickle
from typing import Any

from ._constants import KIND_BYTES, KIND_PICKLE, KIND_TEXT

_PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL
_dumps = pickle.dumps
_loads = pickle.loads


def encode_item(item: Any) -> tuple[int, bytes]:
    """Return the message kind and payload for an item."""
    item_type = type(item)
    if item_type is str:
        return KIND_TEXT, item.encode("utf-8", "surrogateescape")
    if item_type is bytes:
        return KIND_BYTES, item
    if item_type is bytearray or item_type is memoryview:
        return KIND_BYTES, bytes(item)
    return KIND_PICKLE, _dumps(item, _PICKLE_PROTOCOL)


def decode_item(kind: int, payload: bytes) -> Any:
    """Return the item that a message of the given kind carries.

    A pickled payload is unpickled, so only take messages from queues that
    this process and the code it trusts put on.
    """
    if kind == KIND_TEXT:
        return payload.decode("utf-8", "surrogateescape")
    if kind == KIND_PICKLE:
        return _loads(payload)
    # KIND_BYTES, and any kind that a newer library might add, as raw bytes.
    return payload

"""ContentWrapper: a str or bytes value that lives in a file once it is large.

A reader created with ``wrap_when=WRAP_WHEN.AUTO`` or ``WRAP_WHEN.ALWAYS``
delivers lines as ContentWrapper objects. A line whose byte length is at
least the wrapper's threshold stays in a spill file from the moment the
engine reads it until a consumer reads ``.value``. So a very long line
takes no memory in the queues it passes through.

Spill files are named ``queuelink-spill-*`` and live in the system's
temporary directory (``tempfile.gettempdir()`` for wrappers made in Python,
the reader's ``spill_dir`` or ``$TMPDIR`` for those made by the engine).
Each spilled wrapper owns one file and removes it when it is garbage
collected or at interpreter exit, whichever comes first.

Pickling, which is how a wrapper reaches another process through a
multiprocessing queue or a Manager proxy, follows one rule: each time a
spilled wrapper is pickled, a new hard link to its file is made, and the
pickle carries the path of that link. The wrapper unpickled from it owns
the link and removes it when collected, so the sender may drop its own
wrapper at once. The link is made in the same directory, so both processes
must see the same file system. Unpickle each pickle once: two objects
unpickled from the same pickle would share one file, and the first one
collected removes it. A pickle that is never unpickled leaves its link
behind.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import tempfile
import threading
import weakref
from typing import Any, Union

# Prefix of every spill file, the same as the engine's.
SPILL_PREFIX = "queuelink-spill-"

_link_numbers = itertools.count(1)
_link_lock = threading.Lock()

_ROUND_FUNCTIONS = {"floor": math.floor, "ceil": math.ceil}


def get_len(value: Any) -> int:
    """Return the length of value in bytes: UTF-8 bytes for a str.

    A str with lone surrogates from the ``surrogateescape`` error handler
    counts each as the one byte it stands for. A ContentWrapper counts the
    bytes of its value, and any other object its ``len()``.
    """
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogateescape"))
    if isinstance(value, memoryview):
        return value.nbytes
    if isinstance(value, ContentWrapper):
        return value.size
    return len(value)


def of_bytes_length(subject: Union[str, bytes], length: int, round_func_name: str = "floor") -> Union[str, bytes]:
    """Return subject repeated to make about length bytes.

    The repeat count is length divided by the byte length of subject,
    rounded down with 'floor' (the result is at most length bytes) or up
    with 'ceil' (at least length bytes). Raises ValueError for an empty
    subject, a negative length or another round_func_name.
    """
    try:
        round_function = _ROUND_FUNCTIONS[round_func_name]
    except KeyError:
        raise ValueError(f"round_func_name must be 'floor' or 'ceil', not {round_func_name!r}") from None
    if length < 0:
        raise ValueError(f"length must be a non-negative number of bytes, not {length!r}")
    subject_length = get_len(subject)
    if subject_length == 0:
        raise ValueError("subject is empty, so no repeat count reaches a length")
    return subject * int(round_function(length / subject_length))


def _remove_file(path: str, owner_pid: int) -> None:
    # A child created by fork() inherits the finalizer but not the file.
    if os.getpid() != owner_pid:
        return
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def share_spill_file(path: str) -> str:
    """Return the path of a new hard link to path, or of a copy where the
    file system has no hard links."""
    directory = os.path.dirname(path)
    while True:
        with _link_lock:
            number = next(_link_numbers)
        # A name of its own, not one derived from path, so names do not
        # grow as a value passes from process to process.
        candidate = os.path.join(directory, f"{SPILL_PREFIX}{os.getpid()}-{number}")
        try:
            os.link(path, candidate)
            return candidate
        except FileExistsError:
            continue
        except FileNotFoundError:
            raise
        except OSError:
            pass
        try:
            with open(path, "rb") as source, open(candidate, "xb") as copy:
                shutil.copyfileobj(source, copy)
            return candidate
        except FileExistsError:
            continue


def _create_spill_file(data: bytes) -> str:
    fd, path = tempfile.mkstemp(prefix=SPILL_PREFIX)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
    except BaseException:
        os.remove(path)
        raise
    return path


def _restore(is_text: bool, threshold: int, size: int, path: str | None, value: Any) -> ContentWrapper:
    """Rebuild a pickled wrapper; a spilled one takes over the link at path."""
    wrapper = ContentWrapper.__new__(ContentWrapper)
    wrapper._setup(is_text, threshold, size, value, path)
    return wrapper


class ContentWrapper:
    """A str or bytes value, kept in a temporary file when it is large.

    A value whose byte length (see get_len) is at least ``threshold`` is
    written to a spill file and not kept in memory. ``value`` reads it
    back on every access. Smaller values stay in memory. ``str()``,
    ``bytes()``, ``len()``, ``==`` and ``hash()`` work on the value:
    ``str()`` of a bytes value decodes it as UTF-8 and ``bytes()`` of a str
    encodes it, both with the ``surrogateescape`` error handler. The
    module documentation describes how spill files are removed and what
    pickling does.

    Raises TypeError for a value that is not str, bytes, bytearray or
    memoryview, and ValueError for a negative threshold.
    """

    THRESHOLD = 16384

    __slots__ = ("threshold", "_is_text", "_size", "_value", "_path", "_length", "_finalizer", "__weakref__")

    def __init__(self, value: Union[str, bytes, bytearray, memoryview], threshold: int = THRESHOLD) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
            raise ValueError(f"threshold must be a non-negative int of bytes, not {threshold!r}")
        if isinstance(value, str):
            is_text = True
            data = value.encode("utf-8", "surrogateescape")
        elif isinstance(value, (bytes, bytearray, memoryview)):
            is_text = False
            value = data = bytes(value)
        else:
            raise TypeError(
                f"ContentWrapper wraps str or bytes, not {type(value).__name__}; "
                f"convert the value first"
            )

        if len(data) >= threshold:
            self._setup(is_text, threshold, len(data), None, _create_spill_file(data))
        else:
            self._setup(is_text, threshold, len(data), value, None)

    def _setup(self, is_text: bool, threshold: int, size: int | None, value: Any, path: str | None) -> None:
        self.threshold = threshold
        self._is_text = is_text
        self._size = size
        self._value = value
        self._path = path
        self._length = None
        self._finalizer = None
        if path is not None:
            self._finalizer = weakref.finalize(self, _remove_file, path, os.getpid())

    @classmethod
    def _from_spill_file(cls, path: str, is_text: bool, threshold: int | None = None) -> ContentWrapper:
        """Return a wrapper that takes over an existing spill file."""
        wrapper = cls.__new__(cls)
        wrapper._setup(is_text, cls.THRESHOLD if threshold is None else threshold, None, None, path)
        return wrapper

    @classmethod
    def _in_memory(cls, value: Union[str, bytes], threshold: int | None = None) -> ContentWrapper:
        """Return a wrapper that keeps value in memory whatever its size."""
        wrapper = cls.__new__(cls)
        size = get_len(value)
        wrapper._setup(isinstance(value, str), cls.THRESHOLD if threshold is None else threshold, size, value, None)
        return wrapper

    @property
    def value(self) -> Union[str, bytes]:
        """The wrapped str or bytes, read from the spill file if there is one."""
        if self._path is None:
            return self._value
        try:
            with open(self._path, "rb") as file:
                data = file.read()
        except FileNotFoundError:
            raise FileNotFoundError(
                f"the spill file {self._path} of a ContentWrapper was removed; the "
                f"wrapper cannot read its value"
            ) from None
        if self._is_text:
            return data.decode("utf-8", "surrogateescape")
        return data

    @property
    def path(self) -> str | None:
        """The path of the spill file, or None when the value is in memory."""
        return self._path

    @property
    def spilled(self) -> bool:
        """True when the value is in a spill file."""
        return self._path is not None

    @property
    def is_text(self) -> bool:
        """True for a str value, False for bytes."""
        return self._is_text

    @property
    def size(self) -> int:
        """The byte length of the value (UTF-8 bytes for a str)."""
        if self._size is None:
            self._size = os.stat(self._path).st_size
        return self._size

    def _payload(self) -> bytes:
        """Return the value as bytes, as a queue message carries it."""
        value = self.value
        if isinstance(value, str):
            return value.encode("utf-8", "surrogateescape")
        return value

    def _share_spill_file(self) -> str:
        """Return a new hard link to the spill file, owned by the caller."""
        return share_spill_file(self._path)

    def __str__(self) -> str:
        value = self.value
        if isinstance(value, str):
            return value
        return value.decode("utf-8", "surrogateescape")

    def __bytes__(self) -> bytes:
        return self._payload()

    def __len__(self) -> int:
        if not self._is_text:
            return self.size
        if self._length is None:
            self._length = len(self.value)
        return self._length

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ContentWrapper):
            return self._is_text == other._is_text and self.value == other.value
        if isinstance(other, (str, bytes)):
            return self.value == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.value)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        if self._path is None:
            return _restore, (self._is_text, self.threshold, self._size, None, self._value)
        return _restore, (self._is_text, self.threshold, self._size, self._share_spill_file(), None)

    def __repr__(self) -> str:
        kind = "str" if self._is_text else "bytes"
        if self._path is None:
            return f"<ContentWrapper {kind} of {self.size} bytes in memory>"
        return f"<ContentWrapper {kind} in spill file {self._path}>"

"""Constants of the C interface, copied from include/queuelink.h.

The values never change once released, so the header and this module must
agree; tests/test_ffi.py compares them with the header.
"""

VERSION_MAJOR = 0
VERSION_MINOR = 2
VERSION_PATCH = 0

# Status codes.
OK = 0
ERR_INVALID = 1
ERR_HANDLE = 2
ERR_CLOSED = 3
ERR_EMPTY = 4
ERR_FULL = 5
ERR_TIMEOUT = 6
ERR_EXISTS = 7
ERR_NOT_FOUND = 8
ERR_IO = 9
ERR_STATE = 10
ERR_INTERNAL = 11
ERR_SPACE = 12

# Log levels of ql_log_attach(), the numbers of Python's logging module.
LOG_DEBUG = 10
LOG_INFO = 20
LOG_WARNING = 30
LOG_ERROR = 40

# Message flags, and where they sit in the kinds of ql_queue_get_packed().
MSG_WRAPPED = 1
MSG_SPILLED = 2
PACKED_FLAGS_SHIFT = 8

# Message kinds.
KIND_TEXT = 1
KIND_BYTES = 2
KIND_PICKLE = 3

# Queue orders.
ORDER_FIFO = 0
ORDER_LIFO = 1
ORDER_PRIORITY = 2

# Directions of a queue on a link.
SOURCE = 1
DESTINATION = 2

# Path modes of a writer.
WRITE_TRUNCATE = 0
WRITE_APPEND = 1

# Reader framings.
FRAME_LINES = 0
FRAME_CONNECTION = 1

# Reader wrap rules.
WRAP_NEVER = 0
WRAP_AUTO = 1
WRAP_ALWAYS = 2

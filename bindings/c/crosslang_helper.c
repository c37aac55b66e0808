/*
 * crosslang_helper.c: C functions that python/tests/test_cross_language.py
 * calls through ctypes, to use one engine queue from Python and from C in
 * the same process.
 *
 * `make test-python` builds it as build/libcrosslang_test.so, linked to
 * libqueuelink.so with a run path to python/queuelink/, where the package
 * finds its copy by default. The dynamic linker maps a file only once per
 * process, so when the package has loaded that file already, this helper
 * reaches the same copy: one Go runtime, one handle table. The test checks
 * it with xl_library_path().
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "queuelink.h"

/* Results of xl_expect() besides the QL_* statuses of its get. */
#define XL_WRONG_KIND 100
#define XL_WRONG_PAYLOAD 101

/* Returns a new unbounded FIFO queue, or NULL if creating it failed. The
 * caller frees it with ql_queue_free() or xl_free_queue(). */
ql_queue *xl_make_queue(void)
{
    ql_queue *q = NULL;

    if (ql_queue_new(QL_ORDER_FIFO, 0, &q) != QL_OK) {
        return NULL;
    }
    return q;
}

int xl_free_queue(ql_queue *q)
{
    return ql_queue_free(q);
}

/* Puts a NUL-terminated string as a QL_KIND_TEXT message, without waiting. */
int xl_put_text(ql_queue *q, const char *text)
{
    return ql_queue_put(q, QL_KIND_TEXT, text, strlen(text), 0);
}

/* Puts len bytes as a QL_KIND_BYTES message, without waiting. */
int xl_put_bytes(ql_queue *q, const void *data, size_t len)
{
    return ql_queue_put(q, QL_KIND_BYTES, data, len, 0);
}

/* Takes a message as ql_queue_get() does, into memory that the library
 * allocates; release it with xl_msg_free(). */
int xl_get(ql_queue *q, int64_t timeout_us, ql_msg *out)
{
    return ql_queue_get(q, timeout_us, NULL, 0, out);
}

void xl_msg_free(ql_msg *msg)
{
    ql_msg_free(msg);
}

/* Takes a message and compares it with the expected kind and payload.
 * Returns QL_OK when both match, XL_WRONG_KIND or XL_WRONG_PAYLOAD when
 * one differs, or the status of a get that failed. */
int xl_expect(ql_queue *q, int64_t timeout_us, int kind, const void *data,
              size_t len)
{
    char buffer[256];
    ql_msg msg;
    int status = ql_queue_get(q, timeout_us, buffer, sizeof buffer, &msg);

    if (status != QL_OK) {
        return status;
    }
    if (msg.kind != kind) {
        status = XL_WRONG_KIND;
    } else if (msg.len != len || (len > 0 && memcmp(msg.data, data, len) != 0)) {
        status = XL_WRONG_PAYLOAD;
    }
    ql_msg_free(&msg);
    return status;
}

/* Returns the path of the shared object that this helper's calls into the
 * library reach, or NULL if the dynamic linker cannot tell. */
const char *xl_library_path(void)
{
    Dl_info info;
    /* A function pointer cannot be converted to void * in ISO C, but
     * dladdr() needs one; POSIX guarantees the round trip. */
    union {
        int (*function)(void);
        void *object;
    } address;

    address.function = ql_version;
    if (dladdr(address.object, &info) == 0) {
        return NULL;
    }
    return info.dli_fname;
}

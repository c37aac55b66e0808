/* C-side state of the C ABI: what must live in C memory so that it is
 * per-thread, static, or visible to leak checkers such as LeakSanitizer,
 * which do not scan the Go heap. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "capi.h"

/* The calling thread's last error message. Go code cannot own
 * thread-local variables, but an exported Go function runs on the calling
 * C thread, so it stores the message here through a call into C on that
 * same thread. A thread-specific key frees the message when the thread
 * exits. */
static pthread_key_t last_error_key;
static pthread_once_t last_error_once = PTHREAD_ONCE_INIT;
static int last_error_ready;

static void make_last_error_key(void) {
    last_error_ready = pthread_key_create(&last_error_key, free) == 0;
}

void ql_capi_set_errmsg(const char *msg, size_t len) {
    pthread_once(&last_error_once, make_last_error_key);
    if (!last_error_ready) {
        return;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return; /* keep the previous message rather than lose both */
    }
    if (len > 0) {
        memcpy(copy, msg, len);
    }
    copy[len] = '\0';
    free(pthread_getspecific(last_error_key));
    if (pthread_setspecific(last_error_key, copy) != 0) {
        free(copy);
    }
}

const char *ql_capi_errmsg(void) {
    pthread_once(&last_error_once, make_last_error_key);
    if (!last_error_ready) {
        return "";
    }
    const char *msg = pthread_getspecific(last_error_key);
    return msg != NULL ? msg : "";
}

static const char *const status_names[] = {
    "ok",
    "invalid argument",
    "invalid handle",
    "closed",
    "queue is empty",
    "queue is full",
    "timed out",
    "already registered",
    "not found",
    "I/O error",
    "invalid state",
    "internal error",
    "no space for the message",
};

const char *ql_capi_status_name(int status) {
    if (status < 0 || (size_t)status >= sizeof status_names / sizeof status_names[0]) {
        return "unknown status";
    }
    return status_names[status];
}

/* Tokens of freed handles, kept allocated so that their addresses are not
 * reused for new handles while they are here (see handles.go). */
static void *quarantine[QL_CAPI_QUARANTINE_SIZE];

void *ql_capi_quarantine_swap(size_t slot, void *token) {
    void *old = quarantine[slot];
    quarantine[slot] = token;
    return old;
}

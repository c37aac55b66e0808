/* Thread-local storage for ql_errmsg(). Go code cannot own thread-local
 * variables, but an exported Go function runs on the calling C thread, so
 * it stores the message here through a call into C on that same thread. */
#include <stdlib.h>
#include <string.h>

#include "capi.h"

static __thread char *last_error = NULL;

void ql_capi_set_errmsg(const char *msg, size_t len) {
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return; /* keep the previous message rather than lose both */
    }
    memcpy(copy, msg, len);
    copy[len] = '\0';
    free(last_error);
    last_error = copy;
}

const char *ql_capi_errmsg(void) {
    return last_error != NULL ? last_error : "";
}

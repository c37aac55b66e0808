/* Declarations shared by the cgo code of the C ABI. The structs repeat the
 * layout of their public twins in include/queuelink.h, which this package
 * cannot include: its prototypes name the opaque handle types that cgo
 * writes as void *. header_test.go checks that the two agree. */
#ifndef QUEUELINK_CAPI_H
#define QUEUELINK_CAPI_H

#include <stddef.h>
#include <stdint.h>

typedef struct ql_msg {
    int32_t kind;
    int32_t owned;
    int64_t priority;
    void *data;
    size_t len;
    uint32_t flags;
    uint32_t reserved;
} ql_msg;

typedef struct ql_reader_options {
    int32_t kind;
    int32_t framing;
    int32_t wrap;
    int32_t reserved;
    int64_t wrap_threshold;
    int64_t partial_line_us;
    const char *spill_dir;
    const char *name;
} ql_reader_options;

typedef struct ql_source_metrics {
    int64_t id;
    uint64_t count;
    int64_t data_point_count;
    double mean;
    double median;
    double stddev;
} ql_source_metrics;

/* Helpers of the Go side, hidden so the library exports only the ql_
 * functions of include/queuelink.h. */
#define QL_CAPI_INTERNAL __attribute__((visibility("hidden")))

/* The calling thread's last error message; see support.c. */
QL_CAPI_INTERNAL void ql_capi_set_errmsg(const char *msg, size_t len);
QL_CAPI_INTERNAL const char *ql_capi_errmsg(void);

/* A static name for each status code. */
QL_CAPI_INTERNAL const char *ql_capi_status_name(int status);

/* How many freed handle tokens stay reserved; see handles.go. */
#define QL_CAPI_QUARANTINE_SIZE 65536

/* Stores token in the quarantine slot and returns the token it held. */
QL_CAPI_INTERNAL void *ql_capi_quarantine_swap(size_t slot, void *token);

#endif

/*
 * bench.c: throughput and latency of libqueuelink from C.
 *
 * Usage: bench [-r RUNS] [-n MESSAGES] [CASE [PAYLOAD_BYTES]]
 *
 * Cases, each run with 40-byte and 4096-byte payloads unless a size is
 * given:
 *
 *  - putget: one thread puts a message into an unbounded queue and gets it
 *    back, MESSAGES times. The figure is put+get pairs per second.
 *  - calls: one thread calls ql_version() twice per message, MESSAGES
 *    times. Each call crosses from C into the Go runtime and back, as
 *    every call of the library does, and does nothing else, so the figure
 *    bounds what putget can reach. The payload size plays no part.
 *  - link: a producer thread puts MESSAGES messages into a source queue, a
 *    link moves them to a destination queue, and the main thread gets
 *    them, one call per message. The figure is messages per second from
 *    the first put to the last get.
 *  - link-batch: the same with ql_queue_put_batch() and
 *    ql_queue_get_batch(), BATCH messages per call.
 *  - rtt: the main thread puts a message on a queue that a link moves to an
 *    echo thread, which puts it back through a second link. The figures
 *    are the 50th and 99th percentile of MESSAGES round trips, in
 *    microseconds.
 *  - copy: a reader reads a file of lines of PAYLOAD_BYTES bytes into a
 *    queue, and a writer writes the queue to another file. The figure is
 *    file bytes per second, from starting the reader to the end of the
 *    writer, which includes the writer's final fsync(). Without -n the
 *    file is 32 MiB. The files are in $TMPDIR, or /tmp, and are removed
 *    afterwards.
 *
 * Every message carries its sequence number in its first 8 bytes and is
 * checked to arrive once and in order; the copy is checked byte for byte.
 * bench_zmq.c measures the same cases with libzmq. bench_util.h describes
 * the output.
 */
#include "bench_util.h"

#include <pthread.h>
#include <unistd.h>

#include "queuelink.h"

/* Messages per ql_queue_put_batch() and ql_queue_get_batch() call. */
#define BATCH 64

/* A put or get that waits longer than this is reported as a failure. */
#define WAIT_TIMEOUT_US ((int64_t)10 * 1000 * 1000)

/* Buffer size for reading files back in the copy check. */
#define COMPARE_CHUNK (1 << 16)

static void report_failure(const char *call, int status)
{
    fprintf(stderr, "bench: %s failed: %s: %s\n", call, ql_strerror(status),
            ql_errmsg());
}

/* Returns a payload of size bytes filled with 'x', or NULL after printing
 * the failure. */
static unsigned char *new_payload(size_t size)
{
    unsigned char *payload = malloc(size);

    if (payload == NULL) {
        fprintf(stderr, "bench: out of memory for a %zu-byte payload\n",
                size);
        return NULL;
    }
    memset(payload, 'x', size);
    return payload;
}

/* Releases a message that a get filled. queuelink.h documents that a
 * message whose payload is in the caller's buffer and that is not spilled
 * needs no release. So this skips the call into the library for it, as a
 * C consumer that reads into its own buffer would. */
static void release(ql_msg *msg)
{
    if (msg->owned || (msg->flags & QL_MSG_SPILLED)) {
        ql_msg_free(msg);
    }
}

/* Checks that msg is message number expected of size bytes. */
static int check_message(const ql_msg *msg, uint64_t expected, size_t size)
{
    if (msg->len != size || bench_seq(msg->data) != expected) {
        fprintf(stderr, "bench: message %" PRIu64 " arrived as number %"
                PRIu64 " with %zu bytes, expected %zu\n", expected,
                msg->len >= 8 ? bench_seq(msg->data) : UINT64_MAX,
                msg->len, size);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * putget
 * ---------------------------------------------------------------------- */

static int run_calls(size_t size, uint64_t count, double *values)
{
    volatile int sink = 0;
    int64_t started = bench_now_ns();
    uint64_t i;

    (void)size;
    for (i = 0; i < count; i++) {
        sink += ql_version();
        sink += ql_version();
    }
    values[0] = bench_rate(count, bench_now_ns() - started);
    return sink == 0 ? -1 : 0;
}

static int run_putget(size_t size, uint64_t count, double *values)
{
    ql_queue *q = NULL;
    unsigned char *payload = new_payload(size);
    unsigned char *buf = new_payload(size);
    int64_t started;
    uint64_t i;
    int status;
    int result = -1;

    if (payload == NULL || buf == NULL) {
        goto done;
    }
    status = ql_queue_new(QL_ORDER_FIFO, 0, &q);
    if (status != QL_OK) {
        report_failure("ql_queue_new", status);
        goto done;
    }
    started = bench_now_ns();
    for (i = 0; i < count; i++) {
        ql_msg msg;

        bench_stamp(payload, i);
        status = ql_queue_put(q, QL_KIND_BYTES, payload, size, 0);
        if (status != QL_OK) {
            report_failure("ql_queue_put", status);
            goto done;
        }
        status = ql_queue_get(q, 0, buf, size, &msg);
        if (status != QL_OK) {
            report_failure("ql_queue_get", status);
            goto done;
        }
        if (check_message(&msg, i, size) != 0) {
            release(&msg);
            goto done;
        }
        release(&msg);
    }
    values[0] = bench_rate(count, bench_now_ns() - started);
    result = 0;

done:
    ql_queue_free(q);
    free(payload);
    free(buf);
    return result;
}

/* ------------------------------------------------------------------------
 * link and link-batch
 * ---------------------------------------------------------------------- */

struct producer {
    ql_queue *q;
    uint64_t count;
    size_t size;
    int batch;  /* nonzero: ql_queue_put_batch() */
    int status; /* QL_OK, or the status of the put that failed */
};

static void *run_producer(void *arg)
{
    struct producer *p = arg;
    unsigned char *payloads;
    ql_msg msgs[BATCH];
    uint64_t seq = 0;
    int per_call = p->batch ? BATCH : 1;
    int i;

    p->status = QL_ERR_INTERNAL;
    payloads = new_payload(p->size * BATCH);
    if (payloads == NULL) {
        return NULL;
    }
    memset(msgs, 0, sizeof msgs);
    for (i = 0; i < BATCH; i++) {
        msgs[i].kind = QL_KIND_BYTES;
        msgs[i].data = payloads + (size_t)i * p->size;
        msgs[i].len = p->size;
    }

    p->status = QL_OK;
    while (seq < p->count) {
        size_t n = (size_t)per_call;
        size_t done = 0;
        int status;

        if (p->count - seq < n) {
            n = (size_t)(p->count - seq);
        }
        for (i = 0; i < (int)n; i++) {
            bench_stamp(msgs[i].data, seq + (uint64_t)i);
        }
        if (p->batch) {
            status = ql_queue_put_batch(p->q, msgs, n, WAIT_TIMEOUT_US,
                                        &done);
        } else {
            status = ql_queue_put(p->q, QL_KIND_BYTES, msgs[0].data,
                                  p->size, WAIT_TIMEOUT_US);
            done = 1;
        }
        if (status != QL_OK) {
            p->status = status;
            break;
        }
        seq += done;
    }
    free(payloads);
    return NULL;
}

/* Gets count messages from dest one call at a time, or BATCH per call,
 * and checks each. Returns how many arrived intact. */
static uint64_t consume(ql_queue *dest, uint64_t count, size_t size,
                        int batch)
{
    ql_msg msgs[BATCH];
    size_t buf_cap = size * (batch ? BATCH : 1);
    unsigned char *buf = malloc(buf_cap);
    uint64_t received = 0;

    if (buf == NULL) {
        fprintf(stderr, "bench: out of memory for the get buffer\n");
        return 0;
    }
    while (received < count) {
        size_t got = 1;
        size_t i;
        int status;
        int intact = 1;

        if (batch) {
            status = ql_queue_get_batch(dest, WAIT_TIMEOUT_US, msgs, BATCH,
                                        buf, buf_cap, &got);
        } else {
            status = ql_queue_get(dest, WAIT_TIMEOUT_US, buf, buf_cap,
                                  &msgs[0]);
        }
        if (status != QL_OK) {
            report_failure(batch ? "ql_queue_get_batch" : "ql_queue_get",
                           status);
            break;
        }
        for (i = 0; i < got; i++) {
            if (intact && check_message(&msgs[i], received, size) != 0) {
                intact = 0;
            }
            if (intact) {
                received++;
            }
            release(&msgs[i]);
        }
        if (!intact) {
            break;
        }
    }
    free(buf);
    return received;
}

/* Creates a link from a new bounded source to a new bounded destination.
 * Returns 0, or -1 after printing the failure; the caller frees what was
 * created in both cases. */
static int new_link(const char *name, ql_queue **source, ql_queue **dest,
                    ql_link **link)
{
    int64_t id;
    int status;

    if ((status = ql_queue_new(QL_ORDER_FIFO, BENCH_QUEUE_BOUND, source)) !=
            QL_OK ||
        (status = ql_queue_new(QL_ORDER_FIFO, BENCH_QUEUE_BOUND, dest)) !=
            QL_OK ||
        (status = ql_link_new(name, link)) != QL_OK ||
        (status = ql_link_register(*link, *source, QL_SOURCE, &id)) !=
            QL_OK ||
        (status = ql_link_register(*link, *dest, QL_DESTINATION, &id)) !=
            QL_OK) {
        report_failure("setting up a link", status);
        return -1;
    }
    return 0;
}

static int run_stream(size_t size, uint64_t count, double *values, int batch)
{
    ql_queue *source = NULL;
    ql_queue *dest = NULL;
    ql_link *link = NULL;
    struct producer producer;
    pthread_t thread;
    int64_t started;
    int64_t elapsed;
    uint64_t received;
    int result = -1;

    if (new_link("bench", &source, &dest, &link) != 0) {
        goto done;
    }
    producer.q = source;
    producer.count = count;
    producer.size = size;
    producer.batch = batch;
    started = bench_now_ns();
    if (pthread_create(&thread, NULL, run_producer, &producer) != 0) {
        fprintf(stderr, "bench: cannot start the producer thread\n");
        goto done;
    }
    received = consume(dest, count, size, batch);
    elapsed = bench_now_ns() - started;

    /* Closing the source wakes the producer if the consumer broke off. */
    if (received < count) {
        ql_queue_close(source);
    }
    pthread_join(thread, NULL);
    if (received == count && producer.status != QL_OK) {
        report_failure("the producer's put", producer.status);
    } else if (received == count) {
        values[0] = bench_rate(count, elapsed);
        result = 0;
    }

done:
    ql_link_free(link);
    ql_queue_free(source);
    ql_queue_free(dest);
    return result;
}

static int run_link(size_t size, uint64_t count, double *values)
{
    return run_stream(size, count, values, 0);
}

static int run_link_batch(size_t size, uint64_t count, double *values)
{
    return run_stream(size, count, values, 1);
}

/* ------------------------------------------------------------------------
 * rtt
 * ---------------------------------------------------------------------- */

struct echo {
    ql_queue *in;
    ql_queue *out;
    size_t size;
    int status; /* QL_ERR_CLOSED once in is closed after the last message */
};

/* Puts every message of echo->in back on echo->out until in is closed. */
static void *run_echo(void *arg)
{
    struct echo *e = arg;
    unsigned char *buf = new_payload(e->size);
    int status = QL_ERR_INTERNAL;

    while (buf != NULL) {
        ql_msg msg;

        status = ql_queue_get(e->in, -1, buf, e->size, &msg);
        if (status != QL_OK) {
            break;
        }
        status = ql_queue_put(e->out, msg.kind, msg.data, msg.len,
                              WAIT_TIMEOUT_US);
        release(&msg);
        if (status != QL_OK) {
            break;
        }
    }
    e->status = status;
    free(buf);
    return NULL;
}

static int run_rtt(size_t size, uint64_t count, double *values)
{
    ql_queue *ping_source = NULL;
    ql_queue *ping_dest = NULL;
    ql_queue *pong_source = NULL;
    ql_queue *pong_dest = NULL;
    ql_link *ping = NULL;
    ql_link *pong = NULL;
    struct echo echo;
    pthread_t thread;
    int started = 0;
    unsigned char *payload = new_payload(size);
    unsigned char *buf = new_payload(size);
    double *samples = malloc(count * sizeof *samples);
    uint64_t total = count + BENCH_WARMUP_ROUND_TRIPS;
    uint64_t i;
    int result = -1;

    if (payload == NULL || buf == NULL || samples == NULL) {
        fprintf(stderr, "bench: out of memory for %" PRIu64 " samples\n",
                count);
        goto done;
    }
    if (new_link("ping", &ping_source, &ping_dest, &ping) != 0 ||
        new_link("pong", &pong_source, &pong_dest, &pong) != 0) {
        goto done;
    }
    echo.in = ping_dest;
    echo.out = pong_source;
    echo.size = size;
    if (pthread_create(&thread, NULL, run_echo, &echo) != 0) {
        fprintf(stderr, "bench: cannot start the echo thread\n");
        goto done;
    }
    started = 1;

    for (i = 0; i < total; i++) {
        int64_t sent;
        ql_msg msg;
        int status;

        bench_stamp(payload, i);
        sent = bench_now_ns();
        status = ql_queue_put(ping_source, QL_KIND_BYTES, payload, size,
                              WAIT_TIMEOUT_US);
        if (status != QL_OK) {
            report_failure("ql_queue_put", status);
            goto done;
        }
        status = ql_queue_get(pong_dest, WAIT_TIMEOUT_US, buf, size, &msg);
        if (status != QL_OK) {
            report_failure("ql_queue_get", status);
            goto done;
        }
        if (i >= BENCH_WARMUP_ROUND_TRIPS) {
            samples[i - BENCH_WARMUP_ROUND_TRIPS] =
                (double)(bench_now_ns() - sent) / 1e3;
        }
        if (check_message(&msg, i, size) != 0) {
            release(&msg);
            goto done;
        }
        release(&msg);
    }
    values[0] = bench_quantile(samples, count, 0.50);
    values[1] = bench_quantile(samples, count, 0.99);
    result = 0;

done:
    if (started) {
        /* The echo thread ends when its input closes. */
        ql_queue_close(ping_dest);
        pthread_join(thread, NULL);
        if (result == 0 && echo.status != QL_ERR_CLOSED) {
            report_failure("the echo thread", echo.status);
            result = -1;
        }
    }
    ql_link_free(ping);
    ql_link_free(pong);
    ql_queue_free(ping_source);
    ql_queue_free(ping_dest);
    ql_queue_free(pong_source);
    ql_queue_free(pong_dest);
    free(payload);
    free(buf);
    free(samples);
    return result;
}

/* ------------------------------------------------------------------------
 * copy
 * ---------------------------------------------------------------------- */

/* Writes count lines of size bytes, each ending in '\n', to path. */
static int write_lines(const char *path, size_t size, uint64_t count)
{
    FILE *f = fopen(path, "wb");
    unsigned char *line = new_payload(size);
    uint64_t i;
    int result = -1;

    if (f == NULL) {
        fprintf(stderr, "bench: cannot create %s: %s\n", path,
                strerror(errno));
        free(line);
        return -1;
    }
    if (line != NULL) {
        line[size - 1] = '\n';
        for (i = 0; i < count; i++) {
            char digits[9];

            /* The line number, cut to fit before the '\n'. */
            snprintf(digits, sizeof digits, "%08" PRIu64, i % 100000000);
            memcpy(line, digits, size - 1 < 8 ? size - 1 : 8);
            if (fwrite(line, 1, size, f) != size) {
                break;
            }
        }
        result = i == count ? 0 : -1;
    }
    if (fclose(f) != 0 || result != 0) {
        fprintf(stderr, "bench: cannot write %s: %s\n", path,
                strerror(errno));
        result = -1;
    }
    free(line);
    return result;
}

/* Returns 0 when the files at a and b are byte-identical. */
static int compare_files(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb");
    FILE *fb = fopen(b, "rb");
    static unsigned char chunk_a[COMPARE_CHUNK];
    static unsigned char chunk_b[COMPARE_CHUNK];
    uint64_t offset = 0;
    int result = -1;

    if (fa == NULL || fb == NULL) {
        fprintf(stderr, "bench: cannot open %s for the check: %s\n",
                fa == NULL ? a : b, strerror(errno));
        goto done;
    }
    for (;;) {
        size_t na = fread(chunk_a, 1, sizeof chunk_a, fa);
        size_t nb = fread(chunk_b, 1, sizeof chunk_b, fb);

        if (na != nb || memcmp(chunk_a, chunk_b, na) != 0) {
            fprintf(stderr, "bench: the copy %s differs from %s within "
                    "bytes %" PRIu64 " to %" PRIu64 "\n", b, a, offset,
                    offset + (na > nb ? na : nb));
            goto done;
        }
        if (na == 0) {
            break;
        }
        offset += na;
    }
    result = 0;

done:
    if (fa != NULL) {
        fclose(fa);
    }
    if (fb != NULL) {
        fclose(fb);
    }
    return result;
}

static int run_copy(size_t size, uint64_t count, double *values)
{
    const char *tmp = getenv("TMPDIR");
    char input[4096];
    char output[4096];
    ql_queue *q = NULL;
    ql_reader *reader = NULL;
    ql_writer *writer = NULL;
    int64_t started;
    int64_t elapsed;
    int status;
    int fd;
    int result = -1;

    if (tmp == NULL || *tmp == '\0') {
        tmp = "/tmp";
    }
    snprintf(input, sizeof input, "%s/queuelink-bench-in-XXXXXX", tmp);
    snprintf(output, sizeof output, "%s/queuelink-bench-out-XXXXXX", tmp);
    if ((fd = mkstemp(input)) < 0) {
        fprintf(stderr, "bench: cannot create a file in %s: %s\n", tmp,
                strerror(errno));
        return -1;
    }
    close(fd);
    if ((fd = mkstemp(output)) < 0) {
        fprintf(stderr, "bench: cannot create a file in %s: %s\n", tmp,
                strerror(errno));
        unlink(input);
        return -1;
    }
    close(fd);
    if (write_lines(input, size, count) != 0) {
        goto done;
    }

    status = ql_queue_new(QL_ORDER_FIFO, BENCH_QUEUE_BOUND, &q);
    if (status != QL_OK) {
        report_failure("ql_queue_new", status);
        goto done;
    }
    started = bench_now_ns();
    if ((status = ql_writer_new_path(q, output, QL_WRITE_TRUNCATE,
                                     &writer)) != QL_OK ||
        (status = ql_reader_new_path(q, input, QL_KIND_BYTES, &reader)) !=
            QL_OK) {
        report_failure("starting the reader and writer", status);
        goto done;
    }
    if ((status = ql_reader_wait(reader, -1)) != QL_OK) {
        report_failure("the reader", status);
        goto done;
    }
    /* The writer ends once it has written what is left in the closed
     * queue. */
    ql_queue_close(q);
    if ((status = ql_writer_wait(writer, -1)) != QL_OK) {
        report_failure("the writer", status);
        goto done;
    }
    elapsed = bench_now_ns() - started;
    if (compare_files(input, output) != 0) {
        goto done;
    }
    values[0] = bench_rate(count * size, elapsed);
    result = 0;

done:
    ql_reader_free(reader);
    ql_writer_free(writer);
    ql_queue_free(q);
    unlink(input);
    unlink(output);
    return result;
}

static const struct bench_case cases[] = {
    {"putget", "one thread: put, then get, on one queue", 300000, 0, 1,
     {{"", "msg/s"}}, run_putget},
    {"calls", "one thread: two calls of ql_version() per message", 1000000,
     0, 1, {{"", "msg/s"}}, run_calls},
    {"link", "producer thread -> link -> main thread, one message per call",
     200000, 0, 1, {{"", "msg/s"}}, run_link},
    {"link-batch", "the same, 64 messages per call", 300000, 0, 1,
     {{"", "msg/s"}}, run_link_batch},
    {"rtt", "round trips through two links and an echo thread", 10000, 0,
     2, {{"-p50", "us"}, {"-p99", "us"}}, run_rtt},
    {"copy", "file -> reader -> queue -> writer -> file, lines of "
     "PAYLOAD_BYTES", 0, 32 * 1024 * 1024, 1, {{"", "B/s"}}, run_copy},
};

int main(int argc, char **argv)
{
    struct bench_options opts;
    int version = ql_version();
    int status;

    if (version / 10000 != QL_VERSION_MAJOR) {
        fprintf(stderr, "bench: libqueuelink version %d does not match the "
                "header's major version %d\n", version, QL_VERSION_MAJOR);
        return 2;
    }
    status = bench_parse_args(argc, argv, cases,
                              (int)(sizeof cases / sizeof cases[0]), &opts);
    if (status != 0) {
        return status == 1 ? 0 : 2;
    }
    printf("# libqueuelink %d.%d.%d\n", version / 10000, version / 100 % 100,
           version % 100);
    return bench_main(&opts, cases, (int)(sizeof cases / sizeof cases[0]));
}

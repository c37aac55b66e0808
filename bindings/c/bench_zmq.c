/*
 * bench_zmq.c: the libzmq baseline of bench.c, over inproc transports.
 *
 * Usage: bench_zmq [-r RUNS] [-n MESSAGES] [CASE [PAYLOAD_BYTES]]
 *
 * Cases, each run with 40-byte and 4096-byte payloads unless a size is
 * given:
 *
 *  - pushpull: one thread sends a message on a PUSH socket and receives it
 *    from the PULL socket connected to it, MESSAGES times. The figure is
 *    send+receive pairs per second. bench.c's putget is the counterpart.
 *  - forward: a producer thread sends MESSAGES messages on a PUSH socket,
 *    a forwarding thread receives them on a PULL socket and sends them on
 *    through a second PUSH socket, and the main thread receives them on a
 *    PULL socket. The figure is messages per second from the first send
 *    to the last receive. The counterparts are bench.c's link and
 *    link-batch.
 *  - rtt: the main thread sends a message on a PAIR socket, and an echo
 *    thread sends it back. The figures are the 50th and 99th percentile
 *    of MESSAGES round trips, in microseconds. bench.c's rtt is the
 *    counterpart, which passes two links on the way.
 *
 * Every socket's high-water marks are BENCH_QUEUE_BOUND, the bound of
 * bench.c's queues. Every message carries its sequence number in its
 * first 8 bytes and is checked to arrive once and in order.
 */
#include "bench_util.h"

#include <pthread.h>
#include <zmq.h>

/* A send or receive that waits longer than this fails with EAGAIN and is
 * reported as a failure. */
#define WAIT_TIMEOUT_MS 10000

static void report_failure(const char *call)
{
    fprintf(stderr, "bench_zmq: %s failed: %s\n", call,
            zmq_strerror(zmq_errno()));
}

/* Returns a new socket of the given type with the benchmark's high-water
 * marks, bound to or connected to endpoint, or NULL after printing the
 * failure. */
static void *open_socket(void *context, int type, const char *endpoint,
                         int bind)
{
    void *socket = zmq_socket(context, type);
    int hwm = BENCH_QUEUE_BOUND;
    int linger = 0;
    int timeout_ms = WAIT_TIMEOUT_MS;

    if (socket == NULL) {
        report_failure("zmq_socket");
        return NULL;
    }
    if (zmq_setsockopt(socket, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(socket, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(socket, ZMQ_SNDTIMEO, &timeout_ms,
                       sizeof timeout_ms) != 0 ||
        zmq_setsockopt(socket, ZMQ_RCVTIMEO, &timeout_ms,
                       sizeof timeout_ms) != 0) {
        report_failure("zmq_setsockopt");
        zmq_close(socket);
        return NULL;
    }
    if ((bind ? zmq_bind(socket, endpoint) :
                zmq_connect(socket, endpoint)) != 0) {
        report_failure(bind ? "zmq_bind" : "zmq_connect");
        zmq_close(socket);
        return NULL;
    }
    return socket;
}

static void close_socket(void *socket)
{
    if (socket != NULL) {
        zmq_close(socket);
    }
}

/* Returns a payload of size bytes filled with 'x', or NULL after printing
 * the failure. */
static unsigned char *new_payload(size_t size)
{
    unsigned char *payload = malloc(size);

    if (payload == NULL) {
        fprintf(stderr, "bench_zmq: out of memory for a %zu-byte payload\n",
                size);
        return NULL;
    }
    memset(payload, 'x', size);
    return payload;
}

/* Checks that a received message of received bytes, in buf, is message
 * number expected of size bytes. */
static int check_message(const unsigned char *buf, int received,
                         uint64_t expected, size_t size)
{
    if (received < 0) {
        report_failure("zmq_recv");
        return -1;
    }
    if ((size_t)received != size || bench_seq(buf) != expected) {
        fprintf(stderr, "bench_zmq: message %" PRIu64 " arrived as number %"
                PRIu64 " with %d bytes, expected %zu\n", expected,
                received >= 8 ? bench_seq(buf) : UINT64_MAX, received,
                size);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * pushpull
 * ---------------------------------------------------------------------- */

static int run_pushpull(size_t size, uint64_t count, double *values)
{
    void *context = zmq_ctx_new();
    void *push = NULL;
    void *pull = NULL;
    unsigned char *payload = new_payload(size);
    unsigned char *buf = new_payload(size);
    int64_t started;
    uint64_t i;
    int result = -1;

    if (context == NULL || payload == NULL || buf == NULL) {
        goto done;
    }
    pull = open_socket(context, ZMQ_PULL, "inproc://pushpull", 1);
    push = open_socket(context, ZMQ_PUSH, "inproc://pushpull", 0);
    if (pull == NULL || push == NULL) {
        goto done;
    }
    started = bench_now_ns();
    for (i = 0; i < count; i++) {
        bench_stamp(payload, i);
        if (zmq_send(push, payload, size, 0) < 0) {
            report_failure("zmq_send");
            goto done;
        }
        if (check_message(buf, zmq_recv(pull, buf, size, 0), i, size) != 0) {
            goto done;
        }
    }
    values[0] = bench_rate(count, bench_now_ns() - started);
    result = 0;

done:
    close_socket(push);
    close_socket(pull);
    if (context != NULL) {
        zmq_ctx_term(context);
    }
    free(payload);
    free(buf);
    return result;
}

/* ------------------------------------------------------------------------
 * forward
 * ---------------------------------------------------------------------- */

struct producer {
    void *push;
    uint64_t count;
    size_t size;
    int failed;
};

static void *run_producer(void *arg)
{
    struct producer *p = arg;
    unsigned char *payload = new_payload(p->size);
    uint64_t i;

    p->failed = 1;
    if (payload == NULL) {
        return NULL;
    }
    for (i = 0; i < p->count; i++) {
        bench_stamp(payload, i);
        if (zmq_send(p->push, payload, p->size, 0) < 0) {
            report_failure("the producer's zmq_send");
            free(payload);
            return NULL;
        }
    }
    p->failed = 0;
    free(payload);
    return NULL;
}

struct forwarder {
    void *pull;
    void *push;
    uint64_t count;
    int failed;
};

/* Moves count messages from pull to push without copying them. */
static void *run_forwarder(void *arg)
{
    struct forwarder *f = arg;
    zmq_msg_t msg;
    uint64_t i;

    f->failed = 1;
    zmq_msg_init(&msg);
    for (i = 0; i < f->count; i++) {
        if (zmq_msg_recv(&msg, f->pull, 0) < 0) {
            report_failure("the forwarder's zmq_msg_recv");
            zmq_msg_close(&msg);
            return NULL;
        }
        if (zmq_msg_send(&msg, f->push, 0) < 0) {
            report_failure("the forwarder's zmq_msg_send");
            zmq_msg_close(&msg);
            return NULL;
        }
    }
    zmq_msg_close(&msg);
    f->failed = 0;
    return NULL;
}

static int run_forward(size_t size, uint64_t count, double *values)
{
    void *context = zmq_ctx_new();
    struct producer producer = {NULL, count, size, 1};
    struct forwarder forwarder = {NULL, NULL, count, 1};
    void *pull = NULL;
    pthread_t producer_thread;
    pthread_t forwarder_thread;
    int threads = 0;
    unsigned char *buf = new_payload(size);
    int64_t started;
    int64_t elapsed = 0;
    uint64_t i = 0;
    int result = -1;

    if (context == NULL || buf == NULL) {
        goto done;
    }
    forwarder.pull = open_socket(context, ZMQ_PULL, "inproc://in", 1);
    forwarder.push = open_socket(context, ZMQ_PUSH, "inproc://out", 1);
    producer.push = open_socket(context, ZMQ_PUSH, "inproc://in", 0);
    pull = open_socket(context, ZMQ_PULL, "inproc://out", 0);
    if (forwarder.pull == NULL || forwarder.push == NULL ||
        producer.push == NULL || pull == NULL) {
        goto done;
    }

    started = bench_now_ns();
    if (pthread_create(&forwarder_thread, NULL, run_forwarder, &forwarder) !=
        0) {
        fprintf(stderr, "bench_zmq: cannot start the forwarding thread\n");
        goto done;
    }
    threads = 1;
    if (pthread_create(&producer_thread, NULL, run_producer, &producer) !=
        0) {
        fprintf(stderr, "bench_zmq: cannot start the producer thread\n");
        goto done;
    }
    threads = 2;
    for (i = 0; i < count; i++) {
        if (check_message(buf, zmq_recv(pull, buf, size, 0), i, size) != 0) {
            break;
        }
    }
    elapsed = bench_now_ns() - started;
    if (i == count) {
        result = 0;
    }

done:
    if (result != 0 && threads > 0) {
        /* Terminating the context makes the threads' blocked calls fail
         * with ETERM, so they end; their sockets close below. */
        fprintf(stderr, "bench_zmq: the forward case failed; stopping its "
                "threads\n");
        zmq_ctx_shutdown(context);
    }
    if (threads > 1) {
        pthread_join(producer_thread, NULL);
    }
    if (threads > 0) {
        pthread_join(forwarder_thread, NULL);
    }
    if (result == 0 && (producer.failed || forwarder.failed)) {
        result = -1;
    }
    if (result == 0) {
        values[0] = bench_rate(count, elapsed);
    }
    close_socket(producer.push);
    close_socket(forwarder.pull);
    close_socket(forwarder.push);
    close_socket(pull);
    if (context != NULL) {
        zmq_ctx_term(context);
    }
    free(buf);
    return result;
}

/* ------------------------------------------------------------------------
 * rtt
 * ---------------------------------------------------------------------- */

struct echo {
    void *pair;
    uint64_t count;
    int failed;
};

/* Sends back count messages without copying them. */
static void *run_echo(void *arg)
{
    struct echo *e = arg;
    zmq_msg_t msg;
    uint64_t i;

    e->failed = 1;
    zmq_msg_init(&msg);
    for (i = 0; i < e->count; i++) {
        if (zmq_msg_recv(&msg, e->pair, 0) < 0 ||
            zmq_msg_send(&msg, e->pair, 0) < 0) {
            report_failure("the echo thread's zmq_msg_recv or zmq_msg_send");
            zmq_msg_close(&msg);
            return NULL;
        }
    }
    zmq_msg_close(&msg);
    e->failed = 0;
    return NULL;
}

static int run_rtt(size_t size, uint64_t count, double *values)
{
    void *context = zmq_ctx_new();
    void *pair = NULL;
    struct echo echo = {NULL, count + BENCH_WARMUP_ROUND_TRIPS, 1};
    pthread_t thread;
    int started = 0;
    unsigned char *payload = new_payload(size);
    unsigned char *buf = new_payload(size);
    double *samples = malloc(count * sizeof *samples);
    uint64_t i;
    int result = -1;

    if (context == NULL || payload == NULL || buf == NULL ||
        samples == NULL) {
        fprintf(stderr, "bench_zmq: out of memory for %" PRIu64
                " samples\n", count);
        goto done;
    }
    pair = open_socket(context, ZMQ_PAIR, "inproc://rtt", 1);
    echo.pair = open_socket(context, ZMQ_PAIR, "inproc://rtt", 0);
    if (pair == NULL || echo.pair == NULL) {
        goto done;
    }
    if (pthread_create(&thread, NULL, run_echo, &echo) != 0) {
        fprintf(stderr, "bench_zmq: cannot start the echo thread\n");
        goto done;
    }
    started = 1;
    for (i = 0; i < echo.count; i++) {
        int64_t sent;
        int received;

        bench_stamp(payload, i);
        sent = bench_now_ns();
        if (zmq_send(pair, payload, size, 0) < 0) {
            report_failure("zmq_send");
            goto done;
        }
        received = zmq_recv(pair, buf, size, 0);
        if (i >= BENCH_WARMUP_ROUND_TRIPS) {
            samples[i - BENCH_WARMUP_ROUND_TRIPS] =
                (double)(bench_now_ns() - sent) / 1e3;
        }
        if (check_message(buf, received, i, size) != 0) {
            goto done;
        }
    }
    values[0] = bench_quantile(samples, count, 0.50);
    values[1] = bench_quantile(samples, count, 0.99);
    result = 0;

done:
    if (started) {
        if (result != 0) {
            zmq_ctx_shutdown(context);
        }
        pthread_join(thread, NULL);
        if (echo.failed) {
            result = -1;
        }
    }
    close_socket(pair);
    close_socket(echo.pair);
    if (context != NULL) {
        zmq_ctx_term(context);
    }
    free(payload);
    free(buf);
    free(samples);
    return result;
}

static const struct bench_case cases[] = {
    {"pushpull", "one thread: send on PUSH, then receive on PULL", 1000000,
     0, 1, {{"", "msg/s"}}, run_pushpull},
    {"forward", "producer thread -> forwarding thread -> main thread",
     500000, 0, 1, {{"", "msg/s"}}, run_forward},
    {"rtt", "round trips to an echo thread over PAIR sockets", 10000, 0, 2,
     {{"-p50", "us"}, {"-p99", "us"}}, run_rtt},
};

int main(int argc, char **argv)
{
    struct bench_options opts;
    int major;
    int minor;
    int patch;
    int status;

    status = bench_parse_args(argc, argv, cases,
                              (int)(sizeof cases / sizeof cases[0]), &opts);
    if (status != 0) {
        return status == 1 ? 0 : 2;
    }
    zmq_version(&major, &minor, &patch);
    printf("# libzmq %d.%d.%d\n", major, minor, patch);
    return bench_main(&opts, cases, (int)(sizeof cases / sizeof cases[0]));
}

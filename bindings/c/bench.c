/*
 * bench.c: message throughput of libqueuelink from C.
 *
 * Usage: bench [MESSAGES]
 *
 * Measures two figures with 40-byte payloads and prints the median of 3
 * runs of each:
 *
 *  - link: a producer thread puts MESSAGES messages into a source queue, a
 *    link moves them to a destination queue, and the main thread gets them
 *    all. The figure is messages per second from the first put to the last
 *    get. Every message is checked to arrive once and in order.
 *  - queue: one thread puts a message into a queue and gets it back,
 *    MESSAGES times. The figure is put+get pairs per second.
 *
 * Without MESSAGES, a short calibration run sizes each run to take about
 * RUN_SECONDS, between MIN_MESSAGES and MAX_MESSAGES messages.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queuelink.h"

enum { PAYLOAD_SIZE = 40, RUNS = 3 };

/* Bound of the link's queues, so that the producer cannot run ahead of the
 * link by more than this many messages. */
#define QUEUE_BOUND 10000

#define CALIBRATION_MESSAGES 20000
#define RUN_SECONDS 1.5
#define MIN_MESSAGES 100000
#define MAX_MESSAGES 1000000

/* A put or get that waits longer than this is reported as a failure. */
#define WAIT_TIMEOUT_US ((int64_t)10 * 1000 * 1000)

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void report_failure(const char *call, int status)
{
    fprintf(stderr, "bench: %s failed: %s: %s\n", call, ql_strerror(status),
            ql_errmsg());
}

/* Fills a payload whose first 8 bytes are the sequence number. */
static void fill_payload(unsigned char *payload, uint64_t seq)
{
    memset(payload, 'x', PAYLOAD_SIZE);
    memcpy(payload, &seq, sizeof seq);
}

struct producer {
    ql_queue *q;
    uint64_t count;
    int status; /* QL_OK, or the status of the put that failed */
};

static void *run_producer(void *arg)
{
    struct producer *producer = arg;
    unsigned char payload[PAYLOAD_SIZE];
    uint64_t seq;

    producer->status = QL_OK;
    for (seq = 0; seq < producer->count; seq++) {
        int status;

        fill_payload(payload, seq);
        status = ql_queue_put(producer->q, QL_KIND_BYTES, payload,
                              PAYLOAD_SIZE, WAIT_TIMEOUT_US);
        if (status != QL_OK) {
            producer->status = status;
            break;
        }
    }
    return NULL;
}

/* Streams count messages through a link and returns messages per second,
 * or a negative value after a failure. */
static double run_link(uint64_t count)
{
    ql_queue *source = NULL;
    ql_queue *dest = NULL;
    ql_link *link = NULL;
    struct producer producer;
    pthread_t thread;
    unsigned char buf[PAYLOAD_SIZE * 2];
    int64_t id;
    int64_t started;
    int64_t elapsed_us;
    uint64_t received = 0;
    int status;
    double rate = -1.0;

    if ((status = ql_queue_new(QL_ORDER_FIFO, QUEUE_BOUND, &source)) !=
            QL_OK ||
        (status = ql_queue_new(QL_ORDER_FIFO, QUEUE_BOUND, &dest)) != QL_OK ||
        (status = ql_link_new("bench", &link)) != QL_OK ||
        (status = ql_link_register(link, source, QL_SOURCE, &id)) != QL_OK ||
        (status = ql_link_register(link, dest, QL_DESTINATION, &id)) !=
            QL_OK) {
        report_failure("setting up the link", status);
        goto done;
    }

    producer.q = source;
    producer.count = count;
    started = now_us();
    if (pthread_create(&thread, NULL, run_producer, &producer) != 0) {
        fprintf(stderr, "bench: cannot start the producer thread\n");
        goto done;
    }
    for (received = 0; received < count; received++) {
        ql_msg msg;
        uint64_t seq;

        memset(&msg, 0, sizeof msg);
        status = ql_queue_get(dest, WAIT_TIMEOUT_US, buf, sizeof buf, &msg);
        if (status != QL_OK) {
            report_failure("ql_queue_get", status);
            break;
        }
        memcpy(&seq, msg.data, sizeof seq);
        if (msg.len != PAYLOAD_SIZE || seq != received) {
            fprintf(stderr, "bench: message %" PRIu64 " arrived as number %"
                    PRIu64 " with %zu bytes\n", received, seq, msg.len);
            ql_msg_free(&msg);
            break;
        }
        ql_msg_free(&msg);
    }
    elapsed_us = now_us() - started;

    /* Closing the source wakes the producer if the loop above broke off. */
    if (received < count) {
        ql_queue_close(source);
    }
    pthread_join(thread, NULL);
    if (received == count && producer.status != QL_OK) {
        report_failure("ql_queue_put", producer.status);
    } else if (received == count) {
        rate = (double)count * 1e6 / (double)(elapsed_us > 0 ? elapsed_us : 1);
    }

done:
    ql_link_free(link);
    ql_queue_free(source);
    ql_queue_free(dest);
    return rate;
}

/* Puts and gets count messages on one queue in one thread and returns
 * put+get pairs per second, or a negative value after a failure. */
static double run_put_get(uint64_t count)
{
    ql_queue *q = NULL;
    unsigned char payload[PAYLOAD_SIZE];
    unsigned char buf[PAYLOAD_SIZE * 2];
    int64_t started;
    int64_t elapsed_us;
    uint64_t i;
    int status;

    status = ql_queue_new(QL_ORDER_FIFO, 0, &q);
    if (status != QL_OK) {
        report_failure("ql_queue_new", status);
        return -1.0;
    }
    started = now_us();
    for (i = 0; i < count; i++) {
        ql_msg msg;

        fill_payload(payload, i);
        status = ql_queue_put(q, QL_KIND_BYTES, payload, PAYLOAD_SIZE, 0);
        if (status != QL_OK) {
            report_failure("ql_queue_put", status);
            break;
        }
        memset(&msg, 0, sizeof msg);
        status = ql_queue_get(q, 0, buf, sizeof buf, &msg);
        if (status != QL_OK) {
            report_failure("ql_queue_get", status);
            break;
        }
        if (msg.len != PAYLOAD_SIZE || memcmp(msg.data, payload,
                                              PAYLOAD_SIZE) != 0) {
            fprintf(stderr, "bench: message %" PRIu64 " came back changed\n",
                    i);
            ql_msg_free(&msg);
            break;
        }
        ql_msg_free(&msg);
    }
    elapsed_us = now_us() - started;
    ql_queue_free(q);
    if (i < count) {
        return -1.0;
    }
    return (double)count * 1e6 / (double)(elapsed_us > 0 ? elapsed_us : 1);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Runs measure(count) RUNS times, stores the results in runs[] in the
 * order they ran and returns their median, or a negative value if a run
 * failed. */
static double median_of_runs(double (*measure)(uint64_t), uint64_t count,
                             double runs[RUNS])
{
    double sorted[RUNS];
    int i;

    for (i = 0; i < RUNS; i++) {
        runs[i] = measure(count);
        if (runs[i] < 0) {
            return -1.0;
        }
        sorted[i] = runs[i];
    }
    qsort(sorted, RUNS, sizeof sorted[0], compare_doubles);
    return sorted[RUNS / 2];
}

int main(int argc, char **argv)
{
    uint64_t count;
    double link_runs[RUNS];
    double queue_runs[RUNS];
    double link_median;
    double queue_median;
    int version = ql_version();

    if (version / 10000 != QL_VERSION_MAJOR) {
        fprintf(stderr, "bench: libqueuelink version %d does not match the "
                "header's major version %d\n", version, QL_VERSION_MAJOR);
        return 2;
    }

    if (argc > 2 || (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
                                   strcmp(argv[1], "--help") == 0))) {
        fprintf(argc == 2 ? stdout : stderr,
                "usage: bench [MESSAGES]\n"
                "Prints messages per second through a link and put+get "
                "pairs per second on one queue,\nmedian of %d runs of "
                "MESSAGES messages each (default: sized to about %.1f s per "
                "run).\n", RUNS, RUN_SECONDS);
        return argc == 2 ? 0 : 2;
    }
    if (argc == 2) {
        char *end = NULL;
        errno = 0;
        count = strtoull(argv[1], &end, 10);
        if (*argv[1] == '\0' || *end != '\0' || errno != 0 || count == 0 ||
            argv[1][0] == '-') {
            fprintf(stderr, "bench: invalid message count \"%s\": expected "
                    "a positive integer\n", argv[1]);
            return 2;
        }
    } else {
        double rate = run_link(CALIBRATION_MESSAGES);
        double sized_count;

        if (rate < 0) {
            return 1;
        }
        sized_count = rate * RUN_SECONDS;
        if (sized_count < MIN_MESSAGES) {
            sized_count = MIN_MESSAGES;
        }
        if (sized_count > MAX_MESSAGES) {
            sized_count = MAX_MESSAGES;
        }
        count = (uint64_t)sized_count / 1000 * 1000;
    }

    printf("library version: %d.%d.%d\n", version / 10000,
           version / 100 % 100, version % 100);
    printf("payload size: %d bytes\n", PAYLOAD_SIZE);
    printf("messages per run: %" PRIu64 "\n", count);
    fflush(stdout);

    link_median = median_of_runs(run_link, count, link_runs);
    if (link_median < 0) {
        return 1;
    }
    printf("link, producer thread -> source -> link -> destination -> main "
           "thread, median of %d: %.0f messages/s\n", RUNS, link_median);
    printf("link runs: %.0f, %.0f, %.0f messages/s\n", link_runs[0],
           link_runs[1], link_runs[2]);
    fflush(stdout);

    queue_median = median_of_runs(run_put_get, count, queue_runs);
    if (queue_median < 0) {
        return 1;
    }
    printf("one thread, put then get on one queue, median of %d: %.0f "
           "put+get pairs/s (%.0f calls/s)\n", RUNS, queue_median,
           queue_median * 2);
    printf("put+get runs: %.0f, %.0f, %.0f pairs/s\n", queue_runs[0],
           queue_runs[1], queue_runs[2]);
    fflush(stdout);
    return 0;
}

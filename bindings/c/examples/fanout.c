/*
 * fanout.c: a subprocess's output fanned out to two files and a consumer.
 *
 * The program runs `seq 1 COUNT` (COUNT is the first argument, 100000 by
 * default), and a QueueLink reader puts each line of its standard output on
 * a source queue. A link copies every line to three destination queues: two
 * writers write theirs to files, and a consumer thread counts its own and
 * adds up the numbers. At the end the program checks that both files
 * contain exactly what seq prints and that the consumer saw every line, and
 * exits with status 1 if a check fails.
 *
 * Build it against the library in build/:
 *   gcc -Iinclude bindings/c/examples/fanout.c -Lbuild -lqueuelink \
 *       -Wl,-rpath,$PWD/build -lpthread -o fanout
 */
#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queuelink.h"

/* Bound of every queue, so a slow writer makes the link wait instead of
 * letting its queue grow without limit. */
#define QUEUE_MAXSIZE 4096

/* How long the program waits for one stage to finish, in microseconds. */
#define STAGE_TIMEOUT_US ((int64_t)60 * 1000 * 1000)

extern char **environ;

/* Prints the failed call, its status name and the library's message. */
static int report(const char *call, int status)
{
    fprintf(stderr, "fanout: %s failed: %s: %s\n", call, ql_strerror(status),
            ql_errmsg());
    return status;
}

#define TRY(call)                              \
    do {                                       \
        int status_ = (call);                  \
        if (status_ != QL_OK) {                \
            report(#call, status_);            \
            goto fail;                         \
        }                                      \
    } while (0)

/* State of the consumer thread: its queue, its counts and how it ended. */
struct consumer {
    ql_queue *queue;
    uint64_t lines;
    uint64_t sum;
    int status; /* QL_ERR_CLOSED once it has read everything */
};

/* Returns the decimal number at the start of a payload, which is not
 * NUL-terminated. */
static uint64_t parse_number(const void *data, size_t len)
{
    const char *text = data;
    uint64_t value = 0;
    size_t i;

    for (i = 0; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
        value = value * 10 + (uint64_t)(text[i] - '0');
    }
    return value;
}

/* Takes lines until the queue is closed and empty. */
static void *run_consumer(void *arg)
{
    struct consumer *consumer = arg;
    char buffer[64];
    ql_msg msg;

    for (;;) {
        int status = ql_queue_get(consumer->queue, -1, buffer, sizeof buffer, &msg);
        if (status != QL_OK) {
            consumer->status = status;
            return NULL;
        }
        consumer->lines++;
        consumer->sum += parse_number(msg.data, msg.len);
        ql_msg_free(&msg);
    }
}

/* Starts `seq 1 count` with its standard output on a pipe. Returns the
 * child's pid and stores the read end in *read_fd, or returns -1. */
static pid_t start_seq(unsigned long count, int *read_fd)
{
    char count_text[32];
    char *argv[] = {"seq", "1", count_text, NULL};
    posix_spawn_file_actions_t actions;
    int fds[2];
    pid_t pid;
    int error;

    snprintf(count_text, sizeof count_text, "%lu", count);
    if (pipe(fds) != 0) {
        perror("fanout: pipe");
        return -1;
    }
    /* posix_spawn, unlike fork() alone, never runs library code in the
     * child, which the Go runtime inside libqueuelink would not survive. */
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    error = posix_spawnp(&pid, "seq", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (error != 0) {
        fprintf(stderr, "fanout: starting seq failed: %s\n", strerror(error));
        close(fds[0]);
        return -1;
    }
    *read_fd = fds[0];
    return pid;
}

/* Returns 1 when the file at path contains exactly len bytes at want. */
static int file_equals(const char *path, const char *want, size_t len)
{
    FILE *file = fopen(path, "rb");
    char buffer[65536];
    size_t offset = 0;
    size_t n;
    int same = 1;

    if (file == NULL) {
        fprintf(stderr, "fanout: cannot open %s: %s\n", path, strerror(errno));
        return 0;
    }
    while (same && (n = fread(buffer, 1, sizeof buffer, file)) > 0) {
        same = offset + n <= len && memcmp(buffer, want + offset, n) == 0;
        offset += n;
    }
    fclose(file);
    if (!same || offset != len) {
        fprintf(stderr, "fanout: %s differs from the output of seq "
                        "(%zu bytes read, %zu expected)\n", path, offset, len);
        return 0;
    }
    return 1;
}

/* Returns what `seq 1 count` prints, in memory from malloc, and stores its
 * length in *len. */
static char *expected_output(unsigned long count, size_t *len)
{
    size_t capacity = (size_t)count * 21 + 1;
    char *text = malloc(capacity);
    size_t used = 0;
    unsigned long i;

    if (text == NULL) {
        return NULL;
    }
    for (i = 1; i <= count; i++) {
        used += (size_t)snprintf(text + used, capacity - used, "%lu\n", i);
    }
    *len = used;
    return text;
}

int main(int argc, char **argv)
{
    unsigned long count = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    char dir[] = "/tmp/queuelink-fanout-XXXXXX";
    char left_path[64];
    char right_path[64];
    ql_queue *source = NULL, *left = NULL, *right = NULL, *counted = NULL;
    ql_link *link = NULL;
    ql_reader *reader = NULL;
    ql_writer *left_writer = NULL, *right_writer = NULL;
    struct consumer consumer = {NULL, 0, 0, QL_OK};
    pthread_t consumer_thread;
    int consumer_started = 0;
    int seq_fd = -1;
    pid_t seq_pid = -1;
    int64_t id;
    int drained = 0;
    int64_t waited_us;
    char *expected = NULL;
    size_t expected_len = 0;
    int ok = 0;
    int child_status;

    if (count == 0 || mkdtemp(dir) == NULL) {
        fprintf(stderr, "usage: %s [COUNT > 0]; needs a writable /tmp\n", argv[0]);
        return 2;
    }
    snprintf(left_path, sizeof left_path, "%s/left.txt", dir);
    snprintf(right_path, sizeof right_path, "%s/right.txt", dir);

    /* The queues and the link: source -> left, right, counted. */
    TRY(ql_queue_new(QL_ORDER_FIFO, QUEUE_MAXSIZE, &source));
    TRY(ql_queue_new(QL_ORDER_FIFO, QUEUE_MAXSIZE, &left));
    TRY(ql_queue_new(QL_ORDER_FIFO, QUEUE_MAXSIZE, &right));
    TRY(ql_queue_new(QL_ORDER_FIFO, QUEUE_MAXSIZE, &counted));
    TRY(ql_link_new("fanout", &link));
    TRY(ql_link_register(link, source, QL_SOURCE, &id));
    TRY(ql_link_register(link, left, QL_DESTINATION, &id));
    TRY(ql_link_register(link, right, QL_DESTINATION, &id));
    TRY(ql_link_register(link, counted, QL_DESTINATION, &id));

    /* The consumers: two writers and a thread. */
    TRY(ql_writer_new_path(left, left_path, QL_WRITE_TRUNCATE, &left_writer));
    TRY(ql_writer_new_path(right, right_path, QL_WRITE_TRUNCATE, &right_writer));
    consumer.queue = counted;
    if (pthread_create(&consumer_thread, NULL, run_consumer, &consumer) != 0) {
        fprintf(stderr, "fanout: pthread_create failed\n");
        goto fail;
    }
    consumer_started = 1;

    /* The producer: seq's output, line by line, into the source. */
    seq_pid = start_seq(count, &seq_fd);
    if (seq_pid < 0) {
        goto fail;
    }
    TRY(ql_reader_new_fd(source, seq_fd, QL_KIND_TEXT, &reader));
    close(seq_fd); /* the reader reads its own copy */
    seq_fd = -1;

    /* The reader ends at end of file; then the link empties the source. */
    TRY(ql_reader_wait(reader, STAGE_TIMEOUT_US));
    for (waited_us = 0; !drained && waited_us < STAGE_TIMEOUT_US; waited_us += 1000) {
        TRY(ql_link_is_drained(link, &drained));
        if (!drained) {
            usleep(1000);
        }
    }
    if (!drained) {
        fprintf(stderr, "fanout: the link did not drain within %" PRId64 " s\n",
                STAGE_TIMEOUT_US / 1000000);
        goto fail;
    }

    /* Closing the destinations lets the writers and the consumer finish
     * what the queues still hold and end. */
    TRY(ql_link_stop(link));
    TRY(ql_queue_close(left));
    TRY(ql_queue_close(right));
    TRY(ql_queue_close(counted));
    TRY(ql_writer_wait(left_writer, STAGE_TIMEOUT_US));
    TRY(ql_writer_wait(right_writer, STAGE_TIMEOUT_US));
    pthread_join(consumer_thread, NULL);
    consumer_started = 0;

    /* The checks. */
    expected = expected_output(count, &expected_len);
    if (expected == NULL) {
        fprintf(stderr, "fanout: out of memory\n");
        goto fail;
    }
    ok = 1;
    ok &= file_equals(left_path, expected, expected_len);
    ok &= file_equals(right_path, expected, expected_len);
    if (consumer.status != QL_ERR_CLOSED) {
        fprintf(stderr, "fanout: the consumer ended with %s\n", ql_strerror(consumer.status));
        ok = 0;
    }
    if (consumer.lines != count || consumer.sum != (uint64_t)count * (count + 1) / 2) {
        fprintf(stderr, "fanout: the consumer counted %" PRIu64 " lines adding up to %" PRIu64
                        ", expected %lu adding up to %" PRIu64 "\n",
                consumer.lines, consumer.sum, count, (uint64_t)count * (count + 1) / 2);
        ok = 0;
    }
    if (ok) {
        printf("fanout: all %lu lines of seq reached both files and the consumer intact\n",
               count);
    }

fail:
    if (counted != NULL) {
        ql_queue_close(counted); /* wakes the consumer on the way out */
    }
    if (consumer_started) {
        pthread_join(consumer_thread, NULL);
    }
    if (seq_fd >= 0) {
        close(seq_fd);
    }
    ql_reader_free(reader);
    ql_writer_free(left_writer);
    ql_writer_free(right_writer);
    ql_link_free(link);
    ql_queue_free(source);
    ql_queue_free(left);
    ql_queue_free(right);
    ql_queue_free(counted);
    if (seq_pid > 0) {
        if (waitpid(seq_pid, &child_status, 0) != seq_pid || !WIFEXITED(child_status) ||
            WEXITSTATUS(child_status) != 0) {
            fprintf(stderr, "fanout: seq did not exit with status 0\n");
            ok = 0;
        }
    }
    free(expected);
    unlink(left_path);
    unlink(right_path);
    rmdir(dir);
    return ok ? 0 : 1;
}

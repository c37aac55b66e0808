/*
 * demo.c: streams the output of a real command through QueueLink.
 *
 * Usage: demo [-t SECONDS] [COMMAND [ARG...]]
 *
 * Runs COMMAND (by default `find /usr`) with its stdout piped into `tee`,
 * which saves a reference copy of the output in a temporary file and passes
 * the same bytes on through a second pipe:
 *
 *   COMMAND | tee REFERENCE | reader -> source -> link -+-> writer -> OUTPUT
 *                                                      +-> consumer thread
 *
 * A reader turns the pipe into one QL_KIND_BYTES message per line, and a
 * link fans every message out to two queues. A writer copies the first one
 * to a temporary file, and a C thread counts the messages and bytes of the
 * second. Once the reader has ended and both the writer and the consumer
 * have seen as many messages as the reader read, the demo stops everything,
 * compares OUTPUT with REFERENCE byte for byte and prints the figures.
 *
 * -t sets the deadline in seconds for the whole run (default 300). The
 * exit status is 0 when every check passed, 1 when one failed or the
 * deadline passed, and 2 on a usage or setup error.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "queuelink.h"

enum { DEFAULT_DEADLINE_SECONDS = 300 };

/* Bound of each queue. The reader and the link block while a queue
 * contains this many messages, so memory stays bounded on large outputs. */
#define QUEUE_BOUND 10000

/* Maximum number of sources whose metrics are printed. */
enum { MAX_SOURCES = 8 };

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_us(int64_t us)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(us / 1000000);
    ts.tv_nsec = (long)(us % 1000000) * 1000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Prints what failed, with the status name and the library's detail. */
static void report_failure(const char *call, int status)
{
    fprintf(stderr, "demo: %s failed: %s: %s\n", call, ql_strerror(status),
            ql_errmsg());
}

/* ------------------------------------------------------------------------
 * Child processes
 * ---------------------------------------------------------------------- */

/* Starts argv with stdin from stdin_fd and stdout to stdout_fd and
 * returns its pid. Returns -1 with errno set if fork() or exec failed, and
 * then no child is left running. Every other descriptor that the demo
 * opened has close-on-exec set, so the child keeps only these two. */
static pid_t spawn(char *const argv[], int stdin_fd, int stdout_fd)
{
    int exec_error_pipe[2];
    int exec_errno = 0;
    ssize_t n;
    pid_t pid;

    if (pipe2(exec_error_pipe, O_CLOEXEC) != 0) {
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        /* The Go runtime does not survive fork(), so the child makes no
         * library call: it only redirects and execs. If exec fails, it
         * sends errno through the pipe, which a successful exec closes. */
        if (dup2(stdin_fd, STDIN_FILENO) >= 0 &&
            dup2(stdout_fd, STDOUT_FILENO) >= 0) {
            execvp(argv[0], argv);
        }
        exec_errno = errno;
        n = write(exec_error_pipe[1], &exec_errno, sizeof exec_errno);
        (void)n;
        _exit(127);
    }
    close(exec_error_pipe[1]);
    if (pid < 0) {
        exec_errno = errno;
        close(exec_error_pipe[0]);
        errno = exec_errno;
        return -1;
    }

    do {
        n = read(exec_error_pipe[0], &exec_errno, sizeof exec_errno);
    } while (n < 0 && errno == EINTR);
    close(exec_error_pipe[0]);
    if (n == (ssize_t)sizeof exec_errno) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        errno = exec_errno;
        return -1;
    }
    return pid;
}

/* Waits for pid and returns its exit status, 128 + the signal number if a
 * signal ended it, or -1 if waitpid() failed. */
static int wait_child(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

/* ------------------------------------------------------------------------
 * Consumer thread
 * ---------------------------------------------------------------------- */

struct consumer {
    ql_queue *q;
    pthread_mutex_t mutex; /* guards messages and bytes */
    uint64_t messages;
    uint64_t bytes;
    int end_status; /* the status that ended the loop */
};

/* Counts the messages and bytes taken from the queue until it is closed
 * and empty. */
static void *run_consumer(void *arg)
{
    struct consumer *consumer = arg;
    char buf[4096];
    ql_msg msg;

    for (;;) {
        int status;

        memset(&msg, 0, sizeof msg);
        status = ql_queue_get(consumer->q, 100000, buf, sizeof buf, &msg);
        if (status == QL_ERR_EMPTY) {
            continue;
        }
        if (status != QL_OK) {
            consumer->end_status = status;
            return NULL;
        }
        pthread_mutex_lock(&consumer->mutex);
        consumer->messages++;
        consumer->bytes += msg.len;
        pthread_mutex_unlock(&consumer->mutex);
        ql_msg_free(&msg);
    }
}

static uint64_t consumer_messages(struct consumer *consumer)
{
    uint64_t messages;

    pthread_mutex_lock(&consumer->mutex);
    messages = consumer->messages;
    pthread_mutex_unlock(&consumer->mutex);
    return messages;
}

/* ------------------------------------------------------------------------
 * File comparison
 * ---------------------------------------------------------------------- */

/* Compares two files byte for byte. Returns 1 when they are identical, 0
 * when they differ (and stores the offset of the first difference in
 * *offset), and -1 when a file cannot be read. */
static int compare_files(const char *path_a, const char *path_b,
                         uint64_t *offset)
{
    FILE *a = fopen(path_a, "rb");
    FILE *b = fopen(path_b, "rb");
    char buf_a[65536];
    char buf_b[65536];
    uint64_t position = 0;
    int result = -1;

    if (a == NULL || b == NULL) {
        fprintf(stderr, "demo: cannot open %s: %s\n",
                a == NULL ? path_a : path_b, strerror(errno));
        goto done;
    }
    for (;;) {
        size_t n_a = fread(buf_a, 1, sizeof buf_a, a);
        size_t n_b = fread(buf_b, 1, sizeof buf_b, b);
        size_t common = n_a < n_b ? n_a : n_b;
        size_t i;

        if (ferror(a) || ferror(b)) {
            fprintf(stderr, "demo: cannot read %s\n",
                    ferror(a) ? path_a : path_b);
            goto done;
        }
        for (i = 0; i < common && buf_a[i] == buf_b[i]; i++) {
        }
        if (i < common || n_a != n_b) {
            *offset = position + i;
            result = 0;
            goto done;
        }
        if (n_a == 0) {
            result = 1;
            goto done;
        }
        position += n_a;
    }

done:
    if (a != NULL) {
        fclose(a);
    }
    if (b != NULL) {
        fclose(b);
    }
    return result;
}

static int64_t file_size(const char *path)
{
    FILE *file = fopen(path, "rb");
    long size;

    if (file == NULL || fseek(file, 0, SEEK_END) != 0) {
        if (file != NULL) {
            fclose(file);
        }
        return -1;
    }
    size = ftell(file);
    fclose(file);
    return size;
}

/* ------------------------------------------------------------------------
 * Main job
 * ---------------------------------------------------------------------- */

/* Everything the demo creates, so that one function can release it. */
struct pipeline {
    char temp_dir[256];
    char reference_path[300];
    char output_path[300];
    ql_queue *source;
    ql_queue *to_writer;
    ql_queue *to_consumer;
    ql_link *link;
    ql_writer *writer;
    ql_reader *reader;
    struct consumer consumer;
    int consumer_started;
    pthread_t consumer_thread;
    pid_t command_pid;
    pid_t tee_pid;
};

/* Creates the queues, the link, the writer and the consumer thread.
 * Returns 0 on success. */
static int build_pipeline(struct pipeline *p)
{
    int64_t id;
    int status;

    if ((status = ql_queue_new(QL_ORDER_FIFO, QUEUE_BOUND, &p->source)) !=
            QL_OK ||
        (status = ql_queue_new(QL_ORDER_FIFO, QUEUE_BOUND, &p->to_writer)) !=
            QL_OK ||
        (status = ql_queue_new(QL_ORDER_FIFO, QUEUE_BOUND,
                               &p->to_consumer)) != QL_OK) {
        report_failure("ql_queue_new", status);
        return -1;
    }
    if ((status = ql_link_new("demo", &p->link)) != QL_OK) {
        report_failure("ql_link_new", status);
        return -1;
    }
    if ((status = ql_link_register(p->link, p->source, QL_SOURCE, &id)) !=
            QL_OK ||
        (status = ql_link_register(p->link, p->to_writer, QL_DESTINATION,
                                   &id)) != QL_OK ||
        (status = ql_link_register(p->link, p->to_consumer, QL_DESTINATION,
                                   &id)) != QL_OK) {
        report_failure("ql_link_register", status);
        return -1;
    }
    status = ql_writer_new_path(p->to_writer, p->output_path,
                                QL_WRITE_TRUNCATE, &p->writer);
    if (status != QL_OK) {
        report_failure("ql_writer_new_path", status);
        return -1;
    }

    p->consumer.q = p->to_consumer;
    pthread_mutex_init(&p->consumer.mutex, NULL);
    if (pthread_create(&p->consumer_thread, NULL, run_consumer,
                       &p->consumer) != 0) {
        fprintf(stderr, "demo: cannot start the consumer thread\n");
        return -1;
    }
    p->consumer_started = 1;
    return 0;
}

/* Starts `COMMAND | tee REFERENCE` and a reader on tee's output. Returns 0
 * on success. */
static int start_command(struct pipeline *p, char *const command[])
{
    char *tee_argv[] = {"tee", p->reference_path, NULL};
    int command_pipe[2];
    int tee_pipe[2];
    int devnull;
    int status;

    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || pipe2(command_pipe, O_CLOEXEC) != 0) {
        fprintf(stderr, "demo: cannot create a pipe: %s\n", strerror(errno));
        return -1;
    }
    if (pipe2(tee_pipe, O_CLOEXEC) != 0) {
        fprintf(stderr, "demo: cannot create a pipe: %s\n", strerror(errno));
        return -1;
    }

    p->command_pid = spawn(command, devnull, command_pipe[1]);
    if (p->command_pid < 0) {
        fprintf(stderr, "demo: cannot run %s: %s\n", command[0],
                strerror(errno));
    } else {
        p->tee_pid = spawn(tee_argv, command_pipe[0], tee_pipe[1]);
        if (p->tee_pid < 0) {
            fprintf(stderr, "demo: cannot run tee: %s\n", strerror(errno));
        }
    }
    close(devnull);
    close(command_pipe[0]);
    close(command_pipe[1]);
    close(tee_pipe[1]);
    if (p->command_pid < 0 || p->tee_pid < 0) {
        close(tee_pipe[0]);
        return -1;
    }

    /* The reader works on its own copy of the descriptor. */
    status = ql_reader_new_fd(p->source, tee_pipe[0], QL_KIND_BYTES,
                              &p->reader);
    close(tee_pipe[0]);
    if (status != QL_OK) {
        report_failure("ql_reader_new_fd", status);
        return -1;
    }
    return 0;
}

/* Stops and frees everything in p, ends the child processes that are
 * still running and removes the temporary files. */
static void release_pipeline(struct pipeline *p)
{
    int status;

    ql_link_stop(p->link);
    if (p->writer != NULL) {
        status = ql_writer_stop(p->writer);
        if (status != QL_OK) {
            report_failure("ql_writer_stop", status);
        }
    }
    ql_reader_free(p->reader);
    ql_writer_free(p->writer);
    ql_link_free(p->link);

    /* Closing the consumer's queue ends its thread. */
    ql_queue_close(p->to_consumer);
    if (p->consumer_started) {
        pthread_join(p->consumer_thread, NULL);
        pthread_mutex_destroy(&p->consumer.mutex);
    }
    ql_queue_free(p->source);
    ql_queue_free(p->to_writer);
    ql_queue_free(p->to_consumer);

    /* Freeing the reader closed the read end of tee's pipe, so tee and
     * the command end when they next write. SIGTERM ends a command that
     * does not write. */
    if (p->tee_pid > 0) {
        kill(p->tee_pid, SIGTERM);
        wait_child(p->tee_pid);
    }
    if (p->command_pid > 0) {
        kill(p->command_pid, SIGTERM);
        wait_child(p->command_pid);
    }

    unlink(p->reference_path);
    unlink(p->output_path);
    if (p->temp_dir[0] != '\0' && rmdir(p->temp_dir) != 0) {
        fprintf(stderr, "demo: cannot remove %s: %s\n", p->temp_dir,
                strerror(errno));
    }
}

/* Waits until the reader has ended and the writer and the consumer have
 * each seen every message it read, or until deadline_us. Stores the
 * reader's count in *lines and its end status in *reader_status. Returns
 * 0 when everything arrived before the deadline. */
static int wait_for_delivery(struct pipeline *p, int64_t deadline_us,
                             uint64_t *lines, int *reader_status)
{
    uint64_t read_count = 0;
    uint64_t written = 0;
    uint64_t consumed = 0;

    for (;;) {
        int status = ql_reader_wait(p->reader, 0);
        int reader_ended = status != QL_ERR_TIMEOUT;

        ql_reader_count(p->reader, &read_count);
        ql_writer_count(p->writer, &written);
        consumed = consumer_messages(&p->consumer);
        if (reader_ended && written == read_count &&
            consumed == read_count) {
            *lines = read_count;
            *reader_status = status;
            return 0;
        }
        if (now_us() > deadline_us) {
            fprintf(stderr,
                    "demo: timed out; the reader %s and read %" PRIu64
                    " lines, the writer wrote %" PRIu64
                    ", the consumer got %" PRIu64 ". Raise the deadline "
                    "with -t SECONDS.\n",
                    reader_ended ? "ended" : "still runs", read_count,
                    written, consumed);
            return -1;
        }
        sleep_us(10000);
    }
}

static void print_link_metrics(ql_link *link)
{
    ql_source_metrics metrics[MAX_SOURCES];
    size_t count = 0;
    size_t i;
    int status = ql_link_metrics(link, metrics, MAX_SOURCES, &count);

    if (status != QL_OK) {
        report_failure("ql_link_metrics", status);
        return;
    }
    printf("link sources: %zu\n", count);
    for (i = 0; i < count && i < MAX_SOURCES; i++) {
        printf("link source %" PRId64 ": %" PRIu64 " messages moved; wait in "
               "the source queue over the last %" PRId64 " messages: mean "
               "%.6f s, median %.6f s, stddev %.6f s\n",
               metrics[i].id, metrics[i].count, metrics[i].data_point_count,
               metrics[i].mean, metrics[i].median, metrics[i].stddev);
    }
}

static void print_usage(FILE *out)
{
    fprintf(out,
            "usage: demo [-t SECONDS] [COMMAND [ARG...]]\n"
            "Streams the output of COMMAND (default: find /usr) through a "
            "QueueLink reader, link and writer\nand checks that the written "
            "copy is byte-identical to the output.\n"
            "  -t SECONDS  deadline for the whole run (default %d)\n",
            DEFAULT_DEADLINE_SECONDS);
}

int main(int argc, char **argv)
{
    static char *default_command[] = {"find", "/usr", NULL};
    char *const *command = default_command;
    const char *tmp = getenv("TMPDIR");
    struct pipeline p;
    long deadline_seconds = DEFAULT_DEADLINE_SECONDS;
    int first_arg = 1;
    int failures = 0;
    int reader_status = QL_OK;
    int writer_status;
    int command_exit;
    int tee_exit;
    int identical;
    uint64_t lines = 0;
    uint64_t written = 0;
    uint64_t difference = 0;
    int64_t reference_bytes;
    int64_t output_bytes;
    int64_t started;
    int64_t elapsed_us;
    int i;

    if (argc > 1 && (strcmp(argv[1], "-h") == 0 ||
                     strcmp(argv[1], "--help") == 0)) {
        print_usage(stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "-t") == 0) {
        char *end = NULL;
        if (argc < 3) {
            print_usage(stderr);
            return 2;
        }
        deadline_seconds = strtol(argv[2], &end, 10);
        if (*argv[2] == '\0' || *end != '\0' || deadline_seconds <= 0) {
            fprintf(stderr, "demo: invalid deadline \"%s\": expected a "
                    "positive number of seconds\n", argv[2]);
            return 2;
        }
        first_arg = 3;
    }
    if (argc > first_arg) {
        command = argv + first_arg;
    }

    if (ql_version() / 10000 != QL_VERSION_MAJOR) {
        fprintf(stderr, "demo: libqueuelink version %d does not match the "
                "header's major version %d\n", ql_version(),
                QL_VERSION_MAJOR);
        return 2;
    }

    memset(&p, 0, sizeof p);
    snprintf(p.temp_dir, sizeof p.temp_dir, "%s/queuelink-demo-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(p.temp_dir) == NULL) {
        fprintf(stderr, "demo: cannot create a directory from %s: %s\n",
                p.temp_dir, strerror(errno));
        return 2;
    }
    snprintf(p.reference_path, sizeof p.reference_path, "%s/reference.out",
             p.temp_dir);
    snprintf(p.output_path, sizeof p.output_path, "%s/writer.out",
             p.temp_dir);

    /* The writer opens OUTPUT only when the first message arrives, so an
     * empty output would leave no file. The demo creates it empty first,
     * and the writer truncates it on the first message. */
    {
        FILE *output = fopen(p.output_path, "wb");
        if (output == NULL || fclose(output) != 0) {
            fprintf(stderr, "demo: cannot create %s: %s\n", p.output_path,
                    strerror(errno));
            rmdir(p.temp_dir);
            return 2;
        }
    }

    printf("command:");
    for (i = 0; command[i] != NULL; i++) {
        printf(" %s", command[i]);
    }
    printf("\n");
    fflush(stdout);

    started = now_us();
    if (build_pipeline(&p) != 0 || start_command(&p, command) != 0) {
        release_pipeline(&p);
        return 2;
    }
    if (wait_for_delivery(&p, started + deadline_seconds * 1000000,
                          &lines, &reader_status) != 0) {
        release_pipeline(&p);
        return 1;
    }
    elapsed_us = now_us() - started;

    /* Stopping the writer flushes and closes OUTPUT. */
    ql_link_stop(p.link);
    ql_writer_stop(p.writer);
    writer_status = ql_writer_wait(p.writer, 5000000);
    ql_writer_count(p.writer, &written);
    ql_queue_close(p.to_consumer);
    pthread_join(p.consumer_thread, NULL);
    pthread_mutex_destroy(&p.consumer.mutex);
    p.consumer_started = 0;

    /* Every line has passed through tee, so both children end now. */
    command_exit = wait_child(p.command_pid);
    tee_exit = wait_child(p.tee_pid);
    p.command_pid = 0;
    p.tee_pid = 0;

    reference_bytes = file_size(p.reference_path);
    output_bytes = file_size(p.output_path);
    identical = compare_files(p.reference_path, p.output_path, &difference);

    printf("lines: %" PRIu64 "\n", lines);
    printf("bytes: %" PRId64 " (reference), %" PRId64 " (writer)\n",
           reference_bytes, output_bytes);
    printf("byte-identical: %s\n", identical == 1 ? "yes" : "no");
    if (identical == 0) {
        printf("first difference at byte offset %" PRIu64 "\n", difference);
    }
    printf("reader: %" PRIu64 " messages; consumer: %" PRIu64 " messages, "
           "%" PRIu64 " bytes; writer: %" PRIu64 " messages\n",
           lines, p.consumer.messages, p.consumer.bytes, written);
    printf("lines per second: %.0f (%.3f s from start to the last "
           "delivery)\n",
           elapsed_us > 0 ? (double)lines * 1e6 / (double)elapsed_us : 0.0,
           (double)elapsed_us / 1e6);
    print_link_metrics(p.link);

    if (reader_status != QL_OK) {
        fprintf(stderr, "demo: the reader ended with %s\n",
                ql_strerror(reader_status));
        failures++;
    }
    if (writer_status != QL_OK) {
        fprintf(stderr, "demo: the writer ended with %s\n",
                ql_strerror(writer_status));
        failures++;
    }
    if (p.consumer.end_status != QL_ERR_CLOSED) {
        fprintf(stderr, "demo: the consumer ended with %s, expected %s\n",
                ql_strerror(p.consumer.end_status),
                ql_strerror(QL_ERR_CLOSED));
        failures++;
    }
    if (tee_exit != 0) {
        fprintf(stderr, "demo: tee exited with status %d, so the reference "
                "copy may be incomplete\n", tee_exit);
        failures++;
    }
    if (command_exit != 0) {
        fprintf(stderr, "demo: warning: the command exited with status %d. "
                "Its output was still compared.\n", command_exit);
    }
    if (identical != 1) {
        failures++;
    }
    if (p.consumer.messages != lines || written != lines) {
        failures++;
    }
    if (reference_bytes < 0 || (uint64_t)reference_bytes != p.consumer.bytes) {
        fprintf(stderr, "demo: the consumer counted %" PRIu64 " bytes, the "
                "reference holds %" PRId64 "\n", p.consumer.bytes,
                reference_bytes);
        failures++;
    }

    release_pipeline(&p);
    printf("result: %s\n", failures == 0 ? "all checks passed"
                                          : "some checks failed");
    /* Flush now, because a leak checker that runs at exit may end the
     * process with _exit() before stdio flushes. */
    fflush(stdout);
    return failures == 0 ? 0 : 1;
}

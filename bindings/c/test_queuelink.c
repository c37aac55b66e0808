/*
 * test_queuelink.c: tests of the C interface declared in include/queuelink.h.
 *
 * The program calls every function of the header against the real
 * libqueuelink.so, on the normal paths and on each error path the header
 * documents. Each failed check prints one line to stderr with its file and
 * line, the expression, the status names and ql_errmsg(). The last line on
 * stdout is "N passed, M failed", and the exit status is 1 when M > 0.
 *
 * Every blocking call has a timeout or a waker that the test controls. A
 * watchdog also ends the program with status 2 if it runs longer than
 * WATCHDOG_SECONDS, so a library bug shows up as a failure, not a hang.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "queuelink.h"

enum { WATCHDOG_SECONDS = 60 };

/* A file descriptor number that the test checks is not open before use. */
enum { UNUSED_FD = 1000 };

/* Timeouts in microseconds. */
#define SHORT_TIMEOUT_US ((int64_t)30 * 1000)
#define LONG_TIMEOUT_US ((int64_t)2 * 1000 * 1000)

/* ------------------------------------------------------------------------
 * Checks
 * ---------------------------------------------------------------------- */

/* check_mutex guards passed_count and failed_count, because worker threads
 * may run checks too. current_test is written only by the main thread
 * while no worker thread runs. */
static pthread_mutex_t check_mutex = PTHREAD_MUTEX_INITIALIZER;
static int passed_count;
static int failed_count;
static const char *volatile current_test = "startup";

/* Returns the macro name of a status code, for failure messages. */
static const char *status_name(int status)
{
    static const char *const names[] = {
        "QL_OK",           "QL_ERR_INVALID", "QL_ERR_HANDLE",
        "QL_ERR_CLOSED",   "QL_ERR_EMPTY",   "QL_ERR_FULL",
        "QL_ERR_TIMEOUT",  "QL_ERR_EXISTS",  "QL_ERR_NOT_FOUND",
        "QL_ERR_IO",       "QL_ERR_STATE",   "QL_ERR_INTERNAL",
    };

    if (status >= 0 && status < (int)(sizeof names / sizeof names[0])) {
        return names[status];
    }
    return "(not a QL_* status)";
}

/* Counts a check and, when it failed, prints why. Returns ok. */
static int record_check(int ok, const char *file, int line,
                        const char *format, ...)
{
    /* Read the message before taking the lock, because it is per thread. */
    const char *errmsg = ql_errmsg();
    va_list args;

    pthread_mutex_lock(&check_mutex);
    if (ok) {
        passed_count++;
    } else {
        failed_count++;
        fprintf(stderr, "%s:%d: [%s] ", file, line, current_test);
        va_start(args, format);
        vfprintf(stderr, format, args);
        va_end(args);
        fprintf(stderr, "; ql_errmsg: \"%s\"\n", errmsg);
        fflush(stderr);
    }
    pthread_mutex_unlock(&check_mutex);
    return ok;
}

static int check_true(const char *file, int line, const char *expr, int ok)
{
    return record_check(ok, file, line, "CHECK(%s) failed", expr);
}

static int check_status(const char *file, int line, const char *expr,
                        int got, int want)
{
    return record_check(got == want, file, line,
                        "%s returned %s (%s), expected %s", expr,
                        status_name(got), ql_strerror(got),
                        status_name(want));
}

#define CHECK(cond) check_true(__FILE__, __LINE__, #cond, (cond) ? 1 : 0)
#define CHECK_STATUS(call, want) \
    check_status(__FILE__, __LINE__, #call, (call), (want))
#define CHECK_OK(call) CHECK_STATUS(call, QL_OK)

/* Writes a printable form of at most 48 bytes of data to out, with C
 * escapes for control bytes, for failure messages. */
static void escape_bytes(const void *data, size_t len, char *out,
                         size_t out_size)
{
    const unsigned char *bytes = data;
    size_t used = 0;
    size_t i;

    for (i = 0; i < len && i < 48 && used + 8 < out_size; i++) {
        unsigned char c = bytes[i];
        if (c == '\n') {
            used += (size_t)snprintf(out + used, out_size - used, "\\n");
        } else if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            used += (size_t)snprintf(out + used, out_size - used, "\\x%02x", c);
        } else {
            out[used++] = (char)c;
        }
    }
    if (i < len && used + 4 < out_size) {
        used += (size_t)snprintf(out + used, out_size - used, "...");
    }
    out[used] = '\0';
}

/* Checks that a message contains exactly the want_len bytes at want. */
static int check_payload(const char *file, int line, const ql_msg *msg,
                         const void *want, size_t want_len)
{
    char got_text[256];
    char want_text[256];
    int ok = msg->len == want_len &&
             (want_len == 0 || memcmp(msg->data, want, want_len) == 0);

    if (ok) {
        return record_check(1, file, line, "");
    }
    escape_bytes(msg->data, msg->data ? msg->len : 0, got_text,
                 sizeof got_text);
    escape_bytes(want, want_len, want_text, sizeof want_text);
    return record_check(0, file, line,
                        "payload \"%s\" (%zu bytes), expected \"%s\" "
                        "(%zu bytes)",
                        got_text, msg->len, want_text, want_len);
}

/* Gets one message with the given timeout and checks its payload. */
static int check_get(const char *file, int line, ql_queue *q,
                     int64_t timeout_us, const void *want, size_t want_len)
{
    ql_msg msg;
    int ok;

    memset(&msg, 0, sizeof msg);
    if (!check_status(file, line, "ql_queue_get", ql_queue_get(q, timeout_us,
                      NULL, 0, &msg), QL_OK)) {
        return 0;
    }
    ok = check_payload(file, line, &msg, want, want_len);
    ql_msg_free(&msg);
    return ok;
}

#define CHECK_PAYLOAD(msg, want, want_len) \
    check_payload(__FILE__, __LINE__, (msg), (want), (want_len))
#define CHECK_GET_TEXT(q, timeout_us, text) \
    check_get(__FILE__, __LINE__, (q), (timeout_us), (text), strlen(text))

/* ------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------- */

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

static int put_text(ql_queue *q, const char *text)
{
    return ql_queue_put(q, QL_KIND_TEXT, text, strlen(text), 0);
}

static int64_t queue_len(ql_queue *q)
{
    int64_t len = -1;

    CHECK_OK(ql_queue_len(q, &len));
    return len;
}

/* Polls ql_link_is_drained() until it stores 1 or timeout_us passes.
 * Returns 1 when the link drained. */
static int wait_link_drained(ql_link *link, int64_t timeout_us)
{
    int64_t deadline = now_us() + timeout_us;
    int drained = 0;

    for (;;) {
        if (ql_link_is_drained(link, &drained) != QL_OK) {
            return 0;
        }
        if (drained) {
            return 1;
        }
        if (now_us() > deadline) {
            return 0;
        }
        sleep_us(1000);
    }
}

/* Temporary files live in one directory that main() creates and removes. */
static char temp_dir[64];
static char temp_paths[32][128];
static int temp_path_count;

/* Returns the path of a file named name in the temporary directory. The
 * file is removed at exit. */
static const char *temp_path(const char *name)
{
    char *path;

    if (temp_path_count == (int)(sizeof temp_paths / sizeof temp_paths[0])) {
        fprintf(stderr, "temp_path: more than %d temporary files\n",
                temp_path_count);
        exit(2);
    }
    path = temp_paths[temp_path_count++];
    snprintf(path, sizeof temp_paths[0], "%s/%s", temp_dir, name);
    return path;
}

static void remove_temp_files(void)
{
    int i;

    for (i = 0; i < temp_path_count; i++) {
        unlink(temp_paths[i]);
    }
    if (temp_dir[0] != '\0' && rmdir(temp_dir) != 0) {
        fprintf(stderr, "warning: could not remove %s: %s\n", temp_dir,
                strerror(errno));
    }
}

/* Writes len bytes to a new file at path. Returns 0 on success. */
static int write_file(const char *path, const void *data, size_t len)
{
    FILE *file = fopen(path, "wb");
    int ok;

    if (file == NULL) {
        fprintf(stderr, "cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    ok = fwrite(data, 1, len, file) == len;
    if (fclose(file) != 0) {
        ok = 0;
    }
    return ok ? 0 : -1;
}

/* Reads a whole file into a malloc'd buffer and stores its length in *len.
 * Returns NULL when the file cannot be read. */
static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *file = fopen(path, "rb");
    unsigned char *data = NULL;
    size_t used = 0;
    size_t capacity = 0;
    size_t n;

    if (file == NULL) {
        return NULL;
    }
    do {
        if (used == capacity) {
            unsigned char *grown;
            capacity = capacity ? capacity * 2 : 4096;
            grown = realloc(data, capacity);
            if (grown == NULL) {
                free(data);
                fclose(file);
                return NULL;
            }
            data = grown;
        }
        n = fread(data + used, 1, capacity - used, file);
        used += n;
    } while (n > 0);
    fclose(file);
    *len = used;
    return data;
}

/* Checks that the file at path contains exactly the want_len bytes at
 * want. */
static int check_file_content(const char *file, int line, const char *path,
                              const void *want, size_t want_len)
{
    size_t got_len = 0;
    unsigned char *got = read_file(path, &got_len);
    int ok;

    if (got == NULL) {
        return record_check(0, file, line, "cannot read %s: %s", path,
                            strerror(errno));
    }
    ok = got_len == want_len && memcmp(got, want, want_len) == 0;
    record_check(ok, file, line, "%s holds %zu bytes that differ from the "
                 "%zu expected bytes", path, got_len, want_len);
    free(got);
    return ok;
}

#define CHECK_FILE_CONTENT(path, want, want_len) \
    check_file_content(__FILE__, __LINE__, (path), (want), (want_len))

/* Starts argv with stdout to a new pipe and stores the pipe's read end in
 * *read_fd. Returns the child's pid, or -1 on failure. */
static pid_t spawn_with_stdout_pipe(char *const argv[], int *read_fd)
{
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) != 0) {
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        /* The Go runtime does not survive fork(), so the child makes no
         * library call and only redirects stdout and execs. dup2() clears
         * close-on-exec on the copy, and exec closes both pipe ends. */
        if (dup2(fds[1], STDOUT_FILENO) < 0) {
            _exit(127);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    *read_fd = fds[0];
    return pid;
}

/* Waits for pid and returns its exit status, or -1 if it did not exit. */
static int wait_exit_status(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void on_watchdog(int signal_number)
{
    static const char text[] = "watchdog: the tests did not finish in time; "
                               "last test started: ";
    const char *test = current_test;

    (void)signal_number;
    if (write(STDERR_FILENO, text, sizeof text - 1) < 0 ||
        write(STDERR_FILENO, test, strlen(test)) < 0 ||
        write(STDERR_FILENO, "\n", 1) < 0) {
        _exit(2);
    }
    _exit(2);
}

/* ------------------------------------------------------------------------
 * Version, status strings and error messages
 * ---------------------------------------------------------------------- */

static void test_version_and_strings(void)
{
    int status;
    int other;
    ql_msg msg;

    current_test = "version and strings";

    CHECK(ql_version() == QL_VERSION_NUMBER);
    CHECK(ql_version() / 10000 == QL_VERSION_MAJOR);

    for (status = QL_OK; status <= QL_ERR_SPACE; status++) {
        const char *name = ql_strerror(status);
        CHECK(name != NULL);
        if (name == NULL) {
            continue;
        }
        CHECK(name[0] != '\0');
        CHECK(strcmp(name, "unknown status") != 0);
        for (other = QL_OK; other < status; other++) {
            CHECK(strcmp(name, ql_strerror(other)) != 0);
        }
    }
    CHECK(strcmp(ql_strerror(-1), "unknown status") == 0);
    CHECK(strcmp(ql_strerror(QL_ERR_SPACE + 1), "unknown status") == 0);
    CHECK(strcmp(ql_strerror(1000), "unknown status") == 0);

    /* Destructors accept NULL and an already released message. */
    ql_free(NULL);
    ql_msg_free(NULL);
    memset(&msg, 0, sizeof msg);
    ql_msg_free(&msg);
    CHECK(msg.data == NULL);
    CHECK(msg.len == 0);
}

struct errmsg_thread_result {
    char initial[128];
    char after_failure[256];
    int status;
};

static const char missing_path_main[] =
    "/nonexistent-queuelink-test/main-thread";
static const char missing_path_worker[] =
    "/nonexistent-queuelink-test/worker-thread";

/* Records ql_errmsg() in a fresh thread before and after a failing call. */
static void *run_errmsg_thread(void *arg)
{
    struct errmsg_thread_result *result = arg;
    ql_queue *q = NULL;
    ql_reader *reader = NULL;

    snprintf(result->initial, sizeof result->initial, "%s", ql_errmsg());
    if (ql_queue_new(QL_ORDER_FIFO, 0, &q) != QL_OK) {
        result->status = -1;
        return NULL;
    }
    result->status = ql_reader_new_path(q, missing_path_worker, QL_KIND_TEXT,
                                        &reader);
    snprintf(result->after_failure, sizeof result->after_failure, "%s",
             ql_errmsg());
    ql_reader_free(reader);
    ql_queue_free(q);
    return NULL;
}

static void test_errmsg(void)
{
    ql_queue *q = NULL;
    ql_queue *bad = NULL;
    ql_reader *reader = NULL;
    int64_t len = -1;
    pthread_t thread;
    struct errmsg_thread_result result;

    current_test = "ql_errmsg";

    /* A failure on this thread sets the message, with the value. */
    CHECK_STATUS(ql_queue_new(99, 0, &bad), QL_ERR_INVALID);
    CHECK(ql_errmsg()[0] != '\0');
    CHECK(strstr(ql_errmsg(), "99") != NULL);

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        return;
    }
    CHECK_STATUS(ql_reader_new_path(q, missing_path_main, QL_KIND_TEXT,
                                    &reader), QL_ERR_IO);
    CHECK(strstr(ql_errmsg(), missing_path_main) != NULL);

    /* A successful call does not clear it. */
    CHECK_OK(ql_queue_len(q, &len));
    CHECK(strstr(ql_errmsg(), missing_path_main) != NULL);

    /* Another thread starts with "" and has a message of its own. */
    memset(&result, 0, sizeof result);
    if (CHECK(pthread_create(&thread, NULL, run_errmsg_thread, &result) == 0)) {
        pthread_join(thread, NULL);
        CHECK(result.initial[0] == '\0');
        CHECK_STATUS(result.status, QL_ERR_IO);
        CHECK(strstr(result.after_failure, missing_path_worker) != NULL);
    }
    CHECK(strstr(ql_errmsg(), missing_path_main) != NULL);
    CHECK(strstr(ql_errmsg(), missing_path_worker) == NULL);

    CHECK_OK(ql_queue_free(q));
}

/* ------------------------------------------------------------------------
 * Handles: NULL, freed, wrong type, double free
 * ---------------------------------------------------------------------- */

/* An object whose address serves as a sentinel for out parameters that a
 * failing call must leave alone. */
static int64_t sentinel_object;
#define SENTINEL(type) ((type *)(void *)&sentinel_object)

/* Calls every function that takes a ql_queue with bad and expects
 * QL_ERR_HANDLE from each, with out parameters left alone. */
static void check_queue_handle_rejected(ql_queue *bad, ql_link *link,
                                        const char *devnull_path,
                                        int devnull_fd, const char *case_name)
{
    const char *saved_test = current_test;
    const char byte = 'x';
    int64_t value = -7;
    int flag = -7;
    int64_t id = -7;
    ql_msg msg;
    ql_reader *reader = SENTINEL(ql_reader);
    ql_writer *writer = SENTINEL(ql_writer);

    current_test = case_name;

    CHECK_STATUS(ql_queue_close(bad), QL_ERR_HANDLE);
    CHECK_STATUS(ql_queue_put(bad, QL_KIND_TEXT, &byte, 1, 0), QL_ERR_HANDLE);
    CHECK_STATUS(ql_queue_put_priority(bad, QL_KIND_TEXT, 1, &byte, 1, 0),
                 QL_ERR_HANDLE);

    memset(&msg, 0, sizeof msg);
    msg.kind = -7;
    msg.len = 777;
    CHECK_STATUS(ql_queue_get(bad, 0, NULL, 0, &msg), QL_ERR_HANDLE);
    CHECK(msg.kind == -7);
    CHECK(msg.len == 777);
    CHECK(msg.data == NULL);

    CHECK_STATUS(ql_queue_len(bad, &value), QL_ERR_HANDLE);
    CHECK_STATUS(ql_queue_maxsize(bad, &value), QL_ERR_HANDLE);
    CHECK(value == -7);
    CHECK_STATUS(ql_queue_is_closed(bad, &flag), QL_ERR_HANDLE);
    CHECK(flag == -7);
    CHECK_STATUS(ql_queue_task_done(bad), QL_ERR_HANDLE);
    CHECK_STATUS(ql_queue_join(bad, 0), QL_ERR_HANDLE);

    CHECK_STATUS(ql_link_register(link, bad, QL_SOURCE, &id), QL_ERR_HANDLE);
    CHECK_STATUS(ql_link_register(link, bad, QL_DESTINATION, &id),
                 QL_ERR_HANDLE);
    CHECK(id == -7);

    CHECK_STATUS(ql_reader_new_fd(bad, devnull_fd, QL_KIND_TEXT, &reader),
                 QL_ERR_HANDLE);
    CHECK_STATUS(ql_reader_new_path(bad, devnull_path, QL_KIND_TEXT, &reader),
                 QL_ERR_HANDLE);
    CHECK(reader == SENTINEL(ql_reader));
    CHECK_STATUS(ql_writer_new_fd(bad, devnull_fd, &writer), QL_ERR_HANDLE);
    CHECK_STATUS(ql_writer_new_path(bad, devnull_path, QL_WRITE_APPEND,
                                    &writer), QL_ERR_HANDLE);
    CHECK(writer == SENTINEL(ql_writer));

    current_test = saved_test;
}

/* Calls every function that takes a ql_link, except ql_link_free(), with
 * bad and expects QL_ERR_HANDLE from each. */
static void check_link_handle_rejected(ql_link *bad, ql_queue *q,
                                       const char *case_name)
{
    const char *saved_test = current_test;
    int64_t id = -7;
    int flag = -7;
    size_t count = 777;
    ql_queue *out = SENTINEL(ql_queue);
    ql_source_metrics metrics[1];

    current_test = case_name;

    CHECK_STATUS(ql_link_register(bad, q, QL_SOURCE, &id), QL_ERR_HANDLE);
    CHECK(id == -7);
    CHECK_STATUS(ql_link_unregister(bad, 1, QL_SOURCE), QL_ERR_HANDLE);
    CHECK_STATUS(ql_link_queue(bad, 1, &out), QL_ERR_HANDLE);
    CHECK(out == SENTINEL(ql_queue));
    CHECK_STATUS(ql_link_stop(bad), QL_ERR_HANDLE);
    CHECK_STATUS(ql_link_is_alive(bad, &flag), QL_ERR_HANDLE);
    CHECK_STATUS(ql_link_is_empty(bad, 0, &flag), QL_ERR_HANDLE);
    CHECK_STATUS(ql_link_is_drained(bad, &flag), QL_ERR_HANDLE);
    CHECK(flag == -7);
    CHECK_STATUS(ql_link_metrics(bad, metrics, 1, &count), QL_ERR_HANDLE);
    CHECK(count == 777);

    current_test = saved_test;
}

/* Calls every function that takes a ql_reader, except ql_reader_free(),
 * with bad and expects QL_ERR_HANDLE from each. */
static void check_reader_handle_rejected(ql_reader *bad,
                                         const char *case_name)
{
    const char *saved_test = current_test;
    int flag = -7;
    uint64_t count = 777;

    current_test = case_name;

    CHECK_STATUS(ql_reader_stop(bad), QL_ERR_HANDLE);
    CHECK_STATUS(ql_reader_wait(bad, 0), QL_ERR_HANDLE);
    CHECK_STATUS(ql_reader_is_alive(bad, &flag), QL_ERR_HANDLE);
    CHECK(flag == -7);
    CHECK_STATUS(ql_reader_count(bad, &count), QL_ERR_HANDLE);
    CHECK(count == 777);

    current_test = saved_test;
}

/* Calls every function that takes a ql_writer, except ql_writer_free(),
 * with bad and expects QL_ERR_HANDLE from each. */
static void check_writer_handle_rejected(ql_writer *bad,
                                         const char *case_name)
{
    const char *saved_test = current_test;
    int flag = -7;
    uint64_t count = 777;

    current_test = case_name;

    CHECK_STATUS(ql_writer_stop(bad), QL_ERR_HANDLE);
    CHECK_STATUS(ql_writer_wait(bad, 0), QL_ERR_HANDLE);
    CHECK_STATUS(ql_writer_is_alive(bad, &flag), QL_ERR_HANDLE);
    CHECK(flag == -7);
    CHECK_STATUS(ql_writer_count(bad, &count), QL_ERR_HANDLE);
    CHECK(count == 777);

    current_test = saved_test;
}

static void test_handles(void)
{
    const char *devnull = "/dev/null";
    int devnull_fd;
    ql_queue *q = NULL;
    ql_queue *writer_queue = NULL;
    ql_queue *freed_queue = NULL;
    ql_queue *later_queue = NULL;
    ql_link *link = NULL;
    ql_link *freed_link = NULL;
    ql_link *later_link = NULL;
    ql_reader *reader = NULL;
    ql_reader *freed_reader = NULL;
    ql_writer *writer = NULL;
    ql_writer *freed_writer = NULL;
    ql_queue *scratch_queue = NULL;
    int flag = -1;
    size_t count = 777;

    current_test = "handles";

    devnull_fd = open(devnull, O_RDWR | O_CLOEXEC);
    if (!CHECK(devnull_fd >= 0)) {
        return;
    }

    /* Live objects of each type, used as wrong-type handles. */
    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &writer_queue)) ||
        !CHECK_OK(ql_link_new("handles", &link)) ||
        !CHECK_OK(ql_reader_new_path(q, devnull, QL_KIND_TEXT, &reader)) ||
        !CHECK_OK(ql_writer_new_fd(writer_queue, devnull_fd, &writer))) {
        close(devnull_fd);
        return;
    }

    /* Freed objects of each type. */
    CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &freed_queue));
    CHECK_OK(ql_queue_free(freed_queue));
    CHECK_OK(ql_link_new(NULL, &freed_link));
    CHECK_OK(ql_link_free(freed_link));
    CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &scratch_queue));
    CHECK_OK(ql_reader_new_path(scratch_queue, devnull, QL_KIND_BYTES,
                                &freed_reader));
    CHECK_OK(ql_reader_free(freed_reader));
    CHECK_OK(ql_writer_new_fd(scratch_queue, devnull_fd, &freed_writer));
    CHECK_OK(ql_writer_free(freed_writer));

    /* New objects made after the frees may get memory the freed handles
     * used. The freed handles must still be rejected and must not reach
     * the new objects. */
    CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &later_queue));
    CHECK_OK(ql_link_new("later", &later_link));

    check_queue_handle_rejected(NULL, link, devnull, devnull_fd,
                                "NULL queue handle");
    check_queue_handle_rejected(freed_queue, link, devnull, devnull_fd,
                                "freed queue handle");
    check_queue_handle_rejected((ql_queue *)(void *)link, link, devnull,
                                devnull_fd, "link passed as a queue");
    check_queue_handle_rejected((ql_queue *)(void *)reader, link, devnull,
                                devnull_fd, "reader passed as a queue");
    check_queue_handle_rejected((ql_queue *)(void *)writer, link, devnull,
                                devnull_fd, "writer passed as a queue");

    check_link_handle_rejected(NULL, q, "NULL link handle");
    check_link_handle_rejected(freed_link, q, "freed link handle");
    check_link_handle_rejected((ql_link *)(void *)q, q,
                               "queue passed as a link");
    check_link_handle_rejected((ql_link *)(void *)reader, q,
                               "reader passed as a link");

    check_reader_handle_rejected(NULL, "NULL reader handle");
    check_reader_handle_rejected(freed_reader, "freed reader handle");
    check_reader_handle_rejected((ql_reader *)(void *)q,
                                 "queue passed as a reader");
    check_reader_handle_rejected((ql_reader *)(void *)writer,
                                 "writer passed as a reader");

    check_writer_handle_rejected(NULL, "NULL writer handle");
    check_writer_handle_rejected(freed_writer, "freed writer handle");
    check_writer_handle_rejected((ql_writer *)(void *)q,
                                 "queue passed as a writer");
    check_writer_handle_rejected((ql_writer *)(void *)reader,
                                 "reader passed as a writer");

    current_test = "handles";

    /* The calls with freed handles did not close or register anything on
     * the objects created after the frees. */
    CHECK_OK(ql_queue_is_closed(later_queue, &flag));
    CHECK(flag == 0);
    CHECK(queue_len(later_queue) == 0);
    CHECK_OK(ql_link_metrics(later_link, NULL, 0, &count));
    CHECK(count == 0);

    /* Destructors accept NULL. */
    CHECK_OK(ql_queue_free(NULL));
    CHECK_OK(ql_link_free(NULL));
    CHECK_OK(ql_reader_free(NULL));
    CHECK_OK(ql_writer_free(NULL));

    /* A destructor given another type's handle rejects it and leaves the
     * object alive. */
    CHECK_STATUS(ql_queue_free((ql_queue *)(void *)link), QL_ERR_HANDLE);
    CHECK_STATUS(ql_link_free((ql_link *)(void *)q), QL_ERR_HANDLE);
    CHECK_STATUS(ql_reader_free((ql_reader *)(void *)q), QL_ERR_HANDLE);
    CHECK_STATUS(ql_writer_free((ql_writer *)(void *)q), QL_ERR_HANDLE);
    CHECK_STATUS(ql_reader_free((ql_reader *)(void *)writer), QL_ERR_HANDLE);
    CHECK_STATUS(ql_writer_free((ql_writer *)(void *)reader), QL_ERR_HANDLE);
    CHECK_OK(ql_link_is_drained(link, &flag));
    CHECK_OK(ql_queue_is_closed(q, &flag));
    CHECK(flag == 0);
    CHECK_OK(ql_reader_wait(reader, LONG_TIMEOUT_US));
    CHECK_OK(ql_writer_is_alive(writer, &flag));
    CHECK(flag == 1);

    /* A second free returns QL_ERR_HANDLE. */
    CHECK_STATUS(ql_queue_free(freed_queue), QL_ERR_HANDLE);
    CHECK_STATUS(ql_link_free(freed_link), QL_ERR_HANDLE);
    CHECK_STATUS(ql_reader_free(freed_reader), QL_ERR_HANDLE);
    CHECK_STATUS(ql_writer_free(freed_writer), QL_ERR_HANDLE);

    CHECK_OK(ql_writer_free(writer));
    CHECK_STATUS(ql_writer_free(writer), QL_ERR_HANDLE);
    CHECK_OK(ql_reader_free(reader));
    CHECK_STATUS(ql_reader_free(reader), QL_ERR_HANDLE);
    CHECK_OK(ql_link_free(link));
    CHECK_STATUS(ql_link_free(link), QL_ERR_HANDLE);
    CHECK_OK(ql_link_free(later_link));
    CHECK_OK(ql_queue_free(q));
    CHECK_STATUS(ql_queue_free(q), QL_ERR_HANDLE);
    CHECK_OK(ql_queue_free(writer_queue));
    CHECK_OK(ql_queue_free(scratch_queue));
    CHECK_OK(ql_queue_free(later_queue));
    close(devnull_fd);
}

/* ------------------------------------------------------------------------
 * Queues
 * ---------------------------------------------------------------------- */

static void test_queue_invalid_arguments(void)
{
    ql_queue *q = SENTINEL(ql_queue);
    ql_msg msg;
    const char byte = 'x';
    int bad_orders[] = {-1, 3, 99};
    int bad_kinds[] = {0, 4, -1};
    size_t i;

    current_test = "queue invalid arguments";

    for (i = 0; i < sizeof bad_orders / sizeof bad_orders[0]; i++) {
        CHECK_STATUS(ql_queue_new(bad_orders[i], 0, &q), QL_ERR_INVALID);
        CHECK(q == SENTINEL(ql_queue));
        CHECK(ql_errmsg()[0] != '\0');
    }
    CHECK_STATUS(ql_queue_new(QL_ORDER_FIFO, 0, NULL), QL_ERR_INVALID);

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        return;
    }
    for (i = 0; i < sizeof bad_kinds / sizeof bad_kinds[0]; i++) {
        CHECK_STATUS(ql_queue_put(q, bad_kinds[i], &byte, 1, 0),
                     QL_ERR_INVALID);
        CHECK_STATUS(ql_queue_put_priority(q, bad_kinds[i], 1, &byte, 1, 0),
                     QL_ERR_INVALID);
    }
    CHECK_STATUS(ql_queue_put(q, QL_KIND_BYTES, NULL, 3, 0), QL_ERR_INVALID);
    CHECK_STATUS(ql_queue_put_priority(q, QL_KIND_BYTES, 0, NULL, 3, 0),
                 QL_ERR_INVALID);
    CHECK(queue_len(q) == 0);

    /* NULL data with length 0 is an empty payload. */
    CHECK_OK(ql_queue_put(q, QL_KIND_BYTES, NULL, 0, 0));
    memset(&msg, 0, sizeof msg);
    if (CHECK_OK(ql_queue_get(q, 0, NULL, 0, &msg))) {
        CHECK(msg.len == 0);
        CHECK(msg.kind == QL_KIND_BYTES);
        ql_msg_free(&msg);
    }

    CHECK_STATUS(ql_queue_get(q, 0, NULL, 0, NULL), QL_ERR_INVALID);
    CHECK_STATUS(ql_queue_len(q, NULL), QL_ERR_INVALID);
    CHECK_STATUS(ql_queue_maxsize(q, NULL), QL_ERR_INVALID);
    CHECK_STATUS(ql_queue_is_closed(q, NULL), QL_ERR_INVALID);

    CHECK_OK(ql_queue_free(q));
}

static void test_queue_order(void)
{
    static const struct {
        int64_t priority;
        const char *text;
    } entries[] = {
        {5, "p5 first"}, {1, "p1 first"}, {3, "p3"},
        {1, "p1 second"}, {5, "p5 second"}, {-2, "p-2"},
    };
    /* The order a priority queue must hand out entries[], with the message
     * put by ql_queue_put() (priority 0) between -2 and 1. */
    static const struct {
        int64_t priority;
        const char *text;
    } expected[] = {
        {-2, "p-2"}, {0, "p0"}, {1, "p1 first"}, {1, "p1 second"},
        {3, "p3"}, {5, "p5 first"}, {5, "p5 second"},
    };
    ql_queue *q = NULL;
    ql_msg msg;
    size_t i;
    int kinds[] = {QL_KIND_TEXT, QL_KIND_BYTES, QL_KIND_PICKLE};

    current_test = "queue order";

    if (CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        CHECK_OK(put_text(q, "a"));
        CHECK_OK(put_text(q, "b"));
        CHECK_OK(put_text(q, "c"));
        CHECK_GET_TEXT(q, 0, "a");
        CHECK_GET_TEXT(q, 0, "b");
        CHECK_GET_TEXT(q, 0, "c");

        /* Other orders keep the priority and pass it on. */
        CHECK_OK(ql_queue_put_priority(q, QL_KIND_TEXT, 9, "x", 1, 0));
        CHECK_OK(ql_queue_put_priority(q, QL_KIND_TEXT, -4, "y", 1, 0));
        memset(&msg, 0, sizeof msg);
        if (CHECK_OK(ql_queue_get(q, 0, NULL, 0, &msg))) {
            CHECK_PAYLOAD(&msg, "x", 1);
            CHECK(msg.priority == 9);
            ql_msg_free(&msg);
        }
        if (CHECK_OK(ql_queue_get(q, 0, NULL, 0, &msg))) {
            CHECK_PAYLOAD(&msg, "y", 1);
            CHECK(msg.priority == -4);
            ql_msg_free(&msg);
        }

        /* Kinds pass through unchanged. */
        for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
            CHECK_OK(ql_queue_put(q, kinds[i], "k", 1, 0));
        }
        for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
            memset(&msg, 0, sizeof msg);
            if (CHECK_OK(ql_queue_get(q, 0, NULL, 0, &msg))) {
                CHECK(msg.kind == kinds[i]);
                CHECK(msg.priority == 0);
                ql_msg_free(&msg);
            }
        }
        CHECK_OK(ql_queue_free(q));
    }

    if (CHECK_OK(ql_queue_new(QL_ORDER_LIFO, 0, &q))) {
        CHECK_OK(put_text(q, "a"));
        CHECK_OK(put_text(q, "b"));
        CHECK_OK(put_text(q, "c"));
        CHECK_GET_TEXT(q, 0, "c");
        CHECK_GET_TEXT(q, 0, "b");
        CHECK_GET_TEXT(q, 0, "a");
        CHECK_OK(ql_queue_free(q));
    }

    if (CHECK_OK(ql_queue_new(QL_ORDER_PRIORITY, 0, &q))) {
        for (i = 0; i < sizeof entries / sizeof entries[0]; i++) {
            CHECK_OK(ql_queue_put_priority(q, QL_KIND_TEXT,
                                           entries[i].priority,
                                           entries[i].text,
                                           strlen(entries[i].text), 0));
        }
        CHECK_OK(put_text(q, "p0"));
        for (i = 0; i < sizeof expected / sizeof expected[0]; i++) {
            memset(&msg, 0, sizeof msg);
            if (CHECK_OK(ql_queue_get(q, 0, NULL, 0, &msg))) {
                CHECK_PAYLOAD(&msg, expected[i].text,
                              strlen(expected[i].text));
                CHECK(msg.priority == expected[i].priority);
                ql_msg_free(&msg);
            }
        }
        CHECK_STATUS(ql_queue_get(q, 0, NULL, 0, &msg), QL_ERR_EMPTY);
        CHECK_OK(ql_queue_free(q));
    }
}

static void test_queue_payloads(void)
{
    static const char with_nuls[] = {'a', '\0', 'b', '\0', '\0', 'c', '\0'};
    enum { LARGE_SIZE = 1 << 20 };
    ql_queue *q = NULL;
    ql_msg msg;
    char buf[16];
    unsigned char *large;
    size_t i;

    current_test = "queue payloads";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        return;
    }

    /* NUL bytes survive a round trip, into the library's memory. */
    CHECK_OK(ql_queue_put(q, QL_KIND_BYTES, with_nuls, sizeof with_nuls, 0));
    memset(&msg, 0, sizeof msg);
    if (CHECK_OK(ql_queue_get(q, 0, NULL, 0, &msg))) {
        CHECK_PAYLOAD(&msg, with_nuls, sizeof with_nuls);
        CHECK(msg.owned != 0);
        CHECK(msg.kind == QL_KIND_BYTES);
        ql_msg_free(&msg);
        CHECK(msg.data == NULL);
        CHECK(msg.len == 0);
        CHECK(msg.owned == 0);
        CHECK(msg.kind == 0);
        CHECK(msg.priority == 0);
        ql_msg_free(&msg);
    }

    /* A payload that fits goes into the caller's buffer. */
    CHECK_OK(ql_queue_put(q, QL_KIND_BYTES, with_nuls, sizeof with_nuls, 0));
    memset(&msg, 0, sizeof msg);
    if (CHECK_OK(ql_queue_get(q, 0, buf, sizeof buf, &msg))) {
        CHECK_PAYLOAD(&msg, with_nuls, sizeof with_nuls);
        CHECK(msg.owned == 0);
        CHECK(msg.data == (void *)buf);
        ql_msg_free(&msg);
        CHECK(msg.data == NULL);
        CHECK(msg.len == 0);
    }

    /* A payload of exactly cap bytes fits too. */
    CHECK_OK(ql_queue_put(q, QL_KIND_BYTES, "0123456789abcdef", 16, 0));
    memset(&msg, 0, sizeof msg);
    if (CHECK_OK(ql_queue_get(q, 0, buf, sizeof buf, &msg))) {
        CHECK_PAYLOAD(&msg, "0123456789abcdef", 16);
        CHECK(msg.owned == 0);
        CHECK(msg.data == (void *)buf);
        ql_msg_free(&msg);
    }

    /* A larger one is allocated by the library. */
    CHECK_OK(ql_queue_put(q, QL_KIND_TEXT, "0123456789abcdefg", 17, 0));
    memset(&msg, 0, sizeof msg);
    if (CHECK_OK(ql_queue_get(q, 0, buf, sizeof buf, &msg))) {
        CHECK_PAYLOAD(&msg, "0123456789abcdefg", 17);
        CHECK(msg.owned != 0);
        CHECK(msg.data != (void *)buf);
        ql_msg_free(&msg);
        CHECK(msg.data == NULL);
        CHECK(msg.owned == 0);
    }

    /* An empty payload with a buffer. */
    CHECK_OK(ql_queue_put(q, QL_KIND_TEXT, "", 0, 0));
    memset(&msg, 0, sizeof msg);
    if (CHECK_OK(ql_queue_get(q, 0, buf, sizeof buf, &msg))) {
        CHECK(msg.len == 0);
        CHECK(msg.owned == 0);
        ql_msg_free(&msg);
    }

    /* A 1 MiB payload. */
    large = malloc(LARGE_SIZE);
    if (CHECK(large != NULL)) {
        for (i = 0; i < LARGE_SIZE; i++) {
            large[i] = (unsigned char)(i * 7 + i / 251);
        }
        CHECK_OK(ql_queue_put(q, QL_KIND_BYTES, large, LARGE_SIZE, 0));
        memset(&msg, 0, sizeof msg);
        if (CHECK_OK(ql_queue_get(q, 0, buf, sizeof buf, &msg))) {
            CHECK(msg.owned != 0);
            CHECK_PAYLOAD(&msg, large, LARGE_SIZE);
            ql_msg_free(&msg);
        }
        free(large);
    }

    CHECK_OK(ql_queue_free(q));
}

static void test_queue_state_and_close(void)
{
    ql_queue *q = NULL;
    ql_msg msg;
    int64_t value = -1;
    int flag = -1;
    int64_t started;

    current_test = "queue state and close";

    if (CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 3, &q))) {
        CHECK_OK(ql_queue_maxsize(q, &value));
        CHECK(value == 3);
        CHECK_OK(ql_queue_free(q));
    }
    if (CHECK_OK(ql_queue_new(QL_ORDER_LIFO, 0, &q))) {
        CHECK_OK(ql_queue_maxsize(q, &value));
        CHECK(value == 0);
        CHECK_OK(ql_queue_free(q));
    }
    if (CHECK_OK(ql_queue_new(QL_ORDER_PRIORITY, -5, &q))) {
        CHECK_OK(ql_queue_maxsize(q, &value));
        CHECK(value == 0);
        CHECK_OK(ql_queue_free(q));
    }

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        return;
    }
    CHECK(queue_len(q) == 0);
    CHECK_OK(put_text(q, "first"));
    CHECK_OK(put_text(q, "second"));
    CHECK(queue_len(q) == 2);
    CHECK_OK(ql_queue_is_closed(q, &flag));
    CHECK(flag == 0);

    CHECK_OK(ql_queue_close(q));
    CHECK_OK(ql_queue_close(q));
    CHECK_OK(ql_queue_is_closed(q, &flag));
    CHECK(flag == 1);

    CHECK_STATUS(put_text(q, "late"), QL_ERR_CLOSED);
    CHECK_STATUS(ql_queue_put_priority(q, QL_KIND_TEXT, 1, "late", 4, 0),
                 QL_ERR_CLOSED);
    CHECK(queue_len(q) == 2);

    /* Gets return the messages still held, then QL_ERR_CLOSED without
     * waiting for the timeout. */
    CHECK_GET_TEXT(q, 0, "first");
    CHECK_GET_TEXT(q, LONG_TIMEOUT_US, "second");
    CHECK_STATUS(ql_queue_get(q, 0, NULL, 0, &msg), QL_ERR_CLOSED);
    started = now_us();
    CHECK_STATUS(ql_queue_get(q, LONG_TIMEOUT_US, NULL, 0, &msg),
                 QL_ERR_CLOSED);
    CHECK(now_us() - started < 1000000);

    CHECK_OK(ql_queue_free(q));
}

static void test_queue_timeouts(void)
{
    ql_queue *q = NULL;
    ql_msg msg;
    int64_t started;
    int64_t elapsed;

    current_test = "queue timeouts";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 2, &q))) {
        return;
    }

    /* An empty get leaves msg alone. */
    memset(&msg, 0, sizeof msg);
    msg.len = 777;
    started = now_us();
    CHECK_STATUS(ql_queue_get(q, 0, NULL, 0, &msg), QL_ERR_EMPTY);
    CHECK(now_us() - started < 500000);
    CHECK(msg.len == 777);
    CHECK(msg.data == NULL);

    started = now_us();
    CHECK_STATUS(ql_queue_get(q, SHORT_TIMEOUT_US, NULL, 0, &msg),
                 QL_ERR_EMPTY);
    elapsed = now_us() - started;
    CHECK(elapsed >= SHORT_TIMEOUT_US * 2 / 3);
    CHECK(elapsed < 1000000);

    /* A full bounded queue. */
    CHECK_OK(put_text(q, "1"));
    CHECK_OK(put_text(q, "2"));
    started = now_us();
    CHECK_STATUS(put_text(q, "3"), QL_ERR_FULL);
    CHECK(now_us() - started < 500000);
    CHECK_STATUS(ql_queue_put_priority(q, QL_KIND_TEXT, 0, "3", 1, 0),
                 QL_ERR_FULL);
    started = now_us();
    CHECK_STATUS(ql_queue_put(q, QL_KIND_TEXT, "3", 1, SHORT_TIMEOUT_US),
                 QL_ERR_FULL);
    elapsed = now_us() - started;
    CHECK(elapsed >= SHORT_TIMEOUT_US * 2 / 3);
    CHECK(elapsed < 1000000);
    CHECK(queue_len(q) == 2);

    /* Room frees up after a get. */
    CHECK_GET_TEXT(q, 0, "1");
    CHECK_OK(put_text(q, "3"));
    CHECK_GET_TEXT(q, 0, "2");
    CHECK_GET_TEXT(q, 0, "3");

    CHECK_OK(ql_queue_free(q));
}

static void test_task_done_and_join(void)
{
    ql_queue *q = NULL;
    ql_msg msg;

    current_test = "task_done and join";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        return;
    }
    CHECK_OK(ql_queue_join(q, 0));
    CHECK_STATUS(ql_queue_task_done(q), QL_ERR_STATE);

    CHECK_OK(put_text(q, "a"));
    CHECK_OK(put_text(q, "b"));
    CHECK_STATUS(ql_queue_join(q, 0), QL_ERR_TIMEOUT);
    CHECK_STATUS(ql_queue_join(q, SHORT_TIMEOUT_US), QL_ERR_TIMEOUT);

    memset(&msg, 0, sizeof msg);
    CHECK_OK(ql_queue_get(q, 0, NULL, 0, &msg));
    ql_msg_free(&msg);
    CHECK_OK(ql_queue_task_done(q));
    CHECK_STATUS(ql_queue_join(q, SHORT_TIMEOUT_US), QL_ERR_TIMEOUT);

    CHECK_OK(ql_queue_get(q, 0, NULL, 0, &msg));
    ql_msg_free(&msg);
    CHECK_OK(ql_queue_task_done(q));
    CHECK_OK(ql_queue_join(q, 0));
    CHECK_OK(ql_queue_join(q, LONG_TIMEOUT_US));

    /* One more task_done than messages put. */
    CHECK_STATUS(ql_queue_task_done(q), QL_ERR_STATE);
    CHECK_OK(ql_queue_free(q));

    /* Closing a queue with unfinished messages ends a join. */
    if (CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        CHECK_OK(put_text(q, "unfinished"));
        CHECK_OK(ql_queue_close(q));
        CHECK_STATUS(ql_queue_join(q, LONG_TIMEOUT_US), QL_ERR_CLOSED);
        CHECK_OK(ql_queue_free(q));
    }
}

/* A library call that runs in its own thread, so that the main thread can
 * wake it or give up on it after a deadline instead of hanging. The struct
 * is on the heap because an abandoned thread keeps using it. */
struct timed_call {
    int (*function)(struct timed_call *call);
    ql_queue *q;
    void *handle; /* a ql_reader or ql_link, for the functions that need one */
    const char *path;  /* for open_reader_path() */
    ql_reader *reader; /* set by open_reader_path() */
    ql_msg msg;
    int status;
    pthread_t thread;
    pthread_mutex_t mutex; /* guards done */
    pthread_cond_t cond;
    int done;
};

static int get_without_timeout(struct timed_call *call)
{
    return ql_queue_get(call->q, -1, NULL, 0, &call->msg);
}

static int put_without_timeout(struct timed_call *call)
{
    return ql_queue_put(call->q, QL_KIND_TEXT, "blocked", 7, -1);
}

static int join_without_timeout(struct timed_call *call)
{
    return ql_queue_join(call->q, -1);
}

static int stop_reader(struct timed_call *call)
{
    return ql_reader_stop(call->handle);
}

static int free_reader(struct timed_call *call)
{
    return ql_reader_free(call->handle);
}

static int stop_link(struct timed_call *call)
{
    return ql_link_stop(call->handle);
}

static int open_reader_path(struct timed_call *call)
{
    return ql_reader_new_path(call->q, call->path, QL_KIND_TEXT,
                              &call->reader);
}

static void *run_timed_call(void *arg)
{
    struct timed_call *call = arg;
    int status = call->function(call);

    pthread_mutex_lock(&call->mutex);
    call->status = status;
    call->done = 1;
    pthread_cond_signal(&call->cond);
    pthread_mutex_unlock(&call->mutex);
    return NULL;
}

/* Starts function in a new thread. Returns NULL if the thread cannot be
 * created. */
static struct timed_call *start_call(int (*function)(struct timed_call *),
                                     ql_queue *q, void *handle,
                                     const char *path)
{
    struct timed_call *call = calloc(1, sizeof *call);

    if (call == NULL) {
        return NULL;
    }
    call->function = function;
    call->q = q;
    call->handle = handle;
    call->path = path;
    pthread_mutex_init(&call->mutex, NULL);
    pthread_cond_init(&call->cond, NULL);
    if (pthread_create(&call->thread, NULL, run_timed_call, call) != 0) {
        free(call);
        return NULL;
    }
    return call;
}

/* Waits at most timeout_us for the call to return. Returns 1 if it did. */
static int wait_call(struct timed_call *call, int64_t timeout_us)
{
    struct timespec deadline;
    int done;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)(timeout_us / 1000000);
    deadline.tv_nsec += (long)(timeout_us % 1000000) * 1000;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&call->mutex);
    while (!call->done) {
        if (pthread_cond_timedwait(&call->cond, &call->mutex, &deadline) ==
            ETIMEDOUT) {
            break;
        }
    }
    done = call->done;
    pthread_mutex_unlock(&call->mutex);
    return done;
}

/* Joins a call that returned, stores its message in *msg_out (or frees
 * the message when msg_out is NULL), frees the call and returns its
 * status. */
static int finish_call(struct timed_call *call, ql_msg *msg_out)
{
    int status;

    pthread_join(call->thread, NULL);
    status = call->status;
    if (msg_out != NULL) {
        *msg_out = call->msg;
    } else {
        ql_msg_free(&call->msg);
    }
    pthread_mutex_destroy(&call->mutex);
    pthread_cond_destroy(&call->cond);
    free(call);
    return status;
}

/* Gives up on a call that did not return. NOTE: the thread, the call and
 * the objects it uses leak, because the thread may still use them. */
static void abandon_call(struct timed_call *call)
{
    pthread_detach(call->thread);
}

/* Runs function in a thread and checks that it returns QL_OK within
 * timeout_us. Returns 1 if it did. */
static int check_ok_within(const char *file, int line, const char *call_name,
                           int (*function)(struct timed_call *),
                           void *handle, int64_t timeout_us)
{
    struct timed_call *call = start_call(function, NULL, handle, NULL);

    if (call == NULL) {
        return record_check(0, file, line, "cannot start a thread for %s",
                            call_name);
    }
    if (!wait_call(call, timeout_us)) {
        abandon_call(call);
        return record_check(0, file, line,
                            "%s did not return within %" PRId64 " us",
                            call_name, timeout_us);
    }
    return check_status(file, line, call_name, finish_call(call, NULL),
                        QL_OK);
}

#define CHECK_OK_WITHIN(function, handle, timeout_us) \
    check_ok_within(__FILE__, __LINE__, #function, (function), (handle), \
                    (timeout_us))

/* Starts a call that blocks on q, checks that it still blocks after
 * 50 ms, wakes it with wake(q) and checks that it returns want_status
 * within 2 s. Returns 0 if it never returned, in which case q must not be
 * freed. */
static int check_blocked_call_wakes(int (*function)(struct timed_call *),
                                    ql_queue *q, int (*wake)(ql_queue *),
                                    int want_status, ql_msg *msg_out)
{
    struct timed_call *call = start_call(function, q, NULL, NULL);

    if (!CHECK(call != NULL)) {
        return 1;
    }
    CHECK(!wait_call(call, 50000));
    CHECK_OK(wake(q));
    if (!CHECK(wait_call(call, 2000000))) {
        abandon_call(call);
        return 0;
    }
    CHECK_STATUS(finish_call(call, msg_out), want_status);
    return 1;
}

static int put_wake_message(ql_queue *q)
{
    return put_text(q, "wake");
}

static void test_blocked_calls_wake(void)
{
    ql_queue *q = NULL;
    ql_msg msg;

    current_test = "blocked calls wake";

    /* A get blocked without a timeout wakes on a put... */
    if (CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        memset(&msg, 0, sizeof msg);
        if (check_blocked_call_wakes(get_without_timeout, q,
                                     put_wake_message, QL_OK, &msg)) {
            CHECK_PAYLOAD(&msg, "wake", 4);
            ql_msg_free(&msg);
            CHECK_OK(ql_queue_free(q));
        }
    }

    /* ...and on ql_queue_close(). */
    if (CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        if (check_blocked_call_wakes(get_without_timeout, q, ql_queue_close,
                                     QL_ERR_CLOSED, NULL)) {
            CHECK_OK(ql_queue_free(q));
        }
    }

    /* A put blocked on a full queue wakes on ql_queue_close(). */
    if (CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 1, &q))) {
        CHECK_OK(put_text(q, "fills the queue"));
        if (check_blocked_call_wakes(put_without_timeout, q, ql_queue_close,
                                     QL_ERR_CLOSED, NULL)) {
            CHECK(queue_len(q) == 1);
            CHECK_OK(ql_queue_free(q));
        }
    }

    /* A join blocked on an unfinished message wakes on ql_queue_close(). */
    if (CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        CHECK_OK(put_text(q, "unfinished"));
        if (check_blocked_call_wakes(join_without_timeout, q, ql_queue_close,
                                     QL_ERR_CLOSED, NULL)) {
            CHECK_OK(ql_queue_free(q));
        }
    }

    /* ql_queue_free() also closes, so it wakes a blocked get. */
    if (CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        check_blocked_call_wakes(get_without_timeout, q, ql_queue_free,
                                 QL_ERR_CLOSED, NULL);
    }
}

/* ------------------------------------------------------------------------
 * Links
 * ---------------------------------------------------------------------- */

static void test_link_errors(void)
{
    ql_link *link = SENTINEL(ql_link);
    ql_queue *a = NULL;
    ql_queue *b = NULL;
    ql_queue *c = NULL;
    ql_queue *ref = SENTINEL(ql_queue);
    int64_t id_a = -1;
    int64_t id_b = -1;
    int64_t id_c = -1;
    int64_t id = -7;
    int flag = -7;
    size_t count = 777;
    ql_source_metrics metrics[2];

    current_test = "link errors";

    CHECK_STATUS(ql_link_new("x", NULL), QL_ERR_INVALID);
    if (!CHECK_OK(ql_link_new(NULL, &link)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &a)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &b)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &c))) {
        return;
    }

    /* A link that never started: no publisher, nothing drained. */
    CHECK_STATUS(ql_link_is_alive(link, &flag), QL_ERR_STATE);
    CHECK(flag == -7);
    CHECK_OK(ql_link_is_drained(link, &flag));
    CHECK(flag == 0);
    CHECK_OK(ql_link_metrics(link, NULL, 0, &count));
    CHECK(count == 0);
    CHECK_OK(ql_link_stop(link));

    /* Invalid directions and NULL out parameters. */
    CHECK_STATUS(ql_link_register(link, a, 0, &id), QL_ERR_INVALID);
    CHECK_STATUS(ql_link_register(link, a, 3, &id), QL_ERR_INVALID);
    CHECK(id == -7);
    CHECK_STATUS(ql_link_register(link, a, QL_SOURCE, NULL), QL_ERR_INVALID);

    /* Ids count up from 1 across both directions. */
    CHECK_OK(ql_link_register(link, a, QL_SOURCE, &id_a));
    CHECK(id_a == 1);
    CHECK_STATUS(ql_link_is_alive(link, &flag), QL_ERR_STATE);

    /* The same queue in the same or the opposite direction. */
    CHECK_STATUS(ql_link_register(link, a, QL_SOURCE, &id), QL_ERR_EXISTS);
    CHECK_STATUS(ql_link_register(link, a, QL_DESTINATION, &id),
                 QL_ERR_EXISTS);
    CHECK(id == -7);

    CHECK_OK(ql_link_register(link, b, QL_DESTINATION, &id_b));
    CHECK(id_b == 2);
    CHECK_STATUS(ql_link_register(link, b, QL_DESTINATION, &id),
                 QL_ERR_EXISTS);
    CHECK_STATUS(ql_link_register(link, b, QL_SOURCE, &id), QL_ERR_EXISTS);

    /* Unregister: unknown ids, wrong directions, invalid directions. */
    CHECK_STATUS(ql_link_unregister(link, 999, QL_SOURCE), QL_ERR_NOT_FOUND);
    CHECK_STATUS(ql_link_unregister(link, 0, QL_DESTINATION),
                 QL_ERR_NOT_FOUND);
    CHECK_STATUS(ql_link_unregister(link, id_a, QL_DESTINATION),
                 QL_ERR_NOT_FOUND);
    CHECK_STATUS(ql_link_unregister(link, id_b, QL_SOURCE), QL_ERR_NOT_FOUND);
    CHECK_STATUS(ql_link_unregister(link, id_a, 7), QL_ERR_INVALID);

    /* Ids are never reused. */
    CHECK_OK(ql_link_unregister(link, id_b, QL_DESTINATION));
    CHECK_STATUS(ql_link_unregister(link, id_b, QL_DESTINATION),
                 QL_ERR_NOT_FOUND);
    CHECK_OK(ql_link_register(link, c, QL_DESTINATION, &id_c));
    CHECK(id_c == 3);
    CHECK_OK(ql_link_register(link, b, QL_DESTINATION, &id_b));
    CHECK(id_b == 4);

    /* ql_link_queue() */
    CHECK_STATUS(ql_link_queue(link, 999, &ref), QL_ERR_NOT_FOUND);
    CHECK(ref == SENTINEL(ql_queue));
    CHECK_STATUS(ql_link_queue(link, id_a, NULL), QL_ERR_INVALID);

    /* ql_link_is_empty(), ql_link_is_alive(), ql_link_metrics() */
    CHECK_STATUS(ql_link_is_empty(link, 999, &flag), QL_ERR_NOT_FOUND);
    CHECK_STATUS(ql_link_is_empty(link, 0, NULL), QL_ERR_INVALID);
    CHECK_STATUS(ql_link_is_alive(link, NULL), QL_ERR_INVALID);
    CHECK_STATUS(ql_link_is_drained(link, NULL), QL_ERR_INVALID);
    CHECK_STATUS(ql_link_metrics(link, NULL, 0, NULL), QL_ERR_INVALID);
    CHECK_STATUS(ql_link_metrics(link, NULL, 2, &count), QL_ERR_INVALID);
    CHECK_OK(ql_link_metrics(link, metrics, 2, &count));
    CHECK(count == 1);
    CHECK(metrics[0].id == id_a);
    CHECK(metrics[0].count == 0);
    CHECK(metrics[0].data_point_count == 0);

    CHECK_OK(ql_link_stop(link));
    CHECK_OK(ql_link_stop(link));
    CHECK_OK(ql_link_free(link));

    /* The queues stay open after the link is freed. */
    CHECK_OK(ql_queue_is_closed(a, &flag));
    CHECK(flag == 0);
    CHECK_OK(ql_queue_is_closed(b, &flag));
    CHECK(flag == 0);

    CHECK_OK(ql_queue_free(a));
    CHECK_OK(ql_queue_free(b));
    CHECK_OK(ql_queue_free(c));
}

static void test_link_queue_reference(void)
{
    ql_link *link = NULL;
    ql_queue *q = NULL;
    ql_queue *ref = NULL;
    int64_t id = -1;
    int64_t len = -1;
    int flag = -1;

    current_test = "link queue reference";

    if (!CHECK_OK(ql_link_new("reference", &link)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q)) ||
        !CHECK_OK(ql_link_register(link, q, QL_DESTINATION, &id)) ||
        !CHECK_OK(ql_link_queue(link, id, &ref))) {
        return;
    }

    /* The reference and the original name the same queue. */
    CHECK_OK(put_text(ref, "through the reference"));
    CHECK_GET_TEXT(q, 0, "through the reference");
    CHECK_OK(put_text(q, "through the original"));
    CHECK_OK(ql_queue_len(ref, &len));
    CHECK(len == 1);

    /* Freeing the reference frees only the reference. */
    CHECK_OK(ql_queue_free(ref));
    CHECK_STATUS(ql_queue_len(ref, &len), QL_ERR_HANDLE);
    CHECK_OK(ql_queue_is_closed(q, &flag));
    CHECK(flag == 0);
    CHECK_GET_TEXT(q, 0, "through the original");

    /* A reference outlives the link. */
    CHECK_OK(ql_link_queue(link, id, &ref));
    CHECK_OK(ql_link_free(link));
    CHECK_OK(put_text(ref, "after the link"));
    CHECK_GET_TEXT(q, 0, "after the link");
    CHECK_OK(ql_queue_free(ref));

    CHECK_OK(ql_queue_is_closed(q, &flag));
    CHECK(flag == 0);
    CHECK_OK(ql_queue_free(q));
}

/* Checks the metrics of one source. */
static void check_source_metrics(const ql_source_metrics *m, int64_t id,
                                 uint64_t count)
{
    int64_t window = count < 100 ? (int64_t)count : 100;

    CHECK(m->id == id);
    CHECK(m->count == count);
    CHECK(m->data_point_count == window);
    CHECK(isfinite(m->mean));
    CHECK(m->mean >= 0.0);
    CHECK(m->mean < 10.0);
    CHECK(isfinite(m->median));
    CHECK(m->median >= 0.0);
    CHECK(m->median < 10.0);
    CHECK(isfinite(m->stddev));
    CHECK(m->stddev >= 0.0);
    CHECK(m->stddev < 10.0);
}

static void test_link_fan_out(void)
{
    enum { FIRST_BATCH = 150, SECOND_BATCH = 10 };
    ql_link *link = NULL;
    ql_queue *source = NULL;
    ql_queue *dest1 = NULL;
    ql_queue *dest2 = NULL;
    int64_t source_id = -1;
    int64_t dest1_id = -1;
    int64_t dest2_id = -1;
    int flag = -1;
    size_t count = 0;
    ql_source_metrics metrics[1];
    ql_msg msg;
    char text[32];
    int i;

    current_test = "link fan-out";

    if (!CHECK_OK(ql_link_new("fan-out", &link)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &source)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &dest1)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &dest2))) {
        return;
    }
    CHECK_OK(ql_link_register(link, source, QL_SOURCE, &source_id));
    CHECK_OK(ql_link_register(link, dest1, QL_DESTINATION, &dest1_id));
    CHECK_OK(ql_link_register(link, dest2, QL_DESTINATION, &dest2_id));

    for (i = 0; i < FIRST_BATCH; i++) {
        snprintf(text, sizeof text, "message %d\n", i);
        CHECK_OK(put_text(source, text));
    }
    for (i = 0; i < FIRST_BATCH; i++) {
        snprintf(text, sizeof text, "message %d\n", i);
        CHECK_GET_TEXT(dest1, LONG_TIMEOUT_US, text);
        CHECK_GET_TEXT(dest2, LONG_TIMEOUT_US, text);
    }
    CHECK_STATUS(ql_queue_get(dest1, SHORT_TIMEOUT_US, NULL, 0, &msg),
                 QL_ERR_EMPTY);
    CHECK_STATUS(ql_queue_get(dest2, 0, NULL, 0, &msg), QL_ERR_EMPTY);

    CHECK_OK(ql_link_is_alive(link, &flag));
    CHECK(flag == 1);
    CHECK(wait_link_drained(link, LONG_TIMEOUT_US));
    CHECK_OK(ql_link_is_empty(link, 0, &flag));
    CHECK(flag == 1);
    CHECK_OK(ql_link_is_empty(link, dest1_id, &flag));
    CHECK(flag == 1);

    /* One queue checked alone: the held message counts for dest2 only. */
    CHECK_OK(put_text(dest2, "pending"));
    CHECK_OK(ql_link_is_empty(link, dest1_id, &flag));
    CHECK(flag == 1);
    CHECK_OK(ql_link_is_empty(link, dest2_id, &flag));
    CHECK(flag == 0);
    CHECK_OK(ql_link_is_empty(link, 0, &flag));
    CHECK(flag == 0);
    CHECK_OK(ql_link_is_drained(link, &flag));
    CHECK(flag == 0);
    CHECK_GET_TEXT(dest2, 0, "pending");

    CHECK_OK(ql_link_metrics(link, metrics, 1, &count));
    if (CHECK(count == 1)) {
        check_source_metrics(&metrics[0], source_id, FIRST_BATCH);
    }

    /* After unregistering dest2, only dest1 receives. */
    CHECK_OK(ql_link_unregister(link, dest2_id, QL_DESTINATION));
    for (i = 0; i < SECOND_BATCH; i++) {
        snprintf(text, sizeof text, "after %d\n", i);
        CHECK_OK(put_text(source, text));
    }
    for (i = 0; i < SECOND_BATCH; i++) {
        snprintf(text, sizeof text, "after %d\n", i);
        CHECK_GET_TEXT(dest1, LONG_TIMEOUT_US, text);
    }
    CHECK_STATUS(ql_queue_get(dest2, SHORT_TIMEOUT_US, NULL, 0, &msg),
                 QL_ERR_EMPTY);
    CHECK_OK(ql_link_metrics(link, metrics, 1, &count));
    CHECK(metrics[0].count == FIRST_BATCH + SECOND_BATCH);

    CHECK_OK(ql_link_free(link));
    CHECK_OK(ql_queue_free(source));
    CHECK_OK(ql_queue_free(dest1));
    CHECK_OK(ql_queue_free(dest2));
}

static void test_link_fan_in(void)
{
    enum { FROM_A = 50, FROM_B = 70 };
    ql_link *link = NULL;
    ql_queue *source_a = NULL;
    ql_queue *source_b = NULL;
    ql_queue *dest = NULL;
    int64_t id_a = -1;
    int64_t id_b = -1;
    int64_t id_dest = -1;
    int next_a = 0;
    int next_b = 0;
    int other = 0;
    size_t count = 0;
    ql_source_metrics metrics[2];
    ql_msg msg;
    char text[32];
    char buf[32];
    int i;

    current_test = "link fan-in";

    if (!CHECK_OK(ql_link_new("fan-in", &link)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &source_a)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &source_b)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &dest))) {
        return;
    }
    CHECK_OK(ql_link_register(link, source_a, QL_SOURCE, &id_a));
    CHECK_OK(ql_link_register(link, source_b, QL_SOURCE, &id_b));
    CHECK_OK(ql_link_register(link, dest, QL_DESTINATION, &id_dest));

    for (i = 0; i < FROM_A || i < FROM_B; i++) {
        if (i < FROM_A) {
            snprintf(text, sizeof text, "a %d", i);
            CHECK_OK(put_text(source_a, text));
        }
        if (i < FROM_B) {
            snprintf(text, sizeof text, "b %d", i);
            CHECK_OK(put_text(source_b, text));
        }
    }

    /* Each source's messages arrive in order, interleaved in any way. */
    for (i = 0; i < FROM_A + FROM_B; i++) {
        int number = -1;
        memset(&msg, 0, sizeof msg);
        if (!CHECK_OK(ql_queue_get(dest, LONG_TIMEOUT_US, buf, sizeof buf - 1,
                                   &msg))) {
            break;
        }
        buf[msg.len < sizeof buf ? msg.len : sizeof buf - 1] = '\0';
        if (sscanf(buf, "a %d", &number) == 1) {
            CHECK(number == next_a);
            next_a = number + 1;
        } else if (sscanf(buf, "b %d", &number) == 1) {
            CHECK(number == next_b);
            next_b = number + 1;
        } else {
            other++;
        }
        ql_msg_free(&msg);
    }
    CHECK(next_a == FROM_A);
    CHECK(next_b == FROM_B);
    CHECK(other == 0);
    CHECK_STATUS(ql_queue_get(dest, SHORT_TIMEOUT_US, NULL, 0, &msg),
                 QL_ERR_EMPTY);

    /* Metrics: the count of sources even when cap is smaller, in id order. */
    CHECK_OK(ql_link_metrics(link, NULL, 0, &count));
    CHECK(count == 2);
    memset(metrics, 0, sizeof metrics);
    CHECK_OK(ql_link_metrics(link, metrics, 1, &count));
    CHECK(count == 2);
    CHECK(metrics[0].id == id_a);
    /* metrics[1] is beyond cap, so the library leaves it alone. */
    CHECK(metrics[1].id == 0);
    CHECK(metrics[1].count == 0);
    CHECK_OK(ql_link_metrics(link, metrics, 2, &count));
    if (CHECK(count == 2)) {
        check_source_metrics(&metrics[0], id_a, FROM_A);
        check_source_metrics(&metrics[1], id_b, FROM_B);
    }

    CHECK_OK(ql_link_free(link));
    CHECK_OK(ql_queue_free(source_a));
    CHECK_OK(ql_queue_free(source_b));
    CHECK_OK(ql_queue_free(dest));
}

/* Polls until q contains want messages or timeout_us passes. */
static int wait_queue_len(ql_queue *q, int64_t want, int64_t timeout_us)
{
    int64_t deadline = now_us() + timeout_us;
    int64_t len = -1;

    for (;;) {
        if (ql_queue_len(q, &len) != QL_OK) {
            return 0;
        }
        if (len == want) {
            return 1;
        }
        if (now_us() > deadline) {
            return 0;
        }
        sleep_us(1000);
    }
}

static void test_link_stop_and_restart(void)
{
    ql_link *link = NULL;
    ql_queue *source = NULL;
    ql_queue *dest = NULL;
    ql_queue *late_dest = NULL;
    ql_queue *late_source = NULL;
    int64_t id = -1;
    int flag = -1;
    size_t count = 0;
    ql_source_metrics metrics[2];
    ql_msg msg;

    current_test = "link stop and restart";

    /* dest is bounded to one message, so the publisher waits for room
     * with "2". It may have taken "3" in the same batch; a stop puts such
     * messages back in the source. */
    if (!CHECK_OK(ql_link_new("restart", &link)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &source)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 1, &dest)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &late_dest)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &late_source))) {
        return;
    }
    CHECK_OK(put_text(source, "1"));
    CHECK_OK(put_text(source, "2"));
    CHECK_OK(put_text(source, "3"));
    CHECK_OK(ql_link_register(link, source, QL_SOURCE, &id));
    CHECK_OK(ql_link_register(link, dest, QL_DESTINATION, &id));
    CHECK(wait_queue_len(dest, 1, LONG_TIMEOUT_US));
    CHECK_OK(ql_link_is_drained(link, &flag));
    CHECK(flag == 0);

    /* Stop wakes the publisher that waits for room and keeps its message. */
    if (!CHECK_OK_WITHIN(stop_link, link, 2000000)) {
        return;
    }
    CHECK_OK(ql_link_stop(link));
    CHECK_OK(ql_link_is_alive(link, &flag));
    CHECK(flag == 0);
    CHECK_GET_TEXT(dest, 0, "1");
    CHECK_OK(put_text(source, "4"));
    CHECK_STATUS(ql_queue_get(dest, SHORT_TIMEOUT_US * 2, NULL, 0, &msg),
                 QL_ERR_EMPTY);
    CHECK(queue_len(source) == 2);

    /* A later registration starts the publishers again. The held "2" goes
     * first and only to dest, which was the only destination when it was
     * taken; "3" and "4" go to both destinations. */
    CHECK_OK(ql_link_register(link, late_dest, QL_DESTINATION, &id));
    CHECK_GET_TEXT(dest, LONG_TIMEOUT_US, "2");
    CHECK_GET_TEXT(dest, LONG_TIMEOUT_US, "3");
    CHECK_GET_TEXT(dest, LONG_TIMEOUT_US, "4");
    CHECK_GET_TEXT(late_dest, LONG_TIMEOUT_US, "3");
    CHECK_GET_TEXT(late_dest, LONG_TIMEOUT_US, "4");
    CHECK_STATUS(ql_queue_get(late_dest, SHORT_TIMEOUT_US, NULL, 0, &msg),
                 QL_ERR_EMPTY);
    CHECK_STATUS(ql_queue_get(dest, 0, NULL, 0, &msg), QL_ERR_EMPTY);
    CHECK_OK(ql_link_is_alive(link, &flag));
    CHECK(flag == 1);

    /* Stop again, then restart with a new source this time. Each source
     * has its own publisher, so "6" is put only after "5" has arrived. */
    CHECK_OK(ql_link_stop(link));
    CHECK_OK(put_text(source, "5"));
    CHECK_OK(ql_link_register(link, late_source, QL_SOURCE, &id));
    CHECK_GET_TEXT(dest, LONG_TIMEOUT_US, "5");
    CHECK_GET_TEXT(late_dest, LONG_TIMEOUT_US, "5");
    CHECK_OK(put_text(late_source, "6"));
    CHECK_GET_TEXT(dest, LONG_TIMEOUT_US, "6");
    CHECK_GET_TEXT(late_dest, LONG_TIMEOUT_US, "6");
    CHECK(wait_link_drained(link, LONG_TIMEOUT_US));
    CHECK_OK(ql_link_metrics(link, metrics, 2, &count));
    CHECK(count == 2);
    CHECK(metrics[0].count == 5);
    CHECK(metrics[1].count == 1);

    /* Freeing a running link stops its publishers. */
    CHECK_OK(ql_link_free(link));
    CHECK_OK(put_text(source, "not moved"));
    CHECK_STATUS(ql_queue_get(dest, SHORT_TIMEOUT_US * 2, NULL, 0, &msg),
                 QL_ERR_EMPTY);
    CHECK(queue_len(source) == 1);

    CHECK_OK(ql_queue_free(source));
    CHECK_OK(ql_queue_free(dest));
    CHECK_OK(ql_queue_free(late_dest));
    CHECK_OK(ql_queue_free(late_source));
}

/* ------------------------------------------------------------------------
 * Readers
 * ---------------------------------------------------------------------- */

static void test_reader_errors(void)
{
    ql_queue *q = NULL;
    ql_reader *reader = SENTINEL(ql_reader);
    const char *missing = temp_path("missing-file");
    const char *lines = temp_path("reader-errors.txt");
    int bad_kinds[] = {0, 99, -1};
    int devnull_fd;
    size_t i;

    current_test = "reader errors";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        return;
    }
    devnull_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(devnull_fd >= 0);
    CHECK(write_file(lines, "line\n", 5) == 0);

    CHECK_STATUS(ql_reader_new_fd(q, -1, QL_KIND_TEXT, &reader),
                 QL_ERR_INVALID);
    CHECK(strstr(ql_errmsg(), "-1") != NULL);
    CHECK_STATUS(ql_reader_new_fd(q, -100, QL_KIND_BYTES, &reader),
                 QL_ERR_INVALID);
    for (i = 0; i < sizeof bad_kinds / sizeof bad_kinds[0]; i++) {
        CHECK_STATUS(ql_reader_new_fd(q, devnull_fd, bad_kinds[i], &reader),
                     QL_ERR_INVALID);
        CHECK_STATUS(ql_reader_new_path(q, lines, bad_kinds[i], &reader),
                     QL_ERR_INVALID);
    }
    CHECK_STATUS(ql_reader_new_fd(q, devnull_fd, QL_KIND_TEXT, NULL),
                 QL_ERR_INVALID);
    CHECK_STATUS(ql_reader_new_path(q, lines, QL_KIND_TEXT, NULL),
                 QL_ERR_INVALID);
    CHECK_STATUS(ql_reader_new_path(q, NULL, QL_KIND_TEXT, &reader),
                 QL_ERR_INVALID);

    /* A descriptor that is not open. */
    if (CHECK(fcntl(UNUSED_FD, F_GETFD) == -1 && errno == EBADF)) {
        CHECK_STATUS(ql_reader_new_fd(q, UNUSED_FD, QL_KIND_TEXT, &reader),
                     QL_ERR_IO);
    }

    /* A path that does not exist: the message names it. */
    CHECK_STATUS(ql_reader_new_path(q, missing, QL_KIND_TEXT, &reader),
                 QL_ERR_IO);
    CHECK(strstr(ql_errmsg(), missing) != NULL);
    CHECK(reader == SENTINEL(ql_reader));

    /* Nothing reached the queue. */
    CHECK(queue_len(q) == 0);

    if (devnull_fd >= 0) {
        close(devnull_fd);
    }
    CHECK_OK(ql_queue_free(q));
}

static void test_reader_subprocess_pipe(void)
{
    enum { LINE_COUNT = 1000 };
    char *const seq_argv[] = {"seq", "1", "1000", NULL};
    static const char printf_output[] = "a\nb\0c\nlast";
    ql_queue *q = NULL;
    ql_reader *reader = NULL;
    uint64_t count = 0;
    int flag = -1;
    int read_fd = -1;
    pid_t pid;
    ql_msg msg;
    char text[16];
    int i;
    FILE *pipe_file;

    current_test = "reader from a subprocess pipe";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        return;
    }

    /* seq 1 1000 through fork and exec. */
    pid = spawn_with_stdout_pipe(seq_argv, &read_fd);
    if (CHECK(pid > 0)) {
        if (CHECK_OK(ql_reader_new_fd(q, read_fd, QL_KIND_TEXT, &reader))) {
            /* The reader has its own copy of the descriptor. */
            close(read_fd);
            CHECK_OK(ql_reader_wait(reader, LONG_TIMEOUT_US));
            CHECK_OK(ql_reader_count(reader, &count));
            CHECK(count == LINE_COUNT);
            CHECK_OK(ql_reader_is_alive(reader, &flag));
            CHECK(flag == 0);
            CHECK_OK(ql_reader_stop(reader));
            CHECK_OK(ql_reader_free(reader));
        } else {
            close(read_fd);
        }
        CHECK(wait_exit_status(pid) == 0);

        for (i = 1; i <= LINE_COUNT; i++) {
            snprintf(text, sizeof text, "%d\n", i);
            memset(&msg, 0, sizeof msg);
            if (!CHECK_OK(ql_queue_get(q, 0, NULL, 0, &msg))) {
                break;
            }
            CHECK_PAYLOAD(&msg, text, strlen(text));
            CHECK(msg.kind == QL_KIND_TEXT);
            ql_msg_free(&msg);
        }
        CHECK_STATUS(ql_queue_get(q, 0, NULL, 0, &msg), QL_ERR_EMPTY);
    }

    /* printf through popen(): a NUL byte inside a line and a last line
     * without a newline. */
    pipe_file = popen("printf 'a\\nb\\000c\\nlast'", "r");
    if (CHECK(pipe_file != NULL)) {
        reader = NULL;
        if (CHECK_OK(ql_reader_new_fd(q, fileno(pipe_file), QL_KIND_BYTES,
                                      &reader))) {
            CHECK_OK(ql_reader_wait(reader, LONG_TIMEOUT_US));
            CHECK_OK(ql_reader_count(reader, &count));
            CHECK(count == 3);
            CHECK_OK(ql_reader_free(reader));
        }
        CHECK(pclose(pipe_file) == 0);
        CHECK_GET_TEXT(q, 0, "a\n");
        memset(&msg, 0, sizeof msg);
        if (CHECK_OK(ql_queue_get(q, 0, NULL, 0, &msg))) {
            CHECK_PAYLOAD(&msg, printf_output + 2, 4);
            CHECK(msg.kind == QL_KIND_BYTES);
            ql_msg_free(&msg);
        }
        CHECK_GET_TEXT(q, 0, "last");
        CHECK_STATUS(ql_queue_get(q, 0, NULL, 0, &msg), QL_ERR_EMPTY);
    }

    CHECK_OK(ql_queue_free(q));
}

static void test_reader_path(void)
{
    enum { LONG_LINE = 200000 };
    static const char content[] = "one\ntwo\n\nthree";
    const char *path = temp_path("reader-path.txt");
    const char *empty_path = temp_path("reader-empty.txt");
    const char *long_path = temp_path("reader-long.txt");
    ql_queue *q = NULL;
    ql_queue *closed = NULL;
    ql_reader *reader = NULL;
    uint64_t count = 0;
    int flag = -1;
    ql_msg msg;
    char *long_content;

    current_test = "reader of a path";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        return;
    }
    CHECK(write_file(path, content, sizeof content - 1) == 0);
    CHECK(write_file(empty_path, "", 0) == 0);

    if (CHECK_OK(ql_reader_new_path(q, path, QL_KIND_TEXT, &reader))) {
        CHECK_OK(ql_reader_wait(reader, LONG_TIMEOUT_US));
        CHECK_OK(ql_reader_count(reader, &count));
        CHECK(count == 4);
        CHECK_OK(ql_reader_is_alive(reader, &flag));
        CHECK(flag == 0);
        CHECK_STATUS(ql_reader_count(reader, NULL), QL_ERR_INVALID);
        CHECK_STATUS(ql_reader_is_alive(reader, NULL), QL_ERR_INVALID);
        CHECK_OK(ql_reader_free(reader));
    }
    CHECK_GET_TEXT(q, 0, "one\n");
    CHECK_GET_TEXT(q, 0, "two\n");
    CHECK_GET_TEXT(q, 0, "\n");
    CHECK_GET_TEXT(q, 0, "three");
    CHECK_STATUS(ql_queue_get(q, 0, NULL, 0, &msg), QL_ERR_EMPTY);

    /* An empty file gives no message. */
    if (CHECK_OK(ql_reader_new_path(q, empty_path, QL_KIND_BYTES, &reader))) {
        CHECK_OK(ql_reader_wait(reader, LONG_TIMEOUT_US));
        CHECK_OK(ql_reader_count(reader, &count));
        CHECK(count == 0);
        CHECK_OK(ql_reader_free(reader));
    }
    CHECK(queue_len(q) == 0);

    /* A line longer than any read buffer stays one message. */
    long_content = malloc(LONG_LINE + 6);
    if (CHECK(long_content != NULL)) {
        memset(long_content, 'x', LONG_LINE);
        memcpy(long_content + LONG_LINE, "\ntail", 5);
        CHECK(write_file(long_path, long_content, LONG_LINE + 5) == 0);
        if (CHECK_OK(ql_reader_new_path(q, long_path, QL_KIND_BYTES,
                                        &reader))) {
            CHECK_OK(ql_reader_wait(reader, LONG_TIMEOUT_US));
            CHECK_OK(ql_reader_free(reader));
        }
        CHECK(check_get(__FILE__, __LINE__, q, 0, long_content,
                        LONG_LINE + 1));
        CHECK_GET_TEXT(q, 0, "tail");
        free(long_content);
    }

    /* A reader whose queue is closed ends with QL_ERR_CLOSED. */
    if (CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &closed))) {
        CHECK_OK(ql_queue_close(closed));
        if (CHECK_OK(ql_reader_new_path(closed, path, QL_KIND_TEXT,
                                        &reader))) {
            CHECK_STATUS(ql_reader_wait(reader, LONG_TIMEOUT_US),
                         QL_ERR_CLOSED);
            CHECK_OK(ql_reader_free(reader));
        }
        CHECK_OK(ql_queue_free(closed));
    }

    CHECK_OK(ql_queue_free(q));
}

static void test_reader_stop_and_read_error(void)
{
    ql_queue *q = NULL;
    ql_reader *reader = NULL;
    uint64_t count = 0;
    int flag = -1;
    int fds[2] = {-1, -1};
    int dir_fd;
    int status;
    int64_t deadline;

    current_test = "reader stop and read error";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        return;
    }

    /* A reader on a pipe whose write end stays open runs until stopped. */
    if (CHECK(pipe2(fds, O_CLOEXEC) == 0)) {
        if (CHECK_OK(ql_reader_new_fd(q, fds[0], QL_KIND_TEXT, &reader))) {
            CHECK(write(fds[1], "x\ny", 3) == 3);
            deadline = now_us() + LONG_TIMEOUT_US;
            while (ql_reader_count(reader, &count) == QL_OK && count < 1 &&
                   now_us() < deadline) {
                sleep_us(1000);
            }
            CHECK(count == 1);
            CHECK_STATUS(ql_reader_wait(reader, SHORT_TIMEOUT_US),
                         QL_ERR_TIMEOUT);
            CHECK_OK(ql_reader_is_alive(reader, &flag));
            CHECK(flag == 1);

            /* The reader is blocked in a read on the pipe. */
            if (!CHECK_OK_WITHIN(stop_reader, reader, 2000000)) {
                return;
            }
            CHECK_OK(ql_reader_wait(reader, 0));
            CHECK_OK(ql_reader_is_alive(reader, &flag));
            CHECK(flag == 0);
            CHECK_OK(ql_reader_stop(reader));
            CHECK_OK(ql_reader_free(reader));
        }
        CHECK_GET_TEXT(q, 0, "x\n");
        /* Stop delivers the bytes read after the last newline as a line. */
        CHECK_GET_TEXT(q, 0, "y");
        CHECK(queue_len(q) == 0);

        /* Freeing a running reader stops it. */
        if (CHECK_OK(ql_reader_new_fd(q, fds[0], QL_KIND_TEXT, &reader))) {
            if (!CHECK_OK_WITHIN(free_reader, reader, 2000000)) {
                return;
            }
        }

        /* The reader never closed the descriptors it was given. */
        CHECK(fcntl(fds[0], F_GETFD) != -1);
        close(fds[0]);
        close(fds[1]);
    }

    /* Reading a directory fails with EISDIR: ql_reader_wait() reports it. */
    dir_fd = open(temp_dir, O_RDONLY | O_CLOEXEC);
    if (CHECK(dir_fd >= 0)) {
        status = ql_reader_new_fd(q, dir_fd, QL_KIND_BYTES, &reader);
        CHECK_OK(status);
        if (status == QL_OK) {
            CHECK_STATUS(ql_reader_wait(reader, LONG_TIMEOUT_US), QL_ERR_IO);
            CHECK_OK(ql_reader_free(reader));
        }
        close(dir_fd);
    }

    CHECK_OK(ql_queue_free(q));
}

static void test_reader_stop_on_socket(void)
{
    ql_queue *q = NULL;
    ql_reader *reader = NULL;
    struct timed_call *call;
    uint64_t count = 0;
    int64_t deadline;
    int fds[2];

    current_test = "reader stop on a socket";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        return;
    }
    if (!CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) ==
               0) ||
        !CHECK_OK(ql_reader_new_fd(q, fds[0], QL_KIND_TEXT, &reader))) {
        ql_queue_free(q);
        return;
    }
    CHECK(write(fds[1], "a\n", 2) == 2);
    deadline = now_us() + LONG_TIMEOUT_US;
    while (ql_reader_count(reader, &count) == QL_OK && count < 1 &&
           now_us() < deadline) {
        sleep_us(1000);
    }
    CHECK(count == 1);

    /* The reader is blocked in a read on the socket, whose peer stays
     * open. */
    call = start_call(stop_reader, NULL, reader, NULL);
    if (!CHECK(call != NULL)) {
        close(fds[1]);
        close(fds[0]);
        return;
    }
    if (!CHECK(wait_call(call, 2000000))) {
        /* The failure is recorded. Closing the peer gives the reader an
         * end of file, so that the stop can return and the test go on. */
        close(fds[1]);
        fds[1] = -1;
        if (!CHECK(wait_call(call, 2000000))) {
            abandon_call(call);
            close(fds[0]);
            return;
        }
    }
    CHECK_OK(finish_call(call, NULL));
    CHECK_OK(ql_reader_free(reader));
    CHECK_GET_TEXT(q, 0, "a\n");
    CHECK(fcntl(fds[0], F_GETFD) != -1);
    close(fds[0]);
    if (fds[1] >= 0) {
        close(fds[1]);
    }
    CHECK_OK(ql_queue_free(q));
}

static void test_reader_named_fifo(void)
{
    const char *fifo = temp_path("reader.fifo");
    char *const writer_argv[] = {"sh", "-c", "printf 'x\\ny' > \"$0\"",
                                 (char *)fifo, NULL};
    ql_queue *q = NULL;
    struct timed_call *call;
    ql_reader *reader = NULL;
    uint64_t count = 0;
    int read_fd = -1;
    pid_t pid;

    current_test = "reader of a named FIFO";

    if (!CHECK(mkfifo(fifo, 0600) == 0) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        return;
    }

    /* A subprocess opens the FIFO for writing, so the reader's open does
     * not wait forever. Its stdout pipe is not used. */
    pid = spawn_with_stdout_pipe(writer_argv, &read_fd);
    if (!CHECK(pid > 0)) {
        ql_queue_free(q);
        return;
    }
    call = start_call(open_reader_path, q, NULL, fifo);
    if (!CHECK(call != NULL)) {
        return;
    }
    if (!CHECK(wait_call(call, LONG_TIMEOUT_US))) {
        abandon_call(call);
        return;
    }
    reader = call->reader;
    if (CHECK_OK(finish_call(call, NULL))) {
        CHECK_OK(ql_reader_wait(reader, LONG_TIMEOUT_US));
        CHECK_OK(ql_reader_count(reader, &count));
        CHECK(count == 2);
        CHECK_OK(ql_reader_free(reader));
        CHECK_GET_TEXT(q, 0, "x\n");
        CHECK_GET_TEXT(q, 0, "y");
    }
    close(read_fd);
    CHECK(wait_exit_status(pid) == 0);
    CHECK_OK(ql_queue_free(q));
}

/* ------------------------------------------------------------------------
 * Writers
 * ---------------------------------------------------------------------- */

static void test_writer_errors(void)
{
    ql_queue *q = NULL;
    ql_writer *writer = SENTINEL(ql_writer);
    const char *in_missing_dir = "/nonexistent-queuelink-test/dir/out.txt";
    const char *out = temp_path("writer-errors.txt");
    int devnull_fd;

    current_test = "writer errors";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        return;
    }
    devnull_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(devnull_fd >= 0);

    CHECK_STATUS(ql_writer_new_fd(q, -1, &writer), QL_ERR_INVALID);
    CHECK(strstr(ql_errmsg(), "-1") != NULL);
    CHECK_STATUS(ql_writer_new_fd(q, devnull_fd, NULL), QL_ERR_INVALID);
    if (CHECK(fcntl(UNUSED_FD, F_GETFD) == -1 && errno == EBADF)) {
        CHECK_STATUS(ql_writer_new_fd(q, UNUSED_FD, &writer), QL_ERR_IO);
    }

    CHECK_STATUS(ql_writer_new_path(q, in_missing_dir, QL_WRITE_TRUNCATE,
                                    &writer), QL_ERR_IO);
    CHECK(strstr(ql_errmsg(), in_missing_dir) != NULL);
    /* A directory cannot be opened as a file to write. */
    CHECK_STATUS(ql_writer_new_path(q, temp_dir, QL_WRITE_APPEND, &writer),
                 QL_ERR_IO);
    CHECK(strstr(ql_errmsg(), temp_dir) != NULL);
    CHECK_STATUS(ql_writer_new_path(q, NULL, QL_WRITE_TRUNCATE, &writer),
                 QL_ERR_INVALID);
    CHECK_STATUS(ql_writer_new_path(q, out, QL_WRITE_TRUNCATE, NULL),
                 QL_ERR_INVALID);
    CHECK_STATUS(ql_writer_new_path(q, out, 7, &writer), QL_ERR_INVALID);
    CHECK(writer == SENTINEL(ql_writer));

    if (devnull_fd >= 0) {
        close(devnull_fd);
    }
    CHECK_OK(ql_queue_free(q));
}

static void test_writer_fd(void)
{
    static const char with_nuls[] = {'b', 'y', '\0', 't', 'e', 's', '\n'};
    enum { LARGE_SIZE = 100000 };
    const char *path = temp_path("writer-fd.out");
    ql_queue *q = NULL;
    ql_writer *writer = NULL;
    unsigned char *expected;
    unsigned char *large;
    size_t expected_len = 0;
    uint64_t count = 0;
    int flag = -1;
    int fd;
    size_t i;

    current_test = "writer to a descriptor";

    expected = malloc(LARGE_SIZE + 64);
    large = malloc(LARGE_SIZE);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (!CHECK(expected != NULL && large != NULL && fd >= 0) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        free(expected);
        free(large);
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    for (i = 0; i < LARGE_SIZE; i++) {
        large[i] = (unsigned char)(i % 253);
    }

    if (!CHECK_OK(ql_writer_new_fd(q, fd, &writer))) {
        ql_queue_free(q);
        close(fd);
        free(expected);
        free(large);
        return;
    }

    /* Text, raw bytes with NULs, an opaque pickle and a large payload,
     * each written as it is. */
    CHECK_OK(ql_queue_put(q, QL_KIND_TEXT, "hello\n", 6, 0));
    memcpy(expected + expected_len, "hello\n", 6);
    expected_len += 6;
    CHECK_OK(ql_queue_put(q, QL_KIND_BYTES, with_nuls, sizeof with_nuls, 0));
    memcpy(expected + expected_len, with_nuls, sizeof with_nuls);
    expected_len += sizeof with_nuls;
    CHECK_OK(ql_queue_put(q, QL_KIND_PICKLE, "\x80\x04K\x2a.", 5, 0));
    memcpy(expected + expected_len, "\x80\x04K\x2a.", 5);
    expected_len += 5;
    CHECK_OK(ql_queue_put(q, QL_KIND_BYTES, large, LARGE_SIZE, 0));
    memcpy(expected + expected_len, large, LARGE_SIZE);
    expected_len += LARGE_SIZE;
    CHECK_OK(ql_queue_put(q, QL_KIND_TEXT, "no newline at the end", 21, 0));
    memcpy(expected + expected_len, "no newline at the end", 21);
    expected_len += 21;

    /* The writer calls task_done for each message it writes. */
    CHECK_OK(ql_queue_join(q, LONG_TIMEOUT_US));
    CHECK_OK(ql_writer_count(writer, &count));
    CHECK(count == 5);
    CHECK_STATUS(ql_writer_wait(writer, SHORT_TIMEOUT_US), QL_ERR_TIMEOUT);
    CHECK_OK(ql_writer_is_alive(writer, &flag));
    CHECK(flag == 1);
    CHECK_STATUS(ql_writer_count(writer, NULL), QL_ERR_INVALID);
    CHECK_STATUS(ql_writer_is_alive(writer, NULL), QL_ERR_INVALID);

    /* Closing the emptied queue ends the writer. */
    CHECK_OK(ql_queue_close(q));
    CHECK_OK(ql_writer_wait(writer, LONG_TIMEOUT_US));
    CHECK_OK(ql_writer_is_alive(writer, &flag));
    CHECK(flag == 0);
    CHECK(fcntl(fd, F_GETFD) != -1);
    CHECK_OK(ql_writer_stop(writer));
    CHECK_OK(ql_writer_free(writer));

    /* The writer never closed the descriptor it was given. */
    CHECK(fcntl(fd, F_GETFD) != -1);
    CHECK(write(fd, "!", 1) == 1);
    close(fd);
    expected[expected_len++] = '!';
    CHECK_FILE_CONTENT(path, expected, expected_len);

    CHECK_OK(ql_queue_free(q));
    free(expected);
    free(large);
}

static void test_writer_path(void)
{
    static const char first[] = "alpha\nbeta\n";
    static const char second[] = "gamma\ndelta";
    const char *path = temp_path("writer-path.out");
    ql_queue *q = NULL;
    ql_writer *writer = NULL;
    uint64_t count = 0;
    int flag = -1;

    current_test = "writer to a path";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        return;
    }

    /* The file is opened when the first message arrives, so a writer that
     * gets none leaves it alone. */
    CHECK(write_file(path, "kept\n", 5) == 0);
    if (CHECK_OK(ql_writer_new_path(q, path, QL_WRITE_TRUNCATE, &writer))) {
        CHECK_OK(ql_writer_stop(writer));
        CHECK_OK(ql_writer_wait(writer, LONG_TIMEOUT_US));
        CHECK_OK(ql_writer_count(writer, &count));
        CHECK(count == 0);
        CHECK_OK(ql_writer_free(writer));
    }
    CHECK_FILE_CONTENT(path, "kept\n", 5);

    /* Truncate replaces case_name the file held before. */
    CHECK(write_file(path, "old content that must go\n", 25) == 0);
    if (CHECK_OK(ql_writer_new_path(q, path, QL_WRITE_TRUNCATE, &writer))) {
        CHECK_OK(put_text(q, "alpha\n"));
        CHECK_OK(put_text(q, "beta\n"));
        CHECK_OK(ql_queue_join(q, LONG_TIMEOUT_US));
        CHECK_OK(ql_writer_stop(writer));
        CHECK_OK(ql_writer_wait(writer, LONG_TIMEOUT_US));
        CHECK_OK(ql_writer_count(writer, &count));
        CHECK(count == 2);
        CHECK_OK(ql_writer_is_alive(writer, &flag));
        CHECK(flag == 0);
        CHECK_OK(ql_writer_free(writer));
    }
    CHECK_FILE_CONTENT(path, first, sizeof first - 1);

    /* Append keeps the content, and closing the queue ends the writer. */
    if (CHECK_OK(ql_writer_new_path(q, path, QL_WRITE_APPEND, &writer))) {
        CHECK_OK(put_text(q, "gamma\n"));
        CHECK_OK(put_text(q, "delta"));
        CHECK_OK(ql_queue_close(q));
        CHECK_OK(ql_writer_wait(writer, LONG_TIMEOUT_US));
        CHECK_OK(ql_writer_count(writer, &count));
        CHECK(count == 2);
        CHECK_OK(ql_writer_free(writer));
    }
    {
        char both[sizeof first + sizeof second];
        memcpy(both, first, sizeof first - 1);
        memcpy(both + sizeof first - 1, second, sizeof second - 1);
        CHECK_FILE_CONTENT(path, both, sizeof first + sizeof second - 2);
    }
    CHECK_OK(ql_queue_free(q));

    /* ql_queue_free() closes the queue, which ends a writer on it. */
    if (CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q)) &&
        CHECK_OK(ql_writer_new_path(q, path, QL_WRITE_TRUNCATE, &writer))) {
        CHECK_OK(put_text(q, "last words\n"));
        CHECK_OK(ql_queue_free(q));
        CHECK_OK(ql_writer_wait(writer, LONG_TIMEOUT_US));
        CHECK_OK(ql_writer_free(writer));
        CHECK_FILE_CONTENT(path, "last words\n", 11);
    }
}

static void test_writer_write_error(void)
{
    ql_queue *q = NULL;
    ql_writer *writer = NULL;
    int fd;

    current_test = "writer write error";

    /* Every write to /dev/full fails with ENOSPC. */
    fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
    if (!CHECK(fd >= 0) || !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    if (CHECK_OK(ql_writer_new_fd(q, fd, &writer))) {
        CHECK_OK(put_text(q, "cannot be written\n"));
        CHECK_STATUS(ql_writer_wait(writer, LONG_TIMEOUT_US), QL_ERR_IO);
        CHECK_OK(ql_writer_free(writer));
    }
    CHECK(fcntl(fd, F_GETFD) != -1);
    close(fd);
    CHECK_OK(ql_queue_free(q));
}

/* ------------------------------------------------------------------------
 * Many threads
 * ---------------------------------------------------------------------- */

enum {
    PRODUCERS = 4,
    CONSUMERS = 4,
    PER_PRODUCER = 25000,
    TOTAL_MESSAGES = PRODUCERS * PER_PRODUCER
};

struct producer {
    pthread_t thread;
    ql_queue *q;
    uint32_t id;
    int status; /* the first status other than QL_OK, or QL_OK */
};

struct consumer {
    pthread_t thread;
    ql_queue *q;
    unsigned char *seen; /* TOTAL_MESSAGES counters, one per message */
    int32_t last_seq[PRODUCERS];
    long received;
    int order_errors;
    int malformed;
    int end_status; /* the status that ended the loop */
};

/* Puts PER_PRODUCER 8-byte payloads: the producer id and a sequence
 * number. */
static void *run_producer(void *arg)
{
    struct producer *producer = arg;
    unsigned char payload[8];
    uint32_t seq;

    producer->status = QL_OK;
    memcpy(payload, &producer->id, 4);
    for (seq = 0; seq < PER_PRODUCER; seq++) {
        int status;
        memcpy(payload + 4, &seq, 4);
        status = ql_queue_put(producer->q, QL_KIND_BYTES, payload,
                              sizeof payload, LONG_TIMEOUT_US);
        if (status != QL_OK) {
            producer->status = status;
            break;
        }
    }
    return NULL;
}

/* Gets messages until the queue is closed and empty, recording each one. */
static void *run_consumer(void *arg)
{
    struct consumer *consumer = arg;
    unsigned char buf[16];
    ql_msg msg;

    for (;;) {
        uint32_t producer_id;
        uint32_t seq;
        int status;

        memset(&msg, 0, sizeof msg);
        status = ql_queue_get(consumer->q, LONG_TIMEOUT_US, buf, sizeof buf,
                              &msg);
        if (status != QL_OK) {
            consumer->end_status = status;
            return NULL;
        }
        if (msg.len != 8) {
            consumer->malformed++;
            ql_msg_free(&msg);
            continue;
        }
        memcpy(&producer_id, msg.data, 4);
        memcpy(&seq, (unsigned char *)msg.data + 4, 4);
        ql_msg_free(&msg);
        if (producer_id >= PRODUCERS || seq >= PER_PRODUCER) {
            consumer->malformed++;
            continue;
        }
        /* FIFO: one consumer gets each producer's messages in order. */
        if ((int32_t)seq <= consumer->last_seq[producer_id]) {
            consumer->order_errors++;
        }
        consumer->last_seq[producer_id] = (int32_t)seq;
        consumer->seen[producer_id * PER_PRODUCER + seq]++;
        consumer->received++;
    }
}

/* Starts consumer_count consumers on q. Returns how many started. */
static int start_consumers(struct consumer *consumers, int consumer_count,
                           ql_queue *q)
{
    int i;
    int p;

    for (i = 0; i < consumer_count; i++) {
        memset(&consumers[i], 0, sizeof consumers[i]);
        consumers[i].q = q;
        consumers[i].seen = calloc(TOTAL_MESSAGES, 1);
        for (p = 0; p < PRODUCERS; p++) {
            consumers[i].last_seq[p] = -1;
        }
        if (!CHECK(consumers[i].seen != NULL) ||
            !CHECK(pthread_create(&consumers[i].thread, NULL, run_consumer,
                                  &consumers[i]) == 0)) {
            free(consumers[i].seen);
            return i;
        }
    }
    return consumer_count;
}

/* Joins the consumers and checks that every message arrived exactly once,
 * in order per producer. */
static void check_consumers(struct consumer *consumers, int consumer_count)
{
    long received = 0;
    long missing = 0;
    long duplicated = 0;
    int i;
    long m;

    for (i = 0; i < consumer_count; i++) {
        pthread_join(consumers[i].thread, NULL);
        CHECK_STATUS(consumers[i].end_status, QL_ERR_CLOSED);
        CHECK(consumers[i].order_errors == 0);
        CHECK(consumers[i].malformed == 0);
        received += consumers[i].received;
    }
    for (m = 0; m < TOTAL_MESSAGES; m++) {
        int copies = 0;
        for (i = 0; i < consumer_count; i++) {
            copies += consumers[i].seen[m];
        }
        if (copies == 0) {
            missing++;
        } else if (copies > 1) {
            duplicated++;
        }
    }
    CHECK(received == TOTAL_MESSAGES);
    CHECK(missing == 0);
    CHECK(duplicated == 0);
    for (i = 0; i < consumer_count; i++) {
        free(consumers[i].seen);
    }
}

static void test_many_threads_on_a_queue(void)
{
    struct producer producers[PRODUCERS];
    struct consumer consumers[CONSUMERS];
    ql_queue *q = NULL;
    int started_producers = 0;
    int started_consumers;
    int i;

    current_test = "many threads on a queue";

    /* A small bound makes producers block often. */
    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 64, &q))) {
        return;
    }
    started_consumers = start_consumers(consumers, CONSUMERS, q);
    for (i = 0; i < PRODUCERS; i++) {
        producers[i].q = q;
        producers[i].id = (uint32_t)i;
        if (!CHECK(pthread_create(&producers[i].thread, NULL, run_producer,
                                  &producers[i]) == 0)) {
            break;
        }
        started_producers++;
    }
    for (i = 0; i < started_producers; i++) {
        pthread_join(producers[i].thread, NULL);
        CHECK_OK(producers[i].status);
    }

    /* Consumers drain case_name is left, then get QL_ERR_CLOSED. */
    CHECK_OK(ql_queue_close(q));
    check_consumers(consumers, started_consumers);
    CHECK_OK(ql_queue_free(q));
}

static void test_many_threads_through_a_link(void)
{
    struct producer producers[PRODUCERS];
    struct consumer consumers[3];
    ql_link *link = NULL;
    ql_queue *sources[2] = {NULL, NULL};
    ql_queue *dest = NULL;
    int64_t source_ids[2] = {-1, -1};
    int64_t dest_id = -1;
    size_t count = 0;
    ql_source_metrics metrics[2];
    int started_producers = 0;
    int started_consumers;
    int i;

    current_test = "many threads through a link";

    if (!CHECK_OK(ql_link_new("threads", &link)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 256, &sources[0])) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 256, &sources[1])) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 128, &dest))) {
        return;
    }
    CHECK_OK(ql_link_register(link, sources[0], QL_SOURCE, &source_ids[0]));
    CHECK_OK(ql_link_register(link, sources[1], QL_SOURCE, &source_ids[1]));
    CHECK_OK(ql_link_register(link, dest, QL_DESTINATION, &dest_id));

    /* Two producers per source, three consumers on the destination. */
    started_consumers = start_consumers(consumers, 3, dest);
    for (i = 0; i < PRODUCERS; i++) {
        producers[i].q = sources[i % 2];
        producers[i].id = (uint32_t)i;
        if (!CHECK(pthread_create(&producers[i].thread, NULL, run_producer,
                                  &producers[i]) == 0)) {
            break;
        }
        started_producers++;
    }
    for (i = 0; i < started_producers; i++) {
        pthread_join(producers[i].thread, NULL);
        CHECK_OK(producers[i].status);
    }

    /* Drained: every source and the destination are empty and no
     * publisher holds a message, so the consumers have taken everything. */
    CHECK(wait_link_drained(link, 5 * LONG_TIMEOUT_US));
    CHECK_OK(ql_queue_close(dest));
    check_consumers(consumers, started_consumers);

    CHECK_OK(ql_link_metrics(link, metrics, 2, &count));
    if (CHECK(count == 2)) {
        CHECK(metrics[0].id == source_ids[0]);
        CHECK(metrics[0].count == TOTAL_MESSAGES / 2);
        CHECK(metrics[1].id == source_ids[1]);
        CHECK(metrics[1].count == TOTAL_MESSAGES / 2);
    }

    CHECK_OK(ql_link_free(link));
    CHECK_OK(ql_queue_free(sources[0]));
    CHECK_OK(ql_queue_free(sources[1]));
    CHECK_OK(ql_queue_free(dest));
}

/* ------------------------------------------------------------------------ */

/* Reads log records from log_q until one starts with prefix, for at most
 * LONG_TIMEOUT_US. Returns 1 when one does. */
static int find_log_record(ql_queue *log_q, const char *prefix)
{
    int64_t deadline = now_us() + LONG_TIMEOUT_US;
    size_t prefix_len = strlen(prefix);

    while (now_us() < deadline) {
        ql_msg msg;
        int found;

        memset(&msg, 0, sizeof msg);
        if (ql_queue_get(log_q, SHORT_TIMEOUT_US, NULL, 0, &msg) != QL_OK) {
            continue;
        }
        found = msg.kind == QL_KIND_TEXT && msg.len >= prefix_len &&
                memcmp(msg.data, prefix, prefix_len) == 0;
        ql_msg_free(&msg);
        if (found) {
            return 1;
        }
    }
    return 0;
}

static void test_log_attach(void)
{
    ql_queue *log_q = NULL;
    ql_queue *src = NULL;
    ql_queue *dst = NULL;
    ql_link *link = NULL;
    int64_t id = 0;

    current_test = "log attach";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &log_q)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &src)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &dst))) {
        return;
    }
    CHECK_STATUS(ql_log_attach(log_q, 5), QL_ERR_INVALID);
    CHECK_STATUS(ql_log_attach(log_q, 50), QL_ERR_INVALID);
    CHECK_STATUS(ql_log_attach((ql_queue *)(void *)&sentinel_object,
                               QL_LOG_DEBUG), QL_ERR_HANDLE);

    /* A link's publisher logs its start at debug level. */
    CHECK_OK(ql_log_attach(log_q, QL_LOG_DEBUG));
    if (CHECK_OK(ql_link_new("logged", &link))) {
        CHECK_OK(ql_link_register(link, src, QL_SOURCE, &id));
        CHECK_OK(ql_link_register(link, dst, QL_DESTINATION, &id));
        CHECK(find_log_record(log_q, "10\tqueuelink.link\tpublisher started"));

        /* Closing the source ends the publisher with an info record. */
        CHECK_OK(ql_queue_close(src));
        CHECK(find_log_record(log_q, "20\tqueuelink.link\tsource closed"));
        CHECK_OK(ql_link_free(link));
    }

    /* Detached, the engine logs nothing more to the queue. */
    CHECK_OK(ql_log_attach(NULL, QL_LOG_DEBUG));
    while (queue_len(log_q) > 0) {
        ql_msg msg;
        memset(&msg, 0, sizeof msg);
        CHECK_OK(ql_queue_get(log_q, 0, NULL, 0, &msg));
        ql_msg_free(&msg);
    }
    if (CHECK_OK(ql_link_new("quiet", &link))) {
        ql_queue *src2 = NULL;
        if (CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &src2))) {
            CHECK_OK(ql_link_register(link, src2, QL_SOURCE, &id));
            CHECK_OK(ql_link_register(link, dst, QL_DESTINATION, &id));
            CHECK_OK(ql_link_free(link));
            CHECK_OK(ql_queue_free(src2));
        }
    }
    CHECK(queue_len(log_q) == 0);

    CHECK_OK(ql_queue_free(log_q));
    CHECK_OK(ql_queue_free(src));
    CHECK_OK(ql_queue_free(dst));
}

/* Writes len bytes to fd, retrying short writes. Returns 0 on success. */
static int write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Stores a Connection frame header for a payload of len bytes in out and
 * returns its size: 4 bytes, or 12 for the long form. */
static size_t frame_header(uint64_t len, int long_form, unsigned char *out)
{
    int i;

    if (!long_form) {
        for (i = 0; i < 4; i++) {
            out[i] = (unsigned char)(len >> (8 * (3 - i)));
        }
        return 4;
    }
    memset(out, 0xff, 4);
    for (i = 0; i < 8; i++) {
        out[4 + i] = (unsigned char)(len >> (8 * (7 - i)));
    }
    return 12;
}

static int file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static void test_reader_options(void)
{
    ql_reader_options opts;
    ql_queue *q = NULL;
    ql_reader *reader = SENTINEL(ql_reader);
    const char *input = temp_path("options-input.txt");
    const char *text = "short\nthis line is longer than the threshold\n";
    char spill_path[256];
    ql_msg msg;

    current_test = "reader options";

    CHECK_STATUS(ql_reader_options_init(NULL), QL_ERR_INVALID);
    memset(&opts, 0x55, sizeof opts);
    CHECK_OK(ql_reader_options_init(&opts));
    CHECK(opts.kind == QL_KIND_TEXT);
    CHECK(opts.framing == QL_FRAME_LINES);
    CHECK(opts.wrap == QL_WRAP_NEVER);
    CHECK(opts.wrap_threshold == 0);
    CHECK(opts.partial_line_us == 0);
    CHECK(opts.spill_dir == NULL);
    CHECK(opts.name == NULL);

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q)) ||
        !CHECK(write_file(input, text, strlen(text)) == 0)) {
        return;
    }

    /* Each field outside its documented values is rejected. */
    {
        struct {
            const char *name;
            int32_t kind, framing, wrap;
            int64_t threshold, partial;
        } bad[] = {
            {"unknown kind", 9, QL_FRAME_LINES, QL_WRAP_NEVER, 0, 0},
            {"pickle lines", QL_KIND_PICKLE, QL_FRAME_LINES, QL_WRAP_NEVER, 0, 0},
            {"text frames", QL_KIND_TEXT, QL_FRAME_CONNECTION, QL_WRAP_NEVER, 0, 0},
            {"unknown framing", QL_KIND_TEXT, 7, QL_WRAP_NEVER, 0, 0},
            {"unknown wrap", QL_KIND_TEXT, QL_FRAME_LINES, 5, 0, 0},
            {"negative threshold", QL_KIND_TEXT, QL_FRAME_LINES, QL_WRAP_AUTO, -1, 0},
            {"negative partial", QL_KIND_TEXT, QL_FRAME_LINES, QL_WRAP_NEVER, 0, -1},
        };
        size_t i;

        for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            ql_reader_options_init(&opts);
            opts.kind = bad[i].kind;
            opts.framing = bad[i].framing;
            opts.wrap = bad[i].wrap;
            opts.wrap_threshold = bad[i].threshold;
            opts.partial_line_us = bad[i].partial;
            if (!CHECK_STATUS(ql_reader_open_path(q, input, &opts, &reader),
                              QL_ERR_INVALID)) {
                fprintf(stderr, "  case: %s\n", bad[i].name);
            }
        }
    }
    CHECK(reader == SENTINEL(ql_reader));
    CHECK_STATUS(ql_reader_open_path(q, NULL, NULL, &reader), QL_ERR_INVALID);
    CHECK_STATUS(ql_reader_open_path(q, input, NULL, NULL), QL_ERR_INVALID);
    CHECK_STATUS(ql_reader_open_fd(q, -1, NULL, &reader), QL_ERR_INVALID);
    CHECK_STATUS(ql_reader_open_fd(NULL, 0, NULL, &reader), QL_ERR_HANDLE);

    /* NULL options are the defaults: text lines. */
    if (CHECK_OK(ql_reader_open_path(q, input, NULL, &reader))) {
        CHECK_OK(ql_reader_wait(reader, LONG_TIMEOUT_US));
        CHECK_OK(ql_reader_free(reader));
        CHECK_GET_TEXT(q, 0, "short\n");
        CHECK_GET_TEXT(q, 0, "this line is longer than the threshold\n");
    }

    /* Auto wrapping spills the long line into a file in spill_dir. */
    ql_reader_options_init(&opts);
    opts.wrap = QL_WRAP_AUTO;
    opts.wrap_threshold = 10;
    opts.spill_dir = temp_dir;
    opts.name = "options test";
    if (CHECK_OK(ql_reader_open_path(q, input, &opts, &reader))) {
        CHECK_OK(ql_reader_wait(reader, LONG_TIMEOUT_US));
        CHECK_OK(ql_reader_free(reader));

        memset(&msg, 0, sizeof msg);
        if (CHECK_OK(ql_queue_get(q, 0, NULL, 0, &msg))) {
            CHECK(msg.flags == 0);
            CHECK(msg.len == 6);
            CHECK(memcmp(msg.data, "short\n", 6) == 0);
            ql_msg_free(&msg);
        }
        if (CHECK_OK(ql_queue_get(q, 0, NULL, 0, &msg))) {
            const char *line = "this line is longer than the threshold\n";
            CHECK(msg.flags == (QL_MSG_WRAPPED | QL_MSG_SPILLED));
            CHECK(msg.len < sizeof spill_path);
            snprintf(spill_path, sizeof spill_path, "%.*s", (int)msg.len,
                     (const char *)msg.data);
            CHECK(strncmp(spill_path, temp_dir, strlen(temp_dir)) == 0);
            CHECK_FILE_CONTENT(spill_path, line, strlen(line));
            /* ql_msg_free removes the spill file the message owns. */
            ql_msg_free(&msg);
            CHECK(!file_exists(spill_path));
            CHECK(msg.data == NULL);
            CHECK(msg.flags == 0);
        }
    }

    /* Clearing QL_MSG_SPILLED before ql_msg_free keeps the file. */
    ql_reader_options_init(&opts);
    opts.kind = QL_KIND_BYTES;
    opts.wrap = QL_WRAP_ALWAYS;
    opts.wrap_threshold = 1;
    opts.spill_dir = temp_dir;
    if (CHECK_OK(ql_reader_open_path(q, input, &opts, &reader))) {
        CHECK_OK(ql_reader_wait(reader, LONG_TIMEOUT_US));
        CHECK_OK(ql_reader_free(reader));
        while (queue_len(q) > 0) {
            memset(&msg, 0, sizeof msg);
            if (!CHECK_OK(ql_queue_get(q, 0, NULL, 0, &msg))) {
                break;
            }
            CHECK(msg.kind == QL_KIND_BYTES);
            CHECK(msg.flags == (QL_MSG_WRAPPED | QL_MSG_SPILLED));
            snprintf(spill_path, sizeof spill_path, "%.*s", (int)msg.len,
                     (const char *)msg.data);
            msg.flags &= ~(uint32_t)QL_MSG_SPILLED;
            ql_msg_free(&msg);
            CHECK(file_exists(spill_path));
            unlink(spill_path);
        }
    }

    CHECK_OK(ql_queue_free(q));
}

static void test_reader_connection_frames(void)
{
    ql_reader_options opts;
    ql_queue *q = NULL;
    ql_reader *reader = NULL;
    int fds[2] = {-1, -1};
    unsigned char header[12];
    size_t n;
    static unsigned char big[100000];
    ql_msg msg;

    current_test = "reader connection frames";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        return;
    }
    memset(big, 'b', sizeof big);
    ql_reader_options_init(&opts);
    opts.framing = QL_FRAME_CONNECTION;
    opts.kind = QL_KIND_BYTES;

    /* Short frames, an empty frame, a long frame in the long form. */
    if (CHECK(pipe2(fds, O_CLOEXEC) == 0) &&
        CHECK_OK(ql_reader_open_fd(q, fds[0], &opts, &reader))) {
        n = frame_header(5, 0, header);
        CHECK(write(fds[1], header, n) == (ssize_t)n);
        CHECK(write(fds[1], "a\0b\nc", 5) == 5);
        n = frame_header(0, 0, header);
        CHECK(write(fds[1], header, n) == (ssize_t)n);
        n = frame_header(sizeof big, 1, header);
        CHECK(write(fds[1], header, n) == (ssize_t)n);
        CHECK(write_all(fds[1], big, sizeof big) == 0);
        close(fds[1]);
        fds[1] = -1;

        CHECK_OK(ql_reader_wait(reader, LONG_TIMEOUT_US));
        memset(&msg, 0, sizeof msg);
        if (CHECK_OK(ql_queue_get(q, 0, NULL, 0, &msg))) {
            CHECK(msg.kind == QL_KIND_BYTES);
            CHECK(msg.len == 5);
            CHECK(memcmp(msg.data, "a\0b\nc", 5) == 0);
            ql_msg_free(&msg);
        }
        if (CHECK_OK(ql_queue_get(q, 0, NULL, 0, &msg))) {
            CHECK(msg.len == 0);
            ql_msg_free(&msg);
        }
        if (CHECK_OK(ql_queue_get(q, 0, NULL, 0, &msg))) {
            CHECK(msg.len == sizeof big);
            CHECK(memcmp(msg.data, big, sizeof big) == 0);
            ql_msg_free(&msg);
        }
        CHECK_OK(ql_reader_free(reader));
        close(fds[0]);
    }

    /* A stream that ends inside a frame ends the reader with QL_ERR_IO. */
    if (CHECK(pipe2(fds, O_CLOEXEC) == 0) &&
        CHECK_OK(ql_reader_open_fd(q, fds[0], &opts, &reader))) {
        n = frame_header(10, 0, header);
        CHECK(write(fds[1], header, n) == (ssize_t)n);
        CHECK(write(fds[1], "abc", 3) == 3);
        close(fds[1]);
        CHECK_STATUS(ql_reader_wait(reader, LONG_TIMEOUT_US), QL_ERR_IO);
        CHECK(strstr(ql_errmsg(), "frame") != NULL);
        CHECK_OK(ql_reader_free(reader));
        close(fds[0]);
    }
    CHECK(queue_len(q) == 0);
    CHECK_OK(ql_queue_free(q));
}

static void test_reader_partial_line(void)
{
    ql_reader_options opts;
    ql_queue *q = NULL;
    ql_reader *reader = NULL;
    int fds[2] = {-1, -1};

    current_test = "reader partial line";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q))) {
        return;
    }
    ql_reader_options_init(&opts);
    opts.partial_line_us = 50 * 1000;
    if (CHECK(pipe2(fds, O_CLOEXEC) == 0) &&
        CHECK_OK(ql_reader_open_fd(q, fds[0], &opts, &reader))) {
        /* A prompt arrives while the writer keeps the pipe open. */
        CHECK(write(fds[1], "name? ", 6) == 6);
        CHECK_GET_TEXT(q, LONG_TIMEOUT_US, "name? ");
        CHECK(write(fds[1], "ok\nmore", 7) == 7);
        CHECK_GET_TEXT(q, LONG_TIMEOUT_US, "ok\n");
        CHECK_GET_TEXT(q, LONG_TIMEOUT_US, "more");
        close(fds[1]);
        CHECK_OK(ql_reader_wait(reader, LONG_TIMEOUT_US));
        CHECK_OK(ql_reader_free(reader));
        close(fds[0]);
    }
    CHECK(queue_len(q) == 0);
    CHECK_OK(ql_queue_free(q));
}

static void test_put_msg(void)
{
    ql_queue *q = NULL;
    ql_msg in;
    ql_msg out;
    const char *spilled = temp_path("put-msg-spill");
    const char *content = "spilled content\n";

    current_test = "put msg";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_PRIORITY, 0, &q))) {
        return;
    }
    memset(&in, 0, sizeof in);
    CHECK_STATUS(ql_queue_put_msg(q, NULL, 0), QL_ERR_INVALID);
    in.kind = QL_KIND_TEXT;
    in.flags = 8;
    CHECK_STATUS(ql_queue_put_msg(q, &in, 0), QL_ERR_INVALID);
    in.flags = QL_MSG_SPILLED;
    CHECK_STATUS(ql_queue_put_msg(q, &in, 0), QL_ERR_INVALID);
    in.flags = 0;
    in.kind = 0;
    CHECK_STATUS(ql_queue_put_msg(q, &in, 0), QL_ERR_INVALID);
    CHECK_STATUS(ql_queue_put_msg(NULL, &in, 0), QL_ERR_HANDLE);

    /* Flags and priority travel with the message. */
    in.kind = QL_KIND_TEXT;
    in.flags = QL_MSG_WRAPPED;
    in.priority = 7;
    in.data = (void *)"wrapped";
    in.len = 7;
    CHECK_OK(ql_queue_put_msg(q, &in, 0));

    /* A spilled message hands its file to the queue. */
    if (CHECK(write_file(spilled, content, strlen(content)) == 0)) {
        in.kind = QL_KIND_BYTES;
        in.flags = QL_MSG_WRAPPED | QL_MSG_SPILLED;
        in.priority = 3;
        in.data = (void *)spilled;
        in.len = strlen(spilled);
        CHECK_OK(ql_queue_put_msg(q, &in, 0));

        memset(&out, 0, sizeof out);
        if (CHECK_OK(ql_queue_get(q, 0, NULL, 0, &out))) {
            CHECK(out.priority == 3);
            CHECK(out.kind == QL_KIND_BYTES);
            CHECK(out.flags == (QL_MSG_WRAPPED | QL_MSG_SPILLED));
            CHECK(out.len == strlen(spilled) &&
                  memcmp(out.data, spilled, out.len) == 0);
            ql_msg_free(&out);
            CHECK(!file_exists(spilled));
        }
    }
    memset(&out, 0, sizeof out);
    if (CHECK_OK(ql_queue_get(q, 0, NULL, 0, &out))) {
        CHECK(out.priority == 7);
        CHECK(out.flags == QL_MSG_WRAPPED);
        CHECK(out.len == 7);
        CHECK(memcmp(out.data, "wrapped", 7) == 0);
        ql_msg_free(&out);
    }

    /* A put that fails leaves the spill file with the caller. */
    if (CHECK(write_file(spilled, content, strlen(content)) == 0)) {
        CHECK_OK(ql_queue_close(q));
        in.data = (void *)spilled;
        in.len = strlen(spilled);
        CHECK_STATUS(ql_queue_put_msg(q, &in, 0), QL_ERR_CLOSED);
        CHECK(file_exists(spilled));
    }
    CHECK_OK(ql_queue_free(q));
}

static void test_batches(void)
{
    ql_queue *q = NULL;
    ql_queue *bounded = NULL;
    ql_msg in[5];
    ql_msg out[8];
    char payloads[5][16];
    char arena[32];
    size_t done = 99;
    size_t count = 99;
    size_t i;

    current_test = "batches";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 2, &bounded))) {
        return;
    }
    memset(in, 0, sizeof in);
    for (i = 0; i < 5; i++) {
        snprintf(payloads[i], sizeof payloads[i], "message %zu", i);
        in[i].kind = QL_KIND_TEXT;
        in[i].data = payloads[i];
        in[i].len = strlen(payloads[i]);
    }

    /* Argument errors. */
    CHECK_STATUS(ql_queue_put_batch(q, in, 5, 0, NULL), QL_ERR_INVALID);
    CHECK_STATUS(ql_queue_put_batch(q, NULL, 2, 0, &done), QL_ERR_INVALID);
    CHECK_STATUS(ql_queue_put_batch(NULL, in, 5, 0, &done), QL_ERR_HANDLE);
    CHECK_STATUS(ql_queue_get_batch(q, 0, out, 8, NULL, 0, NULL), QL_ERR_INVALID);
    CHECK_STATUS(ql_queue_get_batch(q, 0, NULL, 8, NULL, 0, &count), QL_ERR_INVALID);
    CHECK_OK(ql_queue_put_batch(q, NULL, 0, 0, &done));
    CHECK(done == 0);

    /* An invalid message anywhere rejects the whole batch. */
    in[3].kind = 42;
    CHECK_STATUS(ql_queue_put_batch(q, in, 5, 0, &done), QL_ERR_INVALID);
    CHECK(strstr(ql_errmsg(), "message 3") != NULL);
    CHECK(done == 0);
    CHECK(queue_len(q) == 0);
    in[3].kind = QL_KIND_BYTES;

    /* A batch goes in whole and comes out in order, packed in the arena
     * while it fits: three payloads of 9 bytes fit in 32, the others not. */
    CHECK_OK(ql_queue_put_batch(q, in, 5, 0, &done));
    CHECK(done == 5);
    CHECK_OK(ql_queue_get_batch(q, 0, out, 8, arena, sizeof arena, &count));
    CHECK(count == 5);
    for (i = 0; i < count && i < 5; i++) {
        CHECK(out[i].len == strlen(payloads[i]));
        CHECK(memcmp(out[i].data, payloads[i], out[i].len) == 0);
        CHECK(out[i].kind == (i == 3 ? QL_KIND_BYTES : QL_KIND_TEXT));
        CHECK(out[i].owned == (i < 3 ? 0 : 1));
        ql_msg_free(&out[i]);
    }
    CHECK_STATUS(ql_queue_get_batch(q, 0, out, 8, NULL, 0, &count), QL_ERR_EMPTY);

    /* cap limits how many are taken. */
    CHECK_OK(ql_queue_put_batch(q, in, 5, 0, &done));
    CHECK_OK(ql_queue_get_batch(q, 0, out, 2, NULL, 0, &count));
    CHECK(count == 2);
    for (i = 0; i < count; i++) {
        CHECK(out[i].owned == 1);
        ql_msg_free(&out[i]);
    }
    CHECK(queue_len(q) == 3);

    /* A bounded queue takes what fits and reports it on QL_ERR_FULL. */
    CHECK_STATUS(ql_queue_put_batch(bounded, in, 5, SHORT_TIMEOUT_US, &done),
                 QL_ERR_FULL);
    CHECK(done == 2);
    CHECK(queue_len(bounded) == 2);
    CHECK_OK(ql_queue_close(bounded));
    CHECK_STATUS(ql_queue_put_batch(bounded, in, 5, 0, &done), QL_ERR_CLOSED);
    CHECK(done == 0);
    CHECK_OK(ql_queue_get_batch(bounded, 0, out, 8, NULL, 0, &count));
    CHECK(count == 2);
    for (i = 0; i < count; i++) {
        ql_msg_free(&out[i]);
    }
    CHECK_STATUS(ql_queue_get_batch(bounded, 0, out, 8, NULL, 0, &count),
                 QL_ERR_CLOSED);

    CHECK_OK(ql_queue_free(q));
    CHECK_OK(ql_queue_free(bounded));
}

/* Packed batches: payloads back to back in one buffer, with their lengths
 * and kinds in arrays. */
static void test_packed_batches(void)
{
    ql_queue *q = NULL;
    ql_queue *bounded = NULL;
    const char data[] = "onetwothreefour";
    uint64_t lens[4] = {3, 3, 5, 4};
    uint64_t got_lens[8];
    uint32_t kinds[8];
    char buf[16];
    ql_msg msg;
    size_t done = 99;
    size_t count = 99;

    current_test = "packed batches";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q)) ||
        !CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 2, &bounded))) {
        return;
    }

    /* Argument errors put nothing. */
    CHECK_STATUS(ql_queue_put_packed(q, QL_KIND_TEXT, data, lens, 4, 0, NULL),
                 QL_ERR_INVALID);
    CHECK_STATUS(ql_queue_put_packed(q, 42, data, lens, 4, 0, &done),
                 QL_ERR_INVALID);
    CHECK(strstr(ql_errmsg(), "42") != NULL);
    CHECK_STATUS(ql_queue_put_packed(q, QL_KIND_TEXT, data, NULL, 4, 0, &done),
                 QL_ERR_INVALID);
    CHECK_STATUS(ql_queue_put_packed(q, QL_KIND_TEXT, NULL, lens, 4, 0, &done),
                 QL_ERR_INVALID);
    CHECK_STATUS(ql_queue_put_packed(NULL, QL_KIND_TEXT, data, lens, 4, 0, &done),
                 QL_ERR_HANDLE);
    CHECK(queue_len(q) == 0);
    CHECK_OK(ql_queue_put_packed(q, QL_KIND_TEXT, NULL, NULL, 0, 0, &done));
    CHECK(done == 0);
    CHECK_STATUS(ql_queue_get_packed(q, 0, buf, sizeof buf, got_lens, kinds, 8, NULL),
                 QL_ERR_INVALID);
    CHECK_STATUS(ql_queue_get_packed(q, 0, buf, sizeof buf, NULL, kinds, 8, &count),
                 QL_ERR_INVALID);
    CHECK_STATUS(ql_queue_get_packed(q, 0, buf, sizeof buf, got_lens, NULL, 8, &count),
                 QL_ERR_INVALID);
    CHECK_STATUS(ql_queue_get_packed(q, 0, NULL, 8, got_lens, kinds, 8, &count),
                 QL_ERR_INVALID);
    CHECK_STATUS(ql_queue_get_packed(q, 0, buf, sizeof buf, got_lens, kinds, 8, &count),
                 QL_ERR_EMPTY);

    /* Four messages go in with one call. The first three (11 bytes) fit in
     * a buffer of 12, so the fourth waits for the next call. */
    CHECK_OK(ql_queue_put_packed(q, QL_KIND_TEXT, data, lens, 4, 0, &done));
    CHECK(done == 4);
    CHECK(queue_len(q) == 4);
    CHECK_OK(ql_queue_get_packed(q, 0, buf, 12, got_lens, kinds, 8, &count));
    CHECK(count == 3);
    CHECK(got_lens[0] == 3);
    CHECK(got_lens[1] == 3);
    CHECK(got_lens[2] == 5);
    CHECK(memcmp(buf, "onetwothree", 11) == 0);
    CHECK(QL_PACKED_KIND(kinds[0]) == QL_KIND_TEXT);
    CHECK(QL_PACKED_FLAGS(kinds[2]) == 0);

    /* A message larger than the whole buffer stays first in the queue, and
     * lens[0] gives its length. */
    CHECK_STATUS(ql_queue_get_packed(q, 0, buf, 3, got_lens, kinds, 8, &count),
                 QL_ERR_SPACE);
    CHECK(count == 0);
    CHECK(got_lens[0] == 4);
    CHECK(strstr(ql_errmsg(), "4 bytes") != NULL);
    CHECK(queue_len(q) == 1);
    CHECK_GET_TEXT(q, 0, "four");

    /* cap limits how many are taken; zero-length payloads need no space. */
    lens[0] = 0;
    lens[1] = 0;
    CHECK_OK(ql_queue_put_packed(q, QL_KIND_BYTES, data, lens, 2, 0, &done));
    CHECK_OK(ql_queue_get_packed(q, 0, NULL, 0, got_lens, kinds, 1, &count));
    CHECK(count == 1);
    CHECK(got_lens[0] == 0);
    CHECK(QL_PACKED_KIND(kinds[0]) == QL_KIND_BYTES);
    CHECK_OK(ql_queue_get_packed(q, 0, buf, sizeof buf, got_lens, kinds, 0, &count));
    CHECK(count == 0);
    CHECK(queue_len(q) == 1);

    /* Flags come back above the kind. */
    memset(&msg, 0, sizeof msg);
    msg.kind = QL_KIND_TEXT;
    msg.flags = QL_MSG_WRAPPED;
    msg.data = "wrapped";
    msg.len = 7;
    CHECK_OK(ql_queue_put_msg(q, &msg, 0));
    CHECK_OK(ql_queue_get_packed(q, 0, buf, sizeof buf, got_lens, kinds, 8, &count));
    CHECK(count == 2);
    CHECK(QL_PACKED_KIND(kinds[1]) == QL_KIND_TEXT);
    CHECK(QL_PACKED_FLAGS(kinds[1]) == QL_MSG_WRAPPED);
    CHECK(memcmp(buf, "wrapped", 7) == 0);

    /* A bounded queue takes what fits and reports it on QL_ERR_FULL. */
    lens[0] = 3;
    lens[1] = 3;
    CHECK_STATUS(ql_queue_put_packed(bounded, QL_KIND_TEXT, data, lens, 4,
                                     SHORT_TIMEOUT_US, &done),
                 QL_ERR_FULL);
    CHECK(done == 2);
    CHECK_OK(ql_queue_close(bounded));
    CHECK_STATUS(ql_queue_put_packed(bounded, QL_KIND_TEXT, data, lens, 4, 0, &done),
                 QL_ERR_CLOSED);
    CHECK(done == 0);
    CHECK_OK(ql_queue_get_packed(bounded, 0, buf, sizeof buf, got_lens, kinds, 8, &count));
    CHECK(count == 2);
    CHECK(memcmp(buf, "onetwo", 6) == 0);
    CHECK_STATUS(ql_queue_get_packed(bounded, 0, buf, sizeof buf, got_lens, kinds, 8, &count),
                 QL_ERR_CLOSED);

    CHECK_OK(ql_queue_free(q));
    CHECK_OK(ql_queue_free(bounded));
}

/* A writer whose pipe's reader has gone ends with QL_ERR_IO, and the
 * process lives on although this program never ignores SIGPIPE: the
 * engine writes on Go threads, where the Go runtime's handler, installed
 * when the library loads, turns the signal into EPIPE. */
static void test_writer_broken_pipe(void)
{
    ql_queue *q = NULL;
    ql_writer *writer = NULL;
    int fds[2] = {-1, -1};

    current_test = "writer broken pipe";

    if (!CHECK_OK(ql_queue_new(QL_ORDER_FIFO, 0, &q)) ||
        !CHECK(pipe2(fds, O_CLOEXEC) == 0)) {
        return;
    }
    if (CHECK_OK(ql_writer_new_fd(q, fds[1], &writer))) {
        close(fds[0]);
        CHECK_OK(ql_queue_put(q, QL_KIND_TEXT, "lost\n", 5, 0));
        CHECK_STATUS(ql_writer_wait(writer, LONG_TIMEOUT_US), QL_ERR_IO);
        CHECK(strstr(ql_errmsg(), "broken pipe") != NULL);
        CHECK_OK(ql_writer_free(writer));
    }
    close(fds[1]);
    CHECK_OK(ql_queue_free(q));
}

int main(void)
{
    struct sigaction action;

    memset(&action, 0, sizeof action);
    action.sa_handler = on_watchdog;
    sigaction(SIGALRM, &action, NULL);
    alarm(WATCHDOG_SECONDS);

    snprintf(temp_dir, sizeof temp_dir, "/tmp/queuelink-test-XXXXXX");
    if (mkdtemp(temp_dir) == NULL) {
        fprintf(stderr, "cannot create a temporary directory: %s\n",
                strerror(errno));
        temp_dir[0] = '\0';
        return 2;
    }

    test_version_and_strings();
    test_errmsg();
    test_handles();
    test_queue_invalid_arguments();
    test_queue_order();
    test_queue_payloads();
    test_queue_state_and_close();
    test_queue_timeouts();
    test_task_done_and_join();
    test_blocked_calls_wake();
    test_link_errors();
    test_link_queue_reference();
    test_link_fan_out();
    test_link_fan_in();
    test_link_stop_and_restart();
    test_reader_errors();
    test_reader_subprocess_pipe();
    test_reader_path();
    test_reader_stop_and_read_error();
    test_reader_stop_on_socket();
    test_reader_named_fifo();
    test_writer_errors();
    test_writer_fd();
    test_writer_path();
    test_writer_write_error();
    test_many_threads_on_a_queue();
    test_many_threads_through_a_link();
    test_log_attach();
    test_reader_options();
    test_reader_connection_frames();
    test_reader_partial_line();
    test_put_msg();
    test_batches();
    test_packed_batches();
    test_writer_broken_pipe();

    remove_temp_files();

    /* Flush now, because a leak checker that runs at exit may end the
     * process with _exit() before stdio flushes. */
    printf("%d passed, %d failed\n", passed_count, failed_count);
    fflush(stdout);
    return failed_count > 0 ? 1 : 0;
}

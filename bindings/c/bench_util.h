/*
 * bench_util.h: timing, statistics, option parsing and output shared by
 * bench.c (libqueuelink) and bench_zmq.c (the libzmq baseline), so that
 * both measure and print in the same way.
 *
 * Both programs take the same command line:
 *
 *     PROGRAM [-r RUNS] [-n MESSAGES] [CASE [PAYLOAD_BYTES]]
 *
 * and print one tab-separated row per figure:
 *
 *     case <TAB> payload bytes <TAB> unit <TAB> median <TAB> run,run,...
 *
 * Lines that start with '#' are comments for a person reading the output.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Payload sizes that every case runs with unless one is given. */
static const size_t bench_payload_sizes[] = {40, 4096};
#define BENCH_PAYLOAD_COUNT 2

#define BENCH_DEFAULT_RUNS 3
#define BENCH_MAX_RUNS 15
/* Every payload starts with an 8-byte sequence number, so none is
 * smaller. */
#define BENCH_MIN_PAYLOAD 8
#define BENCH_MAX_PAYLOAD (1024 * 1024)

/* Bound of every queue and of every zmq socket's high-water mark, so that
 * a producer cannot run ahead of its consumer by more than this many
 * messages in either library. */
#define BENCH_QUEUE_BOUND 10000

/* Round trips of the latency cases that are not measured, so that
 * threads, caches and allocators are warm. */
#define BENCH_WARMUP_ROUND_TRIPS 1000

/* A figure of a case: its name suffix ("" for none) and unit. */
struct bench_figure {
    const char *suffix;
    const char *unit;
};

#define BENCH_MAX_FIGURES 2

/* A measured case. run() performs one run over messages messages of
 * payload bytes and stores one value per figure in values[]. It returns 0,
 * or -1 after printing why it failed to stderr. Without -n, a run moves
 * default_messages messages, or default_bytes / payload messages when
 * default_bytes is nonzero. */
struct bench_case {
    const char *name;
    const char *description;
    uint64_t default_messages;
    uint64_t default_bytes;
    int figure_count;
    struct bench_figure figures[BENCH_MAX_FIGURES];
    int (*run)(size_t payload, uint64_t messages, double *values);
};

struct bench_options {
    int runs;
    uint64_t messages; /* 0: each case's default */
    const char *case_name; /* NULL: every case */
    size_t payload; /* 0: every size in bench_payload_sizes */
};

static inline int64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Returns count per second over elapsed_ns. */
static inline double bench_rate(uint64_t count, int64_t elapsed_ns)
{
    return (double)count * 1e9 / (double)(elapsed_ns > 0 ? elapsed_ns : 1);
}

static inline int bench_compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Sorts values[0..count) in place and returns the value at quantile q
 * (0 <= q <= 1), by the nearest-rank method. */
static inline double bench_quantile(double *values, size_t count, double q)
{
    size_t rank;

    qsort(values, count, sizeof values[0], bench_compare_doubles);
    rank = (size_t)(q * (double)count + 0.999999);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > count) {
        rank = count;
    }
    return values[rank - 1];
}

/* Writes seq into the first 8 bytes of payload. */
static inline void bench_stamp(unsigned char *payload, uint64_t seq)
{
    memcpy(payload, &seq, sizeof seq);
}

/* Returns the sequence number in the first 8 bytes of data. */
static inline uint64_t bench_seq(const void *data)
{
    uint64_t seq;

    memcpy(&seq, data, sizeof seq);
    return seq;
}

/* Parses a positive decimal integer no larger than max into *out, and
 * returns 0, or -1 after printing why it is invalid. */
static inline int bench_parse_count(const char *program, const char *what,
                                    const char *text, uint64_t max,
                                    uint64_t *out)
{
    char *end = NULL;
    unsigned long long value;

    errno = 0;
    value = strtoull(text, &end, 10);
    if (*text == '\0' || *text == '-' || *end != '\0' || errno != 0 ||
        value == 0 || value > max) {
        fprintf(stderr, "%s: invalid %s \"%s\": expected an integer from 1 "
                "to %" PRIu64 "\n", program, what, text, max);
        return -1;
    }
    *out = value;
    return 0;
}

static inline void bench_usage(FILE *out, const char *program,
                               const struct bench_case *cases, int count)
{
    int i;

    fprintf(out,
            "usage: %s [-r RUNS] [-n MESSAGES] [CASE [PAYLOAD_BYTES]]\n"
            "Runs each case RUNS times (default %d) and prints the median "
            "and every run as\ntab-separated rows: case, payload bytes, "
            "unit, median, runs.\n"
            "Without CASE every case runs; without PAYLOAD_BYTES each runs "
            "with 40 and 4096.\n"
            "MESSAGES overrides each case's message or round-trip count.\n"
            "Cases:\n", program, BENCH_DEFAULT_RUNS);
    for (i = 0; i < count; i++) {
        if (cases[i].default_bytes) {
            fprintf(out, "  %-12s %s (default: %" PRIu64 " bytes of "
                    "messages)\n", cases[i].name, cases[i].description,
                    cases[i].default_bytes);
        } else {
            fprintf(out, "  %-12s %s (default: %" PRIu64 ")\n",
                    cases[i].name, cases[i].description,
                    cases[i].default_messages);
        }
    }
}

/* Parses the command line. Returns 0 to run, 1 after printing the help,
 * or 2 after printing an error. */
static inline int bench_parse_args(int argc, char **argv,
                                   const struct bench_case *cases,
                                   int case_count,
                                   struct bench_options *opts)
{
    const char *program = argv[0];
    int i;
    int positional = 0;

    opts->runs = BENCH_DEFAULT_RUNS;
    opts->messages = 0;
    opts->case_name = NULL;
    opts->payload = 0;

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        uint64_t value;

        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            bench_usage(stdout, program, cases, case_count);
            return 1;
        }
        if (strcmp(arg, "-r") == 0 || strcmp(arg, "-n") == 0) {
            int is_runs = arg[1] == 'r';

            if (i + 1 >= argc) {
                fprintf(stderr, "%s: option %s needs a value\n", program,
                        arg);
                return 2;
            }
            if (bench_parse_count(program, is_runs ? "run count" :
                                  "message count", argv[++i],
                                  is_runs ? BENCH_MAX_RUNS : UINT32_MAX,
                                  &value) != 0) {
                return 2;
            }
            if (is_runs) {
                opts->runs = (int)value;
            } else {
                opts->messages = value;
            }
            continue;
        }
        if (arg[0] == '-') {
            fprintf(stderr, "%s: unknown option %s; see %s --help\n",
                    program, arg, program);
            return 2;
        }
        if (positional == 0) {
            int k;

            for (k = 0; k < case_count; k++) {
                if (strcmp(arg, cases[k].name) == 0) {
                    break;
                }
            }
            if (k == case_count) {
                fprintf(stderr, "%s: unknown case \"%s\"; see %s --help\n",
                        program, arg, program);
                return 2;
            }
            opts->case_name = arg;
        } else if (positional == 1) {
            if (bench_parse_count(program, "payload size", arg,
                                  BENCH_MAX_PAYLOAD, &value) != 0) {
                return 2;
            }
            if (value < BENCH_MIN_PAYLOAD) {
                fprintf(stderr, "%s: invalid payload size %" PRIu64
                        ": expected at least %d bytes\n", program, value,
                        BENCH_MIN_PAYLOAD);
                return 2;
            }
            opts->payload = (size_t)value;
        } else {
            fprintf(stderr, "%s: unexpected argument \"%s\"; see %s "
                    "--help\n", program, arg, program);
            return 2;
        }
        positional++;
    }
    return 0;
}

/* Runs one case at one payload size opts->runs times and prints a row per
 * figure. Returns 0, or -1 when a run failed. */
static inline int bench_run_case(const struct bench_case *c, size_t payload,
                                 const struct bench_options *opts)
{
    double runs[BENCH_MAX_FIGURES][BENCH_MAX_RUNS];
    double sorted[BENCH_MAX_RUNS];
    uint64_t messages = c->default_messages;
    int run;
    int f;

    if (opts->messages) {
        messages = opts->messages;
    } else if (c->default_bytes) {
        messages = c->default_bytes / payload;
        if (messages == 0) {
            messages = 1;
        }
    }
    for (run = 0; run < opts->runs; run++) {
        double values[BENCH_MAX_FIGURES];

        if (c->run(payload, messages, values) != 0) {
            fprintf(stderr, "bench: case %s with %zu-byte payloads failed\n",
                    c->name, payload);
            return -1;
        }
        for (f = 0; f < c->figure_count; f++) {
            runs[f][run] = values[f];
        }
    }
    for (f = 0; f < c->figure_count; f++) {
        int k;

        memcpy(sorted, runs[f], (size_t)opts->runs * sizeof sorted[0]);
        printf("%s%s\t%zu\t%s\t%.6g\t", c->name, c->figures[f].suffix,
               payload, c->figures[f].unit,
               bench_quantile(sorted, (size_t)opts->runs, 0.5));
        for (k = 0; k < opts->runs; k++) {
            printf(k ? ",%.6g" : "%.6g", runs[f][k]);
        }
        printf("\n");
    }
    fflush(stdout);
    return 0;
}

/* Runs the cases that opts select. Returns the process's exit status. */
static inline int bench_main(const struct bench_options *opts,
                             const struct bench_case *cases, int case_count)
{
    int i;
    int p;

    printf("# case\tpayload_bytes\tunit\tmedian\truns (%d)\n", opts->runs);
    for (i = 0; i < case_count; i++) {
        if (opts->case_name && strcmp(opts->case_name, cases[i].name) != 0) {
            continue;
        }
        for (p = 0; p < BENCH_PAYLOAD_COUNT; p++) {
            size_t payload = opts->payload ? opts->payload :
                                             bench_payload_sizes[p];

            if (bench_run_case(&cases[i], payload, opts) != 0) {
                return 1;
            }
            if (opts->payload) {
                break;
            }
        }
    }
    return 0;
}

#endif /* BENCH_UTIL_H */

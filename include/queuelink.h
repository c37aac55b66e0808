/*
 * queuelink.h: the C interface of libqueuelink.
 *
 * QueueLink routes messages between queues: one source to many destinations
 * (fan-out), many sources to one destination (fan-in), or any mix. Readers
 * turn a file descriptor or a path into a stream of line messages on a
 * queue, and writers turn a queue back into bytes on a descriptor or a path.
 * The engine runs in Go inside libqueuelink.so; this header is its contract.
 *
 * Conventions used by every function below:
 *
 *  - Handles (ql_queue, ql_link, ql_reader, ql_writer) are opaque. Every
 *    call checks that a handle is live and of the expected type, so a NULL,
 *    freed or wrong-type handle returns QL_ERR_HANDLE instead of crashing.
 *  - Functions return a status code (QL_OK or a QL_ERR_* value) and pass
 *    results back through out parameters, which are written only on QL_OK
 *    unless the function's comment states otherwise.
 *    Every function returns QL_ERR_HANDLE for a bad handle and
 *    QL_ERR_INVALID for a NULL out parameter or an argument outside its
 *    documented values; each declaration lists its other statuses.
 *    ql_strerror() names a status. ql_errmsg() returns the detail of the
 *    last failure on the calling thread (the value, the path, the reason).
 *  - Timeouts are int64_t microseconds: a negative timeout blocks until the
 *    call can complete, zero never blocks, a positive value waits at most
 *    that long. A timeout too large to be a duration in nanoseconds blocks
 *    too. Closing or stopping the object a call waits on wakes it: closing
 *    a queue wakes its puts, gets and joins, and stopping a reader or
 *    writer wakes its waits.
 *  - Memory that the library returns is freed with ql_free() or
 *    ql_msg_free(), never with the C library's free(). Destructors accept
 *    NULL. Pointers that the caller passes in stay the caller's: the
 *    library copies what it keeps (payloads, names, paths) before the call
 *    returns.
 *  - Every function is thread-safe.
 *  - Message payloads are byte arrays with an explicit length; they may
 *    contain NUL bytes.
 *
 * A process that loads the library and then calls fork() must not use it in
 * the child: the Go runtime does not survive fork(). Use it only in the
 * parent, or exec a fresh program in the child.
 *
 * SIGPIPE: loading the library installs the Go runtime's signal handlers.
 * Writers write on Go threads, where a write to a pipe or socket whose
 * reader has gone fails with EPIPE instead of raising SIGPIPE, so a
 * program needs no SIGPIPE handling for them; the writer ends with
 * QL_ERR_IO. A SIGPIPE raised by the program's own threads goes on to the
 * disposition the program had, so its own writes behave as before.
 */
#ifndef QUEUELINK_H
#define QUEUELINK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Version
 * ---------------------------------------------------------------------- */

#define QL_VERSION_MAJOR 0
#define QL_VERSION_MINOR 2
#define QL_VERSION_PATCH 0
/* QL_VERSION_NUMBER is MAJOR * 10000 + MINOR * 100 + PATCH. */
#define QL_VERSION_NUMBER \
    (QL_VERSION_MAJOR * 10000 + QL_VERSION_MINOR * 100 + QL_VERSION_PATCH)

/* Returns the QL_VERSION_NUMBER the loaded library was built with. A program
 * compiled against this header should refuse a library whose major version
 * differs from QL_VERSION_MAJOR. */
int ql_version(void);

/* ------------------------------------------------------------------------
 * Status codes. Their values never change once released.
 * ---------------------------------------------------------------------- */

#define QL_OK 0
#define QL_ERR_INVALID 1   /* an argument has an invalid value */
#define QL_ERR_HANDLE 2    /* a handle is NULL, freed or of the wrong type */
#define QL_ERR_CLOSED 3    /* the object is closed or stopped */
#define QL_ERR_EMPTY 4     /* a get found no message within its timeout */
#define QL_ERR_FULL 5      /* a put found no room within its timeout */
#define QL_ERR_TIMEOUT 6   /* another wait (join, wait) timed out */
#define QL_ERR_EXISTS 7    /* the queue is already registered on the link */
#define QL_ERR_NOT_FOUND 8 /* no queue with that id in that direction */
#define QL_ERR_IO 9        /* the operating system reported an error, or
                            * a reader's input was cut or malformed */
#define QL_ERR_STATE 10    /* the call is not valid in the object's state */
#define QL_ERR_INTERNAL 11 /* a bug in the library; the message has detail */
#define QL_ERR_SPACE 12    /* a message is larger than the buffer given */

/* Returns a static, human-readable name for a status code. Unknown codes
 * give "unknown status". Never returns NULL. */
const char *ql_strerror(int status);

/* Returns the message of the last call that failed on the calling thread,
 * or "" if none has failed. The string belongs to the library and stays
 * valid until the next failing call on the same thread or until the thread
 * exits. Successful calls do not clear it. Never returns NULL. */
const char *ql_errmsg(void);

/* Frees a block that the library allocated: the payload of a message with
 * msg->owned set, when the caller takes it over instead of calling
 * ql_msg_free() (copy msg->data, then zero the struct). Strings from
 * ql_strerror() and ql_errmsg() belong to the library and must not be
 * passed here. Accepts NULL. */
void ql_free(void *ptr);

/* ------------------------------------------------------------------------
 * Handles: opaque types, used only through pointers
 * ---------------------------------------------------------------------- */

typedef struct ql_queue ql_queue;   /* a message queue */
typedef struct ql_link ql_link;     /* routes sources to destinations */
typedef struct ql_reader ql_reader; /* a file into a queue */
typedef struct ql_writer ql_writer; /* a queue into a file */

/* ------------------------------------------------------------------------
 * Logging
 * ---------------------------------------------------------------------- */

/* Log levels: the numbers of Python's logging module. */
#define QL_LOG_DEBUG 10
#define QL_LOG_INFO 20
#define QL_LOG_WARNING 30
#define QL_LOG_ERROR 40

/* Sends the engine's log records at or above level (a QL_LOG_* value) to
 * q, as QL_KIND_TEXT messages "LEVEL\tLOGGER\tMESSAGE": LEVEL is the
 * QL_LOG_* number, LOGGER a dotted name such as "queuelink.link", and
 * MESSAGE the text followed by " key=value" details. The engine logs
 * publishers, readers and writers starting and ending and the errors they
 * handle. It never waits for room: a record that finds q full is dropped,
 * and the next record that fits says how many were. One queue receives the
 * records at a time; q == NULL stops them, which is the default. Records
 * are dropped while q is closed or freed.
 * Returns QL_ERR_INVALID for a level below QL_LOG_DEBUG or above
 * QL_LOG_ERROR (values in between, such as 25, are thresholds too), and
 * QL_ERR_HANDLE for a freed or wrong-type q. */
int ql_log_attach(ql_queue *q, int level);

/* ------------------------------------------------------------------------
 * Messages
 * ---------------------------------------------------------------------- */

/* Message kinds. A kind tells a consumer how to read the payload. */
#define QL_KIND_TEXT 1   /* UTF-8 text */
#define QL_KIND_BYTES 2  /* raw bytes */
#define QL_KIND_PICKLE 3 /* a Python pickle; opaque to C */

/* Message flags (ql_msg.flags). */
#define QL_MSG_WRAPPED 1 /* present the payload wrapped, as Python's
                          * ContentWrapper does for large lines */
#define QL_MSG_SPILLED 2 /* the payload is in a spill file: data holds the
                          * file's path (len bytes, no NUL), and the message
                          * owns the file */

/* ql_msg is a message. ql_queue_get() fills it and the caller releases it
 * with ql_msg_free(); ql_queue_put_msg() reads one the caller filled. A
 * payload of zero bytes may have a NULL data. */
typedef struct ql_msg {
    int32_t kind;     /* one of QL_KIND_* */
    int32_t owned;    /* nonzero when data was allocated by the library */
    int64_t priority; /* the priority given at put time, 0 otherwise */
    void *data;       /* the payload; not NUL-terminated */
    size_t len;       /* the payload's length in bytes */
    uint32_t flags;   /* QL_MSG_* bits */
    uint32_t reserved; /* zero */
} ql_msg;

/* Releases a message filled by ql_queue_get(): frees a payload that the
 * library allocated (msg->owned is nonzero) and removes the spill file of a
 * message with QL_MSG_SPILLED, then resets the struct to zero. To keep a
 * spill file, copy its path and clear QL_MSG_SPILLED before the call; the
 * file is then the caller's to remove. A message whose payload is in the
 * caller's buffer and that is not spilled holds nothing to release, so
 * skipping the call for it leaks nothing. Accepts NULL and a message that
 * is already released. */
void ql_msg_free(ql_msg *msg);

/* ------------------------------------------------------------------------
 * Queues
 * ---------------------------------------------------------------------- */

/* Queue orders. */
#define QL_ORDER_FIFO 0     /* first in, first out */
#define QL_ORDER_LIFO 1     /* last in, first out */
#define QL_ORDER_PRIORITY 2 /* lowest priority value first; ties FIFO */

/* Creates a queue with the given order and bound. maxsize <= 0 makes an
 * unbounded queue; a bounded queue blocks puts while it holds maxsize
 * messages. On QL_OK *out receives a handle that the caller frees with
 * ql_queue_free().
 * Returns QL_ERR_INVALID for an unknown order, a maxsize above 2147483647
 * or a NULL out. */
int ql_queue_new(int order, int64_t maxsize, ql_queue **out);

/* Closes the queue if it is open and frees the handle. Later calls with
 * the handle return QL_ERR_HANDLE. Links, readers and writers that use the
 * queue see it closed, and a link still takes the messages left in a
 * source. When none uses the queue, the messages left in it are dropped
 * and their spill files removed. A handle from ql_link_queue() is a second reference:
 * freeing it frees only that reference and leaves the queue open.
 * Accepts NULL (returns QL_OK).
 * Returns QL_ERR_HANDLE for a freed or wrong-type handle. */
int ql_queue_free(ql_queue *q);

/* Closes the queue: later puts return QL_ERR_CLOSED, gets return the
 * messages still held and then QL_ERR_CLOSED, and every blocked put, get
 * and join wakes. Closing twice is allowed. */
int ql_queue_close(ql_queue *q);

/* Puts a copy of len bytes at data, of the given kind, with priority 0.
 * data may be NULL when len is 0, and the caller keeps data. Blocks while
 * a bounded queue is full, for at most timeout_us; ql_queue_close() wakes
 * it.
 * Returns QL_ERR_FULL when the timeout passes, QL_ERR_CLOSED when the queue
 * is closed (also while waiting), QL_ERR_INVALID for an unknown kind or a
 * NULL data with a nonzero len. */
int ql_queue_put(ql_queue *q, int kind, const void *data, size_t len,
                 int64_t timeout_us);

/* Same as ql_queue_put() with an explicit priority. A QL_ORDER_PRIORITY
 * queue hands out the lowest priority first; other orders keep the value
 * and pass it on with the message. */
int ql_queue_put_priority(ql_queue *q, int kind, int64_t priority,
                          const void *data, size_t len, int64_t timeout_us);

/* Puts a message the caller filled: its kind, priority, flags, data and
 * len (owned is ignored). With QL_MSG_SPILLED, data and len name the path
 * of a file that holds the payload; on QL_OK the queue owns the file and
 * removes it when the message is dropped, otherwise the caller keeps it.
 * Returns what ql_queue_put_priority() returns, and QL_ERR_INVALID for
 * unknown flags or a spilled message whose path is empty. */
int ql_queue_put_msg(ql_queue *q, const ql_msg *msg, int64_t timeout_us);

/* Takes the next message, blocking at most timeout_us while the queue is
 * empty; ql_queue_close() wakes it.
 * buf and cap name an optional buffer of the caller's (buf may be NULL): a
 * payload of at most cap bytes is copied there and msg->owned is 0;
 * a larger one is allocated by the library and msg->owned is 1. Call
 * ql_msg_free(msg) in both cases. msg is written only on QL_OK.
 * Returns QL_ERR_EMPTY when the timeout passes, QL_ERR_CLOSED when the
 * queue is closed and holds no more messages, QL_ERR_INVALID for a NULL
 * msg. */
int ql_queue_get(ql_queue *q, int64_t timeout_us, void *buf, size_t cap,
                 ql_msg *msg);

/* Puts count messages from msgs, in order, each as ql_queue_put_msg()
 * would, under as few locks as room allows: one call costs about as much
 * as one put, so batches raise throughput. Blocks at most timeout_us in
 * all while a bounded queue is full. Stores in *done how many messages
 * were put, also when the call fails; messages from msgs[*done] on were
 * not put, and their spill files stay the caller's. msgs may be NULL when
 * count is 0.
 * Returns QL_ERR_FULL when the timeout passes first, QL_ERR_CLOSED when
 * the queue closes, QL_ERR_INVALID for a NULL done or an invalid message
 * (nothing is put then; ql_errmsg() names its index). */
int ql_queue_put_batch(ql_queue *q, const ql_msg *msgs, size_t count,
                       int64_t timeout_us, size_t *done);

/* Takes up to cap messages into msgs[0..*count), in queue order. Blocks at
 * most timeout_us for the first message, then takes only those already
 * there. buf and buf_cap name an optional buffer of the caller's (buf may
 * be NULL) that payloads are packed into, one after another, while they
 * fit (owned 0); the others are allocated by the library (owned 1). Call
 * ql_msg_free() on each message taken. *count is written only on QL_OK.
 * Returns what ql_queue_get() returns, and QL_ERR_INVALID for a NULL
 * count, or NULL msgs with a nonzero cap. */
int ql_queue_get_batch(ql_queue *q, int64_t timeout_us, ql_msg *msgs,
                       size_t cap, void *buf, size_t buf_cap, size_t *count);

/* Puts count messages of one kind whose payloads lie back to back at data:
 * message i has lens[i] bytes and follows message i-1. The queue copies
 * them all at once, which makes this the cheapest way to put many
 * messages. A Python put_many() of str or bytes items uses it. Priorities
 * are 0 and flags none. Blocking, *done and the statuses are those of
 * ql_queue_put_batch(). QL_ERR_INVALID also covers a NULL lens with a
 * nonzero count and a NULL data with a nonzero total length. */
int ql_queue_put_packed(ql_queue *q, int kind, const void *data,
                        const uint64_t *lens, size_t count,
                        int64_t timeout_us, size_t *done);

/* kinds[i] from ql_queue_get_packed() contains a message's kind in its
 * low 8 bits and its QL_MSG_* flags above them. */
#define QL_PACKED_FLAGS_SHIFT 8
#define QL_PACKED_KIND(k) ((int)((k) & 0xFFu))
#define QL_PACKED_FLAGS(k) ((uint32_t)(k) >> QL_PACKED_FLAGS_SHIFT)

/* Takes up to cap messages, in queue order, and copies their payloads back
 * to back into buf. Message i has lens[i] bytes, and kinds[i] gives its
 * kind and flags (see QL_PACKED_KIND). *count receives the number taken.
 * Blocks at most timeout_us for the first message, then takes only those
 * already there, and stops before a message whose payload would overflow
 * buf_cap. A payload of zero bytes takes no space, so buf may be NULL with
 * buf_cap 0. A cap of 0 returns QL_OK with *count 0 at once, without
 * looking at the queue. Priorities are not reported; use
 * ql_queue_get_batch() for them.
 * Nothing needs releasing, except that a message with QL_MSG_SPILLED
 * carries the path of its spill file, which the caller then owns and must
 * remove.
 * Returns QL_ERR_SPACE when the next message alone is larger than
 * buf_cap: it stays in the queue, lens[0] receives its length and *count
 * is 0; take it with ql_queue_get() or pass a larger buffer. Otherwise
 * returns what ql_queue_get() returns, and QL_ERR_INVALID for a NULL
 * count, NULL lens or kinds with a nonzero cap, or a NULL buf with a
 * nonzero buf_cap. */
int ql_queue_get_packed(ql_queue *q, int64_t timeout_us, void *buf,
                        size_t buf_cap, uint64_t *lens, uint32_t *kinds,
                        size_t cap, size_t *count);

/* Stores the number of messages held in *out. */
int ql_queue_len(ql_queue *q, int64_t *out);

/* Stores the bound given to ql_queue_new() in *out (0 when unbounded). */
int ql_queue_maxsize(ql_queue *q, int64_t *out);

/* Stores 1 in *out when the queue is closed, else 0. */
int ql_queue_is_closed(ql_queue *q, int *out);

/* Marks one message taken with a get as processed, for ql_queue_join().
 * Returns QL_ERR_STATE when called more times than messages were put. */
int ql_queue_task_done(ql_queue *q);

/* Blocks until every message ever put has been marked done with
 * ql_queue_task_done(), for at most timeout_us; ql_queue_close() wakes
 * it.
 * Returns QL_ERR_TIMEOUT when the timeout passes, QL_ERR_CLOSED when the
 * queue is closed while messages are still unfinished. */
int ql_queue_join(ql_queue *q, int64_t timeout_us);

/* ------------------------------------------------------------------------
 * Links
 * ---------------------------------------------------------------------- */

/* Directions of a queue on a link. */
#define QL_SOURCE 1      /* the link takes messages from the queue */
#define QL_DESTINATION 2 /* the link puts messages to the queue */

/* Creates a link with no queues. On QL_OK *out receives a handle that the
 * caller frees with ql_link_free(). name labels the link in log messages
 * and may be NULL; the link keeps a copy.
 * Returns QL_ERR_INVALID for a NULL out. */
int ql_link_new(const char *name, ql_link **out);

/* Stops the link (see ql_link_stop()), releases its queues and frees the
 * handle. Blocks like ql_link_stop(). A message that a publisher took but
 * could not deliver goes back to the front of its source when no
 * destination received it yet; otherwise the destinations with room get
 * it. The queues themselves stay open and owned by their creators.
 * Accepts NULL (returns QL_OK). */
int ql_link_free(ql_link *link);

/* Registers a queue in a direction and stores its id in *id. Ids count up
 * from 1 per link across both directions and are never reused. One
 * publisher per source moves each message it takes to every destination
 * registered at that moment. Publishers start once the link has at least
 * one source and one destination, and registering more queues does not
 * stop the running ones; a registration after ql_link_stop() starts them
 * again.
 * Returns QL_ERR_EXISTS when the queue is already registered in either
 * direction, QL_ERR_INVALID for an unknown direction, QL_ERR_CLOSED when
 * the link was freed concurrently. */
int ql_link_register(ql_link *link, ql_queue *q, int direction, int64_t *id);

/* Detaches the queue with the given id from the given direction, without
 * waiting for room anywhere. A source's publisher takes up to 64 messages
 * at a time and finishes delivering those in the background. A
 * destination receives nothing once this call returns: a put to it that
 * waits for room is abandoned, and the call waits for a put under way,
 * which does not block, to finish. So a consumer that drains the queue
 * afterwards receives every message it will get.
 * Returns QL_ERR_NOT_FOUND when no queue with that id is registered in that
 * direction. */
int ql_link_unregister(ql_link *link, int64_t id, int direction);

/* Stores a new reference to the registered queue with the given id in
 * *out; free it with ql_queue_free(), which then frees only that
 * reference. Every other call on the reference acts on the queue itself,
 * ql_queue_close() included, and the reference stays valid after the
 * queue is unregistered or the link freed.
 * Returns QL_ERR_NOT_FOUND for an unknown id. */
int ql_link_queue(ql_link *link, int64_t id, ql_queue **out);

/* Stops every publisher and blocks until they have ended. A publisher that
 * waits for room in a full destination stops at once: the message it waits
 * with, and any later message of its batch that a destination already
 * has, are kept and delivered first when the publishers start again. The
 * rest of its batch goes back to the front of the source. Stopping twice
 * is allowed. */
int ql_link_stop(ql_link *link);

/* Stores 1 in *out while the link moves messages: it has a source, it was
 * not stopped since the last registration, and no publisher ended because
 * its source closed. A link whose destinations were all unregistered is
 * alive; its publishers rest until a destination is registered. Stores 0
 * otherwise. Returns QL_ERR_STATE when no publisher was ever started. */
int ql_link_is_alive(ql_link *link, int *out);

/* Stores 1 in *out when every registered queue is empty and no publisher
 * holds a message. With id > 0, only that queue and every source are
 * checked. Returns QL_ERR_NOT_FOUND for an unknown id. */
int ql_link_is_empty(ql_link *link, int64_t id, int *out);

/* Stores 0 in *out if no publisher was ever started, else what
 * ql_link_is_empty() with id 0 stores. */
int ql_link_is_drained(ql_link *link, int *out);

/* Metrics of one source's publisher. The times are in seconds and describe
 * how long each of the last 100 messages waited in the source queue. */
typedef struct ql_source_metrics {
    int64_t id;               /* the source's id on the link */
    uint64_t count;           /* messages moved since registration */
    int64_t data_point_count; /* messages in the window, at most 100 */
    double mean;              /* mean wait */
    double median;            /* median wait */
    double stddev;            /* population standard deviation of the wait */
} ql_source_metrics;

/* Fills out[0..cap) with the metrics of the link's sources, in id order,
 * and stores in *count how many sources the link has (which may exceed
 * cap: call again with a larger array). out may be NULL when cap is 0.
 * Sources that have not moved a message yet are included with zeros. */
int ql_link_metrics(ql_link *link, ql_source_metrics *out, size_t cap,
                    size_t *count);

/* ------------------------------------------------------------------------
 * Readers: a file descriptor or path, line by line, into a queue
 * ---------------------------------------------------------------------- */

/* Starts a reader that reads fd line by line and puts one message per line
 * on q, with kind QL_KIND_TEXT or QL_KIND_BYTES. Lines keep their '\n'; a
 * last line without one is delivered as it is. The reader works on its own
 * copy of the descriptor and never closes fd; the caller may close fd
 * after this call returns. A socket is switched to non-blocking mode,
 * which its other descriptors share. The reader ends at end of file, on
 * ql_reader_stop(), on a read error, or when a put finds q closed. While
 * q is full it waits for room, so it drops no line it has read unless q
 * is closed.
 * On QL_OK *out receives a handle that the caller frees with
 * ql_reader_free().
 * Returns QL_ERR_INVALID for a negative fd, a kind other than
 * QL_KIND_TEXT and QL_KIND_BYTES or a NULL out, QL_ERR_IO when fd is not
 * open. */
int ql_reader_new_fd(ql_queue *q, int fd, int kind, ql_reader **out);

/* Framings: how a reader splits its input into messages. */
#define QL_FRAME_LINES 0      /* one message per line, split on '\n' */
#define QL_FRAME_CONNECTION 1 /* one message per frame of a Python
                               * multiprocessing Connection: a 4-byte
                               * big-endian length (or -1 and an 8-byte
                               * length), then the payload */

/* Wrap rules: which lines a reader delivers with QL_MSG_WRAPPED, and which
 * it spills, keeping the line in a file instead of memory. */
#define QL_WRAP_NEVER 0  /* no line */
#define QL_WRAP_AUTO 1   /* lines longer than the threshold, all spilled */
#define QL_WRAP_ALWAYS 2 /* every line; those at least as long as the
                          * threshold are spilled */

/* Options of ql_reader_open_fd() and ql_reader_open_path(). Fill them with
 * ql_reader_options_init() first, so fields added later get defaults. */
typedef struct ql_reader_options {
    int32_t kind;            /* lines: QL_KIND_TEXT (default) or
                              * QL_KIND_BYTES; Connection frames:
                              * QL_KIND_BYTES or QL_KIND_PICKLE */
    int32_t framing;         /* QL_FRAME_*, default QL_FRAME_LINES */
    int32_t wrap;            /* QL_WRAP_*, default QL_WRAP_NEVER */
    int32_t reserved;        /* zero */
    int64_t wrap_threshold;  /* bytes; 0 (default) means 16384 */
    int64_t partial_line_us; /* when positive, the bytes after the last
                              * '\n' are delivered as a line once no data
                              * has arrived for this long, so a prompt
                              * reaches the consumer; 0 (default) waits for
                              * the '\n'. Applies to pipes, sockets and
                              * terminals. */
    const char *spill_dir;   /* directory of spill files; NULL (default)
                              * means the system's temporary directory.
                              * Copied by the call. */
    const char *name;        /* label in log records, or NULL. Copied. */
} ql_reader_options;

/* Fills opts with the defaults listed above. */
int ql_reader_options_init(ql_reader_options *opts);

/* Starts a reader of fd into q with the given options (NULL for the
 * defaults); otherwise as ql_reader_new_fd(). The call copies opts and the
 * strings it points to. With QL_FRAME_CONNECTION, a stream that ends
 * inside a frame ends the reader with QL_ERR_IO.
 * Returns QL_ERR_INVALID for a field outside its documented values, such
 * as a negative partial_line_us. */
int ql_reader_open_fd(ql_queue *q, int fd, const ql_reader_options *opts,
                      ql_reader **out);

/* Same as ql_reader_open_fd() for a path, as ql_reader_new_path() opens
 * it. Returns QL_ERR_INVALID for a NULL path and QL_ERR_IO when the path
 * cannot be opened. */
int ql_reader_open_path(ql_queue *q, const char *path,
                        const ql_reader_options *opts, ql_reader **out);

/* Same as ql_reader_new_fd() for a path, which the reader opens for
 * reading now and closes when it ends. A named pipe is checked now and
 * opened in the background, since opening one waits for a writer; a
 * failure to open it then ends the reader with QL_ERR_IO.
 * Returns QL_ERR_INVALID for a NULL path or a kind other than
 * QL_KIND_TEXT and QL_KIND_BYTES, QL_ERR_IO (with the path in ql_errmsg())
 * when it cannot be opened or is a directory. */
int ql_reader_new_path(ql_queue *q, const char *path, int kind,
                       ql_reader **out);

/* Stops the reader if it runs, blocking as ql_reader_stop() does, and frees
 * the handle. Accepts NULL (returns QL_OK). */
int ql_reader_free(ql_reader *r);

/* Stops the reader and blocks until it has stopped reading: a read blocked
 * on a pipe, socket or terminal is woken, and so is a reader of a named
 * pipe that still waits for a writer to open it. Bytes read
 * after the last '\n' are delivered as a last line. It never waits for
 * room in a full queue: lines already read that do not fit are put in
 * the background, in order, as room appears, and are dropped only if the
 * queue is closed first. */
int ql_reader_stop(ql_reader *r);

/* Blocks at most timeout_us for the reader to end, then returns how it
 * ended: QL_OK after end of file or ql_reader_stop(), QL_ERR_IO after a
 * read error, QL_ERR_CLOSED when its queue was closed. Returns
 * QL_ERR_TIMEOUT while it still runs. ql_reader_stop() from another
 * thread ends the wait. */
int ql_reader_wait(ql_reader *r, int64_t timeout_us);

/* Stores 1 in *out while the reader runs, else 0. */
int ql_reader_is_alive(ql_reader *r, int *out);

/* Stores the number of messages the reader has put in *out. */
int ql_reader_count(ql_reader *r, uint64_t *out);

/* ------------------------------------------------------------------------
 * Writers: a queue into a file descriptor or path
 * ---------------------------------------------------------------------- */

/* Path modes for ql_writer_new_path(). */
#define QL_WRITE_TRUNCATE 0 /* create or truncate the file */
#define QL_WRITE_APPEND 1   /* create or append to the file */

/* Starts a writer that takes every message from q and writes its payload
 * to fd. It writes through a buffer that it flushes whenever q runs empty,
 * at least once a second, and when it ends; regular files are also synced
 * to disk once a second and at the end. It works on its own copy of fd and
 * never closes fd. It ends on ql_writer_stop(), when q is closed and
 * empty, or on a write error. Calls ql_queue_task_done() on q for each
 * message written. Payloads are written as they are, whatever their kind,
 * so a QL_KIND_PICKLE message is written as its pickle bytes.
 * On QL_OK *out receives a handle that the caller frees with
 * ql_writer_free().
 * Returns QL_ERR_INVALID for a negative fd or a NULL out, QL_ERR_IO when
 * fd is not open. */
int ql_writer_new_fd(ql_queue *q, int fd, ql_writer **out);

/* Same as ql_writer_new_fd() for a path, opened with mode (a QL_WRITE_*
 * value) when the first message arrives and closed when the writer ends.
 * A named pipe opens once a process opens it for reading. The path is
 * checked now: a missing directory, a directory or a file that cannot be
 * written returns QL_ERR_IO naming the path. If opening fails later
 * anyway, the writer puts the message back on q and ends with QL_ERR_IO.
 * Returns QL_ERR_INVALID for an unknown mode, a NULL path or a NULL
 * out. */
int ql_writer_new_path(ql_queue *q, const char *path, int mode,
                       ql_writer **out);

/* Stops the writer if it runs, blocking as ql_writer_stop() does, and frees
 * the handle. Accepts NULL (returns QL_OK). */
int ql_writer_free(ql_writer *w);

/* Stops the writer and blocks until it has ended: it writes the message it
 * holds, flushes, syncs a regular file, closes a path it opened, and ends.
 * Messages still in the queue stay there. It waits about a second at most
 * for a pipe or socket that takes no data: a write still blocked then
 * fails, and ql_writer_wait() reports QL_ERR_IO. A writer of a named pipe
 * that no process has opened for reading puts its message back on the
 * queue and ends at once. */
int ql_writer_stop(ql_writer *w);

/* Blocks at most timeout_us for the writer to end, then returns how it
 * ended: QL_OK after ql_writer_stop() or a closed and empty queue,
 * QL_ERR_IO after a write error. Returns QL_ERR_TIMEOUT while it still
 * runs. ql_writer_stop() from another thread ends the wait, and so does
 * closing the queue, once the writer has written the messages left in
 * it. */
int ql_writer_wait(ql_writer *w, int64_t timeout_us);

/* Stores 1 in *out while the writer runs, else 0. */
int ql_writer_is_alive(ql_writer *w, int *out);

/* Stores the number of messages the writer has written in *out. */
int ql_writer_count(ql_writer *w, uint64_t *out);

#ifdef __cplusplus
}
#endif

#endif /* QUEUELINK_H */

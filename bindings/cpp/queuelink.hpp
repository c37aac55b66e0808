/*
 * queuelink.hpp: a header-only C++17 layer over the C interface in
 * queuelink.h.
 *
 * Each handle type of the C interface has one move-only class that frees
 * the handle in its destructor: Queue, Link, Reader and Writer. Every
 * failing call throws queuelink::Error, which carries the status code
 * (QL_ERR_*) and the library's message from ql_errmsg().
 *
 * Outcomes that a caller expects in normal operation are not exceptions:
 *  - try_get() and try_get_for() return an empty std::optional when no
 *    message arrives in time (QL_ERR_EMPTY), and try_put() and
 *    try_put_for() return false when no room appears (QL_ERR_FULL); the
 *    batch forms return an empty vector and the count put;
 *  - iterating over queue.drain() ends when the queue is closed and empty
 *    (QL_ERR_CLOSED);
 *  - join_for() and wait_for() return false when their timeout passes.
 * Everything else throws Error, including get() and put() on a closed
 * queue; test error.status() == QL_ERR_CLOSED to tell that case apart.
 *
 * Timeouts are std::chrono durations. They are rounded up to whole
 * microseconds, a zero or negative timeout does not wait, and a timeout
 * too large for int64_t microseconds waits without limit. Calls without a
 * timeout block until they can complete; closing the queue they wait on
 * (or stopping the reader or writer) wakes them.
 *
 * Every class keeps only a handle, and the library is thread-safe, so one
 * object may be used from several threads at once, except for moving,
 * assigning or destroying it while another thread uses it.
 *
 * Interoperation with C code: raw() returns the handle, release() gives up
 * ownership of it, and the constructors that take queuelink::adopt take
 * ownership of a handle that C code created.
 */
#ifndef QUEUELINK_HPP
#define QUEUELINK_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#if __cplusplus >= 202002L
#include <span>
#endif

#include "queuelink.h"

namespace queuelink {

/* ------------------------------------------------------------------------
 * Errors and versions
 * ---------------------------------------------------------------------- */

// Error is the exception of every failing call: a QL_ERR_* status and the
// library's message for it.
class Error : public std::runtime_error {
public:
    Error(int status, const std::string &message)
        : std::runtime_error(message), status_(status)
    {
    }

    // The QL_ERR_* status code of the failed call.
    int status() const noexcept { return status_; }

    // The library's name for the status, such as "closed".
    const char *status_name() const noexcept { return ql_strerror(status_); }

private:
    int status_;
};

// The QL_VERSION_NUMBER that this header was written for.
inline constexpr int header_version = QL_VERSION_NUMBER;

// Returns the QL_VERSION_NUMBER of the loaded library.
inline int library_version() noexcept { return ql_version(); }

// Tag type of the constructors that take ownership of a raw handle.
struct adopt_t {
    explicit adopt_t() = default;
};
inline constexpr adopt_t adopt{};

namespace detail {

// Throws Error for the status of a call that just failed on this thread.
[[noreturn]] inline void throw_status(int status)
{
    const char *message = ql_errmsg();
    if (message == nullptr || *message == '\0') {
        message = ql_strerror(status);
    }
    throw Error(status, message);
}

inline void check(int status)
{
    if (status != QL_OK) {
        throw_status(status);
    }
}

// Converts a timeout to the microseconds of the C interface: zero for a
// zero or negative timeout, -1 (no limit) for one that int64_t cannot
// hold, otherwise rounded up so that a short positive timeout still waits.
template <class Rep, class Period>
std::int64_t timeout_us(const std::chrono::duration<Rep, Period> &timeout)
{
    using Timeout = std::chrono::duration<Rep, Period>;

    if (timeout <= Timeout::zero()) {
        return 0;
    }
    // Compared as a double, because converting a large duration to integer
    // microseconds overflows. 9e18 is just below INT64_MAX (about 9.22e18).
    const std::chrono::duration<double, std::micro> as_double = timeout;
    if (!(as_double.count() < 9.0e18)) {
        return -1;
    }
    return std::chrono::ceil<std::chrono::microseconds>(timeout).count();
}

// Owns one handle and frees it with Free, which must not throw.
template <class Handle, int (*Free)(Handle *)>
class Owner {
public:
    Owner(const Owner &) = delete;
    Owner &operator=(const Owner &) = delete;

    Owner(Owner &&other) noexcept : handle_(std::exchange(other.handle_, nullptr))
    {
    }

    Owner &operator=(Owner &&other) noexcept
    {
        if (this != &other) {
            reset();
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }

    ~Owner() { reset(); }

    // Returns the handle, still owned by this object; nullptr once moved
    // from, released or reset.
    Handle *raw() const noexcept { return handle_; }

    // Gives up ownership: returns the handle, which the caller now frees
    // with the matching ql_*_free() function, and leaves this object empty.
    Handle *release() noexcept { return std::exchange(handle_, nullptr); }

    // Frees the handle now and leaves this object empty. Calls on an empty
    // object throw Error with QL_ERR_HANDLE.
    void reset() noexcept
    {
        if (handle_ != nullptr) {
            (void)Free(std::exchange(handle_, nullptr));
        }
    }

    explicit operator bool() const noexcept { return handle_ != nullptr; }

protected:
    explicit Owner(Handle *handle) noexcept : handle_(handle) {}

private:
    Handle *handle_;
};

} // namespace detail

/* ------------------------------------------------------------------------
 * Messages
 * ---------------------------------------------------------------------- */

// The kind of a payload, which determines how a consumer reads it: QL_KIND_*.
enum class Kind : std::int32_t {
    text = QL_KIND_TEXT,
    bytes = QL_KIND_BYTES,
    pickle = QL_KIND_PICKLE,
};

// A message taken from a queue, or one to put with all its fields.
struct Message {
    Kind kind = Kind::bytes;
    std::int64_t priority = 0;
    std::uint32_t flags = 0; // QL_MSG_* bits
    std::string payload;     // bytes, may contain '\0'

    bool wrapped() const noexcept { return (flags & QL_MSG_WRAPPED) != 0; }

    friend bool operator==(const Message &a, const Message &b)
    {
        return a.kind == b.kind && a.priority == b.priority &&
               a.flags == b.flags && a.payload == b.payload;
    }
    friend bool operator!=(const Message &a, const Message &b)
    {
        return !(a == b);
    }
};

/* ------------------------------------------------------------------------
 * Queues
 * ---------------------------------------------------------------------- */

// The order in which a queue hands out its messages: QL_ORDER_*.
enum class Order : int {
    fifo = QL_ORDER_FIFO,
    lifo = QL_ORDER_LIFO,
    priority = QL_ORDER_PRIORITY, // lowest priority first, ties FIFO
};

// Queue owns a ql_queue. Freeing it closes the queue, unless the handle
// is a second reference from Link::queue().
class Queue : public detail::Owner<ql_queue, ql_queue_free> {
public:
    // The range that drain() returns; see there.
    class Drain;

    // Creates a queue. maxsize <= 0 makes it unbounded.
    explicit Queue(Order order = Order::fifo, std::int64_t maxsize = 0)
        : Owner(create(order, maxsize))
    {
    }

    // Takes ownership of a handle from ql_queue_new() or ql_link_queue().
    Queue(adopt_t, ql_queue *handle) noexcept : Owner(handle) {}

    // Puts a copy of payload, blocking while a bounded queue is full.
    // Throws Error with QL_ERR_CLOSED when the queue is or becomes closed.
    void put(std::string_view payload, Kind kind = Kind::text,
             std::int64_t priority = 0)
    {
        detail::check(put_with_timeout(payload, kind, priority, -1));
    }

    // Puts every field of message: its kind, priority, flags and payload,
    // blocking while the queue is full. With QL_MSG_SPILLED the payload is
    // the path of a spill file, which the queue then owns (see
    // ql_queue_put_msg()).
    void put(const Message &message)
    {
        ql_msg msg{};
        msg.kind = static_cast<std::int32_t>(message.kind);
        msg.priority = message.priority;
        msg.flags = message.flags;
        msg.data = const_cast<char *>(message.payload.data());
        msg.len = message.payload.size();
        detail::check(ql_queue_put_msg(raw(), &msg, -1));
    }

#if __cplusplus >= 202002L
    // Puts a copy of raw bytes; the same as put(std::string_view) otherwise.
    void put(std::span<const std::byte> payload, Kind kind = Kind::bytes,
             std::int64_t priority = 0)
    {
        detail::check(ql_queue_put_priority(raw(), static_cast<int>(kind),
                                            priority, payload.data(),
                                            payload.size(), -1));
    }
#endif

    // Puts a copy of payload if there is room now; returns false if not.
    bool try_put(std::string_view payload, Kind kind = Kind::text,
                 std::int64_t priority = 0)
    {
        return put_or_full(put_with_timeout(payload, kind, priority, 0));
    }

    // Puts a copy of payload, waiting at most timeout for room; returns
    // false if none appeared.
    template <class Rep, class Period>
    bool try_put_for(std::string_view payload,
                     const std::chrono::duration<Rep, Period> &timeout,
                     Kind kind = Kind::text, std::int64_t priority = 0)
    {
        return put_or_full(put_with_timeout(payload, kind, priority,
                                            detail::timeout_us(timeout)));
    }

    // Takes the next message, blocking while the queue is empty. Throws
    // Error with QL_ERR_CLOSED once the queue is closed and empty.
    Message get()
    {
        std::optional<Message> message = get_with_timeout(-1);
        if (!message) {
            // The library returns QL_ERR_EMPTY only when a timeout passes.
            throw Error(QL_ERR_EMPTY, "a get without a timeout returned no message");
        }
        return std::move(*message);
    }

    // Takes the next message if there is one now.
    std::optional<Message> try_get() { return get_with_timeout(0); }

    // Takes the next message, waiting at most timeout for one.
    template <class Rep, class Period>
    std::optional<Message> try_get_for(
        const std::chrono::duration<Rep, Period> &timeout)
    {
        return get_with_timeout(detail::timeout_us(timeout));
    }

    // Puts every message in order, with all its fields as put(const
    // Message &) does, blocking while the queue is full. One call costs
    // about as much as one put. Throws Error with QL_ERR_CLOSED when the
    // queue is or becomes closed, after putting the messages before the
    // first that did not fit; QL_ERR_INVALID for an invalid message puts
    // none.
    void put_batch(const std::vector<Message> &messages)
    {
        detail::check(put_batch_with_timeout(messages, -1).second);
    }

    // Puts the messages in order, waiting at most timeout in all for room,
    // and returns how many were put: fewer than messages.size() when the
    // timeout passed first. Throws as put_batch() does.
    template <class Rep, class Period>
    std::size_t try_put_batch_for(const std::vector<Message> &messages,
                                  const std::chrono::duration<Rep, Period> &timeout)
    {
        std::pair<std::size_t, int> result =
            put_batch_with_timeout(messages, detail::timeout_us(timeout));
        if (result.second != QL_ERR_FULL) {
            detail::check(result.second);
        }
        return result.first;
    }

    // Takes up to max messages in queue order: blocks for the first, then
    // takes only those already there. Throws Error with QL_ERR_CLOSED once
    // the queue is closed and empty.
    std::vector<Message> get_batch(std::size_t max)
    {
        return get_batch_with_timeout(max, -1);
    }

    // Takes up to max messages, waiting at most timeout for the first;
    // returns an empty vector if none arrived.
    template <class Rep, class Period>
    std::vector<Message> try_get_batch_for(std::size_t max,
                                           const std::chrono::duration<Rep, Period> &timeout)
    {
        return get_batch_with_timeout(max, detail::timeout_us(timeout));
    }

    // Returns a range over the messages of the queue that blocks for each
    // next message and ends once the queue is closed and empty:
    //   for (queuelink::Message &m : queue.drain()) { ... }
    // Close the queue, from any thread, to end the loop.
    Drain drain();

    // Closes the queue: puts fail, gets return what is left and then fail,
    // and blocked calls wake. Closing twice is allowed.
    void close() { detail::check(ql_queue_close(raw())); }

    bool closed() const
    {
        int out = 0;
        detail::check(ql_queue_is_closed(raw(), &out));
        return out != 0;
    }

    // The number of messages held.
    std::int64_t size() const
    {
        std::int64_t out = 0;
        detail::check(ql_queue_len(raw(), &out));
        return out;
    }

    // The bound given at creation, 0 when unbounded.
    std::int64_t maxsize() const
    {
        std::int64_t out = 0;
        detail::check(ql_queue_maxsize(raw(), &out));
        return out;
    }

    // Marks one message taken with a get as processed, for join(). Throws
    // Error with QL_ERR_STATE when called more times than messages were put.
    void task_done() { detail::check(ql_queue_task_done(raw())); }

    // Blocks until every message put has been marked done. Throws Error
    // with QL_ERR_CLOSED when the queue is closed while some are not.
    void join() { detail::check(ql_queue_join(raw(), -1)); }

    // Waits at most timeout for join(); returns false if it timed out.
    template <class Rep, class Period>
    bool join_for(const std::chrono::duration<Rep, Period> &timeout)
    {
        int status = ql_queue_join(raw(), detail::timeout_us(timeout));
        if (status == QL_ERR_TIMEOUT) {
            return false;
        }
        detail::check(status);
        return true;
    }

private:
    friend class Drain;

    static ql_queue *create(Order order, std::int64_t maxsize)
    {
        ql_queue *handle = nullptr;
        detail::check(ql_queue_new(static_cast<int>(order), maxsize, &handle));
        return handle;
    }

    int put_with_timeout(std::string_view payload, Kind kind,
                         std::int64_t priority, std::int64_t timeout_us)
    {
        return ql_queue_put_priority(raw(), static_cast<int>(kind), priority,
                                     payload.data(), payload.size(),
                                     timeout_us);
    }

    // Returns how many messages were put and the status of the call.
    std::pair<std::size_t, int> put_batch_with_timeout(const std::vector<Message> &messages,
                                                       std::int64_t timeout_us)
    {
        std::vector<ql_msg> msgs(messages.size());
        for (std::size_t i = 0; i < messages.size(); i++) {
            msgs[i].kind = static_cast<std::int32_t>(messages[i].kind);
            msgs[i].priority = messages[i].priority;
            msgs[i].flags = messages[i].flags;
            msgs[i].data = const_cast<char *>(messages[i].payload.data());
            msgs[i].len = messages[i].payload.size();
        }
        std::size_t done = 0;
        int status = ql_queue_put_batch(raw(), msgs.data(), msgs.size(), timeout_us, &done);
        return {done, status};
    }

    // Takes a batch, returning an empty vector on QL_ERR_EMPTY and throwing
    // for every other failure.
    std::vector<Message> get_batch_with_timeout(std::size_t max, std::int64_t timeout_us)
    {
        std::vector<ql_msg> msgs(max);
        std::vector<char> buffer(64 * 1024);
        std::size_t count = 0;
        int status = ql_queue_get_batch(raw(), timeout_us, msgs.data(), msgs.size(),
                                        buffer.data(), buffer.size(), &count);
        if (status == QL_ERR_EMPTY) {
            return {};
        }
        detail::check(status);

        // Releases the messages not taken yet, also when take() throws.
        struct ReleaseRest {
            std::vector<ql_msg> &msgs;
            std::size_t next;
            std::size_t count;
            ~ReleaseRest()
            {
                for (; next < count; next++) {
                    ql_msg_free(&msgs[next]);
                }
            }
        } rest{msgs, 0, count};

        std::vector<Message> out;
        out.reserve(count);
        while (rest.next < count) {
            ql_msg &msg = msgs[rest.next++];
            out.push_back(take(msg));
        }
        return out;
    }

    static bool put_or_full(int status)
    {
        if (status == QL_ERR_FULL) {
            return false;
        }
        detail::check(status);
        return true;
    }

    // Takes a message, returning nothing on QL_ERR_EMPTY and throwing for
    // every other failure.
    std::optional<Message> get_with_timeout(std::int64_t timeout_us)
    {
        // Payloads that fit land here, and larger ones in memory that the
        // library allocates; either way they are copied into the Message.
        char buffer[4096];
        ql_msg msg{};
        int status = ql_queue_get(raw(), timeout_us, buffer, sizeof buffer, &msg);
        if (status == QL_ERR_EMPTY) {
            return std::nullopt;
        }
        detail::check(status);
        return take(msg);
    }

    // Moves a message that ql_queue_get() filled into a Message and
    // releases it, also when copying throws.
    static Message take(ql_msg &msg)
    {
        struct Release {
            ql_msg &msg;
            ~Release() { ql_msg_free(&msg); }
        } release{msg};

        Message out;
        out.kind = static_cast<Kind>(msg.kind);
        out.priority = msg.priority;
        out.flags = msg.flags;
        if ((msg.flags & QL_MSG_SPILLED) != 0) {
            load_spilled(msg, out);
        } else if (msg.len > 0) {
            out.payload.assign(static_cast<const char *>(msg.data), msg.len);
        }
        return out;
    }

    // Reads the payload of a spilled message from its spill file, which
    // ql_msg_free() then removes. If the file cannot be read, it is kept
    // and Error names it, because the message has left the queue.
    static void load_spilled(ql_msg &msg, Message &out)
    {
        std::string path(static_cast<const char *>(msg.data), msg.len);
        std::ifstream file(path, std::ios::binary);
        if (file) {
            out.payload.assign(std::istreambuf_iterator<char>(file),
                               std::istreambuf_iterator<char>());
        }
        if (!file.is_open() || file.bad()) {
            msg.flags &= ~static_cast<std::uint32_t>(QL_MSG_SPILLED);
            throw Error(QL_ERR_IO, "reading the spill file " + path +
                                       " failed; the file is kept and holds "
                                       "the payload of the message taken");
        }
        out.flags &= ~static_cast<std::uint32_t>(QL_MSG_SPILLED);
    }
};

// An input range over a queue's messages that ends at QL_ERR_CLOSED; see
// Queue::drain(). Each iterator step blocks until a message arrives or the
// queue is closed and empty, and other failures throw Error.
class Queue::Drain {
public:
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = Message;
        using difference_type = std::ptrdiff_t;
        using pointer = Message *;
        using reference = Message &;

        // The end iterator.
        iterator() = default;

        explicit iterator(Queue *queue) : queue_(queue) { advance(); }

        Message &operator*() { return current_; }
        Message *operator->() { return &current_; }

        iterator &operator++()
        {
            advance();
            return *this;
        }
        void operator++(int) { advance(); }

        // Iterators compare equal when both are at the end, or both still
        // read the same queue.
        friend bool operator==(const iterator &a, const iterator &b)
        {
            return a.queue_ == b.queue_;
        }
        friend bool operator!=(const iterator &a, const iterator &b)
        {
            return !(a == b);
        }

    private:
        void advance()
        {
            char buffer[4096];
            ql_msg msg{};
            int status = ql_queue_get(queue_->raw(), -1, buffer, sizeof buffer, &msg);
            if (status == QL_ERR_CLOSED) {
                queue_ = nullptr;
                return;
            }
            detail::check(status);
            current_ = Queue::take(msg);
        }

        Queue *queue_ = nullptr;
        Message current_;
    };

    explicit Drain(Queue &queue) noexcept : queue_(&queue) {}

    // Blocks for the first message.
    iterator begin() { return iterator(queue_); }
    iterator end() { return iterator(); }

private:
    Queue *queue_;
};

inline Queue::Drain Queue::drain() { return Drain(*this); }

/* ------------------------------------------------------------------------
 * Logging
 * ---------------------------------------------------------------------- */

// Engine log levels: QL_LOG_*, the numbers of Python's logging module.
enum class LogLevel : int {
    debug = QL_LOG_DEBUG,
    info = QL_LOG_INFO,
    warning = QL_LOG_WARNING,
    error = QL_LOG_ERROR,
};

// Sends the engine's log records at or above level to queue as text
// messages "LEVEL\tLOGGER\tMESSAGE"; see ql_log_attach().
inline void attach_log(const Queue &queue, LogLevel level = LogLevel::info)
{
    detail::check(ql_log_attach(queue.raw(), static_cast<int>(level)));
}

// Stops sending log records, which is the default.
inline void detach_log() { detail::check(ql_log_attach(nullptr, QL_LOG_INFO)); }

/* ------------------------------------------------------------------------
 * Links
 * ---------------------------------------------------------------------- */

// The side of a link a queue is registered on: QL_SOURCE or
// QL_DESTINATION.
enum class Direction : int {
    source = QL_SOURCE,
    destination = QL_DESTINATION,
};

// Metrics of one source's publisher over its last 100 messages at most.
struct SourceMetrics {
    std::int64_t id = 0;               // the source's id on the link
    std::uint64_t count = 0;           // messages moved since registration
    std::int64_t data_point_count = 0; // messages in the window
    std::chrono::duration<double> mean{};   // how long messages waited
    std::chrono::duration<double> median{};
    std::chrono::duration<double> stddev{}; // population standard deviation
};

// Link owns a ql_link, which moves every message of its sources to all its
// destinations. Freeing it stops the publishers and leaves the queues open.
class Link : public detail::Owner<ql_link, ql_link_free> {
public:
    // Creates a link with no queues; name labels it in log records.
    explicit Link(std::string_view name = {}) : Owner(create(name)) {}

    // Takes ownership of a handle from ql_link_new().
    Link(adopt_t, ql_link *handle) noexcept : Owner(handle) {}

    // Registers queue in a direction and returns its id on this link.
    // Throws Error with QL_ERR_EXISTS when it is registered already.
    std::int64_t register_queue(const Queue &queue, Direction direction)
    {
        std::int64_t id = 0;
        detail::check(ql_link_register(raw(), queue.raw(),
                                       static_cast<int>(direction), &id));
        return id;
    }

    std::int64_t add_source(const Queue &queue)
    {
        return register_queue(queue, Direction::source);
    }

    std::int64_t add_destination(const Queue &queue)
    {
        return register_queue(queue, Direction::destination);
    }

    // Detaches the queue with that id. Throws Error with QL_ERR_NOT_FOUND
    // when no queue has that id in that direction.
    void unregister_queue(std::int64_t id, Direction direction)
    {
        detail::check(ql_link_unregister(raw(), id, static_cast<int>(direction)));
    }

    // Returns a second reference to the registered queue with that id. The
    // reference acts on the queue itself, but destroying it leaves the
    // queue open.
    Queue queue(std::int64_t id) const
    {
        ql_queue *handle = nullptr;
        detail::check(ql_link_queue(raw(), id, &handle));
        return Queue(adopt, handle);
    }

    // Stops every publisher and blocks until they have ended; registering
    // a queue starts them again.
    void stop() { detail::check(ql_link_stop(raw())); }

    // Whether the link moves messages: it has a source, was not stopped
    // since the last registration, and no publisher ended because its
    // source closed (see ql_link_is_alive()). Throws Error with
    // QL_ERR_STATE when no publisher was ever started.
    bool alive() const
    {
        int out = 0;
        detail::check(ql_link_is_alive(raw(), &out));
        return out != 0;
    }

    // Whether every registered queue is empty and no publisher has a
    // message in transit. With id > 0, only that queue and the sources
    // are checked.
    bool empty(std::int64_t id = 0) const
    {
        int out = 0;
        detail::check(ql_link_is_empty(raw(), id, &out));
        return out != 0;
    }

    // False before any publisher started, else empty().
    bool drained() const
    {
        int out = 0;
        detail::check(ql_link_is_drained(raw(), &out));
        return out != 0;
    }

    // The metrics of every source, in id order.
    std::vector<SourceMetrics> metrics() const
    {
        std::size_t count = 0;
        detail::check(ql_link_metrics(raw(), nullptr, 0, &count));
        std::vector<ql_source_metrics> raw_metrics;
        // A source registered between two calls makes count larger.
        while (raw_metrics.size() < count) {
            raw_metrics.resize(count);
            detail::check(ql_link_metrics(raw(), raw_metrics.data(),
                                          raw_metrics.size(), &count));
        }
        raw_metrics.resize(count);

        std::vector<SourceMetrics> out;
        out.reserve(count);
        for (const ql_source_metrics &m : raw_metrics) {
            SourceMetrics metrics;
            metrics.id = m.id;
            metrics.count = m.count;
            metrics.data_point_count = m.data_point_count;
            metrics.mean = std::chrono::duration<double>(m.mean);
            metrics.median = std::chrono::duration<double>(m.median);
            metrics.stddev = std::chrono::duration<double>(m.stddev);
            out.push_back(metrics);
        }
        return out;
    }

private:
    static ql_link *create(std::string_view name)
    {
        // The C interface takes a NUL-terminated string.
        std::string name_copy(name);
        ql_link *handle = nullptr;
        detail::check(ql_link_new(name_copy.c_str(), &handle));
        return handle;
    }
};

/* ------------------------------------------------------------------------
 * Readers and writers
 * ---------------------------------------------------------------------- */

// The framing of a reader, the way it splits its input: QL_FRAME_*.
enum class Framing : std::int32_t {
    lines = QL_FRAME_LINES,
    connection = QL_FRAME_CONNECTION,
};

// The wrap rule of a reader, for the lines it wraps and spills: QL_WRAP_*.
enum class Wrap : std::int32_t {
    never = QL_WRAP_NEVER,
    automatic = QL_WRAP_AUTO,
    always = QL_WRAP_ALWAYS,
};

// Options of a reader, with the defaults of ql_reader_options_init(). The
// fields mirror ql_reader_options.
struct ReaderOptions {
    Kind kind = Kind::text;
    Framing framing = Framing::lines;
    Wrap wrap = Wrap::never;
    std::int64_t wrap_threshold = 0; // bytes; 0 means 16384
    // When positive, bytes after the last '\n' are delivered once no data
    // has arrived for this long; zero waits for the '\n'.
    std::chrono::microseconds partial_line{0};
    std::string spill_dir; // empty: the system's temporary directory
    std::string name;      // label in log records; empty: the fd or path
};

// Reader owns a ql_reader, which puts the lines (or frames) of a file
// descriptor or path on a queue. Destroying it stops it, which blocks
// until it has stopped reading.
class Reader : public detail::Owner<ql_reader, ql_reader_free> {
public:
    // Takes ownership of a handle from a ql_reader_* constructor.
    Reader(adopt_t, ql_reader *handle) noexcept : Owner(handle) {}

    // Starts a reader of fd, which stays the caller's to close.
    static Reader open_fd(const Queue &queue, int fd,
                          const ReaderOptions &options = ReaderOptions())
    {
        Converted converted(options);
        ql_reader *handle = nullptr;
        detail::check(ql_reader_open_fd(queue.raw(), fd, &converted.options, &handle));
        return Reader(adopt, handle);
    }

    // Starts a reader of path, which the reader opens now and closes when
    // it ends.
    static Reader open_path(const Queue &queue, const std::string &path,
                            const ReaderOptions &options = ReaderOptions())
    {
        Converted converted(options);
        ql_reader *handle = nullptr;
        detail::check(ql_reader_open_path(queue.raw(), path.c_str(),
                                          &converted.options, &handle));
        return Reader(adopt, handle);
    }

    // Stops the reader and blocks until it has stopped reading.
    void stop() { detail::check(ql_reader_stop(raw())); }

    // Blocks until the reader ends. Throws Error with the status it ended
    // with unless it ended at end of file or by stop(): QL_ERR_IO after a
    // read error, QL_ERR_CLOSED when its queue was closed.
    void wait() { detail::check(ql_reader_wait(raw(), -1)); }

    // Waits at most timeout for the reader to end; returns false while it
    // still runs. Throws as wait() does once it has ended.
    template <class Rep, class Period>
    bool wait_for(const std::chrono::duration<Rep, Period> &timeout)
    {
        int status = ql_reader_wait(raw(), detail::timeout_us(timeout));
        if (status == QL_ERR_TIMEOUT) {
            return false;
        }
        detail::check(status);
        return true;
    }

    bool alive() const
    {
        int out = 0;
        detail::check(ql_reader_is_alive(raw(), &out));
        return out != 0;
    }

    // The number of messages the reader has put.
    std::uint64_t count() const
    {
        std::uint64_t out = 0;
        detail::check(ql_reader_count(raw(), &out));
        return out;
    }

private:
    // ReaderOptions as the C struct, which points into options' strings.
    struct Converted {
        ql_reader_options options{};

        explicit Converted(const ReaderOptions &from)
        {
            detail::check(ql_reader_options_init(&options));
            options.kind = static_cast<std::int32_t>(from.kind);
            options.framing = static_cast<std::int32_t>(from.framing);
            options.wrap = static_cast<std::int32_t>(from.wrap);
            options.wrap_threshold = from.wrap_threshold;
            options.partial_line_us = from.partial_line.count();
            options.spill_dir = from.spill_dir.empty() ? nullptr : from.spill_dir.c_str();
            options.name = from.name.empty() ? nullptr : from.name.c_str();
        }
    };
};

// The mode in which a writer opens its path: QL_WRITE_*.
enum class WriteMode : int {
    truncate = QL_WRITE_TRUNCATE,
    append = QL_WRITE_APPEND,
};

// Writer owns a ql_writer, which writes the payload of every message of a
// queue to a file descriptor or path. Destroying it stops it, which blocks
// until it has flushed and ended.
class Writer : public detail::Owner<ql_writer, ql_writer_free> {
public:
    // Takes ownership of a handle from ql_writer_new_fd() or
    // ql_writer_new_path().
    Writer(adopt_t, ql_writer *handle) noexcept : Owner(handle) {}

    // Starts a writer to fd, which stays the caller's to close.
    static Writer open_fd(const Queue &queue, int fd)
    {
        ql_writer *handle = nullptr;
        detail::check(ql_writer_new_fd(queue.raw(), fd, &handle));
        return Writer(adopt, handle);
    }

    // Starts a writer to path, opened with mode when the first message
    // arrives.
    static Writer open_path(const Queue &queue, const std::string &path,
                            WriteMode mode = WriteMode::truncate)
    {
        ql_writer *handle = nullptr;
        detail::check(ql_writer_new_path(queue.raw(), path.c_str(),
                                         static_cast<int>(mode), &handle));
        return Writer(adopt, handle);
    }

    // Stops the writer and blocks until it has flushed and ended. Messages
    // still in the queue stay there. A pipe or socket that takes no data
    // makes it wait about a second, and wait() then throws QL_ERR_IO.
    void stop() { detail::check(ql_writer_stop(raw())); }

    // Blocks until the writer ends, after stop() or once its queue is
    // closed and empty. Throws Error with QL_ERR_IO after a write error.
    void wait() { detail::check(ql_writer_wait(raw(), -1)); }

    // Waits at most timeout for the writer to end; returns false while it
    // still runs. Throws as wait() does once it has ended.
    template <class Rep, class Period>
    bool wait_for(const std::chrono::duration<Rep, Period> &timeout)
    {
        int status = ql_writer_wait(raw(), detail::timeout_us(timeout));
        if (status == QL_ERR_TIMEOUT) {
            return false;
        }
        detail::check(status);
        return true;
    }

    bool alive() const
    {
        int out = 0;
        detail::check(ql_writer_is_alive(raw(), &out));
        return out != 0;
    }

    // The number of messages the writer has written.
    std::uint64_t count() const
    {
        std::uint64_t out = 0;
        detail::check(ql_writer_count(raw(), &out));
        return out;
    }
};

} // namespace queuelink

#endif // QUEUELINK_HPP

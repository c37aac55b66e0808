// test_queuelink.cpp: GoogleTest tests of the C++ layer in queuelink.hpp,
// run against the real libqueuelink.so.
//
// Every blocking call has a timeout or a thread of the test that wakes it.
// A watchdog also ends the program with status 2 after WATCHDOG_SECONDS,
// so a hang shows up as a failure.

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "queuelink.hpp"

namespace ql = queuelink;
using namespace std::chrono_literals;

namespace {

constexpr unsigned WATCHDOG_SECONDS = 120;

// The longest wait for something a test expects to happen. A slow machine
// stays well within it, and a failure still ends before the watchdog.
constexpr auto LONG_WAIT = 5s;

// A temporary directory, removed with its files at the end of a test.
class TempDir {
public:
    TempDir()
    {
        char pattern[] = "/tmp/queuelink-cpp-test-XXXXXX";
        if (mkdtemp(pattern) == nullptr) {
            throw std::runtime_error(std::string("mkdtemp failed: ") + std::strerror(errno));
        }
        path_ = pattern;
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;

    ~TempDir()
    {
        for (const std::string &name : entries()) {
            unlink((path_ + "/" + name).c_str());
        }
        rmdir(path_.c_str());
    }

    const std::string &path() const { return path_; }
    std::string file(const std::string &name) const { return path_ + "/" + name; }

    // The names of the files in the directory.
    std::vector<std::string> entries() const
    {
        std::vector<std::string> names;
        DIR *dir = opendir(path_.c_str());
        if (dir == nullptr) {
            return names;
        }
        while (dirent *entry = readdir(dir)) {
            std::string name = entry->d_name;
            if (name != "." && name != "..") {
                names.push_back(name);
            }
        }
        closedir(dir);
        return names;
    }

private:
    std::string path_;
};

// A pipe whose ends close with the object.
class Pipe {
public:
    Pipe()
    {
        if (pipe(fds_) != 0) {
            throw std::runtime_error(std::string("pipe failed: ") + std::strerror(errno));
        }
    }
    Pipe(const Pipe &) = delete;
    Pipe &operator=(const Pipe &) = delete;
    ~Pipe()
    {
        close_read();
        close_write();
    }

    int read_fd() const { return fds_[0]; }
    int write_fd() const { return fds_[1]; }

    void write(const std::string &data)
    {
        ASSERT_EQ(::write(fds_[1], data.data(), data.size()),
                  static_cast<ssize_t>(data.size()));
    }

    void close_read() { close_end(0); }
    void close_write() { close_end(1); }

private:
    void close_end(int end)
    {
        if (fds_[end] >= 0) {
            ::close(fds_[end]);
            fds_[end] = -1;
        }
    }

    int fds_[2] = {-1, -1};
};

std::string read_file(const std::string &path)
{
    std::ifstream file(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

void write_file(const std::string &path, const std::string &content)
{
    std::ofstream file(path, std::ios::binary);
    file << content;
}

// Returns a file descriptor number that is not open.
int unused_fd()
{
    int fd = 900;
    while (fcntl(fd, F_GETFD) != -1) {
        fd++;
    }
    return fd;
}

// Runs call, which must throw queuelink::Error, and returns its status.
template <class Call>
int status_thrown(Call call)
{
    try {
        call();
    } catch (const ql::Error &error) {
        return error.status();
    }
    return QL_OK;
}

// Polls condition every millisecond for at most LONG_WAIT.
template <class Condition>
bool eventually(Condition condition)
{
    auto deadline = std::chrono::steady_clock::now() + LONG_WAIT;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

// ------------------------------------------------------------------------
// Types
// ------------------------------------------------------------------------

static_assert(!std::is_copy_constructible_v<ql::Queue>);
static_assert(!std::is_copy_assignable_v<ql::Queue>);
static_assert(std::is_nothrow_move_constructible_v<ql::Queue>);
static_assert(std::is_nothrow_move_assignable_v<ql::Queue>);
static_assert(!std::is_copy_constructible_v<ql::Link>);
static_assert(std::is_nothrow_move_constructible_v<ql::Link>);
static_assert(!std::is_copy_constructible_v<ql::Reader>);
static_assert(std::is_nothrow_move_constructible_v<ql::Reader>);
static_assert(!std::is_copy_constructible_v<ql::Writer>);
static_assert(std::is_nothrow_move_constructible_v<ql::Writer>);
static_assert(std::is_base_of_v<std::runtime_error, ql::Error>);

TEST(Version, LibraryMatchesHeader)
{
    EXPECT_EQ(ql::library_version(), QL_VERSION_NUMBER);
    EXPECT_EQ(ql::header_version, QL_VERSION_NUMBER);
}

TEST(Error, CarriesStatusAndLibraryMessage)
{
    ql::Queue queue;
    queue.close();
    try {
        queue.put("late");
        FAIL() << "put on a closed queue did not throw";
    } catch (const ql::Error &error) {
        EXPECT_EQ(error.status(), QL_ERR_CLOSED);
        EXPECT_STREQ(error.status_name(), ql_strerror(QL_ERR_CLOSED));
        EXPECT_STRNE(error.what(), "");
        EXPECT_STREQ(error.what(), ql_errmsg());
    }
}

TEST(Timeout, ConvertsToMicroseconds)
{
    using ql::detail::timeout_us;
    EXPECT_EQ(timeout_us(0s), 0);
    EXPECT_EQ(timeout_us(-5s), 0);
    EXPECT_EQ(timeout_us(1ns), 1);
    EXPECT_EQ(timeout_us(1500ns), 2);
    EXPECT_EQ(timeout_us(3ms), 3000);
    EXPECT_EQ(timeout_us(2s), 2000000);
    EXPECT_EQ(timeout_us(std::chrono::duration<double>(0.25)), 250000);
    EXPECT_EQ(timeout_us(std::chrono::hours::max()), -1);
    EXPECT_EQ(timeout_us(std::chrono::microseconds::max()), -1);
    EXPECT_EQ(timeout_us(std::chrono::nanoseconds::max()),
              std::numeric_limits<std::int64_t>::max() / 1000 + 1);
}

// ------------------------------------------------------------------------
// Queue
// ------------------------------------------------------------------------

TEST(Queue, PutAndGetKeepKindAndPayload)
{
    ql::Queue queue;
    const std::string binary("a\0b\xff", 4);

    queue.put("text");
    queue.put(binary, ql::Kind::bytes);
    queue.put("\x80\x05pickle.", ql::Kind::pickle);
    queue.put("", ql::Kind::bytes);
    EXPECT_EQ(queue.size(), 4);

    ql::Message text = queue.get();
    EXPECT_EQ(text.kind, ql::Kind::text);
    EXPECT_EQ(text.payload, "text");
    EXPECT_EQ(text.priority, 0);
    EXPECT_EQ(text.flags, 0u);
    EXPECT_FALSE(text.wrapped());

    ql::Message bytes = queue.get();
    EXPECT_EQ(bytes.kind, ql::Kind::bytes);
    EXPECT_EQ(bytes.payload, binary);

    ql::Message pickle = queue.get();
    EXPECT_EQ(pickle.kind, ql::Kind::pickle);
    EXPECT_EQ(pickle.payload, "\x80\x05pickle.");

    ql::Message empty = queue.get();
    EXPECT_EQ(empty.kind, ql::Kind::bytes);
    EXPECT_TRUE(empty.payload.empty());
    EXPECT_EQ(queue.size(), 0);
}

TEST(Queue, LargePayloadRoundTrips)
{
    ql::Queue queue;
    std::string large(1 << 20, '\0');
    for (std::size_t i = 0; i < large.size(); i++) {
        large[i] = static_cast<char>(i * 7);
    }
    queue.put(large, ql::Kind::bytes);
    ql::Message message = queue.get();
    EXPECT_EQ(message.payload.size(), large.size());
    EXPECT_EQ(message.payload, large);
}

TEST(Queue, OrdersFifoLifoAndPriority)
{
    ql::Queue fifo(ql::Order::fifo);
    ql::Queue lifo(ql::Order::lifo);
    ql::Queue priority(ql::Order::priority);
    for (const char *item : {"1", "2", "3"}) {
        fifo.put(item);
        lifo.put(item);
    }
    priority.put("late", ql::Kind::text, 5);
    priority.put("first", ql::Kind::text, -1);
    priority.put("tie-a", ql::Kind::text, 2);
    priority.put("tie-b", ql::Kind::text, 2);

    EXPECT_EQ(fifo.get().payload, "1");
    EXPECT_EQ(fifo.get().payload, "2");
    EXPECT_EQ(lifo.get().payload, "3");
    EXPECT_EQ(lifo.get().payload, "2");

    ql::Message first = priority.get();
    EXPECT_EQ(first.payload, "first");
    EXPECT_EQ(first.priority, -1);
    EXPECT_EQ(priority.get().payload, "tie-a");
    EXPECT_EQ(priority.get().payload, "tie-b");
    EXPECT_EQ(priority.get().priority, 5);
}

TEST(Queue, TryGetReturnsNothingWhenEmpty)
{
    ql::Queue queue;
    EXPECT_FALSE(queue.try_get().has_value());

    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(queue.try_get_for(50ms).has_value());
    EXPECT_GE(std::chrono::steady_clock::now() - start, 45ms);

    queue.put("here");
    std::optional<ql::Message> message = queue.try_get();
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(message->payload, "here");
}

TEST(Queue, TryPutReturnsFalseWhenFull)
{
    ql::Queue queue(ql::Order::fifo, 2);
    EXPECT_EQ(queue.maxsize(), 2);
    EXPECT_TRUE(queue.try_put("a"));
    EXPECT_TRUE(queue.try_put_for("b", 10ms));
    EXPECT_FALSE(queue.try_put("c"));

    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(queue.try_put_for("c", 50ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 45ms);
    EXPECT_EQ(queue.size(), 2);

    // A consumer makes room while the put waits.
    std::thread consumer([&queue] {
        std::this_thread::sleep_for(20ms);
        queue.get();
    });
    EXPECT_TRUE(queue.try_put_for("c", LONG_WAIT));
    consumer.join();
    EXPECT_EQ(queue.get().payload, "b");
    EXPECT_EQ(queue.get().payload, "c");
}

TEST(Queue, BlockingPutWaitsForRoom)
{
    ql::Queue queue(ql::Order::fifo, 1);
    queue.put("first");
    std::atomic<bool> put_done{false};
    std::thread producer([&] {
        queue.put("second");
        put_done = true;
    });
    std::this_thread::sleep_for(30ms);
    EXPECT_FALSE(put_done);
    EXPECT_EQ(queue.get().payload, "first");
    producer.join();
    EXPECT_TRUE(put_done);
    EXPECT_EQ(queue.get().payload, "second");
}

TEST(Queue, CloseWakesBlockedGetWithClosed)
{
    ql::Queue queue;
    int status = QL_OK;
    std::thread consumer([&] { status = status_thrown([&] { queue.get(); }); });
    std::this_thread::sleep_for(30ms);
    queue.close();
    consumer.join();
    EXPECT_EQ(status, QL_ERR_CLOSED);
}

TEST(Queue, CloseWakesBlockedPutWithClosed)
{
    ql::Queue queue(ql::Order::fifo, 1);
    queue.put("fills the queue");
    int status = QL_OK;
    std::thread producer([&] { status = status_thrown([&] { queue.put("blocked"); }); });
    std::this_thread::sleep_for(30ms);
    queue.close();
    producer.join();
    EXPECT_EQ(status, QL_ERR_CLOSED);
}

TEST(Queue, ClosedQueueHandsOutRemainingMessages)
{
    ql::Queue queue;
    queue.put("left");
    EXPECT_FALSE(queue.closed());
    queue.close();
    queue.close();
    EXPECT_TRUE(queue.closed());

    EXPECT_EQ(status_thrown([&] { queue.put("late"); }), QL_ERR_CLOSED);
    EXPECT_EQ(status_thrown([&] { queue.try_put("late"); }), QL_ERR_CLOSED);
    EXPECT_EQ(queue.get().payload, "left");
    EXPECT_EQ(status_thrown([&] { queue.get(); }), QL_ERR_CLOSED);
    EXPECT_EQ(status_thrown([&] { queue.try_get(); }), QL_ERR_CLOSED);
    EXPECT_EQ(status_thrown([&] { queue.try_get_for(10ms); }), QL_ERR_CLOSED);
}

TEST(Queue, RejectsInvalidArguments)
{
    EXPECT_EQ(status_thrown([] { ql::Queue queue(static_cast<ql::Order>(42)); }),
              QL_ERR_INVALID);
    EXPECT_EQ(status_thrown([] { ql::Queue queue(ql::Order::fifo, std::int64_t{1} << 40); }),
              QL_ERR_INVALID);

    ql::Queue queue;
    EXPECT_EQ(status_thrown([&] { queue.put("x", static_cast<ql::Kind>(9)); }),
              QL_ERR_INVALID);
    ql::Message bad_flags;
    bad_flags.flags = 0x100;
    EXPECT_EQ(status_thrown([&] { queue.put(bad_flags); }), QL_ERR_INVALID);
    EXPECT_EQ(queue.size(), 0);
}

TEST(Queue, PutMessageKeepsEveryField)
{
    ql::Queue queue(ql::Order::priority);
    ql::Message message;
    message.kind = ql::Kind::text;
    message.priority = 7;
    message.flags = QL_MSG_WRAPPED;
    message.payload = "wrapped line\n";
    queue.put(message);

    ql::Message out = queue.get();
    EXPECT_EQ(out, message);
    EXPECT_TRUE(out.wrapped());
}

TEST(Queue, BatchesKeepOrderAndFields)
{
    ql::Queue queue;
    std::vector<ql::Message> batch(300);
    for (std::size_t i = 0; i < batch.size(); i++) {
        batch[i].kind = i % 2 == 0 ? ql::Kind::text : ql::Kind::bytes;
        batch[i].priority = static_cast<std::int64_t>(i);
        // Some payloads exceed the packing buffer, so both paths run.
        batch[i].payload = std::string(i % 100 == 0 ? 70000 : 10, static_cast<char>('a' + i % 26));
    }
    queue.put_batch(batch);
    EXPECT_EQ(queue.size(), 300);

    std::vector<ql::Message> first = queue.get_batch(100);
    ASSERT_EQ(first.size(), 100u);
    std::vector<ql::Message> rest = queue.try_get_batch_for(1000, 0s);
    ASSERT_EQ(rest.size(), 200u);
    first.insert(first.end(), rest.begin(), rest.end());
    for (std::size_t i = 0; i < batch.size(); i++) {
        EXPECT_EQ(first[i], batch[i]) << "message " << i;
    }
    EXPECT_TRUE(queue.try_get_batch_for(10, 20ms).empty());
}

TEST(Queue, BatchPutStopsWhenFull)
{
    ql::Queue queue(ql::Order::fifo, 3);
    std::vector<ql::Message> batch(5);
    for (std::size_t i = 0; i < batch.size(); i++) {
        batch[i].payload = std::to_string(i);
    }
    EXPECT_EQ(queue.try_put_batch_for(batch, 10ms), 3u);
    EXPECT_EQ(queue.size(), 3);
    EXPECT_EQ(queue.get().payload, "0");
}

TEST(Queue, BatchErrors)
{
    ql::Queue queue;
    std::vector<ql::Message> batch(2);
    batch[1].flags = 0x100;
    EXPECT_EQ(status_thrown([&] { queue.put_batch(batch); }), QL_ERR_INVALID);
    EXPECT_EQ(queue.size(), 0);

    queue.close();
    EXPECT_EQ(status_thrown([&] { queue.put_batch(std::vector<ql::Message>(1)); }),
              QL_ERR_CLOSED);
    EXPECT_EQ(status_thrown([&] { queue.get_batch(4); }), QL_ERR_CLOSED);
    EXPECT_EQ(status_thrown([&] { queue.try_get_batch_for(4, 1ms); }), QL_ERR_CLOSED);
}

TEST(Queue, TaskDoneAndJoin)
{
    ql::Queue queue;
    EXPECT_TRUE(queue.join_for(0s));
    queue.put("a");
    queue.put("b");
    EXPECT_FALSE(queue.join_for(10ms));

    std::thread worker([&queue] {
        for (int i = 0; i < 2; i++) {
            queue.get();
            queue.task_done();
        }
    });
    queue.join();
    worker.join();
    EXPECT_TRUE(queue.join_for(0s));
    EXPECT_EQ(status_thrown([&] { queue.task_done(); }), QL_ERR_STATE);
}

TEST(Queue, CloseWakesJoinWithClosed)
{
    ql::Queue queue;
    queue.put("never done");
    int status = QL_OK;
    std::thread waiter([&] { status = status_thrown([&] { queue.join(); }); });
    std::this_thread::sleep_for(30ms);
    queue.close();
    waiter.join();
    EXPECT_EQ(status, QL_ERR_CLOSED);
}

TEST(Queue, DrainEndsWhenClosedAndEmpty)
{
    ql::Queue queue(ql::Order::fifo, 4);
    constexpr int count = 1000;
    std::thread producer([&queue] {
        for (int i = 0; i < count; i++) {
            queue.put(std::to_string(i));
        }
        queue.close();
    });

    int expected = 0;
    for (ql::Message &message : queue.drain()) {
        EXPECT_EQ(message.payload, std::to_string(expected));
        expected++;
    }
    producer.join();
    EXPECT_EQ(expected, count);

    // A drained, closed queue gives an empty range at once.
    ql::Queue::Drain again = queue.drain();
    EXPECT_TRUE(again.begin() == again.end());
}

TEST(Queue, DrainIteratorSupportsArrowAndPostIncrement)
{
    ql::Queue queue;
    queue.put("one");
    queue.put("two");
    queue.close();

    ql::Queue::Drain range = queue.drain();
    auto it = range.begin();
    ASSERT_TRUE(it != range.end());
    EXPECT_EQ(it->payload, "one");
    it++;
    ASSERT_TRUE(it != range.end());
    EXPECT_EQ((*it).payload, "two");
    ++it;
    EXPECT_TRUE(it == range.end());
}

TEST(Queue, MoveTransfersOwnership)
{
    ql::Queue first;
    ql_queue *handle = first.raw();
    ASSERT_NE(handle, nullptr);
    first.put("kept");

    ql::Queue second(std::move(first));
    EXPECT_EQ(second.raw(), handle);
    EXPECT_EQ(first.raw(), nullptr); // NOLINT(bugprone-use-after-move)
    EXPECT_FALSE(static_cast<bool>(first));
    EXPECT_EQ(status_thrown([&] { first.put("x"); }), QL_ERR_HANDLE);
    EXPECT_EQ(status_thrown([&] { first.size(); }), QL_ERR_HANDLE);

    ql::Queue third;
    third = std::move(second);
    EXPECT_EQ(third.raw(), handle);
    EXPECT_EQ(third.get().payload, "kept");

    third = std::move(third);
    EXPECT_EQ(third.raw(), handle);
}

TEST(Queue, DestructorFreesAndClosesHandle)
{
    ql_queue *handle = nullptr;
    {
        ql::Queue queue;
        handle = queue.raw();
        int closed = -1;
        EXPECT_EQ(ql_queue_is_closed(handle, &closed), QL_OK);
    }
    int closed = -1;
    EXPECT_EQ(ql_queue_is_closed(handle, &closed), QL_ERR_HANDLE);
}

TEST(Queue, ReleaseAndAdoptInteroperateWithC)
{
    ql_queue *handle = nullptr;
    ASSERT_EQ(ql_queue_new(QL_ORDER_FIFO, 0, &handle), QL_OK);
    ASSERT_EQ(ql_queue_put(handle, QL_KIND_TEXT, "from C", 6, 0), QL_OK);

    ql::Queue adopted(ql::adopt, handle);
    EXPECT_EQ(adopted.raw(), handle);
    EXPECT_EQ(adopted.get().payload, "from C");
    adopted.put("from C++");

    ql_queue *released = adopted.release();
    EXPECT_EQ(released, handle);
    EXPECT_EQ(adopted.raw(), nullptr);

    // Without a buffer the library allocates the payload. The caller may
    // take it over and free it with ql_free() instead of ql_msg_free().
    ql_msg msg{};
    ASSERT_EQ(ql_queue_get(released, 0, nullptr, 0, &msg), QL_OK);
    EXPECT_EQ(msg.owned, 1);
    EXPECT_EQ(std::string(static_cast<const char *>(msg.data), msg.len), "from C++");
    void *payload = msg.data;
    msg = ql_msg{};
    ql_free(payload);
    EXPECT_EQ(ql_queue_free(released), QL_OK);
}

TEST(Queue, ResetFreesNow)
{
    ql::Queue queue;
    ql_queue *handle = queue.raw();
    queue.reset();
    EXPECT_EQ(queue.raw(), nullptr);
    int closed = 0;
    EXPECT_EQ(ql_queue_is_closed(handle, &closed), QL_ERR_HANDLE);
    queue.reset();
}

// ------------------------------------------------------------------------
// Link
// ------------------------------------------------------------------------

TEST(Link, FansOutToEveryDestination)
{
    ql::Queue source;
    ql::Queue left;
    ql::Queue right;
    ql::Link link("fan-out");
    std::int64_t source_id = link.add_source(source);
    std::int64_t left_id = link.add_destination(left);
    std::int64_t right_id = link.register_queue(right, ql::Direction::destination);
    EXPECT_EQ(source_id, 1);
    EXPECT_EQ(left_id, 2);
    EXPECT_EQ(right_id, 3);

    for (int i = 0; i < 100; i++) {
        source.put(std::to_string(i), ql::Kind::bytes, i);
    }
    for (int i = 0; i < 100; i++) {
        std::optional<ql::Message> a = left.try_get_for(LONG_WAIT);
        std::optional<ql::Message> b = right.try_get_for(LONG_WAIT);
        ASSERT_TRUE(a.has_value());
        ASSERT_TRUE(b.has_value());
        EXPECT_EQ(a->payload, std::to_string(i));
        EXPECT_EQ(a->kind, ql::Kind::bytes);
        EXPECT_EQ(a->priority, i);
        EXPECT_EQ(*a, *b);
    }
    EXPECT_TRUE(eventually([&] { return link.drained(); }));
    EXPECT_TRUE(link.empty());
    EXPECT_TRUE(link.empty(left_id));
    EXPECT_TRUE(link.alive());

    std::vector<ql::SourceMetrics> metrics = link.metrics();
    ASSERT_EQ(metrics.size(), 1u);
    EXPECT_EQ(metrics[0].id, source_id);
    EXPECT_EQ(metrics[0].count, 100u);
    EXPECT_EQ(metrics[0].data_point_count, 100);
    EXPECT_GE(metrics[0].mean.count(), 0.0);
    EXPECT_GE(metrics[0].median.count(), 0.0);
    EXPECT_GE(metrics[0].stddev.count(), 0.0);
}

TEST(Link, FansInFromEverySource)
{
    ql::Queue first;
    ql::Queue second;
    ql::Queue destination;
    ql::Link link;
    link.add_source(first);
    link.add_source(second);
    link.add_destination(destination);

    first.put("from first");
    second.put("from second");
    std::set<std::string> received;
    for (int i = 0; i < 2; i++) {
        std::optional<ql::Message> message = destination.try_get_for(LONG_WAIT);
        ASSERT_TRUE(message.has_value());
        received.insert(message->payload);
    }
    EXPECT_EQ(received, (std::set<std::string>{"from first", "from second"}));
    EXPECT_EQ(link.metrics().size(), 2u);
}

TEST(Link, StateBeforeFirstStart)
{
    ql::Link link;
    EXPECT_EQ(status_thrown([&] { link.alive(); }), QL_ERR_STATE);
    EXPECT_FALSE(link.drained());
    EXPECT_TRUE(link.metrics().empty());
}

TEST(Link, RejectsDuplicateAndUnknownQueues)
{
    ql::Queue source;
    ql::Queue destination;
    ql::Link link;
    std::int64_t id = link.add_source(source);
    link.add_destination(destination);

    EXPECT_EQ(status_thrown([&] { link.add_source(source); }), QL_ERR_EXISTS);
    EXPECT_EQ(status_thrown([&] { link.add_destination(source); }), QL_ERR_EXISTS);
    EXPECT_EQ(status_thrown([&] {
                  link.register_queue(destination, static_cast<ql::Direction>(5));
              }),
              QL_ERR_INVALID);
    EXPECT_EQ(status_thrown([&] { link.unregister_queue(99, ql::Direction::source); }),
              QL_ERR_NOT_FOUND);
    EXPECT_EQ(status_thrown([&] { link.unregister_queue(id, ql::Direction::destination); }),
              QL_ERR_NOT_FOUND);
    EXPECT_EQ(status_thrown([&] { link.queue(99); }), QL_ERR_NOT_FOUND);
    EXPECT_EQ(status_thrown([&] { link.empty(99); }), QL_ERR_NOT_FOUND);

    ql::Queue moved_from;
    ql::Queue owner(std::move(moved_from));
    EXPECT_EQ(status_thrown([&] { link.add_source(moved_from); }), QL_ERR_HANDLE);
}

TEST(Link, UnregisterStopsDelivery)
{
    ql::Queue source;
    ql::Queue kept;
    ql::Queue removed;
    ql::Link link;
    link.add_source(source);
    link.add_destination(kept);
    std::int64_t removed_id = link.add_destination(removed);

    link.unregister_queue(removed_id, ql::Direction::destination);
    source.put("after unregister");
    std::optional<ql::Message> message = kept.try_get_for(LONG_WAIT);
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(message->payload, "after unregister");
    EXPECT_FALSE(removed.try_get_for(50ms).has_value());
}

TEST(Link, StopKeepsMessagesUntilRestart)
{
    ql::Queue source;
    ql::Queue destination;
    ql::Link link;
    link.add_source(source);
    link.add_destination(destination);
    link.stop();
    link.stop();
    EXPECT_FALSE(link.alive());

    source.put("waits");
    EXPECT_FALSE(destination.try_get_for(50ms).has_value());
    EXPECT_EQ(source.size(), 1);

    // Registering a queue starts the publishers again.
    ql::Queue second;
    link.add_destination(second);
    std::optional<ql::Message> message = destination.try_get_for(LONG_WAIT);
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(message->payload, "waits");
    EXPECT_TRUE(link.alive());
}

TEST(Link, QueueReferenceActsOnTheQueue)
{
    ql::Queue destination;
    ql::Link link;
    std::int64_t id = link.add_destination(destination);
    {
        ql::Queue reference = link.queue(id);
        EXPECT_NE(reference.raw(), destination.raw());
        reference.put("through the reference");
        EXPECT_EQ(destination.size(), 1);
    }
    // Destroying the reference left the queue open.
    EXPECT_FALSE(destination.closed());
    EXPECT_EQ(destination.get().payload, "through the reference");

    // A reference outlives the registration and the link.
    ql::Queue reference = link.queue(id);
    link.unregister_queue(id, ql::Direction::destination);
    link.reset();
    reference.put("after the link");
    EXPECT_EQ(destination.get().payload, "after the link");
    reference.close();
    EXPECT_TRUE(destination.closed());
}

TEST(Link, MoveAndAdopt)
{
    ql_link *handle = nullptr;
    ASSERT_EQ(ql_link_new("adopted", &handle), QL_OK);
    ql::Link adopted(ql::adopt, handle);
    ql::Link moved(std::move(adopted));
    EXPECT_EQ(moved.raw(), handle);
    EXPECT_EQ(adopted.raw(), nullptr); // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(status_thrown([&] { adopted.stop(); }), QL_ERR_HANDLE);

    ql::Queue source;
    ql::Queue destination;
    moved.add_source(source);
    moved.add_destination(destination);
    source.put("through the adopted link");
    std::optional<ql::Message> message = destination.try_get_for(LONG_WAIT);
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(message->payload, "through the adopted link");

    ql_link *released = moved.release();
    EXPECT_EQ(ql_link_free(released), QL_OK);
}

TEST(Link, DestructorLeavesQueuesOpen)
{
    ql::Queue source;
    ql::Queue destination;
    {
        ql::Link link;
        link.add_source(source);
        link.add_destination(destination);
    }
    EXPECT_FALSE(source.closed());
    EXPECT_FALSE(destination.closed());
    source.put("not moved");
    EXPECT_FALSE(destination.try_get_for(30ms).has_value());
    EXPECT_EQ(source.size(), 1);
}

// ------------------------------------------------------------------------
// Reader
// ------------------------------------------------------------------------

TEST(Reader, ReadsLinesFromDescriptor)
{
    ql::Queue queue;
    Pipe pipe;
    ql::Reader reader = ql::Reader::open_fd(queue, pipe.read_fd());
    pipe.close_read(); // the reader has its own copy

    EXPECT_TRUE(reader.alive());
    EXPECT_FALSE(reader.wait_for(20ms));
    pipe.write("one\ntwo\nlast without newline");
    pipe.close_write();

    reader.wait();
    EXPECT_FALSE(reader.alive());
    EXPECT_EQ(reader.count(), 3u);
    EXPECT_TRUE(reader.wait_for(0s));

    ql::Message first = queue.get();
    EXPECT_EQ(first.kind, ql::Kind::text);
    EXPECT_EQ(first.payload, "one\n");
    EXPECT_EQ(queue.get().payload, "two\n");
    EXPECT_EQ(queue.get().payload, "last without newline");
}

TEST(Reader, OptionsSelectKindAndPartialLines)
{
    ql::Queue queue;
    Pipe pipe;
    ql::ReaderOptions options;
    options.kind = ql::Kind::bytes;
    options.partial_line = 20ms;
    options.name = "prompt reader";
    ql::Reader reader = ql::Reader::open_fd(queue, pipe.read_fd(), options);

    pipe.write("prompt> ");
    std::optional<ql::Message> prompt = queue.try_get_for(LONG_WAIT);
    ASSERT_TRUE(prompt.has_value());
    EXPECT_EQ(prompt->kind, ql::Kind::bytes);
    EXPECT_EQ(prompt->payload, "prompt> ");

    reader.stop();
    EXPECT_FALSE(reader.alive());
    reader.wait();
}

TEST(Reader, SpilledLinesArriveInMemory)
{
    TempDir spill;
    TempDir input_dir;
    std::string input = input_dir.file("input.txt");
    const std::string long_line = "this line is longer than the threshold\n";
    write_file(input, "short\n" + long_line);

    ql::Queue queue;
    ql::ReaderOptions options;
    options.wrap = ql::Wrap::automatic;
    options.wrap_threshold = 10;
    options.spill_dir = spill.path();
    ql::Reader reader = ql::Reader::open_path(queue, input, options);
    reader.wait();

    ql::Message short_line = queue.get();
    EXPECT_EQ(short_line.payload, "short\n");
    EXPECT_FALSE(short_line.wrapped());

    EXPECT_EQ(spill.entries().size(), 1u);
    ql::Message spilled = queue.get();
    EXPECT_EQ(spilled.payload, long_line);
    EXPECT_TRUE(spilled.wrapped());
    EXPECT_EQ(spilled.flags & QL_MSG_SPILLED, 0u);
    EXPECT_TRUE(spill.entries().empty()) << "the spill file was not removed";
}

TEST(Queue, MissingSpillFileThrowsIoError)
{
    // A spilled message whose file is gone cannot be loaded.
    TempDir dir;
    std::string path = dir.file("spill");
    write_file(path, "payload");
    ql::Queue queue;
    ql::Message message;
    message.kind = ql::Kind::text;
    message.flags = QL_MSG_SPILLED;
    message.payload = path;
    queue.put(message);
    unlink(path.c_str());

    try {
        queue.get();
        FAIL() << "get of a message whose spill file is gone did not throw";
    } catch (const ql::Error &error) {
        EXPECT_EQ(error.status(), QL_ERR_IO);
        EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
    }
    EXPECT_EQ(queue.size(), 0);
}

TEST(Reader, RejectsBadDescriptorsPathsAndOptions)
{
    ql::Queue queue;
    EXPECT_EQ(status_thrown([&] { ql::Reader::open_fd(queue, -1); }), QL_ERR_INVALID);
    EXPECT_EQ(status_thrown([&] { ql::Reader::open_fd(queue, unused_fd()); }), QL_ERR_IO);
    EXPECT_EQ(status_thrown([&] { ql::Reader::open_path(queue, "/nonexistent/queuelink/input"); }),
              QL_ERR_IO);

    Pipe pipe;
    ql::ReaderOptions negative_partial;
    negative_partial.partial_line = -1ms;
    EXPECT_EQ(status_thrown([&] { ql::Reader::open_fd(queue, pipe.read_fd(), negative_partial); }),
              QL_ERR_INVALID);
    ql::ReaderOptions text_frames;
    text_frames.framing = ql::Framing::connection;
    EXPECT_EQ(status_thrown([&] { ql::Reader::open_fd(queue, pipe.read_fd(), text_frames); }),
              QL_ERR_INVALID);
    ql::ReaderOptions bad_wrap;
    bad_wrap.wrap = static_cast<ql::Wrap>(9);
    EXPECT_EQ(status_thrown([&] { ql::Reader::open_fd(queue, pipe.read_fd(), bad_wrap); }),
              QL_ERR_INVALID);

    ql::Queue moved_from;
    ql::Queue owner(std::move(moved_from));
    EXPECT_EQ(status_thrown([&] { ql::Reader::open_fd(moved_from, pipe.read_fd()); }),
              QL_ERR_HANDLE);
}

TEST(Reader, ReadsConnectionFrames)
{
    ql::Queue queue;
    Pipe pipe;
    ql::ReaderOptions options;
    options.kind = ql::Kind::pickle;
    options.framing = ql::Framing::connection;
    ql::Reader reader = ql::Reader::open_fd(queue, pipe.read_fd(), options);

    const std::string payload = "\x80\x05K\x07.";
    std::string frame = {0, 0, 0, static_cast<char>(payload.size())};
    pipe.write(frame + payload);
    pipe.close_write();
    reader.wait();

    ql::Message message = queue.get();
    EXPECT_EQ(message.kind, ql::Kind::pickle);
    EXPECT_EQ(message.payload, payload);
}

TEST(Reader, CutFrameEndsWithIoError)
{
    ql::Queue queue;
    Pipe pipe;
    ql::ReaderOptions options;
    options.kind = ql::Kind::bytes;
    options.framing = ql::Framing::connection;
    ql::Reader reader = ql::Reader::open_fd(queue, pipe.read_fd(), options);
    pipe.write(std::string{0, 0, 0, 10} + "cut");
    pipe.close_write();

    EXPECT_EQ(status_thrown([&] { reader.wait(); }), QL_ERR_IO);
    EXPECT_EQ(status_thrown([&] { reader.wait_for(1ms); }), QL_ERR_IO);
}

TEST(Reader, ClosedQueueEndsReaderWithClosed)
{
    ql::Queue queue;
    queue.close();
    Pipe pipe;
    ql::Reader reader = ql::Reader::open_fd(queue, pipe.read_fd());
    pipe.write("line\n");
    EXPECT_EQ(status_thrown([&] { reader.wait(); }), QL_ERR_CLOSED);
    EXPECT_EQ(reader.count(), 0u);
}

TEST(Reader, MoveAndAdopt)
{
    ql::Queue queue;
    Pipe pipe;
    ql_reader *handle = nullptr;
    ASSERT_EQ(ql_reader_new_fd(queue.raw(), pipe.read_fd(), QL_KIND_TEXT, &handle), QL_OK);
    ql::Reader adopted(ql::adopt, handle);
    ql::Reader moved(std::move(adopted));
    EXPECT_EQ(moved.raw(), handle);
    EXPECT_EQ(status_thrown([&] { adopted.alive(); }), QL_ERR_HANDLE); // NOLINT(bugprone-use-after-move)

    pipe.write("adopted\n");
    pipe.close_write();
    moved.wait();
    EXPECT_EQ(queue.get().payload, "adopted\n");
}

// ------------------------------------------------------------------------
// Writer
// ------------------------------------------------------------------------

TEST(Writer, WritesPayloadsToPath)
{
    TempDir dir;
    std::string path = dir.file("out.txt");
    ql::Queue queue;
    ql::Writer writer = ql::Writer::open_path(queue, path);
    EXPECT_TRUE(writer.alive());
    EXPECT_FALSE(writer.wait_for(10ms));

    queue.put("text\n");
    queue.put(std::string("bytes\0\n", 7), ql::Kind::bytes);
    queue.put("pickle", ql::Kind::pickle);
    queue.close();
    writer.wait();
    EXPECT_FALSE(writer.alive());
    EXPECT_EQ(writer.count(), 3u);
    EXPECT_EQ(read_file(path), std::string("text\nbytes\0\npickle", 18));

    // Append mode keeps what is there.
    ql::Queue more;
    ql::Writer appender = ql::Writer::open_path(more, path, ql::WriteMode::append);
    more.put("+more");
    more.close();
    appender.wait();
    EXPECT_EQ(read_file(path), std::string("text\nbytes\0\npickle+more", 23));
}

TEST(Writer, StopFlushesAndLeavesQueueOpen)
{
    ql::Queue queue;
    Pipe pipe;
    ql::Writer writer = ql::Writer::open_fd(queue, pipe.write_fd());
    pipe.close_write(); // the writer has its own copy

    queue.put("line\n");
    ASSERT_TRUE(eventually([&] { return writer.count() == 1; }));
    writer.stop();
    EXPECT_FALSE(writer.alive());
    EXPECT_TRUE(writer.wait_for(0s));
    EXPECT_FALSE(queue.closed());

    // The writer's copy is closed, so the pipe reaches end of file.
    std::string out;
    char buffer[64];
    ssize_t n;
    while ((n = read(pipe.read_fd(), buffer, sizeof buffer)) > 0) {
        out.append(buffer, static_cast<std::size_t>(n));
    }
    EXPECT_EQ(out, "line\n");

    queue.put("stays");
    EXPECT_EQ(queue.size(), 1);
}

TEST(Writer, RejectsBadDescriptorsAndPaths)
{
    ql::Queue queue;
    EXPECT_EQ(status_thrown([&] { ql::Writer::open_fd(queue, -1); }), QL_ERR_INVALID);
    EXPECT_EQ(status_thrown([&] { ql::Writer::open_fd(queue, unused_fd()); }), QL_ERR_IO);
    EXPECT_EQ(status_thrown([&] { ql::Writer::open_path(queue, "/nonexistent/queuelink/out"); }),
              QL_ERR_IO);
    TempDir dir;
    EXPECT_EQ(status_thrown([&] {
                  ql::Writer::open_path(queue, dir.file("x"), static_cast<ql::WriteMode>(3));
              }),
              QL_ERR_INVALID);
}

TEST(Writer, WriteErrorEndsWithIoError)
{
    ql::Queue queue;
    Pipe pipe;
    ql::Writer writer = ql::Writer::open_fd(queue, pipe.write_fd());
    pipe.close_read();

    // Writing to a pipe without a reader fails with EPIPE; the SIGPIPE it
    // also raises is ignored here so the test process survives it.
    struct sigaction ignore{};
    struct sigaction previous{};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, &previous);
    queue.put("nobody reads this\n");
    EXPECT_EQ(status_thrown([&] { writer.wait(); }), QL_ERR_IO);
    sigaction(SIGPIPE, &previous, nullptr);
}

TEST(Writer, MoveAndAdopt)
{
    TempDir dir;
    std::string path = dir.file("adopted.txt");
    ql::Queue queue;
    ql_writer *handle = nullptr;
    ASSERT_EQ(ql_writer_new_path(queue.raw(), path.c_str(), QL_WRITE_TRUNCATE, &handle), QL_OK);
    ql::Writer adopted(ql::adopt, handle);
    ql::Writer moved(std::move(adopted));
    EXPECT_EQ(moved.raw(), handle);
    EXPECT_EQ(status_thrown([&] { adopted.count(); }), QL_ERR_HANDLE); // NOLINT(bugprone-use-after-move)

    queue.put("adopted\n");
    queue.close();
    moved.wait();
    EXPECT_EQ(read_file(path), "adopted\n");
}

// ------------------------------------------------------------------------
// Logging
// ------------------------------------------------------------------------

TEST(Log, RecordsReachAttachedQueue)
{
    ql::Queue log_queue;
    ql::attach_log(log_queue, ql::LogLevel::debug);

    ql::Queue queue;
    {
        TempDir dir;
        std::string input = dir.file("input.txt");
        write_file(input, "line\n");
        ql::ReaderOptions options;
        options.name = "logged reader";
        ql::Reader reader = ql::Reader::open_path(queue, input, options);
        reader.wait();
    }
    ql::detach_log();

    bool found = false;
    while (std::optional<ql::Message> record = log_queue.try_get()) {
        EXPECT_EQ(record->kind, ql::Kind::text);
        if (record->payload.find("logged reader") != std::string::npos) {
            found = true;
        }
    }
    EXPECT_TRUE(found) << "no log record names the reader";
}

TEST(Log, RejectsLevelOutOfRange)
{
    ql::Queue log_queue;
    // Levels between the named ones are thresholds too.
    ql::attach_log(log_queue, static_cast<ql::LogLevel>(25));
    ql::detach_log();
    EXPECT_EQ(status_thrown([&] { ql::attach_log(log_queue, static_cast<ql::LogLevel>(5)); }),
              QL_ERR_INVALID);
    EXPECT_EQ(status_thrown([&] { ql::attach_log(log_queue, static_cast<ql::LogLevel>(50)); }),
              QL_ERR_INVALID);
}

} // namespace

[[noreturn]] static void on_watchdog(int)
{
    static const char message[] = "test_queuelink_cpp: watchdog: the tests ran too long\n";
    ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
    (void)ignored;
    _exit(2);
}

int main(int argc, char **argv)
{
    struct sigaction action{};
    action.sa_handler = on_watchdog;
    sigaction(SIGALRM, &action, nullptr);
    alarm(WATCHDOG_SECONDS);

    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}

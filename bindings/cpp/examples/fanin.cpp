// fanin.cpp: several producer threads fanned in through a link to one
// consumer.
//
// Each producer thread puts MESSAGES numbered messages on its own bounded
// source queue. A link moves every message of the sources to one
// destination queue, and the consumer iterates over it until it is closed.
// At the end the program checks that the consumer got exactly MESSAGES
// messages from each producer, each producer's in the order it put them,
// and exits with status 1 if not.
//
// Usage: fanin [PRODUCERS [MESSAGES]], 4 and 25000 by default.
//
// Build it against the library in build/, from the repository root:
//   g++ -std=c++17 -Iinclude -Ibindings/cpp -o fanin bindings/cpp/examples/fanin.cpp -Lbuild -lqueuelink -Wl,-rpath,$PWD/build -pthread

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "queuelink.hpp"

namespace {

// Payloads are "PRODUCER:SEQUENCE".
std::string payload(std::size_t producer, std::uint64_t sequence)
{
    return std::to_string(producer) + ":" + std::to_string(sequence);
}

// Splits a payload made by payload(); returns false for any other text.
bool parse(const std::string &text, std::size_t &producer, std::uint64_t &sequence)
{
    std::size_t colon = text.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
        return false;
    }
    producer = std::stoul(text.substr(0, colon));
    sequence = std::stoull(text.substr(colon + 1));
    return true;
}

// Counts of the messages that the consumer got from one producer.
struct Tally {
    std::uint64_t count = 0;
    std::uint64_t out_of_order = 0;
};

int run(std::size_t producers, std::uint64_t messages)
{
    namespace ql = queuelink;
    using namespace std::chrono_literals;

    // Bounded queues, so fast producers wait for the link instead of
    // filling memory.
    std::vector<ql::Queue> sources;
    for (std::size_t i = 0; i < producers; i++) {
        sources.emplace_back(ql::Order::fifo, 1024);
    }
    ql::Queue destination(ql::Order::fifo, 1024);
    ql::Link link("fanin");
    for (const ql::Queue &source : sources) {
        link.add_source(source);
    }
    link.add_destination(destination);

    // The consumer counts messages until the destination is closed.
    std::vector<Tally> tallies(producers);
    std::uint64_t malformed = 0;
    std::string consumer_error;
    std::thread consumer([&] {
        try {
            for (ql::Message &message : destination.drain()) {
                std::size_t producer = 0;
                std::uint64_t sequence = 0;
                if (!parse(message.payload, producer, sequence) || producer >= producers) {
                    malformed++;
                    continue;
                }
                Tally &tally = tallies[producer];
                if (sequence != tally.count) {
                    tally.out_of_order++;
                }
                tally.count++;
            }
        } catch (const ql::Error &error) {
            consumer_error = error.what();
        }
    });

    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < producers; i++) {
        threads.emplace_back([&sources, i, messages] {
            for (std::uint64_t sequence = 0; sequence < messages; sequence++) {
                sources[i].put(payload(i, sequence));
            }
        });
    }
    for (std::thread &thread : threads) {
        thread.join();
    }

    // Once the link has moved everything, closing the destination ends
    // the consumer's loop after the last message.
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!link.drained()) {
        if (std::chrono::steady_clock::now() > deadline) {
            std::cerr << "fanin: the link did not drain within 60 s\n";
            destination.close();
            consumer.join();
            return 1;
        }
        std::this_thread::sleep_for(1ms);
    }
    link.stop();
    destination.close();
    consumer.join();

    bool ok = malformed == 0 && consumer_error.empty();
    if (!consumer_error.empty()) {
        std::cerr << "fanin: the consumer failed: " << consumer_error << "\n";
    }
    if (malformed != 0) {
        std::cerr << "fanin: " << malformed << " messages were malformed\n";
    }
    for (std::size_t i = 0; i < producers; i++) {
        if (tallies[i].count != messages || tallies[i].out_of_order != 0) {
            std::cerr << "fanin: producer " << i << ": received " << tallies[i].count
                      << " of " << messages << " messages, " << tallies[i].out_of_order
                      << " out of order\n";
            ok = false;
        }
    }

    std::uint64_t moved = 0;
    for (const ql::SourceMetrics &metrics : link.metrics()) {
        moved += metrics.count;
    }
    if (moved != producers * messages) {
        std::cerr << "fanin: the link's metrics count " << moved << " messages, expected "
                  << producers * messages << "\n";
        ok = false;
    }

    if (ok) {
        std::cout << "fanin: " << producers << " producers x " << messages
                  << " messages reached the consumer exactly once, in order\n";
    }
    return ok ? 0 : 1;
}

} // namespace

int main(int argc, char **argv)
{
    try {
        std::size_t producers = argc > 1 ? std::stoul(argv[1]) : 4;
        std::uint64_t messages = argc > 2 ? std::stoull(argv[2]) : 25000;
        if (producers == 0) {
            std::cerr << "usage: fanin [PRODUCERS > 0 [MESSAGES]]\n";
            return 2;
        }
        return run(producers, messages);
    } catch (const queuelink::Error &error) {
        std::cerr << "fanin: " << error.status_name() << ": " << error.what() << "\n";
    } catch (const std::exception &error) {
        std::cerr << "fanin: " << error.what() << "\n";
    }
    return 1;
}

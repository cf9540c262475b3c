// The I/O thread over real ZeroMQ TCP sockets on loopback.
#include "cluster/transport.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace eddy::cluster;
using namespace std::chrono_literals;

namespace {

// Collects messages; waits on a condition with a deadline (never sleeps).
struct inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<frames> msgs;

  void push(frames f) {
    {
      std::lock_guard<std::mutex> g{mu};
      msgs.push_back(std::move(f));
    }
    cv.notify_all();
  }
  bool wait_for_count(std::size_t n, std::chrono::milliseconds deadline = 10s) {
    std::unique_lock<std::mutex> g{mu};
    return cv.wait_for(g, deadline, [&] { return msgs.size() >= n; });
  }
  std::size_t size() {
    std::lock_guard<std::mutex> g{mu};
    return msgs.size();
  }
};

template <class Pred>
bool wait_until(Pred p, std::chrono::milliseconds deadline = 10s) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (!p()) {
    if (std::chrono::steady_clock::now() > end)
      return false;
    std::this_thread::yield();
  }
  return true;
}

} // namespace

TEST(transport, router_dealer_round_trip) {
  io_thread server, client;
  auto r = server.bind_router("tcp://127.0.0.1:*", {});
  ASSERT_TRUE(r) << r.err().message;
  socket_options co;
  co.routing_id = "client-1";
  auto d = client.connect_dealer(server.endpoint(*r), co);
  ASSERT_TRUE(d) << d.err().message;
  inbox at_server, at_client;
  server.start([&](io_thread::socket_id id, frames&& f) {
    at_server.push(f);
    server.send(id, {f[0], "pong:" + f[1]});
    server.release(id);
  });
  client.start([&](io_thread::socket_id id, frames&& f) {
    at_client.push(std::move(f));
    client.release(id);
  });
  client.send(*d, {"ping", "second frame"});
  ASSERT_TRUE(at_client.wait_for_count(1));
  EXPECT_EQ(at_server.msgs[0], (frames{"client-1", "ping", "second frame"}));
  EXPECT_EQ(at_client.msgs[0], (frames{"pong:ping"}));
}

TEST(transport, credit_gate_stops_reading_until_released) {
  io_thread server, client;
  auto r = server.bind_router("tcp://127.0.0.1:*", {});
  ASSERT_TRUE(r);
  server.set_credit(*r, 2);
  auto d = client.connect_dealer(server.endpoint(*r), {});
  ASSERT_TRUE(d);
  inbox got;
  server.start([&](io_thread::socket_id, frames&& f) { got.push(std::move(f)); });
  client.start([](io_thread::socket_id, frames&&) {});
  for (int i = 0; i < 10; ++i)
    client.send(*d, {std::to_string(i)});
  for (std::size_t delivered = 2; delivered <= 10; delivered += 2) {
    // The gate closes with exactly `delivered` messages handed out...
    ASSERT_TRUE(got.wait_for_count(delivered));
    if (delivered < 10) {
      ASSERT_TRUE(wait_until([&] { return server.stats().gated >= delivered / 2; }));
      EXPECT_EQ(got.size(), delivered);
    }
    // ...and opens when they are released.
    server.release(*r, 2);
  }
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(got.msgs[static_cast<std::size_t>(i)][1], std::to_string(i));
}

TEST(transport, unknown_router_peer_is_reported_not_dropped_silently) {
  io_thread server;
  auto r = server.bind_router("tcp://127.0.0.1:*", {});
  ASSERT_TRUE(r);
  inbox undeliverable;
  server.start([](io_thread::socket_id, frames&&) {},
               [&](io_thread::socket_id, frames&& f) { undeliverable.push(std::move(f)); });
  server.send(*r, {"nobody", "hello"});
  ASSERT_TRUE(undeliverable.wait_for_count(1));
  EXPECT_EQ(undeliverable.msgs[0], (frames{"nobody", "hello"}));
  EXPECT_EQ(server.stats().unroutable, 1u);
}

TEST(transport, sends_from_many_threads_arrive_in_per_thread_order) {
  io_thread server, client;
  auto r = server.bind_router("tcp://127.0.0.1:*", {});
  ASSERT_TRUE(r);
  auto d = client.connect_dealer(server.endpoint(*r), {});
  ASSERT_TRUE(d);
  inbox got;
  server.start([&](io_thread::socket_id id, frames&& f) {
    got.push(std::move(f));
    server.release(id);
  });
  client.start([](io_thread::socket_id, frames&&) {});
  constexpr int threads = 4, per_thread = 5000;
  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t)
    senders.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i)
        client.send(*d, {std::to_string(t), std::to_string(i)});
    });
  for (auto& s : senders)
    s.join();
  ASSERT_TRUE(got.wait_for_count(threads * per_thread, 30s));
  std::vector<int> next(threads, 0);
  for (auto& m : got.msgs) {
    int t = std::stoi(m[1]);
    EXPECT_EQ(std::stoi(m[2]), next[static_cast<std::size_t>(t)]++);
  }
}

TEST(transport, bind_conflict_is_a_clear_error) {
  io_thread a, b;
  auto r = a.bind_router("tcp://127.0.0.1:*", {});
  ASSERT_TRUE(r);
  auto again = b.bind_router(a.endpoint(*r), {});
  ASSERT_FALSE(again);
  EXPECT_NE(again.err().message.find("cannot bind"), std::string::npos);
}

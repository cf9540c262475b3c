#pragma once
// The node's ZeroMQ I/O thread (DESIGN.md §2, CAF-ZMQ-NOTES.md): one thread owns
// every socket (ZeroMQ sockets are not thread-safe). Inbound messages go to a
// callback on that thread; any thread queues outbound messages, and an eventfd in the
// poll set wakes the I/O thread. A credit gate per socket stops reading while too
// many inbound messages are still being processed, so ZeroMQ's high-water marks push
// back on senders and memory stays bounded.
//
// ZeroMQ types stay out of this header: messages are vectors of byte strings.

#include "schema/error.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace eddy::cluster {

using frames = std::vector<std::string>;

struct socket_options {
  int send_hwm = 1000;             ///< ZMQ_SNDHWM (messages)
  int recv_hwm = 1000;             ///< ZMQ_RCVHWM (messages)
  std::int64_t max_msg_size = -1;  ///< ZMQ_MAXMSGSIZE (bytes, -1 = unlimited)
  std::string routing_id;          ///< DEALER: ZMQ_ROUTING_ID (empty = random)
};

struct transport_stats {
  std::uint64_t received = 0;      ///< inbound messages delivered
  std::uint64_t sent = 0;          ///< outbound messages handed to ZeroMQ
  std::uint64_t unroutable = 0;    ///< ROUTER sends to an unknown peer (EHOSTUNREACH)
  std::uint64_t gated = 0;         ///< times a socket stopped reading for lack of credit
};

class io_thread {
public:
  using socket_id = std::uint32_t;
  /// Runs on the I/O thread for each inbound message. For a ROUTER socket frames[0]
  /// is the sender's routing id. Must be quick (hand the work to an actor).
  using inbound_fn = std::function<void(socket_id, frames&&)>;
  /// Runs on the I/O thread when an outbound message cannot be delivered (a ROUTER
  /// peer that is gone). The message is given back.
  using undeliverable_fn = std::function<void(socket_id, frames&&)>;

  io_thread();
  ~io_thread(); // stops and joins

  io_thread(const io_thread&) = delete;
  io_thread& operator=(const io_thread&) = delete;

  /// A ROUTER with ROUTER_MANDATORY, bound to `endpoint` ("tcp://127.0.0.1:5551";
  /// port 0 or "*" picks a free one: see endpoint()). Only before start().
  expected<socket_id> bind_router(const std::string& endpoint, const socket_options& o);
  /// A DEALER with IMMEDIATE, connected to `endpoint`. Only before start().
  expected<socket_id> connect_dealer(const std::string& endpoint,
                                     const socket_options& o);
  /// The endpoint a socket is bound or connected to (resolved port for binds).
  std::string endpoint(socket_id id) const;

  /// Stop reading `id` while `limit` inbound messages are unreleased (0 = no gate).
  /// Only before start().
  void set_credit(socket_id id, std::uint32_t limit);

  void start(inbound_fn on_message, undeliverable_fn on_undeliverable = {});
  /// Thread-safe: queue a message for `id`; it is sent in order with the others of
  /// that socket, waiting (not dropping) while ZeroMQ's high-water mark is reached.
  void send(socket_id id, frames msg);
  /// Thread-safe: `n` inbound messages of `id` are done; reading resumes if gated.
  void release(socket_id id, std::uint32_t n = 1);
  /// Stops the thread and closes every socket (linger 0). Idempotent.
  void stop();

  transport_stats stats() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace eddy::cluster

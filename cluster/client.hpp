#pragma once
// Client side of a node's ingest endpoint (schema/WIRE.md): a DEALER that keeps a
// window of unacknowledged batches, resends on timeout or "unavailable" (safe:
// nodes deduplicate (producer, seq)), and collects what the acks say. Also the query
// call used by `eddy count` / `eddy status`. Single-threaded; used by the CLI.

#include "schema/error.hpp"
#include "schema/event.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace eddy::cluster {

struct producer_options {
  std::string producer;              ///< producer id (dedupe key with seq)
  std::uint64_t first_seq = 1;
  std::uint32_t window = 32;         ///< unacked batches in flight
  std::uint32_t timeout_ms = 5000;   ///< resend a batch with no ack after this
  std::uint32_t max_attempts = 20;   ///< then give up with an error
};

struct producer_stats {
  std::uint64_t batches = 0;         ///< acked batches
  std::uint64_t events_sent = 0;     ///< events in acked batches (incl. rejected)
  std::uint64_t stored = 0;          ///< events the cluster stored
  std::uint64_t duplicate_batches = 0;
  std::uint64_t refused_batches = 0;
  std::uint64_t resends = 0;
  std::map<std::string, std::uint64_t> rejects; ///< by reason
  std::vector<double> ack_ms;        ///< ack latency of each acked batch
  std::vector<std::string> messages; ///< refusals and other notes (first few)
};

class producer_client {
public:
  static expected<std::unique_ptr<producer_client>>
  connect(const std::string& endpoint, const producer_options& opt);
  ~producer_client();

  /// Sends one batch (waits while the window is full). Errors only when a batch
  /// got no ack after max_attempts.
  status submit(std::span<const event_view> events);
  /// Waits for every outstanding ack.
  status drain();
  const producer_stats& stats() const;
  std::uint64_t next_seq() const;

private:
  struct impl;
  explicit producer_client(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// A value made safe for a command's key=value&... argument: %, &, =, the list
/// separator , and control or non-ASCII bytes become %XX (the node decodes them).
/// Used by every client that builds arguments (the CLI, the HTTP API).
std::string escape_arg(std::string_view s);

/// Sends [correlation, command, argument] to a node and returns its reply text (the
/// JSON of `count`), or an error after `timeout`.
expected<std::string> query_node(const std::string& endpoint, const std::string& command,
                                 const std::string& argument,
                                 std::chrono::milliseconds timeout);

} // namespace eddy::cluster

#pragma once
// Every CAF message type and atom of eddy, in one place (STYLE.md habit 6). The
// payload structs are CAF-free; big payloads travel as shared_ptr (caf::message is
// copy-on-write, and these never leave the process).

#include "cluster/transport.hpp"
#include "models/trending.hpp"
#include "schema/event.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace eddy::actors {

// Atom names are at most 10 characters and must not clash with caf's own
// (get, put, ok, tick, add, sys, ...).
using inbound_atom = caf::atom_constant<caf::atom("e_inbound")>;
using append_atom = caf::atom_constant<caf::atom("e_append")>;
using count_atom = caf::atom_constant<caf::atom("e_count")>;
using timer_atom = caf::atom_constant<caf::atom("e_timer")>;
using flush_atom = caf::atom_constant<caf::atom("e_flush")>;
using trend_atom = caf::atom_constant<caf::atom("e_trend")>;
using tquery_atom = caf::atom_constant<caf::atom("e_tquery")>;
using scan_atom = caf::atom_constant<caf::atom("e_scan")>;    // shard: re-read the log
using als_atom = caf::atom_constant<caf::atom("e_als")>;      // ALS worker request
using alsreply_atom = caf::atom_constant<caf::atom("e_alsr")>; // a peer's ALS reply
using recq_atom = caf::atom_constant<caf::atom("e_recq")>;    // model server query
using simq_atom = caf::atom_constant<caf::atom("e_simq")>;    // one item's similar list
using mnode_atom = caf::atom_constant<caf::atom("e_mnode")>;  // where the newest model is
using alsdown_atom = caf::atom_constant<caf::atom("e_alsdown")>; // a peer stopped answering

/// One ZeroMQ message handed from the I/O thread to the gateway.
struct inbound {
  cluster::io_thread::socket_id socket = 0;
  cluster::frames msg;
};
using inbound_ptr = std::shared_ptr<inbound>;

/// A shard's part of a producer batch. The events (and the producer name) point
/// into `frame`, the received bytes they were decoded from, which every part of
/// that batch shares: no event is copied on its way to the log and the trending
/// actor. `item_hashes` holds models::item_hash of each event's item, in event
/// order: the gateway computed it to route the event, and the shard's counts and
/// trending table look the item up by it.
struct batch_part {
  std::shared_ptr<const std::string> frame;
  std::string_view producer;
  std::uint64_t seq = 0;
  std::vector<event_view> events;
  std::vector<std::uint64_t> item_hashes;
};
using part_ptr = std::shared_ptr<const batch_part>;
/// Several parts for one shard, from batches that arrived together: one message
/// (and one reply) instead of one per part.
using parts_ptr = std::shared_ptr<const std::vector<part_ptr>>;

/// A question for a shard's trending actor (answered as of q.as_of_ms).
struct trend_request {
  enum class kind : std::uint8_t { clock, trending, popular, decayed, series, stats };
  kind what = kind::trending;
  models::trend_query q;
  std::string item; ///< series only
};
using trend_request_ptr = std::shared_ptr<const trend_request>;

/// One shard's trending state in numbers (kind::stats).
struct shard_trend_stats {
  std::uint32_t shard = 0;
  std::uint64_t items = 0, tracked_series = 0, bytes = 0;
  models::trending_stats stats;
  std::uint64_t digest = 0; ///< equal digests: equal state (restart checks)
  std::int64_t max_event_ms = models::no_time;
};

/// One shard's (or node's, or the cluster's merged) answer.
struct trend_answer {
  std::int64_t max_event_ms = models::no_time;
  models::top_k<std::string> top{0};
  std::vector<models::series_point> series;
  std::vector<shard_trend_stats> shards; ///< kind::stats
};
using trend_answer_ptr = std::shared_ptr<const trend_answer>;

/// Every event stored in one shard's log, in log order (scan_atom).
using events_ptr = std::shared_ptr<const std::vector<event>>;

} // namespace eddy::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(eddy::actors::inbound_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(eddy::actors::parts_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(eddy::actors::trend_request_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(eddy::actors::trend_answer_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(eddy::actors::events_ptr)

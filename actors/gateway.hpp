#pragma once
// The gateway actor: every ZeroMQ message of the node comes through it.
//  - producers (ingest ROUTER): [corr, batch frame] -> validate, split by shard,
//    append locally or forward to the owner, ack [corr, ack frame] once every owner
//    has appended its part; queries [corr, "count", item] -> scatter/gather JSON.
//  - peers (peer ROUTER / DEALERs): "append" parts, "count" queries, heartbeats, and
//    the replies to this node's own requests.
//
// Node-to-node frames (internal, both ends run the same build):
//   request  [kind, corr, payload]: "hb" (payload = sender id, no reply), "count"
//            (payload = item, reply "counted" with the node's per-shard totals);
//            "append" carries one or more (corr, part frame) pairs — the parts of
//            all batches handled in one gateway turn that go to that owner.
//   reply    ["appended", corr, ack frame] per part; ["counted", corr, totals].
//   ALS      ["als", corr, request] -> ["alsr", corr, reply] (actors/als_protocol.hpp):
//            a training run's coordinator talking to this node's ALS worker.
//   similar  ["sim", corr, item] -> ["simr", corr, item list] (actors/similar_table.hpp):
//            one item's "You May Also Like" list from its owner's model server.
//   recommend ["rec", corr, args] -> ["recr", corr, JSON]: a client's "recommend"
//            forwarded to the node holding the newest model (a node has none of its
//            own unless it coordinated the training run).
// Client commands "train" (starts an ALS coordinator here, one run at a time),
// "recommend" (the newest model: this node's, or forwarded to the node that trained it) and "similar" (each query item's list
// from its owner, combined here) answer one JSON object.
// Local parts are coalesced the same way: one message per shard actor per turn.

#include "actors/messages.hpp"
#include "cluster/config.hpp"

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <atomic>
#include <memory>
#include <unordered_map>

namespace eddy {
class interaction_registry;
class dead_letter_writer;
} // namespace eddy

namespace eddy::actors {

/// What the gateway needs to know about its node; built by run_node.
struct node_env {
  cluster::cluster_config cfg;
  std::string me;
  const interaction_registry* registry = nullptr;
  cluster::io_thread* io = nullptr;
  cluster::io_thread::socket_id ingest_socket = 0;
  cluster::io_thread::socket_id peer_socket = 0;
  std::unordered_map<std::string, cluster::io_thread::socket_id> dealer_of; // peer id
  std::unordered_map<cluster::io_thread::socket_id, std::string> peer_of;   // dealer
  std::vector<std::string> owner;  ///< shard -> owner node id
  std::vector<caf::actor> shards;  ///< local shard actors (empty handle if not ours)
  std::vector<caf::actor> trending; ///< local trending actors (empty if not ours or off)
  caf::actor als_worker;   ///< this node's ALS worker (actors/als_worker.hpp)
  caf::actor model_server; ///< answers "recommend" from this node's newest model
  dead_letter_writer* dead_letters = nullptr;
  /// Bytes in this node's shard logs (the shard actors add to it).
  std::shared_ptr<std::atomic<std::uint64_t>> log_bytes =
    std::make_shared<std::atomic<std::uint64_t>>(0);
};

caf::actor spawn_gateway(caf::actor_system& sys, std::shared_ptr<node_env> env);

} // namespace eddy::actors

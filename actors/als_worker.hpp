#pragma once
// The ALS worker (one per node) and the model server (one per node).
//
// Worker: (als_atom, std::string request) -> std::string reply, with the
// requests and replies of actors/als_protocol.hpp (load / assign / solve /
// rows); after a solve it sends its new rows to the workers that need them. It
// reads the training data from its node's shard actors (scan_atom) and keeps
// its blocks and their factor rows between half-steps (the warm starts) until
// the run's last half-step, which frees them. Math
// runs on the worker's scheduler thread, `threads` std::threads per solve.
//
// The worker also runs its share of the similar-items join ("join") and
// stores its items' lists ("store", actors/similar_table.hpp).
//
// Model server: (recq_atom, std::string args) -> std::string JSON (or an
// error whose message says what to fix); (simq_atom, std::string item) -> the
// item's similar list (actors/similar_table.hpp encode_item_list) from the
// table similar.current points to, reloaded when the link changes;
// (mnode_atom) -> the node that trained the model of its current
// similar-items table ("" if none): the newest model, since every run stores
// lists on every node; the gateway forwards "recommend" there. args: user=ID&k=10&seen=1 (%XX escapes
// as in actors/trend_query.hpp). It answers from the newest artifact under
// DATA_DIR/NODE/models (actors/als_artifact.hpp), reloading when a newer
// version appears: the switch is one shared_ptr swap, so a query sees one whole
// model.

#include "actors/messages.hpp"

#include <caf/fwd.hpp>
#include <functional>
#include <string>
#include <vector>

namespace eddy::actors {

/// Sends an ALS message to another node's worker (its answer is not awaited).
using peer_sender = std::function<void(const std::string& node, std::string bytes)>;

/// `models_dir`: where "store" writes this node's similar-items lists;
/// `send_peer`: how "rows" reach the other workers.
caf::actor spawn_als_worker(caf::actor_system& sys, std::string node,
                            std::vector<caf::actor> local_shards,
                            std::string models_dir, peer_sender send_peer);

caf::actor spawn_model_server(caf::actor_system& sys, std::string node,
                              std::string models_dir);

} // namespace eddy::actors

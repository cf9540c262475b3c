#pragma once
// The ALS coordinator (DESIGN.md §5): one per training run, spawned by the
// gateway of the node a client sends ["train", ARGS] to. It talks to the ALS
// worker of every configured node (its own directly, the others through the
// gateways: ["als", corr, bytes] / ["alsr", corr, bytes]); the factor rows of
// the half-steps go from worker to worker over the same links, not through it.
//
//  1. load: every worker scans its shard logs and sends r(user, item) for its
//     items. The coordinator builds the GLOBAL id maps (ids in byte order, so 1
//     or N nodes number them the same), item blocks = the items each node sent
//     (its shards), user blocks = rendezvous hash of the user id over the
//     nodes.
//  2. assign: each worker gets the CSR of its user block (columns = global item
//     index) and item block (columns = global user index), as confidences, and
//     its rows of the initial factors (models::init_factors, stream 0 users,
//     1 items: the same start as models::fit).
//  3. per iteration, the user half-step then the item half-step: the k x k gram
//     of the other side (reduced from the workers' partial grams, reg added)
//     goes to each worker; it solves its rows over ONLY the other side's rows
//     its block references, which the workers that solved them sent it
//     directly ("rows", planned here at assign; the run's first half-step
//     starts with the workers sending each other their initial item rows),
//     and answers their partial gram and (item half-step)
//     its loss terms; its new rows it sends on to the workers that need them,
//     and to the coordinator only in the last iteration (the model) or with
//     gram=coordinator. loss = sum of the terms + reg |X|^2 (the trace of the
//     users' reduced gram), normalized like models::loss.
//  4. similar items (unless similar=0): the coordinator hashes the normalized
//     item factors into LSH buckets (models/lsh.hpp), spreads the buckets over
//     the workers by key ("join": each gets its buckets and the vectors of
//     their members only), merges the workers' per-item top-n lists
//     (models::merge_neighbor_lists: the same table as single-process
//     lsh_index::table for any number of nodes) and measures recall@10
//     against exact cosine on a sample of items.
//  5. the artifact: DATA_DIR/NODE/models/als-<version>/
//     (actors/als_artifact.hpp, with the similar-items figures in MODEL.json),
//     then each node gets the lists of the items of its shards ("store",
//     actors/similar_table.hpp, versioned with the model), then one JSON
//     reply to the client.
// A node that is down at the start, stops heartbeating, answers with an error,
// or does not answer a step within step_timeout_ms fails the run with a message
// naming the node and the step: training never hangs.

#include "actors/gateway.hpp"
#include "models/als.hpp"
#include "models/lsh.hpp"
#include "schema/error.hpp"

#include <array>
#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace eddy::actors {

/// ARGS of "train": factors, alpha, reg, iterations, cg_steps, seed, threads
/// (per worker), preset (movielens), weights (registry | unit),
/// step_timeout_ms, similar (0 | 1), similar_n, lsh_tables, lsh_projections,
/// lsh_bucket, recall_sample.
struct train_settings {
  models::als_params als;
  float alpha = 1.0F;
  std::array<float, 256> weights{};
  std::string preset; ///< "" or "movielens"
  std::string weights_from = "registry";
  int step_timeout_ms = 60000;
  /// reduce: the gram is the sum of the workers' partial grams (float64, node
  /// order); coordinator: models::gram() of the full factors the coordinator
  /// holds, exactly as models::fit() computes it (then distributed == fit(),
  /// bit for bit; the partial grams go unused).
  std::string gram = "reduce";
  /// Also run single-process models::fit() on the same matrix and seed at the
  /// end and report how far the distributed factors are from it.
  bool verify = false;
  /// Build the similar-items table after training (step 4 above).
  bool similar = true;
  int similar_n = 20;          ///< neighbours kept per item (>= 10)
  models::lsh_params lsh;      ///< tables, projections, bucket_length, seed
  int recall_sample = 1000;    ///< items whose exact top-10 measures recall
};

expected<train_settings> parse_train_args(std::string_view args,
                                          const interaction_registry& registry);

struct coordinator_args {
  std::shared_ptr<node_env> env;
  caf::actor gateway; ///< the coordinator stops when it does
  caf::actor local_worker;
  std::string rid, corr; ///< the client to answer
  train_settings settings;
  std::vector<std::string> down; ///< configured nodes the gateway sees as down
};

caf::actor spawn_als_coordinator(caf::actor_system& sys, coordinator_args args);

/// {"error": why} (the shape of every failed train / recommend answer).
std::string als_error_json(const std::string& why);

} // namespace eddy::actors

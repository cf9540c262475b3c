#pragma once
// The cluster config (configs/cluster-*.toml; every key documented in
// configs/CLUSTER.md): typed structs with in-class defaults and one validator that
// names the bad key (STYLE.md habit 11).

#include "models/trending.hpp"
#include "schema/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace eddy::cluster {

enum class fsync_policy : std::uint8_t { per_batch, group, none };

struct node_config {
  std::string id;             ///< unique, e.g. "n1"
  std::string host = "127.0.0.1";
  std::uint16_t ingest_port = 0; ///< producers' ROUTER endpoint
  std::uint16_t peer_port = 0;   ///< node-to-node ROUTER endpoint
  std::uint16_t http_port = 0;   ///< HTTP API port (cluster/http_api.hpp); 0 = no HTTP
};

struct log_config {
  fsync_policy fsync = fsync_policy::group;
  std::uint32_t group_commit_ms = 5;       ///< fsync period for fsync = "group"
  std::uint64_t segment_bytes = 64u << 20; ///< roll to a new segment file after this
  std::uint32_t dedupe_window = 65536;     ///< recent (producer, seq) kept per producer
};

struct limits_config {
  std::uint64_t max_frame_bytes = 4u << 20; ///< larger producer frames are refused
  std::uint32_t max_batch_events = 65536;
  std::uint32_t window_batches = 64;        ///< unacked batches per data path (credits)
  std::uint32_t send_hwm = 1000;            ///< ZeroMQ high-water marks (messages)
  std::uint32_t recv_hwm = 1000;
};

struct membership_config {
  std::uint32_t heartbeat_ms = 1000;
  std::uint32_t dead_after_misses = 3;
};

/// Per-shard trending and popularity (DESIGN.md §4). The type weights come from
/// the interaction registry, not from here.
struct trending_config {
  bool enabled = true;
  models::trending_params params;
};

/// The HTTP API every node with an http_port serves (cluster/http_api.hpp).
struct http_config {
  bool enabled = true;                     ///< false: no node serves HTTP
  std::string listen = "127.0.0.1";        ///< address the server binds (loopback)
  std::uint32_t threads = 64;              ///< worker threads (= connections served at once)
  std::uint64_t max_body_bytes = 1u << 20; ///< larger request bodies get 413
  std::uint32_t max_events = 10000;        ///< events per POST /v1/events, else 413
  double rate_limit_per_s = 0;             ///< requests/s per client address; 0 = no limit
  std::uint32_t rate_limit_burst = 0;      ///< bucket size; 0 = max(1, rate_limit_per_s)
  std::uint32_t timeout_ms = 5000;         ///< how long a request waits for the cluster
  /// Owners' /v1/similar/{item} answers a node keeps (and reuses while its own
  /// similar table is the owner's); 0 = forward every request.
  std::uint32_t similar_cache_entries = 10000;
};

struct cluster_config {
  std::string name = "eddy";
  std::uint32_t shards = 64;            ///< S, fixed for the life of a cluster
  std::string data_dir = "run/data";    ///< per node: DATA_DIR/NODE_ID/...
  std::vector<node_config> nodes;
  log_config log;
  limits_config limits;
  membership_config membership;
  trending_config trending;
  http_config http;
  std::string origin;                   ///< file it was loaded from

  const node_config* find(std::string_view id) const;
};

/// Loads and validates; every error names the file and the key, e.g.
/// "configs/cluster-3.toml: node[1].ingest_port: 5555 is already used by n1".
expected<cluster_config> load_cluster_config(const std::string& path);
expected<cluster_config> parse_cluster_config(std::string_view toml,
                                              const std::string& origin);

/// The embedded single node used when `eddy node` runs without a config: one node
/// "n1" on 127.0.0.1 holding every shard.
cluster_config embedded_config();

std::string_view to_string(fsync_policy p);

} // namespace eddy::cluster

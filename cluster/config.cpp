#include "cluster/config.hpp"

#include "schema/toml_util.hpp"

#include <cstdint>
#include <initializer_list>
#include <string>

// Every key is documented in configs/CLUSTER.md; keep that page, the checks
// below and the defaults in config.hpp in step.
//
// Errors read "FILE: KEY: what is wrong; what to do". KEY is the TOML path as
// the user wrote it (`limits.send_hwm`, `node[1].peer_port`, 0-based like
// toml++ paths), so a test or a user can grep for it.

namespace eddy::cluster {

namespace {

using detail::check_keys;
using detail::checker;

std::string join(const std::string& where, std::string_view key) {
  return where.empty() ? std::string{key} : where + "." + std::string{key};
}

// An optional integer key: absent leaves `out` at its in-class default. Only
// TOML integers are accepted (5.0 or "5" is a type error, not a silent
// conversion), and the range is checked on the 64-bit value before narrowing,
// so 70000 can never wrap into a valid port. `range` spells the range for
// humans, `why` says what it is for.
template <class T>
status read_int(const toml::table& t, std::string_view key,
                const std::string& where, std::int64_t lo, std::int64_t hi,
                const std::string& range, const std::string& why, T& out,
                const checker& bad) {
  auto* node = t.get(key);
  if (node == nullptr) return {};
  auto name = join(where, key);
  auto* v = node->as_integer();
  if (v == nullptr)
    return bad(name, "must be an integer; use a value in " + range + " (" +
                         why + ")");
  auto x = v->get();
  if (x < lo || x > hi)
    return bad(name, std::to_string(x) + " is out of range; use a value in " +
                         range + " (" + why + ")");
  out = static_cast<T>(x);
  return {};
}

// An optional string key; absent leaves `out` as it is. Empty strings are
// refused: every string key of this file names something that must exist.
status read_string(const toml::table& t, std::string_view key,
                   const std::string& where, const std::string& why,
                   std::string& out, const checker& bad) {
  auto* node = t.get(key);
  if (node == nullptr) return {};
  auto name = join(where, key);
  auto* v = node->as_string();
  if (v == nullptr) return bad(name, "must be a string (" + why + ")");
  if (v->get().empty()) return bad(name, "must not be empty (" + why + ")");
  out = v->get();
  return {};
}

// Node ids appear in file paths (DATA_DIR/NODE_ID), ZeroMQ routing ids and log
// lines, so they are restricted to characters that are safe in all three.
bool valid_node_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// A host ends up in "tcp://HOST:PORT"; whitespace or control characters there
// make an endpoint ZeroMQ rejects at bind time, far from the file that caused
// it.
bool valid_host(std::string_view host) {
  for (unsigned char c : host)
    if (c <= ' ' || c == 0x7f) return false;
  return !host.empty();
}

// Returns a table for an optional [section]; nullptr when absent; an error if
// the key exists but is not a table (e.g. `log = "x"`).
expected<const toml::table*> section(const toml::table& root,
                                     std::string_view key, const checker& bad) {
  auto* node = root.get(key);
  if (node == nullptr) return static_cast<const toml::table*>(nullptr);
  auto* t = node->as_table();
  if (t == nullptr)
    return bad(std::string{key}, "must be a table; write it as [" +
                                     std::string{key} +
                                     "] followed by its keys");
  return static_cast<const toml::table*>(t);
}

#define EDDY_TRY(expr)                                                         \
  do {                                                                         \
    if (auto st_ = (expr); !st_) return error{st_.message()};                  \
  } while (false)

status read_node(const toml::table& t, const std::string& where, node_config& n,
                 const checker& bad) {
  EDDY_TRY(check_keys(
      t, where, {"id", "host", "ingest_port", "peer_port", "http_port"}, bad));
  if (!t.contains("id"))
    return bad(where + ".id",
               "missing; every [[node]] needs a unique id such as \"n1\"");
  EDDY_TRY(read_string(t, "id", where, "the node's unique name, e.g. \"n1\"",
                       n.id, bad));
  if (!valid_node_id(n.id))
    return bad(where + ".id",
               "'" + n.id +
                   "' is not a valid node id; use 1..64 characters from "
                   "A-Z a-z 0-9 _ - (it becomes a folder and a routing id)");
  EDDY_TRY(read_string(t, "host", where,
                       "the address other nodes and producers reach "
                       "this node at, e.g. \"127.0.0.1\"",
                       n.host, bad));
  if (!valid_host(n.host))
    return bad(where + ".host",
               "'" + n.host +
                   "' contains whitespace or control characters; use a "
                   "host name or IP address such as \"127.0.0.1\"");
  for (auto key : {"ingest_port", "peer_port"})
    if (!t.contains(key))
      return bad(join(where, key),
                 std::string{"missing; every [[node]] needs "} + key +
                     " in 1..65535");
  EDDY_TRY(read_int(t, "ingest_port", where, 1, 65535, "1..65535",
                    "TCP port producers send batches to", n.ingest_port, bad));
  EDDY_TRY(read_int(t, "peer_port", where, 1, 65535, "1..65535",
                    "TCP port other nodes send to", n.peer_port, bad));
  EDDY_TRY(read_int(t, "http_port", where, 0, 65535, "0..65535",
                    "TCP port of the HTTP API; 0 = no HTTP", n.http_port, bad));
  return {};
}

status read_nodes(const toml::table& root, cluster_config& c,
                  const checker& bad) {
  auto* node = root.get("node");
  if (node == nullptr)
    return bad("node",
               "missing; list at least one node as [[node]] with id, host, "
               "ingest_port and peer_port");
  auto* arr = node->as_array();
  if (arr != nullptr && arr->empty())
    return bad("node", "no nodes; list at least one node as [[node]]");
  if (arr == nullptr || !arr->is_array_of_tables())
    return bad("node",
               "must be an array of tables; write each node as [[node]] "
               "followed by its keys");
  for (std::size_t i = 0; i < arr->size(); ++i) {
    auto where = "node[" + std::to_string(i) + "]";
    node_config n;
    EDDY_TRY(read_node(*(*arr)[i].as_table(), where, n, bad));
    for (std::size_t j = 0; j < c.nodes.size(); ++j)
      if (c.nodes[j].id == n.id)
        return bad(where + ".id", "'" + n.id + "' is already the id of node[" +
                                      std::to_string(j) +
                                      "]; give every node its own id");
    c.nodes.push_back(std::move(n));
  }
  // One (host, port) per socket across the whole cluster: two sockets on one
  // endpoint fail at bind time on one box, and on separate boxes (different
  // host strings) they are fine. Hosts are compared as written: "localhost" and
  // "127.0.0.1" are not resolved, so do not mix spellings of one machine.
  struct endpoint {
    const std::string* host;
    std::uint16_t port;
    std::string key;
    const std::string* id;
  };
  std::vector<endpoint> seen;
  for (std::size_t i = 0; i < c.nodes.size(); ++i) {
    auto& n = c.nodes[i];
    auto where = "node[" + std::to_string(i) + "].";
    std::pair<const char*, std::uint16_t> ports[] = {
        {"ingest_port", n.ingest_port},
        {"peer_port", n.peer_port},
        {"http_port", n.http_port}};
    for (auto [kind, port] : ports) {
      if (port == 0) // only http_port may be 0: "no HTTP"
        continue;
      for (auto& e : seen)
        if (e.port == port && *e.host == n.host)
          return bad(where + kind,
                     n.host + ":" + std::to_string(port) +
                         " is already used by " + e.key + " (" + *e.id +
                         "); give every node and port kind its own port");
      seen.push_back({&n.host, port, where + kind, &n.id});
    }
  }
  return {};
}

status read_log(const toml::table& t, log_config& l, const checker& bad) {
  EDDY_TRY(check_keys(
      t, "log", {"fsync", "group_commit_ms", "segment_bytes", "dedupe_window"},
      bad));
  if (auto* node = t.get("fsync")) {
    auto* v = node->as_string();
    const std::string hint =
        "use \"per_batch\" (fsync before every ack), \"group\" (fsync every "
        "group_commit_ms) or \"none\" (leave it to the OS)";
    if (v == nullptr) return bad("log.fsync", "must be a string; " + hint);
    auto& s = v->get();
    if (s == "per_batch")
      l.fsync = fsync_policy::per_batch;
    else if (s == "group")
      l.fsync = fsync_policy::group;
    else if (s == "none")
      l.fsync = fsync_policy::none;
    else
      return bad("log.fsync", "'" + s + "' is not a policy; " + hint);
  }
  EDDY_TRY(read_int(t, "group_commit_ms", "log", 1, 10000, "1..10000",
                    "milliseconds between fsyncs with fsync = \"group\"",
                    l.group_commit_ms, bad));
  EDDY_TRY(read_int(t, "segment_bytes", "log", std::int64_t{1} << 20,
                    std::int64_t{64} << 30,
                    "1048576..68719476736, i.e. 1 MiB..64 GiB",
                    "size at which a shard log rolls to a new segment file",
                    l.segment_bytes, bad));
  EDDY_TRY(read_int(t, "dedupe_window", "log", 1, 1 << 24, "1..16777216",
                    "recent (producer, seq) pairs remembered per producer",
                    l.dedupe_window, bad));
  return {};
}

status read_limits(const toml::table& t, limits_config& l, const checker& bad) {
  EDDY_TRY(check_keys(t, "limits",
                      {"max_frame_bytes", "max_batch_events", "window_batches",
                       "send_hwm", "recv_hwm"},
                      bad));
  EDDY_TRY(read_int(t, "max_frame_bytes", "limits", 1024,
                    std::int64_t{256} << 20,
                    "1024..268435456, i.e. 1 KiB..256 MiB",
                    "largest producer frame accepted", l.max_frame_bytes, bad));
  EDDY_TRY(read_int(t, "max_batch_events", "limits", 1, 1 << 20, "1..1048576",
                    "most events in one batch", l.max_batch_events, bad));
  EDDY_TRY(read_int(t, "window_batches", "limits", 1, 65536, "1..65536",
                    "unacked batches in flight per data path; at least 1 or "
                    "nothing is ever sent",
                    l.window_batches, bad));
  // 0 would mean "no limit" to ZeroMQ, and bounded memory is the point.
  EDDY_TRY(read_int(t, "send_hwm", "limits", 1, 1000000, "1..1000000",
                    "messages ZeroMQ queues per outgoing socket; 0 (unbounded) "
                    "is not allowed",
                    l.send_hwm, bad));
  EDDY_TRY(read_int(t, "recv_hwm", "limits", 1, 1000000, "1..1000000",
                    "messages ZeroMQ queues per incoming socket; 0 (unbounded) "
                    "is not allowed",
                    l.recv_hwm, bad));
  return {};
}

status read_membership(const toml::table& t, membership_config& m,
                       const checker& bad) {
  EDDY_TRY(
      check_keys(t, "membership", {"heartbeat_ms", "dead_after_misses"}, bad));
  EDDY_TRY(read_int(t, "heartbeat_ms", "membership", 10, 60000, "10..60000",
                    "milliseconds between heartbeats", m.heartbeat_ms, bad));
  EDDY_TRY(read_int(t, "dead_after_misses", "membership", 1, 100, "1..100",
                    "missed heartbeats before a peer is declared dead",
                    m.dead_after_misses, bad));
  return {};
}

// An optional number key (TOML integer or float); absent leaves `out` as it is.
status read_number(const toml::table& t, std::string_view key,
                   const std::string& where, const std::string& why,
                   double& out, const checker& bad) {
  auto* node = t.get(key);
  if (node == nullptr) return {};
  auto v = node->value<double>();
  if (!v || node->is_boolean())
    return bad(join(where, key), "must be a number (" + why + ")");
  out = *v;
  return {};
}

status read_bool(const toml::table& t, std::string_view key,
                 const std::string& where, const std::string& why, bool& out,
                 const checker& bad) {
  auto* node = t.get(key);
  if (node == nullptr) return {};
  auto* v = node->as_boolean();
  if (v == nullptr)
    return bad(join(where, key), "must be true or false (" + why + ")");
  out = v->get();
  return {};
}

status read_trending(const toml::table& t, trending_config& tc,
                     const checker& bad) {
  EDDY_TRY(check_keys(t, "trending",
                      {"enabled", "bucket_ms", "lateness_ms", "horizon_buckets",
                       "popularity_window_buckets", "half_life_ms", "alpha",
                       "beta", "variance_alpha", "season", "gamma",
                       "season_slots", "min_support", "poisson_floor", "robust_clip"},
                      bad));
  auto& p = tc.params;
  constexpr std::int64_t day = 86'400'000;
  EDDY_TRY(read_bool(t, "enabled", "trending",
                     "keep per-shard trending state", tc.enabled, bad));
  EDDY_TRY(read_int(t, "bucket_ms", "trending", 1000, day, "1000..86400000",
                    "width of an event-time bucket in ms", p.bucket_ms, bad));
  EDDY_TRY(read_int(t, "lateness_ms", "trending", 0, 7 * day, "0..604800000",
                    "how far behind the newest event time an event may arrive",
                    p.lateness_ms, bad));
  EDDY_TRY(read_int(t, "horizon_buckets", "trending", 2, 100000, "2..100000",
                    "buckets of history kept per item", p.horizon_buckets,
                    bad));
  EDDY_TRY(read_int(t, "popularity_window_buckets", "trending", 1, 100000,
                    "1..100000", "buckets summed by popular (window)",
                    p.popularity_window_buckets, bad));
  EDDY_TRY(read_int(t, "half_life_ms", "trending", 1000, 365 * day,
                    "1000..31536000000", "half-life of the decayed popularity",
                    p.half_life_ms, bad));
  EDDY_TRY(read_int(t, "season_slots", "trending", 1, 1440, "1..1440",
                    "slots of the daily season profile", p.season_slots, bad));
  EDDY_TRY(read_bool(t, "season", "trending", "add a daily season to the forecast",
                     p.season, bad));
  EDDY_TRY(read_number(t, "alpha", "trending", "Holt level smoothing in (0, 1]",
                       p.alpha, bad));
  EDDY_TRY(read_number(t, "beta", "trending", "Holt trend smoothing in (0, 1]",
                       p.beta, bad));
  EDDY_TRY(read_number(t, "variance_alpha", "trending",
                       "smoothing of the residual variance in (0, 1]",
                       p.variance_alpha, bad));
  EDDY_TRY(read_number(t, "gamma", "trending", "season smoothing in (0, 1]",
                       p.gamma, bad));
  EDDY_TRY(read_number(t, "min_support", "trending",
                       "weighted count a bucket needs before it can trend",
                       p.min_support, bad));
  EDDY_TRY(read_number(t, "poisson_floor", "trending",
                       "smallest variance assumed for a forecast",
                       p.poisson_floor, bad));
  EDDY_TRY(read_number(t, "robust_clip", "trending",
                       "residuals beyond this many spreads teach the forecast only "
                       "that much; 0 = plain Holt",
                       p.robust_clip, bad));
  // The model's own rules (e.g. the horizon must cover the lateness) name the
  // key in their message: "horizon_buckets: must exceed ...".
  if (auto why = models::validate(p); !why.empty()) {
    auto colon = why.find(':');
    return bad("trending." + why.substr(0, colon),
               colon == std::string::npos ? why : why.substr(colon + 2));
  }
  return {};
}

status read_http(const toml::table& t, http_config& h, const checker& bad) {
  EDDY_TRY(check_keys(t, "http",
                      {"enabled", "listen", "threads", "max_body_bytes", "max_events",
                       "rate_limit_per_s", "rate_limit_burst", "timeout_ms",
                       "similar_cache_entries"},
                      bad));
  EDDY_TRY(read_bool(t, "enabled", "http",
                     "serve the HTTP API on every node that has an http_port", h.enabled,
                     bad));
  EDDY_TRY(read_string(t, "listen", "http",
                       "address the HTTP server binds on every node: \"127.0.0.1\" "
                       "(loopback, the default) or \"0.0.0.0\" (every interface)",
                       h.listen, bad));
  if (!valid_host(h.listen))
    return bad("http.listen", "'" + h.listen +
                                  "' contains whitespace or control characters; use an "
                                  "address such as \"127.0.0.1\" or \"0.0.0.0\"");
  EDDY_TRY(read_int(t, "threads", "http", 1, 1024, "1..1024",
                    "HTTP worker threads per node; each serves one connection at a time",
                    h.threads, bad));
  EDDY_TRY(read_int(t, "max_body_bytes", "http", 1024, std::int64_t{256} << 20,
                    "1024..268435456, i.e. 1 KiB..256 MiB",
                    "largest request body accepted; larger ones get 413", h.max_body_bytes,
                    bad));
  EDDY_TRY(read_int(t, "max_events", "http", 1, 1 << 20, "1..1048576",
                    "most events in one POST /v1/events; more get 413", h.max_events, bad));
  EDDY_TRY(read_number(t, "rate_limit_per_s", "http",
                       "requests per second per client address; 0 = no limit",
                       h.rate_limit_per_s, bad));
  if (!(h.rate_limit_per_s >= 0.0) || h.rate_limit_per_s > 1e9)
    return bad("http.rate_limit_per_s",
               "must be a number in 0..1e9 (requests per second per client address; "
               "0 = no limit)");
  EDDY_TRY(read_int(t, "rate_limit_burst", "http", 0, 1000000000, "0..1000000000",
                    "requests a client may send at once before the rate applies; 0 = "
                    "max(1, rate_limit_per_s)",
                    h.rate_limit_burst, bad));
  EDDY_TRY(read_int(t, "timeout_ms", "http", 100, 600000, "100..600000",
                    "how long an HTTP request waits for the cluster before 503",
                    h.timeout_ms, bad));
  EDDY_TRY(read_int(t, "similar_cache_entries", "http", 0, 100000000, "0..100000000",
                    "owners' /v1/similar/{item} answers a node keeps and reuses while "
                    "its similar table is the owner's; 0 = forward every request",
                    h.similar_cache_entries, bad));
  return {};
}

} // namespace

const node_config* cluster_config::find(std::string_view id) const {
  for (auto& n : nodes)
    if (n.id == id) return &n;
  return nullptr;
}

std::string_view to_string(fsync_policy p) {
  switch (p) {
  case fsync_policy::per_batch:
    return "per_batch";
  case fsync_policy::group:
    return "group";
  case fsync_policy::none:
    return "none";
  }
  return "?";
}

expected<cluster_config> parse_cluster_config(std::string_view toml,
                                              const std::string& origin) {
  auto parsed = detail::parse_toml(toml, origin);
  if (!parsed) return parsed.err();
  const auto& root = *parsed;
  checker bad{origin};
  cluster_config c;
  c.origin = origin;
  EDDY_TRY(check_keys(
      root, "",
      {"name", "shards", "data_dir", "node", "log", "limits", "membership",
       "trending", "http"},
      bad));
  EDDY_TRY(read_string(root, "name", "",
                       "the cluster's name, shown in status and logs", c.name,
                       bad));
  EDDY_TRY(read_int(root, "shards", "", 1, 65536, "1..65536",
                    "S, the shard count; fixed for the life of a cluster",
                    c.shards, bad));
  EDDY_TRY(read_string(
      root, "data_dir", "",
      "folder of the shard logs; relative paths are relative to the "
      "working directory",
      c.data_dir, bad));
  EDDY_TRY(read_nodes(root, c, bad));

  auto log = section(root, "log", bad);
  if (!log) return log.err();
  if (*log) EDDY_TRY(read_log(**log, c.log, bad));
  auto limits = section(root, "limits", bad);
  if (!limits) return limits.err();
  if (*limits) EDDY_TRY(read_limits(**limits, c.limits, bad));
  auto membership = section(root, "membership", bad);
  if (!membership) return membership.err();
  if (*membership) EDDY_TRY(read_membership(**membership, c.membership, bad));
  auto trending = section(root, "trending", bad);
  if (!trending) return trending.err();
  if (*trending) EDDY_TRY(read_trending(**trending, c.trending, bad));
  auto http = section(root, "http", bad);
  if (!http) return http.err();
  if (*http) EDDY_TRY(read_http(**http, c.http, bad));

  // A producer may resend any of its window_batches unacked batches; if the
  // shard remembered fewer (producer, seq) pairs than that, a resend of an
  // already stored batch could be stored twice.
  if (c.log.dedupe_window < c.limits.window_batches)
    return bad(
        "log.dedupe_window",
        std::to_string(c.log.dedupe_window) +
            " is smaller than "
            "limits.window_batches (" +
            std::to_string(c.limits.window_batches) +
            "); raise it to at least that so resent batches are recognized");
  // One POST /v1/events becomes one producer batch: the node would refuse more.
  if (c.http.max_events > c.limits.max_batch_events)
    return bad("http.max_events",
               std::to_string(c.http.max_events) + " is larger than limits.max_batch_events (" +
                   std::to_string(c.limits.max_batch_events) +
                   "); one POST is one batch, so lower it to at most that");
  return c;
}

#undef EDDY_TRY

expected<cluster_config> load_cluster_config(const std::string& path) {
  auto text = detail::read_config_file(
      path, "cluster config",
      "pass --config FILE, e.g. configs/cluster-3.toml; keys are in "
      "configs/CLUSTER.md");
  if (!text) return text.err();
  return parse_cluster_config(*text, path);
}

cluster_config embedded_config() {
  // The no-config path runs the same code as a real cluster: one node holding
  // every shard. Relative data_dir: under the working directory, like any
  // config.
  cluster_config c;
  c.name = "eddy-embedded";
  c.shards = 64;
  c.data_dir = "run/embedded/data";
  node_config n;
  n.id = "n1";
  n.host = "127.0.0.1";
  n.ingest_port = 5551;
  n.peer_port = 5561;
  n.http_port = 5801; // ingest + 250, as scripts/cluster.sh
  c.nodes.push_back(std::move(n));
  c.origin = "(embedded)";
  return c;
}

} // namespace eddy::cluster

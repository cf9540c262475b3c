// The cluster config: shipped files load, every validation names the file and
// the key, defaults are the struct's, and the embedded config passes the same
// validator.

#include "cluster/config.hpp"

#include <gtest/gtest.h>
#include <string>

using namespace eddy;
using namespace eddy::cluster;

namespace {

std::string source_dir() {
  return EDDY_SOURCE_DIR;
}

// A valid two-node config; tests break one thing in it at a time.
const std::string base = R"(name = "t"
shards = 64
data_dir = "run/t"
[[node]]
id = "n1"
host = "127.0.0.1"
ingest_port = 5551
peer_port = 5561
[[node]]
id = "n2"
host = "127.0.0.1"
ingest_port = 5552
peer_port = 5562
[log]
fsync = "group"
group_commit_ms = 5
segment_bytes = 67108864
dedupe_window = 65536
[limits]
max_frame_bytes = 4194304
max_batch_events = 65536
window_batches = 64
send_hwm = 1000
recv_hwm = 1000
[membership]
heartbeat_ms = 1000
dead_after_misses = 3
)";

// `base` with the first occurrence of `from` replaced by `to`.
std::string with(const std::string& from, const std::string& to) {
  auto s = base;
  auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

// Renders a config back to TOML, so an in-memory config (embedded_config()) can
// go through the one validator.
std::string render(const cluster_config& c) {
  std::string s = "name = \"" + c.name +
                  "\"\nshards = " + std::to_string(c.shards) +
                  "\ndata_dir = \"" + c.data_dir + "\"\n";
  for (auto& n : c.nodes)
    s += "[[node]]\nid = \"" + n.id + "\"\nhost = \"" + n.host +
         "\"\ningest_port = " + std::to_string(n.ingest_port) +
         "\npeer_port = " + std::to_string(n.peer_port) +
         "\nhttp_port = " + std::to_string(n.http_port) + "\n";
  s += "[log]\nfsync = \"" + std::string{to_string(c.log.fsync)} +
       "\"\ngroup_commit_ms = " + std::to_string(c.log.group_commit_ms) +
       "\nsegment_bytes = " + std::to_string(c.log.segment_bytes) +
       "\ndedupe_window = " + std::to_string(c.log.dedupe_window) + "\n";
  s += "[limits]\nmax_frame_bytes = " +
       std::to_string(c.limits.max_frame_bytes) +
       "\nmax_batch_events = " + std::to_string(c.limits.max_batch_events) +
       "\nwindow_batches = " + std::to_string(c.limits.window_batches) +
       "\nsend_hwm = " + std::to_string(c.limits.send_hwm) +
       "\nrecv_hwm = " + std::to_string(c.limits.recv_hwm) + "\n";
  s += "[membership]\nheartbeat_ms = " +
       std::to_string(c.membership.heartbeat_ms) + "\ndead_after_misses = " +
       std::to_string(c.membership.dead_after_misses) + "\n";
  return s;
}

void expect_same(const cluster_config& a, const cluster_config& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.shards, b.shards);
  EXPECT_EQ(a.data_dir, b.data_dir);
  ASSERT_EQ(a.nodes.size(), b.nodes.size());
  for (std::size_t i = 0; i < a.nodes.size(); ++i) {
    EXPECT_EQ(a.nodes[i].id, b.nodes[i].id);
    EXPECT_EQ(a.nodes[i].host, b.nodes[i].host);
    EXPECT_EQ(a.nodes[i].ingest_port, b.nodes[i].ingest_port);
    EXPECT_EQ(a.nodes[i].peer_port, b.nodes[i].peer_port);
    EXPECT_EQ(a.nodes[i].http_port, b.nodes[i].http_port);
  }
  EXPECT_EQ(a.log.fsync, b.log.fsync);
  EXPECT_EQ(a.log.group_commit_ms, b.log.group_commit_ms);
  EXPECT_EQ(a.log.segment_bytes, b.log.segment_bytes);
  EXPECT_EQ(a.log.dedupe_window, b.log.dedupe_window);
  EXPECT_EQ(a.limits.max_frame_bytes, b.limits.max_frame_bytes);
  EXPECT_EQ(a.limits.max_batch_events, b.limits.max_batch_events);
  EXPECT_EQ(a.limits.window_batches, b.limits.window_batches);
  EXPECT_EQ(a.limits.send_hwm, b.limits.send_hwm);
  EXPECT_EQ(a.limits.recv_hwm, b.limits.recv_hwm);
  EXPECT_EQ(a.membership.heartbeat_ms, b.membership.heartbeat_ms);
  EXPECT_EQ(a.membership.dead_after_misses, b.membership.dead_after_misses);
  EXPECT_EQ(a.trending.enabled, b.trending.enabled);
  EXPECT_EQ(a.trending.params.bucket_ms, b.trending.params.bucket_ms);
  EXPECT_EQ(a.trending.params.lateness_ms, b.trending.params.lateness_ms);
  EXPECT_EQ(a.trending.params.horizon_buckets, b.trending.params.horizon_buckets);
  EXPECT_EQ(a.trending.params.popularity_window_buckets,
            b.trending.params.popularity_window_buckets);
  EXPECT_EQ(a.trending.params.half_life_ms, b.trending.params.half_life_ms);
  EXPECT_EQ(a.trending.params.min_support, b.trending.params.min_support);
  EXPECT_EQ(a.http.enabled, b.http.enabled);
  EXPECT_EQ(a.http.listen, b.http.listen);
  EXPECT_EQ(a.http.threads, b.http.threads);
  EXPECT_EQ(a.http.max_body_bytes, b.http.max_body_bytes);
  EXPECT_EQ(a.http.max_events, b.http.max_events);
  EXPECT_EQ(a.http.rate_limit_per_s, b.http.rate_limit_per_s);
  EXPECT_EQ(a.http.rate_limit_burst, b.http.rate_limit_burst);
  EXPECT_EQ(a.http.timeout_ms, b.http.timeout_ms);
}

// Parses `text` as "t.toml" and expects an error naming the file and `key`.
void expect_error(const std::string& text, const std::string& key,
                  const std::string& also = "") {
  auto c = parse_cluster_config(text, "t.toml");
  ASSERT_FALSE(c) << "accepted; expected an error about " << key << "\n"
                  << text;
  auto& msg = c.err().message;
  EXPECT_EQ(msg.rfind("t.toml:", 0), 0u)
      << msg; // "t.toml: KEY: ..." or "t.toml:LINE: ..."
  EXPECT_NE(msg.find(key), std::string::npos)
      << "'" << key << "' not in: " << msg;
  if (!also.empty()) {
    EXPECT_NE(msg.find(also), std::string::npos)
        << "'" << also << "' not in: " << msg;
  }
}

} // namespace

// ---- shipped files
// --------------------------------------------------------------

TEST(cluster_config, shipped_three_node_config_loads) {
  auto path = source_dir() + "/configs/cluster-3.toml";
  auto c = load_cluster_config(path);
  ASSERT_TRUE(c) << c.err().message;
  EXPECT_EQ(c->name, "eddy-3");
  EXPECT_EQ(c->shards, 64u);
  EXPECT_EQ(c->data_dir, "run/cluster-3/data");
  EXPECT_EQ(c->origin, path);
  ASSERT_EQ(c->nodes.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    auto& n = c->nodes[i];
    EXPECT_EQ(n.id, "n" + std::to_string(i + 1));
    EXPECT_EQ(n.host, "127.0.0.1");
    EXPECT_EQ(n.ingest_port, 5551 + i);
    EXPECT_EQ(n.peer_port, 5561 + i);
    EXPECT_EQ(n.http_port, 5801 + i); // ingest port + 250, like scripts/cluster.sh
  }
  EXPECT_EQ(c->log.fsync, fsync_policy::group);
  ASSERT_NE(c->find("n2"), nullptr);
  EXPECT_EQ(c->find("n2")->ingest_port, 5552);
  EXPECT_EQ(c->find("n4"), nullptr);
}

TEST(cluster_config, shipped_one_node_config_loads) {
  auto c = load_cluster_config(source_dir() + "/configs/cluster-1.toml");
  ASSERT_TRUE(c) << c.err().message;
  ASSERT_EQ(c->nodes.size(), 1u);
  EXPECT_EQ(c->nodes[0].id, "n1");
  EXPECT_EQ(c->shards, 64u);
}

TEST(cluster_config, shipped_files_spell_out_the_defaults) {
  // The shipped files write every key; their values are the struct's defaults,
  // so the comments in them and in configs/CLUSTER.md describe what an omitted
  // key does.
  auto c = load_cluster_config(source_dir() + "/configs/cluster-3.toml");
  ASSERT_TRUE(c) << c.err().message;
  cluster_config d;
  d.name = c->name;
  d.data_dir = c->data_dir;
  d.nodes = c->nodes;
  expect_same(*c, d);
}

TEST(cluster_config, missing_file_and_bad_toml_name_the_file) {
  auto missing = load_cluster_config("/nonexistent/cluster.toml");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.err().message.find("/nonexistent/cluster.toml"),
            std::string::npos);
  EXPECT_NE(missing.err().message.find("--config"), std::string::npos);
  expect_error("shards = = 3\n", "invalid TOML");
}

TEST(cluster_config, base_is_valid) {
  auto c = parse_cluster_config(base, "t.toml");
  ASSERT_TRUE(c) << c.err().message;
  EXPECT_EQ(c->origin, "t.toml");
}

// ---- defaults
// ---------------------------------------------------------------------

TEST(cluster_config, omitted_keys_take_the_struct_defaults) {
  auto c = parse_cluster_config(
      "[[node]]\nid = \"a\"\ningest_port = 1\npeer_port = 2\n", "t.toml");
  ASSERT_TRUE(c) << c.err().message;
  cluster_config d;
  node_config n;
  n.id = "a";
  n.ingest_port = 1;
  n.peer_port = 2;
  d.nodes.push_back(n);
  expect_same(*c, d);
  EXPECT_EQ(c->nodes[0].host, "127.0.0.1");
  // Empty sections are fine too.
  auto e = parse_cluster_config(
      "[[node]]\nid = \"a\"\ningest_port = 1\npeer_port = 2\n"
      "[log]\n[limits]\n[membership]\n",
      "t.toml");
  ASSERT_TRUE(e) << e.err().message;
  expect_same(*e, d);
}

TEST(cluster_config, embedded_config_is_valid) {
  auto e = embedded_config();
  EXPECT_EQ(e.shards, 64u);
  EXPECT_EQ(e.data_dir, "run/embedded/data");
  ASSERT_EQ(e.nodes.size(), 1u);
  EXPECT_EQ(e.nodes[0].id, "n1");
  EXPECT_EQ(e.nodes[0].host, "127.0.0.1");
  EXPECT_EQ(e.nodes[0].ingest_port, 5551);
  EXPECT_EQ(e.nodes[0].peer_port, 5561);
  EXPECT_EQ(e.nodes[0].http_port, 5801);
  auto c = parse_cluster_config(render(e), "embedded");
  ASSERT_TRUE(c) << c.err().message;
  expect_same(*c, e);
}

TEST(cluster_config, fsync_policies_round_trip) {
  for (auto p :
       {fsync_policy::per_batch, fsync_policy::group, fsync_policy::none}) {
    auto c = parse_cluster_config(
        with("fsync = \"group\"",
             "fsync = \"" + std::string{to_string(p)} + "\""),
        "t.toml");
    ASSERT_TRUE(c) << c.err().message;
    EXPECT_EQ(c->log.fsync, p);
  }
}

TEST(cluster_config, http_port_is_optional_and_checked) {
  auto c = parse_cluster_config(
      with("peer_port = 5561", "peer_port = 5561\nhttp_port = 8080"), "t.toml");
  ASSERT_TRUE(c) << c.err().message;
  EXPECT_EQ(c->nodes[0].http_port, 8080);
  EXPECT_EQ(c->nodes[1].http_port, 0);
  expect_error(with("peer_port = 5561", "peer_port = 5561\nhttp_port = 5552"),
               "node[1].ingest_port", "node[0].http_port");
  expect_error(with("peer_port = 5561", "peer_port = 5561\nhttp_port = 70000"),
               "node[0].http_port", "0..65535");
}

// ---- unknown keys
// -----------------------------------------------------------------

TEST(cluster_config, unknown_keys_are_errors_everywhere) {
  expect_error(with("shards = 64", "shard = 64"), "shard", "unknown key");
  expect_error(with("[log]", "[logs]"), "logs", "unknown key");
  expect_error(with("fsync = \"group\"", "fsnyc = \"group\""), "log.fsnyc",
               "unknown key");
  expect_error(with("ingest_port = 5552", "ingest_prot = 5552"),
               "node[1].ingest_prot", "unknown key");
  expect_error(with("send_hwm = 1000", "send_hmw = 1000"), "limits.send_hmw",
               "unknown key");
  expect_error(with("heartbeat_ms = 1000", "heartbeat = 1000"),
               "membership.heartbeat", "unknown key");
  // The message lists what is allowed.
  expect_error(with("fsync = \"group\"", "fsnyc = \"group\""), "log.fsnyc",
               "group_commit_ms");
}

TEST(cluster_config, sections_must_be_tables) {
  expect_error(
      "log = 3\n[[node]]\nid = \"a\"\ningest_port = 1\npeer_port = 2\n", "log",
      "[log]");
  expect_error(
      "limits = \"x\"\n[[node]]\nid = \"a\"\ningest_port = 1\npeer_port = 2\n",
      "limits");
  expect_error(
      "membership = []\n[[node]]\nid = \"a\"\ningest_port = 1\npeer_port = 2\n",
      "membership");
}

// ---- top level
// ----------------------------------------------------------------------

TEST(cluster_config, shards_in_range) {
  expect_error(with("shards = 64", "shards = 0"), "shards", "1..65536");
  expect_error(with("shards = 64", "shards = 65537"), "shards", "1..65536");
  expect_error(with("shards = 64", "shards = -1"), "shards");
  expect_error(with("shards = 64", "shards = \"64\""), "shards", "integer");
  expect_error(with("shards = 64", "shards = 64.0"), "shards", "integer");
  EXPECT_TRUE(
      parse_cluster_config(with("shards = 64", "shards = 1"), "t.toml"));
  EXPECT_TRUE(
      parse_cluster_config(with("shards = 64", "shards = 65536"), "t.toml"));
}

TEST(cluster_config, name_and_data_dir_non_empty_strings) {
  expect_error(with("name = \"t\"", "name = \"\""), "name", "empty");
  expect_error(with("name = \"t\"", "name = 3"), "name", "string");
  expect_error(with("data_dir = \"run/t\"", "data_dir = \"\""), "data_dir",
               "empty");
}

// ---- nodes
// --------------------------------------------------------------------------

TEST(cluster_config, at_least_one_node) {
  expect_error("shards = 8\n", "node", "[[node]]");
  expect_error("shards = 8\nnode = []\n", "node", "at least one");
  expect_error("shards = 8\nnode = 3\n", "node", "[[node]]");
}

TEST(cluster_config, node_ids) {
  expect_error(with("id = \"n2\"", "id = \"n1\""), "node[1].id", "node[0]");
  expect_error(with("id = \"n2\"", "id = \"\""), "node[1].id", "empty");
  expect_error(with("id = \"n2\"", "id = \"n 2\""), "node[1].id",
               "A-Z a-z 0-9 _ -");
  expect_error(with("id = \"n2\"", "id = \"n2/..\""), "node[1].id");
  expect_error(with("id = \"n2\"", "id = \"" + std::string(65, 'x') + "\""),
               "node[1].id", "1..64");
  expect_error(with("id = \"n2\"\n", ""), "node[1].id", "missing");
  expect_error(with("id = \"n2\"", "id = 2"), "node[1].id", "string");
  EXPECT_TRUE(parse_cluster_config(
      with("id = \"n2\"", "id = \"Node_2-b-" + std::string(55, 'z') + "\""),
      "t.toml"));
}

TEST(cluster_config, ports_in_range_and_present) {
  expect_error(with("ingest_port = 5552", "ingest_port = 0"),
               "node[1].ingest_port", "1..65535");
  expect_error(with("ingest_port = 5552", "ingest_port = 65536"),
               "node[1].ingest_port", "1..65535");
  expect_error(with("peer_port = 5562", "peer_port = -5"), "node[1].peer_port",
               "1..65535");
  expect_error(with("peer_port = 5562\n", ""), "node[1].peer_port", "missing");
  expect_error(with("ingest_port = 5551\n", ""), "node[0].ingest_port",
               "missing");
}

TEST(cluster_config, no_host_port_used_twice) {
  // Same kind on two nodes.
  expect_error(with("ingest_port = 5552", "ingest_port = 5551"),
               "node[1].ingest_port",
               "127.0.0.1:5551 is already used by node[0].ingest_port (n1)");
  // Across kinds and nodes.
  expect_error(with("ingest_port = 5552", "ingest_port = 5561"),
               "node[1].ingest_port", "node[0].peer_port");
  // Within one node.
  expect_error(with("peer_port = 5562", "peer_port = 5552"),
               "node[1].peer_port", "node[1].ingest_port");
  // The same port on different hosts is fine: different machines.
  auto s = with("ingest_port = 5552", "ingest_port = 5551");
  s.replace(s.rfind("host = \"127.0.0.1\""), 18, "host = \"10.0.0.2\"");
  auto c = parse_cluster_config(s, "t.toml");
  EXPECT_TRUE(c) << c.err().message;
}

TEST(cluster_config, hosts) {
  expect_error(with("host = \"127.0.0.1\"", "host = \"\""), "node[0].host",
               "empty");
  expect_error(with("host = \"127.0.0.1\"", "host = \"127.0.0.1 \""),
               "node[0].host", "whitespace");
  expect_error(with("host = \"127.0.0.1\"", "host = 127"), "node[0].host",
               "string");
}

// ---- [log]
// --------------------------------------------------------------------------

TEST(cluster_config, log_section) {
  expect_error(with("fsync = \"group\"", "fsync = \"sometimes\""), "log.fsync",
               "per_batch");
  expect_error(with("fsync = \"group\"", "fsync = true"), "log.fsync",
               "string");
  expect_error(with("group_commit_ms = 5", "group_commit_ms = 0"),
               "log.group_commit_ms", "1..10000");
  expect_error(with("group_commit_ms = 5", "group_commit_ms = 10001"),
               "log.group_commit_ms", "1..10000");
  expect_error(with("segment_bytes = 67108864", "segment_bytes = 1000"),
               "log.segment_bytes", "1 MiB..64 GiB");
  expect_error(with("dedupe_window = 65536", "dedupe_window = 0"),
               "log.dedupe_window", "1..16777216");
  expect_error(with("dedupe_window = 65536", "dedupe_window = 63"),
               "log.dedupe_window", "limits.window_batches");
  EXPECT_TRUE(parse_cluster_config(
      with("dedupe_window = 65536", "dedupe_window = 64"), "t.toml"));
}

// ---- [limits]
// -----------------------------------------------------------------------

TEST(cluster_config, limits_section) {
  expect_error(with("max_frame_bytes = 4194304", "max_frame_bytes = 1023"),
               "limits.max_frame_bytes", "1 KiB..256 MiB");
  expect_error(with("max_frame_bytes = 4194304", "max_frame_bytes = 268435457"),
               "limits.max_frame_bytes", "1 KiB..256 MiB");
  EXPECT_TRUE(parse_cluster_config(
      with("max_frame_bytes = 4194304", "max_frame_bytes = 1024"), "t.toml"));
  EXPECT_TRUE(parse_cluster_config(
      with("max_frame_bytes = 4194304", "max_frame_bytes = 268435456"),
      "t.toml"));
  expect_error(with("max_batch_events = 65536", "max_batch_events = 0"),
               "limits.max_batch_events", "1..1048576");
  expect_error(with("window_batches = 64", "window_batches = 0"),
               "limits.window_batches", "1..65536");
  expect_error(with("send_hwm = 1000", "send_hwm = 0"), "limits.send_hwm",
               "1..1000000");
  expect_error(with("recv_hwm = 1000", "recv_hwm = 0"), "limits.recv_hwm",
               "1..1000000");
  expect_error(with("recv_hwm = 1000", "recv_hwm = 1.5"), "limits.recv_hwm",
               "integer");
}

// ---- [membership]
// -------------------------------------------------------------------

TEST(cluster_config, membership_section) {
  expect_error(with("heartbeat_ms = 1000", "heartbeat_ms = 9"),
               "membership.heartbeat_ms", "10..60000");
  expect_error(with("heartbeat_ms = 1000", "heartbeat_ms = 60001"),
               "membership.heartbeat_ms", "10..60000");
  expect_error(with("dead_after_misses = 3", "dead_after_misses = 0"),
               "membership.dead_after_misses", "1..100");
  expect_error(with("dead_after_misses = 3", "dead_after_misses = 101"),
               "membership.dead_after_misses", "1..100");
}

// ---- [trending]
// -----------------------------------------------------------------------

TEST(cluster_config, trending_section_is_read_and_checked) {
  auto c = parse_cluster_config(base + "\n[trending]\nenabled = false\nbucket_ms = 30000\n"
                                       "alpha = 0.5\nmin_support = 2\nseason = true\n",
                                "t.toml");
  ASSERT_TRUE(c) << c.err().message;
  EXPECT_FALSE(c->trending.enabled);
  EXPECT_EQ(c->trending.params.bucket_ms, 30000);
  EXPECT_EQ(c->trending.params.alpha, 0.5);
  EXPECT_EQ(c->trending.params.min_support, 2.0);
  EXPECT_TRUE(c->trending.params.season);
  expect_error(base + "\n[trending]\nalpha = 0\n", "trending.alpha", "(0, 1]");
  expect_error(base + "\n[trending]\nalpha = \"high\"\n", "trending.alpha", "number");
  expect_error(base + "\n[trending]\nenabled = 1\n", "trending.enabled", "true or false");
  expect_error(base + "\n[trending]\nbucket_sec = 60\n", "trending.bucket_sec", "unknown key");
  // The model's own rule: the kept horizon must cover the allowed lateness.
  expect_error(base + "\n[trending]\nlateness_ms = 7200000\n", "trending.horizon_buckets");
}

// ---- [http]
// ---------------------------------------------------------------------------

TEST(cluster_config, http_section_is_read_and_checked) {
  auto d = parse_cluster_config(base, "t.toml");
  ASSERT_TRUE(d) << d.err().message;
  EXPECT_TRUE(d->http.enabled);
  EXPECT_EQ(d->http.listen, "127.0.0.1"); // loopback unless the file says otherwise
  EXPECT_EQ(d->http.rate_limit_per_s, 0.0);
  auto c = parse_cluster_config(base + "\n[http]\nenabled = false\nlisten = \"0.0.0.0\"\n"
                                       "threads = 16\nmax_body_bytes = 2048\nmax_events = 50\n"
                                       "rate_limit_per_s = 2.5\nrate_limit_burst = 7\n"
                                       "timeout_ms = 1500\n",
                                "t.toml");
  ASSERT_TRUE(c) << c.err().message;
  EXPECT_FALSE(c->http.enabled);
  EXPECT_EQ(c->http.listen, "0.0.0.0");
  EXPECT_EQ(c->http.threads, 16u);
  EXPECT_EQ(c->http.max_body_bytes, 2048u);
  EXPECT_EQ(c->http.max_events, 50u);
  EXPECT_EQ(c->http.rate_limit_per_s, 2.5);
  EXPECT_EQ(c->http.rate_limit_burst, 7u);
  EXPECT_EQ(c->http.timeout_ms, 1500u);
  expect_error(base + "\n[http]\nthreads = 0\n", "http.threads", "1..1024");
  expect_error(base + "\n[http]\nmax_body_bytes = 10\n", "http.max_body_bytes", "1 KiB");
  expect_error(base + "\n[http]\nrate_limit_per_s = -1\n", "http.rate_limit_per_s", "0..1e9");
  expect_error(base + "\n[http]\nrate_limit_per_s = \"fast\"\n", "http.rate_limit_per_s",
               "number");
  expect_error(base + "\n[http]\nlisten = \"\"\n", "http.listen", "must not be empty");
  expect_error(base + "\n[http]\nlisten = \"0.0.0.0 \"\n", "http.listen", "whitespace");
  expect_error(base + "\n[http]\ntimeout_ms = 5\n", "http.timeout_ms", "100..600000");
  expect_error(base + "\n[http]\nport = 8080\n", "http.port", "unknown key");
  expect_error(base + "\n[http]\nmax_events = 70000\n", "http.max_events",
               "limits.max_batch_events");
  expect_error("http = 1\n" + base, "http", "must be a table");
}

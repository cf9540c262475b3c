// eddy node / eddy count / eddy status: run a cluster node, and ask one for totals.
#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "cli/paths.hpp"

#include "actors/node.hpp"
#include "cluster/client.hpp"
#include "cluster/config.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

namespace eddy::cli {

void add_node(CLI::App& app, int& exit_code) {
  struct options {
    std::string config;
    std::string id;
    std::string interactions;
  };
  auto o = std::make_shared<options>();
  auto* cmd = app.add_subcommand(
    "node",
    "Run one eddy cluster node until SIGINT/SIGTERM: an ingest endpoint for producers "
    "(ZeroMQ ROUTER, schema/WIRE.md), one durable log per owned shard, the peer "
    "links to the other nodes of the config, and, if the node has an http_port, the "
    "HTTP API, pixel and dashboard ([http] in configs/CLUSTER.md; endpoints in "
    "web/openapi.yaml). Without --config: one embedded node holding every shard "
    "(ingest on tcp://127.0.0.1:5551, dashboard on http://127.0.0.1:5801/).");
  cmd->add_option("--config,-c", o->config,
                  "Cluster config (configs/cluster-3.toml; keys in configs/CLUSTER.md)");
  cmd->add_option("--id", o->id, "Which [[node]] of the config this process is")
    ->capture_default_str();
  cmd->add_option("--interactions", o->interactions,
                  "Interaction registry. Default: configs/interactions.toml");
  cmd->callback([o, &exit_code] {
    auto cfg = o->config.empty() ? expected<cluster::cluster_config>{cluster::embedded_config()}
                                 : cluster::load_cluster_config(o->config);
    if (!cfg) {
      std::fprintf(stderr, "eddy node: %s\n", cfg.err().message.c_str());
      exit_code = 2;
      return;
    }
    auto id = o->id;
    if (id.empty()) {
      if (cfg->nodes.size() != 1) {
        std::fprintf(stderr, "eddy node: %s has %zu nodes: say which one with --id\n",
                     cfg->origin.c_str(), cfg->nodes.size());
        exit_code = 2;
        return;
      }
      id = cfg->nodes.front().id;
    }
    exit_code = actors::run_node(*cfg, {id, resolve_interactions(o->interactions)});
  });
}

namespace {

void print_trending_status(const std::string& connect, bool json, int timeout_ms,
                           int& exit_code) {
  auto r = cluster::query_node(connect, "tstats", "", std::chrono::milliseconds{timeout_ms});
  if (!r) {
    std::fprintf(stderr, "eddy status: %s\n", r.err().message.c_str());
    exit_code = 1;
    return;
  }
  if (json) {
    std::printf("%s\n", r->c_str());
    return;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(*r).get(doc) != simdjson::SUCCESS) {
    std::fprintf(stderr, "eddy status: the node's answer is not JSON\n");
    exit_code = 1;
    return;
  }
  auto num = json_number;
  bool complete = false;
  complete = json_get(doc, "complete", complete);
  std::printf("trending state: %.0f items, %.0f (item, type) series, %.1f MiB (%.0f bytes per "
              "series), %.0f events accepted, %.0f late, %.0f of unknown types%s\n",
              num(doc, "items"), num(doc, "tracked_series"), num(doc, "bytes") / 1048576.0,
              num(doc, "bytes_per_series"), num(doc, "accepted"), num(doc, "late"),
              num(doc, "rejected"), complete ? "" : "  (INCOMPLETE: a node did not answer)");
  std::printf("%-6s %9s %9s %11s %9s %s\n", "shard", "items", "series", "bytes", "late",
              "digest");
  simdjson::dom::array shards;
  if (doc["shards"].get(shards) == simdjson::SUCCESS)
    for (auto s : shards) {
      std::string_view digest;
      digest = json_get(s, "digest", digest);
      std::printf("%-6.0f %9.0f %9.0f %11.0f %9.0f %.*s\n", num(s, "shard"), num(s, "items"),
                  num(s, "tracked_series"), num(s, "bytes"), num(s, "late"),
                  static_cast<int>(digest.size()), digest.data());
    }
}

void add_query(CLI::App& app, int& exit_code, const std::string& name, bool is_count) {
  struct options {
    std::string connect = "tcp://127.0.0.1:5551";
    std::string item;
    bool json = false;
    bool trending = false;
    int timeout_ms = 5000;
  };
  auto o = std::make_shared<options>();
  auto* cmd = app.add_subcommand(
    name, is_count ? "Event totals through the owners: cluster, per node, per shard, and "
                     "one item's count with --item"
                   : "Cluster status: nodes, liveness, shards per node and event counts");
  cmd->add_option("--connect", o->connect, "Any node's ingest endpoint")
    ->capture_default_str();
  if (is_count)
    cmd->add_option("--item", o->item, "Also report this item's total");
  cmd->add_flag("--json", o->json, "Print the answer as one JSON object");
  if (!is_count)
    cmd->add_flag("--trending", o->trending,
                  "Show the trending state instead: per shard items, tracked (item, type) "
                  "series, bytes, late events and a digest of the state (equal digests = "
                  "equal state, e.g. before and after a restart)");
  cmd->add_option("--timeout-ms", o->timeout_ms, "How long to wait for the answer")
    ->capture_default_str();
  cmd->callback([o, &exit_code, is_count] {
    if (o->trending) {
      print_trending_status(o->connect, o->json, o->timeout_ms, exit_code);
      return;
    }
    auto r = cluster::query_node(o->connect, "count", o->item,
                                 std::chrono::milliseconds{o->timeout_ms});
    if (!r) {
      std::fprintf(stderr, "eddy %s: %s\n", is_count ? "count" : "status",
                   r.err().message.c_str());
      exit_code = 1;
      return;
    }
    if (o->json) {
      std::printf("%s\n", r->c_str());
      return;
    }
    // A readable table without a JSON library: the answer's shape is fixed.
    auto field = [](const std::string& j, const std::string& key, std::size_t from = 0) {
      auto k = j.find("\"" + key + "\":", from);
      if (k == std::string::npos)
        return std::string{};
      auto v = k + key.size() + 3;
      auto end = j.find_first_of(",}", v);
      auto s = j.substr(v, end - v);
      if (!s.empty() && s.front() == '"')
        s = s.substr(1, s.size() - 2);
      return s;
    };
    std::printf("total events: %s%s\n", field(*r, "total_events").c_str(),
                field(*r, "complete") == "true" ? "" : "  (INCOMPLETE: a node did not answer)");
    if (is_count && !o->item.empty())
      std::printf("item %s: %s events\n", o->item.c_str(), field(*r, "item_count").c_str());
    std::printf("%-10s %-6s %-7s %s\n", "node", "alive", "shards", "events");
    auto nodes = r->find("\"nodes\":[");
    auto shards = r->find("\"shards\":[");
    for (auto pos = r->find("{\"id\":", nodes); pos != std::string::npos && pos < shards;
         pos = r->find("{\"id\":", pos + 1))
      std::printf("%-10s %-6s %-7s %s\n", field(*r, "id", pos).c_str(),
                  field(*r, "alive", pos) == "true" ? "yes" : "NO",
                  field(*r, "shards_owned", pos).c_str(), field(*r, "events", pos).c_str());
  });
}

} // namespace

void add_count(CLI::App& app, int& exit_code) { add_query(app, exit_code, "count", true); }
void add_status(CLI::App& app, int& exit_code) { add_query(app, exit_code, "status", false); }

} // namespace eddy::cli

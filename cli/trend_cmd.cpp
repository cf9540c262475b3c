// eddy trending / popular / series: the streaming path's answers, asked of any node
// (actors/trend_query.hpp has the query syntax; the node merges the owners'
// answers as of the cluster's newest event time).
#include "cli/commands.hpp"
#include "cli/query_args.hpp"
#include "cli/json.hpp"

#include "cluster/client.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

namespace eddy::cli {

namespace {

struct trend_options {
  std::string connect = "tcp://127.0.0.1:5551";
  std::size_t k = 10;
  std::string type = "all";
  double min_support = -1.0;
  std::string by = "window";
  std::string item;
  std::int64_t as_of = 0;
  bool json = false;
  int timeout_ms = 5000;
};


std::string utc(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000 - (ms % 1000 < 0 ? 1 : 0));
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void common_options(CLI::App* cmd, trend_options& o) {
  cmd->add_option("--connect", o.connect, "Any node's ingest endpoint")->capture_default_str();
  cmd->add_option("--type,-t", o.type,
                  "Interaction type (a name or alias of configs/interactions.toml), or all: "
                  "trending ranks an item by its strongest type; popular and series use the "
                  "registry's weights")
    ->capture_default_str();
  cmd->add_option("--as-of", o.as_of,
                  "Answer as of this event time (ms since the epoch). Default: the newest "
                  "event time any node has seen");
  cmd->add_flag("--json", o.json, "Print the node's answer as one JSON object");
  cmd->add_option("--timeout-ms", o.timeout_ms, "How long to wait for the answer")
    ->capture_default_str();
}

// Sends the query; prints the JSON or hands the parsed answer to `table`.
template <class Table>
void run(const char* name, const trend_options& o, std::string args, int& exit_code,
         Table&& table) {
  if (o.type != "all")
    args += "&type=" + escape_arg(o.type);
  if (o.as_of != 0)
    args += "&as_of=" + std::to_string(o.as_of);
  auto r = cluster::query_node(o.connect, name, args, std::chrono::milliseconds{o.timeout_ms});
  if (!r) {
    std::fprintf(stderr, "eddy %s: %s\n", name, r.err().message.c_str());
    exit_code = 1;
    return;
  }
  if (o.json) {
    std::printf("%s\n", r->c_str());
    return;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(*r).get(doc) != simdjson::SUCCESS) {
    std::fprintf(stderr, "eddy %s: the node sent something that is not JSON: %.200s\n", name,
                 r->c_str());
    exit_code = 1;
    return;
  }
  std::int64_t as_of = 0, bucket_ms = 0;
  as_of = json_get(doc, "as_of_ms", as_of);
  bucket_ms = json_get(doc, "bucket_ms", bucket_ms);
  std::string_view type, queried_by;
  type = json_get(doc, "type", type);
  queried_by = json_get(doc, "queried_by", queried_by);
  std::printf("%s (type %.*s), as of %s, buckets of %lld s, asked %.*s\n", name,
              static_cast<int>(type.size()), type.data(),
              as_of ? utc(as_of).c_str() : "(no events yet)",
              static_cast<long long>(bucket_ms / 1000), static_cast<int>(queried_by.size()),
              queried_by.data());
  bool complete = true;
  complete = json_get(doc, "complete", complete);
  if (!complete)
    std::printf("INCOMPLETE: some nodes did not answer; their items are missing\n");
  table(doc, bucket_ms);
}

void print_ranking(simdjson::dom::element doc, const char* measure) {
  simdjson::dom::array items;
  if (doc["items"].get(items) != simdjson::SUCCESS || items.size() == 0) {
    std::printf("(no items)\n");
    return;
  }
  std::printf("%-5s %-24s %12s\n", "rank", "item", measure);
  for (auto e : items) {
    std::int64_t rank = 0;
    std::string_view item;
    double v = 0;
    rank = json_get(e, "rank", rank);
    item = json_get(e, "item", item);
    v = json_get(e, measure, v);
    std::printf("%-5lld %-24.*s %12.2f\n", static_cast<long long>(rank),
                static_cast<int>(item.size()), item.data(), v);
  }
}

} // namespace

void add_trending(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<trend_options>();
  auto* cmd = app.add_subcommand(
    "trending",
    "Items surging now: each item's last closed bucket scored against its forecast, in "
    "units of its expected spread (models/trending.hpp), best first, merged from every "
    "shard owner");
  common_options(cmd, *o);
  cmd->add_option("-k", o->k, "How many items")->capture_default_str()->check(
    CLI::Range(1, 10000));
  cmd->add_option("--min-support", o->min_support,
                  "Smallest count (of one type) a bucket needs to trend. Default: the "
                  "cluster config's trending.min_support");
  cmd->callback([o, &exit_code] {
    auto args = "k=" + std::to_string(o->k);
    if (o->min_support >= 0)
      args += "&min_support=" + std::to_string(o->min_support);
    run("trending", *o, args, exit_code,
        [](simdjson::dom::element doc, std::int64_t) { print_ranking(doc, "score"); });
  });
}

void add_popular(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<trend_options>();
  auto* cmd = app.add_subcommand(
    "popular", "Most popular items: counts over the popularity window (trending."
               "popularity_window_buckets) or exponentially decayed totals (--by decayed, "
               "half-life trending.half_life_ms); weighted by type unless --type is given");
  common_options(cmd, *o);
  cmd->add_option("-k", o->k, "How many items")->capture_default_str()->check(
    CLI::Range(1, 10000));
  cmd->add_option("--by", o->by, "window or decayed")
    ->capture_default_str()
    ->check(CLI::IsMember({"window", "decayed"}));
  cmd->callback([o, &exit_code] {
    auto args = "k=" + std::to_string(o->k) + "&by=" + o->by;
    bool decayed = o->by == "decayed";
    run("popular", *o, args, exit_code, [decayed](simdjson::dom::element doc, std::int64_t) {
      print_ranking(doc, decayed ? "decayed_count" : "count");
    });
  });
}

void add_series(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<trend_options>();
  auto* cmd = app.add_subcommand(
    "series", "One item's recent buckets: count, forecast from the history before the "
              "bucket, spread and trending score (for plotting: use --json)");
  common_options(cmd, *o);
  cmd->add_option("ITEM", o->item, "The item id")->required();
  cmd->callback([o, &exit_code] {
    run("series", *o, "item=" + escape_arg(o->item), exit_code,
        [o](simdjson::dom::element doc, std::int64_t) {
          simdjson::dom::array points;
          if (doc["points"].get(points) != simdjson::SUCCESS || points.size() == 0) {
            std::printf("item %s: no events of this type in the kept horizon\n",
                        o->item.c_str());
            return;
          }
          std::printf("%-21s %9s %9s %8s %7s %s\n", "bucket start (UTC)", "count",
                      "forecast", "spread", "score", "closed");
          for (auto p : points) {
            std::int64_t start = 0;
            double count = 0, forecast = 0, spread = 0, score = 0;
            bool closed = false;
            start = json_get(p, "bucket_start_ms", start);
            count = json_get(p, "count", count);
            forecast = json_get(p, "forecast", forecast);
            spread = json_get(p, "spread", spread);
            score = json_get(p, "score", score);
            closed = json_get(p, "closed", closed);
            std::printf("%-21s %9.1f %9.2f %8.2f %7.2f %s\n", utc(start).c_str(), count,
                        forecast, spread, score, closed ? "yes" : "open");
          }
        });
  });
}

} // namespace eddy::cli

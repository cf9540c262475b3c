// eddy score-trending: how well does the trending list find injected surges?
// Generates a shop with surges (ground truth from the generator), streams it into
// a running cluster bucket by bucket, asks the cluster for the trending list as
// each bucket closes, and scores the flags (models/trend_eval.hpp).
#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "cli/paths.hpp"

#include "cluster/client.hpp"
#include "models/trend_eval.hpp"
#include "models/trending.hpp"
#include "schema/generator.hpp"
#include "schema/interactions.hpp"
#include "schema/writers.hpp"

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <unordered_set>

namespace eddy::cli {

namespace {

struct score_options {
  std::string connect = "tcp://127.0.0.1:5551";
  std::string interactions;
  std::string producer;
  std::string summary = "text";
  std::size_t k = 10;
  double min_score = 4.0;
  std::uint32_t confirm = 2;
  models::trend_eval_params eval;
  std::size_t batch = 2000;
  generator_config gen;
};

struct collect_sink final : event_sink {
  std::vector<event> events;
  void on_event(const event_view& ev) override { events.push_back(ev.to_event()); }
};

struct cluster_clock {
  std::int64_t bucket_ms = 0, lateness_ms = 0;
};

// The trending list as of `as_of`: (item, score) with score >= min_score.
expected<std::vector<std::pair<std::string, double>>>
trending_at(const score_options& o, std::int64_t as_of, cluster_clock* clock) {
  auto r = cluster::query_node(o.connect, "trending",
                               "k=" + std::to_string(o.k) + "&as_of=" + std::to_string(as_of),
                               std::chrono::milliseconds{10000});
  if (!r)
    return r.err();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(*r).get(doc) != simdjson::SUCCESS)
    return error{"the node's answer is not JSON"};
  if (!json_get(doc, "complete", false))
    return error{"a node did not answer the trending query; is the whole cluster up?"};
  if (clock) {
    clock->bucket_ms = json_get<std::int64_t>(doc, "bucket_ms", 0);
    clock->lateness_ms = json_get<std::int64_t>(doc, "lateness_ms", 0);
  }
  std::vector<std::pair<std::string, double>> out;
  simdjson::dom::array items;
  if (doc["items"].get(items) == simdjson::SUCCESS)
    for (auto e : items) {
      std::string_view item;
      double score = 0;
      item = json_get(e, "item", item);
      score = json_get(e, "score", score);
      if (score >= o.min_score)
        out.emplace_back(std::string{item}, score);
    }
  return out;
}

int run_score(const score_options& o) {
  auto fail = [](const std::string& m, int code) {
    std::fprintf(stderr, "eddy score-trending: %s\n", m.c_str());
    return code;
  };
  auto reg = interaction_registry::load(resolve_interactions(o.interactions));
  if (!reg)
    return fail(reg.err().message, 2);
  if (auto st = validate(o.gen, *reg); !st)
    return fail(st.message(), 2);
  collect_sink sink;
  auto surges = try_generate(o.gen, *reg, sink);
  if (!surges)
    return fail(surges.err().message, 2);
  if (sink.events.empty())
    return fail("the generator produced no events; raise --hours or --sessions-per-minute", 2);

  cluster_clock clock;
  if (auto first = trending_at(o, o.gen.start_ms, &clock); !first)
    return fail(first.err().message, 1);
  if (clock.bucket_ms <= 0)
    return fail("the cluster did not say its trending bucket width", 1);

  cluster::producer_options po;
  po.producer = o.producer.empty() ? "score-trending-" + std::to_string(::getpid())
                                   : o.producer;
  auto client = cluster::producer_client::connect(o.connect, po);
  if (!client)
    return fail(client.err().message, 2);

  // Bucket by bucket: send every event before bucket b's close time (its end plus
  // the allowed lateness), wait for the acks, and read the list as of that time:
  // bucket b is then the last closed bucket of every shard.
  auto& events = sink.events;
  const auto bucket_of = [&](std::int64_t ts) { return models::floor_div(ts, clock.bucket_ms); };
  const std::int64_t first_bucket = bucket_of(events.front().ts);
  const std::int64_t last_bucket = bucket_of(events.back().ts);
  // Surges start after the first 10% of the span (the generator's rule): before
  // that the forecasts have little history and nothing is scored.
  const std::int64_t warmup_end = first_bucket + (last_bucket - first_bucket + 1) / 10;
  std::vector<models::trend_flag> flags;
  std::unordered_map<std::string, std::uint32_t> streak; // consecutive buckets listed
  std::vector<event_view> views;
  std::size_t next = 0;
  auto t0 = std::chrono::steady_clock::now();
  const bool tty = isatty(2) != 0;
  for (std::int64_t b = first_bucket; b <= last_bucket; ++b) {
    const std::int64_t close = (b + 1) * clock.bucket_ms + clock.lateness_ms;
    while (next < events.size() && events[next].ts < close) {
      views.clear();
      while (next < events.size() && events[next].ts < close && views.size() < o.batch)
        views.emplace_back(events[next++]);
      if (auto st = (*client)->submit(views); !st)
        return fail(st.message(), 1);
    }
    if (auto st = (*client)->drain(); !st)
      return fail(st.message(), 1);
    auto list = trending_at(o, close, nullptr);
    if (!list)
      return fail(list.err().message, 1);
    std::unordered_map<std::string, std::uint32_t> listed;
    for (auto& [item, score] : *list) {
      auto run = streak.count(item) ? streak[item] + 1 : 1;
      listed[item] = run;
      if (run >= o.confirm && b >= warmup_end)
        flags.push_back({b, item, score});
    }
    streak = std::move(listed);
    if (tty && (b - first_bucket) % 60 == 0)
      std::fprintf(stderr, "\rscored %lld of %lld buckets, %zu events sent",
                   static_cast<long long>(b - first_bucket),
                   static_cast<long long>(last_bucket - first_bucket + 1), next);
  }
  if (tty)
    std::fprintf(stderr, "\r%60s\r", "");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::vector<models::surge_truth> truth;
  for (auto& s : *surges)
    truth.push_back({s.item, bucket_of(s.start_ms), bucket_of(s.end_ms - 1) + 1});
  auto r = models::evaluate_trending(truth, flags, o.eval);

  if (o.summary == "json") {
    std::string j = "{\"events\":" + std::to_string(events.size()) +
                    ",\"buckets\":" + std::to_string(last_bucket - first_bucket + 1) +
                    ",\"bucket_ms\":" + std::to_string(clock.bucket_ms) +
                    ",\"surges\":" + std::to_string(truth.size()) +
                    ",\"detected\":" + std::to_string(r.detected) +
                    ",\"alerts\":" + std::to_string(r.alerts.size()) +
                    ",\"true_alerts\":" + std::to_string(r.true_alerts) +
                    ",\"precision\":" + std::to_string(r.precision) +
                    ",\"recall\":" + std::to_string(r.recall) +
                    ",\"median_delay_buckets\":" + std::to_string(r.median_delay) +
                    ",\"seconds\":" + std::to_string(secs) + ",\"false_alerts\":[";
    bool first = true;
    for (auto& a : r.alerts)
      if (!a.true_alert) {
        j += first ? "" : ",";
        first = false;
        append_json_string(j, a.item);
      }
    j += "]}";
    std::printf("%s\n", j.c_str());
  } else {
    std::printf("score-trending: %zu events in %lld buckets of %lld s, %zu surges; flagged: in "
                "the top-%zu with score >= %.1f for %u consecutive buckets (%.1f s)\n",
                events.size(), static_cast<long long>(last_bucket - first_bucket + 1),
                static_cast<long long>(clock.bucket_ms / 1000), truth.size(), o.k, o.min_score,
                o.confirm, secs);
    std::printf("%-10s %-8s %-9s %-6s %s\n", "item", "start", "detected", "delay", "best score");
    for (auto& s : r.surges)
      std::printf("%-10s %-8lld %-9s %-6s %.1f\n", s.surge.item.c_str(),
                  static_cast<long long>(s.surge.start_bucket - first_bucket),
                  s.detected ? "yes" : "MISSED",
                  s.detected ? std::to_string(s.delay).c_str() : "-", s.best_score);
    std::size_t shown = 0;
    for (auto& a : r.alerts)
      if (!a.true_alert && shown++ < 10)
        std::printf("false alert: item %s, buckets %lld..%lld, best score %.1f\n",
                    a.item.c_str(), static_cast<long long>(a.first - first_bucket),
                    static_cast<long long>(a.last - first_bucket), a.best_score);
    std::printf("precision %.3f (%zu of %zu alerts true)  recall %.3f (%zu of %zu surges)  "
                "median delay %.1f buckets\n",
                r.precision, r.true_alerts, r.alerts.size(), r.recall, r.detected, truth.size(),
                r.median_delay);
  }
  return 0;
}

} // namespace

void add_score_trending(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<score_options>();
  // The scoring scenario: 8 h of a busy shop (1000 sessions a minute, so a
  // 1-minute bucket of a mid-popularity item holds a few events) with 10 surges.
  auto& g = o->gen;
  g.sessions_per_minute = 1000.0;
  g.hours = 8.0;
  g.surges = 10;
  auto* cmd = app.add_subcommand(
    "score-trending",
    "Score the trending list against known surges: generate a shop with injected surges "
    "(as eddy generate), stream it bucket by bucket into a running cluster, read the "
    "trending list as each bucket closes and report precision, recall and detection delay "
    "(models/trend_eval.hpp defines them). Buckets in the first 10% of the span are not "
    "scored (no surge starts there; forecasts are still learning). Use a cluster with no "
    "other data: other items compete for the list.");
  cmd->add_option("--connect", o->connect, "Any node's ingest endpoint")->capture_default_str();
  cmd->add_option("-k", o->k, "Length of the trending list read each bucket")
    ->capture_default_str();
  cmd->add_option("--min-score", o->min_score,
                  "A listed item counts as flagged from this score on (units of expected "
                  "spread above the forecast)")
    ->capture_default_str();
  cmd->add_option("--confirm", o->confirm,
                  "An item is flagged in a bucket once it was listed (score >= --min-score) in "
                  "this many consecutive closed buckets; 1 flags on the first")
    ->capture_default_str()
    ->check(CLI::Range(1, 60));
  cmd->add_option("--grace", o->eval.grace_buckets,
                  "Flags up to this many buckets after a surge's end still belong to it")
    ->capture_default_str();
  cmd->add_option("--merge-gap", o->eval.merge_gap,
                  "Flags of one item at most this many buckets apart are one alert")
    ->capture_default_str();
  cmd->add_option("--seed", g.seed, "Generator seed")->capture_default_str();
  cmd->add_option("--users", g.users, "Visitors")->capture_default_str();
  cmd->add_option("--items", g.items, "Items")->capture_default_str();
  cmd->add_option("--hours", g.hours, "Simulated span, hours")->capture_default_str();
  cmd->add_option("--sessions-per-minute", g.sessions_per_minute,
                  "Mean sessions per simulated minute")
    ->capture_default_str();
  cmd->add_option("--start", g.start_ms, "Event time of the first minute, ms since the epoch")
    ->capture_default_str();
  cmd->add_option("--surges", g.surges, "Injected surges")->capture_default_str();
  cmd->add_option("--surge-factor", g.surge_factor, "Surge rate multiplier")
    ->capture_default_str();
  cmd->add_option("--surge-minutes", g.surge_minutes, "Surge length, minutes")
    ->capture_default_str();
  cmd->add_option("--producer", o->producer, "Producer id (default score-trending-PID)");
  cmd->add_option("--interactions", o->interactions,
                  "Interaction registry. Default: configs/interactions.toml");
  cmd->add_option("--summary", o->summary, "text or json")
    ->capture_default_str()
    ->check(CLI::IsMember({"text", "json"}));
  cmd->footer("Exit status: 0 = scored (the figures are the verdict), 1 = the cluster failed, "
              "2 = bad options.");
  cmd->callback([o, &exit_code] { exit_code = run_score(*o); });
}

} // namespace eddy::cli

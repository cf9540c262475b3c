// eddy ingest: files -> mapping -> acked batches into a running cluster.
#include "cli/commands.hpp"
#include "cli/paths.hpp"
#include "cli/progress.hpp"

#include "cluster/client.hpp"
#include "schema/byte_source.hpp"
#include "schema/dead_letter.hpp"
#include "schema/generator.hpp"
#include "schema/interactions.hpp"
#include "schema/mapping.hpp"
#include "schema/normalizer.hpp"
#include "schema/writers.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

namespace eddy::cli {

namespace {

// Collects normalized events into batches and hands each full batch to the client.
class batching_sink final : public event_sink {
public:
  /// `rate` > 0 paces the stream at that many events per second.
  batching_sink(cluster::producer_client& c, std::size_t batch, double rate = 0)
    : client_(c), batch_(batch), rate_(rate), start_(std::chrono::steady_clock::now()) {
    events_.reserve(batch);
  }
  void on_event(const event_view& ev) override {
    events_.push_back(ev.to_event());
    if (events_.size() >= batch_)
      flush();
  }
  void flush() {
    if (events_.empty() || !failure_.empty())
      return;
    if (rate_ > 0) {
      // Pacing a live stream: wait until this batch is due.
      auto due = start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(static_cast<double>(sent_) / rate_));
      std::this_thread::sleep_until(due);
    }
    views_.assign(events_.begin(), events_.end());
    if (auto st = client_.submit(views_); !st)
      failure_ = st.message();
    sent_ += events_.size();
    events_.clear();
  }
  const std::string& failure() const { return failure_; }

private:
  cluster::producer_client& client_;
  std::size_t batch_;
  double rate_;
  std::chrono::steady_clock::time_point start_;
  std::uint64_t sent_ = 0;
  std::vector<event> events_;
  std::vector<event_view> views_;
  std::string failure_;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

void print_summary(const char* who, const cluster::producer_stats& s,
                   const normalize_stats& local,
                   const std::string& dead_letter, double secs, const std::string& failure,
                   bool json) {
  std::uint64_t cluster_rejects = 0;
  for (auto& [r, n] : s.rejects)
    cluster_rejects += n;
  double p50 = percentile(s.ack_ms, 0.5), p99 = percentile(s.ack_ms, 0.99);
  if (json) {
    std::string j = "{\"events_read\":" + std::to_string(local.events) +
                    ",\"local_rejects\":" + std::to_string(local.rejected()) +
                    ",\"batches\":" + std::to_string(s.batches) +
                    ",\"events_sent\":" + std::to_string(s.events_sent) +
                    ",\"stored\":" + std::to_string(s.stored) +
                    ",\"cluster_rejects\":" + std::to_string(cluster_rejects) +
                    ",\"duplicate_batches\":" + std::to_string(s.duplicate_batches) +
                    ",\"refused_batches\":" + std::to_string(s.refused_batches) +
                    ",\"resends\":" + std::to_string(s.resends) +
                    ",\"ack_p50_ms\":" + std::to_string(p50) +
                    ",\"ack_p99_ms\":" + std::to_string(p99) +
                    ",\"seconds\":" + std::to_string(secs) + ",\"ok\":" +
                    (failure.empty() ? "true" : "false");
    if (!failure.empty()) {
      j += ",\"error\":";
      append_json_string(j, failure);
    }
    std::printf("%s}\n", j.c_str());
    return;
  }
  std::fprintf(stderr,
               "eddy %s: %llu events read (%llu rejected by the mapping -> %s), %llu sent "
               "in %llu "
               "acked batches, %llu stored, %llu rejected by the cluster, %llu duplicate "
               "batches, %llu resends, %.2f s (%s events/s), ack p50 %.1f ms p99 %.1f ms\n",
               who, static_cast<unsigned long long>(local.events),
               static_cast<unsigned long long>(local.rejected()), dead_letter.c_str(),
               static_cast<unsigned long long>(s.events_sent),
               static_cast<unsigned long long>(s.batches),
               static_cast<unsigned long long>(s.stored),
               static_cast<unsigned long long>(cluster_rejects),
               static_cast<unsigned long long>(s.duplicate_batches),
               static_cast<unsigned long long>(s.resends), secs,
               human_count(static_cast<std::uint64_t>(
                             secs > 0 ? static_cast<double>(s.stored) / secs : 0))
                 .c_str(),
               p50, p99);
  for (auto& m : s.messages)
    std::fprintf(stderr, "  note: %s\n", m.c_str());
}

} // namespace

void add_ingest(CLI::App& app, int& exit_code) {
  struct options {
    std::string schema;
    std::vector<std::string> inputs;
    std::string connect = "tcp://127.0.0.1:5551";
    std::string producer;
    std::string dead_letter = "eddy-ingest.rejects.jsonl";
    std::string interactions;
    std::string summary = "text";
    std::string progress = "auto";
    std::size_t batch = 1000;
    std::uint32_t window = 32;
    std::uint32_t timeout_ms = 5000;
  };
  auto o = std::make_shared<options>();
  auto* cmd = app.add_subcommand(
    "ingest",
    "Send files through a source mapping into a running cluster: every batch is "
    "acked by the owners of its shards once stored, and resent on timeout (nodes "
    "deduplicate, so a resend never counts twice).");
  cmd->add_option("--schema,-s", o->schema, "Source mapping (as for eddy normalize)")
    ->required();
  cmd->add_option("inputs", o->inputs, "Input files (plain or gzip)")->required();
  cmd->add_option("--connect", o->connect, "Any node's ingest endpoint")
    ->capture_default_str();
  cmd->add_option("--producer", o->producer,
                  "Producer id (default HOST-PID). Reusing an id with the same batches "
                  "makes a rerun a no-op");
  cmd->add_option("--batch", o->batch, "Events per batch")->capture_default_str();
  cmd->add_option("--window", o->window, "Unacked batches in flight")->capture_default_str();
  cmd->add_option("--timeout-ms", o->timeout_ms, "Resend a batch with no ack after this")
    ->capture_default_str();
  cmd->add_option("--dead-letter", o->dead_letter,
                  "Where records the mapping rejects go (the cluster's own rejects are "
                  "listed in the acks and its dead-letter logs)")
    ->capture_default_str();
  cmd->add_option("--interactions", o->interactions,
                  "Interaction registry. Default: configs/interactions.toml");
  cmd->add_option("--summary", o->summary, "text or json")->capture_default_str();
  cmd->add_option("--progress", o->progress, "auto, always or never")->capture_default_str();
  cmd->callback([o, &exit_code] {
    auto fail = [&](const std::string& m, int code) {
      std::fprintf(stderr, "eddy ingest: %s\n", m.c_str());
      exit_code = code;
    };
    if (o->batch == 0 || o->window == 0)
      return fail("--batch and --window must be >= 1", 2);
    auto reg = interaction_registry::load(resolve_interactions(o->interactions));
    if (!reg)
      return fail(reg.err().message, 2);
    auto mapping = load_mapping(resolve_mapping(o->schema));
    if (!mapping)
      return fail(mapping.err().message, 2);
    auto norm = normalizer::make(*mapping, *reg);
    if (!norm)
      return fail(norm.err().message, 2);
    cluster::producer_options po;
    po.producer = o->producer;
    po.window = o->window;
    po.timeout_ms = o->timeout_ms;
    auto client = cluster::producer_client::connect(o->connect, po);
    if (!client)
      return fail(client.err().message, 2);
    auto dl = dead_letter_writer::open(o->dead_letter);
    if (!dl)
      return fail(dl.err().message, 1);
    batching_sink sink{**client, o->batch};
    normalize_stats local;
    progress_line bar{o->progress};
    auto t0 = std::chrono::steady_clock::now();
    std::string failure;
    for (auto& path : o->inputs) {
      auto src = open_byte_source(path);
      if (!src) {
        failure = src.err().message;
        break;
      }
      auto total = (*src)->total();
      auto before = local.bytes;
      auto st = norm->run(**src, sink, **dl, local, [&](const normalize_stats& s) {
        bar.update(path, s.bytes - before, total, s.records, s.rejected());
      });
      if (!st) {
        failure = st.message();
        break;
      }
      if (!sink.failure().empty())
        break;
    }
    sink.flush();
    if (failure.empty())
      failure = sink.failure();
    if (failure.empty())
      if (auto st = (*client)->drain(); !st)
        failure = st.message();
    bar.clear();
    double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string why;
    (*dl)->close(&why);
    print_summary("ingest", (*client)->stats(), local, o->dead_letter, secs, failure,
                  o->summary == "json");
    if (!failure.empty())
      return fail(failure, 1);
  });
}

void add_produce(CLI::App& app, int& exit_code) {
  struct options {
    std::string connect = "tcp://127.0.0.1:5551";
    std::string producer;
    std::string interactions;
    std::string summary = "text";
    double rate = 0;
    std::size_t batch = 1000;
    std::uint32_t window = 32;
    generator_config gen;
  };
  auto o = std::make_shared<options>();
  o->gen.start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  auto* cmd = app.add_subcommand(
    "produce",
    "Stream the synthetic shop of `eddy generate` into a running cluster, live: acked "
    "batches, paced at --rate events/s (0 = as fast as acks allow), surges included.");
  cmd->add_option("--connect", o->connect, "Any node's ingest endpoint")->capture_default_str();
  cmd->add_option("--producer", o->producer, "Producer id (default HOST-PID)");
  cmd->add_option("--rate", o->rate, "Events per second (0 = flat out)")->capture_default_str();
  cmd->add_option("--batch", o->batch, "Events per batch")->capture_default_str();
  cmd->add_option("--window", o->window, "Unacked batches in flight")->capture_default_str();
  cmd->add_option("--seed", o->gen.seed, "Generator seed")->capture_default_str();
  cmd->add_option("--users", o->gen.users, "Visitors")->capture_default_str();
  cmd->add_option("--items", o->gen.items, "Items")->capture_default_str();
  cmd->add_option("--hours", o->gen.hours, "Simulated span, hours")->capture_default_str();
  cmd->add_option("--sessions-per-minute", o->gen.sessions_per_minute,
                  "Mean sessions started per simulated minute")
    ->capture_default_str();
  cmd->add_option("--start", o->gen.start_ms,
                  "Event time of the first minute, ms since the epoch (default: now)");
  cmd->add_option("--surges", o->gen.surges, "Injected surges")->capture_default_str();
  cmd->add_option("--surge-factor", o->gen.surge_factor, "Surge rate multiplier")
    ->capture_default_str();
  cmd->add_option("--events", o->gen.max_events, "Stop after this many events (0 = the span)")
    ->capture_default_str();
  cmd->add_option("--interactions", o->interactions,
                  "Interaction registry. Default: configs/interactions.toml");
  cmd->add_option("--summary", o->summary, "text or json")->capture_default_str();
  cmd->callback([o, &exit_code] {
    auto fail = [&](const std::string& m, int code) {
      std::fprintf(stderr, "eddy produce: %s\n", m.c_str());
      exit_code = code;
    };
    if (o->batch == 0 || o->window == 0 || o->rate < 0)
      return fail("--batch and --window must be >= 1 and --rate >= 0", 2);
    auto reg = interaction_registry::load(resolve_interactions(o->interactions));
    if (!reg)
      return fail(reg.err().message, 2);
    if (auto st = validate(o->gen, *reg); !st)
      return fail(st.message(), 2);
    cluster::producer_options po;
    po.producer = o->producer;
    po.window = o->window;
    auto client = cluster::producer_client::connect(o->connect, po);
    if (!client)
      return fail(client.err().message, 2);
    batching_sink sink{**client, o->batch, o->rate};
    auto t0 = std::chrono::steady_clock::now();
    auto surges = try_generate(o->gen, *reg, sink);
    std::string failure = surges ? std::string{} : surges.err().message;
    sink.flush();
    if (failure.empty())
      failure = sink.failure();
    if (failure.empty())
      if (auto st = (*client)->drain(); !st)
        failure = st.message();
    double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    normalize_stats none;
    none.events = (*client)->stats().events_sent;
    print_summary("produce", (*client)->stats(), none, "-", secs, failure, o->summary == "json");
    if (surges && o->summary != "json")
      for (auto& s : *surges)
        std::fprintf(stderr, "  surge: item %s from %lld to %lld, x%.1f\n", s.item.c_str(),
                     static_cast<long long>(s.start_ms), static_cast<long long>(s.end_ms),
                     s.factor);
    if (!failure.empty())
      return fail(failure, 1);
  });
}

} // namespace eddy::cli

// eddy train / eddy recommend: distributed ALS training on a running cluster
// (actors/als_coordinator.hpp) and recommendations from the newest model of the
// node asked (actors/als_worker.hpp, model server).
#include "cli/commands.hpp"
#include "cli/query_args.hpp"
#include "cli/json.hpp"

#include "cluster/client.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>

namespace eddy::cli {

namespace {


// Sends the command; the parsed answer, or prints why not and returns false.
bool ask(const char* name, const std::string& connect, const std::string& args,
         int timeout_ms, bool json, simdjson::dom::parser& parser,
         simdjson::dom::element& doc, std::string& raw) {
  auto r = cluster::query_node(connect, name, args,
                               std::chrono::milliseconds{timeout_ms});
  if (!r) {
    std::fprintf(stderr, "eddy %s: %s\n", name, r.err().message.c_str());
    return false;
  }
  raw = std::move(*r);
  if (parser.parse(raw).get(doc) != simdjson::SUCCESS) {
    std::fprintf(stderr,
                 "eddy %s: the node sent something that is not JSON: %.200s\n",
                 name, raw.c_str());
    return false;
  }
  std::string_view why;
  if (doc["error"].get(why) == simdjson::SUCCESS) {
    if (json) std::printf("%s\n", raw.c_str());
    std::fprintf(stderr, "eddy %s: %.*s\n", name, static_cast<int>(why.size()),
                 why.data());
    return false;
  }
  return true;
}

// A ranked answer's {"item", "score"} objects as a table, best first.
void print_ranked(simdjson::dom::array items) {
  std::printf("%-5s %-24s %10s\n", "rank", "item", "score");
  int rank = 0;
  for (auto e : items) {
    std::string_view item;
    item = json_get(e, "item", item);
    std::printf("%-5d %-24.*s %10.4f\n", ++rank, static_cast<int>(item.size()), item.data(),
                json_number(e, "score"));
  }
}

struct train_options {
  std::string connect = "tcp://127.0.0.1:5551";
  std::string preset;
  std::string weights;
  std::string gram;
  int factors = 0, iterations = -1, cg_steps = -1, threads = 0;
  double alpha = -1, reg = -1;
  std::uint64_t seed = 0;
  bool seed_set = false;
  int step_timeout_ms = 60000;
  int timeout_ms = 3600000;
  bool json = false;
  bool verify = false;
  bool no_similar = false;
  int similar_n = 0, lsh_tables = 0, lsh_projections = 0, recall_sample = 0;
  double lsh_bucket = 0;
  CLI::Option* o_seed = nullptr;
};

std::string train_args(const train_options& o) {
  std::string a = "step_timeout_ms=" + std::to_string(o.step_timeout_ms);
  if (!o.preset.empty()) a += "&preset=" + escape_arg(o.preset);
  if (!o.weights.empty()) a += "&weights=" + escape_arg(o.weights);
  if (!o.gram.empty()) a += "&gram=" + escape_arg(o.gram);
  if (o.verify) a += "&verify=1";
  if (o.factors > 0) a += "&factors=" + std::to_string(o.factors);
  if (o.iterations >= 0) a += "&iterations=" + std::to_string(o.iterations);
  if (o.cg_steps >= 0) a += "&cg_steps=" + std::to_string(o.cg_steps);
  if (o.threads > 0) a += "&threads=" + std::to_string(o.threads);
  char b[64];
  if (o.alpha >= 0) {
    std::snprintf(b, sizeof b, "&alpha=%.9g", o.alpha);
    a += b;
  }
  if (o.reg >= 0) {
    std::snprintf(b, sizeof b, "&reg=%.9g", o.reg);
    a += b;
  }
  if (o.o_seed->count()) a += "&seed=" + std::to_string(o.seed);
  if (o.no_similar) a += "&similar=0";
  if (o.similar_n > 0) a += "&similar_n=" + std::to_string(o.similar_n);
  if (o.lsh_tables > 0) a += "&lsh_tables=" + std::to_string(o.lsh_tables);
  if (o.lsh_projections > 0) a += "&lsh_projections=" + std::to_string(o.lsh_projections);
  if (o.recall_sample > 0) a += "&recall_sample=" + std::to_string(o.recall_sample);
  if (o.lsh_bucket > 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "&lsh_bucket=%.9g", o.lsh_bucket);
    a += buf;
  }
  return a;
}

} // namespace

void add_train(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<train_options>();
  auto* cmd =
      app.add_subcommand("train", "Train implicit ALS on the cluster's shard "
                                  "logs (DESIGN.md §5): the node you connect "
                                  "to coordinates, every node's ALS worker "
                                  "solves its user and item blocks; prints "
                                  "the loss, seconds and bytes exchanged per "
                                  "iteration and writes the model to that "
                                  "node's DATA_DIR/NODE/models/als-<version>/ "
                                  "(eddy recommend reads it there). Then the "
                                  "similar-items table: LSH buckets of the item "
                                  "factors joined on every node, recall@10 "
                                  "measured against exact cosine, each node "
                                  "storing the lists of its own items (eddy "
                                  "similar). Every configured node must be up.");
  // A flag given twice: the last one counts (scripts can append overrides).
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("--connect", o->connect,
                  "The ingest endpoint of the node that coordinates")
      ->capture_default_str();
  cmd->add_option(
         "--preset", o->preset,
         "movielens: every event weighs 1, alpha 5, 64 factors, reg 50, CG 3 "
         "steps, 15 iterations. Without a preset the same numbers with the "
         "registry's type weights")
      ->check(CLI::IsMember({"movielens"}));
  cmd->add_option(
         "--weights", o->weights,
         "registry (configs/interactions.toml weights) or unit (every event 1)")
      ->check(CLI::IsMember({"registry", "unit"}));
  cmd->add_option("--gram", o->gram,
                  "reduce (default): each half-step's k x k Gram matrix is the sum of the "
                  "workers' partial Grams; coordinator: computed from the full factors as "
                  "single-process fit() does (same factors as fit(), bit for bit)")
    ->check(CLI::IsMember({"reduce", "coordinator"}));
  cmd->add_flag("--verify", o->verify,
                "Also train single-process fit() on the same matrix and seed on the "
                "coordinating node and report the largest relative difference of the "
                "factors (JSON: verify)");
  cmd->add_flag("--no-similar", o->no_similar,
                "Skip the similar-items table (eddy similar keeps serving the previous one)");
  cmd->add_option("--similar-n", o->similar_n,
                  "Neighbours kept per item (default 20; eddy similar -k is at most this)")
    ->check(CLI::Range(10, 255));
  cmd->add_option("--lsh-tables", o->lsh_tables,
                  "LSH tables L (default 48): more tables, more recall, more comparisons")
    ->check(CLI::Range(1, 1024));
  cmd->add_option("--lsh-projections", o->lsh_projections,
                  "Projections K per table key (default 8): more, fewer comparisons")
    ->check(CLI::Range(1, 64));
  cmd->add_option("--lsh-bucket", o->lsh_bucket,
                  "Bucket length w (default 2.2): longer, more recall, more comparisons")
    ->check(CLI::PositiveNumber);
  cmd->add_option("--recall-sample", o->recall_sample,
                  "Items whose exact top-10 measures the table's recall@10 (default 1000)")
    ->check(CLI::Range(1, 100000000));
  cmd->add_option("--factors", o->factors, "Latent factors k")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--iterations", o->iterations, "User + item half-step pairs")
      ->check(CLI::Range(0, 1000));
  cmd->add_option("--cg-steps", o->cg_steps,
                  "Conjugate-gradient steps (0 = exact Cholesky)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--alpha", o->alpha, "Confidence c = 1 + alpha * r")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--reg", o->reg, "Regularization (added once per row)")
      ->check(CLI::NonNegativeNumber);
  o->o_seed = cmd->add_option("--seed", o->seed,
                              "Seed of the initial factors (default 42)");
  cmd->add_option("--threads", o->threads,
                  "Solver threads per node (default 2)")
      ->check(CLI::Range(1, 256));
  cmd->add_option(
         "--step-timeout-ms", o->step_timeout_ms,
         "A node that does not answer one step (load, assign, a half-step) "
         "within this fails the run, naming the node")
      ->capture_default_str()
      ->check(CLI::Range(100, 86400000));
  cmd->add_option("--timeout-ms", o->timeout_ms,
                  "How long to wait for the whole run")
      ->capture_default_str();
  cmd->add_flag("--json", o->json,
                "Print the node's answer as one JSON object");
  cmd->callback([o, &exit_code] {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::string raw;
    if (!ask("train", o->connect, train_args(*o), o->timeout_ms, o->json,
             parser, doc, raw)) {
      exit_code = 1;
      return;
    }
    if (o->json) {
      std::printf("%s\n", raw.c_str());
      return;
    }
    std::printf(
        "trained on %lld users x %lld items, %lld pairs from %lld events "
        "(%lld nodes); setup %.2f s, %.1f MB\n",
        static_cast<long long>(json_number(doc, "users")),
        static_cast<long long>(json_number(doc, "items")),
        static_cast<long long>(json_number(doc, "pairs")),
        static_cast<long long>(json_number(doc, "events")),
        static_cast<long long>([&] {
          simdjson::dom::array a;
          return doc["nodes"].get(a) == simdjson::SUCCESS ? a.size() : 0;
        }()),
        json_number(doc, "setup_seconds"),
        json_number(doc, "setup_bytes") / 1e6);
    std::printf("%9s %16s %10s %14s %14s\n", "iteration", "normalized loss",
                "seconds", "bytes", "network bytes");
    simdjson::dom::array its;
    if (doc["iterations"].get(its) == simdjson::SUCCESS)
      for (auto it : its)
        std::printf("%9lld %16.6f %10.3f %14lld %14lld\n",
                    static_cast<long long>(json_number(it, "iteration")),
                    json_number(it, "normalized_loss"),
                    json_number(it, "seconds"),
                    static_cast<long long>(json_number(it, "bytes")),
                    static_cast<long long>(json_number(it, "network_bytes")));
    simdjson::dom::element verify;
    if (doc["verify"].get(verify) == simdjson::SUCCESS)
      std::printf("against single-process fit() on the same matrix and seed: max relative "
                  "difference users %.3g, items %.3g (fit %.2f s)\n",
                  json_number(verify, "users_max_rel_diff"),
                  json_number(verify, "items_max_rel_diff"),
                  json_number(verify, "fit_seconds"));
    simdjson::dom::element sim;
    if (doc["similar"].get(sim) == simdjson::SUCCESS)
      std::printf("similar items: top-%lld per item, recall@10 %.4f (exact cosine on %lld "
                  "sampled items), %lld comparisons, %.2f s, %.1f MB exchanged\n",
                  static_cast<long long>(json_number(sim, "n")),
                  json_number(sim, "recall_at_10"),
                  static_cast<long long>(json_number(sim, "recall_sample")),
                  static_cast<long long>(json_number(sim, "comparisons")),
                  json_number(sim, "seconds"), json_number(sim, "bytes") / 1e6);
    if (doc["verify"].get(verify) == simdjson::SUCCESS) {
      bool same = false;
      if (verify["similar_equals_single_process"].get(same) == simdjson::SUCCESS)
        std::printf("similar-items table %s single-process LSH on the same factors\n",
                    same ? "equals" : "DIFFERS FROM");
    }
    std::string_view path;
    path = json_get(doc, "path", path);
    std::printf("model version %lld: %.*s (%.2f s in all)\n",
                static_cast<long long>(json_number(doc, "version")),
                static_cast<int>(path.size()), path.data(),
                json_number(doc, "total_seconds"));
  });
}

void add_recommend(CLI::App& app, int& exit_code) {
  struct rec_options {
    std::string connect = "tcp://127.0.0.1:5551";
    std::string user;
    std::size_t k = 10;
    bool include_seen = false, json = false;
    int timeout_ms = 10000;
  };
  auto o = std::make_shared<rec_options>();
  auto* cmd = app.add_subcommand("recommend",
                                 "Top-k items for a user from implicit ALS "
                                 "(x_u . y_i), the user's training items "
                                 "left out. Answered by the node you connect "
                                 "to, from its newest local model "
                                 "(DATA_DIR/NODE/models/als-<version>/, "
                                 "written by eddy train --connect to that "
                                 "node): connect to the node that trained");
  cmd->add_option("USER", o->user, "The user id")->required();
  cmd->add_option("-k", o->k, "How many items")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  cmd->add_option("--connect", o->connect,
                  "The ingest endpoint of the node with the model")
      ->capture_default_str();
  cmd->add_flag("--include-seen", o->include_seen,
                "Keep the items the user interacted with in training");
  cmd->add_flag("--json", o->json,
                "Print the node's answer as one JSON object");
  cmd->add_option("--timeout-ms", o->timeout_ms,
                  "How long to wait for the answer")
      ->capture_default_str();
  cmd->callback([o, &exit_code] {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::string raw;
    auto args = "user=" + escape_arg(o->user) + "&k=" + std::to_string(o->k) +
                (o->include_seen ? "&seen=1" : "");
    if (!ask("recommend", o->connect, args, o->timeout_ms, o->json, parser, doc,
             raw)) {
      exit_code = 1;
      return;
    }
    if (o->json) {
      std::printf("%s\n", raw.c_str());
      return;
    }
    std::string_view model;
    model = json_get(doc, "model", model);
    std::printf("user %s: model version %lld (%.*s), %lld seen items %s\n",
                o->user.c_str(),
                static_cast<long long>(json_number(doc, "model_version")),
                static_cast<int>(model.size()), model.data(),
                static_cast<long long>(json_number(doc, "seen_items")),
                o->include_seen ? "kept" : "filtered out");
    simdjson::dom::array items;
    if (doc["items"].get(items) != simdjson::SUCCESS || items.size() == 0) {
      std::printf("(no items)\n");
      return;
    }
    print_ranked(items);
  });
}

void add_similar(CLI::App& app, int& exit_code) {
  struct sim_options {
    std::string connect = "tcp://127.0.0.1:5551";
    std::vector<std::string> items, exclude;
    std::size_t k = 10;
    int days = 0;
    bool json = false;
    int timeout_ms = 10000;
  };
  auto o = std::make_shared<sim_options>();
  auto* cmd = app.add_subcommand(
      "similar",
      "\"You May Also Like\": the items most similar to ITEM (cosine of the ALS "
      "item factors, from the similar-items table eddy train builds). Any node "
      "answers: it asks each item's owner. With several items (a visitor's "
      "recent items) a candidate scores the sum of its cosines with them, and "
      "the given items are left out.");
  cmd->add_option("ITEM", o->items, "One or more item ids")->required();
  cmd->add_option("-k", o->k, "How many items (at most the table's --similar-n)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--exclude", o->exclude, "Items never to show (repeat or comma-separate)")
      ->delimiter(',');
  cmd->add_option("--days", o->days,
                  "Only items with an event in the N days before the newest event "
                  "of the model's training data")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--connect", o->connect, "The ingest endpoint of any node")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print the node's answer as one JSON object");
  cmd->add_option("--timeout-ms", o->timeout_ms, "How long to wait for the answer")
      ->capture_default_str();
  cmd->callback([o, &exit_code] {
    auto list = [](const std::vector<std::string>& v) {
      std::string s;
      for (const auto& x : v) { // escaped one by one: a comma in an id stays data
        if (!s.empty()) s += ',';
        s += escape_arg(x);
      }
      return s;
    };
    std::string args = "items=" + list(o->items) + "&k=" + std::to_string(o->k);
    if (!o->exclude.empty()) args += "&exclude=" + list(o->exclude);
    if (o->days > 0) args += "&days=" + std::to_string(o->days);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::string raw;
    if (!ask("similar", o->connect, args, o->timeout_ms, o->json, parser, doc, raw)) {
      exit_code = 1;
      return;
    }
    if (o->json) {
      std::printf("%s\n", raw.c_str());
      return;
    }
    std::string_view model;
    model = json_get(doc, "model", model);
    std::printf("You May Also Like (model %.*s, recall@10 %.3f):\n",
                static_cast<int>(model.size()), model.data(),
                json_number(doc, "recall_at_10"));
    simdjson::dom::array unknown;
    if (doc["unknown"].get(unknown) == simdjson::SUCCESS)
      for (auto u : unknown) {
        std::string_view why;
        why = json_get(u, "why", why);
        std::printf("  (skipped: %.*s)\n", static_cast<int>(why.size()), why.data());
      }
    simdjson::dom::array items;
    if (doc["similar"].get(items) != simdjson::SUCCESS || items.size() == 0) {
      std::printf("(no items)\n");
      return;
    }
    print_ranked(items);
  });
}

} // namespace eddy::cli

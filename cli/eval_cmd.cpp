// eddy eval: offline evaluation of single-process implicit ALS against a
// popularity baseline on a time split (models/evaluation.hpp has the protocol,
// models/metrics.hpp the metric definitions), then next-item hit rate of the
// similar-items lists (models/next_item.hpp).
#include "cli/commands.hpp"
#include "cli/paths.hpp"

#include "models/evaluation.hpp"
#include "models/next_item.hpp"
#include "schema/byte_source.hpp"
#include "schema/dead_letter.hpp"
#include "schema/interactions.hpp"
#include "schema/mapping.hpp"
#include "schema/normalizer.hpp"
#include "schema/wire.hpp"
#include "schema/writers.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace eddy::cli {

namespace {

struct eval_options {
  std::vector<std::string> inputs;
  std::string schema;
  std::string interactions;
  std::string preset;
  std::string weights = "registry";
  double test_fraction = 0.2;
  std::int64_t cutoff = 0;
  double half_life_hours = 0.0;
  std::size_t k = 10;
  // Overrides; applied only when given (see the Option pointers).
  int factors = 0, iterations = 0, cg_steps = 0, threads = 0;
  float alpha = 0, reg = 0;
  std::uint64_t seed = 0;
  bool json = false;
  CLI::Option *o_factors = nullptr, *o_iterations = nullptr, *o_cg = nullptr,
              *o_threads = nullptr, *o_alpha = nullptr, *o_reg = nullptr,
              *o_seed = nullptr, *o_cutoff = nullptr, *o_weights = nullptr;
};

// Defaults without a preset: the settings tuned on MovieLens (they are the
// only measured ones), with the registry's type weights.
models::als_settings default_settings() {
  auto s = models::movielens_preset();
  s.data.type_weights = {};
  return s;
}

struct collect_sink final : event_sink {
  std::vector<models::interaction>* out;
  explicit collect_sink(std::vector<models::interaction>* o) : out(o) {}
  void on_event(const event_view& ev) override {
    out->push_back(
        {std::string{ev.user}, std::string{ev.item}, ev.type, ev.ts});
  }
};

struct count_rejects final : reject_sink {
  void on_reject(const reject_record&) override {}
};

bool is_msgpack(const std::string& path) {
  return path.ends_with(".msgpack") || path.ends_with(".msgpack.gz") ||
         path.ends_with(".mp");
}

// An eddy event stream (`eddy normalize -o X.msgpack`): wire batch frames.
status read_msgpack(const std::string& path, const interaction_registry& reg,
                    std::vector<models::interaction>& out,
                    std::uint64_t& rejected) {
  auto src = open_byte_source(path);
  if (!src) return src.err();
  const wire::limits lim;
  std::string buf;
  std::vector<char> chunk(1 << 20);
  std::size_t pos = 0;
  bool eof = false;
  while (true) {
    auto len = wire::frame_length(std::string_view{buf}.substr(pos), lim);
    if (!len)
      return error{path + ": not an eddy event stream at byte " +
                   std::to_string(pos) + ": " + len.err().message};
    if (*len > 0) {
      auto b = wire::decode_batch(std::string_view{buf}.substr(pos, *len), lim,
                                  &reg);
      if (!b)
        return error{path + ": bad frame at byte " + std::to_string(pos) +
                     ": " + b.err().message};
      for (auto& e : b->events)
        out.push_back({std::move(e.user), std::move(e.item), e.type, e.ts});
      rejected += b->rejects.size();
      pos += *len;
      continue;
    }
    if (eof) {
      if (pos != buf.size())
        return error{path + ": ends inside a frame (truncated file?)"};
      return {};
    }
    buf.erase(0, pos);
    pos = 0;
    auto n = (*src)->read(chunk.data(), chunk.size());
    if (n < 0) return error{path + ": " + (*src)->error_message()};
    if (n == 0) eof = true;
    buf.append(chunk.data(), static_cast<std::size_t>(n));
  }
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

void append_metrics(std::string& j, const models::ranking_summary& s) {
  j += "{\"users\":" + std::to_string(s.queries) +
       ",\"precision\":" + fmt("%.6f", s.mean_precision()) +
       ",\"capped_precision\":" + fmt("%.6f", s.mean_capped_precision()) +
       ",\"pooled_capped_precision\":" +
       fmt("%.6f", s.pooled_capped_precision()) +
       ",\"recall\":" + fmt("%.6f", s.mean_recall()) +
       ",\"map\":" + fmt("%.6f", s.mean_map()) +
       ",\"ndcg\":" + fmt("%.6f", s.mean_ndcg()) + "}";
}

void append_hit_rate(std::string& j, const models::hit_rate_summary& h,
                     double seconds) {
  if (h.queries == 0) {
    j += "{\"hit_rate\":null,\"mrr\":null,\"hits\":0";
  } else {
    j += "{\"hit_rate\":" + fmt("%.6f", h.hit_rate()) +
         ",\"mrr\":" + fmt("%.6f", h.mrr()) +
         ",\"hits\":" + std::to_string(h.hits);
  }
  j += ",\"seconds\":" + fmt("%.3f", seconds) + "}";
}

void append_next_item(std::string& j, const models::next_item_report& n,
                      std::size_t k, std::int32_t items) {
  const auto& q = n.queries;
  const auto& p = n.lsh_settings;
  j += "{\"k\":" + std::to_string(k) +
       ",\"users\":" + std::to_string(q.size()) +
       ",\"test_users\":" + std::to_string(q.test_users) +
       ",\"dropped_cold_users\":" + std::to_string(q.cold_users) +
       ",\"dropped_no_next\":" + std::to_string(q.no_next) +
       ",\"test_events\":{\"events\":" + std::to_string(q.events) +
       ",\"zero_weight\":" + std::to_string(q.zero_weight) +
       ",\"cold_user\":" + std::to_string(q.cold_user_events) +
       ",\"cold_item\":" + std::to_string(q.cold_items) +
       ",\"repeat_previous\":" + std::to_string(q.repeats) + "}";
  j += ",\"lsh\":";
  append_hit_rate(j, n.lsh, n.lsh_seconds);
  j.pop_back();
  j += ",\"recall\":" + fmt("%.6f", n.lsh_recall) +
       ",\"recall_items\":" + std::to_string(items) +
       ",\"tables\":" + std::to_string(p.tables) +
       ",\"projections\":" + std::to_string(p.projections) +
       ",\"bucket_length\":" + fmt("%g", static_cast<double>(p.bucket_length)) +
       ",\"probes\":" + std::to_string(p.probes) +
       ",\"seed\":" + std::to_string(p.seed) +
       ",\"comparisons\":" + std::to_string(n.lsh_build.comparisons) + "}";
  j += ",\"exact_knn\":";
  append_hit_rate(j, n.exact, n.exact_seconds);
  j += ",\"cooccurrence\":";
  append_hit_rate(j, n.cooccurrence, n.cooccurrence_seconds);
  j += ",\"popularity\":";
  append_hit_rate(j, n.popularity, n.popularity_seconds);
  j += "}";
}

// The second table: next-item hit rate and MRR of the four list providers.
void print_next_item(const models::next_item_report& n, std::size_t k,
                     std::int32_t items) {
  const auto& q = n.queries;
  const std::string ks = std::to_string(k);
  std::printf(
      "\nnext-item: %zu users scored of %llu with test events; dropped %llu "
      "cold users, %llu with no next item (test events skipped: %llu of "
      "weight 0, %llu of cold users, %llu of cold items, %llu repeats of the "
      "previous item)\n",
      q.size(), static_cast<unsigned long long>(q.test_users),
      static_cast<unsigned long long>(q.cold_users),
      static_cast<unsigned long long>(q.no_next),
      static_cast<unsigned long long>(q.zero_weight),
      static_cast<unsigned long long>(q.cold_user_events),
      static_cast<unsigned long long>(q.cold_items),
      static_cast<unsigned long long>(q.repeats));
  const auto& p = n.lsh_settings;
  std::printf(
      "LSH table: L %d, K %d, w %g, probes %d, seed %llu: recall@%s "
      "%.4f vs exact kNN (all %d items), %.1f cosines/item\n",
      p.tables, p.projections, static_cast<double>(p.bucket_length), p.probes,
      static_cast<unsigned long long>(p.seed), ks.c_str(), n.lsh_recall, items,
      items ? static_cast<double>(n.lsh_build.comparisons) / items : 0.0);
  if (q.size() == 0) {
    std::printf("next-item hit rate@%s: no user to score\n", ks.c_str());
    return;
  }
  std::printf(
      "\n%-40s %11s %8s %8s\n",
      ("next-item hit rate@" + ks + " (" + std::to_string(q.size()) + " users)")
          .c_str(),
      ("hit rate@" + ks).c_str(), ("MRR@" + ks).c_str(), "build s");
  auto row = [](const char* name, const models::hit_rate_summary& h,
                double secs) {
    std::printf("%-40s %11.4f %8.4f %8.3f\n", name, h.hit_rate(), h.mrr(),
                secs);
  };
  row("LSH (default lsh_params)", n.lsh, n.lsh_seconds);
  row("exact kNN (cosine of ALS item factors)", n.exact, n.exact_seconds);
  row("co-occurrence (users having both)", n.cooccurrence,
      n.cooccurrence_seconds);
  row("popularity (without the previous item)", n.popularity,
      n.popularity_seconds);
}

int run_eval(eval_options o) {
  auto fail = [](const std::string& msg, int code) {
    std::fprintf(stderr, "eddy eval: %s\n", msg.c_str());
    return code;
  };
  // Settings: defaults or preset, then every flag that was given.
  models::als_settings s;
  if (o.preset.empty()) {
    s = default_settings();
  } else if (o.preset == "movielens") {
    s = models::movielens_preset();
    if (!o.o_weights->count()) o.weights = "unit";
  } else {
    return fail("--preset must be 'movielens' (got '" + o.preset + "')", 2);
  }
  if (o.o_factors->count()) s.als.factors = o.factors;
  if (o.o_iterations->count()) s.als.iterations = o.iterations;
  if (o.o_cg->count()) s.als.cg_steps = o.cg_steps;
  if (o.o_alpha->count()) s.data.alpha = o.alpha;
  if (o.o_reg->count()) s.als.reg = o.reg;
  if (o.o_seed->count()) s.als.seed = o.seed;
  s.als.threads =
      o.o_threads->count()
          ? o.threads
          : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  s.als.track_loss = true;
  s.data.half_life_ms = o.half_life_hours * 3.6e6;
  if (s.als.factors < 1) return fail("--factors must be >= 1", 2);
  if (s.als.iterations < 0) return fail("--iterations must be >= 0", 2);
  if (s.als.cg_steps < 0)
    return fail("--cg-steps must be >= 0 (0 = Cholesky)", 2);
  if (!(s.data.alpha >= 0)) return fail("--alpha must be >= 0", 2);
  if (!(s.als.reg >= 0)) return fail("--reg must be >= 0", 2);
  if (s.als.threads < 1) return fail("--threads must be >= 1", 2);
  if (o.k < 1) return fail("-k must be >= 1", 2);
  if (!(o.test_fraction > 0 && o.test_fraction < 1))
    return fail("--test-fraction must be in (0, 1)", 2);
  if (!(o.half_life_hours >= 0))
    return fail("--half-life-hours must be >= 0", 2);
  if (o.weights != "registry" && o.weights != "unit")
    return fail("--weights must be 'registry' or 'unit'", 2);

  auto reg = interaction_registry::load(resolve_interactions(o.interactions));
  if (!reg) return fail(reg.err().message, 2);
  if (o.weights == "unit") {
    s.data.type_weights = models::training_options::uniform(1.0F).type_weights;
  } else {
    s.data.type_weights = {};
    for (const auto& t : reg->types())
      s.data.type_weights[t.id] = t.weight;
  }

  // Read every input into memory.
  std::vector<models::interaction> events;
  std::uint64_t rejected = 0;
  std::optional<normalizer> norm;
  auto t_read = std::chrono::steady_clock::now();
  for (const auto& path : o.inputs) {
    if (o.schema.empty()) {
      if (!is_msgpack(path))
        return fail(path +
                        ": give --schema MAPPING for source files (only eddy "
                        ".msgpack event streams are read without one)",
                    2);
      if (auto st = read_msgpack(path, *reg, events, rejected); !st)
        return fail(st.message(), 1);
      continue;
    }
    if (!norm) {
      auto mapping = load_mapping(resolve_mapping(o.schema));
      if (!mapping) return fail(mapping.err().message, 2);
      auto n = normalizer::make(*mapping, *reg);
      if (!n) return fail(n.err().message, 2);
      norm.emplace(std::move(*n));
    }
    auto src = open_byte_source(path);
    if (!src) return fail(src.err().message, 1);
    collect_sink sink{&events};
    count_rejects rj;
    normalize_stats st;
    if (auto r = norm->run(**src, sink, rj, st); !r)
      return fail(r.message(), 1);
    rejected += st.rejected();
  }
  const double read_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_read)
          .count();
  if (events.empty()) return fail("no events in the input", 1);

  auto split = o.o_cutoff->count()
                   ? models::split_at(events, o.cutoff)
                   : models::split_per_user(events, o.test_fraction);
  std::string split_desc =
      o.o_cutoff->count() ? "global cutoff at " + std::to_string(o.cutoff) +
                                " ms (train before, test after)"
                          : "per user, newest " +
                                fmt("%g", o.test_fraction * 100) + "% by time";
  if (split.train.empty())
    return fail("the split leaves no training events", 1);
  if (split.test.empty()) return fail("the split leaves no test events", 1);
  const std::size_t n_train = split.train.size(), n_test = split.test.size();

  std::fprintf(
      stderr,
      "eddy eval: %zu events (%llu rejected) read in %.2f s; split %s: "
      "%zu train, %zu test\n",
      events.size(), static_cast<unsigned long long>(rejected), read_s,
      split_desc.c_str(), n_train, n_test);
  std::fprintf(
      stderr,
      "ALS: factors %d, alpha %g, reg %g, %s, %d iterations, %d threads, "
      "seed %llu, weights %s\n",
      s.als.factors, static_cast<double>(s.data.alpha),
      static_cast<double>(s.als.reg),
      s.als.cg_steps
          ? ("CG " + std::to_string(s.als.cg_steps) + " steps").c_str()
          : "Cholesky",
      s.als.iterations, s.als.threads,
      static_cast<unsigned long long>(s.als.seed), o.weights.c_str());
  events.clear();
  events.shrink_to_fit();

  double fit_s = 0;
  auto t0 = std::chrono::steady_clock::now();
  auto r = models::evaluate_split(
      split, s, o.k, [&](const models::iteration_stats& it) {
        fit_s += it.solve_seconds;
        std::fprintf(stderr, "  iteration %2d/%d: loss %.6f, %.3f s\n",
                     it.iteration, s.als.iterations,
                     it.loss ? it.loss->normalized : 0.0, it.solve_seconds);
      });
  const double total_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  if (r.test.users.empty())
    return fail(
        "no test user has a test item seen in training: nothing to score "
        "(dropped: " +
            std::to_string(r.test.cold_users) + " cold users, " +
            std::to_string(r.test.cold_items) + " cold items, " +
            std::to_string(r.test.seen) + " already seen)",
        1);

  const auto& tr = r.train;
  const auto& te = r.test;
  // Next-item hit rate of the similar-items lists on the same split.
  const auto t_next = std::chrono::steady_clock::now();
  const auto next = models::evaluate_next_item(
      tr, split, r.model.items, s.data.type_weights, o.k, s.als.threads);
  const double next_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_next)
          .count();
  if (o.json) {
    std::string j = "{\"inputs\":[";
    for (std::size_t i = 0; i < o.inputs.size(); ++i) {
      j += i ? "," : "";
      append_json_string(j, o.inputs[i]);
    }
    j += "],\"events\":" + std::to_string(n_train + n_test) +
         ",\"rejected\":" + std::to_string(rejected) + ",\"split\":";
    if (o.o_cutoff->count())
      j += "{\"kind\":\"cutoff\",\"cutoff_ms\":" + std::to_string(o.cutoff) +
           "}";
    else
      j += "{\"kind\":\"per_user\",\"test_fraction\":" +
           fmt("%g", o.test_fraction) + "}";
    j += ",\"train\":{\"events\":" + std::to_string(n_train) +
         ",\"users\":" + std::to_string(tr.users.size()) +
         ",\"items\":" + std::to_string(tr.items.size()) +
         ",\"pairs\":" + std::to_string(tr.conf.nnz()) + "}";
    j += ",\"test\":{\"events\":" + std::to_string(te.events) +
         ",\"users\":" + std::to_string(te.users.size()) +
         ",\"pairs\":" + std::to_string(te.pairs) +
         ",\"dropped_cold_users\":" + std::to_string(te.cold_users) +
         ",\"dropped_cold_items\":" + std::to_string(te.cold_items) +
         ",\"dropped_seen\":" + std::to_string(te.seen) +
         ",\"dropped_zero_weight\":" + std::to_string(te.zero_weight) + "}";
    j += ",\"settings\":{\"preset\":";
    append_json_string(j, o.preset);
    j += ",\"factors\":" + std::to_string(s.als.factors) +
         ",\"alpha\":" + fmt("%g", static_cast<double>(s.data.alpha)) +
         ",\"reg\":" + fmt("%g", static_cast<double>(s.als.reg)) +
         ",\"iterations\":" + std::to_string(s.als.iterations) +
         ",\"cg_steps\":" + std::to_string(s.als.cg_steps) +
         ",\"threads\":" + std::to_string(s.als.threads) +
         ",\"seed\":" + std::to_string(s.als.seed) + ",\"weights\":\"" +
         o.weights + "\",\"half_life_hours\":" + fmt("%g", o.half_life_hours) +
         "}";
    j += ",\"k\":" + std::to_string(o.k) +
         ",\"fit_seconds\":" + fmt("%.3f", fit_s) +
         ",\"seconds\":" + fmt("%.3f", total_s) + ",\"loss\":[";
    for (std::size_t i = 0; i < r.model.losses.size(); ++i)
      j += (i ? "," : "") + fmt("%.6f", r.model.losses[i].normalized);
    j += "],\"als\":";
    append_metrics(j, r.als);
    j += ",\"popularity\":";
    append_metrics(j, r.popularity);
    j += ",\"next_item\":";
    append_next_item(j, next, o.k, tr.items.size());
    j.pop_back();
    j += ",\"seconds\":" + fmt("%.3f", next_s) + "}";
    j += "}";
    std::printf("%s\n", j.c_str());
    return 0;
  }

  std::printf(
      "train: %zu events, %d users x %d items, %lld pairs; ALS fit %.2f s "
      "(%.3f s/iteration)\n",
      n_train, tr.users.size(), tr.items.size(),
      static_cast<long long>(tr.conf.nnz()), fit_s,
      s.als.iterations ? fit_s / s.als.iterations : 0.0);
  std::printf(
      "test:  %zu users, %llu (user, item) pairs; dropped %llu cold users, "
      "%llu cold items, %llu already seen, %llu weight 0\n",
      te.users.size(), static_cast<unsigned long long>(te.pairs),
      static_cast<unsigned long long>(te.cold_users),
      static_cast<unsigned long long>(te.cold_items),
      static_cast<unsigned long long>(te.seen),
      static_cast<unsigned long long>(te.zero_weight));
  const std::string k = std::to_string(o.k);
  auto row = [](const std::string& name, double a, double p) {
    std::printf("%-40s %8.4f %11.4f\n", name.c_str(), a, p);
  };
  std::printf(
      "\n%-40s %8s %11s\n",
      ("metric (mean over " + std::to_string(te.users.size()) + " test users)")
          .c_str(),
      "ALS", "popularity");
  row("precision@" + k + " (hits/min(" + k + ",|test|))",
      r.als.mean_capped_precision(), r.popularity.mean_capped_precision());
  row("precision@" + k + " (hits/" + k + ", Spark)", r.als.mean_precision(),
      r.popularity.mean_precision());
  row("precision@" + k + " pooled (implicit)", r.als.pooled_capped_precision(),
      r.popularity.pooled_capped_precision());
  row("recall@" + k, r.als.mean_recall(), r.popularity.mean_recall());
  row("MAP@" + k, r.als.mean_map(), r.popularity.mean_map());
  row("NDCG@" + k, r.als.mean_ndcg(), r.popularity.mean_ndcg());
  print_next_item(next, o.k, tr.items.size());
  return 0;
}

} // namespace

void add_eval(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<eval_options>();
  const auto tuned = models::movielens_preset();
  auto* cmd = app.add_subcommand(
      "eval",
      "Evaluate single-process implicit ALS against a popularity baseline on a "
      "time "
      "split: train on the earlier interactions, recommend the top k unseen "
      "items to "
      "each test user, score them against the later ones.\n"
      "Default split: each user's newest 20% of interactions (by time) are the "
      "test "
      "set; --cutoff MS splits all users at one time instead. A test user's "
      "relevant "
      "items are the distinct items of their test interactions, minus items "
      "unseen in "
      "training and items the user already had in training; users unseen in "
      "training "
      "are dropped. Already-seen (training) items are never recommended.\n"
      "Metrics (means over test users; models/metrics.hpp): precision@k as "
      "hits/min(k,|test|) and as Spark's hits/k, `implicit`'s pooled precision "
      "(sum hits / sum min(k,|test|)), recall@k = hits/|test|, MAP@k (divided "
      "by "
      "min(k,|test|)), NDCG@k (binary gains, 1/log2(rank+1)).\n"
      "ALS settings default to the values tuned on MovieLens (factors 64, "
      "alpha 5, "
      "reg 50, CG 3 steps, 15 iterations) with the registry's type weights; "
      "--preset movielens also counts every interaction as one (--weights "
      "unit). "
      "Flags override the preset. Per-iteration loss and seconds go to "
      "stderr.\n"
      "Then a second table, next-item hit rate@k on the same split "
      "(models/next_item.hpp): is a user's next item in the similar-items "
      "list of their previous item? Previous item = the user's last training "
      "interaction (by time, ties: the later in the input); next item = their "
      "first test interaction (by time, ties: the earlier) whose item was "
      "seen in training and is not the previous item. Users unseen in "
      "training, or with no such test interaction, are dropped (counted). "
      "Lists of the previous item: LSH (the product's default lsh_params over "
      "the normalized ALS item factors; its recall@k against exact kNN over "
      "all items is printed), exact kNN (cosine of the ALS item factors), "
      "co-occurrence (the items the most training users also have; ties by "
      "id) and popularity (the most popular training items without the "
      "previous item). hit rate@k = share of users whose next item is in the "
      "first k; MRR@k = mean of 1/rank (0 for a miss). Lists are not "
      "personalized: they may hold items the user already had.");
  cmd->add_option("inputs", o->inputs,
                  "Input files: source files read through --schema (like eddy "
                  "normalize), or eddy .msgpack event streams")
      ->required();
  cmd->add_option(
      "--schema,-s", o->schema,
      "Source mapping for the inputs: a .toml path or a name in "
      "configs/schemas/ (e.g. movielens-ratings). Omit for .msgpack");
  cmd->add_option("--interactions", o->interactions,
                  "Interaction registry (type weights). Default: "
                  "configs/interactions.toml");
  cmd->add_option(
      "--preset", o->preset,
      "Named settings: 'movielens' = factors 64, alpha 5, reg 50, CG 3, 15 "
      "iterations, --weights unit (P@10 0.122 vs popularity 0.082 on "
      "ml-latest-small)");
  o->o_weights = cmd->add_option("--weights", o->weights,
                                 "r(user,item) sums 'registry' type weights "
                                 "(configs/interactions.toml) or counts every "
                                 "interaction as one ('unit')")
                     ->capture_default_str();
  o->o_cutoff =
      cmd->add_option("--cutoff", o->cutoff,
                      "Global split: events before this time (ms since the "
                      "epoch) train, the rest test");
  cmd->add_option(
         "--test-fraction", o->test_fraction,
         "Per-user split: share of each user's newest interactions that "
         "is test (floor(n * fraction) of n)")
      ->capture_default_str();
  cmd->add_option(
         "--half-life-hours", o->half_life_hours,
         "Decay a training interaction's weight by 0.5^(age/half-life), age "
         "from the newest training event (0 = no decay)")
      ->capture_default_str();
  cmd->add_option("-k", o->k,
                  "Recommendations per user and items per similar-items list "
                  "(the k of the metrics and of the next-item hit rate)")
      ->capture_default_str();
  o->o_factors = cmd->add_option("--factors", o->factors,
                                 "Latent factors (default " +
                                     std::to_string(tuned.als.factors) + ")");
  o->o_alpha = cmd->add_option("--alpha", o->alpha,
                               "Confidence c = 1 + alpha * r (default 5)");
  o->o_reg =
      cmd->add_option("--reg", o->reg,
                      "Regularization: constant reg * I per row, not scaled "
                      "by the row's count as Spark's (default 50)");
  o->o_iterations =
      cmd->add_option("--iterations", o->iterations,
                      "User + item half-step pairs (default " +
                          std::to_string(tuned.als.iterations) + ")");
  o->o_cg =
      cmd->add_option("--cg-steps", o->cg_steps,
                      "Conjugate-gradient steps per row and half-step, warm "
                      "started; 0 = exact Cholesky (default 3)");
  o->o_threads =
      cmd->add_option("--threads", o->threads,
                      "Solver threads (default: all cores; results do "
                      "not depend on it)");
  o->o_seed = cmd->add_option("--seed", o->seed,
                              "Seed of the initial factors (default " +
                                  std::to_string(tuned.als.seed) + ")");
  cmd->add_flag("--json", o->json,
                "Print one JSON object on stdout instead of the table");
  cmd->footer(
      "Exit status: 0 = done, 1 = an input could not be read or the split "
      "leaves nothing to score, 2 = bad options, mapping or registry.");
  cmd->callback([o, &exit_code] { exit_code = run_eval(*o); });
}

} // namespace eddy::cli

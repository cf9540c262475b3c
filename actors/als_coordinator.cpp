#include "actors/als_coordinator.hpp"

#include "actors/als_artifact.hpp"
#include "actors/als_protocol.hpp"
#include "actors/similar_table.hpp"
#include "cluster/shard_map.hpp"
#include "models/evaluation.hpp"
#include "schema/interactions.hpp"
#include "schema/writers.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

namespace eddy::actors {

std::string als_error_json(const std::string& why) {
  std::string j = "{\"error\":";
  append_json_string(j, why);
  return j + "}";
}

namespace {

template <class T>
bool number(const std::string& s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

} // namespace

expected<train_settings>
parse_train_args(std::string_view args, const interaction_registry& registry) {
  auto a = als::parse_args(args);
  if (!a) return a.err();
  train_settings s;
  // Defaults: the settings measured on MovieLens with the registry's weights.
  auto base = models::movielens_preset();
  if (auto it = a->find("preset"); it != a->end() && !it->second.empty()) {
    if (it->second != "movielens")
      return error{"preset must be 'movielens' (got '" + it->second + "')"};
    s.preset = it->second;
    s.weights_from = "unit";
  }
  s.als = base.als;
  s.als.threads = 2;
  s.alpha = base.data.alpha;
  for (auto& [key, v] : *a) {
    bool ok = true;
    if (key == "preset") {
      continue;
    } else if (key == "factors") {
      ok = number(v, s.als.factors) && s.als.factors >= 1 &&
           s.als.factors <= 1024;
    } else if (key == "alpha") {
      ok = number(v, s.alpha) && s.alpha >= 0;
    } else if (key == "reg") {
      ok = number(v, s.als.reg) && s.als.reg >= 0;
    } else if (key == "iterations") {
      ok = number(v, s.als.iterations) && s.als.iterations >= 0 &&
           s.als.iterations <= 1000;
    } else if (key == "cg_steps") {
      ok = number(v, s.als.cg_steps) && s.als.cg_steps >= 0;
    } else if (key == "seed") {
      ok = number(v, s.als.seed);
    } else if (key == "threads") {
      ok = number(v, s.als.threads) && s.als.threads >= 1 &&
           s.als.threads <= 256;
    } else if (key == "step_timeout_ms") {
      ok = number(v, s.step_timeout_ms) && s.step_timeout_ms >= 100;
    } else if (key == "gram") {
      ok = v == "reduce" || v == "coordinator";
      s.gram = v;
    } else if (key == "verify") {
      ok = v == "0" || v == "1";
      s.verify = v == "1";
    } else if (key == "weights") {
      ok = v == "registry" || v == "unit";
      s.weights_from = v;
    } else if (key == "similar") {
      ok = v == "0" || v == "1";
      s.similar = v == "1";
    } else if (key == "similar_n") {
      ok = number(v, s.similar_n) && s.similar_n >= 10 && s.similar_n <= 255;
    } else if (key == "lsh_tables") {
      ok = number(v, s.lsh.tables);
    } else if (key == "lsh_projections") {
      ok = number(v, s.lsh.projections);
    } else if (key == "lsh_bucket") {
      ok = number(v, s.lsh.bucket_length);
    } else if (key == "recall_sample") {
      ok = number(v, s.recall_sample) && s.recall_sample >= 1;
    } else {
      return error{"unknown argument '" + key +
                   "' (train takes factors, alpha, reg, iterations, cg_steps, "
                   "seed, threads, preset, weights, step_timeout_ms, gram, verify, "
                   "similar, similar_n, lsh_tables, lsh_projections, lsh_bucket, "
                   "recall_sample)"};
    }
    if (!ok)
      return error{"bad value '" + v + "' for " + key +
                   " (factors 1..1024, iterations 0..1000, alpha/reg/cg_steps "
                   ">= 0, threads 1..256, step_timeout_ms >= 100, weights "
                   "registry|unit, gram reduce|coordinator, similar 0|1, "
                   "similar_n 10..255, recall_sample >= 1)"};
  }
  s.lsh.seed = s.als.seed;
  s.lsh.threads = s.als.threads;
  if (auto why = models::validate(s.lsh)) return error{*why};
  if (s.weights_from == "unit") {
    s.weights.fill(1.0F);
  } else {
    s.weights.fill(0.0F);
    for (const auto& t : registry.types())
      s.weights[t.id] = static_cast<float>(t.weight);
  }
  return s;
}

namespace {

using clock_type = std::chrono::steady_clock;

struct worker_info {
  std::string node;
  als::load_reply loaded;
  std::vector<std::int32_t> user_rows, item_rows; ///< global indices, ascending
  std::vector<std::int32_t> need_items,
      need_users; ///< what its blocks reference
  /// to[side][j]: which of this worker's rows of `side` worker j needs (none for itself).
  std::vector<als::assign_request::peer_rows> to[2];
  // Its answer to the half-step in progress (reduced in worker order at the end).
  Eigen::MatrixXd partial_gram;
  models::loss_terms loss;
};

struct iteration_record {
  double loss = 0, normalized = 0, seconds = 0;
  std::uint64_t bytes = 0, network_bytes = 0;
};

struct coord_state {
  coordinator_args a;
  std::uint64_t run = 0;
  std::vector<worker_info> workers;
  std::map<std::string, std::size_t> index_of; ///< node -> workers index
  // The step in progress.
  std::string step;
  std::set<std::string> waiting;
  std::map<std::string, std::string> replies;     ///< node -> reply bytes
  std::map<std::string, std::string> outstanding; ///< peer corr -> node
  clock_type::time_point deadline;
  std::uint64_t next_corr = 1;
  bool finished = false;
  // The model.
  models::id_map users, items;
  models::csr_matrix strength;
  models::csr_matrix conf, conf_t; ///< until the blocks are assigned
  std::uint64_t events = 0, zero_weight = 0;
  std::int64_t min_ts = 0, max_ts = 0;
  double conf_sum = 0;
  models::factor_matrix x, y;
  Eigen::MatrixXf gram_x, gram_y;
  double x_norm2 = 0; ///< |X|^2 after the last users half-step (trace of X^T X)
  int iteration = 0;
  std::vector<iteration_record> history;
  iteration_record current;
  clock_type::time_point t_start, t_iteration;
  std::uint64_t setup_bytes = 0, setup_network_bytes = 0;
  double load_seconds = 0, setup_seconds = 0;
  std::uint64_t* bytes_sink = nullptr; ///< where sent/received bytes count now
  std::uint64_t* network_sink = nullptr;
  // The similar-items table (step 4).
  std::vector<std::int64_t> item_last_ts; ///< per global item
  models::factor_matrix normalized;
  models::neighbor_table similar;
  models::lsh_stats lsh_build;
  double similar_recall = -1, similar_seconds = 0;
  std::uint64_t similar_comparisons = 0, similar_bytes = 0,
                similar_network_bytes = 0;
  std::size_t recall_sample = 0;
  clock_type::time_point t_similar;
  std::string reply; ///< the client's answer, sent once the lists are stored
  static inline const char* name = "eddy.als_coordinator";
};

using coord_actor = caf::stateful_actor<coord_state>;

std::shared_ptr<spdlog::logger> logger(coord_actor* self) {
  return spdlog::get("node " + self->state.a.env->me);
}

void finish_reply(coord_actor* self, const std::string& json) {
  auto& env = *self->state.a.env;
  env.io->send(env.ingest_socket,
               {self->state.a.rid, self->state.a.corr, json});
  env.io->release(env.ingest_socket);
}

void fail(coord_actor* self, const std::string& why) {
  auto& st = self->state;
  if (st.finished) return;
  st.finished = true;
  // The model is written before its lists are stored: say where things stand.
  const auto note = st.step == "store similar items"
                        ? std::string{" (the model itself was written and serves "
                                      "recommendations; nodes that stored their lists "
                                      "switched to them: train again to align them)"}
                        : std::string{};
  if (auto log = logger(self))
    log->error("ALS training run {:x} failed: {}{}", st.run, why, note);
  finish_reply(self, als_error_json("training failed: " + why + note));
  self->quit();
}

std::string seconds_text(int ms) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f s", ms / 1000.0);
  return b;
}

void on_reply(coord_actor* self, const std::string& node, std::string bytes);

// ZeroMQ drops a peer link that carries a message above its maxmsgsize (4 x
// limits.max_frame_bytes, actors/node.cpp): a step that needs one fails instead.
bool fits_links(coord_actor* self, const std::string& step, std::size_t bytes,
                const std::string& where) {
  const auto max_bytes = 4 * self->state.a.env->cfg.limits.max_frame_bytes;
  if (bytes <= max_bytes) return true;
  fail(self, "step '" + step + "' needs a " + std::to_string(bytes >> 20) + " MB message " +
                 where + ", more than the node links carry (" + std::to_string(max_bytes >> 20) +
                 " MB = 4 x limits.max_frame_bytes): raise limits.max_frame_bytes "
                 "in the cluster config (configs/CLUSTER.md), or train with fewer factors "
                 "(for the similar-items steps: fewer --lsh-tables or --similar-n, or "
                 "--no-similar)");
  return false;
}

void send_to(coord_actor* self, const std::string& node, std::string bytes) {
  auto& st = self->state;
  auto& env = *st.a.env;
  if (st.finished) return;
  *st.bytes_sink += bytes.size();
  st.waiting.insert(node);
  if (node == env.me) {
    self->request(st.a.local_worker,
                  std::chrono::milliseconds{st.a.settings.step_timeout_ms},
                  als_atom::value, std::move(bytes))
        .then(
            [=](std::string& reply) {
              try {
                on_reply(self, node, std::move(reply));
              } catch (const std::exception& e) {
                fail(self, std::string{"internal error: "} + e.what());
              }
            },
            [=](caf::error& err) {
              fail(self, "node " + node +
                             " (this node's ALS worker) did not answer step '" +
                             self->state.step + "': " + to_string(err));
            });
    return;
  }
  if (!fits_links(self, st.step, bytes.size(), "to node " + node)) return;
  *st.network_sink += bytes.size();
  std::string corr(8, '\0');
  auto id = (st.run << 20) ^ st.next_corr++;
  std::memcpy(corr.data(), &id, 8);
  st.outstanding[corr] = node;
  env.io->send(env.dealer_of.at(node), {"als", corr, std::move(bytes)});
}

void begin_step(coord_actor* self, std::string name) {
  auto& st = self->state;
  st.step = std::move(name);
  st.waiting.clear();
  st.replies.clear();
  st.deadline = clock_type::now() +
                std::chrono::milliseconds{st.a.settings.step_timeout_ms};
}

// --- the steps
// ----------------------------------------------------------------

void step_done(coord_actor* self);

models::csr_matrix sub_rows(const models::csr_matrix& m,
                            const std::vector<std::int32_t>& rows) {
  models::csr_matrix out;
  out.rows = static_cast<std::int32_t>(rows.size());
  out.cols = m.cols;
  out.indptr.reserve(rows.size() + 1);
  for (auto r : rows) {
    auto b = m.indptr[static_cast<std::size_t>(r)],
         e = m.indptr[static_cast<std::size_t>(r) + 1];
    out.indices.insert(out.indices.end(), m.indices.begin() + b,
                       m.indices.begin() + e);
    out.values.insert(out.values.end(), m.values.begin() + b,
                      m.values.begin() + e);
    out.indptr.push_back(static_cast<std::int64_t>(out.indices.size()));
  }
  return out;
}

models::factor_matrix gather_rows(const models::factor_matrix& m,
                                  const std::vector<std::int32_t>& rows) {
  models::factor_matrix out(static_cast<Eigen::Index>(rows.size()), m.cols());
  for (std::size_t i = 0; i < rows.size(); ++i)
    out.row(static_cast<Eigen::Index>(i)) = m.row(rows[i]);
  return out;
}

Eigen::MatrixXf with_reg(const Eigen::MatrixXd& g, float reg) {
  Eigen::MatrixXf out = g.cast<float>();
  out.diagonal().array() += reg;
  return out;
}

// The node a user's block lives on: rendezvous over every configured node.
std::size_t user_owner(const std::string& user,
                       const std::vector<worker_info>& workers) {
  const auto h = cluster::item_hash(user);
  const auto key = static_cast<std::uint32_t>(h ^ (h >> 32));
  std::size_t best = 0;
  std::uint64_t best_w = 0;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    auto w = cluster::rendezvous_weight(key, workers[i].node);
    if (i == 0 || w > best_w) {
      best = i;
      best_w = w;
    }
  }
  return best;
}

// Before the blocks are assigned: which rows each worker's solves send to
// which other worker (the rows of its block that the other's block of the
// other side references), so that no worker gets a row it does not need or
// solved itself.
void plan_exchange(coord_actor* self) {
  auto& ws = self->state.workers;
  auto plan = [](const std::vector<std::int32_t>& rows, const worker_info& peer,
                 const std::vector<std::int32_t>& need) {
    als::assign_request::peer_rows p;
    p.node = peer.node;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      auto it = std::lower_bound(need.begin(), need.end(), rows[r]);
      if (it == need.end() || *it != rows[r]) continue;
      p.local.push_back(static_cast<std::int32_t>(r));
      p.positions.push_back(static_cast<std::int32_t>(it - need.begin()));
    }
    return p;
  };
  for (auto& w : ws)
    for (auto& t : w.to)
      t.assign(ws.size(), {});
  for (std::size_t i = 0; i < ws.size(); ++i)
    for (std::size_t j = 0; j < ws.size(); ++j) {
      if (i == j) continue; // a worker places its own rows itself
      ws[i].to[0][j] = plan(ws[i].user_rows, ws[j], ws[j].need_users);
      ws[i].to[1][j] = plan(ws[i].item_rows, ws[j], ws[j].need_items);
    }
}

// Whether the half-step's replies carry the rows: for the model (the last
// iteration) or for the coordinator's own gram.
bool rows_wanted(const coord_state& st) {
  return st.iteration >= st.a.settings.als.iterations || st.a.settings.gram == "coordinator";
}

// A half-step sends each worker the gram only: the workers send each other
// the rows they need ("rows"), their new rows as soon as they have solved them,
// and at the start of the run their initial item rows. The coordinator wants
// the rows themselves only for the model (the last iteration) or to compute
// the gram itself.
void start_half(coord_actor* self, als::side which) {
  auto& st = self->state;
  const bool users = which == als::side::users;
  begin_step(self, std::string{users ? "solve users" : "solve items"} +
                       ", iteration " + std::to_string(st.iteration));
  const bool first = users && st.iteration == 1;
  const bool last = st.iteration >= st.a.settings.als.iterations;
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& w : st.workers) {
    als::solve_request r;
    r.run = st.run;
    r.which = which;
    r.want_loss = !users;
    r.start = first;
    r.want_rows = rows_wanted(st);
    r.share = !(last && !users); // the run's last half-step: nothing follows
    r.gram = users ? st.gram_y : st.gram_x;
    out.emplace_back(w.node, als::encode(r));
  }
  for (auto& [node, bytes] : out)
    send_to(self, node, std::move(bytes));
}

// A worker's solve reply: its rows (when asked for) go into the model as they
// come; the gram and loss terms wait for the others (reduced in worker order).
void solve_reply_in(coord_actor* self, const std::string& node, const std::string& bytes) {
  auto& st = self->state;
  const auto k = st.a.settings.als.factors;
  auto r = als::decode_solve_reply(bytes);
  if (!r) {
    fail(self, "node " + node + " answered step '" + st.step + "' with " + r.err().message);
    return;
  }
  auto& w = st.workers[st.index_of.at(node)];
  const bool users = r->which == als::side::users;
  auto& target = users ? st.x : st.y;
  auto& rows = users ? w.user_rows : w.item_rows;
  if ((rows_wanted(st) && r->rows.rows() != static_cast<Eigen::Index>(rows.size())) ||
      (r->rows.rows() > 0 && r->rows.cols() != k) || r->partial_gram.rows() != k) {
    fail(self, "node " + node + " answered step '" + st.step +
                   "' with blocks of the wrong size");
    return;
  }
  for (Eigen::Index i = 0; i < r->rows.rows(); ++i)
    target.row(rows[static_cast<std::size_t>(i)]) = r->rows.row(i);
  w.partial_gram = std::move(r->partial_gram);
  w.loss = r->loss;
  // The rows the worker sent its peers: counted like the coordinator's messages.
  *st.bytes_sink += r->shared_bytes;
  *st.network_sink += r->shared_bytes;
}

void start_iteration(coord_actor* self) {
  auto& st = self->state;
  ++st.iteration;
  st.current = {};
  st.bytes_sink = &st.current.bytes;
  st.network_sink = &st.current.network_bytes;
  st.t_iteration = clock_type::now();
  start_half(self, als::side::users);
}

// One side's blocks to every worker (one message per side keeps each under the
// node links' message limit).
void send_assign(coord_actor* self, als::side which) {
  auto& st = self->state;
  const auto& s = st.a.settings;
  const bool users = which == als::side::users;
  begin_step(self, users ? "assign users" : "assign items");
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& w : st.workers) {
    als::assign_request r;
    r.run = st.run;
    r.which = which;
    r.factors = s.als.factors;
    r.cg_steps = s.als.cg_steps;
    r.threads = s.als.threads;
    r.block = sub_rows(users ? st.conf : st.conf_t,
                       users ? w.user_rows : w.item_rows);
    r.rows =
        users ? gather_rows(st.x, w.user_rows) : gather_rows(st.y, w.item_rows);
    r.globals = users ? w.user_rows : w.item_rows;
    for (const auto& p : w.to[users ? 0 : 1])
      if (!p.local.empty()) r.peers.push_back(p);
    out.emplace_back(w.node, als::encode(r));
  }
  if (!users) { // the blocks are with the workers now
    st.conf = {};
    st.conf_t = {};
  }
  for (auto& [node, bytes] : out)
    send_to(self, node, std::move(bytes));
}

void build_and_assign(coord_actor* self) {
  auto& st = self->state;
  const auto& s = st.a.settings;
  std::vector<std::string> all_users, all_items;
  for (auto& w : st.workers) {
    auto& l = w.loaded;
    all_users.insert(all_users.end(), l.users.begin(), l.users.end());
    all_items.insert(all_items.end(), l.items.begin(), l.items.end());
    st.events += l.events;
    st.zero_weight += l.zero_weight;
    if (l.events > 0) {
      bool first = st.min_ts == 0 && st.max_ts == 0;
      st.min_ts = first ? l.min_ts : std::min(st.min_ts, l.min_ts);
      st.max_ts = first ? l.max_ts : std::max(st.max_ts, l.max_ts);
    }
  }
  st.users = models::id_map{std::move(all_users)};
  st.items = models::id_map{std::move(all_items)};
  if (st.users.size() == 0 || st.items.size() == 0) {
    fail(self, "no training data: the shard logs of the " +
                   std::to_string(st.workers.size()) + " node(s) hold " +
                   std::to_string(st.events) +
                   " events and none has a positive weight; ingest events "
                   "first (eddy ingest / "
                   "eddy produce)");
    return;
  }
  // Global triples; item blocks = the items each node sent (its shards).
  std::vector<models::triple> triples;
  std::vector<std::int32_t> item_owner(
      static_cast<std::size_t>(st.items.size()), -1);
  st.item_last_ts.assign(static_cast<std::size_t>(st.items.size()), INT64_MIN);
  for (std::size_t wi = 0; wi < st.workers.size(); ++wi) {
    auto& l = st.workers[wi].loaded;
    std::vector<std::int32_t> gu(l.users.size()), gi(l.items.size());
    for (std::size_t i = 0; i < l.users.size(); ++i)
      gu[i] = *st.users.find(l.users[i]);
    for (std::size_t i = 0; i < l.items.size(); ++i) {
      gi[i] = *st.items.find(l.items[i]);
      auto& last = st.item_last_ts[static_cast<std::size_t>(gi[i])];
      last = std::max(last, l.item_last_ts[i]);
      auto& o = item_owner[static_cast<std::size_t>(gi[i])];
      if (o < 0) o = static_cast<std::int32_t>(wi);
    }
    for (std::size_t p = 0; p < l.r.size(); ++p)
      triples.push_back({gu[static_cast<std::size_t>(l.pair_user[p])],
                         gi[static_cast<std::size_t>(l.pair_item[p])], l.r[p]});
    l = {}; // free the dictionaries
  }
  st.strength = models::csr_matrix::from_triples(st.users.size(),
                                                 st.items.size(), triples);
  triples = {};
  auto conf = models::confidences(st.strength, s.alpha);
  auto conf_t = conf.transpose();
  for (auto v : conf.values)
    st.conf_sum += v;
  for (std::int32_t u = 0; u < st.users.size(); ++u)
    st.workers[user_owner(st.users.id(u), st.workers)].user_rows.push_back(u);
  for (std::int32_t i = 0; i < st.items.size(); ++i)
    st.workers[static_cast<std::size_t>(
                   item_owner[static_cast<std::size_t>(i)])]
        .item_rows.push_back(i);
  for (auto& w : st.workers) {
    w.need_items = als::needed_columns(conf, w.user_rows);
    w.need_users = als::needed_columns(conf_t, w.item_rows);
  }
  plan_exchange(self);
  // The messages of the half-steps that do not pass through the coordinator's
  // send_to: rows between workers, and the last iteration's replies (rows and
  // the float64 partial gram).
  const auto k = static_cast<std::size_t>(s.als.factors);
  const auto row_bytes = 4 * k + 4, reply_bytes = 8 * k * k + 1024;
  for (std::size_t i = 0; i < st.workers.size(); ++i) {
    const auto& w = st.workers[i];
    for (int side = 0; side < 2; ++side)
      for (std::size_t j = 0; j < w.to[side].size(); ++j)
        if (!fits_links(self, "solve " + std::string{side == 0 ? "users" : "items"},
                        w.to[side][j].local.size() * row_bytes + 1024,
                        "from node " + w.node + " to node " + st.workers[j].node))
          return;
    if (w.node != st.a.env->me && // the coordinator's own worker answers in-process
        (!fits_links(self, "solve users", w.user_rows.size() * row_bytes + reply_bytes,
                     "from node " + w.node) ||
         !fits_links(self, "solve items", w.item_rows.size() * row_bytes + reply_bytes,
                     "from node " + w.node)))
      return;
  }
  st.x = models::init_factors(st.users.size(), s.als.factors, s.als.seed, 0,
                              s.als.init_scale);
  st.y = models::init_factors(st.items.size(), s.als.factors, s.als.seed, 1,
                              s.als.init_scale);
  st.gram_y = s.gram == "coordinator" ? models::gram(st.y, s.als.reg, s.als.threads)
                                       : with_reg(models::gram_double(st.y, s.als.threads),
                                                  s.als.reg);
  st.load_seconds =
      std::chrono::duration<double>(clock_type::now() - st.t_start).count();
  self->state.conf = std::move(conf);
  self->state.conf_t = std::move(conf_t);
  send_assign(self, als::side::users);
}

std::string fixed(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// --- similar items (step 4) ----------------------------------------------------

void write_model(coord_actor* self);

// The reply (st.reply, without its closing brace) goes out; the run is over.
void finish_training(coord_actor* self) {
  auto& st = self->state;
  st.reply += ",\"total_seconds\":" +
              fixed("%.3f", std::chrono::duration<double>(clock_type::now() - st.t_start).count());
  st.reply += "}";
  st.finished = true;
  finish_reply(self, st.reply);
  self->quit();
}

// Buckets to workers by key: each worker gets its buckets over only the rows
// they reference, renumbered, and those rows' vectors.
void start_join(coord_actor* self) {
  auto& st = self->state;
  const auto& s = st.a.settings;
  st.t_similar = clock_type::now();
  st.bytes_sink = &st.similar_bytes;
  st.network_sink = &st.similar_network_bytes;
  st.normalized = models::normalize_rows(st.y);
  std::vector<std::uint64_t> keys;
  models::lsh_index index(st.normalized, s.lsh);
  st.lsh_build = index.build_stats();
  const auto buckets = index.buckets(&keys);
  begin_step(self, "similar-items join"); // the deadline starts with the sends
  const auto w_count = st.workers.size();
  std::vector<std::vector<std::size_t>> mine(w_count);
  for (std::size_t b = 0; b < buckets.size(); ++b)
    mine[keys[b] % w_count].push_back(b);
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t w = 0; w < w_count; ++w) {
    als::join_request r;
    r.run = st.run;
    r.n = s.similar_n;
    r.threads = s.als.threads;
    for (auto b : mine[w])
      r.items.insert(r.items.end(), buckets[b].begin(), buckets[b].end());
    std::sort(r.items.begin(), r.items.end());
    r.items.erase(std::unique(r.items.begin(), r.items.end()), r.items.end());
    r.vectors = gather_rows(st.normalized, r.items);
    std::vector<std::int32_t> local;
    for (auto b : mine[w]) {
      local.clear();
      for (auto id : buckets[b])
        local.push_back(static_cast<std::int32_t>(
            std::lower_bound(r.items.begin(), r.items.end(), id) - r.items.begin()));
      r.buckets.add(local);
    }
    // The reply (a list per row) must fit the node links as well as the request.
    const auto reply_bytes = r.items.size() * (4 + 8 * static_cast<std::size_t>(r.n)) + 64;
    const auto max_bytes = 4 * st.a.env->cfg.limits.max_frame_bytes;
    if (st.workers[w].node != st.a.env->me && reply_bytes > max_bytes) {
      fail(self, "the similar-items lists of node " + st.workers[w].node + " need a " +
                     std::to_string(reply_bytes >> 20) + " MB message, more than the node "
                     "links carry (" + std::to_string(max_bytes >> 20) +
                     " MB = 4 x limits.max_frame_bytes): raise limits.max_frame_bytes, "
                     "keep fewer neighbours (--similar-n) or skip the table (--no-similar)");
      return;
    }
    out.emplace_back(st.workers[w].node, als::encode(r));
  }
  for (auto& [node, bytes] : out)
    send_to(self, node, std::move(bytes));
}

void join_done(coord_actor* self) {
  auto& st = self->state;
  const auto& s = st.a.settings;
  std::vector<models::neighbor_table> parts;
  for (auto& w : st.workers) {
    auto r = als::decode_join_reply(st.replies.at(w.node));
    if (!r || r->table.n != s.similar_n) {
      fail(self, "node " + w.node + " answered step '" + st.step + "' with " +
                     (r ? "lists of " + std::to_string(r->table.n) + " neighbours (asked for " +
                              std::to_string(s.similar_n) + ")"
                        : r.err().message));
      return;
    }
    const auto n = static_cast<std::size_t>(r->table.n);
    for (std::size_t row = 0; row < r->table.query.size(); ++row) {
      const auto q = r->table.query[row];
      bool ok = q >= 0 && q < st.items.size();
      for (std::size_t k = 0; ok && k < n; ++k) {
        const auto id = r->table.ids[row * n + k];
        ok = id < st.items.size() && id != q; // never an item with itself
      }
      if (!ok) {
        fail(self, "node " + w.node + " answered step '" + st.step +
                       "' with an item or neighbour out of range, or an item as its own "
                       "neighbour");
        return;
      }
    }
    st.similar_comparisons += r->comparisons;
    parts.push_back(std::move(r->table));
  }
  st.replies.clear();
  st.similar = models::merge_neighbor_lists(
      st.items.size(), static_cast<std::size_t>(s.similar_n), parts);
  parts = {};
  const auto sample = models::sample_items(
      st.items.size(), static_cast<std::size_t>(s.recall_sample), s.als.seed);
  st.recall_sample = sample.size();
  st.similar_recall =
      models::sampled_recall(st.normalized, st.similar, sample, 10, s.als.threads);
  st.similar_seconds =
      std::chrono::duration<double>(clock_type::now() - st.t_similar).count();
  if (auto log = logger(self))
    log->info("ALS run {:x}: similar-items table of {} items, recall@10 {:.4f} "
              "(sample of {}), {} comparisons, {:.3f} s",
              st.run, st.items.size(), st.similar_recall, st.recall_sample,
              st.similar_comparisons, st.similar_seconds);
  write_model(self);
}

// Each worker's share of the table: the lists of the items of its shards.
std::string similar_share(const coord_state& st, const worker_info& w,
                          const std::string& model, std::uint64_t version,
                          std::int64_t created_ms) {
  similar_table t;
  t.model = model;
  t.version = version;
  t.trained_by = st.a.env->me;
  t.created_ms = created_ms;
  t.data_max_ts = st.max_ts;
  t.recall_at_10 = st.similar_recall;
  t.recall_sample = static_cast<std::uint32_t>(st.recall_sample);
  t.n = st.similar.n;
  const auto n = static_cast<std::size_t>(t.n);
  std::vector<std::int32_t> names;
  for (auto row : w.item_rows) { // ascending index == ascending id
    t.items.push_back(st.items.id(row));
    for (auto id : st.similar.ids_of(row))
      if (id >= 0) names.push_back(id);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  for (auto id : names) {
    t.names.push_back(st.items.id(id));
    t.last_ts.push_back(st.item_last_ts[static_cast<std::size_t>(id)]);
  }
  t.ids.reserve(w.item_rows.size() * n);
  for (auto row : w.item_rows) {
    const auto ids = st.similar.ids_of(row);
    const auto scores = st.similar.scores_of(row);
    for (std::size_t k = 0; k < n; ++k) {
      t.ids.push_back(ids[k] < 0 ? -1
                                 : static_cast<std::int32_t>(
                                       std::lower_bound(names.begin(), names.end(), ids[k]) -
                                       names.begin()));
      t.scores.push_back(scores[k]);
    }
  }
  return encode_similar_table(t);
}

std::string similar_json_summary(const coord_state& st) {
  const auto& s = st.a.settings;
  std::string j = "{\"n\":" + std::to_string(s.similar_n);
  char b[96];
  std::snprintf(b, sizeof b, ",\"recall_at_10\":%.4f,\"recall_sample\":%zu",
                st.similar_recall, st.recall_sample);
  j += b;
  j += ",\"lsh\":{\"tables\":" + std::to_string(s.lsh.tables) +
       ",\"projections\":" + std::to_string(s.lsh.projections);
  std::snprintf(b, sizeof b, ",\"bucket_length\":%.6g,\"seed\":%llu}", s.lsh.bucket_length,
                static_cast<unsigned long long>(s.lsh.seed));
  j += b;
  std::snprintf(b, sizeof b, ",\"seconds\":%.3f", st.similar_seconds);
  j += b;
  j += ",\"buckets\":" + std::to_string(st.lsh_build.buckets) +
       ",\"largest_bucket\":" + std::to_string(st.lsh_build.largest_bucket) +
       ",\"comparisons\":" + std::to_string(st.similar_comparisons) +
       ",\"bytes\":" + std::to_string(st.similar_bytes) +
       ",\"network_bytes\":" + std::to_string(st.similar_network_bytes) + "}";
  return j;
}

void write_model(coord_actor* self) {
  auto& st = self->state;
  auto& env = *st.a.env;
  const auto& s = st.a.settings;
  const auto dir =
      (std::filesystem::path{env.cfg.data_dir} / env.me / "models").string();
  als_artifact art;
  art.version = next_artifact_version(dir);
  std::string j = "{\"format\":1,\"kind\":\"als\",\"version\":" +
                  std::to_string(art.version);
  j += ",\"trained_by\":";
  append_json_string(j, env.me);
  j += ",\"created_ms\":" +
       std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count());
  j += ",\"nodes\":[";
  for (std::size_t i = 0; i < st.workers.size(); ++i) {
    auto& w = st.workers[i];
    j += i ? ",{" : "{";
    j += "\"id\":";
    append_json_string(j, w.node);
    j += ",\"user_rows\":" + std::to_string(w.user_rows.size()) +
         ",\"item_rows\":" + std::to_string(w.item_rows.size()) + "}";
  }
  j += "],\"settings\":{\"factors\":" + std::to_string(s.als.factors) +
       ",\"alpha\":" + fixed("%.9g", s.alpha) +
       ",\"reg\":" + fixed("%.9g", s.als.reg) +
       ",\"iterations\":" + std::to_string(s.als.iterations) +
       ",\"cg_steps\":" + std::to_string(s.als.cg_steps) +
       ",\"seed\":" + std::to_string(s.als.seed) +
       ",\"init_scale\":" + fixed("%.9g", s.als.init_scale) +
       ",\"threads\":" + std::to_string(s.als.threads) + ",\"preset\":";
  append_json_string(j, s.preset);
  j += ",\"weights\":";
  append_json_string(j, s.weights_from);
  j += ",\"gram\":";
  append_json_string(j, s.gram);
  j += "},\"users\":" + std::to_string(st.users.size()) +
       ",\"items\":" + std::to_string(st.items.size()) +
       ",\"pairs\":" + std::to_string(st.strength.nnz()) +
       ",\"events\":" + std::to_string(st.events) +
       ",\"zero_weight_events\":" + std::to_string(st.zero_weight) +
       ",\"data_range\":{\"min_ts\":" + std::to_string(st.min_ts) +
       ",\"max_ts\":" + std::to_string(st.max_ts) + "}" +
       ",\"load_seconds\":" + fixed("%.3f", st.load_seconds) +
       ",\"setup_seconds\":" + fixed("%.3f", st.setup_seconds) +
       ",\"setup_bytes\":" + std::to_string(st.setup_bytes) +
       ",\"setup_network_bytes\":" + std::to_string(st.setup_network_bytes) +
       ",\"iterations\":[";
  for (std::size_t i = 0; i < st.history.size(); ++i) {
    auto& h = st.history[i];
    j += i ? ",{" : "{";
    j += "\"iteration\":" + std::to_string(i + 1) +
         ",\"loss\":" + fixed("%.17g", h.loss) +
         ",\"normalized_loss\":" + fixed("%.17g", h.normalized) +
         ",\"seconds\":" + fixed("%.4f", h.seconds) +
         ",\"bytes\":" + std::to_string(h.bytes) +
         ",\"network_bytes\":" + std::to_string(h.network_bytes) + "}";
  }
  j += "]";
  if (s.verify) {
    // The same matrix and seed through single-process fit(): max |difference| /
    // max |value| over each factor matrix.
    const auto t0 = clock_type::now();
    const auto local = models::fit(models::confidences(st.strength, s.alpha), s.als);
    auto rel = [](const models::factor_matrix& a, const models::factor_matrix& b) {
      if (a.rows() != b.rows() || a.cols() != b.cols()) return -1.0;
      const double scale = std::max(1e-30, static_cast<double>(b.cwiseAbs().maxCoeff()));
      return static_cast<double>((a - b).cwiseAbs().maxCoeff()) / scale;
    };
    j += ",\"verify\":{\"users_max_rel_diff\":" + fixed("%.3g", rel(st.x, local.users)) +
         ",\"items_max_rel_diff\":" + fixed("%.3g", rel(st.y, local.items)) +
         ",\"fit_seconds\":" +
         fixed("%.3f", std::chrono::duration<double>(clock_type::now() - t0).count());
    if (!st.similar.ids.empty()) {
      // The distributed join against the single-process one (same buckets).
      const auto one = models::lsh_index(st.normalized, s.lsh)
                           .table(static_cast<std::size_t>(s.similar_n));
      j += std::string{",\"similar_equals_single_process\":"} +
           (one.ids == st.similar.ids && one.scores == st.similar.scores ? "true" : "false");
    }
    j += "}";
  }
  if (!st.similar.ids.empty()) j += ",\"similar\":" + similar_json_summary(st);
  art.meta_json = j + "}\n";
  // Each node's share of the similar-items table, named after this model.
  std::vector<std::pair<std::string, std::string>> shares;
  if (!st.similar.ids.empty()) {
    const auto model = env.me + "/als-" + std::to_string(art.version);
    const auto created = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    for (auto& w : st.workers)
      shares.emplace_back(w.node, similar_share(st, w, model, art.version, created));
  }
  art.users = std::move(st.users);
  art.items = std::move(st.items);
  art.user_factors = std::move(st.x);
  art.item_factors = std::move(st.y);
  art.seen = std::move(st.strength);
  auto path = write_artifact(dir, art);
  if (!path) {
    fail(self, path.err().message);
    return;
  }
  j += ",\"path\":";
  append_json_string(j, *path);
  if (auto log = logger(self))
    log->info("ALS training run {:x}: model version {} written to {}", st.run,
              art.version, *path);
  st.reply = std::move(j);
  if (shares.empty()) {
    finish_training(self);
    return;
  }
  begin_step(self, "store similar items");
  st.bytes_sink = &st.similar_bytes;
  st.network_sink = &st.similar_network_bytes;
  for (auto& [node, table] : shares) {
    als::store_request r;
    r.run = st.run;
    r.table = std::move(table);
    send_to(self, node, als::encode(r));
  }
}

void training_done(coord_actor* self) {
  auto& st = self->state;
  if (st.a.settings.similar && st.items.size() >= 2)
    start_join(self);
  else
    write_model(self);
}

void half_done(coord_actor* self) {
  auto& st = self->state;
  const auto& s = st.a.settings;
  const auto k = s.als.factors;
  Eigen::MatrixXd g = Eigen::MatrixXd::Zero(k, k);
  models::loss_terms terms;
  const bool users = st.step.starts_with("solve users");
  // Workers in configuration order: the reduction order does not depend on
  // which reply came first.
  for (auto& w : st.workers) {
    g += w.partial_gram;
    terms.merge(w.loss);
  }
  st.replies.clear();
  if (users) {
    st.gram_x = s.gram == "coordinator" ? models::gram(st.x, s.als.reg, s.als.threads)
                                         : with_reg(g, s.als.reg);
    st.x_norm2 = g.trace(); // |X|^2 for the loss: the rows stay with the workers
    start_half(self, als::side::items);
    return;
  }
  st.gram_y = s.gram == "coordinator" ? models::gram(st.y, s.als.reg, s.als.threads)
                                       : with_reg(g, s.als.reg);
  auto& h = st.current;
  h.loss = terms.value + static_cast<double>(s.als.reg) * st.x_norm2;
  const double denom = terms.confidence_sum +
                       static_cast<double>(st.users.size()) * st.items.size() -
                       static_cast<double>(terms.nnz);
  h.normalized = denom > 0 ? h.loss / denom : 0.0;
  h.seconds =
      std::chrono::duration<double>(clock_type::now() - st.t_iteration).count();
  st.history.push_back(h);
  if (auto log = logger(self))
    log->info(
        "ALS run {:x} iteration {}: normalized loss {:.6f}, {:.3f} s, {} bytes",
        st.run, st.iteration, h.normalized, h.seconds, h.bytes);
  if (st.iteration < s.als.iterations)
    start_iteration(self);
  else
    training_done(self);
}

void step_done(coord_actor* self) {
  auto& st = self->state;
  if (st.step == "load") {
    for (auto& w : st.workers) {
      auto l = als::decode_load_reply(st.replies.at(w.node));
      if (!l) {
        fail(self, "node " + w.node + " answered step 'load' with " +
                       l.err().message);
        return;
      }
      w.loaded = std::move(*l);
    }
    st.replies.clear();
    build_and_assign(self);
  } else if (st.step == "assign users") {
    send_assign(self, als::side::items);
  } else if (st.step == "assign items") {
    st.setup_seconds =
        std::chrono::duration<double>(clock_type::now() - st.t_start).count();
    if (st.a.settings.als.iterations == 0)
      training_done(self);
    else
      start_iteration(self);
  } else if (st.step == "similar-items join") {
    join_done(self);
  } else if (st.step == "store similar items") {
    st.reply += ",\"similar_stored\":[";
    for (std::size_t i = 0; i < st.workers.size(); ++i) {
      auto path = als::decode_stored(st.replies.at(st.workers[i].node));
      if (!path) {
        fail(self, "node " + st.workers[i].node + " answered step '" + st.step + "' with " +
                       path.err().message);
        return;
      }
      st.reply += i ? ",{\"node\":" : "{\"node\":";
      append_json_string(st.reply, st.workers[i].node);
      st.reply += ",\"path\":";
      append_json_string(st.reply, *path);
      st.reply += "}";
    }
    st.reply += "]";
    finish_training(self);
  } else {
    half_done(self);
  }
}

void on_reply(coord_actor* self, const std::string& node, std::string bytes) {
  auto& st = self->state;
  if (st.finished || !st.waiting.count(node)) return;
  *st.bytes_sink += bytes.size();
  if (node != st.a.env->me) *st.network_sink += bytes.size();
  const auto op = als::op_of(bytes);
  if (op == "error") {
    fail(self, "node " + node + " failed step '" + st.step +
                   "': " + als::decode_error(bytes));
    return;
  }
  st.waiting.erase(node);
  if (op == "solved")
    solve_reply_in(self, node, bytes);
  else
    st.replies[node] = std::move(bytes);
  if (st.waiting.empty() && !st.finished) step_done(self);
}

caf::behavior coordinator(coord_actor* self, coordinator_args a) {
  auto& st = self->state;
  st.a = std::move(a);
  st.t_start = clock_type::now();
  st.run = static_cast<std::uint64_t>(
               std::chrono::system_clock::now().time_since_epoch().count()) ^
           cluster::item_hash(st.a.env->me);
  st.bytes_sink = &st.setup_bytes;
  st.network_sink = &st.setup_network_bytes;
  self->monitor(st.a.gateway);
  self->set_down_handler([=](caf::down_msg&) {
    self->state.finished = true; // the node stops: nobody to answer
    self->quit();
  });
  auto& env = *st.a.env;
  for (auto& n : env.cfg.nodes) {
    st.index_of[n.id] = st.workers.size();
    st.workers.emplace_back().node = n.id;
  }
  self->send(self, timer_atom::value);
  if (!st.a.down.empty()) {
    std::string ids;
    for (auto& d : st.a.down)
      ids += (ids.empty() ? "" : ", ") + d;
    // Sent after the behavior is installed: fail() quits the actor.
    self->send(self, alsdown_atom::value,
               "node(s) " + ids +
                   " not reachable (no heartbeat): training needs every "
                   "configured node; start them (scripts/cluster.sh "
                   "restart NODE) and train again");
  } else {
    begin_step(self, "load");
    als::load_request req;
    req.weights = st.a.settings.weights;
    req.run = st.run;
    auto bytes = als::encode(req);
    for (auto& w : st.workers)
      send_to(self, w.node, bytes);
  }
  if (auto log = logger(self))
    log->info("ALS training run {:x} started over {} node(s)", st.run,
              st.workers.size());
  return {
      [=](alsreply_atom, const std::string& node, const std::string& corr,
          std::string& bytes) {
        auto& s = self->state;
        auto it = s.outstanding.find(corr);
        if (it == s.outstanding.end() || it->second != node) return;
        s.outstanding.erase(it);
        try {
          on_reply(self, node, std::move(bytes));
        } catch (const std::exception& e) {
          fail(self, std::string{"internal error: "} + e.what());
        }
      },
      [=](alsdown_atom, const std::string& why) {
        if (why.starts_with("node(s) "))
          fail(self, why);
        else
          fail(self, "node " + why +
                         " stopped answering heartbeats during step '" +
                         self->state.step +
                         "'; training needs every configured node: restart it "
                         "(scripts/cluster.sh restart " +
                         why + ") and train again");
      },
      [=](timer_atom) {
        auto& s = self->state;
        if (s.finished) return;
        if (!s.waiting.empty() && clock_type::now() >= s.deadline) {
          std::string ids;
          for (auto& n : s.waiting)
            ids += (ids.empty() ? "" : ", ") + n;
          fail(self, "node " + ids + " did not answer step '" + s.step +
                         "' within " +
                         seconds_text(s.a.settings.step_timeout_ms) +
                         " (step_timeout_ms); check that it runs "
                         "(scripts/cluster.sh status)");
          return;
        }
        self->delayed_send(self, std::chrono::milliseconds{100},
                           timer_atom::value);
      },
  };
}

} // namespace

caf::actor spawn_als_coordinator(caf::actor_system& sys,
                                 coordinator_args args) {
  return sys.spawn(coordinator, std::move(args));
}

} // namespace eddy::actors

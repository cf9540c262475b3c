#include "actors/als_worker.hpp"

#include "actors/als_artifact.hpp"
#include "actors/als_protocol.hpp"
#include "actors/similar_table.hpp"
#include "models/lsh.hpp"
#include "schema/writers.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <optional>
#include <unordered_map>

namespace eddy::actors {

namespace {

constexpr auto scan_timeout = std::chrono::minutes{10};

// One block of a side: its CSR with the columns renumbered to positions in
// `needed` (the other side's rows it references, ascending global index), its
// factor rows, and `other`, the needed rows as last placed: by "rows" messages
// (rows other workers solved) and by this worker (its own rows of the other
// side, at own_pos of the other block). `placed` counts the rows placed since
// the block's last solve; a solve that finds rows still on their way waits in
// `pending` until they are in.
struct pending_solve {
  als::solve_request req;
  caf::typed_response_promise<std::string> rp;
  std::uint64_t shared = 0; // bytes its start sent already
};

struct block {
  models::csr_matrix c;
  std::vector<std::int32_t> needed;
  models::factor_matrix rows;
  std::vector<std::int32_t> globals; // global index of each row
  std::vector<std::int32_t> own_pos; // per row: its position in the other block's needed, or -1
  std::vector<als::assign_request::peer_rows> peers; // where "share" sends which rows
  models::factor_matrix other;
  std::size_t placed = 0;
  std::optional<pending_solve> pending;
  std::string broken; // why a "rows" message could not be placed ("" if none)
};

struct worker_state {
  std::string node;
  std::string models_dir;
  std::vector<caf::actor> shards;
  peer_sender send_peer;
  std::uint64_t run = 0;
  bool assigned = false; // both blocks of `run` are in
  int sides = 0;         // bit per side received
  int cg_steps = 0, threads = 1;
  block blocks[2];
  static inline const char* name = "eddy.als_worker";
};

using worker_actor = caf::stateful_actor<worker_state>;

// r(user, item) over the scanned events, the rule of models/training.hpp
// without decay: each event's weight rounded to float, summed in float in log
// order (shards in index order). Pairs with r == 0 are left out.
std::string aggregate(const als::load_request& req,
                      const std::vector<events_ptr>& parts) {
  als::load_reply out;
  out.run = req.run;
  // Ids -> first-seen indices, pairs keyed by (user index, item index).
  std::unordered_map<std::string, std::uint32_t> user_ix, item_ix;
  std::vector<std::int64_t> last_ts; // per item index
  std::unordered_map<std::uint64_t, float> r;
  std::vector<std::uint64_t> order; // pairs in first-seen order
  std::size_t total = 0;
  for (const auto& p : parts)
    total += p->size();
  r.reserve(total);
  order.reserve(total);
  bool any = false;
  for (const auto& p : parts)
    for (const auto& e : *p) {
      ++out.events;
      out.min_ts = any ? std::min(out.min_ts, e.ts) : e.ts;
      out.max_ts = any ? std::max(out.max_ts, e.ts) : e.ts;
      any = true;
      const float w = req.weights[e.type];
      if (!(w > 0.0F)) {
        ++out.zero_weight;
        continue;
      }
      auto u =
          user_ix
              .try_emplace(e.user, static_cast<std::uint32_t>(user_ix.size()))
              .first->second;
      auto i =
          item_ix
              .try_emplace(e.item, static_cast<std::uint32_t>(item_ix.size()))
              .first->second;
      if (i == last_ts.size())
        last_ts.push_back(e.ts);
      else
        last_ts[i] = std::max(last_ts[i], e.ts);
      const auto key = (std::uint64_t{u} << 32) | i;
      auto [it, fresh] = r.try_emplace(key, 0.0F);
      if (fresh) order.push_back(key);
      it->second += static_cast<float>(static_cast<double>(w));
    }
  // Ids in byte order (models/training.hpp), indices renumbered to match.
  auto sorted = [](const std::unordered_map<std::string, std::uint32_t>& ix,
                   std::vector<std::string>& ids,
                   std::vector<std::int32_t>& rank) {
    std::vector<const std::pair<const std::string, std::uint32_t>*> v;
    v.reserve(ix.size());
    for (const auto& kv : ix)
      v.push_back(&kv);
    std::sort(v.begin(), v.end(),
              [](auto* a, auto* b) { return a->first < b->first; });
    ids.reserve(v.size());
    rank.assign(v.size(), 0);
    for (std::size_t k = 0; k < v.size(); ++k) {
      ids.push_back(v[k]->first);
      rank[v[k]->second] = static_cast<std::int32_t>(k);
    }
  };
  std::vector<std::int32_t> user_rank, item_rank;
  sorted(user_ix, out.users, user_rank);
  sorted(item_ix, out.items, item_rank);
  out.item_last_ts.resize(out.items.size());
  for (std::size_t i = 0; i < last_ts.size(); ++i)
    out.item_last_ts[static_cast<std::size_t>(item_rank[i])] = last_ts[i];
  out.pair_user.reserve(order.size());
  out.pair_item.reserve(order.size());
  out.r.reserve(order.size());
  for (auto key : order) {
    const float v = r[key];
    if (!(v > 0.0F)) continue;
    out.pair_user.push_back(user_rank[key >> 32]);
    out.pair_item.push_back(item_rank[key & 0xffffffffU]);
    out.r.push_back(v);
  }
  return als::encode(out);
}

block make_block(als::assign_request&& req) {
  block b;
  auto& c = req.block;
  b.needed = als::needed_columns(c);
  for (auto& col : c.indices)
    col = static_cast<std::int32_t>(
        std::lower_bound(b.needed.begin(), b.needed.end(), col) -
        b.needed.begin());
  c.cols = static_cast<std::int32_t>(b.needed.size());
  b.c = std::move(c);
  b.other.resize(static_cast<Eigen::Index>(b.needed.size()), req.rows.cols());
  b.rows = std::move(req.rows);
  b.globals = std::move(req.globals);
  b.peers = std::move(req.peers);
  return b;
}

// Once both blocks are in: where each block's rows go in the other block's needed rows.
void link_blocks(block& a, block& b) {
  auto positions = [](const block& from, const block& to) {
    std::vector<std::int32_t> pos(from.globals.size(), -1);
    for (std::size_t r = 0; r < pos.size(); ++r) {
      auto it = std::lower_bound(to.needed.begin(), to.needed.end(), from.globals[r]);
      if (it != to.needed.end() && *it == from.globals[r])
        pos[r] = static_cast<std::int32_t>(it - to.needed.begin());
    }
    return pos;
  };
  a.own_pos = positions(a, b);
  b.own_pos = positions(b, a);
}

// The error answer for a message of a run whose blocks this worker does not hold.
std::optional<std::string> not_in_run(const worker_state& st, std::uint64_t run) {
  if (st.assigned && run == st.run) return std::nullopt;
  return als::encode_error(run, "node " + st.node + " has no blocks of training run " +
                                    std::to_string(run) + " (restarted, or the run ended?)");
}

// A solve waiting for rows is answered with an error when its blocks go away.
void drop_pending(block& b, const std::string& why) {
  if (!b.pending) return;
  auto p = std::move(*b.pending);
  b.pending.reset();
  p.rp.deliver(als::encode_error(p.req.run, why));
}

// The rows of block `from` where the blocks of side `to` need them: this
// worker's own block (placed here) and, with `send`, the peers' (as "rows").
// Returns the bytes sent.
std::uint64_t share_rows(worker_actor* self, std::uint64_t run, const block& from, als::side to,
                         bool send) {
  auto& st = self->state;
  auto& o = st.blocks[static_cast<int>(to)];
  for (std::size_t r = 0; r < from.own_pos.size(); ++r)
    if (from.own_pos[r] >= 0) {
      o.other.row(from.own_pos[r]) = from.rows.row(static_cast<Eigen::Index>(r));
      ++o.placed;
    }
  std::uint64_t sent = 0;
  if (send)
    for (const auto& p : from.peers) {
      auto bytes = als::encode_rows(run, to, p.positions, from.rows, p.local);
      sent += bytes.size();
      st.send_peer(p.node, std::move(bytes));
    }
  return sent;
}

// Solves the rows of block `req.which` over its placed rows (all in: placed
// == needed). `shared`: bytes this request sent already (its start).
std::string solve(worker_actor* self, const als::solve_request& req, std::uint64_t shared) {
  auto& st = self->state;
  auto& b = st.blocks[static_cast<int>(req.which)];
  if (!b.broken.empty()) return als::encode_error(req.run, b.broken);
  if (b.placed != b.needed.size())
    return als::encode_error(
        req.run, "node " + st.node + ": " + std::to_string(b.placed) + " rows placed for the " +
                     std::to_string(b.needed.size()) +
                     " this step needs (a 'rows' message was repeated)");
  b.placed = 0;
  als::solve_reply out;
  out.run = req.run;
  out.which = req.which;
  models::solve_rows(b.c, b.other, req.gram, st.cg_steps, b.rows, st.threads);
  // The new rows first go where the next half-step needs them, so that they
  // travel while this worker computes its gram and loss.
  const auto next = req.which == als::side::users ? als::side::items : als::side::users;
  out.shared_bytes = shared + share_rows(self, req.run, b, next, req.share);
  out.partial_gram = models::gram_double(b.rows, st.threads);
  if (req.want_loss)
    out.loss = models::loss_rows(b.c, b.rows, b.other, req.gram, st.threads);
  if (req.want_rows) out.rows = std::move(b.rows);
  auto e = als::encode(out);
  if (!req.share) { // the run's last half-step: its blocks are of no further use
    st.blocks[0] = {};
    st.blocks[1] = {};
    st.assigned = false;
  } else if (req.want_rows) {
    b.rows = std::move(out.rows); // taken back: the next half-step starts from them
  }
  return e;
}

// A solve request: answered now, or once the rows it needs are all placed.
caf::result<std::string> on_solve(worker_actor* self, als::solve_request&& req) {
  auto& st = self->state;
  if (auto why = not_in_run(st, req.run)) return *why;
  auto& b = st.blocks[static_cast<int>(req.which)];
  const auto k = b.rows.cols();
  if (req.gram.rows() != k || req.gram.cols() != k)
    return als::encode_error(req.run, "node " + st.node +
                                          ": solve request of the wrong shape");
  if (b.pending)
    return als::encode_error(req.run, "node " + st.node +
                                          ": a solve of this side is waiting for its rows already");
  const auto& other_block = st.blocks[1 - static_cast<int>(req.which)];
  const auto shared = req.start ? share_rows(self, req.run, other_block, req.which, true) : 0;
  if (b.broken.empty() && b.placed < b.needed.size()) {
    auto rp = self->make_response_promise<std::string>();
    b.pending = pending_solve{std::move(req), rp, shared};
    return rp;
  }
  return solve(self, req, shared);
}

std::string place_rows(worker_actor* self, const als::rows_message& m) {
  auto& st = self->state;
  if (auto why = not_in_run(st, m.run)) return *why;
  auto& b = st.blocks[static_cast<int>(m.which)];
  const auto k = b.other.cols();
  const auto row_bytes = 4 * static_cast<std::size_t>(k);
  bool ok = m.k == k;
  for (std::size_t i = 0; ok && i < m.positions.size(); ++i) {
    const auto p = m.positions[i];
    ok = p >= 0 && p < b.other.rows();
    if (ok) std::memcpy(b.other.row(p).data(), m.rows.data() + i * row_bytes, row_bytes);
  }
  if (!ok) { // the solve that needs these rows fails with this message
    b.broken = "node " + st.node + ": a 'rows' message did not fit its block";
    drop_pending(b, b.broken);
    return als::encode_error(m.run, b.broken);
  }
  b.placed += m.positions.size();
  if (b.pending && b.placed >= b.needed.size()) { // the waiting solve can run now
    auto p = std::move(*b.pending);
    b.pending.reset();
    try {
      p.rp.deliver(solve(self, p.req, p.shared));
    } catch (const std::exception& e) { // answered like the handler's own failures
      p.rp.deliver(als::encode_error(p.req.run, "node " + st.node + ": " + e.what()));
    }
  }
  return als::encode_placed(m.run);
}

std::string join(const als::join_request& req) {
  als::join_reply out;
  out.run = req.run;
  out.table = models::join_buckets(req.vectors, req.buckets,
                                   static_cast<std::size_t>(req.n), req.threads,
                                   &out.comparisons);
  for (auto& id : out.table.ids)
    if (id >= 0) id = req.items[static_cast<std::size_t>(id)];
  out.table.query = req.items;
  return als::encode(out);
}

std::string store(worker_actor* self, const als::store_request& req) {
  auto& st = self->state;
  auto t = decode_similar_table(req.table);
  if (!t) return als::encode_error(req.run, "node " + st.node + ": " + t.err().message);
  auto path = store_similar_table(st.models_dir, *t);
  if (!path)
    return als::encode_error(req.run, "node " + st.node + ": storing the similar-items table: " +
                                          path.err().message);
  if (auto log = spdlog::get("node " + st.node))
    log->info("similar-items lists of {} items (model {}) stored in {}", t->items.size(),
              t->model, *path);
  return als::encode_stored(req.run, *path);
}

caf::behavior als_worker(worker_actor* self, std::string node,
                         std::vector<caf::actor> shards, std::string models_dir,
                         peer_sender send_peer) {
  self->state.send_peer = std::move(send_peer);
  self->state.node = std::move(node);
  self->state.models_dir = std::move(models_dir);
  self->state.shards = std::move(shards);
  return {
      [=](als_atom, const std::string& bytes) -> caf::result<std::string> {
        auto& st = self->state;
        // An exception would kill the worker (CAF 0.17): every failure is a
        // reply.
        try {
          const auto op = als::op_of(bytes);
          if (op == "load") {
            auto req = als::decode_load_request(bytes);
            if (!req) return als::encode_error(0, req.err().message);
            st.assigned = false; // a new run starts
            auto rp = self->make_response_promise<std::string>();
            struct gather {
              std::vector<events_ptr> parts;
              std::size_t waiting = 0;
              bool failed = false;
              std::chrono::steady_clock::time_point start =
                  std::chrono::steady_clock::now();
            };
            auto g = std::make_shared<gather>();
            auto request = std::make_shared<als::load_request>(std::move(*req));
            std::vector<caf::actor> mine;
            for (auto& s : st.shards)
              if (s) mine.push_back(s);
            g->parts.resize(mine.size());
            g->waiting = mine.size();
            if (mine.empty()) {
              rp.deliver(aggregate(*request, {}));
              return rp;
            }
            for (std::size_t i = 0; i < mine.size(); ++i)
              self->request(mine[i], scan_timeout, scan_atom::value)
                  .then(
                      [=](const events_ptr& events) mutable {
                        if (g->failed) return;
                        g->parts[i] = events;
                        if (--g->waiting == 0) {
                          try {
                            auto t0 = std::chrono::steady_clock::now();
                            auto reply = aggregate(*request, g->parts);
                            if (auto log =
                                    spdlog::get("node " + self->state.node))
                              log->info(
                                  "ALS load: {} shards scanned in {:.3f} s, "
                                  "aggregated in "
                                  "{:.3f} s ({} bytes)",
                                  g->parts.size(),
                                  std::chrono::duration<double>(t0 - g->start)
                                      .count(),
                                  std::chrono::duration<double>(
                                      std::chrono::steady_clock::now() - t0)
                                      .count(),
                                  reply.size());
                            rp.deliver(std::move(reply));
                          } catch (const std::exception& e) {
                            rp.deliver(als::encode_error(
                                request->run,
                                "node " + self->state.node + ": " + e.what()));
                          }
                        }
                      },
                      [=](caf::error& err) mutable {
                        if (g->failed) return;
                        g->failed = true;
                        rp.deliver(als::encode_error(
                            request->run, "node " + self->state.node +
                                              ": reading a shard log failed: " +
                                              to_string(err)));
                      });
            return rp;
          }
          if (op == "assign") {
            auto req = als::decode_assign_request(bytes);
            if (!req) return als::encode_error(0, req.err().message);
            if (req->which == als::side::users) { // the first of the two
              st.assigned = false;
              st.sides = 0;
            }
            st.run = req->run;
            st.cg_steps = req->cg_steps;
            st.threads = req->threads;
            auto& b = st.blocks[static_cast<int>(req->which)];
            drop_pending(b, "node " + st.node + ": training run " + std::to_string(req->run) +
                                " replaced this one");
            b = make_block(std::move(*req));
            st.sides |= 1 << static_cast<int>(req->which);
            st.assigned = st.sides == 3;
            if (st.assigned) link_blocks(st.blocks[0], st.blocks[1]);
            return als::encode_assigned(st.run);
          }
          if (op == "solve") {
            auto req = als::decode_solve_request(bytes);
            if (!req) return als::encode_error(0, req.err().message);
            return on_solve(self, std::move(*req));
          }
          if (op == "rows") {
            auto m = als::decode_rows(bytes);
            if (!m) return als::encode_error(0, m.err().message);
            return place_rows(self, *m);
          }
          if (op == "join") {
            auto req = als::decode_join_request(bytes);
            if (!req) return als::encode_error(0, req.err().message);
            return join(*req);
          }
          if (op == "store") {
            auto req = als::decode_store_request(bytes);
            if (!req) return als::encode_error(0, req.err().message);
            return store(self, *req);
          }
          return als::encode_error(0, "node " + st.node +
                                          ": unknown ALS request '" + op + "'");
        } catch (const std::exception& e) {
          return als::encode_error(st.run, "node " + st.node + ": " + e.what());
        }
      },
  };
}

// --- model server
// -------------------------------------------------------------

struct server_state {
  std::string node;
  std::string dir;
  std::shared_ptr<const als_artifact> model;
  std::unique_ptr<current_similar_table> current; ///< loads similar.current
  std::shared_ptr<const similar_table> similar;
  static inline const char* name = "eddy.model_server";
};

using server_actor = caf::stateful_actor<server_state>;

// Loads the table similar.current points to if it changed (the switch: one
// pointer). An error message if it cannot be read; st.similar stays null while
// there is no table.
std::optional<std::string> load_similar(server_state& st) {
  auto t = st.current->get();
  if (!t) return t.err().message;
  st.similar = std::move(*t);
  return std::nullopt;
}

// Failures are answers too: {"error": "..."} (the CLI prints the message).
std::string error_json(const std::string& why) {
  std::string j = "{\"error\":";
  append_json_string(j, why);
  return j + "}";
}

caf::behavior model_server(server_actor* self, std::string node, std::string dir) {
  self->state.node = std::move(node);
  self->state.dir = std::move(dir);
  self->state.current = std::make_unique<current_similar_table>(self->state.dir);
  return {
      [=](simq_atom, const std::string& item) -> std::string {
        auto& st = self->state;
        if (auto why = load_similar(st))
          return encode_item_error(item, "node " + st.node + ": " + *why);
        return encode_item_list(st.similar.get(), item, st.node);
      },
      [=](mnode_atom) -> std::string {
        // Every run with similar items stores lists on every node: the model
        // of this node's current lists is the newest (if a table cannot be
        // read, the node answers from its own model, or says it has none).
        auto& st = self->state;
        if (load_similar(st) || !st.similar) return {};
        return st.similar->trained_by;
      },
      [=](recq_atom, const std::string& args) -> caf::result<std::string> {
        auto& st = self->state;
        try {
          auto a = als::parse_args(args);
          if (!a) return error_json(a.err().message);
          std::string user;
          std::size_t k = 10;
          bool seen = false;
          for (auto& [key, v] : *a) {
            if (key == "user") {
              user = v;
            } else if (key == "k") {
              auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), k);
              if (ec != std::errc{} || p != v.data() + v.size() || k < 1 ||
                  k > 10000)
                return error_json("k must be a number from 1 to 10000 (got '" +
                                  v + "')");
            } else if (key == "seen") {
              seen = v == "1" || v == "true";
            } else {
              return error_json("unknown argument '" + key +
                                "' (recommend takes user, k, seen)");
            }
          }
          if (user.empty()) return error_json("recommend needs user=ID");
          auto newest = newest_artifact(st.dir);
          if (!newest)
            return error_json(
                "no model yet on this node (" + st.dir +
                " has no als-N): run eddy train --connect to this node first");
          if (!st.model || st.model->version != *newest) {
            auto m = read_artifact(st.dir, *newest);
            if (!m) return error_json(m.err().message);
            st.model = std::move(*m); // the switch: one pointer
          }
          auto j = recommend_json(*st.model, user, k, seen);
          if (!j) return error_json(j.err().message);
          return std::move(*j);
        } catch (const std::exception& e) {
          return error_json(e.what());
        }
      },
  };
}

} // namespace

caf::actor spawn_als_worker(caf::actor_system& sys, std::string node,
                            std::vector<caf::actor> local_shards,
                            std::string models_dir, peer_sender send_peer) {
  return sys.spawn(als_worker, std::move(node), std::move(local_shards),
                   std::move(models_dir), std::move(send_peer));
}

caf::actor spawn_model_server(caf::actor_system& sys, std::string node,
                              std::string models_dir) {
  return sys.spawn(model_server, std::move(node), std::move(models_dir));
}

} // namespace eddy::actors

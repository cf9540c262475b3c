#include "actors/gateway.hpp"

#include "actors/als_coordinator.hpp"
#include "actors/als_protocol.hpp"
#include "actors/similar_table.hpp"
#include "actors/shard_actor.hpp"
#include "actors/trend_query.hpp"
#include "cluster/shard_map.hpp"
#include "models/item_key.hpp"
#include "schema/dead_letter.hpp"
#include "schema/interactions.hpp"
#include "schema/wire.hpp"
#include "schema/writers.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>

namespace eddy::actors {

namespace {

using clock_type = std::chrono::steady_clock;
using socket_id = cluster::io_thread::socket_id;

// Correlation ids this node puts on its own requests: 8 raw bytes.
std::string corr_bytes(std::uint64_t id) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &id, 8);
  return s;
}

std::optional<std::uint64_t> corr_value(const std::string& s) {
  if (s.size() != 8)
    return std::nullopt;
  std::uint64_t v;
  std::memcpy(&v, s.data(), 8);
  return v;
}

std::optional<reject_reason> reason_of(std::string_view name) {
  for (std::size_t i = 0; i < reject_reason_count; ++i)
    if (reason_name(static_cast<reject_reason>(i)) == name)
      return static_cast<reject_reason>(i);
  return std::nullopt;
}

struct pending_batch {
  std::string rid, corr, producer;
  std::uint64_t seq = 0;
  std::uint32_t waiting = 0;
  std::uint64_t stored = 0;
  bool any_new = false, any_dup = false, any_unavailable = false;
  std::vector<std::pair<std::uint32_t, std::string>> rejects;
  std::vector<std::string> reject_details; // for the dead-letter log
  std::string message;
};

struct remote_part {
  std::uint64_t batch = 0;
  clock_type::time_point deadline;
  std::string node;
};

struct node_counts {
  std::uint64_t item_count = 0;
  std::map<std::uint32_t, std::uint64_t> shards; // shard -> events stored
};

struct pending_query {
  bool from_peer = false;   // a peer asking for this node's local counts
  std::string rid, corr;    // where the answer goes
  std::string item;
  std::uint32_t waiting = 0;
  std::map<std::string, node_counts> nodes;
  std::vector<std::string> unreachable;
};

struct remote_query {
  std::uint64_t query = 0;
  clock_type::time_point deadline;
  std::string node;
};

// A trending / popular / series / tstats query: from a client (answered with
// JSON once every node answered) or from a peer (this node's merged local answer).
// A client query without as_of first runs as a clock query (every node's newest
// event time) and then again as of the newest one.
struct pending_trend {
  bool from_peer = false;
  std::string rid, corr;
  trend_request req;
  bool clock_phase = false;
  std::uint32_t waiting = 0;
  trend_answer merged;
  std::vector<std::string> unreachable;
};

// A "similar" query: one list per query item, from the item's owner.
struct pending_similar {
  std::string rid, corr;
  similar_query q;
  std::vector<std::string> lists; ///< per q.items: encode_item_list bytes
  std::uint32_t waiting = 0;
};

// A "recommend" forwarded to the node that holds the newest model.
struct remote_recommend {
  std::string rid, corr; // the client
  clock_type::time_point deadline;
  std::string node;
};

struct remote_similar {
  std::uint64_t query = 0;
  std::size_t index = 0;
  clock_type::time_point deadline;
  std::string node;
};

// A part waiting for its shard actor: either of a producer batch handled here
// (batch != 0) or forwarded by a peer (peer, corr: where the reply goes).
struct local_part {
  std::uint64_t batch = 0;
  std::string peer, corr;
  part_ptr part;
};

// One append request to a local shard actor, until it answers or its deadline
// passes (on_timer fails its parts then, and a later answer is ignored).
struct local_append {
  std::uint32_t shard = 0;
  std::shared_ptr<std::vector<local_part>> waiting;
  clock_type::time_point deadline;
};

struct gateway_state {
  std::shared_ptr<node_env> env;
  std::uint64_t next_id = 1;
  std::unordered_map<std::uint64_t, pending_batch> batches;
  std::unordered_map<std::uint64_t, remote_part> remote_parts;
  std::unordered_map<std::uint64_t, local_append> local_appends;
  std::unordered_map<std::uint64_t, pending_query> queries;
  std::unordered_map<std::uint64_t, pending_trend> trends;
  std::unordered_map<std::uint64_t, remote_query> remote_queries; // count and trend
  std::unordered_map<std::uint64_t, pending_similar> similars;
  std::unordered_map<std::uint64_t, remote_similar> remote_similars;
  std::unordered_map<std::uint64_t, remote_recommend> remote_recommends;
  std::unordered_map<std::string, clock_type::time_point> last_seen;
  clock_type::time_point next_heartbeat;
  // Local parts waiting for the next flush, by shard: batches that arrive together
  // reach each shard actor as one message.
  std::vector<std::vector<local_part>> local_pending;
  std::vector<std::uint32_t> dirty_shards;
  // Parts for other owners, sent at the same flush as one ZeroMQ message per owner:
  // ["append", corr, part frame, corr, part frame, ...].
  std::map<std::string, cluster::frames> remote_pending;
  bool flush_scheduled = false;
  wire::limits producer_limits, peer_limits;
  // on_batch's split by shard, reused: events per shard with their items' hashes,
  // and the shards that have any.
  struct shard_split {
    std::vector<event_view> events;
    std::vector<std::uint64_t> hashes;
  };
  std::vector<shard_split> split;
  std::vector<std::uint32_t> split_shards;
  caf::actor als_coord; // the training run this node coordinates, if any
  std::string als_rid, als_corr; // its client (answered here if it crashes)
  static inline const char* name = "eddy.gateway";
};

using gateway_actor = caf::stateful_actor<gateway_state>;

constexpr auto local_timeout = std::chrono::seconds{10};
constexpr auto timer_period = std::chrono::milliseconds{100};

clock_type::duration peer_timeout(const node_env& env) {
  return std::chrono::milliseconds{env.cfg.membership.heartbeat_ms *
                                   env.cfg.membership.dead_after_misses};
}

bool alive(gateway_actor* self, const std::string& node) {
  auto& st = self->state;
  if (node == st.env->me)
    return true;
  auto it = st.last_seen.find(node);
  return it != st.last_seen.end() &&
         clock_type::now() - it->second < peer_timeout(*st.env);
}

// --- producer batches ---------------------------------------------------------

void finish_batch(gateway_actor* self, std::uint64_t id) {
  auto& st = self->state;
  auto it = st.batches.find(id);
  if (it == st.batches.end())
    return;
  auto& p = it->second;
  auto& env = *st.env;
  // Dead letters once per batch: not again when a resend turns out to be a
  // duplicate (its rejects were logged the first time).
  if (env.dead_letters && !p.rejects.empty() && !(p.any_dup && !p.any_new)) {
    for (std::size_t i = 0; i < p.rejects.size(); ++i) {
      auto& [index, reason] = p.rejects[i];
      auto detail = p.reject_details[i] + " (producer '" + p.producer + "', seq " +
                    std::to_string(p.seq) + ", event " + std::to_string(index) + ")";
      env.dead_letters->on_reject(reject_record{
        "producer:" + p.producer, 0, index, {},
        reason_of(reason).value_or(reject_reason::wrong_field_type), detail});
    }
    env.dead_letters->flush();
  }
  wire::ack a;
  a.producer = p.producer;
  a.seq = p.seq;
  a.stored = p.stored;
  a.rejects = std::move(p.rejects);
  a.message = std::move(p.message);
  if (p.any_unavailable)
    a.status = wire::ack_status::unavailable;
  else if (p.any_dup && !p.any_new)
    a.status = wire::ack_status::duplicate;
  else
    a.status = wire::ack_status::ok;
  std::string frame;
  wire::encode_ack(a, frame);
  env.io->send(env.ingest_socket, {std::move(p.rid), std::move(p.corr), std::move(frame)});
  env.io->release(env.ingest_socket);
  st.batches.erase(it);
}

void part_done(gateway_actor* self, std::uint64_t id, std::uint64_t stored, bool dup,
               bool unavailable, const std::string& why) {
  auto& st = self->state;
  auto it = st.batches.find(id);
  if (it == st.batches.end())
    return;
  auto& p = it->second;
  p.stored += stored;
  p.any_new = p.any_new || (!dup && !unavailable);
  p.any_dup = p.any_dup || dup;
  if (unavailable) {
    p.any_unavailable = true;
    if (!why.empty() && p.message.find(why) == std::string::npos)
      p.message += (p.message.empty() ? "" : "; ") + why;
  }
  if (--p.waiting == 0)
    finish_batch(self, id);
}

void schedule_flush(gateway_actor* self) {
  auto& st = self->state;
  if (!st.flush_scheduled) {
    // Runs after every message already in the mailbox: the batches queued now go
    // out together.
    st.flush_scheduled = true;
    self->send(self, flush_atom::value);
  }
}

void queue_local(gateway_actor* self, std::uint32_t shard, local_part lp) {
  auto& st = self->state;
  auto& pending = st.local_pending[shard];
  if (pending.empty())
    st.dirty_shards.push_back(shard);
  pending.push_back(std::move(lp));
  schedule_flush(self);
}

void reply_to_peer(gateway_actor* self, const std::string& peer, const std::string& corr,
                   wire::ack a) {
  auto& e = *self->state.env;
  std::string frame;
  wire::encode_ack(a, frame);
  e.io->send(e.peer_socket, {peer, "appended", corr, std::move(frame)});
}

// A local part is done: stored >= 0 events, -1 = duplicate, or failed with `err`.
void complete_local(gateway_actor* self, const local_part& lp, std::int64_t r,
                    const std::string& err) {
  if (lp.batch != 0) {
    part_done(self, lp.batch, r < 0 ? 0 : static_cast<std::uint64_t>(r), r == -1,
              !err.empty(), err);
    return;
  }
  wire::ack a;
  if (!err.empty()) {
    a.status = wire::ack_status::unavailable;
    a.message = err;
  } else {
    a.status = r == -1 ? wire::ack_status::duplicate : wire::ack_status::ok;
    a.stored = r < 0 ? 0 : static_cast<std::uint64_t>(r);
  }
  reply_to_peer(self, lp.peer, lp.corr, std::move(a));
}

void refuse(gateway_actor* self, const std::string& rid, const std::string& corr,
            const std::string& why) {
  auto& env = *self->state.env;
  wire::ack a;
  a.status = wire::ack_status::refused;
  a.message = why;
  std::string frame;
  wire::encode_ack(a, frame);
  env.io->send(env.ingest_socket, {rid, corr, std::move(frame)});
  env.io->release(env.ingest_socket);
}

void on_batch(gateway_actor* self, std::string rid, std::string corr, std::string bytes) {
  auto& st = self->state;
  auto& env = *st.env;
  // The parts' events point into the frame: it lives until the last part is done.
  auto frame = std::make_shared<const std::string>(std::move(bytes));
  auto b = wire::decode_batch_view(*frame, st.producer_limits, env.registry);
  if (!b) {
    refuse(self, rid, corr, b.err().message);
    return;
  }
  auto id = st.next_id++;
  auto& p = st.batches[id];
  p.rid = std::move(rid);
  p.corr = std::move(corr);
  p.producer = b->producer;
  p.seq = b->seq;
  for (auto& r : b->rejects) {
    p.rejects.emplace_back(r.index, r.reason);
    p.reject_details.push_back(r.detail);
  }
  // Split by shard: items are disjoint across shards, so each owner gets its part.
  auto& split = st.split;
  split.resize(env.cfg.shards);
  st.split_shards.clear();
  for (auto& e : b->events) {
    const auto hash = models::item_hash(e.item);
    const auto shard = cluster::shard_of_hash(hash, env.cfg.shards);
    auto& s = split[shard];
    if (s.events.empty())
      st.split_shards.push_back(shard);
    s.events.push_back(e);
    s.hashes.push_back(hash);
  }
  // Shards in ascending order, as before (the order parts reach owners in).
  std::sort(st.split_shards.begin(), st.split_shards.end());
  p.waiting = static_cast<std::uint32_t>(st.split_shards.size());
  if (st.split_shards.empty()) {
    finish_batch(self, id);
    return;
  }
  for (auto shard : st.split_shards) {
    auto& s = split[shard];
    auto part = std::make_shared<batch_part>(
      batch_part{frame, b->producer, b->seq, {s.events.begin(), s.events.end()},
                 {s.hashes.begin(), s.hashes.end()}});
    s.events.clear();
    s.hashes.clear();
    const auto& owner = env.owner[shard];
    if (owner == env.me) {
      queue_local(self, shard, local_part{id, {}, {}, std::move(part)});
    } else if (!alive(self, owner)) {
      part_done(self, id, 0, false, true, "node " + owner + " (owner of shard " +
                                            std::to_string(shard) + ") is down");
    } else {
      std::string out;
      wire::encode_batch(part->producer, part->seq, part->events, out);
      auto rc = st.next_id++;
      st.remote_parts[rc] = {id, clock_type::now() + peer_timeout(env), owner};
      auto& msg = st.remote_pending[owner];
      if (msg.empty())
        msg.emplace_back("append");
      msg.push_back(corr_bytes(rc));
      msg.push_back(std::move(out));
      schedule_flush(self);
    }
  }
}

void flush_local(gateway_actor* self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  for (auto shard : st.dirty_shards) {
    auto waiting = std::make_shared<std::vector<local_part>>(std::move(st.local_pending[shard]));
    st.local_pending[shard].clear();
    auto parts = std::make_shared<std::vector<part_ptr>>();
    parts->reserve(waiting->size());
    for (auto& lp : *waiting)
      parts->push_back(lp.part);
    // No CAF request timeout: each one is a round trip through the clock thread
    // (set and cancel, a condition variable wakeup each), tens of thousands per
    // second when ingest runs flat out. on_timer enforces local_timeout instead.
    const auto id = st.next_id++;
    st.local_appends[id] = {shard, waiting, clock_type::now() + local_timeout};
    self->request(st.env->shards[shard], caf::infinite, append_atom::value, parts_ptr{parts})
      .then(
        [=](const std::vector<std::int64_t>& results) {
          if (self->state.local_appends.erase(id) == 0) return; // failed by on_timer
          for (std::size_t i = 0; i < waiting->size(); ++i) {
            if (i < results.size())
              complete_local(self, (*waiting)[i], results[i], {});
            else
              complete_local(self, (*waiting)[i], 0, "shard gave no result");
          }
        },
        [=](caf::error& err) {
          if (self->state.local_appends.erase(id) == 0) return;
          auto why = "shard " + std::to_string(shard) + ": " + to_string(err);
          for (auto& lp : *waiting)
            complete_local(self, lp, 0, why);
        });
  }
  st.dirty_shards.clear();
  for (auto& [owner, msg] : st.remote_pending)
    st.env->io->send(st.env->dealer_of.at(owner), std::move(msg));
  st.remote_pending.clear();
}

// --- count queries ------------------------------------------------------------

std::string encode_node_counts(const node_counts& c) {
  std::string s = std::to_string(c.item_count);
  for (auto& [shard, n] : c.shards)
    s.append("\n").append(std::to_string(shard)).append(" ").append(std::to_string(n));
  return s;
}

node_counts decode_node_counts(const std::string& s) {
  node_counts c;
  std::size_t pos = 0;
  bool first = true;
  while (pos <= s.size()) {
    auto nl = s.find('\n', pos);
    auto line = s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (first) {
      c.item_count = std::strtoull(line.c_str(), nullptr, 10);
      first = false;
    } else if (auto sp = line.find(' '); sp != std::string::npos) {
      c.shards[static_cast<std::uint32_t>(std::strtoul(line.c_str(), nullptr, 10))] =
        std::strtoull(line.c_str() + sp + 1, nullptr, 10);
    }
    if (nl == std::string::npos)
      break;
    pos = nl + 1;
  }
  return c;
}

std::string query_json(gateway_actor* self, const pending_query& q) {
  auto& env = *self->state.env;
  std::uint64_t total = 0, item_total = 0;
  std::vector<std::uint64_t> per_shard(env.cfg.shards, 0);
  for (auto& [node, c] : q.nodes) {
    item_total += c.item_count;
    for (auto& [shard, n] : c.shards) {
      total += n;
      if (shard < per_shard.size())
        per_shard[shard] += n;
    }
  }
  std::string j = "{\"queried_by\":";
  append_json_string(j, env.me);
  j += ",\"complete\":";
  j += q.unreachable.empty() ? "true" : "false";
  j += ",\"total_events\":" + std::to_string(total);
  if (!q.item.empty()) {
    j += ",\"item\":";
    append_json_string(j, q.item);
    j += ",\"item_count\":" + std::to_string(item_total);
  }
  j += ",\"nodes\":[";
  bool firstn = true;
  for (auto& n : env.cfg.nodes) {
    j += firstn ? "{" : ",{";
    firstn = false;
    j += "\"id\":";
    append_json_string(j, n.id);
    j += ",\"alive\":";
    j += alive(self, n.id) ? "true" : "false";
    std::uint32_t owned = 0;
    for (auto& o : env.owner)
      owned += o == n.id ? 1 : 0;
    j += ",\"shards_owned\":" + std::to_string(owned);
    auto it = q.nodes.find(n.id);
    j += ",\"answered\":";
    j += it != q.nodes.end() ? "true" : "false";
    std::uint64_t events = 0;
    if (it != q.nodes.end())
      for (auto& [shard, c] : it->second.shards)
        events += c;
    j += ",\"events\":" + std::to_string(events);
    if (!q.item.empty() && it != q.nodes.end())
      j += ",\"item_count\":" + std::to_string(it->second.item_count);
    j += "}";
  }
  j += "],\"shards\":[";
  for (std::size_t s = 0; s < per_shard.size(); ++s) {
    j += s ? "," : "";
    j += "{\"shard\":" + std::to_string(s) + ",\"owner\":";
    append_json_string(j, env.owner[s]);
    j += ",\"events\":" + std::to_string(per_shard[s]) + "}";
  }
  j += "]}";
  return j;
}

void finish_query(gateway_actor* self, std::uint64_t qid) {
  auto& st = self->state;
  auto it = st.queries.find(qid);
  if (it == st.queries.end() || it->second.waiting > 0)
    return;
  auto& q = it->second;
  auto& env = *st.env;
  if (q.from_peer) {
    env.io->send(env.peer_socket, {q.rid, "counted", q.corr,
                                   encode_node_counts(q.nodes[env.me])});
    env.io->release(env.peer_socket);
  } else {
    env.io->send(env.ingest_socket, {q.rid, q.corr, query_json(self, q)});
    env.io->release(env.ingest_socket);
  }
  st.queries.erase(it);
}

void start_query(gateway_actor* self, bool from_peer, std::string rid, std::string corr,
                 std::string item) {
  auto& st = self->state;
  auto& env = *st.env;
  auto qid = st.next_id++;
  auto& q = st.queries[qid];
  q.from_peer = from_peer;
  q.rid = std::move(rid);
  q.corr = std::move(corr);
  q.item = std::move(item);
  q.nodes[env.me]; // this node answers even if it owns no shard
  std::vector<std::pair<std::uint32_t, caf::actor>> local;
  for (std::uint32_t s = 0; s < env.shards.size(); ++s)
    if (env.shards[s])
      local.emplace_back(s, env.shards[s]);
  q.waiting = static_cast<std::uint32_t>(local.size());
  if (!from_peer) {
    for (auto& n : env.cfg.nodes) {
      if (n.id == env.me)
        continue;
      if (!alive(self, n.id)) {
        q.unreachable.push_back(n.id);
        continue;
      }
      auto rc = st.next_id++;
      st.remote_queries[rc] = {qid, clock_type::now() + peer_timeout(env), n.id};
      env.io->send(env.dealer_of.at(n.id), {"count", corr_bytes(rc), q.item});
      ++q.waiting;
    }
  }
  for (auto& [shard, actor] : local) {
    self->request(actor, local_timeout, count_atom::value, q.item)
      .then(
        [=, s = shard](std::uint64_t events, std::uint64_t item_count) {
          auto it = self->state.queries.find(qid);
          if (it == self->state.queries.end())
            return;
          auto& mine = it->second.nodes[self->state.env->me];
          mine.shards[s] = events;
          mine.item_count += item_count;
          --it->second.waiting;
          finish_query(self, qid);
        },
        [=](caf::error&) {
          auto it = self->state.queries.find(qid);
          if (it == self->state.queries.end())
            return;
          it->second.unreachable.push_back(self->state.env->me);
          --it->second.waiting;
          finish_query(self, qid);
        });
  }
  finish_query(self, qid);
}

// --- trending queries -----------------------------------------------------------

void run_trend(gateway_actor* self, std::uint64_t qid);

void finish_trend(gateway_actor* self, std::uint64_t qid) {
  auto& st = self->state;
  auto it = st.trends.find(qid);
  if (it == st.trends.end() || it->second.waiting > 0)
    return;
  auto& q = it->second;
  auto& env = *st.env;
  if (q.from_peer) {
    env.io->send(env.peer_socket, {q.rid, "trended", q.corr, encode_trend_answer(q.merged)});
    env.io->release(env.peer_socket);
  } else if (q.clock_phase) {
    // Every node's newest event time is in: ask again as of the newest.
    q.clock_phase = false;
    q.req.q.as_of_ms = q.merged.max_event_ms;
    run_trend(self, qid);
    return;
  } else {
    query_meta meta{env.me, q.unreachable, env.cfg.trending.params.bucket_ms,
                    env.cfg.trending.params.lateness_ms};
    env.io->send(env.ingest_socket,
                 {q.rid, q.corr, trend_answer_json(q.req, q.merged, meta, *env.registry)});
    env.io->release(env.ingest_socket);
  }
  st.trends.erase(it);
}

void trend_answered(gateway_actor* self, std::uint64_t qid, const trend_answer* a,
                    const std::string& unreachable) {
  auto it = self->state.trends.find(qid);
  if (it == self->state.trends.end())
    return;
  if (a)
    merge_trend_answer(it->second.merged, *a);
  else if (std::find(it->second.unreachable.begin(), it->second.unreachable.end(),
                     unreachable) == it->second.unreachable.end())
    it->second.unreachable.push_back(unreachable);
  --it->second.waiting;
  finish_trend(self, qid);
}

// Sends the query (or its clock phase) to every local trending actor and, for a
// client's query, to every live peer.
void run_trend(gateway_actor* self, std::uint64_t qid) {
  auto& st = self->state;
  auto& env = *st.env;
  auto& q = st.trends.at(qid);
  auto req = std::make_shared<trend_request>(q.req);
  if (q.clock_phase)
    req->what = trend_request::kind::clock;
  q.merged = empty_answer(*req);
  q.waiting = 0;
  if (!q.from_peer) {
    auto bytes = encode_trend_request(*req);
    for (auto& n : env.cfg.nodes) {
      if (n.id == env.me)
        continue;
      if (!alive(self, n.id)) {
        if (std::find(q.unreachable.begin(), q.unreachable.end(), n.id) == q.unreachable.end())
          q.unreachable.push_back(n.id);
        continue;
      }
      auto rc = st.next_id++;
      st.remote_queries[rc] = {qid, clock_type::now() + peer_timeout(env), n.id};
      env.io->send(env.dealer_of.at(n.id), {"trend", corr_bytes(rc), bytes});
      ++q.waiting;
    }
  }
  for (auto& actor : env.trending) {
    if (!actor)
      continue;
    ++q.waiting;
    self->request(actor, local_timeout, tquery_atom::value, trend_request_ptr{req})
      .then([=](const trend_answer_ptr& a) { trend_answered(self, qid, a.get(), {}); },
            [=](caf::error&) { trend_answered(self, qid, nullptr, self->state.env->me); });
  }
  finish_trend(self, qid);
}

void start_trend(gateway_actor* self, bool from_peer, std::string rid, std::string corr,
                 trend_request req) {
  auto& st = self->state;
  auto qid = st.next_id++;
  auto& q = st.trends[qid];
  q.from_peer = from_peer;
  q.rid = std::move(rid);
  q.corr = std::move(corr);
  q.clock_phase = !from_peer && req.what != trend_request::kind::stats &&
                  req.q.as_of_ms == models::no_time;
  q.req = std::move(req);
  run_trend(self, qid);
}

// --- ALS training and recommendations (actors/als_coordinator.hpp) -----------------

void reply_json(gateway_actor* self, const std::string& rid, const std::string& corr,
                std::string json) {
  auto& env = *self->state.env;
  env.io->send(env.ingest_socket, {rid, corr, std::move(json)});
  env.io->release(env.ingest_socket);
}

void start_training(gateway_actor* self, std::string rid, std::string corr,
                    const std::string& args) {
  auto& st = self->state;
  auto& env = *st.env;
  if (st.als_coord) {
    reply_json(self, rid, corr,
               als_error_json("a training run is already in progress on node " + env.me +
                              "; wait for it to finish"));
    return;
  }
  auto s = parse_train_args(args, *env.registry);
  if (!s) {
    reply_json(self, rid, corr, als_error_json(s.err().message));
    return;
  }
  coordinator_args a;
  a.env = st.env;
  a.gateway = caf::actor_cast<caf::actor>(self);
  a.local_worker = env.als_worker;
  st.als_rid = rid;
  st.als_corr = corr;
  a.rid = std::move(rid);
  a.corr = std::move(corr);
  a.settings = std::move(*s);
  for (auto& n : env.cfg.nodes)
    if (!alive(self, n.id))
      a.down.push_back(n.id);
  st.als_coord = spawn_als_coordinator(self->system(), std::move(a));
  self->monitor(st.als_coord); // the client's credit is released by the coordinator
}

void recommend_here(gateway_actor* self, std::string rid, std::string corr, std::string args) {
  self->request(self->state.env->model_server, local_timeout, recq_atom::value, std::move(args))
    .then([=](std::string& json) { reply_json(self, rid, corr, std::move(json)); },
          [=](caf::error& err) {
            reply_json(self, rid, corr, als_error_json("the model server failed: " + to_string(err)));
          });
}

// The model lives on the node that trained it: every node forwards to the node
// that trained the model of its similar-items lists (the newest), so any node
// answers from the newest model.
void start_recommend(gateway_actor* self, std::string rid, std::string corr, std::string args) {
  self->request(self->state.env->model_server, local_timeout, mnode_atom::value)
    .then(
      [=](std::string& node) mutable {
        auto& st = self->state;
        auto& env = *st.env;
        if (node.empty() || node == env.me || !env.dealer_of.count(node)) {
          recommend_here(self, std::move(rid), std::move(corr), std::move(args));
        } else if (!alive(self, node)) {
          reply_json(self, rid, corr,
                     als_error_json("the newest model is on node " + node +
                                    ", which is not reachable; ask again when it is up "
                                    "(scripts/cluster.sh status)"));
        } else {
          auto rc = st.next_id++;
          // That node may first load its model from disk (local_timeout there).
          st.remote_recommends[rc] = {rid, corr,
                                      clock_type::now() + local_timeout + peer_timeout(env),
                                      node};
          env.io->send(env.dealer_of.at(node), {"rec", corr_bytes(rc), std::move(args)});
        }
      },
      [=](caf::error&) mutable { recommend_here(self, std::move(rid), std::move(corr), std::move(args)); });
}

// A peer forwards a client's "recommend" to this node's model.
void on_recommend_request(gateway_actor* self, std::string peer, std::string corr,
                          std::string args) {
  auto answer = [=](std::string json) {
    auto& e = *self->state.env;
    e.io->send(e.peer_socket, {peer, "recr", corr, std::move(json)});
  };
  self->request(self->state.env->model_server, local_timeout, recq_atom::value, std::move(args))
    .then([=](std::string& json) { answer(std::move(json)); },
          [=](caf::error& err) {
            answer(als_error_json("the model server of node " + self->state.env->me +
                                  " failed: " + to_string(err)));
          });
}

// A peer's coordinator asks this node's ALS worker; the answer goes back as "alsr".
void on_als_request(gateway_actor* self, std::string peer, std::string corr, std::string bytes) {
  self->request(self->state.env->als_worker, caf::infinite, als_atom::value, std::move(bytes))
    .then(
      [=](std::string& reply) {
        auto& e = *self->state.env;
        e.io->send(e.peer_socket, {peer, "alsr", corr, std::move(reply)});
      },
      [=](caf::error& err) {
        auto& e = *self->state.env;
        e.io->send(e.peer_socket, {peer, "alsr", corr,
                                   als::encode_error(0, "node " + e.me + ": ALS worker: " +
                                                          to_string(err))});
      });
}

// "metrics": this node's gateway and transport gauges as one JSON object, for the
// HTTP API's /metrics (cluster/http_api.cpp adds the cluster totals of "count" and
// the trending state of "tstats").
void answer_metrics(gateway_actor* self, std::string rid, std::string corr) {
  auto& st = self->state;
  auto& env = *st.env;
  auto t = env.io->stats();
  std::uint32_t local_shards = 0;
  for (auto& s : env.shards)
    local_shards += s ? 1 : 0;
  std::string j = "{\"node\":";
  append_json_string(j, env.me);
  j += ",\"pending_batches\":" + std::to_string(st.batches.size()) +
       ",\"remote_parts\":" + std::to_string(st.remote_parts.size()) +
       ",\"pending_queries\":" + std::to_string(st.queries.size() + st.trends.size()) +
       ",\"remote_queries\":" + std::to_string(st.remote_queries.size()) +
       ",\"ingest_credit_limit\":" + std::to_string(env.cfg.limits.window_batches) +
       ",\"local_shards\":" + std::to_string(local_shards) + ",\"log_bytes\":" +
       std::to_string(env.log_bytes->load(std::memory_order_relaxed)) + ",\"dead_letters\":" +
       std::to_string(env.dead_letters ? env.dead_letters->written() : 0) +
       ",\"training\":" + (st.als_coord ? "true" : "false") +
       ",\"transport\":{\"received\":" + std::to_string(t.received) +
       ",\"sent\":" + std::to_string(t.sent) + ",\"unroutable\":" + std::to_string(t.unroutable) +
       ",\"gated\":" + std::to_string(t.gated) + "}}";
  reply_json(self, rid, corr, std::move(j));
}

// --- "You May Also Like" (actors/similar_table.hpp) ------------------------------

void similar_answered(gateway_actor* self, std::uint64_t qid, std::size_t index,
                      std::string list) {
  auto& st = self->state;
  auto it = st.similars.find(qid);
  if (it == st.similars.end() || index >= it->second.lists.size() ||
      !it->second.lists[index].empty())
    return;
  auto& q = it->second;
  q.lists[index] = std::move(list);
  if (--q.waiting > 0)
    return;
  reply_json(self, q.rid, q.corr, similar_json(q.q, q.lists));
  st.similars.erase(it);
}

// Each query item's list comes from its owner: this node's model server or a
// peer's ("sim" -> "simr").
void start_similar(gateway_actor* self, std::string rid, std::string corr,
                   const std::string& args) {
  auto& st = self->state;
  auto& env = *st.env;
  auto q = parse_similar_query(args);
  if (!q) {
    reply_json(self, rid, corr, als_error_json(q.err().message));
    return;
  }
  auto qid = st.next_id++;
  auto& p = st.similars[qid];
  p.rid = std::move(rid);
  p.corr = std::move(corr);
  p.q = std::move(*q);
  p.lists.resize(p.q.items.size());
  p.waiting = static_cast<std::uint32_t>(p.q.items.size());
  const auto items = p.q.items; // p may move as answers arrive
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& item = items[i];
    const auto shard = cluster::shard_of(item, env.cfg.shards);
    const auto& owner = env.owner[shard];
    if (owner == env.me) {
      self->request(env.model_server, local_timeout, simq_atom::value, item)
        .then([=](std::string& list) { similar_answered(self, qid, i, std::move(list)); },
              [=](caf::error& err) {
                similar_answered(self, qid, i,
                                 encode_item_error(item, "the model server of node " +
                                                           self->state.env->me +
                                                           " failed: " + to_string(err)));
              });
    } else if (!alive(self, owner)) {
      similar_answered(self, qid, i,
                       encode_item_error(item, "node " + owner + " (owner of item '" + item +
                                                 "') is not reachable"));
    } else {
      auto rc = st.next_id++;
      st.remote_similars[rc] = {qid, i, clock_type::now() + peer_timeout(env), owner};
      env.io->send(env.dealer_of.at(owner), {"sim", corr_bytes(rc), item});
    }
  }
}

// A peer asks for one item's list from this node's model server.
void on_similar_request(gateway_actor* self, std::string peer, std::string corr,
                        std::string item) {
  auto answer = [=](std::string list) {
    auto& e = *self->state.env;
    e.io->send(e.peer_socket, {peer, "simr", corr, std::move(list)});
  };
  self->request(self->state.env->model_server, local_timeout, simq_atom::value, item)
    .then([=](std::string& list) { answer(std::move(list)); },
          [=](caf::error& err) {
            answer(encode_item_error(item, "the model server of node " + self->state.env->me +
                                             " failed: " + to_string(err)));
          });
}

// --- dispatch -------------------------------------------------------------------

void on_client(gateway_actor* self, cluster::frames& m) {
  auto& env = *self->state.env;
  // [routing id, correlation, batch frame] or [routing id, correlation, command, arg]
  if (m.size() == 3) {
    on_batch(self, std::move(m[0]), std::move(m[1]), std::move(m[2]));
  } else if (m.size() == 4 && m[2] == "count") {
    start_query(self, false, std::move(m[0]), std::move(m[1]), std::move(m[3]));
  } else if (m.size() == 4 && m[2] == "train") {
    start_training(self, std::move(m[0]), std::move(m[1]), m[3]);
  } else if (m.size() == 4 && m[2] == "metrics") {
    answer_metrics(self, std::move(m[0]), std::move(m[1]));
  } else if (m.size() == 4 && m[2] == "similar") {
    start_similar(self, std::move(m[0]), std::move(m[1]), m[3]);
  } else if (m.size() == 4 && m[2] == "recommend") {
    start_recommend(self, std::move(m[0]), std::move(m[1]), std::move(m[3]));
  } else if (m.size() == 4) {
    auto req = parse_trend_request(m[2], m[3], *env.registry);
    if (!req)
      refuse(self, m[0], m[1], req.err().message);
    else
      start_trend(self, false, std::move(m[0]), std::move(m[1]), std::move(*req));
  } else if (m.size() >= 2) {
    refuse(self, m[0], m.size() >= 3 ? m[1] : std::string{},
           "malformed request: send [correlation frame, batch frame] (schema/WIRE.md)");
  } else {
    env.io->release(env.ingest_socket);
  }
}

// One part forwarded by a peer that routed a producer batch to this node.
void on_peer_part(gateway_actor* self, const std::string& from, std::string corr,
                  std::string bytes) {
  auto& st = self->state;
  auto& env = *st.env;
  auto frame = std::make_shared<const std::string>(std::move(bytes));
  auto b = wire::decode_batch_view(*frame, st.peer_limits, nullptr);
  if (!b || b->events.empty() || !b->rejects.empty()) {
    wire::ack a;
    a.status = wire::ack_status::refused;
    a.message = b ? "malformed part" : b.err().message;
    reply_to_peer(self, from, corr, std::move(a));
    return;
  }
  auto shard = cluster::shard_of(b->events.front().item, env.cfg.shards);
  if (env.owner[shard] != env.me || !env.shards[shard]) {
    wire::ack a;
    a.status = wire::ack_status::unavailable;
    a.message = "node " + env.me + " does not own shard " + std::to_string(shard);
    reply_to_peer(self, from, corr, std::move(a));
    return;
  }
  std::vector<std::uint64_t> hashes;
  hashes.reserve(b->events.size());
  for (auto& e : b->events)
    hashes.push_back(models::item_hash(e.item));
  auto part = std::make_shared<batch_part>(
    batch_part{std::move(frame), b->producer, b->seq, std::move(b->events), std::move(hashes)});
  queue_local(self, shard, local_part{0, from, std::move(corr), std::move(part)});
}

void on_peer_request(gateway_actor* self, cluster::frames& m) {
  auto& st = self->state;
  auto& env = *st.env;
  // [peer node id, kind, correlation, payload] or, for "append", any number of
  // (correlation, part frame) pairs after the kind.
  if (m.size() < 4) {
    env.io->release(env.peer_socket);
    return;
  }
  st.last_seen[m[0]] = clock_type::now();
  const auto& kind = m[1];
  if (kind == "count" && m.size() == 4) {
    // Released when the answer goes out.
    start_query(self, true, std::move(m[0]), std::move(m[2]), std::move(m[3]));
    return;
  }
  if (kind == "trend" && m.size() == 4) {
    if (auto req = decode_trend_request(m[3])) {
      start_trend(self, true, std::move(m[0]), std::move(m[2]), std::move(*req));
      return; // released when the answer goes out
    }
  }
  if (kind == "als" && m.size() == 4)
    on_als_request(self, std::move(m[0]), std::move(m[2]), std::move(m[3]));
  if (kind == "sim" && m.size() == 4)
    on_similar_request(self, std::move(m[0]), std::move(m[2]), std::move(m[3]));
  if (kind == "rec" && m.size() == 4)
    on_recommend_request(self, std::move(m[0]), std::move(m[2]), std::move(m[3]));
  if (kind == "append")
    for (std::size_t i = 2; i + 1 < m.size(); i += 2)
      on_peer_part(self, m[0], std::move(m[i]), std::move(m[i + 1]));
  // The parts are queued (replies go out one by one as they are stored); the
  // message itself is done.
  env.io->release(env.peer_socket);
}

void on_peer_reply(gateway_actor* self, socket_id sock, cluster::frames& m) {
  auto& st = self->state;
  auto& env = *st.env;
  auto node = env.peer_of[sock];
  st.last_seen[node] = clock_type::now();
  // [kind, correlation, payload]
  if (m.size() == 3) {
    auto rc = corr_value(m[1]);
    if (rc && m[0] == "appended") {
      if (auto it = st.remote_parts.find(*rc); it != st.remote_parts.end()) {
        auto batch = it->second.batch;
        st.remote_parts.erase(it);
        auto a = wire::decode_ack(m[2], st.peer_limits);
        if (!a)
          part_done(self, batch, 0, false, true, "node " + node + ": " + a.err().message);
        else
          part_done(self, batch, a->stored, a->status == wire::ack_status::duplicate,
                    a->status == wire::ack_status::unavailable ||
                      a->status == wire::ack_status::refused,
                    a->message.empty() ? "" : "node " + node + ": " + a->message);
      }
    } else if (m[0] == "alsr") {
      if (st.als_coord)
        self->send(st.als_coord, alsreply_atom::value, node, std::move(m[1]), std::move(m[2]));
    } else if (rc && m[0] == "recr") {
      if (auto it = st.remote_recommends.find(*rc); it != st.remote_recommends.end()) {
        auto r = std::move(it->second);
        st.remote_recommends.erase(it);
        reply_json(self, r.rid, r.corr, std::move(m[2]));
      }
    } else if (rc && m[0] == "simr") {
      if (auto it = st.remote_similars.find(*rc); it != st.remote_similars.end()) {
        auto [qid, index, deadline, owner] = it->second;
        st.remote_similars.erase(it);
        similar_answered(self, qid, index, std::move(m[2]));
      }
    } else if (rc && m[0] == "trended") {
      if (auto it = st.remote_queries.find(*rc); it != st.remote_queries.end()) {
        auto qid = it->second.query;
        st.remote_queries.erase(it);
        auto a = decode_trend_answer(m[2]);
        trend_answered(self, qid, a ? &*a : nullptr, node);
      }
    } else if (rc && m[0] == "counted") {
      if (auto it = st.remote_queries.find(*rc); it != st.remote_queries.end()) {
        auto qid = it->second.query;
        st.remote_queries.erase(it);
        if (auto q = st.queries.find(qid); q != st.queries.end()) {
          q->second.nodes[node] = decode_node_counts(m[2]);
          --q->second.waiting;
          finish_query(self, qid);
        }
      }
    }
  }
  env.io->release(sock);
}

void on_timer(gateway_actor* self) {
  auto& st = self->state;
  auto& env = *st.env;
  auto now = clock_type::now();
  std::vector<std::pair<std::uint64_t, std::string>> expired;
  for (auto it = st.remote_parts.begin(); it != st.remote_parts.end();) {
    if (it->second.deadline <= now) {
      expired.emplace_back(it->second.batch, it->second.node);
      it = st.remote_parts.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [batch, node] : expired)
    part_done(self, batch, 0, false, true, "node " + node + " did not answer in time");
  std::vector<local_append> late_appends;
  for (auto it = st.local_appends.begin(); it != st.local_appends.end();) {
    if (it->second.deadline <= now) {
      late_appends.push_back(std::move(it->second));
      it = st.local_appends.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& la : late_appends) {
    auto why = "shard " + std::to_string(la.shard) + " did not answer within " +
               std::to_string(local_timeout.count()) +
               " s (its disk may be stalled); the batch may still be stored: resend it";
    for (auto& lp : *la.waiting)
      complete_local(self, lp, 0, why);
  }
  std::vector<std::uint64_t> done;
  std::vector<std::pair<std::uint64_t, std::string>> late_trends;
  for (auto it = st.remote_queries.begin(); it != st.remote_queries.end();) {
    if (it->second.deadline <= now) {
      if (auto q = st.queries.find(it->second.query); q != st.queries.end()) {
        q->second.unreachable.push_back(it->second.node);
        --q->second.waiting;
        done.push_back(it->second.query);
      } else if (st.trends.count(it->second.query)) {
        late_trends.emplace_back(it->second.query, it->second.node);
      }
      it = st.remote_queries.erase(it);
    } else {
      ++it;
    }
  }
  for (auto qid : done)
    finish_query(self, qid);
  for (auto it = st.remote_recommends.begin(); it != st.remote_recommends.end();) {
    if (it->second.deadline <= now) {
      reply_json(self, it->second.rid, it->second.corr,
                 als_error_json("node " + it->second.node +
                                " (which holds the newest model) did not answer in time"));
      it = st.remote_recommends.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<remote_similar> late_similars;
  for (auto it = st.remote_similars.begin(); it != st.remote_similars.end();) {
    if (it->second.deadline <= now) {
      late_similars.push_back(it->second);
      it = st.remote_similars.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& r : late_similars)
    if (auto q = st.similars.find(r.query); q != st.similars.end())
      similar_answered(self, r.query, r.index,
                       encode_item_error(q->second.q.items[r.index],
                                         "node " + r.node + " did not answer in time"));
  for (auto& [qid, node] : late_trends)
    trend_answered(self, qid, nullptr, node);
  if (st.als_coord)
    for (auto& n : env.cfg.nodes)
      if (!alive(self, n.id))
        self->send(st.als_coord, alsdown_atom::value, n.id);
  if (now >= st.next_heartbeat) {
    st.next_heartbeat = now + std::chrono::milliseconds{env.cfg.membership.heartbeat_ms};
    for (auto& [node, sock] : env.dealer_of)
      env.io->send(sock, {"hb", std::string{}, env.me});
  }
}

caf::behavior gateway(gateway_actor* self, std::shared_ptr<node_env> env) {
  auto& st = self->state;
  st.env = std::move(env);
  st.producer_limits.max_frame_bytes = st.env->cfg.limits.max_frame_bytes;
  st.producer_limits.max_events = st.env->cfg.limits.max_batch_events;
  st.peer_limits = st.producer_limits;
  st.next_heartbeat = clock_type::now();
  st.local_pending.resize(st.env->cfg.shards);
  self->send(self, timer_atom::value);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& s = self->state;
    if (dm.source != s.als_coord.address())
      return;
    s.als_coord = caf::actor{};
    // A coordinator answers its client before it quits; one that crashed could not.
    if (dm.reason != caf::exit_reason::normal)
      reply_json(self, s.als_rid, s.als_corr,
                 als_error_json("training failed: the coordinator on node " + s.env->me +
                                " stopped: " + to_string(dm.reason) + " (see its log)"));
  });
  return {
    [=](inbound_atom, inbound_ptr& in) {
      auto& e = *self->state.env;
      // An exception would kill the gateway (CAF 0.17): contain it, answer, go on.
      try {
        if (in->socket == e.ingest_socket)
          on_client(self, in->msg);
        else if (in->socket == e.peer_socket)
          on_peer_request(self, in->msg);
        else
          on_peer_reply(self, in->socket, in->msg);
      } catch (const std::exception& ex) {
        if (auto log = spdlog::get("node " + e.me))
          log->error("gateway: {} (message on socket {} dropped)", ex.what(), in->socket);
      }
    },
    [=](flush_atom) { flush_local(self); },
    [=](timer_atom) {
      on_timer(self);
      self->delayed_send(self, timer_period, timer_atom::value);
    },
  };
}

} // namespace

caf::actor spawn_gateway(caf::actor_system& sys, std::shared_ptr<node_env> env) {
  return sys.spawn(gateway, std::move(env));
}

} // namespace eddy::actors

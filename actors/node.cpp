#include "actors/node.hpp"

#include "actors/als_worker.hpp"
#include "actors/gateway.hpp"
#include "actors/shard_actor.hpp"
#include "actors/similar_table.hpp"
#include "actors/trending_actor.hpp"
#include "cluster/http_api.hpp"
#include "cluster/shard_map.hpp"
#include "models/item_key.hpp"
#include "schema/dead_letter.hpp"
#include "schema/interactions.hpp"

#include <caf/all.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <csignal>
#include <filesystem>
#include <unordered_map>
#include <pthread.h>

namespace eddy::actors {

namespace {

std::string endpoint(const std::string& host, std::uint16_t port) {
  return "tcp://" + host + ":" + std::to_string(port);
}

// One named logger per node process: every line says which node it is from
// (STYLE.md habit 10). Lines go to stderr; `scripts/cluster.sh` keeps them per node.
std::shared_ptr<spdlog::logger> node_logger(const std::string& id) {
  auto name = "node " + id;
  if (auto existing = spdlog::get(name))
    return existing;
  auto log = spdlog::stderr_logger_mt(name);
  log->set_pattern("%Y-%m-%dT%H:%M:%S.%e [%n] %l: %v");
  return log;
}

int fail(const std::string& node, const std::string& why) {
  node_logger(node)->error("{}", why);
  return 1;
}

} // namespace

int run_node(const cluster::cluster_config& cfg, const node_options& opt) {
  const auto* me = cfg.find(opt.node_id);
  if (me == nullptr) {
    std::string ids;
    for (auto& n : cfg.nodes)
      ids += (ids.empty() ? "" : ", ") + n.id;
    return fail(opt.node_id, "no node '" + opt.node_id + "' in " + cfg.origin +
                               " (its nodes: " + ids + ")");
  }
  // SIGINT/SIGTERM are taken by sigwait below; block them before any thread starts
  // so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto registry = interaction_registry::load(opt.interactions);
  if (!registry)
    return fail(me->id, registry.err().message);

  namespace fs = std::filesystem;
  auto dir = fs::path{cfg.data_dir} / me->id;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return fail(me->id, "cannot create data directory " + dir.string() + ": " + ec.message());
  auto dead_letters = dead_letter_writer::open((dir / "dead-letters.jsonl").string());
  if (!dead_letters)
    return fail(me->id, dead_letters.err().message);

  // Ownership: rendezvous over every configured node. A node that is down keeps
  // its shards (their parts are refused as "unavailable" and producers retry), so
  // no event is ever stored by two nodes: with one copy per shard, moving shards to
  // live nodes could not keep "nothing counted twice" (see the issue notes).
  std::vector<std::string> ids;
  for (auto& n : cfg.nodes)
    ids.push_back(n.id);
  cluster::shard_map map{cfg.shards, ids};
  auto env = std::make_shared<node_env>();
  env->cfg = cfg;
  env->me = me->id;
  env->registry = &*registry;
  env->dead_letters = dead_letters->get();
  env->owner.resize(cfg.shards);
  for (std::uint32_t s = 0; s < cfg.shards; ++s)
    env->owner[s] = map.owner(s);

  // Trending weights come from the registry: the weight of type id t, 0 for ids
  // no type has (such events are still stored, and count as 0 in trending).
  auto trend_params = cfg.trending.params;
  trend_params.type_weights.assign(256, 0.0);
  for (auto& t : registry->types())
    trend_params.type_weights[t.id] = t.weight;
  if (auto why = models::validate(trend_params); !why.empty())
    return fail(me->id, cfg.origin + ": trending." + why);

  // Replay every owned shard's log before serving.
  std::vector<std::shared_ptr<shard_data>> owned;
  std::uint64_t replayed = 0;
  std::vector<event_view> views; // reused by replay
  std::vector<std::uint64_t> hashes;
  for (auto s : map.shards_of(me->id)) {
    auto data = std::make_shared<shard_data>();
    data->shard = s;
    cluster::shard_log_options lo;
    char name[32];
    std::snprintf(name, sizeof name, "shard-%04u", s);
    lo.dir = (dir / name).string();
    lo.log = cfg.log;
    if (cfg.trending.enabled)
      data->trend = std::make_shared<models::trending_table>(trend_params);
    cluster::replay_stats rs;
    auto log = cluster::shard_log::open(
      lo,
      [&](const wire::batch& b) {
        views.assign(b.events.begin(), b.events.end());
        hashes.clear();
        for (auto& e : views)
          hashes.push_back(models::item_hash(e.item));
        data->count(views, hashes);
        if (data->trend)
          feed_trending(*data->trend, views, hashes);
      },
      &rs);
    if (!log)
      return fail(me->id, log.err().message);
    if (rs.truncated_bytes > 0)
      node_logger(me->id)->warn("shard {}: cut a torn tail of {} bytes (a write the "
                                "crash interrupted; it was never acked)",
                                s, rs.truncated_bytes);
    data->log = std::move(*log);
    replayed += data->events;
    owned.push_back(std::move(data));
  }

  cluster::io_thread io;
  cluster::socket_options so;
  so.send_hwm = static_cast<int>(cfg.limits.send_hwm);
  so.recv_hwm = static_cast<int>(cfg.limits.recv_hwm);
  // Frames up to max_frame_bytes are decoded; larger ones up to 4x get a "refused"
  // reply naming the limit; beyond that ZeroMQ drops the connection (a hard cap on
  // what one message can make the node buffer).
  so.max_msg_size = 4 * static_cast<std::int64_t>(cfg.limits.max_frame_bytes);
  auto ingest = io.bind_router(endpoint(me->host, me->ingest_port), so);
  if (!ingest)
    return fail(me->id, ingest.err().message);
  auto peer = io.bind_router(endpoint(me->host, me->peer_port), so);
  if (!peer)
    return fail(me->id, peer.err().message);
  env->io = &io;
  env->ingest_socket = *ingest;
  env->peer_socket = *peer;
  // Credits: at most window_batches producer requests inside the node at once;
  // beyond that ZeroMQ's queues fill and producers are slowed, never dropped.
  io.set_credit(*ingest, cfg.limits.window_batches);
  io.set_credit(*peer, cfg.limits.window_batches * static_cast<std::uint32_t>(cfg.nodes.size()));
  for (auto& n : cfg.nodes) {
    if (n.id == me->id)
      continue;
    cluster::socket_options po = so;
    po.routing_id = me->id;
    auto d = io.connect_dealer(endpoint(n.host, n.peer_port), po);
    if (!d)
      return fail(me->id, d.err().message);
    env->dealer_of[n.id] = *d;
    env->peer_of[*d] = n.id;
  }

  int status = 0;
  {
    caf::actor_system_config sys_cfg;
    // Shard actors block in fdatasync (group commit) for milliseconds at a time: more
    // scheduler threads than cores keep the gateway and the other shards running.
    sys_cfg.set("scheduler.max-threads", std::max(4u, 2 * std::thread::hardware_concurrency()));
    // CAF 0.17's work-stealing workers poll and, once idle, sleep up to 10 ms before
    // they look again: each actor hop of an ingest batch could wait that long. The
    // sharing policy wakes a worker through a condition variable instead.
    sys_cfg.set("scheduler.policy", caf::atom("sharing"));
    caf::actor_system sys{sys_cfg};
    env->shards.resize(cfg.shards);
    env->trending.resize(cfg.shards);
    auto group = std::make_shared<group_commit>();
    auto syncer = cfg.log.fsync == cluster::fsync_policy::group
                    ? spawn_log_syncer(sys, dir.string(),
                                       std::chrono::milliseconds{cfg.log.group_commit_ms}, group)
                    : caf::actor{};
    for (auto& d : owned) {
      env->log_bytes->fetch_add(d->log->bytes(), std::memory_order_relaxed);
      d->node_log_bytes = env->log_bytes;
      if (d->trend)
        env->trending[d->shard] = spawn_trending(sys, d->shard, std::move(d->trend));
      env->shards[d->shard] = spawn_shard(sys, d, cfg.log, env->trending[d->shard], group);
    }
    // Rows between workers go straight to the peer's worker (its gateway routes
    // "als"); nobody awaits the "alsr" answer (no coordinator knows its
    // correlation id): a row that cannot be placed fails the solve that needs it.
    auto send_peer = [env](const std::string& node, std::string bytes) {
      env->io->send(env->dealer_of.at(node), {"als", std::string(8, '\0'), std::move(bytes)});
    };
    env->als_worker =
      spawn_als_worker(sys, me->id, env->shards, (dir / "models").string(), send_peer);
    env->model_server = spawn_model_server(sys, me->id, (dir / "models").string());
    auto gw = spawn_gateway(sys, env);
    io.start(
      [gw](cluster::io_thread::socket_id sock, cluster::frames&& msg) {
        caf::anon_send(gw, inbound_atom::value,
                       std::make_shared<inbound>(inbound{sock, std::move(msg)}));
      },
      [&](cluster::io_thread::socket_id, cluster::frames&&) {
        // A producer or peer that went away before its reply: nothing to do.
      });
    // Order (CAF-ZMQ-NOTES.md): stop the I/O thread, then the actors.
    auto stop_all = [&] {
      io.stop();
      caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
      for (auto* actors : {&env->shards, &env->trending})
        for (auto& a : *actors)
          if (a)
            caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
      for (auto* a : {&env->als_worker, &env->model_server, &syncer})
        if (*a)
          caf::anon_send_exit(*a, caf::exit_reason::user_shutdown);
      env->shards.clear();
      env->trending.clear();
      env->als_worker = caf::actor{};
      env->model_server = caf::actor{};
      syncer = caf::actor{};
    };
    // The HTTP API (cluster/http_api.hpp): its own threads, asking this node over
    // the ingest endpoint like the CLI does; no CAF in them.
    std::unique_ptr<cluster::http_api> http;
    std::string http_url = "off";
    if (cfg.http.enabled && me->http_port != 0) {
      cluster::http_api_options ho;
      ho.node_id = me->id;
      ho.node_endpoint = endpoint(me->host == "0.0.0.0" ? "127.0.0.1" : me->host,
                                  me->ingest_port);
      ho.listen = cfg.http.listen;
      ho.port = me->http_port;
      ho.http = cfg.http;
      ho.max_frame_bytes = cfg.limits.max_frame_bytes;
      ho.registry = &*registry;
      ho.warn = [id = me->id](const std::string& m) { node_logger(id)->warn("{}", m); };
      ho.models_dir = (dir / "models").string();
      // "similar" queries about this node's own items, answered in the HTTP thread
      // from the table similar.current points to: the model server's answer
      // (encode_item_list + similar_json, as the gateway combines them) without
      // the round trip. Owners are fixed at start (a down node keeps its shards),
      // so env->owner is read-only here.
      auto current = std::make_shared<current_similar_table>(ho.models_dir);
      ho.local_similar = [env, current](std::string_view args)
        -> std::optional<cluster::http_api_options::similar_answer> {
        auto q = parse_similar_query(args);
        if (!q) return std::nullopt; // the gateway words the error
        for (auto& item : q->items)
          if (env->owner[cluster::shard_of(item, env->cfg.shards)] != env->me)
            return std::nullopt;
        auto t = current->get();
        if (!t || !*t) return std::nullopt; // the gateway words "no table (yet)"
        std::vector<std::string> lists;
        lists.reserve(q->items.size());
        for (auto& item : q->items)
          lists.push_back(encode_item_list(t->get(), item, env->me));
        return cluster::http_api_options::similar_answer{similar_json(*q, lists), table_id(**t)};
      };
      ho.similar_table = [current]() -> std::string {
        auto t = current->get();
        return t && *t ? table_id(**t) : std::string{};
      };
      // Another node's item: /v1/similar/{item} goes to its owner's HTTP server
      // when that server listens where this node can reach it (a wildcard
      // listen address, or the one the owner's host is).
      std::unordered_map<std::string, std::string> peer_urls;
      const auto& listen = cfg.http.listen;
      for (auto& n : cfg.nodes)
        if (n.id != me->id && n.http_port != 0 &&
            (listen == "0.0.0.0" || listen == "::" || listen == n.host))
          peer_urls[n.id] = "http://" + (n.host == "0.0.0.0" ? std::string{"127.0.0.1"} : n.host) +
                            ":" + std::to_string(n.http_port);
      ho.owner_http = [env, peer_urls](std::string_view item)
        -> std::optional<cluster::http_api_options::peer_http> {
        const auto& owner = env->owner[cluster::shard_of(item, env->cfg.shards)];
        auto it = peer_urls.find(owner);
        if (owner == env->me || it == peer_urls.end())
          return std::nullopt;
        return cluster::http_api_options::peer_http{owner, it->second};
      };
      auto h = cluster::http_api::start(ho);
      if (!h) {
        status = fail(me->id, cfg.origin + ": node " + me->id + ": " + h.err().message);
        stop_all();
        return status;
      }
      http = std::move(*h);
      http_url = http->url();
    }
    node_logger(me->id)->info("eddy node {} ready: ingest {}, peer {}, http {}, {} of {} "
                              "shards, {} events replayed, data {}",
                              me->id, io.endpoint(*ingest), io.endpoint(*peer), http_url,
                              owned.size(), cfg.shards, replayed, dir.string());
    int sig = 0;
    sigwait(&stop_signals, &sig);
    node_logger(me->id)->info("signal {}, stopping", sig);
    if (http)
      http->stop(); // requests in progress still get their answers
    stop_all();
  }
  std::string why;
  if (!(*dead_letters)->close(&why))
    status = fail(me->id, why);
  node_logger(me->id)->info("stopped");
  return status;
}

} // namespace eddy::actors

#include "cluster/http_api.hpp"

#include "cluster/client.hpp"
#include "schema/interactions.hpp"
#include "schema/wire.hpp"
#include "schema/writers.hpp"
#include "web/assets.hpp"

#include <httplib.h>
#include <simdjson.h>
#include <zmq.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>

namespace eddy::cluster {

namespace {

using clock_type = std::chrono::steady_clock;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string corr_bytes(std::uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

std::string error_json(std::string_view message) {
  std::string j = "{\"error\":";
  append_json_string(j, message);
  j += "}";
  return j;
}

void send_error(httplib::Response& res, int status, std::string_view message) {
  res.status = status;
  res.set_content(error_json(message), "application/json");
}

void send_json(httplib::Response& res, std::string body) {
  res.status = 200;
  res.set_content(std::move(body), "application/json");
}

// --- the node's answers, over ZeroMQ
// ------------------------------------------------

struct node_reply {
  enum class kind { answer, refused, unreachable } what = kind::unreachable;
  std::string
      body; ///< the reply frame (answer), or why not (refused, unreachable)
};

// DEALERs to the node's ingest endpoint, one per request in progress; a request
// borrows one and gives it back. A late reply to a request that timed out
// carries an old correlation id and is skipped by the next user of the socket.
class channel_pool {
 public:
  channel_pool(std::string endpoint, std::uint64_t max_frame)
      : endpoint_(std::move(endpoint)), max_frame_(max_frame) {}

  ~channel_pool() {
    std::lock_guard lock{mutex_};
    free_.clear(); // sockets close before the context
  }

  /// Sends `frames` after a fresh correlation id; waits up to `timeout` for the
  /// reply with that id.
  node_reply ask(const std::vector<std::string_view>& frames,
                 std::chrono::milliseconds timeout) {
    std::unique_ptr<channel> ch;
    {
      std::lock_guard lock{mutex_};
      if (!free_.empty()) {
        ch = std::move(free_.back());
        free_.pop_back();
      }
    }
    node_reply r;
    try {
      if (!ch) {
        ch = std::make_unique<channel>(ctx_);
        ch->sock.set(zmq::sockopt::linger, 0);
        ch->sock.set(zmq::sockopt::maxmsgsize,
                     static_cast<std::int64_t>(4 * max_frame_ + 4096));
        ch->sock.connect(endpoint_);
      }
      auto corr = corr_bytes(ch->next++);
      ch->sock.send(zmq::buffer(corr), zmq::send_flags::sndmore);
      for (std::size_t i = 0; i < frames.size(); ++i)
        ch->sock.send(zmq::buffer(frames[i].data(), frames[i].size()),
                      i + 1 < frames.size() ? zmq::send_flags::sndmore
                                            : zmq::send_flags::none);
      auto deadline = clock_type::now() + timeout;
      r.body = "no answer from node at " + endpoint_ + " within " +
               std::to_string(timeout.count()) + " ms";
      for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - clock_type::now());
        if (left.count() < 0) break;
        zmq::pollitem_t item{ch->sock.handle(), 0, ZMQ_POLLIN, 0};
        if (zmq::poll(&item, 1, left) == 0) break;
        std::vector<std::string> parts;
        zmq::message_t m;
        do {
          (void)ch->sock.recv(m, zmq::recv_flags::none);
          parts.push_back(m.to_string());
        } while (m.more());
        if (parts.size() != 2 || parts[0] != corr)
          continue; // the late reply to an earlier request
        r.what = node_reply::kind::answer;
        r.body = std::move(parts[1]);
        break;
      }
    } catch (const zmq::error_t& e) {
      r.what = node_reply::kind::unreachable;
      r.body = "cannot reach node at " + endpoint_ + ": " + e.what();
      ch.reset();
    }
    if (ch) {
      std::lock_guard lock{mutex_};
      free_.push_back(std::move(ch));
    }
    return r;
  }

  /// A query [command, args]: JSON, or a refusal (an ack frame) with its
  /// message.
  node_reply query(std::string_view command, std::string_view args,
                   std::chrono::milliseconds timeout) {
    auto r = ask({command, args}, timeout);
    if (r.what == node_reply::kind::answer && !r.body.empty() &&
        r.body[0] != '{') {
      auto a = wire::decode_ack(r.body, wire::limits{});
      r.what = node_reply::kind::refused;
      r.body = a ? a->message : "the node refused the query";
    }
    return r;
  }

 private:
  struct channel {
    explicit channel(zmq::context_t& ctx)
        : sock(ctx, zmq::socket_type::dealer) {}
    zmq::socket_t sock;
    std::uint64_t next = 1;
  };
  zmq::context_t ctx_{1};
  std::string endpoint_;
  std::uint64_t max_frame_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<channel>> free_;
};

// --- metrics kept by the HTTP server itself
// ---------------------------------------

constexpr std::array<double, 14> latency_buckets = {
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,  0.5,   1,     2.5,  5,     10};

// A latency histogram every HTTP thread adds to without a lock (relaxed
// atomics: a scrape may see a request in `count` a moment before its bucket).
struct histogram {
  std::array<std::atomic<std::uint64_t>, latency_buckets.size()>
      le{}; // per bucket; cumulative at render
  std::atomic<std::uint64_t> count{0};
  std::atomic<std::uint64_t> sum_ns{0};
  void add(double seconds) {
    for (std::size_t i = 0; i < latency_buckets.size(); ++i)
      if (seconds <= latency_buckets[i]) {
        le[i].fetch_add(1, std::memory_order_relaxed);
        break;
      }
    count.fetch_add(1, std::memory_order_relaxed);
    sum_ns.fetch_add(static_cast<std::uint64_t>(seconds * 1e9),
                     std::memory_order_relaxed);
  }
  void render(std::string& out, const std::string& name,
              const std::string& labels) const {
    std::uint64_t cum = 0;
    char buf[64];
    auto sep = labels.empty() ? "" : ",";
    for (std::size_t i = 0; i < latency_buckets.size(); ++i) {
      cum += le[i].load(std::memory_order_relaxed);
      std::snprintf(buf, sizeof buf, "%g", latency_buckets[i]);
      out += name + "_bucket{" + labels + sep + "le=\"" + buf + "\"} " +
             std::to_string(cum) + "\n";
    }
    auto n = std::max(cum, count.load(std::memory_order_relaxed));
    out += name + "_bucket{" + labels + sep + "le=\"+Inf\"} " +
           std::to_string(n) + "\n";
    std::snprintf(buf, sizeof buf, "%.6f",
                  static_cast<double>(sum_ns.load(std::memory_order_relaxed)) /
                      1e9);
    auto l = labels.empty() ? std::string{} : "{" + labels + "}";
    out += name + "_sum" + l + " " + buf + "\n";
    out += name + "_count" + l + " " + std::to_string(n) + "\n";
  }
};

// The routes /metrics counts requests of (a fixed set: counting takes no lock).
enum class route : std::uint8_t {
  healthz,
  metrics,
  cluster,
  trending,
  popular,
  series,
  recommend,
  similar_item,
  similar_list,
  model,
  events,
  pixel,
  static_file,
  rate_limited,
  unknown,
  too_large,
  count_ // the number of routes
};

constexpr std::array<std::string_view, static_cast<std::size_t>(route::count_)>
    route_names = {"/healthz",
                   "/metrics",
                   "/v1/cluster",
                   "/v1/trending",
                   "/v1/popular",
                   "/v1/items/{item}/series",
                   "/v1/recommend/{user}",
                   "/v1/similar/{item}",
                   "/v1/similar",
                   "/v1/model",
                   "/v1/events",
                   "/p.gif",
                   "static",
                   "rate_limited",
                   "unknown",
                   "too_large"};

struct route_stats {
  std::array<std::atomic<std::uint64_t>, 500> by_status{}; // HTTP 100..599
  histogram latency;
};

struct http_metrics {
  std::array<route_stats, static_cast<std::size_t>(route::count_)> routes;
  histogram ack_latency; // HTTP batches
  std::atomic<std::uint64_t> events_stored{0};
  std::atomic<std::uint64_t> rate_limited{0};
  // Similar-item requests forwarded to an item's owner, and forwards that
  // failed (then the owner is asked over ZeroMQ for a while).
  std::atomic<std::uint64_t> forwarded{0}, forward_failures{0};
  // Of those, requests answered again from the kept owner's answer.
  std::atomic<std::uint64_t> similar_cache_hits{0};
  // The newest model this server saw in a similar / recommend answer (-1: none
  // yet).
  std::atomic<std::int64_t> model_version{-1};
  std::atomic<double> recall_at_10{-1};
  std::mutex mutex;                             // guards rejects
  std::map<std::string, std::uint64_t> rejects; // by reason

  void count(route r, int status, double seconds) {
    auto& s = routes[static_cast<std::size_t>(r)];
    s.by_status[static_cast<std::size_t>(std::clamp(status, 100, 599) - 100)]
        .fetch_add(1, std::memory_order_relaxed);
    s.latency.add(seconds);
  }
  void saw_model(std::int64_t version, std::optional<double> recall) {
    model_version.store(version, std::memory_order_relaxed);
    if (recall) recall_at_10.store(*recall, std::memory_order_relaxed);
  }
};

// Per client address: a token bucket of `burst` requests refilled at `rate`/s.
class rate_limiter {
 public:
  rate_limiter(double rate, double burst) : rate_(rate), burst_(burst) {}
  bool enabled() const { return rate_ > 0; }
  bool allow(const std::string& client) {
    std::lock_guard lock{mutex_};
    auto now = clock_type::now();
    if (buckets_.size() > 100000) // forget idle clients (bounded memory)
      for (auto it = buckets_.begin(); it != buckets_.end();)
        it = now - it->second.at > std::chrono::seconds{60} ? buckets_.erase(it)
                                                            : ++it;
    auto [it, fresh] = buckets_.try_emplace(client, bucket{burst_, now});
    auto& b = it->second;
    if (!fresh) {
      b.tokens = std::min(
          burst_,
          b.tokens + rate_ * std::chrono::duration<double>(now - b.at).count());
      b.at = now;
    }
    if (b.tokens < 1.0) return false;
    b.tokens -= 1.0;
    return true;
  }

 private:
  struct bucket {
    double tokens;
    clock_type::time_point at;
  };
  double rate_, burst_;
  std::mutex mutex_;
  std::unordered_map<std::string, bucket> buckets_;
};

// One event of a POST or a pixel request, before encoding.
struct pending_event {
  std::string user, item;
  type_id type = 0;
  std::int64_t ts = 0;
  float value = 1.0f;
  std::uint32_t index = 0; // in the request
};

struct reject_entry {
  std::uint32_t index;
  std::string reason, detail;
};

struct ingest_result {
  int status = 200;  ///< HTTP status
  std::string error; ///< when status != 200
  std::uint64_t stored = 0;
  bool duplicate = false;
  std::vector<reject_entry> rejects; ///< the node's, by request index
};

// httplib 0.11 listens with a backlog of 5 (compiled into Debian's library): a
// burst of connections (64 from a load balancer or wrk) overflows it and the
// dropped SYNs come back a second later. Linux lets listen() be called again on
// a listening socket to raise it.
class server : public httplib::Server {
 public:
  void widen_backlog(int n) { ::listen(svr_sock_, n); }
};

// The path of a request target split on '/', each segment %XX-decoded once:
// "/v1/similar/a%2Fb?k=3" -> {"v1", "similar", "a/b"}. (httplib decodes the
// whole path before routing, which turns an id's %2F into a separator.) A '%'
// not followed by two hex digits stays as it is, as httplib leaves it.
std::vector<std::string> path_segments(std::string_view target) {
  target = target.substr(0, target.find('?'));
  if (!target.empty() && target.front() == '/') target.remove_prefix(1);
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < target.size(); ++i) {
    char c = target[i];
    if (c == '/') {
      out.emplace_back();
    } else if (c == '%' && i + 2 < target.size() && hex(target[i + 1]) >= 0 &&
               hex(target[i + 2]) >= 0) {
      out.back() +=
          static_cast<char>(hex(target[i + 1]) * 16 + hex(target[i + 2]));
      i += 2;
    } else {
      out.back() += c;
    }
  }
  return out;
}

} // namespace

std::string pixel_gif() {
  // GIF89a, 1x1, one transparent pixel.
  static const unsigned char gif[] = {
      0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80,
      0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04,
      0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01,
      0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};
  return std::string{reinterpret_cast<const char*>(gif), sizeof gif};
}

// Who answered (every response): a forwarding node checks that the server it
// reached is the owner it meant.
constexpr const char* node_header = "X-Eddy-Node";
// Set on a request forwarded to an item's owner: never forwarded again.
constexpr const char* forwarded_header = "X-Eddy-Forwarded-By";
// On /v1/similar answers a node made from its own table: that table's id.
constexpr const char* similar_table_header = "X-Eddy-Similar-Table";

struct http_api::impl {
  http_api_options opt;
  channel_pool pool;
  server svr;
  std::thread thread;
  std::string url;
  http_metrics metrics;
  rate_limiter limiter;
  std::string producer; // this server's producer id (dedupe key with seq)
  std::atomic<std::uint64_t> seq{1};
  std::chrono::milliseconds timeout;
  // (time, total events) of recent /v1/cluster answers: the ingest rate.
  std::mutex rate_mutex;
  std::deque<std::pair<clock_type::time_point, std::uint64_t>> totals;

  explicit impl(const http_api_options& o)
      : opt(o), pool(o.node_endpoint, o.max_frame_bytes),
        limiter(o.http.rate_limit_per_s,
                o.http.rate_limit_burst
                    ? double(o.http.rate_limit_burst)
                    : std::max(1.0, o.http.rate_limit_per_s)),
        timeout(o.http.timeout_ms) {
    producer = "http-" + o.node_id + "-" + std::to_string(::getpid()) + "-" +
               std::to_string(now_ms());
  }

  // Wraps a handler: its route for the metrics, timing.
  httplib::Server::Handler
  wrap(route r,
       std::function<void(const httplib::Request&, httplib::Response&)> f) {
    return [this, r, f = std::move(f)](const httplib::Request& req,
                                       httplib::Response& res) {
      auto t0 = clock_type::now();
      f(req, res);
      metrics.count(
          r, res.status,
          std::chrono::duration<double>(clock_type::now() - t0).count());
    };
  }

  // --- parameters ---

  // 400 naming the first parameter not in `allowed`.
  bool only_params(const httplib::Request& req, httplib::Response& res,
                   std::initializer_list<std::string_view> allowed,
                   std::string_view route) {
    for (auto& [key, value] : req.params) {
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end())
        continue;
      std::string list;
      for (auto a : allowed)
        list += (list.empty() ? "" : ", ") + std::string{a};
      send_error(res, 400,
                 "unknown parameter '" + key + "'; " + std::string{route} +
                     (list.empty() ? " takes none" : " takes " + list));
      return false;
    }
    return true;
  }

  // k in 1..10000 (default 10): the string to send, or a 400 naming k.
  std::optional<std::string> param_k(const httplib::Request& req,
                                     httplib::Response& res) {
    if (!req.has_param("k")) return std::string{"10"};
    auto v = req.get_param_value("k");
    std::uint64_t k = 0;
    bool ok = !v.empty() && v.size() <= 6 &&
              std::all_of(v.begin(), v.end(),
                          [](char c) { return c >= '0' && c <= '9'; });
    if (ok) k = std::stoull(v);
    if (!ok || k < 1 || k > 10000) {
      send_error(res, 400, "k: '" + v + "' is not a count in 1..10000");
      return std::nullopt;
    }
    return std::to_string(k);
  }

  // Appends "&type=..." (unless all) and "&as_of=..." the way the CLI does.
  void type_and_as_of(const httplib::Request& req, std::string& args) {
    if (req.has_param("type")) {
      auto t = req.get_param_value("type");
      if (t != "all") args += "&type=" + escape_arg(t);
    }
    if (req.has_param("as_of"))
      args += "&as_of=" + escape_arg(req.get_param_value("as_of"));
  }

  // --- answers ---

  // Sends the node's answer: JSON as it is; a refusal as 400 (the node names
  // the bad argument); an {"error"} answer as 404 when it is about something
  // unknown (an item, a user, a model), else 400; no answer as 503.
  void relay(httplib::Response& res, const node_reply& r) {
    switch (r.what) {
    case node_reply::kind::unreachable:
      send_error(res, 503,
                 "cluster unavailable: " + r.body + " (is node " + opt.node_id +
                     " running? see `eddy status`)");
      return;
    case node_reply::kind::refused:
      send_error(res, 400, r.body);
      return;
    case node_reply::kind::answer:
      break;
    }
    // One parser per HTTP thread: its buffers are allocated once, not per
    // request.
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(r.body).get(doc) != simdjson::SUCCESS) {
      send_error(res, 502,
                 "node " + opt.node_id + " sent something that is not JSON");
      return;
    }
    std::string_view why;
    if (doc["error"].get(why) == simdjson::SUCCESS) {
      bool missing = why.find("unknown") != std::string_view::npos ||
                     why.find("no model") != std::string_view::npos ||
                     why.find("not found") != std::string_view::npos ||
                     why.find("no similar") != std::string_view::npos ||
                     why.find("no table") != std::string_view::npos ||
                     why.find("is not in the") != std::string_view::npos ||
                     why.find("no trained") != std::string_view::npos;
      res.status = missing ? 404 : 400;
      res.set_content(r.body, "application/json");
      return;
    }
    std::int64_t version = 0;
    if (doc["model_version"].get(version) == simdjson::SUCCESS) {
      double recall = 0;
      metrics.saw_model(version,
                        doc["recall_at_10"].get(recall) == simdjson::SUCCESS
                            ? std::optional<double>{recall}
                            : std::nullopt);
    }
    send_json(res, r.body);
  }

  void query(httplib::Response& res, std::string_view command,
             const std::string& args) {
    relay(res, pool.query(command, args, timeout));
  }

  // --- ingest ---

  // One producer batch through the node's ingest endpoint, resent (same seq, so
  // the node drops copies) until acked or the timeout passes.
  ingest_result ingest(const std::vector<pending_event>& events) {
    ingest_result out;
    if (events.empty()) return out;
    std::vector<event_view> views;
    views.reserve(events.size());
    for (auto& e : events)
      views.emplace_back(e.user, e.item, e.type, e.ts, e.value);
    auto s = seq.fetch_add(1);
    std::string frame;
    wire::encode_batch(producer, s, views, frame);
    auto t0 = clock_type::now();
    auto deadline = t0 + timeout;
    std::uint32_t backoff_ms = 50;
    std::string last =
        "no answer within " + std::to_string(timeout.count()) + " ms";
    while (clock_type::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - clock_type::now());
      auto r = pool.ask({std::string_view{frame}},
                        std::max(left, std::chrono::milliseconds{1}));
      if (r.what != node_reply::kind::answer) {
        last = r.body;
        continue;
      }
      auto a = wire::decode_ack(r.body, wire::limits{});
      if (!a) {
        out.status = 502;
        out.error =
            "node " + opt.node_id + " sent a bad ack: " + a.err().message;
        return out;
      }
      if (a->status == wire::ack_status::unavailable) {
        last = a->message;
        std::this_thread::sleep_for(
            std::chrono::milliseconds{backoff_ms}); // retry backoff
        backoff_ms = std::min<std::uint32_t>(backoff_ms * 2, 1000);
        continue;
      }
      if (a->status == wire::ack_status::refused) {
        out.status = a->message.find("limit") != std::string::npos ||
                             a->message.find("too large") != std::string::npos
                         ? 413
                         : 400;
        out.error = "the node refused the events: " + a->message;
        return out;
      }
      out.stored = a->stored;
      out.duplicate = a->status == wire::ack_status::duplicate;
      for (auto& [index, reason] : a->rejects)
        out.rejects.push_back(
            {index < events.size() ? events[index].index : index, reason, {}});
      metrics.ack_latency.add(
          std::chrono::duration<double>(clock_type::now() - t0).count());
      metrics.events_stored += out.stored;
      std::lock_guard lock{metrics.mutex};
      for (auto& x : out.rejects)
        ++metrics.rejects[x.reason];
      return out;
    }
    out.status = 503;
    out.error =
        "cluster unavailable: the events were not acked within " +
        std::to_string(timeout.count()) + " ms (" + last +
        "); some may be stored: resending the same events can count them twice";
    return out;
  }

  // Reads one event (a JSON object or the pixel's parameters) into `e`; false
  // with (reason, detail) when it cannot be sent.
  bool resolve_type(std::string_view name, pending_event& e,
                    reject_entry& rej) {
    if (opt.registry == nullptr) {
      rej = {e.index, "unknown_type", "this node has no interaction registry"};
      return false;
    }
    if (auto id = opt.registry->resolve(name)) {
      e.type = *id;
      return true;
    }
    std::string names;
    for (auto& t : opt.registry->types())
      names += (names.empty() ? "" : ", ") + t.name;
    rej = {e.index, "unknown_type",
           "type '" + std::string{name} +
               "' is not in the interaction registry; use one of " + names +
               " or an alias (configs/interactions.toml)"};
    return false;
  }

  bool read_event(simdjson::dom::element el, pending_event& e,
                  reject_entry& rej) {
    simdjson::dom::object o;
    if (el.get(o) != simdjson::SUCCESS) {
      rej = {e.index, "wrong_field_type", "an event must be a JSON object"};
      return false;
    }
    auto str = [&](const char* key, std::string& out) {
      auto f = o[key];
      if (f.error() == simdjson::NO_SUCH_FIELD) {
        rej = {e.index, "missing_field", std::string{key} + " is missing"};
        return false;
      }
      std::string_view v;
      std::int64_t n = 0;
      if (f.get(v) == simdjson::SUCCESS) {
        out = std::string{v};
      } else if (f.get(n) == simdjson::SUCCESS) {
        out = std::to_string(n); // numeric ids, as in many shop exports
      } else {
        rej = {e.index, "wrong_field_type",
               std::string{key} + " must be a string"};
        return false;
      }
      if (out.empty()) {
        rej = {e.index, "empty_id", std::string{key} + " is empty"};
        return false;
      }
      return true;
    };
    if (!str("user", e.user) || !str("item", e.item)) return false;
    auto t = o["type"];
    std::string_view tname;
    std::int64_t tid = 0;
    if (t.error() == simdjson::NO_SUCH_FIELD) {
      rej = {e.index, "missing_field",
             "type is missing (view, cart, purchase, ...)"};
      return false;
    } else if (t.get(tname) == simdjson::SUCCESS) {
      if (!resolve_type(tname, e, rej)) return false;
    } else if (t.get(tid) == simdjson::SUCCESS) {
      if (tid < 1 || tid > 255 || opt.registry == nullptr ||
          !opt.registry->contains(static_cast<type_id>(tid))) {
        rej = {e.index, "unknown_type",
               "type id " + std::to_string(tid) +
                   " is not in the interaction registry"};
        return false;
      }
      e.type = static_cast<type_id>(tid);
    } else {
      rej = {e.index, "wrong_field_type",
             "type must be a name such as \"view\""};
      return false;
    }
    auto ts = o["ts"];
    if (ts.error() == simdjson::NO_SUCH_FIELD) {
      e.ts = now_ms();
    } else if (ts.get(e.ts) != simdjson::SUCCESS) {
      std::uint64_t u = 0;
      rej = {e.index,
             ts.get(u) == simdjson::SUCCESS ? "bad_timestamp"
                                            : "wrong_field_type",
             "ts must be an integer: ms since the Unix epoch, UTC"};
      return false;
    }
    auto val = o["value"];
    if (val.error() != simdjson::NO_SUCH_FIELD) {
      double d = 0;
      std::int64_t n = 0;
      if (val.get(d) == simdjson::SUCCESS)
        e.value = static_cast<float>(d);
      else if (val.get(n) == simdjson::SUCCESS)
        e.value = static_cast<float>(n);
      else {
        rej = {e.index, "bad_value", "value must be a number"};
        return false;
      }
      if (!std::isfinite(e.value)) {
        rej = {e.index, "bad_value", "value must be a finite number"};
        return false;
      }
    }
    return true;
  }

  void post_events(const httplib::Request& req, httplib::Response& res) {
    // No parameter check here: httplib reads a body sent as a form (curl -d)
    // into the parameters too; the body is parsed as JSON whatever its content
    // type.
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (auto err = parser.parse(req.body).get(doc); err != simdjson::SUCCESS) {
      send_error(
          res, 400,
          std::string{"the body is not JSON ("} + simdjson::error_message(err) +
              "); send {\"events\":[{\"user\":..,\"item\":..,\"type\":..,"
              "\"ts\":..}, ...]}");
      return;
    }
    simdjson::dom::array arr;
    if (doc["events"].get(arr) != simdjson::SUCCESS) {
      send_error(
          res, 400,
          "events: missing or not an array; send {\"events\":[{\"user\":..,"
          "\"item\":..,\"type\":..,\"ts\":..}, ...]}");
      return;
    }
    if (arr.size() > opt.http.max_events) {
      send_error(res, 413,
                 "events: " + std::to_string(arr.size()) +
                     " events in one request; at most http.max_events = " +
                     std::to_string(opt.http.max_events) +
                     " (split the batch)");
      return;
    }
    std::vector<pending_event> good;
    std::vector<reject_entry> rejects;
    std::uint32_t i = 0;
    for (auto el : arr) {
      pending_event e;
      e.index = i++;
      reject_entry rej;
      if (read_event(el, e, rej))
        good.push_back(std::move(e));
      else
        rejects.push_back(std::move(rej));
    }
    auto r = ingest(good);
    if (r.status != 200) {
      send_error(res, r.status, r.error);
      return;
    }
    {
      std::lock_guard lock{metrics.mutex};
      for (auto& x : rejects)
        ++metrics.rejects[x.reason];
    }
    rejects.insert(rejects.end(), r.rejects.begin(), r.rejects.end());
    std::sort(rejects.begin(), rejects.end(),
              [](auto& a, auto& b) { return a.index < b.index; });
    std::string j = "{\"received\":" + std::to_string(i) +
                    ",\"stored\":" + std::to_string(r.stored) +
                    ",\"duplicate\":" + (r.duplicate ? "true" : "false") +
                    ",\"rejects\":[";
    for (std::size_t k = 0; k < rejects.size(); ++k) {
      j += k ? ",{" : "{";
      j += "\"index\":" + std::to_string(rejects[k].index) + ",\"reason\":";
      append_json_string(j, rejects[k].reason);
      if (!rejects[k].detail.empty()) {
        j += ",\"detail\":";
        append_json_string(j, rejects[k].detail);
      }
      j += "}";
    }
    j += "]}";
    send_json(res, std::move(j));
  }

  void pixel(const httplib::Request& req, httplib::Response& res) {
    res.set_header("Cache-Control",
                   "no-store, no-cache, must-revalidate, max-age=0");
    res.set_header("Pragma", "no-cache");
    res.set_header("Expires", "0");
    if (!only_params(req, res, {"u", "i", "t", "ts", "v"}, "/p.gif")) return;
    pending_event e;
    e.user = req.get_param_value("u");
    e.item = req.get_param_value("i");
    if (e.user.empty() || e.item.empty()) {
      send_error(res, 400,
                 std::string{e.user.empty() ? "u" : "i"} +
                     ": missing; /p.gif needs u (visitor id) and i (item id)");
      return;
    }
    reject_entry rej;
    auto t =
        req.has_param("t") ? req.get_param_value("t") : std::string{"view"};
    if (!resolve_type(t, e, rej)) {
      send_error(res, 400, "t: " + rej.detail);
      return;
    }
    e.ts = now_ms();
    if (req.has_param("ts")) {
      auto v = req.get_param_value("ts");
      char* end = nullptr;
      errno = 0;
      auto ts = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || errno != 0) {
        send_error(res, 400,
                   "ts: '" + v +
                       "' is not an integer (ms since the Unix epoch)");
        return;
      }
      e.ts = ts;
    }
    if (req.has_param("v")) {
      auto v = req.get_param_value("v");
      char* end = nullptr;
      auto d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !std::isfinite(d)) {
        send_error(res, 400, "v: '" + v + "' is not a finite number");
        return;
      }
      e.value = static_cast<float>(d);
    }
    auto r = ingest({e});
    if (r.status != 200) {
      send_error(res, r.status, r.error);
      return;
    }
    if (!r.rejects.empty()) {
      send_error(res, 400,
                 "the node rejected the event: " + r.rejects.front().reason);
      return;
    }
    res.status = 200;
    res.set_content(pixel_gif(), "image/gif");
  }

  // --- cluster, health, metrics ---

  void cluster(const httplib::Request& req, httplib::Response& res) {
    if (!only_params(req, res, {}, "/v1/cluster")) return;
    auto r = pool.query("count", "", timeout);
    if (r.what != node_reply::kind::answer) {
      relay(res, r);
      return;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::uint64_t total = 0;
    if (parser.parse(r.body).get(doc) != simdjson::SUCCESS ||
        doc["total_events"].get(total) != simdjson::SUCCESS ||
        r.body.back() != '}') {
      send_error(res, 502,
                 "node " + opt.node_id + " sent an unexpected count answer");
      return;
    }
    // Ingest rate: events stored per second between the oldest answer of the
    // last minute and this one (null until two answers are at least 0.5 s
    // apart).
    auto now = clock_type::now();
    std::optional<double> rate;
    double window = 0;
    {
      std::lock_guard lock{rate_mutex};
      while (!totals.empty() &&
             now - totals.front().first > std::chrono::seconds{60})
        totals.pop_front();
      if (!totals.empty()) {
        window =
            std::chrono::duration<double>(now - totals.front().first).count();
        if (window >= 0.5 && total >= totals.front().second)
          rate = static_cast<double>(total - totals.front().second) / window;
      }
      if (totals.empty() ||
          now - totals.back().first > std::chrono::milliseconds{250})
        totals.emplace_back(now, total);
    }
    auto body = std::move(r.body);
    body.pop_back();
    char buf[96];
    if (rate)
      std::snprintf(buf, sizeof buf,
                    ",\"ingest_rate_per_s\":%.3f,\"rate_window_s\":%.3f}",
                    *rate, window);
    else
      std::snprintf(buf, sizeof buf,
                    ",\"ingest_rate_per_s\":null,\"rate_window_s\":%.3f}",
                    window);
    body += buf;
    send_json(res, std::move(body));
  }

  // Healthy = the node's gateway answers ("metrics" is local: no peer is asked,
  // so a dead peer does not make this node unhealthy; a refusal is an answer
  // too).
  void healthz(const httplib::Request&, httplib::Response& res) {
    auto r = pool.query("metrics", "",
                        std::min(timeout, std::chrono::milliseconds{2000}));
    if (r.what == node_reply::kind::unreachable) {
      send_error(res, 503,
                 "node " + opt.node_id + " does not answer: " + r.body);
      return;
    }
    std::string j = "{\"status\":\"ok\",\"node\":";
    append_json_string(j, opt.node_id);
    j += "}";
    send_json(res, std::move(j));
  }

  // The current similar-items table's answer for the cluster's most popular
  // item in it (decayed popularity, then the window's; items newer than the
  // model are not in the table), which names the model and its recall; records
  // them for /metrics. nullopt: none of those items is in a table. A guess for
  // nodes that do not know their models directory.
  std::optional<std::string> probe_similar_model() {
    simdjson::dom::parser parser, answer_parser;
    for (auto ranking : {"by=decayed", "by=window"}) {
      auto top = pool.query("popular", std::string{"k=20&"} + ranking, timeout);
      simdjson::dom::element doc;
      simdjson::dom::array items;
      if (top.what != node_reply::kind::answer ||
          parser.parse(top.body).get(doc) != simdjson::SUCCESS ||
          doc["items"].get(items) != simdjson::SUCCESS)
        continue;
      for (auto e : items) {
        std::string_view item;
        if (e["item"].get(item) != simdjson::SUCCESS) continue;
        auto sim =
            pool.query("similar", "item=" + escape_arg(item) + "&k=1", timeout);
        simdjson::dom::element answer;
        std::int64_t version = 0;
        double recall = 0;
        if (sim.what != node_reply::kind::answer ||
            answer_parser.parse(sim.body).get(answer) != simdjson::SUCCESS ||
            answer["model_version"].get(version) != simdjson::SUCCESS)
          continue;
        metrics.saw_model(version, answer["recall_at_10"].get(recall) ==
                                           simdjson::SUCCESS
                                       ? std::optional<double>{recall}
                                       : std::nullopt);
        return std::move(sim.body);
      }
    }
    return std::nullopt;
  }

  // A JSON file of the models directory, if it exists and is JSON.
  std::optional<std::string> read_json_file(const std::string& path) {
    std::ifstream f{path, std::ios::binary};
    if (!f) return std::nullopt;
    std::string text{std::istreambuf_iterator<char>{f}, {}};
    while (!text.empty() &&
           std::isspace(static_cast<unsigned char>(text.back())))
      text.pop_back();
    simdjson::dom::parser parser;
    simdjson::dom::object o;
    if (parser.parse(text).get(o) != simdjson::SUCCESS) return std::nullopt;
    return text;
  }

  // GET /v1/model: the current model (the one of the similar-items table):
  // its name, version and recall@10, the table's header (SIMILAR.json), the
  // training summary (MODEL.json) and its evaluation (EVAL.json, the document
  // of `eddy eval --json`) when this node trained it and has them.
  void model_info(const httplib::Request& req, httplib::Response& res) {
    if (!only_params(req, res, {}, "/v1/model")) return;
    std::optional<std::string> similar, training, evaluation;
    std::string model, trained_by, hint;
    std::optional<std::int64_t> version;
    std::optional<double> recall;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    auto read_header = [&](const std::string& json) {
      std::string_view m, t;
      std::int64_t v = 0;
      double r = 0;
      if (parser.parse(json).get(doc) != simdjson::SUCCESS) return;
      if (doc["model"].get(m) == simdjson::SUCCESS) model = std::string{m};
      if (doc["trained_by"].get(t) == simdjson::SUCCESS)
        trained_by = std::string{t};
      if (doc["version"].get(v) == simdjson::SUCCESS ||
          doc["model_version"].get(v) == simdjson::SUCCESS)
        version = v;
      if (doc["recall_at_10"].get(r) == simdjson::SUCCESS && r >= 0) recall = r;
    };
    std::error_code ec;
    auto current =
        opt.models_dir.empty()
            ? std::filesystem::path{}
            : std::filesystem::read_symlink(
                  std::filesystem::path{opt.models_dir} / "similar.current",
                  ec);
    if (!current.empty() && !ec) {
      auto dir = std::filesystem::path{opt.models_dir} / current;
      similar = read_json_file((dir / "SIMILAR.json").string());
      if (similar) read_header(*similar);
    } else if (auto answer = probe_similar_model()) {
      read_header(*answer); // no models directory here: ask the cluster
    }
    // model = "TRAINER/DIR": the training files are on the trainer only.
    auto slash = model.find('/');
    if (trained_by.empty() && slash != std::string::npos)
      trained_by = model.substr(0, slash);
    if (!model.empty() && slash != std::string::npos &&
        trained_by == opt.node_id && !opt.models_dir.empty()) {
      auto dir =
          std::filesystem::path{opt.models_dir} / model.substr(slash + 1);
      training = read_json_file((dir / "MODEL.json").string());
      evaluation = read_json_file((dir / "EVAL.json").string());
    }
    if (model.empty() && opt.models_dir.empty())
      hint = "model unknown: this node's HTTP server was not given its models "
             "directory, and none of the most popular items is in a "
             "similar-items table (if there is no model: run `eddy train "
             "--connect tcp://HOST:PORT`)";
    else if (model.empty())
      hint = "no model yet: run `eddy train --connect tcp://HOST:PORT` on the "
             "cluster";
    else if (!training && trained_by != opt.node_id)
      hint = "the training summary and evaluation are on node " + trained_by +
             " (it trained " + model + "): ask its /v1/model";
    else if (!evaluation)
      hint = "model " + model +
             " has no evaluation yet. `eddy eval INPUT... --schema MAPPING "
             "--json` scores ALS with these settings on a time split "
             "(precision, recall, MAP, NDCG@k against popularity); its output, "
             "saved as EVAL.json beside the model's MODEL.json on node " +
             trained_by + ", is shown here";
    auto str_or_null = [](std::string& j, const std::string& v) {
      if (v.empty())
        j += "null";
      else
        append_json_string(j, v);
    };
    std::string j = "{\"queried_by\":";
    append_json_string(j, opt.node_id);
    j += ",\"model\":";
    str_or_null(j, model);
    j += ",\"version\":" + (version ? std::to_string(*version) : "null");
    j += ",\"trained_by\":";
    str_or_null(j, trained_by);
    char buf[48] = "null";
    if (recall) std::snprintf(buf, sizeof buf, "%.17g", *recall);
    j += ",\"recall_at_10\":";
    j += buf;
    j += ",\"similar\":" + similar.value_or("null");
    j += ",\"training\":" + training.value_or("null");
    j += ",\"evaluation\":" + evaluation.value_or("null");
    j += ",\"hint\":";
    str_or_null(j, hint);
    j += "}";
    send_json(res, std::move(j));
  }

  void metrics_text(const httplib::Request&, httplib::Response& res) {
    std::string out;
    auto gauge = [&](const std::string& name, const std::string& help,
                     const char* type) {
      out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type +
             "\n";
    };
    // A metric of one unlabelled sample.
    auto single = [&](const std::string& name, const std::string& help,
                      const char* type, const std::string& value) {
      gauge(name, help, type);
      out += name + " " + value + "\n";
    };
    auto num = [](double v) {
      char b[48];
      std::snprintf(b, sizeof b, "%.17g", v);
      return std::string{b};
    };
    auto lbl = [](std::string_view v) { // a Prometheus label value
      std::string s;
      for (char c : v) {
        if (c == '\\' || c == '"') s += '\\';
        if (c == '\n') {
          s += "\\n";
          continue;
        }
        s += c;
      }
      return s;
    };
    bool up = false;
    simdjson::dom::parser parser;
    auto c = pool.query("count", "", timeout);
    simdjson::dom::element doc;
    if (c.what == node_reply::kind::answer &&
        parser.parse(c.body).get(doc) == simdjson::SUCCESS) {
      up = true;
      gauge("eddy_events_stored_total",
            "Events stored in the shard logs of the whole cluster", "counter");
      std::uint64_t total = 0;
      if (doc["total_events"].get(total) != simdjson::SUCCESS) total = 0;
      out += "eddy_events_stored_total " + std::to_string(total) + "\n";
      gauge("eddy_node_up",
            "1 if the node answers its peers (liveness as seen by this node)",
            "gauge");
      std::string events;
      simdjson::dom::array nodes;
      if (doc["nodes"].get(nodes) == simdjson::SUCCESS)
        for (auto n : nodes) {
          std::string_view id;
          bool alive = false;
          std::uint64_t ev = 0;
          if (n["id"].get(id) || n["alive"].get(alive) || n["events"].get(ev))
            continue; // not a node entry
          out += "eddy_node_up{node=\"" + lbl(id) + "\"} " +
                 (alive ? "1" : "0") + "\n";
          events += "eddy_node_events_stored{node=\"" + lbl(id) + "\"} " +
                    std::to_string(ev) + "\n";
        }
      gauge("eddy_node_events_stored",
            "Events stored in the shards a node owns", "gauge");
      out += events;
    }
    gauge("eddy_up", "1 if this node answered the count query", "gauge");
    out += std::string{"eddy_up "} + (up ? "1" : "0") + "\n";
    auto g = pool.query("metrics", "", timeout);
    simdjson::dom::parser parser2;
    if (g.what == node_reply::kind::answer &&
        parser2.parse(g.body).get(doc) == simdjson::SUCCESS) {
      auto u = [&](simdjson::dom::element e, const char* key) {
        std::uint64_t v = 0;
        return std::to_string(e[key].get(v) == simdjson::SUCCESS ? v : 0);
      };
      single("eddy_ingest_pending_batches",
             "Producer batches inside this node waiting for their owners' acks "
             "(queue depth)",
             "gauge", u(doc, "pending_batches"));
      single("eddy_ingest_remote_parts",
             "Batch parts sent to other owners, not yet acked", "gauge",
             u(doc, "remote_parts"));
      single("eddy_queries_in_progress",
             "Queries this node is gathering answers for", "gauge",
             u(doc, "pending_queries"));
      single(
          "eddy_ingest_credit_limit",
          "Producer requests a node takes in at once (limits.window_batches)",
          "gauge", u(doc, "ingest_credit_limit"));
      single("eddy_local_shards", "Shards this node owns", "gauge",
             u(doc, "local_shards"));
      single("eddy_log_bytes",
             "Bytes in the shard logs of this node (all segments of the shards "
             "it owns)",
             "gauge", u(doc, "log_bytes"));
      single("eddy_events_rejected_total",
             "Events this node's ingest rejected (dead letters written)",
             "counter", u(doc, "dead_letters"));
      simdjson::dom::element t;
      if (doc["transport"].get(t) == simdjson::SUCCESS) {
        gauge("eddy_transport_messages_total",
              "ZeroMQ messages of this node's I/O thread", "counter");
        for (auto k : {"received", "sent", "unroutable"})
          out += std::string{"eddy_transport_messages_total{kind=\""} + k +
                 "\"} " + u(t, k) + "\n";
        single(
            "eddy_transport_credit_stalls_total",
            "Times a socket stopped reading because its credits were used up",
            "counter", u(t, "gated"));
      }
    }
    auto ts = pool.query("tstats", "", timeout);
    simdjson::dom::parser parser3;
    if (ts.what == node_reply::kind::answer &&
        parser3.parse(ts.body).get(doc) == simdjson::SUCCESS) {
      auto u = [&](const char* key) {
        std::uint64_t v = 0;
        return std::to_string(doc[key].get(v) == simdjson::SUCCESS ? v : 0);
      };
      single("eddy_trending_state_bytes",
             "Bytes of trending state in the cluster", "gauge", u("bytes"));
      single("eddy_trending_items", "Items with trending state in the cluster",
             "gauge", u("items"));
      single("eddy_trending_series",
             "(item, type) series tracked in the cluster", "gauge",
             u("tracked_series"));
      gauge("eddy_trending_events_total",
            "Events seen by the trending actors, by outcome", "counter");
      out += "eddy_trending_events_total{outcome=\"accepted\"} " +
             u("accepted") + "\n";
      out += "eddy_trending_events_total{outcome=\"late\"} " + u("late") + "\n";
      out += "eddy_trending_events_total{outcome=\"unknown_type\"} " +
             u("rejected") + "\n";
    }
    probe_similar_model();
    gauge("eddy_http_requests_total",
          "HTTP requests answered by this node, by route and status",
          "counter");
    for (std::size_t r = 0; r < route_names.size(); ++r)
      for (std::size_t code = 0; code < 500; ++code)
        if (auto n = metrics.routes[r].by_status[code].load(
                std::memory_order_relaxed))
          out += "eddy_http_requests_total{route=\"" + lbl(route_names[r]) +
                 "\",code=\"" + std::to_string(code + 100) + "\"} " +
                 std::to_string(n) + "\n";
    gauge("eddy_http_request_duration_seconds", "HTTP request latency by route",
          "histogram");
    for (std::size_t r = 0; r < route_names.size(); ++r)
      if (metrics.routes[r].latency.count.load(std::memory_order_relaxed))
        metrics.routes[r].latency.render(
            out, "eddy_http_request_duration_seconds",
            "route=\"" + lbl(route_names[r]) + "\"");
    gauge(
        "eddy_http_ingest_ack_seconds",
        "Time from sending an HTTP batch (POST /v1/events, /p.gif) to its ack",
        "histogram");
    metrics.ack_latency.render(out, "eddy_http_ingest_ack_seconds", "");
    single("eddy_http_events_stored_total",
           "Events from HTTP stored by the cluster", "counter",
           std::to_string(metrics.events_stored.load()));
    gauge("eddy_http_events_rejected_total",
          "Events from HTTP rejected, by reason", "counter");
    {
      std::lock_guard lock{metrics.mutex};
      for (auto& [reason, n] : metrics.rejects)
        out += "eddy_http_events_rejected_total{reason=\"" + lbl(reason) +
               "\"} " + std::to_string(n) + "\n";
    }
    single("eddy_http_rate_limited_total", "Requests refused with 429",
           "counter", std::to_string(metrics.rate_limited.load()));
    single("eddy_http_forwarded_total",
           "/v1/similar/{item} requests answered by the item's owner's HTTP "
           "server",
           "counter", std::to_string(metrics.forwarded.load()));
    single("eddy_http_forward_failures_total",
           "Forwards to an owner's HTTP server that failed (that owner is then "
           "asked "
           "over ZeroMQ for 5 s)",
           "counter", std::to_string(metrics.forward_failures.load()));
    single("eddy_http_similar_cache_hits_total",
           "/v1/similar/{item} requests for another node's item answered with "
           "the owner's answer kept from the same similar table",
           "counter", std::to_string(metrics.similar_cache_hits.load()));
    if (auto v = metrics.model_version.load(); v >= 0) {
      single(
          "eddy_model_version",
          "Version of the model of the similar-items table (or of the newest "
          "similar / "
          "recommend answer this node served)",
          "gauge", std::to_string(v));
    }
    if (auto r = metrics.recall_at_10.load(); r >= 0) {
      single("eddy_model_recall_at_10",
             "Recall@10 of the similar-items table vs exact search", "gauge",
             num(r));
    }
    res.status = 200;
    res.set_content(std::move(out), "text/plain; version=0.0.4; charset=utf-8");
  }

  // --- the query routes ---

  void trending(const httplib::Request& q, httplib::Response& r) {
    if (!only_params(q, r, {"k", "type", "min_support", "as_of"},
                     "/v1/trending"))
      return;
    auto k = param_k(q, r);
    if (!k) return;
    auto args = "k=" + *k;
    if (q.has_param("min_support"))
      args += "&min_support=" + escape_arg(q.get_param_value("min_support"));
    type_and_as_of(q, args);
    query(r, "trending", args);
  }

  void popular(const httplib::Request& q, httplib::Response& r) {
    if (q.has_param("window")) {
      send_error(r, 400,
                 "window: the popularity window is the cluster's "
                 "trending.popularity_window_buckets (configs/CLUSTER.md); "
                 "choose the ranking with by=window or by=decayed");
      return;
    }
    if (!only_params(q, r, {"k", "type", "by", "as_of"}, "/v1/popular")) return;
    auto k = param_k(q, r);
    if (!k) return;
    auto by =
        q.has_param("by") ? q.get_param_value("by") : std::string{"window"};
    if (by != "window" && by != "decayed") {
      send_error(r, 400,
                 "by: '" + by +
                     "' is not a ranking; use window (counts over "
                     "the popularity window, "
                     "trending.popularity_window_buckets) "
                     "or decayed (exponentially decayed totals)");
      return;
    }
    auto args = "k=" + *k + "&by=" + by;
    type_and_as_of(q, args);
    query(r, "popular", args);
  }

  void series(const httplib::Request& q, httplib::Response& r,
              const std::string& item) {
    if (!only_params(q, r, {"type", "as_of"}, "/v1/items/{item}/series"))
      return;
    auto args = "item=" + escape_arg(item);
    type_and_as_of(q, args);
    auto a = pool.query("series", args, timeout);
    if (a.what == node_reply::kind::answer &&
        a.body.find("\"known\":false") != std::string::npos) {
      send_error(r, 404,
                 "item '" + item + "' has no events" +
                     (q.has_param("type")
                          ? " of type " + q.get_param_value("type")
                          : std::string{}) +
                     " in the kept horizon (trending.horizon_buckets)");
      return;
    }
    relay(r, a);
  }

  void recommend(const httplib::Request& q, httplib::Response& r,
                 const std::string& user) {
    if (!only_params(q, r, {"k", "include_seen"}, "/v1/recommend/{user}"))
      return;
    auto k = param_k(q, r);
    if (!k) return;
    auto seen = q.get_param_value("include_seen");
    if (q.has_param("include_seen") && seen != "true" && seen != "false") {
      send_error(r, 400, "include_seen: '" + seen + "' is not true or false");
      return;
    }
    query(r, "recommend",
          "user=" + escape_arg(user) + "&k=" + *k +
              (seen == "true" ? "&seen=1" : ""));
  }

  // A list of ids: each escaped, joined with commas (the node splits on ",").
  static std::string id_list(const std::string& csv) {
    std::string out;
    std::size_t pos = 0;
    while (pos <= csv.size()) {
      auto comma = csv.find(',', pos);
      auto id = csv.substr(pos, comma == std::string::npos ? std::string::npos
                                                           : comma - pos);
      if (!id.empty()) {
        if (!out.empty()) out += ',';
        out += escape_arg(id);
      }
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    return out;
  }

  // /v1/similar/{item} (item non-empty) and /v1/similar?items=A,B.
  void similar(const httplib::Request& q, httplib::Response& r,
               const std::string& item) {
    if (!only_params(q, r, {"k", "items", "exclude", "days"}, "/v1/similar"))
      return;
    auto k = param_k(q, r);
    if (!k) return;
    std::string args;
    if (!item.empty())
      args = "item=" + escape_arg(item);
    else if (q.has_param("items") &&
             !id_list(q.get_param_value("items")).empty())
      args = "items=" + id_list(q.get_param_value("items"));
    else {
      send_error(r, 400,
                 "items: which items? use /v1/similar/{item} or "
                 "/v1/similar?items=A,B,C");
      return;
    }
    args += "&k=" + *k;
    if (q.has_param("exclude"))
      args += "&exclude=" + id_list(q.get_param_value("exclude"));
    if (q.has_param("days")) {
      auto d = q.get_param_value("days");
      if (d.empty() || d.size() > 6 ||
          !std::all_of(d.begin(), d.end(),
                       [](char c) { return c >= '0' && c <= '9'; })) {
        send_error(r, 400, "days: '" + d + "' is not a whole number of days");
        return;
      }
      args += "&days=" + d;
    }
    // This node's own items: answered in this thread from the node's table
    // (the same bytes the gateway would send), without the round trip.
    if (opt.local_similar)
      if (auto answer = opt.local_similar(args)) {
        r.set_header(similar_table_header, answer->table);
        relay(r, node_reply{node_reply::kind::answer, std::move(answer->json)});
        return;
      }
    // Another node's item: its owner's HTTP server answers it the same way, or
    // its answer from the table this node has too, kept.
    if (!item.empty() && !q.has_header(forwarded_header)) {
      const std::string table = opt.http.similar_cache_entries > 0 && opt.similar_table
                                    ? opt.similar_table()
                                    : std::string{};
      if (auto hit = kept_answer(q.target, table)) {
        ++metrics.similar_cache_hits;
        relay(r, node_reply{node_reply::kind::answer, std::move(*hit)});
        return;
      }
      if (auto answer = forward_to_owner(q, item)) {
        if (answer->status == 200) {
          if (answer->table == table) keep_answer(q.target, table, answer->body);
          relay(r, node_reply{node_reply::kind::answer, std::move(answer->body)});
        } else { // the owner's error about the query, as it sent it
          r.status = answer->status;
          r.set_content(std::move(answer->body), "application/json");
        }
        return;
      }
    }
    auto a = pool.query("similar", args, timeout);
    if (a.what == node_reply::kind::refused &&
        a.body.find("unknown query") != std::string::npos) {
      send_error(r, 501,
                 "node " + opt.node_id +
                     " does not answer similar-item queries yet: " + a.body);
      return;
    }
    relay(r, a);
  }

  // --- forwarding to an item's owner ---

  // Peers whose HTTP server failed (refused, wrong node): not tried again for
  // a while, so a peer without a reachable server costs one attempt per period.
  std::mutex forward_mutex;
  std::unordered_map<std::string, clock_type::time_point> forward_failed;
  static constexpr auto forward_retry = std::chrono::seconds{5};

  // Keep-alive connections to each owner, shared by the HTTP threads and
  // reused last-in first-out: the few in use stay busy, so none sits idle long
  // enough for httplib 0.11's keep-alive wait (10 ms polls, then 1 ms sleeps)
  // to delay the owner's answer.
  std::unordered_map<std::string, std::vector<std::unique_ptr<httplib::Client>>>
      owner_clients; // guarded by forward_mutex

  // Owners' answers to /v1/similar/{item} requests (by request target), with
  // the id of the table they came from; an arbitrary one goes when full.
  struct kept {
    std::string table, body;
  };
  std::mutex kept_mutex;
  std::unordered_map<std::string, kept> kept_answers; // guarded by kept_mutex

  std::optional<std::string> kept_answer(const std::string& target, const std::string& table) {
    if (table.empty()) return std::nullopt;
    std::lock_guard lock{kept_mutex};
    auto it = kept_answers.find(target);
    if (it == kept_answers.end() || it->second.table != table) return std::nullopt;
    return it->second.body;
  }

  void keep_answer(const std::string& target, const std::string& table, const std::string& body) {
    if (table.empty()) return;
    std::lock_guard lock{kept_mutex};
    if (kept_answers.size() >= opt.http.similar_cache_entries && !kept_answers.count(target))
      kept_answers.erase(kept_answers.begin());
    kept_answers[target] = {table, body};
  }

  struct owner_answer {
    int status = 0;
    std::string body;
    std::string table; // the owner's similar_table_header
  };

  // GET the same target from the item's owner. The owner's status and JSON
  // (an answer, or an {"error"} about the query); nullopt when the owner's
  // server could not answer as that node: then the caller asks over ZeroMQ.
  std::optional<owner_answer> forward_to_owner(const httplib::Request& q,
                                               const std::string& item) {
    if (!opt.owner_http) return std::nullopt;
    auto owner = opt.owner_http(item);
    if (!owner) return std::nullopt;
    std::unique_ptr<httplib::Client> client;
    {
      std::lock_guard lock{forward_mutex};
      auto it = forward_failed.find(owner->url);
      if (it != forward_failed.end()) {
        if (clock_type::now() - it->second < forward_retry) return std::nullopt;
        forward_failed.erase(it);
      }
      auto& free = owner_clients[owner->url];
      if (!free.empty()) {
        client = std::move(free.back());
        free.pop_back();
      }
    }
    auto connect = [&] {
      auto c = std::make_unique<httplib::Client>(owner->url);
      c->set_keep_alive(true);
      c->set_tcp_nodelay(true);
      auto secs = timeout.count() / 1000, usecs = timeout.count() % 1000 * 1000;
      c->set_connection_timeout(secs, usecs);
      c->set_read_timeout(secs, usecs);
      c->set_write_timeout(secs, usecs);
      return c;
    };
    const bool reused = client != nullptr;
    if (!reused) client = connect();
    const httplib::Headers headers{{forwarded_header, opt.node_id}};
    const auto t0 = clock_type::now();
    auto res = client->Get(q.target, headers);
    // A kept connection the owner closed meanwhile (idle for its keep-alive
    // timeout, or at its request limit) fails at once: try a fresh one (not
    // after a wait: an owner that does not answer is not asked twice).
    if (!res && reused &&
        clock_type::now() - t0 < std::chrono::milliseconds{100}) {
      client = connect();
      res = client->Get(q.target, headers);
    }
    std::lock_guard lock{forward_mutex};
    if (!res || res->get_header_value(node_header) != owner->node_id) {
      forward_failed[owner->url] = clock_type::now();
      ++metrics.forward_failures;
      return std::nullopt;
    }
    owner_clients[owner->url].push_back(std::move(client));
    ++metrics.forwarded;
    // 200, or the owner's JSON error about the query (404 unknown item, 400);
    // anything else (429, 5xx) is asked again over ZeroMQ.
    if (res->status != 200 && res->status != 400 && res->status != 404)
      return std::nullopt;
    return owner_answer{res->status, std::move(res->body),
                        res->get_header_value(similar_table_header)};
  }

  // --- routing ---

  // GET and HEAD requests, routed on the decoded path segments without
  // httplib's std::regex router (one regex match per route per request was a
  // visible cost); true when a route took the request.
  bool dispatch_get(const httplib::Request& req, httplib::Response& res) {
    auto seg = path_segments(req.target);
    auto run = [&](route r, auto&& handler) {
      auto t0 = clock_type::now();
      handler();
      if (res.status == -1) res.status = 200;
      metrics.count(
          r, res.status,
          std::chrono::duration<double>(clock_type::now() - t0).count());
      return true;
    };
    auto is = [&](std::initializer_list<std::string_view> want) {
      return seg.size() == want.size() &&
             std::equal(want.begin(), want.end(), seg.begin(),
                        [](std::string_view w, const std::string& s) {
                          return w == "*" ? !s.empty() : w == s;
                        });
    };
    if (is({"v1", "similar", "*"}))
      return run(route::similar_item, [&] { similar(req, res, seg[2]); });
    if (is({"v1", "similar"}))
      return run(route::similar_list, [&] { similar(req, res, {}); });
    if (is({"v1", "trending"}))
      return run(route::trending, [&] { trending(req, res); });
    if (is({"v1", "popular"}))
      return run(route::popular, [&] { popular(req, res); });
    if (is({"v1", "items", "*", "series"}))
      return run(route::series, [&] { series(req, res, seg[2]); });
    if (is({"v1", "recommend", "*"}))
      return run(route::recommend, [&] { recommend(req, res, seg[2]); });
    if (is({"v1", "cluster"}))
      return run(route::cluster, [&] { cluster(req, res); });
    if (is({"v1", "model"}))
      return run(route::model, [&] { model_info(req, res); });
    if (is({"healthz"})) return run(route::healthz, [&] { healthz(req, res); });
    if (is({"metrics"}))
      return run(route::metrics, [&] { metrics_text(req, res); });
    if (is({"p.gif"})) return run(route::pixel, [&] { pixel(req, res); });
    // The dashboard and the other files of web/.
    for (auto& a : web::assets())
      if (req.path == a.path || (req.path == "/" && a.path == "/index.html"))
        return run(route::static_file, [&] {
          res.status = 200;
          res.set_header("Cache-Control", "no-cache");
          res.set_content(std::string{a.bytes}, std::string{a.content_type});
        });
    return false;
  }

  // Requests with a body (httplib reads it after the pre-routing handler).
  void routes() {
    svr.Post("/v1/events", wrap(route::events, [this](auto& q, auto& r) {
               post_events(q, r);
             }));
    svr.Post("/p.gif",
             wrap(route::pixel, [this](auto& q, auto& r) { pixel(q, r); }));
  }
};

http_api::http_api(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

http_api::~http_api() {
  stop();
}

void http_api::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->svr.stop();
  impl_->thread.join();
}

std::string http_api::url() const {
  return impl_->url;
}

expected<std::unique_ptr<http_api>>
http_api::start(const http_api_options& opt) {
  auto p = std::make_unique<impl>(opt);
  auto* raw = p.get();
  auto& s = p->svr;
  auto threads =
      static_cast<std::size_t>(std::max<std::uint32_t>(1, opt.http.threads));
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_payload_max_length(opt.http.max_body_bytes);
  // httplib gives each connection a thread for as long as it lives: close idle
  // keep-alive connections after 1 s and busy ones after 1000 requests, so more
  // clients than threads (browsers sending a pixel and idling) all get served.
  s.set_keep_alive_max_count(1000);
  s.set_keep_alive_timeout(1);
  s.set_tcp_nodelay(true);
  s.set_default_headers(
      {{"Access-Control-Allow-Origin", "*"}, {node_header, opt.node_id}});
  s.set_pre_routing_handler([raw](const httplib::Request& req,
                                  httplib::Response& res) {
    if (raw->limiter.enabled() && !raw->limiter.allow(req.remote_addr)) {
      ++raw->metrics.rate_limited;
      res.set_header("Retry-After", "1");
      send_error(
          res, 429,
          "rate limited: more than http.rate_limit_per_s requests per second "
          "from " +
              req.remote_addr + "; slow down and retry");
      raw->metrics.count(route::rate_limited, 429, 0);
      return httplib::Server::HandlerResponse::Handled;
    }
    if ((req.method == "GET" || req.method == "HEAD") &&
        raw->dispatch_get(req, res))
      return httplib::Server::HandlerResponse::Handled;
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Errors without a body (no route, body too large, bad request line) become
  // JSON.
  s.set_error_handler([raw](const httplib::Request& req,
                            httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string why;
    switch (res.status) {
    case 404:
      why = "no route " + req.method + " " + req.path +
            "; see /openapi.yaml for the endpoints";
      break;
    case 405:
      why = req.method + " is not allowed on " + req.path;
      break;
    case 413:
      why = "request body larger than http.max_body_bytes = " +
            std::to_string(raw->opt.http.max_body_bytes) + " bytes";
      break;
    default:
      why = "HTTP " + std::to_string(res.status);
    }
    res.set_content(error_json(why), "application/json");
    if (res.status == 404 || res.status == 413)
      raw->metrics.count(res.status == 404 ? route::unknown : route::too_large,
                         res.status, 0);
  });
  s.set_exception_handler([raw](const httplib::Request&, httplib::Response& res,
                                std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    if (raw->opt.warn) raw->opt.warn("http: " + what);
    send_error(res, 500, "internal error: " + what);
  });
  p->routes();
  int port = opt.port;
  if (port == 0) {
    port = s.bind_to_any_port(opt.listen);
    if (port <= 0)
      return error{"http: cannot bind " + opt.listen +
                   " (any port); check http.listen"};
  } else if (!s.bind_to_port(opt.listen, port)) {
    return error{
        "http: cannot bind " + opt.listen + ":" + std::to_string(port) + " (" +
        std::strerror(errno) +
        "); is another process using the port? change the node's http_port or "
        "http.listen (configs/CLUSTER.md)"};
  }
  s.widen_backlog(1024);
  p->url = "http://" + opt.listen + ":" + std::to_string(port);
  p->thread = std::thread{[raw] { raw->svr.listen_after_bind(); }};
  return std::unique_ptr<http_api>{new http_api(std::move(p))};
}

} // namespace eddy::cluster

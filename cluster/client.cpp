#include "cluster/client.hpp"

#include "schema/wire.hpp"

#include <algorithm>
#include <cstring>
#include <unistd.h>
#include <unordered_map>
#include <zmq.hpp>

namespace eddy::cluster {

namespace {

using clock_type = std::chrono::steady_clock;

std::string corr_bytes(std::uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

struct in_flight {
  std::string frame;
  std::uint64_t seq = 0;
  std::size_t events = 0;
  clock_type::time_point first_sent, resend_at;
  std::uint32_t attempts = 1;
  std::uint32_t backoff_ms = 100; // after an "unavailable" ack; doubles up to 5 s
};

} // namespace

struct producer_client::impl {
  zmq::context_t ctx{1};
  zmq::socket_t sock{ctx, zmq::socket_type::dealer};
  std::string endpoint;
  producer_options opt;
  producer_stats stats;
  std::uint64_t seq = 1;
  std::unordered_map<std::uint64_t, in_flight> pending; // by correlation = seq

  void send(std::uint64_t corr, const std::string& frame) {
    // Blocking send: the high-water mark slows us down, never drops.
    sock.send(zmq::buffer(corr_bytes(corr)), zmq::send_flags::sndmore);
    sock.send(zmq::buffer(frame), zmq::send_flags::none);
  }

  status handle(const std::string& corr_frame, const std::string& ack_frame) {
    if (corr_frame.size() != 8)
      return {};
    std::uint64_t corr;
    std::memcpy(&corr, corr_frame.data(), 8);
    auto it = pending.find(corr);
    if (it == pending.end())
      return {}; // an ack for a batch already acked (a resend raced its ack)
    auto a = wire::decode_ack(ack_frame, wire::limits{});
    if (!a)
      return error{"bad ack from " + endpoint + ": " + a.err().message};
    auto now = clock_type::now();
    auto& f = it->second;
    switch (a->status) {
      case wire::ack_status::unavailable:
        // Some owner could not store its part yet (a node is down or restarting):
        // resend later, backing off so that max_attempts spans a real outage
        // (about a minute with the defaults). Dedupe makes the parts already stored
        // harmless.
        f.backoff_ms = std::min<std::uint32_t>(f.backoff_ms * 2, 5000);
        f.resend_at = now + std::chrono::milliseconds{f.backoff_ms};
        if (stats.messages.size() < 5 && !a->message.empty())
          stats.messages.push_back("seq " + std::to_string(f.seq) + ": " + a->message);
        return {};
      case wire::ack_status::refused:
        ++stats.refused_batches;
        if (stats.messages.size() < 5)
          stats.messages.push_back("seq " + std::to_string(f.seq) + " refused: " + a->message);
        break;
      case wire::ack_status::duplicate:
        ++stats.duplicate_batches;
        [[fallthrough]];
      case wire::ack_status::ok:
        ++stats.batches;
        stats.events_sent += f.events;
        stats.stored += a->stored;
        for (auto& [index, reason] : a->rejects)
          ++stats.rejects[reason];
        stats.ack_ms.push_back(
          std::chrono::duration<double, std::milli>(now - f.first_sent).count());
        break;
    }
    pending.erase(it);
    return {};
  }

  // Waits up to `wait` for replies; resends what is due. Errors when a batch is
  // given up.
  status pump(std::chrono::milliseconds wait) {
    zmq::pollitem_t item{sock.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, wait);
    while (true) {
      std::vector<zmq::message_t> parts;
      zmq::message_t m;
      auto r = sock.recv(m, zmq::recv_flags::dontwait);
      if (!r)
        break;
      parts.push_back(std::move(m));
      while (parts.back().more()) {
        zmq::message_t more;
        (void)sock.recv(more, zmq::recv_flags::none);
        parts.push_back(std::move(more));
      }
      if (parts.size() == 2)
        if (auto st = handle(parts[0].to_string(), parts[1].to_string()); !st)
          return st;
    }
    auto now = clock_type::now();
    for (auto& [corr, f] : pending) {
      if (f.resend_at > now)
        continue;
      if (f.attempts >= opt.max_attempts)
        return error{"no ack from " + endpoint + " for batch seq " + std::to_string(f.seq) +
                     " after " + std::to_string(f.attempts) +
                     " attempts (is the cluster running? see `eddy status`)"};
      ++f.attempts;
      ++stats.resends;
      f.resend_at = now + std::chrono::milliseconds{opt.timeout_ms};
      send(corr, f.frame);
    }
    return {};
  }
};

producer_client::producer_client(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
producer_client::~producer_client() = default;

expected<std::unique_ptr<producer_client>>
producer_client::connect(const std::string& endpoint, const producer_options& opt) {
  auto p = std::make_unique<impl>();
  p->endpoint = endpoint;
  p->opt = opt;
  p->seq = opt.first_seq;
  if (p->opt.producer.empty()) {
    char host[128] = "host";
    ::gethostname(host, sizeof host - 1);
    p->opt.producer = std::string{host} + "-" + std::to_string(::getpid());
  }
  try {
    p->sock.set(zmq::sockopt::linger, 0);
    p->sock.set(zmq::sockopt::sndhwm, 1000);
    p->sock.connect(endpoint);
  } catch (const zmq::error_t& e) {
    return error{"cannot connect to " + endpoint + ": " + e.what() +
                 " (expected e.g. tcp://127.0.0.1:5551)"};
  }
  return std::unique_ptr<producer_client>{new producer_client(std::move(p))};
}

status producer_client::submit(std::span<const event_view> events) {
  auto& p = *impl_;
  while (p.pending.size() >= p.opt.window)
    if (auto st = p.pump(std::chrono::milliseconds{50}); !st)
      return st;
  in_flight f;
  f.seq = p.seq++;
  f.events = events.size();
  wire::encode_batch(p.opt.producer, f.seq, events, f.frame);
  f.first_sent = clock_type::now();
  f.resend_at = f.first_sent + std::chrono::milliseconds{p.opt.timeout_ms};
  p.send(f.seq, f.frame);
  p.pending.emplace(f.seq, std::move(f));
  return p.pump(std::chrono::milliseconds{0});
}

status producer_client::drain() {
  auto& p = *impl_;
  while (!p.pending.empty())
    if (auto st = p.pump(std::chrono::milliseconds{50}); !st)
      return st;
  return {};
}

const producer_stats& producer_client::stats() const { return impl_->stats; }
std::uint64_t producer_client::next_seq() const { return impl_->seq; }

std::string escape_arg(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (c == '%' || c == '&' || c == '=' || c == ',' || c < 0x20 || c >= 0x7f) {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

expected<std::string> query_node(const std::string& endpoint, const std::string& command,
                                 const std::string& argument,
                                 std::chrono::milliseconds timeout) {
  try {
    zmq::context_t ctx{1};
    zmq::socket_t s{ctx, zmq::socket_type::dealer};
    s.set(zmq::sockopt::linger, 0);
    s.connect(endpoint);
    s.send(zmq::buffer(corr_bytes(1)), zmq::send_flags::sndmore);
    s.send(zmq::buffer(command), zmq::send_flags::sndmore);
    s.send(zmq::buffer(argument), zmq::send_flags::none);
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0)
      return error{"no answer from " + endpoint + " within " +
                   std::to_string(timeout.count()) + " ms (is a node running there?)"};
    std::vector<std::string> parts;
    zmq::message_t m;
    do {
      (void)s.recv(m, zmq::recv_flags::none);
      parts.push_back(m.to_string());
    } while (m.more());
    if (parts.size() != 2)
      return error{"unexpected reply from " + endpoint};
    // A refusal comes back as an ack frame (version byte first), not JSON.
    if (!parts[1].empty() && parts[1][0] != '{') {
      auto a = wire::decode_ack(parts[1], wire::limits{});
      return error{"node refused the query: " + (a ? a->message : parts[1])};
    }
    return parts[1];
  } catch (const zmq::error_t& e) {
    return error{"cannot query " + endpoint + ": " + e.what()};
  }
}

} // namespace eddy::cluster

#include "cluster/transport.hpp"

#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>
#include <zmq.hpp>

namespace eddy::cluster {

namespace {

struct sock {
  zmq::socket_t s;
  bool router = false;
  std::string endpoint;
  std::uint32_t credit = 0;                // 0 = no gate
  std::atomic<std::uint32_t> in_flight{0}; // delivered, not yet released
  bool gated = false;                      // I/O thread only
  std::deque<frames> out;                  // I/O thread only
};

// Messages taken from one socket per wake-up before the others get a turn.
constexpr int max_burst = 256;

} // namespace

struct io_thread::impl {
  zmq::context_t ctx{1};
  std::vector<std::unique_ptr<sock>> socks;
  int wake_fd = -1;
  std::mutex mu;
  std::vector<std::pair<socket_id, frames>> posted; // guarded by mu
  std::thread th;
  std::atomic<bool> stopping{false};
  bool started = false;
  inbound_fn on_message;
  undeliverable_fn on_undeliverable;
  std::atomic<std::uint64_t> received{0}, sent{0}, unroutable{0}, gated{0};

  void wake() {
    std::uint64_t one = 1;
    // A full eventfd counter still wakes the poller: ignoring EAGAIN is right.
    [[maybe_unused]] auto r = ::write(wake_fd, &one, sizeof one);
  }

  expected<socket_id> add(zmq::socket_type type, const std::string& endpoint,
                          const socket_options& o, bool bind) {
    if (started)
      return error{"io_thread: sockets must be added before start()"};
    auto s = std::make_unique<sock>();
    try {
      s->s = zmq::socket_t{ctx, type};
      s->router = type == zmq::socket_type::router;
      s->s.set(zmq::sockopt::linger, 0);
      s->s.set(zmq::sockopt::sndhwm, o.send_hwm);
      s->s.set(zmq::sockopt::rcvhwm, o.recv_hwm);
      s->s.set(zmq::sockopt::maxmsgsize, o.max_msg_size);
      if (s->router) {
        // Unknown peers are an error, not a silent drop.
        s->s.set(zmq::sockopt::router_mandatory, 1);
      } else {
        // Queue only to completed connections: nothing piles up for a dead peer.
        s->s.set(zmq::sockopt::immediate, 1);
        if (!o.routing_id.empty())
          s->s.set(zmq::sockopt::routing_id, o.routing_id);
      }
      if (bind) {
        s->s.bind(endpoint);
        s->endpoint = s->s.get(zmq::sockopt::last_endpoint);
      } else {
        s->s.connect(endpoint);
        s->endpoint = endpoint;
      }
    } catch (const zmq::error_t& e) {
      return error{std::string{bind ? "cannot bind " : "cannot connect "} + endpoint +
                   ": " + e.what() +
                   (bind ? " (is another process using the port?)" : "")};
    }
    socks.push_back(std::move(s));
    return static_cast<socket_id>(socks.size() - 1);
  }

  // Frames from this size on are handed to ZeroMQ without a copy.
  static constexpr std::size_t zero_copy_bytes = 256 * 1024;

  // Sends queued messages of one socket until ZeroMQ says "later".
  void flush(socket_id id) {
    auto& s = *socks[id];
    while (!s.out.empty()) {
      auto& msg = s.out.front();
      bool delivered = true;
      try {
        for (std::size_t i = 0; i < msg.size(); ++i) {
          auto flags = zmq::send_flags::dontwait;
          if (i + 1 < msg.size())
            flags = flags | zmq::send_flags::sndmore;
          zmq::send_result_t r;
          if (i > 0 && msg[i].size() >= zero_copy_bytes) {
            // A large later frame (ALS factor blocks, similar-items lists):
            // ZeroMQ takes the string's bytes instead of copying them. Later
            // frames never wait (see below), so the message is not needed again.
            auto* owned = new std::string(std::move(msg[i]));
            zmq::message_t part(
                owned->data(), owned->size(),
                [](void*, void* hint) { delete static_cast<std::string*>(hint); }, owned);
            r = s.s.send(part, flags);
          } else {
            r = s.s.send(zmq::buffer(msg[i]), flags);
          }
          if (!r) {
            // EAGAIN on the first frame: high-water mark; retry on POLLOUT. Later
            // frames of a multipart message do not block once the first is taken.
            if (i == 0)
              return;
          }
        }
      } catch (const zmq::error_t& e) {
        if (e.num() != EHOSTUNREACH)
          throw;
        delivered = false;
      }
      if (delivered) {
        ++sent;
      } else {
        ++unroutable;
        if (on_undeliverable)
          on_undeliverable(id, std::move(msg));
      }
      s.out.pop_front();
    }
  }

  void receive(socket_id id) {
    auto& s = *socks[id];
    for (int n = 0; n < max_burst; ++n) {
      if (s.credit != 0 &&
          s.in_flight.load(std::memory_order_acquire) >= s.credit) {
        s.gated = true;
        ++gated;
        return;
      }
      frames msg;
      zmq::message_t part;
      bool more = true;
      while (more) {
        auto r = s.s.recv(part, zmq::recv_flags::dontwait);
        if (!r) {
          if (msg.empty())
            return; // nothing more to read now
          continue;  // the rest of a multipart message is already queued
        }
        msg.emplace_back(static_cast<const char*>(part.data()), part.size());
        more = part.more();
      }
      s.in_flight.fetch_add(1, std::memory_order_acq_rel);
      ++received;
      on_message(id, std::move(msg));
    }
  }

  void loop() {
    std::vector<zmq::pollitem_t> items;
    std::vector<std::pair<socket_id, frames>> batch;
    while (!stopping.load(std::memory_order_acquire)) {
      items.clear();
      items.push_back({nullptr, wake_fd, ZMQ_POLLIN, 0});
      for (auto& s : socks) {
        if (s->gated && s->in_flight.load(std::memory_order_acquire) < s->credit)
          s->gated = false;
        short events = s->gated ? 0 : ZMQ_POLLIN;
        if (!s->out.empty())
          events |= ZMQ_POLLOUT;
        items.push_back({s->s.handle(), 0, events, 0});
      }
      try {
        zmq::poll(items.data(), items.size(), std::chrono::milliseconds{-1});
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR)
          continue;
        throw;
      }
      if (items[0].revents & ZMQ_POLLIN) {
        std::uint64_t v;
        [[maybe_unused]] auto r = ::read(wake_fd, &v, sizeof v);
        {
          std::lock_guard<std::mutex> guard{mu};
          batch.swap(posted);
        }
        for (auto& [id, msg] : batch)
          socks[id]->out.push_back(std::move(msg));
        batch.clear();
      }
      for (socket_id id = 0; id < socks.size(); ++id) {
        auto re = items[id + 1].revents;
        if (re & ZMQ_POLLIN)
          receive(id);
        if (!socks[id]->out.empty())
          flush(id);
      }
    }
  }
};

io_thread::io_thread() : impl_(std::make_unique<impl>()) {
  impl_->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  EDDY_ASSERT(impl_->wake_fd >= 0);
}

io_thread::~io_thread() {
  stop();
  ::close(impl_->wake_fd);
}

expected<io_thread::socket_id> io_thread::bind_router(const std::string& endpoint,
                                                      const socket_options& o) {
  return impl_->add(zmq::socket_type::router, endpoint, o, true);
}

expected<io_thread::socket_id> io_thread::connect_dealer(const std::string& endpoint,
                                                         const socket_options& o) {
  return impl_->add(zmq::socket_type::dealer, endpoint, o, false);
}

std::string io_thread::endpoint(socket_id id) const {
  return impl_->socks.at(id)->endpoint;
}

void io_thread::set_credit(socket_id id, std::uint32_t limit) {
  EDDY_ASSERT(!impl_->started);
  impl_->socks.at(id)->credit = limit;
}

void io_thread::start(inbound_fn on_message, undeliverable_fn on_undeliverable) {
  EDDY_ASSERT(!impl_->started);
  impl_->started = true;
  impl_->on_message = std::move(on_message);
  impl_->on_undeliverable = std::move(on_undeliverable);
  impl_->th = std::thread{[p = impl_.get()] { p->loop(); }};
}

void io_thread::send(socket_id id, frames msg) {
  EDDY_ASSERT(id < impl_->socks.size());
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    impl_->posted.emplace_back(id, std::move(msg));
  }
  impl_->wake();
}

void io_thread::release(socket_id id, std::uint32_t n) {
  auto& s = *impl_->socks.at(id);
  auto before = s.in_flight.fetch_sub(n, std::memory_order_acq_rel);
  EDDY_ASSERT(before >= n);
  if (s.credit != 0 && before >= s.credit && before - n < s.credit)
    impl_->wake(); // the gate may open
}

void io_thread::stop() {
  if (impl_->stopping.exchange(true))
    return;
  if (impl_->th.joinable()) {
    impl_->wake();
    impl_->th.join();
  }
  // Callbacks may hold actor handles: drop them with the thread (an actor handle
  // that outlives its actor system keeps the system from shutting down).
  impl_->on_message = nullptr;
  impl_->on_undeliverable = nullptr;
  impl_->socks.clear(); // linger 0: pending messages are dropped at shutdown
  impl_->ctx.close();
}

transport_stats io_thread::stats() const {
  return {impl_->received.load(), impl_->sent.load(), impl_->unroutable.load(),
          impl_->gated.load()};
}

} // namespace eddy::cluster

#include "actors/shard_actor.hpp"

#include <caf/all.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace eddy::actors {

void shard_data::count(std::span<const event_view> events_of_batch) {
  for (auto& e : events_of_batch) {
    if (auto it = item_counts.find(e.item); it != item_counts.end())
      ++it->second;
    else
      item_counts.emplace(e.item, 1);
  }
  events += events_of_batch.size();
}

namespace {

struct shard_state {
  std::shared_ptr<shard_data> data;
  static inline const char* name = "eddy.shard";
};

// Appends one part: events stored, or -1 for a duplicate. Never throws (an
// exception would kill the actor): log failures come back as values.
expected<std::int64_t> append(caf::stateful_actor<shard_state>* self, const batch_part& part,
                              group_commit* group) {
  auto& st = self->state;
  if (group != nullptr)
    if (int e = group->failed.load(std::memory_order_acquire); e != 0)
      return error{"shard " + std::to_string(st.data->shard) + ": refusing writes: " +
                   "syncing the node's data folder failed (syncfs: " + std::strerror(e) +
                   "), so earlier appends may not be on the disk; restart the node to " +
                   "replay and check its logs"};
  const auto bytes_before = st.data->log->bytes();
  auto r = st.data->log->append(part.producer, part.seq, part.events);
  if (st.data->node_log_bytes)
    st.data->node_log_bytes->fetch_add(st.data->log->bytes() - bytes_before,
                                       std::memory_order_relaxed);
  if (!r)
    return error{"shard " + std::to_string(st.data->shard) + ": " + r.err().message};
  if (*r == cluster::shard_log::append_result::duplicate)
    return std::int64_t{-1};
  if (group != nullptr)
    group->appended.store(true, std::memory_order_release);
  st.data->count(part.events);
  return static_cast<std::int64_t>(part.events.size());
}

caf::behavior shard_actor(caf::stateful_actor<shard_state>* self,
                          std::shared_ptr<shard_data> data, cluster::log_config lc,
                          caf::actor trending, std::shared_ptr<group_commit> group) {
  self->state.data = std::move(data);
  if (lc.fsync != cluster::fsync_policy::group)
    group = nullptr;
  // Whatever ends the actor, what was appended reaches the disk.
  self->attach_functor([d = self->state.data] { (void)d->log->sync(); });
  return {
    [=](append_atom, const parts_ptr& parts) -> caf::result<std::vector<std::int64_t>> {
      std::vector<std::int64_t> out;
      out.reserve(parts->size());
      // What was stored goes to the trending actor, in append order (also when a
      // later part fails: the stored ones stay in the log and are replayed).
      auto stored = std::make_shared<std::vector<part_ptr>>();
      auto feed = [&] {
        if (trending && !stored->empty())
          self->send(trending, trend_atom::value, parts_ptr{stored});
      };
      for (auto& part : *parts) {
        auto r = append(self, *part, group.get());
        if (!r) {
          feed();
          return caf::make_error(caf::sec::runtime_error, r.err().message);
        }
        if (*r >= 0)
          stored->push_back(part);
        out.push_back(*r);
      }
      feed();
      return out;
    },
    [=](count_atom, const std::string& item) -> caf::result<std::uint64_t, std::uint64_t> {
      auto& d = *self->state.data;
      std::uint64_t n = 0;
      if (!item.empty())
        if (auto it = d.item_counts.find(item); it != d.item_counts.end())
          n = it->second;
      return {d.events, n};
    },
    [=](scan_atom) -> caf::result<events_ptr> {
      // Batch jobs (ALS training) read the shard's whole log again: it is the
      // training data. Blocks this shard for the length of the scan.
      auto out = std::make_shared<std::vector<event>>();
      auto& d = *self->state.data;
      out->reserve(d.events);
      auto st = d.log->scan([&](const wire::batch& b) {
        out->insert(out->end(), b.events.begin(), b.events.end());
      });
      if (!st)
        return caf::make_error(caf::sec::runtime_error,
                               "shard " + std::to_string(d.shard) + ": " + st.message());
      return events_ptr{std::move(out)};
    },
  };
}

} // namespace

caf::actor spawn_shard(caf::actor_system& sys, std::shared_ptr<shard_data> data,
                       const cluster::log_config& lc, caf::actor trending,
                       std::shared_ptr<group_commit> group) {
  return sys.spawn(shard_actor, std::move(data), lc, std::move(trending), std::move(group));
}

namespace {

struct syncer_state {
  int dir_fd = -1;
  ~syncer_state() {
    if (dir_fd >= 0)
      ::close(dir_fd);
  }
  static inline const char* name = "eddy.syncer";
};

} // namespace

caf::actor spawn_log_syncer(caf::actor_system& sys, const std::string& data_dir,
                            std::chrono::milliseconds period,
                            std::shared_ptr<group_commit> group) {
  // Detached: a thread of its own, so waiting for the disk blocks no scheduler
  // worker and no shard.
  return sys.spawn<caf::detached>(
    [=](caf::stateful_actor<syncer_state>* self) -> caf::behavior {
      self->state.dir_fd = ::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (self->state.dir_fd < 0)
        group->failed.store(errno, std::memory_order_release);
      else
        self->delayed_send(self, period, timer_atom::value);
      return {
        [=](timer_atom) {
          // syncfs(2) flushes every dirty page of the filesystem, and reports a
          // write-back error of any file on it since the last call (Linux >= 5.8):
          // one call makes every shard's appends durable.
          if (group->appended.exchange(false, std::memory_order_acq_rel)) {
            if (::syncfs(self->state.dir_fd) != 0) {
              group->failed.store(errno, std::memory_order_release);
              return; // appends are refused from now on: nothing more to sync
            }
            group->syncs.fetch_add(1, std::memory_order_relaxed);
          }
          self->delayed_send(self, period, timer_atom::value);
        },
      };
    });
}

} // namespace eddy::actors

#include "actors/shard_actor.hpp"

#include "models/assert.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace eddy::actors {

void shard_data::count(std::span<const event_view> events_of_batch,
                       std::span<const std::uint64_t> item_hashes) {
  EDDY_ASSERT(item_hashes.size() == events_of_batch.size());
  thread_local std::vector<std::uint64_t*> found; // reused
  for (std::size_t at = 0; at < events_of_batch.size(); at += models::lookup_chunk) {
    const std::size_t n = std::min(models::lookup_chunk, events_of_batch.size() - at);
    auto key_of = [&](std::size_t i) {
      return models::hashed_item{events_of_batch[at + i].item, item_hashes[at + i]};
    };
    models::find_all(item_counts, n, key_of, found);
    for (std::size_t i = 0; i < n; ++i) {
      if (found[i] != nullptr) {
        ++*found[i];
        continue;
      }
      const auto key = key_of(i);
      if (auto it = item_counts.find(key); it != item_counts.end())
        ++it->second; // new in this chunk, inserted by an earlier event
      else
        item_counts.try_emplace(models::item_id{key.id}, 1);
    }
  }
  events += events_of_batch.size();
}

namespace {

struct shard_state {
  std::shared_ptr<shard_data> data;
  std::vector<cluster::shard_log::part> log_parts; // reused by append
  std::vector<cluster::shard_log::append_result> results;
  static inline const char* name = "eddy.shard";
};

// Appends the parts with one log write. `out` gets, per part settled before any
// failure, the events stored or -1 for a duplicate; `stored` those parts. Never
// throws (an exception would kill the actor): log failures come back as values.
status append(caf::stateful_actor<shard_state>* self, const std::vector<part_ptr>& parts,
              group_commit* group, std::vector<std::int64_t>& out,
              std::vector<part_ptr>& stored) {
  auto& st = self->state;
  auto& d = *st.data;
  auto where = [&] { return "shard " + std::to_string(d.shard) + ": "; };
  if (group != nullptr)
    if (int e = group->failed.load(std::memory_order_acquire); e != 0)
      return error{where() + "refusing writes: syncing the node's data folder failed " +
                   "(syncfs: " + std::strerror(e) + "), so earlier appends may not be " +
                   "on the disk; restart the node to replay and check its logs"};
  st.log_parts.clear();
  for (auto& p : parts)
    st.log_parts.push_back({p->producer, p->seq, p->events});
  const auto bytes_before = d.log->bytes();
  auto ok = d.log->append(st.log_parts, st.results);
  if (d.node_log_bytes)
    d.node_log_bytes->fetch_add(d.log->bytes() - bytes_before, std::memory_order_relaxed);
  for (std::size_t i = 0; i < st.results.size(); ++i) {
    if (st.results[i] == cluster::shard_log::append_result::duplicate) {
      out.push_back(-1);
      continue;
    }
    d.count(parts[i]->events, parts[i]->item_hashes);
    stored.push_back(parts[i]);
    out.push_back(static_cast<std::int64_t>(parts[i]->events.size()));
  }
  if (group != nullptr && !stored.empty())
    group->appended.store(true, std::memory_order_release);
  if (!ok)
    return error{where() + ok.message()};
  return {};
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
      // later part failed: the stored ones stay in the log and are replayed).
      auto stored = std::make_shared<std::vector<part_ptr>>();
      auto ok = append(self, *parts, group.get(), out, *stored);
      if (trending && !stored->empty())
        self->send(trending, trend_atom::value, parts_ptr{stored});
      if (!ok)
        return caf::make_error(caf::sec::runtime_error, ok.message());
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
          }
          self->delayed_send(self, period, timer_atom::value);
        },
      };
    });
}

} // namespace eddy::actors

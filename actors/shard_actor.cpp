#include "actors/shard_actor.hpp"

#include <caf/all.hpp>
#include <chrono>

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
  bool sync_armed = false;       // a group-commit timer is pending
  bool sync_in_flight = false;   // the syncer is fdatasyncing this log
  static inline const char* name = "eddy.shard";
};

// Appends one part: events stored, or -1 for a duplicate. Never throws (an
// exception would kill the actor): log failures come back as values.
expected<std::int64_t> append(caf::stateful_actor<shard_state>* self, const batch_part& part,
                              std::chrono::milliseconds period, bool group) {
  auto& st = self->state;
  const auto bytes_before = st.data->log->bytes();
  auto r = st.data->log->append(part.producer, part.seq, part.events);
  if (st.data->node_log_bytes)
    st.data->node_log_bytes->fetch_add(st.data->log->bytes() - bytes_before,
                                       std::memory_order_relaxed);
  if (!r)
    return error{"shard " + std::to_string(st.data->shard) + ": " + r.err().message};
  if (*r == cluster::shard_log::append_result::duplicate)
    return std::int64_t{-1};
  // Group commit: a timer only while there is something to sync, so idle shards
  // cost nothing.
  if (group && !st.sync_armed) {
    st.sync_armed = true;
    self->delayed_send(self, period, timer_atom::value);
  }
  st.data->count(part.events);
  return static_cast<std::int64_t>(part.events.size());
}

caf::behavior shard_actor(caf::stateful_actor<shard_state>* self,
                          std::shared_ptr<shard_data> data, cluster::log_config lc,
                          caf::actor trending, caf::actor syncer) {
  self->state.data = std::move(data);
  auto period = std::chrono::milliseconds{lc.group_commit_ms > 0 ? lc.group_commit_ms : 5};
  const bool group = lc.fsync == cluster::fsync_policy::group;
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
        auto r = append(self, *part, period, group);
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
    [=](timer_atom) {
      // One fdatasync per period at most, and only after appends: the timer is
      // armed by the first append after a sync. The syncer does it on its own
      // thread, so appends go on meanwhile; a failure poisons the log, and the
      // next append reports it.
      auto& st = self->state;
      st.sync_armed = false;
      if (st.sync_in_flight) { // the last one is still on the disk: look again later
        st.sync_armed = true;
        self->delayed_send(self, period, timer_atom::value);
        return;
      }
      auto& log = *st.data->log;
      auto p = log.begin_sync();
      if (!p || p->fd < 0)
        return; // poisoned (appends say so) or nothing to sync
      st.sync_in_flight = true;
      self->request(syncer, caf::infinite, sync_atom::value, p->fd)
        .then(
          [=, p = *p](int err) {
            self->state.sync_in_flight = false;
            (void)self->state.data->log->finish_sync(p, err);
          },
          [=](caf::error&) {
            // The syncer is gone (shutdown): the sync stays outstanding, and the
            // final sync() on exit covers it.
            self->state.sync_in_flight = false;
          });
    },
  };
}

} // namespace

caf::actor spawn_shard(caf::actor_system& sys, std::shared_ptr<shard_data> data,
                       const cluster::log_config& lc, caf::actor trending,
                       caf::actor syncer) {
  return sys.spawn(shard_actor, std::move(data), lc, std::move(trending), std::move(syncer));
}

caf::actor spawn_log_syncer(caf::actor_system& sys) {
  // Detached: its own thread, so a slow disk blocks no scheduler worker.
  return sys.spawn<caf::detached>([]() -> caf::behavior {
    return {
      [](sync_atom, int fd) { return cluster::shard_log::sync_and_close(fd); },
    };
  });
}

} // namespace eddy::actors

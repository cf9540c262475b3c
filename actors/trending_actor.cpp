#include "actors/trending_actor.hpp"

#include "models/assert.hpp"

#include <caf/all.hpp>

namespace eddy::actors {

void feed_trending(models::trending_table& table, std::span<const event_view> events,
                   std::span<const std::uint64_t> item_hashes) {
  EDDY_ASSERT(item_hashes.size() == events.size());
  thread_local std::vector<models::trend_event> batch; // reused
  batch.clear();
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    batch.push_back({{e.item, item_hashes[i]}, e.type, e.ts});
  }
  table.add(batch); // late events and unknown types are counted in its stats
}

namespace {

struct trending_state {
  std::shared_ptr<models::trending_table> table;
  std::uint32_t shard = 0;
  static inline const char* name = "eddy.trending";
};

trend_answer_ptr answer(const models::trending_table& t, std::uint32_t shard,
                        const trend_request& r) {
  using kind = trend_request::kind;
  auto a = std::make_shared<trend_answer>();
  a->max_event_ms = t.max_event_ms();
  switch (r.what) {
  case kind::clock:
    break;
  case kind::trending:
    a->top = t.top_trending(r.q);
    break;
  case kind::popular:
    a->top = t.top_popular(r.q);
    break;
  case kind::decayed:
    a->top = t.top_decayed(r.q);
    break;
  case kind::series:
    a->series = t.series(r.item, r.q.type, r.q.as_of_ms);
    break;
  case kind::stats:
    a->shards.push_back({shard, t.size(), t.tracked_series(), t.memory_bytes(), t.stats(),
                         t.digest(), t.max_event_ms()});
    break;
  }
  return a;
}

caf::behavior trending_actor(caf::stateful_actor<trending_state>* self,
                             std::uint32_t shard,
                             std::shared_ptr<models::trending_table> table) {
  self->state.table = std::move(table);
  self->state.shard = shard;
  return {
    [=](trend_atom, const parts_ptr& parts) {
      for (auto& part : *parts)
        feed_trending(*self->state.table, part->events, part->item_hashes);
    },
    [=](tquery_atom, const trend_request_ptr& r) -> trend_answer_ptr {
      return answer(*self->state.table, self->state.shard, *r);
    },
  };
}

} // namespace

caf::actor spawn_trending(caf::actor_system& sys, std::uint32_t shard,
                          std::shared_ptr<models::trending_table> table) {
  return sys.spawn(trending_actor, shard, std::move(table));
}

} // namespace eddy::actors

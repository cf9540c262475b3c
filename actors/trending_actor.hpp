#pragma once
// One trending actor per owned shard (DESIGN.md §4): fed by the shard actor with
// every part it durably appended, in append order, so its state is a function of
// the shard log alone — replaying the log on restart rebuilds exactly the same
// state. Queries are answered as of an event time the gateway picks (the
// cluster-wide newest event) and never change the state.

#include "actors/messages.hpp"

#include <caf/fwd.hpp>

#include <span>

namespace eddy::actors {

/// Adds a stored batch's events to a shard's table (live feed and replay share it);
/// `item_hashes`: models::item_hash of each event's item.
void feed_trending(models::trending_table& table, std::span<const event_view> events,
                   std::span<const std::uint64_t> item_hashes);

/// Spawns the actor owning `table`. Messages:
///  (trend_atom, parts_ptr)          -> no reply: add the parts' events
///  (tquery_atom, trend_request_ptr) -> trend_answer_ptr
caf::actor spawn_trending(caf::actor_system& sys, std::uint32_t shard,
                          std::shared_ptr<models::trending_table> table);

} // namespace eddy::actors

#pragma once
// One actor per owned shard: appends batch parts to the shard log (durable before
// the reply), keeps the shard's per-item counts, and answers count queries.

#include "actors/messages.hpp"
#include "cluster/shard_log.hpp"
#include "models/item_key.hpp"

#include <absl/container/flat_hash_map.h>
#include <caf/fwd.hpp>

#include <atomic>
#include <chrono>
#include <string>

namespace eddy::actors {

/// Group commit shared by a node's shard actors and its log syncer.
struct group_commit {
  std::atomic<bool> appended{false}; ///< a shard appended since the last sync
  std::atomic<int> failed{0};        ///< errno of a failed sync: appends are refused
};

/// What a shard owns; built by replaying its log before the actor starts.
struct shard_data {
  std::uint32_t shard = 0;
  std::unique_ptr<cluster::shard_log> log;
  /// Events per item; looked up by string_view (no key is built for a known item),
  /// in an open-addressing map (fewer cache misses per event than a node map).
  absl::flat_hash_map<models::item_id, std::uint64_t, models::item_key_hash, models::item_key_eq>
    item_counts;
  std::uint64_t events = 0;
  /// The shard's trending state while it is rebuilt by replay (null when trending
  /// is off); the trending actor owns it once the node serves.
  std::shared_ptr<models::trending_table> trend;
  /// Bytes in the logs of all of the node's shards (node_env::log_bytes), read
  /// by the gateway's metrics; every append adds its record.
  std::shared_ptr<std::atomic<std::uint64_t>> node_log_bytes;

  /// Applies one stored batch to the counts (replay and append share this);
  /// `item_hashes`: models::item_hash of each event's item.
  void count(std::span<const event_view> events_of_batch,
             std::span<const std::uint64_t> item_hashes);
};

/// Spawns the shard actor; every part it stores (not duplicates) goes on to
/// `trending` (if not null) after the append. Messages:
///  (append_atom, parts_ptr)     -> vector<int64>: per part, events stored or -1 for a
///                                  duplicate; an error if the log failed (parts before
///                                  the failure are stored: a resend deduplicates them)
///  (count_atom, std::string item) -> (uint64 shard_events, uint64 item_count)
///  (scan_atom)                  -> events_ptr: every stored event, in log order
/// With fsync = group it flags its appends in `group` for the node's log syncer
/// (below) and refuses appends once a sync has failed.
caf::actor spawn_shard(caf::actor_system& sys, std::shared_ptr<shard_data> data,
                       const cluster::log_config& lc, caf::actor trending,
                       std::shared_ptr<group_commit> group);

/// The node's log syncer, for fsync = group: every `period`, if any shard appended
/// since the last round, one syncfs(2) of the filesystem holding `data_dir` makes
/// every shard's appends durable at once (an fdatasync per shard log was 64 disk
/// flushes per period on a busy node, and blocked a scheduler thread each). Runs on
/// a thread of its own; a failed sync sets group->failed.
caf::actor spawn_log_syncer(caf::actor_system& sys, const std::string& data_dir,
                            std::chrono::milliseconds period,
                            std::shared_ptr<group_commit> group);

} // namespace eddy::actors

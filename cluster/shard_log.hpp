#pragma once
// The shard log (DESIGN.md §3): per shard, append-only segment files of
// length-prefixed, checksummed frames; each frame holds one wire batch (WIRE.md) —
// the shard's part of a producer batch. Append, then ack. Duplicate (producer, seq)
// batches are recognized and not stored twice. On open, the log is replayed and a
// torn tail is truncated.

#include "cluster/config.hpp"
#include "schema/error.hpp"
#include "schema/event.hpp"
#include "schema/wire.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace eddy::cluster {

struct shard_log_options {
  std::string dir;            ///< this shard's folder; created if missing
  log_config log;             ///< fsync policy, segment size, dedupe window
};

struct replay_stats {
  std::uint64_t segments = 0;
  std::uint64_t batches = 0;
  std::uint64_t events = 0;
  std::uint64_t bytes = 0;
  std::uint64_t truncated_bytes = 0; ///< torn tail cut off the last segment
};

class shard_log {
public:
  using replay_fn = std::function<void(const wire::batch&)>;

  /// Opens (creating) the log in `opt.dir`, replaying every stored batch in order
  /// through `on_batch` (may be empty). A torn or corrupt tail of the LAST segment is
  /// truncated (counted in stats); corruption anywhere else is an error naming the
  /// file and offset.
  static expected<std::unique_ptr<shard_log>>
  open(const shard_log_options& opt, const replay_fn& on_batch, replay_stats* stats);

  ~shard_log();

  enum class append_result : std::uint8_t { appended, duplicate };

  /// Appends one batch part (write(2) done when this returns: survives a process
  /// kill). fsync per the policy: per_batch syncs now; group leaves it to
  /// sync_if_due(); none never syncs.
  expected<append_result> append(std::string_view producer, std::uint64_t seq,
                                 std::span<const event_view> events);

  /// One batch part to append.
  struct part {
    std::string_view producer;
    std::uint64_t seq = 0;
    std::span<const event_view> events;
  };
  /// Appends several parts, in order, as append() would one by one (duplicates,
  /// repeats within `parts` included, are recognized), but with one write(2) for
  /// all of them (more only when the segment rolls over) and, for per_batch, one
  /// fdatasync. `out` gets one result per part; after an error it holds the
  /// results of the parts that were settled (stored or duplicates) before the
  /// failure, and the rest are not stored.
  status append(std::span<const part> parts, std::vector<append_result>& out);
  /// True if (producer, seq) is already stored.
  bool contains(std::string_view producer, std::uint64_t seq) const;

  /// For fsync = group: fsyncs if anything was appended and the period has passed.
  status sync_if_due(std::chrono::steady_clock::time_point now);
  status sync();

  std::uint64_t bytes() const;   ///< bytes in all segments
  std::uint64_t events() const;  ///< events stored (after dedupe)
  std::uint64_t batches() const;
  /// fdatasync calls made on segment data so far (tests, metrics).
  std::uint64_t syncs() const;

  /// Reads every stored batch again (for batch jobs such as ALS training).
  status scan(const replay_fn& on_batch) const;

private:
  struct impl;
  explicit shard_log(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace eddy::cluster

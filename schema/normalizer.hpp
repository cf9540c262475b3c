#pragma once
// The normalizer: one source mapping applied to input files, producing events and
// dead letters. Every record ends as exactly one of: an event, a filtered record
// (counted), or a reject (counted by reason and written to the reject sink).

#include "schema/byte_source.hpp"
#include "schema/dead_letter.hpp"
#include "schema/error.hpp"
#include "schema/event.hpp"
#include "schema/mapping.hpp"

#include <functional>
#include <memory>

namespace eddy {

class interaction_registry;

class normalizer {
public:
  /// Checks the mapping against the registry (alias targets, unknown type, time
  /// zone) and prepares the lookups.
  static expected<normalizer> make(const source_mapping& m,
                                   const interaction_registry& registry);
  normalizer(normalizer&&) noexcept;
  normalizer& operator=(normalizer&&) noexcept;
  ~normalizer();

  using progress_fn = std::function<void(const normalize_stats&)>;

  /// Normalizes one whole input. Rows go to `events` or `rejects`; counts are added
  /// to `stats`. `progress` (optional) is called every ~64k records. Returns an error
  /// only when the input as a whole cannot be read (I/O error, a CSV header without a
  /// needed column, a file that is not a JSON array); records read before that are
  /// kept and counted.
  status run(byte_source& src, event_sink& events, reject_sink& rejects,
             normalize_stats& stats, const progress_fn& progress = {});

  const source_mapping& mapping() const;

private:
  struct impl;
  explicit normalizer(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace eddy

#pragma once
// Rejects are data, not noise (DESIGN.md §1): every row that cannot be normalized is
// written to a dead-letter JSON Lines file with its source, position, raw bytes and a
// reason, and counted by reason.

#include "schema/error.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

namespace eddy {

/// Stable reason codes (they appear in dead-letter files and summaries).
enum class reject_reason : std::uint8_t {
  line_too_long,    ///< record longer than limits.max_line_bytes
  malformed_csv,    ///< unterminated quote, text after a closing quote
  malformed_json,   ///< not valid JSON (includes a truncated last line)
  too_deep,         ///< JSON nested deeper than limits.max_depth
  invalid_utf8,     ///< the record is not valid UTF-8
  missing_field,    ///< a required field is absent (or too few columns)
  wrong_field_type, ///< e.g. a JSON object where an id was expected
  empty_id,         ///< user or item is empty
  id_too_long,      ///< user or item longer than limits.max_id_bytes
  bad_timestamp,    ///< unparsable or outside 1970..2099
  unknown_type,     ///< interaction type not in the registry or the mapping
  bad_value,        ///< value is not a finite number
};
inline constexpr std::size_t reject_reason_count = 12;

std::string_view reason_name(reject_reason r);

/// Per-run counters. `merge` adds another run's counts.
struct normalize_stats {
  std::uint64_t records = 0;  ///< data records seen (not header/blank/comment)
  std::uint64_t events = 0;   ///< events emitted
  std::uint64_t filtered = 0; ///< records dropped on purpose by [[filter]]
  std::uint64_t skipped_lines = 0; ///< blank and comment lines
  std::uint64_t bytes = 0;    ///< input bytes read (compressed for gzip)
  std::array<std::uint64_t, reject_reason_count> rejects{};

  std::uint64_t rejected() const {
    std::uint64_t n = 0;
    for (auto r : rejects)
      n += r;
    return n;
  }
  void merge(const normalize_stats& o);
};

/// One rejected record.
struct reject_record {
  std::string_view source;   ///< file name
  std::uint64_t line = 0;    ///< 1-based line where the record starts (0 = n/a)
  std::uint64_t offset = 0;  ///< byte offset where the record starts
  std::string_view raw;      ///< the record's bytes (may be cut, see raw_limit)
  reject_reason reason = reject_reason::malformed_csv;
  std::string_view detail;   ///< what exactly is wrong, for a person
};

class reject_sink {
public:
  virtual ~reject_sink() = default;
  virtual void on_reject(const reject_record& r) = 0;
};

/// Writes one JSON object per reject:
/// {"source":..,"line":..,"offset":..,"reason":..,"detail":..,"raw":..}
/// Raw bytes that are not UTF-8 are written as "raw_base64" instead of "raw"; raw
/// text longer than `raw_limit` bytes is cut and marked "raw_truncated":true.
class dead_letter_writer final : public reject_sink {
public:
  static expected<std::unique_ptr<dead_letter_writer>>
  open(const std::string& path, std::size_t raw_limit = 4096);
  ~dead_letter_writer() override;
  void on_reject(const reject_record& r) override;
  /// Pushes buffered records to the file (a node calls it after each batch, so a
  /// reader sees whole lines and a crash loses none).
  void flush();
  /// Flushes and closes; false (with `why`) if the file could not be written.
  bool close(std::string* why);
  std::uint64_t written() const { return written_; }

private:
  dead_letter_writer(std::FILE* f, std::string path, std::size_t raw_limit);
  std::FILE* f_;
  std::string path_;
  std::size_t raw_limit_;
  std::uint64_t written_ = 0;
  std::string line_;
};

/// Formats a reject as its dead-letter JSON line (without the newline).
void format_reject(const reject_record& r, std::size_t raw_limit, std::string& out);

} // namespace eddy

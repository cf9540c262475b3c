#pragma once
// Source mappings (configs/schemas/*.toml): how one source shape becomes events.
// configs/schemas/README.md documents every key.

#include "schema/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eddy {

enum class source_format : std::uint8_t { csv, jsonl, json_array };
enum class time_format : std::uint8_t { epoch_s, epoch_ms, epoch_us, iso8601, pattern };

/// Where one field of the event comes from.
struct field_spec {
  enum class kind : std::uint8_t { none, column, index, pointer, constant };
  kind from = kind::none;
  std::string column;   ///< CSV header name (kind::column)
  std::size_t index = 0; ///< CSV column, 0-based (kind::index; also set for
                         ///< kind::column once the header has been read)
  std::string pointer;  ///< RFC 6901 JSON pointer (kind::pointer)
  std::string constant; ///< fixed text (kind::constant)

  bool present() const { return from != kind::none; }
  /// "column 'x'", "column 3", "pointer '/a/b'", "constant 'view'".
  std::string describe() const;
};

struct time_spec {
  time_format format = time_format::epoch_ms;
  std::string pattern;           ///< strftime-style, for time_format::pattern
  std::string timezone = "UTC";  ///< IANA name, for times without an offset
};

struct filter_spec {
  enum class op : std::uint8_t { equals, not_equals, in, not_in, present, absent };
  field_spec field;
  op test = op::equals;
  std::vector<std::string> values;
};

struct csv_options {
  char delimiter = ',';
  char quote = '"';
  bool header = true;
  std::string comment; ///< lines starting with this are skipped ("" = none)
};

struct mapping_limits {
  std::size_t max_line_bytes = 1u << 20; ///< one CSV record / JSON line or element
  std::size_t max_id_bytes = 256;        ///< user and item
  std::size_t max_depth = 32;            ///< JSON nesting
};

struct source_mapping {
  std::string name;
  std::string origin; ///< the file it was loaded from (for messages)
  std::string description;
  source_format format = source_format::csv;
  csv_options csv;
  field_spec user, item, type, ts, value;
  time_spec time;
  float value_default = 1.0f;
  /// Source spelling (lower case) -> canonical type name, checked before the
  /// registry's own names and aliases.
  std::vector<std::pair<std::string, std::string>> type_aliases;
  /// Canonical type that unknown source types become; empty = reject them.
  std::string unknown_type;
  std::vector<filter_spec> filters;
  mapping_limits limits;
};

/// Loads and validates a mapping. Errors name the file and the key.
expected<source_mapping> load_mapping(const std::string& path);
expected<source_mapping> parse_mapping(std::string_view toml,
                                       const std::string& origin);

std::string_view format_name(source_format f);

} // namespace eddy

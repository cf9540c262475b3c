#pragma once
// Output formats for normalized events: the MessagePack stream (for machines: a
// sequence of wire batch frames, see WIRE.md), CSV and JSON Lines (for people).

#include "schema/error.hpp"
#include "schema/event.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace eddy {

class interaction_registry;

enum class output_format { msgpack, csv, jsonl };

/// "msgpack" | "csv" | "jsonl" -> format.
std::optional<output_format> parse_output_format(std::string_view name);
/// Guess from a file name: .msgpack/.mp -> msgpack, .csv, .jsonl/.ndjson; nullopt else.
std::optional<output_format> output_format_of_path(std::string_view path);

struct writer_options {
  output_format format = output_format::msgpack;
  std::string producer = "eddy-normalize"; ///< producer id in msgpack frames
  std::size_t batch_events = 4096;         ///< events per msgpack frame
};

/// Opens `path` ("-" = stdout) for writing. CSV and JSON Lines print the type's
/// canonical name (from `registry`); msgpack writes the frozen type id.
/// The columns of CSV are `user,item,type,ts,value` with a header line.
expected<std::unique_ptr<event_sink>>
open_writer(const std::string& path, const writer_options& opt,
            const interaction_registry& registry);

/// JSON string escaping (RFC 8259) of valid UTF-8 text; appends to `out`.
void append_json_string(std::string& out, std::string_view s);

} // namespace eddy

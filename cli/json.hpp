#pragma once
// Reading the nodes' JSON answers in the CLI (simdjson DOM).

#include <simdjson.h>

#include <cstdint>

namespace eddy::cli {

/// e[key] as T, or `fallback` when the key is absent or of another type.
template <class T>
T json_get(simdjson::dom::element e, const char* key, T fallback) {
  T v{};
  return e[key].get(v) == simdjson::SUCCESS ? v : fallback;
}

/// e[key] as a number whether the JSON wrote it as an integer or not (0 if absent).
inline double json_number(simdjson::dom::element e, const char* key) {
  double d = 0;
  if (e[key].get(d) == simdjson::SUCCESS)
    return d;
  return static_cast<double>(json_get<std::int64_t>(e, key, 0));
}

} // namespace eddy::cli

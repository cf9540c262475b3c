#pragma once
// Internal to schema/: reading eddy's TOML config files with errors that name the
// file and line. Only .cpp files that parse TOML include this (toml++ is heavy).

#include "schema/error.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <toml++/toml.h>

namespace eddy::detail {

inline expected<toml::table> parse_toml(std::string_view text,
                                        const std::string& origin) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return error{origin + ":" + std::to_string(e.source().begin.line) +
                 ": invalid TOML: " + std::string{e.description()}};
  }
}

/// The file's text, or an error naming it (`what`: "mapping", ...) and `hint`.
inline expected<std::string> read_config_file(const std::string& path,
                                              const std::string& what,
                                              const std::string& hint) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return error{"cannot read " + what + " '" + path + "': " + std::strerror(errno) +
                 " (" + hint + ")"};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace eddy::detail

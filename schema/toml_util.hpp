#pragma once
// Internal to schema/: reading eddy's TOML config files with errors that name the
// file and line. Only .cpp files that parse TOML include this (toml++ is heavy).

#include "schema/error.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <initializer_list>
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

/// Builds errors of the form "FILE: KEY: what is wrong".
struct checker {
  const std::string& origin;
  error operator()(const std::string& key, const std::string& what) const {
    return error{origin + ": " + key + ": " + what};
  }
};

/// Unknown keys are errors: a misspelled key would otherwise silently leave the
/// default in place (say `fsnyc = "none"`). `where` is the table's dotted name.
inline status check_keys(const toml::table& t, const std::string& where,
                         std::initializer_list<std::string_view> allowed,
                         const checker& bad) {
  for (auto&& [k, v] : t) {
    (void)v;
    bool ok = false;
    for (auto a : allowed)
      ok = ok || k.str() == a;
    if (!ok) {
      std::string list;
      for (auto a : allowed)
        list += (list.empty() ? "" : ", ") + std::string{a};
      return bad(where.empty() ? std::string{k.str()}
                               : where + "." + std::string{k.str()},
                 "unknown key; fix the spelling or remove it (expected one of: " +
                   list + ")");
    }
  }
  return {};
}

} // namespace eddy::detail

#pragma once
// Query arguments the CLI sends to a node (`k=10&type=cart&item=...`, the syntax
// of actors/trend_query.hpp and actors/als_coordinator.hpp).

#include <string>

namespace eddy::cli {

/// A value made safe for a query string: %, &, =, the list separator , and
/// control or non-ASCII bytes
/// become %XX (the node decodes them).
inline std::string escape_arg(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (c == '%' || c == '&' || c == '=' || c == ',' || c < 0x20 || c >= 0x7f) {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

} // namespace eddy::cli

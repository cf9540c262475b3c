#pragma once
// Parsing source timestamps into ms since the Unix epoch (UTC).

#include "schema/error.hpp"
#include "schema/mapping.hpp"

#include <cstdint>
#include <memory>
#include <string_view>

namespace eddy {

/// Accepted event times: [1970-01-01, 2100-01-01) in ms. Anything else is almost
/// always a unit mistake (seconds read as ms, or the reverse).
inline constexpr std::int64_t min_ts_ms = 0;
inline constexpr std::int64_t max_ts_ms = 4102444800000; // 2100-01-01T00:00:00Z

class time_parser {
public:
  /// Validates the spec (loads the time zone, checks the pattern).
  static expected<time_parser> make(const time_spec& spec);

  time_parser(time_parser&&) noexcept;
  time_parser& operator=(time_parser&&) noexcept;
  ~time_parser();

  /// Parses text. On failure returns false and sets `why` to a short explanation.
  bool parse(std::string_view text, std::int64_t& ms, const char*& why) const;
  /// Parses a number already decoded (JSON): epoch formats only.
  bool parse_number(double v, std::int64_t& ms, const char*& why) const;

private:
  struct impl;
  explicit time_parser(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

} // namespace eddy

#include "schema/timestamp.hpp"

#include <absl/time/civil_time.h>
#include <absl/time/time.h>
#include <charconv>
#include <cmath>

namespace eddy {

struct time_parser::impl {
  time_spec spec;
  absl::TimeZone tz;
  bool utc = true;
};

time_parser::time_parser(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
time_parser::time_parser(time_parser&&) noexcept = default;
time_parser& time_parser::operator=(time_parser&&) noexcept = default;
time_parser::~time_parser() = default;

expected<time_parser> time_parser::make(const time_spec& spec) {
  auto p = std::make_unique<impl>();
  p->spec = spec;
  p->utc = spec.timezone.empty() || spec.timezone == "UTC" ||
           spec.timezone == "Etc/UTC" || spec.timezone == "Z";
  if (p->utc) {
    p->tz = absl::UTCTimeZone();
  } else if (!absl::LoadTimeZone(spec.timezone, &p->tz)) {
    return error{"fields.ts.timezone: unknown time zone '" + spec.timezone +
                 "' (use an IANA name such as \"Europe/Berlin\"; the tzdata "
                 "package provides them)"};
  }
  if (spec.format == time_format::pattern) {
    // A pattern that cannot format also cannot parse: catch typos early.
    if (spec.pattern.empty())
      return error{"fields.ts.format: empty strftime pattern"};
  }
  return time_parser{std::move(p)};
}

namespace {

bool in_range(std::int64_t ms, const char*& why) {
  if (ms < min_ts_ms || ms >= max_ts_ms) {
    why = "time outside 1970..2099 (wrong unit? check fields.ts.format)";
    return false;
  }
  return true;
}

// Integer part plus optional decimal fraction; `scale` = ms per unit
// (1000 for seconds, 1 for ms); µs use scale 0 (divide by 1000).
bool parse_epoch(std::string_view s, time_format f, std::int64_t& ms,
                 const char*& why) {
  // Trim spaces some exports leave around numbers.
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  if (s.empty()) {
    why = "empty timestamp";
    return false;
  }
  std::int64_t whole = 0;
  auto* b = s.data();
  auto* e = s.data() + s.size();
  auto [p, ec] = std::from_chars(b, e, whole);
  if (ec != std::errc{} || p == b) {
    why = ec == std::errc::result_out_of_range ? "timestamp out of range"
                                                : "not a number";
    return false;
  }
  std::int64_t frac_ms = 0; // fraction of the unit, in ms (seconds only)
  if (p != e && *p == '.') {
    ++p;
    if (p == e) {
      why = "not a number";
      return false;
    }
    int digits = 0;
    std::int64_t frac = 0;
    for (; p != e && *p >= '0' && *p <= '9'; ++p, ++digits)
      if (digits < 3)
        frac = frac * 10 + (*p - '0');
    if (digits == 0) {
      why = "not a number";
      return false;
    }
    for (int d = digits; d < 3; ++d)
      frac *= 10;
    if (f == time_format::epoch_s)
      frac_ms = whole < 0 ? -frac : frac;
  }
  if (p != e) {
    why = "not a number";
    return false;
  }
  switch (f) {
    case time_format::epoch_s:
      if (whole > max_ts_ms / 1000 || whole < -max_ts_ms / 1000) {
        why = "time outside 1970..2099 (wrong unit? check fields.ts.format)";
        return false;
      }
      ms = whole * 1000 + frac_ms;
      break;
    case time_format::epoch_ms:
      ms = whole;
      break;
    default: // epoch_us: floor to ms
      ms = whole >= 0 ? whole / 1000 : -((-whole + 999) / 1000);
      break;
  }
  return in_range(ms, why);
}

bool digits(std::string_view s, std::size_t at, std::size_t n, int& out) {
  if (at + n > s.size())
    return false;
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    char c = s[i];
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

struct zone_ref {
  const absl::TimeZone& tz;
  bool utc;
};

// ISO-8601 / RFC 3339: YYYY-MM-DD[(T|t| )hh:mm[:ss[(.|,)fff...]]][Z|±hh[:]mm|±hh].
// Without an offset the mapping's time zone applies.
bool parse_iso(std::string_view s, const zone_ref& tzi,
               std::int64_t& ms, const char*& why) {
  why = "not an ISO-8601 time (expected e.g. 2024-03-01T12:30:00Z)";
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' ||
      !digits(s, 5, 2, mo) || s[7] != '-' || !digits(s, 8, 2, d))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) {
    why = "month or day out of range";
    return false;
  }
  static constexpr int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap)) {
    why = "no such day in that month";
    return false;
  }
  std::size_t i = 10;
  std::int64_t frac_ms = 0;
  if (i < s.size() && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
    ++i;
    if (!digits(s, i, 2, h) || i + 2 >= s.size() || s[i + 2] != ':' ||
        !digits(s, i + 3, 2, mi))
      return false;
    i += 5;
    if (i < s.size() && s[i] == ':') {
      if (!digits(s, i + 1, 2, sec))
        return false;
      i += 3;
      if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
        ++i;
        int n = 0;
        std::int64_t f = 0;
        for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++n)
          if (n < 3)
            f = f * 10 + (s[i] - '0');
        if (n == 0)
          return false;
        for (; n < 3; ++n)
          f *= 10;
        frac_ms = f;
      }
    }
    if (h > 23 || mi > 59 || sec > 60) { // 60: leap second, folded below
      why = "hour, minute or second out of range";
      return false;
    }
    if (sec == 60)
      sec = 59;
  }
  bool has_offset = false;
  int offset_min = 0;
  if (i < s.size()) {
    char c = s[i];
    if ((c == 'Z' || c == 'z') && i + 1 == s.size()) {
      has_offset = true;
      ++i;
    } else if (c == '+' || c == '-') {
      int oh, om = 0;
      if (!digits(s, i + 1, 2, oh))
        return false;
      std::size_t j = i + 3;
      if (j < s.size() && s[j] == ':')
        ++j;
      if (j < s.size()) {
        if (!digits(s, j, 2, om))
          return false;
        j += 2;
      }
      if (j != s.size() || oh > 23 || om > 59)
        return false;
      has_offset = true;
      offset_min = (c == '-' ? -1 : 1) * (oh * 60 + om);
      i = j;
    } else {
      return false;
    }
  }
  if (i != s.size())
    return false;
  std::int64_t secs;
  if (has_offset || tzi.utc) {
    secs = days_from_civil(y, static_cast<unsigned>(mo),
                           static_cast<unsigned>(d)) * 86400 +
           h * 3600 + mi * 60 + sec - offset_min * 60;
  } else {
    auto t = absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, sec), tzi.tz);
    secs = absl::ToUnixSeconds(t);
  }
  ms = secs * 1000 + frac_ms;
  return in_range(ms, why);
}

} // namespace

bool time_parser::parse(std::string_view text, std::int64_t& ms,
                        const char*& why) const {
  auto& p = *impl_;
  switch (p.spec.format) {
    case time_format::epoch_s:
    case time_format::epoch_ms:
    case time_format::epoch_us:
      return parse_epoch(text, p.spec.format, ms, why);
    case time_format::iso8601:
      return parse_iso(text, zone_ref{p.tz, p.utc}, ms, why);
    case time_format::pattern: {
      absl::Time t;
      std::string err;
      if (!absl::ParseTime(p.spec.pattern,
                           absl::string_view{text.data(), text.size()},
                           p.tz, &t, &err)) {
        why = "does not match the time pattern in fields.ts.format";
        return false;
      }
      ms = absl::ToUnixMillis(t);
      return in_range(ms, why);
    }
  }
  why = "unknown time format";
  return false;
}

bool time_parser::parse_number(double v, std::int64_t& ms,
                               const char*& why) const {
  if (!std::isfinite(v)) {
    why = "not a finite number";
    return false;
  }
  double scaled;
  switch (impl_->spec.format) {
    case time_format::epoch_s:
      scaled = v * 1000.0;
      break;
    case time_format::epoch_ms:
      scaled = v;
      break;
    case time_format::epoch_us:
      scaled = v / 1000.0;
      break;
    default:
      why = "a number where fields.ts.format expects text";
      return false;
  }
  if (!(scaled >= static_cast<double>(min_ts_ms) &&
        scaled < static_cast<double>(max_ts_ms))) {
    why = "time outside 1970..2099 (wrong unit? check fields.ts.format)";
    return false;
  }
  ms = static_cast<std::int64_t>(std::floor(scaled));
  return true;
}

} // namespace eddy

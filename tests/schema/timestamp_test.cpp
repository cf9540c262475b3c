#include "schema/timestamp.hpp"

#include <gtest/gtest.h>

using namespace eddy;

namespace {

time_parser make(time_format f, std::string pattern = {}, std::string tz = "UTC") {
  time_spec s;
  s.format = f;
  s.pattern = std::move(pattern);
  s.timezone = std::move(tz);
  auto p = time_parser::make(s);
  EXPECT_TRUE(p) << (p ? "" : p.err().message);
  return std::move(*p);
}

std::int64_t ok(const time_parser& p, std::string_view text) {
  std::int64_t ms = -1;
  const char* why = nullptr;
  EXPECT_TRUE(p.parse(text, ms, why)) << text << ": " << (why ? why : "");
  return ms;
}

bool bad(const time_parser& p, std::string_view text) {
  std::int64_t ms = 0;
  const char* why = nullptr;
  bool r = p.parse(text, ms, why);
  EXPECT_TRUE(r || why != nullptr);
  return !r;
}

} // namespace

TEST(timestamp, days_from_civil) {
  static_assert(days_from_civil(1970, 1, 1) == 0);
  static_assert(days_from_civil(2000, 3, 1) == 11017);
  static_assert(days_from_civil(1969, 12, 31) == -1);
}

TEST(timestamp, epoch_units) {
  auto s = make(time_format::epoch_s);
  EXPECT_EQ(ok(s, "1433221332"), 1433221332000);
  EXPECT_EQ(ok(s, "1433221332.5"), 1433221332500);
  EXPECT_EQ(ok(s, " 1433221332.123456 "), 1433221332123);
  EXPECT_EQ(ok(s, "0"), 0);
  auto ms = make(time_format::epoch_ms);
  EXPECT_EQ(ok(ms, "1433221332117"), 1433221332117);
  auto us = make(time_format::epoch_us);
  EXPECT_EQ(ok(us, "1433221332117999"), 1433221332117);
  EXPECT_TRUE(bad(s, ""));
  EXPECT_TRUE(bad(s, "abc"));
  EXPECT_TRUE(bad(s, "12a"));
  EXPECT_TRUE(bad(s, "1."));
  EXPECT_TRUE(bad(s, "-5"));                  // before 1970
  EXPECT_TRUE(bad(ms, "4102444800000"));      // year 2100
  EXPECT_TRUE(bad(s, "1433221332117"));       // ms read as seconds: year 47000
  EXPECT_TRUE(bad(s, "99999999999999999999")); // overflow
}

TEST(timestamp, epoch_numbers_from_json) {
  auto s = make(time_format::epoch_s);
  std::int64_t v = 0;
  const char* why = nullptr;
  ASSERT_TRUE(s.parse_number(1433221332.25, v, why));
  EXPECT_EQ(v, 1433221332250);
  EXPECT_FALSE(s.parse_number(1e300, v, why));
  auto iso = make(time_format::iso8601);
  EXPECT_FALSE(iso.parse_number(5, v, why));
}

TEST(timestamp, iso8601_with_and_without_offsets) {
  auto p = make(time_format::iso8601);
  EXPECT_EQ(ok(p, "2015-06-02T05:02:12Z"), 1433221332000);
  EXPECT_EQ(ok(p, "2015-06-02T05:02:12.117Z"), 1433221332117);
  EXPECT_EQ(ok(p, "2015-06-02T05:02:12.1171234Z"), 1433221332117);
  EXPECT_EQ(ok(p, "2015-06-02 05:02:12"), 1433221332000);
  EXPECT_EQ(ok(p, "2015-06-02T07:02:12+02:00"), 1433221332000);
  EXPECT_EQ(ok(p, "2015-06-02T07:02:12+0200"), 1433221332000);
  EXPECT_EQ(ok(p, "2015-06-02T00:02:12-05"), 1433221332000);
  EXPECT_EQ(ok(p, "2015-06-02T05:02Z"), 1433221320000);
  EXPECT_EQ(ok(p, "2015-06-02"), 1433203200000);
  EXPECT_EQ(ok(p, "2016-12-31T23:59:60Z"), ok(p, "2016-12-31T23:59:59Z"));
  EXPECT_TRUE(bad(p, "2015-02-29T00:00:00Z")); // not a leap year
  EXPECT_TRUE(bad(p, "2015-13-01"));
  EXPECT_TRUE(bad(p, "2015-06-02T25:00:00Z"));
  EXPECT_TRUE(bad(p, "2015-06-02T05:02:12+02:00junk"));
  EXPECT_TRUE(bad(p, "06/02/2015"));
  EXPECT_TRUE(bad(p, "1969-12-31T23:59:59Z"));
}

TEST(timestamp, iso8601_without_offset_uses_the_mapping_zone) {
  auto p = make(time_format::iso8601, {}, "Europe/Berlin");
  // Summer: UTC+2; winter: UTC+1; an explicit offset wins.
  EXPECT_EQ(ok(p, "2015-06-02T07:02:12"), 1433221332000);
  EXPECT_EQ(ok(p, "2015-01-02T06:00:00"), ok(make(time_format::iso8601),
                                              "2015-01-02T05:00:00Z"));
  EXPECT_EQ(ok(p, "2015-06-02T05:02:12Z"), 1433221332000);
}

TEST(timestamp, strftime_patterns_with_time_zone) {
  auto p = make(time_format::pattern, "%d/%m/%Y %H:%M:%S", "America/New_York");
  EXPECT_EQ(ok(p, "02/06/2015 01:02:12"), 1433221332000); // EDT = UTC-4
  auto z = make(time_format::pattern, "%Y-%m-%d %H%M%S %z");
  EXPECT_EQ(ok(z, "2015-06-02 070212 +0200"), 1433221332000);
  auto named = make(time_format::pattern, "%d %b %Y %H:%M", "Europe/London");
  EXPECT_EQ(ok(named, "02 Jun 2015 06:02"), 1433221320000); // BST = UTC+1
  EXPECT_TRUE(bad(p, "2015-06-02"));
}

TEST(timestamp, unknown_zone_is_a_clear_error) {
  time_spec s;
  s.format = time_format::iso8601;
  s.timezone = "Mars/Olympus";
  auto p = time_parser::make(s);
  ASSERT_FALSE(p);
  EXPECT_NE(p.err().message.find("Mars/Olympus"), std::string::npos);
}

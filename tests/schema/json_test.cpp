// JSON Lines and JSON arrays: nested fields by pointer, limits, rejects.
#include "test_util.hpp"

using namespace eddy;
using test::normalize_text;

namespace {

const std::string pixel = R"(
name = "px"
format = "jsonl"
[fields]
user = { pointer = "/visitor/id" }
item = { pointer = "/product/id" }
type = { pointer = "/event/name" }
ts = { pointer = "/event/ts", format = "iso8601" }
value = { pointer = "/product/quantity", default = 1 }
[types]
aliases = { add_to_cart = "cart" }
[[filter]]
field = { pointer = "/visitor/bot" }
op = "absent"
[limits]
max_depth = 6
max_line_bytes = 512
)";

std::string line(const std::string& user, const std::string& item,
                 const std::string& type, const std::string& ts,
                 const std::string& extra = "") {
  return "{\"v\":1,\"event\":{\"name\":" + type + ",\"ts\":" + ts +
         "},\"visitor\":{\"id\":" + user + "},\"product\":{\"id\":" + item + extra +
         "}}\n";
}

std::size_t count(const test::run_result& r, reject_reason why) {
  return r.stats.rejects[static_cast<std::size_t>(why)];
}

} // namespace

TEST(jsonl, nested_pointers_numbers_and_values) {
  auto r = normalize_text(pixel, line("\"u1\"", "\"i1\"", "\"view\"",
                                      "\"2015-06-02T05:02:12.117Z\"") +
                                   line("42", "100042", "\"add_to_cart\"",
                                        "\"2015-06-02T05:02:13Z\"",
                                        ",\"quantity\":3"));
  ASSERT_TRUE(r.st) << r.st.message();
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0], (event{"u1", "i1", 1, 1433221332117, 1.0f}));
  EXPECT_EQ(r.events[1], (event{"42", "100042", 2, 1433221333000, 3.0f}));
}

TEST(jsonl, every_reject_reason_once_and_good_rows_kept) {
  std::string in;
  in += line("\"u1\"", "\"i1\"", "\"view\"", "\"2015-06-02T05:02:12Z\""); // good
  in += line("\"u2\"", "\"i2\"", "\"view\"", "\"yesterday\"");  // bad_timestamp
  in += line("\"u3\"", "\"i3\"", "\"teleport\"", "\"2015-06-02T05:02:12Z\""); // unknown
  in += "{\"event\":{\"name\":\"view\",\"ts\":\"2015-06-02T05:02:12Z\"},"
        "\"product\":{\"id\":\"i4\"}}\n";                        // missing user
  in += line("null", "\"i5\"", "\"view\"", "\"2015-06-02T05:02:12Z\""); // null = missing
  in += line("{\"x\":1}", "\"i6\"", "\"view\"", "\"2015-06-02T05:02:12Z\""); // wrong type
  in += line("\"" + std::string(300, 'u') + "\"", "\"i7\"", "\"view\"",
             "\"2015-06-02T05:02:12Z\"");                        // id_too_long
  in += line("\"u\xff\"", "\"i8\"", "\"view\"", "\"2015-06-02T05:02:12Z\""); // utf8
  in += "{\"a\":[[[[[[[[1]]]]]]]]}\n";                           // too_deep
  in += line("\"u10\"", "\"i10\"", "\"view\"", "\"2015-06-02T05:02:12Z\"",
             ",\"quantity\":\"lots\"");                          // bad_value
  in += line("\"\"", "\"i11\"", "\"view\"", "\"2015-06-02T05:02:12Z\""); // empty_id
  in += line("\"u12\"", "1.5", "\"view\"", "\"2015-06-02T05:02:12Z\""); // fraction id
  in += "{\"event\":" + std::string(600, ' ') + "1}\n";          // line_too_long
  in += "\n   \n";                                                // blank lines
  in += "[1,2]\n";                                                // not an object
  in += line("\"u15\"", "\"i15\"", "\"view\"", "\"2015-06-02T05:02:12Z\"");
  in += "{\"event\":{\"name\":\"view\",\"ts\":\"2015-06-02T05:0"; // truncated last
  auto r = normalize_text(pixel, in);
  ASSERT_TRUE(r.st);
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[1].user, "u15");
  EXPECT_EQ(count(r, reject_reason::bad_timestamp), 1u);
  EXPECT_EQ(count(r, reject_reason::unknown_type), 1u);
  EXPECT_EQ(count(r, reject_reason::missing_field), 2u);
  EXPECT_EQ(count(r, reject_reason::wrong_field_type), 3u); // object, 1.5, [1,2]
  EXPECT_EQ(count(r, reject_reason::id_too_long), 1u);
  EXPECT_EQ(count(r, reject_reason::invalid_utf8), 1u);
  EXPECT_EQ(count(r, reject_reason::too_deep), 1u);
  EXPECT_EQ(count(r, reject_reason::bad_value), 1u);
  EXPECT_EQ(count(r, reject_reason::empty_id), 1u);
  EXPECT_EQ(count(r, reject_reason::line_too_long), 1u);
  EXPECT_EQ(count(r, reject_reason::malformed_json), 1u);
  EXPECT_EQ(r.stats.skipped_lines, 2u);
  EXPECT_EQ(r.rejects.back().line, 18u);
}

TEST(jsonl, filters_count_rows_instead_of_dropping_them_silently) {
  auto r = normalize_text(pixel,
                          line("\"u1\"", "\"i1\"", "\"view\"", "\"2015-06-02\"") +
                            "{\"event\":{\"name\":\"view\",\"ts\":\"2015-06-02\"},"
                            "\"visitor\":{\"id\":\"b\",\"bot\":true},"
                            "\"product\":{\"id\":\"i\"}}\n");
  EXPECT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.stats.filtered, 1u);
}

TEST(json_array, elements_across_lines_and_pretty_printing) {
  auto m = R"(
name = "arr"
format = "json_array"
[fields]
user = "/user"
item = "/item/id"
type = "/kind"
ts = { pointer = "/at", format = "epoch_s" }
)";
  std::string in = "  [\n  {\"user\": \"a\", \"item\": {\"id\": \"x\"}, \"kind\": "
                   "\"buy\", \"at\": 1433221332},\n"
                   "  {\"user\": \"b,]}\\\"\", \"item\": {\"id\": 7},\n"
                   "   \"kind\": \"PV\", \"at\": 1433221333.5},\n"
                   "  \"a bare string\", 12, {\"user\":\"c\"}\n ]\n";
  auto r = normalize_text(m, in);
  ASSERT_TRUE(r.st) << r.st.message();
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0], (event{"a", "x", 3, 1433221332000, 1.0f}));
  EXPECT_EQ(r.events[1], (event{"b,]}\"", "7", 1, 1433221333500, 1.0f}));
  ASSERT_EQ(r.rejects.size(), 3u);
  EXPECT_EQ(r.rejects[0].reason, reject_reason::wrong_field_type);
  EXPECT_EQ(r.rejects[2].reason, reject_reason::missing_field);
  EXPECT_EQ(in.substr(r.rejects[2].offset, 5), "{\"use");
}

TEST(json_array, truncated_array_keeps_complete_elements) {
  auto m = "name = \"arr\"\nformat = \"json_array\"\n[fields]\nuser = \"/u\"\n"
           "item = \"/i\"\ntype = \"/t\"\nts = \"/ts\"\n";
  auto r = normalize_text(m, "[{\"u\":\"a\",\"i\":\"x\",\"t\":\"view\",\"ts\":1433221332117},"
                             "{\"u\":\"b\",\"i\":\"y\",\"t\":\"vi");
  ASSERT_EQ(r.events.size(), 1u);
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].reason, reject_reason::malformed_json);
  auto empty = normalize_text(m, "[]");
  EXPECT_TRUE(empty.st);
  EXPECT_EQ(empty.stats.records, 0u);
  auto not_array = normalize_text(m, "{\"u\":1}");
  ASSERT_FALSE(not_array.st);
  EXPECT_NE(not_array.st.message().find("jsonl"), std::string::npos);
}

TEST(json_array, element_longer_than_limit_is_skipped) {
  auto m = "name = \"arr\"\nformat = \"json_array\"\n[fields]\nuser = \"/u\"\n"
           "item = \"/i\"\ntype = \"/t\"\nts = \"/ts\"\n[limits]\nmax_line_bytes = 100\n";
  std::string big = "{\"u\":\"" + std::string(3u << 20, 'x') + "\",\"n\":[{}]}";
  auto r = normalize_text(m, "[" + big + ",{\"u\":\"a\",\"i\":\"x\",\"t\":\"view\","
                                         "\"ts\":1433221332117}]");
  ASSERT_TRUE(r.st) << r.st.message();
  ASSERT_EQ(r.events.size(), 1u);
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].reason, reject_reason::line_too_long);
}

// CSV reading and normalization: every mapping feature and every reject reason.
#include "test_util.hpp"

#include "schema/csv.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <zlib.h>

using namespace eddy;
using test::normalize_text;

namespace {

const std::string rr_mapping = R"(
name = "rr"
format = "csv"
[fields]
user = { column = "visitorid" }
item = { column = "itemid" }
type = { column = "event" }
ts   = { column = "timestamp", format = "epoch_ms" }
)";

const std::string rr_header = "timestamp,visitorid,event,itemid,transactionid\n";

// Hands out at most `step` bytes per read, so records straddle every refill.
class trickle_source final : public byte_source {
public:
  trickle_source(std::string data, std::size_t step)
    : data_(std::move(data)), step_(step) {
    name_ = "trickle";
  }
  std::ptrdiff_t read(char* dst, std::size_t n) override {
    n = std::min({n, step_, data_.size() - pos_});
    std::memcpy(dst, data_.data() + pos_, n);
    pos_ += n;
    return static_cast<std::ptrdiff_t>(n);
  }
  std::uint64_t consumed() const override { return pos_; }

private:
  std::string data_;
  std::size_t step_;
  std::size_t pos_ = 0;
};

std::size_t count(const test::run_result& r, reject_reason why) {
  return r.stats.rejects[static_cast<std::size_t>(why)];
}

} // namespace

TEST(csv, header_names_and_fields) {
  auto r = normalize_text(rr_mapping, rr_header +
                                        "1433221332117,257597,view,355908,\n"
                                        "1433224214164,992329,addtocart,248676,\n"
                                        "1433221999827,111016,transaction,7943,123\n");
  ASSERT_TRUE(r.st) << r.st.message();
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.events[0], (event{"257597", "355908", 1, 1433221332117, 1.0f}));
  EXPECT_EQ(r.events[1].type, 2); // addtocart -> cart
  EXPECT_EQ(r.events[2].type, 3); // transaction -> purchase
  EXPECT_TRUE(r.rejects.empty());
}

TEST(csv, columns_in_any_order_and_by_index) {
  auto r = normalize_text(rr_mapping, "event,itemid,visitorid,timestamp\n"
                                      "view,i1,u1,1433221332117\n");
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].user, "u1");
  auto by_index = normalize_text(R"(
name = "idx"
format = "csv"
[csv]
header = false
delimiter = "\t"
[fields]
user = { column = 2 }
item = { column = 0 }
type = { column = 1 }
ts = { column = 3, format = "epoch_s" }
)",
                                 "i1\tview\tu1\t1433221332\n");
  ASSERT_EQ(by_index.events.size(), 1u);
  EXPECT_EQ(by_index.events[0], (event{"u1", "i1", 1, 1433221332000, 1.0f}));
}

TEST(csv, rfc4180_quoting_crlf_comments_blank_lines_bom) {
  auto m = R"(
name = "q"
format = "csv"
[csv]
delimiter = ";"
comment = "#"
[fields]
user = { column = "u" }
item = { column = "i" }
type = { column = "t" }
ts = { column = "ts", format = "epoch_ms" }
)";
  std::string in = "\xEF\xBB\xBFu;i;t;ts\r\n"
                   "# a comment line\r\n"
                   "\r\n"
                   "\"a;b\";\"say \"\"hi\"\"\";view;1000\r\n"
                   "\"multi\nline\";x;\"cart\";2000\r\n"
                   "\n"
                   "plain;\"\";view;3000\r\n" // empty quoted item: a reject
                   "last;y;view;4000";       // no final newline
  auto r = normalize_text(m, in);
  ASSERT_TRUE(r.st) << r.st.message();
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.events[0].user, "a;b");
  EXPECT_EQ(r.events[0].item, "say \"hi\"");
  EXPECT_EQ(r.events[1].user, "multi\nline");
  EXPECT_EQ(r.events[1].type, 2);
  EXPECT_EQ(r.events[2], (event{"last", "y", 1, 4000, 1.0f}));
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].reason, reject_reason::empty_id);
  EXPECT_EQ(r.rejects[0].line, 8u); // header 1, comment 2, blank 3, a;b 4, multi 5-6, blank 7
  EXPECT_EQ(r.stats.skipped_lines, 3u);
}

TEST(csv, one_reject_per_bad_row_and_every_good_row_kept) {
  std::string long_id(300, 'x');
  std::string in = rr_header +
                   "1433221332117,u1,view,i1,\n"          // 2 good
                   "notatime,u2,view,i2,\n"               // 3 bad_timestamp
                   "1433221332117,u3,teleport,i3,\n"      // 4 unknown_type
                   "1433221332117,u4,view\n"              // 5 missing_field
                   "1433221332117," + long_id + ",view,i5,\n" // 6 id_too_long
                   "1433221332117,u\xff\xfe,view,i6,\n"    // 7 invalid_utf8
                   "1433221332117,,view,i7,\n"            // 8 empty_id
                   "1433221332117,\"u8,view,i8,\n"        // 9.. unterminated quote
                   ;
  auto r = normalize_text(rr_mapping, in);
  ASSERT_TRUE(r.st);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(count(r, reject_reason::bad_timestamp), 1u);
  EXPECT_EQ(count(r, reject_reason::unknown_type), 1u);
  EXPECT_EQ(count(r, reject_reason::missing_field), 1u);
  EXPECT_EQ(count(r, reject_reason::id_too_long), 1u);
  EXPECT_EQ(count(r, reject_reason::invalid_utf8), 1u);
  EXPECT_EQ(count(r, reject_reason::empty_id), 1u);
  EXPECT_EQ(count(r, reject_reason::malformed_csv), 1u);
  ASSERT_EQ(r.rejects.size(), 7u);
  std::uint64_t line = 3;
  for (auto& rj : r.rejects)
    EXPECT_EQ(rj.line, line++) << reason_name(rj.reason);
  EXPECT_EQ(r.rejects[0].raw, "notatime,u2,view,i2,");
  EXPECT_NE(r.rejects[0].detail.find("fields.ts"), std::string::npos);
  EXPECT_NE(r.rejects[2].detail.find("3 columns"), std::string::npos);
}

TEST(csv, truncated_last_line_is_one_reject) {
  auto r = normalize_text(rr_mapping, rr_header +
                                        "1433221332117,u1,view,i1,\n"
                                        "1433221332118,u2,vi");
  ASSERT_EQ(r.events.size(), 1u);
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].reason, reject_reason::missing_field);
  EXPECT_EQ(r.rejects[0].raw, "1433221332118,u2,vi");
}

TEST(csv, text_after_closing_quote_rejects_only_that_row) {
  auto r = normalize_text(rr_mapping, rr_header +
                                        "1433221332117,\"u1\"x,view,i1,\n"
                                        "1433221332117,u2,view,i2,\n");
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].user, "u2");
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].reason, reject_reason::malformed_csv);
  EXPECT_EQ(r.rejects[0].line, 2u);
}

TEST(csv, line_length_limit) {
  auto m = rr_mapping + "[limits]\nmax_line_bytes = 100\n";
  std::string huge = "1433221332117,u," + std::string(5000, 'v') + ",i,\n";
  auto r = normalize_text(m, rr_header + "1433221332117,u1,view,i1,\n" + huge +
                               "1433221332117,u3,view,i3,\n");
  ASSERT_EQ(r.events.size(), 2u);
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].reason, reject_reason::line_too_long);
  EXPECT_EQ(r.rejects[0].line, 3u);
  EXPECT_EQ(r.events[1].user, "u3");
}

TEST(csv, over_long_record_larger_than_the_buffer_is_skipped) {
  auto m = rr_mapping + "[limits]\nmax_line_bytes = 100\n";
  std::string huge = "1433221332117,u," + std::string(3u << 20, 'v') + ",i,\n";
  auto r = normalize_text(m, rr_header + huge + "1433221332117,u3,view,i3,\n");
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].user, "u3");
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].reason, reject_reason::line_too_long);
}

TEST(csv, header_missing_a_column_is_an_error_naming_it) {
  auto r = normalize_text(rr_mapping, "timestamp,visitor,event,itemid\n1,2,view,3\n");
  ASSERT_FALSE(r.st);
  EXPECT_NE(r.st.message().find("no column 'visitorid'"), std::string::npos)
    << r.st.message();
  EXPECT_NE(r.st.message().find("timestamp, visitor, event, itemid"),
            std::string::npos);
}

TEST(csv, same_result_whatever_the_read_sizes) {
  std::string in = rr_header;
  for (int i = 0; i < 2000; ++i) {
    in += std::to_string(1433221332117 + i) + ",";
    auto n = std::to_string(i);
    if (i % 7 == 0)
      in.append("\"u,\"\"").append(n).append("\"");
    else
      in.append("u").append(n);
    in += (i % 11 == 0) ? ",cart," : ",view,";
    if (i % 13 == 0)
      in += "\"multi\nline\"";
    else
      in.append("i").append(std::to_string(i % 50));
    in += (i % 5 == 0) ? ",\r\n" : ",\n";
    if (i % 97 == 0)
      in += "garbage line\n";
  }
  auto whole = normalize_text(rr_mapping, in);
  ASSERT_EQ(whole.events.size(), 2000u);
  auto m = *parse_mapping(rr_mapping, "m");
  for (std::size_t step : {1u, 2u, 3u, 7u, 64u, 4093u}) {
    auto n = normalizer::make(m, test::registry());
    trickle_source src{in, step};
    test::collector c;
    normalize_stats st;
    ASSERT_TRUE(n->run(src, c, c, st));
    ASSERT_EQ(c.events, whole.events) << "step " << step;
    ASSERT_EQ(c.rejects.size(), whole.rejects.size()) << "step " << step;
    for (std::size_t i = 0; i < c.rejects.size(); ++i)
      EXPECT_EQ(c.rejects[i].line, whole.rejects[i].line);
  }
}

TEST(csv, gzip_input_and_truncated_gzip) {
  auto dir = std::filesystem::path{::testing::TempDir()} / "eddy_csv_gz";
  std::filesystem::create_directories(dir);
  std::string body = rr_header;
  for (int i = 0; i < 50000; ++i)
    body += "1433221332117,u" + std::to_string(i) + ",view,i" +
            std::to_string(i % 100) + ",\n";
  auto path = (dir / "events.csv.gz").string();
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  ASSERT_EQ(gzwrite(gz, body.data(), static_cast<unsigned>(body.size())),
            static_cast<int>(body.size()));
  gzclose(gz);

  auto m = *parse_mapping(rr_mapping, "m");
  auto n = normalizer::make(m, test::registry());
  {
    auto src = open_byte_source(path);
    ASSERT_TRUE(src);
    test::collector c;
    normalize_stats st;
    ASSERT_TRUE(n->run(**src, c, c, st));
    EXPECT_EQ(c.events.size(), 50000u);
    EXPECT_EQ(st.bytes, std::filesystem::file_size(path));
  }
  // Cut the file in half: an error that says so, and the rows before it kept.
  auto cut = (dir / "cut.csv.gz").string();
  {
    std::ifstream in{path, std::ios::binary};
    std::string bytes{std::istreambuf_iterator<char>(in), {}};
    std::ofstream out{cut, std::ios::binary};
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  auto src = open_byte_source(cut);
  ASSERT_TRUE(src);
  test::collector c;
  normalize_stats st;
  auto s = n->run(**src, c, c, st);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
  EXPECT_GT(c.events.size(), 1000u);
  EXPECT_LT(c.events.size(), 50000u);
}

TEST(csv, missing_file_error_names_it) {
  auto src = open_byte_source("/nonexistent/x.csv");
  ASSERT_FALSE(src);
  EXPECT_NE(src.err().message.find("/nonexistent/x.csv"), std::string::npos);
}

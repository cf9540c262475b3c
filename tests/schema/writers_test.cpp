// Output writers and the dead-letter format.
#include "test_util.hpp"

#include "schema/wire.hpp"
#include "schema/writers.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace eddy;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string temp(const std::string& name) {
  auto dir = std::filesystem::path{::testing::TempDir()} / "eddy_writers";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

std::vector<event> sample() {
  return {{"u1", "i1", 1, 1000, 1.0f},
          {"u,2", "i \"2\"", 3, 2000, 2.5f},
          {"ü\n3", "i3", 6, 3000, 0.5f}};
}

void write_all(const std::string& path, output_format f, std::size_t batch = 4096) {
  writer_options o;
  o.format = f;
  o.batch_events = batch;
  auto w = open_writer(path, o, test::registry());
  ASSERT_TRUE(w) << w.err().message;
  for (auto& e : sample())
    (*w)->on_event(e);
  std::string why;
  ASSERT_TRUE((*w)->finish(&why)) << why;
}

} // namespace

TEST(writers, csv_quotes_where_needed) {
  auto path = temp("out.csv");
  write_all(path, output_format::csv);
  EXPECT_EQ(slurp(path), "user,item,type,ts,value\n"
                         "u1,i1,view,1000,1\n"
                         "\"u,2\",\"i \"\"2\"\"\",purchase,2000,2.5\n"
                         "\"ü\n3\",i3,rate,3000,0.5\n");
}

TEST(writers, jsonl_escapes_strings) {
  auto path = temp("out.jsonl");
  write_all(path, output_format::jsonl);
  EXPECT_EQ(slurp(path),
            "{\"user\":\"u1\",\"item\":\"i1\",\"type\":\"view\",\"ts\":1000,\"value\":1}\n"
            "{\"user\":\"u,2\",\"item\":\"i \\\"2\\\"\",\"type\":\"purchase\",\"ts\":2000,"
            "\"value\":2.5}\n"
            "{\"user\":\"ü\\n3\",\"item\":\"i3\",\"type\":\"rate\",\"ts\":3000,\"value\":0.5}\n");
}

TEST(writers, msgpack_stream_is_a_sequence_of_wire_frames) {
  auto path = temp("out.msgpack");
  write_all(path, output_format::msgpack, 2); // two frames: 2 + 1 events
  auto bytes = slurp(path);
  std::vector<event> got;
  std::vector<std::uint64_t> seqs;
  std::string_view rest{bytes};
  while (!rest.empty()) {
    auto len = wire::frame_length(rest, wire::limits{});
    ASSERT_TRUE(len) << len.err().message;
    ASSERT_GT(*len, 0u);
    auto b = wire::decode_batch(rest.substr(0, *len), wire::limits{}, &test::registry());
    ASSERT_TRUE(b) << b.err().message;
    EXPECT_TRUE(b->rejects.empty());
    seqs.push_back(b->seq);
    got.insert(got.end(), b->events.begin(), b->events.end());
    rest.remove_prefix(*len);
  }
  EXPECT_EQ(got, sample());
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{1, 2}));
}

TEST(writers, format_names_and_extensions) {
  EXPECT_EQ(parse_output_format("jsonl"), output_format::jsonl);
  EXPECT_FALSE(parse_output_format("xml"));
  EXPECT_EQ(output_format_of_path("a/b.msgpack"), output_format::msgpack);
  EXPECT_EQ(output_format_of_path("x.csv"), output_format::csv);
  EXPECT_FALSE(output_format_of_path("x.bin"));
  auto bad = open_writer("/nonexistent/dir/x.csv", {}, test::registry());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.err().message.find("/nonexistent/dir/x.csv"), std::string::npos);
}

TEST(dead_letter, records_carry_source_position_raw_and_reason) {
  std::string line;
  format_reject({"f.csv", 7, 120, "a,\"b\",c\td", reject_reason::bad_timestamp,
                 "fields.ts: not a number"},
                4096, line);
  EXPECT_EQ(line, "{\"source\":\"f.csv\",\"line\":7,\"offset\":120,\"reason\":"
                  "\"bad_timestamp\",\"detail\":\"fields.ts: not a number\","
                  "\"raw\":\"a,\\\"b\\\",c\\td\"}");
  line.clear();
  format_reject({"f.csv", 0, 5, "u\xff\xfe", reject_reason::invalid_utf8, "x"}, 4096,
                line);
  EXPECT_NE(line.find("\"raw_base64\":\"df/+\""), std::string::npos) << line;
  EXPECT_EQ(line.find("\"line\""), std::string::npos);
  line.clear();
  format_reject({"f", 1, 0, std::string(100, 'x') + "é", reject_reason::line_too_long,
                 ""},
                101, line);
  EXPECT_NE(line.find("\"raw\":\"" + std::string(100, 'x') + "\""), std::string::npos);
  EXPECT_NE(line.find("\"raw_truncated\":true"), std::string::npos);
}

TEST(writers, streamed_frame_equals_encode_batch) {
  auto events = sample();
  std::vector<event_view> views(events.begin(), events.end());
  std::string whole, streamed;
  wire::encode_batch("p", 9, views, whole);
  wire::encode_batch_header("p", 9, views.size(), streamed);
  for (auto& v : views)
    wire::encode_event(v, streamed);
  EXPECT_EQ(whole, streamed);
}

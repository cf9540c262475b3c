// The shard log (cluster/SHARD_LOG.md): append + replay, dedupe, segment
// rollover, torn tails at every byte, corruption, fsync policies, scan, and a
// process kill.
#include "cluster/shard_log.hpp"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace eddy;
using namespace eddy::cluster;
namespace fs = std::filesystem;

namespace {

/// This process's scratch folder under gtest's temp folder, removed at the end.
fs::path scratch_root() {
  return fs::path{::testing::TempDir()} /
         ("eddy_shard_log-" + std::to_string(::getpid()));
}

class scratch_cleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(scratch_root(), ec);
  }
};

[[maybe_unused]] auto* const cleanup =
    ::testing::AddGlobalTestEnvironment(new scratch_cleanup);

/// A fresh, empty folder per test (and per call).
std::string fresh_dir(const std::string& tag = "") {
  static std::atomic<int> counter{0};
  auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string{info->test_suite_name()} + "." + info->name();
  std::replace(name.begin(), name.end(), '/', '_');
  auto dir = scratch_root() / (name + "-" + std::to_string(counter++) + tag);
  fs::remove_all(dir);
  return dir.string();
}

shard_log_options options(const std::string& dir,
                          fsync_policy p = fsync_policy::none,
                          std::uint64_t segment_bytes = 64u << 20,
                          std::uint32_t window = 65536) {
  shard_log_options o;
  o.dir = dir;
  o.log.fsync = p;
  o.log.segment_bytes = segment_bytes;
  o.log.dedupe_window = window;
  return o;
}

/// Deterministic events of batch `seq` (values other than 1.0 on odd events).
std::vector<event> make_events(std::uint64_t seq, std::size_t n) {
  std::vector<event> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back({"user-" + std::to_string(seq) + "-" + std::to_string(i),
                   "item-" + std::to_string((seq * 7 + i) % 13),
                   static_cast<type_id>(1 + i % 3),
                   1700000000000 + static_cast<std::int64_t>(seq * 1000 + i),
                   i % 2 ? 2.5f : 1.0f});
  return out;
}

struct stored {
  std::string producer;
  std::uint64_t seq = 0;
  std::vector<event> events;
  friend bool operator==(const stored&, const stored&) = default;
};

std::ostream& operator<<(std::ostream& os, const stored& s) {
  return os << s.producer << "/" << s.seq << " (" << s.events.size()
            << " events)";
}

shard_log::replay_fn collect(std::vector<stored>& out) {
  return [&out](const wire::batch& b) {
    EXPECT_TRUE(b.rejects.empty());
    out.push_back({b.producer, b.seq, b.events});
  };
}

/// One record as SHARD_LOG.md describes it, written by hand: length, checksum
/// (format 1: zlib's crc32; format 2: the low 32 bits of XXH3-64), payload.
std::string record(int format, const std::string& payload) {
  std::uint32_t sum = 0;
  if (format == 1) {
    std::uint32_t c = 0xffffffffu;
    for (unsigned char ch : payload) {
      c ^= ch;
      for (int k = 0; k < 8; ++k)
        c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    sum = ~c;
  } else {
    sum = static_cast<std::uint32_t>(XXH3_64bits(payload.data(), payload.size()));
  }
  std::string out;
  auto len = static_cast<std::uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i)
    out += static_cast<char>(len >> (8 * i));
  for (int i = 0; i < 4; ++i)
    out += static_cast<char>(sum >> (8 * i));
  return out + payload;
}

expected<shard_log::append_result>
append(shard_log& log, const std::string& producer, std::uint64_t seq,
       std::size_t n, std::vector<stored>* expect = nullptr) {
  auto evs = make_events(seq, n);
  std::vector<event_view> views(evs.begin(), evs.end());
  auto r = log.append(producer, seq, views);
  if (expect && r && *r == shard_log::append_result::appended)
    expect->push_back({producer, seq, std::move(evs)});
  return r;
}

/// Opens and asserts success; replayed batches go to `out`.
std::unique_ptr<shard_log> open_ok(const shard_log_options& o,
                                   std::vector<stored>* out = nullptr,
                                   replay_stats* st = nullptr) {
  std::vector<stored> ignored;
  auto log = shard_log::open(o, collect(out ? *out : ignored), st);
  EXPECT_TRUE(log) << (log ? "" : log.err().message);
  return log ? std::move(*log) : nullptr;
}

std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator{dir})
    if (e.path().extension() == ".seg") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void flip_byte(const std::string& path, std::uint64_t offset) {
  auto bytes = slurp(path);
  ASSERT_LT(offset, bytes.size());
  bytes[offset] = static_cast<char>(bytes[offset] ^ 0x5a);
  spit(path, bytes);
}

std::string policy_name(fsync_policy p) {
  switch (p) {
  case fsync_policy::per_batch:
    return "per_batch";
  case fsync_policy::group:
    return "group";
  case fsync_policy::none:
    return "none";
  }
  return "unknown";
}

constexpr std::uint64_t header_bytes = 8;  // "EDDYSEG" + format byte
constexpr std::uint64_t record_header = 8; // length + crc32

} // namespace

TEST(shard_log, append_and_reopen_replays_in_order) {
  auto dir = fresh_dir();
  std::vector<stored> expect;
  std::uint64_t bytes = 0, events = 0;
  {
    replay_stats st;
    auto log = open_ok(options(dir), nullptr, &st);
    ASSERT_TRUE(log);
    EXPECT_EQ(st.batches, 0u);
    EXPECT_EQ(log->bytes(), header_bytes);
    for (std::uint64_t seq = 0; seq < 10; ++seq) {
      auto r =
          append(*log, seq % 2 ? "p-odd" : "p-even", seq, seq * 3, &expect);
      ASSERT_TRUE(r) << r.err().message;
      EXPECT_EQ(*r, shard_log::append_result::appended);
    }
    EXPECT_EQ(log->batches(), 10u);
    bytes = log->bytes();
    events = log->events();
    EXPECT_EQ(events, 3u * 45);
    EXPECT_EQ(bytes, fs::file_size(segment_files(dir).at(0)));
  }
  std::vector<stored> got;
  replay_stats st;
  auto log = open_ok(options(dir), &got, &st);
  ASSERT_TRUE(log);
  EXPECT_EQ(got, expect);
  EXPECT_EQ(st.segments, 1u);
  EXPECT_EQ(st.batches, 10u);
  EXPECT_EQ(st.events, events);
  EXPECT_EQ(st.bytes, bytes);
  EXPECT_EQ(st.truncated_bytes, 0u);
  EXPECT_EQ(log->bytes(), bytes);
  EXPECT_EQ(log->events(), events);
  EXPECT_EQ(log->batches(), 10u);
}

TEST(shard_log, duplicates_are_not_stored_twice_also_after_reopen) {
  auto dir = fresh_dir();
  {
    auto log = open_ok(options(dir));
    ASSERT_TRUE(log);
    EXPECT_EQ(*append(*log, "p1", 1, 4), shard_log::append_result::appended);
    auto bytes = log->bytes();
    EXPECT_TRUE(log->contains("p1", 1));
    EXPECT_EQ(*append(*log, "p1", 1, 4), shard_log::append_result::duplicate);
    EXPECT_EQ(log->bytes(), bytes) << "a duplicate writes nothing";
    EXPECT_EQ(log->batches(), 1u);
    EXPECT_EQ(log->events(), 4u);
  }
  std::vector<stored> got;
  auto log = open_ok(options(dir), &got);
  ASSERT_TRUE(log);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(log->contains("p1", 1));
  EXPECT_FALSE(log->contains("p1", 2));
  EXPECT_FALSE(log->contains("p2", 1));
  EXPECT_EQ(*append(*log, "p1", 1, 4), shard_log::append_result::duplicate);
  EXPECT_EQ(*append(*log, "p1", 2, 4), shard_log::append_result::appended);
  EXPECT_EQ(log->batches(), 2u);
}

TEST(shard_log, different_producers_with_the_same_seq_are_both_stored) {
  auto dir = fresh_dir();
  std::vector<stored> expect;
  {
    auto log = open_ok(options(dir));
    ASSERT_TRUE(log);
    EXPECT_EQ(*append(*log, "p1", 5, 2, &expect),
              shard_log::append_result::appended);
    EXPECT_EQ(*append(*log, "p2", 5, 3, &expect),
              shard_log::append_result::appended);
    EXPECT_EQ(log->batches(), 2u);
  }
  std::vector<stored> got;
  auto log = open_ok(options(dir), &got);
  EXPECT_EQ(got, expect);
}

TEST(shard_log, seq_older_than_the_window_is_a_duplicate) {
  auto dir = fresh_dir();
  auto opt = options(dir, fsync_policy::none, 64u << 20, /*window=*/4);
  using r = shard_log::append_result;
  {
    auto log = open_ok(opt);
    ASSERT_TRUE(log);
    EXPECT_EQ(*append(*log, "p", 10, 1), r::appended);
    EXPECT_TRUE(log->contains("p", 6)) << "10 - 6 >= window: taken as stored";
    EXPECT_EQ(*append(*log, "p", 6, 1), r::duplicate);
    EXPECT_FALSE(log->contains("p", 7)) << "inside the window and never seen";
    EXPECT_EQ(*append(*log, "p", 7, 1), r::appended);
    EXPECT_EQ(*append(*log, "p", 7, 1), r::duplicate);
    EXPECT_FALSE(log->contains("p", 8));
    // A jump ahead by more than the window forgets the old bitmap.
    EXPECT_EQ(*append(*log, "p", 1000, 1), r::appended);
    EXPECT_FALSE(log->contains("p", 999));
    EXPECT_TRUE(log->contains("p", 996));
    EXPECT_EQ(*append(*log, "p", 998, 1), r::appended);
    EXPECT_EQ(log->batches(), 4u);
  }
  std::vector<stored> got;
  auto log = open_ok(opt, &got);
  ASSERT_TRUE(log);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(*append(*log, "p", 998, 1), r::duplicate) << "rebuilt on replay";
  EXPECT_EQ(*append(*log, "p", 1000, 1), r::duplicate);
  EXPECT_EQ(*append(*log, "p", 6, 1), r::duplicate);
  EXPECT_FALSE(log->contains("p", 999));
  EXPECT_EQ(*append(*log, "p", 999, 1), r::appended);
}

TEST(shard_log, segments_roll_over_and_replay_across_them) {
  auto dir = fresh_dir();
  // A 10-event batch is ~400 bytes: three records per 1300-byte segment.
  auto opt = options(dir, fsync_policy::group, 1300);
  std::vector<stored> expect;
  {
    auto log = open_ok(opt);
    ASSERT_TRUE(log);
    for (std::uint64_t seq = 0; seq < 20; ++seq)
      ASSERT_TRUE(append(*log, "p", seq, 10, &expect));
    // One record larger than a segment gets a segment of its own.
    ASSERT_TRUE(append(*log, "p", 20, 100, &expect));
    ASSERT_TRUE(append(*log, "p", 21, 1, &expect));
  }
  auto files = segment_files(dir);
  ASSERT_GT(files.size(), 3u);
  EXPECT_EQ(fs::path{files[0]}.filename(), "00000000000000000000.seg");
  // Names are the ordinal of their first batch; sizes stay within segment_bytes
  // unless one record alone is larger.
  std::vector<stored> got;
  replay_stats st;
  auto log = open_ok(opt, &got, &st);
  ASSERT_TRUE(log);
  EXPECT_EQ(got, expect);
  EXPECT_EQ(st.segments, files.size());
  std::uint64_t total = 0;
  std::uint64_t ordinal = 0;
  for (auto& f : files) {
    EXPECT_EQ(std::stoull(fs::path{f}.stem().string()), ordinal) << f;
    std::vector<stored> one;
    // Count records per file by reading it alone in a scratch log.
    auto scratch = fresh_dir("-scratch");
    fs::create_directories(scratch);
    fs::copy_file(f, fs::path{scratch} / "00000000000000000000.seg");
    auto part = open_ok(options(scratch), &one);
    ASSERT_TRUE(part);
    ASSERT_FALSE(one.empty());
    if (fs::file_size(f) > 1300) {
      EXPECT_EQ(one.size(), 1u) << f;
    }
    ordinal += one.size();
    total += fs::file_size(f);
  }
  EXPECT_EQ(ordinal, expect.size());
  EXPECT_EQ(total, log->bytes());
}

// Several parts in one call (what a shard actor does with the parts that arrived
// together): the same log as one call per part, whatever the fsync policy, with
// rolls inside the call, duplicates of stored parts and repeats inside the call.
TEST(shard_log, appending_many_parts_at_once_equals_one_by_one) {
  for (auto policy : {fsync_policy::none, fsync_policy::group, fsync_policy::per_batch}) {
    SCOPED_TRACE(static_cast<int>(policy));
    auto one_dir = fresh_dir("-one"), many_dir = fresh_dir("-many");
    // ~400-byte records: three per 1300-byte segment, so calls roll over.
    auto one_opt = options(one_dir, policy, 1300), many_opt = options(many_dir, policy, 1300);
    std::vector<std::vector<event>> evs;
    for (std::uint64_t seq = 0; seq < 12; ++seq)
      evs.push_back(make_events(seq, 10));
    std::vector<std::vector<event_view>> views;
    for (auto& e : evs)
      views.emplace_back(e.begin(), e.end());
    // Calls of parts by seq: 0 1 2 3 | 2 4 4 5 6 7 8 9 | 10 11 0 (repeats and duplicates).
    const std::vector<std::vector<std::uint64_t>> calls = {
      {0, 1, 2, 3}, {2, 4, 4, 5, 6, 7, 8, 9}, {10, 11, 0}};
    using r = shard_log::append_result;
    const std::vector<std::vector<r>> want = {
      {r::appended, r::appended, r::appended, r::appended},
      {r::duplicate, r::appended, r::duplicate, r::appended, r::appended, r::appended,
       r::appended, r::appended},
      {r::appended, r::appended, r::duplicate}};
    {
      auto one = open_ok(one_opt);
      auto many = open_ok(many_opt);
      ASSERT_TRUE(one && many);
      for (std::size_t c = 0; c < calls.size(); ++c) {
        std::vector<shard_log::part> parts;
        for (auto seq : calls[c]) {
          parts.push_back({"p", seq, views[seq]});
          auto single = one->append("p", seq, views[seq]);
          ASSERT_TRUE(single);
        }
        std::vector<r> got;
        ASSERT_TRUE(many->append(parts, got));
        EXPECT_EQ(got, want[c]) << "call " << c;
      }
      EXPECT_EQ(many->bytes(), one->bytes());
      EXPECT_EQ(many->batches(), one->batches());
      EXPECT_EQ(many->events(), one->events());
    }
    auto one_files = segment_files(one_dir), many_files = segment_files(many_dir);
    ASSERT_EQ(one_files.size(), many_files.size());
    ASSERT_GT(many_files.size(), 3u);
    for (std::size_t i = 0; i < one_files.size(); ++i)
      EXPECT_EQ(slurp(many_files[i]), slurp(one_files[i])) << many_files[i];
  }
}

TEST(shard_log, torn_tail_is_truncated_at_every_byte_of_the_last_record) {
  auto dir = fresh_dir();
  auto opt = options(dir);
  std::vector<stored> expect;
  std::uint64_t end2 = 0, end3 = 0;
  {
    auto log = open_ok(opt);
    ASSERT_TRUE(log);
    ASSERT_TRUE(append(*log, "p", 1, 3, &expect));
    ASSERT_TRUE(append(*log, "p", 2, 3, &expect));
    end2 = log->bytes();
    ASSERT_TRUE(append(*log, "p", 3, 3));
    end3 = log->bytes();
  }
  auto seg = segment_files(dir).at(0);
  auto pristine = slurp(seg);
  ASSERT_EQ(pristine.size(), end3);
  for (auto cut = end2 + 1; cut < end3; ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    spit(seg, pristine.substr(0, cut));
    {
      std::vector<stored> got;
      replay_stats st;
      auto log = open_ok(opt, &got, &st);
      ASSERT_TRUE(log);
      EXPECT_EQ(got, expect);
      EXPECT_EQ(st.truncated_bytes, cut - end2);
      EXPECT_EQ(fs::file_size(seg), end2);
      EXPECT_EQ(log->bytes(), end2);
      EXPECT_FALSE(log->contains("p", 3)) << "the torn batch was not stored";
      auto r = append(*log, "p", 4, 2);
      ASSERT_TRUE(r) << r.err().message;
      EXPECT_EQ(*r, shard_log::append_result::appended);
    }
    std::vector<stored> got;
    replay_stats st;
    auto log = open_ok(opt, &got, &st);
    ASSERT_TRUE(log);
    EXPECT_EQ(st.truncated_bytes, 0u);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[2].seq, 4u);
    EXPECT_EQ(got[2].events, make_events(4, 2));
  }
}

TEST(shard_log, corrupt_crc_in_the_last_record_is_truncated) {
  for (std::uint64_t where : {std::uint64_t{4}, record_header + 5}) {
    SCOPED_TRACE("flip at record offset " + std::to_string(where));
    auto dir = fresh_dir();
    auto opt = options(dir);
    std::vector<stored> expect;
    std::uint64_t end2 = 0, end3 = 0;
    {
      auto log = open_ok(opt);
      ASSERT_TRUE(log);
      ASSERT_TRUE(append(*log, "p", 1, 3, &expect));
      ASSERT_TRUE(append(*log, "p", 2, 3, &expect));
      end2 = log->bytes();
      ASSERT_TRUE(append(*log, "p", 3, 3));
      end3 = log->bytes();
    }
    auto seg = segment_files(dir).at(0);
    flip_byte(seg, end2 + where); // the crc field, then a payload byte
    std::vector<stored> got;
    replay_stats st;
    auto log = open_ok(opt, &got, &st);
    ASSERT_TRUE(log);
    EXPECT_EQ(got, expect);
    EXPECT_EQ(st.truncated_bytes, end3 - end2);
    EXPECT_EQ(fs::file_size(seg), end2);
  }
}

TEST(shard_log, corruption_in_a_non_last_segment_fails_open_naming_the_file) {
  auto dir = fresh_dir();
  auto opt = options(dir, fsync_policy::none, /*segment_bytes=*/1); // one each
  {
    auto log = open_ok(opt);
    ASSERT_TRUE(log);
    for (std::uint64_t seq = 0; seq < 3; ++seq)
      ASSERT_TRUE(append(*log, "p", seq, 3));
  }
  auto files = segment_files(dir);
  ASSERT_EQ(files.size(), 3u);
  auto size = fs::file_size(files[0]);
  flip_byte(files[0], header_bytes + record_header + 3);
  auto log = shard_log::open(opt, {}, nullptr);
  ASSERT_FALSE(log);
  EXPECT_NE(log.err().message.find(files[0]), std::string::npos)
      << log.err().message;
  EXPECT_NE(log.err().message.find("offset 8"), std::string::npos)
      << log.err().message;
  EXPECT_EQ(fs::file_size(files[0]), size) << "nothing truncated";
  EXPECT_EQ(segment_files(dir).size(), 3u);
}

TEST(shard_log, a_missing_segment_fails_open) {
  auto dir = fresh_dir();
  auto opt = options(dir, fsync_policy::none, 1);
  {
    auto log = open_ok(opt);
    ASSERT_TRUE(log);
    for (std::uint64_t seq = 0; seq < 3; ++seq)
      ASSERT_TRUE(append(*log, "p", seq, 1));
  }
  auto files = segment_files(dir);
  ASSERT_EQ(files.size(), 3u);
  fs::remove(files[1]);
  auto log = shard_log::open(opt, {}, nullptr);
  ASSERT_FALSE(log);
  EXPECT_NE(log.err().message.find(files[2]), std::string::npos)
      << log.err().message;
}

TEST(shard_log,
     a_checksummed_record_that_does_not_decode_is_an_error_not_a_tail) {
  // E.g. a frame of a newer wire version: truncating it would destroy data a
  // newer eddy wrote. The operator gets an error and the file stays as it is.
  auto dir = fresh_dir();
  auto opt = options(dir);
  {
    auto log = open_ok(opt);
    ASSERT_TRUE(log);
    ASSERT_TRUE(append(*log, "p", 1, 2));
  }
  auto seg = segment_files(dir).at(0);
  std::string payload = "\x02\x83\x00\xa1p\x01\x02\x02\x90"; // version 2
  payload.resize(9);
  auto bytes = slurp(seg) + record(2, payload);
  spit(seg, bytes);
  auto log = shard_log::open(opt, {}, nullptr);
  ASSERT_FALSE(log);
  EXPECT_NE(log.err().message.find(seg), std::string::npos)
      << log.err().message;
  EXPECT_NE(log.err().message.find("does not decode"), std::string::npos)
      << log.err().message;
  EXPECT_EQ(fs::file_size(seg), bytes.size());
}

TEST(shard_log, format_1_segments_are_read_and_appended_to_with_their_own_checksum) {
  // A log written by an eddy before format 2 (zlib crc32 records): replayed as it
  // is, and new records in its last segment keep that segment's checksum.
  auto dir = fresh_dir();
  auto opt = options(dir);
  fs::create_directories(dir);
  auto evs = make_events(1, 3);
  std::vector<event_view> views(evs.begin(), evs.end());
  std::string payload;
  wire::encode_batch("old", 1, views, payload);
  spit((fs::path{dir} / "00000000000000000000.seg").string(),
       std::string{"EDDYSEG\x01"} + record(1, payload));
  std::vector<stored> expect{{"old", 1, evs}};
  {
    std::vector<stored> got;
    auto log = shard_log::open(opt, collect(got), nullptr);
    ASSERT_TRUE(log) << log.err().message;
    EXPECT_EQ(got, expect);
    ASSERT_TRUE(append(**log, "new", 1, 2, &expect));
  }
  std::vector<stored> got;
  replay_stats st;
  auto log = shard_log::open(opt, collect(got), &st);
  ASSERT_TRUE(log) << log.err().message;
  EXPECT_EQ(got, expect);
  EXPECT_EQ(st.truncated_bytes, 0u);
  EXPECT_EQ(segment_files(dir).size(), 1u);
  EXPECT_EQ(slurp(segment_files(dir).at(0)).substr(0, 8), std::string{"EDDYSEG\x01"});
}

TEST(shard_log, a_short_header_of_the_last_segment_is_rewritten) {
  // A crash between creating a segment and writing its header.
  auto dir = fresh_dir();
  auto opt = options(dir, fsync_policy::none, 1);
  std::vector<stored> expect;
  {
    auto log = open_ok(opt);
    ASSERT_TRUE(log);
    ASSERT_TRUE(append(*log, "p", 0, 2, &expect));
    ASSERT_TRUE(append(*log, "p", 1, 2, &expect));
  }
  auto next = (fs::path{dir} / "00000000000000000002.seg").string();
  spit(next, "EDD");
  std::vector<stored> got;
  replay_stats st;
  {
    auto log = open_ok(opt, &got, &st);
    ASSERT_TRUE(log);
    EXPECT_EQ(got, expect);
    EXPECT_EQ(st.truncated_bytes, 3u);
    EXPECT_EQ(fs::file_size(next), header_bytes);
    ASSERT_TRUE(append(*log, "p", 2, 2, &expect));
  }
  got.clear();
  auto log = open_ok(opt, &got);
  EXPECT_EQ(got, expect);
}

class shard_log_fsync : public ::testing::TestWithParam<fsync_policy> {};

TEST_P(shard_log_fsync, every_policy_replays_everything_after_close) {
  auto dir = fresh_dir();
  auto opt = options(dir, GetParam(), 2000);
  std::vector<stored> expect;
  auto t0 = std::chrono::steady_clock::now();
  {
    auto log = open_ok(opt);
    ASSERT_TRUE(log);
    for (std::uint64_t seq = 0; seq < 20; ++seq) {
      ASSERT_TRUE(append(*log, "p", seq, 10, &expect));
      ASSERT_TRUE(log->sync_if_due(t0 + std::chrono::milliseconds{seq * 10}));
    }
    switch (GetParam()) {
    case fsync_policy::per_batch:
      EXPECT_EQ(log->syncs(), 20u);
      break;
    case fsync_policy::group:
      EXPECT_GE(log->syncs(), 20u);
      break; // + rolls
    case fsync_policy::none:
      EXPECT_EQ(log->syncs(), 0u);
      break;
    }
  }
  std::vector<stored> got;
  auto log = open_ok(opt, &got);
  EXPECT_EQ(got, expect);
}

INSTANTIATE_TEST_SUITE_P(policies, shard_log_fsync,
                         ::testing::Values(fsync_policy::per_batch,
                                           fsync_policy::group,
                                           fsync_policy::none),
                         [](const auto& p) { return policy_name(p.param); });

TEST(shard_log, group_commit_syncs_only_after_the_period) {
  using std::chrono::milliseconds;
  auto dir = fresh_dir();
  auto opt = options(dir, fsync_policy::group);
  opt.log.group_commit_ms = 5;
  auto log = open_ok(opt);
  ASSERT_TRUE(log);
  auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours{1};
  ASSERT_TRUE(log->sync_if_due(t0));
  EXPECT_EQ(log->syncs(), 0u) << "nothing appended, nothing to sync";
  ASSERT_TRUE(append(*log, "p", 1, 1));
  ASSERT_TRUE(log->sync_if_due(t0));
  EXPECT_EQ(log->syncs(), 1u) << "no sync yet: the first one is due at once";
  ASSERT_TRUE(append(*log, "p", 2, 1));
  ASSERT_TRUE(log->sync_if_due(t0 + milliseconds{4}));
  EXPECT_EQ(log->syncs(), 1u) << "4 ms < group_commit_ms";
  ASSERT_TRUE(log->sync_if_due(t0 + milliseconds{5}));
  EXPECT_EQ(log->syncs(), 2u);
  ASSERT_TRUE(log->sync_if_due(t0 + milliseconds{50}));
  EXPECT_EQ(log->syncs(), 2u) << "nothing new since the last sync";
  ASSERT_TRUE(append(*log, "p", 3, 1));
  ASSERT_TRUE(log->sync_if_due(t0 + milliseconds{9}));
  EXPECT_EQ(log->syncs(), 2u) << "4 ms since the last sync at +5";
  ASSERT_TRUE(log->sync_if_due(t0 + milliseconds{10}));
  EXPECT_EQ(log->syncs(), 3u);
  ASSERT_TRUE(append(*log, "p", 4, 1));
  ASSERT_TRUE(log->sync());
  EXPECT_EQ(log->syncs(), 4u) << "an explicit sync() does not wait";
  ASSERT_TRUE(log->sync());
  EXPECT_EQ(log->syncs(), 4u) << "and does nothing when clean";
}

TEST(shard_log, scan_returns_the_same_as_replay) {
  auto dir = fresh_dir();
  auto opt = options(dir, fsync_policy::none, 1500);
  std::vector<stored> expect;
  {
    auto log = open_ok(opt);
    ASSERT_TRUE(log);
    // (Not "p" + to_string(): GCC 12 warns falsely, -Wrestrict, on that.)
    const std::string producers[] = {"p0", "p1", "p2"};
    for (std::uint64_t seq = 0; seq < 12; ++seq)
      ASSERT_TRUE(append(*log, producers[seq % 3], seq, seq, &expect));
  }
  std::vector<stored> replayed;
  auto log = open_ok(opt, &replayed);
  ASSERT_TRUE(log);
  std::vector<stored> scanned;
  ASSERT_TRUE(log->scan(collect(scanned)));
  EXPECT_EQ(scanned, replayed);
  EXPECT_EQ(scanned, expect);
  // Appends after open are scanned too.
  ASSERT_TRUE(append(*log, "p9", 99, 5, &expect));
  scanned.clear();
  auto ok = log->scan(collect(scanned));
  ASSERT_TRUE(ok) << ok.message();
  EXPECT_EQ(scanned, expect);
}

TEST(shard_log, a_folder_under_a_plain_file_gives_an_error_naming_it) {
  auto base = fresh_dir();
  fs::create_directories(base);
  spit(base + "/plain-file", "x");
  auto under_file = base + "/plain-file/shard-0";
  auto log = shard_log::open(options(under_file), {}, nullptr);
  ASSERT_FALSE(log);
  EXPECT_NE(log.err().message.find(under_file), std::string::npos)
      << log.err().message;
}

TEST(shard_log, an_unwritable_folder_gives_an_error_naming_it) {
  // Root ignores folder permissions, so as root the opens run in a child that
  // drops to "nobody" first; the messages come back through a pipe.
  auto base = fresh_dir();
  auto locked = base + "/read-only";
  fs::create_directories(locked);
  ::chmod(base.c_str(), 0755);
  ::chmod(locked.c_str(), 0555);
  for (auto p = fs::path{base}; p.has_relative_path(); p = p.parent_path())
    if (::geteuid() == 0 && p.string().size() > ::testing::TempDir().size())
      ::chmod(p.c_str(), 0755); // nobody must be able to reach `locked`
  auto try_open = [&](const std::string& dir) {
    auto log = shard_log::open(options(dir), {}, nullptr);
    return log ? std::string{"opened"} : log.err().message;
  };
  std::vector<std::string> msgs;
  if (::geteuid() != 0) {
    msgs = {try_open(locked + "/shard-0"), try_open(locked)};
  } else {
    int pipefd[2];
    ASSERT_EQ(::pipe(pipefd), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(pipefd[0]);
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
      auto out = try_open(locked + "/shard-0") + "\n" + try_open(locked) + "\n";
      (void)!::write(pipefd[1], out.data(), out.size());
      ::_exit(0);
    }
    ::close(pipefd[1]);
    std::string out;
    char buf[512];
    for (ssize_t r; (r = ::read(pipefd[0], buf, sizeof buf)) > 0;)
      out.append(buf, static_cast<std::size_t>(r));
    ::close(pipefd[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
    std::istringstream lines{out};
    for (std::string line; std::getline(lines, line);)
      msgs.push_back(line);
  }
  ::chmod(locked.c_str(), 0755);
  ASSERT_EQ(msgs.size(), 2u);
  for (auto& m : msgs) {
    EXPECT_NE(m, "opened");
    EXPECT_NE(m.find(locked), std::string::npos) << m;
  }
}

TEST(shard_log, a_second_open_of_the_same_folder_is_refused) {
  auto dir = fresh_dir();
  auto first = open_ok(options(dir));
  ASSERT_TRUE(first);
  auto second = shard_log::open(options(dir), {}, nullptr);
  ASSERT_FALSE(second);
  EXPECT_NE(second.err().message.find(dir), std::string::npos)
      << second.err().message;
  first.reset();
  EXPECT_TRUE(open_ok(options(dir)));
}

TEST(shard_log, a_producer_name_that_could_not_be_read_back_is_refused) {
  auto log = open_ok(options(fresh_dir()));
  ASSERT_TRUE(log);
  EXPECT_FALSE(append(*log, "", 1, 1));
  EXPECT_FALSE(append(*log, std::string(257, 'p'), 1, 1));
  EXPECT_FALSE(append(*log, "bad\xff", 1, 1));
  EXPECT_TRUE(append(*log, std::string(256, 'p'), 1, 1));
  EXPECT_TRUE(append(*log, "ünïcode", 1, 1));
  EXPECT_EQ(log->batches(), 2u);
}

TEST(shard_log, acked_batches_survive_a_process_kill) {
  // write(2) to the page cache is enough against a crash of the process, in
  // every fsync mode; the child dies by SIGKILL right after its last append.
  for (auto policy : {fsync_policy::none, fsync_policy::group}) {
    auto dir = fresh_dir();
    auto opt = options(dir, policy, 64u << 10);
    constexpr std::uint64_t n = 300;
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto log = shard_log::open(opt, {}, nullptr);
      if (!log) ::_exit(2);
      for (std::uint64_t seq = 0; seq < n; ++seq) {
        auto evs = make_events(seq, 20);
        std::vector<event_view> views(evs.begin(), evs.end());
        if (!(*log)->append("killed", seq, views)) ::_exit(3);
      }
      ::kill(::getpid(), SIGKILL);
      ::_exit(4);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status))
        << "child exit code " << WEXITSTATUS(status);
    EXPECT_EQ(WTERMSIG(status), SIGKILL);
    std::vector<stored> got;
    replay_stats st;
    auto log = open_ok(opt, &got, &st);
    ASSERT_TRUE(log);
    ASSERT_EQ(got.size(), n);
    EXPECT_GT(st.segments, 1u);
    EXPECT_EQ(st.truncated_bytes, 0u);
    for (std::uint64_t seq = 0; seq < n; ++seq) {
      EXPECT_EQ(got[seq].seq, seq);
      EXPECT_EQ(got[seq].events, make_events(seq, 20));
    }
  }
}

TEST(shard_log, a_failed_write_is_cut_back_and_reported_with_the_file) {
  // RLIMIT_FSIZE makes the kernel write part of the record and then fail
  // (EFBIG): the log must cut the partial record back and keep working.
  auto dir = fresh_dir();
  auto opt = options(dir);
  std::uint64_t end2 = 0;
  {
    auto log = open_ok(opt);
    ASSERT_TRUE(log);
    ASSERT_TRUE(append(*log, "p", 1, 3));
    ASSERT_TRUE(append(*log, "p", 2, 3));
    end2 = log->bytes();
  }
  auto seg = segment_files(dir).at(0);
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(pipefd[0]);
    std::signal(SIGXFSZ, SIG_IGN);
    auto log = shard_log::open(opt, {}, nullptr);
    if (!log) ::_exit(2);
    rlimit lim{};
    lim.rlim_cur = end2 + 10; // 10 bytes of the next record fit
    lim.rlim_max = RLIM_INFINITY;
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) ::_exit(3);
    auto evs = make_events(3, 5);
    std::vector<event_view> views(evs.begin(), evs.end());
    auto r = (*log)->append("p", 3, views);
    if (r) ::_exit(4);
    auto msg = r.err().message;
    (void)!::write(pipefd[1], msg.data(), msg.size());
    if ((*log)->bytes() != end2 || (*log)->contains("p", 3)) ::_exit(5);
    struct stat sb {};
    if (::stat(seg.c_str(), &sb) != 0 ||
        static_cast<std::uint64_t>(sb.st_size) != end2)
      ::_exit(6);
    ::_exit(0);
  }
  ::close(pipefd[1]);
  std::string msg;
  char buf[512];
  for (ssize_t r; (r = ::read(pipefd[0], buf, sizeof buf)) > 0;)
    msg.append(buf, static_cast<std::size_t>(r));
  ::close(pipefd[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << msg;
  EXPECT_NE(msg.find(seg), std::string::npos) << msg;
  EXPECT_NE(msg.find("errno"), std::string::npos) << msg;
  std::vector<stored> got;
  replay_stats st;
  auto log = open_ok(opt, &got, &st);
  ASSERT_TRUE(log);
  EXPECT_EQ(got.size(), 2u);
  EXPECT_EQ(st.truncated_bytes, 0u) << "already cut back by the writer";
  EXPECT_TRUE(append(*log, "p", 3, 5));
}

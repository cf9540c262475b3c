// Streaming readers keep memory constant whatever the input size: inputs of
// hundreds of MB are synthesized on the fly (nothing held in memory by the test) and
// the process's peak RSS must not grow with them.
#include "test_util.hpp"

#include <cstring>
#include <sys/resource.h>

using namespace eddy;

namespace {

// Produces `rows` records of a pattern without storing them.
class synthetic_source final : public byte_source {
public:
  synthetic_source(std::string head, std::string tail, std::uint64_t rows,
                   std::string (*row)(std::uint64_t))
    : pending_(std::move(head)), tail_(std::move(tail)), rows_(rows), row_(row) {
    name_ = "synthetic";
  }
  std::ptrdiff_t read(char* dst, std::size_t n) override {
    std::size_t done = 0;
    while (done < n) {
      if (pos_ == pending_.size()) {
        pending_.clear();
        pos_ = 0;
        if (next_ < rows_)
          pending_ = row_(next_++);
        else if (!tail_.empty())
          pending_.swap(tail_);
        else
          break;
      }
      auto k = std::min(n - done, pending_.size() - pos_);
      std::memcpy(dst + done, pending_.data() + pos_, k);
      pos_ += k;
      done += k;
    }
    consumed_ += done;
    return static_cast<std::ptrdiff_t>(done);
  }
  std::uint64_t consumed() const override { return consumed_; }

private:
  std::string pending_, tail_;
  std::size_t pos_ = 0;
  std::uint64_t rows_, next_ = 0, consumed_ = 0;
  std::string (*row_)(std::uint64_t);
};

struct counting final : event_sink, reject_sink {
  std::uint64_t events = 0, rejects = 0;
  void on_event(const event_view&) override { ++events; }
  void on_reject(const reject_record&) override { ++rejects; }
};

long peak_rss_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

} // namespace

TEST(streaming, csv_memory_does_not_grow_with_input_size) {
  auto m = test::mapping(R"(
name = "s"
format = "csv"
[fields]
user = "u"
item = "i"
type = "t"
ts = { column = "ts", format = "epoch_ms" }
)");
  auto n = normalizer::make(m, test::registry());
  ASSERT_TRUE(n);
  const std::uint64_t rows = 6'000'000; // ~240 MB of CSV
  synthetic_source src{"u,i,t,ts\n", "", rows, [](std::uint64_t k) {
                         return "\"user " + std::to_string(k % 100003) + "\",item" +
                                std::to_string(k % 7919) + ",view," +
                                std::to_string(1433221332117 + k) + "\n";
                       }};
  counting c;
  normalize_stats st;
  long before = peak_rss_kb();
  ASSERT_TRUE(n->run(src, c, c, st));
  long growth_mb = (peak_rss_kb() - before) / 1024;
  EXPECT_EQ(c.events, rows);
  EXPECT_GT(st.bytes, 200u << 20);
  EXPECT_LT(growth_mb, 32) << "peak RSS grew by " << growth_mb << " MB for "
                           << (st.bytes >> 20) << " MB of input";
}

TEST(streaming, json_array_memory_does_not_grow_with_input_size) {
  auto m = test::mapping(R"(
name = "s"
format = "json_array"
[fields]
user = "/u/id"
item = "/i"
type = "/t"
ts = "/ts"
)");
  auto n = normalizer::make(m, test::registry());
  ASSERT_TRUE(n);
  const std::uint64_t rows = 2'000'000; // ~150 MB of JSON
  synthetic_source src{"[\n", "{\"u\":{\"id\":\"last\"},\"i\":\"x\",\"t\":\"view\",\"ts\":1}]",
                       rows, [](std::uint64_t k) {
                         return "{\"u\":{\"id\":\"u" + std::to_string(k % 1009) +
                                "\"},\"i\":\"item" + std::to_string(k % 7919) +
                                "\",\"t\":\"view\",\"ts\":" +
                                std::to_string(1433221332117 + k) + "},\n";
                       }};
  counting c;
  normalize_stats st;
  long before = peak_rss_kb();
  ASSERT_TRUE(n->run(src, c, c, st));
  long growth_mb = (peak_rss_kb() - before) / 1024;
  EXPECT_EQ(c.events, rows + 1);
  EXPECT_EQ(c.rejects, 0u);
  EXPECT_LT(growth_mb, 32) << "peak RSS grew by " << growth_mb << " MB";
}

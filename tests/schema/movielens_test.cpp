// The shipped MovieLens mapping on the real ml-latest-small ratings.csv.
#include "test_util.hpp"

#include <filesystem>

using namespace eddy;

TEST(movielens, ratings_csv_gives_100836_events_and_no_rejects) {
  auto path = test::shared_data("ml-latest-small/ratings.csv");
  if (path.empty())
    GTEST_SKIP() << "ml-latest-small/ratings.csv not found in ../shared/data next to "
                    "the checkout (or $EDDY_DATA_DIR): cannot check MovieLens";
  auto m = load_mapping(test::source_dir() + "/configs/schemas/movielens-ratings.toml");
  ASSERT_TRUE(m) << m.err().message;
  auto n = normalizer::make(*m, test::registry());
  ASSERT_TRUE(n);
  auto src = open_byte_source(path);
  ASSERT_TRUE(src);
  test::collector c;
  normalize_stats st;
  ASSERT_TRUE(n->run(**src, c, c, st));
  EXPECT_EQ(st.events, 100836u);
  EXPECT_EQ(st.rejected(), 0u);
  EXPECT_EQ(st.records, 100836u);
  EXPECT_EQ(st.bytes, 2483723u);
  ASSERT_EQ(c.events.size(), 100836u);
  EXPECT_EQ(c.events.front(), (event{"1", "1", 6, 964982703000, 4.0f}));
  // Timestamps run from 1996-03-29 to 2018-09-24 (PROVENANCE.md).
  std::int64_t lo = INT64_MAX, hi = 0;
  for (auto& e : c.events) {
    lo = std::min(lo, e.ts);
    hi = std::max(hi, e.ts);
  }
  EXPECT_EQ(lo, 828124615000);
  EXPECT_EQ(hi, 1537799250000);
}

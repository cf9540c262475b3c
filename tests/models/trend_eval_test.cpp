// models/trend_eval: alerts, precision, recall and delay on hand-made flags.
#include "models/trend_eval.hpp"

#include <gtest/gtest.h>

namespace eddy::models {
namespace {

TEST(trend_eval, runs_of_flags_are_alerts_and_match_surges_with_grace) {
  std::vector<surge_truth> surges = {{"a", 100, 130}, {"b", 200, 230}, {"c", 300, 330}};
  std::vector<trend_flag> flags = {
    {101, "a", 5.0}, {102, "a", 7.0}, {104, "a", 6.0}, // one alert (gap 2 <= 3)
    {133, "a", 4.5},                                   // second alert, inside the grace
    {250, "b", 9.0},                                   // after b's grace: false
    {10, "z", 8.0},                                    // never surged: false
  };
  trend_eval_params p;
  p.grace_buckets = 5;
  p.merge_gap = 3;
  auto r = evaluate_trending(surges, flags, p);
  ASSERT_EQ(r.alerts.size(), 4u);
  EXPECT_EQ(r.true_alerts, 2u);
  EXPECT_DOUBLE_EQ(r.precision, 0.5);
  EXPECT_EQ(r.detected, 1u);
  EXPECT_DOUBLE_EQ(r.recall, 1.0 / 3.0);
  ASSERT_EQ(r.surges.size(), 3u);
  EXPECT_TRUE(r.surges[0].detected);
  EXPECT_EQ(r.surges[0].delay, 1);
  EXPECT_DOUBLE_EQ(r.surges[0].best_score, 7.0);
  EXPECT_FALSE(r.surges[1].detected);
  EXPECT_EQ(r.surges[1].delay, -1);
  EXPECT_DOUBLE_EQ(r.median_delay, 1.0);
}

TEST(trend_eval, median_delay_and_empty_cases) {
  std::vector<surge_truth> surges = {{"a", 0, 10}, {"b", 0, 10}};
  auto r = evaluate_trending(surges, {{0, "a", 5.0}, {3, "b", 5.0}});
  EXPECT_DOUBLE_EQ(r.median_delay, 1.5); // delays 0 and 3
  EXPECT_DOUBLE_EQ(r.precision, 1.0);
  EXPECT_DOUBLE_EQ(r.recall, 1.0);
  auto none = evaluate_trending(surges, {});
  EXPECT_DOUBLE_EQ(none.precision, 0.0); // surges but no alerts
  EXPECT_DOUBLE_EQ(none.recall, 0.0);
  EXPECT_DOUBLE_EQ(none.median_delay, -1.0);
  auto quiet = evaluate_trending({}, {});
  EXPECT_DOUBLE_EQ(quiet.precision, 1.0);
  EXPECT_DOUBLE_EQ(quiet.recall, 1.0);
}

} // namespace
} // namespace eddy::models

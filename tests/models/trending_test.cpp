// models/trending + models/topk: closed-form forecasts and scores, late-data
// rules, catch-up == stepping (bit for bit), merge() associativity and sharded
// == one-shard answers, surge vs steady popularity. Fixed seeds, no clocks.
#include "models/trending.hpp"

#include "models/random.hpp"
#include "models/topk.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace eddy::models {
namespace {

constexpr std::int64_t minute = 60'000;

trending_params simple_params() {
  trending_params p;
  p.alpha = 0.5;
  p.beta = 0.5;
  p.variance_alpha = 0.5;
  p.min_support = 5.0;
  p.poisson_floor = 1.0;
  return p;
}

std::uint64_t bits(double x) {
  return std::bit_cast<std::uint64_t>(x);
}

bool same_bits(const holt_state& a, const holt_state& b) {
  if (a.ready != b.ready || bits(a.level) != bits(b.level) ||
      bits(a.trend) != bits(b.trend) || bits(a.variance) != bits(b.variance) ||
      a.idle != b.idle || a.steps != b.steps ||
      a.season.size() != b.season.size())
    return false;
  for (std::size_t i = 0; i < a.season.size(); ++i)
    if (bits(a.season[i]) != bits(b.season[i])) return false;
  return true;
}

// --- params
// --------------------------------------------------------------------

TEST(trending_params, defaults_are_valid_and_bad_keys_are_named) {
  EXPECT_EQ(validate(trending_params{}), "");
  trending_params p;
  p.alpha = 0.0;
  EXPECT_EQ(validate(p).rfind("alpha:", 0), 0u);
  p = {};
  p.lateness_ms = 200 * minute; // open span exceeds the ring
  EXPECT_EQ(validate(p).rfind("horizon_buckets:", 0), 0u);
  p = {};
  p.season = true;
  p.season_slots = 7; // 1440 buckets per day are not divisible by 7
  EXPECT_EQ(validate(p).rfind("season_slots:", 0), 0u);
  p = {};
  p.popularity_window_buckets = p.horizon_buckets + 1;
  EXPECT_EQ(validate(p).rfind("popularity_window_buckets:", 0), 0u);
}

TEST(floor_div, rounds_toward_minus_infinity) {
  EXPECT_EQ(floor_div(7, 2), 3);
  EXPECT_EQ(floor_div(-7, 2), -4);
  EXPECT_EQ(floor_div(-8, 2), -4);
  EXPECT_EQ(floor_div(0, 5), 0);
}

// --- Holt: closed form
// ----------------------------------------------------------

TEST(holt, constant_series_forecasts_itself_with_zero_variance) {
  auto p = simple_params();
  auto s = make_holt(p);
  for (std::int64_t b = 0; b < 10; ++b)
    holt_step(s, p, b, 4.0);
  EXPECT_EQ(holt_forecast(s, p, 10), 4.0);
  EXPECT_EQ(s.variance, 0.0);
  // Poisson floor: spread = sqrt(max(4, 1)) = 2, so y = 10 scores (10 - 4) / 2.
  EXPECT_EQ(holt_spread(s, p, 4.0), 2.0);
  EXPECT_EQ(trending_score(10.0, 4.0, 2.0, p), 3.0);
  // Below min_support nothing scores.
  EXPECT_EQ(trending_score(4.9, 0.0, 1.0, p), 0.0);
  // Tiny forecasts are floored at poisson_floor.
  EXPECT_EQ(holt_spread(s, p, 0.25), 1.0);
  EXPECT_EQ(holt_spread(s, p, -3.0), 1.0);
}

TEST(holt, two_steps_match_hand_computation) {
  auto p = simple_params(); // alpha = beta = variance_alpha = 0.5
  auto s = make_holt(p);
  holt_step(s, p, 0, 0.0); // no history: empty buckets are ignored
  EXPECT_FALSE(s.ready);
  holt_step(s, p, 1, 10.0); // init: level 10, trend 0
  EXPECT_TRUE(s.ready);
  EXPECT_EQ(holt_forecast(s, p, 2), 10.0);
  holt_step(s, p, 2, 20.0);
  // e = 10, variance = 0.5 * 100 = 50; level = 0.5*20 + 0.5*10 = 15;
  // trend = 0.5 * (15 - 10) = 2.5; forecast = 17.5.
  EXPECT_EQ(s.level, 15.0);
  EXPECT_EQ(s.trend, 2.5);
  EXPECT_EQ(s.variance, 50.0);
  const double f = holt_forecast(s, p, 3);
  EXPECT_EQ(f, 17.5);
  // spread = max(sqrt(50), sqrt(17.5)) = sqrt(50); score of 30 = 12.5 /
  // sqrt(50).
  const double sd = holt_spread(s, p, f);
  EXPECT_EQ(sd, std::sqrt(50.0));
  EXPECT_DOUBLE_EQ(trending_score(30.0, f, sd, p), 12.5 / std::sqrt(50.0));
}

TEST(holt, linear_series_trend_converges_to_slope) {
  auto p = simple_params();
  auto s = make_holt(p);
  for (std::int64_t b = 0; b < 200; ++b)
    holt_step(s, p, b, 10.0 + 3.0 * static_cast<double>(b));
  EXPECT_NEAR(s.trend, 3.0, 1e-9);
  EXPECT_NEAR(holt_forecast(s, p, 200), 610.0, 1e-9);
}

TEST(holt, daily_season_learns_the_profile) {
  auto p = simple_params();
  p.bucket_ms = 3'600'000; // hourly buckets, 24 per day
  p.horizon_buckets = 48;
  p.lateness_ms = 0;
  p.popularity_window_buckets = 24;
  p.season = true;
  p.season_slots = 24;
  p.gamma = 0.3;
  p.alpha = 0.2;
  p.beta = 0.05;
  ASSERT_EQ(validate(p), "");
  EXPECT_EQ(season_slot(p, 0), 0u);
  EXPECT_EQ(season_slot(p, 25), 1u);
  EXPECT_EQ(season_slot(p, -1), 23u);
  auto s = make_holt(p);
  auto y = [](std::int64_t b) { return (b % 24) == 12 ? 100.0 : 10.0; };
  for (std::int64_t b = 0; b < 24 * 30; ++b)
    holt_step(s, p, b, y(b));
  const std::int64_t noon = 24 * 30 + 12;
  EXPECT_NEAR(holt_forecast(s, p, noon), 100.0, 1.0);
  EXPECT_NEAR(holt_forecast(s, p, noon + 1), 10.0, 1.0);
  // The daily peak is expected, so it does not trend.
  const double f = holt_forecast(s, p, noon);
  EXPECT_LT(trending_score(100.0, f, holt_spread(s, p, f), p), 1.0);
}

// --- catch-up == stepping
// ---------------------------------------------------------

TEST(holt, catch_up_equals_stepping_bit_for_bit) {
  for (bool season : {false, true}) {
    auto p = simple_params();
    p.alpha = 0.3;
    p.beta = 0.1;
    p.horizon_buckets = 30;
    p.lateness_ms = minute;
    p.popularity_window_buckets = 10;
    p.season = season;
    p.season_slots = 24;
    ASSERT_EQ(validate(p), "");
    rng r{42};
    for (std::int64_t k : {0, 1, 2, 7, 29, 30, 31, 95}) {
      auto a = make_holt(p);
      for (std::int64_t b = 0; b < 50; ++b)
        holt_step(a, p, b, static_cast<double>(r.poisson(8.0)));
      auto b = a;
      holt_catch_up(a, p, 50, k);
      for (std::int64_t i = 0; i < k; ++i)
        holt_step(b, p, 50 + i, 0.0);
      EXPECT_TRUE(same_bits(a, b)) << "k = " << k << " season = " << season;
      EXPECT_EQ(a.ready, k < 30) << k; // reset after a whole horizon of empties
    }
  }
}

TEST(item_trend, lazy_close_equals_closing_every_bucket_bit_for_bit) {
  for (bool season : {false, true}) {
    trending_params p;
    p.horizon_buckets = 20;
    p.lateness_ms = 2 * minute;
    p.popularity_window_buckets = 10;
    p.season = season;
    p.season_slots = 24;
    p.type_weights = {0.0, 1.0, 3.0};
    ASSERT_EQ(validate(p), "");
    rng r{7, season ? 1u : 0u};
    item_trend lazy{p};
    item_trend eager{p};
    std::int64_t ts = 1'000 * minute;
    std::int64_t max_ts = ts;
    std::int64_t eager_closed = floor_div(ts - p.lateness_ms, p.bucket_ms);
    for (int i = 0; i < 3'000; ++i) {
      // Mostly small steps, sometimes idle gaps shorter and longer than the
      // horizon.
      const auto u = r.below(100);
      ts += u < 3 ? static_cast<std::int64_t>(r.below(60)) * minute
                  : static_cast<std::int64_t>(r.below(20'000));
      max_ts = std::max(max_ts, ts);
      const std::int64_t first_open =
          floor_div(max_ts - p.lateness_ms, p.bucket_ms);
      for (; eager_closed < first_open; ++eager_closed)
        eager.close_until(p, eager_closed + 1);
      const auto type = static_cast<std::uint8_t>(1 + r.below(2));
      lazy.add(p, first_open, type, ts);
      eager.add(p, first_open, type, ts);
      ASSERT_TRUE(lazy.same_bits(eager)) << "event " << i;
    }
    const std::int64_t end = floor_div(max_ts, p.bucket_ms) + 500;
    for (; eager_closed < end; ++eager_closed)
      eager.close_until(p, eager_closed + 1);
    lazy.close_until(p, end);
    EXPECT_TRUE(lazy.same_bits(eager));
  }
}

// --- late data
// ----------------------------------------------------------------------

TEST(trending_table, late_events_inside_lateness_update_their_bucket) {
  trending_params p; // 1-minute buckets, 2 minutes lateness
  trending_table t{p};
  const std::int64_t t0 = 1'000 * minute; // bucket 1000
  EXPECT_EQ(t.add("a", 1, t0 + 30'000), add_status::accepted);
  EXPECT_EQ(t.watermark(), t0 + 30'000 - 2 * minute);
  EXPECT_EQ(t.first_open(), 998);
  // Older than the watermark but its bucket (998) is still open: applied.
  EXPECT_EQ(t.add("a", 1, 998 * minute + 10'000), add_status::accepted);
  EXPECT_EQ(t.find("a")->count(t.params(), 998, 1), 1u);
  // Bucket 997 is closed: counted as late, not applied.
  EXPECT_EQ(t.add("a", 1, 998 * minute - 1), add_status::late);
  EXPECT_EQ(t.find("a")->count(t.params(), 997, 1), 0u);
  // Unknown type ids are rejected.
  EXPECT_EQ(t.add("a", 200, t0), add_status::rejected);
  EXPECT_EQ(t.stats().accepted, 2u);
  EXPECT_EQ(t.stats().late, 1u);
  EXPECT_EQ(t.stats().rejected, 1u);
  // A newer event moves the watermark: bucket 998 closes, 999 stays open.
  EXPECT_EQ(t.add("b", 1, 1'001 * minute), add_status::accepted);
  EXPECT_EQ(t.first_open(), 999);
  EXPECT_EQ(t.add("a", 1, 998 * minute + 59'999), add_status::late);
  EXPECT_EQ(t.add("a", 1, 999 * minute), add_status::accepted);
  // advance() never lowers the watermark.
  t.advance(0);
  EXPECT_EQ(t.first_open(), 999);
}

// --- popularity
// ---------------------------------------------------------------------

TEST(item_trend, window_counts_and_decayed_total) {
  trending_params p;
  p.popularity_window_buckets = 3;
  p.type_weights = {0.0, 1.0, 4.0};
  trending_table t{p};
  t.add("x", 1, 10 * minute);     // bucket 10, weight 1
  t.add("x", 2, 11 * minute);     // bucket 11, weight 4
  t.add("x", 1, 12 * minute + 5); // bucket 12, weight 1
  t.add("x", 1, 13 * minute);     // bucket 13, weight 1
  const auto* x = t.find("x");
  EXPECT_EQ(x->window_count(p, 14), 6.0); // buckets 11..13
  EXPECT_EQ(x->window_count(p, 13), 6.0); // buckets 10..12
  EXPECT_EQ(x->weighted(p, 11), 4.0);
  auto pop = t.top_popular(5);
  ASSERT_EQ(pop.size(), 1u);
  EXPECT_EQ(pop.items()[0].score, 6.0);

  trending_params q;
  item_trend d{q};
  d.add(q, 0, 1, 0);
  EXPECT_EQ(d.decayed(q, 0), 1.0);
  EXPECT_NEAR(d.decayed(q, q.half_life_ms), 0.5, 1e-14);
  EXPECT_NEAR(d.decayed(q, 2 * q.half_life_ms), 0.25, 1e-14);
  d.add(q, 0, 1, q.half_life_ms); // 0.5 + 1
  EXPECT_NEAR(d.decayed(q, q.half_life_ms), 1.5, 1e-14);
  d.add(q, 0, 1, 0); // an older event, decayed to the current reference time
  EXPECT_NEAR(d.decayed(q, q.half_life_ms), 2.0, 1e-14);
}

// --- surge vs steady
// ------------------------------------------------------------------

TEST(trending_table, surge_scores_high_steady_popular_does_not) {
  trending_params p;
  trending_table t{p};
  rng r{2026};
  const std::int64_t start = 10'000 * minute;
  const int buckets = 180;
  for (int b = 0; b < buckets; ++b) {
    const std::int64_t base = start + b * minute;
    const auto steady = r.poisson(50.0);
    for (std::uint64_t i = 0; i < steady; ++i)
      t.add("steady", 1, base + static_cast<std::int64_t>(r.below(minute)));
    const auto surge = b == buckets - 1 ? 60 : r.poisson(2.0);
    for (std::uint64_t i = 0; i < surge; ++i)
      t.add("surge", 1, base + static_cast<std::int64_t>(r.below(minute)));
  }
  // Close the last bucket: heartbeat past it plus the lateness.
  t.advance(start + buckets * minute + p.lateness_ms);
  auto top = t.top_trending(10);
  ASSERT_GE(top.size(), 1u);
  EXPECT_EQ(top.items()[0].key, "surge");
  EXPECT_GT(top.items()[0].score, 10.0);
  const auto* steady = t.find("steady");
  EXPECT_EQ(steady->scored_bucket(), t.first_open() - 1);
  EXPECT_LT(steady->score(), 3.0);
  // ... while "steady" is the most popular.
  EXPECT_EQ(t.top_popular(1).items()[0].key, "steady");
  EXPECT_EQ(t.top_decayed(1, start + buckets * minute).items()[0].key,
            "steady");
}

// --- top-K merge
// ------------------------------------------------------------------------

TEST(top_k, keeps_k_best_with_key_tie_break) {
  top_k<std::string> t{3};
  t.push("c", 1.0);
  t.push("a", 5.0);
  t.push("b", 1.0);
  t.push("d", 0.5);
  t.push("e", 7.0);
  t.push("nan", std::nan(""));
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t.items()[0].key, "e");
  EXPECT_EQ(t.items()[1].key, "a");
  EXPECT_EQ(t.items()[2].key, "b"); // tie at 1.0: smaller key wins
}

TEST(top_k, merge_is_associative_commutative_and_exact) {
  rng r{99};
  for (int round = 0; round < 50; ++round) {
    const std::size_t k = 1 + r.below(8);
    top_k<int> a{k}, b{k}, c{k}, all{k};
    for (int key = 0; key < 60; ++key) {
      const double s = static_cast<double>(r.below(20)); // many ties
      all.push(key, s);
      (key % 3 == 0 ? a : key % 3 == 1 ? b : c).push(key, s);
    }
    auto ab_c = a;
    ab_c.merge(b);
    ab_c.merge(c);
    auto bc = b;
    bc.merge(c);
    auto a_bc = a;
    a_bc.merge(bc);
    auto cb_a = c;
    cb_a.merge(b);
    cb_a.merge(a);
    EXPECT_EQ(ab_c, a_bc);
    EXPECT_EQ(ab_c, cb_a);
    EXPECT_EQ(ab_c, all);
  }
}

// Sharded tables, merged, answer exactly like one table (STYLE.md habit 5):
// shard counts {1, 2, 7} and a "hash" that sends everything to shard 0.
TEST(trending_table, sharded_top_k_equals_one_shard) {
  trending_params p;
  p.min_support = 3.0;
  struct ev {
    std::string item;
    std::int64_t ts;
  };
  rng r{5};
  std::vector<ev> events;
  std::int64_t ts = 5'000 * minute;
  for (int i = 0; i < 20'000; ++i) {
    ts += static_cast<std::int64_t>(r.below(1'500));
    const auto item = r.below(40);
    const bool burst = item < 4 && ts > 5'000 * minute + 250 * minute;
    events.push_back({"item" + std::to_string(item), ts});
    if (burst) events.push_back({"item" + std::to_string(item), ts});
  }
  const std::int64_t end = ts + 3 * minute;

  trending_table one{p};
  for (const auto& e : events)
    one.add(e.item, 1, e.ts);
  one.advance(end);
  const auto want_trend = one.top_trending(10);
  const auto want_pop = one.top_popular(10);
  const auto want_dec = one.top_decayed(10, end);
  ASSERT_GT(want_trend.size(), 0u);

  for (std::uint64_t shards :
       {1u, 2u, 7u, 0u /* everything to shard 0 of 3 */}) {
    const std::uint64_t n = shards == 0 ? 3 : shards;
    std::vector<trending_table> tables(n, trending_table{p});
    for (const auto& e : events) {
      const auto id = std::stoull(e.item.substr(4));
      tables[shards == 0 ? 0 : id % n].add(e.item, 1, e.ts);
    }
    top_k<std::string> trend{10}, pop{10}, dec{10};
    for (auto& t : tables) {
      t.advance(end); // the same watermark everywhere
      trend.merge(t.top_trending(10));
      pop.merge(t.top_popular(10));
      dec.merge(t.top_decayed(10, end));
    }
    EXPECT_EQ(trend, want_trend) << shards;
    EXPECT_EQ(pop, want_pop) << shards;
    EXPECT_EQ(dec, want_dec) << shards;
  }
}

} // namespace
} // namespace eddy::models

// models/training + models/evaluation: training-data semantics (weights summed,
// half-life decay, deterministic id maps), the two time splits, test-set
// filtering, the popularity baseline, top-k from factors, and the MovieLens
// quality bar (ALS with the movielens preset: P@10 >= 0.12, popularity ~0.08).
#include "models/evaluation.hpp"
#include "models/training.hpp"

#include "movielens_data.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace eddy::models {
namespace {

// Type ids and weights of configs/interactions.toml.
constexpr std::uint8_t view = 1, cart = 2, purchase = 3, removed = 8;

training_options shop_weights() {
  training_options o;
  o.type_weights[view] = 1.0F;
  o.type_weights[cart] = 3.0F;
  o.type_weights[purchase] = 5.0F;
  o.type_weights[removed] = 0.0F;
  return o;
}

std::vector<interaction> hand_events() {
  return {
      {"u2", "b", view, 0},        {"u2", "b", cart, 1000},
      {"u1", "a", purchase, 2000}, {"u1", "c", removed, 500},
      {"u10", "a", view, 1000},    {"u10", "b", purchase, 0},
      {"u3", "c", removed, 0}, // only a weight-0 event: u3 and c get no id
  };
}

// The stored (row, col, value) triples of a matrix.
std::vector<std::tuple<std::int32_t, std::int32_t, float>>
entries(const csr_matrix& m) {
  std::vector<std::tuple<std::int32_t, std::int32_t, float>> out;
  for (std::int32_t r = 0; r < m.rows; ++r)
    for (auto j = m.indptr[static_cast<std::size_t>(r)];
         j < m.indptr[static_cast<std::size_t>(r) + 1]; ++j)
      out.emplace_back(r, m.indices[static_cast<std::size_t>(j)],
                       m.values[static_cast<std::size_t>(j)]);
  return out;
}

TEST(training_data, sums_type_weights_and_maps_ids_in_byte_order) {
  auto o = shop_weights();
  o.alpha = 2.0F;
  auto d = build_training_data(hand_events(), o);
  // Byte order: "u1" < "u10" < "u2"; u3 and item c have only weight-0 events.
  EXPECT_EQ(d.users.ids(), (std::vector<std::string>{"u1", "u10", "u2"}));
  EXPECT_EQ(d.items.ids(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d.users.find("u10"), 1);
  EXPECT_FALSE(d.users.find("u3"));
  EXPECT_EQ(d.events, 7U);
  EXPECT_EQ(d.zero_weight, 2U);
  EXPECT_EQ(d.reference_ts, 2000);
  using e = std::tuple<std::int32_t, std::int32_t, float>;
  // r(u2, b) = view 1 + cart 3; r(u1, a) = 5; r(u10, a) = 1; r(u10, b) = 5.
  EXPECT_EQ(
      entries(d.strength),
      (std::vector<e>{{0, 0, 5.0F}, {1, 0, 1.0F}, {1, 1, 5.0F}, {2, 1, 4.0F}}));
  // c = 1 + alpha r.
  EXPECT_EQ(entries(d.conf),
            (std::vector<e>{
                {0, 0, 11.0F}, {1, 0, 3.0F}, {1, 1, 11.0F}, {2, 1, 9.0F}}));
  EXPECT_EQ(entries(d.conf_t),
            (std::vector<e>{
                {0, 0, 11.0F}, {0, 1, 3.0F}, {1, 1, 11.0F}, {1, 2, 9.0F}}));
}

TEST(training_data, half_life_decay_from_the_newest_event) {
  auto o = shop_weights();
  o.half_life_ms = 1000.0;
  auto d = build_training_data(hand_events(), o); // reference = 2000
  using e = std::tuple<std::int32_t, std::int32_t, float>;
  // u1 a: 5 at age 0; u10 a: 1 at age 1000 -> 0.5; u10 b: 5 at age 2000
  // -> 1.25; u2 b: 1 at age 2000 + 3 at age 1000 -> 0.25 + 1.5.
  EXPECT_EQ(entries(d.strength),
            (std::vector<e>{
                {0, 0, 5.0F}, {1, 0, 0.5F}, {1, 1, 1.25F}, {2, 1, 1.75F}}));
  // An explicit reference; events newer than it count fully.
  o.reference_ts = 1000;
  d = build_training_data(hand_events(), o);
  EXPECT_EQ(d.reference_ts, 1000);
  EXPECT_EQ(
      entries(d.strength),
      (std::vector<e>{{0, 0, 5.0F}, {1, 0, 1.0F}, {1, 1, 2.5F}, {2, 1, 3.5F}}));
}

TEST(training_data, independent_of_event_order) {
  auto events = hand_events();
  auto a = build_training_data(events, shop_weights());
  std::reverse(events.begin(), events.end());
  std::rotate(events.begin(), events.begin() + 3, events.end());
  auto b = build_training_data(events, shop_weights());
  EXPECT_EQ(a.users.ids(), b.users.ids());
  EXPECT_EQ(a.items.ids(), b.items.ids());
  EXPECT_EQ(entries(a.conf), entries(b.conf));
}

// User a: 5 events (ts 5 1 3 2 4) -> floor(5 * 0.2) = 1 test event, the newest.
// User b: 4 events -> floor(0.8) = 0 test events.
// User c: 10 events at the same ts -> the last 2 by input position.
// "i5" etc. (appending avoids GCC 12's -Wrestrict false positive on
// "literal" + std::string).
std::string id(char prefix, std::int64_t n) {
  std::string s(1, prefix);
  s += std::to_string(n);
  return s;
}

TEST(splits, per_user_last_share_by_time) {
  std::vector<interaction> ev;
  for (std::int64_t ts : {5, 1, 3, 2, 4})
    ev.push_back({"a", id('i', ts), view, ts});
  for (int j = 0; j < 4; ++j)
    ev.push_back({"b", id('j', j), view, 100 - j});
  for (int j = 0; j < 10; ++j)
    ev.push_back({"c", id('k', j), view, 7});
  auto s = split_per_user(ev, 0.2);
  ASSERT_EQ(s.test.size(), 3U);
  EXPECT_EQ(s.train.size(), ev.size() - 3);
  EXPECT_EQ(s.test[0].user, "a");
  EXPECT_EQ(s.test[0].item, "i5");
  EXPECT_EQ(s.test[1].item, "k8");
  EXPECT_EQ(s.test[2].item, "k9");
}

TEST(splits, global_cutoff) {
  std::vector<interaction> ev{{"a", "x", view, 10},
                              {"a", "y", view, 20},
                              {"b", "x", view, 19},
                              {"b", "z", view, 30}};
  auto s = split_at(ev, 20);
  ASSERT_EQ(s.train.size(), 2U);
  ASSERT_EQ(s.test.size(), 2U);
  EXPECT_EQ(s.train[1].ts, 19);
  EXPECT_EQ(s.test[0].ts, 20); // ts >= cutoff is test
}

TEST(test_sets, drop_cold_users_cold_items_seen_and_zero_weight) {
  std::vector<interaction> train{{"a", "x", view, 1},
                                 {"a", "y", view, 2},
                                 {"b", "y", view, 1},
                                 {"b", "w", view, 1}};
  std::vector<interaction> test{
      {"a", "w", view, 5},     // kept
      {"a", "w", purchase, 6}, // same pair again: one relevant item
      {"a", "x", view, 5},     // a has x in training
      {"a", "new", view, 5},   // item unseen in training
      {"n", "x", view, 5},     // user unseen in training
      {"b", "x", removed, 5},  // weight 0
  };
  auto o = shop_weights();
  auto d = build_training_data(train, o);
  auto t = make_test_sets(d, test, o.type_weights);
  EXPECT_EQ(t.events, 6U);
  EXPECT_EQ(t.seen, 1U);
  EXPECT_EQ(t.cold_items, 1U);
  EXPECT_EQ(t.cold_users, 1U);
  EXPECT_EQ(t.zero_weight, 1U);
  EXPECT_EQ(t.pairs, 1U);
  EXPECT_EQ(t.users, (std::vector<std::int32_t>{0}));
  EXPECT_EQ(t.relevant[0], (std::vector<std::int32_t>{*d.items.find("w")}));
  EXPECT_TRUE(t.relevant[1].empty());
}

TEST(popularity, ranks_by_training_users_and_filters_seen) {
  // Items: p (3 users), q (2), r (2), s (1). Ties by column: q before r.
  std::vector<interaction> ev{
      {"u1", "p", view, 1}, {"u2", "p", view, 1}, {"u3", "p", view, 1},
      {"u1", "r", view, 1}, {"u2", "r", cart, 1}, {"u2", "q", view, 1},
      {"u3", "q", view, 1}, {"u3", "q", view, 2}, {"u3", "s", view, 1}};
  auto d = build_training_data(ev, shop_weights());
  auto m = fit_popularity(d);
  auto col = [&](const char* id) { return *d.items.find(id); };
  EXPECT_EQ(m.ranked, (std::vector<std::int32_t>{col("p"), col("q"), col("r"),
                                                 col("s")}));
  std::vector<std::int32_t> rows{*d.users.find("u1"), *d.users.find("u3")};
  auto lists = recommend_popular(m, d.strength, rows, 2);
  EXPECT_EQ(lists[0],
            (std::vector<std::int32_t>{col("q"), col("s")})); // u1 has p, r
  EXPECT_EQ(lists[1], (std::vector<std::int32_t>{col("r")})); // only r left
}

TEST(recommend_als, top_k_by_dot_product_without_seen_items) {
  factor_matrix users(2, 2), items(4, 2);
  users << 1, 0, 0, 1;
  items << 3, 0, 1, 5, 3, 1, 2, 2;
  // scores user 0: 3 1 3 2 -> ties 0 and 2 by column; user 1: 0 5 1 2.
  auto seen = csr_matrix::from_triples(2, 4, {{1, 1, 1.0F}});
  std::vector<std::int32_t> rows{0, 1};
  for (int threads : {1, 2, 3}) {
    auto lists = recommend_als(users, items, seen, rows, 3, threads);
    EXPECT_EQ(lists[0], (std::vector<std::int32_t>{0, 2, 3}));
    EXPECT_EQ(lists[1], (std::vector<std::int32_t>{3, 2, 0}));
  }
}

// ---- MovieLens quality
// --------------------------------------------------------

using testdata::read_ratings;
using testdata::shared_data;

TEST(movielens_quality, als_preset_beats_popularity_at_p10) {
  auto path = shared_data("ml-latest-small/ratings.csv");
  if (path.empty())
    GTEST_SKIP()
        << "ml-latest-small/ratings.csv not found in ../shared/data next to "
           "the checkout (or $EDDY_DATA_DIR): cannot check ALS quality";
  auto events = read_ratings(path);
  ASSERT_EQ(events.size(), 100836U);
  auto t0 = std::chrono::steady_clock::now();
  auto s = movielens_preset();
  s.als.threads = 2;
  auto r = evaluate_split(split_per_user(events, 0.2), s, 10);
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_EQ(r.train.users.size(), 610);
  EXPECT_EQ(r.test.users.size(), 610U);
  std::printf("ml-latest-small, per-user 20%% split, %zu test users, %.1f s:\n"
              "  P@10 (hits/min(10,|test|)): ALS %.4f  popularity %.4f\n"
              "  pooled P@10 (implicit):     ALS %.4f  popularity %.4f\n"
              "  NDCG@10: ALS %.4f  popularity %.4f\n",
              r.test.users.size(), secs, r.als.mean_capped_precision(),
              r.popularity.mean_capped_precision(),
              r.als.pooled_capped_precision(),
              r.popularity.pooled_capped_precision(), r.als.mean_ndcg(),
              r.popularity.mean_ndcg());
  EXPECT_GE(r.als.mean_capped_precision(), 0.12);
  EXPECT_NEAR(r.popularity.mean_capped_precision(), 0.08, 0.01);
  EXPECT_GT(r.als.mean_capped_precision(),
            1.4 * r.popularity.mean_capped_precision());
}

} // namespace
} // namespace eddy::models

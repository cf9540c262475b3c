// models/metrics against the published values of Apache Spark's
// RankingMetricsSuite (mllib/src/test/scala/org/apache/spark/mllib/evaluation/
// RankingMetricsSuite.scala): same inputs, same expected numbers, same 1e-5
// tolerance. Spark averages over every query, including the one with an empty
// ground-truth set (which scores 0); ranking_summary does the same.
#include "models/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace eddy::models {
namespace {

using ids = std::vector<std::int32_t>;

struct query {
  ids ranked;
  ids relevant;
  std::vector<double> relevance; // graded NDCG only
};

// Spark's first two suites share these rankings and labels.
std::vector<query> spark_queries() {
  return {
      {{1, 6, 2, 7, 8, 3, 9, 10, 4, 5},
       {1, 2, 3, 4, 5},
       {3.0, 2.0, 1.0, 1.0, 1.0}},
      {{4, 1, 5, 6, 2, 7, 3, 8, 9, 10}, {1, 2, 3}, {2.0, 0.0, 0.0}},
      {{1, 2, 3, 4, 5}, {}, {}},
  };
}

// Spark-style mean over all queries.
template <class F>
double mean_of(const std::vector<query>& qs, F f) {
  double s = 0.0;
  for (const auto& q : qs)
    s += f(q);
  return s / static_cast<double>(qs.size());
}

constexpr double eps = 1e-5;

TEST(metrics_spark, precision_at_divides_by_k) {
  auto qs = spark_queries();
  auto p = [&](std::size_t k) {
    return mean_of(qs, [&](const query& q) {
      return precision_at(q.ranked, q.relevant, k);
    });
  };
  EXPECT_NEAR(p(1), 1.0 / 3, eps);
  EXPECT_NEAR(p(2), 1.0 / 3, eps);
  EXPECT_NEAR(p(3), 1.0 / 3, eps);
  EXPECT_NEAR(p(4), 0.75 / 3, eps);
  EXPECT_NEAR(p(5), 0.8 / 3, eps);
  EXPECT_NEAR(p(10), 0.8 / 3, eps);
  EXPECT_NEAR(p(15), 8.0 / 45, eps);
}

TEST(metrics_spark, mean_average_precision) {
  auto qs = spark_queries();
  EXPECT_NEAR(mean_of(qs,
                      [](const query& q) {
                        return average_precision(q.ranked, q.relevant);
                      }),
              0.355026, eps);
  auto map = [&](std::size_t k) {
    return mean_of(qs, [&](const query& q) {
      return average_precision_at(q.ranked, q.relevant, k);
    });
  };
  EXPECT_NEAR(map(1), 0.333334, eps);
  EXPECT_NEAR(map(2), 0.25, eps);
  EXPECT_NEAR(map(3), 0.24074, eps);
}

TEST(metrics_spark, ndcg_binary) {
  auto qs = spark_queries();
  auto ndcg = [&](std::size_t k) {
    return mean_of(
        qs, [&](const query& q) { return ndcg_at(q.ranked, q.relevant, k); });
  };
  EXPECT_NEAR(ndcg(3), 1.0 / 3, eps);
  EXPECT_NEAR(ndcg(5), 0.328788, eps);
  EXPECT_NEAR(ndcg(10), 0.487913, eps);
  EXPECT_NEAR(ndcg(15), ndcg(10), eps);
}

TEST(metrics_spark, ndcg_graded_relevance) {
  auto qs = spark_queries();
  auto ndcg = [&](std::size_t k) {
    return mean_of(qs, [&](const query& q) {
      return ndcg_at(q.ranked, q.relevant, q.relevance, k);
    });
  };
  EXPECT_NEAR(ndcg(3), 0.511959, eps);
  EXPECT_NEAR(ndcg(5), 0.487806, eps);
  EXPECT_NEAR(ndcg(10), 0.518700, eps);
  EXPECT_NEAR(ndcg(15), ndcg(10), eps);
}

TEST(metrics_spark, recall_at) {
  auto qs = spark_queries();
  auto r = [&](std::size_t k) {
    return mean_of(
        qs, [&](const query& q) { return recall_at(q.ranked, q.relevant, k); });
  };
  EXPECT_NEAR(r(1), 1.0 / 15, eps);
  EXPECT_NEAR(r(2), 8.0 / 45, eps);
  EXPECT_NEAR(r(3), 11.0 / 45, eps);
  EXPECT_NEAR(r(4), 11.0 / 45, eps);
  EXPECT_NEAR(r(5), 16.0 / 45, eps);
  EXPECT_NEAR(r(10), 2.0 / 3, eps);
  EXPECT_NEAR(r(15), 2.0 / 3, eps);
}

// SPARK-14886: fewer predictions than k, and an empty prediction list.
TEST(metrics_spark, few_predictions) {
  std::vector<query> qs{{{1, 6, 2}, {1, 2, 3, 4, 5}, {}}, {{}, {1, 2, 3}, {}}};
  auto m = [&](auto f) { return mean_of(qs, f); };
  EXPECT_NEAR(
      m([](const query& q) { return precision_at(q.ranked, q.relevant, 1); }),
      0.5, eps);
  EXPECT_NEAR(
      m([](const query& q) { return precision_at(q.ranked, q.relevant, 2); }),
      0.25, eps);
  EXPECT_NEAR(
      m([](const query& q) { return ndcg_at(q.ranked, q.relevant, 1); }), 0.5,
      eps);
  EXPECT_NEAR(
      m([](const query& q) { return ndcg_at(q.ranked, q.relevant, 2); }),
      0.30657, eps);
  EXPECT_NEAR(
      m([](const query& q) { return recall_at(q.ranked, q.relevant, 1); }), 0.1,
      eps);
  EXPECT_NEAR(
      m([](const query& q) { return recall_at(q.ranked, q.relevant, 2); }), 0.1,
      eps);
}

TEST(metrics_summary, matches_spark_means_and_merges) {
  auto qs = spark_queries();
  for (std::size_t k : {1U, 2U, 3U, 5U, 10U, 15U}) {
    ranking_summary all{k}, a{k}, b{k};
    for (std::size_t i = 0; i < qs.size(); ++i) {
      all.add(qs[i].ranked, qs[i].relevant);
      (i == 1 ? b : a).add(qs[i].ranked, qs[i].relevant);
    }
    EXPECT_EQ(all.queries, 3U);
    EXPECT_NEAR(all.mean_precision(),
                mean_of(qs,
                        [&](const query& q) {
                          return precision_at(q.ranked, q.relevant, k);
                        }),
                1e-12);
    EXPECT_NEAR(all.mean_recall(),
                mean_of(qs,
                        [&](const query& q) {
                          return recall_at(q.ranked, q.relevant, k);
                        }),
                1e-12);
    EXPECT_NEAR(all.mean_map(),
                mean_of(qs,
                        [&](const query& q) {
                          return average_precision_at(q.ranked, q.relevant, k);
                        }),
                1e-12);
    EXPECT_NEAR(all.mean_ndcg(),
                mean_of(qs,
                        [&](const query& q) {
                          return ndcg_at(q.ranked, q.relevant, k);
                        }),
                1e-12);
    a.merge(b);
    EXPECT_EQ(a.queries, all.queries);
    EXPECT_EQ(a.hits, all.hits);
    EXPECT_EQ(a.capped_slots, all.capped_slots);
    EXPECT_NEAR(a.mean_capped_precision(), all.mean_capped_precision(), 1e-12);
    EXPECT_NEAR(a.mean_ndcg(), all.mean_ndcg(), 1e-12);
  }
}

// The capped precision (hits / min(k, |relevant|)) and `implicit`'s pooled
// version, by hand on Spark's vectors at k = 10:
//   query 1: 5 hits of 5 relevant   -> 5 / min(10, 5) = 1
//   query 2: 3 hits of 3 relevant   -> 3 / 3 = 1
// and at k = 2: query 1 [1, 6] 1 hit / 2; query 2 [4, 1] 1 hit / 2.
TEST(metrics_capped, hand_computed) {
  auto qs = spark_queries();
  EXPECT_DOUBLE_EQ(capped_precision_at(qs[0].ranked, qs[0].relevant, 10), 1.0);
  EXPECT_DOUBLE_EQ(capped_precision_at(qs[1].ranked, qs[1].relevant, 10), 1.0);
  EXPECT_DOUBLE_EQ(capped_precision_at(qs[2].ranked, qs[2].relevant, 10), 0.0);
  EXPECT_DOUBLE_EQ(capped_precision_at(qs[0].ranked, qs[0].relevant, 2), 0.5);
  EXPECT_DOUBLE_EQ(capped_precision_at(qs[1].ranked, qs[1].relevant, 2), 0.5);
  // Pooled: query A 1 hit of min(3, 1) = 1 slot, query B 0 hits of 3 slots.
  ranking_summary s{3};
  s.add(ids{7, 8, 9}, ids{7});
  s.add(ids{1, 2, 3}, ids{4, 5, 6, 10});
  EXPECT_DOUBLE_EQ(s.mean_capped_precision(), 0.5);    // (1 + 0) / 2
  EXPECT_DOUBLE_EQ(s.pooled_capped_precision(), 0.25); // 1 / (1 + 3)
  EXPECT_DOUBLE_EQ(s.mean_precision(), 1.0 / 6);       // (1/3 + 0) / 2
}

TEST(metrics, make_relevant_sorts_and_dedups) {
  EXPECT_EQ(make_relevant({5, 1, 5, 3, 1}), (ids{1, 3, 5}));
}

} // namespace
} // namespace eddy::models

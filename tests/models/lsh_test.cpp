// models/similar + models/lsh: exact top-n against a naive double loop,
// sampling and recall by hand, LSH finding planted near-duplicates, no self
// pairs, candidates == the union of the visited buckets, more tables or
// probes only add candidates, identical tables for any thread count, and
// recall@10 >= 0.95 with the default parameters on the MovieLens preset's ALS
// item factors (skipped without ../shared/data/ml-latest-small).
#include "models/lsh.hpp"

#include "models/evaluation.hpp"
#include "models/random.hpp"
#include "models/similar.hpp"
#include "models/training.hpp"

#include "movielens_data.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <set>
#include <string>
#include <vector>

namespace eddy::models {
namespace {

constexpr float no_score = -std::numeric_limits<float>::infinity();

factor_matrix random_matrix(Eigen::Index rows, Eigen::Index cols,
                            std::uint64_t seed) {
  rng g(seed);
  factor_matrix x(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index c = 0; c < cols; ++c)
      x(r, c) = static_cast<float>(g.normal());
  return x;
}

/// `groups` planted groups of `size` near-duplicates (a random direction plus
/// noise of sd `noise` per coordinate) among `others` random directions.
/// Returns the normalized matrix; group g is rows [g * size, (g + 1) * size).
factor_matrix planted(int groups, int size, int others, int dims, double noise,
                      std::uint64_t seed) {
  rng g(seed);
  factor_matrix x(groups * size + others, dims);
  for (int grp = 0; grp < groups; ++grp) {
    std::vector<double> base(static_cast<std::size_t>(dims));
    for (auto& v : base)
      v = g.normal();
    for (int m = 0; m < size; ++m)
      for (int c = 0; c < dims; ++c)
        x(grp * size + m, c) = static_cast<float>(
            base[static_cast<std::size_t>(c)] + noise * g.normal());
  }
  for (int r = groups * size; r < x.rows(); ++r)
    for (int c = 0; c < dims; ++c)
      x(r, c) = static_cast<float>(g.normal());
  return normalize_rows(x);
}

/// The top-n of every query by a plain double loop over all other items.
std::vector<std::vector<std::int32_t>> naive_top_n(const factor_matrix& x,
                                                   std::size_t n) {
  std::vector<std::vector<std::int32_t>> out;
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    std::vector<std::pair<double, std::int32_t>> all;
    for (Eigen::Index j = 0; j < x.rows(); ++j) {
      if (j == i) continue;
      double s = 0;
      for (Eigen::Index c = 0; c < x.cols(); ++c)
        s += static_cast<double>(x(i, c)) * static_cast<double>(x(j, c));
      all.emplace_back(-s, static_cast<std::int32_t>(j));
    }
    std::sort(all.begin(), all.end());
    std::vector<std::int32_t> ids;
    for (std::size_t k = 0; k < std::min(n, all.size()); ++k)
      ids.push_back(all[k].second);
    out.push_back(ids);
  }
  return out;
}

void expect_same_table(const neighbor_table& a, const neighbor_table& b) {
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.n, b.n);
  EXPECT_EQ(a.query, b.query);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.scores, b.scores); // bit for bit
}

// ---- models/similar ---------------------------------------------------------

TEST(similar, normalize_rows_gives_unit_rows_and_keeps_zero_rows) {
  factor_matrix x(3, 2);
  x << 3, 4, 0, 0, -1, 0;
  auto y = normalize_rows(x);
  EXPECT_FLOAT_EQ(y(0, 0), 0.6F);
  EXPECT_FLOAT_EQ(y(0, 1), 0.8F);
  EXPECT_EQ(y(1, 0), 0.0F);
  EXPECT_EQ(y(1, 1), 0.0F);
  EXPECT_FLOAT_EQ(y(2, 0), -1.0F);
}

TEST(similar, exact_top_n_matches_a_naive_loop_for_any_thread_count) {
  // 300 rows: three query blocks of one item tile (several tiles: below).
  auto x = normalize_rows(random_matrix(300, 16, 7));
  auto naive = naive_top_n(x, 7);
  auto one = exact_top_n(x, 7, 1);
  ASSERT_EQ(one.rows, 300);
  ASSERT_EQ(one.n, 7);
  for (std::int32_t r = 0; r < one.rows; ++r) {
    auto ids = one.ids_of(r);
    EXPECT_EQ(std::vector<std::int32_t>(ids.begin(), ids.end()),
              naive[static_cast<std::size_t>(r)])
        << "row " << r;
    auto scores = one.scores_of(r);
    for (std::size_t k = 0; k < ids.size(); ++k)
      EXPECT_NEAR(scores[k], x.row(r).dot(x.row(ids[k])), 1e-5F);
  }
  for (int threads : {2, 3})
    expect_same_table(exact_top_n(x, 7, threads), one);
}

TEST(similar, exact_top_n_over_several_item_tiles_and_query_subsets) {
  auto x = normalize_rows(random_matrix(5000, 8, 11));
  std::vector<std::int32_t> queries{4999, 0, 2047, 2048, 4095, 17, 17};
  auto t = exact_top_n(x, queries, 5, 2);
  EXPECT_EQ(t.query, queries);
  // The naive top-5 of the queried rows only.
  for (std::size_t q = 0; q < queries.size(); ++q) {
    std::vector<std::pair<double, std::int32_t>> all;
    for (std::int32_t j = 0; j < 5000; ++j)
      if (j != queries[q])
        all.emplace_back(-static_cast<double>(x.row(queries[q]).dot(x.row(j))),
                         j);
    std::sort(all.begin(), all.end());
    auto ids = t.ids_of(static_cast<std::int32_t>(q));
    for (std::size_t k = 0; k < 5; ++k)
      EXPECT_EQ(ids[k], all[k].second) << "query " << queries[q];
  }
  // A repeated query gets the same row.
  auto a = t.ids_of(5), b = t.ids_of(6);
  EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin()));
}

TEST(similar, short_lists_are_padded_and_ties_go_to_the_smaller_id) {
  factor_matrix x(4, 2);
  x << 1, 0, 1, 0, 1, 0, 0, 1; // 0, 1, 2 identical; 3 orthogonal
  auto t = exact_top_n(x, 5, 1);
  auto ids0 = t.ids_of(0);
  EXPECT_EQ(std::vector<std::int32_t>(ids0.begin(), ids0.end()),
            (std::vector<std::int32_t>{1, 2, 3, -1, -1}));
  auto ids2 = t.ids_of(2);
  EXPECT_EQ(std::vector<std::int32_t>(ids2.begin(), ids2.end()),
            (std::vector<std::int32_t>{0, 1, 3, -1, -1}));
  EXPECT_EQ(t.scores_of(2)[3], -std::numeric_limits<float>::infinity());
  auto empty = exact_top_n(x, 0, 2);
  EXPECT_EQ(empty.rows, 4);
  EXPECT_TRUE(empty.ids.empty());
}

TEST(similar, sample_items_is_a_sorted_distinct_deterministic_sample) {
  auto s = sample_items(1000, 100, 3);
  ASSERT_EQ(s.size(), 100U);
  EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
  EXPECT_EQ(std::set<std::int32_t>(s.begin(), s.end()).size(), 100U);
  EXPECT_GE(s.front(), 0);
  EXPECT_LT(s.back(), 1000);
  EXPECT_EQ(sample_items(1000, 100, 3), s);
  EXPECT_NE(sample_items(1000, 100, 4), s);
  EXPECT_EQ(sample_items(5, 10, 3), (std::vector<std::int32_t>{0, 1, 2, 3, 4}));
}

TEST(similar, recall_at_by_hand) {
  neighbor_table exact;
  exact.rows = 2;
  exact.n = 3;
  exact.query = {7, 2};
  exact.ids = {1, 2, 3, /**/ 4, -1, -1}; // query 2 has one neighbour
  exact.scores = {0.9F, 0.8F, 0.7F, /**/ 0.5F, no_score, no_score};
  neighbor_table approx;
  approx.rows = 3;
  approx.n = 3;
  approx.query = {2, 5, 7};
  approx.ids = {4, 9, -1, /**/ 0, 0, 0, /**/ 3, 9, 1};
  approx.scores = {0.5F, 0.1F,     no_score, /**/ 0, 0, 0, /**/
                   0.7F, 0.69995F, 0.9F};
  // Plain overlap: query 7 finds {1, 3} of {1, 2, 3}; query 2 finds {4}.
  EXPECT_NEAR(recall_at(approx, exact, 3, 0.0F), (2.0 / 3 + 1.0) / 2, 1e-12);
  // Item 9 ties with exact's third (0.69995 vs 0.7, within 1e-4): a match.
  EXPECT_NEAR(recall_at(approx, exact, 3), 1.0, 1e-12);
  // @1: query 7's truth {1} (0.9) vs found {3} (0.7) -> 0; query 2: 1.
  EXPECT_NEAR(recall_at(approx, exact, 1), 0.5, 1e-12);
  // An exact tie with a different id counts even without epsilon.
  approx.scores[7] = 0.7F;
  EXPECT_NEAR(recall_at(approx, exact, 3, 0.0F), 1.0, 1e-12);
}

// ---- models/lsh -------------------------------------------------------------

TEST(lsh, validate_names_the_bad_key) {
  EXPECT_FALSE(validate(lsh_params{}).has_value());
  auto bad = [](auto edit) {
    lsh_params p;
    edit(p);
    auto e = validate(p);
    return e ? *e : std::string{};
  };
  EXPECT_NE(bad([](lsh_params& p) { p.tables = 0; }).find("tables"),
            std::string::npos);
  EXPECT_NE(bad([](lsh_params& p) { p.projections = 0; }).find("projections"),
            std::string::npos);
  EXPECT_NE(bad([](lsh_params& p) { p.bucket_length = 0; }).find("bucket"),
            std::string::npos);
  EXPECT_NE(bad([](lsh_params& p) { p.bucket_length = NAN; }).find("bucket"),
            std::string::npos);
  EXPECT_NE(bad([](lsh_params& p) { p.probes = 17; }).find("probes"),
            std::string::npos);
  EXPECT_NE(bad([](lsh_params& p) { p.threads = 0; }).find("threads"),
            std::string::npos);
}

TEST(lsh, finds_planted_near_duplicates_exactly) {
  // 40 groups of 5 near-duplicates (cosine ~0.99) among 3000 random
  // directions in 32 dimensions (cosines ~N(0, 1/32)).
  constexpr int groups = 40, size = 5;
  auto x = planted(groups, size, 3000, 32, 0.05, 5);
  lsh_params p;
  p.tables = 16;
  p.projections = 8;
  p.threads = 2;
  lsh_index index(x, p);
  std::vector<std::int32_t> queries(groups * size);
  std::iota(queries.begin(), queries.end(), 0);
  auto got = index.query(queries, size - 1);
  auto exact = exact_top_n(x, queries, size - 1, 2);
  for (std::int32_t r = 0; r < got.rows; ++r) {
    const std::int32_t grp = queries[static_cast<std::size_t>(r)] / size;
    auto ids = got.ids_of(r);
    std::vector<std::int32_t> sorted(ids.begin(), ids.end());
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::int32_t> want;
    for (std::int32_t m = grp * size; m < (grp + 1) * size; ++m)
      if (m != queries[static_cast<std::size_t>(r)]) want.push_back(m);
    EXPECT_EQ(sorted, want) << "item " << queries[static_cast<std::size_t>(r)];
    auto e = exact.ids_of(r);
    EXPECT_TRUE(std::equal(ids.begin(), ids.end(), e.begin()));
  }
  EXPECT_EQ(recall_at(got, exact, size - 1), 1.0);
}

TEST(lsh, rows_have_no_self_pairs_no_repeats_and_exact_cosines) {
  auto x = normalize_rows(random_matrix(2000, 16, 9));
  lsh_params p;
  p.tables = 8;
  p.projections = 4;
  p.probes = 2;
  lsh_stats st;
  auto t = lsh_index(x, p).table(10, &st);
  ASSERT_EQ(t.rows, 2000);
  EXPECT_GT(st.comparisons, 0U);
  EXPECT_EQ(st.probes, 2000U * 8 * 3);
  for (std::int32_t r = 0; r < t.rows; ++r) {
    EXPECT_EQ(t.query[static_cast<std::size_t>(r)], r);
    auto ids = t.ids_of(r);
    auto scores = t.scores_of(r);
    std::set<std::int32_t> seen;
    for (std::size_t k = 0; k < ids.size(); ++k) {
      if (ids[k] < 0) {
        EXPECT_EQ(scores[k], -std::numeric_limits<float>::infinity());
        continue;
      }
      EXPECT_NE(ids[k], r);
      EXPECT_TRUE(seen.insert(ids[k]).second) << "repeat in row " << r;
      EXPECT_NEAR(scores[k], x.row(r).dot(x.row(ids[k])), 1e-6F);
      if (k > 0 && ids[k - 1] >= 0) {
        EXPECT_GE(scores[k - 1], scores[k]);
      }
    }
  }
}

TEST(lsh, candidates_are_the_union_of_the_items_buckets) {
  auto x = normalize_rows(random_matrix(1500, 12, 13));
  lsh_params p;
  p.tables = 6;
  p.projections = 3;
  lsh_index index(x, p);
  for (std::int32_t item : {0, 1, 777, 1499}) {
    std::set<std::int32_t> want;
    for (int t = 0; t < p.tables; ++t)
      for (auto id : index.bucket(t, index.key(item, t)))
        if (id != item) want.insert(id);
    auto got = index.candidates(item);
    EXPECT_EQ(got, std::vector<std::int32_t>(want.begin(), want.end()));
    // query() keeps the best of exactly these.
    auto row = index.query(std::vector<std::int32_t>{item}, 5);
    std::vector<std::pair<float, std::int32_t>> scored;
    for (auto id : got)
      scored.emplace_back(-x.row(item).dot(x.row(id)), id);
    std::sort(scored.begin(), scored.end());
    for (std::size_t k = 0; k < std::min<std::size_t>(5, scored.size()); ++k)
      EXPECT_EQ(row.ids_of(0)[k], scored[k].second);
  }
}

TEST(lsh, more_tables_and_more_probes_only_add_candidates) {
  auto x = normalize_rows(random_matrix(1500, 12, 17));
  lsh_params p;
  p.tables = 4;
  p.projections = 4;
  lsh_index small(x, p);
  p.tables = 8; // the same seed draws the same first 4 tables
  lsh_index more_tables(x, p);
  p.probes = 3;
  lsh_index probed(x, p);
  for (std::int32_t item = 0; item < 1500; item += 37) {
    auto a = small.candidates(item);
    auto b = more_tables.candidates(item);
    auto c = probed.candidates(item);
    EXPECT_TRUE(std::includes(b.begin(), b.end(), a.begin(), a.end()));
    EXPECT_TRUE(std::includes(c.begin(), c.end(), b.begin(), b.end()));
  }
}

TEST(lsh, tables_do_not_depend_on_the_thread_count) {
  auto x = planted(30, 4, 3000, 24, 0.3, 21);
  // Probes 0 runs the bucket join; few long projections make buckets of
  // hundreds (its GEMM-filtered path), probes 4 runs per-item queries.
  for (int probes : {0, 4, -1}) {
    lsh_params p;
    p.tables = 8;
    p.probes = std::max(probes, 0);
    if (probes < 0) {
      p.projections = 2;
      p.bucket_length = 1.5F;
    }
    p.threads = 1;
    lsh_stats st1;
    auto one = lsh_index(x, p).table(10, &st1);
    for (int threads : {2, 3, 7}) {
      p.threads = threads;
      lsh_stats st;
      expect_same_table(lsh_index(x, p).table(10, &st), one);
      EXPECT_EQ(st.comparisons, st1.comparisons);
      EXPECT_EQ(st.buckets, st1.buckets);
      if (probes < 0) {
        EXPECT_GE(st.largest_bucket, 200U);
      }
    }
    // The join (probes 0) and per-item queries give the very same table.
    std::vector<std::int32_t> all(3120);
    std::iota(all.begin(), all.end(), 0);
    expect_same_table(lsh_index(x, p).query(all, 10), one);
    // A batch query of some items gives those items' rows of the table.
    std::vector<std::int32_t> some{3, 2999, 3, 100};
    auto q = lsh_index(x, p).query(some, 10);
    for (std::size_t r = 0; r < some.size(); ++r) {
      auto a = q.ids_of(static_cast<std::int32_t>(r));
      auto b = one.ids_of(some[r]);
      EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin()));
    }
  }
  // A different seed gives different tables (but the same kind of answer).
  lsh_params p;
  lsh_index a(x, p);
  p.seed = 43;
  lsh_index b(x, p);
  EXPECT_NE(a.key(0, 0), b.key(0, 0));
}

TEST(lsh, buckets_split_over_workers_and_merged_equal_the_table) {
  // The distributed join: buckets spread over W workers, each joining its
  // buckets over only the rows they reference (renumbered locally), then the
  // coordinator's merge. Same table as the single-process join, any W.
  auto x = planted(30, 4, 2000, 24, 0.3, 5);
  lsh_params p;
  p.tables = 12;
  p.projections = 3; // buckets of hundreds: the GEMM-filtered path too
  p.bucket_length = 1.5F;
  lsh_index index(x, p);
  const auto whole = index.table(10);
  std::vector<std::uint64_t> keys;
  const auto all = index.buckets(&keys);
  ASSERT_EQ(keys.size(), all.size());
  for (std::size_t workers : {1U, 2U, 3U, 5U}) {
    std::vector<neighbor_table> parts;
    for (std::size_t w = 0; w < workers; ++w) {
      std::vector<std::int32_t> rows; // global ids this worker needs
      std::vector<std::size_t> mine;
      for (std::size_t b = 0; b < all.size(); ++b)
        if (keys[b] % workers == w) {
          mine.push_back(b);
          rows.insert(rows.end(), all[b].begin(), all[b].end());
        }
      std::sort(rows.begin(), rows.end());
      rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
      factor_matrix local(static_cast<Eigen::Index>(rows.size()), x.cols());
      for (std::size_t r = 0; r < rows.size(); ++r)
        local.row(static_cast<Eigen::Index>(r)) = x.row(rows[r]);
      bucket_list lb;
      for (auto b : mine) {
        std::vector<std::int32_t> m;
        for (auto id : all[b])
          m.push_back(static_cast<std::int32_t>(
              std::lower_bound(rows.begin(), rows.end(), id) - rows.begin()));
        lb.add(m);
      }
      auto t = join_buckets(local, lb, 10, 2);
      for (auto& id : t.ids)
        if (id >= 0) id = rows[static_cast<std::size_t>(id)];
      t.query = rows;
      parts.push_back(std::move(t));
    }
    SCOPED_TRACE(workers);
    expect_same_table(
        merge_neighbor_lists(static_cast<std::int32_t>(x.rows()), 10, parts),
        whole);
  }
  // A pair offered twice (two parts, or one part twice) is kept once.
  std::vector<neighbor_table> twice{whole, whole};
  expect_same_table(
      merge_neighbor_lists(static_cast<std::int32_t>(x.rows()), 10, twice),
      whole);
}

// ---- recall on MovieLens ALS factors
// -----------------------------------------

using testdata::read_ratings;
using testdata::shared_data;

TEST(lsh_movielens, default_params_reach_recall_at_10_of_095_on_als_factors) {
  auto path = shared_data("ml-latest-small/ratings.csv");
  if (path.empty())
    GTEST_SKIP()
        << "ml-latest-small/ratings.csv not found in ../shared/data next to "
           "the checkout (or $EDDY_DATA_DIR): cannot check LSH recall";
  using clock = std::chrono::steady_clock;
  auto secs = [](clock::time_point t0) {
    return std::chrono::duration<double>(clock::now() - t0).count();
  };
  auto events = read_ratings(path);
  ASSERT_EQ(events.size(), 100836U);
  auto t0 = clock::now();
  auto s = movielens_preset(); // alpha 5, 64 factors, reg 50, CG 3, 15 its
  s.als.threads = 2;
  auto data = build_training_data(events, s.data);
  auto model = fit(data.conf, s.als);
  const double fit_s = secs(t0);
  auto x = normalize_rows(model.items);

  t0 = clock::now();
  lsh_params p; // the defaults
  p.threads = 2;
  lsh_stats st;
  auto table = lsh_index(x, p).table(10, &st);
  const double lsh_s = secs(t0);
  t0 = clock::now();
  auto exact = exact_top_n(x, 10, 2);
  const double exact_s = secs(t0);
  const double recall = recall_at(table, exact, 10);
  const double strict = recall_at(table, exact, 10, 0.0F);
  // The sampled estimate the pipeline reports stays close to the full one.
  const double sampled =
      sampled_recall(x, table, sample_items(x.rows(), 1000, 1), 10, 2);
  std::printf("ml-latest-small ALS items %ld x %ld (fit %.1f s): LSH "
              "L=%d K=%d w=%g probes=%d: recall@10 %.4f (sample of 1000: "
              "%.4f; ids only, near-ties not matched: %.4f), %.1f "
              "cosines/item, %.2f s; exact %.2f s\n",
              static_cast<long>(x.rows()), static_cast<long>(x.cols()), fit_s,
              p.tables, p.projections, static_cast<double>(p.bucket_length),
              p.probes, recall, sampled, strict,
              static_cast<double>(st.comparisons) /
                  static_cast<double>(x.rows()),
              lsh_s, exact_s);
  EXPECT_EQ(x.rows(), 9724);
  EXPECT_GE(recall, 0.95);
  EXPECT_NEAR(sampled, recall, 0.02);
}

} // namespace
} // namespace eddy::models

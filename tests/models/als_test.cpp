// models/als: CSR building, the hand-computed loss, exact recovery of P with
// reg = 0, CG == Cholesky after enough steps, loss decreasing over iterations,
// and fit() determinism (seed, thread count). Fixed seeds, small matrices.
#include "models/als.hpp"

#include "models/random.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace eddy::models {
namespace {

/// rows x cols ratings with about `density` of the pairs observed, values in
/// [1, 5], every row and column with at least one entry.
csr_matrix random_ratings(std::int32_t rows, std::int32_t cols, double density,
                          std::uint64_t seed) {
  rng g(seed);
  std::vector<triple> t;
  for (std::int32_t r = 0; r < rows; ++r)
    for (std::int32_t c = 0; c < cols; ++c)
      if (g.bernoulli(density) || r % cols == c || c % rows == r)
        t.push_back({r, c, static_cast<float>(1 + g.below(5))});
  return csr_matrix::from_triples(rows, cols, t);
}

float max_abs_diff(const factor_matrix& a, const factor_matrix& b) {
  return (a - b).cwiseAbs().maxCoeff();
}

TEST(als_csr, from_triples_sums_duplicates_and_sorts_columns) {
  auto m = csr_matrix::from_triples(
      3, 4,
      {{2, 3, 1.0F}, {0, 2, 2.0F}, {0, 1, 1.0F}, {2, 3, 4.0F}, {0, 2, 0.5F}});
  EXPECT_EQ(m.rows, 3);
  EXPECT_EQ(m.cols, 4);
  EXPECT_EQ(m.indptr, (std::vector<std::int64_t>{0, 2, 2, 3}));
  EXPECT_EQ(m.indices, (std::vector<std::int32_t>{1, 2, 3}));
  EXPECT_EQ(m.values, (std::vector<float>{1.0F, 2.5F, 5.0F}));
  EXPECT_EQ(m.nnz(), 3);
}

TEST(als_csr, transpose_swaps_and_round_trips) {
  auto m = csr_matrix::from_triples(
      3, 4, {{2, 3, 1.0F}, {0, 2, 2.0F}, {0, 1, 1.0F}, {1, 2, 7.0F}});
  auto t = m.transpose();
  EXPECT_EQ(t.rows, 4);
  EXPECT_EQ(t.cols, 3);
  EXPECT_EQ(t.indptr, (std::vector<std::int64_t>{0, 0, 1, 3, 4}));
  EXPECT_EQ(t.indices, (std::vector<std::int32_t>{0, 0, 1, 2}));
  EXPECT_EQ(t.values, (std::vector<float>{1.0F, 2.0F, 7.0F, 1.0F}));
  auto back = t.transpose();
  EXPECT_EQ(back.indptr, m.indptr);
  EXPECT_EQ(back.indices, m.indices);
  EXPECT_EQ(back.values, m.values);
}

TEST(als_csr, empty_matrix_and_confidences) {
  auto e = csr_matrix::from_triples(2, 2, {});
  EXPECT_EQ(e.indptr, (std::vector<std::int64_t>{0, 0, 0}));
  EXPECT_EQ(e.transpose().indptr, (std::vector<std::int64_t>{0, 0, 0}));
  auto c = confidences(csr_matrix::from_triples(1, 2, {{0, 1, 2.0F}}), 10.0F);
  EXPECT_EQ(c.values, (std::vector<float>{21.0F}));
}

TEST(als, gram_includes_reg_on_the_diagonal) {
  factor_matrix y(2, 2);
  y << 1, 2, 3, 4;
  Eigen::MatrixXf g = gram(y, 0.5F);
  EXPECT_FLOAT_EQ(g(0, 0), 10.5F);
  EXPECT_FLOAT_EQ(g(0, 1), 14.0F);
  EXPECT_FLOAT_EQ(g(1, 0), 14.0F);
  EXPECT_FLOAT_EQ(g(1, 1), 20.5F);
}

TEST(als, loss_by_hand_on_2x2) {
  // k = 1: x = (1, 0.5), y = (1, 3); observed (0,0) c=3 and (1,1) c=2.
  // predictions s00=1 s01=3 s10=0.5 s11=1.5
  // 3(1-1)^2 + 1(0-3)^2 + 1(0-0.5)^2 + 2(1-1.5)^2 = 0 + 9 + 0.25 + 0.5 = 9.75
  // reg 0.1 * (1 + 0.25 + 1 + 9) = 1.125           -> loss 10.875
  // normalizer: sum c (5) + 2*2 - nnz (2) = 7
  auto c = csr_matrix::from_triples(2, 2, {{0, 0, 3.0F}, {1, 1, 2.0F}});
  factor_matrix x(2, 1), y(2, 1);
  x << 1.0F, 0.5F;
  y << 1.0F, 3.0F;
  auto l = loss(c, x, y, 0.1F);
  EXPECT_NEAR(l.loss, 10.875, 1e-6);
  EXPECT_NEAR(l.normalized, 10.875 / 7.0, 1e-6);
  // Blocks of rows merge to the whole (the distributed coordinator's sum).
  auto g = gram(y, 0.1F);
  auto a = loss_rows(c, x, y, g, 0, 1);
  a.merge(loss_rows(c, x, y, g, 1, 2));
  auto whole = loss_rows(c, x, y, g, 0, 2);
  EXPECT_DOUBLE_EQ(a.value, whole.value);
  EXPECT_EQ(a.nnz, 2);
  EXPECT_DOUBLE_EQ(a.confidence_sum, 5.0);
}

void expect_exact_recovery(int cg_steps) {
  // P has rank 3 and k = 3, reg = 0: X Y^T = P exactly is the optimum.
  std::vector<triple> t = {
      {0, 0, 1.0F}, {1, 1, 3.0F}, {2, 2, 2.0F}, {3, 0, 5.0F}, {3, 1, 1.0F}};
  auto c = confidences(csr_matrix::from_triples(4, 3, t), 2.0F);
  als_params p;
  p.factors = 3;
  p.reg = 0.0F;
  p.iterations = cg_steps == 0 ? 3 : 20;
  p.cg_steps = cg_steps;
  p.init_scale = 1.0F;
  p.seed = 7;
  auto m = fit(c, p);
  Eigen::MatrixXf pred = m.users * m.items.transpose();
  Eigen::MatrixXf want = Eigen::MatrixXf::Zero(4, 3);
  for (const auto& e : t)
    want(e.row, e.col) = 1.0F;
  EXPECT_LT((pred - want).cwiseAbs().maxCoeff(), 1e-3F) << pred;
  EXPECT_LT(loss(c, m.users, m.items, 0.0F).loss, 1e-5);
}

TEST(als, recovers_preferences_exactly_with_cholesky) {
  expect_exact_recovery(0);
}

TEST(als, recovers_preferences_exactly_with_cg) {
  expect_exact_recovery(3);
}

TEST(als, cg_matches_cholesky_after_enough_steps) {
  auto c = confidences(random_ratings(60, 40, 0.15, 11), 4.0F);
  const int k = 8;
  auto y = init_factors(c.cols, k, 5, 1, 1.0F);
  auto start = init_factors(c.rows, k, 5, 0, 0.01F);
  auto yty = gram(y, 0.1F);
  factor_matrix exact = start, cg = start;
  solve_rows(c, y, yty, 0, exact, 0, c.rows);
  solve_rows(c, y, yty, 3 * k, cg, 0, c.rows);
  float worst = 0.0F;
  for (Eigen::Index r = 0; r < exact.rows(); ++r)
    worst = std::max(worst,
                     (exact.row(r) - cg.row(r)).norm() / exact.row(r).norm());
  EXPECT_LT(worst, 1e-3F);
  // Few steps are an approximation, but never worse than the start, and a
  // warm start at the exact answer stays there.
  factor_matrix few = start;
  solve_rows(c, y, yty, 2, few, 0, c.rows);
  auto l_start = loss(c, start, y, 0.1F).loss;
  auto l_few = loss(c, few, y, 0.1F).loss;
  auto l_exact = loss(c, exact, y, 0.1F).loss;
  EXPECT_LT(l_few, l_start);
  EXPECT_LE(l_exact, l_few * (1 + 1e-6));
  factor_matrix warm = exact;
  solve_rows(c, y, yty, 3, warm, 0, c.rows);
  EXPECT_LT(max_abs_diff(warm, exact), 1e-4F);
}

TEST(als, loss_decreases_over_iterations) {
  auto c = confidences(random_ratings(80, 60, 0.1, 3), 2.0F);
  for (int cg : {0, 3}) {
    als_params p;
    p.factors = 8;
    p.reg = 0.1F;
    p.iterations = 8;
    p.cg_steps = cg;
    p.track_loss = true;
    auto m = fit(c, p);
    ASSERT_EQ(m.losses.size(), 8U);
    for (std::size_t i = 1; i < m.losses.size(); ++i)
      EXPECT_LE(m.losses[i].loss, m.losses[i - 1].loss * (1 + 1e-5))
          << "cg_steps " << cg << " iteration " << i;
    EXPECT_LT(m.losses.back().loss, 0.9 * m.losses.front().loss);
    EXPECT_LT(m.losses.back().normalized, m.losses.front().normalized);
  }
}

TEST(als, fit_is_deterministic_in_seed_and_threads) {
  auto c = confidences(random_ratings(70, 50, 0.1, 9), 2.0F);
  als_params p;
  p.factors = 6;
  p.iterations = 4;
  p.seed = 123;
  auto a = fit(c, p);
  auto b = fit(c, p);
  EXPECT_TRUE(a.users == b.users);
  EXPECT_TRUE(a.items == b.items);
  for (int threads : {2, 3, 7}) {
    p.threads = threads;
    auto t = fit(c, p);
    EXPECT_TRUE(a.users == t.users) << threads << " threads";
    EXPECT_TRUE(a.items == t.items) << threads << " threads";
  }
  p.threads = 1;
  p.seed = 124;
  auto d = fit(c, p);
  EXPECT_GT(max_abs_diff(a.users, d.users), 1e-3F);
}

// The vectorized kernels (k a multiple of 16: registers; other k: the scalar
// path with a tail) against the exact solver, as above.
TEST(als, cg_matches_cholesky_for_vector_and_tail_widths) {
  auto c = confidences(random_ratings(90, 300, 0.08, 21), 4.0F);
  for (int k : {64, 20}) {
    auto y = init_factors(c.cols, k, 6, 1, 0.3F);
    auto start = init_factors(c.rows, k, 6, 0, 0.01F);
    auto yty = gram(y, 0.1F);
    factor_matrix exact = start, cg = start;
    solve_rows(c, y, yty, 0, exact, 0, c.rows);
    solve_rows(c, y, yty, 4 * k, cg, 0, c.rows);
    float worst = 0.0F;
    for (Eigen::Index r = 0; r < exact.rows(); ++r)
      worst = std::max(worst,
                       (exact.row(r) - cg.row(r)).norm() / exact.row(r).norm());
    EXPECT_LT(worst, 1e-3F) << "k " << k;
  }
}

TEST(als, gram_is_the_same_for_any_threads_and_close_to_eigen) {
  auto y = init_factors(5000, 24, 3, 1, 1.0F);
  auto one = gram(y, 0.25F);
  for (int threads : {2, 3})
    EXPECT_TRUE(gram(y, 0.25F, threads) == one) << threads << " threads";
  Eigen::MatrixXd want = y.cast<double>().transpose() * y.cast<double>();
  want.diagonal().array() += 0.25;
  EXPECT_LT((one.cast<double>() - want).cwiseAbs().maxCoeff(),
            1e-5 * want.cwiseAbs().maxCoeff());
}

// Every kernel width this CPU has (AVX-512 16, AVX2 8, SSE2 4) gives the same
// bits: the dot products use 16 lanes and no FMA whatever the width.
TEST(als, fit_is_the_same_for_every_vector_width) {
  auto c = confidences(random_ratings(120, 90, 0.1, 17), 3.0F);
  const int native = kernel_vector_width();
  for (int k : {64, 32, 20}) {
    als_params p;
    p.factors = k;
    p.iterations = 3;
    p.threads = 2;
    kernel_vector_width(16);
    auto want = fit(c, p);
    for (int width : {8, 4}) {
      kernel_vector_width(width);
      auto got = fit(c, p);
      EXPECT_TRUE(got.users == want.users) << "k " << k << " width " << width;
      EXPECT_TRUE(got.items == want.items) << "k " << k << " width " << width;
    }
  }
  kernel_vector_width(16);
  EXPECT_EQ(kernel_vector_width(), native);
}

TEST(als, init_factors_do_not_depend_on_block) {
  auto all = init_factors(10, 4, 99, 0, 0.01F);
  auto fewer = init_factors(3, 4, 99, 0, 0.01F);
  EXPECT_TRUE(all.topRows(3) == fewer);
  EXPECT_GE(all.minCoeff(), 0.0F);
  EXPECT_LT(all.maxCoeff(), 0.01F);
  EXPECT_FALSE(init_factors(10, 4, 99, 1, 0.01F) == all);
}

} // namespace
} // namespace eddy::models

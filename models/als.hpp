#pragma once
// Implicit-feedback ALS (Hu, Koren & Volinsky 2008) as pure half-steps
// (DESIGN.md §5, STYLE.md habit 2). The single-process fit() and a distributed
// coordinator call the very same functions: gram(), solve_rows(), loss_rows().
//
// Data: a CSR matrix C (users x items) of confidences c_ui = 1 + alpha * r_ui.
// Every stored entry is an observed pair with preference p_ui = 1; every pair
// not stored has p_ui = 0 and c_ui = 1. (Build C with confidences(R, alpha).)
//
// Objective, over ALL users u and items i:
//   L = sum_{u,i} c_ui (p_ui - x_u.y_i)^2
//       + reg * (sum_u |x_u|^2 + sum_i |y_i|^2)
// normalized_loss = L / (sum of stored c_ui + users * items - nnz), i.e. L
// divided by the sum of c_ui over all pairs (the `implicit` library's scale).
//
// Gram convention: gram(Y, reg) = Y^T Y + reg * I (reg INCLUDED). A user
// half-step solves, for each user u,
//   (Y^T Y + reg I + Y^T (C_u - I) Y) x_u = Y^T C_u p_u
// which only needs the k x k gram plus the user's own observed items.
// An item half-step is the same call on C^T with the roles of X and Y swapped.
//
// Factor matrices are row-major n x k float32 (one row per user or item, so a
// block of rows is a contiguous buffer). Everything is deterministic: a row's
// result depends only on its inputs, never on threads, block boundaries or the
// CPU's vector unit (see kernel_vector_width).

#include <Eigen/Core>

#include <cstdint>
#include <functional>
#include <vector>

namespace eddy::models {

/// Row-major n x k float factors.
using factor_matrix =
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// One (row, col, value) entry for building a csr_matrix.
struct triple {
  std::int32_t row = 0;
  std::int32_t col = 0;
  float value = 0.0F;
};

/// A minimal compressed-sparse-row matrix. Column indices are sorted and
/// unique within a row.
struct csr_matrix {
  std::int32_t rows = 0;
  std::int32_t cols = 0;
  std::vector<std::int64_t> indptr{0}; ///< rows + 1 offsets into indices/values
  std::vector<std::int32_t> indices;   ///< column of each entry
  std::vector<float> values;           ///< value of each entry

  std::int64_t nnz() const { return static_cast<std::int64_t>(indices.size()); }

  /// Builds a rows x cols matrix; duplicate (row, col) entries are summed
  /// (in input order). Precondition: 0 <= row < rows, 0 <= col < cols.
  static csr_matrix from_triples(std::int32_t rows, std::int32_t cols,
                                 const std::vector<triple>& entries);

  /// The cols x rows transpose (still sorted by column within each row).
  csr_matrix transpose() const;
};

/// A copy of R with every value r replaced by the confidence 1 + alpha * r.
csr_matrix confidences(const csr_matrix& r, float alpha);

/// Y^T Y + reg * I (k x k), where Y is n x k. Summed in fixed blocks of
/// rows, so the result is the same bits for any `threads`.
Eigen::MatrixXf gram(const factor_matrix& y, float reg, int threads = 1);

/// Y^T Y in double (no reg): products of floats are exact in double, sums
/// round in double. Fixed blocks of rows, the same bits for any `threads`.
/// The distributed coordinator sums the workers' partial Grams in this form.
Eigen::MatrixXd gram_double(const factor_matrix& y, int threads = 1);

/// One half-step for rows [first, last) of X (C.rows == X.rows(),
/// C.cols == Y.rows(), yty = gram(Y, reg)).
///  - cg_steps == 0: the exact solution via Cholesky (LDLT) of the full
///    k x k system, formed per row. The reference.
///  - cg_steps > 0: conjugate gradient starting from the current X rows (warm
///    start), at most cg_steps iterations; the system matrix is applied as
///    yty * p + sum_i (c_ui - 1) (y_i . p) y_i without being formed.
void solve_rows(const csr_matrix& c, const factor_matrix& y,
                const Eigen::MatrixXf& yty, int cg_steps, factor_matrix& x,
                std::int32_t first, std::int32_t last);

/// The whole of X, split over `threads` std::threads (results do not depend on
/// `threads`: each row is solved independently).
void solve_rows(const csr_matrix& c, const factor_matrix& y,
                const Eigen::MatrixXf& yty, int cg_steps, factor_matrix& x,
                int threads = 1);

/// A block's share of the loss; merge() blocks to get the total.
struct loss_terms {
  /// sum over the block's rows u, all items i, of c_ui (p_ui - x_u.y_i)^2
  /// + reg |x_u|^2 (the rows' own regularization; see loss_rows).
  double value = 0.0;
  double confidence_sum = 0.0; ///< sum of the block's stored c_ui
  std::int64_t nnz = 0;        ///< stored entries in the block

  void merge(const loss_terms& other) {
    value += other.value;
    confidence_sum += other.confidence_sum;
    nnz += other.nnz;
  }
};

/// Loss terms of rows [first, last) of X with yty = gram(Y, reg): computed as
/// x^T yty x + sum_observed ((c-1) s^2 - 2 c s + c), s = x.y_i, in double.
loss_terms loss_rows(const csr_matrix& c, const factor_matrix& x,
                     const factor_matrix& y, const Eigen::MatrixXf& yty,
                     std::int32_t first, std::int32_t last);

/// All rows of X, in fixed chunks of rows merged in order over `threads`
/// std::threads (the same bits for any `threads`).
loss_terms loss_rows(const csr_matrix& c, const factor_matrix& x,
                     const factor_matrix& y, const Eigen::MatrixXf& yty,
                     int threads);

struct als_loss {
  double loss = 0.0;       ///< L above (unnormalized)
  double normalized = 0.0; ///< L / (sum c + users * items - nnz)
};

/// The full objective: all rows of X via loss_rows plus reg * |Y|^2.
als_loss loss(const csr_matrix& c, const factor_matrix& x,
              const factor_matrix& y, float reg, int threads = 1);

/// The vector width, in floats, of the Gram and CG kernels on this CPU: 16
/// (AVX-512), 8 (AVX2) or 4 (SSE2). Results are the same bits for every width
/// (fixed 16-lane dot products, no FMA). For tests: force = 4, 8 or 16 makes
/// later calls use min(force, the CPU's width); force = 0 only asks.
int kernel_vector_width(int force = 0);

/// Deterministic initial factors: row `row` of a matrix is drawn from
/// rng(seed, stream) mixed with the row id, uniform in [0, scale), so a row's
/// start does not depend on which block or worker owns it.
factor_matrix init_factors(std::int32_t rows, int factors, std::uint64_t seed,
                           std::uint64_t stream, float scale);

struct als_params {
  int factors = 64;
  float reg = 0.01F;
  int iterations = 15; ///< user + item half-step pairs
  int cg_steps = 3;    ///< 0 = exact Cholesky solves
  std::uint64_t seed = 42;
  float init_scale = 0.01F;
  int threads = 1;
  bool track_loss = false; ///< compute loss() after every iteration
};

struct als_model {
  factor_matrix users;          ///< C.rows x factors
  factor_matrix items;          ///< C.cols x factors
  std::vector<als_loss> losses; ///< one per iteration if track_loss
};

/// Alternates user and item half-steps on C (confidences) from
/// init_factors(seed, stream 0 users / 1 items). Same C, params -> same
/// factors, bit for bit, for any `threads`.
als_model fit(const csr_matrix& c, const als_params& p);

/// What fit() reports after each iteration (models never log: callers do).
struct iteration_stats {
  int iteration = 0;        ///< 1-based
  double solve_seconds = 0; ///< wall time of the two half-steps
  double loss_seconds = 0;  ///< wall time of loss() (0 without track_loss)
  const als_loss* loss = nullptr; ///< this iteration's loss if track_loss
};
using iteration_callback = std::function<void(const iteration_stats&)>;

/// fit() calling `on_iteration` (if set) after every iteration; the factors
/// are the same as without it.
als_model fit(const csr_matrix& c, const als_params& p,
              const iteration_callback& on_iteration);

} // namespace eddy::models

#pragma once
// Similar items by cosine over item factors (DESIGN.md §5): the exact
// reference every approximate table is measured against.
//
//   cosine(i, j) = x_i . x_j / (|x_i| |x_j|), computed as the dot product of
//   the L2-normalized rows (normalize_rows; a zero row stays zero, so its
//   cosine with everything is 0).
//
// A neighbour table holds, for each query item, its top-n other items by
// cosine, best first; ties are broken by item id ascending, so the table is a
// pure function of the factors (never of threads or block boundaries). An
// item is never its own neighbour. Lists shorter than n (fewer candidates) are
// padded with id -1 and score -infinity (FAISS's convention for labels).
//
// exact_top_n is a blocked GEMM: a fixed block of query rows times a fixed
// tile of item rows (Eigen), each row's top-n kept while scanning the tile.
// Blocks are fixed sizes handed to threads in order, so every score is
// computed by the same kernel call whatever the thread count.

#include "models/als.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace eddy::models {

/// Row-major `rows x n` neighbour ids and cosines (contiguous buffers, one row
/// per query; STYLE.md habit 3).
struct neighbor_table {
  std::int32_t rows = 0;           ///< queries
  std::int32_t n = 0;              ///< neighbours per query
  std::vector<std::int32_t> ids;   ///< rows * n; -1 = no neighbour
  std::vector<float> scores;       ///< rows * n; -inf where ids == -1
  std::vector<std::int32_t> query; ///< rows: the item each row is for

  std::span<const std::int32_t> ids_of(std::int32_t row) const {
    return {ids.data() + static_cast<std::size_t>(row) * nz(), nz()};
  }
  std::span<const float> scores_of(std::int32_t row) const {
    return {scores.data() + static_cast<std::size_t>(row) * nz(), nz()};
  }

 private:
  std::size_t nz() const { return static_cast<std::size_t>(n); }
};

/// A copy of `x` with every non-zero row scaled to unit L2 norm (computed in
/// double, stored as float); zero rows stay zero.
factor_matrix normalize_rows(const factor_matrix& x);

/// The exact top-n by cosine of every item in `queries` (ids into
/// `normalized`, which must be normalize_rows() output) among all other rows
/// of `normalized`. `threads` std::threads; the result does not depend on it.
neighbor_table exact_top_n(const factor_matrix& normalized,
                           std::span<const std::int32_t> queries, std::size_t n,
                           int threads = 1);

/// The same for every item (queries 0 .. rows-1).
neighbor_table exact_top_n(const factor_matrix& normalized, std::size_t n,
                           int threads = 1);

/// `count` distinct item ids drawn uniformly from [0, items) with rng(seed),
/// sorted ascending (all items when count >= items).
std::vector<std::int32_t> sample_items(std::int32_t items, std::size_t count,
                                       std::uint64_t seed);

/// Scores closer than this count as ties in recall_at (cosine units).
inline constexpr float recall_tie_epsilon = 1e-4F;

/// recall@n of `approx` against `exact` over the queries they share: for each
/// query q of `exact` (which must also have a row in `approx`), the share of
/// exact's first n real neighbours that approx's first n match, averaged over
/// queries with at least one exact neighbour (1.0 when there are none).
/// A found neighbour matches if exact lists it, or if its score is within
/// `tie_epsilon` of exact's n-th score: with near-ties (ALS gives every item
/// rated by one same user the same factors, up to CG rounding) exact's pick
/// among equals is an accident of float rounding. This is ann-benchmarks'
/// threshold recall (epsilon 1e-3 on distances there); tie_epsilon = 0 gives
/// the plain id overlap (still counting exact score ties). approx's scores are
/// trusted to be exact cosines (LSH re-ranks exactly).
double recall_at(const neighbor_table& approx, const neighbor_table& exact,
                 std::size_t n, float tie_epsilon = recall_tie_epsilon);

/// The recall@n of `table` (rows for every item, as built by an approximate
/// method) measured on a sample: `sample` items' exact top-n by brute force.
double sampled_recall(const factor_matrix& normalized,
                      const neighbor_table& table,
                      std::span<const std::int32_t> sample, std::size_t n,
                      int threads = 1, float tie_epsilon = recall_tie_epsilon);

namespace detail {

/// Runs fn(task, worker) for every task in [0, tasks) on `threads` std::threads
/// (the caller's is worker 0) that take task indices from a shared counter, so
/// uneven tasks balance. Which worker runs a task must not change its result.
void parallel_tasks(std::size_t tasks, int threads,
                    const std::function<void(std::size_t, int)>& fn);

} // namespace detail
} // namespace eddy::models

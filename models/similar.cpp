#include "models/similar.hpp"

#include "models/assert.hpp"
#include "models/random.hpp"
#include "models/topk.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <thread>

namespace eddy::models {

namespace detail {

void parallel_tasks(std::size_t tasks, int threads,
                    const std::function<void(std::size_t, int)>& fn) {
  const auto t = static_cast<int>(
      std::clamp<std::size_t>(static_cast<std::size_t>(std::max(threads, 1)), 1,
                              std::max<std::size_t>(tasks, 1)));
  std::atomic<std::size_t> next{0};
  auto work = [&](int worker) {
    for (auto task = next.fetch_add(1); task < tasks; task = next.fetch_add(1))
      fn(task, worker);
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(t - 1));
  for (int w = 1; w < t; ++w)
    pool.emplace_back(work, w);
  work(0);
  for (auto& th : pool)
    th.join();
}

} // namespace detail

namespace {

constexpr float no_score = -std::numeric_limits<float>::infinity();

// Exact search blocks: kQueryBlock queries x kItemTile items per GEMM call
// (1 MiB of scores), fixed so results never depend on the thread count.
constexpr Eigen::Index kQueryBlock = 128;
constexpr Eigen::Index kItemTile = 2048;

neighbor_table empty_table(std::span<const std::int32_t> queries,
                           std::size_t n) {
  neighbor_table t;
  t.rows = static_cast<std::int32_t>(queries.size());
  t.n = static_cast<std::int32_t>(n);
  t.ids.assign(queries.size() * n, -1);
  t.scores.assign(queries.size() * n, no_score);
  t.query.assign(queries.begin(), queries.end());
  return t;
}

} // namespace

factor_matrix normalize_rows(const factor_matrix& x) {
  factor_matrix out(x.rows(), x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    double sq = 0;
    for (Eigen::Index c = 0; c < x.cols(); ++c)
      sq += static_cast<double>(x(r, c)) * static_cast<double>(x(r, c));
    const double scale = sq > 0 ? 1.0 / std::sqrt(sq) : 0.0;
    for (Eigen::Index c = 0; c < x.cols(); ++c)
      out(r, c) = static_cast<float>(static_cast<double>(x(r, c)) * scale);
  }
  return out;
}

neighbor_table exact_top_n(const factor_matrix& normalized,
                           std::span<const std::int32_t> queries, std::size_t n,
                           int threads) {
  const Eigen::Index items = normalized.rows();
  for (auto q : queries)
    EDDY_ASSERT(q >= 0 && q < items);
  auto out = empty_table(queries, n);
  if (n == 0 || queries.empty()) return out;
  const auto nq = static_cast<Eigen::Index>(queries.size());
  const auto blocks =
      static_cast<std::size_t>((nq + kQueryBlock - 1) / kQueryBlock);
  detail::parallel_tasks(blocks, threads, [&](std::size_t block, int) {
    const Eigen::Index first = static_cast<Eigen::Index>(block) * kQueryBlock;
    const Eigen::Index rows = std::min(kQueryBlock, nq - first);
    factor_matrix q(rows, normalized.cols());
    for (Eigen::Index r = 0; r < rows; ++r)
      q.row(r) = normalized.row(queries[static_cast<std::size_t>(first + r)]);
    std::vector<top_k<std::int32_t>> tops(static_cast<std::size_t>(rows),
                                          top_k<std::int32_t>(n));
    factor_matrix s(rows, std::min(kItemTile, items));
    for (Eigen::Index start = 0; start < items; start += kItemTile) {
      const Eigen::Index len = std::min(kItemTile, items - start);
      s.leftCols(len).noalias() =
          q * normalized.middleRows(start, len).transpose();
      for (Eigen::Index r = 0; r < rows; ++r) {
        auto& top = tops[static_cast<std::size_t>(r)];
        const auto self = queries[static_cast<std::size_t>(first + r)];
        // Columns ascend, so an equal score never beats the kept one (ties go
        // to the smaller id): only strictly better scores are offered.
        float threshold = top.size() < n
                              ? no_score
                              : static_cast<float>(top.items().back().score);
        const float* row = s.data() + r * s.cols();
        for (Eigen::Index c = 0; c < len; ++c) {
          const float v = row[c];
          if (!(v > threshold)) continue; // also skips NaN
          const auto id = static_cast<std::int32_t>(start + c);
          if (id == self) continue;
          top.push(id, v);
          if (top.size() == n)
            threshold = static_cast<float>(top.items().back().score);
        }
      }
    }
    for (Eigen::Index r = 0; r < rows; ++r) {
      const auto& items_r = tops[static_cast<std::size_t>(r)].items();
      const auto base = static_cast<std::size_t>(first + r) * n;
      for (std::size_t k = 0; k < items_r.size(); ++k) {
        out.ids[base + k] = items_r[k].key;
        out.scores[base + k] = static_cast<float>(items_r[k].score);
      }
    }
  });
  return out;
}

neighbor_table exact_top_n(const factor_matrix& normalized, std::size_t n,
                           int threads) {
  std::vector<std::int32_t> all(static_cast<std::size_t>(normalized.rows()));
  std::iota(all.begin(), all.end(), 0);
  return exact_top_n(normalized, all, n, threads);
}

std::vector<std::int32_t> sample_items(std::int32_t items, std::size_t count,
                                       std::uint64_t seed) {
  std::vector<std::int32_t> all(static_cast<std::size_t>(std::max(items, 0)));
  std::iota(all.begin(), all.end(), 0);
  if (count >= all.size()) return all;
  rng g(seed, 0x73616d706c65); // "sample"
  // Partial Fisher-Yates: the first `count` slots are a uniform sample.
  for (std::size_t i = 0; i < count; ++i) {
    const auto j = i + g.below(all.size() - i);
    std::swap(all[i], all[j]);
  }
  all.resize(count);
  std::sort(all.begin(), all.end());
  return all;
}

double recall_at(const neighbor_table& approx, const neighbor_table& exact,
                 std::size_t n, float tie_epsilon) {
  std::int32_t max_id = -1;
  for (auto q : approx.query)
    max_id = std::max(max_id, q);
  std::vector<std::int32_t> row_of(static_cast<std::size_t>(max_id + 1), -1);
  for (std::int32_t r = 0; r < approx.rows; ++r)
    row_of[static_cast<std::size_t>(
        approx.query[static_cast<std::size_t>(r)])] = r;
  double sum = 0;
  std::size_t counted = 0;
  for (std::int32_t r = 0; r < exact.rows; ++r) {
    const auto q = exact.query[static_cast<std::size_t>(r)];
    EDDY_ASSERT(q >= 0 && q <= max_id &&
                row_of[static_cast<std::size_t>(q)] >= 0);
    const auto ar = row_of[static_cast<std::size_t>(q)];
    const std::size_t tn = std::min(n, static_cast<std::size_t>(exact.n));
    const std::size_t an = std::min(n, static_cast<std::size_t>(approx.n));
    auto truth = exact.ids_of(r).first(tn);
    auto truth_scores = exact.scores_of(r).first(tn);
    auto found = approx.ids_of(ar).first(an);
    auto found_scores = approx.scores_of(ar).first(an);
    std::size_t relevant = 0;
    float threshold = 0;
    for (std::size_t k = 0; k < truth.size(); ++k)
      if (truth[k] >= 0) {
        ++relevant;
        threshold = truth_scores[k] - tie_epsilon;
      }
    if (relevant == 0) continue;
    std::size_t hits = 0;
    for (std::size_t k = 0; k < found.size(); ++k) {
      if (found[k] < 0) continue;
      hits += static_cast<std::size_t>(
          found_scores[k] >= threshold ||
          std::find(truth.begin(), truth.end(), found[k]) != truth.end());
    }
    sum += static_cast<double>(std::min(hits, relevant)) /
           static_cast<double>(relevant);
    ++counted;
  }
  return counted == 0 ? 1.0 : sum / static_cast<double>(counted);
}

double sampled_recall(const factor_matrix& normalized,
                      const neighbor_table& table,
                      std::span<const std::int32_t> sample, std::size_t n,
                      int threads, float tie_epsilon) {
  return recall_at(table, exact_top_n(normalized, sample, n, threads), n,
                   tie_epsilon);
}

} // namespace eddy::models

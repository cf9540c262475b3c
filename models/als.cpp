#include "models/als.hpp"

#include "models/assert.hpp"
#include "models/random.hpp"

#include <Eigen/Cholesky>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <thread>

namespace eddy::models {

csr_matrix csr_matrix::from_triples(std::int32_t rows, std::int32_t cols,
                                    const std::vector<triple>& entries) {
  EDDY_ASSERT(rows >= 0 && cols >= 0);
  // Stable counting sort by row, then a stable sort by column inside each row
  // keeps duplicates in input order, so their sum is deterministic.
  std::vector<std::int64_t> counts(static_cast<std::size_t>(rows) + 1, 0);
  for (const auto& e : entries) {
    EDDY_ASSERT(e.row >= 0 && e.row < rows && e.col >= 0 && e.col < cols);
    ++counts[static_cast<std::size_t>(e.row) + 1];
  }
  std::partial_sum(counts.begin(), counts.end(), counts.begin());
  std::vector<std::size_t> order(entries.size());
  {
    auto next = counts;
    for (std::size_t i = 0; i < entries.size(); ++i)
      order[static_cast<std::size_t>(
          next[static_cast<std::size_t>(entries[i].row)]++)] = i;
  }
  csr_matrix m;
  m.rows = rows;
  m.cols = cols;
  m.indptr.assign(static_cast<std::size_t>(rows) + 1, 0);
  m.indices.reserve(entries.size());
  m.values.reserve(entries.size());
  for (std::int32_t r = 0; r < rows; ++r) {
    auto b = order.begin() + counts[static_cast<std::size_t>(r)];
    auto e = order.begin() + counts[static_cast<std::size_t>(r) + 1];
    std::stable_sort(b, e, [&](std::size_t i, std::size_t j) {
      return entries[i].col < entries[j].col;
    });
    for (auto it = b; it != e; ++it) {
      const auto& t = entries[*it];
      auto row_start = m.indptr[static_cast<std::size_t>(r)];
      if (m.nnz() > row_start && m.indices.back() == t.col) {
        m.values.back() += t.value;
      } else {
        m.indices.push_back(t.col);
        m.values.push_back(t.value);
      }
    }
    m.indptr[static_cast<std::size_t>(r) + 1] = m.nnz();
  }
  return m;
}

csr_matrix csr_matrix::transpose() const {
  csr_matrix t;
  t.rows = cols;
  t.cols = rows;
  t.indptr.assign(static_cast<std::size_t>(cols) + 1, 0);
  for (auto c : indices)
    ++t.indptr[static_cast<std::size_t>(c) + 1];
  std::partial_sum(t.indptr.begin(), t.indptr.end(), t.indptr.begin());
  t.indices.resize(indices.size());
  t.values.resize(values.size());
  auto next = t.indptr;
  // Rows in increasing order, so each transposed row is sorted by column.
  for (std::int32_t r = 0; r < rows; ++r) {
    for (auto k = indptr[static_cast<std::size_t>(r)];
         k < indptr[static_cast<std::size_t>(r) + 1]; ++k) {
      auto c = static_cast<std::size_t>(indices[static_cast<std::size_t>(k)]);
      auto dst = static_cast<std::size_t>(next[c]++);
      t.indices[dst] = r;
      t.values[dst] = values[static_cast<std::size_t>(k)];
    }
  }
  return t;
}

csr_matrix confidences(const csr_matrix& r, float alpha) {
  csr_matrix c = r;
  for (auto& v : c.values)
    v = 1.0F + alpha * v;
  return c;
}

Eigen::MatrixXf gram(const factor_matrix& y, float reg) {
  Eigen::MatrixXf g = y.transpose() * y;
  g.diagonal().array() += reg;
  return g;
}

namespace {

void check_shapes(const csr_matrix& c, const factor_matrix& y,
                  const Eigen::MatrixXf& yty, const factor_matrix& x) {
  EDDY_ASSERT(c.rows == x.rows() && c.cols == y.rows());
  EDDY_ASSERT(x.cols() == y.cols());
  EDDY_ASSERT(yty.rows() == y.cols() && yty.cols() == y.cols());
  EDDY_ASSERT(c.indptr.size() == static_cast<std::size_t>(c.rows) + 1);
}

void solve_cholesky(const csr_matrix& c, const factor_matrix& y,
                    const Eigen::MatrixXf& yty, factor_matrix& x,
                    std::int32_t u) {
  const auto k = y.cols();
  Eigen::MatrixXf a = yty;
  Eigen::VectorXf b = Eigen::VectorXf::Zero(k);
  for (auto j = c.indptr[static_cast<std::size_t>(u)];
       j < c.indptr[static_cast<std::size_t>(u) + 1]; ++j) {
    const float conf = c.values[static_cast<std::size_t>(j)];
    auto yi = y.row(c.indices[static_cast<std::size_t>(j)]).transpose();
    a.selfadjointView<Eigen::Lower>().rankUpdate(yi, conf - 1.0F);
    b += conf * yi;
  }
  // LDLT reads the lower triangle, the one rankUpdate maintained.
  x.row(u) = a.ldlt().solve(b).transpose();
}

void solve_cg(const csr_matrix& c, const factor_matrix& y,
              const Eigen::MatrixXf& yty, int cg_steps, factor_matrix& x,
              std::int32_t u) {
  const auto begin = c.indptr[static_cast<std::size_t>(u)];
  const auto end = c.indptr[static_cast<std::size_t>(u) + 1];
  Eigen::VectorXf xu = x.row(u).transpose();
  // r = b - A x, with b = sum c y_i and A x = yty x + sum (c-1)(y_i.x) y_i.
  Eigen::VectorXf r = -(yty * xu);
  for (auto j = begin; j < end; ++j) {
    const float conf = c.values[static_cast<std::size_t>(j)];
    auto yi = y.row(c.indices[static_cast<std::size_t>(j)]);
    r += (conf - (conf - 1.0F) * yi.dot(xu.transpose())) * yi.transpose();
  }
  Eigen::VectorXf p = r;
  float rs_old = r.squaredNorm();
  if (rs_old < 1e-20F) return;
  Eigen::VectorXf ap(xu.size());
  for (int it = 0; it < cg_steps; ++it) {
    ap.noalias() = yty * p;
    for (auto j = begin; j < end; ++j) {
      const float conf = c.values[static_cast<std::size_t>(j)];
      auto yi = y.row(c.indices[static_cast<std::size_t>(j)]);
      ap += ((conf - 1.0F) * yi.dot(p.transpose())) * yi.transpose();
    }
    const float pap = p.dot(ap);
    if (!(pap > 0.0F))
      break; // converged to rounding (or a singular direction): stop here
    const float step = rs_old / pap;
    xu += step * p;
    r -= step * ap;
    const float rs_new = r.squaredNorm();
    if (rs_new < 1e-20F) break;
    p = r + (rs_new / rs_old) * p;
    rs_old = rs_new;
  }
  x.row(u) = xu.transpose();
}

} // namespace

void solve_rows(const csr_matrix& c, const factor_matrix& y,
                const Eigen::MatrixXf& yty, int cg_steps, factor_matrix& x,
                std::int32_t first, std::int32_t last) {
  check_shapes(c, y, yty, x);
  EDDY_ASSERT(0 <= first && first <= last && last <= c.rows);
  EDDY_ASSERT(cg_steps >= 0);
  for (auto u = first; u < last; ++u) {
    if (cg_steps == 0)
      solve_cholesky(c, y, yty, x, u);
    else
      solve_cg(c, y, yty, cg_steps, x, u);
  }
}

void solve_rows(const csr_matrix& c, const factor_matrix& y,
                const Eigen::MatrixXf& yty, int cg_steps, factor_matrix& x,
                int threads) {
  check_shapes(c, y, yty, x);
  EDDY_ASSERT(threads >= 1);
  const std::int32_t n = c.rows;
  const std::int32_t t = std::min<std::int32_t>(threads, std::max(n, 1));
  if (t <= 1) {
    solve_rows(c, y, yty, cg_steps, x, 0, n);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(t));
  for (std::int32_t i = 0; i < t; ++i) {
    const auto first = static_cast<std::int32_t>(std::int64_t{n} * i / t);
    const auto last = static_cast<std::int32_t>(std::int64_t{n} * (i + 1) / t);
    // Disjoint row ranges of x: no two threads write the same row.
    pool.emplace_back(
        [&, first, last] { solve_rows(c, y, yty, cg_steps, x, first, last); });
  }
  for (auto& th : pool)
    th.join();
}

loss_terms loss_rows(const csr_matrix& c, const factor_matrix& x,
                     const factor_matrix& y, const Eigen::MatrixXf& yty,
                     std::int32_t first, std::int32_t last) {
  check_shapes(c, y, yty, x);
  EDDY_ASSERT(0 <= first && first <= last && last <= c.rows);
  loss_terms out;
  const Eigen::MatrixXd g = yty.cast<double>();
  for (auto u = first; u < last; ++u) {
    const Eigen::VectorXd xu = x.row(u).transpose().cast<double>();
    // x^T (Y^T Y + reg I) x = sum over all items of s^2, plus reg |x|^2.
    double v = xu.dot(g * xu);
    for (auto j = c.indptr[static_cast<std::size_t>(u)];
         j < c.indptr[static_cast<std::size_t>(u) + 1]; ++j) {
      const double conf = c.values[static_cast<std::size_t>(j)];
      const double s = xu.dot(y.row(c.indices[static_cast<std::size_t>(j)])
                                  .transpose()
                                  .cast<double>());
      // c (1 - s)^2 replaces the 1 * s^2 already counted for this item.
      v += (conf - 1.0) * s * s - 2.0 * conf * s + conf;
      out.confidence_sum += conf;
    }
    out.value += v;
    out.nnz += c.indptr[static_cast<std::size_t>(u) + 1] -
               c.indptr[static_cast<std::size_t>(u)];
  }
  return out;
}

als_loss loss(const csr_matrix& c, const factor_matrix& x,
              const factor_matrix& y, float reg) {
  const loss_terms t = loss_rows(c, x, y, gram(y, reg), 0, c.rows);
  als_loss out;
  out.loss =
      t.value + static_cast<double>(reg) * y.cast<double>().squaredNorm();
  const double denom = t.confidence_sum + static_cast<double>(c.rows) * c.cols -
                       static_cast<double>(t.nnz);
  out.normalized = denom > 0.0 ? out.loss / denom : 0.0;
  return out;
}

factor_matrix init_factors(std::int32_t rows, int factors, std::uint64_t seed,
                           std::uint64_t stream, float scale) {
  EDDY_ASSERT(rows >= 0 && factors >= 1);
  factor_matrix m(rows, factors);
  std::uint64_t mix = stream;
  const std::uint64_t row_base = splitmix64(mix);
  for (std::int32_t r = 0; r < rows; ++r) {
    rng g(seed, row_base ^ static_cast<std::uint64_t>(r));
    for (int k = 0; k < factors; ++k)
      m(r, k) = static_cast<float>(g.uniform()) * scale;
  }
  return m;
}

als_model fit(const csr_matrix& c, const als_params& p) {
  return fit(c, p, iteration_callback{});
}

als_model fit(const csr_matrix& c, const als_params& p,
              const iteration_callback& on_iteration) {
  EDDY_ASSERT(p.factors >= 1 && p.iterations >= 0 && p.cg_steps >= 0);
  EDDY_ASSERT(p.reg >= 0.0F && p.threads >= 1);
  using clock = std::chrono::steady_clock;
  auto seconds_since = [](clock::time_point t0) {
    return std::chrono::duration<double>(clock::now() - t0).count();
  };
  const csr_matrix ct = c.transpose();
  als_model m;
  m.users = init_factors(c.rows, p.factors, p.seed, 0, p.init_scale);
  m.items = init_factors(c.cols, p.factors, p.seed, 1, p.init_scale);
  for (int it = 0; it < p.iterations; ++it) {
    iteration_stats st;
    st.iteration = it + 1;
    auto t0 = clock::now();
    solve_rows(c, m.items, gram(m.items, p.reg), p.cg_steps, m.users,
               p.threads);
    solve_rows(ct, m.users, gram(m.users, p.reg), p.cg_steps, m.items,
               p.threads);
    st.solve_seconds = seconds_since(t0);
    if (p.track_loss) {
      t0 = clock::now();
      m.losses.push_back(loss(c, m.users, m.items, p.reg));
      st.loss_seconds = seconds_since(t0);
      st.loss = &m.losses.back();
    }
    if (on_iteration) on_iteration(st);
  }
  return m;
}

} // namespace eddy::models

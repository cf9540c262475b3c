#include "models/evaluation.hpp"

#include "models/assert.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <thread>

namespace eddy::models {

split_result split_per_user(std::span<const interaction> events,
                            double test_fraction) {
  EDDY_ASSERT(test_fraction >= 0.0 && test_fraction <= 1.0);
  std::vector<std::size_t> order(events.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto& x = events[a];
    const auto& y = events[b];
    if (int c = x.user.compare(y.user); c != 0) return c < 0;
    if (x.ts != y.ts) return x.ts < y.ts;
    return a < b;
  });
  std::vector<char> is_test(events.size(), 0);
  for (std::size_t b = 0; b < order.size();) {
    std::size_t e = b;
    while (e < order.size() && events[order[e]].user == events[order[b]].user)
      ++e;
    const std::size_t n = e - b;
    const auto n_test = static_cast<std::size_t>(
        std::floor(static_cast<double>(n) * test_fraction + 1e-9));
    for (std::size_t j = e - n_test; j < e; ++j)
      is_test[order[j]] = 1;
    b = e;
  }
  split_result s;
  for (std::size_t i = 0; i < events.size(); ++i)
    (is_test[i] ? s.test : s.train).push_back(events[i]);
  return s;
}

split_result split_at(std::span<const interaction> events,
                      std::int64_t cutoff_ms) {
  split_result s;
  for (const auto& e : events)
    (e.ts < cutoff_ms ? s.train : s.test).push_back(e);
  return s;
}

namespace {

bool has_col(const csr_matrix& m, std::int32_t row, std::int32_t col) {
  auto b = m.indices.begin() + m.indptr[static_cast<std::size_t>(row)];
  auto e = m.indices.begin() + m.indptr[static_cast<std::size_t>(row) + 1];
  return std::binary_search(b, e, col);
}

} // namespace

test_sets make_test_sets(const training_data& train,
                         std::span<const interaction> test,
                         const std::array<float, 256>& type_weights) {
  test_sets t;
  t.relevant.resize(static_cast<std::size_t>(train.users.size()));
  t.events = test.size();
  for (const auto& e : test) {
    if (!(type_weights[e.type] > 0.0F)) {
      ++t.zero_weight;
      continue;
    }
    auto u = train.users.find(e.user);
    if (!u) {
      ++t.cold_users;
      continue;
    }
    auto i = train.items.find(e.item);
    if (!i) {
      ++t.cold_items;
      continue;
    }
    if (has_col(train.strength, *u, *i)) {
      ++t.seen;
      continue;
    }
    t.relevant[static_cast<std::size_t>(*u)].push_back(*i);
  }
  for (std::int32_t u = 0; u < train.users.size(); ++u) {
    auto& r = t.relevant[static_cast<std::size_t>(u)];
    r = make_relevant(std::move(r));
    t.pairs += r.size();
    if (!r.empty()) t.users.push_back(u);
  }
  return t;
}

popularity_model fit_popularity(const training_data& train) {
  popularity_model m;
  const auto& ct = train.conf_t;
  m.users.resize(static_cast<std::size_t>(ct.rows));
  for (std::int32_t i = 0; i < ct.rows; ++i)
    m.users[static_cast<std::size_t>(i)] =
        ct.indptr[static_cast<std::size_t>(i) + 1] -
        ct.indptr[static_cast<std::size_t>(i)];
  m.ranked.resize(static_cast<std::size_t>(ct.rows));
  std::iota(m.ranked.begin(), m.ranked.end(), 0);
  std::stable_sort(m.ranked.begin(), m.ranked.end(),
                   [&](std::int32_t a, std::int32_t b) {
                     return m.users[static_cast<std::size_t>(a)] >
                            m.users[static_cast<std::size_t>(b)];
                   });
  return m;
}

std::vector<std::vector<std::int32_t>>
recommend_popular(const popularity_model& m, const csr_matrix& seen,
                  std::span<const std::int32_t> rows, std::size_t k) {
  std::vector<std::vector<std::int32_t>> out(rows.size());
  for (std::size_t j = 0; j < rows.size(); ++j) {
    auto& list = out[j];
    for (auto col : m.ranked) {
      if (list.size() >= k) break;
      if (!has_col(seen, rows[j], col)) list.push_back(col);
    }
  }
  return out;
}

namespace {

void recommend_block(const factor_matrix& users, const factor_matrix& items,
                     const csr_matrix& seen, std::span<const std::int32_t> rows,
                     std::size_t k, std::vector<std::vector<std::int32_t>>& out,
                     std::size_t first, std::size_t last) {
  constexpr std::size_t block = 64;
  const auto n_items = static_cast<std::int32_t>(items.rows());
  std::vector<std::int32_t> cand;
  for (std::size_t b = first; b < last; b += block) {
    const std::size_t e = std::min(last, b + block);
    factor_matrix xb(static_cast<Eigen::Index>(e - b), users.cols());
    for (std::size_t j = b; j < e; ++j)
      xb.row(static_cast<Eigen::Index>(j - b)) = users.row(rows[j]);
    const Eigen::MatrixXf scores = xb * items.transpose();
    for (std::size_t j = b; j < e; ++j) {
      const auto r = static_cast<Eigen::Index>(j - b);
      const auto u = static_cast<std::size_t>(rows[j]);
      cand.clear();
      auto s = seen.indptr[u];
      const auto s_end = seen.indptr[u + 1];
      for (std::int32_t i = 0; i < n_items; ++i) {
        while (s < s_end && seen.indices[static_cast<std::size_t>(s)] < i)
          ++s;
        if (s < s_end && seen.indices[static_cast<std::size_t>(s)] == i)
          continue;
        if (std::isnan(scores(r, i))) continue;
        cand.push_back(i);
      }
      auto better = [&](std::int32_t a, std::int32_t c) {
        const float sa = scores(r, a), sc = scores(r, c);
        return sa != sc ? sa > sc : a < c;
      };
      const std::size_t n = std::min(k, cand.size());
      std::partial_sort(cand.begin(),
                        cand.begin() + static_cast<std::ptrdiff_t>(n),
                        cand.end(), better);
      out[j].assign(cand.begin(),
                    cand.begin() + static_cast<std::ptrdiff_t>(n));
    }
  }
}

} // namespace

std::vector<std::vector<std::int32_t>>
recommend_als(const factor_matrix& users, const factor_matrix& items,
              const csr_matrix& seen, std::span<const std::int32_t> rows,
              std::size_t k, int threads) {
  EDDY_ASSERT(users.cols() == items.cols() && threads >= 1);
  EDDY_ASSERT(seen.rows == users.rows() && seen.cols == items.rows());
  std::vector<std::vector<std::int32_t>> out(rows.size());
  const std::size_t n = rows.size();
  const std::size_t t = std::min<std::size_t>(static_cast<std::size_t>(threads),
                                              std::max<std::size_t>(n, 1));
  std::vector<std::thread> pool;
  for (std::size_t i = 1; i < t; ++i)
    pool.emplace_back([&, i] {
      recommend_block(users, items, seen, rows, k, out, n * i / t,
                      n * (i + 1) / t);
    });
  recommend_block(users, items, seen, rows, k, out, 0, n / t);
  for (auto& th : pool)
    th.join();
  return out;
}

ranking_summary score(const test_sets& t, std::span<const std::int32_t> rows,
                      const std::vector<std::vector<std::int32_t>>& lists,
                      std::size_t k) {
  EDDY_ASSERT(rows.size() == lists.size());
  ranking_summary s{k};
  for (std::size_t j = 0; j < rows.size(); ++j)
    s.add(lists[j], t.relevant[static_cast<std::size_t>(rows[j])]);
  return s;
}

als_settings movielens_preset() {
  als_settings s;
  s.data = training_options::uniform(1.0F);
  s.data.alpha = 5.0F;
  s.als.factors = 64;
  s.als.reg = 50.0F;
  s.als.cg_steps = 3;
  s.als.iterations = 15;
  return s;
}

eval_report evaluate_split(const split_result& split, const als_settings& s,
                           std::size_t k,
                           const iteration_callback& on_iteration) {
  eval_report r;
  r.train = build_training_data(split.train, s.data);
  r.test = make_test_sets(r.train, split.test, s.data.type_weights);
  r.model = fit(r.train.conf, s.als, on_iteration);
  const auto& rows = r.test.users;
  r.als = score(r.test, rows,
                recommend_als(r.model.users, r.model.items, r.train.strength,
                              rows, k, s.als.threads),
                k);
  r.popularity = score(
      r.test, rows,
      recommend_popular(fit_popularity(r.train), r.train.strength, rows, k), k);
  return r;
}

} // namespace eddy::models

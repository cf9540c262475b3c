#include "models/next_item.hpp"

#include "models/assert.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <numeric>
#include <string_view>
#include <utility>

namespace eddy::models {

namespace {

constexpr float no_score = -std::numeric_limits<float>::infinity();

// Items per co-occurrence task: small enough to balance popular items (long
// rows) across threads, large enough to keep the task counter cold.
constexpr std::size_t kCooccurrenceBlock = 256;

neighbor_table all_items_table(std::int32_t items, std::size_t n) {
  neighbor_table t;
  t.rows = items;
  t.n = static_cast<std::int32_t>(n);
  const auto cells = static_cast<std::size_t>(items) * n;
  t.ids.assign(cells, -1);
  t.scores.assign(cells, no_score);
  t.query.resize(static_cast<std::size_t>(items));
  std::iota(t.query.begin(), t.query.end(), 0);
  return t;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

} // namespace

next_item_queries
make_next_item_queries(const training_data& train,
                       std::span<const interaction> train_events,
                       std::span<const interaction> test_events,
                       const std::array<float, 256>& type_weights) {
  const auto n_users = static_cast<std::size_t>(train.users.size());
  // Previous item: the last positive-weight training event by (ts, position);
  // scanning in position order, a later event with an equal ts replaces.
  std::vector<std::int32_t> prev(n_users, -1);
  std::vector<std::int64_t> prev_ts(n_users, 0);
  for (const auto& e : train_events) {
    if (!(type_weights[e.type] > 0.0F)) continue;
    auto u = train.users.find(e.user);
    auto i = train.items.find(e.item);
    // Precondition: `train` was built from these events with these weights.
    EDDY_ASSERT(u && i);
    const auto r = static_cast<std::size_t>(*u);
    if (prev[r] < 0 || e.ts >= prev_ts[r]) {
      prev[r] = *i;
      prev_ts[r] = e.ts;
    }
  }

  next_item_queries q;
  q.events = test_events.size();
  // Next item: the first eligible test event by (ts, position); scanning in
  // position order, only a strictly earlier ts replaces.
  std::vector<std::int32_t> next(n_users, -1);
  std::vector<std::int64_t> next_ts(n_users, 0);
  std::vector<char> has_test(n_users, 0);
  std::vector<std::string_view> cold;
  for (const auto& e : test_events) {
    auto u = train.users.find(e.user);
    if (u)
      has_test[static_cast<std::size_t>(*u)] = 1;
    else
      cold.push_back(e.user);
    if (!(type_weights[e.type] > 0.0F)) {
      ++q.zero_weight;
      continue;
    }
    if (!u) {
      ++q.cold_user_events;
      continue;
    }
    auto i = train.items.find(e.item);
    if (!i) {
      ++q.cold_items;
      continue;
    }
    const auto r = static_cast<std::size_t>(*u);
    // A training row means a positive-weight training event (training.hpp).
    EDDY_ASSERT(prev[r] >= 0);
    if (*i == prev[r]) {
      ++q.repeats;
      continue;
    }
    if (next[r] < 0 || e.ts < next_ts[r]) {
      next[r] = *i;
      next_ts[r] = e.ts;
    }
  }
  std::sort(cold.begin(), cold.end());
  q.cold_users = static_cast<std::uint64_t>(
      std::unique(cold.begin(), cold.end()) - cold.begin());
  q.test_users = q.cold_users;
  for (std::size_t r = 0; r < n_users; ++r) {
    if (!has_test[r]) continue;
    ++q.test_users;
    if (next[r] < 0) {
      ++q.no_next;
      continue;
    }
    q.users.push_back(static_cast<std::int32_t>(r));
    q.previous.push_back(prev[r]);
    q.next.push_back(next[r]);
  }
  return q;
}

hit_rate_summary next_item_hit_rate(const neighbor_table& lists,
                                    const next_item_queries& q, std::size_t k) {
  EDDY_ASSERT(k <= static_cast<std::size_t>(lists.n));
  EDDY_ASSERT(q.previous.size() == q.users.size() &&
              q.next.size() == q.users.size());
  std::int32_t max_id = -1;
  for (auto item : lists.query)
    max_id = std::max(max_id, item);
  std::vector<std::int32_t> row_of(static_cast<std::size_t>(max_id + 1), -1);
  for (std::int32_t r = 0; r < lists.rows; ++r)
    row_of[static_cast<std::size_t>(lists.query[static_cast<std::size_t>(r)])] =
        r;
  hit_rate_summary s;
  s.k = k;
  s.queries = q.size();
  for (std::size_t j = 0; j < q.size(); ++j) {
    const auto p = q.previous[j];
    EDDY_ASSERT(p >= 0 && p <= max_id &&
                row_of[static_cast<std::size_t>(p)] >= 0);
    const auto ids = lists.ids_of(row_of[static_cast<std::size_t>(p)]);
    for (std::size_t r = 0; r < k; ++r)
      if (ids[r] == q.next[j]) {
        ++s.hits;
        s.reciprocal_rank_sum += 1.0 / static_cast<double>(r + 1);
        break;
      }
  }
  return s;
}

neighbor_table cooccurrence_top_n(const csr_matrix& users_items, std::size_t n,
                                  int threads) {
  EDDY_ASSERT(
      n <= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()));
  const std::int32_t items = users_items.cols;
  auto t = all_items_table(items, n);
  if (n == 0 || items == 0) return t;
  const csr_matrix items_users = users_items.transpose();
  struct scratch {
    std::vector<std::int32_t> count; // per item, 0 outside the current row
    std::vector<std::int32_t> touched;
  };
  const int workers = std::max(threads, 1);
  std::vector<scratch> scratches(static_cast<std::size_t>(workers));
  const std::size_t blocks =
      (static_cast<std::size_t>(items) + kCooccurrenceBlock - 1) /
      kCooccurrenceBlock;
  detail::parallel_tasks(blocks, workers, [&](std::size_t block, int worker) {
    auto& s = scratches[static_cast<std::size_t>(worker)];
    if (s.count.empty()) s.count.assign(static_cast<std::size_t>(items), 0);
    const std::size_t first = block * kCooccurrenceBlock;
    const std::size_t last =
        std::min(static_cast<std::size_t>(items), first + kCooccurrenceBlock);
    for (std::size_t i = first; i < last; ++i) {
      // Row i of (items x users)(users x items): every user of i adds one to
      // each of their items.
      for (auto a = items_users.indptr[i]; a < items_users.indptr[i + 1]; ++a) {
        const auto u = static_cast<std::size_t>(
            items_users.indices[static_cast<std::size_t>(a)]);
        for (auto b = users_items.indptr[u]; b < users_items.indptr[u + 1];
             ++b) {
          const auto j = users_items.indices[static_cast<std::size_t>(b)];
          if (static_cast<std::size_t>(j) == i) continue;
          if (s.count[static_cast<std::size_t>(j)]++ == 0)
            s.touched.push_back(j);
        }
      }
      auto better = [&](std::int32_t x, std::int32_t y) {
        const auto cx = s.count[static_cast<std::size_t>(x)];
        const auto cy = s.count[static_cast<std::size_t>(y)];
        return cx != cy ? cx > cy : x < y;
      };
      const std::size_t m = std::min(n, s.touched.size());
      std::partial_sort(s.touched.begin(),
                        s.touched.begin() + static_cast<std::ptrdiff_t>(m),
                        s.touched.end(), better);
      for (std::size_t r = 0; r < m; ++r) {
        const auto j = s.touched[r];
        t.ids[i * n + r] = j;
        t.scores[i * n + r] =
            static_cast<float>(s.count[static_cast<std::size_t>(j)]);
      }
      for (auto j : s.touched)
        s.count[static_cast<std::size_t>(j)] = 0;
      s.touched.clear();
    }
  });
  return t;
}

neighbor_table popularity_top_n(const popularity_model& m, std::size_t n) {
  const auto items = static_cast<std::int32_t>(m.ranked.size());
  EDDY_ASSERT(m.users.size() == m.ranked.size());
  auto t = all_items_table(items, n);
  for (std::int32_t i = 0; i < items; ++i) {
    std::size_t r = 0;
    for (auto col : m.ranked) {
      if (r >= n) break;
      if (col == i) continue;
      const auto cell = static_cast<std::size_t>(i) * n + r++;
      t.ids[cell] = col;
      t.scores[cell] =
          static_cast<float>(m.users[static_cast<std::size_t>(col)]);
    }
  }
  return t;
}

next_item_report evaluate_next_item(const training_data& train,
                                    const split_result& split,
                                    const factor_matrix& item_factors,
                                    const std::array<float, 256>& type_weights,
                                    std::size_t k, int threads,
                                    lsh_params lsh) {
  EDDY_ASSERT(item_factors.rows() == train.items.size());
  EDDY_ASSERT(threads >= 1);
  EDDY_ASSERT(!validate(lsh));
  using clock = std::chrono::steady_clock;
  next_item_report r;
  r.queries =
      make_next_item_queries(train, split.train, split.test, type_weights);

  auto x = normalize_rows(item_factors);
  auto t0 = clock::now();
  const auto exact = exact_top_n(x, k, threads);
  r.exact_seconds = seconds_since(t0);

  lsh.threads = threads;
  r.lsh_settings = lsh;
  t0 = clock::now();
  const auto approx = lsh_index(std::move(x), lsh).table(k, &r.lsh_build);
  r.lsh_seconds = seconds_since(t0);
  r.lsh_recall = recall_at(approx, exact, k);

  t0 = clock::now();
  const auto cooc = cooccurrence_top_n(train.strength, k, threads);
  r.cooccurrence_seconds = seconds_since(t0);

  r.lsh = next_item_hit_rate(approx, r.queries, k);
  r.exact = next_item_hit_rate(exact, r.queries, k);
  r.cooccurrence = next_item_hit_rate(cooc, r.queries, k);
  t0 = clock::now();
  const auto pop = popularity_top_n(fit_popularity(train), k);
  r.popularity_seconds = seconds_since(t0);
  r.popularity = next_item_hit_rate(pop, r.queries, k);
  return r;
}

} // namespace eddy::models

#include "models/lsh.hpp"

#include "models/assert.hpp"
#include "models/random.hpp"
#include "models/topk.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <utility>

namespace eddy::models {

namespace {

// Rows per projection GEMM call (fixed, so z_ never depends on threads).
constexpr Eigen::Index kProjectBlock = 1024;
// Queries per task handed to a thread.
constexpr std::size_t kQueryChunk = 64;

std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// The one cosine kernel of models/lsh: 16 independent lanes summed in a
/// fixed order, so a pair's score is bit-identical wherever it is computed
/// (and dot(a, b) == dot(b, a)); vectorizes without reassociation.
float dot(const float* a, const float* b, std::size_t d) {
  float lane[16] = {};
  std::size_t k = 0;
  for (; k + 16 <= d; k += 16)
    for (std::size_t l = 0; l < 16; ++l)
      lane[l] += a[k + l] * b[k + l];
  for (std::size_t l = 0; k < d; ++k, ++l)
    lane[l] += a[k] * b[k];
  for (std::size_t l = 0; l < 8; ++l)
    lane[l] += lane[l + 8];
  return ((lane[0] + lane[4]) + (lane[1] + lane[5])) +
         ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

// A bucket join scores pairs with a GEMM first and recomputes dot() only for
// pairs that may enter a list: a GEMM score within kFilterMargin of a list's
// n-th is rechecked. |GEMM - dot| <= d * 2^-24 * sum |a_k b_k| <= ~4e-6 for
// unit vectors of d <= 64, and stays far below the margin for any sane d.
constexpr float kFilterMargin = 1e-3F;
constexpr std::size_t kGemmMinBucket = 32; // smaller buckets: dot() directly
constexpr Eigen::Index kGemmTile = 256;
// Buckets per task handed to a thread by join_buckets.
constexpr std::size_t kJoinChunk = 256;

/// Per-item top-n lists in flat arrays (n slots per item, best first, ties by
/// id), which skip keys they already hold.
struct top_lists {
  std::size_t n = 0;
  std::vector<std::int32_t> ids;
  std::vector<float> scores;
  std::vector<std::uint8_t> count;

  top_lists(std::size_t items, std::size_t n_)
      : n(n_), ids(items * n_, -1),
        scores(items * n_, -std::numeric_limits<float>::infinity()),
        count(items, 0) {}

  /// The n-th best score of `item` (-inf while the list is not full).
  float kth(std::int32_t item) const {
    return scores[static_cast<std::size_t>(item) * n + n - 1];
  }

  static bool better(float s, std::int32_t id, float s2, std::int32_t id2) {
    return s > s2 || (s == s2 && id < id2);
  }

  void offer(std::int32_t item, std::int32_t id, float s) {
    const auto base = static_cast<std::size_t>(item) * n;
    std::size_t c = count[static_cast<std::size_t>(item)];
    float* sc = scores.data() + base;
    std::int32_t* is = ids.data() + base;
    if (c == n && !better(s, id, sc[n - 1], is[n - 1])) return;
    if (std::isnan(s)) return;
    for (std::size_t k = 0; k < c; ++k)
      if (is[k] == id) return; // offered before (with this very score)
    std::size_t pos = c == n ? n - 1 : c;
    while (pos > 0 && better(s, id, sc[pos - 1], is[pos - 1])) {
      sc[pos] = sc[pos - 1];
      is[pos] = is[pos - 1];
      --pos;
    }
    sc[pos] = s;
    is[pos] = id;
    if (c < n) ++count[static_cast<std::size_t>(item)];
  }
};

std::int32_t bucket_of(float z) {
  // |z| stays far below this for unit vectors and any sane w; the clamp only
  // keeps a degenerate w from overflowing the cast.
  constexpr float limit = 1 << 30;
  return static_cast<std::int32_t>(std::floor(std::clamp(z, -limit, limit)));
}

} // namespace

std::optional<std::string> validate(const lsh_params& p) {
  if (p.tables < 1 || p.tables > 1024)
    return "lsh tables must be in [1, 1024] (got " + std::to_string(p.tables) +
           ")";
  if (p.projections < 1 || p.projections > 64)
    return "lsh projections must be in [1, 64] (got " +
           std::to_string(p.projections) + ")";
  if (!(p.bucket_length > 0) || !std::isfinite(p.bucket_length))
    return "lsh bucket_length must be a finite number > 0 (got " +
           std::to_string(p.bucket_length) + ")";
  if (p.probes < 0 || p.probes > 2 * p.projections)
    return "lsh probes must be in [0, 2 * projections] (got " +
           std::to_string(p.probes) + ")";
  if (p.threads < 1)
    return "lsh threads must be >= 1 (got " + std::to_string(p.threads) + ")";
  return std::nullopt;
}

struct lsh_index::scratch {
  std::vector<std::uint32_t> visited; // epoch of the last query that saw it
  std::uint32_t epoch = 0;
  std::vector<std::int32_t> cands;
  std::vector<std::pair<float, int>> perturb;
  lsh_stats stats;

  explicit scratch(std::size_t items) : visited(items, 0) {}

  void next_query() {
    if (++epoch == 0) { // wrapped: forget every stamp
      std::fill(visited.begin(), visited.end(), 0U);
      epoch = 1;
    }
    cands.clear();
  }
};

lsh_index::lsh_index(factor_matrix normalized, const lsh_params& p)
    : x_(std::move(normalized)), p_(p) {
  if (auto err = validate(p_)) {
    std::fprintf(stderr, "lsh_index: %s\n", err->c_str());
    std::abort();
  }
  EDDY_ASSERT(x_.rows() < std::numeric_limits<std::int32_t>::max());
  const int tables = p_.tables;
  const int k = p_.projections;
  const Eigen::Index lk = static_cast<Eigen::Index>(tables) * k;
  const Eigen::Index items = x_.rows();

  // Projections r_j / w (one column each), offsets b_j, key salts.
  rng g(p_.seed, 0x6c7368); // "lsh"
  Eigen::MatrixXf proj(x_.cols(), lk);
  Eigen::RowVectorXf offset(lk);
  salts_.resize(static_cast<std::size_t>(lk));
  for (Eigen::Index m = 0; m < lk; ++m) {
    for (Eigen::Index c = 0; c < x_.cols(); ++c)
      proj(c, m) = static_cast<float>(g.normal() /
                                      static_cast<double>(p_.bucket_length));
    offset(m) = static_cast<float>(g.uniform());
    salts_[static_cast<std::size_t>(m)] = g.next();
  }

  // z = x . r / w + b for every item, then the keys.
  z_.resize(items, lk);
  keys_.resize(static_cast<std::size_t>(items) *
               static_cast<std::size_t>(tables));
  const auto blocks =
      static_cast<std::size_t>((items + kProjectBlock - 1) / kProjectBlock);
  detail::parallel_tasks(blocks, p_.threads, [&](std::size_t b, int) {
    const Eigen::Index first = static_cast<Eigen::Index>(b) * kProjectBlock;
    const Eigen::Index rows = std::min(kProjectBlock, items - first);
    z_.middleRows(first, rows).noalias() = x_.middleRows(first, rows) * proj;
    z_.middleRows(first, rows).rowwise() += offset;
    for (Eigen::Index i = first; i < first + rows; ++i)
      for (int t = 0; t < tables; ++t) {
        std::uint64_t key = 0;
        for (int j = 0; j < k; ++j)
          key ^= coordinate_hash(t, j, bucket_of(z_(i, t * k + j)));
        keys_[static_cast<std::size_t>(i) * static_cast<std::size_t>(tables) +
              static_cast<std::size_t>(t)] = key;
      }
  });

  // One sorted (key, item) array and one key -> range map per table.
  tables_.resize(static_cast<std::size_t>(tables));
  std::vector<lsh_stats> per_table(static_cast<std::size_t>(tables));
  detail::parallel_tasks(
      static_cast<std::size_t>(tables), p_.threads, [&](std::size_t t, int) {
        std::vector<std::pair<std::uint64_t, std::int32_t>> pairs(
            static_cast<std::size_t>(items));
        for (Eigen::Index i = 0; i < items; ++i)
          pairs[static_cast<std::size_t>(i)] = {
              keys_[static_cast<std::size_t>(i) *
                        static_cast<std::size_t>(tables) +
                    t],
              static_cast<std::int32_t>(i)};
        std::sort(pairs.begin(), pairs.end());
        auto& ti = tables_[t];
        ti.items.resize(pairs.size());
        std::size_t buckets = 0;
        for (std::size_t i = 0; i < pairs.size(); ++i) {
          ti.items[i] = pairs[i].second;
          buckets += static_cast<std::size_t>(i == 0 || pairs[i].first !=
                                                            pairs[i - 1].first);
        }
        ti.slots.assign(std::bit_ceil(std::max<std::size_t>(2 * buckets, 2)),
                        slot{});
        const std::size_t mask = ti.slots.size() - 1;
        auto& st = per_table[t];
        st.buckets = buckets;
        for (std::size_t i = 0; i < pairs.size();) {
          std::size_t end = i + 1;
          while (end < pairs.size() && pairs[end].first == pairs[i].first)
            ++end;
          const auto key = pairs[i].first;
          auto pos = static_cast<std::size_t>(key ^ (key >> 32)) & mask;
          while (ti.slots[pos].count != 0)
            pos = (pos + 1) & mask;
          ti.slots[pos] = {key, static_cast<std::uint32_t>(i),
                           static_cast<std::uint32_t>(end - i)};
          st.largest_bucket =
              std::max<std::uint64_t>(st.largest_bucket, end - i);
          i = end;
        }
      });
  for (const auto& st : per_table) {
    build_.buckets += st.buckets;
    build_.largest_bucket = std::max(build_.largest_bucket, st.largest_bucket);
  }
}

std::uint64_t lsh_index::coordinate_hash(int t, int j, std::int32_t h) const {
  const auto salt = salts_[static_cast<std::size_t>(t) *
                               static_cast<std::size_t>(p_.projections) +
                           static_cast<std::size_t>(j)];
  return mix64(salt +
               static_cast<std::uint64_t>(static_cast<std::uint32_t>(h)) *
                   0x9e3779b97f4a7c15ULL);
}

const lsh_index::slot* lsh_index::find(int t, std::uint64_t key) const {
  const auto& ti = tables_[static_cast<std::size_t>(t)];
  const std::size_t mask = ti.slots.size() - 1;
  auto pos = static_cast<std::size_t>(key ^ (key >> 32)) & mask;
  while (ti.slots[pos].count != 0) {
    if (ti.slots[pos].key == key) return &ti.slots[pos];
    pos = (pos + 1) & mask;
  }
  return nullptr;
}

std::uint64_t lsh_index::key(std::int32_t item, int t) const {
  EDDY_ASSERT(item >= 0 && item < x_.rows() && t >= 0 && t < p_.tables);
  return keys_[static_cast<std::size_t>(item) *
                   static_cast<std::size_t>(p_.tables) +
               static_cast<std::size_t>(t)];
}

std::span<const std::int32_t> lsh_index::bucket(int t,
                                                std::uint64_t key) const {
  EDDY_ASSERT(t >= 0 && t < p_.tables);
  const slot* s = find(t, key);
  if (s == nullptr) return {};
  return {tables_[static_cast<std::size_t>(t)].items.data() + s->begin,
          s->count};
}

void lsh_index::gather(std::int32_t item, scratch& s) const {
  s.next_query();
  s.visited[static_cast<std::size_t>(item)] = s.epoch; // never itself
  const int k = p_.projections;
  auto visit = [&](int t, std::uint64_t key) {
    ++s.stats.probes;
    const slot* sl = find(t, key);
    if (sl == nullptr) return;
    const auto* ids = tables_[static_cast<std::size_t>(t)].items.data();
    for (std::uint32_t i = sl->begin; i < sl->begin + sl->count; ++i) {
      const auto id = ids[i];
      auto& seen = s.visited[static_cast<std::size_t>(id)];
      if (seen == s.epoch) continue;
      seen = s.epoch;
      s.cands.push_back(id);
    }
  };
  for (int t = 0; t < p_.tables; ++t) {
    const auto own = key(item, t);
    visit(t, own);
    if (p_.probes == 0) continue;
    // Query-directed probing: the nearest bucket boundaries first (ties by
    // coordinate, lower side first: a total order, so deterministic).
    s.perturb.clear();
    for (int j = 0; j < k; ++j) {
      const float z = z_(item, t * k + j);
      const float f = z - std::floor(z);
      s.perturb.emplace_back(f, 2 * j);
      s.perturb.emplace_back(1.0F - f, 2 * j + 1);
    }
    const auto probes = static_cast<std::size_t>(p_.probes);
    std::partial_sort(s.perturb.begin(),
                      s.perturb.begin() + static_cast<std::ptrdiff_t>(probes),
                      s.perturb.end());
    for (std::size_t q = 0; q < probes; ++q) {
      const int j = s.perturb[q].second / 2;
      const int delta = (s.perturb[q].second % 2 == 0) ? -1 : 1;
      const auto h = bucket_of(z_(item, t * k + j));
      visit(t,
            own ^ coordinate_hash(t, j, h) ^ coordinate_hash(t, j, h + delta));
    }
  }
  s.stats.comparisons += s.cands.size();
}

std::vector<std::int32_t> lsh_index::candidates(std::int32_t item) const {
  EDDY_ASSERT(item >= 0 && item < x_.rows());
  scratch s(static_cast<std::size_t>(x_.rows()));
  gather(item, s);
  std::sort(s.cands.begin(), s.cands.end());
  return s.cands;
}

void lsh_index::query_rows(std::span<const std::int32_t> items,
                           std::span<const std::size_t> order, std::size_t n,
                           neighbor_table& out, lsh_stats* stats) const {
  const auto workers = static_cast<std::size_t>(p_.threads);
  std::vector<scratch> scratches;
  scratches.reserve(workers);
  for (std::size_t w = 0; w < workers; ++w)
    scratches.emplace_back(static_cast<std::size_t>(x_.rows()));
  const std::size_t tasks = (order.size() + kQueryChunk - 1) / kQueryChunk;
  detail::parallel_tasks(tasks, p_.threads, [&](std::size_t task, int w) {
    auto& s = scratches[static_cast<std::size_t>(w)];
    const std::size_t end = std::min(order.size(), (task + 1) * kQueryChunk);
    for (std::size_t pos = task * kQueryChunk; pos < end; ++pos) {
      const std::size_t row = order[pos];
      const auto item = items[row];
      gather(item, s);
      top_k<std::int32_t> top(n);
      const float* q = x_.row(item).data();
      const auto d = static_cast<std::size_t>(x_.cols());
      for (const auto id : s.cands)
        top.push(id, static_cast<double>(dot(q, x_.row(id).data(), d)));
      const auto& best = top.items();
      for (std::size_t r = 0; r < best.size(); ++r) {
        out.ids[row * n + r] = best[r].key;
        out.scores[row * n + r] = static_cast<float>(best[r].score);
      }
    }
  });
  if (stats != nullptr) {
    *stats = build_;
    for (const auto& s : scratches) {
      stats->probes += s.stats.probes;
      stats->comparisons += s.stats.comparisons;
    }
  }
}

neighbor_table lsh_index::query(std::span<const std::int32_t> items,
                                std::size_t n, lsh_stats* stats) const {
  for (auto item : items)
    EDDY_ASSERT(item >= 0 && item < x_.rows());
  neighbor_table out;
  out.rows = static_cast<std::int32_t>(items.size());
  out.n = static_cast<std::int32_t>(n);
  out.ids.assign(items.size() * n, -1);
  out.scores.assign(items.size() * n, -std::numeric_limits<float>::infinity());
  out.query.assign(items.begin(), items.end());
  std::vector<std::size_t> order(items.size());
  std::iota(order.begin(), order.end(), 0);
  query_rows(items, order, n, out, stats);
  return out;
}

neighbor_table lsh_index::table(std::size_t n, lsh_stats* stats) const {
  if (p_.probes == 0 && n > 0 && n < 256) return join(n, stats);
  std::vector<std::int32_t> all(static_cast<std::size_t>(x_.rows()));
  std::iota(all.begin(), all.end(), 0);
  neighbor_table out;
  out.rows = static_cast<std::int32_t>(all.size());
  out.n = static_cast<std::int32_t>(n);
  out.ids.assign(all.size() * n, -1);
  out.scores.assign(all.size() * n, -std::numeric_limits<float>::infinity());
  out.query = all;
  // Visit items bucket by bucket of table 0: neighbouring queries share most
  // candidates, which then stay in cache. Rows are still indexed by item.
  std::vector<std::size_t> order(all.size());
  const auto& first = tables_.front().items;
  std::transform(first.begin(), first.end(), order.begin(),
                 [](std::int32_t i) { return static_cast<std::size_t>(i); });
  query_rows(all, order, n, out, stats);
  return out;
}

bucket_list lsh_index::buckets(std::vector<std::uint64_t>* keys) const {
  bucket_list out;
  if (keys != nullptr) keys->clear();
  for (const auto& ti : tables_)
    for (const auto& sl : ti.slots) {
      if (sl.count < 2) continue;
      out.add({ti.items.data() + sl.begin, sl.count});
      if (keys != nullptr) keys->push_back(sl.key);
    }
  return out;
}

neighbor_table lsh_index::join(std::size_t n, lsh_stats* stats) const {
  std::uint64_t comparisons = 0;
  auto out = join_buckets(x_, buckets(), n, p_.threads, &comparisons);
  if (stats != nullptr) {
    *stats = build_;
    stats->comparisons = comparisons;
  }
  return out;
}

namespace {

neighbor_table to_table(top_lists&& lists, std::size_t items, std::size_t n) {
  neighbor_table out;
  out.rows = static_cast<std::int32_t>(items);
  out.n = static_cast<std::int32_t>(n);
  out.query.resize(items);
  std::iota(out.query.begin(), out.query.end(), 0);
  out.ids = std::move(lists.ids);
  out.scores = std::move(lists.scores);
  return out;
}

} // namespace

neighbor_table join_buckets(const factor_matrix& normalized,
                            const bucket_list& buckets, std::size_t n,
                            int threads, std::uint64_t* comparisons) {
  EDDY_ASSERT(n > 0 && n < 256 && threads >= 1);
  const auto items = static_cast<std::size_t>(normalized.rows());
  const auto d = static_cast<std::size_t>(normalized.cols());
  const std::size_t tasks = (buckets.size() + kJoinChunk - 1) / kJoinChunk;
  // One set of lists per thread that has work (each is items x n).
  const auto workers = std::max<std::size_t>(
      1, std::min(static_cast<std::size_t>(threads), tasks));
  threads = static_cast<int>(workers);
  std::vector<top_lists> lists;
  lists.reserve(workers);
  for (std::size_t w = 0; w < workers; ++w)
    lists.emplace_back(items, n);
  std::vector<std::uint64_t> pairs_of(workers, 0);
  detail::parallel_tasks(tasks, threads, [&](std::size_t task, int worker) {
    auto& top = lists[static_cast<std::size_t>(worker)];
    factor_matrix block;
    factor_matrix gram;
    std::uint64_t pairs = 0;
    const std::size_t last = std::min(buckets.size(), (task + 1) * kJoinChunk);
    for (std::size_t bi = task * kJoinChunk; bi < last; ++bi) {
      const auto members = buckets[bi];
      const auto b = static_cast<Eigen::Index>(members.size());
      if (b < 2) continue;
      block.resize(b, normalized.cols());
      for (Eigen::Index m = 0; m < b; ++m) {
        EDDY_ASSERT(members[static_cast<std::size_t>(m)] >= 0 &&
                    static_cast<std::size_t>(members[static_cast<std::size_t>(m)]) < items);
        block.row(m) = normalized.row(members[static_cast<std::size_t>(m)]);
      }
      auto exact_pair = [&](Eigen::Index i, Eigen::Index j) {
        const float s = dot(block.row(i).data(), block.row(j).data(), d);
        const auto a = members[static_cast<std::size_t>(i)];
        const auto c = members[static_cast<std::size_t>(j)];
        top.offer(a, c, s);
        top.offer(c, a, s);
      };
      pairs += static_cast<std::uint64_t>(b) * static_cast<std::uint64_t>(b - 1) / 2;
      if (static_cast<std::size_t>(b) < kGemmMinBucket) {
        for (Eigen::Index i = 0; i < b; ++i)
          for (Eigen::Index j = i + 1; j < b; ++j)
            exact_pair(i, j);
        continue;
      }
      // Tiles of rows against the columns right of the diagonal.
      for (Eigen::Index r0 = 0; r0 < b; r0 += kGemmTile) {
        const Eigen::Index rows = std::min(kGemmTile, b - r0);
        const Eigen::Index c0 = r0, cols = b - r0;
        gram.resize(rows, cols);
        gram.noalias() =
            block.middleRows(r0, rows) * block.middleRows(c0, cols).transpose();
        for (Eigen::Index i = r0; i < r0 + rows; ++i) {
          const float* g = gram.row(i - r0).data();
          const float kth_i = top.kth(members[static_cast<std::size_t>(i)]);
          for (Eigen::Index j = i + 1; j < b; ++j) {
            const float v = g[j - c0] + kFilterMargin;
            if (v >= kth_i || v >= top.kth(members[static_cast<std::size_t>(j)]))
              exact_pair(i, j);
          }
        }
      }
    }
    pairs_of[static_cast<std::size_t>(worker)] += pairs;
  });
  if (comparisons != nullptr) {
    *comparisons = 0;
    for (auto c : pairs_of)
      *comparisons += c;
  }
  if (workers == 1) return to_table(std::move(lists[0]), items, n);
  // Each worker's list is the top-n of the distinct candidates it saw, so the
  // top-n of their deduplicated union is the top-n of all.
  top_lists merged(items, n);
  for (std::size_t w = 0; w < workers; ++w)
    for (std::size_t i = 0; i < items; ++i)
      for (std::size_t k = 0; k < lists[w].count[i]; ++k)
        merged.offer(static_cast<std::int32_t>(i), lists[w].ids[i * n + k],
                     lists[w].scores[i * n + k]);
  return to_table(std::move(merged), items, n);
}

neighbor_table merge_neighbor_lists(std::int32_t items, std::size_t n,
                                    std::span<const neighbor_table> parts) {
  EDDY_ASSERT(items >= 0 && n > 0 && n < 256);
  top_lists merged(static_cast<std::size_t>(items), n);
  for (const auto& part : parts) {
    EDDY_ASSERT(part.query.size() == static_cast<std::size_t>(part.rows));
    for (std::int32_t r = 0; r < part.rows; ++r) {
      const auto item = part.query[static_cast<std::size_t>(r)];
      EDDY_ASSERT(item >= 0 && item < items);
      const auto ids = part.ids_of(r);
      const auto scores = part.scores_of(r);
      for (std::size_t k = 0; k < ids.size(); ++k)
        if (ids[k] >= 0) {
          EDDY_ASSERT(ids[k] < items);
          merged.offer(item, ids[k], scores[k]);
        }
    }
  }
  return to_table(std::move(merged), static_cast<std::size_t>(items), n);
}

neighbor_table lsh_top_n(const factor_matrix& normalized, std::size_t n,
                         const lsh_params& p, lsh_stats* stats) {
  return lsh_index(normalized, p).table(n, stats);
}

} // namespace eddy::models

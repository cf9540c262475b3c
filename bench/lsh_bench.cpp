// The full "You May Also Like" table (top-10 similar items for every item) by
// LSH (models/lsh), by exact brute force (models/similar: blocked Eigen GEMM +
// top-k) and by HNSW (Debian's libhnswlib-dev), all on 2 threads.
//
// Data: --items (100k) unit vectors of --dims (64) from --clusters (1000)
// Gaussian clusters: centre ~ N(0, I), member = centre + N(0, s^2 I) with a
// per-cluster spread s ~ U[0.4, 0.8], then L2-normalized (seeded). Within a
// cluster cosines are ~0.6-0.85, across clusters ~N(0, 1/64): top-10 cosines
// of the same order as the MovieLens ALS factors' (the bench prints them).
//
// Recall@10 of every method is measured against the exact top-10 of the same
// --sample (2000) items, with models::recall_at (ids, or a score within 1e-4
// of the exact 10th: near-ties count).
//   LSH    index build + table(10) for every item.
//   exact  exact_top_n for every item; with --exact-rows R > 0 only R query
//          rows are run and the time is scaled to all items (printed as such).
//   HNSW   HierarchicalNSW<float>, InnerProductSpace, M 16, ef_construction
//          200, points added by 2 threads; ef raised in steps (recall checked
//          on the sample's queries) until recall@10 >= LSH's; then every item
//          is queried for k = 11 (self dropped) on 2 threads. Time = build +
//          querying every item at that ef.
//
//   bench_lsh [--items N] [--dims D] [--clusters C] [--sample S]
//             [--exact-rows R] [--tables L] [--projections K] [--bucket W]
//             [--probes P] [--lsh-only 1]
// Ends with: RESULT items=... lsh_seconds=... lsh_recall=... exact_seconds=...
//            hnsw_seconds=... hnsw_recall=... hnsw_ef=... ratio_lsh_vs_hnsw=...
//            speedup_vs_exact=... targets_met=yes|no
#include "models/lsh.hpp"
#include "models/random.hpp"
#include "models/similar.hpp"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace eddy::models;

namespace {

using clock_type = std::chrono::steady_clock;
constexpr int kThreads = 2;
constexpr std::size_t kTop = 10;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

factor_matrix clustered(std::int32_t items, int dims, int clusters,
                        std::uint64_t seed) {
  rng g(seed);
  factor_matrix centre(clusters, dims);
  std::vector<double> spread(static_cast<std::size_t>(clusters));
  for (int c = 0; c < clusters; ++c) {
    for (int d = 0; d < dims; ++d)
      centre(c, d) = static_cast<float>(g.normal());
    spread[static_cast<std::size_t>(c)] = g.uniform(0.4, 0.8);
  }
  factor_matrix x(items, dims);
  for (std::int32_t i = 0; i < items; ++i) {
    const auto c = static_cast<int>(g.below(static_cast<std::uint64_t>(clusters)));
    for (int d = 0; d < dims; ++d)
      x(i, d) = centre(c, d) +
                static_cast<float>(spread[static_cast<std::size_t>(c)] * g.normal());
  }
  return normalize_rows(x);
}

/// Runs fn(i) for i in [0, n) on kThreads threads (shared counter).
template <class Fn>
void parallel_for(std::size_t n, Fn fn) {
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (auto i = next.fetch_add(64); i < n; i = next.fetch_add(64))
      for (std::size_t j = i; j < std::min(n, i + 64); ++j)
        fn(j);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < kThreads; ++t)
    pool.emplace_back(work);
  work();
  for (auto& th : pool)
    th.join();
}

/// HNSW answers for `queries` (k = 11, self dropped) as a neighbor_table.
neighbor_table hnsw_query(const hnswlib::HierarchicalNSW<float>& index,
                          const factor_matrix& x,
                          const std::vector<std::int32_t>& queries) {
  neighbor_table t;
  t.rows = static_cast<std::int32_t>(queries.size());
  t.n = static_cast<std::int32_t>(kTop);
  t.ids.assign(queries.size() * kTop, -1);
  t.scores.assign(queries.size() * kTop, -std::numeric_limits<float>::infinity());
  t.query = queries;
  parallel_for(queries.size(), [&](std::size_t r) {
    const auto q = queries[r];
    auto heap = index.searchKnn(x.row(q).data(), kTop + 1);
    std::vector<std::pair<float, std::int32_t>> got; // (distance, id)
    while (!heap.empty()) {
      const auto [dist, label] = heap.top();
      heap.pop();
      if (static_cast<std::int32_t>(label) != q)
        got.emplace_back(dist, static_cast<std::int32_t>(label));
    }
    std::sort(got.begin(), got.end());
    for (std::size_t k = 0; k < std::min(kTop, got.size()); ++k) {
      t.ids[r * kTop + k] = got[k].second;
      t.scores[r * kTop + k] = 1.0F - got[k].first; // IP distance = 1 - dot
    }
  });
  return t;
}

} // namespace

int main(int argc, char** argv) {
  std::int32_t items = 100'000;
  int dims = 64, clusters = 1000;
  std::size_t sample_size = 2000;
  std::int32_t exact_rows = 0; // 0 = every item
  bool lsh_only = false;       // for tuning: skip exact and HNSW
  lsh_params p; // models/lsh.hpp's defaults unless overridden
  p.threads = kThreads;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char* k = argv[i];
    const char* v = argv[i + 1];
    if (std::strcmp(k, "--items") == 0) items = std::atoi(v);
    else if (std::strcmp(k, "--dims") == 0) dims = std::atoi(v);
    else if (std::strcmp(k, "--clusters") == 0) clusters = std::atoi(v);
    else if (std::strcmp(k, "--sample") == 0) sample_size = std::strtoull(v, nullptr, 10);
    else if (std::strcmp(k, "--exact-rows") == 0) exact_rows = std::atoi(v);
    else if (std::strcmp(k, "--lsh-only") == 0) lsh_only = std::atoi(v) != 0;
    else if (std::strcmp(k, "--tables") == 0) p.tables = std::atoi(v);
    else if (std::strcmp(k, "--projections") == 0) p.projections = std::atoi(v);
    else if (std::strcmp(k, "--bucket") == 0) p.bucket_length = std::strtof(v, nullptr);
    else if (std::strcmp(k, "--probes") == 0) p.probes = std::atoi(v);
    else {
      std::fprintf(stderr, "bench_lsh: unknown option %s\n", k);
      return 2;
    }
  }
  if (auto err = validate(p)) {
    std::fprintf(stderr, "bench_lsh: %s\n", err->c_str());
    return 2;
  }

  const auto x = clustered(items, dims, clusters, 20260601);
  const auto sample = sample_items(items, sample_size, 7);
  auto t0 = clock_type::now();
  const auto truth = exact_top_n(x, sample, kTop, kThreads);
  const double truth_s = seconds_since(t0);
  {
    std::vector<float> s1, s10;
    for (std::int32_t r = 0; r < truth.rows; ++r) {
      s1.push_back(truth.scores_of(r)[0]);
      s10.push_back(truth.scores_of(r)[kTop - 1]);
    }
    std::sort(s1.begin(), s1.end());
    std::sort(s10.begin(), s10.end());
    auto q = [](const std::vector<float>& v, double f) {
      return static_cast<double>(v[static_cast<std::size_t>(f * static_cast<double>(v.size() - 1))]);
    };
    std::printf("data: %d items x %d dims, %d Gaussian clusters (normalized); %d threads\n",
                items, dims, clusters, kThreads);
    std::printf("exact top-10 of %zu sampled items (%.2f s): cosine of the 1st p5/p50/p95 "
                "%.3f/%.3f/%.3f, of the 10th %.3f/%.3f/%.3f\n",
                sample.size(), truth_s, q(s1, 0.05), q(s1, 0.5), q(s1, 0.95), q(s10, 0.05),
                q(s10, 0.5), q(s10, 0.95));
  }

  // LSH: build + the whole table.
  t0 = clock_type::now();
  lsh_stats st;
  const lsh_index index(x, p);
  const double lsh_build_s = seconds_since(t0);
  const auto table = index.table(kTop, &st);
  const double lsh_s = seconds_since(t0);
  const double lsh_recall = recall_at(table, truth, kTop);
  const double lsh_strict = recall_at(table, truth, kTop, 0.0F);
  std::printf("LSH   L=%d K=%d w=%g probes=%d: %.2f s (build %.2f s), recall@10 %.4f "
              "(ids only %.4f), %.0f cosines/item (%.2f%% of items), %llu buckets, "
              "largest %llu\n",
              p.tables, p.projections, static_cast<double>(p.bucket_length), p.probes, lsh_s,
              lsh_build_s, lsh_recall, lsh_strict,
              static_cast<double>(st.comparisons) / items,
              100.0 * static_cast<double>(st.comparisons) / items / items,
              static_cast<unsigned long long>(st.buckets),
              static_cast<unsigned long long>(st.largest_bucket));

  if (lsh_only) return 0;

  // Exact brute force.
  double exact_s = 0;
  if (exact_rows > 0 && exact_rows < items) {
    const auto rows = sample_items(items, static_cast<std::size_t>(exact_rows), 11);
    t0 = clock_type::now();
    const auto part = exact_top_n(x, rows, kTop, kThreads);
    const double part_s = seconds_since(t0);
    exact_s = part_s * static_cast<double>(items) / exact_rows;
    std::printf("exact (GEMM + top-k): %.2f s for %d query rows -> %.2f s EXTRAPOLATED to "
                "all %d items\n",
                part_s, exact_rows, exact_s, items);
  } else {
    t0 = clock_type::now();
    const auto full = exact_top_n(x, kTop, kThreads);
    exact_s = seconds_since(t0);
    std::printf("exact (GEMM + top-k): %.2f s for all %d items (measured)\n", exact_s, items);
  }

  // HNSW.
  hnswlib::InnerProductSpace space(static_cast<std::size_t>(dims));
  t0 = clock_type::now();
  hnswlib::HierarchicalNSW<float> hnsw(&space, static_cast<std::size_t>(items), 16, 200, 100);
  parallel_for(static_cast<std::size_t>(items), [&](std::size_t i) {
    hnsw.addPoint(x.row(static_cast<Eigen::Index>(i)).data(), i);
  });
  const double hnsw_build_s = seconds_since(t0);
  std::printf("HNSW  M=16 ef_construction=200: build %.2f s\n", hnsw_build_s);
  std::size_t ef = 0;
  double hnsw_recall = 0;
  for (std::size_t e : {10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160,
                        192, 256, 320, 384, 512, 768, 1024}) {
    hnsw.setEf(e);
    const double r = recall_at(hnsw_query(hnsw, x, truth.query), truth, kTop);
    std::printf("HNSW  ef=%zu: recall@10 %.4f on the sample\n", e, r);
    ef = e;
    hnsw_recall = r;
    if (r >= lsh_recall) break;
  }
  std::vector<std::int32_t> all(static_cast<std::size_t>(items));
  for (std::int32_t i = 0; i < items; ++i)
    all[static_cast<std::size_t>(i)] = i;
  t0 = clock_type::now();
  const auto hnsw_table = hnsw_query(hnsw, x, all);
  const double hnsw_query_s = seconds_since(t0);
  hnsw_recall = recall_at(hnsw_table, truth, kTop);
  const double hnsw_s = hnsw_build_s + hnsw_query_s;
  std::printf("HNSW  ef=%zu: %.2f s (build %.2f s + query all %.2f s), recall@10 %.4f\n", ef,
              hnsw_s, hnsw_build_s, hnsw_query_s, hnsw_recall);

  const double ratio = lsh_s / hnsw_s;
  const double speedup = exact_s / lsh_s;
  const bool met = lsh_recall >= 0.95 && ratio <= 0.5 && speedup >= 5.0;
  std::printf("LSH vs HNSW time: %.2fx (target <= 0.5x), LSH vs exact: %.1fx faster (target "
              ">= 5x), LSH recall@10 %.4f (target >= 0.95): targets %s\n",
              ratio, speedup, lsh_recall, met ? "MET" : "NOT met");
  std::printf("RESULT items=%d lsh_seconds=%.3f lsh_recall=%.4f exact_seconds=%.3f "
              "hnsw_seconds=%.3f hnsw_recall=%.4f hnsw_ef=%zu ratio_lsh_vs_hnsw=%.3f "
              "speedup_vs_exact=%.2f targets_met=%s\n",
              items, lsh_s, lsh_recall, exact_s, hnsw_s, hnsw_recall, ef, ratio, speedup,
              met ? "yes" : "no");
  return 0;
}

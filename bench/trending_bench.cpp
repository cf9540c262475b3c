// Trending window updates on one core (models/trending, DESIGN.md §4).
//
// The stream: 100k items drawn Zipf(1.0), types 1..3 (views 80%, carts 15%,
// purchases 5%), event time increasing by ~3.5 ms per event (~1M events per
// simulated hour; --max-gap-ms N draws the gaps from [0, N) ms instead of
// [0, 8)). Most of the kernel's time goes to slides, which come once per
// (item, bucket) with events, not per event: the sparser the stream in event
// time, the more of its events slide (here about 0.37 per event), so the
// kernel's events/s depend on that density. Measured over the same stream,
// each on fresh state:
//   kernel    item_trend::add on pre-resolved items (no key lookup): counts,
//             ring slides, folding buckets into the forecasters; one event
//             at a time (the first figure this bench reported,
//             kernel_events_per_s)
//   kernel, prefetching ahead
//             the same adds in the same order, while the loop asks for the
//             state of the event 8 ahead (item_trend::prefetch) and the
//             item_trend object of the event 16 ahead. The same adds in the
//             same order, so the same state (a prefetch changes nothing); what
//             changes is that the cache misses of a cold item (its object,
//             then its block) overlap with other events' work instead of
//             stalling one after another. Any consumer of event batches can
//             do this, and the node's does (trending_table::add(span), fed by
//             the shard's trending actor). kernel_prefetch_events_per_s.
//   table     trending_table::add (id lookup + late check + kernel)
//   table, by parts
//             trending_table::add(span) on parts of 16 events with their
//             items' hashes known, as a node's trending actor is fed; must end
//             in the same state (digest) as the table fed event by event
//   baseline  unordered_map<std::string, uint64_t>: ++count
// plus bytes of state per tracked (item, type) and one query of each kind.
// The kernels are run 3 times each (fresh state every time) and report the
// median: the machine is shared and single runs are noisy.
//
//   bench_trending [--events N] [--items N] [--max-gap-ms N] [--only-kernel [--ahead N]]
// --only-kernel runs the one-at-a-time kernel (or, with --ahead N, the kernel
// prefetching N events ahead) once and nothing else (for
// valgrind --tool=callgrind: instructions per event without the other parts).
// Ends with: RESULT events=... kernel_events_per_s=... kernel_prefetch_events_per_s=...
//            table_events_per_s=... table_parts_events_per_s=... baseline_events_per_s=... table_vs_baseline=...
//            bytes_per_series=...
#include "models/item_key.hpp"
#include "models/random.hpp"
#include "models/trending.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

using namespace eddy::models;

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

struct ev {
  std::uint32_t item;
  std::uint8_t type;
  std::int64_t ts;
};

std::vector<ev> make_stream(std::uint64_t n, std::uint64_t items, std::uint64_t max_gap_ms) {
  rng r{20260101};
  zipf_table z{1.0, items};
  std::vector<ev> out;
  out.reserve(n);
  std::int64_t ts = 1'700'000'000'000; // ms
  for (std::uint64_t i = 0; i < n; ++i) {
    ts += static_cast<std::int64_t>(r.below(max_gap_ms)); // mean 3.5 ms by default
    const auto u = r.below(100);
    const auto type = static_cast<std::uint8_t>(u < 80 ? 1 : u < 95 ? 2 : 3);
    out.push_back({static_cast<std::uint32_t>(z.sample(r)), type, ts});
  }
  return out;
}

} // namespace

int main(int argc, char** argv) {
  std::uint64_t n = 6'000'000, items = 100'000, max_gap_ms = 8;
  bool only_kernel = false;
  std::size_t only_ahead = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view k = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (k == "--only-kernel") {
      only_kernel = true;
    } else if (v != nullptr && k == "--events") {
      n = std::max<std::uint64_t>(1, std::strtoull(argv[++i], nullptr, 10));
    } else if (v != nullptr && k == "--items") {
      items = std::max<std::uint64_t>(1, std::strtoull(argv[++i], nullptr, 10));
    } else if (v != nullptr && k == "--max-gap-ms") {
      max_gap_ms = std::max<std::uint64_t>(1, std::strtoull(argv[++i], nullptr, 10));
    } else if (v != nullptr && k == "--ahead") {
      only_ahead = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: bench_trending [--events N] [--items N] [--max-gap-ms N] "
                           "[--only-kernel [--ahead N]]\n(see the top of "
                           "bench/trending_bench.cpp for what each part measures)\n");
      return 2;
    }
  }
  const auto stream = make_stream(n, items, max_gap_ms);
  std::vector<std::string> names(items);
  for (std::uint64_t i = 0; i < items; ++i)
    names[i] = "item" + std::to_string(i);
  const double hours = static_cast<double>(stream.back().ts - stream.front().ts) / 3.6e6;
  std::printf("stream: %llu events, %llu items Zipf(1.0), 3 types, %.2f simulated hours\n",
              static_cast<unsigned long long>(n), static_cast<unsigned long long>(items), hours);

  const trending_params params;
  // (a) The kernel: per-item state already resolved. `ahead` = 0: one event at
  // a time; else the state of the event `ahead` further is requested (and the
  // object of the event 2 * ahead further) before each add.
  auto run_kernel = [&](std::size_t ahead, std::size_t& series) {
    const trend_model m{params};
    std::vector<item_trend> state(items);
    series = 0;
    const auto t0 = clock_type::now();
    if (ahead == 0) {
      for (const auto& e : stream)
        series += state[e.item].add(m, e.type, e.ts) ? 1 : 0;
    } else {
      const std::size_t count = stream.size();
      for (std::size_t i = 0; i < count; ++i) {
        if (i + 2 * ahead < count) __builtin_prefetch(&state[stream[i + 2 * ahead].item]);
        if (i + ahead < count) state[stream[i + ahead].item].prefetch();
        const auto& e = stream[i];
        series += state[e.item].add(m, e.type, e.ts) ? 1 : 0;
      }
    }
    return seconds_since(t0);
  };
  auto median3 = [&](std::size_t ahead, std::size_t& series) {
    double t[3];
    for (double& x : t)
      x = run_kernel(ahead, series);
    std::sort(t, t + 3);
    return t[1];
  };
  std::size_t kernel_series = 0, prefetch_series = 0;
  if (only_kernel) {
    const double s = run_kernel(only_ahead, kernel_series);
    std::printf("kernel once: %.2f M events/s, %zu series\n", static_cast<double>(n) / s / 1e6,
                kernel_series);
    return 0;
  }
  const double kernel_s = median3(0, kernel_series);
  const double prefetch_s = median3(8, prefetch_series);
  // (b) The table: key lookup + late check + kernel.
  double table_s = 0.0;
  trending_table table{params};
  {
    const auto t0 = clock_type::now();
    for (const auto& e : stream)
      (void)table.add(names[e.item], e.type, e.ts);
    table_s = seconds_since(t0);
  }
  // (b2) The table as a node feeds it: parts of 16 events (a 1000-event batch
  // split over 64 shards) with the items' hashes known (the gateway computed
  // them to route the events), looked up all at once (trending_table::add(span)).
  constexpr std::size_t part_events = 16;
  double parts_s = 0.0;
  trending_table by_parts{params};
  {
    std::vector<std::uint64_t> hashes(items);
    for (std::uint64_t i = 0; i < items; ++i)
      hashes[i] = item_hash(names[i]);
    std::vector<trend_event> part;
    const auto t0 = clock_type::now();
    for (std::size_t i = 0; i < stream.size(); i += part_events) {
      part.clear();
      for (std::size_t j = i; j < std::min(stream.size(), i + part_events); ++j)
        part.push_back({{names[stream[j].item], hashes[stream[j].item]}, stream[j].type,
                        stream[j].ts});
      by_parts.add(part);
    }
    parts_s = seconds_since(t0);
  }
  if (by_parts.digest() != table.digest()) {
    std::fprintf(stderr, "bench_trending: the table fed by parts differs from the one fed "
                         "event by event\n");
    return 1;
  }
  // (d) Baseline: a plain hash map of counters over the same keys.
  double base_s = 0.0;
  std::uint64_t check = 0;
  {
    std::unordered_map<std::string, std::uint64_t> counts;
    const auto t0 = clock_type::now();
    for (const auto& e : stream)
      ++counts[names[e.item]];
    base_s = seconds_since(t0);
    check = counts.size();
  }
  const double nd = static_cast<double>(n);
  const double kernel_rate = nd / kernel_s, table_rate = nd / table_s, base_rate = nd / base_s;
  const double prefetch_rate = nd / prefetch_s, parts_rate = nd / parts_s;
  std::printf("kernel   (item_trend::add, pre-resolved): %8.2f M events/s  (%.1f ns/event)\n",
              kernel_rate / 1e6, 1e9 / kernel_rate);
  std::printf("kernel, prefetching 8 events ahead:       %8.2f M events/s  (%.1f ns/event)\n",
              prefetch_rate / 1e6, 1e9 / prefetch_rate);
  std::printf("table    (trending_table::add):           %8.2f M events/s  (%.1f ns/event)\n",
              table_rate / 1e6, 1e9 / table_rate);
  std::printf("table, by parts of %zu (hashes known):    %8.2f M events/s  (%.1f ns/event)\n",
              part_events, parts_rate / 1e6, 1e9 / parts_rate);
  std::printf("baseline (unordered_map<string,u64> ++):  %8.2f M events/s  (%.1f ns/event)\n",
              base_rate / 1e6, 1e9 / base_rate);
  std::printf("table / baseline = %.2f, kernel / baseline = %.2f\n", table_rate / base_rate,
              kernel_rate / base_rate);

  // (c) Memory per tracked (item, type).
  const double per = static_cast<double>(table.memory_bytes()) /
                     static_cast<double>(table.tracked_series());
  std::printf("state: %zu items, %zu series (kernel runs: %zu, %zu), %zu bytes = %.1f "
              "bytes/series\n",
              table.size(), table.tracked_series(), kernel_series, prefetch_series,
              table.memory_bytes(), per);

  // One query of each kind, as of the end of the stream (for scale, not a target).
  trend_query q;
  q.k = 10;
  auto t0 = clock_type::now();
  const auto trend = table.top_trending(q);
  const double trend_ms = seconds_since(t0) * 1e3;
  t0 = clock_type::now();
  const auto pop = table.top_popular(q);
  const double pop_ms = seconds_since(t0) * 1e3;
  t0 = clock_type::now();
  const auto dec = table.top_decayed(q);
  const double dec_ms = seconds_since(t0) * 1e3;
  std::printf("queries over %zu items: top_trending %.1f ms (%zu hits), top_popular %.1f ms, "
              "top_decayed %.1f ms\n",
              table.size(), trend_ms, trend.size(), pop_ms, dec_ms);
  if (!trend.items().empty())
    std::printf("  top trending: %s %.2f\n", trend.items()[0].key.c_str(),
                trend.items()[0].score);
  std::printf("  top popular: %s %.0f, stats: accepted %llu late %llu (baseline keys %llu)\n",
              pop.items().empty() ? "-" : pop.items()[0].key.c_str(),
              pop.items().empty() ? 0.0 : pop.items()[0].score,
              static_cast<unsigned long long>(table.stats().accepted),
              static_cast<unsigned long long>(table.stats().late),
              static_cast<unsigned long long>(check));

  std::printf("RESULT events=%llu kernel_events_per_s=%.0f kernel_prefetch_events_per_s=%.0f "
              "table_events_per_s=%.0f table_parts_events_per_s=%.0f baseline_events_per_s=%.0f "
              "table_vs_baseline=%.3f kernel_vs_baseline=%.3f bytes_per_series=%.1f\n",
              static_cast<unsigned long long>(n), kernel_rate, prefetch_rate, table_rate,
              parts_rate, base_rate,
              table_rate / base_rate, kernel_rate / base_rate, per);
  return 0;
}

// Normalization throughput on one core: a generated RetailRocket-style CSV through
// the shipped mapping into the msgpack writer, against a baseline that only splits
// lines and fields (memchr + from_chars) over the same bytes in the same run.
//
//   bench_normalize [--rows N] [--repeat R]
// Ends with: RESULT rows=... events_per_s=... mb_per_s=... baseline_rows_per_s=...
//            baseline_mb_per_s=... ratio=...
#include "schema/byte_source.hpp"
#include "schema/generator.hpp"
#include "schema/interactions.hpp"
#include "schema/mapping.hpp"
#include "schema/normalizer.hpp"
#include "schema/writers.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

using namespace eddy;

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// The baseline: find each line, split it at the delimiter, parse the numeric fields.
// No validation, no types, no output: the floor any CSV normalizer pays.
std::uint64_t baseline(std::string_view data, std::uint64_t& checksum) {
  const char* p = data.data();
  const char* e = p + data.size();
  auto* nl = static_cast<const char*>(std::memchr(p, '\n', data.size()));
  p = nl + 1; // header
  std::uint64_t rows = 0;
  std::string_view fields[8];
  while (p < e) {
    nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(e - p)));
    const char* le = nl ? nl : e;
    std::size_t n = 0;
    const char* f = p;
    for (;;) {
      auto* d = static_cast<const char*>(std::memchr(f, ',', static_cast<std::size_t>(le - f)));
      if (d == nullptr || n == 7) {
        fields[n++] = std::string_view{f, static_cast<std::size_t>(le - f)};
        break;
      }
      fields[n++] = std::string_view{f, static_cast<std::size_t>(d - f)};
      f = d + 1;
    }
    std::int64_t ts = 0, user = 0, item = 0;
    std::from_chars(fields[0].data(), fields[0].data() + fields[0].size(), ts);
    std::from_chars(fields[1].data(), fields[1].data() + fields[1].size(), user);
    std::from_chars(fields[3].data(), fields[3].data() + fields[3].size(), item);
    checksum += static_cast<std::uint64_t>(ts + user + item) + fields[2].size();
    ++rows;
    p = le + 1;
  }
  return rows;
}

struct null_rejects final : reject_sink {
  std::uint64_t n = 0;
  void on_reject(const reject_record&) override { ++n; }
};

} // namespace

int main(int argc, char** argv) {
  std::uint64_t rows = 5'000'000;
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--rows")
      rows = std::stoull(argv[i + 1]);
    else if (a == "--repeat")
      repeat = std::stoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: bench_normalize [--rows N] [--repeat R]\n");
      return 2;
    }
  }
  std::string src_dir = EDDY_SOURCE_DIR;
  auto reg = interaction_registry::load(src_dir + "/configs/interactions.toml");
  auto mapping = load_mapping(src_dir + "/configs/schemas/retailrocket-events.toml");
  if (!reg || !mapping) {
    std::fprintf(stderr, "bench: cannot load configs\n");
    return 1;
  }

  // Input: the generator's RetailRocket shape, sized by --rows.
  auto path = (std::filesystem::temp_directory_path() / "eddy-bench-retailrocket.csv").string();
  {
    generator_config g;
    g.seed = 1;
    g.max_events = rows;
    g.hours = 24.0 * 30;
    g.sessions_per_minute = 200;
    g.items = 200000;
    g.users = 1000000;
    auto w = open_shape_writer(source_shape::retailrocket, path, *reg);
    if (!w) {
      std::fprintf(stderr, "bench: %s\n", w.err().message.c_str());
      return 1;
    }
    generate(g, *reg, **w);
    std::string why;
    if (!(*w)->finish(&why)) {
      std::fprintf(stderr, "bench: %s\n", why.c_str());
      return 1;
    }
  }
  std::string data;
  {
    std::ifstream in{path, std::ios::binary};
    std::stringstream ss;
    ss << in.rdbuf();
    data = ss.str();
  }
  std::filesystem::remove(path);
  const double mb = static_cast<double>(data.size()) / 1e6;
  std::printf("input: %llu rows, %.1f MB (generated RetailRocket-style CSV)\n",
              static_cast<unsigned long long>(rows), mb);

  double best_base = 1e30, best_norm = 1e30;
  std::uint64_t base_rows = 0, events = 0, rejects = 0, checksum = 0;
  for (int r = 0; r < repeat; ++r) {
    auto t0 = clock_type::now();
    base_rows = baseline(data, checksum);
    best_base = std::min(best_base, seconds_since(t0));

    auto norm = normalizer::make(*mapping, *reg);
    writer_options wo;
    wo.format = output_format::msgpack;
    auto out = open_writer("/dev/null", wo, *reg);
    auto src = memory_source(data, "bench");
    null_rejects rj;
    normalize_stats st;
    t0 = clock_type::now();
    auto ok = norm->run(*src, **out, rj, st);
    std::string why;
    (*out)->finish(&why);
    best_norm = std::min(best_norm, seconds_since(t0));
    if (!ok) {
      std::fprintf(stderr, "bench: %s\n", ok.message().c_str());
      return 1;
    }
    events = st.events;
    rejects = st.rejected();
  }
  if (base_rows != rows || events != rows || rejects != 0) {
    std::fprintf(stderr, "bench: expected %llu rows, baseline saw %llu, normalize %llu events "
                         "and %llu rejects\n",
                 static_cast<unsigned long long>(rows), static_cast<unsigned long long>(base_rows),
                 static_cast<unsigned long long>(events), static_cast<unsigned long long>(rejects));
    return 1;
  }
  double eps = static_cast<double>(events) / best_norm;
  double bps = static_cast<double>(base_rows) / best_base;
  std::printf("normalize (mapping + validation + msgpack output): %.3f s, %.2f M events/s, "
              "%.0f MB/s\n", best_norm, eps / 1e6, mb / best_norm);
  std::printf("baseline  (memchr lines/fields + from_chars):      %.3f s, %.2f M rows/s, "
              "%.0f MB/s (checksum %llu)\n", best_base, bps / 1e6, mb / best_base,
              static_cast<unsigned long long>(checksum % 1000));
  std::printf("ratio normalize/baseline: %.3f (target >= 0.4); target >= 8 M events/s\n",
              eps / bps);
  std::printf("RESULT rows=%llu events_per_s=%.0f mb_per_s=%.1f baseline_rows_per_s=%.0f "
              "baseline_mb_per_s=%.1f ratio=%.3f\n",
              static_cast<unsigned long long>(rows), eps, mb / best_norm, bps,
              mb / best_base, eps / bps);
  return 0;
}

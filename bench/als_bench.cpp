// Implicit ALS fit time (models/als, issue 5 "Benchmark") on the standard
// matrix ../shared/data/als-bench/interactions-50k-20k.tsv.gz (50,000 users x
// 20,000 items, 1,999,796 pairs; see its PROVENANCE.md) with the standard
// settings: confidence = 1 + 40 * count, 64 factors, reg 0.01, CG 3 steps,
// float32, 2 threads, 15 iterations.
//
// Seconds per iteration are the wall time of the two half-steps (Gram + the
// row solves, as fit() reports solve_seconds); the loss computed after every
// iteration for the printout is timed separately and not included. The final
// normalized loss is loss / (sum of confidences + users * items - nnz), the
// PROVENANCE.md scale (reference: 0.02758 from `implicit` 0.7.2, which takes
// ~0.37 s per iteration on this machine class; target <= 0.25 s).
//
// Flop model (one iteration = a user half-step then an item half-step; a
// half-step solves n rows against an m x k factor matrix Y with nnz stored
// confidences, s = CG steps; a multiply-add counts as 2 flops):
//   Gram Y^T Y (symmetric, one triangle):      m * k * (k + 1)
//   per row, initial residual and each step:   2k^2 (Gram times a vector)
//                                              + 4k per stored entry
//                                                (y_i . v, then += w y_i)
//   per row, per step, vector updates:         ~10k (2 dots, 3 axpys)
//   half-step = m k (k+1) + (s+1) (2k^2 n + 4k nnz) + 10k s n
// With the standard data that is ~6.8 GFLOP per iteration. Only useful work
// is counted (e.g. no flops for a full instead of symmetric Gram), so GFLOP/s
// is a rate of the algorithm, not of the machine.
//
// Baseline (same data, same run, same threads): the exact solver, cg_steps = 0
// (per row, form Y^T Y + Y_u^T (C_u - I) Y_u and factor it with LDLT), timed
// over --baseline-iterations iterations from the same start.
// ratio = baseline seconds per iteration / CG seconds per iteration (the
// `implicit` reference figures give 2.0 s / 0.37 s = 5.4 on this machine class).
//
//   bench_als [--data PATH] [--threads N] [--iterations N] [--factors K]
//             [--cg-steps S] [--baseline-iterations N (0 = skip)]
// Ends with: RESULT seconds_per_iteration=... normalized_loss=... gflops=...
//            ratio=... threads=... baseline_seconds_per_iteration=...
//            loss_seconds_per_iteration=... (the per-iteration loss, timed apart)
#include "models/als.hpp"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <vector>

using namespace eddy::models;

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// The whole decompressed file, or false with a message on stderr.
bool read_gz(const std::string& path, std::string& out) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) {
    std::fprintf(stderr, "bench_als: cannot open %s\n", path.c_str());
    return false;
  }
  gzbuffer(f, 1 << 20);
  std::vector<char> buf(1 << 20);
  for (;;) {
    const int n = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (n < 0) {
      int err = 0;
      std::fprintf(stderr, "bench_als: %s: %s\n", path.c_str(), gzerror(f, &err));
      gzclose(f);
      return false;
    }
    if (n == 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  gzclose(f);
  return true;
}

/// One `user<TAB>item<TAB>count` line starting at p; p moves past its newline.
bool parse_line(const char*& p, const char* e, triple& t) {
  auto r1 = std::from_chars(p, e, t.row);
  if (r1.ec != std::errc{} || r1.ptr == e || *r1.ptr != '\t') return false;
  auto r2 = std::from_chars(r1.ptr + 1, e, t.col);
  if (r2.ec != std::errc{} || r2.ptr == e || *r2.ptr != '\t') return false;
  auto r3 = std::from_chars(r2.ptr + 1, e, t.value);
  if (r3.ec != std::errc{} || t.row < 0 || t.col < 0) return false;
  p = r3.ptr;
  while (p < e && (*p == '\r' || *p == '\n'))
    ++p;
  return true;
}

/// All lines -> triples with value = count; users/items = 1 + the largest ids.
bool parse_tsv(const std::string& data, std::vector<triple>& out,
               std::int32_t& users, std::int32_t& items) {
  const char* p = data.data();
  const char* e = p + data.size();
  while (p < e) {
    triple t;
    if (!parse_line(p, e, t)) {
      std::fprintf(stderr, "bench_als: bad line %zu\n", out.size() + 1);
      return false;
    }
    out.push_back(t);
    users = std::max(users, t.row + 1);
    items = std::max(items, t.col + 1);
  }
  return true;
}

/// FNV-1a over the factors' bytes: equal for equal results (threads, CPUs).
std::uint64_t fingerprint(const als_model& m) {
  std::uint64_t h = 1469598103934665603ULL;
  for (const factor_matrix* f : {&m.users, &m.items}) {
    const auto* b = reinterpret_cast<const unsigned char*>(f->data());
    for (std::size_t i = 0; i < static_cast<std::size_t>(f->size()) * sizeof(float); ++i)
      h = (h ^ b[i]) * 1099511628211ULL;
  }
  return h;
}

/// The flop model in the header comment, for one half-step.
double half_step_flops(double n, double m, double nnz, double k, double s) {
  return m * k * (k + 1) + (s + 1) * (2 * k * k * n + 4 * k * nnz) +
         10 * k * s * n;
}

} // namespace

int main(int argc, char** argv) {
  std::string path =
      std::string(EDDY_SOURCE_DIR) +
      "/../shared/data/als-bench/interactions-50k-20k.tsv.gz";
  als_params p; // the standard settings are the defaults, except threads
  p.factors = 64;
  p.reg = 0.01F;
  p.cg_steps = 3;
  p.iterations = 15;
  p.threads = 2;
  p.track_loss = true;
  int baseline_iterations = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--data")
      path = argv[i + 1];
    else if (a == "--threads")
      p.threads = std::stoi(argv[i + 1]);
    else if (a == "--iterations")
      p.iterations = std::stoi(argv[i + 1]);
    else if (a == "--factors")
      p.factors = std::stoi(argv[i + 1]);
    else if (a == "--cg-steps")
      p.cg_steps = std::stoi(argv[i + 1]);
    else if (a == "--baseline-iterations")
      baseline_iterations = std::stoi(argv[i + 1]);
    else {
      std::fprintf(stderr,
                   "usage: bench_als [--data PATH] [--threads N] [--iterations N] "
                   "[--factors K] [--cg-steps S] [--baseline-iterations N]\n");
      return 2;
    }
  }
  if (argc % 2 == 0 || p.threads < 1 || p.iterations < 1 || p.factors < 1 ||
      p.cg_steps < 1 || baseline_iterations < 0) {
    std::fprintf(stderr, "bench_als: bad arguments\n");
    return 2;
  }

  auto t0 = clock_type::now();
  std::string text;
  if (!read_gz(path, text)) return 1;
  std::vector<triple> entries;
  std::int32_t users = 0, items = 0;
  if (!parse_tsv(text, entries, users, items)) return 1;
  text = std::string{};
  const csr_matrix c =
      confidences(csr_matrix::from_triples(users, items, entries), 40.0F);
  entries = std::vector<triple>{};
  const double load_seconds = seconds_since(t0);
  std::printf("input: %s\n  %d users x %d items, %lld stored pairs, loaded in %.2f s\n",
              path.c_str(), users, items, static_cast<long long>(c.nnz()),
              load_seconds);
  std::printf("settings: confidence = 1 + 40 * count, %d factors, reg %.3g, CG %d steps, "
              "float32, %d threads, %d iterations\n",
              p.factors, static_cast<double>(p.reg), p.cg_steps, p.threads, p.iterations);

  const double k = p.factors;
  const double flops_per_iteration =
      half_step_flops(users, items, static_cast<double>(c.nnz()), k, p.cg_steps) +
      half_step_flops(items, users, static_cast<double>(c.nnz()), k, p.cg_steps);

  std::vector<double> secs;
  double loss_total = 0.0;
  auto model = fit(c, p, [&](const iteration_stats& st) {
    secs.push_back(st.solve_seconds);
    loss_total += st.loss_seconds;
    std::printf("  iteration %2d: %.3f s  loss %.6g  normalized %.5f  (loss eval %.2f s)\n",
                st.iteration, st.solve_seconds, st.loss->loss, st.loss->normalized,
                st.loss_seconds);
    std::fflush(stdout);
  });
  double total = 0.0;
  for (double s : secs)
    total += s;
  const double mean = total / static_cast<double>(secs.size());
  const double best = *std::min_element(secs.begin(), secs.end());
  const double normalized = model.losses.back().normalized;
  const double gflops = flops_per_iteration / mean / 1e9;
  std::printf("CG %d steps: mean %.3f s per iteration (best %.3f, total %.2f s); "
              "%.2f GFLOP per iteration -> %.1f GFLOP/s\n",
              p.cg_steps, mean, best, total, flops_per_iteration / 1e9, gflops);
  std::printf("final normalized loss %.5f (implicit 0.7.2 reference 0.02758)\n",
              normalized);
  std::printf("target <= 0.25 s per iteration (implicit 0.7.2 reference ~0.37 s)\n");
  std::printf("factors fingerprint %016llx (the same for any --threads)\n",
              static_cast<unsigned long long>(fingerprint(model)));

  double base = 0.0;
  if (baseline_iterations > 0) {
    als_params b = p;
    b.cg_steps = 0;
    b.iterations = baseline_iterations;
    b.track_loss = false;
    double base_total = 0.0;
    fit(c, b, [&](const iteration_stats& st) { base_total += st.solve_seconds; });
    base = base_total / baseline_iterations;
    std::printf("baseline, exact LDLT solver (cg_steps 0), %d iteration(s): %.3f s per "
                "iteration\nratio LDLT / CG: %.2f (implicit 0.7.2: 2.0 / 0.37 = 5.4)\n",
                baseline_iterations, base, base / mean);
  }
  const double loss_mean = loss_total / static_cast<double>(secs.size());
  std::printf("loss evaluation (not in the seconds above): mean %.3f s per iteration\n",
              loss_mean);
  std::printf("RESULT seconds_per_iteration=%.4f normalized_loss=%.5f gflops=%.2f "
              "ratio=%.2f threads=%d baseline_seconds_per_iteration=%.3f "
              "loss_seconds_per_iteration=%.4f\n",
              mean, normalized, gflops, base > 0.0 ? base / mean : 0.0, p.threads, base,
              loss_mean);
  return 0;
}

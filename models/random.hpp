#pragma once
// A small deterministic random number generator and the samplers eddy needs
// (synthetic data, ALS initialization, LSH projections).
//
// Why not <random>: the engines are portable, but every std:: distribution
// (uniform_real, poisson, normal, ...) is implementation-defined, so the same
// seed gives different data with libstdc++ and libc++. Why not <cmath>'s exp,
// log, sin either: libm implementations differ in the last bit, which moves a
// sample whenever a uniform lands next to a threshold. Everything below uses
// only integer arithmetic and IEEE-754 +, -, *, /, sqrt (all correctly
// rounded), so the same seed gives the same sequence on every machine.
// (Assumes round-to-nearest and no FMA contraction of a * b + c: GCC does not
// contract in ISO mode (-std=c++20, which eddy uses), and the .cpp files that
// compute samples turn Clang's default contraction off with a pragma.)

#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace eddy::models {

/// One step of splitmix64: advances `state` and returns a well-mixed 64-bit
/// value. Used to expand a seed into generator state.
std::uint64_t splitmix64(std::uint64_t& state);

/// exp, log and sin computed with basic IEEE arithmetic only (see above):
/// relative error ~1e-15, identical bits everywhere.
double portable_exp(double x);
/// Natural log; x <= 0 gives -infinity (x == 0) or NaN (x < 0).
double portable_log(double x);
double portable_sin(double x);
double portable_cos(double x);
/// ln(k!) (exact sums for small k, Stirling's series above).
double log_factorial(std::uint64_t k);

/// xoshiro256** (Blackman & Vigna), seeded through splitmix64.
/// Satisfies UniformRandomBitGenerator, but prefer the member samplers: std::
/// distributions fed by it are still not portable.
class rng {
 public:
  using result_type = std::uint64_t;

  /// Seeds the state from `seed`; `stream` selects an independent sequence for
  /// the same seed (e.g. one stream per purpose or per worker).
  explicit rng(std::uint64_t seed, std::uint64_t stream = 0);

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() {
    return std::numeric_limits<result_type>::max();
  }
  result_type operator()() { return next(); }

  /// The next 64 raw bits.
  std::uint64_t next();

  /// Uniform double in [0, 1) with 53 random bits.
  double uniform();
  /// Uniform double in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Uniform integer in [0, n); n == 0 returns 0. Unbiased (Lemire's method).
  std::uint64_t below(std::uint64_t n);
  /// true with probability p (p <= 0: never, p >= 1: always).
  bool bernoulli(double p);
  /// Poisson(mean): inversion for mean < 30, Hörmann's PTRS transformed
  /// rejection above (exact, O(1) expected). mean <= 0 gives 0.
  std::uint64_t poisson(double mean);
  /// Failures before the first success, success probability p in (0, 1].
  std::uint64_t geometric(double p);
  /// Exponential with the given rate (mean 1 / rate), rate > 0.
  double exponential(double rate);
  /// Standard normal (Marsaglia's polar method).
  double normal();
  double normal(double mean, double sd) { return mean + sd * normal(); }

  /// Fisher-Yates shuffle of [first, last) (portable, unlike std::shuffle).
  template <class RandomIt>
  void shuffle(RandomIt first, RandomIt last) {
    auto n = static_cast<std::uint64_t>(last - first);
    for (std::uint64_t i = n; i > 1; --i) {
      auto j = below(i);
      using std::swap;
      swap(first[i - 1], first[j]);
    }
  }

 private:
  std::uint64_t s_[4];
  bool has_spare_ = false; // normal() makes two values per draw
  double spare_ = 0.0;
};

/// Zipf(s, n) over ranks 0..n-1: P(rank r) proportional to 1 / (r + 1)^s.
/// Precomputed CDF + binary search: O(n) memory, O(log n) per sample.
class zipf_table {
 public:
  /// n >= 1, s >= 0 (s == 0 is uniform).
  zipf_table(double s, std::uint64_t n);

  std::uint64_t sample(rng& r) const;
  /// P(rank r); 0 outside [0, n).
  double probability(std::uint64_t rank) const;
  std::uint64_t size() const { return cdf_.size(); }
  double exponent() const { return s_; }

 private:
  double s_;
  std::vector<double> cdf_; // cdf_[r] = P(rank <= r); cdf_.back() == 1
};

} // namespace eddy::models

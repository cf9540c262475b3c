#include "models/random.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <tuple>

// Same bits on every machine: no fused multiply-add (models/random.hpp).
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

namespace eddy::models {

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double nan = std::numeric_limits<double>::quiet_NaN();

// ln 2 split in two (fdlibm): k * ln2_hi is exact for |k| < 2^11, so the
// Cody-Waite reduction x - k ln2 loses no bits.
constexpr double ln2_hi = 6.93147180369123816490e-01;
constexpr double ln2_lo = 1.90821492927058770002e-10;
constexpr double inv_ln2 = 1.44269504088896338700e+00;
// pi/2 split the same way (fdlibm's pio2_1 has 33 significant bits).
constexpr double pio2_1 = 1.57079632673412561417e+00;
constexpr double pio2_1t = 6.07710050650619224932e-11;
constexpr double two_over_pi = 6.36619772367581382433e-01;
constexpr double half_log_2pi = 9.18938533204672741780e-01;

std::uint64_t rotl(std::uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

// 64 x 64 -> 128-bit product as (high, low), without the non-standard __int128
// (the build uses -Wpedantic).
std::pair<std::uint64_t, std::uint64_t> mul_wide(std::uint64_t a,
                                                 std::uint64_t b) {
  const std::uint64_t a_lo = a & 0xFFFFFFFFULL;
  const std::uint64_t a_hi = a >> 32;
  const std::uint64_t b_lo = b & 0xFFFFFFFFULL;
  const std::uint64_t b_hi = b >> 32;
  const std::uint64_t ll = a_lo * b_lo;
  const std::uint64_t lh = a_lo * b_hi;
  const std::uint64_t hl = a_hi * b_lo;
  const std::uint64_t hh = a_hi * b_hi;
  const std::uint64_t mid =
      (ll >> 32) + (lh & 0xFFFFFFFFULL) + (hl & 0xFFFFFFFFULL);
  const std::uint64_t high = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
  const std::uint64_t low = (mid << 32) | (ll & 0xFFFFFFFFULL);
  return {high, low};
}

// Taylor series of sin and cos on |r| <= pi/4; 12 terms leave < 1e-25.
double sin_kernel(double r) {
  double w = r * r;
  double p = 1.0;
  for (int n = 23; n >= 3; n -= 2)
    p = 1.0 - p * w / (static_cast<double>(n) * (n - 1));
  return r * p;
}

double cos_kernel(double r) {
  double w = r * r;
  double p = 1.0;
  for (int n = 24; n >= 2; n -= 2)
    p = 1.0 - p * w / (static_cast<double>(n) * (n - 1));
  return p;
}

// sin (quadrant_shift 0) or cos (quadrant_shift 1) through one reduction.
double sin_cos(double x, int quadrant_shift) {
  if (std::isnan(x) || std::isinf(x)) return nan;
  double k = std::floor(x * two_over_pi + 0.5);
  double r = (x - k * pio2_1) - k * pio2_1t;
  // fmod is exact, so the quadrant is too (for |x| up to 2^52).
  auto q = static_cast<int>(std::fmod(k, 4.0));
  q = ((q % 4) + 4 + quadrant_shift) % 4;
  switch (q) {
  case 0:
    return sin_kernel(r);
  case 1:
    return cos_kernel(r);
  case 2:
    return -sin_kernel(r);
  default:
    return -cos_kernel(r);
  }
}

} // namespace

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double portable_exp(double x) {
  if (std::isnan(x)) return x;
  if (x > 709.782712893384) return inf;
  if (x < -745.1332191019412) return 0.0;
  double k = std::floor(x * inv_ln2 + 0.5);
  double r = (x - k * ln2_hi) - k * ln2_lo; // |r| <= 0.35
  // Horner form of the Taylor series: 1 + r(1 + r/2(1 + r/3(...))).
  double p = 1.0;
  for (int n = 18; n >= 1; --n)
    p = 1.0 + p * r / n;
  return std::ldexp(p, static_cast<int>(k)); // exact scaling by 2^k
}

double portable_log(double x) {
  if (std::isnan(x) || x < 0.0) return nan;
  if (x == 0.0) return -inf;
  if (std::isinf(x)) return inf;
  int e = 0;
  double m = std::frexp(x, &e); // exact: x = m 2^e, m in [0.5, 1)
  if (m < 0.70710678118654752440) {
    m *= 2.0;
    --e;
  }
  // log m = 2 atanh(z), z = (m - 1) / (m + 1), |z| <= 0.172.
  double z = (m - 1.0) / (m + 1.0);
  double w = z * z;
  double s = 0.0;
  for (int n = 25; n >= 3; n -= 2)
    s = (s + 1.0 / n) * w;
  double log_m = 2.0 * z + 2.0 * z * s;
  return e * ln2_hi + (log_m + e * ln2_lo);
}

double portable_sin(double x) {
  return sin_cos(x, 0);
}
double portable_cos(double x) {
  return sin_cos(x, 1);
}

double log_factorial(std::uint64_t k) {
  static const std::array<double, 32> small = [] {
    std::array<double, 32> t{};
    for (std::size_t i = 2; i < t.size(); ++i)
      t[i] = t[i - 1] + portable_log(static_cast<double>(i));
    return t;
  }();
  if (k < small.size()) return small[k];
  // Stirling's series for ln Gamma(x), x = k + 1 >= 33: the next term is
  // below 1e-16.
  double x = static_cast<double>(k) + 1.0;
  double inv = 1.0 / x;
  double inv2 = inv * inv;
  double series =
      inv * (1.0 / 12 - inv2 * (1.0 / 360 - inv2 * (1.0 / 1260 - inv2 / 1680)));
  return (x - 0.5) * portable_log(x) - x + half_log_2pi + series;
}

// -- rng ----------------------------------------------------------------------

rng::rng(std::uint64_t seed, std::uint64_t stream) {
  // The stream is hashed (not added) into the seed, so (seed, stream + 1)
  // is not the splitmix sequence of (seed, stream) shifted by one step.
  std::uint64_t t = stream;
  std::uint64_t sm = seed ^ splitmix64(t);
  for (auto& s : s_)
    s = splitmix64(sm);
  if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) // the one state xoshiro can't leave
    s_[0] = 1;
}

std::uint64_t rng::next() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double rng::uniform() {
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

std::uint64_t rng::below(std::uint64_t n) {
  if (n == 0) return 0;
  // Lemire, "Fast random integer generation in an interval" (2019).
  auto [high, low] = mul_wide(next(), n);
  if (low < n) {
    const std::uint64_t threshold = (0 - n) % n;
    while (low < threshold)
      std::tie(high, low) = mul_wide(next(), n);
  }
  return high;
}

bool rng::bernoulli(double p) {
  if (!(p > 0.0)) return false;
  if (p >= 1.0) return true;
  return uniform() < p;
}

std::uint64_t rng::poisson(double mean) {
  if (!(mean > 0.0)) return 0;
  if (mean < 30.0) {
    // Inversion by sequential search: ~mean + 1 steps.
    double p = portable_exp(-mean);
    double cdf = p;
    double u = uniform();
    std::uint64_t k = 0;
    while (u > cdf) {
      ++k;
      p *= mean / static_cast<double>(k);
      cdf += p;
      // Rounding can leave cdf a hair below u near 1: stop once the terms
      // vanish (far into the tail, where probabilities are < 1e-300).
      if (p < 1e-300 && static_cast<double>(k) > mean) break;
    }
    return k;
  }
  // PTRS: W. Hörmann, "The transformed rejection method for generating Poisson
  // random variables", Insurance: Mathematics and Economics 12 (1993).
  const double slam = std::sqrt(mean);
  const double loglam = portable_log(mean);
  const double b = 0.931 + 2.53 * slam;
  const double a = -0.059 + 0.02483 * b;
  const double log_invalpha = portable_log(1.1239 + 1.1328 / (b - 3.4));
  const double vr = 0.9277 - 3.6224 / (b - 2.0);
  for (;;) {
    double u = uniform() - 0.5;
    double v = uniform();
    double us = 0.5 - std::fabs(u);
    if (us <= 0.0) continue;
    double kd = std::floor((2.0 * a / us + b) * u + mean + 0.43);
    if (kd < 0.0 || kd > 9.0e18) continue;
    if (us >= 0.07 && v <= vr) return static_cast<std::uint64_t>(kd);
    if (us < 0.013 && v > us) continue;
    auto k = static_cast<std::uint64_t>(kd);
    if (portable_log(v) + log_invalpha - portable_log(a / (us * us) + b) <=
        -mean + kd * loglam - log_factorial(k))
      return k;
  }
}

std::uint64_t rng::geometric(double p) {
  if (p >= 1.0) return 0;
  const double log_q = portable_log(1.0 - p);
  if (!(p > 0.0) || !(log_q < 0.0)) // p too small to ever succeed in doubles
    return std::numeric_limits<std::uint64_t>::max();
  const double u = 1.0 - uniform(); // (0, 1]
  const double k = std::floor(portable_log(u) / log_q);
  if (!(k < 9.0e18)) return std::numeric_limits<std::uint64_t>::max();
  return static_cast<std::uint64_t>(k);
}

double rng::exponential(double rate) {
  return -portable_log(1.0 - uniform()) / rate;
}

double rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u = 0.0;
  double v = 0.0;
  double s = 0.0;
  do {
    u = 2.0 * uniform() - 1.0;
    v = 2.0 * uniform() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  const double f = std::sqrt(-2.0 * portable_log(s) / s);
  spare_ = v * f;
  has_spare_ = true;
  return u * f;
}

// -- zipf_table ---------------------------------------------------------------

zipf_table::zipf_table(double s, std::uint64_t n) : s_(s) {
  if (n == 0) n = 1;
  cdf_.resize(n);
  double total = 0.0;
  for (std::uint64_t r = 0; r < n; ++r) {
    total += portable_exp(-s * portable_log(static_cast<double>(r + 1)));
    cdf_[r] = total;
  }
  for (auto& c : cdf_)
    c /= total;
  cdf_.back() = 1.0; // so u < 1 always finds a rank
}

std::uint64_t zipf_table::sample(rng& r) const {
  const double u = r.uniform();
  // First rank whose cdf exceeds u.
  auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
  if (it == cdf_.end()) --it;
  return static_cast<std::uint64_t>(it - cdf_.begin());
}

double zipf_table::probability(std::uint64_t rank) const {
  if (rank >= cdf_.size()) return 0.0;
  return rank == 0 ? cdf_[0] : cdf_[rank] - cdf_[rank - 1];
}

} // namespace eddy::models

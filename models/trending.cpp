#include "models/trending.hpp"

#include "models/assert.hpp"
#include "models/random.hpp" // portable_exp: same decay bits on every machine

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

// Same bits on every machine: no fused multiply-add (models/random.hpp).
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

namespace eddy::models {

namespace {

constexpr std::int64_t day_ms = 86'400'000;
constexpr double ln2 = 6.93147180559945309417e-01;

bool unit(double x) {
  return x > 0.0 && x <= 1.0;
}

std::string bad(const char* key, const char* why) {
  return std::string{key} + ": " + why;
}

// Buckets a bucket can be open for: ceil(lateness / bucket) + 1.
std::int64_t open_span(const trending_params& p) {
  return (p.lateness_ms + p.bucket_ms - 1) / p.bucket_ms + 1;
}

// glibc malloc: a request of n bytes takes a chunk of max(32, n + 8 rounded up to 16).
std::size_t chunk(std::size_t n) {
  return n == 0 ? 0 : std::max<std::size_t>(32, (n + 8 + 15) & ~std::size_t{15});
}

std::uint64_t fbits(float x) {
  return std::bit_cast<std::uint32_t>(x);
}
std::uint64_t dbits(double x) {
  return std::bit_cast<std::uint64_t>(x);
}

// a * b + c (b > 0), clamped to the range of int64.
std::int64_t mul_add_clamped(std::int64_t a, std::int64_t b, std::int64_t c) {
  constexpr auto lo = std::numeric_limits<std::int64_t>::min();
  constexpr auto hi = std::numeric_limits<std::int64_t>::max();
  std::int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return a < 0 ? lo : hi;
  if (__builtin_add_overflow(r, c, &r)) return c < 0 ? lo : hi;
  return r;
}

std::uint64_t mix64(std::uint64_t x) { // murmur3 fmix64
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Forecaster values in double while they are stepped; Seas is the season
// profile's storage (double in holt_state, float in the packed form).
template <class Seas>
struct holt_work {
  bool ready = false;
  double level = 0.0, trend = 0.0, variance = 0.0;
  std::uint32_t idle = 0;
  std::uint64_t steps = 0;
  Seas* season = nullptr; // season_slots entries when p.season, else null
};

// One bucket with count y through the Holt recursion, the season slot and the
// robust clip included. y may be 0: this is also how empty buckets are
// stepped one at a time. Bookkeeping (idle, reset) is the caller's.
template <class Seas>
[[gnu::always_inline]] inline void holt_update(holt_work<Seas>& w, const trending_params& p,
                                               std::int64_t bucket, double y) {
  Seas* slot = w.season != nullptr ? w.season + season_slot(p, bucket) : nullptr;
  const double seas = slot != nullptr ? static_cast<double>(*slot) : 0.0;
  const double f = w.level + w.trend + seas;
  double e = y - f;
  if (p.robust_clip > 0.0) {
    // Robust Holt (Gelper, Fried & Croux 2010): a residual beyond robust_clip
    // spreads updates the forecaster as if it were that large, so a surge does not
    // teach the forecast (and the spread) its own height within a few buckets.
    // spread^2 = max(variance, f, poisson_floor); the square root only when clipping.
    const double spread2 = std::max(w.variance, std::max(f, p.poisson_floor));
    if (e * e > p.robust_clip * p.robust_clip * spread2) {
      const double lim = p.robust_clip * std::sqrt(spread2);
      e = std::clamp(e, -lim, lim);
    }
  }
  const double yc = f + e; // the observation as the forecaster learns it
  w.variance = (1.0 - p.variance_alpha) * w.variance + p.variance_alpha * (e * e);
  const double next = p.alpha * (yc - seas) + (1.0 - p.alpha) * (w.level + w.trend);
  w.trend = p.beta * (next - w.level) + (1.0 - p.beta) * w.trend;
  if (slot != nullptr) *slot = static_cast<Seas>(p.gamma * (yc - next) + (1.0 - p.gamma) * seas);
  w.level = next;
}

// Could an unclipped run of k empty buckets from x = (l, t) clip one of them?
// Clipping needs e^2 = f^2 > clip^2 * max(variance, f, floor), so f above
// max(clip^2, clip * sqrt(floor)) or below -clip * sqrt(floor). A bound on |f_j|
// answers most runs; the forecasts themselves the rest.
double clip_low(const trending_params& p) {
  return p.robust_clip * std::sqrt(p.poisson_floor);
}
double clip_high(const trending_params& p) {
  return std::max(p.robust_clip * p.robust_clip, clip_low(p));
}

// The same with the bounds given (robust_clip > 0).
bool run_may_clip(double low, double high, std::span<const empty_run> runs, std::uint32_t k,
                  double l, double t) {
  const empty_run& r = runs[k];
  if (r.fl_max * std::abs(l) + r.ft_max * std::abs(t) <= low) return false;
  for (std::uint32_t j = 0; j < k; ++j) {
    const double f = runs[j].fl * l + runs[j].ft * t;
    if (f > high || f < -low) return true;
  }
  return false;
}

bool run_may_clip(const trending_params& p, std::span<const empty_run> runs, std::uint32_t k,
                  double l, double t) {
  return p.robust_clip > 0.0 && run_may_clip(clip_low(p), clip_high(p), runs, k, l, t);
}

// Applies w's pending empty buckets [bucket - idle, bucket) to its values
// (not to idle or steps). `runs` has at least idle + 1 entries when the closed
// form applies (no season, idle <= max_closed_run).
template <class Seas>
[[gnu::always_inline]] inline void apply_pending(holt_work<Seas>& w, const trending_params& p,
                                                 std::span<const empty_run> runs,
                                                 std::int64_t bucket) {
  const std::uint32_t k = w.idle;
  if (k == 0 || !w.ready) return;
  if (w.season == nullptr && k < runs.size() && !run_may_clip(p, runs, k, w.level, w.trend)) {
    const empty_run& r = runs[k];
    const double l = w.level, t = w.trend;
    w.variance = r.g * w.variance + (r.vll * l * l + r.vlt * l * t + r.vtt * t * t);
    w.level = r.ll * l + r.lt * t;
    w.trend = r.tl * l + r.tt * t;
    return;
  }
  for (std::int64_t b = bucket - k; b < bucket; ++b)
    holt_update(w, p, b, 0.0);
}

// The runs a pending count of k needs: the caller's table, or one built here.
template <class F>
void with_runs(const trending_params& p, std::span<const empty_run> runs, std::uint32_t k, F&& f) {
  if (k == 0 || p.season || k >= max_closed_run || k < runs.size()) return f(runs);
  const auto built = empty_runs(p, k + 1);
  f(std::span<const empty_run>{built});
}

// Folds bucket b with count y: an empty bucket is counted (and the
// horizon_buckets-th one resets), a non-empty one applies the pending empty
// buckets and then steps.
template <class Seas>
[[gnu::always_inline]] inline void step_core(holt_work<Seas>& w, const trending_params& p,
                                             std::span<const empty_run> runs, std::int64_t bucket,
                                             double y) {
  if (!w.ready) {
    if (y == 0.0) return; // no history yet: empty buckets teach nothing
    const double seas =
        w.season != nullptr ? static_cast<double>(w.season[season_slot(p, bucket)]) : 0.0;
    w.ready = true;
    w.level = y - seas;
    w.trend = 0.0;
    w.variance = 0.0;
    w.idle = 0;
    w.steps = 1;
    return;
  }
  if (y == 0.0) {
    if (++w.idle < p.horizon_buckets) return;
    // Idle for the whole horizon: forget. The season profile learns from
    // every step up to the reset.
    if (w.season != nullptr) apply_pending(w, p, runs, bucket + 1);
    w = holt_work<Seas>{false, 0.0, 0.0, 0.0, 0, 0, w.season};
    return;
  }
  apply_pending(w, p, runs, bucket);
  w.steps += w.idle + 1;
  w.idle = 0;
  holt_update(w, p, bucket, y);
}

// k empty buckets first, first + 1, ...: k step_core(.., 0) calls in O(1)
// (with the season, a run that reaches the reset steps up to it).
template <class Seas>
void skip_core(holt_work<Seas>& w, const trending_params& p, std::int64_t first, std::int64_t k) {
  if (k <= 0 || !w.ready) return;
  const std::int64_t h = p.horizon_buckets;
  if (static_cast<std::int64_t>(w.idle) + k < h) {
    w.idle += static_cast<std::uint32_t>(k);
    return;
  }
  const std::int64_t reset_at = first - w.idle + h - 1; // the run's last step
  w.idle = static_cast<std::uint32_t>(h - 1);
  step_core(w, p, {}, reset_at, 0.0);
}

// Ring cells are half a byte, 1, 2 or 4 bytes wide (hdr::width 0, 1, 2, 4),
// widened when a count outgrows them. Half-byte cells: slot s is the low (s
// even) or high (s odd) half of byte s / 2.
std::size_t ring_bytes(std::size_t slots, unsigned width) {
  return width == 0 ? (slots + 1) / 2 : slots * width;
}

unsigned wider(unsigned width) {
  return width == 0 ? 1 : 2 * width;
}

template <unsigned W>
std::uint32_t load_cell_of(const std::byte* ring, std::size_t slot) {
  if constexpr (W == 1) {
    return static_cast<std::uint32_t>(ring[slot]);
  } else {
    std::conditional_t<W == 2, std::uint16_t, std::uint32_t> v;
    std::memcpy(&v, ring + W * slot, W);
    return v;
  }
}

std::uint32_t load_cell(const std::byte* ring, unsigned width, std::size_t slot) {
  switch (width) {
  case 0:
    return static_cast<std::uint32_t>(ring[slot >> 1]) >> (4 * (slot & 1)) & 0xF;
  case 1:
    return load_cell_of<1>(ring, slot);
  case 2:
    return load_cell_of<2>(ring, slot);
  default:
    return load_cell_of<4>(ring, slot);
  }
}

void store_cell(std::byte* ring, unsigned width, std::size_t slot, std::uint32_t v) {
  switch (width) {
  case 0: {
    const unsigned shift = 4 * (slot & 1);
    const auto keep = static_cast<unsigned>(ring[slot >> 1]) & ~(0xFu << shift);
    ring[slot >> 1] = static_cast<std::byte>(keep | (v & 0xF) << shift);
    break;
  }
  case 1:
    ring[slot] = static_cast<std::byte>(v);
    break;
  case 2: {
    const auto x = static_cast<std::uint16_t>(v);
    std::memcpy(ring + 2 * slot, &x, 2);
    break;
  }
  default:
    std::memcpy(ring + 4 * slot, &v, 4);
    break;
  }
}

// Bits [a, a + len) of a bit array (len <= 64, a + len within the array), bit
// a lowest.
std::uint64_t get_bits(const std::uint64_t* words, std::size_t a, std::size_t len) {
  const std::size_t w = a >> 6, o = a & 63;
  std::uint64_t x = words[w] >> o;
  if (o != 0 && o + len > 64) x |= words[w + 1] << (64 - o);
  return len == 64 ? x : x & ((std::uint64_t{1} << len) - 1);
}

// Bits of the ring slots first_slot, first_slot + 1, ... (len <= 64 of them,
// wrapping at the ring's end `horizon`), the first lowest.
std::uint64_t ring_bits(const std::uint64_t* words, std::size_t first_slot, std::size_t len,
                        std::size_t horizon) {
  const std::size_t head = std::min(len, horizon - first_slot);
  std::uint64_t x = get_bits(words, first_slot, head);
  if (head < len) x |= get_bits(words, 0, len - head) << head;
  return x;
}

// The same for a ring of at most 64 slots, whose bits are one word: the
// window of slots first_slot, first_slot + 1, ... (len of them, wrapping at
// `horizon`), the first lowest; and that window's mask within the word.
std::uint64_t low_bits(std::size_t n) {
  return n >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;
}
std::uint64_t word_window(std::uint64_t word, std::size_t first_slot, std::size_t len,
                          std::size_t horizon) {
  std::uint64_t x = word >> first_slot;
  if (first_slot != 0) x |= word << (horizon - first_slot);
  return x & low_bits(len);
}
std::uint64_t word_mask(std::size_t first_slot, std::size_t len, std::size_t horizon) {
  const std::uint64_t m = low_bits(len);
  std::uint64_t x = m << first_slot;
  if (first_slot != 0) x |= m >> (horizon - first_slot);
  return x;
}

// Clears bits [a, a + len) of a bit array.
void clear_bits(std::uint64_t* words, std::size_t a, std::size_t len) {
  while (len != 0) {
    const std::size_t o = a & 63, n = std::min(len, 64 - o);
    const std::uint64_t mask = n == 64 ? ~std::uint64_t{0} : ((std::uint64_t{1} << n) - 1) << o;
    words[a >> 6] &= ~mask;
    a += n;
    len -= n;
  }
}

} // namespace

std::string validate(const trending_params& p) {
  if (p.bucket_ms <= 0) return bad("bucket_ms", "must be > 0");
  if (p.lateness_ms < 0) return bad("lateness_ms", "must be >= 0");
  if (p.horizon_buckets < 1 || p.horizon_buckets > 1'000'000)
    return bad("horizon_buckets", "must be in [1, 1000000]");
  if (open_span(p) + 1 > static_cast<std::int64_t>(p.horizon_buckets))
    return bad("horizon_buckets", "must exceed lateness_ms / bucket_ms + 2");
  if (!unit(p.alpha)) return bad("alpha", "must be in (0, 1]");
  if (!unit(p.beta)) return bad("beta", "must be in (0, 1]");
  if (!unit(p.variance_alpha)) return bad("variance_alpha", "must be in (0, 1]");
  if (p.season) {
    if (!unit(p.gamma)) return bad("gamma", "must be in (0, 1]");
    if (day_ms % p.bucket_ms != 0) return bad("bucket_ms", "must divide a day when season is on");
    if (p.season_slots < 1 || (day_ms / p.bucket_ms) % p.season_slots != 0)
      return bad("season_slots", "must divide the buckets per day");
  }
  if (!(p.min_support >= 0.0) || !std::isfinite(p.min_support))
    return bad("min_support", "must be finite and >= 0");
  if (!(p.robust_clip >= 0.0) || !std::isfinite(p.robust_clip))
    return bad("robust_clip", "must be finite and >= 0 (0 = off)");
  if (!(p.poisson_floor > 0.0) || !std::isfinite(p.poisson_floor))
    return bad("poisson_floor", "must be finite and > 0");
  if (p.popularity_window_buckets < 1 || p.popularity_window_buckets > p.horizon_buckets)
    return bad("popularity_window_buckets", "must be in [1, horizon_buckets]");
  if (p.half_life_ms <= 0) return bad("half_life_ms", "must be > 0");
  if (p.type_weights.empty() || p.type_weights.size() > 256)
    return bad("type_weights", "must have 1 to 256 entries");
  for (double w : p.type_weights)
    if (!(w >= 0.0) || !std::isfinite(w))
      return bad("type_weights", "weights must be finite and >= 0");
  return {};
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// --- Holt ------------------------------------------------------------------

holt_state make_holt(const trending_params& p) {
  holt_state s;
  if (p.season) s.season.assign(p.season_slots, 0.0);
  return s;
}

std::vector<empty_run> empty_runs(const trending_params& p, std::size_t n) {
  std::vector<empty_run> out;
  out.reserve(n);
  empty_run r; // k = 0: the identity, no variance added, f_0 = l + t
  const double a = p.alpha, b = p.beta, va = p.variance_alpha, g = 1.0 - va;
  while (out.size() < n) {
    out.push_back(r);
    empty_run next;
    next.ll = (1.0 - a) * (r.ll + r.tl);
    next.lt = (1.0 - a) * (r.lt + r.tt);
    next.tl = -a * b * r.ll + (1.0 - a * b) * r.tl;
    next.tt = -a * b * r.lt + (1.0 - a * b) * r.tt;
    next.g = g * r.g;
    next.vll = g * r.vll + va * (r.fl * r.fl);
    next.vlt = g * r.vlt + va * (2.0 * r.fl * r.ft);
    next.vtt = g * r.vtt + va * (r.ft * r.ft);
    next.fl = next.ll + next.tl;
    next.ft = next.lt + next.tt;
    next.fl_max = std::max(r.fl_max, std::abs(r.fl));
    next.ft_max = std::max(r.ft_max, std::abs(r.ft));
    r = next;
  }
  return out;
}

std::uint32_t season_slot(const trending_params& p, std::int64_t bucket) {
  if (!p.season) return 0;
  const std::int64_t per_day = day_ms / p.bucket_ms;
  const std::int64_t in_day = bucket - floor_div(bucket, per_day) * per_day;
  return static_cast<std::uint32_t>(in_day / (per_day / p.season_slots));
}

namespace {

holt_work<double> work_of(holt_state& s) {
  return {s.ready, s.level, s.trend, s.variance, s.idle, s.steps,
          s.season.empty() ? nullptr : s.season.data()};
}

void store(holt_state& s, const holt_work<double>& w) {
  s.ready = w.ready;
  s.level = w.level;
  s.trend = w.trend;
  s.variance = w.variance;
  s.idle = w.idle;
  s.steps = w.steps;
}

holt_work<float> work_of(const holt_packed& s, float* season) {
  return {s.ready != 0, s.level, s.trend, s.variance, s.idle, 0, season};
}

void store(holt_packed& s, const holt_work<float>& w) {
  s.ready = w.ready ? 1u : 0u;
  s.level = static_cast<float>(w.level);
  s.trend = static_cast<float>(w.trend);
  s.variance = static_cast<float>(w.variance);
  s.idle = w.idle;
}

// w's values as of bucket b (w is a copy: its season, if any, is scratch).
template <class Seas>
holt_values current(holt_work<Seas> w, const trending_params& p, std::span<const empty_run> runs,
                    std::int64_t bucket) {
  with_runs(p, runs, w.idle, [&](std::span<const empty_run> r) { apply_pending(w, p, r, bucket); });
  holt_values v;
  v.ready = w.ready;
  v.level = w.level;
  v.trend = w.trend;
  v.variance = w.variance;
  if (w.season != nullptr) v.seasonal = static_cast<double>(w.season[season_slot(p, bucket)]);
  return v;
}

} // namespace

holt_values holt_current(const holt_state& s, const trending_params& p, std::int64_t bucket) {
  holt_state copy = s; // the season profile steps in the copy
  return current(work_of(copy), p, {}, bucket);
}

holt_values holt_current(const holt_packed& s, const float* season, const trending_params& p,
                         std::int64_t bucket, std::span<const empty_run> runs) {
  std::vector<float> seas;
  if (p.season) seas.assign(season, season + p.season_slots);
  return current(work_of(s, p.season ? seas.data() : nullptr), p, runs, bucket);
}

double holt_forecast(const holt_state& s, const trending_params& p, std::int64_t bucket) {
  return holt_current(s, p, bucket).forecast();
}

double holt_spread(const holt_values& v, const trending_params& p) {
  return std::max(std::sqrt(v.variance), std::sqrt(std::max(v.forecast(), p.poisson_floor)));
}

double trending_score(double y, double forecast, double spread, const trending_params& p) {
  if (y < p.min_support) return 0.0;
  return (y - std::max(forecast, 0.0)) / spread;
}

void holt_step(holt_state& s, const trending_params& p, std::int64_t bucket, double y) {
  auto w = work_of(s);
  with_runs(p, {}, y == 0.0 ? 0 : w.idle,
            [&](std::span<const empty_run> r) { step_core(w, p, r, bucket, y); });
  store(s, w);
}

void holt_catch_up(holt_state& s, const trending_params& p, std::int64_t first,
                   std::int64_t k) {
  auto w = work_of(s);
  skip_core(w, p, first, k);
  store(s, w);
}

void holt_step(holt_packed& s, float* season, const trending_params& p, std::int64_t bucket,
               double y, std::span<const empty_run> runs) {
  if (!s.ready && y == 0.0) return;
  if (y == 0.0 && s.idle + 1u < p.horizon_buckets) { // the common empty bucket
    ++s.idle;
    return;
  }
  auto w = work_of(s, p.season ? season : nullptr);
  with_runs(p, runs, y == 0.0 ? 0 : w.idle,
            [&](std::span<const empty_run> r) { step_core(w, p, r, bucket, y); });
  store(s, w);
}

void holt_catch_up(holt_packed& s, float* season, const trending_params& p, std::int64_t first,
                   std::int64_t k) {
  if (k <= 0 || !s.ready) return;
  if (s.idle + static_cast<std::uint64_t>(k) < p.horizon_buckets) { // pending, nothing to round
    s.idle += static_cast<std::uint32_t>(k);
    return;
  }
  auto w = work_of(s, p.season ? season : nullptr);
  skip_core(w, p, first, k);
  store(s, w);
}

// --- trend_model ---------------------------------------------------------------

trend_model::trend_model(trending_params p) : p_(std::move(p)) {
  if (auto why = validate(p_); !why.empty()) {
    std::fprintf(stderr, "trending: invalid params: %s\n", why.c_str());
    std::abort();
  }
  const std::int64_t h = p_.horizon_buckets;
  if ((h & (h - 1)) == 0) mask_ = h - 1;
  decay_.resize(static_cast<std::size_t>(4 * h + 1)); // a slide: its pending and leaving buckets
  for (std::size_t k = 0; k < decay_.size(); ++k)
    decay_[k] = decay_ms(static_cast<std::int64_t>(k) * p_.bucket_ms);
  runs_ = empty_runs(p_, std::min<std::size_t>(p_.horizon_buckets, max_closed_run));
  if (p_.robust_clip > 0.0) {
    clip_low_ = models::clip_low(p_);
    clip_high_ = models::clip_high(p_);
  }
}

double trend_model::decay_ms(std::int64_t ms) const {
  return portable_exp(-ln2 * static_cast<double>(ms) / static_cast<double>(p_.half_life_ms));
}

double trend_model::bucket_decay(std::int64_t k) const {
  if (k >= 0 && k < static_cast<std::int64_t>(decay_.size()))
    return decay_[static_cast<std::size_t>(k)];
  return decay_ms(k * p_.bucket_ms);
}

std::size_t trend_model::heap_bytes() const {
  return chunk(p_.type_weights.capacity() * sizeof(double)) +
         chunk(decay_.capacity() * sizeof(double)) + chunk(runs_.capacity() * sizeof(empty_run));
}

// --- item_trend --------------------------------------------------------------
//
// The block: [top][hdr x n][occupancy: one bit per ring slot, in 64-bit words]
// [season: (1 + n) x season_slots floats, overall first, when p.season][ring of
// each series: ring_bytes(horizon, width)]. Ring slot of bucket b is m.slot(b); the
// ring holds buckets (newest - H, newest] and every other slot is zero. A
// slot's occupancy bit is set when any series has a count there, so a slide
// visits only the buckets with events. Lagging forecasters and decayed totals
// cover the buckets below base = newest - H + 1, the last top::pending of them
// empty and not applied yet.

struct item_trend::hdr {
  double decayed = 0.0;             // total of the folded buckets decayed to base - pending
  holt_packed holt;                 // lagging forecaster of the raw counts
  std::uint64_t ring_off : 30 = 0;  // byte offset of the ring in the block (< 1 GiB)
  std::uint64_t type : 8 = 0;
  std::uint64_t width : 3 = 0;      // bytes per count: 0 (half a byte), 1, 2 or 4
};
static_assert(sizeof(holt_packed) == 16);

struct item_trend::work {
  holt_packed h;
  float* season = nullptr;
  std::span<const empty_run> runs; // every run h can have pending

  bool ready() const { return h.ready != 0; }
  void step(const trending_params& p, std::int64_t bucket, double y) {
    if (y == 0.0) return skip(p, bucket, 1);
    // holt_step(h, season, p, bucket, y, runs) without its checks: runs covers h.idle.
    auto w = work_of(h, season);
    step_core(w, p, runs, bucket, y);
    store(h, w);
  }
  // z empty buckets first, first + 1, ...
  void skip(const trending_params& p, std::int64_t first, std::int64_t z) {
    if (z <= 0 || h.ready == 0) return;
    if (h.idle + static_cast<std::uint64_t>(z) < p.horizon_buckets) {
      h.idle += static_cast<std::uint32_t>(z);
      return;
    }
    holt_catch_up(h, season, p, first, z);
  }
  holt_values current(const trending_params& p, std::int64_t bucket) const {
    return holt_current(h, season, p, bucket, runs);
  }
};

struct item_trend::top {
  std::int64_t newest = none; // ring holds (newest - H, newest]
  holt_packed overall;        // lagging forecaster of the weighted series
  std::uint32_t bytes = 0;    // size of the block
  std::uint16_t n = 0;        // type series (<= 256)
  // Empty buckets [base - pending, base) not yet applied to any forecaster or
  // decayed total of the item: slides that fold nothing only count them, and
  // the next slide that folds (or a reader, see load) applies them first.
  std::uint16_t pending = 0;
};

item_trend::item_trend(const item_trend& o) {
  if (o.data_ == 0) return;
  const std::size_t bytes = o.head().bytes;
  auto* b = new std::byte[bytes];
  std::memcpy(b, o.block(), bytes);
  set_block(b, bytes);
}

item_trend& item_trend::operator=(const item_trend& o) {
  if (this != &o) {
    item_trend copy{o};
    *this = std::move(copy);
  }
  return *this;
}

void item_trend::set_block(std::byte* b, std::size_t bytes) {
  const auto a = reinterpret_cast<std::uintptr_t>(b);
  EDDY_ASSERT((a & tag_mask) == 0); // operator new[] aligns to 16
  const std::size_t lines = ((a & 63) + bytes + 63) / 64;
  data_ = a | (std::min(lines, prefetch_lines) - 1);
}

item_trend::top& item_trend::head() const {
  static_assert(sizeof(top) == 32 && alignof(top) <= 16);
  return *std::launder(reinterpret_cast<top*>(block()));
}

item_trend::hdr* item_trend::hdrs() const {
  return reinterpret_cast<hdr*>(block() + sizeof(top));
}

std::byte* item_trend::ring(const hdr& h) const {
  return block() + h.ring_off;
}

std::uint64_t* item_trend::occupancy() const {
  return reinterpret_cast<std::uint64_t*>(block() + sizeof(top) + head().n * sizeof(hdr));
}

float* item_trend::season_of(const trend_model& m, int s) const {
  if (!m.params().season) return nullptr;
  auto* base = reinterpret_cast<float*>(block() + sizeof(top) + head().n * sizeof(hdr) +
                                        occupancy_words(m.params()) * sizeof(std::uint64_t));
  return base + static_cast<std::size_t>(s + 1) * m.params().season_slots;
}

std::int64_t item_trend::newest() const {
  return data_ == 0 ? none : head().newest;
}

std::size_t item_trend::types() const {
  return data_ == 0 ? 0 : head().n;
}

std::int64_t item_trend::base(const trend_model& m) const {
  const std::int64_t newest = this->newest();
  return newest == none ? none : newest - m.params().horizon_buckets + 1;
}

std::uint8_t item_trend::type_of(std::size_t i) const {
  return hdrs()[i].type;
}

std::optional<int> item_trend::series_of(std::uint8_t type) const {
  const std::size_t n = types();
  for (std::size_t i = 0; i < n; ++i)
    if (hdrs()[i].type == type) return static_cast<int>(i);
  return std::nullopt;
}

std::uint32_t item_trend::ring_count(const trend_model& m, const hdr& h,
                                     std::int64_t bucket) const {
  const std::int64_t newest = head().newest;
  if (newest == none || bucket > newest || bucket <= newest - m.params().horizon_buckets)
    return 0;
  return load_cell(ring(h), h.width, m.slot(bucket));
}

// New layout: the same series (series `widen` one step wider) plus, when
// insert_type >= 0, a fresh series of that type in type order.
void item_trend::rebuild(const trend_model& m, int insert_type, int widen) {
  const auto& p = m.params();
  const std::size_t h = p.horizon_buckets;
  const std::size_t slots = p.season ? p.season_slots : 0;
  const std::size_t n_old = types();
  const std::size_t n = n_old + (insert_type >= 0 ? 1u : 0u);
  const hdr* old = data_ != 0 ? hdrs() : nullptr;
  // Old index of each new series (-1: the inserted one, kept in type order).
  std::size_t pos = n_old;
  if (insert_type >= 0)
    for (std::size_t i = 0; i < n_old; ++i)
      if (old[i].type > insert_type) {
        pos = i;
        break;
      }
  auto from = [&](std::size_t i) -> int {
    if (insert_type < 0 || i < pos) return static_cast<int>(i);
    return i == pos ? -1 : static_cast<int>(i - 1);
  };
  // Sizes first, then the block, written in place (no temporaries: a new
  // series is the first event of an (item, type), a few percent of adds).
  const std::size_t occ_bytes = occupancy_words(p) * sizeof(std::uint64_t);
  const std::size_t hdrs_at = sizeof(top), occ_at = hdrs_at + n * sizeof(hdr);
  const std::size_t rings_at = occ_at + occ_bytes + (1 + n) * slots * sizeof(float);
  std::size_t off = rings_at;
  for (std::size_t i = 0; i < n; ++i) {
    const int f = from(i);
    off += ring_bytes(h, f < 0 ? 0u : f == widen ? wider(old[f].width) : old[f].width);
  }
  static_assert(sizeof(hdr) == 32);
  EDDY_ASSERT(off < (std::size_t{1} << 30)); // fits hdr::ring_off
  std::unique_ptr<std::byte[]> block{new std::byte[off]()}; // zeroed
  top* t = new (block.get()) top{};
  if (data_ != 0) *t = head();
  t->bytes = static_cast<std::uint32_t>(off);
  t->n = static_cast<std::uint16_t>(n);
  std::size_t ring_off = rings_at;
  for (std::size_t i = 0; i < n; ++i) {
    const int f = from(i);
    hdr x;
    if (f < 0) {
      x.type = static_cast<std::uint8_t>(insert_type);
      x.width = 0;
    } else {
      x = old[f];
      if (f == widen) x.width = wider(old[f].width);
    }
    x.ring_off = static_cast<std::uint32_t>(ring_off);
    ring_off += ring_bytes(h, x.width);
    std::memcpy(block.get() + hdrs_at + i * sizeof(hdr), &x, sizeof(hdr));
    if (f < 0) continue;
    const hdr& o = old[f];
    if (x.width == o.width) {
      std::memcpy(block.get() + x.ring_off, ring(o), ring_bytes(h, x.width));
    } else {
      for (std::size_t s = 0; s < h; ++s)
        store_cell(block.get() + x.ring_off, x.width, s, load_cell(ring(o), o.width, s));
    }
  }
  if (data_ != 0) std::memcpy(block.get() + occ_at, occupancy(), occ_bytes);
  if (slots != 0) {
    auto* seas = reinterpret_cast<float*>(block.get() + occ_at + occ_bytes);
    if (data_ != 0) std::memcpy(seas, season_of(m, -1), slots * sizeof(float));
    for (std::size_t i = 0; i < n; ++i)
      if (from(i) >= 0)
        std::memcpy(seas + (1 + i) * slots, season_of(m, from(i)), slots * sizeof(float));
  }
  delete[] this->block();
  set_block(block.release(), off);
}

// Moves the ring to end at bucket `to` (> newest): the buckets that fall out
// of it go into the lagging forecasters and decayed totals, 64 leaving
// buckets at a time, in one pass: only buckets whose occupancy bit is set are
// visited, each type series folds its non-zero cells (clearing them) and adds
// them to the overall series' weighted counts y, which then folds those. The
// empty buckets between cost a count per run (work::skip; a run split in
// two is the same run). An overall bucket whose non-zero cells all have weight
// 0 has y = 0, an empty bucket like any other; y sums its cells in type order.
void item_trend::slide(const trend_model& m, std::int64_t to) {
  const auto& p = m.params();
  top& t = head();
  // Only slide_plain counts pending buckets, and an item's model takes one of
  // the two slides for its whole life.
  EDDY_ASSERT(t.pending == 0);
  const std::int64_t hz = p.horizon_buckets;
  const std::int64_t d = to - t.newest;
  const std::int64_t lo = t.newest - hz + 1; // current base
  const std::int64_t end = to - hz + 1;     // new base: fold [lo, end)
  const std::int64_t k = std::min(d, hz);   // buckets leaving the ring
  const std::size_t h = p.horizon_buckets;
  const std::size_t first_slot = m.slot(lo);
  hdr* hs = hdrs();
  std::uint64_t* occ = occupancy();
  const double decay_d = m.bucket_decay(d);
  for (std::uint32_t i = 0; i < t.n; ++i)
    hs[i].decayed *= decay_d;
  work all{t.overall, season_of(m, -1), m.runs()};
  for (std::int64_t c0 = 0; c0 < k; c0 += 64) {
    const std::int64_t len = std::min<std::int64_t>(64, k - c0);
    const std::int64_t first = lo + c0; // the chunk's first bucket
    const std::uint64_t leaving = ring_bits(occ, m.slot(first), static_cast<std::size_t>(len), h);
    double ys[64];
    std::uint64_t nz = 0; // bit j: bucket first + j has a non-zero y
    for (std::uint32_t i = 0; i < t.n; ++i) {
      hdr& hd = hs[i];
      std::byte* r = ring(hd);
      const double wt = p.type_weights[hd.type];
      work w{hd.holt, season_of(m, static_cast<int>(i)), m.runs()};
      std::int64_t next = first;
      for (std::uint64_t bits = leaving; bits != 0; bits &= bits - 1) {
        const int j = std::countr_zero(bits);
        const std::size_t slot = m.slot(first + j);
        const std::uint32_t c = load_cell(r, hd.width, slot);
        if (c == 0) continue;
        store_cell(r, hd.width, slot, 0);
        hd.decayed += static_cast<double>(c) * m.bucket_decay(d - c0 - j);
        w.skip(p, next, first + j - next);
        w.step(p, first + j, static_cast<double>(c));
        next = first + j + 1;
        if (wt == 0.0) continue;
        if ((nz >> j & 1) == 0) {
          nz |= std::uint64_t{1} << j;
          ys[j] = 0.0;
        }
        ys[j] += wt * c;
      }
      w.skip(p, next, first + len - next);
      hd.holt = w.h;
    }
    std::int64_t next = first;
    for (; nz != 0; nz &= nz - 1) {
      const int j = std::countr_zero(nz);
      all.skip(p, next, first + j - next);
      all.step(p, first + j, ys[j]);
      next = first + j + 1;
    }
    all.skip(p, next, first + len - next);
  }
  // A jump past the ring's end: the buckets between were empty.
  if (end > lo + k) {
    for (std::uint32_t i = 0; i < t.n; ++i) {
      work w{hs[i].holt, season_of(m, static_cast<int>(i)), m.runs()};
      w.skip(p, lo + k, end - (lo + k));
      hs[i].holt = w.h;
    }
    all.skip(p, lo + k, end - (lo + k));
  }
  t.overall = all.h;
  // The leaving slots are empty now: clear their bits.
  const std::size_t head = std::min(static_cast<std::size_t>(k), h - first_slot);
  clear_bits(occ, first_slot, head);
  clear_bits(occ, 0, static_cast<std::size_t>(k) - head);
  t.newest = to;
}

namespace {

// z empty buckets on a forecaster without a season: work::skip, with the
// reset of the horizon_buckets-th pending bucket written out (all zero).
void skip_plain(holt_packed& h, std::uint32_t horizon, std::int64_t z) {
  if (z <= 0 || h.ready == 0) return;
  if (h.idle + static_cast<std::uint64_t>(z) < horizon)
    h.idle += static_cast<std::uint32_t>(z);
  else
    h = holt_packed{};
}

// Bucket count y > 0 on a forecaster without a season: work::step (step_core,
// apply_pending and holt_update) written out for that case, the same
// operations in the same order (so the same bits), with the clip bounds
// taken from the model instead of recomputed (a square root on the way).
// A copy of that recursion kept on purpose: against calling step_core it
// measured 4-5% of the prefetching kernel and ~10% one event at a time; the
// bit-for-bit tests against the whole-history reference keep the two equal.
[[gnu::always_inline]] inline void step_plain(holt_packed& h, const trend_model& m, double y) {
  const auto& p = m.params();
  if (h.ready == 0) { // the first non-empty bucket
    h.ready = 1;
    h.level = static_cast<float>(y - 0.0);
    h.trend = 0.0f;
    h.variance = 0.0f;
    h.idle = 0;
    return;
  }
  double l = h.level, t = h.trend, v = h.variance;
  if (const std::uint32_t k = h.idle; k != 0) { // pending empty buckets first
    const auto runs = m.runs();
    if (k < runs.size() &&
        !(p.robust_clip > 0.0 && run_may_clip(m.clip_low(), m.clip_high(), runs, k, l, t))) {
      const empty_run& r = runs[k];
      v = r.g * v + (r.vll * l * l + r.vlt * l * t + r.vtt * t * t);
      const double l0 = l;
      l = r.ll * l0 + r.lt * t;
      t = r.tl * l0 + r.tt * t;
    } else {
      holt_work<float> w{true, l, t, v, k, 0, nullptr};
      for (std::uint32_t j = 0; j < k; ++j)
        holt_update(w, p, 0, 0.0);
      l = w.level;
      t = w.trend;
      v = w.variance;
    }
  }
  // holt_update with no season (seas = 0).
  const double f = l + t + 0.0;
  double e = y - f;
  if (p.robust_clip > 0.0) {
    const double spread2 = std::max(v, std::max(f, p.poisson_floor));
    if (e * e > p.robust_clip * p.robust_clip * spread2) {
      const double lim = p.robust_clip * std::sqrt(spread2);
      e = std::clamp(e, -lim, lim);
    }
  }
  const double yc = f + e;
  v = (1.0 - p.variance_alpha) * v + p.variance_alpha * (e * e);
  const double next = p.alpha * (yc - 0.0) + (1.0 - p.alpha) * (l + t);
  t = p.beta * (next - l) + (1.0 - p.beta) * t;
  h.level = static_cast<float>(next);
  h.trend = static_cast<float>(t);
  h.variance = static_cast<float>(v);
  h.idle = 0;
}

} // namespace

// slide() for the common configuration, no season and a horizon of at most
// 64 buckets, so that the leaving buckets' occupancy is one word: the same
// folds in the same order (the same bits), with the per-series bookkeeping
// written for that case. Runs of empty buckets are merged (a run split in two
// is the same run).
void item_trend::slide_plain(const trend_model& m, std::int64_t to) {
  const auto& p = m.params();
  top& t = head();
  const std::uint32_t hz = p.horizon_buckets;
  const std::int64_t d = to - t.newest;
  const std::int64_t lo = t.newest - hz + 1; // current base
  const auto k = static_cast<std::size_t>(std::min<std::int64_t>(d, hz));
  const std::size_t first_slot = m.slot(lo);
  std::uint64_t& occ = *occupancy(); // hz <= 64: one word
  const std::uint64_t leaving = word_window(occ, first_slot, k, hz);
  if (leaving == 0 && t.pending + d <= std::numeric_limits<std::uint16_t>::max()) {
    t.pending = static_cast<std::uint16_t>(t.pending + d); // nothing to fold: count them
    t.newest = to;
    return;
  }
  // The pending empty buckets go first: the forecasters skip them with the
  // empty buckets before the first folded one, and the decayed totals decay
  // over both at once.
  const std::int64_t pending = t.pending;
  t.pending = 0;
  hdr* hs = hdrs();
  const std::uint32_t n = t.n;
  const double decay_d = m.bucket_decay(pending + d);
  double ys[64];
  std::uint64_t nz = 0; // bit j: bucket lo + j has a non-zero weighted count
  for (std::uint32_t i = 0; i < n; ++i) {
    hdr& hd = hs[i];
    std::byte* r = ring(hd);
    const unsigned width = hd.width;
    const double wt = p.type_weights[hd.type];
    holt_packed h = hd.holt;
    double decayed = hd.decayed * decay_d;
    std::int64_t next = -pending; // first bucket (from lo) not applied yet
    for (std::uint64_t bits = leaving; bits != 0; bits &= bits - 1) {
      const int j = std::countr_zero(bits);
      std::size_t slot = first_slot + static_cast<std::size_t>(j);
      if (slot >= hz) slot -= hz;
      const std::uint32_t c = load_cell(r, width, slot);
      if (c == 0) continue;
      store_cell(r, width, slot, 0);
      decayed += static_cast<double>(c) * m.bucket_decay(d - j);
      skip_plain(h, hz, j - next);
      step_plain(h, m, static_cast<double>(c));
      next = j + 1;
      if (wt == 0.0) continue;
      if ((nz >> j & 1) == 0) {
        nz |= std::uint64_t{1} << j;
        ys[j] = 0.0;
      }
      ys[j] += wt * c;
    }
    skip_plain(h, hz, d - next);
    hd.holt = h;
    hd.decayed = decayed;
  }
  std::int64_t next = -pending;
  for (; nz != 0; nz &= nz - 1) {
    const int j = std::countr_zero(nz);
    skip_plain(t.overall, hz, j - next);
    step_plain(t.overall, m, ys[j]);
    next = j + 1;
  }
  skip_plain(t.overall, hz, d - next);
  occ &= ~word_mask(first_slot, k, hz);
  t.newest = to;
}

namespace {

// Adds 1 to a ring cell; false (and nothing changed) when the cell is full at
// its width and must widen first. 4-byte cells saturate.
bool bump_cell(std::byte* r, unsigned width, std::size_t s) {
  switch (width) {
  case 0: {
    const unsigned shift = 4 * (s & 1);
    const auto v = static_cast<unsigned>(r[s >> 1]);
    if ((v >> shift & 0xF) == 0xF) return false;
    r[s >> 1] = static_cast<std::byte>(v + (1u << shift));
    return true;
  }
  case 1: {
    const auto v = static_cast<std::uint8_t>(r[s]);
    if (v == 0xFF) return false;
    r[s] = static_cast<std::byte>(v + 1);
    return true;
  }
  case 2: {
    std::uint16_t v;
    std::memcpy(&v, r + 2 * s, 2);
    if (v == 0xFFFF) return false;
    ++v;
    std::memcpy(r + 2 * s, &v, 2);
    return true;
  }
  default: {
    std::uint32_t v;
    std::memcpy(&v, r + 4 * s, 4);
    if (v != 0xFFFFFFFF) ++v; // saturates
    std::memcpy(r + 4 * s, &v, 4);
    return true;
  }
  }
}

} // namespace

bool item_trend::add(const trend_model& m, std::uint8_t type, std::int64_t ts) {
  if (data_ == 0) return add_slow(m, type, ts);
  // No prefetch of the block's other lines here: measured, the one-event-at-a-
  // time kernel ran faster without it (callers that know the next items ahead
  // call prefetch(), see bench/trending_bench.cpp and trending_table::add).
  // Most events fall in the item's newest bucket (its occupancy bit is set
  // already), of a type the item has, in a cell with room: that case is
  // this short path; every other goes through add_slow.
  const top& t = head();
  const auto& p = m.params();
  if (static_cast<std::uint64_t>(ts) - static_cast<std::uint64_t>(t.newest * p.bucket_ms) <
      static_cast<std::uint64_t>(p.bucket_ms)) {
    hdr* h = hdrs();
    for (std::uint32_t i = 0; i < t.n; ++i)
      if (h[i].type == type) {
        if (bump_cell(ring(h[i]), h[i].width, m.slot(t.newest))) return false;
        break;
      }
  }
  return add_slow(m, type, ts);
}

bool item_trend::add_slow(const trend_model& m, std::uint8_t type, std::int64_t ts) {
  const auto& p = m.params();
  bool created = false;
  if (data_ == 0) { // the item's first event
    rebuild(m, type, -1);
    created = true;
  }
  top& t = head();
  const std::int64_t b = m.bucket_of(ts);
  if (t.newest == none)
    t.newest = b;
  else if (b > t.newest && !p.season && p.horizon_buckets <= 64)
    slide_plain(m, b);
  else if (b > t.newest)
    slide(m, b);
  EDDY_ASSERT(b > t.newest - static_cast<std::int64_t>(p.horizon_buckets));
  std::size_t i = 0;
  for (const hdr* h = hdrs(); i < t.n && h[i].type != type; ++i) {
  }
  if (i == t.n) { // t dies with the old block
    rebuild(m, type, -1);
    created = true;
    i = 0;
    for (const hdr* h = hdrs(); h[i].type != type; ++i) {
    }
  }
  const std::size_t s = m.slot(b);
  occupancy()[s >> 6] |= std::uint64_t{1} << (s & 63);
  while (!bump_cell(ring(hdrs()[i]), hdrs()[i].width, s))
    rebuild(m, -1, static_cast<int>(i));
  return created;
}

double item_trend::count(const trend_model& m, int s, std::int64_t bucket) const {
  const hdr* hs = hdrs();
  if (s >= 0) return ring_count(m, hs[s], bucket);
  double y = 0.0;
  for (std::size_t i = 0; i < types(); ++i)
    y += m.params().type_weights[hs[i].type] * ring_count(m, hs[i], bucket);
  return y;
}

double item_trend::window_count(const trend_model& m, int s, std::int64_t end) const {
  const std::int64_t newest = this->newest();
  if (newest == none) return 0.0;
  const auto& p = m.params();
  const std::int64_t lo = std::max(end - p.popularity_window_buckets, base(m));
  const std::int64_t hi = std::min(end, newest + 1);
  double sum = 0.0;
  for (std::int64_t b = lo; b < hi; ++b)
    sum += count(m, s, b);
  return sum;
}

double item_trend::decayed(const trend_model& m, int s, std::int64_t t_ms) const {
  const std::int64_t newest = this->newest();
  if (newest == none) return 0.0;
  const std::int64_t bt = m.bucket_of(t_ms);
  const double g = m.decay_ms(t_ms - bt * m.params().bucket_ms);
  const std::int64_t lo = base(m);
  const std::int64_t since = lo - head().pending; // the stored totals' time
  const hdr* hs = hdrs();
  auto one = [&](const hdr& h) {
    double d = h.decayed * m.bucket_decay(bt - since);
    for (std::int64_t b = lo; b <= newest; ++b)
      if (const std::uint32_t c = load_cell(ring(h), h.width, m.slot(b)); c != 0)
        d += static_cast<double>(c) * m.bucket_decay(bt - b);
    return d * g;
  };
  if (s >= 0) return one(hs[s]);
  double total = 0.0;
  for (std::size_t i = 0; i < types(); ++i)
    if (const double w = m.params().type_weights[hs[i].type]; w != 0.0) total += w * one(hs[i]);
  return total;
}

item_trend::work item_trend::load(const trend_model& m, int s, float* season_buf) const {
  const holt_packed none_yet{};
  work w{s >= 0 ? hdrs()[s].holt : data_ != 0 ? head().overall : none_yet, season_buf, m.runs()};
  if (season_buf != nullptr)
    std::memcpy(season_buf, season_of(m, s), m.params().season_slots * sizeof(float));
  if (data_ != 0 && head().pending != 0)
    w.skip(m.params(), base(m) - head().pending, head().pending);
  return w;
}

void item_trend::fold_to(const trend_model& m, int s, work& w, std::int64_t end) const {
  const auto& p = m.params();
  std::int64_t b = base(m);
  for (const std::int64_t newest = this->newest(); b < end && b <= newest; ++b)
    w.step(p, b, count(m, s, b));
  w.skip(p, b, end - b);
}

double item_trend::score(const trend_model& m, int s, std::int64_t bucket,
                         double min_support) const {
  const double y = count(m, s, bucket);
  if (!(y >= min_support)) return 0.0;
  const auto& p = m.params();
  std::vector<float> seas(p.season ? p.season_slots : 0);
  work w = load(m, s, p.season ? seas.data() : nullptr);
  fold_to(m, s, w, bucket);
  const holt_values v = w.current(p, bucket);
  return (y - std::max(v.forecast(), 0.0)) / holt_spread(v, p);
}

double item_trend::overall_score(const trend_model& m, std::int64_t bucket,
                                 double min_support) const {
  double best = 0.0;
  for (std::size_t i = 0; i < types(); ++i)
    if (m.params().type_weights[hdrs()[i].type] > 0.0)
      best = std::max(best, score(m, static_cast<int>(i), bucket, min_support));
  return best;
}

holt_state item_trend::holt_at(const trend_model& m, int s, std::int64_t end) const {
  const auto& p = m.params();
  std::vector<float> seas(p.season ? p.season_slots : 0);
  work w = load(m, s, p.season ? seas.data() : nullptr);
  fold_to(m, s, w, end);
  holt_state out = make_holt(p);
  out.ready = w.ready();
  out.level = w.h.level;
  out.trend = w.h.trend;
  out.variance = w.h.variance;
  out.idle = w.h.idle;
  for (std::size_t i = 0; i < seas.size(); ++i)
    out.season[i] = seas[i];
  return out;
}

std::vector<series_point> item_trend::points(const trend_model& m, int s, std::int64_t first,
                                             std::int64_t last, std::int64_t closed_end) const {
  const auto& p = m.params();
  std::vector<float> seas(p.season ? p.season_slots : 0);
  work w = load(m, s, p.season ? seas.data() : nullptr);
  fold_to(m, s, w, first);
  std::vector<series_point> out;
  out.reserve(static_cast<std::size_t>(std::max<std::int64_t>(0, last - first + 1)));
  for (std::int64_t b = first; b <= last; ++b) {
    series_point pt;
    pt.bucket = b;
    pt.count = count(m, s, b);
    const holt_values v = w.current(p, b);
    pt.forecast = v.forecast();
    pt.spread = holt_spread(v, p);
    pt.closed = b < closed_end;
    pt.score = pt.closed ? trending_score(pt.count, pt.forecast, pt.spread, p) : 0.0;
    out.push_back(pt);
    w.step(p, b, pt.count);
  }
  return out;
}

std::size_t item_trend::heap_bytes(const trend_model&) const {
  return data_ == 0 ? 0 : chunk(head().bytes);
}

void item_trend::state_words(const trend_model& m, std::vector<std::uint64_t>& out) const {
  const auto& p = m.params();
  // Each forecaster as folded up to base: its values as of its last non-empty
  // bucket and the count of empty buckets since.
  std::vector<float> seas(p.season ? p.season_slots : 0);
  auto holt = [&](int s) {
    const holt_packed h = load(m, s, p.season ? seas.data() : nullptr).h;
    out.push_back(fbits(h.level) | fbits(h.trend) << 32);
    out.push_back(fbits(h.variance) | std::uint64_t{h.idle} << 32 | std::uint64_t{h.ready} << 63);
    for (float x : seas)
      out.push_back(fbits(x));
  };
  out.push_back(static_cast<std::uint64_t>(newest()));
  out.push_back(types() | (data_ != 0 ? std::uint64_t{head().pending} << 32 : 0));
  holt(overall_series);
  for (std::size_t i = 0; i < types(); ++i) {
    const hdr& h = hdrs()[i];
    out.push_back(std::uint64_t{h.type} | std::uint64_t{h.width} << 8);
    out.push_back(dbits(h.decayed));
    holt(i);
    for (std::size_t s = 0; s < p.horizon_buckets; ++s)
      out.push_back(load_cell(ring(h), h.width, s));
  }
}

bool item_trend::same_bits(const trend_model& m, const item_trend& other) const {
  std::vector<std::uint64_t> a, b;
  state_words(m, a);
  other.state_words(m, b);
  return a == b;
}

// --- trending_table ------------------------------------------------------------

trending_table::trending_table(trending_params p) : m_(std::move(p)) {}

std::int64_t trending_table::first_open() const {
  if (max_ts_ == no_time) return no_time;
  return floor_div(max_ts_ - params().lateness_ms, params().bucket_ms);
}

std::int64_t trending_table::query_time(std::int64_t as_of_ms) const {
  return std::max(as_of_ms, max_ts_);
}

add_status trending_table::add(std::string_view item, std::uint8_t type, std::int64_t ts) {
  return add(hashed_item{item}, type, ts);
}

add_status trending_table::add(const hashed_item& item, std::uint8_t type, std::int64_t ts) {
  return add(item, type, ts, nullptr);
}

void trending_table::add(std::span<const trend_event> events) {
  // Lookups first (find_all), then the item blocks requested, then the adds in
  // order. The lookups insert nothing: a late event must not create its item.
  for (std::size_t at = 0; at < events.size(); at += lookup_chunk) {
    const auto part = events.subspan(at, std::min(lookup_chunk, events.size() - at));
    find_all(items_, part.size(), [&](std::size_t i) { return part[i].item; }, found_);
    for (auto* f : found_)
      if (f != nullptr) f->prefetch();
    for (std::size_t i = 0; i < part.size(); ++i)
      (void)add(part[i].item, part[i].type, part[i].ts, found_[i]);
  }
}

add_status trending_table::add(const hashed_item& item, std::uint8_t type, std::int64_t ts,
                               item_trend* known) {
  if (type >= params().type_weights.size()) {
    ++stats_.rejected;
    return add_status::rejected;
  }
  // bucket_of(ts) < first_open() without a division per event: the first open
  // bucket's start moves only when max_ts_ enters a later bucket.
  if (ts < open_from_ms_) {
    ++stats_.late;
    return add_status::late;
  }
  if (ts > max_ts_) {
    max_ts_ = ts;
    if (ts >= reopen_at_ms_) { // the first open bucket moved
      const std::int64_t f = first_open();
      open_from_ms_ = mul_add_clamped(f, params().bucket_ms, 0);
      reopen_at_ms_ = mul_add_clamped(f + 1, params().bucket_ms, params().lateness_ms);
    }
  }
  if (known == nullptr) {
    auto it = items_.find(item);
    if (it == items_.end()) it = items_.try_emplace(item_id{item.id}).first;
    known = &it->second;
  }
  if (known->add(m_, type, ts)) ++series_;
  ++stats_.accepted;
  return add_status::accepted;
}

namespace {

// Series id for a query: overall, the item's series of q.type, or nullopt.
std::optional<int> series_for(const item_trend& it, std::optional<std::uint8_t> type) {
  if (!type) return item_trend::overall_series;
  return it.series_of(*type);
}

} // namespace

top_k<std::string> trending_table::top_trending(const trend_query& q) const {
  top_k<std::string> top{q.k};
  const std::int64_t t = query_time(q.as_of_ms);
  if (t == no_time || q.k == 0) return top;
  const auto& p = params();
  const std::int64_t scored = floor_div(t - p.lateness_ms, p.bucket_ms) - 1;
  const double support = q.min_support.value_or(p.min_support);
  for (const auto& [name, it] : items_) {
    if (!q.type) {
      if (const double sc = it.overall_score(m_, scored, support); sc > 0.0)
        top.push(std::string{name.view()}, sc);
      continue;
    }
    const auto s = it.series_of(*q.type);
    if (!s) continue;
    const double y = it.count(m_, *s, scored);
    if (!(y > 0.0 && y >= support)) continue; // cannot score above 0
    if (const double sc = it.score(m_, *s, scored, support); sc > 0.0)
      top.push(std::string{name.view()}, sc);
  }
  return top;
}

top_k<std::string> trending_table::top_popular(const trend_query& q) const {
  top_k<std::string> top{q.k};
  const std::int64_t t = query_time(q.as_of_ms);
  if (t == no_time || q.k == 0) return top;
  const std::int64_t end = m_.bucket_of(t) + 1;
  for (const auto& [name, it] : items_)
    if (const auto s = series_for(it, q.type))
      if (const double c = it.window_count(m_, *s, end); c > 0.0)
        top.push(std::string{name.view()}, c);
  return top;
}

top_k<std::string> trending_table::top_decayed(const trend_query& q) const {
  top_k<std::string> top{q.k};
  const std::int64_t t = query_time(q.as_of_ms);
  if (t == no_time || q.k == 0) return top;
  for (const auto& [name, it] : items_)
    if (const auto s = series_for(it, q.type))
      if (const double d = it.decayed(m_, *s, t); d > 0.0)
        top.push(std::string{name.view()}, d);
  return top;
}

std::vector<series_point> trending_table::series(const std::string& item,
                                                 std::optional<std::uint8_t> type,
                                                 std::int64_t as_of_ms) const {
  const item_trend* it = find(item);
  if (it == nullptr) return {};
  const auto s = series_for(*it, type);
  if (!s) return {};
  const auto& p = params();
  const std::int64_t t = query_time(as_of_ms);
  const std::int64_t last = m_.bucket_of(t);
  auto points = it->points(m_, *s, last - p.horizon_buckets + 1, last,
                           floor_div(t - p.lateness_ms, p.bucket_ms));
  if (!type) // the overall score is that of the item's strongest type (see top)
    for (auto& pt : points)
      pt.score = pt.closed && pt.bucket >= it->base(m_)
                   ? it->overall_score(m_, pt.bucket, p.min_support)
                   : 0.0;
  return points;
}

const item_trend* trending_table::find(std::string_view item) const {
  auto it = items_.find(item);
  return it == items_.end() ? nullptr : &it->second;
}

std::uint64_t trending_table::digest() const {
  std::uint64_t sum = 0;
  std::vector<std::uint64_t> words;
  for (const auto& [name, it] : items_) {
    std::uint64_t h = 0xcbf29ce484222325ULL; // FNV-1a of the key, then the state
    for (char c : name.view())
      h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    words.clear();
    it.state_words(m_, words);
    for (std::uint64_t w : words)
      h = mix64(h ^ w) + 0x9e3779b97f4a7c15ULL;
    sum += mix64(h);
  }
  std::uint64_t h = mix64(sum ^ static_cast<std::uint64_t>(max_ts_));
  h = mix64(h ^ stats_.accepted) + stats_.late;
  h = mix64(h ^ stats_.rejected) + series_;
  return mix64(h ^ items_.size());
}

std::size_t trending_table::memory_bytes() const {
  // absl's flat map: one slot (the pair) and one control byte per capacity entry,
  // empty ones included.
  constexpr std::size_t slot = sizeof(std::pair<const item_id, item_trend>) + 1;
  std::size_t bytes = sizeof(*this) + m_.heap_bytes() + items_.capacity() * slot;
  for (const auto& [name, it] : items_) {
    bytes += it.heap_bytes(m_);
    if (const std::size_t heap = name.heap_size(); heap != 0) bytes += chunk(heap);
  }
  return bytes;
}

} // namespace eddy::models

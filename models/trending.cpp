#include "models/trending.hpp"

#include "models/random.hpp" // portable_exp: same decay bits on every machine

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>

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

bool same(double a, double b) {
  return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
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
  if (!unit(p.variance_alpha))
    return bad("variance_alpha", "must be in (0, 1]");
  if (p.season) {
    if (!unit(p.gamma)) return bad("gamma", "must be in (0, 1]");
    if (day_ms % p.bucket_ms != 0)
      return bad("bucket_ms", "must divide a day when season is on");
    if (p.season_slots < 1 || (day_ms / p.bucket_ms) % p.season_slots != 0)
      return bad("season_slots", "must divide the buckets per day");
  }
  if (!(p.min_support >= 0.0) || !std::isfinite(p.min_support))
    return bad("min_support", "must be finite and >= 0");
  if (!(p.poisson_floor > 0.0) || !std::isfinite(p.poisson_floor))
    return bad("poisson_floor", "must be finite and > 0");
  if (p.popularity_window_buckets < 1 ||
      p.popularity_window_buckets > p.horizon_buckets)
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

std::uint32_t season_slot(const trending_params& p, std::int64_t bucket) {
  if (!p.season) return 0;
  const std::int64_t per_day = day_ms / p.bucket_ms;
  const std::int64_t in_day = bucket - floor_div(bucket, per_day) * per_day;
  return static_cast<std::uint32_t>(in_day / (per_day / p.season_slots));
}

double holt_forecast(const holt_state& s, const trending_params& p,
                     std::int64_t bucket) {
  double f = s.level + s.trend;
  if (p.season) f += s.season[season_slot(p, bucket)];
  return f;
}

double holt_spread(const holt_state& s, const trending_params& p, double f) {
  return std::max(std::sqrt(s.variance),
                  std::sqrt(std::max(f, p.poisson_floor)));
}

double trending_score(double y, double forecast, double spread,
                      const trending_params& p) {
  if (y < p.min_support) return 0.0;
  return (y - std::max(forecast, 0.0)) / spread;
}

void holt_step(holt_state& s, const trending_params& p, std::int64_t bucket,
               double y) {
  const double seas = p.season ? s.season[season_slot(p, bucket)] : 0.0;
  if (!s.ready) {
    if (y == 0.0) return; // no history yet: empty buckets teach nothing
    s.ready = true;
    s.level = y - seas;
    s.trend = 0.0;
    s.variance = 0.0;
    s.idle = 0;
    s.steps = 1;
    return;
  }
  const double e = y - (s.level + s.trend + seas);
  s.variance =
      (1.0 - p.variance_alpha) * s.variance + p.variance_alpha * (e * e);
  const double level =
      p.alpha * (y - seas) + (1.0 - p.alpha) * (s.level + s.trend);
  s.trend = p.beta * (level - s.level) + (1.0 - p.beta) * s.trend;
  if (p.season)
    s.season[season_slot(p, bucket)] =
        p.gamma * (y - level) + (1.0 - p.gamma) * seas;
  s.level = level;
  ++s.steps;
  s.idle = y == 0.0 ? s.idle + 1 : 0;
  if (s.idle >= p.horizon_buckets) { // idle for the whole horizon: forget
    s.ready = false;
    s.level = s.trend = s.variance = 0.0;
    s.idle = 0;
    s.steps = 0;
  }
}

void holt_catch_up(holt_state& s, const trending_params& p, std::int64_t first,
                   std::int64_t k) {
  // Stepping until the reset is exact by construction; after it the state is
  // unready and every further empty step is a no-op, so skipping them is too.
  for (std::int64_t i = 0; i < k && s.ready; ++i)
    holt_step(s, p, first + i, 0.0);
}

// --- item_trend --------------------------------------------------------------

item_trend::item_trend(const trending_params& p)
    : counts_(static_cast<std::size_t>(p.horizon_buckets) *
                  p.type_weights.size(),
              0),
      holt_(make_holt(p)) {}

std::size_t item_trend::slot(const trending_params& p,
                             std::int64_t bucket) const {
  const std::int64_t h = p.horizon_buckets;
  return static_cast<std::size_t>(bucket - floor_div(bucket, h) * h) *
         p.type_weights.size();
}

std::uint32_t item_trend::count(const trending_params& p, std::int64_t bucket,
                                std::uint8_t type) const {
  if (newest_ == none || bucket > newest_ ||
      bucket <= newest_ - p.horizon_buckets || type >= p.type_weights.size())
    return 0;
  return counts_[slot(p, bucket) + type];
}

double item_trend::weighted(const trending_params& p,
                            std::int64_t bucket) const {
  if (newest_ == none || bucket > newest_ ||
      bucket <= newest_ - p.horizon_buckets)
    return 0.0;
  const std::size_t base = slot(p, bucket);
  double y = 0.0;
  for (std::size_t t = 0; t < p.type_weights.size(); ++t)
    y += p.type_weights[t] * counts_[base + t];
  return y;
}

double item_trend::window_count(const trending_params& p,
                                std::int64_t end) const {
  double sum = 0.0;
  for (std::int64_t b = end - p.popularity_window_buckets; b < end; ++b)
    sum += weighted(p, b);
  return sum;
}

double item_trend::decayed(const trending_params& p,
                           std::int64_t now_ms) const {
  if (decayed_ms_ == none || now_ms <= decayed_ms_) return decayed_;
  const double dt = static_cast<double>(now_ms - decayed_ms_);
  return decayed_ *
         portable_exp(-ln2 * dt / static_cast<double>(p.half_life_ms));
}

void item_trend::fold(const trending_params& p, std::int64_t bucket, double y,
                      std::int64_t end) {
  if (bucket == end - 1) {
    forecast_ = holt_forecast(holt_, p, bucket);
    score_ = trending_score(y, forecast_, holt_spread(holt_, p, forecast_), p);
    scored_ = bucket;
  }
  holt_step(holt_, p, bucket, y);
}

void item_trend::close_until(const trending_params& p, std::int64_t end) {
  if (closed_ == none || end <= closed_) return;
  const std::int64_t ring_lo = newest_ - p.horizon_buckets + 1;
  std::int64_t b = closed_;
  while (b < end) {
    if (b >= ring_lo && b <= newest_) {
      fold(p, b, weighted(p, b), end);
      ++b;
      continue;
    }
    // A run of empty buckets [b, to).
    const std::int64_t to = b < ring_lo ? std::min(end, ring_lo) : end;
    if (to == end) {
      holt_catch_up(holt_, p, b, to - 1 - b);
      fold(p, to - 1, 0.0, end);
    } else {
      holt_catch_up(holt_, p, b, to - b);
    }
    b = to;
  }
  closed_ = end;
}

void item_trend::add(const trending_params& p, std::int64_t first_open,
                     std::uint8_t type, std::int64_t ts) {
  const std::int64_t bucket = floor_div(ts, p.bucket_ms);
  if (closed_ == none) closed_ = first_open;
  close_until(p, first_open);
  if (newest_ == none || bucket > newest_) {
    const std::int64_t from =
        newest_ == none ? bucket - p.horizon_buckets + 1
                        : std::max(newest_ + 1, bucket - p.horizon_buckets + 1);
    for (std::int64_t b = from; b <= bucket; ++b)
      std::fill_n(counts_.begin() + static_cast<std::ptrdiff_t>(slot(p, b)),
                  p.type_weights.size(), 0u);
    newest_ = bucket;
  }
  ++counts_[slot(p, bucket) + type];
  const double w = p.type_weights[type];
  if (decayed_ms_ == none) {
    decayed_ = w;
    decayed_ms_ = ts;
  } else if (ts >= decayed_ms_) {
    decayed_ = decayed(p, ts) + w;
    decayed_ms_ = ts;
  } else {
    const double dt = static_cast<double>(decayed_ms_ - ts);
    decayed_ +=
        w * portable_exp(-ln2 * dt / static_cast<double>(p.half_life_ms));
  }
}

bool item_trend::same_bits(const item_trend& o) const {
  const holt_state& a = holt_;
  const holt_state& b = o.holt_;
  if (a.ready != b.ready || !same(a.level, b.level) ||
      !same(a.trend, b.trend) || !same(a.variance, b.variance) ||
      a.idle != b.idle || a.steps != b.steps ||
      a.season.size() != b.season.size())
    return false;
  for (std::size_t i = 0; i < a.season.size(); ++i)
    if (!same(a.season[i], b.season[i])) return false;
  return counts_ == o.counts_ && newest_ == o.newest_ && closed_ == o.closed_ &&
         scored_ == o.scored_ && same(score_, o.score_) &&
         same(forecast_, o.forecast_) && same(decayed_, o.decayed_) &&
         decayed_ms_ == o.decayed_ms_;
}

// --- trending_table
// ------------------------------------------------------------

trending_table::trending_table(trending_params p) : p_(std::move(p)) {
  if (auto why = validate(p_); !why.empty()) {
    std::fprintf(stderr, "trending_table: invalid params: %s\n", why.c_str());
    std::abort();
  }
}

std::int64_t trending_table::first_open() const {
  if (!has_watermark()) return item_trend::none;
  return floor_div(watermark(), p_.bucket_ms);
}

void trending_table::advance(std::int64_t ts) {
  if (!has_watermark() || ts > max_ts_) max_ts_ = ts;
}

add_status trending_table::add(std::string_view item, std::uint8_t type,
                               std::int64_t ts) {
  if (type >= p_.type_weights.size()) {
    ++stats_.rejected;
    return add_status::rejected;
  }
  if (has_watermark() && floor_div(ts, p_.bucket_ms) < first_open()) {
    ++stats_.late;
    return add_status::late;
  }
  advance(ts);
  auto it = items_.find(std::string{item});
  if (it == items_.end())
    it = items_.emplace(std::string{item}, item_trend{p_}).first;
  it->second.add(p_, first_open(), type, ts);
  ++stats_.accepted;
  return add_status::accepted;
}

top_k<std::string> trending_table::top_trending(std::size_t k) {
  top_k<std::string> top{k};
  if (!has_watermark()) return top;
  const std::int64_t end = first_open();
  for (auto& [name, it] : items_) {
    it.close_until(p_, end);
    if (it.scored_bucket() == end - 1 && it.score() > 0.0)
      top.push(name, it.score());
  }
  return top;
}

top_k<std::string> trending_table::top_popular(std::size_t k) const {
  top_k<std::string> top{k};
  if (!has_watermark()) return top;
  const std::int64_t end = floor_div(max_ts_, p_.bucket_ms) + 1;
  for (const auto& [name, it] : items_)
    if (double c = it.window_count(p_, end); c > 0.0) top.push(name, c);
  return top;
}

top_k<std::string> trending_table::top_decayed(std::size_t k,
                                               std::int64_t now_ms) const {
  top_k<std::string> top{k};
  for (const auto& [name, it] : items_)
    if (double d = it.decayed(p_, now_ms); d > 0.0) top.push(name, d);
  return top;
}

const item_trend* trending_table::find(const std::string& item) const {
  auto it = items_.find(item);
  return it == items_.end() ? nullptr : &it->second;
}

} // namespace eddy::models

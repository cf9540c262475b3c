#pragma once
// Trending and popularity on event-time buckets (DESIGN.md §4). Pure math: time
// is always an argument (ms since the Unix epoch), nothing reads a clock.
//
//   bucket b          = floor(ts / bucket_ms)
//   watermark W       = max event time seen - lateness_ms
//   first open bucket = floor(W / bucket_ms); every bucket below it is closed.
//   An event whose bucket is closed is `late` (counted, not applied); an event
//   older than W whose bucket is still open updates that bucket.
//
// Per item: counts per (bucket, type) in a ring of horizon_buckets (fixed
// memory), a Holt forecaster (level, trend, optional additive daily season,
// EWMA of squared residuals) fed with each closed bucket's weighted count
// y = sum_t type_weights[t] * count_t, the score of the last closed bucket,
// and an exponentially decayed total.
//
// Forecast of bucket b:  f = level + trend (+ season[slot(b)])
// Spread:                s = max(sqrt(variance), sqrt(max(f+, poisson_floor)))
// Score of bucket b:     (y - f+) / s   if y >= min_support, else 0   (f+ =
// max(f, 0))
//
// Idle items cost nothing: an item's closed buckets are folded only when it
// gets an event or is queried. Folding k empty buckets (holt_catch_up) runs the
// very same holt_step k times, so the result is bit-for-bit the result of
// stepping; it is capped because after horizon_buckets consecutive empty
// buckets holt_step resets the forecaster to "no history" (level, trend,
// variance zero; the season profile is kept), and an unready forecaster ignores
// empty buckets. So a catch-up costs at most horizon_buckets steps.
// A forecaster without history forecasts 0 (plus season): a new or returning
// item with y events scores y / sqrt(poisson_floor) once y >= min_support.

#include "models/topk.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace eddy::models {

/// All knobs, with defaults. Check with validate() before use.
struct trending_params {
  std::int64_t bucket_ms = 60'000;     ///< bucket width
  std::uint32_t horizon_buckets = 120; ///< buckets kept per item (ring size)
  std::int64_t lateness_ms =
      120'000;                 ///< allowed lateness behind the max event time
  double alpha = 0.3;          ///< Holt level smoothing, (0, 1]
  double beta = 0.05;          ///< Holt trend smoothing, (0, 1]
  double variance_alpha = 0.1; ///< EWMA weight of the squared residual, (0, 1]
  bool season = false;         ///< additive daily season on/off
  double gamma = 0.1;          ///< season smoothing, (0, 1]
  std::uint32_t season_slots = 24; ///< slots per day (e.g. 24 = hourly profile)
  double min_support = 5.0;        ///< weighted count a bucket needs to score
  double poisson_floor = 1.0; ///< spread >= sqrt(max(forecast, poisson_floor))
  std::uint32_t popularity_window_buckets = 60; ///< window of popularity counts
  std::int64_t half_life_ms = 3'600'000; ///< half-life of the decayed total
  /// Weight of each interaction type id (index); types >= size are rejected.
  std::vector<double> type_weights = {0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0};
};

/// "" when valid, else "<key>: <why>" for the first bad key.
std::string validate(const trending_params& p);

/// floor(a / b) for b > 0 (also for negative a).
std::int64_t floor_div(std::int64_t a, std::int64_t b);

/// Holt forecaster state of one series. Plain data: compare it field by field.
struct holt_state {
  bool ready = false; ///< has history (set by the first non-empty bucket)
  double level = 0.0;
  double trend = 0.0;
  double variance = 0.0;   ///< EWMA of squared one-step residuals
  std::uint32_t idle = 0;  ///< consecutive empty buckets
  std::uint64_t steps = 0; ///< buckets folded since ready
  std::vector<double>
      season; ///< season_slots entries when p.season, else empty
};

/// A fresh state sized for p.
holt_state make_holt(const trending_params& p);
/// Season slot of bucket b (0 when the season is off).
std::uint32_t season_slot(const trending_params& p, std::int64_t bucket);
/// Forecast of bucket b from the history before it (may be negative).
double holt_forecast(const holt_state& s, const trending_params& p,
                     std::int64_t bucket);
/// Expected spread around forecast f (residual sd with the Poisson floor).
double holt_spread(const holt_state& s, const trending_params& p, double f);
/// Trending score of a closed bucket with weighted count y (see top of file).
double trending_score(double y, double forecast, double spread,
                      const trending_params& p);
/// Folds bucket b with weighted count y into s.
void holt_step(holt_state& s, const trending_params& p, std::int64_t bucket,
               double y);
/// Folds the k empty buckets first, first+1, ...: identical to k holt_step(..,
/// 0) calls, at most horizon_buckets steps of work.
void holt_catch_up(holt_state& s, const trending_params& p, std::int64_t first,
                   std::int64_t k);

/// One item's state. The params are passed to every call (not stored), and must
/// be the same (validated) params for the item's whole life.
class item_trend {
 public:
  static constexpr std::int64_t none = std::numeric_limits<std::int64_t>::min();

  explicit item_trend(const trending_params& p);

  /// Folds every bucket below `end` into the forecaster; records the score of
  /// bucket end - 1. Buckets already folded are not touched.
  void close_until(const trending_params& p, std::int64_t end);
  /// Adds one event of `type` at `ts`; its bucket must be >= the first open
  /// bucket `first_open`, and `first_open` must not be behind the newest bucket
  /// by more than the horizon (trending_table guarantees both). Closes
  /// buckets below first_open first.
  void add(const trending_params& p, std::int64_t first_open, std::uint8_t type,
           std::int64_t ts);

  /// Raw count of `type` in bucket b (0 outside the ring).
  std::uint32_t count(const trending_params& p, std::int64_t bucket,
                      std::uint8_t type) const;
  /// Weighted count of bucket b (0 outside the ring).
  double weighted(const trending_params& p, std::int64_t bucket) const;
  /// Weighted count over buckets [end - popularity_window_buckets, end).
  double window_count(const trending_params& p, std::int64_t end) const;
  /// Exponentially decayed total of weighted events, as of now_ms.
  double decayed(const trending_params& p, std::int64_t now_ms) const;

  const holt_state& holt() const { return holt_; }
  std::int64_t closed_until() const {
    return closed_;
  }                                               ///< first unfolded bucket
  std::int64_t newest() const { return newest_; } ///< newest bucket with data
  std::int64_t scored_bucket() const {
    return scored_;
  }                                       ///< none before any close
  double score() const { return score_; } ///< score of scored_bucket()
  double last_forecast() const { return forecast_; }

  /// Bit-for-bit equality of every field (doubles compared by their bits).
  bool same_bits(const item_trend& other) const;

 private:
  std::size_t slot(const trending_params& p, std::int64_t bucket) const;
  void fold(const trending_params& p, std::int64_t bucket, double y,
            std::int64_t end);

  std::vector<std::uint32_t> counts_; // horizon x types, bucket-major
  std::int64_t newest_ = none; // ring holds buckets (newest_ - H, newest_]
  std::int64_t closed_ = none; // buckets < closed_ are folded
  holt_state holt_;
  std::int64_t scored_ = none;
  double score_ = 0.0;
  double forecast_ = 0.0;
  double decayed_ = 0.0; // value as of decayed_ms_
  std::int64_t decayed_ms_ = none;
};

enum class add_status : std::uint8_t { accepted, late, rejected };

struct trending_stats {
  std::uint64_t accepted = 0;
  std::uint64_t late = 0;     ///< bucket already closed by the watermark
  std::uint64_t rejected = 0; ///< unknown type id
};

/// One shard's items. Items are disjoint across shards, so merging the shards'
/// top_k results gives the exact cluster-wide answer.
class trending_table {
 public:
  /// Precondition: validate(p) is empty (aborts otherwise).
  explicit trending_table(trending_params p);

  add_status add(std::string_view item, std::uint8_t type, std::int64_t ts);
  /// Raises the max event time to ts without an event (a heartbeat), closing
  /// buckets for every item; never lowers it.
  void advance(std::int64_t ts);

  bool has_watermark() const { return max_ts_ != item_trend::none; }
  std::int64_t watermark() const { return max_ts_ - p_.lateness_ms; }
  /// Buckets below this are closed (item_trend::none before any event).
  std::int64_t first_open() const;

  /// Items by score of the last closed bucket (positive scores only). Folds
  /// pending closed buckets of every item first.
  top_k<std::string> top_trending(std::size_t k);
  /// Items by weighted count over the popularity window ending at the newest
  /// bucket.
  top_k<std::string> top_popular(std::size_t k) const;
  /// Items by decayed total as of now_ms.
  top_k<std::string> top_decayed(std::size_t k, std::int64_t now_ms) const;

  const item_trend* find(const std::string& item) const;
  const trending_stats& stats() const { return stats_; }
  const trending_params& params() const { return p_; }
  std::size_t size() const { return items_.size(); }

 private:
  trending_params p_;
  std::int64_t max_ts_ = item_trend::none;
  trending_stats stats_;
  std::unordered_map<std::string, item_trend> items_;
};

} // namespace eddy::models

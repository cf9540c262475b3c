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
// Series. Every item has an "overall" series, the weighted count
// y = sum_t type_weights[t] * count_t of each bucket, and one series per type
// id it has events of (the raw count of that type). Only types an item has
// events of cost memory. Each series has its own Holt forecaster (level,
// trend, optional additive daily season, EWMA of squared residuals).
//
// Forecast of bucket b:  f = level + trend (+ season[slot(b)])
// Spread:                s = max(sqrt(variance), sqrt(max(f+, poisson_floor)))
// Score of bucket b:     (y - f+) / s   if y >= min_support, else 0
//                        (f+ = max(f, 0))
// Overall score:         the highest score among the item's types of positive
//                        weight. Weighted sums are a poor thing to score: one
//                        visitor who views, carts and buys adds 1 + 3 + 5 to a
//                        sparse item's bucket, which no Poisson spread expects,
//                        while each type's raw count is close to Poisson. The
//                        weighted series still ranks popularity and is what
//                        series() plots for the overall view.
// Robust updates:        a residual beyond robust_clip spreads updates the
//                        forecaster as if it were that large (Gelper, Fried &
//                        Croux 2010), so a surge stays visible while it lasts.
//
// State is a pure function of the add() calls. Per item a ring keeps the
// counts of the horizon_buckets buckets (newest - H, newest], where newest is
// the item's newest bucket; the forecasters are folded exactly up to the
// ring's oldest bucket ("lagging" state): a bucket is folded when an add of the
// same item pushes it out of the ring, and such a bucket is always closed, so
// its count is final. Queries are const: they take an explicit time T (as
// of), copy the lagging state and re-step it over the ring (at most
// horizon_buckets steps, and top_trending only for items whose last closed
// bucket reaches min_support). Hence an item's answers depend only on its own
// events and T, never on which other items share its table: sharded tables
// queried as of the same T, merged, answer exactly like one table.
//
// Empty buckets cost nothing: a forecaster keeps its values as of its last
// non-empty bucket plus the count of empty buckets since (`idle`), and applies
// them when it needs them (the next non-empty bucket, or a forecast), in
// closed form (empty_run). Its horizon_buckets-th empty bucket resets it to
// "no history" (level, trend, variance zero; the season profile is kept), and
// a forecaster without history ignores empty buckets. An empty run that one
// of its buckets could clip (robust_clip; only forecasts beyond
// robust_clip * sqrt(poisson_floor) can) is stepped one bucket at a time
// instead, and so is every run with the season on (its profile changes each
// step). A forecaster without history forecasts 0 (plus season): a new or
// returning item with y events scores y / sqrt(poisson_floor) once
// y >= min_support. Without a season, a slide that folds nothing (no bucket
// with events leaves the ring) only adds its buckets to a count per item; the
// next slide that folds applies them to every forecaster and decayed total
// first, and readers apply them to their copies.
//
// Stored forecaster state is float (level, trend, variance, season); every
// non-empty step computes in double (its pending empty buckets included) and
// rounds the result to float, on the persistent path and in queries alike, so
// a state is the same bits however it was reached.
//
// Decayed total (popularity): events count from their bucket's start, i.e.
// as of T an event in bucket b weighs w * 2^-((T - b * bucket_ms) / half_life)
// (w = type weight overall, 1 by type). Each type series keeps the decayed
// total of its folded buckets as of the ring's oldest bucket; the overall
// total is sum_t type_weights[t] * total_t.

#include "models/item_key.hpp"
#include "models/topk.hpp"

#include <absl/container/flat_hash_map.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eddy::models {

/// All knobs, with defaults. Check with validate() before use.
struct trending_params {
  std::int64_t bucket_ms = 60'000;    ///< bucket width
  std::uint32_t horizon_buckets = 64; ///< buckets kept per item (ring size)
  std::int64_t lateness_ms = 120'000; ///< allowed lateness behind the max event time
  double alpha = 0.1;                 ///< Holt level smoothing, (0, 1]
  double beta = 0.05;                 ///< Holt trend smoothing, (0, 1]
  double variance_alpha = 0.1;        ///< EWMA weight of the squared residual, (0, 1]
  bool season = false;                ///< additive daily season on/off
  double gamma = 0.1;                 ///< season smoothing, (0, 1]
  std::uint32_t season_slots = 24;    ///< slots per day (e.g. 24 = hourly profile)
  double min_support = 5.0;           ///< count a bucket needs to score
  double poisson_floor = 1.0;         ///< spread >= sqrt(max(forecast, poisson_floor))
  /// Residuals are clipped to robust_clip spreads before they update the
  /// forecaster (0 = plain Holt): a surge keeps standing out while it lasts.
  double robust_clip = 3.0;
  std::uint32_t popularity_window_buckets = 60; ///< window of popularity counts
  std::int64_t half_life_ms = 3'600'000;        ///< half-life of the decayed total
  /// Weight of each interaction type id (index, up to 256 entries); types >=
  /// size are rejected.
  std::vector<double> type_weights = {0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0};
};

/// "" when valid, else "<key>: <why>" for the first bad key.
std::string validate(const trending_params& p);

/// floor(a / b) for b > 0 (also for negative a).
std::int64_t floor_div(std::int64_t a, std::int64_t b);

/// Holt forecaster state of one series, in double. Plain data: compare it field
/// by field. (trending_table stores the compact holt_packed form.)
///
/// level, trend and variance are those after the last non-empty bucket; the
/// `idle` empty buckets since then are pending: forecasts apply them (see
/// holt_current), the next non-empty bucket applies them for good, and the
/// horizon_buckets-th one resets the state. Hence an empty bucket costs one
/// increment, and catching up over k of them is exactly k steps.
struct holt_state {
  bool ready = false; ///< has history (set by the first non-empty bucket)
  double level = 0.0;
  double trend = 0.0;
  double variance = 0.0;       ///< EWMA of squared one-step residuals
  std::uint32_t idle = 0;      ///< empty buckets since the last non-empty one
  std::uint64_t steps = 0;     ///< buckets folded since ready (pending ones not yet)
  std::vector<double> season;  ///< season_slots entries when p.season, else empty
};

/// Closed form of k empty buckets without a season (DESIGN.md §4, "catch-up in
/// closed form"). An unclipped empty step is linear: x = (level, trend) goes to
/// M x with M = [[1-a, 1-a], [-a b, 1 - a b]] (a = alpha, b = beta), the
/// forecast of the j-th empty bucket is f_j = (1, 1) . M^j x, and the variance
/// goes to g^k v + va sum_{j<k} g^(k-1-j) f_j^2 (va = variance_alpha, g = 1 - va).
/// Entry k holds M^k, the quadratic form of that sum, and the coefficients of
/// f_k (the forecast of the next bucket after k empty ones). Built by iterating j = 0, 1, ... in
/// double, so every table of the same params holds the same bits.
struct empty_run {
  /// M^k: level_k = ll l + lt t, trend_k = tl l + tt t
  double ll = 1.0, lt = 0.0, tl = 0.0, tt = 1.0;
  double g = 1.0;                               ///< (1 - variance_alpha)^k
  double vll = 0.0, vlt = 0.0, vtt = 0.0;       ///< variance_k = g v + vll l^2 + vlt l t + vtt t^2
  double fl = 1.0, ft = 1.0;                    ///< f_k = fl l + ft t
  double fl_max = 0.0, ft_max = 0.0;            ///< max over j < k of |f_j|'s coefficients
};
/// Entries 0 .. n - 1 of the closed form for p.
std::vector<empty_run> empty_runs(const trending_params& p, std::size_t n);
/// Longest empty run taken in closed form; longer ones (horizons above it) are
/// stepped.
inline constexpr std::uint32_t max_closed_run = 1024;

/// A forecaster's values as of a bucket b: its pending empty buckets
/// [b - idle, b) applied, in double.
struct holt_values {
  bool ready = false;
  double level = 0.0;
  double trend = 0.0;
  double variance = 0.0;
  double seasonal = 0.0; ///< season of b's slot (0 without a season)
  double forecast() const { return level + trend + seasonal; }
};

/// A fresh state sized for p.
holt_state make_holt(const trending_params& p);
/// Season slot of bucket b (0 when the season is off).
std::uint32_t season_slot(const trending_params& p, std::int64_t bucket);
/// s as of bucket b (the bucket after its last folded one): pending empty
/// buckets applied. Without a season they are applied in closed form, unless
/// one of them could be clipped (robust_clip), and with a season one by one.
holt_values holt_current(const holt_state& s, const trending_params& p, std::int64_t bucket);
/// Forecast of bucket b from the history before it (may be negative).
double holt_forecast(const holt_state& s, const trending_params& p, std::int64_t bucket);
/// Expected spread around v's forecast (residual sd with the Poisson floor).
double holt_spread(const holt_values& v, const trending_params& p);
/// Trending score of a closed bucket with count y (see top of file).
double trending_score(double y, double forecast, double spread, const trending_params& p);
/// Folds bucket b with count y into s.
void holt_step(holt_state& s, const trending_params& p, std::int64_t bucket, double y);
/// Folds the k empty buckets first, first+1, ...: identical to k holt_step(..,
/// 0) calls, O(1) without a season.
void holt_catch_up(holt_state& s, const trending_params& p, std::int64_t first,
                   std::int64_t k);

/// Compact stored Holt state (16 bytes; the season profile, if any, lives next
/// to it). Same recursion and pending empty buckets as holt_state; the values
/// are rounded to float after every non-empty step.
struct holt_packed {
  float level = 0.0f;
  float trend = 0.0f;
  float variance = 0.0f;
  std::uint32_t idle : 31 = 0; ///< empty buckets since the last non-empty one (< horizon_buckets)
  std::uint32_t ready : 1 = 0;
};

/// Folds bucket b with count y into a packed state (season: season_slots
/// floats when p.season, else ignored): computes in double like holt_step,
/// then rounds to float. `runs`: empty_runs(p, ...) when the caller keeps it
/// (trend_model does), else built as needed.
void holt_step(holt_packed& s, float* season, const trending_params& p, std::int64_t bucket,
               double y, std::span<const empty_run> runs = {});
/// The same catch-up for a packed state.
void holt_catch_up(holt_packed& s, float* season, const trending_params& p, std::int64_t first,
                   std::int64_t k);
/// A packed state as of bucket b (see holt_current above).
holt_values holt_current(const holt_packed& s, const float* season, const trending_params& p,
                         std::int64_t bucket, std::span<const empty_run> runs = {});

/// Sentinel time: "no event yet" / "as of this table's own max event time".
inline constexpr std::int64_t no_time = std::numeric_limits<std::int64_t>::min();

/// Validated params plus the tables derived from them, shared by every item of
/// a table (passed to every item_trend call).
class trend_model {
 public:
  /// Precondition: validate(p) is empty (aborts otherwise).
  explicit trend_model(trending_params p);

  const trending_params& params() const { return p_; }
  std::int64_t bucket_of(std::int64_t ts) const { return floor_div(ts, p_.bucket_ms); }
  /// Ring slot of bucket b.
  std::size_t slot(std::int64_t bucket) const {
    const std::int64_t h = p_.horizon_buckets;
    if (mask_ != 0) return static_cast<std::size_t>(bucket & mask_);
    return static_cast<std::size_t>(bucket - floor_div(bucket, h) * h);
  }
  /// 2^(-k * bucket_ms / half_life_ms) for k >= 0.
  double bucket_decay(std::int64_t k) const;
  /// 2^(-ms / half_life_ms) for ms >= 0.
  double decay_ms(std::int64_t ms) const;
  /// empty_runs(params(), min(horizon_buckets, max_closed_run)): every run a
  /// forecaster can have pending.
  std::span<const empty_run> runs() const { return runs_; }
  /// Forecasts a robust clip can act on lie above clip_high() or below
  /// -clip_low() (see run_may_clip in trending.cpp); 0 when robust_clip is 0.
  double clip_low() const { return clip_low_; }
  double clip_high() const { return clip_high_; }
  std::size_t heap_bytes() const;

 private:
  trending_params p_;
  std::int64_t mask_ = 0;      // horizon - 1 when the horizon is a power of two
  std::vector<double> decay_;  // decay_[k] = bucket_decay(k), k <= 4 * horizon (beyond: computed)
  std::vector<empty_run> runs_;
  double clip_low_ = 0.0, clip_high_ = 0.0;
};

/// One point of a series for plotting.
struct series_point {
  std::int64_t bucket = 0; ///< bucket index (start ms = bucket * bucket_ms)
  double count = 0.0;      ///< weighted count (overall) or raw count (one type)
  double forecast = 0.0;   ///< forecast of this bucket from the history before it
  double spread = 0.0;
  double score = 0.0;      ///< trending score (0 while open or below support)
  bool closed = false;     ///< closed as of the query time
};

/// One item's state: the count ring of each type it has events of, and the
/// lagging forecasters (overall and per type). The model is passed to every
/// call (not stored) and must be the same for the item's whole life.
///
/// Series ids: overall_series (-1) is the weighted series, 0 .. types() - 1 the
/// item's type series in ascending type id (type_of(i)).
class item_trend {
 public:
  static constexpr std::int64_t none = no_time;
  static constexpr int overall_series = -1;

  item_trend() = default;
  item_trend(const item_trend& other);
  item_trend& operator=(const item_trend& other);
  item_trend(item_trend&& other) noexcept : data_(std::exchange(other.data_, 0)) {}
  item_trend& operator=(item_trend&& other) noexcept {
    std::swap(data_, other.data_);
    return *this;
  }
  ~item_trend() { delete[] block(); }

  /// Adds one event (the hot path). Preconditions: type < type_weights.size()
  /// and bucket_of(ts) > newest() - horizon_buckets (trending_table rejects
  /// late events, which guarantees it). Returns true when this created the
  /// item's series of `type`.
  bool add(const trend_model& m, std::uint8_t type, std::int64_t ts);

  /// Asks the CPU for the first lines of this item's block (up to
  /// prefetch_lines: the sizes, the series headers and, in blocks of up to
  /// 256 bytes, everything), for a caller that knows the next events' items:
  /// an add on an item that is not in cache waits for its block, and such
  /// waits overlap across items only when they are requested ahead (see
  /// bench/trending_bench.cpp). Changes nothing.
  void prefetch() const {
    const auto first = data_ & ~std::uintptr_t{63};
    for (std::uintptr_t line = 0; line <= (data_ & tag_mask); ++line)
      __builtin_prefetch(reinterpret_cast<const void*>(first + 64 * line));
  }

  /// Newest bucket with an event (none before any event).
  std::int64_t newest() const;
  /// First bucket not folded into the lagging forecasters (the ring's oldest).
  std::int64_t base(const trend_model& m) const;
  std::size_t types() const;
  std::uint8_t type_of(std::size_t i) const;
  /// Series id of `type`, or nullopt if the item has no events of it.
  std::optional<int> series_of(std::uint8_t type) const;

  /// Count of series s in bucket b (weighted for overall_series; 0 outside the ring).
  double count(const trend_model& m, int s, std::int64_t bucket) const;
  /// Count over buckets [end - popularity_window_buckets, end).
  double window_count(const trend_model& m, int s, std::int64_t end) const;
  /// Decayed total of series s as of t_ms (>= the start of newest()).
  double decayed(const trend_model& m, int s, std::int64_t t_ms) const;
  /// Score of bucket `bucket` (>= base) from the history before it, with the
  /// given min_support. 0 when the count is below support.
  double score(const trend_model& m, int s, std::int64_t bucket, double min_support) const;
  /// The overall trending score of a bucket: the highest score among the item's
  /// types of positive weight (each a raw count with min_support applied).
  double overall_score(const trend_model& m, std::int64_t bucket, double min_support) const;
  /// Forecaster of series s folded over every bucket below `end` (>= base), in
  /// double (holt_state.steps is not tracked: 0).
  holt_state holt_at(const trend_model& m, int s, std::int64_t end) const;
  /// Points of buckets [first, last] (first >= base); closed = bucket < closed_end.
  std::vector<series_point> points(const trend_model& m, int s, std::int64_t first,
                                   std::int64_t last, std::int64_t closed_end) const;

  /// Heap bytes owned (malloc chunk estimate), not counting sizeof(*this).
  std::size_t heap_bytes(const trend_model& m) const;
  /// Every state field, canonically (doubles and floats by their bits).
  void state_words(const trend_model& m, std::vector<std::uint64_t>& out) const;
  /// Bit-for-bit equality of every field.
  bool same_bits(const trend_model& m, const item_trend& other) const;

 private:
  struct work; // forecaster being stepped (doubles holding floats)
  struct top;  // the block's first bytes: newest bucket, overall forecaster, sizes
  struct hdr;  // per type series: forecaster, decayed total, ring location

  // The whole state lives in one heap block, so that an item costs one
  // pointer wherever it is kept and an add one cache miss chain (the block),
  // not two (this object, then the block): [top][hdr x n][occupancy words]
  // [season floats][rings]. data_ is the block's address (16-aligned) with
  // the number of cache lines prefetch() asks for, minus one, in the low 4
  // bits: the lines the block spans, at most prefetch_lines. 0 before the
  // first add.
  static constexpr std::uintptr_t tag_mask = 15;
  // Measured (prefetching kernel of bench_trending, runs interleaved in one
  // process): asking for at most 3 or 4 lines ran 11% faster than asking for
  // every line of the block (up to 16), and 6 lines only 3%: the lines of
  // big blocks (items with several busy types) crowd out the misses that
  // matter, and a cold item's block rarely spans more than 4 lines.
  static constexpr std::size_t prefetch_lines = 4;
  std::byte* block() const { return reinterpret_cast<std::byte*>(data_ & ~tag_mask); }
  void set_block(std::byte* b, std::size_t bytes);
  top& head() const;
  hdr* hdrs() const;
  std::uint64_t* occupancy() const; // one bit per ring slot
  static std::size_t occupancy_words(const trending_params& p) {
    return (p.horizon_buckets + 63) / 64;
  }
  float* season_of(const trend_model& m, int s) const; // nullptr when off
  std::byte* ring(const hdr& h) const;
  std::uint32_t ring_count(const trend_model& m, const hdr& h, std::int64_t bucket) const;
  void rebuild(const trend_model& m, int insert_type, int widen);
  bool add_slow(const trend_model& m, std::uint8_t type, std::int64_t ts); // add's other cases
  [[gnu::noinline]] void slide(const trend_model& m, std::int64_t to);
  [[gnu::noinline]] void slide_plain(const trend_model& m, std::int64_t to);
  work load(const trend_model& m, int s, float* season_buf) const;
  void fold_to(const trend_model& m, int s, work& w, std::int64_t end) const;

  std::uintptr_t data_ = 0;
};

enum class add_status : std::uint8_t { accepted, late, rejected };

/// One event for trending_table::add(span).
struct trend_event {
  hashed_item item;
  std::uint8_t type = 0;
  std::int64_t ts = 0;
};

struct trending_stats {
  std::uint64_t accepted = 0;
  std::uint64_t late = 0;     ///< bucket already closed by the watermark
  std::uint64_t rejected = 0; ///< unknown type id
};

struct trend_query {
  std::size_t k = 10;
  std::int64_t as_of_ms = no_time;   ///< no_time: this table's own max event time
  std::optional<std::uint8_t> type;  ///< nullopt: the overall weighted series
  std::optional<double> min_support; ///< nullopt: params().min_support
};

/// One shard's items. Items are disjoint across shards, so merging the shards'
/// top_k results (queried with the same as_of) gives the exact cluster-wide
/// answer.
class trending_table {
 public:
  /// Precondition: validate(p) is empty (aborts otherwise).
  explicit trending_table(trending_params p);

  add_status add(std::string_view item, std::uint8_t type, std::int64_t ts);
  /// The same, for a caller that has the id's item_hash already (ingest).
  add_status add(const hashed_item& item, std::uint8_t type, std::int64_t ts);
  /// Adds the events in order: the same state as one add() per event (outcomes
  /// are counted in stats()), with the cache misses of their lookups overlapped.
  void add(std::span<const trend_event> events);

  /// Max event time seen (no_time before any event).
  std::int64_t max_event_ms() const { return max_ts_; }
  /// Buckets below this are closed (no_time before any event).
  std::int64_t first_open() const;
  /// The query time used for as_of_ms: max(as_of_ms, max_event_ms()).
  std::int64_t query_time(std::int64_t as_of_ms) const;

  /// Items by score of the last closed bucket as of q.as_of_ms (score > 0 only).
  top_k<std::string> top_trending(const trend_query& q) const;
  /// Items by count over the popularity window ending with the bucket of as_of
  /// (inclusive).
  top_k<std::string> top_popular(const trend_query& q) const;
  /// Items by exponentially decayed total as of as_of.
  top_k<std::string> top_decayed(const trend_query& q) const;
  /// The ring of one item's series as of as_of, oldest first: the
  /// horizon_buckets buckets ending with the bucket of as_of (empty if the
  /// item is unknown or never had the type). Open buckets' counts are
  /// provisional, and so are the forecasts that follow them.
  std::vector<series_point> series(const std::string& item, std::optional<std::uint8_t> type,
                                   std::int64_t as_of_ms) const;

  /// Order-independent hash of all state bits (items, series, max time, stats).
  std::uint64_t digest() const;
  /// Estimate of heap + inline bytes of the whole table (malloc chunk sizes,
  /// hash nodes and buckets, key strings beyond SSO, item blocks).
  std::size_t memory_bytes() const;
  /// (item, type) pairs with state.
  std::size_t tracked_series() const { return series_; }
  std::size_t size() const { return items_.size(); }
  const trending_stats& stats() const { return stats_; }
  const trending_params& params() const { return m_.params(); }
  const trend_model& model() const { return m_; }
  const item_trend* find(std::string_view item) const;

 private:
  // `known`: the item's state if the caller found it already, else null.
  add_status add(const hashed_item& item, std::uint8_t type, std::int64_t ts,
                 item_trend* known);

  trend_model m_;
  std::int64_t max_ts_ = no_time;
  // first_open() * bucket_ms (events before it are late), and the max event
  // time from which first_open() is later: add() divides only then.
  std::int64_t open_from_ms_ = no_time;
  std::int64_t reopen_at_ms_ = no_time;
  trending_stats stats_;
  std::size_t series_ = 0;
  // Open addressing, entries in the table's own array: a lookup of a cold item
  // misses the cache about twice (control bytes, slot) where std::unordered_map's
  // bucket, node chain and node missed four times; this lookup was the largest
  // cost of trending in a node.
  absl::flat_hash_map<item_id, item_trend, item_key_hash, item_key_eq> items_;
  std::vector<item_trend*> found_; // add(span)'s lookups, reused
};

} // namespace eddy::models

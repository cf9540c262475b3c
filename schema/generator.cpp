// `eddy generate`: a deterministic synthetic shop.
//
// The model (every random draw comes from models::rng, so a config gives the
// same events on every machine; see models/random.hpp for why not <random>):
//
// - Ids. Users are "1000" .. (999 + users); items are "100000" ..
//   (99999 + items): decimal strings, so they look like a real shop's numeric
//   ids and every legacy shape (Taobao's numeric columns) can carry them.
// - Popularity. Item rank r (0 = most popular) is drawn with probability
//   proportional to 1/(r+1)^zipf_s; ranks map to items through a seeded
//   random permutation, so popularity is not visible in the id. Visitors are
//   mildly skewed the same way (exponent user_zipf_s = 0.6, own permutation): a
//   few heavy users, a long tail, which is what ALS sees in real data.
// - Time. The span [start_ms, start_ms + hours) is walked minute by minute.
//   Sessions starting in a minute ~ Poisson(sessions_per_minute *
//   (1 + daily_amplitude * sin(2 pi (h - 14) / 24))), h = the minute's hour of
//   day in UTC (the shop's clock): traffic peaks at 20:00, bottoms out at
//   08:00, and averages sessions_per_minute over a day.
// - Sessions. A user, 1 + Poisson(views_per_session - 1) views of items drawn
//   by popularity (2 s + Exp(mean 10 s) apart); each view is carted with
//   p_cart (1-10 s later); at checkout (5-30 s after the last event) each
//   carted item is bought with p_purchase, all lines of the order at one ts,
//   value = quantity 1 (70%), 2 (20%) or 3 (10%). Views and carts have value 1.
// - Surges (trending ground truth). `surges` distinct items drawn from ranks
//   below the top 1% and, when there are enough, within the top 10% (so an
//   always-popular item is never a surge, and a surge item has enough normal
//   traffic to stand out from). Each starts on a whole minute after the first
//   10% of the span (so forecasts have history) and lasts surge_minutes (cut at
//   the span's end). During it, extra sessions land on the item first (a link
//   shared somewhere): their rate is chosen so the item's expected views per
//   minute are exactly surge_factor x its normal rate at that time of day.
//   Surge sessions browse on and convert like any other.
// - Order. Events go to the sink in nondecreasing ts (so in minute order):
//   each minute's events are stably sorted by ts and emitted once the minute
//   is complete; a session that runs past its minute keeps its later events
//   for the next. Events at or after the span's end are dropped.
// - max_events cuts the stream after exactly that many events; the output is
//   then a prefix of the uncapped run, and the surges returned are those that
//   started before the cut, their end clamped to it.

#include "schema/generator.hpp"

#include "models/random.hpp"
#include "schema/interactions.hpp"
#include "schema/writers.hpp" // append_json_string

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <utility>

// Same bits on every machine: no fused multiply-add (models/random.hpp).
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

namespace eddy {

namespace {

constexpr std::uint64_t first_user_id = 1000;
constexpr std::uint64_t first_item_id = 100000;
constexpr double user_zipf_s = 0.6;
constexpr std::uint32_t max_population = 10'000'000;
constexpr std::int64_t minute_ms = 60'000;
constexpr std::int64_t hour_ms = 3'600'000;
constexpr std::int64_t day_ms = 86'400'000;
constexpr double pi = 3.14159265358979323846;
// sin(2 pi (h - 14) / 24) is largest at h = 20 (evening peak).
constexpr double daily_phase_hours = 14.0;
// Latest start accepted: year 3000, far from int64 overflow.
constexpr std::int64_t max_start_ms = 32'503'680'000'000;
constexpr double max_hours = 24.0 * 366 * 10;

// Independent random streams per purpose: changing how surges are drawn does
// not reshuffle item popularity, and so on.
enum rng_stream : std::uint64_t {
  item_stream = 1,
  user_stream = 2,
  surge_stream = 3,
  traffic_stream = 4,
};

struct type_ids {
  type_id view = 0;
  type_id cart = 0;
  type_id purchase = 0;
};

expected<type_ids> resolve_types(const interaction_registry& registry) {
  type_ids ids;
  const std::pair<const char*, type_id*> wanted[] = {
      {"view", &ids.view}, {"cart", &ids.cart}, {"purchase", &ids.purchase}};
  for (auto& [name, out] : wanted) {
    auto id = registry.resolve(name);
    if (!id)
      return error{std::string{"the interaction registry has no \""} + name +
                   "\" type (the generator emits view, cart and purchase); "
                   "add it to the registry file or pass --interactions"};
    *out = *id;
  }
  return ids;
}

/// Ranks [lo, ...) surges are drawn from, and how many distinct items that is.
std::uint64_t surge_lowest_rank(std::uint32_t items) {
  return std::max<std::uint64_t>(1, (static_cast<std::uint64_t>(items) + 99) /
                                        100);
}

std::uint64_t surge_eligible(std::uint32_t items) {
  auto lo = surge_lowest_rank(items);
  return items > lo ? items - lo : 0;
}

std::int64_t span_ms(const generator_config& cfg) {
  return static_cast<std::int64_t>(std::llround(cfg.hours * hour_ms));
}

std::string fmt_number(double x) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, res.ptr);
}

template <class Int>
std::string_view to_chars_view(char* buf, std::size_t size, Int x) {
  auto res = std::to_chars(buf, buf + size, x);
  return {buf, static_cast<std::size_t>(res.ptr - buf)};
}

// -- the simulation -----------------------------------------------------------

struct pending_event {
  std::int64_t ts;
  std::uint32_t user; // index, id = first_user_id + user
  std::uint32_t item; // index, id = first_item_id + item
  type_id type;
  float value;
};

struct planned_surge {
  std::uint32_t item = 0;
  std::uint64_t rank = 0;
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;
  // Surge sessions per minute = rate multiplier * this * the daily cycle.
  double sessions_per_normal_session = 0.0;
};

class simulation {
 public:
  simulation(const generator_config& cfg, type_ids types, event_sink& sink)
      : cfg_(cfg), types_(types), sink_(sink), items_(cfg.zipf_s, cfg.items),
        users_(user_zipf_s, cfg.users), traffic_(cfg.seed, traffic_stream),
        start_ms_(cfg.start_ms), end_ms_(cfg.start_ms + span_ms(cfg)) {
    item_of_rank_ = permutation(cfg.items, item_stream);
    user_of_rank_ = permutation(cfg.users, user_stream);
    plan_surges();
  }

  std::vector<surge> run() {
    const std::int64_t minutes =
        (end_ms_ - start_ms_ + minute_ms - 1) / minute_ms;
    for (std::int64_t m = 0; m < minutes && !stopped_; ++m) {
      const std::int64_t lo = start_ms_ + m * minute_ms;
      const std::int64_t hi = std::min(lo + minute_ms, end_ms_);
      const double rate = sessions_rate(lo + (hi - lo) / 2);
      const double minute_fraction = static_cast<double>(hi - lo) / minute_ms;
      auto n = traffic_.poisson(rate * minute_fraction);
      for (std::uint64_t i = 0; i < n; ++i)
        session(lo + static_cast<std::int64_t>(traffic_.below(hi - lo)),
                nullptr);
      for (const auto& s : plan_) {
        const std::int64_t s_lo = std::max(lo, s.start_ms);
        const std::int64_t s_hi = std::min(hi, s.end_ms);
        if (s_lo >= s_hi) continue;
        const double overlap = static_cast<double>(s_hi - s_lo) / minute_ms;
        auto extra =
            traffic_.poisson(rate * s.sessions_per_normal_session * overlap);
        for (std::uint64_t i = 0; i < extra; ++i)
          session(s_lo + static_cast<std::int64_t>(traffic_.below(s_hi - s_lo)),
                  &s.item);
      }
      flush_before(hi);
    }
    return surges();
  }

 private:
  std::vector<std::uint32_t> permutation(std::uint32_t n,
                                         std::uint64_t stream) {
    std::vector<std::uint32_t> p(n);
    for (std::uint32_t i = 0; i < n; ++i)
      p[i] = i;
    models::rng r(cfg_.seed, stream);
    r.shuffle(p.begin(), p.end());
    return p;
  }

  // Sessions per minute at time `ts`, with the daily cycle.
  double sessions_rate(std::int64_t ts) const {
    const std::int64_t in_day = ((ts % day_ms) + day_ms) % day_ms;
    const double hour = static_cast<double>(in_day) / hour_ms;
    return cfg_.sessions_per_minute *
           (1.0 + cfg_.daily_amplitude *
                      models::portable_sin(2.0 * pi *
                                           (hour - daily_phase_hours) / 24.0));
  }

  void plan_surges() {
    if (cfg_.surges == 0) return;
    models::rng r(cfg_.seed, surge_stream);
    const std::uint64_t lo = surge_lowest_rank(cfg_.items);
    const std::uint64_t hi = std::min<std::uint64_t>(
        cfg_.items, std::max<std::uint64_t>(lo + cfg_.surges, cfg_.items / 10));
    std::vector<std::uint64_t> ranks(hi - lo);
    for (std::uint64_t i = 0; i < ranks.size(); ++i)
      ranks[i] = lo + i;
    const std::int64_t minutes =
        (end_ms_ - start_ms_ + minute_ms - 1) / minute_ms;
    const std::int64_t first = std::min<std::int64_t>(
        (minutes + 9) / 10, std::max<std::int64_t>(minutes - 1, 0));
    const auto length =
        static_cast<std::int64_t>(std::llround(cfg_.surge_minutes * minute_ms));
    const std::int64_t length_minutes = (length + minute_ms - 1) / minute_ms;
    const std::int64_t last = std::max(first, minutes - length_minutes);
    const double vps = cfg_.views_per_session;
    for (std::uint32_t i = 0; i < cfg_.surges; ++i) {
      // Partial Fisher-Yates: distinct ranks.
      auto j = i + r.below(ranks.size() - i);
      std::swap(ranks[i], ranks[j]);
      planned_surge s;
      s.rank = ranks[i];
      s.item = item_of_rank_[s.rank];
      auto minute =
          first + static_cast<std::int64_t>(r.below(last - first + 1));
      s.start_ms = start_ms_ + minute * minute_ms;
      s.end_ms = std::min(s.start_ms + length, end_ms_);
      // Normal views of the item per session: vps * p. A surge session views it
      // once plus (vps - 1) * p by chance, so this many surge sessions per
      // normal session add (factor - 1) x the item's normal views.
      const double p = items_.probability(s.rank);
      s.sessions_per_normal_session =
          (cfg_.surge_factor - 1.0) * vps * p / (1.0 + (vps - 1.0) * p);
      plan_.push_back(s);
    }
  }

  std::uint32_t quantity() {
    const double u = traffic_.uniform();
    return u < 0.7 ? 1 : (u < 0.9 ? 2 : 3);
  }

  void push(std::int64_t ts, std::uint32_t user, std::uint32_t item,
            type_id type, float value) {
    if (ts < end_ms_)
      pending_.push_back(pending_event{ts, user, item, type, value});
  }

  void session(std::int64_t t0, const std::uint32_t* landing_item) {
    const std::uint32_t user = user_of_rank_[users_.sample(traffic_)];
    const std::uint64_t views =
        1 + traffic_.poisson(cfg_.views_per_session - 1.0);
    carted_.clear();
    std::int64_t t = t0;
    for (std::uint64_t i = 0; i < views; ++i) {
      const std::uint32_t item = (i == 0 && landing_item)
                                     ? *landing_item
                                     : item_of_rank_[items_.sample(traffic_)];
      if (i > 0)
        t += 2000 +
             static_cast<std::int64_t>(traffic_.exponential(1.0 / 10000.0));
      push(t, user, item, types_.view, 1.0f);
      if (traffic_.bernoulli(cfg_.p_cart)) {
        t += 1000 + static_cast<std::int64_t>(traffic_.below(9001));
        push(t, user, item, types_.cart, 1.0f);
        carted_.push_back(item);
      }
    }
    if (carted_.empty()) return;
    const std::int64_t checkout =
        t + 5000 + static_cast<std::int64_t>(traffic_.below(25001));
    for (auto item : carted_)
      if (traffic_.bernoulli(cfg_.p_purchase))
        push(checkout, user, item, types_.purchase,
             static_cast<float>(quantity()));
  }

  // Emits every pending event before `limit`, in ts order (stable: ties keep
  // the order they were generated in, on every standard library).
  void flush_before(std::int64_t limit) {
    std::stable_sort(pending_.begin(), pending_.end(),
                     [](const pending_event& a, const pending_event& b) {
                       return a.ts < b.ts;
                     });
    std::size_t n = 0;
    char ubuf[24];
    char ibuf[24];
    for (; n < pending_.size() && pending_[n].ts < limit; ++n) {
      const auto& e = pending_[n];
      auto user = to_chars_view(ubuf, sizeof ubuf, first_user_id + e.user);
      auto item = to_chars_view(ibuf, sizeof ibuf, first_item_id + e.item);
      sink_.on_event(event_view{user, item, e.type, e.ts, e.value});
      ++emitted_;
      if (cfg_.max_events != 0 && emitted_ >= cfg_.max_events) {
        stopped_ = true;
        cut_ms_ = e.ts + 1;
        break;
      }
    }
    pending_.erase(pending_.begin(),
                   pending_.begin() + static_cast<std::ptrdiff_t>(n));
  }

  std::vector<surge> surges() const {
    std::vector<surge> out;
    for (const auto& s : plan_) {
      std::int64_t end = s.end_ms;
      if (stopped_) {
        if (s.start_ms >= cut_ms_) continue;
        end = std::min(end, cut_ms_);
      }
      out.push_back(surge{std::to_string(first_item_id + s.item), s.start_ms,
                          end, cfg_.surge_factor});
    }
    std::stable_sort(
        out.begin(), out.end(),
        [](const surge& a, const surge& b) { return a.start_ms < b.start_ms; });
    return out;
  }

  const generator_config& cfg_;
  type_ids types_;
  event_sink& sink_;
  models::zipf_table items_;
  models::zipf_table users_;
  models::rng traffic_;
  std::int64_t start_ms_;
  std::int64_t end_ms_;
  std::vector<std::uint32_t> item_of_rank_;
  std::vector<std::uint32_t> user_of_rank_;
  std::vector<planned_surge> plan_;
  std::vector<pending_event> pending_;
  std::vector<std::uint32_t> carted_;
  std::uint64_t emitted_ = 0;
  bool stopped_ = false;
  std::int64_t cut_ms_ = 0;
};

// -- output files -------------------------------------------------------------

/// A buffered output file ("-" = stdout) whose write errors surface at close.
class out_file {
 public:
  out_file() = default;
  out_file(const out_file&) = delete;
  out_file& operator=(const out_file&) = delete;
  ~out_file() { close(nullptr); }

  status open(const std::string& path) {
    path_ = path;
    if (path == "-") {
      f_ = stdout;
      owned_ = false;
      return {};
    }
    f_ = std::fopen(path.c_str(), "wb");
    if (!f_)
      return error{"cannot open " + path +
                   " for writing: " + std::strerror(errno)};
    owned_ = true;
    return {};
  }

  std::string& buffer() { return buf_; }

  void maybe_flush() {
    if (buf_.size() >= (1u << 20)) flush();
  }

  bool close(std::string* why) {
    if (!f_) return failed_.empty() ? true : report(why);
    flush();
    if (std::fflush(f_) != 0 && failed_.empty()) failed_ = std::strerror(errno);
    if (owned_ && std::fclose(f_) != 0 && failed_.empty())
      failed_ = std::strerror(errno);
    f_ = nullptr;
    return failed_.empty() ? true : report(why);
  }

 private:
  void flush() {
    if (!f_ || buf_.empty()) return;
    if (failed_.empty() &&
        std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size())
      failed_ = std::strerror(errno);
    buf_.clear();
  }

  bool report(std::string* why) {
    if (why) *why = "cannot write " + path_ + ": " + failed_;
    return false;
  }

  std::FILE* f_ = nullptr;
  bool owned_ = false;
  std::string path_;
  std::string buf_;
  std::string failed_;
};

void append_int(std::string& out, std::int64_t x) {
  char buf[24];
  out += to_chars_view(buf, sizeof buf, x);
}

// RFC 4180 field: quoted only when it has to be.
void append_csv_field(std::string& out, std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += s;
    return;
  }
  out += '"';
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// RFC 3986: everything but unreserved characters is %XX.
void append_url_encoded(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// "2023-11-14T22:13:20.123Z" (proleptic Gregorian; H. Hinnant's
// civil_from_days, no time-zone database or gmtime needed).
void append_iso8601_ms(std::string& out, std::int64_t ts) {
  const std::int64_t days = floor_div(ts, day_ms);
  const std::int64_t ms_of_day = ts - days * day_ms;
  const std::int64_t z = days + 719468;
  const std::int64_t era = floor_div(z, 146097);
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe =
      (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const auto digits = [&out](std::int64_t v, int width) {
    char buf[24];
    auto text = to_chars_view(buf, sizeof buf, v < 0 ? -v : v);
    if (v < 0) out += '-';
    for (auto n = static_cast<int>(text.size()); n < width; ++n)
      out += '0';
    out += text;
  };
  digits(year, 4);
  out += '-';
  digits(month, 2);
  out += '-';
  digits(day, 2);
  out += 'T';
  digits(ms_of_day / hour_ms, 2);
  out += ':';
  digits(ms_of_day % hour_ms / minute_ms, 2);
  out += ':';
  digits(ms_of_day % minute_ms / 1000, 2);
  out += '.';
  digits(ms_of_day % 1000, 3);
  out += 'Z';
}

// Quantity as the pixel sends it: an integer when it is one.
void append_quantity(std::string& out, float value) {
  const double v = value;
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9.0e15) {
    append_int(out, static_cast<std::int64_t>(v));
  } else if (std::isfinite(v)) {
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, res.ptr);
  } else {
    out += "null"; // JSON has no NaN or infinity
  }
}

/// Spelling of each type id in a shape: shape-specific names for the known
/// canonical types, the canonical name for the rest.
using spelling_table = std::array<std::string, 256>;

spelling_table make_spellings(
    const interaction_registry& registry,
    std::initializer_list<std::pair<std::string_view, std::string_view>>
        shape_names) {
  spelling_table t;
  for (std::size_t id = 0; id < t.size(); ++id)
    t[id] = std::string{registry.name(static_cast<type_id>(id))};
  for (auto [canonical, spelled] : shape_names)
    if (auto id = registry.resolve(canonical)) t[*id] = std::string{spelled};
  return t;
}

class shape_writer : public event_sink {
 public:
  bool finish(std::string* why) override { return out_.close(why); }

  status open(const std::string& path) { return out_.open(path); }

 protected:
  out_file out_;
};

class retailrocket_writer final : public shape_writer {
 public:
  explicit retailrocket_writer(const interaction_registry& registry)
      : names_(make_spellings(registry, {{"view", "view"},
                                         {"cart", "addtocart"},
                                         {"purchase", "transaction"}})),
        purchase_(registry.resolve("purchase").value_or(0)) {
    out_.buffer() += "timestamp,visitorid,event,itemid,transactionid\n";
  }

  void on_event(const event_view& ev) override {
    auto& b = out_.buffer();
    append_int(b, ev.ts);
    b += ',';
    append_csv_field(b, ev.user);
    b += ',';
    append_csv_field(b, names_[ev.type]);
    b += ',';
    append_csv_field(b, ev.item);
    b += ',';
    if (purchase_ != 0 && ev.type == purchase_) {
      if (transaction_ == 0 || ev.ts != last_ts_ || ev.user != last_user_) {
        ++transaction_;
        last_ts_ = ev.ts;
        last_user_.assign(ev.user);
      }
      append_int(b, static_cast<std::int64_t>(transaction_));
    }
    b += '\n';
    out_.maybe_flush();
  }

 private:
  spelling_table names_;
  type_id purchase_;
  std::uint64_t transaction_ = 0;
  std::int64_t last_ts_ = 0;
  std::string last_user_;
};

std::uint64_t taobao_category(std::string_view item) {
  std::uint64_t v = 0;
  bool decimal = !item.empty() && item.size() <= 19;
  for (char c : item) {
    if (c < '0' || c > '9') {
      decimal = false;
      break;
    }
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (!decimal) {
    v = 0xcbf29ce484222325ULL; // FNV-1a 64
    for (unsigned char c : item)
      v = (v ^ c) * 0x100000001b3ULL;
  }
  return v % 97 + 1000;
}

class taobao_writer final : public shape_writer {
 public:
  explicit taobao_writer(const interaction_registry& registry)
      : names_(make_spellings(registry, {{"view", "pv"},
                                         {"cart", "cart"},
                                         {"like", "fav"},
                                         {"purchase", "buy"}})) {}

  void on_event(const event_view& ev) override {
    auto& b = out_.buffer();
    append_csv_field(b, ev.user);
    b += ',';
    append_csv_field(b, ev.item);
    b += ',';
    append_int(b, static_cast<std::int64_t>(taobao_category(ev.item)));
    b += ',';
    append_csv_field(b, names_[ev.type]);
    b += ',';
    append_int(b, floor_div(ev.ts, 1000));
    b += '\n';
    out_.maybe_flush();
  }

 private:
  spelling_table names_;
};

class pixel_writer final : public shape_writer {
 public:
  explicit pixel_writer(const interaction_registry& registry)
      : names_(make_spellings(registry, {{"view", "view"},
                                         {"cart", "add_to_cart"},
                                         {"purchase", "purchase"}})),
        purchase_(registry.resolve("purchase").value_or(0)) {}

  void on_event(const event_view& ev) override {
    // Web analytics' usual rule: a new session after 30 min of silence.
    constexpr std::int64_t session_gap_ms = 30 * minute_ms;
    key_.assign(ev.user); // reused: no allocation per event once warm
    auto [it, fresh] = sessions_.try_emplace(key_, visitor{ev.ts, 1});
    if (!fresh) {
      if (ev.ts - it->second.last_ts > session_gap_ms) ++it->second.session;
      it->second.last_ts = std::max(it->second.last_ts, ev.ts);
    }
    auto& b = out_.buffer();
    b += R"({"v":1,"event":{"name":)";
    append_json_string(b, names_[ev.type]);
    b += R"(,"ts":")";
    append_iso8601_ms(b, ev.ts);
    b += R"("},"visitor":{"id":)";
    append_json_string(b, ev.user);
    b += R"(,"session":)";
    scratch_.assign("s-");
    scratch_ += ev.user;
    scratch_ += '-';
    append_int(scratch_, static_cast<std::int64_t>(it->second.session));
    append_json_string(b, scratch_);
    b += R"(},"product":{"id":)";
    append_json_string(b, ev.item);
    if (purchase_ != 0 && ev.type == purchase_) {
      b += R"(,"quantity":)";
      append_quantity(b, ev.value);
    }
    b += R"(},"page":{"url":)";
    scratch_.assign("https://shop.example/p/");
    append_url_encoded(scratch_, ev.item);
    append_json_string(b, scratch_);
    b += "}}\n";
    out_.maybe_flush();
  }

 private:
  struct visitor {
    std::int64_t last_ts;
    std::uint64_t session;
  };
  spelling_table names_;
  type_id purchase_;
  std::unordered_map<std::string, visitor> sessions_;
  std::string key_;
  std::string scratch_;
};

} // namespace

// -- validation ---------------------------------------------------------------

status validate(const generator_config& cfg) {
  auto fail = [](std::string msg) { return status{error{std::move(msg)}}; };
  // Written as !(ok) so NaN fails every check.
  if (cfg.users < 1 || cfg.users > max_population)
    return fail("--users must be between 1 and " +
                std::to_string(max_population) + " (got " +
                std::to_string(cfg.users) + ")");
  if (cfg.items < 1 || cfg.items > max_population)
    return fail("--items must be between 1 and " +
                std::to_string(max_population) + " (got " +
                std::to_string(cfg.items) + ")");
  if (!(cfg.zipf_s >= 0.0 && cfg.zipf_s <= 10.0))
    return fail("--zipf must be between 0 (uniform) and 10 (got " +
                fmt_number(cfg.zipf_s) + ")");
  if (!(cfg.start_ms >= 0 && cfg.start_ms <= max_start_ms))
    return fail("--start must be between 0 and " +
                std::to_string(max_start_ms) + " ms since the epoch (got " +
                std::to_string(cfg.start_ms) + ")");
  if (!(cfg.hours * 60.0 >= 1.0 && cfg.hours <= max_hours))
    return fail("--hours must be between 1/60 (one minute) and " +
                fmt_number(max_hours) + " (got " + fmt_number(cfg.hours) + ")");
  if (!(cfg.sessions_per_minute >= 0.0 && cfg.sessions_per_minute <= 1e6))
    return fail("--sessions-per-minute must be between 0 and 1e6 (got " +
                fmt_number(cfg.sessions_per_minute) + ")");
  if (!(cfg.daily_amplitude >= 0.0 && cfg.daily_amplitude <= 1.0))
    return fail("--daily-amplitude must be between 0 and 1 (got " +
                fmt_number(cfg.daily_amplitude) + ")");
  if (!(cfg.views_per_session >= 1.0 && cfg.views_per_session <= 1000.0))
    return fail("--views-per-session must be between 1 and 1000 (got " +
                fmt_number(cfg.views_per_session) + ")");
  if (!(cfg.p_cart >= 0.0 && cfg.p_cart <= 1.0))
    return fail("--p-cart must be between 0 and 1 (got " +
                fmt_number(cfg.p_cart) + ")");
  if (!(cfg.p_purchase >= 0.0 && cfg.p_purchase <= 1.0))
    return fail("--p-purchase must be between 0 and 1 (got " +
                fmt_number(cfg.p_purchase) + ")");
  if (cfg.surges > surge_eligible(cfg.items))
    return fail(
        "--surges must be <= " + std::to_string(surge_eligible(cfg.items)) +
        " for --items " + std::to_string(cfg.items) +
        " (surge items are distinct and drawn below the top 1% of ranks; got " +
        std::to_string(cfg.surges) + ")");
  if (!(cfg.surge_factor >= 1.0 && cfg.surge_factor <= 1e4))
    return fail("--surge-factor must be between 1 and 10000 (got " +
                fmt_number(cfg.surge_factor) + ")");
  if (!(cfg.surge_minutes > 0.0 && cfg.surge_minutes <= max_hours * 60.0))
    return fail("--surge-minutes must be > 0 and at most " +
                fmt_number(max_hours * 60.0) + " (got " +
                fmt_number(cfg.surge_minutes) + ")");
  return {};
}

status validate(const generator_config& cfg,
                const interaction_registry& registry) {
  if (auto st = validate(cfg); !st) return st;
  if (auto types = resolve_types(registry); !types) return types.err();
  return {};
}

// -- generation ---------------------------------------------------------------

expected<std::vector<surge>> try_generate(const generator_config& cfg,
                                          const interaction_registry& registry,
                                          event_sink& sink) {
  if (auto st = validate(cfg); !st) return error{st.message()};
  auto types = resolve_types(registry);
  if (!types) return types.err();
  simulation sim(cfg, *types, sink);
  return sim.run();
}

std::vector<surge> generate(const generator_config& cfg,
                            const interaction_registry& registry,
                            event_sink& sink) {
  auto result = try_generate(cfg, registry, sink);
  if (!result) {
    std::fprintf(stderr, "eddy::generate: %s\n", result.err().message.c_str());
    EDDY_ASSERT(result.has_value() &&
                "generate() needs a config that validate() accepts");
  }
  return std::move(result).value();
}

// -- files --------------------------------------------------------------------

status write_surges_csv(const std::vector<surge>& surges,
                        const std::string& path) {
  out_file out;
  if (auto st = out.open(path); !st) return st;
  auto& b = out.buffer();
  b += "item,start_ms,end_ms,factor\n";
  for (const auto& s : surges) {
    append_csv_field(b, s.item);
    b += ',';
    append_int(b, s.start_ms);
    b += ',';
    append_int(b, s.end_ms);
    b += ',';
    b += fmt_number(s.factor);
    b += '\n';
  }
  std::string why;
  if (!out.close(&why)) return error{why};
  return {};
}

std::optional<source_shape> parse_source_shape(std::string_view name) {
  if (name == "retailrocket") return source_shape::retailrocket;
  if (name == "taobao") return source_shape::taobao;
  if (name == "pixel") return source_shape::pixel;
  return std::nullopt;
}

std::string_view to_string(source_shape shape) {
  switch (shape) {
  case source_shape::retailrocket:
    return "retailrocket";
  case source_shape::taobao:
    return "taobao";
  case source_shape::pixel:
    return "pixel";
  }
  return "?";
}

expected<std::unique_ptr<event_sink>>
open_shape_writer(source_shape shape, const std::string& path,
                  const interaction_registry& registry) {
  std::unique_ptr<shape_writer> w;
  switch (shape) {
  case source_shape::retailrocket:
    w = std::make_unique<retailrocket_writer>(registry);
    break;
  case source_shape::taobao:
    w = std::make_unique<taobao_writer>(registry);
    break;
  case source_shape::pixel:
    w = std::make_unique<pixel_writer>(registry);
    break;
  }
  if (!w) return error{"unknown source shape"};
  if (auto st = w->open(path); !st) return error{st.message()};
  return std::unique_ptr<event_sink>{std::move(w)};
}

} // namespace eddy

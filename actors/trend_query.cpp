#include "actors/trend_query.hpp"

#include "schema/interactions.hpp"
#include "schema/writers.hpp"

#include <msgpack.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <tuple>

namespace eddy::actors {

namespace {

using kind = trend_request::kind;

struct command_info {
  const char* name;
  kind what;
  const char* keys; // accepted argument keys, for the error message
};

constexpr command_info commands[] = {
  {"trending", kind::trending, "k, type, min_support, as_of"},
  {"popular", kind::popular, "k, type, by, as_of"},
  {"series", kind::series, "item, type, as_of"},
  {"tstats", kind::stats, "as_of"},
};

int hex(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// %XX decoding (items may contain '&' or '='); a bad escape is an error.
expected<std::string> unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    int hi = i + 2 < s.size() ? hex(s[i + 1]) : -1;
    int lo = i + 2 < s.size() ? hex(s[i + 2]) : -1;
    if (hi < 0 || lo < 0)
      return error{"bad %-escape in '" + std::string{s} + "'; write a byte as %XX"};
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

bool takes(const command_info& c, std::string_view key) {
  std::string_view keys{c.keys};
  for (std::size_t pos = 0; pos < keys.size();) {
    auto comma = keys.find(", ", pos);
    auto k = keys.substr(pos, comma == std::string_view::npos ? std::string_view::npos
                                                              : comma - pos);
    if (k == key)
      return true;
    if (comma == std::string_view::npos)
      break;
    pos = comma + 2;
  }
  return false;
}

template <class T>
bool parse_number(const std::string& s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

void append_number(std::string& j, double x) {
  if (!std::isfinite(x)) {
    j += "null";
    return;
  }
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, x);
  j.append(buf, ec == std::errc{} ? p : buf);
}

std::string type_name(const std::optional<std::uint8_t>& t,
                      const interaction_registry& registry) {
  return t ? std::string{registry.name(*t)} : std::string{"all"};
}

// Wire shapes (MessagePack arrays through msgpack-cxx's std adaptors).
using request_wire = std::tuple<int, std::uint64_t, std::int64_t, int, bool, double, std::string>;
using point_wire = std::tuple<std::int64_t, double, double, double, double, bool>;
using stats_wire = std::tuple<std::uint32_t, std::uint64_t, std::uint64_t, std::uint64_t,
                              std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t,
                              std::int64_t>;
using answer_wire = std::tuple<std::int64_t, std::uint64_t,
                               std::vector<std::pair<std::string, double>>,
                               std::vector<point_wire>, std::vector<stats_wire>>;

template <class T>
std::string pack(const T& v) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, v);
  return std::string{buf.data(), buf.size()};
}

template <class T>
expected<T> unpack(std::string_view bytes, const char* what) {
  try {
    auto oh = msgpack::unpack(bytes.data(), bytes.size());
    return oh.get().as<T>();
  } catch (const std::exception& e) {
    return error{std::string{"malformed "} + what + ": " + e.what()};
  }
}

} // namespace

expected<trend_request> parse_trend_request(std::string_view command, std::string_view args,
                                            const interaction_registry& registry) {
  const command_info* cmd = nullptr;
  for (auto& c : commands)
    if (command == c.name)
      cmd = &c;
  if (cmd == nullptr)
    return error{"unknown query '" + std::string{command} +
                 "'; use count, trending, popular, series or tstats"};
  trend_request r;
  r.what = cmd->what;
  bool have_item = false;
  std::size_t pos = 0;
  while (pos < args.size()) {
    auto amp = args.find('&', pos);
    auto pair = args.substr(pos, amp == std::string_view::npos ? std::string_view::npos
                                                               : amp - pos);
    pos = amp == std::string_view::npos ? args.size() : amp + 1;
    if (pair.empty())
      continue;
    auto eq = pair.find('=');
    auto key = std::string{pair.substr(0, eq)};
    auto raw = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    auto value = unescape(raw);
    if (!value)
      return value.err();
    auto bad = [&](const std::string& why) {
      return error{std::string{command} + ": " + key + "='" + *value + "' " + why};
    };
    if (!takes(*cmd, key))
      return error{std::string{command} + ": unknown argument '" + key + "'; it takes " +
                   cmd->keys};
    if (key == "k") {
      std::uint64_t k = 0;
      if (!parse_number(*value, k) || k < 1 || k > 10000)
        return bad("is not a count in 1..10000");
      r.q.k = k;
    } else if (key == "type") {
      if (*value == "all" || value->empty()) {
        r.q.type.reset();
      } else if (auto id = registry.resolve(*value)) {
        r.q.type = *id;
      } else {
        std::string names;
        for (auto& t : registry.types())
          names += (names.empty() ? "" : ", ") + t.name;
        return bad("is not an interaction type; use all or one of " + names);
      }
    } else if (key == "min_support") {
      double m = 0;
      if (!parse_number(*value, m) || !(m >= 0.0) || !std::isfinite(m))
        return bad("is not a number >= 0");
      r.q.min_support = m;
    } else if (key == "as_of") {
      std::int64_t t = 0;
      if (!parse_number(*value, t))
        return bad("is not an event time in ms since the epoch");
      r.q.as_of_ms = t;
    } else if (key == "by") {
      if (*value == "decayed")
        r.what = kind::decayed;
      else if (*value != "window")
        return bad("is not a ranking; use window (counts over the popularity window) "
                   "or decayed (exponentially decayed totals)");
    } else if (key == "item") {
      if (value->empty())
        return bad("is empty; name the item");
      r.item = *value;
      have_item = true;
    }
  }
  if (r.what == kind::series && !have_item)
    return error{"series: which item? pass item=ITEM"};
  return r;
}

std::string encode_trend_request(const trend_request& r) {
  return pack(request_wire{static_cast<int>(r.what), r.q.k, r.q.as_of_ms,
                           r.q.type ? int{*r.q.type} : -1, r.q.min_support.has_value(),
                           r.q.min_support.value_or(0.0), r.item});
}

expected<trend_request> decode_trend_request(std::string_view bytes) {
  auto w = unpack<request_wire>(bytes, "trend request");
  if (!w)
    return w.err();
  auto& [what, k, as_of, type, has_min, min, item] = *w;
  if (what < 0 || what > static_cast<int>(kind::stats) || type < -1 || type > 255)
    return error{"malformed trend request: field out of range"};
  trend_request r;
  r.what = static_cast<kind>(what);
  r.q.k = k;
  r.q.as_of_ms = as_of;
  if (type >= 0)
    r.q.type = static_cast<std::uint8_t>(type);
  if (has_min)
    r.q.min_support = min;
  r.item = std::move(item);
  return r;
}

std::string encode_trend_answer(const trend_answer& a) {
  answer_wire w;
  std::get<0>(w) = a.max_event_ms;
  std::get<1>(w) = a.top.capacity();
  for (auto& e : a.top.items())
    std::get<2>(w).emplace_back(e.key, e.score);
  for (auto& p : a.series)
    std::get<3>(w).emplace_back(p.bucket, p.count, p.forecast, p.spread, p.score, p.closed);
  for (auto& s : a.shards)
    std::get<4>(w).emplace_back(s.shard, s.items, s.tracked_series, s.bytes, s.stats.accepted,
                                s.stats.late, s.stats.rejected, s.digest, s.max_event_ms);
  return pack(w);
}

expected<trend_answer> decode_trend_answer(std::string_view bytes) {
  auto w = unpack<answer_wire>(bytes, "trend answer");
  if (!w)
    return w.err();
  trend_answer a;
  a.max_event_ms = std::get<0>(*w);
  a.top = models::top_k<std::string>{std::get<1>(*w)};
  for (auto& [key, score] : std::get<2>(*w))
    a.top.push(key, score);
  for (auto& [bucket, count, forecast, spread, score, closed] : std::get<3>(*w))
    a.series.push_back({bucket, count, forecast, spread, score, closed});
  for (auto& [shard, items, series, bytes_, acc, late, rej, digest, max] : std::get<4>(*w))
    a.shards.push_back({shard, items, series, bytes_, {acc, late, rej}, digest, max});
  return a;
}

trend_answer empty_answer(const trend_request& r) {
  trend_answer a;
  a.top = models::top_k<std::string>{r.q.k};
  return a;
}

void merge_trend_answer(trend_answer& into, const trend_answer& from) {
  if (from.max_event_ms != models::no_time &&
      (into.max_event_ms == models::no_time || from.max_event_ms > into.max_event_ms))
    into.max_event_ms = from.max_event_ms;
  into.top.merge(from.top);
  if (into.series.empty())
    into.series = from.series;
  into.shards.insert(into.shards.end(), from.shards.begin(), from.shards.end());
}

std::string trend_answer_json(const trend_request& r, const trend_answer& a,
                              const query_meta& meta, const interaction_registry& registry) {
  std::string j = "{\"query\":";
  const char* name = "tstats";
  for (auto& c : commands)
    if (c.what == r.what)
      name = c.name;
  if (r.what == kind::decayed)
    name = "popular";
  append_json_string(j, name);
  j += ",\"queried_by\":";
  append_json_string(j, meta.queried_by);
  j += ",\"complete\":";
  j += meta.unreachable.empty() ? "true" : "false";
  j += ",\"unreachable\":[";
  for (std::size_t i = 0; i < meta.unreachable.size(); ++i) {
    j += i ? "," : "";
    append_json_string(j, meta.unreachable[i]);
  }
  j += "],\"as_of_ms\":";
  j += r.q.as_of_ms == models::no_time ? std::string{"null"} : std::to_string(r.q.as_of_ms);
  j += ",\"bucket_ms\":" + std::to_string(meta.bucket_ms);
  j += ",\"lateness_ms\":" + std::to_string(meta.lateness_ms);
  j += ",\"type\":";
  append_json_string(j, type_name(r.q.type, registry));
  if (r.what == kind::trending || r.what == kind::popular || r.what == kind::decayed) {
    const char* measure = r.what == kind::trending  ? "score"
                          : r.what == kind::popular ? "count"
                                                    : "decayed_count";
    j += ",\"ranking\":";
    append_json_string(j, r.what == kind::trending  ? "trending"
                          : r.what == kind::popular ? "window"
                                                    : "decayed");
    j += ",\"k\":" + std::to_string(r.q.k);
    if (r.q.min_support) {
      j += ",\"min_support\":";
      append_number(j, *r.q.min_support);
    }
    j += ",\"items\":[";
    std::size_t rank = 0;
    for (auto& e : a.top.items()) {
      j += rank ? ",{" : "{";
      j += "\"rank\":" + std::to_string(++rank) + ",\"item\":";
      append_json_string(j, e.key);
      j += ",\"";
      j += measure;
      j += "\":";
      append_number(j, e.score);
      j += "}";
    }
    j += "]";
  } else if (r.what == kind::series) {
    j += ",\"item\":";
    append_json_string(j, r.item);
    j += ",\"known\":";
    j += a.series.empty() ? "false" : "true";
    j += ",\"points\":[";
    for (std::size_t i = 0; i < a.series.size(); ++i) {
      auto& p = a.series[i];
      j += i ? ",{" : "{";
      j += "\"bucket_start_ms\":" + std::to_string(p.bucket * meta.bucket_ms);
      j += ",\"count\":";
      append_number(j, p.count);
      j += ",\"forecast\":";
      append_number(j, p.forecast);
      j += ",\"spread\":";
      append_number(j, p.spread);
      j += ",\"score\":";
      append_number(j, p.score);
      j += ",\"closed\":";
      j += p.closed ? "true" : "false";
      j += "}";
    }
    j += "]";
  } else if (r.what == kind::stats) {
    std::uint64_t items = 0, series = 0, bytes = 0, acc = 0, late = 0, rej = 0;
    for (auto& s : a.shards) {
      items += s.items;
      series += s.tracked_series;
      bytes += s.bytes;
      acc += s.stats.accepted;
      late += s.stats.late;
      rej += s.stats.rejected;
    }
    j += ",\"items\":" + std::to_string(items) + ",\"tracked_series\":" +
         std::to_string(series) + ",\"bytes\":" + std::to_string(bytes) +
         ",\"bytes_per_series\":";
    append_number(j, series ? static_cast<double>(bytes) / static_cast<double>(series) : 0.0);
    j += ",\"accepted\":" + std::to_string(acc) + ",\"late\":" + std::to_string(late) +
         ",\"rejected\":" + std::to_string(rej) + ",\"shards\":[";
    auto shards = a.shards;
    std::sort(shards.begin(), shards.end(),
              [](auto& x, auto& y) { return x.shard < y.shard; });
    for (std::size_t i = 0; i < shards.size(); ++i) {
      auto& s = shards[i];
      char digest[17];
      std::snprintf(digest, sizeof digest, "%016llx",
                    static_cast<unsigned long long>(s.digest));
      j += i ? ",{" : "{";
      j += "\"shard\":" + std::to_string(s.shard) + ",\"items\":" + std::to_string(s.items) +
           ",\"tracked_series\":" + std::to_string(s.tracked_series) +
           ",\"bytes\":" + std::to_string(s.bytes) +
           ",\"accepted\":" + std::to_string(s.stats.accepted) +
           ",\"late\":" + std::to_string(s.stats.late) +
           ",\"rejected\":" + std::to_string(s.stats.rejected) + ",\"digest\":\"" + digest +
           "\",\"max_event_ms\":" +
           (s.max_event_ms == models::no_time ? std::string{"null"}
                                              : std::to_string(s.max_event_ms)) +
           "}";
    }
    j += "]";
  }
  j += "}";
  return j;
}

} // namespace eddy::actors

#include "schema/normalizer.hpp"

#include "schema/csv.hpp"
#include "schema/interactions.hpp"
#include "schema/json_source.hpp"
#include "schema/timestamp.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <simdjson.h>

namespace eddy {

namespace {

// One source field as read from a record, before conversion.
struct raw_field {
  enum class kind : std::uint8_t { absent, text, integer, floating, other };
  kind k = kind::absent;
  std::string_view text; // kind::text, and the decimal text of kind::integer
  double number = 0;     // kind::integer and kind::floating
  const char* json_type = "";
};

enum class outcome : std::uint8_t { event, filtered, reject };

// Fast UTF-8 check: most records are ASCII, which needs no SIMD validator.
bool valid_utf8(std::string_view s) {
  const char* p = s.data();
  std::size_t n = s.size(), i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (w & 0x8080808080808080ull)
      return simdjson::validate_utf8(p, n);
  }
  for (; i < n; ++i)
    if (static_cast<unsigned char>(p[i]) & 0x80)
      return simdjson::validate_utf8(p, n);
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Field slots: the event's fields, then one per filter.
enum slot : std::size_t { s_user, s_item, s_type, s_ts, s_value, s_filters };
constexpr const char* slot_key[] = {"fields.user", "fields.item", "fields.type",
                                    "fields.ts", "fields.value"};

} // namespace

struct normalizer::impl {
  source_mapping m;
  const interaction_registry* reg = nullptr;
  std::optional<time_parser> tp;
  std::vector<std::pair<std::string, type_id>> aliases; // mapping's own
  type_id unknown = 0;                                  // 0 = reject unknown types
  std::vector<const field_spec*> specs;                 // by slot
  // Exact source spellings seen recently -> id (0 = unknown). Bounded.
  std::vector<std::pair<std::string, type_id>> type_cache;
  // Per-run CSV column of each slot (npos = constant / not configured).
  std::vector<std::size_t> columns;
  simdjson::dom::parser parser;
  std::string detail;
  char numbuf[3][24]; // integer JSON ids rendered as text (user, item, type)

  type_id lookup_type(std::string_view raw);
  template <class Get>
  outcome build(Get&& get, event_view& ev, reject_reason& why);
  bool keep(const filter_spec& f, const raw_field& v) const;
  void explain(std::size_t slot, const raw_field& v, const char* what);
};

type_id normalizer::impl::lookup_type(std::string_view raw) {
  for (auto& [spelling, id] : type_cache)
    if (spelling == raw)
      return id;
  type_id id = 0;
  auto low = ascii_lower(raw);
  for (auto& [alias, target] : aliases)
    if (alias == low) {
      id = target;
      break;
    }
  if (id == 0) {
    if (auto r = reg->resolve(low))
      id = *r;
    else
      id = unknown;
  }
  if (type_cache.size() < 64)
    type_cache.emplace_back(std::string{raw}, id);
  return id;
}

bool normalizer::impl::keep(const filter_spec& f, const raw_field& v) const {
  using o = filter_spec::op;
  bool present = v.k != raw_field::kind::absent;
  auto in_values = [&] {
    if (!present)
      return false;
    for (auto& x : f.values)
      if (x == v.text)
        return true;
    return false;
  };
  switch (f.test) {
    case o::present:
      return present;
    case o::absent:
      return !present;
    case o::equals:
    case o::in:
      return in_values();
    case o::not_equals:
    case o::not_in:
      return !in_values();
  }
  return true;
}

void normalizer::impl::explain(std::size_t slot, const raw_field& v,
                               const char* what) {
  detail.clear();
  detail += slot_key[slot];
  detail += " (";
  detail += specs[slot]->describe();
  detail += ")";
  if (v.k == raw_field::kind::text || v.k == raw_field::kind::integer) {
    detail += " = '";
    detail.append(v.text.substr(0, 64));
    if (v.text.size() > 64)
      detail += "...";
    detail += "'";
  }
  detail += ": ";
  detail += what;
}

template <class Get>
outcome normalizer::impl::build(Get&& get, event_view& ev, reject_reason& why) {
  for (std::size_t i = 0; i < m.filters.size(); ++i)
    if (!keep(m.filters[i], get(s_filters + i)))
      return outcome::filtered;
  auto fail = [&](reject_reason r, std::size_t slot, const raw_field& v,
                  const char* what) {
    why = r;
    explain(slot, v, what);
    return outcome::reject;
  };
  // user and item: non-empty text (JSON integers are taken as their digits).
  std::string_view ids[2];
  for (std::size_t slot : {s_user, s_item}) {
    raw_field v = get(slot);
    switch (v.k) {
      case raw_field::kind::absent:
        return fail(reject_reason::missing_field, slot, v, "missing");
      case raw_field::kind::floating:
        return fail(reject_reason::wrong_field_type, slot, v,
                    "a number with a fraction cannot be an id");
      case raw_field::kind::other:
        return fail(reject_reason::wrong_field_type, slot, v,
                    "expected a string or an integer");
      default:
        break;
    }
    if (v.text.empty())
      return fail(reject_reason::empty_id, slot, v, "empty id");
    if (v.text.size() > m.limits.max_id_bytes)
      return fail(reject_reason::id_too_long, slot, v,
                  "id longer than limits.max_id_bytes");
    ids[slot] = v.text;
  }
  raw_field t = get(s_type);
  if (t.k == raw_field::kind::absent)
    return fail(reject_reason::missing_field, s_type, t, "missing");
  if (t.k == raw_field::kind::other || t.k == raw_field::kind::floating)
    return fail(reject_reason::wrong_field_type, s_type, t,
                "expected a type name");
  type_id type = lookup_type(t.text);
  if (type == 0)
    return fail(reject_reason::unknown_type, s_type, t,
                "not a type in configs/interactions.toml nor in the mapping's "
                "[types] aliases (add an alias, or set types.unknown)");
  raw_field ts = get(s_ts);
  std::int64_t ms = 0;
  const char* bad_time = nullptr;
  switch (ts.k) {
    case raw_field::kind::absent:
      return fail(reject_reason::missing_field, s_ts, ts, "missing");
    case raw_field::kind::other:
      return fail(reject_reason::wrong_field_type, s_ts, ts,
                  "expected a time (string or number)");
    case raw_field::kind::text:
      if (!tp->parse(ts.text, ms, bad_time))
        return fail(reject_reason::bad_timestamp, s_ts, ts, bad_time);
      break;
    default:
      if (!tp->parse_number(ts.number, ms, bad_time))
        return fail(reject_reason::bad_timestamp, s_ts, ts, bad_time);
  }
  float value = m.value_default;
  if (m.value.present()) {
    raw_field v = get(s_value);
    switch (v.k) {
      case raw_field::kind::absent:
        break; // optional: the default applies
      case raw_field::kind::other:
        return fail(reject_reason::bad_value, s_value, v, "expected a number");
      case raw_field::kind::text: {
        auto s = trim(v.text);
        if (s.empty())
          break; // an empty cell means "no value"
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
        if (ec != std::errc{} || p != s.data() + s.size() || !std::isfinite(value))
          return fail(reject_reason::bad_value, s_value, v,
                      "not a finite number");
        break;
      }
      default:
        value = static_cast<float>(v.number);
        if (!std::isfinite(value))
          return fail(reject_reason::bad_value, s_value, v,
                      "not a finite float32 number");
    }
  }
  ev = event_view{ids[0], ids[1], type, ms, value};
  return outcome::event;
}

normalizer::normalizer(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
normalizer::normalizer(normalizer&&) noexcept = default;
normalizer& normalizer::operator=(normalizer&&) noexcept = default;
normalizer::~normalizer() = default;

const source_mapping& normalizer::mapping() const { return impl_->m; }

expected<normalizer> normalizer::make(const source_mapping& m,
                                      const interaction_registry& registry) {
  auto p = std::make_unique<impl>();
  p->m = m;
  p->reg = &registry;
  auto tp = time_parser::make(m.time);
  if (!tp)
    return error{m.origin + ": " + tp.err().message};
  p->tp.emplace(std::move(*tp));
  for (auto& [alias, target] : m.type_aliases) {
    auto id = registry.resolve(target);
    if (!id)
      return error{m.origin + ": types.aliases." + alias + ": '" + target +
                   "' is not a canonical type (see configs/interactions.toml)"};
    p->aliases.emplace_back(alias, *id);
  }
  if (!m.unknown_type.empty()) {
    auto id = registry.resolve(m.unknown_type);
    if (!id)
      return error{m.origin + ": types.unknown: '" + m.unknown_type +
                   "' is neither \"reject\" nor a canonical type"};
    p->unknown = *id;
  }
  p->specs = {&p->m.user, &p->m.item, &p->m.type, &p->m.ts, &p->m.value};
  for (auto& f : p->m.filters)
    p->specs.push_back(&f.field);
  if (m.format != source_format::csv) {
    if (auto err = p->parser.allocate(m.limits.max_line_bytes, m.limits.max_depth))
      return error{m.origin + ": cannot allocate the JSON parser for "
                              "limits.max_line_bytes = " +
                   std::to_string(m.limits.max_line_bytes) + ": " +
                   simdjson::error_message(err)};
  }
  return normalizer{std::move(p)};
}

namespace {

void emit_reject(reject_sink& rejects, normalize_stats& stats,
                 const std::string& source, reject_reason r, std::string_view detail,
                 std::string_view raw, std::uint64_t line, std::uint64_t offset) {
  ++stats.rejects[static_cast<std::size_t>(r)];
  rejects.on_reject(reject_record{source, line, offset, raw, r, detail});
}

// Maps each column-kind slot to its index in this file's header.
status resolve_columns(const std::vector<const field_spec*>& specs,
                       const csv_record* header, const std::string& source,
                       std::vector<std::size_t>& columns) {
  columns.assign(specs.size(), std::numeric_limits<std::size_t>::max());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    auto& f = *specs[i];
    if (f.from == field_spec::kind::index) {
      columns[i] = f.index;
    } else if (f.from == field_spec::kind::column) {
      bool found = false;
      for (std::size_t c = 0; header && c < header->fields.size(); ++c)
        if (trim(header->fields[c]) == f.column) {
          columns[i] = c;
          found = true;
          break;
        }
      if (!found) {
        std::string cols;
        for (std::size_t c = 0; header && c < header->fields.size(); ++c)
          cols += (c ? ", " : "") + std::string{header->fields[c].substr(0, 64)};
        return error{"'" + source + "': the header has no column '" + f.column +
                     "' (needed by " +
                     (i < s_filters ? std::string{slot_key[i]}
                                    : "filter[" + std::to_string(i - s_filters) +
                                        "]") +
                     "); its columns are: " + cols};
      }
    }
  }
  return {};
}

} // namespace

status normalizer::run(byte_source& src, event_sink& events, reject_sink& rejects,
                       normalize_stats& stats, const progress_fn& progress) {
  auto& p = *impl_;
  const auto& source = src.name();
  const std::uint64_t bytes_before = stats.bytes;
  std::uint64_t next_progress = stats.records + 65536;
  // Asks the source for its position only when a report is due: for gzip that
  // is a system call.
  auto tick = [&] {
    if (progress && stats.records >= next_progress) {
      next_progress = stats.records + 65536;
      auto snapshot = stats;
      snapshot.bytes = bytes_before + src.consumed();
      progress(snapshot);
    }
  };
  auto deliver = [&](outcome o, const event_view& ev, reject_reason why,
                     std::string_view raw, std::uint64_t line, std::uint64_t off) {
    switch (o) {
      case outcome::event:
        ++stats.events;
        events.on_event(ev);
        break;
      case outcome::filtered:
        ++stats.filtered;
        break;
      case outcome::reject:
        emit_reject(rejects, stats, source, why, p.detail, raw, line, off);
        break;
    }
  };
  event_view ev;
  reject_reason why{};
  read_reject rr;

  if (p.m.format == source_format::csv) {
    csv_reader rd{src, p.m.csv, p.m.limits.max_line_bytes};
    csv_record rec;
    bool need_header = p.m.csv.header;
    if (!need_header)
      (void)resolve_columns(p.specs, nullptr, source, p.columns);
    const auto npos = std::numeric_limits<std::size_t>::max();
    auto get = [&](std::size_t slot) {
      raw_field v;
      const auto& f = *p.specs[slot];
      if (f.from == field_spec::kind::constant) {
        v.k = raw_field::kind::text;
        v.text = f.constant;
      } else if (auto c = p.columns[slot]; c != npos && c < rec.fields.size()) {
        v.k = raw_field::kind::text;
        v.text = rec.fields[c];
      }
      return v;
    };
    for (;;) {
      auto st = rd.next(rec, rr);
      if (st == read_status::end)
        break;
      if (st == read_status::failed) {
        stats.skipped_lines += rd.skipped_lines();
        stats.bytes = bytes_before + src.consumed();
        return error{rd.error_message()};
      }
      if (st == read_status::record && need_header) {
        need_header = false;
        if (auto s = resolve_columns(p.specs, &rec, source, p.columns); !s) {
          stats.bytes = bytes_before + src.consumed();
          return s;
        }
        continue;
      }
      ++stats.records;
      if (st == read_status::reject) {
        emit_reject(rejects, stats, source, rr.reason, rr.detail, rr.raw, rr.line,
                    rr.offset);
      } else if (!valid_utf8(rec.raw)) {
        emit_reject(rejects, stats, source, reject_reason::invalid_utf8,
                    "the record is not valid UTF-8 (convert the file, e.g. "
                    "iconv -f LATIN1 -t UTF-8)",
                    rec.raw, rec.line, rec.offset);
      } else {
        auto o = p.build(get, ev, why);
        if (o == outcome::reject && why == reject_reason::missing_field) {
          p.detail += " (the record has " + std::to_string(rec.fields.size()) +
                      " columns)";
        }
        deliver(o, ev, why, rec.raw, rec.line, rec.offset);
      }
      tick();
    }
    stats.skipped_lines += rd.skipped_lines();
    stats.bytes = bytes_before + src.consumed();
    return {};
  }

  // JSON Lines and JSON arrays: each record is parsed on its own by simdjson.
  simdjson::dom::element root;
  auto get = [&](std::size_t slot) {
    raw_field v;
    const auto& f = *p.specs[slot];
    if (f.from == field_spec::kind::constant) {
      v.k = raw_field::kind::text;
      v.text = f.constant;
      return v;
    }
    if (f.from != field_spec::kind::pointer)
      return v;
    auto r = root.at_pointer(f.pointer);
    if (r.error())
      return v;
    auto el = r.value_unsafe();
    using T = simdjson::dom::element_type;
    switch (el.type()) {
      case T::STRING:
        v.k = raw_field::kind::text;
        v.text = el.get_string().value_unsafe();
        break;
      case T::INT64:
      case T::UINT64: {
        v.k = raw_field::kind::integer;
        v.number = el.get_double().value_unsafe();
        char* buf = p.numbuf[slot < 3 ? slot : 2];
        auto res = el.type() == T::INT64
                     ? std::to_chars(buf, buf + 24, el.get_int64().value_unsafe())
                     : std::to_chars(buf, buf + 24, el.get_uint64().value_unsafe());
        v.text = std::string_view{buf, static_cast<std::size_t>(res.ptr - buf)};
        break;
      }
      case T::DOUBLE:
        v.k = raw_field::kind::floating;
        v.number = el.get_double().value_unsafe();
        break;
      case T::NULL_VALUE:
        break; // null counts as missing
      case T::BOOL:
        v.k = raw_field::kind::other;
        v.json_type = "boolean";
        break;
      case T::ARRAY:
        v.k = raw_field::kind::other;
        v.json_type = "array";
        break;
      case T::OBJECT:
        v.k = raw_field::kind::other;
        v.json_type = "object";
        break;
    }
    return v;
  };
  auto one = [&](std::string_view text, std::uint64_t line, std::uint64_t off) {
    ++stats.records;
    auto err = p.parser.parse(text.data(), text.size(), false).get(root);
    if (err) {
      reject_reason r = reject_reason::malformed_json;
      if (err == simdjson::UTF8_ERROR)
        r = reject_reason::invalid_utf8;
      else if (err == simdjson::DEPTH_ERROR)
        r = reject_reason::too_deep;
      p.detail = std::string{"not valid JSON: "} + simdjson::error_message(err);
      emit_reject(rejects, stats, source, r, p.detail, text, line, off);
      return;
    }
    if (!root.is_object()) {
      p.detail = "the record is not a JSON object";
      emit_reject(rejects, stats, source, reject_reason::wrong_field_type,
                  p.detail, text, line, off);
      return;
    }
    auto o = p.build(get, ev, why);
    deliver(o, ev, why, text, line, off);
  };
  auto finish = [&](read_status st, const std::string& msg) -> status {
    stats.bytes = bytes_before + src.consumed();
    if (st == read_status::failed)
      return error{msg};
    return {};
  };
  if (p.m.format == source_format::jsonl) {
    line_reader rd{src, p.m.limits.max_line_bytes};
    std::string_view line;
    std::uint64_t line_no = 0, off = 0;
    for (;;) {
      auto st = rd.next(line, line_no, off, rr);
      if (st == read_status::end || st == read_status::failed) {
        stats.skipped_lines += rd.skipped_lines();
        return finish(st, rd.error_message());
      }
      if (st == read_status::reject) {
        ++stats.records;
        emit_reject(rejects, stats, source, rr.reason, rr.detail, rr.raw, rr.line,
                    rr.offset);
      } else {
        one(line, line_no, off);
      }
      tick();
    }
  }
  json_array_reader rd{src, p.m.limits.max_line_bytes};
  std::string_view element;
  std::uint64_t off = 0;
  for (;;) {
    auto st = rd.next(element, off, rr);
    if (st == read_status::end || st == read_status::failed)
      return finish(st, rd.error_message());
    if (st == read_status::reject) {
      ++stats.records;
      emit_reject(rejects, stats, source, rr.reason, rr.detail, rr.raw, 0,
                  rr.offset);
    } else {
      one(element, 0, off);
    }
    tick();
  }
}

} // namespace eddy

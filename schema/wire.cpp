#include "schema/wire.hpp"

#include "schema/interactions.hpp"

#include <msgpack.hpp>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <type_traits>

namespace eddy::wire {

namespace {

// ---------------------------------------------------------------------------
// Encoder: a tiny MessagePack writer.
//
// msgpack::packer + sbuffer would copy every frame once more and check capacity
// on every byte; the event shape is fixed, so we compute the exact size first,
// grow the string once and write through a raw pointer. Every helper picks the
// smallest encoding MessagePack allows (what msgpack-python does too), which
// makes the output deterministic: same events -> same bytes, in any language.
// ---------------------------------------------------------------------------

constexpr std::size_t uint_size(std::uint64_t v) noexcept {
  if (v < 0x80) return 1;         // positive fixint
  if (v <= 0xff) return 2;        // uint 8
  if (v <= 0xffff) return 3;      // uint 16
  if (v <= 0xffffffffu) return 5; // uint 32
  return 9;                       // uint 64
}

constexpr std::size_t int_size(std::int64_t v) noexcept {
  // Non-negative integers use the unsigned family: that is the smallest
  // encoding.
  if (v >= 0) return uint_size(static_cast<std::uint64_t>(v));
  if (v >= -32) return 1; // negative fixint
  if (v >= std::numeric_limits<std::int8_t>::min()) return 2;
  if (v >= std::numeric_limits<std::int16_t>::min()) return 3;
  if (v >= std::numeric_limits<std::int32_t>::min()) return 5;
  return 9;
}

constexpr std::size_t str_header_size(std::size_t n) noexcept {
  return n < 32 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
}

constexpr std::size_t container_header_size(std::size_t n) noexcept {
  return n < 16 ? 1 : n <= 0xffff ? 3 : 5;
}

inline char* put_be16(char* p, std::uint16_t v) noexcept {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
  return p + 2;
}

inline char* put_be32(char* p, std::uint32_t v) noexcept {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
  return p + 4;
}

inline char* put_be64(char* p, std::uint64_t v) noexcept {
  p = put_be32(p, static_cast<std::uint32_t>(v >> 32));
  return put_be32(p, static_cast<std::uint32_t>(v));
}

inline char* put_uint(char* p, std::uint64_t v) noexcept {
  if (v < 0x80) {
    *p++ = static_cast<char>(v);
  } else if (v <= 0xff) {
    *p++ = static_cast<char>(0xcc);
    *p++ = static_cast<char>(v);
  } else if (v <= 0xffff) {
    *p++ = static_cast<char>(0xcd);
    p = put_be16(p, static_cast<std::uint16_t>(v));
  } else if (v <= 0xffffffffu) {
    *p++ = static_cast<char>(0xce);
    p = put_be32(p, static_cast<std::uint32_t>(v));
  } else {
    *p++ = static_cast<char>(0xcf);
    p = put_be64(p, v);
  }
  return p;
}

inline char* put_int(char* p, std::int64_t v) noexcept {
  if (v >= 0) return put_uint(p, static_cast<std::uint64_t>(v));
  if (v >= -32) {
    *p++ = static_cast<char>(v); // negative fixint: 0xe0..0xff
  } else if (v >= std::numeric_limits<std::int8_t>::min()) {
    *p++ = static_cast<char>(0xd0);
    *p++ = static_cast<char>(v);
  } else if (v >= std::numeric_limits<std::int16_t>::min()) {
    *p++ = static_cast<char>(0xd1);
    p = put_be16(p, static_cast<std::uint16_t>(v));
  } else if (v >= std::numeric_limits<std::int32_t>::min()) {
    *p++ = static_cast<char>(0xd2);
    p = put_be32(p, static_cast<std::uint32_t>(v));
  } else {
    *p++ = static_cast<char>(0xd3);
    p = put_be64(p, static_cast<std::uint64_t>(v));
  }
  return p;
}

// Ids are short: 4 to 32 bytes are copied inline by two overlapping moves
// instead of a call into memcpy per string, which was the largest cost of
// encoding a shard log record.
inline void put_bytes(char* p, const char* s, std::size_t n) noexcept {
  if (n > 16 && n <= 32) {
    char a[16], b[16];
    std::memcpy(a, s, 16);
    std::memcpy(b, s + n - 16, 16);
    std::memcpy(p, a, 16);
    std::memcpy(p + n - 16, b, 16);
  } else if (n >= 8 && n <= 16) {
    std::uint64_t a, b;
    std::memcpy(&a, s, 8);
    std::memcpy(&b, s + n - 8, 8);
    std::memcpy(p, &a, 8);
    std::memcpy(p + n - 8, &b, 8);
  } else if (n >= 4 && n < 8) {
    std::uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    std::memcpy(p, &a, 4);
    std::memcpy(p + n - 4, &b, 4);
  } else if (n != 0) {
    std::memcpy(p, s, n);
  }
}

inline char* put_str(char* p, std::string_view s) noexcept {
  auto n = s.size();
  if (n < 32) {
    *p++ = static_cast<char>(0xa0 | n);
  } else if (n <= 0xff) {
    *p++ = static_cast<char>(0xd9);
    *p++ = static_cast<char>(n);
  } else if (n <= 0xffff) {
    *p++ = static_cast<char>(0xda);
    p = put_be16(p, static_cast<std::uint16_t>(n));
  } else {
    *p++ = static_cast<char>(0xdb);
    p = put_be32(p, static_cast<std::uint32_t>(n));
  }
  put_bytes(p, s.data(), n);
  return p + n;
}

inline char* put_container(char* p, std::size_t n, std::uint8_t fix,
                           std::uint8_t m16, std::uint8_t m32) noexcept {
  if (n < 16) {
    *p++ = static_cast<char>(fix | n);
  } else if (n <= 0xffff) {
    *p++ = static_cast<char>(m16);
    p = put_be16(p, static_cast<std::uint16_t>(n));
  } else {
    *p++ = static_cast<char>(m32);
    p = put_be32(p, static_cast<std::uint32_t>(n));
  }
  return p;
}

inline char* put_float32(char* p, float v) noexcept {
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  *p++ = static_cast<char>(0xca);
  return put_be32(p, bits);
}

// `value` is omitted when it is exactly the default: most events carry no
// strength, and 5 bytes per event are ~15% of a typical one.
inline bool has_value(const event_view& ev) noexcept {
  return ev.value != 1.0f;
}

inline std::size_t event_size(const event_view& ev) noexcept {
  // map header + 4 one-byte keys + fields (+ key and float32 for value)
  return 1 + 4 + str_header_size(ev.user.size()) + ev.user.size() +
         str_header_size(ev.item.size()) + ev.item.size() + uint_size(ev.type) +
         int_size(ev.ts) + (has_value(ev) ? 1 + 5 : 0);
}

inline char* put_event(char* p, const event_view& ev) noexcept {
  bool v = has_value(ev);
  *p++ = static_cast<char>(0x80 | (v ? 5 : 4)); // fixmap
  *p++ = static_cast<char>(event_key::user);
  p = put_str(p, ev.user);
  *p++ = static_cast<char>(event_key::item);
  p = put_str(p, ev.item);
  *p++ = static_cast<char>(event_key::type);
  p = put_uint(p, ev.type);
  *p++ = static_cast<char>(event_key::ts);
  p = put_int(p, ev.ts);
  if (v) {
    *p++ = static_cast<char>(event_key::value);
    p = put_float32(p, ev.value);
  }
  return p;
}

// Grows `out` by `n` bytes and returns where they start. Capacity grows
// geometrically ourselves: reserve() is allowed to allocate exactly, which
// would make appending many frames to one buffer quadratic.
inline char* grow(std::string& out, std::size_t n) {
  auto old = out.size();
  if (old + n > out.capacity())
    out.reserve(std::max(old + n, 2 * out.capacity()));
  out.resize(old + n);
  return out.data() + old;
}

// ---------------------------------------------------------------------------
// Decoder helpers.
// ---------------------------------------------------------------------------

// First (and kept) chunk of each thread's decoding zone. An event costs ~260
// bytes of msgpack objects, so 1 MiB holds a ~4000-event batch without any
// malloc; bigger batches allocate extra chunks that are freed after the call.
// Pages are only touched as far as frames need them.
constexpr std::size_t zone_chunk_bytes = 1024 * 1024;

constexpr std::int64_t max_ts_exclusive = 4102444800000; // 2100-01-01T00:00:00Z

// What a decoder reads; names the frame in error messages.
enum class frame_kind { batch, ack };

error frame_error(std::string what, frame_kind kind = frame_kind::batch) {
  return error{std::string{kind == frame_kind::batch
                               ? "invalid eddy wire frame: "
                               : "invalid eddy ack frame: "} +
               std::move(what)};
}

error ack_error(std::string what) {
  return frame_error(std::move(what), frame_kind::ack);
}

error version_error(std::uint8_t v, frame_kind kind = frame_kind::batch) {
  return frame_error(
      "unsupported wire version " + std::to_string(v) +
          " (this build reads versions 1.." + std::to_string(current_version) +
          (kind == frame_kind::batch
               ? "); upgrade eddy or have the producer write version " +
                     std::to_string(current_version)
               : "); the node writes a newer version: upgrade this producer's "
                 "eddy wire code"),
      kind);
}

// Points str/bin/ext objects into the caller's frame instead of copying them
// into the zone: the frame outlives the object tree, and ids are copied once,
// into the events, anyway.
bool reference_everything(msgpack::type::object_type, std::size_t, void*) {
  return true;
}

const char* type_name(const msgpack::object& o) {
  switch (o.type) {
  case msgpack::type::NIL:
    return "nil";
  case msgpack::type::BOOLEAN:
    return "bool";
  case msgpack::type::POSITIVE_INTEGER:
    return "uint";
  case msgpack::type::NEGATIVE_INTEGER:
    return "negative int";
  case msgpack::type::FLOAT32:
    return "float32";
  case msgpack::type::FLOAT64:
    return "float64";
  case msgpack::type::STR:
    return "str";
  case msgpack::type::BIN:
    return "bin";
  case msgpack::type::ARRAY:
    return "array";
  case msgpack::type::MAP:
    return "map";
  case msgpack::type::EXT:
    return "ext";
  }
  return "?";
}

constexpr std::uint64_t first_unknown_key = 16; // keys >= 16 are skipped

// A map key of a map with `nknown` defined keys must be a non-negative integer
// outside the reserved range nknown..15. (Hot path: no strings built here.)
inline bool key_ok(const msgpack::object& k, std::uint64_t nknown) {
  return k.type == msgpack::type::POSITIVE_INTEGER &&
         (k.via.u64 < nknown || k.via.u64 >= first_unknown_key);
}

// Why key_ok() refused `k`.
std::string key_problem(const msgpack::object& k, std::uint64_t nknown) {
  if (k.type != msgpack::type::POSITIVE_INTEGER)
    return std::string{"has a key of type "} + type_name(k) +
           "; keys must be non-negative integers";
  if (k.via.u64 >= nknown && k.via.u64 < first_unknown_key)
    return "uses reserved key " + std::to_string(k.via.u64) + " (keys " +
           std::to_string(nknown) +
           "..15 are reserved for future versions; extensions use keys >= 16)";
  return "is fine"; // not reached: only called when key_ok() is false
}

// Ids are short and nearly always ASCII: checking 8 bytes at a time for a high
// bit is several times cheaper than the call into simdjson, which validates
// everything else.
bool valid_utf8(const msgpack::object& o) {
  const char* p = o.via.str.ptr;
  std::size_t n = o.via.str.size, i = 0;
  std::uint64_t high = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    high |= w;
  }
  for (; i < n; ++i)
    high |= static_cast<unsigned char>(p[i]);
  if ((high & 0x8080808080808080ull) == 0)
    return true;
  return simdjson::validate_utf8(p, n);
}

struct reject_info {
  const char* reason = nullptr;
  std::string detail;
};

constexpr const char* event_field_names[] = {"user", "item", "type", "ts",
                                             "value"};

std::string field_label(std::size_t key) {
  return std::string{"'"} + event_field_names[key] + "' (key " +
         std::to_string(key) + ")";
}

// Validates one event map and fills `ev`; returns a reject reason on failure.
// `fields` holds the value of each known key (nullptr when absent).
// `Event` is eddy::event (ids copied) or eddy::event_view (ids point into the frame).
template <class Event>
reject_info read_event(const std::array<const msgpack::object*, 5>& fields,
                       const limits& lim, const interaction_registry* registry,
                       Event& ev) {
  // Required fields first, so a missing one is reported before type problems of
  // later fields: the order is fixed (key order), which keeps rejects stable.
  for (std::size_t k = 0; k < 4; ++k)
    if (fields[k] == nullptr)
      return {"missing_field", "field " + field_label(k) + " is missing"};

  for (std::size_t k = 0; k < 2; ++k) {
    const auto& o = *fields[k];
    if (o.type != msgpack::type::STR)
      return {"wrong_field_type", "field " + field_label(k) +
                                      " must be a str, got " + type_name(o)};
    if (o.via.str.size == 0)
      return {"empty_id", "field " + field_label(k) + " is empty"};
    if (o.via.str.size > lim.max_id_bytes)
      return {"id_too_long", "field " + field_label(k) + " has " +
                                 std::to_string(o.via.str.size) +
                                 " bytes (limit " +
                                 std::to_string(lim.max_id_bytes) + ")"};
    if (!valid_utf8(o))
      return {"invalid_utf8",
              "field " + field_label(k) + " is not valid UTF-8"};
  }

  const auto& t = *fields[2];
  if (t.type == msgpack::type::NEGATIVE_INTEGER ||
      (t.type == msgpack::type::POSITIVE_INTEGER &&
       (t.via.u64 == 0 || t.via.u64 > 255)))
    return {"unknown_type", "field 'type' (key 2) is " +
                                (t.type == msgpack::type::NEGATIVE_INTEGER
                                     ? std::to_string(t.via.i64)
                                     : std::to_string(t.via.u64)) +
                                "; type ids are 1..255"};
  if (t.type != msgpack::type::POSITIVE_INTEGER)
    return {"wrong_field_type",
            std::string{"field 'type' (key 2) must be an integer, got "} +
                type_name(t)};
  auto id = static_cast<type_id>(t.via.u64);
  if (registry != nullptr && !registry->contains(id))
    return {"unknown_type", "type id " + std::to_string(id) +
                                " is not in the interaction registry"};

  const auto& ts = *fields[3];
  std::int64_t when = 0;
  if (ts.type == msgpack::type::POSITIVE_INTEGER) {
    if (ts.via.u64 >= static_cast<std::uint64_t>(max_ts_exclusive))
      return {"bad_timestamp", "ts " + std::to_string(ts.via.u64) +
                                   " ms is in or after the year 2100"};
    when = static_cast<std::int64_t>(ts.via.u64);
  } else if (ts.type == msgpack::type::NEGATIVE_INTEGER) {
    return {"bad_timestamp",
            "ts " + std::to_string(ts.via.i64) + " ms is before 1970-01-01"};
  } else {
    return {"wrong_field_type",
            std::string{"field 'ts' (key 3) must be an integer, got "} +
                type_name(ts)};
  }

  float value = 1.0f;
  if (const auto* v = fields[4]) {
    switch (v->type) {
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      // A double beyond float's range becomes inf here and is rejected below.
      value = static_cast<float>(v->via.f64);
      break;
    case msgpack::type::POSITIVE_INTEGER:
      value = static_cast<float>(v->via.u64);
      break;
    case msgpack::type::NEGATIVE_INTEGER:
      value = static_cast<float>(v->via.i64);
      break;
    default:
      return {"wrong_field_type",
              std::string{"field 'value' (key 4) must be a number, got "} +
                  type_name(*v)};
    }
    if (!std::isfinite(value))
      return {"bad_value", "field 'value' (key 4) is not a finite float32"};
  }

  if constexpr (std::is_same_v<Event, event_view>) {
    ev.user = std::string_view{fields[0]->via.str.ptr, fields[0]->via.str.size};
    ev.item = std::string_view{fields[1]->via.str.ptr, fields[1]->via.str.size};
  } else {
    ev.user.assign(fields[0]->via.str.ptr, fields[0]->via.str.size);
    ev.item.assign(fields[1]->via.str.ptr, fields[1]->via.str.size);
  }
  ev.type = id;
  ev.ts = when;
  ev.value = value;
  return {};
}

// `Batch` is wire::batch or wire::batch_view.
template <class Batch>
expected<Batch> decode_tree(const msgpack::object& root, const limits& lim,
                            const interaction_registry* registry) {
  if (root.type != msgpack::type::MAP)
    return frame_error(
        std::string{"the value after the version byte must be a map, got "} +
        type_name(root));

  const msgpack::object* producer = nullptr;
  const msgpack::object* seq = nullptr;
  const msgpack::object* events = nullptr;
  const msgpack::object** slots[] = {&producer, &seq, &events};
  static constexpr const char* names[] = {"producer", "seq", "events"};

  for (std::uint32_t i = 0; i < root.via.map.size; ++i) {
    const auto& kv = root.via.map.ptr[i];
    if (!key_ok(kv.key, 3))
      return frame_error("the batch map " + key_problem(kv.key, 3));
    if (kv.key.via.u64 >= 3) continue; // unknown extension key
    auto*& slot = *slots[kv.key.via.u64];
    if (slot != nullptr)
      return frame_error(std::string{"the batch map repeats key "} +
                         std::to_string(kv.key.via.u64) + " ('" +
                         names[kv.key.via.u64] + "')");
    slot = &kv.val;
  }
  for (std::size_t k = 0; k < 3; ++k)
    if (*slots[k] == nullptr)
      return frame_error(std::string{"the batch map has no '"} + names[k] +
                         "' (key " + std::to_string(k) + ")");

  if (producer->type != msgpack::type::STR)
    return frame_error(std::string{"'producer' (key 0) must be a str, got "} +
                       type_name(*producer));
  if (producer->via.str.size == 0)
    return frame_error("'producer' (key 0) is empty");
  if (producer->via.str.size > lim.max_producer_bytes)
    return frame_error(
        "'producer' (key 0) has " + std::to_string(producer->via.str.size) +
        " bytes, over the limit of " + std::to_string(lim.max_producer_bytes));
  if (!valid_utf8(*producer))
    return frame_error("'producer' (key 0) is not valid UTF-8");
  if (seq->type != msgpack::type::POSITIVE_INTEGER)
    return frame_error(std::string{"'seq' (key 1) must be a uint64, got "} +
                       type_name(*seq));
  if (events->type != msgpack::type::ARRAY)
    return frame_error(std::string{"'events' (key 2) must be an array, got "} +
                       type_name(*events));
  // The parser already enforces this (array limit); kept for clarity should the
  // parser limits ever be set differently.
  if (events->via.array.size > lim.max_events)
    return frame_error(
        "the batch has " + std::to_string(events->via.array.size) +
        " events, over the limit of " + std::to_string(lim.max_events));

  Batch out;
  out.producer = std::string_view{producer->via.str.ptr, producer->via.str.size};
  out.seq = seq->via.u64;
  out.events.reserve(events->via.array.size);

  typename decltype(out.events)::value_type ev;
  for (std::uint32_t i = 0; i < events->via.array.size; ++i) {
    const auto& e = events->via.array.ptr[i];
    auto where = [&] { return "event " + std::to_string(i); };
    if (e.type != msgpack::type::MAP)
      return frame_error(where() + " must be a map, got " + type_name(e));
    std::array<const msgpack::object*, 5> fields{};
    for (std::uint32_t j = 0; j < e.via.map.size; ++j) {
      const auto& kv = e.via.map.ptr[j];
      if (!key_ok(kv.key, 5))
        return frame_error(where() + " " + key_problem(kv.key, 5));
      if (kv.key.via.u64 >= 5) continue;
      auto& slot = fields[kv.key.via.u64];
      if (slot != nullptr)
        return frame_error(where() + " repeats key " +
                           std::to_string(kv.key.via.u64));
      slot = &kv.val;
    }
    auto r = read_event(fields, lim, registry, ev);
    if (r.reason != nullptr)
      out.rejects.push_back(event_reject{i, r.reason, std::move(r.detail)});
    else
      out.events.push_back(std::move(ev)); // ev is reassigned next round
  }
  return out;
}

// ---------------------------------------------------------------------------
// Fast path for batch frames in their common shape, straight from the bytes.
//
// Building msgpack-cxx's object tree was over a third of a node's ingest CPU.
// Nearly every frame is a map of fixint keys holding a str, an int and an array
// of event maps whose values are scalars: this reads exactly that, fills the
// same per-field msgpack::object values the tree would hold, and hands each
// event to the same read_event(), so rejects and values are identical. Anything
// else (a frame error, a container or ext value, a key that is not a fixint, a
// repeated or reserved key, trailing bytes, any limit) returns nullopt, and the
// general decoder decides and names the problem. The fuzz target checks that
// both agree on every input the fast path accepts.
// ---------------------------------------------------------------------------

class fast_reader {
public:
  explicit fast_reader(std::string_view bytes)
      : p_(reinterpret_cast<const unsigned char*>(bytes.data())),
        end_(p_ + bytes.size()) {}

  bool at_end() const { return p_ == end_; }

  // Container headers: false if the next value is not a map (array).
  bool map_header(std::uint32_t& n) { return header(0x80, 0xde, n); }
  bool array_header(std::uint32_t& n) { return header(0x90, 0xdc, n); }

  // A key: only a positive fixint.
  bool key(std::uint64_t& k) {
    if (p_ == end_ || *p_ > 0x7f) return false;
    k = *p_++;
    return true;
  }

  // A scalar value as msgpack-cxx's tree would hold it (str and bin point into
  // the frame). False for containers, ext, 0xc1 and truncation.
  bool scalar(msgpack::object& o) {
    if (p_ == end_) return false;
    const unsigned char b = *p_++;
    if (b <= 0x7f) return positive(o, b);
    if (b >= 0xe0) return negative(o, static_cast<std::int8_t>(b));
    if (b >= 0xa0 && b <= 0xbf) return str(o, msgpack::type::STR, b & 0x1f);
    switch (b) {
    case 0xc0: o.type = msgpack::type::NIL; return true;
    case 0xc2: o.type = msgpack::type::BOOLEAN; o.via.boolean = false; return true;
    case 0xc3: o.type = msgpack::type::BOOLEAN; o.via.boolean = true; return true;
    case 0xc4: return sized_str(o, msgpack::type::BIN, 1);
    case 0xc5: return sized_str(o, msgpack::type::BIN, 2);
    case 0xc6: return sized_str(o, msgpack::type::BIN, 4);
    case 0xca: {
      std::uint64_t bits;
      if (!be(4, bits)) return false;
      float f;
      auto b32 = static_cast<std::uint32_t>(bits);
      std::memcpy(&f, &b32, 4);
      o.type = msgpack::type::FLOAT32;
      o.via.f64 = f;
      return true;
    }
    case 0xcb: {
      std::uint64_t bits;
      if (!be(8, bits)) return false;
      o.type = msgpack::type::FLOAT64;
      std::memcpy(&o.via.f64, &bits, 8);
      return true;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
      std::uint64_t v;
      return be(std::size_t{1} << (b - 0xcc), v) && positive(o, v);
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
      const std::size_t n = std::size_t{1} << (b - 0xd0);
      std::uint64_t v;
      if (!be(n, v)) return false;
      // Sign-extend the n-byte big-endian value.
      const unsigned shift = static_cast<unsigned>(64 - 8 * n);
      return negative(o, static_cast<std::int64_t>(v << shift) >> shift);
    }
    case 0xd9: return sized_str(o, msgpack::type::STR, 1);
    case 0xda: return sized_str(o, msgpack::type::STR, 2);
    case 0xdb: return sized_str(o, msgpack::type::STR, 4);
    default: return false; // containers, ext, 0xc1
    }
  }

private:
  // A big-endian unsigned of n = 1, 2, 4 or 8 bytes.
  bool be(std::size_t n, std::uint64_t& v) {
    if (static_cast<std::size_t>(end_ - p_) < n) return false;
    switch (n) {
    case 1: v = *p_; break;
    case 2: v = load<std::uint16_t>(); break;
    case 4: v = load<std::uint32_t>(); break;
    default: v = load<std::uint64_t>(); break;
    }
    p_ += n;
    return true;
  }
  template <class U>
  std::uint64_t load() const {
    static_assert(std::endian::native == std::endian::little, "swaps bytes for a little-endian host");
    U x;
    std::memcpy(&x, p_, sizeof x);
    if constexpr (sizeof(U) == 2) return __builtin_bswap16(x);
    else if constexpr (sizeof(U) == 4) return __builtin_bswap32(x);
    else return __builtin_bswap64(x);
  }
  bool header(unsigned char fix, unsigned char wide16, std::uint32_t& n) {
    if (p_ == end_) return false;
    const unsigned char b = *p_;
    std::uint64_t v = 0;
    if ((b & 0xf0) == fix) {
      ++p_;
      n = b & 0x0f;
      return true;
    }
    if (b != wide16 && b != wide16 + 1) return false;
    ++p_;
    if (!be(b == wide16 ? 2 : 4, v)) return false;
    n = static_cast<std::uint32_t>(v);
    return true;
  }
  static bool positive(msgpack::object& o, std::uint64_t v) {
    o.type = msgpack::type::POSITIVE_INTEGER;
    o.via.u64 = v;
    return true;
  }
  // msgpack-cxx stores a non-negative signed int as a positive one.
  static bool negative(msgpack::object& o, std::int64_t v) {
    if (v >= 0) return positive(o, static_cast<std::uint64_t>(v));
    o.type = msgpack::type::NEGATIVE_INTEGER;
    o.via.i64 = v;
    return true;
  }
  bool str(msgpack::object& o, msgpack::type::object_type t, std::uint64_t n) {
    if (static_cast<std::uint64_t>(end_ - p_) < n) return false;
    o.type = t;
    o.via.str.ptr = reinterpret_cast<const char*>(p_); // bin's layout is the same
    o.via.str.size = static_cast<std::uint32_t>(n);
    p_ += n;
    return true;
  }
  bool sized_str(msgpack::object& o, msgpack::type::object_type t, std::size_t len_bytes) {
    std::uint64_t n;
    return be(len_bytes, n) && str(o, t, n);
  }

  const unsigned char* p_;
  const unsigned char* end_;
};

template <class Batch>
std::optional<Batch> decode_fast(std::string_view frame, const limits& lim,
                                 const interaction_registry* registry) {
  // Depth 4 is the default limit, under which the general decoder reads this
  // shape (3 levels); lower limits are left to it.
  if (frame.size() < 2 || frame.size() > lim.max_frame_bytes || lim.max_depth < 4)
    return std::nullopt;
  const auto version = static_cast<std::uint8_t>(frame[0]);
  if (version == 0 || version > current_version) return std::nullopt;
  fast_reader in{frame.substr(1)};

  std::uint32_t n = 0;
  if (!in.map_header(n) || n > lim.max_map_entries) return std::nullopt;
  std::string_view producer;
  std::uint64_t seq = 0;
  bool seen[3] = {false, false, false};
  std::uint32_t events = 0;
  Batch out;
  // The events array is read in place, so it must come last (it always does
  // from eddy's encoders; other orders take the general decoder).
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint64_t k;
    if (!in.key(k) || (k >= 3 && k < first_unknown_key) || (k < 3 && seen[k]))
      return std::nullopt;
    if (k == static_cast<std::uint64_t>(batch_key::events)) {
      if (i + 1 != n || !in.array_header(events) || events > lim.max_events)
        return std::nullopt;
      seen[k] = true;
      break;
    }
    msgpack::object v;
    if (!in.scalar(v)) return std::nullopt;
    if (k == static_cast<std::uint64_t>(batch_key::producer)) {
      if (v.type != msgpack::type::STR || v.via.str.size == 0 ||
          v.via.str.size > lim.max_producer_bytes || !valid_utf8(v))
        return std::nullopt;
      producer = std::string_view{v.via.str.ptr, v.via.str.size};
    } else if (k == static_cast<std::uint64_t>(batch_key::seq)) {
      if (v.type != msgpack::type::POSITIVE_INTEGER) return std::nullopt;
      seq = v.via.u64;
    }
    if (k < 3) seen[k] = true;
  }
  if (!seen[0] || !seen[1] || !seen[2]) return std::nullopt;
  out.producer = producer;
  out.seq = seq;
  out.events.reserve(events);

  typename decltype(out.events)::value_type ev;
  for (std::uint32_t i = 0; i < events; ++i) {
    std::uint32_t m;
    if (!in.map_header(m) || m > lim.max_map_entries) return std::nullopt;
    std::array<msgpack::object, 5> values; // set before fields[k] points at one
    std::array<const msgpack::object*, 5> fields{};
    for (std::uint32_t j = 0; j < m; ++j) {
      std::uint64_t k;
      if (!in.key(k) || (k >= 5 && k < first_unknown_key)) return std::nullopt;
      msgpack::object v;
      if (!in.scalar(v)) return std::nullopt;
      if (k >= 5) continue; // an extension key: skipped, as the tree decoder does
      if (fields[k] != nullptr) return std::nullopt;
      values[k] = v;
      fields[k] = &values[k];
    }
    auto r = read_event(fields, lim, registry, ev);
    if (r.reason != nullptr)
      out.rejects.push_back(event_reject{i, r.reason, std::move(r.detail)});
    else
      out.events.push_back(std::move(ev));
  }
  if (!in.at_end()) return std::nullopt;
  return out;
}

// ---------------------------------------------------------------------------
// Skipper for frame_length: walks MessagePack without building anything, with
// the same limits the decoder's parser uses, so "frame_length says n" and
// "decode_batch parses those n bytes" agree.
// ---------------------------------------------------------------------------

enum class skip_result { done, need_more, failed };

struct skipper {
  skipper(std::string_view bytes, const limits& l)
      : data(reinterpret_cast<const unsigned char*>(bytes.data())),
        size(bytes.size()), lim(l) {}

  const unsigned char* data;
  std::size_t size; // bytes available
  const limits& lim;
  std::size_t pos = 1; // after the version byte
  std::string why;

  // Makes sure n more bytes starting at pos exist; fails if they never can,
  // because the frame would grow beyond max_frame_bytes.
  skip_result need(std::uint64_t n) {
    if (n > lim.max_frame_bytes || pos > lim.max_frame_bytes - n) {
      why = "the frame is larger than max_frame_bytes (" +
            std::to_string(lim.max_frame_bytes) + ")";
      return skip_result::failed;
    }
    return pos + n <= size ? skip_result::done : skip_result::need_more;
  }

  std::uint64_t be(std::size_t at, std::size_t n) const {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i)
      v = (v << 8) | data[at + i];
    return v;
  }

  skip_result fail(std::string what) {
    why = std::move(what) + " at offset " + std::to_string(pos);
    return skip_result::failed;
  }

  skip_result run() {
    // Items still to read in each open container (a map counts keys and
    // values). The depth limit bounds this stack; frames are small, so the
    // common case stays on the stack of this function.
    constexpr std::size_t inline_depth = 32;
    std::uint64_t small[inline_depth];
    std::vector<std::uint64_t> big;
    std::uint64_t* stack = small;
    if (lim.max_depth > inline_depth) {
      big.resize(lim.max_depth);
      stack = big.data();
    }
    std::size_t depth = 0;

    do {
      if (auto r = need(1); r != skip_result::done) return r;
      const auto b = data[pos];
      std::size_t len_bytes = 0; // size of the length field after the type byte
      std::uint64_t payload = 0; // bytes after type byte and length field
      std::uint64_t children = 0; // items of a container
      bool container = false, is_map = false, ext = false;

      if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        // fixint, nil, bool: the type byte is the whole value
      } else if (b <= 0x8f) {
        container = is_map = true;
        children = b & 0x0f;
      } else if (b <= 0x9f) {
        container = true;
        children = b & 0x0f;
      } else if (b <= 0xbf) {
        payload = b & 0x1f; // fixstr
      } else {
        // clang-format off
        switch (b) {
        case 0xc4: case 0xd9: len_bytes = 1; break; // bin8, str8
        case 0xc5: case 0xda: len_bytes = 2; break; // bin16, str16
        case 0xc6: case 0xdb: len_bytes = 4; break; // bin32, str32
        case 0xc7: len_bytes = 1; ext = true; break; // ext8
        case 0xc8: len_bytes = 2; ext = true; break; // ext16
        case 0xc9: len_bytes = 4; ext = true; break; // ext32
        case 0xca: payload = 4; break;              // float32
        case 0xcb: payload = 8; break;              // float64
        case 0xcc: case 0xd0: payload = 1; break;   // (u)int8
        case 0xcd: case 0xd1: payload = 2; break;   // (u)int16
        case 0xce: case 0xd2: payload = 4; break;   // (u)int32
        case 0xcf: case 0xd3: payload = 8; break;   // (u)int64
        case 0xd4: payload = 2; break;              // fixext 1 (+ ext type)
        case 0xd5: payload = 3; break;              // fixext 2
        case 0xd6: payload = 5; break;              // fixext 4
        case 0xd7: payload = 9; break;              // fixext 8
        case 0xd8: payload = 17; break;             // fixext 16
        case 0xdc: len_bytes = 2; container = true; break;          // array16
        case 0xdd: len_bytes = 4; container = true; break;          // array32
        case 0xde: len_bytes = 2; container = is_map = true; break; // map16
        case 0xdf: len_bytes = 4; container = is_map = true; break; // map32
        default: // 0xc1 is the one byte MessagePack never uses
          return fail("invalid MessagePack type byte 0xc1");
        }
        // clang-format on
        if (len_bytes > 0) {
          if (auto r = need(1 + len_bytes); r != skip_result::done) return r;
          auto n = be(pos + 1, len_bytes);
          if (container)
            children = n;
          else
            payload = ext ? n + 1 : n; // ext data follows a one-byte ext type
        }
      }

      if (pos == 1 && !is_map)
        return fail("the value after the version byte must be a map");

      if (container) {
        auto max = is_map ? lim.max_map_entries : lim.max_events;
        if (children > max)
          return fail(std::string{is_map ? "a map" : "an array"} + " with " +
                      std::to_string(children) +
                      " entries, over the limit of " + std::to_string(max) +
                      (is_map ? " (max_map_entries)," : " (max_events),"));
        if (depth + 1 > lim.max_depth)
          return fail("nesting deeper than max_depth (" +
                      std::to_string(lim.max_depth) + ")");
        pos += 1 + len_bytes; // need() above (or the fix forms) covered these
        if (children == 0) {
          // An empty container is finished at once: it is one item of its
          // parent.
          while (depth > 0 && --stack[depth - 1] == 0)
            --depth;
        } else {
          stack[depth++] = is_map ? 2 * children : children;
        }
      } else {
        if (auto r = need(1 + len_bytes + payload); r != skip_result::done)
          return r;
        pos += 1 + len_bytes + static_cast<std::size_t>(payload);
        while (depth > 0 && --stack[depth - 1] == 0)
          --depth;
      }
    } while (depth > 0);
    return skip_result::done;
  }
};

} // namespace

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

void encode_event(const event_view& ev, std::string& out) {
  char* p = grow(out, event_size(ev));
  put_event(p, ev);
}

namespace {

std::size_t batch_header_size(std::string_view producer, std::uint64_t seq,
                              std::size_t count) noexcept {
  return 1 /*version*/ + 1 /*fixmap 3*/ + 1 + str_header_size(producer.size()) +
         producer.size() + 1 + uint_size(seq) + 1 + container_header_size(count);
}

char* put_batch_header(char* p, std::string_view producer, std::uint64_t seq,
                       std::size_t count) noexcept {
  *p++ = static_cast<char>(current_version);
  *p++ = static_cast<char>(0x83);
  *p++ = static_cast<char>(batch_key::producer);
  p = put_str(p, producer);
  *p++ = static_cast<char>(batch_key::seq);
  p = put_uint(p, seq);
  *p++ = static_cast<char>(batch_key::events);
  return put_container(p, count, 0x90, 0xdc, 0xdd);
}

} // namespace

void encode_batch_header(std::string_view producer, std::uint64_t seq,
                         std::size_t count, std::string& out) {
  put_batch_header(grow(out, batch_header_size(producer, seq, count)), producer,
                   seq, count);
}

void encode_batch(std::string_view producer, std::uint64_t seq,
                  std::span<const event_view> events, std::string& out) {
  std::size_t n = batch_header_size(producer, seq, events.size());
  for (const auto& ev : events)
    n += event_size(ev);
  char* p = grow(out, n);
  char* const end = p + n;
  p = put_batch_header(p, producer, seq, events.size());
  for (const auto& ev : events)
    p = put_event(p, ev);
  EDDY_ASSERT(p == end);
}

namespace {

// Checks the frame's size and version byte, parses the MessagePack value after
// it (with the limits of `lim`) and hands the root object to `decode`. Every
// parser problem becomes an error naming `kind`; no exception escapes.
template <class T, class Decode>
expected<T> parse_frame(std::string_view frame, const limits& lim,
                        frame_kind kind, Decode&& decode) {
  auto fail = [kind](std::string what) {
    return expected<T>{frame_error(std::move(what), kind)};
  };
  if (frame.empty()) return fail("empty frame (truncated: no version byte)");
  if (frame.size() > lim.max_frame_bytes)
    return fail("the frame has " + std::to_string(frame.size()) +
                " bytes, over max_frame_bytes (" +
                std::to_string(lim.max_frame_bytes) + ")");
  auto version = static_cast<std::uint8_t>(frame[0]);
  if (version == 0 || version > current_version)
    return version_error(version, kind);
  if (frame.size() == 1)
    return fail("truncated frame: nothing after the version byte");

  // Arrays are limited by max_events (the only large array in a valid frame is
  // the event array, or an ack's rejects), maps by max_map_entries; strings
  // only by the frame size, so an over-long id is a per-event reject and an
  // over-long producer a clear error, not a parser error.
  msgpack::unpack_limit parser_limits(lim.max_events, lim.max_map_entries,
                                      lim.max_frame_bytes, lim.max_frame_bytes,
                                      lim.max_frame_bytes, lim.max_depth);
  // One zone per thread, cleared per frame: a fresh zone per call costs a round
  // of malloc/free (and page faults once glibc trims the heap) for every batch,
  // which was the largest cost of decoding. clear() keeps one chunk and frees
  // the rest, so an occasional huge frame does not pin its memory.
  struct clear_on_exit {
    msgpack::zone& z;
    ~clear_on_exit() { z.clear(); }
  };
  try {
    thread_local msgpack::zone zone{zone_chunk_bytes}; // may throw bad_alloc
    clear_on_exit clear{zone};
    std::size_t off = 1;
    bool referenced = false;
    msgpack::object root =
        msgpack::unpack(zone, frame.data(), frame.size(), off, referenced,
                        reference_everything, nullptr, parser_limits);
    if (off != frame.size())
      return fail(std::to_string(frame.size() - off) +
                  " trailing bytes after the map (a frame holds exactly one "
                  "map; use frame_length to split a stream)");
    return decode(root);
  } catch (const msgpack::insufficient_bytes&) {
    return fail("truncated frame: the map ends after the last byte (" +
                std::to_string(frame.size()) + " bytes)");
  } catch (const msgpack::array_size_overflow&) {
    return fail("an array has more than " + std::to_string(lim.max_events) +
                " entries (limit max_events)");
  } catch (const msgpack::map_size_overflow&) {
    return fail("a map has more than " + std::to_string(lim.max_map_entries) +
                " entries (limit max_map_entries)");
  } catch (const msgpack::depth_size_overflow&) {
    return fail("nesting deeper than max_depth (" +
                std::to_string(lim.max_depth) + ")");
  } catch (const msgpack::size_overflow&) {
    return fail("a str, bin or ext is larger than max_frame_bytes");
  } catch (const msgpack::parse_error&) {
    return fail("not valid MessagePack (type byte 0xc1)");
  } catch (const msgpack::unpack_error& e) {
    return fail(std::string{"not valid MessagePack: "} + e.what());
  } catch (const std::bad_alloc&) {
    return fail("out of memory while decoding");
  }
}

} // namespace

expected<batch> decode_batch(std::string_view frame, const limits& lim,
                             const interaction_registry* registry) {
  if (auto fast = decode_fast<batch>(frame, lim, registry)) return std::move(*fast);
  return detail::decode_batch_general(frame, lim, registry);
}

expected<batch> detail::decode_batch_general(std::string_view frame, const limits& lim,
                                             const interaction_registry* registry) {
  return parse_frame<batch>(frame, lim, frame_kind::batch,
                            [&](const msgpack::object& root) {
                              return decode_tree<batch>(root, lim, registry);
                            });
}

expected<batch_view> decode_batch_view(std::string_view frame, const limits& lim,
                                       const interaction_registry* registry) {
  if (auto fast = decode_fast<batch_view>(frame, lim, registry)) return std::move(*fast);
  return parse_frame<batch_view>(frame, lim, frame_kind::batch,
                                 [&](const msgpack::object& root) {
                                   return decode_tree<batch_view>(root, lim, registry);
                                 });
}

// ---------------------------------------------------------------------------
// Acks
// ---------------------------------------------------------------------------

std::string_view ack_status_name(ack_status s) noexcept {
  switch (s) {
  case ack_status::ok:
    return "ok";
  case ack_status::duplicate:
    return "duplicate";
  case ack_status::refused:
    return "refused";
  case ack_status::unavailable:
    return "unavailable";
  }
  return "unknown";
}

namespace {

constexpr std::uint64_t ack_keys = 6; // keys 0..5 are defined
constexpr const char* ack_field_names[ack_keys] = {
    "producer", "seq", "status", "stored", "rejects", "message"};
constexpr std::uint64_t max_ack_status =
    static_cast<std::uint64_t>(ack_status::unavailable);

std::string ack_label(std::size_t key) {
  return std::string{"'"} + ack_field_names[key] + "' (key " +
         std::to_string(key) + ")";
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if there is none
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  auto at = [&](std::size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0x100u;
  };
  auto cont = [](unsigned b) { return b >= 0x80 && b <= 0xbf; };
  unsigned b = at(0);
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return cont(at(1)) ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef) {
    unsigned lo = b == 0xe0 ? 0xa0 : 0x80, hi = b == 0xed ? 0x9f : 0xbf;
    return at(1) >= lo && at(1) <= hi && cont(at(2)) ? 3 : 0;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    unsigned lo = b == 0xf0 ? 0x90 : 0x80, hi = b == 0xf4 ? 0x8f : 0xbf;
    return at(1) >= lo && at(1) <= hi && cont(at(2)) && cont(at(3)) ? 4 : 0;
  }
  return 0;
}

// `s` if it is valid UTF-8; otherwise a copy in `keep` with every byte that
// starts no valid sequence replaced by U+FFFD. Acks must always decode, and
// their strings are str, so they must be UTF-8 (WIRE.md §2).
std::string_view valid_utf8_or_fixed(std::string_view s,
                                     std::vector<std::string>& keep) {
  if (simdjson::validate_utf8(s.data(), s.size())) return s;
  std::string fixed;
  fixed.reserve(s.size() + 8);
  for (std::size_t i = 0; i < s.size();) {
    if (auto n = utf8_sequence(s, i); n > 0) {
      fixed.append(s.substr(i, n));
      i += n;
    } else {
      fixed.append("\xef\xbf\xbd");
      ++i;
    }
  }
  keep.push_back(std::move(fixed));
  return keep.back();
}

expected<ack> decode_ack_tree(const msgpack::object& root, const limits& lim) {
  if (root.type != msgpack::type::MAP)
    return ack_error(
        std::string{"the value after the version byte must be a map, got "} +
        type_name(root));

  std::array<const msgpack::object*, ack_keys> fields{};
  for (std::uint32_t i = 0; i < root.via.map.size; ++i) {
    const auto& kv = root.via.map.ptr[i];
    if (!key_ok(kv.key, ack_keys))
      return ack_error("the ack map " + key_problem(kv.key, ack_keys));
    if (kv.key.via.u64 >= ack_keys) continue; // unknown extension key
    auto& slot = fields[kv.key.via.u64];
    if (slot != nullptr)
      return ack_error("the ack map repeats key " +
                       std::to_string(kv.key.via.u64) + " (" +
                       ack_label(kv.key.via.u64) + ")");
    slot = &kv.val;
  }
  for (std::size_t k = 0; k < 4; ++k) // producer, seq, status, stored
    if (fields[k] == nullptr)
      return ack_error("the ack map has no " + ack_label(k));

  ack out;
  const auto& producer = *fields[0];
  if (producer.type != msgpack::type::STR)
    return ack_error(ack_label(0) + " must be a str, got " +
                     type_name(producer));
  if (producer.via.str.size > lim.max_producer_bytes)
    return ack_error(
        ack_label(0) + " has " + std::to_string(producer.via.str.size) +
        " bytes, over the limit of " + std::to_string(lim.max_producer_bytes));
  if (!valid_utf8(producer))
    return ack_error(ack_label(0) + " is not valid UTF-8");
  out.producer.assign(producer.via.str.ptr, producer.via.str.size);

  for (std::size_t k : {1, 2, 3})
    if (fields[k]->type != msgpack::type::POSITIVE_INTEGER)
      return ack_error(ack_label(k) + " must be a uint, got " +
                       type_name(*fields[k]));
  out.seq = fields[1]->via.u64;
  if (fields[2]->via.u64 > max_ack_status)
    return ack_error(ack_label(2) + " is " +
                     std::to_string(fields[2]->via.u64) +
                     "; known values are 0 ok, 1 duplicate, 2 refused, 3 "
                     "unavailable");
  out.status = static_cast<ack_status>(fields[2]->via.u64);
  out.stored = fields[3]->via.u64;

  if (const auto* rejects = fields[4]) {
    if (rejects->type != msgpack::type::ARRAY)
      return ack_error(ack_label(4) + " must be an array, got " +
                       type_name(*rejects));
    out.rejects.reserve(rejects->via.array.size);
    for (std::uint32_t i = 0; i < rejects->via.array.size; ++i) {
      const auto& r = rejects->via.array.ptr[i];
      auto where = [&] { return "reject " + std::to_string(i); };
      if (r.type != msgpack::type::ARRAY || r.via.array.size != 2)
        return ack_error(
            where() + " must be an array of 2 elements [index, reason], got " +
            (r.type == msgpack::type::ARRAY
                 ? "an array of " + std::to_string(r.via.array.size)
                 : std::string{type_name(r)}));
      const auto& index = r.via.array.ptr[0];
      const auto& reason = r.via.array.ptr[1];
      if (index.type != msgpack::type::POSITIVE_INTEGER)
        return ack_error(where() + ": the index must be a uint, got " +
                         type_name(index));
      if (index.via.u64 > std::numeric_limits<std::uint32_t>::max())
        return ack_error(where() + ": the index " +
                         std::to_string(index.via.u64) +
                         " is above 4294967295 (uint32)");
      if (!out.rejects.empty() && index.via.u64 <= out.rejects.back().first)
        return ack_error(
            where() + ": the index " + std::to_string(index.via.u64) +
            " is not above the previous one (" +
            std::to_string(out.rejects.back().first) +
            "); rejects must be in strictly ascending index order");
      if (reason.type != msgpack::type::STR)
        return ack_error(where() + ": the reason must be a str, got " +
                         type_name(reason));
      if (!valid_utf8(reason))
        return ack_error(where() + ": the reason is not valid UTF-8");
      out.rejects.emplace_back(
          static_cast<std::uint32_t>(index.via.u64),
          std::string{reason.via.str.ptr, reason.via.str.size});
    }
  }

  if (const auto* message = fields[5]) {
    if (message->type != msgpack::type::STR)
      return ack_error(ack_label(5) + " must be a str, got " +
                       type_name(*message));
    if (!valid_utf8(*message))
      return ack_error(ack_label(5) + " is not valid UTF-8");
    out.message.assign(message->via.str.ptr, message->via.str.size);
  }
  return out;
}

} // namespace

void encode_ack(const ack& a, std::string& out) {
  EDDY_ASSERT(static_cast<std::uint64_t>(a.status) <= max_ack_status);
  std::vector<std::string> fixed;      // replacements for invalid UTF-8
  fixed.reserve(a.rejects.size() + 2); // views into it must stay valid
  auto producer = valid_utf8_or_fixed(a.producer, fixed);
  auto message = valid_utf8_or_fixed(a.message, fixed);

  // Rejects in ascending index order, each index once (the first wins).
  std::vector<std::pair<std::uint32_t, std::string_view>> rejects;
  rejects.reserve(a.rejects.size());
  for (const auto& [index, reason] : a.rejects)
    rejects.emplace_back(index, reason);
  if (!std::is_sorted(
          rejects.begin(), rejects.end(),
          [](const auto& x, const auto& y) { return x.first < y.first; }))
    std::stable_sort(
        rejects.begin(), rejects.end(),
        [](const auto& x, const auto& y) { return x.first < y.first; });
  rejects.erase(std::unique(rejects.begin(), rejects.end(),
                            [](const auto& x, const auto& y) {
                              return x.first == y.first;
                            }),
                rejects.end());
  for (auto& r : rejects)
    r.second = valid_utf8_or_fixed(r.second, fixed);

  const bool has_rejects = !rejects.empty();
  const bool has_message = !message.empty();
  std::size_t n = 1 /*version*/ + 1 /*fixmap*/ + 4 /*keys 0..3*/ +
                  str_header_size(producer.size()) + producer.size() +
                  uint_size(a.seq) + 1 /*status*/ + uint_size(a.stored);
  if (has_rejects) {
    n += 1 + container_header_size(rejects.size());
    for (const auto& [index, reason] : rejects)
      n += 1 /*fixarray 2*/ + uint_size(index) +
           str_header_size(reason.size()) + reason.size();
  }
  if (has_message) n += 1 + str_header_size(message.size()) + message.size();

  char* p = grow(out, n);
  char* const end = p + n;
  *p++ = static_cast<char>(current_version);
  *p++ = static_cast<char>(0x80 | (4 + has_rejects + has_message)); // fixmap
  *p++ = static_cast<char>(ack_key::producer);
  p = put_str(p, producer);
  *p++ = static_cast<char>(ack_key::seq);
  p = put_uint(p, a.seq);
  *p++ = static_cast<char>(ack_key::status);
  p = put_uint(p, static_cast<std::uint64_t>(a.status));
  *p++ = static_cast<char>(ack_key::stored);
  p = put_uint(p, a.stored);
  if (has_rejects) {
    *p++ = static_cast<char>(ack_key::rejects);
    p = put_container(p, rejects.size(), 0x90, 0xdc, 0xdd);
    for (const auto& [index, reason] : rejects) {
      *p++ = static_cast<char>(0x92); // fixarray, 2 elements
      p = put_uint(p, index);
      p = put_str(p, reason);
    }
  }
  if (has_message) {
    *p++ = static_cast<char>(ack_key::message);
    p = put_str(p, message);
  }
  EDDY_ASSERT(p == end);
}

expected<ack> decode_ack(std::string_view frame, const limits& lim) {
  return parse_frame<ack>(
      frame, lim, frame_kind::ack,
      [&](const msgpack::object& root) { return decode_ack_tree(root, lim); });
}

expected<std::size_t> frame_length(std::string_view bytes, const limits& lim) {
  if (bytes.empty()) return std::size_t{0};
  auto version = static_cast<std::uint8_t>(bytes[0]);
  if (version == 0 || version > current_version) return version_error(version);
  skipper s{bytes, lim};
  try {
    switch (s.run()) {
    case skip_result::done:
      return s.pos;
    case skip_result::need_more:
      return std::size_t{0};
    case skip_result::failed:
      break;
    }
  } catch (const std::bad_alloc&) {
    return frame_error("out of memory while scanning a frame");
  }
  return frame_error(std::move(s.why));
}

} // namespace eddy::wire

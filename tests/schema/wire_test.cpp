// The MessagePack wire codec against schema/WIRE.md: golden bytes, round trips,
// every frame error, every per-event reject reason, every limit, truncation.
#include "schema/wire.hpp"

#include "schema/interactions.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace eddy::wire {
namespace {

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

// A hand-rolled MessagePack builder, independent of the codec under test, so
// tests can write frames the encoder never would (odd key orders, wide integer
// encodings, wrong types, bad bytes).
struct mp {
  std::string b;

  mp& byte(int x) {
    b.push_back(static_cast<char>(x));
    return *this;
  }
  mp& be(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i)
      byte(static_cast<int>((v >> (8 * i)) & 0xff));
    return *this;
  }
  mp& raw(std::string_view s) {
    b.append(s);
    return *this;
  }
  mp& raw(const mp& other) { return raw(other.b); }
  mp& map(std::uint32_t n) {
    if (n < 16) return byte(0x80 | static_cast<int>(n));
    return n <= 0xffff ? byte(0xde).be(n, 2) : byte(0xdf).be(n, 4);
  }
  mp& arr(std::uint32_t n) {
    if (n < 16) return byte(0x90 | static_cast<int>(n));
    return n <= 0xffff ? byte(0xdc).be(n, 2) : byte(0xdd).be(n, 4);
  }
  mp& u(std::uint64_t v) {
    if (v < 0x80) return byte(static_cast<int>(v));
    if (v <= 0xff) return byte(0xcc).be(v, 1);
    if (v <= 0xffff) return byte(0xcd).be(v, 2);
    if (v <= 0xffffffffu) return byte(0xce).be(v, 4);
    return byte(0xcf).be(v, 8);
  }
  mp& i(std::int64_t v) {
    if (v >= 0) return u(static_cast<std::uint64_t>(v));
    if (v >= -32) return byte(static_cast<int>(v & 0xff));
    return byte(0xd3).be(static_cast<std::uint64_t>(v), 8);
  }
  mp& str(std::string_view s) {
    auto n = s.size();
    if (n < 32)
      byte(0xa0 | static_cast<int>(n));
    else if (n <= 0xff)
      byte(0xd9).be(n, 1);
    else if (n <= 0xffff)
      byte(0xda).be(n, 2);
    else
      byte(0xdb).be(n, 4);
    return raw(s);
  }
  mp& bin(std::string_view s) { return byte(0xc4).be(s.size(), 1).raw(s); }
  mp& f32(float f) {
    std::uint32_t bits;
    std::memcpy(&bits, &f, 4);
    return byte(0xca).be(bits, 4);
  }
  mp& f64(double d) {
    std::uint64_t bits;
    std::memcpy(&bits, &d, 8);
    return byte(0xcb).be(bits, 8);
  }
  mp& nil() { return byte(0xc0); }
  mp& boolean(bool v) { return byte(v ? 0xc3 : 0xc2); }
};

// The standard event map {0: user, 1: item, 2: type, 3: ts}.
mp good_event(std::string_view user = "u", std::string_view item = "i",
              int type = 1, std::int64_t ts = 1700000000000) {
  mp e;
  e.map(4).u(0).str(user).u(1).str(item).u(2).u(
      static_cast<std::uint64_t>(type));
  e.u(3).i(ts);
  return e;
}

// A batch frame {0: "p", 1: 1, 2: [events...]}.
std::string frame_of(const std::vector<mp>& events,
                     std::string_view producer = "p", std::uint64_t seq = 1) {
  mp f;
  f.byte(1).map(3).u(0).str(producer).u(1).u(seq).u(2).arr(
      static_cast<std::uint32_t>(events.size()));
  for (const auto& e : events)
    f.raw(e);
  return f.b;
}

std::string frame_of(const mp& event) {
  return frame_of(std::vector<mp>{event});
}

std::string hex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (!out.empty()) out.push_back(' ');
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string unhex(std::string_view h) {
  std::string out;
  int hi = -1;
  for (char c : h) {
    int v = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                   : -1;
    if (v < 0) continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<char>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << "cannot open " << path;
  std::ostringstream bytes;
  bytes << f.rdbuf();
  return bytes.str();
}

std::string golden(const std::string& name) {
  return read_file(std::string{EDDY_SOURCE_DIR} + "/tests/data/golden/" + name);
}

std::string encode(std::string_view producer, std::uint64_t seq,
                   const std::vector<event>& events) {
  std::vector<event_view> views(events.begin(), events.end());
  std::string out;
  encode_batch(producer, seq, views, out);
  return out;
}

const interaction_registry& registry() {
  static const auto reg = [] {
    auto r = interaction_registry::load(std::string{EDDY_SOURCE_DIR} +
                                        "/configs/interactions.toml");
    EDDY_ASSERT(r.has_value());
    return std::move(r).value();
  }();
  return reg;
}

// Decodes a frame that must be well formed and returns the batch.
batch decode_ok(std::string_view frame, const limits& lim = {},
                const interaction_registry* reg = nullptr) {
  auto r = decode_batch(frame, lim, reg);
  EXPECT_TRUE(r.has_value())
      << (r ? "" : r.err().message) << "\n  frame: " << hex(frame);
  return r ? std::move(r).value() : batch{};
}

// Decodes a frame that must fail as a whole; returns the error message.
std::string decode_err(std::string_view frame, const limits& lim = {},
                       const interaction_registry* reg = nullptr) {
  auto r = decode_batch(frame, lim, reg);
  EXPECT_FALSE(r.has_value()) << "decoded, but should not: " << hex(frame);
  return r ? std::string{} : r.err().message;
}

// Decodes a one-event frame whose event must be rejected; returns the reason.
std::string reject_reason(const mp& event, const limits& lim = {},
                          const interaction_registry* reg = nullptr) {
  auto b = decode_ok(frame_of(event), lim, reg);
  EXPECT_TRUE(b.events.empty());
  if (b.rejects.size() != 1) {
    ADD_FAILURE() << "expected one reject, got " << b.rejects.size();
    return {};
  }
  EXPECT_EQ(b.rejects[0].index, 0u);
  EXPECT_FALSE(b.rejects[0].detail.empty());
  return b.rejects[0].reason;
}

// ---------------------------------------------------------------------------
// Exact bytes and golden files
// ---------------------------------------------------------------------------

// The worked example of schema/WIRE.md. If this test fails, the encoder changed
// the format: that needs a new version byte, not a new hex string.
constexpr std::string_view wire_md_example =
    "01 83 00 a2 70 31 01 01 02 91 85 00 a2 75 31 01 a2 69 39 02 03 03 cf 00 "
    "00 "
    "01 8b cf e5 68 00 04 ca 40 00 00 00";

TEST(wire, encodes_the_documented_example_byte_for_byte) {
  auto bytes = encode("p1", 1, {{"u1", "i9", 3, 1700000000000, 2.0f}});
  EXPECT_EQ(hex(bytes), wire_md_example);
  auto b = decode_ok(unhex(wire_md_example));
  EXPECT_EQ(b.producer, "p1");
  EXPECT_EQ(b.seq, 1u);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0], (event{"u1", "i9", 3, 1700000000000, 2.0f}));
}

TEST(wire, encodes_an_empty_batch_byte_for_byte) {
  EXPECT_EQ(hex(encode("golden", 0, {})),
            "01 83 00 a6 67 6f 6c 64 65 6e 01 00 02 90");
}

struct golden_case {
  const char* file;
  std::string producer;
  std::uint64_t seq;
  std::vector<event> events;
};

std::vector<golden_case> golden_cases() {
  return {
      {"batch-v1-basic.msgpack",
       "golden",
       7,
       {
           {"u1", "i1", 1, 1700000000000, 1.0f},
           {"u2", "sku-42", 3, 1700000001500, 4.5f},
           // "ユーザー" and "ítem-é": ids are UTF-8, multi-byte sequences
           // included
           {"\xe3\x83\xa6\xe3\x83\xbc\xe3\x82\xb6\xe3\x83\xbc",
            "\xc3\xadtem-\xc3\xa9", 2, 1700000002000, 1.0f},
       }},
      {"batch-v1-empty.msgpack", "golden", 0, {}},
      {"batch-v1-edge.msgpack",
       "p",
       std::numeric_limits<std::uint64_t>::max(),
       {
           // 256-byte ids (str16 header), type 255, the first valid ts, value 0
           {std::string(256, 'u'), std::string(256, 'i'), 255, 0, 0.0f},
           // the last valid ts, a negative value
           {"x", "y", 9, 4102444799999, -2.5f},
           // str8 (32 bytes) and the longest fixstr (31 bytes); ts a fixint
           {std::string(32, 'a'), std::string(31, 'b'), 4, 127, 1.0f},
       }},
  };
}

TEST(wire, golden_files_decode_and_reencode_byte_for_byte) {
  for (const auto& g : golden_cases()) {
    SCOPED_TRACE(g.file);
    auto bytes = golden(g.file);
    ASSERT_FALSE(bytes.empty());
    for (const interaction_registry* reg :
         {static_cast<const interaction_registry*>(nullptr), &registry()}) {
      auto b = decode_ok(bytes, {}, reg);
      EXPECT_EQ(b.producer, g.producer);
      EXPECT_EQ(b.seq, g.seq);
      EXPECT_EQ(b.events, g.events);
      EXPECT_TRUE(b.rejects.empty());
    }
    EXPECT_EQ(hex(encode(g.producer, g.seq, g.events)), hex(bytes));
    auto len = frame_length(bytes, {});
    ASSERT_TRUE(len.has_value());
    EXPECT_EQ(*len, bytes.size());
  }
}

// ---------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------

// A random valid UTF-8 id of 1..max bytes (ASCII, 2-, 3- and 4-byte sequences).
std::string random_id(std::mt19937_64& rng, std::size_t max) {
  static const char* pieces[] = {"a",
                                 "Z",
                                 "0",
                                 "-",
                                 "_",
                                 ":",
                                 "\xc3\xa9",
                                 "\xd0\xb6",
                                 "\xe3\x83\xa6",
                                 "\xe2\x82\xac",
                                 "\xf0\x9f\x9b\x92",
                                 "\xf4\x8f\xbf\xbf"};
  auto target = std::uniform_int_distribution<std::size_t>(1, max)(rng);
  std::string s;
  while (true) {
    std::string_view p = pieces[rng() % std::size(pieces)];
    if (s.size() + p.size() > target) break;
    s.append(p);
  }
  if (s.empty()) s = "x";
  return s;
}

event random_event(std::mt19937_64& rng) {
  event e;
  // Mostly short ids, sometimes up to the 256-byte limit.
  e.user = random_id(rng, rng() % 8 == 0 ? 256 : 24);
  e.item = random_id(rng, rng() % 8 == 0 ? 256 : 24);
  e.type = static_cast<type_id>(1 + rng() % 255);
  switch (rng() % 4) {
  case 0:
    e.ts = static_cast<std::int64_t>(rng() % 4102444800000);
    break;
  case 1:
    e.ts = static_cast<std::int64_t>(rng() % 70000);
    break; // small encodings
  case 2:
    e.ts = 0;
    break;
  default:
    e.ts = 4102444799999;
    break;
  }
  switch (rng() % 4) {
  case 0:
    e.value = 1.0f;
    break;
  case 1:
    e.value = static_cast<float>(rng() % 11) / 2.0f;
    break;
  case 2:
    e.value = std::uniform_real_distribution<float>(-1e6f, 1e6f)(rng);
    break;
  default:
    e.value = -1.0f;
    break;
  }
  return e;
}

TEST(wire, random_batches_round_trip) {
  std::mt19937_64 rng(20240601);
  for (int round = 0; round < 200; ++round) {
    std::vector<event> events;
    auto n = round < 5 ? static_cast<std::size_t>(round) : rng() % 300;
    for (std::size_t i = 0; i < n; ++i)
      events.push_back(random_event(rng));
    auto producer = random_id(rng, 256);
    auto seq = rng() >> (rng() % 64);
    auto bytes = encode(producer, seq, events);
    auto b = decode_ok(bytes);
    EXPECT_EQ(b.producer, producer);
    EXPECT_EQ(b.seq, seq);
    EXPECT_EQ(b.events, events);
    EXPECT_TRUE(b.rejects.empty());
    // Deterministic: decoding and encoding again gives the same bytes.
    EXPECT_EQ(encode(b.producer, b.seq, b.events), bytes);
    auto len = frame_length(bytes, {});
    ASSERT_TRUE(len.has_value());
    EXPECT_EQ(*len, bytes.size());
  }
}

TEST(wire, batches_over_sixteen_and_65535_events_use_wide_array_headers) {
  std::vector<event> events(70000, event{"u", "i", 1, 5, 1.0f});
  limits lim;
  lim.max_events = 70000;
  auto bytes = encode("p", 1, events);
  EXPECT_EQ(static_cast<unsigned char>(bytes[8]), 0xdd); // array32
  EXPECT_EQ(decode_ok(bytes, lim).events, events);
  events.resize(16);
  bytes = encode("p", 1, events);
  EXPECT_EQ(static_cast<unsigned char>(bytes[8]), 0xdc); // array16
  EXPECT_EQ(decode_ok(bytes).events, events);
}

TEST(wire, encode_event_is_the_event_part_of_a_batch) {
  event e{"u1", "i9", 3, 1700000000000, 2.0f};
  std::string one;
  encode_event(e, one);
  auto frame = encode("p1", 1, {e});
  EXPECT_EQ(hex(one), hex(frame.substr(frame.size() - one.size())));
  // Appends: what was in the buffer stays.
  std::string buf = "xyz";
  encode_event(e, buf);
  EXPECT_EQ(buf, "xyz" + one);
}

TEST(wire, value_one_is_omitted_and_other_values_are_float32) {
  std::string a, b;
  encode_event(event_view{"u", "i", 1, 0, 1.0f}, a);
  encode_event(event_view{"u", "i", 1, 0, 0.0f}, b);
  EXPECT_EQ(hex(a), "84 00 a1 75 01 a1 69 02 01 03 00");
  EXPECT_EQ(hex(b), "85 00 a1 75 01 a1 69 02 01 03 00 04 ca 00 00 00 00");
}

TEST(wire, integers_use_their_smallest_encoding) {
  auto ts_bytes = [](std::int64_t ts) {
    std::string s;
    encode_event(event_view{"u", "i", 1, ts}, s);
    return hex(s.substr(10)); // after "84 00 a1 75 01 a1 69 02 01 03"
  };
  EXPECT_EQ(ts_bytes(127), "7f");
  EXPECT_EQ(ts_bytes(128), "cc 80");
  EXPECT_EQ(ts_bytes(65535), "cd ff ff");
  EXPECT_EQ(ts_bytes(65536), "ce 00 01 00 00");
  EXPECT_EQ(ts_bytes(4294967296), "cf 00 00 00 01 00 00 00 00");
  // Negative ts never decodes, but encoders must still be exact.
  EXPECT_EQ(ts_bytes(-1), "ff");
  EXPECT_EQ(ts_bytes(-33), "d0 df");
  EXPECT_EQ(ts_bytes(-129), "d1 ff 7f");
  EXPECT_EQ(ts_bytes(-32769), "d2 ff ff 7f ff");
  EXPECT_EQ(ts_bytes(std::numeric_limits<std::int64_t>::min()),
            "d3 80 00 00 00 00 00 00 00");
  std::string s;
  encode_event(event_view{"u", "i", 200, 0}, s);
  EXPECT_EQ(hex(s), "84 00 a1 75 01 a1 69 02 cc c8 03 00");
}

// ---------------------------------------------------------------------------
// What decoders accept beyond the canonical encoding
// ---------------------------------------------------------------------------

TEST(wire, keys_in_any_order_and_wide_encodings_are_accepted) {
  mp e;
  // ts as int64, type as uint16, user as str16, keys descending
  e.map(4).u(3).byte(0xd3).be(1700000000000, 8).u(2).byte(0xcd).be(3, 2);
  e.u(1).str("i").u(0).byte(0xda).be(1, 2).raw("u");
  mp f;
  f.byte(1).map(3).u(2).arr(1).raw(e).u(1).byte(0xcf).be(9, 8).u(0).str("p");
  auto b = decode_ok(f.b);
  EXPECT_EQ(b.producer, "p");
  EXPECT_EQ(b.seq, 9u);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0], (event{"u", "i", 3, 1700000000000, 1.0f}));
}

TEST(wire, unknown_keys_from_16_up_are_ignored) {
  mp e;
  e.map(8)
      .u(16)
      .str("extension")
      .u(0)
      .str("u")
      .u(1)
      .str("i")
      .u(200)
      .arr(2)
      .u(1)
      .nil();
  e.u(2).u(1).u(3).u(5).byte(0xcd).be(1000, 2).map(1).u(1).bin("x");
  e.byte(0xcf)
      .be(std::numeric_limits<std::uint64_t>::max(), 8)
      .byte(0xd4)
      .byte(1)
      .byte(2);
  mp f;
  f.byte(1).map(5).u(0).str("p").u(17).f64(1.5).u(1).u(2).u(2).arr(1).raw(e);
  f.u(99).map(0);
  auto b = decode_ok(f.b);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0], (event{"u", "i", 1, 5, 1.0f}));
  EXPECT_EQ(b.seq, 2u);
}

TEST(wire, value_accepts_float64_and_integers) {
  auto value_of = [](const mp& v) {
    mp e;
    e.map(5).u(0).str("u").u(1).str("i").u(2).u(1).u(3).u(0).u(4).raw(v);
    auto b = decode_ok(frame_of(e));
    EXPECT_EQ(b.events.size(), 1u);
    return b.events.empty() ? std::nanf("") : b.events[0].value;
  };
  EXPECT_EQ(value_of(mp{}.f64(0.25)), 0.25f);
  EXPECT_EQ(value_of(mp{}.f64(0.1)), 0.1f); // rounded to float32
  EXPECT_EQ(value_of(mp{}.f32(4.5f)), 4.5f);
  EXPECT_EQ(value_of(mp{}.u(3)), 3.0f);
  EXPECT_EQ(value_of(mp{}.i(-2)), -2.0f);
  EXPECT_EQ(value_of(mp{}.f32(1.0f)), 1.0f); // explicit default is fine
}

TEST(wire, every_version_up_to_current_is_accepted) {
  for (int v = 1; v <= current_version; ++v) {
    auto f = frame_of(good_event());
    f[0] = static_cast<char>(v);
    EXPECT_EQ(decode_ok(f).events.size(), 1u);
  }
}

// ---------------------------------------------------------------------------
// Per-event rejects: the rest of the batch stays good
// ---------------------------------------------------------------------------

TEST(wire, rejects_keep_their_index_and_good_events_stay_in_order) {
  auto b = decode_ok(frame_of({good_event("a"), good_event(""), good_event("c"),
                               good_event("d", "i", 0), good_event("e")}));
  ASSERT_EQ(b.events.size(), 3u);
  EXPECT_EQ(b.events[0].user, "a");
  EXPECT_EQ(b.events[1].user, "c");
  EXPECT_EQ(b.events[2].user, "e");
  ASSERT_EQ(b.rejects.size(), 2u);
  EXPECT_EQ(b.rejects[0].index, 1u);
  EXPECT_EQ(b.rejects[0].reason, "empty_id");
  EXPECT_EQ(b.rejects[1].index, 3u);
  EXPECT_EQ(b.rejects[1].reason, "unknown_type");
}

TEST(wire, reject_missing_field) {
  for (int missing = 0; missing < 4; ++missing) {
    mp e;
    e.map(3);
    if (missing != 0) e.u(0).str("u");
    if (missing != 1) e.u(1).str("i");
    if (missing != 2) e.u(2).u(1);
    if (missing != 3) e.u(3).u(5);
    EXPECT_EQ(reject_reason(e), "missing_field") << "key " << missing;
  }
  // An empty map misses everything; the first missing key is named.
  auto b = decode_ok(frame_of(mp{}.map(0)));
  ASSERT_EQ(b.rejects.size(), 1u);
  EXPECT_NE(b.rejects[0].detail.find("'user'"), std::string::npos)
      << b.rejects[0].detail;
}

TEST(wire, reject_wrong_field_type) {
  auto with = [](int key, const mp& v) {
    mp e;
    e.map(4);
    e.u(0);
    key == 0 ? e.raw(v) : e.str("u");
    e.u(1);
    key == 1 ? e.raw(v) : e.str("i");
    e.u(2);
    key == 2 ? e.raw(v) : e.u(1);
    e.u(3);
    key == 3 ? e.raw(v) : e.u(5);
    return e;
  };
  EXPECT_EQ(reject_reason(with(0, mp{}.u(7))), "wrong_field_type");
  EXPECT_EQ(reject_reason(with(0, mp{}.bin("u"))),
            "wrong_field_type"); // bin is not str
  EXPECT_EQ(reject_reason(with(1, mp{}.nil())), "wrong_field_type");
  EXPECT_EQ(reject_reason(with(2, mp{}.str("view"))), "wrong_field_type");
  EXPECT_EQ(reject_reason(with(2, mp{}.f32(1.0f))), "wrong_field_type");
  EXPECT_EQ(reject_reason(with(3, mp{}.f64(1.0))), "wrong_field_type");
  EXPECT_EQ(reject_reason(with(3, mp{}.str("2024-01-01"))), "wrong_field_type");
  mp e = good_event();
  e.b[0] = static_cast<char>(0x85);
  EXPECT_EQ(reject_reason(mp{e}.u(4).str("2")), "wrong_field_type");
  EXPECT_EQ(reject_reason(mp{e}.u(4).boolean(true)), "wrong_field_type");
}

TEST(wire, reject_empty_id) {
  EXPECT_EQ(reject_reason(good_event("", "i")), "empty_id");
  EXPECT_EQ(reject_reason(good_event("u", "")), "empty_id");
}

TEST(wire, reject_id_too_long) {
  std::string max(256, 'x'), over(257, 'x');
  EXPECT_TRUE(decode_ok(frame_of(good_event(max, max))).rejects.empty());
  EXPECT_EQ(reject_reason(good_event(over, "i")), "id_too_long");
  EXPECT_EQ(reject_reason(good_event("u", over)), "id_too_long");
  limits lim;
  lim.max_id_bytes = 8;
  EXPECT_TRUE(decode_ok(frame_of(good_event("12345678")), lim).rejects.empty());
  EXPECT_EQ(reject_reason(good_event("123456789"), lim), "id_too_long");
}

TEST(wire, reject_invalid_utf8) {
  for (std::string_view bad : {"\xff", "a\xc3", "\xc0\x80", "\xed\xa0\x80",
                               "\xf4\x90\x80\x80", "\x80x"}) {
    EXPECT_EQ(reject_reason(good_event(bad, "i")), "invalid_utf8") << hex(bad);
    EXPECT_EQ(reject_reason(good_event("u", bad)), "invalid_utf8") << hex(bad);
  }
}

TEST(wire, reject_unknown_type) {
  EXPECT_EQ(reject_reason(good_event("u", "i", 0)), "unknown_type");
  EXPECT_EQ(reject_reason(good_event("u", "i", 256)), "unknown_type");
  mp e;
  e.map(4).u(0).str("u").u(1).str("i").u(2).i(-1).u(3).u(0);
  EXPECT_EQ(reject_reason(e), "unknown_type");
  // Without a registry any 1..255 is fine; with one, only registered ids.
  EXPECT_TRUE(decode_ok(frame_of(good_event("u", "i", 10))).rejects.empty());
  EXPECT_EQ(reject_reason(good_event("u", "i", 10), {}, &registry()),
            "unknown_type");
  EXPECT_TRUE(decode_ok(frame_of(good_event("u", "i", 255)), {}, &registry())
                  .rejects.empty());
}

TEST(wire, reject_bad_value) {
  auto with_value = [](const mp& v) {
    mp e = good_event();
    e.b[0] = static_cast<char>(0x85);
    return e.u(4).raw(v);
  };
  EXPECT_EQ(reject_reason(with_value(mp{}.f32(std::nanf("")))), "bad_value");
  EXPECT_EQ(reject_reason(with_value(mp{}.f32(-INFINITY))), "bad_value");
  EXPECT_EQ(reject_reason(with_value(mp{}.f64(INFINITY))), "bad_value");
  EXPECT_EQ(reject_reason(with_value(mp{}.f64(1e300))),
            "bad_value"); // overflows float
  EXPECT_EQ(reject_reason(with_value(mp{}.f64(std::nan("")))), "bad_value");
}

TEST(wire, reject_bad_timestamp) {
  EXPECT_EQ(reject_reason(good_event("u", "i", 1, -1)), "bad_timestamp");
  EXPECT_EQ(reject_reason(good_event("u", "i", 1, 4102444800000)),
            "bad_timestamp");
  EXPECT_EQ(reject_reason(good_event("u", "i", 1,
                                     std::numeric_limits<std::int64_t>::min())),
            "bad_timestamp");
  mp e;
  e.map(4).u(0).str("u").u(1).str("i").u(2).u(1).u(3).u(
      std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(reject_reason(e), "bad_timestamp");
  EXPECT_TRUE(decode_ok(frame_of(good_event("u", "i", 1, 0))).rejects.empty());
  EXPECT_TRUE(decode_ok(frame_of(good_event("u", "i", 1, 4102444799999)))
                  .rejects.empty());
}

// ---------------------------------------------------------------------------
// Whole-frame errors
// ---------------------------------------------------------------------------

void expect_contains(const std::string& message, std::string_view part) {
  EXPECT_NE(message.find(part), std::string::npos)
      << "message: " << message << "\nexpected to contain: " << part;
}

TEST(wire, frame_error_bad_version) {
  auto f = frame_of(good_event());
  f[0] = 0;
  auto m = decode_err(f);
  expect_contains(m, "version 0");
  expect_contains(m, "1..1");
  f[0] = 2;
  m = decode_err(f);
  expect_contains(m, "version 2");
  expect_contains(m, "1..1");
  auto len = frame_length(f, {});
  ASSERT_FALSE(len.has_value());
  expect_contains(len.err().message, "version 2");
  f[0] = static_cast<char>(0x83); // a bare map, version byte forgotten
  expect_contains(decode_err(f), "version 131");
}

TEST(wire, frame_error_not_a_map) {
  for (const auto& body : {mp{}.arr(0), mp{}.str("x"), mp{}.u(1), mp{}.nil()}) {
    auto f = "\x01" + body.b;
    expect_contains(decode_err(f), "must be a map");
    auto len = frame_length(f, {});
    ASSERT_FALSE(len.has_value());
    expect_contains(len.err().message, "must be a map");
  }
}

TEST(wire, frame_error_missing_producer_seq_or_events) {
  expect_contains(decode_err(mp{}.byte(1).map(2).u(1).u(1).u(2).arr(0).b),
                  "no 'producer'");
  expect_contains(decode_err(mp{}.byte(1).map(2).u(0).str("p").u(2).arr(0).b),
                  "no 'seq'");
  expect_contains(decode_err(mp{}.byte(1).map(2).u(0).str("p").u(1).u(1).b),
                  "no 'events'");
}

TEST(wire, frame_error_wrong_field_types_of_the_batch) {
  expect_contains(
      decode_err(mp{}.byte(1).map(3).u(0).u(5).u(1).u(1).u(2).arr(0).b),
      "'producer' (key 0) must be a str");
  expect_contains(
      decode_err(mp{}.byte(1).map(3).u(0).bin("p").u(1).u(1).u(2).arr(0).b),
      "'producer' (key 0) must be a str");
  expect_contains(
      decode_err(mp{}.byte(1).map(3).u(0).str("").u(1).u(1).u(2).arr(0).b),
      "'producer' (key 0) is empty");
  expect_contains(
      decode_err(mp{}.byte(1).map(3).u(0).str("\xff").u(1).u(1).u(2).arr(0).b),
      "not valid UTF-8");
  expect_contains(
      decode_err(mp{}.byte(1).map(3).u(0).str("p").u(1).i(-1).u(2).arr(0).b),
      "'seq' (key 1) must be a uint64");
  expect_contains(
      decode_err(mp{}.byte(1).map(3).u(0).str("p").u(1).str("1").u(2).arr(0).b),
      "'seq' (key 1) must be a uint64");
  expect_contains(
      decode_err(mp{}.byte(1).map(3).u(0).str("p").u(1).u(1).u(2).map(0).b),
      "'events' (key 2) must be an array");
  expect_contains(decode_err(frame_of(mp{}.arr(0))), "event 0 must be a map");
  expect_contains(decode_err(frame_of({good_event(), mp{}.str("e")})),
                  "event 1 must be a map");
}

TEST(wire, frame_error_wrong_key_type) {
  expect_contains(
      decode_err(
          mp{}.byte(1).map(3).str("producer").str("p").u(1).u(1).u(2).arr(0).b),
      "key of type str");
  expect_contains(decode_err(mp{}.byte(1)
                                 .map(4)
                                 .u(0)
                                 .str("p")
                                 .u(1)
                                 .u(1)
                                 .u(2)
                                 .arr(0)
                                 .i(-1)
                                 .nil()
                                 .b),
                  "key of type negative int");
  mp e;
  e.map(4).u(0).str("u").u(1).str("i").u(2).u(1).str("ts").u(5);
  expect_contains(decode_err(frame_of(e)), "event 0 has a key of type str");
  mp e2 = good_event();
  e2.b[0] = static_cast<char>(0x85);
  e2.f32(4.0f).u(1);
  expect_contains(decode_err(frame_of(e2)), "key of type float32");
}

TEST(wire, frame_error_reserved_and_duplicate_keys) {
  expect_contains(
      decode_err(
          mp{}.byte(1).map(4).u(0).str("p").u(1).u(1).u(2).arr(0).u(3).nil().b),
      "reserved key 3");
  expect_contains(decode_err(mp{}.byte(1)
                                 .map(4)
                                 .u(0)
                                 .str("p")
                                 .u(1)
                                 .u(1)
                                 .u(2)
                                 .arr(0)
                                 .u(15)
                                 .nil()
                                 .b),
                  "reserved key 15");
  for (int key : {5, 15}) {
    mp e = good_event();
    e.b[0] = static_cast<char>(0x85);
    e.u(static_cast<std::uint64_t>(key)).u(1);
    expect_contains(decode_err(frame_of(e)),
                    "reserved key " + std::to_string(key));
  }
  expect_contains(decode_err(mp{}.byte(1)
                                 .map(4)
                                 .u(0)
                                 .str("p")
                                 .u(1)
                                 .u(1)
                                 .u(2)
                                 .arr(0)
                                 .u(0)
                                 .str("q")
                                 .b),
                  "repeats key 0");
  mp e = good_event();
  e.b[0] = static_cast<char>(0x85);
  e.u(0).str("again");
  expect_contains(decode_err(frame_of(e)), "event 0 repeats key 0");
}

TEST(wire, frame_error_trailing_bytes) {
  auto f = frame_of(good_event());
  expect_contains(decode_err(f + '\0'), "1 trailing bytes");
  expect_contains(decode_err(f + f), "trailing bytes");
  // frame_length is the tool for streams: it finds the first frame.
  auto len = frame_length(f + f, {});
  ASSERT_TRUE(len.has_value());
  EXPECT_EQ(*len, f.size());
}

TEST(wire, frame_error_invalid_messagepack) {
  // 0xc1 is never valid MessagePack.
  auto f = mp{}.byte(1).map(3).u(0).str("p").u(1).byte(0xc1).u(2).arr(0).b;
  expect_contains(decode_err(f), "not valid MessagePack");
  auto len = frame_length(f, {});
  ASSERT_FALSE(len.has_value());
  expect_contains(len.err().message, "0xc1");
}

TEST(wire, frame_error_truncated_at_every_byte) {
  std::vector<std::string> frames;
  for (const auto& g : golden_cases())
    frames.push_back(golden(g.file));
  frames.push_back(unhex(wire_md_example));
  for (const auto& f : frames) {
    for (std::size_t n = 0; n < f.size(); ++n) {
      auto prefix = std::string_view{f}.substr(0, n);
      auto m = decode_err(prefix);
      EXPECT_NE(m.find("truncated"), std::string::npos) << n << ": " << m;
      auto len = frame_length(prefix, {});
      ASSERT_TRUE(len.has_value()) << n << ": " << len.err().message;
      EXPECT_EQ(*len, 0u) << "prefix of " << n << " bytes";
    }
  }
  expect_contains(decode_err(""), "empty frame");
}

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

TEST(wire, limit_max_frame_bytes) {
  auto f = frame_of(good_event());
  limits lim;
  lim.max_frame_bytes = f.size();
  EXPECT_EQ(decode_ok(f, lim).events.size(), 1u);
  auto len = frame_length(f, lim);
  ASSERT_TRUE(len.has_value());
  EXPECT_EQ(*len, f.size());
  lim.max_frame_bytes = f.size() - 1;
  expect_contains(decode_err(f, lim), "max_frame_bytes");
  len = frame_length(f, lim);
  ASSERT_FALSE(len.has_value());
  expect_contains(len.err().message, "max_frame_bytes");
  // A declared length beyond the limit fails before the bytes arrive.
  auto head = mp{}.byte(1).map(3).u(0).byte(0xdb).be(1u << 30, 4).b;
  len = frame_length(head, {});
  ASSERT_FALSE(len.has_value());
  expect_contains(len.err().message, "max_frame_bytes");
}

TEST(wire, limit_max_events) {
  limits lim;
  lim.max_events = 3;
  std::vector<mp> three(3, good_event()), four(4, good_event());
  EXPECT_EQ(decode_ok(frame_of(three), lim).events.size(), 3u);
  expect_contains(decode_err(frame_of(four), lim), "more than 3 entries");
  auto len = frame_length(frame_of(four), lim);
  ASSERT_FALSE(len.has_value());
  expect_contains(len.err().message, "max_events");
  // A 65537-event batch fails by default, from its header alone.
  auto head = mp{}.byte(1).map(3).u(0).str("p").u(1).u(1).u(2).arr(65537).b;
  len = frame_length(head, {});
  ASSERT_FALSE(len.has_value());
  expect_contains(len.err().message, "65537");
}

TEST(wire, limit_max_map_entries) {
  limits lim;
  lim.max_map_entries = 5;
  mp e = good_event();
  e.b[0] = static_cast<char>(0x85);
  e.u(16).nil();
  EXPECT_EQ(decode_ok(frame_of(e), lim).events.size(), 1u);
  mp six = e;
  six.b[0] = static_cast<char>(0x86);
  six.u(17).nil();
  expect_contains(decode_err(frame_of(six), lim), "a map has more than 5");
  auto len = frame_length(frame_of(six), lim);
  ASSERT_FALSE(len.has_value());
  expect_contains(len.err().message, "max_map_entries");
  // The default leaves room for extension keys.
  EXPECT_EQ(decode_ok(frame_of(six)).events.size(), 1u);
}

TEST(wire, limit_max_depth) {
  // batch map (1) > events array (2) > event map (3) > extension value (4, 5)
  auto with_ext = [](const mp& ext) {
    mp e = good_event();
    e.b[0] = static_cast<char>(0x85);
    return frame_of(e.u(16).raw(ext));
  };
  auto ok = with_ext(mp{}.arr(1).u(1));
  auto too_deep = with_ext(mp{}.arr(1).arr(0));
  EXPECT_EQ(decode_ok(ok).events.size(), 1u);
  expect_contains(decode_err(too_deep), "max_depth");
  auto len = frame_length(too_deep, {});
  ASSERT_FALSE(len.has_value());
  expect_contains(len.err().message, "max_depth");
  len = frame_length(ok, {});
  ASSERT_TRUE(len.has_value());
  EXPECT_EQ(*len, ok.size());
  limits lim;
  lim.max_depth = 2; // too shallow for any event
  expect_contains(decode_err(frame_of(good_event()), lim), "max_depth");
  EXPECT_EQ(decode_ok(frame_of(std::vector<mp>{}), lim).events.size(), 0u);
  // A deep limit still works (the skipper's stack grows past its inline part).
  lim.max_depth = 100;
  mp deep;
  for (int i = 0; i < 90; ++i)
    deep.arr(1);
  deep.u(1);
  auto deep_frame = with_ext(deep);
  EXPECT_EQ(decode_ok(deep_frame, lim).events.size(), 1u);
  len = frame_length(deep_frame, lim);
  ASSERT_TRUE(len.has_value());
  EXPECT_EQ(*len, deep_frame.size());
}

TEST(wire, limit_max_producer_bytes) {
  std::vector<event> none;
  EXPECT_TRUE(
      decode_batch(encode(std::string(256, 'p'), 1, none), {}, nullptr));
  expect_contains(decode_err(encode(std::string(257, 'p'), 1, none)),
                  "over the limit of 256");
  limits lim;
  lim.max_producer_bytes = 4;
  expect_contains(decode_err(encode("12345", 1, none), lim),
                  "over the limit of 4");
}

// ---------------------------------------------------------------------------
// Streams of frames
// ---------------------------------------------------------------------------

TEST(wire, frame_length_splits_a_stream_fed_in_pieces) {
  std::string stream;
  std::vector<std::string> frames;
  for (const auto& g : golden_cases()) {
    frames.push_back(golden(g.file));
    stream += frames.back();
  }
  // Feed the stream in pieces of every size from 1 to 40 bytes.
  for (std::size_t piece = 1; piece <= 40; ++piece) {
    std::string buffer;
    std::vector<std::string> got;
    for (std::size_t at = 0; at < stream.size(); at += piece) {
      buffer += stream.substr(at, piece);
      while (true) {
        auto len = frame_length(buffer, {});
        ASSERT_TRUE(len.has_value()) << len.err().message;
        if (*len == 0) break;
        got.push_back(buffer.substr(0, *len));
        buffer.erase(0, *len);
      }
    }
    EXPECT_TRUE(buffer.empty());
    EXPECT_EQ(got, frames) << "piece " << piece;
  }
  EXPECT_EQ(*frame_length("", {}), 0u);
  EXPECT_EQ(*frame_length("\x01", {}), 0u);
}

TEST(wire, frame_length_handles_every_messagepack_type) {
  // One extension key per type family, inside the batch map.
  mp f;
  f.byte(1).map(3 + 17).u(0).str("p").u(1).u(1).u(2).arr(0);
  f.u(16).nil().u(17).boolean(false).u(18).i(-5).u(19).byte(0xd2).be(0xfffffff0,
                                                                     4);
  f.u(20)
      .f32(1.5f)
      .u(21)
      .f64(2.5)
      .u(22)
      .bin("bin")
      .u(23)
      .byte(0xc5)
      .be(2, 2)
      .raw("ab");
  f.u(24).byte(0xc6).be(1, 4).raw("c").u(25).byte(0xc7).byte(2).byte(7).raw(
      "xy");
  f.u(26).byte(0xc8).be(1, 2).byte(7).raw("z").u(27).byte(0xc9).be(0, 4).byte(
      7);
  f.u(28).byte(0xd4).byte(1).raw("a").u(29).byte(0xd8).byte(1).raw(
      std::string(16, 'q'));
  f.u(30).byte(0xdd).be(1, 4).nil().u(31).byte(0xdf).be(1, 4).u(1).u(2);
  f.u(32).byte(0xdb).be(3, 4).raw("abc");
  auto len = frame_length(f.b, {});
  ASSERT_TRUE(len.has_value()) << len.err().message;
  EXPECT_EQ(*len, f.b.size());
  EXPECT_TRUE(decode_batch(f.b, {}, nullptr).has_value());
  for (std::size_t n = 0; n < f.b.size(); ++n)
    EXPECT_EQ(*frame_length(std::string_view{f.b}.substr(0, n), {}), 0u) << n;
}

// Random damage to valid frames never crashes, and the two parsers agree:
// whenever decode_batch accepts bytes, frame_length says they are one frame.
TEST(wire, damaged_frames_are_errors_or_rejects_never_crashes) {
  std::mt19937_64 rng(7);
  std::vector<std::string> frames;
  for (const auto& g : golden_cases())
    frames.push_back(golden(g.file));
  for (int round = 0; round < 20000; ++round) {
    auto f = frames[rng() % frames.size()];
    auto flips = 1 + rng() % 3;
    for (std::size_t k = 0; k < flips; ++k)
      f[rng() % f.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) f.resize(rng() % (f.size() + 1));
    auto b = decode_batch(f, {}, &registry());
    auto len = frame_length(f, {});
    if (b) {
      ASSERT_TRUE(len.has_value()) << hex(f);
      EXPECT_EQ(*len, f.size()) << hex(f);
    }
  }
}

// decode_batch reads the common frame shape on a fast path and leaves every other
// frame to msgpack-cxx's general decoder: both must give the same batch, rejects
// and error messages, and decode_batch_view the same events as views.
TEST(wire, the_fast_path_decodes_exactly_like_the_general_decoder) {
  std::mt19937_64 rng(11);
  std::vector<std::string> frames;
  for (const auto& g : golden_cases())
    frames.push_back(golden(g.file));
  for (int round = 0; round < 50; ++round) {
    std::vector<event> events;
    for (std::size_t i = 0, n = rng() % 40; i < n; ++i)
      events.push_back(random_event(rng));
    frames.push_back(encode(random_id(rng, 256), rng(), events));
  }
  std::size_t fast_ok = 0, with_rejects = 0, errors = 0;
  auto same = [&](const std::string& f, const interaction_registry* reg) {
    auto got = decode_batch(f, {}, reg);
    auto ref = detail::decode_batch_general(f, {}, reg);
    ASSERT_EQ(got.has_value(), ref.has_value()) << hex(f);
    if (!got) {
      EXPECT_EQ(got.err().message, ref.err().message) << hex(f);
      ++errors;
      return;
    }
    EXPECT_EQ(got->producer, ref->producer) << hex(f);
    EXPECT_EQ(got->seq, ref->seq) << hex(f);
    EXPECT_EQ(got->events, ref->events) << hex(f);
    ASSERT_EQ(got->rejects.size(), ref->rejects.size()) << hex(f);
    for (std::size_t i = 0; i < got->rejects.size(); ++i) {
      EXPECT_EQ(got->rejects[i].index, ref->rejects[i].index) << hex(f);
      EXPECT_EQ(got->rejects[i].reason, ref->rejects[i].reason) << hex(f);
      EXPECT_EQ(got->rejects[i].detail, ref->rejects[i].detail) << hex(f);
    }
    (got->rejects.empty() ? fast_ok : with_rejects) += 1;
    auto view = decode_batch_view(f, {}, reg);
    ASSERT_TRUE(view.has_value()) << hex(f);
    EXPECT_EQ(view->producer, got->producer);
    ASSERT_EQ(view->events.size(), got->events.size());
    for (std::size_t i = 0; i < got->events.size(); ++i)
      EXPECT_EQ(view->events[i].to_event(), got->events[i]);
    EXPECT_EQ(view->rejects.size(), got->rejects.size());
  };
  for (const auto& f : frames) {
    same(f, nullptr);
    same(f, &registry());
  }
  // Damaged copies reach the rejects and the bail-outs of the fast path.
  for (int round = 0; round < 20000; ++round) {
    auto f = frames[rng() % frames.size()];
    for (std::size_t k = 0, flips = 1 + rng() % 3; k < flips; ++k)
      f[rng() % f.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) f.resize(rng() % (f.size() + 1));
    same(f, &registry());
  }
  // Every kind of outcome was seen.
  EXPECT_GT(fast_ok, 0u);
  EXPECT_GT(with_rejects, 0u);
  EXPECT_GT(errors, 0u);
}

// ---------------------------------------------------------------------------
// Acks (WIRE.md §8): the reply to one batch
// ---------------------------------------------------------------------------

std::string encode(const ack& a) {
  std::string out;
  encode_ack(a, out);
  return out;
}

ack ack_ok(std::string_view frame, const limits& lim = {}) {
  auto r = decode_ack(frame, lim);
  EXPECT_TRUE(r.has_value())
      << (r ? "" : r.err().message) << "\n  frame: " << hex(frame);
  return r ? std::move(r).value() : ack{};
}

std::string ack_err(std::string_view frame, const limits& lim = {}) {
  auto r = decode_ack(frame, lim);
  EXPECT_FALSE(r.has_value()) << "decoded, but should not: " << hex(frame);
  if (r) return {};
  EXPECT_EQ(r.err().message.rfind("invalid eddy ack frame: ", 0), 0u)
      << r.err().message;
  return r.err().message;
}

// An ack map with the four required keys, for hand-built frames: {0: producer,
// 1: seq, 2: status, 3: stored} plus `extra` more entries (appended by the
// caller).
mp ack_head(std::uint32_t extra = 0, std::string_view producer = "p",
            std::uint64_t seq = 1, std::uint64_t status = 0,
            std::uint64_t stored = 0) {
  mp f;
  f.byte(1).map(4 + extra).u(0).str(producer).u(1).u(seq).u(2).u(status).u(3).u(
      stored);
  return f;
}

// The ack example of WIRE.md §10: "p1", seq 1, ok, 1 event stored.
constexpr std::string_view wire_md_ack_example =
    "01 84 00 a2 70 31 01 01 02 00 03 01";

// The refused example of WIRE.md §10: a frame whose producer and seq could not
// be read.
constexpr std::string_view wire_md_refused_example =
    "01 85 00 a0 01 00 02 02 03 00 05 ab 65 6d 70 74 79 20 66 72 61 6d 65";

// tests/data/golden/ack-v1-rejects.msgpack, spelled out.
ack golden_ack() {
  ack a;
  a.producer = "golden";
  a.seq = 7;
  a.status = ack_status::ok;
  a.stored = 3;
  a.rejects = {{1, "empty_id"}, {3, "unknown_type"}};
  a.message = "2 of 5 events rejected";
  return a;
}

constexpr std::string_view golden_ack_hex =
    "01 86 00 a6 67 6f 6c 64 65 6e 01 07 02 00 03 03 04 92 92 01 a8 65 6d 70 "
    "74 79 5f 69 64 92 03 ac 75 6e 6b 6e 6f 77 6e 5f 74 79 70 65 05 b6 32 20 "
    "6f 66 20 35 20 65 76 65 6e 74 73 20 72 65 6a 65 63 74 65 64";

TEST(wire_ack, encodes_the_documented_example_byte_for_byte) {
  ack a;
  a.producer = "p1";
  a.seq = 1;
  a.stored = 1;
  EXPECT_EQ(hex(encode(a)), wire_md_ack_example);
  EXPECT_EQ(ack_ok(unhex(wire_md_ack_example)), a);

  ack refused;
  refused.status = ack_status::refused;
  refused.message = "empty frame";
  EXPECT_EQ(hex(encode(refused)), wire_md_refused_example);
  EXPECT_EQ(ack_ok(unhex(wire_md_refused_example)), refused);
}

TEST(wire_ack, golden_file_decodes_and_reencodes_byte_for_byte) {
  auto bytes = golden("ack-v1-rejects.msgpack");
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(hex(bytes), golden_ack_hex);
  EXPECT_EQ(ack_ok(bytes), golden_ack());
  EXPECT_EQ(hex(encode(ack_ok(bytes))), hex(bytes));
  EXPECT_EQ(hex(encode(golden_ack())), hex(bytes));
  auto len = frame_length(bytes, {});
  ASSERT_TRUE(len.has_value());
  EXPECT_EQ(*len, bytes.size());
}

TEST(wire_ack, every_status_has_its_frozen_value_and_name) {
  const std::pair<ack_status, std::string_view> all[] = {
      {ack_status::ok, "ok"},
      {ack_status::duplicate, "duplicate"},
      {ack_status::refused, "refused"},
      {ack_status::unavailable, "unavailable"}};
  for (std::size_t v = 0; v < std::size(all); ++v) {
    auto [status, name] = all[v];
    EXPECT_EQ(static_cast<std::size_t>(status), v);
    EXPECT_EQ(ack_status_name(status), name);
    ack a;
    a.producer = "p";
    a.status = status;
    auto bytes = encode(a);
    EXPECT_EQ(static_cast<std::size_t>(bytes[8]), v) << hex(bytes);
    EXPECT_EQ(ack_ok(bytes).status, status);
  }
  EXPECT_EQ(ack_status_name(static_cast<ack_status>(9)), "unknown");
}

TEST(wire_ack, encode_appends_and_omits_empty_rejects_and_message) {
  ack a;
  a.producer = "p";
  std::string buf = "xyz";
  encode_ack(a, buf);
  EXPECT_EQ(hex(buf), "78 79 7a 01 84 00 a1 70 01 00 02 00 03 00");
  a.message = "m";
  EXPECT_EQ(hex(encode(a)), "01 85 00 a1 70 01 00 02 00 03 00 05 a1 6d");
  a.message.clear();
  a.rejects = {{0, "r"}};
  EXPECT_EQ(hex(encode(a)),
            "01 85 00 a1 70 01 00 02 00 03 00 04 91 92 00 a1 72");
}

TEST(wire_ack, encode_sorts_rejects_keeps_the_first_of_a_repeated_index) {
  ack a;
  a.producer = "p";
  a.rejects = {{9, "c"}, {2, "a"}, {9, "d"}, {0, "z"}, {2, "b"}};
  auto b = ack_ok(encode(a));
  std::vector<std::pair<std::uint32_t, std::string>> want = {
      {0, "z"}, {2, "a"}, {9, "c"}};
  EXPECT_EQ(b.rejects, want);
}

TEST(wire_ack, encode_replaces_invalid_utf8_so_acks_always_decode) {
  ack a;
  a.producer = "p\xff";
  a.message = "bad \xc3 and \xed\xa0\x80 ok \xc3\xa9";
  a.rejects = {{1, "\x80"}};
  auto b = ack_ok(encode(a));
  EXPECT_EQ(b.producer, "p\xef\xbf\xbd");
  EXPECT_EQ(b.message,
            "bad \xef\xbf\xbd and \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
            " ok \xc3\xa9");
  ASSERT_EQ(b.rejects.size(), 1u);
  EXPECT_EQ(b.rejects[0].second, "\xef\xbf\xbd");
  // Every 4-byte form and the limits of each range stay as they are.
  a = ack{};
  a.message = "\xf0\x9f\x9b\x92 \xf4\x8f\xbf\xbf \xef\xbf\xbf \xdf\xbf \x7f";
  EXPECT_EQ(ack_ok(encode(a)).message, a.message);
  a.message = "\xf4\x90\x80\x80\xc0\x80\xe0\x80\x80"; // too big, 2 overlong
  EXPECT_EQ(ack_ok(encode(a)).message, [] {
    std::string s;
    for (int i = 0; i < 9; ++i)
      s += "\xef\xbf\xbd";
    return s;
  }());
}

std::vector<std::pair<std::uint32_t, std::string>>
random_rejects(std::mt19937_64& rng, std::size_t n) {
  static const char* reasons[] = {"missing_field",
                                  "wrong_field_type",
                                  "empty_id",
                                  "id_too_long",
                                  "invalid_utf8",
                                  "unknown_type",
                                  "bad_value",
                                  "bad_timestamp",
                                  "x",
                                  "",
                                  "\xc3\xa9tendu"};
  std::vector<std::pair<std::uint32_t, std::string>> out;
  std::uint64_t index = rng() % 3;
  for (std::size_t i = 0; i < n && index <= 0xffffffffu; ++i) {
    out.emplace_back(static_cast<std::uint32_t>(index),
                     reasons[rng() % std::size(reasons)]);
    index += 1 + (rng() % 8 == 0 ? rng() % 100000 : rng() % 3);
  }
  if (rng() % 16 == 0 && !out.empty()) out.back().first = 0xffffffffu;
  if (out.size() > 1 && out.back().first <= out[out.size() - 2].first)
    out.pop_back();
  return out;
}

TEST(wire_ack, random_acks_round_trip) {
  std::mt19937_64 rng(20240602);
  for (int round = 0; round < 300; ++round) {
    ack a;
    a.producer = round % 10 == 0 ? "" : random_id(rng, 256);
    a.seq = rng() >> (rng() % 64);
    a.status = static_cast<ack_status>(rng() % 4);
    a.stored = rng() >> (rng() % 64);
    a.rejects = random_rejects(rng, round < 4 ? round : rng() % 40);
    if (rng() % 2) a.message = random_id(rng, rng() % 4 == 0 ? 70000 : 300);
    auto bytes = encode(a);
    EXPECT_EQ(ack_ok(bytes), a);
    EXPECT_EQ(encode(ack_ok(bytes)), bytes); // deterministic
    auto len = frame_length(bytes, {});
    ASSERT_TRUE(len.has_value()) << len.err().message;
    EXPECT_EQ(*len, bytes.size());
  }
}

TEST(wire_ack, many_rejects_use_wide_array_headers) {
  ack a;
  a.producer = "p";
  for (std::uint32_t i = 0; i < 70000; ++i)
    a.rejects.emplace_back(i, "empty_id");
  limits lim;
  lim.max_events = 70000;
  auto bytes = encode(a);
  EXPECT_EQ(static_cast<unsigned char>(bytes[12]), 0xdd); // array32
  EXPECT_EQ(ack_ok(bytes, lim), a);
  expect_contains(ack_err(bytes), "more than 65536 entries");
  a.rejects.resize(16);
  bytes = encode(a);
  EXPECT_EQ(static_cast<unsigned char>(bytes[12]), 0xdc); // array16
  EXPECT_EQ(ack_ok(bytes), a);
}

TEST(wire_ack, decoders_accept_any_key_order_wide_ints_and_extensions) {
  mp f;
  f.byte(1).map(9);
  f.u(5).byte(0xda).be(2, 2).raw("hi"); // message as str16
  f.u(3).byte(0xcf).be(2, 8);           // stored as uint64
  f.u(16).map(1).u(1).arr(2).u(1).u(2); // extension, skipped
  f.u(4).arr(2).arr(2).byte(0xce).be(4, 4).str("a").arr(2).u(300).str("b");
  f.u(2).byte(0xcc).be(3, 1); // status as uint8
  f.u(200).bin("x");          // extension, skipped
  f.u(1).byte(0xcd).be(9, 2);
  f.u(0).byte(0xd9).be(1, 1).raw("q"); // producer as str8
  f.u(17).nil();
  auto a = ack_ok(f.b);
  EXPECT_EQ(a.producer, "q");
  EXPECT_EQ(a.seq, 9u);
  EXPECT_EQ(a.status, ack_status::unavailable);
  EXPECT_EQ(a.stored, 2u);
  std::vector<std::pair<std::uint32_t, std::string>> want = {{4, "a"},
                                                             {300, "b"}};
  EXPECT_EQ(a.rejects, want);
  EXPECT_EQ(a.message, "hi");
  // Explicitly empty rejects and message are the same as absent ones.
  auto g = ack_head(2).u(4).arr(0).u(5).str("").b;
  EXPECT_EQ(ack_ok(g), ack_ok(ack_head().b));
  EXPECT_EQ(encode(ack_ok(g)), ack_head().b);
  // An empty reason is a str like any other.
  EXPECT_EQ(
      ack_ok(ack_head(1).u(4).arr(1).arr(2).u(0).str("").b).rejects.size(), 1u);
}

TEST(wire_ack, batch_and_ack_frames_are_told_apart) {
  // Key 2 is an array of events in a batch and a uint in an ack: no frame is
  // both.
  expect_contains(ack_err(golden("batch-v1-basic.msgpack")),
                  "has no 'stored' (key 3)");
  expect_contains(ack_err(unhex(wire_md_example)), "has no 'stored' (key 3)");
  expect_contains(
      ack_err(
          mp{}.byte(1).map(4).u(0).str("p").u(1).u(1).u(2).arr(0).u(3).u(0).b),
      "'status' (key 2) must be a uint, got array");
  // Key 3 is reserved in a batch.
  expect_contains(decode_err(golden("ack-v1-rejects.msgpack")),
                  "reserved key 3");
  expect_contains(decode_err(unhex(wire_md_ack_example)), "reserved key 3");
}

TEST(wire_ack, error_empty_truncated_and_bad_version) {
  expect_contains(ack_err(""), "empty frame");
  expect_contains(ack_err("\x01"), "truncated");
  auto f = unhex(wire_md_ack_example);
  for (int v : {0, 2, 0x84}) {
    f[0] = static_cast<char>(v);
    auto m = ack_err(f);
    expect_contains(m, "version " + std::to_string(v));
    expect_contains(m, "1..1");
  }
}

TEST(wire_ack, error_truncated_at_every_byte_never_crashes) {
  ack big = golden_ack();
  big.message = std::string(300, 'm');
  big.producer = std::string(40, 'p');
  big.seq = std::numeric_limits<std::uint64_t>::max();
  big.stored = 70000;
  for (std::uint32_t i = 10; i < 30; ++i)
    big.rejects.emplace_back(i * 1000, "bad_timestamp");
  for (const auto& f :
       {golden("ack-v1-rejects.msgpack"), unhex(wire_md_ack_example),
        unhex(wire_md_refused_example), encode(big)}) {
    ASSERT_EQ(decode_ack(f, {}).has_value(), true);
    for (std::size_t n = 0; n < f.size(); ++n) {
      auto prefix = std::string_view{f}.substr(0, n);
      auto m = ack_err(prefix);
      EXPECT_TRUE(m.find("truncated") != std::string::npos ||
                  m.find("empty frame") != std::string::npos)
          << n << ": " << m;
      auto len = frame_length(prefix, {});
      ASSERT_TRUE(len.has_value()) << n << ": " << len.err().message;
      EXPECT_EQ(*len, 0u) << "prefix of " << n << " bytes";
    }
  }
}

TEST(wire_ack, error_not_a_map_trailing_bytes_invalid_messagepack) {
  for (const auto& body : {mp{}.arr(0), mp{}.str("x"), mp{}.u(1), mp{}.nil()})
    expect_contains(ack_err("\x01" + body.b), "must be a map");
  auto f = unhex(wire_md_ack_example);
  expect_contains(ack_err(f + '\0'), "1 trailing bytes");
  expect_contains(ack_err(f + f), "trailing bytes");
  expect_contains(ack_err(mp{}.byte(1)
                              .map(4)
                              .u(0)
                              .str("p")
                              .u(1)
                              .byte(0xc1)
                              .u(2)
                              .u(0)
                              .u(3)
                              .u(0)
                              .b),
                  "not valid MessagePack");
}

TEST(wire_ack, error_missing_required_keys) {
  const char* names[] = {"'producer' (key 0)", "'seq' (key 1)",
                         "'status' (key 2)", "'stored' (key 3)"};
  for (int missing = 0; missing < 4; ++missing) {
    mp f;
    f.byte(1).map(3);
    if (missing != 0) f.u(0).str("p");
    if (missing != 1) f.u(1).u(1);
    if (missing != 2) f.u(2).u(0);
    if (missing != 3) f.u(3).u(0);
    expect_contains(ack_err(f.b), std::string{"has no "} + names[missing]);
  }
  expect_contains(ack_err(mp{}.byte(1).map(0).b), "has no 'producer' (key 0)");
}

TEST(wire_ack, error_wrong_key_types_reserved_and_repeated_keys) {
  expect_contains(ack_err(mp{}.byte(1)
                              .map(4)
                              .str("producer")
                              .str("p")
                              .u(1)
                              .u(1)
                              .u(2)
                              .u(0)
                              .u(3)
                              .u(0)
                              .b),
                  "has a key of type str");
  expect_contains(ack_err(ack_head(1).i(-1).nil().b),
                  "key of type negative int");
  expect_contains(ack_err(ack_head(1).f64(4.0).nil().b), "key of type float64");
  for (int key : {6, 10, 15})
    expect_contains(
        ack_err(ack_head(1).u(static_cast<std::uint64_t>(key)).u(0).b),
        "reserved key " + std::to_string(key));
  expect_contains(ack_err(ack_head(1).u(2).u(1).b),
                  "repeats key 2 ('status' (key 2))");
  expect_contains(ack_err(ack_head(2).u(5).str("a").u(5).str("b").b),
                  "repeats key 5");
  // Extension keys from 16 up are fine, whatever their value.
  EXPECT_EQ(ack_ok(ack_head(2).u(16).arr(1).u(1).u(255).map(0).b).producer,
            "p");
}

TEST(wire_ack, error_wrong_types_of_the_fields) {
  auto with = [](int key, const mp& v) {
    mp f;
    f.byte(1).map(4);
    f.u(0);
    key == 0 ? f.raw(v) : f.str("p");
    f.u(1);
    key == 1 ? f.raw(v) : f.u(1);
    f.u(2);
    key == 2 ? f.raw(v) : f.u(0);
    f.u(3);
    key == 3 ? f.raw(v) : f.u(0);
    return f.b;
  };
  expect_contains(ack_err(with(0, mp{}.u(1))),
                  "'producer' (key 0) must be a str, got uint");
  expect_contains(ack_err(with(0, mp{}.bin("p"))),
                  "'producer' (key 0) must be a str, got bin");
  expect_contains(ack_err(with(0, mp{}.nil())), "must be a str, got nil");
  expect_contains(ack_err(with(0, mp{}.str("\xc3"))),
                  "'producer' (key 0) is not valid UTF-8");
  EXPECT_EQ(ack_ok(with(0, mp{}.str(""))).producer, ""); // unknown producer
  const char* labels[] = {"", "'seq' (key 1)", "'status' (key 2)",
                          "'stored' (key 3)"};
  for (int key : {1, 2, 3}) {
    for (const auto& v : {mp{}.i(-1), mp{}.str("1"), mp{}.f64(1.0),
                          mp{}.boolean(true), mp{}.nil()})
      expect_contains(ack_err(with(key, v)),
                      std::string{labels[key]} + " must be a uint, got");
  }
  expect_contains(ack_err(with(1, mp{}.i(-5))), "got negative int");
  expect_contains(ack_err(ack_head(1).u(4).map(0).b),
                  "'rejects' (key 4) must be an array, got map");
  expect_contains(ack_err(ack_head(1).u(4).str("x").b),
                  "'rejects' (key 4) must be an array, got str");
  expect_contains(ack_err(ack_head(1).u(5).u(1).b),
                  "'message' (key 5) must be a str, got uint");
  expect_contains(ack_err(ack_head(1).u(5).bin("m").b),
                  "'message' (key 5) must be a str, got bin");
  expect_contains(ack_err(ack_head(1).u(5).str("\xed\xa0\x80").b),
                  "'message' (key 5) is not valid UTF-8");
}

TEST(wire_ack, error_unknown_status_value) {
  EXPECT_EQ(ack_ok(ack_head(0, "p", 1, 3).b).status, ack_status::unavailable);
  for (std::uint64_t v :
       {std::uint64_t{4}, std::uint64_t{127}, std::uint64_t{255},
        std::uint64_t{256}, std::numeric_limits<std::uint64_t>::max()}) {
    auto m = ack_err(ack_head(0, "p", 1, v).b);
    expect_contains(m, "'status' (key 2) is " + std::to_string(v));
    expect_contains(m, "0 ok, 1 duplicate, 2 refused, 3 unavailable");
  }
}

TEST(wire_ack, error_malformed_reject_entries) {
  auto with_rejects = [](const mp& entries, std::uint32_t n) {
    return ack_head(1).u(4).arr(n).raw(entries).b;
  };
  auto one = [&](const mp& entry) { return with_rejects(entry, 1); };
  expect_contains(
      ack_err(one(mp{}.u(1))),
      "reject 0 must be an array of 2 elements [index, reason], got uint");
  expect_contains(
      ack_err(one(mp{}.map(1).u(1).str("r"))),
      "reject 0 must be an array of 2 elements [index, reason], got map");
  expect_contains(ack_err(one(mp{}.arr(0))), "got an array of 0");
  expect_contains(ack_err(one(mp{}.arr(1).u(1))), "got an array of 1");
  expect_contains(ack_err(one(mp{}.arr(3).u(1).str("r").nil())),
                  "got an array of 3");
  expect_contains(ack_err(one(mp{}.arr(2).str("r").u(1))),
                  "reject 0: the index must be a uint, got str");
  expect_contains(ack_err(one(mp{}.arr(2).i(-1).str("r"))),
                  "reject 0: the index must be a uint, got negative int");
  expect_contains(ack_err(one(mp{}.arr(2).f32(1.0f).str("r"))),
                  "the index must be a uint, got float32");
  expect_contains(ack_err(one(mp{}.arr(2).u(4294967296).str("r"))),
                  "the index 4294967296 is above 4294967295");
  EXPECT_EQ(ack_ok(one(mp{}.arr(2).u(4294967295).str("r"))).rejects[0].first,
            4294967295u);
  expect_contains(ack_err(one(mp{}.arr(2).u(1).u(2))),
                  "reject 0: the reason must be a str, got uint");
  expect_contains(ack_err(one(mp{}.arr(2).u(1).bin("r"))),
                  "the reason must be a str, got bin");
  expect_contains(ack_err(one(mp{}.arr(2).u(1).str("\xff"))),
                  "reject 0: the reason is not valid UTF-8");
  // Strictly ascending indices: a repeat or a step back is an error.
  expect_contains(
      ack_err(with_rejects(mp{}.arr(2).u(5).str("a").arr(2).u(5).str("b"), 2)),
      "reject 1: the index 5 is not above the previous one (5)");
  expect_contains(
      ack_err(with_rejects(
          mp{}.arr(2).u(1).str("a").arr(2).u(7).str("b").arr(2).u(3).str("c"),
          3)),
      "reject 2: the index 3 is not above the previous one (7)");
  // The second entry is named when it is the bad one.
  expect_contains(
      ack_err(with_rejects(mp{}.arr(2).u(1).str("a").arr(1).u(2), 2)),
      "reject 1 must be an array of 2 elements");
}

TEST(wire_ack, limit_max_frame_bytes) {
  auto f = golden("ack-v1-rejects.msgpack");
  limits lim;
  lim.max_frame_bytes = f.size();
  EXPECT_EQ(ack_ok(f, lim), golden_ack());
  lim.max_frame_bytes = f.size() - 1;
  expect_contains(ack_err(f, lim), "over max_frame_bytes");
  auto len = frame_length(f, lim);
  ASSERT_FALSE(len.has_value());
  expect_contains(len.err().message, "max_frame_bytes");
}

TEST(wire_ack, limit_max_events_applies_to_rejects) {
  limits lim;
  lim.max_events = 2;
  EXPECT_EQ(ack_ok(golden("ack-v1-rejects.msgpack"), lim), golden_ack());
  ack a = golden_ack();
  a.rejects.emplace_back(4, "bad_value");
  expect_contains(ack_err(encode(a), lim),
                  "more than 2 entries (limit max_events)");
  auto len = frame_length(encode(a), lim);
  ASSERT_FALSE(len.has_value());
  expect_contains(len.err().message, "max_events");
}

TEST(wire_ack, limit_max_map_entries) {
  limits lim;
  lim.max_map_entries = 6;
  EXPECT_EQ(ack_ok(golden("ack-v1-rejects.msgpack"), lim), golden_ack());
  lim.max_map_entries = 5;
  expect_contains(ack_err(golden("ack-v1-rejects.msgpack"), lim),
                  "a map has more than 5 entries (limit max_map_entries)");
  // The default leaves room for extension keys.
  mp f = ack_head(40);
  for (std::uint64_t k = 16; k < 56; ++k)
    f.u(k).nil();
  EXPECT_EQ(ack_ok(f.b).producer, "p");
}

TEST(wire_ack, limit_max_depth) {
  // ack map (1) > rejects (2) > [index, reason] (3); an extension value may
  // nest up to the limit.
  limits lim;
  lim.max_depth = 3;
  EXPECT_EQ(ack_ok(golden("ack-v1-rejects.msgpack"), lim), golden_ack());
  lim.max_depth = 2;
  expect_contains(ack_err(golden("ack-v1-rejects.msgpack"), lim), "max_depth");
  EXPECT_EQ(ack_ok(unhex(wire_md_ack_example), lim).stored, 1u);
  EXPECT_EQ(ack_ok(ack_head(1).u(16).arr(1).arr(1).arr(0).b).producer, "p");
  expect_contains(ack_err(ack_head(1).u(16).arr(1).arr(1).arr(1).arr(0).b),
                  "nesting deeper than max_depth (4)");
}

TEST(wire_ack, limit_max_producer_bytes) {
  ack a;
  a.producer = std::string(256, 'p');
  EXPECT_EQ(ack_ok(encode(a)), a);
  a.producer = std::string(257, 'p');
  expect_contains(ack_err(encode(a)),
                  "'producer' (key 0) has 257 bytes, over the limit of 256");
  limits lim;
  lim.max_producer_bytes = 4;
  a.producer = "12345";
  expect_contains(ack_err(encode(a), lim), "over the limit of 4");
}

// Random damage to valid acks never crashes; a decoded ack re-encodes to a
// frame that decodes to the same ack; no frame is both an ack and a batch.
TEST(wire_ack, damaged_acks_are_errors_never_crashes) {
  std::mt19937_64 rng(11);
  std::vector<std::string> frames = {golden("ack-v1-rejects.msgpack"),
                                     unhex(wire_md_ack_example),
                                     unhex(wire_md_refused_example)};
  int decoded = 0;
  for (int round = 0; round < 20000; ++round) {
    auto f = frames[rng() % frames.size()];
    auto flips = 1 + rng() % 3;
    for (std::size_t k = 0; k < flips; ++k)
      f[rng() % f.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) f.resize(rng() % (f.size() + 1));
    auto a = decode_ack(f, {});
    auto len = frame_length(f, {});
    if (a) {
      ++decoded;
      ASSERT_TRUE(len.has_value()) << hex(f);
      EXPECT_EQ(*len, f.size()) << hex(f);
      auto again = encode(*a);
      EXPECT_EQ(ack_ok(again), *a) << hex(f);
      EXPECT_FALSE(decode_batch(f, {}, nullptr).has_value()) << hex(f);
    } else {
      EXPECT_EQ(a.err().message.rfind("invalid eddy ack frame: ", 0), 0u);
    }
  }
  EXPECT_GT(decoded, 100);
}

} // namespace
} // namespace eddy::wire

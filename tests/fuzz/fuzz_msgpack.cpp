// libFuzzer target for the MessagePack wire codec (schema/wire.hpp).
//
// Any input: frame_length, decode_batch and decode_ack return a value or an
// error, never crash, hang or leak. Beyond that:
//  - the two parsers agree: bytes decode_batch accepts are exactly one frame
//    for frame_length;
//  - a decoded batch without rejects re-encodes to a frame that decodes to the
//    same batch, and encoding is stable (encode(decode(encode(b))) ==
//    encode(b));
//  - a registry only turns events into rejects, it never changes a frame error;
//  - decode_batch (with its fast path for the common frame shape) gives exactly
//    what the general msgpack-cxx decoder gives: the same batch, rejects and
//    error message;
//  - a decoded ack is exactly one frame for frame_length, re-encodes to a frame
//    that decodes to the same ack, and encoding is stable; no input is both an
//    ack and a batch.
#include "schema/interactions.hpp"
#include "schema/wire.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

const eddy::interaction_registry& fuzz_registry() {
  static const auto reg = [] {
    auto r = eddy::interaction_registry::parse(
        "[[type]]\nid = 1\nname = \"view\"\n"
        "weight = 1.0\n\n"
        "[[type]]\nid = 3\nname = \"purchase\"\n"
        "weight = 5.0\n",
        "fuzz");
    EDDY_ASSERT(r.has_value());
    return std::move(r).value();
  }();
  return reg;
}

std::string encode(const eddy::wire::batch& b) {
  std::vector<eddy::event_view> views(b.events.begin(), b.events.end());
  std::string out;
  eddy::wire::encode_batch(b.producer, b.seq, views, out);
  return out;
}

void check_reencode(const eddy::wire::batch& b, const eddy::wire::limits& lim) {
  auto bytes = encode(b);
  auto again = eddy::wire::decode_batch(bytes, lim, nullptr);
  if (!again) {
    std::fprintf(stderr, "re-encoded batch does not decode: %s\n",
                 again.err().message.c_str());
    std::abort();
  }
  EDDY_ASSERT(again->producer == b.producer);
  EDDY_ASSERT(again->seq == b.seq);
  EDDY_ASSERT(again->events == b.events);
  EDDY_ASSERT(again->rejects.empty());
  EDDY_ASSERT(encode(*again) == bytes);
  auto len = eddy::wire::frame_length(bytes, lim);
  EDDY_ASSERT(len.has_value() && *len == bytes.size());
}

void check_ack(std::string_view bytes, const eddy::wire::ack& a,
               const eddy::wire::limits& lim) {
  auto len = eddy::wire::frame_length(bytes, lim);
  EDDY_ASSERT(len.has_value() && *len == bytes.size());
  std::string again;
  eddy::wire::encode_ack(a, again);
  // The canonical form is never larger, nor deeper, than what was decoded.
  auto back = eddy::wire::decode_ack(again, lim);
  if (!back) {
    std::fprintf(stderr, "re-encoded ack does not decode: %s\n",
                 back.err().message.c_str());
    std::abort();
  }
  EDDY_ASSERT(*back == a);
  std::string third;
  eddy::wire::encode_ack(*back, third);
  EDDY_ASSERT(third == again);
}

// decode_batch's result (fast path or not) equals the general decoder's.
void check_same_as_general(const eddy::expected<eddy::wire::batch>& got, std::string_view bytes,
                           const eddy::wire::limits& lim,
                           const eddy::interaction_registry* reg) {
  auto ref = eddy::wire::detail::decode_batch_general(bytes, lim, reg);
  EDDY_ASSERT(got.has_value() == ref.has_value());
  if (!got) {
    EDDY_ASSERT(got.err().message == ref.err().message);
    return;
  }
  EDDY_ASSERT(got->producer == ref->producer && got->seq == ref->seq);
  EDDY_ASSERT(got->events == ref->events);
  EDDY_ASSERT(got->rejects.size() == ref->rejects.size());
  for (std::size_t i = 0; i < got->rejects.size(); ++i)
    EDDY_ASSERT(got->rejects[i].index == ref->rejects[i].index &&
                got->rejects[i].reason == ref->rejects[i].reason &&
                got->rejects[i].detail == ref->rejects[i].detail);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  std::string_view bytes{reinterpret_cast<const char*>(data), size};

  // Small limits too, so the fuzzer reaches every limit check cheaply.
  eddy::wire::limits small;
  small.max_frame_bytes = 512;
  small.max_events = 4;
  small.max_map_entries = 6;
  small.max_id_bytes = 16;
  small.max_producer_bytes = 8;
  small.max_depth = 3;

  for (const auto& lim : {eddy::wire::limits{}, small}) {
    auto len = eddy::wire::frame_length(bytes, lim);
    auto plain = eddy::wire::decode_batch(bytes, lim, nullptr);
    auto with_registry = eddy::wire::decode_batch(bytes, lim, &fuzz_registry());

    EDDY_ASSERT(plain.has_value() == with_registry.has_value());
    check_same_as_general(plain, bytes, lim, nullptr);
    check_same_as_general(with_registry, bytes, lim, &fuzz_registry());
    if (plain) {
      EDDY_ASSERT(len.has_value() && *len == bytes.size());
      EDDY_ASSERT(plain->events.size() + plain->rejects.size() ==
                  with_registry->events.size() + with_registry->rejects.size());
      if (plain->rejects.empty()) check_reencode(*plain, lim);
      if (with_registry->rejects.empty()) check_reencode(*with_registry, lim);
    }
    auto acked = eddy::wire::decode_ack(bytes, lim);
    if (acked) {
      EDDY_ASSERT(!plain.has_value()); // key 2: events array vs status uint
      check_ack(bytes, *acked, lim);
    }

    // The first frame of a stream decodes on its own like the stream's prefix.
    if (len && *len > 0 && *len < bytes.size())
      (void)eddy::wire::decode_batch(bytes.substr(0, *len), lim, nullptr);
  }
  return 0;
}

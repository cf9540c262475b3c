#pragma once
// eddy's MessagePack wire format (schema/WIRE.md is the normative description).
//
// A frame is one version byte followed by exactly one MessagePack map with frozen
// integer keys. Two kinds of frame: a batch (producer -> node) and an ack (node ->
// producer, the reply to one batch). Encoders are deterministic (same input -> same
// bytes), so golden files round-trip byte for byte.

#include "schema/error.hpp"
#include "schema/event.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eddy {
class interaction_registry;
}

namespace eddy::wire {

/// The version byte this build writes. Decoders accept every version <= this.
inline constexpr std::uint8_t current_version = 1;

/// Frozen keys of the event map.
enum class event_key : std::uint8_t { user = 0, item = 1, type = 2, ts = 3, value = 4 };
/// Frozen keys of the batch map.
enum class batch_key : std::uint8_t { producer = 0, seq = 1, events = 2 };
/// Frozen keys of the ack map.
enum class ack_key : std::uint8_t {
  producer = 0, seq = 1, status = 2, stored = 3, rejects = 4, message = 5
};

/// Bytes of the correlation id a producer puts before each batch on the ingest
/// socket (ZeroMQ message [correlation id, batch frame]); the node's reply is
/// [the same correlation id, ack frame]. See WIRE.md §9.
inline constexpr std::size_t correlation_id_bytes = 8;

/// Decoding limits; every violation is a clear error, never a crash.
struct limits {
  std::size_t max_frame_bytes = 16u << 20;  ///< whole frame
  std::size_t max_events = 65536;           ///< events in one batch (and any array)
  std::size_t max_map_entries = 64;         ///< keys of any map (room for extensions)
  std::size_t max_id_bytes = eddy::max_id_bytes; ///< user, item
  std::size_t max_producer_bytes = 256;
  std::size_t max_depth = 4;                ///< nesting of maps/arrays
};

/// Why one event of a batch was refused (the rest of the batch stays good).
struct event_reject {
  std::uint32_t index = 0;  ///< position in the batch's event array
  std::string reason;       ///< stable reason code, e.g. "unknown_type"
  std::string detail;       ///< human-readable explanation
};

struct batch {
  std::string producer;
  std::uint64_t seq = 0;
  std::vector<event> events;          ///< the good events, in order
  std::vector<event_reject> rejects;  ///< the bad ones, by index
};

/// A decoded batch whose ids point into the frame it was decoded from: valid only
/// while those bytes live. The node's ingest path uses it (no allocation per event).
struct batch_view {
  std::string_view producer;
  std::uint64_t seq = 0;
  std::vector<event_view> events;     ///< the good events, in order
  std::vector<event_reject> rejects;  ///< the bad ones, by index
};

/// Appends the MessagePack map of one event (no version byte) to `out`.
void encode_event(const event_view& ev, std::string& out);

/// Appends one batch frame (version byte + map) to `out`.
void encode_batch(std::string_view producer, std::uint64_t seq,
                  std::span<const event_view> events, std::string& out);

/// Appends the start of a batch frame (version byte, map, producer, seq and the
/// header of an array of `count` events). Followed by exactly `count` encode_event
/// calls it gives the same bytes as encode_batch: writers that stream events use it
/// to avoid keeping them.
void encode_batch_header(std::string_view producer, std::uint64_t seq,
                         std::size_t count, std::string& out);

/// Decodes one batch frame. A malformed frame (bad version, not a map, wrong key
/// types, limits exceeded) is an error for the whole frame. A well-formed frame whose
/// individual events are bad (missing field, over-long id, type not in `registry`)
/// yields those events as `rejects`. `registry` may be null: then any type id 1..255
/// is accepted.
expected<batch> decode_batch(std::string_view frame, const limits& lim,
                             const interaction_registry* registry);

namespace detail {
/// decode_batch without its fast path for the common frame shape: msgpack-cxx's
/// general decoder alone, the reference that tests and the fuzz target compare
/// decode_batch with.
expected<batch> decode_batch_general(std::string_view frame, const limits& lim,
                                     const interaction_registry* registry);
} // namespace detail

/// decode_batch with the same checks and errors, but the events (and the producer)
/// point into `frame` instead of owning copies.
expected<batch_view> decode_batch_view(std::string_view frame, const limits& lim,
                                       const interaction_registry* registry);

/// What a node did with a batch: the ack's `status` (WIRE.md §8). Values are frozen;
/// a new one needs a new version byte.
enum class ack_status : std::uint8_t {
  ok = 0,          ///< stored (events that were rejected are listed in `rejects`)
  duplicate = 1,   ///< (producer, seq) was stored earlier; nothing changed
  refused = 2,     ///< the whole frame was refused, nothing stored; see `message`
  unavailable = 3, ///< an owner could not store its part in time; resend later
};

/// "ok", "duplicate", "refused", "unavailable" (or "unknown" for other values).
std::string_view ack_status_name(ack_status s) noexcept;

/// The reply to one batch frame.
struct ack {
  std::string producer;  ///< the batch's producer; "" when it could not be read
  std::uint64_t seq = 0; ///< the batch's seq; 0 when it could not be read
  ack_status status = ack_status::ok;
  std::uint64_t stored = 0; ///< events stored by this batch
  /// Rejected events: (index in the batch's event array, reason code), ascending.
  std::vector<std::pair<std::uint32_t, std::string>> rejects;
  std::string message; ///< for humans; "" = none

  friend bool operator==(const ack&, const ack&) = default;
};

/// Appends one ack frame (version byte + map) to `out`. `rejects` and `message` are
/// omitted when empty. Always writes a frame decode_ack accepts (within the limits):
/// rejects are written in ascending index order (sorted if needed; of a repeated
/// index only the first is kept), and invalid UTF-8 in any string is replaced by
/// U+FFFD, one per bad byte. For a sorted, repeat-free, valid-UTF-8 ack,
/// decode_ack(encode_ack(a)) == a.
void encode_ack(const ack& a, std::string& out);

/// Decodes one ack frame. Never throws: a malformed frame (bad version, not a map,
/// wrong key or value types, unknown status, malformed or unordered rejects, limits
/// exceeded) is an error. `rejects` use max_events; `producer` max_producer_bytes
/// (it may be empty).
expected<ack> decode_ack(std::string_view frame, const limits& lim);

/// Reads frames one after another from a byte stream (an eddy .msgpack file):
/// returns the length of the first complete frame in `bytes`, 0 if more bytes are
/// needed, or an error if the bytes cannot start a valid frame. Works for batch and
/// ack frames alike (it checks structure only).
expected<std::size_t> frame_length(std::string_view bytes, const limits& lim);

} // namespace eddy::wire

#pragma once
// The one event every source is normalized to (DESIGN.md §1).

#include <cstdint>
#include <string>
#include <string_view>

namespace eddy {

/// Canonical interaction type id, frozen in configs/interactions.toml. 0 is never
/// a valid type.
using type_id = std::uint8_t;

/// Upper bound on `user` and `item` (bytes of UTF-8), everywhere in eddy.
inline constexpr std::size_t max_id_bytes = 256;

/// Hash for maps keyed by ids (std::string) that are looked up with a
/// std::string_view, without building a key: use with std::equal_to<>.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

/// An owning event.
struct event {
  std::string user;  ///< who: visitor / customer / session id, opaque
  std::string item;  ///< on what: product id, opaque
  type_id type = 0;  ///< what: a registry id (view, cart, purchase, ...)
  std::int64_t ts = 0; ///< when: event time, ms since the Unix epoch, UTC
  float value = 1.0f;  ///< optional strength: quantity, rating

  friend bool operator==(const event&, const event&) = default;
};

/// A non-owning event, valid while the bytes it points into live (hot paths).
struct event_view {
  std::string_view user;
  std::string_view item;
  type_id type = 0;
  std::int64_t ts = 0;
  float value = 1.0f;

  event_view() = default;
  event_view(std::string_view u, std::string_view i, type_id t, std::int64_t time,
             float v = 1.0f)
    : user(u), item(i), type(t), ts(time), value(v) {}
  event_view(const event& e) // NOLINT: implicit on purpose
    : user(e.user), item(e.item), type(e.type), ts(e.ts), value(e.value) {}

  event to_event() const {
    return event{std::string{user}, std::string{item}, type, ts, value};
  }
};

/// CAF-compatible inspection without a CAF include (CAF-ZMQ-NOTES.md).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event& x) {
  return f(x.user, x.item, x.type, x.ts, x.value);
}

/// Receives normalized events, one call per event. Views are valid only during
/// the call.
class event_sink {
public:
  virtual ~event_sink() = default;
  virtual void on_event(const event_view& ev) = 0;
  /// Flushes buffered output; returns an error if the output could not be written.
  virtual bool finish(std::string* why) {
    (void)why;
    return true;
  }
};

} // namespace eddy

#pragma once
// `eddy generate`: a deterministic synthetic shop (see generator.cpp for the model).

#include "schema/error.hpp"
#include "schema/event.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eddy {

class interaction_registry;

struct generator_config {
  std::uint64_t seed = 42;
  std::uint32_t users = 5000;
  std::uint32_t items = 1000;
  double zipf_s = 1.0;                 ///< item popularity exponent
  std::int64_t start_ms = 1700000000000; ///< 2023-11-14T22:13:20Z
  double hours = 24.0;                 ///< simulated span
  double sessions_per_minute = 40.0;   ///< mean, before the daily cycle
  double daily_amplitude = 0.5;        ///< 0 = flat, 1 = rate goes to 0 at night
  double views_per_session = 3.0;      ///< mean views in a session
  double p_cart = 0.15;                ///< a viewed item is carted
  double p_purchase = 0.4;             ///< a carted item is bought
  std::uint32_t surges = 5;            ///< injected surges
  double surge_factor = 8.0;           ///< rate multiplier during a surge
  double surge_minutes = 30.0;         ///< surge duration
  std::uint64_t max_events = 0;        ///< stop after this many (0 = no cap)
};

/// One injected surge: ground truth for trending.
struct surge {
  std::string item;
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;
  double factor = 1.0;
};

/// Validates a config; the error names the bad option.
status validate(const generator_config& cfg);

/// Same, and also checks that `registry` resolves "view", "cart" and
/// "purchase" (the generator's three event types).
status validate(const generator_config& cfg,
                const interaction_registry& registry);

/// Generates events in (nearly) time order into `sink`; returns the surges.
/// Deterministic for a given config (same bytes on every run and machine).
/// Precondition: validate(cfg, registry) succeeds (a violation is a bug and
/// aborts; use try_generate() to get it as an error). Does not call
/// sink.finish(): the caller owns the sink.
std::vector<surge> generate(const generator_config& cfg,
                            const interaction_registry& registry,
                            event_sink& sink);

/// generate() for callers holding unchecked input: a bad config or a registry
/// without view/cart/purchase is returned as an error and nothing is emitted.
expected<std::vector<surge>> try_generate(const generator_config& cfg,
                                          const interaction_registry& registry,
                                          event_sink& sink);

/// Writes the surges' ground truth as CSV (header
/// `item,start_ms,end_ms,factor`, one row per surge, LF; "-" = stdout).
status write_surges_csv(const std::vector<surge>& surges,
                        const std::string& path);

// -- legacy source shapes -----------------------------------------------------
// The generator can also write its events the way three real feeds look, so the
// source mappings in configs/schemas/ are exercised end to end. Types are
// spelled per shape from the registry's canonical names; a type a shape has no
// spelling for is written under its canonical name (a mapping then rejects it
// or keeps it, as it would a real feed's surprise).

enum class source_shape {
  /// RetailRocket events.csv: header `timestamp,visitorid,event,itemid,
  /// transactionid`, ts in ms, event in {view, addtocart, transaction}.
  /// transactionid is empty except on transaction rows, where it is a number
  /// (1, 2, ...) that changes whenever a purchase row's (user, ts) differs from
  /// the previous purchase row's: the generator writes an order's lines at one
  /// ts. No quantity column (value is lost). LF line ends.
  retailrocket,
  /// Taobao UserBehavior.csv: no header, `user,item,category,behavior,ts`, ts
  /// in whole seconds (floored), behavior in {pv, cart, fav, buy} (fav = like).
  /// category = item % 97 + 1000 for a decimal item id, else
  /// FNV-1a-64(item) % 97 + 1000. No quantity.
  taobao,
  /// A web pixel's JSON Lines, one object per line, exactly:
  /// {"v":1,"event":{"name":"view","ts":"2023-11-14T22:13:20.123Z"},
  ///  "visitor":{"id":"1234","session":"s-1234-7"},
  ///  "product":{"id":"100042","quantity":2},
  ///  "page":{"url":"https://shop.example/p/100042"}}
  /// event.name in {view, add_to_cart, purchase}; ts ISO-8601 UTC with ms and
  /// Z; product.quantity (= value) only on purchases; session "s-USER-N" counts
  /// a visitor's sessions from 1, a new one after 30 min without events; the
  /// item is percent-encoded in the URL.
  pixel,
};

/// "retailrocket" | "taobao" | "pixel" -> shape.
std::optional<source_shape> parse_source_shape(std::string_view name);
std::string_view to_string(source_shape shape);

/// Opens `path` ("-" = stdout) for writing events in a legacy shape. Write
/// errors are reported by the sink's finish().
expected<std::unique_ptr<event_sink>>
open_shape_writer(source_shape shape, const std::string& path,
                  const interaction_registry& registry);

} // namespace eddy

#pragma once
// The registry of canonical interaction types (configs/interactions.toml).

#include "schema/error.hpp"
#include "schema/event.hpp"

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eddy {

struct interaction_type {
  type_id id = 0;           ///< frozen: travels on the wire
  std::string name;         ///< canonical name, lower case
  float weight = 1.0f;      ///< strength used by trending and ALS
  std::vector<std::string> aliases; ///< other spellings accepted from sources
  std::string description;
};

class interaction_registry {
public:
  /// Loads and validates a registry file; errors name the file and the key.
  static expected<interaction_registry> load(const std::string& path);
  /// Same, from TOML text (`origin` names it in errors).
  static expected<interaction_registry> parse(std::string_view toml,
                                              const std::string& origin);

  /// Canonical name or alias -> id, ASCII case-insensitive. nullopt if unknown.
  std::optional<type_id> resolve(std::string_view name) const;

  /// The type with this id, or nullptr if no such type is registered.
  const interaction_type* find(type_id id) const {
    auto idx = by_id_[id];
    return idx == 0 ? nullptr : &types_[idx - 1];
  }
  bool contains(type_id id) const { return by_id_[id] != 0; }
  /// Canonical name of a registered id ("?" for an unknown one).
  std::string_view name(type_id id) const {
    auto* t = find(id);
    return t ? std::string_view{t->name} : std::string_view{"?"};
  }
  float weight(type_id id) const {
    auto* t = find(id);
    return t ? t->weight : 0.0f;
  }
  const std::vector<interaction_type>& types() const { return types_; }

private:
  std::vector<interaction_type> types_;
  std::array<std::uint8_t, 256> by_id_{}; // id -> index + 1 into types_
  // lower-cased name or alias -> id, sorted by name
  std::vector<std::pair<std::string, type_id>> lookup_;
};

/// ASCII lower-casing (ids and names are opaque bytes otherwise).
std::string ascii_lower(std::string_view s);

} // namespace eddy

#include "schema/interactions.hpp"

#include "schema/toml_util.hpp"

#include <algorithm>

namespace eddy {

std::string ascii_lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

namespace {

error bad(const std::string& origin, const std::string& what) {
  return error{origin + ": " + what};
}

} // namespace

expected<interaction_registry>
interaction_registry::parse(std::string_view text, const std::string& origin) {
  auto parsed = detail::parse_toml(text, origin);
  if (!parsed)
    return parsed.err();
  auto& root = *parsed;
  auto* arr = root["type"].as_array();
  if (arr == nullptr || arr->empty())
    return bad(origin, "no [[type]] tables: the registry needs at least one "
                       "interaction type");
  interaction_registry reg;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    auto where = "[[type]] #" + std::to_string(i + 1);
    auto* t = (*arr)[i].as_table();
    if (t == nullptr)
      return bad(origin, where + " is not a table");
    for (auto&& [key, node] : *t) {
      (void)node;
      auto k = std::string{key.str()};
      if (k != "id" && k != "name" && k != "weight" && k != "aliases" &&
          k != "description")
        return bad(origin, where + ": unknown key '" + k +
                               "' (expected id, name, weight, aliases, "
                               "description)");
    }
    interaction_type it;
    auto id = (*t)["id"].value<int64_t>();
    if (!id || *id < 1 || *id > 255)
      return bad(origin, where + ".id must be an integer in 1..255");
    it.id = static_cast<type_id>(*id);
    auto name = (*t)["name"].value<std::string>();
    if (!name || name->empty())
      return bad(origin, where + ".name must be a non-empty string");
    it.name = ascii_lower(*name);
    where = "type '" + it.name + "'";
    auto w = (*t)["weight"].value<double>();
    if (!w || !(*w >= 0.0) || *w > 1e6)
      return bad(origin, where + ": weight must be a number in [0, 1e6]");
    it.weight = static_cast<float>(*w);
    if (auto* al = (*t)["aliases"].as_array()) {
      for (auto& a : *al) {
        auto s = a.value<std::string>();
        if (!s || s->empty())
          return bad(origin, where + ": aliases must be non-empty strings");
        it.aliases.push_back(ascii_lower(*s));
      }
    } else if ((*t).contains("aliases")) {
      return bad(origin, where + ": aliases must be an array of strings");
    }
    it.description = (*t)["description"].value_or(std::string{});
    if (reg.by_id_[it.id] != 0)
      return bad(origin, where + ": id " + std::to_string(it.id) +
                             " is already used by type '" +
                             std::string{reg.name(it.id)} + "'");
    reg.types_.push_back(std::move(it));
    reg.by_id_[reg.types_.back().id] =
      static_cast<std::uint8_t>(reg.types_.size());
    if (reg.types_.size() > 255)
      return bad(origin, "more than 255 types");
  }
  for (auto& t : reg.types_) {
    reg.lookup_.emplace_back(t.name, t.id);
    for (auto& a : t.aliases)
      reg.lookup_.emplace_back(a, t.id);
  }
  std::sort(reg.lookup_.begin(), reg.lookup_.end());
  for (std::size_t i = 1; i < reg.lookup_.size(); ++i)
    if (reg.lookup_[i].first == reg.lookup_[i - 1].first)
      return bad(origin, "'" + reg.lookup_[i].first +
                             "' names two types: '" +
                             std::string{reg.name(reg.lookup_[i - 1].second)} +
                             "' and '" +
                             std::string{reg.name(reg.lookup_[i].second)} +
                             "'");
  return reg;
}

expected<interaction_registry>
interaction_registry::load(const std::string& path) {
  auto text = detail::read_config_file(
    path, "interaction registry", "pass --interactions FILE or set EDDY_CONFIG_DIR");
  if (!text)
    return text.err();
  return parse(*text, path);
}

std::optional<type_id> interaction_registry::resolve(std::string_view name) const {
  if (name.size() > 64)
    return std::nullopt;
  char low[64];
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    low[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  std::string_view key{low, name.size()};
  auto it = std::lower_bound(
    lookup_.begin(), lookup_.end(), key,
    [](const auto& entry, std::string_view k) { return entry.first < k; });
  if (it != lookup_.end() && it->first == key)
    return it->second;
  return std::nullopt;
}

} // namespace eddy

#pragma once
// Shared by the reader fuzz targets: run bytes through a mapping and check that
// every record is accounted for exactly once.

#include "schema/interactions.hpp"
#include "schema/mapping.hpp"
#include "schema/normalizer.hpp"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

namespace eddy::fuzz {

struct counting_events final : event_sink {
  std::uint64_t n = 0;
  void on_event(const event_view& ev) override {
    // Touch every byte so ASan sees a dangling view.
    std::size_t h = ev.user.size() + ev.item.size();
    for (char c : ev.user)
      h += static_cast<unsigned char>(c);
    for (char c : ev.item)
      h += static_cast<unsigned char>(c);
    if (ev.user.empty() || ev.item.empty() || h == 0)
      std::abort();
    ++n;
  }
};

struct counting_rejects final : reject_sink {
  std::uint64_t n = 0;
  std::string line;
  void on_reject(const reject_record& r) override {
    line.clear();
    format_reject(r, 4096, line);
    ++n;
  }
};

inline const interaction_registry& registry() {
  static auto reg = [] {
    auto r = interaction_registry::parse(
      "[[type]]\nid = 1\nname = \"view\"\nweight = 1.0\naliases = [\"pv\"]\n"
      "[[type]]\nid = 2\nname = \"cart\"\nweight = 3.0\n",
      "fuzz-registry");
    if (!r)
      std::abort();
    return std::move(*r);
  }();
  return reg;
}

// Mappings are parsed once per distinct text (a handful of modes), so executions
// spend their time in the readers, not in TOML parsing.
inline normalizer& normalizer_for(const std::string& mapping_toml) {
  static std::map<std::string, normalizer> cache;
  auto it = cache.find(mapping_toml);
  if (it == cache.end()) {
    auto m = parse_mapping(mapping_toml, "fuzz-mapping");
    if (!m) {
      std::fprintf(stderr, "%s\n", m.err().message.c_str());
      std::abort();
    }
    auto norm = normalizer::make(*m, registry());
    if (!norm)
      std::abort();
    it = cache.emplace(mapping_toml, std::move(*norm)).first;
  }
  return it->second;
}

inline void run(const std::string& mapping_toml, const char* data, std::size_t size) {
  auto* norm = &normalizer_for(mapping_toml);
  auto src = memory_source(std::string_view{data, size}, "fuzz-input");
  counting_events ev;
  counting_rejects rj;
  normalize_stats st;
  auto ok = norm->run(*src, ev, rj, st);
  (void)ok;
  // Every record is an event, filtered, or a reject - exactly once.
  if (st.events != ev.n || st.rejected() != rj.n ||
      st.records != st.events + st.filtered + st.rejected())
    std::abort();
}

} // namespace eddy::fuzz

#pragma once
// Helpers for schema tests: the shipped registry, and normalizing text in memory.

#include "schema/byte_source.hpp"
#include "schema/dead_letter.hpp"
#include "schema/interactions.hpp"
#include "schema/mapping.hpp"
#include "schema/normalizer.hpp"

#include <cstdlib>
#include <filesystem>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace eddy::test {

inline std::string source_dir() { return EDDY_SOURCE_DIR; }

/// A file of the shared data folder (../shared/data next to the checkout, or
/// $EDDY_DATA_DIR): the first of $EDDY_DATA_DIR/REL and, for each folder above the
/// source tree, FOLDER/shared/data/REL that exists; "" if none.
inline std::string shared_data(const std::string& rel) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (const char* env = std::getenv("EDDY_DATA_DIR"); env && *env)
    if (fs::exists(fs::path{env} / rel, ec))
      return (fs::path{env} / rel).string();
  for (auto dir = fs::path{source_dir()}.parent_path(); !dir.empty();
       dir = dir.parent_path()) {
    auto candidate = dir / "shared" / "data" / rel;
    if (fs::exists(candidate, ec))
      return candidate.string();
    if (dir == dir.root_path())
      break;
  }
  return {};
}

inline const interaction_registry& registry() {
  static auto reg = [] {
    auto r = interaction_registry::load(source_dir() + "/configs/interactions.toml");
    EXPECT_TRUE(r) << (r ? "" : r.err().message);
    return std::move(*r);
  }();
  return reg;
}

struct collected_reject {
  reject_reason reason;
  std::uint64_t line;
  std::uint64_t offset;
  std::string raw;
  std::string detail;
};

struct collector final : event_sink, reject_sink {
  std::vector<event> events;
  std::vector<collected_reject> rejects;
  void on_event(const event_view& ev) override { events.push_back(ev.to_event()); }
  void on_reject(const reject_record& r) override {
    rejects.push_back({r.reason, r.line, r.offset, std::string{r.raw},
                       std::string{r.detail}});
  }
};

struct run_result {
  std::vector<event> events;
  std::vector<collected_reject> rejects;
  normalize_stats stats;
  status st;
};

inline source_mapping mapping(const std::string& toml) {
  auto m = parse_mapping(toml, "test-mapping");
  EXPECT_TRUE(m) << (m ? "" : m.err().message);
  return m ? std::move(*m) : source_mapping{};
}

inline run_result normalize_text(const std::string& mapping_toml,
                                 const std::string& input) {
  run_result out;
  auto m = parse_mapping(mapping_toml, "test-mapping");
  EXPECT_TRUE(m) << (m ? "" : m.err().message);
  if (!m)
    return out;
  auto n = normalizer::make(*m, registry());
  EXPECT_TRUE(n) << (n ? "" : n.err().message);
  if (!n)
    return out;
  auto src = memory_source(input, "test-input");
  collector c;
  out.st = n->run(*src, c, c, out.stats);
  out.events = std::move(c.events);
  out.rejects = std::move(c.rejects);
  // The invariant every run keeps: each record is counted exactly once.
  EXPECT_EQ(out.stats.records,
            out.stats.events + out.stats.filtered + out.stats.rejected());
  EXPECT_EQ(out.stats.events, out.events.size());
  EXPECT_EQ(out.stats.rejected(), out.rejects.size());
  return out;
}

} // namespace eddy::test

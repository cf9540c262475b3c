#pragma once
// The MovieLens sample for models tests: where it is, and its ratings as
// interactions. A plain reader: models tests do not link schema/ (the CLI goes
// through the movielens-ratings mapping instead and gives the same events).

#include "models/training.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace eddy::models::testdata {

/// ../shared/data/REL next to the checkout (or $EDDY_DATA_DIR/REL); "" if absent.
inline std::string shared_data(const std::string& rel) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (const char* env = std::getenv("EDDY_DATA_DIR"); env && *env)
    if (fs::exists(fs::path{env} / rel, ec))
      return (fs::path{env} / rel).string();
  for (auto dir = fs::path{EDDY_SOURCE_DIR}.parent_path(); !dir.empty();
       dir = dir.parent_path()) {
    if (fs::exists(dir / "shared" / "data" / rel, ec))
      return (dir / "shared" / "data" / rel).string();
    if (dir == dir.root_path()) break;
  }
  return {};
}

/// ratings.csv (userId,movieId,rating,timestamp; CRLF) as `rate` (type 6)
/// interactions with ms timestamps.
inline std::vector<interaction> read_ratings(const std::string& path) {
  std::ifstream in{path};
  std::vector<interaction> out;
  std::string line;
  std::getline(in, line); // header
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto c1 = line.find(',');
    auto c2 = line.find(',', c1 + 1);
    auto c3 = line.find(',', c2 + 1);
    out.push_back({line.substr(0, c1), line.substr(c1 + 1, c2 - c1 - 1), 6,
                   std::stoll(line.substr(c3 + 1)) * 1000});
  }
  return out;
}

} // namespace eddy::models::testdata

#pragma once
// A one-line progress report on stderr for long runs (only on a terminal unless
// asked), redrawn at most twice a second.

#include <chrono>
#include <cstdint>
#include <string>

namespace eddy::cli {

/// 1234567 -> "1.23M"; 999 -> "999".
std::string human_count(std::uint64_t n);

class progress_line {
public:
  /// mode: "auto" (stderr is a terminal), "always", "never".
  explicit progress_line(const std::string& mode);
  void update(const std::string& label, std::uint64_t bytes, std::uint64_t total_bytes,
              std::uint64_t records, std::uint64_t rejects);
  /// Erases the line so the summary starts clean.
  void clear();

private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

} // namespace eddy::cli

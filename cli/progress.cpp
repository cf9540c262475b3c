#include "cli/progress.hpp"

#include <cstdio>
#include <unistd.h>

namespace eddy::cli {

std::string human_count(std::uint64_t n) {
  char buf[32];
  if (n < 10000)
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
  else if (n < 1000000)
    std::snprintf(buf, sizeof buf, "%.1fk", static_cast<double>(n) / 1e3);
  else if (n < 1000000000ull)
    std::snprintf(buf, sizeof buf, "%.2fM", static_cast<double>(n) / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.2fG", static_cast<double>(n) / 1e9);
  return buf;
}

progress_line::progress_line(const std::string& mode)
  : enabled_(mode == "always" || (mode == "auto" && ::isatty(2))),
    start_(std::chrono::steady_clock::now()), last_(start_) {}

void progress_line::update(const std::string& label, std::uint64_t bytes,
                           std::uint64_t total_bytes, std::uint64_t records,
                           std::uint64_t rejects) {
  if (!enabled_)
    return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(500))
    return;
  last_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  char pct[16] = "";
  if (total_bytes > 0)
    std::snprintf(pct, sizeof pct, " (%.0f%%)",
                  100.0 * static_cast<double>(bytes) /
                    static_cast<double>(total_bytes));
  std::fprintf(stderr, "\r\033[K%s: %.1f MB%s, %s records, %s/s, %s rejects",
               label.c_str(), static_cast<double>(bytes) / 1e6, pct,
               human_count(records).c_str(),
               human_count(static_cast<std::uint64_t>(
                             secs > 0 ? static_cast<double>(records) / secs : 0))
                 .c_str(),
               human_count(rejects).c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void progress_line::clear() {
  if (drawn_)
    std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
}

} // namespace eddy::cli

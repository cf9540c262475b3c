#include "cli/paths.hpp"

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;

namespace eddy::cli {

std::string config_dir() {
  if (const char* env = std::getenv("EDDY_CONFIG_DIR"); env && *env)
    return env;
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
         dir = dir.parent_path())
      if (fs::exists(dir / "configs" / "interactions.toml", ec))
        return (dir / "configs").string();
  }
  return "configs";
}

std::string resolve_mapping(const std::string& arg) {
  std::error_code ec;
  if (arg.find('/') != std::string::npos || fs::exists(arg, ec))
    return arg;
  auto name = arg.ends_with(".toml") ? arg : arg + ".toml";
  return (fs::path{config_dir()} / "schemas" / name).string();
}

std::string resolve_interactions(const std::string& arg) {
  if (!arg.empty())
    return arg;
  return (fs::path{config_dir()} / "interactions.toml").string();
}

} // namespace eddy::cli

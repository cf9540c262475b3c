#pragma once
// Where eddy finds its configs/ folder at run time.

#include <string>

namespace eddy::cli {

/// The configs directory: $EDDY_CONFIG_DIR, else the source tree's configs/ next to
/// the executable (build/bin/../../configs), else ./configs.
std::string config_dir();

/// A mapping argument is a path to a .toml file or the name of a shipped mapping
/// (configs/schemas/NAME.toml).
std::string resolve_mapping(const std::string& arg);

/// configs/interactions.toml unless `arg` is set.
std::string resolve_interactions(const std::string& arg);

} // namespace eddy::cli

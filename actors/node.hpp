#pragma once
// `eddy node`: one cluster node process. CAF stays behind this header: the CLI
// includes it without seeing CAF.

#include "cluster/config.hpp"

#include <string>

namespace eddy::actors {

struct node_options {
  std::string node_id;          ///< which [[node]] of the config this process is
  std::string interactions;     ///< registry file
};

/// Runs the node until SIGINT or SIGTERM; returns the process exit status. Prints a
/// line "eddy node NODE ready ..." on stderr once every endpoint is bound and every
/// shard log replayed.
int run_node(const cluster::cluster_config& cfg, const node_options& opt);

} // namespace eddy::actors

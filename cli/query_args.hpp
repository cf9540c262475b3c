#pragma once
// Query arguments the CLI sends to a node (`k=10&type=cart&item=...`, the syntax
// of actors/trend_query.hpp and actors/als_coordinator.hpp): escaped with the one
// escape every client uses (cluster/client.hpp).

#include "cluster/client.hpp"

namespace eddy::cli {

using cluster::escape_arg;

} // namespace eddy::cli

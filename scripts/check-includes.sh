#!/usr/bin/env bash
# Layering check (STYLE.md habit 1, DESIGN.md §7): models/ is pure math (std, Eigen, absl containers, libxxhash);
# schema/ never sees the runtime (CAF, ZeroMQ, spdlog). Exits 1 naming each offender.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
status=0
check() { # folder, regex, what
  local hits
  hits=$(grep -rnE "#include *[<\"]($2)" "$root/$1" --include='*.hpp' --include='*.cpp' || true)
  if [ -n "$hits" ]; then
    echo "layering: $1/ must not include $3:"
    echo "$hits"
    status=1
  fi
}
check models 'caf/|zmq|spdlog/|msgpack' "CAF, ZeroMQ, spdlog or msgpack"
check schema 'caf/|zmq|spdlog/' "CAF, ZeroMQ or spdlog"
[ -d "$root/cluster" ] && check cluster 'caf/' "CAF (actors/ wires CAF to cluster/)"
[ $status -eq 0 ] && echo "layering: ok"
exit $status

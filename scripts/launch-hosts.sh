#!/usr/bin/env bash
# Starts, stops or checks one eddy cluster spread over several hosts, over ssh.
#
#   scripts/launch-hosts.sh HOSTS_FILE CONFIG start|stop|status
#
# HOSTS_FILE: one line per node, "NODE_ID SSH_TARGET", e.g.
#     n1 eddy@10.0.0.11
#     n2 eddy@10.0.0.12
#     n3 eddy@10.0.0.13
# CONFIG: the cluster config (configs/cluster-3.toml shape) whose [[node]] ids are
# the same and whose hosts/ports are the addresses the nodes bind and reach each other
# on. Every node gets the same config file.
#
# Each host needs the eddy binary at $EDDY_REMOTE_BIN (default /opt/eddy/bin/eddy)
# and its configs/ at $EDDY_REMOTE_CONFIGS (default /opt/eddy/configs); the node runs
# in $EDDY_REMOTE_DIR (default ~/eddy-run: cluster.toml, node.log, node.pid, data).
# ssh must log in without a password prompt (keys or an agent).
set -euo pipefail
[ $# -eq 3 ] || { sed -n '2,20p' "$0"; exit 2; }
hosts=$1
config=$2
cmd=$3
bin=${EDDY_REMOTE_BIN:-/opt/eddy/bin/eddy}
configs=${EDDY_REMOTE_CONFIGS:-/opt/eddy/configs}
dir=${EDDY_REMOTE_DIR:-eddy-run}
[ -f "$hosts" ] || { echo "launch-hosts: no hosts file '$hosts'" >&2; exit 2; }
[ -f "$config" ] || { echo "launch-hosts: no config '$config'" >&2; exit 2; }

while read -r id target _; do
  [ -z "${id:-}" ] || [ "${id:0:1}" = "#" ] && continue
  grep -q "id = \"$id\"" "$config" || {
    echo "launch-hosts: node $id is not in $config" >&2
    exit 2
  }
  case "$cmd" in
    start)
      ssh -n "$target" "mkdir -p $dir"
      scp -q "$config" "$target:$dir/cluster.toml"
      ssh -n "$target" "cd $dir && EDDY_CONFIG_DIR=$configs nohup $bin node --config cluster.toml --id $id >node.log 2>&1 & echo \$! >node.pid"
      echo "$id: started on $target"
      ;;
    stop)
      ssh -n "$target" "cd $dir && [ -f node.pid ] && kill -TERM \$(cat node.pid) && rm -f node.pid || true"
      echo "$id: stopped on $target"
      ;;
    status)
      if ssh -n "$target" "cd $dir && [ -f node.pid ] && kill -0 \$(cat node.pid)" 2>/dev/null; then
        echo "$id: running on $target"
      else
        echo "$id: NOT running on $target"
      fi
      ;;
    *)
      echo "launch-hosts: unknown command '$cmd' (start | stop | status)" >&2
      exit 2
      ;;
  esac
done <"$hosts"

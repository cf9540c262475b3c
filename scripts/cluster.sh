#!/usr/bin/env bash
# Runs a local eddy cluster on 127.0.0.1.
#
#   scripts/cluster.sh start [N]     write RUN_DIR/cluster.toml for N nodes (default 3),
#                                    start them, wait until every node is ready and
#                                    sees every other one
#   scripts/cluster.sh stop          SIGTERM every node, wait for a clean exit
#   scripts/cluster.sh status        which processes run, and `eddy status`
#   scripts/cluster.sh kill NODE     SIGKILL one node (crash tests)
#   scripts/cluster.sh restart NODE  start one node again (after kill)
#
# Environment: EDDY_RUN_DIR (default run/cluster): config, data/, logs/, pids/;
# EDDY_BASE_PORT (default 5551): ingest ports BASE.., peer ports BASE+100.., HTTP ports
# BASE+250.. (the API, pixel and dashboard; EDDY_HTTP=0 for none);
# EDDY_SHARDS (default 64); EDDY_FSYNC (per_batch | group | none, default group);
# EDDY_BIN (default build/bin/eddy); EDDY_EXTRA_CONFIG: a TOML file appended to the
# written config (e.g. a [trending] section; keys in configs/CLUSTER.md).
set -euo pipefail
cd "$(dirname "$0")/.."
run=${EDDY_RUN_DIR:-run/cluster}
base=${EDDY_BASE_PORT:-5551}
bin=${EDDY_BIN:-build/bin/eddy}
cmd=${1:-status}
config="$run/cluster.toml"

die() { echo "cluster.sh: $*" >&2; exit 1; }
[ -x "$bin" ] || die "$bin not found: build first (scripts/build.sh)"

node_ids() { grep -E '^id = ' "$config" | sed -E 's/id = "(.*)"/\1/'; }
first_ingest() { grep -E '^ingest_port' "$config" | head -1 | sed -E 's/.*= *//'; }
pid_of() { cat "$run/pids/$1.pid" 2>/dev/null || true; }
running() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

start_node() { # id
  local id=$1
  running "$id" && { echo "cluster.sh: $id already runs (pid $(pid_of "$id"))"; return; }
  mkdir -p "$run/logs" "$run/pids"
  # Keep the previous log: crash tests read it.
  [ -f "$run/logs/$id.log" ] && cat "$run/logs/$id.log" >>"$run/logs/$id.log.old"
  nohup "$bin" node --config "$config" --id "$id" >"$run/logs/$id.log" 2>&1 &
  echo $! >"$run/pids/$id.pid"
}

wait_ready() { # id
  local id=$1 deadline=$((SECONDS + 60))
  until grep -q " ready: ingest " "$run/logs/$id.log" 2>/dev/null; do
    if ! running "$id"; then
      tail -5 "$run/logs/$id.log" >&2
      die "$id exited during start (log: $run/logs/$id.log)"
    fi
    [ $SECONDS -lt $deadline ] || die "$id not ready after 60 s (log: $run/logs/$id.log)"
    sleep 0.1
  done
}

wait_all_alive() {
  local n deadline=$((SECONDS + 30))
  n=$(node_ids | wc -l)
  while true; do
    local alive
    alive=$("$bin" status --connect "tcp://127.0.0.1:$(first_ingest)" --json 2>/dev/null |
      grep -o '"alive":true' | wc -l || true)
    [ "$alive" -ge "$n" ] && return 0
    [ $SECONDS -lt $deadline ] || die "only $alive of $n nodes see each other after 30 s"
    sleep 0.2
  done
}

case "$cmd" in
  start)
    n=${2:-3}
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number (got '$n')"
    for id in $( [ -f "$config" ] && node_ids ); do
      running "$id" && die "a cluster already runs in $run ($id): scripts/cluster.sh stop"
    done
    mkdir -p "$run"
    {
      echo "# written by scripts/cluster.sh start $n"
      echo "name = \"local-$n\""
      echo "shards = ${EDDY_SHARDS:-64}"
      echo "data_dir = \"$run/data\""
      for i in $(seq 1 "$n"); do
        echo
        echo "[[node]]"
        echo "id = \"n$i\""
        echo "host = \"127.0.0.1\""
        echo "ingest_port = $((base + i - 1))"
        echo "peer_port = $((base + 100 + i - 1))"
        [ "${EDDY_HTTP:-1}" = 0 ] || echo "http_port = $((base + 250 + i - 1))"
      done
      echo
      echo "[log]"
      echo "fsync = \"${EDDY_FSYNC:-group}\""
      if [ -n "${EDDY_EXTRA_CONFIG:-}" ]; then
        echo
        cat "$EDDY_EXTRA_CONFIG"
      fi
    } >"$config"
    for id in $(node_ids); do start_node "$id"; done
    for id in $(node_ids); do wait_ready "$id"; done
    wait_all_alive
    http=""
    [ "${EDDY_HTTP:-1}" = 0 ] || http="; HTTP on http://127.0.0.1:$((base + 250))..$((base + 250 + n - 1)) (dashboard at /)"
    echo "cluster.sh: $n node(s) up; ingest on tcp://127.0.0.1:$base..$((base + n - 1))$http; run dir $run"
    ;;
  stop)
    [ -f "$config" ] || { echo "cluster.sh: nothing to stop in $run"; exit 0; }
    for id in $(node_ids); do running "$id" && kill -TERM "$(pid_of "$id")" || true; done
    for id in $(node_ids); do
      deadline=$((SECONDS + 20))
      while running "$id"; do
        if [ $SECONDS -ge $deadline ]; then
          echo "cluster.sh: $id ignored SIGTERM for 20 s; killing it" >&2
          kill -KILL "$(pid_of "$id")" || true
        fi
        sleep 0.1
      done
      rm -f "$run/pids/$id.pid"
    done
    echo "cluster.sh: stopped"
    ;;
  status)
    [ -f "$config" ] || die "no cluster in $run (scripts/cluster.sh start N)"
    for id in $(node_ids); do
      if running "$id"; then echo "$id: running (pid $(pid_of "$id"))"; else echo "$id: NOT running"; fi
    done
    "$bin" status --connect "tcp://127.0.0.1:$(first_ingest)" || true
    ;;
  kill)
    id=${2:?usage: cluster.sh kill NODE}
    running "$id" || die "$id is not running"
    kill -KILL "$(pid_of "$id")"
    while running "$id"; do sleep 0.05; done
    echo "cluster.sh: $id killed"
    ;;
  restart)
    id=${2:?usage: cluster.sh restart NODE}
    start_node "$id"
    wait_ready "$id"
    wait_all_alive
    echo "cluster.sh: $id restarted"
    ;;
  *)
    die "unknown command '$cmd' (start [N] | stop | status | kill NODE | restart NODE)"
    ;;
esac

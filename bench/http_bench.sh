#!/usr/bin/env bash
# The HTTP API under load (issue 7): wrk against /v1/similar/{item} and
# /v1/trending on a local 3-node cluster, 64 connections (wrk -t2 -c64), once on
# the node that owns the item and once through a node that does not (it asks the
# owner; /v1/trending has no owner: every node gathers from all three, so its two
# cases are just two entry nodes). wrk keeps 64 requests in flight (closed loop), so
# latency ~ 64 / QPS once the 2 cores are busy. Prints QPS and p50 / p99 latency
# per case and ends with one line
#   RESULT similar_owner_qps=... similar_owner_p50_ms=... ... trending_other_p99_ms=...
#
#   bench/http_bench.sh [SECONDS]      (default 10 s per case)
#
# Environment: EDDY_BIN (default build/bin/eddy), EDDY_BASE_PORT (default 22551:
# ingest 22551.., HTTP 22801..), EDDY_BENCH_CONNECTIONS (64), EDDY_BENCH_HTTP_THREADS
# (64: HTTP worker threads per node, [http] threads; each serves one connection at
# a time, so fewer than the connections queues them). Needs wrk (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
bin=${EDDY_BIN:-build/bin/eddy}
base=${EDDY_BASE_PORT:-22551}
conns=${EDDY_BENCH_CONNECTIONS:-64}
threads=${EDDY_BENCH_HTTP_THREADS:-64}
command -v wrk >/dev/null || { echo "http_bench: wrk not found: run scripts/setup.sh" >&2; exit 1; }
[ -x "$bin" ] || { echo "http_bench: $bin not found: build first (scripts/build.sh)" >&2; exit 1; }

run_dir=$(mktemp -d /tmp/eddy-http-bench.XXXXXX)
export EDDY_RUN_DIR=$run_dir EDDY_BASE_PORT=$base EDDY_BIN=$bin
printf '[http]\nthreads = %s\n' "$threads" >"$run_dir/extra.toml"
trap 'scripts/cluster.sh stop >/dev/null 2>&1 || true; rm -rf "$run_dir"' EXIT
EDDY_EXTRA_CONFIG=$run_dir/extra.toml scripts/cluster.sh start 3 >/dev/null

echo "== a 3-node cluster ($run_dir): a generated shop, then ALS + the similar-items table"
"$bin" produce --connect "tcp://127.0.0.1:$base" --seed 5 --hours 6 --items 2000 --users 20000 \
  --sessions-per-minute 100 --start 1700000000000 --summary json >"$run_dir/produce.json"
"$bin" train --connect "tcp://127.0.0.1:$base" --factors 32 --iterations 6 --json >"$run_dir/train.json"
item=$("$bin" popular -k 1 --json --connect "tcp://127.0.0.1:$base" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["item"])')
# The owner: the node whose shards hold the item's events.
owner=$("$bin" count --item "$item" --json --connect "tcp://127.0.0.1:$base" |
  python3 -c 'import json,sys; print([i for i, n in enumerate(json.load(sys.stdin)["nodes"]) if n.get("item_count")][0])')
other=$(( (owner + 1) % 3 ))
echo "  item $item is owned by n$((owner + 1)); the non-owner asked is n$((other + 1))"
for node in $owner $other; do # the answer must be there before it is measured
  curl -sf "http://127.0.0.1:$((base + 250 + node))/v1/similar/$item?k=10" >/dev/null ||
    { echo "http_bench: /v1/similar/$item fails on n$((node + 1))" >&2; exit 1; }
done

result=""
measure() { # name node path
  local name=$1 node=$2 path=$3 out
  # Warm-up: connections, HTTP threads and their sockets to the node exist before.
  wrk -t2 -c"$conns" -d2s "http://127.0.0.1:$((base + 250 + node))$path" >/dev/null
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:$((base + 250 + node))$path")
  python3 - "$name" "$out" <<'PY'
import re, sys
name, out = sys.argv[1], sys.argv[2]
def ms(v):
    n, unit = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
qps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
p50 = ms(re.search(r"\s50%\s+(\S+)", out).group(1))
p99 = ms(re.search(r"\s99%\s+(\S+)", out).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
errs = re.search(r"Socket errors: (.*)", out)
print(f"  {name:<16} {qps:>9.0f} req/s   p50 {p50:7.3f} ms   p99 {p99:7.3f} ms"
      + (f"   NON-2xx {bad.group(1)}" if bad else "") + (f"   socket errors: {errs.group(1)}" if errs else ""),
      file=sys.stderr)
print(f"{name}_qps={qps:.0f} {name}_p50_ms={p50:.3f} {name}_p99_ms={p99:.3f}")
PY
}
echo "== wrk -t2 -c$conns -d${secs}s --latency (HTTP threads per node: $threads)"
result+=" $(measure similar_owner "$owner" "/v1/similar/$item?k=10")"
result+=" $(measure similar_other "$other" "/v1/similar/$item?k=10")"
result+=" $(measure trending_owner "$owner" "/v1/trending?k=10")"
result+=" $(measure trending_other "$other" "/v1/trending?k=10")"
echo "RESULT$result"

#!/usr/bin/env bash
# The HTTP API under load (issue 7): wrk against /v1/similar/{item} and
# /v1/trending on a local 3-node cluster, 64 connections, once on the node that
# owns the item and once through a node that does not (it asks the owner;
# /v1/trending has no owner: every node gathers from all three, so its two cases
# are two entry nodes). A node keeps the answers owners gave it and gives them
# again while its similar table is the owner's ([http] similar_cache_entries), so
# the non-owner case (one item asked again and again) is mostly kept answers; the
# cluster is then restarted with similar_cache_entries = 0 (same data and model)
# and the non-owner case runs again as similar_forwarded: every request forwarded
# to the owner. Two kinds of case:
#
#   paced (the issue's target: p99 <= 2 ms at 5k requests/s for /v1/similar):
#     wrk -c64 with a Lua delay() hook: each connection sends a request, waits for
#     the whole answer, then pauses an exponentially distributed think time, so the
#     64 connections together offer Poisson-like arrivals at RATE requests/s
#     (Debian has no wrk2). The mean pause is calibrated on two 2 s warm-up runs so
#     the achieved rate is about RATE (it is printed, and may overshoot by ~10% when
#     latency drops after the warm-up; well below RATE means the server could not
#     keep up). Latency is wrk's: from writing a request to its complete
#     answer. A request is never sent while its connection still waits, so a stall
#     longer than the pause (12.8 ms at 5k/s) delays later requests instead of
#     showing in their latency (coordinated omission): trust p99 while it is well
#     below the pause, and check the achieved rate.
#   saturation (max QPS): plain wrk, every connection always busy (closed loop);
#     latency there is mostly queueing (~ connections / QPS), only QPS is reported.
#
# Prints each case and ends with one line
#   RESULT similar_owner_qps=... similar_owner_p50_ms=... similar_owner_p99_ms=...
#          ... similar_owner_p99_vs_target=P99/2ms ... similar_owner_max_qps=...
#          similar_owner_headroom=MAX_QPS/RATE ...
#
#   bench/http_bench.sh [SECONDS]      (default 10 s per case)
#
# Environment: EDDY_BIN (default build/bin/eddy), EDDY_BASE_PORT (default 22551:
# ingest 22551.., HTTP 22801..), EDDY_BENCH_CONNECTIONS (64), EDDY_BENCH_RATE (5000:
# offered requests/s of the paced /v1/similar cases), EDDY_BENCH_TRENDING_RATE (200:
# of the paced /v1/trending cases, which gather from every shard of every node),
# EDDY_BENCH_HTTP_THREADS (64: [http] threads per node; each serves one
# connection at a time), EDDY_BENCH_SETTLE (20: seconds of pause before the
# similar_forwarded case). Needs wrk (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
bin=${EDDY_BIN:-build/bin/eddy}
base=${EDDY_BASE_PORT:-22551}
conns=${EDDY_BENCH_CONNECTIONS:-64}
rate=${EDDY_BENCH_RATE:-5000}
trending_rate=${EDDY_BENCH_TRENDING_RATE:-200}
threads=${EDDY_BENCH_HTTP_THREADS:-64}
target_p99_ms=2
command -v wrk >/dev/null || { echo "http_bench: wrk not found: run scripts/setup.sh" >&2; exit 1; }
[ -x "$bin" ] || { echo "http_bench: $bin not found: build first (scripts/build.sh)" >&2; exit 1; }

run_dir=$(mktemp -d /tmp/eddy-http-bench.XXXXXX)
export EDDY_RUN_DIR=$run_dir EDDY_BASE_PORT=$base EDDY_BIN=$bin
printf '[http]\nthreads = %s\n' "$threads" >"$run_dir/extra.toml"
trap 'scripts/cluster.sh stop >/dev/null 2>&1 || true; rm -rf "$run_dir"' EXIT
EDDY_EXTRA_CONFIG=$run_dir/extra.toml scripts/cluster.sh start 3 >/dev/null

# The pacing script: exponential pauses of mean EDDY_PAUSE_MS between one answer
# and the next request of a connection (wrk's delay() is in whole ms: rounding
# to the nearest keeps the mean), cut at 900 ms: the server closes keep-alive
# connections idle for 1 s, and a reconnect is not what is measured. Each wrk
# thread seeds its own generator.
cat >"$run_dir/paced.lua" <<'LUA'
local pause_ms = tonumber(os.getenv("EDDY_PAUSE_MS"))
local count = 0
function setup(thread)
  count = count + 1
  thread:set("seed", count)
end
function init(args)
  math.randomseed(seed * 7919)
end
function delay()
  return math.min(900, math.floor(-math.log(1 - math.random()) * pause_ms + 0.5))
end
LUA

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

# wrk's output -> "qps p50_ms p99_ms non2xx socket_errors"
parse() {
  python3 -c '
import re, sys
out = sys.stdin.read()
def ms(v):
    n, unit = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
qps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
p50 = ms(re.search(r"\s50%\s+(\S+)", out).group(1))
p99 = ms(re.search(r"\s99%\s+(\S+)", out).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
print(f"{qps:.1f} {p50:.3f} {p99:.3f} {bad.group(1) if bad else 0} "
      f"{sum(map(int, errs.groups())) if errs else 0}")'
}

result=""
# paced NAME NODE PATH RATE: latency at RATE requests/s offered by $conns connections.
paced() {
  local name=$1 node=$2 path=$3 want=$4 url pause measured qps p50 p99 bad errs
  url="http://127.0.0.1:$((base + 250 + node))$path"
  # Calibration (also the warm-up: connections, HTTP threads and their sockets to
  # the node exist before): with pause P the rate is conns / (P + latency), so the
  # pause for the wanted rate is P - (conns / achieved - conns / want); twice, as
  # the first run's latency includes the warm-up.
  pause=$(python3 -c "print($conns * 1000 / $want)")
  for _ in 1 2; do
    measured=$(EDDY_PAUSE_MS=$pause wrk -t2 -c"$conns" -d2s --latency -s "$run_dir/paced.lua" "$url" | parse)
    pause=$(python3 -c "
q = float('${measured%% *}')
print(max(0.0, $pause - ($conns * 1000 / q - $conns * 1000 / $want)) if q > 0 else $pause)")
  done
  read -r qps p50 p99 bad errs < <(EDDY_PAUSE_MS=$pause wrk -t2 -c"$conns" -d"${secs}s" --latency \
    -s "$run_dir/paced.lua" "$url" | parse)
  printf '  %-16s offered %5s/s: %7.0f req/s   p50 %7.3f ms   p99 %7.3f ms%s%s\n' \
    "$name" "$want" "$qps" "$p50" "$p99" \
    "$([ "$bad" = 0 ] || echo "   NON-2xx $bad")" "$([ "$errs" = 0 ] || echo "   socket errors $errs")" >&2
  result+=" ${name}_qps=${qps%.*} ${name}_p50_ms=$p50 ${name}_p99_ms=$p99"
  [ "$bad" = 0 ] || result+=" ${name}_non2xx=$bad"
}
# saturate NAME NODE PATH: the most requests/s $conns always-busy connections get.
saturate() {
  local name=$1 node=$2 path=$3 url qps rest
  url="http://127.0.0.1:$((base + 250 + node))$path"
  wrk -t2 -c"$conns" -d2s "$url" >/dev/null
  read -r qps rest < <(wrk -t2 -c"$conns" -d"${secs}s" --latency "$url" | parse)
  printf '  %-16s saturated: %7.0f req/s\n' "$name" "$qps" >&2
  result+=" ${name}_max_qps=${qps%.*}"
}

echo "== paced: wrk -t2 -c$conns -d${secs}s, exponential pauses per connection (HTTP threads per node: $threads)"
paced similar_owner "$owner" "/v1/similar/$item?k=10" "$rate"
paced similar_other "$other" "/v1/similar/$item?k=10" "$rate"
paced trending_owner "$owner" "/v1/trending?k=10" "$trending_rate"
paced trending_other "$other" "/v1/trending?k=10" "$trending_rate"
echo "== saturation: wrk -t2 -c$conns -d${secs}s, every connection always busy"
saturate similar_owner "$owner" "/v1/similar/$item?k=10"
saturate similar_other "$other" "/v1/similar/$item?k=10"
saturate trending_owner "$owner" "/v1/trending?k=10"
echo "== the non-owner again with nothing kept ([http] similar_cache_entries = 0): every request forwarded"
scripts/cluster.sh stop >/dev/null
printf '[http]\nthreads = %s\nsimilar_cache_entries = 0\n' "$threads" >"$run_dir/extra.toml"
EDDY_EXTRA_CONFIG=$run_dir/extra.toml scripts/cluster.sh start 3 >/dev/null
for _ in $(seq 150); do # every node sees the others again (heartbeats), as before the restart
  [ "$("$bin" status --connect "tcp://127.0.0.1:$base" --json 2>/dev/null | grep -o '"alive":true' | wc -l)" -ge 3 ] && break
  sleep 0.2
done
# A pause first: right after the saturation runs above, forwarded requests were
# 2-4x slower here (p50 2-4 ms instead of 0.8-0.9), while the same case right
# after a restart without those runs before it was not; the machine, not the
# nodes, needs the pause (they are idle then). EDDY_BENCH_SETTLE=0 skips it.
sleep "${EDDY_BENCH_SETTLE:-20}"
curl -sf "http://127.0.0.1:$((base + 250 + other))/v1/similar/$item?k=10" >/dev/null ||
  { echo "http_bench: /v1/similar/$item fails on n$((other + 1)) after the restart" >&2; exit 1; }
paced similar_forwarded "$other" "/v1/similar/$item?k=10" "$rate"
saturate similar_forwarded "$other" "/v1/similar/$item?k=10"
# The target and the headroom, from the figures above.
result+=$(python3 - "$result" "$target_p99_ms" "$rate" <<'PY'
import sys
r = dict(kv.split("=") for kv in sys.argv[1].split())
target, rate = float(sys.argv[2]), float(sys.argv[3])
out = []
for case in ("similar_owner", "similar_other", "similar_forwarded"):
    out.append(f"{case}_p99_vs_target={float(r[case + '_p99_ms']) / target:.2f}")
    out.append(f"{case}_headroom={float(r[case + '_max_qps']) / rate:.2f}")
print(" " + " ".join(out))
PY
)
echo "  target: /v1/similar p99 <= ${target_p99_ms} ms at ${rate} req/s (p99_vs_target <= 1; headroom = max QPS / ${rate})"
echo "RESULT$result"

#!/usr/bin/env bash
# The main job, end to end: install what is missing, build, then
#  1. generate a small synthetic shop (one day, with injected surges) in the legacy
#     shapes eddy reads (RetailRocket CSV, Taobao CSV, pixel JSON Lines, gzip too),
#  2. normalize each of them and the MovieLens sample through the shipped mappings,
#     and print what came out: events, rejects by reason, throughput, the surges,
#  3. start a 3-node local cluster, feed it the generated shop live (eddy produce)
#     and the MovieLens sample from its file (eddy ingest) at the same time, and
#     print per-node shard ownership and totals, then the trending and popular
#     lists and one item's series; then stop the cluster (--keep leaves it
#     running; scripts/cluster.sh stop ends it),
#  4. score the trending list on a second, fresh 3-node cluster: a generated shop
#     with known surges streamed bucket by bucket (eddy score-trending),
#  5. train ALS across the demo cluster and print recommendations (eddy train,
#     eddy recommend) and "You May Also Like" lists with their recall (eddy similar),
#     and evaluate ALS against popularity on MovieLens (eddy eval),
#  6. print the dashboard's URL and curl examples of the HTTP API, and keep the demo
#     cluster serving them until Ctrl-C (--no-serve: stop it and exit instead;
#     --keep: exit but leave it running, scripts/cluster.sh stop ends it).
# Outputs go to run/demo/ (override with EDDY_DEMO_DIR); the cluster runs in
# run/demo-cluster with ingest ports 5551-5553 and HTTP ports 5801-5803
# (EDDY_BASE_PORT, HTTP = ingest + 250).
set -euo pipefail
cd "$(dirname "$0")/.."
serve=1
keep=0
for arg in "$@"; do
  case "$arg" in
    --no-serve) serve=0 ;;
    --keep) keep=1; serve=0 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown option '$arg' (use --no-serve, --keep or --help)" >&2; exit 2 ;;
  esac
done
scripts/setup.sh
echo "== build"
scripts/build.sh -DEDDY_BENCH=ON -DEDDY_TESTS=ON
eddy=${EDDY_BUILD_DIR:-build}/bin/eddy
out=${EDDY_DEMO_DIR:-run/demo}
rm -rf "$out" && mkdir -p "$out"

echo "== generate a small shop (seed 42, 24 h, 2000 users, 500 items, 5 surges)"
common=(--seed 42 --hours 24 --users 2000 --items 500 --sessions-per-minute 20)
"$eddy" generate "${common[@]}" --format retailrocket -o "$out/shop-retailrocket.csv"
"$eddy" generate "${common[@]}" --format taobao -o "$out/shop-taobao.csv" 2>/dev/null
"$eddy" generate "${common[@]}" --format pixel -o "$out/shop-pixel.jsonl" 2>/dev/null
gzip -kf "$out/shop-retailrocket.csv"
# A few broken rows, as real exports have: each must come out as one dead letter.
{
  echo "not-a-time,99,view,100001,"
  echo "1700000000000,99,teleport,100001,"
  printf '1700000000000,9\xff9,view,100001,\n'
  printf '1700000000000,99,vi'
} >"$out/broken-tail.csv"
cat "$out/shop-retailrocket.csv" "$out/broken-tail.csv" >"$out/shop-retailrocket-messy.csv"

normalize() { # mapping input output
  "$eddy" normalize --schema "$1" "$2" -o "$3" --summary json >"$3.summary.json"
  python3 - "$2" "$3.summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[2]))
rej = ", ".join(f"{k} {v}" for k, v in s["rejects_by_reason"].items() if v) or "none"
rate = s["events"] / s["seconds"] / 1e6 if s["seconds"] > 0 else 0
print(f"  {sys.argv[1]:<42} {s['events']:>8} events  {s['rejects']:>3} rejects ({rej})  {rate:5.1f} M events/s")
PY
}
echo "== normalize (events -> $out/*.msgpack, rejects -> *.rejects.jsonl)"
normalize retailrocket-events "$out/shop-retailrocket.csv" "$out/retailrocket.msgpack"
normalize retailrocket-events "$out/shop-retailrocket.csv.gz" "$out/retailrocket-gz.msgpack"
normalize retailrocket-events "$out/shop-retailrocket-messy.csv" "$out/retailrocket-messy.msgpack"
normalize taobao-userbehavior "$out/shop-taobao.csv" "$out/taobao.msgpack"
normalize pixel-jsonl "$out/shop-pixel.jsonl" "$out/pixel.msgpack"
ml=${EDDY_DATA_DIR:-../shared/data}/ml-latest-small/ratings.csv
if [ -f "$ml" ]; then
  normalize movielens-ratings "$ml" "$out/movielens.msgpack"
else
  echo "  (MovieLens sample not found at $ml: skipped)"
fi

echo "== dead letters of the messy file"
sed 's/^/  /' "$out/retailrocket-messy.msgpack.rejects.jsonl"
echo "== surges planted by the generator (ground truth for trending)"
awk -F, '{ printf "  %-10s %-15s %-15s %s\n", $1, $2, $3, $4 }' "$out/shop-retailrocket.csv.surges.csv"

echo "== a 3-node cluster on 127.0.0.1 (scripts/cluster.sh)"
export EDDY_RUN_DIR=${EDDY_DEMO_CLUSTER_DIR:-run/demo-cluster} EDDY_BIN=$eddy
base=${EDDY_BASE_PORT:-5551}
scripts/cluster.sh stop >/dev/null 2>&1 || true
rm -rf "$EDDY_RUN_DIR"
scripts/cluster.sh start 3
[ $keep -eq 1 ] || trap 'scripts/cluster.sh stop >/dev/null' EXIT

echo "== feed it: the shop live through n1 (eddy produce), MovieLens from its file through n2 (eddy ingest)"
"$eddy" produce --connect "tcp://127.0.0.1:$base" --seed 42 --hours 24 --users 2000 --items 500 \
  --sessions-per-minute 20 --start 1700000000000 --batch 2000 --rate 400000 \
  --producer demo-shop 2>"$out/produce.log" &
producer=$!
if [ -f "$ml" ]; then
  "$eddy" ingest --schema movielens-ratings "$ml" --connect "tcp://127.0.0.1:$((base + 1))" \
    --producer demo-movielens --dead-letter "$out/ingest-movielens.rejects.jsonl"
fi
wait $producer
sed 's/^/  /' "$out/produce.log"

echo "== per-node shard ownership and totals (eddy status, asked at n3)"
"$eddy" status --connect "tcp://127.0.0.1:$((base + 2))" | sed 's/^/  /'
surge_item=$(awk -F, 'NR == 2 { print $1 }' "$out/shop-retailrocket.csv.surges.csv")
echo "== one item through the owners (eddy count --item $surge_item, a surge item)"
"$eddy" count --item "$surge_item" --connect "tcp://127.0.0.1:$base" | head -2 | sed 's/^/  /'
echo "== trending now (eddy trending: last closed minute against its forecast, asked at n2)"
"$eddy" trending -k 10 --connect "tcp://127.0.0.1:$((base + 1))" | sed 's/^/  /'
echo "== popular (eddy popular: weighted counts over the last hour of event time)"
"$eddy" popular -k 10 --connect "tcp://127.0.0.1:$base" | sed 's/^/  /'
echo "== popular purchases, decayed totals (eddy popular --by decayed --type purchase)"
"$eddy" popular -k 5 --by decayed --type purchase --connect "tcp://127.0.0.1:$base" | sed 's/^/  /'
top=$("$eddy" popular -k 1 --json --connect "tcp://127.0.0.1:$base" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["item"])')
echo "== the last 10 buckets of the most popular item (eddy series $top)"
"$eddy" series "$top" --connect "tcp://127.0.0.1:$base" | sed -n '1,2p;57,$p' | sed 's/^/  /'
echo "== trending state (eddy status --trending; the MovieLens ratings are years older than"
echo "   the shop's events, so trending counts them as late: they stay in the logs)"
"$eddy" status --trending --connect "tcp://127.0.0.1:$base" | sed -n 1p | sed 's/^/  /'

echo "== distributed ALS on the demo cluster (eddy train: a worker on every node, coordinated by n1)"
"$eddy" train --connect "tcp://127.0.0.1:$base" --preset movielens | sed 's/^/  /'
echo "== recommendations for MovieLens user 1 and shop visitor 1000 (eddy recommend, seen items left out)"
"$eddy" recommend 1 -k 5 --connect "tcp://127.0.0.1:$base" | sed 's/^/  /' || true
"$eddy" recommend 1000 -k 5 --connect "tcp://127.0.0.1:$base" | sed 's/^/  /' || true
echo "== You May Also Like (eddy similar: LSH lists built by eddy train from the item factors,"
echo "   stored with each item's owner; asked at n3, which routes to the owners)"
like="$top"
[ -f "$ml" ] && like="$like 1 260" # Toy Story, Star Wars
for item in $like; do
  echo "  -- items like $item"
  "$eddy" similar "$item" -k 5 --connect "tcp://127.0.0.1:$((base + 2))" | sed 's/^/  /' || true
done
if [ -f "$ml" ]; then
  echo "  -- for a visitor who just viewed MovieLens items 1 and 260 (summed cosines)"
  "$eddy" similar 1 260 -k 5 --connect "tcp://127.0.0.1:$((base + 2))" | sed 's/^/  /' || true
fi

echo "== does the trending list find surges? (eddy score-trending on a fresh 3-node cluster)"
score_dir=${EDDY_RUN_DIR}-score
# Fresh: events left from an earlier demo would put the watermark at the end of
# the scenario, and the stream would arrive late.
EDDY_RUN_DIR=$score_dir scripts/cluster.sh stop >/dev/null 2>&1 || true
rm -rf "$score_dir"
EDDY_RUN_DIR=$score_dir EDDY_BASE_PORT=$((base + 10)) scripts/cluster.sh start 3 >/dev/null
"$eddy" score-trending --connect "tcp://127.0.0.1:$((base + 10))" | sed 's/^/  /' ||
  echo "  score-trending failed (logs in $score_dir/logs)"
EDDY_RUN_DIR=$score_dir scripts/cluster.sh stop >/dev/null
if [ -f "$ml" ]; then
  echo "== recommendations, offline evaluation on MovieLens (eddy eval --preset movielens:"
  echo "   each user's last 20% of ratings by time are the test set)"
  "$eddy" eval --preset movielens --schema movielens-ratings "$ml" 2>/dev/null | sed 's/^/  /'
fi
http="http://127.0.0.1:$((base + 250))"
echo "== the HTTP API of every node (web/openapi.yaml; configs/CLUSTER.md [http])"
echo "  dashboard: $http/   (also on n2 $((base + 251)) and n3 $((base + 252)))"
echo "  \$ curl -s '$http/v1/trending?k=3'"
curl -s "$http/v1/trending?k=3" | sed 's/^/    /'
echo
echo "  \$ curl -s '$http/v1/similar/$top?k=3'"
curl -s "$http/v1/similar/$top?k=3" | sed 's/^/    /'
echo
echo "  more: $http/v1/popular?k=10&by=decayed  $http/v1/items/$top/series  $http/v1/recommend/1000?k=5"
echo "        $http/v1/cluster  $http/healthz  $http/metrics"
echo "  \$ curl -s -X POST $http/v1/events -d '{\"events\":[{\"user\":\"u1\",\"item\":\"$top\",\"type\":\"view\"}]}'"
echo "  pixel: <script src=\"$http/pixel.js\" data-item=\"SKU\"></script> (README: The pixel)"
echo "== done: outputs in $out/, cluster logs and data in $EDDY_RUN_DIR/"
if [ $serve -eq 1 ]; then
  echo "== serving the dashboard at $http/ until Ctrl-C (scripts/demo.sh --no-serve exits here)"
  # Wait for the signal; the EXIT trap stops the cluster.
  sleep infinity &
  sleeper=$!
  trap 'kill $sleeper 2>/dev/null; echo; echo "demo.sh: stopping the cluster"; exit 0' INT TERM
  wait $sleeper || true
fi

#!/usr/bin/env bash
# The main job, end to end: install what is missing, build, then
#  1. generate a small synthetic shop (one day, with injected surges) in the legacy
#     shapes eddy reads (RetailRocket CSV, Taobao CSV, pixel JSON Lines, gzip too),
#  2. normalize each of them and the MovieLens sample through the shipped mappings,
#  3. print what came out: events, rejects by reason, throughput, the surges planted.
# Outputs go to run/demo/ (override with EDDY_DEMO_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== build"
scripts/build.sh -DEDDY_BENCH=OFF
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
echo "== done: outputs in $out/"

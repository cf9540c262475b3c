#!/usr/bin/env bash
# Builds (Release) and runs the benchmarks; each prints its figures and ends with a
# `RESULT name=value ...` line, with ratios against a baseline measured in the same run.
#   scripts/bench.sh [normalize|ingest|trending|als|als-cluster|lsh|http] [-- extra args for the benchmark]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
scripts/build.sh -DEDDY_BENCH=ON >/dev/null
which=${1:-all}
shift || true
[ "${1:-}" = "--" ] && shift
if [ "$which" = all ] || [ "$which" = normalize ]; then
  echo "== bench_normalize (one core)"
  taskset -c 0 "${EDDY_BUILD_DIR:-build}/bin/bench_normalize" "$@"
fi
if [ "$which" = all ] || [ "$which" = ingest ]; then
  echo "== bench_ingest (real node processes on loopback, both cores)"
  "${EDDY_BUILD_DIR:-build}/bin/bench_ingest" "$@"
fi
if [ "$which" = all ] || [ "$which" = trending ]; then
  echo "== bench_trending (one core)"
  taskset -c 0 "${EDDY_BUILD_DIR:-build}/bin/bench_trending" "$@"
fi
if [ "$which" = all ] || [ "$which" = als ]; then
  echo "== bench_als (implicit ALS, 2 threads by default; --threads N)"
  "${EDDY_BUILD_DIR:-build}/bin/bench_als" "$@"
fi
if [ "$which" = all ] || [ "$which" = als-cluster ]; then
  echo "== bench/als_cluster_bench.sh (eddy train on 1 and 3 local node processes vs fit())"
  bench/als_cluster_bench.sh "${EDDY_BUILD_DIR:-build}"
fi
if [ "$which" = all ] || [ "$which" = lsh ]; then
  echo "== bench_lsh (similar-items table: LSH vs exact vs HNSW, 2 threads)"
  "${EDDY_BUILD_DIR:-build}/bin/bench_lsh" "$@"
fi
if [ "$which" = all ] || [ "$which" = http ]; then
  echo "== bench/http_bench.sh (wrk on /v1/similar and /v1/trending of a 3-node cluster)"
  EDDY_BIN="${EDDY_BUILD_DIR:-build}/bin/eddy" bench/http_bench.sh "$@"
fi

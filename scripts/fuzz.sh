#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz/ and runs each
# for a time budget: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Targets: fuzz_csv, fuzz_json, fuzz_msgpack. A crash fails the script and leaves the
# reproducer in build-fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_csv fuzz_json fuzz_msgpack)
dir=${EDDY_FUZZ_BUILD_DIR:-build-fuzz}
cmake -S . -B "$dir" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEDDY_FUZZ=ON -DEDDY_TESTS=OFF -DEDDY_BENCH=OFF >/dev/null
cmake --build "$dir" -j "${EDDY_JOBS:-2}" --target "${targets[@]}"
mkdir -p "$dir/artifacts"
for t in "${targets[@]}"; do
  seeds=tests/fuzz/corpus/${t#fuzz_}
  work="$dir/corpus/${t#fuzz_}"
  mkdir -p "$work"
  echo "fuzz: $t for ${secs}s"
  "$dir/bin/$t" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 \
    -artifact_prefix="$dir/artifacts/$t-" "$work" "$seeds" 2>&1 |
    grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==ERROR|SUMMARY)" || true
  # grep hides the noise; the fuzzer's own exit status decides.
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz: $t FAILED (see $dir/artifacts/)"; exit 1; }
done
echo "fuzz: all targets ran clean"

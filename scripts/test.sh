#!/usr/bin/env bash
# The test command (README, .ci/run): install what is missing, build, run every test,
# then give each fuzz target a short run. Prints ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh -DEDDY_BENCH=ON -DEDDY_TESTS=ON
echo "== ctest"
(cd "${EDDY_BUILD_DIR:-build}" && ctest --output-on-failure -j 2 --timeout 600) 2>&1 | tee /tmp/eddy-ctest.log
echo "== fuzz smoke (${EDDY_FUZZ_SECONDS:-20} s per target)"
scripts/fuzz.sh "${EDDY_FUZZ_SECONDS:-20}"
echo "== summary"
grep -E "tests passed|tests failed" /tmp/eddy-ctest.log

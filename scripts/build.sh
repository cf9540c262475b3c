#!/usr/bin/env bash
# Configure and build eddy (Release) into build/ with 2 jobs. Extra arguments go to
# the CMake configure step, e.g. scripts/build.sh -DEDDY_BENCH=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${EDDY_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=${EDDY_BUILD_TYPE:-Release} "$@" >/dev/null
cmake --build "$build_dir" -j "${EDDY_JOBS:-2}"

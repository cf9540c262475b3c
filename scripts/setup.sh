#!/usr/bin/env bash
# Installs every Debian package eddy needs to build, test and run.
# Idempotent: does nothing (and never touches the network) when everything is present.
# Works as root on a fresh Debian 12; uses sudo when run as another user.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config git clang clang-format libclang-rt-14-dev
  # libraries (see README.md "Dependencies")
  libcaf-dev libzmq3-dev cppzmq-dev libeigen3-dev libmsgpack-cxx-dev libspdlog-dev
  libgtest-dev libgmock-dev libsimdjson-dev libtomlplusplus-dev libcli11-dev
  zlib1g-dev libxxhash-dev libabsl-dev tzdata
  # benchmarks only (bench/lsh_bench.cpp compares LSH with HNSW)
  libhnswlib-dev
  # HTTP API (cluster/http_api.cpp)
  libcpp-httplib-dev
  # scripts and tests (http_test.py: jsonschema + yaml; browser_test.py: chromium,
  # chromium-driver + selenium); bench/http_bench.sh: wrk
  python3 python3-zmq python3-msgpack gzip python3-jsonschema python3-yaml
  chromium chromium-driver python3-selenium wrk
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"

#!/usr/bin/env bash
# Installs every Debian package ssi needs (only the missing ones, so a second run is
# quick) and builds into build/. Usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # libraries
  libzmq3-dev libsodium-dev cppzmq-dev libmsgpack-cxx-dev libboost-dev libuv1-dev libseccomp-dev
  libproc2-dev libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev libfuse3-dev fuse3
  libgcrypt20-dev libgpg-error-dev
  # libzmq is linked statically (libssi/zmq_link): its dependencies' archives, gssapi.h, normApi.h
  libpgm-dev libnorm-dev libbsd-dev libmd-dev libkrb5-dev
  # tests and benchmarks
  catch2 libbenchmark-dev hyperfine procps util-linux iproute2 python3 bc sqlite3 gzip tar
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "${1:-}" = "--no-build" ] && exit 0
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build build -j "$(nproc)"

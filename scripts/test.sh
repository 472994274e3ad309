#!/usr/bin/env bash
# Sets up (packages, build) and runs every test through ctest: unit tests, the fuzz
# run, and the multi-node integration tests (which need root for namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
status=0
ctest --output-on-failure --timeout 600 "$@" || status=$?
# A test killed at its timeout cannot take its cluster down (its EXIT trap does not run):
# a test cluster whose test process (the name's last part) is gone goes now.
for dir in /run/ssi-cluster/test-*; do
  [ -d "$dir" ] || continue
  name=$(basename "$dir")
  kill -0 "${name##*-}" 2>/dev/null || bin/ssi-cluster down --name "$name" >/dev/null 2>&1 || true
done
exit "$status"

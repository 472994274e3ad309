#!/usr/bin/env bash
# Sets up (packages, build) and runs every test through ctest: unit tests, the fuzz
# run, and the multi-node integration tests (which need root for namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure --timeout 600 "$@"

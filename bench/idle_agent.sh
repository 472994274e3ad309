#!/usr/bin/env bash
# An idle agent's memory (RSS) and CPU use, measured over a window on a 3-node cluster.
#   bench/idle_agent.sh [SECONDS]      (root; builds first)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
export PATH=$PWD/build/bin:$PATH SSI_CLUSTER=bench-idle
window=${1:-20}
ssi-cluster down >/dev/null 2>&1 || true
ssi-cluster up -n 3 >/dev/null
trap 'ssi-cluster down >/dev/null' EXIT
sleep 3  # past start-up
pids=$(ssi-cluster status | awk '$1 ~ /^[0-9]+$/ {print $5}')
hz=$(getconf CLK_TCK)
declare -A t0
for p in $pids; do t0[$p]=$(awk '{print $14 + $15}' "/proc/$p/stat"); done
sleep "$window"
for p in $pids; do
  t1=$(awk '{print $14 + $15}' "/proc/$p/stat")
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status")
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$p/status")
  awk -v p="$p" -v d=$((t1 - ${t0[$p]})) -v hz="$hz" -v w="$window" -v rss="$rss" -v hwm="$hwm" \
    'BEGIN { printf "agent pid %s: RSS %.1f MiB (peak %.1f MiB), CPU %.2f%% of one core over %d s\n", p, rss/1024, hwm/1024, 100*d/hz/w, w }'
done

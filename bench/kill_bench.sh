#!/usr/bin/env bash
# ssi-kill to another node until the signal is delivered (the target's handler has run),
# side by side with plain kill(1) on the same node, in the same run.
#   bench/kill_bench.sh [RUNS]      (root; builds first)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
export PATH=$PWD/build/bin:$PATH SSI_CLUSTER=bench-kill
runs=${1:-500}
lat=$PWD/build/bench/kill_latency
work=$(mktemp -d /var/tmp/ssi-kill-bench.XXXXXX)
ssi-cluster down >/dev/null 2>&1 || true
ssi-cluster up -n 3 >/dev/null
trap 'ssi-cluster down >/dev/null; rm -rf "$work"' EXIT

mkfifo "$work/remote" "$work/local" "$work/ssilocal"
# Targets on node 3; their fifos live in a directory every node shares.
ssi-cluster exec 3 -- sh -c "$lat target $work/remote >/dev/null 2>&1 & echo \$!" > "$work/remote.pid"
ssi-cluster exec 3 -- sh -c "$lat target $work/local >/dev/null 2>&1 & echo \$!" > "$work/local.pid"
ssi-cluster exec 3 -- sh -c "$lat target $work/ssilocal >/dev/null 2>&1 & echo \$!" > "$work/ssilocal.pid"
rpid=$(cat "$work/remote.pid"); lpid=$(cat "$work/local.pid"); spid=$(cat "$work/ssilocal.pid")

echo "kill(1) on node 3 -> node 3:      $(ssi-cluster exec 3 -- "$lat" drive "$work/local" "$runs" /bin/kill -USR1 "$lpid")"
echo "ssi-kill on node 3 -> node 3:     $(ssi-cluster exec 3 -- "$lat" drive "$work/ssilocal" "$runs" ssi-kill -USR1 "3:$spid")"
echo "ssi-kill on node 1 -> node 3:     $(ssi-cluster exec 1 -- "$lat" drive "$work/remote" "$runs" ssi-kill -USR1 "3:$rpid")"

#!/usr/bin/env bash
# ssi-ps listing 4 nodes x 1000 processes against `ps ax` listing 1000 processes on one
# node, timed by hyperfine in the same run, inside the same node.
#   bench/ps_bench.sh [PROCS_PER_NODE]      (root; builds first)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
export PATH=$PWD/build/bin:$PATH SSI_CLUSTER=bench-ps
per_node=${1:-1000}
ssi-cluster down >/dev/null 2>&1 || true
ssi-cluster up -n 4 >/dev/null
trap 'ssi-cluster down >/dev/null' EXIT

for k in 1 2 3 4; do
  # Leave room for the node's init, agent and shell: ~per_node processes in all.
  ssi-cluster exec "$k" -- sh -c "for i in \$(seq $((per_node - 3))); do sleep 100000 & done >/dev/null 2>&1" &
done
wait
total=$((4 * per_node))
for _ in $(seq 100); do
  rows=$(ssi-cluster exec 1 -- ssi-ps -e --no-headers | wc -l)
  [ "$rows" -ge $((total - 8)) ] && break
  sleep 0.2
done
echo "ssi-ps rows: $rows; ps ax rows on node 1: $(ssi-cluster exec 1 -- ps ax --no-headers | wc -l)"
out=$(mktemp /var/tmp/ssi-ps-bench.XXXXXX.json)  # outside the nodes' private /tmp
ssi-cluster exec 1 -- hyperfine -N --warmup 5 --runs 50 --export-json "$out" 'ssi-ps -e' 'ps ax' >/dev/null
python3 - "$out" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
s, p = r["ssi-ps -e"], r["ps ax"]
print(f"ssi-ps -e (4 nodes): median {s['median']*1e3:.2f} ms (mean {s['mean']*1e3:.2f} ± {s['stddev']*1e3:.2f})")
print(f"ps ax   (1 node):    median {p['median']*1e3:.2f} ms (mean {p['mean']*1e3:.2f} ± {p['stddev']*1e3:.2f})")
print(f"ratio ssi-ps / ps ax: {s['median']/p['median']:.3f}  (target <= 0.2)")
PY
rm -f "$out"

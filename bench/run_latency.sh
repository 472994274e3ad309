#!/usr/bin/env bash
# Remote execution's start-to-exit latency: `ssi-run -n 2 true` against a local `true` and
# against `ssh true` to 127.0.1.2 (a throwaway Debian sshd), with and without a
# ControlMaster connection, and against the least any remote start costs here (bench/
# start_floor: a request on loopback to a daemon that spawns the program, nothing else),
# all timed by hyperfine in the same run from inside node 1.
# First, `ssi-run -n 2 true` with node 2 keeping no copies of home files (its file-cache
# directory made unusable; ssi-remote/file_cache.h), as every run was before copies.
#   bench/run_latency.sh [RUNS]      (root; builds first)
source "$(dirname "$0")/run_common.sh"
runs=${1:-200}
bench_setup latency
sshd_start
ssh_master_start
floor_start

ssh_plain="ssh -F $ssh_cfg $ssh_host true"
ssh_mux="ssh -F $ssh_cfg -S $ssh_cm $ssh_host true"
cold=$work/latency-no-copies.json
ssi-cluster exec 2 -- sh -c 'rm -rf /run/ssi/file-cache && touch /run/ssi/file-cache'
on1 hyperfine -N --warmup 10 --runs "$runs" --export-json "$cold" 'ssi-run -n 2 true' >/dev/null
ssi-cluster exec 2 -- rm -f /run/ssi/file-cache

out=$work/latency.json
on1 hyperfine -N --warmup 10 --runs "$runs" --export-json "$out" \
  'ssi-run -n 2 true' 'true' "$ssh_plain" "$ssh_mux" "$floor_run /bin/true" >/dev/null

python3 - "$out" "$cold" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["results"] + json.load(open(sys.argv[2]))["results"]
names = ["ssi-run -n 2 true", "true (local)", "ssh true (new connection)", "ssh true (ControlMaster)",
         "start floor (start_floor)", "ssi-run, no file copies"]
med = [r["median"] * 1e3 for r in rows]
print(f"{'command':28} {'median':>10} {'mean ± σ':>20} {'min':>9}")
for n, r in zip(names, rows):
    print(f"{n:28} {r['median']*1e3:7.2f} ms {r['mean']*1e3:8.2f} ± {r['stddev']*1e3:6.2f} ms {r['min']*1e3:6.2f} ms")
print()
print(f"ssi-run / local true:          {med[0]/med[1]:6.2f}x  (target <= 3)")
print(f"ssi-run / ssh, ControlMaster:  {med[0]/med[3]:6.2f}x  (target <= 0.5)")
print(f"ssi-run / ssh, new connection: {med[0]/med[2]:6.2f}x")
print(f"start floor / local true:      {med[4]/med[1]:6.2f}x  (no keys, identity, files or namespaces)")
print(f"ssi-run / start floor:         {med[0]/med[4]:6.2f}x")
PY

#!/usr/bin/env bash
# One process table: a sleep started on each node of a 3-node cluster shows in ssi-ps on
# every node within 1 s, with its node and gpid, and is gone from every node after it exits.
source "$(dirname "$0")/../support/cluster.sh"
cluster_up 3

lists_row() { on_node "$1" ssi-ps -o gpid,node,cmd --no-headers | grep -Eq "^ *$2 +$3 +$4\$"; }
lists() { on_node "$1" ssi-ps -o gpid --no-headers | grep -qw "$2"; }
declare -A gpid
for k in 1 2 3; do
  pid=$(on_node "$k" sh -c "sleep 100$k >/dev/null 2>&1 & echo \$!")
  [ -n "$pid" ] || fail "no pid from node $k"
  gpid[$k]=$((k * 10000000 + pid))
done
started=$(date +%s%N)

# Every node lists every sleep, under the right gpid and node.
for k in 1 2 3; do
  for viewer in 1 2 3; do
    wait_until 1 lists_row "$viewer" "${gpid[$k]}" "$k" "sleep 100$k" \
      || fail "node $viewer does not list node $k's sleep (gpid ${gpid[$k]}) within 1 s"
  done
done
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
echo "all 3 sleeps visible on all 3 nodes after ${elapsed_ms} ms"

# The JSON view carries the documented fields.
json=$(on_node 2 ssi-ps --json -p "${gpid[3]}")
python3 - "$json" "${gpid[3]}" <<'PY' || fail "ssi-ps --json is wrong: $json"
import json, sys
rows = json.loads(sys.argv[1]) if sys.argv[1].lstrip().startswith('[') else [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
assert len(rows) == 1, rows
r = rows[0]
for f in ("gpid","node","home","pid","ppid","user","uid","state","pcpu","rss_kb","start","time","cmd"):
    assert f in r, f
assert r["gpid"] == int(sys.argv[2]) and r["node"] == 3 and r["home"] == 3 and r["cmd"] == "sleep 1003", r
assert r["user"] == "root" and r["uid"] == 0, r
PY

# --fresh asks every node now and agrees.
on_node 1 ssi-ps --fresh -o gpid --no-headers | grep -qw "${gpid[2]}" || fail "ssi-ps --fresh misses node 2's sleep"

# Exit: the process leaves every node's table.
on_node 2 kill "$(( ${gpid[2]} % 10000000 ))"
for viewer in 1 2 3; do
  wait_until 1 not lists "$viewer" "${gpid[2]}" \
    || fail "node $viewer still lists node 2's sleep 1 s after it exited"
done
on_node 1 ssi-ps -p "${gpid[2]}" >/dev/null && fail "ssi-ps -p of an exited gpid should exit 1"
pass

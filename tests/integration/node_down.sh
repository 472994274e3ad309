#!/usr/bin/env bash
# Killing node 2's agent marks it down on the others within 3 s; restarting it brings it
# back, with its processes in the table again.
source "$(dirname "$0")/../support/cluster.sh"
cluster_up 3
node_state() { on_node "$1" ssi-nodes --json | python3 -c "import json,sys; print(next(n['state'] for n in json.load(sys.stdin) if n['node']==$2))"; }
sees() { [ "$(node_state "$1" "$2")" = "$3" ]; }
lists() { on_node "$1" ssi-ps -o gpid --no-headers | grep -qw "$2"; }

pid=$(on_node 2 sh -c 'sleep 1000 >/dev/null 2>&1 & echo $!')
g=$((20000000 + pid))
wait_until 2 lists 1 "$g" || fail "node 2's sleep never showed"


cluster stop-agent 2 --signal KILL || fail "stop-agent failed"
killed=$(date +%s%N)
for viewer in 1 3; do
  wait_until 3 sees "$viewer" 2 down || fail "node $viewer did not mark node 2 down within 3 s"
done
echo "node 2 marked down after $(( ($(date +%s%N) - killed) / 1000000 )) ms"

rc=0; out=$(on_node 1 ssi-kill "$g" 2>&1) || rc=$?
[ "$rc" -eq 1 ] && grep -q "node 2 is down" <<<"$out" || fail "ssi-kill to a down node: exit $rc, '$out'"
on_node 1 ssi-ps -o gpid --no-headers 2>/dev/null | grep -qw "$g" && fail "a down node's processes are still listed"
on_node 1 ssi-ps 2>&1 >/dev/null | grep -q "node 2 is down" || fail "ssi-ps does not warn that node 2 is down"
on_node 2 kill -0 "$pid" || fail "the node's processes died with its agent"

cluster start-agent 2 || fail "start-agent failed"
for viewer in 1 3; do
  wait_until 3 sees "$viewer" 2 up || fail "node $viewer did not see node 2 come back"
done
wait_until 2 lists 3 "$g" || fail "node 2's sleep is not listed after the restart"
on_node 3 ssi-kill "$g" || fail "ssi-kill after the restart failed"
pass

#!/usr/bin/env bash
# Signals anywhere: ssi-kill from node 1 reaches node 3; -TERM runs the handler; kill(2)'s
# permission rule holds across nodes; unknown gpids and bad input are refused clearly.
source "$(dirname "$0")/../support/cluster.sh"
cluster_up 3

nobody_exec() { local k=$1; shift; "$SSI_CLUSTER_BIN" exec "$k" --user nobody -- "$@"; }
alive() { on_node "$1" kill -0 "$2" 2>/dev/null; }

# Plain kill from another node.
pid=$(on_node 3 sh -c 'sleep 1000 >/dev/null 2>&1 & echo $!')
g=$((30000000 + pid))
on_node 1 ssi-kill "$g" || fail "ssi-kill $g failed"
wait_until 2 not alive 3 "$pid" || fail "the sleep on node 3 survived ssi-kill"

# -TERM runs the process's handler (it writes into node 3's private /tmp).
pid=$(on_node 3 sh -c 'sh -c "trap \"echo handled > /tmp/term-handled; exit 0\" TERM; touch /tmp/term-ready; while :; do sleep 0.05; done" >/dev/null 2>&1 & echo $!')
wait_until 2 on_node 3 test -f /tmp/term-ready || fail "the TERM-trapping shell never started"
on_node 1 ssi-kill -TERM "3:$pid" || fail "ssi-kill -TERM failed"
wait_until 2 on_node 3 test -f /tmp/term-handled || fail "the TERM handler did not run"

# A non-root user may not signal root's process, but may signal their own.
rootpid=$(on_node 3 sh -c 'sleep 1001 >/dev/null 2>&1 & echo $!')
rc=0; out=$(nobody_exec 1 ssi-kill "3:$rootpid" 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "nobody signalling root's process: exit $rc, expected 1 ($out)"
grep -q "Operation not permitted" <<<"$out" || fail "expected 'Operation not permitted', got: $out"
on_node 3 kill -0 "$rootpid" || fail "root's process died from nobody's ssi-kill"
ownpid=$(nobody_exec 3 sh -c 'sleep 1002 >/dev/null 2>&1 & echo $!')
nobody_exec 1 ssi-kill -KILL "3:$ownpid" || fail "nobody could not signal their own process"
wait_until 2 not alive 3 "$ownpid" || fail "nobody's own process survived"

# Unknown gpid, unknown node, bad input.
rc=0; out=$(on_node 1 ssi-kill 2:4000000 2>&1) || rc=$?
[ "$rc" -eq 1 ] && grep -q "No such process" <<<"$out" || fail "unknown gpid: exit $rc, '$out'"
rc=0; out=$(on_node 1 ssi-kill 9:1 2>&1) || rc=$?
[ "$rc" -eq 1 ] && grep -q "node 9" <<<"$out" || fail "unknown node: exit $rc, '$out'"
out=$(on_node 1 ssi-kill -s NOPE 3:1 2>&1) && fail "a bad signal name was accepted"
grep -q "NOPE" <<<"$out" || fail "bad signal: unclear error '$out'"
out=$(on_node 1 ssi-kill banana 2>&1) && fail "a bad gpid was accepted"
grep -q "banana" <<<"$out" || fail "bad gpid: unclear error '$out'"
[ "$(on_node 1 ssi-kill -l 9)" = KILL ] || fail "ssi-kill -l 9 is not KILL"
on_node 3 kill "$rootpid"
pass

#!/usr/bin/env bash
# Faults around ssi-run: a home agent restart leaves running remote programs running; a
# target node that dies mid-run makes the deputy say so and exit 255, nothing hangs; a
# node that is down is refused at once.
source "$(dirname "$0")/../support/cluster.sh"
cluster_up 3
home() { on_node 1 bash -c "cd /tmp || exit 99; $1"; }

# The home agent restarts while a remote program runs: the program's channel to its
# deputy does not pass through the agent, so it finishes normally. The restarted agent,
# told of no deputy, finds it (node 2 lists its PID): ssi-ps lists the program once, on
# node 2, not its deputy beside it.
home 'ssi-run -n 2 sh -c "echo started; sleep 4; echo finished" > run.out 2>&1 & echo $! > run.pid; wait $!; echo $? > run.status' &
runner=$!
wait_until 5 home 'grep -q started run.out' || fail "the remote program never started"
cluster stop-agent 1 || fail "stop-agent 1"
cluster start-agent 1 || fail "start-agent 1"
gpid=$((10000000 + $(home 'cat run.pid')))
listed_once_on_2() { [ "$(on_node 1 ssi-ps -e -o gpid,node --no-headers | awk -v g="$gpid" '$1 == g {print $2}')" = 2 ]; }
wait_until 3 listed_once_on_2 \
  || fail "after the restart, ssi-ps lists $gpid on node(s) '$(on_node 1 ssi-ps -e -o gpid,node --no-headers | awk -v g="$gpid" '$1 == g {print $2}' | xargs)'"
wait "$runner"
[ "$(home 'cat run.out; cat run.status')" = "$(printf 'started\nfinished\n0')" ] \
  || fail "a home agent restart disturbed the remote program: $(home 'cat run.out run.status')"
ok "a home agent restart leaves the remote program running, listed once, where it runs"

# The deputy is killed at home behind the agents' back (plain kill -9): its program on
# node 2 ends soon after, it does not run on orphaned.
home 'ssi-run -n 2 sleep 7777 >/dev/null 2>&1 & echo $! > orphan.pid' || fail "could not start the sleeper"
remote_listed() { on_node 2 ssi-ps -o cmd --no-headers | grep -qx "sleep 7777"; }
wait_until 3 remote_listed || fail "the remote sleep never showed"
on_node 1 kill -KILL "$(home 'cat orphan.pid')"
wait_until 4 not remote_listed || fail "the remote program outlived its killed deputy by more than 4 s"
ok "a deputy killed with kill -9 takes its remote program with it"

# A node whose supervisor cannot start (its binary hidden under /dev/null in node 2's own
# mount namespace) refuses the run at once and says why, rather than the deputy waiting
# 15 s for a program nobody starts; its agent lives on, retrying spares after a growing
# pause rather than in a spawn loop.
on_node 2 mount --bind /dev/null "$SSI_BIN/ssi-remote" || fail "could not hide ssi-remote on node 2"
cluster stop-agent 2 >/dev/null || fail "stop-agent 2"
cluster start-agent 2 >/dev/null || fail "start-agent 2"
node2_up() { [ "$(on_node 1 ssi-nodes --json | python3 -c 'import json,sys; print(next(n["state"] for n in json.load(sys.stdin) if n["node"]==2))')" = up ]; }
wait_until 5 node2_up || fail "node 2's agent did not come back"
started=$SECONDS
rc=0; out=$(home 'ssi-run -n 2 true' 2>&1) || rc=$?
[ "$rc" = 255 ] && grep -q "node 2 cannot start its supervisor .*ssi-remote: Permission denied" <<<"$out" \
  || fail "ssi-run with no supervisor on node 2: exit $rc, '$out'"
[ $((SECONDS - started)) -le 3 ] || fail "refusing the run took $((SECONDS - started)) s"
sleep 2
tries=$(grep -cE "starting a spare supervisor|spare supervisor .* ended" "/run/ssi-cluster/$SSI_CLUSTER/node2/agent.log" || true)
[ "$tries" -lt 40 ] || fail "node 2's agent started $tries spares in about 3 s"
on_node 2 ssi-ps >/dev/null || fail "node 2's agent is gone"
ok "a node that cannot start its supervisor refuses the run at once ($tries spares tried)"

# The target node dies mid-run: the deputy notices, says so, exits 255.
home 'ssi-run -n 3 sh -c "echo up; sleep 600" > lost.out 2>&1; echo $? > lost.status' &
runner=$!
wait_until 5 home 'grep -q up lost.out' || fail "the remote program on node 3 never started"
init3=$(cluster status | awk '$1 == 3 {print $4}')
[ -n "$init3" ] || fail "no init pid for node 3"
kill -KILL "$init3"
killed=$(date +%s)
wait "$runner"
took=$(( $(date +%s) - killed ))
[ "$(home 'cat lost.status')" = 255 ] || fail "deputy exit status $(home 'cat lost.status'), expected 255"
home 'grep -q "lost contact with node 3" lost.out' || fail "the deputy did not say what happened: $(home 'cat lost.out')"
[ "$took" -le 10 ] || fail "the deputy took ${took}s to give up"
ok "a target node dying mid-run: deputy exits 255 after ${took}s"

# A node that is down is refused at once.
wait_until 4 home '[ "$(ssi-nodes --json | python3 -c "import json,sys; print(next(n[\"state\"] for n in json.load(sys.stdin) if n[\"node\"]==3))")" = down ]' \
  || fail "node 3 not marked down"
rc=0; out=$(home 'ssi-run -n 3 true' 2>&1) || rc=$?
[ "$rc" = 255 ] && grep -q "node 3 is down" <<<"$out" || fail "ssi-run to a down node: exit $rc, '$out'"
ok "a down node is refused"
pass

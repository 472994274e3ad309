#!/usr/bin/env bash
# ssi-cluster itself: up, exec, status, stop-agent/start-agent and down behave as
# documented, and down leaves nothing behind.
source "$(dirname "$0")/../support/cluster.sh"

mounts_before="$(awk '{print $5}' /proc/self/mountinfo | sort)"
cluster_up 3
state_dir="/run/ssi-cluster/$SSI_CLUSTER"
[ -d "$state_dir" ] || fail "no state dir $state_dir"

# Each node has its own hostname.
for k in 1 2 3; do
  [ "$(on_node "$k" hostname)" = "node$k" ] || fail "node $k is not called node$k"
done
ok "hostnames node1..node3"

# Each node's /tmp is its own.
marker="ssi-lifecycle-$$"
on_node 1 touch "/tmp/$marker"
on_node 1 test -e "/tmp/$marker" || fail "file made in node 1's /tmp is gone"
! on_node 2 test -e "/tmp/$marker" || fail "node 2 sees node 1's /tmp"
[ ! -e "/tmp/$marker" ] || fail "the host sees node 1's /tmp"
ok "private /tmp"

# Each node sees its own processes: its init is pid 1 and its agent is there.
[ "$(on_node 2 cat /proc/1/comm)" = "ssi-cluster" ] || fail "pid 1 of node 2 is not its init"
on_node 2 test -S /run/ssi/agent.sock || fail "node 2's agent socket is not at /run/ssi/agent.sock"
ok "pid namespace and agent socket"

# Exit statuses come back as a shell reports them.
expect_status 0 on_node 1 true
expect_status 3 on_node 1 sh -c 'exit 3'
expect_status $((128 + 9)) on_node 1 sh -c 'kill -9 $$'
expect_status 127 on_node 1 ssi-no-such-command
ok "exit statuses 0, 3, 137, 127"

# status: one line per node, every agent running.
status="$(cluster status)"
echo "$status"
[ "$(echo "$status" | grep -cE '^[0-9]+ +node[0-9]+ .* running$')" -eq 3 ] || fail "status does not list 3 running nodes"
ok "status lists 3 nodes"

# Stopping an agent leaves its node running; starting it again works.
on_node 2 sh -c 'sleep 300 >/dev/null 2>&1 &'
cluster stop-agent 2
cluster status | grep -qE '^2 +node2 .* stopped$' || fail "node 2's agent is not stopped"
[ "$(on_node 2 hostname)" = "node2" ] || fail "node 2 is gone after its agent stopped"
on_node 2 pgrep -x sleep >/dev/null || fail "node 2's other processes died with its agent"
cluster start-agent 2
cluster status | grep -qE '^2 +node2 .* running$' || fail "node 2's agent did not come back"
on_node 2 test -S /run/ssi/agent.sock || fail "node 2's new agent has no socket"
# Ready as after up: it already sees the other nodes (not "down" for not having heard them).
up_seen=$(on_node 2 ssi-nodes --json | python3 -c "import json,sys; print(sum(n['state'] == 'up' for n in json.load(sys.stdin)))")
[ "$up_seen" = 3 ] || fail "right after start-agent, node 2 sees $up_seen of 3 nodes up"
ok "stop-agent / start-agent"

# up of a cluster that is up is refused.
expect_status 1 "$SSI_BIN/ssi-cluster" up -n 1 --name "$SSI_CLUSTER"
# Bad arguments exit 2.
expect_status 2 "$SSI_BIN/ssi-cluster" up -n 0 --name "$SSI_CLUSTER"
expect_status 2 "$SSI_BIN/ssi-cluster" exec 1 --name "$SSI_CLUSTER"
ok "refusals"

# down leaves no process, no state dir and no mount behind.
init_pids="$(cluster status | awk '$1 ~ /^[0-9]+$/ {print $4}')"
agent_pids="$(cluster status | awk '$1 ~ /^[0-9]+$/ {print $5}')"
cluster down
for pid in $init_pids $agent_pids; do
  state="$(ps -o stat= -p "$pid" 2>/dev/null || true)"
  # A zombie is gone but for its parent's wait(): pid 1 of some containers never reaps.
  [ -z "$state" ] || [[ "$state" == Z* ]] || fail "process $pid outlived down (state $state)"
done
if pgrep -a -f "ssi-cluster __node-init --state-dir $state_dir " >/dev/null; then fail "a node init is left"; fi
if ps -eo stat=,args= | grep -v '^Z' | grep -q "[s]si-agent --config $state_dir/"; then fail "an ssi-agent is left"; fi
[ ! -e "$state_dir" ] || fail "state dir $state_dir is left"
[ "$(awk '{print $5}' /proc/self/mountinfo | sort)" = "$mounts_before" ] || fail "the host's mounts changed"
expect_status 0 "$SSI_BIN/ssi-cluster" down --name "$SSI_CLUSTER"
expect_status 1 "$SSI_BIN/ssi-cluster" status --name "$SSI_CLUSTER"
ok "down leaves nothing behind"

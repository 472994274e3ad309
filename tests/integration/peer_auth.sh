#!/usr/bin/env bash
# Only the cluster's keys get a hearing: a peer with a key the config does not list cannot
# get anything acted on; an authenticated peer sending garbage is dropped while the agent
# keeps serving; the same request with a cluster key (the control) is acted on.
source "$(dirname "$0")/../support/cluster.sh"
cluster_up 3

state=/run/ssi-cluster/$SSI_CLUSTER
read -r port key2 < <(python3 - "$state/cluster.toml" <<'PY'
import sys, tomllib
c = tomllib.load(open(sys.argv[1], "rb"))
n = next(n for n in c["node"] if n["id"] == 2)
print(n["port"], n["public_key"])
PY
)
endpoint=tcp://127.0.1.2:$port
probe() { "$SSI_BIN/ssi-peer-probe" --endpoint "$endpoint" --server-key "$key2" "$@"; }
alive() { on_node 2 kill -0 "$1" 2>/dev/null; }
serving() { on_node 2 ssi-nodes >/dev/null && on_node 1 ssi-ps -o gpid --no-headers | grep -qw "$1"; }

pid=$(on_node 2 sh -c 'sleep 1000 >/dev/null 2>&1 & echo $!')
g=$((20000000 + pid))
wait_until 2 serving "$g" || fail "the cluster is not serving before the probes"

# A stranger's key: the handshake is refused, nothing is acted on.
probe --random-key --send "kill:$g:9" --expect-reply 1000 && fail "a peer with an unknown key got a reply"
alive "$pid" || fail "a peer with an unknown key killed a process"
grep -q "refused a CURVE handshake" "$state/node2/agent.log" || fail "node 2 did not log the refused handshake"

# An authenticated peer sending garbage: each message is dropped; the agent keeps serving.
for kind in garbage truncated wrong-version oversized; do
  probe --secret-key-file "$state/node1/node.secret" --send "$kind" || true
  serving "$g" || fail "node 2 stopped serving after a '$kind' message"
done
alive "$pid" || fail "garbage killed a process"

# Control: the same kill request with a cluster key is acted on.
probe --secret-key-file "$state/node1/node.secret" --send "kill:$g:9" --expect-reply 2000 || fail "the control kill got no reply"
wait_until 2 not alive "$pid" || fail "the control kill (cluster key) did not kill the process"
pass

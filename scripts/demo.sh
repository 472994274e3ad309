#!/usr/bin/env bash
# Sets up (packages, build), starts a 3-node cluster on this machine, and shows the
# cluster behaving as one computer: one process table, signals across nodes, remote
# execution, migration. Needs root
# (each node lives in its own namespaces). Leaves nothing running unless --keep is given.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/build/bin:$PATH"
export SSI_CLUSTER=demo
keep=false; [ "${1:-}" = "--keep" ] && keep=true

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

ssi-cluster down >/dev/null 2>&1 || true
say "Start a 3-node cluster (each node: own PID, mount and UTS namespaces, address 127.0.1.K)"
run ssi-cluster up -n 3
$keep || trap 'say "Tear down"; ssi-cluster down' EXIT
run ssi-cluster status

say "Start a process on every node"
for k in 1 2 3; do
  printf '$ ssi-cluster exec %s -- sleep 30%s &\n' "$k" "$k"
  ssi-cluster exec "$k" -- sh -c "sleep 30$k >/dev/null 2>&1 &"
done
sleep 0.5

say "The nodes, as node 2 sees them"
run ssi-cluster exec 2 -- ssi-nodes

say "One process table: ssi-ps on node 1 lists every node's processes"
run ssi-cluster exec 1 -- ssi-ps -o gpid,node,home,pid,user,stat,time,cmd --sort node

say "Signals anywhere: node 1 kills node 3's sleep by its global PID"
gpid=$(ssi-cluster exec 1 -- ssi-ps -n 3 -o gpid,cmd --no-headers | awk '$2 == "sleep" && $3 == "303" {print $1}')
run ssi-cluster exec 1 -- ssi-kill "$gpid"
sleep 0.5
run ssi-cluster exec 2 -- ssi-ps -o gpid,node,cmd

say "A user may only signal their own processes: nobody cannot kill root's sleep on node 2"
gpid2=$(ssi-cluster exec 1 -- ssi-ps -n 2 -o gpid,cmd --no-headers | awk '$2 == "sleep" && $3 == "302" {print $1}')
run ssi-cluster exec 1 --user nobody -- ssi-kill "$gpid2" || true
say "Remote execution: node 1 runs a program on node 2 that reads a file only node 1 has"
run ssi-cluster exec 1 -- bash -c 'cd /tmp; echo "this file exists only in node 1'"'"'s /tmp" > note.txt
  ssi-run -n 2 sh -c "cat note.txt; echo \"remotely, my pid is \$\$\"; exit 3" & echo "at home, \$! = $!"; wait $!; echo "exit status $?"'

say "A remote program is listed once, under its home gpid, on the node it runs on"
ssi-cluster exec 1 -- sh -c 'ssi-run -n 3 sleep 31 >/dev/null 2>&1 &'
sleep 1
run ssi-cluster exec 2 -- ssi-ps -o gpid,node,home,pid,cmd -u root --sort gpid

say "Migration: a counter started at home moves to node 2, on to node 3 and back, without restarting"
ssi-cluster exec 1 -- sh -c 'python3 -u -c "import os, time
away = lambda: b\"ssi-remote\" in open(\"/proc/1/cmdline\", \"rb\").read()  # pid 1 of its namespace
for i in range(1, 400): print(i, \"pid\", os.getpid(), \"away\" if away() else \"home\", flush=True); time.sleep(0.01)" > /tmp/count.out 2>&1 &
echo $! > /tmp/count.pid'
sleep 0.5
pid=$(ssi-cluster exec 1 -- cat /tmp/count.pid)
for where in 2 3 home; do
  run ssi-cluster exec 1 -- ssi-migrate "1:$pid" "$where"
  sleep 0.3
done
run ssi-cluster exec 1 -- ssi-ps -p "1:$pid" -o gpid,node,home,pid,cmd
printf '$ awk "{print \$2, \$3, \$4}" /tmp/count.out | uniq -c   (its output, at home: one run, one PID, lines written at home and away)\n'
sleep 3; ssi-cluster exec 1 -- sh -c 'awk "{print \$2, \$3, \$4}" /tmp/count.out | uniq -c'

$keep && say "Cluster 'demo' left running: SSI_CLUSTER=demo ssi-cluster exec 1 -- bash; ssi-cluster down --name demo"
exit 0

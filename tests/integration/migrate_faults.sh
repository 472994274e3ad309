#!/usr/bin/env bash
# Migration faults (docs/migration.md, "Atomic"): the target node's agent and the
# supervisor restoring the process are killed while the image is read, during the
# restore, and just before the resume (a fault point named in the node's
# /run/ssi/inject-fault; ssi-remote/migration.cpp) — each twice, from home and on an
# onward hop. Every time the process continues exactly once: ssi-migrate says it did not
# move, the process goes on at home in its own PID, its output has no gap and no repeat,
# and no second copy runs anywhere. Then the home agent dies during a move home, after
# the deputy parked, and leaving home right after the exec, its memory in a holder
# (ssi-agent/migrations.cpp's fault points): restarted, it rebuilds it. Last, the target
# dies past the commit point, while the memory of a process that left home is on its way.
source "$(dirname "$0")/../support/cluster.sh"
cluster_up 3

lines() { on_node 1 sh -c "wc -l < $1 2>/dev/null || echo 0"; }
has_lines() { [ "$(lines "$1")" -ge "$2" ]; }
node_of() { on_node 1 ssi-ps -p "1:$1" -o node --no-headers 2>/dev/null | tr -d ' '; }
runs_on() { [ "$(node_of "$1")" = "$2" ]; }
copies() { on_node 1 ssi-ps -e -o comm,cmd --no-headers 2>/dev/null | grep -c "^ *python3 .*counter.py 100000" || true; }
node_up() {
  [ "$(on_node 1 ssi-nodes --json | python3 -c "import json,sys; print(next(n['state'] for n in json.load(sys.stdin) if n['node']==$1))")" = up ]
}

counter='import sys, time
for i in range(1, int(sys.argv[1]) + 1):
    print(i, flush=True)
    time.sleep(0.005)'
on_node 1 sh -c "cat > /tmp/counter.py" <<<"$counter"
on_node 1 sh -c 'python3 -u /tmp/counter.py 100000 > /tmp/f.out 2>&1 & echo $! > /tmp/f.pid; wait $!; echo $? > /tmp/f.rc' &
parent=$!
wait_until 10 on_node 1 test -s /tmp/f.pid
pid=$(on_node 1 cat /tmp/f.pid)
wait_until 10 has_lines /tmp/f.out 10

for round in 1 2; do
  for point in migrate-transfer migrate-restore migrate-resume; do
    # From home on round 1; on round 2 from node 3 (an onward hop that falls back home).
    if [ "$round" = 2 ]; then
      on_node 1 timeout 60 ssi-migrate "1:$pid" 3 >/dev/null 2>&1 || fail "ssi-migrate to node 3 failed"
      wait_until 5 runs_on "$pid" 3 || fail "not on node 3 before the faulty hop"
    fi
    on_node 2 sh -c "echo $point > /run/ssi/inject-fault"
    at=$(lines /tmp/f.out)
    rc=0; out=$(on_node 1 timeout 60 ssi-migrate "1:$pid" 2 2>&1) || rc=$?
    [ "$rc" -eq 1 ] || fail "$point: ssi-migrate exited $rc: $out"
    grep -q "continues at home" <<<"$out" || fail "$point: ssi-migrate did not say where it continues: $out"
    on_node 2 test -e /run/ssi/inject-fault && fail "$point: the fault point was never reached ($out)"
    wait_until 10 has_lines /tmp/f.out $((at + 20)) || fail "$point: the process did not continue"
    wait_until 5 runs_on "$pid" 1 || fail "$point: listed on node '$(node_of "$pid")', not at home"
    [ "$(on_node 1 cat /proc/"$pid"/comm)" = python3 ] || fail "$point: PID $pid is not python3 at home"
    [ "$(copies)" = 1 ] || fail "$point: $(copies) copies of the counter run"
    # Leaving home, its memory waited in a holder, the deputy's child: ended with the move.
    [ -z "$(on_node 1 cat /proc/"$pid"/task/"$pid"/children)" ] || fail "$point: PID $pid has a child left"
    [ -z "$(on_node 1 ls /run/ssi/images)" ] || fail "$point: left in the images: $(on_node 1 ls /run/ssi/images)"
    cluster start-agent 2 >/dev/null 2>&1 || fail "cannot restart node 2's agent"
    wait_until 15 node_up 2
    ok "round $round, $point: ssi-migrate said '$out'; it continues at home, once"
  done
done

# A signal sent at home while a move is under way (here: in the 5 s the deputy waits for
# a target that died before the resume) is held, and delivered once the process is itself
# again at home: its handler runs once.
on_node 1 sh -c "cat > /tmp/trapper.py" <<'PY'
import signal, time
signal.signal(signal.SIGUSR1, lambda s, f: print("usr1", flush=True))
print("ready", flush=True)
while True: time.sleep(0.01)
PY
tpid=$(on_node 1 sh -c 'python3 -u /tmp/trapper.py > /tmp/t.out 2>&1 & echo $!')
wait_until 10 on_node 1 grep -q ready /tmp/t.out
on_node 2 sh -c "echo migrate-resume > /run/ssi/inject-fault"
on_node 1 sh -c "timeout 60 ssi-migrate 1:$tpid 2 > /tmp/t.migrate 2>&1; echo \$? > /tmp/t.rc" &
mover=$!
wait_until 10 not on_node 2 test -e /run/ssi/inject-fault  # the target died at the resume
# Its memory is held at home meanwhile, by a child of its deputy: not a second process.
# (Here the deputy has asked for its run, and the children of a deputy are hidden; before
# that, the agent's hide_holders hides every child of a moving process. When it hid only a
# holder already parked in pause(), a scan in the move's first milliseconds listed the
# holder until the next scan: this check failed once in CI.)
others=$(on_node 1 ssi-ps -e -o pid,cmd --no-headers | grep trapper.py | grep -v "^ *$tpid " || true)
[ -z "$others" ] || fail "during the move, ssi-ps lists another trapper: $others"
on_node 1 kill -USR1 "$tpid"
wait "$mover"
[ "$(on_node 1 cat /tmp/t.rc)" = 1 ] || fail "the faulty move exited $(on_node 1 cat /tmp/t.rc): $(on_node 1 cat /tmp/t.migrate)"
wait_until 5 on_node 1 grep -q usr1 /tmp/t.out || fail "kill -USR1 during the move was lost"
[ "$(on_node 1 grep -c usr1 /tmp/t.out)" = 1 ] || fail "kill -USR1 during the move ran the handler $(on_node 1 grep -c usr1 /tmp/t.out) times"
on_node 1 kill "$tpid"
cluster start-agent 2 >/dev/null 2>&1 || fail "cannot restart node 2's agent"
wait_until 15 node_up 2
ok "kill -USR1 at home during a move that fell back: delivered once, at home"

# The home agent dies at fault point $1 during a move of the counter to $2: the move
# fails, the process waits (no agent to rebuild it), and the restarted agent rebuilds it
# at home, in its PID, once, with nothing left behind (no holder, no image file).
home_agent_dies() {
  local point=$1 to=$2 rc=0 out at
  on_node 1 sh -c "echo $point > /run/ssi/inject-fault"
  out=$(on_node 1 timeout 60 ssi-migrate "1:$pid" "$to" 2>&1) || rc=$?
  [ "$rc" -ne 0 ] || fail "$point: ssi-migrate succeeded though its agent died: $out"
  on_node 1 test -e /run/ssi/inject-fault && fail "$point: the fault point was never reached ($out)"
  at=$(lines /tmp/f.out)
  sleep 1
  [ "$(lines /tmp/f.out)" -le "$((at + 1))" ] || fail "$point: the process ran on, with no agent to rebuild it"
  cluster start-agent 1 >/dev/null 2>&1 || fail "cannot restart node 1's agent"
  wait_until 15 has_lines /tmp/f.out $((at + 20)) || fail "$point: the restarted home agent did not rebuild the process"
  wait_until 5 runs_on "$pid" 1 || fail "$point: after the restart, listed on node '$(node_of "$pid")'"
  [ "$(on_node 1 cat /proc/"$pid"/comm)" = python3 ] || fail "$point: PID $pid is not python3 at home after the restart"
  [ -z "$(on_node 1 cat /proc/"$pid"/task/"$pid"/children)" ] || fail "$point: a child of PID $pid is left (its holder?)"
  [ -z "$(on_node 1 ls /run/ssi/images)" ] || fail "$point: left in the images: $(on_node 1 ls /run/ssi/images)"
  wait_until 5 one_copy || fail "$point: $(copies) copies of the counter run after the restart"
  ok "the home agent died at $point (ssi-migrate: '$out'); restarted, it rebuilt the process in its PID, once"
}
one_copy() { [ "$(copies)" = 1 ]; }  # the restarted agent's table is whole after its next scan

# Coming home (pre-copied), once the deputy has parked and before the agent rebuilt the
# process in it: the restarted agent finds the parked deputy and its image.
on_node 1 timeout 60 ssi-migrate "1:$pid" 2 >/dev/null 2>&1 || fail "the move to node 2 before the home fault failed"
wait_until 5 runs_on "$pid" 2 || fail "not on node 2 before the home fault"
home_agent_dies migrate-home-rebuild home
# Leaving home, once the process has become its deputy and before the agent gave it its
# order: the memory waits in the deputy's child, the holder; the deputy, finding no agent,
# parks, and the restarted agent rebuilds the process in it from the holder.
home_agent_dies migrate-leave-exec 2

# The same with a signal sent at home while it comes back: whether it reached the program
# on node 2, waited in the deputy (held during the move, and written beside the image as
# it parked), or waited in the parked deputy, its handler runs once, at home.
tpid=$(on_node 1 sh -c 'python3 -u /tmp/trapper.py > /tmp/t2.out 2>&1 & echo $!')
wait_until 10 on_node 1 grep -q ready /tmp/t2.out
on_node 1 timeout 60 ssi-migrate "1:$tpid" 2 >/dev/null 2>&1 || fail "the trapper's move to node 2 failed"
on_node 1 sh -c "echo migrate-home-rebuild > /run/ssi/inject-fault"
on_node 1 sh -c "timeout 60 ssi-migrate 1:$tpid home >/dev/null 2>&1" &
mover=$!
sleep 0.05
on_node 1 kill -USR1 "$tpid"
wait "$mover" || true
wait_until 10 not on_node 1 test -e /run/ssi/inject-fault
cluster start-agent 1 >/dev/null 2>&1 || fail "cannot restart node 1's agent"
wait_until 15 runs_on "$tpid" 1 || fail "the trapper is listed on node '$(node_of "$tpid")' after the restart"
wait_until 10 on_node 1 grep -q usr1 /tmp/t2.out || fail "kill -USR1 while it came home was lost"
sleep 1
[ "$(on_node 1 grep -c usr1 /tmp/t2.out)" = 1 ] || fail "kill -USR1 while it came home ran $(on_node 1 grep -c usr1 /tmp/t2.out) times"
on_node 1 kill "$tpid"
ok "kill -USR1 at home while it came home, its agent dead at the rebuild: handled once, at home"

# Finally a clean move and back, then the whole output is checked: 1, 2, 3 ... in order.
on_node 1 timeout 60 ssi-migrate "1:$pid" 2 >/dev/null 2>&1 || fail "the clean move after the faults failed"
on_node 1 timeout 60 ssi-migrate "1:$pid" home >/dev/null 2>&1 || fail "the clean move home failed"
on_node 1 kill "$pid"
wait "$parent" || true
n=$(lines /tmp/f.out)
[ "$(on_node 1 cat /tmp/f.out)" = "$(seq 1 "$n")" ] || fail "the output has a gap or a repeat"
ok "after 8 injected faults the output is exactly 1..$n"

# Past the commit point, leaving home, the process runs on node 2 while its memory is
# still on its way (post-copy, fault point migrate-postcopy). Node 2 dying then loses it,
# as it loses any program running there (docs/remote-exec.md): ssi-migrate says so, the
# home parent sees the deputy's status for a lost node, and nothing is left at home (the
# memory's holder dies with the deputy).
on_node 1 sh -c 'python3 -c "import time
b = bytearray(b\"x\") * (64 << 20)
open(\"/tmp/p.ready\", \"w\").close()
while True: time.sleep(0.01)" & echo $! > /tmp/p.pid; wait $!; echo $? > /tmp/p.rc' &
pparent=$!
wait_until 20 on_node 1 test -e /tmp/p.ready
ppid=$(on_node 1 cat /tmp/p.pid)
on_node 2 sh -c "echo migrate-postcopy > /run/ssi/inject-fault"
rc=0; out=$(on_node 1 timeout 60 ssi-migrate "1:$ppid" 2 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "migrate-postcopy: ssi-migrate exited $rc: $out"
on_node 2 test -e /run/ssi/inject-fault && fail "migrate-postcopy: the fault point was never reached ($out)"
grep -q "the process is lost" <<<"$out" || fail "migrate-postcopy: ssi-migrate did not say the process is lost: $out"
wait "$pparent" || true
[ "$(on_node 1 cat /tmp/p.rc)" = 255 ] || fail "migrate-postcopy: the home parent got $(on_node 1 cat /tmp/p.rc), not 255"
left=$(on_node 1 ps -eo comm= | grep -c python3 || true)
[ "$left" = 0 ] || fail "migrate-postcopy: $left python3 processes left at home"
[ -z "$(on_node 1 ls /run/ssi/images)" ] || fail "migrate-postcopy: left in the images: $(on_node 1 ls /run/ssi/images)"
ok "node 2 died while the memory of a process that left home was on its way: ssi-migrate said '$out', the parent got 255, nothing left"

pass

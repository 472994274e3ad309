#!/usr/bin/env bash
# Checkpoint/restart (docs/checkpoint.md): a counting python3 program is checkpointed
# with --kill on node 1 and restarted from the file: its output goes on where it
# stopped (no repeat, no gap), it keeps its PID, and its exit status comes back through
# ssi-restart. --leave-running leaves the original running; a damaged or foreign file
# is refused; kill(2)'s rule holds; a user's restored process runs as that user and is
# listed by ssi-ps. Files live in node 1's private /tmp.
source "$(dirname "$0")/../support/cluster.sh"
cluster_up 3

nobody_exec() { local k=$1; shift; "$SSI_CLUSTER_BIN" exec "$k" --name "$SSI_CLUSTER" --user nobody -- "$@"; }
lines() { on_node 1 sh -c "wc -l < $1 2>/dev/null || echo 0"; }
has_lines() { [ "$(lines "$1")" -ge "$2" ]; }

# counter N EXIT: prints 1..N, one every 20 ms, then exits with EXIT.
counter='import sys, time
n, code = int(sys.argv[1]), int(sys.argv[2])
for i in range(1, n + 1):
    print(i, flush=True)
    time.sleep(0.02)
sys.exit(code)'
on_node 1 sh -c "cat > /tmp/counter.py" <<<"$counter"
on_node 1 chmod 644 /tmp/counter.py

# --kill, then restart: the output continues exactly, the status comes back.
pid=$(on_node 1 sh -c 'python3 -u /tmp/counter.py 300 7 > /tmp/out1 2>&1 & echo $!')
wait_until 10 has_lines /tmp/out1 20
on_node 1 timeout 60 ssi-checkpoint "1:$pid" -o /tmp/count.img --kill || fail "ssi-checkpoint --kill failed"
wait_until 5 not on_node 1 kill -0 "$pid"
stopped=$(lines /tmp/out1)
[ "$stopped" -lt 300 ] || fail "the counter finished before it was checkpointed"
on_node 1 test -s /tmp/count.img || fail "no image file"
[ "$(on_node 1 stat -c %a /tmp/count.img)" = 600 ] || fail "the image file is not mode 0600"
rc=0; on_node 1 sh -c 'timeout 60 ssi-restart /tmp/count.img > /tmp/out2 2>/tmp/err2' || rc=$?
[ "$rc" -eq 7 ] || fail "ssi-restart exited $rc, expected the program's 7 ($(on_node 1 cat /tmp/err2))"
on_node 1 grep -q "taken" /tmp/err2 && fail "the restored process did not keep its PID: $(on_node 1 cat /tmp/err2)"
[ "$(on_node 1 cat /tmp/out1 /tmp/out2)" = "$(seq 1 300)" ] ||
  fail "output after restart is not the rest of 1..300 (stopped at $stopped; restart printed $(on_node 1 head -c 40 /tmp/out2 | tr '\n' ' ')...)"
ok "checkpoint --kill at $stopped, restarted with PID $pid, output continued, exit status 7"

# Restart on another node: checkpointed on node 1, resumed on node 2 (ssi-restart -n 2
# runs itself there through ssi-run: the image is read from node 1, the output comes back).
pid=$(on_node 1 sh -c 'python3 -u /tmp/counter.py 150 4 > /tmp/out6 2>&1 & echo $!')
wait_until 10 has_lines /tmp/out6 10
on_node 1 timeout 60 ssi-checkpoint "1:$pid" -o /tmp/move.img --kill || fail "ssi-checkpoint for the move failed"
on_node 1 sh -c 'timeout 60 ssi-restart -n 2 /tmp/move.img > /tmp/out7 2>/tmp/err7; echo $? > /tmp/rc7' &
restarter=$!
runs_on_2() { on_node 3 ssi-ps -n 2 -o cmd --no-headers | grep -q "counter.py 150 4"; }
wait_until 10 runs_on_2 || fail "the restored counter is not listed on node 2 ($(on_node 1 cat /tmp/err7))"
wait "$restarter"
[ "$(on_node 1 cat /tmp/rc7)" = 4 ] || fail "ssi-restart -n 2 exited $(on_node 1 cat /tmp/rc7), expected 4 ($(on_node 1 cat /tmp/err7))"
[ "$(on_node 1 cat /tmp/out6 /tmp/out7)" = "$(seq 1 150)" ] || fail "output moved to node 2 is not the rest of 1..150"
ok "checkpointed on node 1, restarted on node 2: output continued, exit status 4"

# --leave-running: the original goes on; the image restarts too (as a new PID).
pid=$(on_node 1 sh -c 'python3 -u /tmp/counter.py 200 0 > /tmp/out3 2>&1 & echo $!')
wait_until 10 has_lines /tmp/out3 10
on_node 1 timeout 60 ssi-checkpoint "1:$pid" -o /tmp/live.img --leave-running || fail "ssi-checkpoint --leave-running failed"
at=$(lines /tmp/out3)
wait_until 5 has_lines /tmp/out3 $((at + 5))
on_node 1 kill -0 "$pid" || fail "the original did not survive --leave-running"
rc=0; out=$(on_node 1 sh -c 'timeout 60 ssi-restart /tmp/live.img 2>&1 >/tmp/out4') || rc=$?
[ "$rc" -eq 0 ] || fail "restart of a --leave-running image: exit $rc ($out)"
grep -q "taken" <<<"$out" || fail "expected a note that PID $pid is taken, got: $out"
[ "$(on_node 1 tail -n 1 /tmp/out4)" = 200 ] || fail "the restarted copy did not count to 200"
on_node 1 kill "$pid" 2>/dev/null || true
ok "--leave-running keeps the original; the copy restarts under a new PID"

# Atomic --kill: when the image cannot be written (a full file system), the process is
# not killed; it goes on running, untouched.
on_node 1 sh -c 'mkdir -p /tmp/small && mount -t tmpfs -o size=64k tmpfs /tmp/small' || fail "no small tmpfs"
pid=$(on_node 1 sh -c 'python3 -u /tmp/counter.py 300 0 > /tmp/out5 2>&1 & echo $!')
wait_until 10 has_lines /tmp/out5 10
rc=0; out=$(on_node 1 timeout 60 ssi-checkpoint "1:$pid" -o /tmp/small/full.img --kill 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "a checkpoint into a full file system claimed success"
at=$(lines /tmp/out5)
wait_until 5 has_lines /tmp/out5 $((at + 5)) || fail "the process stopped after a failed --kill checkpoint ($out)"
on_node 1 kill "$pid"
ok "a failed --kill checkpoint leaves the process running ($out)"

# A damaged and a foreign file are refused clearly, exit 1.
on_node 1 python3 -c '
import sys
b = bytearray(open("/tmp/count.img", "rb").read())
b[len(b) // 2] ^= 0xff
open("/tmp/damaged.img", "wb").write(b)'
rc=0; out=$(on_node 1 timeout 60 ssi-restart /tmp/damaged.img 2>&1) || rc=$?
[ "$rc" -eq 1 ] && grep -q "damaged" <<<"$out" || fail "damaged image: exit $rc, '$out'"
rc=0; out=$(on_node 1 timeout 60 ssi-restart /tmp/counter.py 2>&1) || rc=$?
[ "$rc" -eq 1 ] && grep -q "not an ssi checkpoint image" <<<"$out" || fail "foreign file: exit $rc, '$out'"
rc=0; out=$(on_node 1 timeout 60 ssi-restart /tmp/damaged.img -n 2 2>&1) || rc=$?
[ "$rc" -eq 1 ] && grep -q "damaged" <<<"$out" || fail "damaged image restarted on node 2: exit $rc, '$out'"
rc=0; out=$(on_node 1 timeout 60 ssi-restart /tmp/count.img -n 9 2>&1) || rc=$?
[ "$rc" -ne 0 ] && grep -q "node 9" <<<"$out" || fail "-n 9 (no such node): exit $rc, '$out'"
rc=0; out=$(on_node 1 timeout 60 ssi-checkpoint "2:$pid" -o /tmp/x.img 2>&1) || rc=$?
[ "$rc" -eq 1 ] && grep -q "No such process" <<<"$out" || fail "no such process on node 2: exit $rc, '$out'"
ok "damaged, foreign, other-node requests refused"

# kill(2)'s rule: nobody may not checkpoint root's process, but their own.
rootpid=$(on_node 1 sh -c 'sleep 1000 >/dev/null 2>&1 & echo $!')
rc=0; out=$(nobody_exec 1 timeout 60 ssi-checkpoint "1:$rootpid" -o /tmp/root.img 2>&1) || rc=$?
[ "$rc" -eq 1 ] && grep -q "Operation not permitted" <<<"$out" || fail "nobody checkpointing root's process: exit $rc, '$out'"
on_node 1 kill -0 "$rootpid" || fail "root's process died"
on_node 1 test -e /tmp/root.img && fail "an image of root's process was written"
on_node 1 kill "$rootpid"

pid=$(nobody_exec 1 sh -c 'cd /tmp && python3 -u /tmp/counter.py 400 3 > /tmp/nb1 2>&1 & echo $!')
wait_until 10 has_lines /tmp/nb1 10
nobody_exec 1 sh -c "cd /tmp && timeout 60 ssi-checkpoint 1:$pid -o nb.img --kill" || fail "nobody could not checkpoint their own process"
[ "$(on_node 1 stat -c %U /tmp/nb.img)" = nobody ] || fail "nobody's image is not owned by nobody"
wait_until 5 not on_node 1 kill -0 "$pid"
on_node 1 sh -c "cd /tmp && exec setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c 'timeout 60 ssi-restart /tmp/nb.img > /tmp/nb2 2>&1; echo \$? > /tmp/nb.rc' >/dev/null 2>&1 &"
wait_until 10 has_lines /tmp/nb2 3
uid=$(on_node 1 awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status") || fail "the restored process $pid is not running"
[ "$uid" = "65534 65534 65534 65534" ] || fail "the restored process runs with uids '$uid', expected nobody's"
gid=$(on_node 1 awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")
[ "$gid" = "65534 65534 65534 65534" ] || fail "the restored process runs with gids '$gid'"
on_node 1 awk '/^CapEff:/ {exit ($2 == "0000000000000000" ? 0 : 1)}' "/proc/$pid/status" || fail "the restored process kept capabilities"
wait_until 5 sh -c "'$SSI_CLUSTER_BIN' exec 1 --name '$SSI_CLUSTER' -- ssi-ps -o gpid,user | grep -Eq '^ *$((10000000 + pid)) +nobody'"
wait_until 30 on_node 1 test -s /tmp/nb.rc
[ "$(on_node 1 cat /tmp/nb.rc)" = 3 ] || fail "nobody's restart exited $(on_node 1 cat /tmp/nb.rc), expected 3"
[ "$(on_node 1 cat /tmp/nb1 /tmp/nb2)" = "$(seq 1 400)" ] || fail "nobody's restored output does not continue exactly"
ok "nobody checkpoints and restarts their own process; it runs as nobody and is listed by ssi-ps"
pass

#!/usr/bin/env bash
# Migration (docs/migration.md): processes started by a plain shell on node 1 move to
# other nodes mid-run, hop on, come back home, and produce exactly the output of an
# uninterrupted run. They keep their gpid and PID; the home parent wait()s and gets
# their exit status; plain kill at home and ssi-kill from anywhere reach them; ssi-ps
# lists them once, on the node where they run. Files live in node 1's private /tmp.
source "$(dirname "$0")/../support/cluster.sh"
cluster_up 3

lines() { on_node 1 sh -c "wc -l < $1 2>/dev/null || echo 0"; }
has_lines() { [ "$(lines "$1")" -ge "$2" ]; }
node_of() { on_node "${3:-1}" ssi-ps -p "1:$1" -o node --no-headers 2>/dev/null | tr -d ' '; }
runs_on() { [ "$(node_of "$1")" = "$2" ]; }
migrate() {
  local out rc=0
  out=$(on_node "${3:-1}" timeout 120 ssi-migrate "1:$1" "$2" 2>&1) || rc=$?
  [ "$rc" -eq 0 ] || fail "ssi-migrate 1:$1 $2 exited $rc: $out"
  echo "  $out"
}

# A python3 computation that prints its progress: 1 -> 2 -> 3 -> home, with its parent
# shell at home waiting for it.
counter='import sys, time
n, code = int(sys.argv[1]), int(sys.argv[2])
for i in range(1, n + 1):
    print(i, flush=True)
    time.sleep(0.01)
sys.exit(code)'
on_node 1 sh -c "cat > /tmp/counter.py" <<<"$counter"
on_node 1 sh -c 'python3 -u /tmp/counter.py 600 5 > /tmp/c.out 2>&1 & echo $! > /tmp/c.pid; wait $!; echo $? > /tmp/c.rc' &
parent=$!
wait_until 10 on_node 1 test -s /tmp/c.pid
pid=$(on_node 1 cat /tmp/c.pid)
wait_until 10 has_lines /tmp/c.out 20
for hop in 2 3 1; do
  [ "$hop" = 1 ] && where=home || where=$hop
  at=$(lines /tmp/c.out)
  migrate "$pid" "$where" "$hop"   # asked from the node it goes to: any node may ask
  wait_until 5 runs_on "$pid" "$hop" || fail "after ssi-migrate $where the counter is listed on node '$(node_of "$pid")'"
  wait_until 10 has_lines /tmp/c.out $((at + 20)) || fail "the counter stopped after moving to node $hop"
done
[ "$(on_node 1 cat /proc/"$pid"/comm)" = python3 ] || fail "PID $pid at home is not python3 again"
wait "$parent"
[ "$(on_node 1 cat /tmp/c.rc)" = 5 ] || fail "the home parent's wait got $(on_node 1 cat /tmp/c.rc), expected 5"
[ "$(on_node 1 cat /tmp/c.out)" = "$(seq 1 600)" ] || fail "the counter's output is not exactly 1..600"
ok "python3 counter 1 -> 2 -> 3 -> home: same PID $pid, output exact, the home parent got exit status 5"

# Pre-copy (docs/migration.md): coming home, a process's memory goes ahead while it runs
# on, then only what it wrote since. This one writes all the time: a 64 MiB buffer, a page
# at a time, and an mmap it replaces every 10 steps (memory the write tracker never saw);
# its digest of both must be that of an uninterrupted run.
writer='import hashlib, mmap, sys, time
steps, pages = int(sys.argv[1]), 16384
b = bytearray(b"\x01") * (pages * 4096)
m = None
for s in range(1, steps + 1):
    at = (s * 7919 % pages) * 4096
    b[at:at + 8] = s.to_bytes(8, "little")
    if s % 10 == 0:
        if m is not None: m.close()
        m = mmap.mmap(-1, 2 << 20, flags=mmap.MAP_PRIVATE)
        m.write(bytes([s % 256]) * (2 << 20))
    if s % 100 == 0: print(s, flush=True)
    time.sleep(0.002)
h = hashlib.sha256(b)
h.update(m[:])
print(h.hexdigest(), flush=True)'
on_node 1 sh -c "cat > /tmp/writer.py" <<<"$writer"
on_node 1 sh -c 'python3 -u /tmp/writer.py 2500 > /tmp/w-plain.out 2>&1 &'
pid=$(on_node 1 sh -c 'python3 -u /tmp/writer.py 2500 > /tmp/w.out 2>&1 & echo $!')
wait_until 10 has_lines /tmp/w.out 2
for where in 2 home 3 home; do
  at=$(lines /tmp/w.out)
  out=$(migrate "$pid" "$where"); echo "$out"
  if [ "$where" = home ]; then
    grep -q "MiB of it while it ran" <<<"$out" || fail "moving home was not pre-copied: $out"
  fi
  wait_until 10 has_lines /tmp/w.out $((at + 2)) || fail "the writer stopped after moving to $where"
done
wait_until 60 has_lines /tmp/w.out 26
wait_until 30 has_lines /tmp/w-plain.out 26
[ "$(on_node 1 tail -1 /tmp/w.out)" = "$(on_node 1 tail -1 /tmp/w-plain.out)" ] ||
  fail "the pre-copied writer's digest differs from an uninterrupted run's"
ok "a writer of 64 MiB and fresh mmaps, 1 -> 2 -> home -> 3 -> home, pre-copied home while it wrote: same digest"

# Post-copy (docs/migration.md): leaving home, the process resumes on its target before
# its memory is there; its pages come as it touches them, then the rest, from the holder
# at home, which ends with the move. This one holds 192 MiB of a pattern and, as soon as
# it runs elsewhere (/proc stays local: its PID 1 is another), forks again and again a
# child that checks the whole buffer: a child forked while pages were still missing
# would see zeros there (a fork waits for the memory to be whole).
forker='import os, sys, time, zlib
b = bytearray(range(256)) * (192 << 12)
want = zlib.crc32(b)
home_init = open("/proc/1/cmdline", "rb").read()
print("ready", flush=True)
while open("/proc/1/cmdline", "rb").read() == home_init:
    time.sleep(0.001)
for i in range(int(sys.argv[1])):
    child = os.fork()
    if child == 0:
        os._exit(0 if zlib.crc32(b) == want else 1)
    _, status = os.waitpid(child, 0)
    print(i, "ok" if status == 0 else "BAD", flush=True)'
on_node 1 sh -c "cat > /tmp/forker.py" <<<"$forker"
pid=$(on_node 1 sh -c 'python3 -u /tmp/forker.py 30 > /tmp/f.out 2>&1 & echo $!')
wait_until 20 has_lines /tmp/f.out 1
out=$(migrate "$pid" 2); echo "$out"
stopped=$(sed -n 's/.*stopped \([0-9]*\) ms, \([0-9]*\) ms in all.*/\1/p' <<<"$out")
[ -n "$stopped" ] || fail "ssi-migrate said nothing of the time stopped: $out"
holders=$(on_node 1 ps -o comm= --ppid "$pid" | grep -c python3 || true)
[ "$holders" = 0 ] || fail "the memory's holder is still at home after the move ($holders python3 children of $pid)"
wait_until 5 runs_on "$pid" 2 || fail "the forker is listed on node '$(node_of "$pid")' after its move"
wait_until 60 has_lines /tmp/f.out 31 || fail "the forker did not finish on node 2: $(on_node 1 tail -2 /tmp/f.out)"
on_node 1 grep -q BAD /tmp/f.out && fail "a child forked after the move saw the memory wrong: $(on_node 1 grep -c BAD /tmp/f.out) of 30"
ok "a 192 MiB forker left home post-copied (stopped $stopped ms): its 30 children saw the memory whole, the holder is gone"

# Signals follow it: a TERM handler runs where it is, sent by plain kill at home and by
# ssi-kill from another node; getpid() stays the home PID.
trapper='import os, signal, sys, time
def on_usr1(s, f): print("usr1", os.getpid(), flush=True)
def on_term(s, f): print("term", os.getpid(), flush=True); sys.exit(3)
signal.signal(signal.SIGUSR1, on_usr1)
signal.signal(signal.SIGTERM, on_term)
print("ready", os.getpid(), flush=True)
while True: time.sleep(0.05)'
on_node 1 sh -c "cat > /tmp/trapper.py" <<<"$trapper"
on_node 1 sh -c 'python3 -u /tmp/trapper.py > /tmp/t.out 2>&1 & echo $! > /tmp/t.pid; wait $!; echo $? > /tmp/t.rc' &
parent=$!
wait_until 10 has_lines /tmp/t.out 1
pid=$(on_node 1 cat /tmp/t.pid)
migrate "$pid" 2
on_node 1 kill -USR1 "$pid"
wait_until 10 on_node 1 grep -q "usr1 $pid" /tmp/t.out || fail "kill -USR1 at home did not reach the handler on node 2"
migrate "$pid" 3 2
on_node 2 ssi-kill -TERM "1:$pid" || fail "ssi-kill from node 2 failed"
wait "$parent"
[ "$(on_node 1 cat /tmp/t.rc)" = 3 ] || fail "the TERM handler's exit 3 did not reach the home parent"
[ "$(on_node 1 cat /tmp/t.out)" = "ready $pid
usr1 $pid
term $pid" ] || fail "unexpected output: $(on_node 1 cat /tmp/t.out)"
ok "kill -USR1 at home reached it on node 2, ssi-kill -TERM from node 2 on node 3; getpid() stayed $pid"

# Not one signal lost or doubled on the way: 300 real-time signals (they queue, one per
# kill) sent at home while the process goes 1 -> 2 -> 3 -> home, counted over there (it
# stops at the 300th, or after 20 s without one).
rtcount='import signal
rt = signal.SIGRTMIN + 1
signal.pthread_sigmask(signal.SIG_BLOCK, {rt})
print("ready", flush=True)
n = 0
while n < 300 and signal.sigtimedwait({rt}, 20) is not None: n += 1
print("count", n, flush=True)'
on_node 1 sh -c "cat > /tmp/rtcount.py" <<<"$rtcount"
on_node 1 sh -c 'python3 -u /tmp/rtcount.py > /tmp/rt.out 2>&1 & echo $! > /tmp/rt.pid; wait $!; echo $? > /tmp/rt.rc' &
parent=$!
wait_until 10 has_lines /tmp/rt.out 1
pid=$(on_node 1 cat /tmp/rt.pid)
on_node 1 sh -c "for i in \$(seq 300); do kill -s RTMIN+1 $pid || exit 1; sleep 0.01; done" &
sender=$!
for hop in 2 3 home; do migrate "$pid" "$hop"; done
wait "$sender" || fail "a kill at home failed: the process (or its deputy) was gone for a moment"
wait "$parent"
[ "$(on_node 1 cat /tmp/rt.out)" = "ready
count 300" ] || fail "300 real-time signals sent across three moves, the process got: $(on_node 1 cat /tmp/rt.out)"
ok "300 queued signals sent at home while it moved 1 -> 2 -> 3 -> home: all 300 arrived, once each"

# Open files move with their offsets: sha256sum and gzip -c of a large home file.
on_node 1 sh -c 'head -c 300M /dev/urandom > /tmp/big && sha256sum < /tmp/big > /tmp/big.sha && gzip -c /tmp/big > /tmp/big.gz.want'
reading() {  # reading PID: it has /tmp/big open and has read some of it
  on_node 1 sh -c 'for f in /proc/'"$1"'/fd/*; do [ "$(readlink "$f")" = /tmp/big ] || continue
    awk "/^pos:/ {exit !(\$2 > 0)}" /proc/'"$1"'/fdinfo/${f##*/} && exit 0; done; exit 1'
}
on_node 1 sh -c 'sha256sum /tmp/big > /tmp/s.out & echo $! > /tmp/s.pid; wait $!; echo $? > /tmp/s.rc' &
parent=$!
wait_until 10 on_node 1 test -s /tmp/s.pid
pid=$(on_node 1 cat /tmp/s.pid)
wait_until 10 reading "$pid"
migrate "$pid" 2
migrate "$pid" home
wait "$parent"
[ "$(on_node 1 cat /tmp/s.rc)" = 0 ] || fail "sha256sum exited $(on_node 1 cat /tmp/s.rc)"
[ "$(on_node 1 cut -d' ' -f1 /tmp/s.out)" = "$(on_node 1 cut -d' ' -f1 /tmp/big.sha)" ] || fail "sha256sum after migration differs"
ok "sha256sum of a 300 MiB home file, 1 -> 2 -> home mid-read: same digest"

on_node 1 sh -c 'gzip -c /tmp/big > /tmp/big.gz & echo $! > /tmp/g.pid; wait $!; echo $? > /tmp/g.rc' &
parent=$!
wait_until 10 on_node 1 test -s /tmp/g.pid
pid=$(on_node 1 cat /tmp/g.pid)
wait_until 10 reading "$pid"
migrate "$pid" 3
migrate "$pid" 2 3
migrate "$pid" home 2
wait "$parent"
[ "$(on_node 1 cat /tmp/g.rc)" = 0 ] || fail "gzip exited $(on_node 1 cat /tmp/g.rc)"
on_node 1 cmp /tmp/big.gz /tmp/big.gz.want || fail "gzip -c output after migration differs"
ok "gzip -c of a 300 MiB home file, 1 -> 3 -> 2 -> home: identical output"

# bc computing digits of pi, its input a pipe, its output a home file.
on_node 1 sh -c 'echo "scale=2600; 4*a(1)" | BC_LINE_LENGTH=0 bc -l > /tmp/pi.want'
on_node 1 sh -c 'echo "scale=2600; 4*a(1)" | BC_LINE_LENGTH=0 bc -l > /tmp/pi.out & echo $! > /tmp/b.pid; wait $!; echo $? > /tmp/b.rc' &
parent=$!
wait_until 10 on_node 1 test -s /tmp/b.pid
pid=$(on_node 1 cat /tmp/b.pid)
migrate "$pid" auto
wait_until 5 not runs_on "$pid" 1 || fail "ssi-migrate auto left bc at home"
migrate "$pid" home
wait "$parent"
[ "$(on_node 1 cat /tmp/b.rc)" = 0 ] || fail "bc exited $(on_node 1 cat /tmp/b.rc)"
on_node 1 cmp /tmp/pi.out /tmp/pi.want || fail "bc's digits of pi differ after migration"
ok "bc -l computing 2600 digits of pi, 1 -> auto -> home: identical digits"

# ssi-checkpoint goes where the process runs, and writes the file where it was asked:
# a migrated process saved from home while on node 3 (it goes on), then node 2's own
# process saved from node 1 with --kill and resumed on node 1 from that file.
on_node 1 sh -c 'python3 -u /tmp/counter.py 100000 0 > /tmp/k.out 2>&1 & echo $! > /tmp/k.pid'
wait_until 10 on_node 1 test -s /tmp/k.pid
pid=$(on_node 1 cat /tmp/k.pid)
wait_until 10 has_lines /tmp/k.out 10
migrate "$pid" 3
wait_until 5 runs_on "$pid" 3  # the tool finds where it runs in the table
out=$(on_node 1 timeout 60 ssi-checkpoint "1:$pid" -o /tmp/k.img --leave-running 2>&1) ||
  fail "ssi-checkpoint of a process away on node 3 failed: $out"
on_node 1 test -s /tmp/k.img || fail "no image at home for the process on node 3"
at=$(lines /tmp/k.out)
wait_until 5 has_lines /tmp/k.out $((at + 10)) || fail "the process stopped after ssi-checkpoint --leave-running"
runs_on "$pid" 3 || fail "the checkpointed process is no longer on node 3"
on_node 1 kill "$pid"
on_node 2 sh -c "cat > /tmp/counter.py" <<<"$counter"
pid=$(on_node 2 sh -c 'python3 -u /tmp/counter.py 400 0 > /tmp/n2.out 2>&1 & echo $!')
wait_until 10 on_node 2 sh -c "[ \$(wc -l < /tmp/n2.out) -ge 20 ]"
out=$(on_node 1 timeout 60 ssi-checkpoint "2:$pid" -o /tmp/n2.img --kill 2>&1) || fail "ssi-checkpoint 2:$pid from node 1 failed: $out"
wait_until 5 not on_node 2 kill -0 "$pid"
on_node 1 sh -c 'timeout 60 ssi-restart /tmp/n2.img > /tmp/n2.rest 2>/dev/null' || fail "restart on node 1 of node 2's process failed"
[ "$(on_node 2 cat /tmp/n2.out; on_node 1 cat /tmp/n2.rest)" = "$(seq 1 400)" ] || fail "node 2's counter did not continue on node 1"
ok "ssi-checkpoint from home saved a process away on node 3 (still running); node 2's process saved from node 1, resumed there"

# Refusals: the reason, nothing moved, the process untouched.
refused() {  # refused PID WORDS...: ssi-migrate exits 1 naming WORDS, the process stays
  local pid=$1 rc=0 out
  shift
  out=$(on_node 1 "$@" 2>&1) || rc=$?
  [ "$rc" -eq 1 ] || fail "expected a refusal (exit 1), got $rc: $out"
  on_node 1 kill -0 "$pid" || fail "the refused process $pid is gone ($out)"
  wait_until 5 runs_on "$pid" 1 || fail "the refused process $pid is not listed at home ($out)"
  echo "  $out"
}
pid=$(on_node 1 sh -c 'python3 -c "import threading, time; threading.Thread(target=time.sleep, args=(1000,)).start(); time.sleep(1000)" > /dev/null 2>&1 & echo $!')
threads() { [ "$(on_node 1 sh -c "ls /proc/$pid/task | wc -l")" -ge 2 ]; }
wait_until 10 threads
out=$(refused "$pid" ssi-migrate "1:$pid" 2); echo "$out"
grep -qi thread <<<"$out" || fail "the refusal does not name threads"
on_node 1 kill "$pid"
pid=$(on_node 1 sh -c 'python3 -c "import os, time; r, w = os.pipe(); time.sleep(1000)" > /dev/null 2>&1 & echo $!')
# (python3 may come through a wrapper script first: wait for the pipe itself)
wait_until 10 on_node 1 sh -c "readlink /proc/$pid/fd/4 | grep -q pipe"
out=$(refused "$pid" ssi-migrate "1:$pid" 2); echo "$out"
grep -q pipe <<<"$out" || fail "the refusal does not name the pipe"
on_node 1 kill "$pid"
pid=$(on_node 1 sh -c 'sleep 1000 > /dev/null 2>&1 & echo $!')
out=$(refused "$pid" su nobody -s /bin/sh -c "ssi-migrate 1:$pid 2"); echo "$out"
grep -q "not permitted" <<<"$out" || fail "nobody could move root's process"
on_node 1 kill "$pid"
expect_status 1 on_node 1 ssi-migrate 1:999999 2
expect_status 1 on_node 1 ssi-migrate 1:1 2
expect_status 2 on_node 1 ssi-migrate 1:1
expect_status 2 on_node 1 ssi-migrate 1:1 node7
ok "refused: threads, a pipe, another user's process (all untouched), unknown process, init, bad arguments"

pass

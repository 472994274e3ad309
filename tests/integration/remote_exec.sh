#!/usr/bin/env bash
# Transparent remote execution: real programs run with `ssi-run -n 2` from node 1 produce
# byte for byte what they produce run locally, on files that exist only in node 1's
# private /tmp; identity, exit statuses and signals behave as at home.
source "$(dirname "$0")/../support/cluster.sh"
cluster_up 3

# Everything below runs logged into node 1 (the home node); $W is in its private /tmp.
home() { on_node 1 bash -c "cd /tmp/w || exit 99; $1"; }
on_node 1 bash -c 'mkdir -p /tmp/w/tree/sub && cd /tmp/w && seq 1 50000 | shuf --random-source=<(yes) > data.txt &&
  printf "apple\nbanana x\ncherry x\napple x\n" > words.txt && cp words.txt tree/ && seq 1 300 > tree/sub/n.txt &&
  ln -s ../words.txt tree/sub/link && touch -d 2020-01-01 tree tree/sub tree/* tree/sub/*'
on_node 2 test -e /tmp/w/data.txt && fail "node 2 can see node 1's /tmp: the test would prove nothing"

test_eq() { local want=$1; shift; [ "$("$@")" = "$want" ]; }
same() {  # same NAME CMD: CMD's stdout run locally and with ssi-run -n 2 must be identical
  local name=$1 cmd=$2 local_out remote_out
  local_out=$(home "$cmd" | sha256sum) || fail "$name: local run failed"
  remote_out=$(home "ssi-run -n 2 $cmd" | sha256sum) || fail "$name: remote run failed"
  [ "$local_out" = "$remote_out" ] || fail "$name: remote output differs from local"
  ok "$name"
}
same "sha256sum of a home-only file" "sha256sum data.txt"
same "wc of a home-only file" "wc data.txt"
same "gzip -c of a home-only file" "gzip -c data.txt"
same "a sh -c pipeline" "sh -c 'grep x words.txt | sort | uniq -c'"

# Redirections are the deputy's: sort reads the home file through stdin, writes through stdout.
home "sort -n < data.txt > sorted.local && ssi-run -n 2 sort -n < data.txt > sorted.remote && cmp sorted.local sorted.remote" \
  || fail "sort with < and > differs"
ok "sort < in > out"

# tar writes an archive of a home-only directory into a home file.
home "tar cf local.tar tree && ssi-run -n 2 tar cf remote.tar tree && cmp local.tar remote.tar" || fail "tar archives differ"
ok "tar cf of a home-only directory"

# python3 reads, writes and renames home files.
cat > /var/tmp/ssi-rexec-$$.py <<'PY'
import os, sys
tag = sys.argv[1]
with open("data.txt") as f: total = sum(int(l) for l in f)
with open(f"py.{tag}.tmp", "w") as f: f.write(f"{total}\n")
os.rename(f"py.{tag}.tmp", f"py.{tag}")
print(open(f"py.{tag}").read().strip(), os.path.exists(f"py.{tag}.tmp"))
PY
home "cp /var/tmp/ssi-rexec-$$.py script.py"; rm -f /var/tmp/ssi-rexec-$$.py
home "python3 script.py local > py.out.local && ssi-run -n 2 python3 script.py remote > py.out.remote && cmp py.out.local py.out.remote && cmp py.local py.remote" \
  || fail "python3 read/write/rename differs"
ok "python3 reads, writes and renames home files"

# sqlite3 creates, fills and queries a database in home /tmp.
sql="create table t(k integer primary key, v text); with recursive c(x) as (select 1 union all select x+1 from c where x<2000) insert into t select x, hex(randomblob(8)) from c; select count(*), sum(k) from t;"
home "sqlite3 db.local '$sql' > sq.local && ssi-run -n 2 sqlite3 db.remote '$sql' > sq.remote && cmp sq.local sq.remote && sqlite3 db.remote 'pragma integrity_check' | grep -qx ok" \
  || fail "sqlite3 in home /tmp failed"
ok "sqlite3 database in home /tmp"
on_node 2 test -e /tmp/w/db.remote && fail "the remote sqlite3 wrote to node 2's /tmp instead of home's"

# Node 2 keeps copies of home files it read whole (ssi-remote/file_cache.h): a run after
# the first reads a big file from the copy; a file changed at home, same size, within the
# second, is read fresh, never from the old copy.
home "head -c 3000000 /dev/urandom > big.bin && sleep 1.2"  # only a settled version is copied
for round in fill hit; do
  same "sha256sum of a 3 MB home file ($round)" "sha256sum big.bin"
done
on_node 2 sh -c 'ls /run/ssi/file-cache | grep -q -- -3000000-' || fail "node 2 kept no copy of the home file it read whole"
home "printf changed | dd of=big.bin bs=1 seek=1000000 conv=notrunc status=none"
same "sha256sum of the home file changed in place since the copy" "sha256sum big.bin"

# Names the target's kernel caches are checked at home at each use (home_names.cpp): a
# running program that opened d/f and g, after d is renamed away at home and made again
# and g is replaced by a rename over it, opens the new files at once — well within the
# kernel's 1 s entry timeout, through the names it has cached.
on_node 1 sh -c 'cat > /tmp/w/names.py' <<'PY'
import os, time
def read(p): return open(p).read().strip()
print(read("names/d/f"), read("names/g"), flush=True)
open("names/ready", "w").close()
while not os.path.exists("names/go"): time.sleep(0.005)
print(read("names/d/f"), read("names/g"))
PY
home "mkdir -p names/d && echo old > names/d/f && echo old > names/g && rm -f names/ready names/go"
out=$(home "ssi-run -n 2 python3 names.py & until [ -e names/ready ]; do sleep 0.005; done
  mv names/d names/d.old && mkdir names/d && echo new > names/d/f && echo new > names/g.tmp && mv names/g.tmp names/g
  touch names/go; wait") || fail "the remote program of the renamed names failed"
[ "$out" = "$(printf 'old old\nnew new')" ] || fail "names changed at home were read stale through the target's cache: $out"
ok "names renamed and replaced at home are seen at the next open"

# It really ran on node 2: its root is the FUSE view of home, its /proc is node 2's own.
home "ssi-run -n 2 cat /proc/self/mountinfo" | grep -q " / .* fuse" || fail "the program did not run under the home file view"

# Exit statuses: 0, 3, and death by a signal, exactly as the shell sees a local run.
expect_status 0 home "ssi-run -n 2 true"
expect_status 3 home "ssi-run -n 2 sh -c 'exit 3'"
expect_status 137 home "ssi-run -n 2 sh -c 'kill -9 \$\$'"
expect_status 143 home "ssi-run -n 2 sh -c 'kill -TERM \$\$'"
expect_status 127 home "ssi-run -n 2 no-such-program-here"
expect_status 126 home "ssi-run -n 2 ./words.txt"
ok "exit statuses 0, 3, 137, 143, 127, 126"

# Identity: $! at home is what getpid() returns remotely; getppid() is the home shell.
home 'ssi-run -n 2 sh -c "echo \$\$ \$PPID" > ids & echo $! $$ > bang; wait; read rp rpp < ids; read b s < bang; [ "$rp" = "$b" ] && [ "$rpp" = "$s" ]' \
  || fail "getpid()/getppid() remotely differ from \$!/\$\$ at home: $(home 'cat ids bang')"
ok "\$! equals getpid() remotely, getppid() is the home parent"

# A program that traps SIGTERM, sent `kill $!` at home, runs its handler remotely.
home 'ssi-run -n 2 sh -c "trap \"echo handled > term.out; exit 0\" TERM; echo ready > term.ready; while :; do sleep 0.05; done" & p=$!
  for i in $(seq 100); do [ -e term.ready ] && break; sleep 0.05; done
  kill $p; wait $p; echo "status $?" > term.status' || fail "the TERM run failed"
[ "$(home 'cat term.out term.status')" = "$(printf 'handled\nstatus 0')" ] || fail "SIGTERM handler did not run remotely: $(home 'cat term.out term.status')"
ok "kill \$! at home runs the remote SIGTERM handler"

# Real-time signals queue, and each one sent to $! reaches the program: 100 kills, 100
# signals counted over there (it stops at the 100th, or after 10 s without one).
home "cat > rt.py" <<'PY'
import signal, sys
rt, want = signal.SIGRTMIN + 1, int(sys.argv[1])
signal.pthread_sigmask(signal.SIG_BLOCK, {rt})
print("ready", flush=True)
n = 0
while n < want and signal.sigtimedwait({rt}, 10) is not None: n += 1
print("count", n, flush=True)
PY
home 'ssi-run -n 2 python3 -u rt.py 100 > rt.out & p=$!
  for i in $(seq 200); do grep -q ready rt.out && break; sleep 0.05; done
  for i in $(seq 100); do kill -s RTMIN+1 $p; done; wait $p' || fail "the real-time signal run failed"
[ "$(home 'cat rt.out')" = "$(printf 'ready\ncount 100')" ] || fail "100 real-time signals sent, the program got: $(home 'cat rt.out')"
ok "100 real-time signals sent to \$! at home: 100 arrived"

# The other way: the program's kill(2) of a home process reaches it (as the user: nobody
# may not signal root's); its own PID and its children's stay its kernel's.
got=$(home 'sleep 60 & p=$!; ssi-run -n 2 kill -USR1 $p; k=$?; wait $p; echo "$k $?"')
[ "$got" = "0 138" ] || fail "kill -USR1 of a home PID from node 2: expected '0 138', got '$got'"
got=$(home 'sleep 60 & p=$!; su nobody -s /bin/sh -c "ssi-run -n 2 kill -TERM $p 2>/dev/null; echo \$?"; kill -0 $p && echo alive; kill $p')
[ "$got" = "1
alive" ] || fail "nobody's kill of root's home process from node 2: expected refusal, got '$got'"
[ "$(home 'ssi-run -n 2 kill -0 2147483 2>/dev/null; echo $?')" = 1 ] || fail "kill of no process at home did not fail"
[ "$(home "ssi-run -n 2 sh -c 'sleep 30 & kill \$!; wait \$!; echo \$?'")" = 143 ] || fail "the program's kill of its own child"
ok "the program's kill of a home PID reaches it at home, as the user; its own PIDs stay its own"

# Process groups: a home job's group is signalled at home; the deputy's own job group
# (a job-control shell made it the program's PID, which leads no group over there)
# reaches the program through its deputy; a group the program's child leads on node 2
# stays node 2's.
got=$(home 'set -m; sleep 60 & g=$!; ssi-run -n 2 kill -USR1 -- -$g; k=$?; wait $g; echo "$k $?"')
[ "$got" = "0 138" ] || fail "kill -USR1 of a home process group from node 2: expected '0 138', got '$got'"
got=$(home "set -m; ssi-run -n 2 sh -c 'trap \"echo got; exit 0\" USR1; /bin/kill -USR1 -- -\$\$; sleep 10 & wait' 2>/dev/null")
[ "$got" = got ] || fail "the program's signal to its own home job group did not reach it: '$got'"
got=$(home "ssi-run -n 2 python3 -c '
import os, signal, time
p = os.fork()
if p == 0:
    os.setpgid(0, 0); time.sleep(30); os._exit(0)
while os.getpgid(p) != p: time.sleep(0.01)
os.kill(-p, signal.SIGTERM)
print(os.waitpid(p, 0)[1])'")
[ "$got" = 15 ] || fail "the program's kill of its child's process group: expected 15, got '$got'"
[ "$(home 'ssi-run -n 2 kill -0 -- -2147483 2>/dev/null; echo $?')" = 1 ] || fail "kill of no process group did not fail"
ok "process groups: a home job's and the deputy's own are signalled at home, the program's child's stays node 2's"

# tgkill(2) and sigqueue(3) of a home PID go home too: the receiver sees the program's
# home PID (its deputy's) as the sender, and sigqueue's SI_QUEUE (-1).
home 'cat > waiter.py' <<'PY'
import signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
open(sys.argv[1], "w").write("ready")
i = signal.sigtimedwait({signal.SIGUSR1}, 20)  # a limit, so a lost signal fails the test
print(i.si_code, i.si_pid) if i else print("none none")
PY
signal_home() {  # signal_home SENDER: the sender run on node 2 against a waiting home PID $p
  home "rm -f ready; python3 waiter.py ready > waited & p=\$!
    for i in \$(seq 500); do [ -s ready ] && break; sleep 0.01; done
    ssi-run -n 2 $1 & d=\$!; wait \$d; k=\$?; wait \$p; echo \$k \$(cat waited) \$d"
}
read -r k code sender deputy <<<"$(signal_home '/bin/kill -q 7 -USR1 $p')"
[ "$k $code $sender" = "0 -1 $deputy" ] || fail "sigqueue of a home PID: got '$k $code $sender', deputy $deputy"
read -r k code sender deputy <<<"$(signal_home 'python3 -c "import ctypes; ctypes.CDLL(None).syscall(234, $p, $p, 10)"')"
[ "$k $sender" = "0 $deputy" ] || fail "tgkill of a home PID: got '$k $code $sender', deputy $deputy"
[ "$(home "ssi-run -n 2 python3 -c 'import ctypes, signal; signal.signal(10, lambda s, f: print(\"own\")); signal.raise_signal(10)'")" = own ] \
  || fail "raise() in a remote program"
ok "tgkill and sigqueue of a home PID reach it, sent by the program's home PID; raise() stays the program's"

# A pidfd of its parent (the only home process a remote program can open one of: the
# stub on node 2 wears the parent's PID) signals the parent at home.
got=$(home "sh -c 'trap \"echo got\" USR1; ssi-run -n 2 python3 -c \"import os, signal; signal.pidfd_send_signal(os.pidfd_open(os.getppid()), signal.SIGUSR1)\"; echo rc=\$?'")
[ "$got" = "got
rc=0" ] || fail "pidfd_send_signal to the home parent from node 2: expected 'got rc=0', got '$got'"
ok "pidfd_send_signal of the home parent's pidfd reaches it at home"

# One process table: the remote program is listed once, under its home gpid, running on
# node 2; its deputy and the supervisor's helpers are not listed. ssi-kill reaches it.
home 'ssi-run -n 2 sleep 4242 >/dev/null 2>&1 & echo $! > sleeper.pid' || fail "could not start the sleeper"
spid=$(home 'cat sleeper.pid'); g=$((10000000 + spid))
listed() { on_node "$1" ssi-ps -o gpid,node,home,pid,cmd --no-headers | grep -E "^ *$g +2 +1 +$spid +sleep 4242\$"; }
for viewer in 1 2 3; do wait_until 2 listed "$viewer" || fail "node $viewer does not list the remote sleep as $g on node 2"; done
[ "$(on_node 3 ssi-ps -o cmd --no-headers | grep -c '^sleep 4242$')" = 1 ] || fail "the remote sleep is listed more than once"
on_node 3 ssi-ps -o cmd --no-headers | grep -q ssi-remote && fail "the supervisor or its helpers are listed"
# Not even while a run starts: the reaper and stub are hidden as the supervisor's children.
starting() { home "ssi-run -n 2 sh -c 'ssi-ps -o cmd --no-headers'" | grep -c ssi-remote; }
[ "$(starting)" = 0 ] || fail "a run's helpers are listed while it starts"
ok "ssi-ps lists the remote program once, as $g on node 2"

# Job control: SIGTSTP stops it over there and its deputy here; SIGCONT resumes both.
state() { on_node 1 ssi-ps -o stat --no-headers -p "$g" | cut -c1; }
deputy_state() { on_node 1 ps -o stat= -p "$spid" | cut -c1; }
on_node 1 kill -TSTP "$spid"
wait_until 3 test_eq T state || fail "the remote program did not stop on SIGTSTP (state $(state))"
[ "$(deputy_state)" = T ] || fail "the deputy did not stop with its program"
on_node 1 kill -CONT "$spid"
wait_until 3 test_eq S state || fail "the remote program did not continue on SIGCONT"
# SIGSTOP and SIGKILL cannot be caught and forwarded by the deputy: the home agent gives
# them to the program on its node first, then to the deputy.
on_node 3 ssi-kill -STOP "$g" || fail "ssi-kill -STOP failed"
wait_until 3 test_eq T state || fail "the remote program did not stop on SIGSTOP"
[ "$(deputy_state)" = T ] || fail "the deputy did not stop with SIGSTOP"
on_node 3 ssi-kill -CONT "$g" || fail "ssi-kill -CONT failed"
wait_until 3 test_eq S state || fail "the remote program did not continue after SIGSTOP"
on_node 3 ssi-kill -KILL "$g" || fail "ssi-kill -KILL failed"
wait_until 2 not listed 3 || fail "the remote program outlived ssi-kill -KILL of its gpid"
ok "SIGTSTP, SIGSTOP, SIGCONT and SIGKILL reach the program wherever it runs"

# --auto picks a node and runs there.
home "ssi-run --auto sh -c 'grep -c . data.txt'" | grep -qx 50000 || fail "ssi-run --auto failed"
# A burst is spread: this machine's nodes share one load average, and reports come once
# a second, so only the programs the home has placed tell the peers apart.
home 'for i in 1 2 3 4; do ssi-run --auto sleep 4243 >/dev/null 2>&1 & done'
placed() { on_node 1 ssi-ps -o node,cmd --no-headers | grep -E ' sleep 4243$' | awk '{print $1}' | sort | uniq -c | tr -s ' ' | tr '\n' ';'; }
wait_until 10 test_eq " 2 2; 2 3;" placed || fail "4 runs at once with --auto: expected 2 on node 2 and 2 on node 3, got: $(placed)"
on_node 1 pkill -f 'ssi-run --auto sleep 4243'
wait_until 5 test_eq "" placed || fail "the --auto sleepers outlived their deputies"
ok "--auto, and a burst of 4 --auto runs spread over nodes 2 and 3"

# A listing of more names than the user's descriptor limit: the deputy holds one per name
# the target knows, so it takes its hard limit; the program keeps the limit it was given.
home "mkdir -p many && cd many && seq 1 1500 | xargs touch"
out=$(home "ulimit -Sn 256; ssi-run -n 2 sh -c 'ulimit -n; ls -l many | grep -c ^-; cat many/* | wc -c'" 2>&1) ||
  fail "a remote listing of 1500 names under ulimit -n 256 failed: $out"
[ "$out" = "256
1500
0" ] || fail "under ulimit -n 256: expected the program's limit 256 and 1500 files listed, got: $out"
ok "1500 names listed and opened remotely under ulimit -Sn 256; the program's limit stays 256"

# ssi-run from a remote program: its deputy is itself a program of node 2, whose ZeroMQ
# threads listen and accept at home (socket calls made off the main thread).
rc=0; out=$(home "ssi-run -n 2 ssi-run -n 3 sh -c 'cat words.txt | wc -l; exit 5'" 2>&1) || rc=$?
[ "$out" = "$(home 'wc -l < words.txt')" ] && [ $rc = 5 ] || fail "ssi-run -n 2 ssi-run -n 3: status $rc, output: $out"
ok "ssi-run inside a remote program: home files, output and status come through both"

# A supervisor ends with its run: none waits on home after the deputy has gone (those
# left are the two spares, waiting for the next runs with their reapers forked ahead,
# and no program's PIDs in /run/ssi/runs).
supervisors_ended() { on_node 2 sh -c '[ "$(pgrep -c -x ssi-remote)" -le 2 ] && [ "$(pgrep -c -x ssi-reaper)" -le 2 ] && [ -z "$(ls /run/ssi/runs)" ]'; }
deadline=$(($(date +%s) + 5))
until supervisors_ended; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "node 2 still has these supervisors 5 s after its runs ended:
$(on_node 2 ps -o pid,ppid,etimes,comm,args -C ssi-remote,ssi-reaper)"
  sleep 0.05
done
ok "supervisors end with their runs"

# Bad input: unknown node, no program.
expect_status 255 home "ssi-run -n 9 true"
expect_status 2 home "ssi-run -n 2"
# A cwd deleted at home has no name to resolve against: refused, not run in / instead.
expect_status 255 home "mkdir -p gone && cd gone && rmdir ../gone && ssi-run -n 2 touch made-here"
home '[ ! -e /made-here ]' || fail "a run from a deleted cwd made its file in /"
pass

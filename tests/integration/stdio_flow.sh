#!/usr/bin/env bash
# Stdio flow between a deputy and its program (docs/remote-exec.md, "Stdio"): input is
# read at most a window ahead of the program, output at most a window ahead of its reader
# at home. Input across moves (docs/migration.md, "stdin"). A program that reads its input slowly is moved away
# and back home mid-input: what the deputy had read but the program had not is put back
# (a file: the offset moved back; a pipe: a feeder process gives it first), so the
# program at home reads every byte exactly once. Also through ssi-run: a slow reader on
# node 2 leaves the rest of a large input in the home pipe, not in memory on node 2.
source "$(dirname "$0")/../support/cluster.sh"
cluster_up 3

slow='import sys, time
n = s = 0
for line in sys.stdin:
    n += 1; s += int(line)
    if n % 2000 == 0:
        print("at", n, flush=True); time.sleep(0.04)
print("end", n, s, flush=True)'
on_node 1 sh -c "cat > /tmp/slow.py" <<<"$slow"
on_node 1 sh -c 'seq 1 200000 > /tmp/nums'
want="end 200000 20000100000"
progress() { on_node 1 sh -c "grep -c '^at' $1 2>/dev/null || echo 0"; }
past() { [ "$(progress "$1")" -ge "$2" ]; }
migrate() {
  local out rc=0
  out=$(on_node 1 timeout 120 ssi-migrate "1:$1" "$2" 2>&1) || rc=$?
  [ "$rc" -eq 0 ] || fail "ssi-migrate 1:$1 $2 exited $rc: $out"
}

for input in pipe file; do
  if [ "$input" = pipe ]; then
    on_node 1 sh -c 'seq 1 200000 | python3 -u /tmp/slow.py > /tmp/p.out 2>&1 & echo $! > /tmp/p.pid; wait $!; echo $? > /tmp/p.rc' &
  else
    on_node 1 sh -c 'python3 -u /tmp/slow.py < /tmp/nums > /tmp/p.out 2>&1 & echo $! > /tmp/p.pid; wait $!; echo $? > /tmp/p.rc' &
  fi
  parent=$!
  wait_until 10 on_node 1 test -s /tmp/p.pid
  pid=$(on_node 1 cat /tmp/p.pid)
  wait_until 20 past /tmp/p.out 3 || fail "the slow reader ($input) did not start"
  migrate "$pid" 2
  at=$(progress /tmp/p.out)
  wait_until 20 past /tmp/p.out $((at + 3)) || fail "the slow reader ($input) stopped on node 2"
  migrate "$pid" home
  if [ "$input" = pipe ]; then  # the input read ahead is fed back first: a feeder is there
    on_node 1 pgrep -x ssi-stdin-feed > /dev/null || fail "no input feeder at home after the move (nothing was read ahead?)"
  fi
  wait "$parent"
  [ "$(on_node 1 cat /tmp/p.rc)" = 0 ] || fail "the slow reader ($input) exited $(on_node 1 cat /tmp/p.rc)"
  got=$(on_node 1 tail -n 1 /tmp/p.out)
  [ "$got" = "$want" ] || fail "stdin from a $input, 1 -> 2 -> home mid-input: the program read '$got', expected '$want'"
  on_node 1 rm -f /tmp/p.pid /tmp/p.out /tmp/p.rc
  ok "stdin from a $input, read slowly, 1 -> 2 -> home mid-input: every line read exactly once"
done

# A program that does not read its input leaves it to the next reader, when it is a
# file: the classic loop over a file of names runs once per line (ssh would eat it all).
out=$(on_node 1 bash -c 'seq 1 5 > /tmp/names; while read n; do echo "name $n"; ssi-run -n 2 true; done < /tmp/names')
[ "$out" = "$(seq 1 5 | sed 's/^/name /')" ] || fail "ssi-run in a while-read loop over a file ate the file: $out"
ok "while read n; do ssi-run -n 2 true; done < file: every line read by the loop"

# ssi-run with a slow reader: the input waits in the home pipe (the window), and the
# supervisor on node 2 holds no backlog of it.
on_node 1 sh -c 'head -c 200M /dev/zero | ssi-run -n 2 python3 -c "import sys, time; sys.stdin.buffer.read(1); time.sleep(600)" & echo $! > /tmp/r.pid; wait' &
runner=$!
wait_until 10 on_node 1 test -s /tmp/r.pid
writing_blocked() {  # writing_blocked NODE COMM: a thread of COMM there waits to write a full pipe
  on_node "$1" sh -c 'for t in /proc/$(pgrep -x '"$2"' | head -1)/task/*; do grep -q pipe_write $t/wchan && exit 0; done; exit 1'
}
supervisor_rss() {  # the largest RSS (KiB) of an ssi-remote on node 2
  on_node 2 sh -c 'for p in $(pgrep -x ssi-remote); do awk "/^VmRSS/ {print \$2}" /proc/$p/status; done | sort -n | tail -1'
}
# The window is full once the writer at home waits on its pipe (read without bound, head
# would have finished instead).
wait_until 20 writing_blocked 1 head || fail "head at home never waited: its input was read without bound"
rss=$(supervisor_rss)
[ -n "$rss" ] || fail "no supervisor on node 2"
[ "$rss" -lt 65536 ] || fail "the supervisor on node 2 holds $rss KiB: the input was read ahead without bound"
pid=$(on_node 1 cat /tmp/r.pid)
on_node 1 kill "$pid"
wait "$runner" || true
ok "a slow remote reader of 200 MiB of input: its supervisor holds $rss KiB, the rest waits at home"

# Output for a reader at home that does not read for 8 s (longer than the silence limit):
# the program waits, as on a full pipe; neither side piles it up; nothing is cut off.
on_node 1 sh -c 'ssi-run -n 2 head -c 300M /dev/zero | (sleep 8; wc -c) > /tmp/o.out' &
writer=$!
wait_until 20 writing_blocked 2 head || fail "head on node 2 never waited: its output was read without bound"
rss=$(supervisor_rss)
deputy=$(on_node 1 sh -c 'for p in $(pgrep -x ssi-run); do awk "/^VmRSS/ {print \$2}" /proc/$p/status; done | sort -n | tail -1')
[ -n "$rss" ] && [ -n "$deputy" ] || fail "no supervisor on node 2 or no deputy at home"
[ "$rss" -lt 65536 ] || fail "the supervisor holds $rss KiB of output its deputy could not write out"
[ "$deputy" -lt 65536 ] || fail "the deputy holds $deputy KiB of output its reader did not take"
wait "$writer"
[ "$(on_node 1 cat /tmp/o.out)" = 314572800 ] || fail "a slow reader at home got $(on_node 1 cat /tmp/o.out) bytes, expected 314572800"
ok "a reader at home idle for 8 s: supervisor $rss KiB, deputy $deputy KiB, then all 300 MiB"

# A signal to the deputy while its reader stalls reaches the program at once (the deputy
# writes output on a thread of its own); its status comes once the reader is done.
on_node 1 sh -c '(ssi-run -n 2 yes; echo "status $?" > /tmp/k.rc) | sleep 6' &
pipeline=$!
wait_until 10 on_node 2 pgrep -x yes > /dev/null || fail "yes did not start on node 2"
wait_until 20 writing_blocked 1 ssi-run || fail "the deputy's output thread never waited on its stalled reader"
on_node 1 pkill -x ssi-run
wait_until 3 not on_node 2 pgrep -x yes || fail "kill at home did not end yes on node 2 while its reader stalled"
wait "$pipeline"
[ "$(on_node 1 cat /tmp/k.rc)" = "status 143" ] || fail "expected status 143 (SIGTERM), got '$(on_node 1 cat /tmp/k.rc)'"
ok "kill at home reached yes on node 2 while its reader stalled (status 143)"

# The end's news comes behind a window of output the deputy is still taking: a supervisor
# that closed its link at once could lose it (a close with input unread resets the
# connection), and the deputy reported a lost node after 5 s in about one run of 12.
# Thirty runs catch that nine times out of ten.
statuses=$(on_node 1 bash -c 'for i in $(seq 30); do ssi-run -n 2 yes | head -c 5 > /dev/null; echo ${PIPESTATUS[0]}; done' 2>&1 | sort | uniq -c | tr -s ' ')
[ "$statuses" = " 30 141" ] || fail "ssi-run -n 2 yes | head, 30 times: expected 141 (SIGPIPE) each time, got:$statuses"
ok "yes | head: SIGPIPE, 30 times out of 30"

# Stdio closed at home: the program finds it empty (stdin) or discarding (stdout, stderr)
# rather than the deputy serving whichever of its own descriptors took the number.
got=$(on_node 1 bash -c 'timeout 20 ssi-run -n 2 sh -c "cat; echo cat \$?; echo to-closed-stdout >&2" <&- 2>&1; echo "status $?"')
[ "$got" = "cat 0
to-closed-stdout
status 0" ] || fail "closed stdin: expected an empty stdin over there, got: $got"
got=$(on_node 1 bash -c 'timeout 20 ssi-run -n 2 sh -c "echo lost; echo kept >&2" 2>&1 >&-; echo "status $?"')
[ "$got" = "kept
status 0" ] || fail "closed stdout: expected its output dropped and stderr kept, got: $got"
ok "stdin or stdout closed at home: empty or discarding over there, nothing hangs"

# Stdio on the null device at home is the null device over there, opened as the shell
# opened it (read-only, write-only): what the program writes to it is dropped where it
# runs instead of travelling home, and a read of it ends at once. Each run reports on the
# other descriptors through the one left a pipe.
report='import fcntl, os, stat, sys
out = sys.stderr if sys.argv[1] == "2" else sys.stdout
for fd in sys.argv[2:]:
    s = os.fstat(int(fd))
    kind = "null" if stat.S_ISCHR(s.st_mode) and s.st_rdev == os.makedev(1, 3) else "fifo" if stat.S_ISFIFO(s.st_mode) else "other"
    print(fd, kind, fcntl.fcntl(int(fd), fcntl.F_GETFL) & os.O_ACCMODE, file=out)
print("read", len(sys.stdin.read()), file=out)'
on_node 1 sh -c "cat > /tmp/report.py" <<<"$report"
got=$(on_node 1 bash -c 'ssi-run -n 2 python3 /tmp/report.py 2 0 1 2>&1 < /dev/null > /dev/null')
[ "$got" = "0 null 0
1 null 1
read 0" ] || fail "stdin and stdout on /dev/null at home: expected the null device over there, got: $got"
got=$(on_node 1 bash -c 'echo abc | ssi-run -n 2 python3 /tmp/report.py 1 0 2 2> /dev/null')
[ "$got" = "0 fifo 0
2 null 1
read 4" ] || fail "stderr on /dev/null at home, stdin a pipe: got: $got"
ok "stdio on /dev/null at home: the null device over there, read-only and write-only"

pass

#!/usr/bin/env bash
# A remote program's children (ssi-run -n 2 sh -c ...): each child runs on node 2 wearing
# a PID reserved at home by a stand-in, child of the deputy; ssi-ps lists it once under
# its home gpid on node 2; signals sent to it at home reach it; pipelines, `wait` and
# exit codes behave as in a local run; nothing is left at home afterwards.
source "$(dirname "$0")/../support/cluster.sh"
cluster_up 3
scripts=/var/tmp/ssi-children-$$  # /var/tmp is shared by the nodes; each /tmp is private
mkdir -p "$scripts"
trap 'rm -rf "$scripts"; cluster_down' EXIT

home() { on_node 1 bash -c "cd /tmp/w || exit 99; $1"; }
on_node 1 bash -c 'mkdir -p /tmp/w && cd /tmp/w && printf "apple\nbanana x\ncherry x\napple x\nbanana x\n" > words.txt'
on_node 2 test -e /tmp/w/words.txt && fail "node 2 can see node 1's /tmp: the test would prove nothing"

# ---- identity: two children, each on a PID that is a live stand-in at home -----------
# The children print their getpid ($$ of a new sh), trap USR1 into a file, and wait.
script='for i in 1 2; do sh -c "trap \"echo usr1 \$\$ > /tmp/w/got.\$\$\" USR1; echo child \$\$ \$PPID; while :; do sleep 0.1; done" & done; echo program $$; wait'
on_node 1 bash -c "cd /tmp/w && exec ssi-run -n 2 sh -c '$script' > run.out 2>&1" &
runner=$!
wait_until 10 home 'test $(grep -c ^child run.out) -eq 2'
program=$(home 'awk "/^program/ {print \$2}" run.out')
children=$(home 'awk "/^child/ {print \$2}" run.out' | xargs)
ok "program $program, children $children"
for c in $children; do
  [ "$c" != "$program" ] || fail "child wears the program's PID"
  ppid_remote=$(home "awk '/^child $c / {print \$3}' run.out")
  [ "$ppid_remote" = "$program" ] || fail "child $c sees parent $ppid_remote, not the program $program"
  # At home, the child's PID is a live process whose parent is the program's PID (the deputy).
  ppid_home=$(on_node 1 ps -o ppid= -p "$c" | tr -d ' ') || fail "child $c has no process at home"
  [ "$ppid_home" = "$program" ] || fail "home process $c has parent $ppid_home, not the deputy $program"
done
ok "each child's PID is reserved at home by a child of the deputy"

rows() { on_node "$1" ssi-ps -o gpid,node,ppid,comm --no-headers; }
not_listed() { ! rows 1 | grep -qE "^ *$1 "; }
for c in $children; do
  gpid=$((10000000 + c))
  for viewer in 1 3; do
    deadline=$(($(date +%s) + 3))
    until [ "$(rows $viewer | grep -cE "^ *$gpid +2 +$program +sh\$")" = 1 ]; do
      [ "$(date +%s)" -lt "$deadline" ] || { rows $viewer >&2; fail "node $viewer does not list child $gpid once on node 2 under parent $program"; }
      sleep 0.1
    done
  done
  # ... and not under any other gpid (its namespace PID, or its stand-in at home).
  n=$(rows 1 | awk -v p="$program" '$3 == p && $4 == "sh"' | wc -l)
  [ "$n" = 2 ] || { rows 1 >&2; fail "expected exactly 2 children of $program in ssi-ps, got $n"; }
done
ok "ssi-ps lists each child once, on node 2, under the program"

# ---- signals: kill at home reaches the child on node 2 and runs its trap -----------------
first=${children%% *}
on_node 1 kill -USR1 "$first"
wait_until 3 home "grep -qx 'usr1 $first' got.$first"
ok "kill -USR1 at home ran the child's trap on node 2"

# ssi-kill -STOP/-CONT of a child's gpid: stopped on node 2 (and its stand-in at home), continued.
state_is() { [ "$(on_node 1 ssi-ps --fresh -p "$((10000000 + first))" -o state --no-headers | tr -d ' ')" = "$1" ]; }
on_node 3 ssi-kill -STOP "1:$first" || fail "ssi-kill -STOP 1:$first failed"
wait_until 3 state_is T
on_node 3 ssi-kill -CONT "1:$first" || fail "ssi-kill -CONT 1:$first failed"
wait_until 3 not state_is T
ok "ssi-kill -STOP/-CONT of a child's gpid stopped and continued it on node 2"

# ssi-kill -KILL of the child's gpid from another node kills it there (a stand-in cannot catch it).
second=${children##* }
[ "$second" != "$first" ] || fail "two children expected: $children"
on_node 3 ssi-kill -KILL "1:$second" || fail "ssi-kill -KILL 1:$second failed"
wait_until 3 not_listed "$((10000000 + second))"
wait_until 3 sh -c "! $SSI_CLUSTER_BIN exec 1 --name $SSI_CLUSTER -- kill -0 $second"
ok "ssi-kill -KILL of a child's gpid ended it on node 2 and at home"

# Ending the program ends the other child and every stand-in.
if ! on_node 1 kill -TERM "$program"; then
  st=0; wait "$runner" || st=$?
  home 'cat run.out' >&2; tail -n 30 /run/ssi-cluster/$SSI_CLUSTER/*.log >&2 || true
  fail "the program $program ended early (status $st)"
fi
wait "$runner" || true
for c in $children; do
  wait_until 3 sh -c "! $SSI_CLUSTER_BIN exec 1 --name $SSI_CLUSTER -- kill -0 $c"
done
[ -z "$(on_node 1 ps -o pid= -C ssi-stand-in)" ] || fail "stand-ins left at home after the run"
ok "no stand-in left at home"

# ---- a child that ends on its own ends its stand-in, with its status, while the program runs on
cat > "$scripts/child_exit.sh" <<'SH'
sh -c 'echo child $$; sleep 0.5; exit 4' &
wait $!
echo status $?
sleep 2
echo done
SH
on_node 1 bash -c "cd /tmp/w && exec ssi-run -n 2 sh $scripts/child_exit.sh > exit.out 2>&1" &
runner2=$!
wait_until 5 home 'grep -q ^child exit.out'
c=$(home 'awk "/^child/ {print \$2}" exit.out')
[ "$(on_node 1 ps -o comm= -p "$c")" = ssi-stand-in ] || fail "no stand-in at home for child $c while it runs"
wait_until 5 home 'grep -q ^status exit.out'
[ "$(home 'awk "/^status/ {print \$2}" exit.out')" = 4 ] || fail "wait for the child did not give its exit code 4"
wait_until 2 not on_node 1 kill -0 "$c"
home 'grep -q ^done exit.out' && fail "the program ended before the stand-in check: the check proved nothing"
wait "$runner2" || fail "the program failed"
ok "a child's end ends its stand-in at home while the program runs on"

# ---- home unreachable (its deputy stopped): a fork goes on with a namespace PID
cat > "$scripts/unreachable.sh" <<'SH'
echo ready $$
sleep 1
sh -c 'echo child $$'
echo status $?
SH
on_node 1 bash -c "cd /tmp/w && exec ssi-run -n 2 sh $scripts/unreachable.sh > unreachable.out 2>&1" &
runner3=$!
wait_until 5 home 'grep -q ^ready unreachable.out'
deputy=$(home 'awk "/^ready/ {print \$2}" unreachable.out')  # the program's PID is its deputy's
on_node 1 kill -STOP "$deputy"
sleep 3.5  # the fork comes at 1 s and gives up on its home PID at 3 s; silence ends a run at 5 s
on_node 1 kill -CONT "$deputy"
st=0
wait "$runner3" || st=$?
[ "$st" = 0 ] || { home 'cat unreachable.out' >&2; fail "the program failed ($st) while its home was unreachable"; }
home 'grep -q "^child [0-9]" unreachable.out && grep -qx "status 0" unreachable.out' \
  || { home 'cat unreachable.out' >&2; fail "the fork failed while home was unreachable"; }
ok "with home unreachable, a fork goes on with a namespace PID"

# ---- a pipeline over a home-only file: byte for byte what a local run gives --------------
local_out=$(home "sh -c 'grep x words.txt | sort | uniq -c'") || fail "local pipeline failed"
remote_out=$(home "ssi-run -n 2 sh -c 'grep x words.txt | sort | uniq -c'") || fail "remote pipeline failed"
[ -n "$local_out" ] && [ "$local_out" = "$remote_out" ] || fail "pipeline output differs: '$remote_out' vs '$local_out'"
ok "sh -c 'grep x f | sort | uniq -c' gives the local output"

# ---- wait() with exit codes, and threads and posix_spawn still work ----------------------
out=$(home "ssi-run -n 2 sh -c '(sleep 0.2; exit 3) & a=\$!; (sleep 0.1; exit 5) & b=\$!; wait \$a; x=\$?; wait \$b; y=\$?; sh -c \"kill -TERM \\\$\\\$\"; z=\$?; echo \$x \$y \$z'")
[ "$out" = "3 5 143" ] || fail "wait in the program gave '$out', not '3 5 143'"
ok "wait() in the program returns its children's exit codes and signals"
out=$(home "ssi-run -n 2 python3 -c 'import threading, subprocess, os
t = threading.Thread(target=lambda: None); t.start(); t.join()
p = subprocess.run([\"sh\", \"-c\", \"echo \$\$\"], capture_output=True, text=True)
print(\"ok\", int(p.stdout) != os.getpid())'")
[ "$out" = "ok True" ] || fail "threads/posix_spawn in a remote python3 gave '$out'"
ok "threads and posix_spawn (subprocess) work under the filter"

[ -z "$(on_node 1 ps -o pid= -C ssi-stand-in)" ] || fail "stand-ins left at home after the runs"
pass

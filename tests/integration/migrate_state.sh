#!/usr/bin/env bash
# Every kind of state a migration must keep, one test program each
# (tests/kern-ext/checkpoint_programs/state/: memory, registers/AVX, TLS, signals, timers,
# alarm, rseq, vdso, brk, personality, rlimits, umask, name, cwd, credentials, identity,
# a sleep in progress, pause). Each is started on node 1 by a plain shell, sets up its
# state, says "ready" and blocks reading stdin; it is migrated 1 -> 2 -> 3 -> home; then
# a line on its stdin makes it check its state and say "ok ITEM". The programs' own unit
# test does the same across a checkpoint and restore (checkpoint_state.test.cpp).
source "$(dirname "$0")/../support/cluster.sh"
PROGRAMS="$(cd "$SSI_BIN/../test-programs" && pwd)" || fail "no test programs beside $SSI_BIN"
cluster_up 3

node_of() { on_node 1 ssi-ps -p "1:$1" -o node --no-headers 2>/dev/null | tr -d ' '; }
runs_on() { [ "$(node_of "$1")" = "$2" ]; }
said() { on_node 1 grep -q "$2" "/tmp/state.$1.out"; }
migrate() {
  local out rc=0
  out=$(on_node 1 timeout 60 ssi-migrate -q "1:$2" "$3" 2>&1) || rc=$?
  [ "$rc" -eq 0 ] || fail "$1: ssi-migrate to $3 exited $rc: $out"
  wait_until 5 runs_on "$2" "${3/home/1}"
}

# start NAME [ARGS...]: the program on node 1, its stdin fed from /tmp/state.NAME.in
# (tail -f, so it stays open), as nobody for the credentials check.
start() {
  local name=$1 prefix=""
  shift
  [ "$name" = credentials ] && prefix="su nobody -s /bin/sh -c"
  on_node 1 sh -c ": > /tmp/state.$name.in; chmod 666 /tmp/state.$name.in"
  # The shell stays, waiting: the program's parent at home for the whole run.
  local cmd="cd /tmp; tail -f /tmp/state.$name.in | $PROGRAMS/ckpt_state_$name $* > /tmp/state.$name.out 2>&1 & echo \$! > /tmp/state.$name.pid; wait"
  if [ -n "$prefix" ]; then on_node 1 $prefix "$cmd" >/dev/null 2>&1 & else on_node 1 sh -c "$cmd" >/dev/null 2>&1 & fi
  wait_until 10 said "$name" ready
  wait_until 10 on_node 1 test -s "/tmp/state.$name.pid"
  on_node 1 cat "/tmp/state.$name.pid"
}

for path in "$PROGRAMS"/ckpt_state_*; do
  name=${path##*ckpt_state_}
  args=()
  case "$name" in
    sleep) args=(3000) ;;
    memory) on_node 1 sh -c 'head -c 12288 /dev/urandom > /tmp/mem.file'; args=(/tmp/mem.file) ;;
    cwd) on_node 1 sh -c 'mkdir -p /tmp/cwd.here && touch /tmp/cwd.here/marker'; args=(/tmp/cwd.here) ;;  # only at home
  esac
  pid=$(start "$name" "${args[@]}")
  migrate "$name" "$pid" 2
  # pause: woken on node 2 by a plain kill at home, through its deputy.
  if [ "$name" = pause ]; then
    on_node 1 kill -USR1 "$pid"
    wait_until 10 said pause "info woken" || fail "pause: kill -USR1 at home did not wake it on node 2"
  fi
  migrate "$name" "$pid" 3
  migrate "$name" "$pid" home
  on_node 1 sh -c "echo go >> /tmp/state.$name.in"
  wait_until 10 said "$name" "^ok\|^FAIL" || fail "$name: no verdict ($(on_node 1 cat /tmp/state.$name.out | tr '\n' ' '))"
  said "$name" "^ok $name" || fail "$name: $(on_node 1 grep FAIL /tmp/state.$name.out)"
  on_node 1 pkill -f "tail -f /tmp/state.$name.in" || true
  ok "$name: intact after 1 -> 2 -> 3 -> home"
done

pass

# Helpers for integration tests: start a real cluster with ssi-cluster, as users do, and
# always take it down again. Source it from a test script:
#
#   source "$(dirname "$0")/../support/cluster.sh"
#   cluster_up 3
#   on_node 1 hostname
#   wait_until 5 on_node 2 test -e /tmp/ready
#
# Binaries come from $SSI_BIN (ctest sets it to the build's bin/). Needs root.

set -euo pipefail

SSI_BIN="${SSI_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build/bin" 2>/dev/null && pwd)}"
export SSI_BIN
SSI_CLUSTER_BIN="$SSI_BIN/ssi-cluster"
# Debian's programs first, as on a fresh machine: a wrapper earlier in PATH (a pyenv shim
# for python3) runs the real program as its child, and the tests act on $!.
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
# One name per test run, so tests never meet each other's clusters.
export SSI_CLUSTER="test-$(basename "${0%.sh}")-$$"

# fail MSG: ends the test with a message (the EXIT trap still takes the cluster down).
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# ok MSG: a step that passed, for a readable log.
ok() {
  echo "ok: $*"
}

cluster_down() {
  local status=$?
  # A failed test shows what the agents said: CI keeps no cluster to look at afterwards.
  if [ "$status" -ne 0 ]; then
    local log
    for log in /run/ssi-cluster/"$SSI_CLUSTER"/node*/agent.log; do
      [ -f "$log" ] || continue
      echo "--- last lines of $log" >&2
      tail -n 40 "$log" >&2
    done
  fi
  "$SSI_CLUSTER_BIN" down --name "$SSI_CLUSTER" >/dev/null 2>&1 || true
}

# cluster_up N [ssi-cluster up options...]: N nodes named $SSI_CLUSTER, down on exit.
cluster_up() {
  local n="$1"
  shift
  [ "$(id -u)" -eq 0 ] || fail "integration tests need root (namespaces)"
  [ -x "$SSI_CLUSTER_BIN" ] || fail "no ssi-cluster at $SSI_CLUSTER_BIN (set SSI_BIN)"
  trap cluster_down EXIT
  "$SSI_CLUSTER_BIN" up -n "$n" --name "$SSI_CLUSTER" "$@" || fail "ssi-cluster up -n $n failed"
}

# on_node K CMD...: runs CMD logged into node K; returns CMD's exit status.
on_node() {
  local k="$1"
  shift
  "$SSI_CLUSTER_BIN" exec "$k" --name "$SSI_CLUSTER" -- "$@"
}

# cluster CMD...: any other ssi-cluster subcommand on this test's cluster.
cluster() {
  local sub="$1"
  shift
  "$SSI_CLUSTER_BIN" "$sub" --name "$SSI_CLUSTER" "$@"
}

# wait_until TIMEOUT_S CMD...: polls CMD every 50 ms until it succeeds; fails the test
# when TIMEOUT_S seconds pass first.
wait_until() {
  local timeout="$1"
  shift
  local deadline=$(($(date +%s%N) + timeout * 1000000000))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s%N)" -ge "$deadline" ]; then
      fail "timed out after ${timeout}s waiting for: $*"
    fi
    sleep 0.05
  done
}

# expect_status WANT CMD...: runs CMD and fails the test unless it exits with WANT.
expect_status() {
  local want="$1"
  shift
  local got=0
  "$@" || got=$?
  [ "$got" -eq "$want" ] || fail "expected exit status $want, got $got from: $*"
}

# not CMD...: succeeds when CMD fails (for wait_until).
not() {
  ! "$@"
}

# pass: the test's last line.
pass() {
  echo "PASS: $(basename "$0")"
  exit 0
}

# status_of CMD...: prints CMD's exit status without tripping set -e.
status_of() {
  local rc=0
  "$@" >/dev/null 2>&1 || rc=$?
  echo "$rc"
}

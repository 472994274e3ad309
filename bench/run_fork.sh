#!/usr/bin/env bash
# What a fork costs a remote program: fork + exit + waitpid by a program on node 2 run with
# `ssi-run -n 2` (each fork intercepted, a home PID reserved by a stand-in at home, the
# namespace primed), against the same loop run plainly on node 2. Rounds alternate.
#   SSI_BIN=build/bin bench/run_fork.sh [FORKS_PER_ROUND] [ROUNDS]    (root; built binaries)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SSI_BIN:-$PWD/build/bin}
probe=$bin/../bench/fork_probe
[ -x "$probe" ] || { echo "no $probe: cmake --build <build> --target fork_probe" >&2; exit 2; }
forks=${1:-500}
rounds=${2:-3}
export PATH=$bin:$PATH SSI_CLUSTER=ssi-bench-fork-$$
work=/var/tmp/ssi-bench-fork-$$
mkdir -p "$work"
cp "$probe" "$work/"
trap 'ssi-cluster down >/dev/null 2>&1; rm -rf "$work"' EXIT
ssi-cluster up -n 2 >/dev/null
for r in $(seq "$rounds"); do
  echo "remote $(ssi-cluster exec 1 -- ssi-run -n 2 "$work/fork_probe" "$forks")"
  echo "local $(ssi-cluster exec 2 -- "$work/fork_probe" "$forks")"
done

#!/usr/bin/env bash
# A/B of the start: `ssi-run -n 2 CMD` with two builds, each on a cluster of its own,
# runs interleaved in blocks so that the machine's drift (a third, over an hour, here)
# weighs on both alike. Prints the median and mean of all runs per build and in how many
# blocks B's median was the lower.
#   bench/ab_start.sh BIN_A BIN_B [BLOCKS [RUNS_PER_BLOCK]]     (root; both built)
#   GAP=0.03 bench/ab_start.sh ...    # runs 30 ms apart instead of back to back
#   CMD='python3 -c pass' bench/ab_start.sh ...
# BIN_x: a build's bin directory (e.g. a worktree of the commit before: its build/bin).
set -euo pipefail
bin_a=$(realpath "$1") bin_b=$(realpath "$2")
blocks=${3:-20} runs=${4:-5}
cmd=${CMD:-true}
cluster=$bin_b/ssi-cluster
names=(ssi-ab-a-$$ ssi-ab-b-$$)
work=$(mktemp -d /var/tmp/ssi-ab.XXXXXX)  # each node's /tmp is private
cleanup() {
  for n in "${names[@]}"; do "$cluster" down --name "$n" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
SSI_BIN=$bin_a "$cluster" up -n 2 --name "${names[0]}" >/dev/null
SSI_BIN=$bin_b "$cluster" up -n 2 --name "${names[1]}" >/dev/null
prepare=()
[[ -n ${GAP:-} ]] && prepare=(--prepare "sleep $GAP")
for ((i = 0; i < blocks; i++)); do
  for side in 0 1; do
    bin=$([[ $side == 0 ]] && echo "$bin_a" || echo "$bin_b")
    "$cluster" exec 1 --name "${names[$side]}" -- hyperfine -N -w 1 -r "$runs" "${prepare[@]}" \
      --export-json "$work/block.json" "$bin/ssi-run -n 2 $cmd" >/dev/null 2>&1
    python3 -c "import json,sys; print(' '.join('%.3f' % (t * 1e3) for t in json.load(open(sys.argv[1]))['results'][0]['times']))" \
      "$work/block.json" >> "$work/$side.txt"
  done
done
python3 - "$work/0.txt" "$work/1.txt" <<'PY'
import statistics as st, sys
a = [list(map(float, l.split())) for l in open(sys.argv[1])]
b = [list(map(float, l.split())) for l in open(sys.argv[2])]
fa, fb = sum(a, []), sum(b, [])
lower = sum(1 for x, y in zip(a, b) if st.median(y) < st.median(x))
print(f"A: median {st.median(fa):.2f} ms, mean {st.mean(fa):.2f} ({len(fa)} runs)")
print(f"B: median {st.median(fb):.2f} ms, mean {st.mean(fb):.2f} ({len(fb)} runs)")
print(f"B lower in {lower} of {len(a)} blocks")
PY

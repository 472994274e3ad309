#!/usr/bin/env bash
# Migration and checkpoint/restart (issue 4), side by side with bare ZeroMQ bulk
# throughput between the same two nodes in the same run. For each size, a python3
# process on node 1 holding SIZE MiB of dirtied memory is
#   - migrated to node 2 and back home (`ssi-migrate`: its own "stopped" and "in all"
#     figures, and the tool's wall time),
#   - checkpointed to a file on tmpfs (node 1's /dev/shm) with --kill, and restarted from
#     it (`ssi-restart --detach`: until it runs again).
# Throughput = image bytes / total time, against bare ZeroMQ CURVE 1 MiB messages
# (remote_probe zmq-pull, one in flight and four in flight).
#   bench/migrate_bench.sh [RUNS] [SIZES_MIB...]   (root; builds first; default 3 runs of 16 256 1024)
#   BUILD_DIR=build-x bench/migrate_bench.sh ...     (another build: bench/run_common.sh)
source "$(dirname "$0")/run_common.sh"
runs=${1:-3}
shift || true
if [ $# -gt 0 ]; then sizes=("$@"); else sizes=(16 256 1024); fi
bench_setup migrate
cmake --build "$build_dir" --target ssi-migrate ssi-checkpoint ssi-restart >/dev/null
res=$work/results
ms_now() { echo $(($(date +%s%N) / 1000000)); }

ssi-cluster exec 1 -- "$probe" zmq-serve 127.0.1.1 "$work/zmq.info" &
server=$!
at_exit "kill $server"
at_exit "ssi-cluster exec 2 -- '$probe' zmq-quit '$work/zmq.info' 127.0.1.2"
for _ in $(seq 100); do [ -s "$work/zmq.info" ] && break; sleep 0.05; done

# A process with SIZE MiB written (bytes * n fills every page), ticking every 10 ms. It
# says when its memory is written (1 GiB takes seconds to fault in here): a move before
# that would time the filling too, and a pre-copy would send the pages it fills again.
start_holder() {
  on1 rm -f /tmp/holder.ready
  on1 sh -c "python3 -c 'import time
b = bytearray(b\"x\") * ($1 << 20)
open(\"/tmp/holder.ready\", \"w\").close()
while True: time.sleep(0.01)' >/dev/null 2>&1 & echo \$!"
}
wait_listed() { for _ in $(seq 100); do [ "$(on1 ssi-ps -p "1:$1" -o node --no-headers 2>/dev/null | tr -d ' ')" = "$2" ] && return; sleep 0.05; done; }

for size in "${sizes[@]}"; do
  for run in $(seq "$runs"); do
    pid=$(start_holder "$size")
    for _ in $(seq 600); do on1 test -e /tmp/holder.ready && break; sleep 0.05; done
    sleep 0.5
    for where in 2 home; do
      t0=$(ms_now)
      out=$(on1 ssi-migrate "1:$pid" "$where" 2>&1)
      wall=$(($(ms_now) - t0))
      # "... (N MiB moved, stopped F ms, T ms in all[; P MiB of it while it ran])"
      read -r mib frozen total < <(sed -E 's/.*\(([0-9.]+) MiB moved, stopped ([0-9]+) ms, ([0-9]+) ms in all[;)].*/\1 \2 \3/' <<<"$out")
      echo "migrate-$where $size $mib $frozen $total $wall" >>"$res"
      wait_listed "$pid" "${where/home/1}"
    done
    t0=$(ms_now)
    on1 ssi-checkpoint "1:$pid" -o /dev/shm/bench.img --kill 2>/dev/null
    ckpt=$(($(ms_now) - t0))
    bytes=$(on1 stat -c %s /dev/shm/bench.img)
    t0=$(ms_now)
    # Its stdout is where the restarted process writes: not our pipe, or we would wait for it.
    on1 ssi-restart /dev/shm/bench.img --detach >/dev/null 2>&1
    restart=$(($(ms_now) - t0))
    echo "checkpoint $size $((bytes / 1048576)) $ckpt $restart" >>"$res"
    on1 kill "$pid" 2>/dev/null || true
    on1 rm -f /dev/shm/bench.img
    echo "  $size MiB run $run done" >&2
  done
done
for depth in 1 4; do
  for run in $(seq "$runs"); do
    rate=$(ssi-cluster exec 2 -- "$probe" zmq-pull "$work/zmq.info" 127.0.1.2 1024 1024 "$depth" | sed 's/.*, \([0-9]*\) MiB.s/\1/')
    echo "zmq $depth $rate" >>"$res"
  done
done

python3 - "$res" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = statistics.median
zmq = {d: med(float(r[2]) for r in rows if r[0] == "zmq" and r[1] == d) for d in ("1", "4")}
print(f"bare ZeroMQ CURVE, 1 MiB messages node 1 -> node 2: {zmq['1']:.0f} MiB/s (1 in flight), {zmq['4']:.0f} MiB/s (4 in flight)")
print(f"{'size':>6} {'move':>12} {'image MiB':>9} {'stopped ms':>10} {'total ms':>9} {'MiB/s':>7} {'x ZeroMQ':>8}")
sizes = sorted({int(r[1]) for r in rows if r[0].startswith("migrate")})
for s in sizes:
    for kind in ("migrate-2", "migrate-home"):
        sel = [r for r in rows if r[0] == kind and int(r[1]) == s]
        mib, frozen, total = med(float(r[2]) for r in sel), med(float(r[3]) for r in sel), med(float(r[4]) for r in sel)
        rate = mib / (total / 1000) if total else 0
        print(f"{s:>6} {kind:>12} {mib:>9.0f} {frozen:>10.0f} {total:>9.0f} {rate:>7.0f} {rate / zmq['1']:>8.2f}")
print(f"{'size':>6} {'image MiB':>9} {'checkpoint ms':>13} {'restart ms':>10}   (to node 1's /dev/shm, tmpfs)")
for s in sizes:
    sel = [r for r in rows if r[0] == "checkpoint" and int(r[1]) == s]
    print(f"{s:>6} {med(float(r[2]) for r in sel):>9.0f} {med(float(r[3]) for r in sel):>13.0f} {med(float(r[4]) for r in sel):>10.0f}")
EOF

#!/usr/bin/env bash
# One forwarded file-system round trip against a bare ZeroMQ round trip between the same
# two node addresses. A program run by `ssi-run -n 2` calls access(2) on a home file in
# a loop: the kernel sends each to the filesystem (one FUSE ACCESS, decided at home by the
# deputy, after it checked the cached names), i.e. exactly one round trip
# node 2 -> deputy on node 1 -> node 2. The bare figure is remote_probe's DEALER on
# 127.0.1.2 -> ROUTER on 127.0.1.1, CURVE, with an ACCESS's request and reply sizes.
# Rounds alternate between the two so machine noise hits both alike.
#   bench/run_syscall.sh [CALLS_PER_ROUND] [ROUNDS]      (root; builds first)
source "$(dirname "$0")/run_common.sh"
calls=${1:-20000}
rounds=${2:-3}
bench_setup syscall
mkdir -p "$work/fs"
echo data >"$work/fs/f"

ssi-cluster exec 1 -- "$probe" zmq-serve 127.0.1.1 "$work/zmq.info" &
server=$!
at_exit "kill $server"
at_exit "ssi-cluster exec 2 -- '$probe' zmq-quit '$work/zmq.info' 127.0.1.2"
for _ in $(seq 100); do [ -s "$work/zmq.info" ] && break; sleep 0.05; done

: >"$work/results"
for r in $(seq "$rounds"); do
  echo "ssi $(on1 sh -c "cd '$work/fs' && ssi-run -n 2 '$probe' access-loop f $calls")" >>"$work/results"
  echo "zmq $(ssi-cluster exec 2 -- "$probe" zmq-ping "$work/zmq.info" 127.0.1.2 "$calls")" >>"$work/results"
done
# For scale: the same call at home, and by an absolute path (names cached: still one
# round trip).
echo "local $(on1 sh -c "cd '$work/fs' && '$probe' access-loop f $calls")" >>"$work/results"
depth=$(echo "$work/fs/f" | tr -cd / | wc -c)
echo "abs $(on1 ssi-run -n 2 "$probe" access-loop "$work/fs/f" $((calls / 4)))" >>"$work/results"

python3 - "$work/results" "$depth" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    kind = line.split()[0]
    kv = dict(re.findall(r"(\w+)=([\d.]+)", line))
    rows.setdefault(kind, []).append({k: float(v) for k, v in kv.items()})
def agg(kind, key):
    return statistics.median(r[key] for r in rows[kind])
names = {"ssi": "access(\"f\") via ssi-run -n 2 (1 ACCESS)",
         "zmq": "bare ZeroMQ CURVE req/rep",
         "local": "access(\"f\") at home (no FUSE)",
         "abs": f"access(absolute path) via ssi-run ({sys.argv[2]} names)"}
print(f"{'per call':44} {'median':>9} {'p90':>9} {'p99':>9}   (µs; median over rounds)")
for k in ["ssi", "zmq", "local", "abs"]:
    print(f"{names[k]:44} {agg(k,'median_us'):9.1f} {agg(k,'p90_us'):9.1f} {agg(k,'p99_us'):9.1f}")
for k in ["ssi", "zmq"]:
    print(f"  {k} rounds' medians: " + ", ".join(f"{r['median_us']:.1f}" for r in rows[k]))
print()
print(f"forwarded round trip / bare ZeroMQ: median {agg('ssi','median_us')/agg('zmq','median_us'):.2f}x (target <= 1.3), "
      f"p99 {agg('ssi','p99_us')/agg('zmq','p99_us'):.2f}x")
PY

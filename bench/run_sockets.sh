#!/usr/bin/env bash
# Sockets are home's: what the relay costs. A program's TCP through the home relay
# (`ssi-run -n 2 PROG`: its socket is the deputy's at home, its bytes cross the session
# link) against the same program run at home, side by side in one run:
#  1. download throughput: curl of a SIZE MiB file from python3 -m http.server at home
#  2. upload throughput: tests/support/tcp_tool.py upload of SIZE MiB to a sink at home
#     (timed inside the program, from connect to the sink's answer)
#  3. connect latency: connect, one byte there and back, close (median of COUNT, measured
#     inside the program, so its start-up is not counted)
#   bench/run_sockets.sh [SIZE_MIB] [RUNS] [COUNT]   (root; builds first; default 256 MiB, 3 runs, 300)
source "$(dirname "$0")/run_common.sh"
size=${1:-256}
runs=${2:-3}
count=${3:-300}
bench_setup sockets
tool=$root/tests/support/tcp_tool.py
host=127.0.1.1
mkdir -p "$work/site"
head -c "$((size * 1048576))" /dev/urandom >"$work/site/big"

serve() {  # serve NAME CMD...: runs CMD on node 1 in the background, its output in $work/NAME.out
  local name=$1
  shift
  on1 sh -c "cd '$work' && exec $* > '$work/$name.out' 2>&1" &
  at_exit "kill $!"
}
port_of() {  # port_of NAME: the port the server NAME printed
  for _ in $(seq 200); do grep -qE 'port [0-9]+' "$work/$1.out" 2>/dev/null && break; sleep 0.05; done
  grep -oE 'port [0-9]+' "$work/$1.out" | head -1 | cut -d' ' -f2
}
serve web python3 -u -m http.server 0 --bind $host --directory site
serve sink python3 -u "$tool" sink $host
serve echo python3 -u "$tool" echo $host
web=$(port_of web)
sink=$(port_of sink)
echo=$(port_of echo)
res=$work/results
: >"$res"
for r in $(seq "$runs"); do
  for how in local ssi; do
    pre=""; [ $how = ssi ] && pre="ssi-run -n 2"
    rate=$(on1 $pre curl -s -o /dev/null -w '%{speed_download}' "http://$host:$web/big")
    echo "down $how $(awk -v b="$rate" 'BEGIN {printf "%.0f", b / 1048576}')" >>"$res"
    echo "up $how $(on1 $pre python3 "$tool" upload $host "$sink" "$size")" >>"$res"
    echo "rtt $how $(on1 $pre python3 "$tool" rtt $host "$echo" "$count")" >>"$res"
  done
done
python3 - "$res" "$size" "$count" <<'PY'
import statistics, sys
res, size, count = sys.argv[1], sys.argv[2], sys.argv[3]
vals = {}
for line in open(res):
    sec, how, v = line.split()
    vals.setdefault((sec, how), []).append(float(v))
med = lambda s, h: statistics.median(vals[(s, h)])
runs = lambda s, h: ", ".join(f"{v:.0f}" for v in vals[(s, h)])
for sec, title, unit in [("down", f"download, curl of {size} MiB from http.server at home", "MiB/s"),
                         ("up", f"upload, {size} MiB to a sink at home (python3)", "MiB/s"),
                         ("rtt", f"connect + 1-byte round trip + close, median of {count}", "µs")]:
    print(f"{title} ({unit}, median of runs; runs listed)")
    for how, name in [("local", "at home"), ("ssi", "ssi-run -n 2 (relayed through the deputy)")]:
        print(f"   {name:44} {med(sec, how):8.0f}   [{runs(sec, how)}]")
    print(f"   relayed / local {med(sec, 'ssi') / med(sec, 'local'):.2f}x")
PY

#!/usr/bin/env bash
# Remote execution's bulk paths, side by side in the same run:
#  1. sequential read of a large home-only file by a program on node 2
#     (`ssi-run -n 2 dd if=FILE of=/dev/null bs=1M`; /dev/null is node 2's) against dd at
#     home, dd through sshfs over loopback (to a throwaway sshd on 127.0.1.2) and bare
#     ZeroMQ CURVE transfers between 127.0.1.2 and 127.0.1.1 (remote_probe, which keeps freed
#     heap memory as the deputy and the supervisor do: not page-fault-bound).
#  2. 1000 home files of 4 KiB opened, read and closed by one `cat` on node 2 against the
#     same at home and through sshfs (hyperfine; the same `sh -c cat` of no file is timed
#     through `ssi-run -n 2` too, so starting sh and cat there is taken out of the per-file
#     figure — at home and through sshfs that start costs ~1 ms and is left in).
#  3. stdout: `ssi-run -n 2 head -c SIZE /dev/zero > file-at-home` against the same at
#     home, through ssh (ControlMaster) and bare ZeroMQ streaming 256 KiB messages.
#  4. stdin: `head -c SIZE /dev/zero | ssi-run -n 2 wc -c` against the same at home and
#     through ssh (ControlMaster).
# The big file is read from the home page cache (warm) in every case; the page cache on the
# reading side is cold (ssi-run mounts afresh per run; sshfs's is dropped before each run).
#   bench/run_throughput.sh [SIZE_MIB] [RUNS]      (root; builds first; default 1024 MiB, 3 runs)
source "$(dirname "$0")/run_common.sh"
size=${1:-1024}
runs=${2:-3}
bench_setup throughput
sshd_start
ssh_master_start
data=$work/data
mnt=$work/sshfs
mkdir -p "$data/small" "$mnt"
echo "making a ${size} MiB file and 1000 files of 4 KiB under $data" >&2
head -c "$((size * 1048576))" /dev/urandom >"$data/big"
for i in $(seq -w 0 999); do head -c 4096 /dev/urandom >"$data/small/f$i"; done
cat "$data/big" >/dev/null  # warm at home

on1 sshfs -F "$ssh_cfg" -o ro "$ssh_host:$data" "$mnt"
at_exit "ssi-cluster exec 1 -- fusermount3 -u '$mnt'"

ssi-cluster exec 1 -- "$probe" zmq-serve 127.0.1.1 "$work/zmq.info" &
server=$!
at_exit "kill $server"
at_exit "ssi-cluster exec 2 -- '$probe' zmq-quit '$work/zmq.info' 127.0.1.2"
for _ in $(seq 100); do [ -s "$work/zmq.info" ] && break; sleep 0.05; done

# MiB/s from dd's summary line on stdin ("N bytes ... copied, T s, ...").
dd_rate() { awk '/bytes/ && /copied/ {for (i = 1; i <= NF; i++) if ($i == "s,") t = $(i - 1); printf "%.0f\n", $1 / 1048576 / t}'; }
res=$work/results
: >"$res"

echo "1. sequential read, ${size} MiB, ${runs} runs each (alternating)" >&2
for r in $(seq "$runs"); do
  echo "read local $(on1 env LC_ALL=C dd if="$data/big" of=/dev/null bs=1M 2>&1 | dd_rate)" >>"$res"
  echo "read ssi $(on1 env LC_ALL=C ssi-run -n 2 dd if="$data/big" of=/dev/null bs=1M 2>&1 | dd_rate)" >>"$res"
  on1 dd if="$mnt/big" iflag=nocache count=0 status=none  # drop sshfs's cached pages
  echo "read sshfs $(on1 env LC_ALL=C dd if="$mnt/big" of=/dev/null bs=1M 2>&1 | dd_rate)" >>"$res"
  for spec in "1024 1" "1024 4" "128 1"; do
    set -- $spec
    rate=$(ssi-cluster exec 2 -- "$probe" zmq-pull "$work/zmq.info" 127.0.1.2 "$size" "$1" "$2" | sed 's/.*, \([0-9]*\) MiB.s/\1/')
    echo "read zmq-$1k-d$2 $rate" >>"$res"
  done
done

echo "2. 1000 x 4 KiB files" >&2
hf=$work/small.json
on1 hyperfine -N --warmup 1 --runs "$((runs * 3))" --export-json "$hf" \
  "ssi-run -n 2 sh -c 'cat $data/small/* >/dev/null'" \
  "ssi-run -n 2 sh -c 'cat /dev/null >/dev/null'" \
  "sh -c 'cat $data/small/* >/dev/null'" \
  "sh -c 'cat $mnt/small/* >/dev/null'" >/dev/null

# MiB/s of a whole command line run on node 1 that moves SIZE MiB, timed from outside.
mib_per_s() {
  t=$(on1 sh -c "s=\$(date +%s%N); $1; e=\$(date +%s%N); echo \$((e - s))")
  awk -v n="$size" -v t="$t" 'BEGIN {printf "%.0f", n / (t / 1e9)}'
}

echo "3. stdout, ${size} MiB" >&2
out=$work/out
for r in $(seq "$runs"); do
  for how in local ssi ssh; do
    case $how in
      local) cmd="head -c ${size}M /dev/zero >'$out'" ;;
      ssi) cmd="ssi-run -n 2 head -c ${size}M /dev/zero >'$out'" ;;
      ssh) cmd="ssh -F '$ssh_cfg' -S '$ssh_cm' $ssh_host head -c ${size}M /dev/zero >'$out'" ;;
    esac
    rate=$(mib_per_s "$cmd")
    [ "$(stat -c %s "$out")" -eq $((size * 1048576)) ] || { echo "stdout: $how wrote $(stat -c %s "$out") bytes" >&2; exit 1; }
    echo "stdout $how $rate" >>"$res"
    rm -f "$out"
  done
  rate=$(ssi-cluster exec 2 -- "$probe" zmq-push "$work/zmq.info" 127.0.1.2 "$size" 256 | sed 's/.*, \([0-9]*\) MiB.s/\1/')
  echo "stdout zmq-256k $rate" >>"$res"
done

echo "4. stdin, ${size} MiB" >&2
for r in $(seq "$runs"); do
  for how in local ssi ssh; do
    case $how in
      local) cmd="wc -c" ;;
      ssi) cmd="ssi-run -n 2 wc -c" ;;
      ssh) cmd="ssh -F '$ssh_cfg' -S '$ssh_cm' $ssh_host wc -c" ;;
    esac
    got=$work/got
    rate=$(mib_per_s "head -c ${size}M /dev/zero | $cmd >'$got'")
    [ "$(tr -d ' ' <"$got")" -eq $((size * 1048576)) ] || { echo "stdin: $how counted $(cat "$got") bytes" >&2; exit 1; }
    echo "stdin $how $rate" >>"$res"
  done
done

python3 - "$res" "$hf" "$size" <<'PY'
import json, statistics, sys
res, hf, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
vals = {}
for line in open(res):
    sec, kind, v = line.split()
    vals.setdefault((sec, kind), []).append(float(v))
med = lambda sec, kind: statistics.median(vals[(sec, kind)])
runs = lambda sec, kind: ", ".join(f"{v:.0f}" for v in vals[(sec, kind)])
print(f"1. sequential read of a {size} MiB home file (MiB/s, median of runs; runs listed)")
rows = [("local", "dd at home (page cache)"), ("ssi", "ssi-run -n 2 dd (FUSE -> deputy)"),
        ("sshfs", "dd through sshfs (loopback sshd)"),
        ("zmq-1024k-d1", "bare ZeroMQ: 1 MiB replies, 1 in flight"),
        ("zmq-1024k-d4", "bare ZeroMQ: 1 MiB replies, 4 in flight"),
        ("zmq-128k-d1", "bare ZeroMQ: 128 KiB replies, 1 in flight")]
for k, name in rows:
    print(f"   {name:44} {med('read', k):7.0f}   [{runs('read', k)}]")
best = max(("zmq-1024k-d1", "zmq-1024k-d4", "zmq-128k-d1"), key=lambda k: med('read', k))
print(f"   ssi / sshfs {med('read','ssi')/med('read','sshfs'):.2f}x, ssi / bare ZeroMQ (its best: {best}) "
      f"{med('read','ssi')/med('read',best):.2f}x")
print()
r = {x["command"]: x for x in json.load(open(hf))["results"]}
cmds = list(r)
ssi_cat, ssi_start, local_cat, sshfs_cat = (r[c] for c in cmds)
start = ssi_start["median"]
print("2. 1000 files of 4 KiB, one cat opening/reading/closing each (hyperfine medians)")
for name, x, sub in [("ssi-run -n 2 sh -c 'cat DIR/*'", ssi_cat, start), ("ssi-run -n 2 sh -c 'cat /dev/null' (start-up)", ssi_start, 0),
                     ("sh -c 'cat DIR/*' at home", local_cat, 0), ("sh -c 'cat SSHFS/*'", sshfs_cat, 0)]:
    per = (x["median"] - sub) / 1000 * 1e6
    extra = f"   per file {per:7.1f} µs" + (" (start-up taken out)" if sub else "") if x is not ssi_start else ""
    print(f"   {name:46} {x['median']*1e3:8.1f} ms ± {x['stddev']*1e3:5.1f}{extra}")
print(f"   ssi per file / sshfs per file: {(ssi_cat['median']-start)/sshfs_cat['median']:.2f}x")
print()
print(f"3. stdout of {size} MiB to a file at home (MiB/s, wall clock incl. start-up; runs listed)")
for k, name in [("local", "head -c at home"), ("ssi", "ssi-run -n 2 head -c"), ("ssh", "ssh (ControlMaster) head -c"),
                ("zmq-256k", "bare ZeroMQ: 256 KiB messages streamed")]:
    print(f"   {name:44} {med('stdout', k):7.0f}   [{runs('stdout', k)}]")
print(f"   ssi / bare ZeroMQ {med('stdout','ssi')/med('stdout','zmq-256k'):.2f}x, ssi / ssh {med('stdout','ssi')/med('stdout','ssh'):.2f}x")
print()
print(f"4. stdin: head -c {size}M /dev/zero | ... wc -c (MiB/s, wall clock incl. start-up; runs listed)")
for k, name in [("local", "wc -c at home"), ("ssi", "ssi-run -n 2 wc -c"), ("ssh", "ssh (ControlMaster) wc -c")]:
    print(f"   {name:44} {med('stdin', k):7.0f}   [{runs('stdin', k)}]")
print(f"   ssi / bare ZeroMQ (256 KiB streamed, above) {med('stdin','ssi')/med('stdout','zmq-256k'):.2f}x, "
      f"ssi / ssh {med('stdin','ssi')/med('stdin','ssh'):.2f}x")
PY

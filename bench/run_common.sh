# Shared by bench/run_latency.sh, run_syscall.sh and run_throughput.sh (sourced, not run):
# builds what the remote-execution benchmarks need, starts their cluster, and a throwaway
# OpenSSH server for the peer figures. Everything lives in one work directory under
# /var/tmp (each node's /tmp is private) and goes away on exit: nothing touches /etc/ssh
# or ~/.ssh.
#
#   source "$(dirname "$0")/run_common.sh"
#   bench_setup NAME          # build, cluster of 2 nodes named ssi-bench-NAME-PID, $work
#   sshd_start                # sshd on 127.0.1.2 (node 2's address); $ssh_cfg, $ssh_host
#   on1 CMD...                # CMD logged into node 1
#
# BUILD_DIR (default build, relative to the source tree or absolute) is the build used:
# a worktree's own build, e.g. BUILD_DIR=build-migrate bench/migrate_bench.sh.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
build_dir=${BUILD_DIR:-build}
case $build_dir in /*) ;; *) build_dir=$root/$build_dir ;; esac

bench_packages=(openssh-server openssh-client sshfs hyperfine python3)

bench_build() {
  local missing=()
  for p in "${bench_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "installing ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  scripts/setup.sh --no-build >/dev/null
  [ -f "$build_dir/build.ninja" ] || cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  # Only what these benchmarks run: a half-written file elsewhere in the tree must not stop them.
  cmake --build "$build_dir" --target ssi-agent ssi-cluster ssi-run ssi-remote ssi-ps remote_probe start_floor >/dev/null
}

_cleanups=()
# at_exit CMD: run CMD on exit, latest first.
at_exit() { _cleanups=("$1" "${_cleanups[@]}"); }
_run_cleanups() {
  local c
  for c in "${_cleanups[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
}
trap _run_cleanups EXIT
trap 'exit 130' INT TERM

bench_setup() {
  [ "$(id -u)" -eq 0 ] || { echo "needs root (namespaces)" >&2; exit 1; }
  bench_build
  export PATH=$build_dir/bin:$PATH SSI_CLUSTER="ssi-bench-$1-$$"
  probe=$build_dir/bench/remote_probe
  work=$(mktemp -d "/var/tmp/ssi-bench-$1.XXXXXX")
  at_exit "rm -rf '$work'"
  ssi-cluster up -n 2 >/dev/null
  at_exit "ssi-cluster down"
}

on1() { ssi-cluster exec 1 -- "$@"; }

# bench/start_floor's daemon on 127.0.1.2, outside the cluster as sshd is; $floor_run is
# the command that asks it to run a program (the least a remote start can cost).
floor_start() {
  local port
  port=$(free_port)
  "$build_dir/bench/start_floor" serve 127.0.1.2 "$port" &
  local pid=$!
  at_exit "kill $pid; wait $pid"
  floor_run="$build_dir/bench/start_floor run 127.0.1.2 $port"
  for _ in $(seq 100); do
    $floor_run /bin/true 2>/dev/null && return 0
    sleep 0.05
  done
  echo "start_floor's daemon did not come up" >&2
  exit 1
}

# A free TCP port on 127.0.1.2.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.1.2", 0)); print(s.getsockname()[1])'
}

# Debian's sshd, as a process of its own (-D) with a temporary config, host key and
# authorized client key, listening on 127.0.1.2. Public-key login as root, no PAM, no DNS:
# the fastest setup, so the comparison favours ssh.
sshd_start() {
  local d="$work/ssh" port
  mkdir -p "$d"
  chmod 700 "$d"
  ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$d/client_key"
  cp "$d/client_key.pub" "$d/authorized_keys"
  port=$(free_port)
  cat >"$d/sshd_config" <<EOF
ListenAddress 127.0.1.2:$port
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
StrictModes no
PrintMotd no
PrintLastLog no
LogLevel ERROR
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
  cat >"$d/ssh_config" <<EOF
Host ssi-bench-sshd
  HostName 127.0.1.2
  Port $port
  User root
  IdentityFile $d/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $d/known_hosts
  StrictHostKeyChecking accept-new
  BatchMode yes
  LogLevel ERROR
  ControlPath none
EOF
  # sshd's privilege-separation directory; made (and removed) only if the system has none.
  if [ ! -d /run/sshd ]; then
    mkdir -m 0755 /run/sshd
    at_exit "rmdir /run/sshd"
  fi
  # ssh runs every command through the login shell, and bash run by sshd sources ~/.bashrc;
  # a developer's .bashrc (pyenv init, ...) would be timed as ssh's. sshd gets a mount
  # namespace of its own with an empty file over ~root/.bashrc: ssh as on a clean system.
  : >"$d/empty_bashrc"
  unshare -m --propagation private sh -c \
    "if [ -e /root/.bashrc ]; then mount --bind '$d/empty_bashrc' /root/.bashrc; fi; exec /usr/sbin/sshd -D -e -f '$d/sshd_config'" \
    2>>"$d/sshd.log" &
  local pid=$!
  at_exit "kill $pid; wait $pid"
  ssh_cfg="$d/ssh_config"
  ssh_host=ssi-bench-sshd
  ssh_cm="$d/cm"
  for _ in $(seq 100); do
    ssh -F "$ssh_cfg" "$ssh_host" true 2>/dev/null && return 0
    sleep 0.05
  done
  echo "sshd did not come up:" >&2
  cat "$d/sshd.log" >&2
  exit 1
}

# A ControlMaster connection (ssh -M -N) that later ssh -S $ssh_cm reuse.
ssh_master_start() {
  ssh -F "$ssh_cfg" -M -N -o ControlPath="$ssh_cm" -o ControlPersist=no "$ssh_host" &
  local pid=$!
  at_exit "kill $pid"
  for _ in $(seq 100); do
    ssh -F "$ssh_cfg" -S "$ssh_cm" -O check "$ssh_host" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "ssh ControlMaster did not come up" >&2
  exit 1
}


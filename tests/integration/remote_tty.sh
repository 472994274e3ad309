#!/usr/bin/env bash
# ssi-run on a terminal behaves like the program ran locally: the program gets a pty on
# the target with the home terminal's size and modes as its controlling terminal; typed
# bytes (Ctrl-C, Ctrl-Z) reach its line discipline; window changes follow; Ctrl-Z stops
# the job at home as a local job would; the home terminal is cooked again afterwards.
# Each run is driven on a fresh pty by tests/support/pty_drive.py, logged into node 1.
source "$(dirname "$0")/../support/cluster.sh"
# The driver travels as text: the source tree may lie where nodes cannot see it (/tmp).
DRIVE="$(cat "$(dirname "$0")/../support/pty_drive.py")"
command -v python3 >/dev/null || fail "python3 is needed to drive a terminal"
cluster_up 2

# drive NAME [pty_drive options] -- CMD... ::: STEPS...: on a new pty in node 1.
drive() {
  local name=$1
  shift
  on_node 1 timeout 60 python3 -c "$DRIVE" --timeout 40 "$@" || fail "$name"
  ok "$name"
}

drive "the program's stdio is a terminal of the home size" --rows 33 --cols 101 -- \
  ssi-run -n 2 sh -c 'test -t 0 && test -t 1 && test -t 2 && stty size' ::: 'expect=33 101' exit=0 cooked
drive "tty names a /dev/pts terminal, and it is the controlling one" -- \
  ssi-run -n 2 sh -c 'tty; exec </dev/null; echo ctty-ok >/dev/tty' ::: 'expect=/dev/pts/[0-9]+' 'expect=ctty-ok' exit=0
drive "the home terminal's modes travel (stty -echo at home)" -- \
  sh -c 'stty -echo; ssi-run -n 2 stty -a; stty echo' ::: 'expect=-echo ' exit=0 cooked
drive "a typed line echoes and cat returns it; raw at home meanwhile" -- \
  ssi-run -n 2 cat ::: raw 'send=hello there\r' 'expect=hello there\r\nhello there\r\n' 'send=\x04' exit=0 cooked
drive "redirected stdout stays a pipe; stdin is the terminal" -- \
  sh -c 'ssi-run -n 2 sh -c "test -t 0; echo in=\$?; test -t 1; echo out=\$?" | cat' ::: 'expect=in=0' 'expect=out=1' exit=0
drive "Ctrl-C runs the program's INT trap; the status is its own" -- \
  ssi-run -n 2 sh -c 'trap "echo INT; exit 7" INT; echo ready; while :; do sleep 0.1; done' \
  ::: expect=ready 'send=\x03' expect=INT exit=7 cooked
drive "Ctrl-C kills a program without a trap; ssi-run dies of SIGINT, cooked again" -- \
  ssi-run -n 2 sleep 100 ::: sleep=1 'send=\x03' exit=130 cooked
drive "Ctrl-\\ quits it" -- \
  ssi-run -n 2 sh -c 'echo ready; exec sleep 100' ::: expect=ready 'send=\x1c' exit=131 cooked
drive "a window change at home reaches the program (SIGWINCH, new size)" -- \
  ssi-run -n 2 sh -c 'trap "stty size" WINCH; echo ready; while :; do sleep 0.1; done' \
  ::: expect=ready resize=40x120 'expect=40 120' 'send=\x03' exit=130 cooked

# Migration on a terminal: a program reading its terminal at home moves itself to node 2
# (a detached helper runs ssi-migrate: a process with children does not move); typed
# lines then reach it there, its output comes back, and the terminal is cooked at the end.
migrating='import os, sys, time
pid = os.getpid()
if os.fork() == 0:
    if os.fork() == 0:
        os.setsid()
        time.sleep(0.3)
        os.execvp("ssi-migrate", ["ssi-migrate", "1:%d" % pid, "2"])
    os._exit(0)
os.wait()
# Away from home, pid 1 of its PID namespace is the supervisor'"'"'s reaper (uname stays home'"'"'s).
where = lambda: "away" if b"ssi-remote" in open("/proc/1/cmdline", "rb").read() else "home"
print("ready", where(), flush=True)
for line in sys.stdin:
    print("got", line.strip(), where(), flush=True)'
drive "a program reading its terminal migrates to node 2 and keeps the terminal" -- \
  python3 -c "$migrating" ::: 'expect=ready home' 'expect=runs on node 2' 'send=hello\r' 'expect=got hello away' 'send=\x04' exit=0 cooked

# Job control in an interactive shell: Ctrl-Z stops the remote job and shows it stopped
# at home, with the terminal the shell's again; `fg` resumes it, raw, where it was.
P='PRO''MPT> '
drive "Ctrl-Z stops the job at home; fg resumes it; Ctrl-C ends it" -- \
  bash --norc --noprofile --noediting -i ::: "send=PS1='$P'\r" 'expect=PROMPT> ' \
  'send=ssi-run -n 2 cat\r' 'send=one\r' 'expect=one\r\none\r\n' raw \
  'send=\x1a' 'expect=Stopped +ssi-run -n 2 cat' 'expect=PROMPT> ' cooked \
  'send=jobs -l\r' 'expect=Stopped' 'expect=PROMPT> ' \
  'send=fg\r' 'expect=ssi-run -n 2 cat\r\n' 'send=two\r' 'expect=two\r\ntwo\r\n' raw \
  'send=\x03' 'expect=PROMPT> ' 'send=echo status=$?\r' 'expect=status=130' 'expect=PROMPT> ' cooked \
  'send=ssi-run -n 2 sleep 100\r' sleep=1 'send=\x1a' 'expect=Stopped +ssi-run -n 2 sleep 100' 'expect=PROMPT> ' \
  'send=fg\r' 'expect=sleep 100\r\n' sleep=0.5 'send=\x03' 'expect=PROMPT> ' \
  'send=echo status=$?\r' 'expect=status=130' 'expect=PROMPT> ' cooked 'send=exit\r' exit=0

# While stopped by Ctrl-Z, the program really is stopped on node 2 (not only its deputy);
# `kill -CONT %1` (a background job now) continues it without taking the terminal.
on_node 1 bash -c "cat > /tmp/state.sh" <<'SH'
ssi-ps --fresh -o stat,cmd --no-headers | awk '$2 == "sleep" && $3 == "4343" { print "state=" substr($1, 1, 1) }'
SH
drive "the remote program is stopped while its job is" -- \
  bash --norc --noprofile --noediting -i ::: "send=PS1='$P'\r" 'expect=PROMPT> ' \
  'send=ssi-run -n 2 sleep 4343\r' sleep=1 'send=\x1a' 'expect=Stopped' 'expect=PROMPT> ' \
  'send=sh /tmp/state.sh\r' 'expect=state=T' 'expect=PROMPT> ' \
  'send=kill -CONT %1; sleep 0.5; sh /tmp/state.sh\r' 'expect=state=S' 'expect=PROMPT> ' cooked \
  'send=kill %1; wait\r' 'expect=PROMPT> ' 'send=exit\r' exit=0

# A background job that reads the terminal stops, as at home (SIGTTIN over there): bash
# (set -b: at once) reports it stopped; `fg` brings it in front, and typed lines reach it.
drive "a background remote program reading the terminal stops; fg resumes it" -- \
  bash --norc --noprofile --noediting -i ::: "send=set -b; PS1='$P'\r" 'expect=PROMPT> ' \
  'send=ssi-run -n 2 cat &\r' 'expect=PROMPT> ' 'expect=Stopped.*ssi-run -n 2 cat' \
  'send=fg\r' 'expect=ssi-run -n 2 cat' sleep=0.5 'send=hello\r' 'expect=hello\r\nhello' \
  'send=\x04' 'expect=PROMPT> ' cooked 'send=exit\r' exit=0

# Without a terminal nothing changes: pipes, as before.
[ "$(on_node 1 ssi-run -n 2 sh -c 'test -t 0 || test -t 1 || echo pipes' </dev/null)" = pipes ] \
  || fail "a run without a terminal got one"
ok "no terminal at home, none remotely"
pass

#!/usr/bin/env bash
# Sockets are home's: a TCP connection a program run with `ssi-run -n 2` makes originates
# at home, and a port it listens on is open at home. All nodes of an embedded cluster share
# one network stack, so where a socket lives is told by who owns it: `ss -p` at home must
# name the deputy (whose PID is $!), and node 2 must hold no TCP socket of the program.
source "$(dirname "$0")/../support/cluster.sh"
cluster_up 3
HOST=127.0.1.1
# Each node's /tmp is its own (and the checkout may be under this machine's /tmp): the
# tool is copied into node 1 (home) and node 3, where it runs.
TOOL=/tmp/w/tcp_tool.py
for k in 1 3; do
  on_node "$k" bash -c "mkdir -p /tmp/w && cat > $TOOL" < "$(dirname "$0")/../support/tcp_tool.py"
done

home() { on_node 1 bash -c "cd /tmp/w || exit 99; $1"; }
on_node 1 bash -c 'mkdir -p /tmp/w/site && cd /tmp/w && head -c 24M /dev/urandom > site/big.bin && head -c 9M /dev/urandom > up.bin &&
  echo hello > site/index.txt'
want_big=$(home 'sha256sum < site/big.bin' | cut -d' ' -f1)
want_up="$(home 'stat -c %s up.bin') $(home 'sha256sum < up.bin' | cut -d' ' -f1)"

# Waits for "port N" in a home file; prints N.
port_in() {
  wait_until 20 home "grep -qE 'port [0-9]+' $1" || fail "no port in $1: $(home "cat $1")"
  home "grep -oE 'port [0-9]+' $1 | head -1 | cut -d' ' -f2"
}

# ---- A server at home (run locally on node 1), a client run on node 2 ------------------
home "python3 -u -m http.server 0 --bind $HOST --directory site > web.out 2>&1 & echo \$! > web.pid"
web=$(port_in web.out)
remote_big=$(home "ssi-run -n 2 curl -sS http://$HOST:$web/big.bin | sha256sum" | cut -d' ' -f1)
[ "$remote_big" = "$want_big" ] || fail "curl on node 2 fetched other bytes from the home server"
ok "ssi-run -n 2 curl fetches 24 MiB from a server at home, byte for byte"
# The program's children are under the same interception: curl forked by sh on node 2.
[ "$(home "ssi-run -n 2 sh -c 'curl -sS http://$HOST:$web/index.txt | tr a-z A-Z'")" = HELLO ] \
  || fail "curl run by sh on node 2 did not reach the home server"
ok "a child of the remote program (curl under sh) connects from home too"

# A large upload, ended by shutdown(SHUT_WR): the home end sees every byte, then the end.
home "python3 -u $TOOL sink $HOST > sink.out 2>&1 & echo \$! > sink.pid"
sink=$(port_in sink.out)
got=$(home "ssi-run -n 2 python3 $TOOL send $HOST $sink up.bin")
[ "$got" = "$want_up" ] || fail "upload from node 2: home received '$got', sent '$want_up'"
ok "9 MiB sent from node 2 arrive whole at home, and the end of stream with them"

# A program that sends and exits at once, to a reader that starts late: its last bytes,
# still in the relay's buffers when it ends, arrive (the deputy exits only after them).
home "python3 -u $TOOL sink $HOST 1.5 > slow.out 2>&1 & echo \$! > slow.pid"
slow=$(port_in slow.out)
home 'head -c 7M /dev/urandom > blast.bin'
want_blast="$(home 'stat -c %s blast.bin') $(home 'sha256sum < blast.bin' | cut -d' ' -f1)"
home "ssi-run -n 2 python3 $TOOL blast $HOST $slow blast.bin" || fail "the blasting program failed"
wait_until 10 home "grep -qx '$want_blast' slow.out" || fail "bytes sent just before the program exited were lost: $(home 'tail -3 slow.out')"
ok "7 MiB sent by a program that exits at once arrive whole at home"

# Who owns the connection: the deputy at home; on node 2 nobody.
home "ssi-run -n 2 python3 -u $TOOL hold $HOST $sink > hold.out 2>&1 & echo \$! > hold.pid"
wait_until 20 home 'grep -q connected hold.out' || fail "the held connection never connected: $(home 'cat hold.out')"
deputy=$(home 'cat hold.pid')
lport=$(home "cut -d' ' -f2 hold.out")
owners1=$(on_node 1 ss -tnpH state established "( sport = :$lport )")
echo "$owners1" | grep -q "pid=$deputy," || fail "at home, the connection from port $lport is not the deputy's ($deputy): $owners1"
owners2=$(on_node 2 ss -tnpH state established "( sport = :$lport )")
echo "$owners2" | grep -q "users:" && fail "on node 2 a process holds the TCP connection: $owners2"
ok "the connection's socket is the deputy's at home (pid $deputy = \$!), no process's on node 2"
home 'kill $(cat hold.pid)'

# Refused as at home: curl's own exit status (7) and python's ECONNREFUSED.
closed=$(python3 -c "import socket; s=socket.socket(); s.bind(('$HOST',0)); print(s.getsockname()[1])")
expect_status 7 home "curl -s http://$HOST:$closed/"
expect_status 7 home "ssi-run -n 2 curl -s http://$HOST:$closed/"
[ "$(home "ssi-run -n 2 python3 $TOOL connect $HOST $closed")" = ECONNREFUSED ] || fail "no ECONNREFUSED on node 2"
ok "a closed port is refused (curl 7, ECONNREFUSED) as at home"

# ---- A server run on node 2: its port is open at home ------------------------------------
home "ssi-run -n 2 python3 -u -m http.server 0 --bind $HOST --directory site > rweb.out 2>&1 & echo \$! > rweb.pid"
rweb=$(port_in rweb.out)
rdeputy=$(home 'cat rweb.pid')
listening=$(on_node 1 ss -tlnpH "( sport = :$rweb )")
echo "$listening" | grep -q "pid=$rdeputy," || fail "the port $rweb is not listened on by the deputy ($rdeputy) at home: $listening"
echo "$(on_node 2 ss -tlnpH "( sport = :$rweb )")" | grep -q "users:" && fail "node 2 has a process listening on $rweb"
ok "ssi-run -n 2 python3 -m http.server listens at home (the deputy, pid $rdeputy, owns port $rweb)"
for n in 1 3; do
  got=$(on_node $n curl -sS "http://$HOST:$rweb/big.bin" | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want_big" ] || fail "curl on node $n got other bytes from the server run on node 2"
  [ "$(on_node $n curl -sS "http://$HOST:$rweb/index.txt")" = hello ] || fail "small file from node $n"
done
ok "node 1 and node 3 fetch 24 MiB from it with curl, byte for byte"

# A client on node 3 sends 9 MiB to a sink run on node 2 (listening at home).
home "ssi-run -n 2 python3 -u $TOOL sink $HOST > rsink.out 2>&1 & echo \$! > rsink.pid"
rsink=$(port_in rsink.out)
got=$(on_node 3 python3 "$TOOL" send $HOST "$rsink" /proc/self/fd/0 < <(home 'cat up.bin'))
[ "$got" = "$want_up" ] || fail "upload to the program on node 2: it received '$got', sent '$want_up'"
ok "9 MiB sent to a program on node 2 arrive whole, with their end"

# An asyncio server on node 2 (non-blocking listener under epoll, accepting until EAGAIN)
# takes 40 connections at once from node 3, more than the deputy accepts ahead.
home "ssi-run -n 2 python3 -u $TOOL asink $HOST > asink.out 2>&1 & echo \$! > asink.pid"
asink=$(port_in asink.out)
on_node 3 bash -c "head -c 300000 /dev/urandom > /tmp/part && want=\"\$(stat -c %s /tmp/part) \$(sha256sum < /tmp/part | cut -d' ' -f1)\" &&
  for i in \$(seq 40); do python3 $TOOL send $HOST $asink /tmp/part > /tmp/got.\$i & done; wait &&
  [ \"\$(cat /tmp/got.* | sort -u)\" = \"\$want\" ] && [ \$(cat /tmp/got.* | wc -l) -eq 40 ]" \
  || fail "40 concurrent connections to an asyncio server on node 2 did not all arrive whole"
ok "an asyncio server on node 2 takes 40 concurrent connections, each whole"

# A program blocked in accept() at home's port still takes its signals at once: kill $!
# runs its SIGTERM handler (the call is let go as the kernel would, for the signal).
home "ssi-run -n 2 python3 -u $TOOL await $HOST > await.out 2>&1 & echo \$! > await.pid"
wait_until 20 home 'grep -q listening await.out' || fail "the accepting program never listened: $(home 'cat await.out')"
got=$(home 'p=$(cat await.pid); s=$(date +%s%N); kill $p; for i in $(seq 250); do kill -0 $p 2>/dev/null || break; sleep 0.02; done
  tail -1 await.out; echo $((($(date +%s%N) - s) / 1000000))' | tr '\n' ' ')
set -- $got
[ "${1:-}" = term ] || fail "the SIGTERM handler of a program blocked in accept did not run: $got"
[ "${2:-99999}" -lt 3000 ] || fail "the SIGTERM handler ran only after ${2} ms"
ok "a program blocked in accept() at home runs its SIGTERM handler at once (${2} ms)"

# Socket calls from threads other than the main one (a seccomp notification names the
# thread, not its process) are relayed too: connect, accept, names and options.
got=$(home "ssi-run -n 2 python3 $TOOL threads $HOST 8" 2>&1 | tail -1)
[ "$got" = "threads 8 ok" ] || fail "socket calls from 8 threads of a program on node 2: $got"
ok "socket calls from threads other than the main one are home's too"

# ---- Unix sockets named in the home filesystem ------------------------------------------
UTOOL=/tmp/w/unix_tool.py
on_node 1 bash -c "cat > $UTOOL" < "$(dirname "$0")/../support/unix_tool.py"
home "python3 -u $UTOOL serve /tmp/w/home.sock 2 > userve.out 2>&1 & echo \$! > userve.pid"
wait_until 20 home 'grep -q listening userve.out' || fail "the home Unix server never listened: $(home 'cat userve.out')"
set -- $(home "ssi-run -n 2 python3 $UTOOL ask /tmp/w/home.sock hello")
[ "${1:-} ${2:-}" = "HELLO /tmp/w/home.sock" ] || fail "a program on node 2 did not reach the Unix socket at home: $*"
wait_until 10 home "grep -qx 'peer $3 5' userve.out" || fail "the home server's peer is not the program's home PID $3: $(home 'cat userve.out')"
ok "ssi-run -n 2 connects to a Unix socket in home /tmp; its peer at home is the program's PID ($3)"
set -- $(home "ssi-run -n 2 sh -c 'cd /tmp && cd w && exec python3 $UTOOL ask home.sock relative'")
[ "${1:-}" = RELATIVE ] || fail "a relative name after cd on node 2 did not reach the home socket: $*"
ok "a relative name resolves against the program's current directory, at home"
[ "$(home "ssi-run -n 2 python3 $UTOOL ask /tmp/w/none.sock x")" = "error ENOENT" ] || fail "no ENOENT for a missing name"
home "python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.bind(\"/tmp/w/dead.sock\")'"
[ "$(home "ssi-run -n 2 python3 $UTOOL ask /tmp/w/dead.sock x")" = "error ECONNREFUSED" ] || fail "no ECONNREFUSED for a socket nobody listens on"
ok "a missing name (ENOENT) and a socket without a listener (ECONNREFUSED) fail as at home"
# This node's own sockets stay its own: the agent's, bound over home's, answers as node 2.
home "ssi-run -n 2 ssi-nodes" | grep -qE '^ +2\* ' || fail "ssi-nodes run on node 2 did not talk to node 2's agent"
ok "a socket of node 2 itself (its agent's) is node 2's"

# A server run on node 2 listens at home: the socket file is the deputy's, with the umask.
home "umask 027; ssi-run -n 2 python3 -u $UTOOL serve /tmp/w/remote.sock 2 > rserve.out 2>&1 & echo \$! > rserve.pid"
wait_until 20 home 'grep -q listening rserve.out' || fail "the Unix server on node 2 never listened: $(home 'cat rserve.out')"
rserver=$(home 'cat rserve.pid')
on_node 1 ss -xlpH | grep -E "/tmp/w/remote.sock .*pid=$rserver," >/dev/null \
  || fail "at home, /tmp/w/remote.sock is not listened on by the deputy ($rserver): $(on_node 1 ss -xlpH)"
[ "$(home 'stat -c %A remote.sock')" = srwxr-x--- ] || fail "the socket file's mode ignores the umask: $(home 'stat -c %A remote.sock')"
set -- $(home "python3 $UTOOL ask /tmp/w/remote.sock fromhome")
[ "${1:-}" = FROMHOME ] || fail "a client at home did not reach the server on node 2: $*"
set -- $(home "ssi-run -n 3 python3 $UTOOL ask /tmp/w/remote.sock fromthree")
[ "${1:-}" = FROMTHREE ] || fail "a program on node 3 did not reach the server on node 2: $*"
wait_until 10 home "grep -qx 'peer $3 9' rserve.out" || fail "the server on node 2 does not see node 3's program as PID $3: $(home 'cat rserve.out')"
ok "a Unix server run on node 2 listens at home (the deputy's, mode srwxr-x---); clients at home and on node 3 reach it"

home 'kill $(cat rweb.pid) $(cat rsink.pid) $(cat asink.pid) $(cat web.pid) $(cat sink.pid) $(cat slow.pid)'
listening_on() { [ -n "$(on_node 1 ss -tlnH "( sport = :$1 )")" ]; }
wait_until 10 not listening_on "$rweb" || fail "the home port outlived the program"
ok "the home port closes with the program"
pass

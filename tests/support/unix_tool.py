#!/usr/bin/env python3
"""Unix stream socket ends for tests/integration/remote_sockets.sh: small, stdlib only.

  serve PATH N     bind PATH, print "listening"; N connections: read to the end, send it
                   back upper-cased, close; print "peer PID LENGTH" (SO_PEERCRED's PID)
  ask PATH TEXT    connect to PATH (as given: relative names too), send TEXT, shut down
                   writing; print the answer, the peer's name and our PID; on a refusal
                   print "error ERRNO-NAME" and exit 1
"""
import errno, os, socket, struct, sys


def read_all(s):
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            return data
        data += b


def serve(path, n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(4)
    print("listening", flush=True)
    for _ in range(n):
        c, _ = s.accept()
        pid, _, _ = struct.unpack("3i", c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        data = read_all(c)
        c.sendall(data.upper())
        c.close()
        print("peer", pid, len(data), flush=True)


def ask(path, text):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        print("error", errno.errorcode.get(e.errno, e.errno))
        sys.exit(1)
    peer = s.getpeername()
    s.sendall(text.encode())
    s.shutdown(socket.SHUT_WR)
    print(read_all(s).decode(), peer, os.getpid())


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "ask":
        ask(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")

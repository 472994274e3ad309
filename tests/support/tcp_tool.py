#!/usr/bin/env python3
"""TCP ends for tests/integration/remote_sockets.sh and bench/: small, stdlib only.

  sink HOST [DELAY]     listen on HOST, port of the kernel's choice (printed as "port N");
                        each connection: (DELAY s later) read to its end, answer "LENGTH SHA256" (also printed), close
  send HOST PORT FILE   connect, send FILE, shut down writing, print the answer
  blast HOST PORT FILE  connect, send FILE, close and exit at once (no answer awaited)
  hold HOST PORT        connect, print "connected LOCALPORT", then wait for the peer's end
  upload HOST PORT MIB  connect, send MIB MiB, shut down, wait for the answer; print MiB/s
  fetch HOST PORT N     connect, read to the end, print "LENGTH SHA256" (N: unused label)
  source HOST FILE      listen; each connection gets FILE, then its end
  echo HOST             listen; each connection gets back what it sends
  asink HOST            like sink, with asyncio (a non-blocking listener under epoll)
  await HOST            listen, print "listening PORT", block in accept(); SIGTERM's
                        handler prints "term" and exits 5
  connect HOST PORT     try to connect; print "ok" or the errno's name (ECONNREFUSED)
  rtt HOST PORT COUNT   COUNT connections made and closed against an echo; median us
  threads HOST N        every socket call off the main thread: a thread accepts N connections
                        that N threads make to it (with options and names asked); each
                        echoes a line; prints "threads N ok"
"""
import asyncio, errno, hashlib, os, signal, socket, sys, threading, time


def listen(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(16)
    print("port", s.getsockname()[1], flush=True)
    return s


def serve(s, handle):
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def sink(c, delay=0.0):
    time.sleep(delay)  # a slow reader: the sender's bytes wait in buffers meanwhile
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        h.update(b)
        n += len(b)
    print(f"{n} {h.hexdigest()}", flush=True)
    try:
        c.sendall(f"{n} {h.hexdigest()}\n".encode())
    except OSError:
        pass  # a sender that did not wait for the answer
    c.close()


def read_all(c):
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            return n, h.hexdigest()
        h.update(b)
        n += len(b)


def main():
    mode, host = sys.argv[1], sys.argv[2]
    if mode == "sink":
        delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
        serve(listen(host), lambda c: sink(c, delay))
    elif mode == "asink":
        async def handle(r, w):
            h, n = hashlib.sha256(), 0
            while b := await r.read(1 << 16):
                h.update(b)
                n += len(b)
            w.write(f"{n} {h.hexdigest()}\n".encode())
            await w.drain()
            w.close()
        async def run():
            srv = await asyncio.start_server(handle, host, 0)
            print("port", srv.sockets[0].getsockname()[1], flush=True)
            await srv.serve_forever()
        asyncio.run(run())
    elif mode == "await":
        def term(*_):
            print("term", flush=True)
            os._exit(5)
        signal.signal(signal.SIGTERM, term)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((host, 0))
        s.listen(1)
        print("listening", s.getsockname()[1], flush=True)
        s.accept()
        print("accepted", flush=True)
    elif mode == "echo":
        def echo(c):
            while True:
                b = c.recv(1 << 16)
                if not b:
                    break
                c.sendall(b)
            c.close()
        serve(listen(host), echo)
    elif mode == "source":
        data = open(sys.argv[3], "rb").read()
        def give(c):
            c.sendall(data)
            c.close()
        serve(listen(host), give)
    elif mode == "send":
        c = socket.create_connection((host, int(sys.argv[3])))
        with open(sys.argv[4], "rb") as f:
            while True:
                b = f.read(1 << 16)
                if not b:
                    break
                c.sendall(b)
        c.shutdown(socket.SHUT_WR)
        print(c.makefile().read().strip())
    elif mode == "blast":
        c = socket.create_connection((host, int(sys.argv[3])))
        c.sendall(open(sys.argv[4], "rb").read())
        os._exit(0)  # no close, no shutdown: the end of the process ends the connection
    elif mode == "upload":
        block, mib = os.urandom(1 << 20), int(sys.argv[4])
        t = time.perf_counter()
        c = socket.create_connection((host, int(sys.argv[3])))
        for _ in range(mib):
            c.sendall(block)
        c.shutdown(socket.SHUT_WR)
        answer = c.makefile().read().split()
        assert int(answer[0]) == mib << 20, answer
        print("%.0f" % (mib / (time.perf_counter() - t)))
    elif mode == "fetch":
        c = socket.create_connection((host, int(sys.argv[3])))
        print("%d %s" % read_all(c))
    elif mode == "hold":
        c = socket.create_connection((host, int(sys.argv[3])))
        print("connected", c.getsockname()[1], flush=True)
        read_all(c)
    elif mode == "connect":
        try:
            socket.create_connection((host, int(sys.argv[3])), timeout=5)
            print("ok")
        except OSError as e:
            print(errno.errorcode.get(e.errno, str(e)))
    elif mode == "rtt":
        times = []
        for _ in range(int(sys.argv[4])):
            t = time.perf_counter()
            c = socket.create_connection((host, int(sys.argv[3])))
            c.sendall(b"x")
            c.recv(1)
            c.close()
            times.append(time.perf_counter() - t)
        times.sort()
        print("%.0f" % (times[len(times) // 2] * 1e6))
    elif mode == "threads":
        n, errors, box = int(sys.argv[3]), [], {}
        ready = threading.Event()

        def acceptor():
            box["s"] = s = listen(host)
            ready.set()
            for _ in range(n):
                c, _ = s.accept()
                c.sendall(c.recv(64))
                c.close()

        def client(i):
            try:
                c = socket.create_connection((host, box["s"].getsockname()[1]))
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if c.getpeername() != box["s"].getsockname() or c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0:
                    errors.append(f"client {i}: names or options wrong")
                c.sendall(f"line {i}".encode())
                if c.recv(64) != f"line {i}".encode():
                    errors.append(f"client {i}: wrong echo")
            except OSError as e:
                errors.append(f"client {i}: {e}")

        a = threading.Thread(target=acceptor, daemon=True)  # hung calls must not keep us alive
        a.start()
        ready.wait()
        clients = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(timeout=20)
        a.join(timeout=20)
        print(f"threads {n} ok" if not errors and not a.is_alive() else "; ".join(errors) or "accept hung")


if __name__ == "__main__":
    main()

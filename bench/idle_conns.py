#!/usr/bin/env python3
"""Opens N keep-alive connections to a server, sends one request on each, keeps them
idle and reports the server process's resident memory before and after.

usage: idle_conns.py --port P --pid PID [--n 10000] [--path /health]
Warms the server up first (enough requests to touch every receive buffer), so what grows
is per-connection state. Bounded: every socket wait has a timeout; exits when done."""
import argparse
import resource
import selectors
import socket
import sys
import time


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def request_on(socks, path, timeout=60):
    sel = selectors.DefaultSelector()
    req = ("GET %s HTTP/1.1\r\nHost: b\r\n\r\n" % path).encode()
    for s in socks:
        s.setblocking(False)
        s.send(req)
        sel.register(s, selectors.EVENT_READ, bytearray())
    done = errors = 0
    deadline = time.monotonic() + timeout
    while done + errors < len(socks) and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            try:
                data = key.fileobj.recv(65536)
            except OSError:
                data = b""
            if not data:
                errors += 1
                sel.unregister(key.fileobj)
                continue
            key.data.extend(data)
            if b"\r\n\r\n" in key.data and key.data.startswith(b"HTTP/1.1 200"):
                head, _, body = bytes(key.data).partition(b"\r\n\r\n")
                cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if cl and len(body) >= int(cl[0].split(b":")[1]):
                    sel.unregister(key.fileobj)
                    done += 1
    sel.close()
    return done, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--path", default="/health")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, a.n + 1000)), hard))

    warm = [socket.create_connection(("127.0.0.1", a.port), timeout=10) for _ in range(64)]
    for _ in range(80):  # 64 x 80 = 5120 requests: every receive buffer has been used
        ok, err = request_on(warm, a.path)
        for s in warm:
            s.setblocking(True)
    for s in warm:
        s.close()
    time.sleep(1.0)
    before = rss_kib(a.pid)
    socks = []
    t0 = time.monotonic()
    for i in range(a.n):
        socks.append(socket.create_connection(("127.0.0.1", a.port), timeout=10))
    ok, err = request_on(socks, a.path)
    time.sleep(1.0)
    after = rss_kib(a.pid)
    print("idle connections: %d opened, %d answered, %d errors in %.1fs" % (a.n, ok, err, time.monotonic() - t0))
    print("server RSS: %d KiB before, %d KiB with %d idle connections: %.0f bytes per connection"
          % (before, after, a.n, (after - before) * 1024.0 / a.n))
    for s in socks:
        s.close()
    return 0 if ok == a.n else 1


if __name__ == "__main__":
    sys.exit(main())

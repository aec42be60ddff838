#!/usr/bin/env python3
"""The attacker of bench/hostile.sh: two kinds of hostile connections to a server on
127.0.0.1, held for a bounded time, then closed.

- slow: each sends a request head one byte every --trickle seconds and never finishes it
  (slowloris). Their reads are drained, so a 408 or a close from the server is seen.
- pipe: each sends pipelined GET requests for --path (a large response) and never reads a
  byte; its receive buffer is shrunk to the minimum first, so the server's responses back
  up at once. At most --depth requests are sent per connection every --interval seconds
  (a partial send is finished before more is queued), so the attacker's own CPU stays
  modest; once the server stops reading, sends just fail with EAGAIN.

A connection the server closes is counted and, with --reopen (default), replaced, at most
--connect-rate new connections per second in all, never more than the target counts.

Bounds: --seconds (at most 60) from the start, whatever happens; SIGALRM kills the process
10 s after that should the loop ever stall. SIGTERM/SIGINT stop it early. With --watch-pid,
the server's VmRSS is sampled every 0.2 s; past --rss-limit-mib the attack stops at once.

Status: --status FILE is rewritten (atomically) every second and at the end, as JSON:
elapsed seconds, ready (both kinds reached their counts once, or 10 s passed), done, why
it stopped, per kind {target, open, opened, closed_by_server, connect_failed}, the pipe
kind's requests and bytes sent, the watched process's RSS (last and peak, KiB) and this
process's CPU seconds. Standard library only.

usage: hostile_clients.py --port P [--slow 1000] [--pipe 1000] [--seconds 30] [--status F]
                          [--watch-pid PID] [--rss-limit-mib 2048] [--path /api/bounties?limit=100]
"""
import argparse
import collections
import errno
import json
import os
import random
import resource
import select
import signal
import socket
import sys
import time

HOST = "127.0.0.1"
MAX_SECONDS = 60
MAX_CONNS = 10000
READY_AFTER = 10.0  # seconds: report ready even if a count was never reached


class Conn:
    __slots__ = ("sock", "kind", "connected", "sent", "due", "pending")

    def __init__(self, sock, kind):
        self.sock, self.kind = sock, kind
        self.connected = False
        self.sent = 0  # slow: bytes of the head sent so far
        self.due = 0.0  # next send
        self.pending = b""  # pipe: the rest of a batch the socket did not take


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--slow", type=int, default=1000, help="slow-head connections")
    ap.add_argument("--pipe", type=int, default=1000, help="pipelining, never-reading connections")
    ap.add_argument("--path", default="/api/bounties?limit=100", help="what the pipe connections request")
    ap.add_argument("--seconds", type=float, default=30, help="attack length (at most %d)" % MAX_SECONDS)
    ap.add_argument("--trickle", type=float, default=1.0, help="seconds between a slow connection's bytes")
    ap.add_argument("--depth", type=int, default=16, help="requests per pipe send")
    ap.add_argument("--interval", type=float, default=0.25, help="seconds between a pipe connection's sends")
    ap.add_argument("--connect-rate", type=int, default=2000, help="new connections per second, at most")
    ap.add_argument("--no-reopen", dest="reopen", action="store_false", help="do not replace closed connections")
    ap.add_argument("--status", help="JSON status file")
    ap.add_argument("--watch-pid", type=int, help="process whose VmRSS is watched")
    ap.add_argument("--rss-limit-mib", type=int, default=2048, help="stop when the watched RSS passes this")
    a = ap.parse_args()
    if not (0 < a.seconds <= MAX_SECONDS):
        ap.error("--seconds must be in (0, %d]" % MAX_SECONDS)
    if a.slow < 0 or a.pipe < 0 or a.slow + a.pipe > MAX_CONNS:
        ap.error("--slow + --pipe must be at most %d" % MAX_CONNS)
    if a.depth < 1 or a.depth > 1000 or a.interval < 0.01 or a.trickle < 0.01 or a.connect_rate < 1:
        ap.error("--depth 1..1000, --interval and --trickle >= 0.01 s, --connect-rate >= 1")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, a.slow + a.pipe + 64))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < a.slow + a.pipe + 16:
        print("hostile_clients: RLIMIT_NOFILE %d is too low for %d connections" % (want, a.slow + a.pipe),
              file=sys.stderr)
        return 2

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: stop.append("SIGINT"))
    signal.alarm(int(a.seconds) + 10)  # the last resort: default action ends the process

    head = ("GET /health HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: slow\r\nX-Slow: " % (HOST, a.port)).encode()
    batch = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (a.path, HOST, a.port)).encode() * a.depth
    ep = select.epoll()
    conns = {}  # fd -> Conn
    target = {"slow": a.slow, "pipe": a.pipe}
    st = {k: {"target": target[k], "open": 0, "opened": 0, "closed_by_server": 0, "connect_failed": 0}
          for k in target}
    pipe_sent = {"requests": 0, "bytes": 0}
    slow_q = collections.deque()  # connected slow conns, ordered by due (same interval for all)
    pipe_q = collections.deque()  # connected pipe conns, ordered by due
    t0 = time.monotonic()
    deadline = t0 + a.seconds
    ready = False
    why = None
    rss_last = rss_peak = None
    next_rss = next_status = t0
    tokens, tok_time = 0.0, t0
    sink = bytearray(65536)

    def write_status(done):
        if not a.status:
            return
        doc = {"elapsed": round(time.monotonic() - t0, 3), "ready": ready, "done": done, "why": why,
               "slow": st["slow"], "pipe": dict(st["pipe"], requests_sent=pipe_sent["requests"],
                                                 bytes_sent=pipe_sent["bytes"]),
               "watched_rss_kib": rss_last, "watched_rss_peak_kib": rss_peak,
               "rss_limit_mib": a.rss_limit_mib, "cpu_seconds": round(time.process_time(), 3)}
        tmp = a.status + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, a.status)

    def drop(c, by_server):
        try:
            ep.unregister(c.sock.fileno())
        except (OSError, ValueError):
            pass
        conns.pop(c.sock.fileno(), None)
        if c.connected:
            st[c.kind]["open"] -= 1
            if by_server:
                st[c.kind]["closed_by_server"] += 1
        else:
            st[c.kind]["connect_failed"] += 1
        c.sock.close()
        c.connected = False

    def open_one(kind):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if kind == "pipe":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # the kernel's minimum
        rc = s.connect_ex((HOST, a.port))
        c = Conn(s, kind)
        conns[s.fileno()] = c
        st[kind]["opened"] += 1
        if rc not in (0, errno.EINPROGRESS):
            drop(c, False)
            return
        ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLRDHUP)

    def established(c, now):
        c.connected = True
        st[c.kind]["open"] += 1
        if c.kind == "slow":
            # reads are drained (a 408 and the close must be seen); spread the first bytes
            ep.modify(c.sock.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
            c.due = now + random.random() * a.trickle
            slow_q.append(c)
        else:
            # never read: only the server's close (RDHUP/HUP/ERR) is watched
            ep.modify(c.sock.fileno(), select.EPOLLRDHUP)
            c.due = now
            pipe_q.append(c)

    def send_slow(c):
        b = head[c.sent:c.sent + 1] if c.sent < len(head) else b"a"
        try:
            if c.sock.send(b) == 1:
                c.sent += 1
        except BlockingIOError:
            pass
        except OSError:
            drop(c, True)

    def send_pipe(c):
        if not c.pending:
            c.pending = batch
            pipe_sent["requests"] += a.depth
        try:
            n = c.sock.send(c.pending)
            pipe_sent["bytes"] += n
            c.pending = c.pending[n:]
        except BlockingIOError:
            pass
        except OSError:
            drop(c, True)

    while not stop:
        now = time.monotonic()
        if now >= deadline:
            why = "time (%.0f s)" % a.seconds
            break
        if a.watch_pid and now >= next_rss:
            next_rss = now + 0.2
            rss_last = rss_kib(a.watch_pid)
            if rss_last is not None:
                rss_peak = max(rss_peak or 0, rss_last)
                if rss_last > a.rss_limit_mib * 1024:
                    why = "watched RSS %d MiB passed the %d MiB limit" % (rss_last // 1024, a.rss_limit_mib)
                    break
            else:
                why = "watched process %d is gone" % a.watch_pid
                break
        # open (or reopen) connections, at most connect_rate per second
        tokens = min(float(a.connect_rate) / 10, tokens + (now - tok_time) * a.connect_rate)
        tok_time = now
        for kind in ("slow", "pipe"):
            while tokens >= 1 and st[kind]["opened"] - st[kind]["connect_failed"] - st[kind]["closed_by_server"] \
                    < target[kind] and (a.reopen or st[kind]["opened"] < target[kind]):
                open_one(kind)
                tokens -= 1
        if not ready and (now - t0 >= READY_AFTER or all(st[k]["open"] >= target[k] for k in target)):
            ready = True
            write_status(False)
        # due sends
        while slow_q and slow_q[0].due <= now:
            c = slow_q.popleft()
            if not c.connected:
                continue
            send_slow(c)
            if c.connected:
                c.due = now + a.trickle
                slow_q.append(c)
        while pipe_q and pipe_q[0].due <= now:
            c = pipe_q.popleft()
            if not c.connected:
                continue
            send_pipe(c)
            if c.connected:
                c.due = now + a.interval
                pipe_q.append(c)
        if now >= next_status:
            next_status = now + 1.0
            write_status(False)
        wait = 0.05
        for q in (slow_q, pipe_q):
            if q:
                wait = min(wait, max(0.0, q[0].due - now))
        try:
            events = ep.poll(wait)
        except InterruptedError:
            continue
        for fd, ev in events:
            c = conns.get(fd)
            if c is None:
                continue
            if not c.connected:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err or ev & (select.EPOLLERR | select.EPOLLHUP):
                    drop(c, False)
                else:
                    established(c, time.monotonic())
                continue
            if c.kind == "slow" and ev & select.EPOLLIN:
                try:
                    if c.sock.recv_into(sink) > 0 and not ev & (select.EPOLLRDHUP | select.EPOLLHUP):
                        continue
                except BlockingIOError:
                    continue
                except OSError:
                    pass
                drop(c, True)
            elif ev & (select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR):
                drop(c, True)
    if stop and why is None:
        why = stop[0]
    # the status keeps the counts as they stood when the attack ended
    for c in list(conns.values()):
        c.sock.close()
    conns.clear()
    ep.close()
    write_status(True)
    print("hostile_clients: stopped after %.1f s (%s); open at the end: slow %d/%d, pipe %d/%d"
          % (time.monotonic() - t0, why, st["slow"]["open"], a.slow, st["pipe"]["open"], a.pipe), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

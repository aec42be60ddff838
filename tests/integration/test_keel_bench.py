#!/usr/bin/env python3
"""keel-bench against servers this test starts on 127.0.0.1: a fixed-latency server (reported
percentiles must land within 5% plus the histogram's bound of the known delay), the open
model and its coordinated-omission correction, the closed model's coordinated-omission
correction (a server that stalls two requests in five), stages, request bounds, scenario files, and
the error breakdown against a server that closes, one that answers 500, one that stalls past
the timeout, one that refuses, one that sends chunked responses in pieces. Checks the JSON,
the table and the exit codes of breached thresholds, and that a run without one successful
response is no pass: exit 3, its latency thresholds failed. Every run is bounded in time.

Binary: $KEEL_BENCH_BIN, else <repo>/zig-out/bin/keel-bench.
"""
import atexit
import json
import os
import heapq
import math
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("KEEL_BENCH_BIN") or os.path.join(ROOT, "zig-out", "bin", "keel-bench")
TMP = tempfile.mkdtemp(prefix="keel-bench-test-")
atexit.register(shutil.rmtree, TMP, True)
DELAY = 0.020  # the fixed-latency server's answer time
FAILED = []


class DelayServer:
    """The fixed-latency server: answers every request (pipelined ones in order) exactly
    `delay` after the request reached this host. One thread on epoll, so no thread waits for
    the GIL at the moment its answer is due; arrival is the kernel's receive timestamp
    (SO_TIMESTAMPNS), so a request read a little late still gets its answer on time."""

    RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    def __init__(self, delay):
        self.delay = delay
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.requests = []
        self.served = []  # seconds from each request's arrival to its answer being sent
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d/" % self.port
        # realtime (kernel stamps) -> monotonic; both clocks tick together over a test
        self.offset_ns = time.time_ns() - time.monotonic_ns()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _arrival(self, anc):
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= 16:
                sec, nsec = struct.unpack("qq", data[:16])
                return (sec * 1000000000 + nsec - self.offset_ns) / 1e9
        return time.monotonic()

    def _loop(self):
        ep = select.epoll()
        ep.register(self.sock.fileno(), select.EPOLLIN)
        conns = {}  # fd -> [socket, buffered bytes]
        due = []  # (time, seq, socket) of answers to send, in order
        seq = 0
        def send_due():
            now = time.monotonic()
            while due and due[0][0] <= now:
                at, _, c = heapq.heappop(due)
                if c.fileno() in conns and conns[c.fileno()][0] is c:
                    try:
                        c.send(self.RESPONSE)  # 40 bytes always fit the socket buffer
                        self.served.append(time.monotonic() - at + self.delay)
                    except OSError:
                        pass
            return due[0][0] - now if due else 0.05

        try:
            while not self.stop.is_set():
                wait = send_due()
                if wait > 0.002:
                    events = ep.poll(wait - 0.0015)  # epoll rounds up to whole ms: wake early
                else:
                    if wait > 0:
                        time.sleep(wait)  # ns-precise; reads can wait, they carry stamps
                    events = ep.poll(0)
                for fd, _ in events:
                    send_due()  # an answer that fell due comes before reading more
                    if fd == self.sock.fileno():
                        while True:
                            try:
                                c, _ = self.sock.accept()
                            except OSError:
                                break
                            c.setblocking(False)
                            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                            c.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                            conns[c.fileno()] = [c, b""]
                            ep.register(c.fileno(), select.EPOLLIN)
                        continue
                    c, buf = conns[fd]
                    try:
                        data, anc, _, _ = c.recvmsg(65536, 1024)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data, anc = b"", []
                    if not data:
                        ep.unregister(fd)
                        del conns[fd]
                        c.close()
                        continue
                    arrival = self._arrival(anc)
                    buf += data
                    while b"\r\n\r\n" in buf:
                        head, rest = buf.split(b"\r\n\r\n", 1)
                        line = head.split(b"\r\n", 1)[0].decode("latin-1")
                        method, target, _ = line.split(" ", 2)
                        with self.lock:
                            self.requests.append((method, target, b""))
                        buf = rest
                        seq += 1
                        heapq.heappush(due, (arrival + self.delay, seq, c))
                    conns[fd][1] = buf
        finally:
            for c, _ in conns.values():
                c.close()
            ep.close()

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
# the hiccup server: of every HICCUP_EVERY requests on a connection, the last HICCUP_SLOW wait
HICCUP_EVERY, HICCUP_SLOW, HICCUP_DELAY = 5, 2, 0.100
SCM_TIMESTAMPNS = SO_TIMESTAMPNS


class Server:
    """A threaded HTTP/1.1 server (one thread per connection, pipelining handled in order).

    modes: delay (200 after `delay` from the request's arrival, 404 for targets under
    /missing, 503 under /broken; DelayServer is the precise one), hiccup (on each connection, requests 4 and 5 of every 5 wait `delay`, the others
    are answered at once), close (reads the request,
    closes without answering), 500, stall (never answers), chunked (chunked responses written
    in pieces, every third on a connection with Connection: close)."""

    def __init__(self, mode, delay=0.0):
        self.mode, self.delay = mode, delay
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.requests = []  # (method, target, body) of every request seen
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d/" % self.port
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        served = 0
        c.settimeout(30)
        try:
            while not self.stop.is_set():
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                arrival = time.monotonic()
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                while len(buf) < length:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                body, buf = buf[:length], buf[length:]
                with self.lock:
                    self.requests.append((method, target, body))
                served += 1
                if self.mode == "close":
                    return
                if self.mode == "stall":
                    self.stop.wait(30)
                    return
                if self.mode == "hiccup":
                    if (served - 1) % HICCUP_EVERY >= HICCUP_EVERY - HICCUP_SLOW:
                        time.sleep(self.delay)
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                elif self.mode == "500":
                    c.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops!")
                elif self.mode == "chunked":
                    last = served % 3 == 0
                    c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                              + (b"Connection: close\r\n" if last else b"") + b"\r\n5\r\nhel")
                    time.sleep(0.002)
                    c.sendall(b"lo\r\n6;x=y\r\n world\r")
                    time.sleep(0.002)
                    c.sendall(b"\n0\r\n\r\n")
                    if last:
                        return
                else:
                    left = arrival + self.delay - time.monotonic()
                    if left > 0:
                        time.sleep(left)
                    status = (b"404 Not Found" if target.startswith("/missing") else
                              b"503 Service Unavailable" if target.startswith("/broken") else b"200 OK")
                    c.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\nok")
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def bench(args, timeout=30, want_json=True):
    """Runs keel-bench; returns (process, parsed JSON or None, wall seconds)."""
    jpath = os.path.join(TMP, "out.json")
    if os.path.exists(jpath):
        os.unlink(jpath)
    argv = [BIN] + args + (["--json", jpath] if want_json else [])
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    data = None
    if want_json and os.path.exists(jpath) and os.path.getsize(jpath):
        with open(jpath) as f:
            data = json.load(f)
    return p, data, wall


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def test(fn):
    try:
        fn()
        print("ok " + fn.__name__)
    except Exception as e:  # report and go on with the next test
        print("FAIL %s: %s" % (fn.__name__, e))
        FAILED.append(fn.__name__)
    sys.stdout.flush()


def within(value_ms, want_ms, tol, bound):
    return abs(value_ms - want_ms) <= want_ms * (tol + bound)


def percentile(sorted_values, pct):
    """The same rank rule as the histogram: the smallest value with pct% at or below it."""
    return sorted_values[max(1, math.ceil(pct / 100.0 * len(sorted_values))) - 1]


def fixed_latency_attempt():
    """One 3 s run of 20 users against the 20 ms server; returns a list of problems."""
    srv = DelayServer(DELAY)
    try:
        p, d, _ = bench(["-c", "20", "-d", "3s", "-t", "2", srv.url])
    finally:
        srv.close()
    check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
    t = d["total"]
    b = d["histogram_relative_error"]
    check(0 < b < 0.001, "histogram bound %r" % b)
    # counts and the table are exact whatever the machine is doing
    check(t["requests"] == t["responses"] == t["ok"] == len(srv.requests),
          "counts %r, server saw %d" % ((t["requests"], t["responses"], t["ok"]), len(srv.requests)))
    check(t["failed"] == 0 and t["error_rate"] == 0, "errors %r" % t["errors"])
    check(abs(t["rps"] * t["seconds"] - t["responses"]) < 2, "rps x seconds != responses")
    check(t["bytes_in"] == t["responses"] * len(DelayServer.RESPONSE), "bytes_in %d" % t["bytes_in"])
    check(re.search(r"^\| 1 \| 20 \| \d+ \| 2\d\.\d\d ms \| \d+\.\d\d ms \| \d+\.\d\d ms \| 0\.00% \|$", p.stdout, re.M),
          "table row missing:\n" + p.stdout)
    check("\033" not in p.stderr and "\r" not in p.stderr, "progress line drawn into a pipe")
    lat = t["latency_ms"]
    want = DELAY * 1000
    check(lat["min"] >= want * (1 - b), "min %.3f ms below the server's delay" % lat["min"])
    # timing: against what the server delivered (its send time minus the kernel's arrival
    # stamp of each request), and against the nominal delay where neighbours' CPU use on a
    # shared box cannot reach (the median and p90)
    served = sorted(x * 1000 for x in srv.served)
    problems = []
    for k, q in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99)):
        truth = percentile(served, q)
        if not within(lat[k], truth, 0.05, b):
            problems.append("%s %.3f ms vs %.3f ms served" % (k, lat[k], truth))
    for k in ("p50", "p90"):
        if not within(lat[k], want, 0.05, b):
            problems.append("%s %.3f ms vs the %.0f ms delay" % (k, lat[k], want))
    # 20 users x 1/20ms = 1000 req/s at most; a working client gets close to that
    if not 850 <= t["rps"] <= 1000 * (1 + b) + 5:
        problems.append("rps %.1f" % t["rps"])
    return problems


def test_fixed_latency_percentiles():
    # a scheduling hiccup on a shared 2-core box can push one run out; a measurement bug
    # fails every attempt
    tried = []
    for _ in range(3):
        problems = fixed_latency_attempt()
        if not problems:
            return
        tried.append("; ".join(problems))
    raise AssertionError("3 attempts: " + " | ".join(tried))


def test_open_model_on_schedule():
    srv = DelayServer(DELAY)
    try:
        p, d, _ = bench(["-r", "200", "-c", "20", "-d", "2s", srv.url])
        check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
        check(d["model"] == "open", "model %r" % d["model"])
        t = d["total"]
        s = t["schedule"]
        check(abs(s["scheduled"] - 400) <= 2, "scheduled %d, want 400" % s["scheduled"])
        check(s["dropped"] == 0, "dropped %d" % s["dropped"])
        check(t["responses"] == t["requests"] == s["scheduled"], "counts %r" % ((t["responses"], t["requests"]),))
        check(within(t["latency_ms"]["p50"], DELAY * 1000, 0.05, d["histogram_relative_error"]), "p50 %r" % t["latency_ms"]["p50"])
        check(abs(t["rps"] - 200) <= 10, "rps %.1f" % t["rps"])
    finally:
        srv.close()


def test_open_model_corrects_coordinated_omission():
    # one connection can carry 50 req/s; 200 req/s are asked for. Measured from the intended
    # send times, latency grows with the backlog instead of staying at the server's 20 ms.
    srv = DelayServer(DELAY)
    try:
        p, d, _ = bench(["-r", "200", "-c", "1", "-d", "2s", srv.url])
        check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
        t = d["total"]
        s = t["schedule"]
        check(s["late"] > 0 and s["dropped"] > 0, "schedule %r" % s)
        check(s["scheduled"] == t["requests"] + s["dropped"], "scheduled %r vs sent %d" % (s, t["requests"]))
        check(t["latency_ms"]["p50"] > 200, "p50 %.1f ms does not show the queueing" % t["latency_ms"]["p50"])
        check(t["latency_ms"]["p99"] > 1000, "p99 %.1f ms does not show the queueing" % t["latency_ms"]["p99"])
        check(t["rps"] < 60, "rps %.1f above what one connection can carry" % t["rps"])
        p, d, _ = bench(["-r", "200", "-c", "1", "-d", "1s", "--threshold", "late<1%", srv.url])
        check(p.returncode == 1, "late<1%% should be breached, exit %d" % p.returncode)
    finally:
        srv.close()


def test_closed_model_corrects_coordinated_omission():
    # One user against a server that answers 3 requests of 5 at once and stalls the other 2
    # for 100 ms. As measured, 60% of the latencies are fast: p50 ~0.1 ms. The user's cycle
    # is ~200 ms per 5 requests, so the expected interval I = VUs/RPS is ~40 ms and each
    # 100 ms stall hides floor(100/40) - 1 = 1 request it would have sent, at ~60 ms: 3 fast
    # values of 7, p50 ~60 ms. (With one stall in M the fast values are exactly half of the
    # corrected ones, M-1 against 1 + (M-2), so p50 would sit on the boundary: hence 2 in 5.)
    srv = Server("hiccup", HICCUP_DELAY)
    try:
        p, d, _ = bench(["-c", "1", "-t", "1", "-d", "2s", srv.url])
        check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
        check(d["co_corrected"] is True, "co_corrected %r" % d.get("co_corrected"))
        st, t = d["stages"][0], d["total"]
        lat, meas = t["latency_ms"], t["latency_measured_ms"]
        check(set(lat) == set(meas) == {"min", "p50", "p90", "p95", "p99", "p99_9", "max", "mean"}, "keys %r" % list(meas))
        check(st["latency_ms"] == lat and st["latency_measured_ms"] == meas, "one stage: total != stage")
        stalls = t["responses"] * HICCUP_SLOW // HICCUP_EVERY
        check(stalls >= 10, "only %d responses" % t["responses"])
        # the interval is the mean cycle time, VUs/RPS (~40 ms)
        iv = t["co_interval_ms"]
        check(iv is not None and 20 < iv < 100, "co_interval_ms %r" % iv)
        check(abs(iv * t["rps"] / 1000 - 1) < 0.01, "interval %.3f ms != VUs/RPS (%.1f req/s)" % (iv, t["rps"]))
        # as measured the stalls hide: p50 is a fast answer, p99 a stall
        check(meas["p50"] < 10, "measured p50 %.3f ms" % meas["p50"])
        check(meas["p99"] >= HICCUP_DELAY * 1000, "measured p99 %.3f ms" % meas["p99"])
        # corrected, each stall adds about one value: p50 lands among the stalls' values
        added = t["co_values_added"]
        check(stalls // 2 <= added <= stalls * 3, "%d values added for %d stalls" % (added, stalls))
        check(lat["p50"] >= 20 and lat["p50"] >= 10 * meas["p50"], "corrected p50 %.3f ms vs measured %.3f ms" % (lat["p50"], meas["p50"]))
        check(lat["max"] == meas["max"] and lat["mean"] > meas["mean"], "max/mean %r vs %r" % (lat, meas))
        check(re.search(r"^\| 1 \| 1 \| [\d.]+ \| [2-9]\d\.\d\d ms \|", p.stdout, re.M), "table p50 not corrected:\n" + p.stdout)
        check(re.search(r"^  co +latency above corrected for coordinated omission \(expected interval [\d.]+ ms = VUs/RPS, "
                        r"as wrk and HdrHistogram\): \+%d values; as measured p50 [\d.]+ ms  p99 [\d.]+ ms$" % added,
                        p.stdout, re.M), "co line missing:\n" + p.stdout)
        # thresholds see the corrected figures
        p, d, _ = bench(["-c", "1", "-t", "1", "-d", "1s", "--threshold", "p50<10ms", srv.url])
        check(p.returncode == 1, "p50<10ms on the corrected figures: exit %d\n%s" % (p.returncode, p.stdout))
        # --no-co-correction: the headline is the measured figures, the interval still reported
        p, d, _ = bench(["-c", "1", "-t", "1", "-d", "1s", "--no-co-correction", "--threshold", "p50<10ms", srv.url])
        check(p.returncode == 0, "--no-co-correction: exit %d: %s\n%s" % (p.returncode, p.stderr, p.stdout))
        t = d["total"]
        check(d["co_corrected"] is False and t["co_values_added"] == 0, "co %r %r" % (d["co_corrected"], t["co_values_added"]))
        check(t["latency_ms"] == t["latency_measured_ms"] and t["latency_ms"]["p50"] < 10, "latency %r" % t["latency_ms"])
        check(t["co_interval_ms"] is not None and t["co_interval_ms"] > 20, "co_interval_ms %r" % t["co_interval_ms"])
        check("not corrected for coordinated omission (--no-co-correction" in p.stdout, "co line:\n" + p.stdout)
    finally:
        srv.close()
    # the open model has nothing to correct: its JSON says so, and the flag is refused
    srv = DelayServer(DELAY)
    try:
        p, d, _ = bench(["-r", "50", "-c", "2", "-d", "500ms", srv.url])
        check(p.returncode == 0, "open model: exit %d: %s" % (p.returncode, p.stderr))
        t = d["total"]
        check(d["co_corrected"] is False and t["co_interval_ms"] is None and t["co_values_added"] == 0, "open model co %r" % t)
        check(t["latency_measured_ms"] == t["latency_ms"], "open model measured != headline")
    finally:
        srv.close()
    p, _, _ = bench(["-r", "50", "--no-co-correction", "http://127.0.0.1:1/"], want_json=False)
    check(p.returncode == 2 and "closed model only" in p.stderr, "open model + --no-co-correction: exit %d" % p.returncode)


def test_request_count_bound():
    srv = Server("delay", 0.002)
    try:
        p, d, wall = bench(["-n", "150", "-c", "7", "-t", "2", srv.url])
        check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
        t = d["total"]
        check(t["requests"] == 150 and t["responses"] == 150, "requests %d responses %d" % (t["requests"], t["responses"]))
        with srv.lock:
            check(len(srv.requests) == 150, "server saw %d" % len(srv.requests))
        check(wall < 10, "took %.1fs" % wall)
        p, d, _ = bench(["-n", "40", "-c", "4", "--pipeline", "4", srv.url])
        check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
        t = d["total"]
        check(t["requests"] == 40 and t["responses"] == 40 and t["failed"] == 0, "pipelined %r" % t)
    finally:
        srv.close()


def test_stages_reported_separately():
    srv = DelayServer(DELAY)
    try:
        p, d, wall = bench(["--stages", "2:1s,8:1s", srv.url])
        check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
        st = d["stages"]
        check([s["vus"] for s in st] == [2, 8], "vus %r" % [s["vus"] for s in st])
        r1, r2 = st[0]["rps"], st[1]["rps"]
        check(80 <= r1 <= 101 and 320 <= r2 <= 402, "rps per stage %.1f %.1f (want ~100 and ~400)" % (r1, r2))
        check(d["total"]["responses"] == st[0]["responses"] + st[1]["responses"], "total != sum of stages")
        rows = re.findall(r"^\| (\d|all) \| ", p.stdout, re.M)
        check(rows == ["1", "2", "all"], "table rows %r" % rows)
        check(wall < 6, "took %.1fs" % wall)
    finally:
        srv.close()


def test_server_that_closes():
    srv = Server("close")
    try:
        p, d, _ = bench(["-c", "4", "-d", "1s", srv.url])
        check(p.returncode == 3, "no successful response: exit %d: %s" % (p.returncode, p.stderr))
        t = d["total"]
        check(t["requests"] > 0 and t["responses"] == 0, "requests %d responses %d" % (t["requests"], t["responses"]))
        check(t["errors"]["read"] == t["requests"], "errors %r for %d requests" % (t["errors"], t["requests"]))
        check(t["error_rate"] == 1.0, "error rate %r" % t["error_rate"])
        check(t["latency_ms"]["p50"] is None, "latency of failed requests reported")
    finally:
        srv.close()


def test_server_answering_500_and_thresholds():
    srv = Server("500")
    try:
        p, d, _ = bench(["-c", "4", "-d", "1s", srv.url])
        check(p.returncode == 3, "no successful response, no thresholds: exit %d" % p.returncode)
        t = d["total"]
        check(t["responses"] > 0 and t["status"] == {"500": t["responses"]}, "status %r" % t["status"])
        check(t["errors"]["status_5xx"] == t["responses"] and t["errors"]["read"] == 0, "errors %r" % t["errors"])
        check(t["error_rate"] == 1.0 and t["ok"] == 0, "error rate %r" % t["error_rate"])
        check("status 500: %d" % t["responses"] in p.stdout, "breakdown missing:\n" + p.stdout)
        # the latency of successful responses alone is kept apart: here there are none
        check(t["latency_ok_ms"]["p99"] is None and t["latency_ms"]["p99"] is not None,
              "latency_ok_ms %r" % t["latency_ok_ms"])
        check("0 successful responses alone" in p.stdout, "ok line missing:\n" + p.stdout)
        p, d, _ = bench(["-c", "2", "-d", "500ms", "--threshold", "errors<1%", "--threshold", "p99<10s", srv.url])
        check(p.returncode == 3, "every response a 500: exit %d" % p.returncode)
        check(d["thresholds_passed"] is False, "thresholds_passed %r" % d["thresholds_passed"])
        th = d["thresholds"]
        # the 500s have latencies, but a latency threshold over no successful response fails
        check([x["pass"] for x in th] == [False, False], "thresholds %r" % th)
        check(th[0]["value"] == 1.0 and abs(th[0]["limit"] - 0.01) < 1e-9, "threshold figures %r" % th[0])
        check(th[1]["value"] is None and th[1]["reason"] == "no successful responses", "p99 threshold %r" % th[1])
        check(re.search(r"FAIL\s+errors<1%", p.stdout), "verdict missing:\n" + p.stdout)
    finally:
        srv.close()


def test_server_that_stalls_past_the_timeout():
    srv = Server("stall")
    try:
        p, d, wall = bench(["-c", "3", "-d", "1s", "--timeout", "300ms", srv.url])
        check(p.returncode == 3, "no successful response: exit %d: %s" % (p.returncode, p.stderr))
        t = d["total"]
        check(t["responses"] == 0 and t["errors"]["timeout"] == t["requests"] >= 9,
              "requests %d errors %r" % (t["requests"], t["errors"]))
        # 1 s of plan, then in-flight requests drain within one timeout
        check(wall < 1.0 + 0.3 + 1.5, "took %.2fs" % wall)
    finally:
        srv.close()


def test_connection_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    p, d, _ = bench(["-c", "2", "-d", "300ms", "--threshold", "errors<=0%", "http://127.0.0.1:%d/x" % port])
    check(p.returncode == 3, "exit %d" % p.returncode)
    t = d["total"]
    check(t["errors"]["connect"] == t["requests"] > 0 and t["responses"] == 0, "errors %r" % t["errors"])


def test_no_successful_response_is_no_pass():
    """Server down: every request fails, the latency histogram is empty. A latency threshold
    must fail (not pass on the empty histogram's 0) and the run exits 3."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    url = "http://127.0.0.1:%d/" % port
    lat = ["p99<1us", "p50<10s", "max<10s", "mean<10s"]
    args = ["-c", "2", "-d", "300ms"]
    for x in lat:
        args += ["--threshold", x]
    p, d, _ = bench(args + ["--threshold", "rps<1000000", url])
    check(p.returncode == 3, "server down, latency thresholds: exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
    check(d["total"]["ok"] == 0 and d["total"]["requests"] > 0, "totals %r" % d["total"])
    check(d["thresholds_passed"] is False, "thresholds_passed %r" % d["thresholds_passed"])
    th = {x["expr"]: x for x in d["thresholds"]}
    for x in lat:
        check(th[x]["pass"] is False and th[x]["value"] is None and th[x]["reason"] == "no successful responses",
              "%s: %r" % (x, th[x]))
        check(re.search(r"^  FAIL  %s  \(no successful responses\)$" % re.escape(x), p.stdout, re.M),
              "%s verdict missing:\n%s" % (x, p.stdout))
    check(th["rps<1000000"]["pass"] is True and th["rps<1000000"]["reason"] is None, "rps: %r" % th["rps<1000000"])
    check("no successful response" in p.stderr, "stderr %r" % p.stderr)
    # no thresholds at all: still exit 3, with the JSON on stdout too
    p = subprocess.run([BIN, "-c", "2", "-d", "300ms", "--json", "-", url], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    check(p.returncode == 3, "server down, no thresholds: exit %d" % p.returncode)
    check(json.loads(p.stdout)["total"]["ok"] == 0, "json on stdout")


def test_chunked_partial_and_reconnects():
    srv = Server("chunked")
    try:
        p, d, _ = bench(["-c", "4", "-d", "1s", srv.url])
        check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
        t = d["total"]
        check(t["responses"] > 30 and t["failed"] == 0 and t["responses"] == t["requests"], "totals %r" % t)
        check(t["status"] == {"200": t["responses"]}, "status %r" % t["status"])
    finally:
        srv.close()


def test_scenario_mix():
    srv = Server("delay", 0.001)
    path = os.path.join(TMP, "mix.scenario")
    with open(path, "w") as f:
        f.write("# test mix\n"
                "header X-Test: {list:a,b}\n"
                "request 3 GET /list?limit={int:1:20}\n"
                "request 1 GET /item/{int:100:105}\n"
                "request 1 POST /items\n"
                "  header Content-Type: application/json\n"
                "  body {\"n\":{int:1:9},\"tag\":\"{list:x,y}\"}\n")
    try:
        p, d, _ = bench(["-s", path, "-n", "1000", "-c", "5", srv.url])
        check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
        check(d["total"]["responses"] == 1000 and d["total"]["failed"] == 0, "totals %r" % d["total"])
        check(d["scenario"] == path, "scenario %r" % d["scenario"])
        with srv.lock:
            reqs = list(srv.requests)
        lists = [r for r in reqs if r[1].startswith("/list?limit=")]
        items = [r for r in reqs if r[1].startswith("/item/")]
        posts = [r for r in reqs if r[0] == "POST"]
        check(len(lists) + len(items) + len(posts) == 1000, "unexpected targets")
        check(520 <= len(lists) <= 680 and 140 <= len(items) <= 260 and 140 <= len(posts) <= 260,
              "mix %d/%d/%d, want about 600/200/200" % (len(lists), len(items), len(posts)))
        check(all(1 <= int(r[1].split("=")[1]) <= 20 for r in lists), "limit out of range")
        check({int(r[1].rsplit("/", 1)[1]) for r in items} <= set(range(100, 106)), "id out of range")
        check(all(json.loads(r[2])["tag"] in ("x", "y") for r in posts), "bad bodies")
    finally:
        srv.close()


def test_per_route_report():
    # each route (request lines of one name) gets its own counts, status classes and
    # latencies, matching what the server saw; lines that share a name are one route
    srv = Server("delay", 0.001)
    path = os.path.join(TMP, "routes.scenario")
    os.environ["KB_IT_TOKEN"] = "tok-7"
    with open(path, "w") as f:
        f.write("request 4 GET /list\n"
                "request 1 GET /item/a\n"
                "  name item\n"
                "request 1 GET /item/b\n"
                "  name item\n"
                "  header Authorization: Bearer {env:KB_IT_TOKEN}\n"  # parses; the unit tests check what is sent
                "request 1 GET /missing/{int:1:3}\n"
                "request 1 GET /broken\n")
    try:
        p, d, _ = bench(["-s", path, "-n", "800", "-c", "4", srv.url])
        check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
        with srv.lock:
            reqs = list(srv.requests)
        seen = {"GET /list": 0, "item": 0, "GET /missing/{int:1:3}": 0, "GET /broken": 0}
        for _, target, _ in reqs:
            key = ("GET /list" if target == "/list" else "item" if target.startswith("/item/") else
                   "GET /missing/{int:1:3}" if target.startswith("/missing/") else "GET /broken")
            seen[key] += 1
        routes = {r["name"]: r for r in d["routes"]}
        check([r["name"] for r in d["routes"]] == list(seen), "route names %r" % [r["name"] for r in d["routes"]])
        check(routes["item"]["request_lines"] == 2 and routes["item"]["line"] == 2, "item route %r" % routes["item"])
        for name, n in seen.items():
            r = routes[name]
            check(r["requests"] == n and r["responses"] == n, "%s: %d requests, %d responses, server saw %d"
                  % (name, r["requests"], r["responses"], n))
            check(r["latency_measured_ms"]["p50"] is not None and r["latency_measured_ms"]["p99"] >= 1.0,
                  "%s latency %r" % (name, r["latency_measured_ms"]))
        check(sum(r["requests"] for r in d["routes"]) == 800, "requests over the routes")
        check(routes["GET /list"]["status_classes"]["2xx"] == seen["GET /list"] and routes["GET /list"]["failed"] == 0,
              "list %r" % routes["GET /list"])
        m = routes["GET /missing/{int:1:3}"]
        check(m["status_classes"]["4xx"] == m["responses"] and m["errors"]["status_4xx"] == m["responses"]
              and m["error_rate"] == 1.0, "missing %r" % m)
        b = routes["GET /broken"]
        check(b["status_classes"]["5xx"] == b["responses"] and b["failed"] == b["responses"], "broken %r" % b)
        check(d["total"]["status"].get("404") == m["responses"] and d["total"]["status"].get("503") == b["responses"],
              "totals %r" % d["total"]["status"])
        # the table: one row per route, below the stage details
        lines = p.stdout.splitlines()
        i = next((k for k, l in enumerate(lines) if l.startswith("per route")), None)
        check(i is not None, "no per-route table in\n" + p.stdout)
        rows = [l for l in lines[i:] if l.startswith("| ") and not l.startswith("| route")]
        check(len(rows) == 4 and rows[1].startswith("| item | %d |" % seen["item"]), "rows %r" % rows)
        check(rows[2].split("|")[9].strip() == str(m["responses"]), "404s in the 4xx column: %r" % rows[2])
        # a single request (no scenario): no per-route table, the output as before
        p, d, _ = bench(["-n", "50", "-c", "2", srv.url])
        check(p.returncode == 0 and "per route" not in p.stdout and len(d["routes"]) == 1
              and d["routes"][0]["responses"] == 50, "single request: exit %d routes %r" % (p.returncode, d["routes"]))
    finally:
        srv.close()


def test_bad_input_exit_codes():
    bad = os.path.join(TMP, "bad.scenario")
    with open(bad, "w") as f:
        f.write("request 1 GET /ok\n\nrequest 1 GET /x/{int:9:1}\n")
    p, _, _ = bench(["-s", bad, "-d", "1s", "http://127.0.0.1:1/"], want_json=False)
    check(p.returncode == 2 and "%s:3: " % bad in p.stderr, "exit %d stderr %r" % (p.returncode, p.stderr))
    for args, why in ((["--threshold", "p95<<5ms"], "bad duration"), (["--threshold", "speed>5"], "unknown metric"),
                      (["--stages", "10:30s,5/s:1s"], "cannot mix"), (["-c", "0"], "--connections"),
                      (["--threshold", "late<1%"], "open model")):
        p, _, _ = bench(args + ["http://127.0.0.1:1/"], want_json=False)
        check(p.returncode == 2 and why in p.stderr, "%r: exit %d stderr %r" % (args, p.returncode, p.stderr))
    p, _, _ = bench(["https://127.0.0.1/"], want_json=False)
    check(p.returncode == 2 and "https" in p.stderr, "https: exit %d" % p.returncode)
    p, _, _ = bench(["ftp://x/"], want_json=False)
    check(p.returncode == 2, "bad URL: exit %d" % p.returncode)


def test_thresholds_pass_and_breach_on_latency():
    srv = DelayServer(DELAY)
    try:
        p, d, _ = bench(["-c", "4", "-d", "700ms", "--threshold", "p95<1s", "--threshold", "errors<1%",
                         "--threshold", "rps>10", srv.url])
        check(p.returncode == 0, "all hold: exit %d\n%s" % (p.returncode, p.stdout))
        check(d["thresholds_passed"] is True, "thresholds_passed %r" % d["thresholds_passed"])
        p, d, _ = bench(["-c", "4", "-d", "700ms", "--threshold", "p95<5ms", srv.url])
        check(p.returncode == 1, "p95<5ms against a 20 ms server: exit %d" % p.returncode)
        check(d["thresholds"][0]["value"] > 19, "measured %r" % d["thresholds"][0])
    finally:
        srv.close()


def main():
    # the servers run as threads of this process: hand the GIL over quickly, so a thread whose
    # delay is up is not kept waiting behind the others (default: 5 ms, a quarter of DELAY)
    sys.setswitchinterval(0.0005)
    if not os.access(BIN, os.X_OK):
        print("FAIL setup: %s not built (scripts/zig build)" % BIN)
        return 1
    for fn in (test_fixed_latency_percentiles, test_open_model_on_schedule,
               test_open_model_corrects_coordinated_omission, test_closed_model_corrects_coordinated_omission,
               test_request_count_bound,
               test_stages_reported_separately, test_server_that_closes,
               test_server_answering_500_and_thresholds, test_server_that_stalls_past_the_timeout,
               test_connection_refused, test_no_successful_response_is_no_pass, test_chunked_partial_and_reconnects, test_scenario_mix, test_per_route_report,
               test_bad_input_exit_codes, test_thresholds_pass_and_breach_on_latency):
        test(fn)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())

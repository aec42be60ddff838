"""Integration-test kit: start the real keel binary on 127.0.0.1 and talk raw HTTP to it.

Each test file defines test_* functions and ends with `kit.main(globals())`, which runs
them in order, prints "ok NAME" / "FAIL NAME" / "skip NAME: why" and exits 1 when any
failed. A test skips itself by raising kit.Skip("why") (what it needs is not there);
tests/run.py counts it as skipped, neither passed nor failed.
"""
import atexit
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEEL_BIN = os.environ.get("KEEL_BIN", os.path.join(ROOT, "zig-out", "bin", "keel"))
BENCH_BIN = os.environ.get("KEEL_BENCH_BIN") or os.path.join(ROOT, "zig-out", "bin", "keel-bench")
ASAN = os.environ.get("KEEL_ASAN") == "1"
PG_SH = os.path.join(ROOT, "scripts", "pg.sh")
PSQL = "/usr/lib/postgresql/15/bin/psql"


def pg(*args, timeout=180):
    """Runs scripts/pg.sh (the private cluster) and returns its stdout; fails on error."""
    p = subprocess.run(["bash", PG_SH] + list(args), capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, "pg.sh %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr)
    return p.stdout



def storm_with_pg_restart(plan, send, workers=8):
    """Sends every item of plan (tuples whose first member is the request's key) with
    send(item) -> (status, body), from `workers` threads, while PostgreSQL is stopped 0.3 s
    in and started again 1 s later. Returns {key: (status, body)}; a request whose connection
    broke has the exception's name as its status."""
    results = {}
    lock = threading.Lock()
    it = iter(plan)

    def worker():
        while True:
            with lock:
                item = next(it, None)
            if item is None:
                return
            try:
                st, resp = send(item)
            except (OSError, EOFError) as e:
                st, resp = type(e).__name__, b""
            with lock:
                results[item[0]] = (st, resp)
            time.sleep(0.01)
    ts = [threading.Thread(target=worker) for _ in range(workers)]
    for t in ts:
        t.start()
    time.sleep(0.3)
    try:
        pg("stop")
        time.sleep(1.0)
    finally:
        pg("start")
    for t in ts:
        t.join(120)
    return results

def psql(url, sql, timeout=60):
    """Runs one SQL command against url and returns its unaligned output."""
    p = subprocess.run([PSQL, url, "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, "psql failed: %s\n%s" % (sql, p.stderr)
    return p.stdout.strip()


def psql_file(url, path, timeout=60):
    """Runs the SQL file at path against url, stopping at its first error."""
    p = subprocess.run([PSQL, url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", path],
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, "loading %s failed: %s" % (path, p.stderr)


def refuses_to_start(env, args=()):
    """Runs keel with env added, which must exit non-zero at startup; returns (code, stderr)."""
    e = dict(os.environ)
    e.update({"PORT": str(free_port()), "KEEL_LISTEN": "127.0.0.1", "KEEL_SHARDS": "1", "KEEL_ADMIN_LISTEN": "off"})
    e.update(env)
    p = subprocess.run([KEEL_BIN] + list(args), env=e, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0, "keel started: %s" % p.stderr[-500:]
    if ASAN:
        assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr[-3000:]
    return p.returncode, p.stderr


def raise_nofile(n=65536):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, n), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def log_records(text):
    """keel's JSON log lines in text (stderr's log or stdout's access log), parsed: whole
    lines only, since one that keel is still writing is read on a later pass; lines that are
    not JSON objects (a sanitizer's report) are passed over."""
    return [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines() if line.startswith("{")]


def rss_kib(pid):
    """The resident set of process pid in KiB (VmRSS); fails when it has none (gone)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def written(f):
    """What a child process wrote so far to f, a file it holds as its stdout or stderr,
    decoded. Read with pread: the child writes through the same open file, so a seek here
    would move its next write back over what it wrote before (a log line lost to a test
    watching for it)."""
    chunks, off = [], 0
    while True:
        b = os.pread(f.fileno(), 1 << 20, off)
        if not b:
            return b"".join(chunks).decode(errors="replace")
        chunks.append(b)
        off += len(b)


class Keel:
    """One keel process. Use as a context manager; stop() returns its exit code.
    Tests run many at once, so the admin listener (default 127.0.0.1:9180) is off unless
    admin=True, which gives it a free port of its own (self.admin_port)."""

    def __init__(self, env=None, args=(), port=None, ready_path="/health", admin=False):
        self.port = port or free_port()
        self.admin_port = free_port() if admin else None
        self.env = dict(os.environ)
        self.env.update({"PORT": str(self.port), "KEEL_LISTEN": "127.0.0.1",
                         "KEEL_ADMIN_LISTEN": "127.0.0.1:%d" % self.admin_port if admin else "off"})
        self.env.update(env or {})
        self.args = list(args)
        self.ready_path = ready_path
        self.proc = None
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()

    def start(self, timeout=15):
        self.proc = subprocess.Popen([KEEL_BIN] + self.args, env=self.env, stdout=self.out, stderr=self.err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("keel exited at startup (%d): %s" % (self.proc.returncode, self.stderr()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if self.ready_path is None:
                        return self
                    s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % self.ready_path).encode())
                    ready = read_response(s)[0] == 200
            except OSError:
                ready = False
            if ready:  # this connection closed: a test may cap connections per address at 1
                if self.ready_path == "/ready":
                    self._wait_db_conns(min(5.0, deadline - time.monotonic()))
                return self
            time.sleep(0.05)
        raise RuntimeError("keel did not become ready: " + self.stderr())

    def _wait_db_conns(self, limit):
        # /ready needs one connection per shard; the others come up just after it, and each
        # one's LISTEN clears the cache and the fills under way (db.c: a sibling may have died
        # unnoticed). A test that fills the cache right after /ready would then see nothing
        # stored, now and then (under ASan more often), so wait for them all, or `limit`.
        want = int(self.env.get("KEEL_DB_CONNS_PER_SHARD", "2"))
        t_end = time.monotonic() + limit
        while True:
            try:
                shards = json.loads(self.request(path="/ready", timeout=1)[2])["shards"]
                if all(sh["dbConnections"] >= want for sh in shards):
                    return
            except (OSError, ValueError, KeyError):
                pass
            if time.monotonic() >= t_end:
                sys.stderr.write("kit: not every database connection was up %.1f s after /ready\n" % limit)
                return
            time.sleep(0.02)

    def send_signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("keel did not exit within %ss of signal %d" % (timeout, sig))

    def wait(self, timeout):
        return self.proc.wait(timeout)

    def stdout(self):
        return written(self.out)

    def stderr(self):
        return written(self.err)

    def wait_log(self, msg, after, timeout, fail=None):
        """Waits up to timeout seconds for a JSON log line whose msg starts with msg in
        keel's stderr past offset after; returns it parsed. A line whose msg starts with fail
        (the outcome that rules msg out, such as "route reload failed") fails at once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for rec in log_records(self.stderr()[after:]):
                m = rec.get("msg", "")
                if m.startswith(msg):
                    return rec
                assert not (fail and m.startswith(fail)), rec
            time.sleep(0.05)
        raise AssertionError("no log line %r; stderr tail: %s" % (msg, self.stderr()[-2000:]))

    def wait_reloaded(self, after, timeout):
        """Waits for the route reload asked for after offset after ("routes reloaded",
        returned parsed); fails at once when it failed."""
        return self.wait_log("routes reloaded", after, timeout, fail="route reload failed")

    def connect(self, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def request(self, method="GET", path="/health", headers=None, body=b"", timeout=10):
        """One request on a fresh connection; returns (status, headers, body)."""
        with self.connect(timeout) as s:
            s.sendall(build(method, path, headers, body, close=True))
            return read_response(s, head=(method == "HEAD"))

    def admin(self, method="GET", path="/metrics", headers=None, body=b"", timeout=10):
        """One request to the admin listener (admin=True) on a fresh connection."""
        with socket.create_connection(("127.0.0.1", self.admin_port), timeout=timeout) as s:
            s.sendall(build(method, path, headers, body, close=True))
            return read_response(s, head=(method == "HEAD"))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        problem = self.stop_checked()
        if problem:
            raise AssertionError(problem)

    def stop_checked(self):
        """Stops keel; under the ASan build returns what went wrong (non-zero exit or a
        sanitizer report), else None."""
        code = self.stop()
        if not ASAN:
            return None
        if code not in (0, None):
            return "keel (ASan build) exited %s: %s" % (code, self.stderr()[-3000:])
        if "ERROR: AddressSanitizer" in self.stderr() or "runtime error:" in self.stderr():
            return "sanitizer report: " + self.stderr()[-3000:]
        return None


def build(method="GET", path="/health", headers=None, body=b"", close=False, host="t"):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % host]
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k in (headers or {})):
        lines.append("Content-Length: %d" % len(body))
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Reader:
    """Buffered reads from a socket, so several pipelined responses can be parsed."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def until(self, marker):
        while marker not in self.buf:
            self.fill()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, head=False):
        """Returns (status, headers dict with lower-case names, body bytes)."""
        raw = self.until(b"\r\n\r\n").decode("latin-1")
        lines = raw.split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for l in lines[1:]:
            if l:
                k, v = l.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if head or status in (204, 304) or 100 <= status < 200:
            return status, headers, b""
        if "content-length" in headers:
            return status, headers, self.exactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.until(b"\r\n").strip().split(b";")[0], 16)
                if size == 0:
                    self.until(b"\r\n")
                    return status, headers, body
                body += self.exactly(size)
                self.exactly(2)
        body = self.buf
        try:
            while True:
                self.fill()
        except EOFError:
            pass
        return status, headers, body + self.buf

    def at_eof(self, timeout=5):
        """True when the peer closes (EOF or reset) with nothing more to read."""
        self.sock.settimeout(timeout)
        if self.buf:
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def read_response(sock, head=False):
    return Reader(sock).response(head=head)


_failed = 0



def scratch(prefix):
    """A new folder /tmp/<prefix>XXXX, removed with what it holds when the test file exits."""
    d = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, d, True)
    return d


def write_routes(folder, routes):
    """Writes one route file per {file name: text} into folder (made if missing); returns
    folder."""
    os.makedirs(folder, exist_ok=True)
    for name, text in routes.items():
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)
    return folder


def pg_with(schema, routes, folder):
    """The private PostgreSQL started and loaded with bounties, then schema (SQL) run in it
    and routes written to folder (write_routes); returns its URL."""
    pg("start")
    pg("load")
    url = pg("url").strip()
    psql(url, schema)
    write_routes(folder, routes)
    return url


def pipelined(port, paths_per_conn, depth):
    """One keep-alive connection per list of GET paths, `depth` requests in flight at a time
    (HTTP pipelining), each from its own thread; returns {path: (status, JSON body)}."""
    import json
    out, errors = {}, []

    def one(paths):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
                r = Reader(s)
                for k in range(0, len(paths), depth):
                    chunk = paths[k:k + depth]
                    s.sendall(b"".join(build("GET", p) for p in chunk))
                    for p in chunk:
                        st, h, body = r.response()
                        out[p] = (st, json.loads(body))
        except Exception as e:  # reported below, with the paths it concerned
            errors.append((paths[:3], repr(e)))

    ts = [threading.Thread(target=one, args=(p,)) for p in paths_per_conn]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in ts), errors[:5]
    return out

class Skip(Exception):
    """Raised by a test that cannot run here; the message says why."""


def main(tests, servers=lambda: ()):
    """Runs the test_* functions of tests, then stops servers() (the keel processes the
    file shares between tests) and counts a sanitizer problem of any of them as a failure."""
    global _failed
    raise_nofile()
    only = sys.argv[1:]
    for name, fn in list(tests.items()):
        if not name.startswith("test_") or not callable(fn):
            continue
        if only and not any(o in name for o in only):
            continue
        t0 = time.monotonic()
        try:
            fn()
            print("ok %s (%.1fs)" % (name, time.monotonic() - t0))
        except Skip as e:
            print("skip %s: %s" % (name, e))
        except Exception:
            _failed += 1
            print("FAIL %s" % name)
            traceback.print_exc(file=sys.stderr)
        sys.stdout.flush()
    for k in servers():
        problem = k.stop_checked()
        if problem:
            _failed += 1
            print("FAIL shared_keel_exit")
            print(problem, file=sys.stderr)
    sys.exit(1 if _failed else 0)
